/*
 * kill_obj.c -- kill torture for the object layer with threads: a child
 * process runs the workload of tests/torture/mt_obj.c (2 or 4 threads
 * on private and shared reference-counted structures, cascades of more
 * than 10,000 objects, big rolled-back transactions) on a real pool
 * file, each thread journaling every transaction to its own libpmemlog
 * pool: its intent (the sums it will change) before the commit, its
 * acknowledgement after.  The parent SIGKILLs the child at a random
 * moment: early (during the open's recovery and drain), while a thread
 * commits or drains a big cut, or anywhere; sometimes it then starts a
 * child that only opens the pool and kills that one too, in the middle
 * of the recovery.  Then it reopens the pool itself and checks that
 * every structure's sums are the previous ones plus every acknowledged
 * transaction's deltas, plus each thread's transaction in flight wholly
 * or not at all; that nvh_check is clean (no leak, no dangling pointer,
 * every count right) with no dying object left after the open; and,
 * every 10th kill, that `nvheap check` (NVHEAP_TOOL) agrees.  The
 * journals are then rewound: the checked sums are the next start.
 *
 *   kill_obj [--kills N] [--seed S] [--workload NAME] [--dir DIR]
 *        [--soak SECONDS] [--ops N] [--lend-race]
 *
 * The files go to a new directory in DIR (NVHEAP_TEST_DIR, else
 * /dev/shm), removed unless a run failed. *
 * Workloads: kill-obj-2t and kill-obj-4t (2 and 4 threads), kill-obj-grow
 * (4 threads in a pool that starts at 2 MiB and grows).  Each prints
 * `torture kill-obj-<n>t: <N> kills, <F> failures`; the exit status is
 * non-zero if any failed.  --ops N: no kills; each thread runs N
 * transactions and the child exits (checks the harness alone).
 * --lend-race: item-lend releases the item's mutex before its commit
 * in kill-obj-2t too (kill-obj-4t always does): a commit whose item
 * another thread freed meanwhile must be refused (tests/unit/
 * test_stress.c, lent_object_freed_and_reallocated).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpmemlog.h>

#include "kill_util.h"
#include "mt_obj.h"

#define POOL_SIZE (64ull << 20)
#define LOG_SIZE (8ull << 20)

enum { J_INTENT = 1, J_ACK, J_NOACK };

/* One journal record (fixed size): an intent carries the whole op, a
 * conclusion only its seq. */
struct jrec {
	uint32_t type, pad;
	struct mt_op op;
};

/* Shared with the child: where its threads are when it dies. */
struct shm {
	uint32_t ready; /* the child's open returned */
	struct mt_phase ph[MT_MAXT];
};

/* ---- the child ---- */

static PMEMlogpool *journal[MT_MAXT];

static int
jappend(unsigned t, uint32_t type, const struct mt_op *op)
{
	struct jrec r;
	memset(&r, 0, sizeof(r));
	r.type = type;
	if (type == J_INTENT)
		r.op = *op;
	else
		r.op.seq = op->seq;
	return pmemlog_append(journal[t], &r, sizeof(r));
}

static int
hook_intent(void *arg, unsigned t, const struct mt_op *op)
{
	(void)arg;
	return jappend(t, J_INTENT, op);
}

static int
hook_done(void *arg, unsigned t, const struct mt_op *op, int rc)
{
	(void)arg;
	return jappend(t, rc ? J_NOACK : J_ACK, op);
}

static const struct mt_hooks hooks = {hook_intent, hook_done, NULL};

/* A thread that fails ends the child at once (the parent reports it). */
static void *
child_thread(void *arg)
{
	struct mt_thread *c = arg;
	if (mt_run(c)) {
		fprintf(stderr, "kill: child: %s\n", c->err);
		_exit(5);
	}
	return NULL;
}

