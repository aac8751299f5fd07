/*
 * kill_malloc.c -- kill torture for nvh_malloc (nvheap/malloc.h): a
 * persistent linked hash table built the way Makalu's evaluation builds
 * one, with nvh_malloc and nothing else.  A child process runs 2 or 4
 * threads on one table in a real pool file: the root slot holds the
 * bucket array (a block larger than a malloc class: a logged object),
 * each bucket a chain of nvh_malloc nodes (key, version, value of 8 B to
 * 40 KiB).  Each thread owns the keys k with k % threads == its number
 * and inserts, replaces (a new node linked in the old one's place) and
 * deletes them, following the user's rule (docs/malloc.md): the node is
 * written and persisted before the 8-byte link that makes it reachable is
 * stored and persisted; a node is unlinked durably before it is freed.
 * Buckets are shared, so a thread splices other threads' nodes (a mutex
 * per bucket, in DRAM).  Half of the unlinked nodes, and blocks that are
 * allocated and never linked, go to a shared queue that another thread
 * frees (cross-thread frees); all of these are garbage if the process
 * dies, for the collection to free.
 *
 * Each thread journals every operation to its own libpmemlog pool: its
 * intent before the first store, its acknowledgement after the link's
 * persist.  The parent SIGKILLs the child at a random moment, sometimes
 * then starts a child that only opens the pool (the collection after the
 * crash) and kills it too, in the middle of the collection.  Then it
 * opens the pool itself, which collects, and checks:
 *   - every chain: each node allocated (nvh_malloc_usable_size), intact
 *     (its check word and every value byte), in its key's bucket, each
 *     key once;
 *   - every key holds the version of its last acknowledged operation, or
 *     absent if that was a delete; a thread's operation in flight is
 *     wholly applied or not at all;
 *   - nvh_check is clean and every allocated malloc block is reachable:
 *     the collection freed all the garbage and nothing that was linked;
 *   - every 10th kill, `nvheap check` (NVHEAP_TOOL) agrees.
 * The parent's close is clean (the bitmaps written), so the next child
 * opens without a collection and trusts those bitmaps: a wrong bit would
 * hand out a linked node, which the next check sees as damage.
 *
 *   kill_malloc [--kills N] [--seed S] [--workload NAME] [--dir DIR]
 *        [--soak SECONDS] [--keys N] [--ops N]
 *
 * Workloads kill-malloc-2t and kill-malloc-4t.  Each prints `torture
 * kill-malloc-<n>t: <N> kills, <F> failures`; the exit status is non-zero
 * if any failed.  --ops N: no kills; each thread runs N operations and
 * the child closes the pool (checks the harness alone).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpmemlog.h>
#include <nvheap.h>

#include "kill_util.h"

#define LAYOUT "kill-malloc"
#define POOL_SIZE (512ull << 20)
#define LOG_SIZE (8ull << 20)
#define NB 8192u      /* buckets: a 64 KiB block, a logged object */
#define MAXT 4u
#define GRAVE 4096u   /* the shared queue of blocks to free */
#define LOOSE 64u     /* blocks a thread holds unlinked */

enum { J_INTENT = 1, J_ACK };
enum { OP_PUT = 1, OP_DEL };

/* One journal record.  An intent says the whole operation. */
struct jrec {
	uint32_t type, op;
	uint64_t key, ver;
};

struct node {
	uint64_t next; /* oid offset of the next node in the chain, 0: none */
	uint64_t key;
	uint64_t ver;  /* the version written (unique per key) */
	uint32_t vlen;
	uint32_t pad;
	uint64_t check;
	unsigned char val[];
};

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ x >> 33;
}

static uint64_t
rnd(uint64_t *s, uint64_t n)
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix(*s) % n;
}

static unsigned
bucket_of(uint64_t key)
{
	return (unsigned)(mix(key ^ 0x6b696c6cull) % NB);
}

static uint64_t
node_check(uint64_t key, uint64_t ver, uint32_t vlen)
{
	return mix(key * 0x100000001b3ull ^ ver) ^ vlen;
}

