/* zscan_rdata.c — presentation-to-wire encoders of the common RR types (RFC 1035
 * section 3.3 and the RFCs cited per type), and RFC 3597 generic rdata. */
#include "zscan_int.h"

#include <stdio.h>
#include <stdlib.h>

/* A cursor over the rdata tokens of one record. */
typedef struct rdcur {
    zs_state *st;
    zs_tok *t;
    size_t n, i;
    uint32_t line;
} rdcur;

static uint32_t cur_line(const rdcur *c)
{
    if (c->i < c->n) return c->t[c->i].line;
    return c->n ? c->t[c->n - 1].line : c->line;
}

static zs_tok *take(rdcur *c, const char *what)
{
    if (c->i < c->n) return &c->t[c->i++];
    if (c->n == 0) zs_err(c->st, c->line, "missing rdata");
    else zs_err(c->st, cur_line(c), "missing rdata field (%s)", what);
    return NULL;
}

static int bad_field(rdcur *c, const zs_tok *t, const char *what)
{
    char b[80];
    zs_err(c->st, t->line, "bad %s '%s'", what, zs_show(t, b, sizeof b));
    return -1;
}

static inline void put(zs_state *st, const void *p, size_t n)
{
    if (st->rdlen + n > ZS_RDATA_MAX) { st->rd_overflow = 1; return; }
    memcpy(st->rd + st->rdlen, p, n);
    st->rdlen += n;
}
static inline void put8(zs_state *st, uint32_t v) { uint8_t b = (uint8_t)v; put(st, &b, 1); }
static inline void put16(zs_state *st, uint32_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(st, b, 2);
}
static inline void put32(zs_state *st, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(st, b, 4);
}

static int num(rdcur *c, uint32_t max, const char *what, uint32_t *v)
{
    zs_tok *t = take(c, what);
    if (!t) return -1;
    if (t->quoted || zs_parse_u32(t, max, v)) return bad_field(c, t, what);
    return 0;
}
static int f_u8(rdcur *c, const char *what)
{
    uint32_t v;
    if (num(c, 255, what, &v)) return -1;
    put8(c->st, v);
    return 0;
}
static int f_u16(rdcur *c, const char *what)
{
    uint32_t v;
    if (num(c, 65535, what, &v)) return -1;
    put16(c->st, v);
    return 0;
}
static int f_u32(rdcur *c, const char *what)
{
    uint32_t v;
    if (num(c, 0xffffffffu, what, &v)) return -1;
    put32(c->st, v);
    return 0;
}
static int f_ttl(rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    const char *why;
    uint32_t v;
    if (!t) return -1;
    if (zs_parse_ttl(t, &v, &why)) return bad_field(c, t, what);
    put32(c->st, v);
    return 0;
}

/* Domain names in rdata are written uncompressed and case as given (RFC 3597 section 4). */
static int f_name(rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    uint8_t w[RD_NAME_MAX + 1];
    const char *why;
    char b[80];
    if (!t) return -1;
    int n = zs_name_parse(t->s, t->len, c->st->have_origin ? c->st->origin : NULL, w, &why);
    if (n < 0) {
        zs_err(c->st, t->line, "bad %s '%s': %s", what, zs_show(t, b, sizeof b), why);
        return -1;
    }
    put(c->st, w, (size_t)n);
    return 0;
}

/* <character-string> (RFC 1035 section 3.3): length octet and at most 255 octets. */
static int put_charstr(rdcur *c, const zs_tok *t)
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
    put(c->st, buf, (size_t)n + 1);
    return 0;
}
static int f_charstr(rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    return t ? put_charstr(c, t) : -1;
}

/* A string without a length octet, to the end of the rdata (CAA value, URI target). */
static int f_rawstr(rdcur *c, const char *what, int nonempty)
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
static int rest_hex(rdcur *c, const char *what, int allow_empty, size_t *outlen)
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
static int rest_b64(rdcur *c, const char *what)
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

