/*
 * commit.c -- committing and rolling back transactions.
 *
 * Protocol (the invariants recovery relies on; docs/transactions.md):
 *
 *   (T1) An UNDO record holding the old bytes of a range is durable before
 *        the range is modified (nvh_tx_add fences before returning).
 *   (T2) Everything a commit record covers is durable no later than the
 *        record: the snapshotted ranges and the new objects are flushed
 *        before the commit record's fence.  When the transaction allocated
 *        nothing, ranges and record share that one fence and the record
 *        carries a checksum of the ranges' contents (NVH_COMMIT_DATA_SUM),
 *        by which recovery tells a record whose fence completed from one
 *        whose data may be torn.  When it allocated, the data is fenced
 *        first and the record alone is the commit point (no checksum:
 *        a new object's later contents must not decide an old commit).
 *   (T3) The commit record's fence is the commit point.  Its redo entries
 *        (bitmaps, block words, arena table) are applied in place after it
 *        and flushed by a later checkpoint (heap/log/lane.c, C1-C4): from here
 *        recovery only rolls forward.
 *   (T4) Rollback (abort, or recovery of a transaction that did not
 *        commit) copies the old bytes back and fences before an ABORT
 *        record is written; the ABORT record tells later recoveries the
 *        transaction's UNDO records are spent.
 *   (T5) Blocks reserved by the transaction (new objects, snapshot
 *        payloads, record chunks) exist only in DRAM until the commit; a
 *        crash frees them.  A chunk holding a commit or abort record stays
 *        reserved until its lane's pass ends, so the record stays readable
 *        while it can matter to recovery.
 *
 * Before any of this, a transaction whose strong pointer fields changed
 * other than through nvh_tx_set is refused and rolled back by the objects
 * layer (objects/txobj.c, ptrs_check): the counts would not follow.
 *
 * Cost in persist barriers: one per nvh_tx_add that logs something; at
 * commit one (nothing allocated) or two (something allocated); none for a
 * transaction that changed nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "heap/error.h"
#include "heap/pool.h"
#include "tx/tx.h"

int
nvh_tx_place(struct nvh_tx *tx, size_t size, uint32_t reserve, int abort_rec,
	     char **dst, int *in_ring)
{
	struct nvh_lane *l = tx->lane;
	nvh_pool *pool = tx->pool;
	if (!tx->chunk_head && nvh_lane_room(l) >= size + reserve &&
	    tx->ring_used + size + reserve <= pool->tx_ring_limit) {
		*dst = l->ring + l->head;
		*in_ring = 1;
		tx->ring_used += (uint32_t)size;
		return 0;
	}
	/* every record but the ABORT leaves the chunk's last line free */
	uint64_t keep = abort_rec ? 0 : NVH_REC_ALIGN;
	if (!tx->chunk_head ||
	    tx->chunk_head + size + keep > nvh_blk_size(pool, &tx->chunk)) {
		/* Open a chunk, announced by a CHUNK record in the ring. */
		if (nvh_lane_room(l) < NVH_REC_ALIGN)
			return nvh_err(ENOSPC, "transaction log full: no room "
				       "in lane %u for another chunk", l->index);
		struct nvh_blk k;
		uint64_t want = size + NVH_REC_ALIGN > NVH_TX_CHUNK
				? size + NVH_REC_ALIGN : NVH_TX_CHUNK;
		int rc = nvh_blk_reserve(pool, tx->t, want, &k);
		if (rc)
			return rc;
		if (tx->naux == tx->caux) {
			size_t c = tx->caux ? 2 * tx->caux : 16;
			struct nvh_blk *n = realloc(tx->aux, c * sizeof(*n));
			if (!n) {
				nvh_blk_unreserve(pool, &k);
				return nvh_err(ENOMEM, "out of memory");
			}
			tx->aux = n;
			tx->caux = c;
		}
		struct nvh_rec rec;
		nvh_rec_init(&rec, NVH_REC_CHUNK);
		struct nvh_chunk_body body = {tx->id, k.off, nvh_blk_size(pool, &k)};
		rc = nvh_rec_put(&rec, &body, sizeof(body));
		/* Stale bytes in the block never pass for records of this
		 * transaction: recovery takes only records with its id.  No
		 * fence of its own: every record placed in the chunk is
		 * followed by a fence (undo_log's, the commit's, the ABORT's)
		 * before anything depends on it, and that fence makes this
		 * record durable too; until then a crash that keeps a record
		 * in the chunk but loses this one only hides a record nothing
		 * depended on yet. */
		if (!rc)
			rc = nvh_lane_log_nodrain(pool, l, &rec,
						  l->ring + l->head, 1);
		nvh_rec_fini(&rec);
		if (rc) {
			nvh_blk_unreserve(pool, &k);
			return rc;
		}
		/* The chunk itself is released with the transaction, unless
		 * it ends up holding the commit or abort record. */
		tx->aux[tx->naux++] = k;
		tx->chunk = k;
		tx->chunk_head = 0;
	}
	*dst = pool->base + tx->chunk.off + tx->chunk_head;
	*in_ring = 0;
	tx->chunk_head += size;
	return 0;
}

