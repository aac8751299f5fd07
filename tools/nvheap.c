/*
 * nvheap.c -- the `nvheap` command-line tool: create and inspect pools.
 *
 *   nvheap create PATH --layout NAME --size SIZE [--mode OCTAL] [--persist B]
 *   nvheap info PATH [--layout NAME]
 *   nvheap stats PATH [--layout NAME]
 *   nvheap check PATH [--layout NAME] [--recover] [--repair]
 *   nvheap crashtest FILE.so [crash test options]
 *
 * Exit status: 0 on success, 1 when the operation failed (the library's
 * message on stderr), 2 on a usage error.
 */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nvheap.h>

#include "size.h"

#define EXIT_USAGE 2

struct cmd {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(int argc, char **argv);
};

static const struct cmd *current;
static const char *prog = "nvheap"; /* argv[0], for commands printed */

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "nvheap %s: ", current->name);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", current->usage);
	return EXIT_USAGE;
}

static int
fail(void)
{
	fprintf(stderr, "nvheap %s: %s\n", current->name, nvh_errormsg());
	return EXIT_FAILURE;
}

static int
parse_persist(const char *s, enum nvh_persist_kind *out)
{
	static const struct { const char *n; enum nvh_persist_kind k; } t[] = {
		{"auto", NVH_PERSIST_AUTO}, {"pmem", NVH_PERSIST_PMEM},
		{"msync", NVH_PERSIST_MSYNC}, {"eadr", NVH_PERSIST_EADR},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(s, t[i].n) == 0) {
			*out = t[i].k;
			return 0;
		}
	return -1;
}

/* ---- create ---- */

static const char create_usage[] =
	"usage: nvheap create PATH --layout NAME --size SIZE [options]\n"
	"\n"
	"Create a new pool file.  Fails if PATH exists.\n"
	"\n"
	"  -l, --layout NAME   layout name the application opens it with\n"
	"                      (at most 63 bytes)\n"
	"  -s, --size SIZE     pool size: bytes, or with a K, M, G or T suffix\n"
	"                      (binary: 64M = 64 MiB); at least 2M\n"
	"  -g, --max-size SIZE the pool grows by itself up to SIZE, or\n"
	"                      \"unlimited\" (until the file system is full);\n"
	"                      without it the size is fixed\n"
	"      --grow-step SIZE bytes each growth adds (default: a quarter of\n"
	"                      the pool, at least 4M)\n"
	"  -m, --mode OCTAL    file mode (default 0600)\n"
	"  -p, --persist B     persistence backend: auto, pmem, msync, eadr\n"
	"  -h, --help          show this help\n";

/* --max-size: a size, "unlimited" or "fixed". */
static int
parse_max(const char *s, uint64_t *out)
{
	char err[256];
	if (!strcmp(s, "unlimited")) {
		*out = NVH_GROW_UNLIMITED;
		return 0;
	}
	if (!strcmp(s, "fixed")) {
		*out = NVH_GROW_OFF;
		return 0;
	}
	if (nvh_parse_size(s, out, err, sizeof(err)))
		return usage_error("--max-size: %s", err);
	return 0;
}

/* The options of a command that takes only --layout and one PATH: -1
 * with *layout and *path set, or the exit status (0 after --help). */
static int
layout_and_path(int argc, char **argv, const char **layout, const char **path)
{
	static const struct option lo[] = {
		{"layout", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*layout = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "l:h", lo, NULL)) != -1) {
		switch (c) {
		case 'l': *layout = optarg; break;
		case 'h': fputs(current->usage, stdout); return 0;
		default: return usage_error("%s", "bad option");
		}
	}
	if (optind != argc - 1)
		return usage_error("%s", "expected exactly one PATH");
	*path = argv[optind];
	return -1;
}

