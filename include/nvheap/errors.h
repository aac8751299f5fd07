/*
 * nvheap/errors.h -- how nvheap reports failure.
 *
 * Functions returning int return 0 on success or a negative errno-style code
 * (-EINVAL, -NVH_ECORRUPT, ...).  Functions returning a pointer return NULL
 * and set errno to the positive code.  Either way nvh_errormsg() then holds
 * a message naming what failed and where (path, field, expected vs found).
 */
#ifndef NVHEAP_ERRORS_H
#define NVHEAP_ERRORS_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NVH_API
#define NVH_API __attribute__((visibility("default")))
#endif

/* Codes beyond the usual errno values (ENOENT, EACCES, EEXIST, ENOSPC, EIO,
 * EINVAL for bad arguments and wrong layout names, EBUSY for a pool already
 * open elsewhere). */
#define NVH_ECORRUPT EUCLEAN      /* pool file is damaged: checksum or field invalid */
#define NVH_ENOTPOOL EMEDIUMTYPE  /* file is not an nvheap pool (bad magic) */
#define NVH_EVERSION ENOTSUP      /* pool format version not supported */

/*
 * The message of the last failure in the calling thread.  Never NULL; a
 * later failure overwrites it, success leaves it alone.
 */
NVH_API const char *nvh_errormsg(void);

#ifdef __cplusplus
}
#endif
#endif
