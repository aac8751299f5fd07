/*
 * list.c -- lists: a key whose entry has type KV_T_LIST and points (its
 * `val` field) to a kvcoll whose `head` and `tail` are the ends of a
 * deque of chunks (struct kvlchunk, kv_int.h).  Each element is an entry
 * of its own (no key bytes; the element's bytes as its value, with the
 * entries' checksums), held by one chunk slot.
 *
 * Why chunks: a push or a pop at either end writes one slot, the
 * chunk's bounds and the list's count (three small snapshots), and a
 * new chunk every KV_LCHUNK pushes; an index walks chunks, not elements
 * (KV_LCHUNK times fewer hops than a linked list), from the nearer end.
 * An insert or a removal in the middle shifts at most one chunk's slots;
 * an insert into a full chunk splits it in two.  The prev links are
 * weak, so a list holds no cycle and deleting it (DEL, expiry, the last
 * pop) is one count dropping to zero: the heap frees the chunks and the
 * elements in bounded, crash-safe steps.  LMOVE moves the element's
 * entry itself (no copy): pushed on the destination, then popped from
 * the source, in one transaction.
 *
 * Every call is one transaction (nested in the caller's if it has one);
 * the conditions (WRONGTYPE, no such key, an index out of range, a
 * missing pivot) are decided before it begins, since an abort inside
 * would roll back the caller's too.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <xxhash.h>

#include "kv_int.h"

#define N KV_LCHUNK

NVH_TYPE_DEFINE(kvlchunk, 0, NVH_PTR(kvlchunk, next, kvlchunk)
		NVH_WEAK(kvlchunk, prev, kvlchunk)
		NVH_PTR_N(kvlchunk, item, KV_LCHUNK, kvent));

/* A place in a list: the chunk and the slot. */
struct lpos {
	kvlchunk_ptr cp;
	struct kvlchunk *ch;
	uint32_t s;
};

static int
same(kvlchunk_ptr a, kvlchunk_ptr b)
{
	return a.oid.off == b.oid.off;
}

/* The linked chunk at p, checked (NULL: damage reported in *rc). */
static struct kvlchunk *
chunk(struct kv *kv, kvlchunk_ptr p, int *rc)
{
	struct kvlchunk *ch = NVH_IS_NULL(p) ? NULL : kvlchunk_d(kv->pool, p);
	if (!ch || ch->lo >= ch->hi || ch->hi > N) {
		*rc = kv_index_damaged(kv, "list chunk", p.oid.off,
				       "%s", !ch ? "a link to no chunk"
				       : "bounds out of order");
		return NULL;
	}
	return ch;
}

static kvlchunk_ptr
prev_of(struct kv *kv, struct kvlchunk *ch)
{
	return NVH_WEAK_GET(kv->pool, kvlchunk, &ch->prev);
}

/* Element e's value, checked: 0, or -EIO (reported). */
static int
elem(struct kv *kv, kvent_ptr e, const void **v, size_t *vl)
{
	struct kvent *p = NVH_IS_NULL(e) ? NULL : kv_ent(kv, e);
	if (!p)
		return kv_index_damaged(kv, "list element", e.oid.off,
					"an empty slot in a chunk");
	if (!kv_ent_sane(p) || p->klen != 0 || p->type != KV_T_STRING)
		return kv_damaged(kv, e, "header checksum");
	if (XXH3_64bits(p->data, p->vlen) != p->vsum)
		return kv_damaged(kv, e, "value checksum");
	*v = p->data;
	*vl = p->vlen;
	return 0;
}

static int
elem_fn(struct kv *kv, kvent_ptr e, kv_fn fn, void *arg)
{
	const void *v;
	size_t vl;
	int rc = elem(kv, e, &v, &vl);
	return rc ? rc : fn ? fn(arg, "", 0, v, vl) : 0;
}

static int
list_of(struct kv *kv, const void *k, size_t kl, struct kvent **raw,
	struct kvcoll **cp)
{
	struct kvent *p;
	return kv_coll_of(kv, k, kl, KV_T_LIST, &p, raw, cp);
}

