/*
 * bench.h -- the benchmark harness: workloads run side by side on nvheap
 * and on libpmemobj, alternating, in one process.
 */
#ifndef NVB_BENCH_H
#define NVB_BENCH_H

#include <stdint.h>

struct bench_counts {
	uint64_t flushes, lines, fences, barriers;
};

/* libpmem calls counted by interpose.c (both libraries), while on. */
void bench_counters(struct bench_counts *c);
void bench_count(int on);

/* One library's side of a workload. */
struct bench_side {
	/* Create the pool at `path`; return private state or NULL. */
	void *(*setup)(const char *path, unsigned threads);
	/* Thread `tid` performs `n` operations. 0 or -1. */
	int (*run)(void *state, unsigned tid, uint64_t n);
	void (*teardown)(void *state);
	/* Instead of run: one operation that times itself (seconds, < 0 on
	 * failure), for operations with set-up that must not be timed. */
	double (*measure)(void *state);
};

struct bench_workload {
	const char *name;
	const char *what;
	unsigned threads;
	struct bench_side nvh, pmdk;
};

extern const struct bench_workload bench_alloc_free_64, bench_alloc_free_mixed,
	bench_alloc_free_64_2t, bench_alloc_free_128k, bench_open_10m,
	bench_tx_update_8, bench_tx_alloc_free_link, bench_tx_add_64ranges,
	bench_tx_alloc_128k, bench_obj_set_ptr, bench_obj_push_pop;

#define BENCH_WORKLOADS                                                      \
	&bench_alloc_free_64, &bench_alloc_free_mixed,                       \
	&bench_alloc_free_64_2t, &bench_alloc_free_128k, &bench_tx_update_8, \
	&bench_tx_alloc_free_link, &bench_tx_add_64ranges,                   \
	&bench_tx_alloc_128k, &bench_obj_set_ptr, &bench_obj_push_pop,       \
	&bench_open_10m

double bench_now(void);

#define BENCH_POOL_SIZE (512ull << 20)

#endif
