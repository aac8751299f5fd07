/*
 * heap.c -- the heap region of a pool: laying it out at creation,
 * validating it at open (and telling the log where it lives), rebuilding
 * the DRAM state after the log's recovery, and a whole-heap consistency
 * check.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "heap/checksum.h"
#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "heap/sizeclass.h"
#include "heap/log/lane.h"

#define PAGE 4096ull
#define HDR_SUM_LEN offsetof(struct nvh_heap_hdr, class_checksum)

static uint64_t
align_page(uint64_t x)
{
	return (x + PAGE - 1) & ~(PAGE - 1);
}

/* Regions after the header page for `n` arenas; 0 if they do not fit. */
static int
place(struct nvh_heap_hdr *h, uint64_t after_lanes, uint64_t n,
      uint64_t pool_size)
{
	h->narenas = n;
	h->table_off = after_lanes;
	h->bitmaps_off = align_page(h->table_off + n * sizeof(struct nvh_arena_ent));
	h->arenas_off = align_page(h->bitmaps_off + n * NVH_BITMAP_SLOT);
	return h->arenas_off + n * NVH_ARENA_SIZE <= pool_size;
}

int
nvh_heap_format(struct nvh_pool *pool)
{
	const uint64_t H = pool->hdr.heap_offset, size = pool->hdr.pool_size;
	struct nvh_heap_hdr h;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, NVH_HEAP_MAGIC, sizeof(h.magic));
	h.version = NVH_HEAP_VERSION;
	h.hdr_size = sizeof(h);
	h.arena_size = NVH_ARENA_SIZE;
	h.bitmap_slot = NVH_BITMAP_SLOT;
	struct nvh_class_ent cls[NVH_MAX_CLASSES];
	h.nclasses = nvh_classes_compute(cls);
	uint64_t lanes = (size - H) / 32 / NVH_LANE_SIZE;
	h.nlanes = (uint32_t)(lanes < NVH_MIN_LANES ? NVH_MIN_LANES
			      : lanes > NVH_MAX_LANES ? NVH_MAX_LANES : lanes);
	h.lane_size = NVH_LANE_SIZE;
	h.class_off = H + NVH_HEAP_CLASS_REL;
	h.ckpt_off = H + NVH_HEAP_CKPT_REL;
	h.root_off = H + NVH_HEAP_ROOT_REL;
	h.lanes_off = H + NVH_HEAP_FIXED;
	uint64_t after = h.lanes_off + (uint64_t)h.nlanes * NVH_LANE_SIZE;
	uint64_t n = after < size ? (size - after) / (NVH_ARENA_SIZE + 16 +
						    NVH_BITMAP_SLOT) : 0;
	while (n > 0 && !place(&h, after, n, size))
		n--;
	if (n == 0)
		return nvh_err(EINVAL, "pool of %" PRIu64 " bytes is too small "
			       "for one arena after its metadata", size);
	/* heap_size is exact (NVH_FEAT_SEGMENTS): growth appends the next
	 * segment where the arenas end */
	pool->hdr.features |= NVH_FEAT_SEGMENTS;
	pool->hdr.heap_size = h.arenas_off + n * NVH_ARENA_SIZE - H;
	h.class_checksum = nvh_checksum(cls, h.nclasses * sizeof(cls[0]));
	h.checksum = nvh_checksum(&h, HDR_SUM_LEN + 8);
	/* The file is fresh (zeros): lanes, checkpoint (0), root (null),
	 * arena table (all FREE) and bitmaps (all free) need no writes.
	 * The pool header, written after this, is what makes it a pool. */
	char *base = pool->base;
	nvh_persist_memcpy_nodrain(&pool->persist, base + h.class_off, cls,
				   h.nclasses * sizeof(cls[0]));
	/* Heap header and class table durable before the pool header that
	 * points at them. */
	return nvh_persist_memcpy(&pool->persist, base + H, &h, sizeof(h));
}

#define BAD(...) nvh_err(NVH_ECORRUPT, "heap header: " __VA_ARGS__)

