/*
 * test_obj.c -- typed objects: the type table, registration (a crash after
 * it, the root slot on the table, every registration error), cascades (a
 * million nodes, and a crash in the middle of one), the root and mutexes
 * (a holder that exits included).  Stores, counts, weak pointers and pins
 * are in test_obj_refs.c, damage nvh_check finds in test_obj_damage.c.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/heap.h"
#include "heap/pool.h"

#include "obj_test.h"

static void
type_table(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("types.pool", 8 * MIB);
	assert_true(nvh_type_id(pool, "node") >= 0x800000);
	assert_int_equal(nvh_type_id(pool, "nothing"), 0);
	assert_nvh_ok(nvh_type_register(pool, &node_type)); /* again: fine */
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(nvt_path("types.pool"), "obj", NULL));
	/* the same name, another definition */
	static const struct nvh_field f1[] = {{8, 0, "node", 0}};
	struct nvh_type bigger = {"node", 48, 0, 1, f1};
	assert_int_equal(nvh_type_register(pool, &bigger), -EINVAL);
	assert_errmsg_has("recorded with size 40, the program's has 48");
	struct nvh_type moved = node_type;
	static const struct nvh_field f2[] = {{16, 0, "node", 0}, {8, 0, "leaf", 0},
					      {24, NVH_FIELD_WEAK, "node", 0}};
	moved.fields = f2;
	assert_int_equal(nvh_type_register(pool, &moved), -EINVAL);
	assert_errmsg_has("pointer field 0 is recorded at offset 8");
	struct nvh_type bad = {"x", 8, 0, 1, f1};
	assert_int_equal(nvh_type_register(pool, &bad), -EINVAL);
	assert_errmsg_has("bytes 8..16 lie outside the type's 8 bytes");
	/* unregistered types cannot be allocated */
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_true(NVH_OID_IS_NULL(nvh_tx_alloc_typed(tx, &bad, 0)));
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	assert_nvh_ok(nvh_close(pool));
}

/* nvh_type_register snapshots the type-table slot; recovery refused that
 * range, so the registration's UNDO record ended its lane's scan and a
 * later transaction cut short by a crash was not rolled back. */
NVH_TYPE(account);
struct account {
	int64_t a, b; /* a + b == 100 once set */
};
NVH_TYPE_DEFINE(account, 0, );

static int
register_then_die_mid_tx(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "obj", NULL);
	if (!pool || nvh_type_register(pool, &account_type))
		return 1;
	account_ptr r = NVH_ROOT(pool, account);
	struct account *x = account_d(pool, r);
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!x || !tx || nvh_tx_add(tx, x, sizeof(*x)))
		return 2;
	x->a = 100;
	if (nvh_tx_commit(tx))
		return 3;
	tx = nvh_tx_begin(pool);
	if (!tx || nvh_tx_add(tx, x, sizeof(*x)))
		return 4;
	x->a -= 30; /* ... and the crash comes before b += 30 */
	nvh_persist(pool, &x->a, 8);
	_exit(0);
}

static void
crash_after_type_registration(void **state)
{
	(void)state;
	const char *path = nvt_path("reg.pool");
	unlink(path);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(path, "obj", 8 * MIB, NULL));
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(register_then_die_mid_tx, (void *)path), 0);
	pool = assert_nvh_ptr(nvh_open(path, "obj", NULL));
	assert_nvh_ok(nvh_type_register(pool, &account_type));
	struct account *x = account_d(pool, NVH_ROOT(pool, account));
	assert_non_null(x);
	assert_int_equal(x->a, 100);
	assert_int_equal(x->b, 0);
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
}

/* A root slot (damaged) holding the type table's oid: nvh_check names
 * it, and neither free destroys nvheap's own table. */
