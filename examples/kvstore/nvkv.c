/*
 * nvkv.c -- the key-value store's command line.
 *
 *   nvkv [--index hash|btree] [--size SIZE] [--max-size SIZE|unlimited|fixed]
 *        [--read-only] PATH COMMAND [ARGS]
 *
 * Commands: put KEY VALUE, get KEY, del KEY, scan [FROM [TO]] (B-tree:
 * in key order within [FROM, TO]; hash: every key), dump (every pair, in
 * the format load reads), load FILE (bulk load; "-" is stdin), stats.
 * The pool is created on first use (--index and --size apply then): by
 * default it starts at 8 MiB (--size) and grows in place as the store
 * fills, until the file system is full.  --max-size caps the growth
 * (SIZE), or makes the pool fixed-size (fixed: --size, default 256 MiB,
 * and no more); given for an existing pool it changes its policy
 * (unlimited lets a fixed pool grow).
 *
 * scan, dump and load use one pair per line: KEY, a tab, VALUE, with
 * backslash escapes (\\t \\n \\r \\\\ \\xHH) for bytes that are not printable,
 * so any binary key or value round-trips.  get prints the raw value and a
 * newline.  load stops at the first bad line (malformed, or its pair cannot
 * be stored): every pair before it is stored, none from it on, and the
 * message says which lines those are.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kv.h"

static void
print_damage(void *arg, uint64_t off, const char *what)
{
	printf("%s: damaged entry at pool offset 0x%" PRIx64 ": %s\n",
	       (const char *)arg, off, what);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nvkv [--index hash|btree] [--size SIZE]\n"
		"            [--max-size SIZE|unlimited|fixed] [--read-only] "
		"PATH COMMAND [ARGS]\n"
		"  put KEY VALUE      store VALUE under KEY\n"
		"  get KEY            print the value (exit 1 if absent)\n"
		"  del KEY            remove KEY (exit 1 if absent)\n"
		"  scan [FROM [TO]]   list pairs (btree: ordered, within [FROM, TO])\n"
		"  dump               every pair, in the format load reads\n"
		"  load FILE          bulk load KEY<tab>VALUE lines (- = stdin); at\n"
		"                     a bad line it stops; the lines before it stay\n"
		"  stats              index, keys, pool space\n"
		"  check              verify every entry's checksums; list the\n"
		"                     damaged ones (exit 1 if any)\n"
		"The pool is created on first use: --index (default hash) and\n"
		"--size apply then.  It starts at --size (default 8M; K, M, G\n"
		"suffixes) and grows as the store fills, up to --max-size\n"
		"(default unlimited: until the file system is full);\n"
		"--max-size fixed makes a pool of a fixed size (--size, default\n"
		"256M).  --max-size given for an existing pool changes its\n"
		"policy (unlimited or a SIZE lets a fixed pool grow).\n"
		"--read-only opens the pool without changing the file (get, scan,\n"
		"dump, stats); a store not closed cleanly is shown recovered.\n");
}

static int
die(const char *what)
{
	fprintf(stderr, "nvkv: %s: %s\n", what, kv_errmsg());
	return 1;
}

/* ---- the line format ---- */

static void
put_escaped(FILE *f, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			putc(c, f);
	}
}

static int
hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

/* Decode escapes of s[0..n) in place; returns the new length or -1. */
static ssize_t
unescape(char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			s[o++] = s[i];
			continue;
		}
		if (++i == n)
			return -1;
		switch (s[i]) {
		case '\\': s[o++] = '\\'; break;
		case 't': s[o++] = '\t'; break;
		case 'n': s[o++] = '\n'; break;
		case 'r': s[o++] = '\r'; break;
		case 'x': {
			if (i + 2 >= n)
				return -1;
			int a = hexval((unsigned char)s[i + 1]);
			int b = hexval((unsigned char)s[i + 2]);
			if (a < 0 || b < 0)
				return -1;
			s[o++] = (char)(a << 4 | b);
			i += 2;
			break;
		}
		default:
			return -1;
		}
	}
	return (ssize_t)o;
}

