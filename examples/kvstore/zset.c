/*
 * zset.c -- the key-value store's sorted sets: members with scores in
 * (score, member) order.  A sorted set's kvcoll (enc KV_ENC_SKIP) holds
 * two indexes over the same member entries (the member's bytes as the
 * key, its score's 8 bytes as the value, with the entries' checksums):
 *
 *   - a B-tree of the members (`tree`, btree.c): ZSCORE, and the member
 *     side of every write, in O(log n);
 *   - a skiplist (`zhead`): one node per member with a strong pointer to
 *     its entry, forward links with spans (how many ranks each skips)
 *     and a weak back link, so ranks, ranges by score or by member, and
 *     walks from either end are O(log n) plus what they return.
 *
 * A node is held by every level that links it (forward only: no
 * cycle), so deleting a sorted set of any size drops one count and
 * nvheap frees the nodes and entries in bounded, crash-safe steps.  A
 * node's level comes from a hash of its member with a per-process seed
 * (a fixed one when the store was opened with a hash seed: the crash
 * explorer's runs must repeat), 1/4 of nodes reaching each next level,
 * at most 32.  Every write is one transaction; a changed score is the
 * old node unlinked and a new one linked (entries never change).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kv_int.h"

#define NVH_ANY(T, field, n) {offsetof(struct T, field), 0, NULL, (n)},
#define KV_ZTYPE(K)                                                          \
	NVH_TYPE_DEFINE(kvzn##K, 0, NVH_PTR(kvzn##K, ent, kvent)             \
			{offsetof(struct kvzn##K, prev), NVH_FIELD_WEAK,     \
			 NULL, 0},                                           \
			NVH_ANY(kvzn##K, next, K))
KV_ZTYPE(1);
KV_ZTYPE(2);
KV_ZTYPE(4);
KV_ZTYPE(8);
KV_ZTYPE(16);
KV_ZTYPE(32);

static const struct nvh_type *const ztypes[] = {
	&kvzn1_type, &kvzn2_type, &kvzn4_type, &kvzn8_type, &kvzn16_type,
	&kvzn32_type,
};

/* Every node type's header, then next[cap] and span[cap]. */
struct zn {
	kvent_ptr ent;
	nvh_weak prev;
	double score;
	uint32_t cap;
	uint32_t nlev;
	nvh_oid next[];
};

static uint64_t *
zspan(struct zn *x)
{
	return (uint64_t *)(x->next + x->cap);
}

/* A call's view of one sorted set. */
struct zs {
	struct kv *kv;
	struct kvcoll *c;
	struct zn *head;
	int rc;             /* -EIO once damage is met (reported) */
	uint64_t budget;    /* node steps left: a loop in a damaged list ends */
	uint32_t tid[6];    /* ztypes' ids in the pool (0: not looked up or
			     * not registered yet) */
};

static int
cap_class(uint32_t cap)
{
	for (int i = 0; i < 6; i++)
		if (cap == 1u << i)
			return i;
	return -1;
}

static int
zdamaged(struct zs *z, nvh_oid o, const char *what)
{
	if (!z->rc)
		z->rc = kv_index_damaged(z->kv, "sorted set node", o.off, "%s",
					 what);
	return z->rc;
}

/* The node at o (NULL for a null link, or on damage: z->rc). */
static struct zn *
znode(struct zs *z, nvh_oid o)
{
	if (NVH_OID_IS_NULL(o) || z->rc)
		return NULL;
	if (z->budget-- == 0) {
		zdamaged(z, o, "a list longer than its count");
		return NULL;
	}
	struct zn *x = nvh_direct(z->kv->pool, o);
	int k = x ? cap_class(x->cap) : -1;
	/* (an object made in this transaction has no type yet: 0) */
	uint32_t t = k < 0 ? 0 : nvh_type_of(z->kv->pool, o);
	if (t && !z->tid[k]) /* looked up once per operation, not per node */
		z->tid[k] = nvh_type_id(z->kv->pool, ztypes[k]->name);
	if (k < 0 || x->nlev == 0 || x->nlev > x->cap ||
	    (t && t != z->tid[k])) {
		zdamaged(z, o, "not a skiplist node");
		return NULL;
	}
	return x;
}