static void
root_slot_on_the_type_table(void **state)
{
	(void)state;
	const char *path = nvt_path("roottt.pool");
	nvh_pool *pool = typed_pool("roottt.pool", 8 * MIB);
	uint64_t slots = pool->heap->hdr.root_off;
	assert_nvh_ok(nvh_close(pool));
	uint64_t table;
	nvt_pread(path, slots + 16, &table, 8);
	nvt_pwrite(path, slots, &table, 8);
	pool = reopen(NULL, "roottt.pool");
	nvt_check_says(pool, "points to nvheap's own object", NULL);
	assert_int_equal(nvh_free(pool, nvh_root_slot(pool)), -EINVAL);
	assert_errmsg_has("nvheap's own object");
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_int_equal(nvh_tx_free(tx, *nvh_root_slot(pool)), -EINVAL);
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	pool = reopen(pool, "roottt.pool"); /* the table is intact */
	assert_nvh_ok(nvh_close(pool));
}

/* ---- cascades ---- */

static node_ptr
build_list(nvh_pool *pool, node_ptr *field, size_t n)
{
	node_ptr head = NVH_NULL(node);
	for (size_t done = 0; done < n;) {
		nvh_tx *tx = nvh_tx_begin(pool);
		for (size_t k = 0; k < 20000 && done < n; k++, done++) {
			node_ptr x = NVH_TX_ALLOC(tx, node);
			node_d(pool, x)->value = (int64_t)done;
			if (NVH_TX_SET(tx, &node_d(pool, x)->next, head))
				fail_msg("%s", nvh_errormsg());
			head = x;
		}
		if (NVH_TX_SET(tx, field, head) || nvh_tx_commit(tx))
			fail_msg("build: %s", nvh_errormsg());
	}
	return head;
}

static void
million_node_cascade(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("million.pool", 512 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	uint64_t base = nobjects(pool);
	build_list(pool, &tp->a, 1000000);
	assert_int_equal(nobjects(pool), base + 1000000);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx)); /* frees all, in bounded steps */
	assert_int_equal(nobjects(pool), base);
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
}

/* A commit limited to 4 drain steps leaves the rest of a 200,000-node
 * list dying; nvh_reclaim frees it (from another thread, while this one
 * commits), a reopen finishes what a close left. */
struct reclaimer {
	nvh_pool *pool;
	int rc, more;
	unsigned calls;
};

static void *
reclaim_all(void *arg)
{
	struct reclaimer *r = arg;
	do {
		r->rc = nvh_reclaim(r->pool, 8, &r->more);
		r->calls++;
	} while (!r->rc && r->more);
	return NULL;
}

static void
background_reclaim(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("reclaim.pool", 256 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	uint64_t base = nobjects(pool);
	build_list(pool, &tp->a, 200000);
	nvh_set_drain_steps(pool, 4);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	uint64_t left = nobjects(pool) - base;
	struct nvh_check_report rep;
	assert_nvh_ok(nvh_check(pool, &rep, NULL));
	assert_int_equal(rep.problems, 0);
	assert_true(rep.dying > 0 && left > 100000); /* most still dying */
	/* a reclaimer thread while this one builds and drops more */
	struct reclaimer r = {pool, 0, 0, 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reclaim_all, &r), 0);
	for (int i = 0; i < 50; i++) {
		tx = assert_nvh_ptr(nvh_tx_begin(pool));
		node_ptr n = NVH_TX_ALLOC(tx, node);
		assert_nvh_ok(NVH_TX_SET(tx, &tp->b, n));
		assert_nvh_ok(nvh_tx_commit(tx));
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r.rc, 0);
	assert_true(r.calls > 1); /* in bounded slices */
	int more = 1;
	assert_nvh_ok(nvh_reclaim(pool, 0, &more));
	assert_int_equal(more, 0);
	assert_int_equal(nobjects(pool), base + 1); /* tp->b */
	assert_consistent(pool);
	/* left dying at close: the next open frees it */
	build_list(pool, &tp->a, 50000);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_nvh_ok(nvh_check(pool, &rep, NULL));
	assert_true(rep.dying > 0);
	pool = reopen(pool, "reclaim.pool");
	assert_nvh_ok(nvh_check(pool, &rep, NULL));
	assert_int_equal(rep.dying, 0);
	assert_int_equal(nobjects(pool), base + 1);
	assert_nvh_ok(nvh_close(pool));
}

