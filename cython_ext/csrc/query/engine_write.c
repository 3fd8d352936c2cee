/* engine_write.c — the response writer: header, question echo, records with name compression (RFC 1035 4.1.4), truncation, OPT. */
#include "engine_int.h"

#include <time.h>

void rd_write_header(rd_ctx *c)
{
    memcpy(c->r, c->q, 2);                 /* the ID */
    memset(c->r + 2, 0, 10);
    c->len = 12;
    c->question_end = 12;
}

/* Echo the question as the client wrote it (case preserved) and remember each of its
 * suffixes for compression: the answer owners then point at it. */
int rd_write_question(rd_ctx *c)
{
    size_t n = c->qname_wlen + 4;
    if (12 + n > c->cap) return -1;
    memcpy(c->r + 12, c->q + 12, n);
    for (int i = 0; i < c->nlabels && c->ncomp < RD_COMP_MAX; i++)
        c->comp[c->ncomp++] = (rd_comp){ (uint16_t)(12 + c->loff[i]),
                                         (uint16_t)(c->qname_wlen - c->loff[i]) };
    c->ncomp_question = c->ncomp;
    c->len = 12 + n;
    c->question_end = c->len;
    c->count[0] = c->count[1] = c->count[2] = 0;
    return 0;
}

/* Does the (possibly compressed) name written at response offset `off` equal the
 * uncompressed `name` of `len` octets, ignoring ASCII case?  Pointers we write only go
 * backwards, so the walk ends.  `rlen`: the octets written so far. */
static int name_eq_at(const uint8_t *r, size_t rlen, size_t off, const uint8_t *name,
                      size_t len)
{
    /* Written out as it is (the question's suffixes, a name written before in the same
     * case): one comparison.  Equal octets hold the same labels and so no pointer. */
    if (off + len <= rlen && memcmp(r + off, name, len) == 0) return 1;
    for (;;) {
        uint8_t l = r[off];
        if ((l & 0xC0) == 0xC0) {
            off = (size_t)(l & 0x3F) << 8 | r[off + 1];
            continue;
        }
        if (l != *name) return 0;
        if (l == 0) return 1;
        /* Most octets are equal as they are (the zone's names and the question alike in
         * lower case): eight at a time while they are (NSEC3 owners' 32-octet labels),
         * lower-cased only where they differ (RFC 4343). */
        const uint8_t *a = r + off;
        unsigned k = 1;
        for (; k + 8 <= (unsigned)l + 1; k += 8) {
            uint64_t x, y;
            memcpy(&x, a + k, 8);
            memcpy(&y, name + k, 8);
            if (x != y) break;
        }
        for (; k <= l; k++)
            if (a[k] != name[k] && rd_lower(a[k]) != rd_lower(name[k])) return 0;
        off += l + 1;
        name += l + 1;
    }
}

int rd_put_name(rd_ctx *c, const uint8_t *name, size_t namemax, int compress)
{
    /* The echoed question itself (answer owners, CHAOS): a pointer to offset 12. */
    if (name == c->r + 12 && compress && c->question_ok) {
        if (c->len + 2 > c->limit) return -1;
        c->r[c->len] = 0xC0;
        c->r[c->len + 1] = 12;
        c->len += 2;
        return 0;
    }
    uint8_t off[128];
    int n = 0;
    size_t L = 0;
    (void)namemax;
    while (name[L]) {
        if (n >= 127) return -1;
        off[n++] = (uint8_t)L;
        L += name[L] + 1;
    }
    L += 1;
    int hit = -1;
    uint16_t ptr = 0;
    if (compress) {
        for (int i = 0; i < n && hit < 0; i++) {
            uint16_t sl = (uint16_t)(L - off[i]);
            for (int k = 0; k < c->ncomp; k++) {
                if (c->comp[k].len == sl &&
                    name_eq_at(c->r, c->len, c->comp[k].off, name + off[i], sl)) {
                    hit = i;
                    ptr = c->comp[k].off;
                    break;
                }
            }
        }
    }
    size_t copy = hit >= 0 ? off[hit] : L;
    size_t need = hit >= 0 ? copy + 2 : L;
    if (c->len + need > c->limit) return -1;
    size_t start = c->len;
    memcpy(c->r + start, name, copy);
    if (hit >= 0) {
        c->r[start + copy] = 0xC0 | (uint8_t)(ptr >> 8);
        c->r[start + copy + 1] = (uint8_t)ptr;
    }
    c->len += need;
    int upto = hit >= 0 ? hit : n;
    for (int i = 0; i < upto && c->ncomp < RD_COMP_MAX; i++) {
        size_t o = start + off[i];
        if (o > 0x3FFF) break;                /* a pointer holds 14 bits */
        c->comp[c->ncomp++] = (rd_comp){ (uint16_t)o, (uint16_t)(L - off[i]) };
    }
    return 0;
}

