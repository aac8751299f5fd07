/*
 * mutator.c -- fuzz_open's structure-aware mutator (libFuzzer's
 * LLVMFuzzerCustomMutator).
 *
 * libFuzzer's own mutations flip bytes of the input; on edits.h's format
 * that still means something, but mostly small changes to an edit.  This
 * mutator works on edits: it adds one aimed at a field that matters (a
 * record's seq, size, kind or first entry; an entry's target; a bitmap
 * word of an arena in use; an object header's type, flags or count; a
 * pointer field, given another object's oid or one 8 bytes off; a type
 * table entry's size or field range; a header's counts and offsets),
 * with a value that matters there (a neighbour sequence number, a bit
 * flip, a small step, an interesting value of this pool), or changes,
 * duplicates or removes one, or picks another seed, and sometimes leaves
 * it to libFuzzer's byte mutations.
 */
#include <stdint.h>
#include <string.h>

#include "heap/layout.h"
#include "objects/layout.h"

#include "edits.h"
#include "poolmap.h"
#include "rng.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);
const struct nvf_map *nvf_seed(unsigned i, size_t *n);

static unsigned
below(uint64_t *s, unsigned n)
{
	return n ? (unsigned)(nvf_rand(s) % n) : 0;
}

/* Fields worth aiming at: byte offset and log2 of the width. */
struct fld {
	uint16_t off;
	uint8_t lw;
};

#define F(a) {a, sizeof(a) / sizeof(a[0])}
static const struct fld f_poolhdr[] = {
	{0, 3}, {8, 2}, {12, 2}, {16, 3}, {24, 3}, {32, 3}, {95, 0}, {96, 3},
	{104, 3}, {112, 3}, {120, 3}, {136, 3}, {144, 3}, {152, 2}, {156, 2},
	{160, 3}, {248, 3},
};
static const struct fld f_heaphdr[] = {
	{0, 3}, {8, 2}, {12, 2}, {16, 2}, {20, 2}, {24, 2}, {28, 2}, {32, 2},
	{36, 2}, {40, 3}, {48, 3}, {56, 3}, {64, 3}, {72, 3}, {80, 3}, {88, 3},
	{96, 3}, {104, 3}, {240, 3}, {248, 3},
};
static const struct fld f_line[] = {{0, 3}, {8, 3}, {16, 3}, {24, 3}};
static const struct fld f_class[] = {{0, 2}, {4, 2}, {8, 2}, {12, 2}};
/* record header, then the first words of every body kind */
static const struct fld f_rec[] = {
	{0, 3}, {8, 1}, {8, 0}, {10, 0}, {11, 0}, {12, 2}, {16, 3}, {24, 3},
	{32, 2}, {32, 3}, {36, 2}, {40, 3}, {48, 3}, {56, 3}, {64, 3}, {72, 3},
};
static const struct fld f_ent[] = {{0, 3}, {0, 0}, {8, 3}, {16, 3}};
static const struct fld f_arena[] = {
	{0, 3}, {0, 0}, {1, 0}, {4, 2}, {8, 3}, {12, 2}, {16, 3}, {24, 3},
};
static const struct fld f_objhdr[] = {{0, 3}, {0, 2}, {3, 0}, {4, 2}, {8, 3}};
static const struct fld f_ptr[] = {{0, 3}, {8, 3}};

static const struct {
	const struct fld *f;
	unsigned n;
} fields[NVF_W_N] = {
	[NVF_W_POOLHDR] = F(f_poolhdr), [NVF_W_HEAPHDR] = F(f_heaphdr),
	[NVF_W_CKPT] = F(f_line), [NVF_W_ROOTLINE] = F(f_line),
	[NVF_W_CLASS] = F(f_class), [NVF_W_REC] = F(f_rec),
	[NVF_W_ENTRY] = F(f_ent), [NVF_W_ARENAENT] = F(f_arena),
	[NVF_W_OBJHDR] = F(f_objhdr), [NVF_W_PTR] = F(f_ptr),
};

/* How often each kind of structure is aimed at (out of the sum). */
static const uint8_t where_weight[NVF_W_N] = {
	[NVF_W_FILE] = 2, [NVF_W_POOLHDR] = 4, [NVF_W_HEAPHDR] = 4,
	[NVF_W_CKPT] = 3, [NVF_W_ROOTLINE] = 4, [NVF_W_CLASS] = 3,
	[NVF_W_LANE] = 2, [NVF_W_REC] = 18, [NVF_W_ENTRY] = 10,
	[NVF_W_ARENAENT] = 8, [NVF_W_BITMAP] = 8, [NVF_W_OBJHDR] = 10,
	[NVF_W_OBJ] = 3, [NVF_W_PTR] = 12, [NVF_W_TYPES] = 6,
	[NVF_W_RESIZE] = 1,
};