static int
cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{"layout", required_argument, NULL, 'l'},
		{"size", required_argument, NULL, 's'},
		{"max-size", required_argument, NULL, 'g'},
		{"grow-step", required_argument, NULL, 'S'},
		{"mode", required_argument, NULL, 'm'},
		{"persist", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *layout = NULL, *size_arg = NULL;
	struct nvh_opts opts = {0};
	char err[256];
	int c;
	while ((c = getopt_long(argc, argv, "l:s:g:m:p:h", lo, NULL)) != -1) {
		switch (c) {
		case 'l': layout = optarg; break;
		case 's': size_arg = optarg; break;
		case 'g':
			if (parse_max(optarg, &opts.max_size))
				return EXIT_USAGE;
			break;
		case 'S':
			if (nvh_parse_size(optarg, &opts.grow_step, err,
					   sizeof(err)))
				return usage_error("--grow-step: %s", err);
			break;
		case 'm': {
			char *end;
			errno = 0;
			unsigned long m = strtoul(optarg, &end, 8);
			if (errno || *end || !*optarg || m > 07777)
				return usage_error("bad --mode \"%s\" (octal, "
						   "e.g. 0600)", optarg);
			opts.mode = (mode_t)m;
			break;
		}
		case 'p':
			if (parse_persist(optarg, &opts.persist))
				return usage_error("bad --persist \"%s\" (auto, "
						   "pmem, msync or eadr)", optarg);
			break;
		case 'h': fputs(create_usage, stdout); return 0;
		default: return usage_error("%s", "bad option");
		}
	}
	if (optind != argc - 1)
		return usage_error("%s", "expected exactly one PATH");
	if (!layout)
		return usage_error("%s", "--layout is required");
	if (!size_arg)
		return usage_error("%s", "--size is required");
	uint64_t size;
	if (nvh_parse_size(size_arg, &size, err, sizeof(err)))
		return usage_error("%s", err);
	nvh_pool *pool = nvh_create(argv[optind], layout, size, &opts);
	if (!pool)
		return fail();
	struct nvh_pool_info info;
	nvh_pool_info(pool, &info);
	if (nvh_close(pool))
		return fail();
	char sz[32];
	nvh_format_size(info.pool_size, sz, sizeof(sz));
	printf("created %s: layout \"%s\", %s, uuid %s\n", info.path,
	       info.layout, sz, info.uuid_str);
	return 0;
}

/* ---- info ---- */

static const char info_usage[] =
	"usage: nvheap info PATH [--layout NAME]\n"
	"\n"
	"Print a pool's header: layout, size, UUID, format version, the\n"
	"persistence backend that opening it would choose, and whether it was\n"
	"closed cleanly.  Opens the pool read-only and changes nothing.\n"
	"\n"
	"  -l, --layout NAME   fail unless the pool has this layout\n"
	"  -h, --help          show this help\n";

static int
cmd_info(int argc, char **argv)
{
	const char *layout, *path;
	int u = layout_and_path(argc, argv, &layout, &path);
	if (u >= 0)
		return u;
	struct nvh_opts opts = {.flags = NVH_OPEN_RDONLY};
	nvh_pool *pool = nvh_open(path, layout, &opts);
	if (!pool)
		return fail();
	struct nvh_pool_info i;
	struct nvh_stats st;
	nvh_pool_info(pool, &i);
	nvh_stats(pool, &st);
	nvh_close(pool);

	char sz[32], heap[32], when[64];
	nvh_format_size(i.pool_size, sz, sizeof(sz));
	nvh_format_size(i.heap_size, heap, sizeof(heap));
	time_t t = (time_t)i.create_time;
	struct tm tm;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(when, sizeof(when), "%" PRIu64, i.create_time);
	printf("path:            %s\n", i.path);
	printf("layout:          %s\n", i.layout);
	printf("uuid:            %s\n", i.uuid_str);
	printf("format version:  %" PRIu32 "\n", i.format_version);
	printf("size:            %" PRIu64 " bytes (%s)\n", i.pool_size, sz);
	char mx[32], stp[32];
	nvh_format_size(i.max_size, mx, sizeof(mx));
	nvh_format_size(i.grow_step, stp, sizeof(stp));
	if (!i.grows)
		printf("maximum size:    fixed (nvheap grow makes it bigger)\n");
	else if (!i.max_size)
		printf("maximum size:    unlimited (grows until the file "
		       "system is full)\n");
	else
		printf("maximum size:    %" PRIu64 " bytes (%s)\n", i.max_size,
		       mx);
	if (i.grows)
		printf("growth step:     %s\n", i.grow_step ? stp
		       : "a quarter of the pool, at least 4 MiB");
	printf("growths:         %" PRIu64 " (segments added)\n", i.segments);
	printf("heap:            %" PRIu64 " bytes (%s) at offset %" PRIu64 "\n",
	       i.heap_size, heap, i.heap_offset);
	printf("created:         %s\n", when);
	printf("run generation:  %" PRIu64 "\n", i.run_generation);
	printf("state:           %s\n", i.was_clean
	       ? "clean (closed cleanly)"
	       : "dirty (not closed cleanly; recovery runs at the next open)");
	printf("persistence:     %s (%s)\n", i.persist_name, i.persist_reason);
	for (int k = 0; k < 2; k++)
		printf("header copy %c:   %s%s\n", "AB"[k],
		       i.hdr_ok[k] ? "ok" : "invalid: ",
		       i.hdr_ok[k] ? "" : i.hdr_problem[k]);
	char asz[32], maxs[32];
	nvh_format_size(st.arena_size, asz, sizeof(asz));
	nvh_format_size(st.max_small, maxs, sizeof(maxs));
	printf("arenas:          %" PRIu64 " of %s\n", st.arenas, asz);
	printf("lanes:           %" PRIu32 "\n", st.nlanes);
	printf("size classes:    %" PRIu32 " (64 B to %s; larger objects take "
	       "whole arenas)\n", st.nclasses, maxs);
	printf("  class    block  per arena\n");
	for (uint32_t k = 0; k < st.nclasses; k++)
		printf("  %5" PRIu32 " %8" PRIu32 " %10" PRIu32 "\n", k,
		       st.cls[k].block_size, st.cls[k].blocks_per_arena);
	return 0;
}

