/*
 * kv_int.h -- the persistent types of the key-value store and the
 * interface between kv.c (pool, entries, dispatch) and the two indexes.
 */
#ifndef KV_INT_H
#define KV_INT_H

#include <stddef.h>
#include <string.h>

#include <xxhash.h>

#include "kv.h"

NVH_TYPE(kvent);
NVH_TYPE(kvseg);
NVH_TYPE(kvdir);
NVH_TYPE(kvhash);
NVH_TYPE(btnode);
NVH_TYPE(kvroot);
NVH_TYPE(kvcoll);
NVH_TYPE(kvlchunk);
NVH_TYPE(kvzn1);
NVH_TYPE(kvzn2);
NVH_TYPE(kvzn4);
NVH_TYPE(kvzn8);
NVH_TYPE(kvzn16);
NVH_TYPE(kvzn32);

/* One key and its value, in one object: the fixed part, then the key
 * bytes, then the value bytes.  Entries are never changed in place but for
 * their chain link and their expiry time: a new value is a new entry
 * swapped in, so a write snapshots one pointer.
 *
 * Checksums (XXH3-64): ksum over the key bytes, vsum over the value bytes,
 * and msum over the fields from `hash` to `vsum` (so it covers the lengths,
 * the expiry and both data sums).  msum is checked before klen or vlen is
 * trusted (a damaged length never sends a read out of the object), ksum
 * before a key is shown, vsum before a value is returned.  `next` is not
 * covered: it changes in place, and the heap checks it as a typed pointer. */
struct kvent {
	kvent_ptr next;     /* hash chain; a small collection's next field */
	kvcoll_ptr val;     /* a collection's elements (type != string) */
	uint64_t hash;
	uint32_t klen;
	uint32_t type;      /* enum kv_type (string: the value bytes) */
	uint64_t vlen;
	int64_t expire;     /* Unix time in ms; 0: no expiry */
	uint64_t ksum;
	uint64_t vsum;
	uint64_t msum;
	unsigned char data[];
};

#define KV_ENT_MSUM_FROM offsetof(struct kvent, hash)
#define KV_ENT_MSUM_LEN (offsetof(struct kvent, msum) - KV_ENT_MSUM_FROM)

static inline uint64_t
kv_ent_msum(const struct kvent *p)
{
	return XXH3_64bits((const char *)p + KV_ENT_MSUM_FROM, KV_ENT_MSUM_LEN);
}

/* The fixed part is intact: klen and vlen can be trusted. */
static inline int
kv_ent_sane(const struct kvent *p)
{
	return p && p->msum == kv_ent_msum(p);
}

/* A collection (coll.c, list.c).  A hash's fields are entries (field =
 * key bytes, value = value bytes).  Small ones (KV_SMALL_MAX fields, none
 * longer than KV_SMALL_LEN) are a chain through the entries' next fields
 * in insertion order (`list`), as redis's listpack keeps them; larger
 * ones a B-tree (`tree`, btree.c on this collection's root and count).
 * A list (list.c) is a deque of chunks from `head` to `tail`, each
 * holding up to KV_LCHUNK elements (entries with no key bytes).  A
 * sorted set (zset.c) is both: a B-tree of its members (`tree`: member
 * -> an entry whose value is the score) and a skiplist in (score,
 * member) order from `zhead`. */
enum kv_enc { KV_ENC_LIST = 1, KV_ENC_TREE = 2, KV_ENC_CHUNKS = 3,
	      KV_ENC_SKIP = 4 };
#define KV_SMALL_MAX 128u
#define KV_SMALL_LEN 64u

struct kvcoll {
	uint64_t count;                /* elements */
	uint32_t type;                 /* enum kv_type, the key entry's */
	uint32_t enc;                  /* enum kv_enc */
	kvent_ptr list;
	btnode_ptr tree;
	kvlchunk_ptr head;             /* a list's first chunk */
	kvlchunk_ptr tail;             /* ... and its last */
	kvzn32_ptr zhead;              /* a sorted set's skiplist head */
};

/* A list's chunk: elements item[lo..hi) in order, never empty while
 * linked.  next is strong, prev weak (a strong one would make a cycle:
 * never freed).  A push at the left end fills a new chunk from its
 * top, one at the right from its bottom, so a push writes one slot and
 * lo or hi, never shifts. */
#define KV_LCHUNK 60u                 /* 512 bytes a chunk */

