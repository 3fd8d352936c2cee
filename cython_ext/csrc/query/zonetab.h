/* zonetab.h — the zone table: the hosted zone of a query name, found by hashing the name's suffixes longest first, at a cost independent of the number of zones. */
#ifndef RD_ZONETAB_H
#define RD_ZONETAB_H

#include "lib/rd_common.h"
#include "zone/zimg.h"

/* One slot of the open-addressing table: the apex's name hash (zimg_name_hash, the hash
 * the zone layer's node index uses), the zone's index in the table's zone array, and
 * where its image and apex name are: a probe compares the name without going through
 * the image header and the apex node first (with 100,000 zones each is a cache miss,
 * one after the other, on every query). */
typedef struct rd_zonetab_slot {
    uint32_t hash;
    uint32_t index;            /* RD_NONE: empty slot */
    const zimg *zone;          /* zones[index] */
    const uint8_t *origin;     /* its apex name (lower-case wire), inside the image */
} rd_zonetab_slot;

/* Immutable once built; built by the control plane with a database snapshot and freed
 * with it (after the RCU grace period). */
typedef struct rd_zonetab {
    uint32_t count;            /* zones */
    uint32_t mask;             /* slots - 1 (a power of two, at least twice count) */
    uint64_t depths[2];        /* bit k set: some apex has k labels (0..127) */
    int max_labels;            /* most labels of any apex */
    const zimg *const *zones;  /* the zones by index (the caller's array, not copied) */
    rd_zonetab_slot slots[];
} rd_zonetab;

/* Build the table of zones[0..n-1] (the array must outlive the table).  Returns NULL when
 * out of memory, or when two zones have the same apex: then *dup is the index of the
 * second one (else RD_NONE). */
rd_zonetab *rd_zonetab_build(const zimg *const *zones, uint32_t n, uint32_t *dup);
void rd_zonetab_free(rd_zonetab *t);

/* Up to this many zones the lookup compares apexes one by one instead of hashing. */
#define RD_ZONETAB_FEW 8

/* Index of the zone with the most labels whose apex is lname or an ancestor of it
 * (RFC 1034 4.3.2 step 2), or RD_NONE.  lname is a lower-case wire name of nlabels labels
 * whose label k starts at loff[k] and whose root byte is at loff[nlabels].  parent_first:
 * prefer a zone strictly above lname and take the zone whose apex is lname only when
 * none is (the zone of a DS query, RFC 4035 3.1.4.1). */
uint32_t rd_zonetab_find(const rd_zonetab *t, const uint8_t *lname, const uint8_t *loff,
                         int nlabels, int parent_first);

#endif