/* ---- stats ---- */

static const char stats_usage[] =
	"usage: nvheap stats PATH [--layout NAME]\n"
	"\n"
	"Print how a pool's heap is used: objects and bytes allocated, free\n"
	"space, arenas per size class.  Opens the pool read-only and changes\n"
	"nothing (a pool that was not closed cleanly is shown as of its last\n"
	"checkpoint; opening it read-write replays the rest).\n"
	"\n"
	"  -l, --layout NAME   fail unless the pool has this layout\n"
	"  -h, --help          show this help\n";

static int
cmd_stats(int argc, char **argv)
{
	const char *layout, *path;
	int u = layout_and_path(argc, argv, &layout, &path);
	if (u >= 0)
		return u;
	struct nvh_opts opts = {.flags = NVH_OPEN_RDONLY};
	nvh_pool *pool = nvh_open(path, layout, &opts);
	if (!pool)
		return fail();
	struct nvh_pool_info i;
	struct nvh_stats st;
	nvh_pool_info(pool, &i);
	int rc = nvh_stats(pool, &st);
	nvh_close(pool);
	if (rc)
		return fail();
	char a[32], b[32], heap[32];
	uint64_t heap_bytes = st.arenas * st.arena_size;
	nvh_format_size(heap_bytes, heap, sizeof(heap));
	printf("pool:            %s (%s)\n", i.path,
	       i.was_clean ? "closed cleanly"
			   : "not closed cleanly: figures as of the last "
			     "checkpoint");
	nvh_format_size(st.allocated_bytes, a, sizeof(a));
	printf("objects:         %" PRIu64 " (%s in blocks)\n", st.objects, a);
	nvh_format_size(st.large_bytes, a, sizeof(a));
	printf("large objects:   %" PRIu64 " (%s)\n", st.large_objects, a);
	nvh_format_size(st.free_bytes, b, sizeof(b));
	printf("free:            %s of %s (%.1f%%)\n", b, heap,
	       heap_bytes ? 100.0 * (double)st.free_bytes / (double)heap_bytes
			  : 0.0);
	printf("arenas:          %" PRIu64 " total, %" PRIu64 " free, %" PRIu64
	       " small, %" PRIu64 " large\n", st.arenas, st.arenas_free,
	       st.arenas_small, st.arenas_large);
	printf("  class    block   arenas    objects   use\n");
	for (uint32_t k = 0; k < st.nclasses; k++) {
		const struct nvh_class_stats *cs = &st.cls[k];
		if (!cs->arenas)
			continue;
		uint64_t cap = cs->arenas * cs->blocks_per_arena;
		printf("  %5" PRIu32 " %8" PRIu32 " %8" PRIu64 " %10" PRIu64
		       " %4.0f%%\n", k, cs->block_size, cs->arenas, cs->objects,
		       cap ? 100.0 * (double)cs->objects / (double)cap : 0.0);
	}
	return 0;
}

