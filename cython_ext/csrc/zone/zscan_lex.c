/* zscan_lex.c — master-file lexer (RFC 1035 section 5.1) and field decoders: names,
 * numbers, TTLs, addresses, character strings, hex, base64 and base32hex. */
#include "zscan_int.h"

#include <stdlib.h>

void zs_lexer_init(zs_lexer *lx, const char *buf, size_t len, uint32_t line)
{
    lx->p = buf;
    lx->end = buf + len;
    lx->line = line;
    lx->paren = 0;
    lx->paren_line = 0;
}

static int push_tok(zs_state *st, const char *s, size_t len, uint32_t line, int quoted)
{
    if (st->ntok == st->tokcap) {
        size_t cap = st->tokcap ? st->tokcap * 2 : 64;
        zs_tok *v = realloc(st->tok, cap * sizeof *v);
        if (!v) { st->oom = 1; return -1; }
        st->tok = v;
        st->tokcap = cap;
    }
    zs_tok *t = &st->tok[st->ntok++];
    t->s = s;
    t->len = (uint32_t)len;
    t->line = line;
    t->quoted = (uint8_t)quoted;
    return 0;
}

static inline int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Delimiters of an unquoted token: blanks, newline, comment, parentheses and quote. */
static inline int is_delim(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '(' ||
           c == ')' || c == '"';
}

int zs_lex_entry(zs_state *st, zs_lexer *lx, int *leading_ws, uint32_t *line, int *bad)
{
    const char *p = lx->p, *e = lx->end;
    st->ntok = 0;
    *bad = 0;
    *line = lx->line;
    if (p >= e) return 0;
    *leading_ws = is_blank(*p);
    for (;;) {
        while (p < e && is_blank(*p)) p++;
        if (p >= e) {
            if (lx->paren) {
                zs_err(st, lx->paren_line, "unbalanced parentheses");
                lx->paren = 0;
                *bad = 1;
            }
            break;
        }
        char c = *p;
        if (c == '\n') {
            lx->line++;
            p++;
            if (lx->paren) continue;     /* newlines inside ( ) are blanks */
            break;
        }
        if (c == ';') {                  /* comment to end of line */
            const char *nl = memchr(p, '\n', (size_t)(e - p));
            p = nl ? nl : e;
            continue;
        }
        if (c == '(') {
            if (!lx->paren) lx->paren_line = lx->line;
            lx->paren++;
            p++;
            continue;
        }
        if (c == ')') {
            if (!lx->paren) {
                zs_err(st, lx->line, "unbalanced parentheses");
                *bad = 1;
            } else {
                lx->paren--;
            }
            p++;
            continue;
        }
        if (c == '"') {
            const char *s = ++p;
            uint32_t tline = lx->line;
            while (p < e && *p != '"' && *p != '\n') {
                if (*p == '\\' && p + 1 < e && p[1] != '\n') p++;
                p++;
            }
            if (p >= e || *p == '\n') {
                zs_err(st, tline, "unterminated quoted string");
                *bad = 1;
                if (push_tok(st, s, (size_t)(p - s), tline, 1)) return -1;
                continue;                /* the newline ends the entry */
            }
            if (push_tok(st, s, (size_t)(p - s), tline, 1)) return -1;
            p++;
            continue;
        }
        const char *s = p;
        while (p < e && !is_delim(*p)) {
            if (*p == '\\') {
                if (p + 1 >= e || p[1] == '\n') {
                    zs_err(st, lx->line, "backslash at end of line");
                    *bad = 1;
                    p++;
                    break;
                }
                p++;
            }
            p++;
        }
        if (push_tok(st, s, (size_t)(p - s), lx->line, 0)) return -1;
    }
    lx->p = p;
    return 1;
}

