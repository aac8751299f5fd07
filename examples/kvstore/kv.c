/*
 * kv.c -- the key-value store: the pool and its root object, entries, and
 * the operations on top of the two indexes (hash.c, btree.c).
 *
 * Every write is one transaction: a new entry (key and value in one
 * object, no snapshot needed) linked in place of the old one, whose count
 * then drops to zero and frees it at commit.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <time.h>

#include "kv_int.h"

#define LAYOUT "nvkv"

NVH_TYPE_DEFINE(kvent, 0, NVH_PTR(kvent, next, kvent)
		NVH_PTR(kvent, val, kvcoll));
NVH_TYPE_DEFINE(kvcoll, 0, NVH_PTR(kvcoll, list, kvent)
		NVH_PTR(kvcoll, tree, btnode) NVH_PTR(kvcoll, head, kvlchunk)
		NVH_PTR(kvcoll, tail, kvlchunk) NVH_PTR(kvcoll, zhead, kvzn32));
NVH_TYPE_DEFINE(kvroot, 0, NVH_PTR(kvroot, hash, kvhash)
		NVH_PTR(kvroot, tree, btnode));

extern const struct nvh_type kvseg_type, kvdir_type, kvhash_type,
	btnode_type, kvlchunk_type, kvzn1_type, kvzn2_type, kvzn4_type,
	kvzn8_type, kvzn16_type, kvzn32_type;

const struct nvh_type *const kv_types[] = {
	&kvent_type, &kvseg_type, &kvdir_type, &kvhash_type, &btnode_type,
	&kvroot_type, &kvcoll_type, &kvlchunk_type, &kvzn1_type, &kvzn2_type,
	&kvzn4_type, &kvzn8_type, &kvzn16_type, &kvzn32_type, NULL,
};

/* The last error of this thread: our own message, or nvheap's. */
static __thread char errbuf[1024];

const char *
kv_errmsg(void)
{
	return errbuf;
}

/* Set the message; returns -code. */
int __attribute__((format(printf, 2, 3)))
kv_err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	errno = code;
	return -code;
}

/* nvheap failed with rc: keep its message. */
static int
nvh_failed(int rc)
{
	snprintf(errbuf, sizeof(errbuf), "%s", nvh_errormsg());
	return rc;
}

const char *
kv_index_name(enum kv_index i)
{
	return i == KV_HASH ? "hash" : i == KV_BTREE ? "btree" : "?";
}

nvh_pool *
kv_pool(struct kv *kv)
{
	return kv->pool;
}

enum kv_index
kv_index_kind(struct kv *kv)
{
	return kv->index;
}

