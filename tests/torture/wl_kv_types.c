/*
 * wl_kv_types.c -- torture workloads for the key-value store's hashes
 * and sets (examples/kvstore/coll.c), lists (list.c) and sorted sets
 * (zset.c).
 *
 *   kv-hashtype  a hash of 127 small fields (set up): the 128th field, an
 *                update in place, the 129th (the chain moves into a
 *                B-tree: one transaction), a delete from the tree, the
 *                field re-added, a 70-byte value, a multi-field HSET in
 *                one transaction, RENAME of the hash, an expiry time on
 *                it, and DEL (the fields freed in the dying list's steps)
 *
 *   kv-listtype  a list of one full chunk (60 elements, set up): a left
 *                push (a new head chunk), a right push (a new tail
 *                chunk), LINSERT into the full chunk (split in two), LREM
 *                in the middle of a chunk (slots shifted), LSET, LPOP 2
 *                (the head chunk emptied and unlinked), LMOVE to a new
 *                list (the tail chunk unlinked, a key created), LTRIM
 *                (whole chunks dropped), LMOVE back (the second list
 *                emptied: its key deleted), a 3-element RPUSH in one
 *                transaction, and DEL
 *
 *   kv-settype   a set of 12 members (set up): a 13th, a present one
 *                (nothing written), SREM, two SMOVEs to a new set (SREM
 *                and SADD in one transaction), SDIFFSTORE onto its own
 *                source (DEL and the SADDs in one), SINTERSTORE down to
 *                three members, the other set deleted whole, and the
 *                last three SREMs in one transaction (the key goes)
 *
 *   kv-zsettype  a sorted set of 30 members (set up): a new member at the
 *                end, a score change to the front (the node unlinked, a
 *                new one linked), one transaction adding a member and
 *                moving it twice (back links to nodes of the same
 *                transaction), ZREM in the middle, the first and the
 *                last removed (ZPOPMIN, ZPOPMAX), a same score (nothing
 *                written), RENAME, DEL
 *
 * Oracle: after recovery the store holds exactly the state after the
 * acknowledged operations, or after the one in flight too.  kv-hashtype:
 * every field of the script under the key that should hold the hash,
 * the other key absent, HLEN, the expiry time.  kv-listtype: both lists'
 * elements in order (a list with no elements: no key), LLEN.
 * kv-settype: both sets' members and SCARD (an empty set: no key).
 * kv-zsettype: the members and scores in order walked forward and back
 * (the back links), every rank, ZCARD.  All:
 * kv_check finds no damaged entry, nvh_check no problem and no dying
 * object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#include "examples/kvstore/kv.h"

#define POOL (8ull << 20)
#define NF 134          /* fields f000..f133 */
#define SETUP_F 127     /* f000..f126 at setup */
#define T0 1700000000000ll
#define EXP (T0 + 100000)

enum { HSET, HDEL, HSET2, RENAME, EXPIRE, DEL };

struct hop {
	int op;
	int f;          /* the field (HSET2: and f + 1) */
	int longval;
};

static const struct hop ops[] = {
	{HSET, 127, 0},   /* the 128th: still a chain */
	{HSET, 5, 0},     /* in place */
	{HSET, 128, 0},   /* the 129th: into a B-tree */
	{HDEL, 10, 0},
	{HSET, 10, 0},    /* re-added */
	{HSET, 20, 1},    /* a 70-byte value */
	{HSET2, 130, 0},  /* two new fields in one transaction */
	{RENAME, 0, 0},   /* h -> g */
	{EXPIRE, 0, 0},
	{DEL, 0, 0},
};
#define NOPS ((int)(sizeof(ops) / sizeof(ops[0])))

struct hstate {
	char val[NF][80];   /* "" = absent */
	int key;            /* 0: "h", 1: "g", -1: none */
	int64_t exp;
};

static void
fname(int i, char *buf)
{
	snprintf(buf, 16, "f%03d", i);
}

static void
value(int j, int f, int longval, char *buf)
{
	if (longval)
		snprintf(buf, 80, "v%d-%d-%066d", j, f, 0);
	else
		snprintf(buf, 80, "v%d-%d", j, f);
}

