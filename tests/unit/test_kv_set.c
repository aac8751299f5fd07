/*
 * test_kv_set.c -- the key-value store's sets (examples/kvstore/coll.c,
 * a hash's structure with empty values) on both indexes: SADD's added
 * flag (new, duplicate, the empty member, members with NUL bytes, one
 * of KV_KEY_MAX bytes and one past it refused); a small set lists its
 * members in insertion order, the 129th member or a 65-byte one moves
 * it into a B-tree in member order with every member kept; SREM of an
 * absent member is -ENOENT and of the last member deletes the key; a
 * reopen keeps all.  WRONGTYPE both ways between sets, hashes, strings
 * and lists, with nothing changed by a refused call; SET over a set,
 * RENAME, DEL, expiry and FLUSHALL of sets, nvh_check clean.  30,000
 * seeded random SADD/SREM/SISMEMBER/SCARD over four sets (one that
 * stays small, one emptied and re-made over and over, two that become
 * trees, with members past 64 bytes) against a model, every reply
 * compared, and the whole sets (their order included) every 1000
 * operations.  200,000 members (in transactions of 1000, every 7th read
 * back after a reopen, SSCAN's steps visiting each, kv_check, and the
 * space given back when the key is deleted).  And a SIGKILL after
 * acknowledged SADDs and SREMs loses none of them.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kv_test.h"


/* SADD of ml bytes at m: its added flag (fails on an error) */
static int
sadd_n(struct kv *kv, const char *k, const void *m, size_t ml)
{
	int added = -1;
	int rc = kv_sadd(kv, k, strlen(k), m, ml, &added);
	if (rc)
		fail_msg("sadd %s (%zu bytes): %d %s", k, ml, rc, kv_errmsg());
	assert_true(added == 0 || added == 1);
	return added;
}

static int
sadd(struct kv *kv, const char *k, const char *m)
{
	return sadd_n(kv, k, m, strlen(m));
}

/* SISMEMBER: 1 or 0 (fails on any other reply) */
static int
ismember_n(struct kv *kv, const char *k, const void *m, size_t ml)
{
	int rc = kv_sismember(kv, k, strlen(k), m, ml);
	if (rc && rc != -ENOENT)
		fail_msg("sismember %s: %d %s", k, rc, kv_errmsg());
	return rc == 0;
}

static int
ismember(struct kv *kv, const char *k, const char *m)
{
	return ismember_n(kv, k, m, strlen(m));
}

static int
srem(struct kv *kv, const char *k, const char *m)
{
	return kv_srem(kv, k, strlen(k), m, strlen(m));
}

static uint64_t
scard(struct kv *kv, const char *k)
{
	uint64_t n = 99;
	assert_int_equal(kv_scard(kv, k, strlen(k), &n), 0);
	return n;
}

static int
key_type(struct kv *kv, const char *k, enum kv_type *t)
{
	return kv_key_type(kv, k, strlen(k), t, NULL);
}

/* ---- the members a call lists, in its order ---- */

#define MAXM 320
#define MLEN 128

struct mlist {
	size_t n;
	size_t len[MAXM];
	unsigned char m[MAXM][MLEN];
};

static int
mlist_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct mlist *l = arg;
	(void)v;
	assert_int_equal(vl, 0); /* a member's value is empty */
	assert_true(l->n < MAXM);
	assert_true(kl <= MLEN);
	memcpy(l->m[l->n], k, kl);
	l->len[l->n++] = kl;
	return 0;
}

struct blob {
	const void *p;
	size_t l;
};

#define BLOB(s) ((struct blob){(s), sizeof(s) - 1})

static int
blob_cmp(const void *a, const void *b)
{
	const struct blob *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->l < y->l ? x->l : y->l);
	return c ? c : (x->l > y->l) - (x->l < y->l);
}

/* kv_smembers lists exactly want[0..n), in that order, or (sorted) in
 * member order: bytes, then length, as the B-tree keeps them */
static void
expect_members(struct kv *kv, const char *k, const struct blob *want,
	       size_t n, int sorted)
{
	struct mlist *l = calloc(1, sizeof(*l));
	struct blob *w = calloc(n ? n : 1, sizeof(*w));
	assert_true(l && w);
	if (n)
		memcpy(w, want, n * sizeof(*w));
	if (sorted)
		qsort(w, n, sizeof(*w), blob_cmp);
	assert_int_equal(kv_smembers(kv, k, strlen(k), mlist_cb, l), 0);
	assert_int_equal(l->n, n);
	for (size_t i = 0; i < n; i++) {
		if (l->len[i] != w[i].l || memcmp(l->m[i], w[i].p, w[i].l))
			fail_msg("%s: member %zu of %zu is not the one "
				 "expected (%zu bytes, want %zu)", k, i, n,
				 l->len[i], w[i].l);
	}
	free(w);
	free(l);
}

/* a member a byte longer than the limit */
static unsigned char huge[KV_KEY_MAX + 1];

/* Another error's message (SADD of a member too long: -E2BIG) */
static void
other_error(struct kv *kv)
{
	int a = -1;
	assert_int_equal(kv_sadd(kv, "e2big", 5, huge, sizeof(huge), &a),
			 -E2BIG);
	assert_int_equal(a, 0);
	assert_null(strstr(kv_errmsg(), "WRONGTYPE"));
}

/* The call returned -EMEDIUMTYPE and said WRONGTYPE (the message is
 * first set to another error's, so a stale one cannot pass). */
#define assert_wrongtype(kv, expr)                                           \
	do {                                                                 \
		other_error(kv);                                             \
		int rc_ = (expr);                                            \
		if (rc_ != -EMEDIUMTYPE ||                                   \
		    !strstr(kv_errmsg(), "WRONGTYPE"))                       \
			fail_msg("%s: %d (%s), not WRONGTYPE", #expr, rc_,   \
				 kv_errmsg());                               \
	} while (0)

static void
check_clean(struct kv *kv)
{
	struct nvh_check_report rep;
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	assert_int_equal(nvh_check(kv_pool(kv), &rep, NULL), 0);
	assert_int_equal(rep.problems, 0);
}

/* ---- 1. basics ---- */

struct seen {
	unsigned char *hit;
	uint64_t visits;
	size_t n;
	const struct blob *m; /* or NULL: "member:%u" */
};

static int
seen_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct seen *s = arg;
	(void)v;
	assert_int_equal(vl, 0);
	s->visits++;
	if (s->m) {
		for (size_t i = 0; i < s->n; i++) {
			if (s->m[i].l == kl && !memcmp(s->m[i].p, k, kl)) {
				s->hit[i] = 1;
				return 0;
			}
		}
		fail_msg("a member (%zu bytes) not in the set", kl);
	}
	char f[32];
	unsigned i;
	assert_true(kl < sizeof(f));
	memcpy(f, k, kl);
	f[kl] = 0;
	assert_int_equal(sscanf(f, "member:%u", &i), 1);
	char want[32];
	int n = snprintf(want, sizeof(want), "member:%u", i);
	assert_int_equal(kl, (size_t)n);
	assert_true(i < s->n);
	s->hit[i] = 1;
	return 0;
}

