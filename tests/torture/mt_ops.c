/*
 * mt_ops.c -- the transactions of the multi-threaded object workload
 * (mt_obj.c describes the structures and the oracle): each picks its
 * target (walking what it will cut or move), builds its transaction,
 * announces the deltas of the structures' sums through the intent hook,
 * commits (the drain of what it unlinked included) and reports the
 * result through the done hook.  A failure no operation should meet
 * stops the thread with a message (mt_thread.err).
 *
 * Locks: at most a structure mutex (stack or bag), then one item mutex;
 * shared counts and slots are read only under their mutex.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_layout.h"

#define LIST_MAX 3000     /* a longer stack is cut */
#define TREE_MAX 4000     /* a larger tree is cut at its root */
#define SLIST_MAX 1500
#define BIG_SUB 21        /* nodes of each subtree of MT_BIG (two levels) */
#define BIG_SLOTS 128     /* subtrees one grow adds */

struct ctx {
	struct mt_thread *c;
	nvh_pool *pool;
	struct mt_root *r;
	struct mt_thr *th;
	uint64_t rng, seq;
	struct mt_op op;
	struct mt_walk w;
	mt_node_ptr *built;
	size_t cbuilt;
	nvh_mutex *held[2];
	int nheld;
};

static uint64_t
rnd(struct ctx *x, uint64_t n)
{
	return n ? mt_rand(&x->rng) % n : 0;
}

static void
phase(struct ctx *x, uint32_t stage)
{
	if (!x->c->phase)
		return;
	__atomic_store_n(&x->c->phase->op, x->op.kind, __ATOMIC_RELAXED);
	__atomic_store_n(&x->c->phase->stage, stage, __ATOMIC_RELEASE);
}

