/*
 * test_pool_log.c -- the log an open trusts: the checkpoint line, the
 * records a crashed pool's recovery reads (each validated before use),
 * repair, and the cases found by fuzz_open (tests/fuzz/).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/pool.h"
#include "heap/log/layout.h"

#include "pool_test.h"

/* ---- the log: checkpoint line, records, repair ---- */

#define POP_N 100000u
#define POP_T 4u

/* A cleanly closed pool of `n` objects linked by 4 threads. */
static const char *
populated_pool(const char *name, const char *layout, size_t n)
{
	const char *p = nvt_path(name);
	unlink(p);
	nvh_pool *pool = assert_nvh_ptr(nvh_create(p, layout, 64 * MIB, NULL));
	nvt_populate(pool, n, POP_T);
	assert_nvh_ok(nvh_close(pool));
	return p;
}

/* Opened read-only, nvh_check finds damage naming needle (and also). */
static void
ro_check_says(const char *p, const char *needle, const char *also)
{
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, NULL, &ro));
	nvt_check_says(pool, needle, also);
	assert_nvh_ok(nvh_close(pool));
}

/* A pool not closed cleanly is recovered in memory by a read-only open
 * (docs/recovery.md section 8): damage its recovery meets makes the open
 * itself fail, saying what (and so `nvheap check` exits 1 with it). */
static void
ro_open_refuses(const char *p, const char *says)
{
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	assert_nvh_null_errno(nvh_open(p, NULL, &ro), NVH_ECORRUPT);
	assert_errmsg_has("recovering in memory");
	assert_errmsg_has(says);
}

/* nvh_check finds nothing (else fail with its report). */
static void
check_clean(nvh_pool *pool)
{
	char *out = NULL;
	size_t len;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	int rc = nvh_check(pool, NULL, f);
	fclose(f);
	if (rc)
		fail_msg("nvh_check returned %d: %s", rc, out);
	free(out);
}

static void
ro_check_clean(const char *p)
{
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, NULL, &ro));
	check_clean(pool);
	assert_nvh_ok(nvh_close(pool));
}

/* nvh_repair's return code; its report in *out (caller frees). */
static int
repair(const char *p, char **out)
{
	size_t len;
	FILE *f = open_memstream(out, &len);
	assert_non_null(f);
	int rc = nvh_repair(p, NULL, f);
	fclose(f);
	return rc;
}

static void
repair_ok(const char *p, const char *needle)
{
	char *out;
	int rc = repair(p, &out);
	if (rc || !strstr(out, needle))
		fail_msg("nvh_repair returned %d (%s), expected a report naming "
			 "\"%s\": %s", rc, rc ? nvh_errormsg() : "", needle, out);
	free(out);
}

/* Read-write open; every object intact; nvh_check clean. */
static void
opens_intact(const char *p, size_t n)
{
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, NULL, NULL));
	nvt_populated_ok(pool, n, POP_T);
	check_clean(pool);
	assert_nvh_ok(nvh_close(pool));
}

static int
more_then_crash(void *arg)
{
	nvh_pool *pool = nvh_open(arg, NULL, NULL);
	if (!pool)
		return 1;
	nvt_populate_more(pool, 3000);
	_exit(0); /* no close: the next open recovers */
}

/* A lowered checkpoint on a cleanly closed pool: every read-write open
 * refuses it (the next run would reuse sequence numbers and a later
 * recovery replay stale records), and the tools used to call the pool
 * fine.  Now nvh_check finds it and nvh_repair fixes it, losing nothing,
 * with numbers high enough that a crash after the repair recovers right. */
