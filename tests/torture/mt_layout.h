/*
 * mt_layout.h -- the persistent structures of the multi-threaded object
 * workload (private to mt_obj.c, which defines and measures them, and
 * mt_ops.c, the transactions on them; the interface is mt_obj.h).
 */
#ifndef NVH_TORTURE_MT_LAYOUT_H
#define NVH_TORTURE_MT_LAYOUT_H

#include "mt_obj.h"

#define KIDS 4
#define WIDTH 64
#define HUGE 1024
#define NITEMS 16
#define ITEM_TAG (1ull << 63)

NVH_TYPE(mt_item);
NVH_TYPE(mt_node);
NVH_TYPE(mt_wide);
NVH_TYPE(mt_huge);
NVH_TYPE(mt_thr);
NVH_TYPE(mt_root);

/* Items and nodes never change once linked, but for the links of tree
 * nodes (kid[]); nodes under wide and bag slots never change at all. */
struct mt_item {
	uint64_t value;
};

struct mt_node {
	uint64_t value;
	mt_node_ptr next;
	mt_node_ptr kid[KIDS];
	mt_item_ptr item;
};

struct mt_wide {
	uint64_t tag;
	mt_node_ptr slot[WIDTH];
};

struct mt_huge {
	uint64_t tag;
	mt_node_ptr slot[HUGE];
};

/* A thread's structures; only that thread changes it.  Every transaction
 * snapshots the words before `list`. */
struct mt_thr {
	uint64_t next_value;
	uint64_t n[MT_NPRIV];     /* nodes in each structure */
	mt_node_weak peek;        /* a node of the bag, when it was stored */
	uint64_t peek_value;      /* that node's value */
	mt_node_ptr list, tree;
	mt_wide_ptr wide;         /* never null */
	mt_huge_ptr big;
};

struct mt_root {
	uint64_t nthreads;
	uint64_t slist_n;         /* under m_slist */
	uint64_t bag_n;           /* under m_bag */
	nvh_mutex m_slist, m_bag, m_item[NITEMS];
	mt_node_ptr slist;
	mt_wide_ptr bag;          /* never null */
	mt_item_ptr item[NITEMS]; /* never null */
	mt_thr_ptr thr[MT_MAXT];
};

static inline uint64_t
mt_fp_node(uint64_t value, uint64_t item_value)
{
	return mt_mix(value ^ mt_mix(item_value + 0x632be59bd9b4e019ull));
}

static inline uint64_t
mt_fp_item(uint64_t value)
{
	return mt_mix(value ^ 0x5851f42d4c957f2dull);
}

struct mt_root *mt_root_of(nvh_pool *pool);

/* A walk's stack, reused from walk to walk (free v when done). */
struct mt_walk {
	mt_node_ptr *v;
	size_t n, cap;
};

/* Add the nodes reachable from n (through next and the children) to *s.
 * 0, or -1 with why: a pointer that is no live node, or a cycle. */
int mt_walk_add(nvh_pool *pool, struct mt_walk *w, mt_node_ptr n,
		struct mt_sum *s, char *why, size_t wl);

#endif
