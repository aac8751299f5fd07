/*
 * nvheap/alloc.h -- persistent objects: allocation outside transactions,
 * object ids, statistics.
 *
 * An object is named by an nvh_oid, an 8-byte offset into its pool (0 is
 * null), never by an address: addresses change from run to run.
 * nvh_direct() turns an oid into an address in the current mapping.
 */
#ifndef NVHEAP_ALLOC_H
#define NVHEAP_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include <nvheap/persist.h>
#include <nvheap/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nvh_oid {
	uint64_t off;
} nvh_oid;

#define NVH_OID_NULL ((nvh_oid){0})
#define NVH_OID_IS_NULL(o) ((o).off == 0)

/* Address of the object, or NULL for null or an offset outside the pool. */
NVH_API void *nvh_direct(const nvh_pool *pool, nvh_oid oid);

/* The oid of the object at `addr` in this pool's mapping (no check that an
 * object starts there), or null. */
NVH_API nvh_oid nvh_oid_of(const nvh_pool *pool, const void *addr);

/*
 * The pool's root slot: a persistent nvh_oid in the pool header area,
 * the place to anchor the first object (nvh_alloc(pool, nvh_root_slot(pool),
 * ...)).  Everything else is reachable from there.
 */
NVH_API nvh_oid *nvh_root_slot(nvh_pool *pool);

/*
 * Initialises a new object before it becomes visible.  Return 0, or
 * nonzero to cancel the allocation (nvh_alloc then fails with ECANCELED).
 */
typedef int (*nvh_ctor)(nvh_pool *pool, void *obj, void *arg);

/*
 * Allocate `size` bytes (type id `type`, stored with the object) and, in
 * one atomic step, mark them allocated and store their oid into *dest.
 * If `ctor` is given it runs first and its stores are made durable before
 * the object is published; without it the contents are unspecified.
 * `dest` must be 8-byte aligned and lie in this pool: the root slot or
 * inside a live object.  Whatever a crash interrupts, afterwards either
 * the object is allocated and *dest holds its oid, or neither.
 *
 * Typed objects (nvheap/obj.h) keep reference counts that only
 * transactions maintain, so nvh_alloc refuses with EINVAL, changing
 * nothing, a dest that
 *   - is a weak pointer field, or a pointer field with a target type, of
 *     a typed object (use nvh_tx_alloc_typed and NVH_TX_SET);
 *   - is the root slot or an untyped ("any") pointer field and holds a
 *     reference-counted object (replacing it would leave its count wrong:
 *     change it with nvh_tx_set);
 *   - lies inside nvheap's own objects (the type table).
 * The root slot and "any" fields may receive an object when they hold
 * null, an untyped or an NVH_TYPE_MANUAL object.
 *
 * Cost in persist barriers: 1 (2 with a constructor).  Errors: EINVAL (bad
 * dest or size 0), ENOMEM (no room; the pool is unchanged), ECANCELED
 * (ctor refused), EIO (the medium failed).
 */
NVH_API int nvh_alloc(nvh_pool *pool, nvh_oid *dest, size_t size,
		      uint32_t type, nvh_ctor ctor, void *arg);

/*
 * Free the object *dest names and set *dest to null, in one atomic step.
 * A null *dest is a no-op.  Refused with EINVAL, changing nothing, if *dest
 * is not the start of a live object of this pool (double free, interior
 * pointer, garbage), is a reference-counted object (unlink it in a
 * transaction: it is freed at zero), or dest itself is not a valid place
 * (as for nvh_alloc: inside the pool, aligned, not in nvheap's own
 * objects).  Cost: 1 persist barrier.
 */
NVH_API int nvh_free(nvh_pool *pool, nvh_oid *dest);

/* Bytes usable in the object (its block size), or 0 if oid is not a live
 * object. */
NVH_API size_t nvh_usable_size(nvh_pool *pool, nvh_oid oid);

/* The type id the object was allocated with. */
NVH_API uint32_t nvh_type_of(nvh_pool *pool, nvh_oid oid);

#define NVH_MAX_CLASSES_API 64

struct nvh_class_stats {
	uint32_t block_size;   /* bytes per block */
	uint32_t blocks_per_arena;
	uint64_t arenas;       /* arenas serving the class */
	uint64_t objects;      /* live objects */
};

/*
 * Occupancy of the heap.  Blocks that operations in flight hold reserved
 * count as neither allocated nor free; that aside, a pool reads what a
 * reopen of it would read.
 *
 * arenas_free counts the arenas free on the medium that hold no reserved
 * block (an arena a thread took for a size class but in which no
 * allocation committed yet is still free).  arenas_small counts those
 * whose arena-table entry names a size class, empty ones included (a
 * reopen keeps them); arenas_free + arenas_small + arenas_large == arenas.
 *
 * free_bytes is the space allocations can get: arena_size for every free
 * arena and every small arena with no block allocated or reserved (an
 * allocation that needs whole arenas takes those back), plus block_size
 * for each free block of the other small arenas.  Blocks reserved by
 * operations in flight are not free.  So a pool whose objects were all
 * freed reports what it reported empty, and one whose operations failed
 * or rolled back reports what it reported before them.  (Exception: a log
 * chunk holding a large transaction's commit or abort record stays
 * reserved, one arena, until its lane next starts a pass; a reopen frees
 * it.)  An allocation fails with ENOMEM only when no free block of its
 * class and no run of free arenas big enough can be had this way.
 */
struct nvh_stats {
	uint64_t pool_size;
	uint64_t arena_size;
	uint64_t arenas;          /* in the pool */
	uint64_t arenas_free;     /* free on the medium, nothing reserved */
	uint64_t arenas_small;    /* serving a size class */
	uint64_t arenas_large;    /* part of a large object */
	uint64_t objects;         /* live objects, small and large */
	uint64_t allocated_bytes; /* their block sizes */
	uint64_t free_bytes;      /* what allocations can get (above) */
	uint64_t large_objects;
	uint64_t large_bytes;
	uint64_t max_small;       /* largest size served by a class */
	uint32_t nclasses;
	uint32_t nlanes;
	struct nvh_class_stats cls[NVH_MAX_CLASSES_API];
	struct nvh_persist_stats persist;
	uint64_t checkpoints;     /* since open */
	uint64_t recovered_records; /* replayed by the last open */
	/* nvh_malloc (nvheap/malloc.h): its arenas (not counted above), the
	 * blocks allocated in them and their bytes (blocks in threads'
	 * caches count as free); its large blocks are objects above */
	uint64_t arenas_malloc;
	uint64_t malloc_blocks;
	uint64_t malloc_bytes;
};

NVH_API int nvh_stats(nvh_pool *pool, struct nvh_stats *st);

#ifdef __cplusplus
}
#endif
#endif