static void
apply(int upto, struct hstate *st)
{
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < SETUP_F; i++)
		snprintf(st->val[i], 80, "p%d", i);
	for (int j = 0; j < upto; j++) {
		const struct hop *o = &ops[j];
		switch (o->op) {
		case HSET:
			value(j, o->f, o->longval, st->val[o->f]);
			break;
		case HSET2:
			value(j, o->f, 0, st->val[o->f]);
			value(j, o->f + 1, 0, st->val[o->f + 1]);
			break;
		case HDEL:
			st->val[o->f][0] = 0;
			break;
		case RENAME:
			st->key = 1;
			break;
		case EXPIRE:
			st->exp = EXP;
			break;
		case DEL:
			st->key = -1;
			memset(st->val, 0, sizeof(st->val));
			break;
		}
	}
}

static struct kv *
open_kv(const char *path, const struct nvh_opts *nvh, int create)
{
	struct kv_opts o = {.index = KV_HASH, .size = POOL, .create = create,
			    .nvh = nvh, .hash_buckets = 2, .hash_seed = 42};
	struct kv *kv = kv_open(path, &o);
	if (kv)
		kv_set_time(kv, T0);
	return kv;
}

static int
hset(struct kv *kv, const char *k, int f, const char *v)
{
	char fb[16];
	fname(f, fb);
	return kv_hset(kv, k, strlen(k), fb, strlen(fb), v, strlen(v), 0, NULL);
}

static int
ht_setup(struct nvh_crashtest_run *r)
{
	struct kv *kv = open_kv(r->path, &r->opts, 1);
	if (!kv)
		return -1;
	int rc = 0;
	char v[80];
	for (int i = 0; i < SETUP_F && !rc; i++) {
		snprintf(v, sizeof(v), "p%d", i);
		rc = hset(kv, "h", i, v);
	}
	return kv_close(kv) || rc ? -1 : 0;
}

static int
ht_run(struct nvh_crashtest_run *r)
{
	struct kv *kv = open_kv(r->path, &r->opts, 0);
	if (!kv)
		return -1;
	int rc = 0;
	char v[80], fb[16];
	for (int j = 0; j < NOPS && !rc; j++) {
		const struct hop *o = &ops[j];
		const char *k = j > 7 ? "g" : "h"; /* (op 7 renames) */
		switch (o->op) {
		case HSET:
			value(j, o->f, o->longval, v);
			rc = hset(kv, k, o->f, v);
			break;
		case HSET2: {
			nvh_tx *tx = nvh_tx_begin(kv_pool(kv));
			rc = tx ? 0 : -1;
			for (int i = 0; i < 2 && !rc; i++) {
				value(j, o->f + i, 0, v);
				rc = hset(kv, k, o->f + i, v);
			}
			if (tx)
				rc = rc ? (nvh_tx_abort(tx), rc) : nvh_tx_commit(tx);
			break;
		}
		case HDEL:
			fname(o->f, fb);
			rc = kv_hdel(kv, k, 1, fb, strlen(fb));
			break;
		case RENAME:
			rc = kv_rename(kv, "h", 1, "g", 1, 0);
			break;
		case EXPIRE:
			rc = kv_set_expire(kv, k, 1, EXP);
			break;
		case DEL:
			rc = kv_del(kv, k, 1);
			break;
		}
		if (!rc)
			nvh_crashtest_ack(r);
	}
	return kv_close(kv) || rc ? -1 : 0;
}

static int
matches(struct kv *kv, const struct hstate *st, char *why, size_t wl)
{
	const char *keys[2] = {"h", "g"};
	for (int i = 0; i < 2; i++) {
		enum kv_type t;
		int64_t e = -1;
		int rc = kv_key_type(kv, keys[i], 1, &t, &e);
		if ((rc == 0) != (st->key == i)) {
			snprintf(why, wl, "key %s %s", keys[i],
				 rc == 0 ? "present, expected absent"
					 : "absent, expected present");
			return 0;
		}
		if (rc == 0 && (t != KV_T_HASH || e != st->exp)) {
			snprintf(why, wl, "key %s: type %d, expiry %lld "
				 "(expected hash, %lld)", keys[i], (int)t,
				 (long long)e, (long long)st->exp);
			return 0;
		}
	}
	if (st->key < 0)
		return 1;
	const char *k = keys[st->key];
	uint64_t n = 0, len = 0;
	for (int i = 0; i < NF; i++) {
		char fb[16];
		fname(i, fb);
		const void *v;
		size_t vl;
		int rc = kv_hget(kv, k, 1, fb, strlen(fb), &v, &vl);
		if (!st->val[i][0]) {
			if (rc != -ENOENT) {
				snprintf(why, wl, "%s %s present (rc %d), expected "
					 "absent", k, fb, rc);
				return 0;
			}
			continue;
		}
		n++;
		if (rc || vl != strlen(st->val[i]) ||
		    memcmp(v, st->val[i], vl)) {
			snprintf(why, wl, "%s %s is %s, expected %s", k, fb,
				 rc ? "absent" : "different", st->val[i]);
			return 0;
		}
	}
	if (kv_hlen(kv, k, 1, &len) || len != n) {
		snprintf(why, wl, "HLEN %llu, expected %llu",
			 (unsigned long long)len, (unsigned long long)n);
		return 0;
	}
	return 1;
}

