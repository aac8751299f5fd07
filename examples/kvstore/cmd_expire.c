/*
 * cmd_expire.c -- nvkv-server's expiry: the expiry arguments every command
 * with a time reads (parse_expire, expire_opt: SET, SETEX, GETEX use
 * them too), EXPIRE and its family, TTL and its family, PERSIST, and
 * active expiry.  Expiry is lazy in the kv library (an expired key
 * reads as absent); the timer here deletes expired keys a bounded step
 * at a time.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <event2/event.h>

#include "cmd.h"

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
int
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
int
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

/* EXPIRE key seconds [NX|XX|GT|LT], PEXPIRE, EXPIREAT, PEXPIREAT */
void
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
	enum kv_type ty;
	int64_t cur = 0;
	int rc = kv_key_type(c->s->kv, q->argv[1], q->argl[1], &ty, &cur);
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
void
c_ttl(struct conn *c, const struct resp_cmd *q)
{
	int ms = argis(q, 0, "PTTL") || argis(q, 0, "PEXPIRETIME");
	int abs = argis(q, 0, "EXPIRETIME") || argis(q, 0, "PEXPIRETIME");
	enum kv_type ty;
	int64_t when = 0;
	int rc = kv_key_type(c->s->kv, q->argv[1], q->argl[1], &ty, &when);
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

void
c_persist(struct conn *c, const struct resp_cmd *q)
{
	enum kv_type ty;
	int64_t when = 0;
	int rc = kv_key_type(c->s->kv, q->argv[1], q->argl[1], &ty, &when);
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
	if (n)
		server_reclaim_kick(s); /* what the deletes left dying */
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
