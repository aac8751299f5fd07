/*
 * snapset.h -- the set of pool ranges a transaction has snapshotted:
 * sorted, disjoint, touching neighbours merged.  DRAM only.
 *
 * A sorted array of chunks of up to NVH_SNAP_CHUNK ranges each, so an
 * insertion anywhere moves at most one chunk's ranges (and, when a chunk
 * splits, the chunk pointers): a transaction snapshotting 100,000
 * objects in descending or random address order costs O(n log n), where
 * one sorted array cost O(n^2) bytes moved (1.6 s for 100,000, 24 s under
 * ASan).  The commit reads the ranges as one array (nvh_snapset_flat).
 */
#ifndef NVH_TX_SNAPSET_H
#define NVH_TX_SNAPSET_H

#include <stddef.h>
#include <stdint.h>

#include "heap/log/layout.h" /* struct nvh_range */

#define NVH_SNAP_CHUNK 256u

struct nvh_snapchunk {
	uint32_t n;
	struct nvh_range r[NVH_SNAP_CHUNK];
};

struct nvh_snapset {
	struct nvh_snapchunk **c; /* c[0..nc) in use, c[nc..na) spares */
	size_t nc, na, cc;        /* in use, allocated, pointer capacity */
	size_t n;                 /* ranges in all */
	struct nvh_range *flat;   /* nvh_snapset_flat's copy (2+ chunks) */
	size_t cflat;
};

/* A position: (chunk, index) with index < that chunk's n, or the end
 * (nc, 0). */
struct nvh_snappos {
	size_t ci, ri;
};

/* Forget every range (chunks are kept for the next transaction). */
void nvh_snapset_clear(struct nvh_snapset *s);
void nvh_snapset_fini(struct nvh_snapset *s);

/* The first range ending after `off`, or the end. */
struct nvh_snappos nvh_snapset_find(const struct nvh_snapset *s, uint64_t off);

/* The range at p, or NULL at the end. */
static inline const struct nvh_range *
nvh_snapset_at(const struct nvh_snapset *s, struct nvh_snappos p)
{
	return p.ci < s->nc ? &s->c[p.ci]->r[p.ri] : NULL;
}

static inline void
nvh_snapset_next(const struct nvh_snapset *s, struct nvh_snappos *p)
{
	if (++p->ri == s->c[p->ci]->n) {
		p->ci++;
		p->ri = 0;
	}
}

/* The last range, or NULL if none. */
static inline const struct nvh_range *
nvh_snapset_last(const struct nvh_snapset *s)
{
	return s->nc ? &s->c[s->nc - 1]->r[s->c[s->nc - 1]->n - 1] : NULL;
}

/* Add [off, off+len), which overlaps no range of the set (it may touch
 * them: then it is merged).  0, or -ENOMEM with the set unchanged. */
int nvh_snapset_add(struct nvh_snapset *s, uint64_t off, uint64_t len);

/* Every range, in order, as one array of s->n (NULL if none); valid
 * until the set next changes.  NULL with s->n > 0: out of memory. */
const struct nvh_range *nvh_snapset_flat(struct nvh_snapset *s);

#endif
