/*
 * redo.c -- redo records: build them in DRAM, seal them with a checksum,
 * validate them from the medium, apply their entries.
 *
 * Every entry is idempotent given the order of records: SET and CSET write
 * absolute values (CSET only while the word still holds what the
 * operation saw), OR and AND-NOT set and clear bits.  In-place application
 * uses atomic read-modify-writes because several threads change different
 * bits of one bitmap word.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "heap/error.h"
#include "heap/layout.h"
#include "heap/log/redo.h"

void
nvh_rec_init(struct nvh_rec *r, uint16_t kind)
{
	r->buf = r->small;
	r->cap = sizeof(r->small);
	r->len = sizeof(struct nvh_rec_hdr);
	r->nent = 0;
	memset(r->buf, 0, sizeof(struct nvh_rec_hdr));
	((struct nvh_rec_hdr *)r->buf)->kind = (uint8_t)kind;
}

void
nvh_rec_fini(struct nvh_rec *r)
{
	if (r->buf != r->small)
		free(r->buf);
	r->buf = NULL;
}

static int
reserve(struct nvh_rec *r, size_t more)
{
	/* room for the entry plus padding to a cache line */
	size_t need = r->len + more + NVH_REC_ALIGN;
	if (need <= r->cap)
		return 0;
	size_t cap = r->cap * 2;
	while (cap < need)
		cap *= 2;
	uint8_t *n = r->buf == r->small ? malloc(cap) : realloc(r->buf, cap);
	if (!n)
		return nvh_err(ENOMEM, "out of memory for a redo record");
	if (r->buf == r->small)
		memcpy(n, r->small, r->len);
	r->buf = n;
	r->cap = cap;
	return 0;
}

int
nvh_rec_reserve(struct nvh_rec *r, size_t more)
{
	return reserve(r, more);
}

int
nvh_rec_put(struct nvh_rec *r, const void *p, size_t len)
{
	size_t padded = (len + 7) & ~(size_t)7;
	int rc = reserve(r, padded);
	if (rc)
		return rc;
	memcpy(r->buf + r->len, p, len);
	memset(r->buf + r->len + len, 0, padded - len);
	r->len += padded;
	return 0;
}

int
nvh_rec_add(struct nvh_rec *r, enum nvh_rec_op op, uint64_t target,
	    uint64_t value)
{
	if (r->nent == NVH_REC_NENT_MAX)
		return nvh_err(ENOSPC, "redo record has too many entries");
	int rc = reserve(r, 16);
	if (rc)
		return rc;
	uint64_t w[2] = {target | (uint64_t)op, value};
	memcpy(r->buf + r->len, w, sizeof(w));
	r->len += sizeof(w);
	r->nent++;
	return 0;
}

int
nvh_rec_add_cset(struct nvh_rec *r, uint64_t target, uint64_t newv,
		 uint64_t oldv)
{
	if (r->nent == NVH_REC_NENT_MAX)
		return nvh_err(ENOSPC, "redo record has too many entries");
	int rc = reserve(r, 24);
	if (rc)
		return rc;
	uint64_t w[3] = {target | NVH_OP_CSET, newv, oldv};
	memcpy(r->buf + r->len, w, sizeof(w));
	r->len += sizeof(w);
	r->nent++;
	return 0;
}

/* XXH3-64 of the entries and padding, seeded with XXH3-64 of the header
 * fields before the checksum: the whole record but the checksum itself. */
static uint64_t
rec_checksum(const uint8_t *p, size_t size)
{
	uint64_t seed = XXH3_64bits(p, offsetof(struct nvh_rec_hdr, checksum));
	return XXH3_64bits_withSeed(p + sizeof(struct nvh_rec_hdr),
				    size - sizeof(struct nvh_rec_hdr), seed);
}

