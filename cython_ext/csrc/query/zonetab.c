/* zonetab.c — the zone table: a hash of apex names probed by label count, longest first, so a query finds its zone in a few probes however many zones are hosted. */
#include "zonetab.h"
#include "zone/zimg_format.h"
#include "lib/rd_huge.h"

#include <stdlib.h>
#include <string.h>

static inline int depth_set(const rd_zonetab *t, int k)
{
    return (int)((t->depths[k >> 6] >> (k & 63)) & 1);
}

/* The slot holding the zone whose apex is the suffix at `so` of lname (`k` labels, hash h)
 * or RD_NONE.  The table is at most half full, so a probe ends at an empty slot soon.
 * The same name has the same label count: only hash, length and bytes are compared. */
static uint32_t probe(const rd_zonetab *t, uint32_t h, const uint8_t *suffix, size_t slen)
{
    for (uint32_t i = h & t->mask, step = 0; step <= t->mask; i = (i + 1) & t->mask, step++) {
        const rd_zonetab_slot *s = &t->slots[i];
        if (s->index == RD_NONE) return RD_NONE;
        if (s->hash != h) continue;
        /* almost surely the zone: the header lines the engine reads next, fetched while
         * the apex name is compared (with 100,000 zones each is a miss: side by side, not
         * one after the other): the first (the general lookup's offsets) and the one with
         * the answer table's offset and mask, 96 bytes in, which a precomputed answer
         * needs and the first line never holds */
        __builtin_prefetch(s->zone);
        __builtin_prefetch(&s->zone->fast_off);
        const uint8_t *o = rd_zonetab_slot_origin(s);
        if (rd_name_len(o) == slen && memcmp(o, suffix, slen) == 0) return s->index;
    }
    return RD_NONE;
}

/* The apex node of an image, from its header (zimg_format.h), and its name. */
static inline const znode *apex_node(const zimg *z)
{
    return (const znode *)((const uint8_t *)z + z->nodes_off) + z->apex;
}

rd_zonetab *rd_zonetab_build(const zimg *const *zones, uint32_t n, uint32_t *dup)
{
    *dup = RD_NONE;
    uint64_t slots = 16;
    while (slots < 2 * (uint64_t)n) slots *= 2;
    if (slots > 0x80000000ull) return NULL;
    _Static_assert(sizeof(rd_zonetab_slot) == 32 && sizeof(rd_zonetab) % 64 == 0,
                   "zone-table slots must not span cache lines");
    rd_zonetab *t;
    /* A table of 16,384 zones or more is a few MB read at random: on 2 MiB-aligned memory,
     * collapsed into huge pages in the background once built (rd_huge.h), a query's slot
     * costs no TLB miss of its own. */
    size_t bytes = sizeof *t + slots * sizeof(rd_zonetab_slot);
    int huge = bytes >= RD_HUGE_PAGE;
    if (posix_memalign((void **)&t, huge ? RD_HUGE_PAGE : 64, bytes)) return NULL;
    t->huge = NULL;
    t->count = n;
    t->mask = (uint32_t)slots - 1;
    t->depths[0] = t->depths[1] = 0;
    t->max_labels = 0;
    t->zones = zones;
    for (uint64_t j = 0; j < slots; j++) t->slots[j].index = RD_NONE;   /* empty */
    /* Each zone costs a miss on its header, then one on its apex node (which holds the
     * name's hash): both fetched ahead, the header AHEAD zones before the node, so that
     * 100,000 zones (a reload of one of them) do not wait on each in turn. */
    enum { AHEAD = 8 };
    for (uint32_t i = 0; i < n && i < AHEAD; i++) __builtin_prefetch(zones[i]);
    for (uint32_t i = 0; i < n; i++) {
        if (i + 2 * AHEAD < n) __builtin_prefetch(zones[i + 2 * AHEAD]);
        if (i + AHEAD < n) __builtin_prefetch(apex_node(zones[i + AHEAD]));
        const zimg *z = zones[i];
        const znode *a = apex_node(z);
        const uint8_t *o = (const uint8_t *)z + a->name_off;
        int k = (int)z->origin_labels;
        if (i < RD_ZONETAB_FEW) {
            t->few[i].origin = o;
            t->few[i].wlen = (uint16_t)rd_name_len(o);
            t->few[i].labels = (uint8_t)k;
        }
        uint32_t h = a->hash;          /* zimg_name_hash(o), made by the builder */
        if (probe(t, h, o, rd_name_len(o)) != RD_NONE) {
            *dup = i;
            free(t);
            return NULL;
        }
        uint32_t j = h & t->mask;
        while (t->slots[j].index != RD_NONE) j = (j + 1) & t->mask;
        t->slots[j].hash = h;
        t->slots[j].index = i;
        t->slots[j].zone = z;
        t->slots[j].origin_off = a->name_off;
        t->slots[j].fast_end = z->fast_off ? z->fast_recs_off + z->fast_recs_len : 0;
        t->slots[j].fast_off = z->fast_off;
        t->slots[j].fast_mask = z->fast_mask;
        t->depths[k >> 6] |= 1ull << (k & 63);
        if (k > t->max_labels) t->max_labels = k;
    }
    if (huge) t->huge = rd_huge_start(t, bytes, RD_HUGE_COLLAPSE, -1);
    return t;
}