static void
child(const char *path, unsigned n, uint64_t seed, struct shm *shm,
      uint64_t ops, int lend_race)
{
	alarm(ops ? 600 : 60); /* if the parent is gone */
	nvh_pool *pool = nvh_open(path, MT_LAYOUT, NULL);
	if (!pool || mt_register(pool)) {
		fprintf(stderr, "kill: child: open: %s\n", nvh_errormsg());
		_exit(3);
	}
	__atomic_store_n(&shm->ready, 1, __ATOMIC_RELEASE);
	for (unsigned t = 0; t < n; t++) {
		char lp[600];
		kill_log_path(lp, sizeof(lp), path, t);
		if (!(journal[t] = pmemlog_open(lp))) {
			fprintf(stderr, "kill: child: %s: %s\n", lp,
				pmemlog_errormsg());
			_exit(3);
		}
	}
	static struct mt_thread c[MT_MAXT];
	pthread_t th[MT_MAXT];
	for (unsigned t = 0; t < n; t++) {
		c[t] = (struct mt_thread){.pool = pool, .t = t,
			.seed = seed + t * 0x1000193ull, .ops = ops,
			.lend_race = lend_race, .hooks = &hooks,
			.phase = &shm->ph[t]};
		if (pthread_create(&th[t], NULL, child_thread, &c[t]))
			_exit(3);
	}
	for (unsigned t = 0; t < n; t++)
		pthread_join(th[t], NULL);
	for (unsigned t = 0; t < n; t++)
		pmemlog_close(journal[t]);
	_exit(nvh_close(pool) ? 6 : 0);
}

/* A child that only opens (recovers) and closes the pool. */
static void
opener(const char *path, struct shm *shm)
{
	alarm(60);
	nvh_pool *pool = nvh_open(path, MT_LAYOUT, NULL);
	__atomic_store_n(&shm->ready, 1, __ATOMIC_RELEASE);
	if (!pool || mt_register(pool) || nvh_close(pool)) {
		fprintf(stderr, "kill: opener: %s\n", nvh_errormsg());
		_exit(3);
	}
	_exit(0);
}

/* ---- reading the journals ---- */

struct thread_log {
	struct mt_sum *model;  /* acknowledged ops are added here */
	struct mt_op pending;  /* the last intent, if not concluded */
	int has_pending;
	uint64_t acked, noacked, big_cuts, biggest_cut, lend_refused;
	int bad;
	char why[200];
};

static int
walk_cb(const void *buf, size_t len, void *arg)
{
	struct thread_log *lg = arg;
	const char *p = buf;
	for (size_t at = 0; at + sizeof(struct jrec) <= len && !lg->bad;
	     at += sizeof(struct jrec)) {
		struct jrec r;
		memcpy(&r, p + at, sizeof(r));
		if (r.type == J_INTENT) {
			if (lg->has_pending) {
				snprintf(lg->why, sizeof(lg->why), "intent %"
					 PRIu64 " never concluded before %" PRIu64,
					 lg->pending.seq, r.op.seq);
				lg->bad = 1;
			}
			lg->pending = r.op;
			lg->has_pending = 1;
		} else if (r.type == J_ACK || r.type == J_NOACK) {
			if (!lg->has_pending || lg->pending.seq != r.op.seq) {
				snprintf(lg->why, sizeof(lg->why), "conclusion of %"
					 PRIu64 " without its intent", r.op.seq);
				lg->bad = 1;
				break;
			}
			const struct mt_op *op = &lg->pending;
			if (r.type == J_ACK) {
				mt_apply(lg->model, op, 1);
				lg->acked++;
				if (op->kind == MT_OP_BIG_CUT && op->nd) {
					uint64_t n = (uint64_t)-op->d[0].dn;
					lg->big_cuts++;
					if (n > lg->biggest_cut)
						lg->biggest_cut = n;
				}
			} else {
				lg->noacked++;
				lg->lend_refused += op->kind == MT_OP_ITEM_LEND;
			}
			lg->has_pending = 0;
		} else {
			snprintf(lg->why, sizeof(lg->why), "record of type %" PRIu32,
				 r.type);
			lg->bad = 1;
		}
	}
	if (len % sizeof(struct jrec) && !lg->bad) {
		snprintf(lg->why, sizeof(lg->why), "journal torn: %zu bytes", len);
		lg->bad = 1;
	}
	return 0;
}

/* ---- the parent ---- */

