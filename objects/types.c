/*
 * types.c -- the pool's type table: loading and validating it at open,
 * registering types (a new table, written in a transaction), lookups.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"
#include "tx/tx.h"

#define HDR sizeof(struct nvh_types_hdr)

void
nvh_types_free(struct nvh_rtype *t, uint32_t n)
{
	for (uint32_t i = 0; t && i < n; i++)
		free(t[i].fields);
	free(t);
}

static int
name_ok(const char *s)
{
	return memchr(s, 0, NVH_TYPE_NAME_LEN) != NULL && s[0] != 0;
}

static int
rfields_overlap(const struct nvh_rfield *a, const struct nvh_rfield *b)
{
	uint64_t aw = nvh_field_width(a->flags) * (uint64_t)a->count;
	uint64_t bw = nvh_field_width(b->flags) * (uint64_t)b->count;
	return a->offset < b->offset + bw && b->offset < a->offset + aw;
}

int
nvh_types_parse(const void *obj, uint64_t size, struct nvh_rtype **out,
		uint32_t *nout)
{
	const struct nvh_types_hdr *h = obj;
	*out = NULL;
	*nout = 0;
	if (size < HDR || memcmp(h->magic, NVH_TYPES_MAGIC, 8) != 0)
		return nvh_err(NVH_ECORRUPT, "type table: bad magic");
	if (h->ntypes > (size - HDR) / sizeof(struct nvh_type_ent) ||
	    h->nfields > (size - HDR - h->ntypes * sizeof(struct nvh_type_ent)) /
				 sizeof(struct nvh_field_ent))
		return nvh_err(NVH_ECORRUPT, "type table: %" PRIu32 " types and %"
			       PRIu32 " fields do not fit its %" PRIu64 " bytes",
			       h->ntypes, h->nfields, size);
	uint64_t body = h->ntypes * sizeof(struct nvh_type_ent) +
			h->nfields * sizeof(struct nvh_field_ent);
	if (XXH3_64bits((const char *)obj + HDR, body) != h->checksum)
		return nvh_err(NVH_ECORRUPT, "type table: checksum mismatch");
	const struct nvh_type_ent *te = (const void *)((const char *)obj + HDR);
	const struct nvh_field_ent *fe = (const void *)(te + h->ntypes);
	struct nvh_rtype *t = calloc(h->ntypes ? h->ntypes : 1, sizeof(*t));
	if (!t)
		return nvh_err(ENOMEM, "out of memory for the type table");
	for (uint32_t i = 0; i < h->ntypes; i++) {
		const struct nvh_type_ent *e = &te[i];
		if (!name_ok(e->name) || e->flags & ~NVH_TYPE_MANUAL ||
		    e->first > h->nfields || e->nfields > h->nfields - e->first)
			goto bad;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(t[j].name, e->name) == 0)
				goto bad;
		memcpy(t[i].name, e->name, NVH_TYPE_NAME_LEN);
		t[i].id = NVH_TYPE_TABLE_BASE + i;
		t[i].size = e->size;
		t[i].flags = e->flags;
		t[i].nfields = e->nfields;
		t[i].fields = calloc(e->nfields ? e->nfields : 1,
				     sizeof(*t[i].fields));
		if (!t[i].fields) {
			nvh_types_free(t, i + 1);
			return nvh_err(ENOMEM, "out of memory for the type table");
		}
		for (uint32_t k = 0; k < e->nfields; k++) {
			const struct nvh_field_ent *f = &fe[e->first + k];
			uint32_t fl = f->flags & ((1u << NVH_FIELD_COUNT_SHIFT) - 1);
			uint32_t n = f->flags >> NVH_FIELD_COUNT_SHIFT;
			uint64_t w = nvh_field_width(fl) * (uint64_t)(n ? n : 1);
			if (fl & ~NVH_FIELD_WEAK || f->offset % 8 ||
			    f->offset > e->size || e->size - f->offset < w ||
			    !memchr(f->target, 0, NVH_TYPE_NAME_LEN)) {
				nvh_types_free(t, i + 1);
				return nvh_err(NVH_ECORRUPT, "type table: type "
					       "\"%s\" field %" PRIu32 " is invalid",
					       e->name, k);
			}
			t[i].fields[k].offset = f->offset;
			t[i].fields[k].flags = fl;
			t[i].fields[k].count = n ? n : 1;
			memcpy(t[i].fields[k].target, f->target,
			       NVH_TYPE_NAME_LEN);
		}
		/* one word, one field: overlapping fields would count one
		 * reference twice */
		for (uint32_t k = 0; k < e->nfields; k++)
			for (uint32_t q = 0; q < k; q++)
				if (rfields_overlap(&t[i].fields[k],
						    &t[i].fields[q])) {
					nvh_types_free(t, i + 1);
					return nvh_err(NVH_ECORRUPT, "type table: "
						       "type \"%s\" fields %"
						       PRIu32 " and %" PRIu32
						       " overlap", e->name, q, k);
				}
	}
	/* resolve target names to ids: a checked store compares ids */
	for (uint32_t i = 0; i < h->ntypes; i++)
		for (uint32_t k = 0; k < t[i].nfields; k++)
			for (uint32_t j = 0; j < h->ntypes; j++)
				if (t[i].fields[k].target[0] &&
				    !strcmp(t[j].name, t[i].fields[k].target))
					t[i].fields[k].target_id = t[j].id;
	*out = t;
	*nout = h->ntypes;
	return 0;
