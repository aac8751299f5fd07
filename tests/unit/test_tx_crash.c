/*
 * test_tx_crash.c -- transactions and crashes: a child process dies inside
 * a transaction, after its commit or in a full pool mid-rollback, and the
 * next open recovers; the space rollbacks give back (issue 12, defect 4).
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "nvh_test.h"

#include "tx/tx.h"
#undef nvh_tx_current /* this suite calls the public one (the handle) */

#include "tx_test.h"

/* ---- crashes (a child process dies mid-way) ---- */

static int
die_in_tx(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "tx", NULL);
	if (!pool)
		return 1;
	struct root *r = root_of(pool);
	nvh_tx *tx = nvh_tx_begin(pool);
	nvh_tx_add(tx, &r->counter, 8);
	r->counter = 12345;
	nvh_tx_add(tx, &r->list, 8);
	r->list = nvh_tx_alloc(tx, 64, 1, 0);
	nvh_persist(pool, &r->counter, 8); /* even durable: rolled back */
	_exit(0);
}

static int
die_after_commit(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "tx", NULL);
	if (!pool)
		return 1;
	struct root *r = root_of(pool);
	for (int i = 0; i < 50; i++) {
		nvh_tx *tx = nvh_tx_begin(pool);
		nvh_tx_add(tx, &r->counter, 8);
		r->counter = 1000 + (uint64_t)i;
		if (nvh_tx_commit(tx))
			return 2;
	}
	_exit(0);
}

/* A rollback in a full pool must still be recorded: a transaction whose
 * log spilled into a chunk fills it when no arena is left; its ABORT
 * record then had nowhere to go, its UNDO records stayed live, and the
 * next recovery rolled a later committed transaction's bytes back. */
struct full_ctx {
	nvh_pool *pool;
	char *d;
	int rc;
};

static void *
commit_t2(void *arg)
{
	struct full_ctx *c = arg;
	nvh_tx *tx = nvh_tx_begin(c->pool);
	c->rc = tx ? nvh_tx_add(tx, c->d, 8) : -1;
	if (!c->rc) {
		memcpy(c->d, "T2-DATA!", 8);
		c->rc = nvh_tx_commit(tx);
	}
	return NULL;
}

static int
abort_in_full_pool_then_die(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "tx", NULL);
	if (!pool)
		return 1;
	nvh_oid *root = nvh_root_slot(pool);
	if (nvh_alloc(pool, root, 256 << 10, 1, NULL, NULL))
		return 2;
	char *d = nvh_direct(pool, *root);
	if (nvh_memset_persist(pool, d, 'A', 128 << 10))
		return 3;
	nvh_oid *slot = (nvh_oid *)(d + (128 << 10));
	int n = 0;
	while (nvh_alloc(pool, &slot[n], 256 << 10, 2, NULL, NULL) == 0)
		n++; /* fill the pool */
	if (n < 2 || nvh_free(pool, &slot[0]))
		return 4; /* one arena free: one log chunk */
	nvh_tx *tx = nvh_tx_begin(pool);
	int i, rc = 0;
	for (i = 0; i < 20000; i++) {
		if ((rc = nvh_tx_add(tx, d + 16 * i, 8)))
			break;
		d[16 * i] = 'B';
	}
	if (rc != -ENOMEM)
		return 5; /* the log must have run out of space */
	if (nvh_tx_abort(tx))
		return 6;
	if (memcmp(d, "AAAAAAAA", 8) != 0)
		return 7;
	struct full_ctx c = {pool, d, -1};
	pthread_t th;
	if (pthread_create(&th, NULL, commit_t2, &c) || pthread_join(th, NULL))
		return 8;
	if (c.rc)
		return 9;
	_exit(0); /* crash: no close */
}

static void
full_pool_rollback_is_recorded(void **state)
{
	(void)state;
	const char *path = nvt_path("fullabort.pool");
	unlink(path);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(path, "tx", 8 * MIB, NULL));
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(abort_in_full_pool_then_die,
				      (void *)path), 0);
	pool = assert_nvh_ptr(nvh_open(path, "tx", NULL));
	const char *d = nvh_direct(pool, *nvh_root_slot(pool));
	assert_non_null(d);
	assert_memory_equal(d, "T2-DATA!", 8);
	assert_int_equal(d[16], 'A'); /* T1 rolled back */
	assert_nvh_ok(nvh_close(pool));
}

static void
crash_recovery(void **state)
{
	(void)state;
	const char *path = nvt_path("crash.pool");
	nvh_pool *pool = new_pool("crash.pool", 8 * MIB);
	uint64_t base = objects(pool);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(die_in_tx, (void *)path), 0);
	pool = assert_nvh_ptr(nvh_open(path, "tx", NULL));
	struct root *r = root_of(pool);
	assert_int_equal(r->counter, 0);
	assert_true(NVH_OID_IS_NULL(r->list));
	assert_int_equal(objects(pool), base);
	struct nvh_stats st;
	nvh_stats(pool, &st);
	assert_true(st.recovered_records >= 1);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(die_after_commit, (void *)path), 0);
	pool = assert_nvh_ptr(nvh_open(path, "tx", NULL));
	r = root_of(pool);
	assert_int_equal(r->counter, 1049);
	/* and a transaction after recovery works and is not undone later */
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, &r->counter, 8));
	r->counter = 7;
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(die_in_tx, (void *)path), 0);
	pool = assert_nvh_ptr(nvh_open(path, "tx", NULL));
	assert_int_equal(root_of(pool)->counter, 7);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- space given back by rollbacks (issue 12, defect 4) ---- */

