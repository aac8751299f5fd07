/*
 * test_tx.c -- transactions: commit, abort, failures, nesting, snapshot
 * merging, barrier budget, huge transactions, out of space, threads,
 * crashes in a child process, the bound on sequence numbers, and misuse
 * that must be refused (stale handles, snapshots of metadata, plain
 * stores into pointer fields).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/heap.h"
#include "heap/pool.h"
#include "tx/tx.h"
#undef nvh_tx_current /* this suite calls the public one (the handle) */
#undef nvh_tx_current /* this suite calls the public one (the handle) */

#define MIB (1ull << 20)

struct root {
	uint64_t counter;
	uint64_t pad[7];
	uint64_t words[64];
	nvh_oid list;
	nvh_oid big;
	nvh_oid extra;
};

static nvh_pool *
new_pool(const char *name, uint64_t size)
{
	const char *p = nvt_path(name);
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "tx", size, NULL));
	struct root *r = nvt_scratch(pool, sizeof(struct root));
	memset(r, 0, sizeof(*r));
	assert_nvh_ok(nvh_persist(pool, r, sizeof(*r)));
	return pool;
}

static struct root *
root_of(nvh_pool *pool)
{
	return nvh_direct(pool, *nvh_root_slot(pool));
}

static nvh_pool *
reopen(nvh_pool *pool, const char *name)
{
	assert_nvh_ok(nvh_close(pool));
	return assert_nvh_ptr(nvh_open(nvt_path(name), "tx", NULL));
}

static uint64_t
barriers(nvh_pool *pool)
{
	struct nvh_persist_stats s;
	nvh_persist_stats(pool, &s);
	return s.barriers;
}

static uint64_t
objects(nvh_pool *pool)
{
	struct nvh_stats st;
	assert_nvh_ok(nvh_stats(pool, &st));
	return st.objects;
}

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
	assert_int_equal(nvh_tx_running(pool)->nsnap, 1); /* merged */
	assert_int_equal(nvh_tx_running(pool)->snap[0].len, 13 * 8);
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

NVH_TYPE(tnode);
NVH_TYPE(thold);
NVH_TYPE(tman);

struct tnode {
	uint64_t v;
	tnode_ptr next;
	uint64_t w;
};

struct thold {
	uint64_t n;
	tnode_ptr a, b;
	nvh_oid any;
	tnode_ptr kid[3];
};

struct tman {
	tnode_ptr p;
};

NVH_TYPE_DEFINE(tnode, 0, NVH_PTR(tnode, next, tnode));
NVH_TYPE_DEFINE(tman, NVH_TYPE_MANUAL, NVH_PTR(tman, p, tnode));
NVH_TYPE_DEFINE(thold, 0, NVH_PTR(thold, a, tnode) NVH_PTR(thold, b, tnode)
		{offsetof(struct thold, any), 0, NULL, 0},
		NVH_PTR_N(thold, kid, 3, tnode));

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

static nvh_pool *
typed_tx_pool(const char *name, uint64_t size)
{
	const char *p = nvt_path(name);
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "tx", size, NULL));
	assert_nvh_ok(nvh_type_register(pool, &tnode_type));
	assert_nvh_ok(nvh_type_register(pool, &thold_type));
	assert_nvh_ok(nvh_type_register(pool, &tman_type));
	return pool;
}

/* The commit fails with EINVAL naming `what`, and is rolled back. */
static void
commit_refused(nvh_tx *tx, const char *what)
{
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	assert_errmsg_has("rolled back");
	assert_errmsg_has(what);
}

/* A plain store into a strong pointer field bypasses the counts: the
 * commit must fail and roll back, whether the field was snapshotted with
 * nvh_tx_add, set with nvh_tx_set first, or is in a new object. */
