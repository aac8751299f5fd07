/*
 * edits.c -- decoding fuzz_open's input (edits.h) and applying it to a
 * copy of its seed pool.
 *
 * An edit names a structure of the seed by kind and index (poolmap.c
 * found them), a field by byte offset in it, and what to do there: store,
 * xor or add a value, write an oid of another object (or an interior,
 * untagged or foreign one), an interesting value of this pool (its size,
 * a region's offset, the checkpoint's seq plus or minus one, ...), or copy
 * the same field or the whole structure from another instance.  After the
 * edits the image is resealed (reseal.c), then the edits marked "late" are
 * applied on top, so an input can also break a checksum on purpose.
 */
#include <inttypes.h>
#include <string.h>

#include "heap/layout.h"

#include "edits.h"

void
nvf_input_decode(struct nvf_input *in, const uint8_t *data, size_t size)
{
	memset(in, 0, sizeof(*in));
	uint8_t h[NVF_HDR_SIZE] = {0};
	memcpy(h, data, size < NVF_HDR_SIZE ? size : NVF_HDR_SIZE);
	in->seed = (uint16_t)(h[0] | h[1] << 8);
	in->flags = (uint16_t)(h[2] | h[3] << 8);
	if (size > NVF_HDR_SIZE) {
		in->edits = data + NVF_HDR_SIZE;
		in->nedits = (size - NVF_HDR_SIZE) / NVF_EDIT_SIZE;
	}
}

void
nvf_edit_get(const struct nvf_input *in, size_t i, struct nvf_edit *e)
{
	const uint8_t *p = in->edits + i * NVF_EDIT_SIZE;
	e->where = p[0];
	e->how = p[1];
	memcpy(&e->field, p + 2, 2);
	memcpy(&e->index, p + 4, 4);
	memcpy(&e->value, p + 8, 8);
}

void
nvf_edit_put(uint8_t *dst, const struct nvf_edit *e)
{
	dst[0] = e->where;
	dst[1] = e->how;
	memcpy(dst + 2, &e->field, 2);
	memcpy(dst + 4, &e->index, 4);
	memcpy(dst + 8, &e->value, 8);
}

/* ---- where ---- */

static uint64_t
narenas(const struct nvf_map *m)
{
	uint64_t n = m->hh.narenas;
	return n < m->size / NVH_ARENA_SIZE ? n : m->size / NVH_ARENA_SIZE;
}

size_t
nvf_count(const struct nvf_map *m, unsigned where)
{
	switch (where) {
	case NVF_W_POOLHDR: return 2;
	case NVF_W_CLASS:
		return m->hh.nclasses <= NVH_MAX_CLASSES ? m->hh.nclasses
							 : NVH_MAX_CLASSES;
	case NVF_W_LANE:
		return m->hh.nlanes <= NVH_MAX_LANES ? m->hh.nlanes : NVH_MAX_LANES;
	case NVF_W_REC: return m->rec.n;
	case NVF_W_ENTRY: return m->ent.n;
	case NVF_W_ARENAENT:
	case NVF_W_BITMAP: return (size_t)narenas(m);
	case NVF_W_OBJHDR: return m->hdr.n;
	case NVF_W_OBJ: return m->obj.n;
	case NVF_W_PTR: return m->ptr.n;
	case NVF_W_TYPES: return m->types_off != 0;
	default: return 1;
	}
}

static void
span(const struct nvf_spans *s, uint64_t i, uint64_t *off, uint64_t *len)
{
	*off = s->v[i].off;
	*len = s->v[i].size;
}

int
nvf_locate(const struct nvf_map *m, unsigned where, uint64_t index,
	   uint64_t *off, uint64_t *len)
{
	const uint64_t H = NVH_HEAP_OFFSET;
	size_t n = nvf_count(m, where);
	if (!n)
		return -1;
	uint64_t i = index % n;
	switch (where) {
	case NVF_W_FILE: *off = 0; *len = m->size; break;
	case NVF_W_POOLHDR:
		*off = i ? NVH_HDR_B_OFFSET : NVH_HDR_A_OFFSET;
		*len = sizeof(struct nvh_pool_hdr);
		break;
	case NVF_W_HEAPHDR: *off = H; *len = sizeof(struct nvh_heap_hdr); break;
	case NVF_W_CKPT: *off = H + NVH_HEAP_CKPT_REL; *len = 64; break;
	case NVF_W_ROOTLINE: *off = H + NVH_HEAP_ROOT_REL; *len = 64; break;
	case NVF_W_CLASS:
		*off = H + NVH_HEAP_CLASS_REL + i * sizeof(struct nvh_class_ent);
		*len = sizeof(struct nvh_class_ent);
		break;
	case NVF_W_LANE:
		*off = m->hh.lanes_off + i * NVH_LANE_SIZE;
		*len = NVH_LANE_SIZE;
		break;
	case NVF_W_REC: span(&m->rec, i, off, len); break;
	case NVF_W_ENTRY: span(&m->ent, i, off, len); break;
	case NVF_W_ARENAENT:
		*off = m->hh.table_off + i * sizeof(struct nvh_arena_ent);
		*len = sizeof(struct nvh_arena_ent);
		break;
	case NVF_W_BITMAP:
		*off = m->hh.bitmaps_off + i * NVH_BITMAP_SLOT;
		*len = NVH_BITMAP_SLOT;
		break;
	case NVF_W_OBJHDR: span(&m->hdr, i, off, len); break;
	case NVF_W_OBJ: span(&m->obj, i, off, len); break;
	case NVF_W_PTR: span(&m->ptr, i, off, len); break;
	case NVF_W_TYPES: *off = m->types_off; *len = m->types_size; break;
	default: return -1;
	}
	if (*len > 65536)
		*len = 65536;
	return *len ? 0 : -1;
}

