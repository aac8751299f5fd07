/*
 * wl_scale.c -- torture workloads: cascades of more than 100,000 objects,
 * crashed at sampled fences, with the census check the scale workloads
 * share (wl_scale.h).
 *
 *   scale-list  a refcounted list of 100,000 nodes, unlinked from the root
 *   scale-tree  a complete binary tree of 131,071 nodes (depth 17), cut at
 *               the root
 *   scale-wide  a node with 110,000 strong slots: 100,000 leaves of its own
 *               and, in every 11th slot, one of 10,000 leaves a keeper node
 *               also holds; the wide node is unlinked, the keeper stays
 *   scale-array an array of 1,000,000 children (8 MB), in a 96 MiB pool
 *
 * Each is built in setup() (transactions of a few thousand objects, not
 * explored), and the pool is then filled to its last few KiB, so the
 * unlink's commit and the drains must do without pool space (a commit
 * record that grew with the cascade would need log chunks).  run() is
 * one transaction at the real release budgets: the commit releases what
 * its 4 KiB budget allows and puts the rest on the dying list, which the
 * drain after the commit empties in crash-atomic steps: the tree in some
 * 1,000 fences; the wide node in 800 and the array in 7,900, each
 * released over hundreds of partial steps with its progress in its
 * header; the list in 100,000 (a list frees one node per step).  A crash
 * anywhere in that leaves the rest to the next open's drain, whose fences
 * are crash points too (sampled).
 *
 * Oracle: the structure exactly as built (every value, every link) or
 * gone, as acknowledged (the unlink in flight: either); the keeper's
 * leaves all there with counts 1 (2 while the wide node lives); nvh_check
 * clean, nothing dying after the open, and the pool's census (objects,
 * free space) what setup measured for that state, on the pool and on a
 * copy it cut without a crash (which must have freed exactly the
 * structure's objects): a cascade cut short leaks no block and gives
 * back all its space.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wl_scale.h"
#include "workloads.h"

#define LAYOUT "torture-scale"
#define POOL (32ull << 20)
#define BATCH 4096
#define NLIST 100000u
#define TREE_DEPTH 17
#define NTREE ((1u << TREE_DEPTH) - 1) /* 131,071 */
#define STAGE_DEPTH 6                  /* subtrees built one per tx */
#define NSTAGE (1u << STAGE_DEPTH)     /* rooted at heap index 64..127 */
#define FAN 110000u
#define KEEP_EVERY 11u                 /* slot i % 11 == 10: a kept leaf */
#define NKEEP (FAN / KEEP_EVERY)       /* 10,000 */
#define KBASE 10000000                 /* value of kept leaf j: KBASE + j */
#define NBIG 1000000u
#define BIG_POOL (96ull << 20)         /* the array and children: 85 MiB */

NVH_TYPE(snode);
NVH_TYPE(sfan);
NVH_TYPE(sbig);
NVH_TYPE(sroot);

struct snode {
	int64_t value;
	snode_ptr kid[2]; /* list: kid[0] is next */
};

struct sfan {
	int64_t value;
	snode_ptr kid[FAN];
};

struct sbig {
	int64_t value;
	snode_ptr kid[NBIG];
};

struct sroot {
	snode_ptr list, tree;
	sfan_ptr wide, keep;
	snode_ptr stage[NSTAGE];
	sbig_ptr big;
	snode_ptr fill; /* what keeps the pool nearly full */
};

NVH_TYPE_DEFINE(snode, 0, NVH_PTR_N(snode, kid, 2, snode));
NVH_TYPE_DEFINE(sfan, 0, NVH_PTR_N(sfan, kid, FAN, snode));
NVH_TYPE_DEFINE(sbig, 0, NVH_PTR_N(sbig, kid, NBIG, snode));
NVH_TYPE_DEFINE(sroot, 0, NVH_PTR(sroot, list, snode)
		NVH_PTR(sroot, tree, snode) NVH_PTR(sroot, wide, sfan)
		NVH_PTR(sroot, keep, sfan)
		NVH_PTR_N(sroot, stage, NSTAGE, snode) NVH_PTR(sroot, big, sbig)
		NVH_PTR(sroot, fill, snode));

