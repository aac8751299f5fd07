/*
 * arena.c -- arenas and blocks in DRAM: rebuilding from the arena table,
 * lazy bitmap scans, class lists, thread ownership, block reservation and
 * release, free arenas and large runs.
 *
 * A thread allocates from the arena it owns for a class (tctx->cur[c]):
 * next-fit from a cursor over the `used` bitmap with one CAS per block, no
 * lock.  Other threads freeing into that arena clear bits atomically.  An
 * owner that finds no free block marks the arena FULL and lets it go; the
 * first free into a FULL arena puts it back on its class list.  Neither
 * side waits for the other; the state CAS decides who acts.
 *
 * Nothing is kept that a reopen would not build: an arena taken from the
 * free pool is a small arena in DRAM only (assign_pending) until an
 * allocation in it commits; when its last reservation goes (a rollback, a
 * refused constructor, a payload released) or its owner lets it go empty,
 * it returns to the free pool at once (give_back).  And an ENOMEM is true:
 * before failing, an allocation takes back every empty small arena, its
 * own, other threads' and those committed as SMALL (nvh_arenas_reclaim).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/membarrier.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "heap/log/lane.h"
#include "heap/log/redo.h"

/* ---- class lists (caller holds the class lock) ---- */

void
nvh_alist_push(struct nvh_heap *h, int32_t *head, uint64_t a)
{
	struct nvh_arena_rt *r = &h->arena[a];
	if (r->in_list)
		return;
	r->prev = -1;
	r->next = *head;
	if (r->next >= 0)
		h->arena[r->next].prev = (int32_t)a;
	*head = (int32_t)a;
	r->in_list = 1;
}

void
nvh_alist_unlink(struct nvh_heap *h, int32_t *head, uint64_t a)
{
	struct nvh_arena_rt *r = &h->arena[a];
	if (!r->in_list)
		return;
	if (r->prev >= 0)
		h->arena[r->prev].next = r->next;
	else
		*head = r->next;
	if (r->next >= 0)
		h->arena[r->next].prev = r->prev;
	r->in_list = 0;
	r->prev = r->next = -1;
}

/* ---- free arenas (caller holds arena_lock) ---- */

static int
is_free(const struct nvh_heap *h, uint64_t a)
{
	return (h->arena_free[a / 64] >> (a % 64)) & 1;
}

static void
set_free(struct nvh_heap *h, uint64_t a, int v)
{
	if (v && !is_free(h, a))
		h->nfree_arenas++;
	else if (!v && is_free(h, a))
		h->nfree_arenas--;
	if (v)
		h->arena_free[a / 64] |= 1ull << (a % 64);
	else
		h->arena_free[a / 64] &= ~(1ull << (a % 64));
}

/* An arena nobody owns or lists (state NONE), with no block allocated or
 * reserved, whose table entry is FREE on the medium (or is being set so by
 * a committed record): free in DRAM too. */
static void
to_free_pool(struct nvh_heap *h, uint64_t a)
{
	struct nvh_arena_rt *r = &h->arena[a];
	pthread_mutex_lock(&h->arena_lock);
	r->kind = NVH_K_FREE;
	atomic_store(&r->assign_pending, 0);
	atomic_store(&r->state, NVH_A_NONE);
	set_free(h, a, 1);
	pthread_mutex_unlock(&h->arena_lock);
}

/* A small arena with no block allocated or reserved. */
static int
is_empty(const struct nvh_heap *h, uint64_t a)
{
	const struct nvh_arena_rt *r = &h->arena[a];
	return atomic_load(&r->nfree) == (int32_t)h->cls[r->cls].nblocks;
}

/* ---- thread contexts ---- */

/*
 * Each thread keeps its contexts (one per open heap it used) in a list
 * of its own.  One process-wide key, never deleted, runs at thread exit
 * (tctx_exit); per-heap keys could not be deleted safely at close (a
 * destructor already running on another thread would free what the
 * close freed, or use the freed heap) and run out at PTHREAD_KEYS_MAX
 * open pools.  tctx_global serialises a thread's exit with a heap's
 * close: the close marks the heap's contexts orphans and forgets them;
 * an orphan is freed by its thread (at exit, or on its next lookup).
 */
static pthread_mutex_t tctx_global = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t tctx_key;
static pthread_once_t tctx_once = PTHREAD_ONCE_INIT;
static int tctx_key_ok;
static __thread struct nvh_tctx *my_tctxs;

static void
tctx_free(struct nvh_tctx *t)
{
	pthread_mutex_destroy(&t->lock);
	free(t->mc);
	free(t);
}

/* A thread exits: the arenas of its contexts go back to their class
 * lists (or, empty and free on the medium, to the free pool).  Unlinked
 * first, so no reclaiming thread (which holds tctx_lock while it looks)
 * still sees them. */
