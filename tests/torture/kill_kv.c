/*
 * kill_kv.c -- kill torture for the key-value store: a child process writes
 * to a real pool file through the library and journals each write to a
 * libpmemlog pool, before (intent) and after (acknowledged) it; the parent
 * SIGKILLs the child at a random moment, reopens the store (recovery),
 * and checks that every acknowledged write is there with its latest value,
 * the write in flight is all or nothing, and `nvheap check` (nvh_check in
 * process, the tool every 10th kill) finds the pool consistent.  Then the
 * journal is rewound to a snapshot of the store and it starts again.
 *
 *   kill_kv [--kills N] [--seed S] [--workload NAME] [--dir DIR]
 *        [--soak SECONDS]
 *
 * Expiry times are in the model too: writes that set one (far in the
 * future, so none passes during the run), set it in place, remove it, or
 * set one already passed (a delete); INCRBY and APPEND keep it.  After a
 * kill every key must have its time exactly.
 *
 * Every type is in the journal: 8 keys each of hashes, lists, sets and
 * sorted sets ("H<i>", "L<i>", "T<i>", "Z<i>"), written by HSET/HDEL,
 * LPUSH/RPUSH/LPOP/RPOP, SADD/SREM, ZADD/ZREM and DEL (a collection
 * passes 128 fields or members: hashes and sets change encoding), some
 * two at once in one transaction.  Half the children free what deletes
 * leave dying as nvkv-server does (a commit frees at most two steps,
 * nvh_reclaim the rest), so kills also land while objects are dying.  A collection's value in the journal
 * is its whole state, serialised canonically (a hash's and a set's
 * items by field, a list's in order, a sorted set's by score and
 * member): the child reads the key's state from the store, applies the
 * command to it in DRAM and journals the result before it runs it.
 *
 * Workloads: kill-hash (a hash map started at 4 buckets, so it splits all
 * along) and kill-btree.  Each prints `torture kill-<name>: <N> kills,
 * <F> failures`; the exit status is non-zero if any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpmemlog.h>

#include "examples/kvstore/kv.h"

#define POOL_SIZE (64ull << 20)
#define LOG_SIZE (32ull << 20)
#define NKEYS 300       /* string keys "s<i>" */
#define NNUM 20         /* counters "n<i>" (INCRBY) */
#define NCOLL 8         /* keys of each collection type */
#define NALL (NKEYS + NNUM + 4 * NCOLL)
#define MAXMULTI 3      /* keys per multi-put */
#define VALMAX (256u << 10)

enum { R_BASE = 1, R_INTENT = 2, R_ACK = 3, R_NOACK = 4 };

/* ---- the model: value per key (NULL: absent) ---- */

struct val {
	char *p;
	size_t n;
};

struct model {
	struct val v[NALL];
	int64_t exp[NALL];   /* expiry time, 0 = none */
};

#define FUT 4000000000000ll /* 2096: times that never pass in a run */

/* The type of key i (a string for the first NKEYS + NNUM) */
static enum kv_type
key_type(int i)
{
	static const enum kv_type t[4] = {KV_T_HASH, KV_T_LIST, KV_T_SET,
					  KV_T_ZSET};
	return i < NKEYS + NNUM ? KV_T_STRING : t[(i - NKEYS - NNUM) / NCOLL];
}

static void
key_name(int i, char *buf, size_t n)
{
	if (i < NKEYS)
		snprintf(buf, n, "s%d", i);
	else if (i < NKEYS + NNUM)
		snprintf(buf, n, "n%d", i - NKEYS);
	else
		snprintf(buf, n, "%c%d", "HLTZ"[(i - NKEYS - NNUM) / NCOLL],
			 (i - NKEYS - NNUM) % NCOLL);
}

static void
val_set(struct val *v, const void *p, size_t n, int present)
{
	free(v->p);
	v->p = NULL;
	v->n = 0;
	if (!present)
		return;
	v->p = malloc(n ? n : 1);
	if (!v->p)
		abort();
	memcpy(v->p, p, n);
	v->n = n;
}

static void
model_free(struct model *m)
{
	for (int i = 0; i < NALL; i++)
		val_set(&m->v[i], NULL, 0, 0);
}

/* ---- the journal ---- */

/* Records: u32 length of what follows, u8 type, then
 *   BASE:   u32 key, u64 vlen, value, i64 expire
 *   INTENT: u64 seq, u32 n, n x {u32 key, u8 del, u64 vlen, value,
 *           i64 expire}
 *   ACK, NOACK: u64 seq */
struct rec {
	char *p;
	size_t len, cap;
};

static void
rec_put(struct rec *r, const void *p, size_t n)
{
	if (r->len + n > r->cap) {
		r->cap = (r->len + n) * 2;
		r->p = realloc(r->p, r->cap);
		if (!r->p)
			abort();
	}
	memcpy(r->p + r->len, p, n);
	r->len += n;
}

static void
rec_begin(struct rec *r, uint8_t type)
{
	uint32_t z = 0;
	r->len = 0;
	rec_put(r, &z, 4);
	rec_put(r, &type, 1);
}

