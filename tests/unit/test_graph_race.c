/*
 * test_graph_race.c -- object graphs under threads that race: types
 * registered while others commit, nvh_close during another thread's
 * drain, pins against unlinks, a transaction storing a pinned dying
 * object, the root of a new pool asked for by several threads, and a fork
 * child never waiting for a lock a parent's thread held.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/pool.h"
#include "objects/obj.h"

#include "graph_test.h"

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

/* ---- nvh_close right after another thread's last lane release ---- */

struct one_tx {
	nvh_pool *pool;
	_Atomic int started, refused, closed;
	int rc;
};

static void *
one_transaction(void *arg)
{
	struct one_tx *u = arg;
	nvh_tx *tx = nvh_tx_begin(u->pool);
	atomic_store(&u->started, 1);
	/* the transaction stays open until a close has been refused, so
	 * every round's close spins across the commit (on a loaded machine
	 * the commit could otherwise finish before the first close) */
	while (!atomic_load(&u->refused) && !atomic_load(&u->closed))
		sched_yield();
	gleaf_ptr x = tx ? NVH_TX_ALLOC(tx, gleaf) : NVH_NULL(gleaf);
	u->rc = NVH_IS_NULL(x) ? -1 : nvh_tx_commit(tx);
	/* alive until the close: a thread's exit takes the heap's locks
	 * (its allocation context goes), which would order it before the
	 * close and hide a race */
	while (!atomic_load(&u->closed))
		sched_yield();
	return NULL;
}

/* The thread's commit gives its lane back, and nvh_close, spinning, may
 * take every lane the moment it does: the release read the lanes' state
 * after the unlock, which the close then freed (ThreadSanitizer: a data
 * race between nvh_lane_release and nvh_log_close).  Many rounds, so that
 * the close lands right after the release in some of them. */
static void
close_races_the_last_release(void **state)
{
	(void)state;
	nvh_pool *pool = graph_pool("close-release.pool", 4 * MIB);
	assert_nvh_ok(nvh_close(pool));
	unsigned rounds = (unsigned)scaled(200), refused = 0;
	for (unsigned i = 0; i < rounds; i++) {
		pool = reopen(NULL, "close-release.pool");
		struct one_tx u = {.pool = pool};
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, one_transaction, &u),
				 0);
		while (!atomic_load(&u.started))
			sched_yield();
		int rc;
		while ((rc = nvh_close(pool)) != 0) {
			assert_int_equal(rc, -EBUSY);
			refused++;
			atomic_store(&u.refused, 1);
		}
		atomic_store(&u.closed, 1);
		pthread_join(th, NULL);
		assert_int_equal(u.rc, 0);
	}
	assert_true(refused >= rounds);
	pool = reopen(NULL, "close-release.pool");
	assert_consistent(pool);
	assert_int_equal(nvh_close(pool), 0);
}

/* ---- nvh_close during an nvh_alloc that holds no lane yet ---- */

struct slow_alloc {
	nvh_pool *pool;
	nvh_oid *dest;
	_Atomic int in_ctor, release;
	int rc;
};

static int
slow_ctor(nvh_pool *pool, void *p, void *arg)
{
	(void)pool;
	struct slow_alloc *s = arg;
	memset(p, 0x5a, 64);
	atomic_store(&s->in_ctor, 1);
	while (!atomic_load(&s->release))
		sched_yield();
	return 0;
}

static void *
alloc_slowly(void *arg)
{
	struct slow_alloc *s = arg;
	s->rc = nvh_alloc(s->pool, s->dest, 64, 1, slow_ctor, s);
	return NULL;
}

/* An atomic allocation takes a lane only for its commit, after its block
 * is reserved and its constructor ran: an nvh_close meanwhile found every
 * lane free and closed the pool under it. */
static void
close_refused_during_an_alloc(void **state)
{
	(void)state;
	const char *path = nvt_path("close-alloc.pool");
	unlink(path);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(path, "plain", 4 * MIB,
						   NULL));
	struct slow_alloc s = {.pool = pool, .dest = nvh_root_slot(pool)};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, alloc_slowly, &s), 0);
	while (!atomic_load(&s.in_ctor))
		sched_yield();
	for (int i = 0; i < 20; i++) {
		assert_int_equal(nvh_close(pool), -EBUSY);
		assert_errmsg_has("another thread");
	}
	atomic_store(&s.release, 1);
	pthread_join(th, NULL);
	assert_int_equal(s.rc, 0);
	assert_false(NVH_OID_IS_NULL(*s.dest));
	assert_int_equal(*(unsigned char *)nvh_direct(pool, *s.dest), 0x5a);
	assert_nvh_ok(nvh_close(pool));
	/* committed and durable: the root slot holds it after a reopen */
	pool = assert_nvh_ptr(nvh_open(path, "plain", NULL));
	nvh_oid *root = nvh_root_slot(pool);
	assert_false(NVH_OID_IS_NULL(*root));
	assert_int_equal(*(unsigned char *)nvh_direct(pool, *root), 0x5a);
	assert_nvh_ok(nvh_free(pool, root));
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(types_registered_while_threads_commit),
		cmocka_unit_test(types_registered_with_few_lanes),
		cmocka_unit_test(close_waits_for_a_drain),
		cmocka_unit_test(close_races_the_last_release),
		cmocka_unit_test(close_refused_during_an_alloc),
		cmocka_unit_test(pins_race_with_unlinks),
		cmocka_unit_test(stored_dying_object_outlives_its_pin),
		cmocka_unit_test(root_created_once),
		cmocka_unit_test(fork_child_never_waits),
	};
	return cmocka_run_group_tests_name("graph_race", tests, NULL, NULL);
}
