/*
 * wl_obj.c -- typed-object benchmarks: what a checked, reference-counted
 * pointer store costs next to libpmemobj's unchecked one (snapshot the
 * field, assign), each operation one transaction.
 *
 *   obj-set-ptr   store one of two live objects into a root field: the
 *                 checks, the old target's count down, the new one's up
 *   obj-push-pop  push a new node on a list, then pop it (nvheap frees it
 *                 when its count reaches zero; libpmemobj frees it
 *                 explicitly): two transactions per operation
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpmemobj.h>
#include <nvheap.h>

#include "bench.h"

NVH_TYPE(bnode);
NVH_TYPE(broot);

struct bnode {
	int64_t value;
	bnode_ptr next;
};

struct broot {
	bnode_ptr field; /* obj-set-ptr stores here */
	bnode_ptr x, y;  /* keep both targets alive */
	bnode_ptr head;  /* obj-push-pop */
};

NVH_TYPE_DEFINE(bnode, 0, NVH_PTR(bnode, next, bnode));
NVH_TYPE_DEFINE(broot, 0, NVH_PTR(broot, field, bnode)
		NVH_PTR(broot, x, bnode) NVH_PTR(broot, y, bnode)
		NVH_PTR(broot, head, bnode));

/* ---- nvheap ---- */

struct nvs {
	nvh_pool *pool;
	struct broot *r;
};

static int
nvh_fail(void)
{
	fprintf(stderr, "nvheap: %s\n", nvh_errormsg());
	return -1;
}

static void *
nvh_setup(const char *path, unsigned threads)
{
	(void)threads;
	struct nvs *s = calloc(1, sizeof(*s));
	s->pool = nvh_create(path, "bench", BENCH_POOL_SIZE, NULL);
	if (!s->pool || nvh_type_register(s->pool, &bnode_type) ||
	    nvh_type_register(s->pool, &broot_type))
		goto fail;
	broot_ptr root = NVH_ROOT(s->pool, broot);
	if (NVH_IS_NULL(root))
		goto fail;
	s->r = broot_d(s->pool, root);
	nvh_tx *tx = nvh_tx_begin(s->pool);
	if (!tx || NVH_TX_SET(tx, &s->r->x, NVH_TX_ALLOC(tx, bnode)) ||
	    NVH_TX_SET(tx, &s->r->y, NVH_TX_ALLOC(tx, bnode)) ||
	    nvh_tx_commit(tx))
		goto fail;
	return s;
fail:
	nvh_fail();
	if (s->pool)
		nvh_close(s->pool);
	free(s);
	return NULL;
}

static void
nvh_teardown(void *state)
{
	struct nvs *s = state;
	nvh_close(s->pool);
	free(s);
}

static int
nvh_set_ptr(void *state, unsigned tid, uint64_t n)
{
	struct nvs *s = state;
	(void)tid;
	for (uint64_t i = 0; i < n; i++) {
		nvh_tx *tx = nvh_tx_begin(s->pool);
		if (!tx || NVH_TX_SET(tx, &s->r->field, i % 2 ? s->r->x : s->r->y) ||
		    nvh_tx_commit(tx))
			return nvh_fail();
	}
	return 0;
}

static int
nvh_push_pop(void *state, unsigned tid, uint64_t n)
{
	struct nvs *s = state;
	nvh_pool *p = s->pool;
	(void)tid;
	for (uint64_t i = 0; i < n; i++) {
		nvh_tx *tx = nvh_tx_begin(p);
		bnode_ptr b = tx ? NVH_TX_ALLOC(tx, bnode) : NVH_NULL(bnode);
		if (NVH_IS_NULL(b))
			return nvh_fail();
		bnode_d(p, b)->value = (int64_t)i;
		if (NVH_TX_SET(tx, &bnode_d(p, b)->next, s->r->head) ||
		    NVH_TX_SET(tx, &s->r->head, b) || nvh_tx_commit(tx))
			return nvh_fail();
		tx = nvh_tx_begin(p);
		if (!tx ||
		    NVH_TX_SET(tx, &s->r->head, bnode_d(p, s->r->head)->next) ||
		    nvh_tx_commit(tx)) /* the popped node is freed */
			return nvh_fail();
	}
	return 0;
}

