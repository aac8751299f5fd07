/*
 * test_sim.c -- the crash simulator tests itself: the sim backend's model,
 * crash-image enumeration, the missing-flush detector, and the explorer
 * finding planted bugs (negative tests: the failures must be found).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/layout.h"
#include "heap/persist_sim.h"
#include "heap/pool.h"
#include "tools/crashtest/crash_image.h"
#include "tests/torture/workloads.h"
#include "heap/log/lane.h"

#define SIZE NVH_MIN_POOL_SIZE
#define LINE 64
static uint64_t heap_off; /* a scratch object's pool offset */
#define HEAP heap_off
#define MAXI 256
#define WIN (16 * LINE) /* the window of each image kept: HEAP.. */

/* What the crash-point hook saw at the armed fence. */
struct probe {
	int armed;
	struct nvh_crashtest_images gen;
	struct nvh_sim *sim;
	uint64_t total, n;
	size_t ninflight;
	uint8_t inflight0[LINE];
	uint8_t *scratch;
	uint8_t win[MAXI][WIN];
	uint64_t hash[MAXI][2];
	char desc[MAXI][160];
	unsigned sample;   /* also a sample of this many, compared */
	unsigned sampled, sample_bad;
	/* missing-flush reports */
	unsigned missing;
	uint64_t moff, mlen;
	char mwhere[256];
};

static int
collect(void *arg, const struct nvh_ct_image *img)
{
	struct probe *p = arg;
	if (p->n < MAXI) {
		nvh_ct_image_write(p->sim, img, p->scratch);
		memcpy(p->win[p->n], p->scratch + HEAP, WIN);
		nvh_ct_image_hash(p->sim, img, p->hash[p->n]);
		snprintf(p->desc[p->n], sizeof(p->desc[0]), "%s", img->desc);
	}
	p->n++;
	return 0;
}

/* A sampled image must be the enumeration's image of the same id. */
static int
compare_sampled(void *arg, const struct nvh_ct_image *img)
{
	struct probe *p = arg;
	uint64_t h[2];
	nvh_ct_image_hash(p->sim, img, h);
	p->sampled++;
	if (img->id >= p->n || img->id >= MAXI || h[0] != p->hash[img->id][0] ||
	    h[1] != p->hash[img->id][1] || strcmp(img->desc, p->desc[img->id])) {
		fprintf(stderr, "sampled image %" PRIu64 " (%s) is not the "
			"enumeration's\n", img->id, img->desc);
		p->sample_bad++;
	}
	return 0;
}

static void
hook(void *arg, struct nvh_sim *sim)
{
	struct probe *p = arg;
	if (!p->armed)
		return;
	p->armed = 0;
	p->sim = sim;
	const struct nvh_sim_line *l;
	p->ninflight = nvh_sim_inflight(sim, &l);
	if (p->ninflight)
		memcpy(p->inflight0, l[0].data, LINE);
	p->n = 0;
	p->total = nvh_ct_images(sim, &p->gen, 7, collect, p);
	if (p->sample) {
		struct nvh_crashtest_images g = p->gen;
		g.max_images = p->sample;
		nvh_ct_images(sim, &g, 7, compare_sampled, p);
	}
}

static void
on_missing(void *arg, struct nvh_sim *sim, uint64_t off, uint64_t len,
	   const char *where)
{
	struct probe *p = arg;
	(void)sim;
	if (!p->missing++) {
		p->moff = off;
		p->mlen = len;
		snprintf(p->mwhere, sizeof(p->mwhere), "%s", where);
	}
}

static struct probe *probe;
static struct nvh_sim *sim;

