/*
 * wl_wide.c -- torture workload obj-wide: wide objects freed in partial
 * steps.
 *
 * A "wnode" has an array of 48 strong slots.  The run builds a keeper
 * node holding 6 leaves, a wide node whose 48 slots point to those
 * leaves (8 references each, so a slot released twice would free a leaf
 * the keeper still holds), and a two-level node (12 children of 4 leaves
 * each); then it unlinks the wide one, the two-level one and the keeper.
 * Release budgets are cut to a few hundred bytes
 * (NVHEAP_TEST_RELEASE_BYTES=256: the commit releases nothing wider than
 * a leaf, a drain step gives up about a dozen slots), so each wide node
 * is released over several crash-atomic steps with its progress recorded
 * in its header, at commit time and again in the open's drain after a
 * crash (whose fences are crash points too).
 *
 * Oracle: each structure present exactly as built, or absent, as acknowledged
 * (the operation in flight: either); nvh_check clean (no leak, no
 * dangling pointer, every count right, progress within the type) and no
 * dying object after the open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#define LAYOUT "torture-wide"
#define POOL (4ull << 20)
#define WIDTH 48
#define BUDGET "256"

NVH_TYPE(wnode);
NVH_TYPE(wtop);

struct wnode {
	int64_t value;
	wnode_ptr kid[WIDTH];
};

struct wtop {
	wnode_ptr a, b, c;
};

NVH_TYPE_DEFINE(wnode, 0, NVH_PTR_N(wnode, kid, WIDTH, wnode));
NVH_TYPE_DEFINE(wtop, 0, NVH_PTR(wtop, a, wnode) NVH_PTR(wtop, b, wnode)
		NVH_PTR(wtop, c, wnode));

#define NSHARED 6

enum { BUILD_K, BUILD_A, BUILD_C, CUT_A, CUT_C, CUT_K, NOPS };

/* Present after op i: bit 0 the wide node (a), bit 1 the keeper (b),
 * bit 2 the two-level node (c). */
static const unsigned after[NOPS] = {2, 3, 7, 6, 2, 0};

static int
register_types(nvh_pool *p)
{
	return nvh_type_register(p, &wnode_type) ||
	       nvh_type_register(p, &wtop_type);
}

static int
setup(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, POOL, &r->opts);
	if (!p)
		return -1;
	int rc = register_types(p) || NVH_IS_NULL(NVH_ROOT(p, wtop));
	return nvh_close(p) || rc ? -1 : 0;
}

/* A node with value v and `n` children valued v*100+1.., each with `m`
 * children valued (v*100+i)*100+1.. */
static wnode_ptr
build(nvh_tx *tx, nvh_pool *p, int64_t v, unsigned n, unsigned m)
{
	wnode_ptr x = NVH_TX_ALLOC(tx, wnode);
	if (NVH_IS_NULL(x))
		return x;
	wnode_d(p, x)->value = v;
	for (unsigned i = 0; i < n; i++)
		NVH_TX_SET(tx, &wnode_d(p, x)->kid[i],
			   build(tx, p, v * 100 + i + 1, m, 0));
	return x;
}

static int
run_op(nvh_pool *p, int op)
{
	struct wtop *t = wtop_d(p, NVH_ROOT(p, wtop));
	nvh_tx *tx = t ? nvh_tx_begin(p) : NULL;
	if (!tx)
		return -1;
	switch (op) {
	case BUILD_K:
		NVH_TX_SET(tx, &t->b, build(tx, p, 3, NSHARED, 0));
		break;
	case BUILD_A: {
		wnode_ptr w = NVH_TX_ALLOC(tx, wnode);
		if (NVH_IS_NULL(w))
			break;
		wnode_d(p, w)->value = 1;
		for (unsigned i = 0; i < WIDTH; i++)
			NVH_TX_SET(tx, &wnode_d(p, w)->kid[i],
				   wnode_d(p, t->b)->kid[i % NSHARED]);
		NVH_TX_SET(tx, &t->a, w);
		break;
	}
	case BUILD_C:
		NVH_TX_SET(tx, &t->c, build(tx, p, 2, 12, 4));
		break;
	case CUT_A:
		NVH_TX_SET(tx, &t->a, NVH_NULL(wnode));
		break;
	case CUT_C:
		NVH_TX_SET(tx, &t->c, NVH_NULL(wnode));
		break;
	case CUT_K:
		NVH_TX_SET(tx, &t->b, NVH_NULL(wnode));
		break;
	}
	return nvh_tx_commit(tx);
}

