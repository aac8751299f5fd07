/*
 * pool.h -- the open pool (DRAM state) and the file and header helpers
 * pool.c is built from.
 */
#ifndef NVH_HEAP_POOL_H
#define NVH_HEAP_POOL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <nvheap/pool.h>

#include "heap/layout.h"
#include "heap/persist.h"

struct nvh_lanes;
struct nvh_heap;
struct nvh_objects;

#define NVH_PROBLEM_LEN 256

/* An open pool.  Immutable after open except `hdr`, which only open and
 * close update (single-threaded by contract), and what the handle
 * registry (pool_handle.c) changes under its lock (closing, next_open)
 * or in a fork child (fd, lock_page, the mapping at base).
 *
 * A handle is usable for writing iff gen == nvh_process_gen: gen is the
 * process generation at open, 0 once closed; every fork child bumps
 * nvh_process_gen, so one compare tells the three cases apart. */
struct nvh_pool {
	uint64_t gen;
	char *path;
	int fd;             /* the file; -1 in a fork child */
	void *lock_page;    /* holds the advisory lock (struct nvh_file) */
	int rdonly;         /* writes refused (NVH_OPEN_RDONLY) */
	int view;           /* read-only open of a pool not closed cleanly:
			     * recovered in a private copy-on-write mapping */
	pid_t pid;          /* the process that opened it */
	int closing;        /* an nvh_close is under way (registry lock) */
	struct nvh_pool *next_open; /* registry of open pools */
	char *base;         /* mapping of the whole file */
	size_t size;        /* mapped; grows (heap/grow.c): read it with
			     * nvh_pool_size() where growth may race */
	size_t resv;        /* address space reserved at base */
	uint64_t segments;  /* segments growth added (the heap's, for
			     * nvh_pool_info) */
	/* One growth at a time (heap/grow.c), which changes hdr; held by
	 * nvh_pool_info while it reads hdr, and by nvh_close, which refuses
	 * to close under a growth (never destroyed: a closed handle keeps
	 * it) */
	pthread_mutex_t grow_lock;
	int map_sync;
	int is_pmem;
	enum nvh_persist_kind persist_kind;
	const char *persist_reason;
	struct nvh_persist persist;
	struct nvh_pool_hdr hdr; /* current header, as last written */
	int hdr_first;           /* header copy to write first (pool_hdr.c (2)) */
	int was_clean;
	int hdr_ok[2];
	char hdr_problem[2][NVH_PROBLEM_LEN];
	/* Each layer's DRAM state, set up and torn down by the open and
	 * close (objects/open.c); only the owning layer reads its own
	 * (docs/layers.md), here they are opaque. */
	struct nvh_lanes *lanes;   /* the log (heap/log/lane.h): lanes unset
				    * when read-only (a view keeps those its
				    * recovery used) */
	struct nvh_heap *heap;     /* allocator DRAM state (heap/heap.h) */
	struct nvh_objects *objects; /* types, pins (objects/obj.h) */
	_Atomic int failed;        /* a fence failed: refuse further writes */
	uint64_t recovered_records; /* replayed by this open */
	uint64_t oid_tag;          /* high 16 bits of every oid of this pool */
	uint32_t tx_ring_limit;    /* ring bytes one transaction may use before
				    * its records go to chunks (testing knob:
				    * NVHEAP_TEST_TX_RING) */
};

/* pool_file.c: the file, its lock and its mapping. */
struct nvh_file {
	int fd;         /* the file (the locked descriptor only without /proc) */
	void *lock;     /* a page of the locked description: the lock's only
			 * reference, not inherited by fork (pool_file.c) */
	char *base;
	size_t size;
	size_t resv;    /* address space reserved at base (>= size): the
			 * mapping grows into it in place */
	int is_pmem;
	int map_sync;   /* mapped with MAP_SYNC (DAX) */
	char *tmp;      /* a new pool's name until nvh_file_publish */
};

/* A new pool file is built under a temporary name in the same directory
 * and appears under `path` only once complete (nvh_file_publish), so a
 * crash during nvh_create never leaves a partial pool at `path`. */
int nvh_file_create(const char *path, uint64_t size, mode_t mode,
		    struct nvh_file *f);
int nvh_file_publish(struct nvh_file *f, const char *path);
/* Remove an unpublished file's temporary name (failed create). */
void nvh_file_discard(struct nvh_file *f);
int nvh_file_open(const char *path, int rdonly, struct nvh_file *f);
void nvh_file_close(struct nvh_file *f);
/* Move a read-write mapping into `resv` bytes of reserved address space
 * (less if that much is not to be had), so that it can grow in place:
 * the base moves, once, before anything remembers it. */
int nvh_file_reserve(struct nvh_file *f, uint64_t resv);
/* How big the file could grow: its file system's size (at most the
 * largest pool, at least the file's size). */
uint64_t nvh_file_room(const struct nvh_file *f);
/* Extend the file to `size` bytes (blocks allocated, size durable) and
 * map the new part in place, after the old.  On failure nothing changed
 * (ENOSPC, EFBIG: the disk or a limit; ENOMEM: no reserved room). */
