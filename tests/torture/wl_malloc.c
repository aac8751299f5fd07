/*
 * wl_malloc.c -- torture workload for nvh_malloc (nvheap/malloc.h): a
 * persistent stack of nvh_malloc nodes anchored in the root slot, pushed
 * (write, persist, link, persist the link) and popped (unlink, persist,
 * nvh_mfree), with blocks allocated and never linked, a large block (a
 * logged object), a clean close and reopen mid-way (the bitmaps' write),
 * and an explicit nvh_gc.  The explorer also crashes the check's own open
 * and close: the collection after a crash and the bitmaps' write at its
 * clean close.
 *
 * Oracle, for every recovered image:
 *   - the stack holds the acknowledged keys, in order, each node intact;
 *     an operation in flight is all or nothing;
 *   - nvh_check finds no problem: in particular no reachable block that
 *     the allocator thinks free (a collection or a stale bitmap that lost
 *     a node would show here), and every reachable block counted;
 *   - after an unclean shutdown, what the collection keeps is exactly the
 *     stack (the loose blocks are freed).
 */
#include <stdio.h>
#include <string.h>

#include "workloads.h"

#define LAYOUT "torture-malloc"
#define MAXN 64

enum { PUSH, POP, LOOSE, REOPEN, GC };

struct mop {
	uint8_t kind;
	uint32_t size;
};

struct mnode {
	uint64_t next;
	uint64_t key;
	uint64_t size;
	uint64_t check;
};

#define MAGIC 0x746f72746d616c6cull

struct mpriv {
	uint64_t key[MAXN]; /* the stack after the acknowledged ops, bottom up */
	unsigned n;
	int inflight;        /* index of the op in flight, or -1 */
	uint64_t next_key;
};

static const struct mop ops[] = {
	{PUSH, 32},   {PUSH, 100},  {LOOSE, 64},  {PUSH, 640},  {PUSH, 20000},
	{POP, 0},     {PUSH, 48},   {LOOSE, 3000}, {REOPEN, 0}, {PUSH, 16},
	{POP, 0},     {POP, 0},     {LOOSE, 30000}, {GC, 0},    {PUSH, 4000},
	{PUSH, 64},
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static uint64_t
node_check(uint64_t key, uint64_t size)
{
	return key * 31 ^ size ^ MAGIC;
}

static int
push(nvh_pool *p, uint64_t key, uint32_t size)
{
	struct mnode *m = nvh_malloc(p, size);
	if (!m)
		return -1;
	memset(m, (int)(key & 0xff), size);
	nvh_oid *root = nvh_root_slot(p);
	m->next = root->off;
	m->key = key;
	m->size = size;
	m->check = node_check(key, size);
	/* the node is durable before the link that makes it reachable */
	if (nvh_persist(p, m, size))
		return -1;
	root->off = nvh_oid_of(p, m).off;
	/* the link is durable before the push is acknowledged */
	return nvh_persist(p, root, 8);
}

static int
pop(nvh_pool *p)
{
	nvh_oid *root = nvh_root_slot(p);
	struct mnode *m = nvh_direct(p, *root);
	if (!m)
		return -1;
	root->off = m->next;
	/* unlinked durably before the block may be reused */
	if (nvh_persist(p, root, 8))
		return -1;
	return nvh_mfree(p, m);
}

static int
setup(struct nvh_crashtest_run *r)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, 8ull << 20, &r->opts);
	return p ? nvh_close(p) : -1;
}

static int
run(struct nvh_crashtest_run *r)
{
	struct mpriv *mp = r->priv;
	mp->inflight = -1;
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	if (!p)
		return -1;
	for (unsigned i = 0; i < NOPS; i++) {
		const struct mop *o = &ops[i];
		mp->inflight = (int)i;
		int rc = 0;
		switch (o->kind) {
		case PUSH:
			rc = push(p, mp->next_key + 1, o->size);
			if (!rc)
				mp->key[mp->n++] = ++mp->next_key;
			break;
		case POP:
			rc = pop(p);
			if (!rc)
				mp->n--;
			break;
		case LOOSE:
			rc = nvh_malloc(p, o->size) ? 0 : -1;
			break;
		case REOPEN:
			rc = nvh_close(p);
			p = rc ? NULL : nvh_open(r->path, LAYOUT, &r->opts);
			rc = p ? 0 : -1;
			break;
		case GC:
			rc = nvh_gc(p, NULL);
			break;
		}
		if (rc) {
			fprintf(stderr, "malloc-stack op %u: %s\n", i,
				nvh_errormsg());
			if (p)
				nvh_close(p);
			return -1;
		}
		mp->inflight = -1;
		nvh_crashtest_ack(r);
	}
	return nvh_close(p);
}

