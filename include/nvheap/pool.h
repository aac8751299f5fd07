/*
 * nvheap/pool.h -- pool files.
 *
 * A pool is one file mapped into memory.  nvh_create() makes a new one,
 * nvh_open() maps an existing one (validating every header field and
 * running recovery), nvh_close() marks it cleanly shut down and unmaps it.
 * A pool is open read-write in at most one process at a time (advisory
 * lock): a second nvh_open fails with EBUSY.  Handles do not cross fork()
 * (see nvh_close).
 */
#ifndef NVHEAP_POOL_H
#define NVHEAP_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nvheap/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nvh_pool nvh_pool;

#define NVH_MIN_POOL_SIZE ((uint64_t)2 << 20)   /* 2 MiB */
#define NVH_MAX_POOL_SIZE ((uint64_t)16 << 40)  /* 16 TiB */
#define NVH_LAYOUT_MAX 63                       /* bytes, excluding NUL */

/* How stores reach persistence; see nvheap/persist.h. */
enum nvh_persist_kind {
	NVH_PERSIST_AUTO = 0, /* pmem if the mapping is pmem, else msync */
	NVH_PERSIST_PMEM,     /* CPU cache flushes (CLWB) + SFENCE via libpmem */
	NVH_PERSIST_MSYNC,    /* ordinary files: msync the dirty pages */
	NVH_PERSIST_EADR,     /* persistent CPU caches: fences only */
	NVH_PERSIST_SIM,      /* crash simulator (tests) */
	NVH_PERSIST_NONE,     /* nothing reaches the file: the backend of a
			       * read-only view recovered in memory (nvh_open
			       * chooses it; it cannot be asked for) */
};

/*
 * Open read-only: nothing is ever written to the file, every write call
 * fails with EROFS, and other read-only opens may share the pool (shared
 * lock; a read-write open elsewhere is refused with EBUSY, and vice
 * versa).  A pool that was not closed cleanly is shown as recovery leaves
 * it: the open recovers it in a private copy-on-write view, in memory
 * (costing the pages recovery touches), and nvh_pool_info() reports
 * was_clean 0 and recovered_view 1.  The file stays as the crash left
 * it: a later read-write open recovers it for good.
 */
#define NVH_OPEN_RDONLY 0x1u

struct nvh_sim; /* the crash simulator, for tests (heap/persist_sim.h) */

/*
 * Options for nvh_create and nvh_open.  Zero-initialise and set what you
 * need; NULL means all defaults.
 */
struct nvh_opts {
	enum nvh_persist_kind persist; /* backend; AUTO defers to NVHEAP_PERSIST, then detection */
	mode_t mode;                   /* nvh_create: file mode, 0 = 0600 */
	unsigned flags;                /* nvh_open: NVH_OPEN_* */
	struct nvh_sim *sim;           /* NVH_PERSIST_SIM: simulator to use;
					* NULL = a private one (tests only) */
	/*
	 * Growth policy (nvh_create; nvh_open changes a pool's when set).
	 * max_size: 0 = keep (nvh_create: a fixed size); NVH_GROW_UNLIMITED
	 * = grow until the file system is full; NVH_GROW_OFF = fixed size
	 * from now on; else the most bytes the pool grows to (rounded down
	 * to 4 KiB, at least its size).  A growing pool, out of arenas,
	 * extends its file by a step and adds arenas in place: addresses
	 * stay valid, and a crash at any point leaves the old size or the
	 * new one.  grow_step: bytes per growth (rounded up to 4 KiB;
	 * 0 = a quarter of the pool's size, at least 4 MiB); a large
	 * object gets a step big enough for it.  Both are kept in the pool.
	 */
	uint64_t max_size;
	uint64_t grow_step;
};

#define NVH_GROW_UNLIMITED UINT64_MAX
#define NVH_GROW_OFF (UINT64_MAX - 1)

/*
 * Create a new pool file of `size` bytes (rounded down to a multiple of
 * 4 KiB; NVH_MIN_POOL_SIZE..NVH_MAX_POOL_SIZE) with the given layout name
 * (at most NVH_LAYOUT_MAX bytes; NULL = "").  Fails with EEXIST if the file
 * exists.  Returns the open pool, or NULL with errno set.
 */
NVH_API nvh_pool *nvh_create(const char *path, const char *layout,
			     uint64_t size, const struct nvh_opts *opts);

/*
 * Open an existing pool.  `layout` must equal the name it was created with
 * (NULL accepts any).  Returns NULL with errno set on any problem: ENOENT,
 * EACCES, EBUSY (open elsewhere), NVH_ENOTPOOL, NVH_EVERSION, NVH_ECORRUPT,
 * EINVAL (wrong layout).
 */
