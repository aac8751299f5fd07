/*
 * cmd_server.c -- nvkv-server's connection and server commands: PING,
 * ECHO, AUTH, HELLO, SELECT, CLIENT, QUIT, SHUTDOWN, INFO, CONFIG,
 * COMMAND.
 *
 * The replies follow redis-server 7.0.15 byte for byte where nvkv has
 * the same thing to say (tests/server/test_admin.py compares them with a
 * real redis-server); where it has not (one database, RESP2 only, no
 * replication, settings fixed at start), the reply is redis's error or
 * redis's default, never an invented value.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "server.h"

/* The Redis version nvkv answers as (INFO, HELLO): the one whose replies
 * it is tested against. */
#define REDIS_COMPAT_VERSION "7.0.15"
#define NVKV_VERSION "0.1"
/* redis's default, shown while the server sets no limit of its own */
#define DEFAULT_MAXCLIENTS 10000

/* ---- text building (INFO, CLIENT LIST) ---- */

static void __attribute__((format(printf, 2, 3)))
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
static void
reply_text(struct conn *c, struct resp_buf *t)
{
	if (t->oom)
		c->out.oom = 1;
	else
		resp_bulk(&c->out, t->p ? t->p : "", t->len);
	resp_buf_free(t);
}

static void
reply_cstr(struct conn *c, const char *s)
{
	resp_bulk(&c->out, s, strlen(s));
}

/* redis's error for a subcommand it does not know */
static void
unknown_sub(struct conn *c, const struct resp_cmd *q, const char *cmd)
{
	int l = q->argl[1] > 128 ? 128 : (int)q->argl[1];
	resp_error(&c->out, "ERR unknown subcommand '%.*s'. Try %s HELP.", l,
		   q->argv[1], cmd);
}

/* Subcommand arity as in redis's table (exact if > 0, at least -n if
 * < 0); on a mismatch, redis's error naming "cmd|sub", and 0. */
static int
sub_arity(struct conn *c, const struct resp_cmd *q, const char *full,
	  int arity)
{
	if ((arity > 0 && q->argc == arity) ||
	    (arity < 0 && q->argc >= -arity))
		return 1;
	wrong_args(&c->out, full);
	return 0;
}

static void
reply_help(struct conn *c, const char *const *lines)
{
	int n = 0;
	while (lines[n])
		n++;
	resp_array(&c->out, n);
	for (int i = 0; i < n; i++)
		resp_simple(&c->out, lines[i]);
}

static int
bytes_eq(const char *p, size_t l, const char *s)
{
	return l == strlen(s) && !memcmp(p, s, l);
}

/* ---- PING, ECHO, SELECT, QUIT ---- */

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

/* One database (docs/kvstore.md): SELECT 0 only, with redis's errors, as
 * redis-server --databases 1 answers. */
static void
c_select(struct conn *c, const struct resp_cmd *q)
{
	long long db;
	if (resp_strtoll(q->argv[1], q->argl[1], &db))
		resp_error(&c->out, "ERR value is not an integer or out of range");
	else if (db < INT_MIN || db > INT_MAX) /* redis reads an int */
		resp_error(&c->out, "ERR value is out of range, value must "
			   "between -2147483648 and 2147483647");
	else if (db != 0)
		resp_error(&c->out, "ERR DB index is out of range");
	else
		resp_simple(&c->out, "OK");
}

static void
c_quit(struct conn *c, const struct resp_cmd *q)
{
	(void)q;
	resp_simple(&c->out, "OK");
	c->closing = 1;
}

/* ---- AUTH and HELLO ---- */

/*
 * Redis's default user: without --requirepass it has no password and any
 * password logs in as "default" (but the one-argument AUTH is refused,
 * to catch a misconfiguration); with one, only "default" and that
 * password.  There are no other users.  The password is compared in time
 * independent of where it differs.
 */
static int
auth_ok(struct server *s, const char *user, size_t ul, const char *p,
	size_t pl)
{
	if (!bytes_eq(user, ul, "default"))
		return 0;
	if (!s->pass)
		return 1;
	size_t sl = strlen(s->pass);
	unsigned char diff = (unsigned char)(pl != sl);
	for (size_t i = 0; i < pl; i++)
		diff |= (unsigned char)(p[i] ^ s->pass[i < sl ? i : 0]);
	return !diff;
}

static void
wrongpass(struct conn *c)
{
	resp_error(&c->out, "WRONGPASS invalid username-password pair or "
		   "user is disabled.");
}

static void
c_auth(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc > 3) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	if (q->argc == 2 && !c->s->pass) {
		resp_error(&c->out, "ERR AUTH <password> called without any "
			   "password configured for the default user. Are you "
			   "sure your configuration is correct?");
		return;
	}
	int ok = q->argc == 2 ?
		 auth_ok(c->s, "default", 7, q->argv[1], q->argl[1]) :
		 auth_ok(c->s, q->argv[1], q->argl[1], q->argv[2], q->argl[2]);
	if (!ok) {
		wrongpass(c);
		return;
	}
	c->authed = 1;
	resp_simple(&c->out, "OK");
}

/* Redis's rule for client names: printable ASCII, no spaces. */
static int
set_name(struct conn *c, const char *p, size_t l)
{
	for (size_t i = 0; i < l; i++)
		if (p[i] < '!' || p[i] > '~') {
			resp_error(&c->out, "ERR Client names cannot contain "
				   "spaces, newlines or special characters.");
			return -1;
		}
	char *name = NULL;
	if (l) {
		name = malloc(l + 1);
		if (!name) {
			resp_error(&c->out, "ERR out of memory");
			return -1;
		}
		memcpy(name, p, l);
		name[l] = 0;
	}
	free(c->name);
	c->name = name;
	return 0;
}

/*
 * HELLO [protover [AUTH user pass] [SETNAME name]]: the server's map, as
 * an array on RESP2.  nvkv speaks RESP2 only (docs/kvstore.md), so
 * HELLO 3 gets the NOPROTO error redis gives a version it does not know;
 * a client then stays on RESP2, as it does with Redis 5.
 */
