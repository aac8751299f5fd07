/*
 * cascade.c -- reference counts at commit, and the dying list: how
 * unlinked object graphs of any size and fan-out are freed in bounded,
 * crash-atomic steps from any number of threads.
 *
 * At commit (nvh_obj_prepare, under the pool's rc_lock) the counts the
 * transaction changed become absolute SET entries of its commit record.
 * An object whose count ends at zero and that no thread pins is released:
 * freed, and each target of its strong slots decremented, which may
 * release more.  The releases inside a commit are bounded in BYTES of
 * record (commit_budget, 4 KiB), not in objects: an object is released in
 * the commit only if the worst case of its release (its free plus
 * SLOT_COST per strong slot) still fits; otherwise it goes on the dying
 * list (PUSH_COST).  So a transaction's commit record is its own work
 * plus at most the budget, and a small transaction's record fits its
 * lane's ring even in a full pool.
 *
 * The dying list is threaded through the objects' headers: DYING flag,
 * next oid in `birth`, head in the heap's root line.  While an object is
 * dying, the count bits of its header are its release PROGRESS: the
 * number of its strong slots (the type's pointer fields in table order,
 * array elements in order; weak fields are not slots) whose references
 * have already been given up.  nvh_obj_drain empties the list in steps;
 * each step is one ATOMIC record of at most drain_budget bytes (16 KiB,
 * well inside the 64 KiB ring) that takes objects off the front of the
 * list: it releases slots from each one's progress on, frees the objects
 * whose every slot is done, pushes the children that reach zero onto the
 * front, and, when the budget runs out inside an object, records the new
 * progress in that object's header, which stays at the front.  An object
 * with six million children is freed in ~12,000 steps, each needing no
 * pool space (every step only frees), and a crash between steps leaves a
 * well-formed list whose progress the next open continues from.
 *
 * Invariants:
 *   count(o) = strong references to o from allocated objects' strong
 *              slots, excluding slots below a dying holder's progress,
 *              + (root slot == o), for o not dying;
 *   DYING(o) <=> o is on the dying list;
 *   DYING(o) => nothing references o, progress(o) < slots(type(o)) or
 *              progress(o) == 0, and o's slots >= progress hold their
 *              references (counted in the targets);
 *   a dying object with progress > 0 is never linked again.
 * Locks: a lane (nvh_lane_acquire) before rc_lock, in commits and drain
 * steps alike (a drain step waiting for a lane while holding rc_lock
 * would deadlock with committers that hold lanes and wait for rc_lock).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"
#include "heap/log/lane.h"
#include "tx/tx.h"

/* Record bytes a decision can add, at most (entries of heap/log/layout.h:
 * SET, OR and AND-NOT are 16 bytes). */
#define SLOT_COST 32u     /* a target's count SET, + its birth SET if pushed */
#define PUSH_COST 32u     /* header word and birth (next) */
#define FREE_COST 64u     /* bitmap AND-NOT or 3 arena-table SETs, header */
#define PROGRESS_COST 16u /* a partly released object's header word */
#define LIST_COST 48u     /* the head slot, relinks around pinned objects */
#define VISIT_MAX 65536u  /* pinned dying objects skipped per step */

static uint64_t
dying_slot(const struct nvh_pool *pool)
{
	return pool->heap->hdr.root_off + (NVH_HEAP_DYING_REL - NVH_HEAP_ROOT_REL);
}

static uint64_t
hdr_word(const struct nvh_objhdr *h)
{
	/* other threads' commits store header words (atomically) */
	return __atomic_load_n(&h->word, __ATOMIC_RELAXED);
}


/* A table of objects whose count this commit or drain step decides. */
struct ent {
	uint64_t off;
	int64_t count;     /* final (dying objects: 0) */
	uint32_t cur;      /* count on the medium now (0 for new or dying) */
	uint32_t progress; /* dying: slots released (on the medium, then new) */
	uint64_t word;     /* header word now */
	uint64_t birth;    /* header birth word now (live objects) */
	const struct nvh_rtype *rt;
	int fresh;         /* index in tx->fresh or -1 */
	uint8_t dying;     /* on the dying list now */
	uint8_t freed, push, undie, partial;
};