/* The member entry of node x (NULL on damage). */
static struct kvent *
zent(struct zs *z, struct zn *x)
{
	struct kvent *p = kv_ent(z->kv, x->ent);
	if (!p || !kv_ent_sane(p) || p->vlen != sizeof(double) ||
	    XXH3_64bits(p->data, p->klen) != p->ksum) {
		if (!z->rc)
			z->rc = kv_damaged(z->kv, x->ent, "header checksum");
		return NULL;
	}
	return p;
}

static int
zs_open(struct zs *z, struct kv *kv, struct kvcoll *c)
{
	*z = (struct zs){kv, c, NULL, 0, (c->count + 2) * KV_ZMAXLEVEL, {0}};
	nvh_oid h = c->zhead.oid;
	z->head = znode(z, h);
	if (z->head && (z->head->cap != KV_ZMAXLEVEL ||
			!NVH_IS_NULL(z->head->ent)))
		zdamaged(z, h, "a head that is no head");
	return z->rc;
}

/* x's position against (s, m): < 0 before it, 0 it, > 0 after it;
 * damage: z->rc (and 1). */
static int
zcmp(struct zs *z, struct zn *x, double s, const void *m, size_t ml)
{
	if (x->score != s)
		return x->score < s ? -1 : 1;
	struct kvent *p = zent(z, x);
	return p ? kv_keycmp(p->data, p->klen, m, ml) : 1;
}

/* ---- searches ---- */

/* The path to (s, m): up[i] the last node at level i before it, rank[i]
 * up[i]'s rank (the head's is 0, the first node's 1). */
static void
zpath(struct zs *z, double s, const void *m, size_t ml,
      struct zn **up, uint64_t *rank)
{
	struct zn *x = z->head;
	for (int i = (int)z->head->nlev - 1; i >= 0; i--) {
		rank[i] = i == (int)z->head->nlev - 1 ? 0 : rank[i + 1];
		for (;;) {
			struct zn *n = znode(z, x->next[i]);
			if (!n || zcmp(z, n, s, m, ml) >= 0)
				break;
			rank[i] += zspan(x)[i];
			x = n;
		}
		up[i] = x;
	}
}

/* The node of rank r (1-based), or NULL. */
static struct zn *
zat(struct zs *z, uint64_t r)
{
	struct zn *x = z->head;
	uint64_t t = 0;
	for (int i = (int)z->head->nlev - 1; i >= 0; i--) {
		for (;;) {
			struct zn *n = znode(z, x->next[i]);
			if (!n || t + zspan(x)[i] > r)
				break;
			t += zspan(x)[i];
			x = n;
		}
		if (t == r)
			return x;
	}
	return NULL;
}

/* Is node x past the lower end of the range (in it, or after it)?  Is
 * it before the upper end?  As a score range or a member range. */
struct zbound {
	const struct kv_zrange *sr;
	const struct kv_zlex *lr;
};

static int
above_min(struct zs *z, struct zn *x, const struct zbound *b)
{
	if (b->sr)
		return b->sr->minex ? x->score > b->sr->min
				    : x->score >= b->sr->min;
	if (b->lr->min_inf)
		return b->lr->min_inf < 0;
	struct kvent *p = zent(z, x);
	if (!p)
		return 0;
	int c = kv_keycmp(p->data, p->klen, b->lr->min, b->lr->minl);
	return b->lr->minex ? c > 0 : c >= 0;
}

static int
below_max(struct zs *z, struct zn *x, const struct zbound *b)
{
	if (b->sr)
		return b->sr->maxex ? x->score < b->sr->max
				    : x->score <= b->sr->max;
	if (b->lr->max_inf)
		return b->lr->max_inf > 0;
	struct kvent *p = zent(z, x);
	if (!p)
		return 0;
	int c = kv_keycmp(p->data, p->klen, b->lr->max, b->lr->maxl);
	return b->lr->maxex ? c < 0 : c <= 0;
}

/* The first node in the range and its rank (NULL if none). */
static struct zn *
zfirst_in(struct zs *z, const struct zbound *b, uint64_t *rank)
{
	struct zn *x = z->head;
	uint64_t t = 0;
	for (int i = (int)z->head->nlev - 1; i >= 0; i--)
		for (;;) {
			struct zn *n = znode(z, x->next[i]);
			if (!n || above_min(z, n, b))
				break;
			t += zspan(x)[i];
			x = n;
		}
	struct zn *n = znode(z, x->next[0]);
	*rank = t + 1;
	return n && below_max(z, n, b) ? n : NULL;
}

