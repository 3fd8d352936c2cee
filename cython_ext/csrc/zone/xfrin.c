/* xfrin.c — reading AXFR/IXFR response messages into record lists, and applying an IXFR to an image (see xfrin.h). */
#define _GNU_SOURCE   /* qsort_r */
#include "zone/xfrin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/rd_wire.h"
#include "zone/zimg_build_int.h"   /* zimg_rdata_cmp */

enum { EDNS_EXPIRE = 9 };   /* RFC 7314 */

/* Stages of the record stream. */
enum {
    ST_FIRST = 0,      /* expecting the opening SOA */
    ST_SECOND,         /* after it: the next record tells AXFR from IXFR (RFC 1995 4) */
    ST_AXFR,           /* inside a whole zone */
    ST_DEL,            /* IXFR: inside a sequence's deletions */
    ST_ADD,            /* IXFR: inside a sequence's additions */
    ST_END,            /* the closing SOA came: no record may follow */
};

static int fail(rd_xfrin *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A zone this big builds in milliseconds: its index is left to the build. */
size_t rd_xfrin_index_min = 65536;

static int fail(rd_xfrin *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof(x->err), fmt, ap);
    va_end(ap);
    return -1;
}

void rd_xfrin_init(rd_xfrin *x, const uint8_t *origin, uint16_t qtype, uint16_t id,
                   uint32_t have_serial)
{
    memset(x, 0, sizeof(*x));
    rd_name_lower_copy(x->origin, origin);
    x->qtype = qtype;
    x->id = id;
    x->have_serial = have_serial;
    rd_rrlist_init(&x->zone);
    rd_rrlist_init(&x->diff);
}

void rd_xfrin_free(rd_xfrin *x)
{
    rd_rrlist_free(&x->zone);
    rd_rrlist_free(&x->diff);
    zimg_index_free(x->index);
    x->index = NULL;
}

int rd_xfrin_index(rd_xfrin *x, size_t max)
{
    if (x->kind != RD_XFRIN_AXFR || x->no_index || (!x->index && x->zone.n < rd_xfrin_index_min))
        return 0;
    if (!x->index) x->index = zimg_index_new(x->origin, &x->zone);
    int rc = x->index ? zimg_index_more(x->index, max) : -1;
    if (rc < 0) {
        /* out of memory, or a record the build reports: the build makes its own */
        zimg_index_free(x->index);
        x->index = NULL;
        x->no_index = 1;
        return 0;
    }
    return rc;
}

/* How the rdata of a type holds names that a sender may compress (RFC 1035 3.3 for the
 * original types; RFC 3597 4 lists the later ones a receiver must also decompress):
 * 'n' a name, '2' a 16-bit field, '6' three of them, 's' a character-string, 'F' the 20
 * octets of SOA timers (exactly).  NULL: the rdata is copied as it is. */
static const char *rdata_shape(uint16_t type)
{
    switch (type) {
    case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 39:
        return "n";                 /* NS MD MF CNAME MB MG MR PTR DNAME */
    case 6: return "nnF";           /* SOA */
    case 14: case 17: return "nn";  /* MINFO RP */
    case 15: case 18: case 21: case 36: return "2n";   /* MX AFSDB RT KX */
    case 26: return "2nn";          /* PX */
    case 33: return "6n";           /* SRV */
    case 35: return "22sssn";       /* NAPTR */
    default: return NULL;
    }
}

/* The rdata at m[p..p+rdlen) with its names decompressed into out (cap bytes).  Returns
 * its length, or -1 when it does not have the type's shape. */
static long expand_rdata(uint16_t type, const uint8_t *m, size_t len, size_t p, size_t rdlen,
                         uint8_t *out, size_t cap)
{
    const char *shape = rdata_shape(type);
    size_t end = p + rdlen, o = 0;
    if (!shape) {
        if (rdlen > cap) return -1;
        memcpy(out, m + p, rdlen);
        return (long)rdlen;
    }
    for (; *shape; shape++) {
        size_t n;
        switch (*shape) {
        case 'n': {
            uint8_t name[RD_NAME_MAX + 1];
            size_t nl, after = rd_wire_name_read(m, len, p, name, &nl, 0);
            if (!after || after > end || o + nl > cap) return -1;
            memcpy(out + o, name, nl);
            o += nl;
            p = after;
            continue;
        }
        case '2': n = 2; break;
        case '6': n = 6; break;
        case 'F': n = 20; if (end - p != 20) return -1; break;
        case 's': if (p >= end) return -1; n = (size_t)m[p] + 1; break;
        default: return -1;
        }
        if (p + n > end || o + n > cap) return -1;
        memcpy(out + o, m + p, n);
        o += n;
        p += n;
    }
    if (p != end) return -1;
    return (long)o;
}

