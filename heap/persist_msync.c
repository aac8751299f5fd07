/*
 * persist_msync.c -- the backend for ordinary files (page cache).
 *
 * A flush only records the page range it covers in the calling thread's
 * block; the fence makes one msync (MS_SYNC) over the span from the first
 * recorded page to the last.  Each msync call costs a device cache flush
 * (on ext4, a journal commit), whatever the number of pages, and finding
 * the dirty pages of a span is cheap (the page cache tags them), so one
 * call over the span beats one per range: a transaction touching a log
 * page and two data pages costs one fence, one msync.  Pages in the span
 * that nobody flushed are written too; syncing a page early is no
 * different from the kernel writing it back on its own.  (Measured on a
 * virtio disk: tx-update-8 went from 3 msyncs to 2 per transaction.)
 *
 * Group commit: threads fencing at once share msyncs.  A fence adds its
 * span to the pool's open batch; if fewer than MSYNC_INFLIGHT msyncs are
 * running, the thread becomes a leader: it takes the batch (the union of
 * the spans of every thread waiting in it) and msyncs it; otherwise it
 * waits, and the batch is taken by the first of its threads to find a
 * free slot.  A fence returns when the msync of its own batch, begun after
 * its span was added, has completed, so the contract holds (what this
 * thread flushed is durable).  Why not one msync at a time: the kernel
 * and the device overlap concurrent syncs (two threads each msyncing
 * their own transactions: 6.9k tx/s; the same two serialized into shared
 * batches: 5.8k, on this machine's virtio disk), so up to two run at
 * once and only threads beyond that wait and share.  One thread pays a
 * lock it never waits for.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap/error.h"
#include "heap/persist.h"

#define PAGE 4096u

#define MSYNC_INFLIGHT 2u /* msyncs running at once, each its own batch */

/* The pool's batches (p->state).  Batches finish out of order (several
 * run at once): every batch up to `done` has finished, and bit i of
 * `fin` says batch done + 1 + i has.  While one msync is slow, others may
 * start and finish after it: no batch is taken more than MSYNC_WINDOW
 * past `done`, so the bits fit. */
#define MSYNC_WINDOW 64u
struct msync_group {
	pthread_mutex_t m;
	pthread_cond_t done_cv;
	uintptr_t start, end; /* the open batch's span (end 0: empty) */
	uint64_t open;        /* number of the batch spans join now */
	uint64_t done;
	uint64_t fin;
	unsigned syncing;     /* leaders in msync */
	uint64_t err_batch;   /* the first batch whose msync failed ... */
	int err;              /* ... and its errno: every batch from it on
			       * fails too (after an I/O error, nothing
			       * synced since is known to be durable) */
};

static int
batch_done(const struct msync_group *g, uint64_t b)
{
	if (b <= g->done)
		return 1;
	/* beyond the bits: not taken yet, so not finished */
	return b - g->done - 1 < 64 && (g->fin >> (b - g->done - 1) & 1);
}

static void
batch_finish(struct msync_group *g, uint64_t b)
{
	g->fin |= 1ull << (b - g->done - 1);
	while (g->fin & 1) {
		g->fin >>= 1;
		g->done++;
	}
}

static int
msync_init(struct nvh_persist *p, struct nvh_sim *sim)
{
	(void)sim;
	struct msync_group *g = calloc(1, sizeof(*g));
	if (!g)
		return nvh_err(ENOMEM, "out of memory");
	pthread_mutex_init(&g->m, NULL);
	pthread_cond_init(&g->done_cv, NULL);
	g->open = 1;
	p->state = g;
	return 0;
}

static void
msync_fini(struct nvh_persist *p)
{
	struct msync_group *g = p->state;
	if (!g)
		return;
	pthread_mutex_destroy(&g->m);
	pthread_cond_destroy(&g->done_cv);
	free(g);
	p->state = NULL;
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
	/* the span from the lowest to the highest page flushed */
	if (!t->ndirty) {
		t->dirty[0].start = s;
		t->dirty[0].end = e;
		t->ndirty = 1;
		return;
	}
	if (s < t->dirty[0].start)
		t->dirty[0].start = s;
	if (e > t->dirty[0].end)
		t->dirty[0].end = e;
}

static int
msync_fence(struct nvh_persist *p, struct nvh_persist_thread *t)
{
	int rc = 0;
	if (t == &p->fallback && t->fallback_error)
		rc = nvh_err(EIO, "msync of pool pages failed: %s",
			     strerror(t->fallback_error));
	if (!t->ndirty)
		return rc;
	struct msync_group *g = p->state;
	pthread_mutex_lock(&g->m);
	/* join the open batch */
	if (!g->end) {
		g->start = t->dirty[0].start;
		g->end = t->dirty[0].end;
	} else {
		if (t->dirty[0].start < g->start)
			g->start = t->dirty[0].start;
		if (t->dirty[0].end > g->end)
			g->end = t->dirty[0].end;
	}
	t->ndirty = 0;
	uint64_t mine = g->open;
	while (!batch_done(g, mine)) {
		if (g->syncing >= MSYNC_INFLIGHT || g->open != mine ||
		    g->open - g->done > MSYNC_WINDOW) {
			/* no free slot, our batch is being synced, or an old
			 * one is still running far behind */
			pthread_cond_wait(&g->done_cv, &g->m);
			continue;
		}
		/* lead: take the open batch (ours), let later arrivals open
		 * the next */
		uint64_t batch = g->open++;
		void *a = (void *)g->start;
		size_t n = g->end - g->start;
		g->start = g->end = 0;
		g->syncing++;
		pthread_mutex_unlock(&g->m);
		nvh_persist_count(&t->msyncs, 1);
		/* MS_SYNC: the pages of every span in the batch are on the
		 * device when msync returns; each thread in it flushed
		 * before joining, so its fence's promise holds. */
		int e = msync(a, n, MS_SYNC) ? errno : 0;
		pthread_mutex_lock(&g->m);
		if (e && !g->err) {
			g->err = e;
			g->err_batch = batch;
		}
		batch_finish(g, batch);
		g->syncing--;
		pthread_cond_broadcast(&g->done_cv);
	}
	int e = g->err && mine >= g->err_batch ? g->err : 0;
	pthread_mutex_unlock(&g->m);
	if (e && rc == 0)
		rc = nvh_err(e == ENOMEM ? EINVAL : EIO, "msync of pool pages "
			     "failed: %s", strerror(e));
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
	.init = msync_init,
	.fini = msync_fini,
	.flush = msync_flush,
	.fence = msync_fence,
	.memcpy_nodrain = msync_memcpy,
	.memset_nodrain = msync_memset,
};
