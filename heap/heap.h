/*
 * heap.h -- the allocator's DRAM state and the interfaces between its
 * files: heap.c (format, open, validation, rebuild), arena.c (arenas,
 * blocks, class lists, thread contexts), alloc.c (nvh_alloc, nvh_free),
 * stats.c.
 *
 * Invariants (per small arena, once scanned):
 *   live  subset of used;  popcount(used) + nfree == nblocks
 *   live bit b  <=>  block b is allocated by a committed record and no
 *                   free of it is in progress
 *   used bit b  <=>  live, or reserved by an allocation in progress, or
 *                   freed by a free in progress
 *   state OWNED <=> some thread context's cur[cls] is this arena
 *   in_list      => state is UNSCANNED or AVAILABLE
 *   assign_pending => nfree < nblocks, or the arena is some thread's cur
 *                   (an arena free on the medium holding no reserved block
 *                   is a free arena in DRAM too: arena.c, give_back)
 * Lock order: heap tctx_lock, then a thread context's lock, then class list
 * lock, then arena lock, then heap arena_lock.
 */
#ifndef NVH_HEAP_HEAP_H
#define NVH_HEAP_HEAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <nvheap/alloc.h>

#include "heap/layout.h"
#include "heap/malloc.h"

struct nvh_pool;
struct nvh_rec;

enum nvh_arena_state {
	NVH_A_UNSCANNED = 0, /* SMALL, bitmap not read yet */
	NVH_A_AVAILABLE,     /* SMALL, may have free blocks, not owned */
	NVH_A_OWNED,         /* SMALL, a thread allocates from it */
	NVH_A_FULL,          /* SMALL, no free block when last looked */
	NVH_A_NONE,          /* FREE, LARGE or part of a run */
};

/* DRAM kinds: the committed kind, or the one an operation in flight set. */
enum nvh_dram_kind { NVH_K_FREE, NVH_K_SMALL, NVH_K_LARGE, NVH_K_CONT,
		     NVH_K_MALLOC /* heap/malloc.h */ };

struct nvh_arena_rt {
	pthread_mutex_t lock;      /* scanning */
	_Atomic int state;
	uint8_t kind;              /* enum nvh_dram_kind */
	uint8_t cls;
	uint8_t in_list;
	_Atomic uint8_t assign_pending; /* SMALL in DRAM, table entry FREE */
	uint32_t run;              /* LARGE: arenas in the run */
	_Atomic int32_t nfree;
	uint32_t cursor;           /* next-fit word (owner only) */
	_Atomic uint64_t *used;
	_Atomic uint64_t *live;
	uint32_t bm_cap;           /* words in used and live (kept for the
				    * arena's next life: a small arena's
				    * take 64, a malloc arena's 256) */
	int32_t prev, next;        /* class list */
	_Atomic int large_live;    /* LARGE head: 1 live, 0 free in progress */
	uint32_t seg;              /* its segment */
	uint32_t mowner;           /* malloc: its last owner's hint
				    * (heap/malloc.c: marena_take) */
	uint64_t off, tab, bm;     /* pool offsets: the arena, its table
				    * entry, its bitmap slot */
};

/*
 * A segment: arenas whose table entries, bitmap slots and 256 KiB each
 * lie contiguously.  Segment 0 is the heap as created (its header says
 * where); growth appends the others (heap/grow.c, heap/layout.h).  A
 * large run never crosses a segment's end.  Written once, before the
 * count that publishes it (nsegs, release).
 */
struct nvh_seg {
	uint64_t start;            /* pool offset of its header (0: H) */
	uint64_t first, n;         /* its arenas [first, first + n) */
	uint64_t table_off, bitmaps_off, arenas_off;
	uint64_t end;              /* arenas_off + n * NVH_ARENA_SIZE */
};

#define NVH_MAX_SEGS 65536u /* segments a pool may have (DRAM: reserved) */

struct nvh_class_rt {
	pthread_mutex_t lock;
	int32_t head;
	uint32_t nwords;           /* bitmap words in use */
} __attribute__((aligned(64)));