static void
c_hello(struct conn *c, const struct resp_cmd *q)
{
	int i = 1;
	if (q->argc >= 2) {
		long long ver;
		if (resp_strtoll(q->argv[1], q->argl[1], &ver)) {
			resp_error(&c->out, "ERR Protocol version is not an "
				   "integer or out of range");
			return;
		}
		if (ver != 2) {
			resp_error(&c->out, "NOPROTO unsupported protocol "
				   "version");
			return;
		}
		i = 2;
	}
	int user = 0, name = 0;
	for (; i < q->argc; i++) {
		int more = q->argc - 1 - i;
		if (argis(q, i, "AUTH") && more >= 2) {
			user = i + 1;
			i += 2;
		} else if (argis(q, i, "SETNAME") && more >= 1) {
			name = i + 1;
			i++;
		} else {
			int l = q->argl[i] > 128 ? 128 : (int)q->argl[i];
			resp_error(&c->out, "ERR Syntax error in HELLO option "
				   "'%.*s'", l, q->argv[i]);
			return;
		}
	}
	if (user) {
		if (!auth_ok(c->s, q->argv[user], q->argl[user],
			     q->argv[user + 1], q->argl[user + 1])) {
			wrongpass(c);
			return;
		}
		c->authed = 1;
	}
	if (c->s->pass && !c->authed) {
		resp_error(&c->out, "NOAUTH HELLO must be called with the "
			   "client already authenticated, otherwise the HELLO "
			   "AUTH <user> <pass> option can be used to "
			   "authenticate the client and select the RESP "
			   "protocol version at the same time");
		return;
	}
	if (name && set_name(c, q->argv[name], q->argl[name]))
		return;
	resp_array(&c->out, 14);
	reply_cstr(c, "server");
	reply_cstr(c, "redis");
	reply_cstr(c, "version");
	reply_cstr(c, REDIS_COMPAT_VERSION);
	reply_cstr(c, "proto");
	resp_int(&c->out, 2);
	reply_cstr(c, "id");
	resp_int(&c->out, (long long)c->id);
	reply_cstr(c, "mode");
	reply_cstr(c, "standalone");
	reply_cstr(c, "role");
	reply_cstr(c, "master");
	reply_cstr(c, "modules");
	resp_array(&c->out, 0);
}

/* ---- SHUTDOWN ---- */

/*
 * SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], checked as redis 7.0
 * does.  Every write is durable when it is answered, so SAVE and NOSAVE
 * both just stop, and a shutdown never waits (for replicas or a save):
 * none is ever in progress for ABORT to cancel.
 */
static void
c_shutdown(struct conn *c, const struct resp_cmd *q)
{
	int save = 0, nosave = 0, now = 0, abort = 0;
	for (int i = 1; i < q->argc; i++) {
		if (argis(q, i, "NOSAVE")) {
			nosave = 1;
		} else if (argis(q, i, "SAVE")) {
			save = 1;
		} else if (argis(q, i, "NOW") || argis(q, i, "FORCE")) {
			now = 1;
		} else if (argis(q, i, "ABORT")) {
			abort = 1;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
	}
	/* ABORT goes alone; SAVE and NOSAVE contradict each other */
	if ((abort && (save || nosave || now)) || (save && nosave)) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	if (abort) {
		resp_error(&c->out, "ERR No shutdown in progress.");
		return;
	}
	/* Redis closes the connection without a reply */
	c->closing = 1;
	c->s->stopping = 1;
	event_base_loopexit(c->s->base, NULL);
}

/* ---- CLIENT ---- */

static void
client_line(struct resp_buf *t, struct conn *me, struct conn *c,
	    uint64_t now, const struct resp_cmd *q)
{
	int fd = (int)bufferevent_getfd(c->bev);
	char laddr[64] = "";
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	if (getsockname(fd, (struct sockaddr *)&sin, &sl) == 0 &&
	    sin.sin_family == AF_INET) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
		snprintf(laddr, sizeof(laddr), "%s:%u", ip,
			 (unsigned)ntohs(sin.sin_port));
	}
	char flags[4], *f = flags;
	if (c->multi)
		*f++ = 'x';
	if (c->closing)
		*f++ = 'c';
	if (f == flags)
		*f++ = 'N';
	*f = 0;
	size_t qbuf = evbuffer_get_length(bufferevent_get_input(c->bev));
	size_t omem = evbuffer_get_length(bufferevent_get_output(c->bev));
	size_t argv_mem = 0;
	char cmd[64];
	if (c == me) {
		/* the command running now, named as redis does
		 * ("client|list"); its arguments are still in the input */
		int l = q->argl[1] > 32 ? 32 : (int)q->argl[1];
		snprintf(cmd, sizeof(cmd), "client|%.*s", l, q->argv[1]);
		for (char *p = cmd; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p | 0x20 :
				    (unsigned char)*p <= ' ' ? '?' : *p);
		for (int i = 0; i < q->argc; i++)
			argv_mem += q->argl[i];
	} else {
		/* redis's "NULL" for a client that ran nothing yet; nothing
		 * records the others' last command yet (server.c would) */
		snprintf(cmd, sizeof(cmd), "%s",
			 c->lastcmd[0] ? c->lastcmd : "NULL");
	}
	uint64_t age = now > c->created_ms ? (now - c->created_ms) / 1000 : 0;
	/*
	 * Redis's fields in redis's order.  idle is 0: the time of a
	 * connection's last command is not kept.  Redis's buffer internals
	 * (qbuf-free, rbs, rbp, obl, oll, multi-mem) have no counterpart
	 * and show 0; omem is the unsent output, tot-mem the connection's
	 * structure and buffers.
	 */
	tprintf(t, "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%" PRIu64
		" idle=0 flags=%s db=0 sub=0 psub=0 ssub=0 multi=%d qbuf=%zu "
		"qbuf-free=0 argv-mem=%zu multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 "
		"omem=%zu tot-mem=%zu events=r%s cmd=%s user=default redir=-1 "
		"resp=2\n", c->id, c->addr, laddr, fd, c->name ? c->name : "",
		age, flags, c->multi ? c->mq_n : -1, qbuf, argv_mem, omem,
		sizeof(*c) + qbuf + omem + c->out.cap, omem ? "w" : "", cmd);
}

static const char *const client_help[] = {
	"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GETNAME",
	"    Return the name of the current connection.",
	"ID",
	"    Return the ID of the current connection.",
	"INFO",
	"    Return information about the current client connection.",
	"LIST [options ...]",
	"    Return information about client connections. Options:",
	"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
	"      Return clients of specified type.",
	"SETNAME <name>",
	"    Assign the name <name> to the current connection.",
	"HELP",
	"    Prints this help.",
	NULL,
};

