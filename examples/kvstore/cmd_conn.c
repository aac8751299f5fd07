/*
 * cmd_conn.c -- nvkv-server's connection commands: PING, ECHO, SELECT,
 * QUIT, AUTH, HELLO and CLIENT.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "cmd.h"

/* ---- PING, ECHO, SELECT, QUIT ---- */

void
c_ping(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc == 1)
		resp_simple(&c->out, "PONG");
	else if (q->argc == 2)
		resp_bulk(&c->out, q->argv[1], q->argl[1]);
	else
		wrong_args(&c->out, "ping");
}

void
c_echo(struct conn *c, const struct resp_cmd *q)
{
	resp_bulk(&c->out, q->argv[1], q->argl[1]);
}

/* One database (docs/kvstore.md): SELECT 0 only, with redis's errors, as
 * redis-server --databases 1 answers. */
void
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

void
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

void
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
void
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

void
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