static unsigned char
val_byte(uint64_t key, uint64_t ver, uint32_t i)
{
	return (unsigned char)(key * 7 + ver * 13 + i);
}

/* The value's length for (key, ver): 8..400 bytes mostly, up to 4000
 * often, up to 40 KiB (a large block, a logged object) now and then. */
static uint32_t
val_len(uint64_t key, uint64_t ver)
{
	uint64_t h = mix(key ^ ver << 20), r = h % 100;
	return (uint32_t)(r < 90 ? 8 + h / 100 % 393
			  : r < 99 ? 400 + h / 100 % 3601
				   : 17000 + h / 100 % 23961);
}

/* ---- the child ---- */

struct shm {
	uint32_t ready; /* the child's open returned and it walked the table */
	uint32_t in_gc; /* an opener is inside nvh_open (collecting) */
};

struct ctx {
	nvh_pool *pool;
	uint64_t *bucket;   /* the bucket array, in the pool */
	unsigned threads;
	uint64_t keys;
	uint64_t ops;       /* 0: until killed */
	pthread_mutex_t lock[NB];
	pthread_mutex_t glock;
	void *grave[GRAVE];
	unsigned ngrave;
	uint64_t *ver;      /* per key: the current version (0: absent) */
	uint64_t *next_ver; /* per key: the next version to write */
	PMEMlogpool *journal[MAXT];
};

static struct ctx cx;

static void
die(const char *what)
{
	fprintf(stderr, "kill-malloc: child: %s: %s\n", what, nvh_errormsg());
	_exit(5);
}

/* A block for another thread to free (or freed here if the queue is
 * full). */
static void
bury(void *p)
{
	pthread_mutex_lock(&cx.glock);
	if (cx.ngrave < GRAVE) {
		cx.grave[cx.ngrave++] = p;
		p = NULL;
	}
	pthread_mutex_unlock(&cx.glock);
	if (p && nvh_mfree(cx.pool, p))
		die("nvh_mfree");
}

/* Free what the other threads buried (not what this one did, mostly). */
static void
dig(unsigned t)
{
	void *mine[64];
	unsigned n = 0;
	pthread_mutex_lock(&cx.glock);
	while (cx.ngrave && n < 64)
		mine[n++] = cx.grave[--cx.ngrave];
	pthread_mutex_unlock(&cx.glock);
	(void)t;
	for (unsigned i = 0; i < n; i++)
		if (nvh_mfree(cx.pool, mine[i]))
			die("nvh_mfree of a buried block");
}

static void
journal(unsigned t, uint32_t type, uint32_t op, uint64_t key, uint64_t ver)
{
	struct jrec r = {type, op, key, ver};
	if (pmemlog_append(cx.journal[t], &r, sizeof(r))) {
		fprintf(stderr, "kill-malloc: child: journal: %s\n",
			pmemlog_errormsg());
		_exit(5);
	}
}

/* The link to key's node in its bucket's chain (the bucket mutex held):
 * the 8-byte word that points at it, or at the chain's end if absent. */
static uint64_t *
find(uint64_t key, struct node **out)
{
	uint64_t *at = &cx.bucket[bucket_of(key)];
	while (*at) {
		struct node *n = nvh_direct(cx.pool, (nvh_oid){*at});
		if (!n)
			die("a chain's link is not of this pool");
		if (n->key == key) {
			*out = n;
			return at;
		}
		at = &n->next;
	}
	*out = NULL;
	return at;
}

