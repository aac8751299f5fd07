/*
 * stack.h -- a persistent stack of integers (stack.c), the nvheap object
 * API in brief; list.c is its command line, crashtest.c its crash test.
 */
#ifndef STACK_H
#define STACK_H

#include <stdint.h>

#include <nvheap.h>

NVH_TYPE(node);
NVH_TYPE(stack);

struct node {
	int64_t value;
	node_ptr next;
};

struct stack {
	node_ptr top;
	uint64_t size;   /* nodes below top */
};

#define STACK_LAYOUT "list"

/* Open the pool at path, creating it (size bytes) if it does not exist;
 * *s is the stack, the pool's root.  NULL with nvh_errormsg() on error. */
nvh_pool *stack_open(const char *path, uint64_t size,
		     const struct nvh_opts *opts, stack_ptr *s);
/* Push v: all or nothing, durable when it returns 0. */
int stack_push(nvh_pool *pool, stack_ptr s, int64_t v);
/* Pop the top into *v: -ENOENT if empty; the node is freed by its
 * reference count reaching zero at commit. */
int stack_pop(nvh_pool *pool, stack_ptr s, int64_t *v);

#endif
