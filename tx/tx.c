/*
 * tx.c -- the transaction API and snapshots (nvh_tx_add).
 *
 * A transaction holds one lane from begin to end.  nvh_tx_add writes one
 * UNDO record holding the old bytes of every part of the range not yet
 * covered (by an earlier snapshot of this transaction or by an object it
 * allocated), then fences: the snapshot is durable before the caller
 * modifies the range (commit.c, T1).  Allocations are DRAM reservations
 * and frees DRAM claims until commit; neither writes to the medium.
 *
 * Handles: the caller names a transaction by a token, not by the address
 * of its state, which is recycled (the thread's next transaction has the
 * same address, so a handle kept after its commit would commit the next
 * transaction).  A token is bit 63 | the thread's serial (24 bits) << 39
 * | the thread's count of transactions (39 bits): no two transactions of
 * a process share one (up to 2^39 transactions per thread and 2^24
 * threads), none is an address (bit 63 is kernel space on the 64-bit
 * platforms nvheap runs on, so a stray dereference faults at once), and
 * making one costs no allocation and no shared atomic.  Every public
 * entry point turns the handle into the state (tx_of) by comparing it
 * with the thread's current transaction's.
 */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "heap/error.h"
#include "heap/pool.h"
#include "tx/tx.h"

_Static_assert(sizeof(void *) == 8, "handles are 64-bit tokens");

static _Thread_local struct nvh_tx *tls_tx;
/* The thread's last transaction, kept with its arrays for the next one. */
static _Thread_local struct nvh_tx *tls_spare;
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

/* ---- handles ---- */

#define H_TAG (1ull << 63)
#define H_SEQ_BITS 39
#define H_SEQ_MASK ((1ull << H_SEQ_BITS) - 1)

static _Atomic uint32_t h_threads;   /* serials given to threads */
static _Thread_local uint64_t h_base; /* H_TAG | serial << 39, 0: none yet */
static _Thread_local uint64_t h_seq;

/* The handle of the thread's next transaction. */
static uint64_t
handle_new(void)
{
	if (!h_base)
		h_base = H_TAG | (uint64_t)((atomic_fetch_add(&h_threads, 1) + 1) &
					    0xffffff) << H_SEQ_BITS;
	h_seq = (h_seq + 1) & H_SEQ_MASK;
	if (!h_seq)
		h_seq = 1;
	return h_base | h_seq;
}

static nvh_tx *
handle_of(const struct nvh_tx *tx)
{
	return (nvh_tx *)(uintptr_t)tx->handle;
}

/* h is not the thread's current transaction: NULL, with a message
 * saying what h is. */
static struct nvh_tx *
not_current(const void *h, const char *fn)
{
	struct nvh_tx *tx = tls_tx;
	uint64_t v = (uint64_t)(uintptr_t)h;
	if (!h)
		nvh_err(EINVAL, "%s: NULL transaction handle", fn);
	else if (!(v & H_TAG))
		nvh_err(EINVAL, "%s: %p is not a transaction handle", fn, h);
	else if ((v & ~H_SEQ_MASK) == h_base)
		nvh_err(EINVAL, "%s: stale transaction handle: its transaction "
			"was committed or aborted (this thread has %s)", fn,
			tx ? "another transaction open, which it leaves alone"
			   : "no transaction open");
	else
		nvh_err(EINVAL, "%s: the transaction handle belongs to another "
			"thread (or is stale): a transaction is used only by the "
			"thread that began it", fn);
	return NULL;
}

/* The transaction handle h names: the calling thread's current one (its
 * handle, or the transaction itself from inside the library).  Else NULL,
 * with a message saying what h is. */
static inline struct nvh_tx *
tx_of(const void *h, const char *fn)
{
	struct nvh_tx *tx = tls_tx;
	if (tx && ((uint64_t)(uintptr_t)h == tx->handle || h == tx))
		return tx;
	return not_current(h, fn);
}

