/*
 * alloc.c -- the atomic allocation API: nvh_alloc and nvh_free, and the
 * oid helpers.
 *
 * An allocation: pick a block in DRAM (reserve) -> run the constructor and
 * make its stores durable (fence) -> one redo record {bitmap OR, block
 * word SET, destination CSET, plus the arena table SET if the arena is
 * new} committed on the caller's lane (fence: the commit point) -> the
 * block is published (live) and the entries applied in place.  A free:
 * claim the block (live -> not live, so a second free fails) -> record
 * {bitmap AND-NOT, destination CSET to null} -> after the commit the block
 * becomes allocatable again.  See docs/allocator.md for why one fence is
 * the commit point and the in-place words are flushed only at checkpoints.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <nvheap/tx.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"
#include "tx/lane.h"
#include "tx/redo.h"

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
	if (p < pool->base || p >= pool->base + pool->size ||
	    (size_t)(p - pool->base) > pool->size - sizeof(*dest))
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

NVH_API void *
nvh_direct(const nvh_pool *pool, nvh_oid oid)
{
	uint64_t off;
	if (!pool || oid.off == 0 || nvh_oid_untag(pool, oid.off, &off))
		return NULL;
	return pool->base + off;
}

NVH_API nvh_oid
nvh_oid_of(const nvh_pool *pool, const void *addr)
{
	const char *p = addr;
	if (!pool || !p || p <= pool->base || p >= pool->base + pool->size)
		return NVH_OID_NULL;
	return (nvh_oid){nvh_oid_tagged(pool, (uint64_t)(p - pool->base))};
}

NVH_API nvh_oid *
nvh_root_slot(nvh_pool *pool)
{
	if (!pool || !pool->heap)
		return NULL;
	return (nvh_oid *)(pool->base + pool->heap->hdr.root_off);
}

/* ---- block steps ---- */

/* A block of class c from t's arena (taking another when it is full).
 * Out of arenas, it reclaims once, outside t's lock (reclaiming takes
 * other threads' locks, and theirs may be waiting for ours). */
