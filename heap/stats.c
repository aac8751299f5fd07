/*
 * stats.c -- nvh_stats: occupancy per class, arenas, persistence counters.
 *
 * Counts come from the DRAM bitmaps where an arena has been scanned and
 * from the medium's bitmap otherwise (without scanning it), so asking for
 * statistics does not build DRAM state for a whole big pool.
 *
 * free_bytes is what allocations can get (include/nvheap/alloc.h): a small
 * arena with no block allocated or reserved counts as a whole arena, since
 * an allocation that needs it takes it back (nvh_arenas_reclaim); one that
 * is small only in DRAM (its table entry still FREE) is counted a free
 * arena, as a reopen would.  So a pool whose objects were all freed reads
 * what it read empty, and a pool reads what its reopen reads.
 */
#include <errno.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "heap/log/lane.h"

NVH_API int
nvh_stats(nvh_pool *pool, struct nvh_stats *st)
{
	if (!pool || !st)
		return nvh_err(EINVAL, "nvh_stats: NULL argument");
	if (!pool->heap) /* a closed handle */
		return nvh_pool_refuse(pool, "nvh_stats");
	struct nvh_heap *h = pool->heap;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&pool->grow_lock); /* (growth changes hdr) */
	st->pool_size = pool->hdr.pool_size;
	pthread_mutex_unlock(&pool->grow_lock);
	st->arena_size = NVH_ARENA_SIZE;
	st->arenas = nvh_heap_narenas(h);
	st->nclasses = h->ncls;
	st->nlanes = h->hdr.nlanes;
	st->max_small = h->cls[h->ncls - 1].block_size;
	st->recovered_records = pool->recovered_records;
	st->checkpoints = atomic_load(&pool->lanes->checkpoints);
	for (unsigned c = 0; c < h->ncls; c++) {
		st->cls[c].block_size = h->cls[c].block_size;
		st->cls[c].blocks_per_arena = h->cls[c].nblocks;
	}
	for (uint64_t a = 0; a < st->arenas; a++) {
		struct nvh_arena_rt *r = &h->arena[a];
		switch (r->kind) {
		case NVH_K_FREE:
			st->arenas_free++;
			st->free_bytes += NVH_ARENA_SIZE;
			break;
		case NVH_K_CONT:
			st->arenas_large++;
			break;
		case NVH_K_LARGE:
			st->arenas_large++;
			if (atomic_load(&r->large_live)) {
				st->large_objects++;
				st->large_bytes += (uint64_t)r->run * NVH_ARENA_SIZE;
			}
			break;
		case NVH_K_SMALL: {
			const struct nvh_class_ent *ce = &h->cls[r->cls];
			uint64_t live = 0, nfree;
			/* scanned: DRAM counts (nfree also excludes blocks
			 * reserved by operations in flight) */
			int scanned = __atomic_load_n(&r->used,
						      __ATOMIC_ACQUIRE) != NULL;
			const uint64_t *bm = (const void *)(pool->base +
							   nvh_bitmap_off(h, a));
			for (uint32_t w = 0; w < h->crt[r->cls].nwords; w++)
				live += (uint64_t)__builtin_popcountll(
					scanned ? atomic_load(&r->live[w]) : bm[w]);
			nfree = scanned ? (uint64_t)atomic_load(&r->nfree)
					: ce->nblocks - live;
			if (nfree == ce->nblocks && r->assign_pending) {
				st->arenas_free++; /* FREE on the medium */
				st->free_bytes += NVH_ARENA_SIZE;
				break;
			}
			st->arenas_small++;
			st->cls[r->cls].arenas++;
			st->cls[r->cls].objects += live;
			st->free_bytes += nfree == ce->nblocks
				? NVH_ARENA_SIZE : nfree * ce->block_size;
			break;
		}
		case NVH_K_MALLOC:
			st->arenas_malloc++;
			break;
		}
	}
	for (unsigned c = 0; c < h->ncls; c++) {
		st->objects += st->cls[c].objects;
		st->allocated_bytes += st->cls[c].objects * st->cls[c].block_size;
	}
	st->objects += st->large_objects;
	st->allocated_bytes += st->large_bytes;
	nvh_malloc_counts(h, &st->malloc_blocks, &st->malloc_bytes);
	nvh_persist_get_stats(&pool->persist, &st->persist);
	return 0;
}
