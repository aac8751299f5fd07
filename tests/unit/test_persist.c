/*
 * test_persist.c -- the persistence seam: backend selection, counters,
 * msync range merging, and the user-facing persist calls.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/layout.h"
#include "heap/pool.h"

#define SIZE (4u << 20)

static nvh_pool *
make_pool(const char *name, enum nvh_persist_kind kind)
{
	const char *p = nvt_path(name);
	unlink(p);
	struct nvh_opts o = {.persist = kind};
	return assert_nvh_ptr(nvh_create(p, "persist", SIZE, &o));
}

static struct nvh_persist_stats
stats(nvh_pool *pool)
{
	struct nvh_persist_stats s;
	assert_nvh_ok(nvh_persist_stats(pool, &s));
	return s;
}

static const enum nvh_persist_kind kinds[] = {
	NVH_PERSIST_PMEM, NVH_PERSIST_MSYNC, NVH_PERSIST_EADR, NVH_PERSIST_SIM};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Every backend counts the same requests the same way. */
static void
counters_count(void **state)
{
	(void)state;
	for (size_t k = 0; k < NKINDS; k++) {
		nvh_pool *pool = make_pool("count.pool", kinds[k]);
		char *heap = nvt_scratch(pool, 1 << 20);
		for (unsigned n = 1; n <= 130; n += 43) {
			nvh_persist_stats_reset(pool);
			memset(heap, (int)n, 64 * n);
			assert_nvh_ok(nvh_persist(pool, heap, 64 * n));
			struct nvh_persist_stats s = stats(pool);
			assert_int_equal(s.lines_flushed, n);
			assert_int_equal(s.flushes, 1);
			assert_int_equal(s.fences, 1);
			assert_int_equal(s.barriers, 1);
		}
		/* Unaligned: 2 bytes straddling a line boundary = 2 lines. */
		nvh_persist_stats_reset(pool);
		assert_nvh_ok(nvh_persist(pool, heap + 63, 2));
		assert_int_equal(stats(pool).lines_flushed, 2);
		/* A fence with nothing pending is a fence, not a barrier. */
		nvh_persist_stats_reset(pool);
		assert_nvh_ok(nvh_drain(pool));
		struct nvh_persist_stats s = stats(pool);
		assert_int_equal(s.fences, 1);
		assert_int_equal(s.barriers, 0);
		/* Three flushes, one fence: one barrier. */
		nvh_persist_stats_reset(pool);
		assert_nvh_ok(nvh_flush(pool, heap, 1));
		assert_nvh_ok(nvh_flush(pool, heap + 4096, 64));
		assert_nvh_ok(nvh_flush(pool, heap + 65536, 200));
		assert_nvh_ok(nvh_drain(pool));
		s = stats(pool);
		assert_int_equal(s.flushes, 3);
		assert_int_equal(s.lines_flushed, 1 + 1 + 4);
		assert_int_equal(s.fences, 1);
		assert_int_equal(s.barriers, 1);
		/* Copies and sets count as one flush of the lines written. */
		nvh_persist_stats_reset(pool);
		char src[1000];
		memset(src, 7, sizeof(src));
		assert_nvh_ok(nvh_memcpy_persist(pool, heap + 128, src,
						 sizeof(src)));
		assert_memory_equal(heap + 128, src, sizeof(src));
		assert_nvh_ok(nvh_memset_persist(pool, heap + 8192, 9, 640));
		for (int i = 0; i < 640; i++)
			assert_int_equal(heap[8192 + i], 9);
		s = stats(pool);
		assert_int_equal(s.flushes, 2);
		assert_int_equal(s.lines_flushed, 16 + 10);
		assert_int_equal(s.barriers, 2);
		assert_int_equal(s.msyncs,
				 kinds[k] == NVH_PERSIST_MSYNC ? 2 : 0);
		assert_nvh_ok(nvh_close(pool));
	}
}

/* msync: flushes only record ranges; a fence makes one msync over the span
 * from the lowest page flushed to the highest. */
