/* engine_fast.c — serving precomputed answers: the zone of a query, and a stored answer copied behind the client's question (the answers are made by precompute.c). */
#include "engine_int.h"
#include "zone/zimg_format.h"
#include "zone/zimg_dnssec.h"

/* The precomputed-answer lookup of zimg_fast_answer through the zone-table slot's copy of
 * the answer table's offset and mask (the table built them from the checked image):
 * c->fast_known and c->fast_blob as the batch pipeline's pf_blob leaves them when the name
 * has a record; else nothing (rd_fast_answer looks again, and goes on to referrals and
 * NXDOMAIN). */
static void fast_by_slot(rd_ctx *c, const rd_zonetab_slot *s)
{
    const uint8_t *base = (const uint8_t *)s->zone;
    int named;
    uint32_t b = zfast_table_lookup(base, (const zfast_slot *)(base + s->fast_off), s->fast_mask,
                                    c->lname, c->qname_wlen, c->fhash, c->qtype, c->do_bit, &named);
    if (!named) return;
    c->fast_known = 1;
    c->fast_blob = zfast_qtype_special(c->qtype) || b == RD_NONE ? NULL : (const zfast_blob *)(base + b);
}

/* Many zones (issue 14): the batch pipeline's steps (engine_batch.c) in a row.  The first
 * zone-table slot whose hash matches holds the zone's image and answer table, so the apex
 * (to confirm), the answer slot (a small zone's answers whole), and the per-zone
 * entries arrive side by side, not one after the other through zones[i]; the
 * answer is then looked up through the slot's copy of the table's place, as the batch
 * pipeline does (pf_record, pf_blob), so the image header is not one more line to fetch.
 * 1 when found (c->zone set, NULL: no zone), 0: rd_zonetab_find decides. */
static __attribute__((noinline)) int zone_guess(rd_ctx *c, const rd_db *db, int parent_first)
{
    rd_zonetab_guess g;
    if (!rd_zonetab_guess_start(db->ztab, c->lname, c->loff, c->nlabels, parent_first, &g))
        return 0;
    int k;
    const rd_zonetab_slot *s = rd_zonetab_guess_slot(db->ztab, &g, &k);
    if (!s) return 1;                       /* no apex of any suffix's hash: no zone */
    /* the apex first: it is read first, and the region's prefetches after it would
     * otherwise hold the line fill buffers it waits for */
    __builtin_prefetch(rd_zonetab_slot_origin(s));
    rd_zone_slot_prefetch(db, s, c->fhash, 1);     /* one query: nothing to overlap */
    if (!rd_zonetab_slot_matches(s, c->lname, c->loff, c->nlabels, k)) return 0;
    c->zone_index = s->index;
    c->zone = s->zone;
    if (s->fast_off) fast_by_slot(c, s);
    return 1;
}

void rd_ctx_zone_find(rd_ctx *c)
{
    c->zone_done = 1;
    c->fhash = zfast_hash(c->lname, c->qname_wlen);
    const rd_db *db = c->db;
    if (!db) return;
    int parent_first = c->qtype == RD_T_DS && c->nlabels > 0;
    if (rd_zonetab_hashed(db->ztab) && zone_guess(c, db, parent_first)) return;
    uint32_t i = rd_zonetab_find(db->ztab, c->lname, c->loff, c->nlabels, parent_first);
    c->zone_index = i;
    c->zone = i == RD_NONE ? NULL : db->zones[i];
}

/* The top-label entry a label follows: the last one whose label sorts before it, -1
 * before the first, -2 when the label is a top label of the zone. */
static long neg_top_find(const zimg *z, const zneg *g, const uint8_t *lab, size_t len)
{
    const zneg_top *t = (const zneg_top *)((const uint8_t *)z + g->top_off);
    uint64_t key = zneg_key(lab, len);
    const uint32_t *dir = (const uint32_t *)((const uint8_t *)z + g->top_dir_off);
    uint32_t b = g->top_dir_bits ? (uint32_t)(key >> (64 - g->top_dir_bits)) : 0;
    return zneg_top_search(z, t, dir[b], dir[b + 1], lab, len);   /* the bucket's range */
}

static const zneg_piece *neg_piece_at(const zimg *z, uint32_t off)
{
    return off == RD_NONE ? NULL : (const zneg_piece *)((const uint8_t *)z + off);
}

