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
#include "tx/snapset.h"

#define NVH_TX_INLINE_MAX 2048u   /* larger snapshots go to a payload block */
#define NVH_TX_RING_RESERVE 8192u /* ring bytes kept for the commit record */
#define NVH_TX_CHUNK (256u << 10) /* records of one transaction past the ring */
#define NVH_TX_UNDO_SEGS 1024u    /* segments per UNDO record (32 KiB at most) */

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

struct nvh_txo;

struct nvh_tx {
	nvh_pool *pool;
	struct nvh_tctx *t;
	struct nvh_lane *lane;
	uint64_t id;        /* the transaction id in its records */
	uint64_t handle;    /* the caller's name for it (tx.c, handles) */
	int depth;          /* nesting */
	int err;            /* 0 or the positive errno that failed it */
	char why[512];      /* what failed it (for later errors) */
	/* snapshotted ranges, sorted, merged, disjoint (snapset.h) */
	struct nvh_snapset snaps;
	/* the same as one array, from nvh_tx_commit_begin on */
	const struct nvh_range *snap;
	size_t nsnap;
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
	int commit_in_ring;   /* its commit record went to the ring */
	/* the objects layer's state of this transaction (objects/obj.h:
	 * counts, checked pointer fields, pins), attached by its begin and
	 * detached by its end; the tx layer never reads it */
	struct nvh_txo *obj;
};

/* Forget the new objects (after they were published or unreserved). */
static inline void
nvh_tx_forget_fresh(struct nvh_tx *tx)
{
	tx->nfresh = 0;
	nvh_u64map_clear(&tx->fresh_ix);
	tx->last.size = 0;
}

/* tx.c: the index in tx->fresh of the new object containing pool offset
 * `off` (dropped ones included), *in = offset inside it; -1 if none. */
long nvh_tx_fresh_at(const struct nvh_tx *tx, uint64_t off, uint64_t *in);

/* commit.c: the commit's steps (the objects layer runs them, its own in
 * between: objects/txobj.c).  begin: 1 if the transaction changed
 * nothing, else the commit record *cr started (0) or an error; point:
 * the record's entries and the commit point, *cr finished whatever the
 * result; on failure *lost says the medium failed (end with
 * nvh_tx_commit_lost) rather than the commit (nvh_tx_commit_fail: rolled
 * back); done: after the commit point. */
struct nvh_rec;
int nvh_tx_commit_begin(struct nvh_tx *tx, struct nvh_rec *cr);
int nvh_tx_commit_point(struct nvh_tx *tx, struct nvh_rec *cr, int *lost);
void nvh_tx_commit_done(struct nvh_tx *tx);
int nvh_tx_commit_fail(struct nvh_tx *tx, int rc);
int nvh_tx_commit_lost(struct nvh_tx *tx, int rc);
/* Roll back: the old bytes copied back, the new objects and the frees
 * forgotten (the objects layer forgets its own part). */
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
/* Release everything the transaction holds in DRAM and free it; the lane
 * stays the caller's (to drain on; given back with nvh_lane_put). */
struct nvh_lane *nvh_tx_end_keep(struct nvh_tx *tx);
/* tx.c: snapshot [off, off+len) of the pool (no range policy: for the
 * library's own metadata slots too). */
int nvh_tx_snapshot(struct nvh_tx *tx, uint64_t off, uint64_t len);

/* tx.c, the steps of the public entry points (objects/txobj.c). */
/* nvh_tx_begin without the objects layer's part: the caller's handle. */
nvh_tx *nvh_tx_start(nvh_pool *pool);
/* The transaction a handle names (tx_of), or NULL with a message. */
struct nvh_tx *nvh_tx_lookup(const void *h, const char *fn);
/* nvh_tx_add's rule: [off, off+len) lies inside one live object, or one
 * this transaction allocated, and is the caller's: not an object header,
 * a free block (or one another transaction reserved, or one being
 * freed), slack or the root slot (it holds a counted reference).  *sp
 * says which object (tx->last, if it is there).  Whose object it is, the
 * caller decides, and then remembers it in tx->last. */
int nvh_tx_span(struct nvh_tx *tx, uint64_t off, uint64_t len,
		struct nvh_tx_span *sp, const char *fn);
/* Snapshot [off, off+len) and say which parts were new to it. */
#define NVH_TX_INLINE_GAPS 8
struct nvh_tx_gaps {
	struct nvh_range buf[NVH_TX_INLINE_GAPS];
	struct nvh_range *g;  /* buf, or a heap array */
	size_t n, cap;
};
int nvh_tx_snap(struct nvh_tx *tx, uint64_t off, uint64_t len,
		struct nvh_tx_gaps *gaps);
/* The same for r[0..n) (they may overlap) with one fence: the parts new
 * to the transaction, in order, g[gend[i-1]..gend[i]) from r[i] (gend:
 * NULL, or n entries).  `fn` names the caller in errors.  *gaps is set
 * up here; the caller finishes it whatever the result. */
int nvh_tx_snapv(struct nvh_tx *tx, const struct nvh_range *r, size_t n,
		 struct nvh_tx_gaps *gaps, size_t *gend, const char *fn);
static inline void
nvh_tx_gaps_init(struct nvh_tx_gaps *gp)
{
	gp->g = gp->buf;
	gp->n = 0;
	gp->cap = NVH_TX_INLINE_GAPS;
}
static inline void
nvh_tx_gaps_fini(struct nvh_tx_gaps *gp)
{
	if (gp->g != gp->buf)
		free(gp->g);
	nvh_tx_gaps_init(gp);
}
/* The index in tx->fresh of the new object at `off`, or -1; forgetting
 * one (its block unreserved). */
long nvh_tx_fresh_find(const struct nvh_tx *tx, uint64_t off);
void nvh_tx_fresh_drop(struct nvh_tx *tx, size_t i);
/* Free the claimed block k at commit (unclaimed if out of memory). */
int nvh_tx_free_block(struct nvh_tx *tx, const struct nvh_blk *k);
/* The outermost transaction ends: nvh_tx_end_keep, and the thread is in
 * no transaction any more. */
struct nvh_lane *nvh_tx_close(struct nvh_tx *tx);
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
/* recovery.c: at open, between the log's scan and its replay: roll back
 * the transactions that did not commit (R2) and the commits that may not
 * have completed (R3, marked in the scan so the replay skips them). */
int nvh_tx_recover(struct nvh_pool *pool, struct nvh_log_recovery *r);
/* tx.c: keep a finished transaction's memory for the thread's next one. */
void nvh_tx_recycle(struct nvh_tx *tx);

#endif
