/*
 * wl_pool.c -- torture workloads for the pool file itself: creation,
 * header updates at open and close, and header repair.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "workloads.h"

#include "heap/layout.h"
#include "heap/pool.h"

#define LAYOUT "torture"

/* The value the reopen workload persists: the first word of the root
 * object, allocated by setup. */
static uint64_t *
value_word(nvh_pool *p)
{
	return nvh_direct(p, *nvh_root_slot(p));
}

/*
 * Open a crash image and return its info; NULL with k->why set on failure,
 * or NULL with k->why empty if `absent_ok` and the file holds no pool yet.
 */
static nvh_pool *
open_image(struct nvh_crashtest_check *k, struct nvh_pool_info *info, int absent_ok)
{
	k->why[0] = 0;
	errno = 0;
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (!p) {
		if (absent_ok && (errno == NVH_ENOTPOOL || errno == NVH_ECORRUPT))
			return NULL;
		nvh_crashtest_fail(k, "open failed (%u operations acknowledged): %s",
			 k->acked, nvh_errormsg());
		return NULL;
	}
	nvh_pool_info(p, info);
	if (strcmp(info->layout, LAYOUT) != 0 ||
	    info->pool_size != NVH_MIN_POOL_SIZE) {
		nvh_crashtest_fail(k, "header fields wrong: layout \"%s\", size %llu",
			 info->layout, (unsigned long long)info->pool_size);
		nvh_close(p);
		return NULL;
	}
	return p;
}

static int
close_image(struct nvh_crashtest_check *k, nvh_pool *p)
{
	if (nvh_close(p) != 0)
		return nvh_crashtest_fail(k, "close after recovery failed: %s",
				nvh_errormsg());
	return 0;
}

static int
in_range(uint64_t got, uint64_t lo, uint64_t hi)
{
	return got >= lo && got <= hi;
}

/* ---- create: a pool comes into being all at once ---- */

static int
create_run(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, NVH_MIN_POOL_SIZE, &r->opts);
	if (!p)
		return -1;
	nvh_crashtest_ack(r); /* 1: created */
	if (nvh_close(p))
		return -1;
	nvh_crashtest_ack(r); /* 2: closed */
	return 0;
}

static int
create_check(struct nvh_crashtest_check *k)
{
	/* Creation in flight: no pool yet, or a complete one. */
	struct nvh_pool_info i;
	nvh_pool *p = open_image(k, &i, k->acked == 0);
	if (!p)
		return k->why[0] ? -1 : 0;
	uint64_t gen = i.run_generation - 1; /* our open bumped it */
	int r = k->recovered_once;
	int clean_lo = k->acked >= 2 && !r, clean_hi = k->acked >= 1 || r;
	if (i.was_clean < clean_lo || i.was_clean > clean_hi)
		nvh_crashtest_fail(k, "clean_shutdown %d, expected %d..%d", i.was_clean,
			 clean_lo, clean_hi);
	else if (!in_range(gen, 1, 1 + (unsigned)r))
		nvh_crashtest_fail(k, "run generation %llu, expected 1",
			 (unsigned long long)gen);
	int rc = close_image(k, p);
	return k->why[0] ? -1 : rc;
}

const struct nvh_crashtest nvt_wl_create = {
	.name = "create",
	.what = "nvh_create then nvh_close of a new pool",
	.run = create_run,
	.check = create_check,
};

/* ---- reopen: open / write a value / close, three times ----
 *
 * Operation j (1-based): (j-1) % 3 == 0 open, 1 write value (cycle
 * number), 2 close.  From the number acknowledged the check derives the
 * run generation, the clean flag and the value, each exact or, for the
 * operation in flight, one of two. */

#define CYCLES 3

static int
setup_pool(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, NVH_MIN_POOL_SIZE, &r->opts);
	if (!p)
		return -1;
	if (nvh_alloc(p, nvh_root_slot(p), 64, 1, NULL, NULL)) {
		nvh_close(p);
		return -1;
	}
	*value_word(p) = 0;
	nvh_persist(p, value_word(p), 8);
	return nvh_close(p);
}

static int
reopen_run(struct nvh_crashtest_run *r)
{
	for (uint64_t c = 1; c <= CYCLES; c++) {
		nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
		if (!p)
			return -1;
		nvh_crashtest_ack(r);
		uint64_t *v = value_word(p);
		*v = c;
		if (nvh_persist(p, v, sizeof(*v)))
			return -1;
		nvh_crashtest_ack(r);
		if (nvh_close(p))
			return -1;
		nvh_crashtest_ack(r);
	}
	return 0;
}

