/*
 * open.c -- nvh_create, nvh_open, nvh_close, nvh_repair: a pool file's
 * life cycle, the top of the layers (docs/layers.md).  Each layer is
 * opened here, bottom up, and closed top down; no layer opens another.
 *
 *   nvh_create: new file (zeroed, size reserved, fsynced) -> heap header
 *               and class table -> pool header with clean_shutdown 0,
 *               seq 1, run_generation 1 -> OPEN
 *   nvh_open:   lock + map -> choose a valid header copy -> check layout ->
 *               persistence backend -> heap header validated -> the log
 *               (its lanes, read-write) -> recovery if the last run did
 *               not close cleanly: log scan, transactions rolled back,
 *               log replayed -> the heap's DRAM state rebuilt -> header
 *               update: clean_shutdown 0, run_generation+1 -> objects
 *               (types, the rest of a cut-short cascade) -> checkpoint
 *               -> OPEN
 *   nvh_close:  every lane passed (nothing in flight) -> checkpoint ->
 *               objects, heap, log closed -> header update:
 *               clean_shutdown 1 -> unmap, unlock
 *   nvh_repair: lock + map -> header copy, layout -> heap header, the
 *               log (no lanes, no recovery) -> the log's repair
 *
 * A read-only open (NVH_OPEN_RDONLY) validates and rebuilds but writes
 * nothing to the file, so tools can inspect a pool without changing it.
 * If the pool was not closed cleanly, what the file holds may be caught
 * mid-operation; the open then maps the file privately (copy-on-write),
 * runs the ordinary recovery into that view with a backend that writes
 * nothing (persist_none.c), and makes the view read-only: readers see
 * exactly what a read-write open would recover, and the file is
 * untouched (docs/recovery.md, "Read-only opens").
 *
 * Handles (the registry that catches a second close, fork children):
 * pool_handle.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nvheap/repair.h>

#include "heap/checksum.h"
#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "heap/log/lane.h"
#include "objects/gc.h"
#include "objects/obj.h"
#include "tx/tx.h"

static const struct nvh_opts default_opts;

/* ---- the layers under the objects ---- */

/* Recovery, in its three steps: the log is read (R1), the transactions
 * that did not commit are rolled back (R2, R3), what committed is rolled
 * forward and the log retired (R4, R5).  A clean pool's needs only the
 * first. */
static int
recover(struct nvh_pool *pool)
{
	struct nvh_log_recovery r;
	int rc = nvh_log_recover_scan(pool, !pool->was_clean, &r);
	if (!rc)
		rc = nvh_tx_recover(pool, &r);
	if (!rc)
		rc = nvh_log_replay(pool, &r);
	nvh_log_recover_fini(&r);
	return rc;
}

static void
close_heap(struct nvh_pool *pool)
{
	nvh_heap_close(pool);
	nvh_log_close(pool);
}

/* The heap header validated, the log (its lanes and recovery when
 * writable), the heap's DRAM state: everything before the objects. */
static int
open_heap(struct nvh_pool *pool)
{
	int rc = nvh_heap_open(pool);
	if (rc)
		return rc;
	struct nvh_log_geom g;
	nvh_heap_log_geom(pool, &g);
	rc = nvh_log_open(pool, &g);
	if (!rc && !pool->rdonly) {
		rc = nvh_lanes_init(pool);
		if (!rc)
			rc = recover(pool);
	}
	if (!rc)
		rc = nvh_heap_rebuild(pool);
	if (rc)
		close_heap(pool);
	return rc;
}


static int
check_layout_arg(const char *layout)
{
	if (layout && strlen(layout) > NVH_LAYOUT_MAX)
		return nvh_err(EINVAL, "layout name is %zu bytes, longer "
			       "than the maximum %d", strlen(layout),
			       NVH_LAYOUT_MAX);
	return 0;
}

static void
set_tag(struct nvh_pool *pool)
{
	uint64_t t = 1 + nvh_checksum(pool->hdr.uuid, sizeof(pool->hdr.uuid)) %
			 0xffff;
	pool->oid_tag = t << 48;
}