/* One per (pool, thread): owned arenas, preferred lane. */
struct nvh_tctx {
	struct nvh_tctx *next;    /* the heap's list (tctx_lock) */
	struct nvh_tctx *tnext;   /* the thread's list (its own) */
	_Atomic int orphan;       /* the heap closed: only the thread's */
	struct nvh_heap *heap;
	unsigned lane;
	_Atomic int busy;         /* in an atomic alloc or free (its own) */
	/* cur[]: held by the thread while it allocates (uncontended), and by
	 * a thread out of space taking this one's spare arenas */
	pthread_mutex_t lock;
	int32_t cur[NVH_MAX_CLASSES];
	/* nvh_malloc's, touched only by the thread (and by the collector or
	 * the heap's close when no thread is in a call) */
	struct nvh_mcache *mc;    /* NVH_MCLASSES, made at the first malloc */
	int32_t mcur[NVH_MCLASSES];
};

struct nvh_heap {
	struct nvh_pool *pool;
	char *base;
	struct nvh_heap_hdr hdr;
	unsigned ncls;
	struct nvh_class_ent cls[NVH_MAX_CLASSES];
	struct nvh_class_rt crt[NVH_MAX_CLASSES];
	/* arenas [0, narenas) exist; growth raises it (release) under
	 * arena_lock after their DRAM state is set up.  The arrays below
	 * are reserved for max_arenas (address space: they never move). */
	_Atomic uint64_t narenas;
	uint64_t max_arenas;
	struct nvh_arena_rt *arena;
	struct nvh_seg *seg;        /* NVH_MAX_SEGS reserved */
	_Atomic uint64_t nsegs;
	_Atomic uint64_t grow_gen;  /* growths so far */
	/* nvh_close is looking (quiesce): read by every call, so on a line
	 * that nothing written often shares */
	_Alignas(64) _Atomic int closing;
	char closing_pad[60];
	struct nvh_class_rt mcrt[NVH_MCLASSES]; /* malloc arenas with free
						 * blocks, per malloc class */
	_Atomic uint64_t nmarenas;  /* malloc arenas */
	pthread_mutex_t arena_lock; /* free arenas, large runs */
	uint64_t *arena_free;       /* 1 bit per arena: free in DRAM */
	uint64_t nfree_arenas;
	uint64_t fit;               /* rotating start of free-arena search */
	pthread_mutex_t tctx_lock;
	struct nvh_tctx *tctxs;
	/* per lane: blocks (transaction chunks) holding commit or abort
	 * records of the lane's current pass, kept reserved until it ends
	 * (nvh_lane_keep); only the lane's holder touches its entry */
	struct nvh_lane_keep {
		struct nvh_blk *blk;
		size_t n, cap;
		uint64_t pass;    /* the lane's pass they belong to */
	} keep[NVH_MAX_LANES];
};

/* heap.c */
int nvh_heap_format(struct nvh_pool *pool);
/* The open, in the steps objects/open.c runs: read and validate the heap
 * header (pool->heap, no arena state yet); say where the log lies and what
 * its records may name; after the log's recovery, rebuild the DRAM state
 * of the arenas. */
int nvh_heap_open(struct nvh_pool *pool);
struct nvh_log_geom;
void nvh_heap_log_geom(const struct nvh_pool *pool, struct nvh_log_geom *g);
int nvh_heap_rebuild(struct nvh_pool *pool);
void nvh_heap_close(struct nvh_pool *pool);
/* Read the bitmaps of the arena holding pool offset `off` (arenas are
 * read lazily), so that a lookup there fails only if nothing is there:
 * 0, or -ENOMEM or -NVH_ECORRUPT (a damaged bitmap) with a message. */
int nvh_heap_scan_at(struct nvh_pool *pool, uint64_t off);
int nvh_heap_verify(struct nvh_pool *pool);
/* Every allocated object on the medium (bitmaps and large runs), in
 * address order; stops early if cb returns nonzero (and returns that). */
int nvh_heap_foreach(struct nvh_pool *pool,
		     int (*cb)(void *arg, uint64_t off, uint64_t size,
			       uint32_t type),
		     void *arg);

static inline uint64_t
nvh_arena_off(const struct nvh_heap *h, uint64_t a)
{
	return h->arena[a].off;
}

static inline uint64_t
nvh_bitmap_off(const struct nvh_heap *h, uint64_t a)
{
	return h->arena[a].bm;
}

