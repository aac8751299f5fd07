/*
 * tx.h -- a transaction's DRAM state, shared by tx.c (the API, snapshots)
 * and commit.c (commit and rollback).
 */
#ifndef NVH_TX_TX_H
#define NVH_TX_TX_H

#include <stdint.h>

#include <nvheap/tx.h>

#include "heap/heap.h"
#include "heap/u64map.h"
#include "heap/log/lane.h"
#include "heap/log/layout.h"

#define NVH_TX_INLINE_MAX 2048u   /* larger snapshots go to a payload block */
#define NVH_TX_RING_RESERVE 8192u /* ring bytes kept for the commit record */
#define NVH_TX_CHUNK (256u << 10) /* records of one transaction past the ring */

struct nvh_tx_new {
	struct nvh_blk blk;
	uint64_t size;   /* as requested: what commit flushes */
	uint32_t type;
	uint64_t word;   /* header word at commit (type, flags, count) */
	int dropped;     /* typed, never linked: not allocated after all */
};

/* The object an nvh_tx_add range lies in: its block, its type id. */
struct nvh_tx_span {
	uint64_t start, size;
	uint32_t type;
};

/* A strong pointer field a snapshot covered, and its value then. */
struct nvh_tx_ptr {
	uint64_t off;
	uint64_t val;
};

struct nvh_tx {
	nvh_pool *pool;
	struct nvh_tctx *t;
	struct nvh_lane *lane;
	uint64_t id;        /* the transaction id in its records */
	uint64_t handle;    /* the caller's name for it (tx.c, handles) */
	int depth;          /* nesting */
	int err;            /* 0 or the positive errno that failed it */
	char why[512];      /* what failed it (for later errors) */
	/* snapshotted ranges, sorted, merged, disjoint */
	struct nvh_range *snap;
	size_t nsnap, csnap;
	/* the object the last nvh_tx_add checked (size 0: none), so that
	 * more ranges in it need no lookup; forgotten when the transaction
	 * frees or drops objects */
	struct nvh_tx_span last;
	/* objects allocated by the transaction */
	struct nvh_tx_new *fresh;
	size_t nfresh, cfresh;
	struct nvh_u64map fresh_ix; /* block offset -> index in fresh */
	/* objects it frees at commit */
	struct nvh_blk *frees;
	size_t nfrees, cfrees;
	/* heap blocks holding snapshots or records (released at the end) */
	struct nvh_blk *aux;
	size_t naux, caux;
	/* UNDO records written, in order (for rollback) */
	const void **undo;
	size_t nundo, cundo;
	/* the current chunk, if records overflowed the ring */
	struct nvh_blk chunk;
	uint64_t chunk_head;  /* 0: no chunk */
	uint32_t ring_used;   /* ring bytes taken by this transaction */
	/* reference-count changes of this transaction (objects/ref.c) */
	struct nvh_rcd *rc;
	size_t nrc, crc;
	struct nvh_u64map rc_ix;    /* object offset -> index in rc */
	/* strong pointer fields, which change only through nvh_tx_set
	 * (the counts follow it): those its snapshots covered, with their
	 * values then, and the values nvh_tx_set stored (one entry per
	 * field); commit compares (nvh_tx_ptrs_check).  Untyped work adds
	 * nothing here. */
	struct nvh_tx_ptr *ptrs;
	size_t nptrs, cptrs;
	struct nvh_tx_ptr *sets;
	size_t nsets, csets;
	struct nvh_u64map set_ix;   /* field offset -> index in sets; empty,
				     * or all of them (once there are many) */
	int typed_fresh;      /* allocated a typed object: commit checks it */
	int typed;            /* did typed work: commit runs the objects hook */
	int drain;            /* after commit: free dying objects */
	uint64_t *pins;       /* dying (pinned) objects it stored: pinned by
			       * it too until it ends (objects/ref.c) */
	size_t npins, cpins;
};

struct nvh_rcd {
	uint64_t off;   /* object */
	int64_t delta;
	/* the birth serial of the incarnation the transaction's stores
	 * pointed at (0: no store did; NVH_RCD_TWO_BIRTHS: two different
	 * ones): the commit refuses a reference whose block another
	 * thread freed and allocated again meanwhile (objects/cascade.c) */
	uint64_t birth;
};

#define NVH_RCD_TWO_BIRTHS (~0ull)
/* Its stores named a dying object, which the transaction pins until it
 * ends: the same incarnation at the commit, whether still dying or
 * linked again by another commit meanwhile (its birth word was a list
 * link when stored, no serial to compare). */
#define NVH_RCD_PINNED (~0ull - 1)
/* Drop the transaction's own pins (as it ends); 1 if one was an
 * object's last and the object is dying (a drain is due). */
int nvh_tx_unpin_all(struct nvh_tx *tx);

/* Forget the new objects (after they were published or unreserved). */
static inline void
nvh_tx_forget_fresh(struct nvh_tx *tx)
{
	tx->nfresh = 0;
	nvh_u64map_clear(&tx->fresh_ix);
	tx->last.size = 0;
}