static void
tctx_exit(void *unused)
{
	(void)unused;
	struct nvh_tctx *t;
	while ((t = my_tctxs)) {
		my_tctxs = t->tnext;
		pthread_mutex_lock(&tctx_global); /* the heap stays open */
		if (!atomic_load(&t->orphan)) {
			struct nvh_heap *h = t->heap;
			pthread_mutex_lock(&h->tctx_lock);
			for (struct nvh_tctx **pp = &h->tctxs; *pp;
			     pp = &(*pp)->next)
				if (*pp == t) {
					*pp = t->next;
					break;
				}
			pthread_mutex_unlock(&h->tctx_lock);
			for (unsigned c = 0; c < h->ncls; c++)
				if (t->cur[c] >= 0)
					nvh_arena_drop(h, (uint64_t)t->cur[c]);
			nvh_mcache_drop(h, t);
		}
		pthread_mutex_unlock(&tctx_global);
		tctx_free(t);
	}
}

static void
tctx_key_init(void)
{
	tctx_key_ok = pthread_key_create(&tctx_key, tctx_exit) == 0;
}

struct nvh_tctx *
nvh_tctx_peek(struct nvh_heap *h)
{
	for (struct nvh_tctx **pp = &my_tctxs, *t; (t = *pp);) {
		if (atomic_load_explicit(&t->orphan, memory_order_acquire)) {
			*pp = t->tnext; /* its heap closed: ours alone */
			tctx_free(t);
			continue;
		}
		if (t->heap == h)
			return t;
		pp = &t->tnext;
	}
	return NULL;
}

struct nvh_tctx *
nvh_tctx_get(struct nvh_heap *h)
{
	struct nvh_tctx *t = my_tctxs;
	if (t && t->heap == h && !atomic_load_explicit(&t->orphan,
						       memory_order_acquire))
		return t; /* the common case: one pool */
	if ((t = nvh_tctx_peek(h)))
		return t;
	pthread_once(&tctx_once, tctx_key_init);
	if (!tctx_key_ok || pthread_setspecific(tctx_key, (void *)1) != 0)
		return NULL; /* no exit hook: the arenas would be lost */
	/* a cache line of its own: busy is written by every call */
	t = aligned_alloc(64, (sizeof(*t) + 63) / 64 * 64);
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->heap = h;
	t->lane = ~0u;
	pthread_mutex_init(&t->lock, NULL);
	for (unsigned c = 0; c < NVH_MAX_CLASSES; c++)
		t->cur[c] = -1;
	for (unsigned c = 0; c < NVH_MCLASSES; c++)
		t->mcur[c] = -1;
	pthread_mutex_lock(&h->tctx_lock);
	t->next = h->tctxs;
	h->tctxs = t;
	pthread_mutex_unlock(&h->tctx_lock);
	t->tnext = my_tctxs;
	my_tctxs = t;
	return t;
}

/* ---- rebuild ---- */

