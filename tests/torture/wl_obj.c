/*
 * wl_obj.c -- torture workloads for typed objects and reference counts.
 *
 *   obj-list   a refcounted list: pushes, pops (the popped node is freed
 *              by its count reaching zero), an aborted push
 *   obj-tree   a 15-node tree; cutting subtrees frees them by cascade, with
 *              releases limited to 2 per step so every cascade spans
 *              several crash-atomic drain steps (at commit and at open)
 *   obj-weak   weak pointers and pins: an object pinned while its count
 *              drops to zero stays (dying) and is linked again in a later
 *              transaction; a pinned zero-count object is freed by the
 *              recovery of a crash (pins are DRAM only); a weak pointer to a
 *              freed object reads null even when its block is reused
 *
 * Oracle: after recovery the pool's objects (list values, tree node set,
 * strong and weak fields as values) equal the state after the
 * acknowledged operations, or after the one in flight; nvh_check finds no
 * problem (no leak, no dangling pointer, every count right, types known)
 * and an empty dying list (the open drained it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#include "heap/heap.h"

#define LAYOUT "torture-obj"
#define POOL (4ull << 20)
#define MAXL 8
#define MAXOPS 12
#define NONE (-1)

NVH_TYPE(lnode);
NVH_TYPE(tnode);
NVH_TYPE(otop);

struct lnode {
	int64_t value;
	lnode_ptr next;
};

struct tnode {
	int64_t value;   /* heap index: children of i are 2i and 2i+1 */
	tnode_ptr kid0, kid1;
};

struct otop {
	lnode_ptr head;   /* obj-list */
	tnode_ptr tree;   /* obj-tree */
	lnode_ptr a, b;   /* obj-weak */
	lnode_weak w, w2;
};

NVH_TYPE_DEFINE(lnode, 0, NVH_PTR(lnode, next, lnode));
NVH_TYPE_DEFINE(tnode, 0, NVH_PTR(tnode, kid0, tnode)
		NVH_PTR(tnode, kid1, tnode));
NVH_TYPE_DEFINE(otop, 0, NVH_PTR(otop, head, lnode) NVH_PTR(otop, tree, tnode)
		NVH_PTR(otop, a, lnode) NVH_PTR(otop, b, lnode)
		NVH_WEAK(otop, w, lnode) NVH_WEAK(otop, w2, lnode));

/* What the oracle compares (values; NONE for null). */
struct ostate {
	int64_t list[MAXL];
	unsigned nlist;
	uint32_t tree;    /* bit i: tree node i present, 1..15 */
	int64_t a, b, w, w2;
};

enum op {
	L_PUSH,       /* arg: value */
	L_POP,
	L_PUSH_ABORT, /* a push that is rolled back */
	T_BUILD,      /* the full 15-node tree */
	T_CUT,        /* arg: node whose subtree is unlinked (1: the root) */
	W_NEW_A,      /* arg: value; a = new node, w = weak(a), w2 too if arg
		       * is odd */
	W_PIN_DROP_A, /* pin a, then a = null: dying, kept by the pin */
	W_RELINK_B,   /* b = the pinned object (back from the dying list) */
	W_UNPIN_DROP_B, /* unpin it, then b = null: freed at commit */
	W_UNPIN,      /* unpin the dying object: the drain frees it */
};

struct odesc {
	enum op op;
	int64_t arg;
	struct ostate after; /* as recovery must find it after this op */
};

struct opriv {
	const struct odesc *script;
	unsigned n;
	nvh_oid pinned;
};

static int
register_types(nvh_pool *p)
{
	return nvh_type_register(p, &lnode_type) ||
	       nvh_type_register(p, &tnode_type) ||
	       nvh_type_register(p, &otop_type);
}

static int
setup(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, POOL, &r->opts);
	if (!p)
		return -1;
	int rc = register_types(p) || NVH_IS_NULL(NVH_ROOT(p, otop));
	return nvh_close(p) || rc ? -1 : 0;
}

/* ---- running ---- */

static tnode_ptr
build(nvh_tx *tx, nvh_pool *p, int64_t i)
{
	if (i > 15)
		return NVH_NULL(tnode);
	tnode_ptr n = NVH_TX_ALLOC(tx, tnode);
	if (NVH_IS_NULL(n))
		return n;
	tnode_d(p, n)->value = i;
	NVH_TX_SET(tx, &tnode_d(p, n)->kid0, build(tx, p, 2 * i));
	NVH_TX_SET(tx, &tnode_d(p, n)->kid1, build(tx, p, 2 * i + 1));
	return n;
}

