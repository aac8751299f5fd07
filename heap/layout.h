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
 *   8192          heap_size   heap: see "Heap" below (the heap as
 *                             created, then the segments growth added)
 *   ...           rest        unused tail: alignment slack; with
 *                             NVH_FEAT_SEGMENTS also a growth that did not
 *                             finish (past pool_size, trimmed by the next
 *                             read-write open)
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
 *    96     8  pool_size       == file size (SEGMENTS: <= file size), in
 *                              [min, max], 4 KiB multiple
 *   104     8  heap_offset     == NVH_HEAP_OFFSET
 *   112     8  heap_size       > 0, 4 KiB multiple, heap_offset+heap_size <= pool_size
 *                              (SEGMENTS: the heap's segments end exactly there)
 *   120     8  features        no unknown bits (NVH_FEAT_*)
 *   128     8  create_time     seconds since the epoch (informational)
 *   136     8  seq             bumped by every header update
 *   144     8  run_generation  1 ..= NVH_SEQ_MAX, bumped by each rw open
 *   152     4  clean_shutdown  0 (open or crashed) or 1 (closed cleanly)
 *   156     4  reserved0       0
 *   160     8  max_size        GROWS: 0 (until the file system is full) or
 *                              a cap >= pool_size, 4 KiB multiple; else 0
 *   168     8  grow_step       GROWS: 0 (default) or bytes per growth, 4 KiB
 *                              multiple; else 0
 *   176    72  reserved        all zero
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

/* Feature bits (incompatible: a reader that does not know one refuses
 * the pool).  SEGMENTS: heap_size is exact and the heap may have grown by
 * segments (struct nvh_seg_hdr); pool_size may be below the file size (an
 * unfinished growth's tail).  GROWS (requires SEGMENTS): the pool grows by
 * itself when its heap runs out, by the policy in max_size and grow_step.
 * Pools created by this version have SEGMENTS. */
#define NVH_FEAT_SEGMENTS 0x1u
#define NVH_FEAT_GROWS 0x2u
#define NVH_FEAT_MALLOC 0x4u   /* nvh_malloc was used: an unclean open
				 * collects (objects/gc.c) */
#define NVH_FEATURES_KNOWN (NVH_FEAT_SEGMENTS | NVH_FEAT_GROWS |            \
			    NVH_FEAT_MALLOC)

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
	uint64_t max_size;
	uint64_t grow_step;
	uint8_t reserved[72];
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
_Static_assert(offsetof(struct nvh_pool_hdr, max_size) == 160, "");
_Static_assert(offsetof(struct nvh_pool_hdr, grow_step) == 168, "");
_Static_assert(offsetof(struct nvh_pool_hdr, reserved) == 176, "");
_Static_assert(offsetof(struct nvh_pool_hdr, checksum) == 248, "");
_Static_assert(NVH_HEAP_OFFSET >= NVH_HDR_B_OFFSET + NVH_HDR_COPY_SIZE, "");