size_t
nvh_rec_seal(struct nvh_rec *r, uint64_t seq)
{
	size_t size = (r->len + NVH_REC_ALIGN - 1) & ~(size_t)(NVH_REC_ALIGN - 1);
	memset(r->buf + r->len, 0, size - r->len); /* reserve() left room */
	struct nvh_rec_hdr *h = (struct nvh_rec_hdr *)r->buf;
	h->seq = seq;
	h->nent = (uint16_t)r->nent;
	h->nent_hi = (uint8_t)(r->nent >> 16);
	h->size = (uint32_t)size;
	h->checksum = rec_checksum(r->buf, size);
	return size;
}

/* Where a record's entries start (NULL if its kind has none). */
static const uint8_t *
entries_of(const void *rec, const uint8_t *end)
{
	const struct nvh_rec_hdr *h = rec;
	const uint8_t *p = (const uint8_t *)rec + sizeof(*h);
	if (h->kind == NVH_REC_ATOMIC)
		return p;
	if (h->kind != NVH_REC_COMMIT)
		return NULL;
	if (p + sizeof(struct nvh_commit_body) > end)
		return NULL;
	const struct nvh_commit_body *cb = (const void *)p;
	uint64_t skip = sizeof(*cb) + (uint64_t)cb->nranges * sizeof(struct nvh_range);
	if (skip > (uint64_t)(end - p))
		return NULL;
	return p + skip;
}

void
nvh_rec_iter_init(struct nvh_rec_iter *it, const void *rec)
{
	const struct nvh_rec_hdr *h = rec;
	it->end = (const uint8_t *)rec + h->size;
	it->p = entries_of(rec, it->end);
	it->left = it->p ? nvh_rec_nent(h) : 0;
}

int
nvh_rec_next(struct nvh_rec_iter *it, struct nvh_rec_op_ent *e)
{
	if (!it->left)
		return 0;
	if (it->p + 16 > it->end)
		return -1;
	uint64_t w[3];
	memcpy(w, it->p, 16);
	e->op = (enum nvh_rec_op)(w[0] & NVH_OP_MASK);
	e->target = w[0] & ~NVH_OP_MASK;
	e->value = w[1];
	e->old = 0;
	size_t len = 16;
	if (e->op == NVH_OP_CSET) {
		if (it->p + 24 > it->end)
			return -1;
		memcpy(w, it->p, 24);
		e->old = w[2];
		len = 24;
	} else if (e->op > NVH_OP_CSET) {
		return -1;
	}
	it->p += len;
	it->left--;
	return 1;
}

static int
bad(char *why, size_t whylen, const char *fmt, ...) NVH_PRINTF(3, 4);

static int
bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return 0;
}

#define BAD(...) bad(why, whylen, __VA_ARGS__)

/* The body of a sealed record, checked for its kind: every count inside
 * the record, every offset in bounds (and aligned where it is read as
 * records), the transaction id older than the record. */
