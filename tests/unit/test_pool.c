/*
 * test_pool.c -- pool files: create/open/close, names, modes, size and
 * layout limits, the run generation and clean-shutdown flag, read-only
 * opens, the advisory lock, and misuse of open and close (a FIFO, open
 * transactions, an earlier failed write).  The header copies and their
 * fields are in test_pool_header.c, the log an open trusts in
 * test_pool_log.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/checksum.h"
#include "heap/pool.h"

#include "pool_test.h"

/* ---- life cycle ---- */

static void
create_open_close(void **state)
{
	(void)state;
	const char *p = nvt_path("life.pool");
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "life", SIZE, NULL));
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_string_equal(i.layout, "life");
	assert_int_equal(i.pool_size, SIZE);
	assert_int_equal(nvt_file_size(p), SIZE);
	assert_int_equal(i.format_version, NVH_FORMAT_VERSION);
	assert_int_equal(i.run_generation, 1);
	assert_int_equal(i.heap_offset, NVH_HEAP_OFFSET);
	/* exact: the heap ends where its arenas do (growth appends there) */
	assert_true(i.heap_size <= SIZE - NVH_HEAP_OFFSET);
	assert_true(i.heap_size > SIZE - NVH_HEAP_OFFSET - 2 * NVH_ARENA_SIZE);
	assert_int_equal(i.heap_size % 4096, 0);
	assert_int_equal(i.grows, 0);
	assert_int_equal(i.segments, 0);
	assert_int_equal(strlen(i.uuid_str), 36);
	uint8_t uuid[16];
	memcpy(uuid, i.uuid, 16);
	assert_nvh_ok(nvh_close(pool));

	pool = assert_nvh_ptr(nvh_open(p, "life", NULL));
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_int_equal(i.run_generation, 2);
	assert_true(i.was_clean);
	assert_memory_equal(i.uuid, uuid, 16);
	assert_true(i.hdr_ok[0] && i.hdr_ok[1]);
	assert_nvh_ok(nvh_close(pool));

	/* NULL layout accepts any. */
	pool = assert_nvh_ptr(nvh_open(p, NULL, NULL));
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_int_equal(i.run_generation, 3);
	assert_nvh_ok(nvh_close(pool));

	/* Both header copies on media are valid and equal after close. */
	struct nvh_pool_hdr a, b;
	read_hdr(p, 0, &a);
	read_hdr(p, 1, &b);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(a.clean_shutdown, 1);
	assert_int_equal(a.checksum, nvh_checksum(&a, HDR_CSUM_LEN));
}

static void
data_survives_reopen(void **state)
{
	(void)state;
	const char *p = fresh_pool("data.pool", "data");
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "data", NULL));
	char buf[10000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	char *obj = nvt_scratch(pool, 3 * sizeof(buf));
	char *dst = obj + 12345;
	assert_nvh_ok(nvh_memcpy_persist(pool, dst, buf, sizeof(buf)));
	uint64_t off = nvh_oid_of(pool, dst).off & NVH_OID_OFF_MASK;
	assert_nvh_ok(nvh_close(pool));

	pool = assert_nvh_ptr(nvh_open(p, "data", NULL));
	obj = nvh_direct(pool, *nvh_root_slot(pool));
	assert_non_null(obj);
	assert_memory_equal(obj + 12345, buf, sizeof(buf));
	assert_nvh_ok(nvh_close(pool));
	/* And the bytes are in the file, not only in a mapping. */
	char got[sizeof(buf)];
	nvt_pread(p, off, got, sizeof(got));
	assert_memory_equal(got, buf, sizeof(buf));
}

static void
create_refuses_existing(void **state)
{
	(void)state;
	const char *p = fresh_pool("exists.pool", "one");
	assert_nvh_null_errno(nvh_create(p, "two", SIZE, NULL), EEXIST);
	assert_errmsg_has(p);
	assert_errmsg_has("exists");
	/* The existing pool is untouched. */
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "one", NULL));
	assert_nvh_ok(nvh_close(pool));
}