/* n bytes in MiB, for messages: "256 MiB", "31.8 MiB". */
static const char *
mib(char *buf, size_t len, uint64_t n)
{
	if (n % (1u << 20) == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", n >> 20);
	else
		snprintf(buf, len, "%.1f MiB", (double)n / (1u << 20));
	return buf;
}

/* A failed write: say what and where; a full pool says why (a fixed
 * size, its maximum, the file system when it tried to grow) and what to
 * do.  Every such failure changed nothing (the transaction rolled back)
 * and is -ENOSPC, which the server answers with -OOM. */
int
kv_failed(struct kv *kv, int rc, const char *op)
{
	const char *m = nvh_errormsg();
	/* nvheap says ENOMEM, "out of space", when the heap has no room
	 * and the pool cannot grow; ENOSPC or EFBIG, "growing the pool",
	 * when the file could not be extended */
	int grow_failed = (rc == -ENOSPC || rc == -EFBIG) &&
			  strstr(m, "growing the pool");
	if (!grow_failed && rc != -ENOSPC &&
	    (rc != -ENOMEM || (!strstr(m, "out of space") &&
			       !strstr(m, "than the whole heap"))))
		return rc ? nvh_failed(rc) : 0;
	char why[512];
	snprintf(why, sizeof(why), "%s", m);
	struct nvh_pool_info i;
	if (nvh_pool_info(kv->pool, &i))
		memset(&i, 0, sizeof(i));
	char size[32], max[32];
	mib(size, sizeof(size), i.pool_size);
	const char *reason = !grow_failed ? NULL
			     : rc == -EFBIG ? "the file reached its size limit "
					      "(ulimit -f)"
					    : "the file system is full";
	/* The address space reserved at open is as big as the file system
	 * was (or the maximum): a pool that reached it with the file
	 * system (nearly) full filled it. */
	struct statvfs v;
	if (!reason && i.grows && strstr(why, "reserved at open") &&
	    statvfs(kv->path, &v) == 0 &&
	    (uint64_t)v.f_bavail * v.f_frsize < (1u << 20))
		reason = "the file system is full";
	if (reason)
		return kv_err(ENOSPC, "%s: %s: the pool (%s) is full and cannot "
			      "grow: %s (%s); nothing was changed", op,
			      kv->path, size, reason, why);
	if (!i.grows)
		return kv_err(ENOSPC, "%s: %s: the pool (%s, a fixed size) is "
			      "full; nothing was changed. Make it bigger with "
			      "`nvheap grow %s SIZE`, or let it grow: open it "
			      "once with --max-size unlimited (`nvkv "
			      "--max-size unlimited %s stats`)", op, kv->path,
			      size, kv->path, kv->path);
	if (strstr(why, "its maximum size"))
		return kv_err(ENOSPC, "%s: %s: the pool (%s) is full: it "
			      "reached its maximum size (%s); nothing was "
			      "changed. Raise the maximum with --max-size "
			      "(`nvkv --max-size <bigger> %s stats`), or grow "
			      "it with `nvheap grow %s SIZE`", op, kv->path,
			      size, mib(max, sizeof(max), i.max_size),
			      kv->path, kv->path);
	/* the address space reserved at open, or the largest pool */
	return kv_err(ENOSPC, "%s: %s: the pool (%s) is full and cannot grow "
		      "further now (%s); nothing was changed", op, kv->path,
		      size, why);
}

static int
index_create(nvh_tx *tx, struct kv *kv, enum kv_index index)
{
	return index == KV_HASH ? kv_hash_create(tx, kv) : kv_bt_create(tx, kv);
}

/* The nvheap options of kv_open: o's, with its growth policy; for a
 * creation (size not NULL) the defaults filled in, and *size. */
static struct nvh_opts
pool_opts(const struct kv_opts *o, uint64_t *size)
{
	struct nvh_opts n = {0};
	if (o->nvh)
		n = *o->nvh;
	if (o->max_size)
		n.max_size = o->max_size;
	if (o->grow_step)
		n.grow_step = o->grow_step;
	if (!size)
		return n; /* an existing pool keeps its policy unless asked */
	if (!n.max_size)
		n.max_size = NVH_GROW_UNLIMITED;
	*size = o->size;
	if (!*size)
		*size = n.max_size == NVH_GROW_OFF ? KV_FIXED_SIZE
			: n.max_size < KV_INITIAL_SIZE ? n.max_size
						       : KV_INITIAL_SIZE;
	return n;
}

struct kv *
kv_open(const char *path, const struct kv_opts *o)
{
	struct kv_opts def = {.index = KV_ANY, .size = 0, .create = 1};
	if (!o)
		o = &def;
	errbuf[0] = 0;
	if (o->hash_buckets && (o->hash_buckets > KV_SEG ||
				(o->hash_buckets & (o->hash_buckets - 1)))) {
		kv_err(EINVAL, "kv_open: hash_buckets must be a power of two "
		       "<= %u", KV_SEG);
		return NULL;
	}
	struct kv *kv = calloc(1, sizeof(*kv));
	if (!kv || !(kv->path = strdup(path))) {
		free(kv);
		kv_err(ENOMEM, "kv_open: out of memory");
		return NULL;
	}
	kv->hash_buckets = o->hash_buckets;
	kv->hash_seed = o->hash_seed;
	struct nvh_opts no = pool_opts(o, NULL);
	kv->pool = nvh_open(path, LAYOUT, &no);
	int created = 0;
	if (!kv->pool && errno == ENOENT && o->create) {
		uint64_t size;
		no = pool_opts(o, &size);
		kv->pool = nvh_create(path, LAYOUT, size, &no);
		created = kv->pool != NULL;
	}
	if (!kv->pool)
		goto fail;
	for (int i = 0; kv_types[i]; i++)
		if (nvh_type_register(kv->pool, kv_types[i]))
			goto fail;
	kvroot_ptr r = NVH_ROOT(kv->pool, kvroot);
	if (NVH_IS_NULL(r))
		goto fail;
	kv->root = kvroot_d(kv->pool, r);
	if (kv->root) { /* btree.c's tree: the store's */
		kv->bt_root = &kv->root->tree;
		kv->bt_count = &kv->root->bt_count;
	}
	if (!kv->root) {
		kv_err(NVH_ECORRUPT, "kv_open: %s: the root object is not a "
		       "key-value store's root", path);
		goto fail;
	}
	struct nvh_pool_info info;
	/* a chain longer than this cycles (every entry is an object): as
	 * many as the pool could hold at the most it can grow to in this
	 * run (the address space reserved at open) */
	kv->max_ents = nvh_pool_info(kv->pool, &info) ? UINT64_MAX
		       : (info.reserved_size > info.pool_size
				  ? info.reserved_size : info.pool_size) /
				 sizeof(struct kvent);
	if (kv->root->magic != KV_MAGIC) {
		if (!created && kv->root->magic != 0) {
			kv_err(NVH_ECORRUPT, "kv_open: %s: the root is not a "
				    "key-value store's", path);
			goto fail;
		}
		enum kv_index index = o->index ? o->index : KV_HASH;
		nvh_tx *tx = nvh_tx_begin(kv->pool);
		if (!tx)
			goto fail;
		nvh_tx_add(tx, kv->root, 16);
		kv->root->magic = KV_MAGIC;
		kv->root->index = index;
		kv->root->version = KV_VERSION;
		index_create(tx, kv, index);
		if (nvh_tx_commit(tx))
			goto fail;
	}
	if (kv->root->version != KV_VERSION) {
		kv_err(EPROTO, "kv_open: %s: a store of format %u (this nvkv "
		       "reads format %u): dump it with the nvkv that made it "
		       "and load the dump into a new pool", path,
		       kv->root->version, KV_VERSION);
		goto fail;
	}
	kv->index = kv->root->index;
	if (kv->index != KV_HASH && kv->index != KV_BTREE) {
		kv_err(NVH_ECORRUPT, "kv_open: %s: unknown index kind %u",
			    path, kv->root->index);
		goto fail;
	}
	if (o->index && o->index != kv->index) {
		kv_err(EINVAL, "kv_open: %s: the store was created with a %s "
			    "index, not %s", path, kv_index_name(kv->index),
			    kv_index_name(o->index));
		goto fail;
	}
	return kv;
fail:;
	int e = errno;
	if (!errbuf[0])
		nvh_failed(0); /* nvheap said what */
	if (kv->pool)
		nvh_close(kv->pool);
	free(kv->path);
	free(kv);
	errno = e;
	return NULL;
}

int64_t
kv_now(struct kv *kv)
{
	if (kv->now_fixed)
		return kv->now_fixed;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
kv_set_time(struct kv *kv, int64_t ms)
{
	kv->now_fixed = ms;
}

static int
expired(struct kv *kv, const struct kvent *p)
{
	return p->expire && p->expire <= kv_now(kv);
}

int
kv_damaged(struct kv *kv, kvent_ptr e, const char *what)
{
	/* an oid carries the pool's tag in its top 16 bits: the file
	 * offset is the rest */
	uint64_t off = e.oid.off & ((1ull << 48) - 1);
	kv->damaged++;
	kv->bad_off = off;
	if (kv->check_fn)
		kv->check_fn(kv->check_arg, off, what);
	return kv_err(EIO, "%s: the entry at pool offset 0x%" PRIx64 " is "
		      "damaged (%s) and is not used; `nvkv %s check` lists "
		      "the damaged entries", kv->path, off, what,
		      kv->path);
}

int
kv_index_damaged(struct kv *kv, const char *kind, uint64_t off,
		 const char *what, ...)
{
	char w[256];
	va_list ap;
	va_start(ap, what);
	vsnprintf(w, sizeof(w), what, ap);
	va_end(ap);
	off &= (1ull << 48) - 1; /* without the pool's tag */
	kv->damaged++;
	kv->bad_off = off;
	if (kv->check_fn) {
		char cw[300];
		snprintf(cw, sizeof(cw), "%s: %s", kind, w);
		kv->check_fn(kv->check_arg, off, cw);
	}
	return kv_err(EIO, "%s: the %s at pool offset 0x%" PRIx64 " is "
		      "damaged (%s): the keys under it cannot be reached; "
		      "`nvkv %s dump` saves the others", kv->path, kind, off,
		      w, kv->path);
}

/* NULL if the entry's key can be shown, else what is wrong. */
static const char *
key_damage(const struct kvent *p)
{
	if (!kv_ent_sane(p))
		return "header checksum";
	if (XXH3_64bits(p->data, p->klen) != p->ksum)
		return "key checksum";
	return NULL;
}

static const char *
value_damage(const struct kvent *p)
{
	const char *w = key_damage(p);
	if (!w && p->type > KV_T_MAX)
		w = "unknown type";
	if (!w && p->type != KV_T_STRING && NVH_IS_NULL(p->val))
		w = "a collection with no elements object";
	if (!w && XXH3_64bits(p->data + p->klen, p->vlen) != p->vsum)
		w = "value checksum";
	return w;
}

int
kv_visit(struct kv *kv, kvent_ptr e, kv_fn fn, void *arg)
{
	const struct kvent *p = kv_ent(kv, e);
	/* the value is checked too: scans hand it out (dump) */
	const char *w = !p ? "not an entry" : value_damage(p);
	if (w) {
		kv_damaged(kv, e, w);
		return 0;
	}
	if (kv->check_fn) { /* kv_check: a collection's elements too */
		if (p->type != KV_T_STRING)
			(void)kv_coll_check(kv, p); /* (damage: reported) */
		return 0;
	}
	if (kv->scan_expired) /* kv_expire_step: only the expired ones */
		return expired(kv, p) ? fn(arg, p->data, p->klen, NULL, 0) : 0;
	if (expired(kv, p))
		return 0;
	kv->visiting = p->type;
	return fn(arg, p->data, p->klen, p->data + p->klen, p->vlen);
}

enum kv_type
kv_visit_type(struct kv *kv)
{
	return (enum kv_type)kv->visiting;
}

int
kv_close(struct kv *kv)
{
	if (!kv)
		return 0;
	int rc = nvh_close(kv->pool);
	free(kv->path);
	free(kv->bt_cursors);
	free(kv);
	return rc;
}

kvent_ptr
kv_ent_new(nvh_tx *tx, struct kv *kv, uint64_t hash, const void *k,
	   size_t kl, const void *v, size_t vl, const void *v2, size_t vl2,
	   int64_t expire)
{
	kvent_ptr e = NVH_TX_ALLOC_SIZE(tx, kvent,
					sizeof(struct kvent) + kl + vl + vl2);
	struct kvent *p = kv_ent(kv, e);
	if (!p)
		return e;
	p->hash = hash;
	p->klen = (uint32_t)kl;
	p->vlen = vl + vl2;
	if (kl) /* a list element's entry has no key (k may be NULL) */
		memcpy(p->data, k, kl);
	if (vl)
		memcpy(p->data + kl, v, vl);
	if (vl2)
		memcpy(p->data + kl + vl, v2, vl2);
	p->expire = expire;
	p->ksum = XXH3_64bits(p->data, kl);
	p->vsum = XXH3_64bits(p->data + kl, vl + vl2);
	p->msum = kv_ent_msum(p);
	return e;
}

uint64_t
kv_key_hash(struct kv *kv, const void *k, size_t kl)
{
	return kv->index == KV_HASH ? kv_hash_of(kv, k, kl) : 0;
}

int
kv_index_put(nvh_tx *tx, struct kv *kv, kvent_ptr e, int *replaced)
{
	return kv->index == KV_HASH ? kv_hash_put(tx, kv, e, replaced)
				    : kv_bt_put(tx, kv, e, replaced);
}

static int
find(struct kv *kv, const void *k, size_t kl, kvent_ptr *e)
{
	return kv->index == KV_HASH
	       ? kv_hash_find(kv, kv_hash_of(kv, k, kl), k, kl, e)
	       : kv_bt_find(kv, k, kl, e);
}

/* The live entry of key k: 0 and *pp, -ENOENT (none, or expired), or
 * -EIO (damaged).  *raw (if not NULL) gets the entry even when it has
 * expired. */
int
kv_lookup(struct kv *kv, const void *k, size_t kl, struct kvent **pp,
	  struct kvent **raw)
{
	*pp = NULL;
	if (raw)
		*raw = NULL;
	kvent_ptr e;
	int rc = find(kv, k, kl, &e);
	if (rc)
		return rc;
	if (NVH_IS_NULL(e))
		return -ENOENT;
	struct kvent *p = kv_ent(kv, e);
	const char *w = p ? key_damage(p) : "not an entry";
	if (w)
		return kv_damaged(kv, e, w);
	if (!w && p->type > KV_T_MAX)
		w = "unknown type";
	if (w)
		return kv_damaged(kv, e, w);
	if (raw)
		*raw = p;
	if (expired(kv, p))
		return -ENOENT;
	*pp = p;
	return 0;
}

/* Keys with an expiry time: += d, in tx. */
int
kv_count_expires(nvh_tx *tx, struct kv *kv, int d)
{
	if (!d)
		return 0;
	int rc = nvh_tx_add(tx, &kv->root->expires, sizeof(uint64_t));
	if (!rc)
		kv->root->expires += (uint64_t)(int64_t)d;
	return rc;
}

int
kv_check_sizes(const char *op, size_t kl, size_t vl)
{
	if (kl > KV_KEY_MAX)
		return kv_err(E2BIG, "%s: key of %zu bytes (at most %u)", op,
				   kl, KV_KEY_MAX);
	if (vl > KV_VAL_MAX)
		return kv_err(E2BIG, "%s: value of %zu bytes (at most %u)",
				   op, vl, KV_VAL_MAX);
	return 0;
}

/* Link a new entry for k = v (+ v2) in one transaction. */
static int
put2(struct kv *kv, const void *k, size_t kl, const void *v, size_t vl,
     const void *v2, size_t vl2, const struct kv_setopt *o, const char *op)
{
	int rc = kv_check_sizes(op, kl, vl + vl2);
	if (rc)
		return rc;
	struct kvent *cur, *raw;
	rc = kv_lookup(kv, k, kl, &cur, &raw);
	if (rc && rc != -ENOENT)
		return rc;
	if (o->nx && cur)
		return -EEXIST;
	if (o->xx && !cur)
		return -ENOENT;
	int64_t expire = o->keepttl ? (cur ? cur->expire : 0) : o->expire;
	int d = (expire != 0) - (raw && raw->expire != 0);
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx)
		return nvh_failed(-errno);
	kvent_ptr e = kv_ent_new(tx, kv, kv_key_hash(kv, k, kl), k, kl, v, vl, v2,
				 vl2, expire);
	int replaced = 0;
	if (!NVH_IS_NULL(e))
		rc = kv_index_put(tx, kv, e, &replaced);
	if (rc == -EIO) { /* a damaged index: nothing is changed */
		nvh_tx_abort(tx);
		return rc;
	}
	kv_count_expires(tx, kv, d);
	return kv_failed(kv, nvh_tx_commit(tx), op);
}

int
kv_prepare(struct kv *kv, const void *const *k, const size_t *kl, size_t n)
{
	if (kv->index != KV_HASH || n == 0)
		return 0; /* the B-tree's path depends on the writes before */
	uint64_t hs[64], *h = n <= 64 ? hs : malloc(n * sizeof(*h));
	if (!h)
		return kv_err(ENOMEM, "prepare: out of memory");
	for (size_t i = 0; i < n; i++)
		h[i] = kv_hash_of(kv, k[i], kl[i]);
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx) {
		if (h != hs)
			free(h);
		return nvh_failed(-errno);
	}
	/* Only the snapshots can fail the caller's transaction; a damaged
	 * map or no memory for the list just skips them (the writes then
	 * snapshot as they go, and report the damage themselves). */
	struct kv_prep p = {0};
	if (!kv_hash_prepare(kv, &p, h, n)) {
		kv_coll_prepare(kv, &p, h, k, kl, n);
		if (!p.oom)
			(void)nvh_tx_addv(tx, p.v, p.n);
	}
	free(p.v);
	if (h != hs)
		free(h);
	return kv_failed(kv, nvh_tx_commit(tx), "prepare");
}