void
nvh_undo_apply(nvh_pool *pool, const void *rec)
{
	const struct nvh_rec_hdr *h = rec;
	const struct nvh_undo_body *b = (const void *)(h + 1);
	const char *data = nvh_undo_data(b);
	for (uint32_t i = 0; i < b->nseg; i++) {
		struct nvh_undo_seg seg = nvh_undo_seg_at(b, i);
		const char *src = data;
		if (seg.payload)
			src = pool->base + seg.payload;
		else
			data += (seg.len + 7) & ~7ull;
		memcpy(pool->base + seg.off, src, seg.len);
		nvh_persist_flush(&pool->persist, pool->base + seg.off, seg.len);
	}
}

/* Keep a chunk holding a commit or abort record until the lane's pass
 * ends (T5), instead of releasing it with the transaction. */
static void
keep_chunk(struct nvh_tx *tx)
{
	if (!tx->chunk_head)
		return;
	for (size_t i = 0; i < tx->naux; i++)
		if (tx->aux[i].off == tx->chunk.off) {
			if (nvh_lane_keep(tx->pool, tx->lane, &tx->chunk) == 0)
				tx->aux[i] = tx->aux[--tx->naux];
			/* else: released now; a crash before the pass ends
			 * may then miss the record (out of memory only) */
			return;
		}
}

int
nvh_tx_do_abort(struct nvh_tx *tx, int write_record)
{
	nvh_pool *pool = tx->pool;
	int rc = 0;
	/* newest first, though ranges never overlap */
	for (size_t i = tx->nundo; i-- > 0;)
		nvh_undo_apply(pool, tx->undo[i]);
	if (tx->nundo && !atomic_load(&pool->failed)) {
		/* (T4) the old bytes are back on the medium ... */
		rc = nvh_persist_fence(&pool->persist);
		if (!rc && write_record) {
			/* ... before the record saying so. */
			struct nvh_rec rec;
			nvh_rec_init(&rec, NVH_REC_ABORT);
			struct nvh_abort_body body = {tx->id};
			char *dst;
			int in_ring;
			rc = nvh_rec_put(&rec, &body, sizeof(body));
			if (!rc)
				rc = nvh_tx_place(tx, NVH_REC_ALIGN, 0, 1, &dst,
						  &in_ring);
			if (!rc)
				rc = nvh_lane_log(pool, tx->lane, &rec, dst,
						  in_ring);
			nvh_rec_fini(&rec);
			if (!rc && !in_ring)
				keep_chunk(tx);
		}
		if (rc) {
			/* The UNDO records stay live with no ABORT after them:
			 * a later commit's changes to these ranges would be
			 * rolled back by the next recovery.  So no later
			 * commit: the pool refuses writes until reopened, and
			 * that open's recovery rolls the (already restored)
			 * ranges back once more, harmlessly. */
			atomic_store(&pool->failed, rc);
			nvh_err(-rc, "%s: the rollback could not be recorded "
				"(%s): the pool refuses further writes; reopen "
				"it", pool->path, strerror(-rc));
		}
	}
	for (size_t i = 0; i < tx->nfresh; i++) {
		/* Dead contents of a discarded new object: written back so a
		 * clean close leaves no dirty line; no fence (the block is
		 * free, nothing depends on them; the next fence covers them). */
		nvh_persist_flush(&pool->persist, pool->base + tx->fresh[i].blk.off,
				  tx->fresh[i].size);
		nvh_blk_unreserve(pool, &tx->fresh[i].blk);
	}
	for (size_t i = 0; i < tx->nfrees; i++)
		nvh_blk_unclaim(pool, &tx->frees[i]);
	tx->nundo = tx->nfrees = tx->nsnap = 0;
	nvh_snapset_clear(&tx->snaps);
	nvh_tx_forget_fresh(tx);
	return rc;
}

