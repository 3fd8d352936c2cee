/* engine_zimg_extra.c — prefetch hints on zone images for batched answering (engine side, add-only zimg.h accessors). */
#include "zimg_format.h"

/* Stage 1: the hash of lname's full name and a prefetch of its hash slot (the first of
 * the dependent loads zimg_lookup makes for an exact match). */
uint32_t zimg_prefetch_slot(const zimg *z, const uint8_t *lname)
{
    uint32_t h = zimg_name_hash(lname);
    const uint32_t *tab = (const uint32_t *)((const uint8_t *)z + z->hash_off);
    __builtin_prefetch(&tab[h & z->hash_mask]);
    return h;
}

/* Stage 1 of the general lookup when the hash is already known. */
void zimg_prefetch_slot_hash(const zimg *z, uint32_t hash)
{
    const uint32_t *tab = (const uint32_t *)((const uint8_t *)z + z->hash_off);
    __builtin_prefetch(&tab[hash & z->hash_mask]);
}

/* Stage 2: the slot is in cache now: prefetch the node it names. */
void zimg_prefetch_node(const zimg *z, uint32_t hash)
{
    const uint32_t *tab = (const uint32_t *)((const uint8_t *)z + z->hash_off);
    uint32_t id = tab[hash & z->hash_mask];
    if (id < z->node_count) {
        const znode *nodes = (const znode *)((const uint8_t *)z + z->nodes_off);
        __builtin_prefetch(&nodes[id]);
    }
}

/* Stage 3: the node is in cache: prefetch its name and its rrsets. */
void zimg_prefetch_data(const zimg *z, uint32_t hash)
{
    const uint32_t *tab = (const uint32_t *)((const uint8_t *)z + z->hash_off);
    uint32_t id = tab[hash & z->hash_mask];
    if (id < z->node_count) {
        const znode *nd = (const znode *)((const uint8_t *)z + z->nodes_off) + id;
        if (nd->hash != hash) return;         /* a collision: lookup will probe on */
        __builtin_prefetch((const uint8_t *)z + nd->name_off);
        const zrrset *rs = (const zrrset *)((const uint8_t *)z + z->rrsets_off) + nd->rrset_first;
        if (nd->rrset_first < z->rrset_count) __builtin_prefetch(rs);
    }
}

/* Stage 4: the rrsets are in cache: prefetch the rdata of the first few. */
void zimg_prefetch_rdata(const zimg *z, uint32_t hash)
{
    const uint32_t *tab = (const uint32_t *)((const uint8_t *)z + z->hash_off);
    uint32_t id = tab[hash & z->hash_mask];
    if (id >= z->node_count) return;
    const znode *nd = (const znode *)((const uint8_t *)z + z->nodes_off) + id;
    if (nd->hash != hash || nd->rrset_first >= z->rrset_count) return;
    const zrrset *rs = (const zrrset *)((const uint8_t *)z + z->rrsets_off) + nd->rrset_first;
    unsigned n = nd->rrset_count < 3 ? nd->rrset_count : 3;
    for (unsigned i = 0; i < n && nd->rrset_first + i < z->rrset_count; i++)
        __builtin_prefetch((const uint8_t *)z + rs[i].rdata_off);
}

/* ---- the precomputed answers (zimg_format.h zfast_*) ---- */

/* Stage 1: prefetch the answer slot of a name hash; 0 when the zone has no answers. */
int zimg_prefetch_fast_slot(const zimg *z, uint32_t hash)
{
    if (z->fast_off == 0) return 0;
    const zfast_slot *tab = (const zfast_slot *)((const uint8_t *)z + z->fast_off);
    __builtin_prefetch(&tab[hash & z->fast_mask]);
    return 1;
}

/* Stage 2: the slot is in cache: the offset of the record its hash names (the first few
 * probes only), prefetched, or RD_NONE. */
uint32_t zimg_prefetch_fast_rec(const zimg *z, uint32_t hash)
{
    const zfast_slot *tab = (const zfast_slot *)((const uint8_t *)z + z->fast_off);
    uint32_t i = hash & z->fast_mask;
    for (int k = 0; k < 4; k++, i = (i + 1) & z->fast_mask) {
        uint32_t off = tab[i].rec;
        if (off == RD_NONE) return RD_NONE;
        if (tab[i].hash == hash) {
            const uint8_t *r = (const uint8_t *)z + off;
            __builtin_prefetch(r);
            __builtin_prefetch(r + 64);
            return off;
        }
    }
    return RD_NONE;
}

/* Stage 3: the record is in cache: prefetch the answer for qtype.  rec comes from stage 2
 * on a validated image, so it lies inside the records area. */
void zimg_prefetch_fast_blob(const zimg *z, uint32_t rec, uint16_t qtype, int do_bit)
{
    const uint8_t *base = (const uint8_t *)z;
    const zfast_rec *r = (const zfast_rec *)(base + rec);
    const zfast_ent *e = (const zfast_ent *)(base + rec + zfast_rec_head(r->name_len));
    unsigned k = 0;
    while (k < r->nent && e[k].qtype != qtype) k++;
    uint32_t b = zfast_rec_blob(r, e, k, do_bit);
    if (b != RD_NONE) {
        __builtin_prefetch(base + b);
        __builtin_prefetch(base + b + 64);
    }
}
