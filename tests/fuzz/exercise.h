/*
 * exercise.h -- what fuzz_open does with a pool that opened read-write.
 */
#ifndef NVF_EXERCISE_H
#define NVF_EXERCISE_H

#include <nvheap.h>

/*
 * Use the pool as an application would (exercise.c).  Every step may fail
 * on a damaged pool, cleanly; returns -1 (with a message on stderr) only
 * if the library broke a promise it can keep on any pool.  *committed
 * counts the transactions and atomic operations that succeeded.
 */
int nvf_exercise(nvh_pool *p, unsigned *committed);

#endif