/* The field holding node i of the tree (the root slot's field for 1). */
static tnode_ptr *
tree_field(nvh_pool *p, struct otop *t, int64_t i)
{
	if (i == 1)
		return &t->tree;
	tnode_ptr *parent = tree_field(p, t, i / 2);
	if (!parent || NVH_IS_NULL(*parent))
		return NULL;
	struct tnode *pn = tnode_d(p, *parent);
	return i % 2 ? &pn->kid1 : &pn->kid0;
}

static int
run_op(struct opriv *op, nvh_pool *p, const struct odesc *d)
{
	struct otop *t = otop_d(p, NVH_ROOT(p, otop));
	if (!t)
		return -1;
	if (d->op == W_PIN_DROP_A) {
		op->pinned = t->a.oid;
		if (nvh_pin(p, op->pinned))
			return -1;
	}
	if (d->op == W_UNPIN_DROP_B && nvh_unpin(p, op->pinned))
		return -1;
	if (d->op == W_UNPIN)
		return nvh_unpin(p, op->pinned); /* drains: frees the object */
	nvh_tx *tx = nvh_tx_begin(p);
	if (!tx)
		return -1;
	switch (d->op) {
	case L_PUSH:
	case L_PUSH_ABORT: {
		lnode_ptr n = NVH_TX_ALLOC(tx, lnode);
		if (!NVH_IS_NULL(n)) {
			lnode_d(p, n)->value = d->arg;
			NVH_TX_SET(tx, &lnode_d(p, n)->next, t->head);
			NVH_TX_SET(tx, &t->head, n);
		}
		if (d->op == L_PUSH_ABORT)
			return nvh_tx_abort(tx) ? -1 : 0;
		break;
	}
	case L_POP:
		NVH_TX_SET(tx, &t->head, lnode_d(p, t->head)->next);
		break;
	case T_BUILD:
		NVH_TX_SET(tx, &t->tree, build(tx, p, 1));
		break;
	case T_CUT: {
		tnode_ptr *f = tree_field(p, t, d->arg);
		if (!f) { /* the script cuts only present nodes */
			nvh_tx_abort(tx);
			return -1;
		}
		NVH_TX_SET(tx, f, NVH_NULL(tnode));
		break;
	}
	case W_NEW_A: {
		lnode_ptr n = NVH_TX_ALLOC(tx, lnode);
		if (!NVH_IS_NULL(n))
			lnode_d(p, n)->value = d->arg;
		NVH_TX_SET(tx, &t->a, n);
		NVH_TX_SET_WEAK(tx, lnode, &t->w, n);
		if (d->arg % 2)
			NVH_TX_SET_WEAK(tx, lnode, &t->w2, n);
		break;
	}
	case W_PIN_DROP_A:
		NVH_TX_SET(tx, &t->a, NVH_NULL(lnode));
		break;
	case W_RELINK_B:
		NVH_TX_SET(tx, &t->b, ((lnode_ptr){op->pinned}));
		break;
	case W_UNPIN_DROP_B:
		NVH_TX_SET(tx, &t->b, NVH_NULL(lnode));
		break;
	default:
		break;
	}
	return nvh_tx_commit(tx);
}

static int
run_script(struct nvh_crashtest_run *r, const struct odesc *script, unsigned n,
	   const char *release_max)
{
	struct opriv *op = r->priv;
	op->script = script;
	op->n = n;
	if (release_max)
		setenv("NVHEAP_TEST_RELEASE_MAX", release_max, 1);
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	int rc = !p || register_types(p);
	for (unsigned k = 0; k < n && !rc; k++) {
		rc = run_op(op, p, &script[k]);
		if (!rc)
			nvh_crashtest_ack(r);
	}
	if (p && nvh_close(p))
		rc = -1;
	if (release_max)
		unsetenv("NVHEAP_TEST_RELEASE_MAX");
	return rc ? -1 : 0;
}

/* ---- the check ---- */

static int64_t
value_of(nvh_pool *p, nvh_oid o)
{
	struct lnode *n = nvh_direct(p, o);
	return n ? n->value : NONE;
}