/* CLIENT LIST [TYPE type] [ID id ...] */
static void
client_list(struct conn *c, const struct resp_cmd *q)
{
	int type_ok = 1, ids = 0;
	if (q->argc == 4 && argis(q, 2, "TYPE")) {
		if (argis(q, 3, "NORMAL"))
			type_ok = 1;
		else if (argis(q, 3, "MASTER") || argis(q, 3, "REPLICA") ||
			 argis(q, 3, "SLAVE") || argis(q, 3, "PUBSUB"))
			type_ok = 0; /* nvkv has none of these */
		else {
			int l = q->argl[3] > 128 ? 128 : (int)q->argl[3];
			resp_error(&c->out, "ERR Unknown client type '%.*s'", l,
				   q->argv[3]);
			return;
		}
	} else if (q->argc > 3 && argis(q, 2, "ID")) {
		for (int i = 3; i < q->argc; i++) {
			long long id;
			if (resp_strtoll(q->argv[i], q->argl[i], &id)) {
				resp_error(&c->out, "ERR Invalid client ID");
				return;
			}
		}
		ids = 3;
	} else if (q->argc != 2) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	struct resp_buf t = {0};
	uint64_t now = server_now_ms();
	/* oldest first, as redis lists them: s->conns is newest first */
	struct conn *x = c->s->conns;
	while (x && x->next)
		x = x->next;
	for (; type_ok && x; x = x->prev) {
		int want = !ids;
		for (int i = ids; ids && i < q->argc; i++) {
			long long id;
			resp_strtoll(q->argv[i], q->argl[i], &id);
			want |= (uint64_t)id == x->id;
		}
		if (want && !x->dead)
			client_line(&t, c, x, now, q);
	}
	reply_text(c, &t);
}

static void
c_client(struct conn *c, const struct resp_cmd *q)
{
	if (argis(q, 1, "ID")) {
		if (sub_arity(c, q, "client|id", 2))
			resp_int(&c->out, (long long)c->id);
	} else if (argis(q, 1, "GETNAME")) {
		if (!sub_arity(c, q, "client|getname", 2))
			return;
		if (c->name)
			reply_cstr(c, c->name);
		else
			resp_null(&c->out);
	} else if (argis(q, 1, "SETNAME")) {
		if (sub_arity(c, q, "client|setname", 3) &&
		    !set_name(c, q->argv[2], q->argl[2]))
			resp_simple(&c->out, "OK");
	} else if (argis(q, 1, "INFO")) {
		if (!sub_arity(c, q, "client|info", 2))
			return;
		struct resp_buf t = {0};
		client_line(&t, c, c, server_now_ms(), q);
		reply_text(c, &t);
	} else if (argis(q, 1, "LIST")) {
		if (sub_arity(c, q, "client|list", -2))
			client_list(c, q);
	} else if (argis(q, 1, "HELP")) {
		if (sub_arity(c, q, "client|help", 2))
			reply_help(c, client_help);
	} else {
		unknown_sub(c, q, "CLIENT");
	}
}

/* ---- INFO ---- */

/* redis's bytesToHuman */
static void
human(char *b, size_t n, uint64_t v)
{
	double d = (double)v;
	if (v < 1024)
		snprintf(b, n, "%" PRIu64 "B", v);
	else if (v < (1ull << 20))
		snprintf(b, n, "%.2fK", d / 1024);
	else if (v < (1ull << 30))
		snprintf(b, n, "%.2fM", d / (1 << 20));
	else if (v < (1ull << 40))
		snprintf(b, n, "%.2fG", d / (1 << 30));
	else
		snprintf(b, n, "%.2fT", d / (double)(1ull << 40));
}

/* The sections in redis's order; DEF: in a plain INFO. */
enum {
	S_SERVER, S_CLIENTS, S_MEMORY, S_PERSISTENCE, S_STATS,
	S_REPLICATION, S_CPU, S_MODULES, S_ERRORSTATS, S_CLUSTER, S_NVHEAP,
	S_KEYSPACE, S_N
};
static const char *const section_names[S_N] = {
	"server", "clients", "memory", "persistence", "stats", "replication",
	"cpu", "modules", "errorstats", "cluster", "nvheap", "keyspace",
};

static void
info_server(struct resp_buf *t, struct server *s)
{
	struct utsname u;
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	uint64_t now = server_now_ms();
	uint64_t up = (now - s->start_ms) / 1000;
	tprintf(t, "# Server\r\nredis_version:" REDIS_COMPAT_VERSION "\r\n"
		"redis_git_sha1:00000000\r\nredis_git_dirty:0\r\n"
		"redis_mode:standalone\r\nos:%s %s %s\r\narch_bits:%d\r\n"
		"multiplexing_api:%s\r\n"
		"gcc_version:%d.%d.%d\r\nprocess_id:%ld\r\n"
		"process_supervised:no\r\nrun_id:%s\r\ntcp_port:%d\r\n"
		"server_time_usec:%" PRIu64 "\r\nuptime_in_seconds:%" PRIu64
		"\r\nuptime_in_days:%" PRIu64 "\r\nexecutable:%s\r\n"
		"config_file:\r\nio_threads_active:0\r\n"
		"nvkv_version:" NVKV_VERSION "\r\n",
		u.sysname, u.release, u.machine, (int)sizeof(void *) * 8,
		event_base_get_method(s->base),
#ifdef __GNUC__
		__GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__,
#else
		0, 0, 0,
#endif
		(long)getpid(), s->run_id, s->port, now * 1000, up,
		up / 86400, exe);
}

/* used_memory is the C heap in use (malloc's arenas and its mmapped
 * blocks, as redis counts its allocator's bytes), used_memory_rss the
 * process's resident set, which includes the pool pages touched. */
static void
info_memory(struct resp_buf *t)
{
	struct mallinfo2 mi = mallinfo2();
	uint64_t used = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
	uint64_t rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		unsigned long long size, res;
		if (fscanf(f, "%llu %llu", &size, &res) == 2)
			rss = res * (uint64_t)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
	/* an allocator that is not glibc's (a sanitizer's) reports
	 * nothing to mallinfo2: the resident set is the best we have */
	if (!used)
		used = rss;
	uint64_t sys = (uint64_t)sysconf(_SC_PHYS_PAGES) *
		       (uint64_t)sysconf(_SC_PAGESIZE);
	char h1[32], h2[32], h3[32];
	human(h1, sizeof(h1), used);
	human(h2, sizeof(h2), rss);
	human(h3, sizeof(h3), sys);
	tprintf(t, "# Memory\r\nused_memory:%" PRIu64 "\r\n"
		"used_memory_human:%s\r\nused_memory_rss:%" PRIu64 "\r\n"
		"used_memory_rss_human:%s\r\ntotal_system_memory:%" PRIu64
		"\r\ntotal_system_memory_human:%s\r\nmaxmemory:0\r\n"
		"maxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n"
		"mem_allocator:libc\r\n", used, h1, rss, h2, sys, h3);
}

