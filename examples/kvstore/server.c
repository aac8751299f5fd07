/*
 * server.c -- nvkv-server: the key-value store behind the Redis protocol
 * (RESP2), so redis-cli and redis-benchmark work unmodified.
 *
 *   nvkv-server [--pool PATH] [--bind ADDR] [--port N] [--requirepass S]
 *               [--index hash|btree] [--size SIZE]
 *
 * One thread runs a libevent loop over every connection; commands run to
 * completion in arrival order, so pipelined commands are answered in
 * order.  A write is answered only after its transaction committed
 * (durable).  Bad input never crashes the server or grows its memory
 * without bound: protocol errors close the connection with an -ERR reply,
 * a connection whose unparsed input exceeds MAX_QUERY or whose unsent
 * replies exceed MAX_OUTPUT is closed, and reading pauses while a client
 * does not read its replies.  SIGTERM and SIGINT close the pool cleanly.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "kv.h"
#include "resp.h"

#define MAX_QUERY (RESP_MAX_BULK + (1u << 20)) /* unparsed input */
#define MAX_OUTPUT (256u << 20)                /* unsent replies */
#define PAUSE_OUTPUT (4u << 20)                /* stop reading above */
#define SCAN_COUNT_MAX 100000

#define BATCH_MAX 1024 /* writes per group commit */

/* A command of the current batch, copied (for a re-run, see commit). */
struct qcmd {
	struct conn *c;
	struct qcmd *next;
	int argc;
	const char **argv;
	size_t *argl;
};

struct server {
	struct event_base *base;
	struct kv *kv;
	const char *pool_path;
	const char *pass;
	uint64_t clients, total_clients, commands;
	uint64_t batches, batch_writes, batch_reruns;
	int stopping;
	/* group commit: the writes of one loop iteration share a transaction */
	nvh_tx *batch;
	size_t nwrites;
	struct qcmd *q, **qtail;
	struct conn *dirty;       /* connections with replies held back */
	struct event *commit_ev;  /* low priority: after every ready read */
	int rerun;                /* re-running a failed batch one by one */
};

struct conn {
	struct server *s;
	struct bufferevent *bev;
	struct resp_cmd cmd;
	struct resp_buf out;
	int authed;
	int closing;  /* close once the output is flushed */
	int paused;
	int dirty;    /* on s->dirty: replies wait for the batch's commit */
	size_t mark;  /* out.len when it joined the batch (a re-run's start) */
	int dead;     /* the peer went away while dirty: free at the commit */
	int more;     /* complete commands left in the input (batch full) */
	struct conn *next_dirty;
};

/* ---- small helpers ---- */

static int
argis(const struct resp_cmd *c, int i, const char *s)
{
	return resp_argeq(c, i, s);
}

static void
wrong_args(struct resp_buf *o, const char *name)
{
	resp_error(o, "ERR wrong number of arguments for '%s' command", name);
}

/* Redis-style glob: * ? [abc] [^a-z] \x, binary safe. */
static int
glob(const char *p, size_t pl, const char *s, size_t sl)
{
	while (pl) {
		switch (*p) {
		case '*':
			while (pl > 1 && p[1] == '*')
				p++, pl--;
			if (pl == 1)
				return 1;
			for (size_t i = 0; i <= sl; i++)
				if (glob(p + 1, pl - 1, s + i, sl - i))
					return 1;
			return 0;
		case '?':
			if (!sl)
				return 0;
			s++, sl--;
			break;
		case '[': {
			if (!sl)
				return 0;
			size_t i = 1;
			int neg = i < pl && p[i] == '^', match = 0;
			i += neg;
			for (; i < pl && p[i] != ']'; i++) {
				if (p[i] == '\\' && i + 1 < pl) {
					match |= p[++i] == *s;
				} else if (i + 2 < pl && p[i + 1] == '-' &&
					   p[i + 2] != ']') {
					unsigned char a = (unsigned char)p[i];
					unsigned char b = (unsigned char)p[i + 2];
					unsigned char c = (unsigned char)*s;
					if (a > b) {
						unsigned char t = a;
						a = b;
						b = t;
					}
					match |= c >= a && c <= b;
					i += 2;
				} else {
					match |= p[i] == *s;
				}
			}
			if (i >= pl) /* no ']': a literal '[' */
				i = pl - 1;
			if (match == neg)
				return 0;
			p += i, pl -= i;
			s++, sl--;
			break;
		}
		case '\\':
			if (pl > 1)
				p++, pl--;
			/* fall through */
		default:
			if (!sl || *p != *s)
				return 0;
			s++, sl--;
			break;
		}
		p++, pl--;
	}
	return sl == 0;
}

