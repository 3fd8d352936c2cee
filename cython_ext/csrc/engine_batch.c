/* engine_batch.c — rd_answer_batch: answers a batch of queries with a software pipeline of zone-image prefetches, so cache misses of several queries overlap. */
#include "engine_int.h"
#include "zimg_format.h"

/* Queries ahead of the one being answered, per stage.  A name with precomputed answers
 * takes two dependent loads after its slot (record, answer); any other name the general
 * lookup's (node, name+rrsets, rdata). */
enum { PF_RING = 16, PF_SLOT = 12, PF_NODE = 8, PF_DATA = 4, PF_RDATA = 2 };

typedef struct pf_state {
    const zimg *z;       /* NULL: nothing to prefetch (malformed, CHAOS, not ours) */
    uint32_t hash;       /* of the name (an exact match is the common case) */
    uint32_t rec;        /* its precomputed-answer record, RD_NONE: general path */
    uint16_t qtype;
    uint8_t fast;        /* the zone has precomputed answers */
} pf_state;

/* Lower-case the question name of a raw query without trusting it; returns the offset of
 * its qtype, 0 if unusable. */
static size_t pf_qname(const uint8_t *q, size_t qlen, uint8_t *lname, int *labels)
{
    if (qlen < 12 + 5 || (q[2] & 0x80)) return 0;
    size_t p = 12, n = 0;
    int nl = 0;
    for (;;) {
        if (p >= qlen) return 0;
        uint8_t l = q[p];
        if (l & 0xC0 || n + l + 1 > RD_NAME_MAX || p + l + 1 > qlen) return 0;
        lname[n++] = l;
        if (l == 0) break;
        for (uint8_t k = 1; k <= l; k++) lname[n++] = rd_lower(q[p + k]);
        p += l + 1;
        nl++;
    }
    *labels = nl;
    return p + 3 <= qlen ? p + 1 : 0;
}

static void pf_start(const rd_db *db, const rd_batch_item *it, pf_state *s)
{
    uint8_t lname[RD_NAME_MAX + 1];
    int nl;
    s->z = NULL;
    size_t tp;
    if (!db || !(tp = pf_qname(it->q, it->qlen, lname, &nl))) return;
    s->z = rd_db_find_zone(db, lname, nl);
    if (!s->z) return;
    s->qtype = rd_get16(it->q + tp);
    s->hash = zimg_name_hash(lname);
    s->rec = RD_NONE;
    s->fast = (uint8_t)zimg_prefetch_fast_slot(s->z, s->hash);
    if (!s->fast) zimg_prefetch_slot(s->z, lname);
}

/* Second stage: the record of the name, or (none) the node of the general lookup. */
static void pf_second(pf_state *s)
{
    if (s->fast) {
        s->rec = zimg_prefetch_fast_rec(s->z, s->hash);
        if (s->rec != RD_NONE) return;
        zimg_prefetch_slot_hash(s->z, s->hash);
        return;
    }
    zimg_prefetch_node(s->z, s->hash);
}

static void pf_third(pf_state *s)
{
    if (s->rec != RD_NONE) zimg_prefetch_fast_blob(s->z, s->rec, s->qtype);
    else if (s->fast) zimg_prefetch_node(s->z, s->hash);
    else zimg_prefetch_data(s->z, s->hash);
}

static void pf_fourth(pf_state *s)
{
    if (s->rec != RD_NONE) return;
    if (s->fast) zimg_prefetch_data(s->z, s->hash);
    else zimg_prefetch_rdata(s->z, s->hash);
}

void rd_answer_batch(const rd_db *db, rd_batch_item *items, size_t n,
                     const rd_transport *t, rd_stats *stats)
{
    pf_state ring[PF_RING];
    for (size_t i = 0; i < n + PF_SLOT; i++) {
        if (i < n) pf_start(db, &items[i], &ring[i % PF_RING]);
        if (i >= PF_SLOT - PF_NODE && i - (PF_SLOT - PF_NODE) < n) {
            pf_state *s = &ring[(i - (PF_SLOT - PF_NODE)) % PF_RING];
            if (s->z) pf_second(s);
        }
        if (i >= PF_SLOT - PF_DATA && i - (PF_SLOT - PF_DATA) < n) {
            pf_state *s = &ring[(i - (PF_SLOT - PF_DATA)) % PF_RING];
            if (s->z) pf_third(s);
        }
        if (i >= PF_SLOT - PF_RDATA && i - (PF_SLOT - PF_RDATA) < n) {
            pf_state *s = &ring[(i - (PF_SLOT - PF_RDATA)) % PF_RING];
            if (s->z) pf_fourth(s);
        }
        if (i >= PF_SLOT) {
            rd_batch_item *it = &items[i - PF_SLOT];
            it->resplen = rd_answer(db, it->q, it->qlen, it->resp, it->respcap, t, stats);
        }
    }
}
