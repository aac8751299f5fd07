/*
 * server.c -- nvkv-server: the key-value store behind the Redis protocol
 * (RESP2), so redis-cli and redis-benchmark work unmodified.
 *
 *   nvkv-server [--pool PATH] [--bind ADDR] [--port N] [--requirepass S]
 *               [--index hash|btree] [--size SIZE]
 *               [--max-size SIZE|unlimited|fixed] [--maxclients N]
 *
 * A new pool starts at --size (default 8 MiB) and grows in place as the
 * store fills, until the file system is full or up to --max-size;
 * --max-size fixed makes it fixed-size (--size, default 256 MiB), as
 * pools were before they could grow.  For an existing pool --max-size
 * changes its policy.  A write that finds the pool full (fixed, at its
 * maximum, or the file system full when it tried to grow) changes
 * nothing and is answered -OOM with the reason.
 *
 * One thread runs a libevent loop over every connection; commands run to
 * completion in arrival order, so pipelined commands are answered in
 * order.  A write is answered only after its transaction committed
 * (durable).  Bad input never crashes the server or grows its memory
 * without bound: protocol errors close the connection with an -ERR reply,
 * a connection whose unparsed input exceeds MAX_QUERY is closed, one
 * that has not authenticated may declare only Redis's small counts and
 * lengths, a client's commands stop running (and its input is not read)
 * while more than PAUSE_OUTPUT of its replies are unread, and a client
 * beyond maxclients, or arriving when descriptors have run out, is told
 * so and closed.  SIGTERM and SIGINT close the pool cleanly.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "server.h"

/* What Redis lets a client that has not authenticated declare. */
#define UNAUTH_MAX_ARGS 10
#define UNAUTH_MAX_BULK 16384
/* Descriptors kept beyond maxclients (the pool, the loop, the listener,
 * the reserve), as Redis keeps 32. */
#define RESERVED_FDS 32
#define ACCEPT_PAUSE_MS 100  /* listening again after a failed accept */

static const char MAXCLIENTS_ERR[] = "-ERR max number of clients reached\r\n";

const struct command *
server_lookup(const struct resp_cmd *q)
{
	FOR_EACH_COMMAND(cmd)
		if (argis(q, 0, cmd->name))
			return cmd;
	return NULL;
}

uint64_t
server_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
is_write(const struct resp_cmd *q)
{
	const struct command *cmd = server_lookup(q);
	return cmd && (cmd->flags & CMD_WRITE);
}

void
server_execute(struct conn *c, const struct resp_cmd *q)
{
	struct server *s = c->s;
	s->commands++;
	const struct command *cmd = server_lookup(q);
	/* Redis's order: unknown command, wrong arity, then NOAUTH */
	if (!cmd) {
		/* Redis's text: the name up to 128 bytes, then arguments
		 * while the list is under 128 bytes, each cut to what is left
		 * of the 128 (as "%.*s" does, stopping at a NUL byte) */
		char name[129], args[128 + 128 + 4];
		size_t n = strnlen(q->argv[0],
				   q->argl[0] < 128 ? q->argl[0] : 128);
		memcpy(name, q->argv[0], n);
		name[n] = 0;
		size_t o = 0;
		for (int i = 1; i < q->argc && o < 128; i++) {
			size_t l = strnlen(q->argv[i], q->argl[i]);
			if (l > 128 - o)
				l = 128 - o;
			args[o++] = '\'';
			memcpy(args + o, q->argv[i], l);
			o += l;
			args[o++] = '\'';
			args[o++] = ' ';
		}
		args[o] = 0;
		resp_error(&c->out, "ERR unknown command '%s', with args "
			   "beginning with: %s", name, args);
		if (c->multi) /* the EXEC will be refused */
			c->multi_error = 1;
		return;
	}
	int write = (cmd->flags & CMD_WRITE) != 0;
	if (write && !s->rerun && !s->batch) {
		/* the first write of this loop iteration: the transaction the
		 * iteration's writes share (each kv call nests in it) */
		s->batch = nvh_tx_begin(kv_pool(s->kv));
	}
	s->nwrites += (size_t)write;
	if ((cmd->arity > 0 && q->argc != cmd->arity) ||
	    (cmd->arity < 0 && q->argc < -cmd->arity)) {
		char lower[16];
		size_t i = 0;
		for (; cmd->name[i] && i < sizeof(lower) - 1; i++)
			lower[i] = (char)(cmd->name[i] | 0x20);
		lower[i] = 0;
		if (c->multi && !strcmp(cmd->name, "EXEC")) {
			/* Redis ends the transaction at once */
			resp_error(&c->out, "EXECABORT Transaction discarded "
				   "because of: wrong number of arguments for "
				   "'%s' command", lower);
			keys_discard(c);
			return;
		}
		wrong_args(&c->out, lower);
		if (c->multi)
			c->multi_error = 1;
		return;
	}
	if (s->pass && !c->authed && !(cmd->flags & CMD_NOAUTH)) {
		resp_error(&c->out, "NOAUTH Authentication required.");
		if (c->multi)
			c->multi_error = 1;
		return;
	}
	if (c->multi && !(cmd->flags & CMD_NOMULTI)) {
		keys_queue(c, q, cmd); /* MULTI: run at EXEC */
		return;
	}
	size_t ln = strlen(cmd->name);
	ln = ln < sizeof(c->lastcmd) - 1 ? ln : sizeof(c->lastcmd) - 1;
	for (size_t i = 0; i < ln; i++)
		c->lastcmd[i] = (char)(cmd->name[i] | 0x20);
	c->lastcmd[ln] = 0;
	cmd->fn(c, q);
}

