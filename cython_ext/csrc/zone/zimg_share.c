/* zimg_share.c — a signed image's RRSIGs held once: an RRSIG rrset whose bytes a precomputed DO answer already holds points at them there, and the rdata section closes up. */
#define _GNU_SOURCE          /* memmem */
#include "zimg_format.h"

#include <stdlib.h>
#include <string.h>

/* Why: a positive DO=1 answer carries its rrset's RRSIG (RFC 4035 3.1.1) as the same
 * [rdlength][rdata] octets the zone's rrset holds (an RRSIG's signer name is never
 * compressed, RFC 4034 3.1.7), so a 100k-name signed zone held 7.7 MB of signatures
 * twice (bench/engine_bench.py --do-image: NSEC image 64.3 -> 56.6 MB, NSEC3 87.6 -> 80.3).  The answers keep theirs (the fast path reads only the blob: no extra miss,
 * which is what referencing the zone's copy from the blob cost, bench/RESULTS.md session
 * 9); the zone's rrset points into the blob instead.  Only stored bytes no pass rewrites
 * are taken: a blob without ZFAST_REFS (whose zone references are remapped below). */

struct zshare {
    uint32_t n, cap;
    zshare_move *m;
    uint32_t nrefs, refs_cap;
    uint32_t *refs;            /* ZFAST_REFS blobs (their offsets before the move) */
};

static int push_u32(uint32_t **a, uint32_t *n, uint32_t *cap, uint32_t v)
{
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 256;
        uint32_t *r = realloc(*a, (size_t)c * sizeof *r);
        if (!r) return -1;
        *a = r;
        *cap = c;
    }
    (*a)[(*n)++] = v;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_move(const void *a, const void *b)
{
    return cmp_u32(&((const zshare_move *)a)->from, &((const zshare_move *)b)->from);
}

/* The DO blob offsets of the record at off (its table of nent + 1), RD_NONE for none. */
static const uint32_t *rec_do_offsets(const uint8_t *base, uint32_t off, const zfast_rec **r)
{
    *r = (const zfast_rec *)(base + off);
    if ((*r)->flags != ZFAST_DO_TABLE) return NULL;
    const zfast_ent *e = (const zfast_ent *)(base + off + zfast_rec_head((*r)->below));
    return (const uint32_t *)(e + (*r)->nent);
}

/* The stored octets of a blob that no later pass rewrites (header, a split's distance
 * and its tail), or 0 for a ZFAST_REFS blob. */
static size_t literal_size(const zfast_blob *b)
{
    if (b->flags & ZFAST_REFS) return 0;
    if (b->flags & ZFAST_SPLIT) return ZFAST_BLOB_HDR + 4 + b->len - zfast_split_head(b)->len;
    return ZFAST_BLOB_HDR + (size_t)b->len;
}

/* Where the n stored octets of blob b hold want (an RRSIG's [rdlength][rdata], len
 * octets) as a record's: right after its type RRSIG, class IN and TTL; NULL if nowhere. */
static const uint8_t *find_rrsig(const zfast_blob *b, size_t n, const uint8_t *want, size_t len)
{
    const uint8_t *s = (const uint8_t *)b + ZFAST_BLOB_HDR, *end = (const uint8_t *)b + n;
    while (n && s + len <= end) {
        const uint8_t *hit = memmem(s, (size_t)(end - s), want, len);
        if (!hit) return NULL;
        if (hit - 8 >= (const uint8_t *)b + ZFAST_BLOB_HDR && rd_get16(hit - 8) == RD_T_RRSIG &&
            rd_get16(hit - 6) == RD_C_IN)
            return hit;
        s = hit + 1;
    }
    return NULL;
}

/* The zone references of a ZFAST_REFS blob's segments: each one's rdata offset at *at. */
static uint8_t *next_zref(uint8_t *s, uint8_t **at)
{
    for (;;) {
        uint16_t h;
        memcpy(&h, s, 2);
        if (h & ZFAST_SEG_REF) {
            *at = s + 2 + offsetof(zfast_zref, rdata_off);
            return h & ZFAST_SEG_LAST ? NULL : s + ZFAST_ZREF_SEG;
        }
        if (h & ZFAST_SEG_LAST) {
            *at = NULL;
            return NULL;
        }
        s += 2 + (h & ZFAST_SEG_LEN);
    }
}

