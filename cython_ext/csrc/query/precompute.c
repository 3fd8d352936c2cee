/* precompute.c — the precompute pass: runs the general engine over a freshly built zone image, on every
 * (name, qtype) whose answer cannot depend on the client (but for DO), and appends the answers to the image. */
#include "engine_int.h"
#include "precompute.h"
#include "precompute_int.h"
#include "zone/zimg_format.h"
#include "zone/zimg_dnssec.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

enum { FANS_MAX = 250 };

/* One answer of a node before it is laid out, to a query without DO and with it. */
typedef struct fans {
    uint16_t qtype;
    uint16_t n;                /* blob bytes (header included); 0 = general path */
    uint16_t n_do;             /* the same for DO=1 (RRSIGs and proofs, RFC 4035 3.1) */
    uint8_t cache;             /* the NODATA to note for names of this length */
    uint32_t stored;           /* image offset of an equal blob already stored, or RD_NONE */
    uint8_t *blob;             /* in the scratch area */
    uint8_t *blob_do;
} fans;

typedef struct fctx {
    rd_db db;
    const zimg *zones[1];
    rd_transport tcp;
    const zimg *z;
    uint8_t *types;            /* bitmap of the types the zone holds */
    uint16_t *ztypes;          /* the same as a list, special qtypes left out */
    uint32_t nz;
    int dnssec;                /* the zone holds RRSIG, NSEC or NSEC3 records */
    uint16_t probe;            /* a qtype no node holds and none special */
    const uint8_t *soa_names[2];  /* MNAME, RNAME (lower-case) */
    uint8_t soa_lower[2][RD_NAME_MAX + 1];
    uint16_t soa_tail_off[2], soa_tail_len[2];   /* soa_tail(); len 0: none */
    uint32_t nodata_by_len[RD_NAME_MAX + 1];   /* image offset of a NODATA blob, or 0 */
    int seen_clear;            /* seen is zeroed (on first use: most zones have no CNAME) */
    uint8_t q[12 + RD_NAME_MAX + 1 + 4 + 11];
    uint8_t resp[65535];
    uint8_t seen[8192];        /* chain_qtypes: the types along a chain, zero between uses */
} fctx;

static void blob_header(uint8_t *out, size_t body, unsigned an, unsigned ns, unsigned ar,
                        int aa, unsigned rcode)
{
    zfast_blob h;
    h.len = (uint16_t)body;
    h.an = (uint8_t)an;
    h.ns = (uint8_t)ns;
    h.ar = (uint8_t)ar;
    h.flags = (uint8_t)((aa ? ZFAST_AA : 0) | rcode << 4);
    memcpy(out, &h, ZFAST_BLOB_HDR);
}

/* Run the general engine on (name, qtype) over TCP (no size limit) and turn the response
 * into a blob at out (ZFAST_BLOB_HDR + ZFAST_BLOB_MAX bytes); returns its size, or 0 when
 * the answer may not be reused (an rcode other than NOERROR/NXDOMAIN, TC, too big).
 * Without do_bit the query has no EDNS; with it, an OPT record with DO (RFC 3225), and
 * the OPT record of the response (written by rd_finish for every query, RFC 6891 7) is
 * left out of the blob; one carrying options (an extended error, RFC 8914) means the
 * answer is not the same for every client, so it is not stored. */
static size_t engine_answer(fctx *f, const uint8_t *name, size_t nlen, uint16_t qtype, uint8_t *out,
                            int do_bit)
{
    uint8_t *q = f->q;
    memset(q, 0, 12);
    q[5] = 1;                                      /* QDCOUNT 1 */
    memcpy(q + 12, name, nlen);
    rd_put16(q + 12 + nlen, qtype);
    rd_put16(q + 14 + nlen, RD_C_IN);
    size_t qend = 12 + nlen + 4, qlen = qend;
    if (do_bit) {
        uint8_t *o = q + qend;
        o[0] = 0;                                  /* root owner, RFC 6891 6.1.2 */
        rd_put16(o + 1, RD_T_OPT);
        rd_put16(o + 3, 4096);
        rd_put32(o + 5, 0x8000);                   /* version 0, DO */
        rd_put16(o + 9, 0);
        q[11] = 1;                                 /* ARCOUNT 1 */
        qlen += 11;
    }
    size_t n = rd_answer(&f->db, q, qlen, f->resp, sizeof f->resp, &f->tcp, NULL);
    if (n < qend) return 0;
    const uint8_t *r = f->resp;
    uint8_t rcode = r[3] & 0xF;
    if ((r[2] & RD_F2_TC) || (rcode != RD_RCODE_NOERROR && rcode != RD_RCODE_NXDOMAIN)) return 0;
    if (rd_get16(r + 4) != 1 || memcmp(r + 12, q + 12, nlen + 4) != 0) return 0;
    unsigned an = rd_get16(r + 6), ns = rd_get16(r + 8), ar = rd_get16(r + 10);
    if (do_bit) {
        const uint8_t *o = r + n - 11;
        if (n < qend + 11 || ar == 0 || o[0] != 0 || rd_get16(o + 1) != RD_T_OPT ||
            rd_get32(o + 5) != 0x8000 || rd_get16(o + 9) != 0)
            return 0;
        n -= 11;
        ar--;
    }
    size_t body = n - qend;
    if (body > ZFAST_BLOB_MAX || an > 255 || ns > 255 || ar > 255) return 0;
    blob_header(out, body, an, ns, ar, r[2] & RD_F2_AA, rcode);
    memcpy(out + ZFAST_BLOB_HDR, r + qend, body);
    return ZFAST_BLOB_HDR + body;
}

/* The DO=1 answer of (name, qtype) into a, at *sp in the scratch area.  A zone without
 * DNSSEC records has nothing to add for DO: its records say so (ZFAST_DO_SAME) and the
 * engine is not run twice. */
static void do_answer(fctx *f, const uint8_t *name, size_t nlen, uint16_t qtype, fans *a,
                      uint8_t **sp)
{
    a->blob_do = *sp;
    a->n_do = f->dnssec ? (uint16_t)engine_answer(f, name, nlen, qtype, *sp, 1) : 0;
    *sp += a->n_do;
}

/* The size of a blob already in the image, header included. */
static size_t stored_size(const uint8_t *blob)
{
    zfast_blob h;
    memcpy(&h, blob, ZFAST_BLOB_HDR);
    return ZFAST_BLOB_HDR + (size_t)h.len;
}

