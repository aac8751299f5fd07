/*
 * btree.c -- the persistent B-tree (minimum degree BT_T): ordered keys,
 * range scans.
 *
 * Top-down insertion with pre-emptive splits and top-down deletion that
 * tops a child up (borrow or merge) before descending (Cormen et al.), so
 * every operation is one pass from the root.  Each node touched is
 * snapshotted once (one undo record) and its pointer fields change through
 * checked stores, so counts stay exact: an emptied root or a merged-away
 * node is freed at commit by its count reaching zero.  Slots beyond a
 * node's n are always null (a stale pointer there would hold a count).
 *
 * Nodes keep the first 8 bytes of each key (big-endian) next to the
 * pointer, so most comparisons never touch the entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

NVH_TYPE_DEFINE(btnode, 0, NVH_PTR_N(btnode, item, BT_MAXK, kvent)
		NVH_PTR_N(btnode, kid, BT_MAXK + 1, btnode));

#define T BT_T

struct key {
	const void *p;
	size_t len;
	uint64_t pfx;
};

static struct btnode *
N(struct kv *kv, btnode_ptr p)
{
	return btnode_d(kv->pool, p);
}

/* Node p, or NULL (reported: -EIO) if it is no node or its counts are
 * impossible: n is checked before it bounds any loop or index. */
static struct btnode *
node(struct kv *kv, btnode_ptr p)
{
	struct btnode *x = N(kv, p);
	kv->bt_reads++;
	if (!x)
		kv_index_damaged(kv, "B-tree node", p.oid.off, "not a node");
	else if (x->n > BT_MAXK)
		kv_index_damaged(kv, "B-tree node", p.oid.off,
				 "%u keys, at most %u", x->n, BT_MAXK);
	else if (x->leaf > 1)
		kv_index_damaged(kv, "B-tree node", p.oid.off,
				 "leaf flag %u", x->leaf);
	else
		return x;
	return NULL;
}

/* ... and at depth d (the root: 1) of a tree of height h: all leaves are
 * at depth h, so a kid that points back up (a cycle) or across levels is
 * found before it is followed twice. */
static struct btnode *
node_at(struct kv *kv, btnode_ptr p, unsigned d, unsigned h)
{
	struct btnode *x = node(kv, p);
	if (x && x->leaf != (d == h)) {
		kv_index_damaged(kv, "B-tree node", p.oid.off, "%s at depth "
				 "%u of %u", x->leaf ? "a leaf" : "no leaf",
				 d, h);
		return NULL;
	}
	return x;
}

/* The tree's height (its leftmost path), or 0 if damaged (reported). */
static unsigned
height(struct kv *kv)
{
	btnode_ptr p = (*kv->bt_root);
	for (unsigned d = 1; d <= KV_MAX_DEPTH; d++) {
		struct btnode *x = node(kv, p);
		if (!x)
			return 0;
		if (x->leaf)
			return d;
		p = x->kid[0];
	}
	kv_index_damaged(kv, "B-tree node", p.oid.off, "deeper than %u "
			 "levels", KV_MAX_DEPTH);
	return 0;
}

/* Snapshot a node before changing it (free for new nodes, and for nodes
 * already snapshotted in this transaction). */
static int
touch(nvh_tx *tx, struct btnode *x)
{
	return nvh_tx_add(tx, x, sizeof(*x));
}

static int
cmp_item(struct kv *kv, const struct btnode *x, uint32_t i, const struct key *k)
{
	if (x->pfx[i] != k->pfx)
		return x->pfx[i] < k->pfx ? -1 : 1;
	const struct kvent *e = kv_ent(kv, x->item[i]);
	/* a damaged entry's length is not to be trusted: compare it by its
	 * prefix alone (reads of it then fail its checksum) */
	if (!kv_ent_sane(e))
		return 0;
	return kv_keycmp(e->data, e->klen, k->p, k->len);
}