static void
raw_pointer_stores_are_refused(void **state)
{
	(void)state;
	nvh_pool *pool = typed_tx_pool("rawstore.pool", 8 * MIB);
	thold_ptr hp = NVH_ROOT(pool, thold);
	assert_false(NVH_IS_NULL(hp));
	struct thold *hd = thold_d(pool, hp);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	tnode_ptr n1 = NVH_TX_ALLOC(tx, tnode), n2 = NVH_TX_ALLOC(tx, tnode);
	assert_nvh_ok(NVH_TX_SET(tx, &hd->a, n1));
	assert_nvh_ok(NVH_TX_SET(tx, &hd->kid[1], n2));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nvh_refcount(pool, n1.oid), 1);
	uint64_t objs = objects(pool);

	/* snapshot, then a plain store of a live object */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, hd, sizeof(*hd)));
	hd->n = 5;
	hd->b = n1;
	commit_refused(tx, "\"thold\" field 1");
	assert_true(NVH_IS_NULL(hd->b));
	assert_int_equal(hd->n, 0);
	/* a plain store of null (the old target would keep its count) */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, &hd->kid[0], 3 * sizeof(hd->kid[0])));
	hd->kid[1] = NVH_NULL(tnode);
	commit_refused(tx, "\"thold\" field 3");
	assert_int_equal(hd->kid[1].oid.off, n2.oid.off);
	/* after a checked store of the same field */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &hd->b, n2));
	hd->b = n1;
	commit_refused(tx, "\"thold\" field 1");
	assert_true(NVH_IS_NULL(hd->b));
	/* the root slot after a checked store */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvh_oid *rs = nvh_root_slot(pool);
	assert_nvh_ok(nvh_tx_set(tx, rs, hp.oid));
	rs->off = n1.oid.off;
	commit_refused(tx, "root slot");
	assert_int_equal(rs->off, hp.oid.off);
	/* a new object's field, stored plainly */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	tnode_ptr m = NVH_TX_ALLOC(tx, tnode);
	tnode_d(pool, m)->next = n1;
	tnode_d(pool, m)->v = 7; /* scalars are the caller's */
	assert_nvh_ok(NVH_TX_SET(tx, &hd->b, m));
	commit_refused(tx, "\"tnode\" field 0");
	assert_true(NVH_IS_NULL(hd->b));
	/* many checked stores (indexed, not searched), one plain store */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	tnode_ptr c = NVH_NULL(tnode), c5 = c;
	for (int i = 0; i < 40; i++) {
		tnode_ptr x = NVH_TX_ALLOC(tx, tnode);
		assert_nvh_ok(NVH_TX_SET(tx, &tnode_d(pool, x)->next, c));
		c5 = i == 5 ? x : c5;
		c = x;
	}
	assert_nvh_ok(NVH_TX_SET(tx, &hd->b, c));
	tnode_d(pool, c5)->next = n2;
	commit_refused(tx, "\"tnode\" field 0 (offset 8) of the new object");
	assert_int_equal(objects(pool), objs);
	assert_int_equal(nvh_refcount(pool, n1.oid), 1);
	assert_int_equal(nvh_refcount(pool, n2.oid), 1);
	assert_nvh_ok(nvh_check(pool, NULL, stderr));

	/* what is allowed still commits: scalars of a snapshotted typed
	 * object, checked stores into it, a new object's checked fields */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, hd, sizeof(*hd)));
	hd->n = 6;
	m = NVH_TX_ALLOC(tx, tnode);
	assert_nvh_ok(NVH_TX_SET(tx, &tnode_d(pool, m)->next, n1));
	tnode_d(pool, m)->v = 8;
	assert_nvh_ok(NVH_TX_SET(tx, &hd->b, m));
	assert_nvh_ok(NVH_TX_SET(tx, &hd->a, NVH_NULL(tnode)));
	tman_ptr g = NVH_TX_ALLOC(tx, tman); /* stored into, then freed */
	assert_nvh_ok(NVH_TX_SET(tx, &tman_d(pool, g)->p, n2));
	assert_nvh_ok(nvh_tx_free(tx, g.oid));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nvh_refcount(pool, n1.oid), 1);
	pool = reopen(pool, "rawstore.pool");
	assert_nvh_ok(nvh_type_register(pool, &tnode_type));
	assert_nvh_ok(nvh_type_register(pool, &thold_type));
	hd = thold_d(pool, NVH_ROOT(pool, thold));
	assert_int_equal(hd->n, 6);
	assert_int_equal(tnode_d(pool, hd->b)->v, 8);
	assert_nvh_ok(nvh_check(pool, NULL, stderr));
	assert_nvh_ok(nvh_close(pool));
}

