/*
 * test_tx.c -- transactions: commit, abort, failures, nesting, snapshot
 * merging, barrier budget, huge transactions, and misuse that must be
 * refused (stale handles, snapshots of metadata).  Crashes and the space
 * rollbacks give back are in test_tx_crash.c, plain stores into pointer
 * fields in test_tx_pointers.c, threads and sequence numbers in
 * test_tx_threads.c.
 */
#include <errno.h>
#include <pthread.h>

#include "nvh_test.h"

#include "heap/pool.h"
#include "tx/tx.h"
#undef nvh_tx_current /* this suite calls the public one (the handle) */
#undef nvh_tx_current /* this suite calls the public one (the handle) */

#include "tx_test.h"

static void
commit_and_abort(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("commit.pool", 8 * MIB);
	struct root *r = root_of(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_ptr_equal(nvh_tx_current(pool), tx);
	assert_nvh_ok(nvh_tx_add(tx, &r->counter, 8));
	r->counter = 41;
	assert_nvh_ok(nvh_tx_add(tx, &r->words[3], 16));
	r->words[3] = 3;
	r->words[4] = 4;
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_null(nvh_tx_current(pool));

	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, r, sizeof(*r)));
	r->counter = 999;
	memset(r->words, 0xee, sizeof(r->words));
	assert_nvh_ok(nvh_tx_abort(tx));
	assert_int_equal(r->counter, 41);
	assert_int_equal(r->words[3], 3);
	assert_int_equal(r->words[5], 0);

	pool = reopen(pool, "commit.pool");
	r = root_of(pool);
	assert_int_equal(r->counter, 41);
	assert_int_equal(r->words[3], 3);
	assert_int_equal(r->words[4], 4);
	assert_int_equal(r->words[5], 0);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

static void
alloc_link_unlink_free(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("link.pool", 8 * MIB);
	struct root *r = root_of(pool);
	uint64_t base = objects(pool);
	/* push three nodes */
	for (uint64_t v = 1; v <= 3; v++) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		nvh_oid n = nvh_tx_alloc(tx, 64, 7, NVH_TX_ZERO);
		assert_false(NVH_OID_IS_NULL(n));
		uint64_t *node = nvh_direct(pool, n);
		assert_int_equal(node[1], 0); /* zeroed */
		node[0] = r->list.off; /* next; a new object needs no add */
		node[1] = v;
		assert_nvh_ok(nvh_tx_add(tx, &r->list, 8));
		r->list = n;
		assert_nvh_ok(nvh_tx_commit(tx));
	}
	assert_int_equal(objects(pool), base + 3);
	/* pop one: unlink and free */
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvh_oid top = r->list;
	uint64_t *node = nvh_direct(pool, top);
	assert_nvh_ok(nvh_tx_add(tx, &r->list, 8));
	r->list.off = node[0];
	assert_nvh_ok(nvh_tx_free(tx, top));
	assert_int_equal(nvh_tx_free(tx, top), -EINVAL); /* twice: error */
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);    /* rolled back */
	assert_int_equal(r->list.off, top.off);
	assert_int_equal(objects(pool), base + 3);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, &r->list, 8));
	r->list.off = node[0];
	assert_nvh_ok(nvh_tx_free(tx, top));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(objects(pool), base + 2);
	/* alloc and free in one transaction: never existed */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvh_oid tmp = nvh_tx_alloc(tx, 100, 1, 0);
	assert_nvh_ok(nvh_tx_free(tx, tmp));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(objects(pool), base + 2);
	/* abort keeps a freed object live, drops an allocated one */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_free(tx, r->list));
	nvh_oid gone = nvh_tx_alloc(tx, 64, 1, 0);
	assert_false(NVH_OID_IS_NULL(gone));
	assert_nvh_ok(nvh_tx_abort(tx));
	assert_int_equal(objects(pool), base + 2);
	assert_int_equal(nvh_usable_size(pool, gone), 0);
	assert_nvh_ok(nvh_heap_verify(pool));
	pool = reopen(pool, "link.pool");
	r = root_of(pool);
	uint64_t vals[4], n = 0;
	for (nvh_oid it = r->list; !NVH_OID_IS_NULL(it);) {
		uint64_t *nd = nvh_direct(pool, it);
		vals[n++] = nd[1];
		it.off = nd[0];
		assert_int_equal(nvh_type_of(pool, (nvh_oid){it.off ? it.off : 0}),
				 it.off ? 7 : 0);
	}
	assert_int_equal(n, 2);
	assert_int_equal(vals[0], 2);
	assert_int_equal(vals[1], 1);
	assert_int_equal(objects(pool), base + 2);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

