/*
 * explore.c -- the crash-state explorer; see nvheap/crashtest.h.
 *
 * Two passes over the test: the first counts its fences; the second runs
 * it under the simulator whose crash_point hook, at every fence chosen,
 * enumerates that point's crash images (crash_image.c), skips the ones
 * already seen (a 128-bit hash of image and acknowledged count), writes
 * each new one to an image file and calls check() on it.  A check that
 * opens the image with its opts recovers it under a second simulator,
 * whose fences (during the open only) are crash points again: depth 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nvheap/crashtest.h>

#include "tools/crashtest/crash_image.h"

/* ---- the set of images already checked ---- */

struct seen {
	uint64_t (*slot)[3]; /* {h0, h1, acked + 1}; [2] == 0: empty */
	size_t cap, n;
};

static int
seen_add(struct seen *s, const uint64_t h[2], unsigned acked)
{
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4096;
		uint64_t (*ns)[3] = calloc(cap, sizeof(*ns));
		if (!ns)
			return -1;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slot[i][2])
				continue;
			size_t j = s->slot[i][0] & (cap - 1);
			while (ns[j][2])
				j = (j + 1) & (cap - 1);
			memcpy(ns[j], s->slot[i], sizeof(ns[j]));
		}
		free(s->slot);
		s->slot = ns;
		s->cap = cap;
	}
	uint64_t key2 = (uint64_t)acked + 1;
	size_t j = (h[0] ^ key2 * 0x9e3779b97f4a7c15ull) & (s->cap - 1);
	while (s->slot[j][2]) {
		if (s->slot[j][0] == h[0] && s->slot[j][1] == h[1] &&
		    s->slot[j][2] == key2)
			return 0; /* already there */
		j = (j + 1) & (s->cap - 1);
	}
	s->slot[j][0] = h[0];
	s->slot[j][1] = h[1];
	s->slot[j][2] = key2;
	s->n++;
	return 1;
}

/* ---- explorer state ---- */

struct nvh_crashtest_explorer {
	const struct nvh_crashtest *w;
	const struct nvh_crashtest_config *cfg;
	struct nvh_crashtest_result *res;
	struct nvh_crashtest_run run;
	uint64_t size;
	char pool_path[PATH_MAX];
	struct nvh_ct_imgfile *img, *img2; /* crash images; recovery crash images */
	struct nvh_sim *sim;   /* the workload's */
	struct nvh_sim *nsim;  /* recovery of a crash image */
	struct seen seen;
	uint8_t *pick;         /* sampled fences, NULL = all */
	uint64_t npick;
	struct timespec start;
	int after_run;
	int stopped;           /* budget used up */
	int nested_armed;      /* recovery of a crash image is being crashed */
	unsigned nested_done;  /* recovery crash images for this crash image */
	/* recovery fences to crash (nested_fences), ascending; npick_n
	 * entries, the next one at npick_at */
	uint64_t nfpick[16];
	unsigned npick_n, npick_at;
	int nested_sampled;
	unsigned nested_images; /* crash images of this point crashed again */
	uint64_t point_images;  /* crash images at this point (enumeration) */
	unsigned reports;
	unsigned dumped;
	/* the state being checked, for reports */
	int depth;             /* 0: none, 1: crash image, 2: nested image */
	uint64_t fence, id, nfence, nid;
	char desc[160], ndesc[160];
};

static struct nvh_crashtest_explorer *current; /* for the crash signal handler */

void
nvh_crashtest_config_default(struct nvh_crashtest_config *c)
{
	static const struct nvh_crashtest_images g = NVH_CT_IMAGES_DEFAULT;
	memset(c, 0, sizeof(*c));
	c->seed = 1;
	c->max_fences = 2000;
	c->gen = g;
	c->ngen = g;
	c->ngen.max_images = 16; /* recovery crashes: keep the product bounded */
	c->nested = 1;
	c->nested_max = 48;
	c->nested_per_point = 8;
	c->max_reports = 5;
	c->dir = "/tmp";
	c->argv0 = "crashtest";
	c->only_fence = c->only_state = c->only_nfence = c->only_nstate = -1;
}

