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