static nvh_pool *
sim_pool(const char *name, unsigned flags)
{
	static const struct nvh_crashtest_images g = NVH_CT_IMAGES_DEFAULT;
	free(probe ? probe->scratch : NULL);
	free(probe);
	nvh_sim_free(sim);
	probe = calloc(1, sizeof(*probe));
	probe->scratch = malloc(SIZE);
	probe->gen = g;
	struct nvh_sim_hooks h = {.crash_point = hook,
				  .missing_flush = on_missing, .arg = probe};
	sim = nvh_sim_new(&h, flags);
	const char *path = nvt_path(name);
	unlink(path);
	struct nvh_opts o = {.persist = NVH_PERSIST_SIM, .sim = sim};
	nvh_pool *pool = assert_nvh_ptr(nvh_create(path, "sim", SIZE, &o));
	heap_off = nvh_oid_of(pool, nvt_scratch(pool, 4096)).off &
		   NVH_OID_OFF_MASK;
	/* Flush the allocator's words too: the tests count dirty lines. */
	assert_nvh_ok(nvh_checkpoint(pool));
	return pool;
}

static int
teardown(void **state)
{
	(void)state;
	if (probe)
		free(probe->scratch);
	free(probe);
	nvh_sim_free(sim);
	probe = NULL;
	sim = NULL;
	return 0;
}

/* Fill `n` lines from HEAP + 64*first with byte c and flush each. */
static void
dirty_lines(nvh_pool *pool, unsigned first, unsigned n, int c, int flush)
{
	for (unsigned i = first; i < first + n; i++) {
		char *a = nvh_pool_at(pool, HEAP + (uint64_t)LINE * i);
		memset(a, c, LINE);
		if (flush)
			assert_nvh_ok(nvh_flush(pool, a, LINE));
	}
}

/* ---- the model ---- */

static void
flush_time_contents_become_durable(void **state)
{
	(void)state;
	nvh_pool *pool = sim_pool("model.pool", 0);
	char *a = nvh_pool_at(pool, HEAP);
	memset(a, 'x', LINE);
	assert_nvh_ok(nvh_flush(pool, a, LINE));
	memset(a, 'y', LINE); /* after the flush: not in flight */
	probe->armed = 1;
	assert_nvh_ok(nvh_drain(pool));
	assert_int_equal(probe->ninflight, 1);
	char want[LINE];
	memset(want, 'x', LINE);
	assert_memory_equal(probe->inflight0, want, LINE);
	/* The fence made the flushed contents durable, not the later ones. */
	assert_memory_equal(nvh_sim_durable(sim) + HEAP, want, LINE);
	assert_int_equal(a[0], 'y');
	/* Counting is the seam's, as for every backend. */
	struct nvh_persist_stats s;
	assert_nvh_ok(nvh_persist_stats(pool, &s));
	assert_true(s.barriers >= 1);
	assert_nvh_ok(nvh_close(pool));
	/* 'y' was never flushed: the detector saw it at close. */
	assert_int_equal(probe->missing, 1);
	assert_int_equal(probe->moff, HEAP);
	assert_int_equal(probe->mlen, LINE);
}

static void
histogram_counts_flushes(void **state)
{
	(void)state;
	nvh_pool *pool = sim_pool("hist.pool", NVH_SIM_HISTOGRAM);
	char *a = nvh_pool_at(pool, HEAP + 5 * LINE);
	for (int i = 0; i < 3; i++) {
		a[0] = (char)i;
		assert_nvh_ok(nvh_persist(pool, a, 1));
	}
	size_t n;
	const uint32_t *h = nvh_sim_histogram(sim, &n);
	assert_non_null(h);
	assert_int_equal(n, SIZE / LINE);
	assert_int_equal(h[(HEAP + 5 * LINE) / LINE], 3);
	assert_int_equal(h[(HEAP + 6 * LINE) / LINE], 0);
	assert_nvh_ok(nvh_close(pool));
}

/* ---- crash images ---- */