static int
body_valid(const struct nvh_rec_hdr *h, const struct nvh_rec_bounds *b,
	   char *why, size_t whylen)
{
	const uint8_t *p = (const uint8_t *)h + sizeof(*h);
	const uint8_t *end = (const uint8_t *)h + h->size;
	/* every kind but ATOMIC starts with a transaction id, taken from
	 * the sequence before any record of the transaction (0: a marker);
	 * the record holds at least 40 body bytes */
	uint64_t tx = nvh_rec_tx(h);
	if (h->kind >= NVH_REC_UNDO && h->kind <= NVH_REC_CHUNK && tx >= h->seq)
		return BAD("transaction id %" PRIu64 " is not below the "
			   "record's seq %" PRIu64, tx, h->seq);
	switch (h->kind) {
	case NVH_REC_ATOMIC:
		return 1;
	case NVH_REC_COMMIT: {
		const struct nvh_commit_body *cb = (const void *)p;
		if (p + sizeof(*cb) > end)
			return BAD("COMMIT body does not fit");
		if (cb->flags & ~NVH_COMMIT_DATA_SUM)
			return BAD("COMMIT flags 0x%" PRIx32 " unknown", cb->flags);
		if (cb->nranges > (size_t)(end - p) / sizeof(struct nvh_range))
			return BAD("COMMIT of %" PRIu32 " ranges does not fit its "
				   "%" PRIu32 " bytes", cb->nranges, h->size);
		const struct nvh_range *r = (const void *)(cb + 1);
		for (uint32_t i = 0; i < cb->nranges; i++)
			if (!b->range_ok(b->arg, r[i].off, r[i].len))
				return BAD("COMMIT range %" PRIu32 " [%" PRIu64
					   ", +%" PRIu64 ") is outside the data",
					   i, r[i].off, r[i].len);
		if (!entries_of(h, end))
			return BAD("COMMIT entries do not fit");
		return 1;
	}
	case NVH_REC_UNDO: {
		const struct nvh_undo_body *ub = (const void *)p;
		if (p + sizeof(*ub) > end || (ub->flags & ~NVH_UNDO_COMPACT) ||
		    nvh_rec_nent(h))
			return BAD("UNDO body: flags 0x%" PRIx32 ", %" PRIu32
				   " entries", ub->flags, nvh_rec_nent(h));
		if (ub->nseg > (size_t)(end - p - sizeof(*ub)) /
				       nvh_undo_seg_size(ub))
			return BAD("UNDO of %" PRIu32 " segments does not fit its "
				   "%" PRIu32 " bytes", ub->nseg, h->size);
		uint64_t inline_bytes = 0;
		for (uint32_t i = 0; i < ub->nseg; i++) {
			struct nvh_undo_seg sg = nvh_undo_seg_at(ub, i);
			if (!b->range_ok(b->arg, sg.off, sg.len))
				return BAD("UNDO segment %" PRIu32 " [%" PRIu64
					   ", +%" PRIu64 ") is outside the data",
					   i, sg.off, sg.len);
			if (sg.payload) {
				if (!b->range_ok(b->arg, sg.payload, sg.len))
					return BAD("UNDO segment %" PRIu32 ": "
						   "payload [%" PRIu64 ", +%"
						   PRIu64 ") is outside the "
						   "data", i, sg.payload, sg.len);
			} else {
				inline_bytes += (sg.len + 7) & ~7ull;
			}
		}
		const uint8_t *data = (const uint8_t *)nvh_undo_data(ub);
		if (inline_bytes > (uint64_t)(end - data))
			return BAD("UNDO inline bytes (%" PRIu64 ") do not fit",
				   inline_bytes);
		return 1;
	}
	case NVH_REC_ABORT:
		if (nvh_rec_nent(h))
			return BAD("ABORT with %" PRIu32 " entries", nvh_rec_nent(h));
		return 1;
	case NVH_REC_CHUNK: {
		/* its block is read as records: aligned like a ring */
		const struct nvh_chunk_body *cb = (const void *)p;
		if (nvh_rec_nent(h))
			return BAD("CHUNK with %" PRIu32 " entries", nvh_rec_nent(h));
		if (cb->off % NVH_REC_ALIGN || cb->size % NVH_REC_ALIGN ||
		    cb->size < NVH_REC_ALIGN)
			return BAD("CHUNK block at %" PRIu64 " of %" PRIu64 " bytes "
				   "is not %u-byte aligned", cb->off, cb->size,
				   NVH_REC_ALIGN);
		if (!b->range_ok(b->arg, cb->off, cb->size))
			return BAD("CHUNK block [%" PRIu64 ", +%" PRIu64 ") is "
				   "outside the arenas", cb->off, cb->size);
		return 1;
	}
	}
	return BAD("unknown kind %u", h->kind);
}

/* Where the contents of a record whose body is valid end; `it` has read
 * all its entries (ATOMIC, COMMIT). */
