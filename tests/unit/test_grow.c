/*
 * test_grow.c -- pools that grow (issue 17): from 2 MiB to GiB under an
 * allocation loop and under threads, pointers that stay valid, the cap,
 * a file size limit during growth (nothing lost), the tail an unfinished
 * growth leaves, nvh_pool_grow, damaged segments, the policy at open.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/layout.h"

#include "alloc_test.h"

static const struct nvh_opts growing = {.max_size = NVH_GROW_UNLIMITED};

static nvh_pool *
create_growing(const char *name, uint64_t size, const struct nvh_opts *o)
{
	const char *p = nvt_path(name);
	unlink(p);
	return assert_nvh_ptr(nvh_create(p, "grow", size, o ? o : &growing));
}

static struct nvh_pool_info
info(nvh_pool *pool)
{
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	return i;
}

static uint64_t
pattern(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ull + 1;
}

/* ---- an allocation loop: 2 MiB to GiB ---- */

#define SMALL_N 200000
#define LARGE_N 720          /* x 4 MiB: 2.8 GiB (ThreadSanitizer: 100) */
#define LARGE_SZ (4 * MIB)

static void
grows_from_2mib_to_gib(void **state)
{
	(void)state;
	nvh_pool *pool = create_growing("loop.pool", NVH_MIN_POOL_SIZE, NULL);
	const char *p = nvt_path("loop.pool");
	const uint64_t LARGE = getenv("NVHEAP_TEST_SMALL") ? 100 : LARGE_N;
	assert_int_equal(info(pool).pool_size, NVH_MIN_POOL_SIZE);
	assert_int_equal(info(pool).grows, 1);
	nvh_oid *s = slots(pool, SMALL_N + LARGE);
	/* a pointer taken before any growth of ours */
	assert_nvh_ok(nvh_alloc(pool, &s[0], 64, 1, NULL, NULL));
	uint64_t *p0 = nvh_direct(pool, s[0]);
	*p0 = pattern(0);
	assert_nvh_ok(nvh_persist(pool, p0, 8));
	char *base0 = nvh_direct(pool, s[0]);
	for (uint64_t i = 1; i < SMALL_N; i++) {
		int rc = nvh_alloc(pool, &s[i], 64 + (i % 8) * 56, 1, NULL, NULL);
		if (rc)
			fail_msg("small object %" PRIu64 ": %s", i, nvh_errormsg());
		uint64_t *q = nvh_direct(pool, s[i]);
		*q = pattern(i);
		assert_nvh_ok(nvh_persist(pool, q, 8));
	}
	uint64_t after_small = info(pool).pool_size;
	for (uint64_t i = 0; i < LARGE; i++) {
		nvh_oid *d = &s[SMALL_N + i];
		if (nvh_alloc(pool, d, LARGE_SZ, 2, NULL, NULL))
			fail_msg("large object %" PRIu64 " (pool %" PRIu64
				 " bytes): %s", i, info(pool).pool_size,
				 nvh_errormsg());
		uint64_t *q = nvh_direct(pool, *d);
		q[0] = pattern(SMALL_N + i);
		q[LARGE_SZ / 8 - 1] = ~pattern(SMALL_N + i);
		assert_nvh_ok(nvh_persist(pool, q, 8));
		assert_nvh_ok(nvh_persist(pool, &q[LARGE_SZ / 8 - 1], 8));
	}
	struct nvh_pool_info i = info(pool);
	printf("grew from 2 MiB to %" PRIu64 " MiB (%" PRIu64 " MiB after "
	       "%d small objects) in %" PRIu64 " segments\n",
	       i.pool_size >> 20, after_small >> 20, SMALL_N, i.segments);
	assert_true(i.pool_size >= LARGE * LARGE_SZ);
	assert_true(i.segments > 2);
	assert_int_equal(nvt_file_size(p), i.pool_size);
	/* the early pointer is where it was, and so is what it holds */
	assert_ptr_equal(nvh_direct(pool, s[0]), base0);
	assert_int_equal(*p0, pattern(0));
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));

	pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	i = info(pool);
	assert_true(i.was_clean);
	nvh_oid *t = nvh_direct(pool, *nvh_root_slot(pool));
	for (uint64_t k = 0; k < SMALL_N; k++)
		assert_int_equal(*(uint64_t *)nvh_direct(pool, t[k]), pattern(k));
	for (uint64_t k = 0; k < LARGE; k++) {
		uint64_t *q = nvh_direct(pool, t[SMALL_N + k]);
		assert_int_equal(q[0], pattern(SMALL_N + k));
		assert_int_equal(q[LARGE_SZ / 8 - 1], ~pattern(SMALL_N + k));
		assert_int_equal(nvh_usable_size(pool, t[SMALL_N + k]) >= LARGE_SZ, 1);
	}
	assert_checks_clean(pool);
	/* all of it freed: the arenas go back, the file stays as big */
	for (uint64_t k = 0; k < SMALL_N + LARGE; k++)
		assert_nvh_ok(nvh_free(pool, &t[k]));
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	unlink(p);
}

