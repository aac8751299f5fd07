/*
 * lane.c -- lanes, commits and checkpoints.
 *
 * Commit protocol of a redo record (one persist barrier):
 *
 *   (C1) The record, with its checksum and sequence number, is durable
 *        before any of its entries is applied in place; so an in-place
 *        word that reaches the medium early (eviction) never exposes an
 *        operation whose record could be lost.
 *   (C2) A checkpoint makes every word applied in place by records with
 *        seq <= S durable before it writes S to the checkpoint line.
 *   (C3) A lane reuses ring space only for records with seq <= the
 *        durable checkpoint; so every live record (seq > checkpoint) is
 *        intact until a checkpoint covers it.
 *   (C4) An operation takes its sequence number after reading everything
 *        it depends on and applies its entries before leaving the commit
 *        section; so if B depends on A, seq(A) < seq(B), and a checkpoint
 *        that waited for the commit sections to drain covers A whenever it
 *        covers B.
 *   (C5) The checkpoint store is crash-atomic and checked: a torn store
 *        leaves the previous checkpoint readable, which is safe because
 *        of (C3): ckpt_published advances only after the store's fence
 *        (heap/log/ckpt.c argues it).  A line that fails its checks is
 *        NVH_ECORRUPT at open, never taken at face value.
 *   (C6) Sequence numbers never wrap: operations take them only up to
 *        NVH_SEQ_LIMIT and fail with EOVERFLOW beyond (heap/layout.h; a
 *        rollback's ABORT record has a higher limit, so a transaction can
 *        always end), a checkpoint never exceeds NVH_SEQ_MAX, so nothing
 *        nvheap writes is refused by a later open.
 *
 * Synchronisation: a lane is held (its mutex) by one thread at a time.
 * The commit section is bracketed by the lane's in_commit flag; a
 * checkpoint raises ckpt_barrier, waits until no lane is in a commit
 * section, takes the sequence number and every lane's list of applied
 * words, lowers the barrier, and only then flushes.  The fast path takes
 * no shared lock: one seq_cst store and one load of a read-mostly flag,
 * and the fetch-add of the global sequence number.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/pool.h"
#include "heap/log/lane.h"

int
nvh_log_open(struct nvh_pool *pool, const struct nvh_log_geom *g)
{
	struct nvh_lanes *ls = aligned_alloc(64, (sizeof(*ls) + 63) & ~(size_t)63);
	if (!ls)
		return nvh_err(ENOMEM, "out of memory for the log");
	memset(ls, 0, sizeof(*ls));
	ls->geom = *g;
	pool->lanes = ls;
	return 0;
}

int
nvh_log_target_ok(const struct nvh_log_geom *g, uint64_t off)
{
	if (off % 8)
		return 0;
	for (unsigned i = 0; i < g->ntarget; i++)
		if (off >= g->target[i].off &&
		    off - g->target[i].off < g->target[i].len)
			return 1;
	return g->more_target && g->more_target(g->more_arg, off);
}

int
nvh_log_range_ok(const struct nvh_log_geom *g, uint64_t off, uint64_t len)
{
	if ((off == g->slot[0] || off == g->slot[1]) && len <= 8)
		return 1;
	uint64_t end = g->data.off + g->data.len;
	if (off >= g->data.off && off <= end && len <= end - off)
		return 1;
	return g->more_data && g->more_data(g->more_arg, off, len);
}

int
nvh_lanes_init(struct nvh_pool *pool)
{
	struct nvh_lanes *ls = pool->lanes;
	const struct nvh_log_geom *g = &ls->geom;
	unsigned n = g->nlanes;
	uint64_t lanes_off = g->lanes_off, ckpt_off = g->ckpt_off;
	ls->lane = aligned_alloc(64, n * sizeof(*ls->lane));
	if (!ls->lane)
		return nvh_err(ENOMEM, "out of memory for %u lanes", n);
	memset(ls->lane, 0, n * sizeof(*ls->lane));
	ls->n = n;
	for (unsigned i = 0; i < n; i++) {
		struct nvh_lane *l = &ls->lane[i];
		pthread_mutex_init(&l->lock, NULL);
		l->index = i;
		l->ring = pool->base + lanes_off + (uint64_t)i * NVH_LANE_SIZE;
	}
	pthread_mutex_init(&ls->wait_lock, NULL);
	pthread_cond_init(&ls->wait_cond, NULL);
	pthread_mutex_init(&ls->ckpt_lock, NULL);
	ls->ckpt = (struct nvh_ckpt *)(pool->base + ckpt_off);
	struct nvh_ckpt_view v;
	int rc = nvh_ckpt_read(ls->ckpt, &v);
	if (rc) {
		char m[512];
		snprintf(m, sizeof(m), "%s", nvh_errormsg());
		return nvh_err(-rc, "%s, at pool offset %" PRIu64 " (`nvheap "
			       "check --repair` rebuilds it from the lanes if "
			       "the pool was closed cleanly)", m, ckpt_off);
	}
	/* (C5) from now on the line is read only in its checked form */
	rc = nvh_ckpt_upgrade(&pool->persist, ls->ckpt, &v);
	if (rc)
		return rc;
	ls->ckpt_slot = v.cur;
	if (!pool->rdonly && v.state[!v.cur] == NVH_CKPT_BAD) {
		/* (C5) A damaged (or, after a crash, torn) spare slot is
		 * rewritten now with the checkpoint in force, the store the
		 * next one would make: the line means what it meant, and the
		 * open pool's check no longer reports what the next store
		 * would silently cure.  Persisted before anything reads the
		 * line again (nvh_ckpt_write_slot). */
		rc = nvh_ckpt_store(&pool->persist, ls->ckpt, &ls->ckpt_slot,
				    v.seq);
		if (rc)
			return rc;
	}
	ls->ckpt_durable = v.seq;
	atomic_store(&ls->ckpt_published, ls->ckpt_durable);
	atomic_store(&ls->seq, ls->ckpt_durable + 1); /* <= NVH_SEQ_MAX + 1 */
	return 0;
}

