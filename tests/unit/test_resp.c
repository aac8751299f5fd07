/*
 * test_resp.c -- the RESP2 request parser and reply builder of the kvstore
 * server (examples/kvstore/resp.c).
 *
 * Inputs are copied into buffers of exactly their length, so that in the
 * asan build any read past the bytes handed to resp_parse() is caught.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "nvh_test.h"

#include "examples/kvstore/resp.h"

/* A string literal and its length, NULs included. */
#define S(x) x, (sizeof(x) - 1)

/* An exact-size copy of p[0..n) (heap, so ASan guards its end). */
static char *
dup_exact(const char *p, size_t n)
{
	char *b = malloc(n ? n : 1);
	assert_non_null(b);
	if (n)
		memcpy(b, p, n);
	return b;
}

/* Parse one command from an exact-size copy; *buf gets the copy (free it
 * after looking at argv). */
static int
parse1(struct resp_cmd *c, const char *in, size_t n, char **buf,
       size_t *used, const char **err)
{
	*buf = dup_exact(in, n);
	return resp_parse(c, *buf, n, used, err);
}

static void
assert_arg(const struct resp_cmd *c, int i, const char *s, size_t n)
{
	assert_true(i < c->argc);
	if (c->argl[i] != n || memcmp(c->argv[i], s, n) != 0)
		fail_msg("argv[%d] is \"%.*s\" (%zu bytes), expected \"%.*s\" "
			 "(%zu)", i, (int)c->argl[i], c->argv[i], c->argl[i],
			 (int)n, s, n);
}

/* The caller's limits (lim_args, lim_bulk) every helper below gives its
 * fresh resp_cmd: none, unless a test sets them (and clears them after). */
static struct {
	long long args, bulk;
} lim;

static void
limited(struct resp_cmd *c)
{
	c->lim_args = lim.args;
	c->lim_bulk = lim.bulk;
}

/* ---- transcripts: everything a stream parses to, as bytes ---- */

struct log {
	char *p;
	size_t len, cap;
};

static void
log_add(struct log *l, const void *p, size_t n)
{
	if (l->len + n > l->cap) {
		l->cap = (l->len + n) * 2;
		l->p = realloc(l->p, l->cap);
		assert_non_null(l->p);
	}
	memcpy(l->p + l->len, p, n);
	l->len += n;
}

static void
log_cmd(struct log *l, const struct resp_cmd *c, size_t used)
{
	log_add(l, &used, sizeof(used));
	log_add(l, &c->argc, sizeof(c->argc));
	for (int i = 0; i < c->argc; i++) {
		log_add(l, &c->argl[i], sizeof(c->argl[i]));
		log_add(l, c->argv[i], c->argl[i]);
	}
}

static void
log_end(struct log *l, int rc, const char *err)
{
	log_add(l, &rc, sizeof(rc));
	if (err)
		log_add(l, err, strlen(err) + 1);
}

/* The whole stream at once. */
static struct log
whole(const char *in, size_t n)
{
	struct log l = {0};
	struct resp_cmd c = {0};
	char *buf = dup_exact(in, n);
	size_t off = 0, used;
	limited(&c);
	const char *err;
	int rc;
	while ((rc = resp_parse(&c, buf + off, n - off, &used, &err)) ==
	       RESP_OK) {
		assert_true(used > 0 && used <= n - off);
		log_cmd(&l, &c, used);
		off += used;
	}
	assert_int_equal(used, 0);
	assert_int_equal(c.argc, 0);
	log_end(&l, rc, rc == RESP_ERR ? err : NULL);
	resp_cmd_free(&c);
	free(buf);
	return l;
}

/*
 * The stream arriving `step` bytes at a time, read the ways a server may:
 *   ADVANCE  into one buffer, parsing from just past the last command
 *            (the same address on every RESP_INCOMPLETE: parsing resumes);
 *   COMPACT  into one buffer whose unparsed bytes are moved back to its
 *            start after each command (different bytes at a reused
 *            address: nothing of the previous command may linger);
 *   MOVED    into a fresh exact-size copy per call (parsing restarts, and
 *            reading past what has arrived is caught by ASan).
 */
enum { ADVANCE, COMPACT, MOVED };

static struct log
trickle(const char *in, size_t n, size_t step, int how)
{
	struct log l = {0};
	struct resp_cmd c = {0};
	char *all = dup_exact(in, n);
	limited(&c);
	char *conn = malloc(n ? n : 1);	/* COMPACT's connection buffer */
	assert_non_null(conn);
	size_t off = 0, avail = step < n ? step : n, used;
	const char *err;
	memcpy(conn, all, avail);
	for (;;) {
		char *b = how == MOVED ? dup_exact(all + off, avail - off)
			: how == COMPACT ? conn : all + off;
		int rc = resp_parse(&c, b, avail - off, &used, &err);
		if (rc == RESP_OK) {
			assert_true(used > 0 && used <= avail - off);
			log_cmd(&l, &c, used);
			off += used;
			memmove(conn, conn + used, avail - off);
		}
		if (how == MOVED)
			free(b);
		if (rc == RESP_ERR || (rc == RESP_INCOMPLETE && avail == n)) {
			assert_int_equal(used, 0);
			log_end(&l, rc, rc == RESP_ERR ? err : NULL);
			break;
		}
		if (rc == RESP_INCOMPLETE) {
			assert_int_equal(used, 0);
			size_t more = n - avail > step ? step : n - avail;
			memcpy(conn + avail - off, all + avail, more);
			avail += more;
		}
	}
	resp_cmd_free(&c);
	free(conn);
	free(all);
	return l;
}

