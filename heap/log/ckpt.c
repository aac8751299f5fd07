/*
 * ckpt.c -- the checkpoint line: reading and validating its two slots, and
 * the crash-atomic store that advances it.
 *
 * The checkpoint is the one store that retires records: once it says S,
 * lanes reuse the ring space of records <= S (heap/log/lane.c, C3).  So it has to
 * survive a torn write and betray a damaged byte.  The line holds two slots
 * {seq, check} (heap/layout.h); a store writes the slot NOT in use and
 * persists it (one cache line, one barrier), then that slot is current.
 *
 * Why a torn store is harmless.  Under 8-byte write atomicity a crash during
 * the store leaves the slot being written as it was (an older valid
 * checkpoint), or holding one new word and one old word (its check no
 * longer matches: invalid), or complete.  The other slot is untouched, so
 * at least one slot is valid and the higher valid one is either the new
 * checkpoint or the previous one, P.  Falling back to P is safe: the DRAM
 * copy that lanes consult before reusing ring space (ckpt_published) is
 * advanced only after the store's fence returned, so no ring space was
 * reused on the strength of a checkpoint whose write never completed;
 * every record > P is still intact and recovery replays it (replaying
 * records whose effects are already durable is harmless, docs/recovery.md).
 *
 * What is damage.  A slot whose check does not match cannot be told from a
 * torn one, so reading falls back to the other slot either way; the tools
 * (heap/log/verify.c) report such a slot on a pool closed cleanly, where no store
 * was in flight.  A slot whose check matches but whose seq exceeds
 * NVH_SEQ_MAX was never written by nvheap, and neither was a line with no
 * valid slot: both are NVH_ECORRUPT.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "heap/error.h"
#include "heap/persist.h"
#include "heap/log/lane.h"

uint64_t
nvh_ckpt_check(uint64_t seq, int slot)
{
	return (uint64_t)XXH3_64bits_withSeed(&seq, sizeof(seq),
					      NVH_CKPT_SEED + (uint64_t)slot) |
	       1;
}

int
nvh_ckpt_read(const struct nvh_ckpt *line, struct nvh_ckpt_view *v)
{
	struct nvh_ckpt c;
	memcpy(&c, line, sizeof(c)); /* read each word once */
	memset(v, 0, sizeof(*v));
	for (unsigned i = 0; i < sizeof(c.reserved) / 8; i++)
		v->reserved_dirty |= c.reserved[i] != 0;
	for (int i = 0; i < 2; i++) {
		const struct nvh_ckpt_slot *s = &c.slot[i];
		if (!s->seq && !s->check) {
			v->state[i] = NVH_CKPT_EMPTY;
		} else if (s->check == nvh_ckpt_check(s->seq, i)) {
			if (s->seq > NVH_SEQ_MAX)
				return nvh_err(NVH_ECORRUPT, "checkpoint line: "
					       "slot %c: seq %" PRIu64 " is above "
					       "the maximum %" PRIu64 " (damaged)",
					       'A' + i, s->seq, NVH_SEQ_MAX);
			v->state[i] = NVH_CKPT_VALID;
		} else {
			v->state[i] = NVH_CKPT_BAD;
			snprintf(v->why[i], sizeof(v->why[i]), "check value 0x%"
				 PRIx64 " does not match seq %" PRIu64,
				 s->check, s->seq);
		}
	}
	if (c.slot[0].check == 0 && v->state[1] == NVH_CKPT_EMPTY) {
		/* the legacy form: one seq word, everything else zero */
		if (c.slot[0].seq > NVH_SEQ_MAX)
			return nvh_err(NVH_ECORRUPT, "checkpoint line (legacy "
				       "form): seq %" PRIu64 " is above the "
				       "maximum %" PRIu64 " (damaged)",
				       c.slot[0].seq, NVH_SEQ_MAX);
		v->legacy = 1;
		v->state[0] = NVH_CKPT_VALID;
		v->why[0][0] = 0;
		v->seq = c.slot[0].seq;
		v->cur = 0;
		return 0;
	}
	int a = v->state[0] == NVH_CKPT_VALID, b = v->state[1] == NVH_CKPT_VALID;
	if (!a && !b)
		return nvh_err(NVH_ECORRUPT, "checkpoint line: no valid slot "
			       "(slot A: %s; slot B: %s)",
			       v->state[0] == NVH_CKPT_EMPTY ? "empty" : v->why[0],
			       v->state[1] == NVH_CKPT_EMPTY ? "empty" : v->why[1]);
	v->cur = a && (!b || c.slot[0].seq >= c.slot[1].seq) ? 0 : 1;
	v->seq = c.slot[v->cur].seq;
	return 0;
}

int
nvh_ckpt_write_slot(struct nvh_persist *p, struct nvh_ckpt *line, int slot,
		    uint64_t seq)
{
	struct nvh_ckpt_slot *s = &line->slot[slot];
	s->seq = seq;
	s->check = nvh_ckpt_check(seq, slot);
	/* The slot (16 bytes, one line) is durable before the caller lets
	 * anything depend on it; torn, it fails its check (see above). */
	return nvh_persist_range(p, s, sizeof(*s));
}

int
nvh_ckpt_store(struct nvh_persist *p, struct nvh_ckpt *line, int *cur,
	       uint64_t seq)
{
	int next = !*cur;
	int rc = nvh_ckpt_write_slot(p, line, next, seq);
	if (!rc)
		*cur = next;
	return rc;
}

int
nvh_ckpt_upgrade(struct nvh_persist *p, struct nvh_ckpt *line,
		 const struct nvh_ckpt_view *v)
{
	if (!v->legacy)
		return 0;
	line->slot[0].check = nvh_ckpt_check(line->slot[0].seq, 0);
	/* One 8-byte store: the line is in the legacy form or, complete, in
	 * the new one (slot A valid, slot B empty), both meaning the same. */
	return nvh_persist_range(p, &line->slot[0].check, 8);
}