/* Forget the reference-count deltas, and the pointer fields they follow
 * (after a rollback, or at the end). */
static inline void
nvh_tx_forget_rc(struct nvh_tx *tx)
{
	tx->nrc = 0;
	nvh_u64map_clear(&tx->rc_ix);
	tx->nptrs = tx->nsets = 0;
	if (tx->cptrs > 4096) { /* a huge transaction's: give it back */
		free(tx->ptrs);
		tx->ptrs = NULL;
		tx->cptrs = 0;
	}
	if (tx->csets > 4096) {
		free(tx->sets);
		tx->sets = NULL;
		tx->csets = 0;
	}
	nvh_u64map_clear(&tx->set_ix);
	tx->typed_fresh = 0;
}

/* tx.c: the index in tx->fresh of the new object containing pool offset
 * `off` (dropped ones included), *in = offset inside it; -1 if none. */
long nvh_tx_fresh_at(const struct nvh_tx *tx, uint64_t off, uint64_t *in);

/* commit.c */
int nvh_tx_do_commit(struct nvh_tx *tx);
int nvh_tx_do_abort(struct nvh_tx *tx, int write_abort_record);
/* Place a record of `size` bytes: the ring if it leaves `reserve` bytes,
 * else the transaction's chunk (opening one, with a CHUNK record in the
 * ring, if needed).  *in_ring tells which.  The last NVH_REC_ALIGN bytes
 * of every chunk are kept for the ABORT record (`abort_rec`), so a
 * rollback can always say it is done, even in a full pool (T4). */
int nvh_tx_place(struct nvh_tx *tx, size_t size, uint32_t reserve,
		 int abort_rec, char **dst, int *in_ring);
/* Roll one UNDO record back: copy the old bytes into place, flush. */
void nvh_undo_apply(struct nvh_pool *pool, const void *rec);
/* Release everything the transaction holds in DRAM and free it. */
void nvh_tx_end(struct nvh_tx *tx);
/* The same, but the lane stays the caller's (to drain on; released with
 * nvh_lane_release). */
struct nvh_lane *nvh_tx_end_keep(struct nvh_tx *tx);
/* tx.c: snapshot [off, off+len) of the pool (no range policy: for the
 * library's own metadata slots too). */
int nvh_tx_snapshot(struct nvh_tx *tx, uint64_t off, uint64_t len);
/* nvh_tx_free, allowed to free nvheap's own objects (the type table). */
int nvh_tx_free_internal(struct nvh_tx *tx, nvh_oid oid);
/* tx.c: fail the transaction (first error sticks) with a message. */
int nvh_tx_failf(struct nvh_tx *tx, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int nvh_tx_check(struct nvh_tx *tx, const char *fn);
/* tx.c: for public entry points: turn the caller's handle *h into the
 * transaction itself (*h is replaced), refusing with EINVAL and a message
 * a stale handle (its transaction ended), another thread's, NULL or
 * garbage; then fail fast if the transaction failed (as nvh_tx_check).
 * The transaction itself (not a handle) passes too. */
int nvh_tx_enter(struct nvh_tx **h, const char *fn);
/* tx.c: the calling thread's transaction on `pool`, itself (the public
 * nvh_tx_current returns the caller's handle for it), or NULL. */
struct nvh_tx *nvh_tx_running(const struct nvh_pool *pool);
/* Inside the library, nvh_tx_current means the transaction itself. */
#define nvh_tx_current(pool) nvh_tx_running(pool)
/* Allocate with any type id (the library's typed and internal ones). */
nvh_oid nvh_tx_alloc_id(struct nvh_tx *tx, size_t size, uint32_t type,
			unsigned flags);
/* tx.c: nvh_tx_set is about to store `value` into the strong field at
 * pool offset `off`: the value the commit expects there (out of memory
 * fails the transaction). */
void nvh_tx_expect(struct nvh_tx *tx, uint64_t off, uint64_t value);
/* tx.c, the commit's first step: did every strong pointer field the
 * transaction snapshotted or allocated change only through nvh_tx_set?
 * 0, or -EINVAL with a message naming the type and field. */
int nvh_tx_ptrs_verify(struct nvh_tx *tx);

static inline int
nvh_tx_ptrs_check(struct nvh_tx *tx)
{
	if (!tx->nptrs && !tx->nsets && !tx->typed_fresh)
		return 0; /* untyped work: nothing to check */
	return nvh_tx_ptrs_verify(tx);
}
/* recovery.c: at open, between the log's scan and its replay: roll back
 * the transactions that did not commit (R2) and the commits that may not
 * have completed (R3, marked in the scan so the replay skips them). */
int nvh_tx_recover(struct nvh_pool *pool, struct nvh_log_recovery *r);
/* tx.c: keep a finished transaction's memory for the thread's next one. */
void nvh_tx_recycle(struct nvh_tx *tx);

#endif
