/*
 * test_kv.c -- the key-value store (examples/kvstore): both indexes
 * against an in-memory reference under random operations with binary
 * keys, size limits, a full pool, scans and cursors, flush, reopen; and
 * the nvkv program's load, run as a program (NVKV names the binary);
 * growing pools (the default): a store that starts at 8 MiB and grows,
 * a capped one, a fixed one, a file size limit during growth
 * (NVHEAP_TOOL names the nvheap tool, for `nvheap check`).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "examples/kvstore/kv.h"

#define MIB (1ull << 20)

/* ---- the reference: a sorted array of owned pairs ---- */

struct pair {
	unsigned char *k, *v;
	size_t kl, vl;
};

struct ref {
	struct pair *p;
	size_t n, cap;
};

static int
keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static size_t
ref_lower(const struct ref *r, const void *k, size_t kl, int *eq)
{
	size_t lo = 0, hi = r->n;
	*eq = 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = keycmp(r->p[mid].k, r->p[mid].kl, k, kl);
		if (!c) {
			*eq = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static unsigned char *
memdup(const void *p, size_t n)
{
	unsigned char *d = malloc(n ? n : 1);
	assert_non_null(d);
	memcpy(d, p, n);
	return d;
}

static void
ref_put(struct ref *r, const void *k, size_t kl, const void *v, size_t vl)
{
	int eq;
	size_t i = ref_lower(r, k, kl, &eq);
	if (eq) {
		free(r->p[i].v);
		r->p[i].v = memdup(v, vl);
		r->p[i].vl = vl;
		return;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->p = realloc(r->p, r->cap * sizeof(*r->p));
		assert_non_null(r->p);
	}
	memmove(r->p + i + 1, r->p + i, (r->n - i) * sizeof(*r->p));
	r->p[i] = (struct pair){memdup(k, kl), memdup(v, vl), kl, vl};
	r->n++;
}

static int
ref_del(struct ref *r, const void *k, size_t kl)
{
	int eq;
	size_t i = ref_lower(r, k, kl, &eq);
	if (!eq)
		return -ENOENT;
	free(r->p[i].k);
	free(r->p[i].v);
	memmove(r->p + i, r->p + i + 1, (r->n - i - 1) * sizeof(*r->p));
	r->n--;
	return 0;
}

static const struct pair *
ref_get(const struct ref *r, const void *k, size_t kl)
{
	int eq;
	size_t i = ref_lower(r, k, kl, &eq);
	return eq ? &r->p[i] : NULL;
}

static void
ref_free(struct ref *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->p[i].k);
		free(r->p[i].v);
	}
	free(r->p);
	memset(r, 0, sizeof(*r));
}

/* ---- comparing ---- */

struct seen {
	const struct ref *r;
	unsigned char *hit;   /* per reference pair */
	size_t n, dups;
	int ordered;          /* must arrive in key order */
	const struct pair *last;
	unsigned char lastk[256];
	size_t lastkl;
	int bad;
};

static int
seen_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct seen *s = arg;
	int eq;
	size_t i = ref_lower(s->r, k, kl, &eq);
	if (!eq || s->r->p[i].vl != vl || memcmp(s->r->p[i].v, v, vl)) {
		s->bad = 1;
		return 0;
	}
	if (s->ordered && s->n && keycmp(s->lastk, s->lastkl, k, kl) >= 0)
		s->bad = 2;
	s->lastkl = kl < sizeof(s->lastk) ? kl : sizeof(s->lastk);
	memcpy(s->lastk, k, s->lastkl);
	s->dups += s->hit[i];
	s->hit[i] = 1;
	s->n++;
	return 0;
}

static void
assert_same(struct kv *kv, const struct ref *r)
{
	assert_int_equal(kv_count(kv), r->n);
	struct seen s = {.r = r, .hit = calloc(r->n + 1, 1),
			 .ordered = kv_index_kind(kv) == KV_BTREE};
	assert_int_equal(kv_scan(kv, NULL, 0, NULL, 0, seen_cb, &s), 0);
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.n, r->n);
	assert_int_equal(s.dups, 0);
	free(s.hit);
	for (size_t i = 0; i < r->n; i++) {
		const void *v;
		size_t vl;
		assert_int_equal(kv_get(kv, r->p[i].k, r->p[i].kl, &v, &vl), 0);
		assert_int_equal(vl, r->p[i].vl);
		assert_memory_equal(v, r->p[i].v, vl);
	}
	struct nvh_check_report rep;
	assert_nvh_ok(nvh_check(kv_pool(kv), &rep, NULL));
}

/* Keys from a small alphabet so that operations hit existing keys, with
 * NUL bytes and shared prefixes (the B-tree's 8-byte prefixes tie). */
static size_t
rand_key(unsigned char *k)
{
	size_t kl = (size_t)(rand() % 12);
	for (size_t i = 0; i < kl; i++)
		k[i] = (unsigned char)"\0ab\xff"[rand() % 4];
	if (rand() % 4 == 0) { /* a long shared prefix */
		memset(k, 'p', 10);
		kl = 10 + (size_t)(rand() % 3);
		for (size_t i = 10; i < kl; i++)
			k[i] = (unsigned char)('0' + rand() % 3);
	}
	return kl;
}

static struct kv *
fresh_n(const char *name, enum kv_index index, uint64_t size, unsigned n0)
{
	const char *p = nvt_path(name);
	unlink(p);
	struct kv_opts o = {.index = index, .size = size, .create = 1,
			    .hash_buckets = n0};
	struct kv *kv = kv_open(p, &o);
	if (!kv)
		fail_msg("kv_open: %s", kv_errmsg());
	return kv;
}

static struct kv *
fresh(const char *name, enum kv_index index, uint64_t size)
{
	return fresh_n(name, index, size, 0);
}

