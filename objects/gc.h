/*
 * gc.h -- the collection's mark (objects/gc.c), shared with nvh_check.
 */
#ifndef NVH_OBJECTS_GC_H
#define NVH_OBJECTS_GC_H

#include <stddef.h>
#include <stdint.h>

#include <nvheap/malloc.h>

struct nvh_pool;
struct nvh_heap;

struct nvh_gc {
	struct nvh_pool *pool;
	struct nvh_heap *h;
	uint64_t tag, size, narenas;
	uint64_t **mk;            /* per arena: its mark bits (malloc arenas) */
	uint64_t *mkbits;
	uint64_t *stack;          /* the work list: block offsets, or a large
				   * object's index << 4 | 1 */
	size_t n, cap;
	int overflow;
	uint64_t *big, *bigsize;  /* large malloc objects, in address order */
	uint8_t *bigmark;
	size_t nbig, capbig;
	struct nvh_gc_report rep;
};

/* Mark what is reachable (nothing written). 0, or -ENOMEM (g freed). */
int nvh_gc_mark(struct nvh_pool *pool, struct nvh_gc *g);
/* Is the malloc block (or large malloc object) at off marked? */
int nvh_gc_is_marked(const struct nvh_gc *g, uint64_t off);
void nvh_gc_fini(struct nvh_gc *g);
/* Mark and sweep (the open's collection: no other thread yet).  rep may
 * be NULL; the pool keeps it for nvh_gc_last. */
int nvh_gc_run(struct nvh_pool *pool, struct nvh_gc_report *rep);

#endif
