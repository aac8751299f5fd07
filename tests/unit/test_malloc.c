/*
 * test_malloc.c -- nvh_malloc & co (nvheap/malloc.h): classes, errors, no
 * barrier on the fast path, the clean close that persists the state, the
 * collection after a crash (a child dies without closing), its bounded
 * work list, large blocks, nvh_gc, threads, a pool near full, and
 * nvh_check's view of malloc blocks.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/heap.h"
#include "heap/malloc.h"
#include "heap/pool.h"

#define MIB (1024u * 1024u)

static size_t
scaled(size_t n)
{
	const char *q = getenv("NVHEAP_TEST_QUICK");
	return q && *q == '1' ? n / 10 + 1 : n;
}

static nvh_pool *
new_pool(const char *name, uint64_t size)
{
	const char *p = nvt_path(name);
	unlink(p);
	return assert_nvh_ptr(nvh_create(p, "malloc", size, NULL));
}

static nvh_pool *
reopen(nvh_pool *pool, const char *name)
{
	if (pool)
		assert_nvh_ok(nvh_close(pool));
	return assert_nvh_ptr(nvh_open(nvt_path(name), "malloc", NULL));
}

static void
check_clean(nvh_pool *pool, uint64_t blocks, uint64_t reachable)
{
	struct nvh_check_report rep;
	if (nvh_check(pool, &rep, stderr) != 0)
		fail_msg("nvh_check: %s", nvh_errormsg());
	if (blocks != UINT64_MAX)
		assert_int_equal(rep.malloc_blocks, blocks);
	if (reachable != UINT64_MAX)
		assert_int_equal(rep.malloc_reachable, reachable);
}

/* ---- a persistent list of nvh_malloc nodes from the root slot ---- */

struct mnode {
	uint64_t next;  /* oid */
	uint64_t key;
	uint64_t size;
	uint64_t check; /* key ^ size ^ magic */
};

#define MAGIC 0x6e76686d616c6c63ull

static size_t
node_size(uint64_t key)
{
	/* mostly small, as data structures are; some 4000 (from 8 classes
	 * up) and a 40000-byte one (a logged object) in each thousand */
	static const size_t sizes[] = {32, 48, 100, 200, 40, 64, 128, 640};
	if (key % 1000 == 999)
		return 40000;
	if (key % 50 == 49)
		return key % 100 == 99 ? 16384 : 4000;
	return sizes[key % 8];
}

/* n nodes pushed on the list at the root (keys first..first+n), each
 * persisted before the link that publishes it; `loose` more allocated and
 * written but never linked. */
static void
push_nodes(nvh_pool *pool, uint64_t first, size_t n, size_t loose)
{
	nvh_oid *root = nvh_root_slot(pool);
	for (size_t i = 0; i < n + loose; i++) {
		uint64_t key = first + i;
		size_t sz = node_size(key);
		struct mnode *m = nvh_malloc(pool, sz);
		if (!m)
			fail_msg("nvh_malloc %zu: %s", sz, nvh_errormsg());
		memset(m, 0xab, sz);
		m->key = key;
		m->size = sz;
		m->check = key ^ sz ^ MAGIC;
		if (i >= n) {
			m->next = 0;
			continue;
		}
		m->next = root->off;
		assert_nvh_ok(nvh_persist(pool, m, sz));
		root->off = nvh_oid_of(pool, m).off;
		assert_nvh_ok(nvh_persist(pool, root, 8));
	}
}

/* The list holds exactly keys [0, n) (pushed in order), intact. */
static void
list_ok(nvh_pool *pool, size_t n)
{
	nvh_oid cur = *nvh_root_slot(pool);
	size_t seen = 0;
	uint64_t want = n;
	while (!NVH_OID_IS_NULL(cur)) {
		const struct mnode *m = nvh_direct(pool, cur);
		assert_non_null(m);
		want--;
		if (m->key != want || m->check != (m->key ^ m->size ^ MAGIC) ||
		    m->size != node_size(m->key))
			fail_msg("node %zu: key %" PRIu64 " (want %" PRIu64 ")",
				 seen, m->key, want);
		assert_true(nvh_malloc_usable_size(pool, m) >= m->size);
		const unsigned char *tail = (const unsigned char *)m + m->size - 1;
		if (m->size > sizeof(*m))
			assert_int_equal(*tail, 0xab);
		cur.off = m->next;
		seen++;
	}
	assert_int_equal(seen, n);
}

/* ---- classes ---- */

