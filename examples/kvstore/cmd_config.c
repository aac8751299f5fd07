/*
 * cmd_config.c -- nvkv-server's CONFIG: GET of the parameters nvkv has an
 * answer for, SET only of a parameter's current value (every setting
 * is fixed at start), RESETSTAT, REWRITE and HELP.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>

#include "cmd.h"

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

void
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
