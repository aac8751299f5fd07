/*
 * cmd_zsetop.c -- nvkv-server's sorted set algebra: ZUNION, ZINTER,
 * ZDIFF, their *STORE forms and ZINTERCARD, with redis 7.0's arguments,
 * replies and errors (tests/server/diff/zsetop.txt compares them with
 * redis-server byte for byte: results are in (score, member) order).
 *
 * Every input key is a sorted set, a set (each member scored 1) or
 * absent (empty); its type is checked before the options are read, as
 * redis does.  A union reads every input; an intersection walks the
 * smallest input and looks each member up in the others, in order of
 * size (redis's order, so a SUM adds in the same order); a difference
 * walks the first.  The result is built in DRAM; a *STORE form then
 * replaces its destination in one transaction (an empty result deletes
 * it), so a destination that is also an input reads the old set.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

enum zop { ZOP_UNION, ZOP_INTER, ZOP_DIFF };
enum zagg { AGG_SUM, AGG_MIN, AGG_MAX };

/* One input: its key, type (0: absent), size and weight. */
struct zsrc {
	const char *k;
	size_t kl;
	enum kv_type t;
	uint64_t n;
	double w;
	int at; /* its place among the arguments (ties of size) */
};

/* A member with its score, copied to DRAM. */
struct zel {
	char *m;
	size_t l;
	double s;
	int src; /* union: the input's place in the size order */
};

struct zels {
	struct zel *e;
	size_t n, cap;
};