static int
check_hdr(const struct nvh_heap_hdr *h, uint64_t H, uint64_t size,
	  const struct nvh_class_ent *cls)
{
	if (memcmp(h->magic, NVH_HEAP_MAGIC, sizeof(h->magic)) != 0)
		return BAD("field magic: expected \"%s\"", NVH_HEAP_MAGIC);
	if (h->version != NVH_HEAP_VERSION)
		return nvh_err(NVH_EVERSION, "heap header: field version: %"
			       PRIu32 ", this nvheap reads %u", h->version,
			       NVH_HEAP_VERSION);
	if (h->hdr_size != sizeof(*h))
		return BAD("field hdr_size: %" PRIu32, h->hdr_size);
	uint64_t sum = nvh_checksum(h, HDR_SUM_LEN + 8);
	if (sum != h->checksum)
		return BAD("field checksum: stored 0x%016" PRIx64 ", computed "
			   "0x%016" PRIx64, h->checksum, sum);
	if (h->arena_size != NVH_ARENA_SIZE)
		return BAD("field arena_size: %" PRIu32, h->arena_size);
	if (h->bitmap_slot != NVH_BITMAP_SLOT)
		return BAD("field bitmap_slot: %" PRIu32, h->bitmap_slot);
	if (h->nclasses < 1 || h->nclasses > NVH_MAX_CLASSES)
		return BAD("field nclasses: %" PRIu32, h->nclasses);
	if (h->nlanes < 1 || h->nlanes > NVH_MAX_LANES)
		return BAD("field nlanes: %" PRIu32, h->nlanes);
	if (h->lane_size != NVH_LANE_SIZE)
		return BAD("field lane_size: %" PRIu32, h->lane_size);
	if (h->reserved0)
		return BAD("field reserved0: not zero");
	for (size_t i = 0; i < sizeof(h->reserved); i++)
		if (h->reserved[i])
			return BAD("field reserved: not zero");
	if (h->class_off != H + NVH_HEAP_CLASS_REL)
		return BAD("field class_off: %" PRIu64, h->class_off);
	if (h->ckpt_off != H + NVH_HEAP_CKPT_REL)
		return BAD("field ckpt_off: %" PRIu64, h->ckpt_off);
	if (h->root_off != H + NVH_HEAP_ROOT_REL)
		return BAD("field root_off: %" PRIu64, h->root_off);
	if (h->lanes_off != H + NVH_HEAP_FIXED)
		return BAD("field lanes_off: %" PRIu64, h->lanes_off);
	uint64_t n = h->narenas;
	if (n < 1 || n > size / NVH_ARENA_SIZE)
		return BAD("field narenas: %" PRIu64, n);
	/* Offsets are compared with the pool size before anything is added
	 * to them, and distances by subtraction: a crafted offset near 2^64
	 * must not wrap around a check.  n <= size / NVH_ARENA_SIZE, so the
	 * products below cannot overflow. */
	if (h->table_off > size)
		return BAD("field table_off: %" PRIu64 " beyond the pool (%"
			   PRIu64 " bytes)", h->table_off, size);
	if (h->bitmaps_off > size)
		return BAD("field bitmaps_off: %" PRIu64 " beyond the pool (%"
			   PRIu64 " bytes)", h->bitmaps_off, size);
	if (h->arenas_off > size)
		return BAD("field arenas_off: %" PRIu64 " beyond the pool (%"
			   PRIu64 " bytes)", h->arenas_off, size);
	if (h->table_off < h->lanes_off + (uint64_t)h->nlanes * NVH_LANE_SIZE ||
	    h->table_off % PAGE)
		return BAD("field table_off: %" PRIu64 " overlaps the lanes",
			   h->table_off);
	if (h->bitmaps_off < h->table_off ||
	    h->bitmaps_off - h->table_off < n * sizeof(struct nvh_arena_ent) ||
	    h->bitmaps_off % PAGE)
		return BAD("field bitmaps_off: %" PRIu64 " overlaps the arena "
			   "table", h->bitmaps_off);
	if (h->arenas_off < h->bitmaps_off ||
	    h->arenas_off - h->bitmaps_off < n * NVH_BITMAP_SLOT ||
	    h->arenas_off % PAGE)
		return BAD("field arenas_off: %" PRIu64 " overlaps the bitmaps",
			   h->arenas_off);
	if (n > (size - h->arenas_off) / NVH_ARENA_SIZE)
		return BAD("field arenas_off: %" PRIu64 " + %" PRIu64 " arenas "
			   "end beyond the pool (%" PRIu64 " bytes)",
			   h->arenas_off, n, size);
	uint64_t csum = nvh_checksum(cls, h->nclasses * sizeof(cls[0]));
	if (csum != h->class_checksum)
		return nvh_err(NVH_ECORRUPT, "class table: checksum mismatch");
	for (uint32_t i = 0; i < h->nclasses; i++) {
		const struct nvh_class_ent *c = &cls[i];
		if (c->block_size < 64 || c->block_size % 64 || c->nblocks < 1 ||
		    c->nblocks > NVH_BITMAP_SLOT * 8 || c->reserved ||
		    c->blocks_off < (uint64_t)c->nblocks * sizeof(struct nvh_objhdr) ||
		    c->blocks_off % 64 ||
		    c->blocks_off + (uint64_t)c->nblocks * c->block_size >
			    NVH_ARENA_SIZE ||
		    (i && c->block_size <= cls[i - 1].block_size))
			return nvh_err(NVH_ECORRUPT, "class table: entry %" PRIu32
				       " (block size %" PRIu32 ", %" PRIu32
				       " blocks at %" PRIu32 ") is invalid", i,
				       c->block_size, c->nblocks, c->blocks_off);
	}
	return 0;
}

