/*
 * pool_file.c -- a pool's file: creating it, locking it, mapping it.
 *
 * The file is opened once and locked (flock: exclusive for read-write
 * opens, shared for read-only ones) for as long as the pool is open.
 * (pmem_map_file would reopen the path by name, which leaves a window for
 * a rename to swap files, and cannot map read-only; see
 * docs/persistence.md.)  A read-write mapping first asks for MAP_SYNC,
 * which only DAX file systems grant: a granted MAP_SYNC means the mapping
 * is persistent memory and CPU cache flushes make stores durable.  Without
 * it libpmem decides (pmem_is_pmem honours PMEM_IS_PMEM_FORCE).
 *
 * Where the lock lives.  A flock belongs to an open file description and
 * lasts until the description's last reference goes: descriptors, and
 * mappings made from it.  A fork child gets a copy of every descriptor
 * and mapping, so it would hold the parent's lock until it exits, even
 * after the parent closed the pool (and unlocking it explicitly would
 * unlock the parent).  So once locked, the file is opened a second time
 * (/proc/self/fd/N: the same inode, even if the path was renamed
 * meanwhile); that description, which holds no lock, is the one kept and
 * mapped.  The locked one is closed, after mapping one page of it with
 * MADV_DONTFORK: that page is the lock's only reference, and no child
 * inherits it.  (Without /proc the locked descriptor is kept and mapped,
 * and a child holds the lock until its fork handler closes its copy.)
 *
 * Two other mappings: the private copy-on-write view in which a read-only
 * open recovers a pool that was not closed cleanly (its stores never
 * reach the file), and, in a fork child, the private replacement of a
 * read-write mapping (the child's stores never reach its parent's pool;
 * pool_handle.c explains the fork rules).
 *
 * Every mapping goes through map()/unmap(), which a crash test may hook
 * (struct nvh_map_hook).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <libpmem.h>

#include "heap/error.h"
#include "heap/pool.h"

static const struct nvh_map_hook *map_hook;

void
nvh_file_set_map_hook(const struct nvh_map_hook *h)
{
	__atomic_store_n(&map_hook, h, __ATOMIC_RELEASE);
}

static void *
map(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	const struct nvh_map_hook *h = __atomic_load_n(&map_hook,
						       __ATOMIC_ACQUIRE);
	return h ? h->map(addr, len, prot, flags, fd, off)
		 : mmap(addr, len, prot, flags, fd, off);
}

static int
unmap(void *addr, size_t len)
{
	const struct nvh_map_hook *h = __atomic_load_n(&map_hook,
						       __ATOMIC_ACQUIRE);
	return h ? h->unmap(addr, len) : munmap(addr, len);
}

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

static int
lock_file(int fd, int rdonly)
{
	if (flock(fd, (rdonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return nvh_err(EBUSY, "pool is already open%s (advisory lock "
			       "held by another process or handle)",
			       rdonly ? " read-write" : "");
	return nvh_err(errno, "cannot lock: %s", strerror(errno));
}

#define LOCK_PAGE 4096u

/*
 * Move the lock's reference off the descriptor (see the top): reopen the
 * file, keep the new descriptor, map one page of the locked one that no
 * fork child inherits, close the locked one.  Without /proc (or if a step
 * fails) the locked descriptor stays, which is correct, only inherited.
 */
static void
hold_lock(struct nvh_file *f, int rdonly)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", f->fd);
	int m = open(p, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (m < 0)
		return;
	void *l = map(NULL, LOCK_PAGE, PROT_READ, MAP_SHARED, f->fd, 0);
	if (l == MAP_FAILED || madvise(l, LOCK_PAGE, MADV_DONTFORK) != 0) {
		if (l != MAP_FAILED)
			unmap(l, LOCK_PAGE);
		close(m);
		return;
	}
	close(f->fd); /* the lock stays: the page still references it */
	f->fd = m;
	f->lock = l;
}

