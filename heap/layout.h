/*
 * layout.h -- the on-media format of the pool file's own structures.
 *
 * All multi-byte fields are little-endian; the file is only ever mapped on
 * little-endian hosts (asserted below).  docs/format.md is the reader's
 * version of this file.
 *
 * File map (format version 1):
 *
 *   offset        size        contents
 *   0             4 KiB       pool header, copy A
 *   4096          4 KiB       pool header, copy B
 *   8192          heap_size   heap (allocator, issue "allocator")
 *   ...           rest        unused tail (< 4 KiB alignment slack)
 *
 * The two header copies sit in different pages so that a torn page write
 * (msync backend) or torn cache lines (pmem) damage at most one of them.
 *
 * Pool header (struct nvh_pool_hdr, 256 bytes, rest of its page zero):
 *
 *   off  size  field           rule checked at open
 *     0     8  magic           "NVHPOOL\0"
 *     8     4  format_version  == NVH_FORMAT_VERSION
 *    12     4  hdr_size        == 256
 *    16    16  uuid            not all zero; RFC 4122 version 4
 *    32    64  layout          NUL-terminated, NUL-padded, == requested name
 *    96     8  pool_size       == file size, in [min, max], 4 KiB multiple
 *   104     8  heap_offset     == NVH_HEAP_OFFSET
 *   112     8  heap_size       > 0, 4 KiB multiple, heap_offset+heap_size <= pool_size
 *   120     8  features        no unknown bits (none defined yet)
 *   128     8  create_time     seconds since the epoch (informational)
 *   136     8  seq             bumped by every header update
 *   144     8  run_generation  >= 1, bumped by every read-write open
 *   152     4  clean_shutdown  0 (open or crashed) or 1 (closed cleanly)
 *   156     4  reserved0       0
 *   160    88  reserved        all zero
 *   248     8  checksum        XXH3-64 of bytes [0, 248)
 *
 * Validity: a copy is valid when its magic, hdr_size and checksum match and
 * every rule above holds.  Of two valid copies the one with the higher seq
 * is current (they differ only if a crash interrupted an update).
 * Update protocol: see pool_hdr.c.
 */
#ifndef NVH_HEAP_LAYOUT_H
#define NVH_HEAP_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "nvheap pool files are little-endian");

#define NVH_POOL_MAGIC "NVHPOOL"       /* 7 chars + NUL = 8 bytes */
#define NVH_FORMAT_VERSION 1u
#define NVH_HDR_COPY_SIZE 4096u        /* each copy owns one page */
#define NVH_HDR_A_OFFSET 0u
#define NVH_HDR_B_OFFSET 4096u
#define NVH_HEAP_OFFSET 8192u
#define NVH_POOL_ALIGN 4096u           /* pool and heap sizes are multiples */
#define NVH_LAYOUT_LEN 64u             /* layout field, including NUL */

#define NVH_FEATURES_KNOWN 0u          /* incompatible feature bits understood */

struct nvh_pool_hdr {
	char magic[8];
	uint32_t format_version;
	uint32_t hdr_size;
	uint8_t uuid[16];
	char layout[NVH_LAYOUT_LEN];
	uint64_t pool_size;
	uint64_t heap_offset;
	uint64_t heap_size;
	uint64_t features;
	uint64_t create_time;
	uint64_t seq;
	uint64_t run_generation;
	uint32_t clean_shutdown;
	uint32_t reserved0;
	uint8_t reserved[88];
	uint64_t checksum;
};

_Static_assert(sizeof(struct nvh_pool_hdr) == 256, "pool header size");
_Static_assert(offsetof(struct nvh_pool_hdr, format_version) == 8, "");
_Static_assert(offsetof(struct nvh_pool_hdr, hdr_size) == 12, "");
_Static_assert(offsetof(struct nvh_pool_hdr, uuid) == 16, "");
_Static_assert(offsetof(struct nvh_pool_hdr, layout) == 32, "");
_Static_assert(offsetof(struct nvh_pool_hdr, pool_size) == 96, "");
_Static_assert(offsetof(struct nvh_pool_hdr, heap_offset) == 104, "");
_Static_assert(offsetof(struct nvh_pool_hdr, heap_size) == 112, "");
_Static_assert(offsetof(struct nvh_pool_hdr, features) == 120, "");
_Static_assert(offsetof(struct nvh_pool_hdr, create_time) == 128, "");
_Static_assert(offsetof(struct nvh_pool_hdr, seq) == 136, "");
_Static_assert(offsetof(struct nvh_pool_hdr, run_generation) == 144, "");
_Static_assert(offsetof(struct nvh_pool_hdr, clean_shutdown) == 152, "");
_Static_assert(offsetof(struct nvh_pool_hdr, reserved0) == 156, "");
_Static_assert(offsetof(struct nvh_pool_hdr, reserved) == 160, "");
_Static_assert(offsetof(struct nvh_pool_hdr, checksum) == 248, "");
_Static_assert(NVH_HEAP_OFFSET >= NVH_HDR_B_OFFSET + NVH_HDR_COPY_SIZE, "");

#endif