enum shape { LIST, TREE, WIDE, BIG };

struct spriv {
	struct nvt_census with, without; /* built; unlinked and drained */
};

/* ---- the census and the common check ---- */

int
nvt_census_of(nvh_pool *p, struct nvt_census *c)
{
	struct nvh_stats st;
	if (nvh_stats(p, &st))
		return -1;
	c->objects = st.objects;
	c->free_bytes = st.free_bytes;
	return 0;
}

int
nvt_census_file(const char *path, const char *layout, struct nvt_census *c)
{
	struct nvh_opts o = {.persist = NVH_PERSIST_EADR};
	nvh_pool *p = nvh_open(path, layout, &o);
	if (!p)
		return -1;
	int rc = nvt_census_of(p, c);
	return nvh_close(p) || rc ? -1 : 0;
}

int
nvt_scale_verify(struct nvh_crashtest_check *k, nvh_pool *p,
		 const struct nvt_census *want, const char *what)
{
	struct nvh_check_report rep;
	struct nvt_census got;
	if (nvh_check(p, &rep, NULL))
		return nvh_crashtest_fail(k, "%s after %u operations: nvh_check finds "
				"%llu problems (run nvheap check on the image)",
				what, k->acked,
				(unsigned long long)rep.problems);
	if (rep.dying)
		return nvh_crashtest_fail(k, "%s: %llu objects still dying after the "
				"open", what, (unsigned long long)rep.dying);
	if (nvt_census_of(p, &got))
		return nvh_crashtest_fail(k, "nvh_stats: %s", nvh_errormsg());
	if (got.objects != want->objects || got.free_bytes != want->free_bytes)
		return nvh_crashtest_fail(k, "%s: %llu objects and %llu bytes free, "
				"expected %llu and %llu", what,
				(unsigned long long)got.objects,
				(unsigned long long)got.free_bytes,
				(unsigned long long)want->objects,
				(unsigned long long)want->free_bytes);
	return 0;
}

/* ---- building (setup, not explored) ---- */

static int
register_types(nvh_pool *p)
{
	return nvh_type_register(p, &snode_type) ||
	       nvh_type_register(p, &sfan_type) ||
	       nvh_type_register(p, &sbig_type) ||
	       nvh_type_register(p, &sroot_type);
}

static struct sroot *
root_of(nvh_pool *p)
{
	return sroot_d(p, NVH_ROOT(p, sroot));
}

static snode_ptr
leaf(nvh_tx *tx, nvh_pool *p, int64_t v)
{
	snode_ptr n = NVH_TX_ALLOC(tx, snode);
	if (!NVH_IS_NULL(n))
		snode_d(p, n)->value = v;
	return n;
}

/* The list 0, 1, ..., NLIST-1 from the head, pushed from the tail. */
static int
build_list(nvh_pool *p)
{
	struct sroot *t = root_of(p);
	for (unsigned i = NLIST; i > 0;) {
		nvh_tx *tx = nvh_tx_begin(p);
		if (!tx)
			return -1;
		for (unsigned b = 0; b < BATCH && i > 0; b++) {
			snode_ptr n = leaf(tx, p, --i);
			if (NVH_IS_NULL(n))
				break;
			NVH_TX_SET(tx, &snode_d(p, n)->kid[0], t->list);
			NVH_TX_SET(tx, &t->list, n);
		}
		if (nvh_tx_commit(tx))
			return -1;
	}
	return 0;
}

/* Node i of a heap-ordered tree (children 2i, 2i+1), down to index lim. */
static snode_ptr
subtree(nvh_tx *tx, nvh_pool *p, uint64_t i, uint64_t lim)
{
	if (i > lim)
		return NVH_NULL(snode);
	snode_ptr n = leaf(tx, p, (int64_t)i);
	if (NVH_IS_NULL(n))
		return n;
	NVH_TX_SET(tx, &snode_d(p, n)->kid[0], subtree(tx, p, 2 * i, lim));
	NVH_TX_SET(tx, &snode_d(p, n)->kid[1], subtree(tx, p, 2 * i + 1, lim));
	return n;
}