/* Append the replies in src to dst. */
static void
append(struct resp_buf *dst, const struct resp_buf *src)
{
	if (dst->oom || src->oom) {
		dst->oom = 1;
		return;
	}
	if (dst->len + src->len > dst->cap) {
		size_t cap = dst->len + src->len;
		char *p = realloc(dst->p, cap);
		if (!p) {
			dst->oom = 1;
			return;
		}
		dst->p = p;
		dst->cap = cap;
	}
	if (src->len)
		memcpy(dst->p + dst->len, src->p, src->len);
	dst->len += src->len;
}

static void
kv_error(struct resp_buf *o, int rc)
{
	if (rc == -E2BIG)
		resp_error(o, "ERR %s", kv_errmsg());
	else if (rc == -ENOSPC)
		resp_error(o, "OOM %s", kv_errmsg());
	else
		resp_error(o, "ERR %s", kv_errmsg());
}

/* ---- commands ---- */

typedef void (*cmd_fn)(struct conn *c, const struct resp_cmd *q);

static void
c_ping(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc == 1)
		resp_simple(&c->out, "PONG");
	else if (q->argc == 2)
		resp_bulk(&c->out, q->argv[1], q->argl[1]);
	else
		wrong_args(&c->out, "ping");
}

static void
c_echo(struct conn *c, const struct resp_cmd *q)
{
	resp_bulk(&c->out, q->argv[1], q->argl[1]);
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

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]: NX, XX
 * and GET are supported; expiry options are checked and ignored (keys
 * never expire in nvkv). */
