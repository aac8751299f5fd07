/*
 * cmd_zset.c -- nvkv-server's sorted set commands: ZADD (NX, XX, GT, LT,
 * CH, INCR), ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT,
 * ZRANK, ZREVRANK, ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES),
 * ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX,
 * ZREVRANGE, ZPOPMIN, ZPOPMAX, ZREMRANGEBYRANK, ZREMRANGEBYSCORE,
 * ZREMRANGEBYLEX, ZRANGESTORE, ZMPOP, ZRANDMEMBER and ZSCAN, with redis
 * 7.0's replies and errors (tests/server/diff/zset.txt and zsetop.txt
 * compare them with redis-server:
 * the order is (score, member) in both, so replies match byte for
 * byte).  Scores are printed as redis prints them ("%.17g", "inf",
 * "-inf").  Each command is one transaction.  The structure is zset.c's.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* ---- arguments ---- */

/* p as a C string (arguments may hold NUL bytes: redis reads them as C
 * strings, so does this); NULL if out of DRAM.  Free it. */
static char *
cstr(const char *p, size_t l)
{
	char *s = malloc(l + 1);
	if (s) {
		memcpy(s, p, l);
		s[l] = 0;
	}
	return s;
}

/* A score argument as redis's getDoubleFromObject reads it: 0, or -1 */
static int
parse_score(const char *p, size_t l, double *out)
{
	char *s = cstr(p, l), *e;
	if (!s)
		return -1;
	errno = 0;
	double v = strtod(s, &e);
	int bad = l == 0 || (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')) ||
		  (size_t)(e - s) != l ||
		  (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL ||
				       fpclassify(v) == FP_ZERO)) ||
		  isnan(v);
	free(s);
	*out = v;
	return bad ? -1 : 0;
}

int
zparse_score(const char *p, size_t l, double *out)
{
	return parse_score(p, l, out);
}

/* One end of a score range, "(" for exclusive (redis's zslParseRange:
 * the rest read by strtod as a C string) */
static int
parse_end(const char *p, size_t l, double *v, int *ex)
{
	char *s = cstr(p, l), *e;
	if (!s)
		return -1;
	*ex = s[0] == '(';
	*v = strtod(s + *ex, &e);
	int bad = *e != 0 || isnan(*v);
	free(s);
	return bad ? -1 : 0;
}

static int
parse_range(const struct resp_cmd *q, int imin, int imax,
	    struct kv_zrange *r)
{
	return parse_end(q->argv[imin], q->argl[imin], &r->min, &r->minex) ||
	       parse_end(q->argv[imax], q->argl[imax], &r->max, &r->maxex)
	       ? -1 : 0;
}

/* One end of a member range: "-", "+", "(m" or "[m" */
static int
parse_lex_end(const char *p, size_t l, const void **m, size_t *ml, int *ex,
	      int *inf)
{
	size_t n = strnlen(p, l); /* (read as a C string) */
	*inf = 0;
	*ex = 0;
	if (n == 1 && (p[0] == '-' || p[0] == '+')) {
		*inf = p[0] == '-' ? -1 : 1;
		return 0;
	}
	if (n == 0 || (p[0] != '(' && p[0] != '['))
		return -1;
	*ex = p[0] == '(';
	*m = p + 1;
	*ml = n - 1;
	return 0;
}

static int
parse_lex(const struct resp_cmd *q, int imin, int imax, struct kv_zlex *r)
{
	return parse_lex_end(q->argv[imin], q->argl[imin], &r->min, &r->minl,
			     &r->minex, &r->min_inf) ||
	       parse_lex_end(q->argv[imax], q->argl[imax], &r->max, &r->maxl,
			     &r->maxex, &r->max_inf) ? -1 : 0;
}

static int
parse_long(struct conn *c, const struct resp_cmd *q, int i, long long *v)
{
	if (resp_strtoll(q->argv[i], q->argl[i], v)) {
		resp_error(&c->out, "ERR value is not an integer or out of "
			   "range");
		return -1;
	}
	return 0;
}

/* ---- replies ---- */

