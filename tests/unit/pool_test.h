/*
 * pool_test.h -- helpers shared by the pool suites (test_pool.c,
 * test_pool_header.c, test_pool_log.c): a fresh pool file and raw access to
 * its two header copies.
 */
#ifndef POOL_TEST_H
#define POOL_TEST_H

#include <stddef.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/layout.h"

#define MIB (1024u * 1024u)
#define SIZE (4 * MIB)
#define HDR_CSUM_LEN offsetof(struct nvh_pool_hdr, checksum)

static inline const char *
fresh_pool(const char *name, const char *layout)
{
	const char *p = nvt_path(name);
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, layout, SIZE, NULL));
	assert_nvh_ok(nvh_close(pool));
	return p;
}

static inline void
read_hdr(const char *path, int copy, struct nvh_pool_hdr *h)
{
	nvt_pread(path, copy ? NVH_HDR_B_OFFSET : NVH_HDR_A_OFFSET, h,
		  sizeof(*h));
}

static inline void
write_hdr(const char *path, int copy, const struct nvh_pool_hdr *h)
{
	nvt_pwrite(path, copy ? NVH_HDR_B_OFFSET : NVH_HDR_A_OFFSET, h,
		   sizeof(*h));
}

#endif
