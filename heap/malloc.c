/*
 * malloc.c -- nvh_malloc, nvh_calloc, nvh_realloc, nvh_mfree: blocks from
 * malloc arenas of their own (heap/malloc.h has the invariants), whose
 * allocation state is DRAM only while the pool is open.  The fast paths
 * (a block from, or back to, the thread's cache) take no lock, write
 * nothing to the medium and issue no flush or fence; a clean close writes
 * each malloc arena's live bits to the arena's bitmap (one fence for
 * all), and an unclean open rebuilds them from what is reachable
 * (objects/gc.c).  Blocks larger than NVH_MALLOC_MAX are ordinary objects
 * of type NVH_TYPEID_MALLOC, allocated and freed atomically (one barrier
 * each), collected the same way.  docs/malloc.md has the design.
 *
 * What touches the medium, and when:
 *   an arena becoming a malloc arena  one record (table entry SET MALLOC)
 *   the first ever                    the pool header's NVH_FEAT_MALLOC
 *   the clean close                   the bitmaps, then one fence, before
 *                                     clean_shutdown = 1
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nvheap/malloc.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/malloc.h"
#include "heap/pool.h"
#include "heap/log/lane.h"
#include "heap/log/redo.h"

#define S(sz) {sz, 0, 0, 0, 0}
struct nvh_mclass nvh_mclasses[NVH_MCLASSES] = {
	S(16), S(32), S(48), S(64), S(80), S(96), S(112), S(128),
	S(160), S(192), S(224), S(256), S(320), S(384), S(448), S(512),
	S(640), S(768), S(896), S(1024), S(1280), S(1536), S(1792), S(2048),
	S(2560), S(3072), S(3584), S(4096), S(5120), S(6144), S(7168), S(8192),
	S(10240), S(12288), S(14336), S(16384),
};
#undef S

static uint32_t
align64(uint32_t x)
{
	return (x + 63u) & ~63u;
}

/* The geometry follows from the sizes (docs/format.md): computed once,
 * before main (a constructor), so the table is read without a once-check
 * on the fast path. */
__attribute__((constructor)) static void
mclasses_init(void)
{
	for (unsigned c = 0; c < NVH_MCLASSES; c++) {
		struct nvh_mclass *m = &nvh_mclasses[c];
		uint32_t nb = NVH_ARENA_SIZE / m->size;
		while (align64((nb + 7) / 8) + nb * m->size > NVH_ARENA_SIZE)
			nb--;
		m->nblocks = nb;
		m->blocks_off = align64((nb + 7) / 8);
		m->nwords = (nb + 63) / 64;
		/* exact: for rel = q * size + r (r < size) and e = recip *
		 * size - 2^40 < size, rel * recip >> 40 is q while r * 2^40 +
		 * rel * e < size * 2^40, so while rel * e < 2^40; rel < 2^20
		 * and e < 2^14 (the static assertion) keep it below 2^34
		 * (test_malloc checks every offset of every class) */
		m->recip = ((1ull << NVH_MRECIP_SHIFT) + m->size - 1) / m->size;
	}
}
uint64_t nvh_mfree_mark;

/* The mark nvh_mfree leaves in a block's first word: per process, its
 * top 16 bits clear, so that it is never an oid (the pool tag is never
 * 0) and the conservative scan never follows it. */
__attribute__((constructor)) static void
mark_init(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
		     (uint64_t)getpid() << 12 ^ (uint64_t)(uintptr_t)&ts;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	nvh_mfree_mark = (x & 0xffffffffffffull) | 1;
}

_Static_assert(NVH_ARENA_SIZE <= (1u << 20) && NVH_MALLOC_MAX <= (1u << 14),
	       "malloc classes' reciprocals are exact for these sizes only");

#define ENT(a, b) ((uint64_t)(a) << 16 | (uint64_t)(b))
#define ENT_A(e) ((e) >> 16)
#define ENT_B(e) ((e) & 0xffffu)

/* A cache's count: written by its thread only, read by others counting
 * (nvh_stats), hence relaxed atomic accesses (plain moves on x86). */
static inline uint32_t
mc_n(const struct nvh_mcache *m)
{
	return __atomic_load_n(&m->n, __ATOMIC_RELAXED);
}

static inline void
mc_set_n(struct nvh_mcache *m, uint32_t n)
{
	__atomic_store_n(&m->n, n, __ATOMIC_RELAXED);
}

static inline uint64_t
block_off(const struct nvh_heap *h, uint64_t a, uint64_t b)
{
	const struct nvh_mclass *m = &nvh_mclasses[h->arena[a].cls];
	return h->arena[a].off + m->blocks_off + b * m->size;
}

