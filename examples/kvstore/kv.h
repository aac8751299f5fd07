/*
 * kv.h -- a persistent key-value store on nvheap's public API: a hash map
 * (linear hashing: grows one bucket at a time) or a B-tree (ordered, range
 * scans), chosen when the pool is created.  Keys are binary-safe byte
 * strings up to KV_KEY_MAX bytes, values up to KV_VAL_MAX.  Every write is
 * one nvheap transaction: durable when the call returns, all or nothing
 * after a crash.
 *
 * Errors: functions return 0 or a negative errno; kv_errmsg() (which is
 * nvh_errormsg()) says what.  -ENOENT: no such key.  -E2BIG: key or value
 * too long.  -ENOSPC: the pool is full (the message says how big it is).
 */
#ifndef KV_H
#define KV_H

#include <stddef.h>
#include <stdint.h>

#include <nvheap.h>

#define KV_KEY_MAX (64u << 10)
#define KV_VAL_MAX (64u << 20)
#define KV_DEFAULT_SIZE (256ull << 20)

enum kv_index { KV_ANY = 0, KV_HASH = 1, KV_BTREE = 2 };

struct kv;

struct kv_opts {
	enum kv_index index;  /* at creation (default hash); else must match
			       * the pool's or be KV_ANY */
	uint64_t size;        /* pool size at creation (default 256 MiB) */
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

int kv_put(struct kv *kv, const void *k, size_t kl, const void *v, size_t vl);
/* Insert only if absent (nx) or only if present (xx); -EEXIST / -ENOENT
 * when the condition fails. */
int kv_put_if(struct kv *kv, const void *k, size_t kl, const void *v,
	      size_t vl, int nx, int xx);
/* *v points into the pool: valid until the next write. */
int kv_get(struct kv *kv, const void *k, size_t kl, const void **v,
	   size_t *vl);
int kv_del(struct kv *kv, const void *k, size_t kl);
uint64_t kv_count(struct kv *kv);
/* INCRBY: the value must be a decimal integer (or absent: 0); -EINVAL if
 * not, -ERANGE on overflow. */
int kv_incrby(struct kv *kv, const void *k, size_t kl, long long by,
	      long long *out);
int kv_append(struct kv *kv, const void *k, size_t kl, const void *v,
	      size_t vl, size_t *newlen);
/* Remove everything (the old index is freed in bounded steps). */
int kv_flush(struct kv *kv);

/* Visit pairs; return non-zero from fn to stop (kv_scan returns it). */
typedef int (*kv_fn)(void *arg, const void *k, size_t kl, const void *v,
		     size_t vl);
/* B-tree: keys in [from, to] in order (NULL from/to: unbounded).
 * Hash: every key, in bucket order (from/to must be NULL). */
int kv_scan(struct kv *kv, const void *from, size_t fl, const void *to,
	    size_t tl, kv_fn fn, void *arg);
/* Resumable scan (SCAN cursor): visits about `count` keys from `cursor`
 * (0 = start) and returns the next cursor, 0 when done.  Keys present
 * from start to end are visited at least once. */
uint64_t kv_scan_step(struct kv *kv, uint64_t cursor, size_t count, kv_fn fn,
		      void *arg);

struct kv_stats {
	enum kv_index index;
	uint64_t keys;
	uint64_t buckets;    /* hash */
	uint64_t depth;      /* B-tree */
	uint64_t nodes;      /* B-tree */
	uint64_t pool_size, used, free;
};
int kv_stats(struct kv *kv, struct kv_stats *st);

/* "512M", "4G", "65536": bytes (K, M, G, T suffixes); 0 or -1. */
int kv_parse_size(const char *s, uint64_t *out);

#endif