/* ---- connections and group commit ----
 *
 * A loop iteration runs the commands that arrived on every ready
 * connection; the first write opens a transaction that every later write
 * of the iteration joins (kv calls nest), and every reply is held back.
 * Then the commit event, at a lower priority than the connections' and so
 * run after all of them, commits once (one set of barriers for all those
 * writes, like Redis's appendfsync always) and only then sends the
 * replies.  Commands that ran while the batch was open, reads included
 * (they may have seen its writes), are answered only after the commit;
 * a connection that only read before any write is answered at once.  If
 * the shared commit fails (a full pool, say), it was rolled back whole:
 * the commands that ran in the batch are run again one transaction each,
 * from copies, so each gets its own answer.
 */

/* Drop what MULTI queued (cmd_multi.c runs it at EXEC). */
void
conn_discard_multi(struct conn *c)
{
	while (c->mq) {
		struct qcmd *m = c->mq;
		c->mq = m->next;
		free(m);
	}
	c->mqtail = &c->mq;
	c->mq_n = 0;
	c->multi = c->multi_error = 0;
}

/* Reading a connection: the server's own EV_READ|EV_PERSIST event on its
 * socket, not the bufferevent's (whose read asks the socket how much it
 * holds, an ioctl per read); the bufferevent only writes.  Turned off
 * and on only when a connection pauses, waits its turn or closes. */
static void
conn_read(struct conn *c, int on)
{
	if (!c->rev)
		return;
	if (on)
		event_add(c->rev, NULL);
	else
		event_del(c->rev);
}

static void
conn_free(struct conn *c)
{
	struct server *s = c->s;
	s->clients--;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->more) { /* rare (a peer gone while waiting): a walk will do */
		struct conn **pp = &s->ready;
		while (*pp != c)
			pp = &(*pp)->next_ready;
		*pp = c->next_ready;
		if (!*pp)
			s->ready_tail = pp;
	}
	if (c->pending) { /* the same */
		struct conn **pp = &s->pend;
		while (*pp != c)
			pp = &(*pp)->next_pend;
		*pp = c->next_pend;
		if (!*pp)
			s->pend_tail = pp;
	}
	conn_discard_multi(c);
	keys_conn_free(c);
	free(c->name);
	if (c->rev)
		event_free(c->rev);
	bufferevent_free(c->bev);
	resp_cmd_free(&c->cmd);
	resp_buf_free(&c->out);
	free(c);
}

static void
mark_dirty(struct conn *c)
{
	struct server *s = c->s;
	if (!c->dirty) {
		c->dirty = 1;
		c->next_dirty = s->dirty;
		s->dirty = c;
	}
	event_active(s->commit_ev, EV_WRITE, 0);
}

/* A copy of command q in one allocation: the batch's (for a re-run) and
 * MULTI's queue (cmd_multi.c). */
struct qcmd *
qcmd_copy(struct conn *c, const struct resp_cmd *q)
{
	size_t bytes = 0;
	for (int i = 0; i < q->argc; i++)
		bytes += q->argl[i];
	struct qcmd *m = malloc(sizeof(*m) + (size_t)q->argc *
				(sizeof(char *) + sizeof(size_t)) + bytes);
	if (!m)
		return NULL;
	m->c = c;
	m->next = NULL;
	m->authed = c->authed;
	m->argc = q->argc;
	m->argv = (const char **)(m + 1);
	m->argl = (size_t *)(m->argv + q->argc);
	char *p = (char *)(m->argl + q->argc);
	for (int i = 0; i < q->argc; i++) {
		memcpy(p, q->argv[i], q->argl[i]);
		m->argv[i] = p;
		m->argl[i] = q->argl[i];
		p += q->argl[i];
	}
	return m;
}

/* Keep a copy of the command for a possible re-run. */
static int
queue_cmd(struct conn *c, const struct resp_cmd *q)
{
	struct qcmd *m = qcmd_copy(c, q);
	if (!m)
		return -1;
	*c->s->qtail = m;
	c->s->qtail = &m->next;
	return 0;
}

static int flush_conn(struct conn *c);

