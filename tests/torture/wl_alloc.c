/*
 * wl_alloc.c -- torture workloads for the allocator's atomic API: scripts
 * of nvh_alloc and nvh_free over a table of slots (an object anchored in
 * the root slot), small and large sizes, with and without constructors,
 * from one thread or from two threads on two lanes taking turns.
 *
 * Oracle, for every recovered image:
 *   - every slot holds what the acknowledged operations left in it; the
 *     slot of the operation in flight holds its old value or a new live
 *     object (all or nothing);
 *   - the set of allocated blocks on the medium (bitmaps and large runs)
 *     is exactly the slot table plus the objects the slots name: no leak,
 *     no dangling slot;
 *   - no two of those objects overlap; a constructed object has its
 *     constructor's contents;
 *   - the DRAM state rebuilt at open agrees with the medium
 *     (nvh_heap_verify).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>

#include "heap/checksum.h"
#include "heap/heap.h"
#include "heap/pool.h"

#define LAYOUT "torture-alloc"
#define NSLOTS 8
#define POOL_SIZE (4ull << 20)

enum { ALLOC, FREE, GROW /* nvh_pool_grow to size MiB */ };

struct aop {
	uint8_t thread; /* 0 or 1 */
	uint8_t kind;
	uint8_t slot;
	uint8_t ctor;
	uint32_t size;
};

struct apriv {
	const struct aop *ops;
	unsigned nops;
	uint64_t slot[NSLOTS];   /* after the acknowledged operations */
	int inflight;            /* index of the op in flight, or -1 */
	/* two threads taking turns */
	pthread_mutex_t m;
	pthread_cond_t cv;
	unsigned turn;           /* next op to run */
	nvh_pool *pool;
	struct nvh_crashtest_run *run;
	int error;
};

static nvh_oid *
slots(nvh_pool *p)
{
	return nvh_direct(p, *nvh_root_slot(p));
}

static int
pattern_ctor(nvh_pool *p, void *obj, void *arg)
{
	(void)p;
	uint32_t size = *(uint32_t *)arg;
	for (uint32_t i = 0; i < size; i++)
		((unsigned char *)obj)[i] = (unsigned char)(i * 13 + 7);
	return 0;
}

static int
pattern_ok(const unsigned char *obj, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++)
		if (obj[i] != (unsigned char)(i * 13 + 7))
			return 0;
	return 1;
}

/* A pool of `size` bytes with the slot table in its root slot. */
static int
setup_pool(struct nvh_crashtest_run *r, uint64_t size,
	   const struct nvh_opts *o)
{
	nvh_pool *p = nvh_create(r->path, LAYOUT, size, o);
	if (!p)
		return -1;
	if (nvh_alloc(p, nvh_root_slot(p), NSLOTS * sizeof(nvh_oid), 7, NULL,
		      NULL) ||
	    nvh_memset_persist(p, slots(p), 0, NSLOTS * sizeof(nvh_oid))) {
		nvh_close(p);
		return -1;
	}
	return nvh_close(p);
}

static int
setup(struct nvh_crashtest_run *r)
{
	return setup_pool(r, POOL_SIZE, &r->opts);
}

/* alloc-grow: a 2 MiB pool that grows by 1 MiB steps (a large object
 * gets a step its size) */
static int
setup_grow(struct nvh_crashtest_run *r)
{
	struct nvh_opts o = r->opts;
	o.max_size = NVH_GROW_UNLIMITED;
	o.grow_step = 1u << 20;
	return setup_pool(r, NVH_MIN_POOL_SIZE, &o);
}

/* alloc-grow-old: a pool as the format before segments wrote it (no
 * SEGMENTS bit, heap_size with the slack after the arenas), grown: the
 * first growth must make the header accept a longer file before it
 * extends the file */