int
kv_put(struct kv *kv, const void *k, size_t kl, const void *v, size_t vl)
{
	struct kv_setopt o = {0};
	return put2(kv, k, kl, v, vl, NULL, 0, &o, "put");
}

int
kv_set(struct kv *kv, const void *k, size_t kl, const void *v, size_t vl,
       const struct kv_setopt *o)
{
	return put2(kv, k, kl, v, vl, NULL, 0, o, "set");
}

int
kv_put_if(struct kv *kv, const void *k, size_t kl, const void *v, size_t vl,
	  int nx, int xx)
{
	struct kv_setopt o = {.nx = nx, .xx = xx};
	return put2(kv, k, kl, v, vl, NULL, 0, &o, "put");
}

int
kv_get_ex(struct kv *kv, const void *k, size_t kl, const void **v,
	  size_t *vl, int64_t *expire)
{
	struct kvent *p;
	if (kl > KV_KEY_MAX)
		return -ENOENT;
	int rc = kv_lookup(kv, k, kl, &p, NULL);
	if (rc)
		return rc;
	if (p->type != KV_T_STRING)
		return kv_wrongtype();
	if (XXH3_64bits(p->data + p->klen, p->vlen) != p->vsum)
		return kv_damaged(kv, (kvent_ptr){nvh_oid_of(kv->pool, p)},
				  "value checksum");
	*v = p->data + p->klen;
	*vl = p->vlen;
	if (expire)
		*expire = p->expire;
	return 0;
}

