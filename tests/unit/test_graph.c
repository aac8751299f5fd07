/*
 * test_graph.c -- object graphs at the sizes users reach: cascades of
 * frees through wide objects and big stores (every record bounded in
 * bytes, O(1) extra space, so a full pool can always free), several
 * threads freeing their own structures at once, counts that would
 * overflow, big rolled-back transactions, and the checker on valid uses
 * of untyped objects that hold oids.  Threads racing on shared objects
 * are in test_graph_race.c.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "examples/kvstore/kv.h"
#include "heap/pool.h"
#include "objects/obj.h"

#include "graph_test.h"

/* Link `n` new leaves into kid[from, from+n) of an array of pointers,
 * in transactions of up to `batch`; returns how many were linked before a
 * transaction ran out of space (then that transaction rolled back). */
static size_t
fill_kids_by(nvh_pool *pool, gleaf_ptr *kid, size_t from, size_t n,
	     size_t batch)
{
	size_t done = 0;
	while (done < n) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		size_t k = 0;
		for (; k < batch && done + k < n; k++) {
			gleaf_ptr l = NVH_TX_ALLOC(tx, gleaf);
			if (NVH_IS_NULL(l))
				break;
			gleaf_d(pool, l)->v = from + done + k;
			if (NVH_TX_SET(tx, &kid[from + done + k], l))
				break;
		}
		if (nvh_tx_commit(tx) != 0) {
			fprintf(stderr, "fill_kids: %zu of %zu: %s\n", done, n,
				nvh_errormsg());
			return done;
		}
		done += k;
	}
	return done;
}

static size_t
fill_kids(nvh_pool *pool, gleaf_ptr *kid, size_t from, size_t n)
{
	return fill_kids_by(pool, kid, from, n, 5000);
}

/* Fill the pool with a list of nodes (each holding a leaf) until an
 * allocation fails: the pool is then full. */
static size_t
fill_pool(nvh_pool *pool)
{
	struct groot *r = groot_of(pool);
	size_t total = 0;
	for (size_t batch = 2000; batch >= 1;) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		gnode_ptr head = r->filler;
		size_t k = 0;
		for (; k < batch; k++) {
			gnode_ptr x = NVH_TX_ALLOC(tx, gnode);
			gleaf_ptr l = NVH_TX_ALLOC(tx, gleaf);
			if (NVH_IS_NULL(x) || NVH_IS_NULL(l) ||
			    NVH_TX_SET(tx, &gnode_d(pool, x)->leaf, l) ||
			    NVH_TX_SET(tx, &gnode_d(pool, x)->next, head))
				break;
			head = x;
		}
		if (k == batch && NVH_TX_SET(tx, &r->filler, head) == 0 &&
		    nvh_tx_commit(tx) == 0) {
			total += batch;
			continue;
		}
		if (nvh_tx_current(pool))
			nvh_tx_abort(tx);
		batch /= 2;
	}
	return total;
}

/* ---- a big store flushed: every record bounded by its ring ---- */