static uint8_t *refs_segs(uint8_t *base, uint32_t blob)
{
    const zfast_blob *b = (const zfast_blob *)(base + blob);
    return base + blob + ZFAST_BLOB_HDR + (b->flags & ZFAST_SPLIT ? 4 : 0);
}

zshare *zimg_share_plan(const zimg *z, const uint32_t *node_rec)
{
    const uint8_t *base = (const uint8_t *)z;
    const znode *nodes = (const znode *)(base + z->nodes_off);
    const zrrset *rs = (const zrrset *)(base + z->rrsets_off);
    zshare *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    /* the rdata the references name stay where they are (so do the rrsets they name) */
    uint32_t *named = NULL, nnamed = 0, named_cap = 0;
    for (uint32_t v = 0; v < z->node_count; v++) {
        const zfast_rec *r;
        const uint32_t *d = node_rec[v] == RD_NONE ? NULL : rec_do_offsets(base, node_rec[v], &r);
        for (unsigned k = 0; d && k <= r->nent; k++) {
            if (d[k] == RD_NONE || !(((const zfast_blob *)(base + d[k]))->flags & ZFAST_REFS)) continue;
            if (push_u32(&p->refs, &p->nrefs, &p->refs_cap, d[k]) != 0) goto fail;
            uint8_t *at, *s = refs_segs((uint8_t *)base, d[k]);
            do {
                s = next_zref(s, &at);
                uint32_t o;
                if (at) memcpy(&o, at, 4);
                if (at && push_u32(&named, &nnamed, &named_cap, o) != 0) goto fail;
            } while (s);
        }
    }
    qsort(p->refs, p->nrefs, sizeof *p->refs, cmp_u32);
    uint32_t u = 0;                            /* a blob two entries share: once */
    for (uint32_t i = 0; i < p->nrefs; i++)
        if (u == 0 || p->refs[u - 1] != p->refs[i]) p->refs[u++] = p->refs[i];
    p->nrefs = u;
    qsort(named, nnamed, sizeof *named, cmp_u32);

    for (uint32_t v = 0; v < z->node_count; v++) {
        const zfast_rec *r;
        const uint32_t *d = node_rec[v] == RD_NONE ? NULL : rec_do_offsets(base, node_rec[v], &r);
        if (!d) continue;
        for (uint32_t i = nodes[v].rrset_first; i < nodes[v].rrset_first + nodes[v].rrset_count; i++) {
            const zrrset *x = &rs[i];
            if (x->type != RD_T_RRSIG || x->count != 1 ||
                bsearch(&x->rdata_off, named, nnamed, sizeof *named, cmp_u32))
                continue;
            const uint8_t *want = base + x->rdata_off;
            for (unsigned k = 0; k <= r->nent; k++) {
                if (d[k] == RD_NONE) continue;
                const zfast_blob *b = (const zfast_blob *)(base + d[k]);
                const uint8_t *hit = find_rrsig(b, literal_size(b), want, x->rdata_len);
                if (!hit) continue;
                if (p->n == p->cap) {
                    uint32_t c = p->cap ? p->cap * 2 : 1024;
                    zshare_move *m = realloc(p->m, (size_t)c * sizeof *m);
                    if (!m) goto fail;
                    p->m = m;
                    p->cap = c;
                }
                p->m[p->n++] = (zshare_move){ i, x->rdata_off, (uint32_t)(hit - base), x->rdata_len };
                break;
            }
        }
    }
    free(named);
    qsort(p->m, p->n, sizeof *p->m, cmp_move);
    for (uint32_t i = 1; i < p->n; i++)        /* rrsets never share rdata: checked */
        if (p->m[i - 1].from + p->m[i - 1].len > p->m[i].from) goto fail_kept;
    return p;
fail:
    free(named);
fail_kept:
    zimg_share_free(p);
    return NULL;
}

uint32_t zimg_share_count(const zshare *p) { return p ? p->n : 0; }

void zimg_share_free(zshare *p)
{
    if (!p) return;
    free(p->m);
    free(p->refs);
    free(p);
}