/* ---- what ---- */

static uint64_t
magic_value(const struct nvf_map *m, uint64_t v)
{
	const struct nvh_heap_hdr *h = &m->hh;
	const uint64_t t[] = {
		0, 1, 2, 3, ~0ull, 0x7fffffffull, 0x80000000ull, 0xffffffffull,
		1ull << 32, 1ull << 63, (1ull << 48) - 1, 63, 64, 65, 512,
		4095, 4096, 65536, NVH_ARENA_SIZE, m->size, m->size - 4096,
		m->size + 4096, NVH_HEAP_OFFSET, h->lanes_off, h->table_off,
		h->bitmaps_off, h->arenas_off, h->narenas, h->narenas + 1,
		h->nlanes, h->nclasses, m->ckpt_seq, m->ckpt_seq + 1,
		m->ckpt_seq - 1, m->max_seq, m->max_seq + 1, m->tag,
		NVH_TYPE_TABLE_BASE, NVH_TYPE_TABLE_BASE - 1,
		NVH_HDR_MAKE(NVH_TYPE_TABLE_BASE, NVH_OBJ_DYING, 0),
		NVH_HDR_MAKE(NVH_TYPE_TABLE_BASE, 0, 1),
		NVH_DESC(NVH_ARENA_SMALL, 0, 0), NVH_DESC(NVH_ARENA_LARGE, 0, 1),
		NVH_DESC(NVH_ARENA_LARGE, 0, h->narenas), m->tag | h->arenas_off,
		m->tag | (NVH_HEAP_OFFSET + NVH_HEAP_ROOT_REL),
	};
	return t[v % (sizeof(t) / sizeof(t[0]))];
}

static uint64_t
oid_value(const struct nvf_map *m, uint64_t v)
{
	if (!m->obj.n)
		return 0;
	uint64_t off = m->obj.v[(uint32_t)v % m->obj.n].off +
		       (uint64_t)((int64_t)(int8_t)(v >> 32) * 8);
	off &= (1ull << 48) - 1;
	if (v >> 40 & 1)
		return off;
	return off | (v >> 41 & 1 ? m->tag ^ (1ull << 48) : m->tag);
}

static void
store(struct nvf_img *im, uint64_t at, const void *src, uint64_t n)
{
	if (at > im->size || n > im->size - at)
		return;
	memmove(im->p + at, src, n);
	nvf_dirty_add(im, at, n);
}

/* A whole-structure edit (ZERO, DUP). */
static void
whole(const struct nvf_map *m, struct nvf_img *im, const struct nvf_edit *e,
      uint64_t off, uint64_t len)
{
	unsigned how = e->how & 7;
	if (how == NVF_H_ZERO) {
		static const uint8_t zero[65536];
		store(im, off, zero, len);
		return;
	}
	uint64_t soff, slen;
	if (nvf_locate(m, e->where, e->value, &soff, &slen) ||
	    soff > im->size || slen > im->size - soff)
		return;
	store(im, off, im->p + soff, slen < len ? slen : len);
}