static void
flush_store(enum kv_index index, unsigned nkeys, int one_tx_delete)
{
	const char *name = index == KV_HASH ? "flush-hash.pool"
					    : "flush-btree.pool";
	const char *path = nvt_path(name);
	unlink(path);
	struct kv_opts o = {.index = index, .size = 512 * MIB, .create = 1,
			    .hash_seed = 7};
	struct kv *kv = kv_open(path, &o);
	if (!kv)
		fail_msg("kv_open: %s", kv_errmsg());
	nvh_pool *pool = kv_pool(kv);
	char key[32], val[48];
	for (unsigned i = 0; i < nkeys; i++) {
		int kl = snprintf(key, sizeof(key), "key:%08u", i);
		int vl = snprintf(val, sizeof(val), "value-%u-%u", i, i * 7);
		if (kv_put(kv, key, (size_t)kl, val, (size_t)vl))
			fail_msg("put %u: %s", i, kv_errmsg());
	}
	assert_int_equal(kv_count(kv), nkeys);
	if (one_tx_delete) {
		/* as the server's group commit does: many deletes, one
		 * transaction */
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		for (unsigned i = 0; i < nkeys; i++) {
			int kl = snprintf(key, sizeof(key), "key:%08u", i);
			if (kv_del(kv, key, (size_t)kl))
				fail_msg("del %u: %s", i, kv_errmsg());
		}
		assert_nvh_ok(nvh_tx_commit(tx));
	} else {
		if (kv_flush(kv))
			fail_msg("flush of %u keys: %s", nkeys, kv_errmsg());
	}
	assert_int_equal(kv_count(kv), 0);
	assert_consistent(pool);
	/* the pool takes more writes, which all succeed */
	for (unsigned i = 0; i < 1000; i++) {
		int kl = snprintf(key, sizeof(key), "again:%u", i);
		if (kv_put(kv, key, (size_t)kl, "x", 1))
			fail_msg("put after flush: %s", kv_errmsg());
	}
	if (kv_close(kv))
		fail_msg("close: %s", kv_errmsg());
	/* and opens again, read-write */
	o.create = 0;
	kv = kv_open(path, &o);
	if (!kv)
		fail_msg("reopen after flushing %u keys: %s", nkeys, kv_errmsg());
	assert_int_equal(kv_count(kv), 1000);
	assert_consistent(kv_pool(kv));
	if (kv_close(kv))
		fail_msg("close: %s", kv_errmsg());
	unlink(path);
}

static void
flush_of_big_stores(void **state)
{
	(void)state;
	/* 5,000 keys bricked the pool; 200,000 is a user's store */
	flush_store(KV_HASH, 5000, 0);
	flush_store(KV_BTREE, 5000, 0);
	flush_store(KV_HASH, (unsigned)scaled(200000), 0);
	flush_store(KV_BTREE, (unsigned)scaled(200000), 0);
}

static void
many_deletes_in_one_transaction(void **state)
{
	(void)state;
	flush_store(KV_BTREE, 6000, 1);
	flush_store(KV_HASH, 20000, 1);
}

/* ---- one object with many children, in a full pool ---- */

