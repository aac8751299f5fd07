/*
 * replay.c -- the log's part of recovery at open: reading every lane
 * (R1), and after the transactions' rollbacks (tx/recovery.c: R2, R3)
 * rolling forward what committed and retiring the log (R4, R5).  The
 * open (objects/open.c) runs the three steps in order.
 *
 * Rules (docs/recovery.md, section 3):
 *   (R1) A lane's current pass is its records from offset 0 onward while
 *        each is valid and has a larger seq than the one before; a CHUNK
 *        record adds the records of its transaction found in its block
 *        (logscan.c).  Every record is validated before use; a sealed
 *        record that is not valid is NVH_ECORRUPT, and so is, in a pool
 *        closed cleanly, a record above the checkpoint.
 *   (R2) A transaction with UNDO records but neither COMMIT nor ABORT was
 *        in progress: its old bytes are copied back.
 *   (R3) A live COMMIT (seq > checkpoint) is complete unless it carries a
 *        data checksum, is the last record of its lane, its ranges'
 *        contents do not match the checksum, and no later record touches
 *        those ranges (a later writer of the same bytes started after the
 *        commit returned).  An incomplete commit is rolled back like (R2)
 *        and its entries are dropped.
 *   (R4) The entries of live ATOMIC records and complete COMMIT records
 *        are applied in seq order across lanes, each target line flushed.
 *   (R5) After a fence, the checkpoint line is set to the largest seq
 *        seen (never lowered): one slot store (heap/log/ckpt.c, crash-atomic)
 *        retires every ATOMIC and COMMIT record of every lane at once
 *        (replaying only some lanes' records again could reorder them).
 *        Then every lane whose pass held records gets a marker record at
 *        offset 0, which ends the old pass, so the UNDO records of
 *        rolled-back transactions are not rolled back again after newer
 *        transactions changed the same bytes.  A crash between the two
 *        repeats only rollbacks, before any new transaction ran: they
 *        restore the same bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/pool.h"
#include "heap/log/lane.h"

static int
cmp_ref(const void *a, const void *b)
{
	const struct nvh_log_ref *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * End the current pass of every lane that has records in it (has[i]): a
 * marker record (an ABORT of no transaction) at offset 0, numbered from
 * *seq on (or, with `dead`, all numbered *seq, the checkpoint: records
 * it covers, see below), then one fence.  A pass that is never ended would stay
 * readable after the run that wrote it: after a clean close its chunks
 * are free, and once they hold other data the next crash's recovery read
 * the pass's UNDO records without their COMMIT (it was in the chunk) and
 * rolled a long-committed transaction back over newer data.
 */
static int
end_passes(nvh_pool *pool, const uint64_t *has, uint64_t *seq, int dead)
{
	struct nvh_lanes *ls = pool->lanes;
	int rc = 0, any = 0;
	for (unsigned i = 0; i < ls->n && !rc; i++) {
		struct nvh_lane *l = &ls->lane[i];
		l->head = 0;
		l->last_seq = 0;
		if (!has[i])
			continue;
		struct nvh_rec rec;
		nvh_rec_init(&rec, NVH_REC_ABORT);
		struct nvh_abort_body ab = {0};
		rc = nvh_rec_put(&rec, &ab, sizeof(ab));
		uint64_t n = dead ? *seq : ++*seq;
		size_t size = nvh_rec_seal(&rec, n);
		if (!rc)
			nvh_persist_memcpy_nodrain(&pool->persist, l->ring,
						   rec.buf, size);
		nvh_rec_fini(&rec);
		l->head = (uint32_t)size;
		l->last_seq = n;
		l->pass_marked = dead; /* a dead marker starts the next pass */
		any = 1;
	}
	/* the markers are durable before the lanes' old records, and the
	 * chunks they name, can be overwritten (C3) */
	if (!rc && any)
		rc = nvh_persist_fence(&pool->persist);
	return rc;
}

