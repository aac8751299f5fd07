/*
 * explore.h -- the crash-state explorer.
 *
 * A workload is three plain functions.  setup() builds the starting pool
 * (not explored).  run() performs the operations under the crash simulator
 * and calls nvt_ack() after each operation the application would report
 * as done (durable).  check() is given one recovered crash image and says
 * whether it is consistent: every acknowledged operation present, the one
 * in flight all or nothing.
 *
 * The explorer runs the workload once to count its fences, then again; at
 * each explored fence (all of them, or a seeded sample when there are more
 * than max_fences) it builds every crash image (crash_image.h), skips ones
 * already checked (hash of the image and the acknowledged count), writes
 * each new one to a file and calls check() on it.  check() opens the image
 * with k->opts, so recovery runs under a second simulator whose fences are
 * crash points too: each of those images is recovered again and checked
 * (depth 1).  Missing-flush reports of either simulator are failures.
 * Every failure prints the state and a command that replays exactly it.
 */
#ifndef NVT_EXPLORE_H
#define NVT_EXPLORE_H

#include <stdint.h>

#include <nvheap.h>

#include "crash_image.h"

struct nvt_explorer;

struct nvt_run {
	const char *path;      /* the pool file */
	struct nvh_opts opts;  /* create/open it with these */
	uint64_t seed;
	unsigned acked;        /* operations acknowledged so far */
	void *priv;            /* the workload's own state (oracle) */
	struct nvt_explorer *x;
};

struct nvt_check {
	const char *path;      /* the crash image, a pool file */
	struct nvh_opts opts;  /* open it with these (or use nvt_open) */
	struct nvt_explorer *x;
	unsigned acked;        /* operations acknowledged before the crash */
	int after_run;         /* the crash came after run() returned */
	/* 1: this image is a crash during the recovery (the check's open and
	 * close) of a crash image, so their own effects may be present: a
	 * run generation one higher, either clean flag.  Nothing else may
	 * differ. */
	int recovered_once;
	void *priv;            /* the run's priv */
	char why[1024];
};

struct nvt_workload {
	const char *name;
	const char *what;
	uint64_t pool_size;               /* 0: NVH_MIN_POOL_SIZE */
	size_t priv_size;                 /* bytes of zeroed priv per run */
	int (*setup)(struct nvt_run *r);  /* optional */
	int (*run)(struct nvt_run *r);
	int (*check)(struct nvt_check *k);
	/* Limits for workloads whose states are expensive (big pools); 0
	 * takes the configuration's (struct nvt_config). */
	uint64_t max_fences;        /* crash points explored, sampled beyond */
	unsigned max_images;        /* crash images per crash point, sampled */
	unsigned nested_per_point;  /* images per point whose recovery is
				     * crashed */
	unsigned nested_max;        /* recovery crash images per crash image */
	unsigned nested_fences;     /* recovery fences crashed per crash
				     * image (0: all), spread over the
				     * recovery */
	/* Weight in the split of torture's budget (0: 1): a workload gets
	 * share / (sum of the shares still to run) of the time left. */
	double share;
};

/* Acknowledge one operation. */
void nvt_ack(struct nvt_run *r);
/*
 * Open the crash image for a check: recovery runs under the simulator and
 * its fences are crash points (depth 1); once open returns, the rest of
 * the check (reads, verification, close) is no longer crashed, only
 * watched by the missing-flush detector.
 */
nvh_pool *nvt_open(struct nvt_check *k, const char *layout);
/* For checks that open the image another way (with k->opts): call once
 * the open returned; what follows is not crashed. */
void nvt_opened(struct nvt_check *k);
/* Record why a check failed; returns -1. */
int nvt_fail(struct nvt_check *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copy a (pool) file; 0 or -1 with errno. */
int nvt_copy_file(const char *from, const char *to);

struct nvt_config {
	uint64_t seed;
	double budget;          /* seconds; 0 = unlimited */
	uint64_t max_fences;    /* explore all fences up to this many, else sample */
	struct nvt_gen gen;     /* images at the workload's crash points */
	struct nvt_gen ngen;    /* images at crash points during recovery */
	int nested;             /* crash recovery too (depth 1) */
	unsigned nested_max;    /* recovery crash images per crash image */
	unsigned nested_per_point; /* crash images per crash point whose
				    * recovery is crashed (0 = all) */
	unsigned nested_fences; /* recovery fences crashed per crash image
				 * (0 = all): the first, and the rest spread
				 * at random over the recovery */
	int quiet;              /* no failure reports */
	int verbose;            /* print every state checked */
	unsigned max_reports;   /* failure reports printed per workload */
	const char *dir;        /* scratch directory for pool and image files */
	const char *argv0;      /* for replay commands */
	/* replay: check only this state (-1 = any) */
	int64_t only_fence, only_state, only_nfence, only_nstate;
	/* write the first dump_len bytes of each distinct image here */
	const char *dump_dir;
	size_t dump_len;
	unsigned dump_max;
};

void nvt_config_default(struct nvt_config *c);

struct nvt_result {
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

int nvt_explore(const struct nvt_workload *w, const struct nvt_config *cfg,
		struct nvt_result *res);

#endif
