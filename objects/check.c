/*
 * check.c -- nvh_check: is the object graph consistent?
 *
 * From the root slot (and from each object on the dying list, which still
 * holds the references of its slots from its release progress on), follow
 * every pointer field the type table declares.  Untyped objects are
 * scanned conservatively: any aligned word in them holding an oid of this
 * pool that names the start of an allocated block makes that block
 * reachable (nvh_alloc may link into untyped objects: the docs allow it),
 * without counting as a reference.  Then compare: allocated blocks vs
 * objects reached (leaks, dangling pointers), header counts vs strong
 * references found, type ids vs the type table, and the allocator's own
 * structures (nvh_heap_verify: bitmaps, arena table, no overlap).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "heap/log/lane.h"
#include "objects/gc.h"
#include "objects/obj.h"

struct cobj {
	uint64_t off, size;
	uint64_t word, birth;
	uint64_t refs;      /* strong references found */
	uint8_t reached;    /* 1 from the root, 2 from the dying list */
	uint8_t dying_listed;
};

struct cstate {
	nvh_pool *pool;
	struct cobj *o;
	size_t n, cap;
	uint64_t *queue;
	size_t qh, qt;
	struct nvh_check_report *rep;
	FILE *out;
	struct nvh_gc *gc;  /* the collection's mark, if nvh_malloc was used */
};

static void
problem(struct cstate *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
problem(struct cstate *c, const char *fmt, ...)
{
	if (c->out && c->rep->problems < 100) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(c->out, "problem: ");
		vfprintf(c->out, fmt, ap);
		fprintf(c->out, "\n");
		va_end(ap);
	}
	c->rep->problems++;
}

static int
collect(void *arg, uint64_t off, uint64_t size, uint32_t type)
{
	struct cstate *c = arg;
	(void)type;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 1024;
		struct cobj *n = realloc(c->o, cap * sizeof(*n));
		if (!n)
			return -1;
		c->o = n;
		c->cap = cap;
	}
	struct nvh_objhdr *h = nvh_obj_hdr(c->pool, off);
	struct cobj *o = &c->o[c->n++];
	memset(o, 0, sizeof(*o));
	o->off = off;
	o->size = size;
	if (h) {
		o->word = h->word;
		o->birth = h->birth;
	}
	return 0;
}

static struct cobj *
find(struct cstate *c, uint64_t off)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c->o[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n && c->o[lo].off == off ? &c->o[lo] : NULL;
}

static void
reach(struct cstate *c, struct cobj *o, uint8_t how)
{
	if (o->reached)
		return;
	o->reached = how;
	c->queue[c->qt++] = (uint64_t)(o - c->o);
}

/* A pointer value found at `where`; NULL-target means any type. */
static struct cobj *
follow(struct cstate *c, uint64_t v, const char *target, const char *where,
       uint64_t at)
{
	uint64_t off;
	if (!v)
		return NULL;
	if (nvh_oid_untag(c->pool, v, &off)) {
		problem(c, "%s at pool offset %" PRIu64 " holds 0x%" PRIx64 ": not "
			"an oid of this pool", where, at, v);
		return NULL;
	}
	struct cobj *t = find(c, off);
	if (!t && c->gc && nvh_gc_is_marked(c->gc, off)) {
		c->rep->pointers++; /* an nvh_malloc block (checked below) */
		return NULL;
	}
	if (!t) {
		problem(c, "dangling pointer: %s at pool offset %" PRIu64 " -> %"
			PRIu64 ", which is not the start of an allocated object",
			where, at, off);
		return NULL;
	}
	uint32_t ty = NVH_HDR_TYPE(t->word);
	if (ty >= NVH_TYPEID_USER_MAX && ty < NVH_TYPE_TABLE_BASE &&
	    ty != NVH_TYPEID_MALLOC) {
		problem(c, "%s at pool offset %" PRIu64 " points to nvheap's own "
			"object at %" PRIu64 " (type 0x%" PRIx32 ")", where, at,
			off, ty);
		return NULL;
	}
	if (target && target[0]) {
		const struct nvh_rtype *rt = nvh_type_get(c->pool,
							  NVH_HDR_TYPE(t->word));
		if (!rt || strcmp(rt->name, target) != 0)
			problem(c, "%s at pool offset %" PRIu64 " should point to a "
				"\"%s\", points to %s%s%s (type 0x%" PRIx32 ")",
				where, at, target, rt ? "a \"" : "an untyped object",
				rt ? rt->name : "", rt ? "\"" : "",
				NVH_HDR_TYPE(t->word));
	}
	c->rep->pointers++;
	return t;
}

