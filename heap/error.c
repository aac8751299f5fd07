/*
 * error.c -- the thread-local error message.
 *
 * One fixed buffer per thread; messages are truncated, never allocated, so
 * reporting an out-of-memory error cannot itself fail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "heap/error.h"

#define MSG_MAX 1024

static _Thread_local char msgbuf[MSG_MAX];

NVH_API const char *
nvh_errormsg(void)
{
	return msgbuf;
}

static int
verr(int code, const char *fmt, va_list ap)
{
	vsnprintf(msgbuf, sizeof(msgbuf), fmt, ap);
	errno = code;
	return -code;
}

int
nvh_err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = verr(code, fmt, ap);
	va_end(ap);
	return rc;
}

void *
nvh_err_null(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(code, fmt, ap);
	va_end(ap);
	return NULL;
}

void
nvh_err_prefix(const char *fmt, ...)
{
	char old[MSG_MAX];
	int saved = errno;
	memcpy(old, msgbuf, sizeof(old));
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msgbuf, sizeof(msgbuf), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(msgbuf))
		snprintf(msgbuf + n, sizeof(msgbuf) - (size_t)n, "%s", old);
	errno = saved;
}