static void
lowered_checkpoint_is_refused(void **state)
{
	(void)state;
	const char *p = populated_pool("ckpt.pool", "c", POP_N);
	uint64_t seq = nvt_ckpt_read(p, NULL);
	assert_true(seq > POP_N);
	/* both slots lowered, each valid: only the lanes betray it */
	nvt_ckpt_write(p, 0, 1);
	nvt_ckpt_write(p, 1, 1);
	assert_nvh_null_errno(nvh_open(p, "c", NULL), NVH_ECORRUPT);
	assert_errmsg_has("checkpoint line");
	assert_errmsg_has("--repair");
	ro_check_says(p, "problem: log: checkpoint line", "--repair");
	repair_ok(p, "set to seq");
	uint64_t now = nvt_ckpt_read(p, NULL);
	assert_true(now > POP_N && now <= seq);
	ro_check_clean(p);
	opens_intact(p, POP_N);
	assert_int_equal(nvt_in_child(more_then_crash, (void *)p), 0);
	opens_intact(p, POP_N);
}

/* One flipped byte in either slot is found; the open survives it when
 * the other slot still covers the records, the check reports it and the
 * repair rewrites it; both slots damaged: refused, reported, rebuilt. */
static void
damaged_checkpoint_slot(void **state)
{
	(void)state;
	const size_t n = 20000;
	const char *p = populated_pool("slot.pool", "s", n);
	int cur;
	uint64_t seq = nvt_ckpt_read(p, &cur), w[8], orig[8];
	nvt_pread(p, NVT_CKPT_OFF, orig, sizeof(orig));
	uint8_t b;

	/* the slot not in use */
	nvt_pread(p, NVT_CKPT_OFF + 16 * !cur + 3, &b, 1);
	b ^= 0x10;
	nvt_pwrite(p, NVT_CKPT_OFF + 16 * !cur + 3, &b, 1);
	ro_check_says(p, "problem: log: checkpoint line", "is damaged");
	repair_ok(p, "damaged");
	assert_int_equal(nvt_ckpt_read(p, NULL), seq);
	ro_check_clean(p);
	/* a read-write open rewrites it at once (the fuzzer found a pool
	 * whose check said one thing after the open and another after a
	 * clean close, which had rewritten the slot): the check of the
	 * open pool is clean, and so is the closed file's */
	nvt_pwrite(p, NVT_CKPT_OFF + 16 * !cur + 3, &b, 1);
	ro_check_says(p, "problem: log: checkpoint line", "is damaged");
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, NULL, NULL));
	struct nvh_check_report r;
	assert_nvh_ok(nvh_check(pool, &r, NULL));
	assert_int_equal(r.problems, 0);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_ckpt_read(p, NULL), seq);
	ro_check_clean(p);

	/* the slot in use: the older one is below the last records */
	nvt_pwrite(p, NVT_CKPT_OFF, orig, sizeof(orig));
	nvt_pread(p, NVT_CKPT_OFF + 16 * cur + 8, &b, 1);
	b ^= 0x01;
	nvt_pwrite(p, NVT_CKPT_OFF + 16 * cur + 8, &b, 1);
	assert_true(nvt_ckpt_read(p, NULL) < seq);
	assert_nvh_null_errno(nvh_open(p, NULL, NULL), NVH_ECORRUPT);
	assert_errmsg_has("checkpoint line");
	ro_check_says(p, "is damaged", "holds record");
	repair_ok(p, "set to seq");
	ro_check_clean(p);
	opens_intact(p, n);

	/* both: no valid slot */
	nvt_pread(p, NVT_CKPT_OFF, w, sizeof(w));
	w[0] ^= 1ull << 40;
	w[3] ^= 1;
	nvt_pwrite(p, NVT_CKPT_OFF, w, sizeof(w));
	assert_nvh_null_errno(nvh_open(p, NULL, NULL), NVH_ECORRUPT);
	assert_errmsg_has("no valid slot");
	assert_errmsg_has("--repair");
	ro_check_says(p, "no valid slot", "--repair");
	repair_ok(p, "slot B set to seq");
	ro_check_clean(p);
	opens_intact(p, n);
}