int
format_score(double d, char *buf, size_t n)
{
	if (isinf(d))
		return snprintf(buf, n, "%s", d > 0 ? "inf" : "-inf");
	return snprintf(buf, n, "%.17g", d);
}

static void
reply_score(struct resp_buf *o, double d)
{
	char b[64];
	int n = format_score(d, b, sizeof(b));
	resp_bulk(o, b, (size_t)n);
}

/* Members (and scores) collected for a reply, counted */
struct zcollect {
	struct resp_buf out;
	long long n;
	int scores;
};

static int
zcollect(void *arg, const void *m, size_t ml, double s)
{
	struct zcollect *z = arg;
	resp_bulk(&z->out, m, ml);
	z->n++;
	if (z->scores) {
		reply_score(&z->out, s);
		z->n++;
	}
	return z->out.oom ? -ENOMEM : 0;
}

static void
zcollect_end(struct conn *c, struct zcollect *z, int rc)
{
	if (rc && rc != -ENOMEM) {
		resp_buf_free(&z->out);
		kv_error(&c->out, rc);
		return;
	}
	reply_collected(c, &z->out, z->n);
}

/* ---- ZADD, ZINCRBY ---- */

enum { Z_NX = 1, Z_XX = 2, Z_GT = 4, Z_LT = 8, Z_CH = 16, Z_INCR = 32 };

/* Add or update one member under the flags: *out the new score, *what
 * 1 added, 2 updated, 0 nothing (a condition said no), 3 unchanged but
 * processed.  0, or the kv error; -EDOM for a NaN result. */
static int
zadd_one(struct conn *c, const char *k, size_t kl, const char *m,
	 size_t ml, double s, int f, double *out, int *what)
{
	double cur;
	int rc = kv_zscore(c->s->kv, k, kl, m, ml, &cur);
	*what = 0;
	if (rc && rc != -ENOENT)
		return rc;
	if (rc == -ENOENT) {
		if (f & Z_XX)
			return 0;
		*out = s;
		int added;
		rc = kv_zput(c->s->kv, k, kl, m, ml, s, &added);
		*what = rc ? 0 : 1;
		return rc;
	}
	if (f & Z_NX)
		return 0;
	if (f & Z_INCR) {
		s += cur;
		if (isnan(s))
			return -EDOM;
	}
	if (((f & Z_LT) && s >= cur) || ((f & Z_GT) && s <= cur))
		return 0;
	*out = s;
	*what = s != cur ? 2 : 3;
	return s != cur ? kv_zput(c->s->kv, k, kl, m, ml, s, NULL) : 0;
}

static void
zadd_generic(struct conn *c, const struct resp_cmd *q, int f, int first)
{
	int nel = q->argc - first;
	if (nel <= 0 || nel % 2) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	if ((f & Z_NX) && (f & Z_XX)) {
		resp_error(&c->out, "ERR XX and NX options at the same time "
			   "are not compatible");
		return;
	}
	if (((f & Z_GT) && (f & Z_NX)) || ((f & Z_LT) && (f & Z_NX)) ||
	    ((f & Z_GT) && (f & Z_LT))) {
		resp_error(&c->out, "ERR GT, LT, and/or NX options at the same "
			   "time are not compatible");
		return;
	}
	if ((f & Z_INCR) && nel > 2) {
		resp_error(&c->out, "ERR INCR option supports a single "
			   "increment-element pair");
		return;
	}
	double *sc = malloc(sizeof(double) * (size_t)(nel / 2));
	if (!sc) {
		resp_error(&c->out, "ERR out of memory");
		return;
	}
	for (int i = 0; i < nel / 2; i++)
		if (parse_score(q->argv[first + 2 * i],
				q->argl[first + 2 * i], &sc[i])) {
			free(sc);
			resp_error(&c->out, "ERR value is not a valid float");
			return;
		}
	if (key_kind(c, q->argv[1], q->argl[1], KV_T_ZSET) < 0) {
		free(sc);
		return;
	}
	nvh_tx *tx = cmd_tx(c);
	if (!tx) {
		free(sc);
		return;
	}
	long long added = 0, updated = 0, processed = 0;
	double last = 0;
	int rc = 0;
	for (int i = 0; i < nel / 2 && !rc; i++) {
		int what;
		int j = first + 2 * i + 1;
		rc = zadd_one(c, q->argv[1], q->argl[1], q->argv[j],
			      q->argl[j], sc[i], f, &last, &what);
		added += what == 1;
		updated += what == 2;
		processed += what != 0;
	}
	free(sc);
	if (rc == -EDOM) {
		nvh_tx_abort(tx);
		resp_error(&c->out, "ERR resulting score is not a number "
			   "(NaN)");
		return;
	}
	if (cmd_tx_end(c, tx, rc))
		return;
	if (added + updated)
		touched(c->s, q->argv[1], q->argl[1]);
	if (f & Z_INCR) {
		if (processed)
			reply_score(&c->out, last);
		else
			resp_null(&c->out);
	} else {
		resp_int(&c->out, (f & Z_CH) ? added + updated : added);
	}
}

/* ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...] */
void
c_zadd(struct conn *c, const struct resp_cmd *q)
{
	int f = 0, i = 2;
	for (; i < q->argc; i++) {
		int b = argis(q, i, "NX") ? Z_NX : argis(q, i, "XX") ? Z_XX
			: argis(q, i, "GT") ? Z_GT : argis(q, i, "LT") ? Z_LT
			: argis(q, i, "CH") ? Z_CH
			: argis(q, i, "INCR") ? Z_INCR : 0;
		if (!b)
			break;
		f |= b;
	}
	zadd_generic(c, q, f, i);
}

/* ZINCRBY key increment member: ZADD key INCR increment member */
void
c_zincrby(struct conn *c, const struct resp_cmd *q)
{
	zadd_generic(c, q, Z_INCR, 2);
}

/* ---- one member ---- */

static int
zrem_one(struct kv *kv, const void *k, size_t kl, const void *m, size_t ml)
{
	int rc = kv_zrem(kv, k, kl, m, ml);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

void
c_zrem(struct conn *c, const struct resp_cmd *q)
{
	count_writes(c, q, zrem_one);
}

/* The score of argument i's member as a reply (nil if none): 0, or the
 * error (not replied) */
static int
zscore_one(struct conn *c, const struct resp_cmd *q, int i)
{
	double s;
	int rc = kv_zscore(c->s->kv, q->argv[1], q->argl[1], q->argv[i],
			   q->argl[i], &s);
	if (rc == 0)
		reply_score(&c->out, s);
	else if (rc == -ENOENT)
		resp_null(&c->out);
	return rc == -ENOENT ? 0 : rc;
}

void
c_zscore(struct conn *c, const struct resp_cmd *q)
{
	int rc = zscore_one(c, q, 2);
	if (rc)
		kv_error(&c->out, rc);
}

void
c_zmscore(struct conn *c, const struct resp_cmd *q)
{
	if (key_kind(c, q->argv[1], q->argl[1], KV_T_ZSET) < 0)
		return;
	resp_array(&c->out, q->argc - 2);
	for (int i = 2; i < q->argc; i++) {
		int rc = zscore_one(c, q, i);
		if (rc)
			kv_error(&c->out, rc); /* a damaged member: in place */
	}
}

void
c_zcard(struct conn *c, const struct resp_cmd *q)
{
	uint64_t n;
	int rc = kv_zcard(c->s->kv, q->argv[1], q->argl[1], &n);
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, (long long)n);
}

/* ZRANK, ZREVRANK key member: the rank, nil if none */
void
c_zrank(struct conn *c, const struct resp_cmd *q)
{
	uint64_t r, n;
	int rc = kv_zrank(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			  q->argl[2], &r);
	if (rc == 0 && argis(q, 0, "ZREVRANK")) {
		rc = kv_zcard(c->s->kv, q->argv[1], q->argl[1], &n);
		r = n - 1 - r;
	}
	if (rc == -ENOENT)
		resp_null(&c->out);
	else if (rc)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, (long long)r);
}

