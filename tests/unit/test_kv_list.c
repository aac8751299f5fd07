/*
 * test_kv_list.c -- the key-value store's lists (examples/kvstore/
 * list.c): 30,000 random operations (pushes and pops at both ends with
 * counts, LINSERT, LREM both ways, LSET, LTRIM, LMOVE onto the same and
 * another list) against a model in DRAM, the whole lists compared every
 * 500 operations and nvh_check clean at the end; 200,000 elements (pushed
 * at both ends in batches, every 7th read back by index, ranges across
 * chunks, a reopen, 300 inserts that split chunks in the middle and
 * removals by value, kv_check,
 * and the space given back when the key is deleted); LMOVE of 100,000
 * elements moves them without copies; WRONGTYPE both ways, RENAME and
 * expiry of a list; and a SIGKILL after acknowledged writes loses none.
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


static uint64_t
push(struct kv *kv, const char *k, int left, const char *v)
{
	const void *vp = v;
	size_t vl = strlen(v);
	uint64_t len = 0;
	int rc = kv_lpush(kv, k, strlen(k), &vp, &vl, 1, left, 0, &len);
	if (rc)
		fail_msg("push %s %s: %d %s", k, v, rc, kv_errmsg());
	return len;
}

static uint64_t
llen(struct kv *kv, const char *k)
{
	uint64_t n = 99;
	assert_int_equal(kv_llen(kv, k, strlen(k), &n), 0);
	return n;
}

/* element i as a C string in buf (NULL if none) */
static const char *
lindex(struct kv *kv, const char *k, int64_t i, char *buf, size_t n)
{
	const void *v;
	size_t vl;
	int rc = kv_lindex(kv, k, strlen(k), i, &v, &vl);
	if (rc == -ENOENT)
		return NULL;
	if (rc)
		fail_msg("lindex %s %" PRId64 ": %d %s", k, i, rc,
			 kv_errmsg());
	assert_true(vl < n);
	memcpy(buf, v, vl);
	buf[vl] = 0;
	return buf;
}

/* Values are "v<number>": the model keeps the numbers. */
struct model {
	unsigned *a;
	size_t n, cap;
};

static void
m_insert(struct model *m, size_t at, unsigned v)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 1024;
		m->a = realloc(m->a, m->cap * sizeof(*m->a));
		assert_non_null(m->a);
	}
	memmove(m->a + at + 1, m->a + at, (m->n - at) * sizeof(*m->a));
	m->a[at] = v;
	m->n++;
}

static void
m_remove(struct model *m, size_t at)
{
	memmove(m->a + at, m->a + at + 1, (m->n - at - 1) * sizeof(*m->a));
	m->n--;
}

struct cmp {
	const struct model *m;
	size_t i;
	unsigned *popped;
	size_t npopped;
};

static unsigned
num(const void *v, size_t vl)
{
	char buf[32];
	assert_true(vl > 1 && vl < sizeof(buf) && ((const char *)v)[0] == 'v');
	memcpy(buf, v, vl);
	buf[vl] = 0;
	return (unsigned)strtoul(buf + 1, NULL, 10);
}

static int
cmp_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct cmp *c = arg;
	assert_int_equal(kl, 0);
	(void)k;
	assert_true(c->i < c->m->n);
	assert_int_equal(num(v, vl), c->m->a[c->i]);
	c->i++;
	return 0;
}

static int
pop_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct cmp *c = arg;
	(void)k;
	(void)kl;
	c->popped[c->npopped++] = num(v, vl);
	return 0;
}

static void
compare(struct kv *kv, const char *k, const struct model *m)
{
	struct cmp c = {.m = m};
	assert_int_equal(llen(kv, k), m->n);
	assert_int_equal(kv_lrange(kv, k, strlen(k), 0, -1, cmp_cb, &c), 0);
	assert_int_equal(c.i, m->n);
}

