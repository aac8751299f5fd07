/*
 * hash.c -- the persistent hash map: linear hashing.
 *
 * Buckets are chains of entries.  The table grows one bucket at a time:
 * when there are more than LOAD entries per bucket, the insert that
 * notices splits bucket `split` into itself and `split + (N0 << level)`,
 * in the same transaction, moving only that bucket's chain.  No operation
 * ever rehashes more than one chain, so the cost of growth is spread over
 * the inserts and a crash can interrupt nothing long.  Buckets live in
 * 1024-bucket segments (8 KiB objects) allocated as the table reaches
 * them, found through one directory of 16384 segments (16M buckets; past
 * that, chains grow).
 *
 * A bucket index b < split has been split this round: it is addressed
 * with one more hash bit.  Keys present for a whole scan are visited at
 * least once by a scan in bucket order, since a split only moves entries
 * to a higher bucket.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <xxhash.h>

#include "kv_int.h"

NVH_TYPE_DEFINE(kvseg, 0, NVH_PTR_N(kvseg, b, KV_SEG, kvent));
NVH_TYPE_DEFINE(kvdir, 0, NVH_PTR_N(kvdir, seg, KV_DIR, kvseg));
NVH_TYPE_DEFINE(kvhash, 0, NVH_PTR(kvhash, dir, kvdir));

#define MAX_BUCKETS ((uint64_t)KV_SEG * KV_DIR)
#define LOAD 2                                /* entries per bucket */

static int
hash_damaged(struct kv *kv, const char *what, uint64_t v)
{
	return kv_index_damaged(kv, "hash map", kv->root->hash.oid.off,
				"%s %#" PRIx64, what, v);
}

/* The map's header, or NULL (reported: -EIO) if it is damaged: every
 * field that sizes or addresses a bucket is checked before use, so a
 * bucket index never leaves the directory and a shift never reaches 64
 * bits; chains are bounded by the count. */
static struct kvhash *
hmap(struct kv *kv)
{
	struct kvhash *h = kvhash_d(kv->pool, kv->root->hash);
	if (!h) {
		hash_damaged(kv, "not a hash map: root field", 0);
		return NULL;
	}
	if (!h->n0 || h->n0 > KV_SEG || (h->n0 & (h->n0 - 1)))
		hash_damaged(kv, "n0", h->n0);
	else if (h->level >= 64 || (h->n0 << h->level) > MAX_BUCKETS ||
		 (h->n0 << h->level) >> h->level != h->n0)
		hash_damaged(kv, "level", h->level);
	else if (h->split >= h->n0 << h->level ||
		 (h->n0 << h->level) + h->split > MAX_BUCKETS)
		hash_damaged(kv, "split", h->split);
	else if (h->count > kv->max_ents)
		hash_damaged(kv, "count", h->count);
	else
		return h;
	return NULL;
}

static uint64_t
nbuckets(const struct kvhash *h)
{
	return (h->n0 << h->level) + h->split;
}

static uint64_t
bucket_of(const struct kvhash *h, uint64_t hash)
{
	uint64_t b = hash & ((h->n0 << h->level) - 1);
	if (b < h->split)
		b = hash & ((h->n0 << (h->level + 1)) - 1);
	return b;
}

/* The head field of bucket b (< nbuckets: its segment exists), or NULL
 * (reported: -EIO) if the directory or the segment is damaged. */
static kvent_ptr *
head(struct kv *kv, struct kvhash *h, uint64_t b)
{
	struct kvdir *d = kvdir_d(kv->pool, h->dir);
	if (!d) {
		kv_index_damaged(kv, "hash map", kv->root->hash.oid.off,
				 "not a directory: %#" PRIx64, h->dir.oid.off);
		return NULL;
	}
	kvseg_ptr sp = d->seg[b >> KV_SEG_BITS];
	struct kvseg *s = kvseg_d(kv->pool, sp);
	if (!s) {
		kv_index_damaged(kv, "hash directory", h->dir.oid.off,
				 "segment %" PRIu64 " is not a segment: %#"
				 PRIx64, b >> KV_SEG_BITS, sp.oid.off);
		return NULL;
	}
	return &s->b[b & (KV_SEG - 1)];
}

