/*
 * test_alloc.c -- the arena-and-bitmap allocator and the atomic API.
 * With threads: test_alloc_threads.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/heap.h"
#include "heap/pool.h"
#include "heap/u64map.h"

#include "alloc_test.h"

static void
fill(void *p, size_t n, unsigned seed)
{
	unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)(seed * 31 + i * 7);
}

static int
check_fill(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != (unsigned char)(seed * 31 + i * 7))
			return 0;
	return 1;
}

static void
every_class_round_trip(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("classes.pool", 16 * MIB);
	nvh_oid *s = slots(pool, 4);
	struct nvh_stats st = stats(pool), base = st;
	assert_true(st.nclasses >= 30);
	assert_int_equal(st.cls[0].block_size, 64);
	for (unsigned c = 0; c < st.nclasses; c++) {
		uint32_t bs = st.cls[c].block_size;
		uint32_t lo = c ? st.cls[c - 1].block_size + 1 : 1;
		for (uint32_t size = lo; size <= bs; size += bs - lo > 0 ? bs - lo : 1) {
			assert_nvh_ok(nvh_alloc(pool, &s[0], size, 100 + c,
						NULL, NULL));
			assert_false(NVH_OID_IS_NULL(s[0]));
			assert_int_equal(s[0].off % 64, 0);
			assert_int_equal(nvh_usable_size(pool, s[0]), bs);
			assert_int_equal(nvh_type_of(pool, s[0]), 100 + c);
			void *p = nvh_direct(pool, s[0]);
			fill(p, size, c);
			assert_nvh_ok(nvh_persist(pool, p, size));
			assert_true(check_fill(p, size, c));
			assert_int_equal(stats(pool).cls[c].objects,
					 base.cls[c].objects + 1);
			assert_nvh_ok(nvh_free(pool, &s[0]));
			assert_true(NVH_OID_IS_NULL(s[0]));
			if (size == bs)
				break;
		}
	}
	assert_int_equal(stats(pool).objects, 1); /* the slots */
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

static int
copy_ctor(nvh_pool *p, void *obj, void *arg)
{
	(void)p;
	memcpy(obj, arg, 16);
	return 0;
}

static int
ones_ctor(nvh_pool *p, void *obj, void *arg)
{
	(void)p, (void)arg;
	memset(obj, 1, 64);
	return 0;
}

