/*
 * wl_scale_kv.c -- torture workloads: FLUSHALL of a 200,000-key store.
 *
 *   scale-flush-hash   the hash index (linear hashing, 100,000 buckets)
 *   scale-flush-btree  the B-tree index (~10,000 nodes, depth 4)
 *
 * setup() fills the store with 200,000 keys (values of 8 to 40 bytes,
 * several size classes), not explored; run() is one kv_flush: a
 * transaction that swaps in a new empty index and lets the old one's
 * count drop to zero, then the drain that frees the old index with every
 * entry in it in bounded steps, crashed at sampled fences.
 *
 * Oracle: before the flush is acknowledged, every key with its value and
 * the count, or (the flush in flight) an empty store; after, an empty
 * store; nvh_check clean, nothing dying after the open, and the census
 * (objects, free space) that of the full store or of a copy of it that
 * setup flushed without crashing: a FLUSHALL cut short by a crash gives
 * back all its space too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wl_scale.h"
#include "workloads.h"

#include "examples/kvstore/kv.h"

/* 200,000 keys take 19 MiB of blocks in a hash store, 28 MiB in a
 * B-tree one: pools with some 10 MiB to spare */
#define POOL(ix) ((ix) == KV_HASH ? 32ull << 20 : 40ull << 20)
#define NKEYS 200000u

struct fpriv {
	struct nvt_census full, empty;
};

static uint8_t seen[NKEYS]; /* keys met by a check's scan */

static struct kv *
open_store(const char *path, enum kv_index ix, const struct nvh_opts *o,
	   int create)
{
	struct kv_opts ko = {.index = ix, .size = POOL(ix), .create = create,
			     .nvh = o, .hash_seed = 42}; /* both passes alike */
	return kv_open(path, &ko);
}

static size_t
key_of(unsigned i, char *k)
{
	return (size_t)sprintf(k, "k%06u", i);
}

static size_t
value_of(unsigned i, char *v)
{
	size_t n = 8 + i % 33, o = 0;
	while (o < n)
		o += (size_t)snprintf(v + o, 48 - o, "v%u.", i);
	return n;
}

static int
census_store(const char *path, enum kv_index ix, struct nvt_census *c)
{
	struct nvh_opts o = {.persist = NVH_PERSIST_EADR};
	struct kv *kv = open_store(path, ix, &o, 0);
	if (!kv)
		return -1;
	int rc = nvt_census_of(kv_pool(kv), c);
	return kv_close(kv) || rc ? -1 : 0;
}

static int
setup_store(struct nvh_crashtest_run *r, enum kv_index ix)
{
	struct fpriv *fp = r->priv;
	struct kv *kv = open_store(r->path, ix, &r->opts, 1);
	int rc = 0;
	if (!kv)
		return -1;
	for (unsigned i = 0; i < NKEYS && !rc; i++) {
		char k[16], v[48];
		size_t kl = key_of(i, k), vl = value_of(i, v);
		rc = kv_put(kv, k, kl, v, vl);
	}
	if (kv_close(kv) || rc || census_store(r->path, ix, &fp->full))
		return -1;
	/* What a flush leaves, measured on a copy: the new empty index is
	 * allocated while the old one still fills the pool, so it is not
	 * where a new store's is; the census of a flush that completed is
	 * what every recovered one must equal. */
	char copy[4200];
	snprintf(copy, sizeof(copy), "%s.flushed", r->path);
	if (nvh_ct_copy_file(r->path, copy) || !(kv = open_store(copy, ix, &r->opts, 0)))
		return -1;
	rc = kv_flush(kv);
	if (kv_close(kv) || rc || census_store(copy, ix, &fp->empty))
		return -1;
	return unlink(copy);
}

static int
run_flush(struct nvh_crashtest_run *r, enum kv_index ix)
{
	struct kv *kv = open_store(r->path, ix, &r->opts, 0);
	if (!kv)
		return -1;
	int rc = kv_flush(kv);
	if (!rc)
		nvh_crashtest_ack(r);
	return kv_close(kv) || rc ? -1 : 0;
}