static void
publish_all(void *arg)
{
	struct nvh_tx *tx = arg;
	for (size_t i = 0; i < tx->nfresh; i++)
		if (!tx->fresh[i].dropped)
			nvh_blk_publish(tx->pool, &tx->fresh[i].blk);
}

/*
 * The commit, in the steps the objects layer runs (objects/txobj.c, with
 * its own between them: the pointer-field check before, the counts'
 * entries into the record, their outcome after the commit point):
 * begin -> (entries added) -> point -> done; a failed step ends with
 * nvh_tx_commit_fail (roll back) or, when the medium failed,
 * nvh_tx_commit_lost.
 */
int
nvh_tx_commit_begin(struct nvh_tx *tx, struct nvh_rec *cr)
{
	if (!tx->snaps.n && !tx->nfresh && !tx->nfrees)
		return 1; /* changed nothing; rolled-back snapshots aside */
	nvh_rec_init(cr, NVH_REC_COMMIT);
	tx->nsnap = tx->snaps.n;
	tx->snap = nvh_snapset_flat(&tx->snaps);
	if (tx->nsnap && !tx->snap)
		return -ENOMEM;
	struct nvh_commit_body body = {tx->id, (uint32_t)tx->nsnap, 0, 0};
	int rc = nvh_rec_put(cr, &body, sizeof(body));
	if (!rc && tx->nsnap)
		rc = nvh_rec_put(cr, tx->snap, tx->nsnap * sizeof(*tx->snap));
	return rc;
}

