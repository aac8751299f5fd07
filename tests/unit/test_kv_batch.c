/*
 * test_kv_batch.c -- kv_prepare: the snapshots of a batch of writes in one
 * call (nvkv-server's group commit).  After it, the batch's puts and
 * deletes take no snapshot barrier of their own, splits included; the
 * batch commits or rolls back whole; at scale (200,000 keys in batches
 * of 50, the server's batch at redis-benchmark -c 50) the map matches a
 * reference across a reopen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nvh_test.h"

#include "examples/kvstore/kv.h"

#define MIB (1ull << 20)

static uint64_t
barriers(nvh_pool *pool)
{
	struct nvh_persist_stats s;
	nvh_persist_stats(pool, &s);
	return s.barriers;
}

static struct kv *
open_kv(const char *name, int create, unsigned buckets)
{
	struct kv_opts o = {.index = KV_HASH, .size = 256 * MIB,
			    .create = create, .hash_seed = 7,
			    .hash_buckets = buckets};
	struct kv *kv = kv_open(nvt_path(name), &o);
	if (!kv)
		fail_msg("kv_open: %s", kv_errmsg());
	return kv;
}

#define KEYLEN 24

static void
key_of(char *k, uint64_t i)
{
	snprintf(k, KEYLEN, "key:%012llu", (unsigned long long)i);
}

/* One batch: begin, prepare keys first..first+n (step), put or delete each,
 * commit.  Returns the barriers the writes took after the prepare. */
static uint64_t
batch(struct kv *kv, uint64_t first, size_t n, uint64_t step, int del,
      int abort_it)
{
	nvh_pool *pool = kv_pool(kv);
	char keys[64][KEYLEN];
	const void *k[64];
	size_t kl[64];
	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++) {
		key_of(keys[i], first + i * step);
		k[i] = keys[i];
		kl[i] = strlen(keys[i]);
	}
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	uint64_t b0 = barriers(pool);
	assert_int_equal(kv_prepare(kv, k, kl, n), 0);
	assert_true(barriers(pool) - b0 <= 1);
	uint64_t b1 = barriers(pool);
	for (size_t i = 0; i < n; i++) {
		if (del)
			assert_int_equal(kv_del(kv, k[i], kl[i]), 0);
		else
			assert_int_equal(kv_put(kv, k[i], kl[i], k[i], kl[i]), 0);
	}
	uint64_t during = barriers(pool) - b1;
	if (abort_it)
		assert_nvh_ok(nvh_tx_abort(tx));
	else
		assert_nvh_ok(nvh_tx_commit(tx));
	return during;
}

static void
present(struct kv *kv, uint64_t i, int yes)
{
	char k[KEYLEN];
	key_of(k, i);
	const void *v;
	size_t vl;
	int rc = kv_get(kv, k, strlen(k), &v, &vl);
	if (!yes) {
		assert_int_equal(rc, -ENOENT);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(vl, strlen(k));
	assert_memory_equal(v, k, vl);
}

/* Small map (16 buckets: every insert splits): a prepared batch of 50
 * inserts, then of 50 deletes, takes no barrier between prepare and
 * commit; without the prepare the same batch takes one per snapshot. */
static void
prepared_batch_takes_no_snapshot_barrier(void **state)
{
	(void)state;
	unlink(nvt_path("batch.kv"));
	struct kv *kv = open_kv("batch.kv", 1, 16);
	assert_int_equal(batch(kv, 0, 50, 1, 0, 0), 0);
	for (uint64_t i = 0; i < 50; i++)
		present(kv, i, 1);
	/* replacing, deleting: also covered */
	assert_int_equal(batch(kv, 0, 50, 1, 0, 0), 0);
	assert_int_equal(batch(kv, 0, 25, 2, 1, 0), 0);
	for (uint64_t i = 0; i < 50; i++)
		present(kv, i, i % 2 == 1);

	/* the same inserts unprepared: a barrier per new snapshot */
	nvh_pool *pool = kv_pool(kv);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	uint64_t b0 = barriers(pool);
	char k[KEYLEN];
	for (uint64_t i = 1000; i < 1050; i++) {
		key_of(k, i);
		assert_int_equal(kv_put(kv, k, strlen(k), k, strlen(k)), 0);
	}
	uint64_t unprepared = barriers(pool) - b0;
	assert_nvh_ok(nvh_tx_commit(tx));
	printf("    50 inserts in one transaction: %llu barriers unprepared, "
	       "0 after kv_prepare\n", (unsigned long long)unprepared);
	assert_true(unprepared >= 25); /* (some snapshots overlap) */
	assert_int_equal(kv_close(kv), 0);
}

/* An aborted batch changes nothing, prepared snapshots included. */
static void
aborted_batch_changes_nothing(void **state)
{
	(void)state;
	unlink(nvt_path("abort.kv"));
	struct kv *kv = open_kv("abort.kv", 1, 16);
	batch(kv, 0, 40, 1, 0, 0);
	batch(kv, 20, 40, 1, 0, 1); /* 20..59: rolled back */
	batch(kv, 0, 20, 1, 1, 1);  /* deletes rolled back */
	for (uint64_t i = 0; i < 60; i++)
		present(kv, i, i < 40);
	struct kv_stats st;
	assert_int_equal(kv_stats(kv, &st), 0);
	assert_int_equal(st.keys, 40);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv("abort.kv", 0, 16);
	for (uint64_t i = 0; i < 60; i++)
		present(kv, i, i < 40);
	assert_nvh_ok(nvh_check(kv_pool(kv), NULL, NULL));
	assert_int_equal(kv_close(kv), 0);
}

/* 201,000 keys in batches of 50,
 * then every third deleted in batches: the map holds what it should
 * across a reopen, and the writes after each prepare took no barrier
 * (splits included, 1024 buckets growing to 100,000+). */
#define SCALE 201000u

static void
at_scale(void **state)
{
	(void)state;
	unlink(nvt_path("scale.kv"));
	struct kv *kv = open_kv("scale.kv", 1, 0);
	uint64_t during = 0;
	for (uint64_t i = 0; i < SCALE; i += 50)
		during += batch(kv, i, 50, 1, 0, 0);
	for (uint64_t i = 0; i < SCALE; i += 150)
		during += batch(kv, i, 50, 3, 1, 0);
	printf("    %u keys in batches of 50: %llu barriers between prepare "
	       "and commit\n", SCALE, (unsigned long long)during);
	assert_int_equal(during, 0);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv("scale.kv", 0, 0);
	struct kv_stats st;
	assert_int_equal(kv_stats(kv, &st), 0);
	assert_int_equal(st.keys, SCALE - SCALE / 3);
	for (uint64_t i = 0; i < SCALE; i += 97)
		present(kv, i, i % 3 != 0);
	assert_int_equal(kv_close(kv), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prepared_batch_takes_no_snapshot_barrier),
		cmocka_unit_test(aborted_batch_changes_nothing),
		cmocka_unit_test(at_scale),
	};
	return cmocka_run_group_tests_name("kv_batch", tests, NULL, NULL);
}
