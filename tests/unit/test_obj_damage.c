/*
 * test_obj_damage.c -- damaged typed objects: a bad type id, a broken
 * dying list, and nvh_check / `nvheap check` on planted damage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "nvh_test.h"

#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"

#include "obj_test.h"

/* A registered type far larger than the object its id is written on: a
 * header whose type id is damaged into it must not make anything read
 * "fields" past the object (it crashed nvh_check and the commit that
 * released the object): the object is treated as untyped, and nvh_check
 * names the damage. */
static const struct nvh_field huge_fields[] = {{(1u << 30) - 8, 0, NULL, 0}};
static const struct nvh_type huge_type = {"huge", 1u << 30, 0, 1, huge_fields};

static void
damaged_type_id(void **state)
{
	(void)state;
	const char *path = nvt_path("typeid.pool");
	nvh_pool *pool = typed_pool("typeid.pool", 8 * MIB);
	assert_nvh_ok(nvh_type_register(pool, &huge_type));
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr n = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, n));
	assert_nvh_ok(nvh_tx_commit(tx));
	uint64_t noff = n.oid.off & NVH_OID_OFF_MASK;
	uint64_t nhdr = (uint64_t)((char *)nvh_obj_hdr(pool, noff) - pool->base);
	uint32_t huge_id = nvh_type_named(pool, "huge")->id;
	assert_nvh_ok(nvh_close(pool));

	uint64_t w;
	nvt_pread(path, nhdr, &w, 8);
	w = NVH_HDR_MAKE(huge_id, NVH_HDR_FLAGS(w), NVH_HDR_COUNT(w));
	nvt_pwrite(path, nhdr, &w, 8);

	pool = reopen(NULL, "typeid.pool");
	assert_nvh_ok(nvh_type_register(pool, &huge_type));
	tp = top_d(pool, NVH_ROOT(pool, top));
	nvt_check_says(pool, "damaged header", NULL);
	/* unlinking it releases nothing through the bogus type */
	tx = assert_nvh_ptr(nvh_tx_begin(pool));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, NVH_NULL(node)));
	assert_nvh_ok(nvh_tx_commit(tx));
	nvt_check_says(pool, "leak: object at", NULL);
	assert_nvh_ok(nvh_close(pool));
}

/* A damaged dying list: both read-only and read-write opens refuse it
 * (found by fuzzing: a read-only open used to accept what a read-write
 * open refused).  A dying object whose child's count is already 0 is
 * freed at open, the child kept (a wrong count must not free something
 * still referenced). */
static void
damaged_dying_list(void **state)
{
	(void)state;
	const char *path = nvt_path("dying.pool");
	nvh_pool *pool = typed_pool("dying.pool", 8 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr n = NVH_TX_ALLOC(tx, node), m = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &node_d(pool, n)->next, m));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, n));
	assert_nvh_ok(nvh_tx_commit(tx));
	uint64_t slot = pool->heap->hdr.root_off + 8;
	uint64_t noff = n.oid.off & NVH_OID_OFF_MASK;
	uint64_t moff = m.oid.off & NVH_OID_OFF_MASK;
	uint64_t nhdr = (uint64_t)((char *)nvh_obj_hdr(pool, noff) - pool->base);
	uint64_t mhdr = (uint64_t)((char *)nvh_obj_hdr(pool, moff) - pool->base);
	uint64_t aoff = (uint64_t)((char *)&tp->a - pool->base);
	assert_nvh_ok(nvh_close(pool));

	/* head -> n, which is live, not dying */
	nvt_pwrite(path, slot, &n.oid.off, 8);
	struct nvh_opts ro = {.flags = NVH_OPEN_RDONLY};
	assert_null(nvh_open(path, "obj", &ro));
	assert_errmsg_has("is not a dying object");
	assert_null(nvh_open(path, "obj", NULL));
	assert_errmsg_has("is not a dying object");

	/* n and m dying, each the other's successor: a loop, found at
	 * once (Brent), not after a walk as long as the pool */
	uint64_t nword, mword, zero = 0;
	nvt_pread(path, nhdr, &nword, 8);
	nvt_pread(path, mhdr, &mword, 8);
	uint64_t lw = NVH_HDR_MAKE(NVH_HDR_TYPE(nword), NVH_OBJ_DYING, 0);
	nvt_pwrite(path, nhdr, &lw, 8);
	nvt_pwrite(path, nhdr + 8, &m.oid.off, 8);
	lw = NVH_HDR_MAKE(NVH_HDR_TYPE(mword), NVH_OBJ_DYING, 0);
	nvt_pwrite(path, mhdr, &lw, 8);
	nvt_pwrite(path, mhdr + 8, &n.oid.off, 8);
	assert_null(nvh_open(path, "obj", &ro));
	assert_errmsg_has("the dying list loops");
	nvt_pwrite(path, nhdr, &nword, 8);
	nvt_pwrite(path, mhdr, &mword, 8);

	/* n made dying (unlinked from the root); m's count wrongly 0 */
	nvt_pwrite(path, aoff, &zero, 8);
	nvt_pread(path, nhdr, &nword, 8);
	nvt_pread(path, mhdr, &mword, 8);
	uint64_t w = NVH_HDR_MAKE(NVH_HDR_TYPE(nword), NVH_OBJ_DYING, 0);
	nvt_pwrite(path, nhdr, &w, 8);
	nvt_pwrite(path, nhdr + 8, &zero, 8); /* end of the list */
	w = NVH_HDR_MAKE(NVH_HDR_TYPE(mword), 0, 0);
	nvt_pwrite(path, mhdr, &w, 8);
	pool = assert_nvh_ptr(nvh_open(path, "obj", NULL));
	assert_int_equal(nvh_usable_size(pool, n.oid), 0); /* freed by the open */
	assert_true(nvh_usable_size(pool, m.oid) > 0);     /* kept */
	assert_nvh_ok(nvh_close(pool));
}