/* ZCOUNT key min max, ZLEXCOUNT key min max */
void
c_zcount(struct conn *c, const struct resp_cmd *q)
{
	uint64_t n;
	int rc;
	if (argis(q, 0, "ZLEXCOUNT")) {
		struct kv_zlex r;
		if (parse_lex(q, 2, 3, &r)) {
			resp_error(&c->out, "ERR min or max not valid string "
				   "range item");
			return;
		}
		rc = kv_zlexcount(c->s->kv, q->argv[1], q->argl[1], &r, &n);
	} else {
		struct kv_zrange r;
		if (parse_range(q, 2, 3, &r)) {
			resp_error(&c->out, "ERR min or max is not a float");
			return;
		}
		rc = kv_zcount(c->s->kv, q->argv[1], q->argl[1], &r, &n);
	}
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, (long long)n);
}

/* ---- ranges ---- */

enum rtype { R_RANK, R_SCORE, R_LEX };

/* A parsed range request (ZRANGE's and its older forms') */
struct zreq {
	enum rtype type;
	int rev, withscores;
	int store;               /* ZRANGESTORE: no WITHSCORES */
	long long offset, limit; /* limit -1: all */
	long long start, stop;   /* R_RANK */
	struct kv_zrange sr;
	struct kv_zlex lr;
};

/* Parse the range arguments at imin, imax (swapped for a reversed
 * score or member range) and the options from `opts`; 0, or -1 with the
 * error replied.  Redis's order of checks. */
static int
zreq_parse(struct conn *c, const struct resp_cmd *q, struct zreq *z,
	   int opts, int flags_ok)
{
	for (int j = opts; j < q->argc; j++) {
		int left = q->argc - j - 1;
		if (!z->store && argis(q, j, "WITHSCORES")) {
			z->withscores = 1;
		} else if (argis(q, j, "LIMIT") && left >= 2) {
			if (parse_long(c, q, j + 1, &z->offset) ||
			    parse_long(c, q, j + 2, &z->limit))
				return -1;
			j += 2;
		} else if (flags_ok && argis(q, j, "REV")) {
			z->rev = 1;
		} else if (flags_ok && argis(q, j, "BYLEX")) {
			z->type = R_LEX;
		} else if (flags_ok && argis(q, j, "BYSCORE")) {
			z->type = R_SCORE;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return -1;
		}
	}
	if (z->limit != -1 && z->type == R_RANK) {
		resp_error(&c->out, "ERR syntax error, LIMIT is only supported "
			   "in combination with either BYSCORE or BYLEX");
		return -1;
	}
	if (z->withscores && z->type == R_LEX) {
		resp_error(&c->out, "ERR syntax error, WITHSCORES not supported "
			   "in combination with BYLEX");
		return -1;
	}
	int imin = 2, imax = 3;
	if (z->rev && z->type != R_RANK) {
		imin = 3;
		imax = 2;
	}
	if (z->type == R_RANK)
		return parse_long(c, q, imin, &z->start) ||
		       parse_long(c, q, imax, &z->stop) ? -1 : 0;
	if (z->type == R_SCORE && parse_range(q, imin, imax, &z->sr)) {
		resp_error(&c->out, "ERR min or max is not a float");
		return -1;
	}
	if (z->type == R_LEX && parse_lex(q, imin, imax, &z->lr)) {
		resp_error(&c->out, "ERR min or max not valid string range "
			   "item");
		return -1;
	}
	return 0;
}

/* Normalise a rank range on a set of n: 0 and [*a, *b], or -1: empty */
static int
rank_range(long long start, long long stop, uint64_t n, uint64_t *a,
	   uint64_t *b)
{
	long long len = (long long)n;
	if (start < 0)
		start += len;
	if (stop < 0)
		stop += len;
	if (start < 0)
		start = 0;
	if (start > stop || start >= len)
		return -1;
	if (stop >= len)
		stop = len - 1;
	*a = (uint64_t)start;
	*b = (uint64_t)stop;
	return 0;
}

