/*
 * wl_tx.c -- transaction benchmarks, each operation one transaction, the
 * same steps on both libraries (libpmemobj through its function API, no
 * setjmp macros).
 *
 *   tx-update-8         add an 8-byte counter, increment, commit
 *   tx-alloc-free-link  free the old object, allocate a new 64 B one,
 *                       fill it, link it from the root, commit
 *   tx-add-64ranges     snapshot 64 separate 64-byte ranges, change
 *                       each, commit
 *   tx-addv-64ranges    the same, the 64 snapshots in one nvh_tx_addv
 *                       (libpmemobj has no such call: 64 adds)
 *   tx-alloc-128k       like tx-alloc-free-link with 128 KiB objects
 *   tx-add-desc-20k     one op = one 64-byte snapshot, in transactions of
 *                       20,000 separate ranges added in descending
 *                       address order (a list built by pushing at its
 *                       head, walked; one sorted array of snapshots made
 *                       this quadratic)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpmemobj.h>
#include <nvheap.h>

#include "bench.h"

#define STRIDE 128 /* per-thread area in the root object */
#define DESC_N 20000 /* tx-add-desc-20k: ranges per transaction */
#define DESC_AREA ((size_t)DESC_N * 128)

struct nroot {
	uint64_t counter;
	nvh_oid slot;
	uint64_t pad[6];
};

struct proot {
	uint64_t counter;
	PMEMoid slot;
	uint64_t pad[5];
};

_Static_assert(sizeof(struct nroot) == 64, "");
_Static_assert(sizeof(struct proot) == 64, "");

/* ---- nvheap ---- */

struct nvs {
	nvh_pool *pool;
	unsigned threads;
	char *root;   /* threads * STRIDE bytes */
	char *ranges; /* 64 ranges of 64 B, 128 B apart, per thread */
	char *desc;   /* DESC_N ranges of 64 B, 128 B apart, per thread */
};

static void *
nvh_setup(const char *path, unsigned threads)
{
	struct nvs *s = calloc(1, sizeof(*s));
	s->pool = nvh_create(path, "bench", BENCH_POOL_SIZE, NULL);
	if (!s->pool)
		goto fail;
	s->threads = threads;
	size_t n = (size_t)threads * STRIDE;
	if (nvh_alloc(s->pool, nvh_root_slot(s->pool), n + 64, 1, NULL, NULL))
		goto fail;
	s->root = nvh_direct(s->pool, *nvh_root_slot(s->pool));
	nvh_memset_persist(s->pool, s->root, 0, n + 64);
	nvh_oid *rg = (nvh_oid *)(s->root + n);
	if (nvh_alloc(s->pool, rg, (size_t)threads * 8192, 1, NULL, NULL))
		goto fail;
	s->ranges = nvh_direct(s->pool, *rg);
	nvh_oid *dg = (nvh_oid *)(s->root + n + 32);
	if (nvh_alloc(s->pool, dg, (size_t)threads * DESC_AREA, 1, NULL, NULL))
		goto fail;
	s->desc = nvh_direct(s->pool, *dg);
	return s;
fail:
	fprintf(stderr, "nvheap: %s\n", nvh_errormsg());
	free(s);
	return NULL;
}

static void
nvh_teardown(void *state)
{
	struct nvs *s = state;
	nvh_close(s->pool);
	free(s);
}

static int
nvh_fail(void)
{
	fprintf(stderr, "nvheap: %s\n", nvh_errormsg());
	return -1;
}

static int
nvh_update8(void *state, unsigned tid, uint64_t n)
{
	struct nvs *s = state;
	struct nroot *r = (struct nroot *)(s->root + tid * STRIDE);
	for (uint64_t i = 0; i < n; i++) {
		nvh_tx *tx = nvh_tx_begin(s->pool);
		if (!tx || nvh_tx_add(tx, &r->counter, 8))
			return nvh_fail();
		r->counter++;
		if (nvh_tx_commit(tx))
			return nvh_fail();
	}
	return 0;
}