/* First i with item[i] >= k; *eq if item[i] == k. */
static uint32_t
lower(struct kv *kv, const struct btnode *x, const struct key *k, int *eq)
{
	uint32_t lo = 0, hi = x->n;
	*eq = 0;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = cmp_item(kv, x, mid, k);
		if (c == 0) {
			*eq = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
item_set(nvh_tx *tx, struct kv *kv, struct btnode *x, uint32_t i, kvent_ptr e)
{
	const struct kvent *p = kv_ent(kv, e);
	x->pfx[i] = p ? kv_prefix(p->data, p->klen) : 0;
	return NVH_TX_SET(tx, &x->item[i], e);
}

static int
kid_set(nvh_tx *tx, struct btnode *x, uint32_t i, btnode_ptr c)
{
	return NVH_TX_SET(tx, &x->kid[i], c);
}

/* Move items [from, n) of x by d (+1: right, -1: left), kids likewise
 * [kfrom, n+1); the vacated slot is left for the caller. */
static int
shift(nvh_tx *tx, struct kv *kv, struct btnode *x, uint32_t from,
      uint32_t kfrom, int d)
{
	int rc = 0;
	if (d > 0) {
		for (uint32_t i = x->n; i > from && !rc; i--)
			rc = item_set(tx, kv, x, i, x->item[i - 1]);
		for (uint32_t i = x->n + 1; !x->leaf && i > kfrom && !rc; i--)
			rc = kid_set(tx, x, i, x->kid[i - 1]);
	} else {
		for (uint32_t i = from; i < x->n && !rc; i++)
			rc = item_set(tx, kv, x, i - 1, x->item[i]);
		for (uint32_t i = kfrom; !x->leaf && i <= x->n && !rc; i++)
			rc = kid_set(tx, x, i - 1, x->kid[i]);
	}
	return rc;
}

int
kv_bt_create(nvh_tx *tx, struct kv *kv)
{
	btnode_ptr r = NVH_TX_ALLOC(tx, btnode);
	if (NVH_IS_NULL(r))
		return -ENOSPC;
	N(kv, r)->leaf = 1;
	int rc = NVH_TX_SET(tx, kv->bt_root, r);
	if (!rc)
		rc = nvh_tx_add(tx, kv->bt_count, 8);
	if (!rc)
		(*kv->bt_count) = 0;
	return rc;
}

int
kv_bt_find(struct kv *kv, const void *k, size_t kl, kvent_ptr *e)
{
	struct key key = {k, kl, kv_prefix(k, kl)};
	unsigned h = height(kv);
	*e = NVH_NULL(kvent);
	if (!h)
		return -EIO;
	btnode_ptr p = (*kv->bt_root);
	for (unsigned d = 1;; d++) {
		struct btnode *x = node_at(kv, p, d, h);
		if (!x)
			return -EIO;
		int eq;
		uint32_t i = lower(kv, x, &key, &eq);
		if (eq) {
			*e = x->item[i];
			return 0;
		}
		if (x->leaf)
			return 0;
		p = x->kid[i];
	}
}

/* Split the full child i of x (x not full). */
static int
split_child(nvh_tx *tx, struct kv *kv, struct btnode *x, uint32_t i)
{
	struct btnode *y = node(kv, x->kid[i]);
	if (!y)
		return -EIO;
	btnode_ptr zp = NVH_TX_ALLOC(tx, btnode);
	struct btnode *z = N(kv, zp);
	if (!z)
		return -ENOSPC;
	int rc = touch(tx, x);
	if (!rc)
		rc = touch(tx, y);
	z->leaf = y->leaf;
	z->n = T - 1;
	for (uint32_t j = 0; j < T - 1 && !rc; j++) {
		rc = item_set(tx, kv, z, j, y->item[j + T]);
		if (!rc)
			rc = item_set(tx, kv, y, j + T, NVH_NULL(kvent));
	}
	for (uint32_t j = 0; j < T && !y->leaf && !rc; j++) {
		rc = kid_set(tx, z, j, y->kid[j + T]);
		if (!rc)
			rc = kid_set(tx, y, j + T, NVH_NULL(btnode));
	}
	if (!rc)
		rc = shift(tx, kv, x, i, i + 1, +1);
	if (!rc)
		rc = kid_set(tx, x, i + 1, zp);
	if (!rc)
		rc = item_set(tx, kv, x, i, y->item[T - 1]);
	if (!rc)
		rc = item_set(tx, kv, y, T - 1, NVH_NULL(kvent));
	if (rc)
		return rc;
	y->n = T - 1;
	x->n++;
	return 0;
}

int
kv_bt_put(nvh_tx *tx, struct kv *kv, kvent_ptr e, int *replaced)
{
	const struct kvent *ne = kv_ent(kv, e);
	struct key key = {ne->data, ne->klen, kv_prefix(ne->data, ne->klen)};
	int rc = 0;
	unsigned depth = 0;
	*replaced = 0;
	struct btnode *r = node(kv, (*kv->bt_root));
	if (!r)
		return -EIO;
	if (r->n == BT_MAXK) {
		btnode_ptr sp = NVH_TX_ALLOC(tx, btnode);
		struct btnode *s = N(kv, sp);
		if (!s)
			return -ENOSPC;
		rc = kid_set(tx, s, 0, (*kv->bt_root));
		if (!rc)
			rc = NVH_TX_SET(tx, kv->bt_root, sp);
		if (!rc)
			rc = split_child(tx, kv, s, 0);
		if (rc)
			return rc;
		r = s;
	}
	for (struct btnode *x = r, *c;; x = c) {
		int eq;
		uint32_t i = lower(kv, x, &key, &eq);
		if (eq) { /* the new entry replaces the old: freed at commit */
			*replaced = 1;
			rc = touch(tx, x);
			return rc ? rc : item_set(tx, kv, x, i, e);
		}
		if (x->leaf) {
			rc = touch(tx, x);
			if (!rc)
				rc = shift(tx, kv, x, i, 0, +1);
			if (!rc)
				rc = item_set(tx, kv, x, i, e);
			if (!rc)
				rc = nvh_tx_add(tx, kv->bt_count, 8);
			if (rc)
				return rc;
			x->n++;
			(*kv->bt_count)++;
			return 0;
		}
		/* depth: a damaged tree may cycle */
		if (++depth > KV_MAX_DEPTH)
			return kv_index_damaged(kv, "B-tree node",
						x->kid[i].oid.off, "deeper "
						"than %u levels", KV_MAX_DEPTH);
		if (!(c = node(kv, x->kid[i])))
			return -EIO;
		if (c->n == BT_MAXK) {
			rc = split_child(tx, kv, x, i);
			if (rc)
				return rc;
			int cmp = cmp_item(kv, x, i, &key);
			c = x;
			if (cmp == 0)
				continue; /* the median was this key: replace */
			if (cmp < 0)
				i++;
			if (!(c = node(kv, x->kid[i])))
				return -EIO;
		}
	}
}

/* Merge kid[i+1] and item i of x into kid[i]. */
static int
merge(nvh_tx *tx, struct kv *kv, struct btnode *x, uint32_t i)
{
	struct btnode *y = node(kv, x->kid[i]), *z = node(kv, x->kid[i + 1]);
	if (!y || !z)
		return -EIO;
	if (y->n + z->n + 1 > BT_MAXK) /* never so in a sound tree */
		return kv_index_damaged(kv, "B-tree node", x->kid[i].oid.off,
					"%u + %u keys to merge", y->n, z->n);
	int rc = touch(tx, x);
	if (!rc)
		rc = touch(tx, y);
	if (!rc)
		rc = item_set(tx, kv, y, y->n, x->item[i]);
	for (uint32_t j = 0; j < z->n && !rc; j++)
		rc = item_set(tx, kv, y, y->n + 1 + j, z->item[j]);
	for (uint32_t j = 0; j <= z->n && !y->leaf && !rc; j++)
		rc = kid_set(tx, y, y->n + 1 + j, z->kid[j]);
	/* x loses item i and kid i+1 (z: its count drops to zero and it is
	 * freed at commit, its children now held by y) */
	if (!rc)
		rc = shift(tx, kv, x, i + 1, i + 2, -1);
	if (!rc)
		rc = item_set(tx, kv, x, x->n - 1, NVH_NULL(kvent));
	if (!rc)
		rc = kid_set(tx, x, x->n, NVH_NULL(btnode));
	if (rc)
		return rc;
	y->n += z->n + 1;
	x->n--;
	return 0;
}

/* Child i of x has T-1 keys: give it one more (borrow or merge); returns
 * the index of the child that now covers the key. */
static int
top_up(nvh_tx *tx, struct kv *kv, struct btnode *x, uint32_t *ip)
{
	uint32_t i = *ip;
	struct btnode *c = node(kv, x->kid[i]);
	struct btnode *l = i > 0 ? node(kv, x->kid[i - 1]) : NULL;
	struct btnode *r = i < x->n ? node(kv, x->kid[i + 1]) : NULL;
	if (!c || (i > 0 && !l) || (i < x->n && !r))
		return -EIO;
	int rc = touch(tx, x);
	if (!rc)
		rc = touch(tx, c);
	if (rc)
		return rc;
	if (l && l->n >= T) { /* rotate right through item i-1 */
		rc = touch(tx, l);
		if (!rc)
			rc = shift(tx, kv, c, 0, 0, +1);
		if (!rc)
			rc = item_set(tx, kv, c, 0, x->item[i - 1]);
		if (!rc && !c->leaf)
			rc = kid_set(tx, c, 0, l->kid[l->n]);
		if (!rc)
			rc = item_set(tx, kv, x, i - 1, l->item[l->n - 1]);
		if (!rc)
			rc = item_set(tx, kv, l, l->n - 1, NVH_NULL(kvent));
		if (!rc && !l->leaf)
			rc = kid_set(tx, l, l->n, NVH_NULL(btnode));
		if (rc)
			return rc;
		c->n++;
		l->n--;
		return 0;
	}
	if (r && r->n >= T) { /* rotate left through item i */
		rc = touch(tx, r);
		if (!rc)
			rc = item_set(tx, kv, c, c->n, x->item[i]);
		if (!rc && !c->leaf)
			rc = kid_set(tx, c, c->n + 1, r->kid[0]);
		if (!rc)
			rc = item_set(tx, kv, x, i, r->item[0]);
		if (!rc)
			rc = shift(tx, kv, r, 1, 1, -1);
		if (!rc)
			rc = item_set(tx, kv, r, r->n - 1, NVH_NULL(kvent));
		if (!rc && !r->leaf)
			rc = kid_set(tx, r, r->n, NVH_NULL(btnode));
		if (rc)
			return rc;
		c->n++;
		r->n--;
		return 0;
	}
	if (r)
		return merge(tx, kv, x, i);
	*ip = i - 1;
	return merge(tx, kv, x, i - 1);
}

/* The largest (dir < 0) or smallest (dir > 0) entry under node p, or
 * null if the path there is damaged (reported). */
static kvent_ptr
edge(struct kv *kv, btnode_ptr p, int dir)
{
	struct btnode *x = node(kv, p);
	for (unsigned d = 0; x && !x->leaf; d++) {
		if (d == KV_MAX_DEPTH) {
			kv_index_damaged(kv, "B-tree node", p.oid.off,
					 "deeper than %u levels",
					 KV_MAX_DEPTH);
			return NVH_NULL(kvent);
		}
		p = x->kid[dir < 0 ? x->n : 0];
		x = node(kv, p);
	}
	if (!x || !x->n) {
		if (x)
			kv_index_damaged(kv, "B-tree node", p.oid.off,
					 "an empty leaf");
		return NVH_NULL(kvent);
	}
	return x->item[dir < 0 ? x->n - 1 : 0];
}

int
kv_bt_del(nvh_tx *tx, struct kv *kv, const void *k, size_t kl)
{
	struct key key = {k, kl, kv_prefix(k, kl)};
	struct btnode *x = node(kv, (*kv->bt_root));
	int rc = x ? 0 : -EIO, found = 0;
	for (unsigned depth = 0; !rc; depth++) {
		if (depth > KV_MAX_DEPTH) { /* a damaged tree may cycle */
			rc = kv_index_damaged(kv, "B-tree node",
					      nvh_oid_of(kv->pool, x).off,
					      "deeper than %u levels",
					      KV_MAX_DEPTH);
			break;
		}
		int eq;
		uint32_t i = lower(kv, x, &key, &eq);
		if (eq && x->leaf) {
			rc = touch(tx, x);
			if (!rc)
				rc = shift(tx, kv, x, i + 1, 0, -1);
			if (!rc)
				rc = item_set(tx, kv, x, x->n - 1, NVH_NULL(kvent));
			if (!rc)
				x->n--;
			found = 1;
			break;
		}
		if (eq) {
			struct btnode *y = node(kv, x->kid[i]);
			struct btnode *z = y ? node(kv, x->kid[i + 1]) : NULL;
			if (!z) {
				rc = -EIO;
				break;
			}
			if (y->n >= T || z->n >= T) {
				/* replace by the predecessor (successor), then
				 * delete that one from the child */
				kvent_ptr s = edge(kv, x->kid[y->n >= T ? i : i + 1],
						   y->n >= T ? -1 : +1);
				const struct kvent *sp = kv_ent(kv, s);
				/* its key is the next to delete: it must be
				 * sound */
				if (NVH_IS_NULL(s)) {
					rc = -EIO;
					break;
				}
				if (!kv_ent_sane(sp)) {
					rc = kv_damaged(kv, s, sp ? "header "
							"checksum" :
							"not an entry");
					break;
				}
				rc = touch(tx, x);
				if (!rc)
					rc = item_set(tx, kv, x, i, s);
				key = (struct key){sp->data, sp->klen,
						   kv_prefix(sp->data, sp->klen)};
				x = y->n >= T ? y : z;
				found = 1;
				continue;
			}
			rc = merge(tx, kv, x, i);
			x = y;
			continue;
		}
		if (x->leaf)
			break;
		struct btnode *c = node(kv, x->kid[i]);
		if (!c) {
			rc = -EIO;
			break;
		}
		if (c->n == T - 1)
			rc = top_up(tx, kv, x, &i);
		if (!rc && !(x = node(kv, x->kid[i])))
			rc = -EIO;
	}
	if (rc)
		return rc;
	/* an empty root with one child: the child becomes the root */
	struct btnode *r = node(kv, (*kv->bt_root));
	if (!r)
		return -EIO;
	if (r->n == 0 && !r->leaf)
		rc = NVH_TX_SET(tx, kv->bt_root, r->kid[0]);
	if (!rc && !found)
		return -ENOENT;
	if (!rc)
		rc = nvh_tx_add(tx, kv->bt_count, 8);
	if (!rc)
		(*kv->bt_count)--;
	return rc;
}

uint64_t
kv_bt_count(struct kv *kv)
{
	return (*kv->bt_count);
}

/* ---- a random entry ---- */

static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ z >> 27) * 0x94d049bb133111ebull;
	return z ^ z >> 31;
}