/* The top levels, with the staged subtrees moved in below them. */
static snode_ptr
top(nvh_tx *tx, nvh_pool *p, struct sroot *t, uint64_t i)
{
	if (i >= NSTAGE) {
		snode_ptr s = t->stage[i - NSTAGE];
		NVH_TX_SET(tx, &t->stage[i - NSTAGE], NVH_NULL(snode));
		return s;
	}
	snode_ptr n = leaf(tx, p, (int64_t)i);
	if (NVH_IS_NULL(n))
		return n;
	NVH_TX_SET(tx, &snode_d(p, n)->kid[0], top(tx, p, t, 2 * i));
	NVH_TX_SET(tx, &snode_d(p, n)->kid[1], top(tx, p, t, 2 * i + 1));
	return n;
}

static int
build_tree(nvh_pool *p)
{
	struct sroot *t = root_of(p);
	for (unsigned s = 0; s < NSTAGE; s++) {
		nvh_tx *tx = nvh_tx_begin(p);
		if (!tx)
			return -1;
		NVH_TX_SET(tx, &t->stage[s], subtree(tx, p, NSTAGE + s, NTREE));
		if (nvh_tx_commit(tx))
			return -1;
	}
	nvh_tx *tx = nvh_tx_begin(p);
	if (!tx)
		return -1;
	NVH_TX_SET(tx, &t->tree, top(tx, p, t, 1));
	return nvh_tx_commit(tx);
}

static int
build_keeper(nvh_pool *p)
{
	struct sroot *t = root_of(p);
	nvh_tx *tx = nvh_tx_begin(p);
	if (!tx)
		return -1;
	NVH_TX_SET(tx, &t->keep, NVH_TX_ALLOC(tx, sfan));
	if (nvh_tx_commit(tx))
		return -1;
	struct sfan *kf = sfan_d(p, t->keep);
	for (unsigned j = 0; j < NKEEP;) {
		if (!(tx = nvh_tx_begin(p)))
			return -1;
		for (unsigned b = 0; b < BATCH && j < NKEEP; b++, j++)
			NVH_TX_SET(tx, &kf->kid[j], leaf(tx, p, KBASE + j));
		if (nvh_tx_commit(tx))
			return -1;
	}
	return 0;
}

static int
build_wide(nvh_pool *p)
{
	struct sroot *t = root_of(p);
	nvh_tx *tx = nvh_tx_begin(p);
	if (!tx)
		return -1;
	sfan_ptr w = NVH_TX_ALLOC(tx, sfan);
	if (!NVH_IS_NULL(w))
		sfan_d(p, w)->value = 1;
	NVH_TX_SET(tx, &t->wide, w);
	if (nvh_tx_commit(tx))
		return -1;
	struct sfan *wf = sfan_d(p, t->wide), *kf = sfan_d(p, t->keep);
	for (unsigned i = 0; i < FAN;) {
		if (!(tx = nvh_tx_begin(p)))
			return -1;
		for (unsigned b = 0; b < BATCH && i < FAN; b++, i++)
			NVH_TX_SET(tx, &wf->kid[i],
				   i % KEEP_EVERY == KEEP_EVERY - 1
					   ? kf->kid[i / KEEP_EVERY]
					   : leaf(tx, p, i));
		if (nvh_tx_commit(tx))
			return -1;
	}
	return 0;
}

/* The array of NBIG children valued 0.., in transactions of BATCH. */
static int
build_big(nvh_pool *p)
{
	struct sroot *t = root_of(p);
	nvh_tx *tx = nvh_tx_begin(p);
	if (!tx)
		return -1;
	sbig_ptr a = NVH_TX_ALLOC(tx, sbig);
	if (!NVH_IS_NULL(a))
		sbig_d(p, a)->value = 2;
	NVH_TX_SET(tx, &t->big, a);
	if (nvh_tx_commit(tx))
		return -1;
	struct sbig *b = sbig_d(p, t->big);
	for (unsigned i = 0; i < NBIG;) {
		if (!(tx = nvh_tx_begin(p)))
			return -1;
		for (unsigned n = 0; n < BATCH && i < NBIG; n++, i++)
			NVH_TX_SET(tx, &b->kid[i], leaf(tx, p, i));
		if (nvh_tx_commit(tx))
			return -1;
	}
	return 0;
}