/* A chain with more links than the map has entries cycles. */
static int
chain_cycles(struct kv *kv, struct kvhash *h, uint64_t b)
{
	return kv_index_damaged(kv, "hash map", kv->root->hash.oid.off,
				"the chain of bucket %" PRIu64 " has more "
				"than %" PRIu64 " entries: it cycles", b,
				h->count);
}

uint64_t
kv_hash_of(struct kv *kv, const void *k, size_t kl)
{
	struct kvhash *h = hmap(kv);
	/* damaged: any hash does; the lookup that follows fails */
	return XXH3_64bits_withSeed(k, kl, h ? h->seed : 0);
}

int
kv_hash_create(nvh_tx *tx, struct kv *kv)
{
	kvhash_ptr hp = NVH_TX_ALLOC(tx, kvhash);
	kvdir_ptr dp = NVH_TX_ALLOC(tx, kvdir);
	kvseg_ptr sp = NVH_TX_ALLOC(tx, kvseg);
	struct kvhash *h = kvhash_d(kv->pool, hp);
	if (!h || NVH_IS_NULL(dp) || NVH_IS_NULL(sp))
		return -ENOSPC;
	/* a per-map seed: keys chosen to collide need to know it */
	if (kv->hash_seed)
		h->seed = kv->hash_seed;
	else if (getrandom(&h->seed, sizeof(h->seed), 0) != sizeof(h->seed))
		h->seed = (uint64_t)(uintptr_t)h ^ 0x9e3779b97f4a7c15ull;
	h->n0 = kv->hash_buckets ? kv->hash_buckets : KV_SEG;
	NVH_TX_SET(tx, &kvdir_d(kv->pool, dp)->seg[0], sp);
	NVH_TX_SET(tx, &h->dir, dp);
	return NVH_TX_SET(tx, &kv->root->hash, hp);
}

int
kv_hash_find(struct kv *kv, uint64_t hash, const void *k, size_t kl,
	     kvent_ptr *out)
{
	struct kvhash *h = hmap(kv);
	*out = NVH_NULL(kvent);
	if (!h)
		return -EIO;
	uint64_t b = bucket_of(h, hash), n = 0;
	kvent_ptr *f = head(kv, h, b);
	if (!f)
		return -EIO;
	for (kvent_ptr e = *f; !NVH_IS_NULL(e); n++) {
		struct kvent *p = kv_ent(kv, e);
		/* not an entry: the rest of the chain cannot be reached,
		 * and the key may be there */
		if (!p)
			return kv_damaged(kv, e, "not an entry");
		if (n > h->count)
			return chain_cycles(kv, h, b);
		/* a damaged entry with the key's hash may be the key's: the
		 * caller reports it rather than saying "no such key" */
		if (kv_ent_is(p, hash, k, kl) ||
		    (p->hash == hash && !kv_ent_sane(p))) {
			*out = e;
			return 0;
		}
		e = p->next;
	}
	return 0;
}

/* Store v into *f unless it is already there (a store is a snapshot). */
static int
set_if(nvh_tx *tx, kvent_ptr *f, kvent_ptr v)
{
	return f->oid.off == v.oid.off ? 0 : NVH_TX_SET(tx, f, v);
}

/* Relink the chain `e[0..n)` (in order) from head field `f`. */
static int
relink(nvh_tx *tx, struct kv *kv, kvent_ptr *f, const kvent_ptr *e,
       size_t n)
{
	int rc = set_if(tx, f, n ? e[0] : NVH_NULL(kvent));
	for (size_t i = 0; i < n && !rc; i++)
		rc = set_if(tx, &kv_ent(kv, e[i])->next,
			    i + 1 < n ? e[i + 1] : NVH_NULL(kvent));
	return rc;
}

