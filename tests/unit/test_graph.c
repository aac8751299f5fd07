/*
 * test_graph.c -- object graphs at the sizes and concurrency users reach:
 * cascades of frees through wide objects and big stores (every record
 * bounded in bytes, O(1) extra space, so a full pool can always free),
 * several threads freeing their structures at once, counts that would
 * overflow, big rolled-back transactions, and the checker on valid uses
 * of untyped objects that hold oids.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "examples/kvstore/kv.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"

#define MIB (1ull << 20)
#define NWIDE 20000
#define NHUGE 1000000
#define NHEADS 8

/* Under ThreadSanitizer (NVHEAP_TEST_SMALL, set by the tsan build) the
 * single-threaded scale cases shrink: they run full size elsewhere. */
static size_t
scaled(size_t n)
{
	return getenv("NVHEAP_TEST_SMALL") ? n / 20 : n;
}

NVH_TYPE(gleaf);
NVH_TYPE(gnode);
NVH_TYPE(wide);
NVH_TYPE(huge);
NVH_TYPE(groot);

struct gleaf {
	uint64_t v;
};

struct gnode {
	int64_t value;
	gnode_ptr next;
	gleaf_ptr leaf;
};

struct wide {
	uint64_t n;
	gleaf_ptr kid[NWIDE];
};

struct huge {
	gleaf_ptr kid[NHUGE];
};

struct groot {
	wide_ptr w;
	huge_ptr h;
	gnode_ptr filler;
	gnode_ptr head[NHEADS];
};

NVH_TYPE_DEFINE(gleaf, 0);
NVH_TYPE_DEFINE(gnode, 0, NVH_PTR(gnode, next, gnode)
		NVH_PTR(gnode, leaf, gleaf));
NVH_TYPE_DEFINE(wide, 0, NVH_PTR_N(wide, kid, NWIDE, gleaf));
NVH_TYPE_DEFINE(huge, 0, NVH_PTR_N(huge, kid, NHUGE, gleaf));
NVH_TYPE_DEFINE(groot, 0, NVH_PTR(groot, w, wide) NVH_PTR(groot, h, huge)
		NVH_PTR(groot, filler, gnode)
		NVH_PTR_N(groot, head, NHEADS, gnode));

static void
register_all(nvh_pool *pool)
{
	assert_nvh_ok(nvh_type_register(pool, &gleaf_type));
	assert_nvh_ok(nvh_type_register(pool, &gnode_type));
	assert_nvh_ok(nvh_type_register(pool, &wide_type));
	assert_nvh_ok(nvh_type_register(pool, &huge_type));
	assert_nvh_ok(nvh_type_register(pool, &groot_type));
}

static nvh_pool *
graph_pool(const char *name, uint64_t size)
{
	const char *p = nvt_path(name);
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "graph", size, NULL));
	register_all(pool);
	assert_false(NVH_IS_NULL(NVH_ROOT(pool, groot)));
	return pool;
}

static nvh_pool *
reopen(nvh_pool *pool, const char *name)
{
	if (pool)
		assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(nvt_path(name), "graph", NULL));
	register_all(pool);
	return pool;
}

static struct groot *
groot_of(nvh_pool *pool)
{
	return groot_d(pool, NVH_ROOT(pool, groot));
}

static void
assert_consistent(nvh_pool *pool)
{
	struct nvh_check_report rep;
	if (nvh_check(pool, &rep, stderr) != 0)
		fail_msg("pool inconsistent: %" PRIu64 " problems: %s",
			 rep.problems, nvh_errormsg());
	if (rep.dying)
		fail_msg("%" PRIu64 " objects left on the dying list", rep.dying);
}

static uint64_t
nobjects(nvh_pool *pool)
{
	struct nvh_stats st;
	nvh_stats(pool, &st);
	return st.objects;
}

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

static int
unlink_field(nvh_pool *pool, void *field)
{
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx)
		return -errno;
	int rc = nvh_tx_set(tx, field, NVH_OID_NULL);
	int crc = nvh_tx_commit(tx);
	return rc ? rc : crc;
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

struct lister {
	nvh_pool *pool;
	unsigned index, rounds, len;
	char err[512];
};

