/*
 * fuzz_open.c -- libFuzzer target: open hostile pools that look like real
 * ones, recover them, check them, use them.
 *
 * The input (edits.h) picks one of the seed pools -- populated pools of
 * several MiB and crash images of runs on them (mkseeds.c) -- and edits
 * to make to it: bytes of named structures (a record's field, an entry's
 * target, a bitmap word, an object header, a pointer field, a type table
 * entry, a header field, the file size).  The harness rebuilds the pool
 * file on /dev/shm from the seed, applies the edits, reseals every
 * checksum they broke (reseal.c), so the edits reach the structural
 * checks behind the checksums, and then:
 *
 *   1. opens it read-only: it opens, or fails with a message naming the
 *      file; what opens reports sane fields and survives nvh_check;
 *   2. opens it read-write (recovery runs): the same, then uses it as an
 *      application would (exercise.c: allocations and frees, checked
 *      stores, a cascade, pins, the atomic API), nvh_check, and a close
 *      that succeeds;
 *   3. reopens it: what closed cleanly opens again, clean, with the next
 *      run generation, and nvh_check says exactly what it said before the
 *      close (nothing lost or changed by a clean close and open);
 *   4. opens a copy taken just before that close, i.e. the pool as a
 *      power failure there would leave it: recovery gives the same
 *      nvh_check report and the same heap, byte for byte (root line,
 *      arena table, bitmaps, arenas), as the clean close and reopen.
 *
 * An input without edits is an exact seed, so the library's crash
 * promise is asserted too: every seed opens read-write and nvh_check
 * finds nothing wrong after recovery and that use (and a clean seed
 * nothing wrong read-only either).  Beyond these properties, nothing may
 * crash, hang, leak or trip ASan or UBSan.
 *
 * Seeds are read from $NVH_FUZZ_SEEDS, else from pools/ beside the
 * binary.  NVH_FUZZ_SELFTEST=1 checks the resealing instead of fuzzing
 * (edits that only checksums see must change nothing).
 * NVH_FUZZ_VERBOSE=1 prints each input's edits and nvh_check's reports
 * (to reproduce a finding: `NVH_FUZZ_VERBOSE=1 fuzz_open FILE`);
 * NVH_FUZZ_KEEP=DIR copies the pool files there when a property fails.
 * At exit it prints how far the inputs got and what refused them.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nvheap.h>

#include "heap/layout.h"
#include "heap/log/layout.h"

#include "edits.h"
#include "exercise.h"
#include "poolmap.h"
#include "reseal.h"

static struct nvf_map *seeds;
static size_t nseeds;
static char path[PATH_MAX], crash_path[PATH_MAX];
static char dir[] = "/dev/shm/nvheap-fuzz.XXXXXX";
static int verbose;
static int quick;   /* the self-test: steps 1 and 2 only */

/* ---- what happened, printed at exit ---- */

enum { S_INPUTS, S_EDITED, S_RESEALED, S_RO, S_RW, S_RW_EDITED, S_CLEAN,
       S_PROBLEMS, S_TX, S_N };
static const char *const stat_name[S_N] = {
	"inputs", "with edits", "checksums resealed", "opened read-only",
	"opened read-write", "edited and opened read-write",
	"nvh_check clean", "nvh_check found damage", "operations committed",
};
static uint64_t stats[S_N];

#define NREFUSALS 48
static struct {
	char what[72];
	uint64_t n;
} refusals[NREFUSALS];

/* Tally why opens failed: the message without the path, numbers and
 * quotes. */
static void
refused(const char *msg)
{
	const char *p = strstr(msg, path);
	if (p)
		msg = p + strlen(path) + (p[strlen(path)] == ':' ? 2 : 0);
	char key[72];
	size_t k = 0;
	while (*msg && k < sizeof(key) - 1) {
		if (msg[0] == '0' && msg[1] == 'x') {
			for (msg += 2; isxdigit((unsigned char)*msg);)
				msg++;
			continue;
		}
		if (!isdigit((unsigned char)*msg) && *msg != '"')
			key[k++] = *msg;
		msg++;
	}
	key[k] = 0;
	for (int i = 0; i < NREFUSALS; i++) {
		if (!refusals[i].n) {
			memcpy(refusals[i].what, key, k + 1);
			refusals[i].n = 1;
			return;
		}
		if (strcmp(refusals[i].what, key) == 0) {
			refusals[i].n++;
			return;
		}
	}
}

