/*
 * nvheap/crashtest.h -- crash-test your own persistent data structure.
 *
 * A crash test (struct nvh_crashtest) is three plain functions over one
 * pool file:
 *
 *   setup(r)  builds the starting pool at r->path (optional; not crashed).
 *   run(r)    opens r->path with r->opts and performs the operations; after
 *             each one the application would report as done (durable) it
 *             calls nvh_crashtest_ack(r).  Everything it does to the pool
 *             goes through the crash simulator.
 *   check(k)  is given one crash image, a pool file at k->path, and the
 *             number of operations acknowledged before that crash
 *             (k->acked); it opens the image (nvh_crashtest_open, which
 *             runs recovery), verifies the structure and says whether it
 *             is consistent: every acknowledged operation present, the one
 *             in flight all or nothing.  On failure it returns
 *             nvh_crashtest_fail(k, "why", ...).
 *
 * nvh_crashtest_explore() runs the test once to count its fences (a
 * fence is where stores become durable: every crash point), then again;
 * at each fence (all of them, or a seeded sample beyond max_fences) it
 * builds every crash image a power failure could leave (the durable bytes
 * plus any subset of the cache lines in flight, lines torn at 8-byte
 * words, dirty lines evicted early), skips images already checked, and
 * calls check() on each.  The check's own recovery is crashed too, at its
 * fences, and those images checked again.  Stores that a durable point
 * (a commit, a close) finds not flushed are failures as well: the
 * missing-flush detector.  Every failure names its state and prints the
 * command that replays exactly it.
 *
 * nvh_crashtest_main() is the command line around it (`--help`); a test
 * program is one line of main, or a shared object that exports its tests
 * with NVH_CRASHTEST_EXPORT and runs under `nvheap crashtest FILE.so`.
 * docs/crashtest.md is the tutorial.
 *
 * The explorer is single-threaded: run() and check() must not start
 * threads that touch the pool, and must do the same thing (the same
 * fences) every time they run from the same setup and seed.  A check
 * changes the image only through nvheap (its own mapping of the file,
 * or a pwrite, is not seen: the exploration stops and says so).
 *
 * Later versions may add fields at the end of these structs: initialise
 * a struct nvh_crashtest with designated initialisers and build tests
 * against the header of the library they run with.
 */
#ifndef NVHEAP_CRASHTEST_H
#define NVHEAP_CRASHTEST_H

#include <stddef.h>
#include <stdint.h>

#include <nvheap/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nvh_crashtest_explorer; /* the explorer's state */

/* What setup() and run() are given. */
struct nvh_crashtest_run {
	const char *path;      /* the pool file */
	struct nvh_opts opts;  /* nvh_create/nvh_open it with these */
	uint64_t seed;         /* the exploration's seed (for random ops) */
	unsigned acked;        /* operations acknowledged so far */
	void *priv;            /* priv_size zeroed bytes, the test's own
				* (e.g. its oracle); kept for check() */
	struct nvh_crashtest_explorer *x;
};

/* What check() is given. */
struct nvh_crashtest_check {
	const char *path;      /* the crash image, a pool file */
	struct nvh_opts opts;  /* open it with these (nvh_crashtest_open) */
	unsigned acked;        /* operations acknowledged before the crash */
	int after_run;         /* the crash came after run() returned */
	/* 1: this image is a crash during the recovery (the check's open and
	 * close) of a crash image, so their own effects may be present: a
	 * run generation one higher, either clean flag.  Nothing else may
	 * differ. */
	int recovered_once;
	void *priv;            /* the run's priv, as run() left it */
	char why[1024];        /* set by nvh_crashtest_fail */
	struct nvh_crashtest_explorer *x;
};

struct nvh_crashtest {
	const char *name;                 /* for --workload and reports */
	const char *what;                 /* one line, for --list */
	uint64_t pool_size;               /* 0: NVH_MIN_POOL_SIZE; setup() or
					   * run() creates it this size */
	size_t priv_size;                 /* bytes of zeroed priv per run */
	int (*setup)(struct nvh_crashtest_run *r);  /* optional */
	int (*run)(struct nvh_crashtest_run *r);    /* 0, or -1: failed */
	int (*check)(struct nvh_crashtest_check *k); /* 0: consistent */
	/* Limits for tests whose states are expensive (big pools); 0 takes
	 * the configuration's (struct nvh_crashtest_config). */
	uint64_t max_fences;        /* crash points explored, sampled beyond */
	unsigned max_images;        /* crash images per crash point, sampled */
	unsigned nested_per_point;  /* images per point whose recovery is
				     * crashed */
	unsigned nested_max;        /* recovery crash images per crash image */
	unsigned nested_fences;     /* recovery fences crashed per crash
				     * image (0: all), spread over the
				     * recovery */
	/* Weight in the split of the budget among several tests (0: 1): a
	 * test gets share / (sum of the shares still to run) of the time
	 * left. */
	double share;
	/* 1: a deliberately broken test (a negative test): nvh_crashtest_main
	 * runs it only when named with --workload, and --list says it is
	 * expected to fail. */
	int planted_bug;
};

