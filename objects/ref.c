/*
 * ref.c -- checked pointer stores, reference counts, the dying list, pins
 * and weak pointers.
 *
 * Counts live in the object headers and change only through redo entries
 * of commit records (absolute SETs computed under the pool's rc_lock, so
 * concurrent commits never lose an update and recovery replays them in
 * order).  At commit, objects whose count ends at zero and that no thread
 * pins are released: freed, and their strong fields' targets decremented,
 * which may release more.  Up to release_max (256) releases happen in the commit
 * itself; the rest, and zero-count objects that are pinned, go on the
 * dying list: a persistent singly linked list through the objects' own
 * headers (flag DYING, next oid in `birth`) whose head is in the heap's
 * root line.  nvh_obj_drain empties it in steps of release_max, each one
 * crash-atomic record, so a cascade over a million objects needs neither
 * stack nor a giant record, and a crash in the middle leaves a list that
 * the next open drains.
 *
 * Invariants: count(o) = strong references to o from pointer fields of
 * allocated objects + (root slot == o); DYING(o) <=> o is on the dying list
 * => count(o) == 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"
#include "tx/lane.h"
#include "tx/tx.h"


static uint64_t
root_off(const struct nvh_pool *pool)
{
	return pool->heap->hdr.root_off;
}

static uint64_t
dying_slot(const struct nvh_pool *pool)
{
	return root_off(pool) + (NVH_HEAP_DYING_REL - NVH_HEAP_ROOT_REL);
}

struct nvh_objhdr *
nvh_obj_hdr(struct nvh_pool *pool, uint64_t off)
{
	uint64_t a, b, in;
	if (nvh_heap_locate(pool->heap, off, &a, &b, &in) != 0 || in != 0)
		return NULL;
	return (struct nvh_objhdr *)(pool->base +
		nvh_objhdr_off(pool->heap, a, b,
			       pool->heap->arena[a].kind == NVH_K_LARGE));
}

/* What we know of an object (allocated, or new in this transaction). */
struct oinfo {
	uint64_t off, size;
	uint32_t type;
	const struct nvh_rtype *rt;
	struct nvh_objhdr *hdr; /* NULL for a new object */
	int fresh;              /* index in tx->fresh, or -1 */
};

/* The object containing pool offset `off`; *in = offset inside it. */
static int
obj_containing(struct nvh_pool *pool, struct nvh_tx *tx, uint64_t off,
	       struct oinfo *oi, uint64_t *in)
{
	memset(oi, 0, sizeof(*oi));
	oi->fresh = -1;
	uint64_t a, b;
	int live;
	struct nvh_heap *h = pool->heap;
	/* one geometry lookup: a block not yet allocated may be one this
	 * transaction allocated */
	if (nvh_heap_geometry(h, off, &a, &b, in, &live) != 0)
		return -1;
	if (!live) {
		const uint64_t *ix = tx && tx->nfresh
				     ? nvh_u64map_find(&tx->fresh_ix, off - *in)
				     : NULL;
		if (!ix || tx->fresh[*ix].dropped)
			return -1;
		const struct nvh_tx_new *f = &tx->fresh[*ix];
		oi->off = f->blk.off;
		oi->size = nvh_blk_size(pool, &f->blk);
		oi->type = f->type;
		oi->fresh = (int)*ix;
		oi->rt = nvh_type_get(pool, oi->type);
		return 0;
	}
	int large = h->arena[a].kind == NVH_K_LARGE;
	oi->off = off - *in;
	oi->size = large ? h->arena[a].run * (uint64_t)NVH_ARENA_SIZE
			 : h->cls[h->arena[a].cls].block_size;
	oi->hdr = (struct nvh_objhdr *)(pool->base + nvh_objhdr_off(h, a, b, large));
	oi->type = NVH_HDR_TYPE(oi->hdr->word);
	/* a type larger than the block is a damaged header: untyped, so no
	 * field of it is ever read or released (nvh_check reports it) */
	oi->rt = nvh_type_fit(pool, oi->type, oi->size);
	return 0;
}

/* The declared pointer field at `off` (or the root slot). */
static int
field_at(struct nvh_pool *pool, struct nvh_tx *tx, uint64_t off,
	 const struct nvh_rfield **fd, struct oinfo *owner, const char *fn)
{
	uint64_t in;
	*fd = NULL;
	if (off == root_off(pool))
		return 0; /* strong, any type */
	if (obj_containing(pool, tx, off, owner, &in))
		return nvh_tx_failf(tx, EINVAL, "%s: the field (pool offset %"
				    PRIu64 ") is neither the root slot nor "
				    "inside a live object", fn, off);
	if (!owner->rt)
		return nvh_tx_failf(tx, EINVAL, "%s: the field is inside an "
				    "untyped object (type 0x%" PRIx32 ")", fn,
				    owner->type);
	for (uint32_t i = 0; i < owner->rt->nfields; i++) {
		const struct nvh_rfield *f = &owner->rt->fields[i];
		uint32_t w = nvh_field_width(f->flags);
		if (in >= f->offset && in < f->offset + (uint64_t)w * f->count &&
		    (in - f->offset) % w == 0) {
			*fd = f;
			return 0;
		}
	}
	return nvh_tx_failf(tx, EINVAL, "%s: offset %" PRIu64 " of a \"%s\" is "
			    "not a pointer field", fn, in, owner->rt->name);
}