static void
differential(enum kv_index index, const char *name, unsigned seed)
{
	/* a hash map of 2 buckets to start with: it splits all along */
	struct kv *kv = fresh_n(name, index, 64 * MIB, 2);
	struct ref r = {0};
	srand(seed);
	unsigned char k[64], v[300];
	for (int step = 0; step < 6000; step++) {
		size_t kl = rand_key(k);
		size_t vl = (size_t)(rand() % (int)sizeof(v));
		for (size_t i = 0; i < vl; i++)
			v[i] = (unsigned char)rand();
		int op = rand() % 10;
		if (op < 5) {
			assert_int_equal(kv_put(kv, k, kl, v, vl), 0);
			ref_put(&r, k, kl, v, vl);
		} else if (op < 8) {
			int want = ref_del(&r, k, kl);
			assert_int_equal(kv_del(kv, k, kl), want);
		} else if (op == 8) {
			const void *gv;
			size_t gl;
			const struct pair *p = ref_get(&r, k, kl);
			int rc = kv_get(kv, k, kl, &gv, &gl);
			assert_int_equal(rc, p ? 0 : -ENOENT);
			if (p) {
				assert_int_equal(gl, p->vl);
				assert_memory_equal(gv, p->v, gl);
			}
		} else {
			size_t nl;
			const struct pair *p = ref_get(&r, k, kl);
			size_t old = p ? p->vl : 0;
			unsigned char *nv = malloc(old + vl + 1);
			if (p)
				memcpy(nv, p->v, old);
			memcpy(nv + old, v, vl);
			assert_int_equal(kv_append(kv, k, kl, v, vl, &nl), 0);
			assert_int_equal(nl, old + vl);
			ref_put(&r, k, kl, nv, old + vl);
			free(nv);
		}
		if (step % 1500 == 0)
			assert_same(kv, &r);
		if (step == 3000) { /* and after a reopen */
			assert_nvh_ok(kv_close(kv));
			struct kv_opts o = {.index = KV_ANY};
			kv = kv_open(nvt_path(name), &o);
			assert_non_null(kv);
			assert_int_equal(kv_index_kind(kv), index);
		}
	}
	assert_same(kv, &r);
	if (index == KV_HASH) {
		struct kv_stats st;
		assert_nvh_ok(kv_stats(kv, &st));
		assert_true(st.buckets > 64);
	}
	/* everything deleted: only the empty index is left */
	while (r.n) {
		assert_int_equal(kv_del(kv, r.p[0].k, r.p[0].kl), 0);
		ref_del(&r, r.p[0].k, r.p[0].kl);
	}
	assert_same(kv, &r);
	assert_nvh_ok(kv_close(kv));
	ref_free(&r);
}

static void
hash_differential(void **state)
{
	(void)state;
	differential(KV_HASH, "hash.kv", 11);
}

static void
btree_differential(void **state)
{
	(void)state;
	differential(KV_BTREE, "btree.kv", 12);
}

/* Many distinct keys: the hash map splits buckets one at a time, the
 * B-tree splits and, when they go, merges nodes down to an empty root. */
static void
growth(enum kv_index index, const char *name)
{
	struct kv *kv = fresh(name, index, 128 * MIB);
	struct ref r = {0};
	char k[32];
	const int n = 20000;
	for (int i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof(k), "key:%08d", (i * 7919) % n);
		assert_int_equal(kv_put(kv, k, (size_t)kl, &i, sizeof(i)), 0);
		ref_put(&r, k, (size_t)kl, &i, sizeof(i));
	}
	struct kv_stats st;
	assert_nvh_ok(kv_stats(kv, &st));
	if (index == KV_HASH) /* grown past its first 1024 buckets */
		assert_true(st.buckets >= (uint64_t)n / 2);
	else
		assert_true(st.depth >= 3);
	assert_same(kv, &r);
	/* a range scan of the B-tree equals the reference's range */
	if (index == KV_BTREE) {
		struct ref part = {0};
		for (size_t i = 0; i < r.n; i++)
			if (keycmp(r.p[i].k, r.p[i].kl, "key:00001000", 12) >= 0 &&
			    keycmp(r.p[i].k, r.p[i].kl, "key:00002000", 12) <= 0)
				ref_put(&part, r.p[i].k, r.p[i].kl, r.p[i].v,
					r.p[i].vl);
		struct seen s = {.r = &part, .hit = calloc(part.n + 1, 1),
				 .ordered = 1};
		assert_int_equal(kv_scan(kv, "key:00001000", 12, "key:00002000",
					 12, seen_cb, &s), 0);
		assert_int_equal(s.bad, 0);
		assert_int_equal(s.n, 1001);
		free(s.hit);
		ref_free(&part);
	}
	for (int i = 0; i < n; i += 2) {
		int kl = snprintf(k, sizeof(k), "key:%08d", i);
		assert_int_equal(kv_del(kv, k, (size_t)kl), 0);
		ref_del(&r, k, (size_t)kl);
	}
	assert_same(kv, &r);
	for (int i = 1; i < n; i += 2) {
		int kl = snprintf(k, sizeof(k), "key:%08d", i);
		assert_int_equal(kv_del(kv, k, (size_t)kl), 0);
		ref_del(&r, k, (size_t)kl);
	}
	assert_same(kv, &r);
	assert_nvh_ok(kv_stats(kv, &st));
	if (index == KV_BTREE)
		assert_int_equal(st.nodes, 1);
	assert_nvh_ok(kv_close(kv));
	ref_free(&r);
}

static void
hash_growth(void **state)
{
	(void)state;
	growth(KV_HASH, "hgrow.kv");
}

static void
btree_growth(void **state)
{
	(void)state;
	growth(KV_BTREE, "bgrow.kv");
}

/* SCAN cursors visit every key present throughout at least once, also
 * while keys are inserted between steps (the hash map splits). */
static void
cursor_scan(enum kv_index index, const char *name)
{
	struct kv *kv = fresh(name, index, 64 * MIB);
	struct ref r = {0};
	char k[32];
	for (int i = 0; i < 3000; i++) {
		int kl = snprintf(k, sizeof(k), "c%d", i);
		assert_int_equal(kv_put(kv, k, (size_t)kl, "v", 1), 0);
		ref_put(&r, k, (size_t)kl, "v", 1);
	}
	struct seen s = {.r = &r, .hit = calloc(r.n + 1, 1)};
	uint64_t cur = 0;
	int steps = 0, extra = 0;
	do {
		cur = kv_scan_step(kv, cur, 10, seen_cb, &s);
		steps++;
		/* insert keys the scan may or may not see */
		for (int j = 0; j < 5; j++, extra++) {
			int kl = snprintf(k, sizeof(k), "x%d", extra);
			assert_int_equal(kv_put(kv, k, (size_t)kl, "w", 1), 0);
		}
	} while (cur != 0 && steps < 100000);
	assert_true(steps > 10);
	assert_int_equal(cur, 0);
	for (size_t i = 0; i < r.n; i++)
		if (!s.hit[i])
			fail_msg("key %.*s never visited", (int)r.p[i].kl, r.p[i].k);
	free(s.hit);
	assert_nvh_ok(kv_close(kv));
	ref_free(&r);
}

static void
cursors(void **state)
{
	(void)state;
	cursor_scan(KV_HASH, "hcur.kv");
	cursor_scan(KV_BTREE, "bcur.kv");
}