int
kv_wrongtype(void)
{
	return kv_err(EMEDIUMTYPE, "WRONGTYPE Operation against a key "
		      "holding the wrong kind of value");
}

int
kv_key_type(struct kv *kv, const void *k, size_t kl, enum kv_type *type,
	    int64_t *expire)
{
	struct kvent *p;
	int rc = kl > KV_KEY_MAX ? -ENOENT : kv_lookup(kv, k, kl, &p, NULL);
	if (!rc) {
		*type = (enum kv_type)p->type;
		if (expire)
			*expire = p->expire;
	}
	return rc;
}

int
kv_get(struct kv *kv, const void *k, size_t kl, const void **v, size_t *vl)
{
	return kv_get_ex(kv, k, kl, v, vl, NULL);
}

/* Delete key k, live or expired: 0 if it was live, -ENOENT if it was
 * absent or had expired (and is now gone). */
static int
del_key(struct kv *kv, const void *k, size_t kl)
{
	if (kl > KV_KEY_MAX)
		return -ENOENT;
	struct kvent *cur, *raw;
	int rc = kv_lookup(kv, k, kl, &cur, &raw);
	if (!raw)
		return rc;
	/* hash: one walk finds the link to change, before the transaction */
	kvent_ptr *link = NULL;
	if (kv->index == KV_HASH) {
		rc = kv_hash_link(kv, kv_hash_of(kv, k, kl), k, kl, &link);
		if (rc)
			return rc;
	}
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx)
		return nvh_failed(-errno);
	int drc = kv->index == KV_HASH ? kv_hash_unlink(tx, kv, link)
				       : kv_bt_del(tx, kv, k, kl);
	if (!drc)
		drc = kv_count_expires(tx, kv, -(raw->expire != 0));
	if (drc == -ENOENT || drc == -EIO) { /* -EIO: damaged, reported */
		nvh_tx_abort(tx);
		return drc;
	}
	drc = kv_failed(kv, nvh_tx_commit(tx), "del");
	return drc ? drc : cur ? 0 : -ENOENT;
}