/* The last node in the range and its rank (NULL if none). */
static struct zn *
zlast_in(struct zs *z, const struct zbound *b, uint64_t *rank)
{
	struct zn *x = z->head;
	uint64_t t = 0;
	for (int i = (int)z->head->nlev - 1; i >= 0; i--)
		for (;;) {
			struct zn *n = znode(z, x->next[i]);
			if (!n || !below_max(z, n, b))
				break;
			t += zspan(x)[i];
			x = n;
		}
	*rank = t;
	return x != z->head && above_min(z, x, b) ? x : NULL;
}

/* x's predecessor (NULL at the first node) */
static struct zn *
zprev(struct zs *z, struct zn *x)
{
	nvh_oid p = nvh_weak_get(z->kv->pool, &x->prev);
	return znode(z, p);
}

/* ---- the writes ---- */

static uint64_t zseed;

/* The member's level: 1 + the number of trailing pairs of zero bits of
 * its hash, at most 32 (1/4 of nodes reach each next level). */
static uint32_t
zlevel(struct kv *kv, const void *m, size_t ml)
{
	if (!zseed && getrandom(&zseed, sizeof(zseed), 0) != sizeof(zseed))
		zseed = 0x2545f4914f6cdd1dull;
	uint64_t h = XXH3_64bits_withSeed(m, ml, kv->hash_seed ? kv->hash_seed
						 : zseed);
	uint32_t l = 1;
	while (l < KV_ZMAXLEVEL && (h & 3) == 0) {
		l++;
		h >>= 2;
	}
	return l;
}

static nvh_oid
znew(nvh_tx *tx, uint32_t lvl)
{
	int k = 0;
	while ((1u << k) < lvl)
		k++;
	return nvh_tx_alloc_typed(tx, ztypes[k], NVH_TX_ZERO);
}

/* Snapshot, in one nvh_tx_addv (one persist barrier, where a call per
 * field took one each), what linking or unlinking a node on path up[]
 * changes in the old nodes: the span at each of levels [0, top), the link
 * at each level below lvl or pointing at the node at `xo` (non-zero),
 * the head's level count if `nlev`, and the next node's back link. */
static int
zsnap_path(nvh_tx *tx, struct zs *z, struct zn **up, uint32_t top,
	   uint32_t lvl, uint64_t xo, int nlev, struct zn *after)
{
	struct nvh_tx_range v[2 * KV_ZMAXLEVEL + 2];
	size_t nv = 0;
	if (nlev)
		v[nv++] = (struct nvh_tx_range){&z->head->nlev,
						sizeof(z->head->nlev)};
	for (uint32_t i = 0; i < top; i++) {
		if (i < lvl || (xo && up[i]->next[i].off == xo))
			v[nv++] = (struct nvh_tx_range){&up[i]->next[i],
							sizeof(nvh_oid)};
		v[nv++] = (struct nvh_tx_range){&zspan(up[i])[i],
						sizeof(uint64_t)};
	}
	if (after)
		v[nv++] = (struct nvh_tx_range){&after->prev,
						sizeof(after->prev)};
	return nvh_tx_addv(tx, v, nv);
}

/* Link a node for entry e (member m, score s) into the list of n
 * members, in tx. */
static int
zinsert(nvh_tx *tx, struct zs *z, kvent_ptr e, double s, const void *m,
	size_t ml, uint64_t n)
{
	struct zn *up[KV_ZMAXLEVEL];
	uint64_t rank[KV_ZMAXLEVEL];
	zpath(z, s, m, ml, up, rank);
	if (z->rc)
		return z->rc;
	struct zn *h = z->head;
	uint32_t lvl = zlevel(z->kv, m, ml);
	uint32_t top = lvl > h->nlev ? lvl : h->nlev;
	for (uint32_t i = h->nlev; i < lvl; i++) {
		rank[i] = 0; /* the head's new levels */
		up[i] = h;
	}
	struct zn *after = znode(z, up[0]->next[0]);
	if (z->rc)
		return z->rc;
	int rc = zsnap_path(tx, z, up, top, lvl, 0, lvl > h->nlev, after);
	if (!rc && lvl > h->nlev) {
		/* the head's new levels span the whole list */
		for (uint32_t i = h->nlev; i < lvl; i++)
			zspan(h)[i] = n;
		h->nlev = lvl;
	}
	if (rc)
		return rc;
	nvh_oid xo = znew(tx, lvl);
	struct zn *x = nvh_direct(z->kv->pool, xo);
	if (!x)
		return -ENOSPC;
	/* a new object: its plain fields without snapshots */
	x->score = s;
	x->nlev = lvl;
	x->cap = 1;
	while (x->cap < lvl)
		x->cap <<= 1;
	if (!rc)
		rc = NVH_TX_SET(tx, &x->ent, e);
	for (uint32_t i = 0; !rc && i < lvl; i++) {
		rc = nvh_tx_set(tx, &x->next[i], up[i]->next[i]);
		if (!rc)
			rc = nvh_tx_set(tx, &up[i]->next[i], xo);
		if (!rc) {
			zspan(x)[i] = zspan(up[i])[i] - (rank[0] - rank[i]);
			zspan(up[i])[i] = rank[0] - rank[i] + 1;
		}
	}
	for (uint32_t i = lvl; !rc && i < h->nlev; i++)
		zspan(up[i])[i]++; /* (snapshotted above) */
	if (!rc && up[0] != h)
		rc = nvh_tx_set_weak(tx, &x->prev, nvh_oid_of(z->kv->pool,
							      up[0]));
	if (!rc && after)
		rc = nvh_tx_set_weak(tx, &after->prev, xo);
	return rc ? rc : z->rc;
}

