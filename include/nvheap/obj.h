/*
 * nvheap/obj.h -- typed persistent objects: types, typed pointers, checked
 * pointer stores, reference counting, weak pointers, pins, the root
 * object, persistent mutexes, and the heap checker.
 *
 *   NVH_TYPE(node);                    // before the struct: node_ptr etc.
 *   struct node { int64_t value; node_ptr next; node_weak prev; };
 *   ...
 *   NVH_TX_SET_WEAK(tx, node, &node_d(pool, n)->prev, head);
 *   NVH_TYPE_DEFINE(node, 0,
 *       NVH_PTR(node, next, node)
 *       NVH_WEAK(node, prev, node));   // the descriptor, in one .c file
 *
 *   nvh_type_register(pool, &node_type);       // every run, same definition
 *   nvh_tx *tx = nvh_tx_begin(pool);
 *   node_ptr n = NVH_TX_ALLOC(tx, node);
 *   node_d(pool, n)->value = 42;               // new object: no snapshot
 *   NVH_TX_SET(tx, &node_d(pool, head)->next, n); // checked, counted
 *   nvh_tx_commit(tx);
 *
 * A pointer field of one type cannot receive a pointer of another type:
 * NVH_TX_SET does not compile (node_ptr and leaf_ptr are distinct structs),
 * and nvh_tx_set, the function under it, checks again at run time.
 *
 * Reference counts count strong persistent references (pointer fields of
 * live objects, the root slot).  An object whose count drops to zero and
 * that no thread pins is freed when the transaction commits, and its
 * strong fields are released in turn (in bounded steps that survive a
 * crash).  An object allocated by a transaction and never linked is freed
 * at its commit.  Weak pointers hold no count and read as null once their
 * target is gone.  Cycles of strong pointers are never freed: break them
 * with weak pointers.  Types flagged NVH_TYPE_MANUAL are not counted; they
 * are freed with nvh_tx_free.
 */
#ifndef NVHEAP_OBJ_H
#define NVHEAP_OBJ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <nvheap/alloc.h>
#include <nvheap/pool.h>
#include <nvheap/tx.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

#define NVH_FIELD_WEAK 0x1u   /* 16-byte weak pointer field */
#define NVH_TYPE_MANUAL 0x1u  /* not reference counted */
#define NVH_TYPE_NAME_MAX 39

struct nvh_field {
	uint32_t offset;        /* of the field in the object */
	uint32_t flags;         /* NVH_FIELD_WEAK */
	const char *target;     /* name of the type it points to; NULL: any */
	uint32_t count;         /* an array of this many (0 or 1: one field;
				 * at most NVH_FIELD_COUNT_MAX) */
};

#define NVH_FIELD_COUNT_MAX 0xffffffu

struct nvh_type {
	const char *name;       /* at most NVH_TYPE_NAME_MAX bytes */
	uint32_t size;
	uint32_t flags;         /* NVH_TYPE_MANUAL */
	uint32_t nfields;
	const struct nvh_field *fields;
};

/*
 * Record the type in the pool's type table, or check that the recorded
 * one matches (same size, flags and pointer fields); a mismatch is
 * refused (EINVAL) naming what differs, and so is a malformed descriptor
 * (the message names the type, the field index and the bad value).  Call
 * it every run, before using the type.
 */
NVH_API int nvh_type_register(nvh_pool *pool, const struct nvh_type *t);

/* The pool's id of a registered type, or 0. */
NVH_API uint32_t nvh_type_id(nvh_pool *pool, const char *name);

/* ---- weak pointers ---- */

typedef struct nvh_weak {
	nvh_oid oid;
	uint64_t birth; /* which incarnation of the block */
} nvh_weak;

/* ---- the functions under the macros ---- */

/* Allocate an object of a registered type (zeroed if NVH_TX_ZERO). */
/* ... of `size` >= the type's size bytes: the type's own bytes are zeroed
 * (its pointer fields start null), the rest is left for the caller to fill
 * (a variable-length tail: key and value bytes, say).  Pointer fields lie
 * in the type's size, never in the tail. */
NVH_API nvh_oid nvh_tx_alloc_typed_size(nvh_tx *tx, const struct nvh_type *t,
					size_t size);
NVH_API nvh_oid nvh_tx_alloc_typed(nvh_tx *tx, const struct nvh_type *t,
				   unsigned flags);
