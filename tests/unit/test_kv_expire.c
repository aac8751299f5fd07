/*
 * test_kv_expire.c -- the key-value store's expiry times and checksums
 * (examples/kvstore): lazy expiry (an expired key is absent to every
 * call), the options of kv_set, kv_set_expire, the persistent expires
 * count, expiry times across a clean reopen and a SIGKILL, active expiry
 * at 200,000 keys; and damaged entries (a flipped byte in a value, a key,
 * a length) reported and never returned, by the library and by the nvkv
 * program (`check`, `dump`), which the NVKV variable names.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvh_test.h"

#include "examples/kvstore/kv.h"

#define T0 1700000000000ll /* a fixed "now" (ms) */

static struct kv *
open_kv(const char *name, enum kv_index ix, int fresh)
{
	const char *path = nvt_path(name);
	if (fresh)
		unlink(path);
	struct kv_opts o = {.index = ix, .size = 64ull << 20, .create = 1,
			    .hash_buckets = 4};
	struct kv *kv = kv_open(path, &o);
	if (!kv)
		fail_msg("kv_open %s: %s", path, kv_errmsg());
	kv_set_time(kv, T0);
	return kv;
}

static int
present(struct kv *kv, const char *k, int64_t *expire)
{
	const void *v;
	size_t vl;
	int rc = kv_get_ex(kv, k, strlen(k), &v, &vl, expire);
	assert_true(rc == 0 || rc == -ENOENT);
	return rc == 0;
}

static int
set(struct kv *kv, const char *k, const char *v, int nx, int xx, int keep,
    int64_t expire)
{
	struct kv_setopt o = {.nx = nx, .xx = xx, .keepttl = keep,
			      .expire = expire};
	return kv_set(kv, k, strlen(k), v, strlen(v), &o);
}

static void
basics(enum kv_index ix)
{
	struct kv *kv = open_kv("basics", ix, 1);
	int64_t e = -1;
	assert_int_equal(set(kv, "a", "1", 0, 0, 0, T0 + 1000), 0);
	assert_int_equal(set(kv, "b", "2", 0, 0, 0, 0), 0);
	assert_true(present(kv, "a", &e));
	assert_int_equal(e, T0 + 1000);
	assert_true(present(kv, "b", &e));
	assert_int_equal(e, 0);
	assert_int_equal(kv_expires(kv), 1);
	/* KEEPTTL, INCR and APPEND keep the time; a plain SET drops it */
	assert_int_equal(set(kv, "a", "5", 0, 0, 1, 0), 0);
	long long out;
	assert_int_equal(kv_incrby(kv, "a", 1, 2, &out), 0);
	assert_int_equal(out, 7);
	size_t nl;
	assert_int_equal(kv_append(kv, "a", 1, "0", 1, &nl), 0);
	assert_true(present(kv, "a", &e));
	assert_int_equal(e, T0 + 1000);
	assert_int_equal(kv_expires(kv), 1);
	/* the time passes: absent to reads, NX, XX, scans, counts stay */
	kv_set_time(kv, T0 + 1000);
	assert_false(present(kv, "a", NULL));
	assert_int_equal(set(kv, "a", "x", 0, 1, 0, 0), -ENOENT);
	assert_int_equal(kv_set_expire(kv, "a", 1, T0 + 5000), -ENOENT);
	assert_int_equal(kv_del(kv, "a", 1), -ENOENT); /* gone, not "deleted" */
	assert_int_equal(kv_expires(kv), 0);
	assert_int_equal(set(kv, "a", "y", 1, 0, 0, T0 + 3000), 0);
	assert_int_equal(kv_expires(kv), 1);
	/* in place: a new time, PERSIST, a time already passed */
	assert_int_equal(kv_set_expire(kv, "b", 1, T0 + 9000), 0);
	assert_int_equal(kv_expires(kv), 2);
	assert_true(present(kv, "b", &e));
	assert_int_equal(e, T0 + 9000);
	assert_int_equal(kv_set_expire(kv, "b", 1, 0), 0);
	assert_true(present(kv, "b", &e));
	assert_int_equal(e, 0);
	assert_int_equal(kv_expires(kv), 1);
	assert_int_equal(kv_set_expire(kv, "a", 1, T0 - 1), 0);
	assert_false(present(kv, "a", NULL));
	assert_int_equal(kv_count(kv), 1);
	assert_int_equal(kv_expires(kv), 0);
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	/* FLUSHALL clears the count */
	assert_int_equal(set(kv, "c", "3", 0, 0, 0, T0 + 5000), 0);
	assert_int_equal(kv_flush(kv), 0);
	assert_int_equal(kv_expires(kv), 0);
	assert_int_equal(kv_close(kv), 0);
}

static void
hash_basics(void **state)
{
	(void)state;
	basics(KV_HASH);
}

static void
btree_basics(void **state)
{
	(void)state;
	basics(KV_BTREE);
}