/* Unlink the node of (s, m), in tx: -ENOENT if there is none. */
static int
zremove(nvh_tx *tx, struct zs *z, double s, const void *m, size_t ml)
{
	struct zn *up[KV_ZMAXLEVEL];
	uint64_t rank[KV_ZMAXLEVEL];
	zpath(z, s, m, ml, up, rank);
	nvh_oid xo = up[0]->next[0];
	struct zn *x = znode(z, xo);
	if (z->rc)
		return z->rc;
	if (!x || zcmp(z, x, s, m, ml) != 0)
		return z->rc ? z->rc : -ENOENT;
	struct zn *h = z->head;
	struct zn *after = znode(z, x->next[0]);
	if (z->rc)
		return z->rc;
	int rc = zsnap_path(tx, z, up, h->nlev, 0, xo.off, 1, after);
	if (!rc && after) /* its back link to x's predecessor (the path's) */
		rc = nvh_tx_set_weak(tx, &after->prev, up[0] == h ? NVH_OID_NULL
				     : nvh_oid_of(z->kv->pool, up[0]));
	for (uint32_t i = 0; !rc && i < h->nlev; i++) {
		if (up[i]->next[i].off == xo.off) {
			zspan(up[i])[i] += zspan(x)[i] - 1;
			rc = nvh_tx_set(tx, &up[i]->next[i], x->next[i]);
		} else {
			zspan(up[i])[i]--;
		}
	}
	uint32_t l = h->nlev;
	while (l > 1 && NVH_OID_IS_NULL(h->next[l - 1]))
		l--;
	if (!rc && l != h->nlev)
		h->nlev = l; /* (snapshotted above) */
	return rc ? rc : z->rc;
}

/* ---- the calls ---- */

static int
zs_of(struct kv *kv, const void *k, size_t kl, struct kvent **raw,
      struct kvcoll **cp, struct zs *z)
{
	struct kvent *p;
	int rc = kv_coll_of(kv, k, kl, KV_T_ZSET, &p, raw, cp);
	if (rc)
		return rc;
	return zs_open(z, kv, *cp);
}

/* The member entry of m in c (NULL if none). */
static int
zfind(struct kv *kv, struct kvcoll *c, const void *m, size_t ml,
      struct kvent **fp)
{
	*fp = NULL;
	if (ml > KV_KEY_MAX)
		return 0;
	struct kv_tree_saved s;
	kvent_ptr e;
	kv_tree_on(kv, c, &s);
	int rc = kv_bt_find(kv, m, ml, &e);
	kv_tree_off(kv, &s);
	if (rc || NVH_IS_NULL(e))
		return rc;
	struct kvent *p = kv_ent(kv, e);
	if (!p || !kv_ent_sane(p) || p->vlen != sizeof(double) ||
	    XXH3_64bits(p->data + p->klen, p->vlen) != p->vsum)
		return kv_damaged(kv, e, "header or value checksum");
	*fp = p;
	return 0;
}

static double
ent_score(const struct kvent *p)
{
	double s;
	memcpy(&s, p->data + p->klen, sizeof(s));
	return s;
}