int
kv_del(struct kv *kv, const void *k, size_t kl)
{
	return del_key(kv, k, kl);
}

int
kv_rename(struct kv *kv, const void *k, size_t kl, const void *d, size_t dl,
	  int nx)
{
	struct kvent *p, *dp, *draw;
	int rc = kl > KV_KEY_MAX ? -ENOENT : kv_lookup(kv, k, kl, &p, NULL);
	if (rc)
		return rc;
	if (kl == dl && !memcmp(k, d, kl))
		return nx ? -EEXIST : 0;
	if ((rc = kv_check_sizes("rename", dl, 0)))
		return rc;
	const char *w = value_damage(p);
	if (w)
		return kv_damaged(kv, (kvent_ptr){nvh_oid_of(kv->pool, p)}, w);
	rc = kv_lookup(kv, d, dl, &dp, &draw);
	if (rc && rc != -ENOENT)
		return rc;
	if (nx && dp)
		return -EEXIST;
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx)
		return nvh_failed(-errno);
	/* the same value (a string's bytes, a collection's pointer: the
	 * collection is not copied) under the new key */
	kvent_ptr e = kv_ent_new(tx, kv, kv_key_hash(kv, d, dl), d, dl,
				 p->data + p->klen, p->vlen, NULL, 0,
				 p->expire);
	struct kvent *n = kv_ent(kv, e);
	int replaced = 0;
	rc = n ? 0 : -ENOSPC;
	if (!rc) {
		n->type = p->type;
		n->msum = kv_ent_msum(n);
		if (!NVH_IS_NULL(p->val))
			rc = NVH_TX_SET(tx, &n->val, p->val);
	}
	if (!rc)
		rc = kv_index_put(tx, kv, e, &replaced);
	if (!rc)
		rc = kv_count_expires(tx, kv, (p->expire != 0) -
				      (draw && draw->expire != 0));
	if (!rc) /* (p stays valid: the old entry is freed at the commit) */
		rc = del_key(kv, k, kl);
	if (rc == -EIO || rc == -ENOENT) {
		nvh_tx_abort(tx);
		return rc == -ENOENT ? -EIO : rc;
	}
	return kv_failed(kv, nvh_tx_commit(tx), "rename");
}