/* A uniform double in [0, 1). */
static double
unit(uint64_t *seed)
{
	return (double)(splitmix(seed) >> 11) * 0x1p-53;
}

/* How many attempts before kv_bt_random gives up (a tree this sparse
 * is no B-tree: its nodes are at least half full). */
#define PICK_TRIES 256

int
kv_bt_random(struct kv *kv, uint64_t seed, kv_fn fn, void *arg)
{
	unsigned h = height(kv);
	if (!h)
		return -EIO;
	/* full[l]: the entries a full subtree of l levels holds */
	double full[KV_MAX_DEPTH + 1];
	full[0] = 0;
	for (unsigned l = 1; l <= h; l++)
		full[l] = BT_MAXK + (BT_MAXK + 1) * full[l - 1];
	/* this pick's draws start at a point of the sequence that seed
	 * hashes to (callers pass consecutive seeds, whose own sequences
	 * would overlap, shifted by one draw) */
	seed = splitmix(&seed);
	for (unsigned t = 0; t < PICK_TRIES; t++) {
		btnode_ptr p = (*kv->bt_root);
		for (unsigned d = 1;; d++) {
			struct btnode *x = node_at(kv, p, d, h);
			if (!x)
				return -EIO;
			if (!x->n)
				return kv_index_damaged(kv, "B-tree node",
							p.oid.off,
							"an empty node");
			/* a slot of the node, kid 0, item 0, kid 1, ...,
			 * item n-1, kid n, each kid as many as a full
			 * subtree holds; below the root the slots of a
			 * full node, those past n rejected: each entry is
			 * then 1 / (the root's slots) likely per attempt */
			unsigned n = d == 1 ? x->n : BT_MAXK;
			double kid = full[h - d];
			double at = unit(&seed) * (n + (n + 1) * kid);
			uint32_t j = (uint32_t)(at / (kid + 1));
			if (j > n)
				j = n;
			int item = j < n && at - j * (kid + 1) >= kid;
			if (item ? j >= x->n : j > x->n)
				break; /* an empty slot: again */
			if (item)
				return kv_visit(kv, x->item[j], fn, arg);
			p = x->kid[j];
		}
	}
	return 0;
}