bad:
	nvh_types_free(t, h->ntypes);
	return nvh_err(NVH_ECORRUPT, "type table: an entry is invalid (name, "
		       "flags or field range)");
}

/* The table object currently in the slot, if any. */
static int
table_of(struct nvh_pool *pool, const void **obj, uint64_t *size)
{
	uint64_t v = *(const uint64_t *)(pool->base + pool->heap->hdr.root_off +
					 (NVH_HEAP_TYPES_REL - NVH_HEAP_ROOT_REL));
	uint64_t off;
	*obj = NULL;
	*size = 0;
	if (v == 0)
		return 0;
	nvh_oid oid = {v};
	/* (a lookup in an arena not read yet fails for want of memory, too:
	 * that is not a bad slot) */
	int rc;
	if (!nvh_oid_untag(pool, v, &off) && (rc = nvh_heap_scan_at(pool, off)))
		return rc;
	if (nvh_oid_untag(pool, v, &off) || !(*size = nvh_usable_size(pool, oid)))
		return nvh_err(NVH_ECORRUPT, "type table slot holds 0x%" PRIx64
			       ", not an object of this pool", v);
	*obj = pool->base + off;
	return 0;
}

int
nvh_objects_open(struct nvh_pool *pool)
{
	struct nvh_objects *o = calloc(1, sizeof(*o));
	if (!o)
		return nvh_err(ENOMEM, "out of memory");
	pthread_mutex_init(&o->lock, NULL);
	pthread_mutex_init(&o->reg_lock, NULL);
	pthread_mutex_init(&o->rc_lock, NULL);
	o->release_max = ~0u;
	o->commit_budget = 4096;
	o->drain_budget = 16384;
	const char *lim = getenv("NVHEAP_TEST_RELEASE_MAX"); /* tests only */
	if (lim && atoi(lim) > 0)
		o->release_max = (unsigned)atoi(lim);
	lim = getenv("NVHEAP_TEST_RELEASE_BYTES"); /* tests only */
	if (lim && atoi(lim) > 0) {
		o->commit_budget = (uint32_t)atoi(lim);
		o->drain_budget = o->commit_budget < 512 ? 512
							 : o->commit_budget;
	}
	pool->objects = o;
	const void *obj;
	uint64_t size;
	int rc = nvh_mutexes_init(o);
	if (!rc)
		rc = table_of(pool, &obj, &size);
	struct nvh_typeset *ts = rc ? NULL : calloc(1, sizeof(*ts));
	if (!rc && !ts)
		rc = nvh_err(ENOMEM, "out of memory");
	if (!rc && obj)
		rc = nvh_types_parse(obj, size, &ts->types, &ts->ntypes);
	if (ts)
		atomic_store(&o->typeset, ts);
	if (!rc)
		rc = nvh_obj_dying_check(pool);
	if (!rc && !pool->rdonly) {
		/* a crash (or pins at close) may have left dying objects.  A
		 * drain that cannot get sequence numbers leaves the list as
		 * it is (well formed, checked above): the pool still opens
		 * and reads, and every write says why it is refused. */
		rc = nvh_obj_drain(pool);
		if (rc == -EOVERFLOW)
			rc = 0;
	}
	if (rc) {
		nvh_objects_close(pool);
		return rc;
	}
	return 0;
}

