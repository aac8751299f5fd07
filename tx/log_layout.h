/*
 * log_layout.h -- the on-media format of lanes and redo records.
 *
 * A lane is a ring of NVH_LANE_SIZE bytes holding records back to back,
 * each starting on a 64-byte boundary (so no two records share a cache
 * line).  A record:
 *
 *   off  size  field     rule
 *     0     8  seq       global order of commit; > 0
 *     8     2  nent      entries that follow
 *    10     2  kind      NVH_REC_ATOMIC (more kinds with transactions)
 *    12     4  size      bytes of the record, multiple of 64, <= lane size
 *    16     8  checksum  XXH3-64 of bytes [24, size) seeded with XXH3-64
 *                          of bytes [0, 16)
 *    24     .  entries, then zero padding up to `size`
 *
 * Entry: a 64-bit target word = pool offset (8-byte aligned) | op (low 3
 * bits), then the operand(s):
 *
 *   SET    *t = v                   target, v            16 bytes
 *   OR     *t |= v                  target, v            16 bytes
 *   ANDNOT *t &= ~v                 target, v            16 bytes
 *   CSET   if *t == old: *t = new   target, new, old     24 bytes
 *
 * Validity: size and nent consistent, checksum matches, every target
 * inside the heap's metadata or arenas.  Records of one pass of a lane
 * have increasing seq; the pass ends at the first invalid record or at the
 * first whose seq is not larger than its predecessor's (an older pass).
 * Live records are those with seq > the checkpoint's; recovery replays
 * them in seq order across lanes (docs/recovery.md).
 */
#ifndef NVH_TX_LOG_LAYOUT_H
#define NVH_TX_LOG_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

struct nvh_rec_hdr {
	uint64_t seq;
	uint16_t nent;
	uint16_t kind;
	uint32_t size;
	uint64_t checksum;
};

_Static_assert(sizeof(struct nvh_rec_hdr) == 24, "record header");
_Static_assert(offsetof(struct nvh_rec_hdr, checksum) == 16, "");

enum nvh_rec_kind { NVH_REC_ATOMIC = 1 };

enum nvh_rec_op { NVH_OP_SET = 0, NVH_OP_OR = 1, NVH_OP_ANDNOT = 2,
		  NVH_OP_CSET = 3 };

#define NVH_OP_MASK 7ull
#define NVH_REC_ALIGN 64u

#endif