static int same_bytes(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

/* Types whose answer at a plain node is just its records: rdata copied as is (no name
 * to compress, RFC 3597 4) and nothing for the additional section. */
static int type_simple(uint16_t t)
{
    switch (t) {
    case RD_T_NS: case 3: case 4: case RD_T_CNAME: case 7: case 8: case 9: case RD_T_PTR:
    case RD_T_SOA: case 14: case RD_T_MX: case RD_T_SRV: case RD_T_SVCB: case RD_T_HTTPS:
    case RD_T_DNAME:
        return 0;
    default:
        return !zfast_qtype_special(t);
    }
}

/* The answer of a plain node (exact match, no cut, no DNAME, no CNAME) to the type of a
 * simple rrset, written as the general path writes it (engine_write.c rd_put_rrset): each
 * owner a pointer to the question (offset 12), class IN, the rrset's TTL, rdata as is. */
static size_t direct_answer(const zimg *z, const zrrset *rs, uint8_t *out)
{
    const uint8_t *p = zimg_base(z) + rs->rdata_off;
    const uint8_t *end = p + rs->rdata_len;
    size_t o = ZFAST_BLOB_HDR;
    unsigned an = 0;
    for (unsigned i = 0; i < rs->count && p + 2 <= end; i++) {
        uint16_t rdlen = rd_get16(p);
        if (p + 2 + rdlen > end) return 0;
        if (o + 12 + rdlen > ZFAST_BLOB_HDR + ZFAST_BLOB_MAX || an == 255) return 0;
        out[o] = 0xC0;
        out[o + 1] = 12;
        rd_put16(out + o + 2, rs->type);
        rd_put16(out + o + 4, RD_C_IN);
        rd_put32(out + o + 6, rs->ttl);
        rd_put16(out + o + 10, rdlen);
        memcpy(out + o + 12, p + 2, rdlen);
        o += 12 + (size_t)rdlen;
        p += 2 + (size_t)rdlen;
        an++;
    }
    blob_header(out, o - ZFAST_BLOB_HDR, an, 0, 0, 1, RD_RCODE_NOERROR);
    return o;
}

static int type_in(const uint8_t *bits, uint16_t t) { return bits[t >> 3] >> (t & 7) & 1; }

/* Can a plain node take the NODATA answer cached for its name length?  The response is
 * the apex SOA (RFC 2308 3); its names (owner, MNAME, RNAME) compress against the question
 * name, so two names of one length get the same bytes when the question shares no more
 * with MNAME and RNAME than the origin's labels: when its last origin_labels + 1 labels
 * are not MNAME's or RNAME's (soa_tail, made once: this runs for every plain node). */
static int nodata_cacheable(const fctx *f, const znode *nd, const uint8_t *name)
{
    int ol = (int)f->z->origin_labels;
    if ((int)nd->labels <= ol || (!f->soa_tail_len[0] && !f->soa_tail_len[1])) return 1;
    const uint8_t *t = name;
    for (int k = (int)nd->labels - ol - 1; k > 0; k--) t += *t + 1;
    size_t tl = nd->name_len - (size_t)(t - name);
    for (int i = 0; i < 2; i++)
        if (f->soa_tail_len[i] == tl && memcmp(f->soa_lower[i] + f->soa_tail_off[i], t, tl) == 0)
            return 0;
    return 1;
}

/* Where the last origin_labels + 1 labels of a SOA name begin (the tail nodata_cacheable
 * compares), and their length; length 0 when it has no more labels than the origin. */
static void soa_tail(fctx *f, int i)
{
    const uint8_t *lab[ZIMG_MAX_LABELS];
    int n = zimg_labels_of(f->soa_lower[i], lab), ol = (int)f->z->origin_labels;
    f->soa_tail_off[i] = f->soa_tail_len[i] = 0;
    if (n <= ol) return;
    f->soa_tail_off[i] = (uint16_t)(lab[n - ol - 1] - f->soa_lower[i]);
    f->soa_tail_len[i] = (uint16_t)(rd_name_len(f->soa_lower[i]) - f->soa_tail_off[i]);
}

/* chain_qtypes' answer when its qtypes would not fit in FANS_MAX entries (a record of the
 * answer table lists at most that many): the name is left to the general path, never
 * listed in part (the qtypes left out would get the default's answer). */
#define CHAIN_TOO_MANY UINT32_MAX

/* For a CNAME owner: the types held along its chain when every link ends at an existing
 * plain node of the zone (then only those qtypes can be answered differently from the
 * default); otherwise every type of the zone.  Returns the count written to out (at most
 * FANS_MAX), or CHAIN_TOO_MANY. */
static uint32_t chain_qtypes(fctx *f, znode_id v, uint16_t *out)
{
    const zimg *z = f->z;
    const znode *nodes = (const znode *)((const uint8_t *)z + z->nodes_off);
    uint8_t *seen = f->seen;
    uint8_t lname[RD_NAME_MAX + 1];
    znode_id cur = v, hops[RD_CNAME_MAX + 1];
    int nhops = 0;
    uint32_t n = 0;
    if (!f->seen_clear) {
        memset(seen, 0, sizeof f->seen);
        f->seen_clear = 1;
    }
    for (int hop = 0; hop <= RD_CNAME_MAX; hop++) {
        unsigned cnt;
        const zrrset *rs = zimg_node_rrsets(z, cur, &cnt);
        const zrrset *cn = NULL;
        hops[nhops++] = cur;
        for (unsigned i = 0; i < cnt; i++) {
            seen[rs[i].type >> 3] |= (uint8_t)(1u << (rs[i].type & 7));
            if (rs[i].type == RD_T_CNAME) cn = &rs[i];
        }
        if (!cn) goto done;
        const uint8_t *p = zimg_base(z) + cn->rdata_off;
        uint16_t rdlen = rd_get16(p);
        if (cn->count == 0 || rd_wire_name_check(p + 2, rdlen) != rdlen) goto all;
        rd_name_lower_copy(lname, p + 2);
        if (!rd_name_is_sub(lname, zimg_origin(z))) goto done;   /* the chain leaves the zone */
        znode_id t = zimg_find_node(z, lname);
        if (t == RD_NONE || (nodes[t].flags & ZN_BELOW_DNAME) || nodes[t].cut != RD_NONE ||
            zimg_node_nsec3_only(z, t))
            goto all;
        cur = t;
    }
    /* longer than the engine follows: every type */
all:
    if (f->nz > FANS_MAX) {
        n = CHAIN_TOO_MANY;
        goto clear;
    }
    for (uint32_t i = 0; i < f->nz; i++) out[i] = f->ztypes[i];
    n = f->nz;
    goto clear;
done:
    for (uint32_t i = 0; i < f->nz; i++) {
        if (!type_in(seen, f->ztypes[i])) continue;
        if (n == FANS_MAX) {
            n = CHAIN_TOO_MANY;
            break;
        }
        out[n++] = f->ztypes[i];
    }
clear:
    /* zero again what was set, not all 8 KB (a memset per CNAME owner was 4% of the pass) */
    for (int h = 0; h < nhops; h++) {
        unsigned cnt;
        const zrrset *rs = zimg_node_rrsets(z, hops[h], &cnt);
        for (unsigned i = 0; i < cnt; i++) seen[rs[i].type >> 3] = 0;
    }
    return n;
}

/* The answers of one node into ans[] (blobs in scratch); the default, if any, last with
 * qtype 0.  Returns the count, RD_NONE when the node is left to the general path.
 *  - at or below a zone cut: only the default, the referral (RFC 1034 4.3.2 3b);
 *  - a CNAME owner: the qtypes its chain can answer differently, computed by the engine;
 *  - any other node: its own types, then NODATA for every other qtype (RFC 2308 2.2).
 * Below a DNAME the answer is synthesized from the name (RFC 6672) and NSEC3 owners are
 * hidden (answered from their parent's wildcard): both are left to the general path. */
static uint32_t node_answers(fctx *f, znode_id v, fans *ans, uint8_t *scratch)
{
    const zimg *z = f->z;
    const znode *nd = (const znode *)((const uint8_t *)z + z->nodes_off) + v;
    if ((nd->flags & ZN_BELOW_DNAME) || zimg_node_nsec3_only(z, v)) return RD_NONE;
    const uint8_t *name = zimg_base(z) + nd->name_off;
    size_t nlen = nd->name_len;
    uint8_t *sp = scratch;
    uint32_t na = 0;
    uint16_t qtypes[FANS_MAX];
    fans def = { 0, 0, 0, 0, RD_NONE, NULL, NULL };

    if (nd->cut != RD_NONE) {
        /* nothing to list */
    } else if (nd->flags & ZN_CNAME) {
        def.blob = sp;
        def.n = (uint16_t)engine_answer(f, name, nlen, f->probe, sp, 0);
        sp += def.n;
        do_answer(f, name, nlen, f->probe, &def, &sp);
        uint32_t nq = chain_qtypes(f, v, qtypes);
        if (nq == CHAIN_TOO_MANY) return RD_NONE;
        for (uint32_t i = 0; i < nq; i++) {
            fans *a = &ans[na];
            a->qtype = qtypes[i];
            a->blob = sp;
            a->cache = 0;
            a->stored = RD_NONE;
            a->n = (uint16_t)engine_answer(f, name, nlen, qtypes[i], sp, 0);
            sp += a->n;
            do_answer(f, name, nlen, qtypes[i], a, &sp);
            /* the default answers it, with DO and without: not listed */
            if (a->n && same_bytes(a->blob, a->n, def.blob, def.n) &&
                same_bytes(a->blob_do, a->n_do, def.blob_do, def.n_do)) {
                sp = a->blob;
                continue;
            }
            na++;
        }
    } else {
        unsigned cnt;
        const zrrset *rs = zimg_node_rrsets(z, v, &cnt);
        for (unsigned i = 0; i < cnt; i++) {
            uint16_t t = rs[i].type;
            if (zfast_qtype_special(t) || (na && ans[na - 1].qtype == t)) continue;
            /* more types than a record lists: the general path answers the name (listing
             * a part would give the rest the default's NODATA) */
            if (na == FANS_MAX) return RD_NONE;
            fans *a = &ans[na++];
            a->qtype = t;
            a->blob = sp;
            a->cache = 0;
            a->stored = RD_NONE;
            a->n = (uint16_t)(type_simple(t) ? direct_answer(z, &rs[i], sp)
                                             : engine_answer(f, name, nlen, t, sp, 0));
            sp += a->n;
            do_answer(f, name, nlen, t, a, &sp);
        }
        if (nodata_cacheable(f, nd, name)) {
            def.stored = f->nodata_by_len[nlen] ? f->nodata_by_len[nlen] : RD_NONE;
            def.cache = 1;
        }
    }
    if (def.stored == RD_NONE && !def.blob) {
        def.blob = sp;
        def.n = (uint16_t)engine_answer(f, name, nlen, f->probe, sp, 0);
        sp += def.n;
    }
    /* with DO a NODATA carries the name's own NSEC/NSEC3 (RFC 4035 3.1.3.1, RFC 5155
     * 7.2.3): never shared between names */
    if (!def.blob_do) do_answer(f, name, nlen, f->probe, &def, &sp);
    ans[na] = def;
    return na;
}

/* One thread's share of the nodes, [v0, v1): its records and their blobs go to a buffer
 * of its own while the image is only read, so two shares run at once without a lock;
 * offsets in the buffer are from its start (a blob never sits at 0: its record comes
 * first) and are moved to image offsets when the buffers are appended to the image. */
typedef struct part {
    fctx *f;
    fans *ans;
    uint8_t *scratch;
    uint32_t *node_rec;        /* shared, each part writes its own range */
    uint32_t v0, v1;
    uint8_t *buf;
    size_t len, cap;
    int ok;
    int inplace;               /* buf is the image's own room for the records (not a copy) */
    uint32_t do_head[RD_NAME_MAX + 1];   /* a DO NODATA head blob by name length, 0: none */
} part;

/* Room for `more` bytes, zeroed: only the bytes about to be written are touched (the
 * padding they leave must not carry heap bytes into files), so the buffer's resident
 * size is what it holds, not what it reserved. */
static int part_reserve(part *p, size_t more)
{
    if (p->len + more > p->cap) {
        size_t cap = p->cap ? p->cap * 3 / 2 : 1 << 16;
        while (cap < p->len + more) cap *= 2;
        if (cap > 0xfffffff0u) return -1;      /* offsets are 32 bits */
        if (p->inplace) {
            /* the image's room was estimated too small: go on in a buffer of its own,
             * copied into the image at the end as the other share is */
            uint8_t *n = malloc(cap);
            if (!n) return -1;
            memcpy(n, p->buf, p->len);
            uintptr_t a = ((uintptr_t)p->buf + 4095) & ~(uintptr_t)4095;
            uintptr_t e = ((uintptr_t)p->buf + p->len) & ~(uintptr_t)4095;
            if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);   /* zero again, as unwritten */
            p->inplace = 0;
            p->buf = n;
        } else {
            uint8_t *n = realloc(p->buf, cap);
            if (!n) return -1;
            p->buf = n;
        }
        p->cap = cap;
    }
    memset(p->buf + p->len, 0, more);
    return 0;
}

/* Append a blob (room reserved) and return its offset. */
static uint32_t put_blob(part *p, const uint8_t *blob, size_t n)
{
    p->len = (p->len + 1) & ~(size_t)1;
    uint32_t off = (uint32_t)p->len;
    memcpy(p->buf + p->len, blob, n);
    p->len += n;
    return off;
}

