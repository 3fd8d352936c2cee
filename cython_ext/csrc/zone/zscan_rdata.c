/* zscan_rdata.c — presentation-to-wire encoders of the common RR types (RFC 1035
 * section 3.3 and the RFCs cited per type), and RFC 3597 generic rdata. */
#include "zscan_int.h"

#include <stdio.h>
#include <stdlib.h>

static uint32_t cur_line(const zs_rdcur *c)
{
    if (c->i < c->n) return c->t[c->i].line;
    return c->n ? c->t[c->n - 1].line : c->line;
}

static zs_tok *take(zs_rdcur *c, const char *what)
{
    if (c->i < c->n) return &c->t[c->i++];
    if (c->n == 0) zs_err(c->st, c->line, "missing rdata");
    else zs_err(c->st, cur_line(c), "missing rdata field (%s)", what);
    return NULL;
}

static int bad_field(zs_rdcur *c, const zs_tok *t, const char *what)
{
    char b[80];
    zs_err(c->st, t->line, "bad %s '%s'", what, zs_show(t, b, sizeof b));
    return -1;
}

int zs_rd_num(zs_rdcur *c, uint32_t max, const char *what, uint32_t *v)
{
    zs_tok *t = take(c, what);
    if (!t) return -1;
    if (t->quoted || zs_parse_u32(t, max, v)) return bad_field(c, t, what);
    return 0;
}
static int f_u8(zs_rdcur *c, const char *what)
{
    uint32_t v;
    if (zs_rd_num(c, 255, what, &v)) return -1;
    zs_put8(c->st, v);
    return 0;
}
static int f_u16(zs_rdcur *c, const char *what)
{
    uint32_t v;
    if (zs_rd_num(c, 65535, what, &v)) return -1;
    zs_put16(c->st, v);
    return 0;
}
static int f_u32(zs_rdcur *c, const char *what)
{
    uint32_t v;
    if (zs_rd_num(c, 0xffffffffu, what, &v)) return -1;
    zs_put32(c->st, v);
    return 0;
}
static int f_ttl(zs_rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    const char *why;
    uint32_t v;
    if (!t) return -1;
    if (zs_parse_ttl(t, &v, &why)) return bad_field(c, t, what);
    zs_put32(c->st, v);
    return 0;
}

/* Domain names in rdata are written uncompressed and case as given (RFC 3597 section 4). */
int zs_rd_name(zs_rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    uint8_t w[RD_NAME_MAX + 1];
    const char *why;
    char b[80];
    if (!t) return -1;
    int n = zs_name_parse(t->s, t->len, zs_origin(c->st), w, &why);
    if (n < 0) {
        zs_err(c->st, t->line, "bad %s '%s': %s", what, zs_show(t, b, sizeof b), why);
        return -1;
    }
    zs_put(c->st, w, (size_t)n);
    return 0;
}

/* <character-string> (RFC 1035 section 3.3): length octet and at most 255 octets. */
static int put_charstr(zs_rdcur *c, const zs_tok *t)
{
    uint8_t buf[256];
    const char *why;
    char b[80];
    int n = zs_unescape(t, buf + 1, 255, &why);
    if (n < 0) {
        zs_err(c->st, t->line, "bad string '%s': %s", zs_show(t, b, sizeof b), why);
        return -1;
    }
    buf[0] = (uint8_t)n;
    zs_put(c->st, buf, (size_t)n + 1);
    return 0;
}
static int f_charstr(zs_rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    return t ? put_charstr(c, t) : -1;
}

/* A string without a length octet, to the end of the rdata (CAA value, URI target). */
static int f_rawstr(zs_rdcur *c, const char *what, int nonempty)
{
    zs_tok *t = take(c, what);
    const char *why;
    char b[80];
    if (!t) return -1;
    size_t room = ZS_RDATA_MAX - c->st->rdlen;
    int n = zs_unescape(t, c->st->rd + c->st->rdlen, room, &why);
    if (n < 0) {
        zs_err(c->st, t->line, "bad %s '%s': %s", what, zs_show(t, b, sizeof b), why);
        return -1;
    }
    if (nonempty && n == 0) {
        zs_err(c->st, t->line, "empty %s", what);
        return -1;
    }
    c->st->rdlen += (size_t)n;
    return 0;
}