void
nvh_objects_close(struct nvh_pool *pool)
{
	struct nvh_objects *o = pool->objects;
	if (!o)
		return;
	for (struct nvh_typeset *ts = atomic_load(&o->typeset), *n; ts; ts = n) {
		n = ts->older;
		nvh_types_free(ts->types, ts->ntypes);
		free(ts);
	}
	nvh_u64map_fini(&o->pins);
	nvh_obj_plan_free(o);
	nvh_mutexes_free(o);
	pthread_mutex_destroy(&o->lock);
	pthread_mutex_destroy(&o->reg_lock);
	pthread_mutex_destroy(&o->rc_lock);
	free(o);
	pool->objects = NULL;
}

/* The current type set (NULL before the open made one). */
static const struct nvh_typeset *
typeset(const struct nvh_objects *o)
{
	return o ? atomic_load_explicit(&((struct nvh_objects *)o)->typeset,
					memory_order_acquire) : NULL;
}

const struct nvh_rtype *
nvh_type_get(struct nvh_pool *pool, uint32_t id)
{
	const struct nvh_typeset *ts = typeset(pool->objects);
	if (!ts || id < NVH_TYPE_TABLE_BASE ||
	    id - NVH_TYPE_TABLE_BASE >= ts->ntypes)
		return NULL;
	return &ts->types[id - NVH_TYPE_TABLE_BASE];
}

const struct nvh_rtype *
nvh_type_fit(struct nvh_pool *pool, uint32_t id, uint64_t size)
{
	const struct nvh_rtype *rt = nvh_type_get(pool, id);
	return rt && rt->size <= size ? rt : NULL;
}

const struct nvh_rtype *
nvh_type_named(struct nvh_pool *pool, const char *name)
{
	const struct nvh_typeset *ts = typeset(pool->objects);
	for (uint32_t i = 0; ts && name && i < ts->ntypes; i++)
		if (strcmp(ts->types[i].name, name) == 0)
			return &ts->types[i];
	return NULL;
}

NVH_API uint32_t
nvh_type_id(nvh_pool *pool, const char *name)
{
	if (!pool || !pool->objects)
		return 0;
	/* no lock: the published set stays valid until close (obj.h) */
	const struct nvh_rtype *t = nvh_type_named(pool, name);
	return t ? t->id : 0;
}

/* Does the recorded type equal the program's?  Names what differs, one
 * message per difference. */