static unsigned
pick_where(uint64_t *s)
{
	unsigned sum = 0;
	for (unsigned i = 0; i < NVF_W_N; i++)
		sum += where_weight[i];
	unsigned r = below(s, sum);
	for (unsigned i = 0; i < NVF_W_N; i++) {
		if (r < where_weight[i])
			return i;
		r -= where_weight[i];
	}
	return NVF_W_REC;
}

/* A field of the type table: the header, a type entry or a field entry. */
static void
types_field(const struct nvf_map *m, uint64_t *s, struct nvf_edit *e)
{
	if (!m->types_size) {
		e->field = (uint16_t)nvf_rand(s);
		return;
	}
	static const uint8_t tf[] = {0, 40, 44, 48, 52};
	static const uint8_t ff[] = {0, 4, 5, 8};
	switch (below(s, 3)) {
	case 0:
		e->field = (uint16_t)(8 * below(s, 3) + (below(s, 2) ? 0 : 4));
		e->how = (uint8_t)((e->how & 0x8f) | 2 << 4);
		break;
	case 1:
		e->field = (uint16_t)(32 + 64 * below(s, m->ntypes) +
				      tf[below(s, sizeof(tf))]);
		e->how = (uint8_t)((e->how & 0x8f) | 2 << 4);
		break;
	default:
		e->field = (uint16_t)(32 + 64 * m->ntypes + 48 * below(s, m->nfields) +
				      ff[below(s, sizeof(ff))]);
		e->how = (uint8_t)((e->how & 0x8f) | (below(s, 2) ? 2 : 0) << 4);
		break;
	}
}

static uint64_t
value_for(const struct nvf_map *m, uint64_t *s, unsigned how, unsigned width)
{
	unsigned bits = 8 * width;
	switch (how) {
	case NVF_H_XOR:
		return below(s, 8) ? 1ull << below(s, bits) : nvf_rand(s);
	case NVF_H_ADD: {
		static const int64_t d[] = {1, -1, 2, -2, 8, -8, 16, 64, -64,
					    4096, -4096, 1 << 20};
		return (uint64_t)d[below(s, sizeof(d) / sizeof(d[0]))];
	}
	case NVF_H_OID: {
		uint64_t v = below(s, (unsigned)(m->obj.n ? m->obj.n : 1));
		switch (below(s, 10)) {
		case 0: v |= (uint64_t)(uint8_t)(int8_t)(below(s, 2) ? 1 : -1) << 32; break;
		case 1: v |= 2ull << 32; break;
		case 2: v |= 1ull << 40; break;
		case 3: v |= 1ull << 41; break;
		}
		return v;
	}
	case NVF_H_SET:
		switch (below(s, 6)) {
		case 0: return 0;
		case 1: return below(s, 8);
		case 2: return ~0ull;
		case 3: return 1ull << below(s, bits);
		case 4: return m->max_seq + below(s, 3) - 1;
		default: return nvf_rand(s);
		}
	default:
		return nvf_rand(s);
	}
}

/* A new edit aimed at something of the seed. */
static void
new_edit(const struct nvf_map *m, uint64_t *s, struct nvf_edit *e)
{
	memset(e, 0, sizeof(*e));
	unsigned where = pick_where(s);
	e->where = (uint8_t)where;
	size_t n = nvf_count(m, where);
	e->index = (uint32_t)(n ? nvf_rand(s) % n : nvf_rand(s));
	static const uint8_t how_w[NVF_H_N] = {20, 18, 14, 8, 16, 10, 4, 4};
	unsigned sum = 0, r;
	for (unsigned i = 0; i < NVF_H_N; i++)
		sum += how_w[i];
	r = below(s, sum);
	unsigned how = 0;
	while (r >= how_w[how])
		r -= how_w[how++];
	if ((where == NVF_W_PTR || where == NVF_W_ROOTLINE) && below(s, 2))
		how = NVF_H_OID;
	unsigned lw = 3;
	if (fields[where].n && below(s, 5)) {
		const struct fld *f = &fields[where].f[below(s, fields[where].n)];
		e->field = f->off;
		lw = f->lw;
	} else {
		e->field = (uint16_t)nvf_rand(s);
		lw = below(s, 4);
	}
	if (where == NVF_W_BITMAP && m->obj.n && below(s, 2)) {
		/* the bitmap of an arena holding objects */
		uint64_t off = m->obj.v[below(s, (unsigned)m->obj.n)].off;
		if (off >= m->hh.arenas_off)
			e->index = (uint32_t)((off - m->hh.arenas_off) /
					      NVH_ARENA_SIZE);
		e->field = (uint16_t)(8 * below(s, 64));
		lw = 3;
	}
	if (where == NVF_W_RESIZE)
		e->value = (uint64_t)(int64_t)(below(s, 2) ? -(int)below(s, 64)
							   : (int)below(s, 64));
	e->how = (uint8_t)(how | lw << 4 | (below(s, 16) ? 0 : NVF_HOW_LATE));
	if (where == NVF_W_TYPES)
		types_field(m, s, e);
	if (where != NVF_W_RESIZE)
		e->value = value_for(m, s, how, 1u << (e->how >> 4 & 3));
	else
		e->how = (uint8_t)below(s, 4);
}

