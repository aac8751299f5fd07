/*
 * crash_image.c -- enumerating crash images; see crash_image.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash_image.h"

#define LINE NVH_CACHELINE
#define WORDS (LINE / 8)

struct en {
	const struct nvh_sim *sim;
	const uint8_t *durable;
	nvt_image_fn fn;
	void *arg;
	uint64_t next_id;  /* id of the next image */
	uint64_t keep_num; /* sampling: keep an image with probability */
	uint64_t keep_den; /*   keep_num / keep_den */
	uint64_t rng;
	int stop;
	/* in-flight lines that change something */
	size_t m;
	const struct nvh_sim_line **f;
	/* dirty lines never flushed */
	size_t e;
	uint64_t *dirty;
	const uint8_t *working;
	/* scratch */
	struct nvt_delta *d;
	uint8_t (*torn)[LINE];
};

static void
emit(struct en *en, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
emit(struct en *en, size_t n, const char *fmt, ...)
{
	uint64_t id = en->next_id++;
	if (en->stop)
		return;
	if (en->keep_num < en->keep_den &&
	    nvt_rand(&en->rng) % en->keep_den >= en->keep_num)
		return;
	struct nvt_image img = {.id = id, .n = n, .d = en->d};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(img.desc, sizeof(img.desc), fmt, ap);
	va_end(ap);
	if (en->fn(en->arg, &img))
		en->stop = 1;
}

static void
fmt_set(char *buf, size_t len, const size_t *idx, size_t n,
	const struct en *en)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, len - o, "{");
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%llu", i ? "," : "",
				      (unsigned long long)en->f[idx[i]]->line);
	if (o < len)
		snprintf(buf + o, len - o, "}");
}

static void
subset_image(struct en *en, const size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		en->d[i].line = en->f[idx[i]]->line;
		en->d[i].data = en->f[idx[i]]->data;
	}
	char set[96];
	fmt_set(set, sizeof(set), idx, n, en);
	emit(en, n, "in-flight lines %s of %zu persisted", set, en->m);
}

/* k-subsets in lexicographic order. */
static void
subsets_of_size(struct en *en, size_t k)
{
	size_t idx[16];
	for (size_t i = 0; i < k; i++)
		idx[i] = i;
	for (;;) {
		subset_image(en, idx, k);
		size_t i = k;
		while (i > 0 && idx[i - 1] == en->m - k + i - 1)
			i--;
		if (i == 0)
			return;
		idx[i - 1]++;
		for (size_t j = i; j < k; j++)
			idx[j] = idx[j - 1] + 1;
	}
}

static uint64_t
count_subsets(size_t m, const struct nvt_gen *g)
{
	if (m <= g->all_subsets_max)
		return 1ull << m;
	uint64_t n = 1; /* the whole set */
	uint64_t c = 1;  /* m choose k */
	for (size_t k = 0; k <= g->k && k <= m; k++) {
		n += c;
		c = c * (m - k) / (k + 1);
	}
	return n;
}

static void
subsets(struct en *en, const struct nvt_gen *g)
{
	size_t idx[64] = {0};
	if (en->m <= g->all_subsets_max) {
		for (uint64_t mask = 0; mask < (1ull << en->m); mask++) {
			size_t n = 0;
			for (size_t i = 0; i < en->m; i++)
				if (mask & (1ull << i))
					idx[n++] = i;
			subset_image(en, idx, n);
		}
		return;
	}
	for (size_t k = 0; k <= g->k && k <= en->m; k++) {
		if (k == 0)
			subset_image(en, idx, 0);
		else
			subsets_of_size(en, k);
	}
	/* all persisted */
	for (size_t i = 0; i < en->m; i++) {
		en->d[i].line = en->f[i]->line;
		en->d[i].data = en->f[i]->data;
	}
	emit(en, en->m, "all %zu in-flight lines persisted", en->m);
}

