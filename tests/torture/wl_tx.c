/*
 * wl_tx.c -- torture workloads for transactions.
 *
 *   tx-mixed   one thread: updates of several ranges, alloc + link,
 *              unlink + free, an abort, a mixed transaction
 *   tx-extend  log extensions: a snapshot in a payload block (a range
 *              larger than a record holds) and, with the ring limited to
 *              1 KiB, records in chunks (commit record included)
 *   tx-2lanes  two threads on two lanes, their transactions interleaved
 *              step by step (disjoint data, one allocating)
 *   tx-addv    nvh_tx_addv: 3 words and 160 ranges of the big object,
 *              overlapping, in one call (two UNDO records, one fence),
 *              with the ring limited to 1 KiB so they go to a chunk
 *
 * Oracle: the pool's state (the root's words, the list, the big object's
 * checksum, and the set of allocated objects) after recovery equals the
 * state after the acknowledged transactions, or, per transaction in
 * flight, with that transaction wholly applied.  Plus nvh_heap_verify.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "workloads.h"

#include "heap/heap.h"
#include "heap/pool.h"

#define LAYOUT "torture-tx"
#define POOL (4ull << 20)
#define NW 16        /* root words, two per cache line */
#define MAXL 8       /* list nodes */
#define BIG (64u << 10)
#define MAXTX 16

struct root {
	uint64_t w[NW * 4];  /* word i at w[4 * i]: 2 per line */
	nvh_oid list;
	nvh_oid big;
};

/* What the oracle compares. */
struct state {
	uint64_t w[NW];
	uint64_t list[MAXL]; /* node values, head first */
	uint32_t nlist;
	uint64_t big_sum;
};

/* One transaction of a script. */
enum { T_UPDATE, T_PUSH, T_POP, T_MIXED, T_ABORT, T_BIGADD, T_BIGABORT,
       T_MANY, T_VEC };

#define VEC_N 160     /* T_VEC: ranges of 64 bytes in the big object ... */
#define VEC_STRIDE 128 /* ... this far apart (10 KiB of snapshots) */

struct tdesc {
	uint8_t kind;
	uint8_t thread;
	uint8_t w[3];     /* words to update (0xff: none) */
};

struct tpriv {
	const struct tdesc *script;
	unsigned n;
	struct state st[MAXTX + 1];  /* st[k]: after the first k transactions */
	int group_of_word[NW];       /* tx-2lanes: which thread owns a word */
	int started[MAXTX];          /* begun, not acknowledged */
	int done[MAXTX];
	/* two threads */
	pthread_mutex_t m;
	pthread_cond_t cv;
	unsigned step;
	nvh_pool *pool;
	struct nvh_crashtest_run *run;
	int error;
	int finished[2];
};

static struct root *
root_of(nvh_pool *p)
{
	return nvh_direct(p, *nvh_root_slot(p));
}

static int
setup(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, POOL, &r->opts);
	if (!p)
		return -1;
	nvh_oid *rs = nvh_root_slot(p);
	if (nvh_alloc(p, rs, sizeof(struct root), 1, NULL, NULL))
		goto fail;
	struct root *rt = root_of(p);
	memset(rt, 0, sizeof(*rt));
	nvh_persist(p, rt, sizeof(*rt));
	if (nvh_alloc(p, &rt->big, BIG, 2, NULL, NULL))
		goto fail;
	nvh_memset_persist(p, nvh_direct(p, rt->big), 0, BIG);
	return nvh_close(p);
fail:
	nvh_close(p);
	return -1;
}

/* ---- the model ---- */

static void
model_apply(struct state *s, const struct tdesc *d, uint64_t v)
{
	switch (d->kind) {
	case T_UPDATE:
	case T_VEC:
	case T_MIXED:
		for (int i = 0; i < 3; i++)
			if (d->w[i] != 0xff)
				s->w[d->w[i]] = v;
		if (d->kind != T_MIXED)
			break;
		/* MIXED also pushes */
		__attribute__((fallthrough));
	case T_PUSH:
		memmove(s->list + 1, s->list, s->nlist * sizeof(s->list[0]));
		s->list[0] = v;
		s->nlist++;
		break;
	case T_POP:
		memmove(s->list, s->list + 1, (s->nlist - 1) * sizeof(s->list[0]));
		s->nlist--;
		break;
	default: /* the big object is checked by expected_big() */
		break;
	}
}

/* ---- running transactions ---- */

