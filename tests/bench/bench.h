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

/* Wear: flushes per cache line while counting (since bench_wear_reset). */
struct bench_range {
	const void *p;
	size_t len;
};

#define BENCH_WEAR_BUCKETS 24

struct bench_wear {
	uint64_t lines;        /* distinct lines flushed */
	uint64_t hottest;      /* flushes of the most flushed line */
	uint64_t hottest_meta; /* ... outside the workload's data ranges */
	uint64_t untracked;    /* flushes of lines the table had no room for */
	/* lines by flushes per 1000 operations: bucket b holds [2^b, 2^(b+1))
	 * (bucket 0 also holds < 1) */
	uint64_t hist[BENCH_WEAR_BUCKETS];
};

void bench_wear_reset(void);
void bench_wear(const struct bench_range *data, size_t ndata, uint64_t ops,
		struct bench_wear *w);

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
	/* Optional: the user data the workload itself flushes (its lines are
	 * not metadata in the wear report). */
	size_t (*data)(void *state, struct bench_range *out, size_t max);
	/* Instead of run or measure: a figure of its own (space: % of the
	 * pool holding user bytes); < 0 on failure. */
	double (*figure)(void *state);
};

struct bench_workload {
	const char *name;
	const char *what;
	unsigned threads;
	struct bench_side nvh, pmdk;
	/* Optional (run set): the same workload on glibc's malloc, timed in
	 * the same rounds, reported after the two libraries (not counted,
	 * not in the CSV).  For a measure workload, pmdk.measure may be NULL:
	 * nvheap alone. */
	struct bench_side libc;
	int msync;              /* on a disk file, no PMEM_IS_PMEM_FORCE */
	const char *one_thread; /* for -2t workloads: the 1-thread one */
	const char *unit;       /* for `figure` workloads: "%" */
	int own_n;              /* each side calibrated on its own (rounds
				 * of about the same time, not the same
				 * operations: for workloads whose state
				 * does not grow with them) */
};

extern const struct bench_workload bench_alloc_free_64, bench_alloc_free_mixed,
	bench_alloc_free_64_2t, bench_alloc_free_128k, bench_open_10m,
	bench_tx_update_8, bench_tx_alloc_free_link, bench_tx_add_64ranges,
	bench_tx_addv_64ranges, bench_tx_add_desc_20k,
	bench_tx_alloc_128k, bench_obj_set_ptr, bench_obj_push_pop,
	bench_tx_update_8_2t, bench_msync_alloc_free_64,
	bench_msync_tx_update_8, bench_msync_tx_update_8_2t,
	bench_msync_tx_alloc_free_link,
	bench_space_64, bench_space_1m, bench_map_insert, bench_map_get,
	bench_map_remove, bench_grow_64m, bench_alloc_grows,
	bench_malloc_threadtest, bench_malloc_threadtest_2t,
	bench_malloc_shbench, bench_malloc_shbench_2t, bench_malloc_larson,
	bench_malloc_larson_2t, bench_malloc_larson_swap,
	bench_malloc_larson_swap_2t, bench_malloc_gc;

#define BENCH_WORKLOADS                                                      \
	&bench_alloc_free_64, &bench_alloc_free_mixed,                       \
	&bench_alloc_free_64_2t, &bench_alloc_free_128k, &bench_tx_update_8, \
	&bench_tx_alloc_free_link, &bench_tx_add_64ranges,                   \
	&bench_tx_addv_64ranges, &bench_tx_add_desc_20k,                     \
	&bench_tx_alloc_128k, &bench_obj_set_ptr, &bench_obj_push_pop,       \
	&bench_tx_update_8_2t, &bench_space_64, &bench_space_1m,             \
	&bench_msync_alloc_free_64, &bench_msync_tx_update_8,                \
	&bench_msync_tx_update_8_2t,                                         \
	&bench_msync_tx_alloc_free_link, &bench_map_insert, &bench_map_get,  \
	&bench_map_remove, &bench_open_10m, &bench_grow_64m,               \
	&bench_alloc_grows, &bench_malloc_threadtest,                        \
	&bench_malloc_threadtest_2t, &bench_malloc_shbench,                  \
	&bench_malloc_shbench_2t, &bench_malloc_larson,                      \
	&bench_malloc_larson_2t, &bench_malloc_larson_swap,                 \
	&bench_malloc_larson_swap_2t, &bench_malloc_gc

double bench_now(void);

#define BENCH_POOL_SIZE (512ull << 20)

#endif