static void *
reserve_dram(size_t len)
{
	void *p = mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static size_t
rt_bytes(const struct nvh_heap *h)
{
	return h->max_arenas * sizeof(*h->arena);
}

static size_t
free_bytes(const struct nvh_heap *h)
{
	return (h->max_arenas + 63) / 64 * sizeof(uint64_t);
}

/* The DRAM state of the arenas of segment si, before they are counted
 * (the loads of narenas that find them acquire what is written here). */
static void
arenas_setup(struct nvh_heap *h, uint64_t si)
{
	const struct nvh_seg *sg = &h->seg[si];
	for (uint64_t i = 0; i < sg->n; i++) {
		struct nvh_arena_rt *r = &h->arena[sg->first + i];
		pthread_mutex_init(&r->lock, NULL);
		r->prev = r->next = -1;
		atomic_store(&r->state, NVH_A_NONE);
		r->seg = (uint32_t)si;
		r->off = sg->arenas_off + i * NVH_ARENA_SIZE;
		r->tab = sg->table_off + i * sizeof(struct nvh_arena_ent);
		r->bm = sg->bitmaps_off + i * NVH_BITMAP_SLOT;
	}
}

void
nvh_arenas_add(struct nvh_heap *h, uint64_t si)
{
	const struct nvh_seg *sg = &h->seg[si];
	arenas_setup(h, si);
	/* lookups by offset find the segment from here on, and its arenas
	 * set up; allocations find them once narenas counts them */
	atomic_store_explicit(&h->nsegs, si + 1, memory_order_release);
	pthread_mutex_lock(&h->arena_lock);
	for (uint64_t i = 0; i < sg->n; i++) {
		h->arena[sg->first + i].kind = NVH_K_FREE;
		set_free(h, sg->first + i, 1);
	}
	atomic_store_explicit(&h->narenas, sg->first + sg->n,
			      memory_order_release);
	pthread_mutex_unlock(&h->arena_lock);
}

static void asym_init(void);

int
nvh_arenas_init(struct nvh_heap *h)
{
	uint64_t n = nvh_heap_narenas(h);
	if (h->max_arenas < n)
		h->max_arenas = n;
	h->arena = reserve_dram(rt_bytes(h));
	h->arena_free = reserve_dram(free_bytes(h));
	if (!h->arena || !h->arena_free) {
		if (h->arena)
			munmap(h->arena, rt_bytes(h));
		if (h->arena_free)
			munmap(h->arena_free, free_bytes(h));
		h->arena = NULL; /* nvh_heap_close then has nothing to free */
		h->arena_free = NULL;
		return nvh_err(ENOMEM, "out of memory for %" PRIu64 " arenas", n);
	}
	static pthread_once_t asym_once = PTHREAD_ONCE_INIT;
	pthread_once(&asym_once, asym_init); /* before any enter on h */
	pthread_mutex_init(&h->arena_lock, NULL);
	pthread_mutex_init(&h->tctx_lock, NULL);
	for (unsigned c = 0; c < h->ncls; c++) {
		pthread_mutex_init(&h->crt[c].lock, NULL);
		h->crt[c].head = -1;
		h->crt[c].nwords = (h->cls[c].nblocks + 63) / 64;
	}
	for (unsigned c = 0; c < NVH_MCLASSES; c++) {
		pthread_mutex_init(&h->mcrt[c].lock, NULL);
		h->mcrt[c].head = -1;
		h->mcrt[c].nwords = nvh_mclasses[c].nwords;
	}
	uint64_t nsegs = atomic_load(&h->nsegs);
	for (uint64_t si = 0; si < nsegs; si++)
		arenas_setup(h, si);
	/* Walk backwards so class lists come out in address order. */
	for (uint64_t i = n; i-- > 0;) {
		uint64_t d = nvh_arena_ent(h, i)->desc;
		struct nvh_arena_rt *r = &h->arena[i];
		const struct nvh_seg *sg = &h->seg[r->seg];
		if (NVH_DESC_RESERVED(d))
			goto bad;
		switch (NVH_DESC_KIND(d)) {
		case NVH_ARENA_FREE:
			if (NVH_DESC_CLASS(d) || NVH_DESC_RUN(d))
				goto bad; /* a free entry is all zero */
			if (r->kind == NVH_K_CONT)
				break;
			r->kind = NVH_K_FREE;
			set_free(h, i, 1);
			break;
		case NVH_ARENA_SMALL:
			if (NVH_DESC_CLASS(d) >= h->ncls || NVH_DESC_RUN(d) ||
			    r->kind == NVH_K_CONT)
				goto bad;
			r->kind = NVH_K_SMALL;
			r->cls = (uint8_t)NVH_DESC_CLASS(d);
			atomic_store(&r->state, NVH_A_UNSCANNED);
			nvh_alist_push(h, &h->crt[r->cls].head, i);
			break;
		case NVH_ARENA_LARGE: {
			uint32_t run = NVH_DESC_RUN(d);
			/* a run lies inside its segment */
			if (NVH_DESC_CLASS(d) || run < 1 ||
			    run > sg->first + sg->n - i ||
			    r->kind == NVH_K_CONT)
				goto bad;
			for (uint64_t j = i + 1; j < i + run; j++) {
				if (NVH_DESC_KIND(nvh_arena_ent(h, j)->desc) !=
					    NVH_ARENA_FREE ||
				    h->arena[j].kind != NVH_K_FREE)
					goto bad_run;
				set_free(h, j, 0);
				h->arena[j].kind = NVH_K_CONT;
			}
			r->kind = NVH_K_LARGE;
			r->run = run;
			atomic_store(&r->large_live, 1);
			break;
		}
		case NVH_ARENA_MALLOC: {
			if (NVH_DESC_CLASS(d) >= NVH_MCLASSES || NVH_DESC_RUN(d) ||
			    r->kind == NVH_K_CONT)
				goto bad;
			int rc = nvh_marena_load(h, i, NVH_DESC_CLASS(d));
			if (rc) {
				nvh_arenas_fini(h);
				return rc;
			}
			break;
		}
		default:
			goto bad;
		}
		continue;
	bad:
		nvh_arenas_fini(h);
		return nvh_err(NVH_ECORRUPT, "arena table entry %" PRIu64
			       " (0x%016" PRIx64 ") is invalid", i, d);
	bad_run:
		nvh_arenas_fini(h);
		return nvh_err(NVH_ECORRUPT, "arena table entry %" PRIu64
			       ": large run of %" PRIu32 " overlaps another "
			       "arena in use", i, NVH_DESC_RUN(d));
	}
	return 0;
}

/* Dekker's pairing: the enter stores busy then loads closing, the close
 * stores closing then loads every busy, so at least one sees the other:
 * an operation under way is never closed under, and one that sees the
 * close backs out.  The order each side needs between its store and its
 * load is paid by the close alone where the kernel allows it
 * (membarrier's private expedited command, Linux 4.14): the enter's
 * store and load are then plain (a compiler barrier between them), and
 * the close's membarrier makes every running thread execute a full
 * barrier, so an enter whose load came before that barrier has its
 * store visible to the close, and one whose load came after sees
 * closing.  Otherwise both sides are sequentially consistent (a locked
 * instruction per enter).  Under ThreadSanitizer, which does not model
 * membarrier, the sequentially consistent pairing is used. */
int nvh_asym_fence;

static void
asym_init(void)
{
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NVH_TSAN 1
#endif
#endif
#if !defined(__SANITIZE_THREAD__) && !defined(NVH_TSAN) && \
	defined(__NR_membarrier)
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    syscall(__NR_membarrier,
		    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		nvh_asym_fence = 1;
#endif
}

int
nvh_tctx_refused(struct nvh_heap *h, struct nvh_tctx *t, const char *fn)
{
	atomic_store_explicit(&t->busy, 0, memory_order_release);
	return nvh_err(EBUSY, "%s: %s: another thread is closing the pool or "
		       "collecting it (nvh_gc)", fn, h->pool->path);
}

int
nvh_heap_quiesce(struct nvh_heap *h)
{
	atomic_store(&h->closing, 1);
	if (nvh_asym_fence &&
	    syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) &&
	    (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
		     0, 0) ||
	     syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))) {
		/* registered once for the process (a fork's child inherits
		 * it, an exec starts over with the flag clear), so it does
		 * not fail; if it did, even registered again, the enters'
		 * plain pairing is not ordered: refuse rather than guess */
		nvh_heap_unquiesce(h);
		return -EBUSY;
	}
	int busy = 0;
	pthread_mutex_lock(&h->tctx_lock);
	for (struct nvh_tctx *t = h->tctxs; t && !busy; t = t->next)
		busy = atomic_load(&t->busy);
	pthread_mutex_unlock(&h->tctx_lock);
	if (busy)
		nvh_heap_unquiesce(h);
	return busy ? -EBUSY : 0;
}

