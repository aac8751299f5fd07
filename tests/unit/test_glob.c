/*
 * test_glob.c -- kv_glob() (examples/kvstore/glob.c), the glob of KEYS,
 * SCAN MATCH and CONFIG GET, against Redis 7.0's stringmatchlen().
 *
 * Hand vectors pin the quirks one by one (their answers are those of
 * redis-server 7.0.15 on x86-64 glibc: see tests/server/test_glob_redis.py
 * for the same against the real server); a differential check compares
 * kv_glob with a plain recursive matcher written here after Redis's
 * algorithm, on random small inputs; pathological patterns, which made the
 * old recursive kv_glob take seconds or run out of stack, must simply
 * give the right answer.
 *
 * Every pattern and string is copied into a buffer of exactly its length,
 * so that in the asan build any read past either end is caught (Redis
 * itself reads the NUL after its sds strings; kv_glob may not).
 */
#include <stdio.h>
#include <stdlib.h>

#include "nvh_test.h"

#include "examples/kvstore/server.h"

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

static int
match(const char *p, size_t pl, const char *s, size_t sl, int nocase)
{
	char *pb = dup_exact(p, pl), *sb = dup_exact(s, sl);
	int r = kv_glob(pb, pl, sb, sl, nocase);
	free(pb);
	free(sb);
	return r;
}

/* ---- the reference: Redis's recursive algorithm, bounds made explicit ---- */

/* glibc's tolower() in the C locale on a signed char, as Redis calls it. */
static int
ref_lower(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	if (c < -1)
		return c + 256;
	return c;
}

/* Match one non-star element at *p against byte c and step *p, *pl past
 * it. */
static int
ref_one(const char **p, size_t *pl, signed char c, int nc)
{
	const char *q = *p;
	size_t n = *pl;
	int ok = 0, neg;

	if (*q == '?') {
		ok = 1;
	} else if (*q == '[') {
		q++, n--;
		neg = n && *q == '^';
		if (neg)
			q++, n--;
		while (n && *q != ']') {
			if (*q == '\\' && n >= 2) {
				q++, n--;
				ok |= (signed char)*q == c;
			} else if (n >= 3 && q[1] == '-') {
				int a = (signed char)q[0];
				int b = (signed char)q[2], x = c;
				if (b < a) {
					int t = a;
					a = b, b = t;
				}
				if (nc)
					a = ref_lower(a), b = ref_lower(b),
					x = ref_lower(x);
				ok |= a <= x && x <= b;
				q += 2, n -= 2;
			} else if (nc) {
				ok |= ref_lower((signed char)*q) ==
				      ref_lower(c);
			} else {
				ok |= (signed char)*q == c;
			}
			q++, n--;
		}
		if (!n) /* unterminated: stand on the last byte */
			q--, n++;
		ok ^= neg;
	} else {
		if (*q == '\\' && n >= 2)
			q++, n--;
		ok = nc ? ref_lower((signed char)*q) == ref_lower(c) :
			  (signed char)*q == c;
	}
	*p = q + 1;
	*pl = n - 1;
	return ok;
}

static int
ref_glob(const char *p, size_t pl, const char *s, size_t sl, int nc)
{
	while (pl && sl) {
		if (*p == '*') {
			while (pl > 1 && p[1] == '*')
				p++, pl--;
			if (pl == 1)
				return 1;
			/* the rest from every non-empty tail of s */
			for (; sl; s++, sl--)
				if (ref_glob(p + 1, pl - 1, s, sl, nc))
					return 1;
			return 0;
		}
		if (!ref_one(&p, &pl, (signed char)*s, nc))
			return 0;
		s++, sl--;
		if (!sl)
			while (pl && *p == '*')
				p++, pl--;
	}
	return !pl && !sl;
}

/* ---- hand vectors ---- */

struct vec {
	const char *p;
	size_t pl;
	const char *s;
	size_t sl;
	int nocase, want;
};

