/*
 * cmd_hash.c -- nvkv-server's hash commands: HSET/HMSET, HSETNX, HGET,
 * HMGET, HDEL, HLEN, HEXISTS, HSTRLEN, HGETALL/HKEYS/HVALS, HINCRBY,
 * HINCRBYFLOAT, HSCAN and HRANDFIELD, with redis 7.0's replies and
 * errors (tests/server/diff/hash*.txt compares them with redis-server).
 * Each command is one transaction, however many fields it writes; each
 * write marks its key changed for WATCH.  The structure is coll.c's.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* HSET key field value [field value ...] (new fields), HMSET (OK) */
void
c_hset(struct conn *c, const struct resp_cmd *q)
{
	int hm = argis(q, 0, "HMSET");
	if (q->argc % 2) {
		wrong_args(&c->out, hm ? "hmset" : "hset");
		return;
	}
	nvh_tx *tx = cmd_tx(c);
	if (!tx)
		return;
	long long n = 0;
	int rc = 0;
	for (int i = 2; i < q->argc && !rc; i += 2) {
		int added = 0;
		rc = kv_hset(c->s->kv, q->argv[1], q->argl[1], q->argv[i],
			     q->argl[i], q->argv[i + 1], q->argl[i + 1], 0,
			     &added);
		n += added;
	}
	if (cmd_tx_end(c, tx, rc))
		return;
	touched(c->s, q->argv[1], q->argl[1]);
	if (hm)
		resp_simple(&c->out, "OK");
	else
		resp_int(&c->out, n);
}

void
c_hsetnx(struct conn *c, const struct resp_cmd *q)
{
	int rc = kv_hset(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			 q->argl[2], q->argv[3], q->argl[3], 1, NULL);
	if (rc && rc != -EEXIST) {
		kv_error(&c->out, rc);
		return;
	}
	if (!rc)
		touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, rc == 0);
}

/* One field's value as a reply: bulk, nil if absent; 0, or the error
 * (not replied) */
static int
hget_one(struct conn *c, const struct resp_cmd *q, int i)
{
	const void *v;
	size_t vl;
	int rc = kv_hget(c->s->kv, q->argv[1], q->argl[1], q->argv[i],
			 q->argl[i], &v, &vl);
	if (rc == 0)
		resp_bulk(&c->out, v, vl);
	else if (rc == -ENOENT)
		resp_null(&c->out);
	return rc == -ENOENT ? 0 : rc;
}

void
c_hget(struct conn *c, const struct resp_cmd *q)
{
	int rc = hget_one(c, q, 2);
	if (rc)
		kv_error(&c->out, rc);
}

void
c_hmget(struct conn *c, const struct resp_cmd *q)
{
	/* the type first: a key of another type is one error, not an
	 * array */
	if (key_kind(c, q->argv[1], q->argl[1], KV_T_HASH) < 0)
		return;
	resp_array(&c->out, q->argc - 2);
	int rc;
	for (int i = 2; i < q->argc; i++)
		if ((rc = hget_one(c, q, i)))
			kv_error(&c->out, rc); /* a damaged field: in place */
}

/* 1 if field f was deleted, 0 if there was none (or no key), < 0 */
static int
hdel_one(struct kv *kv, const void *k, size_t kl, const void *f, size_t fl)
{
	int rc = kv_hdel(kv, k, kl, f, fl);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

void
c_hdel(struct conn *c, const struct resp_cmd *q)
{
	count_writes(c, q, hdel_one);
}

void
c_hlen(struct conn *c, const struct resp_cmd *q)
{
	uint64_t n;
	int rc = kv_hlen(c->s->kv, q->argv[1], q->argl[1], &n);
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, (long long)n);
}

/* HEXISTS (0 or 1), HSTRLEN (the length, 0 if absent) */
void
c_hexists(struct conn *c, const struct resp_cmd *q)
{
	const void *v;
	size_t vl;
	int rc = kv_hget(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			 q->argl[2], &v, &vl);
	if (rc && rc != -ENOENT)
		kv_error(&c->out, rc);
	else if (argis(q, 0, "HSTRLEN"))
		resp_int(&c->out, rc ? 0 : (long long)vl);
	else
		resp_int(&c->out, rc == 0);
}

void
c_hstrlen(struct conn *c, const struct resp_cmd *q)
{
	c_hexists(c, q);
}

/* HGETALL, HKEYS, HVALS */
void
c_hgetall(struct conn *c, const struct resp_cmd *q)
{
	struct hcollect h = {.keys = !argis(q, 0, "HVALS"),
			     .vals = !argis(q, 0, "HKEYS")};
	reply_scan(c, q, kv_hscan, &h);
}

/* The field's value for an increment: 0 and the value (*v NULL if absent), or
 * the error replied. */
static int
hincr_get(struct conn *c, const struct resp_cmd *q, const void **v,
	  size_t *vl)
{
	int rc = kv_hget(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			 q->argl[2], v, vl);
	if (rc == -ENOENT) {
		*v = NULL;
		rc = 0;
	}
	if (rc)
		kv_error(&c->out, rc);
	return rc;
}

