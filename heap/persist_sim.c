/*
 * persist_sim.c -- the crash simulator backend; see persist_sim.h for the
 * model.  Only tests select it (NVH_PERSIST_SIM, or NVHEAP_PERSIST=sim to
 * run any program under the missing-flush detector).
 *
 * State: `durable` (the medium), `inflight` (flushed, not yet fenced
 * lines, indexed by `slot` per line), and the hash of `durable`.
 * Invariant: slot[l] == i + 1  <=>  inflight[i].line == l.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "heap/error.h"
#include "heap/persist_sim.h"

#define LINE NVH_CACHELINE
#define MAX_REPORTS 8 /* differences printed per durable point */

struct nvh_sim {
	pthread_mutex_t lock;
	struct nvh_sim_hooks hooks;
	unsigned flags;
	int owned_by_pool; /* created by the backend, freed at fini */
	uint8_t *working;  /* bound mapping, NULL when unbound */
	size_t size;
	uint8_t *durable;
	uint32_t *slot;
	struct nvh_sim_line *inflight;
	size_t ninflight, cap;
	uint32_t *hist;
	uint64_t fences;
	uint64_t missing;
	uint64_t hash[2];
	const struct nvh_persist *bound; /* for volatile ranges */
};

void
nvh_sim_line_hash(uint64_t line, const uint8_t *data, uint64_t out[2])
{
	XXH128_hash_t h = XXH3_128bits_withSeed(data, LINE, line);
	out[0] = h.low64;
	out[1] = h.high64;
}

static void
hash_toggle(struct nvh_sim *s, uint64_t line, const uint8_t *data)
{
	uint64_t h[2];
	nvh_sim_line_hash(line, data, h);
	s->hash[0] ^= h[0];
	s->hash[1] ^= h[1];
}

struct nvh_sim *
nvh_sim_new(const struct nvh_sim_hooks *hooks, unsigned flags)
{
	struct nvh_sim *s = calloc(1, sizeof(*s));
	if (!s)
		return nvh_err_null(ENOMEM, "nvh_sim_new: out of memory");
	pthread_mutex_init(&s->lock, NULL);
	if (hooks)
		s->hooks = *hooks;
	s->flags = flags;
	return s;
}

void
nvh_sim_reset(struct nvh_sim *s)
{
	free(s->durable);
	free(s->slot);
	free(s->inflight);
	free(s->hist);
	s->durable = NULL;
	s->slot = NULL;
	s->inflight = NULL;
	s->hist = NULL;
	s->ninflight = s->cap = 0;
	s->size = 0;
	s->fences = 0;
	s->hash[0] = s->hash[1] = 0;
}