/* ---- SCAN under heavy change, shared prefixes, arbitrary cursors ---- */

struct scan_stat {
	const struct ref *r;     /* the keys that must be returned */
	unsigned char *hit;
	size_t step, max_step;   /* keys returned by this step, the most */
	size_t dups, total;
	int calls;
};

static int
stat_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct scan_stat *st = arg;
	int eq;
	(void)v, (void)vl;
	size_t i = ref_lower(st->r, k, kl, &eq);
	if (eq) {
		st->dups += st->hit[i];
		st->hit[i] = 1;
	}
	st->step++;
	st->total++;
	return 0;
}

static uint64_t
stat_step(struct kv *kv, uint64_t cur, size_t count, struct scan_stat *st)
{
	st->step = 0;
	cur = kv_scan_step(kv, cur, count, stat_cb, st);
	if (st->step > st->max_step)
		st->max_step = st->step;
	st->calls++;
	return cur;
}

static void
assert_all_hit(const struct scan_stat *st, const char *what)
{
	for (size_t i = 0; i < st->r->n; i++)
		if (!st->hit[i])
			fail_msg("%s: key %.*s never returned", what,
				 (int)st->r->p[i].kl, st->r->p[i].k);
}

/* 20,000 keys, a SCAN COUNT 10 while 100,000 more are inserted (100 a
 * call), and optionally the new ones deleted again (50 a call, oldest
 * first) as it goes: it must end within a bound (the old bucket-order
 * cursor of the hash map never did: the table grew faster than the scan
 * went) and return every original key.  New key j sorts right after a
 * pseudo-random original, so in the B-tree they land ahead of the cursor
 * as well as behind it. */
static int
new_key(char *k, size_t size, int j, int n0, int added)
{
	int at = (int)((j * 7919u) % (unsigned)added) % n0;
	return snprintf(k, size, "key:%08d.%d", at, j);
}

static void
scan_under_inserts(enum kv_index index, const char *name, int deletes)
{
	struct kv *kv = fresh(name, index, 128 * MIB);
	struct ref r = {0};
	char k[32];
	const int n0 = 20000, added = 100000, per_call = 100;
	for (int i = 0; i < n0; i++) {
		int kl = snprintf(k, sizeof(k), "key:%08d", (i * 7919) % n0);
		assert_int_equal(kv_put(kv, k, (size_t)kl, "v", 1), 0);
		ref_put(&r, k, (size_t)kl, "v", 1);
	}
	struct scan_stat st = {.r = &r, .hit = calloc(r.n + 1, 1)};
	const int bound = 4 * (n0 + added) / 10;
	int ins = 0, del = 0;
	uint64_t cur = 0;
	do {
		cur = stat_step(kv, cur, 10, &st);
		for (int j = 0; j < per_call && ins < added; j++, ins++) {
			int kl = new_key(k, sizeof(k), ins, n0, added);
			assert_int_equal(kv_put(kv, k, (size_t)kl, "w", 1), 0);
		}
		for (int j = 0; deletes && j < per_call / 2 && del < ins;
		     j++, del++) {
			int kl = new_key(k, sizeof(k), del, n0, added);
			assert_int_equal(kv_del(kv, k, (size_t)kl), 0);
		}
	} while (cur != 0 && st.calls < bound);
	print_message("%s scan, COUNT 10, %d inserted, %d deleted: %d calls "
		      "(bound %d), %zu keys returned\n",
		      index == KV_HASH ? "hash" : "btree", ins, del, st.calls,
		      bound, st.total);
	assert_int_equal(cur, 0);
	assert_true(st.calls < bound);
	assert_all_hit(&st, name);
	if (index == KV_BTREE)
		assert_true(st.max_step <= 10);
	free(st.hit);
	assert_nvh_ok(kv_close(kv));
	ref_free(&r);
}

static void
scan_heavy_inserts(void **state)
{
	(void)state;
	scan_under_inserts(KV_HASH, "hins.kv", 0);
	scan_under_inserts(KV_HASH, "hinsdel.kv", 1);
	scan_under_inserts(KV_BTREE, "bins.kv", 0);
	scan_under_inserts(KV_BTREE, "binsdel.kv", 1);
}

/* Keys that share 8 bytes (so also 7): 5,000 "pppppppp..." and 2,000
 * starting with 8 NUL bytes (a resume key whose 7-byte prefix is 0 must
 * not encode as cursor 0), and short keys around them.  Every step
 * returns at most COUNT keys; with nothing changing, each key exactly
 * once; with changes in the same prefix, and across a reopen (where the
 * DRAM slots are gone), every original key at least once. */
static void
put_key(struct kv *kv, struct ref *r, const void *k, size_t kl)
{
	assert_int_equal(kv_put(kv, k, kl, "v", 1), 0);
	if (r)
		ref_put(r, k, kl, "v", 1);
}

static size_t
shared_key(unsigned char *k, int group, int i)
{
	memcpy(k, group ? "pppppppp" : "\0\0\0\0\0\0\0\0", 8);
	return 8 + (size_t)sprintf((char *)k + 8, "%06d", i);
}

static void
scan_shared_prefix(void **state)
{
	(void)state;
	struct kv *kv = fresh("bshare.kv", KV_BTREE, 64 * MIB);
	struct ref r = {0};
	unsigned char k[32];
	for (int i = 0; i < 5000; i++)
		put_key(kv, &r, k, shared_key(k, 1, i * 2));
	for (int i = 0; i < 2000; i++)
		put_key(kv, &r, k, shared_key(k, 0, i * 2));
	const char *shorts[] = {"", "\0", "\0\0\0\0\0\0\0", "p", "ppppppp",
				"pppppppo\xff", "pppppppq"};
	const size_t shortl[] = {0, 1, 7, 1, 7, 9, 8};
	for (size_t i = 0; i < sizeof(shortl) / sizeof(*shortl); i++)
		put_key(kv, &r, shorts[i], shortl[i]);
	const size_t counts[] = {1, 10, 31, 1000};
	for (size_t c = 0; c < sizeof(counts) / sizeof(*counts); c++) {
		struct scan_stat st = {.r = &r, .hit = calloc(r.n + 1, 1)};
		uint64_t cur = 0;
		do
			cur = stat_step(kv, cur, counts[c], &st);
		while (cur && st.calls < 100000);
		assert_int_equal(cur, 0);
		assert_true(st.max_step <= counts[c]);
		assert_int_equal(st.dups, 0);
		assert_int_equal(st.calls,
				 (int)((r.n + counts[c] - 1) / counts[c]));
		assert_all_hit(&st, "shared prefix");
		free(st.hit);
	}
	/* inserts and deletes in the same prefix while scanning, then a
	 * reopen midway: the cursor falls back to its 7-byte prefix */
	for (int pass = 0; pass < 2; pass++) {
		struct scan_stat st = {.r = &r, .hit = calloc(r.n + 1, 1)};
		uint64_t cur = 0;
		int extra = 0;
		do {
			cur = stat_step(kv, cur, 10, &st);
			for (int j = 0; j < 5; j++, extra++)
				put_key(kv, NULL, k,
					shared_key(k, extra & 1, extra | 1));
			if (extra > 10) /* an odd key of 10 calls ago */
				assert_int_equal(kv_del(kv, k, shared_key(k,
					(extra - 11) & 1, (extra - 11) | 1)),
					0);
			if (pass && st.calls == 300) {
				assert_nvh_ok(kv_close(kv));
				struct kv_opts o = {.index = KV_ANY};
				kv = kv_open(nvt_path("bshare.kv"), &o);
				assert_non_null(kv);
			}
		} while (cur && st.calls < 100000);
		print_message("shared prefix, COUNT 10, with changes%s: %d "
			      "calls for %zu keys, %zu duplicates\n",
			      pass ? " and a reopen" : "", st.calls, r.n,
			      st.dups);
		assert_int_equal(cur, 0);
		assert_true(st.max_step <= 10);
		assert_true(st.calls < 2 * (int)(r.n + extra) / 10);
		assert_all_hit(&st, "shared prefix with changes");
		free(st.hit);
	}
	assert_nvh_ok(kv_close(kv));
	ref_free(&r);
}

