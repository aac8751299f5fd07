/*
 * list.c -- the command line of a persistent stack of integers (stack.c).
 *
 *   list POOL push N...   push each N (one transaction each)
 *   list POOL pop         pop the top (its node is freed by refcount)
 *   list POOL print       print top to bottom
 *
 * The pool is created on first use.  Kill it at any moment: every push and
 * pop is all or nothing, and `nvheap check POOL` finds no leak; crashtest.c
 * proves it at every crash point (`scons test` runs it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack.h"

static int
die(const char *what)
{
	fprintf(stderr, "list: %s: %s\n", what, nvh_errormsg());
	return 1;
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: list POOL push N... | pop | print\n");
		return 2;
	}
	stack_ptr s;
	nvh_pool *pool = stack_open(argv[1], 8 << 20, NULL, &s);
	if (!pool)
		return die(argv[1]);
	int rc = 0;
	if (!strcmp(argv[2], "push")) {
		for (int i = 3; i < argc && !rc; i++)
			rc = stack_push(pool, s, strtoll(argv[i], NULL, 0));
	} else if (!strcmp(argv[2], "pop")) {
		int64_t v;
		rc = stack_pop(pool, s, &v);
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