int
kv_set_expire(struct kv *kv, const void *k, size_t kl, int64_t expire)
{
	struct kvent *p;
	int rc = kl > KV_KEY_MAX ? -ENOENT : kv_lookup(kv, k, kl, &p, NULL);
	if (rc)
		return rc;
	if (expire && expire <= kv_now(kv)) { /* already passed: gone now */
		rc = del_key(kv, k, kl);
		return rc == -ENOENT ? 0 : rc;
	}
	if (p->expire == expire)
		return 0;
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx)
		return nvh_failed(-errno);
	/* in place: the expiry and the header sum, one snapshot (they are
	 * adjacent after the data sums) */
	rc = nvh_tx_add(tx, &p->expire, offsetof(struct kvent, data) -
			offsetof(struct kvent, expire));
	if (!rc)
		rc = kv_count_expires(tx, kv, (expire != 0) - (p->expire != 0));
	if (!rc) {
		p->expire = expire;
		p->msum = kv_ent_msum(p);
	}
	return kv_failed(kv, nvh_tx_commit(tx), "expire");
}

uint64_t
kv_expires(struct kv *kv)
{
	return kv->root->expires;
}

/* The expired keys a step found (copies: the deletes move entries). */
struct expired_keys {
	char **k;
	size_t *kl;
	size_t n, cap;
};

