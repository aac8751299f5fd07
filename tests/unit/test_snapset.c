/*
 * test_snapset.c -- a transaction's set of snapshotted ranges (tx/snapset.c)
 * against a model: 200,000 disjoint ranges, a third of them touching a
 * neighbour, added in ascending, descending and random order; after
 * every few thousand additions the set's array must be the model's
 * (sorted, touching ones merged) and nvh_snapset_find must agree with a
 * linear search; a cleared set is reused with nothing left over.  Then
 * one transaction snapshotting 200,000 fields of a list in descending
 * address order, committed and rolled back.
 */
#include <stdlib.h>
#include <string.h>

#include "nvh_test.h"

#include "heap/pool.h"
#include "tx/snapset.h"
#include "tx/tx.h"
#undef nvh_tx_current

#include "tx_test.h"

#define N 200000

/* Slot i covers [16 i, 16 i + len_i): len 16 touches slot i+1, less
 * leaves a hole. */
static uint64_t
slot_len(size_t i)
{
	return i % 3 == 0 ? 16 : 8 + (i % 5);
}

/* The model: the slots added so far, merged where they touch. */
static size_t
model(const unsigned char *in, struct nvh_range *out)
{
	size_t n = 0;
	for (size_t i = 0; i < N; i++) {
		if (!in[i])
			continue;
		uint64_t off = 16 * (uint64_t)i, len = slot_len(i);
		if (n && out[n - 1].off + out[n - 1].len == off)
			out[n - 1].len += len;
		else
			out[n++] = (struct nvh_range){off, len};
	}
	return n;
}

static void
compare(struct nvh_snapset *s, const unsigned char *in,
	struct nvh_range *want, unsigned seed)
{
	size_t n = model(in, want);
	assert_int_equal(s->n, n);
	const struct nvh_range *got = nvh_snapset_flat(s);
	if (n)
		assert_non_null(got);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(got[i].off, want[i].off);
		assert_int_equal(got[i].len, want[i].len);
	}
	/* find: the first range ending after off, at 200 offsets */
	srand(seed);
	for (int k = 0; k < 200; k++) {
		uint64_t off = (uint64_t)rand() % (16 * (uint64_t)N + 32);
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (want[mid].off + want[mid].len <= off)
				lo = mid + 1;
			else
				hi = mid;
		}
		const struct nvh_range *r =
			nvh_snapset_at(s, nvh_snapset_find(s, off));
		if (lo == n) {
			assert_null(r);
		} else {
			assert_non_null(r);
			assert_int_equal(r->off, want[lo].off);
		}
	}
	/* walking with next visits them all in order */
	size_t k = 0;
	for (struct nvh_snappos p = nvh_snapset_find(s, 0);
	     nvh_snapset_at(s, p); nvh_snapset_next(s, &p), k++)
		assert_int_equal(nvh_snapset_at(s, p)->off, want[k].off);
	assert_int_equal(k, n);
}

static void
fill(struct nvh_snapset *s, const size_t *order, unsigned seed)
{
	unsigned char *in = calloc(N, 1);
	struct nvh_range *want = malloc(N * sizeof(*want));
	assert_non_null(in);
	assert_non_null(want);
	for (size_t k = 0; k < N; k++) {
		size_t i = order[k];
		assert_int_equal(nvh_snapset_add(s, 16 * (uint64_t)i,
						 slot_len(i)), 0);
		in[i] = 1;
		if (k < 64 || k % 7919 == 0)
			compare(s, in, want, seed + (unsigned)k);
	}
	compare(s, in, want, seed);
	/* every range merged with its touching neighbours: a third touch */
	assert_true(s->n < N);
	free(in);
	free(want);
}

static void
orders_match_the_model(void **state)
{
	(void)state;
	size_t *order = malloc(N * sizeof(*order));
	assert_non_null(order);
	struct nvh_snapset s = {0};
	/* ascending */
	for (size_t i = 0; i < N; i++)
		order[i] = i;
	fill(&s, order, 1);
	size_t chunks = s.na;
	nvh_snapset_clear(&s);
	assert_int_equal(s.n, 0);
	assert_null(nvh_snapset_last(&s));
	/* descending, in the same (reused) chunks */
	for (size_t i = 0; i < N; i++)
		order[i] = N - 1 - i;
	fill(&s, order, 2);
	assert_true(s.na <= chunks + chunks / 2 + 2);
	nvh_snapset_clear(&s);
	/* random */
	srand(7);
	for (size_t i = N - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1);
		size_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	fill(&s, order, 3);
	nvh_snapset_fini(&s);
	free(order);
}

/* An odd pattern: pairs from both ends inwards (each addition at a chunk's
 * far end or its start), then the holes between every other slot. */
static void
both_ends_then_holes(void **state)
{
	(void)state;
	size_t *order = malloc(N * sizeof(*order));
	assert_non_null(order);
	size_t k = 0;
	for (size_t i = 0; i < N / 4; i++) {
		order[k++] = 2 * i;
		order[k++] = N - 2 - 2 * i;
	}
	for (size_t i = 1; i < N; i += 2)
		order[k++] = i;
	assert_int_equal(k, N);
	struct nvh_snapset s = {0};
	fill(&s, order, 4);
	nvh_snapset_fini(&s);
	free(order);
}

struct node {
	uint64_t v;
	uint64_t pad[7]; /* a line each */
};

static void
transaction_of_descending_fields(void **state)
{
	(void)state;
	const size_t n = 200000;
	nvh_pool *pool = new_pool("snapset.pool", 64 * MIB);
	struct node *a = nvt_scratch(pool, n * sizeof(struct node));
	memset(a, 0, n * sizeof(struct node));
	assert_nvh_ok(nvh_persist(pool, a, n * sizeof(struct node)));
	for (int round = 0; round < 2; round++) {
		nvh_tx *tx = assert_nvh_ptr(nvh_tx_begin(pool));
		for (size_t i = n; i-- > 0;) {
			assert_nvh_ok(nvh_tx_add(tx, &a[i].v, 8));
			a[i].v += i + 1;
		}
		assert_int_equal(nvh_tx_running(pool)->snaps.n, n);
		if (round == 0)
			assert_nvh_ok(nvh_tx_commit(tx));
		else
			assert_nvh_ok(nvh_tx_abort(tx));
	}
	pool = reopen(pool, "snapset.pool");
	a = nvh_direct(pool, *nvh_root_slot(pool));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(a[i].v, i + 1); /* the first round only */
	assert_nvh_ok(nvh_close(pool));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(orders_match_the_model),
		cmocka_unit_test(both_ends_then_holes),
		cmocka_unit_test(transaction_of_descending_fields),
	};
	return cmocka_run_group_tests_name("snapset", tests, NULL, NULL);
}
