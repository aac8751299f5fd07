/*
 * stack.c -- a persistent stack of integers; see stack.h.
 *
 * Every push and pop is one transaction: a crash at any moment leaves the
 * stack as it was before the operation or after it, with no node leaked.
 * Built with -DSTACK_PLANTED_BUG (examples/SConscript), push forgets to
 * snapshot the size it changes: the broken variant the crash test must
 * catch.
 */
#include <errno.h>
#include <stddef.h>

#include "stack.h"

NVH_TYPE_DEFINE(node, 0, NVH_PTR(node, next, node));
NVH_TYPE_DEFINE(stack, 0, NVH_PTR(stack, top, node));

nvh_pool *
stack_open(const char *path, uint64_t size, const struct nvh_opts *opts,
	   stack_ptr *s)
{
	nvh_pool *pool = nvh_open(path, STACK_LAYOUT, opts);
	if (!pool && errno == ENOENT)
		pool = nvh_create(path, STACK_LAYOUT, size, opts);
	if (!pool)
		return NULL;
	if (nvh_type_register(pool, &node_type) ||
	    nvh_type_register(pool, &stack_type) ||
	    NVH_IS_NULL(*s = NVH_ROOT(pool, stack))) { /* made the first time */
		nvh_close(pool);
		return NULL;
	}
	return pool;
}

int
stack_push(nvh_pool *pool, stack_ptr s, int64_t v)
{
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx)
		return -1;
	struct stack *sp = stack_d(pool, s);
	node_ptr n = NVH_TX_ALLOC(tx, node);  /* zeroed; no snapshot needed */
	if (!NVH_IS_NULL(n)) {
		node_d(pool, n)->value = v;
		NVH_TX_SET(tx, &node_d(pool, n)->next, sp->top);
		NVH_TX_SET(tx, &sp->top, n);      /* checked store, counted */
#ifndef STACK_PLANTED_BUG
		nvh_tx_add(tx, &sp->size, sizeof(sp->size));
#endif
		sp->size++;
	}
	return nvh_tx_commit(tx);             /* durable when it returns */
}

int
stack_pop(nvh_pool *pool, stack_ptr s, int64_t *v)
{
	struct stack *sp = stack_d(pool, s);
	if (NVH_IS_NULL(sp->top))
		return -ENOENT;
	nvh_tx *tx = nvh_tx_begin(pool);
	if (!tx)
		return -1;
	struct node *top = node_d(pool, sp->top);
	*v = top->value;
	/* Unlinking drops the node's count to zero: freed at commit. */
	NVH_TX_SET(tx, &sp->top, top->next);
	nvh_tx_add(tx, &sp->size, sizeof(sp->size));
	sp->size--;
	return nvh_tx_commit(tx);
}
