/*
 * crash_image.c -- enumerating crash images; see crash_image.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/crashtest/crash_image.h"

#include "heap/pool.h"

#define LINE NVH_CACHELINE
#define WORDS (LINE / 8)

struct en {
	const struct nvh_sim *sim;
	const uint8_t *durable;
	nvh_ct_image_fn fn;
	void *arg;
	uint64_t next_id;  /* id of the next image */
	int stop;
	int oom;           /* a list could not grow */
	/* in-flight lines that change something */
	size_t m;
	const struct nvh_sim_line **f;
	/* dirty lines never flushed */
	size_t e;
	uint64_t *dirty;
	const uint8_t *working;
	/* scratch */
	struct nvh_ct_delta *d;
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
	struct nvh_ct_image img = {.id = id, .n = n, .d = en->d};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(img.desc, sizeof(img.desc), fmt, ap);
	va_end(ap);
	if (en->fn(en->arg, &img))
		en->stop = 1;
}

/* n choose k, saturating (images are counted, not all made) */
static uint64_t
binom(uint64_t n, uint64_t k)
{
	if (k > n)
		return 0;
	unsigned __int128 c = 1;
	for (uint64_t i = 0; i < k; i++) {
		c = c * (n - i) / (i + 1);
		if (c > UINT64_MAX / 4)
			return UINT64_MAX / 4;
	}
	return (uint64_t)c;
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

static void
all_inflight_image(struct en *en)
{
	for (size_t i = 0; i < en->m; i++) {
		en->d[i].line = en->f[i]->line;
		en->d[i].data = en->f[i]->data;
	}
	emit(en, en->m, "all %zu in-flight lines persisted", en->m);
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
count_subsets(size_t m, const struct nvh_crashtest_images *g)
{
	if (m <= g->all_subsets_max)
		return 1ull << m;
	uint64_t n = 1; /* the whole set */
	for (size_t k = 0; k <= g->k && k <= m; k++)
		n += binom(m, k);
	return n;
}

static void
subsets(struct en *en, const struct nvh_crashtest_images *g)
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
	all_inflight_image(en);
}

/* The r-th image of subsets(), made alone. */
static void
subset_at(struct en *en, const struct nvh_crashtest_images *g, uint64_t r)
{
	size_t idx[64];
	if (en->m <= g->all_subsets_max) {
		size_t n = 0;
		for (size_t i = 0; i < en->m; i++)
			if (r & (1ull << i))
				idx[n++] = i;
		subset_image(en, idx, n);
		return;
	}
	for (size_t k = 0; k <= g->k && k <= en->m; k++) {
		uint64_t c = binom(en->m, k);
		if (r >= c) {
			r -= c;
			continue;
		}
		/* the r-th k-subset in lexicographic order */
		size_t x = 0;
		for (size_t i = 0; i < k; i++) {
			for (;; x++) {
				uint64_t rest = binom(en->m - x - 1, k - i - 1);
				if (r < rest)
					break;
				r -= rest;
			}
			idx[i] = x++;
		}
		subset_image(en, idx, k);
		return;
	}
	all_inflight_image(en);
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

/* Images of in-flight line j torn (both variants when others are in
 * flight). */
static uint64_t
count_torn_line(const struct en *en, size_t j)
{
	unsigned masks[64];
	const struct nvh_sim_line *l = en->f[j];
	unsigned c = changed_words(l->data, en->durable + l->line * LINE);
	return torn_masks(c, masks) * (en->m > 1 ? 2 : 1);
}

/* In-flight line j torn with its v-th mask, alone or with all others. */
static void
torn_image(struct en *en, size_t j, size_t v, int with_all)
{
	unsigned masks[64];
	const struct nvh_sim_line *l = en->f[j];
	const uint8_t *old = en->durable + l->line * LINE;
	unsigned c = changed_words(l->data, old);
	torn_masks(c, masks);
	uint8_t *t = en->torn[0];
	for (unsigned wd = 0; wd < WORDS; wd++)
		memcpy(t + 8 * wd, (masks[v] & (1u << wd) ? l->data : old) + 8 * wd,
		       8);
	if (!with_all) {
		en->d[0].line = l->line;
		en->d[0].data = t;
		emit(en, 1, "line %llu torn: words 0x%02x of 0x%02x persisted, "
		     "no other line", (unsigned long long)l->line, masks[v], c);
		return;
	}
	for (size_t i = 0; i < en->m; i++) {
		en->d[i].line = en->f[i]->line;
		en->d[i].data = i == j ? t : en->f[i]->data;
	}
	emit(en, en->m, "line %llu torn: words 0x%02x of 0x%02x persisted, "
	     "all %zu other in-flight lines too", (unsigned long long)l->line,
	     masks[v], c, en->m - 1);
}

static void
torn(struct en *en)
{
	for (size_t j = 0; j < en->m; j++) {
		uint64_t n = count_torn_line(en, j);
		for (uint64_t i = 0; i < n; i++)
			torn_image(en, j, en->m > 1 ? i / 2 : i,
				   en->m > 1 && i % 2);
	}
}

static uint64_t
count_evict(const struct en *en, const struct nvh_crashtest_images *g)
{
	if (!en->e)
		return 0;
	uint64_t singles = en->e <= g->max_evict ? en->e : g->max_evict;
	return singles + (en->e > 1) + (en->m > 0);
}

/* The r-th image of evict(), made alone. */
static void
evict_at(struct en *en, const struct nvh_crashtest_images *g, uint64_t seed, uint64_t r)
{
	size_t singles = en->e <= g->max_evict ? en->e : g->max_evict;
	if (r < singles) {
		size_t i = (size_t)r;
		if (en->e > g->max_evict) { /* the r-th draw */
			uint64_t rng = seed ^ 0x5eedull;
			for (uint64_t s = 0; s <= r; s++)
				i = (size_t)(nvh_ct_rand(&rng) % en->e);
		}
		en->d[0].line = en->dirty[i];
		en->d[0].data = en->working + en->dirty[i] * LINE;
		emit(en, 1, "dirty line %llu evicted (never flushed)",
		     (unsigned long long)en->dirty[i]);
		return;
	}
	r -= singles;
	for (size_t i = 0; i < en->e; i++) {
		en->d[i].line = en->dirty[i];
		en->d[i].data = en->working + en->dirty[i] * LINE;
	}
	if (en->e > 1 && r == 0) {
		emit(en, en->e, "all %zu dirty lines evicted", en->e);
		return;
	}
	for (size_t i = 0; i < en->m; i++) {
		en->d[en->e + i].line = en->f[i]->line;
		en->d[en->e + i].data = en->f[i]->data;
	}
	emit(en, en->e + en->m, "all %zu dirty lines evicted and all %zu "
	     "in-flight lines persisted", en->e, en->m);
}

static void
evict(struct en *en, const struct nvh_crashtest_images *g, uint64_t seed)
{
	uint64_t n = count_evict(en, g);
	for (uint64_t r = 0; r < n && !en->stop; r++)
		evict_at(en, g, seed, r);
}

struct nvh_ct_point {
	struct en en;
	const struct nvh_crashtest_images *g;
	uint64_t seed, total;
	uint64_t nsub, ntorn; /* images of the first two kinds */
	uint64_t *torn_pre;   /* torn images of lines before j (m + 1) */
};

/* Append a dirty line, growing the list. */
static void
add_dirty(struct en *en, size_t *cap, uint64_t line)
{
	if (en->e == *cap) {
		size_t ncap = *cap ? 2 * *cap : 256;
		uint64_t *d = realloc(en->dirty, ncap * sizeof(*en->dirty));
		if (!d) {
			en->oom = 1; /* the point fails (nvh_ct_point_new) */
			return;
		}
		en->dirty = d;
		*cap = ncap;
	}
	en->dirty[en->e++] = line;
}

/* The never-flushed lines whose working contents differ from the
 * durable image: compared a page at a time, lines only where a page
 * differs (a big pool is mostly unchanged). */
static void
scan_dirty(struct en *en, size_t nlines, const uint64_t *in_flight)
{
	const size_t per_page = 4096 / LINE;
	size_t cap = 0;
	for (size_t l0 = 0; l0 < nlines; l0 += per_page) {
		size_t n = nlines - l0 < per_page ? nlines - l0 : per_page;
		if (memcmp(en->working + l0 * LINE, en->durable + l0 * LINE,
			   n * LINE) == 0)
			continue;
		for (size_t l = l0; l < l0 + n; l++)
			if (!(in_flight[l / 64] & (1ull << (l % 64))) &&
			    memcmp(en->working + l * LINE, en->durable + l * LINE,
				   LINE) != 0)
				add_dirty(en, &cap, l);
	}
}

struct nvh_ct_point *
nvh_ct_point_new(const struct nvh_sim *sim, const struct nvh_crashtest_images *g,
	      uint64_t seed)
{
	struct nvh_ct_point *pt = calloc(1, sizeof(*pt));
	if (!pt)
		return NULL;
	struct en *en = &pt->en;
	pt->g = g;
	pt->seed = seed;
	en->sim = sim;
	en->durable = nvh_sim_durable(sim);
	const struct nvh_sim_line *lines;
	size_t nin = nvh_sim_inflight(sim, &lines);
	size_t nlines = nvh_sim_size(sim) / LINE;
	uint64_t *in_flight = calloc(nlines / 64 + 1, sizeof(*in_flight));
	en->f = calloc(nin + 1, sizeof(*en->f));
	en->torn = malloc(LINE);
	if (!in_flight || !en->f || !en->torn) {
		free(in_flight);
		nvh_ct_point_free(pt);
		return NULL;
	}
	for (size_t i = 0; i < nin; i++) {
		in_flight[lines[i].line / 64] |= 1ull << (lines[i].line % 64);
		if (memcmp(lines[i].data, en->durable + lines[i].line * LINE,
			   LINE) != 0)
			en->f[en->m++] = &lines[i];
	}
	en->working = nvh_sim_working(sim);
	if (g->evict && en->working)
		scan_dirty(en, nlines, in_flight);
	free(in_flight);
	en->d = calloc(en->m + en->e + 1, sizeof(*en->d));
	pt->torn_pre = calloc(en->m + 1, sizeof(*pt->torn_pre));
	if (en->oom || !en->d || !pt->torn_pre) {
		nvh_ct_point_free(pt);
		return NULL;
	}
	for (size_t j = 0; g->torn && j < en->m; j++)
		pt->torn_pre[j + 1] = pt->torn_pre[j] + count_torn_line(en, j);
	pt->nsub = count_subsets(en->m, g);
	pt->ntorn = pt->torn_pre[en->m];
	pt->total = pt->nsub + pt->ntorn + (g->evict ? count_evict(en, g) : 0);
	return pt;
}

/* Image `id` of the enumeration, made alone. */
static void
image_at(struct nvh_ct_point *pt, uint64_t id)
{
	struct en *en = &pt->en;
	en->next_id = id;
	if (id < pt->nsub) {
		subset_at(en, pt->g, id);
		return;
	}
	id -= pt->nsub;
	if (id < pt->ntorn) {
		size_t lo = 0, hi = en->m; /* the line: torn_pre[lo] <= id */
		while (hi - lo > 1) {
			size_t mid = (lo + hi) / 2;
			if (pt->torn_pre[mid] <= id)
				lo = mid;
			else
				hi = mid;
		}
		uint64_t i = id - pt->torn_pre[lo];
		torn_image(en, lo, en->m > 1 ? i / 2 : i, en->m > 1 && i % 2);
		return;
	}
	evict_at(en, pt->g, pt->seed, id - pt->ntorn);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t
nvh_ct_point_total(const struct nvh_ct_point *pt)
{
	return pt->total;
}

int
nvh_ct_point_images(struct nvh_ct_point *pt, nvh_ct_image_fn fn, void *arg)
{
	struct en *en = &pt->en;
	const struct nvh_crashtest_images *g = pt->g;
	en->fn = fn;
	en->arg = arg;
	en->next_id = 0;
	en->stop = 0;
	if (!g->max_images || pt->total <= g->max_images) {
		subsets(en, g);
		if (g->torn)
			torn(en);
		if (g->evict)
			evict(en, g, pt->seed);
		return 0;
	}
	/* A sample: nothing in flight persisted and all of it (when it
	 * asks for two or more), and the rest drawn from the whole
	 * enumeration, each image made from its id alone, in id order. */
	size_t k = g->max_images, n = 0;
	uint64_t *ids = calloc(k, sizeof(*ids));
	if (!ids)
		return -1;
	uint64_t rng = pt->seed;
	if (k >= 2) {
		ids[n++] = 0;
		if (pt->nsub > 1)
			ids[n++] = pt->nsub - 1;
	}
	while (n < k) {
		uint64_t v = nvh_ct_rand(&rng) % pt->total;
		int dup = 0;
		for (size_t i = 0; i < n; i++)
			dup |= ids[i] == v;
		if (!dup)
			ids[n++] = v;
	}
	qsort(ids, n, sizeof(*ids), cmp_u64);
	for (size_t i = 0; i < n && !en->stop; i++)
		image_at(pt, ids[i]);
	free(ids);
	return 0;
}

void
nvh_ct_point_free(struct nvh_ct_point *pt)
{
	if (!pt)
		return;
	free(pt->en.f);
	free(pt->en.dirty);
	free(pt->en.d);
	free(pt->en.torn);
	free(pt->torn_pre);
	free(pt);
}

uint64_t
nvh_ct_images(const struct nvh_sim *sim, const struct nvh_crashtest_images *g, uint64_t seed,
	   nvh_ct_image_fn fn, void *arg)
{
	struct nvh_ct_point *pt = nvh_ct_point_new(sim, g, seed);
	if (!pt)
		return UINT64_MAX;
	uint64_t total = nvh_ct_point_images(pt, fn, arg) ? UINT64_MAX
							  : pt->total;
	nvh_ct_point_free(pt);
	return total;
}

void
nvh_ct_image_hash(const struct nvh_sim *sim, const struct nvh_ct_image *img,
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
nvh_ct_image_write(const struct nvh_sim *sim, const struct nvh_ct_image *img,
		uint8_t *dst)
{
	memcpy(dst, nvh_sim_durable(sim), nvh_sim_size(sim));
	for (size_t i = 0; i < img->n; i++)
		memcpy(dst + img->d[i].line * LINE, img->d[i].data, LINE);
}

/* ---- image files ---- */

/*
 * The checks open an image by path, and recovery writes to it, so the
 * file holds the image plus whatever the last check wrote.  Rewriting the
 * whole pool per image is what made big pools slow; instead the file
 * remembers the pages that may differ from the simulator's durable image
 * (stale): those the previous image's delta wrote, those the durable image
 * changed at fences since (nvh_ct_imgfile_fence), and those a check wrote.
 *
 * The checks' writes are seen through the mapping: the library maps pool
 * files through a hook (struct nvh_map_hook, heap/pool.h) that the first
 * image file installs, and a read-write MAP_SHARED mapping of an image
 * file is made MAP_PRIVATE instead.  When it is
 * unmapped, its pages that became private (written: /proc/self/pagemap
 * says they are no longer the file's) are copied into the file, so a check
 * that reopens the image sees them, and marked stale.  If
 * /proc/self/pagemap cannot be read, every image is written whole.
 * Mappings made another way (a check that maps the image itself, another
 * process) are not seen: a check must open images through the library.  Every 32nd tracked write first compares the
 * whole file with the durable image, so tracking that missed a write
 * stops the run rather than pass a wrong image.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096u
#define MAX_FILES 4
#define MAX_MAPS 8

struct nvh_ct_imgfile {
	char path[4096];
	int fd;
	uint8_t *map;        /* the explorer's own (shared) mapping */
	uint64_t size, npages;
	dev_t dev;
	ino_t ino;
	int full;            /* rewrite it all */
	const uint8_t *from; /* the durable image it was last written from */
	uint8_t *stale;      /* per page */
	uint64_t *list;      /* the stale pages */
	size_t nlist;
	uint64_t writes;
	/* pages the last tracked check wrote, and mappings since: a page
	 * made private costs a fault and a copy, several times what copying
	 * it costs, so a file whose checks write more than an eighth of it
	 * is mapped shared and written whole (tracked again now and then,
	 * to see whether that still holds) */
	uint64_t written, maps;
};

static struct {
	int hooked;          /* the library's mappings come here */
	int pagemap;         /* fd of /proc/self/pagemap, -1: none */
	struct nvh_ct_imgfile *file[MAX_FILES];
	struct { uint8_t *addr; size_t len; struct nvh_ct_imgfile *f; } map[MAX_MAPS];
} trk = {.pagemap = -1};

static void
stale_page(struct nvh_ct_imgfile *f, uint64_t page)
{
	if (f->stale[page])
		return;
	f->stale[page] = 1;
	f->list[f->nlist++] = page;
}

static struct nvh_ct_imgfile *
image_of_fd(int fd)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		return NULL;
	for (int i = 0; i < MAX_FILES; i++)
		if (trk.file[i] && trk.file[i]->dev == st.st_dev &&
		    trk.file[i]->ino == st.st_ino)
			return trk.file[i];
	return NULL;
}

static void *
hook_map(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct nvh_ct_imgfile *f = (prot & PROT_WRITE) && trk.pagemap >= 0
					? image_of_fd(fd) : NULL;
	int slot = -1;
	for (int i = 0; f && i < MAX_MAPS && slot < 0; i++)
		if (!trk.map[i].addr)
			slot = i;
	int costly = f && f->written * 8 > f->npages && f->maps++ % 16;
	if (!f || slot < 0 || off != 0 || len != f->size || costly ||
	    (flags & MAP_TYPE) == MAP_PRIVATE) {
		if (f) /* a mapping not tracked: trust nothing in the file */
			f->full = 1;
		return mmap(addr, len, prot, flags, fd, off);
	}
	if ((flags & MAP_TYPE) != MAP_SHARED) {
		/* MAP_SHARED_VALIDATE | MAP_SYNC (DAX only): refused, as a
		 * file system without DAX would */
		errno = EOPNOTSUPP;
		return MAP_FAILED;
	}
	void *a = mmap(addr, len, prot,
			      (flags & ~MAP_TYPE) | MAP_PRIVATE, fd, off);
	if (a != MAP_FAILED) {
		trk.map[slot].addr = a;
		trk.map[slot].len = len;
		trk.map[slot].f = f;
	}
	return a;
}

/* Copy the pages [p0, p1) of a private image mapping at addr that were
 * written into the file, and mark them stale. */
static void
write_back(uint8_t *addr, struct nvh_ct_imgfile *f, uint64_t p0, uint64_t p1)
{
	uint64_t buf[512];
	for (; p0 < p1; p0 += 512) {
		uint64_t n = p1 - p0 < 512 ? p1 - p0 : 512;
		off_t at = (off_t)(((uintptr_t)addr / PAGE + p0) * 8);
		if (pread(trk.pagemap, buf, n * 8, at) != (ssize_t)(n * 8)) {
			f->full = 1; /* cannot tell: copy it all */
			memcpy(f->map + p0 * PAGE, addr + p0 * PAGE,
			       (p1 - p0) * PAGE);
			return;
		}
		for (uint64_t i = 0; i < n; i++) {
			uint64_t e = buf[i];
			int present = (e >> 63) & 1, swapped = (e >> 62) & 1;
			int file_page = (e >> 61) & 1;
			if (swapped || (present && !file_page)) {
				memcpy(f->map + (p0 + i) * PAGE,
				       addr + (p0 + i) * PAGE, PAGE);
				stale_page(f, p0 + i);
				f->written++;
			}
		}
	}
}

static int
hook_unmap(void *addr, size_t len)
{
	uint8_t *lo = addr, *hi = lo + len;
	for (int i = 0; i < MAX_MAPS; i++) {
		uint8_t *a = trk.map[i].addr, *b = a + trk.map[i].len;
		if (!a || hi <= a || lo >= b)
			continue;
		struct nvh_ct_imgfile *f = trk.map[i].f;
		/* (pages of the file this mapping holds) */
		uint64_t np = (uint64_t)(b - a) / PAGE < f->npages
				      ? (uint64_t)(b - a) / PAGE : f->npages;
		if (lo <= a && hi >= b) { /* the whole mapping */
			f->written = 0;
			write_back(a, f, 0, np);
			trk.map[i].addr = NULL;
			continue;
		}
		uint64_t p0 = (uint64_t)((lo > a ? lo : a) - a) / PAGE;
		uint64_t p1 = ((uint64_t)((hi < b ? hi : b) - a) + PAGE - 1) /
			      PAGE;
		write_back(a, f, p0, p1 < np ? p1 : np);
		if (lo > a && hi >= b) {
			/* its tail (an open trimming the tail of an
			 * unfinished growth): the rest stays tracked */
			trk.map[i].len = (size_t)(lo - a);
			continue;
		}
		/* Another part (the library does not do this): keep what
		 * was written, stop tracking it, and trust nothing in the
		 * file after. */
		write_back(a, f, 0, np);
		trk.map[i].addr = NULL;
		f->full = 1;
	}
	return munmap(addr, len);
}

struct nvh_ct_imgfile *
nvh_ct_imgfile_open(const char *path, uint64_t size)
{
	struct nvh_ct_imgfile *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->size = size;
	f->npages = (size + PAGE - 1) / PAGE;
	f->full = 1;
	f->stale = calloc(f->npages, 1);
	f->list = calloc(f->npages, sizeof(*f->list));
	unlink(path);
	f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct stat st;
	if (!f->stale || !f->list || f->fd < 0 ||
	    ftruncate(f->fd, (off_t)size) != 0 || fstat(f->fd, &st) != 0)
		goto fail;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	/* not registered yet: this mapping stays shared */
	f->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (f->map == MAP_FAILED)
		goto fail;
	if (!trk.hooked) {
		static const struct nvh_map_hook hook = {.map = hook_map,
							 .unmap = hook_unmap};
		nvh_file_set_map_hook(&hook);
		trk.hooked = 1;
	}
	if (trk.pagemap < 0)
		trk.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < MAX_FILES; i++) {
		if (!trk.file[i]) {
			trk.file[i] = f;
			break;
		}
	}
	return f;
fail:
	fprintf(stderr, "crash images: %s: %s\n", path, strerror(errno));
	if (f->fd >= 0)
		close(f->fd);
	free(f->stale);
	free(f->list);
	free(f);
	return NULL;
}

void
nvh_ct_imgfile_close(struct nvh_ct_imgfile *f)
{
	if (!f)
		return;
	for (int i = 0; i < MAX_FILES; i++)
		if (trk.file[i] == f)
			trk.file[i] = NULL;
	munmap(f->map, f->size);
	close(f->fd);
	unlink(f->path);
	free(f->stale);
	free(f->list);
	free(f);
}

const char *
nvh_ct_imgfile_path(const struct nvh_ct_imgfile *f)
{
	return f->path;
}

const uint8_t *
nvh_ct_imgfile_map(const struct nvh_ct_imgfile *f)
{
	return f->map;
}

int
nvh_ct_imgfile_tracked(const struct nvh_ct_imgfile *f)
{
	(void)f;
	return trk.hooked && trk.pagemap >= 0;
}

void
nvh_ct_imgfile_fence(struct nvh_ct_imgfile *f, const struct nvh_sim *sim)
{
	const struct nvh_sim_line *l;
	size_t n = nvh_sim_inflight(sim, &l);
	for (size_t i = 0; i < n; i++)
		stale_page(f, l[i].line * LINE / PAGE);
}

void
nvh_ct_imgfile_note(struct nvh_ct_imgfile *f, uint64_t off, uint64_t len)
{
	for (uint64_t p = off / PAGE; len && p <= (off + len - 1) / PAGE; p++)
		stale_page(f, p);
}

void
nvh_ct_imgfile_forget(struct nvh_ct_imgfile *f)
{
	f->full = 1;
}

/* The image file's size is the simulator's (a pool that grows changes
 * it between fences), and a check's open may have changed the file's (a
 * read-write open trims the tail of an unfinished growth; a check that
 * allocates may grow it): make it the simulator's again, remapped, and
 * rewrite it whole.  -1 if that fails. */
static int
fit_size(struct nvh_ct_imgfile *f, uint64_t size)
{
	struct stat st;
	if (fstat(f->fd, &st) != 0)
		return -1;
	if ((uint64_t)st.st_size == size && f->size == size)
		return 0;
	uint64_t np = (size + PAGE - 1) / PAGE;
	if (size != f->size) {
		uint8_t *stale = realloc(f->stale, np ? np : 1);
		uint64_t *list = realloc(f->list, (np ? np : 1) * sizeof(*list));
		if (stale)
			f->stale = stale;
		if (list)
			f->list = list;
		if (!stale || !list)
			return -1;
	}
	munmap(f->map, f->size);
	f->map = MAP_FAILED;
	if (ftruncate(f->fd, (off_t)size) != 0)
		return -1;
	f->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (f->map == MAP_FAILED)
		return -1;
	f->size = size;
	f->npages = np;
	memset(f->stale, 0, np);
	f->nlist = 0;
	f->full = 1;
	return 0;
}

int
nvh_ct_imgfile_write(struct nvh_ct_imgfile *f, const struct nvh_sim *sim,
		  const struct nvh_ct_image *img)
{
	const uint8_t *dur = nvh_sim_durable(sim);
	if (fit_size(f, nvh_sim_size(sim))) {
		fprintf(stderr, "crash images: %s: cannot make it %zu bytes: "
			"%s\n", f->path, nvh_sim_size(sim), strerror(errno));
		f->full = 1;
		return -1;
	}
	int tracked = nvh_ct_imgfile_tracked(f);
	if (!tracked || f->full || dur != f->from || nvh_sim_size(sim) != f->size) {
		memcpy(f->map, dur, f->size);
		for (size_t i = 0; i < f->nlist; i++)
			f->stale[f->list[i]] = 0;
	} else {
		for (size_t i = 0; i < f->nlist; i++) {
			uint64_t p = f->list[i];
			uint64_t n = f->size - p * PAGE < PAGE ? f->size - p * PAGE
							      : PAGE;
			memcpy(f->map + p * PAGE, dur + p * PAGE, n);
			f->stale[p] = 0;
		}
		if (++f->writes % 32 == 0 && memcmp(f->map, dur, f->size) != 0) {
			size_t at = 0;
			while (f->map[at] == dur[at])
				at++;
			fprintf(stderr, "crash images: %s differs from the durable "
				"image at byte %zu after an incremental write: a "
				"write to it was not seen (a check that writes "
				"to the image other than through nvheap?)\n",
				f->path, at);
			f->full = 1;
			return -1;
		}
	}
	f->nlist = 0;
	f->full = !tracked;
	f->from = dur;
	for (size_t i = 0; i < img->n; i++) {
		memcpy(f->map + img->d[i].line * LINE, img->d[i].data, LINE);
		stale_page(f, img->d[i].line * LINE / PAGE);
	}
	return 0;
}