NVH_API nvh_pool *nvh_open(const char *path, const char *layout,
			   const struct nvh_opts *opts);

/*
 * Mark the pool cleanly shut down and unmap it.  Returns 0, or a negative
 * code if the final header update could not be made durable, or an
 * earlier write to the medium failed (-EIO and the like): the pool is
 * still unmapped and will be recovered at its next open.  Refuses with
 * -EBUSY, closing nothing, while a transaction (this thread's or
 * another's, with the freeing of what its commit unlinked), a growth of
 * the pool, an allocation, a pin or unpin, a type registration or the root's creation
 * is in progress on the pool, or another thread is closing it.  (A call
 * that starts on another thread while the close runs is the caller's
 * race, as with any freed handle.)  NULL is a no-op.
 *
 * A closed handle: a second nvh_close returns -EBADF; so do the write
 * calls (transactions, nvh_alloc, nvh_free, nvh_persist & co) and
 * nvh_pool_info, and nvh_direct returns NULL.  (The handle's memory is
 * kept for the next 64 closes, so this holds for a handle closed that
 * recently; after that, like any freed pointer, it must not be used.)
 *
 * Handles and fork(): a pool belongs to the process that opened it.  A
 * child created by fork() inherits a copy of the handle that may read the
 * pool (nvh_direct, lookups) but not change it: transactions, nvh_alloc,
 * nvh_free, nvh_persist & co and registering a type the pool does not
 * hold yet fail with -EPERM (NULL + errno EPERM).  At the fork, the
 * child's copy of a read-write pool's mapping becomes private
 * (copy-on-write), so even a store the child makes through a pointer, or
 * a call without that check (nvh_unpin freeing a dying object), changes
 * only the child's copy and never reaches the parent's pool, and the
 * child's copy of the pool's file descriptor is closed, so the child
 * holds no share of the parent's lock (the lock goes when the parent
 * closes the pool, whatever the child does).  nvh_close in the child
 * frees the child's copy, writes nothing, and returns 0; the parent's
 * pool stays open, locked and unchanged.  To use the pool in the child,
 * open it there (after the parent closed it).  Only fork() is covered
 * (pthread_atfork); a raw clone(2) is not.
 */
NVH_API int nvh_close(nvh_pool *pool);

/*
 * Grow the pool to `size` bytes (rounded down to 4 KiB) now, whatever its
 * growth policy: the file is extended and arenas are added in place, as
 * an automatic growth does, crash-atomically; a max_size below `size` is
 * raised to it.  0 if the pool is already that big.  Other threads may
 * go on using the pool meanwhile.  Errors: EROFS, ENOSPC or EFBIG (the
 * file system or a limit: nothing changed), ENOMEM (no room left in the
 * address space reserved at open: reopen), EINVAL (`size` leaves no room
 * for one more arena).  (At a file size limit, RLIMIT_FSIZE, the kernel
 * sends SIGXFSZ, which kills the process unless it is ignored or caught;
 * then the growth fails with EFBIG.)
 */
NVH_API int nvh_pool_grow(nvh_pool *pool, uint64_t size);

/* What nvh_pool_info() reports. */
struct nvh_pool_info {
	char path[4096];
	char layout[NVH_LAYOUT_MAX + 1];
	uint8_t uuid[16];
	char uuid_str[37];
	uint32_t format_version;
	uint64_t pool_size;
	uint64_t heap_offset;
	uint64_t heap_size;
	uint64_t create_time;       /* seconds since the epoch */
	uint64_t run_generation;    /* bumped by every read-write open */
	int was_clean;              /* 1 if the previous run closed the pool */
	int rdonly;
	int recovered_view;         /* read-only open of a pool not closed
				     * cleanly: recovered in memory (a private
				     * copy-on-write view); the file is as the
				     * crash left it */
	uint64_t recovered_records; /* log records this open replayed or
				     * rolled back */
	enum nvh_persist_kind persist;
	const char *persist_name;   /* "pmem", "msync", ... */
	const char *persist_reason; /* why it was chosen */
	int is_pmem;                /* the mapping is persistent memory */
	int hdr_ok[2];              /* header copies A and B valid when opened */
	char hdr_problem[2][256];   /* why not, if not */
	/* growth: the policy (grows 0: fixed size; max_size 0: until the
	 * file system is full), the segments growth added, and the room
	 * the mapping has to grow into in this run */
	int grows;
	uint64_t max_size;
	uint64_t grow_step;
	uint64_t segments;
	uint64_t reserved_size;
};

NVH_API int nvh_pool_info(const nvh_pool *pool, struct nvh_pool_info *info);

#ifdef __cplusplus
}
#endif
#endif