/* Segments after the first, for the log's checks (segment 0's regions
 * are spans in the geometry): a redo target is an 8-byte word of a table
 * entry, bitmap slot or arena; user data lies inside one segment's
 * arenas. */
static int
seg_target_ok(const void *arg, uint64_t off)
{
	const struct nvh_heap *h = arg;
	uint64_t n = atomic_load_explicit(&h->nsegs, memory_order_acquire);
	for (uint64_t i = 1; i < n; i++) {
		const struct nvh_seg *sg = &h->seg[i];
		if (off >= sg->table_off && off < sg->end)
			return off - sg->table_off < sg->n * sizeof(struct nvh_arena_ent) ||
			       (off >= sg->bitmaps_off &&
				off - sg->bitmaps_off < sg->n * NVH_BITMAP_SLOT) ||
			       off >= sg->arenas_off;
	}
	return 0;
}

static int
seg_data_ok(const void *arg, uint64_t off, uint64_t len)
{
	const struct nvh_seg *sg = nvh_seg_at(arg, off);
	return sg && len <= sg->end - off;
}

void
nvh_seg_layout(struct nvh_seg *sg, uint64_t start, uint64_t first, uint64_t n)
{
	sg->start = start;
	sg->first = first;
	sg->n = n;
	sg->table_off = start + NVH_SEG_HDR_PAGE;
	sg->bitmaps_off = align_page(sg->table_off +
				     n * sizeof(struct nvh_arena_ent));
	sg->arenas_off = align_page(sg->bitmaps_off + n * NVH_BITMAP_SLOT);
	sg->end = sg->arenas_off + n * NVH_ARENA_SIZE;
}

uint64_t
nvh_heap_next_arena(const struct nvh_heap *h, uint64_t off)
{
	uint64_t n = atomic_load_explicit(&h->nsegs, memory_order_acquire);
	for (uint64_t i = 0; i < n; i++) {
		const struct nvh_seg *sg = &h->seg[i];
		if (off < sg->arenas_off)
			return sg->arenas_off;
		if (off < sg->end)
			return sg->arenas_off +
			       ((off - sg->arenas_off) / NVH_ARENA_SIZE + 1) *
				       NVH_ARENA_SIZE;
	}
	return UINT64_MAX;
}

#define SEG_SUM_LEN offsetof(struct nvh_seg_hdr, checksum)

void
nvh_seg_hdr_make(const struct nvh_pool *pool, const struct nvh_seg *sg,
		 uint64_t index, struct nvh_seg_hdr *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->magic, NVH_SEG_MAGIC, sizeof(NVH_SEG_MAGIC));
	out->index = index;
	out->first = sg->first;
	out->narenas = sg->n;
	memcpy(out->uuid, pool->hdr.uuid, sizeof(out->uuid));
	out->checksum = nvh_checksum(out, SEG_SUM_LEN);
}