struct wl {
	const char *name;
	unsigned threads;
	int lend_race; /* item-lend commits after releasing the mutex */
	int grow;      /* a 2 MiB pool growing one arena at a time, so that
			* kills land in growths (issue 17) */
};

/* The 4-thread run races lends against frees: such commits must be
 * refused (EINVAL), and the oracle counts them as not applied. */
static const struct wl wls[] = {
	{"kill-obj-2t", 2, 0, 0},
	{"kill-obj-4t", 4, 1, 0},
	{"kill-obj-grow", 4, 1, 1},
};

struct stats {
	long workers, opens, opens_in_open, opens_finished, early, in_commit;
	long in_big_cut;
	long inflight, applied, big_applied;
	uint64_t acked, noacked, big_cuts, biggest_cut, lend_refused;
	double open_s, open_max;
	long nopen;
};

static uint64_t
rnd(uint64_t *s, uint64_t n)
{
	return mt_rand(s) % n;
}

/*
 * After a kill: the journals against the reopened pool.  0, or -1 with
 * why.  On success `model` becomes the pool's sums.
 */
static int
verify(const char *path, unsigned n, struct mt_sum *model, long kill_no,
       const char *tool, struct stats *st, char *why, size_t wl)
{
	struct mt_sum acked[MT_NSTRUCT], got[MT_NSTRUCT], want[MT_NSTRUCT];
	struct thread_log lg[MT_MAXT];
	memcpy(acked, model, sizeof(acked));
	for (unsigned t = 0; t < n; t++) {
		memset(&lg[t], 0, sizeof(lg[t]));
		lg[t].model = acked;
		if (kill_journal_walk(path, t, walk_cb, &lg[t], why, wl))
			return -1;
		if (lg[t].bad) {
			snprintf(why, wl, "journal of thread %u: %s", t, lg[t].why);
			return -1;
		}
		st->acked += lg[t].acked;
		st->noacked += lg[t].noacked;
		st->big_cuts += lg[t].big_cuts;
		st->lend_refused += lg[t].lend_refused;
		if (lg[t].biggest_cut > st->biggest_cut)
			st->biggest_cut = lg[t].biggest_cut;
		st->inflight += lg[t].has_pending;
	}
	double t0 = now();
	nvh_pool *pool = nvh_open(path, MT_LAYOUT, NULL);
	double dt = now() - t0;
	st->open_s += dt;
	st->nopen++;
	if (dt > st->open_max)
		st->open_max = dt;
	if (!pool) {
		snprintf(why, wl, "reopen: %s", nvh_errormsg());
		return -1;
	}
	struct nvh_check_report rep;
	int rc = -1;
	char w0[600] = "";
	if (mt_register(pool)) {
		snprintf(why, wl, "type registration: %s", nvh_errormsg());
	} else if (nvh_check(pool, &rep, NULL)) {
		nvh_check(pool, &rep, stderr);
		snprintf(why, wl, "nvh_check: %" PRIu64 " problems (above)",
			 rep.problems);
	} else if (rep.dying) {
		snprintf(why, wl, "%" PRIu64 " dying objects left after the open",
			 rep.dying);
	} else if (mt_measure(pool, got, why, wl) == 0) {
		/* each thread's transaction in flight: applied or not */
		for (unsigned mask = 0; mask < 1u << n && rc; mask++) {
			int skip = 0, k = 0, big = 0;
			memcpy(want, acked, sizeof(want));
			for (unsigned t = 0; t < n; t++) {
				if (!(mask >> t & 1))
					continue;
				skip |= !lg[t].has_pending;
				mt_apply(want, &lg[t].pending, 1);
				k++;
				big += lg[t].pending.kind == MT_OP_BIG_CUT;
			}
			if (skip)
				continue;
			if (mt_compare(got, want, mask ? NULL : w0,
				       mask ? 0 : sizeof(w0)) == 0) {
				rc = 0;
				st->applied += k;
				st->big_applied += big;
			}
		}
		if (rc) {
			size_t at = (size_t)snprintf(why, wl, "%s; in flight:", w0);
			for (unsigned t = 0; t < n && at < wl; t++)
				if (lg[t].has_pending)
					at += (size_t)snprintf(why + at, wl - at,
						" t%u %s seq %" PRIu64, t,
						mt_op_name[lg[t].pending.kind],
						lg[t].pending.seq);
		}
	}
	if (!rc)
		memcpy(model, got, sizeof(got));
	if (nvh_close(pool) && !rc) {
		snprintf(why, wl, "close: %s", nvh_errormsg());
		rc = -1;
	}
	if (!rc && tool && kill_no % 10 == 0)
		rc = kill_tool_check(tool, path, why, wl);
	if (!rc)
		rc = kill_journals_rewind(path, n, why, wl);
	return rc;
}