static int soa_serial(const uint8_t *rd, size_t rdlen, uint32_t *serial)
{
    size_t a = rd_wire_name_check(rd, rdlen);
    size_t b = a ? rd_wire_name_check(rd + a, rdlen - a) : 0;
    if (!a || !b || rdlen - a - b != 20) return -1;
    *serial = rd_get32(rd + a + b);
    return 0;
}

/* SOA rdata equality: names case-insensitively (RFC 4343), the timers exactly. */
static int soa_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen) return 0;
    size_t n1 = rd_name_len(a), n2 = rd_name_len(a + n1);
    if (!rd_name_eq(a, b) || !rd_name_eq(a + n1, b + n1)) return 0;
    return memcmp(a + n1 + n2, b + n1 + n2, 20) == 0;
}

static int keep(rd_xfrin *x, rd_rrlist *l, const uint8_t *owner, uint16_t type, uint16_t rclass,
                uint32_t ttl, const uint8_t *rd, size_t rdlen, uint16_t flags)
{
    if (rd_rrlist_add(l, owner, type, rclass, ttl, rd, (uint16_t)rdlen, 0,
                      (uint32_t)x->records) != 0)
        return fail(x, "out of memory");
    rd_rr *rr = &l->rr[l->n - 1];
    rr->flags = flags;
    /* A primary sends a name's records together (RFC 5936 2.2 asks no order, but Knot,
     * NSD, BIND and robdns walk their trees): when the owner is the previous record's,
     * byte for byte, the record shares its bytes and the copy just stored (the owner,
     * then the rdata, at the arena's end) moves down over it.  The arena holds each
     * owner about once, and zimg_build's index takes its same-owner shortcut. */
    if (l->n > 1) {
        uint32_t prev = l->rr[l->n - 2].owner;
        size_t ol = rd_name_len(owner);
        if (rr->rdata == rr->owner + ol && memcmp(l->arena + prev, l->arena + rr->owner, ol) == 0) {
            memmove(l->arena + rr->owner, l->arena + rr->rdata, rdlen);
            rr->rdata = rr->owner;
            rr->owner = prev;
            l->alen -= ol;
        }
    }
    return 0;
}

/* One answer record, in stream order: the stage machine of RFC 5936 2.2 (AXFR) and
 * RFC 1995 4 (IXFR: SOA(new) [SOA(old) deletions SOA(next) additions]... SOA(new)). */
