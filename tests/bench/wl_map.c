/*
 * wl_map.c -- hash map benchmarks: the key-value store's hash map
 * (examples/kvstore, through its public kv.h: kv_put, kv_get, kv_del)
 * against the same map written here on libpmemobj's transactional
 * function API (no setjmp macros).  Keys are "key:%016llu" of a counter
 * (20 bytes), values 64 bytes; one operation is one transaction on both
 * sides (a get is none).
 *
 *   map-insert  put a new key (a growing counter)
 *   map-get     get a random one of 100,000 pre-loaded keys, touch the
 *               value's first byte
 *   map-remove  delete a pre-loaded key, each key once, in a scrambled
 *               order
 *
 * The libpmemobj map is examples/kvstore/hash.c's algorithm with its
 * sizes: linear hashing with n0 = 1024 initial buckets; one entry object
 * per key (chain pointer, hash, key length, value length, key bytes, value
 * bytes); buckets in 1024-bucket segment objects found through a
 * directory object of 16384 segment oids; a header (here the root object)
 * with count, level, split, seed and n0; XXH3-64 with a seed (the same
 * fixed seed on both sides, so both maps have the same chains).  An insert
 * that makes count > 2 * buckets splits bucket `split` in the same
 * transaction.  An update allocates a new entry and puts it in the old
 * one's place, freeing the old one (nvheap frees it by reference count,
 * libpmemobj by pmemobj_tx_free); a remove unlinks and frees.  The only
 * difference in size is libpmemobj's 16-byte PMEMoid where nvheap has an
 * 8-byte oid (chain links, bucket heads, directory slots).
 *
 * map-remove must never re-insert inside a timed operation, and the
 * harness times whole runs of n operations with no hook between them, so
 * nothing can be refilled untimed.  Each side therefore pre-loads
 * REMOVE_KEYS (1.5M) keys, twice what the harness asks for with its
 * defaults (calibration, 5 timed rounds and the counted one: about 700k
 * removes at about 500k/s on a 2-vCPU machine), in about 4 s per side,
 * and each operation deletes the next one in a fixed permutation of them,
 * so deletes hit random buckets rather than the allocation order.  A run
 * that would use them up fails with a message instead of measuring
 * something else.  `measure` (one self-timed operation per round) was
 * not used: it would rest the median on five single operations and give
 * no barrier counts.  Batching the pre-load (many puts nested in one
 * transaction) was tried and was no faster: pre-loading is bound by
 * cache misses, not barriers.  The map thins out as the rounds go (linear
 * hashing never merges buckets), from 2 entries per bucket to about 1;
 * both sides see the same keys in the same order.
 *
 * Set-up (untimed) prints how long it took.  map-get's set-up also checks
 * both maps against what was stored: every pre-loaded key, then updates
 * and removes of other keys, and for the libpmemobj map a walk of every
 * bucket (each entry in the bucket its hash names, the count right).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpmemobj.h>
#include <nvheap.h>
#include <xxhash.h>

#include "bench.h"
#include "examples/kvstore/kv.h"

#define KLEN 20                 /* "key:" and 16 digits */
#define VLEN 64
#define SEED 0x5eed5eed0badf00dull /* both maps: the same chains */

/* map-insert and map-remove: 1 GiB holds about 5M keys on libpmemobj
 * (200 bytes each; nvheap 130), 5 times the ~1M that map-insert puts with
 * the harness's defaults on a 2-vCPU machine. */
#define MAP_POOL (1ull << 30)
#define GET_KEYS 100000ull
#define REMOVE_KEYS 1500000ull
#define PERM 2654435761ull      /* a prime > REMOVE_KEYS: i -> i*PERM mod n
				 * is a permutation of [0, n) */

_Static_assert(PERM > REMOVE_KEYS, "PERM must not divide REMOVE_KEYS");

/* ---- the libpmemobj hash map (examples/kvstore/hash.c's algorithm) ---- */

#define PM_SEG_BITS 10
#define PM_SEG (1u << PM_SEG_BITS)     /* buckets per segment */
#define PM_DIR 16384u                  /* segments: 16M buckets at most */
#define PM_N0 PM_SEG                   /* buckets to start with */
#define PM_LOAD 2                      /* entries per bucket */
#define PM_MAX_BUCKETS ((uint64_t)PM_SEG * PM_DIR)

enum { T_ENT = 1, T_SEG, T_DIR };      /* libpmemobj type numbers */