/* The check of both workloads: match(kv, n, ...) says whether the store
 * is the state after n operations (0 and why if not); nops: the run's. */
static int
type_check(struct nvh_crashtest_check *k, int nops,
	   int (*match)(struct kv *kv, int n, char *why, size_t wl))
{
	struct kv *kv = open_kv(k->path, &k->opts, 0);
	nvh_crashtest_opened(k);
	if (!kv)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
					  k->acked, kv_errmsg());
	k->why[0] = 0;
	int n = (int)k->acked;
	char w1[160] = "", w2[160] = "";
	struct nvh_check_report rep;
	long long bad = kv_check(kv, NULL, NULL);
	if (nvh_check(kv_pool(kv), &rep, NULL))
		nvh_crashtest_fail(k, "after %u operations nvh_check finds %llu "
				   "problems", k->acked,
				   (unsigned long long)rep.problems);
	else if (rep.dying)
		nvh_crashtest_fail(k, "%llu objects still dying after the open",
				   (unsigned long long)rep.dying);
	else if (bad)
		nvh_crashtest_fail(k, "after %u operations kv_check: %lld",
				   k->acked, bad);
	else if (!match(kv, n, w1, sizeof(w1)) &&
		 !match(kv, n + (n < nops), w2, sizeof(w2)))
		nvh_crashtest_fail(k, "after %u operations: %s; nor the next "
				   "state: %s", k->acked, w1, w2);
	if (kv_close(kv) && !k->why[0])
		nvh_crashtest_fail(k, "close after recovery: %s", kv_errmsg());
	return k->why[0] ? -1 : 0;
}

static int
ht_match(struct kv *kv, int n, char *why, size_t wl)
{
	struct hstate st;
	apply(n, &st);
	return matches(kv, &st, why, wl);
}

static int
ht_check(struct nvh_crashtest_check *k)
{
	return type_check(k, NOPS, ht_match);
}

const struct nvh_crashtest nvt_wl_kv_hashtype = {
	.name = "kv-hashtype",
	.what = "hash values: chain to B-tree, delete, rename, expiry, DEL",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = ht_setup,
	.run = ht_run,
	.check = ht_check,
};

/* ---- kv-listtype ---- */

#define SETUP_N 60
#define MAXN 80

enum { LPUSH = 100, RPUSH, LINSERT, LREM, LSET, LPOP2, LMOVE_LM, LTRIM,
       LMOVE_ML, RPUSH3, LDEL };

static const int lops[] = {LPUSH, RPUSH, LINSERT, LREM, LSET, LPOP2,
			  LMOVE_LM, LTRIM, LMOVE_ML, RPUSH3, LDEL};
#define NLOPS ((int)(sizeof(lops) / sizeof(lops[0])))

struct lst {
	char e[MAXN][16];
	int n;
};

struct lstate {
	struct lst l, m;
};

static void
ins(struct lst *x, int at, const char *v)
{
	memmove(x->e[at + 1], x->e[at], (size_t)(x->n - at) * 16);
	snprintf(x->e[at], 16, "%s", v);
	x->n++;
}

static void
rem(struct lst *x, int at, char *out)
{
	if (out)
		memcpy(out, x->e[at], 16);
	memmove(x->e[at], x->e[at + 1], (size_t)(x->n - at - 1) * 16);
	x->n--;
}

static int
find(const struct lst *x, const char *v)
{
	for (int i = 0; i < x->n; i++)
		if (!strcmp(x->e[i], v))
			return i;
	return -1;
}

