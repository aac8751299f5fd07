/*
 * atomic.c -- nvh_alloc and nvh_free, the atomic operations outside
 * transactions, as the object model allows them: the destination must be
 * the root slot or a word inside a live object (not nvheap's own), and
 * neither operation may change what a reference count counts.  The
 * allocation and the free themselves are the heap's (heap/alloc.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"
#include "tx/tx.h"

static int
usable(nvh_pool *pool, const char *fn)
{
	if (!pool)
		return nvh_err(EINVAL, "%s: NULL pool", fn);
	if (nvh_pool_usable(pool, fn)) /* closed, or a fork child's copy */
		return -errno;
	if (pool->rdonly)
		return nvh_err(EROFS, "%s: %s: pool is open read-only", fn,
			       pool->path);
	if (nvh_tx_current(pool))
		return nvh_err(EBUSY, "%s: %s: this thread is in a transaction "
			       "on the pool: use nvh_tx_alloc / nvh_tx_free", fn,
			       pool->path);
	int f = atomic_load(&pool->failed);
	if (f)
		return nvh_err(EIO, "%s: %s: an earlier write to the medium "
			       "failed (%s); reopen the pool to recover", fn,
			       pool->path, strerror(-f));
	return 0;
}

/* Where an atomic operation's destination lies. */
struct dest {
	int root;                       /* the root slot */
	const struct nvh_rtype *owner;  /* else the typed object holding it */
	const struct nvh_rfield *field; /* and its pointer field there */
};

/* The declared pointer field of `rt` that the 8-byte word at offset `in`
 * of the object belongs to (either word of a weak pointer), or NULL. */
static const struct nvh_rfield *
field_of(const struct nvh_rtype *rt, uint64_t in)
{
	for (uint32_t i = 0; i < rt->nfields; i++) {
		const struct nvh_rfield *f = &rt->fields[i];
		uint64_t w = nvh_field_width(f->flags);
		if (in >= f->offset && in - f->offset < w * f->count)
			return f;
	}
	return NULL;
}

/*
 * Is dest a place an atomic operation may store an oid into?  The root
 * slot, or an 8-byte word inside a live object, but not inside nvheap's
 * own objects (the type table).  Fills *d: the operations then refuse
 * what would break the invariant of objects/ref.c (a counted object's
 * count is the strong references to it), which only transactions keep.
 */
static int
dest_ok(nvh_pool *pool, const nvh_oid *dest, const char *fn, struct dest *d)
{
	struct nvh_heap *h = pool->heap;
	const char *p = (const char *)dest;
	memset(d, 0, sizeof(*d));
	if (!dest)
		return nvh_err(EINVAL, "%s: %s: dest is NULL", fn, pool->path);
	if (p < pool->base || p >= pool->base + nvh_pool_size(pool) ||
	    (size_t)(p - pool->base) > nvh_pool_size(pool) - sizeof(*dest))
		return nvh_err(EINVAL, "%s: %s: dest %p is not inside this "
			       "pool's mapping", fn, pool->path, (void *)dest);
	uint64_t off = (uint64_t)(p - pool->base);
	if (off % 8)
		return nvh_err(EINVAL, "%s: %s: dest (pool offset %" PRIu64 ") "
			       "is not 8-byte aligned", fn, pool->path, off);
	if (off == h->hdr.root_off) {
		d->root = 1;
		return 0;
	}
	uint64_t a, b, in;
	if (nvh_heap_locate(h, off, &a, &b, &in) != 0)
		return nvh_err(EINVAL, "%s: %s: dest (pool offset %" PRIu64 ") "
			       "is neither the root slot nor inside a live "
			       "object", fn, pool->path, off);
	const struct nvh_objhdr *oh = (const void *)(pool->base +
		nvh_objhdr_off(h, a, b, h->arena[a].kind == NVH_K_LARGE));
	uint32_t type = NVH_HDR_TYPE(oh->word);
	if (type < NVH_TYPEID_USER_MAX)
		return 0; /* untyped: the caller's bytes */
	if (type < NVH_TYPE_TABLE_BASE)
		return nvh_err(EINVAL, "%s: %s: dest (pool offset %" PRIu64 ") "
			       "is inside nvheap's own %s (type 0x%" PRIx32 ")",
			       fn, pool->path, off, type == NVH_TYPEID_TABLE
			       ? "type table" : "object", type);
	d->owner = nvh_type_get(pool, type);
	if (!d->owner)
		return nvh_err(EINVAL, "%s: %s: dest (pool offset %" PRIu64 ") "
			       "is inside an object of type 0x%" PRIx32 ", which "
			       "is not in the type table", fn, pool->path, off,
			       type);
	d->field = field_of(d->owner, in);
	return 0;
}