static int f_algorithm(rdcur *c)
{
    zs_tok *t = take(c, "algorithm");
    if (!t) return -1;
    int a = zs_algorithm_from_text(t);
    if (a < 0) return bad_field(c, t, "algorithm");
    put8(c->st, (uint32_t)a);
    return 0;
}

static int f_type(rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    if (!t) return -1;
    int ty = zs_type_from_text(t->s, t->len);
    if (ty < 0) {
        char b[80];
        zs_err(c->st, t->line, "unknown type '%s'", zs_show(t, b, sizeof b));
        return -1;
    }
    put16(c->st, (uint32_t)ty);
    return 0;
}

/* ---- per type ---- */

/* RFC 1035 section 3.4.1; dotted quad, no leading zeros (as dnspython). */
static int parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= len || s[i] != '.') return -1;
            i++;
        }
        size_t st = i;
        uint32_t v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - st < 3) v = v * 10 + (uint32_t)(s[i++] - '0');
        if (i == st || v > 255 || (i - st > 1 && s[st] == '0')) return -1;
        out[part] = (uint8_t)v;
    }
    return i == len ? 0 : -1;
}

static int enc_a(rdcur *c)
{
    zs_tok *t = take(c, "address");
    uint8_t a[4];
    char b[80];
    if (!t) return -1;
    if (parse_ipv4(t->s, t->len, a)) {
        zs_err(c->st, t->line, "bad IPv4 address '%s'", zs_show(t, b, sizeof b));
        return -1;
    }
    put(c->st, a, 4);
    return 0;
}

static inline int hexv(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* RFC 4291 section 2.2 text forms, including "::" and a trailing dotted quad. */
static int parse_ipv6(const char *s, size_t len, uint8_t out[16])
{
    uint16_t g[8];
    int ng = 0, gap = -1;
    size_t i = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') { gap = 0; i = 2; }
    else if (len >= 1 && s[0] == ':') return -1;
    while (i < len) {
        size_t st = i;
        uint32_t v = 0;
        while (i < len && hexv(s[i]) >= 0 && i - st < 4) v = v * 16 + (uint32_t)hexv(s[i++]);
        if (i < len && s[i] == '.') {          /* embedded IPv4 in the last 32 bits */
            uint8_t a[4];
            if (ng > 6 || parse_ipv4(s + st, len - st, a)) return -1;
            g[ng++] = (uint16_t)(a[0] << 8 | a[1]);
            g[ng++] = (uint16_t)(a[2] << 8 | a[3]);
            i = len;
            break;
        }
        if (i == st || ng >= 8) return -1;
        g[ng++] = (uint16_t)v;
        if (i == len) break;
        if (s[i] != ':') return -1;
        i++;
        if (i < len && s[i] == ':') {
            if (gap >= 0) return -1;
            gap = ng;
            i++;
            if (i == len) break;
        } else if (i == len) {
            return -1;                          /* trailing single colon */
        }
    }
    if (gap < 0 && ng != 8) return -1;
    if (gap >= 0 && ng > 7) return -1;
    int zeros = 8 - ng;
    int o = 0;
    for (int k = 0; k < ng; k++) {
        if (k == gap) for (int z = 0; z < zeros; z++) { out[o++] = 0; out[o++] = 0; }
        out[o++] = (uint8_t)(g[k] >> 8);
        out[o++] = (uint8_t)g[k];
    }
    if (gap == ng) for (int z = 0; z < zeros; z++) { out[o++] = 0; out[o++] = 0; }
    return 0;
}

static int enc_aaaa(rdcur *c)
{
    zs_tok *t = take(c, "address");
    uint8_t a[16];
    char b[80];
    if (!t) return -1;
    if (parse_ipv6(t->s, t->len, a)) {
        zs_err(c->st, t->line, "bad IPv6 address '%s'", zs_show(t, b, sizeof b));
        return -1;
    }
    put(c->st, a, 16);
    return 0;
}

static int enc_name1(rdcur *c) { return f_name(c, "name"); }

static int enc_name2(rdcur *c)   /* RP, MINFO */
{
    return f_name(c, "mailbox") || f_name(c, "name");
}

static int enc_soa(rdcur *c)     /* RFC 1035 section 3.3.13 */
{
    return f_name(c, "primary name server") || f_name(c, "responsible mailbox") ||
           f_u32(c, "serial") || f_ttl(c, "refresh") || f_ttl(c, "retry") ||
           f_ttl(c, "expire") || f_ttl(c, "minimum");
}

static int enc_pref_name(rdcur *c)    /* MX, KX, AFSDB, RT */
{
    return f_u16(c, "preference") || f_name(c, "exchange");
}

static int enc_txt(rdcur *c)     /* RFC 1035 section 3.3.14: one or more strings */
{
    if (c->n == 0) { take(c, "string"); return -1; }
    while (c->i < c->n)
        if (put_charstr(c, &c->t[c->i++])) return -1;
    return 0;
}

static int enc_hinfo(rdcur *c)
{
    return f_charstr(c, "CPU") || f_charstr(c, "OS");
}

static int enc_srv(rdcur *c)     /* RFC 2782 */
{
    return f_u16(c, "priority") || f_u16(c, "weight") || f_u16(c, "port") ||
           f_name(c, "target");
}

static int enc_naptr(rdcur *c)   /* RFC 3403 section 4.1 */
{
    return f_u16(c, "order") || f_u16(c, "preference") || f_charstr(c, "flags") ||
           f_charstr(c, "service") || f_charstr(c, "regexp") || f_name(c, "replacement");
}

static int enc_caa(rdcur *c)     /* RFC 8659 section 4.1 */
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
    put8(c->st, (uint32_t)n);
    put(c->st, tag, (size_t)n);
    return f_rawstr(c, "CAA value", 0);
}