/* One key and its value; never changed in place once linked. */
struct pent {
	PMEMoid next;                  /* hash chain */
	uint64_t hash;
	uint32_t klen;
	uint32_t reserved;
	uint64_t vlen;
	unsigned char data[];          /* key bytes, then value bytes */
};

struct pseg {
	PMEMoid b[PM_SEG];
};

struct pdir {
	PMEMoid seg[PM_DIR];
};

/* The root object.  Buckets: n0 << level, plus `split` already split in
 * this round; count, level and split are snapshotted together. */
struct pmap {
	uint64_t count;
	uint64_t level;
	uint64_t split;
	uint64_t seed;
	uint64_t n0;
	PMEMoid dir;
};

static uint64_t
pm_nbuckets(const struct pmap *h)
{
	return (h->n0 << h->level) + h->split;
}

static uint64_t
pm_bucket_of(const struct pmap *h, uint64_t hash)
{
	uint64_t b = hash & ((h->n0 << h->level) - 1);
	if (b < h->split)
		b = hash & ((h->n0 << (h->level + 1)) - 1);
	return b;
}

/* The head field of bucket b, or NULL if its segment is not there yet. */
static PMEMoid *
pm_head(const struct pmap *h, uint64_t b)
{
	struct pdir *d = pmemobj_direct(h->dir);
	struct pseg *s = pmemobj_direct(d->seg[b >> PM_SEG_BITS]);
	return s ? &s->b[b & (PM_SEG - 1)] : NULL;
}

static int
pm_ent_is(const struct pent *e, uint64_t hash, const void *k, size_t kl)
{
	return e->hash == hash && e->klen == kl && memcmp(e->data, k, kl) == 0;
}

/* Store v into *f in the transaction (snapshot first). */
static int
pm_set(PMEMoid *f, PMEMoid v)
{
	if (pmemobj_tx_add_range_direct(f, sizeof(*f)))
		return -1;
	*f = v;
	return 0;
}

/* pm_set unless *f already holds v (as hash.c's set_if). */
static int
pm_set_if(PMEMoid *f, PMEMoid v)
{
	return f->off == v.off ? 0 : pm_set(f, v);
}

/* End the transaction: commit if rc is 0 and nothing failed, else roll
 * back.  0 or -1 (libpmemobj's message says why). */
static int
pm_tx_end(int rc)
{
	if (pmemobj_tx_stage() == TX_STAGE_WORK) {
		if (rc)
			pmemobj_tx_abort(ECANCELED);
		else
			pmemobj_tx_commit();
	}
	if (pmemobj_tx_end() || rc) {
		fprintf(stderr, "libpmemobj: %s\n", pmemobj_errormsg());
		return -1;
	}
	return 0;
}

static int
pm_create(PMEMobjpool *pop, struct pmap *h)
{
	if (pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE))
		return pm_tx_end(-1);
	PMEMoid d = pmemobj_tx_zalloc(sizeof(struct pdir), T_DIR);
	PMEMoid s = pmemobj_tx_zalloc(sizeof(struct pseg), T_SEG);
	int rc = OID_IS_NULL(d) || OID_IS_NULL(s) ||
		 pmemobj_tx_add_range_direct(h, sizeof(*h));
	if (!rc) {
		/* d is new in this transaction: no snapshot */
		((struct pdir *)pmemobj_direct(d))->seg[0] = s;
		h->count = h->level = h->split = 0;
		h->seed = SEED;
		h->n0 = PM_N0;
		h->dir = d;
	}
	return pm_tx_end(rc);
}

static const struct pent *
pm_find(const struct pmap *h, uint64_t hash, const void *k, size_t kl)
{
	PMEMoid *f = pm_head(h, pm_bucket_of(h, hash));
	for (PMEMoid e = f ? *f : OID_NULL; !OID_IS_NULL(e);) {
		const struct pent *p = pmemobj_direct(e);
		if (pm_ent_is(p, hash, k, kl))
			return p;
		e = p->next;
	}
	return NULL;
}

/* Split bucket `split` (header already snapshotted by the caller): one
 * pass over its chain, appending each entry to the chain it now belongs
 * to; only links that change are stored (and snapshotted). */