/* A string literal and its length, NULs included. */
#define S(x) x, (sizeof(x) - 1)
#define V(p, s, want) {S(p), S(s), 0, want}
#define VI(p, s, want) {S(p), S(s), 1, want} /* nocase */

static const struct vec vecs[] = {
	/* empty pattern and string: "" matches only "", nothing else does */
	V("", "", 1),
	V("", "a", 0),
	V("a", "", 0),
	V("*", "", 0),
	V("**", "", 0),
	V("***", "", 0),
	V("?", "", 0),
	V("[^", "", 0),
	V("[", "", 0),
	V("\\", "", 0),
	/* stars */
	V("*", "a", 1),
	V("**", "abc", 1),
	V("*", "\0", 1),
	V("a*", "a", 1),
	V("a**", "a", 1),
	V("a*?", "a", 0),
	V("a*?", "ab", 1),
	V("*a", "a", 1),
	V("*a", "ba", 1),
	V("*a", "ab", 0),
	V("a*b", "ab", 1),
	V("a*b", "axxb", 1),
	V("a*b", "axxbc", 0),
	V("a*b*c", "abbbcbc", 1),
	V("a*b*c", "abbbcb", 0),
	V("*ab*ab", "abab", 1),
	V("*ab*ab", "aabab", 1),
	V("*ab*ab", "aaba", 0),
	V("*?", "x", 1),
	V("*??", "x", 0),
	V("*a*", "bab", 1),
	V("*a*", "bbb", 0),
	V("h*llo", "hllo", 1),
	V("h*llo", "heeeello", 1),
	/* ? */
	V("?", "a", 1),
	V("??", "a", 0),
	V("?", "ab", 0),
	V("h?llo", "hello", 1),
	V("h?llo", "hllo", 0),
	/* sets */
	V("[abc]", "b", 1),
	V("[abc]", "d", 0),
	V("[abc]", "", 0),
	V("[abc]", "ab", 0),
	V("[^abc]", "d", 1),
	V("[^abc]", "a", 0),
	V("[^abc]", "", 0),
	V("h[ae]llo", "hallo", 1),
	V("h[^e]llo", "hello", 0),
	V("[a-c]", "b", 1),
	V("[a-c]", "d", 0),
	V("[c-a]", "b", 1), /* backwards */
	V("[c-a]", "a", 1),
	V("[c-a]", "d", 0),
	V("[^c-a]", "d", 1),
	V("[0-9x]", "x", 1),
	V("[0-9x]", "5", 1),
	V("[0-9x]", "-", 0),
	/* "[a-]": the range a..] (the "]" ends the range, not the set) */
	V("[a-]", "a", 1),
	V("[a-]", "]", 1),
	V("[a-]", "^", 1),
	V("[a-]", "-", 0),
	V("[a-]", "b", 0),
	V("[a-]x", "x", 1), /* still unterminated: "x" is in the set */
	V("[a-]x", "ax", 0),
	V("[a-]]", "a", 1),
	V("[-a]", "-", 1), /* a leading "-" is a member */
	V("[-a]", "a", 1),
	V("[-a]", "b", 0),
	V("[a-b-d]", "-", 1), /* a-b, then "-" and "d" */
	V("[a-b-d]", "c", 0),
	V("[--0]", "/", 1),
	V("[^-]", "-", 0),
	V("[^-]", "a", 1),
	/* "[]" and "[^]": "]" right after "[" closes it */
	V("[]", "a", 0),
	V("[]", "]", 0),
	V("[]]", "]", 0),
	V("[]]", "]]", 0),
	V("[^]", "x", 1),
	V("[^]", "]", 1),
	V("[^]]", "a]", 1),
	V("[^]]", "a", 0),
	/* unterminated sets take the rest of the pattern */
	V("[", "[", 0),
	V("[", "a", 0),
	V("[^", "a", 1),
	V("[^", "^", 1),
	V("[^", "ab", 0),
	V("[abc", "b", 1),
	V("[abc", "[", 0),
	V("[abc", "bc", 0),
	V("[a", "a", 1),
	V("[a*", "*", 1),
	V("[a*", "ab", 0),
	V("[^a", "b", 1),
	V("[^a", "a", 0),
	V("x[", "x[", 0),
	V("x[", "x", 0),
	V("*[", "a[", 0),
	V("*[^", "abc", 1),
	/* escapes in sets */
	V("[\\]]", "]", 1),
	V("[\\]]", "\\", 0),
	V("[\\]", "]", 1), /* unterminated, member "]" */
	V("[\\", "\\", 1), /* a trailing backslash in a set is a member */
	V("[a\\", "\\", 1),
	V("[a\\", "a", 1),
	V("[\\^a]", "^", 1),
	V("[\\^a]", "b", 0),
	V("[\\-a]", "-", 1),
	V("[\\-a]", "b", 0),
	V("[\\a-c]", "b", 0), /* "\a", then "-" and "c" */
	V("[\\a-c]", "-", 1),
	V("[a-\\]", "^", 1), /* the range a..\ (taken raw), then "]" */
	V("[a-\\]", "]", 1),
	V("[a-\\]", "\\", 1),
	V("[a-\\]", "b", 0),
	V("[\\\\]", "\\", 1),
	V("[^\\]]", "]", 0),
	V("[^\\]]", "a", 1),
	/* escapes outside sets */
	V("\\*", "*", 1),
	V("\\*", "a", 0),
	V("\\?", "?", 1),
	V("\\?", "x", 0),
	V("\\[a]", "[a]", 1),
	V("\\[a]", "a", 0),
	V("\\a", "a", 1),
	V("\\\\", "\\", 1),
	V("\\\\*", "\\xyz", 1),
	/* a trailing backslash is a literal backslash */
	V("\\", "\\", 1),
	V("\\", "a", 0),
	V("a\\", "a\\", 1),
	V("a\\", "a", 0),
	V("*\\", "xx\\", 1),
	V("*\\", "xx", 0),
	/* binary: NULs are bytes like any other */
	V("a\0b", "a\0b", 1),
	V("a\0b", "a\0c", 0),
	V("a?b", "a\0b", 1),
	V("*\0", "xx\0", 1),
	V("\0*", "\0", 1),
	V("[\0-\x01]", "\0", 1),
	V("[\0]", "\0", 1),
	V("[^\0]", "\0", 0),
	V("\0", "", 0),
	/* ranges compare signed chars: "\xff" is -1, "\x80" is -128 */
	V("[a-\xff]", "0", 1),
	V("[a-\xff]", "a", 1),
	V("[a-\xff]", "b", 0),
	V("[a-\xff]", "\xe9", 0),
	V("[a-\xff]", "\xff", 1),
	V("[\x80-\xff]", "\xe9", 1),
	V("[\x80-\xff]", "a", 0),
	V("[\x01-\x7f]", "\x80", 0),
	V("[\x80-a]", "\x01", 1),
	V("[\xe9]", "\xe9", 1),
	V("\xe9*", "\xe9\xe9", 1),
	/* nocase: ASCII letters only */
	VI("HELLO", "hello", 1),
	VI("hello", "HELLO", 1),
	V("hello", "HELLO", 0),
	VI("h?L*O", "HeLlo", 1),
	VI("[A-Z]", "q", 1),
	V("[A-Z]", "q", 0),
	VI("[a-z]", "Q", 1),
	VI("[A]", "a", 1),
	VI("[^A]", "a", 0),
	VI("\\A", "a", 1), /* outside a set, an escaped letter folds */
	VI("[\\A]", "a", 0), /* inside one it is compared exactly */
	VI("[\\A]", "A", 1),
	VI("\xc9", "\xe9", 0), /* no Latin-1 folding */
	/* ... and a range's ends fold after they are put in order */
	V("[Z-a]", "_", 1),
	VI("[Z-a]", "_", 0),
	VI("[Z-a]", "a", 0),
	VI("[Z-a]", "Z", 0),
	VI("[a-Z]", "_", 0),
	V("[A-z]", "[", 1),
	VI("[A-z]", "[", 0),
	VI("[A-z]", "Q", 1),
	/* glibc's tolower() gives -128..-2 back as 128..254 */
	V("[\x80-Z]", "Q", 1),
	VI("[\x80-Z]", "q", 0),
	VI("[\x80-Z]", "\x80", 0),
	VI("[\x80-\xfe]", "\xe9", 1),
	VI("[a-\xff]", "0", 1),
	VI("[a-\xff]", "\xe9", 0),
	VI("[\xe9]", "\xe9", 1),
	VI("\xff", "\xff", 1),
};