/* Index i (0 <= i < count) of c: from the nearer end. */
static int
locate(struct kv *kv, struct kvcoll *c, uint64_t i, struct lpos *o)
{
	int rc = 0;
	int back = i >= c->count / 2;
	uint64_t j = back ? c->count - 1 - i : i;
	kvlchunk_ptr p = back ? c->tail : c->head;
	for (uint64_t steps = 0; steps <= c->count; steps++) {
		struct kvlchunk *ch = chunk(kv, p, &rc);
		if (!ch)
			return rc;
		uint32_t n = ch->hi - ch->lo;
		if (j < n) {
			o->cp = p;
			o->ch = ch;
			o->s = back ? ch->hi - 1 - (uint32_t)j
				    : ch->lo + (uint32_t)j;
			return 0;
		}
		j -= n;
		p = back ? prev_of(kv, ch) : ch->next;
	}
	return kv_coll_damaged(kv, (kvcoll_ptr){nvh_oid_of(kv->pool, c)}, c);
}

/* Snapshot c's count (its pointers change by NVH_TX_SET) */
static int
count_add(nvh_tx *tx, struct kvcoll *c)
{
	return nvh_tx_add(tx, c, sizeof(c->count));
}

/* Snapshot ch's bounds. */
static int
bounds_add(nvh_tx *tx, struct kvlchunk *ch)
{
	return nvh_tx_add(tx, &ch->lo, 2 * sizeof(uint32_t));
}

static kvlchunk_ptr
chunk_new(nvh_tx *tx, struct kv *kv, uint32_t at)
{
	kvlchunk_ptr p = NVH_TX_ALLOC(tx, kvlchunk);
	struct kvlchunk *ch = kvlchunk_d(kv->pool, p);
	if (ch) /* a new object: written without snapshots */
		ch->lo = ch->hi = at;
	return p;
}

/* Unlink the chunk at cp (empty, or its elements going with it). */
static int
unlink_chunk(nvh_tx *tx, struct kv *kv, struct kvcoll *c, kvlchunk_ptr cp,
	     struct kvlchunk *ch)
{
	kvlchunk_ptr np = ch->next, pp = prev_of(kv, ch);
	int rc = 0;
	if (same(cp, c->head)) {
		rc = NVH_TX_SET(tx, &c->head, np);
	} else {
		struct kvlchunk *pd = chunk(kv, pp, &rc);
		if (pd)
			rc = NVH_TX_SET(tx, &pd->next, np);
	}
	if (rc)
		return rc;
	if (same(cp, c->tail)) {
		rc = NVH_TX_SET(tx, &c->tail, pp);
	} else {
		struct kvlchunk *nd = chunk(kv, np, &rc);
		if (nd)
			rc = NVH_TX_SET_WEAK(tx, kvlchunk, &nd->prev, pp);
	}
	return rc;
}

/* Link the new chunk np (n) after the chunk at ap (a; null: before the
 * head). */
static int
link_after(nvh_tx *tx, struct kv *kv, struct kvcoll *c, kvlchunk_ptr ap,
	   struct kvlchunk *a, kvlchunk_ptr np, struct kvlchunk *n)
{
	kvlchunk_ptr after = a ? a->next : c->head;
	int rc = NVH_TX_SET(tx, &n->next, after);
	if (!rc && a)
		rc = NVH_TX_SET_WEAK(tx, kvlchunk, &n->prev, ap);
	if (!rc && NVH_IS_NULL(after)) {
		rc = NVH_TX_SET(tx, &c->tail, np);
	} else if (!rc) {
		struct kvlchunk *ad = chunk(kv, after, &rc);
		if (ad)
			rc = NVH_TX_SET_WEAK(tx, kvlchunk, &ad->prev, np);
	}
	if (!rc)
		rc = a ? NVH_TX_SET(tx, &a->next, np)
		       : NVH_TX_SET(tx, &c->head, np);
	return rc;
}