int
nvh_seq_exhausted(uint64_t seq)
{
	return nvh_err(EOVERFLOW, "sequence numbers exhausted: the next would "
		       "be %" PRIu64 ", operations stop at %" PRIu64 " so that "
		       "they never wrap (the pool still opens and reads; copy "
		       "its data to a new pool)", seq, NVH_SEQ_LIMIT);
}

void
nvh_log_close(struct nvh_pool *pool)
{
	struct nvh_lanes *ls = pool->lanes;
	if (!ls)
		return;
	if (ls->lane) {
		for (unsigned i = 0; i < ls->n; i++) {
			pthread_mutex_destroy(&ls->lane[i].lock);
			free(ls->lane[i].targets);
		}
		pthread_mutex_destroy(&ls->wait_lock);
		pthread_cond_destroy(&ls->wait_cond);
		pthread_mutex_destroy(&ls->ckpt_lock);
		free(ls->lane);
	}
	free(ls);
	pool->lanes = NULL;
}

static struct nvh_lane *
try_all(struct nvh_lanes *ls, unsigned pref)
{
	for (unsigned i = 0; i < ls->n; i++) {
		struct nvh_lane *l = &ls->lane[(pref + i) % ls->n];
		if (pthread_mutex_trylock(&l->lock) == 0) {
			if (!l->closing)
				return l;
			pthread_mutex_unlock(&l->lock);
		}
	}
	return NULL;
}

struct nvh_lane *
nvh_lane_acquire(struct nvh_pool *pool, unsigned *pref)
{
	struct nvh_lanes *ls = pool->lanes;
	if (*pref >= ls->n)
		*pref = atomic_fetch_add(&ls->next_assign, 1) % ls->n;
	struct nvh_lane *l = try_all(ls, *pref);
	if (l)
		return l;
	/* All busy: wait for a release. */
	pthread_mutex_lock(&ls->wait_lock);
	__atomic_add_fetch(&ls->waiting, 1, __ATOMIC_SEQ_CST);
	while (!(l = try_all(ls, *pref)))
		pthread_cond_wait(&ls->wait_cond, &ls->wait_lock);
	__atomic_sub_fetch(&ls->waiting, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&ls->wait_lock);
	return l;
}

