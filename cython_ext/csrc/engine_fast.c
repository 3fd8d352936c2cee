/* engine_fast.c — precomputed answers: built at image build time by running the general engine on every (name, qtype) whose answer cannot depend on the client, and served at query time by copying them behind the client's question. */
#include "engine_int.h"
#include "zimg_format.h"
#include "zimg_dnssec.h"

#include <stdlib.h>

#define qtype_special zfast_qtype_special

/* ---- query time ---- */

/* Serve the query from a precomputed answer; 1 when done (c filled for rd_finish), 0 to
 * take the general path.  Called after a successful parse (rcode NOERROR) with the
 * response size limit and the room kept for OPT (engine.c). */
int rd_fast_answer(rd_ctx *c, size_t limit)
{
    if (c->opcode != RD_OPCODE_QUERY || c->qclass != RD_C_IN || c->do_bit) return 0;
    const zimg *z = rd_db_find_zone(c->db, c->lname, c->nlabels);
    if (!z) return 0;
    const zfast_blob *b = zimg_fast_answer(z, c->lname, c->qname_wlen,
                                           zimg_name_hash(c->lname), c->qtype);
    if (!b) return 0;
    size_t qend = 12 + c->qname_wlen + 4;
    /* The blob is what the general path writes when nothing has to be left out; it fits
     * the client's limit only if the whole of it does (RFC 2181 9: otherwise the general
     * path decides what to drop and whether to set TC). */
    if (qend + b->len > limit) return 0;
    uint8_t *r = c->r;
    memcpy(r, c->q, 2);
    memcpy(r + 12, c->q + 12, c->qname_wlen + 4);
    memcpy(r + qend, (const uint8_t *)b + ZFAST_BLOB_HDR, b->len);
    c->len = qend + b->len;
    c->question_end = qend;
    c->count[0] = b->an;
    c->count[1] = b->ns;
    c->count[2] = b->ar;
    c->aa = b->aa;
    c->rcode = b->rcode;
    return 1;
}

/* ---- build time ---- */

typedef struct fbuf {
    uint8_t *p;
    size_t len, cap;
} fbuf;

static int fbuf_reserve(fbuf *f, size_t more)
{
    if (f->len + more <= f->cap) return 0;
    size_t cap = f->cap ? f->cap : 1 << 16;
    while (cap < f->len + more) cap *= 2;
    uint8_t *p = realloc(f->p, cap);
    if (!p) return -1;
    memset(p + f->cap, 0, cap - f->cap);   /* alignment gaps must not carry heap bytes into files */
    f->p = p;
    f->cap = cap;
    return 0;
}

/* The blobs already stored, by content, so that answers many names share (the NODATA of
 * names of one length, the referral below one cut) are stored once. */
typedef struct dedup {
    uint32_t *slot;            /* relative offset in the records buffer + 1; 0 = empty */
    uint32_t mask, used;
} dedup;

static uint32_t blob_hash(const uint8_t *p, size_t n)
{
    uint32_t h = ZH_SEED;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return zh_final(h);
}

static int dedup_grow(dedup *d, const fbuf *f)
{
    uint32_t size = d->mask ? (d->mask + 1) * 2 : 1024;
    uint32_t *s = calloc(size, sizeof *s);
    if (!s) return -1;
    for (uint32_t i = 0; d->mask && i <= d->mask; i++) {
        if (!d->slot[i]) continue;
        const uint8_t *b = f->p + d->slot[i] - 1;
        size_t n = ZFAST_BLOB_HDR + ((const zfast_blob *)b)->len;
        uint32_t k = blob_hash(b, n) & (size - 1);
        while (s[k]) k = (k + 1) & (size - 1);
        s[k] = d->slot[i];
    }
    free(d->slot);
    d->slot = s;
    d->mask = size - 1;
    return 0;
}

/* Relative offset of a stored blob equal to b (n bytes), or RD_NONE; *pos: where to note
 * it once stored. */
