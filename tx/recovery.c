/*
 * recovery.c -- the transactions' part of recovery at open: rolling back
 * what did not commit, between the log's scan and its replay
 * (heap/log/replay.c; the open runs the three steps in order).
 *
 * Rules (docs/recovery.md, section 3; R1, R4 and R5 are the log's):
 *   (R2) A transaction with UNDO records but neither COMMIT nor ABORT was
 *        in progress: its old bytes are copied back.
 *   (R3) A live COMMIT (seq > checkpoint) is complete unless it carries a
 *        data checksum, is the last record of its lane, its ranges'
 *        contents do not match the checksum, and no later record touches
 *        those ranges (a later writer of the same bytes started after the
 *        commit returned).  An incomplete commit is rolled back like (R2)
 *        and its entries are dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "heap/error.h"
#include "heap/pool.h"
#include "heap/u64map.h"
#include "heap/log/lane.h"
#include "tx/tx.h"

/* Contents of a commit's ranges against its checksum. */
static int
sum_matches(nvh_pool *pool, const struct nvh_rec_hdr *h)
{
	const struct nvh_commit_body *b = (const void *)(h + 1);
	const struct nvh_range *r = (const void *)(b + 1);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < b->nranges; i++)
		sum = XXH3_64bits_withSeed(pool->base + r[i].off, r[i].len, sum);
	return sum == b->data_sum;
}

static int
overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Does record h touch [off, off+len)? */
static int
touches(const struct nvh_rec_hdr *h, uint64_t off, uint64_t len)
{
	if (h->kind == NVH_REC_UNDO) {
		const struct nvh_undo_body *b = (const void *)(h + 1);
		for (uint32_t i = 0; i < b->nseg; i++) {
			struct nvh_undo_seg sg = nvh_undo_seg_at(b, i);
			if (overlaps(sg.off, sg.len, off, len))
				return 1;
		}
		return 0;
	}
	if (h->kind == NVH_REC_COMMIT) {
		const struct nvh_commit_body *b = (const void *)(h + 1);
		const struct nvh_range *r = (const void *)(b + 1);
		for (uint32_t i = 0; i < b->nranges; i++)
			if (overlaps(r[i].off, r[i].len, off, len))
				return 1;
	}
	struct nvh_rec_iter it;
	struct nvh_rec_op_ent e;
	nvh_rec_iter_init(&it, h);
	while (nvh_rec_next(&it, &e) == 1)
		if (overlaps(e.target, 8, off, len))
			return 1;
	return 0;
}

/* (R3) Evidence that commit c completed: a later record touching it. */
static int
later_writer(const struct nvh_log_scan *s, const struct nvh_log_ref *c)
{
	const struct nvh_commit_body *b = (const void *)(c->h + 1);
	const struct nvh_range *r = (const void *)(b + 1);
	for (size_t i = 0; i < s->n; i++) {
		if (s->r[i].seq <= c->seq)
			continue;
		for (uint32_t k = 0; k < b->nranges; k++)
			if (touches(s->r[i].h, r[k].off, r[k].len))
				return 1;
	}
	return 0;
}

/* Copy back the old bytes of transaction `tx` (UNDO records, newest
 * first), checking payload checksums. */
static size_t
roll_back(struct nvh_log_scan *s, uint64_t tx)
{
	size_t n = 0;
	for (size_t i = s->n; i-- > 0;) {
		const struct nvh_rec_hdr *h = s->r[i].h;
		if (h->kind != NVH_REC_UNDO || nvh_rec_tx(h) != tx)
			continue;
		const struct nvh_undo_body *b = (const void *)(h + 1);
		int ok = 1;
		for (uint32_t k = 0; k < b->nseg; k++) {
			struct nvh_undo_seg sg = nvh_undo_seg_at(b, k);
			if (sg.payload &&
			    XXH3_64bits(s->pool->base + sg.payload,
					sg.len) != sg.payload_sum)
				ok = 0; /* torn payload: the range was never
					 * modified (T1), skip the record */
		}
		if (ok)
			nvh_undo_apply(s->pool, h);
		n++;
	}
	return n;
}

int
nvh_tx_recover(nvh_pool *pool, struct nvh_log_recovery *r)
{
	struct nvh_log_scan *s = &r->s;
	uint64_t ckpt = r->ckpt, *lane_last = r->lane_last;
	int rc = 0;
	if (!r->active)
		return 0;
	/* What each transaction id's records say, in one pass (asking every
	 * record of every other made recovery quadratic in the records):
	 * bit 0 ended (COMMIT or ABORT), bit 1 aborted, bits 2.. 1 + the
	 * index of its first UNDO record.  Id 0 (not a map key) apart. */
	struct nvh_u64map txs = {0};
	uint64_t tx0 = 0;
	for (size_t i = 0; i < s->n && !rc; i++) {
		const struct nvh_rec_hdr *h = s->r[i].h;
		if (h->kind != NVH_REC_UNDO && h->kind != NVH_REC_COMMIT &&
		    h->kind != NVH_REC_ABORT)
			continue;
		uint64_t tx = nvh_rec_tx(h), *v = tx ? nvh_u64map_find(&txs, tx) : &tx0;
		if (!v) {
			if (nvh_u64map_put(&txs, tx, 0)) {
				rc = nvh_err(ENOMEM, "recovery: out of memory");
				break;
			}
			v = nvh_u64map_find(&txs, tx);
		}
		if (h->kind == NVH_REC_UNDO && !(*v >> 2))
			*v |= (uint64_t)(i + 1) << 2;
		else if (h->kind == NVH_REC_COMMIT)
			*v |= 1;
		else if (h->kind == NVH_REC_ABORT)
			*v |= 3;
	}
	if (rc) {
		nvh_u64map_fini(&txs);
		return rc;
	}
#define TXV(tx) ((tx) ? *nvh_u64map_find(&txs, (tx)) : tx0)
	size_t undone = 0;
	/* (R2) transactions in progress: roll each back once, at its first
	 * UNDO record */
	for (size_t i = 0; i < s->n; i++) {
		const struct nvh_rec_hdr *h = s->r[i].h;
		if (h->kind != NVH_REC_UNDO)
			continue;
		uint64_t v = TXV(nvh_rec_tx(h));
		if (!(v & 1) && (v >> 2) == i + 1)
			undone += roll_back(s, nvh_rec_tx(h));
	}
	/* (R3) commits whose fence may not have completed */
	for (size_t i = 0; i < s->n; i++) {
		struct nvh_log_ref *c = &s->r[i];
		if (c->h->kind != NVH_REC_COMMIT || c->seq <= ckpt)
			continue;
		const struct nvh_commit_body *cb = (const void *)(c->h + 1);
		int aborted = (TXV(cb->tx) & 2) != 0;
		if (aborted) {
			c->rollback = 1;
			continue;
		}
		if (!(cb->flags & NVH_COMMIT_DATA_SUM) ||
		    c->seq != lane_last[c->lane] || sum_matches(pool, c->h) ||
		    later_writer(s, c))
			continue;
		c->rollback = 1;
		undone += roll_back(s, cb->tx);
	}
#undef TXV
	nvh_u64map_fini(&txs);
	r->undone = undone;
	return 0;
}