static int
by_count(const void *a, const void *b)
{
	const __typeof__(refusals[0]) *x = a, *y = b;
	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

static void
cleanup(void)
{
	unlink(path);
	unlink(crash_path);
	rmdir(dir);
	fprintf(stderr, "fuzz_open:");
	for (int i = 0; i < S_N; i++)
		fprintf(stderr, "%s %" PRIu64 " %s", i ? "," : "", stats[i],
			stat_name[i]);
	fprintf(stderr, "\n");
	qsort(refusals, NREFUSALS, sizeof(refusals[0]), by_count);
	for (int i = 0; i < 12 && refusals[i].n; i++)
		fprintf(stderr, "fuzz_open: refused %" PRIu64 "x: %s\n",
			refusals[i].n, refusals[i].what);
}

/* ---- seeds ---- */

static int
seed_name_ok(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void
load_seeds(const char *argv0)
{
	char sdir[PATH_MAX];
	const char *env = getenv("NVH_FUZZ_SEEDS");
	if (env) {
		snprintf(sdir, sizeof(sdir), "%s", env);
	} else {
		char tmp[PATH_MAX];
		snprintf(tmp, sizeof(tmp), "%s", argv0);
		snprintf(sdir, sizeof(sdir), "%s/pools", dirname(tmp));
	}
	struct dirent **ents;
	int n = scandir(sdir, &ents, seed_name_ok, by_name);
	if (n <= 0) {
		fprintf(stderr, "fuzz_open: no seed pools in %s (build them "
			"with `scons fuzz`, or set NVH_FUZZ_SEEDS)\n", sdir);
		exit(1);
	}
	seeds = calloc((size_t)n, sizeof(*seeds));
	uint64_t recs = 0, chunk = 0, objs = 0, ptrs = 0, dying = 0, lo = ~0ull,
		 hi = 0;
	for (int i = 0; i < n; i++) {
		char p[PATH_MAX + 256];
		snprintf(p, sizeof(p), "%s/%s", sdir, ents[i]->d_name);
		free(ents[i]);
		struct nvf_map *m = &seeds[nseeds];
		if (nvf_map_load(m, p) != 0)
			continue;
		nseeds++;
		recs += m->rec.n;
		chunk += m->nchunk_recs;
		objs += m->obj.n;
		ptrs += m->ptr.n;
		dying += m->ndying;
		lo = m->size < lo ? m->size : lo;
		hi = m->size > hi ? m->size : hi;
	}
	free(ents);
	if (!nseeds)
		exit(1);
	fprintf(stderr, "fuzz_open: %zu seed pools from %s, %" PRIu64 "-%"
		PRIu64 " KiB; in all %" PRIu64 " live records (%" PRIu64
		" in chunks), %" PRIu64 " objects, %" PRIu64 " pointer fields, %"
		PRIu64 " dying objects\n", nseeds, sdir, lo >> 10, hi >> 10, recs,
		chunk, objs, ptrs, dying);
}

static int selftest(void);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	verbose = getenv("NVH_FUZZ_VERBOSE") && atoi(getenv("NVH_FUZZ_VERBOSE"));
	load_seeds((*argv)[0]);
	if (!mkdtemp(dir)) {
		perror("fuzz_open: mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/pool", dir);
	snprintf(crash_path, sizeof(crash_path), "%s/crashed", dir);
	atexit(cleanup);
	if (getenv("NVH_FUZZ_SELFTEST"))
		exit(selftest());
	return 0;
}

/* The seed an input names (the custom mutator needs it too). */
const struct nvf_map *nvf_seed(unsigned i, size_t *n);

const struct nvf_map *
nvf_seed(unsigned i, size_t *n)
{
	*n = nseeds;
	return nseeds ? &seeds[i % nseeds] : NULL;
}

/* ---- one input ---- */

static const struct nvf_input *cur_in;
static const struct nvf_map *cur_seed;

static void copy_pool(const char *from, const char *to);

static void
failed(const char *what)
{
	fprintf(stderr, "property failed: %s (%s)\n", what, nvh_errormsg());
	nvf_describe(stderr, cur_in, cur_seed);
	const char *keep = getenv("NVH_FUZZ_KEEP");
	if (keep) { /* the pool files as they are now, for a closer look */
		char to[PATH_MAX + 16];
		snprintf(to, sizeof(to), "%s/pool", keep);
		copy_pool(path, to);
		snprintf(to, sizeof(to), "%s/crashed", keep);
		if (access(crash_path, F_OK) == 0)
			copy_pool(crash_path, to);
		fprintf(stderr, "pool files copied to %s\n", keep);
	}
	abort();
}

#define CHECK(c)                                                             \
	do {                                                                 \
		if (!(c))                                                    \
			failed(#c);                                          \
	} while (0)

/* Write the edited pool file; returns its size.  The seed's pages go in
 * with pwrite (runs of non-zero pages; the rest stays a hole), then the
 * file is mapped for the edits, which touch few pages. */
static uint64_t
materialize(const struct nvf_input *in, const struct nvf_map *m)
{
	uint64_t size = nvf_input_file_size(in, m);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		perror("fuzz_open: pool file");
		abort();
	}
	for (size_t i = 0, j; i < m->npages; i = j) {
		for (j = i + 1; j < m->npages && m->pages[j] == m->pages[j - 1] + 1;)
			j++;
		uint64_t o = (uint64_t)m->pages[i] * 4096;
		uint64_t n = (uint64_t)(j - i) * 4096;
		n = n > m->size - o ? m->size - o : n;
		if (o >= size)
			break;
		n = n > size - o ? size - o : n;
		if (pwrite(fd, m->data + i * 4096, n, (off_t)o) != (ssize_t)n) {
			perror("fuzz_open: pool file");
			abort();
		}
	}
	if (size && in->nedits) {
		uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
				  fd, 0);
		if (p == MAP_FAILED) {
			perror("fuzz_open: mmap");
			abort();
		}
		struct nvf_img im = {.p = p, .size = size};
		stats[S_RESEALED] += nvf_apply(in, m, &im);
		nvf_img_fini(&im);
		munmap(p, size);
	}
	close(fd);
	return size;
}

/* Copy a pool file (taken while it is open: with the eADR backend every
 * store is durable at once, so this is a power failure at this point).
 * Only its data is copied (SEEK_DATA): holes stay holes. */
static void
copy_pool(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = open(to, O_RDWR | O_CREAT | O_TRUNC,
						  0600);
	off_t len = in < 0 ? -1 : lseek(in, 0, SEEK_END);
	if (in < 0 || out < 0 || len < 0 || ftruncate(out, len) != 0) {
		perror("fuzz_open: copying the pool");
		abort();
	}
	static uint8_t buf[1 << 20];
	for (off_t at = 0; at < len;) {
		off_t data = lseek(in, at, SEEK_DATA);
		if (data < 0)
			break; /* only a hole is left */
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			hole = len;
		while (data < hole) {
			size_t want = hole - data < (off_t)sizeof(buf)
					      ? (size_t)(hole - data) : sizeof(buf);
			ssize_t n = pread(in, buf, want, data);
			if (n <= 0 || pwrite(out, buf, (size_t)n, data) != n) {
				perror("fuzz_open: copying the pool");
				abort();
			}
			data += n;
		}
		at = hole;
	}
	close(in);
	close(out);
}

/* Is [at, at+len) a hole in the file (SEEK_DATA finds nothing there)? */
static int
hole(int fd, off_t at, off_t len)
{
	off_t d = lseek(fd, at, SEEK_DATA);
	return d < 0 || d >= at + len;
}

/* The heap's contents (root line, arena table, bitmaps, arenas) of two
 * pool files are equal; else (if `say`) says where they first differ.
 * Read with pread, skipping holes both files have: reading a hole through
 * a shared mapping of a tmpfs file would allocate it. */
static int
same_heap(const char *a, const char *b, int say)
{
	static uint8_t ba[1 << 20], bb[1 << 20];
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	struct nvh_heap_hdr h; /* validated: both files opened */
	if (fa < 0 || fb < 0 ||
	    pread(fa, &h, sizeof(h), NVH_HEAP_OFFSET) != (ssize_t)sizeof(h)) {
		perror("fuzz_open: comparing pools");
		abort();
	}
	const uint64_t range[][2] = {
		{h.root_off, 24},
		{h.table_off, h.narenas * sizeof(struct nvh_arena_ent)},
		{h.bitmaps_off, h.narenas * NVH_BITMAP_SLOT},
		{h.arenas_off, h.narenas * NVH_ARENA_SIZE},
	};
	int same = 1;
	for (size_t r = 0; r < 4 && same; r++) {
		for (uint64_t at = range[r][0], end = at + range[r][1];
		     at < end && same; at += sizeof(ba)) {
			size_t n = end - at < sizeof(ba) ? (size_t)(end - at)
							 : sizeof(ba);
			if (hole(fa, (off_t)at, (off_t)n) &&
			    hole(fb, (off_t)at, (off_t)n))
				continue;
			if (pread(fa, ba, n, (off_t)at) != (ssize_t)n ||
			    pread(fb, bb, n, (off_t)at) != (ssize_t)n) {
				perror("fuzz_open: comparing pools");
				abort();
			}
			if (!memcmp(ba, bb, n))
				continue;
			size_t o = 0;
			while (ba[o] == bb[o])
				o++;
			if (say)
				fprintf(stderr, "fuzz_open: closed and crashed "
					"copies differ at pool offset %" PRIu64
					" (0x%02x, 0x%02x)\n", at + o, ba[o], bb[o]);
			same = 0;
		}
	}
	close(fa);
	close(fb);
	return same;
}

static int
check(nvh_pool *p, struct nvh_check_report *r)
{
	memset(r, 0, sizeof(*r));
	int rc = nvh_check(p, r, verbose ? stderr : NULL);
	CHECK(rc == 0 || rc == -NVH_ECORRUPT);
	stats[rc ? S_PROBLEMS : S_CLEAN]++;
	return rc;
}

static int
same_report(const struct nvh_check_report *a, const struct nvh_check_report *b)
{
	return a->objects == b->objects && a->typed == b->typed &&
	       a->reachable == b->reachable && a->pointers == b->pointers &&
	       a->dying == b->dying && a->problems == b->problems;
}

static void
open_failed(void)
{
	CHECK(nvh_errormsg()[0] != 0);
	CHECK(strstr(nvh_errormsg(), path) != NULL);
	refused(nvh_errormsg());
}

/* What one input did, for the self-test's comparisons. */
struct outcome {
	int ro_ok, rw_ok, hdr_ok[2];
	struct nvh_check_report ro, rw;
};

static void
run_input(const struct nvf_input *in, struct outcome *out)
{
	size_t n;
	const struct nvf_map *m = nvf_seed(in->seed, &n);
	cur_in = in;
	cur_seed = m;
	int pure = in->nedits == 0;
	memset(out, 0, sizeof(*out));
	stats[S_INPUTS]++;
	stats[S_EDITED] += !pure;
	if (verbose)
		nvf_describe(stderr, in, m);
	uint64_t fsize = materialize(in, m);

	/* 1. read-only: changes nothing */
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY,
			      .persist = NVH_PERSIST_EADR};
	struct nvh_pool_info i, j;
	struct nvh_check_report again;
	nvh_pool *p = nvh_open(path, NULL, &ro);
	if (!p) {
		open_failed();
	} else {
		stats[S_RO]++;
		out->ro_ok = 1;
		CHECK(nvh_pool_info(p, &i) == 0);
		/* (a pool with segments may be shorter than its file: the
		 * tail of a growth that did not finish, which a read-only
		 * open leaves and a read-write one trims) */
		CHECK(i.pool_size <= fsize);
		CHECK(i.heap_offset + i.heap_size <= i.pool_size);
		CHECK(strlen(i.layout) <= NVH_LAYOUT_MAX);
		CHECK(i.hdr_ok[0] || i.hdr_ok[1]);
		out->hdr_ok[0] = i.hdr_ok[0];
		out->hdr_ok[1] = i.hdr_ok[1];
		int rc = check(p, &out->ro);
		CHECK(!(pure && i.was_clean && rc)); /* a clean seed is sound */
		CHECK(nvh_close(p) == 0);
	}

	/* 2. read-write: recovery, use, check, close */
	struct nvh_opts rw = {.persist = NVH_PERSIST_EADR};
	p = nvh_open(path, NULL, &rw);
	if (!p) {
		open_failed();
		CHECK(!pure); /* every seed is a pool that must recover */
		return;
	}
	stats[S_RW]++;
	stats[S_RW_EDITED] += !pure;
	out->rw_ok = 1;
	CHECK(nvh_pool_info(p, &j) == 0);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == j.pool_size);
	if (out->ro_ok) {
		CHECK(memcmp(i.uuid, j.uuid, 16) == 0);
		CHECK(j.run_generation == i.run_generation + 1);
	}
	char layout[NVH_LAYOUT_MAX + 1];
	memcpy(layout, j.layout, sizeof(layout));
	uint64_t gen = j.run_generation;
	unsigned used;
	CHECK(nvf_exercise(p, &used) == 0);
	stats[S_TX] += used;
	CHECK(!(check(p, &out->rw) && pure)); /* recovered seeds are sound */
	if (!quick)
		copy_pool(path, crash_path); /* what a power failure would leave */
	CHECK(nvh_close(p) == 0);
	if (quick)
		return;

	/* 3. what closed cleanly reopens as it was */
	p = nvh_open(path, layout, &rw);
	CHECK(p != NULL);
	CHECK(nvh_pool_info(p, &j) == 0);
	CHECK(j.was_clean && j.hdr_ok[0] && j.hdr_ok[1]);
	CHECK(j.run_generation == gen + 1);
	check(p, &again);
	CHECK(same_report(&again, &out->rw));
	CHECK(nvh_close(p) == 0);

	/* 4. a crash instead of the close recovers to the same heap */
	p = nvh_open(crash_path, layout, &rw);
	CHECK(p != NULL);
	check(p, &again);
	int same = same_report(&again, &out->rw);
	CHECK(nvh_close(p) == 0);
	same = same && same_heap(path, crash_path, 1);
	CHECK(same);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nvf_input in;
	struct outcome o;
	nvf_input_decode(&in, data, size);
	run_input(&in, &o);
	return 0;
}