static uint32_t dedup_find(const dedup *d, const fbuf *f, const uint8_t *b, size_t n, uint32_t *pos)
{
    uint32_t k = blob_hash(b, n) & d->mask;
    while (d->slot[k]) {
        const uint8_t *o = f->p + d->slot[k] - 1;
        if (ZFAST_BLOB_HDR + (size_t)((const zfast_blob *)o)->len == n && memcmp(o, b, n) == 0)
            return d->slot[k] - 1;
        k = (k + 1) & d->mask;
    }
    *pos = k;
    return RD_NONE;
}

/* One computed answer of a node, before it is laid out. */
typedef struct fans {
    uint16_t qtype;
    uint16_t n;                /* blob bytes (header included); 0 = general path */
    uint8_t *blob;             /* in the scratch area */
} fans;

enum { FANS_MAX = 250 };

typedef struct fctx {
    rd_db db;
    const zimg *zones[1];
    rd_transport tcp;
    uint8_t q[12 + RD_NAME_MAX + 1 + 4];
    uint8_t resp[65535];
} fctx;

/* Run the general engine on (name, qtype) over TCP (no size limit, no EDNS) and turn the
 * response into a blob at out (ZFAST_BLOB_HDR + ZFAST_BLOB_MAX bytes); returns its size,
 * or 0 when the answer may not be reused (an rcode other than NOERROR/NXDOMAIN, TC, too
 * big). */
static size_t compute_answer(fctx *f, const uint8_t *name, size_t nlen, uint16_t qtype, uint8_t *out)
{
    uint8_t *q = f->q;
    memset(q, 0, 12);
    q[5] = 1;                                      /* QDCOUNT 1 */
    memcpy(q + 12, name, nlen);
    rd_put16(q + 12 + nlen, qtype);
    rd_put16(q + 14 + nlen, RD_C_IN);
    size_t qlen = 12 + nlen + 4;
    size_t n = rd_answer(&f->db, q, qlen, f->resp, sizeof f->resp, &f->tcp, NULL);
    if (n < qlen) return 0;
    const uint8_t *r = f->resp;
    uint8_t rcode = r[3] & 0xF;
    if ((r[2] & RD_F2_TC) || (rcode != RD_RCODE_NOERROR && rcode != RD_RCODE_NXDOMAIN)) return 0;
    if (rd_get16(r + 4) != 1 || memcmp(r + 12, q + 12, nlen + 4) != 0) return 0;
    size_t body = n - qlen;
    if (body > ZFAST_BLOB_MAX) return 0;
    zfast_blob hdr;
    hdr.len = (uint16_t)body;
    hdr.an = rd_get16(r + 6);
    hdr.ns = rd_get16(r + 8);
    hdr.ar = rd_get16(r + 10);
    hdr.aa = (r[2] & RD_F2_AA) ? 1 : 0;
    hdr.rcode = rcode;
    memcpy(out, &hdr, ZFAST_BLOB_HDR);
    memcpy(out + ZFAST_BLOB_HDR, r + qlen, body);
    return ZFAST_BLOB_HDR + body;
}

static int type_in(const uint8_t *bits, uint16_t t) { return bits[t >> 3] >> (t & 7) & 1; }

/* The qtypes whose answers a node stores, besides its default (an answer valid for every
 * other qtype that is not special):
 *  - at or below a zone cut: none, every qtype gets the referral (RFC 1034 4.3.2 3b);
 *  - a CNAME owner: every type present anywhere in the zone (the chain may end at any
 *    node, wildcards included); a qtype no node holds gets the default;
 *  - any other node: its own types; any other qtype gets NODATA (RFC 2308 2.2).
 * Returns the count; RD_NONE when the node must be left to the general path. */