static int
big_write(unsigned char *big, uint64_t v, int kind, nvh_tx *tx)
{
	if (kind == T_BIGADD || kind == T_BIGABORT) {
		if (nvh_tx_add(tx, big, 16 << 10)) /* one range: a payload block */
			return -1;
		for (unsigned o = 0; o < (16u << 10); o += 1024)
			memcpy(big + o, &v, 8);
		return 0;
	}
	for (unsigned o = 0; o < 24 * 256; o += 256) { /* T_MANY: 24 ranges */
		if (nvh_tx_add(tx, big + o, 64))
			return -1;
		memcpy(big + o, &v, 8);
	}
	return 0;
}

static int
run_tx(struct tpriv *tp, nvh_pool *p, unsigned k)
{
	const struct tdesc *d = &tp->script[k];
	struct root *rt = root_of(p);
	uint64_t v = 100 + k;
	tp->started[k] = 1;
	nvh_tx *tx = nvh_tx_begin(p);
	if (!tx)
		return -1;
	int rc = 0;
	if (d->kind == T_VEC) {
		/* one call: the words (the first twice), the big object's
		 * ranges, and one range across two of them */
		struct nvh_tx_range vr[3 + 1 + VEC_N + 1];
		size_t nr = 0;
		unsigned char *big = nvh_direct(p, rt->big);
		for (int i = 0; i < 3; i++)
			if (d->w[i] != 0xff)
				vr[nr++] = (struct nvh_tx_range){
					&rt->w[4 * d->w[i]], 8};
		vr[nr++] = vr[0];
		for (unsigned j = 0; j < VEC_N; j++)
			vr[nr++] = (struct nvh_tx_range){big + VEC_STRIDE * j, 64};
		vr[nr++] = (struct nvh_tx_range){big + 32, VEC_STRIDE + 64};
		rc = nvh_tx_addv(tx, vr, nr);
		for (int i = 0; i < 3 && !rc; i++)
			if (d->w[i] != 0xff)
				rt->w[4 * d->w[i]] = v;
		for (unsigned j = 0; j < VEC_N && !rc; j++)
			memcpy(big + VEC_STRIDE * j, &v, 8);
	}
	for (int i = 0; i < 3 && !rc && d->kind != T_VEC; i++) {
		if (d->w[i] == 0xff)
			continue;
		uint64_t *w = &rt->w[4 * d->w[i]];
		rc = nvh_tx_add(tx, w, 8);
		*w = v;
	}
	if (!rc && (d->kind == T_PUSH || d->kind == T_MIXED)) {
		nvh_oid n = nvh_tx_alloc(tx, 64 + 16 * k, 50, 0);
		uint64_t *node = nvh_direct(p, n);
		if (!node)
			rc = -1;
		else {
			node[0] = rt->list.off;
			node[1] = v;
			rc = nvh_tx_add(tx, &rt->list, 8);
			rt->list = n;
		}
	}
	if (!rc && d->kind == T_POP) {
		nvh_oid top = rt->list;
		uint64_t *node = nvh_direct(p, top);
		rc = !node || nvh_tx_add(tx, &rt->list, 8);
		if (!rc) {
			rt->list.off = node[0];
			rc = nvh_tx_free(tx, top);
		}
	}
	if (!rc && (d->kind == T_BIGADD || d->kind == T_BIGABORT ||
		    d->kind == T_MANY))
		rc = big_write(nvh_direct(p, rt->big), v, d->kind, tx);
	if (rc) {
		nvh_tx_abort(tx);
		return -1;
	}
	if (d->kind == T_ABORT || d->kind == T_BIGABORT)
		rc = nvh_tx_abort(tx);
	else
		rc = nvh_tx_commit(tx);
	if (rc)
		return -1;
	tp->started[k] = 0;
	tp->done[k] = 1;
	nvh_crashtest_ack(tp->run);
	return 0;
}

static void
build_model(struct tpriv *tp, const struct tdesc *script, unsigned n)
{
	tp->script = script;
	tp->n = n;
	memset(tp->st, 0, sizeof(tp->st));
	for (unsigned k = 0; k < n; k++) {
		tp->st[k + 1] = tp->st[k];
		if (script[k].kind != T_ABORT && script[k].kind != T_BIGABORT)
			model_apply(&tp->st[k + 1], &script[k], 100 + k);
	}
	memset(tp->started, 0, sizeof(tp->started));
	memset(tp->done, 0, sizeof(tp->done));
}

