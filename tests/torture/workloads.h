/*
 * workloads.h -- the registry of torture workloads.  A new workload is a
 * struct nvh_crashtest in a wl_*.c file plus one line in each list here.
 */
#ifndef NVT_WORKLOADS_H
#define NVT_WORKLOADS_H

#include <nvheap.h>

/* Must hold: `scons torture` runs these and expects no failure. */
extern const struct nvh_crashtest nvt_wl_create, nvt_wl_reopen,
	nvt_wl_repair_a, nvt_wl_repair_b, nvt_wl_alloc_mixed,
	nvt_wl_alloc_lanes, nvt_wl_alloc_grow, nvt_wl_alloc_grow_old, nvt_wl_tx_mixed, nvt_wl_tx_extend,
	nvt_wl_tx_addv, nvt_wl_tx_lanes, nvt_wl_obj_list, nvt_wl_obj_tree, nvt_wl_obj_weak,
	nvt_wl_obj_types, nvt_wl_obj_wide, nvt_wl_kv_hash, nvt_wl_kv_btree,
	nvt_wl_kv_hash_ttl, nvt_wl_kv_btree_ttl, nvt_wl_kv_hashtype, nvt_wl_kv_listtype,
	nvt_wl_kv_settype, nvt_wl_kv_zsettype, nvt_wl_malloc_stack;

/* Scale workloads (wl_scale*.c): big pools, sampled fences; and tx-wrap
 * (wl_wrap.c: 300,000 crash states).  `scons torture` runs them after the
 * others, within its budget; the unit tests (which explore exhaustively)
 * do not. */
extern const struct nvh_crashtest nvt_wl_scale_list, nvt_wl_scale_tree,
	nvt_wl_scale_wide, nvt_wl_scale_array, nvt_wl_scale_flush_hash,
	nvt_wl_scale_flush_btree, nvt_wl_scale_rollback, nvt_wl_tx_wrap;

/* Planted bugs: the explorer must find failures (tests/unit/test_sim.c). */
extern const struct nvh_crashtest nvt_wl_broken_noflush, nvt_wl_broken_order;

#define NVT_WORKLOADS                                                        \
	&nvt_wl_create, &nvt_wl_reopen, &nvt_wl_repair_a, &nvt_wl_repair_b,  \
	&nvt_wl_alloc_mixed, &nvt_wl_alloc_lanes, &nvt_wl_alloc_grow,      \
	&nvt_wl_alloc_grow_old,                                              \
	&nvt_wl_tx_mixed,                                                    \
	&nvt_wl_tx_extend, &nvt_wl_tx_addv, &nvt_wl_tx_lanes,               \
	&nvt_wl_obj_list,                                                    \
	&nvt_wl_obj_tree, &nvt_wl_obj_weak, &nvt_wl_obj_types, &nvt_wl_obj_wide, \
	&nvt_wl_kv_hash, &nvt_wl_kv_btree, &nvt_wl_kv_hash_ttl,              \
	&nvt_wl_kv_btree_ttl, &nvt_wl_kv_hashtype, &nvt_wl_kv_listtype,   \
	&nvt_wl_kv_settype, &nvt_wl_kv_zsettype, &nvt_wl_malloc_stack

#define NVT_SCALE_WORKLOADS                                                  \
	&nvt_wl_scale_rollback, &nvt_wl_scale_list, &nvt_wl_scale_tree,      \
	&nvt_wl_scale_wide, &nvt_wl_scale_flush_hash,                        \
	&nvt_wl_scale_flush_btree, &nvt_wl_scale_array, &nvt_wl_tx_wrap

#define NVT_BROKEN_WORKLOADS &nvt_wl_broken_noflush, &nvt_wl_broken_order

#endif
