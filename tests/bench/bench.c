/*
 * bench.c -- `bench`: each workload on nvheap and on libpmemobj 1.12 in
 * the same run, alternating rounds, pools on /dev/shm with
 * PMEM_IS_PMEM_FORCE=1 (emulated persistent memory: real CLWB + SFENCE).
 *
 * Output, one line per workload:
 *   bench <workload>: nvheap <X> ops/s, libpmemobj <Y> ops/s, ratio <X/Y>x,
 *   barriers/op <B> (libpmemobj <C>), lines/op <L> (libpmemobj <M>),
 *   hottest metadata line <H>/op (libpmemobj <G>)[, scaling ...]
 * X and Y are medians over the timed rounds; B and C are persist barriers
 * per operation, L and M cache lines flushed per operation, H and G the
 * flushes of the most flushed line outside the workload's own data per
 * operation, all counted by interposing libpmem (interpose.c) in one more
 * round, so counting never slows a timed round.  Two-thread workloads add
 * their scaling over the one-thread one.  Space workloads print % of the
 * pool holding user bytes instead of ops/s.  Workloads with a glibc side
 * (the nvh_malloc ones, wl_malloc.c) time it in the same rounds and add
 *   glibc <Z> ops/s, ratio to glibc <X/Z>x
 * (and its scaling); glibc is neither counted nor written to the CSV.
 *
 * The floor: the physical limit, measured in the same run.  A loop of one
 * 64-byte store, a flush of its line and a fence (one persist barrier;
 * on a disk file, one msync of its page), over a ring of 1,024 lines;
 * its rate F is printed first (`bench floor: F barriers/s`), and every
 * workload that persists adds "floor P% (libpmemobj Q%)": its ops/s as a
 * percentage of F / (its barriers per op), the rate it would reach if a
 * barrier were all it cost.  F is the median of one short floor loop per
 * round, run between the libraries' rounds (the same noise).
 *
 * msync-* workloads run in a second process without PMEM_IS_PMEM_FORCE,
 * with their pools in an ordinary file on disk (--msync-dir, /var/tmp):
 * both libraries then msync.
 *
 *   bench [--rounds N] [--seconds S] [--workload NAME]... [--list] [--dir D]
 *         [--msync-dir D] [--csv FILE] [--wear-hist FILE]
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
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpmem.h>

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
	double t0, t1;
};

static void *
job_main(void *arg)
{
	struct job *j = arg;
	pthread_barrier_wait(j->bar);
	j->t0 = bench_now();
	j->rc = j->side->run(j->state, j->tid, j->n);
	j->t1 = bench_now();
	return NULL;
}

/* Run n ops per thread; return seconds, or -1 on failure.  From the
 * first thread's start to the last one's end, as the threads saw them
 * (the main thread, woken late from the barrier on a busy machine, once
 * measured a run of milliseconds as under a microsecond). */
static double
timed(const struct bench_side *side, void *state, unsigned threads, uint64_t n)
{
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, threads + 1);
	pthread_t th[64];
	struct job jobs[64];
	for (unsigned t = 0; t < threads; t++) {
		jobs[t] = (struct job){side, state, t, n, &bar, 0, 0, 0};
		pthread_create(&th[t], NULL, job_main, &jobs[t]);
	}
	pthread_barrier_wait(&bar);
	int rc = 0;
	double t0 = 0, t1 = 0;
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		rc |= jobs[t].rc;
		if (!t || jobs[t].t0 < t0)
			t0 = jobs[t].t0;
		if (!t || jobs[t].t1 > t1)
			t1 = jobs[t].t1;
	}
	pthread_barrier_destroy(&bar);
	return rc ? -1 : t1 - t0;
}