static void
lapply(int upto, struct lstate *st)
{
	memset(st, 0, sizeof(*st));
	char b[16];
	for (int i = 0; i < SETUP_N; i++) {
		snprintf(b, sizeof(b), "e%d", i);
		ins(&st->l, st->l.n, b);
	}
	for (int j = 0; j < upto; j++) {
		switch (lops[j]) {
		case LPUSH:
			ins(&st->l, 0, "x0");
			break;
		case RPUSH:
			ins(&st->l, st->l.n, "y0");
			break;
		case LINSERT:
			ins(&st->l, find(&st->l, "e30"), "z0");
			break;
		case LREM:
			rem(&st->l, find(&st->l, "e10"), NULL);
			break;
		case LSET:
			snprintf(st->l.e[5], 16, "s5");
			break;
		case LPOP2:
			rem(&st->l, 0, NULL);
			rem(&st->l, 0, NULL);
			break;
		case LMOVE_LM:
			rem(&st->l, st->l.n - 1, b);
			ins(&st->m, 0, b);
			break;
		case LTRIM:
			st->l.n = 30;
			break;
		case LMOVE_ML:
			rem(&st->m, 0, b);
			ins(&st->l, 0, b);
			break;
		case RPUSH3:
			ins(&st->l, st->l.n, "w0");
			ins(&st->l, st->l.n, "w1");
			ins(&st->l, st->l.n, "w2");
			break;
		case LDEL:
			st->l.n = 0;
			break;
		}
	}
}

static int
pushv(struct kv *kv, const char *k, int left, const char *const *v, size_t n)
{
	const void *vp[4];
	size_t vl[4];
	for (size_t i = 0; i < n; i++) {
		vp[i] = v[i];
		vl[i] = strlen(v[i]);
	}
	uint64_t len;
	return kv_lpush(kv, k, strlen(k), vp, vl, n, left, 0, &len);
}

static int
ls_setup(struct nvh_crashtest_run *r)
{
	struct kv *kv = open_kv(r->path, &r->opts, 1);
	if (!kv)
		return -1;
	static char b[SETUP_N][16];
	const void *vp[SETUP_N];
	size_t vl[SETUP_N];
	for (int i = 0; i < SETUP_N; i++) {
		vl[i] = (size_t)snprintf(b[i], 16, "e%d", i);
		vp[i] = b[i];
	}
	uint64_t len;
	int rc = kv_lpush(kv, "l", 1, vp, vl, SETUP_N, 0, 0, &len);
	return kv_close(kv) || rc ? -1 : 0;
}

static int
ls_run(struct nvh_crashtest_run *r)
{
	struct kv *kv = open_kv(r->path, &r->opts, 0);
	if (!kv)
		return -1;
	int rc = 0;
	static const char *const x0[] = {"x0"}, *const y0[] = {"y0"},
		*const w[] = {"w0", "w1", "w2"};
	for (int j = 0; j < NLOPS && !rc; j++) {
		int64_t len;
		uint64_t n;
		switch (lops[j]) {
		case LPUSH:
			rc = pushv(kv, "l", 1, x0, 1);
			break;
		case RPUSH:
			rc = pushv(kv, "l", 0, y0, 1);
			break;
		case LINSERT:
			rc = kv_linsert(kv, "l", 1, 0, "e30", 3, "z0", 2, &len);
			break;
		case LREM:
			rc = kv_lrem(kv, "l", 1, 1, "e10", 3, &n);
			break;
		case LSET:
			rc = kv_lset(kv, "l", 1, 5, "s5", 2);
			break;
		case LPOP2:
			rc = kv_lpop(kv, "l", 1, 1, 2, NULL, NULL);
			break;
		case LMOVE_LM:
			rc = kv_lmove(kv, "l", 1, "m", 1, 0, 1, NULL, NULL);
			break;
		case LTRIM:
			rc = kv_ltrim(kv, "l", 1, 0, 29);
			break;
		case LMOVE_ML:
			rc = kv_lmove(kv, "m", 1, "l", 1, 1, 1, NULL, NULL);
			break;
		case RPUSH3:
			rc = pushv(kv, "l", 0, w, 3);
			break;
		case LDEL:
			rc = kv_del(kv, "l", 1);
			break;
		}
		if (!rc)
			nvh_crashtest_ack(r);
	}
	return kv_close(kv) || rc ? -1 : 0;
}