static int
info_nvheap(struct resp_buf *t, struct server *s, struct kv_stats *st)
{
	struct nvh_persist_stats ps;
	struct nvh_pool_info pi;
	if (nvh_persist_stats(kv_pool(s->kv), &ps) ||
	    nvh_pool_info(kv_pool(s->kv), &pi))
		return -1;
	tprintf(t, "# nvheap\r\npool:%s\r\nindex:%s\r\npool_size:%" PRIu64
		"\r\npool_used:%" PRIu64 "\r\npool_free:%" PRIu64 "\r\n"
		"persist_backend:%s\r\nrun_generation:%" PRIu64 "\r\n"
		"flushes:%" PRIu64 "\r\nfences:%" PRIu64 "\r\n"
		"barriers:%" PRIu64 "\r\nlines_flushed:%" PRIu64 "\r\n%s%"
		PRIu64 "\r\n", s->pool_path, kv_index_name(st->index),
		st->pool_size, st->used, st->free, pi.persist_name,
		pi.run_generation, ps.flushes, ps.fences, ps.barriers,
		ps.lines_flushed,
		st->index == KV_HASH ? "hash_buckets:" : "btree_depth:",
		st->index == KV_HASH ? st->buckets : st->depth);
	return 0;
}

/*
 * INFO [section ...]: no argument is "default"; "all" and "everything"
 * are every section (nvkv has no module sections to tell them apart);
 * unknown names are ignored, so only unknown ones give an empty reply.
 * Sections come in redis's order whatever the order asked, the nvheap
 * section (nvkv's own) just before the keyspace.
 */
static void
c_info(struct conn *c, const struct resp_cmd *q)
{
	struct server *s = c->s;
	int want[S_N] = {0};
	for (int i = 1; i < q->argc || (q->argc == 1 && i == 1); i++) {
		int all = q->argc > 1 && (argis(q, i, "ALL") ||
					  argis(q, i, "EVERYTHING"));
		int def = q->argc == 1 || argis(q, i, "DEFAULT");
		for (int k = 0; k < S_N; k++)
			if (all || def || argis(q, i, section_names[k]))
				want[k] = 1;
	}
	struct kv_stats st;
	if (kv_stats(s->kv, &st)) {
		resp_error(&c->out, "ERR %s", nvh_errormsg());
		return;
	}
	struct resp_buf t = {0};
	for (int k = 0; k < S_N; k++) {
		if (!want[k])
			continue;
		if (t.len)
			tprintf(&t, "\r\n");
		switch (k) {
		case S_SERVER:
			info_server(&t, s);
			break;
		case S_CLIENTS:
			tprintf(&t, "# Clients\r\nconnected_clients:%" PRIu64
				"\r\ncluster_connections:0\r\nmaxclients:%u\r\n"
				"blocked_clients:0\r\ntracking_clients:0\r\n"
				"clients_in_timeout_table:0\r\n", s->clients,
				s->maxclients ? s->maxclients :
				DEFAULT_MAXCLIENTS);
			break;
		case S_MEMORY:
			info_memory(&t);
			break;
		case S_PERSISTENCE:
			/* no RDB or AOF: every write is in the pool when it
			 * is answered, so nothing is ever unsaved */
			tprintf(&t, "# Persistence\r\nloading:0\r\n"
				"async_loading:0\r\n"
				"rdb_changes_since_last_save:0\r\n"
				"rdb_bgsave_in_progress:0\r\n"
				"rdb_last_bgsave_status:ok\r\naof_enabled:0\r\n"
				"aof_rewrite_in_progress:0\r\n"
				"aof_last_write_status:ok\r\n"
				"nvheap_durable_writes:1\r\n");
			break;
		case S_STATS:
			tprintf(&t, "# Stats\r\ntotal_connections_received:%"
				PRIu64 "\r\ntotal_commands_processed:%" PRIu64
				"\r\nrejected_connections:%" PRIu64 "\r\n"
				"expired_keys:%" PRIu64 "\r\nevicted_keys:0\r\n"
				"group_commits:%" PRIu64 "\r\n"
				"group_commit_writes:%" PRIu64 "\r\n"
				"group_commit_reruns:%" PRIu64 "\r\n",
				s->total_clients, s->commands,
				s->rejected_clients, s->expired_keys,
				s->batches, s->batch_writes, s->batch_reruns);
			break;
		case S_REPLICATION:
			tprintf(&t, "# Replication\r\nrole:master\r\n"
				"connected_slaves:0\r\n"
				"master_failover_state:no-failover\r\n"
				"master_repl_offset:0\r\n"
				"repl_backlog_active:0\r\n");
			break;
		case S_CPU: {
			struct rusage self, kids;
			getrusage(RUSAGE_SELF, &self);
			getrusage(RUSAGE_CHILDREN, &kids);
			tprintf(&t, "# CPU\r\nused_cpu_sys:%ld.%06ld\r\n"
				"used_cpu_user:%ld.%06ld\r\n"
				"used_cpu_sys_children:%ld.%06ld\r\n"
				"used_cpu_user_children:%ld.%06ld\r\n",
				(long)self.ru_stime.tv_sec,
				(long)self.ru_stime.tv_usec,
				(long)self.ru_utime.tv_sec,
				(long)self.ru_utime.tv_usec,
				(long)kids.ru_stime.tv_sec,
				(long)kids.ru_stime.tv_usec,
				(long)kids.ru_utime.tv_sec,
				(long)kids.ru_utime.tv_usec);
			break;
		}
		case S_MODULES:
			tprintf(&t, "# Modules\r\n");
			break;
		case S_ERRORSTATS:
			tprintf(&t, "# Errorstats\r\n");
			break;
		case S_CLUSTER:
			tprintf(&t, "# Cluster\r\ncluster_enabled:0\r\n");
			break;
		case S_NVHEAP:
			if (info_nvheap(&t, s, &st)) {
				resp_buf_free(&t);
				resp_error(&c->out, "ERR %s", nvh_errormsg());
				return;
			}
			break;
		case S_KEYSPACE:
			/* as redis: a line only for a database with keys.
			 * expires: the store's count of keys with a time;
			 * avg_ttl, an estimate from samples in redis, is not
			 * kept (0, as redis says before it has sampled) */
			tprintf(&t, "# Keyspace\r\n");
			if (st.keys)
				tprintf(&t, "db0:keys=%" PRIu64 ",expires=%"
					PRIu64 ",avg_ttl=0\r\n", st.keys,
					kv_expires(c->s->kv));
			break;
		}
	}
	reply_text(c, &t);
}