static struct nvh_pool *
pool_new(const char *path, const struct nvh_file *f, int rdonly)
{
	struct nvh_pool *pool = calloc(1, sizeof(*pool));
	char *p = strdup(path);
	if (!pool || !p) {
		free(pool);
		free(p);
		return nvh_err_null(ENOMEM, "out of memory");
	}
	nvh_handle_init(pool);
	pool->path = p;
	pool->tx_ring_limit = NVH_LANE_SIZE;
	const char *lim = getenv("NVHEAP_TEST_TX_RING");
	if (lim && atoi(lim) >= 256)
		pool->tx_ring_limit = (uint32_t)atoi(lim);
	pool->fd = f->fd;
	pool->lock_page = f->lock;
	pool->base = f->base;
	pool->size = f->size;
	pool->resv = f->resv;
	pool->map_sync = f->map_sync;
	pool->is_pmem = f->is_pmem;
	pool->rdonly = rdonly;
	return pool;
}

/* Choose and start the persistence backend. */
static int
pool_persist_init(struct nvh_pool *pool, const struct nvh_opts *opts)
{
	int rc = nvh_persist_choose(opts->persist, pool->is_pmem,
				    &pool->persist_kind, &pool->persist_reason);
	if (rc)
		return rc;
	return nvh_persist_init(&pool->persist, pool->persist_kind, pool->base,
				pool->size, opts->sim);
}

NVH_API nvh_pool *
nvh_create(const char *path, const char *layout, uint64_t size,
	   const struct nvh_opts *opts)
{
	if (!path || !*path)
		return nvh_err_null(EINVAL, "nvh_create: no path given");
	if (!opts)
		opts = &default_opts;
	if (check_layout_arg(layout)) {
		nvh_err_prefix("nvh_create: %s: ", path);
		return NULL;
	}
	uint64_t rounded = size - size % NVH_POOL_ALIGN;
	if (rounded < NVH_MIN_POOL_SIZE)
		return nvh_err_null(EINVAL, "nvh_create: %s: size %" PRIu64
				    " bytes is below the minimum pool size %"
				    PRIu64, path, size,
				    (uint64_t)NVH_MIN_POOL_SIZE);
	if (rounded > NVH_MAX_POOL_SIZE || rounded > SIZE_MAX)
		return nvh_err_null(EINVAL, "nvh_create: %s: size %" PRIu64
				    " bytes is above the maximum pool size %"
				    PRIu64, path, size,
				    (uint64_t)NVH_MAX_POOL_SIZE);
	if (opts->flags & NVH_OPEN_RDONLY)
		return nvh_err_null(EINVAL, "nvh_create: %s: cannot create a "
				    "pool read-only", path);

	struct nvh_file f;
	int rc = nvh_file_create(path, rounded, opts->mode ? opts->mode : 0600,
				 &f);
	if (rc) {
		nvh_err_prefix("nvh_create: %s: ", path);
		return NULL;
	}
	/* Address space to grow into in place (nothing is written yet) */
	uint64_t cap = opts->max_size && opts->max_size < NVH_GROW_OFF
		       ? opts->max_size : 0;
	if ((rc = nvh_file_reserve(&f, cap ? cap : nvh_file_room(&f))))
		goto fail_file;
	struct nvh_pool *pool = pool_new(path, &f, 0);
	if (!pool)
		goto fail_file;
	rc = pool_persist_init(pool, opts);
	if (rc)
		goto fail_pool;
	nvh_hdr_init(&pool->hdr, layout, rounded);
	set_tag(pool);
	pool->hdr_first = 0;
	pool->hdr_ok[0] = pool->hdr_ok[1] = 1;
	pool->was_clean = 1;
	rc = nvh_heap_format(pool);
	if (rc)
		goto fail_persist;
	/* (the heap is not open yet: a new pool has segments already) */
	rc = nvh_heap_set_policy(pool, opts->max_size, opts->grow_step);
	if (rc)
		goto fail_persist;
	/* The rest of the file is zero (fresh blocks); the pool header comes
	 * last, so a crash before this point leaves no valid pool, never a
	 * half initialised one. */
	rc = nvh_hdr_update(&pool->persist, pool->base, &pool->hdr,
			    pool->hdr_first);
	if (!rc)
		rc = open_heap(pool);
	if (!rc && (rc = nvh_objects_open(pool)))
		close_heap(pool);
	if (rc)
		goto fail_persist;
	/* complete: now it may appear under its name */
	rc = nvh_file_publish(&f, path);
	if (rc) {
		nvh_objects_close(pool);
		close_heap(pool);
		goto fail_persist;
	}
	nvh_persist_durable(&pool->persist, "nvh_create");
	nvh_handle_register(pool);
	return pool;

fail_persist:
	nvh_persist_fini(&pool->persist);
fail_pool:
	nvh_pool_free(pool);
fail_file:
	rc = errno;
	nvh_file_close(&f);
	nvh_file_discard(&f);
	nvh_err_prefix("nvh_create: %s: ", path);
	errno = rc;
	return NULL;
}