/* A thread's caches, zeroed, on lines of their own (another thread's
 * are next to them in the C heap). */
static struct nvh_mcache *
mcache_new(void)
{
	size_t bytes = (NVH_MCLASSES * sizeof(struct nvh_mcache) + 63) / 64 * 64;
	struct nvh_mcache *m = aligned_alloc(64, bytes);
	if (m)
		memset(m, 0, bytes);
	return m;
}

/* DRAM bitmaps of malloc arena a: live from `media` (NULL: none), used =
 * live plus the tail. */
static int
mbitmaps(struct nvh_heap *h, uint64_t a, unsigned c, const uint64_t *media)
{
	struct nvh_arena_rt *r = &h->arena[a];
	const struct nvh_mclass *m = &nvh_mclasses[c];
	_Atomic uint64_t *used = r->used, *live = r->live;
	if (!used || r->bm_cap < NVH_MBM_WORDS) {
		/* (a small arena's are too short; it was free since) */
		/* lines of their own: arenas of different owners */
		used = aligned_alloc(64, NVH_MBM_WORDS * 8);
		live = aligned_alloc(64, NVH_MBM_WORDS * 8);
		if (!used || !live) {
			free((void *)used);
			free((void *)live);
			return nvh_err(ENOMEM, "out of memory for malloc arena %"
				       PRIu64, a);
		}
		memset((void *)used, 0, NVH_MBM_WORDS * 8);
		memset((void *)live, 0, NVH_MBM_WORDS * 8);
		free((void *)r->used);
		free((void *)r->live);
		r->bm_cap = NVH_MBM_WORDS;
	}
	uint32_t count = 0;
	for (uint32_t w = 0; w < m->nwords; w++) {
		uint64_t v = media ? media[w] : 0;
		uint64_t tail = m->nblocks - 64 * w >= 64
			? 0 : ~((1ull << (m->nblocks - 64 * w)) - 1);
		if (v & tail)
			return nvh_err(NVH_ECORRUPT, "malloc arena %" PRIu64 ": "
				       "bitmap word %u has bits beyond its %"
				       PRIu32 " blocks (0x%016" PRIx64 ")", a, w,
				       m->nblocks, v);
		atomic_store(&live[w], v);
		atomic_store(&used[w], v | tail);
		count += (uint32_t)__builtin_popcountll(v);
	}
	r->used = used;
	r->live = live;
	atomic_store(&r->nfree, (int32_t)(m->nblocks - count));
	r->cursor = 0;
	return 0;
}

int
nvh_marena_load(struct nvh_heap *h, uint64_t a, unsigned cls)
{
	struct nvh_arena_rt *r = &h->arena[a];
	r->kind = NVH_K_MALLOC;
	r->cls = (uint8_t)cls;
	int rc = mbitmaps(h, a, cls, (const uint64_t *)(h->base + r->off));
	if (rc)
		return rc;
	atomic_fetch_add(&h->nmarenas, 1);
	if (atomic_load(&r->nfree) > 0) {
		atomic_store(&r->state, NVH_A_AVAILABLE);
		nvh_alist_push(h, &h->mcrt[cls].head, a);
	} else {
		atomic_store(&r->state, NVH_A_FULL);
	}
	return 0;
}

void
nvh_malloc_rebuilt(struct nvh_heap *h)
{
	for (unsigned c = 0; c < NVH_MCLASSES; c++)
		h->mcrt[c].head = -1;
	uint64_t n = nvh_heap_narenas(h);
	for (uint64_t a = n; a-- > 0;) {
		struct nvh_arena_rt *r = &h->arena[a];
		if (r->kind != NVH_K_MALLOC)
			continue;
		const struct nvh_mclass *m = &nvh_mclasses[r->cls];
		uint32_t count = 0;
		for (uint32_t w = 0; w < m->nwords; w++) {
			uint64_t v = atomic_load(&r->live[w]);
			uint64_t tail = m->nblocks - 64 * w >= 64
				? 0 : ~((1ull << (m->nblocks - 64 * w)) - 1);
			atomic_store(&r->used[w], v | tail);
			count += (uint32_t)__builtin_popcountll(v);
		}
		atomic_store(&r->nfree, (int32_t)(m->nblocks - count));
		r->in_list = 0;
		r->prev = r->next = -1;
		int owned = atomic_load(&r->state) == NVH_A_OWNED;
		if (owned)
			continue;
		if (count < m->nblocks) {
			atomic_store(&r->state, NVH_A_AVAILABLE);
			nvh_alist_push(h, &h->mcrt[r->cls].head, a);
		} else {
			atomic_store(&r->state, NVH_A_FULL);
		}
	}
}