static int
zels_add(struct zels *L, const void *m, size_t l, double s, int src)
{
	if (L->n == L->cap) {
		size_t cap = L->cap ? 2 * L->cap : 64;
		struct zel *a = realloc(L->e, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		L->e = a;
		L->cap = cap;
	}
	char *c = malloc(l ? l : 1);
	if (!c)
		return -ENOMEM;
	memcpy(c, m, l);
	L->e[L->n++] = (struct zel){c, l, s, src};
	return 0;
}

static void
zels_free(struct zels *L)
{
	for (size_t i = 0; i < L->n; i++)
		free(L->e[i].m);
	free(L->e);
	*L = (struct zels){0};
}

static int
mem_cmp(const struct zel *x, const struct zel *y)
{
	int r = memcmp(x->m, y->m, x->l < y->l ? x->l : y->l);
	return r ? r : (x->l > y->l) - (x->l < y->l);
}

/* union: by member, then by input (the aggregation's order) */
static int
by_member(const void *a, const void *b)
{
	const struct zel *x = a, *y = b;
	int r = mem_cmp(x, y);
	return r ? r : (x->src > y->src) - (x->src < y->src);
}

/* the result's order: (score, member) */
static int
by_score(const void *a, const void *b)
{
	const struct zel *x = a, *y = b;
	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	return mem_cmp(x, y);
}

static int
by_size(const void *a, const void *b)
{
	const struct zsrc *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return (x->at > y->at) - (x->at < y->at);
}

/* redis's zunionInterAggregate: a NaN sum (inf + -inf) is 0 */
static double
aggregate(double a, double b, enum zagg g)
{
	if (g == AGG_SUM) {
		double s = a + b;
		return isnan(s) ? 0 : s;
	}
	return g == AGG_MIN ? (b < a ? b : a) : (b > a ? b : a);
}

/* An input's element, weighted (0 * inf is 0, as in redis). */
static double
weighted(const struct zsrc *s, double score)
{
	double v = score * s->w;
	return isnan(v) ? 0 : v;
}

/* ---- reading the inputs ---- */

struct rd {
	struct zels *L;
	const struct zsrc *s;
	int src;
};

static int
rd_z(void *arg, const void *m, size_t ml, double score)
{
	struct rd *r = arg;
	return zels_add(r->L, m, ml, weighted(r->s, score), r->src);
}

static int
rd_set(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	struct rd *r = arg;
	return zels_add(r->L, k, kl, weighted(r->s, 1), r->src);
}

/* Every element of input s into L (weighted, tagged src). */
static int
read_all(struct kv *kv, const struct zsrc *s, int src, struct zels *L)
{
	struct rd r = {L, s, src};
	if (s->t == KV_T_ZSET)
		return kv_zrange(kv, s->k, s->kl, 0, UINT64_MAX, 0, rd_z, &r);
	if (s->t == KV_T_SET)
		return kv_smembers(kv, s->k, s->kl, rd_set, &r);
	return 0;
}

/* Member m's score in input s (unweighted): 1 with *score, 0 if absent,
 * < 0 an error. */
static int
lookup(struct kv *kv, const struct zsrc *s, const void *m, size_t ml,
       double *score)
{
	int rc;
	if (s->t == KV_T_ZSET) {
		rc = kv_zscore(kv, s->k, s->kl, m, ml, score);
	} else if (s->t == KV_T_SET) {
		rc = kv_sismember(kv, s->k, s->kl, m, ml);
		*score = 1;
	} else {
		return 0;
	}
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

/* The result of op over the inputs (sorted by size unless a
 * difference) into out, in (score, member) order; an intersection
 * stops at limit members (0: none). */
static int
compute(struct kv *kv, enum zop op, struct zsrc *src, int ns, enum zagg g,
	size_t limit, struct zels *out)
{
	int rc = 0;
	if (op == ZOP_UNION) {
		struct zels all = {0};
		for (int i = 0; i < ns && !rc; i++)
			rc = read_all(kv, &src[i], i, &all);
		if (!rc) {
			if (all.n > 1) /* (qsort's array may not be NULL) */
				qsort(all.e, all.n, sizeof(*all.e), by_member);
			for (size_t i = 0; i < all.n && !rc; i++) {
				struct zel *e = &all.e[i];
				if (out->n && mem_cmp(&out->e[out->n - 1], e) == 0) {
					struct zel *o = &out->e[out->n - 1];
					o->s = aggregate(o->s, e->s, g);
					continue;
				}
				if ((rc = zels_add(out, e->m, e->l, e->s, 0)))
					break;
			}
		}
		zels_free(&all);
	} else {
		/* walk the first (a difference's) or smallest input */
		struct zels base = {0};
		if (src[0].n)
			rc = read_all(kv, &src[0], 0, &base);
		for (size_t j = 0; j < base.n && !rc; j++) {
			struct zel *e = &base.e[j];
			int keep = 1;
			for (int i = 1; i < ns && keep && !rc; i++) {
				double s;
				int r = lookup(kv, &src[i], e->m, e->l, &s);
				if (r < 0)
					rc = r;
				else if (op == ZOP_DIFF)
					keep = !r;
				else if (!r)
					keep = 0;
				else
					e->s = aggregate(e->s, weighted(&src[i], s),
							 g);
			}
			if (rc || !keep)
				continue;
			if ((rc = zels_add(out, e->m, e->l, e->s, 0)))
				break;
			if (limit && out->n >= limit)
				break;
		}
		zels_free(&base);
	}
	if (!rc && out->n > 1)
		qsort(out->e, out->n, sizeof(*out->e), by_score);
	return rc;
}

/* ---- the commands ---- */

static void
zels_get(const void *arg, size_t i, const char **m, size_t *l, double *s)
{
	const struct zels *R = arg;
	*m = R->e[i].m;
	*l = R->e[i].l;
	*s = R->e[i].s;
}

static void
name_lower(const struct resp_cmd *q, char *buf, size_t n)
{
	size_t l = q->argl[0] < n - 1 ? q->argl[0] : n - 1;
	for (size_t i = 0; i < l; i++)
		buf[i] = (char)tolower((unsigned char)q->argv[0][i]);
	buf[l] = 0;
}

/* numkeys at argument i and the keys after it, typed: the count, or -1
 * with the error replied. */
static int
read_keys(struct conn *c, const struct resp_cmd *q, int i, struct zsrc **out)
{
	long long nk;
	if (resp_strtoll(q->argv[i], q->argl[i], &nk)) {
		resp_error(&c->out, "ERR value is not an integer or out of "
			   "range");
		return -1;
	}
	if (nk < 1) {
		char name[32];
		name_lower(q, name, sizeof(name));
		resp_error(&c->out, "ERR at least 1 input key is needed for "
			   "'%s' command", name);
		return -1;
	}
	if (nk > q->argc - i - 1) {
		resp_error(&c->out, "ERR syntax error");
		return -1;
	}
	struct zsrc *s = calloc((size_t)nk, sizeof(*s));
	if (!s) {
		resp_error(&c->out, "ERR out of memory");
		return -1;
	}
	for (int j = 0; j < (int)nk; j++) {
		struct zsrc *z = &s[j];
		*z = (struct zsrc){q->argv[i + 1 + j], q->argl[i + 1 + j], 0,
				   0, 1, j};
		int rc = kv_key_type(c->s->kv, z->k, z->kl, &z->t, NULL);
		if (rc == -ENOENT) {
			z->t = 0;
			continue;
		}
		if (!rc && z->t != KV_T_ZSET && z->t != KV_T_SET)
			rc = kv_wrongtype();
		if (!rc)
			rc = z->t == KV_T_ZSET
				     ? kv_zcard(c->s->kv, z->k, z->kl, &z->n)
				     : kv_scard(c->s->kv, z->k, z->kl, &z->n);
		if (rc) {
			kv_error(&c->out, rc);
			free(s);
			return -1;
		}
	}
	*out = s;
	return (int)nk;
}

/* ZUNION/ZINTER/ZDIFF numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE
 * SUM|MIN|MAX] [WITHSCORES]; the *STORE forms destination numkeys key
 * [key ...] [WEIGHTS ...] [AGGREGATE ...] (no WEIGHTS or AGGREGATE for a
 * difference, no WITHSCORES for a store) */
void
c_zsetop(struct conn *c, const struct resp_cmd *q)
{
	enum zop op = resp_argeq(q, 0, "ZUNION") ||
				      resp_argeq(q, 0, "ZUNIONSTORE")
			      ? ZOP_UNION
		      : resp_argeq(q, 0, "ZINTER") ||
				      resp_argeq(q, 0, "ZINTERSTORE")
			      ? ZOP_INTER
			      : ZOP_DIFF;
	int st = q->argl[0] > 6; /* the *STORE forms */
	struct zsrc *src;
	int ns = read_keys(c, q, 1 + st, &src);
	if (ns < 0)
		return;
	enum zagg g = AGG_SUM;
	int ws = 0;
	for (int j = 2 + st + ns; j < q->argc;) {
		int left = q->argc - j;
		if (op != ZOP_DIFF && left > ns && argis(q, j, "WEIGHTS")) {
			for (int i = 0; i < ns; i++)
				if (zparse_score(q->argv[j + 1 + i],
						 q->argl[j + 1 + i], &src[i].w)) {
					resp_error(&c->out, "ERR weight value "
						   "is not a float");
					free(src);
					return;
				}
			j += 1 + ns;
		} else if (op != ZOP_DIFF && left >= 2 &&
			   argis(q, j, "AGGREGATE")) {
			if (argis(q, j + 1, "SUM")) {
				g = AGG_SUM;
			} else if (argis(q, j + 1, "MIN")) {
				g = AGG_MIN;
			} else if (argis(q, j + 1, "MAX")) {
				g = AGG_MAX;
			} else {
				resp_error(&c->out, "ERR syntax error");
				free(src);
				return;
			}
			j += 2;
		} else if (!st && argis(q, j, "WITHSCORES")) {
			ws = 1;
			j++;
		} else {
			resp_error(&c->out, "ERR syntax error");
			free(src);
			return;
		}
	}
	if (op != ZOP_DIFF)
		qsort(src, (size_t)ns, sizeof(*src), by_size);
	struct zels R = {0};
	int rc = compute(c->s->kv, op, src, ns, g, 0, &R);
	free(src);
	if (rc) {
		zels_free(&R);
		coll_read_error(c, rc);
		return;
	}
	if (!st) {
		resp_array(&c->out, (long long)(R.n * (ws ? 2 : 1)));
		char b[64];
		for (size_t i = 0; i < R.n; i++) {
			resp_bulk(&c->out, R.e[i].m, R.e[i].l);
			if (ws)
				resp_bulk(&c->out, b, (size_t)format_score(
						   R.e[i].s, b, sizeof(b)));
		}
		zels_free(&R);
		return;
	}
	if (!zstore(c, q->argv[1], q->argl[1], R.n, zels_get, &R))
		resp_int(&c->out, (long long)R.n);
	zels_free(&R);
}

/* ZINTERCARD numkeys key [key ...] [LIMIT limit] */
void
c_zintercard(struct conn *c, const struct resp_cmd *q)
{
	struct zsrc *src;
	int ns = read_keys(c, q, 1, &src);
	if (ns < 0)
		return;
	long long limit = 0;
	for (int j = 2 + ns; j < q->argc; j += 2) {
		if (q->argc - j < 2 || !argis(q, j, "LIMIT")) {
			resp_error(&c->out, "ERR syntax error");
			free(src);
			return;
		}
		if (resp_strtoll(q->argv[j + 1], q->argl[j + 1], &limit) ||
		    limit < 0) {
			resp_error(&c->out, "ERR LIMIT can't be negative");
			free(src);
			return;
		}
	}
	qsort(src, (size_t)ns, sizeof(*src), by_size);
	struct zels R = {0};
	int rc = compute(c->s->kv, ZOP_INTER, src, ns, AGG_SUM, (size_t)limit,
			 &R);
	free(src);
	if (rc)
		coll_read_error(c, rc);
	else
		resp_int(&c->out, (long long)R.n);
	zels_free(&R);
}