/* Random operations on lists a and b against the model. */
static void
random_ops(enum kv_index ix)
{
	struct kv *kv = open_kv(ix == KV_HASH ? "list-rand-h.pool"
				: "list-rand-b.pool", ix, 1);
	struct model m[2] = {{0}};
	const char *keys[2] = {"a", "b"};
	unsigned next = 1, popped[100];
	char v[32], p[32], buf[32];
	srandom(ix * 7 + 1);
	for (int op = 0; op < 30000; op++) {
		int w = (int)(random() % 2);
		const char *k = keys[w];
		struct model *x = &m[w];
		int r = (int)(random() % 100);
		/* grow while small, so the lists reach many chunks */
		if (x->n < 300 && r >= 60)
			r = (int)(random() % 30);
		if (r < 30) { /* a batch pushed at one end */
			int left = (int)(random() % 2);
			size_t n = 1 + (size_t)(random() % 70);
			const void *vp[70];
			size_t vl[70];
			char store[70][16];
			for (size_t i = 0; i < n; i++) {
				vl[i] = (size_t)snprintf(store[i], 16, "v%u",
							 next);
				vp[i] = store[i];
				m_insert(x, left ? 0 : x->n, next++);
			}
			uint64_t len;
			assert_int_equal(kv_lpush(kv, k, 1, vp, vl, n, left, 0,
						  &len), 0);
			assert_int_equal(len, x->n);
		} else if (r < 45) { /* pops with a count */
			int left = (int)(random() % 2);
			size_t cnt = 1 + (size_t)(random() % 100);
			struct cmp c = {.popped = popped};
			int rc = kv_lpop(kv, k, 1, left, cnt, pop_cb, &c);
			assert_int_equal(rc, x->n ? 0 : -ENOENT);
			for (size_t i = 0; i < c.npopped; i++) {
				size_t at = left ? 0 : x->n - 1;
				assert_int_equal(c.popped[i], x->a[at]);
				m_remove(x, at);
			}
			size_t orig = x->n + c.npopped;
			assert_int_equal(c.npopped, cnt < orig ? cnt : orig);
		} else if (r < 60 && x->n) { /* insert next to an element */
			size_t at = (size_t)random() % x->n;
			int after = (int)(random() % 2);
			snprintf(p, sizeof(p), "v%u", x->a[at]);
			int vl = snprintf(v, sizeof(v), "v%u", next);
			int64_t len;
			assert_int_equal(kv_linsert(kv, k, 1, after, p,
						    strlen(p), v, (size_t)vl,
						    &len), 0);
			m_insert(x, at + (size_t)after, next++);
			assert_int_equal(len, (int64_t)x->n);
		} else if (r < 70 && x->n) { /* LREM of one, from either end */
			size_t at = (size_t)random() % x->n;
			int back = (int)(random() % 2);
			snprintf(p, sizeof(p), "v%u", x->a[at]);
			uint64_t n;
			assert_int_equal(kv_lrem(kv, k, 1, back ? -1 : 1, p,
						 strlen(p), &n), 0);
			assert_int_equal(n, 1);
			m_remove(x, at);
		} else if (r < 80 && x->n) { /* LSET */
			size_t at = (size_t)random() % x->n;
			int vl = snprintf(v, sizeof(v), "v%u", next);
			int64_t i = random() % 2 ? (int64_t)at
						 : (int64_t)at - (int64_t)x->n;
			assert_int_equal(kv_lset(kv, k, 1, i, v, (size_t)vl),
					 0);
			x->a[at] = next++;
		} else if (r < 84 && x->n > 200) { /* LTRIM a little off */
			int64_t s = random() % 90, e = -1 - random() % 90;
			assert_int_equal(kv_ltrim(kv, k, 1, s, e), 0);
			size_t keep = x->n - (size_t)s - (size_t)(-1 - e);
			memmove(x->a, x->a + s, keep * sizeof(*x->a));
			x->n = keep;
		} else if (r < 94 && x->n) { /* LMOVE */
			int to = (int)(random() % 2);
			int fl = (int)(random() % 2), tl = (int)(random() % 2);
			struct cmp c = {.popped = popped};
			assert_int_equal(kv_lmove(kv, k, 1, keys[to], 1, fl, tl,
						  pop_cb, &c), 0);
			size_t at = fl ? 0 : x->n - 1;
			unsigned e = x->a[at];
			assert_int_equal(c.popped[0], e);
			m_remove(x, at);
			m_insert(&m[to], tl ? 0 : m[to].n, e);
		} else { /* reads */
			size_t at = x->n ? (size_t)random() % x->n : 0;
			const char *g = lindex(kv, k, (int64_t)at, buf,
					       sizeof(buf));
			if (!x->n) {
				assert_null(g);
			} else {
				assert_non_null(g);
				assert_int_equal(num(g, strlen(g)), x->a[at]);
			}
		}
		if (op % 500 == 0) {
			compare(kv, "a", &m[0]);
			compare(kv, "b", &m[1]);
		}
	}
	compare(kv, "a", &m[0]);
	compare(kv, "b", &m[1]);
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	struct nvh_check_report rep;
	assert_int_equal(nvh_check(kv_pool(kv), &rep, NULL), 0);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv(ix == KV_HASH ? "list-rand-h.pool" : "list-rand-b.pool",
		     ix, 0);
	compare(kv, "a", &m[0]);
	compare(kv, "b", &m[1]);
	assert_int_equal(kv_close(kv), 0);
	free(m[0].a);
	free(m[1].a);
}