static int
read_tree(nvh_pool *p, tnode_ptr n, int64_t i, uint32_t *mask, char *why)
{
	if (NVH_IS_NULL(n))
		return 0;
	struct tnode *tn = tnode_d(p, n);
	if (i > 15 || !tn || tn->value != i) {
		sprintf(why, "tree node %lld is missing or misplaced", (long long)i);
		return -1;
	}
	*mask |= 1u << i;
	return read_tree(p, tn->kid0, 2 * i, mask, why) ||
	       read_tree(p, tn->kid1, 2 * i + 1, mask, why);
}

static int
read_state(nvh_pool *p, struct ostate *s, char *why)
{
	memset(s, 0, sizeof(*s));
	struct otop *t = otop_d(p, NVH_ROOT(p, otop));
	if (!t) {
		sprintf(why, "root object lost");
		return -1;
	}
	for (lnode_ptr it = t->head; !NVH_IS_NULL(it); it = lnode_d(p, it)->next) {
		if (s->nlist == MAXL || !lnode_d(p, it)) {
			sprintf(why, "list too long or broken");
			return -1;
		}
		s->list[s->nlist++] = lnode_d(p, it)->value;
	}
	s->a = value_of(p, t->a.oid);
	s->b = value_of(p, t->b.oid);
	s->w = value_of(p, nvh_weak_get(p, &t->w.w));
	s->w2 = value_of(p, nvh_weak_get(p, &t->w2.w));
	return read_tree(p, t->tree, 1, &s->tree, why);
}

static int
state_eq(const struct ostate *x, const struct ostate *y)
{
	if (x->nlist != y->nlist || x->tree != y->tree || x->a != y->a ||
	    x->b != y->b || x->w != y->w || x->w2 != y->w2)
		return 0;
	return memcmp(x->list, y->list, x->nlist * sizeof(x->list[0])) == 0;
}

static void
describe(const struct ostate *s, char *buf, size_t len)
{
	int o = snprintf(buf, len, "list [");
	for (unsigned i = 0; i < s->nlist && o < (int)len; i++)
		o += snprintf(buf + o, len - o, "%s%lld", i ? " " : "",
			      (long long)s->list[i]);
	if (o < (int)len)
		snprintf(buf + o, len - o, "] tree 0x%x a %lld b %lld w %lld "
			 "w2 %lld", s->tree, (long long)s->a, (long long)s->b,
			 (long long)s->w, (long long)s->w2);
}

static int
check_with(struct nvh_crashtest_check *k, const char *release_max)
{
	struct opriv *op = k->priv;
	/* Checks run inside the run's crash points, possibly in its
	 * nvh_open before it read the knob: put back what was there. */
	const char *was = getenv("NVHEAP_TEST_RELEASE_MAX");
	char saved[32] = "";
	if (was)
		snprintf(saved, sizeof(saved), "%s", was);
	if (release_max)
		setenv("NVHEAP_TEST_RELEASE_MAX", release_max, 1);
	else
		unsetenv("NVHEAP_TEST_RELEASE_MAX");
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (was)
		setenv("NVHEAP_TEST_RELEASE_MAX", saved, 1);
	else
		unsetenv("NVHEAP_TEST_RELEASE_MAX");
	if (!p)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
				k->acked, nvh_errormsg());
	k->why[0] = 0;
	struct nvh_check_report rep;
	char why[128] = "";
	struct ostate s;
	if (nvh_check(p, &rep, NULL)) {
		nvh_crashtest_fail(k, "after %u operations nvh_check finds %llu problems "
			 "(run nvheap check on the image)", k->acked,
			 (unsigned long long)rep.problems);
	} else if (rep.dying) {
		nvh_crashtest_fail(k, "%llu objects still dying after the open",
			 (unsigned long long)rep.dying);
	} else if (read_state(p, &s, why)) {
		nvh_crashtest_fail(k, "after %u operations: %s", k->acked, why);
	} else {
		/* the acknowledged ops, or one more (in flight) */
		static const struct ostate empty = {.a = NONE, .b = NONE,
						    .w = NONE, .w2 = NONE};
		const struct ostate *done = k->acked ? &op->script[k->acked - 1].after
						     : &empty;
		const struct ostate *next = k->acked < op->n
					    ? &op->script[k->acked].after : done;
		if (!state_eq(&s, done) && !state_eq(&s, next)) {
			char got[200], want[200];
			describe(&s, got, sizeof(got));
			describe(done, want, sizeof(want));
			nvh_crashtest_fail(k, "after %u operations: found %s, expected %s%s",
				 k->acked, got, want,
				 next != done ? " (or the next op's state)" : "");
		}
	}
	if (nvh_close(p) && !k->why[0])
		nvh_crashtest_fail(k, "close after recovery: %s", nvh_errormsg());
	return k->why[0] ? -1 : 0;
}