static void
assert_same_log(struct log *a, struct log *b, const char *what, size_t step)
{
	if (a->len != b->len || memcmp(a->p, b->p, a->len) != 0)
		fail_msg("%s feeding by %zu differs from whole feeding", what,
			 step);
}

static void
assert_split_invariant(const char *in, size_t n)
{
	static const size_t steps[] = {1, 2, 3, 5, 7, 16, 64, 1000};
	struct log w = whole(in, n);
	static const char *how[] = {"advancing", "compacting", "moved"};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		for (int h = ADVANCE; h <= MOVED; h++) {
			struct log t = trickle(in, n, steps[i], h);
			assert_same_log(&w, &t, how[h], steps[i]);
			free(t.p);
		}
	}
	free(w.p);
}

/* ---- tests ---- */

static void
multibulk_binary_arguments(void **state)
{
	(void)state;
	static const char in[] = "*4\r\n$3\r\nSET\r\n$8\r\nk\0\r\nx\r\ny\r\n"
				 "$0\r\n\r\n$2\r\n\r\n\r\n";
	struct resp_cmd c = {0};
	char *buf;
	size_t used;
	const char *err = "unset";
	assert_int_equal(parse1(&c, S(in), &buf, &used, &err), RESP_OK);
	assert_null(err);
	assert_int_equal(used, sizeof(in) - 1);
	assert_int_equal(c.argc, 4);
	assert_arg(&c, 0, S("SET"));
	assert_arg(&c, 1, S("k\0\r\nx\r\ny"));
	assert_arg(&c, 2, S(""));
	assert_arg(&c, 3, S("\r\n"));
	/* No copies: the arguments are the caller's bytes. */
	assert_ptr_equal(c.argv[0], buf + 8);
	assert_ptr_equal(c.argv[1], buf + 17);
	assert_ptr_equal(c.argv[2], buf + 31);
	assert_ptr_equal(c.argv[3], buf + 37);
	assert_true(resp_argeq(&c, 0, "set"));
	free(buf);
	resp_cmd_free(&c);
	assert_null(c.argv);
	assert_int_equal(c.cap, 0);
}

static void
pipelined_commands(void **state)
{
	(void)state;
	static const char in[] = "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
				 "PING\r\n"
				 "*0\r\n"
				 "\r\n"
				 "*-1\r\n"
				 "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$2\r\n42\r\n"
				 "*1\r\n$4\r\nPI";
	struct resp_cmd c = {0};
	char *buf = dup_exact(S(in));
	size_t n = sizeof(in) - 1, off = 0, used;
	const char *err;
	static const int argcs[] = {2, 1, 0, 0, 0, 3};
	static const size_t useds[] = {20, 6, 4, 2, 5, 28};

	for (int k = 0; k < 6; k++) {
		assert_int_equal(resp_parse(&c, buf + off, n - off, &used,
					    &err), RESP_OK);
		assert_int_equal(c.argc, argcs[k]);
		assert_int_equal(used, useds[k]);
		if (k == 0) {
			assert_arg(&c, 0, S("GET"));
			assert_arg(&c, 1, S("a"));
		} else if (k == 1) {
			assert_arg(&c, 0, S("PING"));
		} else if (k == 5) {
			assert_arg(&c, 0, S("SET"));
			assert_arg(&c, 1, S("b"));
			assert_arg(&c, 2, S("42"));
		}
		off += used;
	}
	assert_int_equal(resp_parse(&c, buf + off, n - off, &used, &err),
			 RESP_INCOMPLETE);
	assert_int_equal(used, 0);
	assert_int_equal(c.argc, 0);
	free(buf);
	resp_cmd_free(&c);
}

static const struct {
	const char *in;
	size_t n;
} valid[] = {
	{S("*1\r\n$4\r\nPING\r\n")},
	{S("*3\r\n$3\r\nSET\r\n$5\r\nk\0\r\nx\r\n$0\r\n\r\n")},
	{S("*0\r\n")},
	{S("*-1\r\n")},
	{S("*2\r\n$10\r\n0123456789\r\n$1\r\n\n\r\n")},
	{S("PING\r\n")},
	{S("PING\n")},
	{S("\n")},
	{S("set \"a b\\x41\\n\" 'it\\'s'\r\n")},
	{S("  get\t\tk  \r\n")},
};

