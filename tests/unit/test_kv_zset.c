/*
 * test_kv_zset.c -- the key-value store's sorted sets
 * (examples/kvstore/zset.c: a member B-tree and a persistent skiplist
 * with spans and weak back links) on both indexes.  ZADD's added flag
 * (1 new, 0 an update; a same score writes nothing: no object, byte,
 * flush or barrier), -0 stored as 0, NaN refused with nothing changed,
 * scores to +-inf, ties in member byte order (the empty member, NUL
 * bytes, prefixes: shorter first); every member's ZSCORE and ZRANK
 * against a sorted model, rank ranges forward and reversed (clipped),
 * score ranges (inclusive and exclusive ends, offset, count, reversed),
 * member ranges of an all-zero set (infinite and exclusive ends,
 * reversed, offset, count), ZCOUNT and ZLEXCOUNT; the last member
 * removed deletes the key; a reopen keeps all.  30,000 seeded random
 * operations over three sorted sets (members past 64 bytes, scores with
 * many ties, random doubles and infinities) against a model, every
 * reply compared, and every 1000 operations the whole sets forward and
 * reversed (the reverse walks the weak back links: it must be the exact
 * reverse).  500 ZADDs in one transaction read back reversed inside it
 * (back links to nodes made in that transaction), and an aborted one
 * leaving the set exactly as it was.  200,000 members (in transactions
 * of 1000; ranks and scores after a reopen, ranges by rank and score,
 * ZSCAN's steps visiting each, the space given back when the key is
 * deleted).  WRONGTYPE both ways with strings, hashes, sets and lists;
 * SET over a sorted set, RENAME, expiry, FLUSHALL.  And a SIGKILL after
 * acknowledged ZADDs and ZREMs loses none of them.  kv_check and
 * nvh_check find nothing wrong throughout.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kv_test.h"

#define ALL UINT64_MAX

/* ---- helpers ---- */

/* ZADD of ml bytes at m: its added flag (fails on an error) */
static int
zput_n(struct kv *kv, const char *k, const void *m, size_t ml, double s)
{
	int added = -1;
	int rc = kv_zput(kv, k, strlen(k), m, ml, s, &added);
	if (rc)
		fail_msg("zput %s (%zu bytes) %g: %d %s", k, ml, s, rc,
			 kv_errmsg());
	assert_true(added == 0 || added == 1);
	return added;
}

static int
zput(struct kv *kv, const char *k, const char *m, double s)
{
	return zput_n(kv, k, m, strlen(m), s);
}

static uint64_t
zcard(struct kv *kv, const char *k)
{
	uint64_t n = 99;
	assert_int_equal(kv_zcard(kv, k, strlen(k), &n), 0);
	return n;
}

static int
zrem_n(struct kv *kv, const char *k, const void *m, size_t ml)
{
	return kv_zrem(kv, k, strlen(k), m, ml);
}

static int
key_type(struct kv *kv, const char *k, enum kv_type *t)
{
	return kv_key_type(kv, k, strlen(k), t, NULL);
}

/* the same double, bit for bit (-0 is not 0) */
static int
same(double a, double b)
{
	return !memcmp(&a, &b, sizeof(a));
}

static int
bcmp_len(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

/* A member and its score, as the model has them. */
struct zel {
	const void *m;
	size_t l;
	double s;
};

#define ZEL(str, sc) ((struct zel){(str), sizeof(str) - 1, (sc)})

/* (score, member) order: the sorted set's */
static int
zel_cmp(const void *a, const void *b)
{
	const struct zel *x = a, *y = b;
	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	return bcmp_len(x->m, x->l, y->m, y->l);
}

/* ---- what a walk gives, in its order ---- */

#define MLEN 200

struct zitem {
	double s;
	size_t l;
	unsigned char m[MLEN];
};

struct zlist {
	size_t n, cap;
	struct zitem *it;
};

static int
zl_cb(void *arg, const void *m, size_t ml, double s)
{
	struct zlist *l = arg;
	if (ml > MLEN)
		fail_msg("a member of %zu bytes in a walk", ml);
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->it = realloc(l->it, l->cap * sizeof(*l->it));
		assert_non_null(l->it);
	}
	struct zitem *i = &l->it[l->n++];
	i->s = s;
	i->l = ml;
	memcpy(i->m, m, ml);
	return 0;
}

static void
zl_reset(struct zlist *l)
{
	l->n = 0;
}

static void
zl_free(struct zlist *l)
{
	free(l->it);
	*l = (struct zlist){0};
}

/* got is exactly want[0..n) (or want reversed: rev) */
static void
zl_expect(const struct zlist *got, const struct zel *want, size_t n,
	  int rev, const char *what)
{
	if (got->n != n)
		fail_msg("%s: %zu members, want %zu", what, got->n, n);
	for (size_t i = 0; i < n; i++) {
		const struct zel *w = &want[rev ? n - 1 - i : i];
		const struct zitem *g = &got->it[i];
		if (g->l != w->l || memcmp(g->m, w->m, w->l) ||
		    !same(g->s, w->s))
			fail_msg("%s: member %zu of %zu (%zu bytes, %.17g), "
				 "want %zu bytes, %.17g", what, i, n, g->l,
				 g->s, w->l, w->s);
	}
}

/* The whole sorted set k is want[0..n) (in any order: sorted here):
 * ZCARD, the type, ZRANGE forward and reversed, every member's ZSCORE
 * and ZRANK. */
static void
expect_z(struct kv *kv, const char *k, const struct zel *want, size_t n)
{
	struct zel *w = calloc(n ? n : 1, sizeof(*w));
	assert_non_null(w);
	if (n)
		memcpy(w, want, n * sizeof(*w));
	qsort(w, n, sizeof(*w), zel_cmp);
	size_t kl = strlen(k);
	enum kv_type t;
	assert_int_equal(zcard(kv, k), n);
	assert_int_equal(key_type(kv, k, &t), n ? 0 : -ENOENT);
	if (n)
		assert_int_equal(t, KV_T_ZSET);
	struct zlist l = {0};
	assert_int_equal(kv_zrange(kv, k, kl, 0, ALL, 0, zl_cb, &l), 0);
	zl_expect(&l, w, n, 0, k);
	zl_reset(&l);
	assert_int_equal(kv_zrange(kv, k, kl, 0, ALL, 1, zl_cb, &l), 0);
	zl_expect(&l, w, n, 1, k);
	zl_free(&l);
	for (size_t i = 0; i < n; i++) {
		double s = NAN;
		uint64_t r = ALL;
		assert_int_equal(kv_zscore(kv, k, kl, w[i].m, w[i].l, &s), 0);
		if (!same(s, w[i].s))
			fail_msg("%s: member %zu's score %.17g, want %.17g", k,
				 i, s, w[i].s);
		assert_int_equal(kv_zrank(kv, k, kl, w[i].m, w[i].l, &r), 0);
		if (r != i)
			fail_msg("%s: member %zu's rank %" PRIu64, k, i, r);
	}
	free(w);
}

/* In a score range? In a member range? (The definitions, for models.) */
static int
in_srange(double s, const struct kv_zrange *r)
{
	return (r->minex ? s > r->min : s >= r->min) &&
	       (r->maxex ? s < r->max : s <= r->max);
}

static int
in_lex(const void *m, size_t l, const struct kv_zlex *r)
{
	int lo, hi;
	if (r->min_inf) {
		lo = r->min_inf < 0;
	} else {
		int c = bcmp_len(m, l, r->min, r->minl);
		lo = r->minex ? c > 0 : c >= 0;
	}
	if (r->max_inf) {
		hi = r->max_inf > 0;
	} else {
		int c = bcmp_len(m, l, r->max, r->maxl);
		hi = r->maxex ? c < 0 : c <= 0;
	}
	return lo && hi;
}

/* What a range walk over sorted w[0..n) gives: those in the range (sr
 * or lr), from the top if rev, offset skipped, at most count; into out,
 * returns how many. */
static size_t
model_range(const struct zel *w, size_t n, const struct kv_zrange *sr,
	    const struct kv_zlex *lr, int rev, uint64_t offset,
	    uint64_t count, struct zel *out)
{
	size_t k = 0;
	uint64_t skipped = 0;
	for (size_t j = 0; j < n && k < count; j++) {
		const struct zel *e = &w[rev ? n - 1 - j : j];
		if (sr ? !in_srange(e->s, sr) : !in_lex(e->m, e->l, lr))
			continue;
		if (skipped < offset) {
			skipped++;
			continue;
		}
		out[k++] = *e;
	}
	return k;
}

/* kv_zrange_score and kv_zcount over k agree with sorted w[0..n) */
static void
check_srange(struct kv *kv, const char *k, const struct zel *w, size_t n,
	     const struct kv_zrange *r, int rev, uint64_t offset,
	     uint64_t count)
{
	struct zel *e = calloc(n + 1, sizeof(*e));
	assert_non_null(e);
	size_t m = model_range(w, n, r, NULL, rev, offset, count, e);
	struct zlist l = {0};
	char what[160];
	snprintf(what, sizeof(what), "%s %c%.17g %.17g%c rev %d off %" PRIu64
		 " count %" PRIu64, k, r->minex ? '(' : '[', r->min, r->max,
		 r->maxex ? ')' : ']', rev, offset, count);
	assert_int_equal(kv_zrange_score(kv, k, strlen(k), r, rev, offset,
					 count, zl_cb, &l), 0);
	zl_expect(&l, e, m, 0, what);
	uint64_t c = ALL;
	assert_int_equal(kv_zcount(kv, k, strlen(k), r, &c), 0);
	size_t all = model_range(w, n, r, NULL, 0, 0, ALL, e);
	if (c != all)
		fail_msg("%s: zcount %" PRIu64 ", want %zu", what, c, all);
	zl_free(&l);
	free(e);
}