static void
classes(void **state)
{
	(void)state;
	for (size_t n = 0; n <= NVH_MALLOC_MAX; n++) {
		unsigned c = nvh_mclass_of(n);
		assert_true(c < NVH_MCLASSES);
		assert_true(nvh_mclasses[c].size >= n);
		if (c)
			assert_true(nvh_mclasses[c - 1].size < (n ? n : 1));
	}
	for (unsigned c = 0; c < NVH_MCLASSES; c++) {
		const struct nvh_mclass *m = &nvh_mclasses[c];
		assert_true(m->blocks_off % 64 == 0);
		assert_true(m->blocks_off * 8 >= m->nblocks);
		assert_true(m->blocks_off + (uint64_t)m->nblocks * m->size <=
			    256 * 1024);
		/* no room for one more */
		assert_true(m->blocks_off + (uint64_t)(m->nblocks + 1) * m->size >
				    256 * 1024 ||
			    ((m->nblocks + 1 + 7) / 8 + 63) / 64 * 64 >
				    m->blocks_off);
		assert_true(m->nwords <= NVH_MBM_WORDS);
		/* the reciprocal finds a block with no division: every
		 * offset of an arena (and a little past) */
		for (uint64_t rel = 0; rel < 256 * 1024 + 2 * m->size; rel++)
			if (nvh_mclass_div(m, rel) != rel / m->size)
				fail_msg("class %u (%u bytes): %" PRIu64 " / size "
					 "gives %" PRIu64, c, m->size, rel,
					 nvh_mclass_div(m, rel));
	}
	assert_int_equal(nvh_mclasses[0].nblocks, 16256);
}

static void
basics(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("basic.pool", 16 * MIB);
	char *a = assert_nvh_ptr(nvh_malloc(pool, 1));
	char *b = assert_nvh_ptr(nvh_malloc(pool, 0));
	assert_ptr_not_equal(a, b);
	assert_int_equal((uintptr_t)a % 16, 0);
	assert_int_equal(nvh_malloc_usable_size(pool, a), 16);
	char *c = assert_nvh_ptr(nvh_calloc(pool, 100, 10));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(c[i], 0);
	assert_int_equal(nvh_malloc_usable_size(pool, c), 1024);
	memset(c, 7, 1000);
	/* realloc: in place while the class fits, else moved with the data */
	assert_ptr_equal(nvh_realloc(pool, c, 900), c);
	char *d = assert_nvh_ptr(nvh_realloc(pool, c, 5000));
	assert_ptr_not_equal(d, c);
	for (int i = 0; i < 900; i++)
		assert_int_equal(d[i], 7);
	assert_int_equal(nvh_mfree(pool, c), -EINVAL); /* moved: c is free */
	assert_errmsg_has("not allocated");
	char *big = assert_nvh_ptr(nvh_malloc(pool, 3 * MIB));
	assert_true(nvh_malloc_usable_size(pool, big) >= 3 * MIB);
	memset(big, 1, 3 * MIB);
	char *big2 = assert_nvh_ptr(nvh_realloc(pool, big, 4 * MIB));
	assert_int_equal(big2[3 * MIB - 1], 1);
	assert_null(nvh_realloc(pool, b, 0)); /* frees */
	assert_int_equal(nvh_mfree(pool, b), -EINVAL);
	assert_nvh_ok(nvh_mfree(pool, a));
	assert_nvh_ok(nvh_mfree(pool, d));
	assert_nvh_ok(nvh_mfree(pool, big2));
	assert_nvh_ok(nvh_mfree(pool, NULL));
	check_clean(pool, 0, 0);
	assert_nvh_ok(nvh_close(pool));
}

static void
errors(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("errors.pool", 8 * MIB);
	char *a = assert_nvh_ptr(nvh_malloc(pool, 64));
	assert_int_equal(nvh_mfree(pool, a + 16), -EINVAL);
	assert_errmsg_has("not the start of a block");
	int local;
	assert_int_equal(nvh_mfree(pool, &local), -EINVAL);
	assert_errmsg_has("not a block of this pool");
	assert_int_equal(nvh_mfree(NULL, a), -EINVAL);
	/* an object of the logged allocator */
	assert_nvh_ok(nvh_alloc(pool, nvh_root_slot(pool), 64, 1, NULL, NULL));
	void *obj = nvh_direct(pool, *nvh_root_slot(pool));
	assert_int_equal(nvh_mfree(pool, obj), -EINVAL);
	assert_errmsg_has("nvh_free");
	assert_int_equal(nvh_malloc_usable_size(pool, obj), 0);
	assert_nvh_ok(nvh_free(pool, nvh_root_slot(pool)));
	assert_nvh_null_errno(nvh_calloc(pool, SIZE_MAX / 2, 4), ENOMEM);
	assert_errmsg_has("overflows");
	assert_nvh_null_errno(nvh_malloc(NULL, 8), EINVAL);
	assert_nvh_ok(nvh_mfree(pool, a));
	assert_int_equal(nvh_mfree(pool, a), -EINVAL);
	assert_errmsg_has("double free");
	assert_nvh_ok(nvh_close(pool));
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	pool = assert_nvh_ptr(nvh_open(nvt_path("errors.pool"), "malloc", &ro));
	assert_nvh_null_errno(nvh_malloc(pool, 8), EROFS);
	assert_int_equal(nvh_gc(pool, NULL), -EROFS);
	assert_nvh_ok(nvh_close(pool));
}

