/*
 * glob_cli.c -- kv_glob() over stdin, for tests/server/test_glob_redis.py.
 *
 * Input, all binary safe: the key count, then each key, then patterns up to
 * the end of input; every key and pattern is its length in decimal, a
 * newline, and that many bytes:
 *
 *   N\n  (LEN\n BYTES){N}  (LEN\n BYTES)*
 *
 * For each pattern one line goes out: the indices of the keys it matches
 * (case-sensitive, as KEYS does), ascending, separated by spaces.  Exit
 * status 0, or 1 with a message on malformed input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples/kvstore/server.h"

static void
die(const char *what)
{
	fprintf(stderr, "glob_cli: %s\n", what);
	exit(1);
}

/* One length-prefixed item into a fresh exact-size buffer; 0 at a clean
 * end of input. */
static int
item(char **b, size_t *n)
{
	unsigned long long len;
	int c = getchar();
	if (c == EOF)
		return 0;
	ungetc(c, stdin);
	if (scanf("%llu", &len) != 1 || getchar() != '\n')
		die("bad length");
	*b = malloc(len ? len : 1);
	if (!*b)
		die("out of memory");
	if (fread(*b, 1, len, stdin) != len)
		die("short item");
	*n = len;
	return 1;
}

int
main(void)
{
	unsigned long long nk;
	char *p;
	size_t pl;

	if (scanf("%llu", &nk) != 1 || getchar() != '\n')
		die("bad key count");
	char **k = calloc(nk ? nk : 1, sizeof(*k));
	size_t *kl = calloc(nk ? nk : 1, sizeof(*kl));
	if (!k || !kl)
		die("out of memory");
	for (size_t i = 0; i < nk; i++)
		if (!item(&k[i], &kl[i]))
			die("missing key");
	while (item(&p, &pl)) {
		const char *sep = "";
		for (size_t i = 0; i < nk; i++)
			if (kv_glob(p, pl, k[i], kl[i], 0)) {
				printf("%s%zu", sep, i);
				sep = " ";
			}
		putchar('\n');
		free(p);
	}
	for (size_t i = 0; i < nk; i++)
		free(k[i]);
	free(k);
	free(kl);
	return fflush(stdout) ? 1 : 0;
}