/* Store the new value: 0, or -1 with the error replied. */
static int
hincr_set(struct conn *c, const struct resp_cmd *q, const char *buf,
	  size_t l)
{
	int rc = kv_hset(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			 q->argl[2], buf, l, 0, NULL);
	if (rc) {
		kv_error(&c->out, rc);
		return -1;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	return 0;
}

void
c_hincrby(struct conn *c, const struct resp_cmd *q)
{
	long long by, cur = 0;
	if (resp_strtoll(q->argv[3], q->argl[3], &by)) {
		resp_error(&c->out, "ERR value is not an integer or out of "
			   "range");
		return;
	}
	const void *v;
	size_t vl;
	if (hincr_get(c, q, &v, &vl))
		return;
	if (v && resp_strtoll(v, vl, &cur)) {
		resp_error(&c->out, "ERR hash value is not an integer");
		return;
	}
	if ((by > 0 && cur > LLONG_MAX - by) ||
	    (by < 0 && cur < LLONG_MIN - by)) {
		resp_error(&c->out, "ERR increment or decrement would "
			   "overflow");
		return;
	}
	cur += by;
	char buf[32];
	int l = snprintf(buf, sizeof(buf), "%lld", cur);
	if (!hincr_set(c, q, buf, (size_t)l))
		resp_int(&c->out, cur);
}

void
c_hincrbyfloat(struct conn *c, const struct resp_cmd *q)
{
	long double by, cur = 0;
	if (parse_ld(q->argv[3], q->argl[3], &by)) {
		resp_error(&c->out, "ERR value is not a valid float");
		return;
	}
	if (isnan(by) || isinf(by)) {
		resp_error(&c->out, "ERR value is NaN or Infinity");
		return;
	}
	const void *v;
	size_t vl;
	if (hincr_get(c, q, &v, &vl))
		return;
	if (v && parse_ld(v, vl, &cur)) {
		resp_error(&c->out, "ERR hash value is not a float");
		return;
	}
	cur += by;
	char buf[LD_BUF];
	int l = isnan(cur) || isinf(cur) ? -1
		: format_ld(cur, buf, sizeof(buf));
	if (l < 0) {
		resp_error(&c->out, "ERR increment would produce NaN or "
			   "Infinity");
		return;
	}
	if (!hincr_set(c, q, buf, (size_t)l))
		resp_bulk(&c->out, buf, (size_t)l);
}

/* ---- HRANDFIELD ---- */

struct pairs {
	const void **k, **v;
	size_t *kl, *vl;
	size_t n, cap;
};

static int
pairs_add(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct pairs *p = arg;
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		const void **a = realloc(p->k, cap * sizeof(*a));
		if (a)
			p->k = a;
		const void **b = realloc(p->v, cap * sizeof(*b));
		if (b)
			p->v = b;
		size_t *d = realloc(p->kl, cap * sizeof(*d));
		if (d)
			p->kl = d;
		size_t *e = realloc(p->vl, cap * sizeof(*e));
		if (e)
			p->vl = e;
		if (!a || !b || !d || !e)
			return -ENOMEM;
		p->cap = cap;
	}
	p->k[p->n] = k;
	p->kl[p->n] = kl;
	p->v[p->n] = v;
	p->vl[p->n++] = vl;
	return 0;
}

static void
pairs_free(struct pairs *p)
{
	free(p->k);
	free(p->v);
	free(p->kl);
	free(p->vl);
}


/* HRANDFIELD key [count [WITHVALUES]]: a count >= 0 gives distinct
 * fields (all of them if it is larger), a negative one -count fields
 * that may repeat.  Few of them next to the hash are picked by
 * descents, O(log fields) each; more list the hash, O(fields). */
void
c_hrandfield(struct conn *c, const struct resp_cmd *q)
{
	long long count;
	int has_count, wv;
	if (parse_rand_args(c, q, "WITHVALUES", &count, &has_count, &wv))
		return;
	if (rand_by_picks(c, q, kv_hrandom, kv_hlen, count, has_count, wv))
		return;
	struct pairs p = {0};
	int rc = kv_hscan(c->s->kv, q->argv[1], q->argl[1], pairs_add, &p);
	if (rc) {
		pairs_free(&p);
		coll_read_error(c, rc);
		return;
	}
	if (!has_count) {
		if (!p.n) {
			resp_null(&c->out);
		} else {
			size_t i = rnd64() % p.n;
			resp_bulk(&c->out, p.k[i], p.kl[i]);
		}
		pairs_free(&p);
		return;
	}
	size_t want = count < 0 ? (size_t)-count
		      : (size_t)count < p.n ? (size_t)count : p.n;
	if (!p.n)
		want = 0;
	resp_array(&c->out, (long long)(want * (wv ? 2 : 1)));
	if (count >= 0) /* distinct: a partial Fisher-Yates shuffle */
		for (size_t i = 0; i < want; i++) {
			size_t j = i + rnd64() % (p.n - i);
			const void *t = p.k[i];
			p.k[i] = p.k[j];
			p.k[j] = t;
			t = p.v[i];
			p.v[i] = p.v[j];
			p.v[j] = t;
			size_t u = p.kl[i];
			p.kl[i] = p.kl[j];
			p.kl[j] = u;
			u = p.vl[i];
			p.vl[i] = p.vl[j];
			p.vl[j] = u;
		}
	for (size_t i = 0; i < want; i++) {
		size_t j = count >= 0 ? i : rnd64() % p.n;
		resp_bulk(&c->out, p.k[j], p.kl[j]);
		if (wv)
			resp_bulk(&c->out, p.v[j], p.vl[j]);
	}
	pairs_free(&p);
}
