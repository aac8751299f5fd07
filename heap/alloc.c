/*
 * alloc.c -- the atomic allocation API: nvh_alloc and nvh_free, and the
 * oid helpers.
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
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "tx/lane.h"
#include "tx/redo.h"

static int
usable(nvh_pool *pool, const char *fn)
{
	if (!pool)
		return nvh_err(EINVAL, "%s: NULL pool", fn);
	if (pool->rdonly)
		return nvh_err(EROFS, "%s: %s: pool is open read-only", fn,
			       pool->path);
	int f = atomic_load(&pool->failed);
	if (f)
		return nvh_err(EIO, "%s: %s: an earlier write to the medium "
			       "failed (%s); reopen the pool to recover", fn,
			       pool->path, strerror(-f));
	return 0;
}

/* Is dest a place an atomic operation may store an oid into? */
static int
dest_ok(nvh_pool *pool, const nvh_oid *dest, const char *fn)
{
	struct nvh_heap *h = pool->heap;
	const char *p = (const char *)dest;
	if (!dest)
		return nvh_err(EINVAL, "%s: %s: dest is NULL", fn, pool->path);
	if (p < pool->base || p >= pool->base + pool->size ||
	    (size_t)(p - pool->base) > pool->size - sizeof(*dest))
		return nvh_err(EINVAL, "%s: %s: dest %p is not inside this "
			       "pool's mapping", fn, pool->path, (void *)dest);
	uint64_t off = (uint64_t)(p - pool->base);
	if (off % 8)
		return nvh_err(EINVAL, "%s: %s: dest (pool offset %" PRIu64 ") "
			       "is not 8-byte aligned", fn, pool->path, off);
	if (off == h->hdr.root_off)
		return 0;
	uint64_t a, b, in;
	if (nvh_heap_locate(h, off, &a, &b, &in) != 0)
		return nvh_err(EINVAL, "%s: %s: dest (pool offset %" PRIu64 ") "
			       "is neither the root slot nor inside a live "
			       "object", fn, pool->path, off);
	return 0;
}

NVH_API void *
nvh_direct(const nvh_pool *pool, nvh_oid oid)
{
	if (!pool || oid.off == 0 || oid.off >= pool->size)
		return NULL;
	return pool->base + oid.off;
}

NVH_API nvh_oid
nvh_oid_of(const nvh_pool *pool, const void *addr)
{
	const char *p = addr;
	if (!pool || !p || p <= pool->base || p >= pool->base + pool->size)
		return NVH_OID_NULL;
	return (nvh_oid){(uint64_t)(p - pool->base)};
}

NVH_API nvh_oid *
nvh_root_slot(nvh_pool *pool)
{
	if (!pool || !pool->heap)
		return NULL;
	return (nvh_oid *)(pool->base + pool->heap->hdr.root_off);
}

struct publish {
	struct nvh_heap *h;
	uint64_t a, b;
	int large;
};

static void
publish(void *arg)
{
	struct publish *p = arg;
	if (p->large)
		atomic_store(&p->h->arena[p->a].large_live, 1);
	else
		nvh_block_publish(p->h, p->a, p->b);
}

static int
commit(nvh_pool *pool, struct nvh_tctx *t, struct nvh_rec *rec,
       struct publish *pub)
{
	struct nvh_lane *l = nvh_lane_acquire(pool, &t->lane);
	int rc = nvh_lane_commit(pool, l, rec, pub ? publish : NULL, pub);
	nvh_lane_release(pool, l);
	return rc;
}

static int
alloc_small(nvh_pool *pool, struct nvh_tctx *t, unsigned c, uint64_t *ap,
	    uint64_t *bp)
{
	struct nvh_heap *h = pool->heap;
	int reclaimed = 0;
	for (;;) {
		if (t->cur[c] < 0) {
			uint64_t a;
			int rc = nvh_arena_take(h, t, c, &a);
			if (rc == -ENOMEM && !reclaimed) {
				reclaimed = 1;
				rc = nvh_arenas_reclaim(pool, t);
				if (rc && rc != -ENOMEM)
					return rc;
				continue;
			}
			if (rc)
				return rc;
			t->cur[c] = (int32_t)a;
		}
		uint64_t a = (uint64_t)t->cur[c];
		int64_t b = nvh_block_reserve(h, a);
		if (b >= 0) {
			*ap = a;
			*bp = (uint64_t)b;
			return 0;
		}
		nvh_arena_drop(h, a);
		t->cur[c] = -1;
	}
}