/* The fast path: no flush, no fence. */
static void
no_barriers(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("nobarrier.pool", 32 * MIB);
	void *keep[256];
	for (int i = 0; i < 256; i++)
		keep[i] = assert_nvh_ptr(nvh_malloc(pool, 16 + 16 * (i % 64)));
	for (int i = 0; i < 256; i++)
		assert_nvh_ok(nvh_mfree(pool, keep[i]));
	nvh_persist_stats_reset(pool);
	size_t n = scaled(1000000);
	for (size_t i = 0; i < n; i++) {
		void *p = nvh_malloc(pool, 16 + 16 * (i % 64));
		if (!p)
			fail_msg("%s", nvh_errormsg());
		keep[i % 256] = p;
		if (i % 256 == 255)
			for (int k = 0; k < 256; k++)
				assert_nvh_ok(nvh_mfree(pool, keep[k]));
	}
	struct nvh_persist_stats ps;
	assert_nvh_ok(nvh_persist_stats(pool, &ps));
	printf("%zu malloc/free pairs: %" PRIu64 " flushes, %" PRIu64
	       " fences\n", n, ps.flushes, ps.fences);
	assert_int_equal(ps.fences, 0);
	assert_int_equal(ps.flushes, 0);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- the clean close ---- */

static void
clean_close_keeps_the_state(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("clean.pool", 256 * MIB);
	size_t n = scaled(200000);
	push_nodes(pool, 0, n, 1000);
	struct nvh_stats st = nvt_stats(pool);
	assert_int_equal(st.malloc_blocks + st.objects, n + 1000);
	pool = reopen(pool, "clean.pool");
	struct nvh_gc_report gr;
	nvh_gc_last(pool, &gr);
	assert_int_equal(gr.marked, 0); /* clean: no collection */
	list_ok(pool, n);
	check_clean(pool, n + 1000, n);
	/* what is allocated stays allocated: new blocks never overlap it */
	struct nvh_stats st2 = nvt_stats(pool);
	assert_int_equal(st2.malloc_blocks, st.malloc_blocks);
	push_nodes(pool, n, n / 4, 0);
	list_ok(pool, n + n / 4);
	/* nvh_gc frees the 1000 never linked */
	assert_nvh_ok(nvh_gc(pool, &gr));
	printf("gc: %" PRIu64 " marked, %" PRIu64 " freed, %" PRIu64
	       " roots, %.3f s\n", gr.marked, gr.freed, gr.roots, gr.seconds);
	assert_int_equal(gr.marked, n + n / 4);
	assert_int_equal(gr.freed, 1000);
	check_clean(pool, n + n / 4, n + n / 4);
	list_ok(pool, n + n / 4);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- crashes ---- */

struct crash {
	const char *name;
	size_t first, n, loose;
	int frees; /* free (unlink first) every 7th node */
};

static int
crash_child(void *arg)
{
	struct crash *c = arg;
	nvh_pool *pool = nvh_open(nvt_path(c->name), "malloc", NULL);
	if (!pool)
		return 2;
	push_nodes(pool, c->first, c->n, c->loose);
	_exit(0); /* crash: no close, the state never reaches the medium */
}

static void
crash_collects(void **state)
{
	(void)state;
	struct crash c = {.name = "crash.pool", .n = scaled(200000),
			  .loose = scaled(50000)};
	nvh_pool *pool = new_pool(c.name, 512 * MIB);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(crash_child, &c), 0);
	pool = reopen(NULL, c.name);
	struct nvh_gc_report gr;
	nvh_gc_last(pool, &gr);
	printf("collection at open: %" PRIu64 " marked (%" PRIu64 " bytes), %"
	       PRIu64 " freed, %" PRIu64 " words, %" PRIu64 " rescans, %.3f s\n",
	       gr.marked, gr.marked_bytes, gr.freed, gr.words_scanned,
	       gr.rescans, gr.seconds);
	assert_int_equal(gr.marked, c.n);
	list_ok(pool, c.n);
	check_clean(pool, c.n, c.n);
	/* the loose blocks are free again: as many fit, and the list stays */
	push_nodes(pool, c.n, 0, c.loose);
	list_ok(pool, c.n);
	/* a clean close now: the next open trusts the bitmaps */
	pool = reopen(pool, c.name);
	nvh_gc_last(pool, &gr);
	assert_int_equal(gr.marked, 0);
	check_clean(pool, c.n + c.loose, c.n);
	list_ok(pool, c.n);
	assert_nvh_ok(nvh_close(pool));
	/* a read-only open of a crashed pool collects in memory only */
	c.first = c.n;
	assert_int_equal(nvt_in_child(crash_child, &c), 0);
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	pool = assert_nvh_ptr(nvh_open(nvt_path(c.name), "malloc", &ro));
	list_ok(pool, 2 * c.n); /* the child pushed c.n more */
	check_clean(pool, UINT64_MAX, 2 * c.n);
	assert_nvh_ok(nvh_close(pool));
	pool = reopen(NULL, c.name);
	list_ok(pool, 2 * c.n);
	check_clean(pool, 2 * c.n, 2 * c.n);
	assert_nvh_ok(nvh_close(pool));
}

/* A tree too wide for the work list: the rescan finds the rest. */
static int
tree_child(void *arg)
{
	const char *name = arg;
	nvh_pool *pool = nvh_open(nvt_path(name), "malloc", NULL);
	if (!pool)
		return 2;
	/* root -> 16 KiB block of 2048 oids -> each a 1 KiB block of 128
	 * oids -> 64-byte leaves */
	uint64_t *top = nvh_calloc(pool, 2048, 8);
	for (int i = 0; i < 2048 && top; i++) {
		uint64_t *mid = nvh_calloc(pool, 128, 8);
		if (!mid)
			return 3;
		for (int j = 0; j < 128; j++) {
			uint64_t *leaf = nvh_malloc(pool, 64);
			if (!leaf)
				return 3;
			leaf[0] = (uint64_t)i << 32 | (uint64_t)j;
			nvh_persist(pool, leaf, 64);
			mid[j] = nvh_oid_of(pool, leaf).off;
		}
		nvh_persist(pool, mid, 1024);
		top[i] = nvh_oid_of(pool, mid).off;
	}
	if (!top)
		return 3;
	nvh_persist(pool, top, 16384);
	nvh_root_slot(pool)->off = nvh_oid_of(pool, top).off;
	nvh_persist(pool, nvh_root_slot(pool), 8);
	_exit(0);
}

static void
work_list_overflow(void **state)
{
	(void)state;
	const char *name = "tree.pool";
	nvh_pool *pool = new_pool(name, 128 * MIB);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(tree_child, (void *)name), 0);
	/* a copy, so that both collections start from the same crash */
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cp %s %s", nvt_path(name),
		 nvt_path("tree-copy.pool"));
	assert_int_equal(system(cmd), 0);
	setenv("NVHEAP_TEST_GC_STACK", "100", 1);
	pool = reopen(NULL, name);
	unsetenv("NVHEAP_TEST_GC_STACK");
	struct nvh_gc_report small, full;
	nvh_gc_last(pool, &small);
	const uint64_t want = 1 + 2048 + 2048 * 128;
	assert_int_equal(small.marked, want);
	assert_true(small.rescans > 0);
	check_clean(pool, want, want);
	assert_nvh_ok(nvh_close(pool));
	pool = reopen(NULL, "tree-copy.pool");
	nvh_gc_last(pool, &full);
	assert_int_equal(full.marked, want);
	assert_int_equal(full.rescans, 0);
	printf("tree of %" PRIu64 " blocks: 100-entry list %" PRIu64
	       " rescans %.3f s; full list %.3f s\n", want, small.rescans,
	       small.seconds, full.seconds);
	/* every leaf, by its tag */
	const uint64_t *top = nvh_direct(pool, *nvh_root_slot(pool));
	for (int i = 0; i < 2048; i++) {
		const uint64_t *mid = nvh_direct(pool, (nvh_oid){top[i]});
		for (int j = 0; j < 128; j++) {
			const uint64_t *leaf = nvh_direct(pool, (nvh_oid){mid[j]});
			assert_int_equal(leaf[0], (uint64_t)i << 32 | (uint64_t)j);
		}
	}
	assert_nvh_ok(nvh_close(pool));
}

