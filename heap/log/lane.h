/*
 * lane.h -- the log (docs/layers.md): lanes (the per-thread rings of
 * records), the global sequence number, commits of atomic operations,
 * checkpoints and the checkpoint line (ckpt.c), reading the log
 * (logscan.c), replay at open (replay.c), its read-only verification
 * (verify.c) and repair (repair.c).  It knows the pool (heap/pool.h) and
 * nothing above: where lanes, the checkpoint line and the words records
 * may target lie comes from the heap as data (struct nvh_log_geom).
 */
#ifndef NVH_LOG_LANE_H
#define NVH_LOG_LANE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "heap/layout.h"
#include "heap/log/redo.h"

struct nvh_pool;
struct nvh_persist;

struct nvh_lane {
	pthread_mutex_t lock;    /* held by the thread using the lane */
	int pass_marked;         /* the pass holds only its start marker */
	int closing;             /* nvh_close passed it (under lock): taken
				  * by nobody from then on */
	_Atomic int in_commit;   /* between taking a seq and applying */
	_Atomic unsigned releasing; /* threads in nvh_lane_release past
				  * the unlock, still reading the lanes'
				  * state (nvh_lanes_quiesce waits for 0) */
	uint32_t index;
	uint32_t head;           /* ring offset of the next record */
	uint64_t last_seq;       /* of the last record written this pass */
	char *ring;
	/* lines applied in place since the last checkpoint: a set (open
	 * addressing, key = pool offset of the line + 1, 0 = empty); only the
	 * lane's holder inserts, inside in_commit */
	uint64_t *targets;
	size_t ntargets, cap;
	uint64_t pass;           /* passes ended since open: what a holder
				  * kept for the pass (heap/alloc.c,
				  * nvh_lane_keep) may go once it changed */
	int tx_active;           /* a transaction holds the lane */
	int entered;             /* nvh_lane_enter done, commit not yet */
} __attribute__((aligned(64)));

/* A span of pool offsets. */
struct nvh_span {
	uint64_t off, len;
};

/*
 * Where the log lives and what its records may name, filled by the heap
 * from its header (nvh_heap_log_geom) and handed down at open: the log
 * validates every record against it (R1) without knowing the heap.
 */
struct nvh_log_geom {
	unsigned nlanes;
	uint64_t lanes_off, ckpt_off;
	struct nvh_span target[4]; /* redo entries: 8-byte words in these */
	unsigned ntarget;
	struct nvh_span data;      /* undo and commit ranges: inside this, */
	uint64_t slot[2];          /* or one of these 8-byte slots */
	/* and what the spans miss, asked of the heap (its segments, which
	 * growth adds while the pool is open); NULL: nothing */
	int (*more_target)(const void *arg, uint64_t off);
	int (*more_data)(const void *arg, uint64_t off, uint64_t len);
	const void *more_arg;
};

struct nvh_lanes {
	struct nvh_log_geom geom; /* set at open, read-only pools too */
	unsigned n;               /* lanes set up (0: read-only) */
	struct nvh_lane *lane;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	unsigned waiting;
	_Atomic unsigned next_assign; /* preferred lane of new threads */
	pthread_mutex_t ckpt_lock;    /* one checkpoint at a time */
	struct nvh_ckpt *ckpt;        /* the checkpoint line in the pool */
	int ckpt_slot;                /* its slot holding ckpt_durable */
	uint64_t ckpt_durable;        /* guarded by each lane's lock + ckpt_lock */
	_Atomic uint64_t ckpt_published;
	_Atomic uint64_t checkpoints; /* completed since open */
	_Atomic int ckpt_barrier __attribute__((aligned(64)));
	_Atomic uint64_t seq __attribute__((aligned(64))); /* next to assign */
};

/* The log's DRAM state (pool->lanes), with no lane set up yet: every
 * open makes it, read-only ones too (they scan and verify). */
int nvh_log_open(struct nvh_pool *pool, const struct nvh_log_geom *g);
/* Frees it, and the lanes if set up. */
void nvh_log_close(struct nvh_pool *pool);
/* Set the lanes up: reads and validates the checkpoint line (NVH_ECORRUPT
 * if damaged) and upgrades its legacy form (ckpt.c); read-write opens
 * only. */
int nvh_lanes_init(struct nvh_pool *pool);

/* Is `off` a word a redo entry may target; is [off, off+len) a range an
 * undo or commit record may cover (ranges ending at the data's end
 * included)? */
int nvh_log_target_ok(const struct nvh_log_geom *g, uint64_t off);
int nvh_log_range_ok(const struct nvh_log_geom *g, uint64_t off,
		     uint64_t len);

int nvh_seq_exhausted(uint64_t seq);