static int
unlink_and_get_killed(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "obj", NULL);
	if (!pool || nvh_type_register(pool, &node_type) ||
	    nvh_type_register(pool, &leaf_type) ||
	    nvh_type_register(pool, &top_type) ||
	    nvh_type_register(pool, &blob_type))
		return 1;
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_tx *tx = nvh_tx_begin(pool);
	NVH_TX_SET(tx, &tp->a, NVH_NULL(node));
	nvh_tx_commit(tx); /* the parent kills us during the cascade */
	return 0;
}

static void
cascade_survives_a_crash(void **state)
{
	(void)state;
	const char *path = nvt_path("killed.pool");
	nvh_pool *pool = typed_pool("killed.pool", 256 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	uint64_t base = nobjects(pool);
	build_list(pool, &tp->a, 400000);
	assert_nvh_ok(nvh_close(pool));
	int killed = 0;
	for (int attempt = 0; attempt < 5 && !killed; attempt++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			_exit(unlink_and_get_killed((void *)path));
		usleep(60000 + attempt * 40000);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		killed = WIFSIGNALED(st);
		pool = assert_nvh_ptr(nvh_open(path, "obj", NULL));
		assert_nvh_ok(nvh_type_register(pool, &node_type));
		assert_nvh_ok(nvh_type_register(pool, &leaf_type));
		assert_nvh_ok(nvh_type_register(pool, &top_type));
		assert_nvh_ok(nvh_type_register(pool, &blob_type));
		tp = top_d(pool, NVH_ROOT(pool, top));
		assert_consistent(pool);
		if (!NVH_IS_NULL(tp->a)) { /* killed before the commit: again */
			assert_int_equal(nobjects(pool), base + 400000);
			killed = 0;
		} else {
			assert_int_equal(nobjects(pool), base); /* open finished it */
		}
		assert_nvh_ok(nvh_close(pool));
	}
	assert_true(killed);
}

/* ---- the root, mutexes ---- */

static int
lock_and_die(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "obj", NULL);
	if (!pool || nvh_type_register(pool, &top_type) ||
	    nvh_type_register(pool, &node_type) ||
	    nvh_type_register(pool, &leaf_type) ||
	    nvh_type_register(pool, &blob_type))
		return 1;
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	if (nvh_mutex_lock(pool, &tp->lock))
		return 2;
	_exit(0); /* holding the lock */
}

static void
root_and_mutex(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("mutex.pool", 8 * MIB);
	top_ptr t = NVH_ROOT(pool, top);
	struct top *tp = top_d(pool, t);
	assert_nvh_ok(nvh_mutex_lock(pool, &tp->lock));
	assert_int_equal(nvh_mutex_trylock(pool, &tp->lock), -EBUSY);
	assert_nvh_ok(nvh_mutex_unlock(pool, &tp->lock));
	nvh_mutex volatile_one = {0};
	assert_int_equal(nvh_mutex_lock(pool, &volatile_one), -EINVAL);
	/* the root has one type */
	assert_true(NVH_IS_NULL(NVH_ROOT(pool, node)));
	assert_errmsg_has("the root object is a \"top\", not a \"node\"");
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(lock_and_die, (void *)nvt_path("mutex.pool")), 0);
	pool = assert_nvh_ptr(nvh_open(nvt_path("mutex.pool"), "obj", NULL));
	assert_nvh_ok(nvh_type_register(pool, &top_type));
	tp = top_d(pool, NVH_ROOT(pool, top));
	assert_nvh_ok(nvh_mutex_trylock(pool, &tp->lock)); /* unlocked again */
	assert_nvh_ok(nvh_mutex_unlock(pool, &tp->lock));
	assert_nvh_ok(nvh_close(pool));
}