/* Run request z on key k: fn for each member in order */
static int
zreq_run(struct conn *c, const char *k, size_t kl, const struct zreq *z,
	 kv_zfn fn, void *arg)
{
	struct kv *kv = c->s->kv;
	if (z->type == R_RANK) {
		uint64_t n, a, b;
		int rc = kv_zcard(kv, k, kl, &n);
		if (rc || rank_range(z->start, z->stop, n, &a, &b))
			return rc;
		return kv_zrange(kv, k, kl, a, b, z->rev, fn, arg);
	}
	if (z->offset < 0 || z->limit == 0)
		return 0;
	uint64_t cnt = z->limit < 0 ? UINT64_MAX : (uint64_t)z->limit;
	if (z->type == R_SCORE)
		return kv_zrange_score(kv, k, kl, &z->sr, z->rev,
				       (uint64_t)z->offset, cnt, fn, arg);
	return kv_zrange_lex(kv, k, kl, &z->lr, z->rev, (uint64_t)z->offset,
			     cnt, fn, arg);
}

static void
zrange_reply(struct conn *c, const struct resp_cmd *q, struct zreq *z,
	     int opts, int flags_ok)
{
	if (zreq_parse(c, q, z, opts, flags_ok))
		return;
	if (key_kind(c, q->argv[1], q->argl[1], KV_T_ZSET) < 0)
		return;
	struct zcollect zc = {.scores = z->withscores};
	int rc = zreq_run(c, q->argv[1], q->argl[1], z, zcollect, &zc);
	zcollect_end(c, &zc, rc);
}

/* ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count]
 * [WITHSCORES]; ZREVRANGE key start stop [WITHSCORES] */
void
c_zrange(struct conn *c, const struct resp_cmd *q)
{
	struct zreq z = {.limit = -1, .rev = argis(q, 0, "ZREVRANGE")};
	zrange_reply(c, q, &z, 4, !z.rev);
}

/* ZRANGEBYSCORE key min max, ZREVRANGEBYSCORE key max min
 * [WITHSCORES] [LIMIT offset count]; ZRANGEBYLEX, ZREVRANGEBYLEX */
void
c_zrangeby(struct conn *c, const struct resp_cmd *q)
{
	struct zreq z = {.limit = -1,
			 .rev = argis(q, 0, "ZREVRANGEBYSCORE") ||
				argis(q, 0, "ZREVRANGEBYLEX"),
			 .type = argis(q, 0, "ZRANGEBYLEX") ||
				 argis(q, 0, "ZREVRANGEBYLEX") ? R_LEX
				 : R_SCORE};
	zrange_reply(c, q, &z, 4, 0);
}

/* ---- removals ---- */

/* members copied to DRAM (a removal frees the entries it read) */
struct zlist {
	char **m;
	size_t *l;
	double *s;
	size_t n, cap;
};

static int
zlist_add(void *arg, const void *m, size_t ml, double s)
{
	struct zlist *L = arg;
	if (L->n == L->cap) {
		size_t cap = L->cap ? 2 * L->cap : 64;
		char **a = realloc(L->m, cap * sizeof(*a));
		if (a)
			L->m = a;
		size_t *b = realloc(L->l, cap * sizeof(*b));
		if (b)
			L->l = b;
		double *d = realloc(L->s, cap * sizeof(*d));
		if (d)
			L->s = d;
		if (!a || !b || !d)
			return -ENOMEM;
		L->cap = cap;
	}
	char *e = malloc(ml ? ml : 1);
	if (!e)
		return -ENOMEM;
	memcpy(e, m, ml);
	L->m[L->n] = e;
	L->l[L->n] = ml;
	L->s[L->n++] = s;
	return 0;
}

static void
zlist_free(struct zlist *L)
{
	for (size_t i = 0; i < L->n; i++)
		free(L->m[i]);
	free(L->m);
	free(L->l);
	free(L->s);
}

/* Remove L's members from key k in one transaction: 0, or -1 with the
 * error replied */
static int
zremove_all(struct conn *c, const char *k, size_t kl, const struct zlist *L)
{
	if (!L->n)
		return 0;
	nvh_tx *tx = cmd_tx(c);
	if (!tx)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < L->n && !rc; i++)
		rc = kv_zrem(c->s->kv, k, kl, L->m[i], L->l[i]);
	if (cmd_tx_end(c, tx, rc))
		return -1;
	touched(c->s, k, kl);
	return 0;
}

static void
read_error(struct conn *c, int rc)
{
	if (rc == -ENOMEM)
		resp_error(&c->out, "ERR out of memory");
	else
		kv_error(&c->out, rc);
}