static void
spare_free(void *p)
{
	struct nvh_tx *tx = p;
	nvh_snapset_fini(&tx->snaps);
	free(tx->fresh);
	free(tx->frees);
	free(tx->aux);
	free(tx->undo);
	nvh_u64map_fini(&tx->fresh_ix);
	free(tx);
}

static void
spare_init(void)
{
	pthread_key_create(&spare_key, spare_free);
}

/* A cleared transaction, reusing the thread's spare if there is one. */
static struct nvh_tx *
tx_new(void)
{
	struct nvh_tx *tx = tls_spare;
	if (tx) {
		tls_spare = NULL;
		pthread_setspecific(spare_key, NULL);
		return tx;
	}
	return calloc(1, sizeof(*tx));
}

void
nvh_tx_recycle(struct nvh_tx *tx)
{
	if (tls_spare) {
		spare_free(tx);
		return;
	}
	nvh_snapset_clear(&tx->snaps);
	tx->nsnap = tx->nfrees = tx->naux = tx->nundo = 0;
	nvh_tx_forget_fresh(tx);
	tx->obj = NULL; /* (the objects layer's end took it back) */
	tx->chunk_head = 0;
	tx->ring_used = 0;
	tx->err = 0;
	tx->depth = 0;
	tx->lane = NULL;
	tx->pool = NULL;
	tx->handle = 0;
	pthread_once(&spare_once, spare_init);
	tls_spare = tx;
	pthread_setspecific(spare_key, tx); /* freed at thread exit */
}

struct nvh_tx *
nvh_tx_running(const nvh_pool *pool)
{
	return tls_tx && tls_tx->pool == pool ? tls_tx : NULL;
}

#undef nvh_tx_current /* the public one: the caller's handle */
NVH_API nvh_tx *
nvh_tx_current(nvh_pool *pool)
{
	return tls_tx && tls_tx->pool == pool ? handle_of(tls_tx) : NULL;
}

/* Mark the transaction failed (the first error sticks) and say why. */
static int
tx_fail(struct nvh_tx *tx, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int tx_check(struct nvh_tx *tx, const char *fn);

static int
tx_fail(struct nvh_tx *tx, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int rc = nvh_err(code, "%s: %s", tx->pool->path, msg);
	if (!tx->err) { /* later errors repeat the first one's reason */
		tx->err = code;
		snprintf(tx->why, sizeof(tx->why), "%s", msg);
	}
	return rc;
}

int
nvh_tx_failf(struct nvh_tx *tx, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tx_fail(tx, code, "%s", msg);
}

int
nvh_tx_check(struct nvh_tx *tx, const char *fn)
{
	struct nvh_tx *t = tx_of(tx, fn);
	return t ? tx_check(t, fn) : -EINVAL;
}

/* Fail fast on a transaction that already failed (tx: from tx_of). */
static int
tx_check(struct nvh_tx *tx, const char *fn)
{
	if (nvh_pool_usable(tx->pool, fn)) /* closed, or inherited by fork */
		return -errno;
	if (tx->err)
		return nvh_err(tx->err, "%s: %s: the transaction failed earlier: "
			       "%s", fn, tx->pool->path, tx->why);
	return 0;
}

/* nvh_tx_enter, inline for this file's entry points. */
static inline int
enter(struct nvh_tx **h, const char *fn)
{
	struct nvh_tx *tx = tx_of(*h, fn);
	if (!tx)
		return -EINVAL;
	*h = tx;
	/* tx_check has the fork check too; the fast path needs it as well */
	return tx->err || tx->pool->gen != nvh_process_gen ? tx_check(tx, fn) : 0;
}

int
nvh_tx_enter(struct nvh_tx **h, const char *fn)
{
	return enter(h, fn);
}

nvh_tx *
nvh_tx_start(nvh_pool *pool)
{
	if (!pool)
		return nvh_err_null(EINVAL, "nvh_tx_begin: NULL pool");
	if (nvh_pool_usable(pool, "nvh_tx_begin")) /* closed, or forked */
		return NULL;
	if (tls_tx) {
		if (tls_tx->pool == pool) {
			tls_tx->depth++;
			return handle_of(tls_tx);
		}
		return nvh_err_null(EBUSY, "nvh_tx_begin: %s: this thread is "
				    "already in a transaction on %s", pool->path,
				    tls_tx->pool->path);
	}
	if (pool->rdonly)
		return nvh_err_null(EROFS, "nvh_tx_begin: %s: pool is open "
				    "read-only", pool->path);
	if (atomic_load(&pool->failed))
		return nvh_err_null(EIO, "nvh_tx_begin: %s: an earlier write to "
				    "the medium failed; reopen the pool",
				    pool->path);
	struct nvh_tx *tx = tx_new();
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!tx || !t) {
		if (tx)
			nvh_tx_recycle(tx);
		return nvh_err_null(ENOMEM, "nvh_tx_begin: out of memory");
	}
	tx->pool = pool;
	tx->t = t;
	tx->depth = 1;
	tx->lane = nvh_lane_acquire(pool, &t->lane);
	/* A unique id: a sequence number no record carries (taken before
	 * any record of the transaction: recovery checks id < seq). */
	int rc = nvh_seq_take(pool->lanes, NVH_SEQ_LIMIT, &tx->id);
	if (!rc)
		rc = nvh_lane_tx_start(pool, tx->lane, 2 * NVH_TX_RING_RESERVE);
	if (rc) {
		nvh_lane_put(pool, tx->lane);
		nvh_tx_recycle(tx);
		nvh_err_prefix("nvh_tx_begin: %s: ", pool->path);
		return NULL;
	}
	tx->handle = handle_new();
	tls_tx = tx;
	return handle_of(tx);
}