/* Push element e at one end of c (count snapshotted by the caller). */
static int
push(nvh_tx *tx, struct kv *kv, struct kvcoll *c, kvent_ptr e, int left)
{
	int rc = 0;
	kvlchunk_ptr ep = left ? c->head : c->tail;
	struct kvlchunk *ch = NULL;
	if (!NVH_IS_NULL(ep) && !(ch = chunk(kv, ep, &rc)))
		return rc;
	if (!ch || (left ? ch->lo == 0 : ch->hi == N)) {
		/* a new end chunk, filled from the end it grows at */
		kvlchunk_ptr np = chunk_new(tx, kv, left ? N : 0);
		struct kvlchunk *n = kvlchunk_d(kv->pool, np);
		if (!n)
			return -ENOSPC;
		if (!ch || !left)
			rc = link_after(tx, kv, c, ep, ch, np, n);
		else
			rc = link_after(tx, kv, c, NVH_NULL(kvlchunk), NULL,
					np, n);
		ch = n;
	} else {
		rc = bounds_add(tx, ch);
	}
	if (rc)
		return rc;
	if (left) {
		ch->lo--;
		rc = NVH_TX_SET(tx, &ch->item[ch->lo], e);
	} else {
		rc = NVH_TX_SET(tx, &ch->item[ch->hi], e);
		ch->hi++;
	}
	c->count++;
	return rc;
}

/* Remove the element at `at` (count snapshotted by the caller), moving
 * the slots before it up (up) or those after it down. */
static int
remove_at(nvh_tx *tx, struct kv *kv, struct kvcoll *c, struct lpos *at,
	  int up)
{
	struct kvlchunk *ch = at->ch;
	uint32_t s = at->s;
	int rc = bounds_add(tx, ch);
	if (!rc && s != ch->lo && s != ch->hi - 1) {
		if (up)
			for (uint32_t j = s; j > ch->lo && !rc; j--)
				rc = NVH_TX_SET(tx, &ch->item[j],
						ch->item[j - 1]);
		else
			for (uint32_t j = s; j + 1 < ch->hi && !rc; j++)
				rc = NVH_TX_SET(tx, &ch->item[j],
						ch->item[j + 1]);
		s = up ? ch->lo : ch->hi - 1;
	}
	if (!rc)
		rc = NVH_TX_SET(tx, &ch->item[s], NVH_NULL(kvent));
	if (rc)
		return rc;
	if (s == ch->lo)
		ch->lo++;
	else
		ch->hi--;
	c->count--;
	return ch->lo == ch->hi ? unlink_chunk(tx, kv, c, at->cp, ch) : 0;
}

/* Insert e before the slot at->s of at's chunk (s == hi: after its last
 * element). */
static int
insert_at(nvh_tx *tx, struct kv *kv, struct kvcoll *c, struct lpos *at,
	  kvent_ptr e)
{
	struct kvlchunk *ch = at->ch;
	uint32_t s = at->s;
	int rc = 0;
	if (ch->hi - ch->lo == N) { /* full: its upper half to a new chunk */
		kvlchunk_ptr np = chunk_new(tx, kv, 0);
		struct kvlchunk *n = kvlchunk_d(kv->pool, np);
		if (!n)
			return -ENOSPC;
		for (uint32_t i = 0; i < N / 2 && !rc; i++) {
			rc = NVH_TX_SET(tx, &n->item[i], ch->item[N / 2 + i]);
			if (!rc)
				rc = NVH_TX_SET(tx, &ch->item[N / 2 + i],
						NVH_NULL(kvent));
		}
		n->hi = N / 2;
		if (!rc)
			rc = bounds_add(tx, ch);
		if (!rc)
			rc = link_after(tx, kv, c, at->cp, ch, np, n);
		if (rc)
			return rc;
		ch->hi = N / 2;
		if (s >= N / 2) {
			ch = n;
			s -= N / 2;
		}
	} else {
		rc = bounds_add(tx, ch);
	}
	if (rc)
		return rc;
	if (s == ch->lo && ch->lo > 0) {
		ch->lo--;
		s = ch->lo;
	} else if (ch->hi < N) { /* the slots from s down one */
		for (uint32_t j = ch->hi; j > s && !rc; j--)
			rc = NVH_TX_SET(tx, &ch->item[j], ch->item[j - 1]);
		ch->hi++;
	} else { /* the slots before s up one */
		for (uint32_t j = ch->lo - 1; j + 1 < s && !rc; j++)
			rc = NVH_TX_SET(tx, &ch->item[j], ch->item[j + 1]);
		ch->lo--;
		s--;
	}
	if (!rc)
		rc = NVH_TX_SET(tx, &ch->item[s], e);
	c->count++;
	return rc;
}

static kvent_ptr
elem_new(nvh_tx *tx, struct kv *kv, const void *v, size_t vl)
{
	return kv_ent_new(tx, kv, 0, NULL, 0, v, vl, NULL, 0, 0);
}

