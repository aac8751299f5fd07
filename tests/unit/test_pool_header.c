/*
 * test_pool_header.c -- what an open trusts of a pool file: refusal of bad
 * files (missing, directories, empty, truncated, foreign, unreadable),
 * validation of every header field in one copy and in both, the newer copy
 * winning, updates writing the stale copy first, and the heap header's
 * offsets.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvh_test.h"

#include "heap/checksum.h"
#include "heap/pool.h"

#include "pool_test.h"

static void
reseal(struct nvh_pool_hdr *h)
{
	h->checksum = nvh_checksum(h, HDR_CSUM_LEN);
}

/* ---- bad files ---- */

static void
missing_paths(void **state)
{
	(void)state;
	assert_nvh_null_errno(nvh_open(nvt_path("nope.pool"), "x", NULL),
			      ENOENT);
	assert_errmsg_has("nope.pool");
	const char *p = nvt_path("no/such/dir/x.pool");
	assert_nvh_null_errno(nvh_create(p, "x", SIZE, NULL), ENOENT);
	assert_errmsg_has("no/such/dir");
}

static void
directory(void **state)
{
	(void)state;
	const char *d = nvt_path("adir");
	assert_int_equal(mkdir(d, 0755), 0);
	assert_nvh_null_errno(nvh_open(d, "x", NULL), EISDIR);
	assert_errmsg_has("directory");
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	assert_nvh_null_errno(nvh_open(d, "x", &ro), EISDIR);
	assert_nvh_null_errno(nvh_create(d, "x", SIZE, NULL), EEXIST);
}