static double
elapsed(const struct nvh_crashtest_explorer *x)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - x->start.tv_sec) +
	       (double)(now.tv_nsec - x->start.tv_nsec) / 1e9;
}

static int
replaying(const struct nvh_crashtest_explorer *x)
{
	return x->cfg->only_fence >= 0;
}

void
nvh_crashtest_ack(struct nvh_crashtest_run *r)
{
	r->acked++;
}

void
nvh_crashtest_opened(struct nvh_crashtest_check *k)
{
	if (k->x)
		k->x->nested_armed = 0;
}

nvh_pool *
nvh_crashtest_open(struct nvh_crashtest_check *k, const char *layout)
{
	nvh_pool *p = nvh_open(k->path, layout, &k->opts);
	nvh_crashtest_opened(k);
	return p;
}

int
nvh_crashtest_fail(struct nvh_crashtest_check *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->why, sizeof(k->why), fmt, ap);
	va_end(ap);
	return -1;
}

static void
print_state(const struct nvh_crashtest_explorer *x, FILE *f)
{
	fprintf(f, "%s at fence %" PRIu64 " state %" PRIu64 " (%s)",
		x->after_run && x->fence == x->res->fences ? "after the run"
							 : "crash",
		x->fence, x->id, x->desc);
	if (x->depth == 2)
		fprintf(f, ", then during its recovery at fence %" PRIu64
			" state %" PRIu64 " (%s)", x->nfence, x->nid, x->ndesc);
}

static void
print_replay(const struct nvh_crashtest_explorer *x, FILE *f)
{
	fprintf(f, "  replay: %s --workload %s --seed %" PRIu64
		" --fence %" PRIu64 " --state %" PRIu64, x->cfg->argv0,
		x->w->name, x->cfg->seed, x->fence, x->id);
	if (x->depth == 2)
		fprintf(f, " --nested-fence %" PRIu64 " --nested-state %" PRIu64,
			x->nfence, x->nid);
	fprintf(f, "\n");
}