static void
failure_inside_tx(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("fail.pool", 8 * MIB);
	struct root *r = root_of(pool);
	uint64_t base = objects(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, &r->counter, 8));
	r->counter = 5;
	nvh_oid o = nvh_tx_alloc(tx, 64, 1, 0);
	assert_false(NVH_OID_IS_NULL(o));
	char outside[8];
	assert_int_equal(nvh_tx_add(tx, outside, 8), -EINVAL);
	assert_errmsg_has("not inside the pool");
	assert_int_equal(nvh_tx_error(tx), EINVAL);
	/* later calls fail fast with the same error */
	assert_int_equal(nvh_tx_add(tx, &r->words[0], 8), -EINVAL);
	assert_errmsg_has("failed earlier");
	assert_true(NVH_OID_IS_NULL(nvh_tx_alloc(tx, 64, 1, 0)));
	assert_int_equal(nvh_tx_free(tx, o), -EINVAL);
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	assert_errmsg_has("rolled back");
	assert_int_equal(r->counter, 0);
	assert_int_equal(objects(pool), base);
	/* metadata and the header are not object memory */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_int_equal(nvh_tx_add(tx, pool->base + 100, 8), -EINVAL);
	assert_errmsg_has("not object memory");
	assert_nvh_ok(nvh_tx_abort(tx));
	/* out of space inside a transaction: everything as before */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, &r->counter, 8));
	r->counter = 77;
	assert_false(NVH_OID_IS_NULL(nvh_tx_alloc(tx, 1000, 1, 0)));
	assert_true(NVH_OID_IS_NULL(nvh_tx_alloc(tx, 64 * MIB, 1, 0)));
	assert_int_equal(nvh_tx_error(tx), ENOMEM);
	assert_int_equal(nvh_tx_commit(tx), -ENOMEM);
	assert_int_equal(r->counter, 0);
	assert_int_equal(objects(pool), base);
	/* misuse */
	assert_int_equal(nvh_tx_commit(NULL), -EINVAL);
	assert_int_equal(nvh_tx_add(NULL, r, 8), -EINVAL);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvh_oid *slot = &r->extra;
	assert_int_equal(nvh_alloc(pool, slot, 64, 1, NULL, NULL), -EBUSY);
	assert_errmsg_has("use nvh_tx_alloc");
	nvh_pool *other = new_pool("fail-other.pool", 8 * MIB);
	assert_nvh_null_errno(nvh_tx_begin(other), EBUSY);
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_nvh_ok(nvh_close(other));
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	pool = assert_nvh_ptr(nvh_open(nvt_path("fail.pool"), "tx", &ro));
	assert_nvh_null_errno(nvh_tx_begin(pool), EROFS);
	assert_nvh_ok(nvh_close(pool));
}

static void
nesting_flattens(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("nest.pool", 8 * MIB);
	struct root *r = root_of(pool);
	nvh_tx *a = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(a, &r->counter, 8));
	r->counter = 1;
	nvh_tx *b = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_ptr_equal(a, b);
	assert_nvh_ok(nvh_tx_add(b, &r->words[0], 8));
	r->words[0] = 2;
	assert_nvh_ok(nvh_tx_commit(b)); /* inner: nothing yet */
	assert_ptr_equal(nvh_tx_current(pool), a);
	assert_nvh_ok(nvh_tx_commit(a));
	assert_null(nvh_tx_current(pool));
	/* inner abort aborts everything */
	a = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(a, &r->counter, 8));
	r->counter = 10;
	b = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(b, &r->words[0], 8));
	r->words[0] = 20;
	assert_nvh_ok(nvh_tx_abort(b));
	assert_int_equal(r->counter, 1);
	assert_int_equal(r->words[0], 2);
	assert_int_equal(nvh_tx_add(a, &r->words[1], 8), -ECANCELED);
	assert_int_equal(nvh_tx_commit(a), -ECANCELED);
	assert_null(nvh_tx_current(pool));
	pool = reopen(pool, "nest.pool");
	r = root_of(pool);
	assert_int_equal(r->counter, 1);
	assert_int_equal(r->words[0], 2);
	assert_nvh_ok(nvh_close(pool));
}

