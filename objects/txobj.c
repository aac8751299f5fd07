/*
 * txobj.c -- transactions as the object model sees them: the public
 * entry points nvh_tx_begin, nvh_tx_add, nvh_tx_alloc, nvh_tx_free,
 * nvh_tx_commit and nvh_tx_abort, which add the model's rules and work
 * to the transaction steps of the layer below (tx/): nothing of nvheap's
 * own objects is the caller's; the strong pointer fields a transaction
 * snapshotted or allocated change only through nvh_tx_set (checked at
 * commit, so the counts follow them); the counts' entries join the
 * commit record (cascade.c); pins and dying objects are dealt with as
 * the transaction ends.  Each transaction's part of this (struct
 * nvh_txo) is attached by nvh_tx_begin and kept for the thread's next.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "heap/u64map.h"
#include "objects/obj.h"
#include "tx/tx.h"

/* ---- the objects layer's part of a transaction ---- */

/* The thread's: a thread is in at most one transaction at a time, so one
 * per thread, made at its first nvh_tx_begin, attached to each of its
 * transactions in turn with its arrays, freed at the thread's exit. */
static _Thread_local struct nvh_txo *tls_txo;
static pthread_key_t txo_key;
static pthread_once_t txo_once = PTHREAD_ONCE_INIT;

static void
txo_free(void *p)
{
	struct nvh_txo *o = p;
	free(o->rc);
	free(o->ptrs);
	free(o->sets);
	free(o->pins);
	nvh_u64map_fini(&o->rc_ix);
	nvh_u64map_fini(&o->set_ix);
	free(o);
}

static void
txo_key_init(void)
{
	pthread_key_create(&txo_key, txo_free);
}

/* The outermost transaction ends: its part is the thread's again. */
static void
txo_detach(struct nvh_tx *tx)
{
	struct nvh_txo *o = tx->obj;
	tx->obj = NULL;
	if (!o)
		return;
	nvh_txo_forget(o);
	o->drain = 0;
	o->npins = 0;
}

NVH_API nvh_tx *
nvh_tx_begin(nvh_pool *pool)
{
	nvh_tx *h = nvh_tx_start(pool);
	if (!h)
		return NULL;
	struct nvh_tx *tx = nvh_tx_running(pool);
	if (tx->obj)
		return h; /* nested */
	struct nvh_txo *o = tls_txo;
	if (!o) {
		pthread_once(&txo_once, txo_key_init);
		if (!(o = calloc(1, sizeof(*o))) ||
		    pthread_setspecific(txo_key, o) != 0) {
			free(o);
			nvh_lane_put(pool, nvh_tx_close(tx));
			return nvh_err_null(ENOMEM, "nvh_tx_begin: out of "
					    "memory");
		}
		tls_txo = o; /* freed at thread exit */
	}
	tx->obj = o;
	return h;
}

/* Roll back, the object model's part too. */
static int
rollback(struct nvh_tx *tx)
{
	int rc = nvh_tx_do_abort(tx, 1);
	nvh_txo_forget(tx->obj);
	return rc;
}

/* ---- snapshots: nvh_tx_add ---- */

/* ---- strong pointer fields: changed only through nvh_tx_set ---- */

/* Remember the strong fields of the object at `start` (type rt) that the
 * new snapshot segments g[0..ng) cover, with their values now (before the
 * caller changes anything): commit checks them. */
static int
remember_ptrs(struct nvh_tx *tx, const struct nvh_rtype *rt, uint64_t start,
	      const struct nvh_range *g, size_t ng)
{
	struct nvh_txo *o = tx->obj;
	const char *base = tx->pool->base;
	for (size_t i = 0; i < ng; i++) {
		uint64_t lo = g[i].off - start, hi = lo + g[i].len;
		for (uint32_t k = 0; k < rt->nfields; k++) {
			const struct nvh_rfield *f = &rt->fields[k];
			uint64_t end = f->offset + 8ull * f->count;
			if ((f->flags & NVH_FIELD_WEAK) || hi <= f->offset ||
			    lo >= end)
				continue;
			uint64_t e = lo > f->offset ? (lo - f->offset) / 8 : 0;
			uint64_t e1 = hi < end ? (hi - f->offset + 7) / 8 : f->count;
			for (; e < e1; e++) {
				if (nvh_grow((void **)&o->ptrs, &o->cptrs, o->nptrs,
					 sizeof(*o->ptrs)))
					return nvh_err(ENOMEM, "out of memory");
				uint64_t fo = start + f->offset + 8 * e;
				o->ptrs[o->nptrs].off = fo;
				memcpy(&o->ptrs[o->nptrs++].val, base + fo, 8);
			}
		}
	}
	return 0;
}

