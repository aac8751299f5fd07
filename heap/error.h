/*
 * error.h -- setting the thread-local error message behind nvh_errormsg().
 *
 * The innermost failing function states what went wrong and with which
 * values; each caller on the way out prepends where (function, path), so
 * the final message reads "nvh_open: /p/pool: header copy A: field ...".
 */
#ifndef NVH_HEAP_ERROR_H
#define NVH_HEAP_ERROR_H

#include <stdarg.h>

#include <nvheap/errors.h>

#define NVH_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Set the message, set errno to `code` (> 0), return -code. */
int nvh_err(int code, const char *fmt, ...) NVH_PRINTF(2, 3);
/* The same, returning NULL, for pointer-returning functions. */
void *nvh_err_null(int code, const char *fmt, ...) NVH_PRINTF(2, 3);
/* Prepend context ("what: ") to the current message. */
void nvh_err_prefix(const char *fmt, ...) NVH_PRINTF(1, 2);

#endif
