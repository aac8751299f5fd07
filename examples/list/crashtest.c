/*
 * crashtest.c -- the crash test of the stack (stack.c), written as a user
 * of nvheap/crashtest.h writes one (docs/crashtest.md walks through it):
 *
 *   nvheap crashtest build/debug/examples/list/list_crashtest.so
 *
 * check() passes if the recovered stack is the one after the acknowledged
 * operations or after one more (the one in flight), and nothing leaked.
 */
#include <stdio.h>

#include "stack.h"

#define OPS 12

/* The oracle: the stack (bottom first) after the first `ops` operations,
 * where operation i pops when i % 3 == 2 and else pushes i. */
static unsigned
model(unsigned ops, int64_t *st)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ops; i++)
		i % 3 == 2 ? n-- : (st[n++] = i);
	return n;
}

static int
setup(struct nvh_crashtest_run *r)
{
	stack_ptr s;
	nvh_pool *pool = stack_open(r->path, NVH_MIN_POOL_SIZE, &r->opts, &s);
	return pool ? nvh_close(pool) : -1;
}

static int
run(struct nvh_crashtest_run *r)
{
	stack_ptr s;
	int64_t v;
	nvh_pool *pool = stack_open(r->path, NVH_MIN_POOL_SIZE, &r->opts, &s);
	for (unsigned i = 0; pool && i < OPS; i++) {
		if ((i % 3 == 2 ? stack_pop(pool, s, &v) : stack_push(pool, s, i)))
			break;
		nvh_crashtest_ack(r); /* durable: the check may count on it */
	}
	return pool && r->acked == OPS ? nvh_close(pool) : -1;
}

/* Whether the pool's stack is the model's after `ops` operations. */
static int
same(nvh_pool *pool, stack_ptr s, unsigned ops)
{
	int64_t st[OPS];
	unsigned n = model(ops, st), i = n;
	node_ptr p = stack_d(pool, s)->top;
	for (; !NVH_IS_NULL(p) && i > 0; p = node_d(pool, p)->next)
		if (node_d(pool, p)->value != st[--i])
			return 0;
	return NVH_IS_NULL(p) && i == 0 && stack_d(pool, s)->size == n;
}

static int
check(struct nvh_crashtest_check *k)
{
	stack_ptr s;
	nvh_pool *pool = stack_open(k->path, NVH_MIN_POOL_SIZE, &k->opts, &s);
	nvh_crashtest_opened(k); /* recovery is done: stop crashing it */
	if (!pool)
		return nvh_crashtest_fail(k, "open: %s", nvh_errormsg());
	int ok = same(pool, s, k->acked) ||
		 (!k->after_run && same(pool, s, k->acked + 1));
	int clean = nvh_check(pool, NULL, NULL) == 0;
	nvh_close(pool);
	if (!ok)
		return nvh_crashtest_fail(k, "the stack is not as after %u or "
					  "%u operations", k->acked, k->acked + 1);
	return clean ? 0 : nvh_crashtest_fail(k, "nvh_check: %s", nvh_errormsg());
}

static const struct nvh_crashtest push_pop = {
	.name = "stack-push-pop",
	.what = "12 pushes and pops, each acknowledged",
	.setup = setup, .run = run, .check = check,
};
NVH_CRASHTEST_EXPORT(&push_pop);