/* An untyped object: each word that is an oid of this pool naming the
 * start of an allocated block reaches it (a guess, never a problem). */
static void
scan_untyped(struct cstate *c, struct cobj *o)
{
	const char *base = c->pool->base;
	for (uint64_t at = o->off; at + 8 <= o->off + o->size; at += 8) {
		uint64_t v, off;
		memcpy(&v, base + at, 8);
		if (!v || (v & ~NVH_OID_OFF_MASK) != c->pool->oid_tag ||
		    nvh_oid_untag(c->pool, v, &off))
			continue;
		struct cobj *t = find(c, off);
		if (t && t != o) {
			uint32_t ty = NVH_HDR_TYPE(t->word);
			if (ty >= NVH_TYPEID_USER_MAX && ty < NVH_TYPE_TABLE_BASE)
				continue; /* nvheap's own: reached by its slot */
			reach(c, t, o->reached);
		}
	}
}

/* One pointer field (or array element) at pool offset `at` of object o. */
static void
walk_field(struct cstate *c, struct cobj *o, const struct nvh_rfield *f,
	   uint64_t at, const char *where)
{
	const char *base = c->pool->base;
	uint64_t pv;
	memcpy(&pv, base + at, 8);
	if (f->flags & NVH_FIELD_WEAK) {
		/* a weak pointer may outlive its target */
		uint64_t off, birth;
		memcpy(&birth, base + at + 8, 8);
		struct cobj *t;
		if (pv && !nvh_oid_untag(c->pool, pv, &off) &&
		    (t = find(c, off)) && t->birth == birth &&
		    !(NVH_HDR_FLAGS(t->word) & NVH_OBJ_DYING))
			follow(c, pv, f->target, where, at);
		return;
	}
	struct cobj *t = follow(c, pv, f->target, where, at);
	if (!t)
		return;
	t->refs++;
	reach(c, t, o->reached);
}

/* Breadth first from what is queued. */
static void
walk(struct cstate *c)
{
	while (c->qh < c->qt) {
		struct cobj *o = &c->o[c->queue[c->qh++]];
		const struct nvh_rtype *rt = nvh_type_get(c->pool, NVH_HDR_TYPE(o->word));
		if (rt && rt->size > o->size) {
			problem(c, "damaged header: the object at %" PRIu64 " (%"
				PRIu64 " bytes) says it is a \"%s\" (type 0x%"
				PRIx32 ", %" PRIu32 " bytes): its fields are not "
				"followed", o->off, o->size, rt->name,
				NVH_HDR_TYPE(o->word), rt->size);
			rt = NULL;
		}
		uint32_t ty = NVH_HDR_TYPE(o->word);
		if (!rt && ty < NVH_TYPEID_USER_MAX) {
			scan_untyped(c, o);
			continue;
		}
		/* a dying object's slots below its progress were released:
		 * they hold nothing any more (objects/cascade.c) */
		int dying = (NVH_HDR_FLAGS(o->word) & NVH_OBJ_DYING) != 0;
		uint64_t done = dying ? NVH_HDR_COUNT(o->word) : 0, slot = 0;
		for (uint32_t i = 0; rt && i < rt->nfields; i++) {
			const struct nvh_rfield *f = &rt->fields[i];
			uint32_t w = nvh_field_width(f->flags);
			int weak = (f->flags & NVH_FIELD_WEAK) != 0;
			char where[96];
			snprintf(where, sizeof(where), "%s field of a \"%s\"",
				 weak ? "weak" : "pointer", rt->name);
			for (uint32_t j = 0; j < f->count; j++)
				if (weak || slot++ >= done)
					walk_field(c, o, f, o->off + f->offset +
						   (uint64_t)w * j, where);
		}
	}
}

/* Objects of the logged allocator that only nvh_malloc blocks point to:
 * reached through them (the collection's mark found those blocks). */
static void
reach_from_malloc(struct cstate *c)
{
	struct nvh_gc *g = c->gc;
	const char *base = c->pool->base;
	for (uint64_t a = 0; a < g->narenas; a++) {
		if (!g->mk[a])
			continue;
		const struct nvh_arena_rt *r = &g->h->arena[a];
		const struct nvh_mclass *m = &nvh_mclasses[r->cls];
		for (uint32_t w = 0; w < m->nwords; w++)
			for (uint64_t v = g->mk[a][w]; v; v &= v - 1) {
				uint64_t b = 64ull * w +
					     (uint64_t)__builtin_ctzll(v);
				struct cobj blk = {.off = r->off + m->blocks_off +
						   b * m->size, .size = m->size,
						   .reached = 1};
				scan_untyped(c, &blk);
			}
	}
	for (size_t i = 0; i < g->nbig; i++) {
		struct cobj *o = g->bigmark[i] ? find(c, g->big[i]) : NULL;
		if (o) {
			reach(c, o, 1);
			scan_untyped(c, o);
		}
	}
	(void)base;
}