int
kv_zscore(struct kv *kv, const void *k, size_t kl, const void *m,
	  size_t ml, double *score)
{
	struct kvent *p, *raw, *fp;
	struct kvcoll *c;
	int rc = kv_coll_of(kv, k, kl, KV_T_ZSET, &p, &raw, &c);
	if (!rc)
		rc = zfind(kv, c, m, ml, &fp);
	if (rc)
		return rc;
	if (!fp)
		return -ENOENT;
	*score = ent_score(fp);
	return 0;
}

int
kv_zput(struct kv *kv, const void *k, size_t kl, const void *m, size_t ml,
	double score, int *added)
{
	if (added)
		*added = 0;
	if (isnan(score))
		return kv_err(EINVAL, "zadd: a score that is not a number");
	if (score == 0)
		score = 0; /* -0 is 0, as redis's small encoding keeps it */
	if (ml > KV_KEY_MAX)
		return kv_err(E2BIG, "zadd: member of %zu bytes (at most %u)",
			      ml, KV_KEY_MAX);
	int rc = kv_check_sizes("zadd", kl, 0);
	if (rc)
		return rc;
	struct kvent *raw, *old = NULL;
	struct kvcoll *c;
	struct zs z;
	rc = zs_of(kv, k, kl, &raw, &c, &z);
	if (rc && rc != -ENOENT)
		return rc;
	if (c && (rc = zfind(kv, c, m, ml, &old)))
		return rc;
	if (old && ent_score(old) == score)
		return 0; /* no change: nothing written */
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx)
		return kv_failed(kv, -errno, "zadd");
	rc = 0;
	if (!c) {
		rc = kv_coll_new(tx, kv, k, kl, raw, KV_T_ZSET, &c);
		nvh_oid h = rc ? NVH_OID_NULL : znew(tx, KV_ZMAXLEVEL);
		struct zn *hp = nvh_direct(kv->pool, h);
		struct kv_tree_saved s;
		if (!rc && !hp)
			rc = -ENOSPC;
		if (!rc) {
			hp->cap = KV_ZMAXLEVEL;
			hp->nlev = 1;
			rc = nvh_tx_set(tx, &c->zhead.oid, h);
		}
		if (!rc) {
			kv_tree_on(kv, c, &s);
			rc = kv_bt_create(tx, kv);
			kv_tree_off(kv, &s);
		}
		if (!rc)
			rc = zs_open(&z, kv, c);
	}
	if (!rc && old)
		rc = zremove(tx, &z, ent_score(old), m, ml);
	kvent_ptr e = NVH_NULL(kvent);
	if (!rc) {
		e = kv_ent_new(tx, kv, 0, m, ml, &score, sizeof(score), NULL,
			       0, 0);
		if (NVH_IS_NULL(e))
			rc = -ENOSPC;
	}
	uint64_t n = c ? c->count - (old ? 1 : 0) : 0;
	if (!rc)
		rc = zinsert(tx, &z, e, score, m, ml, n);
	if (!rc) {
		struct kv_tree_saved s;
		int replaced = 0;
		rc = nvh_tx_add(tx, c, offsetof(struct kvcoll, list));
		kv_tree_on(kv, c, &s);
		if (!rc)
			rc = kv_bt_put(tx, kv, e, &replaced);
		kv_tree_off(kv, &s);
		if (!rc && added)
			*added = !replaced;
	}
	return kv_coll_end_tx(kv, tx, rc, "zadd");
}

int
kv_zrem(struct kv *kv, const void *k, size_t kl, const void *m, size_t ml)
{
	struct kvent *raw, *old;
	struct kvcoll *c;
	struct zs z;
	int rc = zs_of(kv, k, kl, &raw, &c, &z);
	if (!rc)
		rc = zfind(kv, c, m, ml, &old);
	if (rc)
		return rc;
	if (!old) /* (before the transaction: see kv_hset) */
		return -ENOENT;
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx)
		return kv_failed(kv, -errno, "zrem");
	rc = zremove(tx, &z, ent_score(old), m, ml);
	if (rc == -ENOENT)
		rc = kv_index_damaged(kv, "sorted set", c->zhead.oid.off,
				      "a member missing from its skiplist");
	if (!rc)
		rc = nvh_tx_add(tx, c, offsetof(struct kvcoll, list));
	if (!rc) {
		struct kv_tree_saved s;
		kv_tree_on(kv, c, &s);
		rc = kv_bt_del(tx, kv, m, ml);
		kv_tree_off(kv, &s);
	}
	if (!rc && c->count == 0) /* the last member: the key goes */
		rc = kv_del(kv, k, kl);
	return kv_coll_end_tx(kv, tx, rc, "zrem");
}