/* ---- scans ---- */

struct scan {
	struct kv *kv;
	struct key from, to;
	int has_from, has_to;
	kv_fn fn;
	void *arg;
	/* scan_step: keys with prefix >= start; stop after `count` once the
	 * prefix changes, leaving the next prefix as the cursor */
	int by_prefix;
	uint64_t start;
	size_t count, n;
	uint64_t last, next;
	int stopped;
	unsigned height;              /* of the tree: see node_at */
};

#define STOP 0x40000000 /* past the bound: not an error */

static int
visit_item(struct scan *s, const struct btnode *x, uint32_t i)
{
	const struct kvent *e = kv_ent(s->kv, x->item[i]);
	if (s->has_to && cmp_item(s->kv, x, i, &s->to) > 0)
		return STOP;
	if (s->by_prefix) {
		if (s->n >= s->count && x->pfx[i] != s->last) {
			s->next = x->pfx[i];
			return STOP;
		}
		s->last = x->pfx[i];
		s->n++;
	}
	(void)e;
	return kv_visit(s->kv, x->item[i], s->fn, s->arg);
}

/* In order from the bound (only the leftmost path is bounded).  A
 * damaged node is counted (kv_damaged_count) and skipped with what is
 * under it. */
static int
walk(struct scan *s, btnode_ptr p, int bounded, unsigned d)
{
	const struct btnode *x = node_at(s->kv, p, d, s->height);
	uint32_t i = 0;
	if (!x)
		return 0;
	if (bounded && s->by_prefix) {
		while (i < x->n && x->pfx[i] < s->start)
			i++;
	} else if (bounded && s->has_from) {
		int eq;
		i = lower(s->kv, x, &s->from, &eq);
	}
	for (uint32_t j = i; j <= x->n; j++) {
		int rc;
		if (!x->leaf &&
		    (rc = walk(s, x->kid[j], bounded && j == i, d + 1)))
			return rc;
		if (j < x->n && (rc = visit_item(s, x, j)))
			return rc;
	}
	return 0;
}