static void
constructor_runs_first(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("ctor.pool", 8 * MIB);
	nvh_oid *s = slots(pool, 2);
	assert_nvh_ok(nvh_alloc(pool, &s[0], 100, 1, copy_ctor, "constructed ok!"));
	assert_string_equal(nvh_direct(pool, s[0]), "constructed ok!");
	uint64_t before = stats(pool).objects;
	assert_int_equal(nvh_alloc(pool, &s[1], 100, 1, refuse_ctor, NULL),
			 -ECANCELED);
	assert_errmsg_has("constructor returned 7");
	assert_true(NVH_OID_IS_NULL(s[1]));
	assert_int_equal(stats(pool).objects, before);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

/* Persist barriers per operation, as counted by the seam. */
static void
barrier_budget(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("budget.pool", 8 * MIB);
	nvh_oid *s = slots(pool, 2);
	assert_nvh_ok(nvh_alloc(pool, &s[0], 64, 1, NULL, NULL)); /* warm */
	assert_nvh_ok(nvh_free(pool, &s[0]));
	struct nvh_persist_stats p0, p1;
	nvh_persist_stats(pool, &p0);
	assert_nvh_ok(nvh_alloc(pool, &s[0], 64, 1, NULL, NULL));
	nvh_persist_stats(pool, &p1);
	assert_int_equal(p1.barriers - p0.barriers, 1);
	assert_true(p1.lines_flushed - p0.lines_flushed <= 2);
	p0 = p1;
	assert_nvh_ok(nvh_free(pool, &s[0]));
	nvh_persist_stats(pool, &p1);
	assert_int_equal(p1.barriers - p0.barriers, 1);
	assert_int_equal(p1.lines_flushed - p0.lines_flushed, 1);
	p0 = p1;
	assert_nvh_ok(nvh_alloc(pool, &s[0], 64, 1, ones_ctor, NULL));
	nvh_persist_stats(pool, &p1);
	assert_int_equal(p1.barriers - p0.barriers, 2);
	/* Amortised over many pairs, checkpoints included: < 2.1 per pair. */
	assert_nvh_ok(nvh_free(pool, &s[0]));
	nvh_persist_stats(pool, &p0);
	for (int i = 0; i < 5000; i++) {
		assert_nvh_ok(nvh_alloc(pool, &s[0], 64, 1, NULL, NULL));
		assert_nvh_ok(nvh_free(pool, &s[0]));
	}
	nvh_persist_stats(pool, &p1);
	double per_pair = (double)(p1.barriers - p0.barriers) / 5000;
	if (per_pair > 2.1)
		fail_msg("%.3f barriers per alloc+free pair", per_pair);
	assert_true(stats(pool).checkpoints > 0);
	assert_nvh_ok(nvh_close(pool));
}

/* Freed blocks are not handed out again at once (wear, use-after-free). */
static void
reuse_is_spread(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("spread.pool", 8 * MIB);
	nvh_oid *s = slots(pool, 1);
	uint64_t prev = 0, distinct = 0, seen[64];
	for (int i = 0; i < 64; i++) {
		assert_nvh_ok(nvh_alloc(pool, &s[0], 64, 1, NULL, NULL));
		seen[i] = s[0].off;
		assert_true(s[0].off != prev);
		prev = s[0].off;
		assert_nvh_ok(nvh_free(pool, &s[0]));
	}
	for (int i = 0; i < 64; i++) {
		int dup = 0;
		for (int j = 0; j < i; j++)
			dup |= seen[j] == seen[i];
		distinct += !dup;
	}
	assert_int_equal(distinct, 64);
	assert_nvh_ok(nvh_close(pool));
}

static void
large_objects(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("large.pool", 32 * MIB);
	nvh_oid *s = slots(pool, 4);
	struct nvh_stats st = stats(pool);
	size_t big = 3 * st.arena_size + 12345;
	assert_nvh_ok(nvh_alloc(pool, &s[0], big, 42, NULL, NULL));
	assert_int_equal(nvh_usable_size(pool, s[0]), 4 * st.arena_size);
	assert_int_equal(nvh_type_of(pool, s[0]), 42);
	char *p = nvh_direct(pool, s[0]);
	fill(p, big, 5);
	assert_nvh_ok(nvh_persist(pool, p, big));
	st = stats(pool);
	assert_int_equal(st.large_objects, 1);
	assert_int_equal(st.arenas_large, 4);
	/* Just above the largest class is large; at it, small. */
	assert_nvh_ok(nvh_alloc(pool, &s[1], st.max_small + 1, 1, NULL, NULL));
	assert_int_equal(nvh_usable_size(pool, s[1]), st.arena_size);
	assert_nvh_ok(nvh_alloc(pool, &s[2], st.max_small, 1, NULL, NULL));
	assert_int_equal(nvh_usable_size(pool, s[2]), st.max_small);
	/* Interior pointer of a large object: refused. */
	s[3].off = s[0].off + st.arena_size;
	assert_int_equal(nvh_free(pool, &s[3]), -EINVAL);
	s[3] = NVH_OID_NULL;
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
	/* Reopen: still there, then free all. */
	pool = assert_nvh_ptr(nvh_open(nvt_path("large.pool"), "alloc", NULL));
	s = nvh_direct(pool, *nvh_root_slot(pool));
	assert_true(check_fill(nvh_direct(pool, s[0]), big, 5));
	assert_nvh_ok(nvh_heap_verify(pool));
	for (int i = 0; i < 3; i++)
		assert_nvh_ok(nvh_free(pool, &s[i]));
	st = stats(pool);
	assert_int_equal(st.large_objects, 0);
	assert_int_equal(st.arenas_large, 0);
	/* An object nearly the size of the heap. */
	uint64_t most = (st.arenas_free - 2) * st.arena_size;
	assert_nvh_ok(nvh_alloc(pool, &s[0], most, 1, NULL, NULL));
	assert_nvh_ok(nvh_free(pool, &s[0]));
	assert_int_equal(nvh_alloc(pool, &s[0], (st.arenas + 1) * st.arena_size,
				   1, NULL, NULL), -ENOMEM);
	assert_errmsg_has("more than the whole heap");
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

/* Fill the pool with mixed sizes until ENOMEM, free all, repeat. */
static void
fill_to_enomem_and_empty(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("fill.pool", 8 * MIB);
	const size_t max = 200000;
	nvh_oid *s = slots(pool, max);
	struct nvh_stats empty = stats(pool);
	static const size_t sizes[] = {64, 100, 512, 3000, 40000, 300000, 700};
	for (int round = 0; round < 2; round++) {
		size_t n = 0;
		int rc = 0;
		while (n < max) {
			size_t sz = sizes[n % 7];
			rc = nvh_alloc(pool, &s[n], sz, 3, NULL, NULL);
			if (rc)
				break;
			n++;
		}
		/* The biggest size fails first; keep going with small ones. */
		while (rc == -ENOMEM && n < max) {
			rc = nvh_alloc(pool, &s[n], 64, 3, NULL, NULL);
			if (rc)
				break;
			n++;
			rc = -ENOMEM;
		}
		assert_int_equal(rc, -ENOMEM);
		assert_errmsg_has("out of space");
		assert_true(n > 1000);
		assert_nvh_ok(nvh_heap_verify(pool));
		struct nvh_stats full = stats(pool);
		assert_int_equal(full.objects, empty.objects + n);
		/* full: no free arena, no free 64-byte block */
		assert_int_equal(full.arenas_free, 0);
		assert_int_equal(full.cls[0].objects,
				 full.cls[0].arenas * full.cls[0].blocks_per_arena);
		for (size_t i = 0; i < n; i++)
			assert_nvh_ok(nvh_free(pool, &s[i]));
		struct nvh_stats st = stats(pool);
		assert_int_equal(st.objects, empty.objects);
		assert_int_equal(st.allocated_bytes, empty.allocated_bytes);
		/* all of it can be allocated again: an empty small arena
		 * counts whole (free_bytes read 35 KiB low per arena) */
		assert_int_equal(st.free_bytes, empty.free_bytes);
		assert_nvh_ok(nvh_heap_verify(pool));
		/* and a reopen builds the same state */
		assert_nvh_ok(nvh_close(pool));
		pool = assert_nvh_ptr(nvh_open(nvt_path("fill.pool"), "alloc",
					       NULL));
		s = nvh_direct(pool, *nvh_root_slot(pool));
		struct nvh_stats re = stats(pool);
		nvt_same_space(&re, &st, "reopened");
		/* Everything is reusable: a large object takes freed arenas. */
		assert_nvh_ok(nvh_alloc(pool, &s[0], empty.arenas_free *
					empty.arena_size, 3, NULL, NULL));
		assert_nvh_ok(nvh_free(pool, &s[0]));
	}
	assert_nvh_ok(nvh_close(pool));
}

static void
reopen_preserves_allocations(void **state)
{
	(void)state;
	const char *path = nvt_path("reopen.pool");
	nvh_pool *pool = new_pool("reopen.pool", 16 * MIB);
	const size_t n = 3000;
	nvh_oid *s = slots(pool, n);
	for (size_t i = 0; i < n; i++) {
		size_t sz = 16 + (i * 37) % 5000;
		assert_nvh_ok(nvh_alloc(pool, &s[i], sz, (uint32_t)i, NULL, NULL));
		fill(nvh_direct(pool, s[i]), sz, (unsigned)i);
		assert_nvh_ok(nvh_persist(pool, nvh_direct(pool, s[i]), sz));
	}
	for (size_t i = 0; i < n; i += 3)
		assert_nvh_ok(nvh_free(pool, &s[i]));
	struct nvh_stats before = stats(pool);
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(path, "alloc", NULL));
	s = nvh_direct(pool, *nvh_root_slot(pool));
	struct nvh_stats after = stats(pool);
	assert_int_equal(after.objects, before.objects);
	assert_int_equal(after.allocated_bytes, before.allocated_bytes);
	assert_int_equal(after.recovered_records, 0); /* clean close */
	for (size_t i = 0; i < n; i++) {
		size_t sz = 16 + (i * 37) % 5000;
		if (i % 3 == 0) {
			assert_true(NVH_OID_IS_NULL(s[i]));
			continue;
		}
		assert_int_equal(nvh_type_of(pool, s[i]), i);
		if (!check_fill(nvh_direct(pool, s[i]), sz, (unsigned)i))
			fail_msg("object %zu lost its contents", i);
	}
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(pool));
}

