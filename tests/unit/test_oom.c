/*
 * test_oom.c -- out of memory at every allocation of nvh_open, nvh_create
 * and nvh_repair: each fails with an error (no crash, no leak that ASan
 * sees, nothing written that the next open refuses), and the pool opens
 * afterwards with everything in it.
 *
 * The library's malloc, calloc and realloc are wrapped (-Wl,--wrap): the
 * n-th call after arm(n) fails.  Every n from 0 up is tried until an open
 * makes no more calls than that (it then succeeded with none failed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nvh_test.h"

#define MIB (1024u * 1024u)
#define OBJECTS 20000

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static long countdown = -1; /* calls left before the one that fails */
static long calls;

static int
fail_now(void)
{
	calls++;
	if (countdown < 0)
		return 0;
	return countdown-- == 0;
}

void *
__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return fail_now() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

static void
arm(long n)
{
	calls = 0;
	countdown = n;
}

static void
disarm(void)
{
	countdown = -1;
}

static int
populate_and_die(void *arg)
{
	nvh_pool *pool = nvh_create(arg, "oom", 16 * MIB, NULL);
	if (!pool)
		return 1;
	nvt_populate(pool, OBJECTS, 3);
	return 0; /* _exit without nvh_close: a crash */
}

/* A pool with OBJECTS objects (3 threads); when `crashed`, its process
 * died without closing it, so the next open recovers. */
static void
make_pool(const char *p, int crashed)
{
	unlink(p);
	if (crashed) {
		assert_int_equal(nvt_in_child(populate_and_die, (void *)p), 0);
		return;
	}
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "oom", 16 * MIB, NULL));
	nvt_populate(pool, OBJECTS, 3);
	assert_nvh_ok(nvh_close(pool));
}

/* The pool opens, with what make_pool put in it, and checks clean. */
static void
intact(const char *p)
{
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "oom", NULL));
	nvt_populated_ok(pool, OBJECTS, 3);
	struct nvh_check_report rep;
	assert_nvh_ok(nvh_check(pool, &rep, NULL));
	assert_int_equal(rep.problems, 0);
	assert_nvh_ok(nvh_close(pool));
}

static void
open_each_allocation_failing(int crashed)
{
	const char *p = nvt_path(crashed ? "recover.pool" : "open.pool");
	make_pool(p, crashed);
	long n;
	for (n = 0;; n++) {
		arm(n);
		nvh_pool *pool = nvh_open(p, "oom", NULL);
		long made = calls;
		disarm();
		if (pool) {
			assert_nvh_ok(nvh_close(pool));
			if (made <= n)
				break; /* no call failed: every one was tried */
			continue;
		}
		if (errno != ENOMEM)
			fail_msg("allocation %ld failing: %s", n, nvh_errormsg());
		assert_non_null(strstr(nvh_errormsg(), "memory"));
	}
	assert_true(n > 5);
	printf("%s open: %ld allocations, each failed once\n",
	       crashed ? "recovering" : "clean", n);
	intact(p);
}

static void
open_fails_cleanly_at_every_allocation(void **state)
{
	(void)state;
	open_each_allocation_failing(0);
}

/* The same for an open that recovers (replay, rollbacks, the dying
 * list): a failed one leaves the pool to the next. */
static void
recovering_open_fails_cleanly_at_every_allocation(void **state)
{
	(void)state;
	open_each_allocation_failing(1);
}

static void
create_fails_cleanly_at_every_allocation(void **state)
{
	(void)state;
	const char *p = nvt_path("create.pool");
	long n;
	for (n = 0;; n++) {
		unlink(p);
		arm(n);
		nvh_pool *pool = nvh_create(p, "oom", 8 * MIB, NULL);
		long made = calls;
		disarm();
		if (pool) {
			assert_nvh_ok(nvh_close(pool));
			if (made <= n)
				break;
			continue;
		}
		assert_int_equal(errno, ENOMEM);
		/* a failed create leaves no file behind */
		assert_int_equal(access(p, F_OK), -1);
	}
	assert_true(n > 5);
	printf("create: %ld allocations, each failed once\n", n);
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "oom", NULL));
	assert_nvh_ok(nvh_close(pool));
}

static void
repair_fails_cleanly_at_every_allocation(void **state)
{
	(void)state;
	const char *p = nvt_path("repair.pool");
	make_pool(p, 0);
	long n;
	for (n = 0;; n++) {
		FILE *out = fopen("/dev/null", "w");
		arm(n);
		int rc = nvh_repair(p, "oom", out);
		long made = calls;
		disarm();
		fclose(out);
		if (rc == 0) {
			if (made <= n)
				break;
			continue;
		}
		assert_int_equal(rc, -ENOMEM);
	}
	assert_true(n > 3);
	printf("repair: %ld allocations, each failed once\n", n);
	intact(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_fails_cleanly_at_every_allocation),
		cmocka_unit_test(recovering_open_fails_cleanly_at_every_allocation),
		cmocka_unit_test(create_fails_cleanly_at_every_allocation),
		cmocka_unit_test(repair_fails_cleanly_at_every_allocation),
	};
	return cmocka_run_group_tests_name("oom", tests, NULL, NULL);
}