/*
 * Store `value` into the strong pointer field `field` (a declared pointer
 * field of a live object, or the root slot): snapshots the field, checks
 * that value is null or a live object of this pool of the field's target
 * type, moves the reference counts.  Anything else is refused (EINVAL)
 * and changes nothing: a field that is no pointer field, an address or
 * offset outside the heap, a freed block, an interior pointer, an object of
 * another pool or of the wrong type.  Strong fields change only through
 * it: a plain store into one (after nvh_tx_add, or in a new object) makes
 * the commit fail with EINVAL and roll back.
 */
NVH_API int nvh_tx_set(nvh_tx *tx, nvh_oid *field, nvh_oid value);
NVH_API int nvh_tx_set_weak(nvh_tx *tx, nvh_weak *field, nvh_oid value);
/* The target of a weak pointer, or null if it has been freed. */
NVH_API nvh_oid nvh_weak_get(nvh_pool *pool, const nvh_weak *field);
/* Address of an object, checking its type in debug builds of nvheap. */
NVH_API void *nvh_direct_typed(nvh_pool *pool, nvh_oid oid,
			       const struct nvh_type *t);
/* Reference count (0 for untyped or manual objects). */
NVH_API uint32_t nvh_refcount(nvh_pool *pool, nvh_oid oid);

/*
 * Freeing in the background.  A commit that leaves objects dying (the
 * rest of a cascade past its record budget) frees them itself, in
 * crash-atomic steps of at most 16 KiB of record each, before it
 * returns: all of them by default, so a structure of a million objects
 * makes that commit take seconds.  nvh_set_drain_steps(pool, n) (n > 0)
 * limits a commit to n steps; the rest stays on the persistent dying
 * list for nvh_reclaim, a later commit's steps, or the next open.
 * nvh_reclaim runs up to `steps` steps (0: until the list is empty) on
 * the calling thread; *more (if not NULL) tells whether objects are
 * still dying.  Either may be called from any thread while others work.
 * Space on the dying list is not free yet: a writer that meets a full
 * pool should reclaim and retry.
 */
NVH_API void nvh_set_drain_steps(nvh_pool *pool, unsigned steps);
NVH_API int nvh_reclaim(nvh_pool *pool, unsigned steps, int *more);

/* Volatile references: a pinned object is not freed while pinned, even at
 * count zero (DRAM only: a crash drops all pins). */
NVH_API int nvh_pin(nvh_pool *pool, nvh_oid oid);
NVH_API int nvh_unpin(nvh_pool *pool, nvh_oid oid);

/* The root object: allocated (zeroed) the first time, of type t; later
 * calls check its type.  Null with errno on failure. */
NVH_API nvh_oid nvh_root(nvh_pool *pool, const struct nvh_type *t);

/* ---- persistent mutexes ---- */

/*
 * A mutex that lives in a persistent object and comes back unlocked after
 * any crash.  Its lock state is kept in DRAM, keyed by its place in the
 * pool (locking writes nothing to the medium); zero-initialise it.
 *
 * The functions return 0 or a negative errno, with nvh_errormsg() saying
 * why.  The mutexes are error-checking, not recursive: misuse fails
 * instead of hanging or passing silently.
 *   nvh_mutex_lock:    -EDEADLK if this thread already holds it.
 *   nvh_mutex_trylock: -EBUSY if any thread, this one included, holds it.
 *   nvh_mutex_unlock:  -EPERM if this thread does not hold it (it is
 *                      unlocked, or another thread holds it); the mutex
 *                      is left as it was.
 *   lock and trylock:  -EOWNERDEAD if the thread holding it exited without
 *                      unlocking it (as with robust pthread mutexes): the
 *                      caller now holds the mutex, which is usable again,
 *                      but what it guards may be half changed by the dead
 *                      thread (outside transactions); unlock as usual.
 *   all three:         -EINVAL if m is not an 8-byte aligned place inside
 *                      the pool's mapping.
 */
typedef struct nvh_mutex {
	uint64_t reserved;
} nvh_mutex;

NVH_API int nvh_mutex_lock(nvh_pool *pool, nvh_mutex *m);
NVH_API int nvh_mutex_trylock(nvh_pool *pool, nvh_mutex *m);
NVH_API int nvh_mutex_unlock(nvh_pool *pool, nvh_mutex *m);

/* ---- the checker ---- */

struct nvh_check_report {
	uint64_t objects;          /* allocated */
	uint64_t typed;            /* of registered types */
	uint64_t reachable;
	uint64_t pointers;         /* pointer fields followed */
	uint64_t dying;            /* on the dying list */
	uint64_t problems;
	/* nvh_malloc's blocks (nvheap/malloc.h): allocated, and of those
	 * reachable; the rest is garbage the next collection frees (not a
	 * problem).  A reachable block that is not allocated is one. */
	uint64_t malloc_blocks;
	uint64_t malloc_reachable;
};

