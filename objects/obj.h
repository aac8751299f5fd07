/*
 * obj.h -- the objects layer's DRAM state and its hooks into transactions:
 * types.c (the type table), ref.c (checked stores, reference counts, the
 * dying list, pins, weak pointers), root.c (root, mutexes), check.c.
 */
#ifndef NVH_OBJECTS_OBJ_H
#define NVH_OBJECTS_OBJ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <nvheap/malloc.h>
#include <nvheap/obj.h>

#include "heap/layout.h"
#include "heap/u64map.h"
#include "objects/layout.h"

struct nvh_pool;
struct nvh_tx;
struct nvh_rec;

struct nvh_rfield {
	uint32_t offset, flags;   /* flags: NVH_FIELD_WEAK only */
	uint32_t count;           /* elements, >= 1 */
	uint32_t target_id;       /* the target type's id (0: any or unknown) */
	char target[NVH_TYPE_NAME_LEN];
};

struct nvh_rtype {
	char name[NVH_TYPE_NAME_LEN];
	uint32_t id, size, flags, nfields;
	struct nvh_rfield *fields;
};

/* The type table in DRAM.  A registration publishes a new set (every
 * old type at the same id, plus the new one); the old sets are kept
 * until the pool closes, because other threads' commits may hold
 * pointers into them (it was freed under them). */
struct nvh_typeset {
	struct nvh_rtype *types;
	uint32_t ntypes;
	struct nvh_typeset *older;
};

struct nvh_objects {
	pthread_mutex_t lock;     /* pins (taken after rc_lock, never
				   * waiting for anything while held) */
	pthread_mutex_t reg_lock; /* type registration: held across its
				   * transaction, so before a lane; nothing
				   * a commit takes may wait for it */
	_Atomic(struct nvh_typeset *) typeset; /* never NULL while open */
	pthread_mutex_t rc_lock;  /* reference-count commits, dying drains */
	struct nvh_u64map pins;   /* pinned object offset -> pin count */
	struct nvh_mutex_stripe *mutexes; /* root.c */
	struct plan *plan;        /* commit/drain scratch (cascade.c), rc_lock */
	unsigned release_max;     /* objects freed per commit or drain step
				   * (no limit; NVHEAP_TEST_RELEASE_MAX) */
	uint32_t commit_budget;   /* record bytes a commit's releases may
				   * add (4 KiB) */
	uint32_t drain_budget;    /* bytes of one drain step's record
				   * (16 KiB); both NVHEAP_TEST_RELEASE_BYTES */
	_Atomic unsigned commit_steps; /* drain steps a commit takes itself
				   * (0: all; nvh_set_drain_steps) */
	struct nvh_gc_report gc_last; /* this open's collection (gc.c) */
};

/* Bytes of one element of a field. */
static inline uint32_t
nvh_field_width(uint32_t flags)
{
	return flags & NVH_FIELD_WEAK ? 16 : 8;
}

/* cascade.c */
void nvh_obj_plan_free(struct nvh_objects *o);

/* The strong slots of a type, in the order releases go through them:
 * its strong pointer fields in table order, array elements in order
 * (a dying object's progress counts them; objects/cascade.c). */
struct nvh_slot_it {
	const struct nvh_rtype *rt;
	uint32_t fi, j;  /* field, element */
	uint64_t s;      /* index of the next slot */
};

static inline void
nvh_slot_seek(struct nvh_slot_it *it, const struct nvh_rtype *rt, uint64_t s)
{
	it->rt = rt;
	it->fi = it->j = 0;
	it->s = 0;
	for (; rt && it->fi < rt->nfields; it->fi++) {
		const struct nvh_rfield *f = &rt->fields[it->fi];
		if (f->flags & NVH_FIELD_WEAK)
			continue;
		if (s - it->s < f->count) {
			it->j = (uint32_t)(s - it->s);
			it->s = s;
			return;
		}
		it->s += f->count;
	}
}

