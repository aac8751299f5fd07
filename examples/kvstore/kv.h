/*
 * kv.h -- a persistent key-value store on nvheap's public API: a hash map
 * (linear hashing: grows one bucket at a time) or a B-tree (ordered, range
 * scans), chosen when the pool is created.  Keys are binary-safe byte
 * strings up to KV_KEY_MAX bytes, values up to KV_VAL_MAX.  Every write is
 * one nvheap transaction: durable when the call returns, all or nothing
 * after a crash.
 *
 * Keys may carry an expiry time (Unix ms, persistent): once it has
 * passed, the key is absent to every call (reads, NX/XX, scans), and
 * kv_expire_step removes such keys in bounded steps.
 *
 * Every entry carries checksums, verified before its bytes are used: a
 * damaged entry is never returned as data (-EIO, the message names its
 * offset) and scans skip it; kv_check lists them.
 *
 * Errors: functions return 0 or a negative errno; kv_errmsg() (which is
 * nvh_errormsg()) says what.  -ENOENT: no such key.  -E2BIG: key or value
 * too long.  -ENOSPC: the pool is full, nothing changed (the message says
 * why: a fixed size, its maximum size, or a full file system when it
 * tried to grow; and what to do).  -EIO: a damaged entry.
 *
 * Pools: kv_open creates a pool that starts small (KV_INITIAL_SIZE) and
 * grows in place as the store fills (nvheap's growing pools), until the
 * file system is full, or up to a maximum; or, asked for, one of a fixed
 * size (KV_FIXED_SIZE by default), the only kind there was before.
 */
#ifndef KV_H
#define KV_H

#include <stddef.h>
#include <stdint.h>

#include <nvheap.h>

#define KV_KEY_MAX (64u << 10)
#define KV_VAL_MAX (64u << 20)
#define KV_INITIAL_SIZE (8ull << 20)  /* a new growing pool */
#define KV_FIXED_SIZE (256ull << 20)   /* a new fixed pool (max_size OFF) */

enum kv_index { KV_ANY = 0, KV_HASH = 1, KV_BTREE = 2 };

/* What a key holds.  A call for one type on a key of another fails with
 * -EMEDIUMTYPE (redis's WRONGTYPE); SET, DEL and expiry work on any. */
enum kv_type { KV_T_STRING = 0, KV_T_HASH = 1, KV_T_LIST = 2, KV_T_SET = 3,
	       KV_T_ZSET = 4 };
#define KV_T_MAX KV_T_ZSET

struct kv;

struct kv_opts {
	enum kv_index index;  /* at creation (default hash); else must match
			       * the pool's or be KV_ANY */
	uint64_t size;        /* pool size at creation: a growing pool's first
			       * size (default KV_INITIAL_SIZE, or the maximum
			       * if smaller), a fixed pool's size (default
			       * KV_FIXED_SIZE) */
	/* Growth (nvh_opts' max_size and grow_step, which these override
	 * when set): max_size 0 = the default: a new pool grows without
	 * limit, an existing one keeps its policy; NVH_GROW_UNLIMITED =
	 * grow until the file system is full; NVH_GROW_OFF = a fixed size;
	 * else the most bytes the pool grows to.  Given for an existing
	 * pool, they change its policy (a read-write open).  grow_step
	 * 0 = nvheap's default (a quarter of the size, at least 4 MiB). */
	uint64_t max_size;
	uint64_t grow_step;
	int create;           /* create the pool if the file does not exist */
	const struct nvh_opts *nvh; /* for nvh_open/nvh_create (or NULL) */
	uint64_t hash_seed;    /* hash: the seed of a new map (0: random;
				* fixed only for reproducible tests) */
	unsigned hash_buckets; /* hash: buckets to start with, a power of two
				* <= 1024 (default 1024; small values make
				* tests split early) */
};

struct kv *kv_open(const char *path, const struct kv_opts *o);
int kv_close(struct kv *kv);
const char *kv_errmsg(void);
nvh_pool *kv_pool(struct kv *kv);
enum kv_index kv_index_kind(struct kv *kv);
const char *kv_index_name(enum kv_index i);

