/*
 * wl_scale_tx.c -- torture workload scale-rollback: a transaction of
 * 100,000 allocations rolled back.
 *
 * setup() (not explored) makes an array of 8,192 values 0..8191.  run()
 * is one transaction: 100,000 new nodes chained and linked from the root,
 * then every value changed, snapshotted in 64 ranges of 1 KiB (64 KiB of
 * undo data: more than the lane's ring holds, so the log grows into a
 * chunk taken from the pool), then nvh_tx_abort.  Every fence is
 * explored (in the transaction and in its rollback), and the recovery
 * that finishes what a crash cut short is crashed too (sampled).
 *
 * Oracle, whatever the crash: nothing of the transaction is left (no
 * chain, every value as it was), nvh_check clean, and the census exactly
 * what setup measured: the 100,000 reserved blocks, the log chunk and any
 * arena the transaction took are all given back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wl_scale.h"
#include "workloads.h"

#define LAYOUT "torture-rollback"
#define POOL (32ull << 20)
#define NNEW 100000u
#define NVALS 8192u
#define SNAP 128u /* values per snapshot */

NVH_TYPE(rnode);
NVH_TYPE(rvals);
NVH_TYPE(rroot);

struct rnode {
	int64_t value;
	rnode_ptr next;
};

struct rvals {
	int64_t v[NVALS];
};

struct rroot {
	rvals_ptr vals;
	rnode_ptr chain;
};

NVH_TYPE_DEFINE(rnode, 0, NVH_PTR(rnode, next, rnode));
NVH_TYPE_DEFINE(rvals, 0);
NVH_TYPE_DEFINE(rroot, 0, NVH_PTR(rroot, vals, rvals)
		NVH_PTR(rroot, chain, rnode));

struct rpriv {
	struct nvt_census before;
};

static int
register_types(nvh_pool *p)
{
	return nvh_type_register(p, &rnode_type) ||
	       nvh_type_register(p, &rvals_type) ||
	       nvh_type_register(p, &rroot_type);
}

static int
rb_setup(struct nvh_crashtest_run *r)
{
	struct rpriv *rp = r->priv;
	nvh_pool *p = nvh_create(r->path, LAYOUT, POOL, &r->opts);
	struct rroot *t = !p || register_types(p)
				  ? NULL : rroot_d(p, NVH_ROOT(p, rroot));
	nvh_tx *tx = t ? nvh_tx_begin(p) : NULL;
	int rc = tx ? 0 : -1;
	rvals_ptr a = tx ? NVH_TX_ALLOC(tx, rvals) : NVH_NULL(rvals);
	for (unsigned i = 0; i < NVALS && !NVH_IS_NULL(a); i++)
		rvals_d(p, a)->v[i] = i;
	if (tx && (NVH_TX_SET(tx, &t->vals, a) || nvh_tx_commit(tx)))
		rc = -1;
	if (nvh_close(p) || rc)
		return -1;
	return nvt_census_file(r->path, LAYOUT, &rp->before);
}

static int
rb_run(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	struct rroot *t = !p || register_types(p)
				  ? NULL : rroot_d(p, NVH_ROOT(p, rroot));
	nvh_tx *tx = t ? nvh_tx_begin(p) : NULL;
	int rc = tx ? 0 : -1;
	rnode_ptr head = NVH_NULL(rnode);
	for (unsigned i = 0; i < NNEW && !rc; i++) {
		rnode_ptr n = NVH_TX_ALLOC(tx, rnode);
		if (NVH_IS_NULL(n)) {
			rc = -1;
			break;
		}
		rnode_d(p, n)->value = -1 - (int64_t)i;
		rc = NVH_TX_SET(tx, &rnode_d(p, n)->next, head);
		head = n;
	}
	if (!rc)
		rc = NVH_TX_SET(tx, &t->chain, head);
	/* change every value, snapshotting them SNAP at a time */
	struct rvals *a = t ? rvals_d(p, t->vals) : NULL;
	for (unsigned i = 0; i < NVALS && !rc; i += SNAP) {
		rc = a ? nvh_tx_add(tx, &a->v[i], SNAP * sizeof(a->v[0])) : -1;
		for (unsigned j = i; j < i + SNAP && !rc; j++)
			a->v[j] += 1000000;
	}
	if (tx) {
		/* rolled back whether or not all of that succeeded */
		if (nvh_tx_abort(tx) == 0 && !rc)
			nvh_crashtest_ack(r);
		else
			rc = -1;
	}
	if (p && nvh_close(p))
		rc = -1;
	return rc ? -1 : 0;
}

static int
rb_check(struct nvh_crashtest_check *k)
{
	const struct rpriv *rp = k->priv;
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (!p)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
				k->acked, nvh_errormsg());
	k->why[0] = 0;
	struct rroot *t = register_types(p) ? NULL
					     : rroot_d(p, NVH_ROOT(p, rroot));
	int rc = 0;
	if (!t)
		rc = nvh_crashtest_fail(k, "types or root object lost: %s",
			      nvh_errormsg());
	else if (!NVH_IS_NULL(t->chain))
		rc = nvh_crashtest_fail(k, "the rolled-back chain is linked");
	struct rvals *a = rc ? NULL : rvals_d(p, t->vals);
	if (!rc && !a)
		rc = nvh_crashtest_fail(k, "the values are gone");
	for (unsigned i = 0; i < NVALS && !rc; i++)
		if (a->v[i] != i)
			rc = nvh_crashtest_fail(k, "value %u is %lld", i,
				      (long long)a->v[i]);
	if (!rc)
		rc = nvt_scale_verify(k, p, &rp->before, "rolled back");
	if (nvh_close(p) && !rc)
		rc = nvh_crashtest_fail(k, "close after recovery: %s", nvh_errormsg());
	return rc;
}

const struct nvh_crashtest nvt_wl_scale_rollback = {
	.name = "scale-rollback",
	.what = "a transaction of 100,000 allocations rolled back",
	.pool_size = POOL,
	.priv_size = sizeof(struct rpriv),
	.setup = rb_setup,
	.run = rb_run,
	.check = rb_check,
	NVT_SCALE_LIMITS(200), /* all of them: about 70 */
	.share = 0.05,
};
