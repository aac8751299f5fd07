/*
 * u64map.h -- a small open-addressing hash map from nonzero 64-bit keys
 * (pool offsets) to 64-bit values, for the DRAM-only indexes of a
 * transaction: its new objects, its reference-count deltas and the
 * commit's count plan.  Linear probing, backward-shift deletion, load
 * factor at most 1/2.  Not thread-safe: each map has one owner.
 */
#ifndef NVH_HEAP_U64MAP_H
#define NVH_HEAP_U64MAP_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct nvh_u64map_slot {
	uint64_t key; /* 0: empty */
	uint64_t val;
};

struct nvh_u64map {
	struct nvh_u64map_slot *s;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

static inline size_t
nvh_u64map_hash(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)k & (cap - 1);
}

static inline void
nvh_u64map_fini(struct nvh_u64map *m)
{
	free(m->s);
	memset(m, 0, sizeof(*m));
}

/* Empty the map; a table much larger than its last use is given back so
 * that one huge transaction does not tax every later one. */
static inline void
nvh_u64map_clear(struct nvh_u64map *m)
{
	if (!m->n)
		return;
	if (m->cap > 4096) {
		nvh_u64map_fini(m);
		return;
	}
	memset(m->s, 0, m->cap * sizeof(*m->s));
	m->n = 0;
}

static inline uint64_t *
nvh_u64map_find(const struct nvh_u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = nvh_u64map_hash(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->s[i].key == key)
			return &m->s[i].val;
		if (!m->s[i].key)
			return NULL;
	}
}

static inline int
nvh_u64map_grow(struct nvh_u64map *m)
{
	size_t cap = m->cap ? 2 * m->cap : 64;
	struct nvh_u64map_slot *s = calloc(cap, sizeof(*s));
	if (!s)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->s[i].key)
			continue;
		size_t j = nvh_u64map_hash(m->s[i].key, cap);
		while (s[j].key)
			j = (j + 1) & (cap - 1);
		s[j] = m->s[i];
	}
	free(m->s);
	m->s = s;
	m->cap = cap;
	return 0;
}

/* Insert or overwrite; 0, or -1 when out of memory (map unchanged). */
static inline int
nvh_u64map_put(struct nvh_u64map *m, uint64_t key, uint64_t val)
{
	uint64_t *v = nvh_u64map_find(m, key);
	if (v) {
		*v = val;
		return 0;
	}
	if (2 * (m->n + 1) > m->cap && nvh_u64map_grow(m))
		return -1;
	size_t i = nvh_u64map_hash(key, m->cap);
	while (m->s[i].key)
		i = (i + 1) & (m->cap - 1);
	m->s[i] = (struct nvh_u64map_slot){key, val};
	m->n++;
	return 0;
}

static inline void
nvh_u64map_del(struct nvh_u64map *m, uint64_t key)
{
	if (!m->cap)
		return;
	size_t mask = m->cap - 1, i = nvh_u64map_hash(key, m->cap);
	while (m->s[i].key != key) {
		if (!m->s[i].key)
			return;
		i = (i + 1) & mask;
	}
	/* backward shift: pull later members of the run into the hole */
	for (size_t j = (i + 1) & mask; m->s[j].key; j = (j + 1) & mask) {
		size_t h = nvh_u64map_hash(m->s[j].key, m->cap);
		/* move j to i unless its home lies cyclically in (i, j] */
		if (((j - h) & mask) >= ((j - i) & mask)) {
			m->s[i] = m->s[j];
			i = j;
		}
	}
	m->s[i].key = 0;
	m->n--;
}

/* Room for element n of the array *p of *cap elements of `elem` bytes
 * (doubling, from 16); -ENOMEM leaves it as it was. */
static inline int
nvh_grow(void **p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? 2 * *cap : 16;
	void *q = realloc(*p, c * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

#endif
