/*
 * pool_hdr.c -- the pool header's two copies: building, validating,
 * choosing, and updating them crash-safely.
 *
 * Update protocol (nvh_hdr_update), with the invariant each step keeps:
 *
 *   (1) At every instant at least one copy is valid and holds either the
 *       old or the new header.
 *   (2) One copy is written and persisted before the other is touched, so
 *       a crash tears at most one copy; the torn copy fails its checksum.
 *       The copy written first is the one that was not chosen at open
 *       (stale or damaged), so the copy not being written is always a
 *       valid one; writing the good copy first could, after a crash in
 *       the middle, leave none.
 *   (3) The new header carries seq+1; nvh_hdr_select takes the valid copy
 *       with the higher seq, so a crash between the two writes yields the
 *       new header, a crash during the first one the old header.
 *   (4) Every read-write open updates the header, which rewrites both
 *       copies and so repairs a stale or damaged one.
 *
 * Cost: two persist barriers per update; updates happen only at create,
 * open and close.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "heap/checksum.h"
#include "heap/error.h"
#include "heap/pool.h"

#define CSUM_LEN offsetof(struct nvh_pool_hdr, checksum)

void
nvh_uuid_str(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}

static void
make_uuid(uint8_t u[16])
{
	size_t got = 0;
	while (got < 16) {
		ssize_t n = getrandom(u + got, 16 - got, 0);
		if (n > 0) {
			got += (size_t)n;
		} else if (errno != EINTR) {
			/* No entropy source: time and address still make a
			 * pool unique enough to tell pools apart. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t a = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)u;
			uint64_t b = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull;
			memcpy(u, &a, 8);
			memcpy(u + 8, &b, 8);
			break;
		}
	}
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

void
nvh_hdr_init(struct nvh_pool_hdr *h, const char *layout, uint64_t pool_size)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, NVH_POOL_MAGIC, sizeof(h->magic));
	h->format_version = NVH_FORMAT_VERSION;
	h->hdr_size = sizeof(*h);
	make_uuid(h->uuid);
	snprintf(h->layout, sizeof(h->layout), "%s", layout ? layout : "");
	h->pool_size = pool_size;
	h->heap_offset = NVH_HEAP_OFFSET;
	h->heap_size = pool_size - NVH_HEAP_OFFSET;
	h->create_time = (uint64_t)time(NULL);
	h->seq = 0; /* the first update makes it 1 */
	h->run_generation = 1;
	h->clean_shutdown = 0;
}

void
nvh_hdr_seal(struct nvh_pool_hdr *h)
{
	h->checksum = nvh_checksum(h, CSUM_LEN);
}

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

#define BAD(...) (snprintf(why, whylen, __VA_ARGS__), NVH_ECORRUPT)

/* Every rule of layout.h's table except magic, version, size, checksum.
 * Returns 0 or a positive code with `why` filled in. */
