/*
 * server.h -- what nvkv-server's parts share: the server and connection
 * state, the command table's shape, and small reply helpers.
 *
 *   server.c      connections, buffers, the event loop, group commit, main
 *   cmd_*.c       the commands, one concept a file (listed in cmd.h, which
 *                 they share): strings, expiry, the keyspace, MULTI/EXEC,
 *                 connections, INFO, CONFIG, COMMAND, SHUTDOWN
 *   glob.c        Redis's glob patterns, in time polynomial in the input
 *   resp.c        the RESP2 parser and reply builder (pure bytes)
 */
#ifndef KV_SERVER_H
#define KV_SERVER_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "kv.h"
#include "resp.h"

#define MAX_QUERY (RESP_MAX_BULK + (1u << 20)) /* unparsed input */
#define MAX_OUTPUT (256u << 20)                /* unsent replies */
#define PAUSE_OUTPUT (4u << 20)                /* stop reading above */
#define SCAN_COUNT_MAX 100000

#define BATCH_MAX 1024 /* writes per group commit */
/* redis's default maxclients: --maxclients's default, and what INFO and
 * CONFIG show while the server sets no limit of its own (0) */
#define DEFAULT_MAXCLIENTS 10000

/* A command of the current batch, copied (for a re-run, see commit). */
struct qcmd {
	struct conn *c;
	struct qcmd *next;
	int argc;
	const char **argv;
	size_t *argl;
	int authed;  /* the connection's AUTH state when it ran (a re-run) */
};

struct server {
	struct event_base *base;
	struct kv *kv;
	const char *pool_path;
	const char *pass;
	int port;
	uint64_t start_ms;          /* when it started (uptime) */
	char run_id[41];
	unsigned maxclients;
	uint64_t clients, total_clients, commands, next_client_id;
	uint64_t rejected_clients;
	uint64_t batches, batch_writes, batch_reruns;
	uint64_t expired_keys;
	uint64_t expire_cursor;   /* active expiry: where the next step goes */
	struct event *expire_ev;
	int stopping;
	/* group commit: the writes of one loop iteration share a transaction */
	nvh_tx *batch;
	size_t nwrites;
	struct qcmd *q, **qtail;
	struct conn *dirty;       /* connections with replies held back */
	struct event *commit_ev;  /* low priority: after every ready read */
	int rerun;                /* re-running a failed batch one by one */
	struct conn *conns;       /* every connection (CLIENT LIST) */
	/* connections with commands left to run, in turn (c->more) */
	struct conn *ready, **ready_tail;
	/* prepared batches (on ordinary files): connections whose input
	 * waits for the commit event, which snapshots the keys of all their
	 * writes in one call and then runs them (c->pending) */
	int prepare;
	struct conn *pend, **pend_tail;
	/* out of descriptors: one held back to refuse a client with */
	int reserve_fd;
	struct evconnlistener *listener;
	struct event *accept_ev;  /* listening again after a pause */
	uint64_t accept_log_ms, accept_errors; /* rate-limited warnings */
	/* background freeing (server.c): a commit frees at most
	 * RECLAIM_COMMIT_STEPS steps of a big structure's objects itself;
	 * this thread frees the rest */
	pthread_t reclaimer;
	pthread_mutex_t reclaim_lock;
	pthread_cond_t reclaim_cond;
	int reclaim_kicked, reclaim_stop, reclaim_running;
	_Atomic int reclaim_stop_now;
	_Atomic uint64_t reclaim_steps; /* its calls of up to RECLAIM_SLICE
					 * steps (INFO reclaim_slices) */
};

