/*
 * obj_test.h -- the types and helpers shared by the typed-object suites
 * (test_obj.c, test_obj_refs.c, test_obj_damage.c).
 */
#ifndef OBJ_TEST_H
#define OBJ_TEST_H

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "nvh_test.h"

#define MIB (1ull << 20)

NVH_TYPE(node);
NVH_TYPE(leaf);
NVH_TYPE(top);
NVH_TYPE(blob);
NVH_TYPE(fan);

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

NVH_TYPE_DEFINE(node, 0, NVH_PTR(node, next, node) NVH_PTR(node, leaf, leaf)
		NVH_WEAK(node, peer, node));
NVH_TYPE_DEFINE(leaf, 0);
NVH_TYPE_DEFINE(top, 0, NVH_PTR(top, a, node) NVH_PTR(top, b, node)
		NVH_PTR(top, l, leaf) {offsetof(struct top, any), 0, NULL, 0},);
NVH_TYPE_DEFINE(blob, NVH_TYPE_MANUAL);
NVH_TYPE_DEFINE(fan, 0, NVH_PTR_N(fan, kid, 5, node));

static inline nvh_pool *
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

static inline nvh_pool *
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

static inline void
assert_consistent(nvh_pool *pool)
{
	struct nvh_check_report rep;
	if (nvh_check(pool, &rep, stderr) != 0)
		fail_msg("pool inconsistent: %" PRIu64 " problems", rep.problems);
}

static inline uint64_t
nobjects(nvh_pool *pool)
{
	struct nvh_stats st;
	nvh_stats(pool, &st);
	return st.objects;
}

#endif