static void
every_prefix_is_incomplete(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof(valid) / sizeof(valid[0]); v++) {
		const char *in = valid[v].in;
		size_t n = valid[v].n;
		for (size_t k = 0; k < n; k++) {
			struct resp_cmd c = {0};
			char *buf;
			size_t used = 99;
			const char *err;
			int rc = parse1(&c, in, k, &buf, &used, &err);
			if (rc != RESP_INCOMPLETE)
				fail_msg("valid[%zu]: prefix of %zu bytes "
					 "returned %d", v, k, rc);
			assert_int_equal(used, 0);
			assert_int_equal(c.argc, 0);
			free(buf);
			resp_cmd_free(&c);
		}
		struct resp_cmd c = {0};
		char *buf;
		size_t used;
		const char *err;
		assert_int_equal(parse1(&c, in, n, &buf, &used, &err),
				 RESP_OK);
		assert_int_equal(used, n);
		free(buf);
		resp_cmd_free(&c);
	}
}

static void
split_feeding_matches_whole(void **state)
{
	(void)state;
	char stream[4096];
	size_t n = 0;
	for (size_t v = 0; v < sizeof(valid) / sizeof(valid[0]); v++) {
		memcpy(stream + n, valid[v].in, valid[v].n);
		n += valid[v].n;
	}
	/* Ending cleanly, mid-command, and in each kind of error. */
	assert_split_invariant(stream, n);
	assert_split_invariant(stream, n - 3);
	static const char *tails[] = {
		"*2\r\n$1\r\na\r\n+x\r\n", "*1\r\n$3\r\nabcde",
		"*1\r\n$-3\r\n", "*1x\r\n", "*1\n", "\"unbalanced\r\n",
		"*1\r\n$123456789012345678901234567890123\r\n",
	};
	for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
		size_t tn = strlen(tails[t]);
		memcpy(stream + n, tails[t], tn);
		assert_split_invariant(stream, n + tn);
	}

	/* Many small arguments in one command, after a long one. */
	size_t cap = 200000;
	char *s = malloc(cap);
	assert_non_null(s);
	size_t m = (size_t)snprintf(s, cap, "*20001\r\n$5000\r\n");
	memset(s + m, 'v', 5000);
	m += 5000;
	memcpy(s + m, "\r\n", 2);
	m += 2;
	for (int i = 0; i < 20000; i++)
		m += (size_t)snprintf(s + m, cap - m, "$1\r\n%c\r\n",
				      'a' + i % 26);
	struct log w = whole(s, m);
	struct log t = trickle(s, m, 1, ADVANCE);
	assert_same_log(&w, &t, "advancing", 1);
	free(t.p);
	t = trickle(s, m, 1, COMPACT);
	assert_same_log(&w, &t, "compacting", 1);
	free(t.p);
	t = trickle(s, m, 4093, MOVED);
	assert_same_log(&w, &t, "moved", 4093);
	free(t.p);
	free(w.p);
	free(s);
}

static const struct {
	const char *in;
	size_t n;
	int argc;
	struct {
		const char *s;
		size_t n;
	} a[4];
} inl[] = {
	{S("SET k v\r\n"), 3, {{S("SET")}, {S("k")}, {S("v")}}},
	{S("  a \t b  \n"), 2, {{S("a")}, {S("b")}}},
	{S("a\rb\n"), 2, {{S("a")}, {S("b")}}},
	{S("\"a b\" 'c d'\n"), 2, {{S("a b")}, {S("c d")}}},
	{S("\"\\x41\\x4a\\x00\\xfF\"\n"), 1, {{S("AJ\0\xff")}}},
	{S("\"\\n\\r\\t\\b\\a\\\"\\\\\\q\"\n"), 1,
	 {{S("\n\r\t\b\a\"\\q")}}},
	{S("\"\\x4\" \"\\xg0\"\n"), 2, {{S("x4")}, {S("xg0")}}},
	{S("'it\\'s' '\\n'\n"), 2, {{S("it's")}, {S("\\n")}}},
	{S("\"\" ''\n"), 2, {{S("")}, {S("")}}},
	{S("a\"b c\"\n"), 1, {{S("ab c")}}},
	{S("x'y z'\n"), 1, {{S("xy z")}}},
	{S("\"a\"\tb\n"), 2, {{S("a")}, {S("b")}}},
	{S("\"a\"\x0b" "b\n"), 2, {{S("a")}, {S("b")}}},
	/* \v belongs to an unquoted word; NUL ends the line (as in Redis). */
	{S("a\x0b" "b c\n"), 2, {{S("a\x0b" "b")}, {S("c")}}},
	{S("a\0b c\n"), 1, {{S("a")}}},
	{S("\"a\r\"\r\n"), 1, {{S("a\r")}}},
	{S("\r\n"), 0, {{0}}},
	{S("   \t \r\n"), 0, {{0}}},
	{S("\0ignored\n"), 0, {{0}}},
};

