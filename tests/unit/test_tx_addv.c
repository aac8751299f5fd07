/*
 * test_tx_addv.c -- nvh_tx_addv: many snapshots, one persist barrier.
 * The ranges of one call may overlap each other and earlier snapshots and
 * lie in several objects; a refused range fails the transaction before
 * anything is logged; strong pointer fields they cover are checked at
 * commit as after nvh_tx_add; a crash before the commit rolls every range
 * back; at scale (100,000 ranges in one call: about a hundred records,
 * still one barrier) and in four threads at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/pool.h"
#include "tx/tx.h"
#undef nvh_tx_current /* this suite calls the public one (the handle) */

#include "tx_test.h"

/* An object of `size` bytes filled with `byte`, linked from root->extra
 * (or into *slot). */
static char *
filled(nvh_pool *pool, nvh_oid *slot, size_t size, int byte)
{
	assert_nvh_ok(nvh_alloc(pool, slot, size, 1, NULL, NULL));
	char *p = nvh_direct(pool, *slot);
	assert_nvh_ok(nvh_memset_persist(pool, p, byte, size));
	return p;
}

/* 64 ranges of 64 bytes, 128 apart, in one object, plus words of the root:
 * one barrier for all, one for the commit; an abort restores every byte,
 * a commit keeps every byte, across a reopen. */
static void
one_barrier_for_all(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("addv.pool", 8 * MIB);
	struct root *r = root_of(pool);
	char *o = filled(pool, &r->big, 64 * 128, 'a');
	struct nvh_tx_range v[66];
	for (int i = 0; i < 64; i++)
		v[i] = (struct nvh_tx_range){o + 128 * i, 64};
	v[64] = (struct nvh_tx_range){&r->counter, 8};
	v[65] = (struct nvh_tx_range){&r->words[7], 16};

	for (int round = 0; round < 2; round++) {
		uint64_t b0 = barriers(pool);
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		assert_nvh_ok(nvh_tx_addv(tx, v, 66));
		assert_int_equal(barriers(pool) - b0, 1);
		assert_int_equal(nvh_tx_running(pool)->snaps.n, 66);
		/* all covered now: no record, no barrier */
		assert_nvh_ok(nvh_tx_addv(tx, v, 66));
		assert_nvh_ok(nvh_tx_add(tx, o + 128 * 5, 64));
		assert_int_equal(barriers(pool) - b0, 1);
		for (int i = 0; i < 64; i++)
			memset(o + 128 * i, 'b', 64);
		r->counter = 77;
		r->words[7] = r->words[8] = 78;
		if (round == 0) {
			assert_nvh_ok(nvh_tx_abort(tx));
			for (int i = 0; i < 64 * 128; i++)
				assert_int_equal(o[i], 'a');
			assert_int_equal(r->counter, 0);
			assert_int_equal(r->words[8], 0);
		} else {
			assert_nvh_ok(nvh_tx_commit(tx));
			assert_int_equal(barriers(pool) - b0, 2);
		}
	}
	pool = reopen(pool, "addv.pool");
	r = root_of(pool);
	o = nvh_direct(pool, r->big);
	for (int i = 0; i < 64 * 128; i++)
		assert_int_equal(o[i], i % 128 < 64 ? 'b' : 'a');
	assert_int_equal(r->counter, 77);
	assert_int_equal(r->words[8], 78);
	assert_nvh_ok(nvh_close(pool));
}

/* Ranges overlapping each other, earlier snapshots and new objects: each
 * byte is logged once, and the rollback still restores all of them. */
