/*
 * pool_persist.c -- what an open pool says about itself (nvh_pool_info)
 * and the user-facing persistence calls (nvh_flush, nvh_persist, ...),
 * through the pool's persistence backend.  Opening and closing a pool is
 * the top layer's (objects/open.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "heap/error.h"
#include "heap/pool.h"

NVH_API int
nvh_pool_info(const nvh_pool *pool, struct nvh_pool_info *info)
{
	if (!pool || !info)
		return nvh_err(EINVAL, "nvh_pool_info: NULL argument");
	if (pool->gen == 0) /* (a fork child may read it) */
		return nvh_pool_refuse(pool, "nvh_pool_info");
	memset(info, 0, sizeof(*info));
	/* (a growth changes hdr under this lock) */
	pthread_mutex_lock((pthread_mutex_t *)&pool->grow_lock);
	snprintf(info->path, sizeof(info->path), "%s", pool->path);
	snprintf(info->layout, sizeof(info->layout), "%s", pool->hdr.layout);
	memcpy(info->uuid, pool->hdr.uuid, sizeof(info->uuid));
	nvh_uuid_str(pool->hdr.uuid, info->uuid_str);
	info->format_version = pool->hdr.format_version;
	info->pool_size = pool->hdr.pool_size;
	info->heap_offset = pool->hdr.heap_offset;
	info->heap_size = pool->hdr.heap_size;
	info->create_time = pool->hdr.create_time;
	info->run_generation = pool->hdr.run_generation;
	info->was_clean = pool->was_clean;
	info->rdonly = pool->rdonly;
	info->recovered_view = pool->view;
	info->recovered_records = pool->recovered_records;
	info->persist = pool->persist_kind;
	info->persist_name = nvh_persist_name(pool->persist_kind);
	info->persist_reason = pool->persist_reason;
	info->is_pmem = pool->is_pmem;
	info->grows = (pool->hdr.features & NVH_FEAT_GROWS) != 0;
	info->max_size = pool->hdr.max_size;
	info->grow_step = pool->hdr.grow_step;
	info->segments = __atomic_load_n(&pool->segments, __ATOMIC_RELAXED);
	info->reserved_size = pool->resv;
	for (int i = 0; i < 2; i++) {
		info->hdr_ok[i] = pool->hdr_ok[i];
		snprintf(info->hdr_problem[i], sizeof(info->hdr_problem[i]),
			 "%s", pool->hdr_problem[i]);
	}
	pthread_mutex_unlock((pthread_mutex_t *)&pool->grow_lock);
	return 0;
}

/* ---- user-facing persistence calls ---- */

static int
user_range(nvh_pool *pool, const void *addr, size_t len, const char *fn)
{
	if (!pool)
		return nvh_err(EINVAL, "%s: NULL pool", fn);
	int rc = nvh_pool_usable(pool, fn);
	if (rc)
		return rc;
	if (pool->rdonly)
		return nvh_err(EROFS, "%s: %s: pool is open read-only", fn,
			       pool->path);
	const char *a = addr;
	size_t size = nvh_pool_size(pool);
	if (a < pool->base || (size_t)(a - pool->base) > size ||
	    len > size - (size_t)(a - pool->base))
		return nvh_err(EINVAL, "%s: %s: range %p+%zu is outside the "
			       "pool mapping %p+%zu", fn, pool->path, addr, len,
			       (void *)pool->base, size);
	return 0;
}

NVH_API int
nvh_flush(nvh_pool *pool, const void *addr, size_t len)
{
	int rc = user_range(pool, addr, len, "nvh_flush");
	if (rc)
		return rc;
	/* the caller's range written back; durable at its nvh_drain */
	nvh_persist_flush(&pool->persist, addr, len);
	return 0;
}

NVH_API int
nvh_drain(nvh_pool *pool)
{
	if (!pool)
		return nvh_err(EINVAL, "nvh_drain: NULL pool");
	int rc = nvh_pool_usable(pool, "nvh_drain");
	if (rc)
		return rc;
	if (pool->rdonly)
		return nvh_err(EROFS, "nvh_drain: %s: pool is open read-only",
			       pool->path);
	/* everything the caller flushed is durable when this returns */
	return nvh_persist_fence(&pool->persist);
}

NVH_API int
nvh_persist(nvh_pool *pool, const void *addr, size_t len)
{
	int rc = user_range(pool, addr, len, "nvh_persist");
	if (rc)
		return rc;
	/* the caller's range is durable when this returns */
	return nvh_persist_range(&pool->persist, addr, len);
}

NVH_API int
nvh_memcpy_persist(nvh_pool *pool, void *dst, const void *src, size_t len)
{
	int rc = user_range(pool, dst, len, "nvh_memcpy_persist");
	if (rc)
		return rc;
	if (!src && len)
		return nvh_err(EINVAL, "nvh_memcpy_persist: NULL source");
	/* the copy is durable when this returns */
	return nvh_persist_memcpy(&pool->persist, dst, src, len);
}

NVH_API int
nvh_memset_persist(nvh_pool *pool, void *dst, int c, size_t len)
{
	int rc = user_range(pool, dst, len, "nvh_memset_persist");
	if (rc)
		return rc;
	/* the bytes set are durable when this returns */
	return nvh_persist_memset(&pool->persist, dst, c, len);
}

NVH_API int
nvh_persist_stats(const nvh_pool *pool, struct nvh_persist_stats *out)
{
	if (!pool || !out)
		return nvh_err(EINVAL, "nvh_persist_stats: NULL argument");
	if (pool->gen == 0)
		return nvh_pool_refuse(pool, "nvh_persist_stats");
	nvh_persist_get_stats((struct nvh_persist *)&pool->persist, out);
	return 0;
}

NVH_API void
nvh_persist_stats_reset(nvh_pool *pool)
{
	if (pool && pool->gen != 0)
		nvh_persist_reset_stats(&pool->persist);
}