struct conn {
	struct server *s;
	struct bufferevent *bev; /* writes (and reports write errors) */
	struct event *rev;       /* reads (server.c: conn_read) */
	struct resp_cmd cmd;
	struct resp_buf out;
	int authed;
	int closing;  /* close once the output is flushed */
	int paused;
	int dirty;    /* on s->dirty: replies wait for the batch's commit */
	size_t mark;  /* out.len when it joined the batch (a re-run's start) */
	int dead;     /* the peer went away while dirty: free at the commit */
	int more;     /* on s->ready: commands left to run (batch full, or
		       * its output drained after a pause) */
	struct conn *next_ready;
	int pending;  /* on s->pend */
	struct conn *next_pend;
	struct conn *next_dirty;
	struct conn *prev, *next; /* on s->conns */
	/* CLIENT */
	uint64_t id;
	uint64_t created_ms;
	char addr[64];
	char *name;
	char lastcmd[32];
	/* MULTI: the queued commands (copies), or flags */
	int multi;           /* inside MULTI */
	int multi_error;     /* a command was refused while queueing */
	struct qcmd *mq, **mqtail;
	int mq_n;
	/* WATCH: the keys and whether one changed since */
	struct watch *watches;
	int watch_dirty;
	/* EXEC: the commands of this pass's EXECs, for a re-run */
	struct execq *execs, *exec_next;
};

typedef void (*cmd_fn)(struct conn *c, const struct resp_cmd *q);

/* Command flags */
#define CMD_WRITE 1    /* joins the group commit's transaction */
#define CMD_NOAUTH 2   /* allowed before AUTH */
#define CMD_NOMULTI 4  /* runs at once even inside MULTI (EXEC, ...) */
#define CMD_READ 8
#define CMD_REFUSE_MULTI 16 /* refused inside MULTI (SHUTDOWN) */

struct command {
	const char *name;   /* upper case */
	cmd_fn fn;
	int arity;  /* exact argc if > 0; at least -arity if < 0 */
	int flags;
	int first, last, step; /* key positions (COMMAND INFO) */
};

/* The tables of cmd_table.c, each ending with a NULL name: the keyspace
 * commands (strings, expiry, keys, MULTI/EXEC) and the connection and
 * server commands. */
extern const struct command cmd_keys_table[];
extern const struct command cmd_server_table[];

/* server.c */
const struct command *server_lookup(const struct resp_cmd *q);
void server_execute(struct conn *c, const struct resp_cmd *q);
uint64_t server_now_ms(void);
/* Wake the background freeing thread: a commit may have left objects
 * dying (server.c). */
void server_reclaim_kick(struct server *s);
void conn_discard_multi(struct conn *c);
/* A copy of command q of c, in one allocation (free() it). */
struct qcmd *qcmd_copy(struct conn *c, const struct resp_cmd *q);

/* cmd_multi.c: MULTI queueing, the end of a pass, a connection's end */
void keys_queue(struct conn *c, const struct resp_cmd *q,
		const struct command *cmd);
void keys_batch_done(struct conn *c);
void keys_conn_free(struct conn *c);
void keys_discard(struct conn *c); /* DISCARD's effect */
/* cmd_expire.c: active expiry's timer */
int keys_init(struct server *s);
void keys_fini(struct server *s);
/* visit every command of both tables */
#define FOR_EACH_COMMAND(cmd)                                               \
	for (const struct command *const *tab_ = (const struct command *const[]) \
	     {cmd_keys_table, cmd_server_table, NULL}; *tab_; tab_++)        \
		for (const struct command *cmd = *tab_; cmd->name; cmd++)

/* glob.c: Redis's glob (stringmatchlen): * ? [abc] [^a-z] \x, binary
 * safe; 1 if s matches p. */
int kv_glob(const char *p, size_t pl, const char *s, size_t sl, int nocase);

/* ---- small helpers ---- */

static inline int
argis(const struct resp_cmd *c, int i, const char *s)
{
	return resp_argeq(c, i, s);
}

static inline void
wrong_args(struct resp_buf *o, const char *name)
{
	resp_error(o, "ERR wrong number of arguments for '%s' command", name);
}

/* Append the replies in src to dst. */
static inline void
resp_append(struct resp_buf *dst, const struct resp_buf *src)
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

#endif
