/*
 * interpose.c -- count what libpmemobj asks libpmem to do.
 *
 * The bench executable defines libpmem's flush, drain and copy functions;
 * because libpmemobj (a shared library) calls them through its PLT, the
 * dynamic linker binds those calls here.  Each wrapper counts and then
 * calls the real function (dlsym RTLD_NEXT).  nvheap's pmem backend calls
 * the same functions, so both libraries are counted by one rule:
 *
 *   flush-like (pmem_flush, pmem_deep_flush, *_nodrain copies): a flush,
 *     lines covered, and "pending" for this thread;
 *   drain-like (pmem_drain, and the end of pmem_persist, pmem_msync and
 *     copies without PMEM_F_MEM_NODRAIN): a fence; a persist barrier if a
 *     flush was pending.
 *
 * Wear: during the counted round every flushed cache line is counted in a
 * table (lock-free, fixed size: lines beyond its capacity are not
 * tracked), from which bench_wear() reports the hottest line and a
 * histogram of flushes per line.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libpmem.h>

#include "bench.h"

/* Exported so libpmemobj's calls bind here (the build hides symbols by
 * default). */
#define EXPORT __attribute__((visibility("default")))

static _Atomic uint64_t n_flush, n_lines, n_fence, n_barrier;
static _Thread_local int pending;
/* libpmem calls its own exported functions through its PLT (pmem_persist
 * calls pmem_flush and pmem_drain), which land here again: only the
 * outermost call counts. */
static _Thread_local int depth;
/* Counting is switched on only for the counted round, so timed rounds
 * pay one load and branch per call, not the counting. */
static _Atomic int counting;

void
bench_count(int on)
{
	atomic_store(&counting, on);
}

static void *
real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (!f) {
		fprintf(stderr, "bench: cannot find libpmem's %s\n", name);
		abort();
	}
	return f;
}

