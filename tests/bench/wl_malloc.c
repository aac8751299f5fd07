/*
 * wl_malloc.c -- nvh_malloc/nvh_mfree (issue 18) on the classic allocator
 * benchmarks, next to libpmemobj's pmemobj_alloc/pmemobj_free (each oid
 * into a persistent slot array, as PMDK users do) and glibc's
 * malloc/free, in the same rounds.  nvh_malloc's and glibc's pointers are
 * kept in DRAM arrays: what is timed is the allocator alone (a user of
 * nvh_malloc who links a block also persists the link: not counted here).
 * An operation is one allocation and its free.
 *
 *   malloc-threadtest[-2t]  Hoard's threadtest: each thread allocates
 *                           TT_BATCH 64-byte blocks, then frees them all,
 *                           round after round
 *   malloc-shbench[-2t]     MicroQuill's shbench: random sizes 1..1000
 *                           bytes, half freed at once, half kept in a
 *                           SH_KEEP-slot array and freed when a later
 *                           block takes their slot
 *   malloc-larson[-2t]      Larson's server simulation as larson.cpp
 *                           runs it: each thread replaces the block in
 *                           a random slot of its array (16..512 bytes)
 *                           and writes the new block's first two bytes;
 *                           after LA_LIFE operations (larson.cpp's
 *                           thread lifetime, chunks per thread x
 *                           rounds) it starts a new thread, which takes
 *                           its array on, and exits; so blocks are
 *                           freed by another thread than the one that
 *                           allocated them, one that has just started
 *   malloc-larson-swap[-2t] harsher than Larson: every LA_EPOCH
 *                           operations a running thread swaps its array
 *                           for the one in a shared mailbox (another
 *                           running thread's last), so a quarter of the
 *                           frees are of blocks the other core wrote
 *                           last, and no thread ever waits for another
 *                           (a barrier here measured the scheduler, not
 *                           the allocators)
 *   malloc-gc               the collection after a crash: a child builds
 *                           GC blocks (default 10,000,000; the
 *                           NVHEAP_BENCH_GC_BLOCKS environment variable)
 *                           of 80 bytes, reachable from the root slot,
 *                           and exits without nvh_close; each measured
 *                           operation is an nvh_open, in a child of its
 *                           own that exits without closing (so every
 *                           round collects the same crash), which prints
 *                           nvh_gc_last's report
 *
 * The nvheap side also prints (stderr) its persist barriers per
 * operation by nvh_persist_stats, over every round since the set-up.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpmemobj.h>
#include <nvheap.h>

#include "bench.h"

#define TT_BATCH 10000u /* threadtest: blocks a thread holds at once */
#define TT_SIZE 64u
#define SH_KEEP 1000u   /* shbench: the longer-lived blocks */
#define SH_MAX 1000u
#define LA_SLOTS 1000u  /* larson: slots per array */
#define LA_MIN 16u
#define LA_MAX 512u
#define LA_LIFE 100000u /* larson: operations in a thread's life (1,000
			 * chunks x 100 rounds; Ralloc's runs use 10,000
			 * rounds, mimalloc-bench's 100 of 5,000) */
#define LA_EPOCH 4096u  /* larson-swap: operations between swaps */
#define MAXT 8u

enum kind { K_NVH, K_PMDK, K_LIBC };
enum wl { W_TT, W_SH, W_LA, W_LS };

/* A thread's own, a cache line of its own (the array is aligned: a
 * thread's rng shared a line with the struct's read-mostly fields, which
 * every other thread loads on every operation). */
struct per {
	uint64_t rng;
	uint64_t done; /* larson-swap: operations so far */
	unsigned arr;  /* larson-swap: the array it works on */
	char pad[44];
};

struct mst {
	enum kind kind;
	enum wl wl;
	unsigned threads;
	size_t per_slots;  /* slots per thread (larson: per array) */
	nvh_pool *pool;
	PMEMobjpool *pop;
	PMEMoid *oids;     /* libpmemobj: in the pool (the root object) */
	void **ptrs;       /* nvheap, glibc: DRAM */
	_Atomic unsigned mailbox; /* larson-swap: the array between owners */
	_Atomic uint64_t ops;
	struct per per[MAXT] __attribute__((aligned(64)));
};