static int take_record(rd_xfrin *x, const uint8_t *owner, uint16_t type, uint16_t rclass,
                       uint32_t ttl, const uint8_t *rd, size_t rdlen)
{
    int is_soa = type == RD_T_SOA && rd_name_eq(owner, x->origin);
    uint32_t serial = 0;
    char buf[RD_NAME_MAX * 4 + 8];
    x->records++;
    if (rclass != RD_C_IN)
        return fail(x, "record %llu: class %u, not IN", (unsigned long long)x->records, rclass);
    if (!rd_name_is_sub(owner, x->origin))
        return fail(x, "record %s outside the zone", rd_name_to_text(owner, buf, sizeof buf));
    if (type == RD_T_SOA && !is_soa)
        return fail(x, "SOA record at %s, not at the apex", rd_name_to_text(owner, buf, sizeof buf));
    if (is_soa && soa_serial(rd, rdlen, &serial) != 0)
        return fail(x, "malformed SOA record");
    if (type == RD_T_AXFR || type == RD_T_IXFR || type == RD_T_OPT || type == RD_T_TSIG_XFR
        || type == RD_T_ANY)
        return fail(x, "record of meta type %u in the answer", type);

    switch (x->stage) {
    case ST_FIRST:
        /* RFC 5936 2.2: the first record is the zone's SOA */
        if (!is_soa) return fail(x, "the transfer does not start with the zone's SOA");
        if (rdlen > sizeof x->soa) return fail(x, "SOA record too long");
        memcpy(x->soa, rd, rdlen);
        x->soa_len = (uint16_t)rdlen;
        x->serial = serial;
        x->stage = ST_SECOND;
        /* the SOA belongs to the zone whatever comes next; for an IXFR it is also the
         * end marker and is then taken back out (below) */
        return keep(x, &x->zone, owner, type, rclass, ttl, rd, rdlen, 0);
    case ST_SECOND:
        if (x->qtype == RD_T_IXFR && is_soa && !soa_equal(rd, rdlen, x->soa, x->soa_len)) {
            /* RFC 1995 4: a second SOA starts the first sequence: the version we have */
            rd_rrlist_free(&x->zone);
            rd_rrlist_init(&x->zone);
            x->kind = RD_XFRIN_IXFR;
            x->first_old = serial;
            x->seq_new = serial;
            x->stage = ST_DEL;
            return keep(x, &x->diff, owner, type, rclass, ttl, rd, rdlen, RD_XFRIN_DEL);
        }
        x->kind = RD_XFRIN_AXFR;
        x->stage = ST_AXFR;
        /* an AXFR (or IXFR in AXFR form) goes on with this record */
        __attribute__((fallthrough));
    case ST_AXFR:
        if (is_soa) {
            /* RFC 5936 2.2: the closing SOA ends the zone, and equals the opening one */
            if (!soa_equal(rd, rdlen, x->soa, x->soa_len))
                return fail(x, "the closing SOA (serial %u) differs from the opening one (%u)",
                            serial, x->serial);
            x->stage = ST_END;
            return 0;
        }
        return keep(x, &x->zone, owner, type, rclass, ttl, rd, rdlen, 0);
    case ST_DEL:
        if (is_soa) {
            /* the additions of this sequence start with the SOA of its new version */
            if (!rd_serial_lt(x->seq_new, serial))
                return fail(x, "IXFR sequence from serial %u to %u does not increase",
                            x->seq_new, serial);
            x->seq_new = serial;
            x->stage = ST_ADD;
            return keep(x, &x->diff, owner, type, rclass, ttl, rd, rdlen, RD_XFRIN_ADD);
        }
        return keep(x, &x->diff, owner, type, rclass, ttl, rd, rdlen, RD_XFRIN_DEL);
    case ST_ADD:
        if (is_soa) {
            if (serial == x->serial && x->seq_new == x->serial) {
                /* the new version reached: this SOA closes the transfer */
                if (!soa_equal(rd, rdlen, x->soa, x->soa_len))
                    return fail(x, "the closing SOA differs from the opening one");
                x->stage = ST_END;
                return 0;
            }
            /* the next sequence starts from where this one ended */
            if (serial != x->seq_new)
                return fail(x, "IXFR sequence starts from serial %u, the previous ended at %u",
                            serial, x->seq_new);
            x->stage = ST_DEL;
            return keep(x, &x->diff, owner, type, rclass, ttl, rd, rdlen, RD_XFRIN_DEL);
        }
        return keep(x, &x->diff, owner, type, rclass, ttl, rd, rdlen, RD_XFRIN_ADD);
    default:
        return fail(x, "a record after the closing SOA");
    }
}

static int read_opt(rd_xfrin *x, const uint8_t *rd, size_t rdlen)
{
    size_t p = 0;
    while (p + 4 <= rdlen) {
        uint16_t code = rd_get16(rd + p), olen = rd_get16(rd + p + 2);
        if (p + 4 + olen > rdlen) return fail(x, "malformed EDNS option");
        /* RFC 7314 2: EXPIRE in a response holds 4 octets, seconds */
        if (code == EDNS_EXPIRE && olen == 4) {
            x->has_expire = 1;
            x->expire = rd_get32(rd + p + 4);
        }
        p += 4 + (size_t)olen;
    }
    if (p != rdlen) return fail(x, "malformed EDNS options");
    return 0;
}

/* The records of a message after its question: answers go to the stage machine, the
 * additional section may hold OPT (EDNS EXPIRE) and, last, TSIG. */
