/*
 * test_obj_refs.c -- typed objects and their references: checked stores
 * and their refusals, reference counts across commit and abort, arrays
 * and sized objects, weak pointers, pins, and the fields of manual
 * objects released with them.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

#include "nvh_test.h"

#include "heap/pool.h"

#include "obj_test.h"

NVH_TYPE(rec);

/* a variable-length object: fixed part, then bytes */
struct rec {
	node_ptr owner;
	uint64_t len;
	char bytes[];
};

NVH_TYPE_DEFINE(rec, 0, NVH_PTR(rec, owner, node));

static void
counts_across_commit_and_abort(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("counts.pool", 8 * MIB);
	top_ptr t = NVH_ROOT(pool, top);
	assert_false(NVH_IS_NULL(t));
	assert_int_equal(nvh_refcount(pool, t.oid), 1); /* the root slot */
	assert_int_equal(NVH_ROOT(pool, top).oid.off, t.oid.off);
	struct top *tp = top_d(pool, t);

	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr n = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, n));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->b, n));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nvh_refcount(pool, n.oid), 2);

	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_abort(tx));
	assert_int_equal(nvh_refcount(pool, n.oid), 2);
	assert_int_equal(tp->a.oid.off, n.oid.off);

	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nvh_refcount(pool, n.oid), 1);
	/* a new object never linked is freed at commit */
	uint64_t before = nobjects(pool);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr lost = NVH_TX_ALLOC(tx, node);
	node_d(pool, lost)->value = 5;
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nobjects(pool), before);
	assert_int_equal(nvh_usable_size(pool, lost.oid), 0);
	/* the last reference: freed, and what it held released */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	leaf_ptr l = NVH_TX_ALLOC(tx, leaf);
	assert_nvh_ok(NVH_TX_SET(tx, &node_d(pool, n)->leaf, l));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nvh_refcount(pool, l.oid), 1);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->b, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nvh_usable_size(pool, n.oid), 0);
	assert_int_equal(nvh_usable_size(pool, l.oid), 0);
	assert_consistent(pool);
	/* counts survive reopen; manual types are freed by hand */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvh_oid b = nvh_tx_alloc_typed(tx, &blob_type, 0);
	assert_nvh_ok(nvh_tx_set(tx, &tp->any, b));
	assert_nvh_ok(nvh_tx_commit(tx));
	pool = reopen(pool, "counts.pool");
	tp = top_d(pool, NVH_ROOT(pool, top));
	assert_int_equal(nvh_refcount(pool, tp->any), 0); /* manual */
	assert_consistent(pool);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvh_oid bb = tp->any;
	assert_nvh_ok(nvh_tx_set(tx, &tp->any, NVH_OID_NULL));
	assert_nvh_ok(nvh_tx_free(tx, bb));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
}

/* Every refusal of item 4, each leaving the pool as it was. */
static void
checked_store_refusals(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("refuse.pool", 8 * MIB);
	nvh_pool *other = typed_pool("refuse-other.pool", 8 * MIB);
	top_ptr t = NVH_ROOT(pool, top);
	struct top *tp = top_d(pool, t);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr n = NVH_TX_ALLOC(tx, node);
	leaf_ptr l = NVH_TX_ALLOC(tx, leaf);
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, n));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->l, l));
	assert_nvh_ok(nvh_tx_commit(tx));
	nvh_tx *ot = assert_nvh_ptr(nvh_tx_begin(other));
	leaf_ptr foreign = NVH_TX_ALLOC(ot, leaf);
	top_ptr otop = NVH_ROOT(other, top);
	(void)otop;
	assert_nvh_ok(nvh_tx_commit(ot));
	uint64_t objs = nobjects(pool);
	uint32_t cn = nvh_refcount(pool, n.oid), cl = nvh_refcount(pool, l.oid);
	nvh_oid freed;
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	freed = NVH_TX_ALLOC(tx, node).oid;
	assert_nvh_ok(nvh_tx_commit(tx)); /* never linked: freed */

	struct {
		const char *what;
		nvh_oid *field;
		nvh_oid value;
		const char *msg;
	} cases[] = {
		{"wrong type", &tp->b.oid, l.oid, "should point"},
		{"volatile address", &tp->b.oid, {(uint64_t)(uintptr_t)&cases},
		 "not an oid of this pool"},
		{"offset outside the heap", &tp->b.oid,
		 {pool->oid_tag | (pool->size - 64)}, "not the start"},
		{"freed block", &tp->b.oid, freed, "not the start"},
		{"interior pointer", &tp->b.oid, {n.oid.off + 8}, "not the start"},
		{"another pool's object", &tp->l.oid, foreign.oid,
		 "not an oid of this pool"},
		{"not a pointer field", (nvh_oid *)&tp->counter, n.oid,
		 "not a pointer field"},
		{"a volatile field", &(nvh_oid){0}, n.oid, "not in this pool"},
		{"a weak field", &node_d(pool, n)->peer.w.oid, n.oid, "weak"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].msg, "should point") == 0)
			cases[i].msg = "points to \"node\", the value is a \"leaf\"";
		tx = assert_nvh_ptr(nvh_tx_begin(pool));
		uint64_t was = cases[i].field->off;
		errno = 0;
		int rc = nvh_tx_set(tx, cases[i].field, cases[i].value);
		if (rc != -EINVAL)
			fail_msg("%s: accepted (%d)", cases[i].what, rc);
		if (!strstr(nvh_errormsg(), cases[i].msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].what,
				 nvh_errormsg(), cases[i].msg);
		assert_int_equal(nvh_tx_commit(tx), -EINVAL); /* rolled back */
		assert_int_equal(cases[i].field->off, was);
		assert_int_equal(nobjects(pool), objs);
		assert_int_equal(nvh_refcount(pool, n.oid), cn);
		assert_int_equal(nvh_refcount(pool, l.oid), cl);
	}
	/* the atomic API refuses counted objects */
	assert_int_equal(nvh_free(pool, &tp->a.oid), -EINVAL);
	assert_errmsg_has("reference counted");
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_int_equal(nvh_tx_free(tx, n.oid), -EINVAL);
	assert_int_equal(nvh_tx_commit(tx), -EINVAL);
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(other));
	assert_nvh_ok(nvh_close(pool));
}