static void
wide_object_freed_in_a_full_pool(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("wide.pool", 16 * MIB);
	struct groot *r = groot_of(pool);
	uint64_t base = nobjects(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	wide_ptr w = NVH_TX_ALLOC(tx, wide);
	assert_false(NVH_IS_NULL(w));
	assert_nvh_ok(NVH_TX_SET(tx, &r->w, w));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(fill_kids(pool, wide_d(pool, w)->kid, 0, NWIDE), NWIDE);
	size_t filler = fill_pool(pool);
	assert_true(filler > 1000);
	/* full: not even one more leaf */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_true(NVH_IS_NULL(NVH_TX_ALLOC(tx, gleaf)));
	nvh_tx_abort(tx);
	/* the 20,000 children go with their parent, in a full pool */
	assert_nvh_ok(unlink_field(pool, &r->w));
	assert_int_equal(nobjects(pool), base + 2 * filler);
	assert_consistent(pool);
	/* and the space is usable again: the same object, the same
	 * children (in smaller transactions: a big one's log needs
	 * contiguous arenas, and the pool is full) */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	w = NVH_TX_ALLOC(tx, wide);
	assert_false(NVH_IS_NULL(w));
	assert_nvh_ok(NVH_TX_SET(tx, &r->w, w));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(fill_kids_by(pool, wide_d(pool, w)->kid, 0, NWIDE, 500),
			 NWIDE);
	assert_nvh_ok(unlink_field(pool, &r->w));
	pool = reopen(pool, "wide.pool");
	assert_int_equal(nobjects(pool), base + 2 * filler);
	assert_consistent(pool);
	r = groot_of(pool);
	assert_nvh_ok(unlink_field(pool, &r->filler));
	assert_int_equal(nobjects(pool), base);
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
}

static void
million_child_array_in_a_nearly_full_pool(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("huge.pool", scaled(128 * MIB) < 16 * MIB
					  ? 16 * MIB : scaled(128 * MIB));
	struct groot *r = groot_of(pool);
	uint64_t base = nobjects(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	huge_ptr h = NVH_TX_ALLOC(tx, huge);
	assert_false(NVH_IS_NULL(h));
	assert_nvh_ok(NVH_TX_SET(tx, &r->h, h));
	assert_nvh_ok(nvh_tx_commit(tx));
	size_t nkids = scaled(NHUGE);
	assert_int_equal(fill_kids(pool, huge_d(pool, h)->kid, 0, nkids), nkids);
	size_t filler = fill_pool(pool);
	struct nvh_stats st;
	nvh_stats(pool, &st);
	assert_true(st.free_bytes < 4 * MIB); /* nearly full */
	assert_nvh_ok(unlink_field(pool, &r->h));
	assert_int_equal(nobjects(pool), base + 2 * filler);
	assert_consistent(pool);
	pool = reopen(pool, "huge.pool");
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
	unlink(nvt_path("huge.pool"));
}

/* A process killed while it frees a wide object: the open finishes the
 * job, whatever step it was in (the release of one object may span many
 * steps). */
static int
unlink_wide_and_get_killed(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "graph", NULL);
	if (!pool)
		return 1;
	register_all(pool);
	struct groot *r = groot_of(pool);
	nvh_tx *tx = nvh_tx_begin(pool);
	NVH_TX_SET(tx, &r->h, NVH_NULL(huge));
	nvh_tx_commit(tx); /* the parent kills us during the drain */
	return 0;
}

static void
wide_release_survives_kills(void **state)
{
	(void)state;
	const char *path = nvt_path("wide-kill.pool");
	nvh_pool *pool = graph_pool("wide-kill.pool", 128 * MIB);
	struct groot *r = groot_of(pool);
	uint64_t base = nobjects(pool);
	size_t nkids = scaled(300000);
	int killed = 0;
	for (int attempt = 0; attempt < 6; attempt++) {
		r = groot_of(pool);
		if (NVH_IS_NULL(r->h)) {
			nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
			huge_ptr h = NVH_TX_ALLOC(tx, huge);
			assert_nvh_ok(NVH_TX_SET(tx, &r->h, h));
			assert_nvh_ok(nvh_tx_commit(tx));
			assert_int_equal(fill_kids(pool, huge_d(pool, h)->kid,
						   0, nkids), nkids);
		}
		assert_nvh_ok(nvh_close(pool));
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			_exit(unlink_wide_and_get_killed((void *)path));
		usleep(30000 + attempt * 30000);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		killed += WIFSIGNALED(st);
		pool = reopen(NULL, "wide-kill.pool");
		assert_consistent(pool);
		r = groot_of(pool);
		if (NVH_IS_NULL(r->h))
			assert_int_equal(nobjects(pool), base);
		else
			assert_int_equal(nobjects(pool), base + 1 + nkids);
	}
	/* (under ThreadSanitizer the smaller drain may finish first) */
	assert_true(killed > 0 || getenv("NVHEAP_TEST_SMALL"));
	assert_nvh_ok(nvh_close(pool));
	unlink(path);
}

/* ---- several threads freeing their own structures ---- */

static void
threads_free_their_lists(unsigned nthreads, unsigned len, unsigned rounds)
{
	nvh_pool *pool = graph_pool("threads.pool", 64 * MIB);
	uint64_t base = nobjects(pool);
	struct lister a[NHEADS];
	pthread_t th[NHEADS];
	for (unsigned i = 0; i < nthreads; i++) {
		a[i] = (struct lister){pool, i, rounds, len, ""};
		assert_int_equal(pthread_create(&th[i], NULL, push_and_unlink,
						&a[i]), 0);
	}
	int bad = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		if (ret) {
			fprintf(stderr, "thread %u: %s\n", i, a[i].err);
			bad = 1;
		}
	}
	assert_false(bad);
	assert_consistent(pool);
	assert_int_equal(nobjects(pool), base);
	pool = reopen(pool, "threads.pool");
	assert_consistent(pool);
	assert_int_equal(nobjects(pool), base);
	assert_nvh_ok(nvh_close(pool));
}