static int put_rdata(rd_ctx *c, uint16_t type, const uint8_t *rd, uint16_t rdlen)
{
    int prefix, names = rd_rdata_names(type, rd, rdlen, &prefix);
    if (names) {
        if (c->len + (size_t)prefix > c->limit) return -1;
        memcpy(c->r + c->len, rd, (size_t)prefix);
        c->len += (size_t)prefix;
        size_t o = (size_t)prefix;
        for (int i = 0; i < names; i++) {
            size_t nl = rd_wire_name_check(rd + o, rdlen - o);
            if (rd_put_name(c, rd + o, nl, 1) < 0) return -1;
            o += nl;
        }
        if (c->len + (rdlen - o) > c->limit) return -1;
        memcpy(c->r + c->len, rd + o, rdlen - o);
        c->len += rdlen - o;
        return 0;
    }
    if (c->len + rdlen > c->limit) return -1;
    memcpy(c->r + c->len, rd, rdlen);
    c->len += rdlen;
    return 0;
}

/* One record whose owner is already written at response offset `owner_at` (a pointer
 * to it is written), or, when owner_at is 0, the name `owner`.  On failure (no room) the
 * response is left as it was. */
static int put_rr_at(rd_ctx *c, int sec, const uint8_t *owner, size_t owner_at, uint16_t type,
                     uint16_t rclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
    size_t save_len = c->len;
    int save_ncomp = c->ncomp;
    if (owner_at) {
        if (c->len + 2 > c->limit) goto undo;
        c->r[c->len] = 0xC0 | (uint8_t)(owner_at >> 8);
        c->r[c->len + 1] = (uint8_t)owner_at;
        c->len += 2;
    } else if (rd_put_name(c, owner, RD_NAME_MAX, 1) < 0) {
        goto undo;
    }
    if (c->len + 10 > c->limit) goto undo;
    uint8_t *f = c->r + c->len;
    rd_put_rr_fields(f, type, rclass, ttl);
    c->len += 10;
    size_t rdstart = c->len;
    if (put_rdata(c, type, rdata, rdlen) < 0) goto undo;
    rd_put16(f + 8, (uint16_t)(c->len - rdstart));
    c->count[sec]++;
    return 0;
undo:
    c->len = save_len;
    c->ncomp = save_ncomp;
    return -1;
}

int rd_put_rr(rd_ctx *c, int sec, const uint8_t *owner, uint16_t type, uint16_t rclass,
              uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
    return put_rr_at(c, sec, owner, 0, type, rclass, ttl, rdata, rdlen);
}

/* A whole RRset or nothing (RFC 2181 9). */
int rd_put_rrset(rd_ctx *c, int sec, const zimg *z, const uint8_t *owner, const zrrset *rs,
                 uint32_t ttl)
{
    size_t save_len = c->len;
    int save_ncomp = c->ncomp;
    uint16_t save_count = c->count[sec];
    const uint8_t *p = zimg_base(z) + rs->rdata_off;
    const uint8_t *end = p + rs->rdata_len;
    size_t owner_at = 0;      /* after the first record: point at its owner */
    for (unsigned i = 0; i < rs->count; i++) {
        if (p + 2 > end) break;
        uint16_t rdlen = rd_get16(p);
        if (p + 2 + rdlen > end) break;
        size_t here = c->len;
        if (put_rr_at(c, sec, owner, owner_at, rs->type, RD_C_IN, ttl, p + 2, rdlen) < 0) {
            c->len = save_len;
            c->ncomp = save_ncomp;
            c->count[sec] = save_count;
            return -1;
        }
        if (i == 0) {
            /* The first owner is either a pointer already (copy its target) or starts
             * right here. */
            if ((c->r[here] & 0xC0) == 0xC0)
                owner_at = (size_t)(c->r[here] & 0x3F) << 8 | c->r[here + 1];
            else if (here <= 0x3FFF)
                owner_at = here;
        }
        p += 2 + rdlen;
    }
    return 0;
}

/* RFC 2181 9: an RRset of the answer (or a required one of the authority) does not fit:
 * set TC.  Without DO the whole RRsets already written stay (the one that did not fit
 * was rolled back), as NSD answers: a first answer RRset too big leaves the question
 * only.  With DO a partial signed answer or proof is useless (RFC 4035 3.1.1): the
 * question alone, the client retries over TCP. */
void rd_truncate(rd_ctx *c)
{
    if (c->do_bit) {
        c->len = c->question_end;
        c->count[0] = c->count[1] = c->count[2] = 0;
        c->ncomp = c->ncomp_question;
    }
    c->tc = 1;
}

/* The EDNS EXPIRE value (RFC 7314 3) of an authoritative answer to the SOA, AXFR or IXFR
 * of a zone's apex asked with the option (in a transfer, its first message): for a
 * secondary zone the seconds its copy has left, for a zone of our own its SOA EXPIRE.
 * 1 when the option goes into the response. */