static int
nvh_link(struct nvs *s, unsigned tid, uint64_t n, size_t size)
{
	struct nroot *r = (struct nroot *)(s->root + tid * STRIDE);
	for (uint64_t i = 0; i < n; i++) {
		nvh_tx *tx = nvh_tx_begin(s->pool);
		if (!tx || nvh_tx_free(tx, r->slot))
			return nvh_fail();
		nvh_oid o = nvh_tx_alloc(tx, size, 1, 0);
		if (NVH_OID_IS_NULL(o))
			return nvh_fail();
		memset(nvh_direct(s->pool, o), (int)i, size < 64 ? size : 64);
		if (nvh_tx_add(tx, &r->slot, 8))
			return nvh_fail();
		r->slot = o;
		if (nvh_tx_commit(tx))
			return nvh_fail();
	}
	return 0;
}

static int
nvh_link64(void *s, unsigned t, uint64_t n)
{
	return nvh_link(s, t, n, 64);
}

static int
nvh_link128k(void *s, unsigned t, uint64_t n)
{
	return nvh_link(s, t, n, 128 << 10);
}

static int
nvh_ranges(void *state, unsigned tid, uint64_t n)
{
	struct nvs *s = state;
	char *base = s->ranges + (size_t)tid * 8192;
	for (uint64_t i = 0; i < n; i++) {
		nvh_tx *tx = nvh_tx_begin(s->pool);
		if (!tx)
			return nvh_fail();
		for (int k = 0; k < 64; k++) {
			if (nvh_tx_add(tx, base + k * 128, 64))
				return nvh_fail();
			base[k * 128] = (char)i;
		}
		if (nvh_tx_commit(tx))
			return nvh_fail();
	}
	return 0;
}

/* The same with one nvh_tx_addv (one barrier for the 64 snapshots);
 * libpmemobj has no such call, so its side is pmdk_ranges. */
static int
nvh_rangesv(void *state, unsigned tid, uint64_t n)
{
	struct nvs *s = state;
	char *base = s->ranges + (size_t)tid * 8192;
	struct nvh_tx_range v[64];
	for (int k = 0; k < 64; k++)
		v[k] = (struct nvh_tx_range){base + k * 128, 64};
	for (uint64_t i = 0; i < n; i++) {
		nvh_tx *tx = nvh_tx_begin(s->pool);
		if (!tx || nvh_tx_addv(tx, v, 64))
			return nvh_fail();
		for (int k = 0; k < 64; k++)
			base[k * 128] = (char)i;
		if (nvh_tx_commit(tx))
			return nvh_fail();
	}
	return 0;
}

static int
nvh_desc(void *state, unsigned tid, uint64_t n)
{
	struct nvs *s = state;
	char *base = s->desc + (size_t)tid * DESC_AREA;
	for (uint64_t i = 0; i < n;) {
		nvh_tx *tx = nvh_tx_begin(s->pool);
		if (!tx)
			return nvh_fail();
		for (size_t k = DESC_N; k-- > 0 && i < n; i++) {
			if (nvh_tx_add(tx, base + k * 128, 64))
				return nvh_fail();
			base[k * 128] = (char)i;
		}
		if (nvh_tx_commit(tx))
			return nvh_fail();
	}
	return 0;
}

/* ---- libpmemobj ---- */

struct pms {
	unsigned threads;
	PMEMobjpool *pop;
	PMEMoid root;
	char *rootp;
	PMEMoid ranges;
	char *rangesp;
	PMEMoid desc;
	char *descp;
};