struct kvlchunk {
	kvlchunk_ptr next;
	kvlchunk_weak prev;
	uint32_t lo, hi;
	kvent_ptr item[KV_LCHUNK];
};

/* A sorted set's skiplist node (zset.c): one object per member, of the
 * type whose capacity (1, 2, 4, ... 32 levels) fits its level count.
 * next[i] is strong (a node is held by each level that links it: no
 * cycle), span[i] the ranks next[i] skips, prev weak.  The head is a
 * kvzn32 with no entry; its nlev is the list's level. */
#define KV_ZMAXLEVEL 32
#define KV_ZNODE(K)                                                          \
	struct kvzn##K {                                                     \
		kvent_ptr ent;         /* the member's entry */              \
		nvh_weak prev;                                               \
		double score;                                                \
		uint32_t cap;          /* K */                               \
		uint32_t nlev;                                               \
		nvh_oid next[K];                                             \
		uint64_t span[K];                                            \
	}
KV_ZNODE(1);
KV_ZNODE(2);
KV_ZNODE(4);
KV_ZNODE(8);
KV_ZNODE(16);
KV_ZNODE(32);

/* ---- hash map (hash.c): linear hashing ---- */
#define KV_SEG_BITS 10
#define KV_SEG (1u << KV_SEG_BITS)     /* buckets per segment */
#define KV_DIR 16384u                  /* segments: 16M buckets at most */

struct kvseg {
	kvent_ptr b[KV_SEG];
};

struct kvdir {
	kvseg_ptr seg[KV_DIR];
};

/* Buckets: n0 << level, plus `split` already split in this round. */
struct kvhash {
	uint64_t count;
	uint64_t level;
	uint64_t split;
	uint64_t seed;
	uint64_t n0;                   /* a power of two <= KV_SEG */
	kvdir_ptr dir;
};

/* ---- B-tree (btree.c) ---- */
#define BT_T 16                        /* minimum degree */
#define BT_MAXK (2 * BT_T - 1)         /* keys per node */

struct btnode {
	uint32_t n;                    /* keys */
	uint32_t leaf;
	uint64_t pfx[BT_MAXK];         /* first 8 key bytes, big-endian */
	kvent_ptr item[BT_MAXK];
	btnode_ptr kid[BT_MAXK + 1];
};

#define KV_MAGIC 0x31564b564e5631ull /* "1VNVKV1" */
#define KV_VERSION 3 /* 2: entries carry expiry and checksums; 3: and a
		      * type and a collection */

struct kvroot {
	uint64_t magic;
	uint32_t index;                /* enum kv_index */
	uint32_t version;
	kvhash_ptr hash;
	btnode_ptr tree;
	uint64_t bt_count;             /* keys in the B-tree */
	uint64_t expires;              /* keys with an expiry time */
};

struct kv {
	nvh_pool *pool;
	struct kvroot *root;
	enum kv_index index;
	char *path;
	unsigned hash_buckets;         /* for a new hash index */
	uint64_t hash_seed;
	uint64_t damaged;              /* damaged entries met (DRAM) */
	uint64_t bad_off;              /* the last one's offset */
	uint64_t max_ents;             /* entries the pool could hold */
	int64_t now_fixed;             /* kv_set_time (tests), else 0 */
	int scan_expired;              /* kv_expire_step's scan */
	uint32_t visiting;             /* the type kv_visit hands to fn */
	void (*check_fn)(void *arg, uint64_t off, const char *what);
	void *check_arg;               /* kv_check's */
	/* btree.c works on this tree: the store's (root->tree, bt_count) or
	 * a collection's (coll.c swaps them in for a call) */
	btnode_ptr *bt_root;
	uint64_t *bt_count;
	/* btree.c: SCAN's exact resume keys (DRAM, one block), or NULL */
	struct kv_bt_cursors *bt_cursors;
	/* btree.c: B-tree nodes read by the calls since open (kv_stats and
	 * INFO's btree_nodes_read; the count for kv_stats not among them) */
	uint64_t bt_reads;
};

/* kv.c: a new entry (in tx) for key k and value v (v2 appended if any). */
kvent_ptr kv_ent_new(nvh_tx *tx, struct kv *kv, uint64_t hash, const void *k,
		     size_t kl, const void *v, size_t vl, const void *v2,
		     size_t vl2, int64_t expire);
