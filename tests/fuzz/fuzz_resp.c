/*
 * fuzz_resp.c -- libFuzzer target: the kvstore RESP2 request parser.
 *
 * Input: one byte choosing a split point, then a byte stream as a client
 * would send it.  The stream is parsed four ways:
 *   whole    all of it at once, commands consumed while RESP_OK;
 *   advance  the bytes up to the split arrive first, the rest later, in
 *            one buffer, parsing from just past the last command (so
 *            resp_parse resumes where it stopped);
 *   compact  the same split, but the unparsed bytes are moved back to the
 *            start of the buffer after each command (so new bytes appear
 *            at an address that was parsed before);
 *   moved    the same split, but every call gets a fresh exact-size copy of
 *            what has arrived (so resp_parse restarts, and ASan catches any
 *            read past what has arrived).
 * Properties, beyond "no crash, no sanitizer report": all four yield the
 * same commands (argc, argument bytes, bytes consumed) and the same final
 * status and message; RESP_OK consumes 0 < used <= len bytes and every
 * multibulk argument lies inside them; other results consume nothing and
 * leave argc 0; RESP_ERR always has a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples/kvstore/resp.h"

#define CHECK(c)                                                             \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "property failed: %s\n", #c);        \
			abort();                                             \
		}                                                            \
	} while (0)

/* A transcript: what the stream parsed to, as bytes. */
struct log {
	uint8_t *p;
	size_t len, cap;
};

static void
log_add(struct log *l, const void *p, size_t n)
{
	if (n > l->cap - l->len) {
		l->cap = (l->len + n) * 2;
		l->p = realloc(l->p, l->cap);
		CHECK(l->p != NULL);
	}
	memcpy(l->p + l->len, p, n);
	l->len += n;
}

/* One resp_parse call on b[0..n) with the properties every call has;
 * an RESP_OK command goes to the log. */
static int
parse(struct resp_cmd *c, const char *b, size_t n, size_t *used,
      struct log *l)
{
	const char *err = NULL;
	int rc = resp_parse(c, b, n, used, &err);
	if (rc != RESP_OK) {
		CHECK(rc == RESP_INCOMPLETE || rc == RESP_ERR);
		CHECK(*used == 0 && c->argc == 0);
		CHECK((rc == RESP_ERR) == (err != NULL));
		if (rc == RESP_ERR) {
			CHECK(err[0] != 0);
			log_add(l, &rc, sizeof(rc));
			log_add(l, err, strlen(err) + 1);
		}
		return rc;
	}
	CHECK(err == NULL);
	CHECK(*used > 0 && *used <= n);
	CHECK(c->argc >= 0 && c->argc <= c->cap &&
	      c->cap <= RESP_MAX_ARGS);
	/* Inline arguments are decoded from the line: never more bytes. */
	size_t total = 0;
	for (int i = 0; i < c->argc; i++) {
		if (b[0] == '*')
			CHECK(c->argv[i] >= b &&
			      c->argl[i] <= *used &&
			      (size_t)(c->argv[i] - b) <= *used - c->argl[i]);
		CHECK(c->argl[i] <= RESP_MAX_BULK);
		total += c->argl[i];
	}
	if (b[0] != '*')
		CHECK(total <= *used);
	log_add(l, used, sizeof(*used));
	log_add(l, &c->argc, sizeof(c->argc));
	for (int i = 0; i < c->argc; i++) {
		log_add(l, &c->argl[i], sizeof(c->argl[i]));
		log_add(l, c->argv[i], c->argl[i]);
	}
	return rc;
}

enum { ADVANCE, COMPACT, MOVED };

/* Feed s[0..n): s[0..k) arrives first, then the rest. */
static void
feed(struct resp_cmd *c, const char *s, size_t n, size_t k, int how,
     struct log *l)
{
	size_t off = 0, avail = k, used;
	char *conn = malloc(n ? n : 1);	/* COMPACT's connection buffer */
	CHECK(conn != NULL);
	memcpy(conn, s, k);
	for (;;) {
		const char *b = how == COMPACT ? conn : s + off;
		char *copy = NULL;
		if (how == MOVED) {
			copy = malloc(avail - off ? avail - off : 1);
			CHECK(copy != NULL);
			memcpy(copy, s + off, avail - off);
			b = copy;
		}
		int rc = parse(c, b, avail - off, &used, l);
		free(copy);
		if (rc == RESP_OK) {
			off += used;
			memmove(conn, conn + used, avail - off);
			continue;
		}
		if (rc == RESP_ERR)
			break;
		if (avail == n) {
			log_add(l, &rc, sizeof(rc));
			break;
		}
		memcpy(conn + avail - off, s + avail, n - avail);
		avail = n;
	}
	free(conn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	size_t k = (size_t)data[0] * (n + 1) / 256;

	struct resp_cmd c = {0};
	struct log whole = {0}, split[3] = {{0}};
	feed(&c, s, n, n, ADVANCE, &whole);
	/* One cmd throughout, as a server reuses its connection's: a
	 * finished or failed parse must leave nothing behind. */
	for (int how = ADVANCE; how <= MOVED; how++) {
		feed(&c, s, n, k, how, &split[how]);
		CHECK(split[how].len == whole.len &&
		      memcmp(split[how].p, whole.p, whole.len) == 0);
		free(split[how].p);
	}
	resp_cmd_free(&c);
	free(whole.p);
	return 0;
}