/* SSCAN's steps, count members each, visit every one of m[0..n) */
static void
scan_all(struct kv *kv, const char *k, const struct blob *m, size_t n,
	 size_t count)
{
	unsigned char hit[MAXM] = {0};
	struct seen s = {.hit = hit, .n = n, .m = m};
	uint64_t cur = 0, steps = 0;
	assert_true(n <= MAXM);
	do {
		assert_int_equal(kv_sscan_step(kv, k, strlen(k), cur, count,
					       seen_cb, &s, &cur), 0);
		assert_true(++steps <= 2 * n + 2);
	} while (cur);
	for (size_t i = 0; i < n; i++)
		if (!hit[i])
			fail_msg("%s: SSCAN (count %zu) missed member %zu of "
				 "%zu", k, count, i, n);
	assert_true(s.visits >= n && s.visits <= 2 * n);
}

static char names[130][8];
static struct blob mnames[130];

static void
expect_all(struct kv *kv)
{
	/* "s": a, "", "\0\xff", c, b (insertion order) */
	const struct blob s[] = {BLOB("a"), BLOB(""), BLOB("\0\xff"),
				 BLOB("c"), BLOB("b")};
	assert_int_equal(scard(kv, "s"), 5);
	expect_members(kv, "s", s, 5, 0);
	/* "big": m0..m128 less m64, a tree */
	struct blob big[129];
	size_t n = 0;
	for (int i = 0; i <= 128; i++)
		if (i != 64)
			big[n++] = mnames[i];
	assert_int_equal(scard(kv, "big"), 128);
	expect_members(kv, "big", big, n, 1);
	assert_false(ismember(kv, "big", "m64"));
	for (size_t i = 0; i < n; i++)
		assert_true(ismember_n(kv, "big", big[i].p, big[i].l));
	scan_all(kv, "big", big, n, 10);
}

