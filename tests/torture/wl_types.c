/*
 * wl_types.c -- torture workload for type registration in the middle of a
 * run: nvh_type_register rewrites the type table (a transaction that
 * snapshots the table's slot) between transactions on user data.  Every
 * other workload registers its types in set-up, outside the explored run;
 * this one once hid a recovery bug (the slot's UNDO record ended its
 * lane's scan, so a later transaction cut short was not rolled back).
 *
 * Run: register t2; move 30 from a to b; register t3; move 10; close.
 * Check: a + b == 100 always; the moves acknowledged are there (one more
 * may be, in flight); an acknowledged registration is in the table; the
 * object graph is consistent.
 */
#include <stdio.h>
#include <string.h>

#include "workloads.h"

#include "heap/pool.h"
#include "objects/obj.h"

#define LAYOUT "torture-types"
#define POOL (4ull << 20)

NVH_TYPE(wt_acct);
struct wt_acct {
	int64_t a, b; /* a + b == 100 */
};
NVH_TYPE_DEFINE(wt_acct, 0, );

NVH_TYPE(wt_t2);
struct wt_t2 {
	wt_acct_ptr p;
	int64_t x;
};
NVH_TYPE_DEFINE(wt_t2, 0, NVH_PTR(wt_t2, p, wt_acct));

NVH_TYPE(wt_t3);
struct wt_t3 {
	wt_t2_ptr q[3];
};
NVH_TYPE_DEFINE(wt_t3, 0, NVH_PTR_N(wt_t3, q, 3, wt_t2));

static int
setup(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, POOL, &r->opts);
	if (!p)
		return -1;
	int rc = nvh_type_register(p, &wt_acct_type);
	struct wt_acct *x = rc ? NULL : wt_acct_d(p, NVH_ROOT(p, wt_acct));
	nvh_tx *tx = x ? nvh_tx_begin(p) : NULL;
	rc = !tx || nvh_tx_add(tx, x, sizeof(*x));
	if (!rc) {
		x->a = 100;
		rc = nvh_tx_commit(tx);
	} else if (tx) {
		nvh_tx_abort(tx);
	}
	return nvh_close(p) || rc ? -1 : 0;
}

static int
move(nvh_pool *p, int64_t n)
{
	struct wt_acct *x = wt_acct_d(p, NVH_ROOT(p, wt_acct));
	nvh_tx *tx = x ? nvh_tx_begin(p) : NULL;
	if (!tx)
		return -1;
	if (nvh_tx_add(tx, x, sizeof(*x))) {
		nvh_tx_abort(tx);
		return -1;
	}
	x->a -= n;
	x->b += n;
	return nvh_tx_commit(tx);
}

static int
run(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	if (!p || nvh_type_register(p, &wt_acct_type))
		return -1;
	if (nvh_type_register(p, &wt_t2_type))
		return -1;
	nvh_crashtest_ack(r); /* 1: t2 registered */
	if (move(p, 30))
		return -1;
	nvh_crashtest_ack(r); /* 2: a = 70 */
	if (nvh_type_register(p, &wt_t3_type))
		return -1;
	nvh_crashtest_ack(r); /* 3: t3 registered */
	if (move(p, 10))
		return -1;
	nvh_crashtest_ack(r); /* 4: a = 60 */
	if (nvh_close(p))
		return -1;
	nvh_crashtest_ack(r); /* 5: closed */
	return 0;
}

static int
check(struct nvh_crashtest_check *k)
{
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (!p)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
				k->acked, nvh_errormsg());
	k->why[0] = 0;
	struct nvh_check_report rep;
	const struct wt_acct *x = nvh_direct(p, *nvh_root_slot(p));
	int t2 = nvh_type_named(p, "wt_t2") != NULL;
	int t3 = nvh_type_named(p, "wt_t3") != NULL;
	/* a after the acknowledged moves, or one more in flight */
	static const int64_t a_after[] = {100, 100, 70, 70, 60, 60};
	int64_t lo = k->acked < 5 ? a_after[k->acked + 1] : 60;
	int64_t hi = a_after[k->acked < 5 ? k->acked : 5];
	if (nvh_check(p, &rep, NULL))
		nvh_crashtest_fail(k, "after %u operations nvh_check finds %llu problems",
			 k->acked, (unsigned long long)rep.problems);
	else if (!x)
		nvh_crashtest_fail(k, "after %u operations the root object is gone",
			 k->acked);
	else if (x->a + x->b != 100)
		nvh_crashtest_fail(k, "after %u operations a + b = %lld + %lld: a "
			 "transaction was cut in half", k->acked,
			 (long long)x->a, (long long)x->b);
	else if (x->a < lo || x->a > hi)
		nvh_crashtest_fail(k, "after %u operations a = %lld, expected %lld..%lld",
			 k->acked, (long long)x->a, (long long)lo,
			 (long long)hi);
	else if ((k->acked >= 1 && !t2) || (k->acked >= 3 && !t3))
		nvh_crashtest_fail(k, "after %u operations a registered type is missing "
			 "(t2 %d, t3 %d)", k->acked, t2, t3);
	else if (t3 && !t2)
		nvh_crashtest_fail(k, "t3 registered without t2");
	if (nvh_close(p) && !k->why[0])
		nvh_crashtest_fail(k, "close after recovery failed: %s", nvh_errormsg());
	return k->why[0] ? -1 : 0;
}

const struct nvh_crashtest nvt_wl_obj_types = {
	.name = "obj-types",
	.what = "type registrations between transactions on user data",
	.pool_size = POOL,
	.setup = setup,
	.run = run,
	.check = check,
};