static void
put(uint64_t key, uint64_t ver)
{
	uint32_t vlen = val_len(key, ver);
	struct node *n = nvh_malloc(cx.pool, sizeof(*n) + vlen);
	if (!n)
		die("nvh_malloc");
	n->key = key;
	n->ver = ver;
	n->vlen = vlen;
	n->pad = 0;
	n->check = node_check(key, ver, vlen);
	for (uint32_t i = 0; i < vlen; i++)
		n->val[i] = val_byte(key, ver, i);
	unsigned b = bucket_of(key);
	pthread_mutex_lock(&cx.lock[b]);
	struct node *old;
	uint64_t *at = find(key, &old);
	n->next = old ? old->next : 0;
	/* the node, whole, is durable before the link that reaches it */
	if (nvh_persist(cx.pool, n, sizeof(*n) + vlen))
		die("nvh_persist of a node");
	*at = nvh_oid_of(cx.pool, n).off;
	/* the link is durable before the operation is acknowledged, and
	 * before the old node (now unreachable) may be freed */
	if (nvh_persist(cx.pool, at, sizeof(*at)))
		die("nvh_persist of a link");
	pthread_mutex_unlock(&cx.lock[b]);
	if (old) {
		if (mix(ver) & 1)
			bury(old);
		else if (nvh_mfree(cx.pool, old))
			die("nvh_mfree of a replaced node");
	}
}

static void
del(uint64_t key)
{
	unsigned b = bucket_of(key);
	pthread_mutex_lock(&cx.lock[b]);
	struct node *old;
	uint64_t *at = find(key, &old);
	if (!old)
		die("a key this thread holds is missing");
	*at = old->next;
	/* unlinked durably before it is acknowledged and freed */
	if (nvh_persist(cx.pool, at, sizeof(*at)))
		die("nvh_persist of an unlink");
	pthread_mutex_unlock(&cx.lock[b]);
	if (nvh_mfree(cx.pool, old))
		die("nvh_mfree of a deleted node");
}

static void *
worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	uint64_t s = mix((uint64_t)getpid() << 8 | t);
	void *loose[LOOSE];
	unsigned nloose = 0;
	uint64_t mine = (cx.keys - t + cx.threads - 1) / cx.threads;
	for (uint64_t i = 0; !cx.ops || i < cx.ops; i++) {
		uint64_t r = rnd(&s, 100);
		if (r < 5) {
			/* a block never linked: garbage after a crash */
			void *p = nvh_malloc(cx.pool, 1 + rnd(&s, 3000));
			if (!p)
				die("nvh_malloc of a loose block");
			if (nloose == LOOSE) {
				while (nloose > LOOSE / 2)
					bury(loose[--nloose]);
			}
			loose[nloose++] = p;
			continue;
		}
		if (r < 8) {
			dig(t);
			continue;
		}
		uint64_t key = t + cx.threads * rnd(&s, mine);
		if (cx.ver[key] && r < 30) {
			journal(t, J_INTENT, OP_DEL, key, 0);
			del(key);
			journal(t, J_ACK, OP_DEL, key, 0);
			cx.ver[key] = 0;
		} else {
			uint64_t v = cx.next_ver[key]++;
			journal(t, J_INTENT, OP_PUT, key, v);
			put(key, v);
			journal(t, J_ACK, OP_PUT, key, v);
			cx.ver[key] = v;
		}
	}
	while (nloose)
		if (nvh_mfree(cx.pool, loose[--nloose]))
			die("nvh_mfree of a loose block");
	return NULL;
}

static void
child(const char *path, unsigned threads, uint64_t keys, uint64_t ops,
      uint64_t vbase, struct shm *shm)
{
	alarm(ops ? 900 : 120); /* if the parent is gone */
	cx.pool = nvh_open(path, LAYOUT, NULL);
	if (!cx.pool)
		die("nvh_open");
	cx.bucket = nvh_direct(cx.pool, *nvh_root_slot(cx.pool));
	cx.threads = threads;
	cx.keys = keys;
	cx.ops = ops;
	cx.ver = calloc(keys, sizeof(*cx.ver));
	cx.next_ver = calloc(keys, sizeof(*cx.next_ver));
	if (!cx.bucket || !cx.ver || !cx.next_ver)
		die("the table");
	/* versions new to every key: each child starts its own range
	 * (vbase, from the parent's count of children) */
	for (uint64_t k = 0; k < keys; k++)
		cx.next_ver[k] = vbase;
	for (unsigned b = 0; b < NB; b++)
		for (uint64_t o = cx.bucket[b]; o;) {
			struct node *n = nvh_direct(cx.pool, (nvh_oid){o});
			if (!n || n->key >= keys)
				die("the table at the start");
			cx.ver[n->key] = n->ver;
			o = n->next;
		}
	for (unsigned b = 0; b < NB; b++)
		pthread_mutex_init(&cx.lock[b], NULL);
	pthread_mutex_init(&cx.glock, NULL);
	for (unsigned t = 0; t < threads; t++) {
		char lp[600];
		kill_log_path(lp, sizeof(lp), path, t);
		if (!(cx.journal[t] = pmemlog_open(lp))) {
			fprintf(stderr, "kill-malloc: child: %s: %s\n", lp,
				pmemlog_errormsg());
			_exit(3);
		}
	}
	__atomic_store_n(&shm->ready, 1, __ATOMIC_RELEASE);
	pthread_t th[MAXT];
	for (unsigned t = 0; t < threads; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t))
			_exit(3);
	for (unsigned t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	while (cx.ngrave)
		if (nvh_mfree(cx.pool, cx.grave[--cx.ngrave]))
			die("nvh_mfree at the end");
	for (unsigned t = 0; t < threads; t++)
		pmemlog_close(cx.journal[t]);
	_exit(nvh_close(cx.pool) ? 6 : 0);
}