static uint32_t node_qtypes(const zimg *z, znode_id v, const uint16_t *ztypes, uint32_t nz,
                            uint16_t *out)
{
    const znode *nd = (const znode *)((const uint8_t *)z + z->nodes_off) + v;
    /* below a DNAME the answer is synthesized from the name (RFC 6672); NSEC3 owners are
       hidden and answered from their parent's wildcard: both left to the general path */
    if (nd->flags & ZN_BELOW_DNAME) return RD_NONE;
    if (zimg_node_nsec3_only(z, v)) return RD_NONE;
    if (nd->cut != RD_NONE) return 0;
    uint32_t n = 0;
    if (nd->flags & ZN_CNAME) {
        for (uint32_t i = 0; i < nz && n < FANS_MAX; i++) out[n++] = ztypes[i];
        return n;
    }
    unsigned cnt;
    const zrrset *rs = zimg_node_rrsets(z, v, &cnt);
    for (unsigned i = 0; i < cnt && n < FANS_MAX; i++)
        if (!qtype_special(rs[i].type) && (n == 0 || out[n - 1] != rs[i].type)) out[n++] = rs[i].type;
    return n;
}

zimg *zimg_fast_build(zimg *z, size_t *size)
{
    fctx *f = malloc(sizeof *f);
    uint8_t *bits = calloc(8192, 1);
    uint16_t *ztypes = malloc(65536 * sizeof *ztypes);
    uint16_t *qtypes = malloc(FANS_MAX * sizeof *qtypes);
    fans *ans = malloc((FANS_MAX + 1) * sizeof *ans);
    uint8_t *scratch = malloc((size_t)(FANS_MAX + 1) * (ZFAST_BLOB_HDR + ZFAST_BLOB_MAX));
    fbuf recs = { 0 };
    dedup dd = { 0 };
    uint32_t *node_rec = NULL;
    zimg *out = NULL;
    if (!f || !bits || !ztypes || !qtypes || !ans || !scratch) goto done;
    memset(&f->db, 0, sizeof f->db);
    f->zones[0] = z;
    f->db.nzones = 1;
    f->db.zones = f->zones;
    f->db.opt.max_udp_payload = 1232;
    f->db.opt.minimal_any = 1;
    f->tcp.tcp = 1;
    f->tcp.family = 4;

    uint32_t nn = z->node_count;
    node_rec = malloc((size_t)(nn ? nn : 1) * sizeof *node_rec);
    if (!node_rec || dedup_grow(&dd, &recs) != 0) goto done;

    /* the types the zone holds, and a qtype it does not hold to compute defaults with */
    const zrrset *all = zimg_rrset_at(z, 0);
    for (uint32_t i = 0; all && i < z->rrset_count; i++) bits[all[i].type >> 3] |= (uint8_t)(1u << (all[i].type & 7));
    uint32_t nz = 0;
    for (uint32_t t = 1; t < 65536; t++)
        if (type_in(bits, (uint16_t)t) && !qtype_special((uint16_t)t)) ztypes[nz++] = (uint16_t)t;
    uint16_t probe = 65534;
    while (type_in(bits, probe) || qtype_special(probe)) probe--;

    const uint8_t *base = (const uint8_t *)z;
    const znode *nodes = (const znode *)(base + z->nodes_off);
    size_t slots = 16;
    while (slots < (size_t)nn * 2) slots *= 2;
    size_t fast_off = (*size + 7) & ~(size_t)7;
    size_t recs_off = fast_off + slots * sizeof(zfast_slot);

    for (uint32_t v = 0; v < nn; v++) {
        node_rec[v] = RD_NONE;
        uint32_t nq = node_qtypes(z, v, ztypes, nz, qtypes);
        if (nq == RD_NONE) continue;
        const uint8_t *name = base + nodes[v].name_off;
        size_t nlen = nodes[v].name_len;
        uint8_t *sp = scratch;
        fans *def = &ans[nq];
        def->qtype = 0;
        def->blob = sp;
        def->n = (uint16_t)compute_answer(f, name, nlen, probe, sp);
        sp += def->n;
        uint32_t na = 0;
        for (uint32_t i = 0; i < nq; i++) {
            fans *a = &ans[na];
            a->qtype = qtypes[i];
            a->blob = sp;
            a->n = (uint16_t)compute_answer(f, name, nlen, qtypes[i], sp);
            /* a CNAME owner lists only the qtypes whose answers differ from the default */
            if ((nodes[v].flags & ZN_CNAME) && a->n == def->n && a->n &&
                memcmp(a->blob, def->blob, a->n) == 0)
                continue;
            sp += a->n;
            na++;
        }
        int has_default = def->n != 0;
        if (has_default) ans[na++] = *def;
        if (na == 0 || na > 255) continue;
        if (!has_default) {
            int any = 0;
            for (uint32_t i = 0; i < na; i++) any |= ans[i].n != 0;
            if (!any) continue;
        }
        /* the record, then its own new blobs right after it (one or two cache lines) */
        size_t head = zfast_rec_head((uint8_t)nlen);
        size_t need = head + na * sizeof(zfast_ent) + (sp - scratch) + 2 * na + 4;
        if (fbuf_reserve(&recs, need) != 0) goto done;
        recs.len = (recs.len + 3) & ~(size_t)3;
        size_t roff = recs.len;
        zfast_rec rh = { (uint8_t)nlen, (uint8_t)na, (uint8_t)has_default, 0 };
        memset(recs.p + roff, 0, head + na * sizeof(zfast_ent));
        memcpy(recs.p + roff, &rh, sizeof rh);
        memcpy(recs.p + roff + sizeof rh, name, nlen);
        size_t eoff = roff + head;
        recs.len = eoff + na * sizeof(zfast_ent);
        for (uint32_t i = 0; i < na; i++) {
            zfast_ent e = { ans[i].qtype, 0, RD_NONE };
            if (ans[i].n) {
                uint32_t pos = 0;
                uint32_t b = dedup_find(&dd, &recs, ans[i].blob, ans[i].n, &pos);
                if (b == RD_NONE) {
                    recs.len = (recs.len + 1) & ~(size_t)1;
                    b = (uint32_t)recs.len;
                    memcpy(recs.p + recs.len, ans[i].blob, ans[i].n);
                    recs.len += ans[i].n;
                    dd.slot[pos] = b + 1;
                    if (++dd.used * 2 > dd.mask && dedup_grow(&dd, &recs) != 0) goto done;
                }
                e.blob = (uint32_t)(recs_off + b);
            }
            memcpy(recs.p + eoff + i * sizeof(zfast_ent), &e, sizeof e);
        }
        node_rec[v] = (uint32_t)(recs_off + roff);
    }

    size_t recs_len = (recs.len + 7) & ~(size_t)7;
    size_t total = recs_off + recs_len;
    if (total > 0xfffffff0u) goto done;      /* too big: the image stays without answers */
    out = realloc(z, total);
    if (!out) goto done;
    z = out;
    uint8_t *ob = (uint8_t *)out;
    memset(ob + *size, 0, total - *size);
    zfast_slot *tab = (zfast_slot *)(ob + fast_off);
    for (size_t i = 0; i < slots; i++) tab[i].rec = RD_NONE;
    nodes = (const znode *)(ob + out->nodes_off);
    for (uint32_t v = 0; v < nn; v++) {
        if (node_rec[v] == RD_NONE) continue;
        uint32_t i = nodes[v].hash & (uint32_t)(slots - 1);
        while (tab[i].rec != RD_NONE) i = (i + 1) & (uint32_t)(slots - 1);
        tab[i].hash = nodes[v].hash;
        tab[i].rec = node_rec[v];
    }
    if (recs.len) memcpy(ob + recs_off, recs.p, recs.len);
    out->fast_off = (uint32_t)fast_off;
    out->fast_mask = (uint32_t)(slots - 1);
    out->fast_recs_off = (uint32_t)recs_off;
    out->fast_recs_len = (uint32_t)recs_len;
    out->size = (uint32_t)total;
    *size = total;
done:
    if (!out) {
        /* no memory (or too big): a valid image without precomputed answers */
        z->fast_off = z->fast_mask = z->fast_recs_off = z->fast_recs_len = 0;
        out = z;
    }
    free(f); free(bits); free(ztypes); free(qtypes); free(ans); free(scratch);
    free(recs.p); free(dd.slot); free(node_rec);
    return out;
}