int
kv_bt_scan(struct kv *kv, const void *from, size_t fl, const void *to,
	   size_t tl, kv_fn fn, void *arg)
{
	struct scan s = {.kv = kv, .fn = fn, .arg = arg};
	if (from) {
		s.from = (struct key){from, fl, kv_prefix(from, fl)};
		s.has_from = 1;
	}
	if (to) {
		s.to = (struct key){to, tl, kv_prefix(to, tl)};
		s.has_to = 1;
	}
	if (!(s.height = height(kv)))
		return -EIO;
	int rc = walk(&s, (*kv->bt_root), 1, 1);
	return rc == STOP ? 0 : rc;
}

/*
 * SCAN's cursor.  A B-tree has no hash order to hide growth in, so the
 * cursor names where the next step resumes in key order:
 *
 *	cursor = P << 8 | slot,  P = the resume key's first 7 bytes (BE)
 *
 * slot 0 (or 255, or any slot the table does not hold for P) is
 * stateless: resume at the first key whose first 7 bytes are >= P, i.e.
 * the first key >= P with its trailing zero bytes cut (the least key with
 * that prefix: keys are zero-padded to form it).  Slots 1..254 name an
 * entry of a DRAM table (kv->bt_cursors) that holds the exact key to
 * resume at; it is needed only when the resume key shares its 7-byte
 * prefix with the last key returned, where P alone would resume at or
 * before keys this step already returned and could go round forever.
 * A step returns the first `count` keys from there (never more, however
 * many share a prefix) and encodes the key after them.  Cursor 0 is the
 * start (P = 0 means the first key); 0 is returned only when no key
 * follows, so a resume key whose P is 0 always takes a slot (or 255).
 *
 * Coverage: after each step, every key present since the scan's start
 * and less than the resume key R has been returned: those before the
 * step's start by induction, those from its start up to the last key
 * returned by this step (present, so in the tree, so walked), and none
 * lies between the last key and R (R was the next key in the tree).
 * A stateless or fallen-back resume starts at R' <= R, which keeps this
 * (duplicates, as SCAN allows), and the last step found no next key.
 *
 * Termination: a resume key from the table is the next key after this
 * step's last one; a stateless one, used only when the 7-byte prefix
 * changes, is past every key this step returned.  Either way each step
 * returns `count` keys all greater than the keys of the step before, so
 * a scan takes at most (keys ever present) / count + 1 steps, unless its
 * slot is lost: the table holds the 254 latest resume keys (least
 * recently assigned goes first), and a slot reassigned to a key with
 * another 7-byte prefix, or a restart (an empty table), falls back to P:
 * duplicates, never a miss.  What 8 slot bits cannot tell apart is a slot
 * reassigned to another key with the same 7-byte prefix, 254 assignments
 * later (a cursor left that long while other scans step through the same
 * prefix): it resumes at that key, which may lie past keys it owed.
 */
