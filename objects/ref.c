/*
 * ref.c -- checked pointer stores, reference-count deltas, pins and weak
 * pointers.
 *
 * A transaction's pointer stores are checked here (the field is a
 * declared strong field, the value null or a live object of the field's
 * type) and turned into count deltas in DRAM; the commit applies them
 * (objects/cascade.c, which also frees what reaches zero and keeps the
 * dying list).  Header words are read with atomic loads: other threads'
 * commits store them.
 *
 * Invariants: see objects/cascade.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"
#include "heap/log/lane.h"
#include "tx/tx.h"


static uint64_t
root_off(const struct nvh_pool *pool)
{
	return pool->heap->hdr.root_off;
}

struct nvh_objhdr *
nvh_obj_hdr(struct nvh_pool *pool, uint64_t off)
{
	uint64_t a, b, in;
	if (nvh_heap_locate(pool->heap, off, &a, &b, &in) != 0 || in != 0)
		return NULL;
	return (struct nvh_objhdr *)(pool->base +
		nvh_objhdr_off(pool->heap, a, b,
			       pool->heap->arena[a].kind == NVH_K_LARGE));
}

static uint64_t
hdr_word(const struct nvh_objhdr *h)
{
	return __atomic_load_n(&h->word, __ATOMIC_RELAXED);
}

int
nvh_obj_containing(struct nvh_pool *pool, struct nvh_tx *tx, uint64_t off,
	       struct nvh_oinfo *oi, uint64_t *in)
{
	memset(oi, 0, sizeof(*oi));
	oi->fresh = -1;
	uint64_t a, b;
	int live;
	struct nvh_heap *h = pool->heap;
	/* one geometry lookup: a block not yet allocated may be one this
	 * transaction allocated */
	if (nvh_heap_geometry(h, off, &a, &b, in, &live) != 0)
		return -1;
	if (!live) {
		const uint64_t *ix = tx && tx->nfresh
				     ? nvh_u64map_find(&tx->fresh_ix, off - *in)
				     : NULL;
		if (!ix || tx->fresh[*ix].dropped)
			return -1;
		const struct nvh_tx_new *f = &tx->fresh[*ix];
		oi->off = f->blk.off;
		oi->size = nvh_blk_size(pool, &f->blk);
		oi->type = f->type;
		oi->fresh = (int)*ix;
		oi->rt = nvh_type_get(pool, oi->type);
		oi->birth = f->blk.birth;
		return 0;
	}
	int large = h->arena[a].kind == NVH_K_LARGE;
	oi->off = off - *in;
	oi->size = large ? h->arena[a].run * (uint64_t)NVH_ARENA_SIZE
			 : h->cls[h->arena[a].cls].block_size;
	oi->hdr = (struct nvh_objhdr *)(pool->base + nvh_objhdr_off(h, a, b, large));
	oi->type = NVH_HDR_TYPE(hdr_word(oi->hdr));
	oi->birth = __atomic_load_n(&oi->hdr->birth, __ATOMIC_RELAXED);
	/* a type larger than the block is a damaged header: untyped, so no
	 * field of it is ever read or released (nvh_check reports it) */
	oi->rt = nvh_type_fit(pool, oi->type, oi->size);
	return 0;
}

/* The declared pointer field at `off` (or the root slot). */
static int
field_at(struct nvh_pool *pool, struct nvh_tx *tx, uint64_t off,
	 const struct nvh_rfield **fd, struct nvh_oinfo *owner, const char *fn)
{
	uint64_t in;
	*fd = NULL;
	if (off == root_off(pool))
		return 0; /* strong, any type */
	if (nvh_obj_containing(pool, tx, off, owner, &in))
		return nvh_tx_failf(tx, EINVAL, "%s: the field (pool offset %"
				    PRIu64 ") is neither the root slot nor "
				    "inside a live object", fn, off);
	if (!owner->rt)
		return nvh_tx_failf(tx, EINVAL, "%s: the field is inside an "
				    "untyped object (type 0x%" PRIx32 ")", fn,
				    owner->type);
	for (uint32_t i = 0; i < owner->rt->nfields; i++) {
		const struct nvh_rfield *f = &owner->rt->fields[i];
		uint32_t w = nvh_field_width(f->flags);
		if (in >= f->offset && in < f->offset + (uint64_t)w * f->count &&
		    (in - f->offset) % w == 0) {
			*fd = f;
			return 0;
		}
	}
	return nvh_tx_failf(tx, EINVAL, "%s: offset %" PRIu64 " of a \"%s\" is "
			    "not a pointer field", fn, in, owner->rt->name);
}