/* ---- the self-test: does resealing work? ---- */

/*
 * Edits of bytes that checksums cover but nothing else reads: with
 * correct resealing the pool behaves exactly as the seed; with none (or
 * a wrong one) the structure is refused.  Per seed: each header copy's
 * create_time, each type table entry's reserved word, and the padding of
 * every tenth ABORT record (lanes and chunks).
 */
static size_t
inert_edits(const struct nvf_map *m, struct nvf_edit *e, size_t max)
{
	size_t n = 0;
	for (uint32_t c = 0; c < 2 && n < max; c++)
		e[n++] = (struct nvf_edit){NVF_W_POOLHDR, NVF_H_ADD | 3 << 4,
					   128, c, 1};
	for (uint32_t t = 0; t < m->ntypes && n < max; t++)
		e[n++] = (struct nvf_edit){NVF_W_TYPES, NVF_H_SET | 3 << 4,
					   (uint16_t)(32 + 64 * t + 56), 0, 0x1234};
	unsigned k = 0;
	for (size_t r = 0; r < m->rec.n && n < max; r++)
		if ((m->rec.v[r].aux & 0xff) == NVH_REC_ABORT && k++ % 10 == 0)
			e[n++] = (struct nvf_edit){NVF_W_REC, NVF_H_SET | 3 << 4,
						   56, (uint32_t)r, ~0ull};
	return n;
}