/* The malloc blocks: reachable ones must be allocated. */
static void
check_malloc(struct cstate *c)
{
	struct nvh_gc *g = c->gc;
	nvh_malloc_sync_live(g->h);
	for (uint64_t a = 0; a < g->narenas; a++) {
		if (!g->mk[a])
			continue;
		const struct nvh_arena_rt *r = &g->h->arena[a];
		const struct nvh_mclass *m = &nvh_mclasses[r->cls];
		for (uint32_t w = 0; w < m->nwords; w++) {
			uint64_t lv = r->live ? atomic_load(&r->live[w]) : 0;
			uint64_t mk = g->mk[a][w];
			c->rep->malloc_blocks +=
				(uint64_t)__builtin_popcountll(lv);
			c->rep->malloc_reachable +=
				(uint64_t)__builtin_popcountll(lv & mk);
			for (uint64_t v = mk & ~lv; v; v &= v - 1) {
				uint64_t b = 64ull * w +
					     (uint64_t)__builtin_ctzll(v);
				problem(c, "nvh_malloc block at %" PRIu64 " (malloc "
					"arena %" PRIu64 ") is reachable but not "
					"allocated (freed while still linked?)",
					r->off + m->blocks_off + b * m->size, a);
			}
		}
	}
	for (size_t i = 0; i < g->nbig; i++) {
		c->rep->malloc_blocks++;
		c->rep->malloc_reachable += g->bigmark[i];
	}
}