/* ---- the checker finds planted damage ---- */

static void
check_finds_planted_damage(void **state)
{
	(void)state;
	const char *path = nvt_path("damage.pool");
	nvh_pool *pool = typed_pool("damage.pool", 8 * MIB);
	struct top *tp = top_d(pool, NVH_ROOT(pool, top));
	nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
	node_ptr n = NVH_TX_ALLOC(tx, node), m = NVH_TX_ALLOC(tx, node);
	assert_nvh_ok(NVH_TX_SET(tx, &tp->a, n));
	assert_nvh_ok(NVH_TX_SET(tx, &tp->b, m));
	assert_nvh_ok(nvh_tx_commit(tx));
	uint64_t noff = n.oid.off & NVH_OID_OFF_MASK;
	uint64_t moff = m.oid.off & NVH_OID_OFF_MASK;
	uint64_t nhdr = (uint64_t)((char *)nvh_obj_hdr(pool, noff) - pool->base);
	uint64_t field = (uint64_t)((char *)&node_d(pool, m)->next - pool->base);
	/* a free block next to n: its bitmap bit */
	struct nvh_heap *h = pool->heap;
	uint64_t a, b, in;
	assert_int_equal(nvh_heap_locate(h, noff, &a, &b, &in), 0);
	uint64_t freeb = b + 5, bit_word = nvh_bitmap_off(h, a) + (freeb / 64) * 8;
	uint64_t freeoff = noff + 5 * h->cls[h->arena[a].cls].block_size;
	uint64_t tag = pool->oid_tag;
	assert_nvh_ok(nvh_close(pool));
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "%s check %s >/dev/null", getenv("NVHEAP_TOOL"),
		 path);
	assert_int_equal(system(cmd), 0);

	struct {
		const char *what;
		uint64_t off, value, old;
		const char *msg;
	} plants[] = {
		{"leaked block", bit_word, 0, 0, "leak: object at"},
		{"wrong count", nhdr, 0, 0, "has count 7, 1 strong"},
		{"dangling pointer", field, tag | freeoff, 0, "dangling pointer"},
	};
	nvt_pread(path, bit_word, &plants[0].old, 8);
	plants[0].value = plants[0].old | 1ull << (freeb % 64);
	nvt_pread(path, nhdr, &plants[1].old, 8);
	plants[1].value = NVH_HDR_MAKE(NVH_HDR_TYPE(plants[1].old), 0, 7);
	nvt_pread(path, field, &plants[2].old, 8);
	for (size_t i = 0; i < 3; i++) {
		nvt_pwrite(path, plants[i].off, &plants[i].value, 8);
		pool = assert_nvh_ptr(nvh_open(path, "obj", NULL));
		char buf[8192];
		FILE *f = fmemopen(buf, sizeof(buf), "w");
		struct nvh_check_report rep;
		assert_int_equal(nvh_check(pool, &rep, f), -NVH_ECORRUPT);
		fclose(f);
		if (!strstr(buf, plants[i].msg))
			fail_msg("%s: report lacks \"%s\":\n%s", plants[i].what,
				 plants[i].msg, buf);
		assert_nvh_ok(nvh_close(pool));
		assert_int_equal(WEXITSTATUS(system(cmd)), 1); /* the tool too */
		nvt_pwrite(path, plants[i].off, &plants[i].old, 8);
		assert_int_equal(system(cmd), 0);
	}
	(void)moff;
}

int
main(void)
{
	if (!getenv("NVHEAP_TOOL")) {
		fprintf(stderr, "test_obj_damage: set NVHEAP_TOOL\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(check_finds_planted_damage),
		cmocka_unit_test(damaged_dying_list),
		cmocka_unit_test(damaged_type_id),
	};
	return cmocka_run_group_tests_name("obj_damage", tests, NULL, NULL);
}
