/* zdiff.c — the changeset between two images of a zone: one merge walk over both in canonical order (nodes, then rrsets, then records), never through text. */
#include "zone/zdiff.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/rd_wire.h"
#include "zimg_build_int.h"

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} buf;

static int buf_put(buf *b, const void *d, size_t n)
{
    if (b->oom) return -1;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return -1; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    return 0;
}

static void rec_out(buf *b, const uint8_t *owner, uint16_t type, uint32_t ttl,
                    const uint8_t *rdata, uint16_t rdlen)
{
    uint8_t f[10];
    rd_put16(f, type);
    rd_put16(f + 2, RD_C_IN);
    rd_put32(f + 4, ttl);
    rd_put16(f + 8, rdlen);
    buf_put(b, owner, rd_name_len(owner));
    buf_put(b, f, 10);
    buf_put(b, rdata, rdlen);
}

/* Every record of rrset r (owner `owner`) into b; returns how many. */
static long rrset_out(buf *b, const zimg *z, const uint8_t *owner, const zrrset *r)
{
    const uint8_t *p = zimg_base(z) + r->rdata_off, *end = p + r->rdata_len;
    long n = 0;
    for (unsigned i = 0; i < r->count && p + 2 <= end; i++) {
        uint16_t l = rd_get16(p);
        rec_out(b, owner, r->type, r->ttl, p + 2, l);
        p += 2 + l;
        n++;
    }
    return n;
}

static uint32_t rrset_key(const zrrset *r) { return (uint32_t)r->type << 16 | r->covered; }

/* The two versions of one rrset: records only in the old one deleted, only in the new one
 * added; a TTL change replaces the whole rrset. */
static long rrset_diff(buf *del, buf *add, const zimg *o, const zrrset *ro, const zimg *n,
                       const zrrset *rn, const uint8_t *owner)
{
    if (ro->ttl != rn->ttl) return rrset_out(del, o, owner, ro) + rrset_out(add, n, owner, rn);
    const uint8_t *a = zimg_base(o) + ro->rdata_off, *ae = a + ro->rdata_len;
    const uint8_t *b = zimg_base(n) + rn->rdata_off, *be = b + rn->rdata_len;
    long cnt = 0;
    while (a + 2 <= ae || b + 2 <= be) {
        int c;
        uint16_t al = a + 2 <= ae ? rd_get16(a) : 0;
        uint16_t bl = b + 2 <= be ? rd_get16(b) : 0;
        if (a + 2 > ae) c = 1;
        else if (b + 2 > be) c = -1;
        else c = zimg_rdata_cmp(ro->type, a + 2, al, b + 2, bl);
        if (c < 0) { rec_out(del, owner, ro->type, ro->ttl, a + 2, al); a += 2 + al; cnt++; }
        else if (c > 0) { rec_out(add, owner, rn->type, rn->ttl, b + 2, bl); b += 2 + bl; cnt++; }
        else { a += 2 + al; b += 2 + bl; }
    }
    return cnt;
}

/* All rrsets of a node (the apex SOA excepted: it opens each half of the changeset). */
static long node_out(buf *b, const zimg *z, znode_id id)
{
    unsigned cnt;
    const zrrset *rs = zimg_node_rrsets(z, id, &cnt);
    const uint8_t *owner = zimg_node_name(z, id);
    long n = 0;
    for (unsigned i = 0; i < cnt; i++) {
        if (id == zimg_apex(z) && rs[i].type == RD_T_SOA) continue;
        n += rrset_out(b, z, owner, &rs[i]);
    }
    return n;
}

static long node_diff(buf *del, buf *add, const zimg *o, znode_id io, const zimg *n, znode_id in)
{
    unsigned co, cn, i = 0, j = 0;
    const zrrset *ro = zimg_node_rrsets(o, io, &co);
    const zrrset *rn = zimg_node_rrsets(n, in, &cn);
    const uint8_t *owner = zimg_node_name(n, in);
    int apex = io == zimg_apex(o);
    long cnt = 0;
    while (i < co || j < cn) {
        if (apex && i < co && ro[i].type == RD_T_SOA) { i++; continue; }
        if (apex && j < cn && rn[j].type == RD_T_SOA) { j++; continue; }
        uint32_t ko = i < co ? rrset_key(&ro[i]) : UINT32_MAX;
        uint32_t kn = j < cn ? rrset_key(&rn[j]) : UINT32_MAX;
        if (i < co && (j >= cn || ko < kn)) cnt += rrset_out(del, o, owner, &ro[i++]);
        else if (j < cn && (i >= co || kn < ko)) cnt += rrset_out(add, n, owner, &rn[j++]);
        else cnt += rrset_diff(del, add, o, &ro[i++], n, &rn[j++], owner);
    }
    return cnt;
}