/* ---- check ---- */

static const char check_usage[] =
	"usage: nvheap check PATH [--layout NAME] [--recover] [--repair]\n"
	"\n"
	"Verify a pool without the application.  First its log: everything a\n"
	"read-write open would refuse or replay wrongly (a damaged checkpoint\n"
	"line, a checkpoint below the records of a pool closed cleanly,\n"
	"damaged log records).  Then its object graph: walk from the root\n"
	"using the pool's type table and check that every allocated object is\n"
	"reachable and every pointer names a live object of the right type\n"
	"(no leaks, no dangling pointers), that reference counts equal the\n"
	"strong references found, that type tags are known, that objects do\n"
	"not overlap and the allocator's own structures agree.  Prints each\n"
	"problem and a summary.  Exit status 0 only if consistent (1: problems\n"
	"found, the pool cannot be opened, or the repair refused; 2: usage).\n"
	"\n"
	"The pool is opened read-only and nothing is written to it.  A pool\n"
	"that was not closed cleanly is recovered in memory by that open (a\n"
	"private copy-on-write view: the file keeps its logs), and the state\n"
	"its recovery leaves is what is checked; with --recover it is opened\n"
	"read-write instead, which recovers it in place, and then checked.\n"
	"\n"
	"--repair first repairs the log, offline and losing nothing, then\n"
	"checks: for a pool closed cleanly it rebuilds a damaged or lowered\n"
	"checkpoint from the lanes and ends passes at damaged (dead) records;\n"
	"for one not closed cleanly it only rewrites a damaged checkpoint slot\n"
	"beside an intact one, and refuses (changing nothing) what it cannot\n"
	"decide.  It prints each change.  The object graph is not repaired.\n"
	"\n"
	"  -l, --layout NAME   fail unless the pool has this layout\n"
	"  -r, --recover       open read-write (runs recovery) if needed\n"
	"  -R, --repair        repair the log first (docs/recovery.md, Repair)\n"
	"  -h, --help          show this help\n";

