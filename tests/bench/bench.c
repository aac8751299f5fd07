/*
 * bench.c -- `bench`: each workload on nvheap and on libpmemobj 1.12 in
 * the same run, alternating rounds, pools on /dev/shm with
 * PMEM_IS_PMEM_FORCE=1 (emulated persistent memory: real CLWB + SFENCE).
 *
 * Output, one line per workload:
 *   bench <workload>: nvheap <X> ops/s, libpmemobj <Y> ops/s, ratio <X/Y>x,
 *   barriers/op <B> (libpmemobj <C>)
 * X and Y are medians over the timed rounds; B and C are persist barriers
 * per operation counted by interposing libpmem (interpose.c) in one more
 * round, so counting never slows a timed round.
 *
 *   bench [--rounds N] [--seconds S] [--workload NAME]... [--list] [--dir D]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const struct bench_workload *const all[] = {BENCH_WORKLOADS};
#define NALL (sizeof(all) / sizeof(all[0]))

double
bench_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct job {
	const struct bench_side *side;
	void *state;
	unsigned tid;
	uint64_t n;
	pthread_barrier_t *bar;
	int rc;
};

static void *
job_main(void *arg)
{
	struct job *j = arg;
	pthread_barrier_wait(j->bar);
	j->rc = j->side->run(j->state, j->tid, j->n);
	return NULL;
}

/* Run n ops per thread; return seconds, or -1 on failure. */
static double
timed(const struct bench_side *side, void *state, unsigned threads, uint64_t n)
{
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, threads + 1);
	pthread_t th[64];
	struct job jobs[64];
	for (unsigned t = 0; t < threads; t++) {
		jobs[t] = (struct job){side, state, t, n, &bar, 0};
		pthread_create(&th[t], NULL, job_main, &jobs[t]);
	}
	pthread_barrier_wait(&bar);
	double t0 = bench_now();
	int rc = 0;
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		rc |= jobs[t].rc;
	}
	double dt = bench_now() - t0;
	pthread_barrier_destroy(&bar);
	return rc ? -1 : dt;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int
