/*
 * poolmap.c -- finding the structures of a seed pool image.
 *
 * A seed is a pool file as the library wrote it (a clean pool or a crash
 * image), read straight from the bytes with the on-media layout headers:
 * records of every lane and chunk (only those whose checksum matches),
 * the entries of ATOMIC and COMMIT records, allocated objects and their
 * headers (from the arena table and the bitmaps), pointer fields (from
 * the type table: every strong and weak field of every typed object) and
 * the type table itself.  Mutations (edits.c) address these by index, so
 * an input keeps its meaning when the seeds are regenerated with another
 * UUID, and the custom mutator (mutator.c) aims at fields that matter.
 * Only the seed's non-zero pages are kept in memory.  Seeds are trusted
 * to be pools, but every offset is still bounds-checked:
 * a damaged seed gives a smaller map, not a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "objects/layout.h"
#include "heap/log/layout.h"

#include "poolmap.h"
#include "reseal.h"

#define MAX_SPANS (1u << 22) /* per list: bounded memory for any seed */

static void
push(struct nvf_spans *s, uint64_t off, uint64_t size, uint32_t aux)
{
	if (s->n == s->cap) {
		if (s->cap >= MAX_SPANS)
			return;
		size_t cap = s->cap ? 2 * s->cap : 256;
		struct nvf_span *n = realloc(s->v, cap * sizeof(*n));
		if (!n)
			return;
		s->v = n;
		s->cap = cap;
	}
	s->v[s->n++] = (struct nvf_span){off, size > UINT32_MAX ? UINT32_MAX
							: (uint32_t)size, aux};
}

static int
inside(const struct nvf_map *m, uint64_t off, uint64_t len)
{
	return off <= m->size && len <= m->size - off;
}

static uint64_t
rd64(const struct nvf_map *m, uint64_t off)
{
	uint64_t v = 0;
	if (inside(m, off, 8))
		memcpy(&v, m->img + off, 8);
	return v;
}

/* Keep the non-zero pages only: a seed costs memory for its contents,
 * not its size. */
static int
keep_pages(struct nvf_map *m)
{
	static const uint8_t zero[4096];
	size_t n = (size_t)((m->size + 4095) / 4096);
	m->pages = malloc((n ? n : 1) * sizeof(*m->pages));
	if (!m->pages)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t o = (uint64_t)i * 4096;
		size_t len = m->size - o < 4096 ? (size_t)(m->size - o) : 4096;
		if (memcmp(m->img + o, zero, len) != 0)
			m->pages[m->npages++] = (uint32_t)i;
	}
	m->data = calloc(m->npages ? m->npages : 1, 4096);
	if (!m->data)
		return -1;
	for (size_t i = 0; i < m->npages; i++) {
		uint64_t o = (uint64_t)m->pages[i] * 4096;
		memcpy(m->data + i * 4096, m->img + o,
		       m->size - o < 4096 ? (size_t)(m->size - o) : 4096);
	}
	return 0;
}

/* The oid tag, from the header copy whose checksum holds (A first). */
static void
find_tag(struct nvf_map *m)
{
	const uint64_t covered = offsetof(struct nvh_pool_hdr, checksum);
	for (uint64_t at = NVH_HDR_A_OFFSET; at <= NVH_HDR_B_OFFSET;
	     at += NVH_HDR_B_OFFSET) {
		if (!inside(m, at, sizeof(struct nvh_pool_hdr)))
			continue;
		struct nvh_pool_hdr h;
		memcpy(&h, m->img + at, sizeof(h));
		if (XXH3_64bits(&h, covered) != h.checksum)
			continue;
		m->tag = (1 + XXH3_64bits(h.uuid, sizeof(h.uuid)) % 0xffff) << 48;
		return;
	}
}