/* The segments growth added, from the end of segment 0 to the heap's end
 * (docs/format.md, "Segments"). */
static int
read_segments(struct nvh_pool *pool, struct nvh_heap *h)
{
	const uint64_t end = pool->hdr.heap_offset + pool->hdr.heap_size;
	uint64_t at = h->seg[0].end, first = h->seg[0].n, k = 1;
	if (!(pool->hdr.features & NVH_FEAT_SEGMENTS))
		return 0; /* heap_size may have slack; no segments */
	if (at > end)
		return nvh_err(NVH_ECORRUPT, "pool header: field heap_size: the "
			       "heap ends at %" PRIu64 ", before the end of "
			       "its arenas (%" PRIu64 ")", end, at);
	while (at < end) {
		if (k >= NVH_MAX_SEGS)
			return nvh_err(NVH_ECORRUPT, "segment %" PRIu64 " at %"
				       PRIu64 ": more than %u segments", k, at,
				       NVH_MAX_SEGS - 1);
		struct nvh_seg_hdr sh;
		if (end - at < NVH_SEG_HDR_PAGE + NVH_ARENA_SIZE)
			return nvh_err(NVH_ECORRUPT, "segment %" PRIu64 " at %"
				       PRIu64 ": the heap ends %" PRIu64 " bytes "
				       "after its start, too few for one arena",
				       k, at, end - at);
		memcpy(&sh, pool->base + at, sizeof(sh));
		struct nvh_seg *sg = &h->seg[k];
		static const char magic[8] = NVH_SEG_MAGIC;
		if (memcmp(sh.magic, magic, sizeof(sh.magic)) != 0)
			return nvh_err(NVH_ECORRUPT, "segment %" PRIu64 " at %"
				       PRIu64 ": field magic: expected \"%s\"", k,
				       at, NVH_SEG_MAGIC);
		uint64_t sum = nvh_checksum(&sh, SEG_SUM_LEN);
		if (sum != sh.checksum)
			return nvh_err(NVH_ECORRUPT, "segment %" PRIu64 " at %"
				       PRIu64 ": field checksum: stored 0x%016"
				       PRIx64 ", computed 0x%016" PRIx64, k, at,
				       sh.checksum, sum);
		if (sh.index != k || sh.first != first ||
		    memcmp(sh.uuid, pool->hdr.uuid, sizeof(sh.uuid)) != 0 ||
		    sh.reserved)
			return nvh_err(NVH_ECORRUPT, "segment %" PRIu64 " at %"
				       PRIu64 ": field %s: not this pool's "
				       "segment %" PRIu64, k, at,
				       sh.index != k ? "index"
				       : sh.first != first ? "first"
				       : sh.reserved ? "reserved" : "uuid", k);
		if (sh.narenas < 1 ||
		    sh.narenas > (end - at) / NVH_ARENA_SIZE)
			return nvh_err(NVH_ECORRUPT, "segment %" PRIu64 " at %"
				       PRIu64 ": field narenas: %" PRIu64, k, at,
				       sh.narenas);
		nvh_seg_layout(sg, at, first, sh.narenas);
		if (sg->end > end)
			return nvh_err(NVH_ECORRUPT, "segment %" PRIu64 " at %"
				       PRIu64 ": its %" PRIu64 " arenas end at %"
				       PRIu64 ", beyond the heap (%" PRIu64 ")",
				       k, at, sh.narenas, sg->end, end);
		first += sh.narenas;
		at = sg->end;
		k++;
	}
	atomic_store(&h->nsegs, k);
	h->narenas = first;
	pool->segments = k - 1;
	return 0;
}