static void
random_hash(void **s)
{
	(void)s;
	random_ops(KV_HASH);
}

static void
random_btree(void **s)
{
	(void)s;
	random_ops(KV_BTREE);
}

#define BIG 200000u

/* Big list: 0..BIG/2-1 pushed left (so reversed), then BIG/2..BIG-1
 * right: element i is BIG/2-1-i for i < BIG/2, else i. */
static unsigned
big_at(unsigned i)
{
	return i < BIG / 2 ? BIG / 2 - 1 - i : i;
}

static void
big(void **s)
{
	(void)s;
	const char *name = "list-big.pool";
	struct kv *kv = open_kv(name, KV_HASH, 1);
	struct nvh_stats st0, st1;
	assert_int_equal(nvh_stats(kv_pool(kv), &st0), 0);
	static char store[1000][16];
	const void *vp[1000];
	size_t vl[1000];
	for (unsigned b = 0; b < BIG; b += 1000) {
		for (unsigned i = 0; i < 1000; i++) {
			vl[i] = (size_t)snprintf(store[i], 16, "v%u", b + i);
			vp[i] = store[i];
		}
		uint64_t len;
		assert_int_equal(kv_lpush(kv, "big", 3, vp, vl, 1000,
					  b < BIG / 2, 0, &len), 0);
		assert_int_equal(len, b + 1000);
	}
	assert_int_equal(llen(kv, "big"), BIG);
	assert_true(nvh_stats(kv_pool(kv), &st1) == 0 &&
		    st1.allocated_bytes > st0.allocated_bytes + BIG * 40ull);
	assert_int_equal(kv_close(kv), 0);
	kv = open_kv(name, KV_HASH, 0);
	char buf[32];
	for (unsigned i = 0; i < BIG; i += 7) {
		const char *g = lindex(kv, "big", i, buf, sizeof(buf));
		assert_non_null(g);
		assert_int_equal(num(g, strlen(g)), big_at(i));
		g = lindex(kv, "big", -(int64_t)i - 1, buf, sizeof(buf));
		assert_int_equal(num(g, strlen(g)), big_at(BIG - 1 - i));
	}
	assert_null(lindex(kv, "big", BIG, buf, sizeof(buf)));
	/* the whole list, in order, and a range across the middle */
	struct model m = {0};
	for (unsigned i = 0; i < BIG; i++)
		m_insert(&m, m.n, big_at(i));
	compare(kv, "big", &m);
	/* inserts in the middle split full chunks; removals shift */
	for (unsigned j = 0; j < 300; j++) {
		size_t at = (size_t)(j * 331u) % m.n;
		char p[16], v[16];
		snprintf(p, sizeof(p), "v%u", m.a[at]);
		int n = snprintf(v, sizeof(v), "v%u", BIG + j);
		int64_t len;
		assert_int_equal(kv_linsert(kv, "big", 3, (int)(j & 1), p,
					    strlen(p), v, (size_t)n, &len), 0);
		m_insert(&m, at + (j & 1), BIG + j);
		assert_int_equal(len, (int64_t)m.n);
	}
	for (unsigned j = 0; j < 300; j += 3) {
		char p[16];
		snprintf(p, sizeof(p), "v%u", BIG + j);
		uint64_t n;
		assert_int_equal(kv_lrem(kv, "big", 3, 0, p, strlen(p), &n), 0);
		assert_int_equal(n, 1);
		for (size_t i = 0; i < m.n; i++)
			if (m.a[i] == BIG + j) {
				m_remove(&m, i);
				break;
			}
	}
	compare(kv, "big", &m);
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	/* LTRIM of whole chunks from both ends */
	assert_int_equal(kv_ltrim(kv, "big", 3, 1000, -1001), 0);
	memmove(m.a, m.a + 1000, (m.n - 2000) * sizeof(*m.a));
	m.n -= 2000;
	compare(kv, "big", &m);
	free(m.a);
	/* deleting it is one small commit; the elements go in bounded
	 * steps and the space comes back */
	assert_int_equal(kv_del(kv, "big", 3), 0);
	assert_int_equal(llen(kv, "big"), 0);
	close_space_back(kv, name, KV_HASH, &st0);
}

