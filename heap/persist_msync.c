/*
 * persist_msync.c -- the backend for ordinary files (page cache).
 *
 * A flush only records the page range it covers in the calling thread's
 * block; the fence sorts and merges the recorded ranges and msyncs each
 * merged range once (MS_SYNC).  A transaction touching a log page and two
 * data pages therefore costs one fence with at most three msync calls, not
 * one msync per flush.  If a thread's table of ranges fills up, it is
 * merged in place; if still full, the two closest ranges are joined (a
 * larger msync is always correct: syncing a page early is no different
 * from the kernel writing it back on its own).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap/error.h"
#include "heap/persist.h"

#define PAGE 4096u

static int
range_cmp(const void *a, const void *b)
{
	const uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* Sort by start and merge overlapping or touching ranges. */
static void
merge(struct nvh_persist_thread *t)
{
	if (t->ndirty < 2)
		return;
	qsort(t->dirty, t->ndirty, sizeof(t->dirty[0]), range_cmp);
	unsigned out = 0;
	for (unsigned i = 1; i < t->ndirty; i++) {
		if (t->dirty[i].start <= t->dirty[out].end) {
			if (t->dirty[i].end > t->dirty[out].end)
				t->dirty[out].end = t->dirty[i].end;
		} else {
			t->dirty[++out] = t->dirty[i];
		}
	}
	t->ndirty = out + 1;
}

/* Table full even after merging: join the pair with the smallest gap. */
static void
coarsen(struct nvh_persist_thread *t)
{
	unsigned best = 0;
	uintptr_t gap = UINTPTR_MAX;
	for (unsigned i = 0; i + 1 < t->ndirty; i++) {
		uintptr_t g = t->dirty[i + 1].start - t->dirty[i].end;
		if (g < gap) {
			gap = g;
			best = i;
		}
	}
	t->dirty[best].end = t->dirty[best + 1].end;
	memmove(&t->dirty[best + 1], &t->dirty[best + 2],
		(t->ndirty - best - 2) * sizeof(t->dirty[0]));
	t->ndirty--;
}

static void
msync_flush(struct nvh_persist *p, struct nvh_persist_thread *t,
	    const void *addr, size_t len)
{
	uintptr_t s = (uintptr_t)addr & ~(uintptr_t)(PAGE - 1);
	uintptr_t e = ((uintptr_t)addr + len + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
	if (t == &p->fallback) {
		/* No per-thread block (out of memory): a shared table would
		 * race, so sync at once; correct, only slower. */
		nvh_persist_count(&t->msyncs, 1);
		if (msync((void *)s, e - s, MS_SYNC) != 0)
			t->fallback_error = errno;
		return;
	}
	if (t->ndirty) {
		/* Common case: the same or the next page as the last flush. */
		struct nvh_page_range *last = &t->dirty[t->ndirty - 1];
		if (s <= last->end && e >= last->start) {
			if (s < last->start)
				last->start = s;
			if (e > last->end)
				last->end = e;
			return;
		}
	}
	if (t->ndirty == NVH_DIRTY_MAX) {
		merge(t);
		if (t->ndirty == NVH_DIRTY_MAX)
			coarsen(t);
	}
	t->dirty[t->ndirty].start = s;
	t->dirty[t->ndirty].end = e;
	t->ndirty++;
}

static int
msync_fence(struct nvh_persist *p, struct nvh_persist_thread *t)
{
	int rc = 0;
	if (t == &p->fallback && t->fallback_error)
		rc = nvh_err(EIO, "msync of pool pages failed: %s",
			     strerror(t->fallback_error));
	merge(t);
	for (unsigned i = 0; i < t->ndirty; i++) {
		void *a = (void *)t->dirty[i].start;
		size_t n = t->dirty[i].end - t->dirty[i].start;
		nvh_persist_count(&t->msyncs, 1);
		/* MS_SYNC: the pages this thread flushed are on the device
		 * when msync returns. */
		if (msync(a, n, MS_SYNC) != 0 && rc == 0)
			rc = nvh_err(errno == ENOMEM ? EINVAL : EIO,
				     "msync of pool bytes [%zu, %zu) failed: %s",
				     (size_t)((char *)a - p->base),
				     (size_t)((char *)a - p->base) + n,
				     strerror(errno));
	}
	t->ndirty = 0;
	return rc;
}

static void
msync_memcpy(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	     const void *src, size_t len)
{
	memcpy(dst, src, len);
	msync_flush(p, t, dst, len);
}

static void
msync_memset(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	     int c, size_t len)
{
	memset(dst, c, len);
	msync_flush(p, t, dst, len);
}

const struct nvh_persist_backend nvh_persist_msync = {
	.name = "msync",
	.kind = NVH_PERSIST_MSYNC,
	.flush = msync_flush,
	.fence = msync_fence,
	.memcpy_nodrain = msync_memcpy,
	.memset_nodrain = msync_memset,
};