static uint64_t
rnd(uint64_t *x)
{
	/* xorshift64* */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ull;
}

static const char *
wl_name(enum wl w)
{
	return w == W_TT ? "malloc-threadtest" : w == W_SH ? "malloc-shbench"
		 : w == W_LA ? "malloc-larson" : "malloc-larson-swap";
}

/* ---- the three allocators, slot by slot ---- */

static inline __attribute__((always_inline)) int
a_alloc(struct mst *s, enum kind k, size_t i, size_t size)
{
	switch (k) {
	case K_NVH:
		if (!(s->ptrs[i] = nvh_malloc(s->pool, size))) {
			fprintf(stderr, "nvh_malloc: %s\n", nvh_errormsg());
			return -1;
		}
		return 0;
	case K_PMDK:
		if (pmemobj_alloc(s->pop, &s->oids[i], size, 0, NULL, NULL)) {
			fprintf(stderr, "pmemobj_alloc: %s\n",
				pmemobj_errormsg());
			return -1;
		}
		return 0;
	case K_LIBC:
		if (!(s->ptrs[i] = malloc(size))) {
			perror("malloc");
			return -1;
		}
		return 0;
	}
	return -1;
}

static inline __attribute__((always_inline)) int
a_free(struct mst *s, enum kind k, size_t i)
{
	switch (k) {
	case K_NVH:
		if (nvh_mfree(s->pool, s->ptrs[i])) {
			fprintf(stderr, "nvh_mfree: %s\n", nvh_errormsg());
			return -1;
		}
		s->ptrs[i] = NULL;
		return 0;
	case K_PMDK:
		pmemobj_free(&s->oids[i]); /* (OID_NULL: nothing) */
		return 0;
	case K_LIBC:
		free(s->ptrs[i]);
		s->ptrs[i] = NULL;
		return 0;
	}
	return -1;
}

/* What Larson's threads do with a new block: write its first byte, read
 * it back, write its second (plain stores: for libpmemobj too, which
 * would persist them only if the block were to hold them). */
static inline __attribute__((always_inline)) void
touch(struct mst *s, enum kind k, size_t i)
{
	volatile char *c = k == K_PMDK ? pmemobj_direct(s->oids[i])
				       : s->ptrs[i];
	c[0] = 'a';
	(void)c[0];
	c[1] = 'b';
}

/* ---- the workloads ---- */

static inline __attribute__((always_inline)) int
threadtest(struct mst *s, enum kind k, unsigned tid, uint64_t n)
{
	size_t base = (size_t)tid * s->per_slots;
	for (uint64_t done = 0; done < n;) {
		size_t b = n - done < TT_BATCH ? (size_t)(n - done) : TT_BATCH;
		for (size_t i = 0; i < b; i++)
			if (a_alloc(s, k, base + i, TT_SIZE))
				return -1;
		for (size_t i = 0; i < b; i++)
			if (a_free(s, k, base + i))
				return -1;
		done += b;
	}
	return 0;
}

static inline __attribute__((always_inline)) int
shbench(struct mst *s, enum kind k, unsigned tid, uint64_t n)
{
	size_t base = (size_t)tid * s->per_slots;
	size_t now = base + SH_KEEP; /* the short-lived one's slot */
	uint64_t *x = &s->per[tid].rng;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t r = rnd(x);
		size_t size = 1 + (size_t)(r % SH_MAX);
		if ((r >> 32) & 1) {
			if (a_alloc(s, k, now, size) || a_free(s, k, now))
				return -1;
			continue;
		}
		size_t slot = base + (size_t)((r >> 33) % SH_KEEP);
		if (a_free(s, k, slot) || a_alloc(s, k, slot, size))
			return -1;
	}
	/* the thread frees what it kept, as shbench's threads do when they
	 * finish (each round runs new threads: blocks left to the next
	 * round's would be freed by a thread that never allocated them,
	 * which is Larson's pattern, not shbench's) */
	for (size_t i = 0; i < SH_KEEP; i++)
		if (a_free(s, k, base + i))
			return -1;
	return 0;
}

