/*
 * persist_none.c -- the backend of a read-only view recovered in memory.
 *
 * A read-only open (NVH_OPEN_RDONLY) of a pool that was not closed cleanly
 * maps the file privately (copy-on-write) and runs the ordinary recovery
 * in that mapping (docs/recovery.md, "Read-only opens").  Recovery's
 * stores change only this process's copy of the pages they touch; none of
 * them may reach the file, and none has to be durable: the view lives as
 * long as the pool is open.  So flushes and fences do nothing (the seam
 * still counts them).  nvh_open chooses this backend for such views only;
 * neither the pool option nor NVHEAP_PERSIST can select it.
 */
#include <string.h>

#include "heap/persist.h"

static void
none_flush(struct nvh_persist *p, struct nvh_persist_thread *t,
	   const void *addr, size_t len)
{
	/* Private view: there is no medium to write the lines back to. */
	(void)p, (void)t, (void)addr, (void)len;
}

static int
none_fence(struct nvh_persist *p, struct nvh_persist_thread *t)
{
	/* Establishes nothing: no store of a private view is ever durable,
	 * and the one thread recovering it needs no ordering but program
	 * order. */
	(void)p, (void)t;
	return 0;
}

static void
none_memcpy(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	    const void *src, size_t len)
{
	(void)p, (void)t;
	memcpy(dst, src, len);
}

static void
none_memset(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	    int c, size_t len)
{
	(void)p, (void)t;
	memset(dst, c, len);
}

const struct nvh_persist_backend nvh_persist_none = {
	.name = "none",
	.kind = NVH_PERSIST_NONE,
	.flush = none_flush,
	.fence = none_fence,
	.memcpy_nodrain = none_memcpy,
	.memset_nodrain = none_memset,
};