int nvh_file_grow(struct nvh_file *f, uint64_t size);
/* Cut the file back to `size` (the tail an unfinished growth left). */
int nvh_file_trim(struct nvh_file *f, uint64_t size);
/* Replace a read-only open's shared mapping by a private, writable
 * (copy-on-write) one of the same file, for recovery in memory; then
 * nvh_file_seal makes it read-only. */
int nvh_file_map_private(struct nvh_file *f);
int nvh_file_seal(struct nvh_file *f);
/* In a fork child: make a writable mapping private (same address), close
 * the child's copy of the descriptor (fd = -1) and forget the lock page
 * (not inherited).  Never fails: a mapping that cannot be made private is
 * made read-only instead. */
void nvh_file_fork_child(struct nvh_file *f, int writable);

/* Every mmap and munmap of a pool file goes through these when set: the
 * crash explorer (tools/crashtest/crash_image.c) sees which pages of a
 * crash image a check wrote through them.  Set before any pool opens
 * (they are read without a lock). */
struct nvh_map_hook {
	void *(*map)(void *addr, size_t len, int prot, int flags, int fd,
		     off_t off);
	int (*unmap)(void *addr, size_t len);
};
void nvh_file_set_map_hook(const struct nvh_map_hook *h);

/* pool_hdr.c: the two header copies. */
void nvh_hdr_init(struct nvh_pool_hdr *h, const char *layout,
		  uint64_t pool_size);
int nvh_hdr_check(const struct nvh_pool_hdr *h, uint64_t file_size,
		  char *why, size_t whylen);
/* Validate both copies, put the current header in *cur and the index of
 * the copy to write first in *first (the stale one).  Fails if neither
 * copy is valid. */
int nvh_hdr_select(const char *base, uint64_t file_size,
		   struct nvh_pool_hdr *cur, int *first, int ok[2],
		   char why[2][NVH_PROBLEM_LEN]);
/* seq+1, seal, write copy `first` then the other, each persisted. */
int nvh_hdr_update(struct nvh_persist *p, char *base, struct nvh_pool_hdr *h,
		   int first);
void nvh_hdr_seal(struct nvh_pool_hdr *h);
void nvh_uuid_str(const uint8_t uuid[16], char out[37]);

/* pool_handle.c: handles.  nvh_handle_init in every new pool struct;
 * nvh_handle_register once it is open; nvh_close: claim (EBADF if not
 * open, EBUSY if another thread closes it), unclaim if it stays open,
 * else retire: off the registry, file closed, struct kept closed. */
void nvh_handle_init(struct nvh_pool *pool);
void nvh_handle_register(struct nvh_pool *pool);
int nvh_handle_claim(struct nvh_pool *pool);
void nvh_handle_unclaim(struct nvh_pool *pool);
void nvh_handle_retire(struct nvh_pool *pool);
/* Free a pool struct that was never registered (failed open). */
void nvh_pool_free(struct nvh_pool *pool);
/* The process generation, bumped in every fork child (written only
 * there, while the child has one thread). */
extern uint64_t nvh_process_gen;
/* The error for a handle that fails nvh_pool_usable: EBADF (closed) or
 * EPERM (inherited by fork), naming `fn`.  Returns the negative code. */
int nvh_pool_refuse(const struct nvh_pool *pool, const char *fn);

/* 0 if this process may write through the handle; else an error saying
 * why.  The write entry points start with it: one load and a compare. */
static inline int
nvh_pool_usable(const struct nvh_pool *pool, const char *fn)
{
	if (__builtin_expect(pool->gen == nvh_process_gen, 1))
		return 0;
	return nvh_pool_refuse(pool, fn);
}

static inline size_t
nvh_pool_size(const struct nvh_pool *pool)
{
	return __atomic_load_n(&pool->size, __ATOMIC_ACQUIRE);
}

static inline void *
nvh_pool_at(const struct nvh_pool *pool, uint64_t off)
{
	return pool->base + off;
}

/*
 * Oids carry the pool's tag in bits 48-63 (from its UUID, never 0) above
 * the pool offset, so an oid of another pool is told apart (with
 * probability 1 - 2^-16) instead of being taken for one of ours.
 */
#define NVH_OID_OFF_MASK ((1ull << 48) - 1)

static inline uint64_t
nvh_oid_tagged(const struct nvh_pool *pool, uint64_t off)
{
	return off ? off | pool->oid_tag : 0;
}

/* 0 and *off for one of our oids (or null: *off = 0); -1 otherwise. */
static inline int
nvh_oid_untag(const struct nvh_pool *pool, uint64_t v, uint64_t *off)
{
	*off = v & NVH_OID_OFF_MASK;
	if (v == 0)
		return 0;
	return (v & ~NVH_OID_OFF_MASK) == pool->oid_tag &&
			       *off < nvh_pool_size(pool)
		       ? 0 : -1;
}

#endif