static inline __attribute__((always_inline)) int
mblock_at(const struct nvh_heap *h, uint64_t a, uint64_t off, uint64_t *b)
{
	const struct nvh_arena_rt *r = &h->arena[a];
	const struct nvh_mclass *m = &nvh_mclasses[r->cls];
	if (off < r->off + m->blocks_off)
		return -1;
	uint64_t rel = off - r->off - m->blocks_off;
	if (rel >= NVH_ARENA_SIZE)
		return -1;
	uint64_t q = nvh_mclass_div(m, rel);
	if (q * m->size != rel || q >= m->nblocks)
		return -1;
	*b = q;
	return 0;
}

int
nvh_mblock_at(const struct nvh_heap *h, uint64_t a, uint64_t off, uint64_t *b)
{
	return mblock_at(h, a, off, b);
}

/* Block b of malloc arena r (at pool offset off) is allocated to the
 * user: used (not free in its arena) and not marked by nvh_mfree (not in
 * a thread's cache).  No shared word is written on the fast paths:
 * malloc clears the mark, mfree sets it, in the block itself. */
static inline int
mblock_allocated(const struct nvh_pool *pool, const struct nvh_arena_rt *r,
		 uint64_t b, uint64_t off)
{
	return ((atomic_load_explicit(&r->used[b / 64], memory_order_acquire) >>
		 (b % 64)) & 1) &&
	       *(const uint64_t *)(pool->base + off) != nvh_mfree_mark;
}

int
nvh_mblock_live(const struct nvh_pool *pool, uint64_t off)
{
	const struct nvh_heap *h = pool->heap;
	uint64_t a, in, b;
	if (nvh_arena_at(h, off, &a, &in) || a >= nvh_heap_narenas(h) ||
	    h->arena[a].kind != NVH_K_MALLOC || nvh_mblock_at(h, a, off, &b))
		return 0;
	return mblock_allocated(pool, &h->arena[a], b, off);
}

/* ---- the medium: the feature bit, arena assignment, the clean close ---- */

static int
need_feature(struct nvh_pool *pool)
{
	if (__atomic_load_n(&pool->hdr.features, __ATOMIC_ACQUIRE) &
	    NVH_FEAT_MALLOC)
		return 0;
	/* the header is written under grow_lock (heap/grow.c) */
	pthread_mutex_lock(&pool->grow_lock);
	int rc = 0;
	if (!(pool->hdr.features & NVH_FEAT_MALLOC)) {
		/* Durable before any malloc arena or block exists: an unclean
		 * open then knows to collect (objects/gc.c). */
		uint64_t was = pool->hdr.features;
		__atomic_store_n(&pool->hdr.features, was | NVH_FEAT_MALLOC,
				 __ATOMIC_RELEASE);
		rc = nvh_hdr_update(&pool->persist, pool->base, &pool->hdr,
				    pool->hdr_first);
		if (rc) {
			__atomic_store_n(&pool->hdr.features, was,
					 __ATOMIC_RELEASE);
			atomic_store(&pool->failed, rc);
		}
	}
	pthread_mutex_unlock(&pool->grow_lock);
	return rc;
}

/* A thread's hint in its arenas' mowner (a collision only costs the
 * preference). */
static inline uint32_t
owner_hint(const struct nvh_tctx *t)
{
	return (uint32_t)((uintptr_t)t >> 6) | 1u;
}

/* A free arena becomes a malloc arena of class c: one record. */
static int
marena_new(struct nvh_pool *pool, struct nvh_tctx *t, unsigned c,
	   uint64_t *out)
{
	struct nvh_heap *h = pool->heap;
	int rc = need_feature(pool);
	if (rc)
		return rc;
	uint64_t a;
	char why[NVH_PROBLEM_LEN] = "";
	int tries = 0, reclaimed = 0;
	for (;;) {
		uint64_t seen = atomic_load_explicit(&h->grow_gen,
						     memory_order_acquire);
		rc = nvh_arena_take_free(h, NVH_K_MALLOC, c, &a);
		if (rc != -ENOMEM)
			break;
		if (!reclaimed) {
			reclaimed = 1;
			rc = nvh_arenas_reclaim(pool, t, -1);
			if (rc && rc != -ENOMEM)
				return rc;
			continue;
		}
		if (++tries > 8)
			break;
		rc = nvh_heap_grow(pool, 1, seen, why, sizeof(why));
		if (rc)
			break;
	}
	if (rc == -ENOMEM)
		return nvh_err(ENOMEM, "out of space for a %" PRIu32 "-byte "
			       "block (no free block or arena%s%s)",
			       nvh_mclasses[c].size, why[0] ? "; " : "", why);
	if (rc)
		return rc;
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	rc = nvh_rec_add(&rec, NVH_OP_SET, nvh_table_off(h, a),
			 NVH_DESC(NVH_ARENA_MALLOC, c, 0));
	if (!rc) {
		struct nvh_lane *l = nvh_lane_acquire(pool, &t->lane);
		rc = nvh_lane_commit(pool, l, &rec, NULL, NULL);
		nvh_lane_put(pool, l);
	}
	nvh_rec_fini(&rec);
	if (!rc)
		rc = mbitmaps(h, a, c, NULL);
	if (rc) {
		/* (a committed entry with no DRAM state: the arena stays out
		 * of use until the pool is reopened) */
		if (nvh_arena_ent(h, a)->desc == 0)
			nvh_arena_put_free(h, a);
		return rc;
	}
	atomic_fetch_add(&h->nmarenas, 1);
	h->arena[a].mowner = owner_hint(t);
	atomic_store(&h->arena[a].state, NVH_A_OWNED);
	*out = a;
	return 0;
}

