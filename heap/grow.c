/*
 * grow.c -- growing a pool in place: a new segment of arenas after the
 * heap's end (heap/layout.h, docs/format.md "Segments").
 *
 * A growth, one at a time (grow_lock), other threads allocating and
 * freeing in the old arenas meanwhile:
 *   G1  the file is extended (blocks allocated, size fsynced) and the new
 *       part mapped in place, inside the address space reserved at open,
 *       so no pointer into the pool moves;
 *   G2  the segment's header and its zero table entries and bitmaps are
 *       written and made durable;
 *   G3  the pool header update (two copies, pool_hdr.c) sets the new
 *       pool_size and heap_size: the growth's commit point;
 *   G4  the new arenas join the free pool in DRAM.
 * A crash before G3 leaves the old pool: its header names the old size,
 * and the tail past it (G1, G2) is ignored, then trimmed by the next
 * read-write open.  A crash after G3 leaves the new one, whose segment
 * G2 made valid.  Nothing in the segment is used before G4, so no record
 * names it before its header is durable.  docs/recovery.md has the rules.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"

#define STEP_MIN (4ull << 20) /* the default step: a quarter, at least this */

/* The most arenas a segment of `bytes` bytes holds (0: not one). */
static uint64_t
arenas_in(uint64_t bytes)
{
	struct nvh_seg sg;
	uint64_t n = bytes / NVH_ARENA_SIZE;
	for (; n > 0; n--) {
		nvh_seg_layout(&sg, 0, 0, n);
		if (sg.end <= bytes)
			return n;
	}
	return 0;
}

/* Where the next segment starts. */
static uint64_t
next_start(const struct nvh_pool *pool)
{
	const struct nvh_heap *h = pool->heap;
	if (pool->hdr.features & NVH_FEAT_SEGMENTS)
		return pool->hdr.heap_offset + pool->hdr.heap_size;
	/* a pool from before segments: heap_size has slack, and no
	 * segment follows the first */
	return h->seg[0].end;
}

/* G1-G4 for a segment of n arenas; the pool becomes at least `size`
 * bytes; `max` (if not 0) is its new max_size.  Caller holds grow_lock. */
static int
add_segment(struct nvh_pool *pool, uint64_t n, uint64_t size, uint64_t max)
{
	struct nvh_heap *h = pool->heap;
	uint64_t si = atomic_load(&h->nsegs);
	if (si >= NVH_MAX_SEGS)
		return nvh_err(ENOMEM, "the pool has %u segments, the most it "
			       "can have (grow it by larger steps)",
			       NVH_MAX_SEGS - 1);
	const uint64_t first = nvh_heap_narenas(h);
	if (first + n > h->max_arenas)
		return nvh_err(ENOMEM, "the address space reserved at open "
			       "(%zu bytes) has no room for %" PRIu64 " more "
			       "arenas: close and reopen the pool to grow it "
			       "further", pool->resv, n);
	if (!(pool->hdr.features & NVH_FEAT_SEGMENTS)) {
		/* A pool from before segments: its header must allow a file
		 * longer than the pool before G1 makes one (a crash after G1
		 * would leave a pool that no header copy accepts), so first
		 * the SEGMENTS bit and an exact heap_size, in a header update
		 * of their own. */
		struct nvh_pool_hdr old = pool->hdr;
		pool->hdr.heap_size = h->seg[0].end - pool->hdr.heap_offset;
		__atomic_store_n(&pool->hdr.features,
				 old.features | NVH_FEAT_SEGMENTS,
				 __ATOMIC_RELAXED);
		int rc = nvh_hdr_update(&pool->persist, pool->base, &pool->hdr,
					pool->hdr_first);
		if (rc) {
			atomic_store(&pool->failed, rc);
			return rc;
		}
	}
	struct nvh_seg sg;
	nvh_seg_layout(&sg, next_start(pool), first, n);
	if (sg.end > size)
		size = sg.end;
	/* G1 */
	struct nvh_file f = {.fd = pool->fd, .base = pool->base,
			     .size = pool->size, .resv = pool->resv,
			     .map_sync = pool->map_sync};
	int rc = nvh_file_grow(&f, size);
	if (rc == -EIO) /* the fsync: writes to the file may be lost */
		atomic_store(&pool->failed, rc);
	if (rc)
		return rc;
	rc = nvh_persist_grow(&pool->persist, f.size);
	if (rc)
		return rc;
	__atomic_store_n(&pool->size, f.size, __ATOMIC_RELEASE);
	/* G2 */
	char *base = pool->base;
	nvh_persist_memset_nodrain(&pool->persist, base + sg.start, 0,
				   sg.arenas_off - sg.start);
	struct nvh_seg_hdr sh;
	nvh_seg_hdr_make(pool, &sg, si, &sh);
	nvh_persist_memcpy_nodrain(&pool->persist, base + sg.start, &sh,
				   sizeof(sh));
	/* The segment's header, zero table entries (FREE) and zero bitmaps
	 * are durable before the pool header that puts it inside the heap
	 * (G3): a header naming it never finds it unwritten. */
	rc = nvh_persist_fence(&pool->persist);
	if (rc) {
		atomic_store(&pool->failed, rc);
		return rc;
	}
	/* G3 */
	struct nvh_pool_hdr old = pool->hdr;
	/* (features: allocations read it without this lock) */
	__atomic_store_n(&pool->hdr.features,
			 old.features | NVH_FEAT_SEGMENTS, __ATOMIC_RELAXED);
	pool->hdr.heap_size = sg.end - pool->hdr.heap_offset;
	if (size > pool->hdr.pool_size)
		pool->hdr.pool_size = size;
	if (max)
		pool->hdr.max_size = max;
	rc = nvh_hdr_update(&pool->persist, pool->base, &pool->hdr,
			    pool->hdr_first);
	if (rc) {
		/* Either size may be on the medium: both open, the segment
		 * being valid and free.  This run keeps the old one, and
		 * writes nothing more (a later growth would write another
		 * segment where a header copy may already name this one). */
		atomic_store(&pool->failed, rc);
		pool->hdr.heap_size = old.heap_size;
		pool->hdr.pool_size = old.pool_size;
		pool->hdr.max_size = old.max_size;
		__atomic_store_n(&pool->hdr.features, old.features,
				 __ATOMIC_RELAXED);
		return rc;
	}
	/* G4 */
	h->seg[si] = sg;
	nvh_arenas_add(h, si);
	__atomic_store_n(&pool->segments, si, __ATOMIC_RELAXED);
	atomic_fetch_add_explicit(&h->grow_gen, 1, memory_order_release);
	return 0;
}