/* NVH_PTR_N arrays: every element is a checked, counted field; release
 * and the checker see every element; the array's length is part of the
 * type.  NVH_TX_ALLOC_SIZE: a typed object with a tail of bytes. */
static void
arrays_and_sized_objects(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("arrays.pool", 8 * MIB);
	assert_nvh_ok(nvh_type_register(pool, &fan_type));
	assert_nvh_ok(nvh_type_register(pool, &rec_type));
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	uint64_t base = nobjects(pool);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	fan_ptr f = NVH_TX_ALLOC(tx, fan);
	node_ptr n[5];
	for (int i = 0; i < 5; i++) {
		n[i] = NVH_TX_ALLOC(tx, node);
		assert_nvh_ok(NVH_TX_SET(tx, &fan_d(pool, f)->kid[i], n[i]));
	}
	assert_nvh_ok(NVH_TX_SET(tx, &fan_d(pool, f)->kid[4], n[0]));
	assert_nvh_ok(nvh_tx_set(tx, &tp->any, f.oid));
	/* a variable-length record: tail bytes are the caller's */
	rec_ptr r = NVH_TX_ALLOC_SIZE(tx, rec, sizeof(struct rec) + 5000);
	assert_false(NVH_IS_NULL(r));
	memset(rec_d(pool, r)->bytes, 'x', 5000);
	rec_d(pool, r)->len = 5000;
	assert_nvh_ok(NVH_TX_SET(tx, &rec_d(pool, r)->owner, n[1]));
	assert_true(NVH_IS_NULL(NVH_TX_ALLOC_SIZE(tx, rec, 8)));
	assert_errmsg_has("is less than a \"rec\"");
	nvh_tx_abort(tx);
	assert_int_equal(nobjects(pool), base);

	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	f = NVH_TX_ALLOC(tx, fan);
	for (int i = 0; i < 5; i++) {
		n[i] = NVH_TX_ALLOC(tx, node);
		assert_nvh_ok(NVH_TX_SET(tx, &fan_d(pool, f)->kid[i], n[i]));
	}
	assert_nvh_ok(NVH_TX_SET(tx, &fan_d(pool, f)->kid[4], n[0]));
	assert_nvh_ok(nvh_tx_set(tx, &tp->any, f.oid));
	r = NVH_TX_ALLOC_SIZE(tx, rec, sizeof(struct rec) + 5000);
	memset(rec_d(pool, r)->bytes, 'x', 5000);
	rec_d(pool, r)->len = 5000;
	assert_nvh_ok(NVH_TX_SET(tx, &rec_d(pool, r)->owner, n[1]));
	assert_nvh_ok(NVH_TX_SET(tx, &fan_d(pool, f)->kid[3], NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	/* n[4] was replaced, n[3] unlinked: both freed at commit; the record
	 * was never linked: freed too */
	assert_int_equal(nobjects(pool), base + 4);
	assert_int_equal(nvh_refcount(pool, n[0].oid), 2);
	assert_int_equal(nvh_refcount(pool, n[1].oid), 1);
	assert_int_equal(nvh_usable_size(pool, n[3].oid), 0);
	assert_consistent(pool);
	/* element offsets only: the word after the array is no field */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_int_equal(nvh_tx_set(tx, (nvh_oid *)&fan_d(pool, f)->tail, n[0].oid),
			 -EINVAL);
	assert_errmsg_has("is not a pointer field");
	nvh_tx_abort(tx);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	r = NVH_TX_ALLOC_SIZE(tx, rec, sizeof(struct rec) + 70000); /* large */
	memset(rec_d(pool, r)->bytes, 'y', 70000);
	assert_nvh_ok(NVH_TX_SET(tx, &rec_d(pool, r)->owner, n[2]));
	assert_nvh_ok(NVH_TX_SET(tx, &node_d(pool, n[0])->next, n[1]));
	assert_nvh_ok(nvh_tx_set(tx, &tp->any, NVH_OID_NULL));
	assert_nvh_ok(nvh_tx_commit(tx));
	/* the fan went, and with it n[0], n[1], n[2]; the record too */
	assert_int_equal(nobjects(pool), base);
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
	/* the array length is part of the type */
	pool = assert_nvh_ptr(nvh_open(nvt_path("arrays.pool"), "obj", NULL));
	static const struct nvh_field f6[] = {{8, 0, "node", 4}};
	struct nvh_type shorter = {"fan", sizeof(struct fan), 0, 1, f6};
	assert_int_equal(nvh_type_register(pool, &shorter), -EINVAL);
	assert_errmsg_has("field 0 is recorded with 5 elements, the program's "
			  "with 4");
	static const struct nvh_field f7[] = {{8, 0, "node", 7}};
	struct nvh_type over = {"fan2", sizeof(struct fan), 0, 1, f7};
	assert_int_equal(nvh_type_register(pool, &over), -EINVAL);
	assert_errmsg_has("bytes 8..64 lie outside the type's 56 bytes");
	/* one word in two fields would count one reference twice */
	static const struct nvh_field f8[] = {{8, 0, "node", 5},
					      {24, 0, "node", 0}};
	struct nvh_type twice = {"fan3", sizeof(struct fan), 0, 2, f8};
	assert_int_equal(nvh_type_register(pool, &twice), -EINVAL);
	assert_errmsg_has("pointer fields 0 and 1 overlap");
	static const struct nvh_field f9[] = {{8, NVH_FIELD_WEAK, "node", 0},
					      {16, 0, "node", 0}};
	struct nvh_type weak_over = {"fan4", sizeof(struct fan), 0, 2, f9};
	assert_int_equal(nvh_type_register(pool, &weak_over), -EINVAL);
	assert_errmsg_has("overlap");
	assert_nvh_ok(nvh_close(pool));
}

static void
weak_pointers(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("weak.pool", 8 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr a = NVH_TX_ALLOC(tx, node), b = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, a));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->b, b));
	assert_nvh_ok(NVH_TX_SET_WEAK(tx, node, &node_d(pool, a)->peer, b));
	/* a weak pointer to an object made in this transaction reads back
	 * in it (a skiplist walks its back links before the commit) */
	assert_int_equal(NVH_WEAK_GET(pool, node, &node_d(pool, a)->peer).oid.off,
			 b.oid.off);
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_int_equal(nvh_refcount(pool, b.oid), 1); /* weak holds none */
	assert_int_equal(NVH_WEAK_GET(pool, node, &node_d(pool, a)->peer).oid.off,
			 b.oid.off);
	/* free b: the weak pointer reads null, also once the block is reused */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->b, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_true(NVH_IS_NULL(NVH_WEAK_GET(pool, node, &node_d(pool, a)->peer)));
	int reused = 0;
	for (int i = 0; i < 4000 && !reused; i++) {
		tx = assert_nvh_ptr(nvh_tx_begin(pool));
		node_ptr c = NVH_TX_ALLOC(tx, node);
		reused = c.oid.off == b.oid.off;
		assert_nvh_ok(NVH_TX_SET(tx, &tp->b, c));
		assert_nvh_ok(nvh_tx_commit(tx));
	}
	assert_true(reused);
	assert_true(NVH_IS_NULL(NVH_WEAK_GET(pool, node, &node_d(pool, a)->peer)));
	/* ... to a fresh object of an aborted transaction: null after it */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr d = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &tp->b, d));
	assert_nvh_ok(NVH_TX_SET_WEAK(tx, node, &node_d(pool, tp->a)->peer, d));
	assert_int_equal(NVH_WEAK_GET(pool, node, &node_d(pool, tp->a)->peer).oid.off,
			 d.oid.off);
	nvh_tx_abort(tx);
	assert_true(NVH_IS_NULL(NVH_WEAK_GET(pool, node, &node_d(pool, a)->peer)));
	assert_consistent(pool);
	pool = reopen(pool, "weak.pool");
	tp = top_d(pool, NVH_ROOT(pool, top));
	assert_true(NVH_IS_NULL(NVH_WEAK_GET(pool, node, &node_d(pool, tp->a)->peer)));
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
}

