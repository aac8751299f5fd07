/*
 * poolmap.h -- the structures of a seed pool image, found once when the
 * seed is loaded, so that a mutation can name "record 12" or "the pointer
 * field 300" instead of a raw offset.
 */
#ifndef NVF_POOLMAP_H
#define NVF_POOLMAP_H

#include <stddef.h>
#include <stdint.h>

#include "heap/layout.h"

/* One structure: where it is, its size, and what it is. */
struct nvf_span {
	uint64_t off;
	uint32_t size;
	uint32_t aux;   /* records: kind | 0x100 if in a chunk; objects: type
			 * id; pointer fields: 1 if weak */
};

struct nvf_spans {
	struct nvf_span *v;
	size_t n, cap;
};

struct nvf_map {
	const char *name;
	const uint8_t *img;       /* the seed file, mapped while loading only */
	uint64_t size;
	uint32_t *pages;          /* indices of its non-zero 4 KiB pages ... */
	uint8_t *data;            /* ... and their contents, 4 KiB each */
	size_t npages;
	struct nvh_heap_hdr hh;   /* the heap header (zero if unreadable) */
	uint64_t tag;             /* oid tag (bits 48-63) from the UUID */
	uint64_t ckpt_seq, max_seq;
	struct nvf_spans rec;     /* valid records, lanes and chunks */
	struct nvf_spans ent;     /* entries of ATOMIC and COMMIT records */
	struct nvf_spans obj;     /* allocated objects (size capped) */
	struct nvf_spans hdr;     /* their headers (16 bytes each) */
	struct nvf_spans ptr;     /* pointer fields of typed objects, and
				   * the root line's three oids */
	uint64_t types_off, types_size; /* the type table object's body */
	uint32_t ntypes, nfields; /* its counts */
	unsigned ndying;          /* headers with the DYING flag */
	unsigned nchunk_recs;     /* records found in chunks */
};

/* Map the file read-only and find its structures.  0, or -1 (message on
 * stderr). */
int nvf_map_load(struct nvf_map *m, const char *path);
void nvf_map_free(struct nvf_map *m);

#endif