static int
rec_append(PMEMlogpool *plp, struct rec *r)
{
	uint32_t n = (uint32_t)(r->len - 4);
	memcpy(r->p, &n, 4);
	return pmemlog_append(plp, r->p, r->len);
}

struct intent {
	int n;
	int key[MAXMULTI];
	int del[MAXMULTI];
	struct val val[MAXMULTI];
	int64_t exp[MAXMULTI];
	uint64_t seq;
};

struct replay {
	uint64_t last_seq, nrec;
	struct model m;
	struct intent pending;  /* the last intent, if not concluded */
	int has_pending;
	int bad;
	char why[256];
};

static int
walk_cb(const void *buf, size_t len, void *arg)
{
	struct replay *rp = arg;
	const char *p = buf, *end = p + len;
	while (p + 5 <= end) {
		uint32_t n;
		memcpy(&n, p, 4);
		const char *q = p + 4, *rend = q + n;
		if (n < 1 || rend > end) {
			snprintf(rp->why, sizeof(rp->why), "journal record torn");
			rp->bad = 1;
			return 0;
		}
		uint8_t type = (uint8_t)*q++;
		rp->nrec++;
		if (type != R_BASE)
			memcpy(&rp->last_seq, q, 8);
		if (type == R_BASE) {
			uint32_t k;
			uint64_t vl;
			memcpy(&k, q, 4);
			memcpy(&vl, q + 4, 8);
			val_set(&rp->m.v[k], q + 12, vl, 1);
			memcpy(&rp->m.exp[k], q + 12 + vl, 8);
		} else if (type == R_INTENT) {
			if (rp->has_pending) {
				snprintf(rp->why, sizeof(rp->why), "intent %" PRIu64
					 " never concluded before the next",
					 rp->pending.seq);
				rp->bad = 1;
				return 0;
			}
			struct intent *it = &rp->pending;
			memcpy(&it->seq, q, 8);
			uint32_t cnt;
			memcpy(&cnt, q + 8, 4);
			q += 12;
			it->n = (int)cnt;
			for (int i = 0; i < it->n; i++) {
				uint32_t k;
				uint64_t vl;
				memcpy(&k, q, 4);
				it->del[i] = q[4];
				memcpy(&vl, q + 5, 8);
				it->key[i] = (int)k;
				it->val[i].p = NULL;
				val_set(&it->val[i], q + 13, vl, 1);
				memcpy(&it->exp[i], q + 13 + vl, 8);
				q += 13 + vl + 8;
			}
			rp->has_pending = 1;
		} else if (type == R_ACK || type == R_NOACK) {
			uint64_t seq;
			memcpy(&seq, q, 8);
			if (!rp->has_pending || rp->pending.seq != seq) {
				snprintf(rp->why, sizeof(rp->why), "conclusion of %"
					 PRIu64 " without its intent", seq);
				rp->bad = 1;
				return 0;
			}
			struct intent *it = &rp->pending;
			for (int i = 0; i < it->n; i++) {
				if (type == R_ACK) {
					val_set(&rp->m.v[it->key[i]], it->val[i].p,
						it->val[i].n, !it->del[i]);
					rp->m.exp[it->key[i]] = it->exp[i];
				}
				val_set(&it->val[i], NULL, 0, 0);
			}
			rp->has_pending = 0;
		}
		p = rend;
	}
	return 0;
}

/* ---- a collection's state ---- */

/* An item: a field and its value (hash), an element (list), a member
 * (set), a member and its score (sorted set). */
struct item {
	char *a, *b;
	size_t al, bl;
	double s;
};

struct items {
	struct item *v;
	size_t n, cap;
};

static void
items_add(struct items *x, const void *a, size_t al, const void *b,
	  size_t bl, double s)
{
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 64;
		x->v = realloc(x->v, x->cap * sizeof(*x->v));
		if (!x->v)
			abort();
	}
	struct item *it = &x->v[x->n++];
	it->a = malloc(al + 1);
	it->b = malloc(bl + 1);
	if (!it->a || !it->b)
		abort();
	memcpy(it->a, a, al);
	memcpy(it->b, b, bl);
	it->al = al;
	it->bl = bl;
	it->s = s;
}

static void
item_free(struct item *it)
{
	free(it->a);
	free(it->b);
}

static void
items_free(struct items *x)
{
	for (size_t i = 0; i < x->n; i++)
		item_free(&x->v[i]);
	free(x->v);
	*x = (struct items){0};
}

static void
items_del(struct items *x, size_t i)
{
	item_free(&x->v[i]);
	memmove(x->v + i, x->v + i + 1, (x->n - i - 1) * sizeof(*x->v));
	x->n--;
}

static long
items_find(const struct items *x, const void *a, size_t al)
{
	for (size_t i = 0; i < x->n; i++)
		if (x->v[i].al == al && !memcmp(x->v[i].a, a, al))
			return (long)i;
	return -1;
}