/* Reachable through typed pointer fields and untyped objects too; a
 * large block (a logged object) left unlinked is freed at open. */
NVH_TYPE(holder);
struct holder {
	nvh_oid any;       /* an untyped pointer field: precise */
	uint64_t data;     /* not a pointer field: the collector ignores it */
};
NVH_TYPE_DEFINE(holder, NVH_TYPE_MANUAL, NVH_PTR(holder, any, ));

static int
mixed_child(void *arg)
{
	const char *name = arg;
	nvh_pool *pool = nvh_open(nvt_path(name), "malloc", NULL);
	if (!pool || nvh_type_register(pool, &holder_type))
		return 2;
	/* root: an untyped array of 4 oids */
	if (nvh_alloc(pool, nvh_root_slot(pool), 32, 7, NULL, NULL))
		return 3;
	uint64_t *arr = nvh_direct(pool, *nvh_root_slot(pool));
	char *m1 = nvh_malloc(pool, 100);          /* from the array */
	char *big = nvh_malloc(pool, 200000);      /* large, from the array */
	char *m2 = nvh_malloc(pool, 100);          /* from a typed field */
	char *m3 = nvh_malloc(pool, 100);          /* in a data field only */
	char *lost = nvh_malloc(pool, 300000);     /* large, unlinked */
	if (!m1 || !big || !m2 || !m3 || !lost)
		return 4;
	strcpy(m1, "one");
	strcpy(big, "big");
	strcpy(m2, "two");
	nvh_persist(pool, m1, 4);
	nvh_persist(pool, big, 4);
	nvh_persist(pool, m2, 4);
	nvh_tx *tx = nvh_tx_begin(pool);
	holder_ptr h = NVH_TX_ALLOC(tx, holder);
	if (NVH_IS_NULL(h))
		return 5;
	if (nvh_tx_set(tx, &holder_d(pool, h)->any, nvh_oid_of(pool, m2)))
		return 7;
	holder_d(pool, h)->data = nvh_oid_of(pool, m3).off;
	nvh_persist(pool, holder_d(pool, h), sizeof(struct holder));
	/* a manual type: the array holds it by its oid */
	if (nvh_tx_commit(tx)) {
		fprintf(stderr, "commit: %s\n", nvh_errormsg());
		return 6;
	}
	arr[0] = nvh_oid_of(pool, m1).off;
	arr[1] = nvh_oid_of(pool, big).off;
	arr[2] = h.oid.off;
	nvh_persist(pool, arr, 32);
	_exit(0);
}