static void
add_record(void *arg, uint64_t off, uint32_t rsize, uint64_t chunk)
{
	struct nvf_map *m = arg;
	struct nvh_rec_hdr h;
	memcpy(&h, m->img + off, sizeof(h));
	push(&m->rec, off, rsize, h.kind | (chunk ? 0x100u : 0));
	m->nchunk_recs += chunk != 0;
	if (h.seq > m->max_seq)
		m->max_seq = h.seq;
	/* entries: right after the header (ATOMIC) or after the commit
	 * body and its ranges (COMMIT) */
	uint64_t p = off + sizeof(h), end = off + rsize;
	if (h.kind == NVH_REC_COMMIT) {
		struct nvh_commit_body cb;
		if (p + sizeof(cb) > end)
			return;
		memcpy(&cb, m->img + p, sizeof(cb));
		p += sizeof(cb) + (uint64_t)cb.nranges * sizeof(struct nvh_range);
	} else if (h.kind != NVH_REC_ATOMIC) {
		return;
	}
	for (uint32_t i = 0; i < nvh_rec_nent(&h) && p + 16 <= end; i++) {
		uint64_t t = rd64(m, p);
		uint32_t len = (t & NVH_OP_MASK) == NVH_OP_CSET ? 24 : 16;
		if (p + len > end)
			break;
		push(&m->ent, p, len, (uint32_t)(t & NVH_OP_MASK));
		p += len;
	}
}

static void
find_objects(struct nvf_map *m)
{
	const struct nvh_heap_hdr *hh = &m->hh;
	uint32_t nc = hh->nclasses <= NVH_MAX_CLASSES ? hh->nclasses : 0;
	struct nvh_class_ent cls[NVH_MAX_CLASSES];
	if (!inside(m, NVH_HEAP_OFFSET + NVH_HEAP_CLASS_REL, sizeof(cls)))
		return;
	memcpy(cls, m->img + NVH_HEAP_OFFSET + NVH_HEAP_CLASS_REL, sizeof(cls));
	for (uint64_t a = 0; a < hh->narenas; a++) {
		uint64_t te = hh->table_off + a * sizeof(struct nvh_arena_ent);
		uint64_t ao = hh->arenas_off + a * NVH_ARENA_SIZE;
		uint64_t bo = hh->bitmaps_off + a * NVH_BITMAP_SLOT;
		if (!inside(m, te, sizeof(struct nvh_arena_ent)) ||
		    !inside(m, ao, NVH_ARENA_SIZE) || !inside(m, bo, NVH_BITMAP_SLOT))
			break;
		uint64_t d = rd64(m, te);
		if (NVH_DESC_KIND(d) == NVH_ARENA_LARGE && NVH_DESC_RUN(d)) {
			uint64_t run = NVH_DESC_RUN(d);
			uint64_t word = rd64(m, te + offsetof(struct nvh_arena_ent, hdr));
			push(&m->obj, ao, run * NVH_ARENA_SIZE, NVH_HDR_TYPE(word));
			push(&m->hdr, te + offsetof(struct nvh_arena_ent, hdr), 16, 0);
			m->ndying += (NVH_HDR_FLAGS(word) & NVH_OBJ_DYING) != 0;
			a += run - 1;
			continue;
		}
		if (NVH_DESC_KIND(d) != NVH_ARENA_SMALL || NVH_DESC_CLASS(d) >= nc)
			continue;
		const struct nvh_class_ent *c = &cls[NVH_DESC_CLASS(d)];
		for (uint32_t b = 0; b < c->nblocks && b < NVH_BITMAP_SLOT * 8; b++) {
			if (!(m->img[bo + b / 8] >> (b % 8) & 1))
				continue;
			uint64_t off = ao + c->blocks_off + (uint64_t)b * c->block_size;
			if (!inside(m, off, c->block_size))
				break;
			uint64_t word = rd64(m, ao + 16ull * b);
			push(&m->obj, off, c->block_size, NVH_HDR_TYPE(word));
			push(&m->hdr, ao + 16ull * b, 16, 0);
			m->ndying += (NVH_HDR_FLAGS(word) & NVH_OBJ_DYING) != 0;
		}
	}
}

