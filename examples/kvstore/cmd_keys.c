/*
 * cmd_keys.c -- nvkv-server's keyspace commands: strings, counters, MGET
 * and MSET, DEL, EXISTS, SCAN and KEYS, FLUSHALL, expiry (lazy in the kv
 * library, active here), MULTI/EXEC/DISCARD and WATCH.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "server.h"

/* A damaged entry is an error reply and a log line, never data. */
static void
kv_error(struct resp_buf *o, int rc)
{
	if (rc == -ENOSPC) {
		resp_error(o, "OOM %s", kv_errmsg());
	} else {
		if (rc == -EIO)
			fprintf(stderr, "nvkv-server: %s\n", kv_errmsg());
		resp_error(o, "ERR %s", kv_errmsg());
	}
}

/* ---- WATCH: keys a connection watches, and who changed them ---- */

struct watch {
	struct watch *next;
	int64_t expire;  /* the key's time when watched (live), else 0 */
	size_t kl;
	char k[];
};

/* Key k was changed: every connection watching it fails its EXEC. */
static void
touched(struct server *s, const void *k, size_t kl)
{
	for (struct conn *c = s->conns; c; c = c->next)
		for (struct watch *w = c->watches; w; w = w->next)
			if (w->kl == kl && !memcmp(w->k, k, kl))
				c->watch_dirty = 1;
}

static void
unwatch_all(struct conn *c)
{
	while (c->watches) {
		struct watch *w = c->watches;
		c->watches = w->next;
		free(w);
	}
	c->watch_dirty = 0;
}

/* ---- expiry times ---- */

static void
expire_error(struct conn *c, const char *cmd)
{
	resp_error(&c->out, "ERR invalid expire time in '%s' command", cmd);
}

/*
 * An expiry argument as an absolute Unix time in ms, with Redis's checks:
 * not an integer -> "not an integer"; for SET, SETEX and GETEX (positive)
 * a value <= 0, and for all a value that overflows once made ms and
 * absolute -> "invalid expire time".  0 on success.
 */
static int
parse_expire(struct conn *c, const char *p, size_t pl, int seconds,
	     int absolute, int positive, const char *cmd, int64_t *out)
{
	long long v;
	if (resp_strtoll(p, pl, &v)) {
		resp_error(&c->out, "ERR value is not an integer or out of "
			   "range");
		return -1;
	}
	if ((positive && v <= 0) ||
	    (seconds && (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000))) {
		expire_error(c, cmd);
		return -1;
	}
	if (seconds)
		v *= 1000;
	if (!absolute) {
		long long now = kv_now(c->s->kv);
		if (v > LLONG_MAX - now) {
			expire_error(c, cmd);
			return -1;
		}
		v += now;
	}
	*out = v;
	return 0;
}

/* Which expiry option argument i is: 0 none, else its letter. */
static int
expire_opt(const struct resp_cmd *q, int i, int *seconds, int *absolute)
{
	static const char *const names[] = {"EX", "PX", "EXAT", "PXAT"};
	for (int n = 0; n < 4; n++)
		if (argis(q, i, names[n])) {
			*seconds = !(n & 1);
			*absolute = n >= 2;
			return 1;
		}
	return 0;
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
static void
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

static void
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
static void
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

static void
c_getset(struct conn *c, const struct resp_cmd *q)
{
	struct kv_setopt o = {0};
	set_reply(c, q, &o, 1);
}

static void
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
static void
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

/* EXPIRE key seconds [NX|XX|GT|LT], PEXPIRE, EXPIREAT, PEXPIREAT */
static void
c_expire(struct conn *c, const struct resp_cmd *q)
{
	char name[16];
	size_t n = q->argl[0] < sizeof(name) - 1 ? q->argl[0] : 0;
	for (size_t i = 0; i < n; i++)
		name[i] = (char)(q->argv[0][i] | 0x20);
	name[n] = 0;
	int ms = name[0] == 'p', absolute = strstr(name, "at") != NULL;
	int nx = 0, xx = 0, gt = 0, lt = 0;
	for (int i = 3; i < q->argc; i++) {
		if (argis(q, i, "NX")) {
			nx = 1;
		} else if (argis(q, i, "XX")) {
			xx = 1;
		} else if (argis(q, i, "GT")) {
			gt = 1;
		} else if (argis(q, i, "LT")) {
			lt = 1;
		} else {
			resp_error(&c->out, "ERR Unsupported option %.*s",
				   (int)(q->argl[i] < 128 ? q->argl[i] : 128),
				   q->argv[i]);
			return;
		}
	}
	if (nx && (xx || gt || lt)) {
		resp_error(&c->out, "ERR NX and XX, GT or LT options at the "
			   "same time are not compatible");
		return;
	}
	if (gt && lt) {
		resp_error(&c->out, "ERR GT and LT options at the same time "
			   "are not compatible");
		return;
	}
	int64_t when;
	if (parse_expire(c, q->argv[2], q->argl[2], !ms, absolute, 0, name,
			 &when))
		return;
	const void *v;
	size_t vl;
	int64_t cur = 0;
	int rc = kv_get_ex(c->s->kv, q->argv[1], q->argl[1], &v, &vl, &cur);
	if (rc == -ENOENT) {
		resp_int(&c->out, 0);
		return;
	}
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	/* GT treats a key without expiry as expiring never */
	if ((nx && cur) || (xx && !cur) || (gt && (!cur || when <= cur)) ||
	    (lt && cur && when >= cur)) {
		resp_int(&c->out, 0);
		return;
	}
	/* a time already passed deletes the key (kv_set_expire does) */
	rc = kv_set_expire(c->s->kv, q->argv[1], q->argl[1],
			   when ? when : -1);
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, 1);
}

