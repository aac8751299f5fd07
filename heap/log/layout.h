/*
 * log_layout.h -- the on-media format of lanes and redo records.
 *
 * A lane is a ring of NVH_LANE_SIZE bytes holding records back to back,
 * each starting on a 64-byte boundary (so no two records share a cache
 * line).  A record:
 *
 *   off  size  field     rule
 *     0     8  seq       global order of commit; 1..NVH_SEQ_MAX
 *     8     2  nent      entries that follow, low 16 bits
 *    10     1  kind      ATOMIC, UNDO, COMMIT, ABORT or CHUNK (below)
 *    11     1  nent_hi   entries that follow, bits 16-23 (a commit of
 *                          tens of thousands of allocations needs them)
 *    12     4  size      bytes of the record, multiple of 64, <= lane size
 *    16     8  checksum  XXH3-64 of bytes [24, size) seeded with XXH3-64
 *                          of bytes [0, 16)
 *    24     .  entries, then zero padding up to `size`
 *
 * Bodies by kind (after the 24-byte header):
 *
 *   ATOMIC  entries                               an atomic alloc or free
 *   UNDO    struct nvh_undo_body, segments, inline bytes
 *                                                 snapshots of one nvh_tx_add
 *   COMMIT  struct nvh_commit_body, ranges, entries
 *                                                 a transaction's commit
 *   ABORT   struct nvh_abort_body                 a rolled-back transaction
 *   CHUNK   struct nvh_chunk_body                 more records of a
 *                                                 transaction in a heap block
 *
 * An UNDO segment {off, len, payload, payload_sum} holds the old bytes of
 * [off, off+len): inline after the segments (each padded to 8 bytes) when
 * payload is 0, else in a heap block at pool offset `payload` whose XXH3-64
 * is payload_sum (a block reserved by the transaction in DRAM only: it is
 * read, if at all, by the recovery that follows a crash of that
 * transaction).  With NVH_UNDO_COMPACT in the body's flags every segment
 * is inline and written as {off, len} only (16 bytes), so the snapshot of
 * one 8-byte word is a one-line record (24 + 16 + 16 + 8 bytes).  A COMMIT range {off, len} is a range the transaction
 * snapshotted; with NVH_COMMIT_DATA_SUM set, data_sum is the XXH3-64 of
 * their contents at commit, in order (docs/transactions.md explains when a
 * commit record needs it).  A CHUNK {tx, off, size} is a reserved heap block
 * holding records of the same transaction, back to back from its start,
 * in the same format; off and size are multiples of 64 and the block lies
 * inside the arenas.
 *
 * Entry: a 64-bit target word = pool offset (8-byte aligned) | op (low 3
 * bits), then the operand(s):
 *
 *   SET    *t = v                   target, v            16 bytes
 *   OR     *t |= v                  target, v            16 bytes
 *   ANDNOT *t &= ~v                 target, v            16 bytes
 *   CSET   if *t == old: *t = new   target, new, old     24 bytes
 *
 * Validity: a record is sealed when its size fits and its checksum
 * matches; a sealed record must also have seq in 1..NVH_SEQ_MAX
 * (heap/layout.h), a transaction id (the first body word of every kind but
 * ATOMIC; 0 in recovery's markers) below its seq, counts that fit and every
 * target inside the heap's metadata or arenas -- a sealed record that is
 * not valid is damage (nvh_rec_check).  Records of one pass of a lane
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
	uint16_t nent;     /* low 16 bits; see nvh_rec_nent() */
	uint8_t kind;
	uint8_t nent_hi;
	uint32_t size;
	uint64_t checksum;
};

_Static_assert(sizeof(struct nvh_rec_hdr) == 24, "record header");
_Static_assert(offsetof(struct nvh_rec_hdr, checksum) == 16, "");

#define NVH_REC_NENT_MAX 0xffffffu

static inline uint32_t
nvh_rec_nent(const struct nvh_rec_hdr *h)
{
	return (uint32_t)h->nent | (uint32_t)h->nent_hi << 16;
}

enum nvh_rec_kind {
	NVH_REC_ATOMIC = 1,
	NVH_REC_UNDO = 2,
	NVH_REC_COMMIT = 3,
	NVH_REC_ABORT = 4,
	NVH_REC_CHUNK = 5,
};

#define NVH_UNDO_COMPACT 0x1u

struct nvh_undo_body {
	uint64_t tx;       /* transaction id */
	uint32_t nseg;
	uint32_t flags;    /* NVH_UNDO_COMPACT or 0 */
};

struct nvh_undo_seg {
	uint64_t off;
	uint64_t len;
	uint64_t payload;  /* 0: inline */
	uint64_t payload_sum;
};

/* Bytes of one segment in a record with these body flags. */
static inline size_t
nvh_undo_seg_size(const struct nvh_undo_body *b)
{
	return b->flags & NVH_UNDO_COMPACT ? 16 : sizeof(struct nvh_undo_seg);
}

/* Segment i of an UNDO body (whatever its form), as a full segment. */
static inline struct nvh_undo_seg
nvh_undo_seg_at(const struct nvh_undo_body *b, uint32_t i)
{
	const char *p = (const char *)(b + 1) + i * nvh_undo_seg_size(b);
	struct nvh_undo_seg s = {0, 0, 0, 0};
	__builtin_memcpy(&s, p, nvh_undo_seg_size(b));
	return s;
}

/* Where the inline bytes of an UNDO body start. */
static inline const char *
nvh_undo_data(const struct nvh_undo_body *b)
{
	return (const char *)(b + 1) + b->nseg * nvh_undo_seg_size(b);
}

#define NVH_COMMIT_DATA_SUM 0x1u

struct nvh_commit_body {
	uint64_t tx;
	uint32_t nranges;
	uint32_t flags;    /* NVH_COMMIT_DATA_SUM */
	uint64_t data_sum;
};

struct nvh_range {
	uint64_t off;
	uint64_t len;
};

struct nvh_abort_body {
	uint64_t tx;
};

struct nvh_chunk_body {
	uint64_t tx;
	uint64_t off;
	uint64_t size;
};

_Static_assert(sizeof(struct nvh_undo_body) == 16, "");
_Static_assert(sizeof(struct nvh_undo_seg) == 32, "");
_Static_assert(sizeof(struct nvh_commit_body) == 24, "");
_Static_assert(sizeof(struct nvh_range) == 16, "");

enum nvh_rec_op { NVH_OP_SET = 0, NVH_OP_OR = 1, NVH_OP_ANDNOT = 2,
		  NVH_OP_CSET = 3 };

#define NVH_OP_MASK 7ull
#define NVH_REC_ALIGN 64u

#endif