/* Is `value` null or a live (or new) object of the field's target type? */
static int
value_ok(struct nvh_pool *pool, struct nvh_tx *tx, nvh_oid value,
	 const struct nvh_rfield *fd, struct nvh_oinfo *vi, const char *fn)
{
	uint64_t off, in;
	memset(vi, 0, sizeof(*vi));
	if (value.off == 0)
		return 0;
	if (nvh_oid_untag(pool, value.off, &off))
		return nvh_tx_failf(tx, EINVAL, "%s: 0x%" PRIx64 " is not an oid "
				    "of this pool (a volatile address, another "
				    "pool's object or garbage)", fn, value.off);
	if ((!fd || !fd->target[0]) && nvh_mblock_live(pool, off))
		return 0; /* an nvh_malloc block: not counted, kept by the
			   * collection through this field */
	if (nvh_obj_containing(pool, tx, off, vi, &in) || in != 0)
		return nvh_tx_failf(tx, EINVAL, "%s: oid 0x%" PRIx64 " is not the "
				    "start of a live object (freed, interior or "
				    "outside the heap)", fn, value.off);
	/* a dying object may come back only while pinned and before its
	 * release began (objects/cascade.c) */
	uint64_t w = vi->hdr ? hdr_word(vi->hdr) : 0;
	if ((NVH_HDR_FLAGS(w) & NVH_OBJ_DYING) &&
	    (NVH_HDR_COUNT(w) || !nvh_pinned(pool, off)))
		return nvh_tx_failf(tx, EINVAL, "%s: oid 0x%" PRIx64 " is being "
				    "freed", fn, value.off);
	if (fd && fd->target[0] &&
	    (!vi->rt || (fd->target_id ? vi->rt->id != fd->target_id
				       : strcmp(vi->rt->name, fd->target) != 0)))
		return nvh_tx_failf(tx, EINVAL, "%s: the field points to \"%s\", "
				    "the value is a%s \"%s\"", fn, fd->target,
				    vi->rt ? "" : "n untyped object of type",
				    vi->rt ? vi->rt->name : "?");
	return 0;
}

/* The transaction's own pin on a dying object it stores (value_ok saw
 * it pinned; under o->lock the count only grows from there). */
static int
tx_pin(struct nvh_tx *tx, uint64_t off)
{
	struct nvh_objects *o = tx->pool->objects;
	for (size_t i = 0; i < tx->obj->npins; i++)
		if (tx->obj->pins[i] == off)
			return 0;
	if (tx->obj->npins == tx->obj->cpins) {
		size_t c = tx->obj->cpins ? 2 * tx->obj->cpins : 8;
		uint64_t *n = realloc(tx->obj->pins, c * sizeof(*n));
		if (!n)
			return nvh_tx_failf(tx, ENOMEM, "out of memory");
		tx->obj->pins = n;
		tx->obj->cpins = c;
	}
	pthread_mutex_lock(&o->lock);
	const uint64_t *n = nvh_u64map_find(&o->pins, off);
	int rc = !n ? -1 : nvh_u64map_put(&o->pins, off, *n + 1);
	pthread_mutex_unlock(&o->lock);
	if (rc < 0)
		return nvh_tx_failf(tx, EINVAL, "oid 0x%" PRIx64 " is being "
				    "freed", nvh_oid_tagged(tx->pool, off));
	if (rc)
		return nvh_tx_failf(tx, ENOMEM, "out of memory");
	tx->obj->pins[tx->obj->npins++] = off;
	return 0;
}

int
nvh_tx_unpin_all(struct nvh_tx *tx)
{
	struct nvh_pool *pool = tx->pool;
	struct nvh_objects *o = pool->objects;
	int due = 0;
	for (size_t i = 0; i < tx->obj->npins; i++) {
		uint64_t off = tx->obj->pins[i];
		pthread_mutex_lock(&o->lock);
		uint64_t *n = nvh_u64map_find(&o->pins, off);
		int last = n && --*n == 0;
		if (last)
			nvh_u64map_del(&o->pins, off);
		pthread_mutex_unlock(&o->lock);
		struct nvh_objhdr *h;
		if (last && (h = nvh_obj_hdr(pool, off)) &&
		    (NVH_HDR_FLAGS(hdr_word(h)) & NVH_OBJ_DYING))
			due = 1;
	}
	tx->obj->npins = 0;
	return due;
}