static int
pm_split(struct pmap *h)
{
	uint64_t s = h->split, t = s + (h->n0 << h->level);
	struct pdir *d = pmemobj_direct(h->dir);
	PMEMoid *sf = &d->seg[t >> PM_SEG_BITS];
	if (OID_IS_NULL(*sf)) {
		PMEMoid sp = pmemobj_tx_zalloc(sizeof(struct pseg), T_SEG);
		if (OID_IS_NULL(sp) || pm_set(sf, sp))
			return -1;
	}
	PMEMoid *stay = pm_head(h, s), *move = pm_head(h, t); /* tails */
	uint64_t mask = (h->n0 << (h->level + 1)) - 1;
	for (PMEMoid e = *stay; !OID_IS_NULL(e);) {
		struct pent *p = pmemobj_direct(e);
		PMEMoid next = p->next;
		PMEMoid **tail = (p->hash & mask) == t ? &move : &stay;
		if (pm_set_if(*tail, e))
			return -1;
		*tail = &p->next;
		e = next;
	}
	if (pm_set_if(stay, OID_NULL) || pm_set_if(move, OID_NULL))
		return -1;
	if (++h->split == h->n0 << h->level) {
		h->level++;
		h->split = 0;
	}
	return 0;
}

/* In a transaction: a new entry for k = v, in place of the old one. */
static int
pm_put_tx(struct pmap *h, const void *k, size_t kl, const void *v, size_t vl)
{
	uint64_t hash = XXH3_64bits_withSeed(k, kl, h->seed);
	PMEMoid eo = pmemobj_tx_alloc(sizeof(struct pent) + kl + vl, T_ENT);
	if (OID_IS_NULL(eo))
		return -1;
	/* a new object: no snapshot; libpmemobj flushes it at commit */
	struct pent *ne = pmemobj_direct(eo);
	ne->hash = hash;
	ne->klen = (uint32_t)kl;
	ne->reserved = 0;
	ne->vlen = vl;
	memcpy(ne->data, k, kl);
	memcpy(ne->data + kl, v, vl);
	PMEMoid *f0 = pm_head(h, pm_bucket_of(h, hash));
	for (PMEMoid *f = f0; !OID_IS_NULL(*f);) {
		struct pent *p = pmemobj_direct(*f);
		if (pm_ent_is(p, hash, k, kl)) {
			/* the new entry takes the old one's place; the old
			 * one is freed at commit */
			PMEMoid old = *f;
			ne->next = p->next;
			return pm_set(f, eo) || pmemobj_tx_free(old) ? -1 : 0;
		}
		f = &p->next;
	}
	ne->next = *f0;
	/* count, level and split: one snapshot */
	if (pm_set(f0, eo) ||
	    pmemobj_tx_add_range_direct(h, 3 * sizeof(uint64_t)))
		return -1;
	h->count++;
	if (h->count > PM_LOAD * pm_nbuckets(h) &&
	    pm_nbuckets(h) < PM_MAX_BUCKETS)
		return pm_split(h);
	return 0;
}

static int
pm_put(PMEMobjpool *pop, struct pmap *h, const void *k, size_t kl,
       const void *v, size_t vl)
{
	if (pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE))
		return pm_tx_end(-1);
	return pm_tx_end(pm_put_tx(h, k, kl, v, vl));
}

/* Unlink and free k's entry; -ENOENT (no transaction) if there is none. */
static int
pm_del(PMEMobjpool *pop, struct pmap *h, const void *k, size_t kl)
{
	uint64_t hash = XXH3_64bits_withSeed(k, kl, h->seed);
	PMEMoid *f = pm_head(h, pm_bucket_of(h, hash));
	struct pent *p = NULL;
	while (!OID_IS_NULL(*f)) {
		p = pmemobj_direct(*f);
		if (pm_ent_is(p, hash, k, kl))
			break;
		f = &p->next;
	}
	if (OID_IS_NULL(*f))
		return -ENOENT;
	if (pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE))
		return pm_tx_end(-1);
	PMEMoid old = *f;
	int rc = pm_set(f, p->next) ||
		 pmemobj_tx_add_range_direct(&h->count, sizeof(h->count)) ||
		 pmemobj_tx_free(old);
	if (!rc)
		h->count--;
	return pm_tx_end(rc);
}

/* Whole-map check: every entry in the bucket its hash names, sane
 * lengths, and as many as the count says.  0 or -1. */
