/*
 * sizeclass.c -- size classes.
 *
 * Candidates: 64-byte steps up to 512 bytes, then four per doubling
 * (x1.25, x1.5, x1.75, x2).  For each candidate the number of blocks an
 * arena holds is what fits with its object headers (16 bytes per block,
 * rounded up to a cache line) in front; then the block size is stretched
 * to the largest multiple of 64 that still fits that many blocks, so an
 * arena wastes less than 64 bytes per block.  Candidates that end with the
 * same block count merge into the largest.  The last class is the one
 * with two blocks per arena; anything larger is a large object (a run of
 * whole arenas).
 */
#include "heap/sizeclass.h"

#define LINE 64u

static uint32_t
side_bytes(uint32_t nblocks)
{
	return (nblocks * (uint32_t)sizeof(struct nvh_objhdr) + LINE - 1) &
	       ~(LINE - 1);
}

unsigned
nvh_classes_compute(struct nvh_class_ent *out)
{
	const uint32_t A = NVH_ARENA_SIZE;
	const uint32_t maxblocks = NVH_BITMAP_SLOT * 8u;
	unsigned n = 0;
	uint32_t cand = 64;
	while (n < NVH_MAX_CLASSES) {
		uint32_t nb = A / (cand + (uint32_t)sizeof(struct nvh_objhdr));
		while (nb && side_bytes(nb) + nb * cand > A)
			nb--;
		if (nb > maxblocks)
			nb = maxblocks;
		if (nb < 2)
			break;
		uint32_t side = side_bytes(nb);
		uint32_t bs = ((A - side) / nb) & ~(LINE - 1);
		if (n && out[n - 1].nblocks == nb) {
			out[n - 1].block_size = bs; /* merge into the larger */
		} else {
			out[n].block_size = bs;
			out[n].nblocks = nb;
			out[n].blocks_off = side;
			out[n].reserved = 0;
			n++;
		}
		/* next candidate */
		if (cand < 512) {
			cand += 64;
		} else {
			uint32_t p = 512;
			while (p * 2 <= cand)
				p *= 2;
			uint32_t step = p / 4;
			cand = ((cand / step) + 1) * step;
		}
		if (cand <= out[n - 1].block_size)
			cand = out[n - 1].block_size + LINE;
	}
	return n;
}

int
nvh_class_of(const struct nvh_class_ent *t, unsigned n, uint64_t size)
{
	if (size == 0)
		size = 1;
	unsigned lo = 0, hi = n;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (t[mid].block_size >= size)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo < n ? (int)lo : -1;
}