/* Replies not yet sent: built, or handed to the socket's buffer. */
static size_t
conn_pending(struct conn *c)
{
	return c->out.len +
	       evbuffer_get_length(bufferevent_get_output(c->bev));
}

/*
 * Let c run its commands again at the next commit event, after the
 * connections already waiting (round robin: each gets a batch's worth in
 * turn).  It is not read meanwhile: it has commands to run, and its
 * input must not grow while it waits.
 */
static void
ready_push(struct conn *c)
{
	struct server *s = c->s;
	if (!c->more) {
		c->more = 1;
		c->next_ready = NULL;
		*s->ready_tail = c;
		s->ready_tail = &c->next_ready;
		conn_read(c, 0);
	}
	event_active(s->commit_ev, EV_WRITE, 0);
}

static struct conn *
ready_pop(struct server *s)
{
	struct conn *c = s->ready;
	if (c) {
		s->ready = c->next_ready;
		if (!s->ready)
			s->ready_tail = &s->ready;
		c->more = 0;
		if (!c->paused && !c->closing && !c->dead)
			conn_read(c, 1);
	}
	return c;
}

/* A paused connection whose client has read most of its replies runs
 * what it has buffered, in turn. */
static void
maybe_resume(struct conn *c)
{
	if (c->paused && !c->dirty && !c->closing && !c->dead &&
	    conn_pending(c) <= PAUSE_OUTPUT / 2) {
		c->paused = 0;
		ready_push(c);
	}
}

/*
 * Prepared batches.  On an ordinary file every snapshot a write takes is
 * an msync (~80 us here), and a batch of 50 writes to new keys takes one
 * or more each.  So there (s->prepare) a readable connection's commands
 * do not run at once: it waits on s->pend, and the commit event, after
 * every read of the loop pass, first collects the keys of the writes in
 * all their input (the key positions of the command table), opens the
 * batch's transaction and snapshots what those writes may change in one
 * call (kv_prepare: one msync), then runs their commands as on_read
 * would, then commits.  The replies are the same; reads that come with
 * writes in the pass wait for the commit, as Redis's replies wait for
 * its fsync.
 */
static void run_input(struct conn *c);

static void
pend_push(struct conn *c)
{
	struct server *s = c->s;
	if (!c->pending) {
		c->pending = 1;
		c->next_pend = NULL;
		*s->pend_tail = c;
		s->pend_tail = &c->next_pend;
	}
	event_active(s->commit_ev, EV_WRITE, 0);
}

/* Input scanned for keys per connection and pass: a long pipeline's rest
 * runs unprepared (and a paused connection's buffer is not parsed whole
 * on every pass). */
#define PREPARE_SCAN (1u << 20)

/* The keys the complete commands in c's input write, in its first
 * PREPARE_SCAN bytes, appended to k/kl (room for `max`); returns how
 * many. */
static size_t
write_keys(struct conn *c, const void **k, size_t *kl, size_t max)
{
	struct server *s = c->s;
	if (c->closing || c->paused || c->dead || (s->pass && !c->authed))
		return 0;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in), off = 0, n = 0;
	if (!len)
		return 0;
	if (len > PREPARE_SCAN)
		len = PREPARE_SCAN; /* a command cut here is simply not seen */
	const char *buf = (const char *)evbuffer_pullup(in, (ssize_t)len);
	struct resp_cmd q;
	memset(&q, 0, sizeof(q));
	while (off < len && n < max) {
		size_t used = 0;
		const char *err = NULL;
		if (resp_parse(&q, buf + off, len - off, &used, &err) != RESP_OK)
			break;
		off += used;
		const struct command *cmd = q.argc ? server_lookup(&q) : NULL;
		if (cmd && (cmd->flags & CMD_WRITE) && cmd->first > 0) {
			int last = cmd->last < 0 ? q.argc + cmd->last : cmd->last;
			for (int i = cmd->first; i <= last && i < q.argc && n < max;
			     i += cmd->step > 0 ? cmd->step : 1) {
				k[n] = q.argv[i]; /* into `buf`: valid until the
						   * input is drained */
				kl[n++] = q.argl[i];
			}
		}
		resp_cmd_reset(&q);
	}
	resp_cmd_free(&q);
	return n;
}

/* The commit event's first step: snapshot the pending connections'
 * writes in one call, then run them. */