/* A process dies without closing: the next open replays the lanes. */
static int
alloc_and_die(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "alloc", NULL);
	if (!pool)
		return 1;
	nvh_oid *s = nvh_direct(pool, *nvh_root_slot(pool));
	for (int i = 0; i < 100; i++)
		if (nvh_alloc(pool, &s[i], 64 + i, 9, NULL, NULL))
			return 2;
	for (int i = 0; i < 100; i += 2)
		if (nvh_free(pool, &s[i]))
			return 3;
	_exit(0);
}

static void
crash_then_recover(void **state)
{
	(void)state;
	const char *path = nvt_path("crash.pool");
	nvh_pool *pool = new_pool("crash.pool", 8 * MIB);
	slots(pool, 100);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(alloc_and_die, (void *)path), 0);
	pool = assert_nvh_ptr(nvh_open(path, "alloc", NULL));
	struct nvh_stats st = stats(pool);
	assert_true(st.recovered_records > 0);
	assert_int_equal(st.objects, 1 + 50);
	nvh_oid *s = nvh_direct(pool, *nvh_root_slot(pool));
	for (int i = 0; i < 100; i++) {
		assert_int_equal(NVH_OID_IS_NULL(s[i]), i % 2 == 0);
		if (i % 2)
			assert_int_equal(nvh_type_of(pool, s[i]), 9);
	}
	assert_nvh_ok(nvh_heap_verify(pool));
	for (int i = 1; i < 100; i += 2)
		assert_nvh_ok(nvh_free(pool, &s[i]));
	assert_nvh_ok(nvh_close(pool));
}

