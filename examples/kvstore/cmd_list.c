/*
 * cmd_list.c -- nvkv-server's list commands: LPUSH/RPUSH, LPUSHX/RPUSHX,
 * LPOP/RPOP (with a count), LLEN, LINDEX, LRANGE, LSET, LREM, LTRIM,
 * LINSERT, LPOS, LMOVE and RPOPLPUSH, with redis 7.0's replies and
 * errors (tests/server/diff/list.txt compares them with redis-server).
 * Each command is one transaction, however many elements it writes;
 * each write marks its keys changed for WATCH.  The structure is
 * list.c's.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static int
is_left(const struct resp_cmd *q)
{
	return ((const char *)q->argv[0])[0] == 'L' ||
	       ((const char *)q->argv[0])[0] == 'l';
}

/* An integer argument, or redis's error replied (-1). */
static int
int_arg(struct conn *c, const struct resp_cmd *q, int i, long long *out)
{
	if (resp_strtoll(q->argv[i], q->argl[i], out)) {
		resp_error(&c->out, "ERR value is not an integer or out of "
			   "range");
		return -1;
	}
	return 0;
}

/* LPUSH/RPUSH/LPUSHX/RPUSHX key element [element ...] */
void
c_lpush(struct conn *c, const struct resp_cmd *q)
{
	size_t n = (size_t)q->argc - 2;
	int xx = q->argl[0] == 6; /* LPUSHX, RPUSHX */
	const void **v = malloc(n * sizeof(*v));
	size_t *vl = malloc(n * sizeof(*vl));
	if (!v || !vl) {
		free(v);
		free(vl);
		resp_error(&c->out, "ERR out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = q->argv[i + 2];
		vl[i] = q->argl[i + 2];
	}
	uint64_t len;
	int rc = kv_lpush(c->s->kv, q->argv[1], q->argl[1], v, vl, n,
			  is_left(q), xx, &len);
	free(v);
	free(vl);
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	if (len)
		touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, (long long)len);
}

/* Elements into a buffer, counted: popped ones are copied before the
 * commit frees them. */
struct lcollect {
	struct resp_buf out;
	long long n;
};

static int
lcollect(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct lcollect *l = arg;
	(void)k;
	(void)kl;
	resp_bulk(&l->out, v, vl);
	l->n++;
	return l->out.oom ? -ENOMEM : 0;
}

/* The collected elements, or the error rc (not -ENOENT) */
static void
lcollect_end(struct conn *c, struct lcollect *l, int rc)
{
	if (rc == -ENOMEM)
		l->out.oom = 1;
	if (rc && rc != -ENOMEM) {
		resp_buf_free(&l->out);
		kv_error(&c->out, rc);
		return;
	}
	reply_collected(c, &l->out, l->n);
}

/* LPOP/RPOP key [count] */
void
c_lpop(struct conn *c, const struct resp_cmd *q)
{
	long long count = 1;
	if (q->argc > 3) {
		wrong_args(&c->out, is_left(q) ? "lpop" : "rpop");
		return;
	}
	if (q->argc == 3 && (resp_strtoll(q->argv[2], q->argl[2], &count) ||
			     count < 0)) {
		resp_error(&c->out, "ERR value is out of range, must be "
			   "positive");
		return;
	}
	struct lcollect l = {0};
	int rc = kv_lpop(c->s->kv, q->argv[1], q->argl[1], is_left(q),
			 (uint64_t)count, lcollect, &l);
	if (rc == -ENOENT) {
		resp_buf_free(&l.out);
		if (q->argc == 3)
			resp_array(&c->out, -1);
		else
			resp_null(&c->out);
		return;
	}
	if (!rc && l.n)
		touched(c->s, q->argv[1], q->argl[1]);
	if (q->argc == 3 || rc) {
		lcollect_end(c, &l, rc);
		return;
	}
	resp_append(&c->out, &l.out); /* the one element, as it is */
	resp_buf_free(&l.out);
}

/* LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: up to count
 * elements from the first of the keys that holds a list, with its name;
 * a nil array if none does (a key of another type before it: WRONGTYPE) */