bench_one(const struct bench_workload *w, const char *dir, int rounds,
	  double seconds)
{
	char pn[PATH_MAX], pp[PATH_MAX];
	if (snprintf(pn, sizeof(pn), "%s/%s.nvheap", dir, w->name) >= PATH_MAX ||
	    snprintf(pp, sizeof(pp), "%s/%s.pmemobj", dir, w->name) >= PATH_MAX)
		return -1;
	unlink(pn);
	unlink(pp);
	void *sn = w->nvh.setup(pn, w->threads);
	void *sp = w->pmdk.setup(pp, w->threads);
	if (!sn || !sp) {
		fprintf(stderr, "bench %s: setup failed\n", w->name);
		return -1;
	}
	if (w->nvh.measure) {
		double rn[64], rp[64];
		for (int r = 0; r < rounds; r++) {
			double a = w->nvh.measure(sn), b = w->pmdk.measure(sp);
			if (a <= 0 || b <= 0)
				return -1;
			rn[r] = 1 / a;
			rp[r] = 1 / b;
		}
		double x = median(rn, rounds), y = median(rp, rounds);
		printf("bench %s: nvheap %.1f ops/s, libpmemobj %.1f ops/s, "
		       "ratio %.2fx, barriers/op n/a (libpmemobj n/a)\n",
		       w->name, x, y, x / y);
		fprintf(stderr, "  %s: nvheap %.2f ms, libpmemobj %.2f ms per "
			"operation (median of %d)\n", w->name, 1e3 / x,
			1e3 / y, rounds);
		fflush(stdout);
		w->nvh.teardown(sn);
		w->pmdk.teardown(sp);
		unlink(pn);
		unlink(pp);
		return 0;
	}
	/* Calibrate: ops per thread for about `seconds` on the slower side
	 * (this also warms both pools up). */
	uint64_t n = 64;
	for (;;) {
		double a = timed(&w->nvh, sn, w->threads, n);
		double b = timed(&w->pmdk, sp, w->threads, n);
		if (a < 0 || b < 0)
			return -1;
		double slow = a > b ? a : b;
		if (slow > seconds / 8 || n > (1ull << 30)) {
			n = (uint64_t)((double)n * seconds / slow) + 1;
			break;
		}
		n *= 4;
	}
	double rn[64], rp[64];
	for (int r = 0; r < rounds; r++) {
		double a = timed(&w->nvh, sn, w->threads, n);
		double b = timed(&w->pmdk, sp, w->threads, n);
		if (a < 0 || b < 0)
			return -1;
		rn[r] = (double)(n * w->threads) / a;
		rp[r] = (double)(n * w->threads) / b;
	}
	/* The counted round. */
	struct bench_counts c0, c1, c2;
	bench_count(1);
	bench_counters(&c0);
	int rc = timed(&w->nvh, sn, w->threads, n) < 0;
	bench_counters(&c1);
	rc |= timed(&w->pmdk, sp, w->threads, n) < 0;
	bench_counters(&c2);
	bench_count(0);
	if (rc)
		return -1;
	double ops = (double)n * w->threads;
	uint64_t barrier_n = c1.barriers - c0.barriers;
	uint64_t barrier_p = c2.barriers - c1.barriers;
	double x = median(rn, rounds), y = median(rp, rounds);
	printf("bench %s: nvheap %.0f ops/s, libpmemobj %.0f ops/s, ratio "
	       "%.2fx, barriers/op %.2f (libpmemobj %.2f)\n", w->name, x, y,
	       x / y, (double)barrier_n / ops, (double)barrier_p / ops);
	fflush(stdout);
	w->nvh.teardown(sn);
	w->pmdk.teardown(sp);
	unlink(pn);
	unlink(pp);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"rounds", required_argument, NULL, 'r'},
		{"seconds", required_argument, NULL, 's'},
		{"workload", required_argument, NULL, 'w'},
		{"dir", required_argument, NULL, 'd'},
		{"list", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int rounds = 5;
	double seconds = 0.3;
	const char *dir = "/dev/shm";
	const struct bench_workload *chosen[NALL];
	size_t nchosen = 0;
	int c;
	while ((c = getopt_long(argc, argv, "r:s:w:d:lh", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			rounds = atoi(optarg);
			if (rounds < 1 || rounds > 64)
				goto usage;
			break;
		case 's':
			seconds = atof(optarg);
			if (seconds <= 0)
				goto usage;
			break;
		case 'w': {
			size_t i = 0;
			while (i < NALL && strcmp(all[i]->name, optarg))
				i++;
			if (i == NALL) {
				fprintf(stderr, "bench: no workload %s\n", optarg);
				return 2;
			}
			if (nchosen < NALL)
				chosen[nchosen++] = all[i];
			break;
		}
		case 'd': dir = optarg; break;
		case 'l':
			for (size_t i = 0; i < NALL; i++)
				printf("%-20s %s\n", all[i]->name, all[i]->what);
			return 0;
		default:
			goto usage;
		}
	}
	if (!getenv("PMEM_IS_PMEM_FORCE")) {
		/* libpmem reads it when it loads: run again with it set. */
		setenv("PMEM_IS_PMEM_FORCE", "1", 1);
		execv("/proc/self/exe", argv);
		perror("bench: re-exec");
		return 2;
	}
	if (!nchosen)
		for (size_t i = 0; i < NALL; i++)
			chosen[nchosen++] = all[i];
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/nvheap-bench.XXXXXX", dir);
	if (!mkdtemp(tmp)) {
		fprintf(stderr, "bench: mkdtemp %s: %s\n", tmp, strerror(errno));
		return 2;
	}
	fprintf(stderr, "bench: %d rounds of ~%.2f s per library, pools in %s, "
		"PMEM_IS_PMEM_FORCE=%s\n", rounds, seconds, tmp,
		getenv("PMEM_IS_PMEM_FORCE"));
	int rc = 0;
	for (size_t i = 0; i < nchosen; i++)
		rc |= bench_one(chosen[i], tmp, rounds, seconds) != 0;
	rmdir(tmp);
	return rc;
usage:
	fprintf(stderr, "usage: bench [--rounds N] [--seconds S] [--workload "
		"NAME]... [--dir DIR] [--list]\n");
	return 2;
}