/* ---- names (RFC 1035 section 5.1: "@", relative names, \X and \DDD escapes) ---- */

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Decode one possibly escaped character at s[*i]; returns the byte or -1. */
static inline int unescape_char(const char *s, size_t len, size_t *i, const char **why)
{
    char c = s[*i];
    if (c != '\\') { (*i)++; return (uint8_t)c; }
    if (*i + 1 >= len) { *why = "bad escape"; return -1; }
    if (is_digit(s[*i + 1])) {
        if (*i + 3 >= len || !is_digit(s[*i + 2]) || !is_digit(s[*i + 3])) {
            *why = "bad \\DDD escape";
            return -1;
        }
        int v = (s[*i + 1] - '0') * 100 + (s[*i + 2] - '0') * 10 + (s[*i + 3] - '0');
        if (v > 255) { *why = "bad \\DDD escape"; return -1; }
        *i += 4;
        return v;
    }
    *i += 2;
    return (uint8_t)s[*i - 1];
}

int zs_name_parse(const char *s, size_t len, const uint8_t *origin, uint8_t *out,
                  const char **why)
{
    size_t o = 0;           /* output length so far */
    if (len == 1 && s[0] == '@') {
        if (!origin) { *why = "'@' without an origin"; return -1; }
        size_t ol = rd_name_len(origin);
        memcpy(out, origin, ol);
        return (int)ol;
    }
    if (len == 1 && s[0] == '.') { out[0] = 0; return 1; }
    if (len == 0) { *why = "empty name"; return -1; }
    size_t i = 0;
    int absolute = 0;
    while (i < len) {
        size_t lab = o++;
        int ll = 0;
        if (s[i] == '.') { *why = "empty label"; return -1; }
        while (i < len && s[i] != '.') {
            int c;
            if (s[i] == '\\') {
                c = unescape_char(s, len, &i, why);
                if (c < 0) return -1;
            } else {
                c = (uint8_t)s[i++];
            }
            if (++ll > RD_LABEL_MAX) { *why = "label too long"; return -1; }
            if (o >= RD_NAME_MAX) { *why = "name too long"; return -1; }
            out[o++] = (uint8_t)c;
        }
        out[lab] = (uint8_t)ll;
        if (i < len) {          /* at a dot */
            i++;
            if (i == len) absolute = 1;
        }
    }
    if (absolute) {
        if (o + 1 > RD_NAME_MAX) { *why = "name too long"; return -1; }
        out[o++] = 0;
        return (int)o;
    }
    if (!origin) { *why = "relative name without an origin"; return -1; }
    size_t ol = rd_name_len(origin);
    if (o + ol > RD_NAME_MAX) { *why = "name too long"; return -1; }
    memcpy(out + o, origin, ol);
    return (int)(o + ol);
}

int zs_name_from_text(const char *s, size_t len, const uint8_t *origin, uint8_t *out)
{
    const char *why;
    return zs_name_parse(s, len, origin, out, &why);
}

/* ---- numbers ---- */

int zs_parse_u32(const zs_tok *t, uint32_t max, uint32_t *v)
{
    uint64_t x = 0;
    if (t->len == 0 || t->len > 10) return -1;
    for (uint32_t i = 0; i < t->len; i++) {
        char c = t->s[i];
        if (!is_digit(c)) return -1;
        x = x * 10 + (uint64_t)(c - '0');
    }
    if (x > max) return -1;
    *v = (uint32_t)x;
    return 0;
}

/* TTL: decimal seconds or BIND units (1w2d3h4m5s), at most 2^32-1 (dnspython's range). */
int zs_parse_ttl(const zs_tok *t, uint32_t *v, const char **why)
{
    uint64_t total = 0, cur = 0;
    int need_digit = 1, units = 0;
    if (t->len == 0 || t->quoted) { *why = "bad TTL"; return -1; }
    for (uint32_t i = 0; i < t->len; i++) {
        char c = t->s[i];
        if (is_digit(c)) {
            cur = cur * 10 + (uint64_t)(c - '0');
            if (cur > 0xffffffffull * 2) { *why = "TTL out of range"; return -1; }
            need_digit = 0;
            continue;
        }
        if (need_digit) { *why = "bad TTL"; return -1; }
        uint64_t mul;
        switch (c | 0x20) {
        case 'w': mul = 604800; break;
        case 'd': mul = 86400; break;
        case 'h': mul = 3600; break;
        case 'm': mul = 60; break;
        case 's': mul = 1; break;
        default: *why = "bad TTL"; return -1;
        }
        total += cur * mul;
        if (total > 0xffffffffull) { *why = "TTL out of range"; return -1; }
        cur = 0;
        need_digit = 1;
        units = 1;
    }
    if (!units) total = cur;
    else if (!need_digit) { *why = "bad TTL"; return -1; }
    if (total > 0xffffffffull) { *why = "TTL out of range"; return -1; }
    *v = (uint32_t)total;
    return 0;
}