void
c_lmpop(struct conn *c, const struct resp_cmd *q)
{
	int left;
	long long count;
	int nk = mpop_args(c, q, "LEFT", "RIGHT", &left, &count);
	if (nk < 0)
		return;
	for (int i = 2; i < 2 + nk; i++) {
		struct lcollect l = {0};
		int rc = kv_lpop(c->s->kv, q->argv[i], q->argl[i], left,
				 (uint64_t)count, lcollect, &l);
		if (rc == -ENOENT) {
			resp_buf_free(&l.out);
			continue;
		}
		if (!rc && l.out.oom)
			rc = -ENOMEM;
		if (rc) {
			lcollect_end(c, &l, rc);
			return;
		}
		touched(c->s, q->argv[i], q->argl[i]);
		resp_array(&c->out, 2);
		resp_bulk(&c->out, q->argv[i], q->argl[i]);
		lcollect_end(c, &l, 0);
		return;
	}
	resp_array(&c->out, -1);
}

void
c_llen(struct conn *c, const struct resp_cmd *q)
{
	uint64_t n;
	int rc = kv_llen(c->s->kv, q->argv[1], q->argl[1], &n);
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, (long long)n);
}

void
c_lindex(struct conn *c, const struct resp_cmd *q)
{
	long long i;
	if (int_arg(c, q, 2, &i))
		return;
	const void *v;
	size_t vl;
	int rc = kv_lindex(c->s->kv, q->argv[1], q->argl[1], i, &v, &vl);
	if (rc == -ENOENT)
		resp_null(&c->out);
	else if (rc)
		kv_error(&c->out, rc);
	else
		resp_bulk(&c->out, v, vl);
}

void
c_lrange(struct conn *c, const struct resp_cmd *q)
{
	long long start, stop;
	if (int_arg(c, q, 2, &start) || int_arg(c, q, 3, &stop))
		return;
	struct lcollect l = {0};
	int rc = kv_lrange(c->s->kv, q->argv[1], q->argl[1], start, stop,
			   lcollect, &l);
	lcollect_end(c, &l, rc);
}

void
c_lset(struct conn *c, const struct resp_cmd *q)
{
	long long i;
	if (int_arg(c, q, 2, &i))
		return;
	int rc = kv_lset(c->s->kv, q->argv[1], q->argl[1], i, q->argv[3],
			 q->argl[3]);
	if (rc == -ENOENT) {
		resp_error(&c->out, "ERR no such key");
	} else if (rc == -ERANGE) {
		resp_error(&c->out, "ERR index out of range");
	} else if (rc) {
		kv_error(&c->out, rc);
	} else {
		touched(c->s, q->argv[1], q->argl[1]);
		resp_simple(&c->out, "OK");
	}
}

void
c_lrem(struct conn *c, const struct resp_cmd *q)
{
	long long count;
	if (int_arg(c, q, 2, &count))
		return;
	uint64_t n;
	int rc = kv_lrem(c->s->kv, q->argv[1], q->argl[1], count, q->argv[3],
			 q->argl[3], &n);
	if (rc && rc != -ENOENT) {
		kv_error(&c->out, rc);
		return;
	}
	if (n)
		touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, rc ? 0 : (long long)n);
}