#define BT_SLOTS 254                  /* slot 255: stateless, never 0 */

struct kv_bt_cursors {
	uint64_t tick;                /* assignments so far */
	struct {
		uint64_t used;        /* tick when assigned; 0: empty */
		uint32_t off, len;    /* the key, in key[] */
	} slot[BT_SLOTS + 1];
	size_t end, cap;              /* key[] bytes used, allocated */
	unsigned char key[];          /* one block: kv_close frees it */
};

static uint64_t
prefix7(const void *k, size_t kl)
{
	return kv_prefix(k, kl) >> 8;
}

/* A copy of the table with the keys of every slot but `skip` packed and
 * room for `need` more bytes; NULL if out of memory. */
static struct kv_bt_cursors *
cursors_repack(struct kv_bt_cursors *c, unsigned skip, size_t need)
{
	size_t live = 0;
	for (unsigned s = 1; c && s <= BT_SLOTS; s++)
		if (s != skip && c->slot[s].used)
			live += c->slot[s].len;
	size_t cap = 2 * (live + need) + 4096; /* amortizes the repacking */
	struct kv_bt_cursors *n = malloc(sizeof(*n) + cap);
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->cap = cap;
	for (unsigned s = 1; c && s <= BT_SLOTS; s++) {
		if (s == skip || !c->slot[s].used)
			continue;
		n->slot[s] = c->slot[s];
		n->slot[s].off = (uint32_t)n->end;
		memcpy(n->key + n->end, c->key + c->slot[s].off,
		       c->slot[s].len);
		n->end += c->slot[s].len;
	}
	n->tick = c ? c->tick : 0;
	return n;
}

