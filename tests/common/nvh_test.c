/*
 * nvh_test.c -- shared test fixtures: a private temp directory, raw file
 * access, and running a check in a child process.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