int
kv_zcard(struct kv *kv, const void *k, size_t kl, uint64_t *n)
{
	struct kvent *p, *raw;
	struct kvcoll *c;
	int rc = kv_coll_of(kv, k, kl, KV_T_ZSET, &p, &raw, &c);
	*n = rc ? 0 : c->count;
	return rc == -ENOENT ? 0 : rc;
}

int
kv_zrank(struct kv *kv, const void *k, size_t kl, const void *m, size_t ml,
	 uint64_t *rank)
{
	struct kvent *raw, *fp;
	struct kvcoll *c;
	struct zs z;
	int rc = zs_of(kv, k, kl, &raw, &c, &z);
	if (!rc)
		rc = zfind(kv, c, m, ml, &fp);
	if (rc)
		return rc;
	if (!fp)
		return -ENOENT;
	struct zn *up[KV_ZMAXLEVEL];
	uint64_t r[KV_ZMAXLEVEL];
	double s = ent_score(fp);
	zpath(&z, s, m, ml, up, r);
	struct zn *x = znode(&z, up[0]->next[0]);
	if (!z.rc && (!x || zcmp(&z, x, s, m, ml) != 0))
		return kv_index_damaged(kv, "sorted set", c->zhead.oid.off,
					"a member missing from its skiplist");
	*rank = r[0]; /* (x's rank - 1: 0-based) */
	return z.rc;
}

/* Visit node x (fn's result; damage: z->rc) */
static int
zvisit(struct zs *z, struct zn *x, kv_zfn fn, void *arg)
{
	struct kvent *p = zent(z, x);
	if (!p)
		return z->rc;
	return fn(arg, p->data, p->klen, x->score);
}

/* From node x of rank r, n nodes forward (or back). */
static int
zwalk(struct zs *z, struct zn *x, uint64_t n, int rev,
      const struct zbound *b, kv_zfn fn, void *arg)
{
	for (uint64_t i = 0; x && i < n; i++) {
		if (b && !(rev ? above_min(z, x, b) : below_max(z, x, b)))
			break;
		int r = zvisit(z, x, fn, arg);
		if (r)
			return r;
		x = rev ? zprev(z, x) : znode(z, x->next[0]);
	}
	return z->rc;
}

int
kv_zrange(struct kv *kv, const void *k, size_t kl, uint64_t start,
	  uint64_t stop, int rev, kv_zfn fn, void *arg)
{
	struct kvent *raw;
	struct kvcoll *c;
	struct zs z;
	int rc = zs_of(kv, k, kl, &raw, &c, &z);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	if (stop >= c->count)
		stop = c->count - 1;
	if (start > stop)
		return 0;
	struct zn *x = zat(&z, rev ? c->count - start : start + 1);
	if (!x)
		return z.rc ? z.rc : kv_index_damaged(kv, "sorted set",
			c->zhead.oid.off, "a rank missing from its skiplist");
	return zwalk(&z, x, stop - start + 1, rev, NULL, fn, arg);
}

/* The first node of a range walk (the lowest in the range, or the
 * highest if rev), after `offset` more; NULL if none. */
static struct zn *
zrange_start(struct zs *z, const struct zbound *b, int rev, uint64_t offset)
{
	uint64_t r;
	struct zn *x = rev ? zlast_in(z, b, &r) : zfirst_in(z, b, &r);
	if (!x)
		return NULL;
	/* skip by rank: O(log n), not O(offset) */
	if (offset >= z->c->count)
		return NULL;
	if (rev ? offset >= r : r + offset > z->c->count)
		return NULL;
	return offset ? zat(z, rev ? r - offset : r + offset) : x;
}

static int
zrange_bound(struct kv *kv, const void *k, size_t kl,
	     const struct zbound *b, int rev, uint64_t offset, uint64_t count,
	     kv_zfn fn, void *arg)
{
	struct kvent *raw;
	struct kvcoll *c;
	struct zs z;
	int rc = zs_of(kv, k, kl, &raw, &c, &z);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	struct zn *x = zrange_start(&z, b, rev, offset);
	if (!x)
		return z.rc;
	return zwalk(&z, x, count, rev, b, fn, arg);
}