/* Up to this many stored fields, o->sets is searched, not indexed (a
 * small transaction pays no hash table). */
#define SETS_LINEAR 16

/* The index in o->sets of the field at `off`, or -1. */
static long
set_find(const struct nvh_tx *tx, uint64_t off)
{
	struct nvh_txo *o = tx->obj;
	if (o->set_ix.n) {
		const uint64_t *ix = nvh_u64map_find(&o->set_ix, off);
		return ix ? (long)*ix : -1;
	}
	for (size_t i = 0; i < o->nsets; i++)
		if (o->sets[i].off == off)
			return (long)i;
	return -1;
}

void
nvh_tx_expect(struct nvh_tx *tx, uint64_t off, uint64_t value)
{
	struct nvh_txo *o = tx->obj;
	long i = set_find(tx, off);
	if (i >= 0) {
		o->sets[i].val = value;
		return;
	}
	if (nvh_grow((void **)&o->sets, &o->csets, o->nsets, sizeof(*o->sets))) {
		nvh_tx_failf(tx, ENOMEM, "nvh_tx_set: out of memory");
		return;
	}
	o->sets[o->nsets++] = (struct nvh_tx_ptr){off, value};
	int rc = 0;
	if (o->set_ix.n) /* indexed: this one too */
		rc = nvh_u64map_put(&o->set_ix, off, o->nsets - 1);
	else if (o->nsets > SETS_LINEAR) /* many now: index them all */
		for (size_t k = 0; k < o->nsets && !rc; k++)
			rc = nvh_u64map_put(&o->set_ix, o->sets[k].off, k);
	if (rc)
		nvh_tx_failf(tx, ENOMEM, "nvh_tx_set: out of memory");
}

/* Forget what nvh_tx_set stored at `off` (its object is gone). */
static void
set_drop(struct nvh_tx *tx, uint64_t off)
{
	struct nvh_txo *o = tx->obj;
	long i = set_find(tx, off);
	if (i < 0)
		return;
	if (o->set_ix.n)
		nvh_u64map_del(&o->set_ix, off);
	o->sets[i] = o->sets[--o->nsets];
	if ((size_t)i < o->nsets && o->set_ix.n) /* overwrites: no fail */
		nvh_u64map_put(&o->set_ix, o->sets[i].off, (uint64_t)i);
}

/* The strong field at `off` holds `now`, not `want`: say which field of
 * what, and refuse. */
static int
ptr_changed(struct nvh_tx *tx, uint64_t off, uint64_t want, uint64_t now)
{
	nvh_pool *pool = tx->pool;
	char what[160] = "a strong pointer field";
	uint64_t a, b, in;
	int live;
	if (off == pool->heap->hdr.root_off) {
		snprintf(what, sizeof(what), "the root slot");
	} else if (!nvh_heap_geometry(pool->heap, off, &a, &b, &in, &live)) {
		uint32_t type = 0;
		const uint64_t *ix = nvh_u64map_find(&tx->fresh_ix, off - in);
		if (live)
			type = NVH_HDR_TYPE(((const struct nvh_objhdr *)
				(pool->base + nvh_objhdr_off(pool->heap, a, b,
				 pool->heap->arena[a].kind == NVH_K_LARGE)))->word);
		else if (ix)
			type = tx->fresh[*ix].type;
		const struct nvh_rtype *rt = nvh_type_get(pool, type);
		for (uint32_t k = 0; rt && k < rt->nfields; k++) {
			const struct nvh_rfield *f = &rt->fields[k];
			if (in < f->offset || in >= f->offset + 8ull * f->count)
				continue;
			char el[32] = "";
			if (f->count > 1)
				snprintf(el, sizeof(el), " element %" PRIu64,
					 (in - f->offset) / 8);
			snprintf(what, sizeof(what), "\"%s\" field %" PRIu32 "%s "
				 "(offset %" PRIu32 ") of the %s object at %" PRIu64,
				 rt->name, k, el, f->offset,
				 live ? "live" : "new", off - in);
			break;
		}
	}
	return nvh_err(EINVAL, "nvh_tx_commit: %s: rolled back: %s (pool "
		       "offset %" PRIu64 ") holds 0x%" PRIx64 " but 0x%" PRIx64
		       " was %s: a plain store into a strong pointer field "
		       "bypasses the reference counts; use nvh_tx_set",
		       pool->path, what, off, now, want,
		       set_find(tx, off) >= 0 ? "stored by nvh_tx_set"
		       : "there (snapshot or new object)");
}