/* If oid v names a reference-counted object, its type, else NULL. */
static const struct nvh_rtype *
counted_at(nvh_pool *pool, uint64_t v)
{
	uint64_t off;
	struct nvh_objhdr *oh;
	if (!v || nvh_oid_untag(pool, v, &off) || !(oh = nvh_obj_hdr(pool, off)))
		return NULL;
	const struct nvh_rtype *rt = nvh_type_get(pool, NVH_HDR_TYPE(oh->word));
	return nvh_type_counted(rt) ? rt : NULL;
}

/*
 * May nvh_alloc store a new untyped object's oid into d, replacing `old`?
 * Not into a weak field or a field that points to one type (the object
 * would be of the wrong type), and not over a counted object (its count
 * would keep the lost reference: a leak).  The root slot and untyped
 * strong fields ("any" target) may receive it, as before.
 */
static int
alloc_dest_ok(nvh_pool *pool, const struct dest *d, uint64_t old)
{
	const struct nvh_rfield *f = d->field;
	if (f && f->flags & NVH_FIELD_WEAK)
		return nvh_err(EINVAL, "nvh_alloc: %s: the destination is a "
			       "weak pointer field of a \"%s\": set it in a "
			       "transaction (nvh_tx_set_weak)", pool->path,
			       d->owner->name);
	if (f && f->target[0])
		return nvh_err(EINVAL, "nvh_alloc: %s: the destination is a "
			       "pointer field of a \"%s\": use "
			       "nvh_tx_alloc_typed and NVH_TX_SET", pool->path,
			       d->owner->name);
	if (!d->root && !f)
		return 0;
	const struct nvh_rtype *rt = counted_at(pool, old);
	if (!rt)
		return 0;
	char where[NVH_TYPE_NAME_LEN + 40];
	if (d->root)
		snprintf(where, sizeof(where), "the root slot");
	else
		snprintf(where, sizeof(where), "a pointer field of a \"%s\"",
			 d->owner->name);
	return nvh_err(EINVAL, "nvh_alloc: %s: the destination (%s) holds a "
		       "\"%s\", which is reference counted: replacing it "
		       "outside a transaction would leave its count wrong; use "
		       "nvh_tx_set", pool->path, where, rt->name);
}

static int
alloc_busy(nvh_pool *pool, nvh_oid *dest, size_t size, uint32_t type,
	   nvh_ctor ctor, void *arg)
{
	struct dest d;
	int rc = dest_ok(pool, dest, "nvh_alloc", &d);
	if (rc)
		return rc;
	/* The value checked is the one the CSET below expects: if another
	 * thread stores into dest meanwhile, the CSET leaves its value. */
	uint64_t old = __atomic_load_n(&dest->off, __ATOMIC_ACQUIRE);
	rc = alloc_dest_ok(pool, &d, old);
	if (rc)
		return rc;
	if (size == 0)
		return nvh_err(EINVAL, "nvh_alloc: %s: size 0", pool->path);
	if (type >= NVH_TYPEID_USER_MAX)
		return nvh_err(EINVAL, "nvh_alloc: %s: type 0x%" PRIx32 " is not "
			       "an untyped id (< 0x%x): typed objects are "
			       "allocated in transactions", pool->path, type,
			       NVH_TYPEID_USER_MAX);
	return nvh_heap_alloc(pool, dest, old, size, NVH_HDR_MAKE(type, 0, 0),
			      ctor, arg);
}