/* The octets of a DO=1 NODATA body that open with the SOA and its RRSIG (RFC 4035
 * 3.1.3.1: the proof follows), 0 for any other body or one with nothing after them. */
static size_t nodata_head_len(const uint8_t *blob, size_t n)
{
    zfast_blob h;
    memcpy(&h, blob, ZFAST_BLOB_HDR);
    if (h.an != 0 || h.flags != ZFAST_AA || h.ns < 3) return 0;
    const uint8_t *b = blob + ZFAST_BLOB_HDR;
    size_t o = 0, end = n - ZFAST_BLOB_HDR;
    for (int i = 0; i < 2; i++) {
        while (o < end && b[o] && (b[o] & 0xC0) != 0xC0) o += (size_t)b[o] + 1;
        if (o >= end) return 0;
        o += b[o] ? 2 : 1;
        if (o + 10 > end) return 0;
        uint16_t type = rd_get16(b + o), rdlen = rd_get16(b + o + 8);
        if (type != (i ? RD_T_RRSIG : RD_T_SOA) || o + 10 + rdlen > end) return 0;
        if (i && (rdlen < 2 || rd_get16(b + o + 10) != RD_T_SOA)) return 0;
        o += 10 + (size_t)rdlen;
    }
    return o < end ? o : 0;
}

/* Whether the records at body[at, end) open with the whole of rrset x written with the
 * owner pointer and TTL of the first (as rd_put_rrset writes it); *run_end past them. */
static int run_is_rrset(const zimg *z, const zrrset *x, const uint8_t *body, size_t at,
                        size_t end, size_t *run_end)
{
    const uint8_t *d = zimg_base(z) + x->rdata_off;
    size_t o = at;
    for (unsigned i = 0; i < x->count; i++) {
        uint16_t rdlen = rd_get16(d);
        if (o + 12 > end || (body[o] & 0xC0) != 0xC0 || memcmp(body + o, body + at, 10) != 0 ||
            o + 12 + rdlen > end || memcmp(body + o + 10, d, 2 + (size_t)rdlen) != 0)
            return 0;
        o += 12 + (size_t)rdlen;
        d += 2 + (size_t)rdlen;
    }
    *run_end = o;
    return x->count > 0;
}

/* The rrset of node v whose records open body[at, end): its NSEC, or the RRSIGs of one
 * of its rrsets (covered type read from the first RRSIG's rdata), or NULL. */
static const zrrset *ref_rrset(const zimg *z, znode_id v, const uint8_t *body, size_t at,
                               size_t end, size_t *run_end)
{
    if (at + 14 > end || (body[at] & 0xC0) != 0xC0) return NULL;
    uint16_t type = rd_get16(body + at + 2);
    if (type != RD_T_RRSIG && type != RD_T_NSEC) return NULL;
    unsigned cnt;
    const zrrset *rs = zimg_node_rrsets(z, v, &cnt);
    for (unsigned i = 0; i < cnt; i++) {
        const zrrset *x = &rs[i];
        if (type == RD_T_RRSIG)
            x = rs[i].rrsig == RD_NONE ? NULL : zimg_rrset_at(z, rs[i].rrsig);
        if (x && x->type == type && run_is_rrset(z, x, body, at, end, run_end)) return x;
    }
    return NULL;
}

/* The DO=1 body body[0, n) of node v as ZFAST_REFS segments at out (room for n octets):
 * each run of records that is the node's NSEC or one of its RRSIG rrsets, owned by a
 * compression pointer, becomes a reference; the rest literals.  Returns the stored
 * octets, 0 when no reference was made, it would not save, or writing it back does not
 * give the body's own bytes. */
static size_t refs_encode(const zimg *z, znode_id v, const uint8_t *body, size_t n, uint8_t *out)
{
    size_t o = 0, at = 0, lit = 0, last = 0;
    int refs = 0;
    while (at < n) {
        size_t run_end;
        const zrrset *x = ref_rrset(z, v, body, at, n, &run_end);
        if (!x) {                              /* one record more for the literal */
            size_t q = at;
            while (q < n && body[q] && (body[q] & 0xC0) != 0xC0) q += (size_t)body[q] + 1;
            if (q >= n) return 0;
            q += body[q] ? 2 : 1;
            if (q + 10 > n) return 0;
            at = q + 10 + rd_get16(body + q + 8);
            if (at > n) return 0;
            continue;
        }
        uint16_t h;
        if (at > lit) {
            if (o + 2 + (at - lit) > n) return 0;
            h = (uint16_t)(at - lit);
            last = o;
            memcpy(out + o, &h, 2);
            memcpy(out + o + 2, body + lit, at - lit);
            o += 2 + (at - lit);
        }
        size_t target = ((size_t)(body[at] & 0x3F) << 8) | body[at + 1];
        /* the owner points into the question (offset 12, the node's own name): what
           zimg_fast_check asks of an image it did not build */
        if (target < 12 || target >= 12 + rd_name_len(zimg_node_name(z, v))) return 0;
        zfast_zref f = { x->rdata_off, rd_get32(body + at + 6), x->type, x->count };
        if (o + ZFAST_ZREF_SEG > n) return 0;
        h = (uint16_t)(ZFAST_SEG_REF | target);
        last = o;
        memcpy(out + o, &h, 2);
        memcpy(out + o + 2, &f, sizeof f);
        o += ZFAST_ZREF_SEG;
        refs++;
        at = lit = run_end;
    }
    if (!refs) return 0;
    if (n > lit) {
        if (o + 2 + (n - lit) >= n) return 0;
        uint16_t h = (uint16_t)(n - lit);
        last = o;
        memcpy(out + o, &h, 2);
        memcpy(out + o + 2, body + lit, n - lit);
        o += 2 + (n - lit);
    }
    if (o >= n) return 0;
    uint16_t h;
    memcpy(&h, out + last, 2);
    h |= ZFAST_SEG_LAST;
    memcpy(out + last, &h, 2);
    uint8_t back[ZFAST_BLOB_MAX];
    if (zfast_put_segs(z, back, out, n) != n || memcmp(back, body, n) != 0) return 0;
    return o;
}

/* A DO=1 blob stored, its SOA head shared with the names of its length (ZFAST_SPLIT)
 * when it has one: the head's bytes are checked equal, so head and tail are the blob's
 * own bytes whatever blob first stored the head.  Room: part_run reserved each DO blob
 * with DO_HEAD_SLACK more, for a first head: its header, the split's 4-octet distance and
 * two pads come on top of the blob's own bytes (the head's bytes replace the tail's). */
#define DO_HEAD_SLACK (ZFAST_BLOB_HDR + 4 + 2)
static uint32_t put_do_blob(part *p, znode_id v, const uint8_t *blob, size_t n, size_t nlen)
{
    const zimg *z = p->f->z;
    const uint8_t *body = blob + ZFAST_BLOB_HDR;
    size_t hl = nodata_head_len(blob, n);
    /* A NODATA's NSEC and RRSIGs from the zone (ZFAST_REFS).  Not a positive answer's
     * RRSIG: that saved another 8 MB of the 100k-name NSEC image (70.7 -> 56.6 MB) but
     * cost the batched DO mix ~25% (busy, 2026-12-02): the record's rdata is one more
     * miss per answer that the pipeline's prefetch did not hide (bench/RESULTS.md);
     * the zone's RRSIG rrset points at the answer's bytes instead (zimg_share.c). */
    uint8_t segs[ZFAST_BLOB_MAX];
    size_t sl = (blob[5] & ZFAST_AA) && hl ? refs_encode(z, v, body + hl, n - ZFAST_BLOB_HDR - hl, segs)
                                     : 0;
    const uint8_t *tail = sl ? segs : body + hl;
    size_t tl = sl ? sl : n - ZFAST_BLOB_HDR - hl;
    if (!hl) {
        if (!sl) return put_blob(p, blob, n);
        p->len = (p->len + 1) & ~(size_t)1;
        uint32_t off = (uint32_t)p->len;
        memcpy(p->buf + off, blob, ZFAST_BLOB_HDR);
        p->buf[off + 5] |= ZFAST_REFS;         /* zfast_blob.flags */
        memcpy(p->buf + off + ZFAST_BLOB_HDR, tail, tl);
        p->len += ZFAST_BLOB_HDR + tl;
        return off;
    }
    uint32_t ho = p->do_head[nlen];
    if (ho) {
        zfast_blob hh;
        memcpy(&hh, p->buf + ho, ZFAST_BLOB_HDR);
        if (hh.len != hl || memcmp(p->buf + ho + ZFAST_BLOB_HDR, body, hl) != 0) ho = 0;
    }
    if (!ho) {                                 /* the first of its length: the head first */
        /* the head and the split blob after it, whatever part_run's reservation left */
        if (part_reserve(p, ZFAST_BLOB_HDR + hl + 2 + n + 4 + 2) != 0) return put_blob(p, blob, n);
        uint8_t hdr[ZFAST_BLOB_HDR];
        blob_header(hdr, hl, 0, 2, 0, 1, RD_RCODE_NOERROR);
        p->len = (p->len + 1) & ~(size_t)1;
        ho = (uint32_t)p->len;
        memcpy(p->buf + p->len, hdr, ZFAST_BLOB_HDR);
        memcpy(p->buf + p->len + ZFAST_BLOB_HDR, body, hl);
        p->len += ZFAST_BLOB_HDR + hl;
        p->do_head[nlen] = ho;
    }
    p->len = (p->len + 1) & ~(size_t)1;
    uint32_t off = (uint32_t)p->len;
    uint8_t *o = p->buf + off;
    memcpy(o, blob, ZFAST_BLOB_HDR);
    o[5] |= ZFAST_SPLIT | (sl ? ZFAST_REFS : 0);   /* zfast_blob.flags */
    uint32_t d = off - ho;
    memcpy(o + ZFAST_BLOB_HDR, &d, 4);
    memcpy(o + ZFAST_BLOB_HDR + 4, tail, tl);
    p->len += ZFAST_BLOB_HDR + 4 + tl;
    return off;
}

