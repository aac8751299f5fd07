/*
 * known.c -- the preconditions of known library bugs, read from a pool
 * file, so fuzz_open can tell a known finding from a new one.
 *
 * Each detector reads the file as recovery would (tx/log_layout.h: a
 * lane's current pass is its records from offset 0 while each is valid,
 * by the library's own nvh_rec_valid, and its seq larger than the one
 * before) and says whether the bug's precondition holds; it does not
 * decide that the bug fired.  When the
 * bug is fixed, its detector and its KNOWN_BUG_ switch in fuzz_open.c go.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap/layout.h"
#include "tx/log_layout.h"
#include "tx/redo.h"

#include "known.h"

/* The heap header the bounds below use (the file opened, so it is
 * valid). */
static struct nvh_heap_hdr hh;

static int
in(uint64_t off, uint64_t len, uint64_t lo, uint64_t n)
{
	return off >= lo && off <= lo + n && len <= lo + n - off;
}

/* What recovery lets records point at (heap.c nvh_heap_target_ok,
 * alloc.c nvh_heap_data_ok, recovery.c range_ok). */
static int
target_ok(void *arg, uint64_t off)
{
	(void)arg;
	return off % 8 == 0 &&
	       (in(off, 8, hh.root_off, 24) ||
		in(off, 8, hh.table_off, hh.narenas * sizeof(struct nvh_arena_ent)) ||
		in(off, 8, hh.bitmaps_off, hh.narenas * NVH_BITMAP_SLOT) ||
		in(off, 8, hh.arenas_off, hh.narenas * NVH_ARENA_SIZE));
}

static int
range_ok(void *arg, uint64_t off, uint64_t len)
{
	(void)arg;
	uint64_t types = hh.root_off + (NVH_HEAP_TYPES_REL - NVH_HEAP_ROOT_REL);
	return ((off == types || off == hh.root_off) && len <= 8) ||
	       in(off, len, hh.arenas_off, hh.narenas * NVH_ARENA_SIZE);
}

/* Is the record at off valid as recovery judges it (the library's own
 * nvh_rec_valid)? */
static int
valid_at(const uint8_t *img, uint64_t size, uint64_t off, uint64_t room,
	 struct nvh_rec_hdr *h)
{
	static const struct nvh_rec_bounds b = {target_ok, range_ok, NULL};
	if (room < NVH_REC_ALIGN || off > size || room > size - off)
		return 0;
	memcpy(h, img + off, sizeof(*h));
	return nvh_rec_valid(img + off, (size_t)room, &b) != 0;
}

/* Transaction ids of a pass: those with UNDO records, those ended. */
struct txs {
	uint64_t undo[512], ended[512];
	unsigned nundo, nended;
};

static void
note(struct txs *t, const uint8_t *img, uint64_t off, const struct nvh_rec_hdr *h)
{
	uint64_t tx;
	if (h->size < sizeof(*h) + 8)
		return;
	memcpy(&tx, img + off + sizeof(*h), 8);
	if (h->kind == NVH_REC_UNDO && t->nundo < 512)
		t->undo[t->nundo++] = tx;
	else if ((h->kind == NVH_REC_COMMIT || h->kind == NVH_REC_ABORT) &&
		 t->nended < 512)
		t->ended[t->nended++] = tx;
}

/* The records of a chunk, as recovery reads them (same transaction,
 * increasing seq). */
static void
chunk_records(struct txs *t, const uint8_t *img, uint64_t size,
	      const struct nvh_chunk_body *cb, uint64_t seq)
{
	uint64_t q = 0, prev = seq;
	struct nvh_rec_hdr h;
	while (q + NVH_REC_ALIGN <= cb->size &&
	       valid_at(img, size, cb->off + q, cb->size - q, &h) &&
	       h.seq > prev) {
		note(t, img, cb->off + q, &h);
		prev = h.seq;
		q += h.size;
	}
}

/* Is there a lane whose pass has UNDO records of a transaction that
 * neither commits nor aborts in it? */
static int
stale_undo(const uint8_t *img, uint64_t size)
{
	if (size < NVH_HEAP_OFFSET + NVH_HEAP_FIXED)
		return 0;
	memcpy(&hh, img + NVH_HEAP_OFFSET, sizeof(hh));
	for (uint32_t l = 0; l < hh.nlanes && l < NVH_MAX_LANES; l++) {
		uint64_t base = hh.lanes_off + (uint64_t)l * NVH_LANE_SIZE;
		uint64_t p = 0, prev = 0;
		struct nvh_rec_hdr h;
		static struct txs t;
		t.nundo = t.nended = 0;
		while (valid_at(img, size, base + p, NVH_LANE_SIZE - p, &h) &&
		       h.seq > prev) {
			note(&t, img, base + p, &h);
			struct nvh_chunk_body cb;
			if (h.kind == NVH_REC_CHUNK && h.size >= sizeof(h) + sizeof(cb)) {
				memcpy(&cb, img + base + p + sizeof(h), sizeof(cb));
				chunk_records(&t, img, size, &cb, h.seq);
			}
			prev = h.seq;
			p += h.size;
		}
		for (unsigned i = 0; i < t.nundo; i++) {
			unsigned k = 0;
			while (k < t.nended && t.ended[k] != t.undo[i])
				k++;
			if (k == t.nended)
				return 1;
		}
	}
	return 0;
}

int
nvf_stale_undo_pass(const char *path)
{
	int fd = open(path, O_RDONLY);
	off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
	if (size <= 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	const uint8_t *img = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (img == MAP_FAILED)
		return 0;
	int r = stale_undo(img, (uint64_t)size);
	munmap((void *)img, (size_t)size);
	return r;
}