/* ---- strings ---- */

int zs_unescape(const zs_tok *t, uint8_t *out, size_t max, const char **why)
{
    size_t o = 0, i = 0;
    while (i < t->len) {
        int c;
        if (t->s[i] == '\\') {
            c = unescape_char(t->s, t->len, &i, why);
            if (c < 0) return -1;
        } else {
            c = (uint8_t)t->s[i++];
        }
        if (o >= max) { *why = "string too long"; return -1; }
        out[o++] = (uint8_t)c;
    }
    return (int)o;
}

/* ---- binary encodings; state carries across tokens (whitespace inside is allowed) ---- */

static inline int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends to out; *nibble is -1 or a pending high nibble. Returns bytes written or -1. */
int zs_hex_decode(const char *s, size_t len, uint8_t *out, size_t max, int *nibble)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = hexval(s[i]);
        if (v < 0) return -1;
        if (*nibble < 0) {
            *nibble = v;
        } else {
            if (o >= max) return -1;
            out[o++] = (uint8_t)(*nibble << 4 | v);
            *nibble = -1;
        }
    }
    return (int)o;
}

static inline int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* RFC 4648 section 4.  state: bits 0-23 accumulator, 24-26 count of sextets in the
 * quantum, bit 28 padding seen, bits 29-30 padding count.  Returns bytes written or -1.
 * The caller checks zs_b64_complete() at the end. */
int zs_b64_decode(const char *s, size_t len, uint8_t *out, size_t max, int *state)
{
    uint32_t acc = (uint32_t)*state & 0xffffff;
    int n = (*state >> 24) & 7, pad = (*state >> 29) & 3;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '=') {
            if (n < 2 || pad + n >= 4) return -1;
            pad++;
            if (n + pad == 4) {
                /* quantum done: n=2 -> 1 byte, n=3 -> 2 bytes */
                uint32_t v = acc << (6 * (4 - n));
                if (o + (size_t)(n - 1) > max) return -1;
                out[o++] = (uint8_t)(v >> 16);
                if (n == 3) out[o++] = (uint8_t)(v >> 8);
                n = 0;
                acc = 0;
                pad = 3;        /* marks "finished with padding": nothing may follow */
            }
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) return -1;
        acc = (acc << 6) | (uint32_t)v;
        if (++n == 4) {
            if (o + 3 > max) return -1;
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            n = 0;
            acc = 0;
        }
    }
    *state = (int)((acc & 0xffffff) | ((uint32_t)n << 24) | ((uint32_t)pad << 29));
    return (int)o;
}

/* RFC 4648 section 7, without padding (RFC 5155 section 3.3). */
int zs_b32hex_decode(const char *s, size_t len, uint8_t *out, size_t max)
{
    uint64_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'v') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'V') v = c - 'A' + 10;
        else return -1;
        acc = (acc << 5) | (uint64_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o >= max) return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* leftover bits must be zero and fewer than 5 (canonical encoding) */
    if (bits >= 5 || (acc & ((1u << bits) - 1))) return -1;
    return (int)o;
}

/* ---- addresses ---- */

/* RFC 1035 section 3.4.1; dotted quad, no leading zeros (as dnspython). */
int zs_parse_ipv4(const char *s, size_t len, uint8_t out[4])
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

int zs_parse_ipv6(const char *s, size_t len, uint8_t out[16])
{
    uint16_t g[8];
    int ng = 0, gap = -1;
    size_t i = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') { gap = 0; i = 2; }
    else if (len >= 1 && s[0] == ':') return -1;
    while (i < len) {
        size_t st = i;
        uint32_t v = 0;
        while (i < len && hexval(s[i]) >= 0 && i - st < 4) v = v * 16 + (uint32_t)hexval(s[i++]);
        if (i < len && s[i] == '.') {          /* embedded IPv4 in the last 32 bits */
            uint8_t a[4];
            if (ng > 6 || zs_parse_ipv4(s + st, len - st, a)) return -1;
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