struct nvh_tx *
nvh_tx_lookup(const void *h, const char *fn)
{
	return tx_of(h, fn);
}

NVH_API int
nvh_tx_error(const nvh_tx *h)
{
	const struct nvh_tx *tx = tx_of(h, "nvh_tx_error");
	return tx ? tx->err : EINVAL;
}

/* ---- ranges ---- */

/* Is `off` inside an object this transaction allocated? */
long
nvh_tx_fresh_at(const struct nvh_tx *tx, uint64_t off, uint64_t *in)
{
	uint64_t a, b;
	int live;
	if (!tx->nfresh ||
	    nvh_heap_geometry(tx->pool->heap, off, &a, &b, in, &live) || live)
		return -1;
	const uint64_t *ix = nvh_u64map_find(&tx->fresh_ix, off - *in);
	return ix ? (long)*ix : -1;
}

static int
in_fresh(const struct nvh_tx *tx, uint64_t off, uint64_t *end)
{
	uint64_t in;
	long i = nvh_tx_fresh_at(tx, off, &in);
	if (i < 0)
		return 0;
	*end = tx->fresh[i].blk.off + nvh_blk_size(tx->pool, &tx->fresh[i].blk);
	return 1;
}

/* The start of the first new object inside (cur, stop), or stop. */
static uint64_t
next_fresh(const struct nvh_tx *tx, uint64_t cur, uint64_t stop)
{
	if (tx->nfresh <= 32) {
		for (size_t k = 0; k < tx->nfresh; k++) {
			uint64_t s = tx->fresh[k].blk.off;
			if (s > cur && s < stop)
				stop = s;
		}
		return stop;
	}
	/* walk the block slots of the range (cur is in no new object) */
	uint64_t a, b, in;
	int live;
	while (cur < stop) {
		if (nvh_heap_geometry(tx->pool->heap, cur, &a, &b, &in, &live)) {
			/* not in a block: skip to the next arena */
			cur = nvh_heap_next_arena(tx->pool->heap, cur);
			continue;
		}
		uint64_t start = cur - in;
		if (in == 0 && !live && nvh_u64map_find(&tx->fresh_ix, cur))
			return cur;
		struct nvh_heap *h = tx->pool->heap;
		uint64_t sz = h->arena[a].kind == NVH_K_LARGE
			      ? h->arena[a].run * (uint64_t)NVH_ARENA_SIZE
			      : h->cls[h->arena[a].cls].block_size;
		cur = start + sz;
	}
	return stop;
}

