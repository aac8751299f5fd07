/*
 * size.c -- byte sizes with binary suffixes, for command-line arguments.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "size.h"

int
nvh_parse_size(const char *s, uint64_t *out, char *err, size_t errlen)
{
	const char *p = s;
	uint64_t v = 0;
	if (!s || !isdigit((unsigned char)*p)) {
		snprintf(err, errlen, "size \"%s\": expected a number, "
			 "optionally followed by K, M, G or T", s ? s : "");
		return -1;
	}
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			goto overflow;
		v = v * 10 + d;
	}
	unsigned shift = 0;
	switch (toupper((unsigned char)*p)) {
	case 'K': shift = 10; p++; break;
	case 'M': shift = 20; p++; break;
	case 'G': shift = 30; p++; break;
	case 'T': shift = 40; p++; break;
	default: break;
	}
	if (shift && (strcasecmp(p, "iB") == 0 || strcasecmp(p, "B") == 0))
		p += strlen(p);
	else if (!shift && strcasecmp(p, "B") == 0)
		p++;
	if (*p) {
		snprintf(err, errlen, "size \"%s\": unknown suffix \"%s\" "
			 "(use K, M, G or T)", s, p);
		return -1;
	}
	if (shift && v > (UINT64_MAX >> shift))
		goto overflow;
	*out = v << shift;
	return 0;
overflow:
	snprintf(err, errlen, "size \"%s\": too large", s);
	return -1;
}

void
nvh_format_size(uint64_t n, char *buf, size_t len)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned u = 0;
	uint64_t whole = n;
	while (whole >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		whole /= 1024;
		u++;
	}
	uint64_t scale = (uint64_t)1 << (10 * u);
	if (n % scale == 0)
		snprintf(buf, len, "%llu %s", (unsigned long long)(n / scale),
			 unit[u]);
	else
		snprintf(buf, len, "%.1f %s", (double)n / (double)scale,
			 unit[u]);
}