static void
basics(enum kv_index ix)
{
	const char *name = ix == KV_HASH ? "set-basic-h.pool"
					 : "set-basic-b.pool";
	struct kv *kv = open_kv(name, ix, 1);
	enum kv_type t;
	int64_t e = 1;
	/* an absent key is an empty set */
	assert_int_equal(scard(kv, "s"), 0);
	assert_false(ismember(kv, "s", "a"));
	assert_int_equal(srem(kv, "s", "a"), -ENOENT);
	expect_members(kv, "s", NULL, 0, 0);
	uint64_t next = 7;
	assert_int_equal(kv_sscan_step(kv, "s", 1, 0, 10, mlist_cb, NULL,
				       &next), 0);
	assert_int_equal(next, 0);
	assert_int_equal(kv_count(kv), 0);

	/* added: 1 new, 0 already there; "" and NUL bytes are members */
	assert_int_equal(sadd(kv, "s", "a"), 1);
	assert_int_equal(sadd(kv, "s", "b"), 1);
	assert_int_equal(sadd(kv, "s", "a"), 0);
	assert_int_equal(sadd_n(kv, "s", "", 0), 1);
	assert_int_equal(sadd_n(kv, "s", "\0\xff", 2), 1);
	assert_int_equal(sadd_n(kv, "s", "", 0), 0);
	assert_int_equal(sadd_n(kv, "s", "\0\xff", 2), 0);
	assert_int_equal(sadd(kv, "s", "c"), 1);
	assert_int_equal(kv_count(kv), 1);
	assert_int_equal(kv_key_type(kv, "s", 1, &t, &e), 0);
	assert_int_equal(t, KV_T_SET);
	assert_int_equal(e, 0);
	assert_string_equal(kv_type_name(t), "set");
	assert_int_equal(scard(kv, "s"), 5);
	assert_true(ismember(kv, "s", "a"));
	assert_true(ismember(kv, "s", "b"));
	assert_true(ismember(kv, "s", "c"));
	assert_true(ismember_n(kv, "s", "", 0));
	assert_true(ismember_n(kv, "s", "\0\xff", 2));
	assert_false(ismember(kv, "s", "d"));
	assert_false(ismember(kv, "s", "A"));
	assert_false(ismember_n(kv, "s", "\0", 1));
	assert_false(ismember_n(kv, "s", "\xff", 1));
	assert_false(ismember_n(kv, "s", "\0\xff\0", 3));
	assert_false(ismember_n(kv, "s", "a\0", 2));
	const struct blob s1[] = {BLOB("a"), BLOB("b"), BLOB(""),
				  BLOB("\0\xff"), BLOB("c")};
	expect_members(kv, "s", s1, 5, 0);
	/* a small set in one SSCAN step */
	struct mlist *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	next = 7;
	assert_int_equal(kv_sscan_step(kv, "s", 1, 0, 2, mlist_cb, l, &next),
			 0);
	assert_int_equal(next, 0);
	assert_int_equal(l->n, 5);
	free(l);

	/* SREM: -ENOENT for no such member; the order is kept; a member
	 * added again goes last */
	assert_int_equal(srem(kv, "s", "zz"), -ENOENT);
	assert_int_equal(kv_srem(kv, "s", 1, "\0", 1), -ENOENT);
	assert_int_equal(srem(kv, "s", "b"), 0);
	assert_int_equal(srem(kv, "s", "b"), -ENOENT);
	assert_false(ismember(kv, "s", "b"));
	assert_int_equal(scard(kv, "s"), 4);
	const struct blob s2[] = {BLOB("a"), BLOB(""), BLOB("\0\xff"),
				  BLOB("c")};
	expect_members(kv, "s", s2, 4, 0);
	assert_int_equal(sadd(kv, "s", "b"), 1);
	const struct blob s3[] = {BLOB("a"), BLOB(""), BLOB("\0\xff"),
				  BLOB("c"), BLOB("b")};
	expect_members(kv, "s", s3, 5, 0);

	/* the last member removed takes the key with it */
	assert_int_equal(sadd(kv, "t", "x"), 1);
	assert_int_equal(sadd(kv, "t", "y"), 1);
	assert_int_equal(kv_count(kv), 2);
	assert_int_equal(srem(kv, "t", "x"), 0);
	assert_int_equal(key_type(kv, "t", &t), 0);
	assert_int_equal(srem(kv, "t", "y"), 0);
	assert_int_equal(key_type(kv, "t", &t), -ENOENT);
	assert_int_equal(kv_count(kv), 1);
	assert_int_equal(scard(kv, "t"), 0);
	assert_int_equal(srem(kv, "t", "y"), -ENOENT);
	/* ... and a SADD makes a new one */
	assert_int_equal(sadd(kv, "t", "y"), 1);
	assert_int_equal(scard(kv, "t"), 1);
	assert_int_equal(srem(kv, "t", "y"), 0);
	assert_int_equal(kv_count(kv), 1);

	/* a member of KV_KEY_MAX bytes is one, a byte more is refused */
	memset(huge, 'h', sizeof(huge));
	assert_int_equal(sadd_n(kv, "t", huge, KV_KEY_MAX), 1);
	assert_true(ismember_n(kv, "t", huge, KV_KEY_MAX));
	assert_false(ismember_n(kv, "t", huge, KV_KEY_MAX - 1));
	int a = -1;
	assert_int_equal(kv_sadd(kv, "t", 1, huge, KV_KEY_MAX + 1, &a), -E2BIG);
	assert_int_equal(a, 0);
	assert_int_equal(scard(kv, "t"), 1);
	assert_int_equal(kv_srem(kv, "t", 1, huge, KV_KEY_MAX), 0);
	assert_int_equal(key_type(kv, "t", &t), -ENOENT);

	/* 128 members: still the chain, in insertion order (m0, m1, ...
	 * m127, not member order m0, m1, m10, m100, ...) */
	for (int i = 0; i <= 128; i++) {
		int n = snprintf(names[i], sizeof(names[i]), "m%d", i);
		mnames[i] = (struct blob){names[i], (size_t)n};
	}
	for (int i = 0; i < 128; i++)
		assert_int_equal(sadd(kv, "big", names[i]), 1);
	assert_int_equal(sadd(kv, "big", "m5"), 0);
	assert_int_equal(scard(kv, "big"), 128);
	expect_members(kv, "big", mnames, 128, 0);
	/* the 129th: a B-tree in member order, every member kept */
	assert_int_equal(sadd(kv, "big", "m128"), 1);
	assert_int_equal(sadd(kv, "big", "m5"), 0);
	assert_int_equal(sadd(kv, "big", "m128"), 0);
	assert_int_equal(scard(kv, "big"), 129);
	expect_members(kv, "big", mnames, 129, 1);
	for (int i = 0; i <= 128; i++)
		assert_true(ismember(kv, "big", names[i]));
	assert_false(ismember(kv, "big", "m129"));
	assert_false(ismember(kv, "big", "m"));
	/* removing from the tree, and adding again */
	assert_int_equal(srem(kv, "big", "m0"), 0);
	assert_int_equal(srem(kv, "big", "m64"), 0);
	assert_int_equal(srem(kv, "big", "m64"), -ENOENT);
	assert_int_equal(scard(kv, "big"), 127);
	assert_false(ismember(kv, "big", "m0"));
	assert_int_equal(sadd(kv, "big", "m0"), 1);
	assert_int_equal(scard(kv, "big"), 128);
	/* a member removed from a tree made from the chain is freed (no
	 * stale chain link keeps it: the one before it is still there) */
	for (int i = 0; i <= 128; i++)
		assert_int_equal(sadd(kv, "fr", names[i]), 1);
	struct nvh_stats st0 = nvt_stats(kv_pool(kv)), st1;
	for (int i = 1; i < 127; i++)
		assert_int_equal(srem(kv, "fr", names[i]), 0);
	st1 = nvt_stats(kv_pool(kv));
	if (st1.objects + 126 > st0.objects)
		fail_msg("126 members removed, %" PRIu64 " objects freed",
			 st0.objects - st1.objects);
	const struct blob fr[] = {mnames[0], mnames[127], mnames[128]};
	expect_members(kv, "fr", fr, 3, 1);
	assert_int_equal(kv_del(kv, "fr", 2), 0);

	/* a 64-byte member keeps the chain, a 65-byte one makes a tree */
	char y64[65], x65[66];
	memset(y64, 'y', 64);
	y64[64] = 0;
	memset(x65, 'x', 65);
	x65[65] = 0;
	assert_int_equal(sadd(kv, "g", "z"), 1);
	assert_int_equal(sadd(kv, "g", "a"), 1);
	assert_int_equal(sadd(kv, "g", y64), 1);
	const struct blob g1[] = {BLOB("z"), BLOB("a"), {y64, 64}};
	expect_members(kv, "g", g1, 3, 0);
	assert_int_equal(sadd(kv, "g", x65), 1);
	assert_int_equal(sadd(kv, "g", x65), 0);
	assert_int_equal(scard(kv, "g"), 4);
	const struct blob g2[] = {BLOB("z"), BLOB("a"), {y64, 64}, {x65, 65}};
	expect_members(kv, "g", g2, 4, 1);
	assert_true(ismember(kv, "g", x65));
	assert_false(ismember_n(kv, "g", x65, 64));
	assert_true(ismember(kv, "g", "z"));
	assert_int_equal(srem(kv, "g", x65), 0);
	assert_int_equal(scard(kv, "g"), 3);
	expect_members(kv, "g", g1, 3, 1); /* a tree still */

	/* a tree whose members are "", NULs and prefixes of each other:
	 * SSCAN one member a step still visits each */
	const struct blob n1[] = {BLOB(""), BLOB("\0"), BLOB("\0\0"),
				  BLOB("\0\x01"), BLOB("\0\0\0\0\0\0\0\0"),
				  BLOB("\0\0\0\0\0\0\0\0\0"), BLOB("a"),
				  BLOB("ab"), {x65, 65}};
	for (size_t i = 0; i < 9; i++)
		assert_int_equal(sadd_n(kv, "n", n1[i].p, n1[i].l), 1);
	assert_int_equal(scard(kv, "n"), 9);
	expect_members(kv, "n", n1, 9, 1);
	for (size_t c = 1; c <= 3; c++)
		scan_all(kv, "n", n1, 9, c);
	for (size_t i = 0; i < 9; i++)
		assert_true(ismember_n(kv, "n", n1[i].p, n1[i].l));
	assert_int_equal(kv_count(kv), 4);
	check_clean(kv);
	expect_all(kv);

	/* a reopen keeps all */
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv(name, ix, 0);
	assert_int_equal(kv_count(kv), 4);
	expect_all(kv);
	expect_members(kv, "g", g1, 3, 1);
	expect_members(kv, "n", n1, 9, 1);
	assert_int_equal(key_type(kv, "big", &t), 0);
	assert_int_equal(t, KV_T_SET);
	/* and the sets take writes after it */
	assert_int_equal(sadd(kv, "s", "d"), 1);
	assert_int_equal(scard(kv, "s"), 6);
	assert_int_equal(srem(kv, "big", "m1"), 0);
	assert_int_equal(scard(kv, "big"), 127);
	check_clean(kv);
	assert_int_equal(kv_close(kv), 0);
}

static void
basics_hash(void **s)
{
	(void)s;
	basics(KV_HASH);
}

static void
basics_btree(void **s)
{
	(void)s;
	basics(KV_BTREE);
}

/* ---- 2. types ---- */

static int
count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	++*(uint64_t *)arg;
	return 0;
}

