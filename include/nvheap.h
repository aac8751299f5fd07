/*
 * nvheap.h -- umbrella header of nvheap, a transactional persistent object
 * heap.  Include this; the topic headers under nvheap/ are its sections.
 *
 *   nvheap/errors.h   error codes and nvh_errormsg()
 *   nvheap/pool.h     creating, opening and closing pool files
 *   nvheap/persist.h  flushing your own stores, persistence statistics
 *   nvheap/alloc.h    object ids, atomic allocation and free, statistics
 *   nvheap/malloc.h   malloc/free with no barrier; crash recovery by GC
 *   nvheap/tx.h       transactions
 *   nvheap/obj.h      typed objects, reference counts, root, mutexes, check
 *   nvheap/repair.h   repairing a damaged pool offline
 *   nvheap/crashtest.h  crash-testing your own data structures
 */
#ifndef NVHEAP_H
#define NVHEAP_H

#include <nvheap/errors.h>
#include <nvheap/pool.h>
#include <nvheap/persist.h>
#include <nvheap/alloc.h>
#include <nvheap/malloc.h>
#include <nvheap/tx.h>
#include <nvheap/obj.h>
#include <nvheap/repair.h>
#include <nvheap/crashtest.h>

#endif