static void shift(uint8_t *at, uint32_t s)
{
    uint32_t o;
    memcpy(&o, at, 4);
    if (o != RD_NONE) o -= s;
    memcpy(at, &o, 4);
}

/* An offset into the rdata section after the moved rrsets' bytes left it (off is never
 * inside one: the plan kept every named rdata). */
static uint32_t rdata_after(const zshare *p, const uint32_t *gone_before, uint32_t off)
{
    uint32_t lo = 0, hi = p->n;                /* moves starting before off */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (p->m[mid].from < off) lo = mid + 1;
        else hi = mid;
    }
    return off - gone_before[lo];
}

size_t zimg_share_apply(zimg *z, const zshare *p, size_t end)
{
    if (!p || p->n == 0) return 0;
    uint32_t *gone = malloc(((size_t)p->n + 1) * sizeof *gone);  /* octets moved before move i */
    if (!gone) return 0;
    uint8_t *base = (uint8_t *)z;
    gone[0] = 0;
    for (uint32_t i = 0; i < p->n; i++) gone[i + 1] = gone[i] + p->m[i].len;

    /* 1. the rdata section closes up over the moved bytes */
    uint64_t rd0 = z->rdata_off, rd1 = rd0 + z->rdata_len, w = rd0, from = rd0;
    for (uint32_t i = 0; i <= p->n; i++) {
        uint64_t upto = i < p->n ? p->m[i].from : rd1;
        memmove(base + w, base + from, upto - from);
        w += upto - from;
        if (i < p->n) from = (uint64_t)p->m[i].from + p->m[i].len;
    }
    /* 2. what follows it (additional lists, NSEC3 index, answers) moves down by s, a
     *    multiple of 8: every section keeps its alignment */
    uint64_t a0 = z->addl_off, a1 = (w + 7) & ~(uint64_t)7;
    uint32_t s = (uint32_t)(a0 - a1);
    memmove(base + a1, base + a0, end - a0);
    memset(base + w, 0, a1 - w);
    z->rdata_len = (uint32_t)(w - rd0);
    z->addl_off -= s;
    if (z->nsec3_count) z->nsec3_off -= s;

    /* 3. the offsets: rrsets, the answer table and records, the zone references */
    zrrset *rs = (zrrset *)(base + z->rrsets_off);
    for (uint32_t i = 0; i < z->rrset_count; i++) {
        zshare_move key = { i, rs[i].rdata_off, 0, 0 };
        const zshare_move *m = bsearch(&key, p->m, p->n, sizeof *p->m, cmp_move);
        if (m && m->rrset == i)
            rs[i].rdata_off = m->to - s;
        else
            rs[i].rdata_off = rdata_after(p, gone, rs[i].rdata_off);
        if (rs[i].addl_off != RD_NONE) rs[i].addl_off -= s;
    }
    zfast_slot *tab = (zfast_slot *)(base + z->fast_off - s);
    for (uint64_t i = 0; i <= z->fast_mask; i++) {
        if (tab[i].rec == RD_NONE) continue;
        tab[i].rec -= s;
        uint8_t *r = base + tab[i].rec;
        zfast_rec rh;
        memcpy(&rh, r, sizeof rh);
        shift(r + offsetof(zfast_rec, dflt), s);
        uint8_t *e = r + zfast_rec_head(rh.below);
        for (unsigned k = 0; k < rh.nent; k++) shift(e + k * sizeof(zfast_ent) + offsetof(zfast_ent, blob), s);
        if (rh.flags & ZFAST_DO_TABLE)
            for (unsigned k = 0; k <= rh.nent; k++) shift(e + rh.nent * sizeof(zfast_ent) + 4 * (size_t)k, s);
    }
    for (uint32_t i = 0; i < p->nrefs; i++) {
        uint8_t *at, *g = refs_segs(base, p->refs[i] - s);
        do {
            g = next_zref(g, &at);
            if (!at) continue;
            uint32_t o;
            memcpy(&o, at, 4);
            o = rdata_after(p, gone, o);
            memcpy(at, &o, 4);
        } while (g);
    }
    free(gone);
    z->fast_off -= s;
    z->fast_recs_off -= s;
    return s;
}