static void
subsets_of_inflight_lines(void **state)
{
	(void)state;
	nvh_pool *pool = sim_pool("subsets.pool", 0);
	probe->gen.torn = 0;
	probe->gen.evict = 0;
	dirty_lines(pool, 0, 3, 0x33, 1);
	probe->armed = 1;
	assert_nvh_ok(nvh_drain(pool));
	assert_int_equal(probe->total, 8); /* all subsets of 3 */
	assert_int_equal(probe->n, 8);
	/* image 0 is the durable image: nothing of the three persisted */
	char zero[3 * LINE] = {0}, full[3 * LINE];
	memset(full, 0x33, sizeof(full));
	assert_memory_equal(probe->win[0], zero, sizeof(zero));
	assert_memory_equal(probe->win[7], full, sizeof(full));
	for (int i = 0; i < 8; i++) /* image i has line j iff bit j of i */
		for (int j = 0; j < 3; j++)
			assert_int_equal(probe->win[i][j * LINE],
					 (i >> j) & 1 ? 0x33 : 0);

	/* Ten lines in flight, k = 2: {} + 10 + 45 + all = 57. */
	dirty_lines(pool, 0, 10, 0x44, 1);
	probe->armed = 1;
	assert_nvh_ok(nvh_drain(pool));
	assert_int_equal(probe->total, 57);
	for (uint64_t i = 0; i < probe->n; i++)
		for (uint64_t j = i + 1; j < probe->n; j++)
			assert_true(memcmp(probe->win[i], probe->win[j], WIN));
	/* Lines flushed with unchanged contents are not "in flight". */
	dirty_lines(pool, 0, 10, 0x44, 1);
	probe->armed = 1;
	assert_nvh_ok(nvh_drain(pool));
	assert_int_equal(probe->total, 1);
	assert_nvh_ok(nvh_close(pool));
}

static int
words_whole(const uint8_t *line, uint8_t a, uint8_t b, unsigned *mixed)
{
	unsigned na = 0, nb = 0;
	for (int w = 0; w < 8; w++) {
		int all_a = 1, all_b = 1;
		for (int i = 0; i < 8; i++) {
			all_a &= line[8 * w + i] == a;
			all_b &= line[8 * w + i] == b;
		}
		if (!all_a && !all_b)
			return 0;
		na += all_a;
		nb += all_b;
	}
	*mixed += na && nb;
	return 1;
}

static void
torn_lines_keep_aligned_words(void **state)
{
	(void)state;
	nvh_pool *pool = sim_pool("torn.pool", 0);
	probe->gen.evict = 0;
	dirty_lines(pool, 0, 1, 0x11, 1);
	assert_nvh_ok(nvh_drain(pool));
	/* Now change all 8 words of that line. */
	dirty_lines(pool, 0, 1, 0x22, 1);
	probe->armed = 1;
	assert_nvh_ok(nvh_drain(pool));
	/* 2 subsets + 7 prefixes + 7 suffixes + 6 interior single words */
	assert_int_equal(probe->total, 2 + 20);
	unsigned mixed = 0;
	for (uint64_t i = 0; i < probe->n; i++)
		if (!words_whole(probe->win[i], 0x11, 0x22, &mixed))
			fail_msg("image %" PRIu64 " (%s) tears a word", i,
				 probe->desc[i]);
	assert_int_equal(mixed, 20);

	/* Three changed words: every proper non-empty subset (6). */
	uint64_t *w = nvh_pool_at(pool, HEAP);
	w[1] = w[4] = w[6] = 0x5555555555555555ull;
	assert_nvh_ok(nvh_flush(pool, w, LINE));
	probe->armed = 1;
	assert_nvh_ok(nvh_drain(pool));
	assert_int_equal(probe->total, 2 + 6);
	assert_nvh_ok(nvh_close(pool));
}

static void
eviction_of_unflushed_lines(void **state)
{
	(void)state;
	nvh_pool *pool = sim_pool("evict.pool", 0);
	probe->gen.torn = 0;
	dirty_lines(pool, 0, 1, 0x66, 1);  /* A: flushed */
	dirty_lines(pool, 4, 1, 0x77, 0);  /* B: stored, never flushed */
	probe->armed = 1;
	assert_nvh_ok(nvh_drain(pool));
	/* {}, {A}, B evicted alone, B evicted with A persisted */
	assert_int_equal(probe->total, 4);
	int found_b_alone = 0;
	for (uint64_t i = 0; i < probe->n; i++)
		if (probe->win[i][4 * LINE] == 0x77 && probe->win[i][0] == 0)
			found_b_alone = 1;
	assert_true(found_b_alone);
	/* Make B durable so close has nothing to report. */
	assert_nvh_ok(nvh_persist(pool, nvh_pool_at(pool, HEAP + 4 * LINE), LINE));
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(probe->missing, 0);
}

