/*
 * test_handles.c -- what a pool handle shows and who may use it: the
 * read-only view of a pool not closed cleanly (recovered in memory, the
 * file untouched), closed handles (a second close, calls after close,
 * two threads closing), and handles inherited by fork (refused, the
 * parent's pool intact and locked, the lock gone with the parent's close).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/checksum.h"
#include "heap/heap.h"
#include "heap/layout.h"
#include "heap/pool.h"

#define MIB (1024u * 1024u)

/* A new 4 MiB pool, open. */
static nvh_pool *
new_pool(const char *p, const char *layout)
{
	unlink(p);
	return assert_nvh_ptr(nvh_create(p, layout, 4 * MIB, NULL));
}

/* ---- read-only opens of a pool not closed cleanly ---- */

/* A big structure: 400 pages of 256 counted items (102,400 objects), and
 * a chain of 3,000 nodes.  Each round's transaction sets `gen` of every
 * item of 20 pages to the round and replaces 64 of their items. */
NVH_TYPE(vitem);
NVH_TYPE(vpage);
NVH_TYPE(vnode);
NVH_TYPE(vtop);
NVH_TYPE(vother);
#define VPAGES 400
#define VPER 256
#define VROUND_PAGES 20
#define VCHAIN 3000
struct vitem {
	uint64_t id, gen;
};
struct vother {
	uint64_t x;
};
struct vpage {
	vitem_ptr it[VPER];
};
struct vnode {
	uint64_t v;
	vnode_ptr next;
};
struct vtop {
	uint64_t round;
	vnode_ptr chain;
	vpage_ptr page[VPAGES];
};
NVH_TYPE_DEFINE(vitem, 0);
NVH_TYPE_DEFINE(vother, 0);
NVH_TYPE_DEFINE(vpage, 0, NVH_PTR_N(vpage, it, VPER, vitem));
NVH_TYPE_DEFINE(vnode, 0, NVH_PTR(vnode, next, vnode));
NVH_TYPE_DEFINE(vtop, 0, NVH_PTR(vtop, chain, vnode)
		NVH_PTR_N(vtop, page, VPAGES, vpage));

static struct vtop *
vtypes(nvh_pool *pool)
{
	static const struct nvh_type *t[] = {&vitem_type, &vpage_type,
					     &vnode_type, &vtop_type};
	for (int i = 0; i < 4; i++)
		if (nvh_type_register(pool, t[i]))
			return NULL;
	vtop_ptr r = NVH_ROOT(pool, vtop);
	return NVH_IS_NULL(r) ? NULL : vtop_d(pool, r);
}

static void
vbuild(const char *p)
{
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "v", 64 * MIB, NULL));
	struct vtop *top = vtypes(pool);
	if (!top)
		fail_msg("%s", nvh_errormsg());
	for (int pg = 0; pg < VPAGES; pg++) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		vpage_ptr pp = NVH_TX_ALLOC(tx, vpage);
		struct vpage *page = vpage_d(pool, pp);
		for (int k = 0; page && k < VPER; k++) {
			vitem_ptr ip = NVH_TX_ALLOC(tx, vitem);
			if (!NVH_IS_NULL(ip))
				vitem_d(pool, ip)->id = (uint64_t)pg * VPER + k;
			NVH_TX_SET(tx, &page->it[k], ip);
		}
		NVH_TX_SET(tx, &top->page[pg], pp);
		assert_nvh_ok(nvh_tx_commit(tx));
	}
	for (int i = 0; i < VCHAIN; i += 500) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		for (int k = 0; k < 500; k++) {
			vnode_ptr n = NVH_TX_ALLOC(tx, vnode);
			if (!NVH_IS_NULL(n))
				NVH_TX_SET(tx, &vnode_d(pool, n)->next, top->chain);
			NVH_TX_SET(tx, &top->chain, n);
		}
		assert_nvh_ok(nvh_tx_commit(tx));
	}
	assert_nvh_ok(nvh_close(pool));
}

