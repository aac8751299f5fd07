/*
 * wl_kv.c -- torture workloads for the key-value store (examples/kvstore).
 *
 *   kv-hash   a hash map started at 2 buckets: inserts that split buckets
 *             (one of them completing a round), an update, a delete
 *   kv-btree  a B-tree whose root leaf is full: an insert that splits the
 *             root, a delete from a child, a delete that merges the two
 *             children and shrinks the root, a re-insert, an update
 *
 *   kv-hash-ttl, kv-btree-ttl
 *             expiry times: keys stored with one, times set and removed
 *             in place, a time already passed (a delete), then the clock
 *             moves on and active expiry removes the expired keys in
 *             small steps (several transactions)
 *
 * Oracle: after recovery the store holds exactly the pairs (and expiry
 * times) after the acknowledged operations, or after the one in flight too
 * (every key of the script compared, at the clock of that point, plus the
 * count); the persistent count of keys with a time equals the keys with
 * one; nvh_check finds no problem and no dying object.  While active
 * expiry is in flight some expired keys may be gone and some not yet: at
 * the clock after it, both look absent, and the raw count must lie
 * between.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#include "examples/kvstore/kv.h"

#define POOL (8ull << 20)
#define NKEYS 40
#define MAXOPS 12
#define T0 1700000000000ll  /* the clock of the run */
#define T1 (T0 + 4500)      /* after TICK */

/* PUTEX: a time T0 + 1000 (j + 1) for op j; EXPIRE: T0 + 3000 in place;
 * PERSIST: no time; PAST: a time already passed (the key goes); TICK: the
 * clock moves to T1 and active expiry runs a whole pass. */
enum { PUT, DEL, PUTEX, EXPIRE, PERSIST, PAST, TICK };

struct kop {
	int op;
	int key;
};

struct kvscript {
	enum kv_index index;
	unsigned buckets;      /* hash: initial buckets */
	int prefill;           /* keys 0..prefill-1 = "p<i>" at setup */
	int nops;
	struct kop ops[MAXOPS];
};

/* values: "p<key>" from the setup, "v<op>" from op number op */
struct kstate {
	char val[NKEYS][16];   /* "" = absent */
	int64_t exp[NKEYS];    /* expiry time, 0 = none */
	int64_t now;           /* the clock after these operations */
};

static void
key_of(int i, char *buf)
{
	snprintf(buf, 16, "k%03d", i);
}

static void
apply(const struct kvscript *s, int upto, struct kstate *st)
{
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < s->prefill; i++)
		snprintf(st->val[i], 16, "p%d", i);
	st->now = T0;
	for (int j = 0; j < upto; j++) {
		const struct kop *o = &s->ops[j];
		switch (o->op) {
		case PUT:
		case PUTEX:
			snprintf(st->val[o->key], 16, "v%d", j);
			st->exp[o->key] = o->op == PUTEX ? T0 + 1000 * (j + 1) : 0;
			break;
		case EXPIRE:
			st->exp[o->key] = T0 + 3000;
			break;
		case PERSIST:
			st->exp[o->key] = 0;
			break;
		case TICK:
			st->now = T1;
			for (int i = 0; i < NKEYS; i++)
				if (st->exp[i] && st->exp[i] <= T1)
					st->val[i][0] = 0;
			break;
		default: /* DEL, PAST */
			st->val[o->key][0] = 0;
		}
	}
}

static struct kv *
open_kv(const char *path, const struct kvscript *s,
	const struct nvh_opts *nvh, int create)
{
	struct kv_opts o = {.index = s->index, .size = POOL, .create = create,
			    .nvh = nvh, .hash_buckets = s->buckets,
			    .hash_seed = 42}; /* both passes fence alike */
	return kv_open(path, &o);
}

static int
setup_script(struct nvh_crashtest_run *r, const struct kvscript *s)
{
	struct kv *kv = open_kv(r->path, s, &r->opts, 1);
	if (!kv)
		return -1;
	int rc = 0;
	for (int i = 0; i < s->prefill && !rc; i++) {
		char k[16], v[16];
		key_of(i, k);
		snprintf(v, sizeof(v), "p%d", i);
		rc = kv_put(kv, k, strlen(k), v, strlen(v));
	}
	return kv_close(kv) || rc ? -1 : 0;
}

static int
run_script(struct nvh_crashtest_run *r, const struct kvscript *s)
{
	struct kv *kv = open_kv(r->path, s, &r->opts, 0);
	if (!kv)
		return -1;
	int rc = 0;
	kv_set_time(kv, T0);
	for (int j = 0; j < s->nops && !rc; j++) {
		char k[16], v[16];
		key_of(s->ops[j].key, k);
		snprintf(v, sizeof(v), "v%d", j);
		struct kv_setopt so = {.expire = T0 + 1000 * (j + 1)};
		uint64_t cur = 0, n;
		switch (s->ops[j].op) {
		case PUT:
			rc = kv_put(kv, k, strlen(k), v, strlen(v));
			break;
		case PUTEX:
			rc = kv_set(kv, k, strlen(k), v, strlen(v), &so);
			break;
		case EXPIRE:
			rc = kv_set_expire(kv, k, strlen(k), T0 + 3000);
			break;
		case PERSIST:
			rc = kv_set_expire(kv, k, strlen(k), 0);
			break;
		case PAST:
			rc = kv_set_expire(kv, k, strlen(k), T0 - 1);
			break;
		case TICK: /* small steps: several transactions */
			kv_set_time(kv, T1);
			do
				cur = kv_expire_step(kv, cur, 4, &n);
			while (cur);
			break;
		default:
			rc = kv_del(kv, k, strlen(k));
		}
		if (!rc)
			nvh_crashtest_ack(r);
	}
	return kv_close(kv) || rc ? -1 : 0;
}