static int
note_expired(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct expired_keys *x = arg;
	(void)v, (void)vl;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		char **a = realloc(x->k, cap * sizeof(*a));
		if (a)
			x->k = a;
		size_t *b = realloc(x->kl, cap * sizeof(*b));
		if (b)
			x->kl = b;
		if (!a || !b)
			return 1;
		x->cap = cap;
	}
	if (!(x->k[x->n] = malloc(kl ? kl : 1)))
		return 1;
	memcpy(x->k[x->n], k, kl);
	x->kl[x->n++] = kl;
	return 0;
}

uint64_t
kv_expire_step(struct kv *kv, uint64_t cursor, size_t budget,
	       uint64_t *deleted)
{
	*deleted = 0;
	if (!kv->root->expires)
		return 0;
	struct expired_keys x = {0};
	kv->scan_expired = 1;
	uint64_t next = kv_scan_step(kv, cursor, budget, note_expired, &x);
	kv->scan_expired = 0;
	if (x.n) {
		/* one transaction for the step's deletes (they nest) */
		nvh_tx *tx = nvh_tx_begin(kv->pool);
		int rc = tx ? 0 : -errno;
		for (size_t i = 0; i < x.n && !rc; i++) {
			rc = del_key(kv, x.k[i], x.kl[i]);
			rc = rc == -ENOENT ? 0 : rc;
		}
		if (tx && !rc && !nvh_tx_commit(tx))
			*deleted = x.n;
		else if (tx && rc)
			nvh_tx_abort(tx);
	}
	for (size_t i = 0; i < x.n; i++)
		free(x.k[i]);
	free(x.k);
	free(x.kl);
	return next;
}

static int
check_none(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)arg, (void)k, (void)kl, (void)v, (void)vl;
	return 0;
}

uint64_t
kv_damaged_count(struct kv *kv)
{
	return kv->damaged;
}

long long
kv_check(struct kv *kv, void (*fn)(void *arg, uint64_t off, const char *what),
	 void *arg)
{
	uint64_t before = kv->damaged;
	kv->check_fn = fn;
	kv->check_arg = arg;
	int rc = kv_scan(kv, NULL, 0, NULL, 0, check_none, NULL);
	kv->check_fn = NULL;
	if (rc < 0)
		return rc;
	return (long long)(kv->damaged - before);
}

uint64_t
kv_count(struct kv *kv)
{
	return kv->index == KV_HASH ? kv_hash_count(kv) : kv_bt_count(kv);
}