/* Many mutexes in one object, two threads: each counter guarded by its
 * own mutex ends exact (no lost update), and locking writes nothing. */
#define NMUTEX 500
struct guarded {
	nvh_mutex m;
	uint64_t count;
};

struct mt_arg {
	nvh_pool *pool;
	struct guarded *g;
};

static void
sched_yield_sometimes(unsigned i)
{
	if (i % 64 == 0)
		sched_yield(); /* widen the window a lost update needs */
}

static void *
mt_worker(void *arg)
{
	struct mt_arg *a = arg;
	for (unsigned i = 0; i < 40 * NMUTEX; i++) {
		struct guarded *g = &a->g[(i * 7u) % NMUTEX];
		if (nvh_mutex_lock(a->pool, &g->m))
			return (void *)1;
		uint64_t c = g->count;
		sched_yield_sometimes(i);
		g->count = c + 1;
		if (nvh_mutex_unlock(a->pool, &g->m))
			return (void *)1;
	}
	return NULL;
}

static void
mutexes_exclude(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("mutexes.pool", 8 * MIB);
	top_ptr t = NVH_ROOT(pool, top);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvh_oid o = nvh_tx_alloc(tx, NMUTEX * sizeof(struct guarded), 7,
				 NVH_TX_ZERO);
	assert_false(NVH_OID_IS_NULL(o));
	assert_nvh_ok(nvh_tx_set(tx, &top_d(pool, t)->any, o));
	assert_nvh_ok(nvh_tx_commit(tx));
	struct guarded *g = nvh_direct(pool, o);
	struct nvh_persist_stats before, after;
	nvh_persist_stats(pool, &before);
	struct mt_arg a = {pool, g};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mt_worker, &a), 0);
	for (int i = 0; i < 2; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	nvh_persist_stats(pool, &after);
	assert_int_equal(after.fences, before.fences);
	assert_int_equal(after.flushes, before.flushes);
	for (unsigned i = 0; i < NMUTEX; i++)
		assert_int_equal(g[i].count, 2 * 40);
	assert_int_equal(nvh_mutex_lock(pool, (nvh_mutex *)((char *)&g[1].m + 4)),
			 -EINVAL); /* misaligned */
	assert_nvh_ok(nvh_close(pool));
}

/* Misuse of a mutex is an error with a message, never a hang.  The
 * relock runs in a child under an alarm: with a mutex that is not
 * error-checking it deadlocks, and the child dies of SIGALRM. */
struct holder {
	nvh_pool *pool;
	nvh_mutex *m;
	pthread_barrier_t locked, done;
};

static int
relock_in_child(void *arg)
{
	struct holder *h = arg;
	alarm(10);
	if (nvh_mutex_lock(h->pool, h->m))
		return 1;
	errno = 0;
	if (nvh_mutex_lock(h->pool, h->m) != -EDEADLK || errno != EDEADLK)
		return 2;
	if (!strstr(nvh_errormsg(), "nvh_mutex_lock") ||
	    !strstr(nvh_errormsg(), "already held by this thread"))
		return 3;
	if (nvh_mutex_unlock(h->pool, h->m))
		return 4;
	return 0;
}

static void *
hold_mutex(void *arg)
{
	struct holder *h = arg;
	intptr_t rc = nvh_mutex_lock(h->pool, h->m);
	pthread_barrier_wait(&h->locked);
	pthread_barrier_wait(&h->done);
	if (!rc)
		rc = nvh_mutex_unlock(h->pool, h->m);
	return (void *)rc;
}

