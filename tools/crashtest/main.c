/*
 * main.c -- nvh_crashtest_main: the command line of a crash test program
 * (see nvheap/crashtest.h), shared by `nvheap crashtest FILE.so`, the
 * user's own programs and nvheap's `torture`.
 *
 *   PROG [--budget SECONDS] [--seed N] [--workload NAME]... [--soak]
 *        [--max-fences N] [--k N] [--no-nested] [--nested-per-point N]
 *        [--list] [-v]
 *   PROG --workload NAME --seed N --fence F --state S
 *        [--nested-fence G --nested-state T]        (replay one state)
 *   PROG --dump-images DIR [--dump-bytes N]        (fuzzing seeds)
 *
 * stdout: one line per test, "NAME: N crash states, F failures", then
 * "total: N crash states, F failures".  Details (seed, coverage, rate,
 * failure reports with replay commands) go to stderr.  Exit status 1 if
 * any failure, 2 on usage errors.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nvheap/crashtest.h>

static const char usage[] =
	"usage: %s [options]\n"
	"  -b, --budget SECONDS   stop exploring after this long (default 300;\n"
	"                         0 = no limit), shared among the tests\n"
	"                         by their shares (what one leaves goes on)\n"
	"  -s, --seed N           seed for sampling (default: from the clock)\n"
	"  -w, --workload NAME    only this test (repeatable)\n"
	"      --soak             larger subsets and no fence sampling; with a\n"
	"                         budget, repeats with new seeds until it is spent\n"
	"      --max-fences N     explore every fence up to N, else sample N\n"
	"      --k N              in-flight subsets up to N lines (default 2)\n"
	"      --no-nested        do not crash recovery itself\n"
	"      --nested-per-point N  crash the recovery of N images per crash\n"
	"                         point (default 48, 16 under ASan; 0 = all)\n"
	"      --fence F --state S [--nested-fence G --nested-state T]\n"
	"                         replay one crash state (with --workload, --seed)\n"
	"      --dump-images DIR  write each distinct image's first bytes to DIR\n"
	"      --dump-bytes N     how many (default 16384)\n"
	"  -l, --list             list the tests\n"
	"  -v, --verbose          print every state checked\n";

static const struct nvh_crashtest *
find(const struct nvh_crashtest *const *all, const char *name)
{
	for (size_t i = 0; all[i]; i++)
		if (all[i]->name && strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}

static double
share_of(const struct nvh_crashtest *w)
{
	return w->share > 0 ? w->share : 1;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || !*s || *end)
		return -1;
	*out = v;
	return 0;
}

static double
now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A scratch directory for the pools and images: in memory if there is
 * /dev/shm (TMPDIR decides otherwise). */
static int
scratch_dir(char *dir, size_t len)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, len, "%s/nvheap-crashtest.XXXXXX", base);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "crashtest: cannot make a scratch directory in "
			"%s: %s\n", base, strerror(errno));
		return -1;
	}
	return 0;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path) != 0 && errno != ENOENT;
}

/* The scratch directory, emptied (a test may leave files) and removed. */
static void
remove_dir(const char *dir)
{
	if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "crashtest: could not remove %s\n", dir);
}