/* Redis-style strict integer: optional '-', digits, no leading zeros. */
static int
parse_ll(const char *p, size_t n, long long *out)
{
	if (n == 0 || n > 20)
		return -1;
	size_t i = p[0] == '-';
	if (i == n || (p[i] == '0' && n > i + 1) || (i && p[i] == '0'))
		return -1;
	unsigned long long v = 0;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (ULLONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (p[0] == '-') {
		if (v > (unsigned long long)LLONG_MAX + 1)
			return -1;
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN
							      : -(long long)v;
	} else {
		if (v > LLONG_MAX)
			return -1;
		*out = (long long)v;
	}
	return 0;
}

int
kv_incrby(struct kv *kv, const void *k, size_t kl, long long by,
	  long long *out)
{
	const void *v;
	size_t vl;
	long long cur = 0;
	int grc = kv_get(kv, k, kl, &v, &vl);
	if (grc && grc != -ENOENT)
		return grc;
	if (grc == 0 && parse_ll(v, vl, &cur))
		return kv_err(EINVAL, "value is not an integer or out of "
				   "range");
	if ((by > 0 && cur > LLONG_MAX - by) || (by < 0 && cur < LLONG_MIN - by))
		return kv_err(ERANGE, "increment or decrement would "
				   "overflow");
	cur += by;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%lld", cur);
	/* INCR keeps the expiry time, as Redis does */
	struct kv_setopt o = {.keepttl = 1};
	int rc = put2(kv, k, kl, buf, (size_t)n, NULL, 0, &o, "incrby");
	if (!rc)
		*out = cur;
	return rc;
}

int
kv_append(struct kv *kv, const void *k, size_t kl, const void *v, size_t vl,
	  size_t *newlen)
{
	const void *old = NULL;
	size_t ol = 0;
	int grc = kv_get(kv, k, kl, &old, &ol);
	if (grc && grc != -ENOENT)
		return grc;
	/* old points into the pool: put2 reads it before the commit frees
	 * the old entry; APPEND keeps the expiry time */
	struct kv_setopt o = {.keepttl = 1};
	int rc = put2(kv, k, kl, old, ol, v, vl, &o, "append");
	if (!rc)
		*newlen = ol + vl;
	return rc;
}

int
kv_flush(struct kv *kv)
{
	nvh_tx *tx = nvh_tx_begin(kv->pool);
	if (!tx)
		return nvh_failed(-errno);
	/* a new empty index; the old one's count drops to zero and it is
	 * freed, with everything in it, in bounded crash-safe steps */
	index_create(tx, kv, kv->index);
	if (!nvh_tx_add(tx, &kv->root->expires, sizeof(uint64_t)))
		kv->root->expires = 0;
	return kv_failed(kv, nvh_tx_commit(tx), "flush");
}

int
kv_scan(struct kv *kv, const void *from, size_t fl, const void *to,
	size_t tl, kv_fn fn, void *arg)
{
	if (kv->index == KV_HASH) {
		if (from || to)
			return kv_err(EINVAL, "scan: ranges need a btree "
					   "index (this store is a hash map)");
		return kv_hash_scan(kv, fn, arg);
	}
	return kv_bt_scan(kv, from, fl, to, tl, fn, arg);
}

uint64_t
kv_scan_step(struct kv *kv, uint64_t cursor, size_t count, kv_fn fn,
	     void *arg)
{
	if (!kv_count(kv)) /* nothing present for the whole scan */
		return 0;
	return kv->index == KV_HASH ? kv_hash_scan_step(kv, cursor, count, fn, arg)
				    : kv_bt_scan_step(kv, cursor, count, fn, arg);
}

int
kv_random_key(struct kv *kv, uint64_t seed, kv_fn fn, void *arg)
{
	return kv->index == KV_HASH ? kv_hash_random(kv, seed, fn, arg)
				    : kv_bt_random(kv, seed, fn, arg);
}

int
kv_stats(struct kv *kv, struct kv_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->index = kv->index;
	st->keys = kv_count(kv);
	uint64_t reads = kv->bt_reads;
	if (kv->index == KV_HASH)
		kv_hash_stats(kv, st);
	else
		kv_bt_stats(kv, st);
	kv->bt_reads = reads; /* (counting the nodes read them) */
	st->nodes_read = reads;
	struct nvh_stats s;
	int rc = nvh_stats(kv->pool, &s);
	if (rc)
		return rc;
	st->pool_size = s.pool_size;
	st->used = s.allocated_bytes;
	st->free = s.free_bytes;
	return 0;
}

int
kv_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (errno || end == s || *end || s[0] == '-' || v == 0 ||
	    v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int
kv_parse_max_size(const char *s, uint64_t *out)
{
	if (!strcmp(s, "unlimited"))
		*out = NVH_GROW_UNLIMITED;
	else if (!strcmp(s, "fixed"))
		*out = NVH_GROW_OFF;
	else
		return kv_parse_size(s, out);
	return 0;
}

int
kv_size_opt(struct kv_opts *o, const char *prog, const char *opt,
	    const char *arg)
{
	int max = !strcmp(opt, "--max-size");
	if (!(max ? kv_parse_max_size(arg, &o->max_size)
		  : kv_parse_size(arg, &o->size)))
		return 0;
	fprintf(stderr, "%s: %s: \"%s\" is not a size (e.g. 512M, 4G)%s\n",
		prog, opt, arg, max ? ", unlimited or fixed" : "");
	return -1;
}

const char *
kv_max_size_str(const struct nvh_pool_info *i, char *buf, size_t n)
{
	if (!i->grows)
		snprintf(buf, n, "fixed");
	else if (!i->max_size)
		snprintf(buf, n, "unlimited");
	else
		snprintf(buf, n, "%" PRIu64, i->max_size);
	return buf;
}