static int
create(const char *path, unsigned n, struct mt_sum *model, int grow)
{
	unlink(path);
	/* grow_step 4 KiB: each growth adds the arenas it must, one */
	struct nvh_opts o = {.max_size = NVH_GROW_UNLIMITED, .grow_step = 4096};
	nvh_pool *pool = nvh_create(path, MT_LAYOUT, grow ? NVH_MIN_POOL_SIZE
						       : POOL_SIZE,
				    grow ? &o : NULL);
	char why[300] = "";
	if (!pool || mt_register(pool) || mt_setup(pool, n) ||
	    mt_measure(pool, model, why, sizeof(why)) || nvh_close(pool)) {
		fprintf(stderr, "kill: %s: %s %s\n", path, nvh_errormsg(), why);
		return -1;
	}
	return kill_journals_create(path, n, LOG_SIZE);
}

/* Threads committing (bit 0) and committing or draining a big cut (bit
 * 1), now. */
static int
phases(struct shm *shm, unsigned n)
{
	int r = 0;
	for (unsigned t = 0; t < n; t++) {
		int c = __atomic_load_n(&shm->ph[t].stage, __ATOMIC_ACQUIRE) ==
			MT_COMMIT;
		r |= c | (c && __atomic_load_n(&shm->ph[t].op, __ATOMIC_RELAXED)
				   == MT_OP_BIG_CUT) << 1;
	}
	return r;
}

/* Sleep as this kill was planned; returns when to kill. */
static void
plan_kill(struct shm *shm, unsigned n, uint64_t *s)
{
	uint64_t r = rnd(s, 100);
	if (r < 15) { /* during the open: recovery, the drain */
		sleep_us(rnd(s, 2000));
	} else if (r < 50) { /* in a big cut's commit or drain */
		for (double t0 = now(); !(phases(shm, n) & 2) && now() - t0 < 0.4;)
			sleep_us(100);
		sleep_us(rnd(s, 8000));
	} else {
		sleep_us(2000 + rnd(s, 38000));
	}
}

/* 1 if a thread was in a big cut's commit or drain */
static int
note_phases(struct shm *shm, unsigned n, struct stats *st)
{
	int p = phases(shm, n), commit = p & 1, big = p >> 1;
	st->early += !__atomic_load_n(&shm->ready, __ATOMIC_ACQUIRE);
	st->in_commit += commit;
	st->in_big_cut += big;
	return big;
}

