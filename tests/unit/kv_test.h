/*
 * kv_test.h -- what the key-value store's collection suites share
 * (test_kv_hash.c, test_kv_list.c, test_kv_set.c): opening a store on a
 * test pool, and the check that a deleted big key gave its space back.
 */
#ifndef KV_TEST_H
#define KV_TEST_H

#include <unistd.h>

#include "nvh_test.h"

#include "examples/kvstore/kv.h"

#define T0 1700000000000ll

/* The store in test pool `name` (fresh: a new one), its time T0. */
static inline struct kv *
open_kv(const char *name, enum kv_index ix, int fresh)
{
	const char *path = nvt_path(name);
	if (fresh)
		unlink(path);
	struct kv_opts o = {.index = ix, .create = 1, .hash_buckets = 4};
	struct kv *kv = kv_open(path, &o);
	if (!kv)
		fail_msg("kv_open %s: %s", path, kv_errmsg());
	kv_set_time(kv, T0);
	return kv;
}

/* Close kv; reopened, its pool holds at most 64 KiB more than st0 said
 * (a deleted collection's objects went in the dying list's steps) and
 * nvh_check finds no problem. */
static inline void
close_space_back(struct kv *kv, const char *name, enum kv_index ix,
		 const struct nvh_stats *st0)
{
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv(name, ix, 0);
	struct nvh_stats st1;
	assert_int_equal(nvh_stats(kv_pool(kv), &st1), 0);
	assert_true(st1.allocated_bytes <= st0->allocated_bytes + (64u << 10));
	struct nvh_check_report rep;
	assert_int_equal(nvh_check(kv_pool(kv), &rep, NULL), 0);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(kv_close(kv), 0);
}

#endif