/* Every entry, at a clock at which none has expired. */
static int
count_raw(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k, (void)kl, (void)v, (void)vl;
	((uint64_t *)arg)[0]++;
	return 0;
}

/* Does the store hold exactly st (at the clock `now`)?  `exact`: the raw
 * count must be st's entries; else (active expiry in flight) between the
 * live ones and st's before it. */
static int
matches(struct kv *kv, const struct kstate *st, int64_t now, uint64_t rawmax,
	char *why, size_t wl)
{
	uint64_t n = 0;
	kv_set_time(kv, now);
	for (int i = 0; i < NKEYS; i++) {
		char k[16];
		key_of(i, k);
		const void *v;
		size_t vl;
		int64_t e = -1;
		int rc = kv_get_ex(kv, k, strlen(k), &v, &vl, &e);
		int live = st->val[i][0] && (!st->exp[i] || st->exp[i] > now);
		if (!live) {
			if (rc == 0) {
				snprintf(why, wl, "%s present, expected absent", k);
				return 0;
			}
			continue;
		}
		n++;
		if (rc || vl != strlen(st->val[i]) || memcmp(v, st->val[i], vl)) {
			snprintf(why, wl, "%s is %s, expected %s", k,
				 rc ? "absent" : "different", st->val[i]);
			return 0;
		}
		if (e != st->exp[i]) {
			snprintf(why, wl, "%s expires at %lld, expected %lld", k,
				 (long long)e, (long long)st->exp[i]);
			return 0;
		}
	}
	uint64_t raw = kv_count(kv);
	if (raw < n || raw > (rawmax ? rawmax : n)) {
		snprintf(why, wl, "count %llu, expected %llu%s",
			 (unsigned long long)raw, (unsigned long long)n,
			 rawmax ? " or more" : "");
		return 0;
	}
	return 1;
}

/* Entries in st, expired or not. */
static uint64_t
entries(const struct kstate *st)
{
	uint64_t n = 0;
	for (int i = 0; i < NKEYS; i++)
		n += st->val[i][0] != 0;
	return n;
}

/* The persistent count of keys with a time is the number of them. */
static int
expires_consistent(struct kv *kv, char *why, size_t wl)
{
	uint64_t n[1] = {0};
	kv_set_time(kv, 1); /* nothing has expired at 1 ms after 1970 */
	if (kv_scan(kv, NULL, 0, NULL, 0, count_raw, n))
		return 0;
	uint64_t timed = 0;
	for (int i = 0; i < NKEYS; i++) {
		char k[16];
		key_of(i, k);
		const void *v;
		size_t vl;
		int64_t e = 0;
		if (kv_get_ex(kv, k, strlen(k), &v, &vl, &e) == 0 && e)
			timed++;
	}
	if (n[0] != kv_count(kv) || timed != kv_expires(kv)) {
		snprintf(why, wl, "%llu entries scanned, count %llu; %llu with "
			 "a time, expires count %llu", (unsigned long long)n[0],
			 (unsigned long long)kv_count(kv),
			 (unsigned long long)timed,
			 (unsigned long long)kv_expires(kv));
		return 0;
	}
	return 1;
}

static int
check_script(struct nvh_crashtest_check *k, const struct kvscript *s)
{
	struct kv *kv = open_kv(k->path, s, &k->opts, 0);
	nvh_crashtest_opened(k);
	if (!kv)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
				k->acked, kv_errmsg());
	k->why[0] = 0;
	struct kstate done, next;
	apply(s, (int)k->acked, &done);
	apply(s, (int)k->acked + (k->acked < (unsigned)s->nops), &next);
	char w1[128] = "", w2[128] = "";
	struct nvh_check_report rep;
	if (nvh_check(kv_pool(kv), &rep, NULL))
		nvh_crashtest_fail(k, "after %u operations nvh_check finds %llu problems",
			 k->acked, (unsigned long long)rep.problems);
	else if (rep.dying)
		nvh_crashtest_fail(k, "%llu objects still dying after the open",
			 (unsigned long long)rep.dying);
	else if (!expires_consistent(kv, w1, sizeof(w1)))
		nvh_crashtest_fail(k, "after %u operations: %s", k->acked, w1);
	else if (next.now != done.now) {
		/* active expiry in flight: judged at the clock after it */
		struct kstate before;
		apply(s, (int)k->acked, &before);
		if (!matches(kv, &next, next.now, entries(&before), w2,
			     sizeof(w2)))
			nvh_crashtest_fail(k, "after %u operations, expiry in flight: %s",
				 k->acked, w2);
	} else if (!matches(kv, &done, done.now, 0, w1, sizeof(w1)) &&
		   !matches(kv, &next, next.now, 0, w2, sizeof(w2)))
		nvh_crashtest_fail(k, "after %u operations: %s; nor the next state: %s",
			 k->acked, w1, w2);
	if (kv_close(kv) && !k->why[0])
		nvh_crashtest_fail(k, "close after recovery: %s", kv_errmsg());
	return k->why[0] ? -1 : 0;
}

