/*
 * cmd_strings.c -- nvkv-server's string commands: GET and the SET family
 * (SET with its options, SETNX, SETEX, GETSET, GETDEL, GETEX), the
 * counters (INCR, INCRBY, INCRBYFLOAT and their DECR forms), APPEND,
 * STRLEN, MGET and MSET, GETRANGE and SETRANGE.  Each write marks its
 * key changed for WATCH (touched, cmd_multi.c).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

void
c_get(struct conn *c, const struct resp_cmd *q)
{
	const void *v;
	size_t vl;
	int rc = kv_get(c->s->kv, q->argv[1], q->argl[1], &v, &vl);
	if (rc == -ENOENT)
		resp_null(&c->out);
	else if (rc)
		kv_error(&c->out, rc);
	else
		resp_bulk(&c->out, v, vl);
}

/* The old value (or nil) into b, for SET GET, GETSET, GETDEL; the kv
 * error if the entry is damaged. */
static int
get_old(struct conn *c, const void *k, size_t kl, struct resp_buf *b)
{
	const void *v;
	size_t vl;
	int rc = kv_get(c->s->kv, k, kl, &v, &vl);
	if (rc == 0)
		resp_bulk(b, v, vl);
	else if (rc == -ENOENT)
		resp_null(b);
	else
		kv_error(&c->out, rc);
	return rc == -ENOENT ? 0 : rc;
}

/* Store with options; the reply: OK, nil (NX/XX not met), or with GET
 * the old value. */
static void
set_reply(struct conn *c, const struct resp_cmd *q, struct kv_setopt *o,
	  int get)
{
	struct resp_buf old = {0};
	if (get && get_old(c, q->argv[1], q->argl[1], &old)) {
		resp_buf_free(&old);
		return;
	}
	int rc = kv_set(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			q->argl[2], o);
	if (rc && rc != -EEXIST && rc != -ENOENT)
		kv_error(&c->out, rc);
	else if (get)
		resp_append(&c->out, &old);
	else if (rc)
		resp_null(&c->out);
	else
		resp_simple(&c->out, "OK");
	if (!rc)
		touched(c->s, q->argv[1], q->argl[1]);
	resp_buf_free(&old);
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL], with
 * Redis 7.0's rules for conflicting options. */
void
c_set(struct conn *c, const struct resp_cmd *q)
{
	struct kv_setopt o = {0};
	int get = 0, has_exp = 0, seconds = 0, absolute = 0, at = 0;
	for (int i = 3; i < q->argc; i++) {
		int sec, abs;
		/* an option may repeat (the last wins), but not meet a
		 * conflicting one: Redis 7.0's rules */
		if (argis(q, i, "NX") && !o.xx) {
			o.nx = 1;
		} else if (argis(q, i, "XX") && !o.nx) {
			o.xx = 1;
		} else if (argis(q, i, "GET")) {
			get = 1;
		} else if (argis(q, i, "KEEPTTL") && !has_exp) {
			o.keepttl = 1;
		} else if (expire_opt(q, i, &sec, &abs) && !o.keepttl &&
			   (!has_exp || (sec == seconds && abs == absolute)) &&
			   i + 1 < q->argc) {
			has_exp = 1;
			seconds = sec;
			absolute = abs;
			at = ++i;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
	}
	if (has_exp && parse_expire(c, q->argv[at], q->argl[at], seconds,
				    absolute, 1, "set", &o.expire))
		return;
	set_reply(c, q, &o, get);
}

void
c_setnx(struct conn *c, const struct resp_cmd *q)
{
	struct kv_setopt o = {.nx = 1};
	int rc = kv_set(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			q->argl[2], &o);
	if (rc && rc != -EEXIST) {
		kv_error(&c->out, rc);
		return;
	}
	if (!rc)
		touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, rc == 0);
}