static void *
push_and_unlink(void *arg)
{
	struct lister *a = arg;
	nvh_pool *pool = a->pool;
	struct groot *r = groot_of(pool);
	for (unsigned round = 0; round < a->rounds; round++) {
		for (unsigned i = 0; i < a->len; i++) {
			nvh_tx *tx = nvh_tx_begin(pool);
			gnode_ptr x = tx ? NVH_TX_ALLOC(tx, gnode) : NVH_NULL(gnode);
			gleaf_ptr l = tx ? NVH_TX_ALLOC(tx, gleaf) : NVH_NULL(gleaf);
			if (!tx || NVH_IS_NULL(x) || NVH_IS_NULL(l) ||
			    NVH_TX_SET(tx, &gnode_d(pool, x)->leaf, l) ||
			    NVH_TX_SET(tx, &gnode_d(pool, x)->next,
				       r->head[a->index]) ||
			    NVH_TX_SET(tx, &r->head[a->index], x) ||
			    nvh_tx_commit(tx)) {
				snprintf(a->err, sizeof(a->err), "push %u of "
					 "round %u: %s", i, round, nvh_errormsg());
				if (tx && nvh_tx_current(pool))
					nvh_tx_abort(tx);
				return a;
			}
		}
		int rc = unlink_field(pool, &r->head[a->index]);
		if (rc) {
			snprintf(a->err, sizeof(a->err), "unlink of round %u: %s",
				 round, nvh_errormsg());
			return a;
		}
	}
	return NULL;
}

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

/* ---- types registered while other threads commit ---- */

struct registrar {
	nvh_pool *pool;
	int n;
	char err[512];
};

static void *
register_many(void *arg)
{
	struct registrar *g = arg;
	static const struct nvh_field f[] = {{0, 0, "gleaf", 0}};
	for (int i = 0; i < g->n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "extra%d", i);
		struct nvh_type t = {name, 16, 0, 1, f};
		if (nvh_type_register(g->pool, &t)) {
			snprintf(g->err, sizeof(g->err), "register %s: %s", name,
				 nvh_errormsg());
			return g;
		}
	}
	return NULL;
}

/* Two threads push and unlink lists (`rounds` of 300 nodes) while a
 * third registers `nregs` types; the objects are all freed after. */
static void
register_while_freeing(nvh_pool *pool, int nregs, unsigned rounds)
{
	uint64_t base = nobjects(pool);
	struct registrar g = {pool, nregs, ""};
	struct lister a[2];
	pthread_t th[3];
	for (unsigned i = 0; i < 2; i++) {
		a[i] = (struct lister){pool, i, rounds, 300, ""};
		assert_int_equal(pthread_create(&th[i], NULL, push_and_unlink,
						&a[i]), 0);
	}
	assert_int_equal(pthread_create(&th[2], NULL, register_many, &g), 0);
	int bad = 0;
	for (unsigned i = 0; i < 3; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		if (ret) {
			fprintf(stderr, "thread %u: %s\n", i,
				i < 2 ? a[i].err : g.err);
			bad = 1;
		}
	}
	assert_false(bad);
	assert_consistent(pool);
	assert_int_equal(nobjects(pool), base);
}

/* Every registration replaces the type table in DRAM; commits on other
 * threads look types up meanwhile (the old table used to be freed under
 * them). */
static void
types_registered_while_threads_commit(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("types-mt.pool", 64 * MIB);
	register_while_freeing(pool, (int)scaled(300), 4);
	pool = reopen(pool, "types-mt.pool");
	assert_true(nvh_type_id(pool, "extra0") != 0);
	assert_nvh_ok(nvh_close(pool));
}

/* A hang is a failure with a message, not a stuck suite. */
static void
on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "test_graph: deadlock: no progress in time\n";
	if (write(2, m, sizeof(m) - 1) < 0)
		_exit(3);
	_exit(3);
}

static void
watchdog(unsigned secs)
{
	signal(SIGALRM, on_alarm);
	alarm(secs);
}

/* With more threads than lanes, a registration used to hold the objects
 * lock while it waited for a lane, and the commits holding the lanes
 * waited for that lock (to see whether an object they freed was
 * pinned): deadlock.  A 4 MiB pool has 2 lanes; 2 threads free their
 * lists while a third registers types. */
