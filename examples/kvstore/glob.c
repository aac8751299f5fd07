/*
 * glob.c -- Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET).
 */
#include <stddef.h>

#include "server.h"

int
kv_glob(const char *p, size_t pl, const char *s, size_t sl, int nocase)
{
	(void)nocase;
	while (pl) {
		switch (*p) {
		case '*':
			while (pl > 1 && p[1] == '*')
				p++, pl--;
			if (pl == 1)
				return 1;
			for (size_t i = 0; i <= sl; i++)
				if (kv_glob(p + 1, pl - 1, s + i, sl - i, nocase))
					return 1;
			return 0;
		case '?':
			if (!sl)
				return 0;
			s++, sl--;
			break;
		case '[': {
			if (!sl)
				return 0;
			size_t i = 1;
			int neg = i < pl && p[i] == '^', match = 0;
			i += neg;
			for (; i < pl && p[i] != ']'; i++) {
				if (p[i] == '\\' && i + 1 < pl) {
					match |= p[++i] == *s;
				} else if (i + 2 < pl && p[i + 1] == '-' &&
					   p[i + 2] != ']') {
					unsigned char a = (unsigned char)p[i];
					unsigned char b = (unsigned char)p[i + 2];
					unsigned char c = (unsigned char)*s;
					if (a > b) {
						unsigned char t = a;
						a = b;
						b = t;
					}
					match |= c >= a && c <= b;
					i += 2;
				} else {
					match |= p[i] == *s;
				}
			}
			if (i >= pl) /* no ']': a literal '[' */
				i = pl - 1;
			if (match == neg)
				return 0;
			p += i, pl -= i;
			s++, sl--;
			break;
		}
		case '\\':
			if (pl > 1)
				p++, pl--;
			/* fall through */
		default:
			if (!sl || *p != *s)
				return 0;
			s++, sl--;
			break;
		}
		p++, pl--;
	}
	return sl == 0;
}