/* Is `value` null or a live (or new) object of the field's target type? */
static int
value_ok(struct nvh_pool *pool, struct nvh_tx *tx, nvh_oid value,
	 const struct nvh_rfield *fd, struct oinfo *vi, const char *fn)
{
	uint64_t off, in;
	memset(vi, 0, sizeof(*vi));
	if (value.off == 0)
		return 0;
	if (nvh_oid_untag(pool, value.off, &off))
		return nvh_tx_failf(tx, EINVAL, "%s: 0x%" PRIx64 " is not an oid "
				    "of this pool (a volatile address, another "
				    "pool's object or garbage)", fn, value.off);
	if (obj_containing(pool, tx, off, vi, &in) || in != 0)
		return nvh_tx_failf(tx, EINVAL, "%s: oid 0x%" PRIx64 " is not the "
				    "start of a live object (freed, interior or "
				    "outside the heap)", fn, value.off);
	if (vi->hdr && (NVH_HDR_FLAGS(vi->hdr->word) & NVH_OBJ_DYING) &&
	    !nvh_pinned(pool, off))
		return nvh_tx_failf(tx, EINVAL, "%s: oid 0x%" PRIx64 " is being "
				    "freed", fn, value.off);
	if (fd && fd->target[0] &&
	    (!vi->rt || (fd->target_id ? vi->rt->id != fd->target_id
				       : strcmp(vi->rt->name, fd->target) != 0)))
		return nvh_tx_failf(tx, EINVAL, "%s: the field points to \"%s\", "
				    "the value is a%s \"%s\"", fn, fd->target,
				    vi->rt ? "" : "n untyped object of type",
				    vi->rt ? vi->rt->name : "?");
	return 0;
}

static int
rc_add(struct nvh_tx *tx, uint64_t off, int64_t d)
{
	const uint64_t *ix = nvh_u64map_find(&tx->rc_ix, off);
	if (ix) {
		tx->rc[*ix].delta += d;
		return 0;
	}
	if (tx->nrc == tx->crc) {
		size_t c = tx->crc ? 2 * tx->crc : 16;
		struct nvh_rcd *n = realloc(tx->rc, c * sizeof(*n));
		if (!n)
			return nvh_tx_failf(tx, ENOMEM, "out of memory");
		tx->rc = n;
		tx->crc = c;
	}
	if (nvh_u64map_put(&tx->rc_ix, off, tx->nrc))
		return nvh_tx_failf(tx, ENOMEM, "out of memory");
	tx->rc[tx->nrc++] = (struct nvh_rcd){off, d};
	return 0;
}

static nvh_oid
alloc_typed(nvh_tx *tx, const struct nvh_type *t, size_t size, const char *fn)
{
	if (nvh_tx_check(tx, fn))
		return NVH_OID_NULL;
	const struct nvh_rtype *rt = t ? nvh_type_named(tx->pool, t->name) : NULL;
	if (!rt || rt->size != t->size) {
		nvh_tx_failf(tx, EINVAL, "%s: type \"%s\" is not registered in "
			     "this pool (nvh_type_register)", fn,
			     t && t->name ? t->name : "?");
		return NVH_OID_NULL;
	}
	if (size < rt->size) {
		nvh_tx_failf(tx, EINVAL, "%s: %zu bytes is less than a \"%s\" "
			     "(%" PRIu32 ")", fn, size, rt->name, rt->size);
		return NVH_OID_NULL;
	}
	nvh_oid o = nvh_tx_alloc_id(tx, size, rt->id, 0);
	if (NVH_OID_IS_NULL(o))
		return o;
	/* the type's bytes start zero: its pointer fields are null (the
	 * tail is the caller's; commit flushes all `size` bytes) */
	memset(nvh_direct(tx->pool, o), 0, rt->size);
	if (nvh_type_counted(rt))
		tx->typed = 1;
	return o;
}

NVH_API nvh_oid
nvh_tx_alloc_typed(nvh_tx *tx, const struct nvh_type *t, unsigned flags)
{
	if (nvh_tx_enter(&tx, "nvh_tx_alloc_typed"))
		return NVH_OID_NULL;
	(void)flags; /* typed objects are always zeroed: their pointer
		      * fields must start null */
	return alloc_typed(tx, t, t ? t->size : 0, "nvh_tx_alloc_typed");
}