/* The thread's context is marked busy for the whole call, so that an
 * nvh_close on another thread sees it (it takes a lane only to commit). */
NVH_API int
nvh_alloc(nvh_pool *pool, nvh_oid *dest, size_t size, uint32_t type,
	  nvh_ctor ctor, void *arg)
{
	int rc = usable(pool, "nvh_alloc");
	if (rc)
		return rc;
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!t)
		return nvh_err(ENOMEM, "nvh_alloc: out of memory");
	if ((rc = nvh_tctx_enter(pool->heap, t, "nvh_alloc")))
		return rc;
	rc = alloc_busy(pool, dest, size, type, ctor, arg);
	nvh_tctx_leave(t);
	return rc;
}

static int
free_busy(nvh_pool *pool, struct nvh_tctx *t, nvh_oid *dest)
{
	struct dest d;
	int rc = dest_ok(pool, dest, "nvh_free", &d);
	if (rc)
		return rc;
	uint64_t v = __atomic_load_n(&dest->off, __ATOMIC_ACQUIRE), off;
	if (v == 0)
		return 0;
	if (nvh_oid_untag(pool, v, &off))
		return nvh_err(EINVAL, "nvh_free: %s: oid 0x%" PRIx64 " is not an "
			       "object of this pool", pool->path, v);
	struct nvh_blk k;
	/* Claim: of two frees of one block, one wins, the other fails. */
	rc = nvh_blk_claim(pool, off, &k);
	if (rc) {
		nvh_err_prefix("nvh_free: %s: ", pool->path);
		return rc;
	}
	uint32_t type = NVH_HDR_TYPE(nvh_blk_hdr(pool, &k)->word);
	if (type >= NVH_TYPEID_USER_MAX && type < NVH_TYPE_TABLE_BASE) {
		nvh_blk_unclaim(pool, &k);
		return nvh_err(EINVAL, "nvh_free: %s: oid 0x%" PRIx64 " is "
			       "nvheap's own object (type 0x%" PRIx32 "), not "
			       "the caller's", pool->path, v, type);
	}
	const struct nvh_rtype *rt = nvh_type_fit(pool, type,
						  nvh_blk_size(pool, &k));
	if (nvh_type_counted(rt)) {
		nvh_blk_unclaim(pool, &k);
		return nvh_err(EINVAL, "nvh_free: %s: a \"%s\" is reference "
			       "counted: unlink it in a transaction", pool->path,
			       rt->name);
	}
	if (nvh_obj_holds_counted(pool, off, rt)) {
		/* their counts change only in transactions */
		nvh_blk_unclaim(pool, &k);
		return nvh_err(EINVAL, "nvh_free: %s: the \"%s\" holds strong "
			       "pointers to reference-counted objects: free it "
			       "with nvh_tx_free", pool->path, rt->name);
	}
	return nvh_heap_free(pool, t, &k, dest, v);
}

NVH_API int
nvh_free(nvh_pool *pool, nvh_oid *dest)
{
	int rc = usable(pool, "nvh_free");
	if (rc)
		return rc;
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!t)
		return nvh_err(ENOMEM, "nvh_free: out of memory");
	if ((rc = nvh_tctx_enter(pool->heap, t, "nvh_free")))
		return rc;
	rc = free_busy(pool, t, dest);
	nvh_tctx_leave(t);
	return rc;
}

NVH_API uint32_t
nvh_type_of(nvh_pool *pool, nvh_oid oid)
{
	const struct nvh_objhdr *oh = nvh_heap_object(pool, oid, NULL);
	return oh ? NVH_HDR_TYPE(oh->word) : 0;
}
