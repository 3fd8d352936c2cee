/* xfr_wire.c — transfer records with their names compressed against the previous owner's suffixes (RFC 1035 4.1.4). */
#include "xfr_wire.h"

#include <string.h>

/* Label offsets of an uncompressed wire name; returns the label count, *len its length. */
static int labels_of(const uint8_t *name, uint8_t loff[128], size_t *len)
{
    int n = 0;
    size_t l = 0;
    while (name[l] && n < 127) {
        loff[n++] = (uint8_t)l;
        l += name[l] + 1u;
    }
    *len = l + 1;
    return n;
}

void xw_start(xw_names *w, const rd_ctx *c, const uint8_t *apex)
{
    w->prev = NULL;
    w->prev_n = 0;
    if (!c->question_ok || c->len <= 12) return;
    size_t al = rd_name_len(apex);
    if (c->qname_wlen != al || memcmp(c->r + 12, apex, al) != 0) return;
    size_t len;
    w->prev_n = (uint8_t)labels_of(apex, w->prev_loff, &len);
    for (int k = 0; k < w->prev_n; k++)
        w->at[w->prev_n - k] = (uint16_t)(12 + w->prev_loff[k]);
    w->prev = apex;
}

/* Write `name` at c->len (room checked by the caller: at most its length is needed), as
 * its own leading labels and a pointer to the deepest suffix it shares with the previous
 * owner that a pointer reaches.  Names are compared octet for octet, so the case the zone
 * was written in travels unchanged.  An owner becomes the previous owner. */
static void put_name(rd_ctx *c, xw_names *w, const uint8_t *name, int owner)
{
    if (name == w->prev && w->at[w->prev_n]) {      /* the same node again: most records */
        uint16_t at = w->at[w->prev_n];
        c->r[c->len] = (uint8_t)(0xC0 | at >> 8);
        c->r[c->len + 1] = (uint8_t)at;
        c->len += 2;
        return;
    }
    uint8_t loff[128];
    size_t len;
    int n = labels_of(name, loff, &len);
    int d = 0;                                    /* labels shared with prev, from the root */
    if (name == w->prev) {
        d = n;
    } else if (w->prev) {
        for (int i = n - 1, j = w->prev_n - 1; i >= 0 && j >= 0; i--, j--) {
            const uint8_t *a = name + loff[i], *b = w->prev + w->prev_loff[j];
            if (a[0] != b[0] || memcmp(a + 1, b + 1, a[0]) != 0) break;
            d++;
        }
    }
    while (d > 0 && !w->at[d]) d--;
    size_t lit = d ? loff[n - d] : len;           /* octets written as they are */
    uint8_t *o = c->r + c->len;
    memcpy(o, name, lit);
    if (d) {
        o[lit] = (uint8_t)(0xC0 | w->at[d] >> 8);
        o[lit + 1] = (uint8_t)w->at[d];
    }
    if (owner) {
        /* Its suffixes down to the shared one are new in the message; deeper ones are the
         * same names as before and keep their offsets. */
        for (int k = 0; k < n - d; k++) {
            size_t at = c->len + loff[k];
            w->at[n - k] = at <= 0x3FFF ? (uint16_t)at : 0;
        }
        w->prev = name;
        w->prev_n = (uint8_t)n;
        memcpy(w->prev_loff, loff, (size_t)n);
    }
    c->len += d ? lit + 2 : len;
}

int xw_put_rr(rd_ctx *c, xw_names *w, const uint8_t *owner, uint16_t type, uint16_t rclass,
              uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
    /* Compression only shortens, so the uncompressed size bounds what is written (the
     * longest name first: no walk of the owner in the common case). */
    if (c->len + (RD_NAME_MAX + 1) + 10 + rdlen > c->limit &&
        c->len + rd_name_len(owner) + 10 + rdlen > c->limit)
        return -1;
    put_name(c, w, owner, 1);
    uint8_t *f = c->r + c->len;
    rd_put_rr_fields(f, type, rclass, ttl);
    c->len += 10;
    size_t start = c->len;
    int prefix, names = rd_rdata_names(type, rdata, rdlen, &prefix);
    size_t o = 0;
    if (names) {
        memcpy(c->r + c->len, rdata, (size_t)prefix);
        c->len += (size_t)prefix;
        o = (size_t)prefix;
        for (int i = 0; i < names; i++) {
            size_t nl = rd_wire_name_check(rdata + o, rdlen - o);
            put_name(c, w, rdata + o, 0);
            o += nl;
        }
    }
    memcpy(c->r + c->len, rdata + o, rdlen - o);
    c->len += rdlen - o;
    rd_put16(f + 8, (uint16_t)(c->len - start));
    c->count[RD_SEC_AN]++;
    return 0;
}
