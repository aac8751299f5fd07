/*
 * coll.c -- hashes: a key whose entry has type KV_T_HASH and points (its
 * `val` field, a counted pointer) to a kvcoll that holds the fields.
 * Each field is an entry of its own (the field's bytes as its key, the
 * value's as its value, with the same checksums as a key's entry).
 *
 * Encodings (kv_int.h): a small hash (up to KV_SMALL_MAX fields, none
 * and no value longer than KV_SMALL_LEN bytes, as redis's listpack
 * limits) is a chain through the fields' next links in insertion order;
 * the write that would pass a limit moves the fields into a B-tree
 * (btree.c, pointed at this collection's root and count for the call),
 * in the same transaction.  A hash never moves back, as in redis.
 *
 * Every call is one transaction (nested in the caller's if it has one).
 * Deleting the key (DEL, expiry, FLUSHALL, the last HDEL) drops the
 * collection's count to zero: the heap frees it and every field in
 * bounded, crash-safe steps (objects/cascade.c), so deleting a hash of
 * millions of fields is one small commit, never a long one.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <xxhash.h>

#include "kv_int.h"

/* ---- the collection of a key ---- */

static const char *const type_name[] = {"string", "hash", "list", "set",
					"zset"};

const char *
kv_type_name(enum kv_type t)
{
	return (unsigned)t <= KV_T_MAX ? type_name[t] : "none";
}

int
kv_coll_damaged(struct kv *kv, kvcoll_ptr cp, const struct kvcoll *c)
{
	uint32_t t = c && c->type <= KV_T_MAX ? c->type : 0;
	return kv_index_damaged(kv, t ? type_name[t] : "collection",
				cp.oid.off, "type %" PRIu32 ", encoding %"
				PRIu32 ", %" PRIu64 " elements",
				c ? c->type : 0, c ? c->enc : 0,
				c ? c->count : 0);
}

int
kv_coll_of(struct kv *kv, const void *k, size_t kl, enum kv_type type,
	   struct kvent **ep, struct kvent **raw, struct kvcoll **cp)
{
	*cp = NULL;
	if (kl > KV_KEY_MAX)
		return -ENOENT;
	int rc = kv_lookup(kv, k, kl, ep, raw);
	if (rc)
		return rc;
	if ((*ep)->type != type)
		return kv_wrongtype();
	struct kvcoll *c = kvcoll_d(kv->pool, (*ep)->val);
	int flat = type == KV_T_HASH || type == KV_T_SET;
	if (!c || c->type != type || c->count > kv->max_ents ||
	    c->count == 0 ||
	    (flat && c->enc != KV_ENC_LIST && c->enc != KV_ENC_TREE) ||
	    (flat && c->enc == KV_ENC_LIST && c->count > KV_SMALL_MAX) ||
	    (type == KV_T_LIST && c->enc != KV_ENC_CHUNKS) ||
	    (type == KV_T_ZSET && (c->enc != KV_ENC_SKIP ||
				   NVH_IS_NULL(c->zhead))))
		return kv_coll_damaged(kv, (*ep)->val, c);
	*cp = c;
	return 0;
}

/* The live hash at key k: 0 with *cp; -ENOENT (none), -EMEDIUMTYPE
 * (another type), -EIO (damaged, reported).  *ep and *raw as kv_lookup's
 * (raw: the entry even if expired). */
static int
coll_of(struct kv *kv, const void *k, size_t kl, struct kvent **ep,
	struct kvent **raw, struct kvcoll **cp)
{
	return kv_coll_of(kv, k, kl, KV_T_HASH, ep, raw, cp);
}

static uint64_t
fhash(const void *f, size_t fl)
{
	return XXH3_64bits(f, fl);
}

/* Small encoding: *link := the link that holds field f (or the chain's
 * tail link if none: then *fp is NULL). */
static int
list_find(struct kv *kv, struct kvcoll *c, const void *f, size_t fl,
	  kvent_ptr **link, struct kvent **fp)
{
	uint64_t h = fhash(f, fl);
	kvent_ptr *l = &c->list;
	*fp = NULL;
	for (uint64_t i = 0; !NVH_IS_NULL(*l); i++) {
		struct kvent *p = kv_ent(kv, *l);
		if (!p || i >= c->count)
			return kv_index_damaged(kv, "hash", l->oid.off,
						"%s", !p ? "a link to a non-entry"
						: "a chain longer than its count");
		if (kv_ent_is(p, h, f, fl)) {
			*link = l;
			*fp = p;
			return 0;
		}
		l = &p->next;
	}
	*link = l;
	return 0;
}