struct walk {
	const struct lst *x;
	int i, bad;
};

static int
walk_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct walk *w = arg;
	(void)k;
	(void)kl;
	if (w->i >= w->x->n || vl != strlen(w->x->e[w->i]) ||
	    memcmp(v, w->x->e[w->i], vl))
		w->bad = 1;
	w->i++;
	return w->bad;
}

static int
same_list(struct kv *kv, const char *k, const struct lst *x, char *why, size_t wl)
{
	enum kv_type t;
	int rc = kv_key_type(kv, k, 1, &t, NULL);
	if ((rc == 0) != (x->n > 0) || (rc == 0 && t != KV_T_LIST)) {
		snprintf(why, wl, "key %s: rc %d type %d, expected %d elements",
			 k, rc, rc ? -1 : (int)t, x->n);
		return 0;
	}
	uint64_t n;
	struct walk w = {x, 0, 0};
	if (kv_llen(kv, k, 1, &n) || n != (uint64_t)x->n ||
	    kv_lrange(kv, k, 1, 0, -1, walk_cb, &w) || w.bad || w.i != x->n) {
		snprintf(why, wl, "list %s: %llu elements, element %d differs "
			 "(expected %d elements)", k, (unsigned long long)n,
			 w.i - 1, x->n);
		return 0;
	}
	return 1;
}

static int
ls_match(struct kv *kv, int n, char *why, size_t wl)
{
	struct lstate st;
	lapply(n, &st);
	return same_list(kv, "l", &st.l, why, wl) &&
	       same_list(kv, "m", &st.m, why, wl);
}

static int
ls_check(struct nvh_crashtest_check *k)
{
	return type_check(k, NLOPS, ls_match);
}

const struct nvh_crashtest nvt_wl_kv_listtype = {
	.name = "kv-listtype",
	.what = "list values: chunks added, split, shifted, unlinked; LMOVE",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = ls_setup,
	.run = ls_run,
	.check = ls_check,
};

/* ---- kv-settype ---- */

#define SM 140          /* members m000..m139 */

enum { SADD = 200, SADD_DUP, SREM, SMOVE, SDIFFSTORE, SINTERSTORE, SDELALL,
       SREM3 };

struct sop {
	int op, m;
};

/* (kv-hashtype crashes the chain's move into a B-tree: the set shares
 * the structure, so this one starts small and crashes the set's own
 * paths) */
#define SSETUP 12       /* m000..m011 at setup */

static const struct sop sops[] = {
	{SADD, 12},        /* a new member at the chain's tail */
	{SADD_DUP, 5},     /* present: nothing written */
	{SREM, 10},
	{SMOVE, 6},        /* s -> t: t created, in one transaction */
	{SMOVE, 7},
	{SDIFFSTORE, 0},   /* t := t - s, t its own source */
	{SINTERSTORE, 0},  /* s := s & {m000..m002}, s its own source */
	{SDELALL, 0},      /* SPOP t with a count covering it */
	{SREM3, 0},        /* s's last three members: the key goes */
};
#define NSOPS ((int)(sizeof(sops) / sizeof(sops[0])))

struct sstate {
	unsigned char s[SM], t[SM];
};

static void
sapply(int upto, struct sstate *st)
{
	memset(st, 0, sizeof(*st));
	memset(st->s, 1, SSETUP);
	for (int j = 0; j < upto; j++) {
		const struct sop *o = &sops[j];
		switch (o->op) {
		case SADD:
		case SADD_DUP:
			st->s[o->m] = 1;
			break;
		case SREM:
			st->s[o->m] = 0;
			break;
		case SMOVE:
			st->s[o->m] = 0;
			st->t[o->m] = 1;
			break;
		case SDIFFSTORE:
			for (int i = 0; i < SM; i++)
				st->t[i] &= (unsigned char)!st->s[i];
			break;
		case SINTERSTORE:
			for (int i = 3; i < SM; i++)
				st->s[i] = 0;
			break;
		case SDELALL:
			memset(st->t, 0, SM);
			break;
		case SREM3:
			memset(st->s, 0, SM);
			break;
		}
	}
}