static inline uint64_t
nvh_table_off(const struct nvh_heap *h, uint64_t a)
{
	return h->arena[a].tab;
}

static inline const struct nvh_arena_ent *
nvh_arena_ent(const struct nvh_heap *h, uint64_t a)
{
	return (const struct nvh_arena_ent *)(h->base + h->arena[a].tab);
}

static inline uint64_t
nvh_heap_narenas(const struct nvh_heap *h)
{
	return atomic_load_explicit(&h->narenas, memory_order_acquire);
}

/* The segment whose arenas hold pool offset `off` (NULL: none). */
static inline const struct nvh_seg *
nvh_seg_at(const struct nvh_heap *h, uint64_t off)
{
	uint64_t n = atomic_load_explicit(&h->nsegs, memory_order_acquire);
	const struct nvh_seg *s = h->seg;
	if (off >= s[0].arenas_off && off < s[0].end)
		return &s[0];
	uint64_t lo = 1, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (off < s[mid].arenas_off)
			hi = mid;
		else if (off >= s[mid].end)
			lo = mid + 1;
		else
			return &s[mid];
	}
	return NULL;
}

/* The arena holding `off` and where in it; -1 if no arena does. */
static inline int
nvh_arena_at(const struct nvh_heap *h, uint64_t off, uint64_t *a,
	     uint64_t *in)
{
	const struct nvh_seg *s = nvh_seg_at(h, off);
	if (!s)
		return -1;
	*a = s->first + (off - s->arenas_off) / NVH_ARENA_SIZE;
	if (in)
		*in = (off - s->arenas_off) % NVH_ARENA_SIZE;
	return 0;
}

/* Where segment parts lie for n arenas from `start` (heap.c). */
void nvh_seg_layout(struct nvh_seg *sg, uint64_t start, uint64_t first,
		    uint64_t n);
void nvh_seg_hdr_make(const struct nvh_pool *pool, const struct nvh_seg *sg,
		      uint64_t index, struct nvh_seg_hdr *out);
/* The first arena byte after `off` (UINT64_MAX if none). */
uint64_t nvh_heap_next_arena(const struct nvh_heap *h, uint64_t off);

#include "heap/sizeclass.h"

static inline int
nvh_class_of_heap(const struct nvh_heap *h, uint64_t size)
{
	return nvh_class_of(h->cls, h->ncls, size);
}

/* Pool offset of the header of block b of arena a (small) or of the
 * large object heading arena a (b ignored). */
static inline uint64_t
nvh_objhdr_off(const struct nvh_heap *h, uint64_t a, uint64_t b, int large)
{
	return large ? nvh_table_off(h, a) + offsetof(struct nvh_arena_ent, hdr)
		     : nvh_arena_off(h, a) + b * sizeof(struct nvh_objhdr);
}

/* grow.c: add a segment of at least `need` arenas (`need` contiguous)
 * unless a growth finished since the caller read grow_gen as `seen`
 * (then 0: try again).  -ENOMEM with the reason in `why` if the pool
 * may not or cannot grow (fixed size, at its maximum, no address space);
 * other errors (ENOSPC: the disk is full) with a message; nothing is
 * lost either way. */
int nvh_heap_grow(struct nvh_pool *pool, uint64_t need, uint64_t seen,
		  char *why, size_t whylen);
/* Set the pool's growth policy in pool->hdr (written by the caller's
 * header update): opts' max_size and grow_step (nvheap/pool.h).  A pool
 * from before segments gets an exact heap_size.  0 or -EINVAL. */
int nvh_heap_set_policy(struct nvh_pool *pool, uint64_t max_size,
			uint64_t grow_step);
/* Set up the DRAM state of arenas [first, first + n) of segment `si`
 * (arena.c; free on the medium: a new segment's). */
void nvh_arenas_add(struct nvh_heap *h, uint64_t si);

/* arena.c */
/* An arena onto, or off, the doubly linked list at *head (a class's,
 * of either allocator; the caller holds that class's lock). */
void nvh_alist_push(struct nvh_heap *h, int32_t *head, uint64_t a);
void nvh_alist_unlink(struct nvh_heap *h, int32_t *head, uint64_t a);
/* One record setting the table entries of arenas list[0..n) FREE,
 * committed on t's lane: 0 or the error (the DRAM state is the caller's). */