static void
msync_merges_ranges(void **state)
{
	(void)state;
	nvh_pool *pool = make_pool("merge.pool", NVH_PERSIST_MSYNC);
	char *heap = nvt_scratch(pool, 1 << 20);
	uint64_t heap_off = nvh_oid_of(pool, heap).off & NVH_OID_OFF_MASK;
	nvh_persist_stats_reset(pool);
	assert_nvh_ok(nvh_flush(pool, heap + 4096 * 3, 10));
	assert_nvh_ok(nvh_flush(pool, heap, 100));
	assert_nvh_ok(nvh_flush(pool, heap + 4096 * 100, 1));
	assert_int_equal(stats(pool).msyncs, 0); /* nothing synced yet */
	assert_nvh_ok(nvh_drain(pool));
	struct nvh_persist_stats s = stats(pool);
	assert_int_equal(s.msyncs, 1); /* pages 0 to 100 */
	assert_int_equal(s.barriers, 1);
	assert_nvh_ok(nvh_drain(pool));
	assert_int_equal(stats(pool).msyncs, 1); /* nothing left to sync */

	/* Many distinct ranges: still one fence, one msync, and no data
	 * lost in the file. */
	nvh_persist_stats_reset(pool);
	for (unsigned i = 0; i < 3 * NVH_DIRTY_MAX; i++) {
		heap[4096 * 2 * i] = (char)(i + 1);
		assert_nvh_ok(nvh_flush(pool, heap + 4096 * 2 * i, 1));
	}
	assert_nvh_ok(nvh_drain(pool));
	s = stats(pool);
	assert_int_equal(s.msyncs, 1);
	assert_int_equal(s.barriers, 1);
	const char *path = nvt_path("merge.pool");
	for (unsigned i = 0; i < 3 * NVH_DIRTY_MAX; i++) {
		char c;
		nvt_pread(path, heap_off + 4096 * 2 * i, &c, 1);
		assert_int_equal(c, (char)(i + 1));
	}
	assert_nvh_ok(nvh_close(pool));
}

struct thr_arg {
	nvh_pool *pool;
	char *at;
	unsigned n;
};

static void *
persist_loop(void *arg)
{
	struct thr_arg *a = arg;
	for (unsigned i = 0; i < a->n; i++) {
		a->at[64 * (i % 16)] = (char)i;
		if (nvh_persist(a->pool, a->at + 64 * (i % 16), 64))
			return (void *)1;
	}
	return NULL;
}