/* ---- crashed pools: what recovery reads is validated ---- */

struct crash_arg {
	const char *path;
	size_t n;
	int in_ring;    /* 1: the snapshots stay in the ring, else chunks */
};

/* A transaction over n objects' values whose UNDO records spill into
 * chunks (ring limit 256 bytes), left open by a crash. */
static int
tx_then_crash(void *arg)
{
	struct crash_arg *c = arg;
	if (!c->in_ring)
		setenv("NVHEAP_TEST_TX_RING", "256", 1);
	nvh_pool *pool = nvh_open(c->path, NULL, NULL);
	if (!pool)
		return 1;
	nvt_populated_ok(pool, c->n, POP_T); /* registers the types */
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx)
		return 2;
	/* the first word of 64 of the populated objects: the root's first
	 * bag holds their oids (nvh_test.c); snapshots go to chunks when
	 * the ring is limited to 256 bytes */
	const uint64_t *top = nvh_direct(pool, *nvh_root_slot(pool));
	const uint64_t *bag = top ? nvh_direct(pool, (nvh_oid){top[0]}) : NULL;
	for (unsigned j = 0; bag && j < 64; j++) {
		uint64_t *v = nvh_direct(pool, (nvh_oid){bag[j]});
		if (!v || nvh_tx_add(tx, v, 8))
			return 3;
		*v = ~*v;
	}
	if (!bag)
		return 4;
	nvh_persist(pool, pool->base, pool->size);
	_exit(0);
}

/* Pool offset of the first 64-byte record of `kind` in a lane's current
 * pass (records from offset 0 while sealed and their seq grows), and the
 * record. */
static uint64_t
find_record(const char *p, unsigned kind, uint8_t rec[64])
{
	struct nvh_heap_hdr hh;
	nvt_pread(p, NVH_HEAP_OFFSET, &hh, sizeof(hh));
	for (unsigned lane = 0; lane < hh.nlanes; lane++) {
		uint64_t base = hh.lanes_off + (uint64_t)lane * (64u << 10);
		uint64_t prev = 0;
		for (uint32_t at = 0, size; at < (64u << 10); at += size) {
			uint8_t r[64], c[64];
			nvt_pread(p, base + at, r, 64);
			uint64_t seq;
			memcpy(&seq, r, 8);
			memcpy(&size, r + 12, 4);
			if (size < 64 || size % 64 || at + size > (64u << 10) ||
			    seq <= prev)
				break;
			uint8_t *full = malloc(size);
			assert_non_null(full);
			nvt_pread(p, base + at, full, size);
			memcpy(c, full, 64);
			nvt_rec_reseal(full);
			int sealed = memcmp(c, full, 64) == 0;
			free(full);
			if (!sealed)
				break;
			if (r[10] == kind && size == 64) {
				memcpy(rec, r, 64);
				return base + at;
			}
			prev = seq;
		}
	}
	fail_msg("%s: no record of kind %u in a current pass", p, kind);
	return 0;
}

/* The file's log (checkpoint line and lanes), to show nothing changed. */
static void *
log_bytes(const char *p, size_t *len)
{
	struct nvh_heap_hdr hh;
	nvt_pread(p, NVH_HEAP_OFFSET, &hh, sizeof(hh));
	*len = hh.table_off - NVH_HEAP_OFFSET;
	void *b = malloc(*len);
	assert_non_null(b);
	nvt_pread(p, NVH_HEAP_OFFSET, b, *len);
	return b;
}

static void
repair_refuses(const char *p, const char *needle)
{
	size_t len, len2;
	void *before = log_bytes(p, &len);
	char *out;
	int rc = repair(p, &out);
	free(out);
	if (rc != -NVH_ECORRUPT)
		fail_msg("nvh_repair returned %d, expected a refusal", rc);
	assert_errmsg_has(needle);
	void *after = log_bytes(p, &len2);
	assert_memory_equal(before, after, len);
	free(before);
	free(after);
}

