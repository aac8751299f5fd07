/*
 * test_obj.c -- typed objects: checked stores and their refusals,
 * reference counts across commit and abort, cascades (a million nodes,
 * and a crash in the middle of one), weak pointers, pins, the type table,
 * the root, mutexes (a holder that exits included), registration errors,
 * and nvh_check / `nvheap check` on planted damage.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"

#define MIB (1ull << 20)

NVH_TYPE(node);
NVH_TYPE(leaf);
NVH_TYPE(top);
NVH_TYPE(blob);
NVH_TYPE(fan);
NVH_TYPE(rec);

struct node {
	int64_t value;
	node_ptr next;
	leaf_ptr leaf;
	node_weak peer;
};

struct leaf {
	uint64_t data[3];
};

struct top {
	node_ptr a, b;
	leaf_ptr l;
	nvh_oid any;
	nvh_mutex lock;
	uint64_t counter;
};

struct blob {
	char bytes[200];
};

/* a pointer array in the middle of a type */
struct fan {
	uint64_t n;
	node_ptr kid[5];
	uint64_t tail;
};

/* a variable-length object: fixed part, then bytes */
struct rec {
	node_ptr owner;
	uint64_t len;
	char bytes[];
};

NVH_TYPE_DEFINE(node, 0, NVH_PTR(node, next, node) NVH_PTR(node, leaf, leaf)
		NVH_WEAK(node, peer, node));
NVH_TYPE_DEFINE(leaf, 0);
NVH_TYPE_DEFINE(top, 0, NVH_PTR(top, a, node) NVH_PTR(top, b, node)
		NVH_PTR(top, l, leaf) {offsetof(struct top, any), 0, NULL, 0},);
NVH_TYPE_DEFINE(blob, NVH_TYPE_MANUAL);
NVH_TYPE_DEFINE(fan, 0, NVH_PTR_N(fan, kid, 5, node));
NVH_TYPE_DEFINE(rec, 0, NVH_PTR(rec, owner, node));

static nvh_pool *
typed_pool(const char *name, uint64_t size)
{
	const char *p = nvt_path(name);
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "obj", size, NULL));
	assert_nvh_ok(nvh_type_register(pool, &node_type));
	assert_nvh_ok(nvh_type_register(pool, &leaf_type));
	assert_nvh_ok(nvh_type_register(pool, &top_type));
	assert_nvh_ok(nvh_type_register(pool, &blob_type));
	return pool;
}

static nvh_pool *
reopen(nvh_pool *pool, const char *name)
{
	assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(nvt_path(name), "obj", NULL));
	assert_nvh_ok(nvh_type_register(pool, &node_type));
	assert_nvh_ok(nvh_type_register(pool, &leaf_type));
	assert_nvh_ok(nvh_type_register(pool, &top_type));
	assert_nvh_ok(nvh_type_register(pool, &blob_type));
	return pool;
}

static void
assert_consistent(nvh_pool *pool)
{
	struct nvh_check_report rep;
	if (nvh_check(pool, &rep, stderr) != 0)
		fail_msg("pool inconsistent: %" PRIu64 " problems", rep.problems);
}

static uint64_t
nobjects(nvh_pool *pool)
{
	struct nvh_stats st;
	nvh_stats(pool, &st);
	return st.objects;
}

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

/* A registered type far larger than the object its id is written on: a
 * header whose type id is damaged into it must not make anything read
 * "fields" past the object (it crashed nvh_check and the commit that
 * released the object): the object is treated as untyped, and nvh_check
 * names the damage. */
static const struct nvh_field huge_fields[] = {{(1u << 30) - 8, 0, NULL, 0}};
static const struct nvh_type huge_type = {"huge", 1u << 30, 0, 1, huge_fields};