/* Ops per thread for about `seconds` on one side (0: a failure). */
static uint64_t
calibrate(const struct bench_side *side, void *state, unsigned threads,
	  double seconds)
{
	for (uint64_t n = 64;; n *= 4) {
		double a = timed(side, state, threads, n);
		if (a < 0)
			return 0;
		if (a > seconds / 8 || n > (1ull << 30))
			return (uint64_t)((double)n * seconds / a) + 1;
	}
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

static FILE *csv, *wearf;

/* ---- the floor ---- */

#define FLOOR_LINES 1024

static char *floor_map;
static size_t floor_len;
static int floor_msync;

static int
floor_open(const char *dir, int msync_mode)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/floor.bench", dir);
	unlink(path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	floor_msync = msync_mode;
	/* pmem: 1,024 lines; msync: one line in each of 1,024 pages */
	floor_len = (size_t)FLOOR_LINES * (msync_mode ? 4096 : 64);
	int rc = posix_fallocate(fd, 0, (off_t)floor_len);
	floor_map = rc ? MAP_FAILED : mmap(NULL, floor_len, PROT_READ |
					   PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	unlink(path);
	if (floor_map == MAP_FAILED) {
		floor_map = NULL;
		return -1;
	}
	memset(floor_map, 0, floor_len);
	msync(floor_map, floor_len, MS_SYNC);
	return 0;
}

/* Barriers per second for about `seconds`: store 64 bytes, flush the line,
 * fence (pmem_flush + pmem_drain: CLWB + SFENCE under PMEM_IS_PMEM_FORCE);
 * on a disk file, store and msync(MS_SYNC) its page. */
static double
floor_rate(double seconds)
{
	uint64_t n = 0;
	size_t stride = floor_msync ? 4096 : 64;
	double t0 = bench_now(), t;
	do {
		for (int k = 0; k < 64; k++, n++) {
			char *line = floor_map + (n % FLOOR_LINES) * stride;
			memset(line, (int)n, 64);
			if (floor_msync) {
				if (msync(line, 4096, MS_SYNC))
					return -1;
			} else {
				pmem_flush(line, 64);
				pmem_drain();
			}
		}
	} while ((t = bench_now() - t0) < seconds);
	return (double)n / t;
}

/* Results so far, for the scaling of -2t workloads. */
static struct {
	const char *name;
	double x, y, z;
} done_[64];
static int ndone;

static void
remember(const char *name, double x, double y, double z)
{
	if (ndone < 64)
		done_[ndone++] = (typeof(done_[0])){name, x, y, z};
}

static int
recall(const char *name, double *x, double *y, double *z)
{
	for (int i = 0; name && i < ndone; i++)
		if (!strcmp(done_[i].name, name)) {
			*x = done_[i].x;
			*y = done_[i].y;
			*z = done_[i].z;
			return 0;
		}
	return -1;
}

#define NEXTRA 10 /* per-op columns after the unit */

static void
csv_row(const char *w, const char *kind, double x, double y, const char *unit,
	const double *extra /* NEXTRA values, < 0: n/a */)
{
	if (!csv)
		return;
	fprintf(csv, "%s,%s,%.6g,%.6g,%.4f,%s", w, kind, x, y, x / y, unit);
	for (int i = 0; i < NEXTRA; i++)
		if (extra && extra[i] >= 0)
			fprintf(csv, ",%.6g", extra[i]);
		else
			fprintf(csv, ",");
	fprintf(csv, "\n");
	fflush(csv);
}

static void
wear_rows(const char *w, const char *lib, const struct bench_wear *we)
{
	if (!wearf)
		return;
	for (int b = 0; b < BENCH_WEAR_BUCKETS; b++)
		if (we->hist[b])
			fprintf(wearf, "%s,%s,%u,%" PRIu64 "\n", w, lib,
				b ? 1u << b : 0, we->hist[b]);
	fflush(wearf);
}

/* Space workloads: a figure per library, no timing. */
static int
bench_figure(const struct bench_workload *w, void *sn, void *sp)
{
	double x = w->nvh.figure(sn), y = w->pmdk.figure(sp);
	if (x < 0 || y < 0)
		return -1;
	printf("bench %s: nvheap %.1f%s, libpmemobj %.1f%s, ratio %.2fx\n",
	       w->name, x, w->unit, y, w->unit, x / y);
	fflush(stdout);
	csv_row(w->name, "space", x, y, w->unit, NULL);
	return 0;
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
	/* (a measure workload of nvheap alone has no pmdk side) */
	int alone = w->nvh.measure && !w->pmdk.measure;
	void *sp = alone ? NULL : w->pmdk.setup(pp, w->threads);
	void *sl = w->libc.run ? w->libc.setup(NULL, w->threads) : NULL;
	if (!sn || (!sp && !alone) || (w->libc.run && !sl)) {
		fprintf(stderr, "bench %s: setup failed\n", w->name);
		return -1;
	}
	if (alone) {
		double rn[64];
		for (int r = 0; r < rounds; r++) {
			double a = w->nvh.measure(sn);
			if (a <= 0)
				return -1;
			rn[r] = 1 / a;
		}
		double x = median(rn, rounds);
		printf("bench %s: nvheap %.3f ops/s (%.3f s per operation, "
		       "median of %d), libpmemobj n/a\n", w->name, x, 1 / x,
		       rounds);
		fflush(stdout);
		w->nvh.teardown(sn);
		unlink(pn);
		return 0;
	}
	if (w->nvh.figure) {
		int rc = bench_figure(w, sn, sp);
		w->nvh.teardown(sn);
		w->pmdk.teardown(sp);
		unlink(pn);
		unlink(pp);
		return rc;
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
		csv_row(w->name, "ops", x, y, "ops/s", NULL);
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
	 * (this also warms both pools up); own_n: each side its own. */
	uint64_t n = 64, nn, np, nl;
	if (w->own_n) {
		nn = calibrate(&w->nvh, sn, w->threads, seconds);
		np = calibrate(&w->pmdk, sp, w->threads, seconds);
		nl = sl ? calibrate(&w->libc, sl, w->threads, seconds) : 1;
		if (!nn || !np || !nl)
			return -1;
	} else {
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
		nn = np = nl = n;
	}
	double rn[64], rp[64], rl[64], rf[64];
	for (int r = 0; r < rounds; r++) {
		double a = timed(&w->nvh, sn, w->threads, nn);
		double b = timed(&w->pmdk, sp, w->threads, np);
		double l = sl ? timed(&w->libc, sl, w->threads, nl) : 1;
		rf[r] = floor_rate(seconds / 4);
		if (a < 0 || b < 0 || l < 0 || rf[r] <= 0)
			return -1;
		rn[r] = (double)(nn * w->threads) / a;
		rp[r] = (double)(np * w->threads) / b;
		rl[r] = (double)(nl * w->threads) / l;
	}
	double z = sl ? median(rl, rounds) : -1;
	double fl = median(rf, rounds);
	/* The counted round. */
	struct bench_counts c0, c1, c2;
	struct bench_wear wn, wp;
	struct bench_range dn[8], dp[8];
	size_t ndn = w->nvh.data ? w->nvh.data(sn, dn, 8) : 0;
	size_t ndp = w->pmdk.data ? w->pmdk.data(sp, dp, 8) : 0;
	double ops = (double)nn * w->threads, opp = (double)np * w->threads;
	bench_wear_reset();
	bench_count(1);
	bench_counters(&c0);
	int rc = timed(&w->nvh, sn, w->threads, nn) < 0;
	bench_count(0);
	bench_counters(&c1);
	bench_wear(dn, ndn, (uint64_t)ops, &wn);
	bench_wear_reset();
	bench_count(1);
	rc |= timed(&w->pmdk, sp, w->threads, np) < 0;
	bench_count(0);
	bench_counters(&c2);
	bench_wear(dp, ndp, (uint64_t)opp, &wp);
	if (rc)
		return -1;
	uint64_t barrier_n = c1.barriers - c0.barriers;
	uint64_t barrier_p = c2.barriers - c1.barriers;
	double x = median(rn, rounds), y = median(rp, rounds);
	double e[NEXTRA] = {(double)barrier_n / ops, (double)barrier_p / opp,
			    (double)(c1.lines - c0.lines) / ops,
			    (double)(c2.lines - c1.lines) / opp,
			    (double)wn.hottest_meta / ops,
			    (double)wp.hottest_meta / opp, -1, -1, -1, -1};
	/* % of the floor: ops/s against F / barriers per op (n/a for a
	 * workload that issues none: nothing bounds it there) */
	if (e[0] > 0.01)
		e[8] = 100 * x * e[0] / fl;
	if (e[1] > 0.01)
		e[9] = 100 * y * e[1] / fl;
	if (w->msync) {
		/* an msync names a range, not the lines written (nvheap syncs
		 * a span of pages, mostly clean): lines are not comparable */
		e[2] = e[3] = e[4] = e[5] = -1;
		printf("bench %s: nvheap %.0f ops/s, libpmemobj %.0f ops/s, ratio "
		       "%.2fx, msyncs/op %.2f (libpmemobj %.2f)", w->name, x, y,
		       x / y, e[0], e[1]);
	} else {
		printf("bench %s: nvheap %.0f ops/s, libpmemobj %.0f ops/s, "
		       "ratio %.2fx, barriers/op %.2f (libpmemobj %.2f), "
		       "lines/op %.2f (libpmemobj %.2f), hottest metadata line "
		       "%.3f/op (libpmemobj %.3f)", w->name, x, y, x / y, e[0],
		       e[1], e[2], e[3], e[4], e[5]);
	}
	if (e[8] >= 0 && e[9] >= 0)
		printf(", floor %.0f%% (libpmemobj %.0f%%)", e[8], e[9]);
	if (sl)
		printf(", glibc %.0f ops/s, ratio to glibc %.2fx", z, x / z);
	double x1, y1, z1;
	if (w->one_thread && !recall(w->one_thread, &x1, &y1, &z1)) {
		e[6] = x / x1;
		e[7] = y / y1;
		printf(", scaling over 1 thread %.2fx (libpmemobj %.2fx", e[6],
		       e[7]);
		if (sl && z1 > 0)
			printf(", glibc %.2fx", z / z1);
		printf(")");
	}
	printf("\n");
	fflush(stdout);
	remember(w->name, x, y, z);
	csv_row(w->name, "ops", x, y, "ops/s", e);
	wear_rows(w->name, "nvheap", &wn);
	wear_rows(w->name, "libpmemobj", &wp);
	w->nvh.teardown(sn);
	w->pmdk.teardown(sp);
	if (sl)
		w->libc.teardown(sl);
	unlink(pn);
	unlink(pp);
	return 0;
}

static FILE *
open_csv(const char *path, const char *header)
{
	FILE *f = fopen(path, "a");
	if (!f) {
		fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (ftell(f) == 0)
		fprintf(f, "%s\n", header);
	return f;
}

/* Run the msync workloads in a process of their own: libpmem reads
 * PMEM_IS_PMEM_FORCE once, when it loads. */
static int
run_msync(char **argv0, const struct bench_workload **w, size_t n,
	  const char *msync_dir, int rounds, double seconds, const char *csvp,
	  const char *wearp)
{
	char *args[128];
	char r[16], s[32];
	int k = 0;
	snprintf(r, sizeof(r), "%d", rounds);
	snprintf(s, sizeof(s), "%g", seconds);
	args[k++] = argv0[0];
	args[k++] = "--msync-only";
	args[k++] = "--dir";
	args[k++] = (char *)msync_dir;
	args[k++] = "--rounds";
	args[k++] = r;
	args[k++] = "--seconds";
	args[k++] = s;
	if (csvp) {
		args[k++] = "--csv";
		args[k++] = (char *)csvp;
	}
	if (wearp) {
		args[k++] = "--wear-hist";
		args[k++] = (char *)wearp;
	}
	for (size_t i = 0; i < n && k < 120; i++) {
		args[k++] = "--workload";
		args[k++] = (char *)w[i]->name;
	}
	args[k] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("PMEM_IS_PMEM_FORCE", "0", 1);
		execv("/proc/self/exe", args);
		perror("bench: exec");
		_exit(2);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
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
		{"csv", required_argument, NULL, 'c'},
		{"wear-hist", required_argument, NULL, 'W'},
		{"msync-dir", required_argument, NULL, 'm'},
		{"msync-only", no_argument, NULL, 'M'},
		{NULL, 0, NULL, 0},
	};
	int rounds = 5;
	double seconds = 0.3;
	const char *dir = "/dev/shm", *msync_dir = "/var/tmp";
	const char *csvp = NULL, *wearp = NULL;
	int msync_only = 0;
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
		case 'c': csvp = optarg; break;
		case 'W': wearp = optarg; break;
		case 'm': msync_dir = optarg; break;
		case 'M': msync_only = 1; break;
		case 'l':
			for (size_t i = 0; i < NALL; i++)
				printf("%-20s %s\n", all[i]->name, all[i]->what);
			return 0;
		default:
			goto usage;
		}
	}
	if (!msync_only && !getenv("PMEM_IS_PMEM_FORCE")) {
		/* libpmem reads it when it loads: run again with it set. */
		setenv("PMEM_IS_PMEM_FORCE", "1", 1);
		execv("/proc/self/exe", argv);
		perror("bench: re-exec");
		return 2;
	}
	if (!nchosen)
		for (size_t i = 0; i < NALL; i++)
			chosen[nchosen++] = all[i];
	if (csvp)
		csv = open_csv(csvp, "workload,kind,nvheap,libpmemobj,ratio,unit,"
			       "nvh_barriers_per_op,pmdk_barriers_per_op,"
			       "nvh_lines_per_op,pmdk_lines_per_op,"
			       "nvh_hot_meta_per_op,pmdk_hot_meta_per_op,"
			       "nvh_scaling,pmdk_scaling,nvh_floor_pct,"
			       "pmdk_floor_pct");
	if (wearp)
		wearf = open_csv(wearp, "workload,library,flushes_per_kop_lo,lines");
	/* msync workloads: in another process (or only those, in it) */
	const struct bench_workload *ms[NALL];
	size_t nms = 0, k = 0;
	for (size_t i = 0; i < nchosen; i++) {
		if (chosen[i]->msync && !msync_only)
			ms[nms++] = chosen[i];
		else if (chosen[i]->msync == msync_only)
			chosen[k++] = chosen[i];
	}
	nchosen = k;
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
	if (nchosen && floor_open(tmp, msync_only)) {
		fprintf(stderr, "bench: the floor's file in %s: %s\n", tmp,
			strerror(errno));
		rmdir(tmp);
		return 2;
	}
	if (nchosen) {
		double f[64];
		for (int r = 0; r < rounds; r++)
			f[r] = floor_rate(seconds / 4);
		double fl = median(f, rounds);
		const char *fname = msync_only ? "msync-floor" : "floor";
		printf("bench %s: %.0f barriers/s (one 64-byte store, flush, "
		       "%s; %s)\n", fname, fl, msync_only ? "msync of its page"
		       : "fence", msync_only ? "disk file" : "emulated pmem");
		fflush(stdout);
		csv_row(fname, "floor", fl, fl, "barriers/s", NULL);
	}
	for (size_t i = 0; i < nchosen; i++)
		rc |= bench_one(chosen[i], tmp, rounds, seconds) != 0;
	rmdir(tmp);
	if (csv)
		fflush(csv);
	if (wearf)
		fflush(wearf);
	if (nms)
		rc |= run_msync(argv, ms, nms, msync_dir, rounds, seconds, csvp,
				wearp) != 0;
	return rc;
usage:
	fprintf(stderr, "usage: bench [--rounds N] [--seconds S] [--workload "
		"NAME]... [--dir DIR] [--msync-dir DIR] [--csv FILE] "
		"[--wear-hist FILE] [--list]\n");
	return 2;
}