struct visit {
	struct nvh_crashtest_check *k;
	uint8_t *seen;
	uint64_t n;
	int bad;
};

static int
visit_pair(void *arg, const void *key, size_t kl, const void *val, size_t vl)
{
	struct visit *s = arg;
	char k[16], v[48], buf[16];
	unsigned i;
	if (kl < 2 || kl >= sizeof(buf)) {
		s->bad = nvh_crashtest_fail(s->k, "a key of %zu bytes", kl);
		return 1;
	}
	memcpy(buf, key, kl);
	buf[kl] = 0;
	if (sscanf(buf, "k%u", &i) != 1 || i >= NKEYS ||
	    key_of(i, k) != kl || memcmp(k, key, kl) != 0 || s->seen[i]) {
		s->bad = nvh_crashtest_fail(s->k, "key \"%s\" unexpected or seen twice",
				  buf);
		return 1;
	}
	size_t want = value_of(i, v);
	if (vl != want || memcmp(v, val, vl) != 0) {
		s->bad = nvh_crashtest_fail(s->k, "key %s has a wrong value", buf);
		return 1;
	}
	s->seen[i] = 1;
	s->n++;
	return 0;
}

static int
check_flush(struct nvh_crashtest_check *k, enum kv_index ix)
{
	struct fpriv *fp = k->priv;
	struct kv *kv = open_store(k->path, ix, &k->opts, 0);
	nvh_crashtest_opened(k);
	if (!kv)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
				k->acked, kv_errmsg());
	k->why[0] = 0;
	uint64_t n = kv_count(kv);
	int rc = 0;
	if (n != 0 && (n != NKEYS || k->acked))
		rc = nvh_crashtest_fail(k, "%llu keys after %u operations, expected %s",
			      (unsigned long long)n, k->acked,
			      k->acked ? "none" : "200000 or none");
	if (!rc) {
		/* every pair, each exactly once (or none at all) */
		struct visit s = {.k = k, .seen = seen};
		memset(seen, 0, sizeof(seen));
		kv_scan(kv, NULL, 0, NULL, 0, visit_pair, &s);
		rc = s.bad;
		if (!rc && s.n != n)
			rc = nvh_crashtest_fail(k, "the scan found %llu pairs, the count "
				      "says %llu", (unsigned long long)s.n,
				      (unsigned long long)n);
	}
	if (!rc)
		rc = nvt_scale_verify(k, kv_pool(kv), n ? &fp->full : &fp->empty,
				      n ? "full store" : "flushed store");
	if (kv_close(kv) && !rc)
		rc = nvh_crashtest_fail(k, "close after recovery: %s", kv_errmsg());
	return rc;
}

static int hash_setup(struct nvh_crashtest_run *r) { return setup_store(r, KV_HASH); }
static int hash_run(struct nvh_crashtest_run *r) { return run_flush(r, KV_HASH); }
static int hash_check(struct nvh_crashtest_check *k) { return check_flush(k, KV_HASH); }
static int bt_setup(struct nvh_crashtest_run *r) { return setup_store(r, KV_BTREE); }
static int bt_run(struct nvh_crashtest_run *r) { return run_flush(r, KV_BTREE); }
static int bt_check(struct nvh_crashtest_check *k) { return check_flush(k, KV_BTREE); }

const struct nvh_crashtest nvt_wl_scale_flush_hash = {
	.name = "scale-flush-hash",
	.what = "FLUSHALL of a 200,000-key hash store",
	.pool_size = POOL(KV_HASH),
	.priv_size = sizeof(struct fpriv),
	.setup = hash_setup,
	.run = hash_run,
	.check = hash_check,
	NVT_SCALE_LIMITS(48),
	.share = 0.15,
};

const struct nvh_crashtest nvt_wl_scale_flush_btree = {
	.name = "scale-flush-btree",
	.what = "FLUSHALL of a 200,000-key B-tree store",
	.pool_size = POOL(KV_BTREE),
	.priv_size = sizeof(struct fpriv),
	.setup = bt_setup,
	.run = bt_run,
	.check = bt_check,
	NVT_SCALE_LIMITS(48),
	.share = 0.15,
};
