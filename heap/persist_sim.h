/*
 * persist_sim.h -- the crash simulator backend (`sim`), for tests.
 *
 * Model (after SQLite's test6.c and PMDK's pmreorder): beside the working
 * mapping (where the program's stores land) the simulator keeps a durable
 * image, the bytes a power failure would leave on the medium.
 *
 *   store          changes the working mapping only; the line is "dirty".
 *   flush(a, n)    snapshots the covered 64-byte lines, with their working
 *                  contents at that moment, into the in-flight set (a line
 *                  flushed twice keeps the later contents).
 *   fence          first a crash point (the hook may build crash images
 *                  from: durable image + any subset of in-flight lines +
 *                  torn in-flight lines + evicted dirty lines), then every
 *                  in-flight line becomes durable.
 *
 * One simulator follows one pool file across opens and closes (the durable
 * image outlives a mapping, as the medium outlives a process), until
 * nvh_sim_reset.  It is single-threaded by intent: in-flight lines are
 * global, not per thread, which is the stricter model for the tests.
 *
 * Missing-flush detector: at every durable point the library declares
 * (end of create, open, close, commit), the working mapping must equal the
 * durable image outside declared volatile ranges, with nothing in flight.
 * Each difference is reported with its offset and the call site.
 */
#ifndef NVH_HEAP_PERSIST_SIM_H
#define NVH_HEAP_PERSIST_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "heap/persist.h"

struct nvh_sim;

struct nvh_sim_line {
	uint64_t line; /* line index: byte offset / 64 */
	uint8_t data[NVH_CACHELINE];
};

struct nvh_sim_hooks {
	/* A crash point: called at the start of every fence, before its
	 * in-flight lines become durable.  May open other pools (with other
	 * simulators) but must not touch this one's pool. */
	void (*crash_point)(void *arg, struct nvh_sim *sim);
	/* The detector found [off, off+len) differing (or still in flight)
	 * at a durable point.  NULL: print to stderr. */
	void (*missing_flush)(void *arg, struct nvh_sim *sim, uint64_t off,
			      uint64_t len, const char *where);
	/* [off, off+len) of the durable image changed outside a fence (bytes
	 * whose durability does not matter: nvh_persist_dontcare).  May be
	 * NULL.  Called with the simulator's lock held: must not call it. */
	void (*durable_write)(void *arg, struct nvh_sim *sim, uint64_t off,
			      uint64_t len);
	void *arg;
};

#define NVH_SIM_HISTOGRAM 0x1u /* count flushes per line */

struct nvh_sim *nvh_sim_new(const struct nvh_sim_hooks *hooks, unsigned flags);
void nvh_sim_free(struct nvh_sim *sim);
/* Forget the durable image: the next pool bound takes its file as durable. */
void nvh_sim_reset(struct nvh_sim *sim);

/* ---- inspection, for the crash explorer ---- */
uint64_t nvh_sim_fences(const struct nvh_sim *sim);
size_t nvh_sim_size(const struct nvh_sim *sim);
const uint8_t *nvh_sim_durable(const struct nvh_sim *sim);
/* The bound pool's working mapping, or NULL between close and reopen. */
const uint8_t *nvh_sim_working(const struct nvh_sim *sim);
size_t nvh_sim_inflight(const struct nvh_sim *sim,
			const struct nvh_sim_line **lines);
/* XOR over all lines of XXH3-128(line contents, seed = line index): an
 * order-free hash of the durable image, kept up to date at every fence. */
void nvh_sim_durable_hash(const struct nvh_sim *sim, uint64_t out[2]);
void nvh_sim_line_hash(uint64_t line, const uint8_t *data, uint64_t out[2]);
/* Flush count per line (NVH_SIM_HISTOGRAM), or NULL. */
const uint32_t *nvh_sim_histogram(const struct nvh_sim *sim, size_t *nlines);
/* Durable points that found a difference, since creation. */
uint64_t nvh_sim_missing_flushes(const struct nvh_sim *sim);

extern const struct nvh_persist_backend nvh_persist_sim;

#endif