void
nvh_malloc_sync_live(struct nvh_heap *h)
{
	uint64_t n = nvh_heap_narenas(h);
	for (uint64_t a = 0; atomic_load(&h->nmarenas) && a < n; a++) {
		struct nvh_arena_rt *r = &h->arena[a];
		if (r->kind != NVH_K_MALLOC || !r->live)
			continue;
		const struct nvh_mclass *m = &nvh_mclasses[r->cls];
		for (uint32_t w = 0; w < m->nwords; w++) {
			uint64_t tail = m->nblocks - 64 * w >= 64
				? 0 : ~((1ull << (m->nblocks - 64 * w)) - 1);
			atomic_store_explicit(&r->live[w],
				atomic_load(&r->used[w]) & ~tail,
				memory_order_relaxed);
		}
	}
	pthread_mutex_lock(&h->tctx_lock);
	for (struct nvh_tctx *t = h->tctxs; t; t = t->next)
		for (unsigned c = 0; t->mc && c < NVH_MCLASSES; c++) {
			const struct nvh_mcache *m = &t->mc[c];
			for (uint32_t i = 0; i < mc_n(m); i++) {
				uint64_t a = ENT_A(m->ent[i]), b = ENT_B(m->ent[i]);
				atomic_fetch_and_explicit(&h->arena[a].live[b / 64],
					~(1ull << (b % 64)), memory_order_relaxed);
			}
		}
	pthread_mutex_unlock(&h->tctx_lock);
}

void
nvh_malloc_counts(struct nvh_heap *h, uint64_t *blocks, uint64_t *bytes)
{
	*blocks = *bytes = 0;
	uint64_t n = nvh_heap_narenas(h);
	for (uint64_t a = 0; atomic_load(&h->nmarenas) && a < n; a++) {
		const struct nvh_arena_rt *r = &h->arena[a];
		if (r->kind != NVH_K_MALLOC || !r->used)
			continue;
		const struct nvh_mclass *m = &nvh_mclasses[r->cls];
		/* used: allocated, cached, or past the last block */
		uint64_t k = (uint64_t)m->nblocks -
			     (uint64_t)atomic_load(&r->nfree);
		*blocks += k;
		*bytes += k * m->size;
	}
	pthread_mutex_lock(&h->tctx_lock);
	for (struct nvh_tctx *t = h->tctxs; t; t = t->next)
		for (unsigned c = 0; t->mc && c < NVH_MCLASSES; c++) {
			uint64_t k = mc_n(&t->mc[c]);
			*blocks -= k;
			*bytes -= k * nvh_mclasses[c].size;
		}
	pthread_mutex_unlock(&h->tctx_lock);
}

int
nvh_malloc_persist(struct nvh_pool *pool)
{
	struct nvh_heap *h = pool->heap;
	if (!h || !atomic_load(&h->nmarenas))
		return 0;
	/* (the close: no thread is in a call, the caches are still full) */
	nvh_malloc_sync_live(h);
	uint64_t n = nvh_heap_narenas(h);
	for (uint64_t a = 0; a < n; a++) {
		struct nvh_arena_rt *r = &h->arena[a];
		if (r->kind != NVH_K_MALLOC || !r->live)
			continue;
		uint64_t *media = (uint64_t *)(h->base + r->off);
		const struct nvh_mclass *m = &nvh_mclasses[r->cls];
		uint32_t lo = m->nwords, hi = 0;
		for (uint32_t w = 0; w < m->nwords; w++) {
			uint64_t v = atomic_load(&r->live[w]);
			if (media[w] == v)
				continue; /* unchanged words are not rewritten */
			media[w] = v;
			lo = w < lo ? w : lo;
			hi = w;
		}
		/* the changed words of this bitmap on their way to the medium,
		 * each line once (made durable by the fence below) */
		if (lo <= hi)
			nvh_persist_flush(&pool->persist, &media[lo],
					  (size_t)(hi - lo + 1) * 8);
	}
	/* The bitmaps say what is allocated, durably, before the header's
	 * clean_shutdown = 1 (written after this) says they may be
	 * trusted. */
	return nvh_persist_fence(&pool->persist);
}