int
nvh_crashtest_main(int argc, char **argv,
		   const struct nvh_crashtest *const *all)
{
	enum { O_SOAK = 256, O_MAXF, O_K, O_NONEST, O_NPP, O_FENCE, O_STATE,
	       O_NFENCE, O_NSTATE, O_DUMP, O_DUMPB };
	static const struct option lo[] = {
		{"budget", required_argument, NULL, 'b'},
		{"seed", required_argument, NULL, 's'},
		{"workload", required_argument, NULL, 'w'},
		{"soak", no_argument, NULL, O_SOAK},
		{"max-fences", required_argument, NULL, O_MAXF},
		{"k", required_argument, NULL, O_K},
		{"no-nested", no_argument, NULL, O_NONEST},
		{"nested-per-point", required_argument, NULL, O_NPP},
		{"fence", required_argument, NULL, O_FENCE},
		{"state", required_argument, NULL, O_STATE},
		{"nested-fence", required_argument, NULL, O_NFENCE},
		{"nested-state", required_argument, NULL, O_NSTATE},
		{"dump-images", required_argument, NULL, O_DUMP},
		{"dump-bytes", required_argument, NULL, O_DUMPB},
		{"list", no_argument, NULL, 'l'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	if (!all || argc < 1) {
		fprintf(stderr, "crashtest: no tests\n");
		return 2;
	}
	size_t nall = 0;
	while (all[nall])
		nall++;
	struct nvh_crashtest_config cfg;
	nvh_crashtest_config_default(&cfg);
	cfg.argv0 = argv[0];
	cfg.dump_len = 16384;
	cfg.dump_max = 256;
	/* More recovery crashes than the library default of 8 per crash
	 * point: nvheap's small workloads are exhaustive in seconds (about
	 * 120,000 states in all) at 48, and under ASan, three times slower,
	 * in a third of the budget at 16. */
#ifdef __SANITIZE_ADDRESS__
	cfg.nested_per_point = 16;
#else
	cfg.nested_per_point = 48;
#endif
	double budget = 300;
	int seeded = 0, soak = 0;
	const struct nvh_crashtest **chosen = calloc(nall + 1, sizeof(*chosen));
	size_t nchosen = 0;
	if (!chosen) {
		fprintf(stderr, "crashtest: out of memory\n");
		return 2;
	}
	optind = 0; /* getopt from the start, whatever ran before */
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "b:s:w:lvh", lo, NULL)) != -1) {
		switch (c) {
		case 'b': {
			char *end;
			budget = strtod(optarg, &end);
			if (*end || budget < 0)
				goto bad;
			break;
		}
		case 's':
			if (parse_u64(optarg, &cfg.seed))
				goto bad;
			seeded = 1;
			break;
		case 'w': {
			const struct nvh_crashtest *w = find(all, optarg);
			if (!w) {
				fprintf(stderr, "%s: no test \"%s\" (--list)\n",
					argv[0], optarg);
				free(chosen);
				return 2;
			}
			int dup = 0;
			for (size_t i = 0; i < nchosen; i++)
				dup |= chosen[i] == w;
			if (!dup)
				chosen[nchosen++] = w;
			break;
		}
		case O_SOAK: soak = 1; break;
		case O_MAXF:
			if (parse_u64(optarg, &cfg.max_fences))
				goto bad;
			break;
		case O_K:
			if (parse_u64(optarg, &v) || v > 8)
				goto bad;
			cfg.gen.k = (unsigned)v;
			break;
		case O_NONEST: cfg.nested = 0; break;
		case O_NPP:
			if (parse_u64(optarg, &v) || v > UINT32_MAX)
				goto bad;
			cfg.nested_per_point = (unsigned)v;
			break;
		case O_FENCE:
		case O_STATE:
		case O_NFENCE:
		case O_NSTATE:
			if (parse_u64(optarg, &v) || v > INT64_MAX)
				goto bad;
			*(c == O_FENCE ? &cfg.only_fence
			  : c == O_STATE ? &cfg.only_state
			  : c == O_NFENCE ? &cfg.only_nfence
					  : &cfg.only_nstate) = (int64_t)v;
			break;
		case O_DUMP: cfg.dump_dir = optarg; break;
		case O_DUMPB:
			if (parse_u64(optarg, &v) || v == 0)
				goto bad;
			cfg.dump_len = (size_t)v;
			break;
		case 'l':
			for (size_t i = 0; i < nall; i++)
				printf("%-16s %s%s\n", all[i]->name,
				       all[i]->what ? all[i]->what : "",
				       all[i]->planted_bug ? " (a planted bug: "
				       "expected to fail)" : "");
			free(chosen);
			return 0;
		case 'v': cfg.verbose = 1; break;
		case 'h':
			printf(usage, argv[0]);
			free(chosen);
			return 0;
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	int replay = cfg.only_fence >= 0;
	if ((cfg.only_state >= 0) != replay ||
	    (cfg.only_nfence >= 0) != (cfg.only_nstate >= 0) ||
	    (cfg.only_nfence >= 0 && !replay) ||
	    (replay && (nchosen != 1 || !seeded))) {
		fprintf(stderr, "%s: a replay needs --workload, --seed, "
			"--fence and --state (and both nested options or "
			"neither)\n", argv[0]);
		free(chosen);
		return 2;
	}
	if (replay) {
		cfg.verbose = 1;
		cfg.max_reports = ~0u;
		budget = 0;
	}
	if (!seeded)
		cfg.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (soak) {
		cfg.gen.k = cfg.gen.k > 3 ? cfg.gen.k : 3;
		cfg.gen.all_subsets_max = 10;
		cfg.max_fences = 0;
		cfg.ngen.max_images = 256;
	}
	if (!nchosen) {
		for (size_t i = 0; i < nall; i++)
			if (!all[i]->planted_bug)
				chosen[nchosen++] = all[i];
	}
	if (cfg.dump_dir && mkdir(cfg.dump_dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], cfg.dump_dir,
			strerror(errno));
		free(chosen);
		return 2;
	}
	char dir[PATH_MAX];
	if (scratch_dir(dir, sizeof(dir)) != 0) {
		free(chosen);
		return 2;
	}
	cfg.dir = dir;
	fprintf(stderr, "%s: seed %" PRIu64 " (rerun with --seed %" PRIu64
		" to repeat), budget %s\n", argv[0], cfg.seed, cfg.seed,
		budget > 0 ? "limited" : "none");

	uint64_t total_states = 0, total_failures = 0;
	double t0 = now();
	int round = 0;
	do {
		for (size_t i = 0; i < nchosen; i++) {
			const struct nvh_crashtest *w = chosen[i];
			if (budget > 0) {
				double left = budget - (now() - t0);
				if (left <= 0)
					break;
				/* what is left, shared among those to come by
				 * their shares: tests with big states come
				 * last and get what the others leave */
				double rest = 0;
				for (size_t j = i; j < nchosen; j++)
					rest += share_of(chosen[j]);
				cfg.budget = soak ? left
						  : left * share_of(w) / rest;
			}
			struct nvh_crashtest_result r;
			int rc = nvh_crashtest_explore(w, &cfg, &r);
			if (rc)
				r.failures += r.failures ? 0 : 1;
			total_states += r.states;
			total_failures += r.failures;
			printf("%s: %" PRIu64 " crash states, %" PRIu64
			       " failures\n", w->name, r.states, r.failures);
			fflush(stdout);
			fprintf(stderr, "  %s: %" PRIu64 " fences, %" PRIu64
				" crash points explored%s, %" PRIu64
				" duplicate images skipped, %.1f s, %.0f "
				"states/s\n", w->name, r.fences, r.explored,
				r.budget_hit ? " (budget reached)" : "",
				r.duplicates, r.seconds,
				r.seconds > 0 ? (double)r.states / r.seconds : 0);
		}
		cfg.seed = cfg.seed * 6364136223846793005ull + 1442695040888963407ull;
		round++;
	} while (soak && budget > 0 && now() - t0 < budget);
	if (round > 1)
		fprintf(stderr, "%s: %d soak rounds\n", argv[0], round);
	printf("total: %" PRIu64 " crash states, %" PRIu64 " failures\n",
	       total_states, total_failures);
	remove_dir(dir);
	free(chosen);
	return total_failures ? 1 : 0;
bad:
	fprintf(stderr, usage, argv[0]);
	free(chosen);
	return 2;
}
