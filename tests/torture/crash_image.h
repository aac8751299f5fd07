/*
 * crash_image.h -- the crash images that can result from a crash at the
 * simulator's current crash point (the start of a fence).
 *
 * An image is the durable image plus a delta: a set of lines with the
 * contents they would have.  In a deterministic order, given the seed:
 *
 *   1. subsets of the in-flight lines: all of them when at most
 *      `all_subsets_max` lines are in flight, else every subset of at most
 *      `k` lines, plus the whole set;
 *   2. torn lines: an in-flight line of which only some of its changed
 *      8-byte words persisted (aligned words never tear), alone and with
 *      the other in-flight lines;
 *   3. evictions: dirty lines that were never flushed, persisted anyway
 *      (each alone, sampled beyond `max_evict`; all of them; all of them
 *      plus every in-flight line).
 *
 * Only lines whose contents differ from the durable image count, so no
 * two deltas describe the same change twice; images from different
 * crash points can still be equal, which the explorer's hash catches.
 */
#ifndef NVT_CRASH_IMAGE_H
#define NVT_CRASH_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "heap/persist_sim.h"

struct nvt_gen {
	unsigned k;               /* subset size bound when many lines are in flight */
	unsigned all_subsets_max; /* every subset when at most this many */
	int torn;
	int evict;
	unsigned max_evict;       /* single-line evictions, sampled beyond */
	unsigned max_images;      /* per crash point, sampled beyond; 0 = all */
};

#define NVT_GEN_DEFAULT {.k = 2, .all_subsets_max = 8, .torn = 1, .evict = 1, \
			 .max_evict = 16, .max_images = 0}

struct nvt_delta {
	uint64_t line;
	const uint8_t *data; /* 64 bytes */
};

struct nvt_image {
	uint64_t id;          /* index in the full enumeration of this point */
	char desc[160];       /* e.g. "in-flight {2,5}", "torn line 7 words 0x0f" */
	size_t n;
	const struct nvt_delta *d;
};

/* Return nonzero to stop the enumeration. */
typedef int (*nvt_image_fn)(void *arg, const struct nvt_image *img);

/*
 * Call fn for each crash image of sim's current crash point (those
 * selected, if max_images samples).  Returns the number of images in the
 * full enumeration.
 */
uint64_t nvt_images(const struct nvh_sim *sim, const struct nvt_gen *g,
		    uint64_t seed, nvt_image_fn fn, void *arg);

/* The same in two steps, for a caller that wants the total before the
 * images (the scan for dirty lines, the costly part, is done once). */
struct nvt_point;
struct nvt_point *nvt_point_new(const struct nvh_sim *sim,
				const struct nvt_gen *g, uint64_t seed);
uint64_t nvt_point_total(const struct nvt_point *pt);
void nvt_point_images(struct nvt_point *pt, nvt_image_fn fn, void *arg);
void nvt_point_free(struct nvt_point *pt);

/* Order-free 128-bit hash of the image (durable hash + the delta). */
void nvt_image_hash(const struct nvh_sim *sim, const struct nvt_image *img,
		    uint64_t out[2]);

/* Write the image to dst (nvh_sim_size bytes). */
void nvt_image_write(const struct nvh_sim *sim, const struct nvt_image *img,
		     uint8_t *dst);

/*
 * An image file: a scratch pool file that holds one image at a time for
 * the checks to open by path, rewritten only where it may differ from the
 * next image (crash_image.c says how the checks' own writes are seen).
 */
struct nvt_imgfile;
struct nvt_imgfile *nvt_imgfile_open(const char *path, uint64_t size);
void nvt_imgfile_close(struct nvt_imgfile *f); /* and remove it */
const char *nvt_imgfile_path(const struct nvt_imgfile *f);
const uint8_t *nvt_imgfile_map(const struct nvt_imgfile *f);
/* Writes are incremental (else every image is written whole). */
int nvt_imgfile_tracked(const struct nvt_imgfile *f);
/* Make the file hold img: sim's durable image and the image's delta. */
void nvt_imgfile_write(struct nvt_imgfile *f, const struct nvh_sim *sim,
		       const struct nvt_image *img);
/* At every crash point of sim, after its images: its in-flight lines
 * are about to become durable. */
void nvt_imgfile_fence(struct nvt_imgfile *f, const struct nvh_sim *sim);
/* sim's durable image was replaced (nvh_sim_reset): write all next. */
void nvt_imgfile_forget(struct nvt_imgfile *f);

/* splitmix64: the explorer's only source of randomness. */
static inline uint64_t
nvt_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