static int
vround(nvh_pool *pool, struct vtop *top, uint64_t r, int die)
{
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx || nvh_tx_add(tx, &top->round, 8))
		return 1;
	top->round = r;
	for (int i = 0; i < VROUND_PAGES; i++) {
		if (die && i == VROUND_PAGES / 2)
			kill(getpid(), SIGKILL); /* half of it applied in place */
		int pg = (int)((r - 1) * VROUND_PAGES + i) % VPAGES;
		struct vpage *page = vpage_d(pool, top->page[pg]);
		for (int k = 0; k < VPER; k++) {
			if (k % 64 == 7) { /* a new item: the old one is freed */
				vitem_ptr n = NVH_TX_ALLOC(tx, vitem);
				if (!NVH_IS_NULL(n))
					vitem_d(pool, n)->id = vitem_d(pool,
						page->it[k])->id;
				if (NVH_TX_SET(tx, &page->it[k], n))
					return 2;
			}
			struct vitem *it = vitem_d(pool, page->it[k]);
			if (nvh_tx_add(tx, &it->gen, 8))
				return 3;
			it->gen = r;
		}
	}
	return nvh_tx_commit(tx) ? 4 : 0;
}

/* Two rounds committed, a pinned node left dying with the whole chain
 * behind it, then killed in the middle of the third round. */
static int
vkilled_writer(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "v", NULL);
	struct vtop *top = pool ? vtypes(pool) : NULL;
	if (!top)
		return 1;
	if (nvh_pin(pool, top->chain.oid))
		return 2;
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx || NVH_TX_SET(tx, &top->chain, NVH_NULL(vnode)) ||
	    nvh_tx_commit(tx))
		return 3;
	for (uint64_t r = 1; r <= 3; r++)
		if (vround(pool, top, r, r == 3))
			return 4;
	return 5;
}

/* The state after rounds 1 and 2: every item's gen is its page's round. */
static void
vassert_state(nvh_pool *pool)
{
	struct vtop *top = vtypes(pool);
	if (!top)
		fail_msg("%s", nvh_errormsg());
	assert_int_equal(top->round, 2);
	assert_true(NVH_IS_NULL(top->chain));
	for (int pg = 0; pg < VPAGES; pg++) {
		struct vpage *page = vpage_d(pool, top->page[pg]);
		uint64_t want = pg < VROUND_PAGES ? 1 : pg < 2 * VROUND_PAGES ? 2 : 0;
		assert_non_null(page);
		for (int k = 0; k < VPER; k++) {
			struct vitem *it = vitem_d(pool, page->it[k]);
			assert_non_null(it);
			if (it->gen != want || it->id != (uint64_t)pg * VPER + k)
				fail_msg("page %d item %d: gen %" PRIu64 " id %"
					 PRIu64 ", expected gen %" PRIu64, pg, k,
					 it->gen, it->id, want);
		}
	}
	struct nvh_check_report rep;
	if (nvh_check(pool, &rep, stderr))
		fail_msg("nvh_check: %" PRIu64 " problems", rep.problems);
	assert_int_equal(rep.dying, 0);
}

struct vobjs {
	size_t n, cap;
	struct vobj { uint64_t off, size, word; uint32_t type; } *o;
};

static int
vcollect(void *arg, uint64_t off, uint64_t size, uint32_t type)
{
	struct vobjs *v = arg;
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 1024;
		v->o = realloc(v->o, v->cap * sizeof(*v->o));
		assert_non_null(v->o);
	}
	v->o[v->n++] = (struct vobj){off, size, 0, type};
	return 0;
}