/* scan and dump print strings; other types are counted (dump's format
 * has no place for them yet) */
struct printer {
	FILE *f;
	struct kv *kv;
	uint64_t skipped;
	char first[64];   /* the first skipped key, escaped and cut */
};

static int
print_pair(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct printer *pr = arg;
	FILE *f = pr->f;
	if (kv_visit_type(pr->kv) != KV_T_STRING) {
		if (!pr->skipped++)
			snprintf(pr->first, sizeof(pr->first), "%.*s",
				 (int)(kl < 60 ? kl : 60), (const char *)k);
		return 0;
	}
	put_escaped(f, k, kl);
	putc('\t', f);
	put_escaped(f, v, vl);
	putc('\n', f);
	return ferror(f) ? -EIO : 0;
}

/* ---- load ---- */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
progress(uint64_t done, uint64_t total, uint64_t keys, double t0, int final)
{
	double dt = now() - t0;
	int width = 30, fill = total ? (int)(width * (double)done / total) : 0;
	if (fill > width)
		fill = width;
	fprintf(stderr, "\r[%.*s%*s] %3d%% %" PRIu64 " keys, %.0f keys/s%s",
		fill, "##############################", width - fill, "",
		total ? (int)(100.0 * done / total) : 0, keys,
		dt > 0 ? keys / dt : 0.0, final ? "\n" : "");
}

/*
 * Pairs go in batches, one transaction per LOAD_BATCH pairs or
 * LOAD_BATCH_BYTES of keys and values, for speed, but the batches do not
 * show: load stops at the first line that is malformed or whose pair
 * cannot be stored, and then every pair before that line is stored and
 * none from it on.  A failed put fails the whole open transaction (a full
 * pool, say), and its rollback takes the batch's earlier pairs with it; so
 * the open batch's pairs are also kept here, and when its transaction
 * fails they are put again one transaction each.  Only a pair that fails
 * on its own stops the load.
 */
#define LOAD_BATCH 1000              /* pairs per transaction ... */
#define LOAD_BATCH_BYTES (16u << 20) /* ... or bytes of keys and values */

struct load_rec {
	uint64_t line;
	size_t kl, vl; /* the key, then the value, follow */
};

/* The open batch: its transaction (NULL: none open; then no pairs) and
 * the pairs put in it so far. */
struct batch {
	nvh_tx *tx;
	char *buf; /* each pair: a struct load_rec, then its bytes */
	size_t len, cap, n;
};

static int
batch_add(struct batch *b, uint64_t line, const char *k, size_t kl,
	  const char *v, size_t vl)
{
	struct load_rec r = {line, kl, vl};
	size_t need = sizeof(r) + kl + vl;
	if (b->cap - b->len < need) {
		size_t cap = b->cap ? b->cap : 64 << 10;
		while (cap - b->len < need)
			cap *= 2;
		char *p = realloc(b->buf, cap);
		if (!p)
			return -ENOMEM;
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, &r, sizeof(r));
	memcpy(b->buf + b->len + sizeof(r), k, kl);
	memcpy(b->buf + b->len + sizeof(r) + kl, v, vl);
	b->len += need;
	b->n++;
	return 0;
}

/* After the batch's transaction was rolled back: put its pairs again in
 * order, one transaction each, up to the first that fails (0, or its
 * error with *line its line).  Putting a pair twice is harmless, should
 * the commit have happened after all (a failed drain after it). */
static int
batch_redo(struct kv *kv, struct batch *b, uint64_t *line)
{
	int rc = 0;
	for (size_t off = 0; off < b->len && !rc;) {
		struct load_rec r;
		memcpy(&r, b->buf + off, sizeof(r));
		const char *k = b->buf + off + sizeof(r);
		rc = kv_put(kv, k, r.kl, k + r.kl, r.vl);
		*line = r.line;
		off += sizeof(r) + r.kl + r.vl;
	}
	b->len = b->n = 0;
	return rc;
}

