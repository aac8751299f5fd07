/*
 * cmd_keys.c -- nvkv-server's keyspace commands: strings, counters, MGET
 * and MSET, DEL, EXISTS, SCAN and KEYS, FLUSHALL.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static void
kv_error(struct resp_buf *o, int rc)
{
	if (rc == -ENOSPC)
		resp_error(o, "OOM %s", kv_errmsg());
	else
		resp_error(o, "ERR %s", kv_errmsg());
}
static void
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

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]: NX, XX
 * and GET are supported; expiry options are checked and ignored (keys
 * never expire in nvkv). */
static void
c_set(struct conn *c, const struct resp_cmd *q)
{
	int nx = 0, xx = 0, get = 0;
	for (int i = 3; i < q->argc; i++) {
		long long t;
		if (argis(q, i, "NX")) {
			nx = 1;
		} else if (argis(q, i, "XX")) {
			xx = 1;
		} else if (argis(q, i, "GET")) {
			get = 1;
		} else if (argis(q, i, "KEEPTTL")) {
			continue;
		} else if ((argis(q, i, "EX") || argis(q, i, "PX") ||
			    argis(q, i, "EXAT") || argis(q, i, "PXAT")) &&
			   i + 1 < q->argc) {
			if (resp_strtoll(q->argv[i + 1], q->argl[i + 1], &t) ||
			    t <= 0) {
				resp_error(&c->out, "ERR invalid expire time in "
					   "'set' command");
				return;
			}
			i++;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
	}
	if (nx && xx) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	struct kv *kv = c->s->kv;
	struct resp_buf old = {0};
	if (get) {
		const void *v;
		size_t vl;
		if (kv_get(kv, q->argv[1], q->argl[1], &v, &vl) == 0)
			resp_bulk(&old, v, vl);
		else
			resp_null(&old);
	}
	int rc = kv_put_if(kv, q->argv[1], q->argl[1], q->argv[2], q->argl[2],
			   nx, xx);
	if (rc && rc != -EEXIST && rc != -ENOENT) {
		kv_error(&c->out, rc);
	} else if (get) {
		resp_append(&c->out, &old); /* the old value (or nil) */
	} else if (rc) {
		resp_null(&c->out);
	} else {
		resp_simple(&c->out, "OK");
	}
	resp_buf_free(&old);
}

static void
c_del(struct conn *c, const struct resp_cmd *q)
{
	long long n = 0;
	for (int i = 1; i < q->argc; i++) {
		int rc = kv_del(c->s->kv, q->argv[i], q->argl[i]);
		if (rc == 0) {
			n++;
		} else if (rc != -ENOENT) {
			kv_error(&c->out, rc);
			return;
		}
	}
	resp_int(&c->out, n);
}

static void
c_exists(struct conn *c, const struct resp_cmd *q)
{
	long long n = 0;
	for (int i = 1; i < q->argc; i++) {
		const void *v;
		size_t vl;
		n += kv_get(c->s->kv, q->argv[i], q->argl[i], &v, &vl) == 0;
	}
	resp_int(&c->out, n);
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
}

static void
c_incr(struct conn *c, const struct resp_cmd *q)
{
	incr_by(c, q, argis(q, 0, "DECR") ? -1 : 1);
}

static void
c_incrby(struct conn *c, const struct resp_cmd *q)
{
	long long by;
	if (resp_strtoll(q->argv[2], q->argl[2], &by) ||
	    (argis(q, 0, "DECRBY") && by == LLONG_MIN)) {
		resp_error(&c->out, "ERR value is not an integer or out of range");
		return;
	}
	incr_by(c, q, argis(q, 0, "DECRBY") ? -by : by);
}

static void
c_append(struct conn *c, const struct resp_cmd *q)
{
	size_t n;
	int rc = kv_append(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			   q->argl[2], &n);
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, (long long)n);
}

static void
c_strlen(struct conn *c, const struct resp_cmd *q)
{
	const void *v;
	size_t vl = 0;
	kv_get(c->s->kv, q->argv[1], q->argl[1], &v, &vl);
	resp_int(&c->out, (long long)vl);
}

static void
c_mget(struct conn *c, const struct resp_cmd *q)
{
	resp_array(&c->out, q->argc - 1);
	for (int i = 1; i < q->argc; i++) {
		const void *v;
		size_t vl;
		if (kv_get(c->s->kv, q->argv[i], q->argl[i], &v, &vl) == 0)
			resp_bulk(&c->out, v, vl);
		else
			resp_null(&c->out);
	}
}

/* MSET is atomic: one transaction for all pairs. */
static void
c_mset(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc % 2 == 0) {
		wrong_args(&c->out, "mset");
		return;
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
	resp_simple(&c->out, "OK");
}

static void
c_dbsize(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	resp_int(&c->out, (long long)kv_count(c->s->kv));
}

/* Keys matching a pattern, collected into a reply in memory. */
struct collect {
	struct resp_buf keys;
	long long n;
	const char *pat;
	size_t pl;
};