/* The DO=1 answers of a record laid out after its entries (ZFAST_DO_TABLE): each one's
 * offset, sharing the bytes of its plain answer or of an earlier DO answer when equal. */
static void put_do_answers(part *p, znode_id v, const fans *ans, uint32_t na,
                           const uint32_t *plain, uint32_t first_do, size_t doff, size_t nlen)
{
    uint32_t offs[FANS_MAX + 1];
    for (uint32_t i = 0; i <= na; i++) {
        const fans *a = &ans[i];
        uint32_t o = i == na ? first_do : RD_NONE;   /* the default, when stored first */
        if (a->n_do && o == RD_NONE) {
            if (plain[i] != RD_NONE) {
                const uint8_t *pb = p->buf + plain[i];
                if (same_bytes(pb, stored_size(pb), a->blob_do, a->n_do)) o = plain[i];
            }
            for (uint32_t j = 0; o == RD_NONE && j < i; j++)
                if (offs[j] != RD_NONE && same_bytes(ans[j].blob_do, ans[j].n_do, a->blob_do, a->n_do))
                    o = offs[j];
            if (o == RD_NONE) o = put_do_blob(p, v, a->blob_do, a->n_do, nlen);
        }
        offs[i] = o;
        memcpy(p->buf + doff + 4 * (size_t)i, &o, 4);
    }
}

/* Whether every DO=1 answer of the node is its plain answer (nothing signed to add). */
static int do_all_plain(const part *p, const fans *ans, uint32_t na)
{
    for (uint32_t i = 0; i <= na; i++) {
        const uint8_t *pb = ans[i].blob;
        size_t pn = ans[i].n;
        if (i == na && ans[i].stored != RD_NONE) {
            pb = p->buf + ans[i].stored;
            pn = stored_size(pb);
        }
        if (!same_bytes(pb, pn, ans[i].blob_do, ans[i].n_do)) return 0;
    }
    return 1;
}

/* The records of a share's nodes: each one, then its own blobs right after it (one or
 * two cache lines). */
static void *part_run(void *arg)
{
    part *p = arg;
    fctx *f = p->f;
    const zimg *z = f->z;
    const znode *nodes = (const znode *)((const uint8_t *)z + z->nodes_off);
    fans *ans = p->ans;
    for (uint32_t v = p->v0; v < p->v1; v++) {
        p->node_rec[v] = RD_NONE;
        uint32_t na = node_answers(f, v, ans, p->scratch);
        if (na == RD_NONE) continue;
        fans *def = &ans[na];
        if (na == 0 && def->n == 0 && def->stored == RD_NONE && def->n_do == 0) continue;
        size_t nlen = nodes[v].name_len;
        size_t below = nlen - nodes[z->apex].name_len;   /* the origin is not stored */
        size_t head = zfast_rec_head((uint8_t)below);
        size_t need = 4 + head + na * sizeof(zfast_ent) + 4 * (na + 1) + 4 * (na + 1);
        for (uint32_t i = 0; i <= na; i++)
            need += ans[i].n + ans[i].n_do + (ans[i].n_do ? DO_HEAD_SLACK : 0);
        if (part_reserve(p, need) != 0) return NULL;
        size_t reserved_end = p->len + need;
        uint8_t *base = p->buf;
        int do_same = !f->dnssec || do_all_plain(p, ans, na);
        p->len = (p->len + 3) & ~(size_t)3;
        size_t roff = p->len;
        zfast_rec rh = { (uint8_t)nlen, (uint8_t)na, do_same ? ZFAST_DO_SAME : ZFAST_DO_TABLE,
                         (uint8_t)below, RD_NONE };
        size_t eoff = roff + head;
        size_t doff = eoff + na * sizeof(zfast_ent);
        p->len = doff + (do_same ? 0 : 4 * (size_t)(na + 1));
        /* a signed NODATA first, in the record's lines: the batch pipeline reads its
         * references to the zone's records there a step ahead (engine_batch.c pf_blob) */
        uint32_t first_do = RD_NONE;
        if (!do_same && def->n_do && nodata_head_len(def->blob_do, def->n_do)) {
            first_do = put_do_blob(p, v, def->blob_do, def->n_do, nlen);
            base = p->buf;                     /* a first shared head may have grown it */
        }
        uint32_t plain[FANS_MAX + 1];
        for (uint32_t i = 0; i < na; i++) {
            zfast_ent e = { ans[i].qtype, 0, RD_NONE };
            if (ans[i].n) e.blob = put_blob(p, ans[i].blob, ans[i].n);
            plain[i] = e.blob;
            memcpy(base + eoff + i * sizeof(zfast_ent), &e, sizeof e);
        }
        if (def->stored != RD_NONE) {
            rh.dflt = def->stored;
        } else if (def->n) {
            rh.dflt = put_blob(p, def->blob, def->n);
            if (def->cache) f->nodata_by_len[nlen] = rh.dflt;
        }
        plain[na] = rh.dflt;
        if (!do_same) put_do_answers(p, v, ans, na, plain, first_do, doff, nlen);
        base = p->buf;                         /* a shared head may have grown the buffer */
        memcpy(base + roff, &rh, sizeof rh);
        memcpy(base + roff + sizeof rh, (const uint8_t *)z + nodes[v].name_off, below);
        p->node_rec[v] = (uint32_t)roff;
        /* Written past what was reserved: an accounting bug (cap may have been crossed).
         * No precomputed answers then (the general path answers): a test that reads the
         * table sees it missing instead of a heap overrun passing unnoticed. */
        if (p->len > reserved_end) return NULL;
    }
    if (part_reserve(p, 8) != 0) return NULL;   /* zeroed: the padding to 8 */
    p->len = (p->len + 7) & ~(size_t)7;
    p->ok = 1;
    return NULL;
}

static void reloc(uint8_t *at, uint32_t delta)
{
    uint32_t o;
    memcpy(&o, at, 4);
    if (o != RD_NONE) o += delta;
    memcpy(at, &o, 4);
}

/* Copy n bytes from src to dst 256 KiB at a time, giving the pages of src back as
 * they are copied: moving a share's answers into their final place in the image
 * then never holds them twice.
 * The piece bounds the overlap: with 4 MiB pieces the secondary's RSS, sampled every
 * 2 ms, rose 4 MiB above the copy's floor at every piece (its peak, issue 13); a dst
 * advised to huge pages still faults 2 MiB ahead, so the overlap is now ~2.25 MiB. */
static void move_out(uint8_t *dst, uint8_t *src, size_t n)
{
    const size_t piece = (size_t)256 << 10, page = 4096;
    uintptr_t done = ((uintptr_t)src + page - 1) & ~(uintptr_t)(page - 1);
    for (size_t o = 0; o < n; o += piece) {
        size_t k = n - o < piece ? n - o : piece;
        memcpy(dst + o, src + o, k);
        uintptr_t upto = ((uintptr_t)src + o + k) & ~(uintptr_t)(page - 1);
        if (upto > done) {
            madvise((void *)done, upto - done, MADV_DONTNEED);
            done = upto;
        }
    }
}

/* Append a share's buffer to the image at `off`, its offsets moved by as much. */
static void part_place(const part *p, uint8_t *img, size_t off, uint32_t *node_rec)
{
    if (!p->inplace) move_out(img + off, p->buf, p->len);
    uint32_t d = (uint32_t)off;
    for (uint32_t v = p->v0; v < p->v1; v++) {
        if (node_rec[v] == RD_NONE) continue;
        node_rec[v] += d;
        uint8_t *r = img + node_rec[v];
        zfast_rec rh;
        memcpy(&rh, r, sizeof rh);
        reloc(r + offsetof(zfast_rec, dflt), d);
        uint8_t *e = r + zfast_rec_head(rh.below);
        for (unsigned k = 0; k < rh.nent; k++)
            reloc(e + k * sizeof(zfast_ent) + offsetof(zfast_ent, blob), d);
        if (rh.flags & ZFAST_DO_TABLE)
            for (unsigned k = 0; k <= rh.nent; k++)
                reloc(e + rh.nent * sizeof(zfast_ent) + 4 * (size_t)k, d);
    }
}

/* ---- the answer table, filled in its own place ----
 *
 * node_rec (4 bytes a node) is the only map from a node to its record, and the table is
 * the last part of the image to be written: filled by scattering from node_rec, both are
 * resident at once and the build's peak is the image plus node_rec (2.7 MB at 670,000
 * names, issue 13).  Instead the (hash, record) pairs are written densely at the start
 * of the table's own room while node_rec is read and released page by page, sorted there
 * by home slot, and laid out from there: the same linear-probing table (every name at or
 * after its home with no empty slot between), built inside the bytes it ends in. */

static inline uint32_t tab_home(const zfast_slot *e, uint32_t mask) { return e->hash & mask; }

/* a[0..n) sorted by home slot, where they differ only below `shift` + 8 bits: one
 * byte of the home at a time from the top (American flag sort, in place), 256 buckets a
 * pass, so that the counts, the bucket heads and the 256 places being written stay in
 * the cache; a few names left, an insertion sort.  (65,536 buckets in one pass made each
 * move of a 1M-name table two cache misses: 0.10-0.15 s of a secondary's time to
 * serving, issue 13.) */
enum { SORT_SMALL = 48 };
static void sort_by_home(zfast_slot *a, uint32_t n, uint32_t mask, int shift)
{
    if (n <= SORT_SMALL) {
        for (uint32_t i = 1; i < n; i++) {
            zfast_slot e = a[i];
            uint32_t j = i, h = tab_home(&e, mask);
            for (; j > 0 && tab_home(&a[j - 1], mask) > h; j--) a[j] = a[j - 1];
            a[j] = e;
        }
        return;
    }
    uint32_t next[256], end[256];
    memset(end, 0, sizeof end);
    for (uint32_t i = 0; i < n; i++) end[tab_home(&a[i], mask) >> shift & 255]++;
    for (uint32_t b = 0, at = 0; b < 256; b++) {
        next[b] = at;
        at += end[b];
        end[b] = at;
    }
    for (uint32_t b = 0; b < 256; b++) {
        while (next[b] < end[b]) {
            zfast_slot e = a[next[b]];
            uint32_t k = tab_home(&e, mask) >> shift & 255;
            while (k != b) {
                zfast_slot t = a[next[k]];
                a[next[k]++] = e;
                e = t;
                k = tab_home(&e, mask) >> shift & 255;
            }
            a[next[b]++] = e;
        }
    }
    if (shift == 0) return;                /* each bucket is one home */
    /* the bits above the next window are equal within a bucket: it may overlap this one */
    int below = shift > 8 ? shift - 8 : 0;
    for (uint32_t b = 0, lo = 0; b < 256; lo = end[b], b++)
        if (end[b] - lo > 1) sort_by_home(a + lo, end[b] - lo, mask, below);
}