/* ---- threads: transactions in 4 threads grow it, a reader holds a
 * pointer all along ---- */

struct reader {
	nvh_pool *pool;
	volatile uint64_t *word;
	uint64_t want;
	_Atomic int stop;
	uint64_t reads, bad;
};

static void *
read_loop(void *arg)
{
	struct reader *r = arg;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		if (*r->word != r->want)
			r->bad++;
		r->reads++;
	}
	return NULL;
}

static void
threads_grow_it_and_pointers_stay_valid(void **state)
{
	(void)state;
	/* small steps: many growths while the threads allocate */
	struct nvh_opts o = {.max_size = NVH_GROW_UNLIMITED,
			     .grow_step = 1 * MIB};
	nvh_pool *pool = create_growing("threads.pool", NVH_MIN_POOL_SIZE, &o);
	const char *p = nvt_path("threads.pool");
	/* a few objects first (a bag of their own); the reader watches the
	 * first one's value through a pointer taken now: top -> last bag
	 * -> slot 0 -> node */
	nvt_populate_more(pool, 10);
	nvh_oid *top = nvh_direct(pool, *nvh_root_slot(pool));
	nvh_oid *bag = nvh_direct(pool, top[7]);
	uint64_t *node = nvh_direct(pool, bag[0]);
	assert_non_null(node);
	struct reader r = {pool, node, *node, 0, 0, 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, read_loop, &r), 0);
	uint64_t before = info(pool).pool_size;
	nvt_populate(pool, 100000, 4);
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	struct nvh_pool_info i = info(pool);
	printf("4 threads, 100000 objects: %" PRIu64 " -> %" PRIu64 " MiB, %"
	       PRIu64 " segments; the reader read %" PRIu64 " times\n",
	       before >> 20, i.pool_size >> 20, i.segments, r.reads);
	assert_true(i.segments >= 4);
	assert_int_equal(r.bad, 0);
	assert_ptr_equal(nvh_direct(pool, bag[0]), (void *)r.word);
	nvt_populated_ok(pool, 100000, 4);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	nvt_populated_ok(pool, 100000, 4);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	unlink(p);
}

/* ---- both backends: pmem (CPU flushes) and a disk file (msync) ---- */

static void
grow_on(const char *p, enum nvh_persist_kind kind)
{
	unlink(p);
	struct nvh_opts o = {.persist = kind, .max_size = NVH_GROW_UNLIMITED,
			     .grow_step = 2 * MIB};
	nvh_pool *pool = nvh_create(p, "grow", NVH_MIN_POOL_SIZE, &o);
	if (!pool)
		fail_msg("%s: %s", p, nvh_errormsg());
	nvh_oid *s = slots(pool, 4096);
	for (uint64_t i = 0; i < 4096; i++) {
		size_t size = i % 16 ? 1000 : 300000;
		if (nvh_alloc(pool, &s[i], size, 1, NULL, NULL))
			fail_msg("%s: object %" PRIu64 ": %s", p, i,
				 nvh_errormsg());
		uint64_t *q = nvh_direct(pool, s[i]);
		*q = pattern(i);
		assert_nvh_ok(nvh_persist(pool, q, 8));
	}
	struct nvh_pool_info i = info(pool);
	printf("%s backend, %s: %" PRIu64 " MiB in %" PRIu64 " growths\n",
	       i.persist_name, p, i.pool_size >> 20, i.segments);
	assert_int_equal(i.persist, kind);
	assert_true(i.segments >= 10);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "grow", &o));
	s = nvh_direct(pool, *nvh_root_slot(pool));
	for (uint64_t k = 0; k < 4096; k++)
		assert_int_equal(*(uint64_t *)nvh_direct(pool, s[k]), pattern(k));
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	unlink(p);
}