static void
two_threads_free_their_lists(void **state)
{
	(void)state;
	threads_free_their_lists(2, 600, 6);
}

static void
four_threads_free_their_lists(void **state)
{
	(void)state;
	threads_free_their_lists(4, 3000, 2);
}

/* ---- a count at its maximum ---- */

static void
count_overflow_is_refused(void **state)
{
	(void)state;
	const char *path = nvt_path("overflow.pool");
	nvh_pool *pool = graph_pool("overflow.pool", 8 * MIB);
	struct groot *r = groot_of(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	gnode_ptr n = NVH_TX_ALLOC(tx, gnode);
	assert_nvh_ok(NVH_TX_SET(tx, &r->head[0], n));
	assert_nvh_ok(nvh_tx_commit(tx));
	uint64_t noff = n.oid.off & NVH_OID_OFF_MASK;
	uint64_t hoff = (uint64_t)((char *)nvh_obj_hdr(pool, noff) - pool->base);
	assert_nvh_ok(nvh_close(pool));
	/* as if 2^32 - 1 fields held it */
	uint64_t word;
	nvt_pread(path, hoff, &word, 8);
	word = NVH_HDR_MAKE(NVH_HDR_TYPE(word), 0, 0xffffffffu);
	nvt_pwrite(path, hoff, &word, 8);
	pool = reopen(NULL, "overflow.pool");
	r = groot_of(pool);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &r->head[1], n));
	assert_int_equal(nvh_tx_commit(tx), -EOVERFLOW);
	assert_errmsg_has("reference count");
	assert_true(NVH_IS_NULL(r->head[1]));               /* rolled back */
	assert_int_equal(nvh_refcount(pool, n.oid), 0xffffffffu); /* kept */
	/* dropping a reference still works */
	assert_nvh_ok(unlink_field(pool, &r->head[0]));
	assert_int_equal(nvh_refcount(pool, n.oid), 0xfffffffeu);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- a dying list left at close, sequence numbers exhausted ---- */