/* LMOVE moves an element's entry: 100,000 moves allocate nothing new
 * but chunks. */
static void
moves(void **s)
{
	(void)s;
	struct kv *kv = open_kv("list-move.pool", KV_BTREE, 1);
	char v[16];
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(v, sizeof(v), "v%u", i);
		push(kv, "src", 0, v);
	}
	struct nvh_stats st0, st1;
	assert_int_equal(nvh_stats(kv_pool(kv), &st0), 0);
	unsigned popped[1];
	for (unsigned i = 0; i < 100000; i++) {
		struct cmp c = {.popped = popped};
		/* src -> dst -> src: a rotation through both */
		int rc = kv_lmove(kv, i % 2 ? "dst" : "src", 3,
				  i % 2 ? "src" : "dst", 3, 1, 0, pop_cb, &c);
		assert_int_equal(rc, 0);
		assert_int_equal(c.npopped, 1);
	}
	assert_int_equal(llen(kv, "src"), 1000);
	assert_int_equal(llen(kv, "dst"), 0); /* emptied: the key went */
	assert_int_equal(nvh_stats(kv_pool(kv), &st1), 0);
	assert_true(st1.allocated_bytes <= st0.allocated_bytes + 4096);
	char buf[32];
	for (unsigned i = 0; i < 1000; i++) { /* 50,000 rotations of 1000 */
		const char *g = lindex(kv, "src", i, buf, sizeof(buf));
		assert_non_null(g);
		assert_int_equal(num(g, strlen(g)), i);
	}
	/* a one-element list moved onto itself */
	push(kv, "one", 1, "v7");
	struct cmp c = {.popped = popped};
	assert_int_equal(kv_lmove(kv, "one", 3, "one", 3, 0, 1, pop_cb, &c),
			 0);
	assert_int_equal(llen(kv, "one"), 1);
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	struct nvh_check_report rep;
	assert_int_equal(nvh_check(kv_pool(kv), &rep, NULL), 0);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(kv_close(kv), 0);
}