/* Split bucket `split` (header already snapshotted by the caller). */
static int
split_one(nvh_tx *tx, struct kv *kv, struct kvhash *h)
{
	uint64_t s = h->split, t = s + (h->n0 << h->level);
	struct kvdir *d = kvdir_d(kv->pool, h->dir);
	if (!d) /* head() saw it before: not reached */
		return -EIO;
	if (NVH_IS_NULL(d->seg[t >> KV_SEG_BITS])) {
		kvseg_ptr sp = NVH_TX_ALLOC(tx, kvseg);
		int rc = NVH_IS_NULL(sp) ? -ENOSPC
			 : NVH_TX_SET(tx, &d->seg[t >> KV_SEG_BITS], sp);
		if (rc)
			return rc;
	}
	kvent_ptr *fs = head(kv, h, s), *ft = fs ? head(kv, h, t) : NULL;
	if (!ft)
		return -EIO;
	size_t n = 0, cap = 16, na = 0, nb = 0;
	kvent_ptr *stay = malloc(cap * sizeof(*stay));
	kvent_ptr *move = malloc(cap * sizeof(*move));
	int rc = stay && move ? 0 : -ENOMEM;
	uint64_t mask = (h->n0 << (h->level + 1)) - 1;
	for (kvent_ptr e = *fs; !NVH_IS_NULL(e) && !rc; n++) {
		if (na == cap || nb == cap) {
			cap *= 2;
			kvent_ptr *a = realloc(stay, cap * sizeof(*a));
			if (a)
				stay = a;
			kvent_ptr *b = realloc(move, cap * sizeof(*b));
			if (b)
				move = b;
			if (!a || !b) {
				rc = -ENOMEM;
				break;
			}
		}
		struct kvent *p = kv_ent(kv, e);
		if (!p) {
			rc = kv_damaged(kv, e, "not an entry");
			break;
		}
		if (n > h->count) {
			rc = chain_cycles(kv, h, s);
			break;
		}
		if ((p->hash & mask) == t)
			move[nb++] = e;
		else
			stay[na++] = e;
		e = p->next;
	}
	/* the moved chain first: its entries keep a reference (from the
	 * old chain) until they are linked from the new bucket */
	if (!rc)
		rc = relink(tx, kv, ft, move, nb);
	if (!rc)
		rc = relink(tx, kv, fs, stay, na);
	free(stay);
	free(move);
	if (rc)
		return rc;
	if (++h->split == h->n0 << h->level) {
		h->level++;
		h->split = 0;
	}
	return 0;
}

int
kv_hash_put(nvh_tx *tx, struct kv *kv, kvent_ptr e, int *replaced)
{
	struct kvhash *h = hmap(kv);
	struct kvent *ne = kv_ent(kv, e);
	*replaced = 0;
	if (!h)
		return -EIO;
	uint64_t b = bucket_of(h, ne->hash), n = 0;
	kvent_ptr *f = head(kv, h, b);
	if (!f)
		return -EIO;
	for (kvent_ptr c = *f; !NVH_IS_NULL(c); n++) {
		struct kvent *p = kv_ent(kv, c);
		if (!p)
			return kv_damaged(kv, c, "not an entry");
		if (n > h->count)
			return chain_cycles(kv, h, b);
		if (kv_ent_is(p, ne->hash, ne->data, ne->klen)) {
			/* the new entry takes the old one's place; the old
			 * one's count drops to zero: freed at commit */
			*replaced = 1;
			int rc = NVH_TX_SET(tx, &ne->next, p->next);
			return rc ? rc : NVH_TX_SET(tx, f, e);
		}
		f = &p->next;
		c = p->next;
	}
	f = head(kv, h, bucket_of(h, ne->hash));
	/* The bucket's head and the table's count, level and split: both
	 * snapshots in one call, one persist barrier (the stores below
	 * find them covered) */
	struct nvh_tx_range v[] = {{f, sizeof(*f)}, {h, 3 * sizeof(uint64_t)}};
	int rc = nvh_tx_addv(tx, v, 2);
	if (!rc)
		rc = NVH_TX_SET(tx, &ne->next, *f);
	if (!rc)
		rc = NVH_TX_SET(tx, f, e);
	if (rc)
		return rc;
	h->count++;
	if (h->count > LOAD * nbuckets(h) && nbuckets(h) < MAX_BUCKETS)
		return split_one(tx, kv, h);
	return 0;
}