static void
exhausted_pool_still_opens(void **state)
{
	(void)state;
	const char *path = nvt_path("exhausted.pool");
	nvh_pool *pool = graph_pool("exhausted.pool", 8 * MIB);
	struct groot *r = groot_of(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	gnode_ptr keep = NVH_TX_ALLOC(tx, gnode), gone = NVH_TX_ALLOC(tx, gnode);
	gnode_d(pool, keep)->value = 42;
	assert_nvh_ok(NVH_TX_SET(tx, &r->head[0], keep));
	assert_nvh_ok(NVH_TX_SET(tx, &r->head[1], gone));
	assert_nvh_ok(nvh_tx_commit(tx));
	/* pinned while unlinked: still on the dying list at close */
	assert_nvh_ok(nvh_pin(pool, gone.oid));
	assert_nvh_ok(unlink_field(pool, &r->head[1]));
	assert_nvh_ok(nvh_close(pool));
	/* no sequence number left for the open's drain: the open must not
	 * fail because of it (the data stays readable) */
	nvt_ckpt_write(path, 0, NVH_SEQ_LIMIT + 10);
	nvt_ckpt_write(path, 1, NVH_SEQ_LIMIT + 10);
	pool = reopen(NULL, "exhausted.pool");
	r = groot_of(pool);
	assert_int_equal(gnode_d(pool, r->head[0])->value, 42);
	assert_null(nvh_tx_begin(pool));
	assert_int_equal(errno, EOVERFLOW);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- a big typed transaction rolled back ---- */

static void
big_typed_rollback(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("rollback.pool", 64 * MIB);
	struct groot *r = groot_of(pool);
	uint64_t base = nobjects(pool);
	struct nvh_stats before;
	nvh_stats(pool, &before);
	for (int again = 0; again < 2; again++) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		gnode_ptr head = NVH_NULL(gnode);
		for (unsigned i = 0; i < 100000; i++) {
			gnode_ptr x = NVH_TX_ALLOC(tx, gnode);
			assert_false(NVH_IS_NULL(x));
			assert_nvh_ok(NVH_TX_SET(tx, &gnode_d(pool, x)->next, head));
			head = x;
		}
		assert_nvh_ok(NVH_TX_SET(tx, &r->head[0], head));
		assert_nvh_ok(nvh_tx_abort(tx));
		assert_true(NVH_IS_NULL(r->head[0]));
		assert_int_equal(nobjects(pool), base);
		assert_consistent(pool);
	}
	/* the same transaction commits, and its unlink frees it all */
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	gnode_ptr head = NVH_NULL(gnode);
	for (unsigned i = 0; i < 100000; i++) {
		gnode_ptr x = NVH_TX_ALLOC(tx, gnode);
		assert_nvh_ok(NVH_TX_SET(tx, &gnode_d(pool, x)->next, head));
		head = x;
	}
	assert_nvh_ok(NVH_TX_SET(tx, &r->head[0], head));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nobjects(pool), base + 100000);
	assert_nvh_ok(unlink_field(pool, &r->head[0]));
	assert_int_equal(nobjects(pool), base);
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- the checker on untyped objects that hold oids ---- */

static void
untyped_holders_are_followed(void **state)
{
	(void)state;
	const char *path = nvt_path("holder.pool");
	unlink(path);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(path, "holder", 8 * MIB, NULL));
	nvh_oid *root = nvh_root_slot(pool);
	assert_nvh_ok(nvh_alloc(pool, root, 4 * sizeof(nvh_oid), 1, NULL, NULL));
	nvh_oid *holder = nvh_direct(pool, *root);
	for (int i = 0; i < 4; i++)
		holder[i] = NVH_OID_NULL;
	assert_nvh_ok(nvh_persist(pool, holder, 4 * sizeof(nvh_oid)));
	assert_nvh_ok(nvh_alloc(pool, &holder[0], 100, 2, NULL, NULL));
	assert_nvh_ok(nvh_alloc(pool, &holder[3], 200000, 3, NULL, NULL));
	/* and a chain through untyped objects */
	nvh_oid *second = nvh_direct(pool, holder[0]);
	second[1] = NVH_OID_NULL;
	assert_nvh_ok(nvh_persist(pool, &second[1], 8));
	assert_nvh_ok(nvh_alloc(pool, &second[1], 64, 4, NULL, NULL));
	struct nvh_check_report rep;
	if (nvh_check(pool, &rep, stderr))
		fail_msg("nvh_check calls valid use damage: %s", nvh_errormsg());
	assert_int_equal(rep.reachable, rep.objects);
	assert_nvh_ok(nvh_close(pool));
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "%s check %s >/dev/null", getenv("NVHEAP_TOOL"),
		 path);
	assert_int_equal(system(cmd), 0);
	/* an object no word points to is still a leak */
	pool = assert_nvh_ptr(nvh_open(path, "holder", NULL));
	holder = nvh_direct(pool, *root);
	nvh_oid lost = holder[3];
	holder[3] = NVH_OID_NULL;
	assert_nvh_ok(nvh_persist(pool, &holder[3], 8));
	nvt_check_says(pool, "leak: object at", NULL);
	holder[3] = lost;
	assert_nvh_ok(nvh_persist(pool, &holder[3], 8));
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	if (!getenv("NVHEAP_TOOL")) {
		fprintf(stderr, "test_graph: set NVHEAP_TOOL\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flush_of_big_stores),
		cmocka_unit_test(many_deletes_in_one_transaction),
		cmocka_unit_test(wide_object_freed_in_a_full_pool),
		cmocka_unit_test(million_child_array_in_a_nearly_full_pool),
		cmocka_unit_test(wide_release_survives_kills),
		cmocka_unit_test(two_threads_free_their_lists),
		cmocka_unit_test(four_threads_free_their_lists),
		cmocka_unit_test(count_overflow_is_refused),
		cmocka_unit_test(exhausted_pool_still_opens),
		cmocka_unit_test(big_typed_rollback),
		cmocka_unit_test(untyped_holders_are_followed),
	};
	return cmocka_run_group_tests_name("graph", tests, NULL, NULL);
}