/* A live CHUNK record whose block offset or size is misaligned or out of
 * bounds, checksum resealed: recovery read a misaligned record (UBSan
 * abort) or skipped the chunk and reported the pool recovered with the
 * transaction half undone.  Now: NVH_ECORRUPT naming the record, found by
 * nvh_check too, refused by the repair (the pool crashed: it may be
 * live), and with the record restored the pool recovers intact. */
static void
bad_chunk_record_is_refused(void **state)
{
	(void)state;
	const size_t n = 5000;
	const char *p = populated_pool("chunk.pool", "k", n);
	struct crash_arg c = {p, n, 0};
	assert_int_equal(nvt_in_child(tx_then_crash, &c), 0);
	uint8_t orig[64], r[64];
	uint64_t at = find_record(p, 5 /* CHUNK */, orig);
	struct nvh_heap_hdr hh;
	nvt_pread(p, NVH_HEAP_OFFSET, &hh, sizeof(hh));
	const struct {
		size_t field;
		uint64_t delta, set;
		const char *says;
	} cases[] = {
		{32, 1, 0, "not 64-byte aligned"},   /* off + 1 */
		{32, 8, 0, "not 64-byte aligned"},   /* off + 8 */
		{40, 8, 0, "not 64-byte aligned"},   /* size + 8 */
		{32, 0, hh.lanes_off, "outside the arenas"},
		{32, 0, 1ull << 63, "outside the arenas"},
		{40, 0, 1ull << 63, "outside the arenas"},
		{24, 0, ~0ull, "transaction id"},    /* tx id above its seq */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(r, orig, 64);
		uint64_t v;
		memcpy(&v, r + cases[i].field, 8);
		v = cases[i].delta ? v + cases[i].delta : cases[i].set;
		memcpy(r + cases[i].field, &v, 8);
		nvt_rec_reseal(r);
		nvt_pwrite(p, at, r, 64);
		errno = 0;
		nvh_pool *pool = nvh_open(p, NULL, NULL);
		if (pool || errno != NVH_ECORRUPT)
			fail_msg("case %zu: %s (errno %d): %s", i,
				 pool ? "opened" : "refused", errno,
				 nvh_errormsg());
		assert_errmsg_has(cases[i].says);
		assert_errmsg_has("damaged");
		ro_open_refuses(p, cases[i].says);
		repair_refuses(p, "not closed cleanly");
	}
	nvt_pwrite(p, at, orig, 64);
	opens_intact(p, n);
}

/* Sequence numbers near 2^64 used to be taken as they were: a checkpoint
 * there made the next numbers wrap to 0 (invalid records: committed work
 * lost at the next recovery), a record there made recovery's markers
 * wrap.  Above NVH_SEQ_MAX (2^62) they are damage. */
static void
seq_out_of_range_is_refused(void **state)
{
	(void)state;
	const size_t n = 2000;
	const uint64_t huge = ~0ull - 4;
	const char *p = populated_pool("seqmax.pool", "q", n);
	uint64_t orig[8];
	nvt_pread(p, NVT_CKPT_OFF, orig, sizeof(orig));

	/* a checkpoint slot, check value right */
	nvt_ckpt_write(p, 0, huge);
	assert_nvh_null_errno(nvh_open(p, NULL, NULL), NVH_ECORRUPT);
	assert_errmsg_has("above the maximum");
	ro_check_says(p, "checkpoint line", "above the maximum");
	repair_ok(p, "slot A set to seq");
	opens_intact(p, n);

	/* the legacy form: one word, no check value */
	uint64_t legacy[8] = {huge};
	nvt_pwrite(p, NVT_CKPT_OFF, legacy, sizeof(legacy));
	assert_nvh_null_errno(nvh_open(p, NULL, NULL), NVH_ECORRUPT);
	assert_errmsg_has("legacy");
	nvt_pwrite(p, NVT_CKPT_OFF, orig, sizeof(orig));

	/* a live record of a crashed pool */
	struct crash_arg c = {p, n, 1};
	assert_int_equal(nvt_in_child(tx_then_crash, &c), 0);
	uint8_t rec[64], r[64];
	uint64_t at = find_record(p, 2 /* UNDO */, rec);
	memcpy(r, rec, 64);
	memcpy(r, &huge, 8);
	nvt_rec_reseal(r);
	nvt_pwrite(p, at, r, 64);
	assert_nvh_null_errno(nvh_open(p, NULL, NULL), NVH_ECORRUPT);
	assert_errmsg_has("seq 18446744073709551611 is outside");
	ro_open_refuses(p, "is outside");
	repair_refuses(p, "may be live");
	nvt_pwrite(p, at, rec, 64);
	opens_intact(p, n);
}