static void
run_pending(struct server *s)
{
	static const void *k[BATCH_MAX];
	static size_t kl[BATCH_MAX];
	size_t n = 0;
	for (struct conn *c = s->pend; c && n < BATCH_MAX; c = c->next_pend)
		n += write_keys(c, k + n, kl + n, BATCH_MAX - n);
	if (n && !s->batch)
		s->batch = nvh_tx_begin(kv_pool(s->kv));
	if (n && s->batch)
		kv_prepare(s->kv, k, kl, n); /* a failure fails the batch:
					      * its commands then run alone */
	while (s->pend) {
		struct conn *c = s->pend;
		s->pend = c->next_pend;
		if (!s->pend)
			s->pend_tail = &s->pend;
		c->pending = 0;
		run_input(c);
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (c->s->prepare && !c->s->rerun)
		pend_push(c);
	else
		run_input(c);
}

static void
run_input(struct conn *c)
{
	struct server *s = c->s;
	struct bufferevent *bev = c->bev;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!c->closing && !c->paused && !c->dead) {
		size_t len = evbuffer_get_length(in);
		if (len == 0)
			break;
		if (s->nwrites >= BATCH_MAX) {
			ready_push(c); /* after this batch's commit */
			break;
		}
		if (conn_pending(c) > PAUSE_OUTPUT) {
			/* a client with this much to read gets no more until it
			 * has read it; the rest of its input waits */
			c->paused = 1;
			conn_read(c, 0);
			break;
		}
		const char *buf = (const char *)evbuffer_pullup(in, -1);
		size_t used = 0;
		const char *err = NULL;
		/* before AUTH a client may not make us buffer much (Redis's
		 * limits, and its answers) */
		int unauth = s->pass && !c->authed;
		c->cmd.lim_args = unauth ? UNAUTH_MAX_ARGS : 0;
		c->cmd.lim_bulk = unauth ? UNAUTH_MAX_BULK : 0;
		int st = resp_parse(&c->cmd, buf, len, &used, &err);
		if (st == RESP_INCOMPLETE) {
			if (len > MAX_QUERY) {
				resp_error(&c->out, "ERR Protocol error: query "
					   "larger than %u bytes", MAX_QUERY);
				c->closing = 1;
			}
			break;
		}
		if (st == RESP_ERR) {
			resp_error(&c->out, "ERR %s", err ? err : "Protocol error");
			c->closing = 1;
			break;
		}
		/* Once c has replies held back for the batch, every later
		 * command of the pass is in the batch too: its reply follows
		 * theirs, and a re-run (which starts again from c->mark) runs
		 * it again instead of losing it. */
		if (c->cmd.argc > 0 &&
		    (s->batch || c->dirty || is_write(&c->cmd))) {
			/* in the batch: keep a copy for a re-run */
			if (!c->dirty)
				c->mark = c->out.len;
			mark_dirty(c);
			if (queue_cmd(c, &c->cmd)) {
				resp_error(&c->out, "ERR out of memory");
				c->closing = 1;
			} else {
				server_execute(c, &c->cmd);
			}
		} else if (c->cmd.argc > 0) {
			server_execute(c, &c->cmd);
		}
		evbuffer_drain(in, used);
		resp_cmd_reset(&c->cmd);
	}
	if (!c->dirty)
		flush_conn(c); /* nothing of the batch: answer now */
}

/* Send what c has; close it if its state says so, or if the replies it
 * has not read pass MAX_OUTPUT (possible only through one huge reply:
 * its commands stop running above PAUSE_OUTPUT).  Returns 1 if c was
 * freed. */