/* Any 64-bit cursor is a valid start: no crash, and the scan ends. */
static void
scan_arbitrary_cursors(void **state)
{
	(void)state;
	for (int idx = KV_HASH; idx <= KV_BTREE; idx++) {
		struct kv *kv = fresh(idx == KV_HASH ? "harb.kv" : "barb.kv",
				      (enum kv_index)idx, 64 * MIB);
		struct ref r = {0};
		unsigned char k[32];
		for (int i = 0; i < 3000; i++)
			put_key(kv, &r, k, shared_key(k, i & 1, i));
		struct kv_stats ks;
		assert_nvh_ok(kv_stats(kv, &ks));
		srand(77);
		for (int t = 0; t < 300; t++) {
			uint64_t cur = 0;
			for (int b = 0; b < 4; b++)
				cur = cur << 16 | (uint64_t)(rand() & 0xffff);
			if (t < 4) /* the edges */
				cur = (uint64_t[]){~0ull, 1, 255, 256}[t];
			struct scan_stat st = {.r = &r,
					       .hit = calloc(r.n + 1, 1)};
			do
				cur = stat_step(kv, cur, 10, &st);
			while (cur && st.calls < 10000);
			assert_int_equal(cur, 0);
			/* hash: one bucket at least a call, each bucket at
			 * most once; B-tree: 10 keys a call */
			assert_true(st.calls <= (idx == KV_HASH
				    ? (int)ks.buckets : (int)r.n / 10 + 1));
			free(st.hit);
		}
		assert_nvh_ok(kv_close(kv));
		ref_free(&r);
	}
}

/* Limits, a full pool, INCRBY, conditional puts, flush. */
static void
limits_and_errors(void **state)
{
	(void)state;
	for (int idx = KV_HASH; idx <= KV_BTREE; idx++) {
		/* a fixed size, to fill */
		const char *lp = nvt_path(idx == KV_HASH ? "lim-h.kv" : "lim-b.kv");
		unlink(lp);
		struct kv_opts lo = {.index = (enum kv_index)idx,
				     .size = 160 * MIB, .create = 1,
				     .max_size = NVH_GROW_OFF};
		struct kv *kv = kv_open(lp, &lo);
		if (!kv)
			fail_msg("kv_open: %s", kv_errmsg());
		unsigned char *big = calloc(1, KV_VAL_MAX + 1);
		assert_non_null(big);
		big[0] = 'B';
		big[KV_VAL_MAX - 1] = 'E';
		assert_int_equal(kv_put(kv, "big", 3, big, KV_VAL_MAX + 1), -E2BIG);
		assert_non_null(strstr(kv_errmsg(), "at most"));
		assert_int_equal(kv_put(kv, "big", 3, big, KV_VAL_MAX), 0);
		const void *v;
		size_t vl;
		assert_int_equal(kv_get(kv, "big", 3, &v, &vl), 0);
		assert_int_equal(vl, KV_VAL_MAX);
		assert_int_equal(((const char *)v)[KV_VAL_MAX - 1], 'E');
		assert_int_equal(kv_put(kv, big, KV_KEY_MAX + 1, "v", 1), -E2BIG);
		memset(big, 'k', KV_KEY_MAX);
		assert_int_equal(kv_put(kv, big, KV_KEY_MAX, "v", 1), 0);
		assert_int_equal(kv_get(kv, big, KV_KEY_MAX, &v, &vl), 0);
		assert_int_equal(kv_del(kv, "big", 3), 0);
		/* INCRBY */
		long long out;
		assert_int_equal(kv_incrby(kv, "n", 1, 5, &out), 0);
		assert_int_equal(out, 5);
		assert_int_equal(kv_incrby(kv, "n", 1, -7, &out), 0);
		assert_int_equal(out, -2);
		assert_int_equal(kv_put(kv, "s", 1, "12a", 3), 0);
		assert_int_equal(kv_incrby(kv, "s", 1, 1, &out), -EINVAL);
		assert_int_equal(kv_put(kv, "m", 1, "9223372036854775807", 19), 0);
		assert_int_equal(kv_incrby(kv, "m", 1, 1, &out), -ERANGE);
		/* NX / XX */
		assert_int_equal(kv_put_if(kv, "n", 1, "1", 1, 1, 0), -EEXIST);
		assert_int_equal(kv_put_if(kv, "q", 1, "1", 1, 0, 1), -ENOENT);
		assert_int_equal(kv_put_if(kv, "q", 1, "1", 1, 1, 0), 0);
		/* fill the pool: the failing put changes nothing */
		uint64_t n = kv_count(kv);
		int rc = 0, i;
		for (i = 0; i < 100000 && !rc; i++) {
			char key[16];
			int kl = snprintf(key, sizeof(key), "f%d", i);
			rc = kv_put(kv, key, (size_t)kl, big, 1 << 20);
		}
		assert_int_equal(rc, -ENOSPC);
		if (!strstr(kv_errmsg(), "(160 MiB, a fixed size) is full; "
			    "nothing was changed") ||
		    !strstr(kv_errmsg(), "nvheap grow ") ||
		    !strstr(kv_errmsg(), "--max-size unlimited"))
			fail_msg("a full fixed pool: %s", kv_errmsg());
		assert_int_equal(kv_count(kv), n + (uint64_t)i - 1);
		char key[16];
		int kl = snprintf(key, sizeof(key), "f%d", i - 1);
		assert_int_equal(kv_get(kv, key, (size_t)kl, &v, &vl), -ENOENT);
		struct nvh_check_report rep;
		assert_nvh_ok(nvh_check(kv_pool(kv), &rep, NULL));
		/* flush: everything goes, the pool is reusable */
		assert_nvh_ok(kv_flush(kv));
		assert_int_equal(kv_count(kv), 0);
		assert_int_equal(kv_get(kv, "n", 1, &v, &vl), -ENOENT);
		assert_int_equal(kv_put(kv, "after", 5, big, 1 << 20), 0);
		assert_nvh_ok(nvh_check(kv_pool(kv), &rep, NULL));
		/* type table, root, the index (hash: header, directory, a segment;
		 * btree: a node), the entry */
		assert_int_equal(rep.objects, idx == KV_HASH ? 6 : 4);
		free(big);
		assert_nvh_ok(kv_close(kv));
	}
	/* the index kind is the pool's */
	struct kv_opts o = {.index = KV_BTREE};
	assert_null(kv_open(nvt_path("lim-h.kv"), &o));
	assert_non_null(strstr(kv_errmsg(), "created with a hash index"));
	o.create = 0;
	assert_null(kv_open(nvt_path("nothing.kv"), &o));
}