static void
empty_and_tiny_files(void **state)
{
	(void)state;
	const char *p = nvt_path("empty.pool");
	int fd = open(p, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_nvh_null_errno(nvh_open(p, "x", NULL), NVH_ENOTPOOL);
	assert_errmsg_has("empty");
	assert_int_equal(truncate(p, 100), 0);
	assert_nvh_null_errno(nvh_open(p, "x", NULL), NVH_ENOTPOOL);
	assert_errmsg_has("too small");
}

static void
truncated_file(void **state)
{
	(void)state;
	const char *p = fresh_pool("trunc.pool", "t");
	assert_int_equal(truncate(p, SIZE / 2), 0);
	assert_nvh_null_errno(nvh_open(p, "t", NULL), NVH_ECORRUPT);
	assert_errmsg_has("pool_size");
	assert_errmsg_has("truncated");
}

static void
foreign_file(void **state)
{
	(void)state;
	const char *p = nvt_path("foreign.bin");
	int fd = open(p, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	char junk[16384];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 17);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	assert_nvh_null_errno(nvh_open(p, "x", NULL), NVH_ENOTPOOL);
	assert_errmsg_has("not an nvheap pool");
	assert_errmsg_has("magic");
}

struct perm_case {
	const char *path;
	mode_t mode;
	unsigned flags;
	int want; /* errno, or 0 for success */
};

static int
try_open(void *arg)
{
	const struct perm_case *c = arg;
	if (geteuid() == 0) {
		/* root ignores file modes: drop to an unprivileged user */
		struct passwd *pw = getpwnam("nobody");
		uid_t uid = pw ? pw->pw_uid : 65534;
		gid_t gid = pw ? pw->pw_gid : 65534;
		if (setgid(gid) != 0 || setuid(uid) != 0)
			return 10;
	}
	struct nvh_opts o = {.flags = c->flags};
	errno = 0;
	nvh_pool *pool = nvh_open(c->path, "perm", &o);
	if (c->want == 0)
		return pool ? (nvh_close(pool) ? 3 : 0) : 4;
	if (pool)
		return 5;
	if (errno != c->want)
		return 6;
	return strstr(nvh_errormsg(), "Permission denied") ? 0 : 7;
}

static void
permissions(void **state)
{
	(void)state;
	const char *p = fresh_pool("perm.pool", "perm");
	struct perm_case cases[] = {
		{p, 0000, 0, EACCES},
		{p, 0000, NVH_OPEN_RDONLY, EACCES},
		{p, 0444, 0, EACCES},
		{p, 0444, NVH_OPEN_RDONLY, 0},
		{p, 0222, NVH_OPEN_RDONLY, EACCES},
		{p, 0666, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(chmod(p, cases[i].mode), 0);
		int rc = nvt_in_child(try_open, &cases[i]);
		if (rc)
			fail_msg("case %zu (mode %03o, flags %u): child "
				 "returned %d", i, cases[i].mode,
				 cases[i].flags, rc);
	}
}

/* ---- header fields ---- */

struct field_case {
	const char *field;  /* the name the message must contain */
	int code;           /* errno when both copies carry the damage */
	void (*damage)(struct nvh_pool_hdr *h);
};

static void d_magic(struct nvh_pool_hdr *h) { h->magic[0] = 'X'; }
static void d_version(struct nvh_pool_hdr *h) { h->format_version = 7; }
static void d_hdr_size(struct nvh_pool_hdr *h) { h->hdr_size = 512; }
static void d_checksum(struct nvh_pool_hdr *h) { h->checksum ^= 1; }
static void d_uuid(struct nvh_pool_hdr *h) { memset(h->uuid, 0, 16); }
static void d_layout(struct nvh_pool_hdr *h) { memset(h->layout, 'a', 64); }
static void d_layout_tail(struct nvh_pool_hdr *h) { h->layout[60] = 'z'; }
static void d_pool_size(struct nvh_pool_hdr *h) { h->pool_size += 4096; }
static void d_pool_size_small(struct nvh_pool_hdr *h) { h->pool_size = 4096; }
static void d_heap_offset(struct nvh_pool_hdr *h) { h->heap_offset = 4096; }
static void d_heap_offset_huge(struct nvh_pool_hdr *h) { h->heap_offset = ~0ull; }
static void d_heap_size(struct nvh_pool_hdr *h) { h->heap_size = SIZE; }
static void d_heap_size_wrap(struct nvh_pool_hdr *h) { h->heap_size = ~0ull << 12; }
static void d_features(struct nvh_pool_hdr *h) { h->features = 1ull << 40; }
static void d_seq(struct nvh_pool_hdr *h) { h->seq = 0; }
static void d_generation(struct nvh_pool_hdr *h) { h->run_generation = 0; }
/* found by fuzz_open: a copy at 2^64-1 opened, the open wrapped it to 0,
 * and the next open refused the pool */
static void d_generation_max(struct nvh_pool_hdr *h) { h->run_generation = ~0ull; }
static void d_clean(struct nvh_pool_hdr *h) { h->clean_shutdown = 5; }
static void d_reserved(struct nvh_pool_hdr *h) { h->reserved[40] = 1; }

static const struct field_case fields[] = {
	{"magic", NVH_ENOTPOOL, d_magic},
	{"format_version", NVH_EVERSION, d_version},
	{"hdr_size", NVH_ECORRUPT, d_hdr_size},
	{"checksum", NVH_ECORRUPT, d_checksum},
	{"uuid", NVH_ECORRUPT, d_uuid},
	{"layout", NVH_ECORRUPT, d_layout},
	{"layout", NVH_ECORRUPT, d_layout_tail},
	{"pool_size", NVH_ECORRUPT, d_pool_size},
	{"pool_size", NVH_ECORRUPT, d_pool_size_small},
	{"heap_offset", NVH_ECORRUPT, d_heap_offset},
	{"heap_offset", NVH_ECORRUPT, d_heap_offset_huge},
	{"heap_size", NVH_ECORRUPT, d_heap_size},
	{"heap_size", NVH_ECORRUPT, d_heap_size_wrap},
	{"features", NVH_ECORRUPT, d_features},
	{"seq", NVH_ECORRUPT, d_seq},
	{"run_generation", NVH_ECORRUPT, d_generation},
	{"run_generation", NVH_ECORRUPT, d_generation_max},
	{"clean_shutdown", NVH_ECORRUPT, d_clean},
	{"reserved", NVH_ECORRUPT, d_reserved},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Damage the field in the given copies; reseal unless the damage is the
 * checksum itself (so validation reaches the field). */
static void
damage(const char *p, const struct field_case *f, int copy_a, int copy_b,
       int reseal_it)
{
	for (int c = 0; c < 2; c++) {
		if (!(c ? copy_b : copy_a))
			continue;
		struct nvh_pool_hdr h;
		read_hdr(p, c, &h);
		f->damage(&h);
		if (reseal_it && f->damage != d_checksum)
			reseal(&h);
		write_hdr(p, c, &h);
	}
}

static void
field_damage_in_both_copies(void **state)
{
	(void)state;
	for (size_t i = 0; i < NFIELDS; i++) {
		const char *p = fresh_pool("field.pool", "fields");
		damage(p, &fields[i], 1, 1, 1);
		errno = 0;
		nvh_pool *pool = nvh_open(p, "fields", NULL);
		if (pool)
			fail_msg("damaged %s in both copies: pool opened",
				 fields[i].field);
		if (errno != fields[i].code)
			fail_msg("damaged %s: errno %d, expected %d: %s",
				 fields[i].field, errno, fields[i].code,
				 nvh_errormsg());
		char want[64];
		snprintf(want, sizeof(want), "field %s", fields[i].field);
		assert_errmsg_has(want);
		assert_errmsg_has(p);
		if (fields[i].code == NVH_ENOTPOOL) {
			assert_errmsg_has("not an nvheap pool");
		} else {
			assert_errmsg_has("copy A");
			assert_errmsg_has("copy B");
		}
	}
}

static void
field_damage_without_reseal(void **state)
{
	(void)state;
	/* Random damage fails the checksum; the message still names the
	 * field that looks wrong where one does. */
	for (size_t i = 0; i < NFIELDS; i++) {
		if (fields[i].code != NVH_ECORRUPT ||
		    fields[i].damage == d_hdr_size) /* checked before the sum */
			continue;
		const char *p = fresh_pool("field2.pool", "fields");
		damage(p, &fields[i], 1, 1, 0);
		assert_nvh_null_errno(nvh_open(p, "fields", NULL), NVH_ECORRUPT);
		assert_errmsg_has("field checksum");
		if (fields[i].damage != d_checksum) {
			char want[64];
			snprintf(want, sizeof(want), "also field %s",
				 fields[i].field);
			assert_errmsg_has(want);
		}
	}
}

static void
one_copy_damaged_still_opens(void **state)
{
	(void)state;
	for (int copy = 0; copy < 2; copy++) {
		for (size_t i = 0; i < NFIELDS; i++) {
			for (int rs = 0; rs < 2; rs++) {
				const char *p = fresh_pool("one.pool", "fields");
				damage(p, &fields[i], copy == 0, copy == 1, rs);
				/* read-only: opens, reports, changes nothing */
				struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
				nvh_pool *pool = nvh_open(p, "fields", &ro);
				if (!pool)
					fail_msg("copy %c damaged in %s: %s",
						 "AB"[copy], fields[i].field,
						 nvh_errormsg());
				struct nvh_pool_info info;
				assert_nvh_ok(nvh_pool_info(pool, &info));
				assert_false(info.hdr_ok[copy]);
				assert_true(info.hdr_ok[!copy]);
				assert_non_null(strstr(info.hdr_problem[copy],
						       fields[i].field));
				assert_string_equal(info.layout, "fields");
				assert_nvh_ok(nvh_close(pool));

				/* read-write open repairs the copy */
				pool = assert_nvh_ptr(nvh_open(p, "fields", NULL));
				assert_nvh_ok(nvh_close(pool));
				struct nvh_pool_hdr a, b;
				read_hdr(p, 0, &a);
				read_hdr(p, 1, &b);
				assert_memory_equal(&a, &b, sizeof(a));
				assert_int_equal(a.checksum,
						 nvh_checksum(&a, HDR_CSUM_LEN));
				assert_int_equal(a.run_generation, 2);
			}
		}
	}
}

/* A crash between the two copy writes leaves copies with different seq:
 * the newer one wins, whichever copy it is. */
static void
newer_copy_wins(void **state)
{
	(void)state;
	for (int newer = 0; newer < 2; newer++) {
		const char *p = fresh_pool("seq.pool", "s");
		struct nvh_pool_hdr h;
		read_hdr(p, newer, &h);
		h.seq++;
		h.run_generation = 41;
		h.clean_shutdown = 0;
		reseal(&h);
		write_hdr(p, newer, &h);
		nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "s", NULL));
		struct nvh_pool_info i;
		assert_nvh_ok(nvh_pool_info(pool, &i));
		assert_int_equal(i.run_generation, 42);
		assert_false(i.was_clean);
		assert_true(i.hdr_ok[0] && i.hdr_ok[1]);
		assert_nvh_ok(nvh_close(pool));
	}
}

/* ---- heap header offsets ---- */

struct heap_case {
	const char *field;       /* the message must name it */
	size_t at;               /* offsetof the uint64_t field */
	uint64_t value;          /* a crafted value, checksum resealed */
};

/* Offsets near 2^64 must not wrap past the range checks (they did: an
 * offset such that offset + n * slot wrapped was accepted and the first
 * allocation crashed), nor may offsets beyond the pool or overlapping
 * their neighbours pass. */
static void
heap_header_offsets_checked(void **state)
{
	(void)state;
	const uint64_t wrap = ~0ull << 12; /* page aligned, 2^64 - 4096 */
	const struct heap_case cases[] = {
		{"table_off", offsetof(struct nvh_heap_hdr, table_off), wrap},
		{"table_off", offsetof(struct nvh_heap_hdr, table_off),
		 0ull - 122880},
		{"table_off", offsetof(struct nvh_heap_hdr, table_off), SIZE + 4096},
		{"bitmaps_off", offsetof(struct nvh_heap_hdr, bitmaps_off), wrap},
		{"bitmaps_off", offsetof(struct nvh_heap_hdr, bitmaps_off),
		 0ull - 122880},
		{"bitmaps_off", offsetof(struct nvh_heap_hdr, bitmaps_off), 4096},
		{"arenas_off", offsetof(struct nvh_heap_hdr, arenas_off), wrap},
		{"arenas_off", offsetof(struct nvh_heap_hdr, arenas_off), 4096},
		{"arenas_off", offsetof(struct nvh_heap_hdr, arenas_off), SIZE},
		{"narenas", offsetof(struct nvh_heap_hdr, narenas), 1ull << 62},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = fresh_pool("heaphdr.pool", "h");
		struct nvh_heap_hdr h;
		nvt_pread(p, NVH_HEAP_OFFSET, &h, sizeof(h));
		memcpy((char *)&h + cases[i].at, &cases[i].value, 8);
		h.checksum = nvh_checksum(&h, offsetof(struct nvh_heap_hdr,
						       checksum));
		nvt_pwrite(p, NVH_HEAP_OFFSET, &h, sizeof(h));
		errno = 0;
		nvh_pool *pool = nvh_open(p, "h", NULL);
		if (pool)
			fail_msg("case %zu: %s = %#" PRIx64 " accepted", i,
				 cases[i].field, cases[i].value);
		if (errno != NVH_ECORRUPT)
			fail_msg("case %zu: errno %d: %s", i, errno,
				 nvh_errormsg());
		char want[64];
		snprintf(want, sizeof(want), "field %s", cases[i].field);
		assert_errmsg_has(want);
		assert_errmsg_has("heap header");
	}
}

/* The stale copy is written first, so a torn first write never leaves the
 * pool without a valid header. */
static void
update_writes_stale_copy_first(void **state)
{
	(void)state;
	const char *p = fresh_pool("order.pool", "o");
	/* Damage copy B; an update must rewrite B before A. */
	damage(p, &fields[3] /* checksum */, 0, 1, 0);
	struct nvh_pool_hdr a0;
	read_hdr(p, 0, &a0);
	nvh_pool *pool = assert_nvh_ptr(nvh_open(p, "o", NULL));
	assert_int_equal(pool->hdr_first, 1);
	assert_nvh_ok(nvh_close(pool));
	/* Damage copy A; now A must be written first. */
	damage(p, &fields[3], 1, 0, 0);
	pool = assert_nvh_ptr(nvh_open(p, "o", NULL));
	assert_int_equal(pool->hdr_first, 0);
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(missing_paths),
		cmocka_unit_test(directory),
		cmocka_unit_test(empty_and_tiny_files),
		cmocka_unit_test(truncated_file),
		cmocka_unit_test(foreign_file),
		cmocka_unit_test(permissions),
		cmocka_unit_test(field_damage_in_both_copies),
		cmocka_unit_test(field_damage_without_reseal),
		cmocka_unit_test(one_copy_damaged_still_opens),
		cmocka_unit_test(newer_copy_wins),
		cmocka_unit_test(update_writes_stale_copy_first),
		cmocka_unit_test(heap_header_offsets_checked),
	};
	return cmocka_run_group_tests_name("pool_header", tests, NULL, NULL);
}
