/*
 * checksum.h -- the one checksum every on-media structure uses: XXH3-64
 * from Debian's libxxhash.  A stored checksum covers the bytes before it;
 * a structure is valid only if the stored and computed values agree.
 */
#ifndef NVH_HEAP_CHECKSUM_H
#define NVH_HEAP_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

static inline uint64_t
nvh_checksum(const void *buf, size_t len)
{
	return (uint64_t)XXH3_64bits(buf, len);
}

#endif