/* Hex of the remaining tokens (blanks allowed between them). */
static int rest_hex(zs_rdcur *c, const char *what, int allow_empty, size_t *outlen)
{
    zs_state *st = c->st;
    int nib = -1;
    size_t start = st->rdlen;
    if (c->i >= c->n && !allow_empty) { take(c, what); return -1; }
    for (; c->i < c->n; c->i++) {
        zs_tok *t = &c->t[c->i];
        int n = zs_hex_decode(t->s, t->len, st->rd + st->rdlen, ZS_RDATA_MAX - st->rdlen, &nib);
        if (n < 0 || t->quoted) return bad_field(c, t, what);
        st->rdlen += (size_t)n;
    }
    if (nib >= 0) {
        zs_err(st, cur_line(c), "bad %s: odd number of hex digits", what);
        return -1;
    }
    if (outlen) *outlen = st->rdlen - start;
    return 0;
}

/* Base64 of the remaining tokens (RFC 4034 section 2.2 and others). */
static int rest_b64(zs_rdcur *c, const char *what)
{
    zs_state *st = c->st;
    int state = 0;
    if (c->i >= c->n) { take(c, what); return -1; }
    for (; c->i < c->n; c->i++) {
        zs_tok *t = &c->t[c->i];
        int n = zs_b64_decode(t->s, t->len, st->rd + st->rdlen, ZS_RDATA_MAX - st->rdlen, &state);
        if (n < 0 || t->quoted) return bad_field(c, t, what);
        st->rdlen += (size_t)n;
    }
    if ((state >> 24) & 7) {
        zs_err(st, cur_line(c), "bad %s: truncated base64", what);
        return -1;
    }
    return 0;
}

static int f_algorithm(zs_rdcur *c)
{
    zs_tok *t = take(c, "algorithm");
    if (!t) return -1;
    int a = zs_algorithm_from_text(t);
    if (a < 0) return bad_field(c, t, "algorithm");
    zs_put8(c->st, (uint32_t)a);
    return 0;
}

static int f_type(zs_rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    if (!t) return -1;
    int ty = zs_type_from_text(t->s, t->len);
    if (ty < 0) {
        char b[80];
        zs_err(c->st, t->line, "unknown type '%s'", zs_show(t, b, sizeof b));
        return -1;
    }
    zs_put16(c->st, (uint32_t)ty);
    return 0;
}

/* ---- per type ---- */

/* A (RFC 1035 3.4.1) or AAAA (RFC 3596 2.2): one address of `len` octets, 4 or 16. */
static int enc_address(zs_rdcur *c, size_t len)
{
    zs_tok *t = take(c, "address");
    uint8_t a[16];
    char b[80];
    if (!t) return -1;
    if (len == 4 ? zs_parse_ipv4(t->s, t->len, a) : zs_parse_ipv6(t->s, t->len, a)) {
        zs_err(c->st, t->line, "bad IPv%d address '%s'", len == 4 ? 4 : 6,
               zs_show(t, b, sizeof b));
        return -1;
    }
    zs_put(c->st, a, len);
    return 0;
}

static int enc_name1(zs_rdcur *c) { return zs_rd_name(c, "name"); }

static int enc_name2(zs_rdcur *c)   /* RP, MINFO */
{
    return zs_rd_name(c, "mailbox") || zs_rd_name(c, "name");
}

static int enc_soa(zs_rdcur *c)     /* RFC 1035 section 3.3.13 */
{
    return zs_rd_name(c, "primary name server") || zs_rd_name(c, "responsible mailbox") ||
           f_u32(c, "serial") || f_ttl(c, "refresh") || f_ttl(c, "retry") ||
           f_ttl(c, "expire") || f_ttl(c, "minimum");
}

static int enc_pref_name(zs_rdcur *c)    /* MX, KX, AFSDB, RT */
{
    return f_u16(c, "preference") || zs_rd_name(c, "exchange");
}

static int enc_txt(zs_rdcur *c)     /* RFC 1035 section 3.3.14: one or more strings */
{
    if (c->n == 0) { take(c, "string"); return -1; }
    while (c->i < c->n)
        if (put_charstr(c, &c->t[c->i++])) return -1;
    return 0;
}

