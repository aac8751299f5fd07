/*
 * glob.c -- Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET).
 *
 * The answers are those of redis-server 7.0's stringmatchlen() for every
 * input, quirks included:
 *
 *   - the empty string matches only the empty pattern ("*" and "**" do
 *     not match it; KEYS and SCAN in Redis special-case a lone "*"
 *     before they get here);
 *   - "[" opens a set up to the next unescaped "]"; an unterminated set
 *     takes the rest of the pattern, "[" alone matches nothing and "[^"
 *     any one byte; "[]" matches nothing and "[^]" any byte;
 *   - inside a set "\x" is x, compared exactly even when nocase; "a-z"
 *     is a range whose ends are taken raw (so "[a-]" is the range a..]
 *     and "[a-\]" the range a..\) and may come backwards;
 *   - range ends and the byte are compared as signed chars, as Redis
 *     does on x86 and most other targets ("[a-\xff]" is -1..97, which
 *     holds "0" and not "\xe9");
 *   - nocase folds as glibc's tolower() does in the C locale (see fold()),
 *     and folds a range's ends after putting them in order, so "[Z-a]" is
 *     empty and "[A-z]" loses "[\]^_`";
 *   - a trailing backslash is a literal backslash.
 *
 * Every element but "*" takes exactly one byte, so the classic greedy
 * match is exact: let the last star seen take as little as it can, and on
 * a mismatch let it take one byte more and retry from just after it.  An
 * earlier star never needs to take more, since that could only make the
 * later one start later.  Time is O(pattern length * string length) at
 * worst, there is no recursion and nothing is allocated.
 */
#include <stddef.h>

#include "server.h"

/*
 * tolower() as Redis gets it: glibc in the C locale (Redis sets only
 * LC_COLLATE), called with a signed char.  A-Z fold to a-z; the negative
 * values -128..-2 come back as their unsigned byte, 128..254, and -1 (EOF)
 * as -1.  That only shows in a nocase range with a high byte at an end or
 * as the byte: "[\x80-Z]" is -128..90 but nocase 128..122, empty.  Bytes
 * are handled as signed chars throughout, whatever char is here.
 */
static int
fold(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c + ('a' - 'A');
	return c < -1 ? c + 256 : c;
}

/* Does the set at p[i] ("[" at p[i]) accept byte c?  *end gets the index
 * just past the set. */
static int
in_set(const char *p, size_t pl, size_t i, signed char c, int nocase,
       size_t *end)
{
	int neg, hit = 0;

	i++;
	neg = i < pl && p[i] == '^';
	i += neg;
	for (;;) {
		if (i >= pl) { /* unterminated: the set is the rest */
			*end = pl;
			break;
		}
		if (p[i] == '\\' && i + 1 < pl) {
			hit |= (signed char)p[i + 1] == c;
			i += 2;
		} else if (p[i] == ']') {
			*end = i + 1;
			break;
		} else if (i + 2 < pl && p[i + 1] == '-') {
			int lo = (signed char)p[i], hi = (signed char)p[i + 2];
			int x = c;
			if (lo > hi) {
				int t = lo;
				lo = hi;
				hi = t;
			}
			if (nocase) { /* after the swap, as in Redis */
				lo = fold(lo);
				hi = fold(hi);
				x = fold(x);
			}
			hit |= x >= lo && x <= hi;
			i += 3;
		} else {
			hit |= nocase ? fold((signed char)p[i]) == fold(c) :
				(signed char)p[i] == c;
			i++;
		}
	}
	return hit != neg;
}

/* Does the one-byte element at p[i] (anything but "*") accept c?  *end
 * gets the index just past it. */
static int
element(const char *p, size_t pl, size_t i, signed char c, int nocase,
	size_t *end)
{
	switch (p[i]) {
	case '?':
		*end = i + 1;
		return 1;
	case '[':
		return in_set(p, pl, i, c, nocase, end);
	case '\\':
		/* the byte after it, or a trailing backslash itself */
		if (i + 1 < pl)
			i++;
		/* fall through */
	default:
		*end = i + 1;
		return nocase ? fold((signed char)p[i]) == fold(c) :
				(signed char)p[i] == c;
	}
}

int
kv_glob(const char *p, size_t pl, const char *s, size_t sl, int nocase)
{
	size_t pi = 0, si = 0, next;
	size_t star_p = 0, star_s = 0; /* after the last star; where it ended */
	int star = 0;

	if (!sl)
		return !pl;
	while (si < sl) {
		if (pi < pl && p[pi] == '*') {
			while (pi < pl && p[pi] == '*')
				pi++;
			if (pi == pl)
				return 1;
			star = 1;
			star_p = pi;
			star_s = si;
			continue;
		}
		if (pi < pl && element(p, pl, pi, s[si], nocase, &next)) {
			pi = next;
			si++;
			continue;
		}
		if (!star)
			return 0;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < pl && p[pi] == '*')
		pi++;
	return pi == pl;
}