static void
misuse_is_refused(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("misuse.pool", 8 * MIB);
	nvh_pool *other = new_pool("other.pool", 8 * MIB);
	nvh_oid *s = slots(pool, 8);
	nvh_oid *o = slots(other, 8);
	assert_nvh_ok(nvh_alloc(pool, &s[0], 200, 1, NULL, NULL));
	uint64_t good = s[0].off;
	struct nvh_stats before = stats(pool);

	/* double free */
	s[1] = s[0];
	assert_nvh_ok(nvh_free(pool, &s[0]));
	assert_int_equal(nvh_free(pool, &s[1]), -EINVAL);
	assert_errmsg_has("not");
	/* interior pointer */
	assert_nvh_ok(nvh_alloc(pool, &s[0], 200, 1, NULL, NULL));
	s[2].off = s[0].off + 64;
	assert_int_equal(nvh_free(pool, &s[2]), -EINVAL);
	assert_errmsg_has("not the start of a live object");
	/* garbage offsets */
	uint64_t garbage[] = {1, 8, 4096, (uint64_t)-64, 1ull << 40,
			      nvh_root_slot(pool)->off + 8};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		s[3].off = garbage[i];
		assert_int_equal(nvh_free(pool, &s[3]), -EINVAL);
	}
	/* an object of another pool (its oid carries another pool's tag) */
	assert_nvh_ok(nvh_alloc(other, &o[1], 64, 1, NULL, NULL));
	s[3] = o[1];
	assert_int_equal(nvh_free(pool, &s[3]), -EINVAL);
	assert_errmsg_has("not an object of this pool");
	assert_null(nvh_direct(pool, o[1]));
	assert_nvh_ok(nvh_free(other, &o[1]));
	/* dest in another pool, in volatile memory, unaligned, freed */
	assert_int_equal(nvh_alloc(pool, &o[0], 64, 1, NULL, NULL), -EINVAL);
	assert_errmsg_has("not inside this pool");
	nvh_oid local = {good};
	assert_int_equal(nvh_free(pool, &local), -EINVAL);
	assert_int_equal(nvh_alloc(pool, &local, 64, 1, NULL, NULL), -EINVAL);
	assert_int_equal(nvh_alloc(pool, (nvh_oid *)((char *)&s[4] + 4), 64, 1,
				   NULL, NULL), -EINVAL);
	assert_errmsg_has("aligned");
	assert_int_equal(nvh_alloc(pool, NULL, 64, 1, NULL, NULL), -EINVAL);
	nvh_oid *in_freed = nvh_direct(pool, (nvh_oid){good});
	assert_int_equal(nvh_alloc(pool, in_freed, 64, 1, NULL, NULL), -EINVAL);
	assert_errmsg_has("neither the root slot nor inside a live object");
	/* metadata is not a destination */
	nvh_oid *meta = (nvh_oid *)((char *)nvh_root_slot(pool) - 64);
	assert_int_equal(nvh_alloc(pool, meta, 64, 1, NULL, NULL), -EINVAL);
	/* size 0, NULL pool */
	assert_int_equal(nvh_alloc(pool, &s[5], 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(nvh_alloc(NULL, &s[5], 64, 1, NULL, NULL), -EINVAL);
	/* freeing null is a no-op */
	s[6] = NVH_OID_NULL;
	assert_nvh_ok(nvh_free(pool, &s[6]));

	struct nvh_stats after = stats(pool);
	assert_int_equal(after.objects, before.objects);
	assert_nvh_ok(nvh_heap_verify(pool));
	assert_nvh_ok(nvh_close(other));
	assert_nvh_ok(nvh_close(pool));

	/* read-only pool */
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	pool = assert_nvh_ptr(nvh_open(nvt_path("misuse.pool"), "alloc", &ro));
	s = nvh_direct(pool, *nvh_root_slot(pool));
	assert_int_equal(nvh_alloc(pool, &s[5], 64, 1, NULL, NULL), -EROFS);
	assert_int_equal(nvh_free(pool, &s[0]), -EROFS);
	assert_int_equal(stats(pool).objects, after.objects);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- destinations holding typed objects ---- */

NVH_TYPE(anode);
NVH_TYPE(ablob);

struct anode {
	int64_t value;
	anode_ptr next;
	anode_weak peer;
	nvh_oid any;          /* a strong field of any type */
	anode_ptr kid[2];
	uint64_t data;        /* not a pointer field */
};

struct ablob {
	uint64_t bytes[4];
};

NVH_TYPE_DEFINE(anode, 0, NVH_PTR(anode, next, anode)
		NVH_WEAK(anode, peer, anode)
		{offsetof(struct anode, any), 0, NULL, 0},
		NVH_PTR_N(anode, kid, 2, anode));
NVH_TYPE_DEFINE(ablob, NVH_TYPE_MANUAL);

/* nvh_alloc refuses what would leave a reference count wrong or put an
 * untyped object into a typed pointer field, changing nothing. */
#define REFUSED(expr, msg)                                                   \
	do {                                                                 \
		uint64_t objs_ = stats(pool).objects;                        \
		assert_int_equal((expr), -EINVAL);                           \
		assert_errmsg_has(msg);                                      \
		assert_int_equal(stats(pool).objects, objs_);                \
	} while (0)

static void
typed_destinations_are_refused(void **state)
{
	(void)state;
	nvh_pool *pool = new_pool("typed-dest.pool", 8 * MIB);
	assert_nvh_ok(nvh_type_register(pool, &anode_type));
	assert_nvh_ok(nvh_type_register(pool, &ablob_type));
	anode_ptr r = NVH_ROOT(pool, anode);
	struct anode *rd = anode_d(pool, r);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	anode_ptr n = NVH_TX_ALLOC(tx, anode);
	NVH_TX_SET(tx, &rd->next, n);
	NVH_TX_SET(tx, &rd->kid[0], n);
	assert_nvh_ok(nvh_tx_commit(tx));
	nvh_oid *root = nvh_root_slot(pool);
	nvh_oid r0 = *root, next0 = rd->next.oid;

	/* the root slot holding a counted object */
	REFUSED(nvh_alloc(pool, root, 64, 7, NULL, NULL),
		"the destination (the root slot) holds a \"anode\", which is "
		"reference counted");
	assert_int_equal(root->off, r0.off);
	/* typed pointer fields, null or not, every element of an array */
	REFUSED(nvh_alloc(pool, &rd->next.oid, 64, 7, NULL, NULL),
		"nvh_alloc: ");
	assert_errmsg_has("the destination is a pointer field of a \"anode\": "
			  "use nvh_tx_alloc_typed and NVH_TX_SET");
	assert_int_equal(rd->next.oid.off, next0.off);
	REFUSED(nvh_alloc(pool, &rd->kid[0].oid, 64, 7, NULL, NULL),
		"pointer field of a \"anode\"");
	REFUSED(nvh_alloc(pool, &rd->kid[1].oid, 64, 7, NULL, NULL),
		"pointer field of a \"anode\"");
	assert_true(NVH_OID_IS_NULL(rd->kid[1].oid));
	/* both words of a weak pointer */
	REFUSED(nvh_alloc(pool, &rd->peer.w.oid, 64, 7, NULL, NULL),
		"weak pointer field of a \"anode\"");
	REFUSED(nvh_alloc(pool, (nvh_oid *)&rd->peer.w.birth, 64, 7, NULL,
			  NULL), "weak pointer field");
	/* nvheap's own type table */
	nvh_oid *tslot = (nvh_oid *)(pool->base + pool->heap->hdr.root_off +
				     NVH_HEAP_TYPES_REL - NVH_HEAP_ROOT_REL);
	nvh_oid *table = nvh_direct(pool, *tslot);
	assert_non_null(table);
	REFUSED(nvh_alloc(pool, &table[2], 64, 7, NULL, NULL),
		"inside nvheap's own type table");
	REFUSED(nvh_free(pool, &table[2]), "inside nvheap's own type table");
	/* nvh_free of a counted object through a field or the root slot */
	REFUSED(nvh_free(pool, &rd->next.oid), "reference counted");
	REFUSED(nvh_free(pool, root), "reference counted");
	assert_int_equal(rd->next.oid.off, next0.off);
	assert_int_equal(root->off, r0.off);
	assert_int_equal(nvh_refcount(pool, r.oid), 1);
	assert_int_equal(nvh_refcount(pool, n.oid), 2);
	assert_checks_clean(pool);

	/* what stays allowed: an "any" field holding null or an untyped
	 * object */
	assert_nvh_ok(nvh_alloc(pool, &rd->any, 64, 7, NULL, NULL));
	assert_int_equal(nvh_type_of(pool, rd->any), 7);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_free(pool, &rd->any));
	assert_true(NVH_OID_IS_NULL(rd->any));
	/* ... but not over a counted object */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(nvh_tx_set(tx, &rd->any, n.oid));
	assert_nvh_ok(nvh_tx_commit(tx));
	REFUSED(nvh_alloc(pool, &rd->any, 64, 7, NULL, NULL),
		"the destination (a pointer field of a \"anode\") holds a "
		"\"anode\", which is reference counted");
	assert_int_equal(rd->any.off, n.oid.off);
	assert_int_equal(nvh_refcount(pool, n.oid), 3);
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));

	/* the root slot: empty, after an untyped object, after a manual
	 * object freed through it */
	pool = new_pool("typed-dest2.pool", 8 * MIB);
	assert_nvh_ok(nvh_type_register(pool, &ablob_type));
	root = nvh_root_slot(pool);
	assert_nvh_ok(nvh_alloc(pool, root, 64, 1, NULL, NULL));
	assert_nvh_ok(nvh_free(pool, root));
	assert_nvh_ok(nvh_alloc(pool, root, 64, 1, NULL, NULL));
	assert_nvh_ok(nvh_free(pool, root));
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvh_oid b = nvh_tx_alloc_typed(tx, &ablob_type, NVH_TX_ZERO);
	assert_nvh_ok(nvh_tx_set(tx, root, b));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_nvh_ok(nvh_free(pool, root)); /* manual: not counted */
	assert_nvh_ok(nvh_alloc(pool, root, 64, 1, NULL, NULL));
	assert_checks_clean(pool);
	assert_nvh_ok(nvh_close(pool));
}