/* Per-thread counting adds up across threads. */
static void
counters_add_across_threads(void **state)
{
	(void)state;
	nvh_pool *pool = make_pool("threads.pool", NVH_PERSIST_PMEM);
	char *heap = nvt_scratch(pool, 1 << 20);
	nvh_persist_stats_reset(pool);
	pthread_t t[4];
	struct thr_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thr_arg){pool, heap + 4096 * i, 1000};
		assert_int_equal(pthread_create(&t[i], NULL, persist_loop, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
	struct nvh_persist_stats s = stats(pool);
	assert_int_equal(s.flushes, 4000);
	assert_int_equal(s.fences, 4000);
	assert_int_equal(s.barriers, 4000);
	assert_int_equal(s.lines_flushed, 4000);
	assert_nvh_ok(nvh_close(pool));
}

/* msync group commit: threads fencing at once share msyncs (pools on
 * disk, where an msync waits for the device: tmpfs would return before
 * anyone could join).  Every store each thread persisted is in the file. */
#define GC_THREADS 8
#define GC_N 200

static void
msync_threads_share_syncs(void **state)
{
	(void)state;
	char dir[] = "/var/tmp/nvheap-gc.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/gc.pool", dir);
	struct nvh_opts o = {.persist = NVH_PERSIST_MSYNC};
	nvh_pool *pool = assert_nvh_ptr(nvh_create(path, "persist", SIZE, &o));
	char *heap = nvt_scratch(pool, 1 << 20);
	uint64_t heap_off = nvh_oid_of(pool, heap).off & NVH_OID_OFF_MASK;
	nvh_persist_stats_reset(pool);
	pthread_t t[GC_THREADS];
	struct thr_arg a[GC_THREADS];
	_Static_assert(GC_THREADS * 8192 <= (1 << 20), "scratch");
	for (int i = 0; i < GC_THREADS; i++) {
		a[i] = (struct thr_arg){pool, heap + 8192 * i, GC_N};
		assert_int_equal(pthread_create(&t[i], NULL, persist_loop, &a[i]),
				 0);
	}
	for (int i = 0; i < GC_THREADS; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
	struct nvh_persist_stats s = stats(pool);
	assert_int_equal(s.barriers, GC_THREADS * GC_N);
	printf("    %d threads, %d fences: %" PRIu64 " msyncs\n", GC_THREADS,
	       GC_THREADS * GC_N, s.msyncs);
	/* one per fence before group commit; now at most two run at once
	 * and the other threads wait in batches that share one */
	assert_true(s.msyncs >= 1);
	assert_true(s.msyncs < GC_THREADS * GC_N * 3 / 4);
	for (int i = 0; i < GC_THREADS; i++)
		for (unsigned k = GC_N - 16; k < GC_N; k++) {
			char c;
			nvt_pread(path, heap_off + 8192 * i + 64 * (k % 16), &c, 1);
			assert_int_equal(c, (char)k);
		}
	assert_nvh_ok(nvh_close(pool));
	unlink(path);
	rmdir(dir);
}

static void
user_calls_check_ranges(void **state)
{
	(void)state;
	nvh_pool *pool = make_pool("range.pool", NVH_PERSIST_MSYNC);
	char outside[64];
	assert_int_equal(nvh_persist(pool, outside, sizeof(outside)), -EINVAL);
	assert_errmsg_has("outside the pool");
	char *last = nvh_pool_at(pool, SIZE - 64);
	assert_int_equal(nvh_persist(pool, last, 65), -EINVAL);
	assert_nvh_ok(nvh_persist(pool, last, 64));
	assert_int_equal(nvh_flush(NULL, last, 1), -EINVAL);
	assert_int_equal(nvh_memcpy_persist(pool, outside, last, 8), -EINVAL);
	assert_int_equal(nvh_memcpy_persist(pool, last, NULL, 8), -EINVAL);
	assert_errmsg_has("NULL source");
	assert_nvh_ok(nvh_memcpy_persist(pool, last, NULL, 0));
	assert_int_equal(nvh_memset_persist(pool, outside, 0, 8), -EINVAL);
	assert_int_equal(nvh_persist_stats(pool, NULL), -EINVAL);
	assert_nvh_ok(nvh_close(pool));
}

static struct nvh_pool_info
info_of(nvh_pool *pool)
{
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	return i;
}

/* Selection: option > NVHEAP_PERSIST > detection. */
static void
selection(void **state)
{
	(void)state;
	unsetenv("NVHEAP_PERSIST");
	const char *p = nvt_path("select.pool");
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "sel", SIZE, NULL));
	struct nvh_pool_info i = info_of(pool);
	/* A file on a normal file system (or tmpfs) is not pmem. */
	assert_false(i.is_pmem);
	assert_int_equal(i.persist, NVH_PERSIST_MSYNC);
	assert_string_equal(i.persist_name, "msync");
	assert_string_equal(i.persist_reason, "auto: mapping is not pmem");
	assert_nvh_ok(nvh_close(pool));

	static const char *names[] = {"pmem", "msync", "eadr", "sim"};
	for (size_t k = 0; k < NKINDS; k++) {
		setenv("NVHEAP_PERSIST", names[k], 1);
		pool = assert_nvh_ptr(nvh_open(p, "sel", NULL));
		i = info_of(pool);
		assert_int_equal(i.persist, kinds[k]);
		assert_string_equal(i.persist_reason, "chosen by NVHEAP_PERSIST");
		assert_nvh_ok(nvh_close(pool));
	}
	/* The option overrides the environment. */
	setenv("NVHEAP_PERSIST", "eadr", 1);
	struct nvh_opts o = {.persist = NVH_PERSIST_MSYNC};
	pool = assert_nvh_ptr(nvh_open(p, "sel", &o));
	i = info_of(pool);
	assert_int_equal(i.persist, NVH_PERSIST_MSYNC);
	assert_string_equal(i.persist_reason, "chosen by the pool option");
	assert_nvh_ok(nvh_close(pool));
	/* "auto" in the environment means detection. */
	setenv("NVHEAP_PERSIST", "auto", 1);
	pool = assert_nvh_ptr(nvh_open(p, "sel", NULL));
	assert_int_equal(info_of(pool).persist, NVH_PERSIST_MSYNC);
	assert_nvh_ok(nvh_close(pool));
	/* Nonsense is refused and nothing is changed. */
	setenv("NVHEAP_PERSIST", "floppy", 1);
	assert_nvh_null_errno(nvh_open(p, "sel", NULL), EINVAL);
	assert_errmsg_has("NVHEAP_PERSIST=\"floppy\"");
	unsetenv("NVHEAP_PERSIST");
	o.persist = (enum nvh_persist_kind)99;
	assert_nvh_null_errno(nvh_open(p, "sel", &o), EINVAL);
	pool = assert_nvh_ptr(nvh_open(p, "sel", NULL));
	assert_int_equal(info_of(pool).run_generation, 8);
	assert_nvh_ok(nvh_close(pool));
}

