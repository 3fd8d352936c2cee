/* xfrin_query.c — the SOA query and transfer request of a secondary, and the SOA answer checked (see xfrin_query.h). */
#include "zone/xfrin_query.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/rd_wire.h"

enum { T_SOA = 6, T_OPT = 41, T_TSIG = 250, T_IXFR = 251, EDNS_EXPIRE = 9, UDP_SIZE = 1232 };

size_t rd_xfrin_query(uint8_t *out, size_t cap, const uint8_t *origin, uint16_t qtype,
                      uint16_t id, uint32_t serial, const rd_tsig_key *key, uint64_t now,
                      uint8_t *mac, uint16_t *mac_len)
{
    size_t ol = rd_name_len(origin);
    int ixfr = qtype == T_IXFR;
    /* header, question, the IXFR's SOA (root MNAME and RNAME: RFC 1995 3 reads only the
       serial), OPT with the empty EXPIRE option */
    size_t n = 12 + ol + 4 + (ixfr ? ol + 10 + 22 : 0) + 11 + 4;
    *mac_len = 0;
    if (n > cap) return 0;
    memset(out, 0, n);
    rd_put16(out, id);                 /* flags 0: a standard query, RD clear */
    rd_put16(out + 4, 1);
    rd_put16(out + 8, ixfr ? 1 : 0);
    rd_put16(out + 10, 1);
    uint8_t *p = out + 12;
    memcpy(p, origin, ol); p += ol;
    rd_put16(p, qtype); rd_put16(p + 2, 1); p += 4;
    if (ixfr) {
        memcpy(p, origin, ol); p += ol;
        rd_put16(p, T_SOA); rd_put16(p + 2, 1); p += 8;     /* TTL 0 */
        rd_put16(p, 22); p += 2;
        p += 2;                                             /* two root names */
        rd_put32(p, serial); p += 20;                       /* then four zero timers */
    }
    p += 1;                                                 /* OPT: root owner */
    rd_put16(p, T_OPT); rd_put16(p + 2, UDP_SIZE); p += 8;  /* RFC 6891 6.1.2; TTL 0 */
    rd_put16(p, 4); p += 2;
    rd_put16(p, EDNS_EXPIRE); p += 4;                       /* RFC 7314 2: empty in a query */
    if (!key) return n;
    rd_tsig_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.key = key;
    n = rd_tsig_sign_request(&ctx, out, n, cap, now);
    if (!n) return 0;
    memcpy(mac, ctx.prior, ctx.prior_len);
    *mac_len = ctx.prior_len;
    return n;
}

static int bad(rd_xfrin_soa *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(rd_xfrin_soa *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->err, sizeof(o->err), fmt, ap);
    va_end(ap);
    return RD_XFRIN_SOA_BAD;
}

int rd_xfrin_soa_answer(const uint8_t *m, size_t len, const uint8_t *origin, uint16_t id,
                        const rd_tsig_key *key, const uint8_t *request_mac,
                        uint16_t request_mac_len, uint64_t now, rd_xfrin_soa *o)
{
    memset(o, 0, sizeof *o);
    if (len < 12 || rd_get16(m) != id) return RD_XFRIN_SOA_NOT_OURS;
    uint16_t flags = rd_get16(m + 2);
    uint16_t qd = rd_get16(m + 4), an = rd_get16(m + 6), ns = rd_get16(m + 8),
             ar = rd_get16(m + 10);
    if (!(flags & 0x8000) || ((flags >> 11) & 0xF) != 0 || qd != 1) return RD_XFRIN_SOA_NOT_OURS;
    uint8_t name[RD_NAME_MAX + 1];
    size_t nl;
    size_t p = rd_wire_name_read(m, len, 12, name, &nl, 0);
    if (!p || p + 4 > len || !rd_name_eq(name, origin) || rd_get16(m + p) != T_SOA
        || rd_get16(m + p + 2) != 1)
        return RD_XFRIN_SOA_NOT_OURS;
    p += 4;
    /* RFC 2181 9: a truncated answer is asked again over TCP, whatever it holds */
    if (flags & 0x0200) return RD_XFRIN_SOA_TC;
    int found = 0;
    size_t tsig_off = 0, total = (size_t)an + ns + ar;
    for (size_t i = 0; i < total; i++) {
        size_t start = p;
        p = rd_wire_name_read(m, len, p, name, &nl, 0);
        if (!p || p + 10 > len) return bad(o, "malformed record %zu", i + 1);
        uint16_t type = rd_get16(m + p), rclass = rd_get16(m + p + 2);
        size_t rdlen = rd_get16(m + p + 8);
        p += 10;
        if (p + rdlen > len) return bad(o, "record %zu runs past the end", i + 1);
        if (i < an && type == T_SOA && rclass == 1 && rd_name_eq(name, origin) && !found) {
            /* RFC 1035 3.3.13: MNAME, RNAME (either may be compressed), then SERIAL */
            size_t q = rd_wire_name_end(m, p + rdlen, p, 1);
            q = q ? rd_wire_name_end(m, p + rdlen, q, 1) : 0;
            if (!q || q + 20 != p + rdlen) return bad(o, "malformed SOA record");
            o->serial = rd_get32(m + q);
            found = 1;
        } else if (i >= (size_t)an + ns && type == T_OPT) {
            for (size_t q = p; q + 4 <= p + rdlen; ) {
                uint16_t code = rd_get16(m + q), olen = rd_get16(m + q + 2);
                if (q + 4 + olen > p + rdlen) return bad(o, "malformed EDNS option");
                if (code == EDNS_EXPIRE && olen == 4) {          /* RFC 7314 2 */
                    o->has_expire = 1;
                    o->expire = rd_get32(m + q + 4);
                }
                q += 4 + (size_t)olen;
            }
        } else if (i >= (size_t)an + ns && type == T_TSIG) {
            if (i != total - 1) return bad(o, "TSIG record not last");   /* RFC 8945 5.1 */
            tsig_off = start;
        }
        p += rdlen;
    }
    if (p != len) return bad(o, "%zu bytes after the last record", len - p);
    o->rcode = flags & 0xF;
    if (key) {
        char a[RD_NAME_MAX * 4 + 8];
        if (!tsig_off) return bad(o, "the answer is not signed");
        rd_tsig_rr rr;
        if (rd_tsig_parse(m, len, tsig_off, &rr) != 0) return bad(o, "malformed TSIG record");
        if (!rd_name_eq(rr.key, key->name))
            return bad(o, "signed with key %s", rd_name_to_text(rr.key, a, sizeof a));
        if (rr.error) {
            o->tsig_error = rr.error;
            return bad(o, "TSIG error %u from the primary", rr.error);
        }
        rd_tsig_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.key = key;
        if (request_mac_len > RD_TSIG_MAC_MAX) return bad(o, "request MAC too long");
        memcpy(ctx.prior, request_mac, request_mac_len);
        ctx.prior_len = request_mac_len;
        if (rd_tsig_verify_response(&ctx, m, len, &rr, now) != 0)
            return bad(o, "TSIG verification failed");
    }
    if (o->rcode) return bad(o, "the primary answered RCODE %u", o->rcode);
    if (!(flags & 0x0400)) return bad(o, "the answer is not authoritative");
    if (!found) return bad(o, "no SOA in the answer");
    return RD_XFRIN_SOA_OK;
}
