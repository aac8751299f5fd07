/*
 * gc.c -- the collection that recovers nvh_malloc's blocks after a crash
 * (Makalu, Ralloc), nvh_gc, and the mark nvh_check uses.
 *
 * Mark: the roots are the root slot and every object of the logged
 * allocator (durable by their own records): untyped ones are scanned
 * conservatively (every aligned word), typed ones precisely (their
 * strong pointer fields); nvheap's own objects hold no user data.  A
 * word that is an oid of this pool naming the start of an nvh_malloc
 * block marks the block, whose words are then scanned conservatively in
 * turn.  The work list is bounded (GC_STACK entries): when it is full, a
 * marked block is left unscanned and a rescan pass afterwards scans every
 * marked block again until a pass overflows no more.  DRAM: one mark bit
 * per malloc block, the sorted list of large malloc objects, the list.
 *
 * Sweep: each malloc arena's live bits become the marks (DRAM only: the
 * medium's bitmaps are written by the next clean close); a large malloc
 * object not marked is freed by an atomic record.  Nothing else is
 * written, so a crash during a collection leaves the pool as it was and
 * the next open collects again (restartable).  docs/malloc.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nvheap/malloc.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/malloc.h"
#include "heap/pool.h"
#include "heap/log/lane.h"
#include "objects/gc.h"
#include "objects/obj.h"

#define GC_STACK (1u << 16) /* entries: 512 KiB */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
collect_big(void *arg, uint64_t off, uint64_t size, uint32_t type)
{
	struct nvh_gc *g = arg;
	if (type != NVH_TYPEID_MALLOC)
		return 0;
	if (g->nbig == g->capbig) {
		size_t cap = g->capbig ? 2 * g->capbig : 64;
		uint64_t *o = realloc(g->big, cap * sizeof(*o));
		if (!o)
			return -1;
		g->big = o;
		uint64_t *s = realloc(g->bigsize, cap * sizeof(*s));
		if (!s)
			return -1;
		g->bigsize = s;
		g->capbig = cap;
	}
	g->big[g->nbig] = off;
	g->bigsize[g->nbig++] = size;
	return 0;
}

