/*
 * resp.c -- RESP2 request parser and reply builder.
 *
 * A request is either multibulk or inline, decided by its first byte:
 *
 *   *<N>\r\n  then N times  $<L>\r\n<L bytes>\r\n      ('*' first)
 *   words separated by blanks, ending in \n or \r\n    (anything else)
 *
 * Inline words are split exactly as Redis's sdssplitargs(): "double
 * quotes" with \xHH, \n, \r, \t, \b, \a and \<any> escapes, 'single
 * quotes' with only \' as an escape, a closing quote must be followed by a
 * blank or the end of the line, a quote may open mid-word (a"b c" is "ab
 * c"), and a NUL byte ends the line early as it ends Redis's C string.
 *
 * Invariants:
 *  (1) Nothing is read outside buf[0..len).
 *  (2) Every decision is made on bytes that are present: a prefix of a
 *      stream yields RESP_INCOMPLETE or exactly what the whole yields.  So
 *      a length line is judged only once its first CR or LF (and the byte
 *      after a CR) is seen or it has grown past LEN_LINE_MAX, and an
 *      inline line only once its LF is seen or it has grown past
 *      RESP_MAX_INLINE, whichever way the bytes arrive.
 *  (3) Declared counts and lengths are checked against the limits (the
 *      fixed ones and the caller's lim_args, lim_bulk) as soon as their
 *      line is complete, before any of the data they announce;
 *      argv grows with the arguments actually present, never to the
 *      declared count, so memory is O(arguments received).
 *  (4) A RESP_INCOMPLETE multibulk command records how far it got
 *      (rpos, rargc); the next call on the same buffer continues from
 *      there, so a command trickling in costs O(its length) overall,
 *      not O(length^2).  The same holds for the newline scan of an inline
 *      line.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

/* "*N" or "$N" without the CR LF: a long long needs at most 21. */
#define LEN_LINE_MAX 32

enum { R_NONE, R_MBULK, R_INLINE };

static const char E_MBULK_BIG[] = "Protocol error: too big mbulk count string";
static const char E_MBULK_LEN[] = "Protocol error: invalid multibulk length";
static const char E_BULK_BIG[] = "Protocol error: too big bulk count string";
static const char E_BULK_LEN[] = "Protocol error: invalid bulk length";
static const char E_LIM_MBULK[] =
	"Protocol error: unauthenticated multibulk length";
static const char E_LIM_BULK[] = "Protocol error: unauthenticated bulk length";
static const char E_DOLLAR[] = "Protocol error: expected '$'";
static const char E_CRLF[] = "Protocol error: bulk not followed by CRLF";
static const char E_INLINE_BIG[] = "Protocol error: too big inline request";
static const char E_QUOTES[] = "Protocol error: unbalanced quotes in request";
static const char E_NOMEM[] = "out of memory parsing the request";

