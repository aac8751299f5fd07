/*
 * list.c -- a persistent stack of integers, the nvheap object API in brief.
 *
 *   list POOL push N...   push each N (one transaction each)
 *   list POOL pop         pop the top (its node is freed by refcount)
 *   list POOL print       print top to bottom
 *
 * The pool is created on first use.  Kill it at any moment: every push and
 * pop is all or nothing, and `nvheap check POOL` finds no leak.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvheap.h>

NVH_TYPE(node);
NVH_TYPE(stack);

struct node {
	int64_t value;
	node_ptr next;
};

struct stack {
	node_ptr top;
	uint64_t size;
};

NVH_TYPE_DEFINE(node, 0, NVH_PTR(node, next, node));
NVH_TYPE_DEFINE(stack, 0, NVH_PTR(stack, top, node));

static int
die(const char *what)
{
	fprintf(stderr, "list: %s: %s\n", what, nvh_errormsg());
	return 1;
}

static int
push(nvh_pool *pool, stack_ptr s, int64_t v)
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
		nvh_tx_add(tx, &sp->size, sizeof(sp->size));
		sp->size++;
	}
	return nvh_tx_commit(tx);             /* durable when it returns */
}

static int
pop(nvh_pool *pool, stack_ptr s, int64_t *v)
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

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: list POOL push N... | pop | print\n");
		return 2;
	}
	nvh_pool *pool = nvh_open(argv[1], "list", NULL);
	if (!pool && errno == ENOENT)
		pool = nvh_create(argv[1], "list", 8 << 20, NULL);
	if (!pool)
		return die(argv[1]);
	if (nvh_type_register(pool, &node_type) ||
	    nvh_type_register(pool, &stack_type))
		return die("types");
	stack_ptr s = NVH_ROOT(pool, stack);     /* created the first time */
	if (NVH_IS_NULL(s))
		return die("root");
	int rc = 0;
	if (!strcmp(argv[2], "push")) {
		for (int i = 3; i < argc && !rc; i++)
			rc = push(pool, s, strtoll(argv[i], NULL, 0));
	} else if (!strcmp(argv[2], "pop")) {
		int64_t v;
		rc = pop(pool, s, &v);
		if (rc == -ENOENT)
			fprintf(stderr, "list: empty\n");
		else if (!rc)
			printf("%lld\n", (long long)v);
	} else if (!strcmp(argv[2], "print")) {
		for (node_ptr n = stack_d(pool, s)->top; !NVH_IS_NULL(n);
		     n = node_d(pool, n)->next)
			printf("%lld\n", (long long)node_d(pool, n)->value);
		printf("(%llu)\n", (unsigned long long)stack_d(pool, s)->size);
	} else {
		fprintf(stderr, "list: unknown command %s\n", argv[2]);
		rc = -EINVAL;
	}
	if (rc && rc != -ENOENT && rc != -EINVAL)
		die(argv[2]);
	if (nvh_close(pool))
		return die("close");
	return rc ? 1 : 0;
}