static int
alloc_small(nvh_pool *pool, struct nvh_tctx *t, unsigned c, uint64_t *ap,
	    uint64_t *bp)
{
	struct nvh_heap *h = pool->heap;
	int reclaimed = 0, rc = 0;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		if (t->cur[c] < 0) {
			uint64_t a;
			rc = nvh_arena_take(h, t, c, &a);
			if (rc == -ENOMEM && !reclaimed) {
				reclaimed = 1;
				pthread_mutex_unlock(&t->lock);
				rc = nvh_arenas_reclaim(pool, t, (int)c);
				pthread_mutex_lock(&t->lock);
				if (rc && rc != -ENOMEM)
					break;
				continue;
			}
			if (rc)
				break;
			t->cur[c] = (int32_t)a;
		}
		uint64_t a = (uint64_t)t->cur[c];
		int64_t b = nvh_block_reserve(h, a);
		if (b >= 0) {
			*ap = a;
			*bp = (uint64_t)b;
			break;
		}
		t->cur[c] = -1;
		nvh_arena_drop(h, a);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int
nvh_blk_reserve(nvh_pool *pool, struct nvh_tctx *t, uint64_t size,
		struct nvh_blk *k)
{
	struct nvh_heap *h = pool->heap;
	memset(k, 0, sizeof(*k));
	if (size > h->narenas * (uint64_t)NVH_ARENA_SIZE)
		return nvh_err(ENOMEM, "%" PRIu64 " bytes is more than the "
			       "whole heap (%" PRIu64 " bytes)", size,
			       h->narenas * (uint64_t)NVH_ARENA_SIZE);
	int c = size <= h->cls[h->ncls - 1].block_size
			? nvh_class_of_heap(h, size) : -1;
	k->cls = c;
	k->birth = atomic_fetch_add(&pool->lanes.seq, 1);
	if (c >= 0) {
		int rc = alloc_small(pool, t, (unsigned)c, &k->a, &k->b);
		if (rc == -ENOMEM)
			return nvh_err(ENOMEM, "out of space for a %" PRIu64
				       "-byte object (no free block or arena)",
				       size);
		if (rc)
			return rc;
		const struct nvh_class_ent *ce = &h->cls[c];
		k->off = nvh_arena_off(h, k->a) + ce->blocks_off +
			 k->b * ce->block_size;
		return 0;
	}
	k->run = (size + NVH_ARENA_SIZE - 1) / NVH_ARENA_SIZE;
	int rc = nvh_run_take(h, k->run, &k->a);
	if (rc == -ENOMEM) {
		rc = nvh_arenas_reclaim(pool, t, -1);
		if (!rc || rc == -ENOMEM)
			rc = nvh_run_take(h, k->run, &k->a);
	}
	if (rc == -ENOMEM)
		return nvh_err(ENOMEM, "out of space for a %" PRIu64 "-byte "
			       "object (%" PRIu64 " contiguous free arenas "
			       "needed)", size, k->run);
	if (rc)
		return rc;
	k->off = nvh_arena_off(h, k->a);
	return 0;
}

void
nvh_blk_unreserve(nvh_pool *pool, const struct nvh_blk *k)
{
	if (k->cls >= 0)
		nvh_block_unreserve(pool->heap, nvh_tctx_peek(pool->heap),
				    k->a, k->b);
	else
		nvh_run_put(pool->heap, k->a, k->run);
}

struct nvh_objhdr *
nvh_blk_hdr(const nvh_pool *pool, const struct nvh_blk *k)
{
	return (struct nvh_objhdr *)(pool->base +
				     nvh_objhdr_off(pool->heap, k->a, k->b,
						    k->cls < 0));
}

int
nvh_blk_rec_alloc(nvh_pool *pool, const struct nvh_blk *k, uint64_t word,
		  uint64_t birth, struct nvh_rec *rec)
{
	struct nvh_heap *h = pool->heap;
	uint64_t hoff = nvh_objhdr_off(h, k->a, k->b, k->cls < 0);
	int rc = 0;
	if (k->cls >= 0) {
		if (h->arena[k->a].assign_pending)
			rc = nvh_rec_add(rec, NVH_OP_SET, nvh_table_off(h, k->a),
					 NVH_DESC(NVH_ARENA_SMALL, k->cls, 0));
		if (!rc)
			rc = nvh_rec_add(rec, NVH_OP_OR,
					 nvh_bitmap_off(h, k->a) + (k->b / 64) * 8,
					 1ull << (k->b % 64));
	} else {
		rc = nvh_rec_add(rec, NVH_OP_SET, nvh_table_off(h, k->a),
				 NVH_DESC(NVH_ARENA_LARGE, 0, k->run));
	}
	if (!rc)
		rc = nvh_rec_add(rec, NVH_OP_SET, hoff, word);
	if (!rc)
		rc = nvh_rec_add(rec, NVH_OP_SET, hoff + 8, birth);
	return rc;
}

/* Between the commit fence and the in-place application: the block is
 * durable, make it live for the rest of the process. */
void
nvh_blk_publish(nvh_pool *pool, const struct nvh_blk *k)
{
	struct nvh_heap *h = pool->heap;
	if (k->cls >= 0) {
		h->arena[k->a].assign_pending = 0;
		nvh_block_publish(h, k->a, k->b);
	} else {
		atomic_store(&h->arena[k->a].large_live, 1);
	}
}

int
nvh_blk_claim(nvh_pool *pool, uint64_t off, struct nvh_blk *k)
{
	struct nvh_heap *h = pool->heap;
	uint64_t in;
	memset(k, 0, sizeof(*k));
	if (nvh_heap_locate(h, off, &k->a, &k->b, &in) != 0 || in != 0)
		return nvh_err(EINVAL, "oid %" PRIu64 " is not the start of a "
			       "live object (double free, interior or garbage "
			       "pointer)", off);
	struct nvh_arena_rt *r = &h->arena[k->a];
	k->off = off;
	if (r->kind == NVH_K_LARGE) {
		k->cls = -1;
		k->run = r->run;
		int one = 1;
		if (!atomic_compare_exchange_strong(&r->large_live, &one, 0))
			goto not_live;
		return 0;
	}
	k->cls = r->cls;
	if (nvh_block_claim(h, k->a, k->b) != 0)
		goto not_live;
	return 0;
not_live:
	return nvh_err(EINVAL, "oid %" PRIu64 " is not a live object (double "
		       "free?)", off);
}

void
nvh_blk_unclaim(nvh_pool *pool, const struct nvh_blk *k)
{
	if (k->cls >= 0)
		nvh_block_unclaim(pool->heap, k->a, k->b);
	else
		atomic_store(&pool->heap->arena[k->a].large_live, 1);
}

int
nvh_blk_rec_free(nvh_pool *pool, const struct nvh_blk *k, struct nvh_rec *rec)
{
	struct nvh_heap *h = pool->heap;
	if (k->cls >= 0)
		return nvh_rec_add(rec, NVH_OP_ANDNOT,
				   nvh_bitmap_off(h, k->a) + (k->b / 64) * 8,
				   1ull << (k->b % 64));
	int rc = nvh_rec_add(rec, NVH_OP_SET, nvh_table_off(h, k->a),
			     NVH_DESC(NVH_ARENA_FREE, 0, 0));
	uint64_t hoff = nvh_objhdr_off(h, k->a, 0, 1);
	if (!rc)
		rc = nvh_rec_add(rec, NVH_OP_SET, hoff, 0);
	if (!rc)
		rc = nvh_rec_add(rec, NVH_OP_SET, hoff + 8, 0);
	return rc;
}

/* After the free is durable: the block may be handed out again. */
void
nvh_blk_release(nvh_pool *pool, const struct nvh_blk *k)
{
	if (k->cls >= 0)
		nvh_block_release(pool->heap, k->a, k->b);
	else
		nvh_run_put(pool->heap, k->a, k->run);
}

uint64_t
nvh_blk_size(const nvh_pool *pool, const struct nvh_blk *k)
{
	return k->cls >= 0 ? pool->heap->cls[k->cls].block_size
			   : k->run * (uint64_t)NVH_ARENA_SIZE;
}

int
nvh_heap_data_ok(const nvh_pool *pool, uint64_t off, uint64_t len)
{
	const struct nvh_heap_hdr *h = &pool->heap->hdr;
	if (off == h->root_off && len <= 8)
		return 1;
	uint64_t start = h->arenas_off, end = start + h->narenas * NVH_ARENA_SIZE;
	return off >= start && off <= end && len <= end - off;
}

/* ---- the atomic API ---- */

struct pub {
	nvh_pool *pool;
	const struct nvh_blk *k;
};

static void
publish(void *arg)
{
	struct pub *p = arg;
	nvh_blk_publish(p->pool, p->k);
}

static int
commit(nvh_pool *pool, struct nvh_tctx *t, struct nvh_rec *rec,
       void (*committed)(void *), void *arg)
{
	struct nvh_lane *l = nvh_lane_acquire(pool, &t->lane);
	int rc = nvh_lane_commit(pool, l, rec, committed, arg);
	nvh_lane_release(pool, l);
	return rc;
}

NVH_API int
nvh_alloc(nvh_pool *pool, nvh_oid *dest, size_t size, uint32_t type,
	  nvh_ctor ctor, void *arg)
{
	int rc = usable(pool, "nvh_alloc");
	if (rc)
		return rc;
	struct dest d;
	rc = dest_ok(pool, dest, "nvh_alloc", &d);
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
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!t)
		return nvh_err(ENOMEM, "nvh_alloc: out of memory");
	struct nvh_blk k;
	rc = nvh_blk_reserve(pool, t, size, &k);
	if (rc) {
		nvh_err_prefix("nvh_alloc: %s: ", pool->path);
		return rc;
	}
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	rc = nvh_blk_rec_alloc(pool, &k, NVH_HDR_MAKE(type, 0, 0), k.birth, &rec);
	if (!rc)
		rc = nvh_rec_add_cset(&rec, (uint64_t)((char *)dest - pool->base),
				      nvh_oid_tagged(pool, k.off), old);
	if (!rc && ctor) {
		rc = ctor(pool, pool->base + k.off, arg);
		if (rc)
			rc = nvh_err(ECANCELED, "the constructor returned %d", rc);
		else
			/* The constructed contents are durable before the
			 * record that publishes them. */
			rc = nvh_persist_range(&pool->persist, pool->base + k.off,
					       size);
	}
	struct pub p = {pool, &k};
	if (!rc)
		rc = commit(pool, t, &rec, publish, &p);
	nvh_rec_fini(&rec);
	if (rc) {
		nvh_blk_unreserve(pool, &k);
		nvh_err_prefix("nvh_alloc: %s: ", pool->path);
	}
	return rc;
}

