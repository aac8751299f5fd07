/*
 * wl_open.c -- open-10m: open a 4 GiB pool holding 10 million 64-byte
 * objects and make the first allocation (a 64-byte one, so the allocator
 * must find room among full arenas).  The pools are filled once, untimed;
 * each measured operation is open + first allocation (close and the free
 * of that allocation are not timed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpmemobj.h>
#include <nvheap.h>

#include "bench.h"

#define POOL (4ull << 30)
#define OBJECTS 10000000ull

struct ost {
	char path[4096];
	nvh_pool *nvh;
	PMEMobjpool *pop;
};

static void *
nvh_setup(const char *path, unsigned threads)
{
	(void)threads;
	struct ost *s = calloc(1, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	nvh_pool *p = nvh_create(path, "bench", POOL, NULL);
	if (!p)
		goto fail;
	nvh_oid *root = nvh_root_slot(p);
	if (nvh_alloc(p, root, (OBJECTS + 1) * sizeof(nvh_oid), 1, NULL, NULL))
		goto fail;
	nvh_oid *slots = nvh_direct(p, *root);
	memset(slots, 0, (OBJECTS + 1) * sizeof(nvh_oid));
	nvh_persist(p, slots, (OBJECTS + 1) * sizeof(nvh_oid));
	for (uint64_t i = 0; i < OBJECTS; i++)
		if (nvh_alloc(p, &slots[i], 64, 1, NULL, NULL))
			goto fail;
	if (nvh_close(p))
		goto fail;
	return s;
fail:
	fprintf(stderr, "open-10m: nvheap: %s\n", nvh_errormsg());
	free(s);
	return NULL;
}

static double
nvh_measure(void *state)
{
	struct ost *s = state;
	double t0 = bench_now();
	nvh_pool *p = nvh_open(s->path, "bench", NULL);
	if (!p)
		return -1;
	nvh_oid *slots = nvh_direct(p, *nvh_root_slot(p));
	if (nvh_alloc(p, &slots[OBJECTS], 64, 1, NULL, NULL))
		return -1;
	double t = bench_now() - t0;
	nvh_free(p, &slots[OBJECTS]);
	nvh_close(p);
	return t;
}

static void
nvh_teardown(void *state)
{
	free(state);
}

static void *
pmdk_setup(const char *path, unsigned threads)
{
	(void)threads;
	struct ost *s = calloc(1, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	PMEMobjpool *pop = pmemobj_create(path, "bench", POOL, 0600);
	if (!pop)
		goto fail;
	PMEMoid root = pmemobj_root(pop, (OBJECTS + 1) * sizeof(PMEMoid));
	PMEMoid *slots = pmemobj_direct(root);
	if (!slots)
		goto fail;
	for (uint64_t i = 0; i < OBJECTS; i++)
		if (pmemobj_alloc(pop, &slots[i], 64, 1, NULL, NULL))
			goto fail;
	pmemobj_close(pop);
	return s;
fail:
	fprintf(stderr, "open-10m: libpmemobj: %s\n", pmemobj_errormsg());
	free(s);
	return NULL;
}

static double
pmdk_measure(void *state)
{
	struct ost *s = state;
	double t0 = bench_now();
	PMEMobjpool *pop = pmemobj_open(s->path, "bench");
	if (!pop)
		return -1;
	PMEMoid *slots = pmemobj_direct(pmemobj_root(pop, (OBJECTS + 1) *
							       sizeof(PMEMoid)));
	if (pmemobj_alloc(pop, &slots[OBJECTS], 64, 1, NULL, NULL))
		return -1;
	double t = bench_now() - t0;
	pmemobj_free(&slots[OBJECTS]);
	pmemobj_close(pop);
	return t;
}

const struct bench_workload bench_open_10m = {
	.name = "open-10m",
	.what = "open a 4 GiB pool with 10 M 64-byte objects + first alloc",
	.threads = 1,
	.nvh = {nvh_setup, NULL, nvh_teardown, nvh_measure},
	.pmdk = {pmdk_setup, NULL, nvh_teardown, pmdk_measure},
};
