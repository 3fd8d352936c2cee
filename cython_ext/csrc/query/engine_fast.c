/* engine_fast.c — serving precomputed answers: the zone of a query, and a stored answer copied behind the client's question (the answers are made by precompute.c). */
#include "engine_int.h"
#include "zone/zimg_format.h"

void rd_ctx_zone(rd_ctx *c)
{
    if (c->zone_done) return;
    c->zone_done = 1;
    c->fhash = zfast_hash(c->lname, c->qname_wlen);
    const rd_db *db = c->db;
    if (!db) return;
    uint32_t i = rd_zonetab_find(db->ztab, c->lname, c->loff, c->nlabels,
                                 c->qtype == RD_T_DS && c->nlabels > 0);
    c->zone_index = i;
    c->zone = i == RD_NONE ? NULL : db->zones[i];
}

/* Serve the query from a precomputed answer; 1 when done (c filled for rd_finish), 0 to
 * take the general path.  Called after a successful parse (rcode NOERROR) with the
 * response size limit and the room kept for OPT (engine.c).  A DO=1 query gets the signed
 * variant (RRSIGs and NSEC/NSEC3 proofs, RFC 4035 3.1), made by the same general path
 * with DO set; rd_finish echoes DO in the OPT record (RFC 3225 3). */
int rd_fast_answer(rd_ctx *c, size_t limit)
{
    if (c->opcode != RD_OPCODE_QUERY || c->qclass != RD_C_IN) return 0;
    rd_ctx_zone(c);
    const zimg *z = c->zone;
    if (!z || rd_ctx_zone_expired(c)) return 0;
    /* the batch pipeline (engine_batch.c) may have made this lookup already */
    const zfast_blob *b = c->fast_known ? c->fast_blob
                                        : zimg_fast_answer(z, c->lname, c->qname_wlen, c->fhash,
                                                           c->qtype, c->do_bit);
    if (!b) return 0;
    size_t qend = 12 + c->qname_wlen + 4;
    /* The blob is what the general path writes when nothing has to be left out; it fits
     * the client's limit only if the whole of it does (RFC 2181 9, and with DO RFC 4035
     * 3.1.1: otherwise the general path decides what to drop and whether to set TC). */
    if (qend + b->len > limit) return 0;
    uint8_t *r = c->r;
    memcpy(r, c->q, 2);
    memcpy(r + 12, c->q + 12, c->qname_wlen + 4);
    memcpy(r + qend, (const uint8_t *)b + ZFAST_BLOB_HDR, b->len);
    c->len = qend + b->len;
    c->question_end = qend;
    c->count[0] = b->an;
    c->count[1] = b->ns;
    c->count[2] = b->ar;
    c->aa = b->flags & ZFAST_AA;
    c->rcode = b->flags >> 4;
    return 1;
}