static void
failure(struct nvh_crashtest_explorer *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
failure(struct nvh_crashtest_explorer *x, const char *fmt, ...)
{
	if (!x->res->failures++ && x->depth) {
		x->res->fail_fence = (int64_t)x->fence;
		x->res->fail_state = (int64_t)x->id;
		x->res->fail_nfence = x->depth == 2 ? (int64_t)x->nfence : -1;
		x->res->fail_nstate = x->depth == 2 ? (int64_t)x->nid : -1;
	}
	if (x->cfg->quiet || x->reports++ >= x->cfg->max_reports)
		return;
	fprintf(stderr, "FAIL %s (seed %" PRIu64 "): ", x->w->name,
		x->cfg->seed);
	if (x->depth)
		print_state(x, stderr);
	else
		fprintf(stderr, "during the run");
	fprintf(stderr, ": ");
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (x->depth)
		print_replay(x, stderr);
	else
		fprintf(stderr, "  replay: %s --workload %s --seed %" PRIu64 "\n",
			x->cfg->argv0, x->w->name, x->cfg->seed);
}

/* The explorer itself cannot go on: a failure, and the exploration
 * stops.  Returns 1 (stop an image enumeration). */
static int
internal_error(struct nvh_crashtest_explorer *x, const char *what)
{
	int depth = x->depth;
	x->depth = 0;
	failure(x, "the explorer stopped: %s", what);
	x->depth = depth;
	x->stopped = 1;
	return 1;
}

/* 1: an image not checked before (now recorded), 0: a duplicate, -1:
 * the exploration stopped. */
static int
first_seen(struct nvh_crashtest_explorer *x, const struct nvh_sim *sim,
	   const struct nvh_ct_image *img)
{
	uint64_t h[2];
	nvh_ct_image_hash(sim, img, h);
	int added = seen_add(&x->seen, h, x->run.acked);
	if (added < 0) {
		internal_error(x, "out of memory");
		return -1;
	}
	x->res->duplicates += !added;
	return added;
}

static void
on_crash_signal(int sig)
{
	struct nvh_crashtest_explorer *x = current;
	if (x) {
		fprintf(stderr, "FAIL %s (seed %" PRIu64 "): signal %d "
			"(%s) while checking ", x->w->name, x->cfg->seed, sig,
			strsignal(sig));
		if (x->depth)
			print_state(x, stderr);
		else
			fprintf(stderr, "the run");
		fprintf(stderr, "\n");
		if (x->depth)
			print_replay(x, stderr);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- image files ---- */

static void
dump(struct nvh_crashtest_explorer *x, const uint8_t *img)
{
	const struct nvh_crashtest_config *c = x->cfg;
	if (!c->dump_dir || x->dumped >= c->dump_max)
		return;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s-%04u", c->dump_dir, x->w->name,
		 x->dumped++);
	FILE *f = fopen(p, "w");
	if (!f)
		return;
	fwrite(img, 1, c->dump_len < x->size ? c->dump_len : x->size, f);
	fclose(f);
}

int
nvh_ct_copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct stat st;
	int rc = out < 0 || fstat(in, &st) != 0 ? -1 : 0;
	for (off_t left = rc ? 0 : st.st_size; left > 0 && !rc;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
		if (n <= 0)
			rc = -1;
		else
			left -= n;
	}
	int e = errno;
	if (out >= 0 && close(out) != 0)
		rc = -1;
	close(in);
	errno = e;
	return rc;
}

/* ---- checking ---- */

static void
check_image(struct nvh_crashtest_explorer *x, const char *path, int nested,
	    int crash_recovery)
{
	struct nvh_crashtest_check k = {.path = path, .acked = x->run.acked,
			      .after_run = x->after_run, .priv = x->run.priv,
			      .recovered_once = nested, .x = x};
	if (nested || !crash_recovery) {
		/* recover without a simulator: no further crash points */
		k.opts.persist = NVH_PERSIST_EADR;
	} else {
		nvh_sim_reset(x->nsim);
		nvh_ct_imgfile_forget(x->img2);
		k.opts.persist = NVH_PERSIST_SIM;
		k.opts.sim = x->nsim;
		x->nested_armed = 1;
		x->nested_done = 0;
	}
	x->res->states++;
	if (x->cfg->verbose) {
		fprintf(stderr, "check ");
		print_state(x, stderr);
		fprintf(stderr, "\n");
	}
	int rc = x->w->check(&k);
	if (!nested)
		x->nested_armed = 0;
	if (rc != 0)
		failure(x, "%s", k.why[0] ? k.why : "the check failed (it gave "
			"no reason: nvh_crashtest_fail says why)");
	else if (x->cfg->verbose)
		fprintf(stderr, "  ok\n");
}

static int
nested_image(void *arg, const struct nvh_ct_image *img)
{
	struct nvh_crashtest_explorer *x = arg;
	const struct nvh_crashtest_config *c = x->cfg;
	if (c->only_nstate >= 0 && (int64_t)img->id != c->only_nstate)
		return 0;
	int fresh = replaying(x) ? 1 : first_seen(x, x->nsim, img);
	if (fresh <= 0)
		return fresh < 0;
	if (c->budget > 0 && elapsed(x) > c->budget) {
		x->res->budget_hit = 1;
		return 1;
	}
	if (!replaying(x) && c->nested_max && x->nested_done >= c->nested_max)
		return 1;
	x->nested_done++;
	if (nvh_ct_imgfile_write(x->img2, x->nsim, img))
		return internal_error(x, "an image file was written unseen");
	dump(x, nvh_ct_imgfile_map(x->img2));
	x->depth = 2;
	x->nid = img->id;
	snprintf(x->ndesc, sizeof(x->ndesc), "%s", img->desc);
	check_image(x, nvh_ct_imgfile_path(x->img2), 1, 0);
	x->depth = 1;
	return 0;
}

static void
nested_point(struct nvh_crashtest_explorer *x, struct nvh_sim *sim)
{
	const struct nvh_crashtest_config *c = x->cfg;
	uint64_t nf = nvh_sim_fences(sim);
	if (!x->nested_armed || x->stopped)
		return; /* the check is past its open: not recovery */
	if (c->only_nfence >= 0 && (int64_t)nf != c->only_nfence)
		return;
	if (replaying(x) && c->only_nfence < 0)
		return; /* replaying an outer state only */
	if (!replaying(x)) {
		if (c->nested_max && x->nested_done >= c->nested_max)
			return; /* enough of this recovery */
		if (x->nested_sampled) {
			if (x->npick_at >= x->npick_n ||
			    x->nfpick[x->npick_at] != nf)
				return;
			x->npick_at++;
		}
	}
	x->nfence = nf;
	if (nvh_ct_images(sim, &c->ngen, c->seed ^ (x->fence << 20) ^ nf,
			  nested_image, x) == UINT64_MAX)
		internal_error(x, "out of memory");
}

/* A fence of a check's recovery: its crash images, if it is crashed;
 * then (whatever the images did) its in-flight lines become durable. */
static void
nested_durable_write(void *arg, struct nvh_sim *sim, uint64_t off,
		     uint64_t len)
{
	(void)sim;
	nvh_ct_imgfile_note(((struct nvh_crashtest_explorer *)arg)->img2, off,
			    len);
}

static void
nested_crash_point(void *arg, struct nvh_sim *sim)
{
	struct nvh_crashtest_explorer *x = arg;
	nested_point(x, sim);
	nvh_ct_imgfile_fence(x->img2, sim);
}

/* The fences of a plain open of the image at path: its recovery (the
 * seam counts fences on every backend, and the library fences alike on
 * all of them). */
static uint64_t
recovery_fences(const char *path)
{
	struct nvh_opts o = {.persist = NVH_PERSIST_EADR};
	struct nvh_persist_stats st = {0};
	nvh_pool *p = nvh_open(path, NULL, &o);
	if (p) {
		nvh_persist_stats(p, &st);
		nvh_close(p);
	}
	return st.fences;
}

/* Crash points of a recovery of n fences to crash: the first, and the
 * rest at random (the replay of the lanes comes first, the drain and
 * the checkpoint after it). */
static void
pick_nested(struct nvh_crashtest_explorer *x, uint64_t n, uint64_t seed)
{
	unsigned k = x->cfg->nested_fences;
	const unsigned max = sizeof(x->nfpick) / sizeof(x->nfpick[0]);
	k = k < max ? k : max;
	x->nested_sampled = 1;
	x->npick_n = x->npick_at = 0;
	if (n <= k) {
		for (uint64_t i = 0; i < n; i++)
			x->nfpick[x->npick_n++] = i;
		return;
	}
	x->nfpick[x->npick_n++] = 0;
	while (x->npick_n < k) {
		uint64_t v = 1 + nvh_ct_rand(&seed) % (n - 1), i = x->npick_n;
		int dup = 0;
		for (unsigned j = 0; j < x->npick_n; j++)
			dup |= x->nfpick[j] == v;
		if (dup)
			continue;
		while (i > 0 && x->nfpick[i - 1] > v) { /* keep it sorted */
			x->nfpick[i] = x->nfpick[i - 1];
			i--;
		}
		x->nfpick[i] = v;
		x->npick_n++;
	}
}

static int
outer_image(void *arg, const struct nvh_ct_image *img)
{
	struct nvh_crashtest_explorer *x = arg;
	const struct nvh_crashtest_config *c = x->cfg;
	if (x->stopped)
		return 1;
	if (replaying(x)) {
		if ((int64_t)img->id != c->only_state)
			return 0;
	} else {
		int fresh = first_seen(x, x->sim, img);
		if (fresh <= 0)
			return fresh < 0;
	}
	if (c->budget > 0 && elapsed(x) > c->budget) {
		x->res->budget_hit = 1;
		x->stopped = 1;
		return 1;
	}
	if (nvh_ct_imgfile_write(x->img, x->sim, img))
		return internal_error(x, "an image file was written unseen");
	dump(x, nvh_ct_imgfile_map(x->img));
	x->depth = 1;
	x->id = img->id;
	snprintf(x->desc, sizeof(x->desc), "%s", img->desc);
	/* Crash the recovery of a few images per point, spread over the
	 * enumeration (all when replaying). */
	int crash_recovery = c->nested;
	if (crash_recovery && !replaying(x) && c->nested_per_point) {
		uint64_t stride = x->point_images / c->nested_per_point + 1;
		crash_recovery = x->nested_images < c->nested_per_point &&
				 img->id % stride == 0;
	}
	x->nested_images += crash_recovery;
	x->nested_sampled = 0;
	if (crash_recovery && c->nested_fences && !replaying(x)) {
		/* which of its recovery's fences to crash: count them on a
		 * copy, then the image again */
		pick_nested(x, recovery_fences(nvh_ct_imgfile_path(x->img)),
			    c->seed ^ (x->fence << 24) ^ img->id);
		if (nvh_ct_imgfile_write(x->img, x->sim, img))
			return internal_error(x, "an image file was written "
					      "unseen");
	}
	check_image(x, nvh_ct_imgfile_path(x->img), 0, crash_recovery);
	x->depth = 0;
	return 0;
}

static void
run_point(struct nvh_crashtest_explorer *x, struct nvh_sim *sim)
{
	const struct nvh_crashtest_config *c = x->cfg;
	uint64_t f = nvh_sim_fences(sim);
	if (x->stopped)
		return;
	if (replaying(x) && (int64_t)f != c->only_fence)
		return;
	if (x->pick && (f >= x->npick || !x->pick[f]))
		return;
	x->res->explored++;
	x->fence = f;
	/* count first, so recovery crashes can be spread over the images */
	x->nested_images = 0;
	struct nvh_ct_point *pt = nvh_ct_point_new(sim, &c->gen, c->seed ^ f);
	if (!pt) {
		internal_error(x, "out of memory");
		return;
	}
	x->point_images = nvh_ct_point_total(pt);
	if (nvh_ct_point_images(pt, outer_image, x))
		internal_error(x, "out of memory");
	nvh_ct_point_free(pt);
}

/* A fence of the run (or its end): its crash images, if explored; then
 * its in-flight lines become durable. */
static void
durable_write(void *arg, struct nvh_sim *sim, uint64_t off, uint64_t len)
{
	(void)sim;
	nvh_ct_imgfile_note(((struct nvh_crashtest_explorer *)arg)->img, off,
			    len);
}

static void
crash_point(void *arg, struct nvh_sim *sim)
{
	struct nvh_crashtest_explorer *x = arg;
	run_point(x, sim);
	nvh_ct_imgfile_fence(x->img, sim);
}

static void
missing_flush(void *arg, struct nvh_sim *sim, uint64_t off, uint64_t len,
	      const char *where)
{
	struct nvh_crashtest_explorer *x = arg;
	(void)sim;
	failure(x, "missing flush: pool bytes [%" PRIu64 ", %" PRIu64 ") not "
		"durable at %s%s", off, off + len, where,
		x->depth ? " (during recovery of the crash image)" : "");
}

static void
count_missing(void *arg, struct nvh_sim *sim, uint64_t off, uint64_t len,
	      const char *where)
{
	(void)arg, (void)sim, (void)off, (void)len, (void)where;
}

/* ---- one run of the workload ---- */

static int
do_setup(struct nvh_crashtest_explorer *x)
{
	unlink(x->pool_path);
	memset(x->run.priv, 0, x->w->priv_size);
	x->run.acked = 0;
	if (!x->w->setup)
		return 0;
	x->run.opts = (struct nvh_opts){.persist = NVH_PERSIST_EADR};
	if (x->w->setup(&x->run) != 0) {
		fprintf(stderr, "%s: setup failed: %s\n", x->w->name,
			nvh_errormsg());
		return -1;
	}
	x->run.acked = 0;
	return 0;
}

/* The second pass starts from what the first one's setup made, kept in
 * a copy (a big pool takes seconds to build), and the same priv. */
static int
save_setup(struct nvh_crashtest_explorer *x, void **priv)
{
	char copy[PATH_MAX + 8];
	*priv = malloc(x->w->priv_size ? x->w->priv_size : 1);
	if (!*priv)
		return -1;
	memcpy(*priv, x->run.priv, x->w->priv_size);
	snprintf(copy, sizeof(copy), "%s.setup", x->pool_path);
	return x->w->setup ? nvh_ct_copy_file(x->pool_path, copy) : 0;
}

static int
restore_setup(struct nvh_crashtest_explorer *x, const void *priv)
{
	char copy[PATH_MAX + 8];
	unlink(x->pool_path);
	memcpy(x->run.priv, priv, x->w->priv_size);
	x->run.acked = 0;
	snprintf(copy, sizeof(copy), "%s.setup", x->pool_path);
	if (!x->w->setup)
		return 0;
	int rc = nvh_ct_copy_file(copy, x->pool_path);
	unlink(copy);
	if (rc)
		fprintf(stderr, "%s: cannot copy the set-up pool: %s\n",
			x->w->name, strerror(errno));
	return rc;
}

static int
do_run(struct nvh_crashtest_explorer *x, struct nvh_sim *sim)
{
	x->run.opts = (struct nvh_opts){.persist = NVH_PERSIST_SIM, .sim = sim};
	x->after_run = 0;
	int rc = x->w->run(&x->run);
	x->after_run = 1;
	return rc;
}

/* The configuration with the workload's own limits. */
static void
apply_limits(struct nvh_crashtest_config *c, const struct nvh_crashtest *w)
{
	if (w->max_fences)
		c->max_fences = w->max_fences;
	if (w->max_images)
		c->gen.max_images = c->ngen.max_images = w->max_images;
	if (w->nested_per_point)
		c->nested_per_point = w->nested_per_point;
	if (w->nested_max)
		c->nested_max = w->nested_max;
	if (w->nested_fences)
		c->nested_fences = w->nested_fences;
}

int
nvh_crashtest_explore(const struct nvh_crashtest *w, const struct nvh_crashtest_config *config,
	    struct nvh_crashtest_result *res)
{
	struct nvh_crashtest_config eff = *config, *cfg = &eff;
	apply_limits(cfg, w);
	struct nvh_crashtest_explorer x = {.w = w, .cfg = cfg, .res = res};
	memset(res, 0, sizeof(*res));
	res->fail_fence = res->fail_state = res->fail_nfence = res->fail_nstate = -1;
	clock_gettime(CLOCK_MONOTONIC, &x.start);
	x.size = w->pool_size ? w->pool_size : NVH_MIN_POOL_SIZE;
	snprintf(x.pool_path, sizeof(x.pool_path), "%s/%s.pool", cfg->dir,
		 w->name);
	x.run.path = x.pool_path;
	x.run.seed = cfg->seed;
	x.run.x = &x;
	x.run.priv = calloc(1, w->priv_size ? w->priv_size : 1);
	if (!x.run.priv || !w->run || !w->check || !w->name) {
		fprintf(stderr, "crashtest: %s\n", !x.run.priv ?
			"out of memory" : "a test needs a name, run() and "
			"check()");
		free(x.run.priv);
		res->failures++;
		return -1;
	}

	/* 1. Count the fences (and make sure the workload runs at all). */
	struct nvh_sim_hooks quiet = {.missing_flush = count_missing};
	struct nvh_sim *counter = nvh_sim_new(&quiet, 0);
	void *priv0 = NULL;
	int bad = !counter || do_setup(&x) != 0 || save_setup(&x, &priv0) != 0;
	if (!bad && do_run(&x, counter) != 0) {
		fprintf(stderr, "%s: run failed: %s\n", w->name,
			nvh_errormsg());
		res->failures++;
		bad = 1;
	}
	if (bad) {
		char copy[PATH_MAX + 8];
		snprintf(copy, sizeof(copy), "%s.setup", x.pool_path);
		unlink(copy);
		unlink(x.pool_path);
		nvh_sim_free(counter);
		free(priv0);
		free(x.run.priv);
		return -1;
	}
	res->fences = nvh_sim_fences(counter);
	nvh_sim_free(counter);

	/* 2. Which fences to explore. */
	uint64_t points = res->fences + 1; /* + the end of the run */
	if (!replaying(&x) && cfg->max_fences && points > cfg->max_fences) {
		uint64_t rng = cfg->seed ^ 0xf3ce5ull;
		x.pick = calloc(points, 1);
		x.npick = points;
		for (uint64_t i = 0; i < points; i++)
			x.pick[i] = nvh_ct_rand(&rng) % points < cfg->max_fences;
	}

	/* 3. Explore. */
	char ipath[PATH_MAX];
	snprintf(ipath, sizeof(ipath), "%s/%s.img", cfg->dir, w->name);
	x.img = nvh_ct_imgfile_open(ipath, x.size);
	snprintf(ipath, sizeof(ipath), "%s/%s.img2", cfg->dir, w->name);
	x.img2 = nvh_ct_imgfile_open(ipath, x.size);
	if (!x.img || !x.img2) {
		nvh_ct_imgfile_close(x.img);
		nvh_ct_imgfile_close(x.img2);
		unlink(x.pool_path);
		free(x.pick);
		free(x.run.priv);
		free(priv0);
		res->failures++;
		return -1;
	}
	struct nvh_sim_hooks hooks = {.crash_point = crash_point,
				      .missing_flush = missing_flush,
				      .durable_write = durable_write,
				      .arg = &x};
	struct nvh_sim_hooks nhooks = {.crash_point = nested_crash_point,
				       .missing_flush = missing_flush,
				       .durable_write = nested_durable_write,
				       .arg = &x};
	x.sim = nvh_sim_new(&hooks, 0);
	x.nsim = nvh_sim_new(&nhooks, 0);
	if (!x.sim || !x.nsim)
		internal_error(&x, "out of memory");
	struct sigaction sa = {.sa_handler = on_crash_signal}, old[4];
	static const int sigs[4] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE};
	current = &x;
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);

	int rc = 0;
	if (!x.sim || !x.nsim) {
		rc = -1;
	} else if (restore_setup(&x, priv0) != 0) {
		rc = -1;
	} else if (do_run(&x, x.sim) != 0) {
		failure(&x, "run failed on the second pass: %s", nvh_errormsg());
	} else if (!x.stopped && !replaying(&x) &&
		   nvh_sim_fences(x.sim) != res->fences) {
		/* crash points are named by fence number: both passes must
		 * fence alike (a check that leaks state into the run breaks
		 * this) */
		failure(&x, "the second pass issued %" PRIu64 " fences, the "
			"first %" PRIu64 ": the workload is not deterministic",
			nvh_sim_fences(x.sim), res->fences);
	} else {
		/* The crash point after the last operation. */
		crash_point(&x, x.sim);
	}
	res->missing = (x.sim ? nvh_sim_missing_flushes(x.sim) : 0) +
		       (x.nsim ? nvh_sim_missing_flushes(x.nsim) : 0);

	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	current = NULL;
	nvh_sim_free(x.sim);
	nvh_sim_free(x.nsim);
	nvh_ct_imgfile_close(x.img);
	nvh_ct_imgfile_close(x.img2);
	unlink(x.pool_path);
	free(x.pick);
	free(x.seen.slot);
	free(x.run.priv);
	free(priv0);
	res->seconds = elapsed(&x);
	return rc;
}
