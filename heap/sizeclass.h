/*
 * sizeclass.h -- the size-class table, computed once at pool creation and
 * stored in the pool.
 */
#ifndef NVH_HEAP_SIZECLASS_H
#define NVH_HEAP_SIZECLASS_H

#include "heap/layout.h"

/* Fill `out` (room for NVH_MAX_CLASSES); returns the number of classes. */
unsigned nvh_classes_compute(struct nvh_class_ent *out);

/* Smallest class whose blocks hold `size` bytes, or -1 if none (large). */
int nvh_class_of(const struct nvh_class_ent *t, unsigned n, uint64_t size);

#endif