/* TTL, PTTL, EXPIRETIME, PEXPIRETIME */
static void
c_ttl(struct conn *c, const struct resp_cmd *q)
{
	int ms = argis(q, 0, "PTTL") || argis(q, 0, "PEXPIRETIME");
	int abs = argis(q, 0, "EXPIRETIME") || argis(q, 0, "PEXPIRETIME");
	const void *v;
	size_t vl;
	int64_t when = 0;
	int rc = kv_get_ex(c->s->kv, q->argv[1], q->argl[1], &v, &vl, &when);
	if (rc == -ENOENT) {
		resp_int(&c->out, -2);
	} else if (rc) {
		kv_error(&c->out, rc);
	} else if (!when) {
		resp_int(&c->out, -1);
	} else if (abs) {
		resp_int(&c->out, ms ? when : (when + 500) / 1000);
	} else {
		int64_t t = when - kv_now(c->s->kv);
		if (t < 0)
			t = 0;
		resp_int(&c->out, ms ? t : (t + 500) / 1000);
	}
}

static void
c_persist(struct conn *c, const struct resp_cmd *q)
{
	const void *v;
	size_t vl;
	int64_t when = 0;
	int rc = kv_get_ex(c->s->kv, q->argv[1], q->argl[1], &v, &vl, &when);
	if (rc == 0 && when)
		rc = kv_set_expire(c->s->kv, q->argv[1], q->argl[1], 0);
	else if (rc == 0 || rc == -ENOENT) {
		resp_int(&c->out, 0);
		return;
	}
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, 1);
}

static void
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

static void
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
	if (!rc)
		touched(c->s, q->argv[1], q->argl[1]);
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

static void
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

static void
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

static void
c_mget(struct conn *c, const struct resp_cmd *q)
{
	resp_array(&c->out, q->argc - 1);
	for (int i = 1; i < q->argc; i++) {
		const void *v;
		size_t vl;
		int rc = kv_get(c->s->kv, q->argv[i], q->argl[i], &v, &vl);
		if (rc == 0)
			resp_bulk(&c->out, v, vl);
		else if (rc == -ENOENT)
			resp_null(&c->out);
		else /* a damaged entry: an error in its place */
			kv_error(&c->out, rc);
	}
}

/* MSET is atomic: one transaction for all pairs; MSETNX sets them only
 * if none exists. */