/* Pools written before the checkpoint had slots (seq alone at +0) still
 * open; the first read-write open upgrades the line. */
static void
legacy_checkpoint_line_opens(void **state)
{
	(void)state;
	const size_t n = 3000;
	const char *p = populated_pool("legacy.pool", "l", n);
	uint64_t seq = nvt_ckpt_read(p, NULL), legacy[8] = {seq};
	nvt_pwrite(p, NVT_CKPT_OFF, legacy, sizeof(legacy));
	ro_check_clean(p);
	opens_intact(p, n);
	uint64_t w[8];
	nvt_pread(p, NVT_CKPT_OFF, w, sizeof(w));
	assert_int_not_equal(w[1], 0); /* slot A has its check value */
	assert_true(nvt_ckpt_read(p, NULL) >= seq);
}

/* ---- found by fuzz_open (tests/fuzz/) ---- */

/* 60 one-word transactions: 120 records of 64 bytes in lane 0, then a
 * crash. */
static int
records_then_die(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "f", NULL);
	if (!pool)
		_exit(1);
	uint64_t *w = nvt_scratch(pool, 4096);
	for (int i = 0; i < 60; i++) {
		nvh_tx *tx = nvh_tx_begin(pool);
		if (!tx || nvh_tx_add(tx, w, 8) != 0)
			_exit(1);
		(*w)++;
		if (nvh_tx_commit(tx) != 0)
			_exit(1);
	}
	_exit(0); /* no close: the records stay live */
}

/* The pool records_then_die left opens with its 60 transactions. */
static void
opens_with_60(const char *p)
{
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "f", NULL));
	const uint64_t *w = nvh_direct(pool, *nvh_root_slot(pool));
	assert_non_null(w);
	assert_int_equal(*w, 60);
	check_clean(pool);
	assert_nvh_ok(nvh_close(pool));
}

/* Pool offset of record n (0-based) of lane 0's current pass. */
static uint64_t
lane0_record(const char *p, unsigned n)
{
	struct nvh_heap_hdr hh;
	nvt_pread(p, NVH_HEAP_OFFSET, &hh, sizeof(hh));
	uint64_t off = hh.lanes_off;
	for (unsigned i = 0; i < n; i++) {
		struct nvh_rec_hdr rh;
		nvt_pread(p, off, &rh, sizeof(rh));
		assert_true(rh.seq != 0 && rh.size >= 64 && rh.size % 64 == 0);
		off += rh.size;
	}
	return off;
}

/*
 * One damaged record in the middle of a lane ended that lane's pass at
 * open, and the committed records after it were dropped: not replayed,
 * not counted when the open picked the next sequence numbers.  They
 * stayed in the ring with higher numbers than the new records, and a new
 * record larger than the stale ones it overwrote let a stale one continue
 * the new pass: a later clean close left a pool no open accepted, a later
 * crash rolled a committed transaction back (found by fuzz_open: a crash
 * image with one record's checksum changed).  Past the end of a pass lie
 * only records a checkpoint covered (C3), so a newer one there is damage
 * that cut the pass short: every open refuses the pool, saying so, and
 * writes nothing; --repair cannot decide (the records may be live).
 */
