/*
 * test_tx_threads.c -- transactions of several threads at once, and the
 * bound on sequence numbers (they never wrap, whichever thread reaches
 * it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "nvh_test.h"

#include "tx/tx.h"
#undef nvh_tx_current /* this suite calls the public one (the handle) */

#include "tx_test.h"

/* ---- threads ---- */

#define THREADS 8
#define ROUNDS 300

struct targ {
	nvh_pool *pool;
	int id;
	int errors;
};

static void *
tx_worker(void *arg)
{
	struct targ *t = arg;
	struct root *r = root_of(t->pool);
	uint64_t *mine = &r->words[t->id * 8]; /* own line */
	for (int i = 0; i < ROUNDS; i++) {
		nvh_tx *tx = nvh_tx_begin(t->pool);
		if (!tx || nvh_tx_add(tx, mine, 16)) {
			t->errors++;
			continue;
		}
		mine[0]++;
		/* allocate a node, free the previous one */
		nvh_oid prev = {mine[1]};
		nvh_oid n = nvh_tx_alloc(tx, 64 + (size_t)i % 200, 1, 0);
		mine[1] = n.off;
		if (NVH_OID_IS_NULL(n) || nvh_tx_free(tx, prev))
			t->errors++;
		if (i % 10 == 5) {
			nvh_tx_abort(tx);
			continue;
		}
		if (nvh_tx_commit(tx))
			t->errors++;
	}
	return NULL;
}

static void
threads(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("threads.pool", 32 * MIB);
	uint64_t base = objects(pool);
	pthread_t th[THREADS];
	struct targ ta[THREADS];
	for (int i = 0; i < THREADS; i++) {
		ta[i] = (struct targ){pool, i, 0};
		assert_int_equal(pthread_create(&th[i], NULL, tx_worker, &ta[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ta[i].errors, 0);
	}
	struct root *r = root_of(pool);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(r->words[i * 8], ROUNDS - ROUNDS / 10);
	assert_int_equal(objects(pool), base + THREADS);
	assert_nvh_ok(nvh_heap_verify(pool));
	pool = reopen(pool, "threads.pool");
	r = root_of(pool);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(r->words[i * 8], ROUNDS - ROUNDS / 10);
	assert_int_equal(objects(pool), base + THREADS);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

/* ---- sequence numbers ---- */

/* docs/recovery.md: operations take sequence numbers up to 2^62 - 2^32 */
#define SEQ_LIMIT ((1ull << 62) - (1ull << 32))
#define SEQ_THREADS 4

struct sarg {
	nvh_pool *pool;
	int id;
	int ok, refused, other;
	char msg[512];
};

/* Transactions on the thread's own word until 20 are refused (bounded:
 * the old counter never refused and wrapped instead). */
static void *
seq_worker(void *arg)
{
	struct sarg *t = arg;
	uint64_t *mine = &root_of(t->pool)->words[t->id * 8];
	for (int i = 0; i < 4000 && t->refused < 20; i++) {
		nvh_tx *tx = nvh_tx_begin(t->pool);
		int rc = tx ? nvh_tx_add(tx, mine, 8) : -errno;
		if (tx) {
			if (!rc)
				mine[0]++;
			int crc = nvh_tx_commit(tx);
			rc = rc ? rc : crc;
		}
		if (!rc) {
			t->ok++;
		} else if (rc == -EOVERFLOW &&
			   strstr(nvh_errormsg(), "sequence numbers exhausted")) {
			t->refused++;
		} else {
			t->other++;
			snprintf(t->msg, sizeof(t->msg), "%d: %s", rc,
				 nvh_errormsg());
		}
	}
	return NULL;
}

/* A checkpoint near the limit (a pool that ran for centuries, or a
 * crafted one): operations of several threads succeed up to the limit,
 * then fail with EOVERFLOW and a clear message, nothing half done; the
 * pool closes cleanly, reopens, and holds exactly the committed work. */
static void
sequence_numbers_never_wrap(void **state)
{
	(void)state;
	const char *path = nvt_path("seqlimit.pool");
	nvh_pool *pool = new_pool("seqlimit.pool", 8 * MIB);
	assert_nvh_ok(nvh_close(pool));
	nvt_ckpt_write(path, 0, SEQ_LIMIT - 200);
	nvt_ckpt_write(path, 1, SEQ_LIMIT - 200);
	pool = assert_nvh_ptr(nvh_open(path, "tx", NULL));
	pthread_t th[SEQ_THREADS];
	struct sarg a[SEQ_THREADS];
	for (int i = 0; i < SEQ_THREADS; i++) {
		a[i] = (struct sarg){.pool = pool, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, seq_worker, &a[i]), 0);
	}
	int ok = 0;
	for (int i = 0; i < SEQ_THREADS; i++) {
		pthread_join(th[i], NULL);
		if (a[i].other)
			fail_msg("thread %d: %d failures other than the limit, "
				 "e.g. %s", i, a[i].other, a[i].msg);
		assert_int_equal(a[i].refused, 20);
		ok += a[i].ok;
	}
	/* 200 numbers, at least 2 per transaction (id, UNDO, COMMIT: 3) */
	assert_true(ok > 0 && ok <= 100);
	assert_null(nvh_tx_begin(pool));
	assert_int_equal(errno, EOVERFLOW);
	assert_errmsg_has("sequence numbers exhausted");
	assert_int_equal(nvh_alloc(pool, &root_of(pool)->extra, 64, 1, NULL,
				   NULL), -EOVERFLOW);
	struct root *r = root_of(pool);
	for (int i = 0; i < SEQ_THREADS; i++)
		assert_int_equal(r->words[i * 8], a[i].ok);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
	uint64_t ckpt = nvt_ckpt_read(path, NULL);
	assert_true(ckpt >= SEQ_LIMIT && ckpt <= (1ull << 62));
	pool = assert_nvh_ptr(nvh_open(path, "tx", NULL));
	struct nvh_pool_info info;
	assert_nvh_ok(nvh_pool_info(pool, &info));
	assert_true(info.was_clean);
	r = root_of(pool);
	for (int i = 0; i < SEQ_THREADS; i++)
		assert_int_equal(r->words[i * 8], a[i].ok);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(threads),
		cmocka_unit_test(sequence_numbers_never_wrap),
	};
	return cmocka_run_group_tests_name("tx_threads", tests, NULL, NULL);
}