static void
typed_untyped_and_large(void **state)
{
	(void)state;
	const char *name = "mixed.pool";
	nvh_pool *pool = new_pool(name, 32 * MIB);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(mixed_child, (void *)name), 0);
	pool = reopen(NULL, name);
	assert_nvh_ok(nvh_type_register(pool, &holder_type));
	struct nvh_gc_report gr;
	nvh_gc_last(pool, &gr);
	assert_int_equal(gr.marked, 3);    /* m1, big, m2 */
	assert_int_equal(gr.freed, 1);     /* lost (m3 was never on media) */
	const uint64_t *arr = nvh_direct(pool, *nvh_root_slot(pool));
	assert_string_equal(nvh_direct(pool, (nvh_oid){arr[0]}), "one");
	assert_string_equal(nvh_direct(pool, (nvh_oid){arr[1]}), "big");
	const struct holder *hd = nvh_direct(pool, (nvh_oid){arr[2]});
	assert_string_equal(nvh_direct(pool, hd->any), "two");
	/* m3's block is free: its oid sits only in a data field */
	assert_int_equal(nvh_malloc_usable_size(pool, nvh_direct(pool,
		(nvh_oid){hd->data})), 0);
	check_clean(pool, 3, 3);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- threads ---- */

struct mt {
	nvh_pool *pool;
	int id;
	size_t n;
	_Atomic uint64_t *xfer; /* blocks handed to the next thread */
	size_t xn;
	char err[256];
};