static int
check_fields(const struct nvh_pool_hdr *h, uint64_t file_size, char *why,
	     size_t whylen)
{
	if (all_zero(h->uuid, sizeof(h->uuid)))
		return BAD("field uuid: all zero");
	if ((h->uuid[6] & 0xf0) != 0x40 || (h->uuid[8] & 0xc0) != 0x80)
		return BAD("field uuid: not an RFC 4122 version 4 UUID "
			   "(byte 6 = 0x%02x, byte 8 = 0x%02x)",
			   h->uuid[6], h->uuid[8]);
	const char *nul = memchr(h->layout, 0, sizeof(h->layout));
	if (!nul)
		return BAD("field layout: not NUL-terminated within %u bytes",
			   NVH_LAYOUT_LEN);
	if (!all_zero(nul, sizeof(h->layout) - (size_t)(nul - h->layout)))
		return BAD("field layout: bytes after the terminating NUL "
			   "are not zero");
	/* With segments, a file longer than the pool is a growth that did
	 * not finish (the file was extended, the header not yet updated):
	 * the header's size is the pool's, the tail is trimmed by the next
	 * read-write open. */
	if (h->pool_size != file_size &&
	    !((h->features & NVH_FEAT_SEGMENTS) && h->pool_size < file_size))
		return BAD("field pool_size: header says %" PRIu64 " bytes, "
			   "file has %" PRIu64 " (%s)", h->pool_size, file_size,
			   file_size < h->pool_size ? "truncated" : "extended");
	if (h->pool_size < NVH_MIN_POOL_SIZE || h->pool_size > NVH_MAX_POOL_SIZE)
		return BAD("field pool_size: %" PRIu64 " is outside [%" PRIu64
			   ", %" PRIu64 "]", h->pool_size,
			   (uint64_t)NVH_MIN_POOL_SIZE,
			   (uint64_t)NVH_MAX_POOL_SIZE);
	if (h->pool_size % NVH_POOL_ALIGN)
		return BAD("field pool_size: %" PRIu64 " is not a multiple "
			   "of %u", h->pool_size, NVH_POOL_ALIGN);
	if (h->heap_offset != NVH_HEAP_OFFSET)
		return BAD("field heap_offset: expected %u, found %" PRIu64,
			   NVH_HEAP_OFFSET, h->heap_offset);
	if (h->heap_size == 0 || h->heap_size % NVH_POOL_ALIGN)
		return BAD("field heap_size: %" PRIu64 " is not a positive "
			   "multiple of %u", h->heap_size, NVH_POOL_ALIGN);
	if (h->heap_size > h->pool_size - h->heap_offset)
		return BAD("field heap_size: heap [%" PRIu64 ", +%" PRIu64
			   ") ends beyond the pool (%" PRIu64 " bytes)",
			   h->heap_offset, h->heap_size, h->pool_size);
	if (h->features & ~(uint64_t)NVH_FEATURES_KNOWN)
		return BAD("field features: unknown feature bits 0x%" PRIx64,
			   h->features & ~(uint64_t)NVH_FEATURES_KNOWN);
	if ((h->features & NVH_FEAT_GROWS) && !(h->features & NVH_FEAT_SEGMENTS))
		return BAD("field features: GROWS (0x%x) without SEGMENTS (0x%x)",
			   NVH_FEAT_GROWS, NVH_FEAT_SEGMENTS);
	if (!(h->features & NVH_FEAT_GROWS) && (h->max_size || h->grow_step))
		return BAD("field %s: %" PRIu64 " in a pool that does not grow "
			   "(must be 0)", h->max_size ? "max_size" : "grow_step",
			   h->max_size ? h->max_size : h->grow_step);
	if (h->max_size && (h->max_size < h->pool_size ||
			    h->max_size > NVH_MAX_POOL_SIZE ||
			    h->max_size % NVH_POOL_ALIGN))
		return BAD("field max_size: %" PRIu64 " is not 0 or a multiple "
			   "of %u in [pool_size %" PRIu64 ", %" PRIu64 "]",
			   h->max_size, NVH_POOL_ALIGN, h->pool_size,
			   (uint64_t)NVH_MAX_POOL_SIZE);
	if (h->grow_step % NVH_POOL_ALIGN || h->grow_step > NVH_MAX_POOL_SIZE)
		return BAD("field grow_step: %" PRIu64 " is not a multiple of "
			   "%u up to %" PRIu64, h->grow_step, NVH_POOL_ALIGN,
			   (uint64_t)NVH_MAX_POOL_SIZE);
	if (h->seq == 0)
		return BAD("field seq: 0 (never written)");
	/* bumped once per open and close: far below 2^62 for ever; near
	 * 2^64 the next update would wrap it to 0 in both copies */
	if (h->seq > NVH_SEQ_MAX)
		return BAD("field seq: %" PRIu64 " is above the maximum %" PRIu64
			   " (damaged)", h->seq, NVH_SEQ_MAX);
	if (h->run_generation == 0)
		return BAD("field run_generation: 0 (must be at least 1)");
	/* bumped once per read-write open, like seq: a value above the
	 * bound is damage, and refusing it keeps the next bump from
	 * wrapping to 0 (which would make both copies invalid) */
	if (h->run_generation > NVH_SEQ_MAX)
		return BAD("field run_generation: %" PRIu64 " is above the "
			   "maximum %" PRIu64 " (damaged)", h->run_generation,
			   NVH_SEQ_MAX);
	if (h->clean_shutdown > 1)
		return BAD("field clean_shutdown: expected 0 or 1, found %" PRIu32,
			   h->clean_shutdown);
	if (h->reserved0 || !all_zero(h->reserved, sizeof(h->reserved)))
		return BAD("field reserved: not zero");
	return 0;
}