static int
cmd_check(int argc, char **argv)
{
	static const struct option lo[] = {
		{"layout", required_argument, NULL, 'l'},
		{"recover", no_argument, NULL, 'r'},
		{"repair", no_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *layout = NULL;
	int recover = 0, repair = 0, c;
	while ((c = getopt_long(argc, argv, "l:rRh", lo, NULL)) != -1) {
		switch (c) {
		case 'l': layout = optarg; break;
		case 'r': recover = 1; break;
		case 'R': repair = 1; break;
		case 'h': fputs(check_usage, stdout); return 0;
		default: return usage_error("%s", "bad option");
		}
	}
	if (optind != argc - 1)
		return usage_error("%s", "expected exactly one PATH");
	if (repair && nvh_repair(argv[optind], layout, stdout))
		return fail();
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	nvh_pool *pool = nvh_open(argv[optind], layout, &ro);
	if (!pool && recover) {
		/* the unrecovered image may not even open read-only (objects
		 * caught mid-operation): recovery is what --recover asks for */
		pool = nvh_open(argv[optind], layout, NULL);
		if (!pool)
			return fail();
		printf("%s: recovered\n", argv[optind]);
	} else if (!pool) {
		return fail();
	}
	struct nvh_pool_info i;
	nvh_pool_info(pool, &i);
	if (!i.was_clean && i.rdonly && recover) {
		nvh_close(pool);
		pool = nvh_open(argv[optind], layout, NULL);
		if (!pool)
			return fail();
		printf("%s: recovered\n", argv[optind]);
	} else if (i.recovered_view) {
		printf("%s: not closed cleanly: checking the state its recovery "
		       "leaves, recovered in memory (%" PRIu64 " log records; "
		       "the file is unchanged, --recover recovers it in "
		       "place)\n", argv[optind], i.recovered_records);
	}
	struct nvh_check_report rep;
	int rc = nvh_check(pool, &rep, stdout);
	if (rc && rep.problems == 0) { /* could not run at all */
		nvh_close(pool);
		return fail();
	}
	nvh_close(pool);
	printf("%s: %s\n", argv[optind], rc ? "INCONSISTENT" : "consistent");
	return rc ? EXIT_FAILURE : 0;
}

/* ---- crashtest ---- */

static const char crashtest_usage[] =
	"usage: nvheap crashtest FILE.so [options]\n"
	"\n"
	"Crash-test your own data structure: load the shared object FILE.so,\n"
	"which exports its tests with NVH_CRASHTEST_EXPORT (nvheap/crashtest.h),\n"
	"and explore every crash point of each one.  Prints \"NAME: N crash\n"
	"states, F failures\" per test and, for each failure, the command that\n"
	"replays it.  Exit status 0 if no test failed, 1 if one did.\n"
	"`nvheap crashtest FILE.so --help` lists the options (budget, seed,\n"
	"--workload NAME, replay); docs/crashtest.md is the tutorial.\n";

static int
cmd_crashtest(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		int help = argc >= 2 && (!strcmp(argv[1], "-h") ||
					 !strcmp(argv[1], "--help"));
		if (help) {
			fputs(crashtest_usage, stdout);
			return 0;
		}
		return usage_error("%s", argc < 2 ? "which shared object?"
				   : "the shared object comes first");
	}
	const char *file = argv[1];
	/* dlopen searches the library path for a bare name: this is a file */
	char path[4096];
	snprintf(path, sizeof(path), "%s%s", strchr(file, '/') ? "" : "./",
		 file);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "nvheap crashtest: cannot load %s: %s\n", file,
			dlerror());
		return EXIT_USAGE;
	}
	const struct nvh_crashtest *const *tests = dlsym(h, "nvh_crashtests");
	if (!tests || !tests[0]) {
		fprintf(stderr, "nvheap crashtest: %s exports no tests (define "
			"them with NVH_CRASHTEST_EXPORT(&test, ...))\n", file);
		dlclose(h);
		return EXIT_USAGE;
	}
	/* The command line of nvh_crashtest_main: this command as argv[0]
	 * (its replay lines), then the options after FILE. */
	char argv0[4200];
	snprintf(argv0, sizeof(argv0), "%s crashtest %s", prog, file);
	argv[1] = argv0;
	int rc = nvh_crashtest_main(argc - 1, argv + 1, tests);
	dlclose(h);
	return rc;
}

/* ---- grow ---- */

static const char grow_usage[] =
	"usage: nvheap grow PATH SIZE [--layout NAME] [--max-size SIZE]\n"
	"\n"
	"Grow a pool, offline, to SIZE bytes (K, M, G or T suffixes): the file\n"
	"is extended and arenas are added, crash-atomically (a crash leaves\n"
	"the old size or the new one).  Works on any pool, fixed or growing;\n"
	"a maximum size below SIZE is raised to it.  Shrinking is not\n"
	"supported.\n"
	"\n"
	"  -l, --layout NAME   fail unless the pool has this layout\n"
	"  -g, --max-size M    also set its growth policy: it grows by itself\n"
	"                      up to M, \"unlimited\", or \"fixed\" (never)\n"
	"  -h, --help          show this help\n";