static void
inline_commands(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(inl) / sizeof(inl[0]); k++) {
		struct resp_cmd c = {0};
		char *buf;
		size_t used;
		const char *err;
		int rc = parse1(&c, inl[k].in, inl[k].n, &buf, &used, &err);
		if (rc != RESP_OK)
			fail_msg("inl[%zu]: returned %d (%s)", k, rc,
				 rc == RESP_ERR ? err : "");
		assert_int_equal(used, inl[k].n);
		if (c.argc != inl[k].argc)
			fail_msg("inl[%zu]: argc %d, expected %d", k, c.argc,
				 inl[k].argc);
		for (int i = 0; i < c.argc; i++)
			assert_arg(&c, i, inl[k].a[i].s, inl[k].a[i].n);
		free(buf);
		resp_cmd_free(&c);
	}
	/* The scratch buffer is reused and argv follows it. */
	struct resp_cmd c = {0};
	char *buf;
	size_t used;
	const char *err;
	assert_int_equal(parse1(&c, S("x\n"), &buf, &used, &err), RESP_OK);
	free(buf);
	assert_int_equal(parse1(&c, S("\"hello world\" yes\n"), &buf, &used,
				&err), RESP_OK);
	assert_arg(&c, 0, S("hello world"));
	assert_arg(&c, 1, S("yes"));
	free(buf);
	resp_cmd_free(&c);
}

/* in[0..n) fails with exactly msg, consuming nothing. */
static void
assert_err(const char *in, size_t n, const char *msg)
{
	struct resp_cmd c = {0};
	char *buf;
	size_t used = 99;
	const char *err = NULL;
	limited(&c);
	int rc = parse1(&c, in, n, &buf, &used, &err);
	if (rc != RESP_ERR)
		fail_msg("\"%.*s\": returned %d, expected RESP_ERR (%s)",
			 (int)n, in, rc, msg);
	assert_non_null(err);
	if (strcmp(err, msg) != 0)
		fail_msg("\"%.*s\": \"%s\", expected \"%s\"", (int)n, in, err,
			 msg);
	assert_int_equal(used, 0);
	assert_int_equal(c.argc, 0);
	free(buf);
	resp_cmd_free(&c);
}

static void
assert_status(const char *in, size_t n, int want, size_t want_used)
{
	struct resp_cmd c = {0};
	char *buf;
	size_t used;
	const char *err = NULL;
	limited(&c);
	int rc = parse1(&c, in, n, &buf, &used, &err);
	if (rc != want)
		fail_msg("%zu bytes \"%.20s...\": returned %d (%s), expected "
			 "%d", n, in, rc, err ? err : "", want);
	assert_int_equal(used, want_used);
	free(buf);
	resp_cmd_free(&c);
}


#define MB_LEN "Protocol error: invalid multibulk length"
#define MB_BIG "Protocol error: too big mbulk count string"
#define B_LEN "Protocol error: invalid bulk length"
#define B_BIG "Protocol error: too big bulk count string"
#define DOLLAR "Protocol error: expected '$'"
#define CRLF "Protocol error: bulk not followed by CRLF"
#define IN_BIG "Protocol error: too big inline request"
#define QUOTES "Protocol error: unbalanced quotes in request"

static void
protocol_errors(void **state)
{
	(void)state;
	/* Argument count: negative other than -1. */
	assert_err(S("*-2\r\n"), MB_LEN);
	assert_err(S("*-9223372036854775808\r\n"), MB_LEN);
	/* Argument count over RESP_MAX_ARGS, or over a long long. */
	assert_err(S("*1048577\r\n"), MB_LEN);
	assert_err(S("*9223372036854775808\r\n"), MB_LEN);
	/* Argument count not a (strict) number. */
	assert_err(S("*\r\n"), MB_LEN);
	assert_err(S("*abc\r\n"), MB_LEN);
	assert_err(S("*01\r\n"), MB_LEN);
	assert_err(S("*+1\r\n"), MB_LEN);
	assert_err(S("* 1\r\n"), MB_LEN);
	assert_err(S("*1 \r\n"), MB_LEN);
	/* Count line ending other than CR LF. */
	assert_err(S("*1\rX"), MB_LEN);
	assert_err(S("*1\n"), MB_LEN);
	/* Count line too long: 33 bytes without an end. */
	assert_err(S("*123456789012345678901234567890123"), MB_BIG);
	assert_err(S("*00000000000000000000000000000001\r\n"), MB_BIG);
	/* '$' expected, something else found. */
	assert_err(S("*1\r\n:1\r\n"), DOLLAR);
	assert_err(S("*2\r\n$1\r\na\r\nX"), DOLLAR);
	assert_err(S("*1\r\n\r\n"), DOLLAR);
	/* Bulk length negative, over RESP_MAX_BULK, or not a number. */
	assert_err(S("*1\r\n$-1\r\n"), B_LEN);
	assert_err(S("*1\r\n$-5\r\n"), B_LEN);
	assert_err(S("*1\r\n$67109889\r\n"), B_LEN);
	assert_err(S("*1\r\n$99999999999999999999\r\n"), B_LEN);
	assert_err(S("*1\r\n$\r\n"), B_LEN);
	assert_err(S("*1\r\n$x\r\n"), B_LEN);
	assert_err(S("*1\r\n$03\r\nabc\r\n"), B_LEN);
	assert_err(S("*1\r\n$3\n"), B_LEN);
	assert_err(S("*1\r\n$3\rabc"), B_LEN);
	/* Bulk length line too long. */
	assert_err(S("*1\r\n$123456789012345678901234567890123"), B_BIG);
	/* Bulk not followed by CR LF. */
	assert_err(S("*1\r\n$3\r\nabcXY"), CRLF);
	assert_err(S("*1\r\n$3\r\nabc\rX"), CRLF);
	assert_err(S("*1\r\n$3\r\nabc\n\r"), CRLF);
	assert_err(S("*1\r\n$0\r\nab"), CRLF);
	/* Inline: unbalanced quotes, a closing quote glued to a word. */
	assert_err(S("\"abc\n"), QUOTES);
	assert_err(S("'abc\n"), QUOTES);
	assert_err(S("\"a\"b\n"), QUOTES);
	assert_err(S("'a'b\n"), QUOTES);
	assert_err(S("\"a\\\"\n"), QUOTES);
	assert_err(S("\"a\0\"\n"), QUOTES);
	assert_err(S("set k \"v\n"), QUOTES);
}