int
nvh_hdr_check(const struct nvh_pool_hdr *h, uint64_t file_size, char *why,
	      size_t whylen)
{
	if (memcmp(h->magic, NVH_POOL_MAGIC, sizeof(h->magic)) != 0) {
		char hex[3 * 8 + 1];
		for (int i = 0; i < 8; i++)
			snprintf(hex + 3 * i, 4, "%02x ",
				 (unsigned char)h->magic[i]);
		hex[3 * 8 - 1] = 0;
		snprintf(why, whylen, "field magic: expected \"%s\", found "
			 "bytes %s", NVH_POOL_MAGIC, hex);
		return NVH_ENOTPOOL;
	}
	if (h->format_version != NVH_FORMAT_VERSION) {
		snprintf(why, whylen, "field format_version: pool has version "
			 "%" PRIu32 ", this nvheap reads version %u",
			 h->format_version, NVH_FORMAT_VERSION);
		return NVH_EVERSION;
	}
	if (h->hdr_size != sizeof(*h))
		return BAD("field hdr_size: expected %zu, found %" PRIu32,
			   sizeof(*h), h->hdr_size);
	uint64_t sum = nvh_checksum(h, CSUM_LEN);
	if (sum != h->checksum) {
		/* Say which field looks wrong too, when one does. */
		char field[NVH_PROBLEM_LEN];
		int bad = check_fields(h, file_size, field, sizeof(field));
		return BAD("field checksum: stored 0x%016" PRIx64 ", computed "
			   "0x%016" PRIx64 "%s%s", h->checksum, sum,
			   bad ? "; also " : "", bad ? field : "");
	}
	return check_fields(h, file_size, why, whylen);
}

int
nvh_hdr_select(const char *base, uint64_t file_size, struct nvh_pool_hdr *cur,
	       int *first, int ok[2], char why[2][NVH_PROBLEM_LEN])
{
	const struct nvh_pool_hdr *c[2] = {
		(const void *)(base + NVH_HDR_A_OFFSET),
		(const void *)(base + NVH_HDR_B_OFFSET),
	};
	int code[2];
	for (int i = 0; i < 2; i++) {
		why[i][0] = 0;
		code[i] = nvh_hdr_check(c[i], file_size, why[i], NVH_PROBLEM_LEN);
		ok[i] = code[i] == 0;
	}
	if (!ok[0] && !ok[1]) {
		if (code[0] == NVH_ENOTPOOL && code[1] == NVH_ENOTPOOL)
			return nvh_err(NVH_ENOTPOOL, "not an nvheap pool: %s",
				       why[0]);
		return nvh_err(code[0] == code[1] ? code[0] : NVH_ECORRUPT,
			       "no valid pool header: copy A: %s; copy B: %s",
			       why[0], why[1]);
	}
	int pick = !ok[0] || (ok[1] && c[1]->seq > c[0]->seq);
	memcpy(cur, c[pick], sizeof(*cur));
	*first = !pick;
	return 0;
}

int
nvh_hdr_update(struct nvh_persist *p, char *base, struct nvh_pool_hdr *h,
	       int first)
{
	static const uint32_t off[2] = {NVH_HDR_A_OFFSET, NVH_HDR_B_OFFSET};
	if (h->seq >= NVH_SEQ_MAX) /* (nvh_open refuses this pool first) */
		return nvh_err(EOVERFLOW, "pool header: seq %" PRIu64 " is at "
			       "its maximum: not updated", h->seq);
	h->seq++;
	nvh_hdr_seal(h);
	/* (2) the first copy is durable before the second is modified: the
	 * second still holds a valid header if the first tears. */
	int rc = nvh_persist_memcpy(p, base + off[first], h, sizeof(*h));
	if (rc)
		return rc;
	/* Both copies hold the new header: the update is durable. */
	return nvh_persist_memcpy(p, base + off[!first], h, sizeof(*h));
}