NVH_API nvh_oid
nvh_tx_alloc_typed_size(nvh_tx *tx, const struct nvh_type *t, size_t size)
{
	if (nvh_tx_enter(&tx, "nvh_tx_alloc_typed_size"))
		return NVH_OID_NULL;
	return alloc_typed(tx, t, size, "nvh_tx_alloc_typed_size");
}

NVH_API int
nvh_tx_set(nvh_tx *tx, nvh_oid *field, nvh_oid value)
{
	int rc = nvh_tx_enter(&tx, "nvh_tx_set");
	if (rc)
		return rc;
	struct nvh_pool *pool = tx->pool;
	const char *p = (const char *)field;
	if (!field || p < pool->base || p >= pool->base + pool->size - 8)
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_set: field %p is not in "
				    "this pool", (void *)field);
	uint64_t foff = (uint64_t)(p - pool->base);
	const struct nvh_rfield *fd;
	struct oinfo owner, vi, oi;
	if ((rc = field_at(pool, tx, foff, &fd, &owner, "nvh_tx_set")))
		return rc;
	if (fd && fd->flags & NVH_FIELD_WEAK)
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_set: a weak field: use "
				    "nvh_tx_set_weak");
	if ((rc = value_ok(pool, tx, value, fd, &vi, "nvh_tx_set")))
		return rc;
	uint64_t old = field->off, ooff = 0;
	if ((rc = nvh_tx_snapshot(tx, foff, 8)))
		return rc;
	nvh_tx_expect(tx, foff, value.off);
	field->off = value.off;
	if (value.off && nvh_type_counted(vi.rt))
		rc = rc_add(tx, vi.off, +1);
	if (!rc && old && !nvh_oid_untag(pool, old, &ooff) && ooff) {
		uint64_t in;
		if (!obj_containing(pool, tx, ooff, &oi, &in) && in == 0 &&
		    nvh_type_counted(oi.rt))
			rc = rc_add(tx, ooff, -1);
	}
	tx->typed = 1;
	return rc;
}

/* Each counted object a strong field of the object at `off` (type rt)
 * points to: fn(tx, its offset); stops at the first non-zero result. */