/* SETEX key seconds value, PSETEX key ms value */
void
c_setex(struct conn *c, const struct resp_cmd *q)
{
	int ms = argis(q, 0, "PSETEX");
	struct kv_setopt o = {0};
	if (parse_expire(c, q->argv[2], q->argl[2], !ms, 0, 1,
			 ms ? "psetex" : "setex", &o.expire))
		return;
	int rc = kv_set(c->s->kv, q->argv[1], q->argl[1], q->argv[3],
			q->argl[3], &o);
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	resp_simple(&c->out, "OK");
}

void
c_getset(struct conn *c, const struct resp_cmd *q)
{
	struct kv_setopt o = {0};
	set_reply(c, q, &o, 1);
}

void
c_getdel(struct conn *c, const struct resp_cmd *q)
{
	struct resp_buf old = {0};
	if (!get_old(c, q->argv[1], q->argl[1], &old)) {
		int rc = kv_del(c->s->kv, q->argv[1], q->argl[1]);
		if (rc && rc != -ENOENT) {
			kv_error(&c->out, rc);
		} else {
			if (!rc)
				touched(c->s, q->argv[1], q->argl[1]);
			resp_append(&c->out, &old);
		}
	}
	resp_buf_free(&old);
}

/* GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST] */
void
c_getex(struct conn *c, const struct resp_cmd *q)
{
	int persist = 0, has_exp = 0, seconds = 0, absolute = 0, at = 0;
	for (int i = 2; i < q->argc; i++) {
		int sec, abs;
		if (argis(q, i, "PERSIST") && !has_exp) {
			persist = 1;
		} else if (expire_opt(q, i, &sec, &abs) && !persist &&
			   (!has_exp || (sec == seconds && abs == absolute)) &&
			   i + 1 < q->argc) {
			has_exp = 1;
			seconds = sec;
			absolute = abs;
			at = ++i;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
	}
	int64_t when = 0;
	if (has_exp && parse_expire(c, q->argv[at], q->argl[at], seconds,
				    absolute, 1, "getex", &when))
		return;
	struct resp_buf old = {0};
	int64_t cur = 0;
	const void *v;
	size_t vl;
	int rc = kv_get_ex(c->s->kv, q->argv[1], q->argl[1], &v, &vl, &cur);
	if (rc == -ENOENT) {
		resp_null(&c->out);
		return;
	}
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	resp_bulk(&old, v, vl); /* before the write moves it */
	if ((has_exp || (persist && cur)) &&
	    (rc = kv_set_expire(c->s->kv, q->argv[1], q->argl[1], when))) {
		kv_error(&c->out, rc);
	} else {
		if (has_exp || (persist && cur))
			touched(c->s, q->argv[1], q->argl[1]);
		resp_append(&c->out, &old);
	}
	resp_buf_free(&old);
}

static void
incr_by(struct conn *c, const struct resp_cmd *q, long long by)
{
	long long out;
	int rc = kv_incrby(c->s->kv, q->argv[1], q->argl[1], by, &out);
	if (rc == -EINVAL)
		resp_error(&c->out, "ERR value is not an integer or out of range");
	else if (rc == -ERANGE)
		resp_error(&c->out, "ERR increment or decrement would overflow");
	else if (rc)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, out);
	if (!rc)
		touched(c->s, q->argv[1], q->argl[1]);
}

void
c_incr(struct conn *c, const struct resp_cmd *q)
{
	incr_by(c, q, argis(q, 0, "DECR") ? -1 : 1);
}

void
c_incrby(struct conn *c, const struct resp_cmd *q)
{
	long long by;
	if (resp_strtoll(q->argv[2], q->argl[2], &by)) {
		resp_error(&c->out, "ERR value is not an integer or out of range");
		return;
	}
	if (argis(q, 0, "DECRBY") && by == LLONG_MIN) {
		resp_error(&c->out, "ERR decrement would overflow");
		return;
	}
	incr_by(c, q, argis(q, 0, "DECRBY") ? -by : by);
}

void
c_append(struct conn *c, const struct resp_cmd *q)
{
	size_t n;
	int rc = kv_append(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			   q->argl[2], &n);
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, (long long)n);
}