/* RFC 4034 section 5.1 (DS), RFC 7344 (CDS); digest lengths per RFC 3658/4509/6605. */
static int enc_ds(rdcur *c, uint16_t type)
{
    if (f_u16(c, "key tag") || f_algorithm(c)) return -1;
    uint32_t dt;
    size_t dlen;
    if (num(c, 255, "digest type", &dt)) return -1;
    put8(c->st, dt);
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

static int enc_dnskey(rdcur *c)  /* RFC 4034 section 2.2 */
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

static int f_sigtime(rdcur *c, const char *what)
{
    zs_tok *t = take(c, what);
    uint32_t v;
    if (!t) return -1;
    if (t->quoted || parse_sigtime(t, &v)) return bad_field(c, t, what);
    put32(c->st, v);
    return 0;
}

static int enc_rrsig(rdcur *c)   /* RFC 4034 section 3.2 */
{
    return f_type(c, "type covered") || f_algorithm(c) || f_u8(c, "labels") ||
           f_ttl(c, "original TTL") || f_sigtime(c, "signature expiration") ||
           f_sigtime(c, "signature inception") || f_u16(c, "key tag") ||
           f_name(c, "signer name") || rest_b64(c, "signature");
}

/* RFC 4034 section 4.1.2 type bit maps, from the remaining tokens. */
static int rest_bitmap(rdcur *c, const char *owner_type)
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
        put8(c->st, (uint32_t)win);
        put8(c->st, (uint32_t)len);
        put(c->st, bits + win * 32, (size_t)len);
    }
    return 0;
}

static int enc_nsec(rdcur *c)    /* RFC 4034 section 4.2 */
{
    return f_name(c, "next domain name") || rest_bitmap(c, "NSEC");
}

static int f_salt(rdcur *c)      /* RFC 5155 section 3.3: "-" is the empty salt */
{
    zs_tok *t = take(c, "salt");
    if (!t) return -1;
    if (t->len == 1 && t->s[0] == '-') { put8(c->st, 0); return 0; }
    uint8_t salt[256];
    int nib = -1;
    if (t->len > 510) return bad_field(c, t, "salt");
    int n = zs_hex_decode(t->s, t->len, salt, 255, &nib);
    if (n < 0 || nib >= 0) return bad_field(c, t, "salt");
    put8(c->st, (uint32_t)n);
    put(c->st, salt, (size_t)n);
    return 0;
}