/* A child that only opens (collects) and closes the pool. */
static void
opener(const char *path, struct shm *shm)
{
	alarm(120);
	__atomic_store_n(&shm->in_gc, 1, __ATOMIC_RELEASE);
	nvh_pool *pool = nvh_open(path, LAYOUT, NULL);
	__atomic_store_n(&shm->in_gc, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&shm->ready, 1, __ATOMIC_RELEASE);
	if (!pool || nvh_close(pool)) {
		fprintf(stderr, "kill-malloc: opener: %s\n", nvh_errormsg());
		_exit(3);
	}
	_exit(0);
}

/* ---- the parent ---- */

struct wl {
	const char *name;
	unsigned threads;
};

static const struct wl wls[] = {
	{"kill-malloc-2t", 2},
	{"kill-malloc-4t", 4},
};

struct stats {
	long workers, early, opens, opens_in_gc, opens_finished;
	uint64_t acked, inflight, applied, keys, nodes, big_nodes;
	uint64_t gc_freed, gc_marked_max, node_bytes;
	double gc_s, gc_max;
	long ngc;
};

/* The model: per key the version its last acknowledged operation left
 * (0: absent). */
struct model {
	uint64_t keys;
	uint64_t *ver;
};

struct pending {
	int has;
	struct jrec r;
};

struct walk {
	struct model *m;
	struct pending pend;
	uint64_t acked;
	int bad;
	char why[200];
};

static int
walk_cb(const void *buf, size_t len, void *arg)
{
	struct walk *w = arg;
	const char *p = buf;
	for (size_t at = 0; at + sizeof(struct jrec) <= len && !w->bad;
	     at += sizeof(struct jrec)) {
		struct jrec r;
		memcpy(&r, p + at, sizeof(r));
		if (r.key >= w->m->keys || (r.op != OP_PUT && r.op != OP_DEL)) {
			snprintf(w->why, sizeof(w->why), "record of key %" PRIu64
				 " op %" PRIu32, r.key, r.op);
			w->bad = 1;
		} else if (r.type == J_INTENT) {
			if (w->pend.has) {
				snprintf(w->why, sizeof(w->why), "intent on key %"
					 PRIu64 " never acknowledged before one "
					 "on key %" PRIu64, w->pend.r.key, r.key);
				w->bad = 1;
			}
			w->pend.has = 1;
			w->pend.r = r;
		} else if (r.type == J_ACK) {
			if (!w->pend.has || w->pend.r.key != r.key ||
			    w->pend.r.ver != r.ver) {
				snprintf(w->why, sizeof(w->why), "acknowledgement "
					 "of key %" PRIu64 " without its intent",
					 r.key);
				w->bad = 1;
				break;
			}
			w->m->ver[r.key] = r.op == OP_PUT ? r.ver : 0;
			w->pend.has = 0;
			w->acked++;
		} else {
			snprintf(w->why, sizeof(w->why), "record of type %" PRIu32,
				 r.type);
			w->bad = 1;
		}
	}
	if (len % sizeof(struct jrec) && !w->bad) {
		snprintf(w->why, sizeof(w->why), "journal torn: %zu bytes", len);
		w->bad = 1;
	}
	return 0;
}