/* kv.c: visit entry e for a scan: a damaged entry is counted and skipped
 * (never shown), an expired one skipped; else fn's result. */
int kv_visit(struct kv *kv, kvent_ptr e, kv_fn fn, void *arg);
/* kv.c: note a damaged entry met at e (kv->damaged, the message) */
int kv_damaged(struct kv *kv, kvent_ptr e, const char *what);
/* kv.c: ... a damaged index object (`kind`: "B-tree node", say) at oid
 * off; -EIO.  what is printf-formatted. */
int kv_index_damaged(struct kv *kv, const char *kind, uint64_t off,
		     const char *what, ...)
	__attribute__((format(printf, 4, 5)));

/* kv.c, for coll.c: the message (returns -code); a failed commit's
 * error as the caller's (a full pool says why); the live entry of k
 * (0, -ENOENT, -EIO; *raw: even if expired); keys with an expiry += d;
 * the size limits; the key's hash in the index; link a new entry. */
int kv_err(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int kv_failed(struct kv *kv, int rc, const char *op);
int kv_lookup(struct kv *kv, const void *k, size_t kl, struct kvent **pp,
	      struct kvent **raw);
int kv_count_expires(nvh_tx *tx, struct kv *kv, int d);
int kv_check_sizes(const char *op, size_t kl, size_t vl);
uint64_t kv_key_hash(struct kv *kv, const void *k, size_t kl);
int kv_index_put(nvh_tx *tx, struct kv *kv, kvent_ptr e, int *replaced);

/* coll.c, for kv_check (kv->check_fn set): visit every element of the
 * collection of entry p (damage reported through check_fn). */
int kv_coll_check(struct kv *kv, const struct kvent *p);
/* list.c: the same for a list. */
int kv_list_check(struct kv *kv, kvcoll_ptr cp, struct kvcoll *c);

/* zset.c: the same for a sorted set. */
int kv_zset_check(struct kv *kv, kvcoll_ptr cp, struct kvcoll *c);

/* btree.c on collection c for the call between kv_tree_on and
 * kv_tree_off */
struct kv_tree_saved {
	btnode_ptr *root;
	uint64_t *count;
};

static inline void
kv_tree_on(struct kv *kv, struct kvcoll *c, struct kv_tree_saved *s)
{
	s->root = kv->bt_root;
	s->count = kv->bt_count;
	kv->bt_root = &c->tree;
	kv->bt_count = &c->count;
}

static inline void
kv_tree_off(struct kv *kv, const struct kv_tree_saved *s)
{
	kv->bt_root = s->root;
	kv->bt_count = s->count;
}

/* coll.c, for list.c: the live collection of `type` at key k: 0 with
 * *cp; -ENOENT (none), -EMEDIUMTYPE (another type), -EIO (damaged,
 * reported).  *ep and *raw as kv_lookup's (raw: even if expired). */
int kv_coll_of(struct kv *kv, const void *k, size_t kl, enum kv_type type,
	       struct kvent **ep, struct kvent **raw, struct kvcoll **cp);
/* A new empty collection at key k (replacing the expired entry raw, if
 * any), in tx; it must gain an element in the same transaction. */
int kv_coll_new(nvh_tx *tx, struct kv *kv, const void *k, size_t kl,
		const struct kvent *raw, enum kv_type type, struct kvcoll **cp);
int kv_coll_damaged(struct kv *kv, kvcoll_ptr cp, const struct kvcoll *c);
/* End a write's transaction: -EIO (damage, reported), the conditions
 * (-EEXIST, -ENOENT, -EMEDIUMTYPE, -ERANGE) and a caller's fn out of
 * DRAM (-ENOMEM: a pop's reply) abort with nothing changed;
 * else commit, whose failure is the result. */
int kv_coll_end_tx(struct kv *kv, nvh_tx *tx, int rc, const char *op);

/* Deeper than this, an index is damaged (a B-tree of 2^64 keys is 16
 * levels deep): every walk down is bounded by it. */
#define KV_MAX_DEPTH 64

static inline struct kvent *
kv_ent(struct kv *kv, kvent_ptr e)
{
	return kvent_d(kv->pool, e);
}

/* e holds key k (a damaged entry holds no key: kv_ent_sane first). */
static inline int
kv_ent_is(const struct kvent *e, uint64_t hash, const void *k, size_t kl)
{
	return e->hash == hash && e->klen == kl && kv_ent_sane(e) &&
	       memcmp(e->data, k, kl) == 0;
}

/* memcmp order, shorter first on a tie */
static inline int
kv_keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static inline uint64_t
kv_prefix(const void *k, size_t kl)
{
	const unsigned char *p = k;
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++)
		v = v << 8 | (i < kl ? p[i] : 0);
	return v;
}