/* Fill what is left of the pool with a list of nodes of `size` bytes
 * (a failed allocation is the end: ENOMEM, the pool is full for them). */
static int
fill(nvh_pool *p, size_t size)
{
	struct sroot *t = root_of(p);
	for (;;) {
		nvh_tx *tx = nvh_tx_begin(p);
		if (!tx)
			return -1;
		for (int n = 0; n < 16; n++) {
			snode_ptr f = NVH_TX_ALLOC_SIZE(tx, snode, size);
			if (NVH_IS_NULL(f))
				break;
			NVH_TX_SET(tx, &snode_d(p, f)->kid[0], t->fill);
			NVH_TX_SET(tx, &t->fill, f);
		}
		if (nvh_tx_error(tx)) {
			int e = nvh_tx_error(tx);
			nvh_tx_abort(tx);
			return e == ENOMEM ? 0 : -1;
		}
		if (nvh_tx_commit(tx))
			return -1;
	}
}

static int cut(nvh_pool *p, enum shape s);

/* The census of a copy of the pool cut (and drained) without a crash:
 * what every recovered image of the cut must equal. */
static int
census_cut(const char *path, enum shape s, struct nvt_census *c)
{
	char copy[4200];
	struct nvh_opts o = {.persist = NVH_PERSIST_EADR};
	snprintf(copy, sizeof(copy), "%s.cut", path);
	nvh_pool *p = nvh_ct_copy_file(path, copy) ? NULL
						 : nvh_open(copy, LAYOUT, &o);
	int rc = !p || register_types(p) || cut(p, s);
	if (nvh_close(p) || rc || nvt_census_file(copy, LAYOUT, c))
		return -1;
	return unlink(copy);
}

static int
setup_shape(struct nvh_crashtest_run *r, enum shape s)
{
	struct spriv *sp = r->priv;
	nvh_pool *p = nvh_create(r->path, LAYOUT, s == BIG ? BIG_POOL : POOL,
				 &r->opts);
	int rc = !p || register_types(p) || !root_of(p) ||
		 (s == WIDE && build_keeper(p));
	/* the structure, then the pool filled up to its last few KiB: the
	 * unlink must commit and drain with no space to spare */
	rc = rc || (s == LIST ? build_list(p) : s == TREE ? build_tree(p)
		    : s == WIDE ? build_wide(p) : build_big(p));
	rc = rc || fill(p, 65536) || fill(p, 1024);
	if (nvh_close(p) || rc || nvt_census_file(r->path, LAYOUT, &sp->with) ||
	    census_cut(r->path, s, &sp->without))
		return -1;
	/* and that census is the cut's: every object of it freed */
	static const uint64_t freed[] = {NLIST, NTREE, FAN - NKEEP + 1,
					 NBIG + 1};
	if (sp->with.objects - sp->without.objects != freed[s]) {
		fprintf(stderr, "setup: the cut freed %llu objects, not %llu\n",
			(unsigned long long)(sp->with.objects -
					     sp->without.objects),
			(unsigned long long)freed[s]);
		return -1;
	}
	return 0;
}

/* ---- the explored run: one unlink ---- */

/* Unlink the structure: one transaction, whose commit returns once the
 * drain emptied the dying list. */
static int
cut(nvh_pool *p, enum shape s)
{
	struct sroot *t = root_of(p);
	nvh_tx *tx = t ? nvh_tx_begin(p) : NULL;
	if (!tx)
		return -1;
	if (s == LIST)
		NVH_TX_SET(tx, &t->list, NVH_NULL(snode));
	else if (s == TREE)
		NVH_TX_SET(tx, &t->tree, NVH_NULL(snode));
	else if (s == WIDE)
		NVH_TX_SET(tx, &t->wide, NVH_NULL(sfan));
	else
		NVH_TX_SET(tx, &t->big, NVH_NULL(sbig));
	return nvh_tx_commit(tx);
}