static void
pins(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("pins.pool", 8 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr n = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, n));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_nvh_ok(nvh_pin(pool, n.oid));
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	/* count 0 but pinned: still there, on the dying list */
	assert_true(nvh_usable_size(pool, n.oid) > 0);
	struct nvh_check_report rep;
	assert_nvh_ok(nvh_check(pool, &rep, stderr));
	assert_int_equal(rep.dying, 1);
	/* a pinned object can be linked again (across transactions) */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->b, n));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_nvh_ok(nvh_check(pool, &rep, stderr));
	assert_int_equal(rep.dying, 0);
	assert_int_equal(nvh_refcount(pool, n.oid), 1);
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->b, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	assert_true(nvh_usable_size(pool, n.oid) > 0);
	assert_nvh_ok(nvh_unpin(pool, n.oid)); /* now it goes */
	assert_int_equal(nvh_usable_size(pool, n.oid), 0);
	assert_int_equal(nvh_unpin(pool, n.oid), -EINVAL);
	assert_consistent(pool);
	assert_nvh_ok(nvh_close(pool));
}

/* A manual object's strong fields count like any other (objects/ref.c's
 * invariant), so freeing it drops its targets' counts at commit: a target
 * it alone held is freed with it, one still linked elsewhere is kept.
 * nvh_free, which cannot change counts, refuses such an object. */