#define MRECLAIM_BATCH 1024

int64_t
nvh_marenas_reclaim(struct nvh_pool *pool, struct nvh_tctx *t)
{
	struct nvh_heap *h = pool->heap;
	if (!atomic_load(&h->nmarenas))
		return 0;
	uint64_t list[MRECLAIM_BATCH];
	int64_t gained = 0;
	for (;;) {
		size_t n = 0;
		for (unsigned c = 0; c < NVH_MCLASSES && n < MRECLAIM_BATCH;
		     c++) {
			pthread_mutex_lock(&h->mcrt[c].lock);
			int32_t a = h->mcrt[c].head;
			while (a >= 0 && n < MRECLAIM_BATCH) {
				struct nvh_arena_rt *r = &h->arena[a];
				int32_t next = r->next;
				/* listed and not owned: nobody takes a block
				 * from it while we hold the lock, and no
				 * block is out to be given back */
				if (atomic_load(&r->nfree) ==
				    (int32_t)nvh_mclasses[c].nblocks) {
					nvh_alist_unlink(h, &h->mcrt[c].head,
							 (uint64_t)a);
					atomic_store(&r->state, NVH_A_NONE);
					list[n++] = (uint64_t)a;
				}
				a = next;
			}
			pthread_mutex_unlock(&h->mcrt[c].lock);
		}
		if (!n)
			return gained;
		int rc = nvh_arenas_record_free(pool, t, list, n);
		for (size_t i = 0; i < n; i++) {
			struct nvh_arena_rt *r = &h->arena[list[i]];
			if (!rc) {
				/* (its bitmaps stay, for its next life: a
				 * stale lookup never reads freed memory) */
				atomic_fetch_sub(&h->nmarenas, 1);
				nvh_arena_put_free(h, list[i]);
				continue;
			}
			pthread_mutex_lock(&h->mcrt[r->cls].lock);
			atomic_store(&r->state, NVH_A_AVAILABLE);
			nvh_alist_push(h, &h->mcrt[r->cls].head, list[i]);
			pthread_mutex_unlock(&h->mcrt[r->cls].lock);
		}
		if (rc)
			return rc;
		gained += (int64_t)n;
	}
}

/* ---- arenas for threads ---- */

#define MTAKE_SCAN 8 /* listed arenas looked at for one of the thread's */

/* An arena of class c with free blocks, owned from now on: one this
 * thread owned last if one is near the list's head (its blocks' lines
 * are likely still in this core's cache, and the other threads' are
 * not disturbed: without it threadtest's threads swapped arenas, and
 * every 64-byte block moved between cores), else the head. */
static int
marena_take(struct nvh_pool *pool, struct nvh_tctx *t, unsigned c,
	    uint64_t *out)
{
	struct nvh_heap *h = pool->heap;
	struct nvh_class_rt *cr = &h->mcrt[c];
	uint32_t me = owner_hint(t);
	pthread_mutex_lock(&cr->lock);
	while (cr->head >= 0) {
		int32_t pick = cr->head, x = cr->head;
		for (int i = 0; x >= 0 && i < MTAKE_SCAN; i++) {
			if (h->arena[x].mowner == me) {
				pick = x;
				break;
			}
			x = h->arena[x].next;
		}
		uint64_t a = (uint64_t)pick;
		struct nvh_arena_rt *r = &h->arena[a];
		nvh_alist_unlink(h, &h->mcrt[c].head, a);
		if (atomic_load(&r->nfree) > 0) {
			r->mowner = me;
			atomic_store(&r->state, NVH_A_OWNED);
			pthread_mutex_unlock(&cr->lock);
			*out = a;
			return 0;
		}
		atomic_store(&r->state, NVH_A_FULL);
	}
	pthread_mutex_unlock(&cr->lock);
	return marena_new(pool, t, c, out);
}

/* The owner gives arena a up. */
static void
marena_drop(struct nvh_heap *h, uint64_t a)
{
	struct nvh_arena_rt *r = &h->arena[a];
	unsigned c = r->cls;
	pthread_mutex_lock(&h->mcrt[c].lock);
	/* a give that raced in saw OWNED and left it to us: nfree is read
	 * under the lock its give takes when it finds the arena full */
	if (atomic_load(&r->nfree) > 0) {
		atomic_store(&r->state, NVH_A_AVAILABLE);
		nvh_alist_push(h, &h->mcrt[c].head, a);
	} else {
		atomic_store(&r->state, NVH_A_FULL);
	}
	pthread_mutex_unlock(&h->mcrt[c].lock);
}