static int enc_hinfo(zs_rdcur *c)
{
    return f_charstr(c, "CPU") || f_charstr(c, "OS");
}

static int enc_srv(zs_rdcur *c)     /* RFC 2782 */
{
    return f_u16(c, "priority") || f_u16(c, "weight") || f_u16(c, "port") ||
           zs_rd_name(c, "target");
}

static int enc_naptr(zs_rdcur *c)   /* RFC 3403 section 4.1 */
{
    return f_u16(c, "order") || f_u16(c, "preference") || f_charstr(c, "flags") ||
           f_charstr(c, "service") || f_charstr(c, "regexp") || zs_rd_name(c, "replacement");
}

static int enc_caa(zs_rdcur *c)     /* RFC 8659 section 4.1 */
{
    if (f_u8(c, "flags")) return -1;
    zs_tok *t = take(c, "tag");
    uint8_t tag[256];
    const char *why;
    if (!t) return -1;
    int n = zs_unescape(t, tag, 255, &why);
    if (n <= 0) return bad_field(c, t, "CAA tag");
    for (int k = 0; k < n; k++) {
        uint8_t ch = tag[k];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
            return bad_field(c, t, "CAA tag");
    }
    zs_put8(c->st, (uint32_t)n);
    zs_put(c->st, tag, (size_t)n);
    return f_rawstr(c, "CAA value", 0);
}

/* RFC 4034 section 5.1 (DS), RFC 7344 (CDS); digest lengths per RFC 3658/4509/6605. */
static int enc_ds(zs_rdcur *c, uint16_t type)
{
    if (f_u16(c, "key tag") || f_algorithm(c)) return -1;
    uint32_t dt;
    size_t dlen;
    if (zs_rd_num(c, 255, "digest type", &dt)) return -1;
    zs_put8(c->st, dt);
    uint32_t line = cur_line(c);
    if (rest_hex(c, "digest", 1, &dlen)) return -1;
    int want = dt == 1 ? 20 : dt == 2 || dt == 3 ? 32 : dt == 4 ? 48 : -1;
    if (dt == 0) {
        if (type != 59) { zs_err(c->st, line, "digest type 0 is reserved"); return -1; }
        want = 1;     /* CDS delete (RFC 8078 section 4) */
    }
    if (want >= 0 && (int)dlen != want) {
        zs_err(c->st, line, "digest length %zu inconsistent with digest type %u", dlen, dt);
        return -1;
    }
    return 0;
}

static int enc_dnskey(zs_rdcur *c)  /* RFC 4034 section 2.2 */
{
    return f_u16(c, "flags") || f_u8(c, "protocol") || f_algorithm(c) ||
           rest_b64(c, "public key");
}

/* RFC 4034 section 3.2: YYYYMMDDHHmmSS (UTC) or seconds since the epoch. */
static int parse_sigtime(const zs_tok *t, uint32_t *out)
{
    for (uint32_t i = 0; i < t->len; i++)
        if (t->s[i] < '0' || t->s[i] > '9') return -1;
    if (t->len == 0) return -1;
    if (t->len <= 10) return zs_parse_u32(t, 0xffffffffu, out);
    if (t->len != 14) return -1;
    int v[6], w[6] = {4, 2, 2, 2, 2, 2}, k = 0;
    for (int f = 0; f < 6; f++) {
        v[f] = 0;
        for (int d = 0; d < w[f]; d++) v[f] = v[f] * 10 + (t->s[k++] - '0');
    }
    int y = v[0], m = v[1], d = v[2];
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap) ||
        v[3] > 23 || v[4] > 59 || v[5] > 59)
        return -1;
    /* days from civil (proleptic Gregorian) */
    int yy = m <= 2 ? y - 1 : y;
    long era = (yy >= 0 ? yy : yy - 399) / 400;
    long yoe = yy - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = era * 146097LL + doe - 719468;
    long long secs = days * 86400LL + v[3] * 3600 + v[4] * 60 + v[5];
    if (secs < 0 || secs > 0xffffffffLL) return -1;
    *out = (uint32_t)secs;
    return 0;
}

static int f_sigtime(zs_rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    uint32_t v;
    if (!t) return -1;
    if (t->quoted || parse_sigtime(t, &v)) return bad_field(c, t, what);
    zs_put32(c->st, v);
    return 0;
}