void
nvh_lane_release(struct nvh_pool *pool, struct nvh_lane *lane)
{
	struct nvh_lanes *ls = pool->lanes;
	/* Counted before the unlock (which orders it before any close that
	 * takes the lane next) until the last read of ls below: a close
	 * that got every lane waits for the count before freeing ls. */
	atomic_fetch_add_explicit(&lane->releasing, 1, memory_order_relaxed);
	pthread_mutex_unlock(&lane->lock);
	if (__atomic_load_n(&ls->waiting, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&ls->wait_lock);
		pthread_cond_broadcast(&ls->wait_cond);
		pthread_mutex_unlock(&ls->wait_lock);
	}
	atomic_fetch_sub_explicit(&lane->releasing, 1, memory_order_release);
}

int
nvh_lanes_quiesce(struct nvh_pool *pool)
{
	struct nvh_lanes *ls = pool->lanes;
	for (unsigned i = 0; i < ls->n; i++)
		while (atomic_load_explicit(&ls->lane[i].releasing,
					    memory_order_acquire))
			sched_yield(); /* a few instructions from its end */
	/* A thread waiting for a lane is inside an operation; it waits on
	 * wait_cond, which the close would destroy. */
	pthread_mutex_lock(&ls->wait_lock);
	int busy = __atomic_load_n(&ls->waiting, __ATOMIC_SEQ_CST) != 0;
	pthread_mutex_unlock(&ls->wait_lock);
	return busy ? -EBUSY : 0;
}

static uint64_t
line_hash(uint64_t key)
{
	key ^= key >> 29;
	key *= 0xbf58476d1ce4e5b9ull;
	return key ^ (key >> 32);
}

static int
set_insert(uint64_t *tab, size_t cap, uint64_t key)
{
	size_t i = line_hash(key) & (cap - 1);
	while (tab[i]) {
		if (tab[i] == key)
			return 0;
		i = (i + 1) & (cap - 1);
	}
	tab[i] = key;
	return 1;
}

/* Remember the line of `target` for the next checkpoint (a set: an
 * operation repeated on the same words does not grow it). */
static void
note_target(struct nvh_pool *pool, struct nvh_lane *l, uint64_t target)
{
	uint64_t key = (target & ~(uint64_t)(NVH_CACHELINE - 1)) + 1;
	if (2 * (l->ntargets + 1) > l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		uint64_t *n = calloc(cap, sizeof(*n));
		if (!n) {
			/* Cannot remember it: make it durable now instead
			 * (after C1, so this is only early, never wrong). */
			nvh_persist_range(&pool->persist, pool->base + target, 8);
			return;
		}
		for (size_t i = 0; i < l->cap; i++)
			if (l->targets[i])
				set_insert(n, cap, l->targets[i]);
		free(l->targets);
		l->targets = n;
		l->cap = cap;
	}
	l->ntargets += (size_t)set_insert(l->targets, l->cap, key);
}

static void
enter_commit(struct nvh_lanes *ls, struct nvh_lane *l)
{
	for (;;) {
		atomic_store(&l->in_commit, 1);
		if (!atomic_load(&ls->ckpt_barrier))
			return;
		atomic_store(&l->in_commit, 0);
		while (atomic_load(&ls->ckpt_barrier))
			sched_yield();
	}
}

/* The lane's pass is over: its chunks may be reused, and a new pass
 * starts with a marker at ring offset 0, durable before anything else
 * overwrites the old pass.  Without it the first record of the new pass,
 * torn, left the old pass readable from offset 0 but cut short where the
 * torn record's persisted lines fell: a committed transaction's UNDO
 * records without its COMMIT, which recovery rolled back over the newer
 * data (found by the crash explorer, scale-flush-btree: a drain step's
 * 8 KiB record after a wrap).  The marker's seq is the checkpoint: dead
 * itself, and not below any record the old pass holds (all dead, C3), so
 * a scan ends the pass at the first of them.  One barrier per pass. */