/* Take the next sequence number (for a record or a transaction id);
 * refuses (EOVERFLOW, nothing written) beyond `limit` (NVH_SEQ_LIMIT, or
 * NVH_SEQ_ABORT_LIMIT for a rollback's record) instead of wrapping.
 * (Birth serials come from the same counter unchecked: an allocation's
 * record then fails.) */
static inline int
nvh_seq_take(struct nvh_lanes *ls, uint64_t limit, uint64_t *out)
{
	uint64_t s = atomic_fetch_add(&ls->seq, 1);
	*out = s;
	if (__builtin_expect(s > limit, 0))
		return nvh_seq_exhausted(s);
	return 0;
}

/* Take a lane for the calling thread (preferring its own; waiting while
 * all are busy) and give it back. */
struct nvh_lane *nvh_lane_acquire(struct nvh_pool *pool, unsigned *pref);
/* nvh_close, holding every lane marked closing: 0 once no thread still
 * reads the lanes' state (a release's tail) and none waits for a lane;
 * -EBUSY if one waits (it is in an operation: the close is refused). */
int nvh_lanes_quiesce(struct nvh_pool *pool);
void nvh_lane_release(struct nvh_pool *pool, struct nvh_lane *lane);

/*
 * Commit a record from the lane the caller holds: make room in the ring,
 * take a sequence number, write the record, fence (the commit point), then
 * apply its entries in place (unflushed; the next checkpoint flushes
 * them).  `committed` (if not NULL) runs between the fence and the
 * application: the operation is durable but not yet visible.  Fails (and
 * nothing is applied) only if the ring cannot take the record or the fence
 * reports an I/O error.
 */
int nvh_lane_commit(struct nvh_pool *pool, struct nvh_lane *lane,
		    struct nvh_rec *rec, void (*committed)(void *arg),
		    void *arg);

/*
 * The same, with the record placed at `dst`: the lane's ring at its head
 * (in_ring) or a chunk of the caller's transaction.  No ring restart: for
 * transactions, whose earlier records must stay.
 */
int nvh_lane_commit_at(struct nvh_pool *pool, struct nvh_lane *lane,
		       struct nvh_rec *rec, char *dst, int in_ring,
		       void (*committed)(void *arg), void *arg);

/*
 * Enter the commit section early, before flushing what the commit covers:
 * entering is a locked instruction, which would otherwise wait for those
 * flushes to complete (a second barrier's worth of stall).  The next
 * nvh_lane_commit_at then does not enter again; nvh_lane_leave undoes an
 * enter not followed by a commit.  No checkpoint may be taken in between
 * (it waits for commit sections): place the record first.
 */
void nvh_lane_enter(struct nvh_pool *pool, struct nvh_lane *lane);
void nvh_lane_leave(struct nvh_lane *lane);

/* Log a record without entries (UNDO, ABORT, CHUNK) at dst: take a
 * sequence number, seal, copy, fence. */
int nvh_lane_log(struct nvh_pool *pool, struct nvh_lane *lane,
		 struct nvh_rec *rec, char *dst, int in_ring);
/* The same without the fence: several records, then one fence (the
 * caller's).  The lane counts the record as written at once. */
int nvh_lane_log_nodrain(struct nvh_pool *pool, struct nvh_lane *lane,
			 struct nvh_rec *rec, char *dst, int in_ring);

/* Free bytes at the ring's head. */
static inline uint32_t
nvh_lane_room(const struct nvh_lane *l)
{
	return NVH_LANE_SIZE - l->head;
}

/* A transaction takes the lane: start a new pass if the old one is dead,
 * checkpoint first if less than `want` bytes are free. */
int nvh_lane_tx_start(struct nvh_pool *pool, struct nvh_lane *lane,
		      uint32_t want);

/* Flush everything applied in place, then advance the checkpoint.  The
 * caller must not be inside a commit. */
int nvh_checkpoint(struct nvh_pool *pool);

/* ---- the checkpoint line (ckpt.c; format: heap/layout.h) ---- */

enum { NVH_CKPT_EMPTY, NVH_CKPT_VALID, NVH_CKPT_BAD };

struct nvh_ckpt_view {
	uint64_t seq;        /* the checkpoint */
	int cur;             /* its slot; the next store goes to the other */
	int legacy;          /* the legacy form: slot A's seq word alone */
	int state[2];        /* NVH_CKPT_* of slots A and B */
	int reserved_dirty;  /* reserved words not zero (ignored) */
	char why[2][96];     /* what is wrong with a BAD slot */
};

uint64_t nvh_ckpt_check(uint64_t seq, int slot);
/* What the line says: 0, or -NVH_ECORRUPT (no valid slot, or a seq above
 * NVH_SEQ_MAX) with the message naming the slots.  Reads only. */