static int enc_rrsig(zs_rdcur *c)   /* RFC 4034 section 3.2 */
{
    return f_type(c, "type covered") || f_algorithm(c) || f_u8(c, "labels") ||
           f_ttl(c, "original TTL") || f_sigtime(c, "signature expiration") ||
           f_sigtime(c, "signature inception") || f_u16(c, "key tag") ||
           zs_rd_name(c, "signer name") || rest_b64(c, "signature");
}

/* RFC 4034 section 4.1.2 type bit maps, from the remaining tokens. */
static int rest_bitmap(zs_rdcur *c, const char *owner_type)
{
    uint8_t bits[8192];
    uint8_t used[256];
    memset(used, 0, sizeof used);
    int any = 0;
    for (; c->i < c->n; c->i++) {
        zs_tok *t = &c->t[c->i];
        int ty = zs_type_from_text(t->s, t->len);
        char b[80];
        if (ty < 0) {
            zs_err(c->st, t->line, "unknown type '%s'", zs_show(t, b, sizeof b));
            return -1;
        }
        if (ty == 0) { zs_err(c->st, t->line, "%s with bit 0", owner_type); return -1; }
        int win = ty >> 8;
        if (!used[win]) { memset(bits + win * 32, 0, 32); used[win] = 1; }
        bits[win * 32 + ((ty & 0xff) >> 3)] |= (uint8_t)(0x80 >> (ty & 7));
        any = 1;
    }
    if (!any) return 0;
    for (int win = 0; win < 256; win++) {
        if (!used[win]) continue;
        int len = 32;
        while (len > 0 && bits[win * 32 + len - 1] == 0) len--;
        zs_put8(c->st, (uint32_t)win);
        zs_put8(c->st, (uint32_t)len);
        zs_put(c->st, bits + win * 32, (size_t)len);
    }
    return 0;
}

static int enc_nsec(zs_rdcur *c)    /* RFC 4034 section 4.2 */
{
    return zs_rd_name(c, "next domain name") || rest_bitmap(c, "NSEC");
}

static int f_salt(zs_rdcur *c)      /* RFC 5155 section 3.3: "-" is the empty salt */
{
    zs_tok *t = take(c, "salt");
    if (!t) return -1;
    if (t->len == 1 && t->s[0] == '-') { zs_put8(c->st, 0); return 0; }
    uint8_t salt[256];
    int nib = -1;
    if (t->len > 510) return bad_field(c, t, "salt");
    int n = zs_hex_decode(t->s, t->len, salt, 255, &nib);
    if (n < 0 || nib >= 0) return bad_field(c, t, "salt");
    zs_put8(c->st, (uint32_t)n);
    zs_put(c->st, salt, (size_t)n);
    return 0;
}

static int enc_nsec3(zs_rdcur *c)   /* RFC 5155 section 3.3 */
{
    if (f_u8(c, "hash algorithm") || f_u8(c, "flags") || f_u16(c, "iterations") || f_salt(c))
        return -1;
    zs_tok *t = take(c, "next hashed owner name");
    uint8_t h[256];
    if (!t) return -1;
    int n = t->len > 408 ? -1 : zs_b32hex_decode(t->s, t->len, h, 255);
    if (n <= 0) return bad_field(c, t, "next hashed owner name");
    zs_put8(c->st, (uint32_t)n);
    zs_put(c->st, h, (size_t)n);
    return rest_bitmap(c, "NSEC3");
}

static int enc_nsec3param(zs_rdcur *c)  /* RFC 5155 section 4.2 */
{
    return f_u8(c, "hash algorithm") || f_u8(c, "flags") || f_u16(c, "iterations") ||
           f_salt(c);
}

static int enc_tlsa(zs_rdcur *c)    /* RFC 6698 section 2.1; SMIMEA (RFC 8162) alike */
{
    uint32_t mt;
    size_t dlen;
    if (f_u8(c, "usage") || f_u8(c, "selector") || zs_rd_num(c, 255, "matching type", &mt)) return -1;
    zs_put8(c->st, mt);
    uint32_t line = cur_line(c);
    if (rest_hex(c, "certificate association data", 0, &dlen)) return -1;
    int want = mt == 1 ? 32 : mt == 2 ? 64 : -1;
    if (want >= 0 && (int)dlen != want) {
        zs_err(c->st, line, "certificate association data length %zu inconsistent with "
               "matching type %u", dlen, mt);
        return -1;
    }
    return 0;
}

