/*
 * typed.c -- the typed pointer macros reject type errors at compile time.
 *
 * tests/check_compile.py compiles this file once with -DCASE=0, which must
 * succeed (-Werror), and once per case N > 0, which must fail with an
 * error on the line marked "case N".  Each case is a mistake a user could
 * make; the macros must turn it into a compile error, not a runtime one.
 */
#include <nvheap.h>

NVH_TYPE(node);
NVH_TYPE(leaf);

struct node {
	node_ptr next;
	leaf_ptr first;
	node_weak parent;
};

struct leaf {
	int64_t key;
};

NVH_TYPE_DEFINE(node, 0, NVH_PTR(node, next, node) NVH_PTR(node, first, leaf)
		NVH_WEAK(node, parent, node));
NVH_TYPE_DEFINE(leaf, 0);

int use(nvh_pool *pool, nvh_tx *tx, node_ptr n, leaf_ptr l, nvh_oid raw);

int
use(nvh_pool *pool, nvh_tx *tx, node_ptr n, leaf_ptr l, nvh_oid raw)
{
	struct node *np = node_d(pool, n);
	int rc = 0;
	(void)l;
	(void)raw;
#if CASE == 0 /* the right types compile */
	rc |= NVH_TX_SET(tx, &np->next, n);
	rc |= NVH_TX_SET(tx, &np->first, l);
	rc |= NVH_TX_SET(tx, &np->next, NVH_NULL(node));
	rc |= NVH_TX_SET_WEAK(tx, node, &np->parent, n);
	struct leaf *lp = leaf_d(pool, l);
	(void)lp;
	node_ptr back = NVH_WEAK_GET(pool, node, &np->parent);
	(void)back;
#elif CASE == 1
	rc |= NVH_TX_SET(tx, &np->next, l); /* case 1: a leaf into a node field */
#elif CASE == 2
	rc |= NVH_TX_SET(tx, &np->first, n); /* case 2: a node into a leaf field */
#elif CASE == 3
	rc |= NVH_TX_SET(tx, &np->next, raw); /* case 3: an untyped oid */
#elif CASE == 4
	rc |= NVH_TX_SET_WEAK(tx, node, &np->parent, l); /* case 4: weak, wrong type */
#elif CASE == 5
	struct leaf *lp = node_d(pool, n); /* case 5: accessor returns struct node * */
	(void)lp;
#elif CASE == 6
	leaf_ptr x = NVH_WEAK_GET(pool, node, &np->parent); /* case 6: reads a node_ptr */
	(void)x;
#elif CASE == 7
	rc |= NVH_TX_SET(tx, &np->next, NVH_NULL(leaf)); /* case 7: a null of another type */
#endif
	return rc;
}