/* ---- scripts ---- */

#define S(...) {__VA_ARGS__}
#define ST(list_, nlist_, tree_, a_, b_, w_, w2_)                            \
	{.list = S list_, .nlist = nlist_, .tree = tree_, .a = a_, .b = b_,  \
	 .w = w_, .w2 = w2_}
#define LIST(nl, ...) ST((__VA_ARGS__), nl, 0, NONE, NONE, NONE, NONE)

static const struct odesc list_script[] = {
	{L_PUSH, 1, LIST(1, 1)},
	{L_PUSH, 2, LIST(2, 2, 1)},
	{L_PUSH, 3, LIST(3, 3, 2, 1)},
	{L_POP, 0, LIST(2, 2, 1)},
	{L_PUSH_ABORT, 9, LIST(2, 2, 1)},
	{L_POP, 0, LIST(1, 1)},
	{L_PUSH, 4, LIST(2, 4, 1)},
	{L_POP, 0, LIST(1, 1)},
	{L_POP, 0, LIST(0, 0)},
};

#define ALL 0xfffeu                                /* nodes 1..15 */
#define SUB2 ((1u << 2) | (3u << 4) | (0xfu << 8))  /* 2, 4-5, 8-11 */
#define SUB6 ((1u << 6) | (3u << 12))               /* 6, 12-13 */
#define TREE(m) ST((0), 0, m, NONE, NONE, NONE, NONE)

static const struct odesc tree_script[] = {
	{T_BUILD, 0, TREE(ALL)},
	{T_CUT, 2, TREE(ALL & ~SUB2)},
	{T_CUT, 6, TREE(ALL & ~SUB2 & ~SUB6)},
	{T_CUT, 1, TREE(0)},
};

#define W(a, b, w, w2) ST((0), 0, 0, a, b, w, w2)

static const struct odesc weak_script[] = {
	{W_NEW_A, 1, W(1, NONE, 1, 1)},
	/* pinned at count 0: recovery frees it (no pins after a crash) */
	{W_PIN_DROP_A, 0, W(NONE, NONE, NONE, NONE)},
	/* linked again: alive, but weak pointers see a new incarnation */
	{W_RELINK_B, 0, W(NONE, 1, NONE, NONE)},
	{W_UNPIN_DROP_B, 0, W(NONE, NONE, NONE, NONE)},
	/* likely in the freed node's block: w2 must still read null */
	{W_NEW_A, 4, W(4, NONE, 4, NONE)},
	{W_PIN_DROP_A, 0, W(NONE, NONE, NONE, NONE)},
	{W_UNPIN, 0, W(NONE, NONE, NONE, NONE)},
};

#define N(a) (sizeof(a) / sizeof(a[0]))
_Static_assert(N(list_script) <= MAXOPS && N(weak_script) <= MAXOPS, "");

static int
list_run(struct nvh_crashtest_run *r)
{
	return run_script(r, list_script, N(list_script), NULL);
}

static int
tree_run(struct nvh_crashtest_run *r)
{
	return run_script(r, tree_script, N(tree_script), "2");
}

static int
weak_run(struct nvh_crashtest_run *r)
{
	return run_script(r, weak_script, N(weak_script), NULL);
}

static int
check_plain(struct nvh_crashtest_check *k)
{
	return check_with(k, NULL);
}

static int
check_tree(struct nvh_crashtest_check *k)
{
	return check_with(k, "2");
}

const struct nvh_crashtest nvt_wl_obj_list = {
	.name = "obj-list",
	.what = "refcounted list: push, pop (count frees), aborted push",
	.pool_size = POOL,
	.priv_size = sizeof(struct opriv),
	.setup = setup,
	.run = list_run,
	.check = check_plain,
};

const struct nvh_crashtest nvt_wl_obj_tree = {
	.name = "obj-tree",
	.what = "cutting subtrees: cascades in steps of 2 releases",
	.pool_size = POOL,
	.priv_size = sizeof(struct opriv),
	.setup = setup,
	.run = tree_run,
	.check = check_tree,
};

const struct nvh_crashtest nvt_wl_obj_weak = {
	.name = "obj-weak",
	.what = "pins across transactions, weak pointers to freed objects",
	.pool_size = POOL,
	.priv_size = sizeof(struct opriv),
	.setup = setup,
	.run = weak_run,
	.check = check_plain,
};