static void *
pmdk_setup(const char *path, unsigned threads)
{
	struct pms *s = calloc(1, sizeof(*s));
	s->pop = pmemobj_create(path, "bench", BENCH_POOL_SIZE, 0600);
	if (!s->pop)
		goto fail;
	s->threads = threads;
	s->root = pmemobj_root(s->pop, (size_t)threads * STRIDE);
	s->rootp = pmemobj_direct(s->root);
	if (pmemobj_zalloc(s->pop, &s->ranges, (size_t)threads * 8192, 1))
		goto fail;
	s->rangesp = pmemobj_direct(s->ranges);
	if (pmemobj_zalloc(s->pop, &s->desc, (size_t)threads * DESC_AREA, 1))
		goto fail;
	s->descp = pmemobj_direct(s->desc);
	return s;
fail:
	fprintf(stderr, "libpmemobj: %s\n", pmemobj_errormsg());
	free(s);
	return NULL;
}

static void
pmdk_teardown(void *state)
{
	struct pms *s = state;
	pmemobj_close(s->pop);
	free(s);
}

static int
pmdk_fail(void)
{
	fprintf(stderr, "libpmemobj: %s\n", pmemobj_errormsg());
	return -1;
}

static int
pmdk_update8(void *state, unsigned tid, uint64_t n)
{
	struct pms *s = state;
	struct proot *r = (struct proot *)(s->rootp + tid * STRIDE);
	for (uint64_t i = 0; i < n; i++) {
		if (pmemobj_tx_begin(s->pop, NULL, TX_PARAM_NONE) ||
		    pmemobj_tx_add_range_direct(&r->counter, 8))
			return pmdk_fail();
		r->counter++;
		pmemobj_tx_commit();
		if (pmemobj_tx_end())
			return pmdk_fail();
	}
	return 0;
}

static int
pmdk_link(struct pms *s, unsigned tid, uint64_t n, size_t size)
{
	struct proot *r = (struct proot *)(s->rootp + tid * STRIDE);
	for (uint64_t i = 0; i < n; i++) {
		if (pmemobj_tx_begin(s->pop, NULL, TX_PARAM_NONE))
			return pmdk_fail();
		if (!OID_IS_NULL(r->slot) && pmemobj_tx_free(r->slot))
			return pmdk_fail();
		PMEMoid o = pmemobj_tx_alloc(size, 1);
		if (OID_IS_NULL(o))
			return pmdk_fail();
		memset(pmemobj_direct(o), (int)i, size < 64 ? size : 64);
		if (pmemobj_tx_add_range_direct(&r->slot, sizeof(r->slot)))
			return pmdk_fail();
		r->slot = o;
		pmemobj_tx_commit();
		if (pmemobj_tx_end())
			return pmdk_fail();
	}
	return 0;
}

static int
pmdk_link64(void *s, unsigned t, uint64_t n)
{
	return pmdk_link(s, t, n, 64);
}

static int
pmdk_link128k(void *s, unsigned t, uint64_t n)
{
	return pmdk_link(s, t, n, 128 << 10);
}

static int
pmdk_ranges(void *state, unsigned tid, uint64_t n)
{
	struct pms *s = state;
	char *base = s->rangesp + (size_t)tid * 8192;
	for (uint64_t i = 0; i < n; i++) {
		if (pmemobj_tx_begin(s->pop, NULL, TX_PARAM_NONE))
			return pmdk_fail();
		for (int k = 0; k < 64; k++) {
			if (pmemobj_tx_add_range_direct(base + k * 128, 64))
				return pmdk_fail();
			base[k * 128] = (char)i;
		}
		pmemobj_tx_commit();
		if (pmemobj_tx_end())
			return pmdk_fail();
	}
	return 0;
}

static int
pmdk_desc(void *state, unsigned tid, uint64_t n)
{
	struct pms *s = state;
	char *base = s->descp + (size_t)tid * DESC_AREA;
	for (uint64_t i = 0; i < n;) {
		if (pmemobj_tx_begin(s->pop, NULL, TX_PARAM_NONE))
			return pmdk_fail();
		for (size_t k = DESC_N; k-- > 0 && i < n; i++) {
			if (pmemobj_tx_add_range_direct(base + k * 128, 64))
				return pmdk_fail();
			base[k * 128] = (char)i;
		}
		pmemobj_tx_commit();
		if (pmemobj_tx_end())
			return pmdk_fail();
	}
	return 0;
}