static void
apply_one(const struct nvf_map *m, struct nvf_img *im, const struct nvf_edit *e)
{
	unsigned where = e->where % NVF_W_N, how = e->how & 7;
	uint64_t off, len;
	if (where == NVF_W_RESIZE) {
		if (e->how & 1)
			for (uint64_t at = NVH_HDR_A_OFFSET; at <= NVH_HDR_B_OFFSET;
			     at += NVH_HDR_B_OFFSET)
				store(im, at + offsetof(struct nvh_pool_hdr,
							pool_size),
				      &im->size, 8);
		return;
	}
	if (nvf_locate(m, where, e->index, &off, &len))
		return;
	if (how == NVF_H_ZERO || how == NVF_H_DUP) {
		whole(m, im, e, off, len);
		return;
	}
	uint64_t w = 1ull << (e->how >> 4 & 3);
	if (how == NVF_H_OID)
		w = 8;
	while (w > len)
		w >>= 1;
	uint64_t pos;
	if (where == NVF_W_FILE) {
		pos = ((uint64_t)e->field << 32 | e->index) % m->size;
		pos &= ~(w - 1);
	} else {
		pos = (e->field % len) & ~(w - 1);
		if (pos + w > len)
			pos = (len - w) & ~(w - 1);
		pos += off;
	}
	if (pos > im->size || w > im->size - pos)
		return;
	uint64_t cur = 0, v = e->value;
	memcpy(&cur, im->p + pos, w);
	switch (how) {
	case NVF_H_SET: break;
	case NVF_H_XOR: v ^= cur; break;
	case NVF_H_ADD: v += cur; break;
	case NVF_H_OID: v = oid_value(m, e->value); break;
	case NVF_H_MAGIC: v = magic_value(m, e->value); break;
	case NVF_H_COPY: {
		uint64_t soff, slen;
		if (nvf_locate(m, where, e->value, &soff, &slen) ||
		    pos - off + w > slen)
			return;
		soff += pos - off;
		if (soff > im->size || w > im->size - soff)
			return;
		memcpy(&v, im->p + soff, w);
		break;
	}
	}
	store(im, pos, &v, w);
}

uint64_t
nvf_input_file_size(const struct nvf_input *in, const struct nvf_map *m)
{
	uint64_t size = m->size;
	const uint64_t max = 64ull << 20;
	for (size_t i = 0; i < in->nedits; i++) {
		struct nvf_edit e;
		nvf_edit_get(in, i, &e);
		if (e.where % NVF_W_N != NVF_W_RESIZE)
			continue;
		int64_t pages = (int32_t)(uint32_t)e.value;
		int64_t s = (int64_t)m->size + pages * 4096;
		if (e.how & 2)
			s += (int64_t)(e.value >> 32 & 0xfff); /* unaligned */
		size = s < 0 ? 0 : (uint64_t)s > max ? max : (uint64_t)s;
	}
	return size;
}

static void
apply_pass(const struct nvf_input *in, const struct nvf_map *m,
	   struct nvf_img *im, int late)
{
	for (size_t i = 0; i < in->nedits; i++) {
		struct nvf_edit e;
		nvf_edit_get(in, i, &e);
		if (!!(e.how & NVF_HOW_LATE) == late)
			apply_one(m, im, &e);
	}
}

unsigned
nvf_apply(const struct nvf_input *in, const struct nvf_map *m,
	  struct nvf_img *im)
{
	if (!in->nedits)
		return 0;
	apply_pass(in, m, im, 0);
	unsigned skip = (in->flags & 0xff00) == NVF_FLAG_SKIP ? in->flags & 0xff
							     : 0;
	im->all = in->flags == NVF_FLAG_RESEAL_ALL;
	unsigned n = nvf_reseal(im, skip);
	im->all = 0;
	apply_pass(in, m, im, 1);
	return n;
}

static const char *const where_name[NVF_W_N] = {
	"file", "pool-header", "heap-header", "checkpoint", "root-line",
	"class", "lane", "record", "entry", "arena-entry", "bitmap",
	"object-header", "object", "pointer", "type-table", "resize",
};

static const char *const how_name[NVF_H_N] = {
	"set", "xor", "add", "oid", "magic", "copy", "zero", "dup",
};

void
nvf_describe(FILE *f, const struct nvf_input *in, const struct nvf_map *m)
{
	fprintf(f, "seed %s, flags 0x%04x, %zu edits\n", m->name, in->flags,
		in->nedits);
	for (size_t i = 0; i < in->nedits; i++) {
		struct nvf_edit e;
		nvf_edit_get(in, i, &e);
		unsigned where = e.where % NVF_W_N;
		uint64_t off = 0, len = 0;
		size_t n = nvf_count(m, where);
		int ok = where == NVF_W_RESIZE ||
			 !nvf_locate(m, where, e.index, &off, &len);
		fprintf(f, "  %zu: %s[%" PRIu32 " of %zu] at 0x%" PRIx64
			" (+%u) %s%u 0x%016" PRIx64 "%s%s\n", i,
			where_name[where], n ? (uint32_t)(e.index % n) : 0, n,
			off, len ? e.field % (unsigned)len : e.field,
			how_name[e.how & 7], 1u << (e.how >> 4 & 3), e.value,
			e.how & NVF_HOW_LATE ? " late" : "",
			ok ? "" : " (no such structure: nothing)");
	}
}