static void
grows_on_both_backends(void **state)
{
	(void)state;
	grow_on(nvt_path("pmem.pool"), NVH_PERSIST_PMEM);
	grow_on(nvt_path("msync.pool"), NVH_PERSIST_MSYNC);
	/* a disk file, if there is a disk (the msync path for real) */
	char d[] = "/var/tmp/nvheap-grow.XXXXXX";
	if (mkdtemp(d)) {
		char p[64];
		snprintf(p, sizeof(p), "%s/disk.pool", d);
		grow_on(p, NVH_PERSIST_MSYNC);
		rmdir(d);
	}
}

/* ---- the cap ---- */

static void
max_size_caps_it(void **state)
{
	(void)state;
	struct nvh_opts o = {.max_size = 16 * MIB, .grow_step = 2 * MIB};
	nvh_pool *pool = create_growing("cap.pool", NVH_MIN_POOL_SIZE, &o);
	const char *p = nvt_path("cap.pool");
	assert_int_equal(info(pool).max_size, 16 * MIB);
	assert_int_equal(info(pool).grow_step, 2 * MIB);
	nvh_oid *s = slots(pool, 1024);
	size_t n = 0;
	int rc;
	while ((rc = nvh_alloc(pool, &s[n], 60000, 1, NULL, NULL)) == 0) {
		*(uint64_t *)nvh_direct(pool, s[n]) = pattern(n);
		assert_nvh_ok(nvh_persist(pool, nvh_direct(pool, s[n]), 8));
		n++;
		assert_true(n < 1024);
	}
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(errno, ENOMEM);
	if (!strstr(nvh_errormsg(), "maximum size"))
		fail_msg("error does not name the cap: %s", nvh_errormsg());
	struct nvh_pool_info i = info(pool);
	printf("capped at 16 MiB: %zu objects of 60000 bytes, pool %" PRIu64
	       " bytes, %" PRIu64 " segments: %s\n", n, i.pool_size,
	       i.segments, nvh_errormsg());
	assert_true(i.pool_size <= 16 * MIB);
	assert_true(i.pool_size > 14 * MIB);
	/* most of the cap is used: 60000-byte objects are 64 KiB blocks */
	assert_true(n * 65536 > 12 * MIB);
	assert_int_equal(nvt_file_size(p), i.pool_size);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	nvh_oid *t = nvh_direct(pool, *nvh_root_slot(pool));
	for (size_t k = 0; k < n; k++)
		assert_int_equal(*(uint64_t *)nvh_direct(pool, t[k]), pattern(k));
	assert_nvh_ok(nvh_close(pool));
	unlink(p);
}

/* ---- a file size limit (as a full disk) during growth ---- */