/* The n free blocks ent[] (cached, packed) back to their arenas: one
 * atomic and per bitmap word and one count per run of one arena (so a
 * spill in address order costs a few locked instructions, not two per
 * block). */
static void
give_n(struct nvh_heap *h, const uint64_t *ent, uint32_t n)
{
	for (uint32_t i = 0; i < n;) {
		uint64_t a = ENT_A(ent[i]);
		struct nvh_arena_rt *r = &h->arena[a];
		int32_t count = 0;
		while (i < n && ENT_A(ent[i]) == a) {
			uint64_t w = ENT_B(ent[i]) / 64, mask = 0;
			for (; i < n && ent[i] >> 6 == ENT(a, 64 * w) >> 6; i++) {
				mask |= 1ull << (ENT_B(ent[i]) % 64);
				count++;
			}
			atomic_fetch_and_explicit(&r->used[w], ~mask,
						  memory_order_release);
		}
		if (atomic_fetch_add(&r->nfree, count) > 0)
			continue;
		/* it may have been full: listed again unless its owner has
		 * it */
		unsigned c = r->cls;
		pthread_mutex_lock(&h->mcrt[c].lock);
		if (atomic_load(&r->state) == NVH_A_FULL &&
		    atomic_load(&r->nfree) > 0) {
			atomic_store(&r->state, NVH_A_AVAILABLE);
			nvh_alist_push(h, &h->mcrt[c].head, a);
		}
		pthread_mutex_unlock(&h->mcrt[c].lock);
	}
}

/* Up to `want` free blocks of owned arena a into m. */
static uint32_t
grab(struct nvh_heap *h, uint64_t a, struct nvh_mcache *m, uint32_t want)
{
	struct nvh_arena_rt *r = &h->arena[a];
	const struct nvh_mclass *mc = &nvh_mclasses[r->cls];
	uint32_t got = 0, nw = mc->nwords;
	uint32_t w = r->cursor % nw;
	for (uint32_t i = 0; i < nw && got < want;
	     i++, w = w + 1 == nw ? 0 : w + 1) {
		uint64_t fr = ~atomic_load_explicit(&r->used[w],
						     memory_order_acquire);
		/* the lowest want - got of them (counted bit by bit: no
		 * popcount instruction in the x86-64 baseline) */
		uint64_t bits = 0;
		for (uint32_t k = got; fr && k < want; k++) {
			bits |= fr & -fr;
			fr &= fr - 1;
		}
		if (!bits)
			continue;
		/* only the owner sets bits: what it saw clear is its own */
		bits &= ~atomic_fetch_or_explicit(&r->used[w], bits,
						   memory_order_acq_rel);
		/* highest first, so that the cache hands them out in address
		 * order */
		while (bits) {
			unsigned k = 63u - (unsigned)__builtin_clzll(bits);
			bits &= ~(1ull << k);
			m->ent[mc_n(m)] = ENT(a, 64u * w + k);
			mc_set_n(m, mc_n(m) + 1);
			got++;
		}
		r->cursor = w;
	}
	if (got)
		atomic_fetch_sub(&r->nfree, (int32_t)got);
	return got;
}

static int
refill(struct nvh_pool *pool, struct nvh_tctx *t, unsigned c)
{
	struct nvh_heap *h = pool->heap;
	if (!t->mc && !(t->mc = mcache_new()))
		return nvh_err(ENOMEM, "out of memory for a thread's cache");
	struct nvh_mcache *m = &t->mc[c];
	for (;;) {
		if (t->mcur[c] < 0) {
			uint64_t a;
			int rc = marena_take(pool, t, c, &a);
			if (rc)
				return rc;
			t->mcur[c] = (int32_t)a;
		}
		uint64_t a = (uint64_t)t->mcur[c];
		if (grab(h, a, m, NVH_MCACHE / 2))
			return 0;
		t->mcur[c] = -1;
		marena_drop(h, a);
	}
}

void
nvh_mcache_drop(struct nvh_heap *h, struct nvh_tctx *t)
{
	for (unsigned c = 0; c < NVH_MCLASSES; c++) {
		if (t->mc) {
			give_n(h, t->mc[c].ent, mc_n(&t->mc[c]));
			mc_set_n(&t->mc[c], 0);
		}
		if (t->mcur[c] >= 0) {
			marena_drop(h, (uint64_t)t->mcur[c]);
			t->mcur[c] = -1;
		}
	}
}