#define REAL(ret, name, args)                                                \
	static ret(*real_##name) args;                                       \
	if (!real_##name)                                                    \
		real_##name = real(#name)

#define LINES_BITS 22 /* 4M lines tracked (64 MiB) */
#define LINES (1u << LINES_BITS)

struct line {
	_Atomic uintptr_t line; /* address >> 6, 0 = empty */
	_Atomic uint64_t n;
};

static struct line *table;
static _Atomic uint64_t untracked;

static void
track(uintptr_t l)
{
	uint64_t h = (uint64_t)l * 0x9e3779b97f4a7c15ull;
	for (uint32_t i = 0, k = (uint32_t)(h >> (64 - LINES_BITS)); i < 64;
	     i++, k = (k + 1) & (LINES - 1)) {
		uintptr_t cur = atomic_load_explicit(&table[k].line,
						     memory_order_relaxed);
		if (cur == 0) {
			uintptr_t zero = 0;
			if (atomic_compare_exchange_strong(&table[k].line, &zero, l))
				cur = l;
			else
				cur = zero;
		}
		if (cur == l) {
			atomic_fetch_add_explicit(&table[k].n, 1,
						  memory_order_relaxed);
			return;
		}
	}
	atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed);
}

static void
count_flush(const void *addr, size_t len)
{
	if (!len || depth || !atomic_load_explicit(&counting, memory_order_relaxed))
		return;
	uintptr_t s = (uintptr_t)addr & ~(uintptr_t)63;
	uintptr_t e = (uintptr_t)addr + len;
	atomic_fetch_add_explicit(&n_flush, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n_lines, (e - s + 63) / 64,
				  memory_order_relaxed);
	if (table)
		for (uintptr_t l = s; l < e; l += 64)
			track(l >> 6);
	pending = 1;
}

void
bench_wear_reset(void)
{
	if (!table)
		table = calloc(LINES, sizeof(*table));
	else
		memset(table, 0, (size_t)LINES * sizeof(*table));
	atomic_store(&untracked, 0);
}

void
bench_wear(const struct bench_range *data, size_t ndata, uint64_t ops,
	   struct bench_wear *w)
{
	memset(w, 0, sizeof(*w));
	for (uint32_t k = 0; table && k < LINES; k++) {
		uintptr_t l = atomic_load(&table[k].line);
		uint64_t n = atomic_load(&table[k].n);
		if (!l)
			continue;
		w->lines++;
		if (n > w->hottest)
			w->hottest = n;
		int is_data = 0;
		for (size_t i = 0; i < ndata; i++)
			is_data |= (l << 6) >= (uintptr_t)data[i].p &&
				   (l << 6) < (uintptr_t)data[i].p + data[i].len;
		if (!is_data && n > w->hottest_meta)
			w->hottest_meta = n;
		/* flushes per 1000 operations, in power-of-two buckets */
		double per_k = ops ? 1000.0 * (double)n / (double)ops : 0;
		int b = 0;
		while (b < BENCH_WEAR_BUCKETS - 1 && per_k >= (double)(2u << b))
			b++;
		w->hist[b]++;
	}
	w->untracked = atomic_load(&untracked);
}

static void
count_fence(void)
{
	if (depth || !atomic_load_explicit(&counting, memory_order_relaxed))
		return;
	atomic_fetch_add_explicit(&n_fence, 1, memory_order_relaxed);
	if (pending)
		atomic_fetch_add_explicit(&n_barrier, 1, memory_order_relaxed);
	pending = 0;
}

void
bench_counters(struct bench_counts *c)
{
	c->flushes = atomic_load(&n_flush);
	c->lines = atomic_load(&n_lines);
	c->fences = atomic_load(&n_fence);
	c->barriers = atomic_load(&n_barrier);
}

EXPORT void
pmem_flush(const void *addr, size_t len)
{
	REAL(void, pmem_flush, (const void *, size_t));
	count_flush(addr, len);
	depth++;
	real_pmem_flush(addr, len);
	depth--;
}

EXPORT void
pmem_deep_flush(const void *addr, size_t len)
{
	REAL(void, pmem_deep_flush, (const void *, size_t));
	count_flush(addr, len);
	depth++;
	real_pmem_deep_flush(addr, len);
	depth--;
}

EXPORT void
pmem_drain(void)
{
	REAL(void, pmem_drain, (void));
	count_fence();
	depth++;
	real_pmem_drain();
	depth--;
}

EXPORT void
pmem_persist(const void *addr, size_t len)
{
	REAL(void, pmem_persist, (const void *, size_t));
	count_flush(addr, len);
	count_fence();
	depth++;
	real_pmem_persist(addr, len);
	depth--;
}

EXPORT int
pmem_msync(const void *addr, size_t len)
{
	REAL(int, pmem_msync, (const void *, size_t));
	count_flush(addr, len);
	count_fence();
	depth++;
	int rc = real_pmem_msync(addr, len);
	depth--;
	return rc;
}

#define COPY(name, srcdecl, srcarg)                                 \
	EXPORT void *name(void *dst, srcdecl, size_t len, unsigned flags)    \
	{                                                                    \
		REAL(void *, name, (void *, srcdecl, size_t, unsigned));     \
		count_flush(dst, len);                                       \
		if (!(flags & PMEM_F_MEM_NODRAIN))                           \
			count_fence();                                       \
		depth++;                                                     \
		void *r_ = real_##name(dst, srcarg, len, flags);             \
		depth--;                                                     \
		return r_;                                                   \
	}

COPY(pmem_memcpy, const void *src, src)
COPY(pmem_memmove, const void *src, src)
COPY(pmem_memset, int c, c)

#define COPY_ND(name, srcdecl, srcarg, drain)                                \
	EXPORT void *name(void *dst, srcdecl, size_t len)                    \
	{                                                                    \
		REAL(void *, name, (void *, srcdecl, size_t));               \
		count_flush(dst, len);                                       \
		if (drain)                                                   \
			count_fence();                                       \
		depth++;                                                     \
		void *r_ = real_##name(dst, srcarg, len);                    \
		depth--;                                                     \
		return r_;                                                   \
	}

COPY_ND(pmem_memcpy_nodrain, const void *src, src, 0)
COPY_ND(pmem_memmove_nodrain, const void *src, src, 0)
COPY_ND(pmem_memset_nodrain, int c, c, 0)
COPY_ND(pmem_memcpy_persist, const void *src, src, 1)
COPY_ND(pmem_memmove_persist, const void *src, src, 1)
COPY_ND(pmem_memset_persist, int c, c, 1)

/* nvheap's msync backend calls msync(2) itself: count it like
 * pmem_msync (a flush of the range and a fence).  libpmem's own msync
 * calls land here too, inside its pmem_msync (depth > 0): not again. */
EXPORT int
msync(void *addr, size_t len, int flags)
{
	REAL(int, msync, (void *, size_t, int));
	count_flush(addr, len);
	count_fence();
	depth++;
	int rc = real_msync(addr, len, flags);
	depth--;
	return rc;
}