static void
overlaps_and_new_objects(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("addvover.pool", 8 * MIB);
	struct root *r = root_of(pool);
	char *o = filled(pool, &r->big, 4096, 'a');
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, o + 100, 50));
	nvh_oid n = nvh_tx_alloc(tx, 256, 1, 0);
	char *np = nvh_direct(pool, n);
	uint64_t b0 = barriers(pool);
	struct nvh_tx_range v[] = {
		{o, 64},        {o + 32, 64}, /* overlap each other */
		{o + 90, 100},                /* around the earlier snapshot */
		{o, 0},                       /* empty: skipped */
		{np, 256},                    /* new object: needs none */
		{o + 1000, 8},  {o + 1000, 8}, /* twice */
	};
	assert_nvh_ok(nvh_tx_addv(tx, v, sizeof(v) / sizeof(v[0])));
	assert_int_equal(barriers(pool) - b0, 1);
	/* [0,64) [32,96) [90,190) merge with [100,150) into [0,190); and
	 * [1000,1008) */
	struct nvh_tx *t = nvh_tx_running(pool);
	assert_int_equal(t->snaps.n, 2);
	const struct nvh_range *sr = nvh_snapset_flat(&t->snaps);
	assert_int_equal(sr[0].off, (uint64_t)(o - (char *)pool->base));
	assert_int_equal(sr[0].len, 190);
	assert_int_equal(sr[1].len, 8);
	memset(o, 'z', 190);
	memset(o + 1000, 'z', 8);
	assert_nvh_ok(nvh_tx_abort(tx));
	for (int i = 0; i < 4096; i++)
		assert_int_equal(o[i], 'a');
	assert_nvh_ok(nvh_close(pool));
}

/* A refused range anywhere in the call: EINVAL naming it, nothing logged,
 * the transaction failed (its commit rolls back and returns the error). */
static void
refused_range_logs_nothing(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("addvbad.pool", 8 * MIB);
	struct root *r = root_of(pool);
	char *o = filled(pool, &r->big, 4096, 'a');
	char outside[8];
	struct nvh_tx_range v[] = {
		{o, 64}, {&r->counter, 8}, {outside, 8}, {o + 128, 64},
	};
	uint64_t b0 = barriers(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_int_equal(nvh_tx_addv(tx, v, 4), -EINVAL);
	assert_errmsg_has("nvh_tx_addv");
	assert_errmsg_has("not inside the pool");
	assert_errmsg_has("(range 2 of 4)");
	assert_int_equal(barriers(pool) - b0, 0);
	assert_int_equal(nvh_tx_running(pool)->snaps.n, 0);
	assert_int_equal(nvh_tx_add(tx, o, 8), -EINVAL); /* failed */
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	assert_errmsg_has("(range 2 of 4)");

	/* a range leaving its object; a range over an object header; the
	 * root slot; NULL array */
	v[2] = (struct nvh_tx_range){o + nvh_usable_size(pool, r->big) - 8, 64};
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_int_equal(nvh_tx_addv(tx, v, 4), -EINVAL);
	assert_errmsg_has("leaves the object");
	nvh_tx_abort(tx);
	v[2] = (struct nvh_tx_range){nvh_root_slot(pool), 8};
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_int_equal(nvh_tx_addv(tx, v, 4), -EINVAL);
	assert_errmsg_has("root slot");
	nvh_tx_abort(tx);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_int_equal(nvh_tx_addv(tx, NULL, 3), -EINVAL);
	assert_errmsg_has("NULL array");
	nvh_tx_abort(tx);
	/* n = 0 is nothing */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_addv(tx, NULL, 0));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(barriers(pool) - b0, 0);
	assert_nvh_ok(nvh_close(pool));
}

NVH_TYPE(vhold);

struct vhold {
	uint64_t n;
	tnode_ptr a;
	uint64_t m;
};

NVH_TYPE_DEFINE(vhold, 0, NVH_PTR(vhold, a, tnode));

/* Strong pointer fields covered by an nvh_tx_addv range are checked at
 * commit like nvh_tx_add's: a plain store into one is refused. */
