/*
 * persist.h -- the persistence seam: the only way library code makes stores
 * durable.
 *
 * Every flush, fence and persistent copy goes through a pool's struct
 * nvh_persist, which dispatches to one backend (pmem, msync, eadr, sim,
 * none) and counts what it was asked to do.  No file but persist*.c calls
 * libpmem's flush/drain/memcpy functions or msync(2); the `test` alias
 * checks that with nm (tests/check_seam.py).
 *
 * Contract every caller relies on:
 *   flush(a, n)  starts write-back of the cache lines covering [a, a+n);
 *                nothing is promised until the next fence by this thread.
 *   fence()      returns once every range this thread flushed before it is
 *                durable, or returns an error (msync I/O failure) in which
 *                case durability of those ranges is unknown.
 *   persist(a,n) flush + fence.
 * Stores that were never flushed may still become durable at any time
 * (cache eviction); protocols must tolerate that.
 *
 * Per-thread state: counters and the "flush pending" flag live in a block
 * per (pool, thread), written only by its thread, so the fast path takes no
 * lock and shares no cache line between threads.  The msync backend keeps
 * each thread's dirty page ranges there too, so a thread's fence msyncs
 * only what that thread flushed.
 */
#ifndef NVH_HEAP_PERSIST_H
#define NVH_HEAP_PERSIST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nvheap/persist.h>
#include <nvheap/pool.h>

#define NVH_CACHELINE 64u
#define NVH_DIRTY_MAX 32u /* msync: dirty page ranges remembered per thread */

struct nvh_persist;

struct nvh_page_range {
	uintptr_t start, end; /* page-aligned, end exclusive */
};

/* One per (pool, thread).  Invariant: only thread `tid` writes it; other
 * threads only read the counters (relaxed atomics, plain moves on x86). */
struct nvh_persist_thread {
	struct nvh_persist_thread *next;
	pid_t tid;
	uint64_t pending; /* flushes since this thread's last fence */
	_Atomic uint64_t flushes, fences, barriers, lines, msyncs;
	int fallback_error; /* msync: error of an eager msync (fallback block) */
	unsigned ndirty;  /* msync: page-aligned ranges flushed, not yet synced */
	struct nvh_page_range dirty[NVH_DIRTY_MAX];
};

struct nvh_persist_backend {
	const char *name;
	enum nvh_persist_kind kind;
	/* NULL: nothing to set up.  `sim` is the caller's simulator (opts). */
	int (*init)(struct nvh_persist *p, struct nvh_sim *sim);
	void (*fini)(struct nvh_persist *p); /* NULL: nothing to tear down */
	void (*flush)(struct nvh_persist *p, struct nvh_persist_thread *t,
		      const void *addr, size_t len);
	int (*fence)(struct nvh_persist *p, struct nvh_persist_thread *t);
	/* Copy / set, then flush the destination, without fencing. */
	void (*memcpy_nodrain)(struct nvh_persist *p,
			       struct nvh_persist_thread *t, void *dst,
			       const void *src, size_t len);
	/* The same for data written once and not read back soon (log
	 * records): may bypass the cache.  NULL: memcpy_nodrain. */
	void (*stream_nodrain)(struct nvh_persist *p,
			       struct nvh_persist_thread *t, void *dst,
			       const void *src, size_t len);
	void (*memset_nodrain)(struct nvh_persist *p,
			       struct nvh_persist_thread *t, void *dst, int c,
			       size_t len);
	/* NULL: nothing to check.  See nvh_persist_durable: the whole
	 * mapping (len == 0) or [off, off+len). */
	void (*durable_point)(struct nvh_persist *p, uint64_t off, uint64_t len,
			      const char *where);
	/* NULL: nothing to do.  The mapping grew to `size` bytes in place;
	 * the new part's contents are durable (the file was extended and
	 * fsynced).  0 or a negative code (then nothing changed). */
	int (*grow)(struct nvh_persist *p, size_t size);
	/* NULL: nothing to do.  [addr, addr+len) was stored with no flush
	 * and need never be durable (nvh_malloc's free-block marks): a
	 * checker of durable points takes it as durable as it is now. */
	void (*dontcare)(struct nvh_persist *p, void *addr, size_t len);
};

#define NVH_VOLATILE_MAX 16u

struct nvh_persist {
	const struct nvh_persist_backend *be;
	char *base; /* the mapping this instance persists */
	size_t size;
	uint64_t id; /* unique per instance: keys the per-thread cache */
	void *state; /* backend-private */
	pthread_mutex_t lock; /* guards the list of per-thread blocks */
	struct nvh_persist_thread *threads;
	struct nvh_persist_thread fallback; /* if a block cannot be allocated */
	unsigned nvolatile; /* ranges whose contents need not be durable */
	struct { uint64_t off, len; } volatiles[NVH_VOLATILE_MAX];
};