static int
ptrs_verify(struct nvh_tx *tx)
{
	struct nvh_txo *o = tx->obj;
	const char *base = tx->pool->base;
	uint64_t v;
	for (size_t i = 0; i < o->nsets; i++) {
		memcpy(&v, base + o->sets[i].off, 8);
		if (v != o->sets[i].val)
			return ptr_changed(tx, o->sets[i].off, o->sets[i].val, v);
	}
	/* (a field nvh_tx_set stored was checked above) */
	for (size_t i = 0; i < o->nptrs; i++) {
		memcpy(&v, base + o->ptrs[i].off, 8);
		if (v != o->ptrs[i].val && (!o->nsets ||
					     set_find(tx, o->ptrs[i].off) < 0))
			return ptr_changed(tx, o->ptrs[i].off, o->ptrs[i].val,
					   v);
	}
	/* new typed objects: a field nvh_tx_set did not store is null */
	for (size_t i = 0; o->typed_fresh && i < tx->nfresh; i++) {
		const struct nvh_rtype *rt = nvh_type_get(tx->pool,
							  tx->fresh[i].type);
		for (uint32_t k = 0; rt && k < rt->nfields; k++) {
			const struct nvh_rfield *f = &rt->fields[k];
			if (f->flags & NVH_FIELD_WEAK)
				continue;
			for (uint32_t e = 0; e < f->count; e++) {
				uint64_t fo = tx->fresh[i].blk.off + f->offset + 8ull * e;
				memcpy(&v, base + fo, 8);
				if (v && set_find(tx, fo) < 0)
					return ptr_changed(tx, fo, 0, v);
			}
		}
	}
	return 0;
}

/* The commit's first step: did every strong pointer field the
 * transaction snapshotted or allocated change only through nvh_tx_set? */
static int
ptrs_check(struct nvh_tx *tx)
{
	struct nvh_txo *o = tx->obj;
	if (!o->nptrs && !o->nsets && !o->typed_fresh)
		return 0; /* untyped work: nothing to check */
	return ptrs_verify(tx);
}

/* nvh_tx_add's checks of one range: *off is its pool offset, *rt the type
 * whose strong fields commit checks (NULL: none), tx->last its object. */
static int
add_check(struct nvh_tx *tx, const void *addr, size_t len, const char *fn,
	  uint64_t *off, struct nvh_tx_span *sp, const struct nvh_rtype **rt)
{
	nvh_pool *pool = tx->pool;
	const char *p = addr;
	if (p < pool->base || p >= pool->base + nvh_pool_size(pool) ||
	    len > (size_t)(pool->base + nvh_pool_size(pool) - p))
		return nvh_tx_failf(tx, EINVAL, "%s: range %p+%zu is not inside "
				    "the pool", fn, addr, len);
	*off = (uint64_t)(p - pool->base);
	int rc = nvh_tx_span(tx, *off, len, sp, fn);
	if (rc)
		return rc;
	if (sp->type >= NVH_TYPEID_USER_MAX && sp->type < NVH_TYPE_TABLE_BASE)
		return nvh_tx_failf(tx, EINVAL, "%s: pool offset %" PRIu64
				    "+%zu is in nvheap's own object at %" PRIu64
				    " (type 0x%" PRIx32 "%s), not the caller's",
				    fn, *off, len, sp->start, sp->type,
				    sp->type == NVH_TYPEID_TABLE
				    ? ", the type table" : "");
	tx->last = *sp;
	*rt = NULL;
	if (sp->type >= NVH_TYPE_TABLE_BASE) {
		*rt = nvh_type_fit(pool, sp->type, sp->size);
		if (*rt && !(*rt)->nfields)
			*rt = NULL;
	}
	return 0;
}