static int
run_script(struct nvh_crashtest_run *r, const struct tdesc *script, unsigned n,
	   const char *ring_limit)
{
	struct tpriv *tp = r->priv;
	build_model(tp, script, n);
	tp->run = r;
	if (ring_limit)
		setenv("NVHEAP_TEST_TX_RING", ring_limit, 1);
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	if (ring_limit)
		unsetenv("NVHEAP_TEST_TX_RING");
	if (!p)
		return -1;
	for (unsigned k = 0; k < n; k++)
		if (run_tx(tp, p, k)) {
			nvh_close(p);
			return -1;
		}
	return nvh_close(p);
}

/* ---- the check ---- */

struct reach {
	uint64_t off[MAXL + 4];
	unsigned n;
	int bad;
};

static int
count_cb(void *arg, uint64_t off, uint64_t size, uint32_t type)
{
	struct reach *r = arg;
	(void)size, (void)type;
	unsigned i = 0;
	while (i < r->n && r->off[i] != off)
		i++;
	if (i == r->n)
		r->bad = 1; /* allocated but not reachable */
	else
		r->off[i] = 0; /* seen */
	return 0;
}

static uint64_t
big_sum(nvh_pool *p, struct root *rt)
{
	unsigned char *big = nvh_direct(p, rt->big);
	return big ? XXH3_64bits(big, 32 << 10) : 0;
}

/* Expected sums: replay the big-object writes of the first k txs. */
static uint64_t
expected_big(const struct tpriv *tp, const int *applied)
{
	static unsigned char img[32 << 10];
	memset(img, 0, sizeof(img));
	for (unsigned k = 0; k < tp->n; k++) {
		if (!applied[k])
			continue;
		uint64_t v = 100 + k;
		if (tp->script[k].kind == T_BIGADD)
			for (unsigned o = 0; o < (16u << 10); o += 1024)
				memcpy(img + o, &v, 8);
		if (tp->script[k].kind == T_MANY)
			for (unsigned o = 0; o < 24 * 256; o += 256)
				memcpy(img + o, &v, 8);
		if (tp->script[k].kind == T_VEC)
			for (unsigned j = 0; j < VEC_N; j++)
				memcpy(img + VEC_STRIDE * j, &v, 8);
	}
	return XXH3_64bits(img, sizeof(img));
}

static int
state_matches(nvh_pool *p, struct root *rt, const struct tpriv *tp,
	      const int *applied, char *why, size_t whylen)
{
	/* words: the last applied transaction writing each */
	for (unsigned i = 0; i < NW; i++) {
		uint64_t want = 0;
		for (unsigned k = 0; k < tp->n; k++) {
			const struct tdesc *d = &tp->script[k];
			if (!applied[k] || d->kind == T_ABORT ||
			    d->kind == T_BIGABORT)
				continue;
			for (int j = 0; j < 3; j++)
				if (d->w[j] == i)
					want = 100 + k;
		}
		if (rt->w[4 * i] != want) {
			snprintf(why, whylen, "word %u is %llu, expected %llu", i,
				 (unsigned long long)rt->w[4 * i],
				 (unsigned long long)want);
			return 0;
		}
	}
	/* list */
	struct state s = {0};
	for (unsigned k = 0; k < tp->n; k++)
		if (applied[k] && tp->script[k].kind != T_ABORT &&
		    tp->script[k].kind != T_BIGABORT)
			model_apply(&s, &tp->script[k], 100 + k);
	nvh_oid it = rt->list;
	for (unsigned i = 0; i < s.nlist; i++) {
		uint64_t *node = nvh_direct(p, it);
		if (!node || nvh_usable_size(p, it) == 0 || node[1] != s.list[i]) {
			snprintf(why, whylen, "list node %u is not %llu", i,
				 (unsigned long long)s.list[i]);
			return 0;
		}
		it.off = node[0];
	}
	if (!NVH_OID_IS_NULL(it)) {
		snprintf(why, whylen, "list longer than %u", s.nlist);
		return 0;
	}
	if (big_sum(p, rt) != expected_big(tp, applied)) {
		snprintf(why, whylen, "big object contents differ");
		return 0;
	}
	return 1;
}

