/*
 * recovery.c -- replaying the lanes at open.
 *
 * Rules (docs/recovery.md, section 3):
 *   (R1) A lane's current pass is its records from offset 0 onward while
 *        each is valid and has a larger seq than the one before.
 *   (R2) Records with seq > the checkpoint are live; all live records of
 *        all lanes are applied in seq order, each target line flushed.
 *   (R3) Then the checkpoint advances to the largest seq seen (after a
 *        fence), so nothing is replayed twice by a later open, and every
 *        lane starts a new pass at offset 0 with seqs above it.
 *   Replaying again after a crash during recovery is harmless: the entries
 *   are idempotent in order (redo.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "tx/lane.h"

struct live {
	uint64_t seq;
	const void *rec;
};

static int
cmp_live(const void *a, const void *b)
{
	const struct live *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
target_ok(void *arg, uint64_t off)
{
	return nvh_heap_target_ok(arg, off);
}

int
nvh_lanes_recover(struct nvh_pool *pool, int scan)
{
	struct nvh_lanes *ls = &pool->lanes;
	uint64_t ckpt = ls->ckpt_durable, maxseq = ckpt;
	struct live *live = NULL;
	size_t nlive = 0, cap = 0;
	for (unsigned i = 0; scan && i < ls->n; i++) {
		const char *ring = ls->lane[i].ring;
		uint32_t p = 0;
		uint64_t prev = 0;
		while (p + NVH_REC_ALIGN <= NVH_LANE_SIZE) {
			size_t size = nvh_rec_valid(ring + p, NVH_LANE_SIZE - p,
						    target_ok, pool);
			const struct nvh_rec_hdr *h = (const void *)(ring + p);
			if (!size || h->seq <= prev)
				break; /* (R1) end of the current pass */
			prev = h->seq;
			if (h->seq > maxseq)
				maxseq = h->seq;
			if (h->seq > ckpt) {
				if (nlive == cap) {
					cap = cap ? 2 * cap : 64;
					struct live *n = realloc(live, cap * sizeof(*n));
					if (!n) {
						free(live);
						return nvh_err(ENOMEM, "recovery: out "
							       "of memory");
					}
					live = n;
				}
				live[nlive++] = (struct live){h->seq, h};
			}
			p += (uint32_t)size;
		}
	}
	if (nlive)
		qsort(live, nlive, sizeof(*live), cmp_live);
	/* (R2) replay in global order */
	for (size_t i = 0; i < nlive; i++) {
		struct nvh_rec_iter it;
		struct nvh_rec_op_ent e;
		nvh_rec_iter_init(&it, live[i].rec);
		while (nvh_rec_next(&it, &e) == 1) {
			nvh_rec_apply(pool->base, &e);
			nvh_persist_flush(&pool->persist, pool->base + e.target, 8);
		}
	}
	free(live);
	int rc = 0;
	if (maxseq > ckpt) {
		/* (R3) the replayed words are durable before the checkpoint
		 * that retires their records */
		rc = nvh_persist_fence(&pool->persist);
		if (!rc) {
			ls->ckpt->seq = maxseq;
			/* records <= maxseq are dead from here */
			rc = nvh_persist_range(&pool->persist, &ls->ckpt->seq,
					       sizeof(ls->ckpt->seq));
		}
		if (rc)
			return rc;
		ls->ckpt_durable = maxseq;
		atomic_store(&ls->ckpt_published, maxseq);
	}
	pool->recovered_records = nlive;
	atomic_store(&ls->seq, maxseq + 1);
	for (unsigned i = 0; i < ls->n; i++) {
		ls->lane[i].head = 0;
		ls->lane[i].last_seq = 0;
	}
	return 0;
}