static void
bad_record_mid_lane_is_refused(void **state)
{
	(void)state;
	const char *p = fresh_pool("midlane.pool", "f");
	assert_int_equal(nvt_in_child(records_then_die, (void *)p), 0);
	uint64_t at = lane0_record(p, 10) + offsetof(struct nvh_rec_hdr, checksum);
	uint8_t orig, b;
	nvt_pread(p, at, &orig, 1);
	b = orig ^ 0x40;
	nvt_pwrite(p, at, &b, 1);
	uint64_t size = nvt_file_size(p);
	char *before = malloc(size), *after = malloc(size);
	assert_non_null(before);
	assert_non_null(after);
	nvt_pread(p, 0, before, size);
	assert_nvh_null_errno(nvh_open(p, "f", NULL), NVH_ECORRUPT);
	assert_errmsg_has("cut the pass short");
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	assert_nvh_null_errno(nvh_open(p, "f", &ro), NVH_ECORRUPT);
	assert_errmsg_has("cut the pass short");
	repair_refuses(p, "cut the pass short");
	nvt_pread(p, 0, after, size);
	if (memcmp(before, after, size) != 0)
		fail_msg("a refused open or repair wrote to the pool");
	free(before);
	free(after);
	/* undamaged again: all 60 transactions are there */
	nvt_pwrite(p, at, &orig, 1);
	opens_with_60(p);
}

/*
 * A record longer than its contents, its checksum right (as nvheap never
 * seals one), swallowed the records after it in its lane: the open of a
 * crashed pool replayed the lane only up to it and took the rest for
 * stale bytes; the next runs' records then met one of them (newer than
 * any) in a later pass, and a clean close left a pool no open accepted
 * (found by fuzz_open: a resealed edit of a record's size).  Now the
 * record is damage: refused, naming it, nothing written.
 */
static void
overlong_record_is_refused(void **state)
{
	(void)state;
	const char *p = fresh_pool("overlong.pool", "f");
	assert_int_equal(nvt_in_child(records_then_die, (void *)p), 0);
	uint64_t at = lane0_record(p, 10);
	struct nvh_rec_hdr rh;
	nvt_pread(p, at, &rh, sizeof(rh));
	uint32_t was = rh.size;
	size_t n = 20 * 64;
	char *rec = malloc(n), *orig = malloc(n);
	assert_non_null(rec);
	assert_non_null(orig);
	nvt_pread(p, at, orig, n);
	memcpy(rec, orig, n);
	((struct nvh_rec_hdr *)rec)->size = (uint32_t)n; /* 19 records more */
	nvt_rec_reseal(rec);
	nvt_pwrite(p, at, rec, n);
	assert_nvh_null_errno(nvh_open(p, "f", NULL), NVH_ECORRUPT);
	assert_errmsg_has("contents take");
	char where[64];
	snprintf(where, sizeof(where), "pool offset %" PRIu64, at);
	assert_errmsg_has(where);
	repair_refuses(p, "contents take");
	/* as written: all 60 transactions are there */
	nvt_pwrite(p, at, orig, n);
	nvt_pread(p, at, &rh, sizeof(rh));
	assert_int_equal(rh.size, was);
	opens_with_60(p);
	free(rec);
	free(orig);
}

/*
 * A transaction whose records spill from its lane into a chunk keeps its
 * COMMIT record in the chunk.  After a clean close nothing keeps that
 * block reserved, so a later run allocates it and overwrites the record;
 * the lane's ring still holds the transaction's UNDO records and CHUNK
 * record (retired by the checkpoint), and if no later operation used that
 * lane they are still its current pass.  The next recovery after a crash
 * reads that pass, finds no COMMIT, takes the transaction for one in
 * progress and "rolls back" its long committed changes, over whatever
 * the program stored there since.  Found by fuzz_open on an unedited
 * seed (a pool filled after a run with a chunked transaction), comparing
 * a clean close with a crash at the same point.
 *
 * Now every read-write open ends the pass of each lane that holds records
 * with a marker record, as recovery did already (tx/recovery.c,
 * end_passes).
 */
