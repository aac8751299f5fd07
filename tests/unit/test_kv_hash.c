/*
 * test_kv_hash.c -- the key-value store's hashes (examples/kvstore/coll.c)
 * on both indexes: a small hash keeps insertion order (a replaced field
 * stays in place, a re-added one goes last); the 129th field or a
 * 65-byte value moves it into a B-tree with every field kept; 200,000
 * fields (HSET in batches, every field read back, a resumable scan that
 * visits each, a reopen, kv_check, and the space given back when the key
 * is deleted); WRONGTYPE both ways; RENAME and expiry of a hash; and a
 * SIGKILL after acknowledged writes loses none of them.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kv_test.h"


static int
hset(struct kv *kv, const char *k, const char *f, const char *v)
{
	int added = -1;
	int rc = kv_hset(kv, k, strlen(k), f, strlen(f), v, strlen(v), 0,
			 &added);
	if (rc)
		fail_msg("hset %s %s: %d %s", k, f, rc, kv_errmsg());
	return added;
}

/* the field's value as a C string in buf, or NULL if absent */
static const char *
hget(struct kv *kv, const char *k, const char *f, char *buf, size_t n)
{
	const void *v;
	size_t vl;
	int rc = kv_hget(kv, k, strlen(k), f, strlen(f), &v, &vl);
	if (rc == -ENOENT)
		return NULL;
	if (rc)
		fail_msg("hget %s %s: %d %s", k, f, rc, kv_errmsg());
	assert_true(vl < n);
	memcpy(buf, v, vl);
	buf[vl] = 0;
	return buf;
}

static uint64_t
hlen(struct kv *kv, const char *k)
{
	uint64_t n = 99;
	assert_int_equal(kv_hlen(kv, k, strlen(k), &n), 0);
	return n;
}

static const char *
encoding(struct kv *kv, const char *k)
{
	const char *e = "none";
	int rc = kv_hash_encoding(kv, k, strlen(k), &e);
	assert_true(rc == 0 || rc == -ENOENT);
	return e;
}

/* the fields in the hash's order, joined by commas, into buf */
struct order {
	char buf[4096];
	size_t len;
	uint64_t n;
};

static int
order_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct order *o = arg;
	int n = snprintf(o->buf + o->len, sizeof(o->buf) - o->len, "%s%.*s=%.*s",
			 o->len ? "," : "", (int)kl, (const char *)k, (int)vl,
			 (const char *)v);
	assert_true(n > 0 && (size_t)n < sizeof(o->buf) - o->len);
	o->len += (size_t)n;
	o->n++;
	return 0;
}

static const char *
fields(struct kv *kv, const char *k, struct order *o)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(kv_hscan(kv, k, strlen(k), order_cb, o), 0);
	return o->buf;
}

static void
small_order(enum kv_index ix)
{
	struct kv *kv = open_kv("hash-small.pool", ix, 1);
	struct order o;
	assert_int_equal(hset(kv, "h", "a", "1"), 1);
	assert_int_equal(hset(kv, "h", "b", "2"), 1);
	assert_int_equal(hset(kv, "h", "c", "3"), 1);
	assert_int_equal(hset(kv, "h", "b", "20"), 0); /* in place */
	assert_string_equal(fields(kv, "h", &o), "a=1,b=20,c=3");
	assert_int_equal(kv_hdel(kv, "h", 1, "b", 1), 0);
	assert_int_equal(kv_hdel(kv, "h", 1, "b", 1), -ENOENT);
	assert_int_equal(hset(kv, "h", "b", "2"), 1); /* last */
	assert_string_equal(fields(kv, "h", &o), "a=1,c=3,b=2");
	assert_int_equal(hlen(kv, "h"), 3);
	assert_string_equal(encoding(kv, "h"), "listpack");
	/* nx */
	assert_int_equal(kv_hset(kv, "h", 1, "a", 1, "x", 1, 1, NULL), -EEXIST);
	assert_int_equal(kv_hset(kv, "h", 1, "d", 1, "4", 1, 1, NULL), 0);
	/* the last field takes the key */
	const char *all[] = {"a", "b", "c", "d"};
	for (int i = 0; i < 4; i++)
		assert_int_equal(kv_hdel(kv, "h", 1, all[i], 1), 0);
	enum kv_type t;
	assert_int_equal(kv_key_type(kv, "h", 1, &t, NULL), -ENOENT);
	assert_int_equal(kv_count(kv), 0);
	assert_int_equal(hlen(kv, "h"), 0);
	/* binary-safe, empty field and value */
	assert_int_equal(kv_hset(kv, "b", 1, "", 0, "", 0, 0, NULL), 0);
	assert_int_equal(kv_hset(kv, "b", 1, "\0\xff", 2, "v\0", 2, 0, NULL), 0);
	const void *v;
	size_t vl;
	assert_int_equal(kv_hget(kv, "b", 1, "\0\xff", 2, &v, &vl), 0);
	assert_int_equal(vl, 2);
	assert_memory_equal(v, "v\0", 2);
	assert_int_equal(kv_hget(kv, "b", 1, "", 0, &v, &vl), 0);
	assert_int_equal(vl, 0);
	assert_int_equal(kv_close(kv), 0);
}