static int
sadd(struct kv *kv, const char *k, int m)
{
	char mb[16];
	int added;
	snprintf(mb, sizeof(mb), "m%03d", m);
	return kv_sadd(kv, k, 1, mb, strlen(mb), &added);
}

static int
srem(struct kv *kv, const char *k, int m)
{
	char mb[16];
	snprintf(mb, sizeof(mb), "m%03d", m);
	return kv_srem(kv, k, 1, mb, strlen(mb));
}

static int
st_setup(struct nvh_crashtest_run *r)
{
	struct kv *kv = open_kv(r->path, &r->opts, 1);
	if (!kv)
		return -1;
	int rc = 0;
	for (int i = 0; i < SSETUP && !rc; i++)
		rc = sadd(kv, "s", i);
	return kv_close(kv) || rc ? -1 : 0;
}

/* One set command's kv calls, in one transaction as cmd_set.c runs
 * them (the state before it: st). */
static int
sop_run(struct kv *kv, const struct sop *o, const struct sstate *st)
{
	switch (o->op) {
	case SADD:
	case SADD_DUP:
		return sadd(kv, "s", o->m);
	case SREM:
		return srem(kv, "s", o->m);
	case SDELALL:
		return kv_del(kv, "t", 1);
	default:
		break;
	}
	int rc = 0;
	switch (o->op) {
	case SMOVE:
		rc = srem(kv, "s", o->m);
		if (!rc)
			rc = sadd(kv, "t", o->m);
		break;
	case SDIFFSTORE: /* the members read first, then t replaced */
		rc = kv_del(kv, "t", 1);
		for (int i = 0; i < SM && rc != -EIO && rc >= -ENOENT; i++)
			if (st->t[i] && !st->s[i])
				rc = sadd(kv, "t", i);
		break;
	case SINTERSTORE:
		rc = kv_del(kv, "s", 1);
		for (int i = 0; i < 3 && rc != -EIO && rc >= -ENOENT; i++)
			rc = sadd(kv, "s", i);
		break;
	case SREM3:
		for (int i = 0; i < 3 && !rc; i++)
			rc = srem(kv, "s", i);
		break;
	}
	return rc == -ENOENT ? -1 : rc;
}

static int
st_run(struct nvh_crashtest_run *r)
{
	struct kv *kv = open_kv(r->path, &r->opts, 0);
	if (!kv)
		return -1;
	int rc = 0;
	for (int j = 0; j < NSOPS && !rc; j++) {
		struct sstate st;
		sapply(j, &st);
		nvh_tx *tx = nvh_tx_begin(kv_pool(kv));
		if (!tx) {
			rc = -1;
			break;
		}
		rc = sop_run(kv, &sops[j], &st);
		rc = rc ? (nvh_tx_abort(tx), rc) : nvh_tx_commit(tx);
		if (!rc)
			nvh_crashtest_ack(r);
	}
	return kv_close(kv) || rc ? -1 : 0;
}

static int
same_set(struct kv *kv, const char *k, const unsigned char *x, char *why,
	 size_t wl)
{
	uint64_t want = 0, n = 0;
	for (int i = 0; i < SM; i++)
		want += x[i];
	enum kv_type t;
	int rc = kv_key_type(kv, k, 1, &t, NULL);
	if ((rc == 0) != (want > 0) || (rc == 0 && t != KV_T_SET)) {
		snprintf(why, wl, "key %s: rc %d type %d, expected %llu "
			 "members", k, rc, rc ? -1 : (int)t,
			 (unsigned long long)want);
		return 0;
	}
	if (kv_scard(kv, k, 1, &n) || n != want) {
		snprintf(why, wl, "SCARD %s %llu, expected %llu", k,
			 (unsigned long long)n, (unsigned long long)want);
		return 0;
	}
	for (int i = 0; i < SM; i++) {
		char mb[16];
		snprintf(mb, sizeof(mb), "m%03d", i);
		rc = kv_sismember(kv, k, 1, mb, strlen(mb));
		if ((rc == 0) != x[i] || (rc && rc != -ENOENT)) {
			snprintf(why, wl, "%s %s: rc %d, expected %s", k, mb,
				 rc, x[i] ? "a member" : "absent");
			return 0;
		}
	}
	return 1;
}