static int
map_file(struct nvh_file *f, int rdonly)
{
	void *a = MAP_FAILED;
	f->is_pmem = 0;
	if (!rdonly) {
		a = map(NULL, f->size, PROT_READ | PROT_WRITE,
			 MAP_SHARED_VALIDATE | MAP_SYNC, f->fd, 0);
		if (a != MAP_FAILED)
			f->is_pmem = f->map_sync = 1;
	}
	if (a == MAP_FAILED)
		a = map(NULL, f->size,
			 rdonly ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_SHARED, f->fd, 0);
	if (a == MAP_FAILED)
		return nvh_err(errno == EACCES ? EACCES : errno,
			       "cannot map %zu bytes: %s", f->size,
			       strerror(errno));
	f->base = a;
	f->resv = f->size;
	if (!f->is_pmem)
		f->is_pmem = pmem_is_pmem(a, f->size);
	return 0;
}

/* Address space only: no memory, no commit charge, no access. */
static void *
reserve(void *addr, size_t len)
{
	return mmap(addr, len, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			    (addr ? MAP_FIXED : 0), -1, 0);
}

/* Map [off, off+len) of the file at base+off, replacing the reservation
 * there, the way map_file mapped the rest. */
static int
map_at(struct nvh_file *f, uint64_t off, uint64_t len)
{
	void *want = f->base + off;
	void *a = map(want, len, PROT_READ | PROT_WRITE,
		      (f->map_sync ? MAP_SHARED_VALIDATE | MAP_SYNC
				   : MAP_SHARED) | MAP_FIXED,
		      f->fd, (off_t)off);
	if (a == MAP_FAILED) {
		int e = errno;
		reserve(want, len); /* (MAP_FIXED may have unmapped it) */
		return nvh_err(e, "cannot map %" PRIu64 " bytes at file offset "
			       "%" PRIu64 ": %s", len, off, strerror(e));
	}
	return 0;
}

int
nvh_file_reserve(struct nvh_file *f, uint64_t resv)
{
	resv = (resv + 4095) & ~(uint64_t)4095;
	if (resv <= f->size)
		return 0;
	/* Less if the address space is short (the pool then grows only
	 * that far in this run: heap/grow.c says so when it gets there). */
	char *r = MAP_FAILED;
	while (resv > f->size && (r = reserve(NULL, resv)) == MAP_FAILED)
		resv = f->size + (resv - f->size) / 2;
	if (r == MAP_FAILED)
		return 0;
	char *old = f->base;
	f->base = r;
	int rc = map_at(f, 0, f->size);
	if (rc) {
		munmap(r, resv);
		f->base = old;
		return rc;
	}
	unmap(old, f->size);
	f->resv = resv;
	return 0;
}

uint64_t
nvh_file_room(const struct nvh_file *f)
{
	struct statvfs v;
	uint64_t room = NVH_MAX_POOL_SIZE;
	if (fstatvfs(f->fd, &v) == 0 && v.f_frsize &&
	    v.f_blocks < NVH_MAX_POOL_SIZE / v.f_frsize)
		room = (uint64_t)v.f_blocks * v.f_frsize;
	return room > f->size ? room : f->size;
}

int
nvh_file_grow(struct nvh_file *f, uint64_t size)
{
	if (size <= f->size)
		return 0;
	if (size > f->resv)
		return nvh_err(ENOMEM, "the address space reserved at open "
			       "(%" PRIu64 " bytes) has no room for %" PRIu64
			       " bytes: close and reopen the pool to grow it "
			       "further", (uint64_t)f->resv, size);
	/* Blocks reserved now (on a DAX file system too, which needs its
	 * blocks allocated before they are mapped), so a full disk fails
	 * here and not as SIGBUS on a later store. */
	int e = posix_fallocate(f->fd, (off_t)f->size, (off_t)(size - f->size));
	if (e) {
		/* nothing was changed: the file's size as it was */
		if (ftruncate(f->fd, (off_t)f->size) != 0) {
			/* the tail past pool_size is harmless: the next
			 * read-write open trims it */
		}
		return nvh_err(e == EFBIG ? EFBIG : e == ENOSPC ? ENOSPC : e,
			       "cannot extend the file from %zu to %" PRIu64
			       " bytes: %s", f->size, size, strerror(e));
	}
	/* The new size and blocks durable before any header claims them. */
	if (fsync(f->fd) != 0)
		return nvh_err(EIO, "fsync after extending the file failed: %s",
			       strerror(errno));
	int rc = map_at(f, f->size, size - f->size);
	if (rc)
		return rc;
	f->size = (size_t)size;
	return 0;
}