static void
types(void **s)
{
	(void)s;
	struct kv *kv = open_kv("list-types.pool", KV_HASH, 1);
	assert_int_equal(kv_put(kv, "s", 1, "x", 1), 0);
	const void *vp = "a";
	size_t vl = 1;
	uint64_t len;
	assert_int_equal(kv_lpush(kv, "s", 1, &vp, &vl, 1, 1, 0, &len),
			 -EMEDIUMTYPE);
	assert_non_null(strstr(kv_errmsg(), "WRONGTYPE"));
	assert_int_equal(kv_hset(kv, "h", 1, "f", 1, "v", 1, 0, NULL), 0);
	assert_int_equal(kv_llen(kv, "h", 1, &len), -EMEDIUMTYPE);
	push(kv, "l", 1, "a");
	push(kv, "l", 0, "b");
	const void *gv;
	size_t gl;
	assert_int_equal(kv_get(kv, "l", 1, &gv, &gl), -EMEDIUMTYPE);
	assert_int_equal(kv_hget(kv, "l", 1, "f", 1, &gv, &gl), -EMEDIUMTYPE);
	enum kv_type t;
	assert_int_equal(kv_key_type(kv, "l", 1, &t, NULL), 0);
	assert_int_equal(t, KV_T_LIST);
	assert_string_equal(kv_type_name(t), "list");
	/* LPUSHX on no list: nothing */
	assert_int_equal(kv_lpush(kv, "none", 4, &vp, &vl, 1, 1, 1, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(kv_key_type(kv, "none", 4, &t, NULL), -ENOENT);
	/* LSET's conditions change nothing */
	assert_int_equal(kv_lset(kv, "l", 1, 2, "x", 1), -ERANGE);
	assert_int_equal(kv_lset(kv, "zz", 2, 0, "x", 1), -ENOENT);
	/* RENAME and expiry */
	assert_int_equal(kv_rename(kv, "l", 1, "m", 1, 0), 0);
	assert_int_equal(llen(kv, "m"), 2);
	assert_int_equal(kv_set_expire(kv, "m", 1, T0 + 1000), 0);
	kv_set_time(kv, T0 + 2000);
	assert_int_equal(llen(kv, "m"), 0);
	/* a push onto the expired list starts a new one */
	assert_int_equal(push(kv, "m", 1, "c"), 1);
	assert_int_equal(kv_expires(kv), 0);
	/* SET replaces a list */
	assert_int_equal(kv_put(kv, "m", 1, "str", 3), 0);
	assert_int_equal(kv_get(kv, "m", 1, &gv, &gl), 0);
	struct nvh_check_report rep;
	assert_int_equal(nvh_check(kv_pool(kv), &rep, NULL), 0);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(kv_close(kv), 0);
}

static void
killed(void **s)
{
	(void)s;
	const char *path = nvt_path("list-kill.pool");
	unlink(path);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kv_opts o = {.index = KV_HASH, .create = 1};
		struct kv *kv = kv_open(path, &o);
		if (!kv)
			_exit(2);
		char v[32];
		for (int i = 0; i < 3000; i++) {
			int vl = snprintf(v, sizeof(v), "v%d", i);
			const void *vp = v;
			size_t l = (size_t)vl;
			uint64_t len;
			if (kv_lpush(kv, "l", 1, &vp, &l, 1, i % 2, 0, &len))
				_exit(3);
			if (i % 3 == 0 &&
			    kv_lpop(kv, "l", 1, 1, 1, NULL, NULL) < -ENOENT)
				_exit(4);
		}
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* the same history in the model */
	struct model m = {0};
	for (unsigned i = 0; i < 3000; i++) {
		m_insert(&m, i % 2 ? 0 : m.n, i);
		if (i % 3 == 0 && m.n)
			m_remove(&m, 0);
	}
	struct kv_opts o = {.index = KV_HASH};
	struct kv *kv = kv_open(path, &o);
	assert_non_null(kv);
	compare(kv, "l", &m);
	free(m.a);
	assert_int_equal(kv_check(kv, NULL, NULL), 0);
	assert_int_equal(kv_close(kv), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(types),
		cmocka_unit_test(random_hash),
		cmocka_unit_test(random_btree),
		cmocka_unit_test(moves),
		cmocka_unit_test(killed),
		cmocka_unit_test(big),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