/* Acknowledge one operation: it is durable, and check() may expect it. */
NVH_API void nvh_crashtest_ack(struct nvh_crashtest_run *r);
/*
 * Open the crash image for a check (nvh_open(k->path, layout, &k->opts)):
 * recovery runs under the simulator and its fences are crash points too;
 * once the open returns, the rest of the check (reads, verification,
 * close) is no longer crashed, only watched by the missing-flush
 * detector.  NULL with nvh_errormsg() if the image does not open, which
 * is a failure of the structure's crash consistency (or of nvheap's).
 */
NVH_API nvh_pool *nvh_crashtest_open(struct nvh_crashtest_check *k,
				     const char *layout);
/* For checks that open the image another way (with k->opts, e.g. through
 * the structure's own open function): call once the open returned; what
 * follows is not crashed. */
NVH_API void nvh_crashtest_opened(struct nvh_crashtest_check *k);
/* Record why a check failed; returns -1, for `return nvh_crashtest_fail(
 * k, ...)`. */
NVH_API int nvh_crashtest_fail(struct nvh_crashtest_check *k,
			       const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Which crash images a crash point yields. */
struct nvh_crashtest_images {
	unsigned k;               /* in-flight subsets up to k lines when
				   * more than all_subsets_max are in flight */
	unsigned all_subsets_max; /* every subset when at most this many */
	int torn;                 /* lines torn at 8-byte words */
	int evict;                /* dirty lines never flushed, evicted */
	unsigned max_evict;       /* single-line evictions, sampled beyond */
	unsigned max_images;      /* per crash point, sampled beyond; 0 = all */
};

struct nvh_crashtest_config {
	uint64_t seed;
	double budget;          /* seconds; 0 = unlimited */
	uint64_t max_fences;    /* explore all fences up to this many, else
				 * sample this many */
	struct nvh_crashtest_images gen;  /* at the run's crash points */
	struct nvh_crashtest_images ngen; /* at crash points of recovery */
	int nested;             /* crash recovery too (depth 1) */
	unsigned nested_max;    /* recovery crash images per crash image */
	unsigned nested_per_point; /* crash images per crash point whose
				    * recovery is crashed (0 = all) */
	unsigned nested_fences; /* recovery fences crashed per crash image
				 * (0 = all): the first, and the rest spread
				 * at random over the recovery */
	int quiet;              /* no failure reports */
	int verbose;            /* print every state checked */
	unsigned max_reports;   /* failure reports printed per test */
	const char *dir;        /* scratch directory for pool and image files */
	const char *argv0;      /* the command, for replay lines */
	/* replay: check only this state (-1 = any) */
	int64_t only_fence, only_state, only_nfence, only_nstate;
	/* write the first dump_len bytes of each distinct image here */
	const char *dump_dir;
	size_t dump_len;
	unsigned dump_max;
};

/* The defaults: seed 1, no budget, 2,000 fences, k = 2, every subset of
 * up to 8 lines, torn lines and evictions, recovery crashed (8 images
 * per point, 48 recovery images each), dir /tmp, argv0 "crashtest". */
NVH_API void nvh_crashtest_config_default(struct nvh_crashtest_config *c);

struct nvh_crashtest_result {
	uint64_t states;        /* distinct crash images checked, nested included */
	uint64_t failures;      /* failed checks + missing-flush reports + run errors */
	uint64_t missing;       /* durable points with bytes not durable */
	uint64_t fences;        /* fences in the run */
	uint64_t explored;      /* crash points explored (fences + the end) */
	uint64_t duplicates;    /* images skipped as already checked */
	int budget_hit;
	double seconds;
	/* where the first failure was (fence -1: none or during the run) */
	int64_t fail_fence, fail_state, fail_nfence, fail_nstate;
};

/*
 * Explore one test.  0 with *res filled in (res->failures says whether
 * the structure passed), or -1 if the test could not run at all (its
 * setup or first run failed, scratch files could not be made; the reason
 * is on stderr), which counts as one failure.
 */
NVH_API int nvh_crashtest_explore(const struct nvh_crashtest *w,
				  const struct nvh_crashtest_config *cfg,
				  struct nvh_crashtest_result *res);

/*
 * The command line: explore the tests of a NULL-terminated list (those
 * named with --workload, else every one that is not a planted bug),
 * print "NAME: N crash states, F failures" per test and a total line on
 * stdout, details and replay commands on stderr.  Returns the exit
 * status: 0 no failure, 1 failures, 2 usage error.  `--help` lists the
 * options.
 */
NVH_API int nvh_crashtest_main(int argc, char **argv,
			       const struct nvh_crashtest *const *tests);

/*
 * The tests of a file, for `nvheap crashtest FILE.so` (which looks this
 * array up) or a program's main:
 *
 *   NVH_CRASHTEST_EXPORT(&push_pop, &push_pop_big);
 *   int main(int argc, char **argv)
 *   { return nvh_crashtest_main(argc, argv, nvh_crashtests); }
 */
#define NVH_CRASHTEST_EXPORT(...)                                          \
	__attribute__((visibility("default"))) const struct nvh_crashtest    \
		*const nvh_crashtests[] = {__VA_ARGS__, NULL}
__attribute__((visibility("default"))) extern const struct nvh_crashtest
	*const nvh_crashtests[];

#ifdef __cplusplus
}
#endif
#endif