/* Store the batch: commit it, or if that fails put its pairs one by one. */
static int
batch_commit(struct kv *kv, struct batch *b, uint64_t *line)
{
	int rc = b->tx ? nvh_tx_commit(b->tx) : 0;
	b->tx = NULL;
	if (rc)
		return batch_redo(kv, b, line);
	b->len = b->n = 0;
	return 0;
}

/* What a stopped load left: the first `lines` lines' pairs. */
static void
stored(uint64_t lines, char *buf, size_t len)
{
	if (lines == 0)
		snprintf(buf, len, "nothing was loaded");
	else if (lines == 1)
		snprintf(buf, len, "line 1 (1 pair) is stored");
	else
		snprintf(buf, len, "lines 1-%" PRIu64 " (%" PRIu64 " pairs) are "
			 "stored", lines, lines);
}

static int
load(struct kv *kv, const char *file)
{
	const char *name = strcmp(file, "-") ? file : "stdin";
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!f) {
		fprintf(stderr, "nvkv: load: %s: %s\n", file, strerror(errno));
		return 1;
	}
	struct stat st;
	uint64_t total = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)
			 ? (uint64_t)st.st_size : 0;
	int tty = isatty(STDERR_FILENO);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t lineno = 0, keys = 0, done = 0;
	uint64_t bad = 0, at; /* bad: the line the load stopped at */
	char why[2048] = "";
	double t0 = now(), shown = 0;
	struct batch b = {0};
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		done += (uint64_t)n;
		if (line[n - 1] == '\n')
			n--;
		char *tab = memchr(line, '\t', (size_t)n);
		ssize_t kl = tab ? unescape(line, (size_t)(tab - line)) : -1;
		ssize_t vl = tab ? unescape(tab + 1, (size_t)(n - (tab + 1 - line)))
				 : -1;
		if (kl < 0 || vl < 0) {
			bad = lineno;
			snprintf(why, sizeof(why), "not KEY<tab>VALUE with valid "
				 "escapes");
			break;
		}
		if (!b.tx && !(b.tx = nvh_tx_begin(kv_pool(kv)))) {
			bad = lineno;
			snprintf(why, sizeof(why), "%s", nvh_errormsg());
			break;
		}
		size_t mark = b.len;
		if (batch_add(&b, lineno, line, (size_t)kl, tab + 1, (size_t)vl)) {
			bad = lineno;
			snprintf(why, sizeof(why), "out of memory");
			break;
		}
		int r = kv_put(kv, line, (size_t)kl, tab + 1, (size_t)vl);
		if (r && !nvh_tx_error(b.tx)) {
			/* refused before changing anything (too long, say):
			 * the batch without it still commits, below */
			b.len = mark;
			b.n--;
			bad = lineno;
			snprintf(why, sizeof(why), "%s", kv_errmsg());
			break;
		}
		if (r) {
			/* the transaction failed: roll it back, then this
			 * batch (this pair last) one pair at a time */
			(void)nvh_tx_commit(b.tx);
			b.tx = NULL;
			if (batch_redo(kv, &b, &at)) {
				bad = at;
				snprintf(why, sizeof(why), "%s", kv_errmsg());
				break;
			}
		} else if (b.n >= LOAD_BATCH || b.len >= LOAD_BATCH_BYTES) {
			if (batch_commit(kv, &b, &at)) {
				bad = at;
				snprintf(why, sizeof(why), "%s", kv_errmsg());
				break;
			}
		}
		keys++;
		if (tty && now() - shown > 0.2) {
			progress(done, total, keys, t0, 0);
			shown = now();
		}
	}
	int rerr = !bad && ferror(f) ? (errno ? errno : EIO) : 0;
	/* what is before the stop (or everything) */
	if (batch_commit(kv, &b, &at)) {
		bad = at; /* before any earlier stop: the batch holds only those */
		snprintf(why, sizeof(why), "%s", kv_errmsg());
		rerr = 0;
	}
	if (bad)
		keys = bad - 1;
	if (tty)
		progress(done, total, keys, t0, 1);
	/* Say exactly what is stored: every line before the stop is a pair
	 * and was stored, nothing from it on was. */
	int rc = 1;
	char sofar[128];
	stored(bad ? bad - 1 : lineno, sofar, sizeof(sofar));
	if (bad == 1)
		fprintf(stderr, "nvkv: load: %s:1: %s\nnvkv: load: stopped at "
			"line 1: nothing was loaded\n", name, why);
	else if (bad)
		fprintf(stderr, "nvkv: load: %s:%" PRIu64 ": %s\nnvkv: load: "
			"stopped at line %" PRIu64 ": %s; nothing from line %"
			PRIu64 " on was loaded\n", name, bad, why, bad, sofar, bad);
	else if (rerr)
		fprintf(stderr, "nvkv: load: %s: read error after line %" PRIu64
			": %s\nnvkv: load: %s; the rest of %s was not read\n",
			name, lineno, strerror(rerr), sofar, name);
	else {
		fprintf(stderr, "nvkv: loaded %" PRIu64 " pairs\n", keys);
		rc = 0;
	}
	free(b.buf);
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
	struct kv_opts o = {.index = KV_ANY, .create = 1};
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	static const struct option lo[] = {
		{"index", required_argument, NULL, 'i'},
		{"size", required_argument, NULL, 's'},
		{"max-size", required_argument, NULL, 'M'},
		{"read-only", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "+i:s:M:rh", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.nvh = &ro;
			break;
		case 'i':
			if (!strcmp(optarg, "hash")) {
				o.index = KV_HASH;
			} else if (!strcmp(optarg, "btree")) {
				o.index = KV_BTREE;
			} else {
				fprintf(stderr, "nvkv: --index: hash or btree, not "
					"\"%s\"\n", optarg);
				return 2;
			}
			break;
		case 's':
		case 'M':
			if (kv_size_opt(&o, "nvkv", c == 's' ? "--size"
						: "--max-size", optarg))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind < 2) {
		usage(stderr);
		return 2;
	}
	if (o.nvh && o.max_size) {
		fprintf(stderr, "nvkv: --max-size changes the pool: not with "
			"--read-only\n");
		return 2;
	}
	const char *path = argv[optind], *cmd = argv[optind + 1];
	char **a = argv + optind + 2;
	int na = argc - optind - 2;
	struct {
		const char *name;
		int min, max;
	} cmds[] = {{"put", 2, 2}, {"get", 1, 1}, {"del", 1, 1}, {"scan", 0, 2},
		    {"dump", 0, 0}, {"load", 1, 1}, {"stats", 0, 0},
		    {"check", 0, 0}};
	size_t ci = 0;
	while (ci < sizeof(cmds) / sizeof(cmds[0]) && strcmp(cmds[ci].name, cmd))
		ci++;
	if (ci == sizeof(cmds) / sizeof(cmds[0])) {
		fprintf(stderr, "nvkv: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	if (na < cmds[ci].min || na > cmds[ci].max) {
		fprintf(stderr, "nvkv: %s: wrong number of arguments\n", cmd);
		usage(stderr);
		return 2;
	}
	/* a file size limit (ulimit -f) fails a growth of the pool with
	 * EFBIG, reported with nothing changed, rather than killing nvkv */
	signal(SIGXFSZ, SIG_IGN);
	/* reading commands do not create a pool */
	o.create = !o.nvh && (!strcmp(cmd, "put") || !strcmp(cmd, "load"));
	struct kv *kv = kv_open(path, &o);
	if (!kv)
		return die(path);
	int rc = 0;
	if (!strcmp(cmd, "put")) {
		if (kv_put(kv, a[0], strlen(a[0]), a[1], strlen(a[1])))
			rc = die("put");
	} else if (!strcmp(cmd, "get")) {
		const void *v;
		size_t vl;
		int r = kv_get(kv, a[0], strlen(a[0]), &v, &vl);
		if (r == -ENOENT) {
			fprintf(stderr, "nvkv: get: no key \"%s\"\n", a[0]);
			rc = 1;
		} else if (r) {
			rc = die("get");
		} else {
			fwrite(v, 1, vl, stdout);
			putchar('\n');
		}
	} else if (!strcmp(cmd, "del")) {
		int r = kv_del(kv, a[0], strlen(a[0]));
		if (r == -ENOENT) {
			fprintf(stderr, "nvkv: del: no key \"%s\"\n", a[0]);
			rc = 1;
		} else if (r) {
			rc = die("del");
		}
	} else if (!strcmp(cmd, "scan") || !strcmp(cmd, "dump")) {
		struct printer pr = {.f = stdout, .kv = kv};
		int r = kv_scan(kv, na > 0 ? a[0] : NULL, na > 0 ? strlen(a[0]) : 0,
				na > 1 ? a[1] : NULL, na > 1 ? strlen(a[1]) : 0,
				print_pair, &pr);
		if (r) {
			rc = die(cmd);
		} else if (pr.skipped) {
			/* a dump that cannot be loaded back whole must not
			 * pass for one */
			fprintf(stderr, "nvkv: %s: %" PRIu64 " keys hold hashes "
				"(the first: \"%s\"), which %s does not print "
				"(strings only); the store is unchanged: "
				"nvkv-server's HGETALL reads them\n", cmd,
				pr.skipped, pr.first, cmd);
			rc = 1;
		} else if (kv_damaged_count(kv)) {
			/* never shown as data; say so and fail */
			fprintf(stderr, "nvkv: %s: %" PRIu64 " damaged entries "
				"skipped; `nvkv %s check` lists them\n", cmd,
				kv_damaged_count(kv), path);
			rc = 1;
		}
	} else if (!strcmp(cmd, "check")) {
		long long n = kv_check(kv, print_damage, (void *)path);
		if (n < 0) {
			rc = die("check");
		} else {
			printf("%s: %" PRIu64 " keys, %lld damaged entries\n",
			       path, kv_count(kv), n);
			rc = n > 0;
		}
	} else if (!strcmp(cmd, "load")) {
		rc = load(kv, a[0]);
	} else {
		struct kv_stats st;
		if (kv_stats(kv, &st)) {
			rc = die("stats");
		} else {
			printf("index:     %s\n", kv_index_name(st.index));
			printf("keys:      %" PRIu64 "\n", st.keys);
			if (st.index == KV_HASH)
				printf("buckets:   %" PRIu64 "\n", st.buckets);
			else
				printf("depth:     %" PRIu64 "\nnodes:     %" PRIu64
				       "\n", st.depth, st.nodes);
			struct nvh_pool_info pi = {0};
			char max[32] = "?";
			if (!nvh_pool_info(kv_pool(kv), &pi))
				kv_max_size_str(&pi, max, sizeof(max));
			printf("pool:      %" PRIu64 " bytes\n", st.pool_size);
			printf("max size:  %s%s\n", max,
			       pi.grows && pi.max_size ? " bytes" : "");
			printf("growths:   %" PRIu64 "\n", pi.segments);
			printf("used:      %" PRIu64 " bytes\n", st.used);
			printf("free:      %" PRIu64 " bytes\n", st.free);
		}
	}
	if (kv_close(kv) && !rc)
		rc = die("close");
	if (fflush(stdout) && !rc) {
		fprintf(stderr, "nvkv: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}