static int enc_sshfp(zs_rdcur *c)   /* RFC 4255 section 3.1, RFC 6594 */
{
    uint32_t ft;
    size_t dlen;
    if (f_u8(c, "algorithm") || zs_rd_num(c, 255, "fingerprint type", &ft)) return -1;
    zs_put8(c->st, ft);
    uint32_t line = cur_line(c);
    if (rest_hex(c, "fingerprint", 0, &dlen)) return -1;
    int want = ft == 1 ? 20 : ft == 2 ? 32 : -1;
    if (want >= 0 && (int)dlen != want) {
        zs_err(c->st, line, "fingerprint length %zu inconsistent with fingerprint type %u",
               dlen, ft);
        return -1;
    }
    return 0;
}

static int enc_zonemd(zs_rdcur *c)  /* RFC 8976 section 2.2 */
{
    uint32_t scheme, alg;
    size_t dlen;
    if (f_u32(c, "serial") || zs_rd_num(c, 255, "scheme", &scheme)) return -1;
    zs_put8(c->st, scheme);
    if (zs_rd_num(c, 255, "hash algorithm", &alg)) return -1;
    zs_put8(c->st, alg);
    uint32_t line = cur_line(c);
    if (rest_hex(c, "digest", 0, &dlen)) return -1;
    if (scheme == 0) { zs_err(c->st, line, "ZONEMD scheme 0 is reserved"); return -1; }
    if (alg == 0) { zs_err(c->st, line, "ZONEMD hash algorithm 0 is reserved"); return -1; }
    size_t want = alg == 1 ? 48 : alg == 2 ? 64 : 0;
    if (dlen < 12 || (want && dlen != want)) {
        zs_err(c->st, line, "ZONEMD digest length %zu inconsistent with hash algorithm %u",
               dlen, alg);
        return -1;
    }
    return 0;
}

static int enc_uri(zs_rdcur *c)     /* RFC 7553 section 4.5 */
{
    return f_u16(c, "priority") || f_u16(c, "weight") || f_rawstr(c, "URI target", 1);
}

static int enc_b64only(zs_rdcur *c) /* OPENPGPKEY (RFC 7929), DHCID (RFC 4701) */
{
    return rest_b64(c, "base64 data");
}



/* Fixed-shape hex: `chunks` groups of `size` hex digits joined by `sep`
 * (EUI48/EUI64 of RFC 7043 section 3.2/4.2, NID/L64 of RFC 6742 section 2.1/2.3). */
static int f_fmt_hex(zs_rdcur *c, int chunks, int size, char sep, const char *what)
{
    zs_tok *t = take(c, what);
    if (!t) return -1;
    if (t->len != (uint32_t)(chunks * (size + 1) - 1)) return bad_field(c, t, what);
    for (int k = 0; k < chunks; k++) {
        const char *q = t->s + k * (size + 1);
        if (k && q[-1] != sep) return bad_field(c, t, what);
        uint8_t b[2];
        int nib = -1;
        if (zs_hex_decode(q, (size_t)size, b, sizeof b, &nib) != size / 2)
            return bad_field(c, t, what);
        zs_put(c->st, b, (size_t)size / 2);
    }
    return 0;
}

static int enc_l32(zs_rdcur *c)    /* RFC 6742 section 2.2 */
{
    if (f_u16(c, "preference")) return -1;
    zs_tok *t = take(c, "locator");
    uint8_t a[4];
    if (!t) return -1;
    if (zs_parse_ipv4(t->s, t->len, a)) return bad_field(c, t, "locator");
    zs_put(c->st, a, 4);
    return 0;
}

/* RFC 4398 section 2.2: certificate type mnemonics. */
static int f_cert_type(zs_rdcur *c)
{
    static const struct { const char *name; uint16_t v; } types[] = {
        {"PKIX", 1}, {"SPKI", 2}, {"PGP", 3}, {"IPKIX", 4}, {"ISPKI", 5}, {"IPGP", 6},
        {"ACPKIX", 7}, {"IACPKIX", 8}, {"URI", 253}, {"OID", 254},
    };
    zs_tok *t = take(c, "certificate type");
    uint32_t v;
    if (!t) return -1;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
        if (strlen(types[k].name) == t->len && memcmp(types[k].name, t->s, t->len) == 0) {
            zs_put16(c->st, types[k].v);
            return 0;
        }
    if (zs_parse_u32(t, 65535, &v)) return bad_field(c, t, "certificate type");
    zs_put16(c->st, v);
    return 0;
}