static int
gaps_grow(struct nvh_tx_gaps *gp)
{
	size_t cap = 2 * gp->cap;
	struct nvh_range *m = gp->g == gp->buf ? malloc(cap * sizeof(*m))
			      : realloc(gp->g, cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (gp->g == gp->buf)
		memcpy(m, gp->buf, gp->n * sizeof(*m));
	gp->g = m;
	gp->cap = cap;
	return 0;
}

/* Append to *gp the parts of [off, end) covered by neither snapshots nor
 * new objects. */
static int
gaps(const struct nvh_tx *tx, uint64_t off, uint64_t end,
     struct nvh_tx_gaps *gp)
{
	const struct nvh_snapset *ss = &tx->snaps;
	struct nvh_snappos i = nvh_snapset_find(ss, off);
	uint64_t cur = off;
	while (cur < end) {
		uint64_t fe;
		const struct nvh_range *sr = nvh_snapset_at(ss, i);
		if (sr && sr->off <= cur) {
			cur = sr->off + sr->len;
			nvh_snapset_next(ss, &i);
			continue;
		}
		if (in_fresh(tx, cur, &fe)) {
			cur = fe;
			continue;
		}
		/* an uncovered stretch up to the next covered byte */
		uint64_t stop = end;
		if (sr && sr->off < stop)
			stop = sr->off;
		stop = next_fresh(tx, cur, stop);
		if (gp->n == gp->cap && gaps_grow(gp))
			return -ENOMEM;
		gp->g[gp->n++] = (struct nvh_range){cur, stop - cur};
		cur = stop;
	}
	return 0;
}

/* ---- what nvh_tx_add accepts ---- */

/* What the arena bytes at `off`, in no block slot, are. */
static const char *
not_a_block(struct nvh_heap *h, uint64_t off)
{
	uint64_t a, in;
	if (nvh_arena_at(h, off, &a, &in))
		return "outside the arenas";
	const struct nvh_arena_rt *r = &h->arena[a];
	if (r->kind != NVH_K_SMALL)
		return "in a free arena";
	if (in < 16ull * h->cls[r->cls].nblocks)
		return "an object header (reference count, type id)";
	return "slack of an arena, outside its blocks";
}

int
nvh_tx_span(struct nvh_tx *tx, uint64_t off, uint64_t len,
	    struct nvh_tx_span *sp, const char *fn)
{
	nvh_pool *pool = tx->pool;
	struct nvh_heap *h = pool->heap;
	uint64_t a, b, in;
	int live;
	if (tx->last.size && off >= tx->last.start &&
	    off - tx->last.start < tx->last.size &&
	    len <= tx->last.size - (off - tx->last.start)) {
		*sp = tx->last; /* the object the last range was in */
		return 0;
	}
	if (off == h->hdr.root_off)
		return tx_fail(tx, EINVAL, "%s: pool offset %" PRIu64
			       "+%" PRIu64 " is the root slot, which holds a "
			       "counted reference: change it with nvh_tx_set",
			       fn, off, len);
	if (!nvh_heap_data_ok(pool, off, len))
		return tx_fail(tx, EINVAL, "%s: range at pool offset %"
			       PRIu64 "+%" PRIu64 " is not object memory", fn,
			       off, len);
	if (nvh_heap_geometry(h, off, &a, &b, &in, &live))
		return tx_fail(tx, EINVAL, "%s: pool offset %" PRIu64
			       "+%" PRIu64 " is %s, not the caller's", fn, off,
			       len, not_a_block(h, off));
	int large = h->arena[a].kind == NVH_K_LARGE;
	sp->start = off - in;
	sp->size = large ? h->arena[a].run * (uint64_t)NVH_ARENA_SIZE
			 : h->cls[h->arena[a].cls].block_size;
	if (len > sp->size - in)
		return tx_fail(tx, EINVAL, "%s: range at pool offset %"
			       PRIu64 "+%" PRIu64 " leaves the object at %" PRIu64
			       " (%" PRIu64 " bytes): a range lies inside one "
			       "object", fn, off, len, sp->start, sp->size);
	if (live) {
		const struct nvh_objhdr *oh = (const void *)(pool->base +
			nvh_objhdr_off(h, a, b, large));
		sp->type = NVH_HDR_TYPE(oh->word);
	} else {
		const uint64_t *ix = tx->nfresh ? nvh_u64map_find(&tx->fresh_ix,
								  sp->start)
						: NULL;
		if (!ix)
			return tx_fail(tx, EINVAL, "%s: pool offset %"
				       PRIu64 "+%" PRIu64 " is in a free block "
				       "(free, or reserved or being freed by a "
				       "transaction), not in a live object", fn,
				       off, len);
		sp->type = tx->fresh[*ix].type;
	}
	return 0;
}

/* One UNDO record holding the old bytes of g[0..ng), written with no
 * fence (undo_log fences).  Segments up to NVH_TX_INLINE_MAX bytes are
 * inline; when all are, the compact form (16-byte segments).  Larger ones
 * go to a block of their own. */
static int
undo_record(struct nvh_tx *tx, const struct nvh_range *g, size_t ng)
{
	nvh_pool *pool = tx->pool;
	int compact = 1;
	for (size_t i = 0; i < ng; i++)
		compact &= g[i].len <= NVH_TX_INLINE_MAX;
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_UNDO);
	struct nvh_undo_body body = {tx->id, (uint32_t)ng,
				     compact ? NVH_UNDO_COMPACT : 0};
	size_t bytes = sizeof(body) +
		       ng * (compact ? 16 : sizeof(struct nvh_undo_seg));
	for (size_t i = 0; i < ng; i++)
		if (g[i].len <= NVH_TX_INLINE_MAX)
			bytes += (g[i].len + 7) & ~(uint64_t)7;
	int rc = nvh_rec_reserve(&rec, bytes);
	if (rc)
		goto out;
	memcpy(nvh_rec_claim(&rec, sizeof(body)), &body, sizeof(body));
	for (size_t i = 0; i < ng && !rc; i++) {
		struct nvh_undo_seg seg = {g[i].off, g[i].len, 0, 0};
		const void *old = pool->base + g[i].off;
		if (g[i].len > NVH_TX_INLINE_MAX) {
			/* big: the old bytes go to a block of their own */
			struct nvh_blk k;
			rc = nvh_blk_reserve(pool, tx->t, g[i].len, &k);
			if (rc)
				break;
			if (nvh_grow((void **)&tx->aux, &tx->caux, tx->naux,
				     sizeof(*tx->aux))) {
				nvh_blk_unreserve(pool, &k);
				rc = -ENOMEM;
				break;
			}
			tx->aux[tx->naux++] = k;
			/* durable with the record, at undo_log's fence */
			nvh_persist_memcpy_nodrain(&pool->persist,
						   pool->base + k.off, old,
						   g[i].len);
			seg.payload = k.off;
			seg.payload_sum = XXH3_64bits(old, g[i].len);
		}
		memcpy(nvh_rec_claim(&rec, compact ? 16 : sizeof(seg)), &seg,
		       compact ? 16 : sizeof(seg));
	}
	/* the inline bytes, each padded with zeros to 8 */
	for (size_t i = 0; i < ng && !rc; i++) {
		if (g[i].len > NVH_TX_INLINE_MAX)
			continue;
		size_t pad = (g[i].len + 7) & ~(size_t)7;
		char *d = nvh_rec_claim(&rec, pad);
		memcpy(d, pool->base + g[i].off, g[i].len);
		memset(d + g[i].len, 0, pad - g[i].len);
	}
	char *dst = NULL;
	int in_ring = 0;
	size_t size = (rec.len + NVH_REC_ALIGN - 1) & ~(size_t)(NVH_REC_ALIGN - 1);
	if (!rc)
		rc = nvh_tx_place(tx, size, NVH_TX_RING_RESERVE, 0, &dst,
				  &in_ring);
	if (!rc && nvh_grow((void **)&tx->undo, &tx->cundo, tx->nundo,
			    sizeof(*tx->undo)))
		rc = -ENOMEM;
	if (!rc)
		rc = nvh_lane_log_nodrain(pool, tx->lane, &rec, dst, in_ring);
out:
	nvh_rec_fini(&rec);
	if (!rc)
		tx->undo[tx->nundo++] = dst;
	return rc;
}