/*
 * Heap (at heap_offset = H; every offset below is a pool offset, i.e.
 * from the start of the file; all regions after the first page are 4 KiB
 * aligned):
 *
 *   H               256 B     heap header (struct nvh_heap_hdr), static
 *   H + 256         64 B      checkpoint line (struct nvh_ckpt: two
 *                             slots {seq, check})
 *   H + 320         64 B      root line: root slot, dying-list head and
 *                             type-table slot (nvh_oids at +0, +8, +16)
 *   H + 512         16 B x n  class table (struct nvh_class_ent)
 *   lanes_off       64 KiB x  lanes: rings of redo records (heap/log/layout.h)
 *   table_off       16 B x    arena table (struct nvh_arena_ent)
 *   bitmaps_off     512 B x   one bitmap slot per arena, 1 bit per block
 *   arenas_off      256 KiB x arenas
 *   segments        added by growth (NVH_FEAT_SEGMENTS), one after the
 *                   other from the end of the arenas above to heap_offset
 *                   + heap_size, each at S (page aligned) holding n arenas:
 *       S                 4 KiB     segment header (struct nvh_seg_hdr)
 *       S + 4096          32 B x n  arena table entries
 *       B = align(S + 4096 + 32n)   512 B x n bitmap slots
 *       A = align(B + 512n)         256 KiB x n arenas
 *     the next segment starts at A + n * 256 KiB.  Arenas are numbered on
 *     from the heap's: segment k's first is the sum of the counts before.
 *
 * Heap header (256 bytes):
 *
 *   off  size  field           rule checked at open
 *     0     8  magic           "NVHHEAP\0"
 *     8     4  version         == NVH_HEAP_VERSION
 *    12     4  hdr_size        == 256
 *    16     4  arena_size      == NVH_ARENA_SIZE
 *    20     4  bitmap_slot     == NVH_BITMAP_SLOT
 *    24     4  nclasses        1..NVH_MAX_CLASSES
 *    28     4  nlanes          1..NVH_MAX_LANES
 *    32     4  lane_size       == NVH_LANE_SIZE
 *    36     4  reserved0       0
 *    40     8  narenas         >= 1
 *    48     8  class_off       == H + 512
 *    56     8  lanes_off       regions in this order, aligned, not
 *    64     8  table_off         overlapping, the last ending inside
 *    72     8  bitmaps_off       the pool
 *    80     8  arenas_off
 *    88     8  ckpt_off        == H + 256
 *    96     8  root_off        == H + 320
 *   104   136  reserved        zero
 *   240     8  class_checksum  XXH3-64 of the class table
 *   248     8  checksum        XXH3-64 of bytes [0, 248)
 *
 * Class table entry (16 bytes): block_size (multiple of 64), nblocks
 * (blocks per arena, <= 8 * bitmap_slot), blocks_off (offset of block 0 in
 * the arena; the object headers, 16 bytes per block, fill [0, 16*nblocks)),
 * reserved.  Block sizes strictly increase; blocks_off + nblocks *
 * block_size <= arena_size.
 *
 * Arena table entry (32 bytes): desc = kind | class << 8 | run << 32, and
 * for a large object its object header, then 8 reserved bytes.  Kinds:
 * FREE (all of the arena's bitmap slot is zero), SMALL (blocks of one
 * class), LARGE (head of a run of `run` arenas holding one object; the
 * entries of the rest of the run stay FREE).
 *
 * Object header (16 bytes, struct nvh_objhdr): word = type id (bits 0-23)
 * | flags (bits 24-31: NVH_OBJ_DYING) | reference count (bits 32-63; while
 * DYING: the release progress, strong slots already given up, see
 * objects/cascade.c); birth = a pool-unique serial given at allocation
 * (weak pointers compare it), or, while the object is DYING, the oid of
 * the next dying object.
 * Type ids below 2^23 are the caller's (untyped objects); ids from 2^23 up
 * are entries of the pool's type table (objects/types.c).
 */

#define NVH_HEAP_MAGIC "NVHHEAP"
#define NVH_HEAP_VERSION 1u
#define NVH_ARENA_SIZE (256u << 10)
#define NVH_BITMAP_SLOT 512u           /* bytes: up to 4096 blocks */
#define NVH_LANE_SIZE (64u << 10)
#define NVH_MAX_CLASSES 64u
#define NVH_MAX_LANES 64u
#define NVH_MIN_LANES 2u

#define NVH_HEAP_CKPT_REL 256u         /* offsets from H */
#define NVH_HEAP_ROOT_REL 320u         /* root slot */
#define NVH_HEAP_DYING_REL 328u        /* head of the dying list (an oid) */
#define NVH_HEAP_TYPES_REL 336u        /* the type table object (an oid) */
#define NVH_HEAP_CLASS_REL 512u
#define NVH_HEAP_FIXED 4096u           /* header page */