static void
sampled_images_are_the_enumerated_ones(void **state)
{
	(void)state;
	nvh_pool *pool = sim_pool("sample.pool", 0);
	/* 10 lines in flight (pairs, not every subset), 3 words changed in
	 * each (torn images), 20 dirty lines (sampled evictions) */
	dirty_lines(pool, 20, 20, 0x77, 0);
	for (unsigned k = 1; k <= 9; k += 4) {
		for (unsigned i = 0; i < 10; i++) {
			uint64_t *a = nvh_pool_at(pool, HEAP + (uint64_t)LINE * i);
			a[1] = a[4] = a[6] = 0x5a5a0000u + 16 * k + i;
			assert_nvh_ok(nvh_flush(pool, a, LINE));
		}
		probe->sample = k;
		probe->sampled = probe->sample_bad = 0;
		probe->armed = 1;
		assert_nvh_ok(nvh_drain(pool)); /* the crash point */
		assert_true(probe->total > 100 && probe->total <= MAXI);
		assert_int_equal(probe->n, probe->total);
		assert_int_equal(probe->sampled, k);
		assert_int_equal(probe->sample_bad, 0);
	}
	dirty_lines(pool, 20, 20, 0x77, 1);
	assert_nvh_ok(nvh_close(pool));
}

static void
image_hash_follows_content(void **state)
{
	(void)state;
	nvh_pool *pool = sim_pool("hash.pool", 0);
	probe->gen.torn = 0;
	probe->gen.evict = 0;
	dirty_lines(pool, 2, 1, 0x5a, 1);
	probe->armed = 1;
	assert_nvh_ok(nvh_drain(pool));
	assert_int_equal(probe->n, 2);
	uint64_t before[2], after[2];
	memcpy(before, probe->hash[0], sizeof(before)); /* {} */
	memcpy(after, probe->hash[1], sizeof(after));   /* {line} */
	assert_true(before[0] != after[0] || before[1] != after[1]);
	/* At the next fence nothing is in flight: its one image is the
	 * previous fence's "all persisted" image, and hashes equal. */
	probe->armed = 1;
	assert_nvh_ok(nvh_drain(pool));
	assert_int_equal(probe->n, 1);
	assert_memory_equal(probe->hash[0], after, sizeof(after));
	/* And the incremental durable hash equals one computed afresh. */
	uint64_t h[2], fresh[2] = {0, 0};
	nvh_sim_durable_hash(sim, h);
	const uint8_t *d = nvh_sim_durable(sim);
	for (size_t l = 0; l < SIZE / LINE; l++) {
		uint64_t x[2];
		nvh_sim_line_hash(l, d + l * LINE, x);
		fresh[0] ^= x[0];
		fresh[1] ^= x[1];
	}
	assert_memory_equal(h, fresh, sizeof(h));
	assert_nvh_ok(nvh_close(pool));
}

/* ---- the missing-flush detector ---- */