int
nvh_file_trim(struct nvh_file *f, uint64_t size)
{
	if (size >= f->size)
		return 0;
	/* the tail holds nothing (it is past pool_size): a crash before or
	 * after the truncate leaves a pool that opens the same */
	unmap(f->base + size, f->size - size);
	if (f->resv > f->size)
		reserve(f->base + size, f->size - size); /* room to grow */
	else
		f->resv = (size_t)size; /* nothing is reserved past it */
	if (ftruncate(f->fd, (off_t)size) != 0)
		return nvh_err(errno, "cannot trim the tail an unfinished growth "
			       "left: %s", strerror(errno));
	f->size = (size_t)size;
	return 0;
}

/* Make the new file's directory entry durable. */
static int
sync_parent_dir(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return nvh_err(ENAMETOOLONG, "path too long");
	int dfd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return nvh_err(errno, "cannot open parent directory: %s",
			       strerror(errno));
	int rc = 0;
	/* The file's name survives a power failure once this returns. */
	if (fsync(dfd) != 0 && errno != EINVAL)
		rc = nvh_err(EIO, "fsync of parent directory failed: %s",
			     strerror(errno));
	close(dfd);
	return rc;
}

int
nvh_file_create(const char *path, uint64_t size, mode_t mode,
		struct nvh_file *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	struct stat st;
	if (lstat(path, &st) == 0)
		return nvh_err(EEXIST, "file exists (nvh_create never "
			       "overwrites; remove it or use nvh_open)");
	char d[PATH_MAX], b[PATH_MAX];
	if (snprintf(d, sizeof(d), "%s", path) >= (int)sizeof(d) ||
	    snprintf(b, sizeof(b), "%s", path) >= (int)sizeof(b))
		return nvh_err(ENAMETOOLONG, "path too long");
	/* dirname() and basename() may return a pointer other than their
	 * argument ("." for a name without a slash): use what they return. */
	const char *dn = dirname(d), *bn = basename(b);
	size_t n = strlen(dn) + strlen(bn) + 32;
	if (!(f->tmp = malloc(n)))
		return nvh_err(ENOMEM, "out of memory");
	snprintf(f->tmp, n, "%s/.%s.creating-XXXXXX", dn, bn);
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		int e = errno;
		free(f->tmp);
		f->tmp = NULL;
		return nvh_err(e, "cannot create file: %s", strerror(e));
	}
	int rc = 0;
	if (fchmod(f->fd, mode) != 0) {
		rc = nvh_err(errno, "cannot set the mode: %s", strerror(errno));
		goto fail;
	}
	rc = lock_file(f->fd, 0);
	if (rc)
		goto fail;
	f->size = (size_t)size;
	/* Reserve every block now so a full disk fails here, not as SIGBUS
	 * on a later store; the new range reads as zeros. */
	int e = posix_fallocate(f->fd, 0, (off_t)size);
	if (e) {
		rc = nvh_err(e == EFBIG ? EFBIG : e,
			     "cannot allocate %llu bytes for the pool: %s",
			     (unsigned long long)size, strerror(e));
		goto fail;
	}
	/* File size and blocks durable before any header claims them. */
	if (fsync(f->fd) != 0) {
		rc = nvh_err(EIO, "fsync failed: %s", strerror(errno));
		goto fail;
	}
	hold_lock(f, 0);
	rc = map_file(f, 0);
	if (rc)
		goto fail;
	return 0;
fail:
	nvh_file_close(f);
	nvh_file_discard(f);
	return rc;
}

int
nvh_file_publish(struct nvh_file *f, const char *path)
{
	/* link() fails if `path` exists: never overwrites */
	int rc = link(f->tmp, path);
	if (rc && errno != EEXIST)
		/* a file system without hard links */
		rc = renameat2(AT_FDCWD, f->tmp, AT_FDCWD, path,
			       RENAME_NOREPLACE);
	else if (rc == 0)
		unlink(f->tmp);
	if (rc) {
		int e = errno;
		return nvh_err(e, "cannot give the new pool its name: %s%s",
			       strerror(e), e == EEXIST ? " (another process "
			       "created it meanwhile)" : "");
	}
	free(f->tmp);
	f->tmp = NULL;
	/* The file's name survives a power failure once this returns. */
	return sync_parent_dir(path);
}

void
nvh_file_discard(struct nvh_file *f)
{
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	f->tmp = NULL;
}