/* The DRAM index map agrees with a plain array under random puts,
 * overwrites and deletes (deletion shifts runs back: the tricky part). */
static void
u64map_matches_a_reference(void **state)
{
	(void)state;
	enum { KEYS = 3000 };
	static uint64_t ref[KEYS]; /* value + 1, or 0 = absent */
	struct nvh_u64map m = {0};
	srand(7);
	for (int step = 0; step < 200000; step++) {
		unsigned k = (unsigned)rand() % KEYS;
		uint64_t key = 64 * (uint64_t)k + 8192; /* offsets collide */
		if (rand() % 3) {
			uint64_t v = (uint64_t)rand();
			assert_int_equal(nvh_u64map_put(&m, key, v), 0);
			ref[k] = v + 1;
		} else {
			nvh_u64map_del(&m, key);
			ref[k] = 0;
		}
		if (step % 1000 == 0) {
			size_t n = 0;
			for (unsigned j = 0; j < KEYS; j++) {
				uint64_t *v = nvh_u64map_find(&m, 64 * (uint64_t)j + 8192);
				if (!ref[j]) {
					assert_null(v);
					continue;
				}
				n++;
				assert_non_null(v);
				assert_int_equal(*v, ref[j] - 1);
			}
			assert_int_equal(m.n, n);
		}
	}
	nvh_u64map_clear(&m);
	assert_int_equal(m.n, 0);
	assert_null(nvh_u64map_find(&m, 8192));
	nvh_u64map_fini(&m);
}

