/*
 * wl_broken.c -- workloads with planted crash-consistency bugs.  The
 * explorer must report failures for each (tests/unit/test_sim.c asserts
 * it); they are never part of the `scons torture` pass.
 *
 * Both write a value and then a "commit record" saying the value is
 * valid, like a log commit.  The check: a durable commit record implies
 * the durable value.
 */
#include <stdint.h>

#include "workloads.h"

#include "heap/layout.h"
#include "heap/pool.h"

#define LAYOUT "broken"
#define VALUE 0x600dda7aull

/* The root object (8 KiB): the value in its first word, the commit record
 * in another line of another page. */
static uint64_t *
value_word(nvh_pool *p)
{
	return nvh_direct(p, *nvh_root_slot(p));
}

static uint64_t *
commit_word(nvh_pool *p)
{
	return value_word(p) + 4096 / 8;
}

static int
setup(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, NVH_MIN_POOL_SIZE, &r->opts);
	if (!p)
		return -1;
	if (nvh_alloc(p, nvh_root_slot(p), 8192, 1, NULL, NULL) ||
	    nvh_memset_persist(p, value_word(p), 0, 8192)) {
		nvh_close(p);
		return -1;
	}
	return nvh_close(p);
}

/* Bug: the value is stored but never flushed. */
static int
noflush_run(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	if (!p)
		return -1;
	*value_word(p) = VALUE;
	uint64_t *commit = commit_word(p);
	*commit = 1;
	if (nvh_persist(p, commit, sizeof(*commit)))
		return -1;
	nvh_crashtest_ack(r);
	return nvh_close(p);
}

/* Bug: value and commit record are flushed, then fenced once: the commit
 * record can become durable before the value. */
static int
order_run(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	if (!p)
		return -1;
	uint64_t *value = value_word(p);
	uint64_t *commit = commit_word(p);
	*value = VALUE;
	nvh_flush(p, value, sizeof(*value));
	*commit = 1;
	nvh_flush(p, commit, sizeof(*commit));
	if (nvh_drain(p))
		return -1;
	nvh_crashtest_ack(r);
	return nvh_close(p);
}

static int
check(struct nvh_crashtest_check *k)
{
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (!p)
		return nvh_crashtest_fail(k, "open failed: %s", nvh_errormsg());
	if (!value_word(p)) {
		nvh_close(p);
		return nvh_crashtest_fail(k, "root object lost");
	}
	uint64_t value = *value_word(p);
	uint64_t commit = *commit_word(p);
	nvh_close(p);
	if (k->acked >= 1 && commit != 1)
		return nvh_crashtest_fail(k, "acknowledged commit record lost");
	if (commit == 1 && value != VALUE)
		return nvh_crashtest_fail(k, "commit record durable, its value is not "
				"(0x%llx)", (unsigned long long)value);
	return 0;
}

const struct nvh_crashtest nvt_wl_broken_noflush = {
	.name = "broken-noflush",
	.what = "value never flushed before its commit record",
	.setup = setup,
	.run = noflush_run,
	.check = check,
	.planted_bug = 1,
};

const struct nvh_crashtest nvt_wl_broken_order = {
	.name = "broken-order",
	.what = "commit record flushed in the same fence as its value",
	.setup = setup,
	.run = order_run,
	.check = check,
	.planted_bug = 1,
};