/* Field f's entry in c (NULL if none). */
static int
field_find(struct kv *kv, struct kvcoll *c, const void *f, size_t fl,
	   struct kvent **fp)
{
	*fp = NULL;
	if (fl > KV_KEY_MAX)
		return 0;
	if (c->enc == KV_ENC_LIST) {
		kvent_ptr *link;
		return list_find(kv, c, f, fl, &link, fp);
	}
	struct kv_tree_saved s;
	kvent_ptr e;
	kv_tree_on(kv, c, &s);
	int rc = kv_bt_find(kv, f, fl, &e);
	kv_tree_off(kv, &s);
	if (!rc && !NVH_IS_NULL(e)) {
		struct kvent *p = kv_ent(kv, e);
		if (!p || !kv_ent_sane(p))
			return kv_damaged(kv, e, "header checksum");
		*fp = p;
	}
	return rc;
}

/* Snapshot c's count and encoding (its pointers change by NVH_TX_SET) */
static int
coll_add(nvh_tx *tx, struct kvcoll *c)
{
	return nvh_tx_add(tx, c, offsetof(struct kvcoll, list));
}

/* The small hash c becomes a B-tree of the same entries. */
static int
to_tree(nvh_tx *tx, struct kv *kv, struct kvcoll *c)
{
	uint64_t n = c->count;
	kvent_ptr first = c->list;
	struct kv_tree_saved s;
	kv_tree_on(kv, c, &s);
	int rc = kv_bt_create(tx, kv);
	for (kvent_ptr e = first; !rc && !NVH_IS_NULL(e);) {
		struct kvent *p = kv_ent(kv, e);
		int replaced = 0;
		rc = kv_bt_put(tx, kv, e, &replaced);
		if (!rc && replaced)
			rc = kv_index_damaged(kv, "hash", e.oid.off,
					      "a field twice in its chain");
		e = p->next;
	}
	kv_tree_off(kv, &s);
	/* the chain's links go: a field deleted from the tree later must
	 * not be kept by the one that came before it */
	for (kvent_ptr e = first; !rc && !NVH_IS_NULL(e);) {
		struct kvent *p = kv_ent(kv, e);
		e = p->next;
		rc = NVH_TX_SET(tx, &p->next, NVH_NULL(kvent));
	}
	if (!rc)
		rc = NVH_TX_SET(tx, &c->list, NVH_NULL(kvent));
	if (!rc && c->count != n)
		rc = kv_index_damaged(kv, "hash", first.oid.off, "%" PRIu64
				      " fields in a chain counted %" PRIu64,
				      c->count, n);
	if (!rc)
		c->enc = KV_ENC_TREE; /* (coll_add'ed by the caller) */
	return rc;
}

/* f = v in c, in tx; nx: only if absent (-EEXIST). */
static int
field_put(nvh_tx *tx, struct kv *kv, struct kvcoll *c, const void *f,
	  size_t fl, const void *v, size_t vl, int nx, int *added)
{
	*added = 0;
	int rc = coll_add(tx, c);
	if (rc)
		return rc;
	int small = fl <= KV_SMALL_LEN && vl <= KV_SMALL_LEN;
	if (c->enc == KV_ENC_LIST) {
		kvent_ptr *link;
		struct kvent *old;
		rc = list_find(kv, c, f, fl, &link, &old);
		if (rc)
			return rc;
		if (old && nx)
			return -EEXIST;
		if (small && (old || c->count < KV_SMALL_MAX)) {
			kvent_ptr e = kv_ent_new(tx, kv, fhash(f, fl), f, fl, v,
						 vl, NULL, 0, 0);
			if (NVH_IS_NULL(e))
				return -ENOSPC;
			if (old) /* in its place: the order is kept */
				rc = NVH_TX_SET(tx, &kv_ent(kv, e)->next,
						old->next);
			if (!rc)
				rc = NVH_TX_SET(tx, link, e);
			if (!rc && !old) {
				c->count++;
				*added = 1;
			}
			return rc;
		}
		if ((rc = to_tree(tx, kv, c)))
			return rc;
	}
	struct kvent *old;
	if (nx && ((rc = field_find(kv, c, f, fl, &old)) || old))
		return rc ? rc : -EEXIST;
	kvent_ptr e = kv_ent_new(tx, kv, fhash(f, fl), f, fl, v, vl, NULL, 0,
				 0);
	if (NVH_IS_NULL(e))
		return -ENOSPC;
	struct kv_tree_saved s;
	int replaced = 0;
	kv_tree_on(kv, c, &s);
	rc = kv_bt_put(tx, kv, e, &replaced);
	kv_tree_off(kv, &s);
	*added = !rc && !replaced;
	return rc;
}