/* Nothing changed: "set" {a, b}, "h" {f: 1}, "str" "val", "l" [x]. */
static void
unchanged(struct kv *kv)
{
	const void *v;
	size_t vl;
	uint64_t n = 0;
	enum kv_type t;
	assert_int_equal(kv_count(kv), 4);
	const struct blob s[] = {BLOB("a"), BLOB("b")};
	assert_int_equal(scard(kv, "set"), 2);
	expect_members(kv, "set", s, 2, 0);
	assert_int_equal(key_type(kv, "set", &t), 0);
	assert_int_equal(t, KV_T_SET);
	assert_int_equal(kv_hlen(kv, "h", 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_hget(kv, "h", 1, "f", 1, &v, &vl), 0);
	assert_int_equal(vl, 1);
	assert_memory_equal(v, "1", 1);
	assert_int_equal(key_type(kv, "h", &t), 0);
	assert_int_equal(t, KV_T_HASH);
	assert_int_equal(kv_get(kv, "str", 3, &v, &vl), 0);
	assert_int_equal(vl, 3);
	assert_memory_equal(v, "val", 3);
	assert_int_equal(kv_llen(kv, "l", 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_lindex(kv, "l", 1, 0, &v, &vl), 0);
	assert_int_equal(vl, 1);
	assert_memory_equal(v, "x", 1);
	assert_int_equal(key_type(kv, "l", &t), 0);
	assert_int_equal(t, KV_T_LIST);
}

static void
types(void **st)
{
	(void)st;
	struct kv *kv = open_kv("set-types.pool", KV_HASH, 1);
	const void *v;
	size_t vl;
	enum kv_type t;
	uint64_t n;
	memset(huge, 'h', sizeof(huge));
	assert_int_equal(sadd(kv, "set", "a"), 1);
	assert_int_equal(sadd(kv, "set", "b"), 1);
	assert_int_equal(kv_hset(kv, "h", 1, "f", 1, "1", 1, 0, NULL), 0);
	assert_int_equal(kv_put(kv, "str", 3, "val", 3), 0);
	const void *xp = "x";
	size_t xl = 1;
	assert_int_equal(kv_lpush(kv, "l", 1, &xp, &xl, 1, 1, 0, &n), 0);
	assert_int_equal(n, 1);
	unchanged(kv);

	/* the set calls on a hash, a string, a list */
	const char *other[] = {"h", "str", "l"};
	for (int i = 0; i < 3; i++) {
		const char *k = other[i];
		size_t kl = strlen(k);
		int a = -1;
		assert_wrongtype(kv, kv_sadd(kv, k, kl, "a", 1, &a));
		assert_int_equal(a, 0);
		assert_wrongtype(kv, kv_sadd(kv, k, kl, "f", 1, &a));
		assert_wrongtype(kv, kv_srem(kv, k, kl, "f", 1));
		assert_wrongtype(kv, kv_srem(kv, k, kl, "x", 1));
		assert_wrongtype(kv, kv_sismember(kv, k, kl, "f", 1));
		assert_wrongtype(kv, kv_scard(kv, k, kl, &n));
		uint64_t c = 0, next = 7;
		assert_wrongtype(kv, kv_smembers(kv, k, kl, count_cb, &c));
		assert_wrongtype(kv, kv_sscan_step(kv, k, kl, 0, 10, count_cb,
						   &c, &next));
		assert_int_equal(c, 0);
		assert_int_equal(next, 0);
		unchanged(kv);
	}
	/* the string, hash and list calls on a set */
	long long ll;
	size_t nl;
	uint64_t c = 0, next = 7;
	assert_wrongtype(kv, kv_get(kv, "set", 3, &v, &vl));
	int64_t ex;
	assert_wrongtype(kv, kv_get_ex(kv, "set", 3, &v, &vl, &ex));
	assert_wrongtype(kv, kv_incrby(kv, "set", 3, 1, &ll));
	assert_wrongtype(kv, kv_append(kv, "set", 3, "x", 1, &nl));
	assert_wrongtype(kv, kv_hset(kv, "set", 3, "a", 1, "v", 1, 0, NULL));
	assert_wrongtype(kv, kv_hset(kv, "set", 3, "c", 1, "v", 1, 1, NULL));
	assert_wrongtype(kv, kv_hget(kv, "set", 3, "a", 1, &v, &vl));
	assert_wrongtype(kv, kv_hdel(kv, "set", 3, "a", 1));
	assert_wrongtype(kv, kv_hlen(kv, "set", 3, &n));
	assert_wrongtype(kv, kv_hscan(kv, "set", 3, count_cb, &c));
	assert_wrongtype(kv, kv_hscan_step(kv, "set", 3, 0, 10, count_cb, &c,
					   &next));
	assert_wrongtype(kv, kv_lpush(kv, "set", 3, &xp, &xl, 1, 1, 0, &n));
	assert_wrongtype(kv, kv_lpush(kv, "set", 3, &xp, &xl, 1, 0, 1, &n));
	assert_wrongtype(kv, kv_lpop(kv, "set", 3, 1, 1, count_cb, &c));
	assert_wrongtype(kv, kv_llen(kv, "set", 3, &n));
	assert_wrongtype(kv, kv_lindex(kv, "set", 3, 0, &v, &vl));
	assert_wrongtype(kv, kv_lrange(kv, "set", 3, 0, -1, count_cb, &c));
	assert_wrongtype(kv, kv_lrem(kv, "set", 3, 0, "a", 1, &n));
	assert_int_equal(c, 0);
	unchanged(kv);

	/* SET replaces a set (its members are freed: nvh_check below) */
	assert_int_equal(kv_put(kv, "set", 3, "now", 3), 0);
	assert_int_equal(key_type(kv, "set", &t), 0);
	assert_int_equal(t, KV_T_STRING);
	assert_int_equal(kv_get(kv, "set", 3, &v, &vl), 0);
	assert_int_equal(vl, 3);
	assert_memory_equal(v, "now", 3);
	assert_wrongtype(kv, kv_scard(kv, "set", 3, &n));
	assert_wrongtype(kv, kv_sismember(kv, "set", 3, "a", 1));
	assert_int_equal(kv_count(kv), 4);
	/* a tree set too */
	char m[32];
	for (int i = 0; i < 200; i++) {
		snprintf(m, sizeof(m), "m%d", i);
		assert_int_equal(sadd(kv, "tree", m), 1);
	}
	assert_int_equal(kv_put(kv, "tree", 4, "s", 1), 0);
	assert_int_equal(kv_get(kv, "tree", 4, &v, &vl), 0);
	assert_int_equal(vl, 1);
	assert_int_equal(kv_del(kv, "tree", 4), 0);

	/* RENAME moves the set (small and tree), not a copy */
	for (int i = 0; i < 200; i++) {
		snprintf(m, sizeof(m), "m%d", i);
		assert_int_equal(sadd(kv, "x", m), 1);
	}
	assert_int_equal(sadd(kv, "sm", "p"), 1);
	assert_int_equal(sadd(kv, "sm", "q"), 1);
	assert_int_equal(kv_rename(kv, "x", 1, "y", 1, 0), 0);
	assert_int_equal(key_type(kv, "x", &t), -ENOENT);
	assert_int_equal(scard(kv, "x"), 0);
	assert_int_equal(scard(kv, "y"), 200);
	assert_true(ismember(kv, "y", "m199"));
	assert_int_equal(kv_rename(kv, "sm", 2, "sm2", 3, 1), 0);
	const struct blob pq[] = {BLOB("p"), BLOB("q")};
	expect_members(kv, "sm2", pq, 2, 0);
	assert_int_equal(scard(kv, "sm"), 0);
	/* onto a string: NX refuses, else the set replaces it */
	assert_int_equal(kv_rename(kv, "y", 1, "str", 3, 1), -EEXIST);
	assert_int_equal(scard(kv, "y"), 200);
	assert_int_equal(kv_get(kv, "str", 3, &v, &vl), 0);
	assert_int_equal(kv_rename(kv, "y", 1, "str", 3, 0), 0);
	assert_int_equal(key_type(kv, "str", &t), 0);
	assert_int_equal(t, KV_T_SET);
	assert_int_equal(scard(kv, "str"), 200);
	assert_int_equal(scard(kv, "y"), 0);
	assert_wrongtype(kv, kv_get(kv, "str", 3, &v, &vl));
	/* set, h, str, l, sm2 */
	assert_int_equal(kv_count(kv), 5);

	/* expiry: the whole set goes; a SADD then makes a new one */
	assert_int_equal(kv_set_expire(kv, "str", 3, T0 + 1000), 0);
	assert_int_equal(kv_expires(kv), 1);
	int64_t e = 0;
	assert_int_equal(kv_key_type(kv, "str", 3, &t, &e), 0);
	assert_int_equal(e, T0 + 1000);
	kv_set_time(kv, T0 + 999);
	assert_int_equal(scard(kv, "str"), 200);
	assert_true(ismember(kv, "str", "m0"));
	kv_set_time(kv, T0 + 1000);
	assert_int_equal(scard(kv, "str"), 0);
	assert_false(ismember(kv, "str", "m0"));
	assert_int_equal(srem(kv, "str", "m0"), -ENOENT);
	assert_int_equal(key_type(kv, "str", &t), -ENOENT);
	c = 0;
	assert_int_equal(kv_smembers(kv, "str", 3, count_cb, &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(sadd(kv, "str", "new"), 1);
	assert_int_equal(scard(kv, "str"), 1);
	assert_false(ismember(kv, "str", "m0"));
	const struct blob nw[] = {BLOB("new")};
	expect_members(kv, "str", nw, 1, 0);
	assert_int_equal(kv_expires(kv), 0);
	e = 1;
	assert_int_equal(kv_key_type(kv, "str", 3, &t, &e), 0);
	assert_int_equal(t, KV_T_SET);
	assert_int_equal(e, 0);
	/* an expiry on a small set, removed by PERSIST */
	assert_int_equal(kv_set_expire(kv, "sm2", 3, T0 + 5000), 0);
	assert_int_equal(kv_set_expire(kv, "sm2", 3, 0), 0);
	kv_set_time(kv, T0 + 6000);
	assert_int_equal(scard(kv, "sm2"), 2);
	/* DEL */
	assert_int_equal(kv_del(kv, "sm2", 3), 0);
	assert_int_equal(kv_del(kv, "sm2", 3), -ENOENT);
	assert_int_equal(scard(kv, "sm2"), 0);
	assert_int_equal(kv_count(kv), 4);

	/* FLUSHALL, with a small set and a tree */
	for (int i = 0; i < 300; i++) {
		snprintf(m, sizeof(m), "f%d", i);
		assert_int_equal(sadd(kv, "f2", m), 1);
	}
	assert_int_equal(sadd(kv, "f1", "a"), 1);
	assert_int_equal(kv_flush(kv), 0);
	assert_int_equal(kv_count(kv), 0);
	assert_int_equal(scard(kv, "f1"), 0);
	assert_int_equal(scard(kv, "f2"), 0);
	assert_int_equal(scard(kv, "str"), 0);
	assert_int_equal(sadd(kv, "f2", "f0"), 1);
	assert_int_equal(scard(kv, "f2"), 1);

	/* an expired key of another type is no key: SADD makes a set of
	 * it; an expired set is none for the other types' writes */
	assert_int_equal(kv_put(kv, "e1", 2, "v", 1), 0);
	assert_int_equal(kv_hset(kv, "e2", 2, "f", 1, "v", 1, 0, NULL), 0);
	assert_int_equal(kv_lpush(kv, "e3", 2, &xp, &xl, 1, 1, 0, &n), 0);
	assert_int_equal(sadd(kv, "e4", "a"), 1);
	assert_int_equal(sadd(kv, "e5", "a"), 1);
	const char *ek[] = {"e1", "e2", "e3", "e4", "e5"};
	for (int i = 0; i < 5; i++)
		assert_int_equal(kv_set_expire(kv, ek[i], 2, T0 + 7000), 0);
	assert_int_equal(kv_expires(kv), 5);
	kv_set_time(kv, T0 + 7000);
	assert_int_equal(sadd(kv, "e1", "s1"), 1);
	assert_int_equal(sadd(kv, "e2", "f"), 1);
	assert_int_equal(sadd(kv, "e3", "x"), 1);
	assert_int_equal(kv_hset(kv, "e4", 2, "a", 1, "v", 1, 0, NULL), 0);
	assert_int_equal(kv_lpush(kv, "e5", 2, &xp, &xl, 1, 1, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_expires(kv), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(scard(kv, ek[i]), 1);
		assert_int_equal(key_type(kv, ek[i], &t), 0);
		assert_int_equal(t, KV_T_SET);
	}
	assert_true(ismember(kv, "e2", "f"));
	assert_false(ismember(kv, "e1", "v"));
	assert_int_equal(key_type(kv, "e4", &t), 0);
	assert_int_equal(t, KV_T_HASH);
	assert_int_equal(kv_hlen(kv, "e4", 2, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(key_type(kv, "e5", &t), 0);
	assert_int_equal(t, KV_T_LIST);
	assert_int_equal(kv_count(kv), 6);
	check_clean(kv);
	assert_int_equal(kv_close(kv), 0);
}

/* ---- 3. against a model ---- */

#define NV 600
#define NSETS 4
#define OPS 30000

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int
is_long(unsigned i)
{
	return i % 7 == 3;
}

/* Value i's bytes in buf (at least 128), its length: "m<i>", "b\0<i>"
 * (a NUL inside) or, long ones, "L<i>:" and filler to 65..114 bytes. */
static size_t
value(unsigned i, char *buf)
{
	if (is_long(i)) {
		int n = sprintf(buf, "L%u:", i);
		size_t len = 65 + i % 50;
		memset(buf + n, 'a' + (int)(i % 26), len - (size_t)n);
		return len;
	}
	if (i % 11 == 5) {
		buf[0] = 'b';
		buf[1] = 0;
		return 2 + (size_t)sprintf(buf + 2, "%u", i);
	}
	return (size_t)sprintf(buf, "m%u", i);
}

/* the value a member's bytes are (fails if none) */
static unsigned
value_of(const void *p, size_t l)
{
	char b[160], w[160];
	assert_true(l > 1 && l < sizeof(b));
	memcpy(b, p, l);
	b[l] = 0;
	const char *d = b[0] == 'b' ? b + 2 : b + 1;
	unsigned i = (unsigned)strtoul(d, NULL, 10);
	assert_true(i < NV);
	size_t wl = value(i, w);
	if (wl != l || memcmp(w, p, l))
		fail_msg("member of %zu bytes is no value", l);
	return i;
}

struct mset {
	const char *key;
	unsigned char in[NV];
	uint64_t n;
	int tree;          /* has been made a tree since it was created */
	unsigned ord[NV];  /* insertion order (a small set's) */
	uint64_t emptied;
};

struct ids {
	size_t n;
	unsigned id[NV + 1];
};

static int
ids_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct ids *s = arg;
	(void)v;
	assert_int_equal(vl, 0);
	assert_true(s->n < NV);
	s->id[s->n++] = value_of(k, kl);
	return 0;
}

static void
model_compare(struct kv *kv, const struct mset *ms)
{
	static struct ids got;
	static unsigned char seen[NV];
	memset(&got, 0, sizeof(got));
	memset(seen, 0, sizeof(seen));
	size_t kl = strlen(ms->key);
	assert_int_equal(kv_smembers(kv, ms->key, kl, ids_cb, &got), 0);
	assert_int_equal(got.n, ms->n);
	assert_int_equal(scard(kv, ms->key), ms->n);
	char a[160], b[160];
	for (size_t i = 0; i < got.n; i++) {
		unsigned id = got.id[i];
		if (!ms->in[id] || seen[id])
			fail_msg("%s: member %u listed but %s", ms->key, id,
				 seen[id] ? "twice" : "not in the model");
		seen[id] = 1;
		if (!ms->tree) {
			if (id != ms->ord[i])
				fail_msg("%s: small set's member %zu is %u, "
					 "inserted was %u", ms->key, i, id,
					 ms->ord[i]);
		} else if (i) {
			size_t al = value(got.id[i - 1], a);
			size_t bl = value(id, b);
			struct blob x = {a, al}, y = {b, bl};
			if (blob_cmp(&x, &y) >= 0)
				fail_msg("%s: tree's members %zu, %zu out of "
					 "order", ms->key, i - 1, i);
		}
	}
	enum kv_type t;
	assert_int_equal(kv_key_type(kv, ms->key, kl, &t, NULL),
			 ms->n ? 0 : -ENOENT);
	if (ms->n)
		assert_int_equal(t, KV_T_SET);
}

static void
model(void **st)
{
	(void)st;
	struct kv *kv = open_kv("set-model.pool", KV_HASH, 1);
	static struct mset ms[NSETS];
	static const char *keys[NSETS] = {"small", "tiny", "mixed", "short"};
	unsigned shorts[NV], nshort = 0;
	for (unsigned i = 0; i < NV; i++)
		if (!is_long(i))
			shorts[nshort++] = i;
	memset(ms, 0, sizeof(ms));
	for (int s = 0; s < NSETS; s++)
		ms[s].key = keys[s];
	char buf[160];
	uint64_t replies[4] = {0};
	for (unsigned op = 0; op < OPS; op++) {
		uint64_t r = xorshift();
		struct mset *m = &ms[r % NSETS];
		unsigned id;
		switch (r % NSETS) {
		case 0: /* stays small: 100 short values */
			id = shorts[(r >> 8) % 100];
			break;
		case 1: /* emptied often: 4 values */
			id = shorts[(r >> 8) % 4];
			break;
		case 2: /* all, the long ones too */
			id = (unsigned)((r >> 8) % NV);
			break;
		default: /* short ones, more than 128 */
			id = shorts[(r >> 8) % nshort];
			break;
		}
		size_t ml = value(id, buf);
		size_t kl = strlen(m->key);
		unsigned what = (unsigned)((r >> 32) % 10);
		int rc;
		if (what < 4) { /* SADD */
			int added = -1;
			rc = kv_sadd(kv, m->key, kl, buf, ml, &added);
			if (rc)
				fail_msg("op %u sadd: %d %s", op, rc,
					 kv_errmsg());
			assert_int_equal(added, !m->in[id]);
			if (!m->in[id]) {
				if (!m->tree && (is_long(id) || m->n == 128))
					m->tree = 1;
				m->in[id] = 1;
				m->ord[m->n++] = id;
			}
			replies[0]++;
		} else if (what < 7) { /* SREM */
			rc = kv_srem(kv, m->key, kl, buf, ml);
			if (rc != (m->in[id] ? 0 : -ENOENT))
				fail_msg("op %u srem %s %u: %d, model %d", op,
					 m->key, id, rc, m->in[id]);
			if (m->in[id]) {
				uint64_t j = 0;
				while (m->ord[j] != id)
					j++;
				memmove(m->ord + j, m->ord + j + 1,
					(m->n - j - 1) * sizeof(m->ord[0]));
				m->in[id] = 0;
				if (--m->n == 0) { /* the key is gone */
					m->tree = 0;
					m->emptied++;
					enum kv_type t;
					assert_int_equal(
						kv_key_type(kv, m->key, kl, &t,
							    NULL), -ENOENT);
				}
			}
			replies[1]++;
		} else if (what < 9) { /* SISMEMBER */
			rc = kv_sismember(kv, m->key, kl, buf, ml);
			if (rc != (m->in[id] ? 0 : -ENOENT))
				fail_msg("op %u sismember %s %u: %d, model %d",
					 op, m->key, id, rc, m->in[id]);
			replies[2]++;
		} else { /* SCARD */
			uint64_t n = 99;
			assert_int_equal(kv_scard(kv, m->key, kl, &n), 0);
			if (n != m->n)
				fail_msg("op %u scard %s: %" PRIu64 ", model %"
					 PRIu64, op, m->key, n, m->n);
			replies[3]++;
		}
		if (op % 1000 == 999) {
			uint64_t live = 0;
			for (int s = 0; s < NSETS; s++) {
				model_compare(kv, &ms[s]);
				live += ms[s].n != 0;
			}
			assert_int_equal(kv_count(kv), live);
		}
	}
	/* every kind of call, every kind of set happened */
	for (int i = 0; i < 4; i++)
		assert_true(replies[i] > OPS / 20);
	assert_false(ms[0].tree);
	assert_true(ms[0].n > 40);
	assert_true(ms[1].emptied > 10);
	assert_true(ms[2].tree && ms[3].tree && ms[3].n > 128);
	for (int s = 0; s < NSETS; s++)
		model_compare(kv, &ms[s]);
	check_clean(kv);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv("set-model.pool", KV_ANY, 0);
	for (int s = 0; s < NSETS; s++)
		model_compare(kv, &ms[s]);
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	assert_int_equal(kv_close(kv), 0);
}

/* ---- 4. big ---- */

#define BIG 200000u

static void
big(enum kv_index ix)
{
	const char *name = ix == KV_HASH ? "set-big-h.pool" : "set-big-b.pool";
	struct kv *kv = open_kv(name, ix, 1);
	struct nvh_stats st0, st1;
	assert_int_equal(nvh_stats(kv_pool(kv), &st0), 0);
	char m[32];
	for (unsigned b = 0; b < BIG; b += 1000) {
		nvh_tx *tx = nvh_tx_begin(kv_pool(kv));
		assert_non_null(tx);
		for (unsigned i = b; i < b + 1000; i++) {
			int ml = snprintf(m, sizeof(m), "member:%u", i);
			int added = -1;
			assert_int_equal(kv_sadd(kv, "big", 3, m, (size_t)ml,
						 &added), 0);
			assert_int_equal(added, 1);
		}
		assert_int_equal(nvh_tx_commit(tx), 0);
	}
	assert_int_equal(scard(kv, "big"), BIG);
	/* again: nothing added */
	for (unsigned i = 0; i < BIG; i += 1009) {
		int ml = snprintf(m, sizeof(m), "member:%u", i);
		assert_int_equal(sadd_n(kv, "big", m, (size_t)ml), 0);
	}
	assert_int_equal(scard(kv, "big"), BIG);
	assert_true(nvh_stats(kv_pool(kv), &st1) == 0 &&
		    st1.allocated_bytes > st0.allocated_bytes + BIG * 30ull);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv(name, ix, 0);
	assert_int_equal(scard(kv, "big"), BIG);
	for (unsigned i = 0; i < BIG; i += 7) {
		int ml = snprintf(m, sizeof(m), "member:%u", i);
		assert_int_equal(kv_sismember(kv, "big", 3, m, (size_t)ml), 0);
		ml = snprintf(m, sizeof(m), "member:%u", BIG + i);
		assert_int_equal(kv_sismember(kv, "big", 3, m, (size_t)ml),
				 -ENOENT);
	}
	/* SSCAN's steps visit every member */
	struct seen s = {.hit = calloc(BIG, 1), .n = BIG};
	assert_non_null(s.hit);
	uint64_t cur = 0, steps = 0;
	do {
		assert_int_equal(kv_sscan_step(kv, "big", 3, cur, 1000, seen_cb,
					       &s, &cur), 0);
		assert_true(++steps < 10 * BIG / 1000);
	} while (cur);
	for (unsigned i = 0; i < BIG; i++)
		if (!s.hit[i])
			fail_msg("SSCAN missed member:%u", i);
	assert_true(s.visits >= BIG && s.visits < BIG + BIG / 10);
	free(s.hit);
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	/* deleting it is one small commit; the members go in bounded
	 * steps and the space comes back */
	assert_int_equal(kv_del(kv, "big", 3), 0);
	assert_int_equal(scard(kv, "big"), 0);
	assert_int_equal(kv_count(kv), 0);
	close_space_back(kv, name, ix, &st0);
}

static void
big_hash(void **s)
{
	(void)s;
	big(KV_HASH);
}

static void
big_btree(void **s)
{
	(void)s;
	big(KV_BTREE);
}

/* ---- 5. killed ---- */

/* Member i of the child's run is removed again (at i + 20) if i % 5 == 0
 * and i + 20 < 3000. */
static int
kept(int i)
{
	return !(i % 5 == 0 && i + 20 < 3000);
}

/* A child makes 3,000 SADDs (one transaction each, into two sets past
 * the small limit, and every 30th into a third that stays small), SREMs
 * some of them and SIGKILLs itself: every acknowledged write is there. */
static void
killed(void **s)
{
	(void)s;
	const char *path = nvt_path("set-kill.pool");
	unlink(path);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kv_opts o = {.index = KV_HASH, .create = 1};
		struct kv *kv = kv_open(path, &o);
		if (!kv)
			_exit(2);
		char m[32];
		for (int i = 0; i < 3000; i++) {
			int ml = snprintf(m, sizeof(m), "m%d", i);
			const char *k = i % 2 ? "odd" : "even";
			int added = -1;
			if (kv_sadd(kv, k, strlen(k), m, (size_t)ml, &added) ||
			    added != 1)
				_exit(3);
			if (i % 30 == 0 &&
			    (kv_sadd(kv, "few", 3, m, (size_t)ml, &added) ||
			     added != 1))
				_exit(4);
			if (i % 5 == 0 && i >= 20) {
				ml = snprintf(m, sizeof(m), "m%d", i - 20);
				if (kv_srem(kv, k, strlen(k), m, (size_t)ml))
					_exit(5);
			}
		}
		kill(getpid(), SIGKILL);
		_exit(6);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		fail_msg("the child did not kill itself: status %#x", st);
	struct kv_opts o = {.index = KV_HASH};
	struct kv *kv = kv_open(path, &o);
	assert_non_null(kv);
	uint64_t want[2] = {0, 0};
	for (int i = 0; i < 3000; i++)
		want[i % 2] += kept(i);
	assert_int_equal(want[0], 1202);
	assert_int_equal(want[1], 1202);
	assert_int_equal(scard(kv, "even"), want[0]);
	assert_int_equal(scard(kv, "odd"), want[1]);
	assert_int_equal(scard(kv, "few"), 100);
	char m[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(m, sizeof(m), "m%d", i);
		const char *k = i % 2 ? "odd" : "even";
		if (ismember(kv, k, m) != kept(i))
			fail_msg("%s %s: member %d, want %d", k, m,
				 ismember(kv, k, m), kept(i));
		assert_false(ismember(kv, i % 2 ? "even" : "odd", m));
		assert_int_equal(ismember(kv, "few", m), i % 30 == 0);
	}
	/* the small set in its insertion order */
	struct blob f[100];
	static char fb[100][8];
	for (int i = 0; i < 100; i++) {
		int n = snprintf(fb[i], sizeof(fb[i]), "m%d", 30 * i);
		f[i] = (struct blob){fb[i], (size_t)n};
	}
	expect_members(kv, "few", f, 100, 0);
	assert_int_equal(kv_count(kv), 3);
	check_clean(kv);
	assert_int_equal(kv_close(kv), 0);
}

/* ---- 6. random picks ---- */

/* A pick's member "<c><n>" as its index n (-1: none or not one). */
struct pickn {
	long n;
	int vok; /* kv_hrandom: the value is "v<n>" */
	char c;  /* the first byte */
};

static int
pick_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct pickn *p = arg;
	char b[32];
	if (kl < 2 || kl >= sizeof(b))
		return 0;
	memcpy(b, k, kl);
	b[kl] = 0;
	p->c = b[0];
	p->n = strtol(b + 1, NULL, 10);
	if (v && vl > 1 && vl < sizeof(b)) {
		memcpy(b, v, vl);
		b[vl] = 0;
		p->vok = b[0] == 'v' && strtol(b + 1, NULL, 10) == p->n;
	}
	return 0;
}

/* Draws from seeds 1..draws with pick over n elements "<c>0".."<c>n-1":
 * every one drawn, and the chi-square of the counts against an even
 * spread (about n for an even pick, sd sqrt(2n)) below 1.15 n. */
static void
even_draws(struct kv *kv, const char *what, size_t n, uint64_t draws,
	   int (*pick)(struct kv *, const void *, size_t, uint64_t, kv_fn,
		       void *),
	   const char *k, int with_values)
{
	uint32_t *hits = calloc(n, sizeof(*hits));
	assert_non_null(hits);
	for (uint64_t d = 1; d <= draws; d++) {
		struct pickn p = {-1, 0, 0};
		assert_int_equal(pick(kv, k, strlen(k), d, pick_cb, &p), 0);
		if (p.n < 0 || (size_t)p.n >= n || (with_values && !p.vok))
			fail_msg("%s: draw %" PRIu64 " gave %ld", what, d, p.n);
		hits[p.n]++;
	}
	double e = (double)draws / (double)n, chi = 0;
	uint32_t lo = UINT32_MAX, hi = 0;
	for (size_t i = 0; i < n; i++) {
		chi += (hits[i] - e) * (hits[i] - e) / e;
		lo = hits[i] < lo ? hits[i] : lo;
		hi = hits[i] > hi ? hits[i] : hi;
	}
	printf("%s: %" PRIu64 " draws over %zu: %u..%u each, chi-square %.0f "
	       "(%zu degrees)\n", what, draws, n, lo, hi, chi, n - 1);
	assert_true(lo > 0);
	assert_true(chi < 1.15 * (double)n);
	free(hits);
}

static int
srandom_fn(struct kv *kv, const void *k, size_t kl, uint64_t seed, kv_fn fn,
	   void *arg)
{
	return kv_srandom(kv, k, kl, seed, fn, arg);
}

static int
hrandom_fn(struct kv *kv, const void *k, size_t kl, uint64_t seed, kv_fn fn,
	   void *arg)
{
	return kv_hrandom(kv, k, kl, seed, fn, arg);
}

static int
key_fn(struct kv *kv, const void *k, size_t kl, uint64_t seed, kv_fn fn,
       void *arg)
{
	(void)k;
	(void)kl;
	return kv_random_key(kv, seed, fn, arg);
}

/* kv_srandom, kv_hrandom and kv_random_key are even: a 5-member set (a
 * chain), a 10,000-member set and hash (B-trees, filled in shuffled
 * order: nodes of every fill), 10,000 keys on either index; an expired
 * key is never picked; an absent key is no call. */
static void
picks(enum kv_index ix, const char *name)
{
	struct kv *kv = open_kv(name, ix, 1);
	enum { N = 10000 };
	static int order[N];
	for (int i = 0; i < N; i++)
		order[i] = i;
	uint64_t x = 88172645463325252ull;
	for (int i = N - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int j = (int)(x % (uint64_t)(i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	char m[32], v[32];
	int added;
	for (int i = 0; i < 5; i++) {
		int ml = snprintf(m, sizeof(m), "m%d", i);
		assert_int_equal(kv_sadd(kv, "few", 3, m, (size_t)ml, &added), 0);
	}
	for (int i = 0; i < N; i++) {
		int ml = snprintf(m, sizeof(m), "m%d", order[i]);
		int vl = snprintf(v, sizeof(v), "v%d", order[i]);
		assert_int_equal(kv_sadd(kv, "big", 3, m, (size_t)ml, &added), 0);
		assert_int_equal(kv_hset(kv, "h", 1, m, (size_t)ml, v,
					 (size_t)vl, 0, &added), 0);
	}
	even_draws(kv, "a 5-member set", 5, 20000, srandom_fn, "few", 0);
	even_draws(kv, "a 10,000-member set", N, 20 * N, srandom_fn, "big", 0);
	even_draws(kv, "a 10,000-field hash", N, 20 * N, hrandom_fn, "h", 1);
	struct pickn p = {-1, 0, 0};
	assert_int_equal(kv_srandom(kv, "none", 4, 1, pick_cb, &p), 0);
	assert_int_equal(p.n, -1);
	/* the keys: 10,000 live ("k<i>"), then 10,000 that expire */
	assert_int_equal(kv_flush(kv), 0);
	for (int i = 0; i < 2 * N; i++) {
		int kl = snprintf(m, sizeof(m), "%c%d", i < N ? 'k' : 'x',
				  i % N);
		struct kv_setopt o = {.expire = i < N ? 0 : T0 + 1000};
		assert_int_equal(kv_set(kv, m, (size_t)kl, "v", 1, &o), 0);
	}
	kv_set_time(kv, T0 + 2000);
	uint64_t none = 0;
	for (uint64_t d = 1; d <= 20000; d++) {
		struct pickn q = {-1, 0, 0};
		assert_int_equal(kv_random_key(kv, d, pick_cb, &q), 0);
		if (q.n < 0)
			none++; /* an expired pick: no call */
		else if (q.c != 'k')
			fail_msg("draw %" PRIu64 ": an expired key, x%ld", d,
				 q.n);
	}
	printf("keys, half expired: %" PRIu64 " of 20,000 picks met an "
	       "expired key (no call)\n", none);
	assert_true(none > 5000 && none < 15000);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv(name, ix, 1);
	for (int i = 0; i < N; i++) {
		int kl = snprintf(m, sizeof(m), "k%d", order[i]);
		struct kv_setopt o = {0};
		assert_int_equal(kv_set(kv, m, (size_t)kl, "v", 1, &o), 0);
	}
	even_draws(kv, ix == KV_HASH ? "10,000 keys, hash map"
				     : "10,000 keys, B-tree", N, 20 * N, key_fn,
		   "", 0);
	check_clean(kv);
	assert_int_equal(kv_close(kv), 0);
}

static void
picks_hash(void **s)
{
	(void)s;
	picks(KV_HASH, "set-picks-h.pool");
}

static void
picks_btree(void **s)
{
	(void)s;
	picks(KV_BTREE, "set-picks-b.pool");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basics_hash),
		cmocka_unit_test(basics_btree),
		cmocka_unit_test(types),
		cmocka_unit_test(model),
		cmocka_unit_test(killed),
		cmocka_unit_test(big_hash),
		cmocka_unit_test(big_btree),
		cmocka_unit_test(picks_hash),
		cmocka_unit_test(picks_btree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
