/*
 * graph_test.h -- the types, pools and fillers shared by the object-graph
 * suites (test_graph.c, test_graph_race.c).
 */
#ifndef GRAPH_TEST_H
#define GRAPH_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nvh_test.h"

#define MIB (1ull << 20)
#define NWIDE 20000
#define NHUGE 1000000
#define NHEADS 8

/* Under ThreadSanitizer (NVHEAP_TEST_SMALL, set by the tsan build) the
 * single-threaded scale cases shrink: they run full size elsewhere. */
static inline size_t
scaled(size_t n)
{
	return getenv("NVHEAP_TEST_SMALL") ? n / 20 : n;
}

NVH_TYPE(gleaf);
NVH_TYPE(gnode);
NVH_TYPE(wide);
NVH_TYPE(huge);
NVH_TYPE(groot);

struct gleaf {
	uint64_t v;
};

struct gnode {
	int64_t value;
	gnode_ptr next;
	gleaf_ptr leaf;
};

struct wide {
	uint64_t n;
	gleaf_ptr kid[NWIDE];
};

struct huge {
	gleaf_ptr kid[NHUGE];
};

struct groot {
	wide_ptr w;
	huge_ptr h;
	gnode_ptr filler;
	gnode_ptr head[NHEADS];
};

NVH_TYPE_DEFINE(gleaf, 0);
NVH_TYPE_DEFINE(gnode, 0, NVH_PTR(gnode, next, gnode)
		NVH_PTR(gnode, leaf, gleaf));
NVH_TYPE_DEFINE(wide, 0, NVH_PTR_N(wide, kid, NWIDE, gleaf));
NVH_TYPE_DEFINE(huge, 0, NVH_PTR_N(huge, kid, NHUGE, gleaf));
NVH_TYPE_DEFINE(groot, 0, NVH_PTR(groot, w, wide) NVH_PTR(groot, h, huge)
		NVH_PTR(groot, filler, gnode)
		NVH_PTR_N(groot, head, NHEADS, gnode));

static inline void
register_all(nvh_pool *pool)
{
	assert_nvh_ok(nvh_type_register(pool, &gleaf_type));
	assert_nvh_ok(nvh_type_register(pool, &gnode_type));
	assert_nvh_ok(nvh_type_register(pool, &wide_type));
	assert_nvh_ok(nvh_type_register(pool, &huge_type));
	assert_nvh_ok(nvh_type_register(pool, &groot_type));
}

static inline nvh_pool *
graph_pool(const char *name, uint64_t size)
{
	const char *p = nvt_path(name);
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "graph", size, NULL));
	register_all(pool);
	assert_false(NVH_IS_NULL(NVH_ROOT(pool, groot)));
	return pool;
}

static inline nvh_pool *
reopen(nvh_pool *pool, const char *name)
{
	if (pool)
		assert_nvh_ok(nvh_close(pool));
	pool = assert_nvh_ptr(nvh_open(nvt_path(name), "graph", NULL));
	register_all(pool);
	return pool;
}

static inline struct groot *
groot_of(nvh_pool *pool)
{
	return groot_d(pool, NVH_ROOT(pool, groot));
}

static inline void
assert_consistent(nvh_pool *pool)
{
	struct nvh_check_report rep;
	if (nvh_check(pool, &rep, stderr) != 0)
		fail_msg("pool inconsistent: %" PRIu64 " problems: %s",
			 rep.problems, nvh_errormsg());
	if (rep.dying)
		fail_msg("%" PRIu64 " objects left on the dying list", rep.dying);
}

static inline uint64_t
nobjects(nvh_pool *pool)
{
	struct nvh_stats st;
	nvh_stats(pool, &st);
	return st.objects;
}

static inline int
unlink_field(nvh_pool *pool, void *field)
{
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx)
		return -errno;
	int rc = nvh_tx_set(tx, field, NVH_OID_NULL);
	int crc = nvh_tx_commit(tx);
	return rc ? rc : crc;
}

struct lister {
	nvh_pool *pool;
	unsigned index, rounds, len;
	char err[512];
};

static inline void *
push_and_unlink(void *arg)
{
	struct lister *a = arg;
	nvh_pool *pool = a->pool;
	struct groot *r = groot_of(pool);
	for (unsigned round = 0; round < a->rounds; round++) {
		for (unsigned i = 0; i < a->len; i++) {
			nvh_tx *tx = nvh_tx_begin(pool);
			gnode_ptr x = tx ? NVH_TX_ALLOC(tx, gnode) : NVH_NULL(gnode);
			gleaf_ptr l = tx ? NVH_TX_ALLOC(tx, gleaf) : NVH_NULL(gleaf);
			if (!tx || NVH_IS_NULL(x) || NVH_IS_NULL(l) ||
			    NVH_TX_SET(tx, &gnode_d(pool, x)->leaf, l) ||
			    NVH_TX_SET(tx, &gnode_d(pool, x)->next,
				       r->head[a->index]) ||
			    NVH_TX_SET(tx, &r->head[a->index], x) ||
			    nvh_tx_commit(tx)) {
				snprintf(a->err, sizeof(a->err), "push %u of "
					 "round %u: %s", i, round, nvh_errormsg());
				if (tx && nvh_tx_current(pool))
					nvh_tx_abort(tx);
				return a;
			}
		}
		int rc = unlink_field(pool, &r->head[a->index]);
		if (rc) {
			snprintf(a->err, sizeof(a->err), "unlink of round %u: %s",
				 round, nvh_errormsg());
			return a;
		}
	}
	return NULL;
}

#endif
