/*
 * wl_space.c -- space-64, space-1m: fill a 1 GiB pool with objects of 64
 * bytes (1 MiB) until the allocator says it is full; the figure is the
 * bytes the user asked for, as % of the pool file.  Objects are chained
 * (each holds the next one's oid) and allocated in transactions of up to
 * 4096; when a transaction fails for room, the batch halves, down to one
 * object, so the last free byte counts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpmemobj.h>
#include <nvheap.h>

#include "bench.h"

#define POOL (1ull << 30)
#define BATCH 4096

struct sst {
	nvh_pool *nvh;
	PMEMobjpool *pop;
	size_t size;
};

/* ---- nvheap ---- */

static void *
nvh_setup_sz(const char *path, size_t size)
{
	struct sst *s = calloc(1, sizeof(*s));
	s->size = size;
	s->nvh = nvh_create(path, "bench", POOL, NULL);
	if (!s->nvh) {
		fprintf(stderr, "space: nvheap: %s\n", nvh_errormsg());
		free(s);
		return NULL;
	}
	return s;
}

static void *nvh_setup_64(const char *p, unsigned t) { (void)t; return nvh_setup_sz(p, 64); }
static void *nvh_setup_1m(const char *p, unsigned t) { (void)t; return nvh_setup_sz(p, 1 << 20); }

static void
nvh_teardown(void *state)
{
	struct sst *s = state;
	nvh_close(s->nvh);
	free(s);
}

static double
nvh_fill(void *state)
{
	struct sst *s = state;
	nvh_pool *p = s->nvh;
	nvh_oid *link = nvh_root_slot(p);
	uint64_t n = 0;
	for (size_t batch = BATCH; batch > 0;) {
		/* the root slot changes only through nvh_tx_set */
		int root = link == nvh_root_slot(p);
		nvh_tx *tx = nvh_tx_begin(p);
		if (!tx || (!root && nvh_tx_add(tx, link, sizeof(*link)))) {
			fprintf(stderr, "space: nvheap: %s\n", nvh_errormsg());
			if (tx)
				nvh_tx_abort(tx);
			return -1;
		}
		nvh_oid *at = link;
		size_t k = 0;
		for (; k < batch; k++) {
			nvh_oid o = nvh_tx_alloc(tx, s->size, 1, 0);
			if (NVH_OID_IS_NULL(o))
				break;
			if (at == link && root) {
				if (nvh_tx_set(tx, at, o))
					break;
			} else {
				*at = o; /* in a new object, or snapshotted */
			}
			at = nvh_direct(p, o);
			*at = NVH_OID_NULL;
		}
		if (k < batch) { /* no room: rolled back; smaller batches */
			nvh_tx_commit(tx);
			batch /= 2;
			continue;
		}
		if (nvh_tx_commit(tx)) {
			/* a big commit record needs heap room for its log
			 * chunk: when that fails, smaller batches too */
			if (errno != ENOMEM) {
				fprintf(stderr, "space: nvheap: %s\n",
					nvh_errormsg());
				return -1;
			}
			batch /= 2;
			continue;
		}
		n += k;
		link = at;
	}
	return 100.0 * (double)n * (double)s->size / (double)POOL;
}

/* ---- libpmemobj ---- */

static void *
pmdk_setup_sz(const char *path, size_t size)
{
	struct sst *s = calloc(1, sizeof(*s));
	s->size = size;
	s->pop = pmemobj_create(path, "bench", POOL, 0600);
	if (!s->pop) {
		fprintf(stderr, "space: libpmemobj: %s\n", pmemobj_errormsg());
		free(s);
		return NULL;
	}
	return s;
}

static void *pmdk_setup_64(const char *p, unsigned t) { (void)t; return pmdk_setup_sz(p, 64); }
static void *pmdk_setup_1m(const char *p, unsigned t) { (void)t; return pmdk_setup_sz(p, 1 << 20); }

static void
pmdk_teardown(void *state)
{
	struct sst *s = state;
	pmemobj_close(s->pop);
	free(s);
}

static double
pmdk_fill(void *state)
{
	struct sst *s = state;
	PMEMobjpool *pop = s->pop;
	PMEMoid *link = pmemobj_direct(pmemobj_root(pop, sizeof(PMEMoid)));
	uint64_t n = 0;
	for (size_t batch = BATCH; batch > 0;) {
		if (pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE)) {
			fprintf(stderr, "space: libpmemobj: %s\n",
				pmemobj_errormsg());
			return -1;
		}
		PMEMoid *at = link;
		size_t k = 0;
		if (pmemobj_tx_add_range_direct(link, sizeof(*link)) == 0) {
			for (; k < batch; k++) {
				PMEMoid o = pmemobj_tx_xalloc(s->size, 1,
							      POBJ_XALLOC_NO_ABORT);
				if (OID_IS_NULL(o))
					break;
				*at = o;
				at = pmemobj_direct(o);
				*at = OID_NULL;
			}
		}
		if (k < batch) {
			pmemobj_tx_abort(ENOMEM);
			pmemobj_tx_end();
			batch /= 2;
			continue;
		}
		pmemobj_tx_commit();
		if (pmemobj_tx_end()) {
			fprintf(stderr, "space: libpmemobj: %s\n",
				pmemobj_errormsg());
			return -1;
		}
		n += k;
		link = at;
	}
	return 100.0 * (double)n * (double)s->size / (double)POOL;
}

const struct bench_workload bench_space_64 = {
	.name = "space-64", .what = "fill 1 GiB with 64 B objects: % user bytes",
	.threads = 1, .unit = "%",
	.nvh = {.setup = nvh_setup_64, .teardown = nvh_teardown,
		.figure = nvh_fill},
	.pmdk = {.setup = pmdk_setup_64, .teardown = pmdk_teardown,
		 .figure = pmdk_fill},
};

const struct bench_workload bench_space_1m = {
	.name = "space-1m", .what = "fill 1 GiB with 1 MiB objects: % user bytes",
	.threads = 1, .unit = "%",
	.nvh = {.setup = nvh_setup_1m, .teardown = nvh_teardown,
		.figure = nvh_fill},
	.pmdk = {.setup = pmdk_setup_1m, .teardown = pmdk_teardown,
		 .figure = pmdk_fill},
};