NVH_API int
nvh_alloc(nvh_pool *pool, nvh_oid *dest, size_t size, uint32_t type,
	  nvh_ctor ctor, void *arg)
{
	int rc = usable(pool, "nvh_alloc");
	if (rc)
		return rc;
	rc = dest_ok(pool, dest, "nvh_alloc");
	if (rc)
		return rc;
	struct nvh_heap *h = pool->heap;
	if (size == 0)
		return nvh_err(EINVAL, "nvh_alloc: %s: size 0", pool->path);
	if (size > h->narenas * (uint64_t)NVH_ARENA_SIZE)
		return nvh_err(ENOMEM, "nvh_alloc: %s: %zu bytes is more than "
			       "the whole heap (%" PRIu64 " bytes)", pool->path,
			       size, h->narenas * (uint64_t)NVH_ARENA_SIZE);
	struct nvh_tctx *t = nvh_tctx_get(h);
	if (!t)
		return nvh_err(ENOMEM, "nvh_alloc: out of memory");

	int c = size <= h->cls[h->ncls - 1].block_size
			? nvh_class_of_heap(h, size) : -1;
	uint64_t a, b = 0, obj;
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	if (c >= 0) {
		rc = alloc_small(pool, t, (unsigned)c, &a, &b);
		if (rc == -ENOMEM)
			return nvh_err(ENOMEM, "nvh_alloc: %s: out of space for "
				       "a %zu-byte object (no free block or "
				       "arena)", pool->path, size);
		if (rc)
			goto prefix;
		const struct nvh_class_ent *ce = &h->cls[c];
		obj = nvh_arena_off(h, a) + ce->blocks_off + b * ce->block_size;
		if (h->arena[a].assign_pending)
			rc = nvh_rec_add(&rec, NVH_OP_SET, nvh_table_off(h, a),
					 NVH_DESC(NVH_ARENA_SMALL, c, 0));
		if (!rc)
			rc = nvh_rec_add(&rec, NVH_OP_OR,
					 nvh_bitmap_off(h, a) + (b / 64) * 8,
					 1ull << (b % 64));
		if (!rc)
			rc = nvh_rec_add(&rec, NVH_OP_SET,
					 nvh_arena_off(h, a) + b * 8, type);
	} else {
		uint64_t n = (size + NVH_ARENA_SIZE - 1) / NVH_ARENA_SIZE;
		rc = nvh_run_take(h, n, &a);
		if (rc == -ENOMEM) {
			rc = nvh_arenas_reclaim(pool, t);
			if (!rc || rc == -ENOMEM)
				rc = nvh_run_take(h, n, &a);
		}
		if (rc == -ENOMEM)
			return nvh_err(ENOMEM, "nvh_alloc: %s: out of space for "
				       "a %zu-byte object (%" PRIu64 " contiguous "
				       "free arenas needed)", pool->path, size, n);
		if (rc)
			goto prefix;
		obj = nvh_arena_off(h, a);
		rc = nvh_rec_add(&rec, NVH_OP_SET, nvh_table_off(h, a),
				 NVH_DESC(NVH_ARENA_LARGE, 0, n));
		if (!rc)
			rc = nvh_rec_add(&rec, NVH_OP_SET, nvh_table_off(h, a) + 8,
					 type);
	}
	if (!rc)
		rc = nvh_rec_add_cset(&rec, (uint64_t)((char *)dest - pool->base),
				      obj, __atomic_load_n(&dest->off,
							   __ATOMIC_ACQUIRE));
	if (!rc && ctor) {
		rc = ctor(pool, pool->base + obj, arg);
		if (rc) {
			rc = nvh_err(ECANCELED, "nvh_alloc: %s: the constructor "
				     "returned %d", pool->path, rc);
		} else {
			/* The constructed contents are durable before the
			 * record that publishes them. */
			rc = nvh_persist_range(&pool->persist, pool->base + obj,
					       size);
		}
	}
	struct publish pub = {h, a, b, c < 0};
	if (!rc)
		rc = commit(pool, t, &rec, &pub);
	nvh_rec_fini(&rec);
	if (rc) {
		if (c >= 0)
			nvh_block_unreserve(h, a, b);
		else
			nvh_run_put(h, a, (size + NVH_ARENA_SIZE - 1) / NVH_ARENA_SIZE);
		goto prefix;
	}
	if (c >= 0)
		h->arena[a].assign_pending = 0;
	return 0;
prefix:
	if (!strstr(nvh_errormsg(), "nvh_alloc"))
		nvh_err_prefix("nvh_alloc: %s: ", pool->path);
	return rc;
}

