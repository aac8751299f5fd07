/*
 * cmd_coll.c -- what the collection commands (cmd_hash.c, cmd_set.c)
 * share: a key's kind for a type, a count of writes in one transaction
 * (HDEL, SADD, SREM, ZREM), the listing of a collection into a reply,
 * and the HSCAN/SSCAN/ZSCAN command.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"

int
key_kind(struct conn *c, const void *k, size_t kl, enum kv_type type)
{
	enum kv_type t;
	int rc = kv_key_type(c->s->kv, k, kl, &t, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && t != type)
		rc = kv_wrongtype();
	if (rc) {
		kv_error(&c->out, rc);
		return -1;
	}
	return 1;
}

void
count_writes(struct conn *c, const struct resp_cmd *q, write_fn one)
{
	nvh_tx *tx = cmd_tx(c);
	if (!tx)
		return;
	long long n = 0;
	int rc = 0;
	for (int i = 2; i < q->argc && rc >= 0; i++) {
		rc = one(c->s->kv, q->argv[1], q->argl[1], q->argv[i],
			 q->argl[i]);
		if (rc > 0)
			n++;
	}
	if (cmd_tx_end(c, tx, rc < 0 ? rc : 0))
		return;
	if (n)
		touched(c->s, q->argv[1], q->argl[1]);
	resp_int(&c->out, n);
}

int
hcollect(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct hcollect *h = arg;
	if (h->pat && !(h->pl == 1 && h->pat[0] == '*') &&
	    !kv_glob(h->pat, h->pl, k, kl, 0))
		return 0;
	if (h->keys) {
		resp_bulk(&h->out, k, kl);
		h->n++;
	}
	if (h->vals) {
		resp_bulk(&h->out, v, vl);
		h->n++;
	}
	return h->out.oom ? -ENOMEM : 0;
}

void
reply_scan(struct conn *c, const struct resp_cmd *q, kv_scan_fn scan,
	   struct hcollect *h)
{
	int rc = scan(c->s->kv, q->argv[1], q->argl[1], hcollect, h);
	if (rc < 0 && rc != -ENOMEM) {
		resp_buf_free(&h->out);
		kv_error(&c->out, rc);
		return;
	}
	reply_collected(c, &h->out, h->n);
}

void
c_collscan(struct conn *c, const struct resp_cmd *q)
{
	int hash = argis(q, 0, "HSCAN"), zset = argis(q, 0, "ZSCAN");
	uint64_t cursor;
	if (parse_cursor(c, q->argv[2], q->argl[2], &cursor))
		return;
	int kind = key_kind(c, q->argv[1], q->argl[1],
			    hash ? KV_T_HASH : zset ? KV_T_ZSET : KV_T_SET);
	if (kind < 0)
		return;
	struct hcollect h = {.keys = 1, .vals = hash || zset};
	long long count = 10;
	for (int i = 3; kind && i < q->argc; i += 2) {
		if (i + 1 >= q->argc) {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
		if (argis(q, i, "MATCH")) {
			h.pat = q->argv[i + 1];
			h.pl = q->argl[i + 1];
		} else if (argis(q, i, "COUNT")) {
			if (parse_scan_count(c, q->argv[i + 1], q->argl[i + 1],
					     &count))
				return;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
	}
	uint64_t next = 0;
	int rc = !kind ? 0 : (hash ? kv_hscan_step : zset ? kv_zscan_step
			      : kv_sscan_step)(
		c->s->kv, q->argv[1], q->argl[1], cursor, (size_t)count,
		zset ? zscan_score : hcollect, &h, &next);
	if (rc < 0 && rc != -ENOMEM) {
		resp_buf_free(&h.out);
		kv_error(&c->out, rc);
		return;
	}
	char nb[24];
	int n = snprintf(nb, sizeof(nb), "%" PRIu64, next);
	resp_array(&c->out, 2);
	resp_bulk(&c->out, nb, (size_t)n);
	reply_collected(c, &h.out, h.n);
}

/* One pick's element. */
struct picked {
	const void *k, *v;
	size_t kl, vl;
	int got;
};

static int
picked(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	*(struct picked *)arg = (struct picked){k, v, kl, vl, 1};
	return 0;
}

int
coll_picks(struct kv *kv, kv_pick_fn pick, const void *k, size_t kl,
	   size_t want, int distinct, kv_fn fn, void *arg)
{
	/* distinct: the elements handed out so far, by where their bytes
	 * are (one entry, one address, while nothing is written), in an
	 * open-addressed table at most half full */
	size_t cap = 16;
	while (distinct && cap < 2 * want)
		cap *= 2;
	const void **seen = distinct ? calloc(cap, sizeof(*seen)) : NULL;
	if (distinct && !seen)
		return -ENOMEM;
	uint64_t seed = rnd64();
	size_t tries = 8 * want + 64, got = 0;
	int rc = 0;
	while (got < want && !rc) {
		if (!tries--) {
			rc = -EAGAIN;
			break;
		}
		struct picked e = {0};
		seed += 0x9e3779b97f4a7c15ull;
		if ((rc = pick(kv, k, kl, seed, picked, &e)) || !e.got)
			continue;
		if (distinct) {
			uint64_t x = (uint64_t)(uintptr_t)e.k;
			x = (x ^ x >> 33) * 0xff51afd7ed558ccdull;
			size_t h = (size_t)(x ^ x >> 33) & (cap - 1);
			while (seen[h] && seen[h] != e.k)
				h = (h + 1) & (cap - 1);
			if (seen[h])
				continue;
			seen[h] = e.k;
		}
		rc = fn(arg, e.k, e.kl, e.v, e.vl);
		got++;
	}
	free(seen);
	return rc;
}

