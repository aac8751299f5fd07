/*
 * root.c -- the root object and persistent mutexes.
 *
 * Mutexes: the lock state of an nvh_mutex lives in DRAM, in a table keyed
 * by the mutex's pool offset, created on first use.  After a crash (or any
 * reopen) the table is empty, so every mutex starts unlocked; locking
 * never writes to the medium.  This gives the guarantee of NV-Heaps'
 * generation-stamped locks without rewriting a persistent word (and
 * flushing its line) on every lock and unlock.
 *
 * The DRAM mutexes are error-checking (each records its holder): misuse
 * is an error with a message, never a hang.  Relocking by the owner fails
 * with EDEADLK (they are not recursive), unlocking by a thread that does
 * not hold the mutex (or of an unlocked one) with EPERM.
 *
 * They are robust pthread mutexes: when a thread exits holding one, the
 * kernel (robust futex list) marks it, and the next locker gets it with
 * EOWNERDEAD, as with pthreads.  We make it consistent at once, so it
 * stays usable; the EOWNERDEAD tells the new holder that what the mutex
 * guards may be half changed.
 * Holders are named by a serial per thread, never reused, so a new
 * thread is never taken for a dead one (a thread-local address can be).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "heap/error.h"
#include "heap/heap.h"
#include "heap/pool.h"
#include "objects/obj.h"
#include "tx/tx.h"

/* The type id of the root object (its header read once), or
 * NVH_TYPE_MASK + 1 if the slot holds no committed object. */
static uint32_t
root_type(nvh_pool *pool, const nvh_oid *slot, uint64_t *off,
	  struct nvh_objhdr **h)
{
	uint64_t v = __atomic_load_n(&slot->off, __ATOMIC_ACQUIRE);
	*h = NULL;
	if (!v || nvh_oid_untag(pool, v, off) || !(*h = nvh_obj_hdr(pool, *off)))
		return NVH_TYPE_MASK + 1;
	return NVH_HDR_TYPE(__atomic_load_n(&(*h)->word, __ATOMIC_ACQUIRE));
}

NVH_API nvh_oid
nvh_root(nvh_pool *pool, const struct nvh_type *t)
{
	if (!pool || !pool->objects || !t || !t->name) {
		nvh_err(EINVAL, "nvh_root: NULL argument");
		return NVH_OID_NULL;
	}
	const struct nvh_rtype *rt = nvh_type_named(pool, t->name);
	if (!rt || rt->size != t->size) {
		nvh_err(EINVAL, "nvh_root: %s: type \"%s\" is not registered "
			"(nvh_type_register)", pool->path, t->name);
		return NVH_OID_NULL;
	}
	nvh_oid *slot = nvh_root_slot(pool);
	uint64_t off;
	struct nvh_objhdr *h;
	uint32_t type = root_type(pool, slot, &off, &h);
	if (type != rt->id) {
		/* No root, or one not yet committed (a transaction stores
		 * the slot in place before its commit publishes the object):
		 * threads that find no root are serialised (reg_lock, taken
		 * before a lane like a type registration; not inside a
		 * transaction, which holds its lane already and creates it in
		 * itself), and the later ones find the first one's root
		 * instead of replacing it. */
		int outside = !nvh_tx_current(pool);
		if (outside && nvh_pool_usable(pool, "nvh_root"))
			return NVH_OID_NULL;
		if (outside)
			pthread_mutex_lock(&pool->objects->reg_lock);
		int rc = 0;
		if (!__atomic_load_n(&slot->off, __ATOMIC_ACQUIRE)) {
			nvh_tx *tx = nvh_tx_begin(pool);
			rc = tx ? 0 : -1;
			nvh_oid o = tx ? nvh_tx_alloc_typed(tx, t, NVH_TX_ZERO)
				       : NVH_OID_NULL;
			if (!NVH_OID_IS_NULL(o))
				nvh_tx_set(tx, slot, o);
			if (tx && nvh_tx_commit(tx))
				rc = -1;
		}
		if (outside)
			pthread_mutex_unlock(&pool->objects->reg_lock);
		if (rc) {
			nvh_err_prefix("nvh_root: ");
			return NVH_OID_NULL;
		}
		type = root_type(pool, slot, &off, &h);
	}
	if (type != rt->id) {
		const struct nvh_rtype *got = h ? nvh_type_get(pool, type) : NULL;
		nvh_err(EINVAL, "nvh_root: %s: the root object is %s%s%s, not a "
			"\"%s\"", pool->path, got ? "a \"" : "",
			got ? got->name : "untyped or invalid", got ? "\"" : "",
			t->name);
		return NVH_OID_NULL;
	}
	return (nvh_oid){__atomic_load_n(&slot->off, __ATOMIC_ACQUIRE)};
}

