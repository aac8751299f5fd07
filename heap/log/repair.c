/*
 * repair.c -- the log's part of nvh_repair (objects/open.c): making a
 * pool whose log an open refuses open again, without losing anything
 * (docs/recovery.md, "Repair").
 *
 * The pool is mapped read-write under the exclusive lock, its headers are
 * validated as an open does, but it is not opened for use: no recovery
 * (which refuses exactly what is to be repaired), no header update.  The
 * log is read through the open's own code (ckpt.c, logscan.c) and
 * what can be decided without losing data is written through the
 * persistence seam:
 *
 *   Closed cleanly: the close ended with a checkpoint covering every
 *   record, so every record is dead and only sequence numbers matter.
 *   The checkpoint becomes the largest seq found in the lanes and their
 *   chunks (kept if already larger) -- the largest ever used, since the
 *   newest record is always in its lane's current pass, and every
 *   transaction id and birth serial on the medium is below some record's
 *   seq.  Damaged records end their lane's pass (their seq word is
 *   cleared, after the checkpoint covers everything behind them).
 *
 *   Not closed cleanly: records above the checkpoint are live.  Only a
 *   damaged slot beside an intact one is rewritten (with the intact
 *   one's seq, which is what an open uses anyway); no valid slot, or a
 *   damaged record, cannot be decided and is refused, changing nothing.
 *
 * Crash safety: the line is written one slot at a time, the slot not in
 * use first, each persisted before the next (ckpt.c), so at every
 * instant a valid slot holds the old checkpoint or the new one; passes
 * are cut only once the new checkpoint is durable.  A repair cut short is
 * repeated by running it again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/pool.h"
#include "heap/log/lane.h"

struct cut {
	unsigned lane;
	uint64_t ring_off, off, seq;
};

struct rstate {
	struct cut *c;
	size_t n, cap;
	int nomem;
	char first_why[192];
};

static void
on_damage(void *arg, const struct nvh_log_damage *d)
{
	struct rstate *r = arg;
	if (!r->n)
		snprintf(r->first_why, sizeof(r->first_why), "%s", d->why);
	for (size_t i = 0; i < r->n; i++)
		if (r->c[i].ring_off == d->ring_off)
			return; /* one cut serves a whole chunk */
	if (r->n == r->cap) {
		size_t c = r->cap ? 2 * r->cap : 16;
		struct cut *n = realloc(r->c, c * sizeof(*n));
		if (!n) {
			r->nomem = 1;
			return;
		}
		r->c = n;
		r->cap = c;
	}
	r->c[r->n++] = (struct cut){d->lane, d->ring_off, d->off, d->seq};
}

static void
say(FILE *out, const char *fmt, ...) NVH_PRINTF(2, 3);

static void
say(FILE *out, const char *fmt, ...)
{
	if (!out)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(out, "repair: ");
	vfprintf(out, fmt, ap);
	fprintf(out, "\n");
	va_end(ap);
}

/* Both slots := seq, the one not in use first. */
static int
rewrite_line(struct nvh_pool *pool, struct nvh_ckpt *line,
	     const struct nvh_ckpt_view *v, int line_ok, uint64_t seq,
	     FILE *out)
{
	uint64_t at = (uint64_t)((char *)line - pool->base);
	int first = line_ok ? !v->cur : 0;
	for (int k = 0; k < 2; k++) {
		int i = k ? !first : first;
		struct nvh_ckpt_slot was = line->slot[i];
		if (was.seq == seq && was.check == nvh_ckpt_check(seq, i))
			continue;
		int rc = nvh_ckpt_write_slot(&pool->persist, line, i, seq);
		if (rc)
			return rc;
		say(out, "checkpoint line at pool offset %" PRIu64 ": slot %c "
		    "set to seq %" PRIu64 " (was seq %" PRIu64 ", %s)", at,
		    'A' + i, seq, was.seq,
		    !was.seq && !was.check ? "empty"
		    : was.check == nvh_ckpt_check(was.seq, i) ? "valid"
		    : v->legacy ? "legacy form" : "damaged");
	}
	if (v->reserved_dirty) {
		int rc = nvh_persist_memset(&pool->persist, line->reserved, 0,
					    sizeof(line->reserved));
		if (rc)
			return rc;
		say(out, "checkpoint line at pool offset %" PRIu64 ": reserved "
		    "words cleared", at);
	}
	return 0;
}