/* Overlapping and adjacent snapshots log each byte once; ranges in new
 * objects need none.  Barriers tell how many records were written. */
static void
snapshot_merging_and_budget(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("merge.pool", 8 * MIB);
	struct root *r = root_of(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	uint64_t b0 = barriers(pool);
	assert_nvh_ok(nvh_tx_add(tx, &r->words[0], 64));
	assert_int_equal(barriers(pool) - b0, 1);
	assert_nvh_ok(nvh_tx_add(tx, &r->words[2], 16)); /* inside */
	assert_nvh_ok(nvh_tx_add(tx, &r->words[0], 64)); /* same */
	assert_int_equal(barriers(pool) - b0, 1);
	assert_nvh_ok(nvh_tx_add(tx, &r->words[4], 64)); /* half new */
	assert_int_equal(barriers(pool) - b0, 2);
	assert_nvh_ok(nvh_tx_add(tx, &r->words[12], 8)); /* adjacent */
	assert_nvh_ok(nvh_tx_add(tx, &r->words[0], 13 * 8)); /* covered */
	assert_int_equal(barriers(pool) - b0, 3);
	assert_int_equal(nvh_tx_running(pool)->snaps.n, 1); /* merged */
	assert_int_equal(nvh_snapset_flat(&nvh_tx_running(pool)->snaps)[0].len,
			 13 * 8);
	nvh_oid n = nvh_tx_alloc(tx, 256, 1, 0);
	assert_nvh_ok(nvh_tx_add(tx, nvh_direct(pool, n), 256));
	assert_int_equal(barriers(pool) - b0, 3);
	assert_nvh_ok(nvh_tx_abort(tx));

	/* tx-update-8: one add, one store, commit: 2 barriers */
	b0 = barriers(pool);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, &r->counter, 8));
	r->counter++;
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(barriers(pool) - b0, 2);
	/* free one, allocate one, update a pointer: 3 barriers */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	r->extra = nvh_tx_alloc(tx, 64, 1, 0); /* not durable yet: rolled... */
	assert_nvh_ok(nvh_tx_abort(tx));
	r->extra = NVH_OID_NULL;
	assert_nvh_ok(nvh_persist(pool, &r->extra, 8));
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, &r->extra, 8));
	r->extra = nvh_tx_alloc(tx, 64, 1, 0);
	assert_nvh_ok(nvh_tx_commit(tx));
	b0 = barriers(pool);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_free(tx, r->extra));
	nvh_oid fresh = nvh_tx_alloc(tx, 64, 1, 0);
	memset(nvh_direct(pool, fresh), 1, 64);
	assert_nvh_ok(nvh_tx_add(tx, &r->extra, 8));
	r->extra = fresh;
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(barriers(pool) - b0, 3);
	/* a transaction that changes nothing costs nothing */
	b0 = barriers(pool);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(barriers(pool) - b0, 0);
	assert_nvh_ok(nvh_close(pool));
}

/* Snapshots larger than a lane: payload blocks (64 MiB) and record chunks
 * (thousands of small snapshots). */
static void
huge_transactions(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("huge.pool", 256 * MIB);
	struct root *r = root_of(pool);
	const size_t big = 64 * MIB;
	assert_nvh_ok(nvh_alloc(pool, &r->big, big, 2, NULL, NULL));
	unsigned char *p = nvh_direct(pool, r->big);
	for (size_t i = 0; i < big; i += 4096)
		p[i] = (unsigned char)(i >> 12);
	assert_nvh_ok(nvh_persist(pool, p, big));

	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, p, big));
	memset(p, 0xab, big);
	assert_nvh_ok(nvh_tx_abort(tx));
	for (size_t i = 0; i < big; i += 4096)
		assert_int_equal(p[i], (unsigned char)(i >> 12));

	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, p, big));
	for (size_t i = 0; i < big; i += 4096)
		p[i] = (unsigned char)~(i >> 12);
	assert_nvh_ok(nvh_tx_commit(tx));

	/* 3000 separate 64-byte snapshots: more records than a lane holds */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	for (size_t i = 0; i < 3000; i++) {
		assert_nvh_ok(nvh_tx_add(tx, p + i * 128, 64));
		p[i * 128] = 0x55;
	}
	assert_true(nvh_tx_running(pool)->chunk_head > 0);
	assert_nvh_ok(nvh_tx_abort(tx));
	for (size_t i = 0; i < 3000; i += 37)
		assert_int_equal(p[i * 128], (i * 128) % 4096 == 0
				 ? (unsigned char)~((i * 128) >> 12) : 0);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	for (size_t i = 0; i < 3000; i++) {
		assert_nvh_ok(nvh_tx_add(tx, p + i * 128, 64));
		p[i * 128 + 1] = 0x66;
	}
	assert_nvh_ok(nvh_tx_commit(tx));
	uint64_t objs = objects(pool);
	pool = reopen(pool, "huge.pool");
	r = root_of(pool);
	p = nvh_direct(pool, r->big);
	for (size_t i = 0; i < big; i += 4096)
		assert_int_equal(p[i], (unsigned char)~(i >> 12));
	for (size_t i = 0; i < 3000; i++)
		assert_int_equal(p[i * 128 + 1], 0x66);
	assert_int_equal(objects(pool), objs); /* payload blocks released */
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