static int
flush_conn(struct conn *c)
{
	struct evbuffer *outb = bufferevent_get_output(c->bev);
	if (c->dead) {
		conn_free(c);
		return 1;
	}
	if (c->out.oom) { /* a reply could not be built: the stream is torn */
		c->closing = 1;
		resp_buf_reset(&c->out);
	} else if (c->out.len) {
		/* Straight to the socket when nothing is queued before it:
		 * handing the bytes to the bufferevent costs two epoll_ctl
		 * per reply (its write event added, then removed once the
		 * buffer drains); only what the socket does not take now
		 * goes through it. */
		size_t done = 0;
		if (evbuffer_get_length(outb) == 0) {
			ssize_t n = send(bufferevent_getfd(c->bev), c->out.p,
					 c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				done = (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
				 errno != EINTR)
				c->closing = 1; /* the peer is gone */
		}
		if (!c->closing && done < c->out.len &&
		    bufferevent_write(c->bev, c->out.p + done, c->out.len - done))
			c->closing = 1;
		resp_buf_reset(&c->out);
	}
	size_t pending = evbuffer_get_length(outb);
	if (pending > MAX_OUTPUT) {
		c->closing = 1;
		evbuffer_drain(outb, pending);
	}
	if (c->closing) {
		conn_read(c, 0);
		if (evbuffer_get_length(outb) == 0) {
			conn_free(c);
			return 1;
		}
		return 0;
	}
	maybe_resume(c);
	return 0;
}

/*
 * Background freeing.  Deleting a big value (DEL, UNLINK, FLUSHALL, SET
 * over it, expiry, the last pop) is one small commit, but nvheap frees
 * its objects after the commit, in crash-atomic steps of at most 16 KiB
 * of record: a million-element list is thousands of steps, seconds on
 * an msync pool.  So a commit here takes at most RECLAIM_COMMIT_STEPS of
 * them (nvh_set_drain_steps) and this thread, kicked after every batch,
 * runs the rest (nvh_reclaim) while the loop serves.  What is still
 * dying at a close is freed by the next open.  A batch that fails may
 * have failed for space the dying objects hold: it first frees them all
 * (on_commit), so a full pool's -OOM is true.
 */
#define RECLAIM_COMMIT_STEPS 8
#define RECLAIM_SLICE 16

static void *
reclaim_main(void *arg)
{
	struct server *s = arg;
	pthread_mutex_lock(&s->reclaim_lock);
	while (!s->reclaim_stop) {
		while (!s->reclaim_kicked && !s->reclaim_stop)
			pthread_cond_wait(&s->reclaim_cond, &s->reclaim_lock);
		s->reclaim_kicked = 0;
		pthread_mutex_unlock(&s->reclaim_lock);
		int more = 1;
		while (more && !atomic_load(&s->reclaim_stop_now)) {
			if (nvh_reclaim(kv_pool(s->kv), RECLAIM_SLICE, &more)) {
				fprintf(stderr, "nvkv-server: freeing: %s\n",
					nvh_errormsg());
				break; /* (the next kick tries again) */
			}
			atomic_fetch_add(&s->reclaim_steps, 1);
		}
		pthread_mutex_lock(&s->reclaim_lock);
	}
	pthread_mutex_unlock(&s->reclaim_lock);
	return NULL;
}

void
server_reclaim_kick(struct server *s)
{
	if (!s->reclaim_running)
		return;
	pthread_mutex_lock(&s->reclaim_lock);
	s->reclaim_kicked = 1;
	pthread_cond_signal(&s->reclaim_cond);
	pthread_mutex_unlock(&s->reclaim_lock);
}

static void
reclaim_start(struct server *s)
{
	pthread_mutex_init(&s->reclaim_lock, NULL);
	pthread_cond_init(&s->reclaim_cond, NULL);
	nvh_set_drain_steps(kv_pool(s->kv), RECLAIM_COMMIT_STEPS);
	s->reclaim_running = !pthread_create(&s->reclaimer, NULL, reclaim_main,
					     s);
	if (!s->reclaim_running) /* no thread: every commit frees it all */
		nvh_set_drain_steps(kv_pool(s->kv), 0);
	server_reclaim_kick(s);
}

static void
reclaim_stop(struct server *s)
{
	if (s->reclaim_running) {
		pthread_mutex_lock(&s->reclaim_lock);
		s->reclaim_stop = 1;
		atomic_store(&s->reclaim_stop_now, 1);
		pthread_cond_signal(&s->reclaim_cond);
		pthread_mutex_unlock(&s->reclaim_lock);
		pthread_join(s->reclaimer, NULL);
		s->reclaim_running = 0;
	}
	pthread_cond_destroy(&s->reclaim_cond);
	pthread_mutex_destroy(&s->reclaim_lock);
}

static void
on_commit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct server *s = arg;
	if (s->pend)
		run_pending(s);
	if (s->batch) {
		s->batches++;
		s->batch_writes += s->nwrites;
		int rc = nvh_tx_commit(s->batch);
		s->batch = NULL;
		if (rc) {
			/* rolled back whole: run each command alone, after
			 * freeing what is dying (its space may be why) */
			s->batch_reruns++;
			(void)nvh_reclaim(kv_pool(s->kv), 0, NULL);
			for (struct conn *c = s->dirty; c;
			     c = c->next_dirty) {
				c->out.len = c->mark < c->out.len ? c->mark
								  : c->out.len;
				c->exec_next = c->execs; /* EXECs re-run */
			}
			s->rerun = 1;
			for (struct qcmd *m = s->q; m; m = m->next) {
				struct resp_cmd q = {.argc = m->argc,
						     .argv = m->argv,
						     .argl = m->argl};
				/* as it ran: a write refused before an AUTH of
				 * the same pass is refused again (the AUTH
				 * re-runs after it) */
				m->c->authed = m->authed;
				server_execute(m->c, &q);
			}
			s->rerun = 0;
		}
		server_reclaim_kick(s); /* what the batch left dying */
	}
	s->nwrites = 0;
	while (s->q) {
		struct qcmd *m = s->q;
		s->q = m->next;
		free(m);
	}
	s->qtail = &s->q;
	struct conn *list = s->dirty;
	s->dirty = NULL;
	while (list) {
		struct conn *c = list;
		list = c->next_dirty;
		c->dirty = 0;
		keys_batch_done(c); /* the pass is over: no re-run of it */
		flush_conn(c);
	}
	/* connections with commands left go on in turn, as long as the new
	 * batch has room; one that fills it goes to the back, and the rest
	 * keep their place for the next pass */
	struct conn *c;
	while (s->nwrites < BATCH_MAX && (c = ready_pop(s)))
		on_read(c->bev, c);
	if (s->ready)
		event_active(s->commit_ev, EV_WRITE, 0);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->dirty)
		return; /* the commit event flushes it */
	size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
	if (c->closing && pending == 0) {
		conn_free(c);
		return;
	}
	maybe_resume(c); /* commands may be waiting in the input */
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (c->dirty) { /* its commands still commit; no one to answer */
		c->dead = 1;
		conn_read(c, 0);
		bufferevent_disable(bev, EV_WRITE);
		return;
	}
	conn_free(c);
}