int
nvh_log_recover_scan(nvh_pool *pool, int scan_lanes,
		     struct nvh_log_recovery *r)
{
	struct nvh_lanes *ls = pool->lanes;
	memset(r, 0, sizeof(*r));
	r->s.pool = pool;
	r->ckpt = ls->ckpt_durable;
	uint64_t ckpt = r->ckpt;
	struct nvh_log_scan *s = &r->s;
	uint64_t *lane_last = r->lane_last = calloc(ls->n, sizeof(*lane_last));
	if (!lane_last)
		return nvh_err(ENOMEM, "recovery: out of memory");
	/* (R1) every record validated; damage ends it all with NVH_ECORRUPT */
	int rc = nvh_log_scan(s);
	if (rc)
		return rc;
	if (!scan_lanes) {
		/* A clean close ends with a checkpoint covering every record,
		 * so a record above the checkpoint in a cleanly closed pool
		 * means the checkpoint line is damaged (lowered): refuse, or
		 * the next run would reuse sequence numbers and a later
		 * recovery replay stale records. */
		uint64_t top = s->maxseq > s->beyond_seq ? s->maxseq : s->beyond_seq;
		unsigned lane = s->maxseq > s->beyond_seq ? s->maxlane : s->beyond_lane;
		if (top > ckpt) {
			rc = nvh_err(NVH_ECORRUPT, "checkpoint line: seq %" PRIu64
				     ", but lane %u holds record %" PRIu64 " of a "
				     "cleanly closed pool (the checkpoint is "
				     "damaged; `nvheap check --repair` sets it "
				     "to %" PRIu64 ", losing nothing)", ckpt,
				     lane, top, top);
			return rc;
		}
		if (ckpt > NVH_SEQ_MAX - ls->n) {
			rc = nvh_seq_exhausted(ckpt + 1);
			return rc;
		}
		/* Every record is dead; end the passes that hold them.  The
		 * markers carry the checkpoint's seq, so they are dead too:
		 * a crash before the open marks the pool in use leaves a
		 * pool that is still clean, whose records the checkpoint
		 * must cover.  A marker still ends its pass (the record after
		 * it is not newer), and the lane starts a new pass at its
		 * first use, as every lane of a clean pool does. */
		for (size_t i = 0; i < s->n; i++)
			lane_last[s->r[i].lane] = 1;
		uint64_t seq = ckpt;
		if (s->n)
			rc = end_passes(pool, lane_last, &seq, 1);
		for (unsigned i = 0; i < ls->n; i++) {
			ls->lane[i].head = 0;
			ls->lane[i].last_seq = 0;
		}
		return rc;
	}
	/* (R1) past the end of a pass lie only records a checkpoint
	 * covered (C3): a newer one means a damaged record ended the pass
	 * early, and replaying only what comes before it would report the
	 * pool recovered with committed work missing */
	if (s->beyond_seq > ckpt) {
		rc = nvh_err(NVH_ECORRUPT, "lane %u: the record at pool offset %"
			     PRIu64 " (seq %" PRIu64 ") lies past the end of the "
			     "lane's pass (at pool offset %" PRIu64 ") and is "
			     "newer than the checkpoint (%" PRIu64 "): a damaged "
			     "record cut the pass short, so committed work would "
			     "be lost (the pool was not closed cleanly: not "
			     "recovered, nothing changed)", s->beyond_lane,
			     s->beyond_off, s->beyond_seq, s->beyond_end, ckpt);
		return rc;
	}
	if (s->maxseq < ckpt)
		s->maxseq = ckpt; /* the checkpoint never goes back */
	if (s->maxseq > NVH_SEQ_MAX - ls->n) {
		/* no room for the markers below (C6) */
		rc = nvh_seq_exhausted(s->maxseq + 1);
		return rc;
	}
	if (s->n)
		qsort(s->r, s->n, sizeof(*s->r), cmp_ref);
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i].seq > lane_last[s->r[i].lane])
			lane_last[s->r[i].lane] = s->r[i].seq;
	r->active = 1;
	return 0;
}

int
nvh_log_replay(nvh_pool *pool, struct nvh_log_recovery *r)
{
	struct nvh_lanes *ls = pool->lanes;
	struct nvh_log_scan *s = &r->s;
	uint64_t ckpt = r->ckpt, *lane_last = r->lane_last;
	size_t replayed = 0;
	int rc = 0;
	if (!r->active)
		return 0;
	/* (R4) roll forward */
	for (size_t i = 0; i < s->n; i++) {
		const struct nvh_log_ref *ref = &s->r[i];
		if (ref->seq <= ckpt || ref->rollback ||
		    (ref->h->kind != NVH_REC_ATOMIC &&
		     ref->h->kind != NVH_REC_COMMIT))
			continue;
		struct nvh_rec_iter it;
		struct nvh_rec_op_ent e;
		nvh_rec_iter_init(&it, ref->h);
		while (nvh_rec_next(&it, &e) == 1) {
			nvh_rec_apply(pool->base, &e);
			/* written back now, durable at the (R5) fence below */
			nvh_persist_flush(&pool->persist, pool->base + e.target, 8);
		}
		replayed++;
	}
	uint64_t maxseq = s->maxseq;
	if (s->n) {
		/* (R5) the rolled-back and replayed bytes are durable ... */
		rc = nvh_persist_fence(&pool->persist);
		/* ... before one store retires every record so far (C5: the
		 * slot not in use; torn, the old checkpoint stands and all of
		 * this repeats) ... */
		if (!rc)
			rc = nvh_ckpt_store(&pool->persist, ls->ckpt,
					    &ls->ckpt_slot, maxseq);
		/* ... and markers end the old passes. */
		if (!rc)
			rc = end_passes(pool, lane_last, &maxseq, 0);
		if (rc)
			return rc;
		ls->ckpt_durable = s->maxseq;
		atomic_store(&ls->ckpt_published, s->maxseq);
	}
	pool->recovered_records = replayed + r->undone;
	atomic_store(&ls->seq, maxseq + 1);
	for (unsigned i = 0; i < ls->n && !s->n; i++) {
		ls->lane[i].head = 0;
		ls->lane[i].last_seq = 0;
	}
	r->active = 0;
	return 0;
}

void
nvh_log_recover_fini(struct nvh_log_recovery *r)
{
	nvh_log_scan_fini(&r->s);
	free(r->lane_last);
	r->lane_last = NULL;
}