struct nvh_heap_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_size;
	uint32_t arena_size;
	uint32_t bitmap_slot;
	uint32_t nclasses;
	uint32_t nlanes;
	uint32_t lane_size;
	uint32_t reserved0;
	uint64_t narenas;
	uint64_t class_off;
	uint64_t lanes_off;
	uint64_t table_off;
	uint64_t bitmaps_off;
	uint64_t arenas_off;
	uint64_t ckpt_off;
	uint64_t root_off;
	uint8_t reserved[136];
	uint64_t class_checksum;
	uint64_t checksum;
};

_Static_assert(sizeof(struct nvh_heap_hdr) == 256, "heap header size");
_Static_assert(offsetof(struct nvh_heap_hdr, narenas) == 40, "");
_Static_assert(offsetof(struct nvh_heap_hdr, root_off) == 96, "");
_Static_assert(offsetof(struct nvh_heap_hdr, class_checksum) == 240, "");
_Static_assert(offsetof(struct nvh_heap_hdr, checksum) == 248, "");

/*
 * The checkpoint line (64 bytes at H + 256): records with seq <= the
 * checkpoint are applied in place and never replayed (heap/log/ckpt.c).
 *
 *   off  size  field           rule
 *     0     8  slot[0].seq     slot A: a checkpoint, <= NVH_SEQ_MAX
 *     8     8  slot[0].check   nvh_ckpt_check(seq, 0)
 *    16     8  slot[1].seq     slot B
 *    24     8  slot[1].check   nvh_ckpt_check(seq, 1)
 *    32    32  reserved        zero
 *
 * check = XXH3-64 of the 8 seq bytes seeded with NVH_CKPT_SEED + slot,
 * with bit 0 set (never 0).  A slot is valid when its check matches, empty
 * when both words are 0 (no checkpoint yet: seq 0).  Checkpoints go to the
 * slot not in use, alternately; of the valid slots the one with the higher
 * seq is the checkpoint (equal: A).  A valid slot whose seq exceeds
 * NVH_SEQ_MAX, or no valid or empty slot at all, is damage.
 *
 * Legacy form (pools written before the slots existed): slot[0].seq = the
 * checkpoint and everything else zero.  It is read as slot A and upgraded
 * (slot[0].check written, one 8-byte store) by the first read-write open.
 */
struct nvh_ckpt_slot {
	uint64_t seq;
	uint64_t check;
};

struct nvh_ckpt {
	struct nvh_ckpt_slot slot[2];
	uint64_t reserved[4];
};

_Static_assert(sizeof(struct nvh_ckpt) == 64, "checkpoint line");
_Static_assert(offsetof(struct nvh_ckpt, slot[1].seq) == 16, "");
_Static_assert(offsetof(struct nvh_ckpt, reserved) == 32, "");

#define NVH_CKPT_SEED 0x4e5648434b505431ull /* "NVHCKPT1" */

/*
 * Sequence numbers (records, transaction ids, checkpoints) on the medium
 * are at most NVH_SEQ_MAX; anything above is damage.  Operations take
 * them only up to NVH_SEQ_LIMIT (then they fail with EOVERFLOW); above
 * it, only the ABORT record of a rollback, so a transaction that began
 * can always end, up to NVH_SEQ_ABORT_LIMIT; the rest is recovery's, for
 * its marker records (at most NVH_MAX_LANES per recovery).  2^62 is
 * centuries of operations at any rate this heap can reach.
 */
#define NVH_SEQ_MAX ((uint64_t)1 << 62)
#define NVH_SEQ_LIMIT (NVH_SEQ_MAX - ((uint64_t)1 << 32))
#define NVH_SEQ_ABORT_LIMIT (NVH_SEQ_MAX - ((uint64_t)1 << 16))

struct nvh_class_ent {
	uint32_t block_size;
	uint32_t nblocks;
	uint32_t blocks_off;
	uint32_t reserved;
};

_Static_assert(sizeof(struct nvh_class_ent) == 16, "class entry");
_Static_assert(NVH_HEAP_CLASS_REL + NVH_MAX_CLASSES * 16 <= NVH_HEAP_FIXED,
	       "class table fits the header page");