/* The table against the model and the operations in flight; 0, or -1
 * with why. */
static int
check_table(nvh_pool *pool, const struct model *m, const struct pending *pend,
	    unsigned threads, struct stats *st, char *why, size_t wl)
{
	uint64_t *bucket = nvh_direct(pool, *nvh_root_slot(pool));
	if (!bucket || nvh_malloc_usable_size(pool, bucket) < NB * 8) {
		snprintf(why, wl, "the bucket array is gone");
		return -1;
	}
	uint64_t *got = calloc(m->keys, sizeof(*got)), nodes = 0, big = 0;
	if (!got) {
		snprintf(why, wl, "out of memory");
		return -1;
	}
	int rc = -1;
	for (unsigned b = 0; b < NB; b++) {
		for (uint64_t o = bucket[b]; o;) {
			const struct node *n = nvh_direct(pool, (nvh_oid){o});
			if (!n) {
				snprintf(why, wl, "bucket %u: link 0x%" PRIx64
					 " is not of this pool", b, o);
				goto out;
			}
			size_t us = nvh_malloc_usable_size(pool, n);
			if (us < sizeof(*n) || n->key >= m->keys ||
			    n->check != node_check(n->key, n->ver, n->vlen) ||
			    us < sizeof(*n) + n->vlen) {
				snprintf(why, wl, "bucket %u: node at 0x%" PRIx64
					 " (usable %zu) damaged or not "
					 "allocated", b, o, us);
				goto out;
			}
			for (uint32_t i = 0; i < n->vlen; i++)
				if (n->val[i] != val_byte(n->key, n->ver, i)) {
					snprintf(why, wl, "key %" PRIu64 ": value "
						 "byte %" PRIu32 " of %" PRIu32
						 " changed", n->key, i, n->vlen);
					goto out;
				}
			if (bucket_of(n->key) != b || got[n->key] ||
			    ++nodes > m->keys) {
				snprintf(why, wl, "key %" PRIu64 ": in bucket %u, "
					 "twice, or a cycle", n->key, b);
				goto out;
			}
			got[n->key] = n->ver;
			big += n->vlen + sizeof(*n) > 16384;
			st->node_bytes += sizeof(*n) + n->vlen;
			o = n->next;
		}
	}
	for (uint64_t k = 0; k < m->keys; k++) {
		if (got[k] == m->ver[k])
			continue;
		const struct pending *p = &pend[k % threads];
		if (p->has && p->r.key == k &&
		    got[k] == (p->r.op == OP_PUT ? p->r.ver : 0))
			continue;
		snprintf(why, wl, "key %" PRIu64 ": version %" PRIu64 " found, "
			 "%" PRIu64 " acknowledged%s", k, got[k], m->ver[k],
			 p->has && p->r.key == k ? " (and another in flight)"
						 : "");
		goto out;
	}
	/* the operations in flight are now what the pool says */
	for (unsigned t = 0; t < threads; t++)
		if (pend[t].has) {
			uint64_t k = pend[t].r.key;
			st->inflight++;
			st->applied += got[k] != m->ver[k];
			m->ver[k] = got[k];
		}
	uint64_t keys = 0;
	for (uint64_t k = 0; k < m->keys; k++)
		keys += got[k] != 0;
	st->keys = keys;
	st->nodes = nodes;
	st->big_nodes = big;
	rc = 0;
out:
	free(got);
	return rc;
}