/* ---- libpmemobj ---- */

struct pnode {
	int64_t value;
	PMEMoid next;
};

struct proot {
	PMEMoid field, x, y, head;
};

struct pms {
	PMEMobjpool *pop;
	struct proot *r;
};

static int
pmdk_fail(void)
{
	fprintf(stderr, "libpmemobj: %s\n", pmemobj_errormsg());
	return -1;
}

static void *
pmdk_setup(const char *path, unsigned threads)
{
	(void)threads;
	struct pms *s = calloc(1, sizeof(*s));
	s->pop = pmemobj_create(path, "bench", BENCH_POOL_SIZE, 0600);
	if (!s->pop)
		goto fail;
	s->r = pmemobj_direct(pmemobj_root(s->pop, sizeof(struct proot)));
	if (pmemobj_zalloc(s->pop, &s->r->x, sizeof(struct pnode), 1) ||
	    pmemobj_zalloc(s->pop, &s->r->y, sizeof(struct pnode), 1))
		goto fail;
	return s;
fail:
	pmdk_fail();
	if (s->pop)
		pmemobj_close(s->pop);
	free(s);
	return NULL;
}

static void
pmdk_teardown(void *state)
{
	struct pms *s = state;
	pmemobj_close(s->pop);
	free(s);
}

static int
pmdk_set_ptr(void *state, unsigned tid, uint64_t n)
{
	struct pms *s = state;
	(void)tid;
	for (uint64_t i = 0; i < n; i++) {
		if (pmemobj_tx_begin(s->pop, NULL, TX_PARAM_NONE) ||
		    pmemobj_tx_add_range_direct(&s->r->field, sizeof(PMEMoid)))
			return pmdk_fail();
		s->r->field = i % 2 ? s->r->x : s->r->y;
		pmemobj_tx_commit();
		if (pmemobj_tx_end())
			return pmdk_fail();
	}
	return 0;
}

static int
pmdk_push_pop(void *state, unsigned tid, uint64_t n)
{
	struct pms *s = state;
	(void)tid;
	for (uint64_t i = 0; i < n; i++) {
		if (pmemobj_tx_begin(s->pop, NULL, TX_PARAM_NONE))
			return pmdk_fail();
		PMEMoid o = pmemobj_tx_alloc(sizeof(struct pnode), 2);
		struct pnode *pn = pmemobj_direct(o);
		if (!pn)
			return pmdk_fail();
		pn->value = (int64_t)i;
		pn->next = s->r->head;
		if (pmemobj_tx_add_range_direct(&s->r->head, sizeof(PMEMoid)))
			return pmdk_fail();
		s->r->head = o;
		pmemobj_tx_commit();
		if (pmemobj_tx_end() ||
		    pmemobj_tx_begin(s->pop, NULL, TX_PARAM_NONE))
			return pmdk_fail();
		PMEMoid top = s->r->head;
		struct pnode *tn = pmemobj_direct(top);
		if (pmemobj_tx_add_range_direct(&s->r->head, sizeof(PMEMoid)))
			return pmdk_fail();
		s->r->head = tn->next;
		if (pmemobj_tx_free(top))
			return pmdk_fail();
		pmemobj_tx_commit();
		if (pmemobj_tx_end())
			return pmdk_fail();
	}
	return 0;
}

#define SIDES(fn_nvh, fn_pmdk)                                               \
	.nvh = {nvh_setup, fn_nvh, nvh_teardown, NULL},                      \
	.pmdk = {pmdk_setup, fn_pmdk, pmdk_teardown, NULL}

const struct bench_workload bench_obj_set_ptr = {
	.name = "obj-set-ptr",
	.what = "transaction storing a pointer (nvheap: checked and counted)",
	.threads = 1, SIDES(nvh_set_ptr, pmdk_set_ptr),
};

const struct bench_workload bench_obj_push_pop = {
	.name = "obj-push-pop",
	.what = "push a new list node, pop it (nvheap: freed by its count)",
	.threads = 1, SIDES(nvh_push_pop, pmdk_push_pop),
};