static void
damaged_type_id(void **state)
{
	(void)state;
	const char *path = nvt_path("typeid.pool");
	nvh_pool *pool = typed_pool("typeid.pool", 8 * MIB);
	assert_nvh_ok(nvh_type_register(pool, &huge_type));
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr n = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, n));
	assert_nvh_ok(nvh_tx_commit(tx));
	uint64_t noff = n.oid.off & NVH_OID_OFF_MASK;
	uint64_t nhdr = (uint64_t)((char *)nvh_obj_hdr(pool, noff) - pool->base);
	uint32_t huge_id = nvh_type_named(pool, "huge")->id;
	assert_nvh_ok(nvh_close(pool));

	uint64_t w;
	nvt_pread(path, nhdr, &w, 8);
	w = NVH_HDR_MAKE(huge_id, NVH_HDR_FLAGS(w), NVH_HDR_COUNT(w));
	nvt_pwrite(path, nhdr, &w, 8);

	pool = reopen(NULL, "typeid.pool");
	assert_nvh_ok(nvh_type_register(pool, &huge_type));
	tp = top_d(pool, NVH_ROOT(pool, top));
	nvt_check_says(pool, "damaged header", NULL);
	/* unlinking it releases nothing through the bogus type */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	nvt_check_says(pool, "leak: object at", NULL);
	assert_nvh_ok(nvh_close(pool));
}

/* A damaged dying list: both read-only and read-write opens refuse it
 * (found by fuzzing: a read-only open used to accept what a read-write
 * open refused).  A dying object whose child's count is already 0 is
 * freed at open, the child kept (a wrong count must not free something
 * still referenced). */
static void
damaged_dying_list(void **state)
{
	(void)state;
	const char *path = nvt_path("dying.pool");
	nvh_pool *pool = typed_pool("dying.pool", 8 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr n = NVH_TX_ALLOC(tx, node), m = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &node_d(pool, n)->next, m));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, n));
	assert_nvh_ok(nvh_tx_commit(tx));
	uint64_t slot = pool->heap->hdr.root_off + 8;
	uint64_t noff = n.oid.off & NVH_OID_OFF_MASK;
	uint64_t moff = m.oid.off & NVH_OID_OFF_MASK;
	uint64_t nhdr = (uint64_t)((char *)nvh_obj_hdr(pool, noff) - pool->base);
	uint64_t mhdr = (uint64_t)((char *)nvh_obj_hdr(pool, moff) - pool->base);
	uint64_t aoff = (uint64_t)((char *)&tp->a - pool->base);
	assert_nvh_ok(nvh_close(pool));

	/* head -> n, which is live, not dying */
	nvt_pwrite(path, slot, &n.oid.off, 8);
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	assert_null(nvh_open(path, "obj", &ro));
	assert_errmsg_has("is not a dying object");
	assert_null(nvh_open(path, "obj", NULL));
	assert_errmsg_has("is not a dying object");

	/* n and m dying, each the other's successor: a loop, found at
	 * once (Brent), not after a walk as long as the pool */
	uint64_t nword, mword, zero = 0;
	nvt_pread(path, nhdr, &nword, 8);
	nvt_pread(path, mhdr, &mword, 8);
	uint64_t lw = NVH_HDR_MAKE(NVH_HDR_TYPE(nword), NVH_OBJ_DYING, 0);
	nvt_pwrite(path, nhdr, &lw, 8);
	nvt_pwrite(path, nhdr + 8, &m.oid.off, 8);
	lw = NVH_HDR_MAKE(NVH_HDR_TYPE(mword), NVH_OBJ_DYING, 0);
	nvt_pwrite(path, mhdr, &lw, 8);
	nvt_pwrite(path, mhdr + 8, &n.oid.off, 8);
	assert_null(nvh_open(path, "obj", &ro));
	assert_errmsg_has("the dying list loops");
	nvt_pwrite(path, nhdr, &nword, 8);
	nvt_pwrite(path, mhdr, &mword, 8);

	/* n made dying (unlinked from the root); m's count wrongly 0 */
	nvt_pwrite(path, aoff, &zero, 8);
	nvt_pread(path, nhdr, &nword, 8);
	nvt_pread(path, mhdr, &mword, 8);
	uint64_t w = NVH_HDR_MAKE(NVH_HDR_TYPE(nword), NVH_OBJ_DYING, 0);
	nvt_pwrite(path, nhdr, &w, 8);
	nvt_pwrite(path, nhdr + 8, &zero, 8); /* end of the list */
	w = NVH_HDR_MAKE(NVH_HDR_TYPE(mword), 0, 0);
	nvt_pwrite(path, mhdr, &w, 8);
	pool = assert_nvh_ptr(nvh_open(path, "obj", NULL));
	assert_int_equal(nvh_usable_size(pool, n.oid), 0); /* freed by the open */
	assert_true(nvh_usable_size(pool, m.oid) > 0);     /* kept */
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