static int
new_pass(struct nvh_pool *pool, struct nvh_lane *l)
{
	l->pass++; /* what holders kept for the old pass may go (kept
		    * chunks: heap/alloc.c, nvh_lane_keep) */
	if (l->pass_marked)
		return 0; /* nothing written since the marker */
	uint64_t seq = atomic_load(&pool->lanes->ckpt_published);
	l->head = 0;
	l->last_seq = 0;
	if (!seq)
		return 0; /* a new pool: the ring holds no records yet */
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ABORT);
	struct nvh_abort_body ab = {0};
	int rc = nvh_rec_put(&rec, &ab, sizeof(ab));
	size_t size = nvh_rec_seal(&rec, seq);
	if (!rc)
		nvh_persist_memcpy_nodrain(&pool->persist, l->ring, rec.buf, size);
	nvh_rec_fini(&rec);
	/* (C3) the marker is durable before the old pass is overwritten */
	if (!rc)
		rc = nvh_persist_fence(&pool->persist);
	if (rc) {
		atomic_store(&pool->failed, rc);
		return rc;
	}
	l->head = (uint32_t)size;
	l->last_seq = seq;
	l->pass_marked = 1;
	return 0;
}

static void
written(struct nvh_lane *l, size_t size, uint64_t seq, int in_ring)
{
	if (in_ring)
		l->head += (uint32_t)size;
	l->last_seq = seq;
	l->pass_marked = 0;
}

void
nvh_lane_enter(struct nvh_pool *pool, struct nvh_lane *l)
{
	enter_commit(pool->lanes, l);
	l->entered = 1;
}

void
nvh_lane_leave(struct nvh_lane *l)
{
	if (l->entered) {
		l->entered = 0;
		atomic_store_explicit(&l->in_commit, 0, memory_order_release);
	}
}

int
nvh_lane_commit_at(struct nvh_pool *pool, struct nvh_lane *l,
		   struct nvh_rec *rec, char *dst, int in_ring,
		   void (*committed)(void *arg), void *arg)
{
	struct nvh_lanes *ls = pool->lanes;
	if (!l->entered)
		enter_commit(ls, l);
	l->entered = 0;
	uint64_t seq;
	int rc = nvh_seq_take(ls, NVH_SEQ_LIMIT, &seq);
	if (rc) {
		atomic_store(&l->in_commit, 0);
		return rc;
	}
	size_t size = nvh_rec_seal(rec, seq);
	nvh_persist_stream_nodrain(&pool->persist, dst, rec->buf, size);
	/* (C1) commit point: the record is durable, entries not yet applied
	 * (and everything the caller flushed before is durable with it). */
	rc = nvh_persist_fence(&pool->persist);
	if (rc) {
		/* Durability unknown: recovery will decide.  Refuse more work. */
		atomic_store(&pool->failed, rc);
		atomic_store(&l->in_commit, 0);
		return rc;
	}
	written(l, size, seq, in_ring);
	if (committed)
		committed(arg);
	struct nvh_rec_iter it;
	struct nvh_rec_op_ent e;
	nvh_rec_iter_init(&it, rec->buf);
	while (nvh_rec_next(&it, &e) == 1) {
		nvh_rec_apply(pool->base, &e);
		note_target(pool, l, e.target);
	}
	atomic_store_explicit(&l->in_commit, 0, memory_order_release);
	return 0;
}

int
nvh_lane_commit(struct nvh_pool *pool, struct nvh_lane *l,
		struct nvh_rec *rec, void (*committed)(void *arg), void *arg)
{
	struct nvh_lanes *ls = pool->lanes;
	size_t size = (rec->len + NVH_REC_ALIGN - 1) & ~(size_t)(NVH_REC_ALIGN - 1);
	if (size > NVH_LANE_SIZE)
		return nvh_err(ENOSPC, "redo record of %zu bytes exceeds the "
			       "lane ring (%u bytes)", size, NVH_LANE_SIZE);
	int rc = 0;
	if (l->last_seq <= atomic_load(&ls->ckpt_published)) {
		rc = new_pass(pool, l); /* (C3) every record of this pass is dead */
	} else if (l->head + size > NVH_LANE_SIZE) {
		rc = nvh_checkpoint(pool);
		if (!rc) /* (C3) the checkpoint covered all of ours */
			rc = new_pass(pool, l);
	}
	if (rc)
		return rc;
	return nvh_lane_commit_at(pool, l, rec, l->ring + l->head, 1, committed,
				  arg);
}