int
nvh_file_open(const char *path, int rdonly, struct nvh_file *f)
{
	memset(f, 0, sizeof(*f));
	/* O_NONBLOCK: opening a FIFO read-only would otherwise wait for a
	 * writer before the regular-file check below could refuse it.  It
	 * is cleared again once the file is known to be regular. */
	f->fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC |
			   O_NONBLOCK);
	if (f->fd < 0) {
		int e = errno;
		if (e == EISDIR)
			return nvh_err(EISDIR, "is a directory, not a pool file");
		return nvh_err(e, "cannot open%s: %s",
			       rdonly ? "" : " for reading and writing",
			       strerror(e));
	}
	int rc;
	struct stat st;
	if (fstat(f->fd, &st) != 0) {
		rc = nvh_err(errno, "cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = nvh_err(EISDIR, "is a directory, not a pool file");
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = nvh_err(EINVAL, "not a regular file");
		goto fail;
	}
	int fl = fcntl(f->fd, F_GETFL);
	if (fl < 0 || fcntl(f->fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		rc = nvh_err(errno, "fcntl: %s", strerror(errno));
		goto fail;
	}
	if (st.st_size == 0) {
		rc = nvh_err(NVH_ENOTPOOL, "file is empty (0 bytes): not a pool");
		goto fail;
	}
	if ((uint64_t)st.st_size < NVH_HEAP_OFFSET) {
		rc = nvh_err(NVH_ENOTPOOL, "file is %lld bytes, too small to "
			     "hold the pool headers (%u bytes)",
			     (long long)st.st_size, NVH_HEAP_OFFSET);
		goto fail;
	}
	if ((uint64_t)st.st_size > NVH_MAX_POOL_SIZE) {
		rc = nvh_err(NVH_ENOTPOOL, "file is %lld bytes, larger than "
			     "the largest pool (%llu bytes)",
			     (long long)st.st_size,
			     (unsigned long long)NVH_MAX_POOL_SIZE);
		goto fail;
	}
	rc = lock_file(f->fd, rdonly);
	if (rc)
		goto fail;
	f->size = (size_t)st.st_size;
	hold_lock(f, rdonly);
	rc = map_file(f, rdonly);
	if (rc)
		goto fail;
	return 0;
fail:
	nvh_file_close(f);
	return rc;
}

void
nvh_file_close(struct nvh_file *f)
{
	if (f->base)
		unmap(f->base, f->size);
	if (f->base && f->resv > f->size)
		munmap(f->base + f->size, f->resv - f->size);
	if (f->fd >= 0)
		close(f->fd); /* releases the lock, if it is the locked one */
	if (f->lock)
		unmap(f->lock, LOCK_PAGE); /* releases the lock */
	f->base = NULL;
	f->fd = -1;
	f->lock = NULL;
}

int
nvh_file_map_private(struct nvh_file *f)
{
	/* MAP_NORESERVE: memory (and commit charge) only for the pages
	 * recovery writes, not for the whole file, which may be far larger
	 * than memory and swap. */
	void *a = map(NULL, f->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_NORESERVE, f->fd, 0);
	if (a == MAP_FAILED)
		return nvh_err(errno, "cannot map a private copy-on-write view "
			       "of %zu bytes to recover in: %s (a read-write "
			       "open recovers the pool in place)", f->size,
			       strerror(errno));
	unmap(f->base, f->size);
	f->base = a;
	return 0;
}

int
nvh_file_seal(struct nvh_file *f)
{
	if (mprotect(f->base, f->size, PROT_READ) != 0)
		return nvh_err(errno, "cannot make the recovered view read-only: "
			       "%s", strerror(errno));
	return 0;
}

void
nvh_file_fork_child(struct nvh_file *f, int writable)
{
	f->lock = NULL; /* MADV_DONTFORK: not mapped here */
	if (f->fd < 0)
		return; /* a grandchild: done in the child already */
	if (writable) {
		/* Same address, so the child's pointers stay valid; the
		 * contents are the page cache's, the parent's included. */
		void *a = map(f->base, f->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, f->fd, 0);
		if (a == MAP_FAILED)
			mprotect(f->base, f->size, PROT_READ);
	}
	/* Not needed here any more; if it is the locked one (no /proc),
	 * closing it drops the child's share of the parent's lock (an
	 * explicit unlock would unlock the parent). */
	close(f->fd);
	f->fd = -1;
}
