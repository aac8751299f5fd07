/*
 * cascade.c -- how long freeing a big object graph takes, and what it
 * needs: `cascade [--children N] [--list M] [--dir DIR] [--slack MIB]`.
 *
 * Builds one object holding an array of N strong pointers to N leaves
 * (default 6,000,000: the fan-out that once could not be freed with
 * 160 MB free) and, optionally, a list of M nodes, in a pool SLACK MiB
 * (default 8) larger than they need, filled up with more list nodes until
 * nothing more fits, then unlinks them all in one
 * transaction and times the commit (which runs the drain: every dying
 * object freed in bounded steps).  Prints the objects freed, seconds,
 * persist barriers and checkpoints it took, free space before and after,
 * and whether nvh_check finds the pool clean.  No libpmemobj peer: its
 * cascade is the application's loop.  Run on emulated pmem
 * (PMEM_IS_PMEM_FORCE=1, /dev/shm) for the barrier-bound figure.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nvheap.h>

NVH_TYPE(cleaf);
NVH_TYPE(cnode);
NVH_TYPE(cfan);
NVH_TYPE(croot);

struct cleaf {
	uint64_t v;
};

struct cnode {
	uint64_t v;
	cnode_ptr next;
};

/* 6,000,000 slots (48 MB); --children fills the first N */
#define FAN_MAX 6000000u

struct cfan {
	uint64_t n;
	cleaf_ptr kid[FAN_MAX];
};

struct croot {
	cfan_ptr fan;
	cnode_ptr list;
};

NVH_TYPE_DEFINE(cleaf, 0);
NVH_TYPE_DEFINE(cnode, 0, NVH_PTR(cnode, next, cnode));
NVH_TYPE_DEFINE(cfan, 0, NVH_PTR_N(cfan, kid, FAN_MAX, cleaf));
NVH_TYPE_DEFINE(croot, 0, NVH_PTR(croot, fan, cfan) NVH_PTR(croot, list, cnode));

static double
now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "cascade: %s: %s\n", what, nvh_errormsg());
	exit(1);
}

int
main(int argc, char **argv)
{
	uint64_t children = 6000000, list = 0, slack = 8;
	const char *dir = "/dev/shm";
	static const struct option lo[] = {
		{"children", required_argument, NULL, 'c'},
		{"list", required_argument, NULL, 'l'},
		{"dir", required_argument, NULL, 'd'},
		{"slack", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "c:l:d:s:", lo, NULL)) != -1) {
		switch (o) {
		case 'c': children = strtoull(optarg, NULL, 0); break;
		case 'l': list = strtoull(optarg, NULL, 0); break;
		case 'd': dir = optarg; break;
		case 's': slack = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: cascade [--children N] [--list M] "
				"[--dir DIR] [--slack MIB]\n");
			return 2;
		}
	}
	if (children > FAN_MAX) {
		fprintf(stderr, "cascade: at most %u children\n", FAN_MAX);
		return 2;
	}
	/* 64-byte leaves and nodes take 80 bytes with their headers, at 80%
	 * of an arena; the fan is one large object */
	uint64_t need = (children + list) * 80 * 5 / 4 +
			sizeof(struct cfan) + (16ull << 20) + (slack << 20);
	char path[4096];
	snprintf(path, sizeof(path), "%s/cascade-%d.pool", dir, (int)getpid());
	nvh_pool *p = nvh_create(path, "cascade", need, NULL);
	if (!p)
		die("create");
	if (nvh_type_register(p, &cleaf_type) || nvh_type_register(p, &cnode_type) ||
	    nvh_type_register(p, &cfan_type) || nvh_type_register(p, &croot_type))
		die("register");
	struct croot *r = croot_d(p, NVH_ROOT(p, croot));
	if (!r)
		die("root");
	double t0 = now();
	nvh_tx *tx = nvh_tx_begin(p);
	cfan_ptr f = NVH_TX_ALLOC(tx, cfan);
	if (NVH_IS_NULL(f) || NVH_TX_SET(tx, &r->fan, f) || nvh_tx_commit(tx))
		die("the fan");
	cfan_d(p, f)->n = children;
	for (uint64_t done = 0; done < children;) {
		tx = nvh_tx_begin(p);
		for (uint64_t k = 0; k < 20000 && done < children; k++, done++) {
			cleaf_ptr l = NVH_TX_ALLOC(tx, cleaf);
			if (NVH_IS_NULL(l) || NVH_TX_SET(tx, &cfan_d(p, f)->kid[done], l))
				die("a leaf");
		}
		if (nvh_tx_commit(tx))
			die("leaves");
	}
	for (uint64_t done = 0; done < list;) {
		tx = nvh_tx_begin(p);
		for (uint64_t k = 0; k < 20000 && done < list; k++, done++) {
			cnode_ptr n = NVH_TX_ALLOC(tx, cnode);
			if (NVH_IS_NULL(n) || NVH_TX_SET(tx, &cnode_d(p, n)->next, r->list) ||
			    NVH_TX_SET(tx, &r->list, n))
				die("a node");
		}
		if (nvh_tx_commit(tx))
			die("nodes");
	}
	/* then fill what is left, so the pool is full when the unlink
	 * starts (the filler stays: the free needs no space) */
	uint64_t filler = 0;
	for (uint64_t batch = 4096; batch >= 1;) {
		tx = nvh_tx_begin(p);
		uint64_t k = 0;
		cnode_ptr head = r->list;
		for (; k < batch; k++) {
			cnode_ptr n = NVH_TX_ALLOC(tx, cnode);
			if (NVH_IS_NULL(n) || NVH_TX_SET(tx, &cnode_d(p, n)->next, head))
				break;
			head = n;
		}
		if (k == batch && !NVH_TX_SET(tx, &r->list, head) &&
		    nvh_tx_commit(tx) == 0) {
			filler += batch;
			continue;
		}
		if (nvh_tx_current(p))
			nvh_tx_abort(tx);
		batch /= 2;
	}
	list += filler;
	double built = now() - t0;
	struct nvh_stats before, after;
	nvh_stats(p, &before);
	struct nvh_persist_stats s0, s1;
	nvh_persist_stats(p, &s0);
	t0 = now();
	tx = nvh_tx_begin(p);
	if (NVH_TX_SET(tx, &r->fan, NVH_NULL(cfan)) ||
	    NVH_TX_SET(tx, &r->list, NVH_NULL(cnode)) || nvh_tx_commit(tx))
		die("unlink");
	double freed = now() - t0;
	nvh_persist_stats(p, &s1);
	nvh_stats(p, &after);
	struct nvh_check_report rep;
	int clean = nvh_check(p, &rep, NULL) == 0;
	printf("cascade: %" PRIu64 " children + %" PRIu64 " list nodes in a "
	       "%.0f MiB pool (%.1f MiB free before the unlink), built in "
	       "%.1f s\n", children, list, (double)need / (1 << 20),
	       (double)before.free_bytes / (1 << 20), built);
	printf("cascade: freed %" PRIu64 " objects in %.2f s (%.0f objects/s), "
	       "%" PRIu64 " persist barriers, %" PRIu64 " lines flushed; free "
	       "%.1f MiB after; nvh_check %s\n",
	       before.objects - after.objects, freed,
	       (double)(before.objects - after.objects) / freed,
	       s1.barriers - s0.barriers, s1.lines_flushed - s0.lines_flushed,
	       (double)after.free_bytes / (1 << 20), clean ? "clean" : "FAILED");
	if (nvh_close(p))
		die("close");
	unlink(path);
	return clean ? 0 : 1;
}