static int
collect_key(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct collect *cl = arg;
	(void)v, (void)vl;
	if (!cl->pat || kv_glob(cl->pat, cl->pl, k, kl, 0)) {
		resp_bulk(&cl->keys, k, kl);
		cl->n++;
	}
	return cl->keys.oom ? -ENOMEM : 0;
}

static void
send_collected(struct conn *c, struct collect *cl)
{
	if (cl->keys.oom) {
		resp_error(&c->out, "ERR out of memory");
	} else {
		resp_array(&c->out, cl->n);
		resp_append(&c->out, &cl->keys);
	}
	resp_buf_free(&cl->keys);
}

static void
c_keys(struct conn *c, const struct resp_cmd *q)
{
	struct collect cl = {.pat = q->argv[1], .pl = q->argl[1]};
	kv_scan(c->s->kv, NULL, 0, NULL, 0, collect_key, &cl);
	send_collected(c, &cl);
}

/* SCAN cursor [MATCH pattern] [COUNT n] [TYPE string] */
static void
c_scan(struct conn *c, const struct resp_cmd *q)
{
	long long cursor, count = 10;
	struct collect cl = {0};
	if (resp_strtoll(q->argv[1], q->argl[1], &cursor)) {
		/* cursors are unsigned 64-bit: accept the full range */
		char buf[32];
		size_t n = q->argl[1] < sizeof(buf) - 1 ? q->argl[1] : 0;
		memcpy(buf, q->argv[1], n);
		buf[n] = 0;
		char *end;
		errno = 0;
		unsigned long long u = strtoull(buf, &end, 10);
		if (!n || *end || errno || buf[0] == '-') {
			resp_error(&c->out, "ERR invalid cursor");
			return;
		}
		cursor = (long long)u;
	}
	for (int i = 2; i < q->argc; i += 2) {
		if (i + 1 >= q->argc) {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
		if (argis(q, i, "MATCH")) {
			cl.pat = q->argv[i + 1];
			cl.pl = q->argl[i + 1];
		} else if (argis(q, i, "COUNT")) {
			if (resp_strtoll(q->argv[i + 1], q->argl[i + 1], &count) ||
			    count < 1) {
				resp_error(&c->out, "ERR value is not an integer or "
					   "out of range");
				return;
			}
			if (count > SCAN_COUNT_MAX)
				count = SCAN_COUNT_MAX;
		} else if (argis(q, i, "TYPE")) {
			if (!argis(q, i + 1, "string")) /* all keys are strings */
				cl.pat = "", cl.pl = 0;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
	}
	uint64_t next = kv_scan_step(c->s->kv, (uint64_t)cursor, (size_t)count,
				     collect_key, &cl);
	char nb[24];
	int n = snprintf(nb, sizeof(nb), "%" PRIu64, next);
	resp_array(&c->out, 2);
	resp_bulk(&c->out, nb, (size_t)n);
	send_collected(c, &cl);
}

static void
c_flushall(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc > 2 || (q->argc == 2 && !argis(q, 1, "ASYNC") &&
			    !argis(q, 1, "SYNC"))) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	int rc = kv_flush(c->s->kv);
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_simple(&c->out, "OK");
}


const struct command cmd_keys_table[] = {
	{"GET", c_get, 2, CMD_READ, 1, 1, 1},
	{"SET", c_set, -3, CMD_WRITE, 1, 1, 1},
	{"DEL", c_del, -2, CMD_WRITE, 1, -1, 1},
	{"UNLINK", c_del, -2, CMD_WRITE, 1, -1, 1},
	{"EXISTS", c_exists, -2, CMD_READ, 1, -1, 1},
	{"INCR", c_incr, 2, CMD_WRITE, 1, 1, 1},
	{"DECR", c_incr, 2, CMD_WRITE, 1, 1, 1},
	{"INCRBY", c_incrby, 3, CMD_WRITE, 1, 1, 1},
	{"DECRBY", c_incrby, 3, CMD_WRITE, 1, 1, 1},
	{"APPEND", c_append, 3, CMD_WRITE, 1, 1, 1},
	{"STRLEN", c_strlen, 2, CMD_READ, 1, 1, 1},
	{"MGET", c_mget, -2, CMD_READ, 1, -1, 1},
	{"MSET", c_mset, -3, CMD_WRITE, 1, -1, 2},
	{"DBSIZE", c_dbsize, 1, CMD_READ, 0, 0, 0},
	{"SCAN", c_scan, -2, CMD_READ, 0, 0, 0},
	{"KEYS", c_keys, 2, CMD_READ, 0, 0, 0},
	{"FLUSHALL", c_flushall, -1, CMD_WRITE, 0, 0, 0},
	{"FLUSHDB", c_flushall, -1, CMD_WRITE, 0, 0, 0},
	{NULL, NULL, 0, 0, 0, 0, 0},
};
