/*
 * nvh_test.c -- shared test fixtures: a private temp directory, raw file
 * access, running a check in a child process, a populated pool, and
 * crafting the log behind the library's back.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include "nvh_test.h"

static char dir[PATH_MAX];
static pid_t owner;

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

void
nvt_rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
cleanup(void)
{
	if (dir[0] && getpid() == owner)
		nvt_rm_rf(dir);
}

const char *
nvt_dir(void)
{
	if (!dir[0]) {
		/* tmpfs when there is one: the msync backend then costs
		 * nothing (NVHEAP_TEST_DIR=/some/disk to test on a disk). */
		const char *t = getenv("NVHEAP_TEST_DIR");
		if (!t || !*t)
			t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
		if (!t)
			t = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/nvheap-test.XXXXXX",
			 t && *t ? t : "/tmp");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			exit(99);
		}
		chmod(dir, 0755); /* reachable by the unprivileged child */
		owner = getpid();
		atexit(cleanup);
	}
	return dir;
}

const char *
nvt_path(const char *name)
{
	static char bufs[8][PATH_MAX];
	static unsigned next;
	char *b = bufs[next++ % 8];
	if (snprintf(b, PATH_MAX, "%s/%s", nvt_dir(), name) >= PATH_MAX)
		fail_msg("path too long: %s/%s", nvt_dir(), name);
	return b;
}