int nvh_arenas_record_free(struct nvh_pool *pool, struct nvh_tctx *t,
			   const uint64_t *list, size_t n);
int nvh_arenas_init(struct nvh_heap *h);
void nvh_arenas_fini(struct nvh_heap *h);
struct nvh_tctx *nvh_tctx_get(struct nvh_heap *h);
/* The calling thread's context if it has one (never creates one). */
struct nvh_tctx *nvh_tctx_peek(struct nvh_heap *h);
/* An atomic allocation or free marks its thread's context busy from its
 * start to its end: -EBUSY (the error set) if a close is looking.  The
 * pairing with nvh_heap_quiesce is explained in arena.c. */
extern int nvh_asym_fence; /* set once, before any heap exists */
int nvh_tctx_refused(struct nvh_heap *h, struct nvh_tctx *t, const char *fn);
static inline int
nvh_tctx_enter(struct nvh_heap *h, struct nvh_tctx *t, const char *fn)
{
	int closing;
	if (__builtin_expect(nvh_asym_fence, 1)) {
		atomic_store_explicit(&t->busy, 1, memory_order_relaxed);
		/* the close's membarrier orders the two */
		atomic_signal_fence(memory_order_seq_cst);
		/* acquire: after an nvh_gc, its changes are seen */
		closing = atomic_load_explicit(&h->closing,
					       memory_order_acquire);
	} else {
		atomic_store(&t->busy, 1);
		closing = atomic_load(&h->closing);
	}
	if (__builtin_expect(!closing, 1))
		return 0;
	return nvh_tctx_refused(h, t, fn);
}
static inline void
nvh_tctx_leave(struct nvh_tctx *t)
{
	/* the operation's last access to the heap is ordered before it */
	atomic_store_explicit(&t->busy, 0, memory_order_release);
}
/* nvh_close: 0 if no context is busy (an enter from now on fails until
 * nvh_heap_unquiesce), else -EBUSY. */
int nvh_heap_quiesce(struct nvh_heap *h);
void nvh_heap_unquiesce(struct nvh_heap *h);
int nvh_arena_scan(struct nvh_heap *h, uint64_t a);
/* A free arena out of the free pool, kind and class set in DRAM (nothing
 * on the medium yet): 0, -ENOMEM (none), or damage. */
int nvh_arena_take_free(struct nvh_heap *h, unsigned kind, unsigned cls,
			uint64_t *out);
/* Put an arena taken so back (its assignment did not commit). */
void nvh_arena_put_free(struct nvh_heap *h, uint64_t a);
/* Take an arena of class c for t (from the class list or a free arena). */
int nvh_arena_take(struct nvh_heap *h, struct nvh_tctx *t, unsigned c,
		   uint64_t *out);
/* Give up ownership (full, or the thread is done); an arena free on the
 * medium and empty goes back to the free pool. */
void nvh_arena_drop(struct nvh_heap *h, uint64_t a);
int64_t nvh_block_reserve(struct nvh_heap *h, uint64_t a);
/* Undo a reservation (t: the caller's context, or NULL); the last one of
 * an arena only reserved in DRAM gives the arena back. */
void nvh_block_unreserve(struct nvh_heap *h, struct nvh_tctx *t, uint64_t a,
			 uint64_t b);
void nvh_block_publish(struct nvh_heap *h, uint64_t a, uint64_t b);
int nvh_block_claim(struct nvh_heap *h, uint64_t a, uint64_t b);
void nvh_block_unclaim(struct nvh_heap *h, uint64_t a, uint64_t b);
void nvh_block_release(struct nvh_heap *h, uint64_t a, uint64_t b);
int nvh_run_take(struct nvh_heap *h, uint64_t n, uint64_t *out);
void nvh_run_put(struct nvh_heap *h, uint64_t first, uint64_t n);
/* Out of space for class `want` (-1: a large run): drop t's arenas, take
 * from other threads the arenas they own that are empty (or, of class
 * `want`, have a free block), and move every empty small arena back to
 * the free pool (for those whose table entry says SMALL, records setting
 * it FREE, up to 1,024 entries each).
 * 0 if something was gained, -ENOMEM if nothing. */