static int
begin(struct kv *kv, nvh_tx **tx, const char *op)
{
	*tx = nvh_tx_begin(kv->pool);
	return *tx ? 0 : kv_failed(kv, -errno, op);
}

/* The list emptied by this write: the key goes with it. */
static int
emptied(struct kv *kv, struct kvcoll *c, const void *k, size_t kl)
{
	return c->count == 0 ? kv_del(kv, k, kl) : 0;
}

int
kv_lpush(struct kv *kv, const void *k, size_t kl, const void *const *v,
	 const size_t *vl, size_t n, int left, int xx, uint64_t *len)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = kv_check_sizes("lpush", kl, vl[i]);
	struct kvent *raw;
	struct kvcoll *c = NULL;
	if (!rc)
		rc = list_of(kv, k, kl, &raw, &c);
	if (len)
		*len = c ? c->count : 0;
	if (rc != -ENOENT && rc)
		return rc;
	if (!c && (xx || n == 0))
		return 0;
	nvh_tx *tx;
	if ((rc = begin(kv, &tx, "lpush")))
		return rc;
	if (!c)
		rc = kv_coll_new(tx, kv, k, kl, raw, KV_T_LIST, &c);
	if (!rc)
		rc = count_add(tx, c);
	for (size_t i = 0; i < n && !rc; i++) {
		kvent_ptr e = elem_new(tx, kv, v[i], vl[i]);
		rc = NVH_IS_NULL(e) ? -ENOSPC : push(tx, kv, c, e, left);
	}
	uint64_t after = c ? c->count : 0;
	rc = kv_coll_end_tx(kv, tx, rc, "lpush");
	if (!rc && len)
		*len = after;
	return rc;
}

int
kv_lpop(struct kv *kv, const void *k, size_t kl, int left, uint64_t count,
	kv_fn fn, void *arg)
{
	struct kvent *raw;
	struct kvcoll *c;
	int rc = list_of(kv, k, kl, &raw, &c);
	if (rc || count == 0)
		return rc;
	nvh_tx *tx;
	if ((rc = begin(kv, &tx, "lpop")))
		return rc;
	rc = count_add(tx, c);
	for (uint64_t i = 0; i < count && c->count && !rc; i++) {
		struct lpos at;
		rc = locate(kv, c, left ? 0 : c->count - 1, &at);
		if (!rc) /* (the element is freed at the commit: read now) */
			rc = elem_fn(kv, at.ch->item[at.s], fn, arg);
		if (!rc)
			rc = remove_at(tx, kv, c, &at, 0);
	}
	if (!rc)
		rc = emptied(kv, c, k, kl);
	return kv_coll_end_tx(kv, tx, rc, "lpop");
}

int
kv_llen(struct kv *kv, const void *k, size_t kl, uint64_t *n)
{
	struct kvent *raw;
	struct kvcoll *c;
	int rc = list_of(kv, k, kl, &raw, &c);
	*n = rc ? 0 : c->count;
	return rc == -ENOENT ? 0 : rc;
}

/* redis's index i of a list of n: 0 and the place in *out, else -1 */
static int
norm_index(int64_t i, uint64_t n, uint64_t *out)
{
	if (i < 0)
		i += (int64_t)n;
	if (i < 0 || (uint64_t)i >= n)
		return -1;
	*out = (uint64_t)i;
	return 0;
}

int
kv_lindex(struct kv *kv, const void *k, size_t kl, int64_t i,
	  const void **v, size_t *vl)
{
	struct kvent *raw;
	struct kvcoll *c;
	int rc = list_of(kv, k, kl, &raw, &c);
	uint64_t at;
	if (rc)
		return rc;
	if (norm_index(i, c->count, &at))
		return -ENOENT;
	struct lpos p;
	if ((rc = locate(kv, c, at, &p)))
		return rc;
	return elem(kv, p.ch->item[p.s], v, vl);
}