void rd_zonetab_free(rd_zonetab *t)
{
    if (t) rd_huge_stop(t->huge);
    free(t);
}

/* A server with a handful of zones (the common case): comparing each apex with the
 * query name's suffix of as many labels, found from the parser's label offsets, costs
 * less than hashing the suffixes. */
static uint32_t find_few(const rd_zonetab *t, const uint8_t *lname, const uint8_t *loff,
                         int nlabels, int parent_first)
{
    uint32_t best = RD_NONE, exact = RD_NONE;
    int bestk = -1;
    size_t end = (size_t)loff[nlabels] + 1;    /* wire length of lname */
    for (uint32_t i = 0; i < t->count; i++) {
        const rd_zonetab_few *f = &t->few[i];
        int k = f->labels;
        if (k > nlabels || k <= bestk) continue;
        size_t so = loff[nlabels - k];
        if (f->wlen != end - so || memcmp(f->origin, lname + so, end - so) != 0) continue;
        if (parent_first && k == nlabels) {
            exact = i;                          /* only if no zone above lname has it */
        } else {
            best = i;
            bestk = k;
        }
    }
    return best != RD_NONE ? best : exact;
}

uint32_t rd_zonetab_find(const rd_zonetab *t, const uint8_t *lname, const uint8_t *loff,
                         int nlabels, int parent_first)
{
    if (!t || t->count == 0) return RD_NONE;
    if (t->count <= RD_ZONETAB_FEW) return find_few(t, lname, loff, nlabels, parent_first);
    int kmax = nlabels < t->max_labels ? nlabels : t->max_labels;
    /* zimg_name_hash runs from the root towards the leaf, so the hash of every suffix
     * comes out of one pass over the last kmax labels. */
    uint32_t raw[ZIMG_MAX_LABELS + 1];
    raw[0] = ZH_SEED;
    for (int k = 1; k <= kmax; k++) raw[k] = zh_label(raw[k - 1], lname + loff[nlabels - k]);
    size_t end = (size_t)loff[nlabels] + 1;    /* wire length of lname */
    int top = (parent_first && kmax == nlabels) ? kmax - 1 : kmax;
    for (int k = top; k >= 0; k--) {
        if (!depth_set(t, k)) continue;
        size_t so = loff[nlabels - k];
        uint32_t idx = probe(t, zh_final(raw[k]), lname + so, end - so);
        if (idx != RD_NONE) return idx;
    }
    if (top != kmax && depth_set(t, kmax))
        return probe(t, zh_final(raw[kmax]), lname, end);
    return RD_NONE;
}

/* The suffixes rd_zonetab_find probes, in its order (longest first; for DS the name
 * itself last), each hashed and its home slot prefetched. */
int rd_zonetab_guess_start(const rd_zonetab *t, const uint8_t *lname, const uint8_t *loff,
                           int nlabels, int parent_first, rd_zonetab_guess *g)
{
    g->n = 0;
    if (!rd_zonetab_hashed(t)) return 0;
    int kmax = nlabels < t->max_labels ? nlabels : t->max_labels;
    uint32_t raw[ZIMG_MAX_LABELS + 1];
    raw[0] = ZH_SEED;
    for (int k = 1; k <= kmax; k++) raw[k] = zh_label(raw[k - 1], lname + loff[nlabels - k]);
    int top = (parent_first && kmax == nlabels) ? kmax - 1 : kmax;
    for (int j = 0, k = top; k >= -1; k--) {
        int kk = k >= 0 ? k : kmax;             /* -1: the name itself, after the rest */
        if (k < 0 && top == kmax) break;
        if (!depth_set(t, kk)) continue;
        if (j == RD_ZONETAB_GUESS) return 0;
        uint32_t h = zh_final(raw[kk]);
        __builtin_prefetch(&t->slots[h & t->mask]);
        g->k[j] = (uint8_t)kk;
        g->h[j] = h;
        g->n = (uint8_t)++j;
    }
    return 1;
}

const rd_zonetab_slot *rd_zonetab_guess_slot(const rd_zonetab *t, const rd_zonetab_guess *g,
                                             int *k)
{
    for (int j = 0; j < g->n; j++) {
        uint32_t h = g->h[j];
        for (uint32_t i = h & t->mask, step = 0; step <= t->mask; i = (i + 1) & t->mask, step++) {
            const rd_zonetab_slot *s = &t->slots[i];
            if (s->index == RD_NONE) break;
            if (s->hash != h) continue;
            *k = g->k[j];
            return s;
        }
    }
    return NULL;
}