static void *
mt_worker(void *arg)
{
	struct mt *t = arg;
	void **mine = calloc(1024, sizeof(*mine));
	uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t->id + 1);
	for (size_t i = 0; i < t->n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		size_t k = seed % 1024, sz = 8 + seed % 2000;
		if (mine[k]) {
			unsigned char *p = mine[k];
			if (p[0] != (unsigned char)t->id) {
				snprintf(t->err, sizeof(t->err), "block %p "
					 "changed under thread %d", (void *)p,
					 t->id);
				break;
			}
			if (nvh_mfree(t->pool, p)) {
				snprintf(t->err, sizeof(t->err), "mfree: %s",
					 nvh_errormsg());
				break;
			}
		}
		unsigned char *p = nvh_malloc(t->pool, sz);
		if (!p) {
			snprintf(t->err, sizeof(t->err), "malloc: %s",
				 nvh_errormsg());
			break;
		}
		memset(p, t->id, sz < 64 ? sz : 64);
		mine[k] = p;
		/* some go to another thread, which frees them */
		uint64_t x = atomic_exchange(&t->xfer[i % t->xn], 0);
		if (x && nvh_mfree(t->pool, t->pool ? nvh_direct(t->pool,
							   (nvh_oid){x}) : NULL)) {
			snprintf(t->err, sizeof(t->err), "cross mfree: %s",
				 nvh_errormsg());
			break;
		}
		if (i % 3 == 0) {
			void *q = nvh_malloc(t->pool, 24 + i % 500);
			uint64_t old = q ? atomic_exchange(
				&t->xfer[(i + 1) % t->xn],
				nvh_oid_of(t->pool, q).off) : 0;
			if (old && nvh_mfree(t->pool, nvh_direct(t->pool,
							(nvh_oid){old}))) {
				snprintf(t->err, sizeof(t->err), "cross mfree: "
					 "%s", nvh_errormsg());
				break;
			}
		}
	}
	for (int k = 0; k < 1024; k++)
		if (mine[k])
			nvh_mfree(t->pool, mine[k]);
	free(mine);
	return NULL;
}