/*
 * A read-only open of a pool not closed cleanly: map the file privately,
 * recover into that view writing nothing to the file, then refuse writes
 * like any read-only pool.  Until nvh_open seals the view, the pool runs
 * as a read-write one (rdonly 0), so recovery takes the read-write paths
 * (lanes, the dying-list drain, the checkpoint) unchanged.
 */
static int
view_start(struct nvh_pool *pool, struct nvh_file *f)
{
	int rc = nvh_file_map_private(f);
	if (rc)
		return rc;
	pool->base = f->base;
	pool->view = 1;
	pool->rdonly = 0;
	pool->persist_kind = NVH_PERSIST_NONE;
	pool->persist_reason = "read-only open of a pool not closed cleanly: "
			       "recovered in a private copy-on-write view, "
			       "nothing reaches the file";
	return nvh_persist_init(&pool->persist, NVH_PERSIST_NONE, pool->base,
				pool->size, NULL);
}

static int
view_seal(struct nvh_pool *pool, struct nvh_file *f)
{
	pool->rdonly = 1;
	return nvh_file_seal(f);
}

/* The current header copy, and the layout the caller expects. */
static int
select_header(struct nvh_pool *pool, const char *layout)
{
	int rc = nvh_hdr_select(pool->base, pool->size, &pool->hdr,
				&pool->hdr_first, pool->hdr_ok,
				pool->hdr_problem);
	if (!rc && layout && strcmp(layout, pool->hdr.layout) != 0)
		rc = nvh_err(EINVAL, "field layout: pool has layout \"%s\", "
			     "expected \"%s\"", pool->hdr.layout, layout);
	return rc;
}

/*
 * A read-write open's mapping: the tail an unfinished growth left past
 * pool_size trimmed (it holds nothing: heap/grow.c), and the mapping
 * moved into reserved address space so the pool can grow in place (to
 * its max_size, or as far as the file system could hold).  The max_size
 * is the one this open leaves: opts' if it sets one (nvh_heap_set_policy
 * stores it later), so a raised maximum is reachable in this run.
 */
static int
writable_map(struct nvh_pool *pool, struct nvh_file *f,
	     const struct nvh_opts *opts)
{
	int rc = nvh_file_trim(f, pool->hdr.pool_size);
	if (!rc) {
		uint64_t cap = (pool->hdr.features & NVH_FEAT_GROWS)
			       ? pool->hdr.max_size : 0;
		if (opts->max_size == NVH_GROW_UNLIMITED)
			cap = 0;
		else if (opts->max_size && opts->max_size < NVH_GROW_OFF)
			cap = opts->max_size;
		rc = nvh_file_reserve(f, cap ? cap : nvh_file_room(f));
	}
	pool->base = f->base;
	pool->size = f->size;
	pool->resv = f->resv;
	return rc;
}