static int
same(const struct nvh_rtype *r, const struct nvh_type *t)
{
	if (r->size != t->size)
		return nvh_err(EINVAL, "type \"%s\" is recorded with size %"
			       PRIu32 ", the program's has %" PRIu32, t->name,
			       r->size, t->size);
	if (r->flags != t->flags)
		return nvh_err(EINVAL, "type \"%s\" is recorded with flags 0x%"
			       PRIx32 ", the program's has 0x%" PRIx32, t->name,
			       r->flags, t->flags);
	if (r->nfields != t->nfields)
		return nvh_err(EINVAL, "type \"%s\" is recorded with %" PRIu32
			       " pointer fields, the program's has %" PRIu32,
			       t->name, r->nfields, t->nfields);
	for (uint32_t i = 0; i < t->nfields; i++) {
		const struct nvh_field *f = &t->fields[i];
		const struct nvh_rfield *rf = &r->fields[i];
		const char *tg = f->target ? f->target : "";
		uint32_t n = f->count ? f->count : 1;
		if (rf->offset != f->offset)
			return nvh_err(EINVAL, "type \"%s\" pointer field %" PRIu32
				       " is recorded at offset %" PRIu32 ", the "
				       "program's at offset %" PRIu32, t->name, i,
				       rf->offset, f->offset);
		if (rf->flags != f->flags)
			return nvh_err(EINVAL, "type \"%s\" pointer field %" PRIu32
				       " is recorded %s, the program's is %s",
				       t->name, i, rf->flags ? "weak" : "strong",
				       f->flags ? "weak" : "strong");
		if (rf->count != n)
			return nvh_err(EINVAL, "type \"%s\" pointer field %" PRIu32
				       " is recorded with %" PRIu32 " element%s, "
				       "the program's with %" PRIu32, t->name, i,
				       rf->count, rf->count == 1 ? "" : "s", n);
		if (strcmp(rf->target, tg) != 0)
			return nvh_err(EINVAL, "type \"%s\" pointer field %" PRIu32
				       " is recorded to \"%s\", the program's to "
				       "\"%s\" (\"\": any type)", t->name, i,
				       rf->target, tg);
	}
	return 0;
}

/* Bytes of field f: elements times their width. */
static uint64_t
field_bytes(const struct nvh_field *f)
{
	return nvh_field_width(f->flags) * (uint64_t)(f->count ? f->count : 1);
}

/* Is field i of t well formed?  One message per cause, naming the type,
 * the field and the offending value. */
static int
check_field(const struct nvh_type *t, uint32_t i)
{
	const struct nvh_field *f = &t->fields[i];
	if (f->flags & ~NVH_FIELD_WEAK)
		return nvh_err(EINVAL, "type \"%s\" pointer field %" PRIu32
			       ": unknown flags 0x%" PRIx32 " (known: 0x%x, "
			       "NVH_FIELD_WEAK)", t->name, i, f->flags,
			       NVH_FIELD_WEAK);
	if (f->count > NVH_FIELD_COUNT_MAX)
		return nvh_err(EINVAL, "type \"%s\" pointer field %" PRIu32
			       ": count %" PRIu32 " is too large (at most %u)",
			       t->name, i, f->count, NVH_FIELD_COUNT_MAX);
	if (f->offset % 8)
		return nvh_err(EINVAL, "type \"%s\" pointer field %" PRIu32
			       ": offset %" PRIu32 " is not a multiple of 8",
			       t->name, i, f->offset);
	uint64_t w = field_bytes(f), n = f->count ? f->count : 1;
	if (f->offset > t->size || t->size - f->offset < w)
		return nvh_err(EINVAL, "type \"%s\" pointer field %" PRIu32
			       ": bytes %" PRIu32 "..%" PRIu64 " lie outside "
			       "the type's %" PRIu32 " bytes (%" PRIu64
			       " element%s of %u bytes, %s)", t->name, i,
			       f->offset, f->offset + w, t->size, n,
			       n == 1 ? "" : "s", nvh_field_width(f->flags),
			       f->flags & NVH_FIELD_WEAK ? "weak" : "strong");
	size_t tl = f->target ? strlen(f->target) : 0;
	if (tl > NVH_TYPE_NAME_MAX)
		return nvh_err(EINVAL, "type \"%s\" pointer field %" PRIu32
			       ": target type name \"%.*s...\" is %zu bytes, "
			       "at most %d", t->name, i, NVH_TYPE_NAME_MAX,
			       f->target, tl, NVH_TYPE_NAME_MAX);
	for (uint32_t q = 0; q < i; q++) {
		const struct nvh_field *g = &t->fields[q];
		uint64_t gw = field_bytes(g);
		if (f->offset < g->offset + gw && g->offset < f->offset + w)
			return nvh_err(EINVAL, "type \"%s\": pointer fields %"
				       PRIu32 " and %" PRIu32 " overlap (bytes %"
				       PRIu32 "..%" PRIu64 " and %" PRIu32 "..%"
				       PRIu64 ")", t->name, q, i, g->offset,
				       g->offset + gw, f->offset, f->offset + w);
	}
	return 0;
}