/* nvh_check used to skip the bitmaps of arenas not scanned since the open
 * (all of them, right after one), so a bit past a class's last block, or
 * in the bitmap of a free arena or a large run, passed as consistent and
 * failed only when an allocation reached it. */
static void
check_sees_damaged_bitmaps(void **state)
{
	(void)state;
	const char *p = nvt_path("bm.pool");
	for (int where = 0; where < 3; where++) {
		nvh_pool *pool = new_pool("bm.pool", 16 << 20);
		nvh_oid *s = slots(pool, 2);
		assert_nvh_ok(nvh_alloc(pool, &s[0], 64, 0, NULL, NULL));
		assert_nvh_ok(nvh_alloc(pool, &s[1], 4 << 20, 0, NULL, NULL));
		struct nvh_heap *h = pool->heap;
		uint64_t a, b, in, pos;
		int large = where == 2;
		uint64_t off = s[large].off & NVH_OID_OFF_MASK;
		assert_int_equal(nvh_heap_locate(h, off, &a, &b, &in), 0);
		if (where == 0) {        /* past the last block */
			uint32_t nb = h->cls[h->arena[a].cls].nblocks;
			pos = nvh_bitmap_off(h, a) + nb / 64 * 8;
		} else if (where == 1) { /* a free arena */
			a = h->narenas - 1;
			assert_int_equal(h->arena[a].kind, NVH_K_FREE);
			pos = nvh_bitmap_off(h, a);
		} else {                 /* the large run's head */
			pos = nvh_bitmap_off(h, a);
		}
		uint32_t nb = h->cls[h->arena[a].cls].nblocks;
		assert_nvh_ok(nvh_close(pool));
		uint64_t w;
		nvt_pread(p, pos, &w, 8);
		w |= where == 0 && nb % 64 ? 1ull << (nb % 64) : 1ull << 5;
		nvt_pwrite(p, pos, &w, 8);
		pool = assert_nvh_ptr(nvh_open(p, "alloc", NULL));
		nvt_check_says(pool, "allocator:", "bitmap");
		assert_nvh_ok(nvh_close(pool));
	}
}