int
nvt_in_child(int (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	int st;
	if (waitpid(pid, &st, 0) < 0)
		fail_msg("waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void
nvt_pread(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, buf, len, (off_t)off) != (ssize_t)len)
		fail_msg("pread %s: %s", path, strerror(errno));
	close(fd);
}

void
nvt_pwrite(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		fail_msg("pwrite %s: %s", path, strerror(errno));
	close(fd);
}

uint64_t
nvt_file_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		fail_msg("stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

void *
nvt_scratch(nvh_pool *pool, size_t size)
{
	nvh_oid *root = nvh_root_slot(pool);
	if (!root)
		fail_msg("nvt_scratch: no root slot: %s", nvh_errormsg());
	if (nvh_free(pool, root) != 0)
		fail_msg("nvt_scratch: free: %s", nvh_errormsg());
	if (nvh_alloc(pool, root, size, 1, NULL, NULL) != 0)
		fail_msg("nvt_scratch: alloc %zu: %s", size, nvh_errormsg());
	return nvh_direct(pool, *root);
}

void
nvt_check_says(nvh_pool *pool, const char *needle, const char *also)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	assert_non_null(f);
	struct nvh_check_report rep;
	int rc = nvh_check(pool, &rep, f);
	fclose(f);
	if (rc != -NVH_ECORRUPT || !strstr(out, needle) ||
	    (also && !strstr(out, also)))
		fail_msg("nvh_check returned %d, expected damage naming \"%s\"%s"
			 "%s: %s", rc, needle, also ? " and " : "",
			 also ? also : "", out);
	free(out);
}

struct nvh_stats
nvt_stats(nvh_pool *pool)
{
	struct nvh_stats st;
	int rc = nvh_stats(pool, &st);
	if (rc)
		fail_msg("nvh_stats: %d: %s", rc, nvh_errormsg());
	return st;
}

void
nvt_same_space(const struct nvh_stats *got, const struct nvh_stats *want,
	       const char *what)
{
	char msg[2048];
	size_t n = 0;
#define SAME(field)                                                          \
	if (got->field != want->field && n < sizeof(msg))                    \
		n += (size_t)snprintf(msg + n, sizeof(msg) - n,              \
				      " %s %llu (want %llu)", #field,        \
				      (unsigned long long)got->field,        \
				      (unsigned long long)want->field)
	SAME(objects);
	SAME(allocated_bytes);
	SAME(free_bytes);
	SAME(arenas_free);
	SAME(arenas_small);
	SAME(arenas_large);
	SAME(large_objects);
	SAME(large_bytes);
#undef SAME
	for (uint32_t c = 0; c < want->nclasses && c < NVH_MAX_CLASSES_API &&
			     n < sizeof(msg); c++)
		if (got->cls[c].arenas != want->cls[c].arenas ||
		    got->cls[c].objects != want->cls[c].objects)
			n += (size_t)snprintf(msg + n, sizeof(msg) - n,
					      " class %u (%u bytes): %llu arenas"
					      " %llu objects (want %llu, %llu)",
					      c, want->cls[c].block_size,
					      (unsigned long long)got->cls[c].arenas,
					      (unsigned long long)got->cls[c].objects,
					      (unsigned long long)want->cls[c].arenas,
					      (unsigned long long)want->cls[c].objects);
	if (n)
		fail_msg("%s: space differs:%s", what, msg);
}

/* ---- a populated pool ---- */

#define BAG 32768
#define MAX_BAGS 8

NVH_TYPE(nvt_node);
NVH_TYPE(nvt_bag);
NVH_TYPE(nvt_top);
struct nvt_node {
	uint64_t value, check;
};
struct nvt_bag {
	nvt_node_ptr slot[BAG];
};
struct nvt_top {
	nvt_bag_ptr bag[MAX_BAGS];
};
NVH_TYPE_DEFINE(nvt_node, 0);
NVH_TYPE_DEFINE(nvt_bag, 0, NVH_PTR_N(nvt_bag, slot, BAG, nvt_node));
NVH_TYPE_DEFINE(nvt_top, 0, NVH_PTR_N(nvt_top, bag, MAX_BAGS, nvt_bag));

static uint64_t
mix(uint64_t i)
{
	return (i + 1) * 0x9e3779b97f4a7c15ull;
}

static void
register_types(nvh_pool *pool)
{
	assert_nvh_ok(nvh_type_register(pool, &nvt_node_type));
	assert_nvh_ok(nvh_type_register(pool, &nvt_bag_type));
	assert_nvh_ok(nvh_type_register(pool, &nvt_top_type));
}

struct filler {
	nvh_pool *pool;
	nvt_bag_ptr bag;
	size_t first, n;
	int rc;
	char msg[256];
};

static void *
fill(void *arg)
{
	struct filler *f = arg;
	for (size_t j = 0; j < f->n && !f->rc;) {
		nvh_tx *tx = nvh_tx_begin(f->pool);
		for (size_t k = 0; tx && k < 64 && j < f->n; k++, j++) {
			nvt_node_ptr o = NVH_TX_ALLOC(tx, nvt_node);
			struct nvt_node *d = nvt_node_d(f->pool, o);
			if (!d)
				break;
			d->value = f->first + j;
			d->check = mix(f->first + j);
			struct nvt_bag *b = nvt_bag_d(f->pool, f->bag);
			if (NVH_TX_SET(tx, &b->slot[j], o))
				break;
		}
		f->rc = tx ? nvh_tx_commit(tx) : -1;
		if (f->rc)
			snprintf(f->msg, sizeof(f->msg), "%s", nvh_errormsg());
	}
	return NULL;
}

void
nvt_populate(nvh_pool *pool, size_t n, unsigned threads)
{
	assert_true(threads >= 1 && threads <= MAX_BAGS);
	assert_true(n <= (size_t)threads * BAG);
	register_types(pool);
	nvt_top_ptr top = NVH_ROOT(pool, nvt_top);
	assert_false(NVH_IS_NULL(top));
	struct filler f[MAX_BAGS];
	pthread_t th[MAX_BAGS];
	size_t per = (n + threads - 1) / threads;
	for (unsigned t = 0; t < threads; t++) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		nvt_bag_ptr b = NVH_TX_ALLOC(tx, nvt_bag);
		assert_false(NVH_IS_NULL(b));
		assert_nvh_ok(NVH_TX_SET(tx, &nvt_top_d(pool, top)->bag[t], b));
		assert_nvh_ok(nvh_tx_commit(tx));
		size_t first = t * per;
		f[t] = (struct filler){pool, b, first,
				       first < n ? (n - first < per ? n - first
								    : per)
						 : 0, 0, ""};
	}
	for (unsigned t = 0; t < threads; t++)
		assert_int_equal(pthread_create(&th[t], NULL, fill, &f[t]), 0);
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		if (f[t].rc)
			fail_msg("nvt_populate: thread %u: %s", t, f[t].msg);
	}
}