int
nvh_lane_log_nodrain(struct nvh_pool *pool, struct nvh_lane *l,
		     struct nvh_rec *rec, char *dst, int in_ring)
{
	/* (C6) a rollback's ABORT record may pass the operations' limit */
	int abort_rec = ((struct nvh_rec_hdr *)rec->buf)->kind == NVH_REC_ABORT;
	uint64_t seq;
	int rc = nvh_seq_take(pool->lanes, abort_rec ? NVH_SEQ_ABORT_LIMIT
						       : NVH_SEQ_LIMIT, &seq);
	if (rc)
		return rc;
	size_t size = nvh_rec_seal(rec, seq);
	/* No fence: the caller's next fence makes it durable.  Until then
	 * a crash may keep any subset of the records written so; a lost one
	 * ends its lane's pass there, and the caller has changed nothing
	 * they save before that fence (T1). */
	nvh_persist_stream_nodrain(&pool->persist, dst, rec->buf, size);
	written(l, size, seq, in_ring);
	return 0;
}

int
nvh_lane_log(struct nvh_pool *pool, struct nvh_lane *l, struct nvh_rec *rec,
	     char *dst, int in_ring)
{
	int rc = nvh_lane_log_nodrain(pool, l, rec, dst, in_ring);
	if (rc)
		return rc;
	/* The record (and whatever the caller flushed before) is durable
	 * before the caller goes on: for an UNDO record, before the data it
	 * saves is modified (tx/commit.c, T1). */
	rc = nvh_persist_fence(&pool->persist);
	if (rc)
		atomic_store(&pool->failed, rc);
	return rc;
}

int
nvh_lane_tx_start(struct nvh_pool *pool, struct nvh_lane *l, uint32_t want)
{
	struct nvh_lanes *ls = pool->lanes;
	int rc = 0;
	if (l->last_seq <= atomic_load(&ls->ckpt_published)) {
		rc = new_pass(pool, l);
	} else if (nvh_lane_room(l) < want) {
		rc = nvh_checkpoint(pool);
		if (!rc)
			rc = new_pass(pool, l);
	}
	if (rc)
		return rc;
	l->tx_active = 1;
	return 0;
}

int
nvh_checkpoint(struct nvh_pool *pool)
{
	struct nvh_lanes *ls = pool->lanes;
	pthread_mutex_lock(&ls->ckpt_lock);
	atomic_store(&ls->ckpt_barrier, 1);
	for (unsigned i = 0; i < ls->n; i++)
		while (atomic_load(&ls->lane[i].in_commit))
			sched_yield();
	/* (C6) past NVH_SEQ_LIMIT the counter keeps moving (failed takes,
	 * birth serials) but no record gets a seq above it */
	uint64_t s = atomic_load(&ls->seq) - 1;
	if (s > NVH_SEQ_MAX)
		s = NVH_SEQ_MAX;
	/* Flush every line applied in place by records <= s.  Lanes stay
	 * barred while we read their sets, so no commit adds to them; commits
	 * of records > s may begin once the bar is lowered, and their lines,
	 * flushed early or not, are the next checkpoint's business.  Lines
	 * of several lanes may be flushed twice: harmless. */
	for (unsigned i = 0; i < ls->n; i++) {
		struct nvh_lane *l = &ls->lane[i];
		for (size_t j = 0; l->ntargets && j < l->cap; j++) {
			if (!l->targets[j])
				continue;
			nvh_persist_flush(&pool->persist,
					  pool->base + l->targets[j] - 1,
					  NVH_CACHELINE);
			l->targets[j] = 0;
		}
		l->ntargets = 0;
	}
	atomic_store(&ls->ckpt_barrier, 0);

	int rc = 0;
	if (s > ls->ckpt_durable) {
		/* (C2) everything applied by records <= s is durable ... */
		rc = nvh_persist_fence(&pool->persist);
		/* ... before s is (C5: the slot not in use, one barrier):
		 * records <= s are dead from here. */
		if (!rc)
			rc = nvh_ckpt_store(&pool->persist, ls->ckpt,
					    &ls->ckpt_slot, s);
		if (!rc) {
			ls->ckpt_durable = s;
			atomic_store(&ls->ckpt_published, s);
			atomic_fetch_add(&ls->checkpoints, 1);
		} else {
			atomic_store(&pool->failed, rc);
		}
	}
	pthread_mutex_unlock(&ls->ckpt_lock);
	return rc;
}