static void
types_registered_with_few_lanes(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("types-2l.pool", 4 * MIB);
	struct nvh_stats st;
	nvh_stats(pool, &st);
	assert_int_equal(st.nlanes, 2);
	watchdog(300);
	register_while_freeing(pool, (int)scaled(200), 6);
	alarm(0);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- nvh_close while another thread frees a big structure ---- */

struct unlinker {
	nvh_pool *pool;
	_Atomic int started, finished;
	int rc;
};

static void *
unlink_filler(void *arg)
{
	struct unlinker *u = arg;
	nvh_tx *tx = nvh_tx_begin(u->pool);
	atomic_store(&u->started, 1); /* a lane held from here ... */
	u->rc = tx ? nvh_tx_set(tx, &groot_of(u->pool)->filler.oid, NVH_OID_NULL)
		   : -1;
	if (tx && nvh_tx_commit(tx) && !u->rc)
		u->rc = -1;
	atomic_store(&u->finished, 1); /* ... to the last drain step */
	return NULL;
}

/* The commit that unlinks a big list frees it in many drain steps; the
 * lane used to be given back after the commit and between steps, and an
 * nvh_close that came then closed the pool under the drain. */
static void
close_waits_for_a_drain(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("close-drain.pool", 64 * MIB);
	uint64_t base = nobjects(pool);
	struct groot *r = groot_of(pool);
	size_t n = scaled(100000);
	for (size_t done = 0; done < n; done += 1000) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		gnode_ptr head = r->filler;
		for (size_t k = 0; k < 1000; k++) {
			gnode_ptr x = NVH_TX_ALLOC(tx, gnode);
			assert_false(NVH_IS_NULL(x));
			assert_nvh_ok(NVH_TX_SET(tx, &gnode_d(pool, x)->next, head));
			head = x;
		}
		assert_nvh_ok(NVH_TX_SET(tx, &r->filler, head));
		assert_nvh_ok(nvh_tx_commit(tx));
	}
	struct unlinker u = {.pool = pool};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, unlink_filler, &u), 0);
	while (!atomic_load(&u.started))
		sched_yield();
	/* Refused until the thread gave its lane back after the last step
	 * (closed under the drain, the thread would run on freed state). */
	unsigned refused = 0;
	int rc;
	while ((rc = nvh_close(pool)) != 0) {
		assert_int_equal(rc, -EBUSY);
		assert_errmsg_has("another thread");
		refused++;
	}
	pthread_join(th, NULL);
	assert_int_equal(u.rc, 0);
	assert_true(refused > 0);
	/* the file as closed: the list all freed (read-only: no drain) */
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	pool = assert_nvh_ptr(nvh_open(nvt_path("close-drain.pool"), "graph",
				       &ro));
	assert_consistent(pool);
	assert_int_equal(nobjects(pool), base);
	assert_nvh_ok(nvh_close(pool));
	pool = reopen(NULL, "close-drain.pool");
	assert_consistent(pool);
	assert_int_equal(nobjects(pool), base);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- pins while other threads unlink ---- */

struct pinner {
	nvh_pool *pool;
	unsigned n;
	_Atomic int done;
	_Atomic uint64_t cur; /* what head[0] holds, published after commit */
	unsigned pinned, refused;
	char err[256];
};

/* Replace head[0] with a new node, n times (the old one is freed). */
static void *
replace_head(void *arg)
{
	struct pinner *p = arg;
	struct groot *r = groot_of(p->pool);
	for (unsigned i = 1; i <= p->n; i++) {
		nvh_tx *tx = nvh_tx_begin(p->pool);
		gnode_ptr x = tx ? NVH_TX_ALLOC(tx, gnode) : NVH_NULL(gnode);
		if (!NVH_IS_NULL(x))
			gnode_d(p->pool, x)->value = i;
		if (NVH_IS_NULL(x) || NVH_TX_SET(tx, &r->head[0], x) ||
		    nvh_tx_commit(tx)) {
			snprintf(p->err, sizeof(p->err), "replace %u: %s", i,
				 nvh_errormsg());
			if (tx && nvh_tx_current(p->pool))
				nvh_tx_abort(tx);
			break;
		}
		atomic_store(&p->cur, x.oid.off);
	}
	atomic_store(&p->done, 1);
	return NULL;
}

/* Pin what head[0] held last: a pin either fails (the node is gone or
 * going) or keeps the node, unchanged, until the unpin. */