static void
detector_names_offset_and_site(void **state)
{
	(void)state;
	nvh_pool *pool = sim_pool("detect.pool", 0);
	uint64_t *v = nvh_pool_at(pool, HEAP + 104);
	*v = 42;
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(probe->missing, 1);
	assert_int_equal(probe->moff, HEAP + 104);
	assert_int_equal(probe->mlen, 1); /* only the byte that differs */
	assert_non_null(strstr(probe->mwhere, "nvh_close"));
	assert_non_null(strstr(probe->mwhere, "objects/open.c:"));

	/* The same store in a declared volatile range is not reported. */
	struct nvh_opts o = {.persist = NVH_PERSIST_SIM, .sim = sim};
	pool = assert_nvh_ptr(nvh_open(nvt_path("detect.pool"), "sim", &o));
	v = nvh_pool_at(pool, HEAP + 200);
	assert_nvh_ok(nvh_persist_volatile(&pool->persist, v, 8));
	*v = 43;
	probe->missing = 0;
	assert_nvh_ok(nvh_close(pool));
	/* HEAP+104 still differs from the durable image (never flushed). */
	assert_int_equal(probe->missing, 1);
	assert_int_equal(probe->moff, HEAP + 104);
}

static void
sim_selected_by_environment(void **state)
{
	(void)state;
	const char *p = nvt_path("envsim.pool");
	unlink(p);
	setenv("NVHEAP_PERSIST", "sim", 1);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, "e", SIZE, NULL));
	unsetenv("NVHEAP_PERSIST");
	struct nvh_pool_info i;
	assert_nvh_ok(nvh_pool_info(pool, &i));
	assert_string_equal(i.persist_name, "sim");
	uint64_t *v = nvh_pool_at(pool, HEAP);
	*v = 7;
	assert_nvh_ok(nvh_persist(pool, v, 8));
	assert_nvh_ok(nvh_close(pool));
}

/* The explorer's image file sees what a check writes to it through the
 * library (the map hook, heap/pool.h), and stops on a write it did not
 * see. */
static void
image_file_sees_writes_through_the_library(void **state)
{
	(void)state;
	assert_nvh_ok(nvh_close(sim_pool("trk.pool", 0)));
	struct nvh_ct_imgfile *f = nvh_ct_imgfile_open(nvt_path("trk.img"),
						       SIZE);
	assert_non_null(f);
	struct nvh_ct_image none = {.n = 0};
	assert_int_equal(nvh_ct_imgfile_write(f, sim, &none), 0);
	struct nvh_opts o = {.persist = NVH_PERSIST_EADR};
	nvh_pool *p = assert_nvh_ptr(nvh_open(nvt_path("trk.img"), "sim", &o));
	assert_true(nvh_ct_imgfile_tracked(f));
	uint8_t *a = nvh_pool_at(p, HEAP + 8);
	*a = 0x5a;
	assert_nvh_ok(nvh_persist(p, a, 1));
	assert_nvh_ok(nvh_close(p));
	/* the page the check wrote reached the file when it was unmapped */
	assert_int_equal(nvh_ct_imgfile_map(f)[HEAP + 8], 0x5a);
	/* and the next image puts the durable bytes back, there only */
	assert_int_equal(nvh_ct_imgfile_write(f, sim, &none), 0);
	assert_memory_equal(nvh_ct_imgfile_map(f), nvh_sim_durable(sim), SIZE);

	/* A write behind the library's back is found within 32 images. */
	int fd = open(nvt_path("trk.img"), O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "x", 1, (off_t)HEAP + 4096 * 3), 1);
	close(fd);
	int refused = 0;
	for (int i = 0; i < 40 && !refused; i++)
		refused = nvh_ct_imgfile_write(f, sim, &none) != 0;
	assert_true(refused);
	nvh_ct_imgfile_close(f);
}

/* ---- the explorer ---- */

static struct nvh_crashtest_config
quiet_config(void)
{
	struct nvh_crashtest_config c;
	nvh_crashtest_config_default(&c);
	c.dir = nvt_dir();
	c.quiet = 1;
	c.seed = 12345;
	return c;
}

static void
explorer_finds_unflushed_store(void **state)
{
	(void)state;
	struct nvh_crashtest_config c = quiet_config();
	struct nvh_crashtest_result r;
	assert_int_equal(nvh_crashtest_explore(&nvt_wl_broken_noflush, &c, &r), 0);
	assert_true(r.states > 0);
	if (r.failures == 0)
		fail_msg("explorer missed the unflushed store (%" PRIu64
			 " states)", r.states);
	if (r.missing == 0)
		fail_msg("detector missed the unflushed store");
}