/* One replacement in array arr: Larson's operation. */
static inline __attribute__((always_inline)) int
la_op(struct mst *s, enum kind k, unsigned arr, uint64_t *rng)
{
	uint64_t r = rnd(rng);
	size_t slot = (size_t)arr * s->per_slots + (size_t)(r % LA_SLOTS);
	size_t size = LA_MIN + (size_t)((r >> 32) % (LA_MAX - LA_MIN + 1));
	if (a_free(s, k, slot) || a_alloc(s, k, slot, size))
		return -1;
	touch(s, k, slot);
	return 0;
}

static inline __attribute__((always_inline)) int
la_ops(struct mst *s, enum kind k, unsigned tid, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (la_op(s, k, tid, &s->per[tid].rng))
			return -1;
	return 0;
}

/* Larson's threads on one array, one after another. */
struct chain {
	struct mst *s;
	enum kind k;
	unsigned tid;
	uint64_t left; /* operations still to do (the running thread's) */
	int rc;        /* the last thread's */
};

/* One thread's life: what it needs to be waited for. */
struct life {
	struct chain *c;
	struct life *next; /* its successor's, if it started one */
	pthread_t next_th;
};

/* One life, then, as larson.cpp's exercise_heap ends, the successor
 * started (it takes the array on) before this thread exits. */
static void *
life_main(void *arg)
{
	struct life *l = arg;
	struct chain *c = l->c;
	uint64_t m = c->left < LA_LIFE ? c->left : LA_LIFE;
	int rc = c->k == K_NVH ? la_ops(c->s, K_NVH, c->tid, m)
		 : c->k == K_PMDK ? la_ops(c->s, K_PMDK, c->tid, m)
				  : la_ops(c->s, K_LIBC, c->tid, m);
	c->left -= m;
	if (!rc && c->left) {
		struct life *n = malloc(sizeof(*n));
		int e = n ? 0 : ENOMEM;
		if (n) {
			*n = (struct life){c, NULL, 0};
			e = pthread_create(&l->next_th, NULL, life_main, n);
		}
		if (!e) {
			l->next = n; /* read by the bench's thread after it
				      * joined this one */
			return NULL;
		}
		free(n);
		fprintf(stderr, "pthread_create: %s\n", strerror(e));
		rc = -1;
	}
	c->rc = rc;
	return NULL;
}

/* Array tid through lives of LA_LIFE operations, each a new thread
 * started by the one before; the bench's thread (as larson.cpp's main
 * thread) starts the first and waits for them all. */
static int
larson(struct mst *s, enum kind k, unsigned tid, uint64_t n)
{
	struct chain c = {s, k, tid, n, 0};
	struct life *l = malloc(sizeof(*l));
	if (!l)
		return -1;
	*l = (struct life){&c, NULL, 0};
	pthread_t th;
	int e = pthread_create(&th, NULL, life_main, l);
	if (e) {
		free(l);
		fprintf(stderr, "pthread_create: %s\n", strerror(e));
		return -1;
	}
	for (;;) {
		pthread_join(th, NULL);
		struct life *next = l->next;
		th = l->next_th;
		free(l);
		if (!(l = next))
			break;
	}
	return c.rc;
}

static inline __attribute__((always_inline)) int
larson_swap(struct mst *s, enum kind k, unsigned tid, uint64_t n)
{
	struct per *p = &s->per[tid];
	for (uint64_t i = 0; i < n; i++) {
		if (++p->done % LA_EPOCH == 0) {
			/* hand over: this array to the mailbox, the one there
			 * (another thread's last) to this thread; nobody
			 * waits for anybody */
			p->arr = atomic_exchange(&s->mailbox, p->arr);
		}
		if (la_op(s, k, p->arr, &p->rng))
			return -1;
	}
	return 0;
}