static void
limits_at_the_boundary(void **state)
{
	(void)state;
	char line[40];

	/* RESP_MAX_ARGS arguments may be announced; one more may not. */
	assert_status(S("*1048576\r\n"), RESP_INCOMPLETE, 0);
	/* A bulk of RESP_MAX_BULK bytes may be announced; one more may not. */
	snprintf(line, sizeof(line), "*1\r\n$%u\r\n", RESP_MAX_BULK);
	assert_status(line, strlen(line), RESP_INCOMPLETE, 0);
	snprintf(line, sizeof(line), "*1\r\n$%u\r\n", RESP_MAX_BULK + 1);
	assert_err(line, strlen(line), B_LEN);
	/* Length lines: 32 bytes without an end may still end; 33 not. */
	assert_status(S("*1234567890123456789012345678901"), RESP_INCOMPLETE,
		      0);
	assert_status(S("*1\r\n$1234567890123456789012345678901"),
		      RESP_INCOMPLETE, 0);
	assert_status(S("*1\r"), RESP_INCOMPLETE, 0);
	assert_status(S("*1\r\n$"), RESP_INCOMPLETE, 0);
	assert_status(S("*1\r\n$3\r\nabc\r"), RESP_INCOMPLETE, 0);
	/* Largest numbers that parse and still are refused as too big. */
	assert_err(S("*9223372036854775807\r\n"), MB_LEN);
	assert_err(S("*1\r\n$9223372036854775807\r\n"), B_LEN);

	/* Inline: a line of RESP_MAX_INLINE bytes before the LF is fine,
	 * one byte more is refused, with or without its LF. */
	size_t max = RESP_MAX_INLINE;
	char *big = malloc(max + 2);
	assert_non_null(big);
	memset(big, 'a', max + 2);
	assert_status(big, max, RESP_INCOMPLETE, 0);
	assert_err(big, max + 1, IN_BIG);
	big[max] = '\n';
	assert_status(big, max + 1, RESP_OK, max + 1);
	big[max - 1] = '\r';
	assert_status(big, max + 1, RESP_OK, max + 1);
	big[max - 1] = 'a';
	big[max] = 'a';
	big[max + 1] = '\n';
	assert_err(big, max + 2, IN_BIG);
	free(big);
}

#define LIM_MB "Protocol error: unauthenticated multibulk length"
#define LIM_B "Protocol error: unauthenticated bulk length"

/* Append "$len\r\n" + len copies of ch + "\r\n" to s at *m. */
static void
put_bulk(char *s, size_t *m, size_t len, char ch)
{
	*m += (size_t)sprintf(s + *m, "$%zu\r\n", len);
	memset(s + *m, ch, len);
	*m += len;
	memcpy(s + *m, "\r\n", 2);
	*m += 2;
}

/*
 * The caller's limits (Redis's for a client that has not authenticated:
 * 10 arguments, bulks of 16384 bytes), judged in Redis's order: a count
 * or length no server takes is invalid first, then the caller's limit,
 * then the fixed ones.  From the length line alone, with nothing
 * allocated, and whatever way the bytes arrive.
 */