void
c_ltrim(struct conn *c, const struct resp_cmd *q)
{
	long long start, stop;
	if (int_arg(c, q, 2, &start) || int_arg(c, q, 3, &stop))
		return;
	int rc = kv_ltrim(c->s->kv, q->argv[1], q->argl[1], start, stop);
	if (rc && rc != -ENOENT) {
		kv_error(&c->out, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	resp_simple(&c->out, "OK");
}

/* LINSERT key BEFORE|AFTER pivot element */
void
c_linsert(struct conn *c, const struct resp_cmd *q)
{
	int after = argis(q, 2, "AFTER");
	if (!after && !argis(q, 2, "BEFORE")) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	int64_t len;
	int rc = kv_linsert(c->s->kv, q->argv[1], q->argl[1], after,
			    q->argv[3], q->argl[3], q->argv[4], q->argl[4],
			    &len);
	if (rc && rc != -ENOENT) {
		kv_error(&c->out, rc);
		return;
	}
	if (!rc && len > 0)
		touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, rc ? 0 : len);
}

/* LPOS's walk: matches of the element, from the end the rank says */
struct lpos_find {
	const void *v;
	size_t vl;
	long long rank, count, maxlen;
	long long seen, matched, len;
	int back;
	struct resp_buf out;
	long long n;
};

static int
lpos_fn(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct lpos_find *f = arg;
	(void)k;
	(void)kl;
	if (f->maxlen && f->seen >= f->maxlen)
		return 1;
	long long i = f->back ? f->len - 1 - f->seen : f->seen;
	f->seen++;
	if (vl != f->vl || memcmp(v, f->v, vl))
		return 0;
	if (++f->matched < f->rank)
		return 0;
	resp_int(&f->out, i);
	f->n++;
	if (f->out.oom)
		return -ENOMEM;
	return f->count && f->n >= f->count;
}

/* LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len] */
void
c_lpos(struct conn *c, const struct resp_cmd *q)
{
	struct lpos_find f = {.v = q->argv[2], .vl = q->argl[2], .rank = 1};
	int has_count = 0;
	for (int i = 3; i < q->argc; i += 2) {
		long long v;
		if (i + 1 >= q->argc) {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
		if (!argis(q, i, "RANK") && !argis(q, i, "COUNT") &&
		    !argis(q, i, "MAXLEN")) {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
		if (int_arg(c, q, i + 1, &v))
			return;
		if (argis(q, i, "RANK")) {
			if (v == 0) {
				resp_error(&c->out, "ERR RANK can't be zero: "
					   "use 1 to start from the first "
					   "match, 2 from the second ... or "
					   "use negative to start from the end "
					   "of the list");
				return;
			}
			f.rank = v;
		} else if (argis(q, i, "COUNT")) {
			if (v < 0) {
				resp_error(&c->out, "ERR COUNT can't be "
					   "negative");
				return;
			}
			f.count = v;
			has_count = 1;
		} else {
			if (v < 0) {
				resp_error(&c->out, "ERR MAXLEN can't be "
					   "negative");
				return;
			}
			f.maxlen = v;
		}
	}
	if (!has_count) /* the first match only */
		f.count = 1;
	f.back = f.rank < 0;
	if (f.back) /* redis 7.0 takes LLONG_MIN as -1 (its -rank
		     * overflows, and every match then ranks) */
		f.rank = f.rank == LLONG_MIN ? 1 : -f.rank;
	uint64_t len;
	int rc = kv_llen(c->s->kv, q->argv[1], q->argl[1], &len);
	f.len = (long long)len;
	if (!rc)
		rc = kv_lwalk(c->s->kv, q->argv[1], q->argl[1], f.back,
			      lpos_fn, &f);
	if (rc < 0 && rc != -ENOMEM) {
		resp_buf_free(&f.out);
		kv_error(&c->out, rc);
		return;
	}
	if (rc == -ENOMEM)
		f.out.oom = 1;
	if (has_count) {
		reply_collected(c, &f.out, f.n);
		return;
	}
	if (f.n)
		resp_append(&c->out, &f.out);
	else
		resp_null(&c->out);
	resp_buf_free(&f.out);
}

/* 1 (left), 0 (right), or -1 with the error replied */
static int
where(struct conn *c, const struct resp_cmd *q, int i)
{
	if (argis(q, i, "LEFT"))
		return 1;
	if (argis(q, i, "RIGHT"))
		return 0;
	resp_error(&c->out, "ERR syntax error");
	return -1;
}

/* LMOVE source destination LEFT|RIGHT LEFT|RIGHT, RPOPLPUSH */
void
c_lmove(struct conn *c, const struct resp_cmd *q)
{
	int from = 0, to = 1; /* RPOPLPUSH */
	if (q->argc == 5 &&
	    ((from = where(c, q, 3)) < 0 || (to = where(c, q, 4)) < 0))
		return;
	struct lcollect l = {0};
	int rc = kv_lmove(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			  q->argl[2], from, to, lcollect, &l);
	if (rc == -ENOENT) {
		resp_buf_free(&l.out);
		resp_null(&c->out);
		return;
	}
	if (rc) {
		lcollect_end(c, &l, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	touched(c->s, q->argv[2], q->argl[2]);
	resp_append(&c->out, &l.out);
	resp_buf_free(&l.out);
}