/* ---- misuse: stale handles, snapshots of metadata, raw pointer stores ---- */

/* The handle of a transaction that ended is refused by every call, also
 * once the thread has begun another transaction (whose state reuses the
 * old one's memory): it must never commit, abort or change that one. */
static void
stale_handle_is_refused(nvh_pool *pool, nvh_tx *stale, struct root *r)
{
	uint64_t before = r->counter;
	assert_int_equal(nvh_tx_add(stale, &r->counter, 8), -EINVAL);
	assert_errmsg_has("stale transaction handle");
	assert_true(NVH_OID_IS_NULL(nvh_tx_alloc(stale, 64, 1, 0)));
	assert_errmsg_has("stale transaction handle");
	assert_int_equal(nvh_tx_free(stale, r->extra), -EINVAL);
	assert_int_equal(nvh_tx_error(stale), EINVAL);
	assert_int_equal(nvh_tx_commit(stale), -EINVAL);
	assert_errmsg_has("nvh_tx_commit: stale transaction handle");
	assert_int_equal(nvh_tx_abort(stale), -EINVAL);
	assert_errmsg_has("nvh_tx_abort: stale transaction handle");
	assert_int_equal(r->counter, before);
	(void)pool;
}

struct stale_ctx {
	nvh_pool *pool;
	nvh_tx *ended;          /* a handle whose transaction ended */
	nvh_tx *live;           /* a handle of a transaction in progress */
	pthread_barrier_t go, done;
	int rc;
};

/* A thread's transaction ends; the thread exits (its transaction memory
 * is freed, and may be the next thread's). */
static void *
end_and_exit(void *arg)
{
	struct stale_ctx *c = arg;
	struct root *r = root_of(c->pool);
	nvh_tx *tx = nvh_tx_begin(c->pool);
	c->rc = !tx || nvh_tx_add(tx, &r->words[40], 8);
	r->words[40]++;
	c->rc |= nvh_tx_commit(tx);
	c->ended = tx;
	return NULL;
}

/* Another thread uses the dead thread's handle and a live one's. */
static void *
use_foreign_handles(void *arg)
{
	struct stale_ctx *c = arg;
	struct root *r = root_of(c->pool);
	nvh_tx *mine = nvh_tx_begin(c->pool);
	c->rc = !mine || nvh_tx_add(mine, &r->words[48], 8);
	r->words[48] = 4848;
	c->rc |= nvh_tx_commit(c->ended) != -EINVAL;
	c->rc |= nvh_tx_add(c->ended, &r->words[49], 8) != -EINVAL;
	c->rc |= nvh_tx_commit(c->live) != -EINVAL; /* another thread's */
	c->rc |= !strstr(nvh_errormsg(), "another thread");
	c->rc |= nvh_tx_current(c->pool) != mine || nvh_tx_error(mine) != 0;
	c->rc |= nvh_tx_abort(mine); /* ours was never committed */
	return NULL;
}