static int
bytecmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static int
by_a(const void *x, const void *y)
{
	const struct item *p = x, *q = y;
	return bytecmp(p->a, p->al, q->a, q->al);
}

static int
by_score(const void *x, const void *y)
{
	const struct item *p = x, *q = y;
	if (p->s != q->s)
		return p->s < q->s ? -1 : 1;
	return by_a(x, y);
}

/* The canonical bytes of a state: the items in the type's order, each
 * u32 length and bytes twice (a sorted set: the score's 8 bytes as b). */
static void
items_encode(struct items *x, enum kv_type t, struct val *out)
{
	if (x->n > 1 && (t == KV_T_HASH || t == KV_T_SET))
		qsort(x->v, x->n, sizeof(*x->v), by_a);
	else if (x->n > 1 && t == KV_T_ZSET)
		qsort(x->v, x->n, sizeof(*x->v), by_score);
	struct rec r = {0};
	for (size_t i = 0; i < x->n; i++) {
		uint32_t l = (uint32_t)x->v[i].al;
		rec_put(&r, &l, 4);
		rec_put(&r, x->v[i].a, l);
		if (t == KV_T_ZSET) {
			l = 8;
			rec_put(&r, &l, 4);
			rec_put(&r, &x->v[i].s, 8);
		} else {
			l = (uint32_t)x->v[i].bl;
			rec_put(&r, &l, 4);
			rec_put(&r, x->v[i].b, l);
		}
	}
	val_set(out, r.p ? r.p : "", r.len, x->n > 0);
	free(r.p);
}

static int
collect(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	items_add(arg, k, kl, v, vl, 0);
	return 0;
}

static int
collect_list(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	items_add(arg, v, vl, "", 0, 0);
	return 0;
}

static int
collect_z(void *arg, const void *m, size_t ml, double s)
{
	items_add(arg, m, ml, "", 0, s);
	return 0;
}

/* Key k's state in the store (none: no items): 0, or the error. */
static int
items_read(struct kv *kv, const char *k, enum kv_type t, struct items *x)
{
	size_t kl = strlen(k);
	switch (t) {
	case KV_T_HASH:
		return kv_hscan(kv, k, kl, collect, x);
	case KV_T_SET:
		return kv_smembers(kv, k, kl, collect, x);
	case KV_T_LIST: {
		int rc = kv_lrange(kv, k, kl, 0, -1, collect_list, x);
		return rc == -ENOENT ? 0 : rc;
	}
	case KV_T_ZSET:
		return kv_zrange(kv, k, kl, 0, UINT64_MAX, 0, collect_z, x);
	default:
		return -EINVAL;
	}
}

/* ---- the child: random writes until killed ---- */

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A command on a collection key: what it writes */
enum { C_DEL, C_HSET, C_HDEL, C_PUSH, C_POP, C_SADD, C_SREM, C_ZADD,
       C_ZREM };

struct cop {
	int key, kind, left, ne;
	char m[96], e[3][32];
	size_t ml, el[3];
	char v[96];
	size_t vl;
	double s;
	uint64_t cnt;
};

/* Choose a command for key i, apply it to its state x. */
static void
cop_pick(struct cop *c, int i, struct items *x, uint64_t *s, uint64_t seq)
{
	enum kv_type t = key_type(i);
	uint64_t r = rnd(s) % 100;
	memset(c, 0, sizeof(*c));
	c->key = i;
	int big = rnd(s) % 20 == 0; /* a field or member past 64 bytes */
	if (r < 4) {
		c->kind = C_DEL;
		while (x->n)
			items_del(x, x->n - 1);
		return;
	}
	int add = r < 62;
	if (t == KV_T_LIST) {
		c->kind = add && x->n < 150 ? C_PUSH : C_POP;
		c->left = (int)(rnd(s) % 2);
		if (c->kind == C_POP) {
			c->cnt = 1 + rnd(s) % 2;
			for (uint64_t j = 0; j < c->cnt && x->n; j++)
				items_del(x, c->left ? 0 : x->n - 1);
			return;
		}
		c->ne = 1 + (int)(rnd(s) % 3);
		for (int j = 0; j < c->ne; j++) {
			c->el[j] = (size_t)snprintf(c->e[j], sizeof(c->e[j]),
						    "e%" PRIu64 "-%d", seq, j);
			if (c->left) { /* each in turn at the head */
				items_add(x, c->e[j], c->el[j], "", 0, 0);
				struct item it = x->v[x->n - 1];
				memmove(x->v + 1, x->v, (x->n - 1) * sizeof(*x->v));
				x->v[0] = it;
			} else {
				items_add(x, c->e[j], c->el[j], "", 0, 0);
			}
		}
		return;
	}
	c->ml = (size_t)(big ? snprintf(c->m, sizeof(c->m), "%070d-%d", 0,
					(int)(rnd(s) % 10))
			     : snprintf(c->m, sizeof(c->m), "m%d",
					(int)(rnd(s) % (t == KV_T_HASH ? 150
							: 200))));
	long f = items_find(x, c->m, c->ml);
	if (t == KV_T_HASH) {
		c->kind = add ? C_HSET : C_HDEL;
		c->vl = (size_t)snprintf(c->v, sizeof(c->v), "v%" PRIu64,
					 seq);
		if (!add && f >= 0)
			items_del(x, (size_t)f);
		else if (add && f >= 0) {
			free(x->v[f].b);
			x->v[f].b = strdup(c->v);
			x->v[f].bl = c->vl;
		} else if (add)
			items_add(x, c->m, c->ml, c->v, c->vl, 0);
	} else if (t == KV_T_SET) {
		c->kind = add ? C_SADD : C_SREM;
		if (!add && f >= 0)
			items_del(x, (size_t)f);
		else if (add && f < 0)
			items_add(x, c->m, c->ml, "", 0, 0);
	} else {
		c->kind = add ? C_ZADD : C_ZREM;
		c->s = (double)(rnd(s) % 20) / 2 - 3;
		if (!add && f >= 0)
			items_del(x, (size_t)f);
		else if (add && f >= 0)
			x->v[f].s = c->s;
		else if (add)
			items_add(x, c->m, c->ml, "", 0, c->s);
	}
}