/* A free arena's table entry is all zero; class or run bits there were
 * accepted (and would mislead any reader of the table). */
static void
free_arena_entry_with_bits_is_refused(void **state)
{
	(void)state;
	const char *p = nvt_path("freeent.pool");
	nvh_pool *pool = new_pool("freeent.pool", 16 << 20);
	struct nvh_heap *h = pool->heap;
	uint64_t a = h->narenas - 1;
	assert_int_equal(h->arena[a].kind, NVH_K_FREE);
	uint64_t pos = h->hdr.table_off + a * sizeof(struct nvh_arena_ent);
	assert_nvh_ok(nvh_close(pool));
	const uint64_t bad[] = {NVH_DESC(NVH_ARENA_FREE, 3, 0),
				NVH_DESC(NVH_ARENA_FREE, 0, 2)};
	for (int i = 0; i < 2; i++) {
		nvt_pwrite(p, pos, &bad[i], 8);
		assert_nvh_null_errno(nvh_open(p, "alloc", NULL), NVH_ECORRUPT);
		assert_errmsg_has("arena table entry");
	}
	const uint64_t zero = 0;
	nvt_pwrite(p, pos, &zero, 8);
	assert_nvh_ok(nvh_close(assert_nvh_ptr(nvh_open(p, "alloc", NULL))));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_class_round_trip),
		cmocka_unit_test(constructor_runs_first),
		cmocka_unit_test(barrier_budget),
		cmocka_unit_test(reuse_is_spread),
		cmocka_unit_test(large_objects),
		cmocka_unit_test(fill_to_enomem_and_empty),
		cmocka_unit_test(reopen_preserves_allocations),
		cmocka_unit_test(crash_then_recover),
		cmocka_unit_test(misuse_is_refused),
		cmocka_unit_test(typed_destinations_are_refused),
		cmocka_unit_test(u64map_matches_a_reference),
		cmocka_unit_test(check_sees_damaged_bitmaps),
		cmocka_unit_test(free_arena_entry_with_bits_is_refused),
	};
	return cmocka_run_group_tests_name("alloc", tests, NULL, NULL);
}