size_t
LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			unsigned int seed)
{
	uint64_t s = seed;
	size_t nseeds;
	if (max_size < NVF_HDR_SIZE + NVF_EDIT_SIZE)
		return LLVMFuzzerMutate(data, size, max_size);
	if (size < NVF_HDR_SIZE) {
		memset(data + size, 0, NVF_HDR_SIZE - size);
		size = NVF_HDR_SIZE;
	}
	struct nvf_input in;
	nvf_input_decode(&in, data, size);
	const struct nvf_map *m = nvf_seed(in.seed, &nseeds);
	if (!m)
		return LLVMFuzzerMutate(data, size, max_size);
	size = NVF_HDR_SIZE + in.nedits * NVF_EDIT_SIZE; /* drop a tail */
	size_t room = (max_size - NVF_HDR_SIZE) / NVF_EDIT_SIZE;
	uint8_t *ed = data + NVF_HDR_SIZE;
	struct nvf_edit e;
	unsigned r = below(&s, 100);
	if (r < 8)
		return LLVMFuzzerMutate(data, size, max_size);
	if (r < 12) { /* another seed: keeps the edits, which name indices */
		uint16_t v = (uint16_t)below(&s, (unsigned)nseeds);
		memcpy(data, &v, 2);
		return size;
	}
	if (r < 15) { /* a sealer skipped, or everything resealed */
		uint16_t f;
		memcpy(&f, data + 2, 2);
		if (below(&s, 2))
			f = f == NVF_FLAG_RESEAL_ALL ? 0 : NVF_FLAG_RESEAL_ALL;
		else
			f = (uint16_t)(NVF_FLAG_SKIP |
				       (((f & 0xff00) == NVF_FLAG_SKIP ? f & 0xff : 0) ^
					1u << below(&s, NVF_SEAL_N)));
		memcpy(data + 2, &f, 2);
		return size;
	}
	if (in.nedits && r < 35) { /* change one part of an edit */
		size_t i = below(&s, (unsigned)in.nedits);
		nvf_edit_get(&in, i, &e);
		struct nvf_edit fresh;
		new_edit(m, &s, &fresh);
		switch (below(&s, 4)) {
		case 0: e.value = value_for(m, &s, e.how & 7,
					    1u << (e.how >> 4 & 3)); break;
		case 1: e.field = fresh.field; break;
		case 2: e.how = (uint8_t)((e.how & 0xf0) | (fresh.how & 7)); break;
		default: e.index = (uint32_t)nvf_rand(&s); break;
		}
		nvf_edit_put(ed + i * NVF_EDIT_SIZE, &e);
		return size;
	}
	if (in.nedits && r < 43) { /* remove one */
		size_t i = below(&s, (unsigned)in.nedits);
		memmove(ed + i * NVF_EDIT_SIZE, ed + (i + 1) * NVF_EDIT_SIZE,
			(in.nedits - i - 1) * NVF_EDIT_SIZE);
		return size - NVF_EDIT_SIZE;
	}
	if (in.nedits && in.nedits < room && r < 50) { /* same, elsewhere */
		nvf_edit_get(&in, below(&s, (unsigned)in.nedits), &e);
		e.index = (uint32_t)nvf_rand(&s);
		nvf_edit_put(ed + in.nedits * NVF_EDIT_SIZE, &e);
		return size + NVF_EDIT_SIZE;
	}
	new_edit(m, &s, &e);
	if (in.nedits < room) {
		nvf_edit_put(ed + in.nedits * NVF_EDIT_SIZE, &e);
		return size + NVF_EDIT_SIZE;
	}
	nvf_edit_put(ed + below(&s, (unsigned)in.nedits) * NVF_EDIT_SIZE, &e);
	return size;
}