static int
setup_old_format(struct nvh_crashtest_run *r)
{
	if (setup(r))
		return -1;
	int fd = open(r->path, O_RDWR);
	for (int c = 0; fd >= 0 && c < 2; c++) {
		struct nvh_pool_hdr h;
		off_t at = c ? NVH_HDR_B_OFFSET : NVH_HDR_A_OFFSET;
		if (pread(fd, &h, sizeof(h), at) != (ssize_t)sizeof(h))
			break;
		h.features &= ~(uint64_t)NVH_FEAT_SEGMENTS;
		h.heap_size = h.pool_size - h.heap_offset;
		h.checksum = nvh_checksum(&h, offsetof(struct nvh_pool_hdr,
						       checksum));
		if (pwrite(fd, &h, sizeof(h), at) != (ssize_t)sizeof(h))
			break;
		if (c == 1) {
			close(fd);
			return 0;
		}
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

static int
do_op(struct apriv *ap, nvh_pool *p, unsigned i)
{
	const struct aop *o = &ap->ops[i];
	nvh_oid *s = slots(p);
	uint32_t size = o->size;
	ap->inflight = (int)i;
	int rc = o->kind == ALLOC
		? nvh_alloc(p, &s[o->slot], size, 100 + i,
			    o->ctor ? pattern_ctor : NULL, &size)
		: o->kind == GROW ? nvh_pool_grow(p, (uint64_t)size << 20)
		: nvh_free(p, &s[o->slot]);
	if (rc)
		return rc;
	ap->slot[o->slot] = s[o->slot].off;
	ap->inflight = -1;
	nvh_crashtest_ack(ap->run);
	return 0;
}

static int
run_one_thread(struct nvh_crashtest_run *r, const struct aop *ops, unsigned n)
{
	struct apriv *ap = r->priv;
	ap->ops = ops;
	ap->nops = n;
	ap->inflight = -1;
	ap->run = r;
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	if (!p)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (do_op(ap, p, i)) {
			nvh_close(p);
			return -1;
		}
	return nvh_close(p);
}

struct tt {
	struct apriv *ap;
	unsigned id;
};

static void *
taker(void *arg)
{
	struct tt *t = arg;
	struct apriv *ap = t->ap;
	pthread_mutex_lock(&ap->m);
	for (;;) {
		while (ap->turn < ap->nops && ap->ops[ap->turn].thread != t->id)
			pthread_cond_wait(&ap->cv, &ap->m);
		if (ap->turn >= ap->nops || ap->error)
			break;
		unsigned i = ap->turn;
		/* Run the op holding the mutex: the other thread waits, so
		 * the simulator sees one thread at a time. */
		if (do_op(ap, ap->pool, i))
			ap->error = 1;
		ap->turn++;
		pthread_cond_broadcast(&ap->cv);
	}
	pthread_cond_broadcast(&ap->cv);
	pthread_mutex_unlock(&ap->m);
	return NULL;
}

static int
run_two_threads(struct nvh_crashtest_run *r, const struct aop *ops, unsigned n)
{
	struct apriv *ap = r->priv;
	ap->ops = ops;
	ap->nops = n;
	ap->inflight = -1;
	ap->run = r;
	ap->turn = 0;
	ap->error = 0;
	pthread_mutex_init(&ap->m, NULL);
	pthread_cond_init(&ap->cv, NULL);
	ap->pool = nvh_open(r->path, LAYOUT, &r->opts);
	if (!ap->pool)
		return -1;
	pthread_t th[2];
	struct tt t[2] = {{ap, 0}, {ap, 1}};
	/* Start thread 0 first so it is given lane 0, thread 1 lane 1. */
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, taker, &t[i]) != 0)
			return -1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&ap->m);
	pthread_cond_destroy(&ap->cv);
	int rc = nvh_close(ap->pool);
	return ap->error ? -1 : rc;
}

/* ---- the check ---- */

struct obj {
	uint64_t off, size;
	uint32_t type;
};

struct collect {
	struct obj o[64];
	unsigned n;
};

static int
collect_cb(void *arg, uint64_t off, uint64_t size, uint32_t type)
{
	struct collect *c = arg;
	if (c->n == 64)
		return -1;
	c->o[c->n++] = (struct obj){off, size, type};
	return 0;
}