static int
st_match(struct kv *kv, int n, char *why, size_t wl)
{
	struct sstate st;
	sapply(n, &st);
	return same_set(kv, "s", st.s, why, wl) &&
	       same_set(kv, "t", st.t, why, wl);
}

static int
st_check(struct nvh_crashtest_check *k)
{
	return type_check(k, NSOPS, st_match);
}

const struct nvh_crashtest nvt_wl_kv_settype = {
	.name = "kv-settype",
	.what = "set values: chain to B-tree, SMOVE, a STORE over its source",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = st_setup,
	.run = st_run,
	.check = st_check,
};

/* ---- kv-zsettype ---- */

#define ZM 40           /* members z00..z39 */
#define ZSETUP 30       /* z00..z29 at setup, score i */

enum { ZPUT = 300, ZPUT3, ZREM, ZREMFIRST, ZREMLAST, ZRENAME, ZDEL };

struct zop {
	int op, m;
	double s;
};

static const struct zop zops[] = {
	{ZPUT, 30, 30.5},  /* a new member at the end */
	{ZPUT, 5, -1},     /* a score change: to the front */
	{ZPUT3, 31, 7},    /* one transaction: z31 added, moved, moved again */
	{ZREM, 12, 0},
	{ZREMFIRST, 0, 0}, /* ZPOPMIN */
	{ZREMLAST, 0, 0},  /* ZPOPMAX */
	{ZPUT, 20, 20},    /* the same score: nothing written */
	{ZRENAME, 0, 0},   /* z -> y */
	{ZDEL, 0, 0},
};
#define NZOPS ((int)(sizeof(zops) / sizeof(zops[0])))

struct zstate {
	double s[ZM];
	unsigned char in[ZM];
	int key;            /* 0 "z", 1 "y", -1 none */
};

/* the member of lowest (first) or highest (!first) (score, name) */
static int
zend(const struct zstate *st, int first)
{
	int b = -1;
	for (int i = 0; i < ZM; i++)
		if (st->in[i] && (b < 0 || (first ? st->s[i] < st->s[b]
						  : st->s[i] >= st->s[b])))
			b = i;
	return b;
}

static void
zapply(int upto, struct zstate *st)
{
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < ZSETUP; i++) {
		st->in[i] = 1;
		st->s[i] = i;
	}
	for (int j = 0; j < upto; j++) {
		const struct zop *o = &zops[j];
		switch (o->op) {
		case ZPUT:
			st->in[o->m] = 1;
			st->s[o->m] = o->s;
			break;
		case ZPUT3:
			st->in[o->m] = 1;
			st->s[o->m] = o->s + 2;
			break;
		case ZREM:
			st->in[o->m] = 0;
			break;
		case ZREMFIRST:
		case ZREMLAST:
			st->in[zend(st, o->op == ZREMFIRST)] = 0;
			break;
		case ZRENAME:
			st->key = 1;
			break;
		case ZDEL:
			st->key = -1;
			memset(st->in, 0, sizeof(st->in));
			break;
		}
	}
}

static int
zput(struct kv *kv, const char *k, int m, double s)
{
	char mb[8];
	snprintf(mb, sizeof(mb), "z%02d", m);
	return kv_zput(kv, k, 1, mb, strlen(mb), s, NULL);
}

static int
zs_setup(struct nvh_crashtest_run *r)
{
	struct kv *kv = open_kv(r->path, &r->opts, 1);
	if (!kv)
		return -1;
	int rc = 0;
	for (int i = 0; i < ZSETUP && !rc; i++)
		rc = zput(kv, "z", i, i);
	return kv_close(kv) || rc ? -1 : 0;
}

static int
zop_run(struct kv *kv, const struct zop *o, const struct zstate *st)
{
	char mb[8];
	switch (o->op) {
	case ZPUT:
		return zput(kv, "z", o->m, o->s);
	case ZPUT3: {
		int rc = zput(kv, "z", o->m, o->s);
		if (!rc)
			rc = zput(kv, "z", o->m, o->s + 1);
		return rc ? rc : zput(kv, "z", o->m, o->s + 2);
	}
	case ZREM:
	case ZREMFIRST:
	case ZREMLAST:
		snprintf(mb, sizeof(mb), "z%02d", o->op == ZREM ? o->m :
			 zend(st, o->op == ZREMFIRST));
		return kv_zrem(kv, "z", 1, mb, strlen(mb));
	case ZRENAME:
		return kv_rename(kv, "z", 1, "y", 1, 0);
	case ZDEL:
		return kv_del(kv, "y", 1);
	}
	return -1;
}