static const uint8_t *
contents_end(const struct nvh_rec_hdr *h, const struct nvh_rec_iter *it)
{
	const uint8_t *p = (const uint8_t *)h + sizeof(*h);
	switch (h->kind) {
	case NVH_REC_UNDO: {
		const struct nvh_undo_body *ub = (const void *)p;
		uint64_t inline_bytes = 0;
		for (uint32_t i = 0; i < ub->nseg; i++) {
			struct nvh_undo_seg sg = nvh_undo_seg_at(ub, i);
			if (!sg.payload)
				inline_bytes += (sg.len + 7) & ~7ull;
		}
		return (const uint8_t *)nvh_undo_data(ub) + inline_bytes;
	}
	case NVH_REC_ABORT:
		return p + sizeof(struct nvh_abort_body);
	case NVH_REC_CHUNK:
		return p + sizeof(struct nvh_chunk_body);
	default: /* ATOMIC, COMMIT: the entries come last */
		return it->p ? it->p : p;
	}
}

long
nvh_rec_check(const void *p, size_t room, const struct nvh_rec_bounds *b,
	      char *why, size_t whylen)
{
	const struct nvh_rec_hdr *h = p;
	if (room < NVH_REC_ALIGN || h->size < NVH_REC_ALIGN ||
	    h->size % NVH_REC_ALIGN || h->size > room)
		return 0;
	if (rec_checksum(p, h->size) != h->checksum)
		return 0; /* torn, never written, or not a record */
	/* Sealed: nvheap wrote exactly this.  Anything wrong now is damage. */
	if (h->seq == 0 || h->seq > NVH_SEQ_MAX) {
		bad(why, whylen, "seq %" PRIu64 " is outside 1..%" PRIu64,
		    h->seq, NVH_SEQ_MAX);
		return -NVH_ECORRUPT;
	}
	if (!body_valid(h, b, why, whylen))
		return -NVH_ECORRUPT;
	struct nvh_rec_iter it;
	struct nvh_rec_op_ent e;
	int rc;
	unsigned i = 0;
	nvh_rec_iter_init(&it, p);
	while ((rc = nvh_rec_next(&it, &e)) == 1) {
		if (!b->target_ok(b->arg, e.target)) {
			bad(why, whylen, "entry %u: target %" PRIu64 " is not an "
			    "aligned word of the root line, arena table, bitmaps "
			    "or arenas", i, e.target);
			return -NVH_ECORRUPT;
		}
		i++;
	}
	if (rc) {
		bad(why, whylen, "entry %u is malformed (op or length)", i);
		return -NVH_ECORRUPT;
	}
	/* Sealed records are exactly their contents rounded up to a line
	 * (nvh_rec_seal): a longer one, even with its checksum right, would
	 * hide the records after it from the scan of its lane. */
	size_t used = contents_end(h, &it) - (const uint8_t *)p;
	size_t want = (used + NVH_REC_ALIGN - 1) & ~(size_t)(NVH_REC_ALIGN - 1);
	if (h->size != want) {
		bad(why, whylen, "%" PRIu32 " bytes long, but its contents take "
		    "%zu (a sealed record is its contents rounded up to %u)",
		    h->size, used, NVH_REC_ALIGN);
		return -NVH_ECORRUPT;
	}
	return h->size;
}

int
nvh_rec_apply(char *base, const struct nvh_rec_op_ent *e)
{
	uint64_t *w = (uint64_t *)(base + e->target);
	uint64_t old;
	switch (e->op) {
	case NVH_OP_SET:
		old = __atomic_exchange_n(w, e->value, __ATOMIC_RELAXED);
		return old != e->value;
	case NVH_OP_OR:
		old = __atomic_fetch_or(w, e->value, __ATOMIC_RELAXED);
		return (old | e->value) != old;
	case NVH_OP_ANDNOT:
		old = __atomic_fetch_and(w, ~e->value, __ATOMIC_RELAXED);
		return (old & ~e->value) != old;
	case NVH_OP_CSET: {
		uint64_t expect = e->old;
		return __atomic_compare_exchange_n(w, &expect, e->value, 0,
						   __ATOMIC_RELAXED,
						   __ATOMIC_RELAXED) &&
		       e->old != e->value;
	}
	}
	return 0;
}