NVH_API int
nvh_free(nvh_pool *pool, nvh_oid *dest)
{
	int rc = usable(pool, "nvh_free");
	if (rc)
		return rc;
	struct dest d;
	rc = dest_ok(pool, dest, "nvh_free", &d);
	if (rc)
		return rc;
	uint64_t v = __atomic_load_n(&dest->off, __ATOMIC_ACQUIRE), off;
	if (v == 0)
		return 0;
	if (nvh_oid_untag(pool, v, &off))
		return nvh_err(EINVAL, "nvh_free: %s: oid 0x%" PRIx64 " is not an "
			       "object of this pool", pool->path, v);
	struct nvh_tctx *t = nvh_tctx_get(pool->heap);
	if (!t)
		return nvh_err(ENOMEM, "nvh_free: out of memory");
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
	struct nvh_rec rec;
	nvh_rec_init(&rec, NVH_REC_ATOMIC);
	rc = nvh_blk_rec_free(pool, &k, &rec);
	if (!rc)
		rc = nvh_rec_add_cset(&rec, (uint64_t)((char *)dest - pool->base),
				      0, v);
	if (!rc)
		rc = commit(pool, t, &rec, NULL, NULL);
	nvh_rec_fini(&rec);
	if (rc) {
		nvh_blk_unclaim(pool, &k);
		nvh_err_prefix("nvh_free: %s: ", pool->path);
		return rc;
	}
	nvh_blk_release(pool, &k);
	return 0;
}

NVH_API size_t
nvh_usable_size(nvh_pool *pool, nvh_oid oid)
{
	if (!pool || !pool->heap)
		return 0;
	struct nvh_heap *h = pool->heap;
	uint64_t a, b, in, off;
	if (nvh_oid_untag(pool, oid.off, &off) ||
	    nvh_heap_locate(h, off, &a, &b, &in) != 0 || in != 0)
		return 0;
	if (h->arena[a].kind == NVH_K_LARGE)
		return (size_t)h->arena[a].run * NVH_ARENA_SIZE;
	return h->cls[h->arena[a].cls].block_size;
}

NVH_API uint32_t
nvh_type_of(nvh_pool *pool, nvh_oid oid)
{
	if (!pool || !pool->heap)
		return 0;
	struct nvh_heap *h = pool->heap;
	uint64_t a, b, in, off;
	if (nvh_oid_untag(pool, oid.off, &off) ||
	    nvh_heap_locate(h, off, &a, &b, &in) != 0 || in != 0)
		return 0;
	const struct nvh_objhdr *oh = (const void *)(pool->base +
		nvh_objhdr_off(h, a, b, h->arena[a].kind == NVH_K_LARGE));
	return NVH_HDR_TYPE(oh->word);
}