static int
nop_fn(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)arg, (void)k, (void)kl, (void)v, (void)vl;
	return 0;
}

static int
cop_run(struct kv *kv, const struct cop *c)
{
	char k[16];
	key_name(c->key, k, sizeof(k));
	size_t kl = strlen(k);
	int rc;
	switch (c->kind) {
	case C_DEL:
		rc = kv_del(kv, k, kl);
		break;
	case C_HSET:
		return kv_hset(kv, k, kl, c->m, c->ml, c->v, c->vl, 0, NULL);
	case C_HDEL:
		rc = kv_hdel(kv, k, kl, c->m, c->ml);
		break;
	case C_PUSH: {
		const void *v[3] = {c->e[0], c->e[1], c->e[2]};
		return kv_lpush(kv, k, kl, v, c->el, (size_t)c->ne, c->left, 0,
				NULL);
	}
	case C_POP:
		rc = kv_lpop(kv, k, kl, c->left, c->cnt, nop_fn, NULL);
		break;
	case C_SADD:
		return kv_sadd(kv, k, kl, c->m, c->ml, NULL);
	case C_SREM:
		rc = kv_srem(kv, k, kl, c->m, c->ml);
		break;
	case C_ZADD:
		return kv_zput(kv, k, kl, c->m, c->ml, c->s, NULL);
	default:
		rc = kv_zrem(kv, k, kl, c->m, c->ml);
		break;
	}
	return rc == -ENOENT ? 0 : rc;
}

/* One or two collection commands (two: in one transaction), journaled
 * as the keys' whole states afterwards: 0 if acknowledged. */
static int
typed_write(struct kv *kv, PMEMlogpool *plp, struct rec *r, uint64_t *s,
	    uint64_t seq)
{
	int n = rnd(s) % 8 == 0 ? 2 : 1;
	struct cop c[2];
	struct val st[2] = {{0}};
	int key[2];
	for (int j = 0; j < n; j++) {
		key[j] = NKEYS + NNUM + (int)(rnd(s) % (4 * NCOLL));
		if (j && key[j] == key[0])
			key[j] = NKEYS + NNUM + (key[0] - NKEYS - NNUM + 1) %
				 (4 * NCOLL);
		char k[16];
		key_name(key[j], k, sizeof(k));
		struct items x = {0};
		if (items_read(kv, k, key_type(key[j]), &x))
			_exit(5); /* (the parent's check finds why) */
		cop_pick(&c[j], key[j], &x, s, seq);
		items_encode(&x, key_type(key[j]), &st[j]);
		items_free(&x);
	}
	rec_begin(r, R_INTENT);
	uint32_t cnt = (uint32_t)n;
	rec_put(r, &seq, 8);
	rec_put(r, &cnt, 4);
	for (int j = 0; j < n; j++) {
		uint32_t k = (uint32_t)key[j];
		uint8_t del = st[j].p == NULL;
		uint64_t l = st[j].n;
		int64_t e = 0;
		rec_put(r, &k, 4);
		rec_put(r, &del, 1);
		rec_put(r, &l, 8);
		rec_put(r, st[j].p ? st[j].p : "", l);
		rec_put(r, &e, 8);
		val_set(&st[j], NULL, 0, 0);
	}
	if (rec_append(plp, r))
		_exit(4);
	nvh_tx *tx = n > 1 ? nvh_tx_begin(kv_pool(kv)) : NULL;
	int rc = n > 1 && !tx ? -1 : 0;
	for (int j = 0; j < n && !rc; j++)
		rc = cop_run(kv, &c[j]);
	if (tx)
		rc = rc ? (nvh_tx_abort(tx), rc) : nvh_tx_commit(tx);
	if (rc && getenv("KILL_DEBUG"))
		fprintf(stderr, "kill: child: collection write %" PRIu64
			" failed: %d %s\n", seq, rc, kv_errmsg());
	return rc;
}