static int
pm_walk(const struct pmap *h)
{
	uint64_t n = 0;
	for (uint64_t b = 0; b < pm_nbuckets(h); b++) {
		PMEMoid *f = pm_head(h, b);
		if (!f) {
			fprintf(stderr, "map check: bucket %" PRIu64 " has no "
				"segment\n", b);
			return -1;
		}
		for (PMEMoid e = *f; !OID_IS_NULL(e); n++) {
			const struct pent *p = pmemobj_direct(e);
			if (pm_bucket_of(h, p->hash) != b || p->klen != KLEN ||
			    p->vlen != VLEN ||
			    p->hash != XXH3_64bits_withSeed(p->data, p->klen,
							    h->seed)) {
				fprintf(stderr, "map check: bad entry in "
					"bucket %" PRIu64 "\n", b);
				return -1;
			}
			e = p->next;
		}
	}
	if (n != h->count) {
		fprintf(stderr, "map check: %" PRIu64 " entries, count says "
			"%" PRIu64 "\n", n, h->count);
		return -1;
	}
	return 0;
}

/* ---- per-side state and the two sides' operations ---- */

struct mst {
	const struct ops *ops;
	struct kv *kv;                 /* nvheap */
	PMEMobjpool *pop;              /* libpmemobj */
	struct pmap *map;
	uint64_t nkeys;                /* pre-loaded: keys 0 .. nkeys-1 */
	uint64_t next;                 /* insert: next key; remove: rank */
	uint64_t rng;                  /* get: xorshift64 state */
	unsigned sink;                 /* get: the values' first bytes */
	unsigned char val[VLEN];
};

struct ops {
	const char *name;
	int (*put)(struct mst *s, const char *k, const void *v);
	int (*get)(struct mst *s, const char *k, const unsigned char **v,
		   size_t *vl);
	int (*del)(struct mst *s, const char *k);
	uint64_t (*count)(struct mst *s);
};

static int
nvh_put(struct mst *s, const char *k, const void *v)
{
	int rc = kv_put(s->kv, k, KLEN, v, VLEN);
	if (rc)
		fprintf(stderr, "nvheap: put: %s\n", kv_errmsg());
	return rc;
}

static int
nvh_get(struct mst *s, const char *k, const unsigned char **v, size_t *vl)
{
	return kv_get(s->kv, k, KLEN, (const void **)v, vl);
}

static int
nvh_del(struct mst *s, const char *k)
{
	int rc = kv_del(s->kv, k, KLEN);
	if (rc && rc != -ENOENT)
		fprintf(stderr, "nvheap: del: %s\n", kv_errmsg());
	return rc;
}

static uint64_t
nvh_count(struct mst *s)
{
	return kv_count(s->kv);
}

static int
pmdk_put(struct mst *s, const char *k, const void *v)
{
	return pm_put(s->pop, s->map, k, KLEN, v, VLEN);
}

static int
pmdk_get(struct mst *s, const char *k, const unsigned char **v, size_t *vl)
{
	const struct pent *p = pm_find(s->map, XXH3_64bits_withSeed(k, KLEN,
					s->map->seed), k, KLEN);
	if (!p)
		return -ENOENT;
	*v = p->data + p->klen;
	*vl = p->vlen;
	return 0;
}

static int
pmdk_del(struct mst *s, const char *k)
{
	return pm_del(s->pop, s->map, k, KLEN);
}

static uint64_t
pmdk_count(struct mst *s)
{
	return s->map->count;
}

static const struct ops nvh_ops = {
	"nvheap", nvh_put, nvh_get, nvh_del, nvh_count,
};

static const struct ops pmdk_ops = {
	"libpmemobj", pmdk_put, pmdk_get, pmdk_del, pmdk_count,
};

/* ---- keys, values, the self-check ---- */

/* k = prefix (4 bytes) and i as 16 decimal digits: "key:%016llu". */
static void
keyfmt(char *k, const char *prefix, uint64_t i)
{
	memcpy(k, prefix, 4);
	for (int d = KLEN - 1; d >= 4; d--) {
		k[d] = (char)('0' + i % 10);
		i /= 10;
	}
}

/* Key i's value: i, then a fixed pattern. */
static void
valfmt(unsigned char *v, uint64_t i)
{
	memcpy(v, &i, sizeof(i));
	memset(v + sizeof(i), 'v', VLEN - sizeof(i));
}

/* Does k hold value(i)?  (-ENOENT if absent) */
static int
holds(struct mst *s, const char *k, uint64_t i)
{
	const unsigned char *v;
	size_t vl;
	unsigned char want[VLEN];
	int rc = s->ops->get(s, k, &v, &vl);
	if (rc)
		return rc;
	valfmt(want, i);
	return vl == VLEN && memcmp(v, want, VLEN) == 0 ? 0 : -EIO;
}

