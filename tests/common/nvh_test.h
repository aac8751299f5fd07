/*
 * nvh_test.h -- fixtures and domain asserts shared by the cmocka suites.
 */
#ifndef NVH_TEST_H
#define NVH_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <nvheap.h>

/* A fresh directory for this process's files, removed at exit. */
const char *nvt_dir(void);
/* nvt_dir()/name, in one of a few rotating static buffers. */
const char *nvt_path(const char *name);
/* Remove a file or directory tree; ignores errors. */
void nvt_rm_rf(const char *path);
/* Run fn(arg) in a forked child; returns its exit status, or 128+signal. */
int nvt_in_child(int (*fn)(void *), void *arg);
/* Read/write raw bytes of a file (for corrupting pools behind the API). */
void nvt_pread(const char *path, uint64_t off, void *buf, size_t len);
void nvt_pwrite(const char *path, uint64_t off, const void *buf, size_t len);
uint64_t nvt_file_size(const char *path);
/* A fresh object of `size` bytes anchored in the root slot (whatever was
 * there is freed first): scratch memory tests may write freely. */
void *nvt_scratch(nvh_pool *pool, size_t size);
/* nvh_check finds the pool damaged (-NVH_ECORRUPT) and its report
 * mentions every non-NULL needle given (up to two); else fail. */
void nvt_check_says(nvh_pool *pool, const char *needle, const char *also);
/* nvh_stats of the pool, else fail. */
struct nvh_stats nvt_stats(nvh_pool *pool);
/* Two pools' (or one pool's at two moments) space figures are equal:
 * objects, bytes allocated and free, arenas free/small/large, per class
 * arenas and objects; else fail, naming every field that differs. */
void nvt_same_space(const struct nvh_stats *got, const struct nvh_stats *want,
		    const char *what);

/*
 * A pool at user scale: `n` typed, reference-counted objects (64-byte
 * blocks holding their index and a check word), linked from the root by
 * `threads` threads in transactions of 64 allocations each, so records
 * and chunks land in several lanes.  n <= 8 * 32768, threads <= 8.
 * nvt_populated_ok checks every one of them is there and intact (and
 * registers the types again: call it on a read-write pool).
 */
void nvt_populate(nvh_pool *pool, size_t n, unsigned threads);
void nvt_populated_ok(nvh_pool *pool, size_t n, unsigned threads);
/* n more objects in a bag of their own, which nvt_populated_ok ignores. */
void nvt_populate_more(nvh_pool *pool, size_t n);

/*
 * The checkpoint line of a closed pool, behind the library's back
 * (docs/format.md: two slots {seq, check} at heap offset 256).
 * nvt_ckpt_write stores a valid slot; nvt_ckpt_read returns the seq in
 * use (the valid slot with the higher seq, or the legacy form's single
 * word; fails if none) and its slot.
 */
#define NVT_CKPT_OFF (8192u + 256u)
void nvt_ckpt_write(const char *path, int slot, uint64_t seq);
uint64_t nvt_ckpt_read(const char *path, int *slot);

/* Recompute the checksum of the record at `rec` (heap/log/layout.h) after
 * changing it: a crafted record nvheap must refuse on its contents. */
void nvt_rec_reseal(void *rec);

/* expr returns 0, else fail with nvh_errormsg(). */
#define assert_nvh_ok(expr)                                                  \
	do {                                                                 \
		int rc_ = (expr);                                            \
		if (rc_ != 0)                                                \
			fail_msg("%s returned %d: %s", #expr, rc_,           \
				 nvh_errormsg());                            \
	} while (0)

/* expr returns non-NULL, else fail with nvh_errormsg(). */
#define assert_nvh_ptr(expr)                                                 \
	({                                                                   \
		__typeof__(expr) p_ = (expr);                                \
		if (!p_)                                                     \
			fail_msg("%s failed (errno %d): %s", #expr, errno,   \
				 nvh_errormsg());                            \
		p_;                                                          \
	})

/* The last error message contains `needle`. */
#define assert_errmsg_has(needle)                                            \
	do {                                                                 \
		if (!strstr(nvh_errormsg(), (needle)))                       \
			fail_msg("error message \"%s\" lacks \"%s\"",        \
				 nvh_errormsg(), (needle));                  \
	} while (0)

/* A pointer-returning call fails with errno == code. */
#define assert_nvh_null_errno(expr, code)                                    \
	do {                                                                 \
		errno = 0;                                                   \
		void *q_ = (void *)(expr);                                   \
		int e_ = errno;                                              \
		if (q_)                                                      \
			fail_msg("%s succeeded, expected errno %d", #expr,   \
				 (code));                                    \
		if (e_ != (code))                                            \
			fail_msg("%s: errno %d, expected %d (%s)", #expr,    \
				 e_, (code), nvh_errormsg());                \
	} while (0)

#endif