void
nvh_heap_log_geom(const struct nvh_pool *pool, struct nvh_log_geom *g)
{
	const struct nvh_heap_hdr *h = &pool->heap->hdr;
	memset(g, 0, sizeof(*g));
	g->nlanes = h->nlanes;
	g->lanes_off = h->lanes_off;
	g->ckpt_off = h->ckpt_off;
	/* redo entries: the root slot, dying-list head and type-table slot;
	 * the arena table; the bitmaps; block words in the arenas */
	g->target[0] = (struct nvh_span){h->root_off, 24};
	g->target[1] = (struct nvh_span){h->table_off,
		h->narenas * sizeof(struct nvh_arena_ent)};
	g->target[2] = (struct nvh_span){h->bitmaps_off,
					 h->narenas * NVH_BITMAP_SLOT};
	g->target[3] = (struct nvh_span){h->arenas_off,
					 h->narenas * NVH_ARENA_SIZE};
	g->ntarget = 4;
	/* undo and commit ranges: user data (nvh_heap_data_ok), the root
	 * slot, and the type-table slot, which nvh_type_register snapshots */
	g->data = g->target[3];
	g->slot[0] = h->root_off;
	g->slot[1] = h->root_off + (NVH_HEAP_TYPES_REL - NVH_HEAP_ROOT_REL);
	g->more_target = seg_target_ok;
	g->more_data = seg_data_ok;
	g->more_arg = pool->heap;
}