static void *
pin_heads(void *arg)
{
	struct pinner *p = arg;
	while (!atomic_load(&p->done)) {
		nvh_oid o = {atomic_load(&p->cur)};
		if (NVH_OID_IS_NULL(o))
			continue;
		if (nvh_pin(p->pool, o) != 0) {
			p->refused++;
			continue;
		}
		p->pinned++;
		const struct gnode *g = nvh_direct(p->pool, o);
		int64_t v = __atomic_load_n(&g->value, __ATOMIC_RELAXED);
		for (int k = 0; k < 50; k++)
			sched_yield();
		uint64_t off = 0;
		if (__atomic_load_n(&g->value, __ATOMIC_RELAXED) != v ||
		    nvh_oid_untag(p->pool, o.off, &off) ||
		    !nvh_obj_hdr(p->pool, off)) {
			snprintf(p->err, sizeof(p->err), "pinned node 0x%" PRIx64
				 " freed under its pin", o.off);
			nvh_unpin(p->pool, o);
			return p;
		}
		if (nvh_unpin(p->pool, o)) {
			snprintf(p->err, sizeof(p->err), "unpin: %s",
				 nvh_errormsg());
			return p;
		}
	}
	return NULL;
}

static void
pins_race_with_unlinks(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("pins-mt.pool", 16 * MIB);
	uint64_t base = nobjects(pool);
	struct pinner p = {.pool = pool, .n = (unsigned)scaled(20000)};
	pthread_t a, b;
	assert_int_equal(pthread_create(&a, NULL, replace_head, &p), 0);
	assert_int_equal(pthread_create(&b, NULL, pin_heads, &p), 0);
	void *ra, *rb;
	pthread_join(a, &ra);
	pthread_join(b, &rb);
	if (p.err[0])
		fail_msg("%s", p.err);
	assert_true(p.pinned > 0);
	assert_consistent(pool);
	assert_int_equal(nobjects(pool), base + 1);
	assert_nvh_ok(unlink_field(pool, &groot_of(pool)->head[0]));
	assert_int_equal(nobjects(pool), base);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- a transaction stores a pinned dying object; the pin goes ---- */

struct reuser {
	nvh_pool *pool;
	nvh_oid x;
	int rc;
};

/* Another thread drops the last pin and allocates nodes, which would
 * take the dying node's block once it is freed. */
static void *
unpin_and_allocate(void *arg)
{
	struct reuser *u = arg;
	struct groot *r = groot_of(u->pool);
	u->rc = nvh_unpin(u->pool, u->x);
	for (int i = 0; i < 64 && !u->rc; i++) {
		nvh_tx *tx = nvh_tx_begin(u->pool);
		gnode_ptr y = tx ? NVH_TX_ALLOC(tx, gnode) : NVH_NULL(gnode);
		if (!NVH_IS_NULL(y)) {
			gnode_d(u->pool, y)->value = -1;
			u->rc = NVH_TX_SET(tx, &gnode_d(u->pool, y)->next,
					   r->head[2]);
			if (!u->rc)
				u->rc = NVH_TX_SET(tx, &r->head[2], y);
		}
		if (!tx || NVH_IS_NULL(y))
			u->rc = -1;
		if (tx && nvh_tx_commit(tx) && !u->rc)
			u->rc = -1;
	}
	return NULL;
}

/* The store of a pinned dying object used to remember its list link as
 * its incarnation (0 when last on the list: nothing checked); the pin
 * dropped before the commit, the object was freed, its block given to
 * a new node, and the commit linked that node instead. */
static void
stored_dying_object_outlives_its_pin(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("dying-store.pool", 8 * MIB);
	struct groot *r = groot_of(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	gnode_ptr x = NVH_TX_ALLOC(tx, gnode);
	gnode_d(pool, x)->value = 777;
	assert_nvh_ok(NVH_TX_SET(tx, &r->head[0], x));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_nvh_ok(nvh_pin(pool, x.oid));
	assert_nvh_ok(unlink_field(pool, &r->head[0])); /* dying, pinned */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &r->head[1], x)); /* back to life */
	struct reuser u = {pool, x.oid, 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, unpin_and_allocate, &u), 0);
	pthread_join(th, NULL);
	assert_int_equal(u.rc, 0);
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(r->head[1].oid.off, x.oid.off);
	assert_int_equal(gnode_d(pool, r->head[1])->value, 777);
	assert_int_equal(nvh_refcount(pool, x.oid), 1);
	assert_consistent(pool);
	pool = reopen(pool, "dying-store.pool");
	r = groot_of(pool);
	assert_int_equal(gnode_d(pool, r->head[1])->value, 777);
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- the root, asked for by several threads of a new pool ---- */