NVH_API int
nvh_tx_add(nvh_tx *tx, void *addr, size_t len)
{
	int rc = nvh_tx_enter(&tx, "nvh_tx_add");
	if (rc)
		return rc;
	if (len == 0)
		return 0;
	uint64_t off;
	struct nvh_tx_span sp = {0, 0, 0};
	const struct nvh_rtype *rt;
	if ((rc = add_check(tx, addr, len, "nvh_tx_add", &off, &sp, &rt)))
		return rc;
	if (!rt)
		return nvh_tx_snap(tx, off, len, NULL);
	struct nvh_tx_gaps g;
	rc = nvh_tx_snap(tx, off, len, &g);
	if (!rc && g.n && (rc = remember_ptrs(tx, rt, sp.start, g.g, g.n)))
		rc = nvh_tx_failf(tx, -rc, "nvh_tx_add: %s", nvh_errormsg());
	nvh_tx_gaps_fini(&g);
	return rc;
}

/* Ranges of one nvh_tx_addv kept on the stack; more take an allocation. */
#define ADDV_STACK 64

NVH_API int
nvh_tx_addv(nvh_tx *tx, const struct nvh_tx_range *v, size_t n)
{
	static const char fn[] = "nvh_tx_addv";
	int rc = nvh_tx_enter(&tx, fn);
	if (rc)
		return rc;
	if (n && !v)
		return nvh_tx_failf(tx, EINVAL, "%s: NULL array of %zu ranges",
				    fn, n);
	if (n > SIZE_MAX / (sizeof(struct nvh_range) + 2 * sizeof(void *)))
		return nvh_tx_failf(tx, EINVAL, "%s: %zu ranges", fn, n);
	/* Every range is checked before any is snapshotted. */
	struct nvh_range rs[ADDV_STACK], *r = rs;
	const struct nvh_rtype *rts[ADDV_STACK], **rt = rts;
	uint64_t ss[ADDV_STACK], *start = ss;
	size_t es[ADDV_STACK], *gend = es;
	if (n > ADDV_STACK) {
		r = malloc(n * sizeof(*r));
		rt = malloc(n * sizeof(*rt));
		start = malloc(n * sizeof(*start));
		gend = malloc(n * sizeof(*gend));
		if (!r || !rt || !start || !gend) {
			rc = nvh_tx_failf(tx, ENOMEM, "%s: out of memory for %zu "
					  "ranges", fn, n);
			goto out;
		}
	}
	size_t k = 0;
	int typed = 0;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].len)
			continue;
		struct nvh_tx_span sp = {0, 0, 0};
		rc = add_check(tx, v[i].addr, v[i].len, fn, &r[k].off, &sp,
			       &rt[k]);
		if (rc) {
			/* say which range: the reason the transaction keeps
			 * (it failed just now) and the message */
			size_t l = strlen(tx->why);
			snprintf(tx->why + l, sizeof(tx->why) - l, " (range %zu of "
				 "%zu)", i, n);
			nvh_err(-rc, "%s: %s", tx->pool->path, tx->why);
			goto out;
		}
		r[k].len = v[i].len;
		start[k] = sp.start;
		typed |= rt[k] != NULL;
		k++;
	}
	struct nvh_tx_gaps g;
	rc = nvh_tx_snapv(tx, r, k, &g, typed ? gend : NULL, fn);
	for (size_t i = 0, from = 0; !rc && typed && i < k; from = gend[i++])
		if (rt[i] && gend[i] > from &&
		    (rc = remember_ptrs(tx, rt[i], start[i], g.g + from,
					gend[i] - from)))
			rc = nvh_tx_failf(tx, -rc, "%s: %s", fn, nvh_errormsg());
	nvh_tx_gaps_fini(&g);
out:
	if (r != rs) {
		free(r);
		free(rt);
		free(start);
		free(gend);
	}
	return rc;
}

/* ---- allocations and frees ---- */