static void
mutex_misuse_is_an_error(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("mutex-misuse.pool", 8 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_mutex *m = &tp->lock;

	/* unlocking a mutex never locked */
	errno = 0;
	assert_int_equal(nvh_mutex_unlock(pool, m), -EPERM);
	assert_int_equal(errno, EPERM);
	assert_errmsg_has("nvh_mutex_unlock");
	assert_errmsg_has("not held by this thread");
	/* relocking by the owner: EDEADLK, not a deadlock (first in a
	 * child, which an alarm ends if it hangs) */
	struct holder h = {.pool = pool, .m = m};
	assert_int_equal(nvt_in_child(relock_in_child, &h), 0);
	assert_nvh_ok(nvh_mutex_lock(pool, m));
	assert_int_equal(nvh_mutex_lock(pool, m), -EDEADLK);
	assert_errmsg_has("already held by this thread");
	assert_int_equal(nvh_mutex_trylock(pool, m), -EBUSY);
	assert_nvh_ok(nvh_mutex_unlock(pool, m)); /* held once, as before */
	/* a second unlock */
	assert_int_equal(nvh_mutex_unlock(pool, m), -EPERM);
	assert_errmsg_has("not held by this thread");

	/* unlock by a thread that does not hold it leaves it held */
	pthread_barrier_init(&h.locked, NULL, 2);
	pthread_barrier_init(&h.done, NULL, 2);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hold_mutex, &h), 0);
	pthread_barrier_wait(&h.locked);
	int unlock_rc = nvh_mutex_unlock(pool, m);
	int try_rc = nvh_mutex_trylock(pool, m);
	pthread_barrier_wait(&h.done);
	void *held_rc;
	pthread_join(th, &held_rc);
	pthread_barrier_destroy(&h.locked);
	pthread_barrier_destroy(&h.done);
	assert_int_equal(unlock_rc, -EPERM);
	assert_int_equal(try_rc, -EBUSY);
	assert_null(held_rc); /* the owner's unlock still worked */
	/* and the mutex works as before */
	assert_nvh_ok(nvh_mutex_lock(pool, m));
	assert_nvh_ok(nvh_mutex_unlock(pool, m));
	assert_nvh_ok(nvh_close(pool));
}

/* A thread that exits holding a mutex: the next locker is told
 * (EOWNERDEAD, as with robust pthread mutexes) and holds it, and the
 * mutex stays usable.  Runs in a child under an alarm: a mutex that
 * does not notice its owner died hangs its next locker. */
struct dead_owner {
	nvh_pool *pool;
	nvh_mutex *m1, *m2;
	int rc;
};

static void *
lock_and_exit(void *arg)
{
	struct dead_owner *d = arg;
	d->rc = nvh_mutex_lock(d->pool, d->m1) || nvh_mutex_lock(d->pool, d->m2);
	return NULL; /* exits holding both */
}

static void *
take_over(void *arg)
{
	struct dead_owner *d = arg;
	nvh_pool *p = d->pool;
	d->rc = 1;
	/* a new thread does not inherit the dead one's ownership */
	if (nvh_mutex_unlock(p, d->m1) != -EPERM)
		return NULL;
	d->rc = 2;
	if (nvh_mutex_lock(p, d->m1) != -EOWNERDEAD ||
	    !strstr(nvh_errormsg(), "exited"))
		return NULL;
	d->rc = 3; /* held now: relock is an error, unlock works */
	if (nvh_mutex_lock(p, d->m1) != -EDEADLK || nvh_mutex_unlock(p, d->m1))
		return NULL;
	d->rc = 4;
	if (nvh_mutex_trylock(p, d->m2) != -EOWNERDEAD ||
	    nvh_mutex_unlock(p, d->m2))
		return NULL;
	d->rc = 0;
	return NULL;
}