int
nvh_heap_open(struct nvh_pool *pool)
{
	const uint64_t H = pool->hdr.heap_offset;
	struct nvh_heap *h = calloc(1, sizeof(*h));
	if (!h)
		return nvh_err(ENOMEM, "out of memory for the heap state");
	h->pool = pool;
	h->base = pool->base;
	memcpy(&h->hdr, pool->base + H, sizeof(h->hdr));
	uint32_t nc = h->hdr.nclasses <= NVH_MAX_CLASSES ? h->hdr.nclasses : 0;
	memcpy(h->cls, pool->base + H + NVH_HEAP_CLASS_REL,
	       nc * sizeof(h->cls[0]));
	int rc = check_hdr(&h->hdr, H, pool->hdr.pool_size, h->cls);
	if (rc) {
		free(h);
		return rc;
	}
	h->ncls = h->hdr.nclasses;
	h->narenas = h->hdr.narenas;
	/* DRAM for every segment the pool may grow to, and for the arenas
	 * its reserved address space can hold: address space, touched only
	 * as they are used, so that neither array moves while other
	 * threads read it */
	h->seg = mmap(NULL, NVH_MAX_SEGS * sizeof(*h->seg),
		      PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (h->seg == MAP_FAILED) {
		free(h);
		return nvh_err(ENOMEM, "out of address space for the heap "
			       "state");
	}
	struct nvh_seg *s0 = &h->seg[0];
	*s0 = (struct nvh_seg){.start = H, .first = 0, .n = h->hdr.narenas,
			       .table_off = h->hdr.table_off,
			       .bitmaps_off = h->hdr.bitmaps_off,
			       .arenas_off = h->hdr.arenas_off,
			       .end = h->hdr.arenas_off +
				      h->hdr.narenas * NVH_ARENA_SIZE};
	atomic_store(&h->nsegs, 1);
	pool->heap = h;
	rc = read_segments(pool, h);
	if (rc) {
		munmap(h->seg, NVH_MAX_SEGS * sizeof(*h->seg));
		free(h);
		pool->heap = NULL;
		return rc;
	}
	uint64_t end = pool->hdr.heap_offset + pool->hdr.heap_size;
	h->max_arenas = h->narenas;
	if (pool->resv > end)
		h->max_arenas += (pool->resv - end) / NVH_ARENA_SIZE;
	return 0;
}

int
nvh_heap_rebuild(struct nvh_pool *pool)
{
	return nvh_arenas_init(pool->heap);
}

void
nvh_heap_close(struct nvh_pool *pool)
{
	struct nvh_heap *h = pool->heap;
	if (!h)
		return;
	nvh_arenas_fini(h);
	for (unsigned i = 0; i < NVH_MAX_LANES; i++)
		free(h->keep[i].blk); /* DRAM reservations die with the heap */
	munmap(h->seg, NVH_MAX_SEGS * sizeof(*h->seg));
	free(h);
	pool->heap = NULL;
}

/* Whole-heap check: the arena table, the bitmaps and the DRAM state agree.
 * Only meaningful with no operation in flight. */
int
nvh_heap_verify(struct nvh_pool *pool)
{
	struct nvh_heap *h = pool->heap;
	uint64_t covered = 0; /* arenas left in the current large run */
	nvh_malloc_sync_live(h); /* (the fast paths leave live stale) */
	for (uint64_t a = 0; a < nvh_heap_narenas(h); a++) {
		struct nvh_arena_rt *r = &h->arena[a];
		uint64_t d = nvh_arena_ent(h, a)->desc;
		unsigned kind = NVH_DESC_KIND(d);
		const uint64_t *bm = (const void *)(h->base + nvh_bitmap_off(h, a));
		int dram_free = (h->arena_free[a / 64] >> (a % 64)) & 1;
		if (kind != NVH_ARENA_SMALL) {
			/* free arenas and large runs use no bitmap: bits there
			 * would turn up as allocated blocks once the arena
			 * holds small blocks again */
			for (unsigned w = 0; w < NVH_BITMAP_SLOT / 8; w++)
				if (bm[w])
					return nvh_err(NVH_ECORRUPT, "arena %"
						       PRIu64 " (%s) has bitmap "
						       "word %u = 0x%" PRIx64, a,
						       covered ? "in a large run"
						       : kind == NVH_ARENA_LARGE
						       ? "a large run" : "free",
						       w, bm[w]);
		}
		if (covered) {
			covered--;
			if (kind != NVH_ARENA_FREE || r->kind != NVH_K_CONT ||
			    dram_free)
				return nvh_err(NVH_ECORRUPT, "arena %" PRIu64
					       ": inside a large run but not "
					       "free on media / DRAM disagrees",
					       a);
			continue;
		}
		switch (kind) {
		case NVH_ARENA_FREE:
			/* reserved in DRAM only (an allocation in flight, or a
			 * log chunk its lane keeps until the pass ends: T5)
			 * is not yet on the medium */
			if (r->kind == NVH_K_LARGE &&
			    !atomic_load(&r->large_live) && !dram_free) {
				covered = r->run - 1;
				break;
			}
			if (r->kind != NVH_K_FREE &&
			    !(r->kind == NVH_K_SMALL && r->assign_pending))
				return nvh_err(NVH_ECORRUPT, "arena %" PRIu64
					       ": free on media, kind %u in "
					       "DRAM", a, r->kind);
			if (r->kind == NVH_K_FREE && !dram_free)
				return nvh_err(NVH_ECORRUPT, "arena %" PRIu64
					       ": free but not in the free pool",
					       a);
			break;
		case NVH_ARENA_SMALL: {
			unsigned c = NVH_DESC_CLASS(d);
			if (r->kind != NVH_K_SMALL || r->cls != c || dram_free)
				return nvh_err(NVH_ECORRUPT, "arena %" PRIu64
					       ": class %u on media, DRAM kind "
					       "%u class %u", a, c, r->kind,
					       r->cls);
			for (unsigned w = h->crt[c].nwords;
			     w < NVH_BITMAP_SLOT / 8; w++)
				if (bm[w])
					return nvh_err(NVH_ECORRUPT, "arena %"
						       PRIu64 ": bitmap word %u "
						       "(past the class's %u "
						       "blocks) is 0x%" PRIx64,
						       a, w, h->cls[c].nblocks,
						       bm[w]);
			/* not scanned yet: scan it now (the scan validates the
			 * bitmap: no bit past the last block), so that what
			 * follows compares media and DRAM for every arena */
			if (!r->live) {
				int src = nvh_arena_scan(h, a);
				if (src)
					return src;
			}
			if (!r->live)
				break;
			uint32_t nb = h->cls[c].nblocks, used = 0;
			for (uint32_t w = 0; w < h->crt[c].nwords; w++) {
				/* bits past the last block are always used */
				uint64_t valid = nb - 64 * w >= 64
					? ~0ull : (1ull << (nb - 64 * w)) - 1;
				uint64_t lv = atomic_load(&r->live[w]);
				uint64_t us = atomic_load(&r->used[w]);
				if ((us | valid) != ~0ull)
					return nvh_err(NVH_ECORRUPT, "arena %"
						       PRIu64 " word %u: tail "
						       "bits not used", a, w);
				us &= valid;
				if (lv != bm[w] || us != lv)
					return nvh_err(NVH_ECORRUPT, "arena %"
						       PRIu64 " word %u: media "
						       "0x%" PRIx64 ", live 0x%"
						       PRIx64 ", used 0x%" PRIx64,
						       a, w, bm[w], lv, us);
				used += (uint32_t)__builtin_popcountll(us);
			}
			if ((int32_t)(nb - used) != atomic_load(&r->nfree))
				return nvh_err(NVH_ECORRUPT, "arena %" PRIu64
					       ": %u blocks used, free count %d",
					       a, used, atomic_load(&r->nfree));
			break;
		}
		case NVH_ARENA_LARGE: {
			uint32_t run = NVH_DESC_RUN(d);
			if (r->kind != NVH_K_LARGE || r->run != run || dram_free ||
			    atomic_load(&r->large_live) != 1)
				return nvh_err(NVH_ECORRUPT, "arena %" PRIu64
					       ": large run of %" PRIu32 " on "
					       "media, DRAM kind %u run %" PRIu32,
					       a, run, r->kind, r->run);
			covered = run - 1;
			break;
		}
		case NVH_ARENA_MALLOC: {
			unsigned c = NVH_DESC_CLASS(d);
			if (r->kind != NVH_K_MALLOC || r->cls != c || dram_free ||
			    !r->live)
				return nvh_err(NVH_ECORRUPT, "arena %" PRIu64
					       ": malloc class %u on media, DRAM "
					       "kind %u class %u", a, c, r->kind,
					       r->cls);
			/* what the DRAM says is allocated: not on the medium
			 * before a clean close (docs/malloc.md) */
			const struct nvh_mclass *mc = &nvh_mclasses[c];
			uint32_t used = 0;
			for (uint32_t w = 0; w < mc->nwords; w++) {
				uint64_t lv = atomic_load(&r->live[w]);
				uint64_t us = atomic_load(&r->used[w]);
				if (lv & ~us)
					return nvh_err(NVH_ECORRUPT, "malloc arena "
						       "%" PRIu64 " word %u: live "
						       "0x%" PRIx64 " not in used "
						       "0x%" PRIx64, a, w, lv, us);
				used += (uint32_t)__builtin_popcountll(us);
			}
			/* the tail bits are used */
			used -= mc->nwords * 64 - mc->nblocks;
			if ((int32_t)(mc->nblocks - used) != atomic_load(&r->nfree))
				return nvh_err(NVH_ECORRUPT, "malloc arena %" PRIu64
					       ": %u blocks used, free count %d",
					       a, used, atomic_load(&r->nfree));
			break;
		}
		default:
			return nvh_err(NVH_ECORRUPT, "arena %" PRIu64 ": kind %u",
				       a, kind);
		}
	}
	return 0;
}

int
nvh_heap_foreach(struct nvh_pool *pool,
		 int (*cb)(void *arg, uint64_t off, uint64_t size, uint32_t type),
		 void *arg)
{
	struct nvh_heap *h = pool->heap;
	for (uint64_t a = 0; a < nvh_heap_narenas(h); a++) {
		const struct nvh_arena_ent *e = nvh_arena_ent(h, a);
		uint64_t d = e->desc;
		if (NVH_DESC_KIND(d) == NVH_ARENA_LARGE) {
			int rc = cb(arg, nvh_arena_off(h, a),
				    (uint64_t)NVH_DESC_RUN(d) * NVH_ARENA_SIZE,
				    NVH_HDR_TYPE(e->hdr.word));
			if (rc)
				return rc;
			a += NVH_DESC_RUN(d) - 1;
			continue;
		}
		if (NVH_DESC_KIND(d) != NVH_ARENA_SMALL)
			continue;
		const struct nvh_class_ent *c = &h->cls[NVH_DESC_CLASS(d)];
		const uint64_t *bm = (const void *)(h->base + nvh_bitmap_off(h, a));
		const struct nvh_objhdr *oh = (const void *)(h->base + nvh_arena_off(h, a));
		for (uint32_t b = 0; b < c->nblocks; b++) {
			if (!((bm[b / 64] >> (b % 64)) & 1))
				continue;
			int rc = cb(arg, nvh_arena_off(h, a) + c->blocks_off +
					    (uint64_t)b * c->block_size,
				    c->block_size, NVH_HDR_TYPE(oh[b].word));
			if (rc)
				return rc;
		}
	}
	return 0;
}