int
kv_coll_new(nvh_tx *tx, struct kv *kv, const void *k, size_t kl,
	    const struct kvent *raw, enum kv_type type, struct kvcoll **cp)
{
	kvcoll_ptr cpp = NVH_TX_ALLOC(tx, kvcoll);
	struct kvcoll *c = kvcoll_d(kv->pool, cpp);
	kvent_ptr e = kv_ent_new(tx, kv, kv_key_hash(kv, k, kl), k, kl, NULL,
				 0, NULL, 0, 0);
	struct kvent *p = kv_ent(kv, e);
	if (!c || !p)
		return -ENOSPC;
	/* new objects: written without snapshots */
	c->type = type;
	c->enc = type == KV_T_LIST ? KV_ENC_CHUNKS
		 : type == KV_T_ZSET ? KV_ENC_SKIP : KV_ENC_LIST;
	p->type = type;
	p->msum = kv_ent_msum(p);
	int replaced = 0;
	int rc = NVH_TX_SET(tx, &p->val, cpp);
	if (!rc)
		rc = kv_index_put(tx, kv, e, &replaced);
	if (!rc)
		rc = kv_count_expires(tx, kv, -(raw && raw->expire != 0));
	*cp = c;
	return rc;
}

static int
field_sizes(const char *op, size_t kl, size_t fl, size_t vl)
{
	if (fl > KV_KEY_MAX)
		return kv_err(E2BIG, "%s: %s of %zu bytes (at most %u)", op,
			      strcmp(op, "sadd") ? "field" : "member", fl,
			      KV_KEY_MAX);
	return kv_check_sizes(op, kl, vl);
}

int
kv_coll_end_tx(struct kv *kv, nvh_tx *tx, int rc, const char *op)
{
	if (rc == -EIO || rc == -EEXIST || rc == -ENOENT ||
	    rc == -EMEDIUMTYPE || rc == -ERANGE || rc == -ENOMEM) {
		nvh_tx_abort(tx);
		return rc;
	}
	int crc = kv_failed(kv, nvh_tx_commit(tx), op);
	return crc ? crc : rc;
}

static int
coll_put(struct kv *kv, enum kv_type type, const void *k, size_t kl,
	 const void *f, size_t fl, const void *v, size_t vl, int nx,
	 int *added)
{
	const char *op = type == KV_T_SET ? "sadd" : "hset";
	int rc = field_sizes(op, kl, fl, vl);
	if (rc)
		return rc;
	struct kvent *p, *raw;
	struct kvcoll *c;
	rc = kv_coll_of(kv, k, kl, type, &p, &raw, &c);
	if (rc && rc != -ENOENT)
		return rc;
	/* the conditions before the transaction: an abort inside would
	 * roll back the caller's too */
	struct kvent *old = NULL;
	if (c && nx && (rc = field_find(kv, c, f, fl, &old)))
		return rc;
	if (old)
		return -EEXIST;
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx)
		return kv_failed(kv, -errno, op);
	rc = 0;
	if (!c)
		rc = kv_coll_new(tx, kv, k, kl, raw, type, &c);
	int a = 0;
	if (!rc)
		rc = field_put(tx, kv, c, f, fl, v, vl, nx, &a);
	rc = kv_coll_end_tx(kv, tx, rc, op);
	if (!rc && added)
		*added = a;
	return rc;
}

static int
coll_get(struct kv *kv, enum kv_type type, const void *k, size_t kl,
	 const void *f, size_t fl, const void **v, size_t *vl)
{
	struct kvent *p, *raw;
	struct kvcoll *c;
	int rc = kv_coll_of(kv, k, kl, type, &p, &raw, &c);
	struct kvent *fp;
	if (!rc)
		rc = field_find(kv, c, f, fl, &fp);
	if (rc)
		return rc;
	if (!fp)
		return -ENOENT;
	if (XXH3_64bits(fp->data + fp->klen, fp->vlen) != fp->vsum)
		return kv_damaged(kv, (kvent_ptr){nvh_oid_of(kv->pool, fp)},
				  "value checksum");
	*v = fp->data + fp->klen;
	*vl = fp->vlen;
	return 0;
}