/* Object by object: the same blocks, headers and contents. */
static void
vassert_same_objects(nvh_pool *a, nvh_pool *b)
{
	struct vobjs va = {0}, vb = {0};
	assert_int_equal(nvh_heap_foreach(a, vcollect, &va), 0);
	assert_int_equal(nvh_heap_foreach(b, vcollect, &vb), 0);
	assert_int_equal(va.n, vb.n);
	assert_true(va.n > VPAGES * VPER);
	for (size_t i = 0; i < va.n; i++) {
		struct vobj *x = &va.o[i], *y = &vb.o[i];
		if (x->off != y->off || x->size != y->size || x->type != y->type)
			fail_msg("object %zu: at %" PRIu64 " (%" PRIu64 " bytes, "
				 "type %" PRIu32 ") vs at %" PRIu64 " (%" PRIu64
				 ", %" PRIu32 ")", i, x->off, x->size, x->type,
				 y->off, y->size, y->type);
		nvh_oid o = {nvh_oid_tagged(a, x->off)};
		if (nvh_refcount(a, o) != nvh_refcount(b, (nvh_oid){
			    nvh_oid_tagged(b, y->off)}) ||
		    memcmp(nvh_pool_at(a, x->off), nvh_pool_at(b, y->off),
			   x->size) != 0)
			fail_msg("object at %" PRIu64 ": count or contents differ",
				 x->off);
	}
	/* root slot, dying list, type table */
	assert_memory_equal(nvh_pool_at(a, NVH_HEAP_OFFSET + NVH_HEAP_ROOT_REL),
			    nvh_pool_at(b, NVH_HEAP_OFFSET + NVH_HEAP_ROOT_REL),
			    24);
	free(va.o);
	free(vb.o);
}

static uint64_t
file_sum(const char *p)
{
	size_t n = nvt_file_size(p);
	char *buf = malloc(n);
	assert_non_null(buf);
	nvt_pread(p, 0, buf, n);
	uint64_t s = nvh_checksum(buf, n);
	free(buf);
	return s;
}

static void
copy_file(const char *from, const char *to)
{
	size_t n = nvt_file_size(from);
	char *buf = malloc(n);
	assert_non_null(buf);
	nvt_pread(from, 0, buf, n);
	unlink(to);
	int fd = open(to, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
	free(buf);
}

/* Kilobytes of the mapping at `base` this process holds privately (its
 * copied-on-write pages; the others are the file's page cache). */
static long
private_kb(const void *base)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	char line[512];
	int in = 0;
	long kb = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2)
			in = s == (uintptr_t)base;
		else if (in && sscanf(line, "Anonymous: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* A read-only open of a killed writer's pool shows exactly what a
 * read-write open recovers (it used to show the half-applied transaction
 * and the dying chain), and leaves the file as it was. */
static void
rdonly_view_of_killed_writer(void **state)
{
	(void)state;
	const char *p = nvt_path("view.pool"), *q = nvt_path("view-copy.pool");
	vbuild(p);
	assert_int_equal(nvt_in_child(vkilled_writer, (void *)p), 128 + SIGKILL);
	uint64_t sum = file_sum(p);
	copy_file(p, q);

	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	nvh_pool *view = assert_nvh_ptr(nvh_open(p, "v", &ro));
	vassert_state(view);
	nvh_pool *rec = assert_nvh_ptr(nvh_open(q, "v", NULL));
	vassert_state(rec);
	vassert_same_objects(view, rec);
	assert_nvh_ok(nvh_close(rec));

	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(view, &i));
	assert_true(i.rdonly);
	assert_false(i.was_clean);
	assert_true(i.recovered_view);
	assert_true(i.recovered_records > 0);
	assert_string_equal(i.persist_name, "none");
	long kb = private_kb(nvh_pool_at(view, 0));
	printf("read-only view of a 64 MiB pool: %ld KiB copied on write\n", kb);
	assert_true(kb > 0 && kb < 2048);

	/* read-only like any other: every write refused */
	struct vtop *top = vtypes(view);
	assert_nvh_null_errno(nvh_tx_begin(view), EROFS);
	assert_int_equal(nvh_alloc(view, &top->page[0].oid, 64, 0, NULL, NULL),
			 -EROFS);
	assert_int_equal(nvh_persist(view, &top->round, 8), -EROFS);
	assert_int_equal(nvh_type_register(view, &vother_type), -EROFS);
	/* other read-only opens share it; a read-write one waits for them */
	nvh_pool *view2 = assert_nvh_ptr(nvh_open(p, "v", &ro));
	vassert_state(view2);
	assert_nvh_null_errno(nvh_open(p, "v", NULL), EBUSY);
	assert_nvh_ok(nvh_close(view2));
	assert_nvh_ok(nvh_close(view));
	assert_int_equal(file_sum(p), sum);

	/* the file still needs its recovery, which finds the same state */
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "v", NULL));
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_false(i.was_clean);
	assert_false(i.recovered_view);
	vassert_state(pool);
	assert_nvh_ok(nvh_close(pool));
	/* and a clean pool's read-only open is no view */
	view = assert_nvh_ptr(nvh_open(p, "v", &ro));
	assert_nvh_ok(nvh_pool_info(view, &i));
	assert_true(i.was_clean);
	assert_false(i.recovered_view);
	assert_string_not_equal(i.persist_name, "none");
	assert_nvh_ok(nvh_close(view));
}