static void
stale_handles(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("stale.pool", 8 * MIB);
	struct root *r = root_of(pool);
	/* after commit: alone, then with a new transaction begun */
	nvh_tx *a = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(a, &r->counter, 8));
	r->counter = 1;
	assert_nvh_ok(nvh_tx_commit(a));
	stale_handle_is_refused(pool, a, r);
	nvh_tx *b = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(b, &r->counter, 8));
	r->counter = 2;
	stale_handle_is_refused(pool, a, r);
	assert_ptr_equal(nvh_tx_current(pool), b);
	assert_int_equal(nvh_tx_error(b), 0); /* b is not failed by it */
	assert_int_equal(r->counter, 2);
	assert_nvh_ok(nvh_tx_abort(b)); /* the stale commit did not commit b */
	assert_int_equal(r->counter, 1);
	/* after abort: alone, then with a new transaction begun */
	stale_handle_is_refused(pool, b, r);
	nvh_tx *c = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(c, &r->counter, 8));
	r->counter = 3;
	stale_handle_is_refused(pool, b, r);
	stale_handle_is_refused(pool, a, r);
	assert_nvh_ok(nvh_tx_commit(c));
	/* a nested begin returns the live handle; only the end kills it */
	nvh_tx *d = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_ptr_equal(assert_nvh_ptr(nvh_tx_begin(pool)), d);
	assert_nvh_ok(nvh_tx_commit(d)); /* inner */
	assert_nvh_ok(nvh_tx_add(d, &r->counter, 8));
	r->counter = 4;
	assert_nvh_ok(nvh_tx_commit(d)); /* outer */
	stale_handle_is_refused(pool, d, r);
	assert_int_equal(nvh_tx_commit(NULL), -EINVAL);
	assert_errmsg_has("NULL");

	/* on other threads: a dead thread's handle, a live thread's */
	struct stale_ctx ctx = {.pool = pool};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, end_and_exit, &ctx), 0);
	pthread_join(th, NULL);
	assert_int_equal(ctx.rc, 0);
	ctx.live = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(ctx.live, &r->words[50], 8));
	r->words[50] = 5050;
	assert_int_equal(pthread_create(&th, NULL, use_foreign_handles, &ctx), 0);
	pthread_join(th, NULL);
	assert_int_equal(ctx.rc, 0);
	assert_int_equal(nvh_tx_commit(ctx.ended), -EINVAL);
	assert_ptr_equal(nvh_tx_current(pool), ctx.live);
	assert_nvh_ok(nvh_tx_commit(ctx.live));
	pool = reopen(pool, "stale.pool");
	r = root_of(pool);
	assert_int_equal(r->counter, 4);
	assert_int_equal(r->words[40], 1);
	assert_int_equal(r->words[48], 0); /* rolled back, never committed */
	assert_int_equal(r->words[50], 5050);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

/* nvh_tx_add of [addr, addr+len) is refused (EINVAL, the message saying
 * `why`), fails the transaction and changes nothing. */
static void
add_refused(nvh_pool *pool, const void *addr, size_t len, const char *why)
{
	unsigned char before[64];
	size_t n = len < sizeof(before) ? len : sizeof(before);
	memcpy(before, addr, n);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	uint64_t b0 = barriers(pool);
	assert_int_equal(nvh_tx_add(tx, (void *)addr, len), -EINVAL);
	assert_errmsg_has(why);
	assert_errmsg_has("nvh_tx_add");
	assert_int_equal(barriers(pool), b0); /* nothing was logged */
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	assert_memory_equal(before, addr, n);
	assert_nvh_ok(nvh_heap_verify(pool));
}

struct reserver {
	nvh_pool *pool;
	nvh_oid o;
	pthread_barrier_t reserved, done;
};

static void *
reserve_and_wait(void *arg)
{
	struct reserver *s = arg;
	nvh_tx *tx = nvh_tx_begin(s->pool);
	s->o = tx ? nvh_tx_alloc(tx, 64, 1, NVH_TX_ZERO) : NVH_OID_NULL;
	pthread_barrier_wait(&s->reserved);
	pthread_barrier_wait(&s->done);
	if (tx)
		nvh_tx_abort(tx);
	return NULL;
}

/* Object headers (counts, type ids), free blocks, blocks another
 * transaction reserved, the root slot, the type table and ranges that
 * leave their object are not the caller's to snapshot. */