/* Inside a transaction the caller holds open on kv_pool(kv) (a batch of
 * writes, as nvkv-server's group commit): snapshot now, in one call and
 * one persist barrier, what writes of keys k[i] (kl[i] bytes) may change
 * in the index, so that the writes then take no snapshot barrier of
 * their own (on an ordinary file a barrier is an msync).  Hash index
 * only (a no-op for the B-tree).  An error fails the caller's
 * transaction. */
int kv_prepare(struct kv *kv, const void *const *k, const size_t *kl,
	       size_t n);

int kv_put(struct kv *kv, const void *k, size_t kl, const void *v, size_t vl);
/* Insert only if absent (nx) or only if present (xx); -EEXIST / -ENOENT
 * when the condition fails. */
int kv_put_if(struct kv *kv, const void *k, size_t kl, const void *v,
	      size_t vl, int nx, int xx);
/* *v points into the pool: valid until the next write. */
int kv_get(struct kv *kv, const void *k, size_t kl, const void **v,
	   size_t *vl);
/* kv_get, and the key's expiry time (0: none) in *expire (if not NULL). */
int kv_get_ex(struct kv *kv, const void *k, size_t kl, const void **v,
	      size_t *vl, int64_t *expire);

/* SET's options: put only if absent (nx) or present (xx); keep the old
 * expiry time (keepttl), else set `expire` (Unix ms; 0: none). */
struct kv_setopt {
	int nx, xx, keepttl;
	int64_t expire;
};
int kv_set(struct kv *kv, const void *k, size_t kl, const void *v,
	   size_t vl, const struct kv_setopt *o);
/* Set the key's expiry time (0: remove it, PERSIST); -ENOENT if no key.
 * A time already passed deletes the key. */
int kv_set_expire(struct kv *kv, const void *k, size_t kl, int64_t expire);
/* Keys with an expiry time (expired ones not yet removed included). */
uint64_t kv_expires(struct kv *kv);
/* Active expiry: look at about `budget` keys from `cursor` (0: start),
 * delete the expired ones in one transaction, count them in *deleted;
 * returns the next cursor (0: a pass is complete). */
uint64_t kv_expire_step(struct kv *kv, uint64_t cursor, size_t budget,
			uint64_t *deleted);
/* Now, in Unix ms (kv_set_time's value if set: tests). */
int64_t kv_now(struct kv *kv);
void kv_set_time(struct kv *kv, int64_t ms);
/* Damaged entries met since kv_open (scans skip them). */
uint64_t kv_damaged_count(struct kv *kv);
/* Verify every entry's checksums; call fn for each damaged one (its pool
 * offset and what is wrong); returns the number damaged (< 0: error). */
long long kv_check(struct kv *kv, void (*fn)(void *arg, uint64_t off,
					     const char *what), void *arg);
int kv_del(struct kv *kv, const void *k, size_t kl);
/* RENAME: key k (any type) becomes key d, with its expiry time, replacing
 * d; nx: only if d is absent (-EEXIST).  -ENOENT: no key k.  k == d is
 * no change (RENAMENX: -EEXIST). */
int kv_rename(struct kv *kv, const void *k, size_t kl, const void *d,
	      size_t dl, int nx);
uint64_t kv_count(struct kv *kv);
/* INCRBY: the value must be a decimal integer (or absent: 0); -EINVAL if
 * not, -ERANGE on overflow. */
int kv_incrby(struct kv *kv, const void *k, size_t kl, long long by,
	      long long *out);
int kv_append(struct kv *kv, const void *k, size_t kl, const void *v,
	      size_t vl, size_t *newlen);
/* Remove everything (the old index is freed in bounded steps).  Inside
 * a transaction the caller began (nvh_tx_begin on kv_pool), the kv calls
 * nest in it: MULTI/EXEC's atomicity. */
int kv_flush(struct kv *kv);

/* Visit pairs; return non-zero from fn to stop (kv_scan returns it). */
typedef int (*kv_fn)(void *arg, const void *k, size_t kl, const void *v,
		     size_t vl);
/* Inside a scan's fn: the type of the key it is given (a collection's
 * value bytes are empty: its elements are coll.c's). */