/* The allocated object starting at off (objects are in address order). */
static const struct nvf_span *
object_at(const struct nvf_map *m, uint64_t off)
{
	size_t lo = 0, hi = m->obj.n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->obj.v[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->obj.n && m->obj.v[lo].off == off ? &m->obj.v[lo] : NULL;
}

/* Pointer fields, from the type table (read as the library would). */
static void
find_pointers(struct nvf_map *m)
{
	uint64_t root = NVH_HEAP_OFFSET + NVH_HEAP_ROOT_REL;
	for (unsigned i = 0; i < 3; i++)
		push(&m->ptr, root + 8 * i, 8, 0);
	uint64_t toff = rd64(m, NVH_HEAP_OFFSET + NVH_HEAP_TYPES_REL) &
			((1ull << 48) - 1);
	const struct nvf_span *t = toff ? object_at(m, toff) : NULL;
	const uint64_t HDR = sizeof(struct nvh_types_hdr);
	if (!t || t->size < HDR)
		return;
	struct nvh_types_hdr h;
	memcpy(&h, m->img + toff, sizeof(h));
	uint64_t body = (uint64_t)h.ntypes * sizeof(struct nvh_type_ent) +
			(uint64_t)h.nfields * sizeof(struct nvh_field_ent);
	if (memcmp(h.magic, NVH_TYPES_MAGIC, 8) != 0 || body > t->size - HDR)
		return;
	m->types_off = toff;
	m->types_size = HDR + body;
	m->ntypes = h.ntypes;
	m->nfields = h.nfields;
	const uint8_t *te = m->img + toff + HDR;
	const uint8_t *fe = te + (uint64_t)h.ntypes * sizeof(struct nvh_type_ent);
	for (size_t i = 0; i < m->obj.n; i++) {
		const struct nvf_span *o = &m->obj.v[i];
		if (o->aux < NVH_TYPE_TABLE_BASE ||
		    o->aux - NVH_TYPE_TABLE_BASE >= h.ntypes)
			continue;
		struct nvh_type_ent e;
		memcpy(&e, te + (uint64_t)(o->aux - NVH_TYPE_TABLE_BASE) *
				       sizeof(e), sizeof(e));
		for (uint32_t k = 0; k < e.nfields && e.first + (uint64_t)k <
							 h.nfields; k++) {
			struct nvh_field_ent f;
			memcpy(&f, fe + (uint64_t)(e.first + k) * sizeof(f),
			       sizeof(f));
			uint32_t weak = f.flags & 1;
			uint32_t w = weak ? 16 : 8;
			uint32_t cnt = f.flags >> NVH_FIELD_COUNT_SHIFT;
			for (uint32_t j = 0; j < (cnt ? cnt : 1); j++) {
				uint64_t at = (uint64_t)f.offset + (uint64_t)j * w;
				if (at + w > o->size)
					break;
				push(&m->ptr, o->off + at, w, weak);
			}
		}
	}
}

int
nvf_map_load(struct nvf_map *m, const char *path)
{
	memset(m, 0, sizeof(*m));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < NVH_HEAP_OFFSET) {
		fprintf(stderr, "fuzz: seed %s: %s\n", path,
			fd < 0 ? strerror(errno) : "too small for a pool");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "fuzz: seed %s: mmap: %s\n", path, strerror(errno));
		return -1;
	}
	m->name = strdup(path);
	m->img = p;
	m->size = (uint64_t)st.st_size;
	find_tag(m);
	if (inside(m, NVH_HEAP_OFFSET, sizeof(m->hh)))
		memcpy(&m->hh, m->img + NVH_HEAP_OFFSET, sizeof(m->hh));
	m->ckpt_seq = rd64(m, NVH_HEAP_OFFSET + NVH_HEAP_CKPT_REL);
	nvf_walk_records(m->img, m->size, 1, add_record, m);
	find_objects(m);
	find_pointers(m);
	int rc = keep_pages(m);
	munmap((void *)m->img, (size_t)m->size);
	m->img = NULL;
	if (rc)
		fprintf(stderr, "fuzz: seed %s: out of memory\n", path);
	return rc;
}

void
nvf_map_free(struct nvf_map *m)
{
	free((void *)m->name);
	free(m->pages);
	free(m->data);
	free(m->rec.v);
	free(m->ent.v);
	free(m->obj.v);
	free(m->hdr.v);
	free(m->ptr.v);
	memset(m, 0, sizeof(*m));
}