NVH_API nvh_oid
nvh_tx_alloc(nvh_tx *tx, size_t size, uint32_t type, unsigned flags)
{
	if (nvh_tx_enter(&tx, "nvh_tx_alloc"))
		return NVH_OID_NULL;
	if (type >= NVH_TYPEID_USER_MAX) {
		/* (typed objects come from nvh_tx_alloc_typed) */
		nvh_tx_failf(tx, EINVAL, "nvh_tx_alloc: type 0x%x is not an "
			     "untyped id below 0x%x: use nvh_tx_alloc_typed",
			     type, NVH_TYPEID_USER_MAX);
		return NVH_OID_NULL;
	}
	return nvh_tx_alloc_id(tx, size, type, flags);
}

static int tx_free(nvh_tx *tx, nvh_oid oid, int internal);

NVH_API int
nvh_tx_free(nvh_tx *tx, nvh_oid oid)
{
	return tx_free(tx, oid, 0);
}

int
nvh_tx_free_internal(nvh_tx *tx, nvh_oid oid)
{
	return tx_free(tx, oid, 1);
}

static int
tx_free(nvh_tx *tx, nvh_oid oid, int internal)
{
	int rc = nvh_tx_enter(&tx, "nvh_tx_free");
	if (rc)
		return rc;
	tx->last.size = 0; /* it may be the object nvh_tx_add last saw */
	uint64_t off;
	if (oid.off == 0)
		return 0;
	if (nvh_oid_untag(tx->pool, oid.off, &off))
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_free: oid 0x%llx is not an "
			       "object of this pool", (unsigned long long)oid.off);
	/* Allocated by this transaction: it never existed. */
	long fx = nvh_tx_fresh_find(tx, off);
	if (fx >= 0) {
		size_t i = (size_t)fx;
		if (tx->fresh[i].type >= NVH_TYPE_TABLE_BASE &&
		    nvh_type_counted(nvh_type_get(tx->pool, tx->fresh[i].type)))
			return nvh_tx_failf(tx, EINVAL, "nvh_tx_free: reference "
				       "counted objects are freed when unlinked");
		/* a manual object's strong fields give their references up */
		const struct nvh_rtype *rt = nvh_type_get(tx->pool,
							  tx->fresh[i].type);
		rc = nvh_obj_drop_fields(tx, off, rt);
		if (rc)
			return rc;
		/* ... and what nvh_tx_set stored in them is no longer
		 * expected (the block may be allocated again) */
		for (uint32_t k = 0; rt && tx->obj->nsets && k < rt->nfields; k++)
			for (uint32_t e = 0; e < rt->fields[k].count; e++)
				set_drop(tx, off + rt->fields[k].offset + 8ull * e);
		nvh_tx_fresh_drop(tx, i);
		return 0;
	}
	struct nvh_blk k;
	rc = nvh_blk_claim(tx->pool, off, &k);
	if (rc)
		return nvh_tx_failf(tx, -rc, "nvh_tx_free: %s", nvh_errormsg());
	uint32_t type = NVH_HDR_TYPE(nvh_blk_hdr(tx->pool, &k)->word);
	if (!internal && type >= NVH_TYPEID_USER_MAX &&
	    type < NVH_TYPE_TABLE_BASE) {
		nvh_blk_unclaim(tx->pool, &k);
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_free: oid 0x%llx is nvheap's "
			       "own object (type 0x%" PRIx32 "), not the "
			       "caller's", (unsigned long long)oid.off, type);
	}
	const struct nvh_rtype *rt = nvh_type_fit(tx->pool, type,
						  nvh_blk_size(tx->pool, &k));
	if (nvh_type_counted(rt)) {
		nvh_blk_unclaim(tx->pool, &k);
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_free: a \"%s\" is reference "
			       "counted: unlink it and it is freed", rt->name);
	}
	/* a manual object's strong fields give their references up */
	if ((rc = nvh_obj_drop_fields(tx, off, rt))) {
		nvh_blk_unclaim(tx->pool, &k);
		return rc;
	}
	return nvh_tx_free_block(tx, &k);
}

/* ---- the end: commit and abort ---- */