/* The offset in the object of the next slot (1), or 0 at the end. */
static inline int
nvh_slot_next(struct nvh_slot_it *it, uint64_t *off)
{
	while (it->rt && it->fi < it->rt->nfields) {
		const struct nvh_rfield *f = &it->rt->fields[it->fi];
		if (!(f->flags & NVH_FIELD_WEAK) && it->j < f->count) {
			*off = f->offset + 8 * (uint64_t)it->j++;
			it->s++;
			return 1;
		}
		it->fi++;
		it->j = 0;
	}
	return 0;
}

/* ref.c: what we know of an object (allocated, or new in transaction
 * tx), found from any offset inside it; *in = the offset inside. */
struct nvh_oinfo {
	uint64_t off, size;
	uint32_t type;
	const struct nvh_rtype *rt;
	struct nvh_objhdr *hdr; /* NULL for a new object */
	int fresh;              /* index in tx->fresh, or -1 */
	uint64_t birth;         /* its birth serial (or dying-list link) */
};
int nvh_obj_containing(struct nvh_pool *pool, struct nvh_tx *tx, uint64_t off,
		       struct nvh_oinfo *oi, uint64_t *in);

/* types.c */
int nvh_objects_open(struct nvh_pool *pool);
void nvh_objects_close(struct nvh_pool *pool);
/* gc.c: every way into the pool shut (nvh_gc, nvh_close): 0, or -EBUSY
 * with the error set naming fn (`tail` appended) and nothing held. */
int nvh_pool_quiesce(struct nvh_pool *pool, const char *fn, const char *tail);
/* After a successful nvh_pool_quiesce that closes nothing (nvh_gc). */
void nvh_pool_unquiesce(struct nvh_pool *pool);
const struct nvh_rtype *nvh_type_get(struct nvh_pool *pool, uint32_t id);
/* The type of an allocated object of `size` bytes whose header says `id`:
 * NULL if untyped, or if the type is larger than the object (a damaged
 * header: its fields would lie outside the object). */
const struct nvh_rtype *nvh_type_fit(struct nvh_pool *pool, uint32_t id,
				     uint64_t size);
const struct nvh_rtype *nvh_type_named(struct nvh_pool *pool, const char *name);
/* Validate a type table object's bytes; fills types (malloc'd). */
int nvh_types_parse(const void *obj, uint64_t size, struct nvh_rtype **out,
		    uint32_t *n);
void nvh_types_free(struct nvh_rtype *t, uint32_t n);

static inline int
nvh_type_counted(const struct nvh_rtype *t)
{
	return t && !(t->flags & NVH_TYPE_MANUAL);
}

/* root.c */
int nvh_mutexes_init(struct nvh_objects *o);
void nvh_mutexes_free(struct nvh_objects *o);

/* cascade.c: the commit hook of transactions with typed work */
struct nvh_obj_commit {
	int locked;       /* holds rc_lock */
	int drain;        /* the dying list has work after the commit */
};
int nvh_obj_prepare(struct nvh_tx *tx, struct nvh_rec *extra,
		    struct nvh_obj_commit *oc);
void nvh_obj_finish(struct nvh_tx *tx, struct nvh_obj_commit *oc, int ok);
/* Free dying objects (not pinned) in bounded, crash-atomic steps. */
int nvh_obj_drain(struct nvh_pool *pool);
/* The same on a lane the caller holds (a transaction's, as it ends). */
struct nvh_lane;
int nvh_obj_drain_on(struct nvh_pool *pool, struct nvh_lane *l);
/* At most `steps` steps (0: all) on the caller's lane; *more (if not
 * NULL): whether the list still holds objects. */
int nvh_obj_drain_steps(struct nvh_pool *pool, struct nvh_lane *l,
			unsigned steps, int *more);
/* Is the dying list well formed (allocated, DYING, count 0, counted type,
 * no loop)?  Checked at every open, before any drain. */