static int soa_out(buf *b, const zimg *z)
{
    const zrrset *r = zimg_find_rrset(z, zimg_apex(z), RD_T_SOA);
    if (!r) return -1;
    const uint8_t *p = zimg_base(z) + r->rdata_off;
    rec_out(b, zimg_origin(z), RD_T_SOA, r->ttl, p + 2, rd_get16(p));
    return 0;
}

long zdiff_build(const zimg *old, const zimg *new_, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (rd_name_cmp(zimg_origin(old), zimg_origin(new_)) != 0) return -1;
    buf del = { 0 }, add = { 0 };
    uint8_t hdr[ZDIFF_HDR] = { 0 };
    buf_put(&del, hdr, ZDIFF_HDR);
    if (soa_out(&del, old) < 0 || soa_out(&add, new_) < 0) goto fail;
    uint32_t no = zimg_node_count(old), nn = zimg_node_count(new_), i = 0, j = 0;
    long cnt = 0;
    /* Both node arrays are in canonical order (RFC 4034 6.1): a merge walk. */
    while (i < no || j < nn) {
        int c;
        if (i >= no) c = 1;
        else if (j >= nn) c = -1;
        else c = rd_name_cmp(zimg_node_name(old, i), zimg_node_name(new_, j));
        if (c < 0) cnt += node_out(&del, old, i++);
        else if (c > 0) cnt += node_out(&add, new_, j++);
        else cnt += node_diff(&del, &add, old, i++, new_, j++);
        if (del.oom || add.oom) goto fail;
    }
    /* One buffer: header, old SOA + deletions, new SOA + additions. */
    if (buf_put(&del, add.p, add.n) < 0) goto fail;
    free(add.p);
    if (del.n > UINT32_MAX) { free(del.p); return -1; }
    rd_put32(del.p, (uint32_t)del.n);
    rd_put32(del.p + 4, zimg_serial(old));
    rd_put32(del.p + 8, zimg_serial(new_));
    rd_put32(del.p + 12, (uint32_t)(cnt + 2));
    *out = del.p;
    *outlen = del.n;
    return cnt;
fail:
    free(del.p);
    free(add.p);
    return -1;
}

const uint8_t *zdiff_record(const uint8_t *p, const uint8_t *end, const uint8_t **owner,
                            uint16_t *type, uint16_t *rclass, uint32_t *ttl,
                            const uint8_t **rdata, uint16_t *rdlen)
{
    /* An uncompressed name within bounds (stored names never hold a pointer). */
    size_t avail = (size_t)(end - p);
    size_t o = rd_wire_name_end(p, avail, 0, 0);
    if (o == 0) return NULL;
    if (o + 10 > avail) return NULL;
    const uint8_t *f = p + o;
    uint16_t len = rd_get16(f + 8);
    if (o + 10 + len > avail) return NULL;
    *owner = p;
    *type = rd_get16(f);
    *rclass = rd_get16(f + 2);
    *ttl = rd_get32(f + 4);
    *rdata = f + 10;
    *rdlen = len;
    return f + 10 + len;
}

int zdiff_journal_check(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    const uint8_t *p = buf, *end = buf + len;
    uint32_t prev_to = 0;
    int first = 1;
    while (p < end) {
        if ((size_t)(end - p) < ZDIFF_HDR) {
            snprintf(err, errlen, "changeset header cut at byte %zu", (size_t)(p - buf));
            return -1;
        }
        uint32_t l = rd_get32(p), from = rd_get32(p + 4), to = rd_get32(p + 8);
        uint32_t count = rd_get32(p + 12);
        if (l < ZDIFF_HDR || l > (size_t)(end - p)) {
            snprintf(err, errlen, "changeset at byte %zu: bad length %u", (size_t)(p - buf), l);
            return -1;
        }
        if (!first && from != prev_to) {
            snprintf(err, errlen, "changeset %u -> %u does not follow serial %u", from, to, prev_to);
            return -1;
        }
        const uint8_t *r = p + ZDIFF_HDR, *ce = p + l;
        uint32_t n = 0;
        while (r < ce) {
            const uint8_t *owner, *rdata;
            uint16_t type, rclass, rdlen;
            uint32_t ttl;
            r = zdiff_record(r, ce, &owner, &type, &rclass, &ttl, &rdata, &rdlen);
            if (!r) {
                snprintf(err, errlen, "changeset %u -> %u: malformed record %u", from, to, n);
                return -1;
            }
            /* The names the engine compresses inside rdata must be well formed. */
            if (zimg_rdata_check(type, rdata, rdlen) != 0) {
                snprintf(err, errlen, "changeset %u -> %u: bad rdata in record %u", from, to, n);
                return -1;
            }
            n++;
        }
        if (n != count || n < 2) {
            snprintf(err, errlen, "changeset %u -> %u: %u records, header says %u", from, to, n, count);
            return -1;
        }
        prev_to = to;
        first = 0;
        p = ce;
    }
    return 0;
}

