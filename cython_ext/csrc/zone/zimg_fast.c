/* zimg_fast.c — read side of the precomputed answers of a zone image: lookup by name hash and qtype, and validation of untrusted images. */
#include "zimg_format.h"

#include <stdio.h>

const zfast_blob *zimg_fast_answer(const zimg *z, const uint8_t *lname, size_t len, uint32_t h,
                                   uint16_t qtype, int do_bit)
{
    if (z->fast_off == 0 || zfast_qtype_special(qtype)) return NULL;
    int named;
    uint32_t b = zfast_table_lookup((const uint8_t *)z, zfast_slots(z), z->fast_mask, lname, len, h,
                                    qtype, do_bit, &named);
    return b == RD_NONE ? NULL : (const zfast_blob *)((const uint8_t *)z + b);
}

#define FAIL(...) do { if (errlen) snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* The stored octets of the ZFAST_REFS segments at s (avail octets of the records area
 * left) that write n octets, or -1 when they would not write exactly n, end without
 * ZFAST_SEG_LAST (or carry it early), read outside the area, or take records from
 * outside the image's rdata: what zfast_put_segs and the prefetch rely on.  qname_len:
 * the wire length of the name answered (0: not checked); each record's owner must then
 * point into the question (offsets 12 to 12 + qname_len - 1), never forward or at itself
 * (a pointer loop a client would have to refuse, RFC 1035 4.1.4). */
static long segs_stored(const zimg *z, const uint8_t *s, uint64_t avail, uint64_t n,
                        unsigned qname_len)
{
    uint64_t at = 0, o = 0, rd0 = z->rdata_off, rd1 = rd0 + z->rdata_len;
    const uint8_t *base = (const uint8_t *)z;
    for (;;) {
        uint16_t h;
        if (at + 2 > avail) return -1;
        memcpy(&h, s + at, 2);
        at += 2;
        if (!(h & ZFAST_SEG_REF)) {
            uint64_t l = h & ZFAST_SEG_LEN;
            if (l == 0 || at + l > avail || o + l > n) return -1;
            at += l;
            o += l;
        } else {
            zfast_zref f;
            if (at + sizeof f > avail) return -1;
            memcpy(&f, s + at, sizeof f);
            at += sizeof f;
            unsigned target = h & ZFAST_SEG_LEN;
            if (qname_len && (target < 12 || target >= 12 + qname_len)) return -1;
            uint64_t d = f.rdata_off;
            if (f.count == 0 || d < rd0 || rd1 > z->size) return -1;
            for (unsigned i = 0; i < f.count; i++) {
                if (d + 2 > rd1) return -1;
                uint16_t rdlen = rd_get16(base + d);
                if (d + 2 + rdlen > rd1 || o + 12 + rdlen > n) return -1;
                d += 2 + (uint64_t)rdlen;
                o += 12 + (uint64_t)rdlen;
            }
        }
        if (h & ZFAST_SEG_LAST) return o == n ? (long)at : -1;
        if (o >= n) return -1;
    }
}

int zimg_fast_blob_ok(const zimg *z, uint64_t b, int do_answer, unsigned name_len)
{
    uint64_t ro = z->fast_recs_off, re = ro + z->fast_recs_len;
    const uint8_t *base = (const uint8_t *)z;
    if (z->fast_off == 0 || b % 2 || b < ro || b + ZFAST_BLOB_HDR > re) return 0;
    const zfast_blob *bl = (const zfast_blob *)(base + b);
    uint64_t s0 = b + ZFAST_BLOB_HDR, n = bl->len;   /* stored from s0, written */
    if (bl->len > ZFAST_BLOB_MAX) return 0;
    if (bl->flags & ZFAST_SPLIT) {
        /* the head: an earlier plain blob of the area, no longer than the whole */
        uint32_t d;
        if (b + ZFAST_BLOB_HDR + 4 > re) return 0;
        memcpy(&d, base + b + ZFAST_BLOB_HDR, 4);
        uint64_t h = b - (uint64_t)d;
        if (d == 0 || d > b - ro || h % 2 || h + ZFAST_BLOB_HDR > re) return 0;
        const zfast_blob *hb = (const zfast_blob *)(base + h);
        if ((hb->flags & (ZFAST_SPLIT | ZFAST_REFS)) || hb->len > bl->len ||
            h + ZFAST_BLOB_HDR + hb->len > re)
            return 0;
        s0 += 4;
        n -= hb->len;
    }
    if (bl->flags & ZFAST_REFS)
        /* a DO answer with the AA bit only (put_referral moves stored bytes) */
        return do_answer && (bl->flags & ZFAST_AA) && s0 <= re &&
               segs_stored(z, base + s0, re - s0, n, name_len) >= 0;
    return s0 + n <= re;
}

/* Every offset the lookup follows lies inside the records area, so a forged image can at
 * worst give wrong answers, never a read outside the image; blob lengths are bounded by
 * ZFAST_BLOB_MAX and checked against the response room at query time. */