/* ---- handles: closed twice, inherited by fork ---- */

/* A second nvh_close used to free the handle again (a crash, or heap
 * corruption): now every call on a closed handle says so. */
static void
closed_handles_are_refused(void **state)
{
	(void)state;
	const char *p = nvt_path("closed.pool");
	nvh_pool *pool = new_pool(p, "cl");
	nvt_scratch(pool, 64);
	nvh_oid o = *nvh_root_slot(pool);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvh_close(pool), -EBADF);
	assert_errmsg_has("not an open pool");
	assert_nvh_null_errno(nvh_tx_begin(pool), EBADF);
	assert_errmsg_has("the pool handle is closed");
	assert_errmsg_has(p);
	assert_int_equal(nvh_alloc(pool, &o, 64, 0, NULL, NULL), -EBADF);
	assert_int_equal(nvh_free(pool, &o), -EBADF);
	char x[8];
	assert_int_equal(nvh_persist(pool, x, 8), -EBADF);
	assert_int_equal(nvh_drain(pool), -EBADF);
	struct nvh_pool_info i;
	assert_int_equal(nvh_pool_info(pool, &i), -EBADF);
	struct nvh_persist_stats st;
	assert_int_equal(nvh_persist_stats(pool, &st), -EBADF);
	struct nvh_stats hs;
	assert_int_equal(nvh_stats(pool, &hs), -EBADF);
	struct nvh_check_report rep;
	assert_int_equal(nvh_check(pool, &rep, NULL), -EINVAL);
	assert_int_equal(nvh_refcount(pool, o), 0);
	assert_null(nvh_direct(pool, o));
	assert_null(nvh_root_slot(pool));

	/* handles closed long ago: still refused, never dereferenced */
	nvh_pool *old[100];
	for (int k = 0; k < 100; k++) {
		old[k] = assert_nvh_ptr(nvh_open(p, "cl", NULL));
		assert_nvh_ok(nvh_close(old[k]));
	}
	for (int k = 0; k < 100; k++)
		assert_int_equal(nvh_close(old[k]), -EBADF);
	pool = assert_nvh_ptr(nvh_open(p, "cl", NULL));
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_true(i.was_clean);
	assert_nvh_ok(nvh_close(pool));
}

static void *
close_it(void *arg)
{
	return (void *)(intptr_t)nvh_close(arg);
}

/* Two threads closing one handle: one closes it, the other is told. */
static void
concurrent_closes(void **state)
{
	(void)state;
	const char *p = nvt_path("cclose.pool");
	assert_nvh_ok(nvh_close(new_pool(p, "cc")));
	for (int round = 0; round < 200; round++) {
		nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "cc", NULL));
		pthread_t a, b;
		void *ra, *rb;
		assert_int_equal(pthread_create(&a, NULL, close_it, pool), 0);
		assert_int_equal(pthread_create(&b, NULL, close_it, pool), 0);
		pthread_join(a, &ra);
		pthread_join(b, &rb);
		int x = (int)(intptr_t)ra, y = (int)(intptr_t)rb;
		if (!((x == 0 && (y == -EBADF || y == -EBUSY)) ||
		      (y == 0 && (x == -EBADF || x == -EBUSY))))
			fail_msg("round %d: nvh_close returned %d and %d", round,
				 x, y);
	}
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "cc", NULL));
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_true(i.was_clean);
	assert_nvh_ok(nvh_close(pool));
}


