/*
 * test_alloc_threads.c -- the allocator with threads: cross-thread frees,
 * more threads than lanes, reclaim at GiB scale, and the space threads
 * give back (issue 12, defect 4).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/heap.h"

#include "alloc_test.h"

/* ---- threads ---- */

#define THREADS 8
#define PER_THREAD 2000

struct shared {
	nvh_pool *pool;
	nvh_oid *s;               /* THREADS * PER_THREAD slots */
	pthread_barrier_t bar;
	int errors;
};

struct targ {
	struct shared *sh;
	int id;
};

static void *
worker(void *arg)
{
	struct targ *t = arg;
	struct shared *sh = t->sh;
	nvh_oid *mine = sh->s + t->id * PER_THREAD;
	/* Neighbour's slots: freed by us (cross-thread frees). */
	nvh_oid *theirs = sh->s + ((t->id + 1) % THREADS) * PER_THREAD;
	unsigned seed = (unsigned)t->id;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < PER_THREAD; i++) {
			size_t sz = 8 + (rand_r(&seed) % 2000);
			if (nvh_alloc(sh->pool, &mine[i], sz, (uint32_t)t->id,
				      NULL, NULL))
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			else
				memset(nvh_direct(sh->pool, mine[i]), t->id, 8);
		}
		pthread_barrier_wait(&sh->bar);
		for (int i = 0; i < PER_THREAD; i++) {
			uint64_t *p = nvh_direct(sh->pool, theirs[i]);
			unsigned char owner = (unsigned char)((t->id + 1) % THREADS);
			if (!p || ((unsigned char *)p)[0] != owner)
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			if (i % 2 == round % 2 &&
			    nvh_free(sh->pool, &theirs[i]))
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
		}
		pthread_barrier_wait(&sh->bar);
		for (int i = 0; i < PER_THREAD; i++)
			if (!NVH_OID_IS_NULL(mine[i]) &&
			    nvh_free(sh->pool, &mine[i]))
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
		pthread_barrier_wait(&sh->bar);
	}
	return NULL;
}