static void
pointer_fields_are_checked(void **state)
{
	(void)state;
	const char *p = nvt_path("addvtyped.pool");
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "tx", 8 * MIB, NULL));
	assert_nvh_ok(nvh_type_register(pool, &tnode_type));
	assert_nvh_ok(nvh_type_register(pool, &vhold_type));
	vhold_ptr hp = NVH_ROOT(pool, vhold);
	struct vhold *hd = vhold_d(pool, hp);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	tnode_ptr n1 = NVH_TX_ALLOC(tx, tnode);
	assert_nvh_ok(nvh_tx_commit(tx));
	(void)n1;

	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	n1 = NVH_TX_ALLOC(tx, tnode);
	struct nvh_tx_range v[] = {{&hd->n, 8}, {&hd->m, 8}, {hd, sizeof(*hd)}};
	assert_nvh_ok(nvh_tx_addv(tx, v, 3));
	hd->n = 4;
	hd->a = n1; /* plain store */
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	assert_errmsg_has("\"vhold\" field 0");
	assert_errmsg_has("rolled back");
	assert_true(NVH_IS_NULL(hd->a));
	assert_int_equal(hd->n, 0);
	/* the same fields, changed properly */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	n1 = NVH_TX_ALLOC(tx, tnode);
	assert_nvh_ok(nvh_tx_addv(tx, v, 3));
	hd->n = 4;
	assert_nvh_ok(NVH_TX_SET(tx, &hd->a, n1));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nvh_refcount(pool, n1.oid), 1);
	assert_int_equal(hd->n, 4);
	assert_nvh_ok(nvh_close(pool));
}

/* A child dies after nvh_tx_addv and its stores (even made durable):
 * recovery rolls every range back. */
#define CRASH_RANGES 3000

static int
die_after_addv(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "tx", NULL);
	if (!pool)
		return 1;
	struct root *r = root_of(pool);
	char *o = nvh_direct(pool, r->big);
	struct nvh_tx_range *v = calloc(CRASH_RANGES, sizeof(*v));
	if (!v)
		return 2;
	for (int i = 0; i < CRASH_RANGES; i++)
		v[i] = (struct nvh_tx_range){o + 32 * i, 16};
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx || nvh_tx_addv(tx, v, CRASH_RANGES))
		return 3;
	for (int i = 0; i < CRASH_RANGES; i++)
		memset(o + 32 * i, 'x', 16);
	nvh_persist(pool, o, 32 * CRASH_RANGES); /* durable: rolled back */
	_exit(0);
}

static void
crash_rolls_back_every_range(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("addvcrash.pool", 16 * MIB);
	filled(pool, &root_of(pool)->big, 32 * CRASH_RANGES, 'a');
	assert_nvh_ok(nvh_close(pool));
	const char *path = nvt_path("addvcrash.pool");
	assert_int_equal(nvt_in_child(die_after_addv, (void *)path), 0);
	pool = assert_nvh_ptr(nvh_open(path, "tx", NULL));
	char *o = nvh_direct(pool, root_of(pool)->big);
	for (int i = 0; i < 32 * CRASH_RANGES; i++)
		assert_int_equal(o[i], 'a');
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

/* 100,000 ranges of 8 bytes in one call, in 1,000 objects: records past
 * the ring (chunks), about a hundred of them, one barrier; commit; then
 * the same with an abort. */
#define SCALE_OBJS 1000
#define SCALE_PER 100

static void
at_scale(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("addvscale.pool", 64 * MIB);
	struct root *r = root_of(pool);
	assert_nvh_ok(nvh_alloc(pool, &r->list, SCALE_OBJS * sizeof(nvh_oid), 1,
				NULL, NULL));
	nvh_oid *objs = nvh_direct(pool, r->list);
	for (int i = 0; i < SCALE_OBJS; i++)
		filled(pool, &objs[i], SCALE_PER * 16, 0);
	size_t n = (size_t)SCALE_OBJS * SCALE_PER;
	struct nvh_tx_range *v = calloc(n, sizeof(*v));
	assert_non_null(v);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < SCALE_OBJS; i++) {
			char *o = nvh_direct(pool, objs[i]);
			for (int j = 0; j < SCALE_PER; j++)
				v[i * SCALE_PER + j] = (struct nvh_tx_range){
					o + 16 * j, 8};
		}
		/* (a begin may start a new pass of its lane: barriers) */
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		uint64_t b0 = barriers(pool);
		assert_nvh_ok(nvh_tx_addv(tx, v, n));
		assert_int_equal(barriers(pool) - b0, 1);
		assert_true(nvh_tx_running(pool)->nundo >= n / NVH_TX_UNDO_SEGS);
		for (size_t k = 0; k < n; k++)
			*(uint64_t *)v[k].addr = k + 1;
		if (round == 0) {
			assert_nvh_ok(nvh_tx_abort(tx));
			for (size_t k = 0; k < n; k++)
				assert_int_equal(*(uint64_t *)v[k].addr, 0);
		} else {
			assert_nvh_ok(nvh_tx_commit(tx));
		}
	}
	free(v);
	pool = reopen(pool, "addvscale.pool");
	objs = nvh_direct(pool, root_of(pool)->list);
	for (int i = 0; i < SCALE_OBJS; i++) {
		uint64_t *o = nvh_direct(pool, objs[i]);
		for (int j = 0; j < SCALE_PER; j++) {
			assert_int_equal(o[2 * j], (uint64_t)i * SCALE_PER + j + 1);
			assert_int_equal(o[2 * j + 1], 0);
		}
	}
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