static int
run_shape(struct nvh_crashtest_run *r, enum shape s)
{
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	int rc = !p || register_types(p) || cut(p, s);
	if (!rc)
		nvh_crashtest_ack(r);
	if (p && nvh_close(p))
		rc = -1;
	return rc ? -1 : 0;
}

/* ---- reading a recovered image ---- */

static int
same_list(struct nvh_crashtest_check *k, nvh_pool *p, snode_ptr it)
{
	for (unsigned i = 0; i < NLIST; i++) {
		struct snode *n = snode_d(p, it);
		if (!n || n->value != i || !NVH_IS_NULL(n->kid[1]))
			return nvh_crashtest_fail(k, "list node %u is %s", i,
					n ? "wrong" : "missing");
		it = n->kid[0];
	}
	if (!NVH_IS_NULL(it))
		return nvh_crashtest_fail(k, "the list is longer than %u", NLIST);
	return 0;
}

static int
same_tree(struct nvh_crashtest_check *k, nvh_pool *p, snode_ptr root)
{
	/* iterative: (node, heap index) pairs */
	static struct { snode_ptr n; uint64_t i; } stack[2 * TREE_DEPTH + 2];
	unsigned sp = 0, seen = 0;
	stack[sp++] = (typeof(stack[0])){root, 1};
	while (sp) {
		snode_ptr np = stack[--sp].n;
		uint64_t i = stack[sp].i;
		if (i > NTREE) {
			if (!NVH_IS_NULL(np))
				return nvh_crashtest_fail(k, "tree node below %llu",
						(unsigned long long)i / 2);
			continue;
		}
		struct snode *n = snode_d(p, np);
		if (!n || n->value != (int64_t)i)
			return nvh_crashtest_fail(k, "tree node %llu is %s",
					(unsigned long long)i,
					n ? "misplaced" : "missing");
		seen++;
		stack[sp++] = (typeof(stack[0])){n->kid[1], 2 * i + 1};
		stack[sp++] = (typeof(stack[0])){n->kid[0], 2 * i};
	}
	return seen == NTREE ? 0 : nvh_crashtest_fail(k, "%u tree nodes", seen);
}

static int
same_keeper(struct nvh_crashtest_check *k, nvh_pool *p, struct sroot *t, int wide)
{
	struct sfan *kf = sfan_d(p, t->keep);
	if (!kf)
		return nvh_crashtest_fail(k, "the keeper node is gone");
	for (unsigned j = 0; j < FAN; j++) {
		if (j >= NKEEP) {
			if (!NVH_IS_NULL(kf->kid[j]))
				return nvh_crashtest_fail(k, "keeper slot %u set", j);
			continue;
		}
		struct snode *n = snode_d(p, kf->kid[j]);
		uint32_t rc = nvh_refcount(p, kf->kid[j].oid);
		if (!n || n->value != KBASE + j || rc != 1u + wide)
			return nvh_crashtest_fail(k, "kept leaf %u is %s (count %u, "
					"expected %u)", j,
					n ? "wrong" : "missing", rc, 1 + wide);
	}
	return 0;
}

static int
same_wide(struct nvh_crashtest_check *k, nvh_pool *p, struct sroot *t)
{
	struct sfan *wf = sfan_d(p, t->wide), *kf = sfan_d(p, t->keep);
	if (!wf || wf->value != 1)
		return nvh_crashtest_fail(k, "the wide node is damaged");
	for (unsigned i = 0; i < FAN; i++) {
		int kept = i % KEEP_EVERY == KEEP_EVERY - 1;
		struct snode *n = snode_d(p, wf->kid[i]);
		if (kept ? wf->kid[i].oid.off != kf->kid[i / KEEP_EVERY].oid.off
			 : !n || n->value != i || nvh_refcount(p, wf->kid[i].oid) != 1)
			return nvh_crashtest_fail(k, "wide slot %u is wrong", i);
	}
	return 0;
}