#define CHECK_KEYS 300

/* After pre-loading keys 0 .. nkeys-1: check them all, then put, update
 * and remove CHECK_KEYS other keys and check every answer, then remove
 * them again (the map is left as it was).  0 or -1. */
static int
self_check(struct mst *s)
{
	char k[KLEN];
	for (uint64_t i = 0; i < s->nkeys; i++) {
		keyfmt(k, "key:", i);
		if (holds(s, k, i))
			goto bad;
	}
	for (uint64_t i = 0; i < CHECK_KEYS; i++) {
		keyfmt(k, "chk:", i);
		valfmt(s->val, i);
		if (s->ops->put(s, k, s->val))
			goto bad;
	}
	for (uint64_t i = 0; i < CHECK_KEYS; i++) {
		keyfmt(k, "chk:", i);
		valfmt(s->val, i + 1000);
		if ((i % 2 == 0 && s->ops->put(s, k, s->val)) ||
		    (i % 3 == 0 && s->ops->del(s, k)))
			goto bad;
	}
	for (uint64_t i = 0; i < CHECK_KEYS; i++) {
		keyfmt(k, "chk:", i);
		int rc = holds(s, k, i % 2 ? i : i + 1000);
		if (i % 3 == 0 ? rc != -ENOENT || s->ops->del(s, k) != -ENOENT
			       : rc)
			goto bad;
	}
	if (s->ops->count(s) != s->nkeys + CHECK_KEYS - (CHECK_KEYS + 2) / 3)
		goto bad;
	for (uint64_t i = 0; i < CHECK_KEYS; i++) {
		keyfmt(k, "chk:", i);
		if (i % 3 && s->ops->del(s, k))
			goto bad;
	}
	keyfmt(k, "key:", s->nkeys);
	if (holds(s, k, s->nkeys) != -ENOENT || s->ops->count(s) != s->nkeys ||
	    (s->map && pm_walk(s->map)))
		goto bad;
	return 0;
bad:
	fprintf(stderr, "map check: %s: wrong answer at key %.*s\n",
		s->ops->name, KLEN, k);
	return -1;
}

/* ---- set-up and tear-down ---- */

static struct mst *
nvh_open_map(const char *path, uint64_t size)
{
	struct mst *s = calloc(1, sizeof(*s));
	struct kv_opts o = {.index = KV_HASH, .size = size, .create = 1,
			    .hash_seed = SEED};
	if (!s || !(s->kv = kv_open(path, &o))) {
		fprintf(stderr, "nvheap: %s\n", s ? kv_errmsg() : "no memory");
		free(s);
		return NULL;
	}
	s->ops = &nvh_ops;
	return s;
}

static struct mst *
pmdk_open_map(const char *path, uint64_t size)
{
	struct mst *s = calloc(1, sizeof(*s));
	if (!s || !(s->pop = pmemobj_create(path, "bench-map", size, 0600))) {
		fprintf(stderr, "libpmemobj: %s\n", pmemobj_errormsg());
		free(s);
		return NULL;
	}
	PMEMoid r = pmemobj_root(s->pop, sizeof(struct pmap));
	s->map = pmemobj_direct(r);
	if (!s->map || pm_create(s->pop, s->map)) {
		pmemobj_close(s->pop);
		free(s);
		return NULL;
	}
	s->ops = &pmdk_ops;
	return s;
}

static void
teardown(void *state)
{
	struct mst *s = state;
	if (s->kv)
		kv_close(s->kv);
	if (s->pop)
		pmemobj_close(s->pop);
	free(s);
}

/* Put keys 0 .. n-1 (untimed set-up). */
static int
preload(struct mst *s, uint64_t n)
{
	char k[KLEN];
	for (uint64_t i = 0; i < n; i++) {
		keyfmt(k, "key:", i);
		valfmt(s->val, i);
		if (s->ops->put(s, k, s->val))
			return -1;
	}
	s->nkeys = n;
	return 0;
}

/* The set-up of workload `wl` on one side: create the map in a pool of
 * `size` bytes, pre-load `keys` keys, self-check if asked; print how long
 * it took. */
