/*
 * snapset.c -- a transaction's snapshotted ranges (see snapset.h).
 */
#include "tx/snapset.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
nvh_snapset_clear(struct nvh_snapset *s)
{
	for (size_t i = 0; i < s->nc; i++)
		s->c[i]->n = 0;
	s->nc = 0;
	s->n = 0;
}

void
nvh_snapset_fini(struct nvh_snapset *s)
{
	for (size_t i = 0; i < s->na; i++)
		free(s->c[i]);
	free(s->c);
	free(s->flat);
	memset(s, 0, sizeof(*s));
}

static uint64_t
chunk_end(const struct nvh_snapchunk *c)
{
	const struct nvh_range *r = &c->r[c->n - 1];
	return r->off + r->len;
}

struct nvh_snappos
nvh_snapset_find(const struct nvh_snapset *s, uint64_t off)
{
	struct nvh_snappos p = {s->nc, 0};
	if (!s->nc || chunk_end(s->c[s->nc - 1]) <= off)
		return p; /* past them all: ranges added in ascending order */
	size_t lo = 0, hi = s->nc - 1; /* the first chunk ending after off */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (chunk_end(s->c[mid]) <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	const struct nvh_snapchunk *c = s->c[lo];
	size_t a = 0, b = c->n - 1; /* its first range ending after off */
	while (a < b) {
		size_t mid = (a + b) / 2;
		if (c->r[mid].off + c->r[mid].len <= off)
			a = mid + 1;
		else
			b = mid;
	}
	p.ci = lo;
	p.ri = a;
	return p;
}

/* A chunk for position k of the chunk array (the ones from k on move up
 * one): a spare if there is one.  -ENOMEM: nothing changed. */
static int
chunk_insert(struct nvh_snapset *s, size_t k)
{
	struct nvh_snapchunk *c;
	if (s->nc < s->na) {
		c = s->c[s->nc];
	} else {
		if (s->na == s->cc) {
			size_t cc = s->cc ? 2 * s->cc : 8;
			void *m = realloc(s->c, cc * sizeof(*s->c));
			if (!m)
				return -ENOMEM;
			s->c = m;
			s->cc = cc;
		}
		c = malloc(sizeof(*c));
		if (!c)
			return -ENOMEM;
		s->c[s->na++] = c; /* counted as a spare until placed */
	}
	memmove(s->c + k + 1, s->c + k, (s->nc - k) * sizeof(*s->c));
	c->n = 0;
	s->c[k] = c;
	s->nc++;
	return 0;
}

/* Remove range p (its chunk keeps its place unless emptied). */
static void
range_remove(struct nvh_snapset *s, struct nvh_snappos p)
{
	struct nvh_snapchunk *c = s->c[p.ci];
	memmove(c->r + p.ri, c->r + p.ri + 1,
		(c->n - p.ri - 1) * sizeof(*c->r));
	c->n--;
	s->n--;
	if (!c->n) { /* empty: back to the spares */
		memmove(s->c + p.ci, s->c + p.ci + 1,
			(s->nc - p.ci - 1) * sizeof(*s->c));
		s->c[--s->nc] = c;
	}
}

/* Insert r before position p. */
static int
range_insert_at(struct nvh_snapset *s, struct nvh_snappos p,
		struct nvh_range r)
{
	if (p.ci == s->nc) { /* at the end: into the last chunk */
		if (!s->nc || s->c[s->nc - 1]->n == NVH_SNAP_CHUNK) {
			if (chunk_insert(s, s->nc))
				return -ENOMEM;
			p.ci = s->nc - 1;
		} else {
			p.ci = s->nc - 1;
		}
		p.ri = s->c[p.ci]->n;
	} else if (p.ri == 0 && p.ci > 0 &&
		   s->c[p.ci - 1]->n < NVH_SNAP_CHUNK) {
		/* before a chunk's first: the end of the previous one, if it
		 * has room (descending insertions fill chunks backwards) */
		p.ci--;
		p.ri = s->c[p.ci]->n;
	} else if (s->c[p.ci]->n == NVH_SNAP_CHUNK && p.ri == 0) {
		/* before a full chunk whose predecessor is full too (or
		 * that is the first): a new chunk between them */
		if (chunk_insert(s, p.ci))
			return -ENOMEM;
	} else if (s->c[p.ci]->n == NVH_SNAP_CHUNK) {
		/* full: split it in two halves */
		if (chunk_insert(s, p.ci + 1))
			return -ENOMEM;
		struct nvh_snapchunk *a = s->c[p.ci], *b = s->c[p.ci + 1];
		uint32_t half = NVH_SNAP_CHUNK / 2;
		memcpy(b->r, a->r + half, (a->n - half) * sizeof(*a->r));
		b->n = a->n - half;
		a->n = half;
		if (p.ri > half) {
			p.ci++;
			p.ri -= half;
		}
	}
	struct nvh_snapchunk *c = s->c[p.ci];
	memmove(c->r + p.ri + 1, c->r + p.ri, (c->n - p.ri) * sizeof(*c->r));
	c->r[p.ri] = r;
	c->n++;
	s->n++;
	return 0;
}

int
nvh_snapset_add(struct nvh_snapset *s, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	/* the first range ending at or after off: the one it follows, if
	 * that one ends exactly at off, else the one it goes before */
	struct nvh_snappos p = nvh_snapset_find(s, off > 0 ? off - 1 : 0);
	struct nvh_range *prev = NULL, *next = NULL;
	struct nvh_snappos pn = p;
	if (p.ci < s->nc) {
		struct nvh_range *q = &s->c[p.ci]->r[p.ri];
		if (q->off + q->len == off) {
			prev = q;
			nvh_snapset_next(s, &pn);
		}
	}
	if (pn.ci < s->nc)
		next = &s->c[pn.ci]->r[pn.ri];
	/* (the caller adds only what no range covers) */
	assert(!next || next->off >= end);
	if (next && next->off != end)
		next = NULL;
	if (prev && next) { /* fills the hole between two: one range */
		prev->len += len + next->len;
		range_remove(s, pn);
		return 0;
	}
	if (prev) {
		prev->len += len;
		return 0;
	}
	if (next) {
		next->off = off;
		next->len += len;
		return 0;
	}
	return range_insert_at(s, pn, (struct nvh_range){off, len});
}

const struct nvh_range *
nvh_snapset_flat(struct nvh_snapset *s)
{
	if (!s->nc)
		return NULL;
	if (s->nc == 1)
		return s->c[0]->r;
	if (s->cflat < s->n) {
		free(s->flat);
		s->flat = malloc(s->n * sizeof(*s->flat));
		s->cflat = s->flat ? s->n : 0;
		if (!s->flat)
			return NULL;
	}
	size_t k = 0;
	for (size_t i = 0; i < s->nc; i++) {
		memcpy(s->flat + k, s->c[i]->r, s->c[i]->n * sizeof(*s->flat));
		k += s->c[i]->n;
	}
	return s->flat;
}