/* Log the old bytes of g[0..ng) and fence once.  A record holds at most
 * NVH_TX_UNDO_SEGS segments and NVH_TX_RING_RESERVE inline bytes (so it
 * fits the ring's reserve or a chunk), the limit checked here, in bytes,
 * as each segment joins a record; more make more records, all made
 * durable by the one fence. */
static int
undo_log(struct nvh_tx *tx, const struct nvh_range *g, size_t ng)
{
	int rc = 0;
	for (size_t i = 0; i < ng && !rc;) {
		size_t j = i;
		uint64_t inl = 0;
		while (j < ng && j - i < NVH_TX_UNDO_SEGS) {
			uint64_t add = g[j].len <= NVH_TX_INLINE_MAX ? g[j].len : 0;
			if (j > i && inl + add > NVH_TX_RING_RESERVE)
				break;
			inl += add;
			j++;
		}
		rc = undo_record(tx, g + i, j - i);
		i = j;
	}
	/* (T1) the snapshots (records and payload blocks) are durable
	 * before the caller modifies the ranges they save. */
	if (!rc && (rc = nvh_persist_fence(&tx->pool->persist)))
		atomic_store(&tx->pool->failed, rc);
	return rc;
}

int
nvh_tx_snapv(struct nvh_tx *tx, const struct nvh_range *r, size_t n,
	     struct nvh_tx_gaps *out, size_t *gend, const char *fn)
{
	struct nvh_tx_gaps own;
	struct nvh_tx_gaps *gp = out ? out : &own;
	nvh_tx_gaps_init(gp);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		size_t k = gp->n;
		const struct nvh_range *last = nvh_snapset_last(&tx->snaps);
		if (!tx->nfresh && (!last || last->off + last->len < r[i].off)) {
			/* past every snapshot, no new objects: all of it is
			 * new, appended (ranges given in ascending order) */
			if (gp->n == gp->cap && gaps_grow(gp)) {
				rc = -ENOMEM;
				break;
			}
			gp->g[gp->n++] = r[i];
			if (nvh_snapset_add(&tx->snaps, r[i].off, r[i].len)) {
				rc = -ENOMEM;
				break;
			}
			if (gend)
				gend[i] = gp->n;
			continue;
		}
		rc = gaps(tx, r[i].off, r[i].off + r[i].len, gp);
		/* Covered from here on, so a later range of the call that
		 * overlaps this one saves only the rest.  (If the records
		 * then fail, so does the transaction: it can only roll back,
		 * from the records it has.) */
		for (; k < gp->n && !rc; k++)
			rc = nvh_snapset_add(&tx->snaps, gp->g[k].off,
					     gp->g[k].len);
		if (gend)
			gend[i] = gp->n;
	}
	if (rc) {
		if (!out)
			nvh_tx_gaps_fini(gp);
		return tx_fail(tx, ENOMEM, "%s: out of memory", fn);
	}
	if (gp->n) /* else all covered: no record, no barrier */
		rc = undo_log(tx, gp->g, gp->n);
	if (!out)
		nvh_tx_gaps_fini(gp);
	if (rc)
		return tx_fail(tx, -rc, "%s: %s", fn, nvh_errormsg());
	return 0;
}