static int
check_desc(const struct nvh_type *t)
{
	if (!t)
		return nvh_err(EINVAL, "NULL type descriptor");
	if (!t->name || !t->name[0])
		return nvh_err(EINVAL, "type name missing (%s)",
			       t->name ? "empty" : "NULL");
	size_t nl = strlen(t->name);
	if (nl > NVH_TYPE_NAME_MAX)
		return nvh_err(EINVAL, "type name \"%.*s...\" is %zu bytes, at "
			       "most %d", NVH_TYPE_NAME_MAX, t->name, nl,
			       NVH_TYPE_NAME_MAX);
	if (t->size == 0)
		return nvh_err(EINVAL, "type \"%s\": size 0", t->name);
	if (t->flags & ~NVH_TYPE_MANUAL)
		return nvh_err(EINVAL, "type \"%s\": unknown flags 0x%" PRIx32
			       " (known: 0x%x, NVH_TYPE_MANUAL)", t->name,
			       t->flags, NVH_TYPE_MANUAL);
	if (t->nfields && !t->fields)
		return nvh_err(EINVAL, "type \"%s\": %" PRIu32 " pointer fields "
			       "but no fields array", t->name, t->nfields);
	for (uint32_t i = 0; i < t->nfields; i++) {
		int rc = check_field(t, i);
		if (rc)
			return rc;
	}
	return 0;
}