static void
c_set(struct conn *c, const struct resp_cmd *q)
{
	int nx = 0, xx = 0, get = 0;
	for (int i = 3; i < q->argc; i++) {
		long long t;
		if (argis(q, i, "NX")) {
			nx = 1;
		} else if (argis(q, i, "XX")) {
			xx = 1;
		} else if (argis(q, i, "GET")) {
			get = 1;
		} else if (argis(q, i, "KEEPTTL")) {
			continue;
		} else if ((argis(q, i, "EX") || argis(q, i, "PX") ||
			    argis(q, i, "EXAT") || argis(q, i, "PXAT")) &&
			   i + 1 < q->argc) {
			if (resp_strtoll(q->argv[i + 1], q->argl[i + 1], &t) ||
			    t <= 0) {
				resp_error(&c->out, "ERR invalid expire time in "
					   "'set' command");
				return;
			}
			i++;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
	}
	if (nx && xx) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	struct kv *kv = c->s->kv;
	struct resp_buf old = {0};
	if (get) {
		const void *v;
		size_t vl;
		if (kv_get(kv, q->argv[1], q->argl[1], &v, &vl) == 0)
			resp_bulk(&old, v, vl);
		else
			resp_null(&old);
	}
	int rc = kv_put_if(kv, q->argv[1], q->argl[1], q->argv[2], q->argl[2],
			   nx, xx);
	if (rc && rc != -EEXIST && rc != -ENOENT) {
		kv_error(&c->out, rc);
	} else if (get) {
		append(&c->out, &old); /* the old value (or nil) */
	} else if (rc) {
		resp_null(&c->out);
	} else {
		resp_simple(&c->out, "OK");
	}
	resp_buf_free(&old);
}

static void
c_del(struct conn *c, const struct resp_cmd *q)
{
	long long n = 0;
	for (int i = 1; i < q->argc; i++) {
		int rc = kv_del(c->s->kv, q->argv[i], q->argl[i]);
		if (rc == 0) {
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
	if (resp_strtoll(q->argv[2], q->argl[2], &by) ||
	    (argis(q, 0, "DECRBY") && by == LLONG_MIN)) {
		resp_error(&c->out, "ERR value is not an integer or out of range");
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
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, (long long)n);
}

static void
c_strlen(struct conn *c, const struct resp_cmd *q)
{
	const void *v;
	size_t vl = 0;
	kv_get(c->s->kv, q->argv[1], q->argl[1], &v, &vl);
	resp_int(&c->out, (long long)vl);
}

static void
c_mget(struct conn *c, const struct resp_cmd *q)
{
	resp_array(&c->out, q->argc - 1);
	for (int i = 1; i < q->argc; i++) {
		const void *v;
		size_t vl;
		if (kv_get(c->s->kv, q->argv[i], q->argl[i], &v, &vl) == 0)
			resp_bulk(&c->out, v, vl);
		else
			resp_null(&c->out);
	}
}

/* MSET is atomic: one transaction for all pairs. */
static void
c_mset(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc % 2 == 0) {
		wrong_args(&c->out, "mset");
		return;
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
};

static int
collect_key(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct collect *cl = arg;
	(void)v, (void)vl;
	if (!cl->pat || glob(cl->pat, cl->pl, k, kl)) {
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
		append(&c->out, &cl->keys);
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
	long long cursor, count = 10;
	struct collect cl = {0};
	if (resp_strtoll(q->argv[1], q->argl[1], &cursor)) {
		/* cursors are unsigned 64-bit: accept the full range */
		char buf[32];
		size_t n = q->argl[1] < sizeof(buf) - 1 ? q->argl[1] : 0;
		memcpy(buf, q->argv[1], n);
		buf[n] = 0;
		char *end;
		errno = 0;
		unsigned long long u = strtoull(buf, &end, 10);
		if (!n || *end || errno || buf[0] == '-') {
			resp_error(&c->out, "ERR invalid cursor");
			return;
		}
		cursor = (long long)u;
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
			if (resp_strtoll(q->argv[i + 1], q->argl[i + 1], &count) ||
			    count < 1) {
				resp_error(&c->out, "ERR value is not an integer or "
					   "out of range");
				return;
			}
			if (count > SCAN_COUNT_MAX)
				count = SCAN_COUNT_MAX;
		} else if (argis(q, i, "TYPE")) {
			if (!argis(q, i + 1, "string")) /* all keys are strings */
				cl.pat = "", cl.pl = 0;
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
	int rc = kv_flush(c->s->kv);
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_simple(&c->out, "OK");
}

static void
c_info(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	struct kv_stats st;
	struct nvh_persist_stats ps;
	struct nvh_pool_info pi;
	struct server *s = c->s;
	if (kv_stats(s->kv, &st) || nvh_persist_stats(kv_pool(s->kv), &ps) ||
	    nvh_pool_info(kv_pool(s->kv), &pi)) {
		resp_error(&c->out, "ERR %s", nvh_errormsg());
		return;
	}
	char buf[2048];
	int n = snprintf(buf, sizeof(buf),
		"# Server\r\nredis_version:7.0.0\r\nnvkv_version:0.1\r\n"
		"process_id:%ld\r\n\r\n"
		"# Clients\r\nconnected_clients:%" PRIu64 "\r\n\r\n"
		"# Stats\r\ntotal_connections_received:%" PRIu64 "\r\n"
		"total_commands_processed:%" PRIu64 "\r\n"
		"group_commits:%" PRIu64 "\r\ngroup_commit_writes:%" PRIu64
		"\r\ngroup_commit_reruns:%" PRIu64 "\r\n\r\n"
		"# Persistence\r\naof_enabled:0\r\nrdb_changes_since_last_save:0\r\n"
		"nvheap_durable_writes:1\r\n\r\n"
		"# nvheap\r\npool:%s\r\nindex:%s\r\npool_size:%" PRIu64 "\r\n"
		"pool_used:%" PRIu64 "\r\npool_free:%" PRIu64 "\r\n"
		"persist_backend:%s\r\nrun_generation:%" PRIu64 "\r\n"
		"flushes:%" PRIu64 "\r\nfences:%" PRIu64 "\r\n"
		"barriers:%" PRIu64 "\r\nlines_flushed:%" PRIu64 "\r\n%s%" PRIu64
		"\r\n\r\n# Keyspace\r\ndb0:keys=%" PRIu64 ",expires=0,avg_ttl=0\r\n",
		(long)getpid(), s->clients, s->total_clients, s->commands,
		s->batches, s->batch_writes, s->batch_reruns,
		s->pool_path, kv_index_name(st.index), st.pool_size, st.used,
		st.free, pi.persist_name, pi.run_generation, ps.flushes,
		ps.fences, ps.barriers, ps.lines_flushed,
		st.index == KV_HASH ? "hash_buckets:" : "btree_depth:",
		st.index == KV_HASH ? st.buckets : st.depth, st.keys);
	resp_bulk(&c->out, buf, (size_t)n);
}

static void
c_auth(struct conn *c, const struct resp_cmd *q)
{
	const char *p = q->argv[q->argc - 1];
	size_t pl = q->argl[q->argc - 1];
	if (!c->s->pass) {
		resp_error(&c->out, "ERR AUTH <password> called without any "
			   "password configured for the default user. Are you "
			   "sure your configuration is correct?");
		return;
	}
	if (q->argc == 3 && !argis(q, 1, "default")) {
		resp_error(&c->out, "WRONGPASS invalid username-password pair "
			   "or user is disabled.");
		return;
	}
	size_t sl = strlen(c->s->pass);
	/* compare in time independent of where they differ */
	unsigned char diff = (unsigned char)(pl != sl);
	for (size_t i = 0; i < pl; i++)
		diff |= (unsigned char)(p[i] ^ c->s->pass[i < sl ? i : 0]);
	if (diff) {
		resp_error(&c->out, "WRONGPASS invalid username-password pair "
			   "or user is disabled.");
		return;
	}
	c->authed = 1;
	resp_simple(&c->out, "OK");
}

static void
c_select(struct conn *c, const struct resp_cmd *q)
{
	long long db;
	if (resp_strtoll(q->argv[1], q->argl[1], &db))
		resp_error(&c->out, "ERR value is not an integer or out of range");
	else if (db != 0)
		resp_error(&c->out, "ERR DB index is out of range");
	else
		resp_simple(&c->out, "OK");
}

/* COMMAND (minimal): COUNT, and an empty list for the rest (clients use
 * it only for hints). */
static void c_command(struct conn *c, const struct resp_cmd *q);

/* CONFIG GET: what benchmark tools ask for; nothing is settable. */
static void
c_config(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc == 3 && argis(q, 1, "GET")) {
		const char *names[] = {"save", "appendonly"};
		const char *vals[] = {"", "no"};
		int n = 0;
		for (int i = 0; i < 2; i++)
			n += glob(q->argv[2], q->argl[2], names[i],
				  strlen(names[i]));
		resp_array(&c->out, 2 * n);
		for (int i = 0; i < 2; i++)
			if (glob(q->argv[2], q->argl[2], names[i],
				 strlen(names[i]))) {
				resp_bulk(&c->out, names[i], strlen(names[i]));
				resp_bulk(&c->out, vals[i], strlen(vals[i]));
			}
		return;
	}
	resp_error(&c->out, "ERR CONFIG: only CONFIG GET is supported");
}

static void
c_quit(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	resp_simple(&c->out, "OK");
	c->closing = 1;
}

static void
c_shutdown(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	/* Redis closes the connection without a reply */
	c->closing = 1;
	c->s->stopping = 1;
	event_base_loopexit(c->s->base, NULL);
}

static const struct command {
	const char *name;
	cmd_fn fn;
	int arity;  /* exact argc if > 0; at least -arity if < 0 */
	int write;
} commands[] = {
	{"PING", c_ping, -1, 0},     {"ECHO", c_echo, 2, 0},
	{"GET", c_get, 2, 0},    {"SET", c_set, -3, 1},
	{"DEL", c_del, -2, 1},       {"UNLINK", c_del, -2, 1},
	{"EXISTS", c_exists, -2, 0}, {"INCR", c_incr, 2, 1},
	{"DECR", c_incr, 2, 1},      {"INCRBY", c_incrby, 3, 1},
	{"DECRBY", c_incrby, 3, 1},  {"APPEND", c_append, 3, 1},
	{"STRLEN", c_strlen, 2, 0},  {"MGET", c_mget, -2, 0},
	{"MSET", c_mset, -3, 1},     {"DBSIZE", c_dbsize, 1, 0},
	{"SCAN", c_scan, -2, 0},     {"KEYS", c_keys, 2, 0},
	{"FLUSHALL", c_flushall, -1, 1}, {"FLUSHDB", c_flushall, -1, 1},
	{"INFO", c_info, -1, 0},     {"AUTH", c_auth, -2, 0},
	{"SELECT", c_select, 2, 0},  {"COMMAND", c_command, -1, 0},
	{"CONFIG", c_config, -2, 0}, {"QUIT", c_quit, -1, 0},
	{"SHUTDOWN", c_shutdown, -1, 0},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
c_command(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc == 2 && argis(q, 1, "COUNT"))
		resp_int(&c->out, (long long)NCOMMANDS);
	else
		resp_array(&c->out, 0);
}

static const struct command *
lookup(const struct resp_cmd *q)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (argis(q, 0, commands[i].name))
			return &commands[i];
	return NULL;
}

static int
is_write(const struct resp_cmd *q)
{
	const struct command *cmd = lookup(q);
	return cmd && cmd->write;
}

static void
execute(struct conn *c, const struct resp_cmd *q)
{
	struct server *s = c->s;
	s->commands++;
	const struct command *cmd = lookup(q);
	if (s->pass && !c->authed && (!cmd || (cmd->fn != c_auth &&
					       cmd->fn != c_quit))) {
		resp_error(&c->out, "NOAUTH Authentication required.");
		return;
	}
	if (!cmd) {
		char name[64], args[128];
		size_t n = q->argl[0] < 40 ? q->argl[0] : 40;
		memcpy(name, q->argv[0], n);
		name[n] = 0;
		size_t o = 0;
		for (int i = 1; i < q->argc && o < 100; i++) {
			size_t l = q->argl[i] < 20 ? q->argl[i] : 20;
			o += (size_t)snprintf(args + o, sizeof(args) - o, "'%.*s' ",
					      (int)l, q->argv[i]);
		}
		args[o < sizeof(args) ? o : sizeof(args) - 1] = 0;
		/* resp_error turns CR/LF into spaces; hide other control
		 * bytes too */
		for (char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = '?';
		for (char *p = args; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = '?';
		resp_error(&c->out, "ERR unknown command '%s', with args "
			   "beginning with: %s", name, args);
		return;
	}
	if (cmd->write && !s->rerun && !s->batch) {
		/* the first write of this loop iteration: the transaction the
		 * iteration's writes share (each kv call nests in it) */
		s->batch = nvh_tx_begin(kv_pool(s->kv));
	}
	s->nwrites += cmd->write;
	if ((cmd->arity > 0 && q->argc != cmd->arity) ||
	    (cmd->arity < 0 && q->argc < -cmd->arity)) {
		char lower[16];
		size_t i = 0;
		for (; cmd->name[i] && i < sizeof(lower) - 1; i++)
			lower[i] = (char)(cmd->name[i] | 0x20);
		lower[i] = 0;
		wrong_args(&c->out, lower);
		return;
	}
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

static void
conn_free(struct conn *c)
{
	c->s->clients--;
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

/* Keep a copy of the command for a possible re-run. */
static int
queue_cmd(struct conn *c, const struct resp_cmd *q)
{
	size_t bytes = 0;
	for (int i = 0; i < q->argc; i++)
		bytes += q->argl[i];
	struct qcmd *m = malloc(sizeof(*m) + (size_t)q->argc *
				(sizeof(char *) + sizeof(size_t)) + bytes);
	if (!m)
		return -1;
	m->c = c;
	m->next = NULL;
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
	*c->s->qtail = m;
	c->s->qtail = &m->next;
	return 0;
}

static int flush_conn(struct conn *c);

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct server *s = c->s;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!c->closing && !c->paused && !c->dead) {
		if (s->nwrites >= BATCH_MAX) {
			c->more = 1; /* after this batch's commit */
			mark_dirty(c);
			break;
		}
		size_t len = evbuffer_get_length(in);
		if (len == 0)
			break;
		const char *buf = (const char *)evbuffer_pullup(in, -1);
		size_t used = 0;
		const char *err = NULL;
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
		if (c->cmd.argc > 0 && (s->batch || is_write(&c->cmd))) {
			/* in the batch: keep a copy for a re-run */
			if (!c->dirty)
				c->mark = c->out.len;
			mark_dirty(c);
			if (queue_cmd(c, &c->cmd)) {
				resp_error(&c->out, "ERR out of memory");
				c->closing = 1;
			} else {
				execute(c, &c->cmd);
			}
		} else if (c->cmd.argc > 0) {
			execute(c, &c->cmd);
		}
		evbuffer_drain(in, used);
		resp_cmd_reset(&c->cmd);
	}
	if (!c->dirty)
		flush_conn(c); /* nothing of the batch: answer now */
}

/* Send what c has; close or pause it as its state says. Returns 1 if c
 * was freed. */
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
		if (bufferevent_write(c->bev, c->out.p, c->out.len))
			c->closing = 1;
		resp_buf_reset(&c->out);
	}
	size_t pending = evbuffer_get_length(outb);
	if (pending > MAX_OUTPUT) {
		c->closing = 1;
		evbuffer_drain(outb, pending);
	} else if (pending > PAUSE_OUTPUT && !c->paused) {
		/* a client not reading its replies stops being read */
		c->paused = 1;
		bufferevent_disable(c->bev, EV_READ);
	}
	if (c->closing) {
		bufferevent_disable(c->bev, EV_READ);
		if (evbuffer_get_length(outb) == 0) {
			conn_free(c);
			return 1;
		}
	}
	return 0;
}

static void
on_commit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct server *s = arg;
	if (s->batch) {
		s->batches++;
		s->batch_writes += s->nwrites;
		int rc = nvh_tx_commit(s->batch);
		s->batch = NULL;
		if (rc) {
			/* rolled back whole: run each command alone */
			s->batch_reruns++;
			for (struct conn *c = s->dirty; c; c = c->next_dirty)
				c->out.len = c->mark < c->out.len ? c->mark
								  : c->out.len;
			s->rerun = 1;
			for (struct qcmd *m = s->q; m; m = m->next) {
				struct resp_cmd q = {.argc = m->argc,
						     .argv = m->argv,
						     .argl = m->argl};
				execute(m->c, &q);
			}
			s->rerun = 0;
		}
	}
	s->nwrites = 0;
	while (s->q) {
		struct qcmd *m = s->q;
		s->q = m->next;
		free(m);
	}
	s->qtail = &s->q;
	struct conn *list = s->dirty, *more = NULL;
	s->dirty = NULL;
	while (list) {
		struct conn *c = list;
		list = c->next_dirty;
		c->dirty = 0;
		int again = c->more;
		c->more = 0;
		if (!flush_conn(c) && again) {
			c->next_dirty = more;
			more = c;
		}
	}
	/* connections that stopped at a full batch go on in the next */
	for (struct conn *c = more; c; c = c->next_dirty)
		if (!c->dirty)
			on_read(c->bev, c);
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
	if (c->paused && pending < PAUSE_OUTPUT / 2) {
		c->paused = 0;
		bufferevent_enable(bev, EV_READ);
		on_read(bev, c); /* commands may be waiting in the input */
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (c->dirty) { /* its commands still commit; no one to answer */
		c->dead = 1;
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		return;
	}
	conn_free(c);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	(void)l, (void)sa, (void)salen;
	struct server *s = arg;
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
	s->clients++;
	s->total_clients++;
	bufferevent_priority_set(bev, 0); /* before the commit event */
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
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
		"                   [--size SIZE]\n"
		"  --pool PATH        the store (default ./data/nvkv.pool; created\n"
		"                     with --index and --size if missing)\n"
		"  --bind ADDR        listen address (default 127.0.0.1)\n"
		"  --port N           TCP port (default 6379, or the next free one\n"
		"                     up to 6399 when --port is not given)\n"
		"  --requirepass S    refuse every command but AUTH until AUTH S\n");
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
	struct kv_opts ko = {.index = KV_ANY, .create = 1};
	static const struct option lo[] = {
		{"pool", required_argument, NULL, 'p'},
		{"bind", required_argument, NULL, 'b'},
		{"port", required_argument, NULL, 'P'},
		{"requirepass", required_argument, NULL, 'a'},
		{"index", required_argument, NULL, 'i'},
		{"size", required_argument, NULL, 's'},
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
			if (kv_parse_size(optarg, &ko.size)) {
				fprintf(stderr, "nvkv-server: --size: \"%s\" is not "
					"a size\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (make_parent(pool)) {
		fprintf(stderr, "nvkv-server: %s: cannot create its directory: "
			"%s\n", pool, strerror(errno));
		return 1;
	}
	struct server s = {.pool_path = pool, .pass = pass};
	s.kv = kv_open(pool, &ko);
	if (!s.kv) {
		fprintf(stderr, "nvkv-server: %s\n", kv_errmsg());
		return 1;
	}
	s.base = event_base_new();
	s.qtail = &s.q;
	/* two priorities: connections (0) before the group commit (1) */
	if (s.base && (event_base_priority_init(s.base, 2) ||
		       !(s.commit_ev = event_new(s.base, -1, 0, on_commit, &s)) ||
		       event_priority_set(s.commit_ev, 1))) {
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
	printf("nvkv-server: listening on %s:%d, pool %s (%s index, %" PRIu64
	       " keys)\n", bind_addr, port, pool,
	       kv_index_name(kv_index_kind(s.kv)), kv_count(s.kv));
	printf("nvkv-server: connect with: redis-cli -p %d%s\n", port,
	       pass ? " -a <password>" : "");
	fflush(stdout);
	event_base_dispatch(s.base);
	/* a batch the loop did not reach: commit it (and answer) */
	if (s.batch || s.dirty)
		on_commit(-1, 0, &s);
	event_free(s.commit_ev);
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
