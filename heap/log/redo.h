/*
 * redo.h -- building, validating and replaying redo records
 * (heap/log/layout.h).
 */
#ifndef NVH_TX_REDO_H
#define NVH_TX_REDO_H

#include <stddef.h>
#include <stdint.h>

#include "heap/log/layout.h"

struct nvh_pool;

/* A record being built in DRAM. */
struct nvh_rec {
	uint8_t *buf;    /* header + entries */
	size_t len;      /* bytes used */
	size_t cap;
	unsigned nent;
	uint8_t small[256] __attribute__((aligned(64))); /* the common case */
};

void nvh_rec_init(struct nvh_rec *r, uint16_t kind);
void nvh_rec_fini(struct nvh_rec *r);
/* Room for `more` bytes more, so that many puts allocate once. */
int nvh_rec_reserve(struct nvh_rec *r, size_t more);
/* The next `len` bytes (a multiple of 8) of the body, after a reserve
 * that made room for them: the caller fills them. */
static inline void *
nvh_rec_claim(struct nvh_rec *r, size_t len)
{
	void *p = r->buf + r->len;
	r->len += len;
	return p;
}
/* Append raw body bytes (padded with zeros to 8); returns -ENOMEM. */
int nvh_rec_put(struct nvh_rec *r, const void *p, size_t len);
/* The body just after the header, for filling in fields late. */
static inline void *
nvh_rec_body(struct nvh_rec *r)
{
	return r->buf + sizeof(struct nvh_rec_hdr);
}
/* Append an entry; returns -ENOMEM if it cannot grow. */
int nvh_rec_add(struct nvh_rec *r, enum nvh_rec_op op, uint64_t target,
		uint64_t value);
int nvh_rec_add_cset(struct nvh_rec *r, uint64_t target, uint64_t newv,
		     uint64_t oldv);
/* Pad to 64 bytes, set seq, size and checksum.  Returns the size. */
size_t nvh_rec_seal(struct nvh_rec *r, uint64_t seq);

/* Walk the entries of a record (validated or being built). */
struct nvh_rec_iter {
	const uint8_t *p, *end;
	unsigned left;
};
struct nvh_rec_op_ent {
	enum nvh_rec_op op;
	uint64_t target, value, old;
};
void nvh_rec_iter_init(struct nvh_rec_iter *it, const void *rec);
/* 1 and *e filled, 0 at the end, -1 if malformed. */
int nvh_rec_next(struct nvh_rec_iter *it, struct nvh_rec_op_ent *e);

/* What a record may point at (recovery validates every offset). */
struct nvh_rec_bounds {
	int (*target_ok)(void *arg, uint64_t off);           /* entry targets */
	int (*range_ok)(void *arg, uint64_t off, uint64_t len); /* data */
	void *arg;
};

/*
 * Is there a record at `p` (with `room` bytes left in its ring or chunk)?
 * Returns its size when it is sealed (size fits, checksum right) and valid
 * for its kind: seq in 1..NVH_SEQ_MAX, transaction id below the seq, every
 * count inside the record, every offset in bounds, a CHUNK's block 64-byte
 * aligned inside the arenas.  Returns 0 when no record is there (torn,
 * never written, or other bytes: the end of a pass), and -NVH_ECORRUPT
 * when it is sealed but not valid -- nvheap never writes such a record, so
 * it is damage -- with what is wrong in `why`.  Nothing is read before it
 * is known to lie inside [p, p + room).
 */
long nvh_rec_check(const void *p, size_t room, const struct nvh_rec_bounds *b,
		   char *why, size_t whylen);

/* The transaction id of an UNDO, COMMIT, ABORT or CHUNK record (every
 * such body starts with it). */
static inline uint64_t
nvh_rec_tx(const struct nvh_rec_hdr *h)
{
	return *(const uint64_t *)(h + 1);
}

/* Apply one entry to the pool mapping (atomically where words are shared).
 * Returns 1 if it changed memory. */
int nvh_rec_apply(char *base, const struct nvh_rec_op_ent *e);

#endif