/* Picks straight into a reply: the element, and its value if asked. */
struct pick_reply {
	struct resp_buf b;
	int wv;
};

static int
pick_reply(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct pick_reply *r = arg;
	resp_bulk(&r->b, k, kl);
	if (r->wv)
		resp_bulk(&r->b, v, vl);
	return 0;
}

/* Picks by descents only when they are few next to the collection
 * (redis's SRANDMEMBER and HRANDFIELD switch at the same ratio): more of
 * them are cheaper by a listing, which the reply is as large as. */
#define RAND_PICK_MUL 3

int
rand_by_picks(struct conn *c, const struct resp_cmd *q, kv_pick_fn pick,
	      kv_len_fn len, long long count, int has_count, int wv)
{
	uint64_t n;
	int rc = len(c->s->kv, q->argv[1], q->argl[1], &n);
	if (rc) {
		coll_read_error(c, rc);
		return 1;
	}
	if (has_count && count == 0) {
		resp_array(&c->out, 0);
		return 1;
	}
	int distinct = has_count && count >= 0;
	size_t want = !n || !has_count ? (n ? 1 : 0)
		      : count < 0 ? (size_t)-count
		      : (uint64_t)count < n ? (size_t)count : (size_t)n;
	if (!want || want > n / RAND_PICK_MUL + !distinct)
		return 0;
	/* into a buffer of their own: failed picks (only damaged entries
	 * met) leave the reply to the listing */
	struct pick_reply r = {.wv = wv};
	rc = coll_picks(c->s->kv, pick, q->argv[1], q->argl[1], want,
			distinct, pick_reply, &r);
	if (!rc && !r.b.oom) {
		if (has_count)
			resp_array(&c->out, (long long)(want * (wv ? 2 : 1)));
		resp_append(&c->out, &r.b);
	} else if (rc && rc != -EAGAIN) {
		coll_read_error(c, rc);
	}
	resp_buf_free(&r.b);
	return (!rc && !r.b.oom) || (rc && rc != -EAGAIN);
}

int
store_begin(struct conn *c, const char *d, size_t dl, nvh_tx **tx,
	    int *existed)
{
	if (!(*tx = cmd_tx(c)))
		return -1;
	int rc = kv_del(c->s->kv, d, dl);
	*existed = rc == 0;
	return rc == -ENOENT ? 0 : rc;
}

int
store_end(struct conn *c, nvh_tx *tx, int rc, const char *d, size_t dl,
	  int changed)
{
	if (cmd_tx_end(c, tx, rc))
		return -1;
	if (changed)
		touched(c->s, d, dl);
	return 0;
}

int
mpop_args(struct conn *c, const struct resp_cmd *q, const char *w0,
	  const char *w1, int *first, long long *count)
{
	long long nk;
	if (resp_strtoll(q->argv[1], q->argl[1], &nk) || nk < 1) {
		resp_error(&c->out, "ERR numkeys should be greater than 0");
		return -1;
	}
	int w = 2 + (nk < q->argc ? (int)nk : q->argc);
	if (nk > q->argc - 2 || w >= q->argc ||
	    (!argis(q, w, w0) && !argis(q, w, w1))) {
		resp_error(&c->out, "ERR syntax error");
		return -1;
	}
	*first = argis(q, w, w0);
	*count = 1;
	if (w + 1 == q->argc)
		return (int)nk;
	if (w + 3 != q->argc || !argis(q, w + 1, "COUNT")) {
		resp_error(&c->out, "ERR syntax error");
		return -1;
	}
	if (resp_strtoll(q->argv[w + 2], q->argl[w + 2], count) ||
	    *count < 1) {
		resp_error(&c->out, "ERR count should be greater than 0");
		return -1;
	}
	return (int)nk;
}

void
coll_read_error(struct conn *c, int rc)
{
	if (rc == -ENOMEM)
		resp_error(&c->out, "ERR out of memory");
	else
		kv_error(&c->out, rc);
}

int
parse_rand_args(struct conn *c, const struct resp_cmd *q, const char *with,
		long long *count, int *has_count, int *withv)
{
	*count = 1;
	*has_count = q->argc >= 3;
	*withv = with && q->argc == 4;
	if (q->argc > (with ? 4 : 3) ||
	    (q->argc == 4 && !argis(q, 3, with))) {
		resp_error(&c->out, "ERR syntax error");
		return -1;
	}
	if (*has_count && resp_strtoll(q->argv[2], q->argl[2], count)) {
		resp_error(&c->out, "ERR value is not an integer or out of "
			   "range");
		return -1;
	}
	if (*count == LLONG_MIN) {
		resp_error(&c->out, "ERR value is out of range, value must "
			   "between -9223372036854775807 and "
			   "9223372036854775807");
		return -1;
	}
	if (*count < 0 && *withv && -*count > LLONG_MAX / 2) {
		resp_error(&c->out, "ERR value is out of range");
		return -1;
	}
	return 0;
}