static void
create_mode(void **state)
{
	(void)state;
	mode_t old = umask(022);
	const char *p = fresh_pool("mode.pool", "m");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	const char *q = nvt_path("mode2.pool");
	struct nvh_opts o = {.mode = 0640};
	nvh_pool *pool = assert_nvh_ptr(nvh_create(q, "m", SIZE, &o));
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(stat(q, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	umask(old);
}

static void
size_limits(void **state)
{
	(void)state;
	const char *p = nvt_path("small.pool");
	assert_nvh_null_errno(nvh_create(p, "s", NVH_MIN_POOL_SIZE - 4096, NULL),
			      EINVAL);
	assert_errmsg_has("below the minimum");
	assert_int_equal(access(p, F_OK), -1); /* nothing left behind */
	assert_nvh_null_errno(nvh_create(p, "s", 0, NULL), EINVAL);
	assert_nvh_null_errno(nvh_create(p, "s", NVH_MAX_POOL_SIZE + 4096, NULL),
			      EINVAL);
	assert_errmsg_has("above the maximum");
	assert_int_equal(access(p, F_OK), -1);

	/* Sizes round down to 4 KiB. */
	nvh_pool *pool = assert_nvh_ptr(
		nvh_create(p, "s", NVH_MIN_POOL_SIZE + 4095, NULL));
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_int_equal(i.pool_size, NVH_MIN_POOL_SIZE);
	assert_nvh_ok(nvh_close(pool));
}

static void
layout_names(void **state)
{
	(void)state;
	const char *p = fresh_pool("layout.pool", "right");
	assert_nvh_null_errno(nvh_open(p, "wrong", NULL), EINVAL);
	assert_errmsg_has("layout");
	assert_errmsg_has("\"right\"");
	assert_errmsg_has("\"wrong\"");
	assert_errmsg_has(p);

	char longname[NVH_LAYOUT_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	const char *q = nvt_path("longlayout.pool");
	assert_nvh_null_errno(nvh_create(q, longname, SIZE, NULL), EINVAL);
	assert_errmsg_has("layout name");
	assert_int_equal(access(q, F_OK), -1);
	longname[NVH_LAYOUT_MAX] = 0; /* exactly the maximum is fine */
	nvh_pool *pool = assert_nvh_ptr(nvh_create(q, longname, SIZE, NULL));
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(q, longname, NULL));
	assert_nvh_ok(nvh_close(pool));
}

static void
bad_arguments(void **state)
{
	(void)state;
	assert_nvh_null_errno(nvh_open(NULL, "x", NULL), EINVAL);
	assert_nvh_null_errno(nvh_open("", "x", NULL), EINVAL);
	assert_nvh_null_errno(nvh_create(NULL, "x", SIZE, NULL), EINVAL);
	assert_int_equal(nvh_close(NULL), 0);
	assert_int_equal(nvh_pool_info(NULL, NULL), -EINVAL);
	struct nvh_opts o = {.flags = NVH_OPEN_RDONLY};
	assert_nvh_null_errno(nvh_create(nvt_path("ro.pool"), "x", SIZE, &o),
			      EINVAL);
}

static void
generation_and_clean_flag(void **state)
{
	(void)state;
	const char *p = fresh_pool("gen.pool", "g");
	struct nvh_pool_info i;
	for (int k = 0; k < 3; k++) {
		nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "g", NULL));
		assert_nvh_ok(nvh_pool_info(pool, &i));
		assert_int_equal(i.run_generation, 2 + k);
		assert_true(i.was_clean);
		assert_nvh_ok(nvh_close(pool));
	}
}

static int
open_and_die(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "g", NULL);
	_exit(pool ? 0 : 1); /* no nvh_close: as if the process crashed */
}

/* A header copy whose seq is 2^64 - 1, its checksum right, was chosen
 * (the higher seq) and the open's update wrapped the seq to 0 in both
 * copies: a crash before the close left a pool with no valid header
 * (found by fuzz_open).  A seq above 2^62 is damage: the other copy
 * is used and rewrites it. */
static void
header_seq_at_the_top_is_damage(void **state)
{
	(void)state;
	const char *p = fresh_pool("hseq.pool", "g");
	struct nvh_pool_hdr h;
	read_hdr(p, 1, &h);
	h.seq = ~0ull;
	nvh_hdr_seal(&h);
	write_hdr(p, 1, &h);
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "g", &ro));
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_true(i.hdr_ok[0]);
	assert_false(i.hdr_ok[1]);
	assert_non_null(strstr(i.hdr_problem[1], "seq"));
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(open_and_die, (void *)p), 0);
	pool = assert_nvh_ptr(nvh_open(p, "g", NULL)); /* the crash recovers */
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_true(i.hdr_ok[0] && i.hdr_ok[1]);
	assert_nvh_ok(nvh_close(pool));

	/* at the maximum itself, valid: the open's and the close's updates
	 * would pass it, so a read-write open is refused before it writes
	 * anything (and a read-only one works) */
	read_hdr(p, 1, &h);
	h.seq = NVH_SEQ_MAX;
	nvh_hdr_seal(&h);
	write_hdr(p, 1, &h);
	uint64_t size = nvt_file_size(p);
	char *before = malloc(size), *after = malloc(size);
	assert_non_null(before);
	assert_non_null(after);
	nvt_pread(p, 0, before, size);
	assert_nvh_null_errno(nvh_open(p, "g", NULL), EOVERFLOW);
	assert_errmsg_has("nothing was changed");
	nvt_pread(p, 0, after, size);
	assert_memory_equal(before, after, size);
	pool = assert_nvh_ptr(nvh_open(p, "g", &ro));
	assert_nvh_ok(nvh_close(pool));
	free(before);
	free(after);
}