static int
coll_del(struct kv *kv, enum kv_type type, const void *k, size_t kl,
	 const void *f, size_t fl)
{
	struct kvent *p, *raw;
	struct kvcoll *c;
	int rc = kv_coll_of(kv, k, kl, type, &p, &raw, &c);
	if (rc)
		return rc;
	struct kvent *old;
	if ((rc = field_find(kv, c, f, fl, &old)))
		return rc;
	if (!old) /* (before the transaction: see kv_hset) */
		return -ENOENT;
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx)
		return kv_failed(kv, -errno,
				 type == KV_T_SET ? "srem" : "hdel");
	rc = coll_add(tx, c);
	if (!rc && c->enc == KV_ENC_LIST) {
		kvent_ptr *link;
		rc = list_find(kv, c, f, fl, &link, &old);
		if (!rc && !old)
			rc = -EIO; /* (found above) */
		if (!rc)
			rc = NVH_TX_SET(tx, link, old->next);
		if (!rc)
			c->count--;
	} else if (!rc) {
		struct kv_tree_saved s;
		kv_tree_on(kv, c, &s);
		rc = kv_bt_del(tx, kv, f, fl);
		kv_tree_off(kv, &s);
	}
	if (!rc && c->count == 0) /* the last field: the key goes */
		rc = kv_del(kv, k, kl);
	return kv_coll_end_tx(kv, tx, rc,
			      type == KV_T_SET ? "srem" : "hdel");
}

static int
coll_len(struct kv *kv, enum kv_type type, const void *k, size_t kl,
	 uint64_t *n)
{
	struct kvent *p, *raw;
	struct kvcoll *c;
	int rc = kv_coll_of(kv, k, kl, type, &p, &raw, &c);
	*n = rc ? 0 : c->count;
	return rc == -ENOENT ? 0 : rc;
}

/* Small encoding: visit every field (damaged ones counted, skipped). */
static int
list_visit(struct kv *kv, struct kvcoll *c, kv_fn fn, void *arg)
{
	kvent_ptr e = c->list;
	for (uint64_t i = 0; !NVH_IS_NULL(e); i++) {
		struct kvent *p = kv_ent(kv, e);
		if (!p || i >= c->count)
			return kv_index_damaged(kv, "hash", e.oid.off, "%s",
						!p ? "a link to a non-entry"
						: "a chain longer than its count");
		int r = kv_visit(kv, e, fn, arg);
		if (r)
			return r;
		e = p->next;
	}
	return 0;
}

int
kv_coll_check(struct kv *kv, const struct kvent *p)
{
	struct kvcoll *c = kvcoll_d(kv->pool, p->val);
	if (p->type == KV_T_LIST && c && c->type == KV_T_LIST &&
	    c->enc == KV_ENC_CHUNKS)
		return kv_list_check(kv, p->val, c);
	if (p->type == KV_T_ZSET && c && c->type == KV_T_ZSET &&
	    c->enc == KV_ENC_SKIP)
		return kv_zset_check(kv, p->val, c);
	if (!c || c->type != p->type || p->type == KV_T_LIST ||
	    p->type == KV_T_ZSET ||
	    (c->enc != KV_ENC_LIST && c->enc != KV_ENC_TREE) ||
	    c->count > kv->max_ents)
		return kv_coll_damaged(kv, p->val, c);
	if (c->enc == KV_ENC_LIST)
		return list_visit(kv, c, NULL, NULL);
	struct kv_tree_saved s;
	kv_tree_on(kv, c, &s);
	int rc = kv_bt_scan(kv, NULL, 0, NULL, 0, NULL, NULL);
	kv_tree_off(kv, &s);
	return rc;
}

static int
coll_scan(struct kv *kv, enum kv_type type, const void *k, size_t kl,
	  kv_fn fn, void *arg)
{
	struct kvent *p, *raw;
	struct kvcoll *c;
	int rc = kv_coll_of(kv, k, kl, type, &p, &raw, &c);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	if (c->enc == KV_ENC_LIST)
		return list_visit(kv, c, fn, arg);
	struct kv_tree_saved s;
	kv_tree_on(kv, c, &s);
	rc = kv_bt_scan(kv, NULL, 0, NULL, 0, fn, arg);
	kv_tree_off(kv, &s);
	return rc;
}