static int enc_nsec3(rdcur *c)   /* RFC 5155 section 3.3 */
{
    if (f_u8(c, "hash algorithm") || f_u8(c, "flags") || f_u16(c, "iterations") || f_salt(c))
        return -1;
    zs_tok *t = take(c, "next hashed owner name");
    uint8_t h[256];
    if (!t) return -1;
    int n = t->len > 408 ? -1 : zs_b32hex_decode(t->s, t->len, h, 255);
    if (n <= 0) return bad_field(c, t, "next hashed owner name");
    put8(c->st, (uint32_t)n);
    put(c->st, h, (size_t)n);
    return rest_bitmap(c, "NSEC3");
}

static int enc_nsec3param(rdcur *c)  /* RFC 5155 section 4.2 */
{
    return f_u8(c, "hash algorithm") || f_u8(c, "flags") || f_u16(c, "iterations") ||
           f_salt(c);
}

static int enc_tlsa(rdcur *c)    /* RFC 6698 section 2.1; SMIMEA (RFC 8162) alike */
{
    uint32_t mt;
    size_t dlen;
    if (f_u8(c, "usage") || f_u8(c, "selector") || num(c, 255, "matching type", &mt)) return -1;
    put8(c->st, mt);
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

static int enc_sshfp(rdcur *c)   /* RFC 4255 section 3.1, RFC 6594 */
{
    uint32_t ft;
    size_t dlen;
    if (f_u8(c, "algorithm") || num(c, 255, "fingerprint type", &ft)) return -1;
    put8(c->st, ft);
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

static int enc_zonemd(rdcur *c)  /* RFC 8976 section 2.2 */
{
    uint32_t scheme, alg;
    size_t dlen;
    if (f_u32(c, "serial") || num(c, 255, "scheme", &scheme)) return -1;
    put8(c->st, scheme);
    if (num(c, 255, "hash algorithm", &alg)) return -1;
    put8(c->st, alg);
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

static int enc_uri(rdcur *c)     /* RFC 7553 section 4.5 */
{
    return f_u16(c, "priority") || f_u16(c, "weight") || f_rawstr(c, "URI target", 1);
}

static int enc_b64only(rdcur *c) /* OPENPGPKEY (RFC 7929), DHCID (RFC 4701) */
{
    return rest_b64(c, "base64 data");
}


/* ---- SVCB/HTTPS (RFC 9460 section 2): a fast path for the common parameters written
 * without escapes.  Anything unusual returns 0 so that dnspython reads (or rejects) the
 * record and the behaviour stays identical to it. ---- */

typedef struct svc_param {
    uint16_t key;
    const char *v;          /* value text (NULL when absent) */
    uint32_t vlen;
} svc_param;

static int svc_key(const char *s, size_t len)
{
    static const char *names[] = {"mandatory", "alpn", "no-default-alpn", "port",
                                  "ipv4hint", "ech", "ipv6hint"};
    for (int k = 0; k < 7; k++)
        if (strlen(names[k]) == len && memcmp(names[k], s, len) == 0) return k;
    if (len > 3 && len <= 8 && memcmp(s, "key", 3) == 0 && !(s[3] == '0' && len > 4)) {
        uint32_t v = 0;
        for (size_t i = 3; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            v = v * 10 + (uint32_t)(s[i] - '0');
        }
        /* keyNNN naming a known key has a wire-form value: leave it to dnspython */
        if (v <= 10 || v > 65535) return -1;
        return (int)v;
    }
    return -1;
}

static int cmp_param(const void *a, const void *b)
{
    return (int)((const svc_param *)a)->key - (int)((const svc_param *)b)->key;
}

/* Encode one comma-separated list item set; returns 0, or -1 to fall back. */
static int svc_value(zs_state *st, const svc_param *p)
{
    const char *v = p->v, *e = p->v + p->vlen;
    size_t lenpos = st->rdlen;
    put16(st, p->key);
    put16(st, 0);
    size_t start = st->rdlen;
    switch (p->key) {
    case 0: {                                    /* mandatory: sorted key numbers */
        uint16_t keys[64];
        int nk = 0;
        if (!v || !p->vlen) return -1;
        for (const char *q = v; q <= e;) {
            const char *c = memchr(q, ',', (size_t)(e - q));
            if (!c) c = e;
            int k = svc_key(q, (size_t)(c - q));
            if (k <= 0 || nk == 64) return -1;
            keys[nk++] = (uint16_t)k;
            q = c + 1;
        }
        for (int a = 1; a < nk; a++)               /* insertion sort, tiny lists */
            for (int b = a; b > 0 && keys[b - 1] > keys[b]; b--) {
                uint16_t x = keys[b]; keys[b] = keys[b - 1]; keys[b - 1] = x;
            }
        for (int a = 0; a < nk; a++) {
            if (a && keys[a] == keys[a - 1]) return -1;
            put16(st, keys[a]);
        }
        break;
    }
    case 1:                                      /* alpn: counted strings */
        if (!v || !p->vlen) return -1;
        for (const char *q = v; q <= e;) {
            const char *c = memchr(q, ',', (size_t)(e - q));
            if (!c) c = e;
            size_t l = (size_t)(c - q);
            if (l == 0 || l > 255) return -1;
            put8(st, (uint32_t)l);
            put(st, q, l);
            q = c + 1;
        }
        break;
    case 2:                                      /* no-default-alpn: no value */
        if (v && p->vlen) return -1;
        break;
    case 3: {
        zs_tok t = {v, p->vlen, 0, 0};
        uint32_t port;
        if (!v || zs_parse_u32(&t, 65535, &port)) return -1;
        put16(st, port);
        break;
    }
    case 4: case 6: {                            /* ipv4hint, ipv6hint */
        if (!v || !p->vlen) return -1;
        for (const char *q = v; q <= e;) {
            const char *c = memchr(q, ',', (size_t)(e - q));
            if (!c) c = e;
            uint8_t a[16];
            if (p->key == 4 ? parse_ipv4(q, (size_t)(c - q), a) : parse_ipv6(q, (size_t)(c - q), a))
                return -1;
            put(st, a, p->key == 4 ? 4 : 16);
            q = c + 1;
        }
        break;
    }
    case 5: {                                    /* ech: base64 ECHConfigList */
        int state = 0;
        if (!v || !p->vlen) return -1;
        int n = zs_b64_decode(v, p->vlen, st->rd + st->rdlen, ZS_RDATA_MAX - st->rdlen, &state);
        if (n < 6 || ((state >> 24) & 7)) return -1;
        const uint8_t *d = st->rd + st->rdlen;
        if ((d[0] << 8 | d[1]) != n - 2) return -1;
        st->rdlen += (size_t)n;
        break;
    }
    default:                                     /* keyNNNNN: opaque octets */
        if (v) put(st, v, p->vlen);
        break;
    }
    size_t vl = st->rdlen - start;
    if (vl > 65535) return -1;
    st->rd[lenpos + 2] = (uint8_t)(vl >> 8);
    st->rd[lenpos + 3] = (uint8_t)vl;
    return 0;
}

static int enc_svcb(rdcur *c)
{
    zs_state *st = c->st;
    uint32_t prio;
    if (num(c, 65535, "priority", &prio)) return -1;
    put16(st, prio);
    if (f_name(c, "target name")) return -1;
    svc_param ps[64];
    int np = 0, has_alpn = 0, has_nda = 0, mand = -1;
    while (c->i < c->n) {
        zs_tok *t = &c->t[c->i++];
        if (t->quoted || np == 64 || memchr(t->s, '\\', t->len)) return 0;
        const char *eq = memchr(t->s, '=', t->len);
        svc_param *p = &ps[np];
        size_t klen = eq ? (size_t)(eq - t->s) : t->len;
        int k = svc_key(t->s, klen);
        if (k < 0) return 0;
        p->key = (uint16_t)k;
        p->v = NULL;
        p->vlen = 0;
        if (eq && eq + 1 == t->s + t->len) {
            /* key="value": the quoted token must follow without a blank */
            zs_tok *q = c->i < c->n ? &c->t[c->i] : NULL;
            if (!q || !q->quoted || q->s != t->s + t->len + 1 || memchr(q->s, '\\', q->len))
                return 0;
            c->i++;
            p->v = q->s;
            p->vlen = q->len;
        } else if (eq) {
            p->v = eq + 1;
            p->vlen = (uint32_t)(t->s + t->len - eq - 1);
        }
        if (k == 1) has_alpn = 1;
        if (k == 2) has_nda = 1;
        if (k == 0) mand = np;
        np++;
    }
    if (np && prio == 0) return 0;                   /* AliasMode has no parameters */
    if (has_nda && !has_alpn) return 0;
    qsort(ps, (size_t)np, sizeof *ps, cmp_param);
    for (int a = 1; a < np; a++)
        if (ps[a].key == ps[a - 1].key) return 0;
    for (int a = 0; a < np; a++)
        if (svc_value(st, &ps[a])) return 0;
    if (mand >= 0) {
        /* every key listed as mandatory must be present (RFC 9460 section 8); after the
         * sort the mandatory parameter is ps[0] and its list was validated above */
        const char *q = ps[0].v, *e = ps[0].v + ps[0].vlen;
        while (q <= e) {
            const char *cm = memchr(q, ',', (size_t)(e - q));
            if (!cm) cm = e;
            int key = svc_key(q, (size_t)(cm - q)), found = 0;
            for (int j = 1; j < np; j++) found |= ps[j].key == key;
            if (!found) return 0;
            q = cm + 1;
        }
    }
    return 1;
}

int zs_rdata_encode(zs_state *st, uint16_t type, zs_tok *tok, size_t n, uint32_t line)
{
    rdcur c = {st, tok, n, 0, line};
    int r;
    st->rdlen = 0;
    st->rd_overflow = 0;
    switch (type) {
    case 1: r = enc_a(&c); break;
    case 28: r = enc_aaaa(&c); break;
    case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 39:
        r = enc_name1(&c); break;                      /* NS MD MF CNAME MB MG MR PTR DNAME */
    case 6: r = enc_soa(&c); break;
    case 15: case 18: case 21: case 36: r = enc_pref_name(&c); break;   /* MX AFSDB RT KX */
    case 16: case 99: r = enc_txt(&c); break;          /* TXT SPF */
    case 13: r = enc_hinfo(&c); break;
    case 14: case 17: r = enc_name2(&c); break;        /* MINFO RP */
    case 33: r = enc_srv(&c); break;
    case 35: r = enc_naptr(&c); break;
    case 257: r = enc_caa(&c); break;
    case 43: case 59: case 32768: case 32769: r = enc_ds(&c, type); break; /* DS CDS TA DLV */
    case 48: case 60: r = enc_dnskey(&c); break;       /* DNSKEY CDNSKEY */
    case 46: r = enc_rrsig(&c); break;
    case 47: r = enc_nsec(&c); break;
    case 50: r = enc_nsec3(&c); break;
    case 51: r = enc_nsec3param(&c); break;
    case 52: case 53: r = enc_tlsa(&c); break;         /* TLSA SMIMEA */
    case 44: r = enc_sshfp(&c); break;
    case 63: r = enc_zonemd(&c); break;
    case 256: r = enc_uri(&c); break;
    case 61: case 49: r = enc_b64only(&c); break;      /* OPENPGPKEY DHCID */
    case 64: case 65:                                  /* SVCB HTTPS */
        r = enc_svcb(&c);
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
    rdcur c = {st, tok, n, 1, line};
    uint32_t len;
    size_t got;
    st->rdlen = 0;
    st->rd_overflow = 0;
    if (num(&c, 65535, "generic rdata length", &len)) return -1;
    if (rest_hex(&c, "generic rdata", 1, &got)) return -1;
    if (got != len) {
        zs_err(st, line, "generic rdata length %u does not match %zu octets of data", len, got);
        return -1;
    }
    return 1;
}
