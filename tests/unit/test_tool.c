/*
 * test_tool.c -- the `nvheap` command-line tool, run as a program, and its
 * size parser.  NVHEAP_TOOL names the binary under test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/checksum.h"
#include "heap/layout.h"
#include "tools/size.h"

static const char *tool;

struct run {
	int status;
	char out[16384];
};

/* Run `nvheap <args>` with stdout and stderr captured together. */
static struct run *
run(const char *fmt, ...)
{
	static struct run r;
	char args[2048], cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", tool, args);
	fflush(NULL);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = fread(r.out, 1, sizeof(r.out) - 1, f);
	r.out[n] = 0;
	int st = pclose(f);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return &r;
}

#define assert_has(r, s)                                                     \
	do {                                                                 \
		if (!strstr((r)->out, (s)))                                  \
			fail_msg("output lacks \"%s\":\n%s", (s), (r)->out); \
	} while (0)

static void
parse_sizes(void **state)
{
	(void)state;
	static const struct { const char *s; uint64_t v; } good[] = {
		{"0", 0}, {"4096", 4096}, {"64K", 64 << 10}, {"64k", 64 << 10},
		{"8M", 8 << 20}, {"8MiB", 8 << 20}, {"8mb", 8 << 20},
		{"2G", 2ull << 30}, {"1T", 1ull << 40}, {"100B", 100},
		{"16777215T", 16777215ull << 40},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 1;
		char err[128];
		if (nvh_parse_size(good[i].s, &v, err, sizeof(err)))
			fail_msg("\"%s\": %s", good[i].s, err);
		assert_int_equal(v, good[i].v);
	}
	static const char *bad[] = {"", "abc", "12X", "-1", "8 M", "8MM",
				    "1.5G", "99999999999999999999",
				    "16777216T", "M"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v;
		char err[128] = "";
		if (nvh_parse_size(bad[i], &v, err, sizeof(err)) == 0)
			fail_msg("\"%s\" parsed as %llu", bad[i],
				 (unsigned long long)v);
		assert_non_null(strstr(err, "size"));
	}
	char buf[32];
	nvh_format_size(64 << 20, buf, sizeof(buf));
	assert_string_equal(buf, "64 MiB");
	nvh_format_size(3 << 19, buf, sizeof(buf));
	assert_string_equal(buf, "1.5 MiB");
	nvh_format_size(100, buf, sizeof(buf));
	assert_string_equal(buf, "100 B");
}

