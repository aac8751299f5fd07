/*
 * cmd_reply.c -- the replies the command files share: a kv error as
 * an error reply, text built with printf into one bulk reply (INFO,
 * CLIENT LIST), and redis's subcommand errors and HELP arrays (CLIENT,
 * CONFIG, COMMAND); a command's one transaction; random numbers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cmd.h"

/* A damaged entry is an error reply and a log line, never data. */
void
kv_error(struct resp_buf *o, int rc)
{
	if (rc == -ENOSPC) {
		resp_error(o, "OOM %s", kv_errmsg());
	} else if (rc == -EMEDIUMTYPE) {
		resp_error(o, "%s", kv_errmsg()); /* "WRONGTYPE ..." */
	} else {
		if (rc == -EIO)
			fprintf(stderr, "nvkv-server: %s\n", kv_errmsg());
		resp_error(o, "ERR %s", kv_errmsg());
	}
}

/* ---- a command's transaction ---- */

/* The kv calls of fn nest in one transaction: all or nothing. */
nvh_tx *
cmd_tx(struct conn *c)
{
	nvh_tx *tx = nvh_tx_begin(kv_pool(c->s->kv));
	if (!tx)
		resp_error(&c->out, "ERR %s", nvh_errormsg());
	return tx;
}

/* End the command's transaction: commit if rc is 0 (0, or the commit's
 * error replied: -1), else abort and reply rc's error (-1). */
int
cmd_tx_end(struct conn *c, nvh_tx *tx, int rc)
{
	if (rc) {
		/* the message first: the abort may set another */
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", kv_errmsg());
		nvh_tx_abort(tx);
		if (rc == -EMEDIUMTYPE)
			resp_error(&c->out, "%s", msg);
		else
			resp_error(&c->out, "%s %s", rc == -ENOSPC ? "OOM"
				   : "ERR", msg);
		return -1;
	}
	if (nvh_tx_commit(tx)) {
		resp_error(&c->out, "ERR %s", nvh_errormsg());
		return -1;
	}
	return 0;
}

/* A random 64-bit number (HRANDFIELD, SRANDMEMBER, SPOP). */
uint64_t
rnd64(void)
{
	uint64_t x;
	if (getrandom(&x, sizeof(x), 0) != sizeof(x))
		x = (uint64_t)random() << 31 ^ (uint64_t)random();
	return x;
}

/* ---- text building (INFO, CLIENT LIST) ---- */

void __attribute__((format(printf, 2, 3)))
tprintf(struct resp_buf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->oom)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(b->p ? b->p + b->len : NULL,
			  b->p ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = (b->len + (size_t)n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Send the text as one bulk reply and free it. */
void
reply_text(struct conn *c, struct resp_buf *t)
{
	if (t->oom)
		c->out.oom = 1;
	else
		resp_bulk(&c->out, t->p ? t->p : "", t->len);
	resp_buf_free(t);
}

void
reply_cstr(struct conn *c, const char *s)
{
	resp_bulk(&c->out, s, strlen(s));
}

/* redis's error for a subcommand it does not know */
void
unknown_sub(struct conn *c, const struct resp_cmd *q, const char *cmd)
{
	int l = q->argl[1] > 128 ? 128 : (int)q->argl[1];
	resp_error(&c->out, "ERR unknown subcommand '%.*s'. Try %s HELP.", l,
		   q->argv[1], cmd);
}

/* Subcommand arity as in redis's table (exact if > 0, at least -n if
 * < 0); on a mismatch, redis's error naming "cmd|sub", and 0. */
int
sub_arity(struct conn *c, const struct resp_cmd *q, const char *full,
	  int arity)
{
	if ((arity > 0 && q->argc == arity) ||
	    (arity < 0 && q->argc >= -arity))
		return 1;
	wrong_args(&c->out, full);
	return 0;
}

void
reply_help(struct conn *c, const char *const *lines)
{
	int n = 0;
	while (lines[n])
		n++;
	resp_array(&c->out, n);
	for (int i = 0; i < n; i++)
		resp_simple(&c->out, lines[i]);
}

int
bytes_eq(const char *p, size_t l, const char *s)
{
	return l == strlen(s) && !memcmp(p, s, l);
}