static int
dead_owner_in_child(void *arg)
{
	struct dead_owner *d = arg;
	alarm(10);
	pthread_t th;
	if (pthread_create(&th, NULL, lock_and_exit, d) || pthread_join(th, NULL) ||
	    d->rc)
		return 1;
	if (pthread_create(&th, NULL, take_over, d) || pthread_join(th, NULL))
		return 2;
	if (d->rc)
		return 10 + d->rc;
	/* consistent again: plain use from this thread */
	if (nvh_mutex_lock(d->pool, d->m1) || nvh_mutex_trylock(d->pool, d->m2) ||
	    nvh_mutex_unlock(d->pool, d->m2) || nvh_mutex_unlock(d->pool, d->m1))
		return 3;
	return 0;
}

static void
mutex_of_exited_thread(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("mutex-dead.pool", 8 * MIB);
	top_ptr t = NVH_ROOT(pool, top);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvh_oid o = nvh_tx_alloc(tx, 2 * sizeof(nvh_mutex), 7, NVH_TX_ZERO);
	assert_nvh_ok(nvh_tx_set(tx, &top_d(pool, t)->any, o));
	assert_nvh_ok(nvh_tx_commit(tx));
	nvh_mutex *ms = nvh_direct(pool, o);
	struct dead_owner d = {pool, &ms[0], &ms[1], 0};
	assert_int_equal(nvt_in_child(dead_owner_in_child, &d), 0);
	assert_nvh_ok(nvh_close(pool));
}

/* Each cause of a refused registration has its own message, naming the
 * type, the field and the offending value. */
struct bad_type {
	struct nvh_type t;
	const char *says, *also;
};

/* Each registration is refused with EINVAL and its message. */
static void
refused_all(nvh_pool *pool, const struct bad_type *bad, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(nvh_type_register(pool, &bad[i].t), -EINVAL);
		assert_errmsg_has("nvh_type_register: ");
		assert_errmsg_has(bad[i].says);
		if (bad[i].also)
			assert_errmsg_has(bad[i].also);
	}
}

