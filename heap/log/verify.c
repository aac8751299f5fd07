/*
 * verify.c -- nvh_log_verify: what a read-write open would make of the
 * log, found without writing anything.
 *
 * A read-only open does not touch the lanes, so without this the tools
 * would call a pool fine that every read-write open refuses.  The checks
 * are the open's own, in its order, through the same code (heap/log/ckpt.c,
 * heap/log/logscan.c):
 *
 *   1. The checkpoint line: no valid slot, or a seq above NVH_SEQ_MAX,
 *      and the open refuses.  A slot failing its check while the other is
 *      valid is survived (the open falls back); it is reported on a pool
 *      that was closed cleanly or is open read-write, where no store was
 *      in flight, so it is damage rather than a torn store.
 *   2. Every record a recovery would read: sealed but not valid records
 *      make the open refuse.
 *   3. A pool closed cleanly holds no record above its checkpoint (the
 *      close ended with a checkpoint covering all); one there means the
 *      checkpoint is damaged (lowered), and the open refuses.
 *
 * Each problem says whether `nvheap check --repair` (repair.c) can
 * fix it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "heap/error.h"
#include "heap/pool.h"
#include "heap/log/lane.h"

#define MAX_PRINTED 100 /* like nvh_check */

struct vstate {
	FILE *out;
	uint64_t *problems;
	int clean; /* closed cleanly and not opened read-write since */
};

static void problem(struct vstate *v, const char *fmt, ...) NVH_PRINTF(2, 3);

static void
problem(struct vstate *v, const char *fmt, ...)
{
	if (v->out && *v->problems < MAX_PRINTED) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(v->out, "problem: ");
		vfprintf(v->out, fmt, ap);
		fprintf(v->out, "\n");
		va_end(ap);
	}
	(*v->problems)++;
}

static const char *
repair_hint(const struct vstate *v)
{
	return v->clean ? "`nvheap check --repair` fixes it (the pool was "
			  "closed cleanly: every record is dead, nothing is "
			  "lost)"
			: "the pool was not closed cleanly, so the record may "
			  "be live and `nvheap check --repair` refuses to "
			  "change it";
}

static void
on_damage(void *arg, const struct nvh_log_damage *d)
{
	struct vstate *v = arg;
	char chunk[64] = "";
	if (d->off != d->ring_off)
		snprintf(chunk, sizeof(chunk), " (in the chunk announced at %"
			 PRIu64 ")", d->ring_off);
	problem(v, "log: lane %u: record at pool offset %" PRIu64 "%s, seq %"
		PRIu64 ": %s (damaged: nvheap never writes such a record); a "
		"read-write open refuses the pool; %s", d->lane, d->off, chunk,
		d->seq, d->why, repair_hint(v));
}

int
nvh_log_verify(struct nvh_pool *pool, FILE *out, uint64_t *problems)
{
	struct vstate v = {out, problems, pool->rdonly && pool->was_clean};
	const struct nvh_log_geom *g = &pool->lanes->geom;
	const struct nvh_ckpt *line = (const void *)(pool->base + g->ckpt_off);
	struct nvh_ckpt_view cv;
	int line_ok = nvh_ckpt_read(line, &cv) == 0;
	if (!line_ok)
		problem(&v, "log: %s, at pool offset %" PRIu64 "; a read-write "
			"open refuses the pool; %s", nvh_errormsg(),
			g->ckpt_off, v.clean
			? "`nvheap check --repair` rebuilds it from the lanes "
			  "(the pool was closed cleanly: nothing is lost)"
			: "the pool was not closed cleanly, so which records "
			  "are live cannot be decided and `nvheap check "
			  "--repair` refuses");
	for (int i = 0; line_ok && i < 2; i++) {
		if (cv.state[i] != NVH_CKPT_BAD ||
		    (pool->rdonly && !pool->was_clean))
			continue; /* after a crash: maybe a torn store */
		problem(&v, "log: checkpoint line at pool offset %" PRIu64
			": slot %c is damaged (%s); slot %c (seq %" PRIu64 ") is "
			"used; `nvheap check --repair` rewrites it", g->ckpt_off,
			'A' + i, cv.why[i], 'A' + cv.cur, cv.seq);
	}
	if (line_ok && cv.reserved_dirty)
		problem(&v, "log: checkpoint line at pool offset %" PRIu64 ": "
			"reserved words are not zero (ignored); `nvheap check "
			"--repair` clears them", g->ckpt_off);

	struct nvh_log_scan s = {.pool = pool, .damaged = on_damage, .arg = &v};
	int rc = nvh_log_scan(&s);
	uint64_t top = s.maxseq > s.beyond_seq ? s.maxseq : s.beyond_seq;
	unsigned lane = s.maxseq > s.beyond_seq ? s.maxlane : s.beyond_lane;
	if (!rc && line_ok && v.clean && top > cv.seq)
		problem(&v, "log: checkpoint line: seq %" PRIu64 ", but lane %u "
			"holds record %" PRIu64 " of a cleanly closed pool (the "
			"checkpoint is damaged: lowered); a read-write open "
			"refuses the pool; `nvheap check --repair` sets it to %"
			PRIu64 ", losing nothing", cv.seq, lane, top, top);
	else if (!rc && line_ok && !v.clean && s.beyond_seq > cv.seq)
		problem(&v, "log: lane %u: the record at pool offset %" PRIu64
			" (seq %" PRIu64 ") lies past the end of the lane's pass "
			"(at pool offset %" PRIu64 ") and is newer than the "
			"checkpoint: a damaged record cut the pass short; a "
			"read-write open refuses the pool; %s", s.beyond_lane,
			s.beyond_off, s.beyond_seq, s.beyond_end,
			repair_hint(&v));
	nvh_log_scan_fini(&s);
	return rc;
}
