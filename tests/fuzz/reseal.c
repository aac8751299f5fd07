/*
 * reseal.c -- recomputing the checksums of a mutated pool image.
 *
 * Every structure nvh_open reads carries a checksum (docs/format.md), so a
 * random mutation is refused at the first one and never reaches the
 * checks behind it.  After the fuzzer's mutations the harness reseals:
 * each sealer below finds its structures where the (mutated) image says
 * they are, and recomputes a checksum only if bytes it covers changed, so
 * the rest of a crash image keeps its meaning (a torn record stays torn, a
 * torn payload stays torn).  Sealers run inner first: payload and data
 * sums live inside records, the class table's checksum inside the heap
 * header; a sealer that rewrites a checksum marks its bytes changed, so
 * the outer ones follow.
 *
 * A new checksummed structure is one function more: write
 * `static unsigned seal_<it>(struct nvf_img *im)` (find it, test
 * nvf_dirty() on what the checksum covers, rewrite it with set_sum()) and
 * add it to `sealers` (and its name to the enum in reseal.h) before
 * whatever covers it.
 *
 * Nothing here trusts the image: every offset is checked against its size
 * before use (the image is as hostile as the fuzzer makes it).
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "heap/layout.h"
#include "objects/layout.h"
#include "heap/log/lane.h"
#include "heap/log/layout.h"

#include "reseal.h"

/* ---- changed ranges ---- */

void
nvf_dirty_add(struct nvf_img *im, uint64_t off, uint64_t len)
{
	if (off >= im->size || !len)
		return;
	uint64_t hi = len > im->size - off ? im->size : off + len;
	/* merge with the last range when adjacent (the common case) */
	if (im->ndirty && im->dirty[im->ndirty - 1].hi >= off &&
	    im->dirty[im->ndirty - 1].lo <= hi) {
		struct nvf_range *r = &im->dirty[im->ndirty - 1];
		r->lo = r->lo < off ? r->lo : off;
		r->hi = r->hi > hi ? r->hi : hi;
		return;
	}
	if (im->ndirty == im->cap) {
		size_t cap = im->cap ? 2 * im->cap : 64;
		struct nvf_range *n = realloc(im->dirty, cap * sizeof(*n));
		if (!n) {
			im->all = 1; /* cannot track: reseal everything */
			return;
		}
		im->dirty = n;
		im->cap = cap;
	}
	im->dirty[im->ndirty++] = (struct nvf_range){off, hi};
}

int
nvf_dirty(const struct nvf_img *im, uint64_t off, uint64_t len)
{
	if (im->all)
		return 1;
	for (size_t i = 0; i < im->ndirty; i++)
		if (im->dirty[i].lo < off + len && off < im->dirty[i].hi)
			return 1;
	return 0;
}

void
nvf_img_fini(struct nvf_img *im)
{
	free(im->dirty);
	im->dirty = NULL;
	im->ndirty = im->cap = 0;
}

/* ---- where things are ---- */

static uint64_t
rd64(const uint8_t *img, uint64_t size, uint64_t off)
{
	uint64_t v = 0;
	if (off <= size && size - off >= 8)
		memcpy(&v, img + off, 8);
	return v;
}