/* ---- CONFIG ---- */

enum { P_FIXED, P_NUM, P_BIND, P_PORT, P_MAXCLIENTS, P_PASS, P_DIR, P_DBFILE };

/* The parameters nvkv has an answer for: their value, or what decides
 * it. */
struct param {
	const char *name;
	int kind;
	const char *value; /* P_FIXED */
	int flags;
	unsigned long long num; /* P_NUM */
};
#define PF_IMMUTABLE 1 /* redis refuses to change it at run time too */
#define PF_INT 2       /* an integer (CONFIG SET checks the value) */

static const struct param params[] = {
	/* no RDB snapshots and no AOF: the pool is the store */
	{"save", P_FIXED, "", 0, 0},
	{"appendonly", P_FIXED, "no", 0, 0},
	/* every write is durable before its reply, as with "always" */
	{"appendfsync", P_FIXED, "always", 0, 0},
	{"port", P_PORT, NULL, PF_INT, 0},
	{"bind", P_BIND, NULL, 0, 0},
	{"maxclients", P_MAXCLIENTS, NULL, PF_INT, 0},
	{"requirepass", P_PASS, NULL, 0, 0},
	{"databases", P_FIXED, "1", PF_IMMUTABLE | PF_INT, 0},
	/* a full pool fails writes with -OOM and evicts nothing */
	{"maxmemory", P_FIXED, "0", 0, 0},
	{"maxmemory-policy", P_FIXED, "noeviction", 0, 0},
	{"timeout", P_FIXED, "0", PF_INT, 0},
	{"tcp-keepalive", P_FIXED, "0", PF_INT, 0},
	{"tcp-backlog", P_FIXED, "511", PF_IMMUTABLE | PF_INT, 0},
	{"dir", P_DIR, NULL, 0, 0},
	{"dbfilename", P_DBFILE, NULL, 0, 0},
	{"daemonize", P_FIXED, "no", PF_IMMUTABLE, 0},
	{"pidfile", P_FIXED, "", PF_IMMUTABLE, 0},
	{"logfile", P_FIXED, "", PF_IMMUTABLE, 0},
	{"unixsocket", P_FIXED, "", PF_IMMUTABLE, 0},
	{"io-threads", P_FIXED, "1", PF_IMMUTABLE | PF_INT, 0},
	{"cluster-enabled", P_FIXED, "no", PF_IMMUTABLE, 0},
	{"protected-mode", P_FIXED, "no", 0, 0},
	/* the parser's limits (docs/kvstore.md) */
	{"proto-max-bulk-len", P_NUM, NULL, 0, RESP_MAX_BULK},
	{"client-query-buffer-limit", P_NUM, NULL, 0, MAX_QUERY},
};
#define NPARAMS (sizeof(params) / sizeof(params[0]))

/* The value of params[i] now, in buf. */
static const char *
param_value(struct conn *c, size_t i, char *buf, size_t n)
{
	struct server *s = c->s;
	const struct param *p = &params[i];
	switch (p->kind) {
	case P_NUM:
		snprintf(buf, n, "%llu", p->num);
		return buf;
	case P_PORT:
		snprintf(buf, n, "%d", s->port);
		return buf;
	case P_MAXCLIENTS:
		snprintf(buf, n, "%u", s->maxclients ? s->maxclients :
			 DEFAULT_MAXCLIENTS);
		return buf;
	case P_PASS:
		return s->pass ? s->pass : ""; /* redis shows it too */
	case P_DIR:
	case P_DBFILE: {
		/* the pool is nvkv's data file, its directory the data
		 * directory */
		const char *slash = strrchr(s->pool_path, '/');
		if (p->kind == P_DBFILE)
			return slash ? slash + 1 : s->pool_path;
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%.*s", slash ?
			 (int)(slash - s->pool_path) : 1,
			 slash ? s->pool_path : ".");
		if (slash == s->pool_path)
			snprintf(d, sizeof(d), "/");
		if (!realpath(d, buf) || strlen(buf) >= n)
			snprintf(buf, n, "%s", d);
		return buf;
	}
	case P_BIND: {
		/* the address this connection reached */
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);
		int fd = (int)bufferevent_getfd(c->bev);
		if (getsockname(fd, (struct sockaddr *)&sin, &sl) ||
		    sin.sin_family != AF_INET ||
		    !inet_ntop(AF_INET, &sin.sin_addr, buf, (socklen_t)n))
			snprintf(buf, n, "127.0.0.1");
		return buf;
	}
	}
	return p->value;
}

static int
param_find(const char *name, size_t l)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (l == strlen(params[i].name) &&
		    !strncasecmp(name, params[i].name, l))
			return (int)i;
	return -1;
}

/*
 * CONFIG GET pattern [pattern ...]: each parameter once, whatever matches
 * it.  A name without glob characters is answered under the spelling
 * asked (redis does the same); a pattern under the parameter's name.
 * Redis answers in its dict's hash order; nvkv in its table's order of
 * first match, which a client reading it as a map cannot tell apart.
 */
static void
config_get(struct conn *c, const struct resp_cmd *q)
{
	const char *as[NPARAMS] = {0};
	size_t asl[NPARAMS] = {0};
	int order[NPARAMS], n = 0;
	for (int a = 2; a < q->argc; a++) {
		const char *p = q->argv[a];
		size_t pl = q->argl[a];
		if (!memchr(p, '*', pl) && !memchr(p, '?', pl) &&
		    !memchr(p, '[', pl)) {
			int i = param_find(p, pl);
			if (i >= 0 && !as[i]) {
				as[i] = p;
				asl[i] = pl;
				order[n++] = i;
			}
			continue;
		}
		for (size_t i = 0; i < NPARAMS; i++)
			if (!as[i] && kv_glob(p, pl, params[i].name,
					      strlen(params[i].name), 1)) {
				as[i] = params[i].name;
				asl[i] = strlen(params[i].name);
				order[n++] = (int)i;
			}
	}
	resp_array(&c->out, 2 * n);
	for (int k = 0; k < n; k++) {
		char buf[PATH_MAX];
		const char *v = param_value(c, (size_t)order[k], buf,
					    sizeof(buf));
		resp_bulk(&c->out, as[order[k]], asl[order[k]]);
		reply_cstr(c, v);
	}
}