/* c's socket is readable: one read into its input buffer, then its
 * commands (on_read); end of file or an error as the bufferevent would
 * report them. */
static void
on_sock_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(in, 64 << 10, &v, 1) < 1) {
		on_event(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
		return;
	}
	ssize_t n = recv(fd, v.iov_base, v.iov_len, 0);
	if (n > 0) {
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
		on_read(c->bev, c);
	} else if (n == 0) {
		on_event(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		on_event(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
	}
}

/* Redis's answer to a client beyond maxclients: best effort (a new
 * socket's buffer has room for it), then close. */
static void
refuse(struct server *s, evutil_socket_t fd)
{
	ssize_t n = send(fd, MAXCLIENTS_ERR, sizeof(MAXCLIENTS_ERR) - 1,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)n;
	evutil_closesocket(fd);
	s->rejected_clients++;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A failing accept repeats as fast as the loop turns: one line a second
 * at most, with how many failed since. */
static void
accept_warn(struct server *s, int err)
{
	s->accept_errors++;
	uint64_t now = mono_ms();
	if (s->accept_log_ms && now - s->accept_log_ms < 1000)
		return;
	fprintf(stderr, "nvkv-server: accept: %s (%" PRIu64 " time%s since "
		"the last message)\n", strerror(err), s->accept_errors,
		s->accept_errors == 1 ? "" : "s");
	s->accept_errors = 0;
	s->accept_log_ms = now;
}

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct server *s = arg;
	evconnlistener_enable(s->listener);
}

/*
 * accept() failed with something other than a retriable error.  The
 * connection stays in the backlog, so the listener would fire again at
 * once: out of descriptors (EMFILE, ENFILE), the reserve descriptor
 * makes room to take it off and answer it as Redis answers a client
 * beyond maxclients; without a reserve (or for other errors) the
 * listener pauses for ACCEPT_PAUSE_MS.  Either way, no busy loop.
 */
static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct server *s = arg;
	int err = EVUTIL_SOCKET_ERROR();
	accept_warn(s, err);
	if ((err == EMFILE || err == ENFILE) && s->reserve_fd >= 0) {
		int lfd = (int)evconnlistener_get_fd(l);
		/* a bounded number per call: the loop serves the others */
		for (int i = 0; i < 64 && s->reserve_fd >= 0; i++) {
			close(s->reserve_fd);
			int fd = accept4(lfd, NULL, NULL,
					 SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd >= 0)
				refuse(s, fd);
			s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				break;
		}
		if (s->reserve_fd >= 0)
			return;
	}
	evconnlistener_disable(l);
	struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
	event_add(s->accept_ev, &tv);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	(void)l, (void)salen;
	struct server *s = arg;
	if (s->clients >= s->maxclients) {
		refuse(s, fd);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev = c ? bufferevent_socket_new(
		s->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
	if (!bev) {
		free(c);
		evutil_closesocket(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->s = s;
	c->bev = bev;
	c->id = ++s->next_client_id;
	c->created_ms = server_now_ms();
	c->mqtail = &c->mq;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(c->addr, sizeof(c->addr), "%s:%u", ip,
			 (unsigned)ntohs(in->sin_port));
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->clients++;
	s->total_clients++;
	bufferevent_priority_set(bev, 0); /* before the commit event */
	/* on_write runs once the client has read down to this: a paused
	 * connection resumes there, not only once everything is read */
	bufferevent_setwatermark(bev, EV_WRITE, PAUSE_OUTPUT / 2, 0);
	bufferevent_setcb(bev, NULL, on_write, on_event, c);
	bufferevent_enable(bev, EV_WRITE);
	/* a bufferevent keeps the end of its input buffer frozen except
	 * while it reads itself; here on_sock_read appends to it */
	evbuffer_unfreeze(bufferevent_get_input(bev), 0);
	if (!(c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_sock_read,
				 c)) || event_priority_set(c->rev, 0)) {
		conn_free(c);
		return;
	}
	conn_read(c, 1);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	struct server *s = arg;
	s->stopping = 1;
	event_base_loopexit(s->base, NULL);
}

/* ---- main ---- */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nvkv-server [--pool PATH] [--bind ADDR] [--port N]\n"
		"                   [--requirepass SECRET] [--index hash|btree]\n"
		"                   [--size SIZE] [--max-size SIZE|unlimited|fixed]\n"
		"                   [--maxclients N]\n"
		"  --pool PATH        the store (default ./data/nvkv.pool; created\n"
		"                     with --index and --size if missing)\n"
		"  --size SIZE        a new pool's first size (default 8M; K, M, G\n"
		"                     suffixes); it grows as the store fills\n"
		"  --max-size M       how far it grows: a SIZE, unlimited (the\n"
		"                     default: until the file system is full) or\n"
		"                     fixed (a fixed --size, default 256M); for an\n"
		"                     existing pool, changes its policy\n"
		"  --bind ADDR        listen address (default 127.0.0.1)\n"
		"  --port N           TCP port (default 6379, or the next free one\n"
		"                     up to 6399 when --port is not given)\n"
		"  --requirepass S    refuse every command but AUTH until AUTH S\n"
		"  --maxclients N     connections at most (default 10000; lowered\n"
		"                     if the open file limit cannot be raised to\n"
		"                     N + 32); the next is told so and closed\n");
}

/*
 * Like Redis: raise the open file limit toward maxclients + RESERVED_FDS
 * (up to the hard limit, or beyond it if privileged), and if that cannot
 * be had, serve fewer clients rather than run out of descriptors.  The
 * maxclients that fits, or 0 if not even one does.
 */
static unsigned
fit_maxclients(unsigned want)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)want + RESERVED_FDS;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return want;
	rlim_t have = rl.rlim_cur;
	struct rlimit nl = {need, rl.rlim_max};
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		nl.rlim_max = need;
	if (!setrlimit(RLIMIT_NOFILE, &nl))
		return want;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max > have) {
		nl.rlim_cur = nl.rlim_max = rl.rlim_max;
		if (!setrlimit(RLIMIT_NOFILE, &nl))
			have = rl.rlim_max;
	}
	unsigned fit = have > RESERVED_FDS ? (unsigned)(have - RESERVED_FDS)
					   : 0;
	fprintf(stderr, "nvkv-server: the open file limit is %llu, not %llu: "
		"maxclients lowered from %u to %u\n", (unsigned long long)have,
		(unsigned long long)need, want, fit);
	return fit;
}