extern const struct nvh_persist_backend nvh_persist_pmem;
extern const struct nvh_persist_backend nvh_persist_eadr;
extern const struct nvh_persist_backend nvh_persist_msync;
extern const struct nvh_persist_backend nvh_persist_sim;
extern const struct nvh_persist_backend nvh_persist_none;

/*
 * Choose the backend: an explicit `opt` wins; else NVHEAP_PERSIST
 * (pmem|msync|eadr|sim|auto); else pmem for persistent-memory mappings (eadr
 * if the platform reports persistent caches) and msync otherwise.  `why`
 * receives a static description of the reason.  Fails with EINVAL on an
 * unknown NVHEAP_PERSIST value.
 */
int nvh_persist_choose(enum nvh_persist_kind opt, int is_pmem,
		       enum nvh_persist_kind *out, const char **why);
const char *nvh_persist_name(enum nvh_persist_kind kind);

int nvh_persist_init(struct nvh_persist *p, enum nvh_persist_kind kind,
		     void *base, size_t size, struct nvh_sim *sim);
void nvh_persist_fini(struct nvh_persist *p);
/* The mapping grew in place to `size` bytes (heap/grow.c, one at a time;
 * other threads may persist meanwhile, in the old part). */
int nvh_persist_grow(struct nvh_persist *p, size_t size);

void nvh_persist_flush(struct nvh_persist *p, const void *addr, size_t len);
int nvh_persist_fence(struct nvh_persist *p);
int nvh_persist_range(struct nvh_persist *p, const void *addr, size_t len);
void nvh_persist_memcpy_nodrain(struct nvh_persist *p, void *dst,
				const void *src, size_t len);
/* Copy log records: written once, read only by recovery.  On pmem this
 * uses non-temporal stores (no read-for-ownership, and the lines do not
 * have to be written back from the cache: 110 ns instead of 170 ns per
 * record and fence, measured here). */
void nvh_persist_stream_nodrain(struct nvh_persist *p, void *dst,
				const void *src, size_t len);
int nvh_persist_memcpy(struct nvh_persist *p, void *dst, const void *src,
		       size_t len);
void nvh_persist_memset_nodrain(struct nvh_persist *p, void *dst, int c,
				size_t len);
int nvh_persist_memset(struct nvh_persist *p, void *dst, int c, size_t len);

/*
 * Declare [addr, addr+len) volatile: DRAM-only contents that live in the
 * mapping (run-time fields), exempt from the missing-flush detector.
 */
int nvh_persist_volatile(struct nvh_persist *p, const void *addr, size_t len);

/*
 * A durable point: the library has just declared an operation durable
 * (create, open, close, commit).  Under the `sim` backend everything
 * outside volatile ranges must now be durable; differences are reported
 * with `where`.  Other backends do nothing.
 */
#define NVH_STR_(x) #x
#define NVH_STR(x) NVH_STR_(x)
#define nvh_persist_durable(p, what)                                        \
	nvh_persist_durable_at((p), 0, 0,                                    \
			       what " (" __FILE__ ":" NVH_STR(__LINE__) ")")
/* Only [addr, addr+len) must be durable (e.g. what a commit covered). */
#define nvh_persist_durable_range(p, addr, len, what)                        \
	nvh_persist_durable_at((p),                                          \
			       (uint64_t)((const char *)(addr) - (p)->base),  \
			       (len),                                        \
			       what " (" __FILE__ ":" NVH_STR(__LINE__) ")")
void nvh_persist_durable_at(struct nvh_persist *p, uint64_t off,
			    uint64_t len, const char *where);

/* Bytes just stored that need never be durable (the backend's dontcare:
 * only the simulator does anything). */
static inline void
nvh_persist_dontcare(struct nvh_persist *p, void *addr, size_t len)
{
	/* (one compare on the fast paths that call it: only the simulator
	 * has the operation) */
	if (__builtin_expect(p->be == &nvh_persist_sim, 0))
		p->be->dontcare(p, addr, len);
}

void nvh_persist_get_stats(struct nvh_persist *p,
			   struct nvh_persist_stats *out);
void nvh_persist_reset_stats(struct nvh_persist *p);

/* For backends: bump a relaxed per-thread counter. */
static inline void
nvh_persist_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t
nvh_lines_covered(const void *addr, size_t len)
{
	if (len == 0)
		return 0;
	uintptr_t s = (uintptr_t)addr & ~(uintptr_t)(NVH_CACHELINE - 1);
	uintptr_t e = (uintptr_t)addr + len;
	return (e - s + NVH_CACHELINE - 1) / NVH_CACHELINE;
}

#endif