static void
explorer_finds_misordered_commit(void **state)
{
	(void)state;
	struct nvh_crashtest_config c = quiet_config();
	struct nvh_crashtest_result r;
	assert_int_equal(nvh_crashtest_explore(&nvt_wl_broken_order, &c, &r), 0);
	if (r.failures == 0)
		fail_msg("explorer missed the commit record fenced with its "
			 "data (%" PRIu64 " states)", r.states);
	/* Everything is flushed and fenced in the end: no missing flush. */
	assert_int_equal(r.missing, 0);
	assert_true(r.fail_fence >= 0 && r.fail_state >= 0);

	/* The replay of the first failure checks that state and fails. */
	struct nvh_crashtest_config rc = quiet_config();
	rc.only_fence = r.fail_fence;
	rc.only_state = r.fail_state;
	rc.only_nfence = r.fail_nfence;
	rc.only_nstate = r.fail_nstate;
	struct nvh_crashtest_result rr;
	assert_int_equal(nvh_crashtest_explore(&nvt_wl_broken_order, &rc, &rr), 0);
	assert_true(rr.failures >= 1);
	assert_true(rr.states >= 1 && rr.states <= 2);
}

static void
explorer_passes_good_workloads(void **state)
{
	(void)state;
	const struct nvh_crashtest *good[] = {NVT_WORKLOADS};
	/* Under ThreadSanitizer (NVHEAP_TEST_SMALL) only the workloads with
	 * threads: the others' exploration is single-threaded, run in full
	 * by every other mode and by `scons torture`, and under TSan it
	 * took 20 minutes. */
	int threads_only = getenv("NVHEAP_TEST_SMALL") != NULL;
	/* Under AddressSanitizer (NVHEAP_TEST_EXPLORE=library) the library's
	 * workloads only: the example key-value store's (kv-*) are
	 * single-threaded, explored in full by the debug build's test_sim,
	 * and under ASan by `scons mode=asan torture` within its budget;
	 * exhaustively here they cost four minutes of CI. */
	const char *which = getenv("NVHEAP_TEST_EXPLORE");
	int library_only = which && strcmp(which, "library") == 0;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (threads_only && !strstr(good[i]->name, "lanes"))
			continue;
		if (library_only && strncmp(good[i]->name, "kv-", 3) == 0)
			continue;
		struct nvh_crashtest_config c = quiet_config();
		c.quiet = 0;
		struct nvh_crashtest_result r;
		assert_int_equal(nvh_crashtest_explore(good[i], &c, &r), 0);
		if (r.failures)
			fail_msg("%s: %" PRIu64 " failures", good[i]->name,
				 r.failures);
		assert_true(r.states > 0);
		assert_int_equal(r.explored, r.fences + 1); /* exhaustive */
		assert_false(r.budget_hit);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(flush_time_contents_become_durable, teardown),
		cmocka_unit_test_teardown(histogram_counts_flushes, teardown),
		cmocka_unit_test_teardown(subsets_of_inflight_lines, teardown),
		cmocka_unit_test_teardown(torn_lines_keep_aligned_words, teardown),
		cmocka_unit_test_teardown(eviction_of_unflushed_lines, teardown),
		cmocka_unit_test_teardown(sampled_images_are_the_enumerated_ones,
					  teardown),
		cmocka_unit_test_teardown(image_hash_follows_content, teardown),
		cmocka_unit_test_teardown(detector_names_offset_and_site, teardown),
		cmocka_unit_test(sim_selected_by_environment),
		cmocka_unit_test_teardown(image_file_sees_writes_through_the_library,
					  teardown),
		cmocka_unit_test(explorer_finds_unflushed_store),
		cmocka_unit_test(explorer_finds_misordered_commit),
		cmocka_unit_test(explorer_passes_good_workloads),
	};
	return cmocka_run_group_tests_name("sim", tests, NULL, NULL);
}
