/*
 * nvheap/persist.h -- making your own stores durable, and counting it.
 *
 * Everything nvheap flushes goes through one per-pool persistence backend
 * (see docs/persistence.md).  Code that stores directly into pool memory
 * outside a transaction uses these calls, never libpmem or msync directly,
 * so the right mechanism is used and counted.
 */
#ifndef NVHEAP_PERSIST_H
#define NVHEAP_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include <nvheap/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * All of these fail with -EINVAL if the range is not inside the pool's
 * mapping, -EROFS on a pool opened read-only, and the fence (drain) with
 * -EIO if the backend could not make the data durable.
 */

/* Start writing back [addr, addr+len) (no ordering guarantee yet). */
NVH_API int nvh_flush(nvh_pool *pool, const void *addr, size_t len);
/* Wait until everything flushed before is durable. */
NVH_API int nvh_drain(nvh_pool *pool);
/* nvh_flush + nvh_drain. */
NVH_API int nvh_persist(nvh_pool *pool, const void *addr, size_t len);
NVH_API int nvh_memcpy_persist(nvh_pool *pool, void *dst, const void *src,
			       size_t len);
NVH_API int nvh_memset_persist(nvh_pool *pool, void *dst, int c, size_t len);

/*
 * Counters of one pool since it was opened (or last reset).  A persist
 * barrier is a fence that had at least one flush pending before it: the
 * figure that dominates cost on real persistent memory.
 */
struct nvh_persist_stats {
	uint64_t flushes;       /* flush requests */
	uint64_t fences;        /* fence requests */
	uint64_t barriers;      /* fences with a flush pending */
	uint64_t lines_flushed; /* 64-byte cache lines covered by flushes */
	uint64_t msyncs;        /* msync(2) calls (msync backend) */
};

NVH_API int nvh_persist_stats(const nvh_pool *pool,
			      struct nvh_persist_stats *out);
NVH_API void nvh_persist_stats_reset(nvh_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
