/*
 * wl_scale.h -- what the scale workloads (wl_scale*.c) share: a pool's
 * census (live objects and the space allocations can get) and the check
 * every one of them ends with.
 *
 * A scale workload builds a big structure in setup() (not explored) and
 * records the census of the pool with and without it; run() does one
 * big operation (a cascade, a FLUSHALL, a rollback) under the simulator,
 * sampled; check() opens the crash image (recovery, and the open's drain
 * of any cascade the crash cut short), reads which of the two states it
 * holds, verifies that state exactly, and calls nvt_scale_verify().
 */
#ifndef NVT_WL_SCALE_H
#define NVT_WL_SCALE_H

#include <stdint.h>

#include <nvheap.h>

#include "tools/crashtest/crash_image.h" /* nvh_ct_copy_file */

struct nvt_census {
	uint64_t objects;    /* nvh_stats: live objects */
	uint64_t free_bytes; /* nvh_stats: what allocations can get */
};

int nvt_census_of(nvh_pool *p, struct nvt_census *c);
/* Open path (eadr), take its census, close. */
int nvt_census_file(const char *path, const char *layout,
		    struct nvt_census *c);

/*
 * The end of every scale check, on the recovered pool: nvh_check clean,
 * nothing dying after the open, and the census equal to `want` (what
 * the state found must leave: space given back, nothing leaked).  `what`
 * names the state found, for the report.  Returns 0 or nvh_crashtest_fail().
 */
int nvt_scale_verify(struct nvh_crashtest_check *k, nvh_pool *p,
		     const struct nvt_census *want, const char *what);

/* Exploration limits of the scale workloads (explore.h): `fences` crash
 * points, a few images at each, one of them with its recovery crashed.
 * Their budget shares (.share) add up to 1, the share of one exhaustive
 * workload: those run first and leave the scale ones most of the time. */
#define NVT_SCALE_LIMITS(fences)                                             \
	.max_fences = (fences), .max_images = 4, .nested_per_point = 1,      \
	.nested_max = 3, .nested_fences = 3

#endif