int
zstore(struct conn *c, const char *d, size_t dl, size_t n, zget_fn get,
       const void *arg)
{
	nvh_tx *tx;
	int existed, rc = store_begin(c, d, dl, &tx, &existed);
	if (rc < 0 && !tx)
		return -1;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *m;
		size_t ml;
		double sc;
		int added;
		get(arg, i, &m, &ml, &sc);
		rc = kv_zput(c->s->kv, d, dl, m, ml, sc, &added);
	}
	return store_end(c, tx, rc, d, dl, existed || n);
}

static void
zlist_get(const void *arg, size_t i, const char **m, size_t *l, double *s)
{
	const struct zlist *L = arg;
	*m = L->m[i];
	*l = L->l[i];
	*s = L->s[i];
}

/* ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset
 * count]: ZRANGE's members of src (with their scores) stored in dst,
 * which they replace (none: dst is deleted); how many */
void
c_zrangestore(struct conn *c, const struct resp_cmd *q)
{
	struct resp_cmd v = *q; /* src at 1, as ZRANGE's key */
	v.argv++;
	v.argl++;
	v.argc--;
	struct zreq z = {.limit = -1, .store = 1};
	if (zreq_parse(c, &v, &z, 4, 1) ||
	    key_kind(c, q->argv[2], q->argl[2], KV_T_ZSET) < 0)
		return;
	struct zlist L = {0};
	int rc = zreq_run(c, q->argv[2], q->argl[2], &z, zlist_add, &L);
	if (rc)
		read_error(c, rc);
	else if (!zstore(c, q->argv[1], q->argl[1], L.n, zlist_get, &L))
		resp_int(&c->out, (long long)L.n);
	zlist_free(&L);
}

/* ZREMRANGEBYRANK key start stop, ZREMRANGEBYSCORE key min max,
 * ZREMRANGEBYLEX key min max: how many were removed */
void
c_zremrange(struct conn *c, const struct resp_cmd *q)
{
	struct zreq z = {.limit = -1,
			 .type = argis(q, 0, "ZREMRANGEBYRANK") ? R_RANK
				 : argis(q, 0, "ZREMRANGEBYSCORE") ? R_SCORE
				 : R_LEX};
	if (zreq_parse(c, q, &z, 4, 0))
		return;
	if (key_kind(c, q->argv[1], q->argl[1], KV_T_ZSET) < 0)
		return;
	struct zlist L = {0};
	int rc = zreq_run(c, q->argv[1], q->argl[1], &z, zlist_add, &L);
	if (rc)
		read_error(c, rc);
	else if (!zremove_all(c, q->argv[1], q->argl[1], &L))
		resp_int(&c->out, (long long)L.n);
	zlist_free(&L);
}

/* ZPOPMIN, ZPOPMAX key [count]: members and scores */
void
c_zpop(struct conn *c, const struct resp_cmd *q)
{
	long long count = 1;
	if (q->argc > 3) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	if (q->argc == 3 && (resp_strtoll(q->argv[2], q->argl[2], &count) ||
			     count < 0)) {
		resp_error(&c->out, "ERR value is out of range, must be "
			   "positive");
		return;
	}
	int kind = key_kind(c, q->argv[1], q->argl[1], KV_T_ZSET);
	if (kind < 0)
		return;
	struct zlist L = {0};
	int rc = kind && count ? kv_zrange(c->s->kv, q->argv[1], q->argl[1],
					   0, (uint64_t)count - 1,
					   argis(q, 0, "ZPOPMAX"), zlist_add, &L)
			       : 0;
	if (rc)
		read_error(c, rc);
	else if (!zremove_all(c, q->argv[1], q->argl[1], &L)) {
		resp_array(&c->out, 2 * (long long)L.n);
		for (size_t i = 0; i < L.n; i++) {
			resp_bulk(&c->out, L.m[i], L.l[i]);
			reply_score(&c->out, L.s[i]);
		}
	}
	zlist_free(&L);
}

/* ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: up to count
 * members (each with its score, a pair) from the first of the keys that
 * holds a sorted set, with its name; a nil array if none does */