void
nvh_sim_free(struct nvh_sim *s)
{
	if (!s)
		return;
	nvh_sim_reset(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Take the mapping's current contents as the durable image. */
static int
adopt(struct nvh_sim *s, const uint8_t *base, size_t size)
{
	nvh_sim_reset(s);
	size_t nlines = size / LINE;
	s->durable = malloc(size);
	s->slot = calloc(nlines, sizeof(*s->slot));
	s->hist = (s->flags & NVH_SIM_HISTOGRAM)
			  ? calloc(nlines, sizeof(*s->hist)) : NULL;
	if (!s->durable || !s->slot ||
	    ((s->flags & NVH_SIM_HISTOGRAM) && !s->hist)) {
		nvh_sim_reset(s);
		return nvh_err(ENOMEM, "sim: cannot allocate a durable image "
			       "of %zu bytes", size);
	}
	memcpy(s->durable, base, size);
	s->size = size;
	for (size_t l = 0; l < nlines; l++)
		hash_toggle(s, l, s->durable + l * LINE);
	return 0;
}

static int
sim_init(struct nvh_persist *p, struct nvh_sim *sim)
{
	if (p->size % LINE)
		return nvh_err(EINVAL, "sim: mapping size %zu is not a "
			       "multiple of %u", p->size, LINE);
	struct nvh_sim *s = sim;
	if (!s) {
		s = nvh_sim_new(NULL, 0);
		if (!s)
			return -ENOMEM;
		s->owned_by_pool = 1;
	}
	if (s->working) {
		if (!sim)
			nvh_sim_free(s);
		return nvh_err(EBUSY, "sim: simulator already bound to an open "
			       "pool");
	}
	/* A simulator that already holds this file's durable image keeps
	 * it: the medium outlives the mapping.  Otherwise the file as it
	 * is now is what the medium holds. */
	if (!s->durable || s->size != p->size) {
		int rc = adopt(s, (const uint8_t *)p->base, p->size);
		if (rc) {
			if (s->owned_by_pool)
				nvh_sim_free(s);
			return rc;
		}
	}
	s->working = (uint8_t *)p->base;
	s->bound = p;
	p->state = s;
	return 0;
}

static void
sim_fini(struct nvh_persist *p)
{
	struct nvh_sim *s = p->state;
	s->working = NULL;
	s->bound = NULL;
	if (s->owned_by_pool)
		nvh_sim_free(s);
	p->state = NULL;
}

static void
sim_flush(struct nvh_persist *p, struct nvh_persist_thread *t,
	  const void *addr, size_t len)
{
	(void)t;
	struct nvh_sim *s = p->state;
	uint64_t first = (uint64_t)((const uint8_t *)addr - s->working) / LINE;
	uint64_t last = (uint64_t)((const uint8_t *)addr + len - 1 - s->working) / LINE;
	pthread_mutex_lock(&s->lock);
	for (uint64_t l = first; l <= last; l++) {
		uint32_t i = s->slot[l];
		if (!i) {
			if (s->ninflight == s->cap) {
				size_t cap = s->cap ? 2 * s->cap : 64;
				void *n = realloc(s->inflight,
						  cap * sizeof(*s->inflight));
				if (!n) {
					/* Cannot track it: make it durable
					 * now (a legal early write-back). */
					hash_toggle(s, l, s->durable + l * LINE);
					memcpy(s->durable + l * LINE,
					       s->working + l * LINE, LINE);
					hash_toggle(s, l, s->durable + l * LINE);
					continue;
				}
				s->inflight = n;
				s->cap = cap;
			}
			i = (uint32_t)++s->ninflight;
			s->slot[l] = i;
			s->inflight[i - 1].line = l;
		}
		/* The line's contents at flush time are what may persist. */
		memcpy(s->inflight[i - 1].data, s->working + l * LINE, LINE);
		if (s->hist)
			s->hist[l]++;
	}
	pthread_mutex_unlock(&s->lock);
}

static int
sim_fence(struct nvh_persist *p, struct nvh_persist_thread *t)
{
	(void)t;
	struct nvh_sim *s = p->state;
	/* A crash may happen here, before this fence completes. */
	if (s->hooks.crash_point)
		s->hooks.crash_point(s->hooks.arg, s);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->ninflight; i++) {
		uint64_t l = s->inflight[i].line;
		hash_toggle(s, l, s->durable + l * LINE);
		memcpy(s->durable + l * LINE, s->inflight[i].data, LINE);
		hash_toggle(s, l, s->durable + l * LINE);
		s->slot[l] = 0;
	}
	s->ninflight = 0;
	s->fences++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void
sim_memcpy(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	   const void *src, size_t len)
{
	memcpy(dst, src, len);
	sim_flush(p, t, dst, len);
}

static void
sim_memset(struct nvh_persist *p, struct nvh_persist_thread *t, void *dst,
	   int c, size_t len)
{
	memset(dst, c, len);
	sim_flush(p, t, dst, len);
}

static int
is_volatile(const struct nvh_persist *p, uint64_t off)
{
	for (unsigned i = 0; i < p->nvolatile; i++)
		if (off - p->volatiles[i].off < p->volatiles[i].len)
			return 1;
	return 0;
}

static void
report(struct nvh_sim *s, uint64_t off, uint64_t len, const char *where,
       unsigned *nreports)
{
	if (s->hooks.missing_flush) {
		s->hooks.missing_flush(s->hooks.arg, s, off, len, where);
	} else if (*nreports < MAX_REPORTS) {
		fprintf(stderr, "nvheap sim: missing flush: pool bytes [%" PRIu64
			", %" PRIu64 ") are not durable at %s\n", off, off + len,
			where);
	}
	(*nreports)++;
}

/* Report each run of bytes that differ between the working mapping and
 * the durable image (lines flushed but not yet fenced count as not
 * durable), split around volatile ranges. */
static void
sim_durable_point(struct nvh_persist *p, uint64_t from, uint64_t len,
		  const char *where)
{
	struct nvh_sim *s = p->state;
	unsigned nreports = 0;
	pthread_mutex_lock(&s->lock); /* (sim_grow may move the image) */
	const uint8_t *w = s->working, *d = s->durable;
	uint64_t limit = len ? from + len : s->size;
	if (limit > s->size)
		limit = s->size;
	uint64_t off = len ? from : 0;
	while (off < limit) {
		uint64_t n = limit - off < LINE ? limit - off : LINE;
		if (memcmp(w + off, d + off, n) == 0) {
			off += n;
			continue;
		}
		while (w[off] == d[off])
			off++;
		uint64_t end = off;
		while (end < limit && w[end] != d[end])
			end++;
		while (off < end) {
			while (off < end && is_volatile(p, off))
				off++;
			uint64_t e = off;
			while (e < end && !is_volatile(p, e))
				e++;
			if (e > off)
				report(s, off, e - off, where, &nreports);
			off = e;
		}
	}
	if (nreports)
		s->missing++;
	pthread_mutex_unlock(&s->lock);
	if (nreports > MAX_REPORTS && !s->hooks.missing_flush)
		fprintf(stderr, "nvheap sim: ... %u differences in all at %s\n",
			nreports, where);
}

/* Bytes whose durability does not matter: the durable image (and a
 * flushed line's snapshot, which its fence would apply) takes them as
 * they are now, so no durable point reports them. */
static void
sim_dontcare(struct nvh_persist *p, void *addr, size_t len)
{
	struct nvh_sim *s = p->state;
	pthread_mutex_lock(&s->lock);
	uint64_t off = (uint64_t)((const uint8_t *)addr - s->working);
	for (uint64_t o = off; o < off + len;) {
		uint64_t l = o / LINE, end = (l + 1) * LINE;
		uint64_t n = (end < off + len ? end : off + len) - o;
		hash_toggle(s, l, s->durable + l * LINE);
		memcpy(s->durable + o, s->working + o, n);
		hash_toggle(s, l, s->durable + l * LINE);
		if (s->slot[l])
			memcpy(s->inflight[s->slot[l] - 1].data + (o - l * LINE),
			       s->working + o, n);
		o += n;
	}
	if (s->hooks.durable_write)
		s->hooks.durable_write(s->hooks.arg, s, off, len);
	pthread_mutex_unlock(&s->lock);
}

/* The file grew: its new part is on the medium as it reads now. */
static int
sim_grow(struct nvh_persist *p, size_t size)
{
	struct nvh_sim *s = p->state;
	if (size % LINE)
		return nvh_err(EINVAL, "sim: mapping size %zu is not a "
			       "multiple of %u", size, LINE);
	pthread_mutex_lock(&s->lock);
	size_t old = s->size, nl = size / LINE, ol = old / LINE;
	uint8_t *d = size > old ? realloc(s->durable, size) : s->durable;
	if (d)
		s->durable = d;
	uint32_t *sl = d ? realloc(s->slot, nl * sizeof(*sl)) : NULL;
	if (sl)
		s->slot = sl;
	uint32_t *h = sl && s->hist ? realloc(s->hist, nl * sizeof(*h)) : NULL;
	if (h)
		s->hist = h;
	if (!d || !sl || (s->hist && !h)) {
		pthread_mutex_unlock(&s->lock);
		return nvh_err(ENOMEM, "sim: cannot grow the durable image to "
			       "%zu bytes", size);
	}
	memcpy(s->durable + old, s->working + old, size - old);
	memset(s->slot + ol, 0, (nl - ol) * sizeof(*s->slot));
	if (s->hist)
		memset(s->hist + ol, 0, (nl - ol) * sizeof(*s->hist));
	for (size_t l = ol; l < nl; l++)
		hash_toggle(s, l, s->durable + l * LINE);
	s->size = size;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

const struct nvh_persist_backend nvh_persist_sim = {
	.grow = sim_grow,
	.name = "sim",
	.kind = NVH_PERSIST_SIM,
	.init = sim_init,
	.fini = sim_fini,
	.flush = sim_flush,
	.fence = sim_fence,
	.memcpy_nodrain = sim_memcpy,
	.memset_nodrain = sim_memset,
	.durable_point = sim_durable_point,
	.dontcare = sim_dontcare,
};

/* ---- inspection ---- */

uint64_t
nvh_sim_fences(const struct nvh_sim *s)
{
	return s->fences;
}

size_t
nvh_sim_size(const struct nvh_sim *s)
{
	return s->size;
}

const uint8_t *
nvh_sim_durable(const struct nvh_sim *s)
{
	return s->durable;
}

const uint8_t *
nvh_sim_working(const struct nvh_sim *s)
{
	return s->working;
}

size_t
nvh_sim_inflight(const struct nvh_sim *s, const struct nvh_sim_line **lines)
{
	*lines = s->inflight;
	return s->ninflight;
}

void
nvh_sim_durable_hash(const struct nvh_sim *s, uint64_t out[2])
{
	out[0] = s->hash[0];
	out[1] = s->hash[1];
}

const uint32_t *
nvh_sim_histogram(const struct nvh_sim *s, size_t *nlines)
{
	*nlines = s->hist ? s->size / LINE : 0;
	return s->hist;
}

uint64_t
nvh_sim_missing_flushes(const struct nvh_sim *s)
{
	return s->missing;
}
