/*
 * mt_obj.c -- the multi-threaded object workload's structures, and its
 * oracle (the transactions on them are in mt_ops.c).
 *
 * Each thread owns four structures: a stack, a 4-ary tree, a 64-slot
 * node of subtrees, and a 1,024-slot node grown past 12,000 nodes and
 * then cut in one transaction (a cascade over many drain steps, the
 * wide node itself released over several).  All threads share three,
 * each behind an nvh_mutex: a stack, a 64-slot "bag" holding subtrees of
 * the threads' wide nodes (so those have counts of 2, and whichever
 * thread lets go last frees them), and 16 items that nodes of every
 * structure point to.  Each thread also keeps a weak pointer to a node
 * of the bag.
 *
 * The oracle: a structure's contents are the multiset of the nodes
 * reachable from it, summed as a count and a sum of 64-bit fingerprints
 * (of the node's value and its item's value).  Every transaction
 * announces its effect as deltas of those sums before its commit (the
 * values it writes are known; what it cuts or moves it walks first), so
 * the state after any set of acknowledged transactions is the starting
 * sums plus their deltas, in any order.  A wrong free, a lost or doubled
 * link, an item's value changed or a transaction half applied changes a
 * sum; a corruption already present when a cut walks it stays visible
 * (the sums are linear).  Nodes under the wide and bag slots never change
 * once placed, so sharing them cannot change a structure behind its
 * owner's back.  The structures also keep their node counts in the pool
 * (plain undo-logged data), checked against the walks, and a weak
 * pointer must read null or the node of the value stored with it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_layout.h"

NVH_TYPE_DEFINE(mt_item, 0);
NVH_TYPE_DEFINE(mt_node, 0, NVH_PTR(mt_node, next, mt_node)
		NVH_PTR_N(mt_node, kid, KIDS, mt_node)
		NVH_PTR(mt_node, item, mt_item));
NVH_TYPE_DEFINE(mt_wide, 0, NVH_PTR_N(mt_wide, slot, WIDTH, mt_node));
NVH_TYPE_DEFINE(mt_huge, 0, NVH_PTR_N(mt_huge, slot, HUGE, mt_node));
NVH_TYPE_DEFINE(mt_thr, 0, NVH_WEAK(mt_thr, peek, mt_node)
		NVH_PTR(mt_thr, list, mt_node)
		NVH_PTR(mt_thr, tree, mt_node) NVH_PTR(mt_thr, wide, mt_wide)
		NVH_PTR(mt_thr, big, mt_huge));
NVH_TYPE_DEFINE(mt_root, 0, NVH_PTR(mt_root, slist, mt_node)
		NVH_PTR(mt_root, bag, mt_wide)
		NVH_PTR_N(mt_root, item, NITEMS, mt_item)
		NVH_PTR_N(mt_root, thr, MT_MAXT, mt_thr));

const char *const mt_op_name[MT_NOPS] = {
	"list-push", "list-pop", "list-cut", "tree-add", "tree-cut",
	"tree-move", "tree-to-wide", "wide-put", "wide-clear", "wide-replace",
	"big-grow", "big-cut", "rollback", "pin-cut", "pin-relink",
	"slist-push", "slist-pop", "slist-cut", "share", "unshare", "bag-cut",
	"item-replace", "item-lend", "weak-set", "weak-get",
};

uint64_t
mt_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t
mt_rand(uint64_t *state)
{
	return mt_mix(*state += 0x9e3779b97f4a7c15ull);
}

int
mt_register(nvh_pool *pool)
{
	const struct nvh_type *t[] = {&mt_item_type, &mt_node_type,
		&mt_wide_type, &mt_huge_type, &mt_thr_type, &mt_root_type};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = nvh_type_register(pool, t[i]);
		if (rc)
			return rc;
	}
	return 0;
}

struct mt_root *
mt_root_of(nvh_pool *pool)
{
	mt_root_ptr r = NVH_ROOT(pool, mt_root);
	return NVH_IS_NULL(r) ? NULL : mt_root_d(pool, r);
}

int
mt_setup(nvh_pool *pool, unsigned nthreads)
{
	struct mt_root *r = mt_root_of(pool);
	if (!r || nthreads < 1 || nthreads > MT_MAXT)
		return -EINVAL;
	if (r->nthreads)
		return r->nthreads == nthreads ? 0 : -EINVAL;
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx)
		return -errno;
	nvh_tx_add(tx, &r->nthreads, sizeof(r->nthreads));
	r->nthreads = nthreads;
	for (unsigned t = 0; t < nthreads; t++) {
		mt_thr_ptr th = NVH_TX_ALLOC(tx, mt_thr);
		mt_wide_ptr w = NVH_TX_ALLOC(tx, mt_wide);
		if (NVH_IS_NULL(th) || NVH_IS_NULL(w))
			break;
		mt_thr_d(pool, th)->next_value = 1;
		NVH_TX_SET(tx, &mt_thr_d(pool, th)->wide, w);
		NVH_TX_SET(tx, &r->thr[t], th);
	}
	for (unsigned i = 0; i < NITEMS; i++) {
		mt_item_ptr it = NVH_TX_ALLOC(tx, mt_item);
		if (NVH_IS_NULL(it))
			break;
		mt_item_d(pool, it)->value = ITEM_TAG | i;
		NVH_TX_SET(tx, &r->item[i], it);
	}
	NVH_TX_SET(tx, &r->bag, NVH_TX_ALLOC(tx, mt_wide));
	return nvh_tx_commit(tx);
}

/* ---- walking: the multiset of nodes reachable from a pointer ---- */