struct plan {
	struct ent *e;
	size_t n, cap;
	struct nvh_u64map ix; /* off -> index in e */
	uint64_t *work;    /* offsets whose count reached zero */
	size_t nwork, cwork;
	uint64_t bytes;    /* record bytes the decisions so far may add */
	uint64_t budget;
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

/* Empty the plan (caller holds rc_lock); give back arrays a huge
 * cascade grew. */
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
	pl->bytes = 0;
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
	struct nvh_oinfo oi;
	uint64_t in;
	if (nvh_obj_containing(pool, tx, off, &oi, &in) || in != 0 ||
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
		e->word = hdr_word(oi.hdr);
		e->birth = oi.birth;
		e->dying = (NVH_HDR_FLAGS(e->word) & NVH_OBJ_DYING) != 0;
		if (e->dying)
			e->progress = NVH_HDR_COUNT(e->word);
		else
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

/* Count reached zero: to be released (if room), or a pinned object onto
 * the dying list. */
static int
zeroed(struct plan *pl, struct nvh_pool *pool, struct ent *e)
{
	if (e->freed || e->push || e->dying)
		return 0;
	if (nvh_pinned(pool, e->off)) {
		e->push = 1;
		pl->bytes += PUSH_COST;
		return 0;
	}
	return work_push(pl, e->off);
}

/* Release e's strong slots from `from` on, while the record has room for
 * SLOT_COST more and `reserve` after it (0: no limit: the caller checked
 * the whole release fits).  Returns 1 when every slot is done, 0 when it
 * stopped early with *next = the first slot not released; < 0 on error. */
static int
release_slots(struct plan *pl, struct nvh_pool *pool, struct nvh_tx *tx,
	      struct ent *e, uint32_t from, uint64_t reserve, uint32_t *next)
{
	const char *obj = pool->base + e->off;
	const struct nvh_rtype *rt = e->rt; /* e may move: ent_get grows */
	uint64_t eoff = e->off;
	struct nvh_slot_it it;
	uint64_t at;
	nvh_slot_seek(&it, rt, from);
	for (;;) {
		uint32_t s = (uint32_t)it.s;
		if (!nvh_slot_next(&it, &at))
			return 1;
		uint64_t v, off;
		memcpy(&v, obj + at, 8);
		if (!v || nvh_oid_untag(pool, v, &off) || !off || off == eoff)
			continue;
		if (reserve && pl->bytes + SLOT_COST + reserve > pl->budget) {
			*next = s;
			return 0;
		}
		struct ent *c = ent_get(pl, pool, tx, off);
		if (!c)
			continue; /* untyped or manual target */
		pl->bytes += SLOT_COST;
		if (c->count == 0 || c->dying)
			continue; /* more references than its count said: the
				   * medium's count is wrong; keep the object
				   * rather than free something still
				   * referenced (nvh_check reports it) */
		if (--c->count == 0) {
			int rc = zeroed(pl, pool, c);
			if (rc)
				return rc;
		}
	}
}

/* The strong slots of a type (its pointer fields, arrays counted
 * element by element). */
static uint64_t
slots_of(const struct nvh_rtype *rt)
{
	uint64_t n = 0;
	for (uint32_t i = 0; rt && i < rt->nfields; i++)
		if (!(rt->fields[i].flags & NVH_FIELD_WEAK))
			n += rt->fields[i].count;
	return n;
}

/*
 * The objects whose count reached zero (pl->work): each one is released
 * whole if the worst case of its release (FREE_COST, SLOT_COST per slot)
 * fits the budget with `reserve` bytes left over, else pushed onto the
 * dying list.  Releases add more work; *released counts them against
 * release_max.  Returns 1 if something was pushed (a drain must follow),
 * 0 if not, < 0 on error.
 */
static int
release_fitting(struct plan *pl, struct nvh_pool *pool, struct nvh_tx *tx,
		uint64_t reserve, size_t *released)
{
	int pushed = 0;
	while (pl->nwork) {
		struct ent *e = ent_get(pl, pool, tx, pl->work[--pl->nwork]);
		if (!e || e->freed || e->push || e->dying)
			continue;
		uint64_t cost = FREE_COST + SLOT_COST * slots_of(e->rt);
		if (*released >= pool->objects->release_max ||
		    pl->bytes + cost + reserve > pl->budget) {
			e->push = 1;
			pl->bytes += PUSH_COST;
			pushed = 1;
			continue;
		}
		++*released;
		pl->bytes += FREE_COST;
		e->freed = 1;
		uint32_t next;
		int rc = release_slots(pl, pool, tx, e, 0, 0, &next);
		if (rc < 0)
			return rc;
	}
	return pushed;
}

/* Emit the entries of a plan: counts, the dying list, frees.  Frees of
 * live objects are claimed into `out`; objects the transaction allocated
 * are changed in tx->fresh instead.  `rest` is what follows the pushed
 * objects on the new list. */
static int
emit(struct plan *pl, struct nvh_pool *pool, struct nvh_rec *rec,
     struct nvh_tx *tx, struct nvh_blk *out, size_t *nout, uint64_t rest)
{
	int rc = 0;
	uint64_t head = rest;
	for (size_t i = pl->n; i-- > 0 && !rc;) {
		struct ent *e = &pl->e[i];
		if (!e->push || e->freed)
			continue;
		/* onto the list: DYING, progress 0, next = the head so far */
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
			if (rc)
				continue;
			/* claimed: in `out` at once, so that a failure below
			 * gives it back with the others (unclaim) */
			out[(*nout)++] = k;
			rc = nvh_blk_rec_free(pool, &k, rec);
			if (!rc)
				rc = nvh_rec_add(rec, NVH_OP_SET, ho, 0);
			continue;
		}
		uint64_t word = e->dying && !e->undie
			? NVH_HDR_MAKE(e->rt->id, NVH_OBJ_DYING, e->progress)
			: NVH_HDR_MAKE(e->rt->id, 0, e->count);
		if (word != e->word)
			rc = nvh_rec_add(rec, NVH_OP_SET, ho, word);
		if (!rc && e->undie) /* a new incarnation for weak pointers */
			rc = nvh_rec_add(rec, NVH_OP_SET, ho + 8,
					 atomic_fetch_add(&pool->lanes->seq, 1));
	}
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
		const uint64_t *ix = nvh_u64map_find(&pl->ix, off);
		if (ix && pl->e[*ix].undie) {
			cur = next; /* leaves the list */
			continue;
		}
		if (!new_head)
			new_head = cur;
		else if (last_next != cur)
			rc = nvh_rec_add(rec, NVH_OP_SET, last_ho + 8, cur);
		last_ho = (uint64_t)((char *)hd - pool->base);
		last_next = next;
		cur = next;
	}
	if (!rc && new_head && last_next != 0)
		rc = nvh_rec_add(rec, NVH_OP_SET, last_ho + 8, 0);
	*head = new_head;
	return rc;
}