int nvh_obj_dying_check(struct nvh_pool *pool);
int nvh_pinned(struct nvh_pool *pool, uint64_t off);
/* Header of the live (or reserved) object starting at pool offset off. */
struct nvh_objhdr *nvh_obj_hdr(struct nvh_pool *pool, uint64_t off);
/* A manual (uncounted) object of type rt at `off` is being freed: do its
 * strong fields hold reference-counted objects (the atomic nvh_free must
 * then refuse)?  And, in a transaction: drop those references at commit,
 * as the release of a counted object does. */
int nvh_obj_holds_counted(struct nvh_pool *pool, uint64_t off,
			  const struct nvh_rtype *rt);
int nvh_obj_drop_fields(struct nvh_tx *tx, uint64_t off,
			const struct nvh_rtype *rt);

/* ---- the objects layer's part of a transaction (txobj.c) ---- */

/* A strong pointer field a snapshot covered, and its value then. */
struct nvh_tx_ptr {
	uint64_t off;
	uint64_t val;
};

struct nvh_rcd {
	uint64_t off;   /* object */
	int64_t delta;
	/* the birth serial of the incarnation the transaction's stores
	 * pointed at (0: no store did; NVH_RCD_TWO_BIRTHS: two different
	 * ones): the commit refuses a reference whose block another
	 * thread freed and allocated again meanwhile (objects/cascade.c) */
	uint64_t birth;
};

#define NVH_RCD_TWO_BIRTHS (~0ull)
/* Its stores named a dying object, which the transaction pins until it
 * ends: the same incarnation at the commit, whether still dying or
 * linked again by another commit meanwhile (its birth word was a list
 * link when stored, no serial to compare). */
#define NVH_RCD_PINNED (~0ull - 1)

/*
 * What a transaction did to the object model (tx->obj): attached by
 * nvh_tx_begin, detached when the outermost transaction ends, kept with
 * its arrays for the thread's next transaction.
 */
struct nvh_txo {
	/* reference-count changes of this transaction (ref.c) */
	struct nvh_rcd *rc;
	size_t nrc, crc;
	struct nvh_u64map rc_ix;    /* object offset -> index in rc */
	/* strong pointer fields, which change only through nvh_tx_set
	 * (the counts follow it): those its snapshots covered, with their
	 * values then, and the values nvh_tx_set stored (one entry per
	 * field); commit compares (nvh_tx_ptrs_check).  Untyped work adds
	 * nothing here. */
	struct nvh_tx_ptr *ptrs;
	size_t nptrs, cptrs;
	struct nvh_tx_ptr *sets;
	size_t nsets, csets;
	struct nvh_u64map set_ix;   /* field offset -> index in sets; empty,
				     * or all of them (once there are many) */
	int typed_fresh;      /* allocated a typed object: commit checks it */
	int typed;            /* did typed work: commit runs the objects hook */
	int drain;            /* after commit: free dying objects */
	uint64_t *pins;       /* dying (pinned) objects it stored: pinned by
			       * it too until it ends (ref.c) */
	size_t npins, cpins;
};

/* Drop the transaction's own pins (as it ends); 1 if one was an
 * object's last and the object is dying (a drain is due). */
int nvh_tx_unpin_all(struct nvh_tx *tx);

/* Forget the reference-count deltas, and the pointer fields they follow
 * (after a rollback, or at the end). */
static inline void
nvh_txo_forget(struct nvh_txo *o)
{
	o->nrc = 0;
	nvh_u64map_clear(&o->rc_ix);
	o->nptrs = o->nsets = 0;
	if (o->cptrs > 4096) { /* a huge transaction's: give it back */
		free(o->ptrs);
		o->ptrs = NULL;
		o->cptrs = 0;
	}
	if (o->csets > 4096) {
		free(o->sets);
		o->sets = NULL;
		o->csets = 0;
	}
	nvh_u64map_clear(&o->set_ix);
	o->typed_fresh = 0;
	o->typed = 0;
}

/* txobj.c: nvh_tx_set is about to store `value` into the strong field at
 * pool offset `off`: the value the commit expects there (out of memory
 * fails the transaction). */
void nvh_tx_expect(struct nvh_tx *tx, uint64_t off, uint64_t value);

#endif