static int
same_big(struct nvh_crashtest_check *k, nvh_pool *p, struct sroot *t)
{
	struct sbig *b = sbig_d(p, t->big);
	if (!b || b->value != 2)
		return nvh_crashtest_fail(k, "the array is damaged");
	for (unsigned i = 0; i < NBIG; i++) {
		struct snode *n = snode_d(p, b->kid[i]);
		if (!n || n->value != i)
			return nvh_crashtest_fail(k, "array child %u is %s", i,
					n ? "wrong" : "missing");
	}
	return 0;
}

static int
check_shape(struct nvh_crashtest_check *k, enum shape s)
{
	const struct spriv *sp = k->priv;
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (!p)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
				k->acked, nvh_errormsg());
	k->why[0] = 0;
	struct sroot *t = register_types(p) ? NULL : root_of(p);
	int present = 0, rc = 0;
	if (!t) {
		rc = nvh_crashtest_fail(k, "types or root object lost: %s",
			      nvh_errormsg());
	} else {
		present = s == LIST ? !NVH_IS_NULL(t->list)
			: s == TREE ? !NVH_IS_NULL(t->tree)
			: s == WIDE ? !NVH_IS_NULL(t->wide)
				    : !NVH_IS_NULL(t->big);
		if (present && k->acked)
			rc = nvh_crashtest_fail(k, "the unlink was acknowledged, the "
				      "structure is still there");
	}
	if (!rc && s == WIDE)
		rc = same_keeper(k, p, t, present);
	if (!rc && present)
		rc = s == LIST ? same_list(k, p, t->list)
		   : s == TREE ? same_tree(k, p, t->tree)
		   : s == WIDE ? same_wide(k, p, t) : same_big(k, p, t);
	if (!rc)
		rc = nvt_scale_verify(k, p, present ? &sp->with : &sp->without,
				      present ? "built" : "unlinked");
	if (nvh_close(p) && !rc)
		rc = nvh_crashtest_fail(k, "close after recovery: %s", nvh_errormsg());
	return rc;
}

/* ---- the workloads ---- */

#define SHAPE(fn, s)                                                         \
	static int fn##_setup(struct nvh_crashtest_run *r) { return setup_shape(r, s); } \
	static int fn##_run(struct nvh_crashtest_run *r) { return run_shape(r, s); }     \
	static int fn##_check(struct nvh_crashtest_check *k) { return check_shape(k, s); }

SHAPE(list, LIST)
SHAPE(tree, TREE)
SHAPE(wide, WIDE)
SHAPE(big, BIG)

const struct nvh_crashtest nvt_wl_scale_list = {
	.name = "scale-list",
	.what = "a 100,000-node list unlinked: cascade and drain",
	.pool_size = POOL,
	.priv_size = sizeof(struct spriv),
	.setup = list_setup,
	.run = list_run,
	.check = list_check,
	NVT_SCALE_LIMITS(48),
	.share = 0.1,
};

const struct nvh_crashtest nvt_wl_scale_tree = {
	.name = "scale-tree",
	.what = "a 131,071-node binary tree cut at the root",
	.pool_size = POOL,
	.priv_size = sizeof(struct spriv),
	.setup = tree_setup,
	.run = tree_run,
	.check = tree_check,
	NVT_SCALE_LIMITS(48),
	.share = 0.1,
};

const struct nvh_crashtest nvt_wl_scale_wide = {
	.name = "scale-wide",
	.what = "a 110,000-slot node unlinked, 10,000 of its leaves kept",
	.pool_size = POOL,
	.priv_size = sizeof(struct spriv),
	.setup = wide_setup,
	.run = wide_run,
	.check = wide_check,
	NVT_SCALE_LIMITS(48),
	.share = 0.1,
};

const struct nvh_crashtest nvt_wl_scale_array = {
	.name = "scale-array",
	.what = "a 1,000,000-child array freed in a nearly full pool",
	.pool_size = BIG_POOL,
	.priv_size = sizeof(struct spriv),
	.setup = big_setup,
	.run = big_run,
	.check = big_check,
	NVT_SCALE_LIMITS(48),
	.share = 0.35,
};
