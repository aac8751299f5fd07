/*
 * wl_wrap.c -- tx-wrap: transactions of two 600-byte snapshots each, on
 * one thread, until its lane's ring has wrapped twice.  At every wrap the
 * first record of the new pass (an 11-line UNDO record) overwrites the old
 * pass from offset 0, where committed transactions' UNDO and COMMIT
 * records lie; a crash with some of its lines persisted must not make the
 * old pass readable but cut short (a committed transaction's UNDO records
 * without its COMMIT, rolled back over newer data).  Found at scale by
 * scale-flush-btree (a drain step's 8 KiB record after a wrap), here in a
 * small pool whose every wrap fence is explored.
 *
 * Check: transaction j stores j + 1 into both ranges; after a crash with
 * `acked` acknowledged, the small range holds acked or acked + 1 (the one
 * in flight), v, and every word of the other what transaction v's
 * predecessors left there.
 */
#include <stdio.h>
#include <string.h>

#include "workloads.h"

#include "heap/pool.h"

#define LAYOUT "torture-wrap"
#define RANGE 2560 /* the first snapshot: 512 to 2560 bytes */
#define SMALL 64    /* the second */
#define NTX 150     /* ~1.8 KiB of records each: four wraps of 64 KiB */
#define POOL (4ull << 20)

struct wroot {
	uint64_t a[RANGE / 8];
	uint64_t pad[8]; /* the ranges on different lines */
	uint64_t b[SMALL / 8];
};

/* Transaction j's first snapshot: sizes vary, so that the first record
 * of a new pass is now and then longer than the old pass's first one and
 * a torn line of it falls on the records after that. */
static size_t
first_len(uint64_t j)
{
	return 512 + 512 * (size_t)(j % 5);
}

static struct wroot *
wroot_of(nvh_pool *p)
{
	return nvh_direct(p, *nvh_root_slot(p));
}

static int
setup(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, POOL, &r->opts);
	if (!p)
		return -1;
	if (nvh_alloc(p, nvh_root_slot(p), sizeof(struct wroot), 1, NULL,
		      NULL)) {
		nvh_close(p);
		return -1;
	}
	struct wroot *w = wroot_of(p);
	nvh_memset_persist(p, w, 0, sizeof(*w));
	return nvh_close(p);
}

static int
run(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	if (!p)
		return -1;
	struct wroot *w = wroot_of(p);
	int rc = 0;
	for (uint64_t j = 0; j < NTX && !rc; j++) {
		nvh_tx *tx = nvh_tx_begin(p);
		size_t n = first_len(j);
		rc = !tx || nvh_tx_add(tx, w->a, n) || nvh_tx_add(tx, w->b, SMALL);
		for (unsigned i = 0; !rc && i < n / 8; i++)
			w->a[i] = j + 1;
		for (unsigned i = 0; !rc && i < SMALL / 8; i++)
			w->b[i] = j + 1;
		if (tx && (rc ? nvh_tx_abort(tx) : nvh_tx_commit(tx)))
			rc = -1;
		if (!rc)
			nvh_crashtest_ack(r);
	}
	return nvh_close(p) || rc ? -1 : 0;
}

static int
check(struct nvh_crashtest_check *k)
{
	nvh_pool *p = nvh_open(k->path, LAYOUT, &k->opts);
	nvh_crashtest_opened(k);
	if (!p)
		return nvh_crashtest_fail(k, "open failed after %u transactions: %s",
				k->acked, nvh_errormsg());
	const struct wroot *w = wroot_of(p);
	uint64_t v = w->b[0];
	int rc = 0;
	if (v != k->acked && v != k->acked + 1)
		rc = nvh_crashtest_fail(k, "the snapshots hold transaction %llu's values "
			      "after %u were acknowledged",
			      (unsigned long long)v, k->acked);
	/* every word as the last transaction that wrote it left it */
	for (unsigned i = 0; !rc && i < SMALL / 8; i++)
		if (w->b[i] != v)
			rc = nvh_crashtest_fail(k, "b word %u: %llu, expected %llu", i,
				      (unsigned long long)w->b[i],
				      (unsigned long long)v);
	for (unsigned i = 0; !rc && i < RANGE / 8; i++) {
		uint64_t want = 0;
		for (uint64_t j = v; j-- > 0;)
			if (i < first_len(j) / 8) {
				want = j + 1;
				break;
			}
		if (w->a[i] != want)
			rc = nvh_crashtest_fail(k, "a word %u: %llu, expected %llu (a "
				      "transaction rolled back or half there)",
				      i, (unsigned long long)w->a[i],
				      (unsigned long long)want);
	}
	if (nvh_close(p) && !rc)
		rc = nvh_crashtest_fail(k, "close after recovery: %s", nvh_errormsg());
	return rc;
}

const struct nvh_crashtest nvt_wl_tx_wrap = {
	.name = "tx-wrap",
	.what = "two snapshots a transaction until the ring wraps twice",
	.pool_size = POOL,
	.max_images = 256, /* per crash point, sampled: all points fit */
	.setup = setup,
	.run = run,
	.check = check,
};