int
nvh_log_repair(struct nvh_pool *pool, FILE *out)
{
	const struct nvh_log_geom *g = &pool->lanes->geom;
	struct nvh_ckpt *line = (void *)(pool->base + g->ckpt_off);
	struct nvh_ckpt_view v;
	char line_why[512] = "";
	int line_ok = nvh_ckpt_read(line, &v) == 0;
	if (!line_ok)
		snprintf(line_why, sizeof(line_why), "%s", nvh_errormsg());
	struct rstate r = {0};
	struct nvh_log_scan s = {.pool = pool, .damaged = on_damage, .arg = &r};
	int rc = nvh_log_scan(&s);
	if (!rc && r.nomem)
		rc = nvh_err(ENOMEM, "out of memory");
	if (rc)
		goto out;
	uint64_t seq = line_ok ? v.seq : 0;
	if (!pool->was_clean) {
		if (!line_ok) {
			rc = nvh_err(NVH_ECORRUPT, "%s; the pool was not closed "
				     "cleanly, so which log records are live "
				     "cannot be decided without a valid slot: "
				     "not repaired, nothing changed", line_why);
			goto out;
		}
		if (r.n) {
			rc = nvh_err(NVH_ECORRUPT, "lane %u: record at pool offset "
				     "%" PRIu64 " is damaged (%s)%s; the pool was "
				     "not closed cleanly, so it may be live: not "
				     "repaired, nothing changed", r.c[0].lane,
				     r.c[0].off, r.first_why,
				     r.n > 1 ? ", and more" : "");
			goto out;
		}
		if (s.beyond_seq > seq) {
			rc = nvh_err(NVH_ECORRUPT, "lane %u: the record at pool "
				     "offset %" PRIu64 " (seq %" PRIu64 ") lies "
				     "past the end of the lane's pass and is "
				     "newer than the checkpoint: a damaged record "
				     "cut the pass short; the pool was not closed "
				     "cleanly, so what follows it may be live: not "
				     "repaired, nothing changed", s.beyond_lane,
				     s.beyond_off, s.beyond_seq);
			goto out;
		}
	} else {
		/* every record of a clean pool is dead, those past the end of
		 * a pass too */
		if (s.maxseq > seq)
			seq = s.maxseq;
		if (s.beyond_seq > seq)
			seq = s.beyond_seq;
	}
	int changed = 0;
	if (!line_ok || v.state[0] == NVH_CKPT_BAD ||
	    v.state[1] == NVH_CKPT_BAD || v.reserved_dirty || seq != v.seq) {
		rc = rewrite_line(pool, line, &v, line_ok, seq, out);
		changed = 1;
	}
	/* the checkpoint covers every record behind the cuts: now cut */
	for (size_t i = 0; i < r.n && !rc; i++) {
		/* (after the checkpoint's fence) seq 0: no record here */
		rc = nvh_persist_memset(&pool->persist,
					pool->base + r.c[i].ring_off, 0, 8);
		say(out, "lane %u: pass ended at pool offset %" PRIu64 " (the "
		    "record %s%" PRIu64 " is damaged; dead, as the pool was "
		    "closed cleanly)", r.c[i].lane, r.c[i].ring_off,
		    r.c[i].off != r.c[i].ring_off ? "in the chunk announced "
		    "there, at " : "there, at ", r.c[i].off);
		changed = 1;
	}
	if (!rc && !changed)
		say(out, "the log needs no repair");
	if (!rc)
		nvh_persist_durable(&pool->persist, "nvh_repair");
out:
	nvh_log_scan_fini(&s);
	free(r.c);
	return rc;
}