static int
check(struct nvh_crashtest_check *k)
{
	struct apriv *ap = k->priv;
	nvh_pool *p = nvh_crashtest_open(k, LAYOUT);
	if (!p)
		return nvh_crashtest_fail(k, "open failed after %u operations: %s",
				k->acked, nvh_errormsg());
	k->why[0] = 0;
	nvh_oid *s = slots(p);
	struct collect c = {.n = 0};
	if (!s) {
		nvh_crashtest_fail(k, "the slot table is gone");
		goto out;
	}
	if (nvh_heap_verify(p) != 0) {
		nvh_crashtest_fail(k, "DRAM state disagrees with the medium: %s",
			 nvh_errormsg());
		goto out;
	}
	if (nvh_heap_foreach(p, collect_cb, &c) != 0) {
		nvh_crashtest_fail(k, "more than 64 objects allocated");
		goto out;
	}
	/* Expected live objects: the slot table and each slot's object. */
	int infl = ap->inflight;
	const struct aop *io = infl >= 0 ? &ap->ops[infl] : NULL;
	uint64_t want[NSLOTS + 1];
	unsigned nwant = 0;
	want[nwant++] = nvh_root_slot(p)->off & NVH_OID_OFF_MASK;
	for (unsigned i = 0; i < NSLOTS; i++) {
		uint64_t v = s[i].off;
		if (io && io->slot == i && v != ap->slot[i]) {
			/* in flight: old value, or a new object for an
			 * alloc, or null for a free */
			if (io->kind == FREE && v != 0) {
				nvh_crashtest_fail(k, "slot %u: 0x%llx, neither the "
					 "freed object nor null", i,
					 (unsigned long long)v);
				goto out;
			}
			if (io->kind == ALLOC && v == 0) {
				nvh_crashtest_fail(k, "slot %u: null", i);
				goto out;
			}
		} else if (v != ap->slot[i]) {
			nvh_crashtest_fail(k, "slot %u holds 0x%llx, acknowledged "
				 "0x%llx", i, (unsigned long long)v,
				 (unsigned long long)ap->slot[i]);
			goto out;
		}
		if (v)
			want[nwant++] = v & NVH_OID_OFF_MASK;
	}
	/* bits set <=> reachable */
	for (unsigned i = 0; i < nwant; i++) {
		unsigned j = 0;
		while (j < c.n && c.o[j].off != want[i])
			j++;
		if (j == c.n) {
			nvh_crashtest_fail(k, "reachable object 0x%llx is not allocated "
				 "(dangling)", (unsigned long long)want[i]);
			goto out;
		}
	}
	for (unsigned j = 0; j < c.n; j++) {
		unsigned i = 0;
		while (i < nwant && want[i] != c.o[j].off)
			i++;
		if (i == nwant) {
			nvh_crashtest_fail(k, "allocated object 0x%llx (%llu bytes) is "
				 "not reachable (leak)",
				 (unsigned long long)c.o[j].off,
				 (unsigned long long)c.o[j].size);
			goto out;
		}
		if (j && c.o[j].off < c.o[j - 1].off + c.o[j - 1].size) {
			nvh_crashtest_fail(k, "objects 0x%llx and 0x%llx overlap",
				 (unsigned long long)c.o[j - 1].off,
				 (unsigned long long)c.o[j].off);
			goto out;
		}
		/* constructed objects carry their contents */
		uint32_t t = c.o[j].type;
		if (t >= 100 && t - 100 < ap->nops && ap->ops[t - 100].ctor &&
		    !pattern_ok((const unsigned char *)p->base + c.o[j].off,
				ap->ops[t - 100].size)) {
			nvh_crashtest_fail(k, "object 0x%llx lost its constructed "
				 "contents", (unsigned long long)c.o[j].off);
			goto out;
		}
	}
out:
	if (nvh_close(p) && !k->why[0])
		nvh_crashtest_fail(k, "close after recovery: %s", nvh_errormsg());
	return k->why[0] ? -1 : 0;
}

/* ---- the scripts ---- */

#define LARGE1 (300u << 10) /* two arenas */

static const struct aop mixed_ops[] = {
	{0, ALLOC, 0, 0, 64},
	{0, ALLOC, 1, 1, 300},
	{0, ALLOC, 2, 0, LARGE1},
	{0, FREE, 1, 0, 0},
	{0, ALLOC, 3, 1, 100},
	{0, FREE, 0, 0, 0},
	{0, FREE, 2, 0, 0},
	{0, ALLOC, 1, 1, 1000},
	{0, ALLOC, 2, 0, 200u << 10},
	{0, FREE, 3, 0, 0},
};

