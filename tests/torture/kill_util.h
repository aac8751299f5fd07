/*
 * kill_util.h -- what the kill tortures (kill_obj.c, kill_malloc.c)
 * share: the clock, sleeping, reaping a child whose fate was planned,
 * asking `nvheap check` (NVHEAP_TOOL) for its opinion of a pool, the
 * threads' journals (libpmemlog pools beside the pool file) and the run's
 * own directory.
 */
#ifndef NVH_KILL_UTIL_H
#define NVH_KILL_UTIL_H

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpmemlog.h>

static inline double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void
sleep_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

/* Wait for the child as its fate was planned: killed (or, `may_exit`,
 * exited 0).  1 if it exited by itself, 0 if killed, -1 (why set)
 * otherwise. */
static inline int
kill_reap(pid_t pid, int may_exit, char *why, size_t wl)
{
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		return 0;
	if (may_exit && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	if (WIFSIGNALED(st))
		snprintf(why, wl, "the child died of signal %d", WTERMSIG(st));
	else
		snprintf(why, wl, "the child exited by itself (status %d)",
			 WEXITSTATUS(st));
	return -1;
}

/* `tool check path`: 0 if it finds the pool consistent, else -1 (why
 * set). */
static inline int
kill_tool_check(const char *tool, const char *path, char *why, size_t wl)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "%s check %s > /dev/null", tool, path);
	int t = system(cmd);
	if (t == 0)
		return 0;
	snprintf(why, wl, "`nvheap check %s` exited %d", path,
		 WIFEXITED(t) ? WEXITSTATUS(t) : -1);
	return -1;
}

/* Thread t's journal of the pool at `pool`. */
static inline void
kill_log_path(char *buf, size_t n, const char *pool, unsigned t)
{
	snprintf(buf, n, "%s.log%u", pool, t);
}

/* n empty journals of `size` bytes: 0, or -1 (said on stderr). */
static inline int
kill_journals_create(const char *pool, unsigned n, size_t size)
{
	for (unsigned t = 0; t < n; t++) {
		char lp[600];
		kill_log_path(lp, sizeof(lp), pool, t);
		unlink(lp);
		PMEMlogpool *plp = pmemlog_create(lp, size, 0600);
		if (!plp) {
			fprintf(stderr, "kill: %s: %s\n", lp, pmemlog_errormsg());
			return -1;
		}
		pmemlog_close(plp);
	}
	return 0;
}

/* Thread t's journal opened: the handle, or NULL with why. */
static inline PMEMlogpool *
kill_journal_open(const char *pool, unsigned t, char *why, size_t wl)
{
	char lp[600];
	kill_log_path(lp, sizeof(lp), pool, t);
	PMEMlogpool *plp = pmemlog_open(lp);
	if (!plp)
		snprintf(why, wl, "journal %s: %s", lp, pmemlog_errormsg());
	return plp;
}

/* The n journals emptied (what they said is checked: the next start):
 * 0, or -1 with why. */
static inline int
kill_journals_rewind(const char *pool, unsigned n, char *why, size_t wl)
{
	for (unsigned t = 0; t < n; t++) {
		PMEMlogpool *plp = kill_journal_open(pool, t, why, wl);
		if (!plp)
			return -1;
		pmemlog_rewind(plp);
		pmemlog_close(plp);
	}
	return 0;
}

/* Thread t's journal walked (cb as pmemlog_walk's, with arg): 0, or -1
 * with why. */
static inline int
kill_journal_walk(const char *pool, unsigned t,
		  int (*cb)(const void *, size_t, void *), void *arg,
		  char *why, size_t wl)
{
	PMEMlogpool *plp = kill_journal_open(pool, t, why, wl);
	if (!plp)
		return -1;
	pmemlog_walk(plp, 0, cb, arg);
	pmemlog_close(plp);
	return 0;
}

/* The pool file and its n journals removed. */
static inline void
kill_files_remove(const char *pool, unsigned n)
{
	unlink(pool);
	for (unsigned t = 0; t < n; t++) {
		char lp[600];
		kill_log_path(lp, sizeof(lp), pool, t);
		unlink(lp);
	}
}