/* ---- nvkv load, run as a program ---- */

/* Run `$NVKV <args>` with stdout and stderr together in *out (static);
 * returns the exit status. */
static int
vnvkv(char **out, const char *pre, const char *fmt, va_list ap)
{
	static char buf[16384];
	const char *prog = getenv("NVKV");
	if (!prog)
		fail_msg("NVKV (the nvkv program) is not set");
	char args[2048], cmd[4096];
	vsnprintf(args, sizeof(args), fmt, ap);
	snprintf(cmd, sizeof(cmd), "%s %s %s 2>&1", pre, prog, args);
	fflush(NULL);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	int st = pclose(f);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int __attribute__((format(printf, 2, 3)))
nvkv(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vnvkv(out, "", fmt, ap);
	va_end(ap);
	return rc;
}

/* nvkv after the shell commands `pre` (a limit, say) */
static int __attribute__((format(printf, 3, 4)))
nvkv_in(char **out, const char *pre, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vnvkv(out, pre, fmt, ap);
	va_end(ap);
	return rc;
}

#define assert_out_has(out, s)                                               \
	do {                                                                 \
		if (!strstr((out), (s)))                                     \
			fail_msg("nvkv's output lacks \"%s\":\n%s", (s), (out)); \
	} while (0)

/* A load file: lines good pairs "kI<tab>vI" (values of vsize bytes if
 * vsize, else "vI"), then the line `bad` if not NULL, then 10 more good
 * pairs. */
static const char *
load_file(const char *name, int lines, size_t vsize, const char *bad)
{
	const char *p = nvt_path(name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	for (int i = 1; i <= lines + (bad ? 10 : 0); i++) {
		if (bad && i == lines + 1)
			fprintf(f, "%s\n", bad);
		fprintf(f, "k%d\t", i);
		if (vsize)
			for (size_t j = 0; j < vsize; j++)
				putc('a' + i % 26, f);
		else
			fprintf(f, "v%d", i);
		putc('\n', f);
	}
	assert_int_equal(fclose(f), 0);
	return p;
}

/* The pool holds exactly k1..k<stored> (as load_file wrote them). */
static void
assert_loaded(const char *pool, int stored, int written, size_t vsize)
{
	struct kv_opts o = {.index = KV_ANY};
	struct kv *kv = kv_open(pool, &o);
	if (!kv)
		fail_msg("kv_open: %s", kv_errmsg());
	assert_int_equal(kv_count(kv), stored);
	for (int i = 1; i <= written; i++) {
		char k[32], v[32];
		int kl = snprintf(k, sizeof(k), "k%d", i);
		const void *got;
		size_t gl;
		int rc = kv_get(kv, k, (size_t)kl, &got, &gl);
		if (i > stored) {
			if (rc != -ENOENT)
				fail_msg("%s: k%d stored, but only lines 1-%d "
					 "should be", pool, i, stored);
			continue;
		}
		if (rc)
			fail_msg("%s: k%d (line %d) was not stored", pool, i, i);
		if (vsize) {
			assert_int_equal(gl, vsize);
			assert_int_equal(((const char *)got)[vsize - 1],
					 'a' + i % 26);
		} else {
			int vl = snprintf(v, sizeof(v), "v%d", i);
			assert_int_equal(gl, vl);
			assert_memory_equal(got, v, (size_t)vl);
		}
	}
	struct nvh_check_report rep;
	assert_nvh_ok(nvh_check(kv_pool(kv), &rep, NULL));
	assert_nvh_ok(kv_close(kv));
}

/* The line nvkv load's output says it stopped at, which must be in
 * [lo, hi] (lo > 1), saying the lines before it are stored. */
static int
load_stopped_at(const char *out, int lo, int hi)
{
	const char *at = strstr(out, "stopped at line ");
	if (!at)
		fail_msg("no \"stopped at line\" in:\n%s", out);
	int stop = atoi(at + strlen("stopped at line "));
	if (stop < lo || stop > hi)
		fail_msg("stopped at line %d:\n%s", stop, out);
	char want[128];
	snprintf(want, sizeof(want), "lines 1-%d (%d pairs) are stored",
		 stop - 1, stop - 1);
	assert_out_has(out, want);
	return stop;
}

/* load stops at the first bad line, and every line before it is stored,
 * also the part of the batch (1000 pairs per transaction) still open
 * there; exit status 1; the message says which lines are stored. */
static void
load_stops_at_bad_line(void **state)
{
	(void)state;
	char *out;
	for (int idx = KV_HASH; idx <= KV_BTREE; idx++) {
		const char *ix = kv_index_name((enum kv_index)idx);
		const char *pool = nvt_path("load.kv");

		/* a malformed line (invalid escape) after 1500 good ones:
		 * one batch committed, 500 pairs open */
		unlink(pool);
		const char *f = load_file("esc.txt", 1500, 0, "bad\\q\tv");
		assert_int_equal(nvkv(&out, "--index %s --size 16M %s load %s",
				      ix, pool, f), 1);
		assert_out_has(out, "esc.txt:1501: not KEY<tab>VALUE");
		assert_out_has(out, "stopped at line 1501: lines 1-1500 "
			       "(1500 pairs) are stored; nothing from line "
			       "1501 on was loaded");
		assert_loaded(pool, 1500, 1510, 0);

		/* no tab on line 1: nothing is loaded */
		unlink(pool);
		f = load_file("first.txt", 0, 0, "no tab here");
		assert_int_equal(nvkv(&out, "--index %s --size 16M %s load %s",
				      ix, pool, f), 1);
		assert_out_has(out, "first.txt:1: not KEY<tab>VALUE");
		assert_out_has(out, "stopped at line 1: nothing was loaded");
		assert_loaded(pool, 0, 10, 0);

		/* a key too long, in the first batch */
		unlink(pool);
		char *bad = malloc(KV_KEY_MAX + 8);
		assert_non_null(bad);
		memset(bad, 'y', KV_KEY_MAX + 1);
		strcpy(bad + KV_KEY_MAX + 1, "\tv");
		f = load_file("long.txt", 10, 0, bad);
		free(bad);
		assert_int_equal(nvkv(&out, "--index %s --size 16M %s load %s",
				      ix, pool, f), 1);
		assert_out_has(out, "long.txt:11: put: key of");
		assert_out_has(out, "lines 1-10 (10 pairs) are stored");
		assert_loaded(pool, 10, 20, 0);

		/* a full pool: the failing put fails the batch's
		 * transaction; the pairs before it are put again alone */
		unlink(pool);
		f = load_file("full.txt", 100, 100000, NULL);
		assert_int_equal(nvkv(&out, "--index %s --size 4M --max-size "
				      "fixed %s load %s", ix, pool, f), 1);
		assert_out_has(out, "(4 MiB, a fixed size) is full; nothing "
			       "was changed");
		assert_out_has(out, "nvheap grow ");
		int stop = load_stopped_at(out, 5, 100);
		assert_loaded(pool, stop - 1, 100, 100000);

		/* a good file from stdin */
		unlink(pool);
		f = load_file("good.txt", 20, 0, NULL);
		assert_int_equal(nvkv(&out, "--index %s --size 16M %s load - < %s",
				      ix, pool, f), 0);
		assert_out_has(out, "loaded 20 pairs");
		assert_loaded(pool, 20, 20, 0);
	}
}

/* ---- growing pools ---- */

#define GROW_VALUES 20000
#define GROW_VSIZE 4096

static void
grow_value(char *v, int i)
{
	memset(v, 'a' + i % 26, GROW_VSIZE);
	memcpy(v, &i, sizeof(i));
}

/* `nvheap check PATH` passes. */
static void
assert_tool_check(const char *path)
{
	const char *tool = getenv("NVHEAP_TOOL");
	if (!tool)
		fail_msg("NVHEAP_TOOL (the nvheap tool) is not set");
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "%s check %s >/dev/null 2>&1", tool, path);
	fflush(NULL);
	int st = system(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("nvheap check %s failed", path);
}

/* A store created with the defaults (kv_open, and nvkv put) starts at
 * 8 MiB at most and grows without limit: 20,000 values of 4 KiB take
 * it past 64 MiB, every one readable after a reopen, nvheap check clean. */
static void
default_store_grows(void **state)
{
	(void)state;
	for (int idx = KV_HASH; idx <= KV_BTREE; idx++) {
		const char *p = nvt_path("grow.kv");
		unlink(p);
		struct kv_opts o = {.index = (enum kv_index)idx, .create = 1};
		struct kv *kv = kv_open(p, &o);
		if (!kv)
			fail_msg("kv_open: %s", kv_errmsg());
		assert_true(nvt_file_size(p) <= KV_INITIAL_SIZE);
		struct nvh_pool_info pi;
		assert_nvh_ok(nvh_pool_info(kv_pool(kv), &pi));
		assert_int_equal(pi.grows, 1);
		assert_int_equal(pi.max_size, 0); /* unlimited */
		static char v[GROW_VSIZE];
		char k[32];
		for (int i = 0; i < GROW_VALUES; i++) {
			int kl = snprintf(k, sizeof(k), "g%d", i);
			grow_value(v, i);
			if (kv_put(kv, k, (size_t)kl, v, GROW_VSIZE))
				fail_msg("put %d: %s", i, kv_errmsg());
		}
		assert_nvh_ok(nvh_pool_info(kv_pool(kv), &pi));
		assert_true(pi.pool_size > 64 * MIB);
		assert_true(pi.segments > 0);
		assert_nvh_ok(kv_close(kv));
		assert_int_equal(nvt_file_size(p), pi.pool_size);
		o.create = 0;
		kv = kv_open(p, &o);
		if (!kv)
			fail_msg("reopen: %s", kv_errmsg());
		assert_int_equal(kv_count(kv), GROW_VALUES);
		for (int i = 0; i < GROW_VALUES; i++) {
			int kl = snprintf(k, sizeof(k), "g%d", i);
			const void *got;
			size_t gl;
			if (kv_get(kv, k, (size_t)kl, &got, &gl))
				fail_msg("get %d: %s", i, kv_errmsg());
			grow_value(v, i);
			assert_int_equal(gl, GROW_VSIZE);
			if (memcmp(got, v, GROW_VSIZE))
				fail_msg("value %d differs after the reopen", i);
		}
		assert_int_equal(kv_check(kv, NULL, NULL), 0);
		assert_nvh_ok(kv_close(kv));
		assert_tool_check(p);
		unlink(p);
	}
	/* The program: its default, --size, --max-size fixed (as before),
	 * --max-size on an existing pool (it changes the policy), bad
	 * values; each run in turn on one path. */
	static const struct {
		int fresh;         /* remove the pool first */
		const char *opts;  /* before the path */
		const char *cmd;   /* after it */
		int status;
		const char *says;  /* in the output ("": anything) */
		uint64_t size;     /* the file's size after (0: <= 8 MiB) */
	} runs[] = {
		{1, "", "put a b", 0, "", 0},
		{0, "", "stats", 0, "max size:  unlimited\ngrowths:   0\n", 0},
		{1, "--size 16M", "put a b", 0, "", 16 * MIB},
		{1, "--max-size fixed", "put a b", 0, "", KV_FIXED_SIZE},
		{0, "", "stats", 0, "max size:  fixed\n", KV_FIXED_SIZE},
		{0, "--max-size 1G", "stats", 0, "max size:  1073741824 bytes\n",
		 KV_FIXED_SIZE},
		{0, "--max-size unlimited", "stats", 0, "max size:  unlimited\n",
		 KV_FIXED_SIZE},
		{0, "--max-size 2X", "stats", 2, "--max-size: \"2X\" is not a "
		 "size (e.g. 512M, 4G), unlimited or fixed", KV_FIXED_SIZE},
		{0, "--read-only --max-size 1G", "stats", 2,
		 "not with --read-only", KV_FIXED_SIZE},
	};
	const char *p = nvt_path("grow-cli.kv");
	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		if (runs[r].fresh)
			unlink(p);
		char *out;
		int st = nvkv(&out, "%s %s %s", runs[r].opts, p, runs[r].cmd);
		if (st != runs[r].status)
			fail_msg("nvkv %s PATH %s: exit %d, not %d:\n%s",
				 runs[r].opts, runs[r].cmd, st, runs[r].status,
				 out);
		assert_out_has(out, runs[r].says);
		if (runs[r].size)
			assert_int_equal(nvt_file_size(p), runs[r].size);
		else
			assert_true(nvt_file_size(p) <= KV_INITIAL_SIZE);
	}
	unlink(p);
}

/* Fill kv with 1 MiB values until a put fails: its error; the puts
 * that succeeded in *n. */
static int
fill(struct kv *kv, int *n)
{
	static char v[1 << 20];
	int rc = 0, i;
	for (i = 0; i < 100000 && !rc; i++) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "f%d", i);
		memset(v, 'a' + i % 26, sizeof(v));
		rc = kv_put(kv, k, (size_t)kl, v, sizeof(v));
	}
	*n = i - 1;
	return rc;
}