static int
coll_scan_step(struct kv *kv, enum kv_type type, const void *k,
	       size_t kl, uint64_t cursor, size_t count, kv_fn fn,
	       void *arg, uint64_t *next)
{
	struct kvent *p, *raw;
	struct kvcoll *c;
	*next = 0;
	int rc = kv_coll_of(kv, k, kl, type, &p, &raw, &c);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	if (c->enc == KV_ENC_LIST) /* all at once, as redis's listpack */
		return list_visit(kv, c, fn, arg);
	struct kv_tree_saved s;
	kv_tree_on(kv, c, &s);
	*next = kv_bt_scan_step(kv, cursor, count, fn, arg);
	kv_tree_off(kv, &s);
	return 0;
}

/* fn for one field (or member) picked at random from seed: a small
 * collection's by its index in the chain, a large one's by a descent of
 * its B-tree (kv_bt_random).  0 also when the pick was a damaged entry
 * (counted, fn not called) or there is no such key. */
static int
coll_random(struct kv *kv, enum kv_type type, const void *k, size_t kl,
	    uint64_t seed, kv_fn fn, void *arg)
{
	struct kvent *p, *raw;
	struct kvcoll *c;
	int rc = kv_coll_of(kv, k, kl, type, &p, &raw, &c);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	if (c->enc == KV_ENC_LIST) {
		kvent_ptr e = c->list;
		/* (the seed hashed: consecutive seeds would walk the chain
		 * in turn) */
		uint64_t r = XXH3_64bits(&seed, sizeof(seed));
		for (uint64_t i = r % c->count; i && !NVH_IS_NULL(e); i--) {
			struct kvent *q = kv_ent(kv, e);
			if (!q)
				return kv_index_damaged(kv, "hash", e.oid.off,
							"a link to a non-entry");
			e = q->next;
		}
		if (NVH_IS_NULL(e))
			return kv_index_damaged(kv, "hash", c->list.oid.off,
						"a chain shorter than its count");
		return kv_visit(kv, e, fn, arg);
	}
	struct kv_tree_saved s;
	kv_tree_on(kv, c, &s);
	rc = kv_bt_random(kv, seed, fn, arg);
	kv_tree_off(kv, &s);
	return rc;
}

/* ---- the hash and set calls: a set is a collection of members with
 * empty values ---- */

int
kv_hset(struct kv *kv, const void *k, size_t kl, const void *f, size_t fl,
	const void *v, size_t vl, int nx, int *added)
{
	return coll_put(kv, KV_T_HASH, k, kl, f, fl, v, vl, nx, added);
}

int
kv_hget(struct kv *kv, const void *k, size_t kl, const void *f, size_t fl,
	const void **v, size_t *vl)
{
	return coll_get(kv, KV_T_HASH, k, kl, f, fl, v, vl);
}

int
kv_hdel(struct kv *kv, const void *k, size_t kl, const void *f, size_t fl)
{
	return coll_del(kv, KV_T_HASH, k, kl, f, fl);
}

int
kv_hlen(struct kv *kv, const void *k, size_t kl, uint64_t *n)
{
	return coll_len(kv, KV_T_HASH, k, kl, n);
}

int
kv_hscan(struct kv *kv, const void *k, size_t kl, kv_fn fn, void *arg)
{
	return coll_scan(kv, KV_T_HASH, k, kl, fn, arg);
}

int
kv_hscan_step(struct kv *kv, const void *k, size_t kl, uint64_t cursor,
	      size_t count, kv_fn fn, void *arg, uint64_t *next)
{
	return coll_scan_step(kv, KV_T_HASH, k, kl, cursor, count, fn, arg,
			      next);
}

int
kv_sadd(struct kv *kv, const void *k, size_t kl, const void *m, size_t ml,
	int *added)
{
	int a = 0;
	int rc = coll_put(kv, KV_T_SET, k, kl, m, ml, "", 0, 1, &a);
	if (added)
		*added = !rc && a;
	return rc == -EEXIST ? 0 : rc;
}

int
kv_srem(struct kv *kv, const void *k, size_t kl, const void *m, size_t ml)
{
	return coll_del(kv, KV_T_SET, k, kl, m, ml);
}