/* Visit n elements from place p onwards (or backwards: back). */
static int
walk(struct kv *kv, struct lpos p, uint64_t n, int back, kv_fn fn,
     void *arg)
{
	int rc = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (p.s < p.ch->lo || p.s >= p.ch->hi) {
			kvlchunk_ptr np = back ? prev_of(kv, p.ch) : p.ch->next;
			struct kvlchunk *nd = chunk(kv, np, &rc);
			if (!nd)
				return rc;
			p.cp = np;
			p.ch = nd;
			p.s = back ? nd->hi - 1 : nd->lo;
		}
		if ((rc = elem_fn(kv, p.ch->item[p.s], fn, arg)))
			return rc;
		if (back)
			p.s--;
		else
			p.s++;
	}
	return 0;
}

int
kv_lrange(struct kv *kv, const void *k, size_t kl, int64_t start,
	  int64_t stop, kv_fn fn, void *arg)
{
	struct kvent *raw;
	struct kvcoll *c;
	int rc = list_of(kv, k, kl, &raw, &c);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	int64_t n = (int64_t)c->count;
	if (start < 0)
		start += n;
	if (stop < 0)
		stop += n;
	if (start < 0)
		start = 0;
	if (start > stop || start >= n)
		return 0;
	if (stop >= n)
		stop = n - 1;
	struct lpos p;
	if ((rc = locate(kv, c, (uint64_t)start, &p)))
		return rc;
	return walk(kv, p, (uint64_t)(stop - start + 1), 0, fn, arg);
}

int
kv_lwalk(struct kv *kv, const void *k, size_t kl, int back, kv_fn fn,
	 void *arg)
{
	struct kvent *raw;
	struct kvcoll *c;
	int rc = list_of(kv, k, kl, &raw, &c);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	struct lpos p;
	if ((rc = locate(kv, c, back ? c->count - 1 : 0, &p)))
		return rc;
	return walk(kv, p, c->count, back, fn, arg);
}

int
kv_lset(struct kv *kv, const void *k, size_t kl, int64_t i, const void *v,
	size_t vl)
{
	int rc = kv_check_sizes("lset", kl, vl);
	struct kvent *raw;
	struct kvcoll *c;
	if (!rc)
		rc = list_of(kv, k, kl, &raw, &c);
	if (rc)
		return rc;
	uint64_t at;
	if (norm_index(i, c->count, &at))
		return -ERANGE;
	struct lpos p;
	nvh_tx *tx;
	if ((rc = locate(kv, c, at, &p)) || (rc = begin(kv, &tx, "lset")))
		return rc;
	kvent_ptr e = elem_new(tx, kv, v, vl);
	rc = NVH_IS_NULL(e) ? -ENOSPC : NVH_TX_SET(tx, &p.ch->item[p.s], e);
	return kv_coll_end_tx(kv, tx, rc, "lset");
}

/* *eq := element e equals v.  A walk's test: the header is checked,
 * the bytes compared, and the value's checksum computed only on a match
 * (a damaged value never matches: -EIO, reported). */
static int
elem_is(struct kv *kv, kvent_ptr e, const void *v, size_t vl, int *eq)
{
	struct kvent *p = NVH_IS_NULL(e) ? NULL : kv_ent(kv, e);
	*eq = 0;
	if (!p || !kv_ent_sane(p) || p->klen != 0)
		return elem(kv, e, &v, &vl); /* (reports it) */
	if (p->vlen != vl || memcmp(p->data, v, vl))
		return 0;
	if (XXH3_64bits(p->data, p->vlen) != p->vsum)
		return kv_damaged(kv, e, "value checksum");
	*eq = 1;
	return 0;
}