static int
limited_child(void *arg)
{
	const char *p = arg;
	struct rlimit rl = {12 * MIB, 12 * MIB};
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 10;
	struct nvh_opts o = {.max_size = NVH_GROW_UNLIMITED,
			     .grow_step = 4 * MIB};
	nvh_pool *pool = nvh_create(p, "grow", NVH_MIN_POOL_SIZE, &o);
	if (!pool)
		return 11;
	nvh_oid *s = nvt_scratch(pool, 1024 * sizeof(nvh_oid));
	memset(s, 0, 1024 * sizeof(nvh_oid));
	nvh_persist(pool, s, 1024 * sizeof(nvh_oid));
	size_t n = 0;
	int rc;
	while (n < 1024 && (rc = nvh_alloc(pool, &s[n], 60000, 1, NULL,
					    NULL)) == 0) {
		*(uint64_t *)nvh_direct(pool, s[n]) = pattern(n);
		nvh_persist(pool, nvh_direct(pool, s[n]), 8);
		n++;
	}
	printf("under a 12 MiB file size limit: %zu objects, then %d: %s\n",
	       n, rc, nvh_errormsg());
	if (n == 1024 || rc != -EFBIG)
		return 12;
	if (!strstr(nvh_errormsg(), "cannot extend the file"))
		return 13;
	if (nvt_file_size(p) > 12 * MIB)
		return 14;
	/* the pool goes on working in what it has */
	if (nvh_free(pool, &s[0]) || nvh_alloc(pool, &s[0], 60000, 1, NULL,
					       NULL))
		return 15;
	*(uint64_t *)nvh_direct(pool, s[0]) = pattern(0);
	nvh_persist(pool, nvh_direct(pool, s[0]), 8);
	FILE *f = fopen(nvt_path("limit.count"), "w");
	fprintf(f, "%zu\n", n);
	fclose(f);
	return nvh_close(pool) ? 16 : 0;
}

static void
file_size_limit_during_growth_loses_nothing(void **state)
{
	(void)state;
	const char *p = nvt_path("limit.pool");
	unlink(p);
	int rc = nvt_in_child(limited_child, (void *)p);
	if (rc)
		fail_msg("the child failed its checks (code %d)", rc);
	FILE *f = fopen(nvt_path("limit.count"), "r");
	size_t n = 0;
	assert_int_equal(fscanf(f, "%zu", &n), 1);
	fclose(f);
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	nvh_oid *t = nvh_direct(pool, *nvh_root_slot(pool));
	for (size_t k = 0; k < n; k++)
		assert_int_equal(*(uint64_t *)nvh_direct(pool, t[k]), pattern(k));
	assert_checks_clean(pool);
	/* without the limit, it grows again */
	assert_nvh_ok(nvh_alloc(pool, &t[n], 60000, 1, NULL, NULL));
	assert_true(info(pool).pool_size > 12 * MIB);
	assert_nvh_ok(nvh_close(pool));
	unlink(p);
}

/* ---- the tail of an unfinished growth ---- */

static void
unfinished_growth_tail_is_ignored_then_trimmed(void **state)
{
	(void)state;
	nvh_pool *pool = create_growing("tail.pool", 4 * MIB, NULL);
	const char *p = nvt_path("tail.pool");
	struct nvh_pool_info i = info(pool);
	nvh_oid *s = slots(pool, 8);
	assert_nvh_ok(nvh_alloc(pool, &s[0], 100, 1, NULL, NULL));
	assert_nvh_ok(nvh_close(pool));
	/* what a crash between G2 and G3 leaves: a longer file, and a
	 * segment header at the heap's end that the header does not name */
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(i.pool_size + 3 * MIB)), 0);
	close(fd);
	struct nvh_seg_hdr sh = {.magic = NVH_SEG_MAGIC, .index = 1,
				 .narenas = 5};
	nvt_pwrite(p, i.heap_offset + i.heap_size, &sh, sizeof(sh));
	/* read-only: opens, the file is left as it is */
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	pool = assert_nvh_ptr(nvh_open(p, "grow", &ro));
	assert_int_equal(info(pool).pool_size, i.pool_size);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_file_size(p), i.pool_size + 3 * MIB);
	/* read-write: trimmed */
	pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	assert_int_equal(nvt_file_size(p), i.pool_size);
	assert_int_equal(info(pool).segments, 0);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	unlink(p);

	/* a pool at its cap with such a tail: the trimmed range is not
	 * counted as reserved (it was, and a growth then mapped over
	 * whatever had been mapped there meanwhile) */
	struct nvh_opts capped = {.max_size = 4 * MIB};
	pool = create_growing("tail.pool", 4 * MIB, &capped);
	assert_nvh_ok(nvh_close(pool));
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(8 * MIB)), 0);
	close(fd);
	pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	assert_int_equal(nvt_file_size(p), 4 * MIB);
	assert_int_equal(info(pool).reserved_size, 4 * MIB);
	assert_int_equal(nvh_pool_grow(pool, 8 * MIB), -ENOMEM);
	assert_int_equal(nvt_file_size(p), 4 * MIB);
	assert_nvh_ok(nvh_close(pool));
	unlink(p);
}

