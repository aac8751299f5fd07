/*
 * alloc.c -- the steps of allocating and freeing blocks (shared by the
 * atomic operations and transactions), the atomic operations themselves
 * (nvh_alloc and nvh_free check their destination in objects/atomic.c
 * first), and the oid helpers.
 *
 * An allocation: pick a block in DRAM (reserve) -> run the constructor and
 * make its stores durable (fence) -> one redo record {bitmap OR, block
 * word SET, destination CSET, plus the arena table SET if the arena is
 * new} committed on the caller's lane (fence: the commit point) -> the
 * block is published (live) and the entries applied in place.  A free:
 * claim the block (live -> not live, so a second free fails) -> record
 * {bitmap AND-NOT, destination CSET to null} -> after the commit the block
 * becomes allocatable again.  See docs/allocator.md for why one fence is
 * the commit point and the in-place words are flushed only at checkpoints.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "heap/u64map.h"
#include "heap/log/lane.h"
#include "heap/log/redo.h"

NVH_API void *
nvh_direct(const nvh_pool *pool, nvh_oid oid)
{
	uint64_t off;
	if (!pool || oid.off == 0 || nvh_oid_untag(pool, oid.off, &off))
		return NULL;
	return pool->base + off;
}

NVH_API nvh_oid
nvh_oid_of(const nvh_pool *pool, const void *addr)
{
	const char *p = addr;
	if (!pool || !p || p <= pool->base || p >= pool->base + nvh_pool_size(pool))
		return NVH_OID_NULL;
	return (nvh_oid){nvh_oid_tagged(pool, (uint64_t)(p - pool->base))};
}

NVH_API nvh_oid *
nvh_root_slot(nvh_pool *pool)
{
	if (!pool || !pool->heap)
		return NULL;
	return (nvh_oid *)(pool->base + pool->heap->hdr.root_off);
}

/* ---- block steps ---- */

/* A block of class c from t's arena (taking another when it is full).
 * Out of arenas, it reclaims once, outside t's lock (reclaiming takes
 * other threads' locks, and theirs may be waiting for ours). */
/* Growths one allocation may wait for (other threads may take each new
 * segment's arenas first) before it reports the pool full. */
#define GROW_TRIES 8

/* Out of arenas after reclaiming: grow the pool (heap/grow.c), outside
 * t's lock.  0: try again; -ENOMEM with the reason in `why`; or an
 * error. */
static int
grow_for(nvh_pool *pool, uint64_t need, uint64_t seen, int *tries, char *why,
	 size_t whylen)
{
	if (++*tries > GROW_TRIES)
		return -ENOMEM; /* (why: from the last try) */
	return nvh_heap_grow(pool, need, seen, why, whylen);
}