/* ---- mutexes ---- */

/* The DRAM lock table, striped by pool offset so that threads locking
 * different mutexes rarely meet on a table lock. */
#define MUTEX_STRIPES 64

struct nvh_mutex_stripe {
	pthread_mutex_t lock;
	struct nvh_u64map map; /* pool offset -> pthread_mutex_t * */
} __attribute__((aligned(64)));

int
nvh_mutexes_init(struct nvh_objects *o)
{
	o->mutexes = aligned_alloc(64, MUTEX_STRIPES * sizeof(*o->mutexes));
	if (!o->mutexes)
		return nvh_err(ENOMEM, "out of memory");
	memset(o->mutexes, 0, MUTEX_STRIPES * sizeof(*o->mutexes));
	for (unsigned i = 0; i < MUTEX_STRIPES; i++)
		pthread_mutex_init(&o->mutexes[i].lock, NULL);
	return 0;
}

/* A persistent mutex's DRAM side: the lock and who holds it.  The owner
 * is checked before pthreads is asked, so misuse is an error (EDEADLK,
 * EPERM) without relying on error-checking mutexes, whose failing calls
 * thread sanitizers report as bugs. */
struct dmutex {
	pthread_mutex_t m;
	_Atomic uintptr_t owner; /* self() of the holder, 0 if none */
};

/* Unique among all threads of the process, dead ones included. */
static uintptr_t
self(void)
{
	static _Atomic uintptr_t last;
	static _Thread_local uintptr_t me;
	if (!me)
		me = atomic_fetch_add(&last, 1) + 1;
	return me;
}

/* A robust mutex: the exit of a thread holding it is noticed by the
 * next locker (EOWNERDEAD) instead of hanging it. */
static int
dmutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int rc = pthread_mutexattr_init(&a);
	if (rc)
		return rc;
	rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!rc)
		rc = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return rc;
}

static struct dmutex *
mutex_of(nvh_pool *pool, nvh_mutex *mx)
{
	const char *p = (const char *)mx;
	if (!pool || !pool->objects || !mx || p < pool->base ||
	    p > pool->base + nvh_pool_size(pool) - sizeof(*mx) ||
	    (uintptr_t)p % 8) {
		nvh_err(EINVAL, "nvh_mutex: %p is not an aligned mutex in this "
			"pool", (const void *)mx);
		return NULL;
	}
	uint64_t off = (uint64_t)(p - pool->base);
	struct nvh_mutex_stripe *st =
		&pool->objects->mutexes[nvh_u64map_hash(off, MUTEX_STRIPES)];
	pthread_mutex_lock(&st->lock);
	const uint64_t *v = nvh_u64map_find(&st->map, off);
	struct dmutex *m = v ? (struct dmutex *)(uintptr_t)*v : NULL;
	if (!m && (m = malloc(sizeof(*m)))) {
		int bad = dmutex_init(&m->m);
		atomic_init(&m->owner, 0);
		if (bad || nvh_u64map_put(&st->map, off, (uint64_t)(uintptr_t)m)) {
			if (!bad)
				pthread_mutex_destroy(&m->m);
			free(m);
			m = NULL;
		}
	}
	pthread_mutex_unlock(&st->lock);
	if (!m)
		nvh_err(ENOMEM, "nvh_mutex: out of memory");
	return m;
}