static int
each_counted_target(struct nvh_pool *pool, struct nvh_tx *tx, uint64_t off,
		    const struct nvh_rtype *rt,
		    int (*fn)(struct nvh_tx *tx, uint64_t target))
{
	for (uint32_t i = 0; rt && i < rt->nfields; i++) {
		const struct nvh_rfield *f = &rt->fields[i];
		if (f->flags & NVH_FIELD_WEAK)
			continue;
		for (uint32_t j = 0; j < f->count; j++) {
			uint64_t v, toff, in;
			struct oinfo oi;
			memcpy(&v, pool->base + off + f->offset + 8 * (uint64_t)j,
			       8);
			if (!v || nvh_oid_untag(pool, v, &toff) || !toff ||
			    obj_containing(pool, tx, toff, &oi, &in) || in ||
			    !nvh_type_counted(oi.rt))
				continue;
			int rc = fn(tx, toff);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int
found(struct nvh_tx *tx, uint64_t target)
{
	(void)tx;
	(void)target;
	return 1;
}

int
nvh_obj_holds_counted(struct nvh_pool *pool, uint64_t off,
		      const struct nvh_rtype *rt)
{
	return each_counted_target(pool, NULL, off, rt, found);
}

static int
drop(struct nvh_tx *tx, uint64_t target)
{
	return rc_add(tx, target, -1);
}

int
nvh_obj_drop_fields(struct nvh_tx *tx, uint64_t off, const struct nvh_rtype *rt)
{
	int rc = each_counted_target(tx->pool, tx, off, rt, drop);
	if (!rc && rt && rt->nfields)
		tx->typed = 1; /* the commit applies the counts */
	return rc;
}

NVH_API int
nvh_tx_set_weak(nvh_tx *tx, nvh_weak *field, nvh_oid value)
{
	int rc = nvh_tx_enter(&tx, "nvh_tx_set_weak");
	if (rc)
		return rc;
	struct nvh_pool *pool = tx->pool;
	const char *p = (const char *)field;
	if (!field || p < pool->base || p >= pool->base + pool->size - 16)
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_set_weak: field %p is not "
				    "in this pool", (void *)field);
	uint64_t foff = (uint64_t)(p - pool->base);
	const struct nvh_rfield *fd;
	struct oinfo owner, vi;
	if ((rc = field_at(pool, tx, foff, &fd, &owner, "nvh_tx_set_weak")))
		return rc;
	if (!fd || !(fd->flags & NVH_FIELD_WEAK))
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_set_weak: not a weak "
				    "field");
	if ((rc = value_ok(pool, tx, value, fd, &vi, "nvh_tx_set_weak")))
		return rc;
	if ((rc = nvh_tx_snapshot(tx, foff, 16)))
		return rc;
	field->oid = value;
	field->birth = !value.off ? 0
		       : vi.fresh >= 0 ? tx->fresh[vi.fresh].blk.birth
				       : vi.hdr->birth;
	return 0;
}

NVH_API nvh_oid
nvh_weak_get(nvh_pool *pool, const nvh_weak *field)
{
	uint64_t off;
	if (!pool || !field || !field->oid.off ||
	    nvh_oid_untag(pool, field->oid.off, &off))
		return NVH_OID_NULL;
	struct nvh_objhdr *h = nvh_obj_hdr(pool, off);
	if (!h || (NVH_HDR_FLAGS(h->word) & NVH_OBJ_DYING) ||
	    h->birth != field->birth)
		return NVH_OID_NULL;
	return field->oid;
}

NVH_API void *
nvh_direct_typed(nvh_pool *pool, nvh_oid oid, const struct nvh_type *t)
{
	void *p = nvh_direct(pool, oid);
#if defined(NVH_DEBUG)
	if (p && t) {
		uint64_t off;
		nvh_oid_untag(pool, oid.off, &off);
		struct nvh_objhdr *h = nvh_obj_hdr(pool, off);
		const struct nvh_rtype *rt = h ? nvh_type_get(pool,
			NVH_HDR_TYPE(h->word)) : NULL;
		struct nvh_tx *tx = nvh_tx_current(pool);
		uint64_t in;
		int fresh = !h && tx && nvh_tx_fresh_at(tx, off, &in) >= 0 &&
			    in == 0;
		if (!fresh && (!rt || strcmp(rt->name, t->name) != 0)) {
			nvh_err(EINVAL, "nvh_direct_typed: oid 0x%" PRIx64 " is "
				"not a live \"%s\"", oid.off, t->name);
			return NULL;
		}
	}
#else
	(void)t;
#endif
	return p;
}

NVH_API uint32_t
nvh_refcount(nvh_pool *pool, nvh_oid oid)
{
	uint64_t off;
	if (!pool || nvh_oid_untag(pool, oid.off, &off) || !off)
		return 0;
	struct nvh_objhdr *h = nvh_obj_hdr(pool, off);
	return h && nvh_type_counted(nvh_type_get(pool, NVH_HDR_TYPE(h->word)))
		       ? NVH_HDR_COUNT(h->word) : 0;
}

/* ---- pins ---- */

int
nvh_pinned(struct nvh_pool *pool, uint64_t off)
{
	struct nvh_objects *o = pool->objects;
	pthread_mutex_lock(&o->lock);
	const uint64_t *n = nvh_u64map_find(&o->pins, off);
	int pinned = n != NULL;
	pthread_mutex_unlock(&o->lock);
	return pinned;
}

NVH_API int
nvh_pin(nvh_pool *pool, nvh_oid oid)
{
	uint64_t off;
	if (!pool || !pool->objects)
		return nvh_err(EINVAL, "nvh_pin: NULL pool");
	if (nvh_oid_untag(pool, oid.off, &off) || !off || !nvh_obj_hdr(pool, off))
		return nvh_err(EINVAL, "nvh_pin: %s: 0x%" PRIx64 " is not a live "
			       "object of this pool", pool->path, oid.off);
	struct nvh_objects *o = pool->objects;
	pthread_mutex_lock(&o->lock);
	const uint64_t *n = nvh_u64map_find(&o->pins, off);
	int rc = nvh_u64map_put(&o->pins, off, n ? *n + 1 : 1);
	pthread_mutex_unlock(&o->lock);
	return rc ? nvh_err(ENOMEM, "nvh_pin: out of memory") : 0;
}

NVH_API int
nvh_unpin(nvh_pool *pool, nvh_oid oid)
{
	uint64_t off;
	if (!pool || !pool->objects || nvh_oid_untag(pool, oid.off, &off))
		return nvh_err(EINVAL, "nvh_unpin: bad pool or oid");
	struct nvh_objects *o = pool->objects;
	int last = -1;
	pthread_mutex_lock(&o->lock);
	uint64_t *n = nvh_u64map_find(&o->pins, off);
	if (n) {
		last = --*n == 0;
		if (last)
			nvh_u64map_del(&o->pins, off);
	}
	pthread_mutex_unlock(&o->lock);
	if (last < 0)
		return nvh_err(EINVAL, "nvh_unpin: %s: 0x%" PRIx64 " is not pinned",
			       pool->path, oid.off);
	struct nvh_objhdr *h;
	if (last && (h = nvh_obj_hdr(pool, off)) &&
	    (NVH_HDR_FLAGS(h->word) & NVH_OBJ_DYING)) {
		struct nvh_tx *tx = nvh_tx_current(pool);
		if (tx) {
			tx->drain = 1; /* after its commit */
			return 0;
		}
		return nvh_obj_drain(pool);
	}
	return 0;
}

/* ---- the commit hook ---- */

/* A table of objects whose count this commit decides. */
struct ent {
	uint64_t off;
	int64_t count;     /* final */
	uint32_t cur;      /* on the medium now (0 for new objects) */
	uint64_t word;     /* header word now */
	const struct nvh_rtype *rt;
	int fresh;         /* index in tx->fresh or -1 */
	int freed, push, undie;
};

struct plan {
	struct ent *e;
	size_t n, cap;
	struct nvh_u64map ix; /* off -> index in e */
	uint64_t *work;    /* offsets to release */
	size_t nwork, cwork;
};

/* The pool's plan, reused by every commit and drain step (all under
 * rc_lock): no allocation per commit. */
static struct plan *
plan_take(struct nvh_pool *pool)
{
	struct nvh_objects *o = pool->objects;
	if (!o->plan && !(o->plan = calloc(1, sizeof(struct plan))))
		return NULL;
	return o->plan;
}

/* Empty the plan; give back arrays a huge cascade grew. */
static void
plan_done(struct plan *pl)
{
	if (pl->cap > 4096) {
		free(pl->e);
		pl->e = NULL;
		pl->cap = 0;
	}
	if (pl->cwork > 4096) {
		free(pl->work);
		pl->work = NULL;
		pl->cwork = 0;
	}
	pl->n = pl->nwork = 0;
	nvh_u64map_clear(&pl->ix);
}

void
nvh_obj_plan_free(struct nvh_objects *o)
{
	struct plan *pl = o->plan;
	if (!pl)
		return;
	free(pl->e);
	free(pl->work);
	nvh_u64map_fini(&pl->ix);
	free(pl);
	o->plan = NULL;
}

static struct ent *
ent_get(struct plan *pl, struct nvh_pool *pool, struct nvh_tx *tx,
	uint64_t off)
{
	const uint64_t *ix = nvh_u64map_find(&pl->ix, off);
	if (ix)
		return &pl->e[*ix];
	struct oinfo oi;
	uint64_t in;
	if (obj_containing(pool, tx, off, &oi, &in) || in != 0 ||
	    !nvh_type_counted(oi.rt))
		return NULL;
	if (pl->n == pl->cap) {
		size_t c = pl->cap ? 2 * pl->cap : 32;
		struct ent *n = realloc(pl->e, c * sizeof(*n));
		if (!n)
			return NULL;
		pl->e = n;
		pl->cap = c;
	}
	if (nvh_u64map_put(&pl->ix, off, pl->n))
		return NULL;
	struct ent *e = &pl->e[pl->n++];
	memset(e, 0, sizeof(*e));
	e->off = off;
	e->rt = oi.rt;
	e->fresh = oi.fresh;
	if (oi.hdr) {
		e->word = oi.hdr->word;
		e->cur = NVH_HDR_COUNT(e->word);
	}
	e->count = e->cur;
	return e;
}

static int
work_push(struct plan *pl, uint64_t off)
{
	if (pl->nwork == pl->cwork) {
		size_t c = pl->cwork ? 2 * pl->cwork : 32;
		uint64_t *n = realloc(pl->work, c * sizeof(*n));
		if (!n)
			return -ENOMEM;
		pl->work = n;
		pl->cwork = c;
	}
	pl->work[pl->nwork++] = off;
	return 0;
}

/* Count reached zero: release now (if room), else the dying list. */
static int
zeroed(struct plan *pl, struct nvh_pool *pool, struct ent *e)
{
	if (e->freed || e->push)
		return 0;
	if (nvh_pinned(pool, e->off))
		return e->push = !(NVH_HDR_FLAGS(e->word) & NVH_OBJ_DYING), 0;
	return work_push(pl, e->off);
}

/* Release e: its strong fields' targets lose a reference. */
static int
release(struct plan *pl, struct nvh_pool *pool, struct nvh_tx *tx,
	struct ent *e)
{
	const char *obj = pool->base + e->off;
	const struct nvh_rtype *rt = e->rt;
	e->freed = 1; /* last use of e: ent_get below may move the table */
	for (uint32_t i = 0; i < rt->nfields; i++) {
		const struct nvh_rfield *f = &rt->fields[i];
		if (f->flags & NVH_FIELD_WEAK)
			continue;
		for (uint32_t j = 0; j < f->count; j++) {
			uint64_t v, off;
			memcpy(&v, obj + f->offset + 8 * (uint64_t)j, 8);
			if (!v || nvh_oid_untag(pool, v, &off) || !off)
				continue;
			struct ent *c = ent_get(pl, pool, tx, off);
			if (!c)
				continue; /* untyped or manual target */
			if (c->count == 0)
				continue; /* more references than its count
					   * said: the medium's count is wrong;
					   * keep the object rather than free
					   * something still referenced
					   * (nvh_check reports it) */
			if (--c->count == 0) {
				int rc = zeroed(pl, pool, c);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

/* Emit the entries of a plan: counts, dying list, frees.  `claim` frees
 * live objects through tx->frees (commit) or `out` (drain). */
static int
emit(struct plan *pl, struct nvh_pool *pool, struct nvh_rec *rec,
     struct nvh_tx *tx, struct nvh_blk *out, size_t *nout, uint64_t rest)
{
	struct nvh_heap *h = pool->heap;
	int rc = 0;
	/* the new dying list: pushed objects, then the old list (or `rest`
	 * of it) without objects taken off it */
	uint64_t head = rest;
	for (size_t i = pl->n; i-- > 0 && !rc;) {
		struct ent *e = &pl->e[i];
		if (!e->push || e->freed)
			continue;
		uint64_t word = NVH_HDR_MAKE(e->rt->id, NVH_OBJ_DYING, 0);
		if (e->fresh >= 0) {
			tx->fresh[e->fresh].word = word;
			tx->fresh[e->fresh].blk.birth = head;
		} else {
			uint64_t ho = (uint64_t)((char *)nvh_obj_hdr(pool, e->off) -
						 pool->base);
			rc = nvh_rec_add(rec, NVH_OP_SET, ho, word);
			if (!rc)
				rc = nvh_rec_add(rec, NVH_OP_SET, ho + 8, head);
		}
		head = nvh_oid_tagged(pool, e->off);
	}
	if (!rc)
		rc = nvh_rec_add(rec, NVH_OP_SET, dying_slot(pool), head);
	for (size_t i = 0; i < pl->n && !rc; i++) {
		struct ent *e = &pl->e[i];
		if (e->push)
			continue;
		if (e->fresh >= 0) {
			if (e->freed)
				tx->fresh[e->fresh].dropped = 1;
			else
				tx->fresh[e->fresh].word =
					NVH_HDR_MAKE(e->rt->id, 0, e->count);
			continue;
		}
		uint64_t ho = (uint64_t)((char *)nvh_obj_hdr(pool, e->off) -
					 pool->base);
		if (e->freed) {
			struct nvh_blk k;
			rc = nvh_blk_claim(pool, e->off, &k);
			if (!rc)
				rc = nvh_blk_rec_free(pool, &k, rec);
			if (!rc)
				rc = nvh_rec_add(rec, NVH_OP_SET, ho, 0);
			if (!rc)
				out[(*nout)++] = k;
			continue;
		}
		uint64_t word = NVH_HDR_MAKE(e->rt->id, 0, e->count);
		if (word != e->word)
			rc = nvh_rec_add(rec, NVH_OP_SET, ho, word);
		if (!rc && e->undie) /* a new incarnation for weak pointers */
			rc = nvh_rec_add(rec, NVH_OP_SET, ho + 8,
					 atomic_fetch_add(&pool->lanes.seq, 1));
	}
	(void)h;
	return rc;
}

/* The old dying list minus objects coming back to life, relinked. */
static int
unlink_undead(struct plan *pl, struct nvh_pool *pool, struct nvh_rec *rec,
	      uint64_t *head)
{
	uint64_t cur = *head, new_head = 0;
	uint64_t last_ho = 0, last_next = 0; /* last kept node, its next now */
	size_t guard = 0;
	int rc = 0;
	while (cur && !rc) {
		uint64_t off;
		struct nvh_objhdr *hd;
		if (guard++ > (1u << 28) || nvh_oid_untag(pool, cur, &off) ||
		    !(hd = nvh_obj_hdr(pool, off)))
			return nvh_err(NVH_ECORRUPT, "dying list holds 0x%" PRIx64
				       ", not an allocated object", cur);
		uint64_t next = hd->birth;
		int drop = 0;
		const uint64_t *ix = nvh_u64map_find(&pl->ix, off);
		if (ix && pl->e[*ix].count > 0) {
			pl->e[*ix].undie = 1;
			drop = 1;
		}
		if (!drop) {
			if (!new_head)
				new_head = cur;
			else if (last_next != cur)
				rc = nvh_rec_add(rec, NVH_OP_SET, last_ho + 8, cur);
			last_ho = (uint64_t)((char *)hd - pool->base);
			last_next = next;
		}
		cur = next;
	}
	if (!rc && new_head && last_next != 0)
		rc = nvh_rec_add(rec, NVH_OP_SET, last_ho + 8, 0);
	*head = new_head;
	return rc;
}

int
nvh_obj_prepare(struct nvh_tx *tx, struct nvh_rec *rec,
		struct nvh_obj_commit *oc)
{
	struct nvh_pool *pool = tx->pool;
	memset(oc, 0, sizeof(*oc));
	if (!tx->typed)
		return 0;
	pthread_mutex_lock(&pool->objects->rc_lock);
	oc->locked = 1;
	struct plan *pl = plan_take(pool);
	if (!pl)
		return nvh_err(ENOMEM, "out of memory");
	int rc = 0, any_dying = 0;
	for (size_t i = 0; i < tx->nfresh && !rc; i++) {
		const struct nvh_rtype *rt = nvh_type_get(pool, tx->fresh[i].type);
		if (!tx->fresh[i].dropped && nvh_type_counted(rt) &&
		    !ent_get(pl, pool, tx, tx->fresh[i].blk.off))
			rc = -ENOMEM;
	}
	for (size_t i = 0; i < tx->nrc && !rc; i++) {
		struct ent *e = ent_get(pl, pool, tx, tx->rc[i].off);
		if (!e)
			continue;
		e->count += tx->rc[i].delta;
		if (e->count < 0)
			rc = nvh_err(NVH_ECORRUPT, "reference count of 0x%" PRIx64
				     " would go below zero", e->off);
	}
	for (size_t i = 0, n = pl->n; i < n && !rc; i++) {
		struct ent *e = &pl->e[i];
		any_dying |= (NVH_HDR_FLAGS(e->word) & NVH_OBJ_DYING) != 0;
		if (e->count == 0)
			rc = zeroed(pl, pool, e);
	}
	size_t released = 0;
	while (!rc && pl->nwork) {
		uint64_t off = pl->work[--pl->nwork];
		struct ent *e = ent_get(pl, pool, tx, off);
		if (!e || e->freed || e->push)
			continue;
		if (released++ >= pool->objects->release_max) {
			e->push = 1; /* the drain after the commit goes on */
			oc->drain = 1;
			continue;
		}
		rc = release(pl, pool, tx, e);
	}
	/* frees of live objects go to tx->frees so a failed commit unclaims
	 * them and a good one releases them */
	size_t nfree = 0;
	for (size_t i = 0; i < pl->n; i++)
		nfree += pl->e[i].freed && pl->e[i].fresh < 0;
	struct nvh_blk *fr = nfree ? calloc(nfree, sizeof(*fr)) : NULL;
	if (nfree && !fr)
		rc = -ENOMEM;
	uint64_t head = *(uint64_t *)(pool->base + dying_slot(pool));
	if (!rc && any_dying)
		rc = unlink_undead(pl, pool, rec, &head);
	size_t nout = 0;
	if (!rc)
		rc = emit(pl, pool, rec, tx, fr, &nout, head);
	for (size_t i = 0; i < nout && !rc; i++) {
		if (tx->nfrees == tx->cfrees) {
			size_t c = tx->cfrees ? 2 * tx->cfrees : 16;
			struct nvh_blk *n = realloc(tx->frees, c * sizeof(*n));
			if (!n) {
				rc = -ENOMEM;
				break;
			}
			tx->frees = n;
			tx->cfrees = c;
		}
		tx->frees[tx->nfrees++] = fr[i];
	}
	free(fr);
	if (*(uint64_t *)(pool->base + dying_slot(pool)) || oc->drain)
		tx->drain = 1;
	for (size_t i = 0; i < pl->n; i++)
		if (pl->e[i].push && !nvh_pinned(pool, pl->e[i].off))
			tx->drain = 1;
	plan_done(pl);
	return rc == -ENOMEM ? nvh_err(ENOMEM, "out of memory") : rc;
}

void
nvh_obj_finish(struct nvh_tx *tx, struct nvh_obj_commit *oc, int ok)
{
	(void)ok;
	if (oc->locked)
		pthread_mutex_unlock(&tx->pool->objects->rc_lock);
	oc->locked = 0;
}

/* ---- draining the dying list ---- */

int
nvh_obj_dying_check(struct nvh_pool *pool)
{
	uint64_t cur = *(uint64_t *)(pool->base + dying_slot(pool));
	/* Brent's cycle detection: a loop is found within twice its length
	 * plus the tail, instead of after a walk as long as the pool has
	 * blocks.  (nvh_open prefixes the pool's path.) */
	uint64_t tortoise = 0, power = 1, steps = 0;
	while (cur) {
		uint64_t off;
		struct nvh_objhdr *hd;
		if (nvh_oid_untag(pool, cur, &off) || !(hd = nvh_obj_hdr(pool, off)) ||
		    !(NVH_HDR_FLAGS(hd->word) & NVH_OBJ_DYING) ||
		    NVH_HDR_COUNT(hd->word) != 0 ||
		    !nvh_type_counted(nvh_type_get(pool, NVH_HDR_TYPE(hd->word))))
			return nvh_err(NVH_ECORRUPT, "dying list: 0x%" PRIx64
				       " is not a dying object (run nvheap "
				       "check)", cur);
		if (cur == tortoise)
			return nvh_err(NVH_ECORRUPT, "the dying list loops at "
				       "0x%" PRIx64 " (run nvheap check)", cur);
		if (++steps == power) {
			tortoise = cur;
			power *= 2;
			steps = 0;
		}
		cur = hd->birth;
	}
	return 0;
}

static int
drain_step(struct nvh_pool *pool, int *more)
{
	struct nvh_objects *o = pool->objects;
	*more = 0;
	pthread_mutex_lock(&o->rc_lock);
	uint64_t head = *(uint64_t *)(pool->base + dying_slot(pool));
	struct plan *pl = plan_take(pool);
	if (!pl) {
		pthread_mutex_unlock(&o->rc_lock);
		return nvh_err(ENOMEM, "out of memory");
	}
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	int rc = 0;
	/* Take up to release_max unpinned objects off the front of the list;
	 * pinned ones stay, in order. */
	uint64_t cur = head, kept_head = 0, kept_tail_ho = 0;
	size_t taken = 0, visited = 0;
	const size_t max = o->release_max;
	while (cur && taken < max && visited++ < 16 * max) {
		uint64_t off;
		struct nvh_objhdr *hd;
		if (nvh_oid_untag(pool, cur, &off) || !(hd = nvh_obj_hdr(pool, off)) ||
		    !(NVH_HDR_FLAGS(hd->word) & NVH_OBJ_DYING)) {
			rc = nvh_err(NVH_ECORRUPT, "dying list: 0x%" PRIx64 " is "
				     "not a dying object", cur);
			break;
		}
		uint64_t next = hd->birth;
		if (nvh_pinned(pool, off)) {
			uint64_t ho = (uint64_t)((char *)hd - pool->base);
			if (!kept_head)
				kept_head = cur;
			else
				rc = nvh_rec_add(&rec, NVH_OP_SET, kept_tail_ho + 8, cur);
			kept_tail_ho = ho;
		} else {
			struct ent *e = ent_get(pl, pool, NULL, off);
			if (!e) {
				rc = nvh_err(NVH_ECORRUPT, "dying list: 0x%" PRIx64
					     " is not a counted object", cur);
				break;
			}
			e->count = 0;
			e->word = hd->word;
			if (!rc)
				rc = release(pl, pool, NULL, e);
			taken++;
		}
		cur = next;
	}
	if (!rc && !taken) {
		pthread_mutex_unlock(&o->rc_lock);
		nvh_rec_fini(&rec);
		plan_done(pl);
		return 0; /* only pinned objects (or nothing) left */
	}
	/* objects the releases zeroed: onto the front of the list */
	while (!rc && pl->nwork) {
		struct ent *e = ent_get(pl, pool, NULL, pl->work[--pl->nwork]);
		if (e && !e->freed)
			e->push = 1;
	}
	/* rest of list: the kept pinned ones, then what we did not reach */
	if (!rc && kept_head)
		rc = nvh_rec_add(&rec, NVH_OP_SET, kept_tail_ho + 8, cur);
	uint64_t rest = kept_head ? kept_head : cur;
	size_t nfree = 0;
	for (size_t i = 0; i < pl->n; i++)
		nfree += pl->e[i].freed;
	struct nvh_blk *fr = calloc(nfree ? nfree : 1, sizeof(*fr));
	size_t nout = 0;
	if (!fr)
		rc = -ENOMEM;
	if (!rc)
		rc = emit(pl, pool, &rec, NULL, fr, &nout, rest);
	if (!rc) {
		struct nvh_tctx *t = nvh_tctx_get(pool->heap);
		struct nvh_lane *l = t ? nvh_lane_acquire(pool, &t->lane) : NULL;
		rc = l ? nvh_lane_commit(pool, l, &rec, NULL, NULL) : -ENOMEM;
		if (l)
			nvh_lane_release(pool, l);
	}
	for (size_t i = 0; i < nout; i++) {
		if (rc)
			nvh_blk_unclaim(pool, &fr[i]);
		else
			nvh_blk_release(pool, &fr[i]);
	}
	*more = !rc && *(uint64_t *)(pool->base + dying_slot(pool)) != 0;
	pthread_mutex_unlock(&o->rc_lock);
	free(fr);
	plan_done(pl);
	nvh_rec_fini(&rec);
	return rc == -ENOMEM ? nvh_err(ENOMEM, "out of memory") : rc;
}

int
nvh_obj_drain(struct nvh_pool *pool)
{
	if (!pool->objects || pool->rdonly)
		return 0;
	int more = 1, rc = 0;
	while (more && !rc)
		rc = drain_step(pool, &more);
	return rc;
}