/*
 * CONFIG SET name value [name value ...]: every setting is fixed when the
 * server starts, so a value is accepted only if it is the current one
 * (CONFIG SET save "" and the like, which tools send, succeed); any
 * other gets redis's error format, saying why.
 */
static void
config_set(struct conn *c, const struct resp_cmd *q)
{
	if ((q->argc - 2) % 2) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	int seen[NPARAMS] = {0};
	for (int a = 2; a < q->argc; a += 2) {
		int i = param_find(q->argv[a], q->argl[a]);
		int l = q->argl[a] > 128 ? 128 : (int)q->argl[a];
		if (i < 0) {
			resp_error(&c->out, "ERR Unknown option or number of "
				   "arguments for CONFIG SET - '%.*s'", l,
				   q->argv[a]);
			return;
		}
		if (params[i].flags & PF_IMMUTABLE) {
			resp_error(&c->out, "ERR CONFIG SET failed (possibly "
				   "related to argument '%.*s') - can't set "
				   "immutable config", l, q->argv[a]);
			return;
		}
		if (seen[i]) {
			resp_error(&c->out, "ERR CONFIG SET failed (possibly "
				   "related to argument '%.*s') - duplicate "
				   "parameter", l, q->argv[a]);
			return;
		}
		seen[i] = 1;
	}
	for (int a = 2; a < q->argc; a += 2) {
		int i = param_find(q->argv[a], q->argl[a]);
		char buf[PATH_MAX];
		const char *v = param_value(c, (size_t)i, buf, sizeof(buf));
		long long x;
		if ((params[i].flags & PF_INT) &&
		    resp_strtoll(q->argv[a + 1], q->argl[a + 1], &x)) {
			int l = q->argl[a] > 128 ? 128 : (int)q->argl[a];
			resp_error(&c->out, "ERR CONFIG SET failed (possibly "
				   "related to argument '%.*s') - argument "
				   "couldn't be parsed into an integer", l,
				   q->argv[a]);
			return;
		}
		if (!bytes_eq(q->argv[a + 1], q->argl[a + 1], v)) {
			int l = q->argl[a] > 128 ? 128 : (int)q->argl[a];
			resp_error(&c->out, "ERR CONFIG SET failed (possibly "
				   "related to argument '%.*s') - nvkv-server "
				   "fixes it at start", l, q->argv[a]);
			return;
		}
	}
	resp_simple(&c->out, "OK");
}

static const char *const config_help[] = {
	"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GET <pattern>",
	"    Return parameters matching the glob-like <pattern> and their "
	"values.",
	"SET <directive> <value>",
	"    Set the configuration <directive> to <value>.",
	"RESETSTAT",
	"    Reset statistics reported by the INFO command.",
	"REWRITE",
	"    Rewrite the configuration file.",
	"HELP",
	"    Prints this help.",
	NULL,
};

static void
c_config(struct conn *c, const struct resp_cmd *q)
{
	struct server *s = c->s;
	if (argis(q, 1, "GET")) {
		if (sub_arity(c, q, "config|get", -3))
			config_get(c, q);
	} else if (argis(q, 1, "SET")) {
		if (sub_arity(c, q, "config|set", -4))
			config_set(c, q);
	} else if (argis(q, 1, "RESETSTAT")) {
		if (!sub_arity(c, q, "config|resetstat", 2))
			return;
		/* the counters INFO's stats show, as redis resets them */
		s->commands = s->total_clients = s->rejected_clients = 0;
		s->expired_keys = 0;
		s->batches = s->batch_writes = s->batch_reruns = 0;
		resp_simple(&c->out, "OK");
	} else if (argis(q, 1, "REWRITE")) {
		if (sub_arity(c, q, "config|rewrite", 2))
			resp_error(&c->out, "ERR The server is running without "
				   "a config file");
	} else if (argis(q, 1, "HELP")) {
		if (sub_arity(c, q, "config|help", 2))
			reply_help(c, config_help);
	} else {
		unknown_sub(c, q, "CONFIG");
	}
}

/* ---- COMMAND ---- */

/* A table name (upper case) as redis names commands; its length. */
static size_t
lower(char *b, size_t n, const char *name)
{
	size_t i = 0;
	for (; name[i] && i < n; i++)
		b[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
			      name[i] | 0x20 : name[i]);
	return i;
}

static void
reply_lower(struct conn *c, const char *name)
{
	char b[64];
	resp_bulk(&c->out, b, lower(b, sizeof(b), name));
}

static const struct command *
lookup_arg(const struct resp_cmd *q, int i)
{
	struct resp_cmd one = {.argc = 1, .argv = q->argv + i,
			       .argl = q->argl + i};
	return server_lookup(&one);
}

/*
 * COMMAND DOCS's group and summary of each command: redis-cli reads them
 * at start (its "help" crashes on a command without a group).  A command
 * missing here is shown in "generic" with no summary.
 */
