/*
 * resp.h -- RESP2 (Redis protocol) request parser and reply builder.
 *
 * Pure byte handling for the kvstore server: no I/O, no nvheap.  The
 * parser takes whatever bytes a connection has buffered and either returns
 * one command, says it needs more bytes, or reports a protocol error; the
 * reply builder appends encoded replies to a growable buffer.
 */
#ifndef KV_RESP_H
#define KV_RESP_H

#include <stddef.h>

#define RESP_MAX_ARGS	(1024 * 1024)	/* arguments per command */
/* Largest bulk string accepted: values up to 64 MiB plus slack. */
#define RESP_MAX_BULK	((64u << 20) + 1024)
#define RESP_MAX_INLINE	(64u << 10)	/* longest inline line */
/* Redis's proto-max-bulk-len: a length beyond it is judged invalid before
 * any caller's limit, as Redis judges it, so both answer alike. */
#define RESP_PROTO_MAX_BULK (512LL << 20)

/*
 * One parsed command.  Zero-initialise it ({0}), keep one per connection,
 * and free it with resp_cmd_free().
 *
 * argv[0..argc) point INTO the caller's buffer for multibulk commands and
 * into `scratch` for inline ones (escapes are decoded there); either way
 * they are valid until the next resp_parse() or resp_cmd_free() on this
 * cmd, and, for multibulk, while the caller's bytes stay where they are.
 * They are binary safe and NOT NUL-terminated: use argl.
 */
struct resp_cmd {
	int argc;
	const char **argv;
	size_t *argl;		/* argl[i] is the length of argv[i] */
	int cap;		/* capacity of argv/argl, <= RESP_MAX_ARGS */

	/*
	 * The caller's own limits on the next commands, 0 for none: a
	 * multibulk command declaring more than lim_args arguments, or a bulk
	 * longer than lim_bulk, is a protocol error ("Protocol error:
	 * unauthenticated multibulk length" / "... bulk length", as Redis
	 * answers a client that has not authenticated, their one use).  They
	 * are judged, like the fixed limits, as soon as the length line is
	 * complete.  Inline commands are bounded by RESP_MAX_INLINE alone, as
	 * in Redis.  Change them only between commands: a resumed parse
	 * assumes the limits it started with.
	 */
	long long lim_args;
	long long lim_bulk;

	/* Private. */
	char *scratch;		/* decoded inline arguments */
	size_t scap;
	/* Where the last RESP_INCOMPLETE left off, so that a command arriving
	 * in many small reads is parsed in linear, not quadratic, time.  Used
	 * only when the next call passes the same `buf` and a `len` no
	 * shorter (see resp_parse). */
	int rstate;		/* 0 none, else multibulk or inline */
	int rargc;		/* arguments already in argv */
	const char *rbuf;
	size_t rlen;
	size_t rpos;		/* bytes of rbuf parsed or scanned */
	long long rwant;	/* declared argument count (multibulk) */
};

enum resp_status { RESP_OK = 0, RESP_INCOMPLETE = 1, RESP_ERR = -1 };

/*
 * Parse one command from buf[0..len).
 *
 * RESP_OK: *used = bytes consumed (> 0), cmd filled.  argc may be 0 (an
 *   empty inline line, "*0\r\n" or "*-1\r\n"): consume and skip it.
 * RESP_INCOMPLETE: need more bytes; nothing consumed (*used = 0).  Call
 *   again with the same bytes plus more.  If the bytes have not moved (same
 *   `buf`), parsing resumes where it stopped; if they moved it restarts, which
 *   is correct but re-reads them.  Hence the one contract: after
 *   RESP_INCOMPLETE, do not hand this cmd DIFFERENT bytes at the same
 *   address (e.g. a cmd shared by connections whose buffer was freed and
 *   reused) without resp_cmd_reset() first.
 * RESP_ERR: protocol error (or out of memory); *err (if err is non-NULL)
 *   points to a static message, e.g. "Protocol error: invalid bulk length".
 *   Reply "-ERR <msg>" and close the connection.
 *
 * Feeding any prefix of a stream yields RESP_INCOMPLETE or exactly what
 * the whole stream yields, so the result never depends on how the bytes
 * were split into reads.  Memory is O(arguments actually received), never
 * O(declared counts or lengths).
 */
int resp_parse(struct resp_cmd *cmd, const char *buf, size_t len,
	       size_t *used, const char **err);
/* Forget a RESP_INCOMPLETE resume point (keeps memory). */
void resp_cmd_reset(struct resp_cmd *cmd);
void resp_cmd_free(struct resp_cmd *cmd);

/* 1 if 0 <= i < argc and argv[i] equals s ignoring ASCII case, else 0. */
int resp_argeq(const struct resp_cmd *c, int i, const char *s);

/*
 * p[0..len) as a long long, strictly as Redis's string2ll: optional '-',
 * decimal digits, no leading zeros (except "0" itself; "-0" and "01" are
 * refused), no '+', no spaces, in range.  0 on success, -1 otherwise.
 */
int resp_strtoll(const char *p, size_t len, long long *out);

/*
 * Replies, appended to a growable buffer.  Zero-initialise it.  If an
 * allocation fails, `oom` is set and this and every later append is
 * dropped (a partial reply stream is useless): check oom before sending.
 */
struct resp_buf {
	char *p;
	size_t len, cap;
	int oom;
};

/* +s\r\n; CR and LF in s become spaces. */
void resp_simple(struct resp_buf *b, const char *s);
/* -<message>\r\n; fmt includes the prefix ("ERR ...", "WRONGTYPE ...").
 * CR and LF in the message become spaces. */
void resp_error(struct resp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void resp_int(struct resp_buf *b, long long v);		/* :v\r\n */
void resp_bulk(struct resp_buf *b, const void *p, size_t len); /* $len... */
void resp_null(struct resp_buf *b);				/* $-1\r\n */
void resp_array(struct resp_buf *b, long long n);		/* *n\r\n */
void resp_buf_reset(struct resp_buf *b);  /* len = 0, oom = 0, keep memory */
void resp_buf_free(struct resp_buf *b);

#endif