struct rooter {
	nvh_pool *pool;
	pthread_barrier_t *go;
	nvh_oid got;
};

static void *
ask_root(void *arg)
{
	struct rooter *q = arg;
	pthread_barrier_wait(q->go);
	q->got = nvh_root(q->pool, &groot_type);
	if (NVH_OID_IS_NULL(q->got))
		fprintf(stderr, "nvh_root: %s\n", nvh_errormsg());
	return NULL;
}

/* Every thread finds no root and used to create one: the last commit
 * won and the others' roots (and what they linked) were freed. */
static void
root_created_once(void **state)
{
	(void)state;
	const char *p = nvt_path("root-mt.pool");
	for (int round = 0; round < 40; round++) {
		unlink(p);
		nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "graph", 4 * MIB,
							   NULL));
		register_all(pool);
		uint64_t base = nobjects(pool); /* the type table */
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, 3);
		struct rooter q[3];
		pthread_t th[3];
		for (int i = 0; i < 3; i++) {
			q[i] = (struct rooter){pool, &go, NVH_OID_NULL};
			if (i)
				assert_int_equal(pthread_create(&th[i], NULL,
								ask_root, &q[i]), 0);
		}
		ask_root(&q[0]);
		for (int i = 1; i < 3; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&go);
		for (int i = 0; i < 3; i++) {
			assert_false(NVH_OID_IS_NULL(q[i].got));
			assert_int_equal(q[i].got.off, q[0].got.off);
		}
		assert_consistent(pool);
		assert_int_equal(nobjects(pool), base + 1);
		assert_nvh_ok(nvh_close(pool));
	}
	unlink(p);
}

/* ---- a fork child never waits for a lock a parent's thread held ---- */

static int
child_of_busy_parent(nvh_pool *pool, nvh_oid pinned)
{
	alarm(20);
	int bad = 0;
	bad |= nvh_type_id(pool, "gnode") == 0;      /* reads: fine */
	bad |= nvh_type_register(pool, &gnode_type) != 0;
	bad |= NVH_OID_IS_NULL(nvh_root(pool, &groot_type));
	static const struct nvh_type fresh = {"child-only", 8, 0, 0, NULL};
	bad |= nvh_type_register(pool, &fresh) != -EPERM; /* writes: refused */
	bad |= nvh_pin(pool, pinned) != -EPERM;
	bad |= nvh_unpin(pool, pinned) != -EPERM;
	bad |= nvh_close(pool) != 0;
	return bad;
}

static void
fork_child_never_waits(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("fork-locks.pool", 8 * MIB);
	struct groot *r = groot_of(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	gnode_ptr x = NVH_TX_ALLOC(tx, gnode);
	assert_nvh_ok(NVH_TX_SET(tx, &r->head[1], x));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_nvh_ok(nvh_pin(pool, x.oid));
	/* as if other threads were in a commit, a pin and a registration
	 * at the moment of the fork */
	struct nvh_objects *o = pool->objects;
	pthread_mutex_lock(&o->reg_lock);
	pthread_mutex_lock(&o->rc_lock);
	pthread_mutex_lock(&o->lock);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(child_of_busy_parent(pool, x.oid));
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	pthread_mutex_unlock(&o->lock);
	pthread_mutex_unlock(&o->rc_lock);
	pthread_mutex_unlock(&o->reg_lock);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_nvh_ok(nvh_unpin(pool, x.oid));
	assert_nvh_ok(unlink_field(pool, &r->head[1]));
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
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
		cmocka_unit_test(types_registered_while_threads_commit),
		cmocka_unit_test(types_registered_with_few_lanes),
		cmocka_unit_test(close_waits_for_a_drain),
		cmocka_unit_test(pins_race_with_unlinks),
		cmocka_unit_test(stored_dying_object_outlives_its_pin),
		cmocka_unit_test(root_created_once),
		cmocka_unit_test(fork_child_never_waits),
		cmocka_unit_test(count_overflow_is_refused),
		cmocka_unit_test(exhausted_pool_still_opens),
		cmocka_unit_test(big_typed_rollback),
		cmocka_unit_test(untyped_holders_are_followed),
	};
	return cmocka_run_group_tests_name("graph", tests, NULL, NULL);
}
