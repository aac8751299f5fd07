/*
 * test_kv_damage.c -- the key-value store (examples/kvstore) on damaged
 * pools: a store of 2,000 keys is closed cleanly, then in each round a
 * copy of its file gets 1-8 random bytes flipped (in its objects, or in the
 * pool's metadata) and is opened and used: gets of every key, a full scan,
 * a stepped scan, kv_check, a put, a del, a flush, a close; and every 10th
 * round the nvkv program (the NVKV variable) runs get, dump, check and
 * stats on it.  Nothing may crash or hang, and nothing but stored data may
 * come out: a get that succeeds returns exactly the stored value (the
 * checksums guarantee it), a scan shows only stored pairs; damage is
 * reported (-EIO with a message, or a failed open with one).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "examples/kvstore/kv.h"

#define T0 1700000000000ll /* a fixed "now" (ms) */
#define NKEYS 2000
#define ROUNDS 300
#define POOL_SIZE (8ull << 20)

/* xorshift64*: the same rounds every run */
static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static void
key_of(int i, char *k, size_t *kl)
{
	*kl = (size_t)snprintf(k, 16, "k%05d", i);
}

/* Key i's value: mixed sizes (0 bytes to 900), bytes from i. */
static size_t
value_of(int i, unsigned char *v)
{
	static const size_t len[] = {0, 1, 7, 40, 120, 300, 900};
	size_t n = len[i % 7];
	uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + 1;
	for (size_t j = 0; j < n; j++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		v[j] = (unsigned char)x;
	}
	return n;
}

/* The key index of k, or -1 if k is no stored key. */
static int
index_of(const void *k, size_t kl)
{
	char buf[16];
	size_t bl;
	if (kl != 6 || ((const char *)k)[0] != 'k')
		return -1;
	char digits[8]; /* k is not NUL-terminated */
	memcpy(digits, (const char *)k + 1, 5);
	digits[5] = 0;
	int i = atoi(digits);
	key_of(i, buf, &bl);
	return i >= 0 && i < NKEYS && bl == kl && !memcmp(buf, k, kl) ? i : -1;
}

static void
value_ok(int i, const void *v, size_t vl)
{
	unsigned char want[4096];
	size_t n = value_of(i, want);
	if (vl != n || memcmp(v, want, n))
		fail_msg("key %d: a value of %zu bytes that was never stored "
			 "(stored: %zu bytes)", i, vl, n);
}

/* Scans may show stored pairs only ("new" is the round's put). */
static int
check_pair(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(*(uint64_t *)arg)++;
	if (kl == 3 && !memcmp(k, "new", 3)) {
		assert_int_equal(vl, 5);
		assert_memory_equal(v, "fresh", 5);
		return 0;
	}
	int i = index_of(k, kl);
	if (i < 0)
		fail_msg("scan: a key of %zu bytes that was never stored", kl);
	value_ok(i, v, vl);
	return 0;
}

static struct kv *
open_kv(const char *path, enum kv_index ix, int create)
{
	struct kv_opts o = {.index = ix, .size = POOL_SIZE, .create = create,
			    .hash_buckets = 4};
	struct kv *kv = kv_open(path, &o);
	if (kv)
		kv_set_time(kv, T0);
	return kv;
}

/* The pristine store: its bytes, where its objects lie, where the heap
 * starts. */
struct obj {
	uint64_t off, len;
};

struct image {
	unsigned char *buf;
	uint64_t size, heap;
	struct obj *ent, *ix;          /* entries; the index's objects */
	size_t nent, nix;
};

static void
add_obj(struct obj **v, size_t *n, uint64_t off, uint64_t len)
{
	if (!(*n & (*n - 1)) || !*n) {
		*v = realloc(*v, (*n ? 2 * *n : 16) * sizeof(**v));
		assert_non_null(*v);
	}
	(*v)[(*n)++] = (struct obj){off, len};
}