NVH_API int
nvh_check(nvh_pool *pool, struct nvh_check_report *rep, FILE *out)
{
	struct nvh_check_report dummy;
	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	if (!pool || !pool->heap || !pool->objects)
		return nvh_err(EINVAL, "nvh_check: NULL pool");
	/* first what a read-write open would refuse in the log (heap/log/verify.c) */
	int lrc = nvh_log_verify(pool, out, &rep->problems);
	if (lrc)
		return lrc;
	struct cstate c = {.pool = pool, .rep = rep, .out = out};
	if (nvh_heap_verify(pool))
		problem(&c, "allocator: %s", nvh_errormsg());
	struct nvh_gc g;
	if (pool->hdr.features & NVH_FEAT_MALLOC) {
		if (nvh_gc_mark(pool, &g))
			return nvh_err(ENOMEM, "nvh_check: out of memory");
		c.gc = &g;
	}
	if (nvh_heap_foreach(pool, collect, &c) ||
	    !(c.queue = malloc((c.n + 1) * sizeof(*c.queue)))) {
		free(c.o);
		if (c.gc)
			nvh_gc_fini(c.gc);
		return nvh_err(ENOMEM, "nvh_check: out of memory");
	}
	rep->objects = c.n;
	/* types */
	const char *base = pool->base;
	const uint64_t *slots = (const void *)(base + pool->heap->hdr.root_off);
	uint64_t table = 0;
	nvh_oid_untag(pool, slots[2], &table);
	for (size_t i = 0; i < c.n; i++) {
		uint32_t ty = NVH_HDR_TYPE(c.o[i].word);
		if (ty >= NVH_TYPE_TABLE_BASE) {
			rep->typed++;
			if (!nvh_type_get(pool, ty))
				problem(&c, "object at %" PRIu64 " has type id 0x%"
					PRIx32 ", not in the type table",
					c.o[i].off, ty);
		} else if (ty == NVH_TYPEID_TABLE && c.o[i].off != table) {
			problem(&c, "object at %" PRIu64 " is tagged as a type "
				"table but is not the pool's", c.o[i].off);
		}
		if (i && c.o[i].off < c.o[i - 1].off + c.o[i - 1].size)
			problem(&c, "objects at %" PRIu64 " and %" PRIu64 " overlap",
				c.o[i - 1].off, c.o[i].off);
	}
	if (table) {
		struct cobj *t = find(&c, table);
		if (!t)
			problem(&c, "the type table slot points to %" PRIu64 ", not "
				"an allocated object", table);
		else
			t->reached = 1;
	}
	/* the dying list */
	uint64_t v = slots[1];
	size_t guard = 0;
	while (v && guard++ <= c.n) {
		uint64_t off;
		struct cobj *d = NULL;
		if (nvh_oid_untag(pool, v, &off) || !(d = find(&c, off))) {
			problem(&c, "dying list: 0x%" PRIx64 " is not an allocated "
				"object", v);
			break;
		}
		const struct nvh_rtype *drt = nvh_type_fit(pool,
			NVH_HDR_TYPE(d->word), d->size);
		uint64_t dslots = 0;
		for (uint32_t i = 0; drt && i < drt->nfields; i++)
			if (!(drt->fields[i].flags & NVH_FIELD_WEAK))
				dslots += drt->fields[i].count;
		if (!(NVH_HDR_FLAGS(d->word) & NVH_OBJ_DYING))
			problem(&c, "dying list: object at %" PRIu64 " is not "
				"marked dying", off);
		else if (NVH_HDR_COUNT(d->word) &&
			 NVH_HDR_COUNT(d->word) >= dslots)
			problem(&c, "dying list: object at %" PRIu64 " says %"
				PRIu32 " of its %" PRIu64 " pointer slots are "
				"released", off, NVH_HDR_COUNT(d->word), dslots);
		d->dying_listed = 1;
		rep->dying++;
		reach(&c, d, 2);
		v = d->birth;
	}
	if (guard > c.n)
		problem(&c, "dying list: loops");
	/* from the root */
	struct cobj *r = follow(&c, slots[0], NULL, "root slot",
				pool->heap->hdr.root_off);
	if (r) {
		r->refs++;
		reach(&c, r, 1);
	}
	walk(&c);
	if (c.gc) {
		reach_from_malloc(&c);
		walk(&c);
		check_malloc(&c);
	}
	for (size_t i = 0; i < c.n; i++) {
		struct cobj *o = &c.o[i];
		rep->reachable += o->reached == 1;
		if (!o->reached && NVH_HDR_TYPE(o->word) == NVH_TYPEID_MALLOC)
			continue; /* garbage for the collection (counted above) */
		if (!o->reached) {
			problem(&c, "leak: object at %" PRIu64 " (%" PRIu64 " bytes, "
				"type 0x%" PRIx32 ", header count %" PRIu32 "%s) is "
				"allocated but not reachable", o->off, o->size,
				NVH_HDR_TYPE(o->word), NVH_HDR_COUNT(o->word),
				NVH_HDR_FLAGS(o->word) & NVH_OBJ_DYING
				? ", dying" : "");
			continue;
		}
		const struct nvh_rtype *rt = nvh_type_fit(pool, NVH_HDR_TYPE(o->word),
							  o->size);
		if (!nvh_type_counted(rt))
			continue;
		uint32_t count = NVH_HDR_FLAGS(o->word) & NVH_OBJ_DYING
				 ? 0 : NVH_HDR_COUNT(o->word);
		if (count != o->refs)
			problem(&c, "reference count: the \"%s\" at %" PRIu64 " has "
				"count %" PRIu32 ", %" PRIu64 " strong references "
				"found", rt->name, o->off, count, o->refs);
		if ((NVH_HDR_FLAGS(o->word) & NVH_OBJ_DYING) && !o->dying_listed)
			problem(&c, "the \"%s\" at %" PRIu64 " is marked dying but "
				"not on the dying list", rt->name, o->off);
		if (o->dying_listed && o->refs)
			problem(&c, "the \"%s\" at %" PRIu64 " is dying but still "
				"referenced", rt->name, o->off);
	}
	if (out)
		fprintf(out, "%" PRIu64 " objects (%" PRIu64 " typed), %" PRIu64
			" reachable, %" PRIu64 " pointers followed, %" PRIu64
			" dying: %" PRIu64 " problem%s\n", rep->objects, rep->typed,
			rep->reachable, rep->pointers, rep->dying, rep->problems,
			rep->problems == 1 ? "" : "s");
	if (out && c.gc)
		fprintf(out, "nvh_malloc: %" PRIu64 " blocks allocated, %" PRIu64
			" reachable, %" PRIu64 " unreachable (the next "
			"collection frees them)\n", rep->malloc_blocks,
			rep->malloc_reachable,
			rep->malloc_blocks - rep->malloc_reachable);
	if (c.gc)
		nvh_gc_fini(c.gc);
	free(c.o);
	free(c.queue);
	if (rep->problems)
		return nvh_err(NVH_ECORRUPT, "nvh_check: %s: %" PRIu64 " problem%s",
			       pool->path, rep->problems,
			       rep->problems == 1 ? "" : "s");
	return 0;
}