NVH_API int
nvh_free(nvh_pool *pool, nvh_oid *dest)
{
	int rc = usable(pool, "nvh_free");
	if (rc)
		return rc;
	rc = dest_ok(pool, dest, "nvh_free");
	if (rc)
		return rc;
	struct nvh_heap *h = pool->heap;
	uint64_t off = __atomic_load_n(&dest->off, __ATOMIC_ACQUIRE);
	if (off == 0)
		return 0;
	uint64_t a, b, in;
	if (nvh_heap_locate(h, off, &a, &b, &in) != 0 || in != 0)
		return nvh_err(EINVAL, "nvh_free: %s: oid %" PRIu64 " is not "
			       "the start of a live object (double free, "
			       "interior or garbage pointer)", pool->path, off);
	struct nvh_tctx *t = nvh_tctx_get(h);
	if (!t)
		return nvh_err(ENOMEM, "nvh_free: out of memory");
	struct nvh_arena_rt *r = &h->arena[a];
	int large = r->kind == NVH_K_LARGE;
	/* Claim: of two frees of one block, one wins, the other fails. */
	if (large) {
		int one = 1;
		if (!atomic_compare_exchange_strong(&r->large_live, &one, 0))
			goto not_live;
	} else if (nvh_block_claim(h, a, b) != 0) {
		goto not_live;
	}
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	if (large) {
		rc = nvh_rec_add(&rec, NVH_OP_SET, nvh_table_off(h, a),
				 NVH_DESC(NVH_ARENA_FREE, 0, 0));
		if (!rc)
			rc = nvh_rec_add(&rec, NVH_OP_SET, nvh_table_off(h, a) + 8, 0);
	} else {
		rc = nvh_rec_add(&rec, NVH_OP_ANDNOT,
				 nvh_bitmap_off(h, a) + (b / 64) * 8,
				 1ull << (b % 64));
	}
	if (!rc)
		rc = nvh_rec_add_cset(&rec, (uint64_t)((char *)dest - pool->base),
				      0, off);
	if (!rc)
		rc = commit(pool, t, &rec, NULL);
	nvh_rec_fini(&rec);
	if (rc) {
		if (large)
			atomic_store(&r->large_live, 1);
		else
			nvh_block_unclaim(h, a, b);
		nvh_err_prefix("nvh_free: %s: ", pool->path);
		return rc;
	}
	/* Durable: the block may be handed out again. */
	if (large)
		nvh_run_put(h, a, r->run);
	else
		nvh_block_release(h, a, b);
	return 0;
not_live:
	return nvh_err(EINVAL, "nvh_free: %s: oid %" PRIu64 " is not a live "
		       "object (double free?)", pool->path, off);
}

NVH_API size_t
nvh_usable_size(nvh_pool *pool, nvh_oid oid)
{
	if (!pool || !pool->heap)
		return 0;
	struct nvh_heap *h = pool->heap;
	uint64_t a, b, in;
	if (nvh_heap_locate(h, oid.off, &a, &b, &in) != 0 || in != 0)
		return 0;
	if (h->arena[a].kind == NVH_K_LARGE)
		return (size_t)h->arena[a].run * NVH_ARENA_SIZE;
	return h->cls[h->arena[a].cls].block_size;
}

NVH_API uint32_t
nvh_type_of(nvh_pool *pool, nvh_oid oid)
{
	if (!pool || !pool->heap)
		return 0;
	struct nvh_heap *h = pool->heap;
	uint64_t a, b, in;
	if (nvh_heap_locate(h, oid.off, &a, &b, &in) != 0 || in != 0)
		return 0;
	const uint64_t *w = h->arena[a].kind == NVH_K_LARGE
		? (const uint64_t *)(pool->base + nvh_table_off(h, a) + 8)
		: (const uint64_t *)(pool->base + nvh_arena_off(h, a) + b * 8);
	return (uint32_t)*w;
}
