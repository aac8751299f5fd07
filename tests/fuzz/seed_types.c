/*
 * seed_types.c -- the descriptors of the seed pools' object types.
 */
#include <stddef.h>

#include "seed_types.h"

NVH_TYPE_DEFINE(fz_node, 0, NVH_PTR(fz_node, next, fz_node)
		NVH_WEAK(fz_node, prev, fz_node)
		{offsetof(struct fz_node, any), 0, NULL, 0},);
NVH_TYPE_DEFINE(fz_tree, 0, NVH_PTR_N(fz_tree, kid, 4, fz_tree)
		NVH_WEAK(fz_tree, near, fz_node));
NVH_TYPE_DEFINE(fz_blob, 0, NVH_PTR(fz_blob, owner, fz_node));
NVH_TYPE_DEFINE(fz_man, NVH_TYPE_MANUAL, NVH_PTR(fz_man, ref, fz_node));
NVH_TYPE_DEFINE(fz_root, 0, NVH_PTR(fz_root, list, fz_node)
		NVH_PTR(fz_root, tree, fz_tree)
		NVH_PTR_N(fz_root, blob, NBLOB, fz_blob)
		NVH_PTR(fz_root, man, fz_man)
		{offsetof(struct fz_root, raw), 0, NULL, 0},
		NVH_WEAK(fz_root, w, fz_node)
		NVH_PTR(fz_root, pinned, fz_node)
		{offsetof(struct fz_root, late), 0, NULL, 0},);
NVH_TYPE_DEFINE(fz_late, 0, NVH_PTR(fz_late, self, fz_late));

int
nvf_register_types(nvh_pool *p)
{
	static const struct nvh_type *const types[] = {
		&fz_node_type, &fz_tree_type, &fz_blob_type, &fz_man_type,
		&fz_root_type,
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int rc = nvh_type_register(p, types[i]);
		if (rc)
			return rc;
	}
	return 0;
}