static void
registration_messages(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("typemsg.pool", 8 * MIB);
	static const char long_name[] = "a_type_name_of_forty_characters_exactly";
	static const char long40[] = "a_type_name_of_forty_characters_exactly!";
	static const struct nvh_field unaligned[] = {{12, 0, "node", 0}};
	static const struct nvh_field outside[] = {{8, 0, "node", 0}};
	static const struct nvh_field weak_out[] = {{8, NVH_FIELD_WEAK, "node", 0}};
	static const struct nvh_field arr_out[] = {{8, 0, "node", 3}};
	static const struct nvh_field bad_flags[] = {{0, 0x6, "node", 0}};
	static const struct nvh_field too_many[] = {{0, 0, "node",
						     NVH_FIELD_COUNT_MAX + 1}};
	static const struct nvh_field long_target[] = {{0, 0, long40, 0}};
	static const struct nvh_field overlap[] = {{0, 0, "node", 2},
						   {8, 0, "node", 0}};
	const struct bad_type bad[] = {
		{{NULL, 8, 0, 0, NULL}, "type name missing", NULL},
		{{"", 8, 0, 0, NULL}, "type name missing", NULL},
		{{long40, 8, 0, 0, NULL}, "is 40 bytes", "at most 39"},
		{{"t0", 0, 0, 0, NULL}, "type \"t0\": size 0", NULL},
		{{"t1", 8, 0x10, 0, NULL}, "type \"t1\": unknown flags 0x10", NULL},
		{{"t2", 8, 0, 2, NULL}, "type \"t2\": 2 pointer fields but no "
		 "fields array", NULL},
		{{"t3", 24, 0, 1, unaligned}, "type \"t3\" pointer field 0: "
		 "offset 12 is not a multiple of 8", NULL},
		{{"t4", 8, 0, 1, outside}, "type \"t4\" pointer field 0: bytes "
		 "8..16 lie outside the type's 8 bytes", NULL},
		{{"t5", 16, 0, 1, weak_out}, "type \"t5\" pointer field 0: bytes "
		 "8..24 lie outside the type's 16 bytes", "weak"},
		{{"t6", 16, 0, 1, arr_out}, "type \"t6\" pointer field 0: bytes "
		 "8..32 lie outside the type's 16 bytes", "3 elements"},
		{{"t7", 8, 0, 1, bad_flags}, "type \"t7\" pointer field 0: unknown "
		 "flags 0x6", NULL},
		{{"t8", 8, 0, 1, too_many}, "type \"t8\" pointer field 0: count "
		 "16777216", "at most 16777215"},
		{{"t9", 8, 0, 1, long_target}, "type \"t9\" pointer field 0: "
		 "target type name", "is 40 bytes"},
		{{"ta", 24, 0, 2, overlap}, "type \"ta\": pointer fields 0 and 1 "
		 "overlap", NULL},
	};
	refused_all(pool, bad, sizeof(bad) / sizeof(bad[0]));
	struct nvh_type ok = {long_name, 8, 0, 0, NULL}; /* 39: the limit */
	assert_nvh_ok(nvh_type_register(pool, &ok));
	assert_int_equal(nvh_type_register(pool, NULL), -EINVAL);
	assert_errmsg_has("NULL type");
	/* a recorded type against another definition: what differs */
	static const struct nvh_field moved[] = {{16, 0, "node", 0},
		{8, 0, "leaf", 0}, {24, NVH_FIELD_WEAK, "node", 0}};
	static const struct nvh_field strong[] = {{8, 0, "node", 0},
		{16, 0, "leaf", 0}, {24, 0, "node", 0}};
	static const struct nvh_field retarget[] = {{8, 0, "node", 0},
		{16, 0, "node", 0}, {24, NVH_FIELD_WEAK, "node", 0}};
	static const struct nvh_field four[] = {{8, 0, "node", 4}};
	const struct bad_type differ[] = {
		{{"node", 40, 0, 3, moved}, "type \"node\" pointer field 0 is "
		 "recorded at offset 8, the program's at offset 16", NULL},
		{{"node", 40, 0, 3, strong}, "type \"node\" pointer field 2 is "
		 "recorded weak, the program's is strong", NULL},
		{{"node", 40, 0, 3, retarget}, "type \"node\" pointer field 1 is "
		 "recorded to \"leaf\", the program's to \"node\"", NULL},
		{{"fan", sizeof(struct fan), 0, 1, four}, "type \"fan\" pointer "
		 "field 0 is recorded with 5 elements, the program's with 4",
		 NULL},
		{{"node", 40, NVH_TYPE_MANUAL, 3, moved}, "type \"node\" is "
		 "recorded with flags 0x0, the program's has 0x1", NULL},
		{{"node", 48, 0, 3, moved}, "type \"node\" is recorded with size "
		 "40, the program's has 48", NULL},
		{{"node", 40, 0, 2, moved}, "type \"node\" is recorded with 3 "
		 "pointer fields, the program's has 2", NULL},
	};
	assert_nvh_ok(nvh_type_register(pool, &fan_type));
	refused_all(pool, differ, sizeof(differ) / sizeof(differ[0]));
	assert_nvh_ok(nvh_type_register(pool, &node_type)); /* unchanged */
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(type_table),
		cmocka_unit_test(root_and_mutex),
		cmocka_unit_test(mutexes_exclude),
		cmocka_unit_test(mutex_misuse_is_an_error),
		cmocka_unit_test(mutex_of_exited_thread),
		cmocka_unit_test(registration_messages),
		cmocka_unit_test(crash_after_type_registration),
		cmocka_unit_test(root_slot_on_the_type_table),
		cmocka_unit_test(million_node_cascade),
		cmocka_unit_test(background_reclaim),
		cmocka_unit_test(cascade_survives_a_crash),
	};
	return cmocka_run_group_tests_name("obj", tests, NULL, NULL);
}