/* A count change for the object at `off`; a store of a reference (+1)
 * names the incarnation it saw (`birth`). */
static int
rc_add(struct nvh_tx *tx, uint64_t off, int64_t d, uint64_t birth)
{
	const uint64_t *ix = nvh_u64map_find(&tx->obj->rc_ix, off);
	if (ix) {
		struct nvh_rcd *r = &tx->obj->rc[*ix];
		r->delta += d;
		/* (a store of the dying object and one of a live incarnation
		 * at the same offset cannot be told apart: refused) */
		if (d > 0 && r->birth != birth)
			r->birth = r->birth ? NVH_RCD_TWO_BIRTHS : birth;
		return 0;
	}
	if (tx->obj->nrc == tx->obj->crc) {
		size_t c = tx->obj->crc ? 2 * tx->obj->crc : 16;
		struct nvh_rcd *n = realloc(tx->obj->rc, c * sizeof(*n));
		if (!n)
			return nvh_tx_failf(tx, ENOMEM, "out of memory");
		tx->obj->rc = n;
		tx->obj->crc = c;
	}
	if (nvh_u64map_put(&tx->obj->rc_ix, off, tx->obj->nrc))
		return nvh_tx_failf(tx, ENOMEM, "out of memory");
	tx->obj->rc[tx->obj->nrc++] = (struct nvh_rcd){off, d, d > 0 ? birth : 0};
	return 0;
}

static nvh_oid
alloc_typed(nvh_tx *tx, const struct nvh_type *t, size_t size, const char *fn)
{
	if (nvh_tx_check(tx, fn))
		return NVH_OID_NULL;
	const struct nvh_rtype *rt = t ? nvh_type_named(tx->pool, t->name) : NULL;
	if (!rt || rt->size != t->size) {
		nvh_tx_failf(tx, EINVAL, "%s: type \"%s\" is not registered in "
			     "this pool (nvh_type_register)", fn,
			     t && t->name ? t->name : "?");
		return NVH_OID_NULL;
	}
	if (size < rt->size) {
		nvh_tx_failf(tx, EINVAL, "%s: %zu bytes is less than a \"%s\" "
			     "(%" PRIu32 ")", fn, size, rt->name, rt->size);
		return NVH_OID_NULL;
	}
	nvh_oid o = nvh_tx_alloc_id(tx, size, rt->id, 0);
	if (NVH_OID_IS_NULL(o))
		return o;
	tx->obj->typed_fresh = 1; /* commit checks its pointer fields */
	/* the type's bytes start zero: its pointer fields are null (the
	 * tail is the caller's; commit flushes all `size` bytes) */
	memset(nvh_direct(tx->pool, o), 0, rt->size);
	if (nvh_type_counted(rt))
		tx->obj->typed = 1;
	return o;
}

NVH_API nvh_oid
nvh_tx_alloc_typed(nvh_tx *tx, const struct nvh_type *t, unsigned flags)
{
	if (nvh_tx_enter(&tx, "nvh_tx_alloc_typed"))
		return NVH_OID_NULL;
	(void)flags; /* typed objects are always zeroed: their pointer
		      * fields must start null */
	return alloc_typed(tx, t, t ? t->size : 0, "nvh_tx_alloc_typed");
}

NVH_API nvh_oid
nvh_tx_alloc_typed_size(nvh_tx *tx, const struct nvh_type *t, size_t size)
{
	if (nvh_tx_enter(&tx, "nvh_tx_alloc_typed_size"))
		return NVH_OID_NULL;
	return alloc_typed(tx, t, size, "nvh_tx_alloc_typed_size");
}