NVH_API nvh_pool *
nvh_open(const char *path, const char *layout, const struct nvh_opts *opts)
{
	if (!path || !*path)
		return nvh_err_null(EINVAL, "nvh_open: no path given");
	if (!opts)
		opts = &default_opts;
	if (check_layout_arg(layout)) {
		nvh_err_prefix("nvh_open: %s: ", path);
		return NULL;
	}
	int rdonly = (opts->flags & NVH_OPEN_RDONLY) != 0;
	struct nvh_file f;
	int rc = nvh_file_open(path, rdonly, &f);
	if (rc) {
		nvh_err_prefix("nvh_open: %s: ", path);
		return NULL;
	}
	struct nvh_pool *pool = pool_new(path, &f, rdonly);
	if (!pool)
		goto fail_file;
	rc = select_header(pool, layout);
	if (rc)
		goto fail_pool;
	/* The open's and the close's header updates each bump seq, which
	 * must stay <= NVH_SEQ_MAX (above is damage): refused before
	 * anything is written.  (Only a damaged, resealed copy gets here:
	 * two bumps a run.) */
	if (!rdonly && pool->hdr.seq > NVH_SEQ_MAX - 2) {
		nvh_err(EOVERFLOW, "pool header copy %c: seq %" PRIu64 " is at "
			"its maximum (%" PRIu64 "): a read-write open would pass "
			"it; nothing was changed (the pool opens read-only)",
			'A' + !pool->hdr_first, pool->hdr.seq, NVH_SEQ_MAX);
		goto fail_pool;
	}
	if (!rdonly && (rc = writable_map(pool, &f, opts)))
		goto fail_pool;
	pool->was_clean = pool->hdr.clean_shutdown == 1;
	if (rdonly && !pool->was_clean)
		rc = view_start(pool, &f);
	else
		rc = pool_persist_init(pool, opts);
	if (rc)
		goto fail_pool;
	set_tag(pool);
	/* Validate the heap, replay the lanes (after a crash) and rebuild
	 * the DRAM state, before anything else is written. */
	rc = open_heap(pool);
	if (rc)
		goto fail_persist;
	if (!rdonly) {
		rc = nvh_heap_set_policy(pool, opts->max_size, opts->grow_step);
		if (rc)
			goto fail_heap;
		pool->hdr.clean_shutdown = 0;
		pool->hdr.run_generation++;
		rc = nvh_hdr_update(&pool->persist, pool->base, &pool->hdr,
				    pool->hdr_first);
		if (rc)
			goto fail_heap;
	}
	/* Types; and the rest of any cascade of frees a crash cut short. */
	rc = nvh_objects_open(pool);
	if (rc)
		goto fail_heap;
	/* nvh_malloc's state reached the medium only if the pool was closed
	 * cleanly: otherwise it is what is reachable (objects/gc.c; in a
	 * read-only view, in DRAM only). */
	if ((pool->hdr.features & NVH_FEAT_MALLOC) && !pool->was_clean &&
	    (rc = nvh_gc_run(pool, NULL))) {
		nvh_err_prefix("nvh_open: %s: the collection after an unclean "
			       "shutdown failed: ", path);
		goto fail_objects;
	}
	if (!pool->rdonly) {
		/* (a no-op unless the drain above changed something) */
		rc = nvh_checkpoint(pool);
		if (rc)
			goto fail_objects;
		nvh_persist_durable(&pool->persist, "nvh_open");
	}
	if (pool->view && (rc = view_seal(pool, &f)))
		goto fail_objects;
	nvh_handle_register(pool);
	return pool;

fail_objects:
	nvh_objects_close(pool);
fail_heap:
	close_heap(pool);
fail_persist:
	nvh_persist_fini(&pool->persist);
	if (pool->view)
		nvh_err_prefix("read-only open of a pool not closed cleanly, "
			       "recovering in memory (the file is unchanged): ");
fail_pool:
	nvh_pool_free(pool);
fail_file:
	rc = errno;
	nvh_file_close(&f);
	nvh_err_prefix("nvh_open: %s: ", path);
	errno = rc;
	return NULL;
}

/* nvh_close in a fork child: free this process's copy, write nothing.
 * No refusal for transactions in progress: the threads of the parent
 * that ran them do not exist here.  But their locks were copied locked:
 * if a lane or an objects lock is held, the DRAM state (whose mutexes
 * must not be destroyed while locked) is left to the process's exit; it shares its pages with
 * the parent's copy anyway. */