static int read_records(rd_xfrin *x, const uint8_t *m, size_t len, size_t p, size_t an,
                        size_t ns, size_t total, uint8_t *rdb, size_t *tsig_off)
{
    for (size_t i = 0; i < total; i++) {
        uint8_t owner[RD_NAME_MAX + 1];
        size_t ol, start = p;
        p = rd_wire_name_read(m, len, p, owner, &ol, 0);
        if (!p || p + 10 > len) return fail(x, "malformed record %zu of message %u", i + 1, x->messages);
        uint16_t type = rd_get16(m + p), rclass = rd_get16(m + p + 2);
        uint32_t ttl = rd_get32(m + p + 4);
        size_t rdlen = rd_get16(m + p + 8);
        p += 10;
        if (p + rdlen > len) return fail(x, "record %zu of message %u runs past its end", i + 1, x->messages);
        if (i < an) {
            if (x->stage == ST_END)
                return fail(x, "a record after the closing SOA");
            long n = expand_rdata(type, m, len, p, rdlen, rdb, 65535);
            if (n < 0) return fail(x, "malformed rdata of a type %u record", type);
            /* RFC 2181 8: a TTL with the top bit set is read as zero */
            if (ttl & 0x80000000u) ttl = 0;
            if (take_record(x, owner, type, rclass, ttl, rdb, (size_t)n) != 0) return -1;
        } else if (i >= (size_t)an + ns) {
            if (type == RD_T_TSIG_XFR) {
                /* RFC 8945 5.1: TSIG is the last record */
                if (i != total - 1) return fail(x, "TSIG record not last");
                *tsig_off = start;
            } else if (type == RD_T_OPT) {
                if (read_opt(x, m + p, rdlen) != 0) return -1;
            }
        }
        p += rdlen;
    }
    if (p != len) return fail(x, "%zu bytes after the last record", len - p);
    return 0;
}