static void
caller_limits(void **state)
{
	(void)state;
	lim.args = 10;
	lim.bulk = 16384;
	assert_status(S("*10\r\n"), RESP_INCOMPLETE, 0);
	assert_err(S("*11\r\n"), LIM_MB);
	assert_err(S("*2000000\r\n"), LIM_MB);   /* over RESP_MAX_ARGS too */
	assert_err(S("*2147483647\r\n"), LIM_MB);
	assert_err(S("*2147483648\r\n"), MB_LEN);  /* over INT_MAX */
	assert_err(S("*-2\r\n"), MB_LEN);
	assert_status(S("*0\r\n"), RESP_OK, 4);
	assert_status(S("*1\r\n$16384\r\n"), RESP_INCOMPLETE, 0);
	assert_err(S("*1\r\n$16385\r\n"), LIM_B);
	assert_err(S("*2\r\n$3\r\nGET\r\n$100000000\r\n"), LIM_B);
	assert_err(S("*1\r\n$536870912\r\n"), LIM_B);
	assert_err(S("*1\r\n$536870913\r\n"), B_LEN); /* over Redis's */
	assert_err(S("*1\r\n$-1\r\n"), B_LEN);
	assert_err(S("*1\r\n$x\r\n"), B_LEN);

	/* At the limits: ten arguments of 16384 bytes are a command; the
	 * same with one more argument or byte is refused, whatever way it
	 * is split into reads. */
	size_t cap = 11 * (16385 + 16) + 64, m = 0;
	char *s = malloc(cap);
	assert_non_null(s);
	m += (size_t)sprintf(s, "*10\r\n");
	for (int i = 0; i < 10; i++)
		put_bulk(s, &m, 16384, (char)('a' + i));
	struct resp_cmd c = {0};
	size_t used;
	const char *err;
	limited(&c);
	assert_int_equal(resp_parse(&c, s, m, &used, &err), RESP_OK);
	assert_int_equal(used, m);
	assert_int_equal(c.argc, 10);
	assert_int_equal(c.argl[9], 16384);
	assert_split_invariant(s, m);
	m = 0;
	m += (size_t)sprintf(s, "*2\r\n");
	put_bulk(s, &m, 3, 'x');
	put_bulk(s, &m, 16385, 'y');
	assert_split_invariant(s, m);
	m = (size_t)sprintf(s, "*1\r\n$1\r\na\r\n*11\r\n$1\r\nb\r\n");
	assert_split_invariant(s, m);

	/* Refused before anything is allocated. */
	resp_cmd_free(&c);
	limited(&c);
	assert_int_equal(resp_parse(&c, "*11\r\n", 5, &used, &err), RESP_ERR);
	assert_null(c.argv);

	/* Inline commands are bounded by RESP_MAX_INLINE only, as in Redis. */
	assert_status(S("a b c d e f g h i j k l\r\n"), RESP_OK, 25);

	/* The limits may change between commands (AUTH): the next command is
	 * judged by the new ones. */
	m = (size_t)sprintf(s, "*1\r\n$1\r\na\r\n*11\r\n");
	assert_int_equal(resp_parse(&c, s, m, &used, &err), RESP_OK);
	assert_int_equal(used, 11);
	c.lim_args = c.lim_bulk = 0;
	assert_int_equal(resp_parse(&c, s + used, m - used, &used, &err),
			 RESP_INCOMPLETE);
	resp_cmd_free(&c);
	free(s);
	lim.args = lim.bulk = 0;
}

static void
huge_declarations_do_not_allocate(void **state)
{
	(void)state;
	struct resp_cmd c = {0};
	char *buf;
	size_t used;
	const char *err;

	/* Refused from the length line alone, with nothing allocated. */
	assert_int_equal(parse1(&c, S("*2000000\r\n"), &buf, &used, &err),
			 RESP_ERR);
	assert_string_equal(err, MB_LEN);
	assert_null(c.argv);
	assert_int_equal(c.cap, 0);
	free(buf);
	assert_int_equal(parse1(&c, S("*1\r\n$99999999999\r\n"), &buf, &used,
				&err), RESP_ERR);
	assert_string_equal(err, B_LEN);
	assert_null(c.argv);
	free(buf);
	/* Accepted counts and lengths are promises, not allocations. */
	assert_int_equal(parse1(&c, S("*1048576\r\n$1\r\na\r\n$1\r\nb\r\n"),
				&buf, &used, &err), RESP_INCOMPLETE);
	assert_true(c.cap <= 8);
	free(buf);
	resp_cmd_free(&c);
	assert_int_equal(parse1(&c, S("*1\r\n$67108864\r\nabc"), &buf, &used,
				&err), RESP_INCOMPLETE);
	assert_null(c.argv);
	free(buf);
	resp_cmd_free(&c);

	/* argv grows with the arguments present: at most twice their count,
	 * and never past the declared count. */
	int nargs = 100000;
	size_t cap = (size_t)nargs * 8 + 32;
	char *s = malloc(cap);
	assert_non_null(s);
	size_t m = (size_t)snprintf(s, cap, "*%d\r\n", nargs);
	for (int i = 0; i < nargs; i++)
		m += (size_t)snprintf(s + m, cap - m, "$1\r\n%c\r\n",
				      'a' + i % 26);
	assert_int_equal(resp_parse(&c, s, m, &used, &err), RESP_OK);
	assert_int_equal(used, m);
	assert_int_equal(c.argc, nargs);
	assert_int_equal(c.cap, nargs);
	assert_arg(&c, nargs - 1, S("d"));	/* 99999 % 26 == 3 */
	assert_int_equal(resp_parse(&c, s, m / 2, &used, &err),
			 RESP_INCOMPLETE);
	assert_true(c.cap <= nargs);
	resp_cmd_free(&c);
	assert_int_equal(resp_parse(&c, s, m / 2, &used, &err),
			 RESP_INCOMPLETE);
	assert_true(c.cap >= nargs / 2 && c.cap <= nargs);
	resp_cmd_free(&c);
	free(s);
}