void
nvh_mcache_clear_all(struct nvh_heap *h)
{
	pthread_mutex_lock(&h->tctx_lock);
	for (struct nvh_tctx *t = h->tctxs; t; t = t->next)
		for (unsigned c = 0; t->mc && c < NVH_MCLASSES; c++)
			mc_set_n(&t->mc[c], 0); /* the collection recomputes
						 * used */
	pthread_mutex_unlock(&h->tctx_lock);
}

/* ---- the calls ---- */

static inline __attribute__((always_inline)) int
writable(nvh_pool *pool, const char *fn)
{
	if (!pool)
		return nvh_err(EINVAL, "%s: NULL pool", fn);
	if (nvh_pool_usable(pool, fn))
		return -errno;
	if (pool->rdonly)
		return nvh_err(EROFS, "%s: %s: pool is open read-only", fn,
			       pool->path);
	if (atomic_load_explicit(&pool->failed, memory_order_relaxed))
		return nvh_err(EIO, "%s: %s: an earlier write to the medium "
			       "failed: the pool takes no more changes", fn,
			       pool->path);
	return 0;
}

/* Larger than a malloc class: a logged object of type NVH_TYPEID_MALLOC
 * (durable when this returns, collected if a crash leaves it
 * unreachable). */
static void *
big_malloc(nvh_pool *pool, struct nvh_tctx *t, size_t size)
{
	int rc = need_feature(pool);
	uint64_t off = 0;
	if (!rc)
		rc = nvh_heap_alloc_loose(pool, t, size,
					  NVH_HDR_MAKE(NVH_TYPEID_MALLOC, 0, 0),
					  &off);
	if (rc) {
		nvh_err_prefix("nvh_malloc: %s: ", pool->path);
		return NULL;
	}
	return pool->base + off;
}

NVH_API void *
nvh_malloc(nvh_pool *pool, size_t size)
{
	int rc = writable(pool, "nvh_malloc");
	if (rc)
		return NULL;
	struct nvh_heap *h = pool->heap;
	struct nvh_tctx *t = nvh_tctx_get(h);
	if (!t)
		return nvh_err_null(ENOMEM, "nvh_malloc: out of memory");
	if (nvh_tctx_enter(h, t, "nvh_malloc"))
		return NULL;
	void *p;
	if (size > NVH_MALLOC_MAX) {
		p = big_malloc(pool, t, size);
		nvh_tctx_leave(t);
		return p;
	}
	unsigned c = nvh_mclass_of(size);
	if (__builtin_expect(!t->mc || !mc_n(&t->mc[c]), 0) &&
	    (rc = refill(pool, t, c))) {
		nvh_err_prefix("nvh_malloc: %s: ", pool->path);
		nvh_tctx_leave(t);
		return NULL;
	}
	struct nvh_mcache *m = &t->mc[c];
	uint32_t n = mc_n(m) - 1;
	uint64_t e = m->ent[n];
	mc_set_n(m, n);
	p = pool->base + block_off(h, ENT_A(e), ENT_B(e));
	/* allocated from now on: nvh_mfree's mark cleared (a plain store
	 * into the block, which need not be durable: the user writes and
	 * persists the block before linking it) */
	*(uint64_t *)p = 0;
	nvh_persist_dontcare(&pool->persist, p, 8);
	nvh_tctx_leave(t);
	return p;
}