NVH_TYPE(mholder);
struct mholder {
	node_ptr a, b;
};
NVH_TYPE_DEFINE(mholder, NVH_TYPE_MANUAL, NVH_PTR(mholder, a, node)
		NVH_PTR(mholder, b, node));

static void
manual_object_fields_are_released(void **state)
{
	(void)state;
	nvh_pool *pool = typed_pool("manual.pool", 8 * MIB);
	assert_nvh_ok(nvh_type_register(pool, &mholder_type));
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	uint64_t base = nobjects(pool);
	for (int fresh = 0; fresh < 2; fresh++) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		mholder_ptr h = NVH_TX_ALLOC(tx, mholder);
		node_ptr only = NVH_TX_ALLOC(tx, node);
		node_ptr shared = NVH_TX_ALLOC(tx, node);
		assert_nvh_ok(NVH_TX_SET(tx, &mholder_d(pool, h)->a, only));
		assert_nvh_ok(NVH_TX_SET(tx, &mholder_d(pool, h)->b, shared));
		assert_nvh_ok(NVH_TX_SET(tx, &tp->b, shared));
		if (!fresh) {
			assert_nvh_ok(nvh_tx_set(tx, &tp->any, h.oid));
			assert_nvh_ok(nvh_tx_commit(tx));
			assert_int_equal(nvh_refcount(pool, only.oid), 1);
			assert_int_equal(nvh_refcount(pool, shared.oid), 2);
			/* the atomic free cannot drop the counts: refused */
			assert_int_equal(nvh_free(pool, &tp->any), -EINVAL);
			assert_errmsg_has("nvh_tx_free");
			tx = assert_nvh_ptr(nvh_tx_begin(pool));
			assert_nvh_ok(nvh_tx_set(tx, &tp->any, NVH_OID_NULL));
		}
		assert_nvh_ok(nvh_tx_free(tx, h.oid));
		assert_nvh_ok(nvh_tx_commit(tx));
		assert_int_equal(nvh_usable_size(pool, h.oid), 0);
		assert_int_equal(nvh_usable_size(pool, only.oid), 0);
		assert_int_equal(nvh_refcount(pool, shared.oid), 1);
		assert_consistent(pool);
		tx = assert_nvh_ptr(nvh_tx_begin(pool));
		assert_nvh_ok(NVH_TX_SET(tx, &tp->b, NVH_NULL(node)));
		assert_nvh_ok(nvh_tx_commit(tx));
		assert_int_equal(nobjects(pool), base);
		assert_consistent(pool);
	}
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_across_commit_and_abort),
		cmocka_unit_test(checked_store_refusals),
		cmocka_unit_test(arrays_and_sized_objects),
		cmocka_unit_test(weak_pointers),
		cmocka_unit_test(pins),
		cmocka_unit_test(manual_object_fields_are_released),
	};
	return cmocka_run_group_tests_name("obj_refs", tests, NULL, NULL);
}