static struct mst *
setup(const struct ops *o, const char *wl, const char *path, uint64_t size,
      uint64_t keys, int check)
{
	double t0 = bench_now();
	struct mst *s = o == &nvh_ops ? nvh_open_map(path, size)
				      : pmdk_open_map(path, size);
	if (!s)
		return NULL;
	if (preload(s, keys) || (check && self_check(s))) {
		teardown(s);
		return NULL;
	}
	fprintf(stderr, "  %s: %s: set-up %.2f s (%" PRIu64 " keys%s)\n", wl,
		o->name, bench_now() - t0, keys, check ? ", checked" : "");
	valfmt(s->val, 0);
	s->rng = 0x9e3779b97f4a7c15ull;
	return s;
}

static void *
nvh_setup_insert(const char *path, unsigned threads)
{
	(void)threads;
	return setup(&nvh_ops, "map-insert", path, MAP_POOL, 0, 0);
}

static void *
pmdk_setup_insert(const char *path, unsigned threads)
{
	(void)threads;
	return setup(&pmdk_ops, "map-insert", path, MAP_POOL, 0, 0);
}

static void *
nvh_setup_get(const char *path, unsigned threads)
{
	(void)threads;
	return setup(&nvh_ops, "map-get", path, BENCH_POOL_SIZE, GET_KEYS, 1);
}

static void *
pmdk_setup_get(const char *path, unsigned threads)
{
	(void)threads;
	return setup(&pmdk_ops, "map-get", path, BENCH_POOL_SIZE, GET_KEYS, 1);
}

static void *
nvh_setup_remove(const char *path, unsigned threads)
{
	(void)threads;
	return setup(&nvh_ops, "map-remove", path, MAP_POOL, REMOVE_KEYS,
		     0);
}

static void *
pmdk_setup_remove(const char *path, unsigned threads)
{
	(void)threads;
	return setup(&pmdk_ops, "map-remove", path, MAP_POOL, REMOVE_KEYS,
		     0);
}

/* ---- the timed runs ---- */

static int
run_insert(void *state, unsigned tid, uint64_t n)
{
	(void)tid;
	struct mst *s = state;
	char k[KLEN];
	for (uint64_t i = 0; i < n; i++) {
		keyfmt(k, "key:", s->next);
		memcpy(s->val, &s->next, sizeof(s->next));
		s->next++;
		if (s->ops->put(s, k, s->val))
			return -1;
	}
	return 0;
}

static int
run_get(void *state, unsigned tid, uint64_t n)
{
	(void)tid;
	struct mst *s = state;
	char k[KLEN];
	for (uint64_t i = 0; i < n; i++) {
		s->rng ^= s->rng << 13;
		s->rng ^= s->rng >> 7;
		s->rng ^= s->rng << 17;
		keyfmt(k, "key:", s->rng % s->nkeys);
		const unsigned char *v;
		size_t vl;
		if (s->ops->get(s, k, &v, &vl)) {
			fprintf(stderr, "map-get: %s: key %.*s missing\n",
				s->ops->name, KLEN, k);
			return -1;
		}
		s->sink += v[0];
	}
	return 0;
}

static int
run_remove(void *state, unsigned tid, uint64_t n)
{
	(void)tid;
	struct mst *s = state;
	char k[KLEN];
	if (n > s->nkeys - s->next) {
		fprintf(stderr, "map-remove: %s: %" PRIu64 " more removes "
			"asked for, %" PRIu64 " pre-loaded keys left (raise "
			"REMOVE_KEYS in wl_map.c or lower --seconds or "
			"--rounds)\n", s->ops->name, n, s->nkeys - s->next);
		return -1;
	}
	for (uint64_t i = 0; i < n; i++) {
		keyfmt(k, "key:", s->next++ * PERM % s->nkeys);
		if (s->ops->del(s, k))
			return -1;
	}
	return 0;
}

#define SIDES(what)                                                          \
	.nvh = {.setup = nvh_setup_##what, .run = run_##what,                \
		.teardown = teardown},                                       \
	.pmdk = {.setup = pmdk_setup_##what, .run = run_##what,              \
		 .teardown = teardown}

const struct bench_workload bench_map_insert = {
	.name = "map-insert",
	.what = "hash map: put a new 20-byte key with a 64-byte value",
	.threads = 1, SIDES(insert),
};

const struct bench_workload bench_map_get = {
	.name = "map-get",
	.what = "hash map: get a random one of 100,000 keys",
	.threads = 1, SIDES(get),
};

const struct bench_workload bench_map_remove = {
	.name = "map-remove",
	.what = "hash map: delete a pre-loaded key",
	.threads = 1, SIDES(remove),
};