int
nvh_tx_snapshot(struct nvh_tx *tx, uint64_t off, uint64_t len)
{
	if (!(tx = tx_of(tx, "nvh_tx_add")))
		return -EINVAL;
	return nvh_tx_snap(tx, off, len, NULL);
}

int
nvh_tx_snap(struct nvh_tx *tx, uint64_t off, uint64_t len,
	    struct nvh_tx_gaps *out)
{
	struct nvh_range r = {off, len};
	return nvh_tx_snapv(tx, &r, 1, out, NULL, "nvh_tx_add");
}

nvh_oid
nvh_tx_alloc_id(struct nvh_tx *tx, size_t size, uint32_t type, unsigned flags)
{
	if (!(tx = tx_of(tx, "nvh_tx_alloc")))
		return NVH_OID_NULL;
	if (size == 0 || (flags & ~NVH_TX_ZERO)) {
		tx_fail(tx, EINVAL, "nvh_tx_alloc: %s", size == 0 ? "size 0"
			: "unknown flags");
		return NVH_OID_NULL;
	}
	struct nvh_blk k;
	int rc = nvh_blk_reserve(tx->pool, tx->t, size, &k);
	if (rc) {
		tx_fail(tx, -rc, "nvh_tx_alloc: %s", nvh_errormsg());
		return NVH_OID_NULL;
	}
	if (nvh_grow((void **)&tx->fresh, &tx->cfresh, tx->nfresh,
		 sizeof(*tx->fresh))) {
		nvh_blk_unreserve(tx->pool, &k);
		tx_fail(tx, ENOMEM, "nvh_tx_alloc: out of memory");
		return NVH_OID_NULL;
	}
	if (nvh_u64map_put(&tx->fresh_ix, k.off, tx->nfresh)) {
		nvh_blk_unreserve(tx->pool, &k);
		tx_fail(tx, ENOMEM, "nvh_tx_alloc: out of memory");
		return NVH_OID_NULL;
	}
	tx->fresh[tx->nfresh++] = (struct nvh_tx_new){
		k, size, type, NVH_HDR_MAKE(type, 0, 0), 0};
	if (flags & NVH_TX_ZERO)
		memset(tx->pool->base + k.off, 0, size); /* flushed at commit */
	return (nvh_oid){nvh_oid_tagged(tx->pool, k.off)};
}

