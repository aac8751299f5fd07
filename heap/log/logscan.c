/*
 * logscan.c -- reading the log: each lane's current pass and the chunks
 * its CHUNK records announce, every record validated before anything in it
 * is used.
 *
 * Recovery (replay.c, tx/recovery.c), the read-only verification the tools run
 * (verify.c) and the repair (repair.c) all read the log through
 * here, so what a tool reports is what an open would do.  Nothing is
 * written and the lanes' DRAM state is not needed: it works on a pool
 * opened read-only.
 *
 * (R1, docs/recovery.md) A lane's current pass is its records from offset
 * 0 onward while each is a record and has a larger seq than the one
 * before; a CHUNK record adds the records of its transaction found, in the
 * same way, from the start of its block.  What ends a pass is bytes that
 * are no record (torn, never written) or an older pass (seq not larger).
 * A record that is sealed (its checksum matches) but not valid -- an
 * offset out of bounds or misaligned, a seq above NVH_SEQ_MAX, a
 * transaction id not below its seq -- was never written by nvheap: it is
 * damage, never a silent end of the pass (that would drop the records
 * after it and report the pool recovered).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "heap/error.h"
#include "heap/pool.h"
#include "heap/u64map.h"
#include "heap/log/lane.h"

static int
target_ok(void *arg, uint64_t off)
{
	return nvh_log_target_ok(arg, off);
}

/* Ranges a record may save or cover: user data, the root slot, and the
 * type-table slot, which nvh_type_register snapshots (struct
 * nvh_log_geom; recovery used to refuse the latter: the registration's
 * UNDO record then ended its lane's scan, and later transactions of the
 * pass went unrecovered). */
static int
range_ok(void *arg, uint64_t off, uint64_t len)
{
	return nvh_log_range_ok(arg, off, len);
}

static void
note_seq(struct nvh_log_scan *s, unsigned lane, uint64_t seq)
{
	if (seq > s->maxseq) {
		s->maxseq = seq;
		s->maxlane = lane;
	}
}

static int
add(struct nvh_log_scan *s, unsigned lane, const struct nvh_rec_hdr *h,
    uint64_t ring_off)
{
	if (nvh_grow((void **)&s->r, &s->cap, s->n, sizeof(*s->r)))
		return nvh_err(ENOMEM, "reading the log: out of memory");
	s->r[s->n++] = (struct nvh_log_ref){h->seq, h, ring_off, lane, 0};
	note_seq(s, lane, h->seq);
	return 0;
}

/* A sealed record that is not valid: report it and go on, or end the
 * scan with the error. */
static int
damaged(struct nvh_log_scan *s, unsigned lane, const struct nvh_rec_hdr *h,
	uint64_t ring_off, const char *why)
{
	uint64_t off = (uint64_t)((const char *)h - s->pool->base);
	s->ndamaged++;
	if (h->seq <= NVH_SEQ_MAX)
		note_seq(s, lane, h->seq);
	if (!s->damaged) {
		char chunk[64] = "";
		if (off != ring_off)
			snprintf(chunk, sizeof(chunk), " (in the chunk announced "
				 "at %" PRIu64 ")", ring_off);
		return nvh_err(NVH_ECORRUPT, "lane %u: record at pool offset %"
			       PRIu64 "%s, seq %" PRIu64 ": %s (damaged: nvheap "
			       "never writes such a record)", lane, off, chunk,
			       h->seq, why);
	}
	struct nvh_log_damage d = {lane, off, ring_off, h->seq, why};
	s->damaged(s->arg, &d);
	return 0;
}

static int
scan_chunk(struct nvh_log_scan *s, unsigned lane, const struct nvh_rec_hdr *ch,
	   uint64_t ring_off, const struct nvh_rec_bounds *b)
{
	/* nvh_rec_check: the block is 64-byte aligned inside the arenas */
	const struct nvh_chunk_body *cb = (const void *)(ch + 1);
	const char *base = s->pool->base + cb->off;
	uint64_t q = 0, prev = ch->seq;
	char why[192];
	while (q + NVH_REC_ALIGN <= cb->size) {
		const struct nvh_rec_hdr *h = (const void *)(base + q);
		long size = nvh_rec_check(h, cb->size - q, b, why, sizeof(why));
		/* stale bytes from the block's earlier lives end it: only this
		 * transaction's records, in order, belong here */
		if (!size || h->seq <= prev ||
		    (h->kind != NVH_REC_UNDO && h->kind != NVH_REC_COMMIT &&
		     h->kind != NVH_REC_ABORT) ||
		    nvh_rec_tx(h) != cb->tx)
			break;
		int rc = size > 0 ? add(s, lane, h, ring_off)
				  : damaged(s, lane, h, ring_off, why);
		if (rc)
			return rc;
		if (h->seq <= NVH_SEQ_MAX)
			prev = h->seq;
		q += h->size;
	}
	return 0;
}

int
nvh_log_scan(struct nvh_log_scan *s)
{
	struct nvh_pool *pool = s->pool;
	const struct nvh_log_geom *g = &pool->lanes->geom;
	struct nvh_rec_bounds b = {target_ok, range_ok, (void *)g};
	char why[192];
	s->r = NULL;
	s->n = s->cap = 0;
	s->maxseq = 0;
	s->maxlane = 0;
	s->ndamaged = 0;
	s->beyond_seq = 0;
	for (unsigned i = 0; i < g->nlanes; i++) {
		uint64_t lane_off = g->lanes_off + (uint64_t)i * NVH_LANE_SIZE;
		const char *ring = pool->base + lane_off;
		uint64_t prev = 0;
		uint32_t p = 0;
		while (p + NVH_REC_ALIGN <= NVH_LANE_SIZE) {
			const struct nvh_rec_hdr *h = (const void *)(ring + p);
			long size = nvh_rec_check(h, NVH_LANE_SIZE - p, &b, why,
						  sizeof(why));
			if (!size || h->seq <= prev)
				break; /* (R1) the end of the current pass */
			int rc;
			if (size < 0) {
				rc = damaged(s, i, h, lane_off + p, why);
			} else {
				rc = add(s, i, h, lane_off + p);
				if (!rc && h->kind == NVH_REC_CHUNK)
					rc = scan_chunk(s, i, h, lane_off + p, &b);
			}
			if (rc)
				return rc;
			if (h->seq <= NVH_SEQ_MAX)
				prev = h->seq;
			p += h->size; /* sealed: its size is as written */
		}
		/* past the end: older passes (see beyond_seq in lane.h) */
		for (uint32_t q = p; q + NVH_REC_ALIGN <= NVH_LANE_SIZE;) {
			const struct nvh_rec_hdr *h = (const void *)(ring + q);
			long size = nvh_rec_check(h, NVH_LANE_SIZE - q, &b, why,
						  sizeof(why));
			if (size > 0 && h->seq > s->beyond_seq) {
				s->beyond_seq = h->seq;
				s->beyond_lane = i;
				s->beyond_off = lane_off + q;
				s->beyond_end = lane_off + p;
			}
			q += size > 0 ? (uint32_t)size : NVH_REC_ALIGN;
		}
	}
	return 0;
}

void
nvh_log_scan_fini(struct nvh_log_scan *s)
{
	free(s->r);
	s->r = NULL;
	s->n = s->cap = 0;
}
