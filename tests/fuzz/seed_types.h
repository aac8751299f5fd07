/*
 * seed_types.h -- the object types of the seed pools (mkseeds.c builds
 * pools of them; fuzz_open's exercise.c uses recovered pools through them).
 */
#ifndef NVF_SEED_TYPES_H
#define NVF_SEED_TYPES_H

#include <stdint.h>

#include <nvheap.h>

#define NVF_LAYOUT "nvheap-fuzz"

NVH_TYPE(fz_node);
NVH_TYPE(fz_tree);
NVH_TYPE(fz_blob);
NVH_TYPE(fz_man);
NVH_TYPE(fz_root);
NVH_TYPE(fz_late);

struct fz_node {
	int64_t value;
	fz_node_ptr next;
	fz_node_weak prev;
	nvh_oid any;          /* untyped, allocated with nvh_alloc */
};

struct fz_tree {
	int64_t key;
	fz_tree_ptr kid[4];
	fz_node_weak near;
	uint8_t pad[40];
};

struct fz_blob {
	uint64_t len;
	fz_node_ptr owner;
	uint8_t data[];
};

struct fz_man {
	int64_t v;
	fz_node_ptr ref;
};

#define NBLOB 4

struct fz_root {
	fz_node_ptr list;
	fz_tree_ptr tree;
	fz_blob_ptr blob[NBLOB];
	fz_man_ptr man;
	nvh_oid raw;
	fz_node_weak w;
	nvh_mutex lock;
	fz_node_ptr pinned;
	nvh_oid late;         /* any type: an object of a type registered late */
};

struct fz_late {
	int64_t v;
	fz_late_ptr self;
};

/* Register the types every seed pool has (fz_late only some). */
int nvf_register_types(nvh_pool *p);

#endif