static void
resume_follows_the_bytes(void **state)
{
	(void)state;
	static const char a[] = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
	/* Same length, different layout: a stale resume point shows. */
	static const char b[] = "*2\r\n$4\r\nECHO\r\n$1\r\nz\r\n";
	struct resp_cmd c = {0};
	char buf[sizeof(a)];
	size_t used;
	const char *err;

	/* Stopped mid-command, then continued on the same bytes: the parsed
	 * arguments are kept, not re-read. */
	memcpy(buf, a, sizeof(a));
	assert_int_equal(resp_parse(&c, buf, 16, &used, &err),
			 RESP_INCOMPLETE);
	assert_int_equal(c.argc, 0);
	assert_int_equal(c.rpos, 13);
	assert_int_equal(c.rargc, 1);
	assert_int_equal(resp_parse(&c, buf, sizeof(a) - 1, &used, &err),
			 RESP_OK);
	assert_arg(&c, 0, S("GET"));
	assert_arg(&c, 1, S("key"));

	/* A finished command leaves nothing behind: the next one may be
	 * moved to the same address (a compacting server buffer). */
	memcpy(buf, b, sizeof(b));
	assert_int_equal(resp_parse(&c, buf, sizeof(b) - 1, &used, &err),
			 RESP_OK);
	assert_arg(&c, 0, S("ECHO"));
	assert_arg(&c, 1, S("z"));
	memcpy(buf, a, sizeof(a));

	/* Other bytes elsewhere: parsed from scratch. */
	char *other = dup_exact(S(b));
	assert_int_equal(resp_parse(&c, buf, 16, &used, &err),
			 RESP_INCOMPLETE);
	assert_int_equal(resp_parse(&c, other, sizeof(b) - 1, &used, &err),
			 RESP_OK);
	assert_arg(&c, 0, S("ECHO"));
	free(other);

	/* Fewer bytes at the same address: parsed from scratch. */
	assert_int_equal(resp_parse(&c, buf, 16, &used, &err),
			 RESP_INCOMPLETE);
	assert_int_equal(resp_parse(&c, buf, 6, &used, &err),
			 RESP_INCOMPLETE);
	assert_int_equal(c.rstate, 1 /* R_MBULK */);
	assert_int_equal(c.rargc, 0);

	/* Different bytes at the same address need resp_cmd_reset(). */
	assert_int_equal(resp_parse(&c, buf, 16, &used, &err),
			 RESP_INCOMPLETE);
	resp_cmd_reset(&c);
	memcpy(buf, b, sizeof(b));
	assert_int_equal(resp_parse(&c, buf, sizeof(b) - 1, &used, &err),
			 RESP_OK);
	assert_arg(&c, 0, S("ECHO"));
	assert_arg(&c, 1, S("z"));

	/* An inline line's newline scan resumes too. */
	memcpy(buf, "PING foo\r\n", 11);
	assert_int_equal(resp_parse(&c, buf, 5, &used, &err),
			 RESP_INCOMPLETE);
	assert_int_equal(c.rpos, 5);
	assert_int_equal(resp_parse(&c, buf, 10, &used, &err), RESP_OK);
	assert_int_equal(used, 10);
	assert_arg(&c, 1, S("foo"));
	resp_cmd_free(&c);
}

static void
assert_buf(const struct resp_buf *b, const char *want, size_t n)
{
	assert_false(b->oom);
	if (b->len != n || memcmp(b->p, want, n) != 0)
		fail_msg("reply is \"%.*s\" (%zu bytes), expected \"%.*s\" "
			 "(%zu)", (int)b->len, b->p, b->len, (int)n, want, n);
}

static void
replies_are_exact_bytes(void **state)
{
	(void)state;
	struct resp_buf b = {0};
	static const char want[] =
		"+OK\r\n"
		"+a b c\r\n"
		"-ERR unknown command 'FOO', with args beginning with: \r\n"
		"-WRONGTYPE Operation against a key\r\n"
		"-ERR a  b\r\n"
		":0\r\n"
		":-9223372036854775808\r\n"
		":9223372036854775807\r\n"
		"$5\r\nhello\r\n"
		"$4\r\n\0\r\n\xff\r\n"
		"$0\r\n\r\n"
		"$-1\r\n"
		"*3\r\n"
		"*-1\r\n"
		"*0\r\n";

	resp_simple(&b, "OK");
	resp_simple(&b, "a\rb\nc");
	resp_error(&b, "ERR unknown command '%s', with args beginning with: ",
		   "FOO");
	resp_error(&b, "WRONGTYPE %s", "Operation against a key");
	resp_error(&b, "ERR a\r\nb");
	resp_int(&b, 0);
	resp_int(&b, LLONG_MIN);
	resp_int(&b, LLONG_MAX);
	resp_bulk(&b, "hello", 5);
	resp_bulk(&b, "\0\r\n\xff", 4);
	resp_bulk(&b, NULL, 0);
	resp_null(&b);
	resp_array(&b, 3);
	resp_array(&b, -1);
	resp_array(&b, 0);
	assert_buf(&b, S(want));

	/* Reset keeps the memory; growth keeps what was written. */
	char *p = b.p;
	size_t cap = b.cap;
	resp_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.p, p);
	assert_int_equal(b.cap, cap);
	resp_int(&b, 42);
	assert_buf(&b, S(":42\r\n"));

	size_t n = 3 << 20;
	char *v = malloc(n);
	assert_non_null(v);
	memset(v, 'z', n);
	resp_bulk(&b, v, n);
	assert_false(b.oom);
	assert_int_equal(b.len, 5 + 10 + n + 2);
	assert_memory_equal(b.p, ":42\r\n$3145728\r\n", 15);
	assert_memory_equal(b.p + 15, v, n);
	assert_memory_equal(b.p + 15 + n, "\r\n", 2);
	free(v);

	/* A long error message (past resp_error's stack buffer). */
	resp_buf_reset(&b);
	char msg[1000];
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = 0;
	msg[500] = '\n';
	resp_error(&b, "ERR %s", msg);
	assert_false(b.oom);
	assert_int_equal(b.len, 1 + 4 + 999 + 2);
	assert_memory_equal(b.p, "-ERR mmm", 8);
	assert_int_equal(b.p[5 + 500], ' ');
	assert_memory_equal(b.p + b.len - 3, "m\r\n", 3);

	resp_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.cap, 0);
	/* The replies parse back as RESP (a request of bulks is a reply). */
	resp_array(&b, 2);
	resp_bulk(&b, "GET", 3);
	resp_bulk(&b, "k\r\n", 3);
	struct resp_cmd c = {0};
	size_t used;
	const char *err;
	assert_int_equal(resp_parse(&c, b.p, b.len, &used, &err), RESP_OK);
	assert_int_equal(used, b.len);
	assert_arg(&c, 1, S("k\r\n"));
	resp_cmd_free(&c);
	resp_buf_free(&b);
}

