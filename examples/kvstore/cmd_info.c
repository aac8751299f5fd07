/*
 * cmd_info.c -- nvkv-server's INFO: redis's sections, in redis's order,
 * with nvkv's own (nvheap) before the keyspace.
 */
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/resource.h>
#include <sys/utsname.h>

#include <event2/event.h>

#include "cmd.h"

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
	/* the pool's size now, how far it may grow (a size, "unlimited":
	 * until the file system is full, "fixed") and how often it grew */
	char max[32], h1[32];
	kv_max_size_str(&pi, max, sizeof(max));
	human(h1, sizeof(h1), st->pool_size);
	tprintf(t, "# nvheap\r\npool:%s\r\nindex:%s\r\npool_size:%" PRIu64
		"\r\npool_size_human:%s\r\npool_max_size:%s\r\n"
		"pool_growths:%" PRIu64 "\r\n"
		"pool_used:%" PRIu64 "\r\npool_free:%" PRIu64 "\r\n"
		"persist_backend:%s\r\nrun_generation:%" PRIu64 "\r\n"
		"flushes:%" PRIu64 "\r\nfences:%" PRIu64 "\r\n"
		"barriers:%" PRIu64 "\r\nlines_flushed:%" PRIu64 "\r\n%s%"
		PRIu64 "\r\n", s->pool_path, kv_index_name(st->index),
		st->pool_size, h1, max, pi.segments, st->used,
		st->free, pi.persist_name,
		pi.run_generation, ps.flushes, ps.fences, ps.barriers,
		ps.lines_flushed,
		st->index == KV_HASH ? "hash_buckets:" : "btree_depth:",
		st->index == KV_HASH ? st->buckets : st->depth);
	/* background freeing: the slices (up to 16 steps) its thread ran;
	 * the B-tree nodes the commands read (the store's and the
	 * collections') */
	tprintf(t, "reclaim_slices:%" PRIu64 "\r\nbtree_nodes_read:%" PRIu64
		"\r\n", (uint64_t)atomic_load(&s->reclaim_steps),
		st->nodes_read);
	return 0;
}

/*
 * INFO [section ...]: no argument is "default"; "all" and "everything"
 * are every section (nvkv has no module sections to tell them apart);
 * unknown names are ignored, so only unknown ones give an empty reply.
 * Sections come in redis's order whatever the order asked, the nvheap
 * section (nvkv's own) just before the keyspace.
 */
void
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
				"group_commit_reruns:%" PRIu64 "\r\n"
				"group_commit_prepared:%d\r\n",
				s->total_clients, s->commands,
				s->rejected_clients, s->expired_keys,
				s->batches, s->batch_writes, s->batch_reruns,
				s->prepare);
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