/* The commit (tx/commit.c's steps, with the object model's between). */
static int
commit(struct nvh_tx *tx)
{
	/* A strong pointer field changed by a plain store would commit
	 * with the counts not following it: refused, rolled back. */
	if (ptrs_check(tx)) {
		char why[512];
		snprintf(why, sizeof(why), "%s", nvh_errormsg());
		rollback(tx);
		return nvh_err(EINVAL, "%s", why);
	}
	struct nvh_rec cr;
	int rc = nvh_tx_commit_begin(tx, &cr);
	if (rc > 0)
		return 0; /* changed nothing */
	/* reference counts: final counts, releases, the dying list */
	struct nvh_obj_commit oc = {0};
	int lost = 0;
	if (!rc)
		rc = nvh_obj_prepare(tx, &cr, &oc);
	if (!rc)
		rc = nvh_tx_commit_point(tx, &cr, &lost);
	else
		nvh_rec_fini(&cr);
	if (rc) {
		nvh_obj_finish(tx, &oc, 0);
		if (lost)
			return nvh_tx_commit_lost(tx, rc);
		rc = nvh_tx_commit_fail(tx, rc);
		nvh_txo_forget(tx->obj);
		return rc;
	}
	nvh_obj_finish(tx, &oc, 1);
	nvh_tx_commit_done(tx);
	return 0;
}

/* End the outermost transaction.  If its commit left the dying list
 * with work, or it unpinned a dying object (committed or not: unpins are
 * not rolled back), the objects are freed on its lane before the lane is
 * given back, so no moment between the commit and the last drain step
 * finds the pool idle (nvh_close takes every lane).  The transaction is
 * durable, or rolled back, whatever the drain does: a drain that fails
 * (out of memory, a failed write, which also stops the pool) leaves a
 * well-formed dying list for a later commit or the next open, and must
 * not make the caller believe otherwise. */
static void
tx_finish(struct nvh_tx *tx)
{
	struct nvh_txo *o = tx->obj;
	nvh_pool *pool = tx->pool;
	int drain = o->npins && nvh_tx_unpin_all(tx);
	drain |= o->drain;
	txo_detach(tx);
	struct nvh_lane *l = nvh_tx_close(tx);
	if (drain) {
		/* the caller reads the transaction's outcome, not the drain's */
		int e = errno;
		char why[512];
		snprintf(why, sizeof(why), "%s", nvh_errormsg());
		unsigned steps = atomic_load(&pool->objects->commit_steps);
		if (nvh_obj_drain_steps(pool, l, steps, NULL) && e)
			nvh_err(e, "%s", why);
		errno = e;
	}
	nvh_lane_put(pool, l);
}

NVH_API int
nvh_tx_commit(nvh_tx *tx)
{
	if (!(tx = nvh_tx_lookup(tx, "nvh_tx_commit")))
		return -EINVAL;
	if (nvh_pool_usable(tx->pool, "nvh_tx_commit")) /* inherited by fork */
		return -errno;
	if (tx->depth > 1) {
		tx->depth--;
		return tx->err ? -tx->err : 0;
	}
	int rc;
	if (tx->err) {
		int err = tx->err;
		char why[sizeof(tx->why)];
		memcpy(why, tx->why, sizeof(why));
		const char *path = tx->pool->path;
		rollback(tx);
		tx_finish(tx);
		return nvh_err(err, "nvh_tx_commit: %s: the transaction failed and "
			       "was rolled back: %s", path, why);
	}
	rc = commit(tx);
	tx_finish(tx);
	return rc;
}

NVH_API int
nvh_tx_abort(nvh_tx *tx)
{
	if (!(tx = nvh_tx_lookup(tx, "nvh_tx_abort")))
		return -EINVAL;
	if (nvh_pool_usable(tx->pool, "nvh_tx_abort")) /* inherited by fork */
		return -errno;
	/* Roll back at once, whatever the nesting. */
	int rc = 0;
	if (tx->err != ECANCELED || tx->nundo || tx->nfresh || tx->nfrees)
		rc = rollback(tx);
	if (tx->depth > 1) {
		tx->depth--;
		if (!tx->err) {
			tx->err = ECANCELED;
			snprintf(tx->why, sizeof(tx->why), "an inner "
				 "nvh_tx_abort rolled it back");
		}
		return rc;
	}
	tx_finish(tx);
	return rc;
}