/* ---- the checker finds planted damage ---- */

static void
check_finds_planted_damage(void **state)
{
	(void)state;
	const char *path = nvt_path("damage.pool");
	nvh_pool *pool = typed_pool("damage.pool", 8 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr n = NVH_TX_ALLOC(tx, node), m = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, n));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->b, m));
	assert_nvh_ok(nvh_tx_commit(tx));
	uint64_t noff = n.oid.off & NVH_OID_OFF_MASK;
	uint64_t moff = m.oid.off & NVH_OID_OFF_MASK;
	uint64_t nhdr = (uint64_t)((char *)nvh_obj_hdr(pool, noff) - pool->base);
	uint64_t field = (uint64_t)((char *)&node_d(pool, m)->next - pool->base);
	/* a free block next to n: its bitmap bit */
	struct nvh_heap *h = pool->heap;
	uint64_t a, b, in;
	assert_int_equal(nvh_heap_locate(h, noff, &a, &b, &in), 0);
	uint64_t freeb = b + 5, bit_word = nvh_bitmap_off(h, a) + (freeb / 64) * 8;
	uint64_t freeoff = noff + 5 * h->cls[h->arena[a].cls].block_size;
	uint64_t tag = pool->oid_tag;
	assert_nvh_ok(nvh_close(pool));
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "%s check %s >/dev/null", getenv("NVHEAP_TOOL"),
		 path);
	assert_int_equal(system(cmd), 0);

	struct {
		const char *what;
		uint64_t off, value, old;
		const char *msg;
	} plants[] = {
		{"leaked block", bit_word, 0, 0, "leak: object at"},
		{"wrong count", nhdr, 0, 0, "has count 7, 1 strong"},
		{"dangling pointer", field, tag | freeoff, 0, "dangling pointer"},
	};
	nvt_pread(path, bit_word, &plants[0].old, 8);
	plants[0].value = plants[0].old | 1ull << (freeb % 64);
	nvt_pread(path, nhdr, &plants[1].old, 8);
	plants[1].value = NVH_HDR_MAKE(NVH_HDR_TYPE(plants[1].old), 0, 7);
	nvt_pread(path, field, &plants[2].old, 8);
	for (size_t i = 0; i < 3; i++) {
		nvt_pwrite(path, plants[i].off, &plants[i].value, 8);
		pool = assert_nvh_ptr(nvh_open(path, "obj", NULL));
		char buf[8192];
		FILE *f = fmemopen(buf, sizeof(buf), "w");
		struct nvh_check_report rep;
		assert_int_equal(nvh_check(pool, &rep, f), -NVH_ECORRUPT);
		fclose(f);
		if (!strstr(buf, plants[i].msg))
			fail_msg("%s: report lacks \"%s\":\n%s", plants[i].what,
				 plants[i].msg, buf);
		assert_nvh_ok(nvh_close(pool));
		assert_int_equal(WEXITSTATUS(system(cmd)), 1); /* the tool too */
		nvt_pwrite(path, plants[i].off, &plants[i].old, 8);
		assert_int_equal(system(cmd), 0);
	}
	(void)moff;
}

int
main(void)
{
	if (!getenv("NVHEAP_TOOL")) {
		fprintf(stderr, "test_obj: set NVHEAP_TOOL\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_across_commit_and_abort),
		cmocka_unit_test(checked_store_refusals),
		cmocka_unit_test(type_table),
		cmocka_unit_test(arrays_and_sized_objects),
		cmocka_unit_test(weak_pointers),
		cmocka_unit_test(pins),
		cmocka_unit_test(root_and_mutex),
		cmocka_unit_test(mutexes_exclude),
		cmocka_unit_test(mutex_misuse_is_an_error),
		cmocka_unit_test(mutex_of_exited_thread),
		cmocka_unit_test(registration_messages),
		cmocka_unit_test(check_finds_planted_damage),
		cmocka_unit_test(damaged_dying_list),
		cmocka_unit_test(damaged_type_id),
		cmocka_unit_test(crash_after_type_registration),
		cmocka_unit_test(root_slot_on_the_type_table),
		cmocka_unit_test(manual_object_fields_are_released),
		cmocka_unit_test(million_node_cascade),
		cmocka_unit_test(cascade_survives_a_crash),
	};
	return cmocka_run_group_tests_name("obj", tests, NULL, NULL);
}