static void
build(enum kv_index ix, const char *path, struct image *im)
{
	unlink(path);
	struct kv *kv = open_kv(path, ix, 1);
	if (!kv)
		fail_msg("kv_open %s: %s", path, kv_errmsg());
	unsigned char v[4096];
	for (int i = 0; i < NKEYS; i++) {
		char k[16];
		size_t kl, vl = value_of(i, v);
		key_of(i, k, &kl);
		/* a third expire, far in the future: all stay live */
		struct kv_setopt o = {.expire = i % 3 ? 0 : T0 + 1000000000};
		assert_int_equal(kv_set(kv, k, kl, v, vl, &o), 0);
	}
	struct nvh_pool_info info;
	assert_int_equal(nvh_pool_info(kv_pool(kv), &info), 0);
	im->heap = info.heap_offset;
	im->nent = im->nix = 0;
	im->ent = im->ix = NULL;
	/* every live object, by its block start (16-byte aligned); the
	 * entries apart, so flips can aim at the index as often */
	nvh_pool *pool = kv_pool(kv);
	const void *p;
	size_t vl;
	assert_int_equal(kv_get(kv, "k00000", 6, &p, &vl), 0);
	uint64_t tag = nvh_oid_of(pool, p).off & ~((1ull << 48) - 1);
	uint32_t ent = nvh_type_id(pool, "kvent");
	assert_true(ent != 0);
	for (uint64_t off = im->heap; off < info.pool_size; off += 16) {
		nvh_oid o = {tag | off};
		uint32_t t = nvh_type_of(pool, o);
		if (!t || !nvh_refcount(pool, o))
			continue;
		uint64_t len = nvh_usable_size(pool, o);
		if (t == ent)
			add_obj(&im->ent, &im->nent, off, len);
		else
			add_obj(&im->ix, &im->nix, off, len);
	}
	print_message("%s: %zu entries, %zu index objects\n",
		      kv_index_name(ix), im->nent, im->nix);
	assert_true(im->nent >= NKEYS && im->nix > 0);
	assert_int_equal(kv_close(kv), 0);
	im->size = nvt_file_size(path);
	im->buf = malloc(im->size);
	assert_non_null(im->buf);
	nvt_pread(path, 0, im->buf, im->size);
}

/* path := buf[0..n) */
static void
write_file(const char *path, const void *buf, uint64_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	for (uint64_t done = 0; done < n;) {
		ssize_t w = write(fd, (const char *)buf + done, n - done);
		if (w <= 0)
			fail_msg("write %s: %s", path, strerror(errno));
		done += (uint64_t)w;
	}
	assert_int_equal(close(fd), 0);
}

/* Run nvkv CMD on path; it must exit by itself, in time, and not with a
 * sanitizer's report. */
static void
run_nvkv(const char *path, const char *cmd)
{
	char line[8192 + 256];
	/* a sanitizer's exit code is 1 unless told: make it stand out */
	snprintf(line, sizeof(line), "ASAN_OPTIONS=\"$ASAN_OPTIONS:exitcode=86\" "
		 "UBSAN_OPTIONS=\"$UBSAN_OPTIONS:exitcode=86\" timeout -s KILL "
		 "30 '%s' '%s' %s >/dev/null 2>&1", getenv("NVKV"), path, cmd);
	int st = system(line);
	assert_true(WIFEXITED(st));
	int rc = WEXITSTATUS(st);
	if (rc > 2)
		fail_msg("nvkv %s %s: exit %d (86: a sanitizer's report; "
			 "137: killed by the timeout or a signal)", path, cmd,
			 rc);
}

