/*
 * mt_obj.h -- the multi-threaded object workload shared by the kill
 * torture (tests/torture/kill_obj.c) and the ThreadSanitizer stress test
 * (tests/unit/test_stress.c): threads doing random transactions on
 * private and shared reference-counted structures, each announcing what
 * its transaction changes (as sums over the structures' contents) before
 * the commit and reporting the commit's result after it.
 *
 *   mt_register(pool); mt_setup(pool, nthreads);
 *   struct mt_sum base[MT_NSTRUCT]; mt_measure(pool, base, why, wl);
 *   struct mt_thread c = {.pool = pool, .t = 0, .seed = s, .ops = 1000,
 *                         .hooks = &h};
 *   pthread_create(&th, NULL, mt_run, &c);  // NULL back, or &c with c.err
 *   ... base + the acknowledged deltas == mt_measure() afterwards
 */
#ifndef NVH_TORTURE_MT_OBJ_H
#define NVH_TORTURE_MT_OBJ_H

#include <stddef.h>
#include <stdint.h>

#include <nvheap.h>

#define MT_LAYOUT "mt-obj"
#define MT_MAXT 4        /* threads */
#define MT_MAXD 6        /* structures one transaction changes, at most */

/*
 * The structures: four private ones per thread, three shared.  Each is
 * measured as the multiset of the nodes reachable from it (through
 * `next` and the children; items by their value): a count and a sum of
 * fingerprints, so a transaction's effect is a delta of both, and the
 * order in which threads' deltas are added does not matter.
 */
enum {
	MT_LIST,          /* a stack: pushes, pops, cuts */
	MT_TREE,          /* a 4-ary tree: inserts, subtree cuts, moves */
	MT_WIDE,          /* a node of 64 slots holding subtrees */
	MT_BIG,           /* a node of 1,024 slots, grown past big_max
			   * nodes, then cut (the big cascade) */
	MT_NPRIV
};
#define MT_PRIV(t, k) ((t) * MT_NPRIV + (k))
#define MT_SLIST (MT_MAXT * MT_NPRIV) /* a stack every thread pushes and pops */
#define MT_BAG (MT_SLIST + 1)        /* 64 slots: other structures' subtrees */
#define MT_ITEMS (MT_SLIST + 2)      /* 16 items nodes of all threads share */
#define MT_NSTRUCT (MT_SLIST + 3)

struct mt_sum {
	int64_t n;       /* nodes (items) */
	uint64_t h;      /* sum of their fingerprints, mod 2^64 */
};

struct mt_delta {
	uint32_t s;      /* structure */
	uint32_t pad;
	int64_t dn;
	uint64_t dh;
};

/* The operations (a transaction each). */
enum {
	MT_OP_LIST_PUSH, MT_OP_LIST_POP, MT_OP_LIST_CUT,
	MT_OP_TREE_ADD, MT_OP_TREE_CUT, MT_OP_TREE_MOVE, MT_OP_TREE_TO_WIDE,
	MT_OP_WIDE_PUT, MT_OP_WIDE_CLEAR, MT_OP_WIDE_REPLACE,
	MT_OP_BIG_GROW, MT_OP_BIG_CUT, MT_OP_ROLLBACK,
	MT_OP_PIN_CUT, MT_OP_PIN_RELINK,
	MT_OP_SLIST_PUSH, MT_OP_SLIST_POP, MT_OP_SLIST_CUT,
	MT_OP_SHARE, MT_OP_UNSHARE, MT_OP_BAG_CUT,
	MT_OP_ITEM_REPLACE, MT_OP_ITEM_LEND,
	MT_OP_WEAK_SET, MT_OP_WEAK_GET, /* the get is no transaction */
	MT_NOPS
};

/* What one transaction changes: announced before its commit. */
struct mt_op {
	uint64_t seq;    /* per thread, from 1 */
	uint32_t kind;   /* MT_OP_* */
	uint32_t nd;
	struct mt_delta d[MT_MAXD];
};

struct mt_hooks {
	/* before the commit (nothing of it can be durable yet) */
	int (*intent)(void *arg, unsigned t, const struct mt_op *op);
	/* after it: rc 0 committed (or, for MT_OP_ROLLBACK, rolled back
	 * on purpose), else rolled back with that error */
	int (*done)(void *arg, unsigned t, const struct mt_op *op, int rc);
	void *arg;
};

/* Where a thread is, for a parent process that kills it (stored with
 * atomic stores). */
enum { MT_IDLE, MT_BODY, MT_COMMIT };
struct mt_phase {
	uint32_t op;     /* MT_OP_* */
	uint32_t stage;  /* MT_IDLE, MT_BODY, MT_COMMIT (with the drain) */
};

struct mt_thread {
	nvh_pool *pool;
	unsigned t;              /* this thread's structures */
	uint64_t seed;
	uint64_t ops;            /* transactions to run; 0: until killed */
	uint64_t big_max;        /* nodes of MT_BIG before its cut (12,000) */
	uint64_t rollback_max;   /* nodes of a rolled-back transaction (12,000) */
	int lend_race;           /* item-lend unlocks before its commit */
	const struct mt_hooks *hooks;
	struct mt_phase *phase;  /* NULL, or shared memory */
	/* results */
	uint64_t ran[MT_NOPS];   /* committed (or rolled back on purpose) */
	uint64_t refused[MT_NOPS]; /* failed as allowed (lend_race: a lent
				    * item freed first) */
	uint64_t biggest_cut;    /* nodes of the largest structure cut */
	uint64_t weak_live;      /* weak reads that found their node */
	char err[512];           /* why mt_run stopped, if it failed */
};

extern const char *const mt_op_name[MT_NOPS];

int mt_register(nvh_pool *pool);
/* The root, each thread's structures, the items and the bag, made the
 * first time (later: the thread count must match). */
int mt_setup(nvh_pool *pool, unsigned nthreads);
/* Walk every structure; also checks the counts the structures keep of
 * themselves.  0, or -1 with why filled. */
int mt_measure(nvh_pool *pool, struct mt_sum sums[MT_NSTRUCT], char *why,
	       size_t wl);
/* sums += sign * the op's deltas */
void mt_apply(struct mt_sum sums[MT_NSTRUCT], const struct mt_op *op,
	      int sign);
/* 0 if equal, else -1 with the structures that differ in why. */
int mt_compare(const struct mt_sum *got, const struct mt_sum *want,
	       char *why, size_t wl);
/* The thread body: NULL when c->ops are done, else c with c->err. */
void *mt_run(void *c);
/* A 64-bit mix (splitmix64's finaliser) and a generator over it. */
uint64_t mt_mix(uint64_t x);
uint64_t mt_rand(uint64_t *state);

#endif