/*
 * Walk the pool from the root using its type table and verify it: every
 * allocated object is reachable (or dying) and every pointer names a live
 * object of the right type (no leaks, no dangling pointers), reference
 * counts equal incoming strong references, type tags are known, no
 * objects overlap, the dying list is well formed; and first the log, for
 * what a read-write open would refuse (docs/recovery.md; nvh_repair in
 * nvheap/repair.h fixes it).  Each problem is printed to `out` (if not
 * NULL).  Returns 0 if consistent, -NVH_ECORRUPT if not.
 */
NVH_API int nvh_check(nvh_pool *pool, struct nvh_check_report *rep,
		      FILE *out);

/* ---- macros: typed pointers ---- */

#if defined(__GNUC__) || defined(__clang__)
#define NVH_UNUSED_ __attribute__((unused)) /* clang: unused inline in .c */
#else
#define NVH_UNUSED_
#endif

#define NVH_TYPE(T)                                                          \
	typedef struct T T;                                                  \
	typedef struct T##_ptr {                                             \
		nvh_oid oid;                                                 \
	} T##_ptr;                                                           \
	typedef struct T##_weak {                                            \
		nvh_weak w;                                                  \
	} T##_weak;                                                          \
	extern const struct nvh_type T##_type;                               \
	NVH_UNUSED_ static inline T *T##_d(nvh_pool *pool_, T##_ptr p_)      \
	{                                                                    \
		return (T *)nvh_direct_typed(pool_, p_.oid, &T##_type);      \
	}                                                                    \
	NVH_UNUSED_ static inline nvh_oid T##_weak_arg_(T##_weak *f_,        \
							 T##_ptr v_)         \
	{                                                                    \
		(void)f_;                                                    \
		return v_.oid;                                               \
	}                                                                    \
	NVH_UNUSED_ static inline T##_ptr T##_weak_get(nvh_pool *pool_,      \
							const T##_weak *f_)  \
	{                                                                    \
		return (T##_ptr){nvh_weak_get(pool_, &f_->w)};               \
	}

#define NVH_PTR(T, field, target)                                            \
	{offsetof(struct T, field), 0, #target, 0},
/* `target_ptr field[n]`: n strong pointers */
#define NVH_PTR_N(T, field, n, target)                                       \
	{offsetof(struct T, field), 0, #target, (n)},
#define NVH_WEAK(T, field, target)                                           \
	{offsetof(struct T, field), NVH_FIELD_WEAK, #target, 0},

/* NVH_TYPE_DEFINE(T, flags, NVH_PTR(...) NVH_WEAK(...) ...) */
#define NVH_TYPE_DEFINE(T, tflags, ...)                                      \
	static const struct nvh_field T##_fields_[] = {                      \
		__VA_ARGS__{0, 0, 0, 0}};                                    \
	const struct nvh_type T##_type = {                                   \
		#T, sizeof(struct T), (tflags),                              \
		sizeof(T##_fields_) / sizeof(T##_fields_[0]) - 1,            \
		T##_fields_}

#define NVH_NULL(T) ((T##_ptr){{0}})
#define NVH_IS_NULL(p) ((p).oid.off == 0)
#define NVH_TX_ALLOC(tx, T)                                                  \
	((T##_ptr){nvh_tx_alloc_typed((tx), &T##_type, NVH_TX_ZERO)})
/* An object of type T with `size` bytes in all (>= sizeof(struct T)). */
#define NVH_TX_ALLOC_SIZE(tx, T, size)                                       \
	((T##_ptr){nvh_tx_alloc_typed_size((tx), &T##_type, (size))})
#define NVH_ROOT(pool, T) ((T##_ptr){nvh_root((pool), &T##_type)})
/* Compile-time type check: the assignment in sizeof is never evaluated. */
#define NVH_TX_SET(tx, fieldp, val)                                          \
	nvh_tx_set((tx), &(fieldp)->oid,                                     \
		   ((void)sizeof(*(fieldp) = (val)), (val).oid))
/* The weak field must be a T_weak and the value a T_ptr. */
#define NVH_TX_SET_WEAK(tx, T, fieldp, val)                                  \
	nvh_tx_set_weak((tx), &(fieldp)->w, T##_weak_arg_((fieldp), (val)))
#define NVH_WEAK_GET(pool, T, fieldp) T##_weak_get((pool), (fieldp))

#ifdef __cplusplus
}
#endif
#endif