int nvh_ckpt_read(const struct nvh_ckpt *line, struct nvh_ckpt_view *v);
/* Write seq into the slot not in use (*cur) and persist it (one barrier);
 * on success that slot is current. */
int nvh_ckpt_store(struct nvh_persist *p, struct nvh_ckpt *line, int *cur,
		   uint64_t seq);
/* Write {seq, check} into one slot and persist it. */
int nvh_ckpt_write_slot(struct nvh_persist *p, struct nvh_ckpt *line,
			int slot, uint64_t seq);
/* A legacy line gets slot A's check value (one 8-byte store); else no-op. */
int nvh_ckpt_upgrade(struct nvh_persist *p, struct nvh_ckpt *line,
		     const struct nvh_ckpt_view *v);

/* ---- reading the log (logscan.c) ---- */

/* A valid record of a lane's current pass or of one of its chunks. */
struct nvh_log_ref {
	uint64_t seq;
	const struct nvh_rec_hdr *h;
	uint64_t ring_off;  /* pool offset of the ring record that leads to it:
			     * itself, or the CHUNK record of its chunk */
	unsigned lane;
	int rollback;       /* recovery: its transaction is undone */
};

/* A sealed record that is not valid. */
struct nvh_log_damage {
	unsigned lane;
	uint64_t off, ring_off; /* the record; the ring record leading to it */
	uint64_t seq;
	const char *why;
};

struct nvh_log_scan {
	struct nvh_pool *pool;   /* in */
	/* in: NULL, the first damaged record ends the scan (-NVH_ECORRUPT,
	 * the message says which and why); else each is reported here and
	 * the scan goes on past it */
	void (*damaged)(void *arg, const struct nvh_log_damage *d);
	void *arg;
	struct nvh_log_ref *r;   /* out: the valid records, in scan order */
	size_t n, cap;
	uint64_t maxseq;         /* largest seq of any record found (0: none) */
	unsigned maxlane;        /* the lane it is in */
	uint64_t ndamaged;
	/* out: the newest valid record past the end of its lane's current
	 * pass (0: none).  Past the end lie only older passes, whose records
	 * a lane overwrites only once a checkpoint covered them (C3), so one
	 * newer than the checkpoint means a damaged record cut the pass
	 * short: recovery would lose what follows it. */
	uint64_t beyond_seq;
	unsigned beyond_lane;
	uint64_t beyond_off, beyond_end; /* its pool offset, the pass end's */
};

/* Read every lane (R1); works on read-only pools.  0, -ENOMEM or
 * -NVH_ECORRUPT.  nvh_log_scan_fini frees s->r, whatever the result. */
int nvh_log_scan(struct nvh_log_scan *s);
void nvh_log_scan_fini(struct nvh_log_scan *s);

/* ---- verification (verify.c) ---- */

/*
 * Find, without writing, everything in the log that a read-write open
 * would refuse or replay wrongly: a damaged checkpoint line, a checkpoint
 * below the records of a cleanly closed pool, damaged records.  Prints
 * each as "problem: ..." to `out` (if not NULL) and adds their number to
 * *problems.  Works on pools opened read-only.  Returns 0, or -ENOMEM.
 */
int nvh_log_verify(struct nvh_pool *pool, FILE *out, uint64_t *problems);

/* ---- recovery at open (replay.c; the rules: docs/recovery.md) ---- */

/*
 * Recovery reads the log once and runs in three steps, from the top of
 * the open (objects/open.c): nvh_log_recover_scan (R1, and all of a clean
 * pool's recovery), the transactions' rollbacks (tx/recovery.c: R2, R3,
 * which mark rolled-back commits in the scan), nvh_log_replay (R4, R5).
 */
struct nvh_log_recovery {
	struct nvh_log_scan s;
	uint64_t ckpt;          /* the checkpoint line's seq at open */
	uint64_t *lane_last;    /* per lane: seq of its last record */
	int active;             /* records to roll back or replay remain */
	size_t undone;          /* UNDO records rolled back (tx layer) */
};

/* `scan_lanes` = 0: the pool was closed cleanly (every record is dead). */
int nvh_log_recover_scan(struct nvh_pool *pool, int scan_lanes,
			 struct nvh_log_recovery *r);
int nvh_log_replay(struct nvh_pool *pool, struct nvh_log_recovery *r);
void nvh_log_recover_fini(struct nvh_log_recovery *r);

/* ---- repair (repair.c) ---- */

/* Rewrite what keeps a read-write open from the log when nothing is lost
 * by it (docs/recovery.md): the checkpoint line, passes cut by damage. */
int nvh_log_repair(struct nvh_pool *pool, FILE *out);

#endif
