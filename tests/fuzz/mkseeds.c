/*
 * mkseeds.c -- seed pools for fuzz_open: a populated pool of realistic
 * size and crash images of a run on it.
 *
 *   mkseeds DIR [--size MIB] [--nodes N] [--images N] [--name NAME]
 *
 * Builds, through the public API, a pool of --size MiB (default 8) holding
 * a list of --nodes (3000) typed objects with strong and weak pointers, a
 * 4-ary tree of 1365 typed objects, untyped objects hanging off "any"
 * fields (atomic nvh_alloc), objects of a manual type, and large objects
 * (runs of arenas), and writes it, cleanly closed, to DIR/NAME-clean.
 * Then it reopens the pool under the crash simulator (heap/persist_sim.h)
 * and runs, one thread after another (so each takes its own lane):
 * small transactions, atomic allocations and frees, one big transaction
 * whose undo records overflow the lane into chunks (a free and a new
 * large object in it), a list cut whose cascade is drained in steps of 8
 * (NVHEAP_TEST_RELEASE_MAX, so the dying list stays long on the medium),
 * a pinned object left dying, a type registration (the type table
 * replaced), an aborted transaction.  At --images (40) fences spread over
 * that run it writes crash images: the durable image alone, and with a
 * random half of the in-flight lines, as DIR/NAME-crash-NNNN; the image
 * after the last fence (the process "dies" before closing) is
 * DIR/NAME-end.  The pool as closed after the run is DIR/NAME-closed (a
 * pinned object still on the dying list), and filled until even a 64-byte
 * allocation fails, DIR/NAME-full; grown by two segments and filled
 * again, DIR/NAME-grown.  Every image must open read-write and
 * check clean: the library's crash-consistency promise, which fuzz_open
 * asserts for every unmutated seed.
 *
 * Files are written sparse (zero pages are holes).  Exit status 0, or 1
 * with a message if any step fails (which is a bug in the library).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nvheap.h>

#include "heap/persist_sim.h"

#include "rng.h"
#include "seed_types.h"

#define PAGE 4096u

/* Blob sizes: two in a size class, two large (runs of 1 and 2 arenas). */
static const uint32_t blob_size[NBLOB] = {40000, 100000, 200000, 400000};

struct world {
	const char *dir, *name, *path;
	uint64_t size;
	unsigned nodes;
	nvh_pool *p;
	fz_root_ptr root;
};

static void
die(const char *what)
{
	fprintf(stderr, "mkseeds: %s: %s\n", what, nvh_errormsg());
	exit(1);
}

