/*
 * cmd_multi.c -- nvkv-server's transactions: MULTI, EXEC, DISCARD, and
 * WATCH/UNWATCH with the record of who changed a watched key (touched,
 * which every write calls).
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* ---- WATCH: keys a connection watches, and who changed them ---- */

/* Key k was changed: every connection watching it fails its EXEC. */
void
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

void
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

void
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

void
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

void
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
		enum kv_type t;
		w->expire = 0;
		if (kv_key_type(c->s->kv, w->k, w->kl, &t, &w->expire))
			w->expire = 0;
		w->next = c->watches;
		c->watches = w;
	}
	resp_simple(&c->out, "OK");
}

void
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
