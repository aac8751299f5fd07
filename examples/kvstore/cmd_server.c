/*
 * cmd_server.c -- nvkv-server's connection and server commands: PING,
 * ECHO, AUTH, SELECT, QUIT, SHUTDOWN, INFO, CONFIG, COMMAND.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "server.h"

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

/* CONFIG GET: what benchmark tools ask for; nothing is settable. */
static void
c_config(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc == 3 && argis(q, 1, "GET")) {
		const char *names[] = {"save", "appendonly"};
		const char *vals[] = {"", "no"};
		int n = 0;
		for (int i = 0; i < 2; i++)
			n += kv_glob(q->argv[2], q->argl[2], names[i],
				  strlen(names[i]), 1);
		resp_array(&c->out, 2 * n);
		for (int i = 0; i < 2; i++)
			if (kv_glob(q->argv[2], q->argl[2], names[i],
				 strlen(names[i]), 1)) {
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


static void
c_command(struct conn *c, const struct resp_cmd *q)
{
	if (q->argc == 2 && argis(q, 1, "COUNT"))
		{
		long long n = 0;
		FOR_EACH_COMMAND(cmd)
			n++;
		resp_int(&c->out, n);
	}
	else
		resp_array(&c->out, 0);
}
const struct command cmd_server_table[] = {
	{"PING", c_ping, -1, 0, 0, 0, 0},
	{"ECHO", c_echo, 2, 0, 0, 0, 0},
	{"INFO", c_info, -1, 0, 0, 0, 0},
	{"AUTH", c_auth, -2, CMD_NOAUTH, 0, 0, 0},
	{"SELECT", c_select, 2, 0, 0, 0, 0},
	{"COMMAND", c_command, -1, 0, 0, 0, 0},
	{"CONFIG", c_config, -2, 0, 0, 0, 0},
	{"QUIT", c_quit, -1, CMD_NOAUTH, 0, 0, 0},
	{"SHUTDOWN", c_shutdown, -1, 0, 0, 0, 0},
	{NULL, NULL, 0, 0, 0, 0, 0},
};