void
c_zmpop(struct conn *c, const struct resp_cmd *q)
{
	int min;
	long long count;
	int nk = mpop_args(c, q, "MIN", "MAX", &min, &count);
	if (nk < 0)
		return;
	for (int i = 2; i < 2 + nk; i++) {
		int kind = key_kind(c, q->argv[i], q->argl[i], KV_T_ZSET);
		if (kind < 0)
			return;
		if (!kind)
			continue;
		struct zlist L = {0};
		int rc = kv_zrange(c->s->kv, q->argv[i], q->argl[i], 0,
				   (uint64_t)count - 1, !min, zlist_add, &L);
		if (rc) {
			read_error(c, rc);
		} else if (!zremove_all(c, q->argv[i], q->argl[i], &L)) {
			resp_array(&c->out, 2);
			resp_bulk(&c->out, q->argv[i], q->argl[i]);
			resp_array(&c->out, (long long)L.n);
			for (size_t j = 0; j < L.n; j++) {
				resp_array(&c->out, 2);
				resp_bulk(&c->out, L.m[j], L.l[j]);
				reply_score(&c->out, L.s[j]);
			}
		}
		zlist_free(&L);
		return;
	}
	resp_array(&c->out, -1);
}

/* ---- ZRANDMEMBER ---- */

static int
one_at(struct conn *c, const struct resp_cmd *q, uint64_t r,
       struct zcollect *zc)
{
	return kv_zrange(c->s->kv, q->argv[1], q->argl[1], r, r, 0, zcollect,
			 zc);
}

/* ZRANDMEMBER key [count [WITHSCORES]]: a count >= 0 gives distinct
 * members (all if it is larger, in order), a negative one -count that
 * may repeat; each pick is a rank: O(log n) */
void
c_zrandmember(struct conn *c, const struct resp_cmd *q)
{
	long long count;
	int has_count, ws;
	if (parse_rand_args(c, q, "WITHSCORES", &count, &has_count, &ws))
		return;
	int kind = key_kind(c, q->argv[1], q->argl[1], KV_T_ZSET);
	if (kind < 0)
		return;
	uint64_t n = 0;
	int rc = kind ? kv_zcard(c->s->kv, q->argv[1], q->argl[1], &n) : 0;
	struct zcollect zc = {.scores = ws};
	if (!has_count) {
		if (rc || !n) {
			if (rc)
				kv_error(&c->out, rc);
			else
				resp_null(&c->out);
			return;
		}
		rc = one_at(c, q, rnd64() % n, &zc);
		if (!rc && zc.n == 1)
			resp_append(&c->out, &zc.out);
		else
			kv_error(&c->out, rc ? rc : -EIO);
		resp_buf_free(&zc.out);
		return;
	}
	if (!rc && n && count < 0) {
		for (long long i = 0; i < -count && !rc; i++)
			rc = one_at(c, q, rnd64() % n, &zc);
	} else if (!rc && n && (uint64_t)count >= n) {
		rc = kv_zrange(c->s->kv, q->argv[1], q->argl[1], 0, n - 1, 0,
			       zcollect, &zc);
	} else if (!rc && n && count > 0) {
		/* distinct ranks: Floyd's sampling, marks in a bitmap */
		unsigned char *hit = calloc((n + 7) / 8, 1);
		if (!hit)
			rc = -ENOMEM;
		for (uint64_t j = n - (uint64_t)count; !rc && j < n; j++) {
			uint64_t t = rnd64() % (j + 1);
			if (hit[t / 8] & (1u << (t % 8)))
				t = j;
			hit[t / 8] |= (unsigned char)(1u << (t % 8));
			rc = one_at(c, q, t, &zc);
		}
		free(hit);
	}
	zcollect_end(c, &zc, rc);
}

/* ---- ZSCAN ---- */

int
zscan_score(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct hcollect *h = arg;
	double s = 0;
	if (vl == sizeof(s))
		memcpy(&s, v, sizeof(s));
	char b[64];
	int n = format_score(s, b, sizeof(b));
	return hcollect(arg, k, kl, b, (size_t)n) ? -ENOMEM
	       : h->out.oom ? -ENOMEM : 0;
}