int nvh_arenas_reclaim(struct nvh_pool *pool, struct nvh_tctx *t, int want);
/* A block reserved, allocated or being freed: small (cls >= 0, arena a,
 * block b) or large (cls == -1, run of `run` arenas from a). */
struct nvh_blk {
	uint64_t a, b, off, run;
	int cls;
	uint64_t birth; /* reserve: the serial the new object gets */
};

/* alloc.c: the steps of allocating and freeing, shared by the atomic API
 * and transactions.  reserve -> (record built with blk_rec_alloc,
 * committed) -> blk_publish, or blk_unreserve.  claim -> (record with
 * blk_rec_free, committed) -> blk_release, or blk_unclaim. */
int nvh_blk_reserve(struct nvh_pool *pool, struct nvh_tctx *t, uint64_t size,
		    struct nvh_blk *out);
void nvh_blk_unreserve(struct nvh_pool *pool, const struct nvh_blk *k);
int nvh_blk_rec_alloc(struct nvh_pool *pool, const struct nvh_blk *k,
		      uint64_t word, uint64_t birth, struct nvh_rec *rec);
/* The header of a located block (see nvh_heap_locate). */
struct nvh_objhdr *nvh_blk_hdr(const struct nvh_pool *pool,
			       const struct nvh_blk *k);
void nvh_blk_publish(struct nvh_pool *pool, const struct nvh_blk *k);
int nvh_blk_claim(struct nvh_pool *pool, uint64_t off, struct nvh_blk *out);
void nvh_blk_unclaim(struct nvh_pool *pool, const struct nvh_blk *k);
int nvh_blk_rec_free(struct nvh_pool *pool, const struct nvh_blk *k,
		     struct nvh_rec *rec);
void nvh_blk_release(struct nvh_pool *pool, const struct nvh_blk *k);
uint64_t nvh_blk_size(const struct nvh_pool *pool, const struct nvh_blk *k);
/* The atomic operations (after the objects layer checked dest): allocate
 * `size` bytes with header word `word` into *dest (expected to hold
 * `old`); free the claimed block k, whose oid v *dest holds. */
int nvh_heap_alloc(struct nvh_pool *pool, nvh_oid *dest, uint64_t old,
		   size_t size, uint64_t word, nvh_ctor ctor, void *arg);
int nvh_heap_free(struct nvh_pool *pool, struct nvh_tctx *t,
		  const struct nvh_blk *k, nvh_oid *dest, uint64_t v);
/* Allocate with no destination (dest NULL frees likewise): *off. */
int nvh_heap_alloc_loose(struct nvh_pool *pool, struct nvh_tctx *t,
			 size_t size, uint64_t word, uint64_t *off);
/* Lanes as the layers above the log hold them: a block kept reserved
 * until the lane's pass ends (a transaction chunk holding its commit or
 * abort record), and giving a lane back (releasing what was kept for a
 * pass that ended meanwhile).  Every holder above the log gives its lane
 * back with nvh_lane_put. */
struct nvh_lane;
int nvh_lane_keep(struct nvh_pool *pool, struct nvh_lane *l,
		  const struct nvh_blk *k);
void nvh_lane_put(struct nvh_pool *pool, struct nvh_lane *l);
/* The header of the allocated object oid names (its start, not inside
 * it), and its block's size in *size (if not NULL); NULL if none. */
struct nvh_objhdr;
const struct nvh_objhdr *nvh_heap_object(const struct nvh_pool *pool,
					 nvh_oid oid, uint64_t *size);
/* Is [off, off+len) a place user data may live (objects, root slot)? */
int nvh_heap_data_ok(const struct nvh_pool *pool, uint64_t off, uint64_t len);

/* Where is `off`: arena, block, offset in block, whether the block is
 * allocated; -1 if `off` lies in no block slot of a small or large arena. */
int nvh_heap_geometry(struct nvh_heap *h, uint64_t off, uint64_t *a,
		      uint64_t *b, uint64_t *in, int *live);
/* Where is `off`: arena, block, offset in block; -1 if not in a block. */
int nvh_heap_locate(struct nvh_heap *h, uint64_t off, uint64_t *a,
		    uint64_t *b, uint64_t *in);

#endif
