/*
 * wl_kv.c -- torture workloads for the key-value store (examples/kvstore).
 *
 *   kv-hash   a hash map started at 2 buckets: inserts that split buckets
 *             (one of them completing a round), an update, a delete
 *   kv-btree  a B-tree whose root leaf is full: an insert that splits the
 *             root, a delete from a child, a delete that merges the two
 *             children and shrinks the root, a re-insert, an update
 *
 * Oracle: after recovery the store holds exactly the pairs after the
 * acknowledged operations, or after the one in flight too (every key of
 * the script compared, plus the count); nvh_check finds no problem and no
 * dying object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#include "examples/kvstore/kv.h"

#define POOL (8ull << 20)
#define NKEYS 40
#define MAXOPS 8

enum { PUT, DEL };

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
	for (int j = 0; j < upto; j++) {
		const struct kop *o = &s->ops[j];
		if (o->op == PUT)
			snprintf(st->val[o->key], 16, "v%d", j);
		else
			st->val[o->key][0] = 0;
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
setup_script(struct nvt_run *r, const struct kvscript *s)
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
run_script(struct nvt_run *r, const struct kvscript *s)
{
	struct kv *kv = open_kv(r->path, s, &r->opts, 0);
	if (!kv)
		return -1;
	int rc = 0;
	for (int j = 0; j < s->nops && !rc; j++) {
		char k[16], v[16];
		key_of(s->ops[j].key, k);
		snprintf(v, sizeof(v), "v%d", j);
		rc = s->ops[j].op == PUT ? kv_put(kv, k, strlen(k), v, strlen(v))
					 : kv_del(kv, k, strlen(k));
		if (!rc)
			nvt_ack(r);
	}
	return kv_close(kv) || rc ? -1 : 0;
}

/* Does the store hold exactly st? */
static int
matches(struct kv *kv, const struct kstate *st, char *why, size_t wl)
{
	uint64_t n = 0;
	for (int i = 0; i < NKEYS; i++) {
		char k[16];
		key_of(i, k);
		const void *v;
		size_t vl;
		int rc = kv_get(kv, k, strlen(k), &v, &vl);
		if (!st->val[i][0]) {
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
	}
	if (kv_count(kv) != n) {
		snprintf(why, wl, "count %llu, expected %llu",
			 (unsigned long long)kv_count(kv), (unsigned long long)n);
		return 0;
	}
	return 1;
}

static int
check_script(struct nvt_check *k, const struct kvscript *s)
{
	struct kv *kv = open_kv(k->path, s, &k->opts, 0);
	nvt_opened(k);
	if (!kv)
		return nvt_fail(k, "open failed after %u operations: %s",
				k->acked, kv_errmsg());
	k->why[0] = 0;
	struct kstate done, next;
	apply(s, (int)k->acked, &done);
	apply(s, (int)k->acked + (k->acked < (unsigned)s->nops), &next);
	char w1[128] = "", w2[128] = "";
	struct nvh_check_report rep;
	if (nvh_check(kv_pool(kv), &rep, NULL))
		nvt_fail(k, "after %u operations nvh_check finds %llu problems",
			 k->acked, (unsigned long long)rep.problems);
	else if (rep.dying)
		nvt_fail(k, "%llu objects still dying after the open",
			 (unsigned long long)rep.dying);
	else if (!matches(kv, &done, w1, sizeof(w1)) &&
		 !matches(kv, &next, w2, sizeof(w2)))
		nvt_fail(k, "after %u operations: %s; nor the next state: %s",
			 k->acked, w1, w2);
	if (kv_close(kv) && !k->why[0])
		nvt_fail(k, "close after recovery: %s", kv_errmsg());
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

static int
hash_setup(struct nvt_run *r)
{
	return setup_script(r, &hash_script);
}

static int
hash_run(struct nvt_run *r)
{
	return run_script(r, &hash_script);
}

static int
hash_check(struct nvt_check *k)
{
	return check_script(k, &hash_script);
}

static int
btree_setup(struct nvt_run *r)
{
	return setup_script(r, &btree_script);
}

static int
btree_run(struct nvt_run *r)
{
	return run_script(r, &btree_script);
}

static int
btree_check(struct nvt_check *k)
{
	return check_script(k, &btree_script);
}

const struct nvt_workload nvt_wl_kv_hash = {
	.name = "kv-hash",
	.what = "hash map: inserts splitting buckets, update, delete",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = hash_setup,
	.run = hash_run,
	.check = hash_check,
};

const struct nvt_workload nvt_wl_kv_btree = {
	.name = "kv-btree",
	.what = "B-tree: root split, delete, merge and root shrink",
	.pool_size = POOL,
	.priv_size = 0,
	.setup = btree_setup,
	.run = btree_run,
	.check = btree_check,
};