/* A slot that holds key k: one already holding it (two scans at the same
 * place share it), else the least recently assigned; 0 if out of
 * memory. */
static unsigned
cursor_slot(struct kv *kv, const void *k, size_t kl)
{
	struct kv_bt_cursors *c = kv->bt_cursors;
	unsigned lru = 1;
	for (unsigned s = 1; c && s <= BT_SLOTS; s++) {
		if (c->slot[s].used && c->slot[s].len == kl &&
		    !memcmp(c->key + c->slot[s].off, k, kl))
			return s;
		if (c->slot[s].used < c->slot[lru].used)
			lru = s;
	}
	if (!c || c->cap - c->end < kl) {
		struct kv_bt_cursors *n = cursors_repack(c, lru, kl);
		if (!n)
			return 0;
		free(c);
		kv->bt_cursors = c = n;
	}
	memcpy(c->key + c->end, k, kl);
	c->slot[lru].off = (uint32_t)c->end;
	c->slot[lru].len = (uint32_t)kl;
	c->slot[lru].used = ++c->tick;
	c->end += kl;
	return lru;
}

struct step {
	struct scan s;                /* visit_item's: fn, arg */
	struct key from;              /* resume at the first key >= from */
	size_t count, n;
	int stopped;                  /* fn said stop */
	uint64_t last;                /* prefix of the last key visited */
	const struct btnode *next;    /* the key after them: next->item[ni] */
	uint32_t ni;
};

