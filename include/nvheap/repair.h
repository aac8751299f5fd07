/*
 * nvheap/repair.h -- repairing a damaged pool, offline.
 *
 * `nvheap check --repair` calls this.  It repairs what `nvh_check` reports
 * as damage of the log (docs/recovery.md, "Repair"): a checkpoint line
 * that is damaged, or below the records of a pool closed cleanly, and
 * damaged records of a pool closed cleanly (all of whose records are
 * dead).  It never changes what a pool holds: damage it cannot repair
 * without losing data is refused and left as it was.
 */
#ifndef NVHEAP_REPAIR_H
#define NVHEAP_REPAIR_H

#include <stdio.h>

#include <nvheap/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Repair the log of the pool file at `path` (its layout must be `layout`;
 * NULL accepts any).  The pool must not be open (EBUSY otherwise); it is
 * not opened for use: no recovery runs and its header is not changed.
 * Prints each change, or that none was needed, to `out` (if not NULL).
 * Returns 0 when the log needs no further repair, -NVH_ECORRUPT (nothing
 * changed, nvh_errormsg() says why) when the damage cannot be repaired
 * without losing data, or nvh_open's errors for a file that is no
 * readable pool.
 */
NVH_API int nvh_repair(const char *path, const char *layout, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