/* ---- nvh_pool_grow ---- */

static void
explicit_growth_of_a_fixed_pool(void **state)
{
	(void)state;
	const char *p = nvt_path("explicit.pool");
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "grow", 4 * MIB, NULL));
	nvh_oid *s = slots(pool, 8);
	assert_int_equal(info(pool).grows, 0);
	/* fixed: a 40 MiB object does not fit and the pool does not grow */
	assert_int_equal(nvh_alloc(pool, &s[0], 40 * MIB, 1, NULL, NULL),
			 -ENOMEM);
	assert_int_equal(info(pool).pool_size, 4 * MIB);
	assert_nvh_ok(nvh_pool_grow(pool, 64 * MIB));
	struct nvh_pool_info i = info(pool);
	assert_int_equal(i.pool_size, 64 * MIB);
	assert_int_equal(nvt_file_size(p), 64 * MIB);
	assert_int_equal(i.segments, 1);
	assert_int_equal(i.grows, 0);
	assert_nvh_ok(nvh_alloc(pool, &s[0], 40 * MIB, 1, NULL, NULL));
	memset(nvh_direct(pool, s[0]), 0x5a, 40 * MIB);
	assert_nvh_ok(nvh_persist(pool, nvh_direct(pool, s[0]), 40 * MIB));
	/* already that big: nothing to do */
	assert_nvh_ok(nvh_pool_grow(pool, 32 * MIB));
	assert_int_equal(info(pool).pool_size, 64 * MIB);
	/* too little for one more arena */
	assert_int_equal(nvh_pool_grow(pool, 64 * MIB + 4096), -EINVAL);
	if (!strstr(nvh_errormsg(), "no room for one more arena"))
		fail_msg("%s", nvh_errormsg());
	assert_int_equal(nvh_pool_grow(pool, 32ull << 40), -EINVAL);
	assert_int_equal(nvh_pool_grow(NULL, 64 * MIB), -EINVAL);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	/* read-only */
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	pool = assert_nvh_ptr(nvh_open(p, "grow", &ro));
	assert_int_equal(nvh_pool_grow(pool, 128 * MIB), -EROFS);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	nvh_oid *t = nvh_direct(pool, *nvh_root_slot(pool));
	const unsigned char *b = nvh_direct(pool, t[0]);
	for (uint64_t k = 0; k < 40 * MIB; k += 4093)
		assert_int_equal(b[k], 0x5a);
	/* a second growth, and a capped pool's cap rises with it */
	assert_nvh_ok(nvh_pool_grow(pool, 100 * MIB));
	assert_int_equal(info(pool).segments, 2);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	unlink(p);
}

/* ---- nvh_close during a growth ---- */

struct grower {
	nvh_pool *pool;
	uint64_t to;
	_Atomic int started, done;
	int rc;
};

static void *
grow_thread(void *arg)
{
	struct grower *g = arg;
	atomic_store(&g->started, 1);
	g->rc = nvh_pool_grow(g->pool, g->to);
	atomic_store(&g->done, 1);
	return NULL;
}

static void
close_during_growth_is_refused(void **state)
{
	(void)state;
	const char *p = nvt_path("busy.pool");
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "grow", 4 * MIB, NULL));
	/* 3 GiB: the file system zeroes it for a good part of a second */
	struct grower g = {.pool = pool, .to = 3ull << 30};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, grow_thread, &g), 0);
	while (!atomic_load(&g.started))
		usleep(100);
	usleep(20000);
	int rc = nvh_close(pool);
	int was_done = atomic_load(&g.done);
	if (!was_done) {
		assert_int_equal(rc, -EBUSY);
		if (!strstr(nvh_errormsg(), "growing the pool"))
			fail_msg("%s", nvh_errormsg());
	}
	pthread_join(th, NULL);
	printf("close during a 3 GiB growth: %d (%s)\n", rc,
	       was_done ? "the growth had finished" : "refused");
	if (rc == 0) {
		assert_true(was_done);
		unlink(p);
		return;
	}
	assert_nvh_ok(g.rc);
	assert_int_equal(info(pool).pool_size, 3ull << 30);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	unlink(p);
}