static int
check(struct nvh_crashtest_check *k)
{
	struct tpriv *tp = k->priv;
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (!p)
		return nvh_crashtest_fail(k, "open failed after %u transactions: %s",
				k->acked, nvh_errormsg());
	k->why[0] = 0;
	struct root *rt = root_of(p);
	if (!rt) {
		nvh_crashtest_fail(k, "root object lost");
		goto out;
	}
	if (nvh_heap_verify(p)) {
		nvh_crashtest_fail(k, "DRAM state disagrees with the medium: %s",
			 nvh_errormsg());
		goto out;
	}
	/* the transactions in flight: each applied or not */
	unsigned infl[MAXTX], ni = 0;
	int applied[MAXTX];
	for (unsigned t = 0; t < tp->n; t++) {
		applied[t] = tp->done[t];
		if (tp->started[t])
			infl[ni++] = t;
	}
	int ok = 0;
	char why[256] = "";
	for (unsigned mask = 0; mask < (1u << ni) && !ok; mask++) {
		for (unsigned j = 0; j < ni; j++)
			applied[infl[j]] = (mask >> j) & 1;
		ok = state_matches(p, rt, tp, applied, why, sizeof(why));
	}
	if (!ok) {
		nvh_crashtest_fail(k, "after %u transactions (%u in flight): %s", k->acked,
			 ni, why);
		goto out;
	}
	/* allocated objects == root + big + list nodes */
	struct reach r = {.n = 0};
	r.off[r.n++] = nvh_root_slot(p)->off & NVH_OID_OFF_MASK;
	r.off[r.n++] = rt->big.off & NVH_OID_OFF_MASK;
	for (nvh_oid it = rt->list; !NVH_OID_IS_NULL(it) && r.n < MAXL + 4;) {
		r.off[r.n++] = it.off & NVH_OID_OFF_MASK;
		it.off = ((uint64_t *)nvh_direct(p, it))[0];
	}
	nvh_heap_foreach(p, count_cb, &r);
	for (unsigned i = 0; i < r.n; i++)
		if (r.off[i])
			r.bad = 2;
	if (r.bad)
		nvh_crashtest_fail(k, r.bad == 1 ? "an allocated object is unreachable "
					 "(leak)"
				       : "a reachable object is not allocated");
out:
	if (nvh_close(p) && !k->why[0])
		nvh_crashtest_fail(k, "close after recovery: %s", nvh_errormsg());
	return k->why[0] ? -1 : 0;
}

/* ---- scripts ---- */

#define NONE 0xff
static const struct tdesc mixed_script[] = {
	{T_UPDATE, 0, {0, 5, 9}},
	{T_PUSH, 0, {NONE, NONE, NONE}},
	{T_ABORT, 0, {1, 5, NONE}},
	{T_PUSH, 0, {NONE, NONE, NONE}},
	{T_POP, 0, {NONE, NONE, NONE}},
	{T_MIXED, 0, {2, 3, 4}},
	{T_UPDATE, 0, {9, NONE, NONE}},
};

static const struct tdesc extend_script[] = {
	{T_BIGADD, 0, {NONE, NONE, NONE}},
	{T_BIGABORT, 0, {NONE, NONE, NONE}},
	{T_MANY, 0, {1, NONE, NONE}},
	{T_MIXED, 0, {3, NONE, NONE}},
};

static const struct tdesc addv_script[] = {
	{T_VEC, 0, {0, 5, 9}},
	{T_MANY, 0, {1, NONE, NONE}},
	{T_VEC, 0, {5, NONE, NONE}},
	{T_MIXED, 0, {3, NONE, NONE}},
};

#define N(a) (sizeof(a) / sizeof(a[0]))

static int
addv_run(struct nvh_crashtest_run *r)
{
	return run_script(r, addv_script, N(addv_script), "1024");
}

static int
mixed_run(struct nvh_crashtest_run *r)
{
	return run_script(r, mixed_script, N(mixed_script), NULL);
}

static int
extend_run(struct nvh_crashtest_run *r)
{
	return run_script(r, extend_script, N(extend_script), "1024");
}

/* ---- two threads, interleaved step by step ---- */

/* Thread 0 and thread 1 each run three transactions on their own words;
 * steps alternate: begin, add+store, add+store, commit. */
static const struct tdesc lanes_script[] = {
	{T_UPDATE, 0, {0, 2, NONE}},
	{T_UPDATE, 1, {8, 10, NONE}},
	{T_PUSH, 0, {4, NONE, NONE}},
	{T_UPDATE, 1, {12, 8, NONE}},
	{T_UPDATE, 0, {2, 6, NONE}},
	{T_ABORT, 1, {10, 14, NONE}},
};

struct stepper {
	struct tpriv *tp;
	unsigned id;
};