static void
tx_add_refuses_metadata(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("addmeta.pool", 8 * MIB);
	struct root *r = root_of(pool);
	struct nvh_heap *h = pool->heap;
	uint64_t off = (uint64_t)((char *)r - pool->base), a, b, in;
	int live;
	assert_int_equal(nvh_heap_geometry(h, off, &a, &b, &in, &live), 0);
	const char *hdr = pool->base + nvh_objhdr_off(h, a, b, 0);
	add_refused(pool, hdr, 16, "object header");
	add_refused(pool, hdr + 8, 4, "object header");
	/* a freed block, and one never allocated */
	assert_nvh_ok(nvh_alloc(pool, &r->extra, 64, 1, NULL, NULL));
	char *gone = nvh_direct(pool, r->extra);
	assert_nvh_ok(nvh_free(pool, &r->extra));
	add_refused(pool, gone + 8, 8, "free block");
	/* a block another thread's transaction reserved */
	struct reserver s = {.pool = pool};
	pthread_barrier_init(&s.reserved, NULL, 2);
	pthread_barrier_init(&s.done, NULL, 2);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reserve_and_wait, &s), 0);
	pthread_barrier_wait(&s.reserved);
	assert_false(NVH_OID_IS_NULL(s.o));
	add_refused(pool, nvh_direct(pool, s.o), 8, "free block");
	pthread_barrier_wait(&s.done);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&s.reserved);
	pthread_barrier_destroy(&s.done);
	/* the root slot holds a counted reference: nvh_tx_set only */
	add_refused(pool, nvh_root_slot(pool), 8, "root slot");
	/* nvheap's own type table */
	assert_nvh_ok(nvh_type_register(pool, &tnode_type));
	nvh_oid table = {*(uint64_t *)(pool->base + h->hdr.root_off + 16)};
	assert_false(NVH_OID_IS_NULL(table));
	add_refused(pool, nvh_direct(pool, table), 8, "nvheap's own");
	/* a range leaving its object (into the next block) */
	size_t usable = nvh_usable_size(pool, *nvh_root_slot(pool));
	add_refused(pool, (char *)r + usable - 8, 16, "one object");
	/* allocator metadata outside the arenas, as before */
	add_refused(pool, pool->base + h->hdr.bitmaps_off, 8, "not object memory");
	/* the caller's bytes of live and new objects stay fine */
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, r, usable));
	nvh_oid o = nvh_tx_alloc(tx, 100, 1, 0);
	uint64_t b0 = barriers(pool);
	assert_nvh_ok(nvh_tx_add(tx, nvh_direct(pool, o), 100));
	assert_int_equal(barriers(pool), b0);
	r->counter = 9;
	r->extra = o;
	assert_nvh_ok(nvh_tx_commit(tx));
	/* an object this transaction frees is not the caller's any more,
	 * though the last range checked was in it */
	for (int fresh = 0; fresh < 2; fresh++) {
		tx = assert_nvh_ptr(nvh_tx_begin(pool));
		nvh_oid f = fresh ? nvh_tx_alloc(tx, 100, 1, 0) : r->extra;
		char *fp = nvh_direct(pool, f);
		assert_nvh_ok(nvh_tx_add(tx, fp, 8));
		assert_nvh_ok(nvh_tx_free(tx, f));
		assert_int_equal(nvh_tx_add(tx, fp + 8, 8), -EINVAL);
		assert_errmsg_has("free block");
		assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	}
	/* after a range in one object, a range past its end is checked as
	 * itself (the shortcut for "the same object again" took any offset
	 * beyond it: its bound wrapped) */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	char *past = nvh_direct(pool, nvh_tx_alloc(tx, 64, 1, 0));
	assert_nvh_ok(nvh_tx_abort(tx)); /* its block is free again */
	assert_true(past > (char *)r + usable);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, r, 8));
	assert_int_equal(nvh_tx_add(tx, past, 8), -EINVAL);
	assert_errmsg_has("free block");
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	pool = reopen(pool, "addmeta.pool");
	assert_int_equal(root_of(pool)->counter, 9);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commit_and_abort),
		cmocka_unit_test(alloc_link_unlink_free),
		cmocka_unit_test(failure_inside_tx),
		cmocka_unit_test(nesting_flattens),
		cmocka_unit_test(snapshot_merging_and_budget),
		cmocka_unit_test(huge_transactions),
		cmocka_unit_test(stale_handles),
		cmocka_unit_test(tx_add_refuses_metadata),
	};
	return cmocka_run_group_tests_name("tx", tests, NULL, NULL);
}