struct forked {
	nvh_pool *pool;
	const char *path;
	uint64_t *word;  /* 42, in the pool */
	nvh_tx *tx;      /* the parent's open transaction, or NULL */
};

/* In a fork child, with the parent's handle: reads work, every write is
 * refused, a store through a pointer stays here, close frees the copy. */
static int
child_with_parents_handle(void *arg)
{
	struct forked *f = arg;
	nvh_pool *pool = f->pool;
	if (*f->word != 42)
		return 1;
	struct nvh_pool_info i;
	if (nvh_pool_info(pool, &i) || i.rdonly)
		return 2;
	errno = 0;
	if (nvh_tx_begin(pool) || errno != EPERM ||
	    !strstr(nvh_errormsg(), "inherited the handle by fork"))
		return 3;
	if (f->tx && (nvh_tx_add(f->tx, f->word, 8) != -EPERM ||
		      nvh_tx_commit(f->tx) != -EPERM ||
		      nvh_tx_abort(f->tx) != -EPERM))
		return 4;
	nvh_oid slot = NVH_OID_NULL;
	if (nvh_alloc(pool, &slot, 64, 0, NULL, NULL) != -EPERM ||
	    nvh_free(pool, nvh_root_slot(pool)) != -EPERM)
		return 5;
	if (nvh_persist(pool, f->word, 8) != -EPERM ||
	    nvh_flush(pool, f->word, 8) != -EPERM ||
	    nvh_drain(pool) != -EPERM ||
	    nvh_memset_persist(pool, f->word, 0, 8) != -EPERM ||
	    nvh_memcpy_persist(pool, f->word, &slot, 8) != -EPERM)
		return 6;
	/* (inside the inherited transaction: EBUSY, as in the parent) */
	if (nvh_type_register(pool, &vother_type) != (f->tx ? -EBUSY : -EPERM))
		return 7;
	*f->word = 7; /* in the child's private copy only */
	if (*f->word != 7)
		return 8;
	/* the lock is still the parent's */
	if (nvh_open(f->path, NULL, NULL) || errno != EBUSY)
		return 9;
	if (nvh_close(pool) != 0)
		return 10;
	if (nvh_close(pool) != -EBADF)
		return 11;
	return 0;
}

static int
child_open_expect_busy_any(void *arg)
{
	errno = 0;
	return nvh_open(arg, NULL, NULL) || errno != EBUSY;
}

/* A forked child using its parent's handle used to write to the pool,
 * and its nvh_close marked the parent's open pool clean. */
static void
fork_child_cannot_write(void **state)
{
	(void)state;
	const char *p = nvt_path("fork.pool");
	nvh_pool *pool = new_pool(p, "fk");
	uint64_t *w = nvt_scratch(pool, 64);
	*w = 42;
	assert_nvh_ok(nvh_persist(pool, w, 8));
	struct forked f = {pool, p, w, NULL};
	assert_int_equal(nvt_in_child(child_with_parents_handle, &f), 0);
	/* inside a transaction */
	f.tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(f.tx, w + 1, 8));
	w[1] = 5;
	assert_int_equal(nvt_in_child(child_with_parents_handle, &f), 0);
	assert_nvh_ok(nvh_tx_commit(f.tx));
	/* the parent's pool: unchanged, open, locked, usable */
	assert_int_equal(w[0], 42);
	assert_int_equal(w[1], 5);
	assert_int_equal(nvt_in_child(child_open_expect_busy_any, (void *)p), 0);
	struct nvh_pool_hdr h[2];
	nvt_pread(p, NVH_HDR_A_OFFSET, &h[0], sizeof(h[0]));
	nvt_pread(p, NVH_HDR_B_OFFSET, &h[1], sizeof(h[1]));
	assert_int_equal(h[h[1].seq > h[0].seq].clean_shutdown, 0);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_add(tx, w, 8));
	w[0] = 43;
	assert_nvh_ok(nvh_tx_commit(tx));
	struct nvh_check_report rep;
	assert_nvh_ok(nvh_check(pool, &rep, stderr));
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "fk", NULL));
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_true(i.was_clean);
	w = nvh_direct(pool, *nvh_root_slot(pool));
	assert_int_equal(w[0], 43);
	assert_int_equal(w[1], 5);
	assert_nvh_ok(nvh_close(pool));
}