#define NSCALE 100000

/* A transaction snapshotting 100,000 typed objects and changing their
 * scalars commits (and quickly); one plain pointer store among them
 * fails the commit and all 100,000 are rolled back. */
static void
raw_store_check_at_scale(void **state)
{
	(void)state;
	nvh_pool *pool = typed_tx_pool("rawscale.pool", 64 * MIB);
	struct thold *hd = thold_d(pool, NVH_ROOT(pool, thold));
	/* a chain of NSCALE nodes from hd->a, built 10,000 at a time */
	for (int batch = 0; batch < NSCALE / 10000; batch++) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		for (int i = 0; i < 10000; i++) {
			tnode_ptr n = NVH_TX_ALLOC(tx, tnode);
			assert_nvh_ok(NVH_TX_SET(tx, &tnode_d(pool, n)->next,
						 hd->a));
			assert_nvh_ok(NVH_TX_SET(tx, &hd->a, n));
		}
		assert_nvh_ok(nvh_tx_commit(tx));
	}
	for (int round = 0; round < 2; round++) {
		struct timespec t0, t1, t2;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		tnode_ptr mid = NVH_NULL(tnode);
		int k = 0;
		for (tnode_ptr p = hd->a; !NVH_IS_NULL(p); k++) {
			struct tnode *x = tnode_d(pool, p);
			assert_nvh_ok(nvh_tx_add(tx, x, sizeof(*x)));
			x->v += 1;
			x->w = (uint64_t)k;
			if (k == NSCALE / 2)
				mid = p;
			p = x->next;
		}
		assert_int_equal(k, NSCALE);
		if (round == 1) /* one plain pointer store among them */
			tnode_d(pool, mid)->next = NVH_NULL(tnode);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (round == 0) {
			assert_nvh_ok(nvh_tx_commit(tx));
		} else {
			commit_refused(tx, "\"tnode\" field 0");
		}
		clock_gettime(CLOCK_MONOTONIC, &t2);
		double add = (double)(t1.tv_sec - t0.tv_sec) +
			     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		double commit = (double)(t2.tv_sec - t1.tv_sec) +
				(double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
		printf("    %d typed snapshots: %.3f s, commit%s %.3f s\n",
		       NSCALE, add, round ? " (refused, rolled back)" : "",
		       commit);
		assert_true(commit < 2.0);
	}
	/* reopened (a log chunk holding the last record stays reserved
	 * until its lane moves on, which nvh_check takes for a problem) */
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(nvt_path("rawscale.pool"), "tx", NULL));
	assert_nvh_ok(nvh_type_register(pool, &tnode_type));
	assert_nvh_ok(nvh_type_register(pool, &thold_type));
	hd = thold_d(pool, NVH_ROOT(pool, thold));
	int k = 0;
	for (tnode_ptr p = hd->a; !NVH_IS_NULL(p); k++) {
		struct tnode *x = tnode_d(pool, p);
		assert_int_equal(x->v, 1); /* the first round only */
		assert_int_equal(x->w, (uint64_t)k);
		p = x->next;
	}
	assert_int_equal(k, NSCALE);
	assert_nvh_ok(nvh_check(pool, NULL, stderr));
	assert_nvh_ok(nvh_close(pool));
}

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
		cmocka_unit_test(commit_and_abort),
		cmocka_unit_test(alloc_link_unlink_free),
		cmocka_unit_test(failure_inside_tx),
		cmocka_unit_test(nesting_flattens),
		cmocka_unit_test(snapshot_merging_and_budget),
		cmocka_unit_test(huge_transactions),
		cmocka_unit_test(crash_recovery),
		cmocka_unit_test(full_pool_rollback_is_recorded),
		cmocka_unit_test(rollback_gives_space_back),
		cmocka_unit_test(own_blocks_are_given_back),
		cmocka_unit_test(threads),
		cmocka_unit_test(sequence_numbers_never_wrap),
		cmocka_unit_test(stale_handles),
		cmocka_unit_test(tx_add_refuses_metadata),
		cmocka_unit_test(raw_pointer_stores_are_refused),
		cmocka_unit_test(raw_store_check_at_scale),
	};
	return cmocka_run_group_tests_name("tx", tests, NULL, NULL);
}
