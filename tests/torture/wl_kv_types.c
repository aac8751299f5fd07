/*
 * wl_kv_types.c -- torture workload for the key-value store's hashes
 * (examples/kvstore/coll.c).
 *
 *   kv-hashtype  a hash of 127 small fields (set up): the 128th field, an
 *                update in place, the 129th (the chain moves into a
 *                B-tree: one transaction), a delete from the tree, the
 *                field re-added, a 70-byte value, a multi-field HSET in
 *                one transaction, RENAME of the hash, an expiry time on
 *                it, and DEL (the fields freed in the dying list's steps)
 *
 * Oracle: after recovery the store holds exactly the fields after the
 * acknowledged operations, or after the one in flight too: every field
 * of the script under the key that should hold the hash, the other key
 * absent, HLEN, the expiry time; kv_check finds no damaged entry;
 * nvh_check no problem and no dying object.
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

static int
ht_check(struct nvh_crashtest_check *k)
{
	struct kv *kv = open_kv(k->path, &k->opts, 0);
	nvh_crashtest_opened(k);
	if (!kv)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
					  k->acked, kv_errmsg());
	k->why[0] = 0;
	struct hstate done, next;
	apply((int)k->acked, &done);
	apply((int)k->acked + (k->acked < (unsigned)NOPS), &next);
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
	else if (!matches(kv, &done, w1, sizeof(w1)) &&
		 !matches(kv, &next, w2, sizeof(w2)))
		nvh_crashtest_fail(k, "after %u operations: %s; nor the next "
				   "state: %s", k->acked, w1, w2);
	if (kv_close(kv) && !k->why[0])
		nvh_crashtest_fail(k, "close after recovery: %s", kv_errmsg());
	return k->why[0] ? -1 : 0;
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