static const struct doc {
	const char *name, *group, *summary;
} docs[] = {
	{"GET", "string", "Get the value of a key"},
	{"SET", "string", "Set the string value of a key"},
	{"SETNX", "string", "Set the value of a key, only if the key does "
	 "not exist"},
	{"SETEX", "string", "Set the value and expiration of a key"},
	{"PSETEX", "string", "Set the value and expiration in milliseconds "
	 "of a key"},
	{"GETSET", "string", "Set the string value of a key and return its "
	 "old value"},
	{"GETDEL", "string", "Get the value of a key and delete the key"},
	{"GETEX", "string", "Get the value of a key and optionally set its "
	 "expiration"},
	{"INCR", "string", "Increment the integer value of a key by one"},
	{"DECR", "string", "Decrement the integer value of a key by one"},
	{"INCRBY", "string", "Increment the integer value of a key by the "
	 "given amount"},
	{"DECRBY", "string", "Decrement the integer value of a key by the "
	 "given number"},
	{"APPEND", "string", "Append a value to a key"},
	{"GETRANGE", "string", "Get a substring of the string stored at a "
	 "key"},
	{"SUBSTR", "string", "Get a substring of the string stored at a key"},
	{"SETRANGE", "string", "Overwrite part of a string at key starting "
	 "at the specified offset"},
	{"INCRBYFLOAT", "string", "Increment the float value of a key by the "
	 "given amount"},
	{"STRLEN", "string", "Get the length of the value stored in a key"},
	{"MGET", "string", "Get the values of all the given keys"},
	{"MSET", "string", "Set multiple keys to multiple values"},
	{"MSETNX", "string", "Set multiple keys to multiple values, only if "
	 "none of the keys exist"},
	{"DEL", "generic", "Delete a key"},
	{"UNLINK", "generic", "Delete a key (as DEL)"},
	{"EXISTS", "generic", "Determine if a key exists"},
	{"SCAN", "generic", "Incrementally iterate the keys space"},
	{"KEYS", "generic", "Find all keys matching the given pattern"},
	{"EXPIRE", "generic", "Set a key's time to live in seconds"},
	{"PEXPIRE", "generic", "Set a key's time to live in milliseconds"},
	{"EXPIREAT", "generic", "Set the expiration for a key as a UNIX "
	 "timestamp"},
	{"PEXPIREAT", "generic", "Set the expiration for a key as a UNIX "
	 "timestamp specified in milliseconds"},
	{"TTL", "generic", "Get the time to live for a key in seconds"},
	{"PTTL", "generic", "Get the time to live for a key in milliseconds"},
	{"EXPIRETIME", "generic", "Get the expiration Unix timestamp for a "
	 "key"},
	{"PEXPIRETIME", "generic", "Get the expiration Unix timestamp for a "
	 "key in milliseconds"},
	{"PERSIST", "generic", "Remove the expiration from a key"},
	{"TYPE", "generic", "Determine the type stored at key"},
	{"MULTI", "transactions", "Mark the start of a transaction block"},
	{"EXEC", "transactions", "Execute all commands issued after MULTI"},
	{"DISCARD", "transactions", "Discard all commands issued after "
	 "MULTI"},
	{"WATCH", "transactions", "Watch the given keys to determine "
	 "execution of the MULTI/EXEC block"},
	{"UNWATCH", "transactions", "Forget about all watched keys"},
	{"PING", "connection", "Ping the server"},
	{"ECHO", "connection", "Echo the given string"},
	{"AUTH", "connection", "Authenticate to the server"},
	{"HELLO", "connection", "Handshake with Redis"},
	{"SELECT", "connection", "Change the selected database for the "
	 "current connection"},
	{"CLIENT", "connection", "A container for client connection "
	 "commands"},
	{"QUIT", "connection", "Close the connection"},
	{"DBSIZE", "server", "Return the number of keys in the selected "
	 "database"},
	{"FLUSHALL", "server", "Remove all keys from all databases"},
	{"FLUSHDB", "server", "Remove all keys from the current database"},
	{"INFO", "server", "Get information and statistics about the "
	 "server"},
	{"COMMAND", "server", "Get array of Redis command details"},
	{"CONFIG", "server", "A container for server configuration "
	 "commands"},
	{"SHUTDOWN", "server", "Shut down the server (every write is "
	 "already durable)"},
};

static const struct doc *
doc_of(const struct command *cmd)
{
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		if (!strcmp(docs[i].name, cmd->name))
			return &docs[i];
	return NULL;
}

/* The ACL category redis gives every command of the group, if any. */
static const char *
group_category(const struct command *cmd)
{
	static const char *const map[][2] = {
		{"string", "@string"}, {"generic", "@keyspace"},
		{"transactions", "@transaction"},
		{"connection", "@connection"},
	};
	const struct doc *d = doc_of(cmd);
	if (!strcmp(cmd->name, "CLIENT"))
		return NULL; /* a container: its subcommands have them */
	for (size_t i = 0; d && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(d->group, map[i][0]))
			return map[i][1];
	return NULL;
}

/*
 * A command's COMMAND INFO entry, redis 7's ten fields: name, arity,
 * flags, first key, last key, step, ACL categories, tips, key specs,
 * subcommands.  Only what the tables know: the flags say read or write
 * (and no-auth), the categories that and the command's group; no tips,
 * key specs or subcommand entries (key positions are in fields 4-6).
 */
static void
command_info(struct conn *c, const struct command *cmd)
{
	int f = cmd->flags;
	const char *cat = group_category(cmd);
	/* CMD_WRITE on EXEC means it joins the group commit: transaction
	 * control neither reads nor writes for redis */
	int tx = cat && !strcmp(cat, "@transaction");
	int w = !tx && (f & CMD_WRITE), r = !tx && (f & CMD_READ);
	resp_array(&c->out, 10);
	reply_lower(c, cmd->name);
	resp_int(&c->out, cmd->arity);
	resp_array(&c->out, w + r + !!(f & CMD_NOAUTH));
	if (w)
		resp_simple(&c->out, "write");
	if (r)
		resp_simple(&c->out, "readonly");
	if (f & CMD_NOAUTH)
		resp_simple(&c->out, "no_auth");
	resp_int(&c->out, cmd->first);
	resp_int(&c->out, cmd->last);
	resp_int(&c->out, cmd->step);
	resp_array(&c->out, w + r + !!cat);
	if (w)
		resp_simple(&c->out, "@write");
	if (r)
		resp_simple(&c->out, "@read");
	if (cat)
		resp_simple(&c->out, cat);
	resp_array(&c->out, 0);
	resp_array(&c->out, 0);
	resp_array(&c->out, 0);
}

/* name, then the map {summary, group} */
static void
command_doc(struct conn *c, const struct command *cmd)
{
	const struct doc *d = doc_of(cmd);
	const char *group = d ? d->group : "generic";
	const char *summary = d ? d->summary : "";
	reply_lower(c, cmd->name);
	resp_array(&c->out, 4);
	reply_cstr(c, "summary");
	reply_cstr(c, summary);
	reply_cstr(c, "group");
	reply_cstr(c, group);
}