int zimg_fast_check(const zimg *z, char *err, size_t errlen)
{
    uint64_t size = z->size;
    if (z->fast_off == 0) {
        if (z->fast_mask || z->fast_recs_off || z->fast_recs_len) FAIL("bad answer table");
        return 0;
    }
    uint64_t slots = (uint64_t)z->fast_mask + 1;
    if ((z->fast_mask & (z->fast_mask + 1)) != 0 || z->fast_off % 8 ||
        z->fast_off < sizeof(struct zimg) || (uint64_t)z->fast_off + slots * 8 > size)
        FAIL("bad answer table");
    uint64_t ro = z->fast_recs_off, re = ro + z->fast_recs_len;
    if (ro % 4 || ro < sizeof(struct zimg) || re > size) FAIL("bad answer records");
    const uint8_t *base = (const uint8_t *)z;
    const zfast_slot *tab = zfast_slots(z);
    for (uint64_t i = 0; i < slots; i++) {
        uint64_t off = tab[i].rec;
        if (off == RD_NONE) continue;
        if (off % 4 || off < ro || off + sizeof(zfast_rec) > re) FAIL("answer slot %u: bad record", (unsigned)i);
        const zfast_rec *r = (const zfast_rec *)(base + off);
        if (r->name_len == 0 || r->below >= r->name_len) FAIL("answer slot %u: bad record", (unsigned)i);
        uint64_t ents = off + zfast_rec_head(r->below);
        uint64_t dos = r->flags == ZFAST_DO_TABLE ? ((uint64_t)r->nent + 1) * 4 : 0;
        if (r->flags > ZFAST_DO_TABLE ||
            ents + (uint64_t)r->nent * sizeof(zfast_ent) + dos > re)
            FAIL("answer slot %u: bad record", (unsigned)i);
        const zfast_ent *e = (const zfast_ent *)(base + ents);
        for (unsigned k = 0; k <= 2 * (unsigned)r->nent + 1; k++) {
            /* the plain answers, then the DO ones */
            uint64_t b = zfast_rec_blob(r, e, k % (r->nent + 1u), k > r->nent);
            if (b != RD_NONE && !zimg_fast_blob_ok(z, b, k > r->nent, r->name_len))
                FAIL("answer slot %u: bad blob", (unsigned)i);
        }
    }
    return 0;
}

/* ---- inspection (tests, tools) ---- */

void zimg_fast_clear(zimg *z)
{
    z->fast_off = z->fast_mask = z->fast_recs_off = z->fast_recs_len = 0;
    z->neg_off = z->neg_len = 0;
    z->wild_off = z->wild_len = 0;
}

void zimg_fast_clear_do(zimg *z)
{
    z->neg_off = z->neg_len = 0;           /* the NXDOMAIN proofs serve DO=1 only */
    z->wild_off = z->wild_len = 0;         /* (the wildcard answers' DO=1 proofs are theirs) */
    if (z->fast_off == 0) return;
    zfast_slot *tab = (zfast_slot *)((uint8_t *)z + z->fast_off);
    for (uint64_t i = 0; i <= z->fast_mask; i++)
        if (tab[i].rec != RD_NONE) ((zfast_rec *)((uint8_t *)z + tab[i].rec))->flags = 0;
}

uint32_t zimg_fast_names(const zimg *z)
{
    if (z->fast_off == 0) return 0;
    uint32_t n = 0;
    const zfast_slot *tab = zfast_slots(z);
    for (uint64_t i = 0; i <= z->fast_mask; i++) n += tab[i].rec != RD_NONE;
    return n;
}

size_t zimg_fast_do_bytes(const zimg *z)
{
    if (z->fast_off == 0) return 0;
    const uint8_t *base = (const uint8_t *)z;
    const zfast_slot *tab = zfast_slots(z);
    size_t total = 0;
    for (uint64_t i = 0; i <= z->fast_mask; i++) {
        if (tab[i].rec == RD_NONE) continue;
        const zfast_rec *r = (const zfast_rec *)(base + tab[i].rec);
        if (r->flags != ZFAST_DO_TABLE) continue;
        const zfast_ent *e = (const zfast_ent *)(base + tab[i].rec + zfast_rec_head(r->below));
        const uint32_t *d = (const uint32_t *)(e + r->nent);
        total += 4 * ((size_t)r->nent + 1);
        /* a DO offset shared with a plain answer or an earlier DO answer adds no bytes */
        for (unsigned k = 0; k <= r->nent; k++) {
            int seen = d[k] == RD_NONE;
            for (unsigned j = 0; !seen && j <= r->nent; j++)
                seen = d[k] == zfast_rec_blob(r, e, j, 0) || (j < k && d[k] == d[j]);
            if (seen) continue;
            const zfast_blob *bl = (const zfast_blob *)(base + d[k]);
            size_t n = bl->len, split = bl->flags & ZFAST_SPLIT ? 4 : 0;
            if (split) n -= zfast_split_head(bl)->len;
            if (bl->flags & ZFAST_REFS)
                n = (size_t)segs_stored(z, (const uint8_t *)bl + ZFAST_BLOB_HDR + split,
                                        z->fast_recs_off + z->fast_recs_len - (d[k] + ZFAST_BLOB_HDR + split), n, 0);
            total += ZFAST_BLOB_HDR + split + n;
        }
    }
    return total;
}

int zimg_fast_get(const zimg *z, const uint8_t *lname, uint16_t qtype, int do_bit,
                  uint16_t *counts, uint8_t *aa, uint8_t *rcode, const uint8_t **body)
{
    /* a name of another zone is not this zone's, as the zone table would have decided
     * (the records hold only the labels below the origin) */
    size_t len = rd_name_len(lname);
    const uint8_t *o = zimg_origin(z);
    size_t ol = rd_name_len(o);
    if (len < ol || memcmp(lname + len - ol, o, ol) != 0) return -1;
    const zfast_blob *b = zimg_fast_answer(z, lname, len, zfast_hash(lname, len), qtype, do_bit);
    if (!b) return -1;
    counts[0] = b->an;
    counts[1] = b->ns;
    counts[2] = b->ar;
    *aa = b->flags & ZFAST_AA;
    *rcode = b->flags >> 4;
    *body = (const uint8_t *)b + ZFAST_BLOB_HDR;
    if (b->flags & (ZFAST_SPLIT | ZFAST_REFS)) {   /* the whole body, as written */
        static _Thread_local uint8_t whole[ZFAST_BLOB_MAX];
        zfast_put_body(z, whole, b);
        *body = whole;
    }
    return b->len;
}