void
nvh_heap_unquiesce(struct nvh_heap *h)
{
	atomic_store(&h->closing, 0);
}

void
nvh_arenas_fini(struct nvh_heap *h)
{
	if (!h->arena)
		return;
	/* The contexts of threads still running become orphans, freed by
	 * their threads; none is exiting meanwhile (tctx_global). */
	pthread_mutex_lock(&tctx_global);
	pthread_mutex_lock(&h->tctx_lock);
	for (struct nvh_tctx *t = h->tctxs; t; t = t->next)
		atomic_store_explicit(&t->orphan, 1, memory_order_release);
	h->tctxs = NULL;
	pthread_mutex_unlock(&h->tctx_lock);
	pthread_mutex_unlock(&tctx_global);
	for (uint64_t a = 0; a < nvh_heap_narenas(h); a++) {
		pthread_mutex_destroy(&h->arena[a].lock);
		free((void *)h->arena[a].used);
		free((void *)h->arena[a].live);
	}
	for (unsigned c = 0; c < h->ncls; c++)
		pthread_mutex_destroy(&h->crt[c].lock);
	for (unsigned c = 0; c < NVH_MCLASSES; c++)
		pthread_mutex_destroy(&h->mcrt[c].lock);
	pthread_mutex_destroy(&h->arena_lock);
	pthread_mutex_destroy(&h->tctx_lock);
	munmap(h->arena, rt_bytes(h));
	munmap(h->arena_free, free_bytes(h));
	h->arena = NULL;
	h->arena_free = NULL;
}

/* Give a small arena its DRAM bitmaps: from the medium (scan) or zero.
 * An arena that had them keeps its arrays (cleared) for the life of the
 * heap: a reader that looked the arena up just before it changed hands
 * reads stale words, never freed memory.  Caller holds the arena lock. */
static int
give_bitmaps(struct nvh_heap *h, uint64_t a, int from_media)
{
	struct nvh_arena_rt *r = &h->arena[a];
	unsigned c = r->cls;
	uint32_t nw = h->crt[c].nwords, nb = h->cls[c].nblocks;
	const uint64_t *bm = (const void *)(h->base + nvh_bitmap_off(h, a));
	for (uint32_t w = 0; from_media && w < NVH_BITMAP_SLOT / 8; w++) {
		uint64_t v = bm[w];
		uint64_t valid = w < nw ? (nb - 64 * w >= 64 ? ~0ull
				 : (1ull << (nb - 64 * w)) - 1) : 0;
		if (v & ~valid)
			return nvh_err(NVH_ECORRUPT, "arena %" PRIu64 ": bitmap "
				       "word %u has bits beyond its %" PRIu32
				       " blocks (0x%016" PRIx64 ")", a, w, nb, v);
	}
	_Atomic uint64_t *used = r->used, *live = r->live;
	if (!used) {
		r->bm_cap = NVH_BITMAP_SLOT / 8;
		used = calloc(NVH_BITMAP_SLOT / 8, 8);
		live = calloc(NVH_BITMAP_SLOT / 8, 8);
		if (!used || !live) {
			free((void *)used);
			free((void *)live);
			return nvh_err(ENOMEM, "out of memory scanning arena %"
				       PRIu64, a);
		}
	}
	uint32_t count = 0;
	for (uint32_t w = 0; w < NVH_BITMAP_SLOT / 8; w++) {
		uint64_t v = from_media ? bm[w] : 0;
		atomic_store(&used[w], v);
		atomic_store(&live[w], v);
		count += (uint32_t)__builtin_popcountll(v);
	}
	/* Blocks past the end of the class are permanently "used". */
	for (uint32_t w = 0; w < nw; w++)
		if (nb - 64 * w < 64)
			atomic_fetch_or(&used[w], ~((1ull << (nb - 64 * w)) - 1));
	atomic_store(&r->nfree, (int32_t)(nb - count));
	r->live = live;
	__atomic_store_n(&r->used, used, __ATOMIC_RELEASE);
	return 0;
}