static void
child(const char *pool, const char *journal, enum kv_index index,
      uint64_t seed)
{
	alarm(60); /* if the parent is gone */
	struct kv_opts o = {.index = index, .size = POOL_SIZE, .create = 1,
			    .hash_buckets = 4};
	struct kv *kv = kv_open(pool, &o);
	PMEMlogpool *plp = kv ? pmemlog_open(journal) : NULL;
	if (!kv || !plp) {
		fprintf(stderr, "kill: child: open: %s\n",
			kv ? pmemlog_errormsg() : kv_errmsg());
		_exit(3);
	}
	static char val[VALMAX + 64];
	struct rec r = {0};
	uint64_t s = seed | 1;
	/* half the children free as nvkv-server does: a commit at most a
	 * step or two of what it leaves dying, the rest by nvh_reclaim
	 * every 20 writes (so kills also land with objects dying) */
	int reclaim = seed % 2;
	if (reclaim)
		nvh_set_drain_steps(kv_pool(kv), 1 + (unsigned)(seed >> 1) % 2);
	/* KILL_DEBUG_OPS=N: stop after N writes (checks the harness alone) */
	uint64_t stop = getenv("KILL_DEBUG_OPS") ?
			strtoull(getenv("KILL_DEBUG_OPS"), NULL, 0) : 0;
	for (uint64_t seq = 1;; seq++) {
		if (stop && seq > stop) {
			kv_close(kv);
			pmemlog_close(plp);
			_exit(0);
		}
		if (reclaim && seq % 20 == 0 &&
		    nvh_reclaim(kv_pool(kv), 2, NULL))
			_exit(6);
		if (rnd(&s) % 100 < 35) { /* a collection */
			int rc = typed_write(kv, plp, &r, &s, seq);
			rec_begin(&r, rc ? R_NOACK : R_ACK);
			rec_put(&r, &seq, 8);
			if (rec_append(plp, &r))
				_exit(4);
			continue;
		}
		int what = (int)(rnd(&s) % 100);
		struct intent it = {.n = 1, .seq = seq};
		int counter = what >= 70 && what < 82;
		it.key[0] = counter ? NKEYS + (int)(rnd(&s) % NNUM)
				    : (int)(rnd(&s) % NKEYS);
		char k[MAXMULTI][16];
		key_name(it.key[0], k[0], sizeof(k[0]));
		const void *ov;
		size_t ol = 0;
		int64_t oexp = 0;
		int present = kv_get_ex(kv, k[0], strlen(k[0]), &ov, &ol,
					&oexp) == 0;
		/* 40-49: a put with a time; 50-54: a time set in place (50-51),
		 * removed (52-53), or already passed (54: a delete) */
		int64_t exp = what >= 40 && what < 50 ? FUT + (int64_t)seq : 0;
		int timeop = what >= 50 && what < 55;
		size_t vl = 0;
		long long by = 0, cur = 0;
		if (timeop) { /* the value stays; the time changes */
			if (present)
				memcpy(val, ov, ol);
			vl = ol;
			exp = what < 52 ? FUT + (int64_t)seq : 0;
			it.del[0] = !present || what == 54;
		} else if (what < 55 || what >= 90) { /* put, multi-put */
			vl = rnd(&s) % 100 == 0 ? rnd(&s) % VALMAX
						: rnd(&s) % 600;
			int n = snprintf(val, 32, "%" PRIu64 ":", seq);
			for (size_t i = (size_t)n; i < vl; i++)
				val[i] = (char)('a' + (seq + i) % 26);
			if (vl < (size_t)n)
				vl = (size_t)n;
			if (what >= 90)
				it.n = 1 + (int)(rnd(&s) % MAXMULTI);
			for (int i = 1; i < it.n; i++) {
				it.key[i] = (int)(rnd(&s) % NKEYS);
				for (int j = 0; j < i; j++)
					if (it.key[j] == it.key[i])
						it.key[i] = (it.key[i] + 1) % NKEYS;
				key_name(it.key[i], k[i], sizeof(k[i]));
			}
		} else if (what < 70) { /* del */
			it.del[0] = 1;
		} else if (what < 82) { /* incrby: the time stays */
			exp = present ? oexp : 0;
			by = (long long)(rnd(&s) % 2000) - 1000;
			if (present) {
				char tmp[32];
				size_t m = ol < 31 ? ol : 31;
				memcpy(tmp, ov, m);
				tmp[m] = 0;
				cur = strtoll(tmp, NULL, 10);
			}
			vl = (size_t)snprintf(val, 32, "%lld", cur + by);
		} else { /* append: the time stays */
			exp = present ? oexp : 0;
			if (present)
				memcpy(val, ov, ol);
			size_t add = 1 + rnd(&s) % 50;
			for (size_t i = 0; i < add; i++)
				val[ol + i] = (char)('A' + (seq + i) % 26);
			vl = ol + add;
			if (vl > VALMAX) { /* keep values bounded: overwrite */
				vl = 8;
				memcpy(val, "reset:::", 8);
				what = 0;
			}
		}
		/* the intent: every key's value afterwards */
		rec_begin(&r, R_INTENT);
		uint32_t cnt = (uint32_t)it.n;
		rec_put(&r, &seq, 8);
		rec_put(&r, &cnt, 4);
		for (int i = 0; i < it.n; i++) {
			uint32_t key = (uint32_t)it.key[i];
			uint8_t del = (uint8_t)it.del[i];
			uint64_t l = del ? 0 : vl;
			rec_put(&r, &key, 4);
			rec_put(&r, &del, 1);
			rec_put(&r, &l, 8);
			rec_put(&r, val, l);
			int64_t e = del ? 0 : exp;
			rec_put(&r, &e, 8);
		}
		if (rec_append(plp, &r))
			_exit(4);
		int rc;
		struct kv_setopt so = {.expire = exp};
		if (timeop) {
			rc = kv_set_expire(kv, k[0], strlen(k[0]),
					   what == 54 ? 1 : exp);
			rc = rc == -ENOENT && !present ? 0 : rc;
		} else if (what < 40) {
			rc = kv_put(kv, k[0], strlen(k[0]), val, vl);
		} else if (what < 55) {
			rc = kv_set(kv, k[0], strlen(k[0]), val, vl, &so);
		} else if (what < 70) {
			rc = kv_del(kv, k[0], strlen(k[0]));
			rc = rc == -ENOENT ? 0 : rc;
		} else if (what < 82) {
			long long out;
			rc = kv_incrby(kv, k[0], strlen(k[0]), by, &out);
		} else if (what < 90) {
			size_t nl;
			rc = kv_append(kv, k[0], strlen(k[0]), val + ol, vl - ol, &nl);
		} else { /* several keys in one transaction */
			nvh_tx *tx = nvh_tx_begin(kv_pool(kv));
			rc = tx ? 0 : -1;
			for (int i = 0; i < it.n && !rc; i++)
				rc = kv_put(kv, k[i], strlen(k[i]), val, vl);
			if (tx)
				rc = rc ? (nvh_tx_abort(tx), rc) : nvh_tx_commit(tx);
		}
		if (rc && getenv("KILL_DEBUG"))
			fprintf(stderr, "kill: child: write %" PRIu64 " (kind %d) "
				"failed: %d %s\n", seq, what, rc, kv_errmsg());
		rec_begin(&r, rc ? R_NOACK : R_ACK);
		rec_put(&r, &seq, 8);
		if (rec_append(plp, &r))
			_exit(4);
	}
}