static void
hand_vectors(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		int got = match(v->p, v->pl, v->s, v->sl, v->nocase);
		int ref = ref_glob(v->p, v->pl, v->s, v->sl, v->nocase);
		if (got != v->want || ref != v->want) {
			print_error("vector %zu: \"%.*s\" vs \"%.*s\"%s: "
				    "kv_glob %d, reference %d, want %d\n", i,
				    (int)v->pl, v->p, (int)v->sl, v->s,
				    v->nocase ? " nocase" : "", got, ref,
				    v->want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- differential: kv_glob against the reference ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void
fill(char *b, size_t n, const char *alpha, size_t an)
{
	for (size_t i = 0; i < n; i++)
		b[i] = alpha[rnd() % an];
}

static long
differ(const char *palpha, size_t pan, const char *salpha, size_t san,
       long cases, long *matches)
{
	char p[12], s[12];
	long bad = 0;
	for (long k = 0; k < cases; k++) {
		size_t pl = rnd() % (sizeof(p) + 1);
		size_t sl = rnd() % (sizeof(s) + 1);
		int nc = rnd() & 1;
		fill(p, pl, palpha, pan);
		fill(s, sl, salpha, san);
		int got = match(p, pl, s, sl, nc);
		int want = ref_glob(p, pl, s, sl, nc);
		*matches += want;
		if (got != want && bad++ < 10)
			print_error("\"%.*s\" vs \"%.*s\"%s: kv_glob %d, "
				    "reference %d\n", (int)pl, p, (int)sl, s,
				    nc ? " nocase" : "", got, want);
	}
	return bad;
}

static void
differential(void **state)
{
	(void)state;
	static const char pat[] = "ab*?[]^-\\";
	static const char str[] = "ab*?[]^-\\AB";
	/* wider: case, NUL and high bytes (signed ranges, glibc folding) */
	static const char wide[] = "aAbZz*?[]^-\\\0\x80\xe9\xff";
	long matches = 0, bad = 0;

	bad += differ(pat, sizeof(pat) - 1, str, sizeof(str) - 1, 200000,
		      &matches);
	bad += differ(wide, sizeof(wide) - 1, wide, sizeof(wide) - 1, 100000,
		      &matches);
	/* few bytes, so that more patterns have a chance to match */
	bad += differ("ab*?*[]", 7, "ab", 2, 50000, &matches);
	print_message("differential: 350000 cases, %ld matches, %ld "
		      "differ\n", matches, bad);
	assert_int_equal(bad, 0);
	assert_true(matches > 10000); /* the inputs do exercise matching */
}

/* ---- pathological inputs must finish with the right answer ---- */

static char *
repeat(const char *unit, size_t ul, size_t times, const char *tail,
       size_t tl, size_t *len)
{
	char *b = malloc(ul * times + tl + 1);
	assert_non_null(b);
	for (size_t i = 0; i < times; i++)
		memcpy(b + i * ul, unit, ul);
	memcpy(b + ul * times, tail, tl);
	*len = ul * times + tl;
	return b;
}

static void
many_stars(void **state)
{
	(void)state;
	static const char pat[] = "*a*a*a*a*a*a*a*a*a*ab";
	const size_t sizes[] = {40, 64 << 10};
	for (int i = 0; i < 2; i++) {
		size_t n;
		char *s = repeat("a", 1, sizes[i], "", 0, &n);
		assert_int_equal(match(S(pat), s, n, 0), 0);
		s[n - 1] = 'b';
		assert_int_equal(match(S(pat), s, n, 0), 1);
		s[n - 1] = 'B';
		assert_int_equal(match(S(pat), s, n, 0), 0);
		assert_int_equal(match(S(pat), s, n, 1), 1);
		free(s);
	}
	/* sets and ? between the stars */
	size_t n;
	char *s = repeat("a", 1, 40, "", 0, &n);
	assert_int_equal(match(S("*[a]*?*[^b]*a*a*a*a*a*a*[b]"), s, n, 0), 0);
	free(s);
}

static void
megabyte_patterns(void **state)
{
	(void)state;
	const size_t mib = 1 << 20;
	size_t n, na = 0, sl;
	char *p = malloc(mib);
	assert_non_null(p);

	/* random '*' and 'a', a star at both ends: an all-'a' string
	 * matches iff it has at least as many bytes as the pattern has 'a's */
	for (size_t i = 0; i < mib; i++)
		p[i] = rnd() & 1 ? 'a' : '*';
	p[0] = p[mib - 1] = '*';
	for (size_t i = 0; i < mib; i++)
		na += p[i] == 'a';
	char *s = repeat("a", 1, na + 1, "b", 1, &sl); /* na + 1 'a's, 'b' */
	assert_int_equal(match(p, mib, s, na, 0), 1);
	assert_int_equal(match(p, mib, s, na - 1, 0), 0);
	assert_int_equal(match(p, mib, s + 1, na + 1, 0), 1); /* ...ab */
	assert_int_equal(match(p, mib, "aaa", 3, 0), 0);
	assert_int_equal(match(p, mib, "", 0, 0), 0);
	p[mib - 1] = 'a'; /* one 'a' more, and it must come last */
	assert_int_equal(match(p, mib, s, na + 1, 0), 1);
	assert_int_equal(match(p, mib, s, na, 0), 0);
	assert_int_equal(match(p, mib, s + 1, na + 1, 0), 0); /* ...ab */
	free(s);

	/* "*a" over and over against the string it needs, and one short */
	free(p);
	p = repeat("*a", 2, mib / 2, "", 0, &n);
	s = repeat("a", 1, mib / 2, "", 0, &sl);
	assert_int_equal(match(p, n, s, sl, 0), 1);
	assert_int_equal(match(p, n, s, sl - 1, 0), 0);
	free(p);
	free(s);

	/* a megabyte of stars, of escapes, one long unterminated set */
	p = repeat("*", 1, mib, "", 0, &n);
	assert_int_equal(match(p, n, "", 0, 0), 0);
	assert_int_equal(match(p, n, "x", 1, 0), 1);
	free(p);
	p = repeat("\\*", 2, mib / 2, "", 0, &n);
	s = repeat("*", 1, mib / 2, "", 0, &sl);
	assert_int_equal(match(p, n, s, sl, 0), 1);
	assert_int_equal(match(p, n, s, sl - 1, 0), 0);
	free(s);
	free(p);
	p = repeat("a", 1, mib, "", 0, &n);
	p[0] = '[';
	assert_int_equal(match(p, n, "a", 1, 0), 1);
	assert_int_equal(match(p, n, "b", 1, 0), 0);
	assert_int_equal(match(p, n, "aa", 2, 0), 0);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hand_vectors),
		cmocka_unit_test(differential),
		cmocka_unit_test(many_stars),
		cmocka_unit_test(megabyte_patterns),
	};
	return cmocka_run_group_tests_name("glob", tests, NULL, NULL);
}