static void
crash_leaves_dirty_flag(void **state)
{
	(void)state;
	const char *p = fresh_pool("dirty.pool", "g");
	assert_int_equal(nvt_in_child(open_and_die, (void *)p), 0);
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "g", &ro));
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_false(i.was_clean);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "g", NULL));
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_false(i.was_clean);
	assert_int_equal(i.run_generation, 3);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "g", NULL));
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_true(i.was_clean);
	assert_nvh_ok(nvh_close(pool));
}

static void
rdonly_changes_nothing(void **state)
{
	(void)state;
	const char *p = fresh_pool("ro.pool", "r");
	char before[8192], after[8192];
	nvt_pread(p, 0, before, sizeof(before));
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "r", &ro));
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_true(i.rdonly);
	assert_true(i.was_clean);
	char *heap = nvh_pool_at(pool, NVH_HEAP_OFFSET);
	assert_int_equal(nvh_persist(pool, heap, 64), -EROFS);
	assert_int_equal(nvh_drain(pool), -EROFS);
	/* Two read-only opens share the lock. */
	nvh_pool *pool2 = assert_nvh_ptr(nvh_open(p, "r", &ro));
	assert_nvh_ok(nvh_close(pool2));
	assert_nvh_ok(nvh_close(pool));
	nvt_pread(p, 0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
}

/* ---- the advisory lock ---- */

static int
child_open_expect_busy(void *arg)
{
	errno = 0;
	nvh_pool *pool = nvh_open(arg, "lk", NULL);
	if (pool || errno != EBUSY || !strstr(nvh_errormsg(), "already open"))
		return 1;
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	pool = nvh_open(arg, "lk", &ro);
	if (pool || errno != EBUSY)
		return 2;
	return 0;
}

static int
child_open_expect_ok(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "lk", NULL);
	if (!pool)
		return 1;
	return nvh_close(pool) ? 2 : 0;
}

static void
double_open(void **state)
{
	(void)state;
	const char *p = fresh_pool("lock.pool", "lk");
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "lk", NULL));
	assert_int_equal(nvt_in_child(child_open_expect_busy, (void *)p), 0);
	/* Also a second handle in this same process. */
	assert_nvh_null_errno(nvh_open(p, "lk", NULL), EBUSY);
	assert_errmsg_has(p);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(child_open_expect_ok, (void *)p), 0);
}

/* A name without a slash is in the current directory (the temporary
 * name used while creating it once became "name/.name.creating-..."). */
static int
create_bare_name(void *arg)
{
	if (chdir(arg) != 0)
		return 1;
	nvh_pool *pool = nvh_create("bare.pool", "bare", SIZE, NULL);
	if (!pool) {
		fprintf(stderr, "%s\n", nvh_errormsg());
		return 2;
	}
	if (nvh_close(pool) != 0)
		return 3;
	pool = nvh_open("bare.pool", "bare", NULL);
	if (!pool || nvh_close(pool) != 0)
		return 4;
	return 0;
}

static void
relative_names(void **state)
{
	(void)state;
	const char *d = nvt_path("reldir");
	assert_int_equal(mkdir(d, 0755), 0);
	assert_int_equal(nvt_in_child(create_bare_name, (void *)d), 0);
	assert_int_equal(nvt_file_size(nvt_path("reldir/bare.pool")), SIZE);
}

/* ---- misuse of open and close ---- */

/* Opening a FIFO read-only used to wait forever for a writer before the
 * regular-file check; the alarm turns a hang into a failure. */