/* ---- the parent ---- */

struct wl {
	const char *name;
	enum kv_index index;
};

static const struct wl wls[] = {
	{"kill-hash", KV_HASH},
	{"kill-btree", KV_BTREE},
};

/* The store equals the model, with the pending intent applied (as a
 * whole) or not. */
static int
verify_variant(struct kv *kv, struct replay *rp, int variant, char *why,
	       size_t wl)
{
	uint64_t n = 0;
	for (int i = 0; i < NALL; i++) {
		const struct val *want = &rp->m.v[i];
		int present = want->p != NULL;
		const char *wp = want->p;
		size_t wn = want->n;
		for (int j = 0; variant && j < rp->pending.n; j++)
			if (rp->pending.key[j] == i) {
				present = !rp->pending.del[j];
				wp = rp->pending.val[j].p;
				wn = rp->pending.val[j].n;
			}
		char k[16];
		key_name(i, k, sizeof(k));
		if (key_type(i) != KV_T_STRING) { /* its state, encoded */
			enum kv_type t;
			int rc = kv_key_type(kv, k, strlen(k), &t, NULL);
			struct items x = {0};
			struct val got = {0};
			if (rc == 0 && t == key_type(i))
				rc = items_read(kv, k, t, &x);
			items_encode(&x, key_type(i), &got);
			items_free(&x);
			int same = got.n == wn && (!wn || !memcmp(got.p, wp, wn));
			val_set(&got, NULL, 0, 0);
			if ((rc && rc != -ENOENT) || (rc == 0) != present ||
			    (present && (t != key_type(i) || !same))) {
				snprintf(why, wl, "key %s: rc %d, type %d, %s "
					 "(expected %s, %zu bytes)", k, rc,
					 rc ? -1 : (int)t, same ? "same state"
					 : "another state", present ? "present"
					 : "absent", wn);
				return -1;
			}
			n += present;
			continue;
		}
		int64_t wexp = rp->m.exp[i], e = 0;
		for (int j = 0; variant && j < rp->pending.n; j++)
			if (rp->pending.key[j] == i)
				wexp = rp->pending.exp[j];
		const void *v;
		size_t vl;
		int rc = kv_get_ex(kv, k, strlen(k), &v, &vl, &e);
		if (present && rc == 0 && e != wexp) {
			snprintf(why, wl, "key %s: expires at %lld, expected "
				 "%lld", k, (long long)e, (long long)wexp);
			return -1;
		}
		if (present != (rc == 0) ||
		    (present && (vl != wn || memcmp(v, wp, vl)))) {
			snprintf(why, wl, "key %s: %s \"%.*s\" (%zu bytes), "
				 "expected %s \"%.*s\" (%zu bytes)", k,
				 rc ? "absent" : "value",
				 rc ? 0 : (int)(vl < 24 ? vl : 24),
				 rc ? "" : (const char *)v, rc ? 0 : vl,
				 present ? "value" : "absent",
				 present ? (int)(wn < 24 ? wn : 24) : 0,
				 present ? wp : "", wn);
			return -1;
		}
		n += present;
	}
	if (kv_count(kv) != n) {
		snprintf(why, wl, "count %" PRIu64 ", expected %" PRIu64,
			 kv_count(kv), n);
		return -1;
	}
	return 0;
}