/* The first window of sort_by_home for a table of mask + 1 slots: its top byte. */
static int sort_shift(uint32_t mask)
{
    int bits = 0;
    while (bits < 32 && ((uint64_t)1 << bits) <= mask) bits++;
    return bits > 8 ? bits - 8 : 0;
}

/* Probe from the home slot to the first empty one (wrapping), as the readers do. */
static void tab_insert(zfast_slot *tab, uint32_t mask, zfast_slot e)
{
    uint32_t i = e.hash & mask;
    while (tab[i].rec != RD_NONE) i = (i + 1) & mask;
    tab[i] = e;
}

/* Fill the table of `slots` (a power of two) at tab from node_rec (final offsets), which
 * this releases as it reads (the caller frees it).  -1: no memory (the table is then
 * unusable). */
static int table_fill(zfast_slot *tab, uint32_t slots, const uint8_t *ob, const znode *nodes,
                      uint32_t nn, uint32_t *node_rec)
{
    const uint32_t mask = slots - 1;
    const uintptr_t page = 4096;
    uintptr_t freed = ((uintptr_t)node_rec + page - 1) & ~(page - 1);
    uint32_t names = 0;
    /* 1. the pairs, densely (names <= slots: the table is at most 80% full); each page
     *    of node_rec read is given back, as the table's pages are taken */
    for (uint32_t v = 0; v < nn; v++) {
        if (node_rec[v] != RD_NONE) {
            tab[names].hash = zfast_hash(ob + nodes[v].name_off, nodes[v].name_len);
            tab[names++].rec = node_rec[v];
        }
        if ((v & 4095) == 4095) {
            uintptr_t upto = (uintptr_t)(node_rec + v + 1) & ~(page - 1);
            if (upto > freed) {
                madvise((void *)freed, upto - freed, MADV_DONTNEED);
                freed = upto;
            }
        }
    }
    sort_by_home(tab, names, mask, sort_shift(mask));
    /* 2. moved to the end of the room, then laid out forwards: name k goes to
     *    p_k = max(home_k, p_(k-1) + 1) = k + M_k, M_k = max over j <= k of (home_j - j).
     *    Writing slot p_k cannot overwrite a pair not yet read (at slots - names + j,
     *    j > k) while M_k <= slots - names; the pairs from the first k where it is not
     *    (the table's last cluster, running past the end) are set aside and inserted
     *    last, wrapping as the readers probe. */
    zfast_slot *src = tab + (slots - names);
    memmove(src, tab, (size_t)names * sizeof *tab);
    int64_t room = (int64_t)slots - names, m = INT64_MIN;
    uint32_t cut = names;
    for (uint32_t k = 0; k < names; k++) {
        int64_t d = (int64_t)tab_home(&src[k], mask) - k;
        if (d > m) m = d;
        if (m > room) {
            cut = k;
            break;
        }
    }
    zfast_slot *aside = NULL;
    if (cut < names) {
        aside = malloc((size_t)(names - cut) * sizeof *aside);
        if (!aside) return -1;
        memcpy(aside, src + cut, (size_t)(names - cut) * sizeof *aside);
    }
    const zfast_slot empty = {0, RD_NONE};
    uint32_t at = 0;                       /* the first slot not yet written */
    for (uint32_t k = 0; k < cut; k++) {
        zfast_slot e = src[k];
        uint32_t p = tab_home(&e, mask);
        if (p < at) p = at;
        while (at < p) tab[at++] = empty;
        tab[at++] = e;
    }
    while (at < slots) tab[at++] = empty;
    for (uint32_t k = cut; k < names; k++) tab_insert(tab, mask, aside[k - cut]);
    free(aside);
    return 0;
}

/* ---- precomputed NXDOMAIN proofs (zneg, zimg_format.h) ---- */

size_t nb_alloc(nbuf *b, size_t n, size_t align)
{
    size_t at = (b->len + align - 1) & ~(align - 1);
    if (at + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < at + n) cap *= 2;
        uint8_t *q = cap <= 0xfffffff0u ? realloc(b->p, cap) : NULL;
        if (!q) { b->ok = 0; return 0; }
        b->p = q;
        b->cap = cap;
    }
    memset(b->p + b->len, 0, at + n - b->len);
    b->len = at + n;
    return at;
}

/* The writer's state after a piece, to write the next one from. */
typedef struct nstate {
    size_t len;
    int ncomp;
    uint16_t count[3];
} nstate;

static void nsave(const rd_ctx *c, nstate *s)
{
    s->len = c->len;
    s->ncomp = c->ncomp;
    memcpy(s->count, c->count, sizeof s->count);
}

static void nrestore(rd_ctx *c, const nstate *s)
{
    c->len = s->len;
    c->ncomp = s->ncomp;
    memcpy(c->count, s->count, sizeof s->count);
}

/* Record the compression pointer at response offset at of a piece starting at `from`:
 * into the piece itself, or into the question or the prefix (before fixed_end); one into
 * anything else (an earlier gap piece) cannot be served.  0 when recorded. */
static int neg_ptr(const uint8_t *r, size_t at, size_t from, size_t fixed_end, size_t qname_end,
                   zneg_ptr *ptr, unsigned *np)
{
    size_t t = (size_t)(r[at] & 0x3F) << 8 | r[at + 1];
    if (*np >= ZNEG_FROM_ZONE - 1) return -1;
    if (t >= from) ptr[*np] = (zneg_ptr){ (uint16_t)((at - from) | ZNEG_SELF), (int16_t)(t - from) };
    else if (t < fixed_end) ptr[*np] = (zneg_ptr){ (uint16_t)(at - from), (int16_t)((long)t - (long)qname_end) };
    else return -1;
    (*np)++;
    return 0;
}

/* A name at r[*o, end): its pointer, if any, recorded; *o moved past it. */
static int neg_name(const uint8_t *r, size_t *o, size_t end, size_t from, size_t fixed_end,
                    size_t qname_end, zneg_ptr *ptr, unsigned *np)
{
    while (*o < end) {
        uint8_t l = r[*o];
        if ((l & 0xC0) == 0xC0) {
            if (*o + 2 > end || neg_ptr(r, *o, from, fixed_end, qname_end, ptr, np) < 0) return -1;
            *o += 2;
            return 0;
        }
        *o += (size_t)l + 1;
        if (l == 0) return 0;
    }
    return -1;
}

/* The records written at r[from, c->len) as a piece of the section (proof node `node`);
 * its offset, or RD_NONE when it cannot be served as a piece (precompute_int.h). */
uint32_t neg_piece(nbuf *b, const rd_ctx *c, size_t from, size_t fixed_end, size_t qname_end,
                   uint32_t node)
{
    const uint8_t *r = c->r;
    size_t end = c->len, o = from;
    zneg_ptr ptr[255];
    unsigned np = 0, nrr = 0;
    if (end - from > ZFAST_BLOB_MAX || c->tc) return RD_NONE;
    while (o < end) {
        if (neg_name(r, &o, end, from, fixed_end, qname_end, ptr, &np) < 0 || o + 10 > end)
            return RD_NONE;
        uint16_t type = rd_get16(r + o);
        size_t rend = o + 10 + rd_get16(r + o + 8);
        o += 10;
        if (rend > end) return RD_NONE;
        if (type == RD_T_SOA) {                /* MNAME, RNAME: compressed (RFC 1035 3.3.13) */
            for (int i = 0; i < 2; i++)
                if (neg_name(r, &o, rend, from, fixed_end, qname_end, ptr, &np) < 0) return RD_NONE;
        } else if (type != RD_T_NSEC && type != RD_T_NSEC3 && type != RD_T_RRSIG) {
            return RD_NONE;                    /* no other type is in these answers */
        }
        o = rend;
        if (++nrr > 255) return RD_NONE;
    }
    size_t at = nb_alloc(b, sizeof(zneg_piece) + np * sizeof(zneg_ptr) + (end - from), 4);
    if (!b->ok) return RD_NONE;
    zneg_piece h = { node, (uint16_t)(end - from), (uint8_t)nrr, (uint8_t)np };
    memcpy(b->p + at, &h, sizeof h);
    memcpy(b->p + at + sizeof h, ptr, np * sizeof(zneg_ptr));
    memcpy(b->p + at + sizeof h + np * sizeof(zneg_ptr), r + from, end - from);
    return (uint32_t)at;
}

/* The writer for a DO=1 query of `name` (lower-case wire), its question written. */
static int neg_ctx(fctx *f, rd_ctx *c, const uint8_t *name, size_t nlen)
{
    uint8_t *q = f->q;
    memset(q, 0, 12);
    q[5] = 1;
    q[11] = 1;
    memcpy(q + 12, name, nlen);
    rd_put16(q + 12 + nlen, 1);
    rd_put16(q + 14 + nlen, RD_C_IN);
    uint8_t *o = q + 16 + nlen;
    o[0] = 0;
    rd_put16(o + 1, RD_T_OPT);
    rd_put16(o + 3, 4096);
    rd_put32(o + 5, 0x8000);
    rd_put16(o + 9, 0);
    rd_ctx_start(c, &f->db, q, 16 + nlen + 11, f->resp, sizeof f->resp, &f->tcp, NULL);
    if (c->prc != RD_RCODE_NOERROR || !c->do_bit) return -1;
    rd_ctx_zone(c);
    if (c->zone != f->z) return -1;
    rd_write_header(c);
    rd_write_question(c);
    c->limit = sizeof f->resp - 11;
    c->aa = 1;
    return 0;
}

