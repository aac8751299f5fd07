/*
 * nvheap/tx.h -- transactions: several changes to a pool that survive a
 * crash all together or not at all.
 *
 *   nvh_tx *tx = nvh_tx_begin(pool);
 *   nvh_tx_add(tx, &obj->count, sizeof(obj->count)); // snapshot, then ...
 *   obj->count++;                                     // ... modify
 *   nvh_oid n = nvh_tx_alloc(tx, sizeof(struct node), NODE, NVH_TX_ZERO);
 *   nvh_tx_free(tx, old);                             // happens at commit
 *   int rc = nvh_tx_commit(tx);                       // durable on return
 *
 * Explicit handles, no setjmp.  Any error inside the transaction (bad
 * argument, out of space, log full) marks it failed: later calls on it
 * fail at once with the same error, and nvh_tx_commit then rolls everything
 * back and returns that error.  nvh_tx_abort rolls back on purpose.
 *
 * Rules: snapshot (nvh_tx_add) every byte of existing pool memory before
 * changing it in the transaction; objects allocated by the transaction
 * need no snapshot.  Bytes a transaction changed are from then on changed
 * only by transactions or the atomic API (see docs/transactions.md).
 * nvh_tx_begin while the thread already has a transaction on the same pool
 * nests (flattened: the outermost commit commits, any abort aborts all);
 * on another pool it is refused (EBUSY).  Each thread's transaction uses
 * its own lane; with more threads than lanes, nvh_tx_begin waits.
 *
 * A handle is valid on the thread that began the transaction, until its
 * outermost commit or abort.  After that, every call with it fails with
 * EINVAL ("stale transaction handle") and changes nothing, even when the
 * thread has begun another transaction (which it leaves alone).
 */
#ifndef NVHEAP_TX_H
#define NVHEAP_TX_H

#include <stddef.h>
#include <stdint.h>

#include <nvheap/alloc.h>
#include <nvheap/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nvh_tx nvh_tx;

#define NVH_TX_ZERO 0x1u /* nvh_tx_alloc: zero the new object */

/* Start (or nest into) a transaction; NULL with errno on failure. */
NVH_API nvh_tx *nvh_tx_begin(nvh_pool *pool);

/* Snapshot [addr, addr+len) before modifying it.  Costs one persist barrier
 * unless every byte is already covered (earlier snapshot, new object).
 * The range must lie inside one live object, or one this transaction
 * allocated; anything else (object headers, free or reserved blocks,
 * nvheap's own objects, the root slot: use nvh_tx_set) is EINVAL. */
NVH_API int nvh_tx_add(nvh_tx *tx, void *addr, size_t len);

/* One range for nvh_tx_addv. */
struct nvh_tx_range {
	void *addr;
	size_t len;
};

/* Snapshot the ranges v[0..n) with one persist barrier in all (none if
 * every byte is already covered), where nvh_tx_add would take one each.
 * Each range follows nvh_tx_add's rule; they may overlap each other and
 * lie in different objects; empty ones are skipped.  Every range is
 * checked before any is snapshotted: if one is refused (EINVAL; the
 * message says which, "range I of N"), the transaction fails and nothing
 * is logged.  Many ranges take several log records, still one barrier. */
NVH_API int nvh_tx_addv(nvh_tx *tx, const struct nvh_tx_range *v, size_t n);

/* Allocate; the object exists only if the transaction commits.  Returns
 * the oid, or null with the transaction failed (see nvh_tx_error). */
NVH_API nvh_oid nvh_tx_alloc(nvh_tx *tx, size_t size, uint32_t type,
			     unsigned flags);

/* Free at commit (nothing happens if the transaction rolls back).  The
 * object must be live; freeing it twice in the transaction is an error. */
NVH_API int nvh_tx_free(nvh_tx *tx, nvh_oid oid);

/* Commit: 0 when everything is durable, or the transaction's error after
 * rolling it back.  An inner (nested) commit only leaves the level. */
NVH_API int nvh_tx_commit(nvh_tx *tx);

/* Roll back everything and end the transaction (all nesting levels: the
 * outer levels' calls then fail with ECANCELED until their commit or
 * abort, which returns ECANCELED). */
NVH_API int nvh_tx_abort(nvh_tx *tx);

/* 0, or the error that failed the transaction (EINVAL for a stale or
 * foreign handle). */
NVH_API int nvh_tx_error(const nvh_tx *tx);

/* The calling thread's transaction on `pool`, or NULL. */
NVH_API nvh_tx *nvh_tx_current(nvh_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