/* A DO=1 query for a name whose top label (the one right below the apex) the zone does
 * not hold: NXDOMAIN with the apex as closest encloser, from the stored pieces
 * (zimg_format.h, zneg); 1 when answered.  Every other case is the general path's: a
 * name of the zone, below a top label that exists, a question sharing a label with the
 * SOA's MNAME or RNAME, or one so long that the compression table (RD_COMP_MAX) would
 * fill before the answer's names were entered. */
static int fast_nxdomain(rd_ctx *c, const zimg *z, size_t limit)
{
    const zneg *g = zneg_of(z);
    if (!g || !c->do_bit || zfast_qtype_special(c->qtype)) return 0;
    int nl = c->nlabels, ol = (int)z->origin_labels;
    if (nl <= ol || nl + g->regs > RD_COMP_MAX) return 0;
    const uint8_t *top = c->lname + c->loff[nl - ol - 1];
    size_t tl = top[0];
    for (int i = 0; i < 2; i++)
        if (g->avoid[i][0] == tl && memcmp(g->avoid[i] + 1, top + 1, tl) == 0) return 0;
    uint32_t gap;
    if (g->kind == ZNEG_NSEC) {
        long e = neg_top_find(z, g, top + 1, tl);
        if (e == -2) return 0;
        gap = e < 0 ? g->before_first
                    : ((const zneg_top *)((const uint8_t *)z + g->top_off))[e].piece;
    } else {
        /* the top label has no record (rd_fast_answer, fast_referral looked): with
         * tops_named that is enough to know it is no name of the zone */
        if ((!g->tops_named || !z->fast_off || tl == ZNEG_N3_LABEL) &&
            neg_top_find(z, g, top + 1, tl) == -2)
            return 0;
        /* RFC 5155 7.2.2: the next closer name is the top label's name; its hash's range */
        int match = 0;
        uint32_t at = c->fast_known == 2 && nl == ol + 1   /* the batch pipeline's, for
                                                              the question: the top label */
                          ? c->neg_place
                          : rd_dnssec_nsec3_place(z, top, g->salt, g->salt_len, g->iterations,
                                                  (const uint32_t *)((const uint8_t *)z + g->n3_dir_off),
                                                  g->n3_dir_bits, &match);
        if (match || at >= g->n3_count) return 0;
        gap = ((const uint32_t *)((const uint8_t *)z + g->n3_off))[at];
    }
    const zneg_piece *pp = neg_piece_at(z, g->prefix), *gp = neg_piece_at(z, gap),
                     *wp = neg_piece_at(z, g->wild);
    if (!gp) return 0;
    /* a proof record already sent is not repeated (engine_dnssec.c proof_add) */
    if (gp->node == pp->node) gp = NULL;
    if (wp && (wp->node == pp->node || (gp && wp->node == gp->node))) wp = NULL;
    size_t qend = 12 + c->qname_wlen + 4;
    size_t total = pp->len + (gp ? gp->len : 0) + (wp ? wp->len : 0);
    if (qend + total > limit) return 0;
    uint8_t *r = c->r;
    memcpy(r, c->q, 2);
    memcpy(r + 12, c->q + 12, c->qname_wlen + 4);
    size_t at = qend, qname_end = 12 + c->qname_wlen;
    unsigned ns = pp->nrr;
    at += zneg_put_any(z, r, at, qname_end, pp);
    if (gp) { at += zneg_put_any(z, r, at, qname_end, gp); ns += gp->nrr; }
    if (wp) { at += zneg_put_any(z, r, at, qname_end, wp); ns += wp->nrr; }
    c->len = at;
    c->question_end = qend;
    c->count[0] = 0;
    c->count[1] = (uint16_t)ns;
    c->count[2] = 0;
    c->aa = 1;
    c->rcode = RD_RCODE_NXDOMAIN;              /* RFC 1034 4.3.2 3c */
    return 1;
}

/* The precomputed-answer record of a name of the zone (a lower-case suffix of the
 * question, len bytes), or NULL. */
static const zfast_rec *fast_record(const zimg *z, const uint8_t *name, size_t len)
{
    const uint8_t *base = (const uint8_t *)z;
    const zfast_slot *tab = zfast_slots(z);
    uint32_t h = zfast_hash(name, len), mask = z->fast_mask, i = h & mask;
    for (uint32_t probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
        uint32_t off = tab[i].rec;
        if (off == RD_NONE) return NULL;
        const zfast_rec *r = (const zfast_rec *)(base + off);
        if (tab[i].hash == h && r->name_len == len && memcmp(r + 1, name, r->below) == 0)
            return r;
    }
    return NULL;
}