static int
verify(const char *path, unsigned threads, struct model *m, long kill_no,
       const char *tool, struct stats *st, char *why, size_t wl)
{
	struct walk w[MAXT];
	struct pending pend[MAXT];
	for (unsigned t = 0; t < threads; t++) {
		memset(&w[t], 0, sizeof(w[t]));
		w[t].m = m;
		if (kill_journal_walk(path, t, walk_cb, &w[t], why, wl))
			return -1;
		if (w[t].bad) {
			snprintf(why, wl, "journal of thread %u: %s", t, w[t].why);
			return -1;
		}
		pend[t] = w[t].pend;
		st->acked += w[t].acked;
	}
	nvh_pool *pool = nvh_open(path, LAYOUT, NULL);
	if (!pool) {
		snprintf(why, wl, "open after the kill: %s", nvh_errormsg());
		return -1;
	}
	struct nvh_gc_report g;
	nvh_gc_last(pool, &g);
	if (g.seconds > 0 || g.marked) {
		st->ngc++;
		st->gc_s += g.seconds;
		st->gc_max = g.seconds > st->gc_max ? g.seconds : st->gc_max;
		st->gc_freed += g.freed;
		if (g.marked > st->gc_marked_max)
			st->gc_marked_max = g.marked;
	}
	int rc = check_table(pool, m, pend, threads, st, why, wl);
	struct nvh_check_report cr;
	if (!rc) {
		int c = nvh_check(pool, &cr, NULL);
		if (c || cr.problems)
			nvh_check(pool, &cr, stderr); /* what they are */
		if (c || cr.problems) {
			snprintf(why, wl, "nvh_check: %" PRIu64 " problems",
				 cr.problems);
			rc = -1;
		} else if (cr.malloc_blocks != cr.malloc_reachable) {
			snprintf(why, wl, "after the collection %" PRIu64
				 " malloc blocks allocated, %" PRIu64
				 " reachable", cr.malloc_blocks,
				 cr.malloc_reachable);
			rc = -1;
		}
	}
	if (nvh_close(pool) && !rc) {
		snprintf(why, wl, "close: %s", nvh_errormsg());
		rc = -1;
	}
	if (!rc && tool && kill_no % 10 == 0)
		rc = kill_tool_check(tool, path, why, wl);
	/* the checked state is the next start */
	if (!rc)
		rc = kill_journals_rewind(path, threads, why, wl);
	return rc;
}

static int
create(const char *path, unsigned threads)
{
	unlink(path);
	nvh_pool *pool = nvh_create(path, LAYOUT, POOL_SIZE, NULL);
	if (!pool) {
		fprintf(stderr, "kill-malloc: create %s: %s\n", path,
			nvh_errormsg());
		return -1;
	}
	uint64_t *bucket = nvh_calloc(pool, NB, 8);
	/* the zeroed array is durable before the root slot names it */
	if (!bucket || nvh_persist(pool, bucket, NB * 8))
		goto fail;
	nvh_oid *root = nvh_root_slot(pool);
	root->off = nvh_oid_of(pool, bucket).off;
	/* the root slot is durable before the pool is used */
	if (nvh_persist(pool, root, sizeof(*root)) || nvh_close(pool))
		goto fail;
	return kill_journals_create(path, threads, LOG_SIZE);
fail:
	fprintf(stderr, "kill-malloc: create %s: %s\n", path, nvh_errormsg());
	nvh_close(pool);
	return -1;
}

