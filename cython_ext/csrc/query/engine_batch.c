/* engine_batch.c — rd_answer_batch: answers a batch of queries with a software pipeline of zone-image prefetches, so cache misses of several queries overlap. */
#include "engine_int.h"
#include "zone/zimg_format.h"

/* Each query is parsed once, when it enters the pipeline; its zone-image loads are then
 * prefetched stage by stage, each stage touching only what the previous one brought into
 * cache, and it is answered PF_DEPTH queries later.  A name with precomputed answers takes
 * two dependent loads after its slot (record, answer); any other name the general
 * lookup's (node, name+rrsets, rdata). */
enum { PF_RING = 16, PF_DEPTH = 8, PF_SECOND = 5, PF_THIRD = 2, PF_FOURTH = 1 };

typedef struct pf_state {
    rd_ctx c;
    const zimg *z;       /* NULL: nothing to prefetch (malformed, CHAOS, not ours) */
    uint32_t hash;       /* general lookup: suffix hash of the full name */
    uint32_t rec;        /* its precomputed-answer record, RD_NONE: general path */
    uint8_t fast;        /* the zone has precomputed answers */
} pf_state;

static void pf_start(const rd_db *db, rd_batch_item *it, const rd_transport *t, rd_stats *stats,
                     pf_state *s)
{
    rd_ctx_start(&s->c, db, it->q, it->qlen, it->resp, it->respcap, t, stats);
    if (it->client_len) {                /* the address this datagram came from */
        s->c.client = it->client;
        s->c.client_len = it->client_len;
    }
    s->z = NULL;
    s->rec = RD_NONE;
    if (s->c.prc != RD_RCODE_NOERROR || !db || (s->c.qclass != RD_C_IN && s->c.qclass != RD_C_ANY))
        return;
    rd_ctx_zone(&s->c);
    s->z = s->c.zone;
    if (!s->z) return;
    s->fast = (uint8_t)zimg_prefetch_fast_slot(s->z, s->c.fhash);
    if (!s->fast) s->hash = zimg_prefetch_slot(s->z, s->c.lname);
}

/* Second stage: the record of the name, or (none) the node of the general lookup. */
static void pf_second(pf_state *s)
{
    if (s->fast) {
        s->rec = zimg_prefetch_fast_rec(s->z, s->c.fhash);
        if (s->rec != RD_NONE) return;
        s->hash = zimg_prefetch_slot(s->z, s->c.lname);
        return;
    }
    zimg_prefetch_node(s->z, s->hash);
}

static void pf_third(pf_state *s)
{
    if (s->rec != RD_NONE) zimg_prefetch_fast_blob(s->z, s->rec, s->c.qtype, s->c.do_bit);
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
    for (size_t i = 0; i < n + PF_DEPTH; i++) {
        if (i < n) pf_start(db, &items[i], t, stats, &ring[i % PF_RING]);
        if (i >= PF_DEPTH - PF_SECOND && i - (PF_DEPTH - PF_SECOND) < n) {
            pf_state *s = &ring[(i - (PF_DEPTH - PF_SECOND)) % PF_RING];
            if (s->z) pf_second(s);
        }
        if (i >= PF_DEPTH - PF_THIRD && i - (PF_DEPTH - PF_THIRD) < n) {
            pf_state *s = &ring[(i - (PF_DEPTH - PF_THIRD)) % PF_RING];
            if (s->z) pf_third(s);
        }
        if (i >= PF_DEPTH - PF_FOURTH && i - (PF_DEPTH - PF_FOURTH) < n) {
            pf_state *s = &ring[(i - (PF_DEPTH - PF_FOURTH)) % PF_RING];
            if (s->z) pf_fourth(s);
        }
        if (i >= PF_DEPTH) {
            rd_batch_item *it = &items[i - PF_DEPTH];
            it->resplen = rd_ctx_answer(&ring[(i - PF_DEPTH) % PF_RING].c);
        }
    }
}