/* Keys f0..f<n-1> and nothing else; the pool is consistent. */
static void
assert_filled(struct kv *kv, int n)
{
	assert_int_equal(kv_count(kv), n);
	char k[16];
	const void *v;
	size_t vl;
	for (int i = 0; i <= n; i++) {
		int kl = snprintf(k, sizeof(k), "f%d", i);
		int rc = kv_get(kv, k, (size_t)kl, &v, &vl);
		if (i == n) {
			assert_int_equal(rc, -ENOENT); /* the failed one */
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(vl, 1 << 20);
			assert_int_equal(((const char *)v)[vl - 1], 'a' + i % 26);
		}
	}
	struct nvh_check_report rep;
	assert_nvh_ok(nvh_check(kv_pool(kv), &rep, NULL));
}

/* A pool capped at 24 MiB grows to it, then reports that it reached its
 * maximum size, changing nothing; raised with max_size at the next open,
 * it grows on. */
static void
capped_store_reports_its_maximum(void **state)
{
	(void)state;
	const char *p = nvt_path("capped.kv");
	unlink(p);
	struct kv_opts o = {.create = 1, .max_size = 24 * MIB};
	struct kv *kv = kv_open(p, &o);
	if (!kv)
		fail_msg("kv_open: %s", kv_errmsg());
	assert_int_equal(nvt_file_size(p), KV_INITIAL_SIZE);
	int n;
	assert_int_equal(fill(kv, &n), -ENOSPC);
	if (!strstr(kv_errmsg(), "reached its maximum size (24 MiB); nothing "
		    "was changed") || !strstr(kv_errmsg(), "--max-size"))
		fail_msg("a pool at its maximum: %s", kv_errmsg());
	struct nvh_pool_info pi;
	assert_nvh_ok(nvh_pool_info(kv_pool(kv), &pi));
	assert_true(pi.segments > 0);
	assert_true(pi.pool_size <= 24 * MIB && pi.pool_size > 16 * MIB);
	assert_true(n >= 12);
	assert_filled(kv, n);
	assert_nvh_ok(kv_close(kv));
	/* a raised maximum, at open: it grows on (in this run) */
	o.max_size = 48 * MIB;
	o.create = 0;
	kv = kv_open(p, &o);
	if (!kv)
		fail_msg("reopen: %s", kv_errmsg());
	char k[16];
	static char v[1 << 20];
	int kl = snprintf(k, sizeof(k), "f%d", n);
	memset(v, 'a' + n % 26, sizeof(v));
	if (kv_put(kv, k, (size_t)kl, v, sizeof(v)))
		fail_msg("put past the old maximum: %s", kv_errmsg());
	assert_nvh_ok(kv_close(kv));
	assert_tool_check(p);
	unlink(p);
	/* a cap below the first size: the pool starts at the cap */
	o.max_size = 4 * MIB;
	o.create = 1;
	kv = kv_open(p, &o);
	if (!kv)
		fail_msg("kv_open: %s", kv_errmsg());
	assert_nvh_ok(kv_close(kv));
	assert_int_equal(nvt_file_size(p), 4 * MIB);
	unlink(p);
}