static void
c_mset(struct conn *c, const struct resp_cmd *q)
{
	int nx = argis(q, 0, "MSETNX");
	if (q->argc % 2 == 0) {
		wrong_args(&c->out, nx ? "msetnx" : "mset");
		return;
	}
	if (nx)
		for (int i = 1; i < q->argc; i += 2) {
			const void *v;
			size_t vl;
			int rc = kv_get(c->s->kv, q->argv[i], q->argl[i], &v, &vl);
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

static void
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


/* GETRANGE key start end (SUBSTR): Redis's clamping of the bounds */
static void
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
static void
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

/* RENAME key newkey, RENAMENX: the value and its time move, in one
 * transaction. */
static void
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

/* A long double as Redis's string2ld reads it: 0 on success. */
static int
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

/* INCRBYFLOAT key by: long double arithmetic, printed as Redis prints it
 * ("%.17Lf" without trailing zeros); the expiry time stays. */
static void
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
	char buf[5 * 1024 + 64];
	int l = snprintf(buf, sizeof(buf), "%.17Lf", cur);
	if (l < 0 || (size_t)l >= sizeof(buf)) {
		resp_error(&c->out, "ERR increment would produce NaN or "
			   "Infinity");
		return;
	}
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
	struct kv_setopt o = {.keepttl = 1};
	rc = kv_set(c->s->kv, q->argv[1], q->argl[1], buf, (size_t)l, &o);
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	resp_bulk(&c->out, buf, (size_t)l);
}

/* ---- MULTI / EXEC / DISCARD / WATCH ----
 *
 * MULTI queues copies of the commands that follow (each answered QUEUED;
 * one refused while queueing fails the EXEC with EXECABORT, as in Redis).
 * EXEC runs them in one nvheap transaction: atomic and durable together
 * (it nests in the loop pass's group commit like any write).  If the group
 * commit fails and the pass is re-run command by command (server.c), an
 * EXEC runs again from the copy kept in c->execs, in its own transaction;
 * the copies are dropped when the pass ends (keys_batch_done).
 */

struct execq {
	struct execq *next;
	struct qcmd *cmds;
};

static void
free_cmds(struct qcmd *m)
{
	while (m) {
		struct qcmd *n = m->next;
		free(m);
		m = n;
	}
}

void
keys_queue(struct conn *c, const struct resp_cmd *q,
	   const struct command *cmd)
{
	if (cmd->flags & CMD_REFUSE_MULTI) {
		resp_error(&c->out, "ERR Command not allowed inside a "
			   "transaction");
		c->multi_error = 1;
		return;
	}
	struct qcmd *m = qcmd_copy(c, q);
	if (!m) {
		resp_error(&c->out, "ERR out of memory");
		c->multi_error = 1;
		return;
	}
	*c->mqtail = m;
	c->mqtail = &m->next;
	c->mq_n++;
	resp_simple(&c->out, "QUEUED");
}

void
keys_batch_done(struct conn *c)
{
	while (c->execs) {
		struct execq *e = c->execs;
		c->execs = e->next;
		free_cmds(e->cmds);
		free(e);
	}
	c->exec_next = NULL;
}

static void
c_multi(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	if (c->multi) {
		resp_error(&c->out, "ERR MULTI calls can not be nested");
		return;
	}
	c->multi = 1;
	resp_simple(&c->out, "OK");
}

static void
c_discard(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	if (!c->multi) {
		resp_error(&c->out, "ERR DISCARD without MULTI");
		return;
	}
	conn_discard_multi(c);
	unwatch_all(c);
	resp_simple(&c->out, "OK");
}

static void
c_exec(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	struct server *s = c->s;
	struct qcmd *cmds;
	if (s->rerun) {
		/* the pass is re-run: this EXEC's commands, kept */
		struct execq *e = c->exec_next;
		if (!e) {
			resp_error(&c->out, "ERR EXEC without MULTI");
			return;
		}
		c->exec_next = e->next;
		cmds = e->cmds;
	} else {
		if (!c->multi) {
			resp_error(&c->out, "ERR EXEC without MULTI");
			return;
		}
		if (c->multi_error) {
			resp_error(&c->out, "EXECABORT Transaction discarded "
				   "because of previous errors.");
			conn_discard_multi(c);
			unwatch_all(c);
			return;
		}
		/* a watched key whose time has passed since is changed too */
		int dirty = c->watch_dirty;
		for (struct watch *w = c->watches; w && !dirty; w = w->next)
			dirty = w->expire && w->expire <= kv_now(s->kv);
		unwatch_all(c);
		if (dirty) {
			conn_discard_multi(c);
			resp_array(&c->out, -1);
			return;
		}
		struct execq *e = calloc(1, sizeof(*e));
		if (!e) {
			conn_discard_multi(c);
			resp_error(&c->out, "ERR out of memory");
			return;
		}
		e->cmds = c->mq;
		c->mq = NULL;
		conn_discard_multi(c);
		struct execq **t = &c->execs;
		while (*t)
			t = &(*t)->next;
		*t = e;
		c->exec_next = NULL;
		cmds = e->cmds;
	}
	long long n = 0;
	for (struct qcmd *m = cmds; m; m = m->next)
		n++;
	size_t mark = c->out.len;
	nvh_tx *tx = nvh_tx_begin(kv_pool(s->kv));
	if (!tx) {
		resp_error(&c->out, "ERR %s", nvh_errormsg());
		return;
	}
	resp_array(&c->out, n);
	for (struct qcmd *m = cmds; m; m = m->next) {
		struct resp_cmd one = {.argc = m->argc, .argv = m->argv,
				       .argl = m->argl};
		server_execute(c, &one);
	}
	if (nvh_tx_commit(tx)) {
		/* rolled back whole: say so instead of the replies */
		c->out.len = mark < c->out.len ? mark : c->out.len;
		resp_error(&c->out, "EXECABORT Transaction rolled back: %s",
			   nvh_errormsg());
	}
}

static void
c_watch(struct conn *c, const struct resp_cmd *q)
{
	if (c->multi) {
		resp_error(&c->out, "ERR WATCH inside MULTI is not allowed");
		return;
	}
	for (int i = 1; i < q->argc; i++) {
		struct watch *w;
		for (w = c->watches; w; w = w->next)
			if (w->kl == q->argl[i] &&
			    !memcmp(w->k, q->argv[i], w->kl))
				break;
		if (w)
			continue;
		w = malloc(sizeof(*w) + q->argl[i]);
		if (!w) {
			resp_error(&c->out, "ERR out of memory");
			return;
		}
		w->kl = q->argl[i];
		memcpy(w->k, q->argv[i], w->kl);
		const void *v;
		size_t vl;
		w->expire = 0;
		if (kv_get_ex(c->s->kv, w->k, w->kl, &v, &vl, &w->expire))
			w->expire = 0;
		w->next = c->watches;
		c->watches = w;
	}
	resp_simple(&c->out, "OK");
}

static void
c_unwatch(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	unwatch_all(c);
	resp_simple(&c->out, "OK");
}

void
keys_discard(struct conn *c)
{
	conn_discard_multi(c);
	unwatch_all(c);
}

void
keys_conn_free(struct conn *c)
{
	unwatch_all(c);
	keys_batch_done(c);
}

/* ---- active expiry ----
 *
 * Every 100 ms, a step of kv_expire_step looks at a bounded number of
 * keys (EXPIRE_BUDGET) from where the last step stopped and deletes the
 * expired ones in one transaction; reads already treat them as absent.
 */
#define EXPIRE_BUDGET 2000

static void
expire_cron(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct server *s = arg;
	uint64_t n = 0;
	s->expire_cursor = kv_expire_step(s->kv, s->expire_cursor,
					  EXPIRE_BUDGET, &n);
	s->expired_keys += n;
}

int
keys_init(struct server *s)
{
	struct timeval tv = {0, 100000};
	s->expire_ev = event_new(s->base, -1, EV_PERSIST, expire_cron, s);
	return s->expire_ev && !event_add(s->expire_ev, &tv) ? 0 : -1;
}

void
keys_fini(struct server *s)
{
	if (s->expire_ev)
		event_free(s->expire_ev);
	s->expire_ev = NULL;
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
	{"SETNX", c_setnx, 3, CMD_WRITE, 1, 1, 1},
	{"SETEX", c_setex, 4, CMD_WRITE, 1, 1, 1},
	{"PSETEX", c_setex, 4, CMD_WRITE, 1, 1, 1},
	{"GETSET", c_getset, 3, CMD_WRITE, 1, 1, 1},
	{"GETDEL", c_getdel, 2, CMD_WRITE, 1, 1, 1},
	{"GETEX", c_getex, -2, CMD_WRITE, 1, 1, 1},
	{"MSETNX", c_mset, -3, CMD_WRITE, 1, -1, 2},
	{"EXPIRE", c_expire, -3, CMD_WRITE, 1, 1, 1},
	{"PEXPIRE", c_expire, -3, CMD_WRITE, 1, 1, 1},
	{"EXPIREAT", c_expire, -3, CMD_WRITE, 1, 1, 1},
	{"PEXPIREAT", c_expire, -3, CMD_WRITE, 1, 1, 1},
	{"TTL", c_ttl, 2, CMD_READ, 1, 1, 1},
	{"PTTL", c_ttl, 2, CMD_READ, 1, 1, 1},
	{"EXPIRETIME", c_ttl, 2, CMD_READ, 1, 1, 1},
	{"PEXPIRETIME", c_ttl, 2, CMD_READ, 1, 1, 1},
	{"PERSIST", c_persist, 2, CMD_WRITE, 1, 1, 1},
	{"TYPE", c_type, 2, CMD_READ, 1, 1, 1},
	{"TOUCH", c_exists, -2, CMD_READ, 1, -1, 1},
	{"INCRBYFLOAT", c_incrbyfloat, 3, CMD_WRITE, 1, 1, 1},
	{"GETRANGE", c_getrange, 4, CMD_READ, 1, 1, 1},
	{"SUBSTR", c_getrange, 4, CMD_READ, 1, 1, 1},
	{"SETRANGE", c_setrange, 4, CMD_WRITE, 1, 1, 1},
	{"RENAME", c_rename, 3, CMD_WRITE, 1, 2, 1},
	{"RENAMENX", c_rename, 3, CMD_WRITE, 1, 2, 1},
	{"MULTI", c_multi, 1, CMD_NOMULTI, 0, 0, 0},
	{"EXEC", c_exec, 1, CMD_WRITE | CMD_NOMULTI, 0, 0, 0},
	{"DISCARD", c_discard, 1, CMD_NOMULTI, 0, 0, 0},
	{"WATCH", c_watch, -2, CMD_NOMULTI, 1, -1, 1},
	{"UNWATCH", c_unwatch, 1, 0, 0, 0, 0},
	{NULL, NULL, 0, 0, 0, 0, 0},
};