/* Word subsets of a line's changed words to try as torn results. */
static size_t
torn_masks(unsigned changed, unsigned *out)
{
	unsigned w[WORDS];
	size_t nw = 0;
	for (unsigned i = 0; i < WORDS; i++)
		if (changed & (1u << i))
			w[nw++] = i;
	size_t n = 0;
	if (nw < 2)
		return 0;
	if (nw <= 4) {
		/* every proper, non-empty subset */
		for (unsigned s = 1; s < (1u << nw) - 1; s++) {
			unsigned m = 0;
			for (size_t i = 0; i < nw; i++)
				if (s & (1u << i))
					m |= 1u << w[i];
			out[n++] = m;
		}
		return n;
	}
	/* prefixes, suffixes (in address order) and single words */
	for (size_t t = 1; t < nw; t++) {
		unsigned pre = 0, suf = 0;
		for (size_t i = 0; i < t; i++)
			pre |= 1u << w[i];
		for (size_t i = nw - t; i < nw; i++)
			suf |= 1u << w[i];
		out[n++] = pre;
		out[n++] = suf;
	}
	/* single words (the first and last are a prefix and a suffix) */
	for (size_t i = 1; i + 1 < nw; i++)
		out[n++] = 1u << w[i];
	return n;
}

static unsigned
changed_words(const uint8_t *a, const uint8_t *b)
{
	unsigned m = 0;
	for (unsigned i = 0; i < WORDS; i++)
		if (memcmp(a + 8 * i, b + 8 * i, 8) != 0)
			m |= 1u << i;
	return m;
}

static uint64_t
count_torn(const struct en *en)
{
	uint64_t n = 0;
	unsigned masks[64];
	for (size_t j = 0; j < en->m; j++) {
		const struct nvh_sim_line *l = en->f[j];
		unsigned c = changed_words(l->data, en->durable + l->line * LINE);
		n += torn_masks(c, masks) * (en->m > 1 ? 2 : 1);
	}
	return n;
}

static void
torn(struct en *en)
{
	unsigned masks[64];
	for (size_t j = 0; j < en->m; j++) {
		const struct nvh_sim_line *l = en->f[j];
		const uint8_t *old = en->durable + l->line * LINE;
		unsigned c = changed_words(l->data, old);
		size_t nm = torn_masks(c, masks);
		for (size_t v = 0; v < nm; v++) {
			uint8_t *t = en->torn[0];
			for (unsigned wd = 0; wd < WORDS; wd++)
				memcpy(t + 8 * wd,
				       (masks[v] & (1u << wd) ? l->data : old) + 8 * wd,
				       8);
			en->d[0].line = l->line;
			en->d[0].data = t;
			emit(en, 1, "line %llu torn: words 0x%02x of 0x%02x "
			     "persisted, no other line",
			     (unsigned long long)l->line, masks[v], c);
			if (en->m < 2)
				continue;
			size_t n = 0;
			for (size_t i = 0; i < en->m; i++) {
				en->d[n].line = en->f[i]->line;
				en->d[n].data = i == j ? t : en->f[i]->data;
				n++;
			}
			emit(en, n, "line %llu torn: words 0x%02x of 0x%02x "
			     "persisted, all %zu other in-flight lines too",
			     (unsigned long long)l->line, masks[v], c,
			     en->m - 1);
		}
	}
}

static uint64_t
count_evict(const struct en *en, const struct nvt_gen *g)
{
	if (!en->e)
		return 0;
	uint64_t singles = en->e <= g->max_evict ? en->e : g->max_evict;
	return singles + (en->e > 1) + (en->m > 0);
}

