/* engine_query.c — query parsing: header, question, and the EDNS(0) OPT record (RFC 1035 4.1, RFC 6891). */
#include "engine_int.h"
#include "lib/tsig.h"

/* A possibly compressed name of a record in the answer, authority or additional section
 * (RFC 1035 4.1.4): the offset after it, or 0 when it overruns the packet. */
static size_t skip_name(const uint8_t *q, size_t qlen, size_t p)
{
    return rd_wire_name_end(q, qlen, p, 1);
}

/* Parse the question name at offset 12: no compression pointers (nothing precedes it
 * that a pointer could legitimately name), labels of at most 63 octets, at most 255
 * octets in all.  Fills lname/loff/nlabels; returns 0 or -1 (FORMERR). */
static int parse_qname(rd_ctx *c)
{
    size_t p = 12, n = 0;
    int labels = 0;
    for (;;) {
        if (p >= c->qlen) return -1;
        uint8_t l = c->q[p];
        if (l & 0xC0) return -1;
        if (n + l + 1 > RD_NAME_MAX) return -1;
        if (p + l + 1 > c->qlen) return -1;
        if (l == 0) {
            c->lname[n++] = 0;
            break;
        }
        c->loff[labels++] = (uint8_t)n;
        c->lname[n++] = l;
        for (uint8_t k = 1; k <= l; k++) c->lname[n++] = rd_lower(c->q[p + k]);
        p += l + 1;
    }
    c->loff[labels] = (uint8_t)(n - 1);
    c->nlabels = labels;
    c->qname_wlen = n;
    return 0;
}

/* Read the OPT record whose type field is at `p` (RFC 6891 6.1.2).  Returns the offset
 * after it, or 0 on a malformed record. */
static size_t parse_opt(rd_ctx *c, size_t owner, size_t p)
{
    const uint8_t *q = c->q;
    if (p + 10 > c->qlen) return 0;
    /* RFC 6891 6.1.2 wants the root as owner; like Knot, another owner is not an error. */
    (void)owner;
    uint16_t payload = rd_get16(q + p + 2);
    uint8_t version = q[p + 5];
    uint16_t flags = rd_get16(q + p + 6);
    uint16_t rdlen = rd_get16(q + p + 8);
    size_t end = p + 10 + rdlen;
    if (end > c->qlen) return 0;
    c->has_edns = 1;
    c->edns_version = version;
    c->do_bit = (flags & 0x8000) != 0;
    /* RFC 6891 6.2.5: values below 512 are treated as 512. */
    c->udp_payload = payload < 512 ? 512 : payload;
    for (size_t o = p + 10; o < end; ) {
        if (o + 4 > end) return 0;
        uint16_t code = rd_get16(q + o), olen = rd_get16(q + o + 2);
        if (o + 4 + olen > end) return 0;
        if (code == RD_EDNS_NSID) c->nsid_req = 1;   /* RFC 5001 3: payload ignored */
        if (code == RD_EDNS_EXPIRE) c->expire_req = 1;   /* RFC 7314 2: empty in a query */
        if (code == RD_EDNS_COOKIE && !c->cookie) {   /* RFC 7873 5.2: the first one counts */
            c->cookie = q + o + 4;
            c->cookie_len = olen;
        }
        /* RFC 7828 3.2.2: over UDP the option is ignored; over TCP it asks for the idle
         * timeout (a client sends no TIMEOUT: whatever it sent is not read). */
        if (code == RD_EDNS_KEEPALIVE) c->keepalive_req = 1;
        /* RFC 6891 6.1.2: unknown options are ignored. */
        o += 4 + olen;
    }
    return end;
}

/* A malformed message: nothing of it is used. */
static int parse_bad(rd_ctx *c)
{
    c->has_edns = 0;      /* a FORMERR carries no OPT (as Knot and NSD answer) */
    c->cookie = NULL;     /* nor a cookie */
    c->cookie_len = 0;
    c->tsig_at = 0;       /* nor a TSIG: the record could not be trusted to be whole */
    return -1;
}

/* Walk `nq` questions and then the answer, authority and additional records from offset
 * p (RFC 1035 4.1), so that counts overrunning the packet are caught and the OPT record
 * and a TSIG record in the additional section (RFC 6891 6.1.1, RFC 8945 5.1).  Returns
 * 0, or -1 when the message is malformed (has_edns and tsig_at are then cleared: nothing
 * of a broken message is used). */
