/*
 * nvheap/malloc.h -- a malloc/free family for persistent memory whose fast
 * path issues no flush or fence (Makalu, Ralloc): the allocator's state
 * lives in DRAM while the pool is open, a clean close writes it, and after
 * a crash the next open collects garbage: it keeps exactly the blocks
 * reachable from the root slot and the pool's other objects, and frees
 * the rest.  docs/malloc.md has the design and its rules.
 *
 * Making a block reachable is the caller's job, as with any persistent
 * data: write its contents, persist them (nvh_persist), store its oid
 * (nvh_oid_of) in a persistent place that is already reachable (the root
 * slot, an object, another nvh_malloc block), and persist that store.
 * A block not yet linked when the process dies is freed by the
 * collection; one linked is kept, whatever nvh_mfree said in DRAM (unlink
 * and persist before nvh_mfree, as with Makalu).
 *
 * What the collection follows:
 *   - the root slot, and every 8-byte word of untyped objects (nvh_alloc)
 *     and of nvh_malloc blocks: conservatively, a word equal to the oid
 *     of a block's start keeps that block (an integer that happens to
 *     equal one keeps it too: false retention, never a lost block).
 *     Only block starts count: an oid or pointer into the middle of a
 *     block does not keep it.
 *   - the pointer fields of typed objects (their registered types):
 *     precisely, and nothing else in them.
 *   A raw address (void *) stored in the pool keeps nothing: store oids.
 *
 * Blocks are 16-byte aligned, from 16 B to 16 KiB in 36 size classes
 * served from per-thread caches; larger ones are ordinary objects
 * allocated and freed atomically (one persist barrier each), collected
 * the same way.  None of these calls is part of a transaction: an abort
 * does not undo them.  Errors: NULL (or a negative errno) with
 * nvh_errormsg() saying why: EINVAL (not a block of this pool, a double
 * free, an interior pointer), EROFS, ENOMEM (the pool is full and cannot
 * grow), EBUSY (another thread is closing the pool).
 */
#ifndef NVHEAP_MALLOC_H
#define NVHEAP_MALLOC_H

#include <stddef.h>

#include <nvheap/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* `size` bytes (size 0: the smallest block), uninitialised. */
NVH_API void *nvh_malloc(nvh_pool *pool, size_t size);
/* n * size bytes, zeroed in the cache (persist them before linking). */
NVH_API void *nvh_calloc(nvh_pool *pool, size_t n, size_t size);
/* As realloc(3): NULL p allocates; size 0 frees and returns NULL; on
 * failure NULL and p is unchanged. */
NVH_API void *nvh_realloc(nvh_pool *pool, void *p, size_t size);
/* Free a block of nvh_malloc (NULL: no-op).  0 or a negative errno. */
NVH_API int nvh_mfree(nvh_pool *pool, void *p);
/* The bytes the block may hold (0 if p is not an allocated block). */
NVH_API size_t nvh_malloc_usable_size(nvh_pool *pool, const void *p);

/* What a collection found (nvh_gc, and an unclean open's). */
struct nvh_gc_report {
	uint64_t roots;          /* objects scanned as roots */
	uint64_t marked;         /* nvh_malloc blocks reachable */
	uint64_t marked_bytes;
	uint64_t freed;          /* blocks allocated but unreachable, freed */
	uint64_t freed_bytes;
	uint64_t words_scanned;
	uint64_t rescans;        /* work list overflows (each: a rescan) */
	double seconds;
};

/*
 * Collect now: free every nvh_malloc block that is not reachable, and
 * empty every thread's cache.  For a pool no other thread is using
 * (-EBUSY if one is in a call; blocks another thread holds only in
 * volatile memory would be freed under it).  `rep` may be NULL.
 */
NVH_API int nvh_gc(nvh_pool *pool, struct nvh_gc_report *rep);
/* The report of the collection this open ran (all zero: none ran). */
NVH_API void nvh_gc_last(nvh_pool *pool, struct nvh_gc_report *rep);

#ifdef __cplusplus
}
#endif

#endif