enum nvh_arena_kind { NVH_ARENA_FREE = 0, NVH_ARENA_SMALL = 1,
		      NVH_ARENA_LARGE = 2, NVH_ARENA_MALLOC = 3 };

/*
 * A malloc arena (kind MALLOC, class = a malloc class, heap/malloc.c):
 * blocks of one malloc class size, no object headers.  Its first
 * blocks_off bytes are its block bitmap (bit b: block b allocated),
 * written only by a clean close (and trusted only after one: an unclean
 * open collects, objects/gc.c); its bitmap slot stays zero.  The classes
 * are fixed by the code (NVH_FEAT_MALLOC): 16..128 in steps of 16, then
 * four per doubling up to 16384; per class, nblocks is the most blocks
 * that fit with blocks_off = the bitmap's bytes rounded up to 64.
 * Larger nvh_malloc blocks are ordinary objects of type
 * NVH_TYPEID_MALLOC, allocated and freed atomically (logged).
 */
#define NVH_TYPEID_MALLOC 0x7ffffeu

struct nvh_objhdr {
	uint64_t word;
	uint64_t birth;
};

_Static_assert(sizeof(struct nvh_objhdr) == 16, "object header");

#define NVH_OBJ_DYING 0x1u
#define NVH_TYPE_MASK 0xffffffull
#define NVH_TYPE_TABLE_BASE 0x800000u /* first id of the type table */
#define NVH_HDR_TYPE(w) ((uint32_t)((w) & NVH_TYPE_MASK))
#define NVH_HDR_FLAGS(w) ((unsigned)(((w) >> 24) & 0xff))
#define NVH_HDR_COUNT(w) ((uint32_t)((w) >> 32))
#define NVH_HDR_MAKE(type, flags, count)                                    \
	((uint64_t)(type) | (uint64_t)(flags) << 24 | (uint64_t)(count) << 32)

struct nvh_arena_ent {
	uint64_t desc;
	struct nvh_objhdr hdr; /* LARGE: the object's header */
	uint64_t reserved;
};

_Static_assert(sizeof(struct nvh_arena_ent) == 32, "arena entry");

/*
 * Segment header (64 bytes at a segment's start, rest of its page zero),
 * written with the segment's zeroed table and bitmaps before the pool
 * header update that puts the segment inside heap_size (heap/grow.c):
 *
 *   off  size  field     rule checked at open
 *     0     8  magic     "NVHSEG\0\0"
 *     8     8  index     1 for the first segment, then 2, 3, ...
 *    16     8  first     number of its first arena (arenas before it)
 *    24     8  narenas   >= 1, the segment ends inside the heap
 *    32    16  uuid      the pool's
 *    48     8  reserved  0
 *    56     8  checksum  XXH3-64 of bytes [0, 56)
 */
#define NVH_SEG_MAGIC "NVHSEG"
#define NVH_SEG_HDR_PAGE 4096u

struct nvh_seg_hdr {
	char magic[8];
	uint64_t index;
	uint64_t first;
	uint64_t narenas;
	uint8_t uuid[16];
	uint64_t reserved;
	uint64_t checksum;
};

_Static_assert(sizeof(struct nvh_seg_hdr) == 64, "segment header");
_Static_assert(offsetof(struct nvh_seg_hdr, checksum) == 56, "");

#define NVH_DESC(kind, cls, run)                                           \
	((uint64_t)(kind) | (uint64_t)(cls) << 8 | (uint64_t)(run) << 32)
#define NVH_DESC_KIND(d) ((unsigned)((d) & 0xff))
#define NVH_DESC_CLASS(d) ((unsigned)(((d) >> 8) & 0xff))
#define NVH_DESC_RUN(d) ((uint32_t)((d) >> 32))
#define NVH_DESC_RESERVED(d) ((d) & 0xffff0000ull)

#endif