static int
fail(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(x->c->err, sizeof(x->c->err), "thread %u, %s (seq %"
			 PRIu64 "): ", x->c->t, mt_op_name[x->op.kind],
			 x->op.seq);
	vsnprintf(x->c->err + n, sizeof(x->c->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
lock(struct ctx *x, nvh_mutex *m)
{
	int rc = nvh_mutex_lock(x->pool, m);
	if (rc)
		return fail(x, "nvh_mutex_lock: %s", nvh_errormsg());
	x->held[x->nheld++] = m;
	return 0;
}

static int
unlock_all(struct ctx *x, int rc)
{
	while (x->nheld) {
		int u = nvh_mutex_unlock(x->pool, x->held[--x->nheld]);
		if (u && !rc)
			rc = fail(x, "nvh_mutex_unlock: %s", nvh_errormsg());
	}
	return rc;
}

static void
delta(struct ctx *x, unsigned s, int64_t dn, uint64_t dh)
{
	struct mt_op *op = &x->op;
	for (uint32_t i = 0; i < op->nd; i++)
		if (op->d[i].s == s) {
			op->d[i].dn += dn;
			op->d[i].dh += dh;
			return;
		}
	if (op->nd < MT_MAXD)
		op->d[op->nd++] = (struct mt_delta){s, 0, dn, dh};
}

static void
delta_sum(struct ctx *x, unsigned s, const struct mt_sum *m, int sign)
{
	delta(x, s, sign * m->n, sign > 0 ? m->h : -m->h);
}

static unsigned
priv(struct ctx *x, unsigned k)
{
	return MT_PRIV(x->c->t, k);
}

/* Start an op's transaction; its thread record snapshotted (values,
 * counts).  NULL: failed (x->c->err). */
static nvh_tx *
op_begin(struct ctx *x, unsigned kind)
{
	memset(&x->op, 0, sizeof(x->op));
	x->op.kind = kind;
	x->op.seq = ++x->seq;
	phase(x, MT_BODY);
	nvh_tx *tx = nvh_tx_begin(x->pool);
	if (!tx) {
		fail(x, "nvh_tx_begin: %s", nvh_errormsg());
		return NULL;
	}
	if (nvh_tx_add(tx, x->th, offsetof(struct mt_thr, list))) {
		fail(x, "nvh_tx_add: %s", nvh_errormsg());
		nvh_tx_abort(tx);
		return NULL;
	}
	return tx;
}

/* Announce, commit (or roll back on purpose), report.  0, or -1 on an
 * error no operation should meet (x->c->err). */
static int
op_end(struct ctx *x, nvh_tx *tx, int rollback)
{
	const struct mt_hooks *h = x->c->hooks;
	if (h && h->intent && h->intent(h->arg, x->c->t, &x->op)) {
		nvh_tx_abort(tx);
		return fail(x, "the intent hook failed");
	}
	phase(x, MT_COMMIT);
	int rc = rollback ? nvh_tx_abort(tx) : nvh_tx_commit(tx);
	char msg[400];
	snprintf(msg, sizeof(msg), "%s", rc ? nvh_errormsg() : "");
	phase(x, MT_IDLE);
	if (h && h->done && h->done(h->arg, x->c->t, &x->op, rc))
		return fail(x, "the done hook failed");
	if (!rc) {
		x->c->ran[x->op.kind]++;
		return 0;
	}
	/* a lent item another thread freed before this commit */
	if (x->op.kind == MT_OP_ITEM_LEND && x->c->lend_race && rc == -EINVAL) {
		x->c->refused[x->op.kind]++;
		return 0;
	}
	return fail(x, "%s: %d %s", rollback ? "abort" : "commit", rc, msg);
}

/* A new node's value: unique among the pool's nodes. */
static uint64_t
new_value(struct ctx *x, uint64_t tag)
{
	return tag | (uint64_t)(x->c->t + 1) << 56 | x->th->next_value++;
}

/*
 * A new subtree of n nodes, heap-shaped (node i under node (i-1)/4);
 * each node holds `it` (of value iv) if not null, all of them or every
 * other one at random; its fingerprints are added to *s.  Null if the
 * transaction failed.
 */
static mt_node_ptr
build(struct ctx *x, nvh_tx *tx, size_t n, mt_item_ptr it, uint64_t iv,
      int all, struct mt_sum *s)
{
	nvh_pool *pool = x->pool;
	if (n > x->cbuilt) {
		x->cbuilt = n;
		x->built = realloc(x->built, n * sizeof(*x->built));
		if (!x->built)
			abort();
	}
	for (size_t i = 0; i < n; i++) {
		mt_node_ptr v = NVH_TX_ALLOC(tx, mt_node);
		struct mt_node *d = NVH_IS_NULL(v) ? NULL : mt_node_d(pool, v);
		if (!d)
			return NVH_NULL(mt_node);
		d->value = new_value(x, 0);
		int with = !NVH_IS_NULL(it) && (all || rnd(x, 2));
		if (with && NVH_TX_SET(tx, &d->item, it))
			return NVH_NULL(mt_node);
		s->n++;
		s->h += mt_fp_node(d->value, with ? iv : 0);
		x->built[i] = v;
		if (i && NVH_TX_SET(tx, &mt_node_d(pool, x->built[(i - 1) / KIDS])
				    ->kid[(i - 1) % KIDS], v))
			return NVH_NULL(mt_node);
	}
	return x->built[0];
}

/* A random item, its mutex held (to the end of the op, unlock_all): *i
 * its index, *iv its value. */
static int
lock_item(struct ctx *x, unsigned *i, mt_item_ptr *it, uint64_t *iv)
{
	*i = (unsigned)rnd(x, NITEMS);
	if (lock(x, &x->r->m_item[*i]))
		return -1;
	*it = x->r->item[*i];
	*iv = mt_item_d(x->pool, *it)->value;
	return 0;
}

/* Maybe (1 in 3) an item for the new nodes, as lock_item. */
static int
maybe_item(struct ctx *x, mt_item_ptr *it, uint64_t *iv)
{
	unsigned i;
	*it = NVH_NULL(mt_item);
	*iv = 0;
	return rnd(x, 3) ? 0 : lock_item(x, &i, it, iv);
}

static int
walk_sum(struct ctx *x, mt_node_ptr n, struct mt_sum *s)
{
	char why[200];
	memset(s, 0, sizeof(*s));
	if (mt_walk_add(x->pool, &x->w, n, s, why, sizeof(why)))
		return fail(x, "walk: %s", why);
	return 0;
}

/* Add node n alone to *s. */
static int
node_add(struct ctx *x, mt_node_ptr n, struct mt_sum *s)
{
	struct mt_node *d = mt_node_d(x->pool, n);
	struct mt_item *it = !d || NVH_IS_NULL(d->item) ? NULL
			     : mt_item_d(x->pool, d->item);
	if (!d || (!it && !NVH_IS_NULL(d->item)))
		return fail(x, "node 0x%" PRIx64 " or its item is not live",
			    n.oid.off);
	s->n++;
	s->h += mt_fp_node(d->value, it ? it->value : 0);
	return 0;
}

/* k new nodes pushed onto the stack at head (each holding `it` at
 * random, as build does); the new head (null if the transaction
 * failed). */
static mt_node_ptr
push_nodes(struct ctx *x, nvh_tx *tx, mt_node_ptr head, size_t k,
	   mt_item_ptr it, uint64_t iv, struct mt_sum *s)
{
	for (size_t i = 0; i < k; i++) {
		mt_node_ptr v = build(x, tx, 1, it, iv, 0, s);
		if (NVH_IS_NULL(v) ||
		    NVH_TX_SET(tx, &mt_node_d(x->pool, v)->next, head))
			return NVH_NULL(mt_node);
		head = v;
	}
	return head;
}

/* The first k nodes of the stack at head added to *s; *rest: the nodes
 * after them. */
static int
pop_nodes(struct ctx *x, mt_node_ptr head, size_t k, struct mt_sum *s,
	  mt_node_ptr *rest)
{
	for (size_t i = 0; i < k && !NVH_IS_NULL(head); i++) {
		if (node_add(x, head, s))
			return -1;
		head = mt_node_d(x->pool, head)->next;
	}
	*rest = head;
	return 0;
}

/* ---- private structures ---- */

/*
 * The op `kind`: the subtree `sub` linked into the null field *to (of
 * structure ts, whose own node count is *tc) if `to`, and unlinked from
 * *f (structure fs, count *fc) if `f`: a cut, a move or a second
 * reference, its deltas from a walk of `sub`.
 */
static int
relink(struct ctx *x, unsigned kind, mt_node_ptr sub, mt_node_ptr *f,
       unsigned fs, uint64_t *fc, mt_node_ptr *to, unsigned ts, uint64_t *tc)
{
	struct mt_sum m;
	nvh_tx *tx = op_begin(x, kind);
	if (!tx || walk_sum(x, sub, &m))
		return tx ? (nvh_tx_abort(tx), -1) : -1;
	if (to) {
		nvh_tx_add(tx, tc, sizeof(*tc));
		NVH_TX_SET(tx, to, sub);
		*tc += (uint64_t)m.n;
		delta_sum(x, ts, &m, 1);
	}
	if (f) {
		nvh_tx_add(tx, fc, sizeof(*fc));
		NVH_TX_SET(tx, f, NVH_NULL(mt_node));
		*fc -= (uint64_t)m.n;
		delta_sum(x, fs, &m, -1);
	}
	return op_end(x, tx, 0);
}

/* A field of this thread's structure k cut. */
static int
cut_own(struct ctx *x, unsigned kind, mt_node_ptr *f, unsigned k)
{
	return relink(x, kind, *f, f, priv(x, k), &x->th->n[k], NULL, 0, NULL);
}

static int
list_cut(struct ctx *x)
{
	return cut_own(x, MT_OP_LIST_CUT, &x->th->list, MT_LIST);
}

static int
list_push(struct ctx *x)
{
	if (x->th->n[MT_LIST] > LIST_MAX)
		return list_cut(x);
	size_t k = rnd(x, 4) ? 1 : 1 + rnd(x, 200);
	mt_item_ptr it;
	uint64_t iv;
	if (maybe_item(x, &it, &iv))
		return -1;
	nvh_tx *tx = op_begin(x, MT_OP_LIST_PUSH);
	if (!tx)
		return unlock_all(x, -1);
	struct mt_sum s = {0};
	NVH_TX_SET(tx, &x->th->list, push_nodes(x, tx, x->th->list, k, it, iv,
						 &s));
	x->th->n[MT_LIST] += k;
	delta_sum(x, priv(x, MT_LIST), &s, 1);
	return unlock_all(x, op_end(x, tx, 0));
}

static int
list_pop(struct ctx *x)
{
	if (NVH_IS_NULL(x->th->list))
		return 1;
	size_t k = rnd(x, 3) ? 1 : 1 + rnd(x, 50);
	nvh_tx *tx = op_begin(x, MT_OP_LIST_POP);
	if (!tx)
		return -1;
	struct mt_sum s = {0};
	mt_node_ptr head;
	if (pop_nodes(x, x->th->list, k, &s, &head))
		return nvh_tx_abort(tx), -1;
	NVH_TX_SET(tx, &x->th->list, head);
	x->th->n[MT_LIST] -= (uint64_t)s.n;
	delta_sum(x, priv(x, MT_LIST), &s, -1);
	return op_end(x, tx, 0);
}

/* A random subtree of the tree: the field holding it (&th->tree or a
 * node's kid), or NULL if the tree is empty. */
static mt_node_ptr *
pick_subtree(struct ctx *x)
{
	mt_node_ptr *f = &x->th->tree;
	if (NVH_IS_NULL(*f))
		return NULL;
	while (rnd(x, 4)) {
		mt_node_ptr *k = &mt_node_d(x->pool, *f)->kid[rnd(x, KIDS)];
		if (NVH_IS_NULL(*k))
			break;
		f = k;
	}
	return f;
}

/* A null field of the tree reached by a random descent that does not
 * pass through `avoid`; NULL if it would. */
static mt_node_ptr *
pick_free(struct ctx *x, mt_node_ptr avoid)
{
	mt_node_ptr *f = &x->th->tree;
	while (!NVH_IS_NULL(*f)) {
		if (f->oid.off == avoid.oid.off)
			return NULL;
		f = &mt_node_d(x->pool, *f)->kid[rnd(x, KIDS)];
	}
	return f;
}

/* A slot of n holding null (want_null) or not, from a random start. */
static int
pick_slot(struct ctx *x, const mt_node_ptr *slot, size_t n, int want_null)
{
	size_t at = rnd(x, n);
	for (size_t i = 0; i < n; i++) {
		size_t j = (at + i) % n;
		if (NVH_IS_NULL(slot[j]) == want_null)
			return (int)j;
	}
	return -1;
}

static int
tree_add(struct ctx *x)
{
	if (x->th->n[MT_TREE] > TREE_MAX)
		return cut_own(x, MT_OP_TREE_CUT, &x->th->tree, MT_TREE);
	mt_item_ptr it;
	uint64_t iv;
	if (maybe_item(x, &it, &iv))
		return -1;
	nvh_tx *tx = op_begin(x, MT_OP_TREE_ADD);
	if (!tx)
		return unlock_all(x, -1);
	struct mt_sum s = {0};
	mt_node_ptr *f = pick_free(x, NVH_NULL(mt_node));
	mt_node_ptr sub = build(x, tx, 1 + rnd(x, 64), it, iv, 0, &s);
	NVH_TX_SET(tx, f, sub);
	x->th->n[MT_TREE] += (uint64_t)s.n;
	delta_sum(x, priv(x, MT_TREE), &s, 1);
	return unlock_all(x, op_end(x, tx, 0));
}

static int
tree_cut(struct ctx *x)
{
	mt_node_ptr *f = pick_subtree(x);
	return f ? cut_own(x, MT_OP_TREE_CUT, f, MT_TREE) : 1;
}

/* A subtree moved elsewhere in the tree: nothing changes in the sums,
 * so both links present or both gone shows. */
static int
tree_move(struct ctx *x)
{
	mt_node_ptr *f = pick_subtree(x);
	if (!f || f == &x->th->tree)
		return 1;
	mt_node_ptr *to = pick_free(x, *f);
	uint64_t *n = &x->th->n[MT_TREE];
	return to ? relink(x, MT_OP_TREE_MOVE, *f, f, priv(x, MT_TREE), n, to,
			   priv(x, MT_TREE), n) : 1;
}

static int
tree_to_wide(struct ctx *x)
{
	struct mt_wide *w = mt_wide_d(x->pool, x->th->wide);
	mt_node_ptr *f = pick_subtree(x);
	int k = f ? pick_slot(x, w->slot, WIDTH, 1) : -1;
	return k < 0 ? 1 : relink(x, MT_OP_TREE_TO_WIDE, *f, f,
				  priv(x, MT_TREE), &x->th->n[MT_TREE],
				  &w->slot[k], priv(x, MT_WIDE),
				  &x->th->n[MT_WIDE]);
}

static int
wide_clear(struct ctx *x)
{
	struct mt_wide *w = mt_wide_d(x->pool, x->th->wide);
	int k = pick_slot(x, w->slot, WIDTH, 0);
	return k < 0 ? 1 : cut_own(x, MT_OP_WIDE_CLEAR, &w->slot[k], MT_WIDE);
}

static int
wide_put(struct ctx *x)
{
	struct mt_wide *w = mt_wide_d(x->pool, x->th->wide);
	int k = pick_slot(x, w->slot, WIDTH, 1);
	if (k < 0)
		return wide_clear(x);
	mt_item_ptr it;
	uint64_t iv;
	if (maybe_item(x, &it, &iv))
		return -1;
	nvh_tx *tx = op_begin(x, MT_OP_WIDE_PUT);
	if (!tx)
		return unlock_all(x, -1);
	struct mt_sum s = {0};
	NVH_TX_SET(tx, &w->slot[k], build(x, tx, 1 + rnd(x, 30), it, iv, 0, &s));
	x->th->n[MT_WIDE] += (uint64_t)s.n;
	delta_sum(x, priv(x, MT_WIDE), &s, 1);
	return unlock_all(x, op_end(x, tx, 0));
}

/* A new wide node keeping about half of the old one's subtrees: the old
 * one is released with the rest (the kept ones at count 2, then 1, in
 * one commit). */
static int
wide_replace(struct ctx *x)
{
	struct mt_wide *w = mt_wide_d(x->pool, x->th->wide);
	nvh_tx *tx = op_begin(x, MT_OP_WIDE_REPLACE);
	if (!tx)
		return -1;
	mt_wide_ptr nw = NVH_TX_ALLOC(tx, mt_wide);
	struct mt_wide *n = NVH_IS_NULL(nw) ? NULL : mt_wide_d(x->pool, nw);
	struct mt_sum gone = {0}, s;
	for (int i = 0; n && i < WIDTH; i++) {
		if (NVH_IS_NULL(w->slot[i]))
			continue;
		if (rnd(x, 2)) {
			NVH_TX_SET(tx, &n->slot[i], w->slot[i]);
			continue;
		}
		if (walk_sum(x, w->slot[i], &s))
			return nvh_tx_abort(tx), -1;
		gone.n += s.n;
		gone.h += s.h;
	}
	NVH_TX_SET(tx, &x->th->wide, nw);
	x->th->n[MT_WIDE] -= (uint64_t)gone.n;
	delta_sum(x, priv(x, MT_WIDE), &gone, -1);
	return op_end(x, tx, 0);
}

static int
big_cut(struct ctx *x)
{
	if (NVH_IS_NULL(x->th->big))
		return 1;
	struct mt_huge *b = mt_huge_d(x->pool, x->th->big);
	struct mt_sum all = {0}, s;
	nvh_tx *tx = op_begin(x, MT_OP_BIG_CUT);
	if (!tx)
		return -1;
	for (int i = 0; i < HUGE; i++) {
		if (walk_sum(x, b->slot[i], &s))
			return nvh_tx_abort(tx), -1;
		all.n += s.n;
		all.h += s.h;
	}
	NVH_TX_SET(tx, &x->th->big, NVH_NULL(mt_huge));
	x->th->n[MT_BIG] = 0;
	delta_sum(x, priv(x, MT_BIG), &all, -1);
	if ((uint64_t)all.n > x->c->biggest_cut)
		x->c->biggest_cut = (uint64_t)all.n;
	return op_end(x, tx, 0);
}

static int
big_grow(struct ctx *x)
{
	if (x->th->n[MT_BIG] >= x->c->big_max)
		return big_cut(x);
	mt_item_ptr it;
	uint64_t iv;
	if (maybe_item(x, &it, &iv))
		return -1;
	nvh_tx *tx = op_begin(x, MT_OP_BIG_GROW);
	if (!tx)
		return unlock_all(x, -1);
	mt_huge_ptr bp = x->th->big;
	if (NVH_IS_NULL(bp)) {
		bp = NVH_TX_ALLOC(tx, mt_huge);
		NVH_TX_SET(tx, &x->th->big, bp);
	}
	struct mt_huge *b = NVH_IS_NULL(bp) ? NULL : mt_huge_d(x->pool, bp);
	struct mt_sum s = {0};
	for (int i = 0, added = 0; b && i < HUGE && added < BIG_SLOTS; i++) {
		if (!NVH_IS_NULL(b->slot[i]))
			continue;
		NVH_TX_SET(tx, &b->slot[i], build(x, tx, BIG_SUB, it, iv, 0, &s));
		added++;
	}
	x->th->n[MT_BIG] += (uint64_t)s.n;
	delta_sum(x, priv(x, MT_BIG), &s, 1);
	return unlock_all(x, op_end(x, tx, 0));
}

/* Thousands of new nodes pushed, maybe the tree and the big structure
 * unlinked too, then all rolled back. */
static int
rollback(struct ctx *x)
{
	nvh_tx *tx = op_begin(x, MT_OP_ROLLBACK);
	if (!tx)
		return -1;
	uint64_t max = x->c->rollback_max;
	size_t k = (size_t)(max / 2 + rnd(x, max / 2 + 1));
	struct mt_sum s = {0};
	NVH_TX_SET(tx, &x->th->list, push_nodes(x, tx, x->th->list, k,
						 NVH_NULL(mt_item), 0, &s));
	x->th->n[MT_LIST] += k;
	if (rnd(x, 2)) {
		NVH_TX_SET(tx, &x->th->tree, NVH_NULL(mt_node));
		NVH_TX_SET(tx, &x->th->big, NVH_NULL(mt_huge));
	}
	return op_end(x, tx, 1);
}

/* A pinned subtree cut from the tree (it waits, dying, on the list), then
 * maybe linked into the wide node, then unpinned (freed if not linked). */
static int
pin_cut(struct ctx *x)
{
	mt_node_ptr *f = pick_subtree(x);
	if (!f)
		return 1;
	mt_node_ptr sub = *f;
	if (nvh_pin(x->pool, sub.oid))
		return fail(x, "nvh_pin: %s", nvh_errormsg());
	int rc = cut_own(x, MT_OP_PIN_CUT, f, MT_TREE);
	struct mt_wide *w = mt_wide_d(x->pool, x->th->wide);
	int k = pick_slot(x, w->slot, WIDTH, 1);
	if (!rc && k >= 0 && rnd(x, 2))
		rc = relink(x, MT_OP_PIN_RELINK, sub, NULL, 0, NULL, &w->slot[k],
			    priv(x, MT_WIDE), &x->th->n[MT_WIDE]);
	if (nvh_unpin(x->pool, sub.oid) && !rc)
		rc = fail(x, "nvh_unpin: %s", nvh_errormsg());
	return rc;
}

/* ---- shared structures ---- */

static int
slist_cut(struct ctx *x)
{
	if (lock(x, &x->r->m_slist))
		return -1;
	return unlock_all(x, relink(x, MT_OP_SLIST_CUT, x->r->slist,
				    &x->r->slist, MT_SLIST, &x->r->slist_n,
				    NULL, 0, NULL));
}

static int
slist_push(struct ctx *x)
{
	if (lock(x, &x->r->m_slist))
		return -1;
	if (x->r->slist_n > SLIST_MAX)
		return unlock_all(x, 0) ? -1 : slist_cut(x);
	mt_item_ptr it;
	uint64_t iv;
	if (maybe_item(x, &it, &iv))
		return unlock_all(x, -1);
	nvh_tx *tx = op_begin(x, MT_OP_SLIST_PUSH);
	if (!tx)
		return unlock_all(x, -1);
	nvh_tx_add(tx, &x->r->slist_n, sizeof(x->r->slist_n));
	struct mt_sum s = {0};
	NVH_TX_SET(tx, &x->r->slist, push_nodes(x, tx, x->r->slist,
						 1 + rnd(x, 8), it, iv, &s));
	x->r->slist_n += (uint64_t)s.n;
	delta_sum(x, MT_SLIST, &s, 1);
	return unlock_all(x, op_end(x, tx, 0));
}

static int
slist_pop(struct ctx *x)
{
	if (lock(x, &x->r->m_slist))
		return -1;
	if (NVH_IS_NULL(x->r->slist))
		return unlock_all(x, 1);
	nvh_tx *tx = op_begin(x, MT_OP_SLIST_POP);
	if (!tx)
		return unlock_all(x, -1);
	nvh_tx_add(tx, &x->r->slist_n, sizeof(x->r->slist_n));
	struct mt_sum s = {0};
	mt_node_ptr head;
	if (pop_nodes(x, x->r->slist, 1 + rnd(x, 8), &s, &head))
		return unlock_all(x, (nvh_tx_abort(tx), -1));
	NVH_TX_SET(tx, &x->r->slist, head);
	x->r->slist_n -= (uint64_t)s.n;
	delta_sum(x, MT_SLIST, &s, -1);
	return unlock_all(x, op_end(x, tx, 0));
}

/* One of this thread's wide subtrees into a free bag slot: its root's
 * count goes to 2. */
static int
bag_share(struct ctx *x)
{
	struct mt_wide *w = mt_wide_d(x->pool, x->th->wide);
	int k = pick_slot(x, w->slot, WIDTH, 0);
	if (k < 0)
		return 1;
	if (lock(x, &x->r->m_bag))
		return -1;
	struct mt_wide *bag = mt_wide_d(x->pool, x->r->bag);
	int b = pick_slot(x, bag->slot, WIDTH, 1);
	return unlock_all(x, b < 0 ? 1 : relink(x, MT_OP_SHARE, w->slot[k],
		NULL, 0, NULL, &bag->slot[b], MT_BAG, &x->r->bag_n));
}

/* A bag slot cleared: the subtree, any thread's, is freed if its owner
 * dropped it meanwhile. */
static int
bag_unshare(struct ctx *x)
{
	if (lock(x, &x->r->m_bag))
		return -1;
	struct mt_wide *bag = mt_wide_d(x->pool, x->r->bag);
	int b = pick_slot(x, bag->slot, WIDTH, 0);
	return unlock_all(x, b < 0 ? 1 : relink(x, MT_OP_UNSHARE, bag->slot[b],
		&bag->slot[b], MT_BAG, &x->r->bag_n, NULL, 0, NULL));
}

static int
bag_cut(struct ctx *x)
{
	if (lock(x, &x->r->m_bag))
		return -1;
	struct mt_wide *bag = mt_wide_d(x->pool, x->r->bag);
	struct mt_sum all = {0}, s;
	nvh_tx *tx = op_begin(x, MT_OP_BAG_CUT);
	if (!tx)
		return unlock_all(x, -1);
	for (int i = 0; i < WIDTH; i++) {
		if (walk_sum(x, bag->slot[i], &s))
			return unlock_all(x, (nvh_tx_abort(tx), -1));
		all.n += s.n;
		all.h += s.h;
	}
	nvh_tx_add(tx, &x->r->bag_n, sizeof(x->r->bag_n));
	NVH_TX_SET(tx, &x->r->bag, NVH_TX_ALLOC(tx, mt_wide));
	x->r->bag_n = 0;
	delta_sum(x, MT_BAG, &all, -1);
	return unlock_all(x, op_end(x, tx, 0));
}

/* An item replaced: the nodes holding the old one keep it alive. */
static int
item_replace(struct ctx *x)
{
	unsigned i;
	mt_item_ptr it;
	uint64_t old;
	if (lock_item(x, &i, &it, &old))
		return -1;
	nvh_tx *tx = op_begin(x, MT_OP_ITEM_REPLACE);
	if (!tx)
		return unlock_all(x, -1);
	it = NVH_TX_ALLOC(tx, mt_item);
	uint64_t v = new_value(x, ITEM_TAG);
	if (!NVH_IS_NULL(it))
		mt_item_d(x->pool, it)->value = v;
	NVH_TX_SET(tx, &x->r->item[i], it);
	delta(x, MT_ITEMS, 0, mt_fp_item(v) - mt_fp_item(old));
	return unlock_all(x, op_end(x, tx, 0));
}

/* An item stored into a new node under its mutex.  With lend_race the
 * mutex is released before the commit: another thread may replace the
 * item and free it first, and then this commit must fail (EINVAL), not
 * link a freed object (it does not when the block was allocated again
 * meanwhile: see the known bug in tests/unit/test_stress.c). */
static int
item_lend(struct ctx *x)
{
	unsigned i;
	mt_item_ptr it;
	uint64_t iv;
	if (lock_item(x, &i, &it, &iv))
		return -1;
	nvh_tx *tx = op_begin(x, MT_OP_ITEM_LEND);
	if (!tx)
		return unlock_all(x, -1);
	struct mt_sum s = {0};
	mt_node_ptr v = build(x, tx, 1, it, iv, 1, &s);
	if (!NVH_IS_NULL(v))
		NVH_TX_SET(tx, &mt_node_d(x->pool, v)->next, x->th->list);
	NVH_TX_SET(tx, &x->th->list, v);
	x->th->n[MT_LIST]++;
	delta_sum(x, priv(x, MT_LIST), &s, 1);
	if (!x->c->lend_race)
		return unlock_all(x, op_end(x, tx, 0));
	if (unlock_all(x, 0))
		return nvh_tx_abort(tx), -1;
	for (uint64_t k = rnd(x, 3); k; k--)
		sched_yield();
	return op_end(x, tx, 0);
}

/* A weak pointer to a node of the bag (any thread's), with the node's
 * value; the mutex is released before the commit (a weak pointer holds
 * no count: the node may be freed first, and the pointer then reads
 * null). */
static int
weak_set(struct ctx *x)
{
	if (lock(x, &x->r->m_bag))
		return -1;
	struct mt_wide *bag = mt_wide_d(x->pool, x->r->bag);
	int b = pick_slot(x, bag->slot, WIDTH, 0);
	if (b < 0)
		return unlock_all(x, 1);
	mt_node_ptr n = bag->slot[b];
	nvh_tx *tx = op_begin(x, MT_OP_WEAK_SET);
	if (!tx)
		return unlock_all(x, -1);
	NVH_TX_SET_WEAK(tx, mt_node, &x->th->peek, n);
	x->th->peek_value = mt_node_d(x->pool, n)->value;
	if (unlock_all(x, 0))
		return nvh_tx_abort(tx), -1;
	return op_end(x, tx, 0);
}

/* The weak pointer read with no lock while other threads may free its
 * node: null, or (pinned, then read again: still the same incarnation)
 * the node of the value stored with it. */
static int
weak_get(struct ctx *x)
{
	x->op.kind = MT_OP_WEAK_GET;
	x->c->ran[MT_OP_WEAK_GET]++;
	mt_node_ptr n = NVH_WEAK_GET(x->pool, mt_node, &x->th->peek);
	if (NVH_IS_NULL(n) || nvh_pin(x->pool, n.oid))
		return 0; /* gone (a pin fails once it is being freed) */
	int rc = 0;
	mt_node_ptr again = NVH_WEAK_GET(x->pool, mt_node, &x->th->peek);
	/* (else freed, and the block maybe reused, before the pin) */
	struct mt_node *d = again.oid.off == n.oid.off ? mt_node_d(x->pool, n)
						       : NULL;
	if (again.oid.off != n.oid.off)
		;
	else if (!d || d->value != x->th->peek_value)
		rc = fail(x, "a weak pointer stored for the node of value %"
			  PRIx64 " reads %s %" PRIx64, x->th->peek_value,
			  d ? "a node of value" : "no node at",
			  d ? d->value : n.oid.off);
	else
		x->c->weak_live++;
	if (nvh_unpin(x->pool, n.oid) && !rc)
		rc = fail(x, "nvh_unpin: %s", nvh_errormsg());
	return rc;
}

/* ---- the loop ---- */

typedef int (*op_fn)(struct ctx *);

static const struct {
	op_fn fn;
	unsigned weight;
} ops[] = {
	{list_push, 12}, {list_pop, 8}, {list_cut, 1},
	{tree_add, 12}, {tree_cut, 5}, {tree_move, 6}, {tree_to_wide, 3},
	{wide_put, 6}, {wide_clear, 4}, {wide_replace, 2},
	{big_grow, 10}, {rollback, 1}, {pin_cut, 3},
	{slist_push, 6}, {slist_pop, 5}, {slist_cut, 1},
	{bag_share, 4}, {bag_unshare, 4}, {bag_cut, 1},
	{item_replace, 5}, {item_lend, 3},
	{weak_set, 2}, {weak_get, 4},
};

void *
mt_run(void *arg)
{
	struct mt_thread *c = arg;
	struct ctx x = {.c = c, .pool = c->pool, .rng = c->seed};
	c->err[0] = 0;
	if (!c->big_max)
		c->big_max = 12000;
	if (!c->rollback_max)
		c->rollback_max = 12000;
	x.r = mt_root_of(c->pool);
	if (!x.r || c->t >= x.r->nthreads ||
	    !(x.th = mt_thr_d(c->pool, x.r->thr[c->t]))) {
		snprintf(c->err, sizeof(c->err), "thread %u: no such thread's "
			 "structures (mt_setup?)", c->t);
		return c;
	}
	unsigned total = 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		total += ops[i].weight;
	for (uint64_t done = 0; !c->ops || done < c->ops;) {
		unsigned w = (unsigned)rnd(&x, total);
		size_t i = 0;
		while (w >= ops[i].weight)
			w -= ops[i++].weight;
		int rc = ops[i].fn(&x);
		if (rc < 0)
			break;
		done += rc == 0;
	}
	unlock_all(&x, 0);
	free(x.w.v);
	free(x.built);
	return c->err[0] ? c : NULL;
}