/* The parent's close releases the lock even while a child it forked
 * lives on (the child's copy of the descriptor used to keep it). */
static void
fork_child_holds_no_lock(void **state)
{
	(void)state;
	const char *p = nvt_path("forklock.pool");
	nvh_pool *pool = new_pool(p, "fl");
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		close(fds[1]);
		_exit(read(fds[0], &c, 1) == 0 ? 0 : 1); /* until the parent says */
	}
	close(fds[0]);
	assert_nvh_ok(nvh_close(pool));
	pool = nvh_open(p, "fl", NULL);
	if (!pool)
		fail_msg("reopen while the child lives: %s", nvh_errormsg());
	assert_nvh_ok(nvh_close(pool));
	close(fds[1]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

struct counter_thread {
	nvh_pool *pool;
	uint64_t *word;
	_Atomic int *stop;
	uint64_t commits;
};

static void *
count_up(void *arg)
{
	struct counter_thread *c = arg;
	while (!atomic_load(c->stop)) {
		nvh_tx *tx = nvh_tx_begin(c->pool);
		if (!tx || nvh_tx_add(tx, c->word, 8))
			break;
		(*c->word)++;
		if (nvh_tx_commit(tx))
			break;
		c->commits++;
	}
	return NULL;
}

static int
child_refused(void *arg)
{
	nvh_pool *pool = arg;
	nvh_oid slot = NVH_OID_NULL;
	if (nvh_tx_begin(pool) || errno != EPERM)
		return 1;
	if (nvh_alloc(pool, &slot, 64, 0, NULL, NULL) != -EPERM)
		return 2;
	return nvh_close(pool) ? 3 : 0;
}

/* Children forked while two threads run transactions: each child is
 * refused at once (no lane or lock a parent thread held stops it), and
 * the parent's counters end up exactly at its commits. */
static void
fork_under_running_transactions(void **state)
{
	(void)state;
	const char *p = nvt_path("forkmt.pool");
	nvh_pool *pool = new_pool(p, "fm");
	uint64_t *w = nvt_scratch(pool, 128);
	memset(w, 0, 128);
	assert_nvh_ok(nvh_persist(pool, w, 128));
	_Atomic int stop = 0;
	struct counter_thread c[2] = {{pool, &w[0], &stop, 0},
				      {pool, &w[8], &stop, 0}};
	pthread_t th[2];
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&th[k], NULL, count_up, &c[k]), 0);
	for (int k = 0; k < 20; k++) {
		alarm(20);
		assert_int_equal(nvt_in_child(child_refused, pool), 0);
		usleep(2000);
	}
	alarm(0);
	atomic_store(&stop, 1);
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	assert_true(c[0].commits > 0 && c[1].commits > 0);
	assert_int_equal(w[0], c[0].commits);
	assert_int_equal(w[8], c[1].commits);
	struct nvh_check_report rep;
	assert_nvh_ok(nvh_check(pool, &rep, stderr));
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(p, "fm", NULL));
	w = nvh_direct(pool, *nvh_root_slot(pool));
	assert_int_equal(w[0], c[0].commits);
	assert_int_equal(w[8], c[1].commits);
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rdonly_view_of_killed_writer),
		cmocka_unit_test(closed_handles_are_refused),
		cmocka_unit_test(concurrent_closes),
		cmocka_unit_test(fork_child_cannot_write),
		cmocka_unit_test(fork_child_holds_no_lock),
		cmocka_unit_test(fork_under_running_transactions),
	};
	return cmocka_run_group_tests_name("handles", tests, NULL, NULL);
}
