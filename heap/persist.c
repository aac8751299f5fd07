/*
 * persist.c -- the persistence seam's dispatcher: backend selection, the
 * per-thread blocks, and counting.
 *
 * Counting happens here, once, for every backend: a flush request counts
 * one flush and the cache lines it covers and marks the calling thread's
 * block "pending"; a fence counts one fence, and one persist barrier if a
 * flush was pending.  Backends only implement the mechanism.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpmem.h>

#include "heap/error.h"
#include "heap/persist.h"

static _Atomic uint64_t next_instance_id = 1;

/* Last (pool, block) pair this thread used: the fast path is one compare. */
static _Thread_local struct {
	uint64_t id;
	struct nvh_persist_thread *t;
} cached;

const char *
nvh_persist_name(enum nvh_persist_kind kind)
{
	switch (kind) {
	case NVH_PERSIST_AUTO: return "auto";
	case NVH_PERSIST_PMEM: return "pmem";
	case NVH_PERSIST_MSYNC: return "msync";
	case NVH_PERSIST_EADR: return "eadr";
	case NVH_PERSIST_SIM: return "sim";
	case NVH_PERSIST_NONE: return "none";
	}
	return "unknown";
}

static const struct nvh_persist_backend *
backend_of(enum nvh_persist_kind kind)
{
	switch (kind) {
	case NVH_PERSIST_PMEM: return &nvh_persist_pmem;
	case NVH_PERSIST_MSYNC: return &nvh_persist_msync;
	case NVH_PERSIST_EADR: return &nvh_persist_eadr;
	case NVH_PERSIST_SIM: return &nvh_persist_sim;
	case NVH_PERSIST_NONE: return &nvh_persist_none;
	default: return NULL;
	}
}

int
nvh_persist_choose(enum nvh_persist_kind opt, int is_pmem,
		   enum nvh_persist_kind *out, const char **why)
{
	if (opt == NVH_PERSIST_NONE)
		return nvh_err(EINVAL, "persistence backend none cannot be "
			       "chosen: it is the backend of read-only views "
			       "recovered in memory (NVH_OPEN_RDONLY)");
	if (opt != NVH_PERSIST_AUTO) {
		if (!backend_of(opt))
			return nvh_err(EINVAL, "persistence backend %d (%s) is "
				       "not available", (int)opt,
				       nvh_persist_name(opt));
		*out = opt;
		*why = "chosen by the pool option";
		return 0;
	}
	const char *env = getenv("NVHEAP_PERSIST");
	if (env && *env && strcmp(env, "auto") != 0) {
		static const enum nvh_persist_kind kinds[] = {
			NVH_PERSIST_PMEM, NVH_PERSIST_MSYNC, NVH_PERSIST_EADR,
			NVH_PERSIST_SIM};
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			if (strcmp(env, nvh_persist_name(kinds[i])) == 0) {
				*out = kinds[i];
				*why = "chosen by NVHEAP_PERSIST";
				return 0;
			}
		}
		return nvh_err(EINVAL, "NVHEAP_PERSIST=\"%s\": unknown backend "
			       "(expected pmem, msync, eadr, sim or auto)", env);
	}
	if (is_pmem && pmem_has_auto_flush() == 1) {
		*out = NVH_PERSIST_EADR;
		*why = "auto: mapping is pmem and CPU caches are persistent";
	} else if (is_pmem) {
		*out = NVH_PERSIST_PMEM;
		*why = "auto: mapping is pmem";
	} else {
		*out = NVH_PERSIST_MSYNC;
		*why = "auto: mapping is not pmem";
	}
	return 0;
}

int
nvh_persist_init(struct nvh_persist *p, enum nvh_persist_kind kind,
		 void *base, size_t size, struct nvh_sim *sim)
{
	memset(p, 0, sizeof(*p));
	p->be = backend_of(kind);
	if (!p->be)
		return nvh_err(EINVAL, "persistence backend %s is not available",
			       nvh_persist_name(kind));
	p->base = base;
	p->size = size;
	p->id = atomic_fetch_add(&next_instance_id, 1);
	pthread_mutex_init(&p->lock, NULL);
	if (p->be->init) {
		int rc = p->be->init(p, sim);
		if (rc) {
			pthread_mutex_destroy(&p->lock);
			return rc;
		}
	}
	return 0;
}

int
nvh_persist_grow(struct nvh_persist *p, size_t size)
{
	if (p->be->grow) {
		int rc = p->be->grow(p, size);
		if (rc)
			return rc;
	}
	__atomic_store_n(&p->size, size, __ATOMIC_RELEASE);
	return 0;
}

void
nvh_persist_fini(struct nvh_persist *p)
{
	if (!p->be)
		return;
	if (p->be->fini)
		p->be->fini(p);
	struct nvh_persist_thread *t = p->threads;
	while (t) {
		struct nvh_persist_thread *next = t->next;
		free(t);
		t = next;
	}
	p->threads = NULL;
	pthread_mutex_destroy(&p->lock);
	p->be = NULL;
}

static struct nvh_persist_thread *
thread_block_slow(struct nvh_persist *p)
{
	pid_t tid = gettid();
	struct nvh_persist_thread *t;
	pthread_mutex_lock(&p->lock);
	for (t = p->threads; t; t = t->next)
		if (t->tid == tid)
			break;
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (t) {
			t->tid = tid;
			t->next = p->threads;
			p->threads = t;
		} else {
			/* Counting becomes approximate; persistence does not. */
			t = &p->fallback;
		}
	}
	pthread_mutex_unlock(&p->lock);
	cached.id = p->id;
	cached.t = t;
	return t;
}