static int
cmd_grow(int argc, char **argv)
{
	static const struct option lo[] = {
		{"layout", required_argument, NULL, 'l'},
		{"max-size", required_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *layout = NULL;
	struct nvh_opts opts = {0};
	int c;
	while ((c = getopt_long(argc, argv, "l:g:h", lo, NULL)) != -1) {
		switch (c) {
		case 'l': layout = optarg; break;
		case 'g':
			if (parse_max(optarg, &opts.max_size))
				return EXIT_USAGE;
			break;
		case 'h': fputs(grow_usage, stdout); return 0;
		default: return usage_error("%s", "bad option");
		}
	}
	if (optind != argc - 2)
		return usage_error("%s", "expected PATH and SIZE");
	uint64_t size;
	char err[256];
	if (nvh_parse_size(argv[optind + 1], &size, err, sizeof(err)))
		return usage_error("%s", err);
	nvh_pool *pool = nvh_open(argv[optind], layout, &opts);
	if (!pool)
		return fail();
	struct nvh_pool_info before, after;
	nvh_pool_info(pool, &before);
	if (size < before.pool_size) {
		char b[32];
		nvh_format_size(before.pool_size, b, sizeof(b));
		fprintf(stderr, "nvheap grow: %s is %s already; pools do not "
			"shrink (nothing was changed)\n", argv[optind], b);
		nvh_close(pool);
		return EXIT_USAGE;
	}
	if (nvh_pool_grow(pool, size)) {
		fprintf(stderr, "nvheap grow: %s\n", nvh_errormsg());
		nvh_close(pool);
		return 1;
	}
	nvh_pool_info(pool, &after);
	if (nvh_close(pool))
		return fail();
	char b[32], a[32];
	nvh_format_size(before.pool_size, b, sizeof(b));
	nvh_format_size(after.pool_size, a, sizeof(a));
	printf("%s: %s -> %s (%" PRIu64 " segment%s added in all)\n",
	       argv[optind], b, a, after.segments,
	       after.segments == 1 ? "" : "s");
	return 0;
}

/* ---- gc ---- */

static const char gc_usage[] =
	"usage: nvheap gc PATH [--layout NAME]\n"
	"\n"
	"Collect nvh_malloc's garbage, offline: open the pool (after an unclean\n"
	"shutdown the open collects by itself), then free every nvh_malloc\n"
	"block that nothing reachable points to, and close it cleanly.  Prints\n"
	"what each collection marked and freed.  Safe to interrupt: a crash\n"
	"during a collection leaves the pool as it was.\n"
	"\n"
	"  -l, --layout NAME   fail unless the pool has this layout\n"
	"  -h, --help          show this help\n";

static void
gc_print(const char *what, const struct nvh_gc_report *r)
{
	printf("%s: %" PRIu64 " blocks reachable (%" PRIu64 " bytes), %" PRIu64
	       " freed (%" PRIu64 " bytes); %" PRIu64 " roots, %" PRIu64
	       " words scanned, %" PRIu64 " rescans, %.3f s\n", what, r->marked,
	       r->marked_bytes, r->freed, r->freed_bytes, r->roots,
	       r->words_scanned, r->rescans, r->seconds);
}

static int
cmd_gc(int argc, char **argv)
{
	const char *layout, *path;
	int u = layout_and_path(argc, argv, &layout, &path);
	if (u >= 0)
		return u;
	nvh_pool *pool = nvh_open(path, layout, NULL);
	if (!pool)
		return fail();
	struct nvh_gc_report r;
	nvh_gc_last(pool, &r);
	if (r.seconds > 0)
		gc_print("collection at open (unclean shutdown)", &r);
	if (nvh_gc(pool, &r)) {
		fprintf(stderr, "nvheap gc: %s\n", nvh_errormsg());
		nvh_close(pool);
		return 1;
	}
	gc_print("collection", &r);
	if (nvh_close(pool))
		return fail();
	return 0;
}

/* ---- dispatch ---- */

static const struct cmd cmds[] = {
	{"create", "create a new pool file", create_usage, cmd_create},
	{"info", "print a pool's header and state", info_usage, cmd_info},
	{"stats", "print how a pool's heap is used", stats_usage, cmd_stats},
	{"check", "verify a pool's log and object graph (--repair the log)",
	 check_usage, cmd_check},
	{"grow", "grow a pool to a new size (offline)", grow_usage, cmd_grow},
	{"gc", "free unreachable nvh_malloc blocks (offline)", gc_usage, cmd_gc},
	{"crashtest", "crash-test a data structure (a shared object's tests)",
	 crashtest_usage, cmd_crashtest},
};

static void
main_usage(FILE *f)
{
	fprintf(f, "usage: nvheap COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\n`nvheap COMMAND --help` describes one command.\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	prog = argv[0];
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		main_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			current = &cmds[i];
			return cmds[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "nvheap: unknown command \"%s\"\n", argv[1]);
	main_usage(stderr);
	return EXIT_USAGE;
}