/* ---- damage ---- */

static void
damaged_segment_header_is_refused(void **state)
{
	(void)state;
	const char *p = nvt_path("damage.pool");
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "grow", 4 * MIB, NULL));
	uint64_t start = info(pool).heap_offset + info(pool).heap_size;
	assert_nvh_ok(nvh_pool_grow(pool, 16 * MIB));
	assert_nvh_ok(nvh_close(pool));
	static const struct {
		uint64_t off;
		const char *says;
	} cases[] = {
		{0, "field magic"},
		{8, "field checksum"},
		{24, "field checksum"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		unsigned char v;
		nvt_pread(p, start + cases[c].off, &v, 1);
		v ^= 0x40;
		nvt_pwrite(p, start + cases[c].off, &v, 1);
		assert_null(nvh_open(p, "grow", NULL));
		assert_int_equal(errno, NVH_ECORRUPT);
		if (!strstr(nvh_errormsg(), "segment 1 at") ||
		    !strstr(nvh_errormsg(), cases[c].says))
			fail_msg("case %zu: %s", c, nvh_errormsg());
		v ^= 0x40;
		nvt_pwrite(p, start + cases[c].off, &v, 1);
	}
	pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	assert_int_equal(info(pool).segments, 1);
	assert_nvh_ok(nvh_close(pool));
	unlink(p);
}

/* ---- the policy, set at open ---- */

static void
policy_set_at_open(void **state)
{
	(void)state;
	const char *p = nvt_path("policy.pool");
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "grow", 4 * MIB, NULL));
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "grow", &growing));
	assert_int_equal(info(pool).grows, 1);
	assert_int_equal(info(pool).max_size, 0);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	assert_int_equal(info(pool).grows, 1);
	nvh_oid *s = slots(pool, 8);
	assert_nvh_ok(nvh_alloc(pool, &s[0], 6 * MIB, 1, NULL, NULL));
	assert_true(info(pool).pool_size > 6 * MIB);
	assert_nvh_ok(nvh_close(pool));
	struct nvh_opts off = {.max_size = NVH_GROW_OFF};
	pool = assert_nvh_ptr(nvh_open(p, "grow", &off));
	assert_int_equal(info(pool).grows, 0);
	assert_int_equal(nvh_alloc(pool, &s[1], 64 * MIB, 1, NULL, NULL),
			 -ENOMEM);
	assert_nvh_ok(nvh_close(pool));
	/* a maximum raised at open is reachable in that run (the address
	 * space reserved at open follows it, not the old maximum) */
	struct nvh_opts capped = {.max_size = 16 * MIB};
	pool = assert_nvh_ptr(nvh_open(p, "grow", &capped));
	s = slots(pool, 8);
	assert_nvh_ok(nvh_alloc(pool, &s[1], 4 * MIB, 1, NULL, NULL));
	assert_int_equal(nvh_alloc(pool, &s[2], 8 * MIB, 1, NULL, NULL),
			 -ENOMEM);
	assert_nvh_ok(nvh_close(pool));
	struct nvh_opts raised = {.max_size = 64 * MIB};
	pool = assert_nvh_ptr(nvh_open(p, "grow", &raised));
	assert_int_equal(info(pool).max_size, 64 * MIB);
	s = slots(pool, 8);
	if (nvh_alloc(pool, &s[2], 8 * MIB, 1, NULL, NULL))
		fail_msg("past the old maximum, below the new: %s",
			 nvh_errormsg());
	assert_true(info(pool).pool_size > 16 * MIB);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "grow", &off)); /* fixed again */
	assert_nvh_ok(nvh_close(pool));
	struct nvh_opts small = {.max_size = 2 * MIB};
	assert_null(nvh_open(p, "grow", &small));
	assert_int_equal(errno, EINVAL);
	if (!strstr(nvh_errormsg(), "max_size"))
		fail_msg("%s", nvh_errormsg());
	struct nvh_opts step_only = {.grow_step = 8 * MIB};
	assert_null(nvh_open(p, "grow", &step_only));
	assert_int_equal(errno, EINVAL);
	assert_null(nvh_create(nvt_path("policy2.pool"), "grow", 4 * MIB,
			       &small));
	assert_int_equal(errno, EINVAL);
	unlink(p);
}

