/*
 * edits.h -- fuzz_open's input: which seed pool, and the edits to make to
 * it.  The pool is megabytes; the input stays a few hundred bytes.
 *
 *   input  := header edit*          (a trailing partial edit is ignored)
 *   header := seed (u16)            index into the sorted seed list, mod n
 *             flags (u16)           high byte 0x5a: the low byte's bit i
 *                                   skips sealer i (reseal.h); high byte
 *                                   0xa5: reseal everything, not only what
 *                                   the edits changed; anything else: the
 *                                   default (random bytes rarely skip)
 *   edit   := where (u8)            enum nvf_where, mod NVF_W_N
 *             how (u8)              bits 0-2 enum nvf_how; bits 4-5 width
 *                                   (1 << n bytes); bit 7: after resealing
 *             field (u16)           byte offset in the structure, mod its
 *                                   size, aligned down to the width
 *             index (u32)           which structure of that kind, mod
 *                                   their number in the seed
 *             value (u64)           operand (see enum nvf_how)
 *
 * All little-endian.  Every byte string decodes to some input, so
 * libFuzzer's own byte-level mutations stay meaningful.  An input with no
 * edit is the seed itself, unresealed: an exact crash image.
 */
#ifndef NVF_EDITS_H
#define NVF_EDITS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "poolmap.h"
#include "reseal.h"

#define NVF_HDR_SIZE 4u
#define NVF_EDIT_SIZE 16u
#define NVF_FLAG_SKIP 0x5a00u       /* ... | sealers to skip */
#define NVF_FLAG_RESEAL_ALL 0xa500u
#define NVF_HOW_LATE 0x80u

enum nvf_where {
	NVF_W_FILE,      /* the file: position = (field << 32 | index) mod size */
	NVF_W_POOLHDR,   /* pool header copy (index & 1), 256 bytes */
	NVF_W_HEAPHDR,   /* heap header, 256 bytes */
	NVF_W_CKPT,      /* checkpoint line, 64 */
	NVF_W_ROOTLINE,  /* root line: root, dying head, type table; 64 */
	NVF_W_CLASS,     /* class table entry, 16 */
	NVF_W_LANE,      /* a whole lane, 64 KiB */
	NVF_W_REC,       /* a record (lane or chunk) */
	NVF_W_ENTRY,     /* an entry of an ATOMIC or COMMIT record, 16/24 */
	NVF_W_ARENAENT,  /* arena table entry, 32 */
	NVF_W_BITMAP,    /* an arena's bitmap slot, 512 */
	NVF_W_OBJHDR,    /* an allocated object's header, 16 */
	NVF_W_OBJ,       /* an allocated object (first 64 KiB) */
	NVF_W_PTR,       /* a pointer field (8, weak 16) */
	NVF_W_TYPES,     /* the type table object */
	NVF_W_RESIZE,    /* the file's size: value = signed 4 KiB pages to
			  * add; how bit 0: make both headers' pool_size
			  * agree */
	NVF_W_N
};

enum nvf_how {
	NVF_H_SET,       /* store value (width bytes) */
	NVF_H_XOR,
	NVF_H_ADD,
	NVF_H_OID,       /* an oid: object (value mod n) + (int8)(value >> 32)
			  * * 8 bytes; bit 40: untagged; bit 41: another
			  * pool's tag (8 bytes) */
	NVF_H_MAGIC,     /* an interesting value (value mod table size) */
	NVF_H_COPY,      /* the same bytes of instance (value mod n) */
	NVF_H_ZERO,      /* zero the whole structure */
	NVF_H_DUP,       /* copy the whole structure of instance (value mod n) */
	NVF_H_N
};

struct nvf_edit {
	uint8_t where, how;
	uint16_t field;
	uint32_t index;
	uint64_t value;
};

struct nvf_input {
	uint16_t seed, flags;
	size_t nedits;
	const uint8_t *edits;     /* NVF_EDIT_SIZE bytes each */
};

void nvf_input_decode(struct nvf_input *in, const uint8_t *data, size_t size);
void nvf_edit_get(const struct nvf_input *in, size_t i, struct nvf_edit *e);
void nvf_edit_put(uint8_t *dst, const struct nvf_edit *e);

/* The file size the input asks for (the seed's, unless it resizes). */
uint64_t nvf_input_file_size(const struct nvf_input *in,
			     const struct nvf_map *m);

/*
 * Apply the edits to im (a copy of the seed, im->size bytes), reseal
 * unless there is no edit, then apply the late edits.  Returns the number
 * of checksums resealed.
 */
unsigned nvf_apply(const struct nvf_input *in, const struct nvf_map *m,
		   struct nvf_img *im);

/* One line per edit, for reproducing a finding. */
void nvf_describe(FILE *f, const struct nvf_input *in, const struct nvf_map *m);

/* How many structures of this kind the seed has, and where one is. */
size_t nvf_count(const struct nvf_map *m, unsigned where);
int nvf_locate(const struct nvf_map *m, unsigned where, uint64_t index,
	       uint64_t *off, uint64_t *len);

#endif