NVH_API int
nvh_tx_set(nvh_tx *tx, nvh_oid *field, nvh_oid value)
{
	int rc = nvh_tx_enter(&tx, "nvh_tx_set");
	if (rc)
		return rc;
	struct nvh_pool *pool = tx->pool;
	const char *p = (const char *)field;
	if (!field || p < pool->base || p >= pool->base + nvh_pool_size(pool) - 8)
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_set: field %p is not in "
				    "this pool", (void *)field);
	uint64_t foff = (uint64_t)(p - pool->base);
	const struct nvh_rfield *fd;
	struct nvh_oinfo owner, vi, oi;
	if ((rc = field_at(pool, tx, foff, &fd, &owner, "nvh_tx_set")))
		return rc;
	if (fd && fd->flags & NVH_FIELD_WEAK)
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_set: a weak field: use "
				    "nvh_tx_set_weak");
	if ((rc = value_ok(pool, tx, value, fd, &vi, "nvh_tx_set")))
		return rc;
	uint64_t old = field->off, ooff = 0;
	if ((rc = nvh_tx_snapshot(tx, foff, 8)))
		return rc;
	nvh_tx_expect(tx, foff, value.off);
	/* one 8-byte store (the slot nvh_root reads without a lock) */
	__atomic_store_n(&field->off, value.off, __ATOMIC_RELEASE);
	if (value.off && nvh_type_counted(vi.rt)) {
		/* A dying object (pinned: value_ok) has a list link in its
		 * birth word; the transaction pins it itself, so that it is
		 * not freed (and its block reused) before the commit. */
		uint64_t birth = vi.birth;
		if (vi.hdr && (NVH_HDR_FLAGS(hdr_word(vi.hdr)) & NVH_OBJ_DYING)) {
			rc = tx_pin(tx, vi.off);
			birth = NVH_RCD_PINNED;
		}
		if (!rc)
			rc = rc_add(tx, vi.off, +1, birth);
	}
	if (!rc && old && !nvh_oid_untag(pool, old, &ooff) && ooff) {
		uint64_t in;
		if (!nvh_obj_containing(pool, tx, ooff, &oi, &in) && in == 0 &&
		    nvh_type_counted(oi.rt))
			rc = rc_add(tx, ooff, -1, 0);
	}
	tx->obj->typed = 1;
	return rc;
}

/* Each counted object a strong field of the object at `off` (type rt)
 * points to: fn(tx, its offset); stops at the first non-zero result. */