/* ---- condensation: the net effect of a chain of changesets ---- */

typedef struct centry {
    const uint8_t *rec;        /* the record's bytes in the chain */
    uint32_t len;
    int8_t state;              /* -1 deleted from the base version, +1 added, 0 cancelled */
} centry;

static uint64_t rec_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

long zdiff_condense(const uint8_t *chain, size_t len, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    /* Count the records first: the table is sized once. */
    size_t total = 0;
    const uint8_t *p = chain, *end = chain + len;
    const uint8_t *first_soa = NULL, *last_soa = NULL;
    size_t first_soa_len = 0, last_soa_len = 0;
    uint32_t from = 0, to = 0;
    int ncs = 0;
    while (p < end) {
        if ((size_t)(end - p) < ZDIFF_HDR) return -1;
        uint32_t l = rd_get32(p);
        if (l < ZDIFF_HDR || l > (size_t)(end - p)) return -1;
        if (ncs == 0) from = rd_get32(p + 4);
        to = rd_get32(p + 8);
        total += rd_get32(p + 12);
        p += l;
        ncs++;
    }
    size_t cap = 16;
    while (cap < total * 2) cap *= 2;
    centry *ents = malloc((total + 1) * sizeof *ents);
    uint32_t *slots = malloc(cap * sizeof *slots);
    if (!ents || !slots) { free(ents); free(slots); return -1; }
    memset(slots, 0xFF, cap * sizeof *slots);
    size_t n = 0;
    long result = -1;
    buf del = { 0 }, add = { 0 };
    for (p = chain; p < end; ) {
        uint32_t l = rd_get32(p);
        const uint8_t *r = p + ZDIFF_HDR, *ce = p + l;
        int soas = 0;
        while (r < ce) {
            const uint8_t *owner, *rdata;
            uint16_t type, rclass, rdlen;
            uint32_t ttl;
            const uint8_t *next = zdiff_record(r, ce, &owner, &type, &rclass, &ttl, &rdata, &rdlen);
            if (!next) goto done;
            size_t rl = (size_t)(next - r);
            if (type == RD_T_SOA) {
                /* RFC 1995 4: each changeset opens its halves with the old and new SOA. */
                if (soas == 0 && !first_soa) { first_soa = r; first_soa_len = rl; }
                if (soas == 1) { last_soa = r; last_soa_len = rl; }
                soas++;
                r = next;
                continue;
            }
            int adding = soas >= 2;
            uint64_t h = rec_hash(r, rl);
            size_t i = (size_t)h & (cap - 1);
            while (slots[i] != UINT32_MAX) {
                centry *e = &ents[slots[i]];
                if (e->len == rl && memcmp(e->rec, r, rl) == 0) break;
                i = (i + 1) & (cap - 1);
            }
            if (slots[i] == UINT32_MAX) {
                if (n >= total) goto done;
                ents[n] = (centry){ r, (uint32_t)rl, (int8_t)(adding ? 1 : -1) };
                slots[i] = (uint32_t)n++;
            } else {
                centry *e = &ents[slots[i]];
                /* A deletion undoes an earlier addition and vice versa; a state of 0
                 * is the base version's record as it was. */
                if (adding) e->state = e->state < 0 ? 0 : 1;
                else e->state = e->state > 0 ? 0 : -1;
            }
            r = next;
        }
        if (soas != 2) goto done;
        p = ce;
    }
    if (!first_soa || !last_soa) goto done;
    uint8_t hdr[ZDIFF_HDR] = { 0 };
    buf_put(&del, hdr, ZDIFF_HDR);
    buf_put(&del, first_soa, first_soa_len);
    buf_put(&add, last_soa, last_soa_len);
    long cnt = 2;
    for (size_t k = 0; k < n; k++) {
        if (ents[k].state < 0) { buf_put(&del, ents[k].rec, ents[k].len); cnt++; }
        else if (ents[k].state > 0) { buf_put(&add, ents[k].rec, ents[k].len); cnt++; }
    }
    if (buf_put(&del, add.p, add.n) < 0 || del.n > UINT32_MAX) goto done;
    rd_put32(del.p, (uint32_t)del.n);
    rd_put32(del.p + 4, from);
    rd_put32(del.p + 8, to);
    rd_put32(del.p + 12, (uint32_t)cnt);
    *out = del.p;
    *outlen = del.n;
    del.p = NULL;
    result = cnt;
done:
    free(del.p);
    free(add.p);
    free(ents);
    free(slots);
    return result;
}