/* A transaction's count changes, checked (positive changes only to
 * objects that still live: a store checked before another thread's
 * commit unlinked its target must not commit a dangling pointer). */
static int
apply_deltas(struct plan *pl, struct nvh_pool *pool, struct nvh_tx *tx,
	     int *any_undie)
{
	for (size_t i = 0; i < tx->obj->nrc; i++) {
		const struct nvh_rcd *d = &tx->obj->rc[i];
		struct ent *e = d->delta || d->birth
				? ent_get(pl, pool, tx, d->off) : NULL;
		/* Every reference the transaction stored must still name the
		 * object it checked: not freed since (the block may even hold
		 * a new object, of another type, by now), even where stores
		 * and unlinks cancel out.  A dying object's birth word is its
		 * list link: a store of one pinned it for the transaction
		 * (NVH_RCD_PINNED, objects/ref.c), so it is the same object
		 * now, dying (checked below) or linked again. */
		if (d->birth && d->birth != NVH_RCD_PINNED &&
		    (!e || (!e->dying && e->fresh < 0 && e->birth != d->birth)))
			return nvh_err(EINVAL, "oid 0x%" PRIx64 " was freed "
				       "before the commit%s (another thread "
				       "unlinked it after this transaction "
				       "stored it)", nvh_oid_tagged(pool, d->off),
				       e ? " and its block allocated again" : "");
		if (!e)
			continue;
		e->count += d->delta;
		if (e->count < 0)
			return nvh_err(NVH_ECORRUPT, "reference count of 0x%"
				       PRIx64 " would go below zero",
				       nvh_oid_tagged(pool, e->off));
		if (e->count > (int64_t)UINT32_MAX)
			return nvh_err(EOVERFLOW, "reference count of 0x%" PRIx64
				       " would pass 2^32 - 1 (%" PRId64 ")",
				       nvh_oid_tagged(pool, e->off), e->count);
	}
	for (size_t i = 0; i < pl->n; i++) {
		struct ent *e = &pl->e[i];
		if (!e->dying || e->count == 0)
			continue;
		/* linked again: only a pinned object whose release has not
		 * begun may come back (it leaves the list) */
		if (e->progress || !nvh_pinned(pool, e->off))
			return nvh_err(EINVAL, "oid 0x%" PRIx64 " is being freed "
				       "(unlinked by another commit)",
				       nvh_oid_tagged(pool, e->off));
		e->undie = 1;
		*any_undie = 1;
		pl->bytes += 2 * 16;
	}
	return 0;
}

