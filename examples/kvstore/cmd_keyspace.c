/*
 * cmd_keyspace.c -- nvkv-server's commands on keys as keys, whatever their
 * value: TYPE, DEL and UNLINK, EXISTS and TOUCH, DBSIZE, KEYS and SCAN
 * (with Redis's glob), FLUSHALL and FLUSHDB, RENAME and RENAMENX.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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
/* ---- COPY ---- */

/* A value's elements copied to DRAM: a hash's fields and values, a
 * list's elements or a set's members (k), a sorted set's members and
 * scores; a string's value (k). */
struct cel {
	char *k, *v;
	size_t kl, vl;
	double s;
};

struct cels {
	struct cel *e;
	size_t n, cap;
};

static char *
dup_bytes(const void *p, size_t l)
{
	char *d = malloc(l ? l : 1);
	if (d && l)
		memcpy(d, p, l);
	return d;
}

static int
cels_add(struct cels *L, const void *k, size_t kl, const void *v, size_t vl,
	 double s)
{
	if (L->n == L->cap) {
		size_t cap = L->cap ? 2 * L->cap : 64;
		struct cel *a = realloc(L->e, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		L->e = a;
		L->cap = cap;
	}
	struct cel *e = &L->e[L->n];
	*e = (struct cel){dup_bytes(k, kl), v ? dup_bytes(v, vl) : NULL, kl,
			  vl, s};
	if (!e->k || (v && !e->v)) {
		free(e->k);
		free(e->v);
		return -ENOMEM;
	}
	L->n++;
	return 0;
}

static void
cels_free(struct cels *L)
{
	for (size_t i = 0; i < L->n; i++) {
		free(L->e[i].k);
		free(L->e[i].v);
	}
	free(L->e);
}

/* kv_fn: a field and its value (a hash), or an element or member alone
 * (a list's value bytes, a set's key bytes) */
static int
cp_hash(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	return cels_add(arg, k, kl, v, vl, 0);
}

static int
cp_elem(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	return cels_add(arg, v, vl, NULL, 0, 0);
}

static int
cp_member(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	return cels_add(arg, k, kl, NULL, 0, 0);
}

static int
cp_z(void *arg, const void *m, size_t ml, double score)
{
	return cels_add(arg, m, ml, NULL, 0, score);
}

/* Key k's value (of type t) into L. */
static int
copy_read(struct kv *kv, const char *k, size_t kl, enum kv_type t,
	  struct cels *L)
{
	const void *v;
	size_t vl;
	int rc;
	switch (t) {
	case KV_T_STRING:
		rc = kv_get(kv, k, kl, &v, &vl);
		return rc ? rc : cels_add(L, v, vl, NULL, 0, 0);
	case KV_T_HASH:
		return kv_hscan(kv, k, kl, cp_hash, L);
	case KV_T_LIST:
		return kv_lrange(kv, k, kl, 0, -1, cp_elem, L);
	case KV_T_SET:
		return kv_smembers(kv, k, kl, cp_member, L);
	case KV_T_ZSET:
		return kv_zrange(kv, k, kl, 0, UINT64_MAX, 0, cp_z, L);
	}
	return -EINVAL;
}

#define COPY_PUSH 1024

/* L as key d's value of type t (d absent), in the caller's transaction. */
static int
copy_write(struct kv *kv, const char *d, size_t dl, enum kv_type t,
	   const struct cels *L)
{
	int rc = 0, added;
	if (t == KV_T_STRING) {
		struct kv_setopt o = {0};
		return kv_set(kv, d, dl, L->e[0].k, L->e[0].kl, &o);
	}
	if (t == KV_T_LIST) { /* in pushes of COPY_PUSH elements */
		const void *p[COPY_PUSH];
		size_t pl[COPY_PUSH];
		for (size_t i = 0; i < L->n && !rc; i += COPY_PUSH) {
			size_t n = L->n - i < COPY_PUSH ? L->n - i : COPY_PUSH;
			for (size_t j = 0; j < n; j++) {
				p[j] = L->e[i + j].k;
				pl[j] = L->e[i + j].kl;
			}
			rc = kv_lpush(kv, d, dl, p, pl, n, 0, 0, NULL);
		}
		return rc;
	}
	for (size_t i = 0; i < L->n && !rc; i++) {
		const struct cel *e = &L->e[i];
		if (t == KV_T_HASH) {
			rc = kv_hset(kv, d, dl, e->k, e->kl, e->v, e->vl, 0,
				     &added);
		} else if (t == KV_T_SET) {
			rc = kv_sadd(kv, d, dl, e->k, e->kl, &added);
		} else {
			rc = kv_zput(kv, d, dl, e->k, e->kl, e->s, &added);
		}
	}
	return rc;
}

/* COPY source destination [DB db] [REPLACE]: source's value (any type)
 * and expiry time copied to destination in one transaction; 1, or 0 if
 * there is no source or (without REPLACE) destination exists.  One
 * database: DB 0 only, as redis --databases 1 answers. */
void
c_copy(struct conn *c, const struct resp_cmd *q)
{
	int replace = 0;
	for (int i = 3; i < q->argc; i++) {
		long long db;
		if (argis(q, i, "REPLACE")) {
			replace = 1;
		} else if (argis(q, i, "DB") && i + 1 < q->argc) {
			if (resp_strtoll(q->argv[i + 1], q->argl[i + 1], &db) ||
			    db < INT_MIN || db > INT_MAX) {
				resp_error(&c->out, "ERR value is not an "
					   "integer or out of range");
				return;
			}
			if (db != 0) {
				resp_error(&c->out, "ERR DB index is out of "
					   "range");
				return;
			}
			i++;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
	}
	const char *k = q->argv[1], *d = q->argv[2];
	size_t kl = q->argl[1], dl = q->argl[2];
	if (kl == dl && !memcmp(k, d, kl)) {
		resp_error(&c->out, "ERR source and destination objects are "
			   "the same");
		return;
	}
	struct kv *kv = c->s->kv;
	enum kv_type t, dt;
	int64_t expire;
	int rc = kv_key_type(kv, k, kl, &t, &expire);
	if (rc == 0 && !replace)
		rc = kv_key_type(kv, d, dl, &dt, NULL) == 0 ? -EEXIST : 0;
	if (rc == -ENOENT || rc == -EEXIST) {
		resp_int(&c->out, 0);
		return;
	}
	struct cels L = {0};
	if (!rc)
		rc = copy_read(kv, k, kl, t, &L);
	if (rc) {
		cels_free(&L);
		coll_read_error(c, rc);
		return;
	}
	nvh_tx *tx;
	int existed;
	rc = store_begin(c, d, dl, &tx, &existed);
	if (rc < 0 && !tx) {
		cels_free(&L);
		return;
	}
	if (!rc)
		rc = copy_write(kv, d, dl, t, &L);
	if (!rc && expire)
		rc = kv_set_expire(kv, d, dl, expire);
	if (!store_end(c, tx, rc, d, dl, 1))
		resp_int(&c->out, 1);
	cels_free(&L);
}

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