/* COMMAND DOCS [name ...]: unknown names are left out, as redis does */
static void
command_docs(struct conn *c, const struct resp_cmd *q)
{
	int n = 0;
	if (q->argc == 2) {
		FOR_EACH_COMMAND(cmd)
			n++;
		resp_array(&c->out, 2 * n);
		FOR_EACH_COMMAND(cmd)
			command_doc(c, cmd);
		return;
	}
	for (int i = 2; i < q->argc; i++)
		n += lookup_arg(q, i) != NULL;
	resp_array(&c->out, 2 * n);
	for (int i = 2; i < q->argc; i++) {
		const struct command *cmd = lookup_arg(q, i);
		if (cmd)
			command_doc(c, cmd);
	}
}

/* the categories command_info shows */
static int
has_cat(const struct command *cmd, const char *p, size_t l)
{
	const char *cat = group_category(cmd);
	int tx = cat && !strcmp(cat, "@transaction");
	return (bytes_eq(p, l, "write") && !tx && (cmd->flags & CMD_WRITE)) ||
	       (bytes_eq(p, l, "read") && !tx && (cmd->flags & CMD_READ)) ||
	       (cat && bytes_eq(p, l, cat + 1));
}

/* COMMAND LIST [FILTERBY MODULE name|ACLCAT cat|PATTERN pattern] */
static void
command_list(struct conn *c, const struct resp_cmd *q)
{
	int by = 0; /* 1 module, 2 category, 3 pattern */
	if (q->argc == 5 && argis(q, 2, "FILTERBY")) {
		by = argis(q, 3, "MODULE") ? 1 : argis(q, 3, "ACLCAT") ? 2 :
		     argis(q, 3, "PATTERN") ? 3 : 0;
	}
	if (q->argc != 2 && !by) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	const char *p = by ? q->argv[4] : NULL;
	size_t pl = by ? q->argl[4] : 0;
	int n = 0;
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			resp_array(&c->out, n);
		FOR_EACH_COMMAND(cmd) {
			/* matched against the name redis shows: lower case */
			char low[64];
			size_t l = lower(low, sizeof(low), cmd->name);
			int want = by == 0 ||
				   (by == 2 && has_cat(cmd, p, pl)) ||
				   (by == 3 && kv_glob(p, pl, low, l, 1));
			if (want && pass)
				reply_lower(c, cmd->name);
			n += want && !pass;
		}
	}
}

/* COMMAND GETKEYS cmd arg...: the keys, from the table's positions */
static void
command_getkeys(struct conn *c, const struct resp_cmd *q)
{
	const struct command *cmd = lookup_arg(q, 2);
	int argc = q->argc - 2;
	if (!cmd) {
		resp_error(&c->out, "ERR Invalid command specified");
		return;
	}
	if ((cmd->arity > 0 && argc != cmd->arity) ||
	    (cmd->arity < 0 && argc < -cmd->arity)) {
		resp_error(&c->out, "ERR Invalid number of arguments "
			   "specified for command");
		return;
	}
	int last = cmd->last < 0 ? argc + cmd->last : cmd->last;
	if (cmd->first <= 0 || cmd->step <= 0 || last < cmd->first) {
		resp_error(&c->out, "ERR The command has no key arguments");
		return;
	}
	int n = 0;
	for (int i = cmd->first; i <= last && i < argc; i += cmd->step)
		n++;
	resp_array(&c->out, n);
	for (int i = cmd->first; i <= last && i < argc; i += cmd->step)
		resp_bulk(&c->out, q->argv[2 + i], q->argl[2 + i]);
}

static const char *const command_help[] = {
	"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"(no subcommand)",
	"    Return details about all Redis commands.",
	"COUNT",
	"    Return the total number of commands in this Redis server.",
	"LIST",
	"    Return a list of all commands in this Redis server.",
	"INFO [<command-name> ...]",
	"    Return details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"DOCS [<command-name> ...]",
	"    Return documentation details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"GETKEYS <full-command>",
	"    Return the keys from a full Redis command.",
	"HELP",
	"    Prints this help.",
	NULL,
};

/* COMMAND and its subcommands, built from the command tables: what the
 * server really runs. */
static void
c_command(struct conn *c, const struct resp_cmd *q)
{
	long long n = 0;
	if (q->argc == 1 || argis(q, 1, "INFO")) {
		if (q->argc <= 2) {
			FOR_EACH_COMMAND(cmd)
				n++;
			resp_array(&c->out, n);
			FOR_EACH_COMMAND(cmd)
				command_info(c, cmd);
			return;
		}
		resp_array(&c->out, q->argc - 2);
		for (int i = 2; i < q->argc; i++) {
			const struct command *cmd = lookup_arg(q, i);
			if (cmd)
				command_info(c, cmd);
			else
				resp_null(&c->out);
		}
	} else if (argis(q, 1, "COUNT")) {
		if (!sub_arity(c, q, "command|count", 2))
			return;
		FOR_EACH_COMMAND(cmd)
			n++;
		resp_int(&c->out, n);
	} else if (argis(q, 1, "DOCS")) {
		command_docs(c, q);
	} else if (argis(q, 1, "LIST")) {
		command_list(c, q);
	} else if (argis(q, 1, "GETKEYS")) {
		/* redis 7.0.15 wants a command and an argument */
		if (sub_arity(c, q, "command|getkeys", -4))
			command_getkeys(c, q);
	} else if (argis(q, 1, "HELP")) {
		if (sub_arity(c, q, "command|help", 2))
			reply_help(c, command_help);
	} else {
		unknown_sub(c, q, "COMMAND");
	}
}

const struct command cmd_server_table[] = {
	{"PING", c_ping, -1, 0, 0, 0, 0},
	{"ECHO", c_echo, 2, 0, 0, 0, 0},
	{"INFO", c_info, -1, 0, 0, 0, 0},
	{"AUTH", c_auth, -2, CMD_NOAUTH, 0, 0, 0},
	{"HELLO", c_hello, -1, CMD_NOAUTH, 0, 0, 0},
	{"SELECT", c_select, 2, 0, 0, 0, 0},
	{"CLIENT", c_client, -2, 0, 0, 0, 0},
	{"COMMAND", c_command, -1, 0, 0, 0, 0},
	{"CONFIG", c_config, -2, 0, 0, 0, 0},
	{"QUIT", c_quit, -1, CMD_NOAUTH | CMD_NOMULTI, 0, 0, 0},
	{"SHUTDOWN", c_shutdown, -1, CMD_REFUSE_MULTI, 0, 0, 0},
	{NULL, NULL, 0, 0, 0, 0, 0},
};