/* What the indexes implement.  `find` sets *e to the entry or null (0),
 * or fails with -EIO on a damaged index (reported); `put` links entry e
 * replacing any entry with the same key (*replaced tells); `del` unlinks
 * the key's entry (-ENOENT if none).  All inside tx. */
int kv_hash_create(nvh_tx *tx, struct kv *kv);
int kv_hash_find(struct kv *kv, uint64_t h, const void *k, size_t kl,
		 kvent_ptr *e);
int kv_hash_put(nvh_tx *tx, struct kv *kv, kvent_ptr e, int *replaced);
/* Snapshot, in one nvh_tx_addv, what writes of keys with these hashes
 * may change in the map (buckets, chains, the splits due). */
struct kv_prep;
int kv_hash_prepare(struct kv *kv, struct kv_prep *p, const uint64_t *hash,
		    size_t n);
/* Ranges to snapshot in one nvh_tx_addv (kv_prepare's) */
struct kv_prep {
	struct nvh_tx_range *v;
	size_t n, cap;
	int oom;
};
void kv_prep_add(struct kv_prep *p, void *addr, size_t len);
/* coll.c: add what writes to the collections at these keys (entries
 * found by the hash index) may change: a collection's header, a list's
 * end chunks, a small hash's or set's chain links, a sorted set's
 * skiplist head. */
void kv_coll_prepare(struct kv *kv, struct kv_prep *p, const uint64_t *hash,
		     const void *const *k, const size_t *kl, size_t n);
/* *link := the link (bucket head or chain field) that holds the key's
 * entry: 0, -ENOENT or -EIO; kv_hash_unlink removes the entry it holds. */
int kv_hash_link(struct kv *kv, uint64_t h, const void *k, size_t kl,
		 kvent_ptr **link);
int kv_hash_unlink(nvh_tx *tx, struct kv *kv, kvent_ptr *link);
uint64_t kv_hash_count(struct kv *kv);
int kv_hash_scan(struct kv *kv, kv_fn fn, void *arg);
/* fn for one entry picked at random from seed, each about equally
 * likely (a random bucket, then a random slot of PICK_CHAIN, again when
 * past the chain); as kv_bt_random, no call for a damaged or expired
 * pick or an empty map. */
int kv_hash_random(struct kv *kv, uint64_t seed, kv_fn fn, void *arg);
uint64_t kv_hash_scan_step(struct kv *kv, uint64_t cursor, size_t count,
			   kv_fn fn, void *arg);
void kv_hash_stats(struct kv *kv, struct kv_stats *st);
uint64_t kv_hash_of(struct kv *kv, const void *k, size_t kl);

int kv_bt_create(nvh_tx *tx, struct kv *kv);
int kv_bt_find(struct kv *kv, const void *k, size_t kl, kvent_ptr *e);
int kv_bt_put(nvh_tx *tx, struct kv *kv, kvent_ptr e, int *replaced);
int kv_bt_del(nvh_tx *tx, struct kv *kv, const void *k, size_t kl);
uint64_t kv_bt_count(struct kv *kv);
/* fn for one entry picked at random from seed, each entry equally
 * likely: a descent from the root picks a slot of each node as if the
 * nodes below the root were full, and starts again when the slot is
 * empty (rejection sampling), so it reads about depth / fill^(depth-1)
 * nodes (fill: how full the nodes are, 0.5-1; 10-30 reads for 10^5-10^7
 * entries).  A damaged entry there is counted and fn not called; so is
 * a tree so sparse that 256 attempts all miss. */
int kv_bt_random(struct kv *kv, uint64_t seed, kv_fn fn, void *arg);
int kv_bt_scan(struct kv *kv, const void *from, size_t fl, const void *to,
	       size_t tl, kv_fn fn, void *arg);
uint64_t kv_bt_scan_step(struct kv *kv, uint64_t cursor, size_t count,
			 kv_fn fn, void *arg);
void kv_bt_stats(struct kv *kv, struct kv_stats *st);

/* Registered by kv_open. */
extern const struct nvh_type *const kv_types[];

#endif
