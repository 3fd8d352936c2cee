/* engine_batch.c — rd_answer_batch: answers a batch of queries with a software pipeline of zone-image prefetches, so cache misses of several queries overlap. */
#include "engine_int.h"
#include "zone/zimg_format.h"

/* Each query is parsed once, when it enters the pipeline; its zone-image loads are then
 * prefetched stage by stage, each stage touching only what the previous one brought into
 * cache, and it is answered PF_DEPTH queries later.  A name with precomputed answers takes
 * two dependent loads after its slot (record, answer); in a zone without precomputed
 * answers, the general lookup's (node, name+rrsets, rdata).
 *
 * The pipeline must cost less than it saves even when everything is in cache (a small
 * zone, a hot set of names), as one rd_answer at a time got cheaper: the answer-table
 * stages are inline here and make the lookup itself, handing the answer to rd_fast_answer
 * (fast_known) instead of leaving it a second copy of the work; the ring holds PF_DEPTH
 * contexts, each answered before its slot takes the next query; and a name of a zone with
 * precomputed answers that has none (NXDOMAIN, below a cut, a wildcard's: the general
 * path) gets no general-lookup prefetch, whose name hash is the costliest step of that
 * lookup and would be made twice. */
enum { PF_DEPTH = 8, PF_SECOND = 5, PF_THIRD = 2, PF_FOURTH = 1 };

typedef struct pf_state {
    rd_ctx c;
    const zimg *z;       /* NULL: nothing to prefetch (malformed, CHAOS, not ours) */
    uint32_t hash;       /* general lookup: suffix hash of the full name */
    uint32_t rec;        /* its precomputed-answer record, RD_NONE: general path */
    uint8_t fast;        /* the zone has precomputed answers: only they are prefetched */
} pf_state;

static void pf_start(const rd_db *db, rd_batch_item *it, const rd_transport *t, rd_stats *stats,
                     rd_cookie_cache *cookies, pf_state *s)
{
    rd_ctx_start(&s->c, db, it->q, it->qlen, it->resp, it->respcap, t, stats);
    s->c.cookie_k = cookies;
    if (it->client_len) {                /* the address this datagram came from */
        s->c.client = it->client;
        s->c.client_len = it->client_len;
    }
    s->z = NULL;
    s->rec = RD_NONE;
    if (s->c.prc != RD_RCODE_NOERROR || !db || (s->c.qclass != RD_C_IN && s->c.qclass != RD_C_ANY))
        return;
    rd_ctx_zone(&s->c);
    const zimg *z = s->z = s->c.zone;
    if (!z) return;
    s->fast = z->fast_off != 0;
    if (s->fast) __builtin_prefetch(&zfast_slots(z)[s->c.fhash & z->fast_mask]);
    else s->hash = zimg_prefetch_slot(z, s->c.lname);
}

/* Second stage: the answer slot is in cache: the record its hash names (the first few
 * probes), prefetched; or, in a zone without precomputed answers, the general lookup's
 * node. */
static void pf_second(pf_state *s)
{
    const zimg *z = s->z;
    if (!s->fast) {
        zimg_prefetch_node(z, s->hash);
        return;
    }
    const zfast_slot *tab = zfast_slots(z);
    uint32_t h = s->c.fhash, i = h & z->fast_mask;
    for (int k = 0; k < 4; k++, i = (i + 1) & z->fast_mask) {
        uint32_t off = tab[i].rec;
        if (off == RD_NONE) break;
        if (tab[i].hash == h) {
            const uint8_t *r = (const uint8_t *)z + off;
            __builtin_prefetch(r);
            __builtin_prefetch(r + 64);
            s->rec = off;
            return;
        }
    }
    /* no record among the first probes: the general path's (see above), or a long
     * probe chain's, found by rd_fast_answer */
}

/* Third stage: the record is in cache: the lookup rd_fast_answer would make (name, then
 * the entry of qtype, for DO or not), its answer prefetched and kept for it.  A record
 * whose name differs (a hash collision) leaves the lookup to rd_fast_answer. */
static void pf_third(pf_state *s)
{
    const zimg *z = s->z;
    if (s->rec == RD_NONE) {
        if (!s->fast) zimg_prefetch_data(z, s->hash);
        return;
    }
    rd_ctx *c = &s->c;
    const uint8_t *base = (const uint8_t *)z;
    int named;
    uint32_t b = zfast_rec_lookup(base, s->rec, c->lname, c->qname_wlen, c->qtype, c->do_bit,
                                  &named);
    if (!named)
        return;
    c->fast_known = 1;
    c->fast_blob = NULL;
    if (zfast_qtype_special(c->qtype) || b == RD_NONE) return;   /* as zimg_fast_answer */
    __builtin_prefetch(base + b);
    __builtin_prefetch(base + b + 64);
    c->fast_blob = (const zfast_blob *)(base + b);
}

static void pf_fourth(pf_state *s)
{
    if (s->rec != RD_NONE) return;
    if (!s->fast) zimg_prefetch_rdata(s->z, s->hash);
}

void rd_answer_batch(const rd_db *db, rd_batch_item *items, size_t n,
                     const rd_transport *t, rd_stats *stats)
{
    pf_state ring[PF_DEPTH];
    rd_cookie_cache *cookies = rd_cookie_begin(db, t);   /* its clock and snapshot: once */
    for (size_t i = 0; i < n + PF_DEPTH; i++) {
        /* the query leaving the pipeline first: its context is the slot query i takes */
        if (i >= PF_DEPTH) {
            rd_batch_item *it = &items[i - PF_DEPTH];
            it->resplen = rd_ctx_answer(&ring[i % PF_DEPTH].c);
        }
        if (i < n) pf_start(db, &items[i], t, stats, cookies, &ring[i % PF_DEPTH]);
        if (i >= PF_DEPTH - PF_SECOND && i - (PF_DEPTH - PF_SECOND) < n) {
            pf_state *s = &ring[(i - (PF_DEPTH - PF_SECOND)) % PF_DEPTH];
            if (s->z) pf_second(s);
        }
        if (i >= PF_DEPTH - PF_THIRD && i - (PF_DEPTH - PF_THIRD) < n) {
            pf_state *s = &ring[(i - (PF_DEPTH - PF_THIRD)) % PF_DEPTH];
            if (s->z) pf_third(s);
        }
        if (i >= PF_DEPTH - PF_FOURTH && i - (PF_DEPTH - PF_FOURTH) < n) {
            pf_state *s = &ring[(i - (PF_DEPTH - PF_FOURTH)) % PF_DEPTH];
            if (s->z) pf_fourth(s);
        }
    }
}