/* Four threads, each 2,000 transactions of 64 ranges in its own object
 * (every tenth aborted): counters exact, one barrier per addv. */
#define THREADS 4
#define ROUNDS 2000

struct varg {
	nvh_pool *pool;
	uint64_t *o; /* 64 counters, 64 bytes apart */
	int errors;
	uint64_t barriers;
};

static void *
addv_worker(void *arg)
{
	struct varg *a = arg;
	struct nvh_tx_range v[64];
	for (int i = 0; i < 64; i++)
		v[i] = (struct nvh_tx_range){a->o + 8 * i, 8};
	for (int k = 0; k < ROUNDS; k++) {
		nvh_tx *tx = nvh_tx_begin(a->pool);
		if (!tx || nvh_tx_addv(tx, v, 64)) {
			a->errors++;
			continue;
		}
		for (int i = 0; i < 64; i++)
			a->o[8 * i]++;
		if (k % 10 == 9 ? nvh_tx_abort(tx) : nvh_tx_commit(tx))
			a->errors++;
	}
	return NULL;
}

static void
threads(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("addvthreads.pool", 32 * MIB);
	struct root *r = root_of(pool);
	assert_nvh_ok(nvh_alloc(pool, &r->list, THREADS * sizeof(nvh_oid), 1,
				NULL, NULL));
	nvh_oid *objs = nvh_direct(pool, r->list);
	pthread_t th[THREADS];
	struct varg va[THREADS];
	for (int t = 0; t < THREADS; t++) {
		va[t] = (struct varg){pool,
				      (uint64_t *)filled(pool, &objs[t], 4096, 0),
				      0, 0};
	}
	uint64_t b0 = barriers(pool);
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, addv_worker, &va[t]),
				 0);
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(va[t].errors, 0);
	}
	/* one for the snapshots, one for each commit (aborts: the rollback
	 * and its record), and rare checkpoints */
	uint64_t b = barriers(pool) - b0;
	assert_true(b >= 2ull * THREADS * ROUNDS);
	assert_true(b < 2ull * THREADS * ROUNDS + THREADS * ROUNDS / 10 * 2 +
			    THREADS * ROUNDS / 20);
	pool = reopen(pool, "addvthreads.pool");
	objs = nvh_direct(pool, root_of(pool)->list);
	for (int t = 0; t < THREADS; t++) {
		uint64_t *o = nvh_direct(pool, objs[t]);
		for (int i = 0; i < 64; i++)
			assert_int_equal(o[8 * i], ROUNDS - ROUNDS / 10);
	}
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_barrier_for_all),
		cmocka_unit_test(overlaps_and_new_objects),
		cmocka_unit_test(refused_range_logs_nothing),
		cmocka_unit_test(pointer_fields_are_checked),
		cmocka_unit_test(crash_rolls_back_every_range),
		cmocka_unit_test(at_scale),
		cmocka_unit_test(threads),
	};
	return cmocka_run_group_tests_name("tx_addv", tests, NULL, NULL);
}