/* Directory bits for n entries: about one entry a bucket, at most 2^16 buckets. */
static uint8_t dir_bits(uint32_t n)
{
    uint8_t b = 0;
    while (b < 16 && (2u << b) <= n) b++;
    return b;
}

/* The label right below the apex of a name under it, or NULL. */
static const uint8_t *top_label(const zimg *z, const uint8_t *lname)
{
    const uint8_t *lab[ZIMG_MAX_LABELS];
    int n = zimg_labels_of(lname, lab), ol = (int)z->origin_labels;
    if (n <= ol || !rd_name_is_sub(lname, zimg_origin(z))) return NULL;
    return lab[n - ol - 1];
}

typedef struct nbuild {
    fctx *f;
    rd_ctx c;
    nbuf b;
    uint16_t type;             /* RD_T_NSEC or RD_T_NSEC3 */
    size_t qname_end, pend;    /* the question name's end, the prefix's */
    nstate after_prefix;
    uint32_t prefix_node, wild_node, wild;
    uint32_t *node_piece;      /* gap piece of each proof node, 0: not made yet */
    const uint32_t *node_rec;  /* each node's answer record, RD_NONE: none (part_run) */
    int regs_gap;
} nbuild;

/* The piece just stored at `piece` (the last thing in the section, written at response
 * offset from) replaced by one written from the zone's records when that writes the same
 * octets (zimg_format.h ZNEG_FROM_ZONE); returns the piece to keep. */
static uint32_t neg_from_zone(nbuild *nb, znode_id v, uint32_t piece, size_t from)
{
    const zimg *z = nb->f->z;
    const zrrset *rs = zimg_find_rrset(z, v, nb->type);
    const uint8_t *name = zimg_node_name(z, v);
    size_t olen = rd_name_len(zimg_origin(z)), nlen = rd_name_len(name);
    if (!rs || nlen < olen || nlen - olen > 255) return piece;
    uint8_t tmp[sizeof(zneg_piece) + sizeof(zneg_zone) + 256];
    zneg_piece h = *(const zneg_piece *)(nb->b.p + piece);
    h.nptr = ZNEG_FROM_ZONE;
    zneg_zone zz = zneg_zone_of(z, (uint32_t)(rs - zimg_rrset_at(z, 0)), (int16_t)-(long)olen,
                                (uint8_t)(nlen - olen));
    memcpy(tmp, &h, sizeof h);
    memcpy(tmp + sizeof h, &zz, sizeof zz);
    memcpy(tmp + sizeof h + sizeof zz, name, nlen - olen);
    static _Thread_local uint8_t out[8192];
    const rd_ctx *c = &nb->c;
    if (zneg_zone_size(z, &zz) != h.len || from + h.len > sizeof out ||
        zneg_put_zone(z, out, from, nb->qname_end, (const zneg_piece *)tmp) != h.len ||
        memcmp(out + from, c->r + from, h.len) != 0)
        return piece;
    nb->b.len = piece;                         /* the stored one goes */
    size_t n = sizeof h + sizeof zz + (nlen - olen);
    size_t at = nb_alloc(&nb->b, n, 4);
    if (!nb->b.ok) return RD_NONE;
    memcpy(nb->b.p + at, tmp, n);
    return (uint32_t)at;
}

/* The gap piece of proof node v (made once): written after the prefix; the wildcard's
 * piece must then come out as stored, or the gap is left to the general path. */
static uint32_t gap_piece(nbuild *nb, znode_id v)
{
    if (v == RD_NONE) return RD_NONE;
    if (nb->node_piece[v]) return nb->node_piece[v] - 1;
    rd_ctx *c = &nb->c;
    const zimg *z = nb->f->z;
    nrestore(c, &nb->after_prefix);
    size_t from = c->len;
    int r0 = c->ncomp;
    rd_dnssec_put_proof(c, z, v, nb->type);
    uint32_t piece = neg_piece(&nb->b, c, from, nb->pend, nb->qname_end, v);
    if (c->ncomp - r0 > nb->regs_gap) nb->regs_gap = c->ncomp - r0;
    if (piece != RD_NONE) piece = neg_from_zone(nb, v, piece, from);
    if (piece != RD_NONE && nb->wild != RD_NONE && v != nb->prefix_node && v != nb->wild_node) {
        size_t ws = c->len;
        rd_dnssec_put_proof(c, z, nb->wild_node, nb->type);
        static _Thread_local uint8_t want[8192];
        const zneg_piece *wp = (const zneg_piece *)(nb->b.p + nb->wild);
        if (c->len - ws != wp->len || ws + wp->len > sizeof want ||
            (zneg_put(want, ws, nb->qname_end, wp), memcmp(want + ws, c->r + ws, wp->len) != 0))
            piece = RD_NONE;
    }
    nb->node_piece[v] = piece + 1;
    return piece;
}

/* The NXDOMAIN proofs of a signed zone (zneg) into nb->b; 0 when made, -1 when the zone
 * gets none (unsigned, a wildcard or DNAME at the apex, an unusable NSEC3 chain). */
static int neg_build(nbuild *nb)
{
    fctx *f = nb->f;
    const zimg *z = f->z;
    const znode *nodes = (const znode *)((const uint8_t *)z + z->nodes_off);
    uint32_t nn = z->node_count, ol = z->origin_labels;
    znode_id apex = zimg_apex(z);
    if (!f->dnssec || nn == 0 || nodes[apex].wild != RD_NONE ||
        zimg_find_rrset(z, apex, RD_T_DNAME))
        return -1;
    zneg g;
    memset(&g, 0, sizeof g);
    g.before_first = g.wild = RD_NONE;
    const uint8_t *salt = NULL;
    unsigned salt_len = 0, iterations = 0;
    if (zimg_nsec3_count(z)) {
        if (rd_dnssec_nsec3_salt(z, &salt, &salt_len, &iterations) < 0 || iterations > 0xffff)
            return -1;
        g.kind = ZNEG_NSEC3;
        nb->type = RD_T_NSEC3;
        g.iterations = (uint16_t)iterations;
        g.salt_len = (uint8_t)salt_len;
        memcpy(g.salt, salt, salt_len);
    } else if (zimg_find_rrset(z, apex, RD_T_NSEC)) {
        g.kind = ZNEG_NSEC;
        nb->type = RD_T_NSEC;
    } else {
        return -1;
    }
    /* a question below MNAME's or RNAME's top label compresses the SOA differently */
    for (int i = 0; i < 2; i++) {
        const uint8_t *t = f->soa_names[i] ? top_label(z, f->soa_names[i]) : NULL;
        if (t) memcpy(g.avoid[i], t, (size_t)t[0] + 1);
    }
    /* the writer's question: a top label the zone lacks, "\0", "\0\0", ... */
    uint8_t q0[RD_NAME_MAX + 1];
    const uint8_t *origin = zimg_origin(z);
    size_t olen = rd_name_len(origin);
    size_t k = 1;
    for (;; k++) {
        if (k > 8 || k + 1 + olen > RD_NAME_MAX) return -1;
        q0[0] = (uint8_t)k;
        memset(q0 + 1, 0, k);
        memcpy(q0 + 1 + k, origin, olen);
        int clash = 0;
        for (int i = 0; i < 2; i++) clash |= g.avoid[i][0] == k && !memcmp(g.avoid[i] + 1, q0 + 1, k);
        if (!clash && zimg_find_node(z, q0) == RD_NONE) break;
    }
    rd_ctx *c = &nb->c;
    if (neg_ctx(f, c, q0, k + 1 + olen) < 0) return -1;
    nb->qname_end = 12 + c->qname_wlen;
    size_t qend = nb->qname_end + 4;

    /* the prefix: SOA and RRSIG; with NSEC3 the apex's own NSEC3 (the closest encloser,
     * RFC 5155 7.2.1) */
    int r0 = c->ncomp;
    rd_put_negative(c, z);
    nb->prefix_node = RD_NONE;
    int match;
    if (g.kind == ZNEG_NSEC3) {
        nb->prefix_node = zimg_nsec3_node_at(z, rd_dnssec_nsec3_place(z, origin, salt, salt_len,
                                                                      iterations, NULL, 0, &match));
        if (!match || nb->prefix_node == RD_NONE) return -1;
        rd_dnssec_put_proof(c, z, nb->prefix_node, nb->type);
    }
    nb->b.ok = 1;
    nb_alloc(&nb->b, sizeof g, 8);             /* the header, written last */
    g.prefix = neg_piece(&nb->b, c, qend, qend, nb->qname_end, nb->prefix_node);
    if (g.prefix == RD_NONE) return -1;
    int regs = c->ncomp - r0;
    nsave(c, &nb->after_prefix);
    nb->pend = c->len;

    /* the wildcard's cover: *.<apex> (RFC 4035 3.1.3.2, RFC 5155 7.2.2) */
    uint8_t wild[RD_NAME_MAX + 1];
    if (olen + 2 > RD_NAME_MAX) return -1;
    wild[0] = 1;
    wild[1] = '*';
    memcpy(wild + 2, origin, olen);
    if (g.kind == ZNEG_NSEC3) {
        nb->wild_node = zimg_nsec3_node_at(z, rd_dnssec_nsec3_place(z, wild, salt, salt_len,
                                                                    iterations, NULL, 0, &match));
    } else {
        nb->wild_node = zimg_nsec_find(z, wild, &match);
    }
    if (match || nb->wild_node == RD_NONE) return -1;
    r0 = c->ncomp;
    rd_dnssec_put_proof(c, z, nb->wild_node, nb->type);
    g.wild = neg_piece(&nb->b, c, nb->pend, nb->pend, nb->qname_end, nb->wild_node);
    if (g.wild == RD_NONE) return -1;
    regs += c->ncomp - r0;
    nb->wild = g.wild;

    /* the top labels, in canonical order (nodes are): with NSEC each one's gap piece,
     * the cover of the last name of its subtree (RFC 4034 6.1: the names after it up to
     * the next top label's fall in that gap) */
    nb->node_piece = calloc(nn, sizeof *nb->node_piece);
    if (!nb->node_piece) return -1;
    for (uint32_t v = 0; v < nn; v++) g.ntop += nodes[v].labels == ol + 1;
    size_t toff = nb_alloc(&nb->b, (size_t)g.ntop * sizeof(zneg_top), 8);
    if (!nb->b.ok) return -1;
    g.top_off = (uint32_t)toff;
    uint32_t i = 0, prev_top = RD_NONE;
    for (uint32_t v = 0; v <= nn; v++) {
        if (v < nn && nodes[v].labels != ol + 1) continue;
        uint32_t piece = RD_NONE;
        if (g.kind == ZNEG_NSEC && v > 0) {
            piece = gap_piece(nb, zimg_nsec_find(z, zimg_node_name(z, v - 1), &match));
            if (!nb->b.ok) return -1;
        }
        if (prev_top == RD_NONE) {
            g.before_first = piece;
        } else {
            zneg_top *t = (zneg_top *)(nb->b.p + toff) + i++;
            const uint8_t *nm = zimg_node_name(z, prev_top);
            t->key = zneg_key(nm + 1, nm[0]);
            t->node = prev_top;
            t->piece = piece;
        }
        prev_top = v;
    }
    if (g.kind == ZNEG_NSEC3) {
        /* whether a top label without a record is surely no name of the zone (zneg) */
        g.tops_named = 1;
        for (uint32_t v = 0; v < nn && g.tops_named; v++)
            if (nodes[v].labels == ol + 1 && nb->node_rec[v] == RD_NONE &&
                !(zimg_node_nsec3_only(z, v) && zimg_node_name(z, v)[0] == ZNEG_N3_LABEL))
                g.tops_named = 0;
        g.n3_count = zimg_nsec3_count(z);
        size_t noff = nb_alloc(&nb->b, (size_t)g.n3_count * 4, 4);
        if (!nb->b.ok) return -1;
        g.n3_off = (uint32_t)noff;
        for (uint32_t j = 0; j < g.n3_count; j++) {
            uint32_t piece = gap_piece(nb, zimg_nsec3_node_at(z, j));
            if (!nb->b.ok) return -1;
            memcpy(nb->b.p + noff + 4 * (size_t)j, &piece, 4);
        }
    }
    /* the directories of the two searches */
    g.top_dir_bits = dir_bits(g.ntop);
    size_t doff = nb_alloc(&nb->b, 4 * (((size_t)1 << g.top_dir_bits) + 1), 4);
    if (!nb->b.ok) return -1;
    g.top_dir_off = (uint32_t)doff;
    const zneg_top *tops = (const zneg_top *)(nb->b.p + toff);
    uint32_t *dir = (uint32_t *)(nb->b.p + doff);
    for (uint32_t b = 0, j = 0; b <= (1u << g.top_dir_bits); b++) {
        while (j < g.ntop && (g.top_dir_bits ? tops[j].key >> (64 - g.top_dir_bits) : 0) < b) j++;
        dir[b] = j;
    }
    if (g.kind == ZNEG_NSEC3) {
        g.n3_dir_bits = dir_bits(g.n3_count);
        doff = nb_alloc(&nb->b, 4 * (((size_t)1 << g.n3_dir_bits) + 1), 4);
        if (!nb->b.ok) return -1;
        g.n3_dir_off = (uint32_t)doff;
        zimg_nsec3_directory(z, (uint32_t *)(nb->b.p + doff), g.n3_dir_bits);
    }
    regs += nb->regs_gap;
    if (regs + (int)ol + 1 > RD_COMP_MAX) return -1;
    g.regs = (uint8_t)regs;
    nb_alloc(&nb->b, 0, 8);
    if (!nb->b.ok) return -1;
    memcpy(nb->b.p, &g, sizeof g);
    return 0;
}