void
nvt_populate_more(nvh_pool *pool, size_t n)
{
	assert_true(n <= BAG);
	register_types(pool);
	nvt_top_ptr top = NVH_ROOT(pool, nvt_top);
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	nvt_bag_ptr b = NVH_TX_ALLOC(tx, nvt_bag);
	assert_nvh_ok(NVH_TX_SET(tx, &nvt_top_d(pool, top)->bag[MAX_BAGS - 1],
				 b));
	assert_nvh_ok(nvh_tx_commit(tx));
	struct filler f = {pool, b, 1u << 20, n, 0, ""};
	fill(&f);
	if (f.rc)
		fail_msg("nvt_populate_more: %s", f.msg);
}

void
nvt_populated_ok(nvh_pool *pool, size_t n, unsigned threads)
{
	register_types(pool);
	const struct nvt_top *top = nvt_top_d(pool, NVH_ROOT(pool, nvt_top));
	assert_non_null(top);
	size_t per = (n + threads - 1) / threads, seen = 0;
	for (unsigned t = 0; t < threads; t++) {
		const struct nvt_bag *b = nvt_bag_d(pool, top->bag[t]);
		assert_non_null(b);
		for (size_t j = 0; j < per && t * per + j < n; j++, seen++) {
			const struct nvt_node *d = nvt_node_d(pool, b->slot[j]);
			uint64_t i = t * per + j;
			if (!d || d->value != i || d->check != mix(i))
				fail_msg("object %zu of the populated pool is "
					 "missing or changed", (size_t)i);
		}
	}
	assert_int_equal(seen, n);
}

/* ---- the log, behind the library's back ---- */

static uint64_t
ckpt_check(uint64_t seq, int slot)
{
	/* docs/format.md: XXH3-64 of the seq, seeded "NVHCKPT1" + slot, bit
	 * 0 set */
	return XXH3_64bits_withSeed(&seq, 8, 0x4e5648434b505431ull +
				    (uint64_t)slot) | 1;
}

void
nvt_ckpt_write(const char *path, int slot, uint64_t seq)
{
	uint64_t w[2] = {seq, ckpt_check(seq, slot)};
	nvt_pwrite(path, NVT_CKPT_OFF + 16u * (unsigned)slot, w, sizeof(w));
}

uint64_t
nvt_ckpt_read(const char *path, int *slot)
{
	uint64_t w[4];
	nvt_pread(path, NVT_CKPT_OFF, w, sizeof(w));
	int best = -1;
	for (int i = 0; i < 2; i++)
		if (w[2 * i + 1] == ckpt_check(w[2 * i], i) &&
		    (best < 0 || w[2 * i] > w[2 * best]))
			best = i;
	if (best < 0 && !w[1] && !w[2] && !w[3]) {
		best = 0; /* the legacy form */
	} else if (best < 0) {
		fail_msg("%s: no valid checkpoint slot", path);
	}
	if (slot)
		*slot = best;
	return w[2 * best];
}

void
nvt_rec_reseal(void *rec)
{
	/* heap/log/layout.h: XXH3-64 of bytes [24, size) seeded with XXH3-64
	 * of bytes [0, 16); size at offset 12 */
	uint8_t *p = rec;
	uint32_t size;
	memcpy(&size, p + 12, 4);
	uint64_t seed = XXH3_64bits(p, 16);
	uint64_t sum = XXH3_64bits_withSeed(p + 24, size - 24, seed);
	memcpy(p + 16, &sum, 8);
}