long
nvh_tx_fresh_find(const struct nvh_tx *tx, uint64_t off)
{
	const uint64_t *fx = nvh_u64map_find(&tx->fresh_ix, off);
	return fx ? (long)*fx : -1;
}

void
nvh_tx_fresh_drop(struct nvh_tx *tx, size_t i)
{
	uint64_t off = tx->fresh[i].blk.off;
	nvh_blk_unreserve(tx->pool, &tx->fresh[i].blk);
	nvh_u64map_del(&tx->fresh_ix, off);
	tx->fresh[i] = tx->fresh[--tx->nfresh];
	if (i < tx->nfresh) /* overwrites a key: cannot fail */
		nvh_u64map_put(&tx->fresh_ix, tx->fresh[i].blk.off, i);
}

int
nvh_tx_free_block(struct nvh_tx *tx, const struct nvh_blk *k)
{
	if (nvh_grow((void **)&tx->frees, &tx->cfrees, tx->nfrees,
		     sizeof(*tx->frees))) {
		nvh_blk_unclaim(tx->pool, k);
		return tx_fail(tx, ENOMEM, "nvh_tx_free: out of memory");
	}
	tx->frees[tx->nfrees++] = *k;
	return 0;
}

struct nvh_lane *
nvh_tx_close(struct nvh_tx *tx)
{
	struct nvh_lane *l = nvh_tx_end_keep(tx);
	tls_tx = NULL;
	return l;
}