/* Times are absolute and persistent: after a clean close, and after a
 * SIGKILL with no close, a key keeps its time, and one whose time passed
 * meanwhile is gone. */
static int
killed_writer(void *arg)
{
	(void)arg;
	struct kv *kv = open_kv("killed", KV_HASH, 1);
	for (int i = 0; i < 1000; i++) {
		char k[32];
		snprintf(k, sizeof(k), "k%d", i);
		if (set(kv, k, "v", 0, 0, 0, i % 2 ? T0 + 1000 * i : 0))
			return 1;
	}
	kill(getpid(), SIGKILL);
	return 1;
}

static void
times_persist(void **state)
{
	(void)state;
	struct kv *kv = open_kv("persist", KV_BTREE, 1);
	assert_int_equal(set(kv, "soon", "1", 0, 0, 0, T0 + 10), 0);
	assert_int_equal(set(kv, "late", "2", 0, 0, 0, T0 + 100000), 0);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv("persist", KV_BTREE, 0);
	int64_t e;
	assert_true(present(kv, "soon", &e));
	assert_int_equal(e, T0 + 10);
	kv_set_time(kv, T0 + 50);
	assert_false(present(kv, "soon", NULL));
	assert_true(present(kv, "late", &e));
	assert_int_equal(e, T0 + 100000);
	assert_int_equal(kv_close(kv), 0);

	int st = nvt_in_child(killed_writer, NULL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	kv = open_kv("killed", KV_HASH, 0);
	kv_set_time(kv, T0 + 500500);
	int live = 0;
	for (int i = 0; i < 1000; i++) {
		char k[32];
		snprintf(k, sizeof(k), "k%d", i);
		int p = present(kv, k, &e);
		if (i % 2 == 0) {
			assert_true(p);
			assert_int_equal(e, 0);
		} else if (i <= 500) {
			assert_false(p);
		} else {
			assert_true(p);
			assert_int_equal(e, T0 + 1000ll * i);
		}
		live += p;
	}
	assert_int_equal(live, 500 + 250);
	assert_int_equal(kv_expires(kv), 500);
	assert_int_equal(kv_close(kv), 0);
}

/* 200,000 keys, half of them expiring: active expiry removes exactly the
 * expired ones in steps of bounded work, and a pass ends. */
static void
active_expiry(enum kv_index ix, int n)
{
	struct kv *kv = open_kv("active", ix, 1);
	nvh_pool *pool = kv_pool(kv);
	for (int i = 0; i < n;) {
		nvh_tx *tx = nvh_tx_begin(pool); /* 1000 puts per commit */
		assert_non_null(tx);
		for (int j = 0; j < 1000 && i < n; j++, i++) {
			char k[32];
			snprintf(k, sizeof(k), "key:%08d", i);
			assert_int_equal(set(kv, k, "value", 0, 0, 0,
					     i % 2 ? T0 + 10 : 0), 0);
		}
		assert_int_equal(nvh_tx_commit(tx), 0);
	}
	assert_int_equal(kv_expires(kv), n / 2);
	uint64_t cur = 0, total = 0, steps = 0, del;
	/* nothing expired yet: a pass deletes nothing */
	do {
		cur = kv_expire_step(kv, cur, 2000, &del);
		total += del;
		steps++;
	} while (cur && steps < 10000);
	assert_int_equal(total, 0);
	kv_set_time(kv, T0 + 10);
	steps = 0;
	do {
		cur = kv_expire_step(kv, cur, 2000, &del);
		assert_true(del <= 2000 + 64);
		total += del;
		steps++;
	} while (cur && steps < 10000);
	print_message("%s: %d keys, %" PRIu64 " expired in %" PRIu64
		      " steps of 2000\n", ix == KV_HASH ? "hash" : "btree", n,
		      total, steps);
	assert_true(steps < 10000);
	assert_int_equal(total, n / 2);
	assert_int_equal(kv_count(kv), n / 2);
	assert_int_equal(kv_expires(kv), 0);
	/* with no expiring key, a step does no walk at all */
	assert_int_equal(kv_expire_step(kv, 0, 2000, &del), 0);
	assert_int_equal(kv_close(kv), 0);
}

static void
hash_active_expiry(void **state)
{
	(void)state;
	active_expiry(KV_HASH, 200000);
}

static void
btree_active_expiry(void **state)
{
	(void)state;
	active_expiry(KV_BTREE, 200000);
}

/* ---- damage ---- */

struct seen {
	int n;
	uint64_t off[8];
	char what[8][32];
};

static void
note(void *arg, uint64_t off, const char *what)
{
	struct seen *s = arg;
	if (s->n < 8) {
		s->off[s->n] = off;
		snprintf(s->what[s->n], sizeof(s->what[0]), "%s", what);
	}
	s->n++;
}

static int
count_pair(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k, (void)kl, (void)v, (void)vl;
	(*(int *)arg)++;
	return 0;
}

/* The file offset of the value bytes of key k (the mapping starts at
 * file offset 0). */
static uint64_t
value_off(struct kv *kv, const char *k)
{
	const void *v;
	size_t vl;
	assert_int_equal(kv_get(kv, k, strlen(k), &v, &vl), 0);
	nvh_oid o = nvh_oid_of(kv_pool(kv), v);
	assert_false(NVH_OID_IS_NULL(o));
	return o.off & ((1ull << 48) - 1); /* without the pool's tag */
}

static int
run_nvkv(const char *path, const char *cmd, char *out, size_t outsz)
{
	char line[4096];
	snprintf(line, sizeof(line), "'%s' '%s' %s 2>&1", getenv("NVKV"),
		 path, cmd);
	FILE *p = popen(line, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, outsz - 1, p);
	out[n] = 0;
	int st = pclose(p);
	assert_true(WIFEXITED(st)); /* never a crash */
	return WEXITSTATUS(st);
}

/* Byte `delta` from the value's start (negative: the fixed part: -1 is
 * the key's bytes, then the 64-byte fixed part) of key k is flipped. */
static void
damage(enum kv_index ix, const char *k, long delta, const char *want,
       int get_rc)
{
	struct kv *kv = open_kv("damage", ix, 1);
	for (int i = 0; i < 100; i++) {
		char key[32], val[64];
		snprintf(key, sizeof(key), "k%02d", i);
		snprintf(val, sizeof(val), "value-%02d-0123456789", i);
		assert_int_equal(set(kv, key, val, 0, 0, 0, 0), 0);
	}
	uint64_t off = value_off(kv, k) + (uint64_t)delta;
	assert_int_equal(kv_close(kv), 0);
	char path[4096];
	snprintf(path, sizeof(path), "%s", nvt_path("damage"));
	unsigned char b;
	nvt_pread(path, off, &b, 1);
	b ^= 0x5a;
	nvt_pwrite(path, off, &b, 1);

	kv = open_kv("damage", ix, 0);
	const void *v;
	size_t vl;
	int rc = kv_get(kv, k, strlen(k), &v, &vl);
	if (rc != get_rc)
		print_message("%s %s %ld: rc %d, byte now %02x at %" PRIx64
			      ": %s\n", ix == KV_HASH ? "hash" : "btree", k,
			      delta, rc, b, off, kv_errmsg());
	assert_int_equal(rc, get_rc);
	if (rc == -EIO) {
		assert_non_null(strstr(kv_errmsg(), "damaged"));
		assert_non_null(strstr(kv_errmsg(), want));
	}
	/* the other keys are intact; a scan skips the damaged one */
	assert_int_equal(kv_get(kv, "k42", 3, &v, &vl) == 0 ||
			 !strcmp(k, "k42"), 1);
	int n = 0;
	assert_int_equal(kv_scan(kv, NULL, 0, NULL, 0, count_pair, &n), 0);
	assert_int_equal(n, 99);
	struct seen s = {0};
	assert_int_equal(kv_check(kv, note, &s), 1);
	assert_int_equal(s.n, 1);
	assert_non_null(strstr(s.what[0], want));
	assert_int_equal(kv_close(kv), 0);

	char out[8192];
	assert_int_equal(run_nvkv(path, "check", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "1 damaged entries"));
	assert_non_null(strstr(out, want));
	assert_int_equal(run_nvkv(path, "dump", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "damaged entries skipped"));
	assert_int_equal(run_nvkv(path, "get k00", out, sizeof(out)), 0);
}

static void
damaged_value(void **state)
{
	(void)state;
	damage(KV_HASH, "k17", 3, "value checksum", -EIO);
	damage(KV_BTREE, "k17", 3, "value checksum", -EIO);
}

static void
damaged_key(void **state)
{
	(void)state;
	/* the last byte of msum: the entry is found and refused */
	damage(KV_HASH, "k05", -4, "header checksum", -EIO);
	/* a key byte: the key is no longer there to find; check and scans
	 * report the entry */
	damage(KV_HASH, "k05", -1, "key checksum", -ENOENT);
	damage(KV_BTREE, "k05", -2, "key checksum", -ENOENT);
}

static void
damaged_length(void **state)
{
	(void)state;
	/* the value starts 3 key bytes after the 64-byte fixed part: klen
	 * is at fixed-part offset 16, vlen at 24 */
	damage(KV_HASH, "k33", -3 - 64 + 24 + 2, "header checksum", -EIO);
	damage(KV_HASH, "k33", -3 - 64 + 16, "header checksum", -EIO);
	damage(KV_BTREE, "k33", -3 - 64 + 16, "header checksum", -EIO);
	damage(KV_BTREE, "k33", -3 - 64 + 24 + 7, "header checksum", -EIO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_basics),
		cmocka_unit_test(btree_basics),
		cmocka_unit_test(times_persist),
		cmocka_unit_test(hash_active_expiry),
		cmocka_unit_test(btree_active_expiry),
		cmocka_unit_test(damaged_value),
		cmocka_unit_test(damaged_key),
		cmocka_unit_test(damaged_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