static void *
alloc_only(void *arg)
{
	struct targ *t = arg;
	nvh_oid *mine = t->sh->s + t->id * PER_THREAD;
	for (int i = 0; i < PER_THREAD; i++)
		if (nvh_alloc(t->sh->pool, &mine[i], 64, 1, NULL, NULL))
			__atomic_add_fetch(&t->sh->errors, 1, __ATOMIC_RELAXED);
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void
threads_with_cross_frees(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("threads.pool", 64 * MIB);
	struct shared sh = {.pool = pool};
	sh.s = slots(pool, THREADS * PER_THREAD);
	struct nvh_stats empty = stats(pool);
	pthread_barrier_init(&sh.bar, NULL, THREADS);
	pthread_t th[THREADS];
	struct targ ta[THREADS];
	for (int i = 0; i < THREADS; i++) {
		ta[i] = (struct targ){&sh, i};
		assert_int_equal(pthread_create(&th[i], NULL, worker, &ta[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&sh.bar);
	assert_int_equal(sh.errors, 0);
	struct nvh_stats st = stats(pool);
	assert_int_equal(st.objects, empty.objects);
	assert_int_equal(st.allocated_bytes, empty.allocated_bytes);
	assert_nvh_ok(nvh_heap_verify(pool));

	/* No duplicates among concurrently live objects: allocate from all
	 * threads at once, then check every oid is distinct. */
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, alloc_only, &ta[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(sh.errors, 0);
	size_t n = THREADS * PER_THREAD;
	uint64_t *offs = malloc(n * sizeof(*offs));
	for (size_t i = 0; i < n; i++)
		offs[i] = sh.s[i].off;
	qsort(offs, n, sizeof(*offs), cmp_u64);
	for (size_t i = 1; i < n; i++)
		if (offs[i] == offs[i - 1] || offs[i] < offs[i - 1] + 64)
			fail_msg("objects %" PRIu64 " and %" PRIu64 " overlap",
				 offs[i - 1], offs[i]);
	free(offs);
	assert_int_equal(stats(pool).objects, empty.objects + n);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
	/* and after reopen the same */
	pool = assert_nvh_ptr(nvh_open(nvt_path("threads.pool"), "alloc", NULL));
	assert_int_equal(stats(pool).objects, empty.objects + n);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

static void *
churn(void *arg)
{
	struct targ *t = arg;
	nvh_oid *mine = t->sh->s + t->id * 100;
	for (int r = 0; r < 20; r++)
		for (int i = 0; i < 100; i++) {
			if (nvh_alloc(t->sh->pool, &mine[i], 64, 1, NULL, NULL) ||
			    nvh_free(t->sh->pool, &mine[i]))
				__atomic_add_fetch(&t->sh->errors, 1,
						   __ATOMIC_RELAXED);
		}
	return NULL;
}

/* More threads than lanes: they wait for one, nothing is lost. */
static void
more_threads_than_lanes(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("lanes.pool", 4 * MIB); /* 2 lanes */
	assert_int_equal(stats(pool).nlanes, 2);
	struct shared sh = {.pool = pool};
	sh.s = slots(pool, THREADS * 100);
	pthread_t th[THREADS];
	struct targ ta[THREADS];
	for (int i = 0; i < THREADS; i++) {
		ta[i] = (struct targ){&sh, i};
		assert_int_equal(pthread_create(&th[i], NULL, churn, &ta[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(sh.errors, 0);
	assert_int_equal(stats(pool).objects, 1);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

/* Giving back every arena of a 1.1 GiB pool after its objects were freed
 * took one record per arena in one commit: more than a lane's ring holds
 * (4096 entries) failed the allocation that needed the arenas (ENOSPC). */
static void
reclaim_at_gib_scale(void **state)
{
	(void)state;
	const char *path = nvt_path("gib.pool");
	nvh_pool *pool = new_pool("gib.pool", 1100 * MIB);
	struct nvh_stats empty = stats(pool);
	assert_true(empty.arenas > 4096);
	size_t n = 2 * empty.arenas; /* two max_small blocks per arena */
	nvh_oid *s = slots(pool, n);
	empty = stats(pool);
	size_t got = 0;
	while (got < n && nvh_alloc(pool, &s[got], empty.max_small, 1, NULL,
				    NULL) == 0)
		got++;
	assert_true(got > 8000);
	struct nvh_stats st = stats(pool);
	assert_int_equal(st.arenas_free, 0);
	for (size_t i = 0; i < got; i++)
		assert_nvh_ok(nvh_free(pool, &s[i]));
	st = stats(pool);
	assert_int_equal(st.free_bytes, empty.free_bytes);
	assert_nvh_ok(nvh_alloc(pool, &s[0], empty.arenas_free *
				empty.arena_size, 1, NULL, NULL));
	assert_nvh_ok(nvh_free(pool, &s[0]));
	st = stats(pool);
	assert_int_equal(st.free_bytes, empty.free_bytes);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(path, "alloc", NULL));
	struct nvh_stats re = stats(pool);
	nvt_same_space(&re, &st, "reopened");
	assert_nvh_ok(nvh_close(pool));
	unlink(path); /* 1.1 GiB of tmpfs */
}

/* ---- space given back, with threads (issue 12, defect 4) ---- */

#define SP_THREADS 4
#define SP_SLOTS 64

struct space {
	nvh_pool *pool;
	nvh_oid *s;               /* SP_THREADS * SP_SLOTS slots */
	size_t max_tx;            /* more 64-byte objects than the pool holds */
	pthread_barrier_t bar;     /* the workers and the main thread */
	pthread_barrier_t workers; /* the workers */
	int hold;                 /* wait at the barrier twice before exiting */
	int errors;
};

struct sparg {
	struct space *sp;
	int id;
	size_t in_tx;             /* objects its transactions got, in total */
};

static void
sp_error(struct space *sp, const char *what, int rc)
{
	fprintf(stderr, "space worker: %s: %d: %s\n", what, rc, nvh_errormsg());
	__atomic_add_fetch(&sp->errors, 1, __ATOMIC_RELAXED);
}

/* Atomic alloc/free churn of mixed sizes (some constructors refuse), and
 * transactions that run out of space and roll back, while the other
 * threads do the same; everything of its own is freed at the end. */
static void *
space_worker(void *arg)
{
	struct sparg *a = arg;
	struct space *sp = a->sp;
	nvh_oid *mine = sp->s + a->id * SP_SLOTS;
	static const size_t sizes[] = {64, 200, 1000, 5000, 20000, 64, 300,
				       2000, 100000, 300000};
	unsigned seed = 77u + (unsigned)a->id;
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3000; i++) {
			nvh_oid *o = &mine[rand_r(&seed) % SP_SLOTS];
			int rc, refuse = i % 5 == 0;
			if (!NVH_OID_IS_NULL(*o)) {
				if ((rc = nvh_free(sp->pool, o)))
					sp_error(sp, "nvh_free", rc);
				continue;
			}
			rc = nvh_alloc(sp->pool, o, sizes[rand_r(&seed) % 10], 1,
				       refuse ? refuse_ctor : NULL, NULL);
			/* ENOMEM: another thread's transaction has the pool */
			if (rc && rc != -ENOMEM && !(refuse && rc == -ECANCELED))
				sp_error(sp, "nvh_alloc", rc);
		}
		nvh_tx *tx = nvh_tx_begin(sp->pool);
		if (!tx) {
			sp_error(sp, "nvh_tx_begin", -errno);
			continue;
		}
		size_t n = 0;
		while (n < 2 * sp->max_tx &&
		       !NVH_OID_IS_NULL(nvh_tx_alloc(tx, 64, 1, 0)))
			n++;
		a->in_tx += n;
		int rc = nvh_tx_commit(tx);
		if (rc != -ENOMEM)
			sp_error(sp, "the transaction did not run out", rc);
	}
	for (int i = 0; i < SP_SLOTS; i++) {
		int rc = nvh_free(sp->pool, &mine[i]);
		if (rc)
			sp_error(sp, "nvh_free", rc);
	}
	/* when all are done: end owning an empty arena of each class used */
	pthread_barrier_wait(&sp->workers);
	for (int i = 0; i < 10; i++) {
		int rc = nvh_alloc(sp->pool, &mine[0], sizes[i], 1, NULL, NULL);
		if (rc || (rc = nvh_free(sp->pool, &mine[0])))
			sp_error(sp, "last alloc/free", rc);
	}
	if (sp->hold) {
		pthread_barrier_wait(&sp->bar); /* done, still alive ... */
		pthread_barrier_wait(&sp->bar); /* ... until main says so */
	}
	return NULL;
}

/* Run the workers; with `held`, call it while they are done but alive
 * (they wait at the barrier), and return what it returned. */
static int
run_space_workers(struct space *sp, int (*held)(struct space *))
{
	pthread_t th[SP_THREADS];
	struct sparg ta[SP_THREADS];
	sp->hold = held != NULL;
	pthread_barrier_init(&sp->bar, NULL, SP_THREADS + 1);
	pthread_barrier_init(&sp->workers, NULL, SP_THREADS);
	for (int i = 0; i < SP_THREADS; i++) {
		ta[i] = (struct sparg){sp, i, 0};
		assert_int_equal(pthread_create(&th[i], NULL, space_worker,
						&ta[i]), 0);
	}
	int rc = 0;
	if (held) {
		pthread_barrier_wait(&sp->bar);
		rc = held(sp);
		pthread_barrier_wait(&sp->bar);
	}
	size_t in_tx = 0;
	for (int i = 0; i < SP_THREADS; i++) {
		pthread_join(th[i], NULL);
		in_tx += ta[i].in_tx;
	}
	pthread_barrier_destroy(&sp->bar);
	pthread_barrier_destroy(&sp->workers);
	assert_int_equal(sp->errors, 0);
	/* each transaction ran until the pool was full: together they had
	 * most of it, each round */
	assert_true(in_tx > sp->max_tx / 2);
	return rc;
}

static struct nvh_stats sp_empty;

/* The workers are done but alive, owning arenas (empty now): one object
 * as big as every arena but the slots' must still fit. */
static int
alloc_whole_heap(struct space *sp)
{
	nvh_oid *o = &sp->s[0];
	struct nvh_stats st;
	int rc = nvh_stats(sp->pool, &st);
	if (!rc && (st.objects != sp_empty.objects ||
		    st.free_bytes != sp_empty.free_bytes)) {
		fprintf(stderr, "workers done: %" PRIu64 " objects, %" PRIu64
			" bytes free; empty: %" PRIu64 ", %" PRIu64 "\n",
			st.objects, st.free_bytes, sp_empty.objects,
			sp_empty.free_bytes);
		rc = -1;
	}
	if (!rc)
		rc = nvh_alloc(sp->pool, o, sp_empty.arenas_free *
			       sp_empty.arena_size, 1, NULL, NULL);
	if (!rc)
		rc = nvh_free(sp->pool, o);
	return rc;
}

static void
threads_give_space_back(void **state)
{
	(void)state;
	const char *path = nvt_path("space-threads.pool");
	nvh_pool *pool = new_pool("space-threads.pool", 16 * MIB);
	struct space sp = {.pool = pool};
	sp.s = slots(pool, SP_THREADS * SP_SLOTS);
	sp_empty = stats(pool);
	/* as many 64-byte objects as the pool holds */
	sp.max_tx = sp_empty.arenas * sp_empty.cls[0].blocks_per_arena;
	/* threads that exit: their arenas go back */
	run_space_workers(&sp, NULL);
	struct nvh_stats st = stats(pool);
	assert_int_equal(st.objects, sp_empty.objects);
	assert_int_equal(st.free_bytes, sp_empty.free_bytes);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(path, "alloc", NULL));
	struct nvh_stats re = stats(pool);
	nvt_same_space(&re, &st, "reopened after the threads");
	/* threads still alive: their empty arenas are taken from them */
	sp.pool = pool;
	sp.s = nvh_direct(pool, *nvh_root_slot(pool));
	assert_nvh_ok(run_space_workers(&sp, alloc_whole_heap));
	st = stats(pool);
	assert_int_equal(st.free_bytes, sp_empty.free_bytes);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(path, "alloc", NULL));
	re = stats(pool);
	nvt_same_space(&re, &st, "reopened after the second run");
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(threads_with_cross_frees),
		cmocka_unit_test(more_threads_than_lanes),
		cmocka_unit_test(threads_give_space_back),
		cmocka_unit_test(reclaim_at_gib_scale),
	};
	return cmocka_run_group_tests_name("alloc_threads", tests, NULL, NULL);
}
