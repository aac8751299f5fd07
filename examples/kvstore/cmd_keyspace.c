/*
 * cmd_keyspace.c -- nvkv-server's commands on keys as keys, whatever their
 * value: TYPE, DEL and UNLINK, EXISTS and TOUCH, DBSIZE, KEYS and SCAN
 * (with Redis's glob), FLUSHALL and FLUSHDB, RENAME and RENAMENX.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

void
c_type(struct conn *c, const struct resp_cmd *q)
{
	const void *v;
	size_t vl;
	int rc = kv_get(c->s->kv, q->argv[1], q->argl[1], &v, &vl);
	if (rc && rc != -ENOENT)
		kv_error(&c->out, rc);
	else
		resp_simple(&c->out, rc ? "none" : "string");
}

void
c_del(struct conn *c, const struct resp_cmd *q)
{
	long long n = 0;
	for (int i = 1; i < q->argc; i++) {
		int rc = kv_del(c->s->kv, q->argv[i], q->argl[i]);
		if (rc == 0) {
			touched(c->s, q->argv[i], q->argl[i]);
			n++;
		} else if (rc != -ENOENT) {
			kv_error(&c->out, rc);
			return;
		}
	}
	resp_int(&c->out, n);
}

void
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

void
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
	int none;       /* SCAN TYPE of another type: nothing matches */
};

static int
collect_key(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct collect *cl = arg;
	(void)v, (void)vl;
	/* a lone "*" is every key, the empty one too (Redis's KEYS and
	 * SCAN skip the match; its glob says "*" does not match "") */
	int all = !cl->pat || (cl->pl == 1 && cl->pat[0] == '*');
	if (!cl->none && (all || kv_glob(cl->pat, cl->pl, k, kl, 0))) {
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

void
c_keys(struct conn *c, const struct resp_cmd *q)
{
	struct collect cl = {.pat = q->argv[1], .pl = q->argl[1]};
	kv_scan(c->s->kv, NULL, 0, NULL, 0, collect_key, &cl);
	send_collected(c, &cl);
}

/* SCAN cursor [MATCH pattern] [COUNT n] [TYPE string] */
void
c_scan(struct conn *c, const struct resp_cmd *q)
{
	long long count = 10;
	struct collect cl = {0};
	/* cursors are unsigned 64-bit, read as Redis does (strtoul: "" is
	 * 0, "+5" and "-1" are accepted, a leading space is not) */
	char buf[32];
	if (q->argl[1] >= sizeof(buf) || memchr(q->argv[1], 0, q->argl[1])) {
		resp_error(&c->out, "ERR invalid cursor");
		return;
	}
	memcpy(buf, q->argv[1], q->argl[1]);
	buf[q->argl[1]] = 0;
	char *end;
	errno = 0;
	unsigned long long cursor = strtoull(buf, &end, 10);
	if ((buf[0] && strchr(" \t\n\v\f\r", buf[0])) || *end ||
	    errno == ERANGE) {
		resp_error(&c->out, "ERR invalid cursor");
		return;
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
			if (resp_strtoll(q->argv[i + 1], q->argl[i + 1], &count)) {
				resp_error(&c->out, "ERR value is not an integer or "
					   "out of range");
				return;
			}
			if (count < 1) {
				resp_error(&c->out, "ERR syntax error");
				return;
			}
			if (count > SCAN_COUNT_MAX)
				count = SCAN_COUNT_MAX;
		} else if (argis(q, i, "TYPE")) {
			if (!argis(q, i + 1, "string")) /* all keys are strings */
				cl.none = 1;
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

void
c_flushall(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc > 2 || (q->argc == 2 && !argis(q, 1, "ASYNC") &&
			    !argis(q, 1, "SYNC"))) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	/* the watched keys that exist are changed by the flush */
	for (struct conn *w = c->s->conns; w; w = w->next)
		for (struct watch *k = w->watches; k; k = k->next) {
			const void *v;
			size_t vl;
			if (kv_get(c->s->kv, k->k, k->kl, &v, &vl) != -ENOENT)
				w->watch_dirty = 1;
		}
	int rc = kv_flush(c->s->kv);
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_simple(&c->out, "OK");
}

/* RENAME key newkey, RENAMENX: the value and its time move, in one
 * transaction. */
void
c_rename(struct conn *c, const struct resp_cmd *q)
{
	int nx = argis(q, 0, "RENAMENX");
	struct kv *kv = c->s->kv;
	const void *v;
	size_t vl;
	int64_t when = 0;
	int rc = kv_get_ex(kv, q->argv[1], q->argl[1], &v, &vl, &when);
	if (rc == -ENOENT) {
		resp_error(&c->out, "ERR no such key");
		return;
	}
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	if (q->argl[1] == q->argl[2] &&
	    !memcmp(q->argv[1], q->argv[2], q->argl[1])) {
		if (nx)
			resp_int(&c->out, 0);
		else
			resp_simple(&c->out, "OK");
		return;
	}
	if (nx) {
		const void *v2;
		size_t vl2;
		rc = kv_get(kv, q->argv[2], q->argl[2], &v2, &vl2);
		if (rc != -ENOENT) {
			if (rc)
				kv_error(&c->out, rc);
			else
				resp_int(&c->out, 0);
			return;
		}
	}
	nvh_tx *tx = nvh_tx_begin(kv_pool(kv));
	if (!tx) {
		resp_error(&c->out, "ERR %s", nvh_errormsg());
		return;
	}
	/* v points into the old entry, which stays until the commit */
	struct kv_setopt o = {.expire = when};
	rc = kv_set(kv, q->argv[2], q->argl[2], v, vl, &o);
	if (!rc)
		rc = kv_del(kv, q->argv[1], q->argl[1]);
	if (rc) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", kv_errmsg());
		nvh_tx_abort(tx);
		resp_error(&c->out, "%s %s", rc == -ENOSPC ? "OOM" : "ERR", msg);
		return;
	}
	if (nvh_tx_commit(tx)) {
		resp_error(&c->out, "ERR %s", nvh_errormsg());
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	touched(c->s, q->argv[2], q->argl[2]);
	if (nx)
		resp_int(&c->out, 1);
	else
		resp_simple(&c->out, "OK");
}