/*
 * PMEM_IS_PMEM_FORCE=1 makes libpmem call any mapping pmem; libpmem reads
 * it once at load, so the check runs in a fresh copy of this program.
 */
static int
child_main_auto_pmem(const char *path)
{
	nvh_pool *pool = nvh_open(path, "sel", NULL);
	if (!pool) {
		fprintf(stderr, "child: %s\n", nvh_errormsg());
		return 1;
	}
	struct nvh_pool_info i;
	nvh_pool_info(pool, &i);
	int ok = i.is_pmem && i.persist == NVH_PERSIST_PMEM &&
		 strcmp(i.persist_reason, "auto: mapping is pmem") == 0;
	/* The pmem backend really flushes: a persist counts a barrier and
	 * the data reaches the file. */
	char *heap = nvh_direct(pool, *nvh_root_slot(pool));
	if (!heap)
		return 4;
	memcpy(heap, "pmem-backend", 13);
	nvh_persist_stats_reset(pool);
	ok = ok && nvh_persist(pool, heap, 13) == 0;
	struct nvh_persist_stats s;
	nvh_persist_stats(pool, &s);
	ok = ok && s.barriers == 1 && s.msyncs == 0;
	if (nvh_close(pool))
		return 3;
	return ok ? 0 : 2;
}

static void
auto_selects_pmem(void **state)
{
	(void)state;
	const char *p = nvt_path("autopmem.pool");
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "sel", SIZE, NULL));
	uint64_t obj = nvh_oid_of(pool, nvt_scratch(pool, 64)).off &
		       NVH_OID_OFF_MASK;
	assert_nvh_ok(nvh_close(pool));
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = {"test_persist", "--child-auto-pmem", (char *)p,
				NULL};
		setenv("PMEM_IS_PMEM_FORCE", "1", 1);
		unsetenv("NVHEAP_PERSIST");
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	char got[13];
	nvt_pread(p, obj, got, sizeof(got));
	assert_string_equal(got, "pmem-backend");
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child-auto-pmem") == 0)
		return child_main_auto_pmem(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counters_count),
		cmocka_unit_test(msync_merges_ranges),
		cmocka_unit_test(counters_add_across_threads),
		cmocka_unit_test(msync_threads_share_syncs),
		cmocka_unit_test(user_calls_check_ranges),
		cmocka_unit_test(selection),
		cmocka_unit_test(auto_selects_pmem),
	};
	return cmocka_run_group_tests_name("persist", tests, NULL, NULL);
}