/* The section's offsets moved to the image, at off. */
static void neg_place(uint8_t *img, size_t off, const nbuf *b)
{
    memcpy(img + off, b->p, b->len);
    zneg *g = (zneg *)(img + off);
    uint32_t d = (uint32_t)off;
    reloc((uint8_t *)&g->top_off, d);
    reloc((uint8_t *)&g->before_first, d);
    reloc((uint8_t *)&g->prefix, d);
    reloc((uint8_t *)&g->wild, d);
    reloc((uint8_t *)&g->top_dir_off, d);
    if (g->kind == ZNEG_NSEC3) {
        reloc((uint8_t *)&g->n3_off, d);
        reloc((uint8_t *)&g->n3_dir_off, d);
    }
    zneg_top *t = (zneg_top *)(img + g->top_off);
    for (uint32_t i = 0; i < g->ntop; i++) reloc((uint8_t *)&t[i].piece, d);
    for (uint32_t i = 0; g->kind == ZNEG_NSEC3 && i < g->n3_count; i++)
        reloc(img + g->n3_off + 4 * (size_t)i, d);
}

/* A placed piece written from the zone's records: its copies of the records' places
 * taken again from its rrsets, which zimg_share_apply may have moved after the piece
 * was made (a piece met twice is only rewritten with the same values). */
static void neg_zone_refresh(zimg *z, uint32_t off)
{
    if (off == RD_NONE) return;
    zneg_piece *p = (zneg_piece *)((uint8_t *)z + off);
    if (p->nptr != ZNEG_FROM_ZONE) return;
    zneg_zone *zz = (zneg_zone *)(p + 1);
    *zz = zneg_zone_of(z, zz->rrset, zz->to_origin, zz->below_len);
}

static void neg_refresh(zimg *z)
{
    uint8_t *img = (uint8_t *)z;
    const zneg *g = zneg_of(z);
    neg_zone_refresh(z, g->before_first);
    neg_zone_refresh(z, g->prefix);
    neg_zone_refresh(z, g->wild);
    const zneg_top *t = (const zneg_top *)(img + g->top_off);
    for (uint32_t i = 0; i < g->ntop; i++) neg_zone_refresh(z, t[i].piece);
    for (uint32_t i = 0; g->kind == ZNEG_NSEC3 && i < g->n3_count; i++)
        neg_zone_refresh(z, ((const uint32_t *)(img + g->n3_off))[i]);
}

/* Threads for the pass: 0 = two for a big zone on a machine with two cores or more, one
 * otherwise (set by tests to compare the two). */
int rd_precompute_threads = 0;
enum { SPLIT_MIN_NODES = 16384 };   /* below this a thread costs more than it saves */
/* The first share's room in the image, in bytes: -1 = the estimate below (set by tests
 * to a room too small, which must end in the same image). */
long rd_precompute_room = -1;
/* Room reserved per node of the first share: virtual address space only, what is not
 * written costs nothing; a plain host takes ~100 bytes, a signed name's DO answers more. */
enum { ROOM_PER_NODE = 1024 };

/* The share of the work a node brings, in units of ~600 instructions (a node whose
 * answers are all written here: records, table entry, copies): an answer the general
 * engine makes costs ~5,000 more (callgrind of a 1M-record zone, issue 13).  Counted
 * from the node alone, as node_answers will take it: a referral, a CNAME owner (its
 * default and about two chain qtypes), or its own types not written directly, each
 * once more for DO where the node is signed. */
enum { ENGINE_UNITS = 8 };
static uint32_t node_units(const zimg *z, const znode *nodes, znode_id v)
{
    const znode *nd = &nodes[v];
    if (nd->flags & ZN_BELOW_DNAME) return 1;
    unsigned cnt;
    const zrrset *rs = zimg_node_rrsets(z, v, &cnt);
    uint32_t calls = 0, sig = 1;
    for (unsigned i = 0; i < cnt; i++) {
        if (rs[i].type == RD_T_RRSIG) sig = 2;
        else if (!zfast_qtype_special(rs[i].type) && !type_simple(rs[i].type)) calls++;
    }
    if (nd->cut != RD_NONE) calls = 1;
    else if (nd->flags & ZN_CNAME) calls = 3;
    return 1 + ENGINE_UNITS * sig * calls;
}

/* Where the second share starts: the node that halves the work (node_units), not the
 * count: the halves of a zone differ (a 1M-record zone's first half of the canonical
 * order cost 1.375 G instructions against 1.04 G, and the pass waits for the slower).
 * Every eighth node of a big zone is weighed, enough for a split within a percent.  The
 * split depends on the image alone, so an image is built the same every time (each
 * share keeps its own NODATA cache: the split shows in the bytes). */
static uint32_t split_by_work(const zimg *z)
{
    const znode *nodes = (const znode *)((const uint8_t *)z + z->nodes_off);
    uint32_t nn = z->node_count, step = nn >= 65536 ? 8 : 1;
    uint64_t total = 0, run = 0;
    for (uint32_t v = 0; v < nn; v += step) total += node_units(z, nodes, v);
    for (uint32_t v = 0; v < nn; v += step) {
        run += node_units(z, nodes, v);
        if (2 * run >= total) return v + 1 < nn ? v + 1 : nn - 1;
    }
    return nn / 2;
}

static fctx *fctx_new(const zimg *z, rd_zonetab *ztab, const fctx *proto)
{
    fctx *f = malloc(sizeof *f);
    if (!f) return NULL;
    memcpy(f, proto, offsetof(fctx, nodata_by_len));
    memset(f->nodata_by_len, 0, sizeof f->nodata_by_len);
    f->seen_clear = 0;
    f->zones[0] = z;
    f->db.zones = f->zones;
    f->db.ztab = ztab;
    f->z = z;
    if (proto->soa_names[0]) {
        f->soa_names[0] = f->soa_lower[0];
        f->soa_names[1] = f->soa_lower[1];
    }
    return f;
}