#define WALK_MAX (1u << 24) /* a walk longer than this is a cycle */

int
mt_walk_add(nvh_pool *pool, struct mt_walk *w, mt_node_ptr n,
	    struct mt_sum *s, char *why, size_t wl)
{
	uint64_t seen = 0;
	w->n = 0;
	if (NVH_IS_NULL(n))
		return 0;
	w->v = w->cap ? w->v : malloc((w->cap = 1024) * sizeof(*w->v));
	if (!w->v)
		abort();
	w->v[w->n++] = n;
	while (w->n) {
		mt_node_ptr p = w->v[--w->n];
		struct mt_node *d = mt_node_d(pool, p);
		if (!d || ++seen > WALK_MAX) {
			snprintf(why, wl, "%s 0x%" PRIx64, d ? "a cycle through"
				 : "not a live node:", p.oid.off);
			return -1;
		}
		uint64_t iv = 0;
		if (!NVH_IS_NULL(d->item)) {
			struct mt_item *it = mt_item_d(pool, d->item);
			if (!it) {
				snprintf(why, wl, "node 0x%" PRIx64 ": item 0x%"
					 PRIx64 " not a live item", p.oid.off,
					 d->item.oid.off);
				return -1;
			}
			iv = it->value;
		}
		s->n++;
		s->h += mt_fp_node(d->value, iv);
		if (w->n + KIDS + 1 > w->cap) {
			w->v = realloc(w->v, (w->cap *= 2) * sizeof(*w->v));
			if (!w->v)
				abort();
		}
		if (!NVH_IS_NULL(d->next))
			w->v[w->n++] = d->next;
		for (int i = 0; i < KIDS; i++)
			if (!NVH_IS_NULL(d->kid[i]))
				w->v[w->n++] = d->kid[i];
	}
	return 0;
}

static int
walk_slots(nvh_pool *pool, struct mt_walk *w, const mt_node_ptr *slot,
	   size_t n, struct mt_sum *s, char *why, size_t wl)
{
	for (size_t i = 0; i < n; i++)
		if (mt_walk_add(pool, w, slot[i], s, why, wl))
			return -1;
	return 0;
}

static const char *const priv_name[MT_NPRIV] = {"list", "tree", "wide", "big"};

static void
struct_name(unsigned s, char *buf, size_t n)
{
	if (s < MT_SLIST)
		snprintf(buf, n, "t%u.%s", s / MT_NPRIV, priv_name[s % MT_NPRIV]);
	else
		snprintf(buf, n, "%s", s == MT_SLIST ? "shared list"
			 : s == MT_BAG ? "bag" : "items");
}

static int
count_is(uint64_t said, const struct mt_sum *s, unsigned which, char *why,
	 size_t wl)
{
	if ((int64_t)said == s->n)
		return 0;
	char name[32];
	struct_name(which, name, sizeof(name));
	snprintf(why, wl, "%s: %" PRId64 " nodes reachable, its count says %"
		 PRIu64, name, s->n, said);
	return -1;
}