NVH_API void *
nvh_calloc(nvh_pool *pool, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return nvh_err_null(ENOMEM, "nvh_calloc: %zu x %zu bytes "
				    "overflows", n, size);
	void *p = nvh_malloc(pool, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

/* The block holding p: 0 and its arena, block (malloc arenas) or object
 * (*big set), and usable size; or an error naming fn. */
static int
find_block(nvh_pool *pool, const void *p, const char *fn, uint64_t *ap,
	   uint64_t *bp, int *big, size_t *usable)
{
	struct nvh_heap *h = pool->heap;
	const char *c = p;
	uint64_t a, b, in;
	*big = 0;
	if (c < pool->base || c >= pool->base + nvh_pool_size(pool) ||
	    nvh_arena_at(h, (uint64_t)(c - pool->base), &a, &in) ||
	    a >= nvh_heap_narenas(h))
		return nvh_err(EINVAL, "%s: %s: %p is not a block of this pool",
			       fn, pool->path, p);
	uint64_t off = (uint64_t)(c - pool->base);
	struct nvh_arena_rt *r = &h->arena[a];
	if (r->kind == NVH_K_MALLOC) {
		if (mblock_at(h, a, off, &b))
			return nvh_err(EINVAL, "%s: %s: %p (pool offset %" PRIu64
				       ") is not the start of a block",
				       fn, pool->path, p, off);
		if (!mblock_allocated(pool, r, b, off))
			return nvh_err(EINVAL, "%s: %s: %p (pool offset %" PRIu64
				       ") is not allocated (a double free?)",
				       fn, pool->path, p, off);
		*ap = a;
		*bp = b;
		*usable = nvh_mclasses[r->cls].size;
		return 0;
	}
	uint64_t size;
	const struct nvh_objhdr *oh = nvh_heap_object(pool,
		(nvh_oid){nvh_oid_tagged(pool, off)}, &size);
	if (!oh || NVH_HDR_TYPE(oh->word) != NVH_TYPEID_MALLOC)
		return nvh_err(EINVAL, "%s: %s: %p (pool offset %" PRIu64 ") is "
			       "not a block of nvh_malloc%s", fn, pool->path, p,
			       off, oh ? " (an object of nvh_alloc or a "
			       "transaction: free it with nvh_free or "
			       "nvh_tx_free)" : "");
	*big = 1;
	*usable = size;
	return 0;
}

static int
mfree_busy(nvh_pool *pool, struct nvh_tctx *t, void *p)
{
	struct nvh_heap *h = pool->heap;
	uint64_t a, b;
	int big;
	size_t usable;
	int rc = find_block(pool, p, "nvh_mfree", &a, &b, &big, &usable);
	if (rc)
		return rc;
	if (big) {
		struct nvh_blk k;
		uint64_t off = (uint64_t)((char *)p - pool->base);
		rc = nvh_blk_claim(pool, off, &k);
		if (!rc)
			rc = nvh_heap_free(pool, t, &k, NULL, 0);
		if (rc)
			nvh_err_prefix("nvh_mfree: %s: ", pool->path);
		return rc;
	}
	/* free from now on (find_block saw it allocated): the mark a second
	 * nvh_mfree of it finds while it waits in a cache (a plain store,
	 * never made durable: the collection after a crash ignores it) */
	*(uint64_t *)p = nvh_mfree_mark;
	nvh_persist_dontcare(&pool->persist, p, 8);
	if (!t->mc && !(t->mc = mcache_new())) {
		/* no cache: straight back to the arena */
		uint64_t e = ENT(a, b);
		give_n(h, &e, 1);
		return 0;
	}
	struct nvh_mcache *m = &t->mc[h->arena[a].cls];
	if (mc_n(m) == NVH_MCACHE) {
		/* the older half goes back to its arenas */
		give_n(h, m->ent, NVH_MCACHE / 2);
		memmove(m->ent, m->ent + NVH_MCACHE / 2,
			NVH_MCACHE / 2 * sizeof(m->ent[0]));
		mc_set_n(m, NVH_MCACHE / 2);
	}
	m->ent[mc_n(m)] = ENT(a, b);
	mc_set_n(m, mc_n(m) + 1);
	return 0;
}

NVH_API int
nvh_mfree(nvh_pool *pool, void *p)
{
	if (!p)
		return 0;
	int rc = writable(pool, "nvh_mfree");
	if (rc)
		return rc;
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!t)
		return nvh_err(ENOMEM, "nvh_mfree: out of memory");
	if ((rc = nvh_tctx_enter(pool->heap, t, "nvh_mfree")))
		return rc;
	rc = mfree_busy(pool, t, p);
	nvh_tctx_leave(t);
	return rc;
}

NVH_API size_t
nvh_malloc_usable_size(nvh_pool *pool, const void *p)
{
	uint64_t a, b;
	int big;
	size_t usable;
	if (!pool || !p || nvh_pool_usable(pool, "nvh_malloc_usable_size") ||
	    find_block(pool, p, "nvh_malloc_usable_size", &a, &b, &big,
		       &usable))
		return 0;
	return usable;
}

NVH_API void *
nvh_realloc(nvh_pool *pool, void *p, size_t size)
{
	if (!p)
		return nvh_malloc(pool, size);
	if (writable(pool, "nvh_realloc"))
		return NULL;
	if (size == 0) {
		nvh_mfree(pool, p);
		return NULL;
	}
	uint64_t a, b;
	int big;
	size_t usable;
	if (find_block(pool, p, "nvh_realloc", &a, &b, &big, &usable))
		return NULL;
	/* the same block while it fits and is not more than twice too big
	 * (a malloc class's neighbours are within 25%) */
	if (size <= usable && (big ? size > usable / 2
				   : nvh_mclass_of(size) ==
					     pool->heap->arena[a].cls))
		return p;
	void *q = nvh_malloc(pool, size);
	if (!q)
		return NULL; /* p is unchanged */
	memcpy(q, p, size < usable ? size : usable);
	nvh_mfree(pool, p);
	return q;
}