static int
alloc_small(nvh_pool *pool, struct nvh_tctx *t, unsigned c, uint64_t *ap,
	    uint64_t *bp, char *why, size_t whylen)
{
	struct nvh_heap *h = pool->heap;
	int reclaimed = 0, rc = 0, tries = 0;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		if (t->cur[c] < 0) {
			uint64_t a;
			uint64_t seen = atomic_load_explicit(
				&h->grow_gen, memory_order_acquire);
			rc = nvh_arena_take(h, t, c, &a);
			if (rc == -ENOMEM && !reclaimed) {
				reclaimed = 1;
				pthread_mutex_unlock(&t->lock);
				rc = nvh_arenas_reclaim(pool, t, (int)c);
				pthread_mutex_lock(&t->lock);
				if (rc && rc != -ENOMEM)
					break;
				continue;
			}
			if (rc == -ENOMEM) {
				pthread_mutex_unlock(&t->lock);
				rc = grow_for(pool, 1, seen, &tries, why,
					      whylen);
				pthread_mutex_lock(&t->lock);
				if (rc)
					break;
				continue;
			}
			if (rc)
				break;
			t->cur[c] = (int32_t)a;
		}
		uint64_t a = (uint64_t)t->cur[c];
		int64_t b = nvh_block_reserve(h, a);
		if (b >= 0) {
			*ap = a;
			*bp = (uint64_t)b;
			break;
		}
		t->cur[c] = -1;
		nvh_arena_drop(h, a);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int
nvh_blk_reserve(nvh_pool *pool, struct nvh_tctx *t, uint64_t size,
		struct nvh_blk *k)
{
	struct nvh_heap *h = pool->heap;
	memset(k, 0, sizeof(*k));
	char why[NVH_PROBLEM_LEN] = "";
	uint64_t whole = nvh_heap_narenas(h) * (uint64_t)NVH_ARENA_SIZE;
	if (size > whole && !(__atomic_load_n(&pool->hdr.features,
					      __ATOMIC_RELAXED) & NVH_FEAT_GROWS))
		return nvh_err(ENOMEM, "%" PRIu64 " bytes is more than the "
			       "whole heap (%" PRIu64 " bytes; the pool has a "
			       "fixed size)", size, whole);
	if (size > NVH_MAX_POOL_SIZE)
		return nvh_err(ENOMEM, "%" PRIu64 " bytes is more than the "
			       "largest pool (%" PRIu64 " bytes)", size,
			       (uint64_t)NVH_MAX_POOL_SIZE);
	int c = size <= h->cls[h->ncls - 1].block_size
			? nvh_class_of_heap(h, size) : -1;
	k->cls = c;
	k->birth = atomic_fetch_add(&pool->lanes->seq, 1);
	if (c >= 0) {
		int rc = alloc_small(pool, t, (unsigned)c, &k->a, &k->b, why,
				     sizeof(why));
		if (rc == -ENOMEM)
			return nvh_err(ENOMEM, "out of space for a %" PRIu64
				       "-byte object (no free block or arena%s%s)",
				       size, why[0] ? "; " : "", why);
		if (rc)
			return rc;
		const struct nvh_class_ent *ce = &h->cls[c];
		k->off = nvh_arena_off(h, k->a) + ce->blocks_off +
			 k->b * ce->block_size;
		return 0;
	}
	k->run = (size + NVH_ARENA_SIZE - 1) / NVH_ARENA_SIZE;
	uint64_t seen = atomic_load_explicit(&h->grow_gen, memory_order_acquire);
	int rc = nvh_run_take(h, k->run, &k->a), tries = 0;
	if (rc == -ENOMEM) {
		rc = nvh_arenas_reclaim(pool, t, -1);
		if (!rc || rc == -ENOMEM)
			rc = nvh_run_take(h, k->run, &k->a);
	}
	while (rc == -ENOMEM) {
		rc = grow_for(pool, k->run, seen, &tries, why, sizeof(why));
		if (rc)
			break;
		seen = atomic_load_explicit(&h->grow_gen, memory_order_acquire);
		rc = nvh_run_take(h, k->run, &k->a);
	}
	if (rc == -ENOMEM)
		return nvh_err(ENOMEM, "out of space for a %" PRIu64 "-byte "
			       "object (%" PRIu64 " contiguous free arenas "
			       "needed%s%s)", size, k->run, why[0] ? "; " : "",
			       why);
	if (rc)
		return rc;
	k->off = nvh_arena_off(h, k->a);
	return 0;
}

void
nvh_blk_unreserve(nvh_pool *pool, const struct nvh_blk *k)
{
	if (k->cls >= 0)
		nvh_block_unreserve(pool->heap, nvh_tctx_peek(pool->heap),
				    k->a, k->b);
	else
		nvh_run_put(pool->heap, k->a, k->run);
}

struct nvh_objhdr *
nvh_blk_hdr(const nvh_pool *pool, const struct nvh_blk *k)
{
	return (struct nvh_objhdr *)(pool->base +
				     nvh_objhdr_off(pool->heap, k->a, k->b,
						    k->cls < 0));
}

int
nvh_blk_rec_alloc(nvh_pool *pool, const struct nvh_blk *k, uint64_t word,
		  uint64_t birth, struct nvh_rec *rec)
{
	struct nvh_heap *h = pool->heap;
	uint64_t hoff = nvh_objhdr_off(h, k->a, k->b, k->cls < 0);
	int rc = 0;
	if (k->cls >= 0) {
		if (h->arena[k->a].assign_pending)
			rc = nvh_rec_add(rec, NVH_OP_SET, nvh_table_off(h, k->a),
					 NVH_DESC(NVH_ARENA_SMALL, k->cls, 0));
		if (!rc)
			rc = nvh_rec_add(rec, NVH_OP_OR,
					 nvh_bitmap_off(h, k->a) + (k->b / 64) * 8,
					 1ull << (k->b % 64));
	} else {
		rc = nvh_rec_add(rec, NVH_OP_SET, nvh_table_off(h, k->a),
				 NVH_DESC(NVH_ARENA_LARGE, 0, k->run));
	}
	if (!rc)
		rc = nvh_rec_add(rec, NVH_OP_SET, hoff, word);
	if (!rc)
		rc = nvh_rec_add(rec, NVH_OP_SET, hoff + 8, birth);
	return rc;
}

/* Between the commit fence and the in-place application: the block is
 * durable, make it live for the rest of the process. */
void
nvh_blk_publish(nvh_pool *pool, const struct nvh_blk *k)
{
	struct nvh_heap *h = pool->heap;
	if (k->cls >= 0) {
		h->arena[k->a].assign_pending = 0;
		nvh_block_publish(h, k->a, k->b);
	} else {
		atomic_store(&h->arena[k->a].large_live, 1);
	}
}

int
nvh_blk_claim(nvh_pool *pool, uint64_t off, struct nvh_blk *k)
{
	struct nvh_heap *h = pool->heap;
	uint64_t in;
	memset(k, 0, sizeof(*k));
	if (nvh_heap_locate(h, off, &k->a, &k->b, &in) != 0 || in != 0)
		return nvh_err(EINVAL, "oid %" PRIu64 " is not the start of a "
			       "live object (double free, interior or garbage "
			       "pointer)", off);
	struct nvh_arena_rt *r = &h->arena[k->a];
	k->off = off;
	if (r->kind == NVH_K_LARGE) {
		k->cls = -1;
		k->run = r->run;
		int one = 1;
		if (!atomic_compare_exchange_strong(&r->large_live, &one, 0))
			goto not_live;
		return 0;
	}
	k->cls = r->cls;
	if (nvh_block_claim(h, k->a, k->b) != 0)
		goto not_live;
	return 0;
not_live:
	return nvh_err(EINVAL, "oid %" PRIu64 " is not a live object (double "
		       "free?)", off);
}

void
nvh_blk_unclaim(nvh_pool *pool, const struct nvh_blk *k)
{
	if (k->cls >= 0)
		nvh_block_unclaim(pool->heap, k->a, k->b);
	else
		atomic_store(&pool->heap->arena[k->a].large_live, 1);
}

int
nvh_blk_rec_free(nvh_pool *pool, const struct nvh_blk *k, struct nvh_rec *rec)
{
	struct nvh_heap *h = pool->heap;
	if (k->cls >= 0)
		return nvh_rec_add(rec, NVH_OP_ANDNOT,
				   nvh_bitmap_off(h, k->a) + (k->b / 64) * 8,
				   1ull << (k->b % 64));
	int rc = nvh_rec_add(rec, NVH_OP_SET, nvh_table_off(h, k->a),
			     NVH_DESC(NVH_ARENA_FREE, 0, 0));
	uint64_t hoff = nvh_objhdr_off(h, k->a, 0, 1);
	if (!rc)
		rc = nvh_rec_add(rec, NVH_OP_SET, hoff, 0);
	if (!rc)
		rc = nvh_rec_add(rec, NVH_OP_SET, hoff + 8, 0);
	return rc;
}

/* After the free is durable: the block may be handed out again. */
void
nvh_blk_release(nvh_pool *pool, const struct nvh_blk *k)
{
	if (k->cls >= 0)
		nvh_block_release(pool->heap, k->a, k->b);
	else
		nvh_run_put(pool->heap, k->a, k->run);
}

uint64_t
nvh_blk_size(const nvh_pool *pool, const struct nvh_blk *k)
{
	return k->cls >= 0 ? pool->heap->cls[k->cls].block_size
			   : k->run * (uint64_t)NVH_ARENA_SIZE;
}

int
nvh_heap_data_ok(const nvh_pool *pool, uint64_t off, uint64_t len)
{
	const struct nvh_heap *h = pool->heap;
	if (off == h->hdr.root_off && len <= 8)
		return 1;
	const struct nvh_seg *sg = nvh_seg_at(h, off);
	return sg && len <= sg->end - off;
}

/* ---- lanes held above the log ---- */

/* Blocks kept for the old pass, if it ended: reservations no more. */
static void
keep_expire(nvh_pool *pool, struct nvh_lane *l)
{
	struct nvh_lane_keep *kp = &pool->heap->keep[l->index];
	if (kp->pass == l->pass)
		return;
	for (size_t i = 0; i < kp->n; i++)
		nvh_blk_unreserve(pool, &kp->blk[i]);
	kp->n = 0;
	kp->pass = l->pass;
}

int
nvh_lane_keep(nvh_pool *pool, struct nvh_lane *l, const struct nvh_blk *k)
{
	struct nvh_lane_keep *kp = &pool->heap->keep[l->index];
	keep_expire(pool, l);
	if (nvh_grow((void **)&kp->blk, &kp->cap, kp->n, sizeof(*kp->blk)))
		return nvh_err(ENOMEM, "out of memory");
	kp->blk[kp->n++] = *k;
	return 0;
}

void
nvh_lane_put(nvh_pool *pool, struct nvh_lane *l)
{
	if (pool->heap->keep[l->index].n)
		keep_expire(pool, l);
	nvh_lane_release(pool, l);
}

/* ---- the atomic operations ---- */

struct pub {
	nvh_pool *pool;
	const struct nvh_blk *k;
};

static void
publish(void *arg)
{
	struct pub *p = arg;
	nvh_blk_publish(p->pool, p->k);
}

static int
commit(nvh_pool *pool, struct nvh_tctx *t, struct nvh_rec *rec,
       void (*committed)(void *), void *arg)
{
	struct nvh_lane *l = nvh_lane_acquire(pool, &t->lane);
	int rc = nvh_lane_commit(pool, l, rec, committed, arg);
	nvh_lane_put(pool, l);
	return rc;
}

/* rec (unless rc is already an error) committed, publishing the reserved
 * block k; rec finished; k given back if that failed. */
static int
commit_blk(nvh_pool *pool, struct nvh_tctx *t, struct nvh_rec *rec,
	   struct nvh_blk *k, int rc)
{
	struct pub p = {pool, k};
	if (!rc)
		rc = commit(pool, t, rec, publish, &p);
	nvh_rec_fini(rec);
	if (rc)
		nvh_blk_unreserve(pool, k);
	return rc;
}

const struct nvh_objhdr *
nvh_heap_object(const nvh_pool *pool, nvh_oid oid, uint64_t *size)
{
	if (!pool || !pool->heap)
		return NULL;
	struct nvh_heap *h = pool->heap;
	uint64_t a, b, in, off;
	if (nvh_oid_untag(pool, oid.off, &off) ||
	    nvh_heap_locate(h, off, &a, &b, &in) != 0 || in != 0)
		return NULL;
	int large = h->arena[a].kind == NVH_K_LARGE;
	if (size)
		*size = large ? (uint64_t)h->arena[a].run * NVH_ARENA_SIZE
			      : h->cls[h->arena[a].cls].block_size;
	return (const void *)(pool->base + nvh_objhdr_off(h, a, b, large));
}

NVH_API size_t
nvh_usable_size(nvh_pool *pool, nvh_oid oid)
{
	uint64_t size = 0;
	return nvh_heap_object(pool, oid, &size) ? (size_t)size : 0;
}

/*
 * The atomic allocation, once the caller (objects/atomic.c, nvh_alloc)
 * checked the destination: reserve a block of `size` bytes, run the
 * constructor and make its stores durable, then one record {block,
 * header `word`, dest CSET from `old`} committed on the caller's lane.
 */
int
nvh_heap_alloc(nvh_pool *pool, nvh_oid *dest, uint64_t old, size_t size,
	       uint64_t word, nvh_ctor ctor, void *arg)
{
	int rc;
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!t)
		return nvh_err(ENOMEM, "nvh_alloc: out of memory");
	struct nvh_blk k;
	rc = nvh_blk_reserve(pool, t, size, &k);
	if (rc) {
		nvh_err_prefix("nvh_alloc: %s: ", pool->path);
		return rc;
	}
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	rc = nvh_blk_rec_alloc(pool, &k, word, k.birth, &rec);
	if (!rc)
		rc = nvh_rec_add_cset(&rec, (uint64_t)((char *)dest - pool->base),
				      nvh_oid_tagged(pool, k.off), old);
	if (!rc && ctor) {
		rc = ctor(pool, pool->base + k.off, arg);
		if (rc)
			rc = nvh_err(ECANCELED, "the constructor returned %d", rc);
		else
			/* The constructed contents are durable before the
			 * record that publishes them. */
			rc = nvh_persist_range(&pool->persist, pool->base + k.off,
					       size);
	}
	rc = commit_blk(pool, t, &rec, &k, rc);
	if (rc)
		nvh_err_prefix("nvh_alloc: %s: ", pool->path);
	return rc;
}