#define NWORDS 1200

struct big_tx {
	nvh_pool *pool;
	uint64_t *w;
	int rc;
};

/* 1,200 separate one-word snapshots: the undo records fill the lane and
 * continue in a chunk, where the commit record goes too. */
static void *
big_tx_thread(void *arg)
{
	struct big_tx *b = arg;
	nvh_tx *tx = nvh_tx_begin(b->pool);
	b->rc = -1;
	if (!tx)
		return NULL;
	for (int i = 0; i < NWORDS; i++) {
		if (nvh_tx_add(tx, &b->w[2 * i], 8) != 0)
			return NULL;
		b->w[2 * i] = 1000 + (uint64_t)i;
	}
	b->rc = nvh_tx_commit(tx);
	return NULL;
}

static int
fill_ctor(nvh_pool *pool, void *obj, void *arg)
{
	(void)pool;
	memset(obj, 0xee, *(size_t *)arg);
	return 0;
}

/* Reopen, fill the pool with large objects (one of them takes the chunk's
 * block), crash. */
static int
fill_then_die(void *arg)
{
	nvh_pool *pool = nvh_open(arg, "k", NULL);
	if (!pool)
		_exit(1);
	uint64_t *w = nvh_direct(pool, *nvh_root_slot(pool));
	size_t size = 200000;
	for (int i = 2 * NWORDS + 1; i < 2 * NWORDS + 64; i++)
		if (nvh_alloc(pool, (nvh_oid *)&w[i], size, 3, fill_ctor,
			      &size) != 0)
			break;
	_exit(0);
}

static void
stale_chunk_after_clean_close(void **state)
{
	(void)state;
	const char *p = fresh_pool("chunk.pool", "k");
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "k", NULL));
	struct big_tx b = {pool, nvt_scratch(pool, 2 * NWORDS * 8 + 64 * 8), 0};
	memset(b.w, 0, 2 * NWORDS * 8 + 64 * 8);
	assert_nvh_ok(nvh_persist(pool, b.w, 2 * NWORDS * 8 + 64 * 8));
	pthread_t t; /* its own lane, which nothing uses afterwards */
	assert_int_equal(pthread_create(&t, NULL, big_tx_thread, &b), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_nvh_ok(b.rc);
	assert_nvh_ok(nvh_close(pool));
	assert_int_equal(nvt_in_child(fill_then_die, (void *)p), 0);
	pool = assert_nvh_ptr(nvh_open(p, "k", NULL));
	uint64_t *w = nvh_direct(pool, *nvh_root_slot(pool));
	for (int i = 0; i < NWORDS; i++)
		if (w[2 * i] != 1000 + (uint64_t)i)
			fail_msg("word %d of the committed transaction is %" PRIu64
				 " after recovery", i, w[2 * i]);
	struct nvh_check_report rep;
	assert_nvh_ok(nvh_check(pool, &rep, stderr));
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lowered_checkpoint_is_refused),
		cmocka_unit_test(damaged_checkpoint_slot),
		cmocka_unit_test(bad_chunk_record_is_refused),
		cmocka_unit_test(seq_out_of_range_is_refused),
		cmocka_unit_test(legacy_checkpoint_line_opens),
		cmocka_unit_test(bad_record_mid_lane_is_refused),
		cmocka_unit_test(stale_chunk_after_clean_close),
		cmocka_unit_test(overlong_record_is_refused),
	};
	return cmocka_run_group_tests_name("pool_log", tests, NULL, NULL);
}
