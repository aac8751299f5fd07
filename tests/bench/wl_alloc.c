/*
 * wl_alloc.c -- allocator benchmarks: an atomic allocation into a slot and
 * its free, as one operation, on both libraries.
 *
 *   alloc-free-64     64 bytes, 1 thread
 *   alloc-free-mixed  64 B .. 4 KiB (64 << (i % 7)), 1 thread
 *   alloc-free-64-2t  64 bytes, 2 threads, each its own slot
 *   alloc-free-128k   128 KiB, 1 thread
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpmemobj.h>
#include <nvheap.h>

#include "bench.h"

#define SLOT_STRIDE 8 /* slots per thread: 8 x 8 bytes, a line each */

/* ---- nvheap ---- */

struct nvs {
	nvh_pool *pool;
	nvh_oid *slots;
};

static void *
nvh_setup(const char *path, unsigned threads)
{
	struct nvs *s = calloc(1, sizeof(*s));
	s->pool = nvh_create(path, "bench", BENCH_POOL_SIZE, NULL);
	if (!s->pool) {
		fprintf(stderr, "%s\n", nvh_errormsg());
		free(s);
		return NULL;
	}
	size_t n = (size_t)threads * SLOT_STRIDE * sizeof(nvh_oid);
	if (nvh_alloc(s->pool, nvh_root_slot(s->pool), n, 1, NULL, NULL)) {
		fprintf(stderr, "%s\n", nvh_errormsg());
		return NULL;
	}
	s->slots = nvh_direct(s->pool, *nvh_root_slot(s->pool));
	nvh_memset_persist(s->pool, s->slots, 0, n);
	return s;
}

static void
nvh_teardown(void *state)
{
	struct nvs *s = state;
	nvh_close(s->pool);
	free(s);
}

static int
nvh_pairs(struct nvs *s, unsigned tid, uint64_t n, int mixed, size_t size)
{
	nvh_oid *slot = &s->slots[tid * SLOT_STRIDE];
	for (uint64_t i = 0; i < n; i++) {
		size_t sz = mixed ? (size_t)64 << (i % 7) : size;
		if (nvh_alloc(s->pool, slot, sz, 1, NULL, NULL) ||
		    nvh_free(s->pool, slot)) {
			fprintf(stderr, "nvheap: %s\n", nvh_errormsg());
			return -1;
		}
	}
	return 0;
}

static int nvh_64(void *s, unsigned t, uint64_t n) { return nvh_pairs(s, t, n, 0, 64); }
static int nvh_mixed(void *s, unsigned t, uint64_t n) { return nvh_pairs(s, t, n, 1, 0); }
static int nvh_128k(void *s, unsigned t, uint64_t n) { return nvh_pairs(s, t, n, 0, 128 << 10); }

/* ---- libpmemobj ---- */

struct pms {
	PMEMobjpool *pop;
	PMEMoid *slots;
};

static void *
pmdk_setup(const char *path, unsigned threads)
{
	struct pms *s = calloc(1, sizeof(*s));
	s->pop = pmemobj_create(path, "bench", BENCH_POOL_SIZE, 0600);
	if (!s->pop) {
		fprintf(stderr, "pmemobj_create: %s\n", pmemobj_errormsg());
		free(s);
		return NULL;
	}
	PMEMoid root = pmemobj_root(s->pop, (size_t)threads * SLOT_STRIDE *
						    sizeof(PMEMoid));
	s->slots = pmemobj_direct(root);
	return s;
}

static void
pmdk_teardown(void *state)
{
	struct pms *s = state;
	pmemobj_close(s->pop);
	free(s);
}

static int
pmdk_pairs(struct pms *s, unsigned tid, uint64_t n, int mixed, size_t size)
{
	PMEMoid *slot = &s->slots[tid * SLOT_STRIDE / 2];
	for (uint64_t i = 0; i < n; i++) {
		size_t sz = mixed ? (size_t)64 << (i % 7) : size;
		if (pmemobj_alloc(s->pop, slot, sz, 1, NULL, NULL)) {
			fprintf(stderr, "pmemobj_alloc: %s\n", pmemobj_errormsg());
			return -1;
		}
		pmemobj_free(slot);
	}
	return 0;
}

static int pmdk_64(void *s, unsigned t, uint64_t n) { return pmdk_pairs(s, t, n, 0, 64); }
static int pmdk_mixed(void *s, unsigned t, uint64_t n) { return pmdk_pairs(s, t, n, 1, 0); }
static int pmdk_128k(void *s, unsigned t, uint64_t n) { return pmdk_pairs(s, t, n, 0, 128 << 10); }

#define SIDES(fn_nvh, fn_pmdk)                                               \
	.nvh = {nvh_setup, fn_nvh, nvh_teardown},                            \
	.pmdk = {pmdk_setup, fn_pmdk, pmdk_teardown}

const struct bench_workload bench_alloc_free_64 = {
	.name = "alloc-free-64", .what = "atomic alloc + free of 64 B",
	.threads = 1, SIDES(nvh_64, pmdk_64),
};

const struct bench_workload bench_alloc_free_mixed = {
	.name = "alloc-free-mixed", .what = "atomic alloc + free, 64 B to 4 KiB",
	.threads = 1, SIDES(nvh_mixed, pmdk_mixed),
};

const struct bench_workload bench_alloc_free_64_2t = {
	.name = "alloc-free-64-2t", .what = "alloc-free-64 in 2 threads",
	.threads = 2, SIDES(nvh_64, pmdk_64), .one_thread = "alloc-free-64",
};

const struct bench_workload bench_msync_alloc_free_64 = {
	.name = "msync-alloc-free-64",
	.what = "alloc-free-64 on a disk file (msync)",
	.threads = 1, SIDES(nvh_64, pmdk_64), .msync = 1,
};

const struct bench_workload bench_alloc_free_128k = {
	.name = "alloc-free-128k", .what = "atomic alloc + free of 128 KiB",
	.threads = 1, SIDES(nvh_128k, pmdk_128k),
};
