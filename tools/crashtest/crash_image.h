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
#ifndef NVH_CRASHTEST_CRASH_IMAGE_H
#define NVH_CRASHTEST_CRASH_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <nvheap/crashtest.h>

#include "heap/persist_sim.h"

#define NVH_CT_IMAGES_DEFAULT {.k = 2, .all_subsets_max = 8, .torn = 1, .evict = 1, \
			 .max_evict = 16, .max_images = 0}

struct nvh_ct_delta {
	uint64_t line;
	const uint8_t *data; /* 64 bytes */
};

struct nvh_ct_image {
	uint64_t id;          /* index in the full enumeration of this point */
	char desc[160];       /* e.g. "in-flight {2,5}", "torn line 7 words 0x0f" */
	size_t n;
	const struct nvh_ct_delta *d;
};

/* Return nonzero to stop the enumeration. */
typedef int (*nvh_ct_image_fn)(void *arg, const struct nvh_ct_image *img);

/*
 * Call fn for each crash image of sim's current crash point (those
 * selected, if max_images samples).  Returns the number of images in the
 * full enumeration, or UINT64_MAX if memory ran out.
 */
uint64_t nvh_ct_images(const struct nvh_sim *sim, const struct nvh_crashtest_images *g,
		    uint64_t seed, nvh_ct_image_fn fn, void *arg);

/* The same in two steps, for a caller that wants the total before the
 * images (the scan for dirty lines, the costly part, is done once).
 * nvh_ct_point_new returns NULL and nvh_ct_point_images -1 if memory ran
 * out. */
struct nvh_ct_point;
struct nvh_ct_point *nvh_ct_point_new(const struct nvh_sim *sim,
				const struct nvh_crashtest_images *g, uint64_t seed);
uint64_t nvh_ct_point_total(const struct nvh_ct_point *pt);
int nvh_ct_point_images(struct nvh_ct_point *pt, nvh_ct_image_fn fn, void *arg);
void nvh_ct_point_free(struct nvh_ct_point *pt);

/* Order-free 128-bit hash of the image (durable hash + the delta). */
void nvh_ct_image_hash(const struct nvh_sim *sim, const struct nvh_ct_image *img,
		    uint64_t out[2]);

/* Write the image to dst (nvh_sim_size bytes). */
void nvh_ct_image_write(const struct nvh_sim *sim, const struct nvh_ct_image *img,
		     uint8_t *dst);

/*
 * An image file: a scratch pool file that holds one image at a time for
 * the checks to open by path, rewritten only where it may differ from the
 * next image (crash_image.c says how the checks' own writes are seen).
 */
struct nvh_ct_imgfile;
struct nvh_ct_imgfile *nvh_ct_imgfile_open(const char *path, uint64_t size);
void nvh_ct_imgfile_close(struct nvh_ct_imgfile *f); /* and remove it */
const char *nvh_ct_imgfile_path(const struct nvh_ct_imgfile *f);
const uint8_t *nvh_ct_imgfile_map(const struct nvh_ct_imgfile *f);
/* Writes are incremental (else every image is written whole). */
int nvh_ct_imgfile_tracked(const struct nvh_ct_imgfile *f);
/* Make the file hold img: sim's durable image and the image's delta.
 * -1 if the check before wrote to the file unseen (the images since the
 * last full comparison may have been wrong: the exploration stops). */
int nvh_ct_imgfile_write(struct nvh_ct_imgfile *f, const struct nvh_sim *sim,
		       const struct nvh_ct_image *img);
/* At every crash point of sim, after its images: its in-flight lines
 * are about to become durable. */
void nvh_ct_imgfile_fence(struct nvh_ct_imgfile *f, const struct nvh_sim *sim);
/* Durable bytes [off, off+len) changed outside a fence (the simulator's
 * durable_write hook): their pages are written again next time. */
void nvh_ct_imgfile_note(struct nvh_ct_imgfile *f, uint64_t off, uint64_t len);
/* sim's durable image was replaced (nvh_sim_reset): write all next. */
void nvh_ct_imgfile_forget(struct nvh_ct_imgfile *f);

/* Copy a (pool) file; 0 or -1 with errno (explore.c). */
int nvh_ct_copy_file(const char *from, const char *to);

/* splitmix64: the explorer's only source of randomness. */
static inline uint64_t
nvh_ct_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