void
c_strlen(struct conn *c, const struct resp_cmd *q)
{
	const void *v;
	size_t vl = 0;
	int rc = kv_get(c->s->kv, q->argv[1], q->argl[1], &v, &vl);
	if (rc && rc != -ENOENT)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, (long long)vl);
}

void
c_mget(struct conn *c, const struct resp_cmd *q)
{
	resp_array(&c->out, q->argc - 1);
	for (int i = 1; i < q->argc; i++) {
		const void *v;
		size_t vl;
		int rc = kv_get(c->s->kv, q->argv[i], q->argl[i], &v, &vl);
		if (rc == 0)
			resp_bulk(&c->out, v, vl);
		else if (rc == -ENOENT || rc == -EMEDIUMTYPE) /* as redis */
			resp_null(&c->out);
		else /* a damaged entry: an error in its place */
			kv_error(&c->out, rc);
	}
}

/* MSET is atomic: one transaction for all pairs; MSETNX sets them only
 * if none exists. */
void
c_mset(struct conn *c, const struct resp_cmd *q)
{
	int nx = argis(q, 0, "MSETNX");
	if (q->argc % 2 == 0) {
		wrong_args(&c->out, nx ? "msetnx" : "mset");
		return;
	}
	if (nx)
		for (int i = 1; i < q->argc; i += 2) {
			enum kv_type t;
			int rc = kv_key_type(c->s->kv, q->argv[i], q->argl[i],
					     &t, NULL);
			if (rc != -ENOENT) {
				if (rc)
					kv_error(&c->out, rc);
				else
					resp_int(&c->out, 0);
				return;
			}
		}
	nvh_pool *pool = kv_pool(c->s->kv);
	nvh_tx *tx = nvh_tx_begin(pool);
	int rc = tx ? 0 : -errno;
	for (int i = 1; i < q->argc && !rc; i += 2)
		rc = kv_put(c->s->kv, q->argv[i], q->argl[i], q->argv[i + 1],
			    q->argl[i + 1]);
	if (rc) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", kv_errmsg());
		if (tx)
			nvh_tx_abort(tx);
		resp_error(&c->out, "%s %s", rc == -ENOSPC ? "OOM" : "ERR", msg);
		return;
	}
	if (nvh_tx_commit(tx)) {
		resp_error(&c->out, "ERR %s", nvh_errormsg());
		return;
	}
	for (int i = 1; i < q->argc; i += 2)
		touched(c->s, q->argv[i], q->argl[i]);
	if (nx)
		resp_int(&c->out, 1);
	else
		resp_simple(&c->out, "OK");
}

/* GETRANGE key start end (SUBSTR): Redis's clamping of the bounds */
void
c_getrange(struct conn *c, const struct resp_cmd *q)
{
	long long start, end;
	if (resp_strtoll(q->argv[2], q->argl[2], &start) ||
	    resp_strtoll(q->argv[3], q->argl[3], &end)) {
		resp_error(&c->out, "ERR value is not an integer or out of range");
		return;
	}
	const void *v = "";
	size_t vl = 0;
	int rc = kv_get(c->s->kv, q->argv[1], q->argl[1], &v, &vl);
	if (rc && rc != -ENOENT) {
		kv_error(&c->out, rc);
		return;
	}
	long long n = (long long)vl;
	if (start < 0 && end < 0 && start > end) {
		resp_bulk(&c->out, "", 0);
		return;
	}
	if (start < 0)
		start += n;
	if (end < 0)
		end += n;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= n)
		end = n - 1;
	if (start > end || n == 0)
		resp_bulk(&c->out, "", 0);
	else
		resp_bulk(&c->out, (const char *)v + start,
			  (size_t)(end - start + 1));
}

/* SETRANGE key offset value: the old value padded with zero bytes to
 * offset and overwritten there; the expiry time stays. */
