/*
 * exercise.c -- using a recovered, possibly hostile, pool the way an
 * application would, so that what open accepted meets the allocator, the
 * checked stores, reference counting and the dying list.
 *
 * First untyped: a transaction allocating a small, a medium and a large
 * object (64 B, 5 KB, 300 KB) and one freeing them.  Then, if the seed
 * types register (the pool's type table agrees with seed_types.c) and
 * the root is a live fz_root: the first list node's untyped object freed
 * (atomic API) and the node unlinked (freed by its count); a subtree of
 * the tree cut (a cascade); the root's untyped object replaced (atomic
 * free and alloc); a weak pointer read; a node pinned, unlinked (dying),
 * unpinned (drained); a snapshot and update of a value.  On a sound pool
 * all of it keeps the heap consistent (fuzz_open checks that for seeds);
 * on a damaged one any step may be refused, but nothing may crash.
 *
 * The harness reads objects only after the library says they are live,
 * of the right type and large enough (obj()), so its own reads never
 * leave the mapping whatever the pointers say.
 */
#include <stdio.h>

#include "exercise.h"
#include "seed_types.h"

static int
untyped(nvh_pool *p, unsigned *committed)
{
	static const size_t size[] = {64, 5000, 300000};
	nvh_oid o[3] = {NVH_OID_NULL, NVH_OID_NULL, NVH_OID_NULL};
	nvh_tx *tx = nvh_tx_begin(p);
	if (!tx)
		return 0;
	for (int i = 0; i < 3; i++)
		o[i] = nvh_tx_alloc(tx, size[i], 5, NVH_TX_ZERO);
	if (nvh_tx_commit(tx) != 0)
		return 0;
	++*committed;
	tx = nvh_tx_begin(p);
	if (!tx)
		return 0;
	for (int i = 0; i < 3; i++) {
		if (!NVH_OID_IS_NULL(o[i]) && nvh_tx_free(tx, o[i]) != 0) {
			fprintf(stderr, "exercise: an object the last "
				"transaction allocated cannot be freed: %s\n",
				nvh_errormsg());
			nvh_tx_abort(tx);
			return -1;
		}
	}
	if (nvh_tx_commit(tx) == 0)
		++*committed;
	return 0;
}

/* The object oid names, if it is live, of type t and large enough. */
static void *
obj(nvh_pool *p, nvh_oid oid, const struct nvh_type *t)
{
	if (NVH_OID_IS_NULL(oid) || nvh_usable_size(p, oid) < t->size ||
	    nvh_type_of(p, oid) != nvh_type_id(p, t->name))
		return NULL;
	return nvh_direct_typed(p, oid, t);
}

#define NODE(o) ((struct fz_node *)obj(p, (o), &fz_node_type))
#define TREE(o) ((struct fz_tree *)obj(p, (o), &fz_tree_type))

/* One transaction storing v into *field; counts it if it committed. */
static void
store(nvh_pool *p, nvh_oid *field, nvh_oid v, unsigned *committed)
{
	nvh_tx *tx = nvh_tx_begin(p);
	if (!tx)
		return;
	nvh_tx_set(tx, field, v);
	if (nvh_tx_commit(tx) == 0)
		++*committed;
}

static void
typed(nvh_pool *p, unsigned *committed)
{
	if (nvf_register_types(p) != 0)
		return;
	struct fz_root *r = obj(p, nvh_root(p, &fz_root_type), &fz_root_type);
	if (!r)
		return;
	struct fz_node *a = NODE(r->list.oid);
	if (a) {
		*committed += nvh_free(p, &a->any) == 0;
		store(p, &r->list.oid, a->next.oid, committed);
	}
	struct fz_tree *t = TREE(r->tree.oid);
	struct fz_tree *t1 = t ? TREE(t->kid[0].oid) : NULL;
	if (t1)
		store(p, &t1->kid[0].oid, NVH_OID_NULL, committed);
	*committed += nvh_free(p, &r->raw) == 0;
	*committed += nvh_alloc(p, &r->raw, 3000, 12, NULL, NULL) == 0;
	(void)nvh_weak_get(p, &r->w.w);
	a = NODE(r->list.oid);
	nvh_oid bo = a ? a->next.oid : NVH_OID_NULL;
	struct fz_node *b = NODE(bo);
	if (b) {
		*committed += nvh_free(p, &b->any) == 0;
		int pinned = nvh_pin(p, bo) == 0;
		store(p, &a->next.oid, b->next.oid, committed);
		if (pinned)
			nvh_unpin(p, bo);
	}
	a = NODE(r->list.oid);
	if (a) {
		nvh_tx *tx = nvh_tx_begin(p);
		if (!tx)
			return;
		if (nvh_tx_add(tx, &a->value, sizeof(a->value)) == 0)
			a->value++;
		if (nvh_tx_commit(tx) == 0)
			++*committed;
	}
}

int
nvf_exercise(nvh_pool *p, unsigned *committed)
{
	*committed = 0;
	if (untyped(p, committed))
		return -1;
	typed(p, committed);
	return 0;
}