/* ---- the scripts ---- */

static const struct kvscript hash_script = {
	.index = KV_HASH, .buckets = 2, .prefill = 4, .nops = 6,
	.ops = {
		{PUT, 4},  /* 5 keys > 2 per bucket: splits bucket 0 */
		{PUT, 1},  /* update */
		{DEL, 2},
		{PUT, 5},
		{PUT, 6},
		{PUT, 7},  /* 7 > 2 x 3: splits bucket 1, a new round */
	},
};

static const struct kvscript btree_script = {
	.index = KV_BTREE, .prefill = 31, .nops = 5,
	.ops = {
		{PUT, 31}, /* the full root leaf splits: 15 | k015 | 16 */
		{DEL, 25}, /* from the right child (16 keys) */
		{DEL, 5},  /* the left child has 15, so has the right: merge,
			    * the root empties and its child replaces it */
		{PUT, 5},
		{PUT, 10}, /* update */
	},
};

static const struct kvscript hash_ttl_script = {
	.index = KV_HASH, .buckets = 2, .prefill = 4, .nops = 8,
	.ops = {
		{PUTEX, 4},   /* T0 + 1000; splits bucket 0 */
		{EXPIRE, 1},  /* T0 + 3000, in place */
		{EXPIRE, 2},
		{PERSIST, 2},
		{PUTEX, 5},   /* T0 + 5000: outlives the tick */
		{PAST, 3},    /* deleted */
		{PUT, 6},
		{TICK, 0},    /* keys 4 and 1 go, in steps */
	},
};

static const struct kvscript btree_ttl_script = {
	.index = KV_BTREE, .prefill = 31, .nops = 7,
	.ops = {
		{PUTEX, 31},  /* T0 + 1000; the root leaf splits */
		{EXPIRE, 25},
		{EXPIRE, 5},
		{PAST, 6},
		{PERSIST, 25},
		{PUTEX, 10},  /* T0 + 6000 */
		{TICK, 0},    /* keys 31 and 5 go, in steps */
	},
};

static int
hash_ttl_setup(struct nvh_crashtest_run *r)
{
	return setup_script(r, &hash_ttl_script);
}

static int
hash_ttl_run(struct nvh_crashtest_run *r)
{
	return run_script(r, &hash_ttl_script);
}

static int
hash_ttl_check(struct nvh_crashtest_check *k)
{
	return check_script(k, &hash_ttl_script);
}

static int
btree_ttl_setup(struct nvh_crashtest_run *r)
{
	return setup_script(r, &btree_ttl_script);
}

static int
btree_ttl_run(struct nvh_crashtest_run *r)
{
	return run_script(r, &btree_ttl_script);
}

static int
btree_ttl_check(struct nvh_crashtest_check *k)
{
	return check_script(k, &btree_ttl_script);
}

static int
hash_setup(struct nvh_crashtest_run *r)
{
	return setup_script(r, &hash_script);
}

static int
hash_run(struct nvh_crashtest_run *r)
{
	return run_script(r, &hash_script);
}

static int
hash_check(struct nvh_crashtest_check *k)
{
	return check_script(k, &hash_script);
}

static int
btree_setup(struct nvh_crashtest_run *r)
{
	return setup_script(r, &btree_script);
}

static int
btree_run(struct nvh_crashtest_run *r)
{
	return run_script(r, &btree_script);
}

static int
btree_check(struct nvh_crashtest_check *k)
{
	return check_script(k, &btree_script);
}

const struct nvh_crashtest nvt_wl_kv_hash = {
	.name = "kv-hash",
	.what = "hash map: inserts splitting buckets, update, delete",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = hash_setup,
	.run = hash_run,
	.check = hash_check,
};

const struct nvh_crashtest nvt_wl_kv_btree = {
	.name = "kv-btree",
	.what = "B-tree: root split, delete, merge and root shrink",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = btree_setup,
	.run = btree_run,
	.check = btree_check,
};

const struct nvh_crashtest nvt_wl_kv_hash_ttl = {
	.name = "kv-hash-ttl",
	.what = "hash map: expiry times, in place, passed; active expiry",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = hash_ttl_setup,
	.run = hash_ttl_run,
	.check = hash_ttl_check,
};

const struct nvh_crashtest nvt_wl_kv_btree_ttl = {
	.name = "kv-btree-ttl",
	.what = "B-tree: expiry times, in place, passed; active expiry",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = btree_ttl_setup,
	.run = btree_ttl_run,
	.check = btree_ttl_check,
};