int
kv_zrange_score(struct kv *kv, const void *k, size_t kl,
		const struct kv_zrange *r, int rev, uint64_t offset,
		uint64_t count, kv_zfn fn, void *arg)
{
	struct zbound b = {r, NULL};
	return zrange_bound(kv, k, kl, &b, rev, offset, count, fn, arg);
}

int
kv_zrange_lex(struct kv *kv, const void *k, size_t kl,
	      const struct kv_zlex *r, int rev, uint64_t offset,
	      uint64_t count, kv_zfn fn, void *arg)
{
	struct zbound b = {NULL, r};
	return zrange_bound(kv, k, kl, &b, rev, offset, count, fn, arg);
}

static int
zcount_bound(struct kv *kv, const void *k, size_t kl,
	     const struct zbound *b, uint64_t *n)
{
	struct kvent *raw;
	struct kvcoll *c;
	struct zs z;
	*n = 0;
	int rc = zs_of(kv, k, kl, &raw, &c, &z);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	uint64_t r1, r2;
	struct zn *a = zfirst_in(&z, b, &r1);
	struct zn *e = a ? zlast_in(&z, b, &r2) : NULL;
	if (a && e && r2 >= r1)
		*n = r2 - r1 + 1;
	return z.rc;
}

int
kv_zcount(struct kv *kv, const void *k, size_t kl,
	  const struct kv_zrange *r, uint64_t *n)
{
	struct zbound b = {r, NULL};
	return zcount_bound(kv, k, kl, &b, n);
}

int
kv_zlexcount(struct kv *kv, const void *k, size_t kl,
	     const struct kv_zlex *r, uint64_t *n)
{
	struct zbound b = {NULL, r};
	return zcount_bound(kv, k, kl, &b, n);
}

int
kv_zscan_step(struct kv *kv, const void *k, size_t kl, uint64_t cursor,
	      size_t count, kv_fn fn, void *arg, uint64_t *next)
{
	struct kvent *p, *raw;
	struct kvcoll *c;
	*next = 0;
	int rc = kv_coll_of(kv, k, kl, KV_T_ZSET, &p, &raw, &c);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	struct kv_tree_saved s;
	kv_tree_on(kv, c, &s);
	*next = kv_bt_scan_step(kv, cursor, count, fn, arg);
	kv_tree_off(kv, &s);
	return 0;
}

/* kv_check: the skiplist in order, its count, spans and back links
 * agreeing; every member in the B-tree. */
int
kv_zset_check(struct kv *kv, kvcoll_ptr cp, struct kvcoll *c)
{
	struct zs z;
	if (c->count == 0 || c->count > kv->max_ents || zs_open(&z, kv, c))
		return z.rc ? z.rc : kv_coll_damaged(kv, cp, c);
	struct zn *prev = NULL;
	uint64_t n = 0;
	for (struct zn *x = znode(&z, z.head->next[0]); x;
	     x = znode(&z, x->next[0])) {
		struct kvent *p = zent(&z, x);
		if (!p)
			break;
		struct kvent *fp;
		if (ent_score(p) != x->score ||
		    (prev && zcmp(&z, prev, x->score, p->data, p->klen) >= 0) ||
		    nvh_weak_get(kv->pool, &x->prev).off !=
			    (prev ? nvh_oid_of(kv->pool, prev).off : 0) ||
		    zfind(kv, c, p->data, p->klen, &fp) || fp != p) {
			zdamaged(&z, nvh_oid_of(kv->pool, x),
				 "a node out of order or unlike its member");
			break;
		}
		prev = x;
		n++;
	}
	if (!z.rc && n != c->count)
		zdamaged(&z, c->zhead.oid, "a list unlike its count");
	/* the spans: each level's sum is the count */
	for (uint32_t i = 1; !z.rc && i < z.head->nlev; i++) {
		uint64_t t = 0;
		for (struct zn *x = z.head; x; x = znode(&z, x->next[i]))
			t += NVH_OID_IS_NULL(x->next[i]) ? 0 : zspan(x)[i];
		struct zn *last = zat(&z, t);
		if (t > c->count || (t && !last))
			zdamaged(&z, c->zhead.oid, "spans unlike the count");
	}
	struct kv_tree_saved s;
	kv_tree_on(kv, c, &s);
	int rc = kv_bt_scan(kv, NULL, 0, NULL, 0, NULL, NULL);
	kv_tree_off(kv, &s);
	return z.rc ? z.rc : rc;
}