/* One transaction allocates 64-byte objects until the pool runs out (at
 * most `max`); its commit rolls it back.  Returns how many it got. */
static size_t
fill_in_tx_and_roll_back(nvh_pool *pool, size_t max)
{
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	size_t n = 0;
	while (n < max && !NVH_OID_IS_NULL(nvh_tx_alloc(tx, 64, 1, 0)))
		n++;
	assert_int_equal(nvh_tx_error(tx), ENOMEM);
	assert_int_equal(nvh_tx_commit(tx), -ENOMEM);
	assert_errmsg_has("rolled back");
	return n;
}

/* The filed case: a transaction of ~100,000 allocations hits ENOMEM and
 * rolls back.  The arenas it had taken were free on the medium but stayed
 * small arenas in DRAM (assign_pending), which nothing gave back before a
 * reopen: a 300 KB object then failed ("2 contiguous free arenas
 * needed"), and nvh_stats read them as partly used. */
static void
rollback_gives_space_back(void **state)
{
	(void)state;
	const char *name = "rollback-space.pool";
	nvh_pool *pool = reopen(new_pool(name, 8 * MIB), name);
	struct root *r = root_of(pool);
	struct nvh_stats fresh = nvt_stats(pool), st;
	size_t n1 = fill_in_tx_and_roll_back(pool, 200000);
	assert_true(n1 > 90000);
	st = nvt_stats(pool);
	nvt_same_space(&st, &fresh, "after the rollback");
	/* a 300 KB object, then one as big as every free arena together */
	assert_nvh_ok(nvh_alloc(pool, &r->big, 300 << 10, 2, NULL, NULL));
	assert_nvh_ok(nvh_free(pool, &r->big));
	assert_nvh_ok(nvh_alloc(pool, &r->big, fresh.arenas_free *
				fresh.arena_size, 2, NULL, NULL));
	assert_nvh_ok(nvh_free(pool, &r->big));
	/* a second identical transaction gets exactly as far */
	assert_int_equal(fill_in_tx_and_roll_back(pool, 200000), n1);
	st = nvt_stats(pool);
	nvt_same_space(&st, &fresh, "after the second rollback");
	/* and a reopen builds the same */
	pool = reopen(pool, name);
	st = nvt_stats(pool);
	nvt_same_space(&st, &fresh, "reopened");
	assert_int_equal(fill_in_tx_and_roll_back(pool, 200000), n1);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

static int
refuse(nvh_pool *pool, void *obj, void *arg)
{
	(void)pool, (void)obj, (void)arg;
	return 1;
}

/* The same for the other blocks a transaction or an operation reserves
 * and lets go: snapshot payloads (small and large blocks), objects freed
 * inside the transaction that allocated them, an atomic allocation whose
 * constructor refused; after an abort and after a commit. */
static void
own_blocks_are_given_back(void **state)
{
	(void)state;
	const char *name = "own-blocks.pool";
	nvh_pool *pool = reopen(new_pool(name, 16 * MIB), name);
	struct root *r = root_of(pool);
	assert_nvh_ok(nvh_alloc(pool, &r->big, 4 * MIB, 2, NULL, NULL));
	char *p = nvh_direct(pool, r->big);
	struct nvh_stats before = nvt_stats(pool), st;
	for (int commit = 0; commit < 2; commit++) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		for (size_t i = 0; i < 40; i++) /* 20 KB payloads: small */
			assert_nvh_ok(nvh_tx_add(tx, p + i * 20000, 20000));
		assert_nvh_ok(nvh_tx_add(tx, p + 1 * MIB, 600 << 10));
		assert_nvh_ok(nvh_tx_add(tx, p + 2 * MIB, 600 << 10));
		for (int i = 0; i < 3000; i++) {
			nvh_oid o = nvh_tx_alloc(tx, 3000 + (size_t)i % 7, 1, 0);
			assert_false(NVH_OID_IS_NULL(o));
			assert_nvh_ok(nvh_tx_free(tx, o));
		}
		p[0] = (char)commit;
		assert_nvh_ok(commit ? nvh_tx_commit(tx) : nvh_tx_abort(tx));
		st = nvt_stats(pool);
		nvt_same_space(&st, &before, commit ? "after a commit"
						    : "after an abort");
	}
	for (int i = 0; i < 100; i++)
		assert_int_equal(nvh_alloc(pool, &r->extra, 9000 + (size_t)i,
					   1, refuse, NULL), -ECANCELED);
	st = nvt_stats(pool);
	nvt_same_space(&st, &before, "after refused constructors");
	/* every free arena is there for one large object */
	assert_nvh_ok(nvh_alloc(pool, &r->list, before.arenas_free *
				before.arena_size, 2, NULL, NULL));
	assert_nvh_ok(nvh_free(pool, &r->list));
	pool = reopen(pool, name);
	st = nvt_stats(pool);
	nvt_same_space(&st, &before, "reopened");
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crash_recovery),
		cmocka_unit_test(full_pool_rollback_is_recorded),
		cmocka_unit_test(rollback_gives_space_back),
		cmocka_unit_test(own_blocks_are_given_back),
	};
	return cmocka_run_group_tests_name("tx_crash", tests, NULL, NULL);
}