int
nvh_arena_scan(struct nvh_heap *h, uint64_t a)
{
	struct nvh_arena_rt *r = &h->arena[a];
	if (__atomic_load_n(&r->used, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&r->lock);
	int rc = 0;
	if (!r->used) {
		rc = give_bitmaps(h, a, 1);
		if (!rc) {
			int st = NVH_A_UNSCANNED;
			atomic_compare_exchange_strong(&r->state, &st,
						       atomic_load(&r->nfree)
							       ? NVH_A_AVAILABLE
							       : NVH_A_FULL);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int
nvh_heap_scan_at(struct nvh_pool *pool, uint64_t off)
{
	struct nvh_heap *h = pool->heap;
	uint64_t a;
	if (nvh_arena_at(h, off, &a, NULL))
		return 0;
	if (h->arena[a].kind != NVH_K_SMALL)
		return 0;
	return nvh_arena_scan(h, a); /* (its error says what) */
}

/* ---- taking and dropping arenas ---- */

int
nvh_arena_take(struct nvh_heap *h, struct nvh_tctx *t, unsigned c,
	       uint64_t *out)
{
	struct nvh_class_rt *cr = &h->crt[c];
	pthread_mutex_lock(&cr->lock);
	while (cr->head >= 0) {
		uint64_t a = (uint64_t)cr->head;
		struct nvh_arena_rt *r = &h->arena[a];
		nvh_alist_unlink(h, &h->crt[c].head, a);
		int rc = nvh_arena_scan(h, a);
		if (rc) {
			pthread_mutex_unlock(&cr->lock);
			return rc;
		}
		int st = atomic_load(&r->state);
		if (st == NVH_A_AVAILABLE && atomic_load(&r->nfree) > 0 &&
		    atomic_compare_exchange_strong(&r->state, &st, NVH_A_OWNED)) {
			pthread_mutex_unlock(&cr->lock);
			*out = a;
			return 0;
		}
		if (st == NVH_A_AVAILABLE)
			atomic_store(&r->state, NVH_A_FULL);
		/* A free may have raced in: it finds FULL and pushes again. */
		if (atomic_load(&r->nfree) > 0) {
			st = NVH_A_FULL;
			if (atomic_compare_exchange_strong(&r->state, &st,
							   NVH_A_OWNED)) {
				pthread_mutex_unlock(&cr->lock);
				*out = a;
				return 0;
			}
		}
	}
	pthread_mutex_unlock(&cr->lock);

	/* A fresh arena from the free pool. */
	uint64_t a;
	int rc = nvh_arena_take_free(h, NVH_K_SMALL, c, &a);
	if (rc)
		return rc;
	struct nvh_arena_rt *r = &h->arena[a];
	pthread_mutex_lock(&r->lock);
	rc = give_bitmaps(h, a, 0);
	pthread_mutex_unlock(&r->lock);
	if (rc) {
		to_free_pool(h, a);
		return rc;
	}
	r->cursor = 0;
	atomic_store(&r->state, NVH_A_OWNED);
	(void)t;
	*out = a;
	return 0;
}

void
nvh_arena_put_free(struct nvh_heap *h, uint64_t a)
{
	to_free_pool(h, a);
}

int
nvh_arena_take_free(struct nvh_heap *h, unsigned kind, unsigned cls,
		    uint64_t *out)
{
	pthread_mutex_lock(&h->arena_lock);
	const uint64_t na = nvh_heap_narenas(h);
	uint64_t a = na;
	for (uint64_t i = 0; i < na && h->nfree_arenas; i++) {
		uint64_t j = (h->fit + i) % na;
		if (is_free(h, j)) {
			a = j;
			break;
		}
	}
	if (a == na) {
		pthread_mutex_unlock(&h->arena_lock);
		return -ENOMEM;
	}
	const uint64_t *bm = (const void *)(h->base + nvh_bitmap_off(h, a));
	for (unsigned w = 0; w < NVH_BITMAP_SLOT / 8; w++)
		if (bm[w]) {
			pthread_mutex_unlock(&h->arena_lock);
			return nvh_err(NVH_ECORRUPT, "arena %" PRIu64 " is free "
				       "but its bitmap is not empty (pool "
				       "damaged)", a);
		}
	set_free(h, a, 0);
	h->fit = a + 1;
	struct nvh_arena_rt *r = &h->arena[a];
	r->kind = (uint8_t)kind;
	r->cls = (uint8_t)cls;
	/* (a small arena's table entry is set by its first allocation) */
	r->assign_pending = kind == NVH_K_SMALL;
	pthread_mutex_unlock(&h->arena_lock);
	*out = a;
	return 0;
}

void
nvh_arena_drop(struct nvh_heap *h, uint64_t a)
{
	struct nvh_arena_rt *r = &h->arena[a];
	unsigned c = r->cls;
	pthread_mutex_lock(&h->crt[c].lock);
	int st = NVH_A_OWNED;
	/* Empty and free on the medium: what a reopen would make of it.
	 * (nfree before assign_pending: an allocation clears the flag before
	 * its block goes live, so an arena emptied by a free reads 0.) */
	if (is_empty(h, a) && atomic_load(&r->assign_pending) &&
	    atomic_compare_exchange_strong(&r->state, &st, NVH_A_NONE)) {
		pthread_mutex_unlock(&h->crt[c].lock);
		to_free_pool(h, a);
		return;
	}
	st = NVH_A_OWNED;
	if (atomic_load(&r->nfree) > 0 || r->assign_pending) {
		atomic_compare_exchange_strong(&r->state, &st, NVH_A_AVAILABLE);
		nvh_alist_push(h, &h->crt[c].head, a);
	} else {
		atomic_compare_exchange_strong(&r->state, &st, NVH_A_FULL);
		/* A free that raced in between saw OWNED and did nothing. */
		if (atomic_load(&r->nfree) > 0) {
			st = NVH_A_FULL;
			if (atomic_compare_exchange_strong(&r->state, &st,
							   NVH_A_AVAILABLE))
				nvh_alist_push(h, &h->crt[c].head, a);
		}
	}
	pthread_mutex_unlock(&h->crt[c].lock);
}

/* ---- blocks ---- */

int64_t
nvh_block_reserve(struct nvh_heap *h, uint64_t a)
{
	struct nvh_arena_rt *r = &h->arena[a];
	uint32_t nw = h->crt[r->cls].nwords;
	uint32_t start = r->cursor % (nw * 64), sw = start / 64, sb = start % 64;
	/* Next-fit from the bit after the last block handed out, wrapping
	 * once: a block just freed is reused only after the rest of the
	 * arena (wear, and it makes use-after-free show up late, not at
	 * once).  Bits past the last block are permanently set in `used`. */
	for (uint32_t i = 0; i <= nw; i++) {
		uint32_t w = (sw + i) % nw;
		uint64_t allow = ~0ull;
		if (i == 0)
			allow = ~0ull << sb;
		else if (i == nw)
			allow = sb ? (1ull << sb) - 1 : 0;
		uint64_t v = atomic_load_explicit(&r->used[w], memory_order_relaxed);
		uint64_t m;
		while ((m = ~v & allow) != 0) {
			uint64_t bit = m & (~m + 1);
			if (atomic_compare_exchange_weak(&r->used[w], &v, v | bit)) {
				atomic_fetch_sub(&r->nfree, 1);
				uint32_t b = 64 * w + (uint32_t)__builtin_ctzll(bit);
				r->cursor = b + 1;
				return (int64_t)b;
			}
		}
	}
	return -1;
}

/*
 * The arena's last reservation went and its table entry is FREE on the
 * medium: give it back to the free pool, as a reopen would.  Its owner
 * drops it, if we are the owner; an arena nobody owns is taken off its
 * class list.  One another thread owns stays with that thread, which lets
 * it go the same way (nvh_arena_drop) or has it taken away when space
 * runs out (nvh_arenas_reclaim).  Under the class lock, so a drop racing
 * with us sees our release, or we see its result.
 */
static void
give_back(struct nvh_heap *h, struct nvh_tctx *t, uint64_t a)
{
	struct nvh_arena_rt *r = &h->arena[a];
	unsigned c = r->cls;
	if (t) {
		pthread_mutex_lock(&t->lock);
		if (t->cur[c] == (int32_t)a) {
			t->cur[c] = -1;
			nvh_arena_drop(h, a);
			pthread_mutex_unlock(&t->lock);
			return;
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_lock(&h->crt[c].lock);
	int st = atomic_load(&r->state);
	/* Listed or FULL in class c, it cannot change class while we hold
	 * the lock; if it already did, someone else gave it back. */
	if ((st == NVH_A_AVAILABLE || st == NVH_A_FULL) &&
	    r->kind == NVH_K_SMALL && r->cls == c &&
	    atomic_compare_exchange_strong(&r->state, &st, NVH_A_NONE)) {
		/* Nobody can reserve in it now; look again. */
		if (is_empty(h, a) && atomic_load(&r->assign_pending)) {
			nvh_alist_unlink(h, &h->crt[c].head, a);
			pthread_mutex_unlock(&h->crt[c].lock);
			to_free_pool(h, a);
			return;
		}
		if (atomic_load(&r->nfree) > 0) {
			atomic_store(&r->state, NVH_A_AVAILABLE);
			nvh_alist_push(h, &h->crt[c].head, a);
		} else {
			atomic_store(&r->state, NVH_A_FULL);
		}
	}
	pthread_mutex_unlock(&h->crt[c].lock);
}

void
nvh_block_unreserve(struct nvh_heap *h, struct nvh_tctx *t, uint64_t a,
		    uint64_t b)
{
	struct nvh_arena_rt *r = &h->arena[a];
	nvh_block_release(h, a, b);
	if (is_empty(h, a) && atomic_load(&r->assign_pending))
		give_back(h, t, a);
}

void
nvh_block_publish(struct nvh_heap *h, uint64_t a, uint64_t b)
{
	atomic_fetch_or(&h->arena[a].live[b / 64], 1ull << (b % 64));
}

int
nvh_block_claim(struct nvh_heap *h, uint64_t a, uint64_t b)
{
	uint64_t m = 1ull << (b % 64);
	return (atomic_fetch_and(&h->arena[a].live[b / 64], ~m) & m) ? 0 : -1;
}

void
nvh_block_unclaim(struct nvh_heap *h, uint64_t a, uint64_t b)
{
	nvh_block_publish(h, a, b);
}

void
nvh_block_release(struct nvh_heap *h, uint64_t a, uint64_t b)
{
	struct nvh_arena_rt *r = &h->arena[a];
	atomic_fetch_and(&r->used[b / 64], ~(1ull << (b % 64)));
	atomic_fetch_add(&r->nfree, 1);
	int st = NVH_A_FULL;
	if (atomic_load(&r->state) == NVH_A_FULL) {
		unsigned c = r->cls;
		pthread_mutex_lock(&h->crt[c].lock);
		if (atomic_compare_exchange_strong(&r->state, &st,
						   NVH_A_AVAILABLE))
			nvh_alist_push(h, &h->crt[c].head, a);
		pthread_mutex_unlock(&h->crt[c].lock);
	}
}

/* ---- large runs ---- */

int
nvh_run_take(struct nvh_heap *h, uint64_t n, uint64_t *out)
{
	pthread_mutex_lock(&h->arena_lock);
	uint64_t len = 0, na = nvh_heap_narenas(h);
	for (uint64_t a = 0; a < na; a++) {
		/* a run does not cross a segment's end (they are not
		 * contiguous in the pool) */
		if (a && h->arena[a].seg != h->arena[a - 1].seg)
			len = 0;
		len = is_free(h, a) ? len + 1 : 0;
		if (len == n) {
			uint64_t first = a + 1 - n;
			for (uint64_t j = first; j <= a; j++) {
				set_free(h, j, 0);
				h->arena[j].kind = NVH_K_CONT;
			}
			h->arena[first].kind = NVH_K_LARGE;
			h->arena[first].run = (uint32_t)n;
			atomic_store(&h->arena[first].large_live, 0);
			pthread_mutex_unlock(&h->arena_lock);
			*out = first;
			return 0;
		}
	}
	pthread_mutex_unlock(&h->arena_lock);
	return -ENOMEM;
}

void
nvh_run_put(struct nvh_heap *h, uint64_t first, uint64_t n)
{
	pthread_mutex_lock(&h->arena_lock);
	for (uint64_t j = first; j < first + n; j++) {
		h->arena[j].kind = NVH_K_FREE;
		set_free(h, j, 1);
	}
	h->arena[first].run = 0;
	atomic_store(&h->arena[first].large_live, 0);
	pthread_mutex_unlock(&h->arena_lock);
}

/* ---- giving empty small arenas back ---- */

/* Arenas per reclaim record (16 bytes each): well inside a lane's ring,
 * which one record must fit. */
#define RECLAIM_BATCH 1024

/* Take from the other threads what they hold but an allocation out of
 * space needs more: their empty arenas, and those of class `want` with a
 * free block.  Dropped, they go to the free pool or their class list. */
static void
take_from_others(struct nvh_heap *h, struct nvh_tctx *self, int want)
{
	pthread_mutex_lock(&h->tctx_lock);
	for (struct nvh_tctx *o = h->tctxs; o; o = o->next) {
		if (o == self)
			continue;
		pthread_mutex_lock(&o->lock);
		for (unsigned c = 0; c < h->ncls; c++) {
			int32_t a = o->cur[c];
			if (a < 0)
				continue;
			if (is_empty(h, (uint64_t)a) ||
			    ((int)c == want &&
			     atomic_load(&h->arena[a].nfree) > 0)) {
				o->cur[c] = -1;
				nvh_arena_drop(h, (uint64_t)a);
			}
		}
		pthread_mutex_unlock(&o->lock);
	}
	pthread_mutex_unlock(&h->tctx_lock);
}

int
nvh_arenas_record_free(struct nvh_pool *pool, struct nvh_tctx *t,
		       const uint64_t *list, size_t n)
{
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = nvh_rec_add(&rec, NVH_OP_SET,
				 nvh_table_off(pool->heap, list[i]),
				 NVH_DESC(NVH_ARENA_FREE, 0, 0));
	if (!rc) {
		struct nvh_lane *l = nvh_lane_acquire(pool, &t->lane);
		rc = nvh_lane_commit(pool, l, &rec, NULL, NULL);
		nvh_lane_put(pool, l);
	}
	nvh_rec_fini(&rec);
	return rc;
}

/* Set the table entries of list[0..n) FREE in one record; then they are
 * free arenas, or (not committed, or rc already set) back on their class
 * lists. */
static int
commit_free(struct nvh_pool *pool, struct nvh_tctx *t, const uint64_t *list,
	    size_t n, int rc)
{
	struct nvh_heap *h = pool->heap;
	if (!rc)
		rc = nvh_arenas_record_free(pool, t, list, n);
	for (size_t i = 0; i < n; i++) {
		struct nvh_arena_rt *r = &h->arena[list[i]];
		if (!rc) {
			to_free_pool(h, list[i]);
			continue;
		}
		pthread_mutex_lock(&h->crt[r->cls].lock);
		atomic_store(&r->state, NVH_A_AVAILABLE);
		nvh_alist_push(h, &h->crt[r->cls].head, list[i]);
		pthread_mutex_unlock(&h->crt[r->cls].lock);
	}
	return rc;
}

int
nvh_arenas_reclaim(struct nvh_pool *pool, struct nvh_tctx *t, int want)
{
	struct nvh_heap *h = pool->heap;
	/* Our own arenas first: we are not allocating from them now. */
	pthread_mutex_lock(&t->lock);
	for (unsigned c = 0; c < h->ncls; c++)
		if (t->cur[c] >= 0) {
			nvh_arena_drop(h, (uint64_t)t->cur[c]);
			t->cur[c] = -1;
		}
	pthread_mutex_unlock(&t->lock);
	take_from_others(h, t, want);
	/* (arenas a growth adds meanwhile do not fit the list: they stay) */
	const size_t cap = nvh_heap_narenas(h);
	uint64_t *list = malloc(cap * sizeof(*list));
	if (!list)
		return nvh_err(ENOMEM, "out of memory reclaiming arenas");
	size_t n = 0, gained = 0;
	int rc = 0;
	for (unsigned c = 0; c < h->ncls && !rc; c++) {
		pthread_mutex_lock(&h->crt[c].lock);
		int32_t a = h->crt[c].head;
		while (a >= 0 && !rc) {
			struct nvh_arena_rt *r = &h->arena[a];
			int32_t next = r->next;
			rc = nvh_arena_scan(h, (uint64_t)a);
			int st = NVH_A_AVAILABLE;
			/* Listed and AVAILABLE under the class lock: nobody
			 * reserves in it, so empty stays empty. */
			if (!rc && n < cap && is_empty(h, (uint64_t)a) &&
			    atomic_compare_exchange_strong(&r->state, &st,
							   NVH_A_NONE)) {
				nvh_alist_unlink(h, &h->crt[c].head,
						 (uint64_t)a);
				if (atomic_load(&r->assign_pending)) {
					/* FREE on the medium already */
					to_free_pool(h, (uint64_t)a);
					gained++;
				} else {
					list[n++] = (uint64_t)a;
				}
			}
			a = next;
		}
		pthread_mutex_unlock(&h->crt[c].lock);
	}
	for (size_t i = 0; i < n; i += RECLAIM_BATCH) {
		size_t k = n - i < RECLAIM_BATCH ? n - i : RECLAIM_BATCH;
		rc = commit_free(pool, t, list + i, k, rc);
		gained += rc ? 0 : k;
	}
	free(list);
	if (rc)
		return rc;
	/* and nvh_malloc's empty arenas (heap/malloc.c) */
	int64_t m = nvh_marenas_reclaim(pool, t);
	if (m < 0)
		return (int)m;
	gained += (size_t)m;
	return gained ? 0 : -ENOMEM;
}

/* ---- locating an offset ---- */

int
nvh_heap_geometry(struct nvh_heap *h, uint64_t off, uint64_t *ap, uint64_t *bp,
		  uint64_t *inp, int *live)
{
	uint64_t a, in_arena;
	if (nvh_arena_at(h, off, &a, &in_arena) || a >= nvh_heap_narenas(h))
		return -1;
	struct nvh_arena_rt *r = &h->arena[a];
	if (r->kind == NVH_K_CONT) {
		while (a > 0 && h->arena[a].kind == NVH_K_CONT)
			a--;
		r = &h->arena[a];
		if (r->kind != NVH_K_LARGE)
			return -1;
		in_arena = off - nvh_arena_off(h, a);
	}
	if (r->kind == NVH_K_LARGE) {
		*ap = a;
		*bp = 0;
		*inp = in_arena;
		*live = atomic_load(&r->large_live) != 0;
		return 0;
	}
	if (r->kind != NVH_K_SMALL)
		return -1;
	if (nvh_arena_scan(h, a))
		return -1;
	const struct nvh_class_ent *c = &h->cls[r->cls];
	if (in_arena < c->blocks_off)
		return -1;
	uint64_t b = (in_arena - c->blocks_off) / c->block_size;
	if (b >= c->nblocks)
		return -1;
	*ap = a;
	*bp = b;
	*inp = (in_arena - c->blocks_off) % c->block_size;
	*live = (atomic_load(&r->live[b / 64]) >> (b % 64)) & 1;
	return 0;
}

int
nvh_heap_locate(struct nvh_heap *h, uint64_t off, uint64_t *ap, uint64_t *bp,
		uint64_t *inp)
{
	int live;
	return nvh_heap_geometry(h, off, ap, bp, inp, &live) || !live ? -1 : 0;
}