static int
run_wl(const struct wl *w, const char *dir, uint64_t seed, long kills,
       double soak, uint64_t keys, uint64_t ops)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s.pool", dir, w->name);
	if (create(path, w->threads))
		return 1;
	struct model m = {keys, calloc(keys, sizeof(uint64_t))};
	struct shm *shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!m.ver || shm == MAP_FAILED) {
		perror("kill-malloc: memory");
		return 1;
	}
	const char *tool = getenv("NVHEAP_TOOL");
	uint64_t s = mix(seed);
	struct stats st = {0};
	long done = 0, failures = 0;
	double t0 = now();
	for (; (soak > 0 ? now() - t0 < soak : done < kills) && !failures;) {
		char why[1500] = "";
		memset(shm, 0, sizeof(*shm));
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			perror("kill-malloc: fork");
			return 1;
		}
		if (pid == 0)
			child(path, w->threads, keys, ops,
			      ((uint64_t)st.workers + 1) << 32, shm);
		if (!ops) {
			/* a tenth early (the open, the walk), the rest
			 * while the threads run */
			if (rnd(&s, 10) == 0)
				sleep_us(rnd(&s, 3000));
			else
				sleep_us(5000 + rnd(&s, 200000));
			st.early += !__atomic_load_n(&shm->ready,
						     __ATOMIC_ACQUIRE);
			kill(pid, SIGKILL);
		}
		int fate = kill_reap(pid, ops != 0, why, sizeof(why));
		done++;
		st.workers++;
		/* a quarter of the time, an open killed in its collection
		 * (its length: about the last one's) */
		if (!ops && fate >= 0 && rnd(&s, 4) == 0) {
			double last = st.ngc ? st.gc_s / (double)st.ngc : 0.002;
			memset(shm, 0, sizeof(*shm));
			pid = fork();
			if (pid < 0) {
				perror("kill-malloc: fork");
				return 1;
			}
			if (pid == 0)
				opener(path, shm);
			sleep_us(rnd(&s, (uint64_t)(last * 1.5e6) + 2000));
			st.opens_in_gc += __atomic_load_n(&shm->in_gc,
							  __ATOMIC_ACQUIRE);
			kill(pid, SIGKILL);
			int f = kill_reap(pid, 1, why, sizeof(why));
			fate = f < 0 ? f : fate;
			st.opens++;
			st.opens_finished += f == 1;
		}
		if (fate >= 0)
			verify(path, w->threads, &m, done, tool, &st, why,
			       sizeof(why));
		if (why[0]) {
			fprintf(stderr, "FAIL torture %s (seed %" PRIu64 "): after "
				"kill %ld: %s\n", w->name, seed, done, why);
			failures++;
		}
	}
	double el = now() - t0;
	printf("torture %s: %ld kills, %ld failures\n", w->name, done, failures);
	printf("  %s: %ld workers (%ld killed before their open and walk "
	       "returned), %ld opens killed in or near their collection (%ld "
	       "collecting when killed, %ld finished first)\n", w->name,
	       st.workers, st.early, st.opens, st.opens_in_gc,
	       st.opens_finished);
	printf("  %s: %" PRIu64 " operations acknowledged, %" PRIu64 " of %"
	       PRIu64 " in flight found applied; at the end %" PRIu64 " keys "
	       "of %" PRIu64 " in %" PRIu64 " nodes (%" PRIu64 " large); %ld "
	       "collections at open, %.1f ms on average, %.1f at most, up to %"
	       PRIu64 " blocks marked, %" PRIu64 " garbage blocks freed in "
	       "all; %.1f s\n", w->name, st.acked, st.applied, st.inflight,
	       st.keys, keys, st.nodes, st.big_nodes, st.ngc,
	       st.ngc ? 1e3 * st.gc_s / (double)st.ngc : 0, 1e3 * st.gc_max,
	       st.gc_marked_max, st.gc_freed, el);
	fflush(stdout);
	munmap(shm, sizeof(*shm));
	free(m.ver);
	if (!failures) {
		kill_files_remove(path, w->threads);
	}
	return failures ? 1 : 0;
}

static int
run_one(int i, const char *dir, uint64_t seed, long kills, double soak,
	void *arg)
{
	const struct kill_args *a = arg;
	uint64_t keys = a->extra ? strtoull(a->extra, NULL, 0) : 130000;
	if (keys < MAXT) {
		fprintf(stderr, "kill_malloc: --keys must be at least %u\n",
			MAXT);
		return 2;
	}
	return run_wl(&wls[i], dir, seed, kills, soak, keys, a->ops);
}

int
main(int argc, char **argv)
{
	struct kill_args a;
	if (kill_parse(argc, argv, "kill_malloc", 100, "keys", "N", &a))
		return 2;
	const char *names[sizeof(wls) / sizeof(wls[0])];
	for (size_t i = 0; i < sizeof(wls) / sizeof(wls[0]); i++)
		names[i] = wls[i].name;
	return kill_run_all(&a, "kill-malloc", names,
			    (int)(sizeof(wls) / sizeof(wls[0])), run_one, &a);
}