/* kv_zrange_lex and kv_zlexcount over k agree with sorted w[0..n) */
static void
check_lrange(struct kv *kv, const char *k, const struct zel *w, size_t n,
	     const struct kv_zlex *r, int rev, uint64_t offset,
	     uint64_t count)
{
	struct zel *e = calloc(n + 1, sizeof(*e));
	assert_non_null(e);
	size_t m = model_range(w, n, NULL, r, rev, offset, count, e);
	struct zlist l = {0};
	char what[96];
	snprintf(what, sizeof(what), "%s lex %d/%d %d/%d rev %d off %" PRIu64
		 " count %" PRIu64, k, r->min_inf, r->minex, r->max_inf,
		 r->maxex, rev, offset, count);
	assert_int_equal(kv_zrange_lex(kv, k, strlen(k), r, rev, offset,
				       count, zl_cb, &l), 0);
	zl_expect(&l, e, m, 0, what);
	uint64_t c = ALL;
	assert_int_equal(kv_zlexcount(kv, k, strlen(k), r, &c), 0);
	size_t all = model_range(w, n, NULL, r, 0, 0, ALL, e);
	if (c != all)
		fail_msg("%s: zlexcount %" PRIu64 ", want %zu", what, c, all);
	zl_free(&l);
	free(e);
}

/* kv_zrange start..stop (rev) of k agrees with sorted w[0..n) */
static void
check_rrange(struct kv *kv, const char *k, const struct zel *w, size_t n,
	     uint64_t start, uint64_t stop, int rev)
{
	struct zlist l = {0};
	char what[96];
	snprintf(what, sizeof(what), "%s ranks %" PRIu64 "..%" PRIu64
		 " rev %d", k, start, stop, rev);
	assert_int_equal(kv_zrange(kv, k, strlen(k), start, stop, rev, zl_cb,
				   &l), 0);
	uint64_t last = stop < n ? stop : (uint64_t)n - 1;
	size_t m = n && start <= last ? (size_t)(last - start + 1) : 0;
	if (l.n != m)
		fail_msg("%s: %zu members, want %zu", what, l.n, m);
	for (size_t i = 0; i < m; i++) {
		size_t j = (size_t)start + i;
		const struct zel *e = &w[rev ? n - 1 - j : j];
		if (l.it[i].l != e->l || memcmp(l.it[i].m, e->m, e->l) ||
		    !same(l.it[i].s, e->s))
			fail_msg("%s: member %zu is not rank %zu's", what, i,
				 j);
	}
	zl_free(&l);
}

/* What the pool has written: objects, bytes, flushes, barriers. */
struct marks {
	uint64_t objects, bytes, flushes, barriers;
};

static struct marks
marks(struct kv *kv)
{
	struct nvh_stats st = nvt_stats(kv_pool(kv));
	struct nvh_persist_stats ps;
	assert_int_equal(nvh_persist_stats(kv_pool(kv), &ps), 0);
	return (struct marks){st.objects, st.allocated_bytes, ps.flushes,
			      ps.barriers};
}

static void
assert_no_write(const struct marks *a, const struct marks *b,
		const char *what)
{
	if (a->objects != b->objects || a->bytes != b->bytes ||
	    a->flushes != b->flushes || a->barriers != b->barriers)
		fail_msg("%s wrote: objects %" PRIu64 " -> %" PRIu64 ", bytes %"
			 PRIu64 " -> %" PRIu64 ", flushes %" PRIu64 " -> %"
			 PRIu64 ", barriers %" PRIu64 " -> %" PRIu64, what,
			 a->objects, b->objects, a->bytes, b->bytes,
			 a->flushes, b->flushes, a->barriers, b->barriers);
}

static void
check_clean(struct kv *kv)
{
	struct nvh_check_report rep;
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	assert_int_equal(nvh_check(kv_pool(kv), &rep, NULL), 0);
	assert_int_equal(rep.problems, 0);
}

static int
count_zcb(void *arg, const void *m, size_t ml, double s)
{
	(void)m;
	(void)ml;
	(void)s;
	++*(uint64_t *)arg;
	return 0;
}

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

/* ZSCAN's steps (count members each) over sorted set k visit every one
 * of w[0..n), each with its score's 8 bytes */
struct zseen {
	const struct zel *w;
	size_t n;
	unsigned char *hit;
	uint64_t visits;
};

static int
zseen_cb(void *arg, const void *k, size_t kl, const void *v, size_t vlen)
{
	struct zseen *s = arg;
	assert_int_equal(vlen, sizeof(double));
	double d;
	memcpy(&d, v, sizeof(d));
	s->visits++;
	for (size_t i = 0; i < s->n; i++) {
		if (s->w[i].l == kl && !memcmp(s->w[i].m, k, kl)) {
			if (!same(d, s->w[i].s))
				fail_msg("ZSCAN: member %zu's score %.17g, "
					 "want %.17g", i, d, s->w[i].s);
			s->hit[i] = 1;
			return 0;
		}
	}
	fail_msg("ZSCAN: a member (%zu bytes) not in the set", kl);
	return 1;
}

static void
scan_z(struct kv *kv, const char *k, const struct zel *w, size_t n,
       size_t count)
{
	struct zseen s = {w, n, calloc(n + 1, 1), 0};
	assert_non_null(s.hit);
	uint64_t cur = 0, steps = 0;
	do {
		assert_int_equal(kv_zscan_step(kv, k, strlen(k), cur, count,
					       zseen_cb, &s, &cur), 0);
		assert_true(++steps <= 2 * n + 2);
	} while (cur);
	for (size_t i = 0; i < n; i++)
		if (!s.hit[i])
			fail_msg("%s: ZSCAN (count %zu) missed member %zu of "
				 "%zu", k, count, i, n);
	assert_true(s.visits >= n && s.visits <= 2 * n);
	free(s.hit);
}

/* ---- 1. basics ---- */

/* "z": scores of every kind, a group of ties at 5 */
static const struct zel zall[] = {
	ZEL("ninf", -INFINITY), ZEL("lowest", -DBL_MAX), ZEL("neg", -2.5),
	ZEL("zero", 0), ZEL("denorm", 5e-324), ZEL("one", 1),
	ZEL("", 5), ZEL("\0", 5), ZEL("\0\0", 5), ZEL("\0\x01", 5),
	ZEL("a", 5), ZEL("a\0", 5), ZEL("ab", 5), ZEL("b", 5),
	ZEL("\xff", 5), ZEL("six", 6), ZEL("highest", DBL_MAX),
	ZEL("pinf", INFINITY), ZEL("pinf2", INFINITY),
};
#define NZ (sizeof(zall) / sizeof(zall[0]))

/* "lex": all scores 0 */
static const struct zel lall[] = {
	ZEL("", 0), ZEL("\0", 0), ZEL("a", 0), ZEL("aa", 0), ZEL("ab", 0),
	ZEL("b", 0), ZEL("ba", 0), ZEL("c", 0), ZEL("\xff", 0),
	ZEL("\xff\xff", 0),
};
#define NL (sizeof(lall) / sizeof(lall[0]))

/* a member a byte longer than the limit */
static unsigned char huge[KV_KEY_MAX + 1];