static int
close_child_copy(struct nvh_pool *pool)
{
	int busy = 0;
	for (unsigned i = 0; i < pool->lanes->n && !busy; i++) {
		struct nvh_lane *l = &pool->lanes->lane[i];
		busy = pthread_mutex_trylock(&l->lock) != 0;
		if (!busy)
			pthread_mutex_unlock(&l->lock);
	}
	struct nvh_objects *o = pool->objects;
	pthread_mutex_t *olock[] = {o ? &o->reg_lock : NULL,
				    o ? &o->rc_lock : NULL, o ? &o->lock : NULL};
	for (unsigned i = 0; i < 3 && o && !busy; i++) {
		busy = pthread_mutex_trylock(olock[i]) != 0;
		if (!busy)
			pthread_mutex_unlock(olock[i]);
	}
	if (!busy) {
		nvh_objects_close(pool);
		close_heap(pool);
		nvh_persist_fini(&pool->persist);
	}
	pool->heap = NULL; /* (left, if busy: the closed handle has none) */
	pool->objects = NULL;
	nvh_handle_retire(pool);
	return 0;
}

NVH_API int
nvh_close(nvh_pool *pool)
{
	if (!pool)
		return 0;
	int rc = nvh_handle_claim(pool);
	if (rc)
		return rc;
	if (pool->gen != nvh_process_gen)
		return close_child_copy(pool);
	/* Closing under a live transaction would free its lane and undo log
	 * under it: refuse, and leave the pool open and usable. */
	if (nvh_tx_current(pool)) {
		nvh_handle_unclaim(pool);
		return nvh_err(EBUSY, "nvh_close: %s: this thread's transaction "
			       "is still open: commit or abort it first (the "
			       "pool stays open)", pool->path);
	}
	if (nvh_pool_quiesce(pool, "nvh_close", " (the pool stays open)")) {
		nvh_handle_unclaim(pool);
		return -EBUSY;
	}
	if (!pool->rdonly && !atomic_load(&pool->failed))
		rc = nvh_checkpoint(pool);
	/* nvh_malloc's bitmaps, before the header says they can be trusted */
	if (!pool->rdonly && !rc && !atomic_load(&pool->failed))
		rc = nvh_malloc_persist(pool);
	if (pool->objects)
		pthread_mutex_unlock(&pool->objects->reg_lock);
	nvh_objects_close(pool);
	close_heap(pool);
	if (!pool->rdonly && !rc && !atomic_load(&pool->failed)) {
		pool->hdr.clean_shutdown = 1;
		rc = nvh_hdr_update(&pool->persist, pool->base, &pool->hdr,
				    pool->hdr_first);
		if (rc)
			nvh_err_prefix("nvh_close: %s: ", pool->path);
		else
			nvh_persist_durable(&pool->persist, "nvh_close");
	}
	int failed = atomic_load(&pool->failed);
	failed = failed < 0 ? -failed : failed;
	if (!rc && failed)
		rc = nvh_err(failed, "nvh_close: %s: an earlier write to the "
			     "medium failed (%s): the pool is closed without "
			     "being marked clean; its next open recovers it",
			     pool->path, strerror(failed));
	nvh_persist_fini(&pool->persist);
	pthread_mutex_unlock(&pool->grow_lock);
	nvh_handle_retire(pool);
	return rc;
}

NVH_API int
nvh_repair(const char *path, const char *layout, FILE *out)
{
	if (!path || !*path)
		return nvh_err(EINVAL, "nvh_repair: no path given");
	struct nvh_file f;
	int rc = nvh_file_open(path, 0, &f);
	if (rc) {
		nvh_err_prefix("nvh_repair: %s: ", path);
		return rc;
	}
	/* Not an open for use: the heap is validated and the log only read
	 * (a "read-only" pool sets no lanes up and recovers nothing, which
	 * would refuse exactly what is to be repaired); every write of the
	 * repair goes through pool->persist. */
	struct nvh_pool *pool = pool_new(path, &f, 1);
	if (!pool) {
		rc = -errno;
		goto close_file;
	}
	rc = select_header(pool, layout);
	if (!rc)
		rc = pool_persist_init(pool, &default_opts);
	if (rc)
		goto free_pool;
	pool->was_clean = pool->hdr.clean_shutdown == 1;
	rc = open_heap(pool);
	if (!rc) {
		rc = nvh_log_repair(pool, out);
		close_heap(pool);
	}
	nvh_persist_fini(&pool->persist);
free_pool:
	nvh_pool_free(pool);
close_file:
	nvh_file_close(&f);
	if (rc)
		nvh_err_prefix("nvh_repair: %s: ", path);
	return rc;
}