static int
why_not(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
why_not(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -ENOMEM;
}

int
nvh_heap_grow(struct nvh_pool *pool, uint64_t need, uint64_t seen, char *why,
	      size_t whylen)
{
	struct nvh_heap *h = pool->heap;
	why[0] = 0;
	int rc;
	/* (pool->hdr: growths change it, under this lock) */
	pthread_mutex_lock(&pool->grow_lock);
	if (atomic_load_explicit(&h->grow_gen, memory_order_acquire) != seen) {
		pthread_mutex_unlock(&pool->grow_lock);
		return 0; /* another thread grew it: try that first */
	}
	if (atomic_load(&pool->failed)) {
		rc = why_not(why, whylen, "an earlier write to the medium "
			     "failed: the pool grows no more in this run");
		goto out;
	}
	if (!(pool->hdr.features & NVH_FEAT_GROWS) || pool->view) {
		rc = why_not(why, whylen, "the pool has a fixed size of %"
			     PRIu64 " bytes (nvheap grow POOL SIZE makes it "
			     "bigger; a growth policy makes it grow by "
			     "itself)", pool->hdr.pool_size);
		goto out;
	}
	const struct nvh_pool_hdr *ph = &pool->hdr;
	uint64_t cap = ph->max_size ? ph->max_size : NVH_MAX_POOL_SIZE;
	const char *capped = ph->max_size ? "its maximum size" : "the largest "
					    "pool size";
	if (cap > pool->resv) {
		cap = pool->resv;
		capped = "the address space reserved at open (reopen it to "
			 "grow further)";
	}
	uint64_t start = next_start(pool);
	uint64_t step = ph->grow_step ? ph->grow_step
		      : ph->pool_size / 4 > STEP_MIN ? ph->pool_size / 4
		      : STEP_MIN;
	uint64_t n = arenas_in(step);
	if (n < need)
		n = need;
	uint64_t room = cap > start ? arenas_in(cap - start) : 0;
	if (n > room)
		n = room;
	if (n < need || n == 0) {
		rc = why_not(why, whylen, "the pool is at %s (%" PRIu64 " of %"
			     PRIu64 " bytes), no room for %" PRIu64 " more "
			     "arena%s", capped, ph->pool_size, cap,
			     need ? need : 1, need > 1 ? "s" : "");
		goto out;
	}
	/* until the file system is full: a step it has no room for is
	 * halved down to what is needed */
	while ((rc = add_segment(pool, n, 0, 0)) == -ENOSPC && n > need &&
	       n > 1)
		n = n / 2 > need ? n / 2 : need;
	if (rc == -ENOMEM)
		snprintf(why, whylen, "%s", nvh_errormsg());
	else if (rc)
		nvh_err_prefix("growing the pool from %" PRIu64 " bytes: ",
			       ph->pool_size);
out:
	pthread_mutex_unlock(&pool->grow_lock);
	return rc;
}

NVH_API int
nvh_pool_grow(nvh_pool *pool, uint64_t size)
{
	if (!pool)
		return nvh_err(EINVAL, "nvh_pool_grow: NULL pool");
	int rc = nvh_pool_usable(pool, "nvh_pool_grow");
	if (rc)
		return rc;
	if (pool->rdonly || pool->view)
		return nvh_err(EROFS, "nvh_pool_grow: %s: pool is open read-only",
			       pool->path);
	if (atomic_load(&pool->failed))
		return nvh_err(EIO, "nvh_pool_grow: %s: an earlier write to the "
			       "medium failed: nothing more is written",
			       pool->path);
	size -= size % NVH_POOL_ALIGN;
	if (size > NVH_MAX_POOL_SIZE)
		return nvh_err(EINVAL, "nvh_pool_grow: %s: %" PRIu64 " bytes is above "
			       "the largest pool (%" PRIu64 ")", pool->path,
			       size, (uint64_t)NVH_MAX_POOL_SIZE);
	pthread_mutex_lock(&pool->grow_lock);
	rc = 0;
	uint64_t start = next_start(pool);
	if (size > pool->hdr.pool_size) {
		uint64_t n = size > start ? arenas_in(size - start) : 0;
		struct nvh_seg one;
		nvh_seg_layout(&one, start, 0, 1);
		if (n == 0)
			rc = nvh_err(EINVAL, "nvh_pool_grow: %s: %" PRIu64 " bytes "
				     "has no room for one more arena: the "
				     "pool grows to at least %" PRIu64 " bytes",
				     pool->path, size, one.end);
		else
			rc = add_segment(pool, n, size,
					 pool->hdr.max_size &&
							 size > pool->hdr.max_size
						 ? size : 0);
		if (rc && n)
			nvh_err_prefix("nvh_pool_grow: %s: ", pool->path);
	}
	pthread_mutex_unlock(&pool->grow_lock);
	return rc;
}

int
nvh_heap_set_policy(struct nvh_pool *pool, uint64_t max, uint64_t step)
{
	struct nvh_pool_hdr *h = &pool->hdr;
	if (!max && !step)
		return 0;
	if (max == NVH_GROW_OFF) {
		h->features &= ~(uint64_t)NVH_FEAT_GROWS;
		h->max_size = h->grow_step = 0;
		return 0;
	}
	if (!max && !(h->features & NVH_FEAT_GROWS))
		return nvh_err(EINVAL, "grow_step %" PRIu64 " given for a pool "
			       "that does not grow (set max_size too)", step);
	if (max && max != NVH_GROW_UNLIMITED) {
		max -= max % NVH_POOL_ALIGN;
		if (max < h->pool_size || max > NVH_MAX_POOL_SIZE)
			return nvh_err(EINVAL, "max_size %" PRIu64 " is outside "
				       "[the pool's size %" PRIu64 ", %" PRIu64
				       "]", max, h->pool_size,
				       (uint64_t)NVH_MAX_POOL_SIZE);
	}
	if (step > NVH_MAX_POOL_SIZE)
		return nvh_err(EINVAL, "grow_step %" PRIu64 " is above the "
			       "largest pool (%" PRIu64 ")", step,
			       (uint64_t)NVH_MAX_POOL_SIZE);
	if (!(h->features & NVH_FEAT_SEGMENTS)) {
		/* segments follow the first one's arenas exactly */
		h->heap_size = pool->heap->seg[0].end - h->heap_offset;
		h->features |= NVH_FEAT_SEGMENTS;
	}
	h->features |= NVH_FEAT_GROWS;
	if (max)
		h->max_size = max == NVH_GROW_UNLIMITED ? 0 : max;
	if (step)
		h->grow_step = (step + NVH_POOL_ALIGN - 1) &
			       ~(uint64_t)(NVH_POOL_ALIGN - 1);
	return 0;
}
