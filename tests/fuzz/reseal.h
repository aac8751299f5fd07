/*
 * reseal.h -- recomputing the checksums of a mutated pool image, so that
 * mutations get past the checksums and reach the structural checks.
 */
#ifndef NVF_RESEAL_H
#define NVF_RESEAL_H

#include <stddef.h>
#include <stdint.h>

/* A pool image being mutated, and the byte ranges changed so far. */
struct nvf_img {
	uint8_t *p;
	uint64_t size;
	struct nvf_range {
		uint64_t lo, hi;      /* [lo, hi) */
	} *dirty;
	size_t ndirty, cap;
	int all;                  /* treat every byte as changed */
};

/* Record that [off, off+len) changed (clipped to the image). */
void nvf_dirty_add(struct nvf_img *im, uint64_t off, uint64_t len);
/* Did anything in [off, off+len) change? */
int nvf_dirty(const struct nvf_img *im, uint64_t off, uint64_t len);
void nvf_img_fini(struct nvf_img *im);

/* The sealers, in the order they run (inner checksums before the ones
 * covering them); bit i of `skip` leaves sealer i out. */
enum {
	NVF_SEAL_PAYLOADS,   /* UNDO segments' payload_sum */
	NVF_SEAL_DATA_SUMS,  /* COMMIT records' data_sum */
	NVF_SEAL_RECORDS,    /* every record in every lane and chunk */
	NVF_SEAL_TYPES,      /* the type table */
	NVF_SEAL_HEAP_HDR,   /* class table and heap header */
	NVF_SEAL_POOL_HDRS,  /* both pool header copies */
	NVF_SEAL_CKPT,       /* the checkpoint line's slots */
	NVF_SEAL_N
};
const char *nvf_sealer_name(unsigned i);

/*
 * Recompute every checksum whose covered bytes changed (all of them with
 * im->all), reading the structures' positions from the (mutated) image
 * itself, never outside it.  A sealer that rewrites a checksum marks it
 * changed, so the checksums covering it follow.  Returns how many
 * checksums it rewrote.
 */
unsigned nvf_reseal(struct nvf_img *im, unsigned skip);

/*
 * Walk the records of every lane and of the chunks they announce, as laid
 * out in the image: from each lane's start, a record whose header is
 * plausible (seq != 0, size a multiple of 64 that fits) is visited and
 * skipped by its size, anything else by 64 bytes.  With `valid`, only
 * records whose checksum matches count (the rest are skipped by 64).
 * fn gets the record's pool offset, size and, for records in a chunk, the
 * pool offset of the CHUNK record announcing it (else 0).
 */
void nvf_walk_records(const uint8_t *img, uint64_t size, int valid,
		      void (*fn)(void *arg, uint64_t off, uint32_t rsize,
				 uint64_t chunk),
		      void *arg);

/* XXH3-64 of a record as heap/log/redo.c seals it (bytes [24, size) seeded with
 * the hash of bytes [0, 16)). */
uint64_t nvf_rec_checksum(const uint8_t *rec, uint32_t size);

#endif