static int parse_sections(rd_ctx *c, size_t p, unsigned nq)
{
    const uint8_t *q = c->q;
    for (unsigned i = 0; i < nq; i++) {
        p = skip_name(q, c->qlen, p);
        if (p == 0 || p + 4 > c->qlen) goto bad;
        p += 4;
    }
    unsigned an = rd_get16(q + 6), ns = rd_get16(q + 8), ar = rd_get16(q + 10);
    unsigned total = an + ns + ar;
    for (unsigned i = 0; i < total; i++) {
        size_t owner = p;
        p = skip_name(q, c->qlen, p);
        if (p == 0 || p + 10 > c->qlen) goto bad;
        uint16_t type = rd_get16(q + p);
        if (type == RD_T_OPT && i < an + ns) goto bad;   /* RFC 6891 6.1.1: additional only */
        if (type == RD_T_TSIG) {
            /* RFC 8945 5.1: the last record of the additional section, else FORMERR. */
            if (i != total - 1 || i < an + ns) goto bad;
            c->tsig_at = owner;
        }
        if (i >= an + ns && type == RD_T_OPT) {
            if (c->has_edns) goto bad;              /* RFC 6891 6.1.1: more than one OPT */
            p = parse_opt(c, owner, p);
            if (p == 0) goto bad;
            continue;
        }
        size_t end = p + 10 + rd_get16(q + p + 8);
        if (end > c->qlen) goto bad;
        p = end;
    }
    /* Bytes after the last record: not a DNS message (Knot answers FORMERR too). */
    if (p != c->qlen) goto bad;
    return 0;
bad:
    return parse_bad(c);
}

/* What follows the question of a QUERY or NOTIFY.  Nearly every query is the question
 * and at most one OPT record owned by the root (RFC 6891 6.1.1), and nothing else: that
 * layout is read in place, without the walk over the sections (which, given it, would
 * accept and refuse exactly the same); any other layout is walked. */
static int parse_rest(rd_ctx *c, size_t p)
{
    const uint8_t *q = c->q;
    if ((q[6] | q[7] | q[8] | q[9] | q[10]) != 0 || q[11] > 1) return parse_sections(c, p, 0);
    if (q[11] == 0 && p == c->qlen) return 0;
    if (q[11] == 1 && p + 3 <= c->qlen && q[p] == 0 && rd_get16(q + p + 1) == RD_T_OPT) {
        if (parse_opt(c, p, p + 1) == c->qlen) return 0;
        return parse_bad(c);
    }
    return parse_sections(c, p, 0);
}

int rd_parse_query(rd_ctx *c)
{
    const uint8_t *q = c->q;
    if (c->qlen < 12) return -1;                 /* not even a header */
    if (q[2] & RD_F2_QR) return -1;              /* a response: never answer it */
    c->opcode = (q[2] >> 3) & 0xF;
    if (c->opcode != RD_OPCODE_QUERY && c->opcode != RD_OPCODE_NOTIFY) {
        /* NOTIMP, header only (as NSD).  An OPT in the request still gets one in the
         * answer (RFC 6891 7: a responder MUST include OPT when the request has one),
         * found when the message has the usual layout of sections; if it has not, the
         * answer stays the bare header. */
        parse_sections(c, 12, rd_get16(q + 4));
        c->tsig_at = 0;   /* the bare header is not signed: only QUERY and NOTIFY are */
        return RD_RCODE_NOTIMP;
    }
    if (rd_get16(q + 4) != 1) return RD_RCODE_FORMERR;
    if (parse_qname(c) < 0) return RD_RCODE_FORMERR;
    size_t p = 12 + c->qname_wlen;
    if (p + 4 > c->qlen) return RD_RCODE_FORMERR;
    c->qtype = rd_get16(q + p);
    c->qclass = rd_get16(q + p + 2);
    c->question_ok = 1;   /* from here on the question is echoed, even with FORMERR */
    /* A NOTIFY (RFC 1996 3.7: its answer section may carry the SOA) is parsed like a
     * query, so that its OPT is found and answered with one (RFC 6891 7). */
    if (parse_rest(c, p + 4) < 0)
        return RD_RCODE_FORMERR;     /* and no OPT in it (as Knot and NSD answer) */
    if (c->has_edns && c->edns_version > 0) return RD_RCODE_BADVERS;   /* RFC 6891 6.1.3 */
    /* RFC 7873 5.2.2: a COOKIE option of a length no cookie has is FORMERR (the OPT
     * record itself was sound: it is kept, without a cookie). */
    if (c->cookie && rd_cookie_malformed(c) && c->db && c->db->opt.cookies) {
        c->cookie = NULL;            /* a FORMERR carries no cookie back */
        c->cookie_len = 0;
        return RD_RCODE_FORMERR;
    }
    /* RFC 1996: a NOTIFY is NOTAUTH with the question (as Knot answers it) unless it
     * names a secondary zone of ours: the engine asks notify.c once its TSIG is checked. */
    if (c->opcode == RD_OPCODE_NOTIFY) return RD_RCODE_NOTAUTH;
    return RD_RCODE_NOERROR;
}