/* Is [off, off+len) inside the image? */
static int
inside(uint64_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

struct geo {
	uint64_t lanes_off;
	uint32_t nlanes;
	uint64_t arenas_lo, arenas_hi;  /* where chunks may be */
	uint32_t nclasses;
};

/* The heap's regions as the heap header says, clipped to the image. */
static int
geo_of(const uint8_t *img, uint64_t size, struct geo *g)
{
	const uint64_t H = NVH_HEAP_OFFSET;
	memset(g, 0, sizeof(*g));
	if (!inside(size, H, sizeof(struct nvh_heap_hdr)))
		return -1;
	struct nvh_heap_hdr h;
	memcpy(&h, img + H, sizeof(h));
	g->nclasses = h.nclasses <= NVH_MAX_CLASSES ? h.nclasses : NVH_MAX_CLASSES;
	g->nlanes = h.nlanes <= NVH_MAX_LANES ? h.nlanes : NVH_MAX_LANES;
	g->lanes_off = h.lanes_off;
	while (g->nlanes &&
	       !inside(size, g->lanes_off, (uint64_t)g->nlanes * NVH_LANE_SIZE))
		g->nlanes--;
	g->arenas_lo = h.arenas_off < size ? h.arenas_off : size;
	uint64_t n = h.narenas < size / NVH_ARENA_SIZE ? h.narenas
						       : size / NVH_ARENA_SIZE;
	g->arenas_hi = n * NVH_ARENA_SIZE <= size - g->arenas_lo
			       ? g->arenas_lo + n * NVH_ARENA_SIZE : size;
	return 0;
}

/* ---- records ---- */

uint64_t
nvf_rec_checksum(const uint8_t *rec, uint32_t size)
{
	uint64_t seed = XXH3_64bits(rec, offsetof(struct nvh_rec_hdr, checksum));
	return XXH3_64bits_withSeed(rec + sizeof(struct nvh_rec_hdr),
				    size - sizeof(struct nvh_rec_hdr), seed);
}

struct walk {
	const uint8_t *img;
	uint64_t size;
	int valid;
	const struct geo *g;
	void (*fn)(void *arg, uint64_t off, uint32_t rsize, uint64_t chunk);
	void *arg;
};

static void walk_area(const struct walk *w, uint64_t off, uint64_t len,
		      uint64_t chunk, int depth);

/* A CHUNK record's block, if it lies in the arenas. */
static void
walk_chunk(const struct walk *w, uint64_t rec, uint32_t rsize, int depth)
{
	if (rsize < sizeof(struct nvh_rec_hdr) + sizeof(struct nvh_chunk_body))
		return;
	struct nvh_chunk_body cb;
	memcpy(&cb, w->img + rec + sizeof(struct nvh_rec_hdr), sizeof(cb));
	if (cb.off % NVH_REC_ALIGN || cb.off < w->g->arenas_lo ||
	    cb.off > w->g->arenas_hi || cb.size > w->g->arenas_hi - cb.off)
		return;
	walk_area(w, cb.off, cb.size, rec, depth + 1);
}

static void
walk_area(const struct walk *w, uint64_t off, uint64_t len, uint64_t chunk,
	  int depth)
{
	uint64_t p = 0;
	while (p + NVH_REC_ALIGN <= len) {
		const uint8_t *r = w->img + off + p;
		struct nvh_rec_hdr h;
		memcpy(&h, r, sizeof(h));
		if (!h.seq || h.size < NVH_REC_ALIGN || h.size % NVH_REC_ALIGN ||
		    h.size > len - p ||
		    (w->valid && nvf_rec_checksum(r, h.size) != h.checksum)) {
			p += NVH_REC_ALIGN;
			continue;
		}
		w->fn(w->arg, off + p, h.size, chunk);
		/* chunks announce chunks only through the lane (recovery
		 * reads one level); a depth bound keeps a hostile image
		 * from looping */
		if (h.kind == NVH_REC_CHUNK && depth == 0)
			walk_chunk(w, off + p, h.size, depth);
		p += h.size;
	}
}

void
nvf_walk_records(const uint8_t *img, uint64_t size, int valid,
		 void (*fn)(void *arg, uint64_t off, uint32_t rsize,
			    uint64_t chunk),
		 void *arg)
{
	struct geo g;
	if (geo_of(img, size, &g))
		return;
	struct walk w = {img, size, valid, &g, fn, arg};
	for (uint32_t l = 0; l < g.nlanes; l++)
		walk_area(&w, g.lanes_off + (uint64_t)l * NVH_LANE_SIZE,
			  NVH_LANE_SIZE, 0, 0);
}

/* ---- the sealers ---- */

/* Store a checksum at off (8 bytes) if it differs; 1 if it did. */
static unsigned
set_sum(struct nvf_img *im, uint64_t off, uint64_t sum)
{
	if (rd64(im->p, im->size, off) == sum)
		return 0;
	memcpy(im->p + off, &sum, 8);
	nvf_dirty_add(im, off, 8);
	return 1;
}

struct rec_pass {
	struct nvf_img *im;
	unsigned kind;       /* which sealer */
	unsigned n;
};

/* UNDO segments whose payload block or segment changed. */
static unsigned
seal_payload_segs(struct nvf_img *im, uint64_t off, uint32_t rsize)
{
	const uint8_t *r = im->p + off;
	const uint8_t *end = r + rsize;
	struct nvh_undo_body ub;
	if (rsize < sizeof(struct nvh_rec_hdr) + sizeof(ub))
		return 0;
	memcpy(&ub, r + sizeof(struct nvh_rec_hdr), sizeof(ub));
	if (ub.flags & NVH_UNDO_COMPACT)
		return 0; /* every segment inline */
	const uint8_t *seg = r + sizeof(struct nvh_rec_hdr) + sizeof(ub);
	unsigned n = 0;
	for (uint32_t i = 0; i < ub.nseg; i++, seg += sizeof(struct nvh_undo_seg)) {
		if (seg + sizeof(struct nvh_undo_seg) > end)
			break;
		struct nvh_undo_seg sg;
		memcpy(&sg, seg, sizeof(sg));
		if (!sg.payload || !inside(im->size, sg.payload, sg.len))
			continue;
		uint64_t at = (uint64_t)(seg - im->p) +
			      offsetof(struct nvh_undo_seg, payload_sum);
		if (nvf_dirty(im, sg.payload, sg.len) ||
		    nvf_dirty(im, (uint64_t)(seg - im->p), sizeof(sg)))
			n += set_sum(im, at, XXH3_64bits(im->p + sg.payload,
							 sg.len));
	}
	return n;
}

/* A COMMIT record with a data sum whose ranges changed. */
static unsigned
seal_data_sum(struct nvf_img *im, uint64_t off, uint32_t rsize)
{
	const uint8_t *r = im->p + off;
	struct nvh_commit_body cb;
	if (rsize < sizeof(struct nvh_rec_hdr) + sizeof(cb))
		return 0;
	memcpy(&cb, r + sizeof(struct nvh_rec_hdr), sizeof(cb));
	if (!(cb.flags & NVH_COMMIT_DATA_SUM))
		return 0;
	uint64_t room = rsize - sizeof(struct nvh_rec_hdr) - sizeof(cb);
	if (cb.nranges > room / sizeof(struct nvh_range))
		return 0;
	const uint8_t *rp = r + sizeof(struct nvh_rec_hdr) + sizeof(cb);
	uint64_t sum = 0;
	int changed = nvf_dirty(im, off + sizeof(struct nvh_rec_hdr),
				sizeof(cb) + cb.nranges * sizeof(struct nvh_range));
	for (uint32_t i = 0; i < cb.nranges; i++) {
		struct nvh_range rg;
		memcpy(&rg, rp + i * sizeof(rg), sizeof(rg));
		if (!inside(im->size, rg.off, rg.len))
			return 0; /* recovery refuses the record anyway */
		changed |= nvf_dirty(im, rg.off, rg.len);
		sum = XXH3_64bits_withSeed(im->p + rg.off, rg.len, sum);
	}
	if (!changed)
		return 0;
	return set_sum(im, off + sizeof(struct nvh_rec_hdr) +
			       offsetof(struct nvh_commit_body, data_sum), sum);
}

static void
seal_one(void *arg, uint64_t off, uint32_t rsize, uint64_t chunk)
{
	struct rec_pass *rp = arg;
	struct nvf_img *im = rp->im;
	(void)chunk;
	uint8_t kind = im->p[off + offsetof(struct nvh_rec_hdr, kind)];
	switch (rp->kind) {
	case NVF_SEAL_PAYLOADS:
		if (kind == NVH_REC_UNDO)
			rp->n += seal_payload_segs(im, off, rsize);
		break;
	case NVF_SEAL_DATA_SUMS:
		if (kind == NVH_REC_COMMIT)
			rp->n += seal_data_sum(im, off, rsize);
		break;
	case NVF_SEAL_RECORDS:
		if (nvf_dirty(im, off, offsetof(struct nvh_rec_hdr, checksum)) ||
		    nvf_dirty(im, off + sizeof(struct nvh_rec_hdr),
			      rsize - sizeof(struct nvh_rec_hdr)))
			rp->n += set_sum(im, off + offsetof(struct nvh_rec_hdr,
							    checksum),
					 nvf_rec_checksum(im->p + off, rsize));
		break;
	}
}

static unsigned
seal_records_as(struct nvf_img *im, unsigned kind)
{
	struct rec_pass rp = {im, kind, 0};
	nvf_walk_records(im->p, im->size, 0, seal_one, &rp);
	return rp.n;
}

static unsigned
seal_payloads(struct nvf_img *im)
{
	return seal_records_as(im, NVF_SEAL_PAYLOADS);
}

static unsigned
seal_data_sums(struct nvf_img *im)
{
	return seal_records_as(im, NVF_SEAL_DATA_SUMS);
}

static unsigned
seal_records(struct nvf_img *im)
{
	return seal_records_as(im, NVF_SEAL_RECORDS);
}

/* The type table: the object the type-table slot names (untagged). */
static unsigned
seal_types(struct nvf_img *im)
{
	uint64_t v = rd64(im->p, im->size, NVH_HEAP_OFFSET + NVH_HEAP_TYPES_REL);
	uint64_t off = v & ((1ull << 48) - 1);
	const uint64_t HDR = sizeof(struct nvh_types_hdr);
	if (!v || !inside(im->size, off, HDR) ||
	    memcmp(im->p + off, NVH_TYPES_MAGIC, 8) != 0)
		return 0;
	struct nvh_types_hdr h;
	memcpy(&h, im->p + off, sizeof(h));
	uint64_t body = (uint64_t)h.ntypes * sizeof(struct nvh_type_ent) +
			(uint64_t)h.nfields * sizeof(struct nvh_field_ent);
	if (!inside(im->size, off + HDR, body) || !nvf_dirty(im, off, HDR + body))
		return 0;
	return set_sum(im, off + offsetof(struct nvh_types_hdr, checksum),
		       XXH3_64bits(im->p + off + HDR, body));
}

/* The class table's checksum (in the heap header), then the header's. */
static unsigned
seal_heap_hdr(struct nvf_img *im)
{
	const uint64_t H = NVH_HEAP_OFFSET;
	struct geo g;
	if (geo_of(im->p, im->size, &g))
		return 0;
	uint64_t cls = H + NVH_HEAP_CLASS_REL;
	uint64_t clen = (uint64_t)g.nclasses * sizeof(struct nvh_class_ent);
	unsigned n = 0;
	/* the header says how many entries the checksum covers */
	if (nvf_dirty(im, cls, clen) ||
	    nvf_dirty(im, H, sizeof(struct nvh_heap_hdr)))
		n += set_sum(im, H + offsetof(struct nvh_heap_hdr, class_checksum),
			     XXH3_64bits(im->p + cls, clen));
	uint64_t covered = offsetof(struct nvh_heap_hdr, checksum);
	if (nvf_dirty(im, H, covered))
		n += set_sum(im, H + covered, XXH3_64bits(im->p + H, covered));
	return n;
}

static unsigned
seal_pool_hdrs(struct nvf_img *im)
{
	unsigned n = 0;
	const uint64_t covered = offsetof(struct nvh_pool_hdr, checksum);
	for (uint64_t at = NVH_HDR_A_OFFSET; at <= NVH_HDR_B_OFFSET;
	     at += NVH_HDR_B_OFFSET - NVH_HDR_A_OFFSET)
		if (inside(im->size, at, sizeof(struct nvh_pool_hdr)) &&
		    nvf_dirty(im, at, covered))
			n += set_sum(im, at + covered,
				     XXH3_64bits(im->p + at, covered));
	return n;
}

/* The checkpoint line's two slots, each {seq, check}: a slot whose seq
 * changed gets the check value its seq needs (heap/log/ckpt.c).  A check word
 * of 0 (the legacy line: seq alone at +0) stays as it is. */
static unsigned
seal_ckpt(struct nvf_img *im)
{
	const uint64_t at = NVH_HEAP_OFFSET + NVH_HEAP_CKPT_REL;
	unsigned n = 0;
	if (!inside(im->size, at, sizeof(struct nvh_ckpt)))
		return 0;
	for (int i = 0; i < 2; i++) {
		uint64_t so = at + (uint64_t)i * sizeof(struct nvh_ckpt_slot);
		uint64_t seq = rd64(im->p, im->size, so);
		uint64_t check = rd64(im->p, im->size, so + 8);
		if (check && nvf_dirty(im, so, 8))
			n += set_sum(im, so + 8, nvh_ckpt_check(seq, i));
	}
	return n;
}

static const struct {
	const char *name;
	unsigned (*fn)(struct nvf_img *im);
} sealers[NVF_SEAL_N] = {
	[NVF_SEAL_CKPT] = {"checkpoint slots", seal_ckpt},
	[NVF_SEAL_PAYLOADS] = {"undo payload sums", seal_payloads},
	[NVF_SEAL_DATA_SUMS] = {"commit data sums", seal_data_sums},
	[NVF_SEAL_RECORDS] = {"records", seal_records},
	[NVF_SEAL_TYPES] = {"type table", seal_types},
	[NVF_SEAL_HEAP_HDR] = {"heap header", seal_heap_hdr},
	[NVF_SEAL_POOL_HDRS] = {"pool headers", seal_pool_hdrs},
};

const char *
nvf_sealer_name(unsigned i)
{
	return i < NVF_SEAL_N ? sealers[i].name : "?";
}

unsigned
nvf_reseal(struct nvf_img *im, unsigned skip)
{
	unsigned n = 0;
	for (unsigned i = 0; i < NVF_SEAL_N; i++)
		if (!(skip >> i & 1))
			n += sealers[i].fn(im);
	return n;
}