static int
each_counted_target(struct nvh_pool *pool, struct nvh_tx *tx, uint64_t off,
		    const struct nvh_rtype *rt,
		    int (*fn)(struct nvh_tx *tx, uint64_t target))
{
	for (uint32_t i = 0; rt && i < rt->nfields; i++) {
		const struct nvh_rfield *f = &rt->fields[i];
		if (f->flags & NVH_FIELD_WEAK)
			continue;
		for (uint32_t j = 0; j < f->count; j++) {
			uint64_t v, toff, in;
			struct nvh_oinfo oi;
			memcpy(&v, pool->base + off + f->offset + 8 * (uint64_t)j,
			       8);
			if (!v || nvh_oid_untag(pool, v, &toff) || !toff ||
			    nvh_obj_containing(pool, tx, toff, &oi, &in) || in ||
			    !nvh_type_counted(oi.rt))
				continue;
			int rc = fn(tx, toff);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int
found(struct nvh_tx *tx, uint64_t target)
{
	(void)tx;
	(void)target;
	return 1;
}

int
nvh_obj_holds_counted(struct nvh_pool *pool, uint64_t off,
		      const struct nvh_rtype *rt)
{
	return each_counted_target(pool, NULL, off, rt, found);
}

static int
drop(struct nvh_tx *tx, uint64_t target)
{
	return rc_add(tx, target, -1, 0);
}

int
nvh_obj_drop_fields(struct nvh_tx *tx, uint64_t off, const struct nvh_rtype *rt)
{
	int rc = each_counted_target(tx->pool, tx, off, rt, drop);
	if (!rc && rt && rt->nfields)
		tx->obj->typed = 1; /* the commit applies the counts */
	return rc;
}

NVH_API int
nvh_tx_set_weak(nvh_tx *tx, nvh_weak *field, nvh_oid value)
{
	int rc = nvh_tx_enter(&tx, "nvh_tx_set_weak");
	if (rc)
		return rc;
	struct nvh_pool *pool = tx->pool;
	const char *p = (const char *)field;
	if (!field || p < pool->base || p >= pool->base + nvh_pool_size(pool) - 16)
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_set_weak: field %p is not "
				    "in this pool", (void *)field);
	uint64_t foff = (uint64_t)(p - pool->base);
	const struct nvh_rfield *fd;
	struct nvh_oinfo owner, vi;
	if ((rc = field_at(pool, tx, foff, &fd, &owner, "nvh_tx_set_weak")))
		return rc;
	if (!fd || !(fd->flags & NVH_FIELD_WEAK))
		return nvh_tx_failf(tx, EINVAL, "nvh_tx_set_weak: not a weak "
				    "field");
	if ((rc = value_ok(pool, tx, value, fd, &vi, "nvh_tx_set_weak")))
		return rc;
	if ((rc = nvh_tx_snapshot(tx, foff, 16)))
		return rc;
	field->oid = value;
	field->birth = !value.off ? 0
		       : vi.fresh >= 0 ? tx->fresh[vi.fresh].blk.birth
				       : vi.hdr->birth;
	return 0;
}

NVH_API nvh_oid
nvh_weak_get(nvh_pool *pool, const nvh_weak *field)
{
	uint64_t off;
	if (!pool || !field || !field->oid.off ||
	    nvh_oid_untag(pool, field->oid.off, &off))
		return NVH_OID_NULL;
	struct nvh_objhdr *h = nvh_obj_hdr(pool, off);
	if (!h) {
		/* made in this thread's transaction (no header until its
		 * commit): live, if the birth is the one recorded */
		const struct nvh_tx *tx = nvh_tx_current(pool);
		uint64_t in;
		long i = tx ? nvh_tx_fresh_at(tx, off, &in) : -1;
		return i >= 0 && in == 0 && !tx->fresh[i].dropped &&
		       tx->fresh[i].blk.birth ==
		       field->birth ? field->oid : NVH_OID_NULL;
	}
	if ((NVH_HDR_FLAGS(hdr_word(h)) & NVH_OBJ_DYING) ||
	    __atomic_load_n(&h->birth, __ATOMIC_RELAXED) != field->birth)
		return NVH_OID_NULL;
	return field->oid;
}

NVH_API void *
nvh_direct_typed(nvh_pool *pool, nvh_oid oid, const struct nvh_type *t)
{
	void *p = nvh_direct(pool, oid);
#if defined(NVH_DEBUG)
	if (p && t) {
		uint64_t off;
		nvh_oid_untag(pool, oid.off, &off);
		struct nvh_objhdr *h = nvh_obj_hdr(pool, off);
		const struct nvh_rtype *rt = h ? nvh_type_get(pool,
			NVH_HDR_TYPE(hdr_word(h))) : NULL;
		struct nvh_tx *tx = nvh_tx_current(pool);
		uint64_t in;
		int fresh = !h && tx && nvh_tx_fresh_at(tx, off, &in) >= 0 &&
			    in == 0;
		if (!fresh && (!rt || strcmp(rt->name, t->name) != 0)) {
			nvh_err(EINVAL, "nvh_direct_typed: oid 0x%" PRIx64 " is "
				"not a live \"%s\"", oid.off, t->name);
			return NULL;
		}
	}
#else
	(void)t;
#endif
	return p;
}

NVH_API uint32_t
nvh_refcount(nvh_pool *pool, nvh_oid oid)
{
	uint64_t off;
	if (!pool || nvh_oid_untag(pool, oid.off, &off) || !off)
		return 0;
	struct nvh_objhdr *h = nvh_obj_hdr(pool, off);
	uint64_t w = h ? hdr_word(h) : 0;
	/* a dying object's count bits are its release progress */
	return h && !(NVH_HDR_FLAGS(w) & NVH_OBJ_DYING) &&
	       nvh_type_counted(nvh_type_get(pool, NVH_HDR_TYPE(w)))
		       ? NVH_HDR_COUNT(w) : 0;
}

/* ---- pins ---- */

int
nvh_pinned(struct nvh_pool *pool, uint64_t off)
{
	struct nvh_objects *o = pool->objects;
	pthread_mutex_lock(&o->lock);
	const uint64_t *n = nvh_u64map_find(&o->pins, off);
	int pinned = n != NULL;
	pthread_mutex_unlock(&o->lock);
	return pinned;
}

/* The lane a pin or unpin holds while it works: its transaction's, or
 * one of its own.  Held, it keeps nvh_close (which takes every lane)
 * from closing the pool under the call and the drain an unpin starts. */
static struct nvh_lane *
pin_lane(struct nvh_pool *pool, int *own)
{
	struct nvh_tx *tx = nvh_tx_current(pool);
	*own = !tx;
	if (tx)
		return tx->lane;
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!t) {
		nvh_err(ENOMEM, "out of memory");
		return NULL;
	}
	return nvh_lane_acquire(pool, &t->lane);
}

NVH_API int
nvh_pin(nvh_pool *pool, nvh_oid oid)
{
	uint64_t off;
	if (!pool || !pool->objects)
		return nvh_err(EINVAL, "nvh_pin: NULL pool");
	/* a fork child's copy: refused before any lock (a thread of the
	 * parent may have held one at the fork) */
	int rc = nvh_pool_usable(pool, "nvh_pin");
	if (rc)
		return rc;
	if (nvh_oid_untag(pool, oid.off, &off) || !off)
		return nvh_err(EINVAL, "nvh_pin: %s: 0x%" PRIx64 " is not a live "
			       "object of this pool", pool->path, oid.off);
	struct nvh_objects *o = pool->objects;
	int own;
	struct nvh_lane *l = pin_lane(pool, &own);
	if (!l)
		return -ENOMEM;
	/* Under rc_lock no commit or drain step changes a header: the
	 * object looked up (once) is the one pinned, and a commit that
	 * unlinks it after us sees the pin (the lane first: cascade.c). */
	pthread_mutex_lock(&o->rc_lock);
	struct nvh_objhdr *h = nvh_obj_hdr(pool, off);
	uint64_t w = h ? hdr_word(h) : 0;
	if (!h) {
		rc = nvh_err(EINVAL, "nvh_pin: %s: 0x%" PRIx64 " is not a live "
			     "object of this pool", pool->path, oid.off);
	} else {
		pthread_mutex_lock(&o->lock);
		const uint64_t *n = nvh_u64map_find(&o->pins, off);
		/* an object already unlinked and not pinned is being freed:
		 * a pin now would race with the drain */
		if (!n && (NVH_HDR_FLAGS(w) & NVH_OBJ_DYING))
			rc = nvh_err(EINVAL, "nvh_pin: %s: 0x%" PRIx64 " is being "
				     "freed (unlinked, not pinned)", pool->path,
				     oid.off);
		else if (nvh_u64map_put(&o->pins, off, n ? *n + 1 : 1))
			rc = nvh_err(ENOMEM, "nvh_pin: out of memory");
		pthread_mutex_unlock(&o->lock);
	}
	pthread_mutex_unlock(&o->rc_lock);
	if (own)
		nvh_lane_put(pool, l);
	return rc;
}

NVH_API int
nvh_unpin(nvh_pool *pool, nvh_oid oid)
{
	uint64_t off;
	if (!pool || !pool->objects || nvh_oid_untag(pool, oid.off, &off))
		return nvh_err(EINVAL, "nvh_unpin: bad pool or oid");
	int rc = nvh_pool_usable(pool, "nvh_unpin"); /* as nvh_pin */
	if (rc)
		return rc;
	struct nvh_objects *o = pool->objects;
	int own;
	struct nvh_lane *l = pin_lane(pool, &own);
	if (!l)
		return -ENOMEM;
	int last = -1;
	pthread_mutex_lock(&o->lock);
	uint64_t *n = nvh_u64map_find(&o->pins, off);
	if (n) {
		last = --*n == 0;
		if (last)
			nvh_u64map_del(&o->pins, off);
	}
	pthread_mutex_unlock(&o->lock);
	struct nvh_objhdr *h;
	if (last < 0)
		rc = nvh_err(EINVAL, "nvh_unpin: %s: 0x%" PRIx64 " is not pinned",
			     pool->path, oid.off);
	else if (last && (h = nvh_obj_hdr(pool, off)) &&
		 (NVH_HDR_FLAGS(hdr_word(h)) & NVH_OBJ_DYING)) {
		if (!own)
			nvh_tx_current(pool)->obj->drain = 1; /* as its tx ends */
		else
			rc = nvh_obj_drain_on(pool, l);
	}
	if (own)
		nvh_lane_put(pool, l);
	return rc;
}
