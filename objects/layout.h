/*
 * layout.h -- the on-media format of the objects layer: the type table.
 *
 * The type table is an untyped object (type id NVH_TYPEID_TABLE) whose oid
 * is in the heap's type-table slot (H + 336).  It is replaced, never
 * changed in place: registering a type writes a new table in a
 * transaction that also moves the slot and frees the old table.
 *
 *   off   size        contents
 *   0     32          struct nvh_types_hdr
 *   32    64 x n      struct nvh_type_ent, type id = 2^23 + index
 *   ...   48 x m      struct nvh_field_ent, each type's fields together
 *
 * A field entry's flags: bit 0 WEAK; bits 8-31 the element count of a
 * pointer array (0 or 1: a single field); other bits zero.
 *
 * Validity: magic; ntypes and nfields fit the object; checksum = XXH3-64
 * of everything after the header; names NUL-terminated, unique; each
 * type's fields inside the type's size (strong: 8 bytes, weak: 16), its
 * field range inside the field array.
 */
#ifndef NVH_OBJECTS_LAYOUT_H
#define NVH_OBJECTS_LAYOUT_H

#include <stdint.h>

#define NVH_TYPES_MAGIC "NVHTYPES"
#define NVH_TYPEID_TABLE 0x7fffffu   /* untyped id of the table object */
#define NVH_TYPEID_USER_MAX 0x7fff00u /* untyped ids >= this are nvheap's */
#define NVH_TYPE_NAME_LEN 40u

struct nvh_types_hdr {
	char magic[8];
	uint32_t ntypes;
	uint32_t nfields;
	uint64_t checksum;
	uint64_t reserved;
};

struct nvh_type_ent {
	char name[NVH_TYPE_NAME_LEN];
	uint32_t size;
	uint32_t flags;      /* NVH_TYPE_MANUAL */
	uint32_t nfields;
	uint32_t first;      /* index of its first field */
	uint64_t reserved;
};

#define NVH_FIELD_COUNT_SHIFT 8

struct nvh_field_ent {
	uint32_t offset;
	uint32_t flags;      /* NVH_FIELD_WEAK */
	char target[NVH_TYPE_NAME_LEN]; /* "" = any */
};

_Static_assert(sizeof(struct nvh_types_hdr) == 32, "");
_Static_assert(sizeof(struct nvh_type_ent) == 64, "");
_Static_assert(sizeof(struct nvh_field_ent) == 48, "");

#endif