int
kv_lrem(struct kv *kv, const void *k, size_t kl, int64_t count,
	const void *v, size_t vl, uint64_t *removed)
{
	struct kvent *raw;
	struct kvcoll *c;
	*removed = 0;
	int rc = list_of(kv, k, kl, &raw, &c);
	if (rc)
		return rc;
	int back = count < 0;
	uint64_t want = count == 0 ? UINT64_MAX
		: back ? (uint64_t)-(count + 1) + 1 : (uint64_t)count;
	/* the transaction begins at the first match: none, no write */
	struct lpos p;
	if ((rc = locate(kv, c, back ? c->count - 1 : 0, &p)))
		return rc;
	nvh_tx *tx = NULL;
	uint64_t n = c->count, done = 0;
	for (uint64_t i = 0; i < n && done < want && !rc; i++) {
		if (p.s < p.ch->lo || p.s >= p.ch->hi) {
			kvlchunk_ptr np = back ? prev_of(kv, p.ch) : p.ch->next;
			struct kvlchunk *nd = chunk(kv, np, &rc);
			if (!nd)
				break;
			p.cp = np;
			p.ch = nd;
			p.s = back ? nd->hi - 1 : nd->lo;
		}
		int eq;
		if ((rc = elem_is(kv, p.ch->item[p.s], v, vl, &eq)))
			break;
		if (eq) {
			if (!tx && (rc = begin(kv, &tx, "lrem")))
				return rc;
			if (!done)
				rc = count_add(tx, c);
			/* the walk's next slot stays put: the slots behind
			 * it move */
			struct kvlchunk *ch = p.ch;
			kvlchunk_ptr nxt = back ? prev_of(kv, ch) : ch->next;
			if (!rc)
				rc = remove_at(tx, kv, c, &p, !back);
			done++;
			if (!rc && ch->lo == ch->hi) { /* unlinked */
				struct kvlchunk *nd = NVH_IS_NULL(nxt) ? NULL
					: chunk(kv, nxt, &rc);
				if (!nd)
					break;
				p.cp = nxt;
				p.ch = nd;
				p.s = back ? nd->hi - 1 : nd->lo;
				continue;
			}
		}
		if (back)
			p.s--;
		else
			p.s++;
	}
	if (!tx)
		return rc;
	if (!rc)
		rc = emptied(kv, c, k, kl);
	rc = kv_coll_end_tx(kv, tx, rc, "lrem");
	if (!rc)
		*removed = done;
	return rc;
}

/* Drop n elements from one end of c, whole chunks at a time. */
static int
drop(nvh_tx *tx, struct kv *kv, struct kvcoll *c, uint64_t n, int left)
{
	int rc = 0;
	while (n && !rc) {
		kvlchunk_ptr ep = left ? c->head : c->tail;
		struct kvlchunk *ch = chunk(kv, ep, &rc);
		if (!ch)
			return rc;
		uint32_t m = ch->hi - ch->lo;
		if (m <= n) { /* its elements go with it */
			rc = unlink_chunk(tx, kv, c, ep, ch);
			c->count -= m;
			n -= m;
			continue;
		}
		rc = bounds_add(tx, ch);
		for (uint64_t i = 0; i < n && !rc; i++) {
			uint32_t s = left ? ch->lo + (uint32_t)i
					  : ch->hi - 1 - (uint32_t)i;
			rc = NVH_TX_SET(tx, &ch->item[s], NVH_NULL(kvent));
		}
		if (left)
			ch->lo += (uint32_t)n;
		else
			ch->hi -= (uint32_t)n;
		c->count -= n;
		n = 0;
	}
	return rc;
}

int
kv_ltrim(struct kv *kv, const void *k, size_t kl, int64_t start,
	 int64_t stop)
{
	struct kvent *raw;
	struct kvcoll *c;
	int rc = list_of(kv, k, kl, &raw, &c);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	int64_t n = (int64_t)c->count;
	if (start < 0)
		start += n;
	if (stop < 0)
		stop += n;
	if (start < 0)
		start = 0;
	uint64_t ltrim, rtrim;
	if (start > stop || start >= n) {
		ltrim = (uint64_t)n;
		rtrim = 0;
	} else {
		if (stop >= n)
			stop = n - 1;
		ltrim = (uint64_t)start;
		rtrim = (uint64_t)(n - stop - 1);
	}
	if (ltrim == 0 && rtrim == 0)
		return 0;
	if (ltrim == (uint64_t)n) /* all: one count to zero */
		return kv_del(kv, k, kl);
	nvh_tx *tx;
	if ((rc = begin(kv, &tx, "ltrim")))
		return rc;
	rc = count_add(tx, c);
	if (!rc)
		rc = drop(tx, kv, c, ltrim, 1);
	if (!rc)
		rc = drop(tx, kv, c, rtrim, 0);
	return kv_coll_end_tx(kv, tx, rc, "ltrim");
}

/* The first element equal to v: 1 with its index in *i, or 0; < 0 on
 * damage. */