void
c_setrange(struct conn *c, const struct resp_cmd *q)
{
	long long off;
	if (resp_strtoll(q->argv[2], q->argl[2], &off)) {
		resp_error(&c->out, "ERR value is not an integer or out of range");
		return;
	}
	if (off < 0) {
		resp_error(&c->out, "ERR offset is out of range");
		return;
	}
	const void *v = "";
	size_t vl = 0;
	int64_t when = 0;
	int rc = kv_get_ex(c->s->kv, q->argv[1], q->argl[1], &v, &vl, &when);
	if (rc && rc != -ENOENT) {
		kv_error(&c->out, rc);
		return;
	}
	if (q->argl[3] == 0) { /* nothing to write: nothing is created */
		resp_int(&c->out, (long long)vl);
		return;
	}
	if ((unsigned long long)off + q->argl[3] > 512ull << 20) {
		resp_error(&c->out, "ERR string exceeds maximum allowed size "
			   "(proto-max-bulk-len)");
		return;
	}
	size_t nl = (size_t)off + q->argl[3];
	if (nl < vl)
		nl = vl;
	char *buf = nl > KV_VAL_MAX ? NULL : calloc(1, nl ? nl : 1);
	if (!buf) {
		resp_error(&c->out, "ERR value of %zu bytes (at most %u)", nl,
			   KV_VAL_MAX);
		return;
	}
	memcpy(buf, v, vl);
	memcpy(buf + off, q->argv[3], q->argl[3]);
	struct kv_setopt o = {.expire = when};
	rc = kv_set(c->s->kv, q->argv[1], q->argl[1], buf, nl, &o);
	free(buf);
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, (long long)nl);
}

/* A long double as Redis's string2ld reads it: 0 on success. */
int
parse_ld(const char *p, size_t n, long double *out)
{
	char buf[5 * 1024];
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, p, n);
	buf[n] = 0;
	char *end;
	errno = 0;
	long double v = strtold(buf, &end);
	if (strchr(" \t\n\v\f\r", buf[0]) || *end || isnan(v) ||
	    (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL ||
				 fpclassify(v) == FP_ZERO)))
		return -1;
	*out = v;
	return 0;
}

int
format_ld(long double v, char *buf, size_t n)
{
	int l = snprintf(buf, n, "%.17Lf", v);
	if (l < 0 || (size_t)l >= n)
		return -1;
	if (strchr(buf, '.')) {
		while (buf[l - 1] == '0')
			l--;
		if (buf[l - 1] == '.')
			l--;
	}
	if (l == 2 && buf[0] == '-' && buf[1] == '0') {
		buf[0] = '0';
		l = 1;
	}
	buf[l] = 0;
	return l;
}

/* INCRBYFLOAT key by: long double arithmetic, printed as Redis prints it
 * ("%.17Lf" without trailing zeros); the expiry time stays. */
void
c_incrbyfloat(struct conn *c, const struct resp_cmd *q)
{
	const void *v;
	size_t vl;
	long double cur = 0, by;
	int rc = kv_get(c->s->kv, q->argv[1], q->argl[1], &v, &vl);
	if (rc && rc != -ENOENT) {
		kv_error(&c->out, rc);
		return;
	}
	if ((rc == 0 && parse_ld(v, vl, &cur)) ||
	    parse_ld(q->argv[2], q->argl[2], &by)) {
		resp_error(&c->out, "ERR value is not a valid float");
		return;
	}
	cur += by;
	if (isnan(cur) || isinf(cur)) {
		resp_error(&c->out, "ERR increment would produce NaN or "
			   "Infinity");
		return;
	}
	char buf[LD_BUF];
	int l = format_ld(cur, buf, sizeof(buf));
	if (l < 0) {
		resp_error(&c->out, "ERR increment would produce NaN or "
			   "Infinity");
		return;
	}
	struct kv_setopt o = {.keepttl = 1};
	rc = kv_set(c->s->kv, q->argv[1], q->argl[1], buf, (size_t)l, &o);
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	resp_bulk(&c->out, buf, (size_t)l);
}
