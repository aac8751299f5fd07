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
	enum kv_type t;
	int rc = kv_key_type(c->s->kv, q->argv[1], q->argl[1], &t, NULL);
	if (rc && rc != -ENOENT)
		kv_error(&c->out, rc);
	else
		resp_simple(&c->out, rc ? "none" : kv_type_name(t));
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
		enum kv_type t;
		n += kv_key_type(c->s->kv, q->argv[i], q->argl[i], &t, NULL) ==
		     0;
	}
	resp_int(&c->out, n);
}

void
c_dbsize(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	resp_int(&c->out, (long long)kv_count(c->s->kv));
}

/* RANDOMKEY's pick: the key straight into the reply. */
struct rk {
	struct resp_buf *out;
	int got;
};

static int
rk_reply(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	struct rk *r = arg;
	resp_bulk(r->out, k, kl);
	r->got = 1;
	return 0;
}

/* Draws before RANDOMKEY answers nil: a pick that meets an expired key
 * (not yet removed) draws again. */
#define RANDOMKEY_TRIES 1000

/* RANDOMKEY: a live key picked at random (each about equally likely:
 * kv_random_key), nil if there is none */
void
c_randomkey(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	uint64_t seed = rnd64();
	struct rk r = {&c->out, 0};
	for (int t = 0; t < RANDOMKEY_TRIES && kv_count(c->s->kv); t++) {
		int rc = kv_random_key(c->s->kv, seed + (uint64_t)t, rk_reply,
				       &r);
		if (rc) {
			kv_error(&c->out, rc);
			return;
		}
		if (r.got)
			return;
	}
	resp_null(&c->out);
}

/* Keys matching a pattern, collected into a reply in memory. */
struct collect {
	struct resp_buf keys;
	long long n;
	const char *pat;
	size_t pl;
	int none;       /* SCAN TYPE of no type: nothing matches */
	int type;       /* SCAN TYPE: only keys of this type (-1: any) */
	struct kv *kv;
};

static int
collect_key(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct collect *cl = arg;
	(void)v, (void)vl;
	/* a lone "*" is every key, the empty one too (Redis's KEYS and
	 * SCAN skip the match; its glob says "*" does not match "") */
	int all = !cl->pat || (cl->pl == 1 && cl->pat[0] == '*');
	if (!cl->none && (cl->type < 0 || (cl->kv && (int)kv_visit_type(cl->kv)
						    == cl->type)) &&
	    (all || kv_glob(cl->pat, cl->pl, k, kl, 0))) {
		resp_bulk(&cl->keys, k, kl);
		cl->n++;
	}
	return cl->keys.oom ? -ENOMEM : 0;
}

void
reply_collected(struct conn *c, struct resp_buf *b, long long n)
{
	if (b->oom) {
		resp_error(&c->out, "ERR out of memory");
	} else {
		resp_array(&c->out, n);
		resp_append(&c->out, b);
	}
	resp_buf_free(b);
}

static void
send_collected(struct conn *c, struct collect *cl)
{
	reply_collected(c, &cl->keys, cl->n);
}

int
parse_cursor(struct conn *c, const char *p, size_t l, uint64_t *out)
{
	/* cursors are unsigned 64-bit, read as Redis does (strtoul: "" is
	 * 0, "+5" and "-1" are accepted, a leading space is not) */
	char buf[32];
	if (l >= sizeof(buf) || memchr(p, 0, l)) {
		resp_error(&c->out, "ERR invalid cursor");
		return -1;
	}
	memcpy(buf, p, l);
	buf[l] = 0;
	char *end;
	errno = 0;
	unsigned long long cursor = strtoull(buf, &end, 10);
	if ((buf[0] && strchr(" \t\n\v\f\r", buf[0])) || *end ||
	    errno == ERANGE) {
		resp_error(&c->out, "ERR invalid cursor");
		return -1;
	}
	*out = (uint64_t)cursor;
	return 0;
}

int
parse_scan_count(struct conn *c, const char *p, size_t l, long long *count)
{
	if (resp_strtoll(p, l, count)) {
		resp_error(&c->out, "ERR value is not an integer or out of "
			   "range");
		return -1;
	}
	if (*count < 1) {
		resp_error(&c->out, "ERR syntax error");
		return -1;
	}
	if (*count > SCAN_COUNT_MAX)
		*count = SCAN_COUNT_MAX;
	return 0;
}

void
c_keys(struct conn *c, const struct resp_cmd *q)
{
	struct collect cl = {.pat = q->argv[1], .pl = q->argl[1], .type = -1};
	kv_scan(c->s->kv, NULL, 0, NULL, 0, collect_key, &cl);
	send_collected(c, &cl);
}

/* SCAN cursor [MATCH pattern] [COUNT n] [TYPE string] */
void
c_scan(struct conn *c, const struct resp_cmd *q)
{
	long long count = 10;
	struct collect cl = {.type = -1, .kv = c->s->kv};
	uint64_t cursor;
	if (parse_cursor(c, q->argv[1], q->argl[1], &cursor))
		return;
	for (int i = 2; i < q->argc; i += 2) {
		if (i + 1 >= q->argc) {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
		if (argis(q, i, "MATCH")) {
			cl.pat = q->argv[i + 1];
			cl.pl = q->argl[i + 1];
		} else if (argis(q, i, "COUNT")) {
			if (parse_scan_count(c, q->argv[i + 1], q->argl[i + 1],
					     &count))
				return;
		} else if (argis(q, i, "TYPE")) {
			if (argis(q, i + 1, "string"))
				cl.type = KV_T_STRING;
			else if (argis(q, i + 1, "hash"))
				cl.type = KV_T_HASH;
			else if (argis(q, i + 1, "list"))
				cl.type = KV_T_LIST;
			else if (argis(q, i + 1, "set"))
				cl.type = KV_T_SET;
			else if (argis(q, i + 1, "zset"))
				cl.type = KV_T_ZSET;
			else /* a type nvkv has no key of */
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
			enum kv_type t;
			if (kv_key_type(c->s->kv, k->k, k->kl, &t, NULL) !=
			    -ENOENT)
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
	int rc = kv_rename(c->s->kv, q->argv[1], q->argl[1], q->argv[2],
			   q->argl[2], nx);
	if (rc == -ENOENT) {
		resp_error(&c->out, "ERR no such key");
		return;
	}
	if (rc == -EEXIST) { /* RENAMENX onto a key that exists */
		resp_int(&c->out, 0);
		return;
	}
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	touched(c->s, q->argv[2], q->argl[2]);
	if (nx)
		resp_int(&c->out, 1);
	else
		resp_simple(&c->out, "OK");
}