static void
assert_ll(const char *s, int want_rc, long long want)
{
	long long v = 12345;
	int rc = resp_strtoll(s, strlen(s), &v);
	if (rc != want_rc)
		fail_msg("resp_strtoll(\"%s\") returned %d, expected %d", s,
			 rc, want_rc);
	if (rc == 0 && v != want)
		fail_msg("resp_strtoll(\"%s\") = %lld, expected %lld", s, v,
			 want);
	if (rc != 0 && v != 12345)
		fail_msg("resp_strtoll(\"%s\") failed but wrote %lld", s, v);
}

static void
strtoll_is_strict(void **state)
{
	(void)state;
	assert_ll("0", 0, 0);
	assert_ll("1", 0, 1);
	assert_ll("-1", 0, -1);
	assert_ll("10", 0, 10);
	assert_ll("9223372036854775807", 0, LLONG_MAX);
	assert_ll("-9223372036854775808", 0, LLONG_MIN);
	assert_ll("9223372036854775808", -1, 0);
	assert_ll("-9223372036854775809", -1, 0);
	assert_ll("18446744073709551616", -1, 0);
	assert_ll("99999999999999999999999", -1, 0);
	assert_ll("", -1, 0);
	assert_ll("-", -1, 0);
	assert_ll("+1", -1, 0);
	assert_ll(" 1", -1, 0);
	assert_ll("1 ", -1, 0);
	assert_ll("1x", -1, 0);
	assert_ll("0x10", -1, 0);
	/* As Redis's string2ll: no leading zeros, no negative zero. */
	assert_ll("01", -1, 0);
	assert_ll("00", -1, 0);
	assert_ll("-0", -1, 0);
	assert_ll("-01", -1, 0);
	assert_ll("1.5", -1, 0);
	/* Binary safe: the length, not a NUL, ends the number. */
	long long v;
	assert_int_equal(resp_strtoll("12\0" "3", 4, &v), -1);
	assert_int_equal(resp_strtoll("123", 2, &v), 0);
	assert_int_equal(v, 12);
}

static void
argeq_ignores_ascii_case(void **state)
{
	(void)state;
	struct resp_cmd c = {0};
	char *buf;
	size_t used;
	const char *err;
	assert_int_equal(parse1(&c, S("*3\r\n$3\r\nsEt\r\n$2\r\nG\0\r\n"
				      "$4\r\n\xc9T\xc9Z\r\n"), &buf, &used,
				&err), RESP_OK);
	assert_true(resp_argeq(&c, 0, "SET"));
	assert_true(resp_argeq(&c, 0, "set"));
	assert_false(resp_argeq(&c, 0, "SE"));
	assert_false(resp_argeq(&c, 0, "SETX"));
	assert_false(resp_argeq(&c, 1, "G"));
	assert_false(resp_argeq(&c, 1, "GE"));
	assert_false(resp_argeq(&c, 2, "\xe9t\xe9z"));	/* ASCII only */
	assert_true(resp_argeq(&c, 2, "\xc9t\xc9z"));
	assert_false(resp_argeq(&c, 3, "x"));
	assert_false(resp_argeq(&c, -1, "x"));
	free(buf);
	resp_cmd_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(multibulk_binary_arguments),
		cmocka_unit_test(pipelined_commands),
		cmocka_unit_test(every_prefix_is_incomplete),
		cmocka_unit_test(split_feeding_matches_whole),
		cmocka_unit_test(inline_commands),
		cmocka_unit_test(protocol_errors),
		cmocka_unit_test(limits_at_the_boundary),
		cmocka_unit_test(caller_limits),
		cmocka_unit_test(huge_declarations_do_not_allocate),
		cmocka_unit_test(resume_follows_the_bytes),
		cmocka_unit_test(replies_are_exact_bytes),
		cmocka_unit_test(strtoll_is_strict),
		cmocka_unit_test(argeq_ignores_ascii_case),
	};
	return cmocka_run_group_tests_name("resp", tests, NULL, NULL);
}