static int
wide_run(struct nvh_crashtest_run *r)
{
	setenv("NVHEAP_TEST_RELEASE_BYTES", BUDGET, 1);
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	int rc = !p || register_types(p);
	for (int op = 0; op < NOPS && !rc; op++) {
		rc = run_op(p, op);
		if (!rc)
			nvh_crashtest_ack(r);
	}
	if (p && nvh_close(p))
		rc = -1;
	unsetenv("NVHEAP_TEST_RELEASE_BYTES");
	return rc ? -1 : 0;
}

/* Is the tree at x exactly what build(v, n, m) made? */
static int
same_tree(nvh_pool *p, wnode_ptr x, int64_t v, unsigned n, unsigned m)
{
	struct wnode *w = wnode_d(p, x);
	if (!w || w->value != v)
		return 0;
	for (unsigned i = 0; i < WIDTH; i++) {
		if (i >= n) {
			if (!NVH_IS_NULL(w->kid[i]))
				return 0;
			continue;
		}
		if (!same_tree(p, w->kid[i], v * 100 + i + 1, m, 0))
			return 0;
	}
	return 1;
}

static int
state_of(nvh_pool *p, unsigned *s)
{
	struct wtop *t = wtop_d(p, NVH_ROOT(p, wtop));
	if (!t)
		return -1;
	*s = 0;
	if (!NVH_IS_NULL(t->b)) {
		if (!same_tree(p, t->b, 3, NSHARED, 0))
			return -1;
		*s |= 2;
	}
	if (!NVH_IS_NULL(t->a)) {
		struct wnode *w = wnode_d(p, t->a);
		if (!w || w->value != 1 || !(*s & 2))
			return -1;
		for (unsigned i = 0; i < WIDTH; i++)
			if (w->kid[i].oid.off !=
			    wnode_d(p, t->b)->kid[i % NSHARED].oid.off)
				return -1;
		/* each shared leaf: its 8 slots here and the keeper's */
		for (unsigned i = 0; i < NSHARED; i++)
			if (nvh_refcount(p, w->kid[i].oid) != WIDTH / NSHARED + 1)
				return -1;
		*s |= 1;
	}
	if (!NVH_IS_NULL(t->c)) {
		if (!same_tree(p, t->c, 2, 12, 4))
			return -1;
		*s |= 4;
	}
	return 0;
}

static int
wide_check(struct nvh_crashtest_check *k)
{
	/* the open's drain runs with the run's budget; a check may run
	 * inside the run's crash points: put back what was there */
	const char *was = getenv("NVHEAP_TEST_RELEASE_BYTES");
	char saved[32] = "";
	if (was)
		snprintf(saved, sizeof(saved), "%s", was);
	setenv("NVHEAP_TEST_RELEASE_BYTES", BUDGET, 1);
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (was)
		setenv("NVHEAP_TEST_RELEASE_BYTES", saved, 1);
	else
		unsetenv("NVHEAP_TEST_RELEASE_BYTES");
	if (!p)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
				k->acked, nvh_errormsg());
	k->why[0] = 0;
	struct nvh_check_report rep;
	unsigned s;
	unsigned done = k->acked ? after[k->acked - 1] : 0;
	unsigned next = k->acked < NOPS ? after[k->acked] : done;
	if (nvh_check(p, &rep, NULL))
		nvh_crashtest_fail(k, "after %u operations nvh_check finds %llu problems "
			 "(run nvheap check on the image)", k->acked,
			 (unsigned long long)rep.problems);
	else if (rep.dying)
		nvh_crashtest_fail(k, "%llu objects still dying after the open",
			 (unsigned long long)rep.dying);
	else if (state_of(p, &s))
		nvh_crashtest_fail(k, "after %u operations a structure is damaged",
			 k->acked);
	else if (s != done && s != next)
		nvh_crashtest_fail(k, "after %u operations: trees 0x%x, expected 0x%x%s",
			 k->acked, s, done, next != done ? " or the next op's" : "");
	if (nvh_close(p) && !k->why[0])
		nvh_crashtest_fail(k, "close after recovery: %s", nvh_errormsg());
	return k->why[0] ? -1 : 0;
}

const struct nvh_crashtest nvt_wl_obj_wide = {
	.name = "obj-wide",
	.what = "wide objects released over many partial steps",
	.pool_size = POOL,
	.setup = setup,
	.run = wide_run,
	.check = wide_check,
};
