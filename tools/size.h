/*
 * size.h -- parsing and printing byte sizes for the nvheap tool.
 */
#ifndef NVH_TOOLS_SIZE_H
#define NVH_TOOLS_SIZE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse "4096", "64K", "8M", "2G", "1T" (binary multiples; a trailing "B"
 * or "iB" and lower case are accepted: "64KiB", "8mb").  Returns 0 and
 * stores the value, or -1 with a message in err on syntax errors and
 * overflow.
 */
int nvh_parse_size(const char *s, uint64_t *out, char *err, size_t errlen);

/* "64 MiB", "1.5 GiB", "4096 B". */
void nvh_format_size(uint64_t n, char *buf, size_t len);

#endif