static int
find_first(struct kv *kv, struct kvcoll *c, const void *v, size_t vl,
	   uint64_t *i)
{
	int rc = 0;
	kvlchunk_ptr p = c->head;
	*i = 0;
	for (uint64_t steps = 0; !NVH_IS_NULL(p) && steps <= c->count;
	     steps++) {
		struct kvlchunk *ch = chunk(kv, p, &rc);
		if (!ch)
			return rc;
		for (uint32_t s = ch->lo; s < ch->hi; s++, ++*i) {
			int eq;
			if ((rc = elem_is(kv, ch->item[s], v, vl, &eq)))
				return rc;
			if (eq)
				return 1;
		}
		p = ch->next;
	}
	return 0;
}

int
kv_linsert(struct kv *kv, const void *k, size_t kl, int after,
	   const void *pivot, size_t pl, const void *v, size_t vl,
	   int64_t *len)
{
	int rc = kv_check_sizes("linsert", kl, vl);
	struct kvent *raw;
	struct kvcoll *c;
	*len = 0;
	if (!rc)
		rc = list_of(kv, k, kl, &raw, &c);
	if (rc)
		return rc;
	uint64_t at;
	if ((rc = find_first(kv, c, pivot, pl, &at)) <= 0) {
		*len = -!rc;
		return rc;
	}
	struct lpos p;
	nvh_tx *tx;
	if ((rc = locate(kv, c, at, &p)) || (rc = begin(kv, &tx, "linsert")))
		return rc;
	if (after)
		p.s++;
	kvent_ptr e = elem_new(tx, kv, v, vl);
	rc = count_add(tx, c);
	if (!rc)
		rc = NVH_IS_NULL(e) ? -ENOSPC : insert_at(tx, kv, c, &p, e);
	int64_t n = (int64_t)c->count;
	rc = kv_coll_end_tx(kv, tx, rc, "linsert");
	if (!rc)
		*len = n;
	return rc;
}

int
kv_lmove(struct kv *kv, const void *src, size_t sl, const void *dst,
	 size_t dl, int from_left, int to_left, kv_fn fn, void *arg)
{
	struct kvent *raw, *draw;
	struct kvcoll *c, *d;
	int rc = list_of(kv, src, sl, &raw, &c);
	if (rc)
		return rc;
	rc = kv_check_sizes("lmove", dl, 0);
	if (!rc)
		rc = list_of(kv, dst, dl, &draw, &d);
	if (rc && rc != -ENOENT)
		return rc;
	struct lpos p;
	nvh_tx *tx;
	if ((rc = locate(kv, c, from_left ? 0 : c->count - 1, &p)) ||
	    (rc = begin(kv, &tx, "lmove")))
		return rc;
	kvent_ptr e = p.ch->item[p.s];
	rc = elem_fn(kv, e, fn, arg);
	if (!rc && !d)
		rc = kv_coll_new(tx, kv, dst, dl, draw, KV_T_LIST, &d);
	/* pushed first: the entry is never without a slot holding it (the
	 * same list: its other copy is the one popped) */
	if (!rc)
		rc = count_add(tx, d);
	if (!rc)
		rc = push(tx, kv, d, e, to_left);
	if (!rc)
		rc = count_add(tx, c);
	if (!rc)
		rc = locate(kv, c, from_left ? 0 : c->count - 1, &p);
	if (!rc)
		rc = remove_at(tx, kv, c, &p, 0);
	if (!rc)
		rc = emptied(kv, c, src, sl);
	return kv_coll_end_tx(kv, tx, rc, "lmove");
}

int
kv_list_check(struct kv *kv, kvcoll_ptr cp, struct kvcoll *c)
{
	uint64_t n = 0;
	int rc = 0;
	kvlchunk_ptr p = c->head, last = NVH_NULL(kvlchunk);
	for (uint64_t steps = 0; !NVH_IS_NULL(p); steps++) {
		struct kvlchunk *ch = steps <= c->count ? chunk(kv, p, &rc)
							: NULL;
		if (!ch)
			return rc ? rc : kv_coll_damaged(kv, cp, c);
		if (!same(prev_of(kv, ch), last))
			return kv_index_damaged(kv, "list chunk", p.oid.off,
						"a prev link to another chunk");
		for (uint32_t s = ch->lo; s < ch->hi; s++)
			(void)kv_visit(kv, ch->item[s], NULL, NULL);
		n += ch->hi - ch->lo;
		last = p;
		p = ch->next;
	}
	if (n != c->count || !same(last, c->tail) || n == 0)
		return kv_coll_damaged(kv, cp, c);
	return 0;
}