zimg *rd_precompute_answers(zimg *z, size_t *size)
{
    /* Zeroed up to the query and response buffers only, which every run writes before it
     * reads (as fctx_new leaves them): calloc cleared all 68 KB per zone, ~6.8 GB of
     * memset for 100,000 small zones, ~0.2 s of the many-zone start (issue 14). */
    fctx *f = malloc(sizeof *f);
    if (f) memset(f, 0, offsetof(fctx, q));
    uint8_t *bits = calloc(8192, 1);
    uint16_t *ztypes = malloc(65536 * sizeof *ztypes);
    uint32_t *node_rec = NULL;
    rd_zonetab *ztab = NULL;
    part parts[2];
    nbuild *nb = NULL;
    zshare *share = NULL;
    memset(parts, 0, sizeof parts);
    int nparts = 1, ok = 0;
    if (!f || !bits || !ztypes) goto done;

    /* The answer table and the first share's records go right after the image: the
     * image's own mapping reserves their room now, before the engine reads it (it does
     * not move while the shares run), and the first share writes there directly.  Only
     * the second share's records are copied at the end, and the image itself never is
     * (issue 13: the copy and the kernel zeroing the copy's pages were ~1/3 of a
     * secondary's time to serving).  Room not written costs no memory. */
    uint32_t nn = z->node_count;
    size_t slots = 8;                   /* at most 80% full: probes mostly stay within */
    while (slots * 4 < (size_t)nn * 5) slots *= 2;   /* the slot's cache line; a tiny zone's */
    size_t fast_off = (*size + 7) & ~(size_t)7;      /* table is one line (8 slots) */
    size_t recs_off = fast_off + slots * sizeof(zfast_slot);
    int want = rd_precompute_threads;
    if (want <= 0) want = (nn >= SPLIT_MIN_NODES && sysconf(_SC_NPROCESSORS_ONLN) >= 2) ? 2 : 1;
    nparts = want >= 2 && nn >= 2 ? 2 : 1;
    uint32_t nn0 = nparts == 2 ? split_by_work(z) : nn;
    size_t room = rd_precompute_room >= 0 ? (size_t)rd_precompute_room
                                          : (size_t)nn0 * ROOM_PER_NODE + ((size_t)1 << 20);
    int inplace = 0;
    if (recs_off + room < 0xfffffff0u && zimg_map_size(recs_off + room)) {
        zimg *r = zimg_resize(z, recs_off + room);
        if (r) {
            z = r;
            inplace = zimg_room(z) >= recs_off + room;
        }
    }
    f->zones[0] = z;
    f->db.nzones = 1;
    f->db.zones = f->zones;
    uint32_t dup;
    ztab = rd_zonetab_build(f->zones, 1, &dup);
    if (!ztab) goto done;
    f->db.ztab = ztab;
    f->db.opt.max_udp_payload = 1232;
    f->db.opt.minimal_any = 1;
    f->tcp.tcp = 1;
    f->tcp.family = 4;
    f->tcp.keepalive = 0;          /* stored answers never carry it: rd_finish adds OPT */
    f->z = z;

    node_rec = malloc((size_t)(nn ? nn : 1) * sizeof *node_rec);
    if (!node_rec) goto done;

    /* the types the zone holds, and a qtype it does not hold to compute defaults with */
    const zrrset *all = zimg_rrset_at(z, 0);
    for (uint32_t i = 0; all && i < z->rrset_count; i++) bits[all[i].type >> 3] |= (uint8_t)(1u << (all[i].type & 7));
    /* Eight bytes at a time over the bitmap, not type by type: a small zone holds a
     * handful of the 65535 types, and this pass runs once per zone (100,000 zones load). */
    for (uint32_t w = 0; w < 8192; w += 8) {
        uint64_t word;
        memcpy(&word, bits + w, 8);
        if (!word) continue;
        for (uint32_t j = w; j < w + 8; j++) {
            for (unsigned byte = bits[j]; byte; byte &= byte - 1) {
                uint16_t t = (uint16_t)(8 * j + (unsigned)__builtin_ctz(byte));
                if (t && !zfast_qtype_special(t)) ztypes[f->nz++] = t;
            }
        }
    }
    f->dnssec = type_in(bits, RD_T_RRSIG) || type_in(bits, RD_T_NSEC) || type_in(bits, RD_T_NSEC3);
    f->types = bits;
    f->ztypes = ztypes;
    f->probe = 65534;
    while (type_in(bits, f->probe) || zfast_qtype_special(f->probe)) f->probe--;
    const zrrset *soa = zimg_find_rrset(z, zimg_apex(z), RD_T_SOA);
    if (soa && soa->count) {
        const uint8_t *rd = zimg_base(z) + soa->rdata_off + 2;
        uint16_t rdlen = rd_get16(rd - 2);
        size_t m = rd_wire_name_check(rd, rdlen);
        size_t r = m ? rd_wire_name_check(rd + m, rdlen - m) : 0;
        if (m && r) {
            rd_name_lower_copy(f->soa_lower[0], rd);
            rd_name_lower_copy(f->soa_lower[1], rd + m);
            f->soa_names[0] = f->soa_lower[0];
            f->soa_names[1] = f->soa_lower[1];
            soa_tail(f, 0);
            soa_tail(f, 1);
        }
    }

    /* A big zone is split in two parts of the canonical order, one per core, of about
     * the same work (split_by_work): each keeps its own NODATA cache, so the second
     * part stores the few answers it would have shared with the first again. */
    for (int i = 0; i < nparts; i++) {
        part *p = &parts[i];
        p->f = i == 0 ? f : fctx_new(z, ztab, f);
        p->ans = malloc((FANS_MAX + 1) * sizeof *p->ans);
        p->scratch = malloc((size_t)2 * (FANS_MAX + 1) * (ZFAST_BLOB_HDR + ZFAST_BLOB_MAX));
        p->node_rec = node_rec;
        p->v0 = i == 0 ? 0 : nn0;
        p->v1 = i == 0 ? nn0 : nn;
        if (i == 0 && inplace) {
            p->buf = (uint8_t *)z + recs_off;
            p->cap = room;
            p->inplace = 1;
        } else {
            /* a first guess of the room (a plain host takes about 100 bytes), grown as needed */
            p->buf = malloc(p->cap = (size_t)(p->v1 - p->v0) * 112 + 4096);
        }
        if (!p->f || !p->ans || !p->scratch || !p->buf) goto done;
    }
    pthread_t th;
    int threaded = nparts == 2 && pthread_create(&th, NULL, part_run, &parts[1]) == 0;
    part_run(&parts[0]);
    if (threaded) pthread_join(th, NULL);
    else if (nparts == 2) part_run(&parts[1]);
    for (int i = 0; i < nparts; i++)
        if (!parts[i].ok) goto done;

    /* the NXDOMAIN proofs, once the threads are done with the shared context */
    nb = calloc(1, sizeof *nb);
    if (!nb) goto done;
    nb->f = f;
    nb->node_rec = node_rec;
    int has_neg = neg_build(nb) == 0 && nb->b.ok;
    free(nb->node_piece);
    nb->node_piece = NULL;

    size_t total = recs_off;
    for (int i = 0; i < nparts; i++) total += parts[i].len;
    size_t neg_at = (total + 7) & ~(size_t)7;
    if (has_neg) total = neg_at + nb->b.len;
    if (total > 0xfffffff0u) goto done;
    /* the image's pages move (or stay), they are not copied; the threads are done */
    zimg *grown = zimg_resize(z, total);
    if (!grown) goto done;
    z = grown;
    uint8_t *ob = (uint8_t *)z;
    memset(ob + *size, 0, fast_off - *size);
    size_t at = recs_off;
    for (int i = 0; i < nparts; i++) {
        part_place(&parts[i], ob, at, node_rec);
        at += parts[i].len;
        if (!parts[i].inplace) free(parts[i].buf);
        parts[i].buf = NULL;
    }
    /* the RRSIGs the DO answers hold, found while node_rec still maps the records */
    share = f->dnssec ? zimg_share_plan(z, node_rec) : NULL;
    const znode *nodes = (const znode *)(ob + z->nodes_off);
    int filled = table_fill((zfast_slot *)(ob + fast_off), (uint32_t)slots, ob, nodes, nn, node_rec);
    free(node_rec);
    node_rec = NULL;
    if (filled != 0) goto done;
    z->fast_off = (uint32_t)fast_off;
    z->fast_mask = (uint32_t)(slots - 1);
    z->fast_recs_off = (uint32_t)recs_off;
    z->fast_recs_len = (uint32_t)(total - recs_off);
    /* nothing fails from here: the zone's RRSIGs may now live in the answers */
    size_t moved = zimg_share_apply(z, share, at);
    at -= moved;
    neg_at -= moved;
    total -= moved;
    if (has_neg) {
        memset(ob + at, 0, neg_at - at);
        neg_place(ob, neg_at, &nb->b);
        z->neg_off = (uint32_t)neg_at;
        z->neg_len = (uint32_t)nb->b.len;
        if (moved) neg_refresh(z);
    }
    if (moved) {
        zimg *shrunk = zimg_resize(z, total);  /* the freed tail's pages go back */
        if (shrunk) z = shrunk;
    }
    z->size = (uint32_t)total;
    *size = total;
    ok = 1;
    /* the answers synthesized from wildcards, checked against the finished image */
    z = rd_wild_attach(z, size);
done:
    if (!ok) {
        /* no memory (or too big): a valid image without precomputed answers */
        z->fast_off = z->fast_mask = z->fast_recs_off = z->fast_recs_len = 0;
        z->neg_off = z->neg_len = 0;
        zimg *back = zimg_resize(z, *size);  /* the room reserved goes back */
        if (back) z = back;
    }
    zimg_share_free(share);
    if (nb) free(nb->b.p);
    free(nb);
    for (int i = 0; i < 2; i++) {
        if (parts[i].f != f) free(parts[i].f);
        free(parts[i].ans);
        free(parts[i].scratch);
        if (!parts[i].inplace) free(parts[i].buf);
    }
    free(f); free(bits); free(ztypes); free(node_rec);
    rd_zonetab_free(ztab);
    return z;
}