enum kv_type kv_visit_type(struct kv *kv);
/* B-tree: keys in [from, to] in order (NULL from/to: unbounded).
 * Hash: every key, in bucket order (from/to must be NULL). */
int kv_scan(struct kv *kv, const void *from, size_t fl, const void *to,
	    size_t tl, kv_fn fn, void *arg);
/* Resumable scan (SCAN cursor): visits about `count` keys from `cursor`
 * (0 = start) and returns the next cursor, 0 when done.  Keys present
 * from start to end are visited at least once. */
uint64_t kv_scan_step(struct kv *kv, uint64_t cursor, size_t count, kv_fn fn,
		      void *arg);

/* The WRONGTYPE error as the message: -EMEDIUMTYPE. */
int kv_wrongtype(void);
/* What key k holds and its expiry time (0: none; expire may be NULL):
 * live keys only: 0, -ENOENT, -EIO. */
int kv_key_type(struct kv *kv, const void *k, size_t kl, enum kv_type *type,
		int64_t *expire);

/* ---- hashes (coll.c): fields and values, binary-safe, each up to the
 * key and value limits.  A call on a key of another type fails with
 * -EMEDIUMTYPE; an absent key is an empty hash. ---- */
/* Field f := v, creating the hash; nx: only if f is absent (-EEXIST if
 * present); *added (if not NULL): 1 if f is new. */
int kv_hset(struct kv *kv, const void *k, size_t kl, const void *f,
	    size_t fl, const void *v, size_t vl, int nx, int *added);
/* *v points into the pool: valid until the next write.  -ENOENT: no
 * such field (or key). */
int kv_hget(struct kv *kv, const void *k, size_t kl, const void *f,
	    size_t fl, const void **v, size_t *vl);
/* -ENOENT: no such field; the hash's last field takes the key with it. */
int kv_hdel(struct kv *kv, const void *k, size_t kl, const void *f,
	    size_t fl);
int kv_hlen(struct kv *kv, const void *k, size_t kl, uint64_t *n);
/* Every field (fn's key) and value, in the hash's order: insertion order
 * for a small hash, field order for a large one. */
int kv_hscan(struct kv *kv, const void *k, size_t kl, kv_fn fn, void *arg);
/* HSCAN: about `count` fields from `cursor` (0: start), the next cursor
 * in *next (0: done); a small hash in one step. */
int kv_hscan_step(struct kv *kv, const void *k, size_t kl, uint64_t cursor,
		  size_t count, kv_fn fn, void *arg, uint64_t *next);
/* OBJECT ENCODING's word for the hash at k: "listpack" or "hashtable". */
int kv_hash_encoding(struct kv *kv, const void *k, size_t kl,
		     const char **enc);

/* ---- lists (list.c): elements binary-safe, each up to the value
 * limit; indexes as redis's (0 the first, -1 the last).  A call on a key
 * of another type fails with -EMEDIUMTYPE; an absent key is an empty
 * list; the write that empties a list deletes its key. ---- */
/* Push v[0..n) one by one at the left end (left) or the right; xx: only
 * if the list exists (LPUSHX: else nothing, *len 0).  *len (if len is
 * not NULL): the length after. */
int kv_lpush(struct kv *kv, const void *k, size_t kl, const void *const *v,
	     const size_t *vl, size_t n, int left, int xx, uint64_t *len);
/* Pop up to count elements from one end, fn called for each (key bytes
 * empty) before the commit: copy what it needs.  -ENOENT: no list. */
int kv_lpop(struct kv *kv, const void *k, size_t kl, int left,
	    uint64_t count, kv_fn fn, void *arg);
int kv_llen(struct kv *kv, const void *k, size_t kl, uint64_t *n);
/* *v points into the pool: valid until the next write.  -ENOENT: no
 * list or no such index. */
int kv_lindex(struct kv *kv, const void *k, size_t kl, int64_t i,
	      const void **v, size_t *vl);
/* fn for the elements start..stop (LRANGE's clamping), in order. */
int kv_lrange(struct kv *kv, const void *k, size_t kl, int64_t start,
	      int64_t stop, kv_fn fn, void *arg);
