/*
 * persist_pmem.c -- backends for memory whose durability domain is reached
 * through the CPU caches: `pmem` (flush lines with CLWB/CLFLUSHOPT, order
 * with SFENCE, all through libpmem, which picks the instructions this CPU
 * has) and `eadr` (caches are inside the durability domain: a flush is
 * unnecessary, only the fence remains, to order non-temporal stores).
 */
#include <string.h>

#include <libpmem.h>

#include "heap/persist.h"

static void
pmem_flush_(struct nvh_persist *p, struct nvh_persist_thread *t,
	    const void *addr, size_t len)
{
	(void)p, (void)t;
	pmem_flush(addr, len);
}

static int
pmem_fence_(struct nvh_persist *p, struct nvh_persist_thread *t)
{
	(void)p, (void)t;
	/* SFENCE: every line this thread flushed before is durable after it. */
	pmem_drain();
	return 0;
}

static void
pmem_memcpy_(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	     const void *src, size_t len)
{
	(void)p, (void)t;
	/* libpmem uses non-temporal stores for large copies: no read-for-
	 * ownership, and the lines leave the cache already "flushed". */
	pmem_memcpy_nodrain(dst, src, len);
}

static void
pmem_stream_(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	     const void *src, size_t len)
{
	(void)p, (void)t;
	/* Non-temporal stores: ordered by the next fence like a flush. */
	pmem_memcpy(dst, src, len, PMEM_F_MEM_NONTEMPORAL | PMEM_F_MEM_NODRAIN);
}

static void
pmem_memset_(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	     int c, size_t len)
{
	(void)p, (void)t;
	pmem_memset_nodrain(dst, c, len);
}

const struct nvh_persist_backend nvh_persist_pmem = {
	.name = "pmem",
	.kind = NVH_PERSIST_PMEM,
	.flush = pmem_flush_,
	.fence = pmem_fence_,
	.memcpy_nodrain = pmem_memcpy_,
	.stream_nodrain = pmem_stream_,
	.memset_nodrain = pmem_memset_,
};

static void
eadr_flush(struct nvh_persist *p, struct nvh_persist_thread *t,
	   const void *addr, size_t len)
{
	/* Caches are persistent: a store is durable once globally visible. */
	(void)p, (void)t, (void)addr, (void)len;
}

static void
eadr_memcpy(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	    const void *src, size_t len)
{
	(void)p, (void)t;
	pmem_memcpy(dst, src, len, PMEM_F_MEM_NOFLUSH | PMEM_F_MEM_NODRAIN);
}

static void
eadr_memset(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	    int c, size_t len)
{
	(void)p, (void)t;
	pmem_memset(dst, c, len, PMEM_F_MEM_NOFLUSH | PMEM_F_MEM_NODRAIN);
}

const struct nvh_persist_backend nvh_persist_eadr = {
	.name = "eadr",
	.kind = NVH_PERSIST_EADR,
	.flush = eadr_flush,
	.fence = pmem_fence_, /* orders this thread's earlier stores, NT ones included */
	.memcpy_nodrain = eadr_memcpy,
	.memset_nodrain = eadr_memset,
};