/* ---- batches: the snapshots of many writes in one call ---- */

void
kv_prep_add(struct kv_prep *p, void *addr, size_t len)
{
	if (p->n == p->cap) {
		size_t c = p->cap ? 2 * p->cap : 64;
		struct nvh_tx_range *v = realloc(p->v, c * sizeof(*v));
		if (!v) {
			p->oom = 1;
			return;
		}
		p->v = v;
		p->cap = c;
	}
	p->v[p->n++] = (struct nvh_tx_range){addr, len};
}

static void
prep_bucket(struct kv_prep *p, struct kv *kv, struct kvhash *h, uint64_t b)
{
	struct kvdir *d = kvdir_d(kv->pool, h->dir);
	if (!d || b >= MAX_BUCKETS)
		return;
	struct kvseg *sg = kvseg_d(kv->pool, d->seg[b >> KV_SEG_BITS]);
	if (!sg) {
		kv_prep_add(p, &d->seg[b >> KV_SEG_BITS], sizeof(d->seg[0]));
		return;
	}
	kvent_ptr *f = &sg->b[b & (KV_SEG - 1)];
	kv_prep_add(p, f, sizeof(*f));
	uint64_t n = 0;
	for (kvent_ptr e = *f; !NVH_IS_NULL(e) && n <= h->count; n++) {
		struct kvent *q = kv_ent(kv, e);
		if (!q)
			break;
		kv_prep_add(p, &q->next, sizeof(q->next));
		e = q->next;
	}
}

int
kv_hash_prepare(struct kv *kv, struct kv_prep *p, const uint64_t *hash,
		size_t n)
{
	struct kvhash *h = hmap(kv);
	if (!h)
		return -EIO;
	kv_prep_add(p, h, 3 * sizeof(uint64_t)); /* count, level, split */
	/* the buckets the keys are in, and the ones a split before their
	 * turn would move them to */
	for (size_t i = 0; i < n; i++) {
		uint64_t b = bucket_of(h, hash[i]);
		prep_bucket(p, kv, h, b);
		uint64_t b2 = hash[i] & ((h->n0 << (h->level + 1)) - 1);
		if (b2 != b)
			prep_bucket(p, kv, h, b2);
	}
	/* the splits n inserts may make: buckets split, split + 1, ... and
	 * their new halves (as split_one walks them) */
	uint64_t s = h->split, lv = h->level, nb = nbuckets(h);
	for (size_t j = 0; j < n && h->count + n > LOAD * nb &&
			   (h->n0 << lv) + s < MAX_BUCKETS; j++) {
		uint64_t t = s + (h->n0 << lv);
		prep_bucket(p, kv, h, s);
		prep_bucket(p, kv, h, t);
		if (++s == h->n0 << lv) {
			lv++;
			s = 0;
		}
	}
	return p->oom ? -ENOMEM : 0;
}

int
kv_hash_link(struct kv *kv, uint64_t hash, const void *k, size_t kl,
	     kvent_ptr **link)
{
	struct kvhash *h = hmap(kv);
	*link = NULL;
	if (!h)
		return -EIO;
	uint64_t b = bucket_of(h, hash), n = 0;
	kvent_ptr *f = head(kv, h, b);
	if (!f)
		return -EIO;
	for (kvent_ptr c = *f; !NVH_IS_NULL(c); n++) {
		struct kvent *p = kv_ent(kv, c);
		if (!p)
			return kv_damaged(kv, c, "not an entry");
		if (n > h->count)
			return chain_cycles(kv, h, b);
		if (kv_ent_is(p, hash, k, kl)) {
			*link = f;
			return 0;
		}
		f = &p->next;
		c = p->next;
	}
	return -ENOENT;
}