/* In a child: a file size limit of 40 MiB (SIGXFSZ ignored, as nvkv and
 * nvkv-server do): the growth that would pass it fails, and the put says
 * so.  Exit status 100 + the values stored, else what went wrong (no
 * cmocka asserts in a child). */
static int
fsize_child(void *arg)
{
	struct rlimit rl = {40 * MIB, 40 * MIB};
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl))
		return 10;
	struct kv_opts o = {.create = 1};
	struct kv *kv = kv_open(arg, &o);
	if (!kv)
		return 11;
	int n, rc = fill(kv, &n);
	if (rc != -ENOSPC) {
		fprintf(stderr, "fill: %d: %s\n", rc, kv_errmsg());
		return 12;
	}
	if (!strstr(kv_errmsg(), "cannot grow: the file reached its size "
		    "limit") || !strstr(kv_errmsg(), "nothing was changed")) {
		fprintf(stderr, "a file size limit: %s\n", kv_errmsg());
		return 13;
	}
	if (kv_close(kv) || n > 150)
		return 14;
	return 100 + n;
}

/* A file size limit met while growing: the put that needed the growth
 * fails with nothing changed, the values before it stay; through the
 * library and through nvkv (which ignores SIGXFSZ, so it says why
 * rather than dies). */
static void
file_size_limit_during_growth(void **state)
{
	(void)state;
	const char *p = nvt_path("fsize.kv");
	unlink(p);
	int st = nvt_in_child(fsize_child, (void *)p);
	if (st < 100)
		fail_msg("the child failed: %d", st);
	assert_true(nvt_file_size(p) <= 40 * MIB);
	struct kv_opts o = {.index = KV_ANY};
	struct kv *kv = kv_open(p, &o);
	if (!kv)
		fail_msg("kv_open: %s", kv_errmsg());
	assert_filled(kv, st - 100);
	assert_nvh_ok(kv_close(kv));
	assert_tool_check(p);
	/* (sh's ulimit -f counts 512-byte blocks, bash's 1024: 32 or
	 * 64 MiB, either way below the 100 MiB of values) */
	unlink(p);
	char *out;
	const char *f = load_file("fsize.txt", 100, 1 << 20, NULL);
	assert_int_equal(nvkv_in(&out, "ulimit -f 65536;", "%s load %s", p, f),
			 1);
	assert_out_has(out, "cannot grow: the file reached its size limit");
	assert_out_has(out, "nothing was changed");
	int stop = load_stopped_at(out, 10, 64);
	assert_true(nvt_file_size(p) <= 64 * MIB);
	assert_loaded(p, stop - 1, 100, 1 << 20);
	assert_tool_check(p);
	unlink(p);
	unlink(f);
}