static int
turn_wait(struct tpriv *tp, unsigned id)
{
	/* steps alternate between the threads while both have work */
	while (tp->step % 2 != id && !tp->error && !tp->finished[!id])
		pthread_cond_wait(&tp->cv, &tp->m);
	return tp->error;
}

static void
turn_pass(struct tpriv *tp)
{
	tp->step++;
	pthread_cond_broadcast(&tp->cv);
}

static void *
stepper_main(void *arg)
{
	struct stepper *sp = arg;
	struct tpriv *tp = sp->tp;
	nvh_pool *p = tp->pool;
	pthread_mutex_lock(&tp->m);
	for (unsigned k = 0; k < tp->n; k++) {
		const struct tdesc *d = &tp->script[k];
		if (d->thread != sp->id)
			continue;
		uint64_t v = 100 + k;
		struct root *rt = root_of(p);
		if (turn_wait(tp, sp->id))
			break;
		tp->started[k] = 1;
		nvh_tx *tx = nvh_tx_begin(p);
		turn_pass(tp);
		int rc = !tx;
		for (int i = 0; i < 3 && !rc; i++) {
			if (d->w[i] == NONE)
				continue;
			if (turn_wait(tp, sp->id))
				break;
			uint64_t *w = &rt->w[4 * d->w[i]];
			rc = nvh_tx_add(tx, w, 8);
			*w = v;
			turn_pass(tp);
		}
		if (turn_wait(tp, sp->id))
			break;
		if (!rc && d->kind == T_PUSH) {
			nvh_oid n = nvh_tx_alloc(tx, 64, 50, 0);
			uint64_t *node = nvh_direct(p, n);
			rc = !node;
			if (!rc) {
				node[0] = rt->list.off;
				node[1] = v;
				rc = nvh_tx_add(tx, &rt->list, 8);
				rt->list = n;
			}
		}
		if (!rc)
			rc = d->kind == T_ABORT ? nvh_tx_abort(tx) : nvh_tx_commit(tx);
		if (rc)
			tp->error = 1;
		tp->started[k] = 0;
		tp->done[k] = 1;
		nvh_crashtest_ack(tp->run);
		turn_pass(tp);
	}
	/* let the other thread finish its remaining steps alone */
	tp->finished[sp->id] = 1;
	pthread_cond_broadcast(&tp->cv);
	pthread_mutex_unlock(&tp->m);
	return NULL;
}

static int
lanes_run(struct nvh_crashtest_run *r)
{
	struct tpriv *tp = r->priv;
	build_model(tp, lanes_script, N(lanes_script));
	tp->run = r;
	tp->step = 0;
	tp->error = 0;
	tp->finished[0] = tp->finished[1] = 0;
	pthread_mutex_init(&tp->m, NULL);
	pthread_cond_init(&tp->cv, NULL);
	tp->pool = nvh_open(r->path, LAYOUT, &r->opts);
	if (!tp->pool)
		return -1;
	pthread_t th[2];
	struct stepper sp[2] = {{tp, 0}, {tp, 1}};
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, stepper_main, &sp[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&tp->m);
	pthread_cond_destroy(&tp->cv);
	int rc = nvh_close(tp->pool);
	return tp->error ? -1 : rc;
}

const struct nvh_crashtest nvt_wl_tx_mixed = {
	.name = "tx-mixed",
	.what = "updates, alloc+link, unlink+free, abort, mixed",
	.pool_size = POOL,
	.priv_size = sizeof(struct tpriv),
	.setup = setup,
	.run = mixed_run,
	.check = check,
};

const struct nvh_crashtest nvt_wl_tx_extend = {
	.name = "tx-extend",
	.what = "snapshots in payload blocks and record chunks",
	.pool_size = POOL,
	.priv_size = sizeof(struct tpriv),
	.setup = setup,
	.run = extend_run,
	.check = check,
};

const struct nvh_crashtest nvt_wl_tx_lanes = {
	.name = "tx-2lanes",
	.what = "two threads' transactions interleaved step by step",
	.pool_size = POOL,
	.priv_size = sizeof(struct tpriv),
	.setup = setup,
	.run = lanes_run,
	.check = check,
};

const struct nvh_crashtest nvt_wl_tx_addv = {
	.name = "tx-addv",
	.what = "nvh_tx_addv of many overlapping ranges, records in a chunk",
	.pool_size = POOL,
	.priv_size = sizeof(struct tpriv),
	.setup = setup,
	.run = addv_run,
	.check = check,
};