static inline __attribute__((always_inline)) int
run(void *state, enum kind k, unsigned tid, uint64_t n)
{
	struct mst *s = state;
	int rc = s->wl == W_TT ? threadtest(s, k, tid, n)
		 : s->wl == W_SH ? shbench(s, k, tid, n)
		 : s->wl == W_LA ? larson(s, k, tid, n)
				 : larson_swap(s, k, tid, n);
	if (k == K_NVH)
		atomic_fetch_add(&s->ops, n);
	return rc;
}

static int run_nvh(void *s, unsigned t, uint64_t n) { return run(s, K_NVH, t, n); }
static int run_pmdk(void *s, unsigned t, uint64_t n) { return run(s, K_PMDK, t, n); }
static int run_libc(void *s, unsigned t, uint64_t n) { return run(s, K_LIBC, t, n); }

/* ---- set-up and teardown ---- */

static struct mst *
mst_new(enum kind k, enum wl w, unsigned threads)
{
	if (threads > MAXT)
		return NULL;
	struct mst *s = aligned_alloc(64, (sizeof(*s) + 63) / 64 * 64);
	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->kind = k;
	s->wl = w;
	s->threads = threads;
	size_t slots = w == W_TT ? TT_BATCH : w == W_SH ? SH_KEEP + 1
						       : LA_SLOTS;
	/* whole cache lines and one line apart: shbench's slot of the
	 * short-lived block (written every other operation) shared a line
	 * with the next thread's first slots, and no allocator scaled
	 * (glibc 1.0-1.1x at 2 threads, 1.9x without the harness) */
	s->per_slots = (slots + 7) / 8 * 8 + 8;
	for (unsigned t = 0; t < MAXT; t++) {
		s->per[t].rng = 0x9e3779b97f4a7c15ull * (t + 1);
		s->per[t].arr = t;
	}
	s->mailbox = threads; /* larson-swap's spare array */
	return s;
}

static size_t
nslots(const struct mst *s)
{
	/* larson: one array per thread; larson-swap: and the mailbox's */
	return (size_t)(s->threads + (s->wl == W_LS)) * s->per_slots;
}