static int
same_outcome(const struct outcome *a, const struct outcome *b)
{
	return a->ro_ok == b->ro_ok && a->rw_ok == b->rw_ok &&
	       a->hdr_ok[0] == b->hdr_ok[0] && a->hdr_ok[1] == b->hdr_ok[1] &&
	       (!a->ro_ok || same_report(&a->ro, &b->ro)) &&
	       (!a->rw_ok || same_report(&a->rw, &b->rw));
}

/* Each inert edit alone, resealed, must change nothing; and the same
 * edit without resealing must be refused somewhere, or the check would
 * prove nothing. */
static int
selftest(void)
{
	unsigned tried = 0, bad = 0, noticed = 0;
	quick = 1;
	for (size_t s = 0; s < nseeds; s++) {
		struct nvf_edit e[64];
		size_t ne = inert_edits(&seeds[s], e, 64);
		uint8_t buf[NVF_HDR_SIZE + NVF_EDIT_SIZE];
		struct nvf_input in;
		struct outcome base, o;
		buf[0] = (uint8_t)s;
		buf[1] = (uint8_t)(s >> 8);
		buf[2] = buf[3] = 0;
		nvf_input_decode(&in, buf, NVF_HDR_SIZE);
		run_input(&in, &base);
		for (size_t i = 0; i < ne; i++) {
			nvf_edit_put(buf + NVF_HDR_SIZE, &e[i]);
			buf[2] = buf[3] = 0;
			nvf_input_decode(&in, buf, sizeof(buf));
			run_input(&in, &o);
			tried++;
			if (!same_outcome(&base, &o)) {
				bad++;
				fprintf(stderr, "fuzz_open: self-test: this "
					"edit changed the outcome:\n");
				nvf_describe(stderr, &in, &seeds[s]);
			}
			/* unsealed: flags 0x5aff skip every sealer */
			buf[2] = 0xff;
			buf[3] = 0x5a;
			nvf_input_decode(&in, buf, sizeof(buf));
			run_input(&in, &o);
			noticed += !same_outcome(&base, &o);
		}
	}
	fprintf(stderr, "fuzz_open: self-test: %u inert edits resealed on %zu "
		"seeds, %u changed the outcome (must be 0); unsealed, %u were "
		"noticed\n", tried, nseeds, bad, noticed);
	return bad || !tried || !noticed;
}