/* Turn a result into ours, with a message for each failure. */
static int
mutex_result(nvh_pool *pool, nvh_mutex *mx, int r, const char *fn)
{
	uint64_t off = (uint64_t)((const char *)mx - pool->base);
	switch (r) {
	case 0:
		return 0;
	case EDEADLK:
		return nvh_err(EDEADLK, "%s: the mutex at pool offset %" PRIu64
			       " is already held by this thread (nvh_mutex is "
			       "not recursive)", fn, off);
	case EPERM:
		return nvh_err(EPERM, "%s: the mutex at pool offset %" PRIu64
			       " is not held by this thread (unlocked, or "
			       "locked by another thread)", fn, off);
	case EBUSY:
		return nvh_err(EBUSY, "%s: the mutex at pool offset %" PRIu64
			       " is held (by this or another thread)", fn, off);
	case EOWNERDEAD:
		return nvh_err(EOWNERDEAD, "%s: the thread holding the mutex at "
			       "pool offset %" PRIu64 " exited without unlocking "
			       "it; this thread holds it now (what it guards "
			       "may be half changed)", fn, off);
	default:
		return nvh_err(r, "%s: the mutex at pool offset %" PRIu64 ": %s",
			       fn, off, strerror(r));
	}
}

/* We got the mutex (r 0), or got it from a holder that exited (r
 * EOWNERDEAD): record ourselves, and make it usable again. */
static int
taken(struct dmutex *m, int r)
{
	if (r == 0 || r == EOWNERDEAD)
		atomic_store(&m->owner, self());
	if (r == EOWNERDEAD)
		pthread_mutex_consistent(&m->m);
	return r;
}

/* Only the holder stores its own id into owner or clears it, so reading
 * our own id there means we hold the mutex, and anything else that we
 * do not. */
NVH_API int
nvh_mutex_lock(nvh_pool *pool, nvh_mutex *mx)
{
	struct dmutex *m = mutex_of(pool, mx);
	if (!m)
		return -errno;
	int r = atomic_load(&m->owner) == self() ? EDEADLK
				: taken(m, pthread_mutex_lock(&m->m));
	return mutex_result(pool, mx, r, "nvh_mutex_lock");
}

NVH_API int
nvh_mutex_trylock(nvh_pool *pool, nvh_mutex *mx)
{
	struct dmutex *m = mutex_of(pool, mx);
	if (!m)
		return -errno;
	int r = atomic_load(&m->owner) == self() ? EBUSY
				: taken(m, pthread_mutex_trylock(&m->m));
	return mutex_result(pool, mx, r, "nvh_mutex_trylock");
}

NVH_API int
nvh_mutex_unlock(nvh_pool *pool, nvh_mutex *mx)
{
	struct dmutex *m = mutex_of(pool, mx);
	if (!m)
		return -errno;
	if (atomic_load(&m->owner) != self())
		return mutex_result(pool, mx, EPERM, "nvh_mutex_unlock");
	atomic_store(&m->owner, 0);
	return mutex_result(pool, mx, pthread_mutex_unlock(&m->m),
			    "nvh_mutex_unlock");
}

void
nvh_mutexes_free(struct nvh_objects *o)
{
	if (!o->mutexes)
		return;
	for (unsigned i = 0; i < MUTEX_STRIPES; i++) {
		struct nvh_mutex_stripe *st = &o->mutexes[i];
		for (size_t k = 0; k < st->map.cap; k++) {
			if (!st->map.s[k].key)
				continue;
			struct dmutex *m =
				(struct dmutex *)(uintptr_t)st->map.s[k].val;
			/* A mutex a live thread still holds is linked into
			 * that thread's robust list (glibc and the kernel
			 * write to it when the thread unlocks or exits): its
			 * memory must stay.  Only closing a pool while
			 * holding a mutex leaks it. */
			int r = pthread_mutex_trylock(&m->m);
			if (r == EOWNERDEAD)
				r = pthread_mutex_consistent(&m->m);
			if (r)
				continue;
			pthread_mutex_unlock(&m->m);
			pthread_mutex_destroy(&m->m);
			free(m);
		}
		nvh_u64map_fini(&st->map);
		pthread_mutex_destroy(&st->lock);
	}
	free(o->mutexes);
	o->mutexes = NULL;
}