static void
create_then_info(void **state)
{
	(void)state;
	const char *p = nvt_path("tool.pool");
	struct run *r = run("create %s --layout kvtest --size 8M", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "created");
	assert_has(r, "8 MiB");
	r = run("info %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "layout:          kvtest\n");
	assert_has(r, "size:            8388608 bytes (8 MiB)\n");
	assert_has(r, "format version:  1\n");
	assert_has(r, "state:           clean");
	assert_has(r, "persistence:     msync (auto: mapping is not pmem)");
	assert_has(r, "header copy A:   ok");
	assert_has(r, "header copy B:   ok");
	assert_has(r, "uuid:            ");
	/* info changes nothing: the generation stays at 1 */
	assert_has(r, "run generation:  1\n");
	r = run("info %s", p);
	assert_has(r, "run generation:  1\n");
	r = run("info %s --layout kvtest", p);
	assert_int_equal(r->status, 0);
	r = run("info %s --layout other", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "layout");
	/* The backend shown follows NVHEAP_PERSIST. */
	r = run("info %s | grep persistence; NVHEAP_PERSIST=eadr %s info %s",
		p, tool, p);
	assert_has(r, "persistence:     eadr (chosen by NVHEAP_PERSIST)");
}

static void
stats_and_classes(void **state)
{
	(void)state;
	const char *p = nvt_path("stats.pool");
	assert_int_equal(run("create %s -l st -s 8M", p)->status, 0);
	struct run *r = run("info %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "size classes:    ");
	assert_has(r, "      0       64       3276\n");
	assert_has(r, "lanes:           ");
	r = run("stats %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "objects:         0 ");
	assert_has(r, "closed cleanly");
	/* put objects in it through the library, then look again */
	nvh_pool *pool = nvh_open(p, "st", NULL);
	assert_non_null(pool);
	nvh_oid *s = nvt_scratch(pool, 100 * sizeof(nvh_oid));
	for (int i = 0; i < 100; i++)
		assert_int_equal(nvh_alloc(pool, &s[i], 64, 1, NULL, NULL), 0);
	assert_int_equal(nvh_close(pool), 0);
	r = run("stats %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "objects:         101 ");
	assert_has(r, "      0       64        1        100 ");
	r = run("stats --help");
	assert_int_equal(r->status, 0);
	assert_has(r, "usage: nvheap stats PATH");
	r = run("stats %s", nvt_path("nothing.pool"));
	assert_int_equal(r->status, 1);
}

static void
info_reports_damaged_copy(void **state)
{
	(void)state;
	const char *p = nvt_path("damaged.pool");
	assert_int_equal(run("create %s -l d -s 2M", p)->status, 0);
	uint64_t bad = 0x1234;
	nvt_pwrite(p, NVH_HDR_B_OFFSET + offsetof(struct nvh_pool_hdr, checksum),
		   &bad, sizeof(bad));
	struct run *r = run("info %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "header copy A:   ok");
	assert_has(r, "header copy B:   invalid: field checksum");
	nvt_pwrite(p, NVH_HDR_A_OFFSET + offsetof(struct nvh_pool_hdr, checksum),
		   &bad, sizeof(bad));
	r = run("info %s", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "nvheap info: nvh_open: ");
	assert_has(r, "field checksum");
}

static void
errors_and_usage(void **state)
{
	(void)state;
	const char *p = nvt_path("err.pool");
	struct run *r = run("create %s --layout x --size 12X", p);
	assert_int_equal(r->status, 2);
	assert_has(r, "unknown suffix");
	r = run("create %s --layout x", p);
	assert_int_equal(r->status, 2);
	assert_has(r, "--size is required");
	r = run("create %s --size 8M", p);
	assert_int_equal(r->status, 2);
	assert_has(r, "--layout is required");
	r = run("create %s --layout x --size 1M", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "below the minimum");
	assert_int_equal(access(p, F_OK), -1);
	r = run("create %s --layout x --size 8M --persist tape", p);
	assert_int_equal(r->status, 2);
	r = run("create %s --layout x --size 8M --mode 0640", p);
	assert_int_equal(r->status, 0);
	r = run("create %s --layout x --size 8M", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "exists");
	r = run("info %s", nvt_path("missing.pool"));
	assert_int_equal(r->status, 1);
	assert_has(r, "No such file or directory");
	r = run("info");
	assert_int_equal(r->status, 2);
	r = run("frobnicate");
	assert_int_equal(r->status, 2);
	assert_has(r, "unknown command");
	r = run("");
	assert_int_equal(r->status, 2);
	assert_has(r, "usage: nvheap COMMAND");
}

static void
grow_and_growth_policy(void **state)
{
	(void)state;
	const char *p = nvt_path("grow.pool");
	unlink(p);
	/* fixed: info says so; grow makes it bigger offline */
	struct run *r = run("create %s --layout g --size 4M", p);
	assert_int_equal(r->status, 0);
	r = run("info %s", p);
	assert_has(r, "maximum size:    fixed");
	assert_has(r, "growths:         0");
	r = run("grow %s 64M", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "4 MiB -> 64 MiB (1 segment added in all)");
	assert_int_equal(nvt_file_size(p), 64ull << 20);
	r = run("info %s", p);
	assert_has(r, "size:            67108864 bytes (64 MiB)\n");
	assert_has(r, "maximum size:    fixed");
	assert_has(r, "growths:         1");
	r = run("check %s", p);
	assert_int_equal(r->status, 0);
	/* no shrinking, nothing changed */
	r = run("grow %s 32M", p);
	assert_int_equal(r->status, 2);
	assert_has(r, "pools do not shrink (nothing was changed)");
	assert_int_equal(nvt_file_size(p), 64ull << 20);
	/* the policy set with it */
	r = run("grow %s 80M --max-size 1G", p);
	assert_int_equal(r->status, 0);
	r = run("info %s", p);
	assert_has(r, "maximum size:    1073741824 bytes (1 GiB)");
	assert_has(r, "growths:         2");
	r = run("grow %s 96M --max-size unlimited", p);
	r = run("info %s", p);
	assert_has(r, "maximum size:    unlimited");
	/* a size the file system cannot hold: a clear error, no change */
	r = run("grow %s 15T", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "nvheap grow:");
	assert_int_equal(nvt_file_size(p), 96ull << 20);
	r = run("check %s", p);
	assert_int_equal(r->status, 0);
	r = run("grow %s", p);
	assert_int_equal(r->status, 2);
	r = run("grow %s 1G --max-size bogus", p);
	assert_int_equal(r->status, 2);
	unlink(p);
	/* created growing */
	r = run("create %s --layout g --size 2M --max-size 256M --grow-step 8M",
		p);
	assert_int_equal(r->status, 0);
	r = run("info %s", p);
	assert_has(r, "maximum size:    268435456 bytes (256 MiB)");
	assert_has(r, "growth step:     8 MiB");
	unlink(p);
}

static void
help_everywhere(void **state)
{
	(void)state;
	struct run *r = run("--help");
	assert_int_equal(r->status, 0);
	assert_has(r, "create");
	assert_has(r, "info");
	r = run("create --help");
	assert_int_equal(r->status, 0);
	assert_has(r, "usage: nvheap create PATH --layout NAME --size SIZE");
	r = run("info -h");
	assert_int_equal(r->status, 0);
	assert_has(r, "usage: nvheap info PATH");
}

static int
open_then_crash(void *arg)
{
	nvh_pool *pool = nvh_open(arg, NULL, NULL);
	_exit(pool ? 0 : 1); /* no close */
}

/* `nvheap check` (and --recover) called a clean pool with a lowered
 * checkpoint consistent, though every read-write open refused it; now it
 * says what is wrong and --repair fixes it, losing no object. */
static void
check_repairs_the_log(void **state)
{
	(void)state;
	const char *p = nvt_path("repair.pool");
	nvh_pool *pool = nvh_create(p, "rp", 64 << 20, NULL);
	assert_non_null(pool);
	nvt_populate(pool, 100000, 4);
	assert_int_equal(nvh_close(pool), 0);
	nvt_ckpt_write(p, 0, 1);
	nvt_ckpt_write(p, 1, 1);
	struct run *r = run("check %s", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "problem: log: checkpoint line: seq 1, but lane ");
	assert_has(r, "`nvheap check --repair` sets it to ");
	assert_has(r, "INCONSISTENT");
	r = run("check --recover %s", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "problem: log: checkpoint line");
	r = run("check --repair %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "repair: checkpoint line at pool offset 8448: slot ");
	assert_has(r, ": consistent");
	r = run("check --repair %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "repair: the log needs no repair");
	pool = nvh_open(p, "rp", NULL);
	if (!pool)
		fail_msg("open after the repair: %s", nvh_errormsg());
	nvt_populated_ok(pool, 100000, 4);
	assert_int_equal(nvh_close(pool), 0);
	r = run("check %s", p);
	assert_int_equal(r->status, 0);

	/* not closed cleanly, no valid slot: nothing can be decided */
	assert_int_equal(nvt_in_child(open_then_crash, (void *)p), 0);
	uint64_t junk[4] = {7, 7, 7, 7}, after[4];
	nvt_pwrite(p, NVT_CKPT_OFF, junk, sizeof(junk));
	r = run("check --repair %s", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "nvheap check: nvh_repair: ");
	assert_has(r, "not closed cleanly");
	assert_has(r, "nothing changed");
	nvt_pread(p, NVT_CKPT_OFF, after, sizeof(after));
	assert_memory_equal(junk, after, sizeof(junk));
	r = run("check --recover %s", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "no valid slot");

	r = run("check --help");
	assert_int_equal(r->status, 0);
	assert_has(r, "--repair");
	r = run("--help");
	assert_has(r, "--repair");
}

static int
write_then_crash(void *arg)
{
	nvh_pool *pool = nvh_open(arg, NULL, NULL);
	if (!pool)
		_exit(1);
	nvt_populate_more(pool, 3000); /* committed, not checkpointed */
	_exit(0); /* no close */
}

/* A pool not closed cleanly is checked as its recovery leaves it,
 * recovered in memory: the check writes nothing to the file (it used to
 * refuse without --recover). */
static void
check_reads_an_unclean_pool(void **state)
{
	(void)state;
	const char *p = nvt_path("unclean.pool");
	nvh_pool *pool = nvh_create(p, "uc", 64 << 20, NULL);
	assert_non_null(pool);
	nvt_populate(pool, 20000, 2);
	assert_int_equal(nvh_close(pool), 0);
	assert_int_equal(nvt_in_child(write_then_crash, (void *)p), 0);
	uint64_t size = nvt_file_size(p);
	char *before = malloc(size), *after = malloc(size);
	assert_non_null(before);
	assert_non_null(after);
	nvt_pread(p, 0, before, size);
	struct run *r = run("check %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "not closed cleanly: checking the state its recovery "
		      "leaves, recovered in memory");
	assert_has(r, ": consistent");
	nvt_pread(p, 0, after, size);
	if (memcmp(before, after, size) != 0)
		fail_msg("nvheap check wrote to the pool");
	r = run("check --recover %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "recovered");
	pool = nvh_open(p, "uc", NULL);
	assert_non_null(pool);
	nvt_populated_ok(pool, 20000, 2);
	assert_int_equal(nvh_close(pool), 0);
	free(before);
	free(after);
}

/* 2000 nvh_malloc blocks linked from the root (an untyped array), 500
 * more never linked; then the process dies. */
static int
malloc_then_crash(void *arg)
{
	nvh_pool *pool = nvh_open(arg, NULL, NULL);
	if (!pool || nvh_alloc(pool, nvh_root_slot(pool), 2000 * 8, 1, NULL,
			       NULL))
		_exit(1);
	uint64_t *arr = nvh_direct(pool, *nvh_root_slot(pool));
	for (int i = 0; i < 2500; i++) {
		char *b = nvh_malloc(pool, 48 + i % 300);
		if (!b)
			_exit(2);
		snprintf(b, 48, "block %d", i);
		nvh_persist(pool, b, 48);
		if (i < 2000)
			arr[i] = nvh_oid_of(pool, b).off;
	}
	nvh_persist(pool, arr, 2000 * 8);
	_exit(0); /* no close */
}

static void
gc_collects_offline(void **state)
{
	(void)state;
	const char *p = nvt_path("gc.pool");
	nvh_pool *pool = nvh_create(p, "gc", 16 << 20, NULL);
	assert_non_null(pool);
	assert_int_equal(nvh_close(pool), 0);
	assert_int_equal(nvt_in_child(malloc_then_crash, (void *)p), 0);
	/* check reads it as the collection leaves it (in memory) */
	struct run *r = run("check %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "nvh_malloc: 2000 blocks allocated, 2000 reachable");
	r = run("gc %s", p);
	assert_int_equal(r->status, 0);
	assert_has(r, "collection at open (unclean shutdown): 2000 blocks "
		      "reachable");
	assert_has(r, "collection: 2000 blocks reachable");
	r = run("gc %s --layout other", p);
	assert_int_equal(r->status, 1);
	assert_has(r, "layout");
	r = run("gc");
	assert_int_equal(r->status, 2);
	pool = nvh_open(p, "gc", NULL);
	assert_non_null(pool);
	const uint64_t *arr = nvh_direct(pool, *nvh_root_slot(pool));
	assert_string_equal(nvh_direct(pool, (nvh_oid){arr[1999]}),
			    "block 1999");
	struct nvh_stats st = nvt_stats(pool);
	assert_int_equal(st.malloc_blocks, 2000);
	assert_int_equal(nvh_close(pool), 0);
}

int
main(void)
{
	tool = getenv("NVHEAP_TOOL");
	if (!tool) {
		fprintf(stderr, "test_tool: set NVHEAP_TOOL to the nvheap "
			"binary (scons test does)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_sizes),
		cmocka_unit_test(create_then_info),
		cmocka_unit_test(info_reports_damaged_copy),
		cmocka_unit_test(stats_and_classes),
		cmocka_unit_test(errors_and_usage),
		cmocka_unit_test(help_everywhere),
		cmocka_unit_test(grow_and_growth_policy),
		cmocka_unit_test(gc_collects_offline),
		cmocka_unit_test(check_repairs_the_log),
		cmocka_unit_test(check_reads_an_unclean_pool),
	};
	return cmocka_run_group_tests_name("tool", tests, NULL, NULL);
}