/* A new directory "dir/name.XXXXXX" in own (other runs, of other
 * checkouts, may be running at the same time): 0, or -1 (said). */
static inline int
kill_own_dir(const char *dir, const char *name, char *own, size_t n)
{
	snprintf(own, n, "%s/%s.XXXXXX", dir && *dir ? dir : "/dev/shm", name);
	if (mkdtemp(own))
		return 0;
	fprintf(stderr, "kill: mkdtemp %s: %s\n", own, strerror(errno));
	return -1;
}

/* The options every kill torture takes, and one of its own. */
struct kill_args {
	long kills;
	uint64_t seed, ops;
	const char *only, *dir;
	double soak;
	const char *extra; /* the own option's argument ("" if it has none
			    * and was given; NULL if not given) */
};

/* argv into a (kills: the default); 0, or 2 after the usage on stderr.
 * `extra`: the own option's name, `extra_arg` its argument's name (NULL:
 * it takes none). */
static inline int
kill_parse(int argc, char **argv, const char *prog, long kills,
	   const char *extra, const char *extra_arg, struct kill_args *a)
{
	*a = (struct kill_args){.kills = kills, .dir = getenv("NVHEAP_TEST_DIR"),
		.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20};
	const struct option lo[] = {
		{"kills", required_argument, NULL, 'k'},
		{"seed", required_argument, NULL, 's'},
		{"workload", required_argument, NULL, 'w'},
		{"dir", required_argument, NULL, 'd'},
		{"soak", required_argument, NULL, 'S'},
		{"ops", required_argument, NULL, 'o'},
		{extra, extra_arg ? required_argument : no_argument, NULL, 'X'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "k:s:w:d:", lo, NULL)) != -1) {
		switch (c) {
		case 'k': a->kills = atol(optarg); break;
		case 's': a->seed = strtoull(optarg, NULL, 0); break;
		case 'w': a->only = optarg; break;
		case 'd': a->dir = optarg; break;
		case 'S': a->soak = atof(optarg); break;
		case 'o': a->ops = strtoull(optarg, NULL, 0); break;
		case 'X': a->extra = optarg ? optarg : ""; break;
		default:
			fprintf(stderr, "usage: %s [--kills N] [--seed S] "
				"[--workload NAME] [--dir DIR] [--soak SECONDS] "
				"[--ops N] [--%s%s%s]\n", prog, extra,
				extra_arg ? " " : "", extra_arg ? extra_arg : "");
			return 2;
		}
	}
	return 0;
}

/* Each of the n workloads (names) that --workload selects, in a new
 * directory: run(i, dir, seed, kills, soak, arg) with the kills and the
 * soak split among them; the exit status (0, 1 a failure, 2 none
 * selected). */
static inline int
kill_run_all(const struct kill_args *a, const char *name,
	     const char *const *names, int n,
	     int (*run)(int, const char *, uint64_t, long, double, void *),
	     void *arg)
{
	char own[300];
	if (kill_own_dir(a->dir, name, own, sizeof(own)))
		return 1;
	printf("torture: %s seed %" PRIu64 " (rerun with --seed %" PRIu64
	       " to repeat)\n", name, a->seed, a->seed);
	int rc = 0, ran = 0;
	for (int i = 0; i < n; i++) {
		if (a->only && strcmp(a->only, names[i]))
			continue;
		ran++;
		rc |= run(i, own, a->seed + (uint64_t)i,
			  a->only ? a->kills : (a->kills + n - 1) / n,
			  a->soak / (a->only ? 1 : n), arg);
	}
	if (!ran) {
		fprintf(stderr, "%s: no workload %s\n", name, a->only);
		rc = 2;
	}
	if (rc == 1)
		fprintf(stderr, "%s: the failed runs' pools and journals are "
			"in %s\n", name, own);
	else
		rmdir(own);
	return rc;
}

#endif