int
nvh_tx_commit_point(struct nvh_tx *tx, struct nvh_rec *cr, int *lost)
{
	nvh_pool *pool = tx->pool;
	int rc = 0;
	*lost = 0;
	size_t nnew = 0;
	for (size_t i = 0; i < tx->nfresh && !rc; i++) {
		if (tx->fresh[i].dropped)
			continue;
		nnew++;
		rc = nvh_blk_rec_alloc(pool, &tx->fresh[i].blk, tx->fresh[i].word,
				       tx->fresh[i].blk.birth, cr);
	}
	for (size_t i = 0; i < tx->nfrees && !rc; i++)
		rc = nvh_blk_rec_free(pool, &tx->frees[i], cr);
	if (rc)
		goto out;

	/* Place the record first: placing may take a checkpoint, which
	 * waits for commit sections; then enter ours before the flushes
	 * (see nvh_lane_enter). */
	char *dst;
	int in_ring;
	size_t size = (cr->len + NVH_REC_ALIGN - 1) & ~(size_t)(NVH_REC_ALIGN - 1);
	rc = nvh_tx_place(tx, size, 0, 0, &dst, &in_ring);
	if (rc)
		goto out;
	/* The data checksum (no new objects: see below) is taken before the
	 * ranges are flushed: a flush may evict their lines (CLWB does on
	 * some CPUs), and the sum would then read them back from memory. */
	uint64_t sum = 0;
	if (!nnew)
		for (size_t i = 0; i < tx->nsnap; i++)
			sum = XXH3_64bits_withSeed(pool->base + tx->snap[i].off,
						   tx->snap[i].len, sum);
	nvh_lane_enter(pool, tx->lane);
	for (size_t i = 0; i < tx->nsnap; i++)
		nvh_persist_flush(&pool->persist, pool->base + tx->snap[i].off,
				  tx->snap[i].len);
	struct nvh_commit_body *b = nvh_rec_body(cr);
	if (nnew) {
		for (size_t i = 0; i < tx->nfresh; i++)
			if (!tx->fresh[i].dropped)
				nvh_persist_flush(&pool->persist,
						  pool->base + tx->fresh[i].blk.off,
						  tx->fresh[i].size);
		/* (T2) changed ranges and new objects durable before the
		 * commit record is written. */
		rc = nvh_persist_fence(&pool->persist);
		if (rc) {
			nvh_lane_leave(tx->lane);
			*lost = 1;
			goto out;
		}
	} else if (tx->nsnap) {
		/* (T2) one fence for data and record: the record vouches
		 * for the data with a checksum (taken above). */
		b->flags = NVH_COMMIT_DATA_SUM;
		b->data_sum = sum;
	}
	for (size_t i = 0; i < tx->nfresh; i++)
		if (tx->fresh[i].dropped) /* dead contents (see abort); the
					   * commit's fence covers them */
			nvh_persist_flush(&pool->persist,
					  pool->base + tx->fresh[i].blk.off,
					  tx->fresh[i].size);
	/* (T3) the commit point. */
	rc = nvh_lane_commit_at(pool, tx->lane, cr, dst, in_ring, publish_all,
				tx);
	/* -EOVERFLOW: no sequence number, nothing written: roll back;
	 * another failure: the medium's */
	if (rc && rc != -EOVERFLOW)
		*lost = 1;
	tx->commit_in_ring = in_ring;
out:
	nvh_rec_fini(cr);
	return rc;
}

void
nvh_tx_commit_done(struct nvh_tx *tx)
{
	nvh_pool *pool = tx->pool;
	/* Detector (sim): what the commit covered is durable now; the redo
	 * entries' words are the next checkpoint's business. */
	for (size_t i = 0; i < tx->nsnap; i++)
		nvh_persist_durable_range(&pool->persist,
					  pool->base + tx->snap[i].off,
					  tx->snap[i].len, "nvh_tx_commit");
	for (size_t i = 0; i < tx->nfresh; i++)
		if (!tx->fresh[i].dropped)
			nvh_persist_durable_range(&pool->persist,
						  pool->base + tx->fresh[i].blk.off,
						  tx->fresh[i].size, "nvh_tx_commit");
	if (!tx->commit_in_ring)
		keep_chunk(tx);
	for (size_t i = 0; i < tx->nfrees; i++)
		nvh_blk_release(pool, &tx->frees[i]);
	for (size_t i = 0; i < tx->nfresh; i++)
		if (tx->fresh[i].dropped) /* typed, never linked */
			nvh_blk_unreserve(pool, &tx->fresh[i].blk);
	nvh_tx_forget_fresh(tx);
	tx->nfrees = 0;
}

int
nvh_tx_commit_fail(struct nvh_tx *tx, int rc)
{
	/* the cause's own message says what and where */
	int err = -rc;
	char why[512];
	snprintf(why, sizeof(why), "%s", nvh_errormsg());
	nvh_tx_do_abort(tx, 1);
	return nvh_err(err, "nvh_tx_commit: %s: could not commit, rolled "
		       "back: %s (%s)", tx->pool->path, strerror(err), why);
}

int
nvh_tx_commit_lost(struct nvh_tx *tx, int rc)
{
	/* The medium failed: what is durable is unknown, the pool refuses
	 * further writes; the next open's recovery decides. */
	nvh_tx_forget_fresh(tx);
	tx->nfrees = 0;
	return rc;
}

struct nvh_lane *
nvh_tx_end_keep(struct nvh_tx *tx)
{
	struct nvh_lane *l = tx->lane;
	for (size_t i = 0; i < tx->naux; i++)
		nvh_blk_unreserve(tx->pool, &tx->aux[i]);
	l->tx_active = 0;
	nvh_tx_recycle(tx);
	return l;
}