/* An object that no destination names (nvh_malloc's large blocks, which
 * the collection finds): one record {bitmap or arena table, header}. */
int
nvh_heap_alloc_loose(nvh_pool *pool, struct nvh_tctx *t, size_t size,
		     uint64_t word, uint64_t *off)
{
	struct nvh_blk k;
	int rc = nvh_blk_reserve(pool, t, size, &k);
	if (rc)
		return rc;
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	rc = nvh_blk_rec_alloc(pool, &k, word, k.birth, &rec);
	rc = commit_blk(pool, t, &rec, &k, rc);
	if (rc)
		return rc;
	*off = k.off;
	return 0;
}

/*
 * The atomic free of block k, which the caller claimed (nvh_blk_claim)
 * and checked (objects/atomic.c, nvh_free): one record {bitmap or arena
 * table, dest CSET from v to null}; the block may be handed out again once
 * it committed.  On failure the claim is undone.
 */
int
nvh_heap_free(nvh_pool *pool, struct nvh_tctx *t, const struct nvh_blk *kp,
	      nvh_oid *dest, uint64_t v)
{
	const struct nvh_blk k = *kp;
	int rc;
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	rc = nvh_blk_rec_free(pool, &k, &rec);
	if (!rc && dest)
		rc = nvh_rec_add_cset(&rec, (uint64_t)((char *)dest - pool->base),
				      0, v);
	if (!rc)
		rc = commit(pool, t, &rec, NULL, NULL);
	nvh_rec_fini(&rec);
	if (rc) {
		nvh_blk_unclaim(pool, &k);
		nvh_err_prefix("nvh_free: %s: ", pool->path);
		return rc;
	}
	nvh_blk_release(pool, &k);
	return 0;
}