static int64_t
find_big(const struct nvh_gc *g, uint64_t off)
{
	size_t lo = 0, hi = g->nbig;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (g->big[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < g->nbig && g->big[lo] == off ? (int64_t)lo : -1;
}

static void
push(struct nvh_gc *g, uint64_t e)
{
	if (g->n == g->cap) {
		g->overflow = 1; /* marked, scanned by the rescan */
		return;
	}
	g->stack[g->n++] = e;
}

/* A word found somewhere reachable. */
static inline void
consider(struct nvh_gc *g, uint64_t v)
{
	if ((v & ~NVH_OID_OFF_MASK) != g->tag)
		return; /* (0 too: the tag is never 0) */
	uint64_t off = v & NVH_OID_OFF_MASK, a, in, b;
	if (off >= g->size || nvh_arena_at(g->h, off, &a, &in) ||
	    a >= g->narenas)
		return;
	const struct nvh_arena_rt *r = &g->h->arena[a];
	if (r->kind == NVH_K_MALLOC) {
		if (!g->mk[a] || nvh_mblock_at(g->h, a, off, &b))
			return;
		uint64_t bit = 1ull << (b % 64);
		if (g->mk[a][b / 64] & bit)
			return;
		g->mk[a][b / 64] |= bit;
		g->rep.marked++;
		g->rep.marked_bytes += nvh_mclasses[r->cls].size;
		push(g, off);
		return;
	}
	if (!g->nbig)
		return;
	int64_t i = find_big(g, off);
	if (i < 0 || g->bigmark[i])
		return;
	g->bigmark[i] = 1;
	g->rep.marked++;
	g->rep.marked_bytes += g->bigsize[i];
	push(g, (uint64_t)i << 4 | 1);
}

static void
scan(struct nvh_gc *g, uint64_t off, uint64_t len)
{
	const uint64_t *w = (const uint64_t *)(g->pool->base + off);
	uint64_t n = len / 8;
	g->rep.words_scanned += n;
	for (uint64_t i = 0; i < n; i++)
		consider(g, w[i]);
}

static void
scan_entry(struct nvh_gc *g, uint64_t e)
{
	if (e & 1) {
		size_t i = (size_t)(e >> 4);
		scan(g, g->big[i], g->bigsize[i]);
		return;
	}
	uint64_t a = 0, in;
	if (nvh_arena_at(g->h, e, &a, &in) == 0) /* (it was found so) */
		scan(g, e, nvh_mclasses[g->h->arena[a].cls].size);
}

static void
drain(struct nvh_gc *g)
{
	while (g->n)
		scan_entry(g, g->stack[--g->n]);
}

static int
root(void *arg, uint64_t off, uint64_t size, uint32_t type)
{
	struct nvh_gc *g = arg;
	if (type == NVH_TYPEID_MALLOC)
		return 0; /* not a root: kept only if marked */
	if (type < NVH_TYPEID_USER_MAX) {
		g->rep.roots++;
		scan(g, off, size);
	} else if (type >= NVH_TYPE_TABLE_BASE) {
		const struct nvh_rtype *rt = nvh_type_fit(g->pool, type, size);
		g->rep.roots++;
		if (!rt) {
			scan(g, off, size); /* unknown type: conservatively */
		} else {
			const char *base = g->pool->base;
			for (uint32_t i = 0; i < rt->nfields; i++) {
				const struct nvh_rfield *f = &rt->fields[i];
				if (f->flags & NVH_FIELD_WEAK)
					continue; /* keeps nothing alive */
				for (uint32_t j = 0; j < f->count; j++) {
					uint64_t v;
					memcpy(&v, base + off + f->offset +
						       8ull * j, 8);
					consider(g, v);
				}
				g->rep.words_scanned += f->count;
			}
		}
	}
	drain(g);
	return 0;
}

void
nvh_gc_fini(struct nvh_gc *g)
{
	free(g->mk);
	free(g->mkbits);
	free(g->stack);
	free(g->big);
	free(g->bigsize);
	free(g->bigmark);
	memset(g, 0, sizeof(*g));
}

int
nvh_gc_mark(struct nvh_pool *pool, struct nvh_gc *g)
{
	struct nvh_heap *h = pool->heap;
	double t0 = now();
	memset(g, 0, sizeof(*g));
	g->pool = pool;
	g->h = h;
	g->tag = pool->oid_tag;
	g->size = nvh_pool_size(pool);
	g->narenas = nvh_heap_narenas(h);
	size_t words = 0;
	for (uint64_t a = 0; a < g->narenas; a++)
		if (h->arena[a].kind == NVH_K_MALLOC)
			words += nvh_mclasses[h->arena[a].cls].nwords;
	g->mk = calloc(g->narenas ? g->narenas : 1, sizeof(*g->mk));
	g->mkbits = calloc(words ? words : 1, 8);
	/* (tests make the list short, to exercise its overflow) */
	const char *e = getenv("NVHEAP_TEST_GC_STACK");
	g->cap = e && strtoul(e, NULL, 10) ? strtoul(e, NULL, 10) : GC_STACK;
	if (g->cap > GC_STACK)
		g->cap = GC_STACK;
	g->stack = malloc(g->cap * sizeof(*g->stack));
	if (!g->mk || !g->mkbits || !g->stack)
		goto nomem;
	for (uint64_t a = 0, at = 0; a < g->narenas; a++)
		if (h->arena[a].kind == NVH_K_MALLOC) {
			g->mk[a] = g->mkbits + at;
			at += nvh_mclasses[h->arena[a].cls].nwords;
		}
	if (nvh_heap_foreach(pool, collect_big, g))
		goto nomem;
	if (g->nbig && !(g->bigmark = calloc(g->nbig, 1)))
		goto nomem;
	const uint64_t *slots = (const void *)(pool->base + h->hdr.root_off);
	consider(g, slots[0]);
	drain(g);
	if (nvh_heap_foreach(pool, root, g))
		goto nomem;
	while (g->overflow) {
		/* Every marked block again: the ones the full list dropped are
		 * among them, and their children not marked yet are pushed. */
		g->overflow = 0;
		g->rep.rescans++;
		for (uint64_t a = 0; a < g->narenas; a++) {
			if (!g->mk[a])
				continue;
			const struct nvh_mclass *m = &nvh_mclasses[h->arena[a].cls];
			for (uint32_t w = 0; w < m->nwords; w++)
				for (uint64_t v = g->mk[a][w]; v; v &= v - 1) {
					uint64_t b = 64ull * w +
						     (uint64_t)__builtin_ctzll(v);
					scan(g, h->arena[a].off + m->blocks_off +
						     b * m->size, m->size);
					drain(g);
				}
		}
		for (size_t i = 0; i < g->nbig; i++)
			if (g->bigmark[i]) {
				scan(g, g->big[i], g->bigsize[i]);
				drain(g);
			}
	}
	g->rep.seconds = now() - t0;
	return 0;
nomem:
	nvh_gc_fini(g);
	return nvh_err(ENOMEM, "out of memory for the collection's marks");
}

int
nvh_gc_is_marked(const struct nvh_gc *g, uint64_t off)
{
	uint64_t a, in, b;
	if (off >= g->size || nvh_arena_at(g->h, off, &a, &in) ||
	    a >= g->narenas)
		return 0;
	if (g->mk[a])
		return !nvh_mblock_at(g->h, a, off, &b) &&
		       ((g->mk[a][b / 64] >> (b % 64)) & 1);
	int64_t i = find_big(g, off);
	return i >= 0 && g->bigmark[i];
}

/* Sweep: the marks become the allocator's state (DRAM). */
static void
sweep(struct nvh_pool *pool, struct nvh_gc *g)
{
	struct nvh_heap *h = pool->heap;
	for (uint64_t a = 0; a < g->narenas; a++) {
		if (!g->mk[a])
			continue;
		struct nvh_arena_rt *r = &h->arena[a];
		const struct nvh_mclass *m = &nvh_mclasses[r->cls];
		for (uint32_t w = 0; w < m->nwords; w++) {
			uint64_t old = atomic_load(&r->live[w]);
			uint64_t v = g->mk[a][w];
			g->rep.freed += (uint64_t)__builtin_popcountll(old & ~v);
			g->rep.freed_bytes += m->size *
				(uint64_t)__builtin_popcountll(old & ~v);
			atomic_store(&r->live[w], v);
		}
	}
	nvh_malloc_rebuilt(h);
}

/* Unmarked large malloc objects are freed, each by an atomic record
 * (read-only: they stay, unreachable). */
static int
free_big(struct nvh_pool *pool, struct nvh_gc *g)
{
	struct nvh_heap *h = pool->heap;
	if (pool->rdonly)
		return 0;
	struct nvh_tctx *t = nvh_tctx_get(h);
	if (!t && g->nbig)
		return nvh_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < g->nbig; i++) {
		if (g->bigmark[i])
			continue;
		struct nvh_blk k;
		int rc = nvh_blk_claim(pool, g->big[i], &k);
		if (!rc)
			rc = nvh_heap_free(pool, t, &k, NULL, 0);
		if (rc) {
			nvh_err_prefix("freeing the unreachable block at %" PRIu64
				       ": ", g->big[i]);
			return rc;
		}
		g->rep.freed++;
		g->rep.freed_bytes += g->bigsize[i];
	}
	return 0;
}

int
nvh_gc_run(struct nvh_pool *pool, struct nvh_gc_report *rep)
{
	struct nvh_gc g;
	double t0 = now();
	int rc = nvh_gc_mark(pool, &g);
	if (rc)
		return rc;
	sweep(pool, &g);
	rc = free_big(pool, &g);
	g.rep.seconds = now() - t0;
	if (rep)
		*rep = g.rep;
	if (pool->objects)
		pool->objects->gc_last = g.rep;
	nvh_gc_fini(&g);
	return rc;
}

/* ---- nvh_gc: no other thread in a call meanwhile ---- */

/* What nvh_pool_quiesce took, given back: the first `got` lanes
 * reopened, reg_lock (have_reg), the heap (quiet), grow_lock. */
static void
unquiesce(nvh_pool *pool, unsigned got, int have_reg, int quiet)
{
	struct nvh_lane *lane = pool->lanes->lane;
	if (quiet)
		nvh_heap_unquiesce(pool->heap);
	if (have_reg)
		pthread_mutex_unlock(&pool->objects->reg_lock);
	while (got) {
		struct nvh_lane *l = &lane[--got];
		pthread_mutex_lock(&l->lock);
		l->closing = 0;
		nvh_lane_release(pool, l); /* wakes any waiter */
	}
	pthread_mutex_unlock(&pool->grow_lock);
}

/*
 * Every way into the pool shut, for nvh_gc and nvh_close (objects/
 * open.c, the layer above).  Every lane is passed with trylock and
 * marked closing (taken by nobody after): an operation in progress on
 * another thread holds a lane from its start to its end (transactions
 * with the drain they start, pins; a type registration or root creation
 * holds reg_lock until it has its lane), or is marked busy in its
 * thread's context (an atomic allocation or free, or an nvh_malloc call,
 * which take a lane only to commit if at all), so it is seen here and
 * refused, never closed or collected under.  (Marks, not held locks:
 * ThreadSanitizer tracks at most 64 locks held by one thread.)  A growth
 * holds grow_lock from its start to its end (it writes the mapping, the
 * heap's state and the header): refused like the
 * rest, and held to the end so that none starts.  0 with grow_lock,
 * reg_lock (if there are objects) and every lane's closing mark held;
 * or -EBUSY (the error set, naming fn, with `tail`), nothing held.
 */
int
nvh_pool_quiesce(nvh_pool *pool, const char *fn, const char *tail)
{
	if (pthread_mutex_trylock(&pool->grow_lock) != 0)
		return nvh_err(EBUSY, "%s: %s: another thread is growing the "
			       "pool%s", fn, pool->path, tail);
	struct nvh_lane *lane = pool->lanes->lane;
	unsigned got = 0;
	/* An atomic allocation or free holds no lane until its commit: its
	 * thread's context says it is in one (nvh_heap_quiesce). */
	int quiet = nvh_heap_quiesce(pool->heap) == 0;
	int have_reg = quiet && pool->objects &&
		       pthread_mutex_trylock(&pool->objects->reg_lock) == 0;
	int busy = !quiet || (pool->objects && !have_reg);
	for (; !busy && got < pool->lanes->n; got++) {
		if (pthread_mutex_trylock(&lane[got].lock) != 0) {
			busy = 1;
			break;
		}
		lane[got].closing = 1;
		pthread_mutex_unlock(&lane[got].lock);
	}
	/* every lane closing: no release still reads their state, and
	 * nobody waits for one */
	if (!busy && nvh_lanes_quiesce(pool))
		busy = 1;
	if (!busy)
		return 0;
	unquiesce(pool, got, have_reg, quiet);
	return nvh_err(EBUSY, "%s: %s: another thread is still in a "
		       "transaction, allocation, pin or type registration on "
		       "this pool%s", fn, pool->path, tail);
}

void
nvh_pool_unquiesce(nvh_pool *pool)
{
	unquiesce(pool, pool->lanes->n, pool->objects != NULL, 1);
}

NVH_API int
nvh_gc(nvh_pool *pool, struct nvh_gc_report *rep)
{
	if (rep)
		memset(rep, 0, sizeof(*rep));
	if (!pool)
		return nvh_err(EINVAL, "nvh_gc: NULL pool");
	if (nvh_pool_usable(pool, "nvh_gc"))
		return -errno;
	if (pool->rdonly)
		return nvh_err(EROFS, "nvh_gc: %s: pool is open read-only",
			       pool->path);
	if (nvh_tx_current(pool))
		return nvh_err(EBUSY, "nvh_gc: %s: this thread's transaction is "
			       "open", pool->path);
	/* as nvh_close: no other thread in a call (a transaction mid-way
	 * could be linking a block the mark would miss) */
	if (nvh_pool_quiesce(pool, "nvh_gc", ""))
		return -EBUSY;
	/* No thread is in a call: their caches hold free blocks the sweep
	 * recomputes (used = live), so they are emptied. */
	nvh_mcache_clear_all(pool->heap);
	struct nvh_gc g;
	double t0 = now();
	int rc = nvh_gc_mark(pool, &g);
	if (!rc)
		sweep(pool, &g);
	nvh_pool_unquiesce(pool);
	if (rc) {
		nvh_err_prefix("nvh_gc: %s: ", pool->path);
		return rc;
	}
	/* Unreachable when marked, so no thread can reach them since (but
	 * through volatile memory: the caller's rule); their frees need a
	 * lane, so they come after the lanes are given back. */
	rc = free_big(pool, &g);
	g.rep.seconds = now() - t0;
	if (rep)
		*rep = g.rep;
	pool->objects->gc_last = g.rep;
	nvh_gc_fini(&g);
	if (rc)
		nvh_err_prefix("nvh_gc: %s: ", pool->path);
	return rc;
}

NVH_API void
nvh_gc_last(nvh_pool *pool, struct nvh_gc_report *rep)
{
	if (!rep)
		return;
	memset(rep, 0, sizeof(*rep));
	if (pool && pool->objects && !nvh_pool_usable(pool, "nvh_gc_last"))
		*rep = pool->objects->gc_last;
}
