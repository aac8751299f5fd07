/*
 * tx_test.h -- the pool, root object and counters shared by the
 * transaction suites (test_tx.c, test_tx_crash.c, test_tx_pointers.c,
 * test_tx_threads.c).
 */
#ifndef TX_TEST_H
#define TX_TEST_H

#include <unistd.h>

#include "nvh_test.h"

#define MIB (1ull << 20)

struct root {
	uint64_t counter;
	uint64_t pad[7];
	uint64_t words[64];
	nvh_oid list;
	nvh_oid big;
	nvh_oid extra;
};

static inline nvh_pool *
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

static inline struct root *
root_of(nvh_pool *pool)
{
	return nvh_direct(pool, *nvh_root_slot(pool));
}

static inline nvh_pool *
reopen(nvh_pool *pool, const char *name)
{
	assert_nvh_ok(nvh_close(pool));
	return assert_nvh_ptr(nvh_open(nvt_path(name), "tx", NULL));
}

/* Persist barriers so far (the seam's count). */
static inline uint64_t
barriers(nvh_pool *pool)
{
	struct nvh_persist_stats s;
	nvh_persist_stats(pool, &s);
	return s.barriers;
}

static inline uint64_t
objects(nvh_pool *pool)
{
	struct nvh_stats st;
	assert_nvh_ok(nvh_stats(pool, &st));
	return st.objects;
}

NVH_TYPE(tnode);

struct tnode {
	uint64_t v;
	tnode_ptr next;
	uint64_t w;
};

NVH_TYPE_DEFINE(tnode, 0, NVH_PTR(tnode, next, tnode));

#endif
