/*
 * alloc_test.h -- the pool and helpers shared by the allocator suites
 * (test_alloc.c, test_alloc_threads.c).
 */
#ifndef ALLOC_TEST_H
#define ALLOC_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "nvh_test.h"

#define MIB (1ull << 20)

static inline nvh_pool *
new_pool(const char *name, uint64_t size)
{
	const char *p = nvt_path(name);
	unlink(p);
	return assert_nvh_ptr(nvh_create(p, "alloc", size, NULL));
}

/* An array of `n` oids anchored in the root slot. */
static inline nvh_oid *
slots(nvh_pool *pool, size_t n)
{
	nvh_oid *s = nvt_scratch(pool, n * sizeof(nvh_oid));
	memset(s, 0, n * sizeof(nvh_oid));
	assert_nvh_ok(nvh_persist(pool, s, n * sizeof(nvh_oid)));
	return s;
}

static inline struct nvh_stats
stats(nvh_pool *pool)
{
	return nvt_stats(pool);
}

static inline int
refuse_ctor(nvh_pool *p, void *obj, void *arg)
{
	(void)p, (void)obj, (void)arg;
	return 7;
}

static inline void
assert_checks_clean(nvh_pool *pool)
{
	struct nvh_check_report rep;
	if (nvh_check(pool, &rep, NULL) != 0 || rep.problems) {
		nvh_check(pool, &rep, stderr); /* say which */
		fail_msg("nvh_check: %" PRIu64 " problems", rep.problems);
	}
}

#endif