static const struct aop lanes_ops[] = {
	{0, ALLOC, 0, 0, 64},
	{1, ALLOC, 1, 0, 64},
	{1, FREE, 0, 0, 0},    /* thread 1 frees thread 0's object */
	{0, ALLOC, 2, 0, 64},  /* may reuse it: ordered by sequence */
	{0, FREE, 1, 0, 0},
	{1, ALLOC, 0, 1, 128},
	{0, ALLOC, 3, 0, LARGE1},
	{1, FREE, 3, 0, 0},
	{1, ALLOC, 1, 0, 64},
};

/* 2 MiB holds 6 arenas: the large objects make it grow, a growth that
 * adds a bigger segment for one, and objects in the new segments freed
 * and allocated again */
static const struct aop grow_ops[] = {
	{0, ALLOC, 0, 1, 64},
	{0, ALLOC, 1, 0, 1u << 20},    /* 4 arenas */
	{0, ALLOC, 2, 0, 1u << 20},    /* grows */
	{0, ALLOC, 3, 1, 4000},
	{0, ALLOC, 4, 0, 3u << 20},    /* grows by a step of its size */
	{0, FREE, 1, 0, 0},
	{0, ALLOC, 5, 0, 900u << 10},
	{0, FREE, 4, 0, 0},
	{0, ALLOC, 6, 0, 4u << 20},    /* grows again: no 16 free in a row */
	{0, ALLOC, 7, 0, 64},
};

static const struct aop grow_old_ops[] = {
	{0, ALLOC, 0, 1, 64},
	{0, GROW, 0, 0, 8},            /* 4 MiB -> 8 MiB */
	{0, ALLOC, 1, 0, 3u << 20},    /* in the new segment */
	{0, ALLOC, 2, 1, 200},
};

#define N(a) (sizeof(a) / sizeof(a[0]))

static int
grow_old_run(struct nvh_crashtest_run *r)
{
	return run_one_thread(r, grow_old_ops, N(grow_old_ops));
}

static int
grow_run(struct nvh_crashtest_run *r)
{
	int rc = run_one_thread(r, grow_ops, N(grow_ops));
	if (rc)
		return rc;
	/* it grew, several times */
	nvh_pool *p = nvh_open(r->path, LAYOUT, &r->opts);
	struct nvh_pool_info i;
	if (!p || nvh_pool_info(p, &i) || i.segments < 3) {
		if (p)
			nvh_close(p);
		return -1;
	}
	return nvh_close(p);
}

static int
mixed_run(struct nvh_crashtest_run *r)
{
	return run_one_thread(r, mixed_ops, N(mixed_ops));
}

static int
lanes_run(struct nvh_crashtest_run *r)
{
	return run_two_threads(r, lanes_ops, N(lanes_ops));
}

const struct nvh_crashtest nvt_wl_alloc_mixed = {
	.name = "alloc-mixed",
	.what = "atomic allocs and frees, small and large, some constructed",
	.pool_size = POOL_SIZE,
	.priv_size = sizeof(struct apriv),
	.setup = setup,
	.run = mixed_run,
	.check = check,
};

const struct nvh_crashtest nvt_wl_alloc_lanes = {
	.name = "alloc-2lanes",
	.what = "two threads on two lanes, freeing each other's objects",
	.pool_size = POOL_SIZE,
	.priv_size = sizeof(struct apriv),
	.setup = setup,
	.run = lanes_run,
	.check = check,
};

const struct nvh_crashtest nvt_wl_alloc_grow = {
	.name = "alloc-grow",
	.what = "a 2 MiB pool grown by its allocations: crashes during growth",
	.pool_size = NVH_MIN_POOL_SIZE,
	.priv_size = sizeof(struct apriv),
	.setup = setup_grow,
	.run = grow_run,
	.check = check,
};

const struct nvh_crashtest nvt_wl_alloc_grow_old = {
	.name = "alloc-grow-old",
	.what = "a pool in the format before segments, grown by nvh_pool_grow",
	.pool_size = POOL_SIZE,
	.priv_size = sizeof(struct apriv),
	.setup = setup_old_format,
	.run = grow_old_run,
	.check = check,
};