/* The workloads' own data: the root area and the ranges. */
static size_t
nvh_data(void *state, struct bench_range *out, size_t max)
{
	struct nvs *s = state;
	if (max < 3)
		return 0;
	out[0] = (struct bench_range){s->root, s->threads * STRIDE + 64};
	out[1] = (struct bench_range){s->ranges, s->threads * 8192};
	out[2] = (struct bench_range){s->desc, s->threads * DESC_AREA};
	return 3;
}

static size_t
pmdk_data(void *state, struct bench_range *out, size_t max)
{
	struct pms *s = state;
	if (max < 3)
		return 0;
	out[0] = (struct bench_range){s->rootp, s->threads * STRIDE};
	out[1] = (struct bench_range){s->rangesp, s->threads * 8192};
	out[2] = (struct bench_range){s->descp, s->threads * DESC_AREA};
	return 3;
}

#define SIDES(fn_nvh, fn_pmdk)                                               \
	.nvh = {nvh_setup, fn_nvh, nvh_teardown, NULL, nvh_data, NULL},      \
	.pmdk = {pmdk_setup, fn_pmdk, pmdk_teardown, NULL, pmdk_data, NULL}

const struct bench_workload bench_tx_update_8 = {
	.name = "tx-update-8", .what = "transaction updating an 8-byte counter",
	.threads = 1, SIDES(nvh_update8, pmdk_update8),
};

const struct bench_workload bench_tx_alloc_free_link = {
	.name = "tx-alloc-free-link",
	.what = "transaction: free old, alloc 64 B, fill, link from the root",
	.threads = 1, SIDES(nvh_link64, pmdk_link64),
};

const struct bench_workload bench_tx_add_64ranges = {
	.name = "tx-add-64ranges",
	.what = "transaction snapshotting 64 separate 64-byte ranges",
	.threads = 1, SIDES(nvh_ranges, pmdk_ranges),
};

const struct bench_workload bench_tx_addv_64ranges = {
	.name = "tx-addv-64ranges",
	.what = "tx-add-64ranges with one nvh_tx_addv (libpmemobj: 64 adds)",
	.threads = 1, SIDES(nvh_rangesv, pmdk_ranges),
};

const struct bench_workload bench_tx_alloc_128k = {
	.name = "tx-alloc-128k",
	.what = "transaction: free old, alloc 128 KiB, link",
	.threads = 1, SIDES(nvh_link128k, pmdk_link128k),
};

const struct bench_workload bench_tx_add_desc_20k = {
	.name = "tx-add-desc-20k",
	.what = "one 64-byte snapshot, 20,000 per transaction, descending",
	.threads = 1, SIDES(nvh_desc, pmdk_desc),
};

const struct bench_workload bench_tx_update_8_2t = {
	.name = "tx-update-8-2t", .what = "tx-update-8 in 2 threads",
	.threads = 2, SIDES(nvh_update8, pmdk_update8),
	.one_thread = "tx-update-8",
};

const struct bench_workload bench_msync_tx_update_8 = {
	.name = "msync-tx-update-8", .what = "tx-update-8 on a disk file (msync)",
	.threads = 1, SIDES(nvh_update8, pmdk_update8), .msync = 1,
};

const struct bench_workload bench_msync_tx_alloc_free_link = {
	.name = "msync-tx-alloc-free-link",
	.what = "tx-alloc-free-link on a disk file (msync)",
	.threads = 1, SIDES(nvh_link64, pmdk_link64), .msync = 1,
};

const struct bench_workload bench_msync_tx_update_8_2t = {
	.name = "msync-tx-update-8-2t",
	.what = "msync-tx-update-8 in 2 threads (group commit: shared msyncs)",
	.threads = 2, SIDES(nvh_update8, pmdk_update8), .msync = 1,
	.one_thread = "msync-tx-update-8",
};