/* Move the compression pointer ending the name at b[*p] by delta (the names of a stored
 * answer all move with the question's length) and step past it; count its literal labels
 * (each one a place the writer remembered, RD_COMP_MAX).  -1 for a name the writer
 * would have compressed against the longer question: one holding its label `lab`. */
static int name_move(uint8_t *b, size_t end, size_t *p, size_t delta, const uint8_t *lab,
                     int *regs)
{
    size_t at = *p;
    for (;;) {
        if (at >= end) return -1;
        uint8_t l = b[at];
        if (l == 0) {
            *p = at + 1;
            return 0;
        }
        if ((l & 0xC0) == 0xC0) {
            if (at + 2 > end) return -1;
            size_t t = ((size_t)(l & 0x3F) << 8 | b[at + 1]) + delta;
            if (t > 0x3FFF) return -1;
            b[at] = (uint8_t)(0xC0 | t >> 8);
            b[at + 1] = (uint8_t)t;
            *p = at + 2;
            return 0;
        }
        if (l > 63 || at + 1 + l > end) return -1;
        if (l == lab[0]) {
            uint8_t k = 0;
            while (k < l && rd_lower(b[at + 1 + k]) == lab[1 + k]) k++;
            if (k == l) return -1;
        }
        (*regs)++;
        at += 1 + (size_t)l;
    }
}

/* The referral stored for a cut (its answer to its own name, at cut_len bytes) behind a
 * question for a name below it, whose label right below the cut is `lab`; 1 when
 * served.  The stored answer was written for a question that was the cut itself: its
 * names compress against the question's suffixes from the cut up or against its own
 * names, and both sit `delta` bytes further on in this response, so every pointer moves
 * by delta.  That holds unless a name of the answer shares `lab` with the question (an
 * in-bailiwick server such as ns1.<cut> asked as x.ns1.<cut>: the writer would point
 * into the longer question) or the compression table would fill: the general path's. */
static int put_referral(rd_ctx *c, const zfast_blob *b, size_t cut_len, const uint8_t *lab,
                        size_t limit)
{
    size_t qend = 12 + c->qname_wlen + 4, end = b->len, delta = c->qname_wlen - cut_len;
    if (qend + end > limit) return 0;
    uint8_t *r = c->r, *body = r + qend;
    memcpy(body, (const uint8_t *)b + ZFAST_BLOB_HDR, end);
    size_t at = 0;
    int regs = 0;
    unsigned nrr = (unsigned)b->an + b->ns + b->ar;
    for (unsigned i = 0; i < nrr; i++) {
        if (name_move(body, end, &at, delta, lab, &regs) < 0 || at + 10 > end) return 0;
        uint16_t type = rd_get16(body + at), rdlen = rd_get16(body + at + 8);
        at += 10;
        if (at + rdlen > end) return 0;
        switch (type) {
        case RD_T_NS: {            /* its one name, compressed (RFC 1035 3.3.11) */
            size_t n = at;
            if (name_move(body, at + rdlen, &n, delta, lab, &regs) < 0 || n != at + rdlen)
                return 0;
            break;
        }
        /* no name to move: addresses (glue), DS, and the names RFC 4034 (RRSIG signer,
         * NSEC next) and RFC 5155 keep uncompressed */
        case RD_T_A: case RD_T_AAAA: case RD_T_DS: case RD_T_RRSIG: case RD_T_NSEC:
        case RD_T_NSEC3:
            break;
        default:
            return 0;
        }
        at += rdlen;
    }
    if (at != end || c->nlabels + regs > RD_COMP_MAX) return 0;
    memcpy(r, c->q, 2);
    memcpy(r + 12, c->q + 12, c->qname_wlen + 4);
    c->len = qend + end;
    c->question_end = qend;
    c->count[0] = b->an;
    c->count[1] = b->ns;
    c->count[2] = b->ar;
    c->aa = 0;
    c->rcode = RD_RCODE_NOERROR;
    return 1;
}

