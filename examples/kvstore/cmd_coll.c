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