static void
zranges(struct kv *kv)
{
	/* zall is already in order: check the test's own premise */
	for (size_t i = 1; i < NZ; i++)
		assert_true(zel_cmp(&zall[i - 1], &zall[i]) < 0);
	for (size_t i = 1; i < NL; i++)
		assert_true(zel_cmp(&lall[i - 1], &lall[i]) < 0);
	/* ranks: clipped, empty when start > stop or past the end */
	uint64_t ranks[][2] = {{0, 0}, {0, 2}, {2, 5}, {5, 2}, {3, 1000},
			       {NZ - 1, NZ - 1}, {NZ - 1, ALL}, {NZ, NZ + 3},
			       {NZ, ALL}, {ALL, ALL}, {0, ALL}, {6, 14}};
	for (size_t i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++)
		for (int rev = 0; rev < 2; rev++)
			check_rrange(kv, "z", zall, NZ, ranks[i][0],
				     ranks[i][1], rev);
	/* a few by hand: the model above could be wrong too */
	struct zlist l = {0};
	assert_int_equal(kv_zrange(kv, "z", 1, 0, 1, 1, zl_cb, &l), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.it[0].l == 5 && !memcmp(l.it[0].m, "pinf2", 5));
	assert_true(l.it[1].l == 4 && !memcmp(l.it[1].m, "pinf", 4));
	zl_reset(&l);
	struct kv_zrange fives = {5, 5, 0, 0};
	assert_int_equal(kv_zrange_score(kv, "z", 1, &fives, 0, 2, 3, zl_cb,
					 &l), 0);
	assert_int_equal(l.n, 3); /* "\0\0", "\0\x01", "a" */
	assert_true(l.it[0].l == 2 && !memcmp(l.it[0].m, "\0\0", 2));
	assert_true(l.it[1].l == 2 && !memcmp(l.it[1].m, "\0\x01", 2));
	assert_true(l.it[2].l == 1 && !memcmp(l.it[2].m, "a", 1));
	zl_reset(&l);
	assert_int_equal(kv_zrange_score(kv, "z", 1, &fives, 1, 1, 2, zl_cb,
					 &l), 0);
	assert_int_equal(l.n, 2); /* "b", "ab" */
	assert_true(l.it[0].l == 1 && !memcmp(l.it[0].m, "b", 1));
	assert_true(l.it[1].l == 2 && !memcmp(l.it[1].m, "ab", 2));
	uint64_t c = 0;
	assert_int_equal(kv_zcount(kv, "z", 1, &fives, &c), 0);
	assert_int_equal(c, 9);
	struct kv_zrange notinf = {-INFINITY, INFINITY, 1, 1};
	assert_int_equal(kv_zcount(kv, "z", 1, &notinf, &c), 0);
	assert_int_equal(c, NZ - 3);
	zl_free(&l);
	/* scores: ends in and out of the set, inclusive or not */
	const double ends[] = {-INFINITY, -DBL_MAX, -3, -2.5, 0, 5e-324, 1,
			       4.9, 5, 6, DBL_MAX, INFINITY};
	const size_t ne = sizeof(ends) / sizeof(ends[0]);
	const uint64_t offs[] = {0, 1, 3, NZ - 1, NZ, ALL};
	const uint64_t cnts[] = {ALL, 0, 1, 2, 5};
	for (size_t a = 0; a < ne; a++)
		for (size_t b = 0; b < ne; b++)
			for (int ex = 0; ex < 4; ex++) {
				struct kv_zrange r = {ends[a], ends[b], ex & 1,
						      ex >> 1};
				for (int rev = 0; rev < 2; rev++) {
					check_srange(kv, "z", zall, NZ, &r, rev,
						     0, ALL);
					if (a % 3 || b % 2)
						continue;
					for (size_t o = 0; o < 6; o++)
						for (size_t q = 0; q < 5; q++)
							check_srange(
							    kv, "z", zall, NZ,
							    &r, rev, offs[o],
							    cnts[q]);
				}
			}
	/* members of the all-zero set: each end infinite, a member in the
	 * set or between, inclusive or not */
	struct zel ls[] = {ZEL("", 0), ZEL("\0", 0), ZEL("a", 0),
			   ZEL("a\0", 0), ZEL("ab", 0), ZEL("b", 0),
			   ZEL("bb", 0), ZEL("\xff\xff", 0),
			   ZEL("\xff\xff\xff", 0)};
	const size_t nls = sizeof(ls) / sizeof(ls[0]);
	for (size_t a = 0; a < nls + 2; a++)
		for (size_t b = 0; b < nls + 2; b++)
			for (int ex = 0; ex < 4; ex++) {
				struct kv_zlex r = {0};
				if (a < nls) {
					r.min = ls[a].m;
					r.minl = ls[a].l;
				} else {
					r.min_inf = a == nls ? -1 : 1;
				}
				if (b < nls) {
					r.max = ls[b].m;
					r.maxl = ls[b].l;
				} else {
					r.max_inf = b == nls ? 1 : -1;
				}
				r.minex = ex & 1;
				r.maxex = ex >> 1;
				for (int rev = 0; rev < 2; rev++) {
					check_lrange(kv, "lex", lall, NL, &r,
						     rev, 0, ALL);
					check_lrange(kv, "lex", lall, NL, &r,
						     rev, 1, 3);
					check_lrange(kv, "lex", lall, NL, &r,
						     rev, 4, ALL);
					check_lrange(kv, "lex", lall, NL, &r,
						     rev, 0, 1);
				}
			}
	/* by hand: ["a", "b"] and ("a", "b"), "-".."+" reversed from 2 */
	struct kv_zlex ab = {"a", "b", 1, 1, 0, 0, 0, 0};
	assert_int_equal(kv_zlexcount(kv, "lex", 3, &ab, &c), 0);
	assert_int_equal(c, 4);
	ab.minex = ab.maxex = 1;
	assert_int_equal(kv_zlexcount(kv, "lex", 3, &ab, &c), 0);
	assert_int_equal(c, 2);
	struct kv_zlex inf = {.min_inf = -1, .max_inf = 1};
	assert_int_equal(kv_zrange_lex(kv, "lex", 3, &inf, 1, 2, 2, zl_cb, &l),
			 0);
	assert_int_equal(l.n, 2); /* "c", "ba" */
	assert_true(l.it[0].l == 1 && !memcmp(l.it[0].m, "c", 1));
	assert_true(l.it[1].l == 2 && !memcmp(l.it[1].m, "ba", 2));
	zl_free(&l);
	assert_int_equal(kv_zlexcount(kv, "lex", 3, &inf, &c), 0);
	assert_int_equal(c, NL);
	/* "+" as the lower end, "-" as the upper: nothing */
	struct kv_zlex none = {.min_inf = 1, .max_inf = 1};
	assert_int_equal(kv_zlexcount(kv, "lex", 3, &none, &c), 0);
	assert_int_equal(c, 0);
}

/* every set of basics() */
static void
expect_basics(struct kv *kv)
{
	expect_z(kv, "z", zall, NZ);
	expect_z(kv, "lex", lall, NL);
	const struct zel n0[] = {ZEL("n", 0), ZEL("m", 0), ZEL("o", -1)};
	expect_z(kv, "n0", n0, 3);
	assert_int_equal(kv_count(kv), 3);
}