static inline struct nvh_persist_thread *
thread_block(struct nvh_persist *p)
{
	if (__builtin_expect(cached.id == p->id, 1))
		return cached.t;
	return thread_block_slow(p);
}

static inline void
check_range(const struct nvh_persist *p, const void *addr, size_t len)
{
	(void)p, (void)addr, (void)len;
	assert((const char *)addr >= p->base &&
	       (size_t)((const char *)addr - p->base) <=
		       __atomic_load_n(&p->size, __ATOMIC_RELAXED) &&
	       len <= __atomic_load_n(&p->size, __ATOMIC_RELAXED) -
			      (size_t)((const char *)addr - p->base));
}

/* Count one flush request of [addr, addr+len) and mark it pending. */
static inline struct nvh_persist_thread *
count_flush(struct nvh_persist *p, const void *addr, size_t len)
{
	check_range(p, addr, len);
	struct nvh_persist_thread *t = thread_block(p);
	nvh_persist_count(&t->flushes, 1);
	nvh_persist_count(&t->lines, nvh_lines_covered(addr, len));
	t->pending++;
	return t;
}

void
nvh_persist_flush(struct nvh_persist *p, const void *addr, size_t len)
{
	if (len == 0)
		return;
	struct nvh_persist_thread *t = count_flush(p, addr, len);
	p->be->flush(p, t, addr, len);
}

int
nvh_persist_fence(struct nvh_persist *p)
{
	struct nvh_persist_thread *t = thread_block(p);
	nvh_persist_count(&t->fences, 1);
	if (t->pending) {
		nvh_persist_count(&t->barriers, 1);
		t->pending = 0;
	}
	return p->be->fence(p, t);
}

int
nvh_persist_range(struct nvh_persist *p, const void *addr, size_t len)
{
	nvh_persist_flush(p, addr, len);
	return nvh_persist_fence(p);
}

void
nvh_persist_memcpy_nodrain(struct nvh_persist *p, void *dst, const void *src,
			   size_t len)
{
	if (len == 0)
		return;
	struct nvh_persist_thread *t = count_flush(p, dst, len);
	p->be->memcpy_nodrain(p, t, dst, src, len);
}

void
nvh_persist_stream_nodrain(struct nvh_persist *p, void *dst, const void *src,
			   size_t len)
{
	if (len == 0)
		return;
	struct nvh_persist_thread *t = count_flush(p, dst, len);
	if (p->be->stream_nodrain)
		p->be->stream_nodrain(p, t, dst, src, len);
	else
		p->be->memcpy_nodrain(p, t, dst, src, len);
}

int
nvh_persist_memcpy(struct nvh_persist *p, void *dst, const void *src,
		   size_t len)
{
	nvh_persist_memcpy_nodrain(p, dst, src, len);
	return nvh_persist_fence(p);
}

void
nvh_persist_memset_nodrain(struct nvh_persist *p, void *dst, int c, size_t len)
{
	if (len == 0)
		return;
	struct nvh_persist_thread *t = count_flush(p, dst, len);
	p->be->memset_nodrain(p, t, dst, c, len);
}

int
nvh_persist_memset(struct nvh_persist *p, void *dst, int c, size_t len)
{
	nvh_persist_memset_nodrain(p, dst, c, len);
	return nvh_persist_fence(p);
}

int
nvh_persist_volatile(struct nvh_persist *p, const void *addr, size_t len)
{
	check_range(p, addr, len);
	if (p->nvolatile == NVH_VOLATILE_MAX)
		return nvh_err(ENOSPC, "more than %u volatile ranges",
			       NVH_VOLATILE_MAX);
	p->volatiles[p->nvolatile].off = (uint64_t)((const char *)addr - p->base);
	p->volatiles[p->nvolatile].len = len;
	p->nvolatile++;
	return 0;
}

void
nvh_persist_durable_at(struct nvh_persist *p, uint64_t off, uint64_t len,
		       const char *where)
{
	if (p->be->durable_point)
		p->be->durable_point(p, off, len, where);
}

static void
add_thread(struct nvh_persist_stats *s, struct nvh_persist_thread *t)
{
	s->flushes += atomic_load_explicit(&t->flushes, memory_order_relaxed);
	s->fences += atomic_load_explicit(&t->fences, memory_order_relaxed);
	s->barriers += atomic_load_explicit(&t->barriers, memory_order_relaxed);
	s->lines_flushed += atomic_load_explicit(&t->lines, memory_order_relaxed);
	s->msyncs += atomic_load_explicit(&t->msyncs, memory_order_relaxed);
}

void
nvh_persist_get_stats(struct nvh_persist *p, struct nvh_persist_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	for (struct nvh_persist_thread *t = p->threads; t; t = t->next)
		add_thread(out, t);
	add_thread(out, &p->fallback);
	pthread_mutex_unlock(&p->lock);
}

static void
zero_thread(struct nvh_persist_thread *t)
{
	atomic_store_explicit(&t->flushes, 0, memory_order_relaxed);
	atomic_store_explicit(&t->fences, 0, memory_order_relaxed);
	atomic_store_explicit(&t->barriers, 0, memory_order_relaxed);
	atomic_store_explicit(&t->lines, 0, memory_order_relaxed);
	atomic_store_explicit(&t->msyncs, 0, memory_order_relaxed);
}

/* Racy against threads counting at the same moment: a reset is meant for
 * quiescent points (between benchmark phases). */
void
nvh_persist_reset_stats(struct nvh_persist *p)
{
	pthread_mutex_lock(&p->lock);
	for (struct nvh_persist_thread *t = p->threads; t; t = t->next)
		zero_thread(t);
	zero_thread(&p->fallback);
	pthread_mutex_unlock(&p->lock);
}