static void
small_order_hash(void **s)
{
	(void)s;
	small_order(KV_HASH);
}

static void
small_order_btree(void **s)
{
	(void)s;
	small_order(KV_BTREE);
}

/* The 129th field, or a long value, makes a B-tree; nothing is lost. */
static void
conversion(void **s)
{
	(void)s;
	struct kv *kv = open_kv("hash-conv.pool", KV_HASH, 1);
	char f[32], v[128], buf[128];
	for (int i = 0; i < 128; i++) {
		snprintf(f, sizeof(f), "f%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		hset(kv, "h", f, v);
	}
	assert_string_equal(encoding(kv, "h"), "listpack");
	hset(kv, "h", "f128", "v128");
	assert_string_equal(encoding(kv, "h"), "hashtable");
	assert_int_equal(hlen(kv, "h"), 129);
	for (int i = 0; i <= 128; i++) {
		snprintf(f, sizeof(f), "f%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		assert_non_null(hget(kv, "h", f, buf, sizeof(buf)));
		assert_string_equal(buf, v);
	}
	/* deleting from the tree frees the field (the chain's links are
	 * gone: nvh_check finds no leak, the count is exact) */
	assert_int_equal(kv_hdel(kv, "h", 1, "f0", 2), 0);
	assert_int_equal(kv_hdel(kv, "h", 1, "f64", 3), 0);
	assert_int_equal(hlen(kv, "h"), 127);
	assert_null(hget(kv, "h", "f0", buf, sizeof(buf)));
	struct order o;
	fields(kv, "h", &o);
	assert_int_equal(o.n, 127);
	/* a long value */
	hset(kv, "g", "a", "1");
	memset(v, 'x', 65);
	v[65] = 0;
	hset(kv, "g", "long", v);
	assert_string_equal(encoding(kv, "g"), "hashtable");
	assert_string_equal(hget(kv, "g", "a", buf, sizeof(buf)), "1");
	assert_string_equal(hget(kv, "g", "long", buf, sizeof(buf)), v);
	struct nvh_check_report rep;
	assert_int_equal(nvh_check(kv_pool(kv), &rep, NULL), 0);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(kv_close(kv), 0);
}

struct seen {
	unsigned char *hit;
	uint64_t visits;
};

static int
seen_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct seen *s = arg;
	unsigned i;
	char f[32];
	assert_true(kl < sizeof(f));
	memcpy(f, k, kl);
	f[kl] = 0;
	assert_int_equal(sscanf(f, "field:%u", &i), 1);
	char want[32];
	int n = snprintf(want, sizeof(want), "value:%u", i);
	assert_int_equal(vl, (size_t)n);
	assert_memory_equal(v, want, vl);
	s->hit[i] = 1;
	s->visits++;
	return 0;
}

#define BIG 200000u

static void
big(enum kv_index ix)
{
	const char *name = ix == KV_HASH ? "hash-big-h.pool" : "hash-big-b.pool";
	struct kv *kv = open_kv(name, ix, 1);
	struct nvh_stats st0, st1;
	assert_int_equal(nvh_stats(kv_pool(kv), &st0), 0);
	char f[32], v[32], buf[64];
	for (unsigned b = 0; b < BIG; b += 1000) {
		nvh_tx *tx = nvh_tx_begin(kv_pool(kv));
		assert_non_null(tx);
		for (unsigned i = b; i < b + 1000; i++) {
			int fl = snprintf(f, sizeof(f), "field:%u", i);
			int vl = snprintf(v, sizeof(v), "value:%u", i);
			assert_int_equal(kv_hset(kv, "big", 3, f, (size_t)fl, v,
						 (size_t)vl, 0, NULL), 0);
		}
		assert_int_equal(nvh_tx_commit(tx), 0);
	}
	assert_int_equal(hlen(kv, "big"), BIG);
	assert_string_equal(encoding(kv, "big"), "hashtable");
	assert_true(nvh_stats(kv_pool(kv), &st1) == 0 &&
		    st1.allocated_bytes > st0.allocated_bytes + BIG * 40ull);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv(name, ix, 0);
	assert_int_equal(hlen(kv, "big"), BIG);
	for (unsigned i = 0; i < BIG; i += 7) {
		snprintf(f, sizeof(f), "field:%u", i);
		snprintf(v, sizeof(v), "value:%u", i);
		assert_string_equal(hget(kv, "big", f, buf, sizeof(buf)), v);
	}
	/* HSCAN's steps visit every field */
	struct seen s = {.hit = calloc(BIG, 1)};
	assert_non_null(s.hit);
	uint64_t cur = 0, steps = 0;
	do {
		assert_int_equal(kv_hscan_step(kv, "big", 3, cur, 1000, seen_cb,
					       &s, &cur), 0);
		assert_true(++steps < 10 * BIG / 1000);
	} while (cur);
	for (unsigned i = 0; i < BIG; i++)
		assert_true(s.hit[i]);
	assert_true(s.visits >= BIG && s.visits < BIG + BIG / 10);
	free(s.hit);
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	/* deleting it is one small commit; the fields go in bounded steps
	 * and the space comes back */
	assert_int_equal(kv_del(kv, "big", 3), 0);
	assert_int_equal(hlen(kv, "big"), 0);
	close_space_back(kv, name, ix, &st0);
}

static void
big_hash(void **s)
{
	(void)s;
	big(KV_HASH);
}

static void
big_btree(void **s)
{
	(void)s;
	big(KV_BTREE);
}

static void
types(void **s)
{
	(void)s;
	struct kv *kv = open_kv("hash-types.pool", KV_HASH, 1);
	const void *v;
	size_t vl;
	hset(kv, "h", "f", "1");
	assert_int_equal(kv_put(kv, "s", 1, "str", 3), 0);
	enum kv_type t;
	assert_int_equal(kv_key_type(kv, "h", 1, &t, NULL), 0);
	assert_int_equal(t, KV_T_HASH);
	assert_int_equal(kv_key_type(kv, "s", 1, &t, NULL), 0);
	assert_int_equal(t, KV_T_STRING);
	assert_int_equal(kv_get(kv, "h", 1, &v, &vl), -EMEDIUMTYPE);
	assert_non_null(strstr(kv_errmsg(), "WRONGTYPE"));
	long long n;
	assert_int_equal(kv_incrby(kv, "h", 1, 1, &n), -EMEDIUMTYPE);
	size_t nl;
	assert_int_equal(kv_append(kv, "h", 1, "x", 1, &nl), -EMEDIUMTYPE);
	assert_int_equal(kv_hget(kv, "s", 1, "f", 1, &v, &vl), -EMEDIUMTYPE);
	assert_int_equal(kv_hset(kv, "s", 1, "f", 1, "v", 1, 0, NULL),
			 -EMEDIUMTYPE);
	assert_int_equal(kv_hdel(kv, "s", 1, "f", 1), -EMEDIUMTYPE);
	uint64_t len;
	assert_int_equal(kv_hlen(kv, "s", 1, &len), -EMEDIUMTYPE);
	/* nothing changed */
	assert_int_equal(kv_get(kv, "s", 1, &v, &vl), 0);
	assert_int_equal(vl, 3);
	/* SET replaces a hash (its fields are freed) */
	assert_int_equal(kv_put(kv, "h", 1, "now", 3), 0);
	assert_int_equal(kv_get(kv, "h", 1, &v, &vl), 0);
	/* rename moves the hash, not a copy */
	hset(kv, "x", "f", "1");
	hset(kv, "x", "g", "2");
	assert_int_equal(kv_rename(kv, "x", 1, "y", 1, 0), 0);
	assert_int_equal(hlen(kv, "x"), 0);
	assert_int_equal(hlen(kv, "y"), 2);
	assert_int_equal(kv_rename(kv, "y", 1, "s", 1, 1), -EEXIST);
	assert_int_equal(kv_rename(kv, "y", 1, "s", 1, 0), 0);
	assert_int_equal(hlen(kv, "s"), 2);
	assert_int_equal(kv_rename(kv, "nokey", 5, "z", 1, 0), -ENOENT);
	/* expiry: the whole hash goes; a write then makes a new one */
	assert_int_equal(kv_set_expire(kv, "s", 1, T0 + 1000), 0);
	assert_int_equal(kv_expires(kv), 1);
	kv_set_time(kv, T0 + 1000);
	assert_int_equal(hlen(kv, "s"), 0);
	char buf[16];
	assert_null(hget(kv, "s", "f", buf, sizeof(buf)));
	assert_int_equal(hset(kv, "s", "new", "1"), 1);
	assert_int_equal(hlen(kv, "s"), 1);
	assert_int_equal(kv_expires(kv), 0);
	int64_t e = 1;
	assert_int_equal(kv_key_type(kv, "s", 1, &t, &e), 0);
	assert_int_equal(e, 0);
	/* flush */
	hset(kv, "f1", "a", "b");
	assert_int_equal(kv_flush(kv), 0);
	assert_int_equal(kv_count(kv), 0);
	struct nvh_check_report rep;
	assert_int_equal(nvh_check(kv_pool(kv), &rep, NULL), 0);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(kv_close(kv), 0);
}

/* A child writes 3,000 fields (one transaction each, into two hashes,
 * one past the small limit) and SIGKILLs itself: every acknowledged
 * write is there. */
static void
killed(void **s)
{
	(void)s;
	const char *path = nvt_path("hash-kill.pool");
	unlink(path);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kv_opts o = {.index = KV_HASH, .create = 1};
		struct kv *kv = kv_open(path, &o);
		if (!kv)
			_exit(2);
		char f[32];
		for (int i = 0; i < 3000; i++) {
			int fl = snprintf(f, sizeof(f), "f%d", i);
			const char *k = i % 2 ? "odd" : "even";
			if (kv_hset(kv, k, strlen(k), f, (size_t)fl, f,
				    (size_t)fl, 0, NULL))
				_exit(3);
			if (i % 3 == 0 && i > 10 &&
			    kv_hdel(kv, k, strlen(k), "f4", 2) < -ENOENT)
				_exit(4);
		}
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	struct kv_opts o = {.index = KV_HASH};
	struct kv *kv = kv_open(path, &o);
	assert_non_null(kv);
	assert_int_equal(hlen(kv, "odd"), 1500);
	assert_int_equal(hlen(kv, "even"), 1499); /* f4 deleted */
	char f[32], buf[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(f, sizeof(f), "f%d", i);
		const char *g = hget(kv, i % 2 ? "odd" : "even", f, buf,
				     sizeof(buf));
		if (i == 4)
			assert_null(g);
		else
			assert_string_equal(g, f);
	}
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	assert_int_equal(kv_close(kv), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_order_hash),
		cmocka_unit_test(small_order_btree),
		cmocka_unit_test(conversion),
		cmocka_unit_test(types),
		cmocka_unit_test(killed),
		cmocka_unit_test(big_hash),
		cmocka_unit_test(big_btree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