/* ---- a killed store, opened read-only ---- */

#define KV_KEPT 500

/* Opens the store and, in one transaction, overwrites, deletes and adds
 * keys (the hash map splitting, the B-tree splitting), then is killed
 * before the commit, the changes applied in place. */
static int
kv_killed_in_tx(void *arg)
{
	struct kv_opts o = {.index = KV_ANY};
	struct kv *kv = kv_open(arg, &o);
	if (!kv)
		return 1;
	nvh_tx *tx = nvh_tx_begin(kv_pool(kv));
	if (!tx)
		return 2;
	char k[32], v[64];
	for (int i = 0; i < 3000; i++) {
		int kl = snprintf(k, sizeof(k), "n%d", i);
		int vl = snprintf(v, sizeof(v), "new value %d", i);
		if (kv_put(kv, k, (size_t)kl, v, (size_t)vl))
			return 3;
		if (i < KV_KEPT) {
			kl = snprintf(k, sizeof(k), "k%d", i);
			if (i % 2 ? kv_del(kv, k, (size_t)kl)
				  : kv_put(kv, k, (size_t)kl, v, (size_t)vl))
				return 4;
		}
	}
	kill(getpid(), SIGKILL);
	return 5;
}

static char *
slurp(const char *path, size_t *n)
{
	*n = nvt_file_size(path);
	char *b = malloc(*n);
	assert_non_null(b);
	nvt_pread(path, 0, b, *n);
	return b;
}

/* Exactly k0..k<KV_KEPT-1> with their committed values. */
static void
assert_kept(struct kv *kv)
{
	struct ref r = {0};
	char k[32], v[32];
	for (int i = 0; i < KV_KEPT; i++) {
		int kl = snprintf(k, sizeof(k), "k%d", i);
		int vl = snprintf(v, sizeof(v), "v%d", i);
		ref_put(&r, k, (size_t)kl, v, (size_t)vl);
	}
	assert_same(kv, &r);
	ref_free(&r);
}

/* A read-only open of a store killed in the middle of a transaction used
 * to show the transaction's half (and crash in scans); it shows the
 * recovered store, through the library and through `nvkv --read-only`,
 * and leaves the file as the crash left it. */
static void
killed_store_read_only(void **state)
{
	(void)state;
	for (int idx = KV_HASH; idx <= KV_BTREE; idx++) {
		const char *ix = kv_index_name((enum kv_index)idx);
		const char *p = nvt_path("killed.kv");
		unlink(p);
		struct kv_opts o = {.index = (enum kv_index)idx, .size = 16 * MIB,
				    .create = 1, .hash_buckets = 2};
		struct kv *kv = kv_open(p, &o);
		if (!kv)
			fail_msg("kv_open: %s", kv_errmsg());
		char k[32], v[32];
		for (int i = 0; i < KV_KEPT; i++) {
			int kl = snprintf(k, sizeof(k), "k%d", i);
			int vl = snprintf(v, sizeof(v), "v%d", i);
			assert_int_equal(kv_put(kv, k, (size_t)kl, v, (size_t)vl), 0);
		}
		assert_nvh_ok(kv_close(kv));
		assert_int_equal(nvt_in_child(kv_killed_in_tx, (void *)p),
				 128 + SIGKILL);
		size_t n0, n1;
		char *before = slurp(p, &n0);

		struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
		struct kv_opts oro = {.index = KV_ANY, .nvh = &ro};
		kv = kv_open(p, &oro);
		if (!kv)
			fail_msg("%s: kv_open read-only: %s", ix, kv_errmsg());
		assert_kept(kv);
		assert_int_equal(kv_put(kv, "x", 1, "y", 1), -EROFS);
		assert_nvh_ok(kv_close(kv));

		char *out;
		assert_int_equal(nvkv(&out, "--read-only %s get k10", p), 0);
		assert_string_equal(out, "v10\n");
		assert_int_equal(nvkv(&out, "--read-only %s get n10", p), 1);
		assert_out_has(out, "no key \"n10\"");
		assert_int_equal(nvkv(&out, "--read-only %s stats", p), 0);
		assert_out_has(out, "keys:      500\n");
		assert_int_equal(nvkv(&out, "--read-only %s scan", p), 0);
		int lines = 0;
		for (const char *c = out; *c; c++)
			lines += *c == '\n';
		assert_int_equal(lines, KV_KEPT);
		assert_out_has(out, "k499\tv499\n");
		if (strstr(out, "new value"))
			fail_msg("%s: scan shows the killed transaction:\n%s", ix,
				 out);
		assert_int_equal(nvkv(&out, "--read-only %s put a b", p), 1);
		assert_out_has(out, "read-only");

		char *after = slurp(p, &n1);
		assert_int_equal(n0, n1);
		if (memcmp(before, after, n0))
			fail_msg("%s: a read-only open changed the file", ix);
		free(before);
		free(after);
		/* the read-write open recovers the same store */
		o.create = 0;
		kv = kv_open(p, &o);
		if (!kv)
			fail_msg("kv_open: %s", kv_errmsg());
		assert_kept(kv);
		assert_nvh_ok(kv_close(kv));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_differential),
		cmocka_unit_test(btree_differential),
		cmocka_unit_test(hash_growth),
		cmocka_unit_test(btree_growth),
		cmocka_unit_test(cursors),
		cmocka_unit_test(scan_heavy_inserts),
		cmocka_unit_test(scan_shared_prefix),
		cmocka_unit_test(scan_arbitrary_cursors),
		cmocka_unit_test(limits_and_errors),
		cmocka_unit_test(load_stops_at_bad_line),
		cmocka_unit_test(default_store_grows),
		cmocka_unit_test(capped_store_reports_its_maximum),
		cmocka_unit_test(file_size_limit_during_growth),
		cmocka_unit_test(killed_store_read_only),
	};
	return cmocka_run_group_tests_name("kv", tests, NULL, NULL);
}