/* fn for every element from the left end (or the right: back); fn's
 * non-zero stops the walk (and is returned). */
int kv_lwalk(struct kv *kv, const void *k, size_t kl, int back, kv_fn fn,
	     void *arg);
/* -ENOENT: no list; -ERANGE: no such index. */
int kv_lset(struct kv *kv, const void *k, size_t kl, int64_t i,
	    const void *v, size_t vl);
/* LREM: remove the first count elements equal to v (count < 0: the last
 * -count; 0: all); *removed.  -ENOENT: no list. */
int kv_lrem(struct kv *kv, const void *k, size_t kl, int64_t count,
	    const void *v, size_t vl, uint64_t *removed);
/* Keep start..stop (LTRIM's clamping); nothing left deletes the key. */
int kv_ltrim(struct kv *kv, const void *k, size_t kl, int64_t start,
	     int64_t stop);
/* LINSERT: v before (or after) the first element equal to pivot; *len
 * the length after, -1 if no such pivot.  -ENOENT: no list. */
int kv_linsert(struct kv *kv, const void *k, size_t kl, int after,
	       const void *pivot, size_t pl, const void *v, size_t vl,
	       int64_t *len);
/* LMOVE: the element at one end of src to one end of dst (which may be
 * src), fn called with it before the commit.  -ENOENT: no list src. */
int kv_lmove(struct kv *kv, const void *src, size_t sl, const void *dst,
	     size_t dl, int from_left, int to_left, kv_fn fn, void *arg);
/* ---- sets (coll.c): members binary-safe, each up to the key limit; a
 * set is a hash's structure with empty values (a chain in insertion
 * order up to 128 members of at most 64 bytes, else a B-tree in member
 * order).  -EMEDIUMTYPE and absent keys as for hashes. ---- */
/* *added (if added is not NULL): 1 if m is new (0: it was there,
 * nothing written). */
int kv_sadd(struct kv *kv, const void *k, size_t kl, const void *m,
	    size_t ml, int *added);
/* -ENOENT: no such member; the last member takes the key with it. */
int kv_srem(struct kv *kv, const void *k, size_t kl, const void *m,
	    size_t ml);
/* 0 if m is a member, -ENOENT if not. */
int kv_sismember(struct kv *kv, const void *k, size_t kl, const void *m,
		 size_t ml);
int kv_scard(struct kv *kv, const void *k, size_t kl, uint64_t *n);
/* fn for every member (its key bytes; the value empty). */
int kv_smembers(struct kv *kv, const void *k, size_t kl, kv_fn fn,
		void *arg);
int kv_sscan_step(struct kv *kv, const void *k, size_t kl, uint64_t cursor,
		  size_t count, kv_fn fn, void *arg, uint64_t *next);
/* fn for one member (kv_hrandom: field and value) picked at random from
 * seed, in O(log members): about equally likely, not exactly (btree.c's
 * kv_bt_random says how far from it).  0 and no call for an absent key
 * or a damaged pick (counted). */
int kv_srandom(struct kv *kv, const void *k, size_t kl, uint64_t seed,
	       kv_fn fn, void *arg);
int kv_hrandom(struct kv *kv, const void *k, size_t kl, uint64_t seed,
	       kv_fn fn, void *arg);

/* ---- sorted sets (zset.c): members binary-safe (each up to the key
 * limit), each with a score (a double, never NaN), in (score, member)
 * order, members compared as bytes.  A member B-tree and a skiplist with
 * spans: a member's score, rank, and the start of a range by rank, score
 * or member in O(log n).  -EMEDIUMTYPE and absent keys as for hashes.
 * ---- */
/* A score range: min..max, each end exclusive or not (+-inf allowed). */
struct kv_zrange {
	double min, max;
	int minex, maxex;
};
/* A member range: min..max, each end exclusive or not, or infinite
 * (min_inf/max_inf: -1 for "-", +1 for "+", 0 for a member). */