static void
fifo_is_refused(void **state)
{
	(void)state;
	const char *p = nvt_path("fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	alarm(10);
	assert_nvh_null_errno(nvh_open(p, "x", NULL), EINVAL);
	assert_errmsg_has("not a regular file");
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	assert_nvh_null_errno(nvh_open(p, "x", &ro), EINVAL);
	assert_errmsg_has("not a regular file");
	alarm(0);
}

struct held_tx {
	nvh_pool *pool;
	pthread_mutex_t m;
	pthread_cond_t c;
	int begun, release;
	int rc;
};

static void *
hold_tx(void *arg)
{
	struct held_tx *h = arg;
	nvh_tx *tx = nvh_tx_begin(h->pool);
	pthread_mutex_lock(&h->m);
	h->begun = tx ? 1 : -1;
	pthread_cond_broadcast(&h->c);
	while (!h->release)
		pthread_cond_wait(&h->c, &h->m);
	pthread_mutex_unlock(&h->m);
	h->rc = tx ? nvh_tx_commit(tx) : -1;
	return NULL;
}

/* Closing under a live transaction would free its lane and log: refused,
 * and the pool stays usable. */
static void
close_refuses_open_transactions(void **state)
{
	(void)state;
	const char *p = fresh_pool("busy.pool", "busy");
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "busy", NULL));

	/* this thread's */
	char *s = nvt_scratch(pool, 64);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_int_equal(nvh_close(pool), -EBUSY);
	assert_errmsg_has("this thread's transaction is still open");
	assert_errmsg_has(p);
	assert_nvh_ok(nvh_tx_add(tx, s, 8));
	s[0] = 42;
	assert_nvh_ok(nvh_tx_commit(tx));

	/* another thread's */
	struct held_tx h = {.pool = pool};
	pthread_mutex_init(&h.m, NULL);
	pthread_cond_init(&h.c, NULL);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hold_tx, &h), 0);
	pthread_mutex_lock(&h.m);
	while (!h.begun)
		pthread_cond_wait(&h.c, &h.m);
	pthread_mutex_unlock(&h.m);
	assert_int_equal(h.begun, 1);
	assert_int_equal(nvh_close(pool), -EBUSY);
	assert_errmsg_has("another thread");
	pthread_mutex_lock(&h.m);
	h.release = 1;
	pthread_cond_broadcast(&h.c);
	pthread_mutex_unlock(&h.m);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(h.rc, 0);

	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "busy", NULL));
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_true(i.was_clean);
	s = nvh_direct(pool, *nvh_root_slot(pool));
	assert_non_null(s);
	assert_int_equal(s[0], 42);
	assert_nvh_ok(nvh_close(pool));
}

/* msync(2) of this executable: fails with EIO while armed, so the msync
 * backend sees a device error (libnvheap's calls resolve here first). */
static int msync_fails;

int
msync(void *addr, size_t len, int flags)
{
	static int (*real)(void *, size_t, int);
	if (msync_fails) {
		errno = EIO;
		return -1;
	}
	if (!real)
		real = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
	return real(addr, len, flags);
}

/* After a failed write the pool refuses work, and close must say so (it
 * used to return 0) and leave the pool for recovery. */
static void
close_reports_an_earlier_failed_write(void **state)
{
	(void)state;
	const char *p = nvt_path("eio.pool");
	unlink(p);
	struct nvh_opts o = {.persist = NVH_PERSIST_MSYNC};
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "eio", SIZE, &o));
	msync_fails = 1;
	int rc = nvh_alloc(pool, nvh_root_slot(pool), 64, 0, NULL, NULL);
	msync_fails = 0;
	assert_int_equal(rc, -EIO);
	assert_null(nvh_tx_begin(pool));
	assert_int_equal(nvh_close(pool), -EIO);
	assert_errmsg_has("earlier write to the medium failed");
	assert_errmsg_has(p);
	pool = assert_nvh_ptr(nvh_open(p, "eio", &o));
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_false(i.was_clean);
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_open_close),
		cmocka_unit_test(data_survives_reopen),
		cmocka_unit_test(create_refuses_existing),
		cmocka_unit_test(create_mode),
		cmocka_unit_test(size_limits),
		cmocka_unit_test(layout_names),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(generation_and_clean_flag),
		cmocka_unit_test(crash_leaves_dirty_flag),
		cmocka_unit_test(rdonly_changes_nothing),
		cmocka_unit_test(double_open),
		cmocka_unit_test(relative_names),
		cmocka_unit_test(fifo_is_refused),
		cmocka_unit_test(close_refuses_open_transactions),
		cmocka_unit_test(close_reports_an_earlier_failed_write),
		cmocka_unit_test(header_seq_at_the_top_is_damage),
	};
	return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