static void
basics(enum kv_index ix)
{
	const char *name = ix == KV_HASH ? "zset-basic-h.pool"
					 : "zset-basic-b.pool";
	struct kv *kv = open_kv(name, ix, 1);
	enum kv_type t;
	double s = 7;
	uint64_t r = 7, c = 7, next = 7;
	int a = -1;
	/* an absent key is an empty sorted set */
	assert_int_equal(zcard(kv, "z"), 0);
	assert_int_equal(kv_zscore(kv, "z", 1, "a", 1, &s), -ENOENT);
	assert_int_equal(kv_zrank(kv, "z", 1, "a", 1, &r), -ENOENT);
	assert_int_equal(zrem_n(kv, "z", "a", 1), -ENOENT);
	assert_int_equal(kv_zrange(kv, "z", 1, 0, ALL, 0, count_zcb, &c), 0);
	assert_int_equal(c, 7);
	struct kv_zrange every = {-INFINITY, INFINITY, 0, 0};
	struct kv_zlex lev = {.min_inf = -1, .max_inf = 1};
	assert_int_equal(kv_zrange_score(kv, "z", 1, &every, 1, 0, ALL,
					 count_zcb, &c), 0);
	assert_int_equal(kv_zrange_lex(kv, "z", 1, &lev, 0, 0, ALL, count_zcb,
				       &c), 0);
	assert_int_equal(c, 7);
	assert_int_equal(kv_zcount(kv, "z", 1, &every, &c), 0);
	assert_int_equal(c, 0);
	c = 7;
	assert_int_equal(kv_zlexcount(kv, "z", 1, &lev, &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(kv_zscan_step(kv, "z", 1, 0, 10, count_cb, &c,
				       &next), 0);
	assert_int_equal(next, 0);
	assert_int_equal(c, 0);
	assert_int_equal(kv_count(kv), 0);

	/* NaN: refused, no key made */
	assert_int_equal(kv_zput(kv, "z", 1, "a", 1, NAN, &a), -EINVAL);
	assert_int_equal(a, 0);
	assert_int_equal(kv_count(kv), 0);

	/* added: 1 new, 0 an update; a same score writes nothing */
	assert_int_equal(zput(kv, "z", "one", 3), 1);
	assert_int_equal(kv_count(kv), 1);
	assert_int_equal(kv_key_type(kv, "z", 1, &t, NULL), 0);
	assert_int_equal(t, KV_T_ZSET);
	assert_string_equal(kv_type_name(t), "zset");
	assert_int_equal(zput(kv, "z", "six", 6), 1);
	assert_int_equal(zput(kv, "z", "one", 1), 0);
	assert_int_equal(kv_zscore(kv, "z", 1, "one", 3, &s), 0);
	assert_true(same(s, 1));
	struct marks m0 = marks(kv);
	assert_int_equal(zput(kv, "z", "one", 1), 0);
	assert_int_equal(zput(kv, "z", "six", 6), 0);
	struct marks m1 = marks(kv);
	assert_no_write(&m0, &m1, "ZADD of the same score");
	/* (the marks do see a write) */
	assert_int_equal(zput(kv, "z", "six", 6.5), 0);
	m1 = marks(kv);
	assert_true(m1.flushes > m0.flushes);
	assert_int_equal(zput(kv, "z", "six", 6), 0);
	/* NaN on an existing member: nothing changed */
	m0 = marks(kv);
	a = -1;
	assert_int_equal(kv_zput(kv, "z", 1, "one", 3, NAN, &a), -EINVAL);
	assert_int_equal(a, 0);
	assert_int_equal(kv_zput(kv, "z", 1, "new", 3, NAN, &a), -EINVAL);
	m1 = marks(kv);
	assert_no_write(&m0, &m1, "ZADD of NaN");
	assert_int_equal(kv_zscore(kv, "z", 1, "one", 3, &s), 0);
	assert_true(same(s, 1));
	assert_int_equal(kv_zscore(kv, "z", 1, "new", 3, &s), -ENOENT);
	assert_int_equal(zcard(kv, "z"), 2);

	/* -0 is stored as 0, for a new member and an update */
	assert_int_equal(zput(kv, "z", "zero", -0.0), 1);
	assert_int_equal(kv_zscore(kv, "z", 1, "zero", 4, &s), 0);
	assert_true(same(s, 0.0));
	assert_int_equal(zput(kv, "z", "zero", 8), 0);
	assert_int_equal(zput(kv, "z", "zero", -0.0), 0);
	assert_int_equal(kv_zscore(kv, "z", 1, "zero", 4, &s), 0);
	assert_true(same(s, 0.0));
	m0 = marks(kv);
	assert_int_equal(zput(kv, "z", "zero", 0.0), 0);
	assert_int_equal(zput(kv, "z", "zero", -0.0), 0);
	m1 = marks(kv);
	assert_no_write(&m0, &m1, "ZADD of -0 over 0");

	/* the rest, in a scrambled order, some first with other scores */
	for (size_t i = 0; i < NZ; i++) {
		size_t j = (i * 7 + 3) % NZ;
		if (j % 4 == 0)
			zput_n(kv, "z", zall[j].m, zall[j].l, 42);
	}
	for (size_t i = 0; i < NZ; i++) {
		size_t j = (i * 7 + 3) % NZ;
		double old = NAN;
		int had = !kv_zscore(kv, "z", 1, zall[j].m, zall[j].l, &old);
		assert_int_equal(zput_n(kv, "z", zall[j].m, zall[j].l,
					zall[j].s), !had);
	}
	/* the member lookups are exact: prefixes and extensions are not
	 * members */
	const struct zel no[] = {ZEL("\0\0\0", 0), ZEL("\x01", 0),
				 ZEL("a\0\0", 0), ZEL("\xff\0", 0),
				 ZEL("pin", 0), ZEL("onE", 0)};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(kv_zscore(kv, "z", 1, no[i].m, no[i].l, &s),
				 -ENOENT);
		assert_int_equal(kv_zrank(kv, "z", 1, no[i].m, no[i].l, &r),
				 -ENOENT);
		assert_int_equal(zrem_n(kv, "z", no[i].m, no[i].l), -ENOENT);
	}
	expect_z(kv, "z", zall, NZ);
	/* ZSCAN: every member, with its score's 8 bytes */
	for (size_t cnt = 1; cnt <= 100; cnt *= 4)
		scan_z(kv, "z", zall, NZ, cnt);

	/* the all-zero set, and lex ranges */
	for (size_t i = 0; i < NL; i++) {
		size_t j = (i * 3 + 1) % NL;
		assert_int_equal(zput_n(kv, "lex", lall[j].m, lall[j].l, 0),
				 1);
	}
	assert_int_equal(zput(kv, "lex", "a", -0.0), 0);
	expect_z(kv, "lex", lall, NL);
	scan_z(kv, "lex", lall, NL, 2);
	zranges(kv);

	/* ZREM: -ENOENT for no such member; the last takes the key */
	assert_int_equal(zput(kv, "t", "x", 1), 1);
	assert_int_equal(zput(kv, "t", "y", 2), 1);
	assert_int_equal(kv_count(kv), 3);
	assert_int_equal(zrem_n(kv, "t", "x", 1), 0);
	assert_int_equal(zrem_n(kv, "t", "x", 1), -ENOENT);
	assert_int_equal(key_type(kv, "t", &t), 0);
	assert_int_equal(zrem_n(kv, "t", "y", 1), 0);
	assert_int_equal(key_type(kv, "t", &t), -ENOENT);
	assert_int_equal(kv_count(kv), 2);
	assert_int_equal(zcard(kv, "t"), 0);
	assert_int_equal(zrem_n(kv, "t", "y", 1), -ENOENT);
	/* and a ZADD makes a new one, with only the new member */
	assert_int_equal(zput(kv, "t", "y", 3), 1);
	const struct zel ty[] = {ZEL("y", 3)};
	expect_z(kv, "t", ty, 1);
	/* a member of KV_KEY_MAX bytes is one, a byte more is refused */
	memset(huge, 'h', sizeof(huge));
	assert_int_equal(zput_n(kv, "t", huge, KV_KEY_MAX, 2), 1);
	assert_int_equal(kv_zrank(kv, "t", 1, huge, KV_KEY_MAX, &r), 0);
	assert_int_equal(r, 0);
	assert_int_equal(kv_zscore(kv, "t", 1, huge, KV_KEY_MAX - 1, &s),
			 -ENOENT);
	a = -1;
	assert_int_equal(kv_zput(kv, "t", 1, huge, KV_KEY_MAX + 1, 1, &a),
			 -E2BIG);
	assert_int_equal(a, 0);
	assert_int_equal(kv_zscore(kv, "t", 1, huge, KV_KEY_MAX + 1, &s),
			 -ENOENT);
	assert_int_equal(zcard(kv, "t"), 2);
	assert_int_equal(zrem_n(kv, "t", huge, KV_KEY_MAX), 0);
	assert_int_equal(zrem_n(kv, "t", "y", 1), 0);
	assert_int_equal(key_type(kv, "t", &t), -ENOENT);
	/* a member removed and put again, in the middle of the ties */
	assert_int_equal(zrem_n(kv, "z", "a\0", 2), 0);
	assert_int_equal(kv_zrank(kv, "z", 1, "ab", 2, &r), 0);
	assert_int_equal(r, 11);
	assert_int_equal(zput_n(kv, "z", "a\0", 2, 5), 1);
	assert_int_equal(kv_zrank(kv, "z", 1, "ab", 2, &r), 0);
	assert_int_equal(r, 12);
	/* a key whose members all move: "n0" */
	assert_int_equal(zput(kv, "n0", "m", 3), 1);
	assert_int_equal(zput(kv, "n0", "n", 2), 1);
	assert_int_equal(zput(kv, "n0", "o", 1), 1);
	assert_int_equal(zput(kv, "n0", "o", -1), 0);
	assert_int_equal(zput(kv, "n0", "n", 0), 0);
	assert_int_equal(zput(kv, "n0", "m", 0), 0);
	expect_basics(kv);
	check_clean(kv);

	/* a reopen keeps all; and the sets take writes after it */
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv(name, ix, 0);
	expect_basics(kv);
	zranges(kv);
	assert_int_equal(zput(kv, "n0", "p", 0), 1);
	assert_int_equal(kv_zrank(kv, "n0", 2, "p", 1, &r), 0);
	assert_int_equal(r, 3);
	assert_int_equal(zrem_n(kv, "n0", "p", 1), 0);
	expect_basics(kv);
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

/* ---- 2. against a model ---- */

#define NV 500
#define NZS 3
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

/* Value i's bytes: "m<i>", "b\0<i>" (a NUL inside) or, every 7th, "L<i>:"
 * and filler to 65..114 bytes. */
static unsigned char vb[NV][128];
static size_t vl[NV];

static void
make_values(void)
{
	for (unsigned i = 0; i < NV; i++) {
		char *b = (char *)vb[i];
		if (i % 7 == 3) {
			int n = sprintf(b, "L%u:", i);
			size_t len = 65 + i % 50;
			memset(b + n, 'a' + (int)(i % 26), len - (size_t)n);
			vl[i] = len;
		} else if (i % 11 == 5) {
			b[0] = 'b';
			b[1] = 0;
			vl[i] = 2 + (size_t)sprintf(b + 2, "%u", i);
		} else {
			vl[i] = (size_t)sprintf(b, "m%u", i);
		}
	}
}

static const double picks[] = {-INFINITY, -3, -1, -0.5, 0, 0.5, 1, 2, 7,
			       1e300, INFINITY};
#define NPICK (sizeof(picks) / sizeof(picks[0]))

/* A score: mostly from a few (ties), else small halves, random doubles
 * (any bits but NaN's), -0 or an infinity. */
static double
rscore(void)
{
	uint64_t r = xorshift();
	switch (r % 20) {
	case 16:
	case 17: {
		uint64_t b = xorshift();
		double d;
		memcpy(&d, &b, sizeof(d));
		return isnan(d) ? 1.5 : d;
	}
	case 18:
		return -0.0;
	case 19:
		return r >> 8 & 1 ? INFINITY : -INFINITY;
	default:
		if (r % 20 >= 12)
			return (double)((int)((r >> 8) % 41) - 20) / 2;
		return picks[(r >> 8) % NPICK];
	}
}

/* A model sorted set: ord[0..n) its members' values in (score, member)
 * order. */
struct zm {
	const char *key;
	size_t n;
	unsigned ord[NV];
	double sc[NV];
	unsigned char in[NV];
	uint64_t emptied;
};

static int
zm_cmp(const struct zm *z, unsigned a, double as, unsigned b)
{
	if (as != z->sc[b])
		return as < z->sc[b] ? -1 : 1;
	return bcmp_len(vb[a], vl[a], vb[b], vl[b]);
}

static size_t
zm_pos(const struct zm *z, unsigned id)
{
	for (size_t i = 0; i < z->n; i++)
		if (z->ord[i] == id)
			return i;
	fail_msg("model: %u not in %s", id, z->key);
	return 0;
}

static void
zm_del(struct zm *z, unsigned id)
{
	size_t i = zm_pos(z, id);
	memmove(z->ord + i, z->ord + i + 1, (z->n - i - 1) * sizeof(z->ord[0]));
	z->n--;
	z->in[id] = 0;
}

static void
zm_put(struct zm *z, unsigned id, double s)
{
	if (s == 0)
		s = 0;
	if (z->in[id])
		zm_del(z, id);
	size_t lo = 0, hi = z->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (zm_cmp(z, id, s, z->ord[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(z->ord + lo + 1, z->ord + lo, (z->n - lo) * sizeof(z->ord[0]));
	z->ord[lo] = id;
	z->sc[id] = s;
	z->in[id] = 1;
	z->n++;
}

/* the model as the sorted elements, into w */
static size_t
zm_els(const struct zm *z, struct zel *w)
{
	for (size_t i = 0; i < z->n; i++) {
		unsigned id = z->ord[i];
		w[i] = (struct zel){vb[id], vl[id], z->sc[id]};
	}
	return z->n;
}

/* the whole set against the model: ZCARD, forward and reversed, each
 * member's score and rank */
static void
zm_compare(struct kv *kv, const struct zm *z)
{
	static struct zel w[NV];
	size_t n = zm_els(z, w);
	expect_z(kv, z->key, w, n);
}

static double
rend(void)
{
	uint64_t r = xorshift();
	if (r % 8 == 0)
		return rscore();
	return picks[(r >> 8) % NPICK];
}

static void
model(void **st)
{
	(void)st;
	struct kv *kv = open_kv("zset-model.pool", KV_HASH, 1);
	static struct zm zs[NZS];
	static const char *keys[NZS] = {"few", "all", "some"};
	static struct zel w[NV];
	memset(zs, 0, sizeof(zs));
	make_values();
	for (int i = 0; i < NZS; i++)
		zs[i].key = keys[i];
	uint64_t replies[9] = {0};
	for (unsigned op = 0; op < OPS; op++) {
		uint64_t r = xorshift();
		struct zm *z = &zs[r % NZS];
		unsigned id;
		switch (r % NZS) {
		case 0: /* emptied often: 3 values */
			id = (unsigned)((r >> 8) % 3);
			break;
		case 1: /* all of them */
			id = (unsigned)((r >> 8) % NV);
			break;
		default:
			id = (unsigned)((r >> 8) % 200);
			break;
		}
		const char *k = z->key;
		size_t kl = strlen(k);
		unsigned what = (unsigned)((r >> 32) % 100);
		int rc;
		if (what < 35) { /* ZADD */
			double s = what == 0 ? NAN : rscore();
			int added = -1;
			rc = kv_zput(kv, k, kl, vb[id], vl[id], s, &added);
			if (isnan(s)) {
				assert_int_equal(rc, -EINVAL);
				assert_int_equal(added, 0);
			} else {
				if (rc)
					fail_msg("op %u zput: %d %s", op, rc,
						 kv_errmsg());
				assert_int_equal(added, !z->in[id]);
				zm_put(z, id, s);
			}
			replies[0]++;
		} else if (what < 50) { /* ZREM */
			rc = kv_zrem(kv, k, kl, vb[id], vl[id]);
			if (rc != (z->in[id] ? 0 : -ENOENT))
				fail_msg("op %u zrem %s %u: %d, model %d", op,
					 k, id, rc, z->in[id]);
			if (z->in[id]) {
				zm_del(z, id);
				if (!z->n) {
					enum kv_type t;
					z->emptied++;
					assert_int_equal(key_type(kv, k, &t),
							 -ENOENT);
				}
			}
			replies[1]++;
		} else if (what < 60) { /* ZSCORE */
			double s = NAN;
			rc = kv_zscore(kv, k, kl, vb[id], vl[id], &s);
			if (rc != (z->in[id] ? 0 : -ENOENT) ||
			    (!rc && !same(s, z->sc[id])))
				fail_msg("op %u zscore %s %u: %d %.17g, model "
					 "%d %.17g", op, k, id, rc, s,
					 z->in[id], z->sc[id]);
			replies[2]++;
		} else if (what < 68) { /* ZRANK */
			uint64_t rk = ALL;
			rc = kv_zrank(kv, k, kl, vb[id], vl[id], &rk);
			assert_int_equal(rc, z->in[id] ? 0 : -ENOENT);
			if (!rc && rk != zm_pos(z, id))
				fail_msg("op %u zrank %s %u: %" PRIu64
					 ", model %zu", op, k, id, rk,
					 zm_pos(z, id));
			replies[3]++;
		} else if (what < 72) { /* ZCARD */
			assert_int_equal(zcard(kv, k), z->n);
			replies[4]++;
		} else if (what < 80) { /* ranks */
			uint64_t a = xorshift() % (z->n + 3);
			uint64_t b = xorshift();
			b = b % 5 == 0 ? ALL : a + b % (z->n + 3) - 2;
			size_t n = zm_els(z, w);
			check_rrange(kv, k, w, n, a, b, what & 1);
			replies[5]++;
		} else if (what < 92) { /* scores */
			uint64_t x = xorshift();
			struct kv_zrange sr = {rend(), rend(), x & 1,
					       x >> 1 & 1};
			if (x >> 2 & 1 && sr.min > sr.max) {
				double t = sr.min;
				sr.min = sr.max;
				sr.max = t;
			}
			uint64_t off = x >> 8 & 1 ? 0 : (x >> 16) % (z->n + 2);
			uint64_t cnt = x >> 9 & 1 ? ALL : (x >> 32) % 12;
			size_t n = zm_els(z, w);
			check_srange(kv, k, w, n, &sr, x >> 3 & 1, off, cnt);
			replies[6]++;
		} else { /* ZCOUNT */
			uint64_t x = xorshift();
			struct kv_zrange sr = {rend(), rend(), x & 1,
					       x >> 1 & 1};
			uint64_t c = ALL, want = 0;
			assert_int_equal(kv_zcount(kv, k, kl, &sr, &c), 0);
			for (size_t i = 0; i < z->n; i++)
				want += in_srange(z->sc[z->ord[i]], &sr);
			if (c != want)
				fail_msg("op %u zcount %s: %" PRIu64 ", model %"
					 PRIu64, op, k, c, want);
			replies[7]++;
		}
		if (op % 1000 == 999) {
			uint64_t live = 0;
			for (int i = 0; i < NZS; i++) {
				zm_compare(kv, &zs[i]);
				live += zs[i].n != 0;
			}
			assert_int_equal(kv_count(kv), live);
		}
		if (op == OPS / 2) {
			check_clean(kv);
			assert_int_equal(kv_close(kv), 0);
			kv = open_kv("zset-model.pool", KV_ANY, 0);
			for (int i = 0; i < NZS; i++)
				zm_compare(kv, &zs[i]);
			replies[8]++;
		}
	}
	/* every kind of call, every kind of set happened */
	for (int i = 0; i < 8; i++)
		assert_true(replies[i] > OPS / 50);
	assert_true(zs[0].emptied > 10);
	assert_true(zs[1].n > 250 && zs[2].n > 100);
	for (int i = 0; i < NZS; i++)
		zm_compare(kv, &zs[i]);
	check_clean(kv);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv("zset-model.pool", KV_ANY, 0);
	for (int i = 0; i < NZS; i++)
		zm_compare(kv, &zs[i]);
	check_clean(kv);
	assert_int_equal(kv_close(kv), 0);
}

/* ---- 3. in a transaction ---- */

/* The store of a test that writes in transactions of its own (in_tx,
 * big), so that a failure inside one does not leave the thread in it
 * for the tests after (their kv_open would refuse). */
static struct kv *tx_kv;

static int
tx_teardown(void **st)
{
	(void)st;
	if (tx_kv) {
		nvh_tx *tx = nvh_tx_current(kv_pool(tx_kv));
		if (tx)
			nvh_tx_abort(tx);
		kv_close(tx_kv);
		tx_kv = NULL;
	}
	return 0;
}

static void
in_tx(void **st)
{
	(void)st;
	struct kv *kv = open_kv("zset-tx.pool", KV_BTREE, 1);
	tx_kv = kv;
	static struct zm z;
	static struct zel w[NV];
	memset(&z, 0, sizeof(z));
	z.key = "tx";
	make_values();
	rng = 0x2545f4914f6cdd1dull;
	nvh_pool *pool = kv_pool(kv);

	/* 500 ZADDs, 150 members each updated several times */
	nvh_tx *tx = nvh_tx_begin(pool);
	assert_non_null(tx);
	unsigned updates = 0;
	for (int i = 0; i < 500; i++) {
		unsigned id = (unsigned)(xorshift() % 150);
		double s = rscore();
		updates += z.in[id];
		assert_int_equal(zput_n(kv, "tx", vb[id], vl[id], s),
				 !z.in[id]);
		zm_put(&z, id, s);
		if (i % 50 == 49) { /* the walk back halfway too */
			size_t n = zm_els(&z, w);
			check_rrange(kv, "tx", w, n, 0, ALL, 1);
		}
	}
	assert_true(updates > 300);
	assert_ptr_equal(nvh_tx_current(pool), tx);
	/* inside the transaction: reversed (back links to nodes made in
	 * it), forward, ranks, scores */
	zm_compare(kv, &z);
	assert_int_equal(nvh_tx_commit(tx), 0);
	assert_null(nvh_tx_current(pool));
	zm_compare(kv, &z);
	check_clean(kv);
	tx_kv = NULL;
	assert_int_equal(kv_close(kv), 0);
	kv = tx_kv = open_kv("zset-tx.pool", KV_BTREE, 0);
	pool = kv_pool(kv);
	zm_compare(kv, &z);

	/* an aborted one: updates, new members, removals, a new key */
	static struct zm before;
	before = z;
	struct nvh_stats s0 = nvt_stats(pool);
	tx = nvh_tx_begin(pool);
	assert_non_null(tx);
	for (int i = 0; i < 300; i++) {
		uint64_t r = xorshift();
		unsigned id = (unsigned)(r % 300);
		if (r >> 32 & 3 || !z.in[id]) {
			double s = rscore();
			assert_int_equal(zput_n(kv, "tx", vb[id], vl[id], s),
					 !z.in[id]);
			zm_put(&z, id, s);
		} else {
			assert_int_equal(zrem_n(kv, "tx", vb[id], vl[id]), 0);
			zm_del(&z, id);
		}
	}
	assert_int_equal(zput(kv, "new", "a", 1), 1);
	zm_compare(kv, &z);
	assert_int_equal(kv_count(kv), 2);
	assert_int_equal(nvh_tx_abort(tx), 0);
	assert_null(nvh_tx_current(pool));
	/* exactly as before */
	zm_compare(kv, &before);
	for (unsigned id = 0; id < 300; id++) {
		double s;
		if (!before.in[id])
			assert_int_equal(kv_zscore(kv, "tx", 2, vb[id], vl[id],
						   &s), -ENOENT);
	}
	assert_int_equal(zcard(kv, "new"), 0);
	assert_int_equal(kv_count(kv), 1);
	struct nvh_stats s1 = nvt_stats(pool);
	assert_int_equal(s1.objects, s0.objects);
	assert_int_equal(s1.allocated_bytes, s0.allocated_bytes);
	check_clean(kv);
	/* and it takes writes after the abort */
	z = before;
	assert_int_equal(zput_n(kv, "tx", vb[400], vl[400], 1), 1);
	zm_put(&z, 400, 1);
	zm_compare(kv, &z);
	tx_kv = NULL;
	assert_int_equal(kv_close(kv), 0);
	kv = tx_kv = open_kv("zset-tx.pool", KV_BTREE, 0);
	zm_compare(kv, &z);
	check_clean(kv);
	tx_kv = NULL;
	assert_int_equal(kv_close(kv), 0);
}

/* ---- 4. big ---- */

#define BIG 200000u

static char bname[BIG][16];
static unsigned char bnl[BIG];

static double
bscore(unsigned i)
{
	/* 50,000 scores, each of 4 members, in no order of i */
	return (double)((i * 7919u) % 50000u) / 4 - 6000;
}

static int
bidx_cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	double sx = bscore(x), sy = bscore(y);
	if (sx != sy)
		return sx < sy ? -1 : 1;
	return bcmp_len(bname[x], bnl[x], bname[y], bnl[y]);
}

struct bseen {
	unsigned char *hit;
	uint64_t visits;
};

static int
bseen_cb(void *arg, const void *k, size_t kl, const void *v, size_t vlen)
{
	struct bseen *s = arg;
	char f[32];
	unsigned i;
	assert_true(kl < sizeof(f));
	memcpy(f, k, kl);
	f[kl] = 0;
	assert_int_equal(sscanf(f, "member:%u", &i), 1);
	assert_true(i < BIG && kl == bnl[i]);
	assert_int_equal(vlen, sizeof(double));
	double d;
	memcpy(&d, v, sizeof(d));
	if (!same(d, bscore(i)))
		fail_msg("ZSCAN: member:%u's score %.17g", i, d);
	s->hit[i] = 1;
	s->visits++;
	return 0;
}

/* sorted[a..b] as zel, into w */
static void
bels(const unsigned *sorted, size_t a, size_t n, struct zel *w)
{
	for (size_t j = 0; j < n; j++) {
		unsigned i = sorted[a + j];
		w[j] = (struct zel){bname[i], bnl[i], bscore(i)};
	}
}

static void
big(enum kv_index ix)
{
	const char *name = ix == KV_HASH ? "zset-big-h.pool"
					 : "zset-big-b.pool";
	struct kv *kv = tx_kv = open_kv(name, ix, 1);
	struct nvh_stats st0, st1;
	assert_int_equal(nvh_stats(kv_pool(kv), &st0), 0);
	for (unsigned i = 0; i < BIG; i++)
		bnl[i] = (unsigned char)snprintf(bname[i], sizeof(bname[i]),
						 "member:%u", i);
	for (unsigned b = 0; b < BIG; b += 1000) {
		nvh_tx *tx = nvh_tx_begin(kv_pool(kv));
		assert_non_null(tx);
		for (unsigned i = b; i < b + 1000; i++) {
			int added = -1;
			assert_int_equal(kv_zput(kv, "big", 3, bname[i], bnl[i],
						 bscore(i), &added), 0);
			assert_int_equal(added, 1);
		}
		assert_int_equal(nvh_tx_commit(tx), 0);
	}
	assert_int_equal(zcard(kv, "big"), BIG);
	/* again, the same scores: nothing added */
	for (unsigned i = 0; i < BIG; i += 1009)
		assert_int_equal(zput_n(kv, "big", bname[i], bnl[i],
					bscore(i)), 0);
	assert_int_equal(zcard(kv, "big"), BIG);
	assert_true(nvh_stats(kv_pool(kv), &st1) == 0 &&
		    st1.allocated_bytes > st0.allocated_bytes + BIG * 60ull);
	tx_kv = NULL;
	assert_int_equal(kv_close(kv), 0);

	unsigned *sorted = malloc(BIG * sizeof(*sorted));
	uint32_t *rank = malloc(BIG * sizeof(*rank));
	assert_true(sorted && rank);
	for (unsigned i = 0; i < BIG; i++)
		sorted[i] = i;
	qsort(sorted, BIG, sizeof(*sorted), bidx_cmp);
	for (unsigned j = 0; j < BIG; j++)
		rank[sorted[j]] = j;

	kv = open_kv(name, ix, 0);
	assert_int_equal(zcard(kv, "big"), BIG);
	for (unsigned i = 0; i < BIG; i += 7) {
		uint64_t r = ALL;
		double s = NAN;
		assert_int_equal(kv_zrank(kv, "big", 3, bname[i], bnl[i], &r),
				 0);
		if (r != rank[i])
			fail_msg("member:%u's rank %" PRIu64 ", want %u", i, r,
				 rank[i]);
		assert_int_equal(kv_zscore(kv, "big", 3, bname[i], bnl[i], &s),
				 0);
		assert_true(same(s, bscore(i)));
	}
	char m[32];
	int ml = snprintf(m, sizeof(m), "member:%u", BIG);
	uint64_t r;
	assert_int_equal(kv_zrank(kv, "big", 3, m, (size_t)ml, &r), -ENOENT);
	/* 100 ranks at the middle, both ways; from the ends too */
	static struct zel w[100];
	bels(sorted, BIG / 2 - 50, 100, w);
	struct zlist l = {0};
	assert_int_equal(kv_zrange(kv, "big", 3, BIG / 2 - 50, BIG / 2 + 49, 0,
				   zl_cb, &l), 0);
	zl_expect(&l, w, 100, 0, "the middle 100");
	zl_reset(&l);
	/* reversed ranks BIG/2-50 .. BIG/2+49 from the top are ranks
	 * BIG/2+49 .. BIG/2-50 from the bottom */
	assert_int_equal(kv_zrange(kv, "big", 3, BIG / 2 - 50, BIG / 2 + 49, 1,
				   zl_cb, &l), 0);
	bels(sorted, BIG / 2 - 50, 100, w);
	zl_expect(&l, w, 100, 1, "the middle 100 reversed");
	zl_reset(&l);
	assert_int_equal(kv_zrange(kv, "big", 3, 0, 9, 1, zl_cb, &l), 0);
	bels(sorted, BIG - 10, 10, w);
	zl_expect(&l, w, 10, 1, "the top 10");
	zl_reset(&l);
	/* scores: a range counted, one walked from an offset both ways */
	struct kv_zrange sr = {-1000, 2000, 0, 1};
	uint64_t c = 0, want = 0;
	for (unsigned i = 0; i < BIG; i++)
		want += in_srange(bscore(i), &sr);
	assert_true(want > 10000);
	assert_int_equal(kv_zcount(kv, "big", 3, &sr, &c), 0);
	assert_int_equal(c, want);
	sr.minex = 1;
	sr.maxex = 0;
	want = 0;
	for (unsigned i = 0; i < BIG; i++)
		want += in_srange(bscore(i), &sr);
	assert_int_equal(kv_zcount(kv, "big", 3, &sr, &c), 0);
	assert_int_equal(c, want);
	/* the first in (-1000, 2000] is rank lo */
	uint64_t lo = 0;
	while (!in_srange(bscore(sorted[lo]), &sr))
		lo++;
	assert_int_equal(kv_zrange_score(kv, "big", 3, &sr, 0, 5000, 20, zl_cb,
					 &l), 0);
	bels(sorted, (size_t)lo + 5000, 20, w);
	zl_expect(&l, w, 20, 0, "score range from offset 5000");
	zl_reset(&l);
	assert_int_equal(kv_zrange_score(kv, "big", 3, &sr, 1, 5000, 20, zl_cb,
					 &l), 0);
	bels(sorted, (size_t)(lo + want - 5020), 20, w);
	zl_expect(&l, w, 20, 1, "score range reversed from offset 5000");
	zl_free(&l);
	/* ZSCAN's steps visit every member */
	struct bseen s = {.hit = calloc(BIG, 1)};
	assert_non_null(s.hit);
	uint64_t cur = 0, steps = 0;
	do {
		assert_int_equal(kv_zscan_step(kv, "big", 3, cur, 1000,
					       bseen_cb, &s, &cur), 0);
		assert_true(++steps < 10 * BIG / 1000);
	} while (cur);
	for (unsigned i = 0; i < BIG; i++)
		if (!s.hit[i])
			fail_msg("ZSCAN missed member:%u", i);
	assert_true(s.visits >= BIG && s.visits < BIG + BIG / 10);
	free(s.hit);
	free(sorted);
	free(rank);
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	/* deleting it is one small commit; the nodes and members go in
	 * bounded steps and the space comes back */
	assert_int_equal(kv_del(kv, "big", 3), 0);
	assert_int_equal(zcard(kv, "big"), 0);
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

/* ---- 5. types ---- */

/* Another error's message (ZADD of NaN: -EINVAL) */
static void
other_error(struct kv *kv)
{
	int a = -1;
	assert_int_equal(kv_zput(kv, "nan", 3, "m", 1, NAN, &a), -EINVAL);
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

static const struct zel zs1[] = {ZEL("a", 1), ZEL("b", 2), ZEL("c", 2)};

/* Nothing changed: "z" {a 1, b 2, c 2}, "str" "val", "h" {f: 1},
 * "set" {x}, "l" [x]. */
static void
unchanged(struct kv *kv)
{
	const void *v;
	size_t vlen;
	uint64_t n = 0;
	enum kv_type t;
	assert_int_equal(kv_count(kv), 5);
	expect_z(kv, "z", zs1, 3);
	assert_int_equal(kv_get(kv, "str", 3, &v, &vlen), 0);
	assert_int_equal(vlen, 3);
	assert_memory_equal(v, "val", 3);
	assert_int_equal(kv_hlen(kv, "h", 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_hget(kv, "h", 1, "f", 1, &v, &vlen), 0);
	assert_int_equal(vlen, 1);
	assert_memory_equal(v, "1", 1);
	assert_int_equal(kv_scard(kv, "set", 3, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_sismember(kv, "set", 3, "x", 1), 0);
	assert_int_equal(kv_llen(kv, "l", 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_lindex(kv, "l", 1, 0, &v, &vlen), 0);
	assert_int_equal(vlen, 1);
	assert_memory_equal(v, "x", 1);
	const char *k[] = {"str", "h", "set", "l"};
	const enum kv_type tt[] = {KV_T_STRING, KV_T_HASH, KV_T_SET,
				   KV_T_LIST};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(key_type(kv, k[i], &t), 0);
		assert_int_equal(t, tt[i]);
	}
}

struct tscan {
	struct kv *kv;
	uint64_t zsets, others;
};

static int
type_cb(void *arg, const void *k, size_t kl, const void *v, size_t vlen)
{
	struct tscan *s = arg;
	(void)v;
	if (kv_visit_type(s->kv) == KV_T_ZSET) {
		assert_true(kl == 1 && !memcmp(k, "z", 1));
		assert_int_equal(vlen, 0);
		s->zsets++;
	} else {
		s->others++;
	}
	return 0;
}

static void
types(void **st)
{
	(void)st;
	struct kv *kv = open_kv("zset-types.pool", KV_HASH, 1);
	const void *v;
	size_t vlen;
	enum kv_type t;
	uint64_t n;
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(zput_n(kv, "z", zs1[i].m, zs1[i].l, zs1[i].s),
				 1);
	assert_int_equal(kv_put(kv, "str", 3, "val", 3), 0);
	assert_int_equal(kv_hset(kv, "h", 1, "f", 1, "1", 1, 0, NULL), 0);
	assert_int_equal(kv_sadd(kv, "set", 3, "x", 1, NULL), 0);
	const void *xp = "x";
	size_t xl = 1;
	assert_int_equal(kv_lpush(kv, "l", 1, &xp, &xl, 1, 1, 0, &n), 0);
	assert_int_equal(n, 1);
	unchanged(kv);
	struct tscan ts = {kv, 0, 0};
	assert_int_equal(kv_scan(kv, NULL, 0, NULL, 0, type_cb, &ts), 0);
	assert_int_equal(ts.zsets, 1);
	assert_int_equal(ts.others, 4);

	/* the sorted set calls on a string, a hash, a set, a list */
	const char *other[] = {"str", "h", "set", "l"};
	for (int i = 0; i < 4; i++) {
		const char *k = other[i];
		size_t kl = strlen(k);
		int a = -1;
		double s = 7;
		uint64_t c = 0, next = 7, r = 7;
		struct kv_zrange sr = {-INFINITY, INFINITY, 0, 0};
		struct kv_zlex lr = {.min_inf = -1, .max_inf = 1};
		assert_wrongtype(kv, kv_zput(kv, k, kl, "a", 1, 1, &a));
		assert_int_equal(a, 0);
		assert_wrongtype(kv, kv_zput(kv, k, kl, "f", 1, 1, &a));
		assert_wrongtype(kv, kv_zput(kv, k, kl, "x", 1, 1, &a));
		assert_wrongtype(kv, kv_zscore(kv, k, kl, "x", 1, &s));
		assert_wrongtype(kv, kv_zrem(kv, k, kl, "x", 1));
		assert_wrongtype(kv, kv_zrem(kv, k, kl, "f", 1));
		assert_wrongtype(kv, kv_zcard(kv, k, kl, &n));
		assert_wrongtype(kv, kv_zrank(kv, k, kl, "x", 1, &r));
		assert_wrongtype(kv, kv_zrange(kv, k, kl, 0, ALL, 0, count_zcb,
					       &c));
		assert_wrongtype(kv, kv_zrange(kv, k, kl, 0, ALL, 1, count_zcb,
					       &c));
		assert_wrongtype(kv, kv_zrange_score(kv, k, kl, &sr, 0, 0, ALL,
						     count_zcb, &c));
		assert_wrongtype(kv, kv_zrange_lex(kv, k, kl, &lr, 1, 0, ALL,
						   count_zcb, &c));
		assert_wrongtype(kv, kv_zcount(kv, k, kl, &sr, &n));
		assert_wrongtype(kv, kv_zlexcount(kv, k, kl, &lr, &n));
		assert_wrongtype(kv, kv_zscan_step(kv, k, kl, 0, 10, count_cb,
						   &c, &next));
		assert_int_equal(c, 0);
		assert_true(same(s, 7) && r == 7);
		unchanged(kv);
	}
	/* the string, hash, set and list calls on a sorted set */
	long long ll;
	size_t nl;
	int64_t ex, len;
	uint64_t c = 0, next = 7;
	int a = -1;
	assert_wrongtype(kv, kv_get(kv, "z", 1, &v, &vlen));
	assert_wrongtype(kv, kv_get_ex(kv, "z", 1, &v, &vlen, &ex));
	assert_wrongtype(kv, kv_incrby(kv, "z", 1, 1, &ll));
	assert_wrongtype(kv, kv_append(kv, "z", 1, "x", 1, &nl));
	assert_wrongtype(kv, kv_hset(kv, "z", 1, "a", 1, "v", 1, 0, NULL));
	assert_wrongtype(kv, kv_hset(kv, "z", 1, "d", 1, "v", 1, 1, NULL));
	assert_wrongtype(kv, kv_hget(kv, "z", 1, "a", 1, &v, &vlen));
	assert_wrongtype(kv, kv_hdel(kv, "z", 1, "a", 1));
	assert_wrongtype(kv, kv_hlen(kv, "z", 1, &n));
	assert_wrongtype(kv, kv_hscan(kv, "z", 1, count_cb, &c));
	assert_wrongtype(kv, kv_hscan_step(kv, "z", 1, 0, 10, count_cb, &c,
					   &next));
	assert_wrongtype(kv, kv_sadd(kv, "z", 1, "a", 1, &a));
	assert_int_equal(a, 0);
	assert_wrongtype(kv, kv_sadd(kv, "z", 1, "d", 1, &a));
	assert_wrongtype(kv, kv_srem(kv, "z", 1, "a", 1));
	assert_wrongtype(kv, kv_sismember(kv, "z", 1, "a", 1));
	assert_wrongtype(kv, kv_scard(kv, "z", 1, &n));
	assert_wrongtype(kv, kv_smembers(kv, "z", 1, count_cb, &c));
	assert_wrongtype(kv, kv_sscan_step(kv, "z", 1, 0, 10, count_cb, &c,
					   &next));
	assert_wrongtype(kv, kv_lpush(kv, "z", 1, &xp, &xl, 1, 1, 0, &n));
	assert_wrongtype(kv, kv_lpush(kv, "z", 1, &xp, &xl, 1, 0, 1, &n));
	assert_wrongtype(kv, kv_lpop(kv, "z", 1, 1, 1, count_cb, &c));
	assert_wrongtype(kv, kv_llen(kv, "z", 1, &n));
	assert_wrongtype(kv, kv_lindex(kv, "z", 1, 0, &v, &vlen));
	assert_wrongtype(kv, kv_lrange(kv, "z", 1, 0, -1, count_cb, &c));
	assert_wrongtype(kv, kv_lset(kv, "z", 1, 0, "x", 1));
	assert_wrongtype(kv, kv_lrem(kv, "z", 1, 0, "a", 1, &n));
	assert_wrongtype(kv, kv_ltrim(kv, "z", 1, 0, 0));
	assert_wrongtype(kv, kv_linsert(kv, "z", 1, 0, "a", 1, "x", 1, &len));
	assert_wrongtype(kv, kv_lmove(kv, "z", 1, "l", 1, 1, 1, count_cb, &c));
	assert_wrongtype(kv, kv_lmove(kv, "l", 1, "z", 1, 1, 1, count_cb, &c));
	assert_int_equal(c, 0);
	assert_int_equal(next, 0);
	unchanged(kv);
	check_clean(kv);

	/* SET replaces a sorted set (its nodes and members are freed:
	 * nvh_check below) */
	assert_int_equal(kv_put(kv, "z", 1, "now", 3), 0);
	assert_int_equal(key_type(kv, "z", &t), 0);
	assert_int_equal(t, KV_T_STRING);
	assert_int_equal(kv_get(kv, "z", 1, &v, &vlen), 0);
	assert_int_equal(vlen, 3);
	assert_memory_equal(v, "now", 3);
	assert_wrongtype(kv, kv_zcard(kv, "z", 1, &n));
	double s;
	assert_wrongtype(kv, kv_zscore(kv, "z", 1, "a", 1, &s));
	assert_int_equal(kv_count(kv), 5);
	/* a bigger one too, with nodes of every height */
	struct nvh_stats s0 = nvt_stats(kv_pool(kv));
	char m[32];
	for (int i = 0; i < 2000; i++) {
		int ml = snprintf(m, sizeof(m), "m%d", i);
		assert_int_equal(zput_n(kv, "zz", m, (size_t)ml, i % 10), 1);
	}
	assert_int_equal(kv_put(kv, "zz", 2, "s", 1), 0);
	assert_int_equal(kv_get(kv, "zz", 2, &v, &vlen), 0);
	assert_int_equal(vlen, 1);
	assert_int_equal(kv_del(kv, "zz", 2), 0);
	check_clean(kv);
	/* (reopened: what the dying list's steps had left is gone) */
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv("zset-types.pool", KV_HASH, 0);
	struct nvh_stats s1 = nvt_stats(kv_pool(kv));
	assert_true(s1.allocated_bytes <= s0.allocated_bytes + (64u << 10));
	assert_int_equal(kv_count(kv), 5);

	/* RENAME moves the sorted set, not a copy */
	static struct zel x[300];
	static char xb[300][8];
	for (int i = 0; i < 300; i++) {
		int ml = snprintf(xb[i], sizeof(xb[i]), "x%d", i);
		x[i] = (struct zel){xb[i], (size_t)ml, (double)(i % 7) - 3};
		assert_int_equal(zput_n(kv, "x", x[i].m, x[i].l, x[i].s), 1);
	}
	s0 = nvt_stats(kv_pool(kv));
	assert_int_equal(kv_rename(kv, "x", 1, "y", 1, 0), 0);
	s1 = nvt_stats(kv_pool(kv));
	assert_true(s1.objects <= s0.objects + 2);
	assert_int_equal(key_type(kv, "x", &t), -ENOENT);
	assert_int_equal(zcard(kv, "x"), 0);
	expect_z(kv, "y", x, 300);
	/* onto a string: NX refuses, else the sorted set replaces it */
	assert_int_equal(kv_rename(kv, "y", 1, "str", 3, 1), -EEXIST);
	expect_z(kv, "y", x, 300);
	assert_int_equal(kv_get(kv, "str", 3, &v, &vlen), 0);
	assert_int_equal(kv_rename(kv, "y", 1, "str", 3, 0), 0);
	expect_z(kv, "str", x, 300);
	assert_int_equal(zcard(kv, "y"), 0);
	assert_wrongtype(kv, kv_get(kv, "str", 3, &v, &vlen));
	/* and takes writes under its new name */
	assert_int_equal(zput(kv, "str", "x5", 100), 0);
	assert_int_equal(zrem_n(kv, "str", "x6", 2), 0);
	x[5].s = 100;
	x[6] = x[299];
	expect_z(kv, "str", x, 299);
	/* z (a string now), str, h, set, l */
	assert_int_equal(kv_count(kv), 5);
	check_clean(kv);

	/* expiry: the whole sorted set goes; a ZADD then makes a new one */
	assert_int_equal(kv_set_expire(kv, "str", 3, T0 + 1000), 0);
	assert_int_equal(kv_expires(kv), 1);
	int64_t e = 0;
	assert_int_equal(kv_key_type(kv, "str", 3, &t, &e), 0);
	assert_int_equal(t, KV_T_ZSET);
	assert_int_equal(e, T0 + 1000);
	kv_set_time(kv, T0 + 999);
	assert_int_equal(zcard(kv, "str"), 299);
	assert_int_equal(kv_zscore(kv, "str", 3, "x0", 2, &s), 0);
	kv_set_time(kv, T0 + 1000);
	assert_int_equal(zcard(kv, "str"), 0);
	assert_int_equal(kv_zscore(kv, "str", 3, "x0", 2, &s), -ENOENT);
	uint64_t r;
	assert_int_equal(kv_zrank(kv, "str", 3, "x0", 2, &r), -ENOENT);
	assert_int_equal(zrem_n(kv, "str", "x0", 2), -ENOENT);
	assert_int_equal(key_type(kv, "str", &t), -ENOENT);
	c = 0;
	assert_int_equal(kv_zrange(kv, "str", 3, 0, ALL, 1, count_zcb, &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(zput(kv, "str", "new", 1), 1);
	const struct zel nw[] = {ZEL("new", 1)};
	expect_z(kv, "str", nw, 1);
	assert_int_equal(kv_expires(kv), 0);
	e = 1;
	assert_int_equal(kv_key_type(kv, "str", 3, &t, &e), 0);
	assert_int_equal(e, 0);
	/* an expired key of another type is no key: ZADD makes a sorted
	 * set of it; an expired sorted set is none for the other types */
	assert_int_equal(kv_put(kv, "e1", 2, "v", 1), 0);
	assert_int_equal(zput(kv, "e2", "a", 1), 1);
	assert_int_equal(kv_set_expire(kv, "e1", 2, T0 + 2000), 0);
	assert_int_equal(kv_set_expire(kv, "e2", 2, T0 + 2000), 0);
	kv_set_time(kv, T0 + 2000);
	assert_int_equal(zput(kv, "e1", "b", 2), 1);
	const struct zel e1[] = {ZEL("b", 2)};
	expect_z(kv, "e1", e1, 1);
	assert_int_equal(kv_sadd(kv, "e2", 2, "a", 1, NULL), 0);
	assert_int_equal(key_type(kv, "e2", &t), 0);
	assert_int_equal(t, KV_T_SET);
	assert_int_equal(kv_expires(kv), 0);
	check_clean(kv);

	/* FLUSHALL */
	for (int i = 0; i < 500; i++) {
		int ml = snprintf(m, sizeof(m), "f%d", i);
		assert_int_equal(zput_n(kv, "f", m, (size_t)ml, i), 1);
	}
	assert_int_equal(kv_flush(kv), 0);
	assert_int_equal(kv_count(kv), 0);
	assert_int_equal(zcard(kv, "f"), 0);
	assert_int_equal(zcard(kv, "str"), 0);
	assert_int_equal(zcard(kv, "e1"), 0);
	assert_int_equal(zput(kv, "f", "f0", 0), 1);
	assert_int_equal(zcard(kv, "f"), 1);
	check_clean(kv);
	assert_int_equal(kv_close(kv), 0);
}

/* ---- 6. killed ---- */

#define KOPS 3000

/* The child's writes (and the parent's model of them): member i into
 * "even" or "odd" (by i's parity) with a score of many ties; every 3rd
 * step a member 10 back gets a new score; every 5th, one 20 back is
 * removed (if there).  With kv (the child), each write is checked
 * against the model: 0 if all were as expected. */
struct kmodel {
	unsigned char in[KOPS];
	double sc[KOPS];
};

static int
kill_run(struct kv *kv, struct kmodel *km)
{
	char m[32];
	for (int i = 0; i < KOPS; i++) {
		const char *k = i % 2 ? "odd" : "even";
		int ml = snprintf(m, sizeof(m), "m%d", i);
		double s = (double)(i % 13) - 6;
		int added = -1;
		if (kv && (kv_zput(kv, k, strlen(k), m, (size_t)ml, s,
				   &added) || added != 1))
			return 3;
		km->in[i] = 1;
		km->sc[i] = s;
		if (i % 3 == 0 && i >= 10 && km->in[i - 10]) {
			int j = i - 10;
			ml = snprintf(m, sizeof(m), "m%d", j);
			s = (double)(i % 7) / 2 - 1;
			if (kv && (kv_zput(kv, k, strlen(k), m, (size_t)ml, s,
					   &added) || added != 0))
				return 4;
			km->sc[j] = s == 0 ? 0 : s;
		}
		if (i % 5 == 0 && i >= 20) {
			int j = i - 20;
			ml = snprintf(m, sizeof(m), "m%d", j);
			int rc = kv ? kv_zrem(kv, k, strlen(k), m, (size_t)ml)
				    : 0;
			if (kv && rc != (km->in[j] ? 0 : -ENOENT))
				return 5;
			km->in[j] = 0;
		}
	}
	return 0;
}

/* A child makes 3,000 ZADDs into two sorted sets (one transaction each,
 * updating earlier members' scores sometimes), ZREMs some of them and
 * SIGKILLs itself: every acknowledged write is there, in order. */
static void
killed(void **st)
{
	(void)st;
	const char *path = nvt_path("zset-kill.pool");
	unlink(path);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kv_opts o = {.index = KV_HASH, .create = 1};
		struct kv *kv = kv_open(path, &o);
		if (!kv)
			_exit(2);
		static struct kmodel cm;
		int rc = kill_run(kv, &cm);
		if (rc)
			_exit(rc);
		kill(getpid(), SIGKILL);
		_exit(6);
	}
	int wst;
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	if (!WIFSIGNALED(wst) || WTERMSIG(wst) != SIGKILL)
		fail_msg("the child did not kill itself: status %#x", wst);
	static struct kmodel km;
	memset(&km, 0, sizeof(km));
	assert_int_equal(kill_run(NULL, &km), 0);
	struct kv_opts o = {.index = KV_HASH};
	struct kv *kv = kv_open(path, &o);
	assert_non_null(kv);
	static char mb[KOPS][8];
	static struct zel w[2][KOPS];
	size_t n[2] = {0, 0};
	for (int i = 0; i < KOPS; i++) {
		int ml = snprintf(mb[i], sizeof(mb[i]), "m%d", i);
		const char *k = i % 2 ? "odd" : "even";
		double s;
		int rc = kv_zscore(kv, k, strlen(k), mb[i], (size_t)ml, &s);
		if (rc != (km.in[i] ? 0 : -ENOENT) ||
		    (!rc && !same(s, km.sc[i])))
			fail_msg("%s %s: %d %.17g, want %d %.17g", k, mb[i], rc,
				 s, km.in[i], km.sc[i]);
		const char *o2 = i % 2 ? "even" : "odd";
		assert_int_equal(kv_zscore(kv, o2, strlen(o2), mb[i],
					   (size_t)ml, &s), -ENOENT);
		if (km.in[i])
			w[i % 2][n[i % 2]++] =
				(struct zel){mb[i], (size_t)ml, km.sc[i]};
	}
	assert_true(n[0] > 1000 && n[1] > 1000);
	assert_true(n[0] < KOPS / 2 && n[1] < KOPS / 2);
	expect_z(kv, "even", w[0], n[0]);
	expect_z(kv, "odd", w[1], n[1]);
	assert_int_equal(kv_count(kv), 2);
	check_clean(kv);
	assert_int_equal(kv_close(kv), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basics_hash),
		cmocka_unit_test(basics_btree),
		cmocka_unit_test(types),
		cmocka_unit_test(model),
		cmocka_unit_test_teardown(in_tx, tx_teardown),
		cmocka_unit_test(killed),
		cmocka_unit_test_teardown(big_hash, tx_teardown),
		cmocka_unit_test_teardown(big_btree, tx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