static int
zs_run(struct nvh_crashtest_run *r)
{
	struct kv *kv = open_kv(r->path, &r->opts, 0);
	if (!kv)
		return -1;
	int rc = 0;
	for (int j = 0; j < NZOPS && !rc; j++) {
		struct zstate st;
		zapply(j, &st);
		nvh_tx *tx = nvh_tx_begin(kv_pool(kv));
		if (!tx) {
			rc = -1;
			break;
		}
		rc = zop_run(kv, &zops[j], &st);
		rc = rc ? (nvh_tx_abort(tx), rc) : nvh_tx_commit(tx);
		if (!rc)
			nvh_crashtest_ack(r);
	}
	return kv_close(kv) || rc ? -1 : 0;
}

/* The expected members in order, compared as kv_zrange walks them. */
struct zwalk {
	int want[ZM];
	double s[ZM];
	int n, i, bad;
};

static int
zwalk_cb(void *arg, const void *m, size_t ml, double s)
{
	struct zwalk *w = arg;
	char mb[8];
	if (w->i >= w->n) {
		w->bad = 1;
		return 1;
	}
	snprintf(mb, sizeof(mb), "z%02d", w->want[w->i]);
	if (ml != strlen(mb) || memcmp(m, mb, ml) || s != w->s[w->i])
		w->bad = 1;
	w->i++;
	return w->bad;
}

static int
zs_match(struct kv *kv, int n, char *why, size_t wl)
{
	struct zstate st;
	zapply(n, &st);
	const char *keys[2] = {"z", "y"};
	for (int i = 0; i < 2; i++) {
		enum kv_type t;
		int rc = kv_key_type(kv, keys[i], 1, &t, NULL);
		if ((rc == 0) != (st.key == i) || (rc == 0 && t != KV_T_ZSET)) {
			snprintf(why, wl, "key %s: rc %d, expected %s", keys[i],
				 rc, st.key == i ? "a sorted set" : "absent");
			return 0;
		}
	}
	if (st.key < 0)
		return 1;
	const char *k = keys[st.key];
	struct zwalk fw = {0}, bw = {0};
	struct zstate left = st;
	for (int e; (e = zend(&left, 1)) >= 0; left.in[e] = 0) {
		fw.want[fw.n] = e;
		fw.s[fw.n++] = st.s[e];
	}
	for (int i = 0; i < fw.n; i++) {
		bw.want[i] = fw.want[fw.n - 1 - i];
		bw.s[i] = fw.s[fw.n - 1 - i];
	}
	bw.n = fw.n;
	uint64_t card = 0;
	if (kv_zcard(kv, k, 1, &card) || card != (uint64_t)fw.n ||
	    kv_zrange(kv, k, 1, 0, UINT64_MAX, 0, zwalk_cb, &fw) || fw.bad ||
	    fw.i != fw.n ||
	    kv_zrange(kv, k, 1, 0, UINT64_MAX, 1, zwalk_cb, &bw) || bw.bad ||
	    bw.i != bw.n) {
		snprintf(why, wl, "%s: %llu members, forward walk %s at %d, "
			 "back walk %s at %d (expected %d)", k,
			 (unsigned long long)card, fw.bad ? "differs" : "ok",
			 fw.i, bw.bad ? "differs" : "ok", bw.i, fw.n);
		return 0;
	}
	for (int i = 0; i < fw.n; i++) {
		char mb[8];
		uint64_t r;
		snprintf(mb, sizeof(mb), "z%02d", fw.want[i]);
		if (kv_zrank(kv, k, 1, mb, strlen(mb), &r) || r != (uint64_t)i) {
			snprintf(why, wl, "%s: rank of %s is not %d", k, mb, i);
			return 0;
		}
	}
	return 1;
}

static int
zs_check(struct nvh_crashtest_check *k)
{
	return type_check(k, NZOPS, zs_match);
}

const struct nvh_crashtest nvt_wl_kv_zsettype = {
	.name = "kv-zsettype",
	.what = "sorted set values: skiplist inserts, moves, pops, rename, DEL",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = zs_setup,
	.run = zs_run,
	.check = zs_check,
};