int
mt_measure(nvh_pool *pool, struct mt_sum sums[MT_NSTRUCT], char *why,
	   size_t wl)
{
	memset(sums, 0, MT_NSTRUCT * sizeof(*sums));
	struct mt_root *r = mt_root_of(pool);
	struct mt_walk w = {0};
	int rc = -1;
	if (!r || r->nthreads < 1 || r->nthreads > MT_MAXT) {
		snprintf(why, wl, "no root or a bad thread count");
		return -1;
	}
	for (unsigned t = 0; t < r->nthreads; t++) {
		struct mt_thr *th = mt_thr_d(pool, r->thr[t]);
		struct mt_sum *s = &sums[MT_PRIV(t, 0)];
		struct mt_wide *wd = th ? mt_wide_d(pool, th->wide) : NULL;
		struct mt_huge *big = th && !NVH_IS_NULL(th->big)
				      ? mt_huge_d(pool, th->big) : NULL;
		if (!wd || (th && !NVH_IS_NULL(th->big) && !big)) {
			snprintf(why, wl, "thread %u's holder or wide node gone", t);
			goto out;
		}
		if (mt_walk_add(pool, &w, th->list, &s[MT_LIST], why, wl) ||
		    mt_walk_add(pool, &w, th->tree, &s[MT_TREE], why, wl) ||
		    walk_slots(pool, &w, wd->slot, WIDTH, &s[MT_WIDE], why, wl) ||
		    (big && walk_slots(pool, &w, big->slot, HUGE, &s[MT_BIG],
				       why, wl)))
			goto out;
		for (unsigned k = 0; k < MT_NPRIV; k++)
			if (count_is(th->n[k], &s[k], MT_PRIV(t, k), why, wl))
				goto out;
		mt_node_ptr peek = NVH_WEAK_GET(pool, mt_node, &th->peek);
		struct mt_node *pn = NVH_IS_NULL(peek) ? NULL
				     : mt_node_d(pool, peek);
		if (!NVH_IS_NULL(peek) && (!pn || pn->value != th->peek_value)) {
			snprintf(why, wl, "thread %u's weak pointer reads %s "
				 "%" PRIx64 ", stored for the node of value %"
				 PRIx64, t, pn ? "a node of value" : "no node at",
				 pn ? pn->value : peek.oid.off, th->peek_value);
			goto out;
		}
	}
	struct mt_wide *bag = mt_wide_d(pool, r->bag);
	if (!bag) {
		snprintf(why, wl, "the bag is gone");
		goto out;
	}
	if (mt_walk_add(pool, &w, r->slist, &sums[MT_SLIST], why, wl) ||
	    walk_slots(pool, &w, bag->slot, WIDTH, &sums[MT_BAG], why, wl) ||
	    count_is(r->slist_n, &sums[MT_SLIST], MT_SLIST, why, wl) ||
	    count_is(r->bag_n, &sums[MT_BAG], MT_BAG, why, wl))
		goto out;
	for (unsigned i = 0; i < NITEMS; i++) {
		struct mt_item *it = mt_item_d(pool, r->item[i]);
		if (!it) {
			snprintf(why, wl, "item %u is no live item", i);
			goto out;
		}
		sums[MT_ITEMS].n++;
		sums[MT_ITEMS].h += mt_fp_item(it->value);
	}
	rc = 0;
out:
	free(w.v);
	return rc;
}

void
mt_apply(struct mt_sum sums[MT_NSTRUCT], const struct mt_op *op, int sign)
{
	for (uint32_t i = 0; i < op->nd && i < MT_MAXD; i++) {
		const struct mt_delta *d = &op->d[i];
		if (d->s >= MT_NSTRUCT)
			continue;
		sums[d->s].n += sign * d->dn;
		sums[d->s].h += sign > 0 ? d->dh : -d->dh;
	}
}

int
mt_compare(const struct mt_sum *got, const struct mt_sum *want, char *why,
	   size_t wl)
{
	size_t at = 0;
	int bad = 0;
	if (wl)
		why[0] = 0;
	for (unsigned s = 0; s < MT_NSTRUCT; s++) {
		if (got[s].n == want[s].n && got[s].h == want[s].h)
			continue;
		char name[32];
		struct_name(s, name, sizeof(name));
		if (at < wl)
			at += (size_t)snprintf(why + at, wl - at, "%s%s: %" PRId64
				       " nodes%s, expected %" PRId64, bad ? "; " : "",
				       name, got[s].n, got[s].n == want[s].n
				       ? " (other values)" : "", want[s].n);
		bad = 1;
	}
	return bad ? -1 : 0;
}