/* The store equals the model, with the pending intent applied (as a
 * whole) or not. */
static int
verify(struct kv *kv, struct replay *rp, char *why, size_t wl, int *applied)
{
	char w0[200] = "", w1[200] = "";
	if (verify_variant(kv, rp, 0, w0, sizeof(w0)) == 0) {
		*applied = 0;
		return 0;
	}
	if (rp->has_pending && verify_variant(kv, rp, 1, w1, sizeof(w1)) == 0) {
		*applied = 1;
		return 0;
	}
	snprintf(why, wl, "%s%s%s", w0, rp->has_pending ? "; with the write in "
		 "flight applied: " : "", w1);
	return -1;
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
run_wl(const struct wl *w, const char *dir, uint64_t seed, long kills,
       double soak)
{
	char pool[400], journal[400];
	snprintf(pool, sizeof(pool), "%s/%s.pool", dir, w->name);
	snprintf(journal, sizeof(journal), "%s/%s.log", dir, w->name);
	unlink(pool);
	unlink(journal);
	PMEMlogpool *plp = pmemlog_create(journal, LOG_SIZE, 0600);
	if (!plp) {
		fprintf(stderr, "kill: %s: %s\n", journal, pmemlog_errormsg());
		return 1;
	}
	pmemlog_close(plp);
	const char *tool = getenv("NVHEAP_TOOL");
	uint64_t s = seed | 1;
	long done = 0, failures = 0, inflight_applied = 0;
	double t0 = now();
	struct rec r = {0};
	for (; (soak > 0 ? now() - t0 < soak : done < kills) && !failures;
	     done++) {
		uint64_t cseed = rnd(&s);
		pid_t pid = fork();
		if (pid < 0) {
			perror("kill: fork");
			return 1;
		}
		if (pid == 0)
			child(pool, journal, w->index, cseed);
		/* a kill soon after the start hits the open's recovery */
		uint64_t us = rnd(&s) % 10 < 3 ? rnd(&s) % 2000
					       : 2000 + rnd(&s) % 20000;
		struct timespec ts = {0, (long)(us * 1000)};
		if (!getenv("KILL_DEBUG_OPS")) { /* (that one runs to its end) */
			nanosleep(&ts, NULL);
			kill(pid, SIGKILL);
		}
		int st;
		waitpid(pid, &st, 0);
		if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) &&
		    !(getenv("KILL_DEBUG_OPS") && WIFEXITED(st) &&
		      !WEXITSTATUS(st))) {
			/* (a child that crashes must not pass for a kill) */
			fprintf(stderr, "FAIL torture %s (seed %" PRIu64 "): kill %ld: "
				"the child %s %d\n", w->name, seed, done,
				WIFSIGNALED(st) ? "died of signal" :
				"exited by itself, status", WIFSIGNALED(st) ?
				WTERMSIG(st) : WEXITSTATUS(st));
			failures++;
			break;
		}
		/* what the journal says */
		struct replay rp = {0};
		plp = pmemlog_open(journal);
		if (!plp) {
			fprintf(stderr, "kill: %s: %s\n", journal, pmemlog_errormsg());
			return 1;
		}
		pmemlog_walk(plp, 0, walk_cb, &rp);
		char why[512] = "";
		struct kv_opts o = {.index = w->index, .create = 1,
				    .size = POOL_SIZE, .hash_buckets = 4};
		struct kv *kv = kv_open(pool, &o);
		int applied = 0;
		struct nvh_check_report rep;
		if (rp.bad)
			snprintf(why, sizeof(why), "journal: %s", rp.why);
		else if (!kv)
			snprintf(why, sizeof(why), "reopen: %s", kv_errmsg());
		else if (verify(kv, &rp, why, sizeof(why), &applied) == 0 &&
			 nvh_check(kv_pool(kv), &rep, NULL))
			snprintf(why, sizeof(why), "nvh_check: %" PRIu64
				 " problems", rep.problems);
		if (!why[0] && kv && done % 10 == 0 && tool) {
			kv_close(kv);
			kv = NULL;
			char cmd[1200];
			snprintf(cmd, sizeof(cmd), "%s check %s > /dev/null", tool,
				 pool);
			int t = system(cmd);
			if (t != 0)
				snprintf(why, sizeof(why), "`nvheap check %s` "
					 "exited %d", pool, WEXITSTATUS(t));
		}
		if (why[0]) {
			fprintf(stderr, "FAIL torture %s (seed %" PRIu64 "): after "
				"kill %ld: %s [journal: %" PRIu64 " records, last "
				"seq %" PRIu64 ", pending %" PRIu64 "]\n", w->name,
				seed, done, why, rp.nrec, rp.last_seq,
				rp.has_pending ? rp.pending.seq : 0);
			failures++;
		} else {
			inflight_applied += applied;
			if (getenv("KILL_DEBUG"))
				fprintf(stderr, "kill %ld: %" PRIu64 " records, "
					"last seq %" PRIu64 "%s\n", done, rp.nrec,
					rp.last_seq, applied ? ", in flight "
					"applied" : "");
			/* the journal restarts from the store's state */
			if (applied)
				for (int j = 0; j < rp.pending.n; j++) {
					val_set(&rp.m.v[rp.pending.key[j]],
						rp.pending.val[j].p,
						rp.pending.val[j].n,
						!rp.pending.del[j]);
					rp.m.exp[rp.pending.key[j]] =
						rp.pending.exp[j];
				}
			pmemlog_rewind(plp);
			for (uint32_t i = 0; i < NALL; i++) {
				if (!rp.m.v[i].p)
					continue;
				uint64_t vl = rp.m.v[i].n;
				rec_begin(&r, R_BASE);
				rec_put(&r, &i, 4);
				rec_put(&r, &vl, 8);
				rec_put(&r, rp.m.v[i].p, vl);
				rec_put(&r, &rp.m.exp[i], 8);
				if (rec_append(plp, &r)) {
					fprintf(stderr, "kill: journal full\n");
					return 1;
				}
			}
		}
		if (kv && kv_close(kv) && !failures) {
			fprintf(stderr, "FAIL torture %s: close: %s\n", w->name,
				kv_errmsg());
			failures++;
		}
		pmemlog_close(plp);
		model_free(&rp.m);
		for (int j = 0; j < rp.pending.n; j++)
			val_set(&rp.pending.val[j], NULL, 0, 0);
	}
	printf("torture %s: %ld kills, %ld failures\n", w->name, done, failures);
	printf("  %s: %ld writes in flight found applied, %.1f s\n", w->name,
	       inflight_applied, now() - t0);
	fflush(stdout);
	free(r.p);
	if (!failures) {
		unlink(pool);
		unlink(journal);
	}
	return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
	long kills = 1000;
	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	const char *only = NULL, *dir = getenv("NVHEAP_TEST_DIR");
	double soak = 0;
	static const struct option lo[] = {
		{"kills", required_argument, NULL, 'k'},
		{"seed", required_argument, NULL, 's'},
		{"workload", required_argument, NULL, 'w'},
		{"dir", required_argument, NULL, 'd'},
		{"soak", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "k:s:w:d:", lo, NULL)) != -1) {
		switch (c) {
		case 'k': kills = atol(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'w': only = optarg; break;
		case 'd': dir = optarg; break;
		case 'S': soak = atof(optarg); break;
		default:
			fprintf(stderr, "usage: kill_kv [--kills N] [--seed S] "
				"[--workload NAME] [--dir DIR] [--soak SECONDS]\n");
			return 2;
		}
	}
	/* a directory of this run's own, so concurrent runs never share a
	 * pool or journal file; kept (and named) only when a check failed */
	char scratch[300]; /* the file names built on it must fit 400 */
	if (snprintf(scratch, sizeof(scratch), "%s/nvheap-kill.XXXXXX",
		     dir ? dir : "/dev/shm") >= (int)sizeof(scratch)) {
		fprintf(stderr, "kill: directory name too long: %s\n", dir);
		return 2;
	}
	if (!mkdtemp(scratch)) {
		fprintf(stderr, "kill: cannot make a directory in %s: %s\n",
			dir ? dir : "/dev/shm", strerror(errno));
		return 2;
	}
	dir = scratch;
	printf("torture: kill seed %" PRIu64 " (rerun with --seed %" PRIu64
	       " to repeat)\n", seed, seed);
	int rc = 0, n = (int)(sizeof(wls) / sizeof(wls[0])), ran = 0;
	for (int i = 0; i < n; i++) {
		if (only && strcmp(only, wls[i].name))
			continue;
		ran++;
		rc |= run_wl(&wls[i], dir, seed + (uint64_t)i, only ? kills
			     : (kills + n - 1) / n, soak / (only ? 1 : n));
	}
	if (!ran) {
		fprintf(stderr, "kill: no workload %s\n", only);
		rc = 2;
	}
	if (!rc) {
		/* what is left: temporaries of creates killed half way */
		DIR *d = opendir(scratch);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char f[PATH_MAX + 256];
			snprintf(f, sizeof(f), "%s/%s", scratch, de->d_name);
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlink(f);
		}
		if (d)
			closedir(d);
	}
	if (rmdir(scratch) != 0)
		fprintf(stderr, "kill: the failed runs' files are in %s\n",
			scratch);
	return rc;
}