static void
use(struct kv *kv, uint64_t *gets_ok, uint64_t *eio)
{
	for (int i = 0; i < NKEYS; i++) {
		char k[16];
		size_t kl, vl;
		const void *p;
		key_of(i, k, &kl);
		int rc = kv_get(kv, k, kl, &p, &vl);
		if (rc == 0) {
			value_ok(i, p, vl);
			(*gets_ok)++;
		} else if (rc == -EIO) {
			assert_true(kv_errmsg()[0] != 0);
			(*eio)++;
		} else if (rc != -ENOENT) {
			fail_msg("get %s: %d: %s", k, rc, kv_errmsg());
		}
	}
	uint64_t n = 0;
	int rc = kv_scan(kv, NULL, 0, NULL, 0, check_pair, &n);
	assert_true(rc == 0 || rc == -EIO);
	uint64_t cur = 0, steps = 0;
	do {
		cur = kv_scan_step(kv, cur, 50, check_pair, &n);
	} while (cur && ++steps < 100000);
	assert_true(steps < 100000); /* a stepped scan ends */
	(void)kv_check(kv, NULL, NULL);
	rc = kv_put(kv, "new", 3, "fresh", 5);
	if (rc == 0) {
		const void *p;
		size_t vl;
		rc = kv_get(kv, "new", 3, &p, &vl);
		assert_true(rc == 0 || rc == -EIO);
		if (rc == 0) {
			assert_int_equal(vl, 5);
			assert_memory_equal(p, "fresh", 5);
		}
	}
	n = 0;
	rc = kv_scan(kv, NULL, 0, NULL, 0, check_pair, &n);
	assert_true(rc == 0 || rc == -EIO);
	rc = kv_del(kv, "k00007", 6);
	assert_true(rc <= 0);
	(void)kv_flush(kv);
}

static void
rounds(enum kv_index ix)
{
	int h = ix == KV_HASH;
	char pristine[4096], path[4096], cp[4096];
	snprintf(pristine, sizeof(pristine), "%s",
		 nvt_path(h ? "damage-hash" : "damage-btree"));
	snprintf(path, sizeof(path), "%s",
		 nvt_path(h ? "damage-hash.copy" : "damage-btree.copy"));
	snprintf(cp, sizeof(cp), "%s",
		 nvt_path(h ? "damage-hash.nvkv" : "damage-btree.nvkv"));
	struct image im;
	build(ix, pristine, &im);
	unsigned char *copy = malloc(im.size);
	assert_non_null(copy);
	uint64_t opened = 0, refused = 0, gets_ok = 0, eio = 0, damaged = 0;
	for (int r = 0; r < ROUNDS; r++) {
		write_file(path, im.buf, im.size);
		/* every 8th round: the pool's own metadata; else bytes of
		 * the objects, half in entries, half in the index */
		int meta = r % 8 == 7;
		int nflip = 1 + (int)(rnd() % 8);
		for (int j = 0; j < nflip; j++) {
			uint64_t off = rnd() % im.heap;
			if (!meta) {
				int e = rnd() % 2;
				const struct obj *o = e ? &im.ent[rnd() % im.nent]
						       : &im.ix[rnd() % im.nix];
				off = o->off + rnd() % o->len;
			}
			unsigned char b;
			nvt_pread(path, off, &b, 1);
			b ^= (unsigned char)(1 + rnd() % 255);
			nvt_pwrite(path, off, &b, 1);
		}
		if (r % 10 == 0) {
			static const char *const cmds[] = {"get k00042", "dump",
							   "check", "stats"};
			/* on a copy: nvkv's open may change the file */
			for (int c = 0; c < 4; c++) {
				nvt_pread(path, 0, copy, im.size);
				write_file(cp, copy, im.size);
				run_nvkv(cp, cmds[c]);
			}
			unlink(cp);
		}
		struct kv *kv = open_kv(path, ix, 0);
		if (!kv) {
			assert_true(kv_errmsg()[0] != 0);
			refused++;
			continue;
		}
		opened++;
		use(kv, &gets_ok, &eio);
		damaged += kv_damaged_count(kv);
		(void)kv_close(kv);
	}
	print_message("%s: %d rounds: %" PRIu64 " opened, %" PRIu64 " refused "
		      "at open; %" PRIu64 " gets returned the stored value, %"
		      PRIu64 " reported damage; %" PRIu64 " damaged objects "
		      "met\n", kv_index_name(ix), ROUNDS, opened, refused,
		      gets_ok, eio, damaged);
	unlink(path);
	unlink(pristine);
	free(im.buf);
	free(im.ent);
	free(im.ix);
	free(copy);
}

static void
hash_damage(void **state)
{
	(void)state;
	rounds(KV_HASH);
}

static void
btree_damage(void **state)
{
	(void)state;
	rounds(KV_BTREE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_damage),
		cmocka_unit_test(btree_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