/* mkdir -p of the pool's directory */
static int
make_parent(const char *path)
{
	char *d = strdup(path);
	if (!d)
		return -1;
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(d, 0755) && errno != EEXIST) {
			free(d);
			return -1;
		}
		*p = '/';
	}
	free(d);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *pool = "./data/nvkv.pool", *bind_addr = "127.0.0.1";
	const char *pass = NULL;
	int port = 6379, port_given = 0;
	unsigned maxclients = DEFAULT_MAXCLIENTS;
	struct kv_opts ko = {.index = KV_ANY, .create = 1};
	static const struct option lo[] = {
		{"pool", required_argument, NULL, 'p'},
		{"bind", required_argument, NULL, 'b'},
		{"port", required_argument, NULL, 'P'},
		{"requirepass", required_argument, NULL, 'a'},
		{"index", required_argument, NULL, 'i'},
		{"size", required_argument, NULL, 's'},
		{"max-size", required_argument, NULL, 'M'},
		{"maxclients", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (o) {
		case 'p': pool = optarg; break;
		case 'b': bind_addr = optarg; break;
		case 'P': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 65535) {
				fprintf(stderr, "nvkv-server: --port: %s is not a "
					"port\n", optarg);
				return 2;
			}
			port = (int)v;
			port_given = 1;
			break;
		}
		case 'a': pass = optarg; break;
		case 'i':
			if (!strcmp(optarg, "hash")) {
				ko.index = KV_HASH;
			} else if (!strcmp(optarg, "btree")) {
				ko.index = KV_BTREE;
			} else {
				fprintf(stderr, "nvkv-server: --index: hash or "
					"btree\n");
				return 2;
			}
			break;
		case 's':
		case 'M':
			if (kv_size_opt(&ko, "nvkv-server", o == 's' ? "--size"
					: "--max-size", optarg))
				return 2;
			break;
		case 'm': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || errno || optarg[0] == '-' || v < 1 ||
			    v > 1000000) {
				fprintf(stderr, "nvkv-server: --maxclients: %s is "
					"not from 1 to 1000000\n", optarg);
				return 2;
			}
			maxclients = (unsigned)v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit (ulimit -f) fails a growth of the pool with
	 * EFBIG, answered -OOM with nothing changed, rather than killing
	 * the server */
	signal(SIGXFSZ, SIG_IGN);
	maxclients = fit_maxclients(maxclients);
	if (!maxclients) {
		fprintf(stderr, "nvkv-server: the open file limit leaves no room "
			"for a client: raise it (ulimit -n) above %d\n",
			RESERVED_FDS);
		return 1;
	}
	if (make_parent(pool)) {
		fprintf(stderr, "nvkv-server: %s: cannot create its directory: "
			"%s\n", pool, strerror(errno));
		return 1;
	}
	struct server s = {.pool_path = pool, .pass = pass,
			   .maxclients = maxclients, .reserve_fd = -1};
	s.kv = kv_open(pool, &ko);
	if (!s.kv) {
		fprintf(stderr, "nvkv-server: %s\n", kv_errmsg());
		return 1;
	}
	s.port = port;
	s.start_ms = server_now_ms();
	{
		unsigned char r[20];
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			for (size_t i = 0; i < sizeof(r); i++)
				r[i] = (unsigned char)(rand() ^ (int)s.start_ms);
		for (size_t i = 0; i < sizeof(r); i++)
			snprintf(s.run_id + 2 * i, 3, "%02x", r[i]);
	}
	s.base = event_base_new();
	s.qtail = &s.q;
	s.ready_tail = &s.ready;
	s.pend_tail = &s.pend;
	{
		/* prepared batches where a barrier is an msync (a hash
		 * index: kv_prepare does nothing for the B-tree);
		 * NVKV_PREPARE=1 or 0 forces it (tests) */
		struct nvh_pool_info pi;
		const char *e = getenv("NVKV_PREPARE");
		s.prepare = kv_index_kind(s.kv) == KV_HASH &&
			    !nvh_pool_info(kv_pool(s.kv), &pi) &&
			    pi.persist == NVH_PERSIST_MSYNC;
		if (e && (!strcmp(e, "0") || !strcmp(e, "1")))
			s.prepare = *e == '1';
	}
	/* held back for when descriptors run out (on_accept_error) */
	s.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* two priorities: connections (0) before the group commit (1) */
	if (s.base && (event_base_priority_init(s.base, 2) ||
		       !(s.commit_ev = event_new(s.base, -1, 0, on_commit, &s)) ||
		       event_priority_set(s.commit_ev, 1) ||
		       !(s.accept_ev = evtimer_new(s.base, on_accept_resume,
						   &s)))) {
		fprintf(stderr, "nvkv-server: libevent setup failed\n");
		kv_close(s.kv);
		return 1;
	}
	struct sockaddr_in sin = {.sin_family = AF_INET};
	if (!s.base || inet_pton(AF_INET, bind_addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "nvkv-server: --bind: %s is not an IPv4 "
			"address\n", bind_addr);
		kv_close(s.kv);
		return 2;
	}
	struct evconnlistener *l = NULL;
	for (int p = port; !l && p <= (port_given ? port : 6399); p++) {
		sin.sin_port = htons((uint16_t)p);
		l = evconnlistener_new_bind(s.base, on_accept, &s,
					    LEV_OPT_CLOSE_ON_FREE |
					    LEV_OPT_REUSEABLE, 511,
					    (struct sockaddr *)&sin, sizeof(sin));
		if (l)
			port = p;
	}
	s.port = port;
	s.listener = l;
	if (l)
		evconnlistener_set_error_cb(l, on_accept_error);
	if (!l) {
		fprintf(stderr, "nvkv-server: cannot listen on %s:%d%s: %s\n",
			bind_addr, port, port_given ? "" : "-6399",
			strerror(errno));
		kv_close(s.kv);
		return 1;
	}
	struct event *sigs[2] = {
		evsignal_new(s.base, SIGTERM, on_signal, &s),
		evsignal_new(s.base, SIGINT, on_signal, &s),
	};
	for (int i = 0; i < 2; i++)
		event_add(sigs[i], NULL);
	struct nvh_pool_info pi = {0};
	char max[32] = "?";
	if (!nvh_pool_info(kv_pool(s.kv), &pi))
		kv_max_size_str(&pi, max, sizeof(max));
	printf("nvkv-server: listening on %s:%d, pool %s (%s index, %" PRIu64
	       " keys, %" PRIu64 " MiB, max size %s)\n", bind_addr, port, pool,
	       kv_index_name(kv_index_kind(s.kv)), kv_count(s.kv),
	       pi.pool_size >> 20, max);
	printf("nvkv-server: connect with: redis-cli -p %d%s\n", port,
	       pass ? " -a <password>" : "");
	fflush(stdout);
	if (keys_init(&s)) {
		fprintf(stderr, "nvkv-server: libevent setup failed\n");
		kv_close(s.kv);
		return 1;
	}
	reclaim_start(&s);
	event_base_dispatch(s.base);
	/* a batch the loop did not reach: commit it (and answer) */
	if (s.batch || s.dirty)
		on_commit(-1, 0, &s);
	reclaim_stop(&s);
	/* clients still connected at SHUTDOWN (answered above) */
	while (s.conns)
		conn_free(s.conns);
	keys_fini(&s);
	event_free(s.commit_ev);
	event_free(s.accept_ev);
	if (s.reserve_fd >= 0)
		close(s.reserve_fd);
	for (int i = 0; i < 2; i++)
		event_free(sigs[i]);
	evconnlistener_free(l);
	event_base_free(s.base);
	int rc = kv_close(s.kv);
	if (rc)
		fprintf(stderr, "nvkv-server: close: %s\n", nvh_errormsg());
	else
		printf("nvkv-server: pool closed cleanly\n");
	return rc ? 1 : 0;
}