/* A query for a name that is no name of the zone (it has no record: rd_fast_answer
 * looked) below names that are, with DO or without: below a zone cut ("www" under a
 * delegation), the referral of the highest cut above it (RFC 1034 4.3.2 3b), found by
 * walking down from the top label through the names of the zone; below a name P with
 * a wildcard child, the answer synthesized from it (RFC 4592 3.3.3: P is the closest
 * encloser when the next label below it has no record, since the build keeps an entry
 * only for a P all of whose children have records; engine_fast_wild.c); 1 when
 * answered.  A name along the way holding a DNAME (RFC 6672: a synthesized answer), or
 * without a record (not in the zone: NXDOMAIN, or a wildcard the build left out), is the
 * general path's; so are the qtypes treated apart (DS is answered from the parent side).
 * The apex is not looked at: every node below a DNAME, the apex's too, has no record
 * (precompute.c node_answers).  -1 when the name's top label has no record (nor is the
 * name below a cut): only then can fast_nxdomain apply, and its search over the top
 * labels is not made for a name whose top label exists. */
static int fast_referral(rd_ctx *c, const zimg *z, size_t limit)
{
    if (!z->fast_off || zfast_qtype_special(c->qtype)) return -1;
    int nl = c->nlabels, ol = (int)z->origin_labels;
    const zfast_rec *r = NULL;
    for (int k = ol + 1; k < nl; k++) {
        size_t at = c->loff[nl - k], len = c->qname_wlen - at;
        const zfast_rec *up = r;
        r = fast_record(z, c->lname + at, len);
        if (!r) return k == ol + 1 ? -1 : rd_fast_wildcard(c, z, up, k - 1, limit);
        const zfast_ent *e = (const zfast_ent *)((const uint8_t *)r + zfast_rec_head(r->below));
        for (unsigned j = 0; j < r->nent; j++)
            if (e[j].qtype == RD_T_DNAME) return 0;
        if (r->nent) continue;
        uint32_t bo = zfast_rec_blob(r, e, 0, c->do_bit);
        if (bo == RD_NONE) return 0;
        const zfast_blob *b = (const zfast_blob *)((const uint8_t *)z + bo);
        /* a referral: not authoritative, NOERROR, nothing in the answer section (an
         * empty non-terminal's NODATA is authoritative) */
        if (b->flags != 0 || b->an != 0) continue;
        return put_referral(c, b, len, c->lname + c->loff[nl - k - 1], limit);
    }
    return nl == ol + 1 ? -1 : rd_fast_wildcard(c, z, r, nl - 1, limit);
}

/* zimg_fast_answer's lookup, *named set: 1 when the name has a record (then NULL means
 * the general path's), 0 when it has none (or the qtype is one never precomputed). */
static const zfast_blob *fast_lookup(const rd_ctx *c, const zimg *z, int *named)
{
    *named = 0;
    if (!z->fast_off || zfast_qtype_special(c->qtype)) return NULL;
    const uint8_t *base = (const uint8_t *)z;
    uint32_t b = zfast_table_lookup(base, zfast_slots(z), z->fast_mask, c->lname, c->qname_wlen,
                                    c->fhash, c->qtype, c->do_bit, named);
    return b == RD_NONE ? NULL : (const zfast_blob *)(base + b);
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
    int named = c->fast_known == 1;
    const zfast_blob *b = c->fast_known == 1 ? c->fast_blob
                          : c->fast_known ? NULL     /* 2: no record of the name */
                                          : fast_lookup(c, z, &named);
    if (!b) {
        if (named) return 0;                   /* a name of the zone */
        int served = fast_referral(c, z, limit);
        return served < 0 ? fast_nxdomain(c, z, limit) : served;
    }
    size_t qend = 12 + c->qname_wlen + 4;
    /* The blob is what the general path writes when nothing has to be left out; it fits
     * the client's limit only if the whole of it does (RFC 2181 9, and with DO RFC 4035
     * 3.1.1: otherwise the general path decides what to drop and whether to set TC). */
    if (qend + b->len > limit) return 0;
    uint8_t *r = c->r;
    memcpy(r, c->q, 2);
    memcpy(r + 12, c->q + 12, c->qname_wlen + 4);
    zfast_put_body(z, r + qend, b);
    c->len = qend + b->len;
    c->question_end = qend;
    c->count[0] = b->an;
    c->count[1] = b->ns;
    c->count[2] = b->ar;
    c->aa = b->flags & ZFAST_AA;
    c->rcode = b->flags >> 4;
    return 1;
}