int
resp_strtoll(const char *p, size_t len, long long *out)
{
	size_t i = 0;
	int neg = 0;
	unsigned long long v = 0;
	unsigned long long lim = LLONG_MAX;

	if (len == 1 && p[0] == '0') {
		*out = 0;
		return 0;
	}
	if (len && p[0] == '-') {
		neg = 1;
		lim = (unsigned long long)LLONG_MAX + 1;
		i++;
	}
	/* No leading zero, so "-0", "01" and "" are refused, as in Redis. */
	if (i >= len || p[i] < '1' || p[i] > '9')
		return -1;
	for (; i < len; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d > 9 || v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	/* -(LLONG_MIN) does not fit: negate in unsigned, then convert. */
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 0;
}

int
resp_argeq(const struct resp_cmd *c, int i, const char *s)
{
	if (i < 0 || i >= c->argc)
		return 0;
	size_t n = strlen(s);
	if (c->argl[i] != n)
		return 0;
	for (size_t k = 0; k < n; k++) {
		unsigned char a = (unsigned char)c->argv[i][k];
		unsigned char b = (unsigned char)s[k];
		/* ASCII only: the locale must not decide what a command is. */
		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (a != b)
			return 0;
	}
	return 1;
}

/* Room for one more argument; argv never grows beyond `want` entries. */
static int
grow(struct resp_cmd *cmd, long long want)
{
	if (cmd->argc < cmd->cap)
		return 0;
	long long ncap = cmd->cap ? 2LL * cmd->cap : 8;
	if (ncap > want)
		ncap = want;
	if (ncap > RESP_MAX_ARGS)
		ncap = RESP_MAX_ARGS;
	if (ncap <= cmd->cap)
		return -1;	/* cannot happen: argc < want <= limit */
	const char **v = realloc(cmd->argv, (size_t)ncap * sizeof(*v));
	if (!v)
		return -1;
	cmd->argv = v;
	size_t *l = realloc(cmd->argl, (size_t)ncap * sizeof(*l));
	if (!l)
		return -1;
	cmd->argl = l;
	cmd->cap = (int)ncap;
	return 0;
}

enum { L_OK, L_MORE, L_LONG, L_BAD };

/*
 * The number on the "*N\r\n" / "$N\r\n" line at buf[at] (whose type byte
 * the caller has checked); *next is the offset past its LF.
 */
static int
len_line(const char *buf, size_t len, size_t at, long long *n, size_t *next)
{
	size_t avail = len - at;
	size_t scan = avail < LEN_LINE_MAX + 1 ? avail : LEN_LINE_MAX + 1;
	size_t e = at + 1;

	/* The line ends at the first CR or LF; a bare LF is an error now
	 * rather than after LEN_LINE_MAX more bytes. */
	while (e < at + scan && buf[e] != '\r' && buf[e] != '\n')
		e++;
	if (e == at + scan)
		return avail > LEN_LINE_MAX ? L_LONG : L_MORE;
	if (buf[e] == '\r' && e + 1 >= len)
		return L_MORE;
	if (buf[e] != '\r' || buf[e + 1] != '\n' ||
	    resp_strtoll(buf + at + 1, e - at - 1, n))
		return L_BAD;
	*next = e + 2;
	return L_OK;
}

static void
suspend(struct resp_cmd *cmd, int state, const char *buf, size_t len,
	size_t pos, long long want)
{
	cmd->rstate = state;
	cmd->rbuf = buf;
	cmd->rlen = len;
	cmd->rpos = pos;
	cmd->rargc = cmd->argc;
	cmd->rwant = want;
}

static int
parse_mbulk(struct resp_cmd *cmd, const char *buf, size_t len, size_t *used,
	    const char **err, int resume)
{
	long long n, bl;
	size_t p, d;
	int rc;

	if (resume) {
		n = cmd->rwant;
		p = cmd->rpos;
		cmd->argc = cmd->rargc;
	} else {
		rc = len_line(buf, len, 0, &n, &p);
		if (rc == L_MORE)
			return RESP_INCOMPLETE;  /* <= 33 bytes to rescan */
		if (rc != L_OK) {
			*err = rc == L_LONG ? E_MBULK_BIG : E_MBULK_LEN;
			return RESP_ERR;
		}
		/* In Redis's order: a count no server takes, the caller's
		 * limit, then ours. */
		if (n < -1 || n > INT_MAX) {
			*err = E_MBULK_LEN;
			return RESP_ERR;
		}
		if (cmd->lim_args > 0 && n > cmd->lim_args) {
			*err = E_LIM_MBULK;
			return RESP_ERR;
		}
		if (n > RESP_MAX_ARGS) {
			*err = E_MBULK_LEN;
			return RESP_ERR;
		}
		if (n <= 0) {	/* *0 and *-1: a command of no words */
			*used = p;
			return RESP_OK;
		}
	}
	while (cmd->argc < n) {
		if (p >= len)
			goto more;
		if (buf[p] != '$') {
			*err = E_DOLLAR;
			return RESP_ERR;
		}
		rc = len_line(buf, len, p, &bl, &d);
		if (rc == L_MORE)
			goto more;
		if (rc != L_OK) {
			*err = rc == L_LONG ? E_BULK_BIG : E_BULK_LEN;
			return RESP_ERR;
		}
		/* The same order as the count's. */
		if (bl < 0 || bl > RESP_PROTO_MAX_BULK) {
			*err = E_BULK_LEN;
			return RESP_ERR;
		}
		if (cmd->lim_bulk > 0 && bl > cmd->lim_bulk) {
			*err = E_LIM_BULK;
			return RESP_ERR;
		}
		if (bl > (long long)RESP_MAX_BULK) {
			*err = E_BULK_LEN;
			return RESP_ERR;
		}
		size_t l = (size_t)bl;
		/* Resume at this '$': only its length line is read again. */
		if (len - d < l + 2)
			goto more;
		if (buf[d + l] != '\r' || buf[d + l + 1] != '\n') {
			*err = E_CRLF;
			return RESP_ERR;
		}
		if (grow(cmd, n)) {
			*err = E_NOMEM;
			return RESP_ERR;
		}
		cmd->argv[cmd->argc] = buf + d;
		cmd->argl[cmd->argc] = l;
		cmd->argc++;
		p = d + l + 2;
	}
	*used = p;
	return RESP_OK;
more:
	suspend(cmd, R_MBULK, buf, len, p, n);
	return RESP_INCOMPLETE;
}

/* isspace() in the C locale, which is what sdssplitargs() runs under. */
static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	       c == '\r';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Split s[0..n) into cmd->argv the way sdssplitargs() splits a C string.
 * at() reads past the end as NUL, which is how the C string ends, so the
 * logic below mirrors Redis's line for line.
 */
#define at(k) ((k) < n ? s[k] : '\0')

static int
split_inline(struct resp_cmd *cmd, const char *s, size_t n, const char **err)
{
	/* Each decoded byte consumes at least one input byte. */
	if (cmd->scap < n || !cmd->scratch) {
		char *m = realloc(cmd->scratch, n ? n : 1);
		if (!m) {
			*err = E_NOMEM;
			return RESP_ERR;
		}
		cmd->scratch = m;
		cmd->scap = n ? n : 1;
	}
	char *out = cmd->scratch;
	size_t i = 0, o = 0;

	for (;;) {
		while (at(i) && blank(at(i)))
			i++;
		if (!at(i))
			return RESP_OK;
		size_t start = o;
		int inq = 0, insq = 0, done = 0;
		while (!done) {
			char c = at(i);
			if (inq) {
				if (c == '\\' && at(i + 1) == 'x' &&
				    hexval(at(i + 2)) >= 0 &&
				    hexval(at(i + 3)) >= 0) {
					int h = hexval(at(i + 2)) * 16 +
						hexval(at(i + 3));
					out[o++] = (char)h;
					i += 3;
				} else if (c == '\\' && at(i + 1)) {
					i++;
					switch (s[i]) {
					case 'n': out[o++] = '\n'; break;
					case 'r': out[o++] = '\r'; break;
					case 't': out[o++] = '\t'; break;
					case 'b': out[o++] = '\b'; break;
					case 'a': out[o++] = '\a'; break;
					default: out[o++] = s[i]; break;
					}
				} else if (c == '"') {
					if (at(i + 1) && !blank(at(i + 1)))
						goto unbalanced;
					done = 1;
				} else if (!c) {
					goto unbalanced;
				} else {
					out[o++] = c;
				}
			} else if (insq) {
				if (c == '\\' && at(i + 1) == '\'') {
					i++;
					out[o++] = '\'';
				} else if (c == '\'') {
					if (at(i + 1) && !blank(at(i + 1)))
						goto unbalanced;
					done = 1;
				} else if (!c) {
					goto unbalanced;
				} else {
					out[o++] = c;
				}
			} else {
				/* \v and \f are skipped between words but
				 * belong to an unquoted word, as in Redis. */
				switch (c) {
				case ' ': case '\n': case '\r': case '\t':
				case '\0':
					done = 1;
					break;
				case '"':
					inq = 1;
					break;
				case '\'':
					insq = 1;
					break;
				default:
					out[o++] = c;
					break;
				}
			}
			if (at(i))
				i++;
		}
		if (grow(cmd, RESP_MAX_ARGS)) {
			*err = E_NOMEM;
			return RESP_ERR;
		}
		cmd->argv[cmd->argc] = out + start;
		cmd->argl[cmd->argc] = o - start;
		cmd->argc++;
	}
unbalanced:
	*err = E_QUOTES;
	return RESP_ERR;
}

#undef at

static int
parse_inline(struct resp_cmd *cmd, const char *buf, size_t len, size_t *used,
	     const char **err, int resume)
{
	/* A line may hold RESP_MAX_INLINE bytes before its LF; judging only
	 * the first RESP_MAX_INLINE + 1 bytes keeps invariant (2). */
	size_t lim = len < RESP_MAX_INLINE + 1 ? len : RESP_MAX_INLINE + 1;
	size_t from = resume ? cmd->rpos : 0;
	const char *nl = from < lim ? memchr(buf + from, '\n', lim - from)
				    : NULL;
	if (!nl) {
		if (len > RESP_MAX_INLINE) {
			*err = E_INLINE_BIG;
			return RESP_ERR;
		}
		suspend(cmd, R_INLINE, buf, len, len, 0);
		return RESP_INCOMPLETE;
	}
	size_t e = (size_t)(nl - buf);
	*used = e + 1;
	if (e && buf[e - 1] == '\r')
		e--;
	return split_inline(cmd, buf, e, err);
}

int
resp_parse(struct resp_cmd *cmd, const char *buf, size_t len, size_t *used,
	   const char **err)
{
	const char *e = NULL;
	int rc;
	/* Resume only on the very bytes of the last RESP_INCOMPLETE, grown. */
	int state = cmd->rstate != R_NONE && buf == cmd->rbuf &&
		    len >= cmd->rlen ? cmd->rstate : R_NONE;

	cmd->rstate = R_NONE;
	cmd->argc = 0;
	*used = 0;
	if (err)
		*err = NULL;
	if (len == 0)
		return RESP_INCOMPLETE;
	if (buf[0] == '*')
		rc = parse_mbulk(cmd, buf, len, used, &e, state == R_MBULK);
	else
		rc = parse_inline(cmd, buf, len, used, &e, state == R_INLINE);
	if (rc != RESP_OK) {
		/* Partial arguments are for resuming, not for the caller. */
		cmd->argc = 0;
		*used = 0;
	}
	if (rc == RESP_ERR && err)
		*err = e;
	return rc;
}

void
resp_cmd_reset(struct resp_cmd *cmd)
{
	cmd->rstate = R_NONE;
	cmd->argc = 0;
}

void
resp_cmd_free(struct resp_cmd *cmd)
{
	free(cmd->argv);
	free(cmd->argl);
	free(cmd->scratch);
	memset(cmd, 0, sizeof(*cmd));
}

/* ---- replies ---- */

/* Room for n more bytes, or NULL (and oom set) if there is none. */
static char *
reserve(struct resp_buf *b, size_t n)
{
	if (b->oom)
		return NULL;
	if (n > b->cap - b->len) {
		if (n > SIZE_MAX - b->len)
			goto oom;
		size_t need = b->len + n;
		size_t cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		char *p = realloc(b->p, cap);
		if (!p)
			goto oom;
		b->p = p;
		b->cap = cap;
	}
	return b->p + b->len;
oom:
	b->oom = 1;
	return NULL;
}

/* A line "<type><text>\r\n"; a CR or LF in text would end the line early
 * and let the rest be read as another reply, so it becomes a space. */
static void
line(struct resp_buf *b, char type, const char *text, size_t n)
{
	char *w = reserve(b, n + 3);
	if (!w)
		return;
	w[0] = type;
	for (size_t i = 0; i < n; i++)
		w[1 + i] = text[i] == '\r' || text[i] == '\n' ? ' ' : text[i];
	w[n + 1] = '\r';
	w[n + 2] = '\n';
	b->len += n + 3;
}

void
resp_simple(struct resp_buf *b, const char *s)
{
	line(b, '+', s, strlen(s));
}

void
resp_error(struct resp_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {  /* encoding error: still send a well-formed error */
		line(b, '-', "ERR", 3);
		return;
	}
	if ((size_t)n < sizeof(small)) {
		line(b, '-', small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	line(b, '-', big, (size_t)n);
	free(big);
}

static void
number(struct resp_buf *b, char type, long long v)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%lld", v);
	line(b, type, s, (size_t)n);
}

void
resp_int(struct resp_buf *b, long long v)
{
	number(b, ':', v);
}

void
resp_array(struct resp_buf *b, long long n)
{
	number(b, '*', n);
}

void
resp_null(struct resp_buf *b)
{
	line(b, '$', "-1", 2);
}

void
resp_bulk(struct resp_buf *b, const void *p, size_t len)
{
	char h[32];
	int hn = snprintf(h, sizeof(h), "$%zu\r\n", len);
	if (len > SIZE_MAX - (size_t)hn - 2) {
		b->oom = 1;
		return;
	}
	char *w = reserve(b, (size_t)hn + len + 2);
	if (!w)
		return;
	memcpy(w, h, (size_t)hn);
	if (len)
		memcpy(w + hn, p, len);
	w[hn + len] = '\r';
	w[hn + len + 1] = '\n';
	b->len += (size_t)hn + len + 2;
}

void
resp_buf_reset(struct resp_buf *b)
{
	b->len = 0;
	b->oom = 0;
}

void
resp_buf_free(struct resp_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