int rd_xfrin_message(rd_xfrin *x, const uint8_t *m, size_t len, size_t *tsig_off)
{
    *tsig_off = 0;
    if (x->done) return fail(x, "a message after the end of the transfer");
    if (len < 12) return fail(x, "message shorter than its header");
    uint16_t id = rd_get16(m), flags = rd_get16(m + 2);
    uint16_t qd = rd_get16(m + 4), an = rd_get16(m + 6), ns = rd_get16(m + 8),
             ar = rd_get16(m + 10);
    x->messages++;
    /* RFC 5936 2.2: every message of the response carries the request's ID */
    if (id != x->id) return fail(x, "message ID %u, not the request's %u", id, x->id);
    if (!(flags & 0x8000)) return fail(x, "not a response");
    if (((flags >> 11) & 0xF) != 0) return fail(x, "opcode %u, not QUERY", (flags >> 11) & 0xF);
    x->rcode = flags & 0xF;
    if (x->rcode) return fail(x, "the primary answered RCODE %u", x->rcode);
    if (flags & 0x0200) return fail(x, "truncated message (TC) in a transfer over TCP");
    /* RFC 5936 2.2.1: one question at most (the first message repeats the query's) */
    if (qd > 1) return fail(x, "%u questions", qd);
    size_t p = 12;
    if (qd) {
        uint8_t q[RD_NAME_MAX + 1];
        size_t ql;
        p = rd_wire_name_read(m, len, p, q, &ql, 0);
        if (!p || p + 4 > len) return fail(x, "malformed question");
        if (!rd_name_eq(q, x->origin) || rd_get16(m + p) != x->qtype)
            return fail(x, "the question is not the one asked");
        p += 4;
    }
    size_t total = (size_t)an + ns + ar;
    /* one record's rdata with its names decompressed: at most 65535 octets (RFC 1035
     * 3.2.1), whatever the message held */
    uint8_t *rdb = malloc(65535);
    if (!rdb) return fail(x, "out of memory");
    int rc = read_records(x, m, len, p, an, ns, total, rdb, tsig_off);
    free(rdb);
    if (rc != 0) return -1;
    if (x->stage == ST_END) {
        x->done = 1;
        if (x->kind == RD_XFRIN_PENDING) x->kind = RD_XFRIN_AXFR;
        return 1;
    }
    /* RFC 1995 4: an IXFR answered with the one SOA (in one message), no newer than the
     * serial asked from, means the primary has nothing newer; a newer one is the start
     * of a transfer that goes on in the next message */
    if (x->stage == ST_SECOND && x->qtype == RD_T_IXFR && x->messages == 1 && x->records == 1
        && !rd_serial_lt(x->have_serial, x->serial)) {
        x->done = 1;
        x->kind = RD_XFRIN_UPTODATE;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- applying an IXFR */

int rd_xfrin_image_records(const zimg *z, rd_rrlist *out)
{
    const uint8_t *base = zimg_base(z);
    uint32_t nodes = zimg_node_count(z);
    for (uint32_t n = 0; n < nodes; n++) {
        unsigned count;
        const uint8_t *owner = zimg_node_name(z, n);
        const zrrset *r = zimg_node_rrsets(z, n, &count);
        for (unsigned i = 0; i < count; i++) {
            const uint8_t *p = base + r[i].rdata_off;
            for (unsigned k = 0; k < r[i].count; k++) {
                uint16_t rdlen = rd_get16(p);
                if (rd_rrlist_add(out, owner, r[i].type, RD_C_IN, r[i].ttl, p + 2, rdlen, 0, 0) != 0)
                    return -1;
                p += 2 + (size_t)rdlen;
            }
        }
    }
    return 0;
}

/* The increment is applied by a merge walk, never by re-reading the zone into a table:
 * its records are sorted by (owner, type, rdata) and netted per record, each looked up in
 * the image (one hash probe); then the image's records are walked once in image order,
 * the net deletions skipped and the TTLs of the rrsets the increment touched replaced, and
 * the net additions appended.  The work beyond copying the records out is in the size of
 * the increment. */

/* Case-insensitive order of two wire names (equal exactly when rd_name_eq): the lowering
 * is safe over length octets too (at most 63, below 'A'). */
static int name_casecmp(const uint8_t *a, const uint8_t *b)
{
    size_t la = rd_name_len(a), lb = rd_name_len(b), m = la < lb ? la : lb;
    for (size_t i = 0; i < m; i++) {
        uint8_t x = rd_lower(a[i]), y = rd_lower(b[i]);
        if (x != y) return x < y ? -1 : 1;
    }
    return la < lb ? -1 : la > lb;
}

/* Order of two increment records: owner, type, rdata in canonical form (RFC 4034 6.3: the
 * RRSIGs covering one type stay together, the type covered is their first two octets),
 * then stream order.  Records equal in canonical form are one record (RFC 2181 5), as
 * the image builder has it: a deletion names a record whatever the case of its names. */
static int diff_cmp(const void *pa, const void *pb, void *arg)
{
    const rd_rrlist *l = arg;
    uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
    const rd_rr *a = &l->rr[ia], *b = &l->rr[ib];
    int c = name_casecmp(l->arena + a->owner, l->arena + b->owner);
    if (c) return c;
    if (a->type != b->type) return a->type < b->type ? -1 : 1;
    c = zimg_rdata_cmp(a->type, l->arena + a->rdata, a->rdlen, l->arena + b->rdata, b->rdlen);
    if (c) return c;
    return ia < ib ? -1 : ia > ib;
}

static uint16_t covered_of(uint16_t type, const uint8_t *rd, uint16_t rdlen)
{
    return type == RD_T_RRSIG && rdlen >= 2 ? rd_get16(rd) : 0;
}

/* Where the record (owner, type, rdata) is in the image: its rrset's global index and
 * its image offset (of its length octets); 0 when found. */
static int image_find(const zimg *z, const uint8_t *owner, uint16_t type, const uint8_t *rd,
                      uint16_t rdlen, uint32_t *rs_index, uint32_t *rec_off)
{
    uint8_t lname[RD_NAME_MAX + 1];
    rd_name_lower_copy(lname, owner);
    znode_id n = zimg_find_node(z, lname);
    if (n == RD_NONE) return -1;
    unsigned count;
    const zrrset *r = zimg_node_rrsets(z, n, &count);
    uint16_t cov = covered_of(type, rd, rdlen);
    const uint8_t *base = zimg_base(z);
    for (unsigned i = 0; i < count; i++) {
        if (r[i].type != type || r[i].covered != cov) continue;
        const uint8_t *p = base + r[i].rdata_off;
        for (unsigned k = 0; k < r[i].count; k++) {
            uint16_t len = rd_get16(p);
            if (zimg_rdata_cmp(type, p + 2, len, rd, rdlen) == 0) {
                *rs_index = (uint32_t)(&r[i] - zimg_rrset_at(z, 0));
                *rec_off = (uint32_t)(p - base);
                return 0;
            }
            p += 2 + (size_t)len;
        }
        return -1;
    }
    return -1;
}

typedef struct ttl_set { uint32_t rs, ttl; } ttl_set;   /* an rrset of the image, its new TTL */

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int ttl_set_cmp(const void *a, const void *b)
{
    return u32_cmp(&((const ttl_set *)a)->rs, &((const ttl_set *)b)->rs);
}

int rd_xfrin_apply(rd_xfrin *x, const zimg *cur, rd_rrlist *out)
{
    const rd_rrlist *d = &x->diff;
    size_t n = d->n;
    char buf[RD_NAME_MAX * 4 + 8];
    int rc = -1;
    if (x->kind != RD_XFRIN_IXFR || !x->done) return fail(x, "not a complete IXFR");
    /* RFC 1995 4: the first sequence starts from the version the secondary has */
    if (x->first_old != zimg_serial(cur))
        return fail(x, "the IXFR starts from serial %u, the zone is at %u", x->first_old,
                    zimg_serial(cur));
    uint32_t *ord = malloc((n ? n : 1) * sizeof *ord);
    uint32_t *dels = malloc((n ? n : 1) * sizeof *dels);     /* image offsets of records */
    uint32_t *adds = malloc((n ? n : 1) * sizeof *adds);     /* increment records */
    uint32_t *add_ttl = malloc((n ? n : 1) * sizeof *add_ttl);
    ttl_set *ttls = malloc((n ? n : 1) * sizeof *ttls);
    size_t ndel = 0, nadd = 0, nttl = 0;
    if (!ord || !dels || !adds || !add_ttl || !ttls) { fail(x, "out of memory"); goto out; }
    for (uint32_t j = 0; j < n; j++) ord[j] = j;
    qsort_r(ord, n, sizeof *ord, diff_cmp, (void *)d);

    for (size_t s = 0; s < n; ) {
        /* one rrset of the increment: [s, e) share owner, type and (RRSIG) type covered */
        const rd_rr *r0 = &d->rr[ord[s]];
        uint16_t cov = covered_of(r0->type, d->arena + r0->rdata, r0->rdlen);
        size_t e = s + 1;
        while (e < n) {
            const rd_rr *r = &d->rr[ord[e]];
            if (r->type != r0->type || covered_of(r->type, d->arena + r->rdata, r->rdlen) != cov
                || !rd_name_eq(d->arena + r->owner, d->arena + r0->owner))
                break;
            e++;
        }
        /* RFC 2181 5.2: one TTL per rrset; the increment's last addition to it sets it
           (the stream's last, the rrsets of each version taken as one TTL each) */
        uint32_t last_add = RD_NONE, img_rs = RD_NONE;
        size_t add0 = nadd;
        for (size_t g = s; g < e; ) {
            /* one record: its operations in stream order, from its state in the image */
            const rd_rr *a = &d->rr[ord[g]];
            size_t h = g + 1;
            while (h < e && zimg_rdata_cmp(a->type, d->arena + d->rr[ord[h]].rdata,
                                           d->rr[ord[h]].rdlen, d->arena + a->rdata, a->rdlen) == 0)
                h++;
            uint32_t rs = RD_NONE, roff = RD_NONE;
            int found = image_find(cur, d->arena + a->owner, a->type, d->arena + a->rdata,
                                   a->rdlen, &rs, &roff) == 0;
            if (found) img_rs = rs;
            int present = found;
            uint32_t added = RD_NONE;
            for (size_t k = g; k < h; k++) {
                const rd_rr *o = &d->rr[ord[k]];
                if (o->flags & RD_XFRIN_DEL) {
                    /* every deleted record must be there (RFC 1995 leaves no other reading) */
                    if (!present) {
                        fail(x, "IXFR deletes a type %u record at %s that the zone does not have",
                             o->type, rd_name_to_text(d->arena + o->owner, buf, sizeof buf));
                        goto out;
                    }
                    present = 0;
                    added = RD_NONE;
                } else {
                    present = 1;
                    added = ord[k];
                    /* applied in order, every addition re-times the rrset, even one a
                       later sequence deletes again */
                    if (last_add == RD_NONE || ord[k] > last_add) last_add = ord[k];
                }
            }
            if (found && !present) dels[ndel++] = roff;
            if (!found && present) adds[nadd++] = added;
            g = h;
        }
        uint32_t ttl = last_add != RD_NONE ? d->rr[last_add].ttl : 0;
        for (size_t k = add0; k < nadd; k++) add_ttl[k] = ttl;
        if (last_add != RD_NONE && img_rs != RD_NONE) {
            ttls[nttl].rs = img_rs;
            ttls[nttl].ttl = ttl;
            nttl++;
        } else if (last_add != RD_NONE) {
            /* an rrset the image may have but none of whose records the increment names:
               look it up through the last addition, which re-times it even when no
               addition is left in the end (added by one sequence, deleted by a later one:
               the image's other records keep the TTL that addition gave them) */
            const rd_rr *a = &d->rr[last_add];
            uint8_t lname[RD_NAME_MAX + 1];
            rd_name_lower_copy(lname, d->arena + a->owner);
            znode_id nd = zimg_find_node(cur, lname);
            unsigned count;
            const zrrset *r = nd == RD_NONE ? NULL : zimg_node_rrsets(cur, nd, &count);
            for (unsigned i = 0; r && i < count; i++)
                if (r[i].type == a->type && r[i].covered == cov) {
                    ttls[nttl].rs = (uint32_t)(&r[i] - zimg_rrset_at(cur, 0));
                    ttls[nttl].ttl = ttl;
                    nttl++;
                }
        }
        s = e;
    }
    qsort(dels, ndel, sizeof *dels, u32_cmp);
    qsort(ttls, nttl, sizeof *ttls, ttl_set_cmp);

    /* the walk: image order is rrset order and, within each, rdata order, so both the
     * deleted offsets and the rrsets whose TTL changes come up in ascending order */
    const uint8_t *base = zimg_base(cur);
    uint32_t nodes = zimg_node_count(cur);
    size_t dp = 0, tp = 0, skipped = 0;
    for (uint32_t v = 0; v < nodes; v++) {
        unsigned count;
        const uint8_t *owner = zimg_node_name(cur, v);
        const zrrset *r = zimg_node_rrsets(cur, v, &count);
        for (unsigned i = 0; i < count; i++) {
            uint32_t gi = (uint32_t)(&r[i] - zimg_rrset_at(cur, 0));
            while (tp < nttl && ttls[tp].rs < gi) tp++;
            uint32_t ttl = tp < nttl && ttls[tp].rs == gi ? ttls[tp].ttl : r[i].ttl;
            const uint8_t *p = base + r[i].rdata_off;
            for (unsigned k = 0; k < r[i].count; k++) {
                uint16_t rdlen = rd_get16(p);
                uint32_t off = (uint32_t)(p - base);
                while (dp < ndel && dels[dp] < off) dp++;
                if (dp < ndel && dels[dp] == off) {
                    skipped++;
                } else if (rd_rrlist_add(out, owner, r[i].type, RD_C_IN, ttl, p + 2, rdlen,
                                         0, 0) != 0) {
                    fail(x, "out of memory");
                    goto out;
                }
                p += 2 + (size_t)rdlen;
            }
        }
    }
    if (skipped != ndel) {          /* an image not in rrset order: cannot happen */
        fail(x, "internal error: %zu of %zu deletions met in the image walk", skipped, ndel);
        goto out;
    }
    for (size_t k = 0; k < nadd; k++) {
        const rd_rr *a = &d->rr[adds[k]];
        if (rd_rrlist_add(out, d->arena + a->owner, a->type, a->rclass, add_ttl[k],
                          d->arena + a->rdata, a->rdlen, 0, 0) != 0) {
            fail(x, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    free(ord); free(dels); free(adds); free(add_ttl); free(ttls);
    return rc;
}