static int
reopen_check(struct nvh_crashtest_check *k)
{
	unsigned a = k->acked;
	int inflight = a < 3 * CYCLES ? (int)(a % 3) : -1; /* kind of op a+1 */
	uint64_t opens = (a + 2) / 3, writes = (a + 1) / 3;
	int clean = a % 3 == 0; /* after setup's close or a close */

	struct nvh_pool_info i;
	nvh_pool *p = open_image(k, &i, 0);
	if (!p)
		return -1;
	uint64_t gen = i.run_generation - 1;
	uint64_t *vp = value_word(p);
	if (!vp) {
		nvh_close(p);
		return nvh_crashtest_fail(k, "root object lost");
	}
	uint64_t v = *vp;
	unsigned r = (unsigned)k->recovered_once;
	/* the flag may be the other value while an open or close is in
	 * flight, and either after an interrupted recovery */
	int flag_free = inflight == 0 || inflight == 2 || r;
	if (!in_range(gen, 1 + opens, 1 + opens + (inflight == 0) + r))
		nvh_crashtest_fail(k, "run generation %llu after %u operations",
			 (unsigned long long)gen, a);
	else if (!flag_free && i.was_clean != clean)
		nvh_crashtest_fail(k, "clean_shutdown %d after %u operations",
			 i.was_clean, a);
	else if (!in_range(v, writes, writes + (inflight == 1)))
		nvh_crashtest_fail(k, "value %llu after %u operations (%llu writes done)",
			 (unsigned long long)v, a, (unsigned long long)writes);
	int rc = close_image(k, p);
	return k->why[0] ? -1 : rc;
}

const struct nvh_crashtest nvt_wl_reopen = {
	.name = "reopen",
	.what = "three cycles of open, persist a value, close",
	.setup = setup_pool,
	.run = reopen_run,
	.check = reopen_check,
};

/* ---- repair: one header copy is damaged; open repairs it ---- */

static int
damage_copy(const char *path, uint64_t off)
{
	FILE *f = fopen(path, "r+");
	if (!f)
		return -1;
	/* Garbage over the checksum and a field: the copy fails its check. */
	static const char junk[16] = "torn-header-copy";
	int ok = fseek(f, (long)(off + 240), SEEK_SET) == 0 &&
		 fwrite(junk, 1, sizeof(junk), f) == sizeof(junk);
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int
repair_setup_a(struct nvh_crashtest_run *r)
{
	return setup_pool(r) ? -1 : damage_copy(r->path, NVH_HDR_A_OFFSET);
}

static int
repair_setup_b(struct nvh_crashtest_run *r)
{
	return setup_pool(r) ? -1 : damage_copy(r->path, NVH_HDR_B_OFFSET);
}

static int
repair_run(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	if (!p)
		return -1;
	nvh_crashtest_ack(r);
	if (nvh_close(p))
		return -1;
	nvh_crashtest_ack(r);
	return 0;
}

static int
repair_check(struct nvh_crashtest_check *k)
{
	unsigned a = k->acked;
	struct nvh_pool_info i;
	nvh_pool *p = open_image(k, &i, 0);
	if (!p)
		return -1;
	uint64_t gen = i.run_generation - 1;
	unsigned r = (unsigned)k->recovered_once;
	if (!in_range(gen, a >= 1 ? 2 : 1, 2 + r))
		nvh_crashtest_fail(k, "run generation %llu after %u operations",
			 (unsigned long long)gen, a);
	else if (a == 0 && !r && i.was_clean && gen != 1)
		/* one header update sets both: never one without the other */
		nvh_crashtest_fail(k, "generation %llu with clean_shutdown %d",
			 (unsigned long long)gen, i.was_clean);
	else if (a == 2 && !r && !i.was_clean)
		nvh_crashtest_fail(k, "not clean after close was acknowledged");
	else if (a == 2 && !r && (!i.hdr_ok[0] || !i.hdr_ok[1]))
		nvh_crashtest_fail(k, "header copy %c still invalid after repair: %s",
			 i.hdr_ok[0] ? 'B' : 'A',
			 i.hdr_problem[i.hdr_ok[0] ? 1 : 0]);
	int rc = close_image(k, p);
	return k->why[0] ? -1 : rc;
}

const struct nvh_crashtest nvt_wl_repair_a = {
	.name = "repair-a",
	.what = "open and close a pool whose header copy A is damaged",
	.setup = repair_setup_a,
	.run = repair_run,
	.check = repair_check,
};

const struct nvh_crashtest nvt_wl_repair_b = {
	.name = "repair-b",
	.what = "open and close a pool whose header copy B is damaged",
	.setup = repair_setup_b,
	.run = repair_run,
	.check = repair_check,
};
