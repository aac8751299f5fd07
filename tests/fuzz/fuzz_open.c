/*
 * fuzz_open.c -- libFuzzer target: open arbitrary bytes as a pool.
 *
 * The input is the beginning of a pool file (headers first).  The file is
 * extended with zeros to the pool_size a header copy claims when that is
 * plausible (<= 64 MiB), so inputs can describe valid pools without being
 * megabytes long.  Properties checked, beyond "no crash, no sanitizer
 * report": a failed open leaves a message; a pool that opens read-only
 * reports sane fields; a pool that opens read-write closes, then reopens
 * with the same UUID and the next run generation.
 *
 * Seeds: valid pools and crash images (`torture --dump-images`).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nvheap.h>

#include "heap/layout.h"

#define MAX_EXTEND (64ull << 20)

static char path[256];
static char dir[] = "/dev/shm/nvheap-fuzz.XXXXXX";

/* Runs when libFuzzer ends normally (time or run limit): no pool left
 * behind in /dev/shm. */
static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void
setup(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(path, sizeof(path), "%s/pool", dir);
	atexit(cleanup);
}

static uint64_t
claimed_size(const uint8_t *data, size_t size, uint64_t off)
{
	uint64_t v = 0;
	size_t at = off + offsetof(struct nvh_pool_hdr, pool_size);
	if (size >= at + sizeof(v))
		memcpy(&v, data + at, sizeof(v));
	return v;
}

#define CHECK(c)                                                             \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "property failed: %s (%s)\n", #c,    \
				nvh_errormsg());                             \
			abort();                                             \
		}                                                            \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0])
		setup();
	uint64_t fsize = size;
	uint64_t a = claimed_size(data, size, NVH_HDR_A_OFFSET);
	uint64_t b = claimed_size(data, size, NVH_HDR_B_OFFSET);
	uint64_t want = a > size && a <= MAX_EXTEND ? a
			: b > size && b <= MAX_EXTEND ? b : 0;
	if (want > fsize)
		fsize = want;
	unlink(path);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) ||
	    ftruncate(fd, (off_t)fsize) != 0)
		abort();
	close(fd);

	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY,
			      .persist = NVH_PERSIST_EADR};
	nvh_pool *p = nvh_open(path, NULL, &ro);
	if (!p) {
		CHECK(nvh_errormsg()[0] != 0);
		CHECK(strstr(nvh_errormsg(), path) != NULL);
		return 0;
	}
	struct nvh_pool_info i;
	CHECK(nvh_pool_info(p, &i) == 0);
	CHECK(i.pool_size == fsize);
	CHECK(i.heap_offset + i.heap_size <= i.pool_size);
	CHECK(strlen(i.layout) <= NVH_LAYOUT_MAX);
	CHECK(i.hdr_ok[0] || i.hdr_ok[1]);
	CHECK(nvh_close(p) == 0);

	struct nvh_opts rw = {.persist = NVH_PERSIST_EADR};
	p = nvh_open(path, i.layout, &rw);
	CHECK(p != NULL); /* what opened read-only opens read-write */
	struct nvh_pool_info j;
	CHECK(nvh_pool_info(p, &j) == 0);
	CHECK(memcmp(i.uuid, j.uuid, 16) == 0);
	CHECK(j.run_generation == i.run_generation + 1);
	CHECK(nvh_close(p) == 0);
	p = nvh_open(path, i.layout, &rw);
	CHECK(p != NULL);
	CHECK(nvh_pool_info(p, &j) == 0);
	CHECK(j.was_clean && j.hdr_ok[0] && j.hdr_ok[1]);
	CHECK(j.run_generation == i.run_generation + 2);
	CHECK(nvh_close(p) == 0);
	return 0;
}
