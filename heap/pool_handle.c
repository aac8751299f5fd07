/*
 * pool_handle.c -- pool handles: which are open, which were closed, and
 * what a fork child may do with the ones it inherited.
 *
 * Every open pool is on a process-wide registry (handles_lock).  nvh_close
 * finds the handle there before touching it, so a second close is an
 * error (EBADF), never a use of freed memory.  The struct of a closed
 * handle is not freed at once but kept for the next CLOSED_KEEP closes,
 * with gen 0, no mapping (base NULL, size 0: nvh_direct finds nothing)
 * and no heap, so the other calls on it fail cleanly too; its address is
 * not reused meanwhile, so a late second close cannot close a newer pool.
 *
 * A fork child gets a copy of every handle, but the pool belongs to the
 * parent.  The child handler (pthread_atfork; the prepare handler holds
 * handles_lock, so the registry is whole in the child):
 *   - bumps nvh_process_gen, which every write entry point compares with
 *     the handle's gen (nvh_pool_usable: one load and a compare): EPERM;
 *   - replaces each read-write pool's mapping by a private copy-on-write
 *     one at the same address, so even a store no check sees (a raw
 *     pointer, a call that has no check) cannot reach the parent's pool;
 *   - closes the child's copy of each descriptor; the lock's own
 *     reference is not inherited at all (pool_file.c), so the lock goes
 *     when the parent closes, whatever the child does.
 * nvh_close in the child then frees the child's copy and writes nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "heap/error.h"
#include "heap/pool.h"

#define CLOSED_KEEP 64

uint64_t nvh_process_gen = 1;

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nvh_pool *open_pools;          /* linked by next_open */
static struct nvh_pool *closed[CLOSED_KEEP]; /* ring of closed handles */
static unsigned closed_next;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
fork_prepare(void)
{
	/* the registry is consistent in the child: no open or close is
	 * half-way through changing it */
	pthread_mutex_lock(&handles_lock);
}

static void
fork_parent(void)
{
	pthread_mutex_unlock(&handles_lock);
}

static void
fork_child(void)
{
	nvh_process_gen++;
	for (struct nvh_pool *p = open_pools; p; p = p->next_open) {
		struct nvh_file f = {.fd = p->fd, .base = p->base,
				     .size = p->size};
		/* a read-only mapping or a recovered view cannot write to
		 * the file anyway */
		nvh_file_fork_child(&f, !p->rdonly && !p->view);
		p->fd = f.fd;
		p->lock_page = f.lock;
	}
	pthread_mutex_unlock(&handles_lock);
}

static void
atfork_register(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void
nvh_handle_init(struct nvh_pool *pool)
{
	pthread_once(&atfork_once, atfork_register);
	pool->gen = nvh_process_gen;
	pool->pid = getpid();
	pthread_mutex_init(&pool->grow_lock, NULL);
}

void
nvh_handle_register(struct nvh_pool *pool)
{
	pthread_mutex_lock(&handles_lock);
	pool->next_open = open_pools;
	open_pools = pool;
	pthread_mutex_unlock(&handles_lock);
}

static int
is_open(const struct nvh_pool *pool)
{
	for (const struct nvh_pool *p = open_pools; p; p = p->next_open)
		if (p == pool)
			return 1;
	return 0;
}

/* Start closing: the handle must be open and not being closed.  Only
 * compares the pointer until it is found (it may have been freed). */
int
nvh_handle_claim(struct nvh_pool *pool)
{
	int rc = 0;
	pthread_mutex_lock(&handles_lock);
	if (!is_open(pool))
		rc = nvh_err(EBADF, "nvh_close: %p is not an open pool (closed "
			     "already?)", (void *)pool);
	else if (pool->closing)
		rc = nvh_err(EBUSY, "nvh_close: %s: another thread is closing "
			     "it", pool->path);
	else
		pool->closing = 1;
	pthread_mutex_unlock(&handles_lock);
	return rc;
}

void
nvh_handle_unclaim(struct nvh_pool *pool)
{
	pthread_mutex_lock(&handles_lock);
	pool->closing = 0;
	pthread_mutex_unlock(&handles_lock);
}

void
nvh_pool_free(struct nvh_pool *pool)
{
	free(pool->path);
	free(pool);
}

/* The end of nvh_close: off the registry, unmap and close the file (under
 * the lock, so a fork never copies a descriptor being closed), and keep
 * the struct as a closed handle. */
void
nvh_handle_retire(struct nvh_pool *pool)
{
	struct nvh_file f = {.fd = pool->fd, .lock = pool->lock_page,
			     .base = pool->base, .size = pool->size,
			     .resv = pool->resv};
	pthread_mutex_lock(&handles_lock);
	struct nvh_pool **pp = &open_pools;
	while (*pp != pool)
		pp = &(*pp)->next_open;
	*pp = pool->next_open;
	nvh_file_close(&f);
	pool->gen = 0;
	pool->fd = -1;
	pool->lock_page = NULL;
	pool->base = NULL;
	/* nvh_direct & co find no object in it */
	__atomic_store_n(&pool->size, 0, __ATOMIC_RELEASE);
	struct nvh_pool *old = closed[closed_next];
	closed[closed_next] = pool;
	closed_next = (closed_next + 1) % CLOSED_KEEP;
	pthread_mutex_unlock(&handles_lock);
	if (old)
		nvh_pool_free(old);
}

int
nvh_pool_refuse(const struct nvh_pool *pool, const char *fn)
{
	if (pool->gen == 0)
		return nvh_err(EBADF, "%s: %s: the pool handle is closed "
			       "(nvh_close)", fn, pool->path);
	return nvh_err(EPERM, "%s: %s: the pool was opened by process %d and "
		       "this process inherited the handle by fork: a child may "
		       "not write to its parent's pool (nvh_close the copy "
		       "here; open the pool here once the parent closed it)", fn,
		       pool->path, (int)pool->pid);
}