#define OK(expr)                                                             \
	do {                                                                 \
		if ((expr) != 0)                                             \
			die(#expr);                                          \
	} while (0)

static struct fz_root *
rootp(struct world *w)
{
	return fz_root_d(w->p, w->root);
}

/* The i-th node of the list (0 = head), or null. */
static fz_node_ptr
nth(struct world *w, unsigned i)
{
	fz_node_ptr n = rootp(w)->list;
	while (i-- && !NVH_IS_NULL(n))
		n = fz_node_d(w->p, n)->next;
	return n;
}

/* ---- writing images ---- */

/* Write `size` bytes to DIR/NAME-what, zero pages as holes. */
static void
write_image(const struct world *w, const char *what, const uint8_t *img,
	    uint64_t size)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s-%s", w->dir, w->name, what);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "mkseeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	static const uint8_t zero[PAGE];
	for (uint64_t o = 0; o < size; o += PAGE) {
		size_t n = size - o < PAGE ? (size_t)(size - o) : PAGE;
		if (memcmp(img + o, zero, n) == 0)
			continue;
		if (pwrite(fd, img + o, n, (off_t)o) != (ssize_t)n) {
			fprintf(stderr, "mkseeds: %s: %s\n", path,
				strerror(errno));
			exit(1);
		}
	}
	if (ftruncate(fd, (off_t)size) != 0 || close(fd) != 0) {
		fprintf(stderr, "mkseeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void
copy_file(const struct world *w, const char *what)
{
	int fd = open(w->path, O_RDONLY);
	uint8_t *buf = malloc(w->size);
	if (fd < 0 || !buf || pread(fd, buf, w->size, 0) != (ssize_t)w->size) {
		fprintf(stderr, "mkseeds: reading %s: %s\n", w->path,
			strerror(errno));
		exit(1);
	}
	close(fd);
	write_image(w, what, buf, w->size);
	free(buf);
}

static void
restore_file(const struct world *w, const char *what)
{
	char src[PATH_MAX];
	snprintf(src, sizeof(src), "%s/%s-%s", w->dir, w->name, what);
	int in = open(src, O_RDONLY);
	uint8_t *buf = malloc(w->size);
	if (in < 0 || !buf || pread(in, buf, w->size, 0) != (ssize_t)w->size) {
		fprintf(stderr, "mkseeds: reading %s: %s\n", src,
			strerror(errno));
		exit(1);
	}
	close(in);
	int out = open(w->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0 || pwrite(out, buf, w->size, 0) != (ssize_t)w->size ||
	    close(out) != 0) {
		fprintf(stderr, "mkseeds: writing %s: %s\n", w->path,
			strerror(errno));
		exit(1);
	}
	free(buf);
}

/* ---- the populated pool ---- */

static fz_tree_ptr
tree_build(nvh_tx *tx, nvh_pool *p, int64_t key, int depth)
{
	fz_tree_ptr t = NVH_TX_ALLOC(tx, fz_tree);
	if (NVH_IS_NULL(t))
		return t;
	fz_tree_d(p, t)->key = key;
	for (int k = 0; depth > 1 && k < 4; k++)
		NVH_TX_SET(tx, &fz_tree_d(p, t)->kid[k],
			   tree_build(tx, p, 4 * key + k, depth - 1));
	return t;
}

static void
populate(struct world *w)
{
	struct nvh_opts eadr = {.persist = NVH_PERSIST_EADR};
	unlink(w->path);
	w->p = nvh_create(w->path, NVF_LAYOUT, w->size, &eadr);
	if (!w->p)
		die("nvh_create");
	OK(nvf_register_types(w->p));
	w->root = NVH_ROOT(w->p, fz_root);
	if (NVH_IS_NULL(w->root))
		die("nvh_root");
	nvh_pool *p = w->p;
	/* the list, pushed at the head, 250 nodes per transaction */
	for (unsigned i = 0; i < w->nodes;) {
		nvh_tx *tx = nvh_tx_begin(p);
		for (unsigned k = 0; k < 250 && i < w->nodes; k++, i++) {
			fz_node_ptr old = rootp(w)->list;
			fz_node_ptr n = NVH_TX_ALLOC(tx, fz_node);
			if (NVH_IS_NULL(n))
				break;
			fz_node_d(p, n)->value = (int64_t)(w->nodes - i);
			NVH_TX_SET(tx, &fz_node_d(p, n)->next, old);
			if (!NVH_IS_NULL(old))
				NVH_TX_SET_WEAK(tx, fz_node,
						&fz_node_d(p, old)->prev, n);
			NVH_TX_SET(tx, &rootp(w)->list, n);
		}
		OK(nvh_tx_commit(tx));
	}
	/* the tree (1 + 4 + ... + 4^5 = 1365 nodes), weak links into the
	 * list, blobs and the manual object */
	nvh_tx *tx = nvh_tx_begin(p);
	NVH_TX_SET(tx, &rootp(w)->tree, tree_build(tx, p, 1, 6));
	for (int b = 0; b < NBLOB; b++) {
		fz_blob_ptr bl = NVH_TX_ALLOC_SIZE(tx, fz_blob, blob_size[b]);
		if (NVH_IS_NULL(bl))
			break;
		struct fz_blob *d = fz_blob_d(p, bl);
		d->len = blob_size[b] - sizeof(*d);
		d->owner = NVH_NULL(fz_node);
		/* head and tail only: the seed files stay sparse */
		memset(d->data, 0xb0 + b, 512);
		memset(d->data + d->len - 512, 0xe0 + b, 512);
		NVH_TX_SET(tx, &d->owner, nth(w, (unsigned)b * 7));
		NVH_TX_SET(tx, &rootp(w)->blob[b], bl);
	}
	fz_man_ptr m = NVH_TX_ALLOC(tx, fz_man);
	if (!NVH_IS_NULL(m)) {
		fz_man_d(p, m)->v = 7;
		NVH_TX_SET(tx, &fz_man_d(p, m)->ref, nth(w, 3));
	}
	NVH_TX_SET(tx, &rootp(w)->man, m);
	NVH_TX_SET_WEAK(tx, fz_node, &rootp(w)->w, nth(w, 5));
	OK(nvh_tx_commit(tx));
	/* untyped objects of several classes in every 10th node's "any"
	 * field, and one in the root's */
	fz_node_ptr n = rootp(w)->list;
	for (unsigned i = 0; !NVH_IS_NULL(n); i++) {
		struct fz_node *d = fz_node_d(p, n);
		if (i % 10 == 0)
			OK(nvh_alloc(p, &d->any, 64 + (i / 10 % 8) * 120, 11,
				     NULL, NULL));
		n = d->next;
	}
	OK(nvh_alloc(p, &rootp(w)->raw, 3000, 12, NULL, NULL));
	struct nvh_check_report rep;
	if (nvh_check(p, &rep, NULL) != 0 && nvh_check(p, &rep, stderr))
		die("nvh_check of the populated pool");
	OK(nvh_close(p));
	w->p = NULL;
	fprintf(stderr, "mkseeds: %s: %" PRIu64 " MiB pool, %" PRIu64
		" objects (%" PRIu64 " typed)\n", w->name, w->size >> 20,
		rep.objects, rep.typed);
}

/* ---- the simulated run ---- */

static void
in_thread(void *(*fn)(void *), struct world *w)
{
	pthread_t t;
	if (pthread_create(&t, NULL, fn, w) != 0 || pthread_join(t, NULL) != 0) {
		fprintf(stderr, "mkseeds: pthread: %s\n", strerror(errno));
		exit(1);
	}
}

/* 40 transactions each updating the values of 4 nodes. */
static void *
step_updates(void *arg)
{
	struct world *w = arg;
	for (unsigned t = 0; t < 40; t++) {
		nvh_tx *tx = nvh_tx_begin(w->p);
		for (unsigned k = 0; k < 4; k++) {
			fz_node_ptr n = nth(w, (20 + 37 * t + 3 * k) % 290);
			if (NVH_IS_NULL(n))
				continue;
			int64_t *v = &fz_node_d(w->p, n)->value;
			OK(nvh_tx_add(tx, v, sizeof(*v)));
			*v += 1000;
		}
		OK(nvh_tx_commit(tx));
	}
	return NULL;
}

/* Atomic frees and allocations in the "any" fields (ATOMIC records). */
static void *
step_atomic(void *arg)
{
	struct world *w = arg;
	fz_node_ptr n = nth(w, 100);
	for (unsigned i = 0; i < 120 && !NVH_IS_NULL(n); i++) {
		struct fz_node *d = fz_node_d(w->p, n);
		if (NVH_OID_IS_NULL(d->any))
			OK(nvh_alloc(w->p, &d->any, 64 + i % 5 * 200, 13, NULL,
				     NULL));
		else
			OK(nvh_free(w->p, &d->any));
		n = d->next;
	}
	return NULL;
}

/* One big transaction: 1200 separate snapshots (their undo records fill
 * the lane and continue in chunks), new tree leaves, a blob freed and a
 * new large one. */
static void *
step_big(void *arg)
{
	struct world *w = arg;
	nvh_pool *p = w->p;
	nvh_tx *tx = nvh_tx_begin(p);
	fz_node_ptr n = nth(w, 200);
	for (unsigned i = 0; i < 1200 && !NVH_IS_NULL(n); i++) {
		struct fz_node *d = fz_node_d(p, n);
		OK(nvh_tx_add(tx, &d->value, sizeof(d->value)));
		d->value = -d->value;
		n = d->next;
	}
	fz_tree_ptr t = rootp(w)->tree;
	for (unsigned k = 0; k < 4 && !NVH_IS_NULL(t); k++) {
		fz_tree_ptr leaf = fz_tree_d(p, t)->kid[k];
		while (!NVH_IS_NULL(leaf) &&
		       !NVH_IS_NULL(fz_tree_d(p, leaf)->kid[0]))
			leaf = fz_tree_d(p, leaf)->kid[0];
		if (NVH_IS_NULL(leaf))
			continue;
		fz_tree_ptr nl = NVH_TX_ALLOC(tx, fz_tree);
		if (NVH_IS_NULL(nl))
			break;
		fz_tree_d(p, nl)->key = -(int64_t)k;
		NVH_TX_SET_WEAK(tx, fz_node, &fz_tree_d(p, nl)->near, nth(w, k));
		NVH_TX_SET(tx, &fz_tree_d(p, leaf)->kid[1], nl);
	}
	fz_blob_ptr big = NVH_TX_ALLOC_SIZE(tx, fz_blob, 600000);
	if (!NVH_IS_NULL(big)) {
		struct fz_blob *d = fz_blob_d(p, big);
		d->len = 600000 - sizeof(*d);
		memset(d->data, 0x5a, 256);
	}
	NVH_TX_SET(tx, &rootp(w)->blob[1], big); /* the old one is freed */
	OK(nvh_tx_commit(tx));
	return NULL;
}

/* Cut the list after node 300: the rest is released by cascade, 8 per
 * step, so the dying list stays long across many fences.  Untyped objects
 * are not counted, so releasing a node would leak the one in its "any"
 * field: they are freed first. */
static void *
step_cut(void *arg)
{
	struct world *w = arg;
	fz_node_ptr n = nth(w, 300);
	if (NVH_IS_NULL(n))
		return NULL;
	for (fz_node_ptr q = fz_node_d(w->p, n)->next; !NVH_IS_NULL(q);
	     q = fz_node_d(w->p, q)->next)
		OK(nvh_free(w->p, &fz_node_d(w->p, q)->any));
	nvh_tx *tx = nvh_tx_begin(w->p);
	NVH_TX_SET(tx, &fz_node_d(w->p, n)->next, NVH_NULL(fz_node));
	OK(nvh_tx_commit(tx));
	return NULL;
}

/* Pin node 10, link it from the root, unlink it from the list, then drop
 * the root's link: it stays dying (pinned) until the end of the run. */
static void *
step_pin(void *arg)
{
	struct world *w = arg;
	nvh_pool *p = w->p;
	fz_node_ptr a = nth(w, 9), b = nth(w, 10);
	if (NVH_IS_NULL(a) || NVH_IS_NULL(b))
		return NULL;
	OK(nvh_free(p, &fz_node_d(p, b)->any)); /* (see step_cut) */
	OK(nvh_pin(p, b.oid));
	nvh_tx *tx = nvh_tx_begin(p);
	NVH_TX_SET(tx, &fz_node_d(p, a)->next, fz_node_d(p, b)->next);
	OK(nvh_tx_commit(tx));
	/* b is now dying, kept by the pin */
	tx = nvh_tx_begin(p);
	NVH_TX_SET(tx, &rootp(w)->pinned, b);
	OK(nvh_tx_commit(tx));
	tx = nvh_tx_begin(p);
	NVH_TX_SET(tx, &rootp(w)->pinned, NVH_NULL(fz_node));
	OK(nvh_tx_commit(tx));
	return NULL;
}

/* A type registered mid-run (the type table is replaced), an object of
 * it, an aborted transaction, and the manual object replaced. */
static void *
step_misc(void *arg)
{
	struct world *w = arg;
	nvh_pool *p = w->p;
	OK(nvh_type_register(p, &fz_late_type));
	nvh_tx *tx = nvh_tx_begin(p);
	fz_late_ptr l = NVH_TX_ALLOC(tx, fz_late);
	if (!NVH_IS_NULL(l))
		fz_late_d(p, l)->v = 99;
	OK(nvh_tx_set(tx, &rootp(w)->late, l.oid));
	OK(nvh_tx_commit(tx));

	tx = nvh_tx_begin(p);
	for (unsigned k = 0; k < 8; k++) {
		fz_node_ptr n = nth(w, 2 + k);
		int64_t *v = &fz_node_d(p, n)->value;
		OK(nvh_tx_add(tx, v, sizeof(*v)));
		*v = 0;
	}
	if (nvh_tx_abort(tx) != 0)
		die("nvh_tx_abort");

	tx = nvh_tx_begin(p);
	fz_man_ptr old = rootp(w)->man;
	fz_man_ptr m = NVH_TX_ALLOC(tx, fz_man);
	if (!NVH_IS_NULL(m)) {
		fz_man_d(p, m)->v = 8;
		NVH_TX_SET(tx, &fz_man_d(p, m)->ref, nth(w, 4));
	}
	NVH_TX_SET(tx, &rootp(w)->man, m);
	if (!NVH_IS_NULL(old))
		OK(nvh_tx_free(tx, old.oid));
	OK(nvh_tx_commit(tx));
	return NULL;
}

static void *(*const steps[])(void *) = {
	step_updates, step_atomic, step_big, step_cut, step_updates,
	step_pin, step_misc, step_atomic,
};

struct capture {
	struct world *w;
	uint64_t every;        /* capture at fences f % every == every / 2 */
	unsigned left;
	unsigned written;
	uint64_t rng;
	uint8_t *buf;
	int failed;            /* a missing flush was reported */
};

static void
crash_point(void *arg, struct nvh_sim *sim)
{
	struct capture *c = arg;
	uint64_t f = nvh_sim_fences(sim);
	if (!c->every || !c->left || f % c->every != c->every / 2)
		return;
	size_t size = nvh_sim_size(sim);
	char what[64];
	memcpy(c->buf, nvh_sim_durable(sim), size);
	snprintf(what, sizeof(what), "crash-%04u", c->written++);
	write_image(c->w, what, c->buf, size);
	c->left--;
	const struct nvh_sim_line *lines;
	size_t n = nvh_sim_inflight(sim, &lines);
	if (!n || !c->left)
		return;
	/* ... and with a random half of the in-flight lines persisted */
	for (size_t i = 0; i < n; i++)
		if (nvf_rand(&c->rng) & 1)
			memcpy(c->buf + lines[i].line * NVH_CACHELINE,
			       lines[i].data, NVH_CACHELINE);
	snprintf(what, sizeof(what), "crash-%04u", c->written++);
	write_image(c->w, what, c->buf, size);
	c->left--;
}

static void
missing_flush(void *arg, struct nvh_sim *sim, uint64_t off, uint64_t len,
	      const char *where)
{
	struct capture *c = arg;
	(void)sim;
	fprintf(stderr, "mkseeds: missing flush: %" PRIu64 " bytes at %"
		PRIu64 " at %s\n", len, off, where);
	c->failed = 1;
}

/* Run the steps on the clean pool under the simulator; returns the
 * number of fences. */
static uint64_t
run(struct world *w, struct capture *c)
{
	restore_file(w, "clean");
	struct nvh_sim_hooks hooks = {.crash_point = crash_point,
				      .missing_flush = missing_flush,
				      .arg = c};
	struct nvh_sim *sim = nvh_sim_new(&hooks, 0);
	if (!sim)
		die("nvh_sim_new");
	struct nvh_opts o = {.persist = NVH_PERSIST_SIM, .sim = sim};
	setenv("NVHEAP_TEST_RELEASE_MAX", "8", 1);
	w->p = nvh_open(w->path, NVF_LAYOUT, &o);
	if (!w->p)
		die("nvh_open under the simulator");
	OK(nvf_register_types(w->p));
	w->root = NVH_ROOT(w->p, fz_root);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		in_thread(steps[i], w);
	uint64_t fences = nvh_sim_fences(sim);
	if (c->every) {
		/* the process dies here, the pool never closed */
		write_image(w, "end", nvh_sim_durable(sim), nvh_sim_size(sim));
	}
	/* the pinned node is still dying: closing keeps it on the list */
	OK(nvh_close(w->p));
	w->p = NULL;
	nvh_sim_free(sim);
	unsetenv("NVHEAP_TEST_RELEASE_MAX");
	if (c->failed) {
		fprintf(stderr, "mkseeds: the simulator found missing "
			"flushes\n");
		exit(1);
	}
	return fences;
}

/* Reopen the closed pool and fill it: nodes pushed on the list, each
 * holding an untyped object, of smaller and smaller sizes until even the
 * smallest allocation fails. */
static void
fill(struct world *w)
{
	static const size_t sizes[] = {60000, 4000, 500, 64};
	struct nvh_opts eadr = {.persist = NVH_PERSIST_EADR};
	nvh_pool *p = w->p = nvh_open(w->path, NVF_LAYOUT, &eadr);
	if (!p)
		die("nvh_open to fill");
	w->root = NVH_ROOT(p, fz_root);
	unsigned n = 0;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (;;) {
			nvh_tx *tx = nvh_tx_begin(p);
			fz_node_ptr old = rootp(w)->list;
			fz_node_ptr nd = NVH_TX_ALLOC(tx, fz_node);
			if (NVH_IS_NULL(nd)) {
				nvh_tx_abort(tx);
				break;
			}
			NVH_TX_SET(tx, &fz_node_d(p, nd)->next, old);
			NVH_TX_SET(tx, &rootp(w)->list, nd);
			OK(nvh_tx_commit(tx));
			if (nvh_alloc(p, &fz_node_d(p, nd)->any, sizes[k], 14, NULL,
				      NULL) != 0) {
				if (errno != ENOMEM)
					die("nvh_alloc while filling");
				break;
			}
			n++;
		}
	}
	struct nvh_stats st;
	OK(nvh_stats(p, &st));
	struct nvh_check_report rep;
	if (nvh_check(p, &rep, NULL) != 0 && nvh_check(p, &rep, stderr))
		die("nvh_check of the full pool");
	OK(nvh_close(p));
	w->p = NULL;
	fprintf(stderr, "mkseeds: %s: filled with %u more objects, %" PRIu64
		" of %" PRIu64 " arenas free, %" PRIu64 " bytes free\n", w->name,
		n, st.arenas_free, st.arenas, st.free_bytes);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"size", required_argument, NULL, 's'},
		{"nodes", required_argument, NULL, 'n'},
		{"images", required_argument, NULL, 'i'},
		{"name", required_argument, NULL, 'N'},
		{NULL, 0, NULL, 0},
	};
	struct world w = {.size = 8ull << 20, .nodes = 3000, .name = "pool"};
	unsigned images = 40;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': w.size = strtoull(optarg, NULL, 0) << 20; break;
		case 'n': w.nodes = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'i': images = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'N': w.name = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || w.size < NVH_MIN_POOL_SIZE || w.nodes < 1500)
		goto usage;
	w.dir = argv[optind];
	if (mkdir(w.dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "mkseeds: %s: %s\n", w.dir, strerror(errno));
		return 1;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/.%s.pool", w.dir, w.name);
	w.path = path;

	populate(&w);
	copy_file(&w, "clean");
	struct capture count = {.w = &w};
	uint64_t fences = run(&w, &count);
	struct capture cap = {.w = &w, .left = images, .rng = 42,
			      .every = fences / (images / 2 + 1) + 1,
			      .buf = malloc(w.size)};
	if (!cap.buf)
		return 1;
	run(&w, &cap);
	/* the pool as closed after the run: a dying (pinned) object on the
	 * list of a cleanly closed pool */
	copy_file(&w, "closed");
	fill(&w);
	copy_file(&w, "full");
	/* and grown: two segments added (nvh_pool_grow), filled too, so
	 * the fuzzer edits segment headers, tables and bitmaps */
	struct nvh_opts eadr = {.persist = NVH_PERSIST_EADR};
	w.p = nvh_open(w.path, NVF_LAYOUT, &eadr);
	if (!w.p || nvh_pool_grow(w.p, w.size + (3ull << 20)) ||
	    nvh_pool_grow(w.p, w.size + (6ull << 20)) || nvh_close(w.p))
		die("nvh_pool_grow");
	w.size += 6ull << 20;
	fill(&w);
	copy_file(&w, "grown");
	unlink(w.path);
	free(cap.buf);
	fprintf(stderr, "mkseeds: %s: %" PRIu64 " fences, %u crash images\n",
		w.name, fences, cap.written);
	return 0;
usage:
	fprintf(stderr, "usage: mkseeds DIR [--size MIB] [--nodes N (>= 1500)] "
		"[--images N] [--name NAME]\n");
	return 2;
}
