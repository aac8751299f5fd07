/*
 * wl_grow.c -- what growing a pool costs (issue 17).
 *
 * grow-64m: one growth step of 64 MiB (nvh_pool_grow: the file extended,
 * the segment written, the header updated) next to what a libpmemobj
 * user does for 64 MiB more, which cannot grow a pool: pmemobj_create a
 * second 64 MiB pool.
 *
 * alloc-grows: a 200 KiB allocation (one arena) in a growing pool whose
 * arenas are all in use, so that it grows the pool by its 64 MiB step,
 * next to the same allocation by libpmemobj in a pool with room.  The
 * pool is refilled, untimed, before each one.  The allocation after it
 * (the first in the new segment's fresh pages) is timed too and printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpmemobj.h>
#include <nvheap.h>

#include "bench.h"

#define STEP (64ull << 20)
#define OBJ (200u << 10)
#define SLOTS 65536

struct gst {
	char path[4096];
	nvh_pool *nvh;
	PMEMobjpool *pop;
	unsigned round;
	uint64_t n;          /* slots in use */
	double after[64];    /* the allocation after the growing one */
	unsigned nafter;
};

static void *
grow_setup(const char *path, unsigned threads)
{
	(void)threads;
	struct gst *s = calloc(1, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	struct nvh_opts o = {.max_size = NVH_GROW_UNLIMITED, .grow_step = STEP};
	s->nvh = nvh_create(path, "bench", 8ull << 20, &o);
	if (!s->nvh) {
		fprintf(stderr, "grow: nvheap: %s\n", nvh_errormsg());
		free(s);
		return NULL;
	}
	nvh_oid *root = nvh_root_slot(s->nvh);
	if (nvh_alloc(s->nvh, root, SLOTS * sizeof(nvh_oid), 1, NULL, NULL)) {
		fprintf(stderr, "grow: nvheap: %s\n", nvh_errormsg());
		nvh_close(s->nvh);
		free(s);
		return NULL;
	}
	nvh_memset_persist(s->nvh, nvh_direct(s->nvh, *root), 0,
			   SLOTS * sizeof(nvh_oid));
	return s;
}

static void
grow_teardown(void *state)
{
	struct gst *s = state;
	if (s->nafter) {
		double sum = 0;
		for (unsigned i = 0; i < s->nafter; i++)
			sum += s->after[i];
		fprintf(stderr, "  alloc-grows: the allocation after a growth "
			"(fresh pages of the new segment): %.1f us on average "
			"over %u\n", 1e6 * sum / s->nafter, s->nafter);
	}
	if (s->nvh)
		nvh_close(s->nvh);
	if (s->pop)
		pmemobj_close(s->pop);
	free(s);
}

static double
grow_step_measure(void *state)
{
	struct gst *s = state;
	struct nvh_pool_info i;
	if (nvh_pool_info(s->nvh, &i))
		return -1;
	double t0 = bench_now();
	if (nvh_pool_grow(s->nvh, i.pool_size + STEP)) {
		fprintf(stderr, "grow-64m: %s\n", nvh_errormsg());
		return -1;
	}
	return bench_now() - t0;
}

static void *
pmdk_setup(const char *path, unsigned threads)
{
	(void)threads;
	struct gst *s = calloc(1, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	return s;
}

static double
pmdk_create_measure(void *state)
{
	struct gst *s = state;
	char p[4200];
	snprintf(p, sizeof(p), "%s.%u", s->path, s->round++);
	unlink(p);
	double t0 = bench_now();
	PMEMobjpool *pop = pmemobj_create(p, "bench", STEP, 0600);
	double t = bench_now() - t0;
	if (!pop) {
		fprintf(stderr, "grow-64m: libpmemobj: %s\n", pmemobj_errormsg());
		return -1;
	}
	pmemobj_close(pop);
	unlink(p);
	return t;
}

const struct bench_workload bench_grow_64m = {
	.name = "grow-64m",
	.what = "64 MiB more: a growth step vs libpmemobj creating a pool",
	.threads = 1,
	.nvh = {grow_setup, NULL, grow_teardown, grow_step_measure},
	.pmdk = {pmdk_setup, NULL, grow_teardown, pmdk_create_measure},
};

/* Fill every free arena (untimed) so the next allocation must grow. */
static int
fill(struct gst *s)
{
	nvh_oid *slots = nvh_direct(s->nvh, *nvh_root_slot(s->nvh));
	struct nvh_stats st;
	for (;;) {
		if (nvh_stats(s->nvh, &st))
			return -1;
		if (st.arenas_free == 0)
			return 0;
		if (s->n == SLOTS ||
		    nvh_alloc(s->nvh, &slots[s->n++], OBJ, 1, NULL, NULL))
			return -1;
	}
}

static double
alloc_grows_measure(void *state)
{
	struct gst *s = state;
	if (fill(s) || s->n + 2 > SLOTS)
		return -1;
	nvh_oid *slots = nvh_direct(s->nvh, *nvh_root_slot(s->nvh));
	struct nvh_pool_info a, b;
	nvh_pool_info(s->nvh, &a);
	double t0 = bench_now();
	int rc = nvh_alloc(s->nvh, &slots[s->n++], OBJ, 1, NULL, NULL);
	double t = bench_now() - t0;
	double t1 = bench_now();
	rc |= nvh_alloc(s->nvh, &slots[s->n++], OBJ, 1, NULL, NULL);
	double t2 = bench_now() - t1;
	nvh_pool_info(s->nvh, &b);
	if (rc || b.segments != a.segments + 1) {
		fprintf(stderr, "alloc-grows: %s\n", rc ? nvh_errormsg()
			: "the allocation did not grow the pool");
		return -1;
	}
	if (s->nafter < 64)
		s->after[s->nafter++] = t2;
	return t;
}

static void *
pmdk_alloc_setup(const char *path, unsigned threads)
{
	struct gst *s = pmdk_setup(path, threads);
	s->pop = pmemobj_create(path, "bench", BENCH_POOL_SIZE, 0600);
	if (!s->pop) {
		fprintf(stderr, "alloc-grows: libpmemobj: %s\n",
			pmemobj_errormsg());
		free(s);
		return NULL;
	}
	return s;
}

static double
pmdk_alloc_measure(void *state)
{
	struct gst *s = state;
	PMEMoid *root = pmemobj_direct(pmemobj_root(s->pop, SLOTS *
							   sizeof(PMEMoid)));
	if (!root || s->n >= SLOTS)
		return -1;
	double t0 = bench_now();
	int rc = pmemobj_alloc(s->pop, &root[s->n++], OBJ, 1, NULL, NULL);
	double t = bench_now() - t0;
	return rc ? -1 : t;
}

const struct bench_workload bench_alloc_grows = {
	.name = "alloc-grows",
	.what = "a 200 KiB alloc that grows a full pool by 64 MiB vs one in room",
	.threads = 1,
	.nvh = {grow_setup, NULL, grow_teardown, alloc_grows_measure},
	.pmdk = {pmdk_alloc_setup, NULL, grow_teardown, pmdk_alloc_measure},
};