/* ---- kill -9 during growth ---- */

#define KSLOTS 1024
#define KILLS 200

struct kshm {
	_Atomic uint64_t ops;          /* operations acknowledged */
	_Atomic int64_t inflight;      /* slot of the op in flight, or -1 */
	_Atomic int started;
	_Atomic int growing;           /* in nvh_pool_grow */
	uint64_t acked[KSLOTS];        /* each slot's acknowledged oid */
	uint64_t seq;                  /* the child's random state */
};

static uint64_t
krand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Allocations of small and large objects into KSLOTS slots, a free first
 * once they are all in use; every object starts with its slot's pattern.
 * The pool grows one arena at a time (grow_step 4 KiB): most large
 * objects need a growth. */
static int
kill_child(const char *p, struct kshm *m)
{
	struct nvh_opts o = {.max_size = NVH_GROW_UNLIMITED, .grow_step = 4096};
	nvh_pool *pool = nvh_open(p, "grow", &o);
	if (!pool)
		return 20;
	nvh_oid *s = nvh_direct(pool, *nvh_root_slot(pool));
	atomic_store(&m->started, 1);
	for (;;) {
		uint64_t i = atomic_load(&m->ops);
		uint64_t slot = i % KSLOTS;
		uint64_t r = krand(&m->seq);
		if (r % 512 == 0) {
			/* and explicit growths, by two arenas */
			struct nvh_pool_info pi;
			if (nvh_pool_info(pool, &pi))
				return 23;
			atomic_store(&m->growing, 1);
			if (nvh_pool_grow(pool, pi.pool_size + (520u << 10)))
				return 24;
			atomic_store(&m->growing, 0);
		}
		size_t size = r % 10 < 7 ? 64 + r % 2048
				       : (256u << 10) + r % (512u << 10);
		atomic_store(&m->inflight, (int64_t)slot);
		if (s[slot].off && nvh_free(pool, &s[slot]))
			return 21;
		if (nvh_alloc(pool, &s[slot], size, 1, NULL, NULL))
			return 22;
		uint64_t *q = nvh_direct(pool, s[slot]);
		*q = pattern(slot ^ i << 10);
		nvh_persist(pool, q, 8);
		/* acknowledged: the count first, then the op is no longer
		 * in flight (a kill between the two finds it in flight and
		 * done, which the check allows) */
		m->acked[slot] = s[slot].off;
		atomic_store(&m->ops, i + 1);
		atomic_store(&m->inflight, -1);
	}
}