static void
threads(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("threads.pool", 256 * MIB);
	enum { T = 4 };
	struct mt t[T];
	pthread_t th[T];
	size_t xn = 4096;
	_Atomic uint64_t *xfer = calloc(xn, sizeof(*xfer));
	for (int i = 0; i < T; i++) {
		t[i] = (struct mt){.pool = pool, .id = i + 1, .n = scaled(300000),
				   .xfer = xfer, .xn = xn};
		assert_int_equal(pthread_create(&th[i], NULL, mt_worker, &t[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		if (t[i].err[0])
			fail_msg("thread %d: %s", i, t[i].err);
	}
	/* what is left in the exchange is allocated and unreachable */
	uint64_t left = 0;
	for (size_t i = 0; i < xn; i++)
		left += atomic_load(&xfer[i]) != 0;
	check_clean(pool, left, 0);
	struct nvh_gc_report gr;
	assert_nvh_ok(nvh_gc(pool, &gr));
	assert_int_equal(gr.freed, left);
	check_clean(pool, 0, 0);
	struct nvh_stats st = nvt_stats(pool);
	printf("4 threads: %" PRIu64 " malloc arenas, %" PRIu64 " left over\n",
	       st.arenas_malloc, left);
	assert_nvh_ok(nvh_close(pool));
	free((void *)xfer);
}

/* A thread that needs an arena takes back one it owned before, when one
 * is listed near the head, over another thread's (whose blocks' lines
 * are in the other core's cache): two threads fill ~5 arenas each at
 * once and free everything, so both threads' arenas are listed,
 * interleaved; then each in turn allocates as much again and must get
 * only arenas of its own first round. */
#define AFF_MAX 64

struct aff {
	nvh_pool *pool;
	pthread_barrier_t *bar;
	int id;
	size_t n, foreign, na;
	void **blk;
	uint64_t arenas[AFF_MAX];
	char err[256];
};

static int
aff_arena(struct aff *f, void *p, uint64_t *a)
{
	uint64_t in;
	return nvh_arena_at(f->pool->heap, (uint64_t)((char *)p - f->pool->base),
			    a, &in);
}

static int
aff_round(struct aff *f, int second)
{
	for (size_t i = 0; i < f->n; i++) {
		uint64_t a;
		if (!(f->blk[i] = nvh_malloc(f->pool, 64)) ||
		    aff_arena(f, f->blk[i], &a)) {
			snprintf(f->err, sizeof(f->err), "block %zu: %s", i,
				 nvh_errormsg());
			return -1;
		}
		size_t k = 0;
		while (k < f->na && f->arenas[k] != a)
			k++;
		if (k < f->na)
			continue;
		if (second)
			f->foreign++;
		else if (f->na < AFF_MAX)
			f->arenas[f->na++] = a;
	}
	return 0;
}

static int
aff_free(struct aff *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (nvh_mfree(f->pool, f->blk[i])) {
			snprintf(f->err, sizeof(f->err), "free %zu: %s", i,
				 nvh_errormsg());
			return -1;
		}
	return 0;
}

static void *
aff_worker(void *arg)
{
	struct aff *f = arg;
	int bad = 0;
	pthread_barrier_wait(f->bar);
	bad = bad || aff_round(f, 0);
	pthread_barrier_wait(f->bar);
	bad = bad || aff_free(f);
	pthread_barrier_wait(f->bar);
	/* one after the other: thread 0's second round, then thread 1's */
	for (int turn = 0; turn < 2; turn++) {
		if (turn == f->id && !bad)
			bad = aff_round(f, 1) || aff_free(f);
		pthread_barrier_wait(f->bar);
	}
	return NULL;
}

static void
threads_keep_their_arenas(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("affinity.pool", 64 * MIB);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 2);
	struct aff f[2];
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		f[i] = (struct aff){.pool = pool, .bar = &bar, .id = i,
				    .n = 20000};
		f[i].blk = calloc(f[i].n, sizeof(void *));
		assert_non_null(f[i].blk);
		assert_int_equal(pthread_create(&th[i], NULL, aff_worker, &f[i]),
				 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		if (f[i].err[0])
			fail_msg("thread %d: %s", i, f[i].err);
		printf("thread %d: %zu arenas, %zu of %zu blocks of the second "
		       "round in other arenas\n", i, f[i].na, f[i].foreign,
		       f[i].n);
		/* more than one arena each: some were listed, to be taken */
		assert_true(f[i].na >= 4);
		assert_int_equal(f[i].foreign, 0);
		free(f[i].blk);
	}
	pthread_barrier_destroy(&bar);
	check_clean(pool, 0, 0);
	assert_nvh_ok(nvh_close(pool));
}

/* Larson's pattern, as larson.cpp runs it: chains of threads, each
 * ending after its life while a new thread takes its array on and frees
 * the blocks the ended one allocated; two chains at once.  Every block
 * keeps what its owner wrote; what the ended threads held in their
 * caches and arenas comes back (the counts are exact and the arenas
 * stay as few as two threads need); the blocks survive a clean close. */
#define CH_SLOTS 1000

struct chain {
	nvh_pool *pool;
	int id;
	size_t lives, life;
	uint64_t rng, seq;
	uint64_t *slot[CH_SLOTS];
	uint64_t tag[CH_SLOTS];
	char err[256];
};

static void *
ch_life(void *arg)
{
	struct chain *c = arg;
	for (size_t i = 0; i < c->life; i++) {
		c->rng ^= c->rng << 13;
		c->rng ^= c->rng >> 7;
		c->rng ^= c->rng << 17;
		size_t k = c->rng % CH_SLOTS, sz = 16 + (c->rng >> 32) % 497;
		uint64_t *p = c->slot[k];
		if (p && (p[0] != c->tag[k] || p[1] != k)) {
			snprintf(c->err, sizeof(c->err), "chain %d: block %p "
				 "of slot %zu changed", c->id, (void *)p, k);
			return NULL;
		}
		if (p && nvh_mfree(c->pool, p)) {
			snprintf(c->err, sizeof(c->err), "chain %d: mfree: %s",
				 c->id, nvh_errormsg());
			return NULL;
		}
		if (!(p = nvh_malloc(c->pool, sz))) {
			snprintf(c->err, sizeof(c->err), "chain %d: malloc: %s",
				 c->id, nvh_errormsg());
			c->slot[k] = NULL;
			return NULL;
		}
		c->tag[k] = (uint64_t)c->id << 40 | ++c->seq;
		p[0] = c->tag[k];
		p[1] = k;
		c->slot[k] = p;
	}
	return NULL;
}

static void *
ch_driver(void *arg)
{
	struct chain *c = arg;
	for (size_t l = 0; l < c->lives && !c->err[0]; l++) {
		pthread_t th;
		int e = pthread_create(&th, NULL, ch_life, c);
		if (e) {
			snprintf(c->err, sizeof(c->err), "pthread_create: %s",
				 strerror(e));
			break;
		}
		pthread_join(th, NULL);
	}
	return NULL;
}

static void
thread_chains(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("chains.pool", 128 * MIB);
	struct chain *ch = calloc(2, sizeof(*ch));
	assert_non_null(ch);
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		ch[i].pool = pool;
		ch[i].id = i + 1;
		ch[i].lives = scaled(60);
		ch[i].life = 5000;
		ch[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		assert_int_equal(pthread_create(&th[i], NULL, ch_driver,
						&ch[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	uint64_t live = 0;
	for (int i = 0; i < 2; i++) {
		if (ch[i].err[0])
			fail_msg("%s", ch[i].err);
		for (size_t k = 0; k < CH_SLOTS; k++)
			live += ch[i].slot[k] != NULL;
	}
	struct nvh_stats st = nvt_stats(pool);
	printf("2 chains of %zu threads, %zu operations each: %" PRIu64
	       " blocks live, %" PRIu64 " malloc arenas\n", ch[0].lives,
	       ch[0].life, live, st.arenas_malloc);
	/* nothing is left in an ended thread's cache: counted exactly */
	assert_int_equal(st.malloc_blocks, live);
	check_clean(pool, live, 0);
	/* the arenas two threads need at once, not one set per ended thread
	 * (16 classes; each live thread owns one arena of each) */
	assert_true(st.arenas_malloc <= 4 * 16);
	/* a clean close keeps them: found by their oids after the reopen */
	uint64_t *off = calloc(2 * CH_SLOTS, sizeof(*off));
	assert_non_null(off);
	for (int i = 0; i < 2; i++)
		for (size_t k = 0; k < CH_SLOTS; k++)
			if (ch[i].slot[k])
				off[i * CH_SLOTS + k] =
					nvh_oid_of(pool, ch[i].slot[k]).off;
	pool = reopen(pool, "chains.pool");
	assert_int_equal(nvt_stats(pool).malloc_blocks, live);
	for (int i = 0; i < 2; i++)
		for (size_t k = 0; k < CH_SLOTS; k++) {
			if (!off[i * CH_SLOTS + k])
				continue;
			uint64_t *p = nvh_direct(pool,
						 (nvh_oid){off[i * CH_SLOTS + k]});
			assert_non_null(p);
			assert_int_equal(p[0], ch[i].tag[k]);
			assert_int_equal(p[1], k);
			assert_nvh_ok(nvh_mfree(pool, p));
		}
	assert_int_equal(nvt_stats(pool).malloc_blocks, 0);
	check_clean(pool, 0, 0);
	assert_nvh_ok(nvh_close(pool));
	free(off);
	free(ch);
}

/* nvh_gc refuses while another thread is in a transaction. */
struct holdtx {
	nvh_pool *pool;
	_Atomic int in, go;
};

static void *
hold_tx(void *arg)
{
	struct holdtx *h = arg;
	nvh_tx *tx = nvh_tx_begin(h->pool);
	atomic_store(&h->in, 1);
	while (!atomic_load(&h->go))
		;
	nvh_tx_commit(tx);
	return NULL;
}

static void
gc_refused_while_busy(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("busy.pool", 8 * MIB);
	struct holdtx h = {.pool = pool};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hold_tx, &h), 0);
	while (!atomic_load(&h.in))
		;
	assert_int_equal(nvh_gc(pool, NULL), -EBUSY);
	assert_errmsg_has("another thread");
	atomic_store(&h.go, 1);
	pthread_join(th, NULL);
	assert_nvh_ok(nvh_gc(pool, NULL));
	assert_nvh_ok(nvh_close(pool));
}

/* ---- a pool near full ---- */

static void
full_pool(void **state)
{
	(void)state;
	struct nvh_opts fixed = {.max_size = NVH_GROW_OFF};
	const char *p = nvt_path("full.pool");
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "malloc", 16 * MIB,
						   &fixed));
	size_t cap = 1 << 20, n = 0;
	void **b = malloc(cap * sizeof(*b));
	while (n < cap && (b[n] = nvh_malloc(pool, 64)))
		n++;
	assert_int_equal(errno, ENOMEM);
	assert_errmsg_has("out of space");
	printf("fixed 16 MiB pool: %zu 64-byte blocks (%.1f%% of the pool)\n",
	       n, 100.0 * (double)n * 64 / (16.0 * MIB));
	assert_true(n * 64 > 13 * MIB); /* space-efficient */
	for (size_t i = 0; i < n; i++)
		assert_nvh_ok(nvh_mfree(pool, b[i]));
	/* the space is back for the logged allocator too (empty malloc
	 * arenas become free arenas): an OOM would not be true */
	assert_nvh_ok(nvh_alloc(pool, nvh_root_slot(pool), 8 * MIB, 1, NULL,
				NULL));
	assert_nvh_ok(nvh_free(pool, nvh_root_slot(pool)));
	size_t m = 0;
	while (m < n && (b[m] = nvh_malloc(pool, 64)))
		m++;
	assert_true(m + 64 * 4 >= n); /* (a few in caches of the first run) */
	check_clean(pool, m, 0);
	free(b);
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(classes),
		cmocka_unit_test(basics),
		cmocka_unit_test(errors),
		cmocka_unit_test(no_barriers),
		cmocka_unit_test(clean_close_keeps_the_state),
		cmocka_unit_test(crash_collects),
		cmocka_unit_test(work_list_overflow),
		cmocka_unit_test(typed_untyped_and_large),
		cmocka_unit_test(threads),
		cmocka_unit_test(threads_keep_their_arenas),
		cmocka_unit_test(thread_chains),
		cmocka_unit_test(gc_refused_while_busy),
		cmocka_unit_test(full_pool),
	};
	return cmocka_run_group_tests_name("malloc", tests, NULL, NULL);
}