static void
evict(struct en *en, const struct nvt_gen *g, uint64_t seed)
{
	if (!en->e)
		return;
	uint64_t rng = seed ^ 0x5eedull;
	size_t singles = en->e <= g->max_evict ? en->e : g->max_evict;
	for (size_t s = 0; s < singles; s++) {
		size_t i = en->e <= g->max_evict ? s
						: (size_t)(nvt_rand(&rng) % en->e);
		en->d[0].line = en->dirty[i];
		en->d[0].data = en->working + en->dirty[i] * LINE;
		emit(en, 1, "dirty line %llu evicted (never flushed)",
		     (unsigned long long)en->dirty[i]);
	}
	for (size_t i = 0; i < en->e; i++) {
		en->d[i].line = en->dirty[i];
		en->d[i].data = en->working + en->dirty[i] * LINE;
	}
	if (en->e > 1)
		emit(en, en->e, "all %zu dirty lines evicted", en->e);
	if (en->m) {
		for (size_t i = 0; i < en->m; i++) {
			en->d[en->e + i].line = en->f[i]->line;
			en->d[en->e + i].data = en->f[i]->data;
		}
		emit(en, en->e + en->m, "all %zu dirty lines evicted and all "
		     "%zu in-flight lines persisted", en->e, en->m);
	}
}

uint64_t
nvt_images(const struct nvh_sim *sim, const struct nvt_gen *g, uint64_t seed,
	   nvt_image_fn fn, void *arg)
{
	struct en en = {.sim = sim, .durable = nvh_sim_durable(sim), .fn = fn,
			.arg = arg, .rng = seed, .keep_num = 1, .keep_den = 1};
	const struct nvh_sim_line *lines;
	size_t nin = nvh_sim_inflight(sim, &lines);
	size_t nlines = nvh_sim_size(sim) / LINE;
	en.f = calloc(nin + 1, sizeof(*en.f));
	en.dirty = calloc(nlines + 1, sizeof(*en.dirty));
	en.d = calloc(nin + nlines + 1, sizeof(*en.d));
	en.torn = malloc(LINE);
	if (!en.f || !en.dirty || !en.d || !en.torn) {
		fprintf(stderr, "crash images: out of memory\n");
		abort();
	}
	uint8_t *in_flight = calloc(nlines, 1);
	for (size_t i = 0; i < nin; i++) {
		in_flight[lines[i].line] = 1;
		if (memcmp(lines[i].data, en.durable + lines[i].line * LINE,
			   LINE) != 0)
			en.f[en.m++] = &lines[i];
	}
	en.working = nvh_sim_working(sim);
	if (g->evict && en.working) {
		for (size_t l = 0; l < nlines; l++)
			if (!in_flight[l] &&
			    memcmp(en.working + l * LINE, en.durable + l * LINE,
				   LINE) != 0)
				en.dirty[en.e++] = l;
	}
	free(in_flight);

	uint64_t total = count_subsets(en.m, g) +
			 (g->torn ? count_torn(&en) : 0) +
			 (g->evict ? count_evict(&en, g) : 0);
	if (g->max_images && total > g->max_images) {
		en.keep_num = g->max_images;
		en.keep_den = total;
	}
	subsets(&en, g);
	if (g->torn)
		torn(&en);
	if (g->evict)
		evict(&en, g, seed);

	free(en.f);
	free(en.dirty);
	free(en.d);
	free(en.torn);
	return en.next_id;
}

void
nvt_image_hash(const struct nvh_sim *sim, const struct nvt_image *img,
	       uint64_t out[2])
{
	const uint8_t *durable = nvh_sim_durable(sim);
	nvh_sim_durable_hash(sim, out);
	for (size_t i = 0; i < img->n; i++) {
		const uint8_t *old = durable + img->d[i].line * LINE;
		if (memcmp(old, img->d[i].data, LINE) == 0)
			continue;
		uint64_t a[2], b[2];
		nvh_sim_line_hash(img->d[i].line, old, a);
		nvh_sim_line_hash(img->d[i].line, img->d[i].data, b);
		out[0] ^= a[0] ^ b[0];
		out[1] ^= a[1] ^ b[1];
	}
}

void
nvt_image_write(const struct nvh_sim *sim, const struct nvt_image *img,
		uint8_t *dst)
{
	memcpy(dst, nvh_sim_durable(sim), nvh_sim_size(sim));
	for (size_t i = 0; i < img->n; i++)
		memcpy(dst + img->d[i].line * LINE, img->d[i].data, LINE);
}