static int enc_cert(zs_rdcur *c)   /* RFC 4398 section 2 */
{
    return f_cert_type(c) || f_u16(c, "key tag") || f_algorithm(c) ||
           rest_b64(c, "certificate");
}

int zs_rdata_encode(zs_state *st, uint16_t type, zs_tok *tok, size_t n, uint32_t line)
{
    zs_rdcur c = {st, tok, n, 0, line};
    int r;
    st->rdlen = 0;
    st->rd_overflow = 0;
    switch (type) {
    case 1: r = enc_address(&c, 4); break;
    case 28: r = enc_address(&c, 16); break;
    case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 39:
        r = enc_name1(&c); break;                      /* NS MD MF CNAME MB MG MR PTR DNAME */
    case 6: r = enc_soa(&c); break;
    case 15: case 18: case 21: case 36: case 107:
        r = enc_pref_name(&c); break;                  /* MX AFSDB RT KX LP */
    case 16: case 99: r = enc_txt(&c); break;          /* TXT SPF */
    case 13: r = enc_hinfo(&c); break;
    case 14: case 17: r = enc_name2(&c); break;        /* MINFO RP */
    case 33: r = enc_srv(&c); break;
    case 35: r = enc_naptr(&c); break;
    case 257: r = enc_caa(&c); break;
    case 43: case 59: case 32768: case 32769: r = enc_ds(&c, type); break; /* DS CDS TA DLV */
    case 48: case 60: r = enc_dnskey(&c); break;       /* DNSKEY CDNSKEY */
    case 46: case 24: r = enc_rrsig(&c); break;        /* RRSIG SIG */
    case 37: r = enc_cert(&c); break;
    case 105: r = enc_l32(&c); break;
    case 104: case 106:                                 /* NID L64 */
        r = f_u16(&c, "preference") || f_fmt_hex(&c, 4, 4, ':', "locator"); break;
    case 108: r = f_fmt_hex(&c, 6, 2, '-', "EUI-48 address"); break;
    case 109: r = f_fmt_hex(&c, 8, 2, '-', "EUI-64 address"); break;
    case 47: r = enc_nsec(&c); break;
    case 50: r = enc_nsec3(&c); break;
    case 51: r = enc_nsec3param(&c); break;
    case 52: case 53: r = enc_tlsa(&c); break;         /* TLSA SMIMEA */
    case 44: r = enc_sshfp(&c); break;
    case 63: r = enc_zonemd(&c); break;
    case 256: r = enc_uri(&c); break;
    case 61: case 49: r = enc_b64only(&c); break;      /* OPENPGPKEY DHCID */
    case 64: case 65:                                  /* SVCB HTTPS */
        r = zs_rdata_svcb(&c);
        if (r == 0) return 0;
        r = r < 0 ? -1 : 0;
        break;
    default: return 0;
    }
    if (r) return -1;
    if (c.i < c.n) {
        char b[80];
        zs_err(st, c.t[c.i].line, "trailing garbage '%s'", zs_show(&c.t[c.i], b, sizeof b));
        return -1;
    }
    if (st->rd_overflow) {
        zs_err(st, line, "rdata longer than 65535 octets");
        return -1;
    }
    return 1;
}

/* RFC 3597 section 5: \# <length> <hex>...; the length must match the data. */
int zs_rdata_generic(zs_state *st, zs_tok *tok, size_t n, uint32_t line)
{
    zs_rdcur c = {st, tok, n, 1, line};
    uint32_t len;
    size_t got;
    st->rdlen = 0;
    st->rd_overflow = 0;
    if (zs_rd_num(&c, 65535, "generic rdata length", &len)) return -1;
    if (rest_hex(&c, "generic rdata", 1, &got)) return -1;
    if (got != len) {
        zs_err(st, line, "generic rdata length %u does not match %zu octets of data", len, got);
        return -1;
    }
    return 1;
}