int
kv_sismember(struct kv *kv, const void *k, size_t kl, const void *m,
	     size_t ml)
{
	const void *v;
	size_t vl;
	return coll_get(kv, KV_T_SET, k, kl, m, ml, &v, &vl);
}

int
kv_scard(struct kv *kv, const void *k, size_t kl, uint64_t *n)
{
	return coll_len(kv, KV_T_SET, k, kl, n);
}

int
kv_smembers(struct kv *kv, const void *k, size_t kl, kv_fn fn, void *arg)
{
	return coll_scan(kv, KV_T_SET, k, kl, fn, arg);
}

int
kv_srandom(struct kv *kv, const void *k, size_t kl, uint64_t seed, kv_fn fn,
	   void *arg)
{
	return coll_random(kv, KV_T_SET, k, kl, seed, fn, arg);
}

int
kv_hrandom(struct kv *kv, const void *k, size_t kl, uint64_t seed, kv_fn fn,
	   void *arg)
{
	return coll_random(kv, KV_T_HASH, k, kl, seed, fn, arg);
}

int
kv_sscan_step(struct kv *kv, const void *k, size_t kl, uint64_t cursor,
	      size_t count, kv_fn fn, void *arg, uint64_t *next)
{
	return coll_scan_step(kv, KV_T_SET, k, kl, cursor, count, fn, arg,
			      next);
}

int
kv_hash_encoding(struct kv *kv, const void *k, size_t kl, const char **enc)
{
	struct kvent *p, *raw;
	struct kvcoll *c;
	int rc = coll_of(kv, k, kl, &p, &raw, &c);
	if (!rc)
		*enc = c->enc == KV_ENC_LIST ? "listpack" : "hashtable";
	return rc;
}

/* ---- prepared batches (kv_prepare) ---- */

void
kv_coll_prepare(struct kv *kv, struct kv_prep *p, const uint64_t *hash,
		const void *const *k, const size_t *kl, size_t n)
{
	const struct kvcoll *seen[64];
	size_t nseen = 0;
	for (size_t i = 0; i < n && !p->oom; i++) {
		kvent_ptr e;
		struct kvent *ep;
		if (kv_hash_find(kv, hash[i], k[i], kl[i], &e) ||
		    !(ep = kv_ent(kv, e)) || ep->type == KV_T_STRING)
			continue;
		struct kvcoll *c = kvcoll_d(kv->pool, ep->val);
		int dup = !c;
		for (size_t j = 0; j < nseen && !dup; j++)
			dup = seen[j] == c;
		if (dup || c->count > kv->max_ents)
			continue;
		if (nseen < 64)
			seen[nseen++] = c;
		kv_prep_add(p, c, sizeof(*c));
		if (c->enc == KV_ENC_CHUNKS) {
			/* the end chunks pushes and pops write, and the ones
			 * next to them (a pop that empties an end chunk links
			 * its neighbour in its place) */
			struct kvlchunk *h = kvlchunk_d(kv->pool, c->head);
			struct kvlchunk *t = kvlchunk_d(kv->pool, c->tail);
			struct kvlchunk *h2 = h ? kvlchunk_d(kv->pool, h->next)
						: NULL;
			struct kvlchunk *t2 = t ? kvlchunk_d(kv->pool,
				NVH_WEAK_GET(kv->pool, kvlchunk, &t->prev)) : NULL;
			struct kvlchunk *ch[4] = {h, t, h2, t2};
			for (int a = 0; a < 4; a++) {
				int again = !ch[a];
				for (int b = 0; b < a && !again; b++)
					again = ch[b] == ch[a];
				if (!again)
					kv_prep_add(p, ch[a], sizeof(*ch[a]));
			}
		} else if (c->enc == KV_ENC_LIST) { /* the chain's links */
			uint64_t m = 0;
			for (kvent_ptr f = c->list; !NVH_IS_NULL(f) &&
			     m < c->count; m++) {
				struct kvent *q = kv_ent(kv, f);
				if (!q)
					break;
				kv_prep_add(p, &q->next, sizeof(q->next));
				f = q->next;
			}
		} else if (c->enc == KV_ENC_SKIP) { /* the head's links */
			void *h = nvh_direct(kv->pool, c->zhead.oid);
			if (h)
				kv_prep_add(p, h, sizeof(struct kvzn32));
		}
	}
}