static int
check(struct nvh_crashtest_check *k)
{
	struct mpriv *mp = k->priv;
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (!p)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
				k->acked, nvh_errormsg());
	k->why[0] = 0;
	/* the stack, top down */
	uint64_t got[MAXN + 2];
	unsigned n = 0;
	nvh_oid cur = *nvh_root_slot(p);
	while (!NVH_OID_IS_NULL(cur) && n < MAXN + 2) {
		const struct mnode *m = nvh_direct(p, cur);
		if (!m) {
			nvh_crashtest_fail(k, "node %u: oid 0x%llx is not of this "
					   "pool", n, (unsigned long long)cur.off);
			goto out;
		}
		if (m->check != node_check(m->key, m->size) ||
		    nvh_malloc_usable_size(p, m) < m->size) {
			nvh_crashtest_fail(k, "node %u (key %llu) damaged or not "
					   "allocated", n,
					   (unsigned long long)m->key);
			goto out;
		}
		const unsigned char *tail = (const unsigned char *)m + m->size - 1;
		if (m->size > sizeof(*m) && *tail != (m->key & 0xff)) {
			nvh_crashtest_fail(k, "node key %llu: its data changed",
					   (unsigned long long)m->key);
			goto out;
		}
		got[n++] = m->key;
		cur.off = m->next;
	}
	/* acknowledged, or with the op in flight applied */
	const struct mop *io = mp->inflight >= 0 ? &ops[mp->inflight] : NULL;
	unsigned want = mp->n;
	int ok = n == want;
	for (unsigned i = 0; ok && i < n; i++)
		ok = got[i] == mp->key[want - 1 - i];
	if (!ok && io && io->kind == PUSH && n == want + 1) {
		ok = got[0] == mp->next_key + 1;
		for (unsigned i = 1; ok && i < n; i++)
			ok = got[i] == mp->key[want - i];
	}
	if (!ok && io && io->kind == POP && n + 1 == want) {
		ok = 1;
		for (unsigned i = 0; ok && i < n; i++)
			ok = got[i] == mp->key[want - 2 - i];
	}
	if (!ok) {
		nvh_crashtest_fail(k, "the stack holds %u nodes (top %llu), %u "
				   "acknowledged (top %llu)", n,
				   n ? (unsigned long long)got[0] : 0, want,
				   want ? (unsigned long long)mp->key[want - 1]
					: 0);
		goto out;
	}
	struct nvh_check_report rep;
	if (nvh_check(p, &rep, NULL) != 0) {
		nvh_crashtest_fail(k, "nvh_check: %s", nvh_errormsg());
		goto out;
	}
	if (rep.malloc_reachable != n) {
		nvh_crashtest_fail(k, "%llu reachable nvh_malloc blocks, the "
				   "stack has %u",
				   (unsigned long long)rep.malloc_reachable, n);
		goto out;
	}
	struct nvh_gc_report gr;
	nvh_gc_last(p, &gr);
	if (gr.seconds > 0 && rep.malloc_blocks != n)
		nvh_crashtest_fail(k, "after the collection %llu blocks are "
				   "allocated, the stack has %u",
				   (unsigned long long)rep.malloc_blocks, n);
out:
	if (nvh_close(p) && !k->why[0])
		nvh_crashtest_fail(k, "close: %s", nvh_errormsg());
	return k->why[0] ? -1 : 0;
}

const struct nvh_crashtest nvt_wl_malloc_stack = {
	.name = "malloc-stack",
	.what = "a stack of nvh_malloc nodes: pushes, pops, loose blocks, a "
		"clean reopen and nvh_gc; crashes in use and in the collection",
	.pool_size = 8ull << 20,
	.priv_size = sizeof(struct mpriv),
	.setup = setup,
	.run = run,
	.check = check,
};