int
kv_hash_unlink(nvh_tx *tx, struct kv *kv, kvent_ptr *f)
{
	struct kvhash *h = hmap(kv);
	if (!h) /* kv_hash_link checked both: not reached */
		return -EIO;
	/* the link and the count: one snapshot call, one barrier */
	struct nvh_tx_range v[] = {{f, sizeof(*f)}, {&h->count, sizeof(h->count)}};
	int rc = nvh_tx_addv(tx, v, 2);
	if (!rc)
		rc = NVH_TX_SET(tx, f, kv_ent(kv, *f)->next);
	if (!rc)
		h->count--;
	return rc;
}

uint64_t
kv_hash_count(struct kv *kv)
{
	struct kvhash *h = hmap(kv);
	return h ? h->count : 0;
}

/* Visit bucket b; stop early when fn says so.  A damaged chain is
 * counted (kv_damaged_count) and the scan goes on with the next bucket. */
static int
visit(struct kv *kv, struct kvhash *h, uint64_t b, kv_fn fn, void *arg,
      size_t *n)
{
	kvent_ptr *f = head(kv, h, b);
	uint64_t len = 0;
	for (kvent_ptr e = f ? *f : NVH_NULL(kvent); !NVH_IS_NULL(e); len++) {
		struct kvent *p = kv_ent(kv, e);
		if (len > h->count) {
			chain_cycles(kv, h, b);
			return 0;
		}
		(*n)++;
		/* damaged or expired entries are not shown */
		int rc = kv_visit(kv, e, fn, arg);
		if (rc || !p)
			return rc;
		e = p->next;
	}
	return 0;
}

/* Chains longer than this are walked to a uniform index of their own
 * (linear hashing keeps them near LOAD). */
#define PICK_CHAIN 8

int
kv_hash_random(struct kv *kv, uint64_t seed, kv_fn fn, void *arg)
{
	struct kvhash *h = hmap(kv);
	if (!h)
		return -EIO;
	if (!h->count)
		return 0;
	uint64_t nb = nbuckets(h);
	/* a bucket, then one of PICK_CHAIN slots, again if the slot is past
	 * the chain: each entry of a chain up to PICK_CHAIN long is then
	 * equally likely */
	for (unsigned t = 0; t < 64 * PICK_CHAIN * LOAD; t++) {
		seed += 0x9e3779b97f4a7c15ull;
		uint64_t r = XXH3_64bits(&seed, sizeof(seed));
		kvent_ptr *f = head(kv, h, (r >> 8) % nb);
		if (!f)
			return -EIO;
		uint64_t len = 0;
		for (kvent_ptr e = *f; !NVH_IS_NULL(e); len++) {
			struct kvent *p = kv_ent(kv, e);
			if (!p || len > h->count)
				return kv_index_damaged(kv, "hash map",
							kv->root->hash.oid.off,
							"a broken chain");
			e = p->next;
		}
		if (!len)
			continue;
		uint64_t j = len > PICK_CHAIN ? (r >> 40) % len
					      : (r & 0xff) % PICK_CHAIN;
		if (j >= len)
			continue;
		kvent_ptr e = *f;
		while (j--)
			e = kv_ent(kv, e)->next;
		return kv_visit(kv, e, fn, arg);
	}
	return 0;
}

