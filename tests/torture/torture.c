/*
 * torture.c -- `torture`: nvheap's own crash tests (the workloads of
 * tests/torture/wl_*.c), run by the public crash-test command line
 * (nvh_crashtest_main, nvheap/crashtest.h); `torture --help` lists its
 * options.  `scons torture` runs it with a 300 s budget.
 */
#include <stddef.h>

#include "workloads.h"

static const struct nvh_crashtest *const all[] = {
	NVT_WORKLOADS, NVT_SCALE_WORKLOADS, NVT_BROKEN_WORKLOADS, NULL};

int
main(int argc, char **argv)
{
	return nvh_crashtest_main(argc, argv, all);
}