static int
run_wl(const struct wl *w, const char *dir, uint64_t seed, long kills,
       double soak, uint64_t ops, int lend_race)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s.pool", dir, w->name);
	struct mt_sum model[MT_NSTRUCT];
	if (create(path, w->threads, model, w->grow))
		return 1;
	struct shm *shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		perror("kill: mmap");
		return 1;
	}
	const char *tool = getenv("NVHEAP_TOOL");
	uint64_t s = mt_mix(seed);
	struct stats st = {0};
	long done = 0, failures = 0;
	/* how long a recovering open takes, after a kill in a big cut
	 * (its drain) and after others */
	double t0 = now(), ewma_open[2] = {0.002, 0.002};
	for (; (soak > 0 ? now() - t0 < soak : done < kills) && !failures;) {
		char why[1500] = "";
		uint64_t cseed = mt_rand(&s);
		memset(shm, 0, sizeof(*shm));
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			perror("kill: fork");
			return 1;
		}
		if (pid == 0)
			child(path, w->threads, cseed, shm, ops, lend_race);
		int big = 0;
		if (!ops) {
			plan_kill(shm, w->threads, &s);
			big = note_phases(shm, w->threads, &st);
			kill(pid, SIGKILL);
		}
		int fate = kill_reap(pid, ops != 0, why, sizeof(why));
		done++;
		st.workers++;
		/* then, a quarter of the time (half after a kill in a big
		 * cut), opens killed in their recovery */
		for (int k = !ops && rnd(&s, big ? 2 : 4) == 0
			     ? 1 + (int)rnd(&s, 2) : 0;
		     k > 0 && fate >= 0; k--) {
			memset(shm, 0, sizeof(*shm));
			pid = fork();
			if (pid < 0) {
				perror("kill: fork");
				return 1;
			}
			if (pid == 0)
				opener(path, shm);
			sleep_us(rnd(&s, (uint64_t)(ewma_open[big] * 1.2e6) + 300));
			kill(pid, SIGKILL);
			int f = kill_reap(pid, 1, why, sizeof(why));
			fate = f < 0 ? f : fate;
			done += f == 0;
			st.opens++;
			st.opens_in_open += !shm->ready;
			st.opens_finished += f == 1;
		}
		double before = st.open_s;
		if (fate >= 0)
			verify(path, w->threads, model, done, tool, &st, why,
			       sizeof(why));
		ewma_open[big] = 0.7 * ewma_open[big] + 0.3 * (st.open_s - before);
		if (why[0]) {
			fprintf(stderr, "FAIL torture %s (seed %" PRIu64 "): after "
				"kill %ld (child seed %" PRIu64 "): %s\n", w->name,
				seed, done, cseed, why);
			failures++;
		}
	}
	double el = now() - t0;
	printf("torture %s: %ld kills, %ld failures\n", w->name, done, failures);
	printf("  %s: %ld of workers (%ld before their open returned, %ld with "
	       "a thread committing, %ld in a big cut's commit or drain), %ld "
	       "opens (%ld killed inside nvh_open, %ld finished first; "
	       "recovering opens took %.1f ms on average, %.1f at most)\n", w->name, st.workers,
	       st.early, st.in_commit, st.in_big_cut, st.opens,
	       st.opens_in_open, st.opens_finished,
	       st.nopen ? 1e3 * st.open_s / st.nopen : 0, 1e3 * st.open_max);
	printf("  %s: %" PRIu64 " transactions acknowledged, %" PRIu64 " refused "
	       "(%" PRIu64 " lent items freed first), %ld of %ld in flight found "
	       "applied; big cuts of up to %" PRIu64 " nodes: %" PRIu64 " "
	       "acknowledged, %ld more in flight found applied; %.1f s\n",
	       w->name, st.acked, st.noacked, st.lend_refused, st.applied,
	       st.inflight, st.biggest_cut, st.big_cuts, st.big_applied, el);
	if (w->grow) {
		struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
		nvh_pool *pool = nvh_open(path, MT_LAYOUT, &ro);
		struct nvh_pool_info i;
		if (pool && !nvh_pool_info(pool, &i))
			printf("  %s: the pool grew from 2 MiB to %" PRIu64
			       " bytes in %" PRIu64 " growths\n", w->name,
			       i.pool_size, i.segments);
		nvh_close(pool);
	}
	fflush(stdout);
	munmap(shm, sizeof(*shm));
	if (!failures) {
		kill_files_remove(path, w->threads);
	}
	return failures ? 1 : 0;
}

static int
run_one(int i, const char *dir, uint64_t seed, long kills, double soak,
	void *arg)
{
	const struct kill_args *a = arg;
	return run_wl(&wls[i], dir, seed, kills, soak, a->ops,
		      a->extra || wls[i].lend_race);
}

int
main(int argc, char **argv)
{
	struct kill_args a;
	if (kill_parse(argc, argv, "kill_obj", 1000, "lend-race", NULL, &a))
		return 2;
	const char *names[sizeof(wls) / sizeof(wls[0])];
	for (size_t i = 0; i < sizeof(wls) / sizeof(wls[0]); i++)
		names[i] = wls[i].name;
	return kill_run_all(&a, "kill-obj", names,
			    (int)(sizeof(wls) / sizeof(wls[0])), run_one, &a);
}