struct kv_zlex {
	const void *min, *max;
	size_t minl, maxl;
	int minex, maxex;
	int min_inf, max_inf;
};
/* A member and its score; non-zero stops the walk (returned). */
typedef int (*kv_zfn)(void *arg, const void *m, size_t ml, double score);
/* 0 with *score, or -ENOENT (no such member or key). */
int kv_zscore(struct kv *kv, const void *k, size_t kl, const void *m,
	      size_t ml, double *score);
/* Member m with this score (added if new, *added 1; a same score writes
 * nothing).  -EINVAL for NaN. */
int kv_zput(struct kv *kv, const void *k, size_t kl, const void *m, size_t ml,
	    double score, int *added);
/* -ENOENT: no such member; the last member takes the key with it. */
int kv_zrem(struct kv *kv, const void *k, size_t kl, const void *m,
	    size_t ml);
int kv_zcard(struct kv *kv, const void *k, size_t kl, uint64_t *n);
/* Member m's 0-based rank from the lowest; -ENOENT. */
int kv_zrank(struct kv *kv, const void *k, size_t kl, const void *m,
	     size_t ml, uint64_t *rank);
/* fn for the members of 0-based ranks start..stop (clipped to the set),
 * counted from the highest and highest first if rev. */
int kv_zrange(struct kv *kv, const void *k, size_t kl, uint64_t start,
	      uint64_t stop, int rev, kv_zfn fn, void *arg);
/* fn for the members in the range, lowest first (rev: highest), after
 * skipping `offset` of them, at most count. */
int kv_zrange_score(struct kv *kv, const void *k, size_t kl,
		    const struct kv_zrange *r, int rev, uint64_t offset,
		    uint64_t count, kv_zfn fn, void *arg);
int kv_zrange_lex(struct kv *kv, const void *k, size_t kl,
		  const struct kv_zlex *r, int rev, uint64_t offset,
		  uint64_t count, kv_zfn fn, void *arg);
/* How many members the range holds (O(log n)). */
int kv_zcount(struct kv *kv, const void *k, size_t kl,
	      const struct kv_zrange *r, uint64_t *n);
int kv_zlexcount(struct kv *kv, const void *k, size_t kl,
		 const struct kv_zlex *r, uint64_t *n);
/* ZSCAN's steps over the member B-tree: fn gets each member and its
 * score's 8 bytes (a double). */
int kv_zscan_step(struct kv *kv, const void *k, size_t kl, uint64_t cursor,
		  size_t count, kv_fn fn, void *arg, uint64_t *next);

/* fn for one live key picked at random from seed (its entry's key and
 * value bytes; a collection's value is not its elements): each key
 * about equally likely.  0 and no call if the pick was expired or
 * damaged, or the store is empty: callers draw again. */
int kv_random_key(struct kv *kv, uint64_t seed, kv_fn fn, void *arg);

/* TYPE's word for t ("string", "hash", "list", "set", "zset"). */
const char *kv_type_name(enum kv_type t);

struct kv_stats {
	enum kv_index index;
	uint64_t keys;
	uint64_t buckets;    /* hash */
	uint64_t depth;      /* B-tree */
	uint64_t nodes;      /* B-tree */
	uint64_t nodes_read; /* B-tree nodes read since open, the store's
			      * and the collections' (DRAM) */
	uint64_t pool_size, used, free;
};
int kv_stats(struct kv *kv, struct kv_stats *st);

/* "512M", "4G", "65536": bytes (K, M, G, T suffixes); 0 or -1. */
int kv_parse_size(const char *s, uint64_t *out);
/* --max-size: "unlimited" (NVH_GROW_UNLIMITED), "fixed" (NVH_GROW_OFF)
 * or a size as kv_parse_size reads it; 0 or -1. */
int kv_parse_max_size(const char *s, uint64_t *out);
/* The programs' --size and --max-size (opt names which, with its
 * dashes): arg into o->size or o->max_size; 0, or -1 having told stderr
 * what is wrong (prog: the program's name). */
int kv_size_opt(struct kv_opts *o, const char *prog, const char *opt,
		const char *arg);
/* A pool's growth policy in words: "unlimited", "fixed" or its maximum
 * in bytes, in buf (n bytes); returns buf. */
const char *kv_max_size_str(const struct nvh_pool_info *i, char *buf,
			    size_t n);

#endif