NVH_API int
nvh_type_register(nvh_pool *pool, const struct nvh_type *t)
{
	if (!pool || !pool->objects)
		return nvh_err(EINVAL, "nvh_type_register: NULL pool");
	int rc = check_desc(t);
	if (rc) {
		nvh_err_prefix("nvh_type_register: ");
		return rc;
	}
	struct nvh_objects *o = pool->objects;
	if (nvh_tx_current(pool))
		return nvh_err(EBUSY, "nvh_type_register: %s: register types "
			       "outside transactions", pool->path);
	/* Registered already (every open but the first): checked without
	 * a lock, the published set stays valid until close; so a fork
	 * child may check its types too, and is refused only a new one
	 * (before any lock, which a parent's thread may have held). */
	const struct nvh_rtype *r = nvh_type_named(pool, t->name);
	if (!r && (rc = nvh_pool_usable(pool, "nvh_type_register")))
		return rc;
	if (!r) {
		pthread_mutex_lock(&o->reg_lock);
		r = nvh_type_named(pool, t->name); /* another thread's? */
		if (r)
			pthread_mutex_unlock(&o->reg_lock);
	}
	if (r) {
		rc = same(r, t);
		if (rc)
			nvh_err_prefix("nvh_type_register: %s: ", pool->path);
		return rc;
	}
	if (pool->rdonly) {
		pthread_mutex_unlock(&o->reg_lock);
		return nvh_err(EROFS, "nvh_type_register: %s: type \"%s\" is not "
			       "in the pool, which is open read-only", pool->path,
			       t->name);
	}
	/* registrations are serialised by reg_lock: the set is ours */
	const struct nvh_typeset *cur = typeset(o);
	const struct nvh_rtype *old_types = cur->types;
	const uint32_t old_n = cur->ntypes;
	if (old_n >= NVH_TYPE_MASK + 1 - NVH_TYPE_TABLE_BASE) {
		pthread_mutex_unlock(&o->reg_lock);
		return nvh_err(ENOSPC, "nvh_type_register: %s: type \"%s\": the "
			       "pool's type table is full (%" PRIu32 " types)",
			       pool->path, t->name, old_n);
	}
	/* A new table: the old entries, then this type. */
	uint32_t nt = old_n + 1, nf = t->nfields;
	for (uint32_t i = 0; i < old_n; i++)
		nf += old_types[i].nfields;
	uint64_t size = HDR + nt * sizeof(struct nvh_type_ent) +
			nf * sizeof(struct nvh_field_ent);
	char *buf = calloc(1, size);
	if (!buf) {
		pthread_mutex_unlock(&o->reg_lock);
		return nvh_err(ENOMEM, "nvh_type_register: out of memory");
	}
	struct nvh_types_hdr *h = (void *)buf;
	struct nvh_type_ent *te = (void *)(buf + HDR);
	struct nvh_field_ent *fe = (void *)(te + nt);
	uint32_t f = 0;
	for (uint32_t i = 0; i < nt; i++) {
		const struct nvh_rtype *x = i < old_n ? &old_types[i] : NULL;
		snprintf(te[i].name, NVH_TYPE_NAME_LEN, "%s", x ? x->name : t->name);
		te[i].size = x ? x->size : t->size;
		te[i].flags = x ? x->flags : t->flags;
		te[i].nfields = x ? x->nfields : t->nfields;
		te[i].first = f;
		for (uint32_t k = 0; k < te[i].nfields; k++, f++) {
			fe[f].offset = x ? x->fields[k].offset : t->fields[k].offset;
			uint32_t n = x ? x->fields[k].count
				       : t->fields[k].count ? t->fields[k].count : 1;
			fe[f].flags = (x ? x->fields[k].flags : t->fields[k].flags) |
				      (n > 1 ? n << NVH_FIELD_COUNT_SHIFT : 0);
			snprintf(fe[f].target, NVH_TYPE_NAME_LEN, "%s",
				 x ? x->fields[k].target
				   : t->fields[k].target ? t->fields[k].target : "");
		}
	}
	memcpy(h->magic, NVH_TYPES_MAGIC, 8);
	h->ntypes = nt;
	h->nfields = nf;
	h->checksum = XXH3_64bits(buf + HDR, size - HDR);

	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx) {
		free(buf);
		pthread_mutex_unlock(&o->reg_lock);
		return -errno;
	}
	uint64_t slot = pool->heap->hdr.root_off +
			(NVH_HEAP_TYPES_REL - NVH_HEAP_ROOT_REL);
	nvh_oid old = {*(uint64_t *)(pool->base + slot)};
	nvh_oid neu = nvh_tx_alloc_id(tx, size, NVH_TYPEID_TABLE, 0);
	if (!NVH_OID_IS_NULL(neu)) {
		memcpy(nvh_direct(pool, neu), buf, size);
		rc = nvh_tx_snapshot(tx, slot, 8);
		if (!rc) {
			*(uint64_t *)(pool->base + slot) = neu.off;
			rc = nvh_tx_free_internal(tx, old);
		}
	}
	rc = nvh_tx_commit(tx);
	free(buf);
	if (!rc) {
		struct nvh_rtype *types;
		uint32_t n;
		const void *obj;
		rc = table_of(pool, &obj, &size);
		if (!rc)
			rc = nvh_types_parse(obj, size, &types, &n);
		struct nvh_typeset *ts = rc ? NULL : malloc(sizeof(*ts));
		if (ts) {
			/* publish; the old set stays until close (see obj.h) */
			ts->types = types;
			ts->ntypes = n;
			ts->older = atomic_load(&o->typeset);
			atomic_store_explicit(&o->typeset, ts,
					      memory_order_release);
		} else if (!rc) {
			nvh_types_free(types, n);
			rc = nvh_err(ENOMEM, "out of memory (the type is "
				     "registered: the next open reads it)");
		}
	}
	pthread_mutex_unlock(&o->reg_lock);
	if (rc)
		nvh_err_prefix("nvh_type_register: %s: ", pool->path);
	return rc;
}