int
kv_hash_scan(struct kv *kv, kv_fn fn, void *arg)
{
	struct kvhash *h = hmap(kv);
	if (!h)
		return -EIO;
	size_t n = 0;
	for (uint64_t b = 0; b < nbuckets(h); b++) {
		int rc = visit(kv, h, b, fn, arg, &n);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * SCAN's cursor is a position in bit-reversed hash order, as in Redis's
 * dictScan, adapted to linear hashing.  Let w(b) be the number of low
 * hash bits that address bucket b: B = log2(n0) + level, or B + 1 for a
 * bucket already split this round.  The keys of bucket b are exactly those
 * whose hash ends in the w bits of b, and reversed, those are the hashes
 * in one interval of 2^(64 - w) values starting at rev(b) << (64 - w).
 * So the buckets' intervals partition the 64-bit space at every moment,
 * and a split cuts one interval in two halves (the old bucket keeps the
 * lower one) without moving any other.
 *
 * A call visits the bucket whose interval holds the cursor c, returns its
 * entries with rev(hash) >= c, and moves c to the end of the interval;
 * then the next bucket, until it has `count` entries (or passed 10 *
 * count empty buckets: the map never shrinks, so after mass deletes most
 * buckets may be empty).  c wrapping past 2^64 to 0 is the end.
 *
 * Termination: each bucket visited moves c strictly up, by at least
 * 2^(64 - 24) (16M buckets at most: w <= 24), and c never goes down, so a
 * scan ends after at most 2^24 buckets whatever is inserted meanwhile.
 * Since widths only grow (a map never shrinks; FLUSHALL makes a new one),
 * each interval visited is a union of the intervals of the buckets at the
 * scan's end, all disjoint: a scan visits at most as many buckets as the
 * map has at its end, with or without concurrent inserts.
 *
 * Coverage: a key present for the whole scan has a fixed hash h; let
 * r = rev(h).  c starts at 0 <= r and ends past it, and moves up one
 * interval at a time, so exactly one visit has c <= r < end.  That visit's
 * interval holds r, so its bucket, addressed with the map's width at that
 * moment, is the key's bucket, which holds the key then; and r >= c, so it
 * is returned.  Keys with r < c are left out because an earlier visit of
 * this scan covered them, which is also what makes an arbitrary cursor
 * safe: it is just a start in the middle.
 */
static uint64_t
rev64(uint64_t x)
{
	x = (x >> 1 & 0x5555555555555555ull) | (x & 0x5555555555555555ull) << 1;
	x = (x >> 2 & 0x3333333333333333ull) | (x & 0x3333333333333333ull) << 2;
	x = (x >> 4 & 0x0f0f0f0f0f0f0f0full) | (x & 0x0f0f0f0f0f0f0f0full) << 4;
	return __builtin_bswap64(x);
}

/* The hash bits that address the bucket of `hash` (as bucket_of does). */
static unsigned
width_of(const struct kvhash *h, uint64_t hash)
{
	unsigned w = (unsigned)__builtin_ctzll(h->n0) + (unsigned)h->level;
	return w + ((hash & ((h->n0 << h->level) - 1)) < h->split);
}

/* visit()'s callback for a step: only keys at or past the cursor.  The
 * hash is recomputed from the key, so this needs nothing but what visit()
 * shows (it decides which entries can be shown). */
struct scan_from {
	struct kv *kv;
	uint64_t from;
	kv_fn fn;
	void *arg;
};

static int
scan_from_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct scan_from *f = arg;
	if (rev64(kv_hash_of(f->kv, k, kl)) < f->from)
		return 0;
	return f->fn(f->arg, k, kl, v, vl);
}

uint64_t
kv_hash_scan_step(struct kv *kv, uint64_t cursor, size_t count, kv_fn fn,
		  void *arg)
{
	struct kvhash *h = hmap(kv);
	if (!h) /* reported; the scan ends */
		return 0;
	struct scan_from f = {.kv = kv, .fn = fn, .arg = arg};
	size_t n = 0, empty = 0, max_empty = count ? 10 * count : 10;
	uint64_t c = cursor;
	do {
		uint64_t hash = rev64(c);
		unsigned w = width_of(h, hash);
		size_t before = n;
		f.from = c;
		int rc = visit(kv, h, bucket_of(h, hash), scan_from_cb, &f, &n);
		c = (c | (~0ull >> w)) + 1; /* the interval's end; w < 64 */
		if (rc || (n == before && ++empty >= max_empty))
			break;
	} while (c && n < count);
	return c;
}

void
kv_hash_stats(struct kv *kv, struct kv_stats *st)
{
	struct kvhash *h = hmap(kv);
	st->buckets = h ? nbuckets(h) : 0;
}
