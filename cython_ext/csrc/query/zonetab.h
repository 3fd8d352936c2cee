/* zonetab.h — the zone table: the hosted zone of a query name, found by hashing the name's suffixes longest first, at a cost independent of the number of zones. */
#ifndef RD_ZONETAB_H
#define RD_ZONETAB_H

#include "lib/rd_common.h"
#include "zone/zimg.h"

#include <string.h>

/* One slot of the open-addressing table, 32 bytes (two to a cache line): the apex's name
 * hash (zimg_name_hash, the hash the zone layer's node index uses), the zone's index in
 * the table's zone array, where its image and apex name are, and the image's answer
 * table (zimg_format.h fast_off/fast_mask).  With 100,000 zones every line of an image
 * is a cache miss: from the slot alone the batch pipeline fetches the apex name (to
 * confirm the zone) and the query's answer slot side by side instead of one after the
 * other through the image header. */
typedef struct rd_zonetab_slot {
    uint32_t hash;
    uint32_t index;            /* RD_NONE: empty slot */
    const zimg *zone;          /* zones[index] */
    uint32_t origin_off;       /* its apex name (lower-case wire) at zone + origin_off */
    uint32_t fast_end;         /* where its answer table's records and answers end
                                * (fast_recs_off + fast_recs_len): a small zone's are
                                * fetched whole with the slot (rd_zone_slot_prefetch) */
    uint32_t fast_off;         /* zone->fast_off: its answer table, 0: none */
    uint32_t fast_mask;        /* zone->fast_mask */
} rd_zonetab_slot;

static inline const uint8_t *rd_zonetab_slot_origin(const rd_zonetab_slot *s)
{
    return (const uint8_t *)s->zone + s->origin_off;
}

/* Up to this many zones the lookup compares apexes one by one instead of hashing. */
#define RD_ZONETAB_FEW 8
/* A zone of a table of at most RD_ZONETAB_FEW, as find_few compares it: its apex's label
 * count and wire length kept beside the pointer, so that a query neither reads the
 * image's header nor walks the apex name's labels to learn them (on a one-zone server
 * that walk was ~40% of the lookup: perf of the NSEC3 DO mix). */
typedef struct rd_zonetab_few {
    const uint8_t *origin;     /* the apex name, lower-case wire, in the image */
    uint16_t wlen;             /* rd_name_len(origin) */
    uint8_t labels;            /* zimg_origin_labels */
} rd_zonetab_few;

/* Immutable once built; built by the control plane with a database snapshot and freed
 * with it (after the RCU grace period). */
typedef struct rd_zonetab {
    uint32_t count;            /* zones */
    uint32_t mask;             /* slots - 1 (a power of two, at least twice count) */
    uint64_t depths[2];        /* bit k set: some apex has k labels (0..127) */
    int max_labels;            /* most labels of any apex */
    const zimg *const *zones;  /* the zones by index (the caller's array, not copied) */
    struct rd_huge *huge;      /* its collapse into huge pages (lib/rd_huge.h), or NULL */
    rd_zonetab_few few[RD_ZONETAB_FEW];     /* zones[0..count-1] when count <= FEW */
    rd_zonetab_slot slots[] __attribute__((aligned(64)));   /* a slot never spans two lines */
} rd_zonetab;

/* Build the table of zones[0..n-1] (the array must outlive the table).  Returns NULL when
 * out of memory, or when two zones have the same apex: then *dup is the index of the
 * second one (else RD_NONE). */
rd_zonetab *rd_zonetab_build(const zimg *const *zones, uint32_t n, uint32_t *dup);
void rd_zonetab_free(rd_zonetab *t);

/* Index of the zone with the most labels whose apex is lname or an ancestor of it
 * (RFC 1034 4.3.2 step 2), or RD_NONE.  lname is a lower-case wire name of nlabels labels
 * whose label k starts at loff[k] and whose root byte is at loff[nlabels].  parent_first:
 * prefer a zone strictly above lname and take the zone whose apex is lname only when
 * none is (the zone of a DS query, RFC 4035 3.1.4.1). */
uint32_t rd_zonetab_find(const rd_zonetab *t, const uint8_t *lname, const uint8_t *loff,
                         int nlabels, int parent_first);

/* The batch pipeline's lookup in two steps, so the slot's cache miss overlaps other
 * queries' work: rd_zonetab_guess_start hashes the suffixes rd_zonetab_find would probe
 * and prefetches their home slots; later rd_zonetab_guess_slot returns the first slot
 * whose hash matches in the same order (NULL: no zone holds the name), its apex still
 * to be compared (rd_zonetab_slot_matches) when its line has arrived.  A slot that
 * matches is what rd_zonetab_find returns: every suffix probed before it had no slot of
 * its hash, and earlier slots of its own probe sequence had other hashes.  One that
 * does not (two apexes of the same hash) leaves the answer to rd_zonetab_find. */
enum { RD_ZONETAB_GUESS = 4 };  /* suffix lengths probed at most; more: rd_zonetab_find */
typedef struct rd_zonetab_guess {
    uint8_t n;                          /* suffixes to probe, longest first */
    uint8_t k[RD_ZONETAB_GUESS];        /* their label counts */
    uint32_t h[RD_ZONETAB_GUESS];       /* their hashes */
} rd_zonetab_guess;

/* The table hashes its apexes (more than a handful of zones): the guess applies.  Inline,
 * so that a server with a few zones pays one comparison for it per query, not a call. */
static inline int rd_zonetab_hashed(const rd_zonetab *t)
{
    return t && t->count > RD_ZONETAB_FEW;
}

/* 1 when the lookup can be guessed (g filled, slots prefetched); 0: call rd_zonetab_find
 * (a handful of zones, compared one by one, or more suffix lengths than g holds). */
int rd_zonetab_guess_start(const rd_zonetab *t, const uint8_t *lname, const uint8_t *loff,
                           int nlabels, int parent_first, rd_zonetab_guess *g);
const rd_zonetab_slot *rd_zonetab_guess_slot(const rd_zonetab *t, const rd_zonetab_guess *g,
                                             int *k);

/* The slot's apex is the suffix of k labels of lname. */
static inline int rd_zonetab_slot_matches(const rd_zonetab_slot *s, const uint8_t *lname,
                                          const uint8_t *loff, int nlabels, int k)
{
    size_t so = loff[nlabels - k], slen = (size_t)loff[nlabels] + 1 - so;
    const uint8_t *o = rd_zonetab_slot_origin(s);
    return rd_name_len(o) == slen && memcmp(o, lname + so, slen) == 0;
}

#endif