static void
kill_during_growth(void **state)
{
	(void)state;
	const char *p = nvt_path("kill.pool");
	unlink(p);
	struct kshm *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	m->inflight = -1;
	m->seq = 88172645463325252ull;
	struct nvh_opts o = {.max_size = NVH_GROW_UNLIMITED, .grow_step = 4096};
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "grow", NVH_MIN_POOL_SIZE,
						   &o));
	nvh_oid *s = nvt_scratch(pool, KSLOTS * sizeof(nvh_oid));
	memset(s, 0, KSLOTS * sizeof(nvh_oid));
	assert_nvh_ok(nvh_persist(pool, s, KSLOTS * sizeof(nvh_oid)));
	assert_nvh_ok(nvh_close(pool));
	uint64_t rng = 12345, inflight_found_new = 0, mid_op = 0, mid_grow = 0;
	const int kills = getenv("NVHEAP_TEST_SMALL") ? 40 : KILLS;
	for (int k = 0; k < kills; k++) {
		atomic_store(&m->started, 0);
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(kill_child(p, m));
		while (!atomic_load(&m->started)) {
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid)
				fail_msg("kill %d: the child exited (%d) before "
					 "it started: %s", k, WEXITSTATUS(st),
					 nvh_errormsg());
			usleep(100);
		}
		usleep((useconds_t)(krand(&rng) % 20000));
		kill(pid, SIGKILL);
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFSIGNALED(st))
			fail_msg("kill %d: the child exited with %d", k,
				 WEXITSTATUS(st));
		int64_t inf = atomic_load(&m->inflight);
		mid_op += inf >= 0;
		mid_grow += atomic_load(&m->growing);
		atomic_store(&m->growing, 0);
		pool = nvh_open(p, "grow", NULL);
		if (!pool)
			fail_msg("kill %d: open: %s", k, nvh_errormsg());
		s = nvh_direct(pool, *nvh_root_slot(pool));
		uint64_t ops = atomic_load(&m->ops);
		for (uint64_t slot = 0; slot < KSLOTS; slot++) {
			uint64_t v = s[slot].off;
			if ((int64_t)slot == inf) {
				/* all or nothing: the old object, null (the
				 * free done), or a new live one */
				if (v != m->acked[slot]) {
					inflight_found_new += v != 0;
					if (v)
						assert_true(nvh_usable_size(pool,
							s[slot]) > 0);
					m->acked[slot] = v;
				}
				continue;
			}
			if (v != m->acked[slot])
				fail_msg("kill %d: slot %" PRIu64 " holds 0x%" PRIx64
					 ", acknowledged 0x%" PRIx64, k, slot, v,
					 m->acked[slot]);
			if (!v)
				continue;
			/* the last op that wrote this slot: ops - 1 - ((ops -
			 * 1 - slot) % KSLOTS) */
			uint64_t i = ops - 1 - ((ops - 1 - slot) % KSLOTS);
			if (*(uint64_t *)nvh_direct(pool, s[slot]) !=
			    pattern(slot ^ i << 10))
				fail_msg("kill %d: slot %" PRIu64 ": contents lost",
					 k, slot);
		}
		if (inf >= 0) {
			/* the op in flight counts as done if it was; its
			 * pattern may be missing, so the next op redoes it */
			atomic_store(&m->inflight, -1);
		}
		struct nvh_pool_info i = info(pool);
		assert_int_equal(nvt_file_size(p), i.pool_size);
		if (k % 20 == 0)
			assert_checks_clean(pool);
		assert_nvh_ok(nvh_close(pool));
	}
	pool = assert_nvh_ptr(nvh_open(p, "grow", NULL));
	struct nvh_pool_info i = info(pool);
	printf("%d kills, %" PRIu64 " operations acknowledged, %" PRIu64
	       " kills during an operation (%" PRIu64 " found done), %" PRIu64
	       " during an nvh_pool_grow; the pool grew to %" PRIu64 " MiB in %"
	       PRIu64 " growths\n", kills, atomic_load(&m->ops), mid_op,
	       inflight_found_new, mid_grow, i.pool_size >> 20, i.segments);
	assert_true(i.segments > 100);
	/* (ThreadSanitizer's 40 slow kills may all miss the explicit
	 * growths; the automatic ones happen inside the operations) */
	assert_true(mid_grow > 0 || getenv("NVHEAP_TEST_SMALL"));
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	munmap(m, sizeof(*m));
	unlink(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grows_from_2mib_to_gib),
		cmocka_unit_test(threads_grow_it_and_pointers_stay_valid),
		cmocka_unit_test(grows_on_both_backends),
		cmocka_unit_test(max_size_caps_it),
		cmocka_unit_test(file_size_limit_during_growth_loses_nothing),
		cmocka_unit_test(unfinished_growth_tail_is_ignored_then_trimmed),
		cmocka_unit_test(explicit_growth_of_a_fixed_pool),
		cmocka_unit_test(close_during_growth_is_refused),
		cmocka_unit_test(damaged_segment_header_is_refused),
		cmocka_unit_test(policy_set_at_open),
		cmocka_unit_test(kill_during_growth),
	};
	return cmocka_run_group_tests_name("grow", tests, NULL, NULL);
}