static int expire_value(rd_ctx *c, uint32_t *val)
{
    if (!c->expire_req || !c->aa || !c->question_ok || c->rcode != RD_RCODE_NOERROR ||
        (c->qtype != RD_T_SOA && c->qtype != RD_T_AXFR && c->qtype != RD_T_IXFR))
        return 0;
    rd_ctx_zone(c);                    /* a transfer's messages have not looked it up */
    if (!c->zone || c->nlabels != zimg_origin_labels(c->zone)) return 0;
    uint32_t at = c->db && c->db->zone_expire_at ? c->db->zone_expire_at[c->zone_index] : 0;
    if (at) {
        uint32_t now = (uint32_t)time(NULL);
        *val = at > now ? at - now : 0;
        return 1;
    }
    const zrrset *soa = zimg_find_rrset(c->zone, zimg_apex(c->zone), RD_T_SOA);
    if (!soa || !soa->count) return 0;
    const uint8_t *rd = zimg_base(c->zone) + soa->rdata_off;
    uint16_t rdlen = rd_get16(rd);
    if (rdlen < 20) return 0;
    *val = rd_get32(rd + 2 + rdlen - 8);       /* SERIAL REFRESH RETRY EXPIRE MINIMUM */
    return 1;
}

/* Header flags and counts, then the OPT record (RFC 6891 6.1.2) in the room kept for it. */
size_t rd_finish(rd_ctx *c)
{
    uint8_t *r = c->r;
    uint16_t arcount = c->count[2];
    if (c->has_edns) {
        size_t olen = rd_opt_room(c) - (c->expire_req ? 8u : 0u);   /* EXPIRE: below */
        if (c->len + olen <= c->cap) {
            uint8_t *o = r + c->len;
            uint16_t payload = c->db ? c->db->opt.max_udp_payload : 1232;
            if (payload < 512) payload = 512;
            o[0] = 0;
            rd_put16(o + 1, RD_T_OPT);
            rd_put16(o + 3, payload);
            o[5] = (uint8_t)(c->rcode >> 4);  /* extended RCODE, upper 8 bits */
            o[6] = 0;                          /* version 0 */
            o[7] = c->do_bit ? 0x80 : 0;       /* DO echoed (RFC 3225 3) */
            o[8] = 0;
            rd_put16(o + 9, (uint16_t)(olen - 11));
            size_t p = 11;
            if (c->nsid_req && c->db && c->db->opt.nsid_len) {   /* RFC 5001 2.3 */
                rd_put16(o + p, RD_EDNS_NSID);
                rd_put16(o + p + 2, c->db->opt.nsid_len);
                memcpy(o + p + 4, c->db->opt.nsid, c->db->opt.nsid_len);
                p += 4u + c->db->opt.nsid_len;
            }
            if (c->cookie_room) {              /* RFC 7873 5.2: client | server cookie */
                /* always 24 octets (a client and an RFC 9018 server cookie) with the
                 * option's header right before them (engine_int.h rd_ctx.cookie): the 28
                 * octets in two 16-octet moves that overlap */
                const uint8_t *opt = c->cookie - 4;
                memcpy(o + p, opt, 16);
                memcpy(o + p + 12, opt + 12, 16);
                p += 4u + 24;
            }
            if (p < olen) {                    /* RFC 7828 3.3.2: the idle timeout we keep */
                rd_put16(o + p, RD_EDNS_KEEPALIVE);
                rd_put16(o + p + 2, 2);
                rd_put16(o + p + 4, c->t->keepalive);
            }
            c->len += olen;
            uint32_t expire;
            /* the room was kept (rd_opt_room); a transfer's messages are bounded by cap */
            if (expire_value(c, &expire) && c->len + 8 <= c->cap &&
                (c->qtype != RD_T_SOA || c->len + 8 <= c->size_limit)) {
                uint8_t *e = r + c->len;
                rd_put16(e, RD_EDNS_EXPIRE);
                rd_put16(e + 2, 4);
                rd_put32(e + 4, expire);
                c->len += 8;
                olen += 8;
                rd_put16(o + 9, (uint16_t)(olen - 11));
            }
            /* RFC 8914 2: an extended error, when there is room left for it. */
            if (c->ede >= 0 && c->len + 6 <= c->size_limit && c->len + 6 <= c->cap) {
                uint8_t *e = r + c->len;
                rd_put16(e, RD_EDNS_EDE);
                rd_put16(e + 2, 2);
                rd_put16(e + 4, (uint16_t)c->ede);
                c->len += 6;
                rd_put16(o + 9, (uint16_t)(olen - 11 + 6));   /* EXPIRE counted in olen */
            }
            arcount++;
        }
    }
    r[2] = RD_F2_QR | (uint8_t)(c->opcode << 3) | (c->aa ? RD_F2_AA : 0) |
           (c->tc ? RD_F2_TC : 0) | (c->q[2] & RD_F2_RD);
    /* RA, AD and CD stay clear: Knot and NSD do not copy CD from queries either. */
    r[3] = (uint8_t)(c->rcode & 0xF);
    rd_put16(r + 4, c->question_ok ? 1 : 0);
    rd_put16(r + 6, c->count[0]);
    rd_put16(r + 8, c->count[1]);
    rd_put16(r + 10, arcount);
    return c->len;
}