/* The DRAM slot array, zeroed, on a cache line of its own. */
static void **
slots_new(size_t n)
{
	size_t bytes = (n * sizeof(void *) + 63) / 64 * 64;
	void **p = aligned_alloc(64, bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}

/* Larson starts with every array full (the server's clients connected). */
static int
prefill(struct mst *s)
{
	if (s->wl != W_LA && s->wl != W_LS)
		return 0;
	uint64_t x = 42;
	for (size_t i = 0; i < nslots(s); i++) {
		size_t size = LA_MIN + (size_t)(rnd(&x) % (LA_MAX - LA_MIN + 1));
		int rc = s->kind == K_NVH ? a_alloc(s, K_NVH, i, size)
			 : s->kind == K_PMDK ? a_alloc(s, K_PMDK, i, size)
					     : a_alloc(s, K_LIBC, i, size);
		if (rc)
			return -1;
	}
	return 0;
}

static void *
setup_nvh(enum wl w, const char *path, unsigned threads)
{
	struct mst *s = mst_new(K_NVH, w, threads);
	if (!s)
		return NULL;
	s->ptrs = slots_new(nslots(s));
	s->pool = nvh_create(path, "bench", BENCH_POOL_SIZE, NULL);
	if (!s->ptrs || !s->pool || prefill(s)) {
		fprintf(stderr, "%s: nvheap: %s\n", wl_name(w), nvh_errormsg());
		return NULL;
	}
	nvh_persist_stats_reset(s->pool);
	return s;
}

static void *
setup_pmdk(enum wl w, const char *path, unsigned threads)
{
	struct mst *s = mst_new(K_PMDK, w, threads);
	if (!s)
		return NULL;
	s->pop = pmemobj_create(path, "bench", BENCH_POOL_SIZE, 0600);
	if (!s->pop) {
		fprintf(stderr, "pmemobj_create: %s\n", pmemobj_errormsg());
		free(s);
		return NULL;
	}
	/* (pmemobj_root zeroes it: every slot OID_NULL) */
	s->oids = pmemobj_direct(pmemobj_root(s->pop, nslots(s) *
						      sizeof(PMEMoid)));
	if (!s->oids || prefill(s)) {
		fprintf(stderr, "%s: libpmemobj: %s\n", wl_name(w),
			pmemobj_errormsg());
		return NULL;
	}
	return s;
}

static void *
setup_libc(enum wl w, const char *path, unsigned threads)
{
	(void)path;
	struct mst *s = mst_new(K_LIBC, w, threads);
	if (!s)
		return NULL;
	s->ptrs = slots_new(nslots(s));
	if (!s->ptrs || prefill(s))
		return NULL;
	return s;
}

static void
teardown(void *state)
{
	struct mst *s = state;
	if (s->kind == K_NVH) {
		struct nvh_persist_stats ps;
		uint64_t ops = atomic_load(&s->ops);
		if (!nvh_persist_stats(s->pool, &ps) && ops)
			fprintf(stderr, "  %s%s: nvh_malloc: %" PRIu64 " persist "
				"barriers over %" PRIu64 " operations (%.3g/op; "
				"nvh_persist_stats, every round)\n",
				wl_name(s->wl), s->threads > 1 ? "-2t" : "",
				ps.barriers, ops, (double)ps.barriers /
				(double)ops);
		nvh_close(s->pool);
	} else if (s->kind == K_PMDK) {
		pmemobj_close(s->pop);
	} else {
		for (size_t i = 0; i < nslots(s); i++)
			free(s->ptrs[i]);
	}
	free(s->ptrs);
	free(s);
}

static void *tt_nvh(const char *p, unsigned t) { return setup_nvh(W_TT, p, t); }
static void *tt_pmdk(const char *p, unsigned t) { return setup_pmdk(W_TT, p, t); }
static void *tt_libc(const char *p, unsigned t) { return setup_libc(W_TT, p, t); }
static void *sh_nvh(const char *p, unsigned t) { return setup_nvh(W_SH, p, t); }
static void *sh_pmdk(const char *p, unsigned t) { return setup_pmdk(W_SH, p, t); }
static void *sh_libc(const char *p, unsigned t) { return setup_libc(W_SH, p, t); }
static void *la_nvh(const char *p, unsigned t) { return setup_nvh(W_LA, p, t); }
static void *la_pmdk(const char *p, unsigned t) { return setup_pmdk(W_LA, p, t); }
static void *la_libc(const char *p, unsigned t) { return setup_libc(W_LA, p, t); }
static void *ls_nvh(const char *p, unsigned t) { return setup_nvh(W_LS, p, t); }
static void *ls_pmdk(const char *p, unsigned t) { return setup_pmdk(W_LS, p, t); }
static void *ls_libc(const char *p, unsigned t) { return setup_libc(W_LS, p, t); }

#define SIDES(pre)                                                           \
	.nvh = {.setup = pre##_nvh, .run = run_nvh, .teardown = teardown},   \
	.pmdk = {.setup = pre##_pmdk, .run = run_pmdk, .teardown = teardown},\
	.libc = {.setup = pre##_libc, .run = run_libc, .teardown = teardown},\
	.own_n = 1

const struct bench_workload bench_malloc_threadtest = {
	.name = "malloc-threadtest",
	.what = "threadtest: 10,000 x 64 B allocated, then freed (nvh_malloc)",
	.threads = 1, SIDES(tt),
};

const struct bench_workload bench_malloc_threadtest_2t = {
	.name = "malloc-threadtest-2t", .what = "malloc-threadtest in 2 threads",
	.threads = 2, SIDES(tt), .one_thread = "malloc-threadtest",
};

const struct bench_workload bench_malloc_shbench = {
	.name = "malloc-shbench",
	.what = "shbench: 1..1000 B, freed at once or kept a while (nvh_malloc)",
	.threads = 1, SIDES(sh),
};

const struct bench_workload bench_malloc_shbench_2t = {
	.name = "malloc-shbench-2t", .what = "malloc-shbench in 2 threads",
	.threads = 2, SIDES(sh), .one_thread = "malloc-shbench",
};

const struct bench_workload bench_malloc_larson = {
	.name = "malloc-larson",
	.what = "larson: random slot replaced, 16..512 B, arrays handed to "
		"new threads",
	.threads = 1, SIDES(la),
};

const struct bench_workload bench_malloc_larson_2t = {
	.name = "malloc-larson-2t",
	.what = "malloc-larson in 2 threads (frees of ended threads' blocks)",
	.threads = 2, SIDES(la), .one_thread = "malloc-larson",
};

const struct bench_workload bench_malloc_larson_swap = {
	.name = "malloc-larson-swap",
	.what = "larson, arrays swapped between running threads every 4,096 "
		"operations",
	.threads = 1, SIDES(ls),
};

const struct bench_workload bench_malloc_larson_swap_2t = {
	.name = "malloc-larson-swap-2t",
	.what = "malloc-larson-swap in 2 threads (frees of blocks the other "
		"core wrote)",
	.threads = 2, SIDES(ls), .one_thread = "malloc-larson-swap",
};

/* ---- malloc-gc ---- */

#define GC_LEAF 80u
#define GC_FAN 2048u /* oids in a 16 KiB index block */
#define GC_ROUNDS 64

struct gcs {
	char path[4096];
	uint64_t blocks, expect;
	unsigned n;
	struct nvh_gc_report rep[GC_ROUNDS];
	double open[GC_ROUNDS];
};

/* The child: root slot -> a directory block (nvh_calloc; larger than
 * 16 KiB, a logged one) -> 16 KiB index blocks of GC_FAN oids -> 80-byte
 * leaves.  Everything under a link is durable before the link is. */
static int
gc_build(const char *path, uint64_t blocks)
{
	nvh_pool *p = nvh_open(path, "bench", NULL);
	if (!p)
		return 2;
	uint64_t nidx = (blocks + GC_FAN - 1) / GC_FAN;
	uint64_t *dir = nvh_calloc(p, nidx, 8);
	if (!dir)
		return 3;
	for (uint64_t i = 0, left = blocks; i < nidx; i++) {
		uint64_t *idx = nvh_calloc(p, GC_FAN, 8);
		if (!idx)
			return 3;
		uint64_t k = left < GC_FAN ? left : GC_FAN;
		for (uint64_t j = 0; j < k; j++) {
			uint64_t *leaf = nvh_malloc(p, GC_LEAF);
			if (!leaf)
				return 3;
			for (unsigned w = 0; w < GC_LEAF / 8; w++)
				leaf[w] = i << 32 | j << 8 | w; /* not oids */
			nvh_flush(p, leaf, GC_LEAF);
			idx[j] = nvh_oid_of(p, leaf).off;
		}
		left -= k;
		nvh_flush(p, idx, GC_FAN * 8);
		/* the leaves and their index durable before the link */
		nvh_drain(p);
		dir[i] = nvh_oid_of(p, idx).off;
	}
	nvh_persist(p, dir, nidx * 8);
	nvh_root_slot(p)->off = nvh_oid_of(p, dir).off;
	nvh_persist(p, nvh_root_slot(p), 8);
	fflush(NULL);
	_exit(0); /* a crash: no nvh_close, the bitmaps never written */
}

static void *
gc_setup(const char *path, unsigned threads)
{
	(void)threads;
	struct gcs *s = calloc(1, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	const char *e = getenv("NVHEAP_BENCH_GC_BLOCKS");
	s->blocks = e && strtoull(e, NULL, 10) ? strtoull(e, NULL, 10)
					      : 10000000ull;
	uint64_t nidx = (s->blocks + GC_FAN - 1) / GC_FAN;
	s->expect = s->blocks + nidx + 1;
	/* the leaves (80 B), the index blocks (16 KiB, 15 to an arena), the
	 * directory, the pool's own: about 1 GiB for 10 million */
	uint64_t size = s->blocks * 96 + (64ull << 20);
	nvh_pool *p = nvh_create(path, "bench", size, NULL);
	if (!p || nvh_close(p)) {
		fprintf(stderr, "malloc-gc: %s\n", nvh_errormsg());
		free(s);
		return NULL;
	}
	double t0 = bench_now();
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(gc_build(path, s->blocks));
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st)) {
		fprintf(stderr, "malloc-gc: the child building the pool "
			"failed\n");
		free(s);
		return NULL;
	}
	fprintf(stderr, "  malloc-gc: %" PRIu64 " blocks of %u B (+ %" PRIu64
		" index blocks of 16 KiB) built in a %.1f MiB pool in %.2f s, "
		"then a crash\n", s->blocks, GC_LEAF, nidx,
		(double)size / (1 << 20), bench_now() - t0);
	return s;
}

struct gc_msg {
	double open;
	struct nvh_gc_report rep;
	int ok;
};

static double
gc_measure(void *state)
{
	struct gcs *s = state;
	int fd[2];
	if (pipe(fd))
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct gc_msg m = {0};
		double t0 = bench_now();
		nvh_pool *p = nvh_open(s->path, "bench", NULL);
		m.open = bench_now() - t0;
		if (p) {
			nvh_gc_last(p, &m.rep);
			m.ok = 1;
		} else {
			fprintf(stderr, "malloc-gc: nvh_open: %s\n",
				nvh_errormsg());
		}
		ssize_t w = write(fd[1], &m, sizeof(m));
		/* no close: the next round collects the same crash */
		_exit(w == (ssize_t)sizeof(m) ? 0 : 1);
	}
	close(fd[1]);
	struct gc_msg m;
	ssize_t r = pid < 0 ? -1 : read(fd[0], &m, sizeof(m));
	close(fd[0]);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || r != (ssize_t)sizeof(m) ||
	    !m.ok)
		return -1;
	fprintf(stderr, "  malloc-gc: nvh_open %.3f s; collection %.3f s, "
		"marked %" PRIu64 " (%" PRIu64 " bytes), words scanned %"
		PRIu64 ", roots %" PRIu64 ", freed %" PRIu64 ", rescans %"
		PRIu64 "\n", m.open, m.rep.seconds, m.rep.marked,
		m.rep.marked_bytes, m.rep.words_scanned, m.rep.roots,
		m.rep.freed, m.rep.rescans);
	if (m.rep.marked != s->expect) {
		fprintf(stderr, "malloc-gc: the collection marked %" PRIu64
			" blocks, %" PRIu64 " are reachable\n", m.rep.marked,
			s->expect);
		return -1;
	}
	if (s->n < GC_ROUNDS) {
		s->rep[s->n] = m.rep;
		s->open[s->n++] = m.open;
	}
	return m.open;
}

static void
gc_teardown(void *state)
{
	struct gcs *s = state;
	if (s->n) {
		double sum = 0, best = s->rep[0].seconds, worst = best;
		for (unsigned i = 0; i < s->n; i++) {
			double t = s->rep[i].seconds;
			sum += t;
			best = t < best ? t : best;
			worst = t > worst ? t : worst;
		}
		fprintf(stderr, "  malloc-gc: nvh_gc_last seconds over %u opens: "
			"mean %.3f, min %.3f, max %.3f; %.1f M words/s\n", s->n,
			sum / s->n, best, worst, (double)s->rep[0].words_scanned
			/ (sum / s->n) / 1e6);
	}
	free(s);
}

const struct bench_workload bench_malloc_gc = {
	.name = "malloc-gc",
	.what = "nvh_open collecting 10 M reachable nvh_malloc blocks (~1 GiB) "
		"after a crash",
	.threads = 1,
	.nvh = {.setup = gc_setup, .teardown = gc_teardown,
		.measure = gc_measure},
};