static int
grow_frees(struct nvh_tx *tx, const struct nvh_blk *k)
{
	if (tx->nfrees == tx->cfrees) {
		size_t c = tx->cfrees ? 2 * tx->cfrees : 16;
		struct nvh_blk *n = realloc(tx->frees, c * sizeof(*n));
		if (!n)
			return -ENOMEM;
		tx->frees = n;
		tx->cfrees = c;
	}
	tx->frees[tx->nfrees++] = *k;
	return 0;
}

int
nvh_obj_prepare(struct nvh_tx *tx, struct nvh_rec *rec,
		struct nvh_obj_commit *oc)
{
	struct nvh_pool *pool = tx->pool;
	struct nvh_objects *o = pool->objects;
	memset(oc, 0, sizeof(*oc));
	if (!tx->obj->typed)
		return 0;
	pthread_mutex_lock(&o->rc_lock);
	oc->locked = 1;
	struct plan *pl = plan_take(pool);
	if (!pl)
		return nvh_err(ENOMEM, "out of memory");
	pl->budget = o->commit_budget;
	int rc = 0, any_undie = 0;
	for (size_t i = 0; i < tx->nfresh && !rc; i++) {
		const struct nvh_rtype *rt = nvh_type_get(pool, tx->fresh[i].type);
		if (!tx->fresh[i].dropped && nvh_type_counted(rt) &&
		    !ent_get(pl, pool, tx, tx->fresh[i].blk.off))
			rc = -ENOMEM;
	}
	if (!rc)
		rc = apply_deltas(pl, pool, tx, &any_undie);
	for (size_t i = 0, n = pl->n; i < n && !rc; i++)
		if (pl->e[i].count == 0)
			rc = zeroed(pl, pool, &pl->e[i]);
	/* Release what fits the budget, whole; the rest waits on the dying
	 * list for the drain after the commit. */
	size_t released = 0;
	if (!rc && release_fitting(pl, pool, tx, 0, &released))
		oc->drain = 1;
	/* frees of live objects go to tx->frees so a failed commit unclaims
	 * them and a good one releases them */
	size_t nfree = 0;
	for (size_t i = 0; i < pl->n; i++)
		nfree += pl->e[i].freed && pl->e[i].fresh < 0;
	struct nvh_blk *fr = nfree ? calloc(nfree, sizeof(*fr)) : NULL;
	if (nfree && !fr && !rc)
		rc = -ENOMEM;
	uint64_t head = *(uint64_t *)(pool->base + dying_slot(pool));
	if (!rc && any_undie)
		rc = unlink_undead(pl, pool, rec, &head);
	size_t nout = 0;
	if (!rc)
		rc = emit(pl, pool, rec, tx, fr, &nout, head);
	for (size_t i = 0; i < nout; i++) {
		if (!rc)
			rc = grow_frees(tx, &fr[i]);
		if (rc) /* not in tx->frees: give it back here */
			nvh_blk_unclaim(pool, &fr[i]);
	}
	free(fr);
	if (head || oc->drain)
		tx->obj->drain = 1;
	for (size_t i = 0; i < pl->n; i++)
		if (pl->e[i].push && !nvh_pinned(pool, pl->e[i].off))
			tx->obj->drain = 1;
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

/* ---- the dying list ---- */

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
		const struct nvh_rtype *rt = NULL;
		if (nvh_oid_untag(pool, cur, &off) || !(hd = nvh_obj_hdr(pool, off)) ||
		    !(NVH_HDR_FLAGS(hd->word) & NVH_OBJ_DYING) ||
		    !nvh_type_counted(rt = nvh_type_get(pool,
							NVH_HDR_TYPE(hd->word))))
			return nvh_err(NVH_ECORRUPT, "dying list: 0x%" PRIx64
				       " is not a dying object (run nvheap "
				       "check)", cur);
		uint32_t progress = NVH_HDR_COUNT(hd->word);
		if (progress && progress >= slots_of(rt))
			return nvh_err(NVH_ECORRUPT, "dying list: 0x%" PRIx64
				       " (a \"%s\", %" PRIu64 " pointer slots) "
				       "says %" PRIu32 " slots are released (run "
				       "nvheap check)", cur, rt->name,
				       slots_of(rt), progress);
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

/*
 * One step of the drain, on the lane `l` the caller holds: the objects at
 * the front of the list, released as far as drain_budget allows.  *more:
 * the list still holds objects not pinned.
 */
static int
drain_step(struct nvh_pool *pool, struct nvh_lane *l, int *more)
{
	struct nvh_objects *o = pool->objects;
	*more = 0;
	pthread_mutex_lock(&o->rc_lock);
	struct plan *pl = plan_take(pool);
	if (!pl) {
		pthread_mutex_unlock(&o->rc_lock);
		return nvh_err(ENOMEM, "out of memory");
	}
	pl->budget = o->drain_budget;
	pl->bytes = LIST_COST;
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	int rc = 0, partial = 0;
	/* Off the front of the list, in order: pinned objects stay where
	 * they are; the first object the budget cannot finish stays first,
	 * with its progress recorded. */
	uint64_t cur = *(uint64_t *)(pool->base + dying_slot(pool));
	uint64_t kept_head = 0, kept_tail_ho = 0, kept_tail_next = 0;
	size_t taken = 0, visited = 0;
	while (cur && !rc && !partial && taken < o->release_max &&
	       visited++ < VISIT_MAX) {
		uint64_t off;
		struct nvh_objhdr *hd;
		if (nvh_oid_untag(pool, cur, &off) || !(hd = nvh_obj_hdr(pool, off)) ||
		    !(NVH_HDR_FLAGS(hdr_word(hd)) & NVH_OBJ_DYING)) {
			rc = nvh_err(NVH_ECORRUPT, "dying list: 0x%" PRIx64 " is "
				     "not a dying object", cur);
			break;
		}
		uint64_t next = hd->birth;
		if (nvh_pinned(pool, off)) {
			/* it stays; the previous one kept links past the
			 * objects taken in between (LIST_COST, or charged
			 * with them) */
			if (!kept_head)
				kept_head = cur;
			else if (kept_tail_next != cur)
				rc = nvh_rec_add(&rec, NVH_OP_SET,
						 kept_tail_ho + 8, cur);
			kept_tail_ho = (uint64_t)((char *)hd - pool->base);
			kept_tail_next = next;
			cur = next;
			continue;
		}
		/* room to free it, to record progress and to relink the
		 * pinned ones around it, or stop here */
		if (taken && pl->bytes + FREE_COST + PROGRESS_COST + 16 +
			     SLOT_COST > pl->budget)
			break;
		struct ent *e = ent_get(pl, pool, NULL, off);
		if (!e || !e->dying) {
			rc = nvh_err(NVH_ECORRUPT, "dying list: 0x%" PRIx64
				     " is not a counted dying object", cur);
			break;
		}
		uint32_t from = e->progress, at = from;
		int done = release_slots(pl, pool, NULL, e, from,
					 FREE_COST + PROGRESS_COST, &at);
		if (done < 0) {
			rc = done;
			break;
		}
		e = ent_get(pl, pool, NULL, off); /* the table may have moved */
		if (!done && at == from && !taken)
			rc = nvh_err(ENOSPC, "drain: a budget of %" PRIu64 " bytes "
				     "cannot release one slot", pl->budget);
		else if (done) {
			e->freed = 1;
			pl->bytes += FREE_COST + (kept_head ? 16 : 0);
			taken++;
			cur = next;
		} else {
			e->partial = 1;
			e->progress = at;
			pl->bytes += PROGRESS_COST;
			partial = 1; /* it stays first: cur */
		}
	}
	if (!rc && !taken && !partial) {
		plan_done(pl); /* the plan is rc_lock's: done before unlock */
		pthread_mutex_unlock(&o->rc_lock);
		nvh_rec_fini(&rec);
		return 0; /* only pinned objects (or nothing) left */
	}
	/* Objects the releases zeroed: released in this step too while the
	 * budget lasts (so a chain is not freed one link per step), pushed
	 * onto the front of the list past that.  Every push was charged
	 * with the slot that zeroed it; the reserve keeps room for them. */
	if (!rc) {
		int r = release_fitting(pl, pool, NULL,
					PUSH_COST * pl->nwork, &taken);
		rc = r < 0 ? r : 0;
	}
	/* rest of the list: the kept pinned ones, then what we did not
	 * finish or reach */
	if (!rc && kept_head && kept_tail_next != cur)
		rc = nvh_rec_add(&rec, NVH_OP_SET, kept_tail_ho + 8, cur);
	uint64_t rest = kept_head ? kept_head : cur;
	size_t nfree = 0;
	for (size_t i = 0; i < pl->n; i++)
		nfree += pl->e[i].freed;
	struct nvh_blk *fr = calloc(nfree ? nfree : 1, sizeof(*fr));
	size_t nout = 0;
	if (!fr && !rc)
		rc = -ENOMEM;
	if (!rc)
		rc = emit(pl, pool, &rec, NULL, fr, &nout, rest);
	/* Bounded where it is written: a step that grew past its ring is a
	 * bug in the accounting above, refused rather than written. */
	if (!rc && rec.len > NVH_LANE_SIZE - NVH_REC_ALIGN)
		rc = nvh_err(ENOSPC, "drain step of %zu bytes exceeds its "
			     "budget (%" PRIu64 " bytes)", rec.len, pl->budget);
	if (!rc)
		rc = nvh_lane_commit(pool, l, &rec, NULL, NULL);
	for (size_t i = 0; i < nout; i++) {
		if (rc)
			nvh_blk_unclaim(pool, &fr[i]);
		else
			nvh_blk_release(pool, &fr[i]);
	}
	*more = !rc && *(uint64_t *)(pool->base + dying_slot(pool)) != 0;
	plan_done(pl);
	pthread_mutex_unlock(&o->rc_lock);
	free(fr);
	nvh_rec_fini(&rec);
	return rc == -ENOMEM ? nvh_err(ENOMEM, "out of memory") : rc;
}

int
nvh_obj_drain_steps(struct nvh_pool *pool, struct nvh_lane *l,
		    unsigned steps, int *more)
{
	int m = 0, rc = 0;
	/* a fork child's copy never writes (and a parent's thread may have
	 * held rc_lock at the fork) */
	if (pool->objects && !pool->rdonly && pool->gen == nvh_process_gen) {
		m = 1;
		for (unsigned i = 0; m && !rc && (!steps || i < steps); i++)
			rc = drain_step(pool, l, &m);
	}
	if (more)
		*more = m;
	return rc;
}

int
nvh_obj_drain_on(struct nvh_pool *pool, struct nvh_lane *l)
{
	return nvh_obj_drain_steps(pool, l, 0, NULL);
}

NVH_API void
nvh_set_drain_steps(nvh_pool *pool, unsigned steps)
{
	if (pool && pool->objects)
		atomic_store(&pool->objects->commit_steps, steps);
}

NVH_API int
nvh_reclaim(nvh_pool *pool, unsigned steps, int *more)
{
	if (more)
		*more = 0;
	if (!pool || !pool->objects)
		return 0;
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!t)
		return nvh_err(ENOMEM, "out of memory");
	struct nvh_lane *l = nvh_lane_acquire(pool, &t->lane);
	int rc = nvh_obj_drain_steps(pool, l, steps, more);
	nvh_lane_put(pool, l);
	return rc;
}

int
nvh_obj_drain(struct nvh_pool *pool)
{
	if (!pool->objects || pool->rdonly || pool->gen != nvh_process_gen)
		return 0;
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!t)
		return nvh_err(ENOMEM, "out of memory");
	/* One lane for every step (the lane first, then rc_lock: see the
	 * top of this file): nvh_close, which takes every lane, cannot
	 * find the pool idle between two steps and close it under us. */
	struct nvh_lane *l = nvh_lane_acquire(pool, &t->lane);
	int rc = nvh_obj_drain_on(pool, l);
	nvh_lane_put(pool, l);
	return rc;
}
