/*
 * malloc.h -- the malloc arenas (heap/malloc.c): nvh_malloc's blocks,
 * whose allocation state lives in DRAM and reaches the medium only at a
 * clean close; after a crash the collector (objects/gc.c) rebuilds it
 * from what is reachable.  docs/malloc.md has the design.
 *
 * Per malloc arena in DRAM (struct nvh_arena_rt, kind NVH_K_MALLOC):
 *   block b allocated to the user <=> used bit b and the block's first
 *                   word is not nvh_mfree_mark (nvh_malloc clears it,
 *                   nvh_mfree sets it: no shared word on the fast paths)
 *   live bit b  <=> allocated, as of the last nvh_malloc_sync_live, the
 *                   load from the medium or the collection's sweep (what
 *                   a clean close writes to the arena's bitmap)
 *   used bit b  <=> live, or held in some thread's cache, or past the
 *                   class's last block
 *   nfree        == blocks whose used bit is clear (transiently one off
 *                   while a give and a grab race)
 *   state OWNED  <=> some thread context's mcur[cls] is this arena
 *   in_list       => state AVAILABLE
 */
#ifndef NVH_HEAP_MALLOC_H
#define NVH_HEAP_MALLOC_H

#include <stddef.h>
#include <stdint.h>

#define NVH_MCLASSES 36u
#define NVH_MALLOC_MAX 16384u /* larger: a logged NVH_TYPEID_MALLOC object */
#define NVH_MCACHE 64u        /* blocks a thread keeps per class */
#define NVH_MBM_WORDS 256u    /* DRAM bitmap words of a malloc arena (the
			       * most a class needs: 16-byte blocks, 254) */

struct nvh_mclass {
	uint32_t size, nblocks, blocks_off, nwords;
	/* ceil(2^NVH_MRECIP_SHIFT / size): rel / size == rel * recip >>
	 * NVH_MRECIP_SHIFT for every rel < NVH_ARENA_SIZE (heap/malloc.c),
	 * so that finding a block takes no division */
	uint64_t recip;
};
#define NVH_MRECIP_SHIFT 40u

/* computed at load from the sizes (heap/malloc.c); read-only after */
extern struct nvh_mclass nvh_mclasses[NVH_MCLASSES];

/* The malloc class of a request of n bytes (n <= NVH_MALLOC_MAX). */
static inline unsigned
nvh_mclass_of(size_t n)
{
	if (n <= 128)
		return n ? (unsigned)((n + 15) / 16 - 1) : 0;
	unsigned p = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
	size_t base = (size_t)1 << p, step = base / 4;
	return 8u + (p - 7u) * 4u + (unsigned)((n - 1 - base) / step);
}

/* rel / m->size, without a division (exact for rel < 2^20: malloc.c). */
static inline uint64_t
nvh_mclass_div(const struct nvh_mclass *m, uint64_t rel)
{
	return rel * m->recip >> NVH_MRECIP_SHIFT;
}

/* A thread's cache of one class: packed (arena << 16 | block). */
struct nvh_mcache {
	uint32_t n;
	uint64_t ent[NVH_MCACHE];
};

struct nvh_pool;
struct nvh_heap;
struct nvh_tctx;

/* arena.c's open, per MALLOC table entry: its DRAM state from the
 * medium's bitmap (trusted after a clean close; the collector replaces
 * it otherwise).  0 or an error. */
int nvh_marena_load(struct nvh_heap *h, uint64_t a, unsigned cls);
/* A thread's context goes (exit or heap close): its cached blocks and
 * owned arenas go back. */
void nvh_mcache_drop(struct nvh_heap *h, struct nvh_tctx *t);
/* Every thread's cache emptied (the collector: no thread is in a call). */
void nvh_mcache_clear_all(struct nvh_heap *h);
/* The clean close: every malloc arena's live bits onto the medium, one
 * fence.  0 or the fence's error. */
int nvh_malloc_persist(struct nvh_pool *pool);
/* live computed from used and the caches (the fast paths do not keep
 * it): for readers of live (the close, the checks), with no thread in a
 * call, or accepting a view that races one. */
void nvh_malloc_sync_live(struct nvh_heap *h);
/* Blocks allocated to the user and their bytes (nvh_stats; exact with no
 * thread in a call). */
void nvh_malloc_counts(struct nvh_heap *h, uint64_t *blocks, uint64_t *bytes);
/* nvh_mfree's mark in a free block's first word (per process; never an
 * oid). */
extern uint64_t nvh_mfree_mark;
/* The block of malloc arena a holding pool offset off (its start): 0 and
 * *b, or -1. */
int nvh_mblock_at(const struct nvh_heap *h, uint64_t a, uint64_t off,
		  uint64_t *b);
/* Is pool offset off the start of an allocated nvh_malloc block (of a
 * malloc arena)? */
int nvh_mblock_live(const struct nvh_pool *pool, uint64_t off);
/* Empty malloc arenas nobody owns become free arenas (records of
 * RECLAIM_BATCH): how many, or an error. */
int64_t nvh_marenas_reclaim(struct nvh_pool *pool, struct nvh_tctx *t);
/* After a collection marked live[] of every malloc arena: used, nfree,
 * states and lists follow. */
void nvh_malloc_rebuilt(struct nvh_heap *h);

#endif