/* Can the step stop at item j of x: is its key sound, to resume at? */
static int
key_sound(struct kv *kv, const struct btnode *x, uint32_t j)
{
	const struct kvent *e = kv_ent(kv, x->item[j]);
	return kv_ent_sane(e) && e->klen <= KV_KEY_MAX &&
	       XXH3_64bits(e->data, e->klen) == e->ksum;
}

/* In order from st->from, `count` keys, then note the next one (one
 * with a sound key: a damaged one is visited, so reported, instead). */
static int
step_walk(struct step *st, btnode_ptr p, int bounded, unsigned d)
{
	const struct btnode *x = node_at(st->s.kv, p, d, st->s.height);
	uint32_t i = 0;
	int eq;
	if (!x)
		return 0;
	if (bounded)
		i = lower(st->s.kv, x, &st->from, &eq);
	for (uint32_t j = i; j <= x->n; j++) {
		if (!x->leaf &&
		    step_walk(st, x->kid[j], bounded && j == i, d + 1))
			return 1;
		if (j == x->n)
			break;
		if ((st->n >= st->count || st->stopped) &&
		    key_sound(st->s.kv, x, j)) {
			st->next = x;
			st->ni = j;
			return 1;
		}
		/* counted whether shown or not (expired keys are not), so
		 * a step's work is bounded too */
		st->n++;
		st->last = x->pfx[j];
		if (visit_item(&st->s, x, j))
			st->stopped = 1;
	}
	return 0;
}

uint64_t
kv_bt_scan_step(struct kv *kv, uint64_t cursor, size_t count, kv_fn fn,
		void *arg)
{
	struct step st = {.s = {.kv = kv, .fn = fn, .arg = arg},
			  .count = count ? count : 1};
	uint64_t p = cursor >> 8;
	unsigned slot = cursor & 0xff;
	const struct kv_bt_cursors *c = kv->bt_cursors;
	unsigned char b[7];
	size_t bl = 0;
	if (c && slot && slot <= BT_SLOTS && c->slot[slot].used &&
	    prefix7(c->key + c->slot[slot].off, c->slot[slot].len) == p) {
		st.from.p = c->key + c->slot[slot].off;
		st.from.len = c->slot[slot].len;
	} else {
		for (unsigned i = 0; i < 7; i++)
			if ((b[i] = (unsigned char)(p >> (48 - 8 * i))))
				bl = i + 1;
		st.from.p = b;
		st.from.len = bl;
	}
	st.from.pfx = kv_prefix(st.from.p, st.from.len);
	if (!(st.s.height = height(kv)))
		return 0; /* reported; the scan ends */
	step_walk(&st, (*kv->bt_root), 1, 1);
	if (!st.next)
		return 0;
	/* the resume key, from the entry itself (step_walk stops only at
	 * a sound one), not from the node's prefix, which no checksum
	 * covers */
	const struct kvent *e = kv_ent(kv, st.next->item[st.ni]);
	uint64_t np = prefix7(e->data, e->klen);
	/* each step must resume past where it started, or a damaged tree
	 * (keys out of order) could send a scan round forever */
	if (kv_keycmp(e->data, e->klen, st.from.p, st.from.len) <= 0) {
		kv_index_damaged(kv, "B-tree node",
				 nvh_oid_of(kv->pool, st.next).off,
				 "keys out of order");
		return 0;
	}
	if (np != st.last >> 8 && np > p)
		return np << 8;
	unsigned s = cursor_slot(kv, e->data, e->klen);
	/* no slot (out of memory): P alone, duplicates but never 0 */
	return np << 8 | (s ? s : 255);
}

static void
count_nodes(struct kv *kv, btnode_ptr p, unsigned depth, unsigned h,
	    struct kv_stats *st)
{
	const struct btnode *x = node_at(kv, p, depth, h);
	if (!x) /* reported; not counted */
		return;
	st->nodes++;
	if (depth > st->depth)
		st->depth = depth;
	for (uint32_t j = 0; !x->leaf && j <= x->n; j++)
		count_nodes(kv, x->kid[j], depth + 1, h, st);
}

void
kv_bt_stats(struct kv *kv, struct kv_stats *st)
{
	unsigned h = height(kv);
	if (h)
		count_nodes(kv, (*kv->bt_root), 1, h, st);
}
