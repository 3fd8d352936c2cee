/* precompute_wild.c — the wildcard answers of an image (zwild, zimg_format.h): per wildcard *.P below the apex, the stored answers and proof pieces (NSEC3, or NSEC per gap between P's children) a synthesized response is made of, each kept only when the query path then writes what the general path writes. */
#include "engine_int.h"
#include "precompute_int.h"
#include "zone/zimg_dnssec.h"

#include <stdlib.h>

enum { WQ_MAX = 12 + RD_NAME_MAX + 1 + 4 + 11, WRESP = 65535 };

/* One wildcard while the section is built: its nodes and its entry's section offset. */
typedef struct wnode {
    znode_id p, w;
    uint32_t ent;
} wnode;

/* The engine run on the finished image, to check what each entry serves. */
typedef struct wcheck {
    zimg *z;
    const zimg *zones[1];
    rd_db db;
    rd_transport tcp;
    rd_ctx c;
    uint8_t q[WQ_MAX];
    uint8_t fast[WRESP], general[WRESP];
} wcheck;

static const znode *nodes_of(const zimg *z)
{
    return (const znode *)((const uint8_t *)z + z->nodes_off);
}

/* The image offset of the answer record of a name of the zone (lower-case wire, len
 * octets), RD_NONE when it has none: the probe of engine_fast.c fast_record. */
static uint32_t rec_of(const zimg *z, const uint8_t *name, size_t len)
{
    const uint8_t *base = (const uint8_t *)z;
    const zfast_slot *tab = zfast_slots(z);
    uint32_t h = zfast_hash(name, len), mask = z->fast_mask, i = h & mask;
    for (uint32_t probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
        uint32_t off = tab[i].rec;
        if (off == RD_NONE) return RD_NONE;
        const zfast_rec *r = (const zfast_rec *)(base + off);
        if (tab[i].hash == h && r->name_len == len && memcmp(r + 1, name, r->below) == 0) return off;
    }
    return RD_NONE;
}

static uint32_t node_rec(const zimg *z, znode_id v)
{
    return rec_of(z, zimg_node_name(z, v), nodes_of(z)[v].name_len);
}

/* *.P's types the query path may be asked for (RRSIG and the types treated apart are
 * the general path's: zfast_qtype_special); -1 when more than an entry lists. */
static int wild_types(const zimg *z, znode_id w, uint16_t *out)
{
    unsigned cnt;
    const zrrset *rs = zimg_node_rrsets(z, w, &cnt);
    int n = 0;
    for (unsigned i = 0; i < cnt; i++) {
        if (zfast_qtype_special(rs[i].type) || (n && out[n - 1] == rs[i].type)) continue;
        if (n == 255) return -1;
        out[n++] = rs[i].type;
    }
    return n;
}

/* Can the query path serve names below P from the wildcard w at all?  P below the apex
 * (a wildcard at the apex meets the NXDOMAIN path first), outside cuts and DNAMEs; *.P
 * without CNAME or DNAME (a chain to follow) and no cut; and every child of P with an
 * answer record, so that a label below P without one is no name of the zone (RFC 4592
 * 3.3.1: P is then the closest encloser). */
static int wild_servable(const zimg *z, znode_id p, znode_id w)
{
    const znode *nodes = nodes_of(z), *pn = &nodes[p], *wn = &nodes[w];
    if (pn->labels <= z->origin_labels || pn->cut != RD_NONE ||
        (pn->flags & (ZN_BELOW_CUT | ZN_DNAME | ZN_BELOW_DNAME)) || zimg_node_nsec3_only(z, p))
        return 0;
    if (wn->cut != RD_NONE || (wn->flags & (ZN_BELOW_CUT | ZN_CNAME | ZN_DNAME | ZN_BELOW_DNAME)))
        return 0;
    if (node_rec(z, p) == RD_NONE) return 0;
    /* P's subtree follows it in canonical order (RFC 4034 6.1) */
    for (znode_id v = p + 1; v < z->node_count && nodes[v].labels > pn->labels; v++)
        if (nodes[v].parent == p && node_rec(z, v) == RD_NONE) return 0;
    return 1;
}

/* The NXDOMAIN proofs' piece of the NSEC3 matching a name of the zone, RD_NONE when none
 * matches or the zone has no such pieces. */
static uint32_t matching_piece(const zimg *z, const uint8_t *name)
{
    const zneg *g = zneg_of(z);
    if (!g || g->kind != ZNEG_NSEC3) return RD_NONE;
    const uint8_t *base = (const uint8_t *)z;
    int match = 0;
    uint32_t at = rd_dnssec_nsec3_place(z, name, g->salt, g->salt_len, g->iterations,
                                        (const uint32_t *)(base + g->n3_dir_off), g->n3_dir_bits,
                                        &match);
    if (!match || at >= g->n3_count) return RD_NONE;
    uint32_t off = ((const uint32_t *)(base + g->n3_off))[at];
    return off != RD_NONE && zneg_piece_question_only((const zneg_piece *)(base + off)) ? off
                                                                                         : RD_NONE;
}

/* ---- NSEC: the covers of the gaps between P's children (zwild_gaps) ---- */

static int zone_nsec(const zimg *z)
{
    return !zimg_nsec3_count(z) && zimg_find_rrset(z, zimg_apex(z), RD_T_NSEC) != NULL;
}

/* The NSEC of node v as the general path writes it after a question below P (pname):
 * a piece written from the zone's records (ZNEG_FROM_ZONE) whose owner is its labels
 * below the suffix it shares with P, then a pointer to that suffix in the question (the
 * writer's best match among the question's suffixes; the build's check confirms it).
 * Its offset in b (*regs: the labels written, each a compression entry), RD_NONE when v
 * has no NSEC or the piece would not do. */
static uint32_t nsec_piece(const zimg *z, nbuf *b, znode_id v, const uint8_t *pname, int *regs)
{
    const zrrset *rs = v == RD_NONE ? NULL : zimg_find_rrset(z, v, RD_T_NSEC);
    if (!rs) return RD_NONE;
    const uint8_t *name = zimg_node_name(z, v), *nl[ZIMG_MAX_LABELS], *pl[ZIMG_MAX_LABELS];
    int nn = zimg_labels_of(name, nl), np = zimg_labels_of(pname, pl), k = 0;
    while (k < nn && k < np && nl[nn - 1 - k][0] == pl[np - 1 - k][0] &&
           memcmp(nl[nn - 1 - k], pl[np - 1 - k], (size_t)nl[nn - 1 - k][0] + 1) == 0)
        k++;
    if (k == 0) return RD_NONE;                /* shares no label with P: not this zone's */
    size_t nlen = rd_name_len(name), below = (size_t)(nl[nn - k] - name);
    const zrrset *sig = rs->rrsig == RD_NONE ? NULL : zimg_rrset_at(z, rs->rrsig);
    unsigned nrr = rs->count + (sig ? sig->count : 0u);
    zneg_zone zz = zneg_zone_of(z, (uint32_t)(rs - zimg_rrset_at(z, 0)),
                                (int16_t)-(long)(nlen - below), (uint8_t)below);
    size_t len = zneg_zone_size(z, &zz);
    if (below > 255 || nrr > 255 || len > ZFAST_BLOB_MAX) return RD_NONE;
    size_t at = nb_alloc(b, sizeof(zneg_piece) + sizeof zz + below, 4);
    if (!b->ok) return RD_NONE;
    zneg_piece h = { v, (uint16_t)len, (uint8_t)nrr, ZNEG_FROM_ZONE };
    memcpy(b->p + at, &h, sizeof h);
    memcpy(b->p + at + sizeof h, &zz, sizeof zz);
    memcpy(b->p + at + sizeof h + sizeof zz, name, below);
    *regs = nn - k;
    return (uint32_t)at;
}

/* A name whose next label below P (pname, plen octets) falls in the gap after P's child
 * `after` (RD_NONE: before the first child) and before `next` (RD_NONE: none): that
 * label is the one right after the child's (the child's label and a zero octet, RFC
 * 4034 6.1), or "\0" before every child (no label sorts lower).  Its length, 0 when no
 * label falls in the gap (or the child's label is too long for the probe). */
static size_t gap_probe(const zimg *z, znode_id after, znode_id next, const uint8_t *pname,
                        size_t plen, uint8_t *out)
{
    size_t l = 1;
    out[1] = 0;
    if (after != RD_NONE) {
        const uint8_t *c = zimg_node_name(z, after);
        if (c[0] >= 63) return 0;
        l = (size_t)c[0] + 1;
        memcpy(out + 1, c + 1, c[0]);
        out[l] = 0;
    }
    out[0] = (uint8_t)l;
    if (l + 1 + plen > RD_NAME_MAX) return 0;
    if (next != RD_NONE) {
        const uint8_t *c = zimg_node_name(z, next);
        if (c[0] == l && memcmp(c + 1, out + 1, l) == 0) return 0;   /* the gap is empty */
    }
    memcpy(out + 1 + l, pname, plen);
    return l + 1 + plen;
}

/* P's children in canonical order (the nodes are, RFC 4034 6.1: P's subtree follows it)
 * into kids (room for n); returns their count. */
static uint32_t children_of(const zimg *z, znode_id p, znode_id *kids, uint32_t room)
{
    const znode *nodes = nodes_of(z);
    uint32_t n = 0;
    for (znode_id v = p + 1; v < z->node_count && nodes[v].labels > nodes[p].labels; v++)
        if (nodes[v].parent == p) {
            if (kids && n < room) kids[n] = v;
            n++;
        }
    return n;
}

/* The gap after child i of kids[0, n) (i == -1: before the first): its cover's piece
 * (RFC 4035 3.1.3.3, the NSEC the general path finds for a name in it, engine_dnssec.c
 * nsec_covering), *wild's when the cover is *.P; RD_NONE when none. */
static uint32_t gap_cover(const zimg *z, nbuf *b, znode_id p, znode_id w, uint32_t wild,
                          const znode_id *kids, uint32_t n, long i, int *regs)
{
    uint8_t probe[RD_NAME_MAX + 1];
    const uint8_t *pname = zimg_node_name(z, p);
    size_t len = gap_probe(z, i < 0 ? RD_NONE : kids[i], (uint32_t)(i + 1) < n ? kids[i + 1] : RD_NONE,
                           pname, nodes_of(z)[p].name_len, probe);
    if (!len) return RD_NONE;
    int match = 0;
    znode_id v = zimg_nsec_find_from(z, probe, p, &match);
    if (match || v == RD_NONE) return RD_NONE;
    if (v == w) return wild;                   /* the same record: one piece */
    return nsec_piece(z, b, v, pname, regs);
}

/* P's zwild_gaps appended to b: its children with the covers of the gaps after them and
 * *.P's own NSEC; its offset in b (*wild_regs: the labels *.P's piece writes), RD_NONE
 * when *.P has no NSEC piece (or no memory). */
static uint32_t gaps_build(const zimg *z, nbuf *b, znode_id p, znode_id w, int *wild_regs)
{
    uint32_t n = children_of(z, p, NULL, 0);
    znode_id *kids = malloc((size_t)n * sizeof *kids + 1);
    if (!kids) return RD_NONE;
    children_of(z, p, kids, n);
    uint32_t at = RD_NONE;
    size_t g = nb_alloc(b, sizeof(zwild_gaps) + (size_t)n * sizeof(zneg_top), 8);
    const uint8_t *pname = zimg_node_name(z, p);
    int regs = 0, r = 0;
    uint32_t wild = b->ok ? nsec_piece(z, b, w, pname, wild_regs) : RD_NONE;
    if (wild == RD_NONE) goto out;
    zwild_gaps h = { n, RD_NONE, wild, 0, { 0, 0, 0 } };
    for (long i = -1; i < (long)n && b->ok; i++) {
        r = 0;
        uint32_t piece = gap_cover(z, b, p, w, wild, kids, n, i, &r);
        if (piece == wild) r = *wild_regs;
        if (piece != RD_NONE && r > regs) regs = r;
        if (i < 0) {
            h.before_first = piece;
            continue;
        }
        const uint8_t *nm = zimg_node_name(z, kids[i]);
        zneg_top t = { zneg_key(nm + 1, nm[0]), kids[i], piece };
        memcpy(b->p + g + sizeof h + (size_t)i * sizeof t, &t, sizeof t);
    }
    if (!b->ok || regs >= RD_COMP_MAX) goto out;
    h.regs = (uint8_t)regs;
    memcpy(b->p + g, &h, sizeof h);
    at = (uint32_t)g;
out:
    free(kids);
    return at;
}

/* Literal labels of the name at b[*at] (each one a compression entry the writer makes),
 * *at moved past it; -1 when malformed. */
static int name_regs(const uint8_t *b, size_t end, size_t *at)
{
    int n = 0;
    for (;;) {
        if (*at >= end) return -1;
        uint8_t l = b[*at];
        if ((l & 0xC0) == 0xC0) { *at += 2; return n; }
        if (l == 0) { *at += 1; return n; }
        *at += 1 + (size_t)l;
        n++;
    }
}

/* The compression entries the records of a blob add (owners and the rdata names the
 * writer compresses, rd_rdata_names); -1 when it does not parse or adds too many. */
static int blob_regs(const zimg *z, const zfast_blob *bl)
{
    static _Thread_local uint8_t body[ZFAST_BLOB_MAX];
    zfast_put_body(z, body, bl);
    size_t at = 0, end = bl->len;
    int regs = 0;
    for (unsigned i = 0; i < (unsigned)bl->an + bl->ns + bl->ar; i++) {
        int n = name_regs(body, end, &at);
        if (n < 0 || at + 10 > end) return -1;
        regs += n;
        uint16_t type = rd_get16(body + at), rdlen = rd_get16(body + at + 8);
        at += 10;
        if (at + rdlen > end) return -1;
        int prefix, names = rd_rdata_names(type, body + at, rdlen, &prefix);
        size_t o = at + (size_t)prefix;
        for (int k = 0; k < names; k++) {
            if ((n = name_regs(body, at + rdlen, &o)) < 0) return -1;
            regs += n;
        }
        at += rdlen;
    }
    return at == end && regs < RD_COMP_MAX ? regs : -1;
}

/* The entry of wildcard w below p, appended to b; its section offset, RD_NONE when p's
 * names cannot be served from it (or no memory). */
static uint32_t wild_entry_build(const zimg *z, nbuf *b, znode_id p, znode_id w, int soa_regs)
{
    uint16_t types[255];
    int nt = wild_types(z, w, types);
    if (nt < 0) return RD_NONE;
    size_t at = nb_alloc(b, sizeof(zwild_ent) + (size_t)nt * sizeof(zwild_type), 4);
    if (!b->ok) return RD_NONE;
    zwild_ent e = { RD_NONE, RD_NONE, (uint8_t)nt, 0, (uint8_t)nodes_of(z)[w].name_len, 0,
                    RD_NONE };
    if (zone_nsec(z)) {
        int wild_regs = 0;
        e.gaps = gaps_build(z, b, p, w, &wild_regs);
        if (e.gaps != RD_NONE && soa_regs >= 0) {
            int regs = soa_regs + ((const zwild_gaps *)(b->p + e.gaps))->regs + wild_regs;
            if (regs < RD_COMP_MAX) e.nodata_regs = (uint8_t)regs;
        }
    } else if (soa_regs >= 0) {
        e.p_piece = matching_piece(z, zimg_node_name(z, p));
        e.w_piece = matching_piece(z, zimg_node_name(z, w));
        if (e.p_piece != RD_NONE && e.w_piece != RD_NONE && soa_regs + 3 < RD_COMP_MAX)
            e.nodata_regs = (uint8_t)(soa_regs + 3);   /* each NSEC3 owner: its hash label */
    }
    memcpy(b->p + at, &e, sizeof e);
    const uint8_t *base = (const uint8_t *)z;
    uint32_t wrec = node_rec(z, w);
    for (int k = 0; k < nt; k++) {
        zwild_type t = { types[k], 0, 0, { RD_NONE, RD_NONE } };
        if (wrec != RD_NONE) {
            int named;
            for (int d = 0; d < 2; d++) {
                uint32_t bo = zfast_rec_lookup(base, wrec, zimg_node_name(z, w), e.w_len, types[k],
                                               d, &named);
                if (bo == RD_NONE) continue;
                int regs = blob_regs(z, (const zfast_blob *)(base + bo));
                if (regs < 0) continue;
                t.blob[d] = bo;
                t.flags |= d ? ZWILD_DO : ZWILD_PLAIN;
                if (d) t.regs = (uint8_t)regs;
            }
        }
        memcpy(b->p + at + sizeof e + (size_t)k * sizeof t, &t, sizeof t);
    }
    return (uint32_t)at;
}

/* The query (name, qtype; DO with an OPT record, RFC 3225) into w->q; its length. */
static size_t probe_query(wcheck *w, const uint8_t *name, size_t nlen, uint16_t qtype, int do_bit)
{
    uint8_t *q = w->q;
    memset(q, 0, 12);
    q[5] = 1;
    memcpy(q + 12, name, nlen);
    rd_put16(q + 12 + nlen, qtype);
    rd_put16(q + 14 + nlen, RD_C_IN);
    size_t n = 16 + nlen;
    if (do_bit) {
        uint8_t *o = q + n;
        o[0] = 0;
        rd_put16(o + 1, RD_T_OPT);
        rd_put16(o + 3, 4096);
        rd_put32(o + 5, 0x8000);
        rd_put16(o + 9, 0);
        q[11] = 1;
        n += 11;
    }
    return n;
}

/* Ask the probe both ways: 1 when the wildcard path serves it with the general path's
 * bytes, 0 when it serves other bytes, -1 when it does not serve it (over TCP: no size
 * limit comes in). */
static int probe_same(wcheck *w, const uint8_t *name, size_t nlen, uint16_t qtype, int do_bit)
{
    size_t qlen = probe_query(w, name, nlen, qtype, do_bit);
    rd_ctx *c = &w->c;
    rd_ctx_start(c, &w->db, w->q, qlen, w->fast, WRESP, &w->tcp, NULL);
    if (c->prc != RD_RCODE_NOERROR || !rd_fast_answer(c, WRESP - rd_opt_room(c))) return -1;
    size_t n = rd_finish(c);
    uint32_t keep = w->z->wild_off;
    w->z->wild_off = 0;                        /* the general path alone */
    size_t g = rd_answer(&w->db, w->q, qlen, w->general, WRESP, &w->tcp, NULL);
    w->z->wild_off = keep;
    return n == g && memcmp(w->fast, w->general, n) == 0;
}

/* Does every answer served for names below P through this probe question come out as the
 * general path's?  Probes "\0\0.P", "\0\0\0.P", ... (no name of the zone; longer than
 * *.P, so that an answer whose bytes would move with the question's length differs):
 * the first one served decides. */
static int check_served(wcheck *w, znode_id p, uint16_t qtype, int do_bit)
{
    const uint8_t *pname = zimg_node_name(w->z, p);
    size_t plen = nodes_of(w->z)[p].name_len;
    uint8_t probe[RD_NAME_MAX + 1];
    for (int l = 2; l <= 6 && l + 1 + plen <= RD_NAME_MAX; l++) {
        probe[0] = (uint8_t)l;
        memset(probe + 1, 0, (size_t)l);
        memcpy(probe + 1 + l, pname, plen);
        if (zimg_find_node(w->z, probe) != RD_NONE) continue;
        int r = probe_same(w, probe, (size_t)l + 1 + plen, qtype, do_bit);
        if (r >= 0) return r;
    }
    return 0;
}

/* A qtype *.P does not hold (none the general path treats apart): its NODATA. */
static uint16_t absent_type(const zwild_ent *e)
{
    const zwild_type *t = (const zwild_type *)(e + 1);
    for (uint16_t q = 65534;; q--) {
        int held = zfast_qtype_special(q);
        for (unsigned k = 0; !held && k < e->ntype; k++) held = t[k].qtype == q;
        if (!held) return q;
    }
}

/* NSEC: the gap piece slot of gap i (-1: before the first child) of the placed gaps. */
static uint32_t *gap_slot(zwild_gaps *g, long i)
{
    return i < 0 ? &g->before_first : &((zneg_top *)(g + 1))[i].piece;
}

/* NSEC: a name in gap i of P's placed gaps (its length, 0: none falls there) into out. */
static size_t gap_name(const zimg *z, znode_id p, const zwild_gaps *g, long i, uint8_t *out)
{
    const zneg_top *t = (const zneg_top *)(g + 1);
    return gap_probe(z, i < 0 ? RD_NONE : t[i].node, (uint32_t)(i + 1) < g->n ? t[i + 1].node : RD_NONE,
                     zimg_node_name(z, p), nodes_of(z)[p].name_len, out);
}

/* NSEC: is question q (a qtype; 0: the NODATA's) served as the general path writes it
 * for a name in gap i?  1 yes, 0 no, -1 no name falls in the gap or it has no piece. */
static int gap_same(wcheck *w, znode_id p, zwild_ent *e, zwild_gaps *g, long i, uint16_t q)
{
    uint8_t name[RD_NAME_MAX + 1];
    size_t len = gap_name(w->z, p, g, i, name);
    if (!len || *gap_slot(g, i) == RD_NONE) return -1;
    return probe_same(w, name, len, q ? q : absent_type(e), 1) == 1;
}

/* NSEC, DO: each answer kept when it comes out as the general path's in some gap (else
 * the answer is what differs), then each gap kept when every answer kept does in it (a
 * piece the writer would write otherwise: a cover compressed against the answer's
 * names, say). */
static void gaps_check(wcheck *w, znode_id p, zwild_ent *e)
{
    zwild_gaps *g = (zwild_gaps *)((uint8_t *)w->z + e->gaps);
    zwild_type *t = (zwild_type *)(e + 1);
    for (int k = -1; k < (int)e->ntype; k++) {
        if (k < 0 ? !e->nodata_regs : !(t[k].flags & ZWILD_DO)) continue;
        int ok = 0;
        for (long i = -1; i < (long)g->n && !ok; i++) ok = gap_same(w, p, e, g, i, k < 0 ? 0 : t[k].qtype) == 1;
        if (ok) continue;
        if (k < 0) e->nodata_regs = 0;
        else t[k].flags &= (uint8_t)~ZWILD_DO;
    }
    for (long i = -1; i < (long)g->n; i++)
        for (int k = -1; k < (int)e->ntype; k++) {
            if (k < 0 ? !e->nodata_regs : !(t[k].flags & ZWILD_DO)) continue;
            if (gap_same(w, p, e, g, i, k < 0 ? 0 : t[k].qtype) == 0) {
                *gap_slot(g, i) = RD_NONE;
                break;
            }
        }
}

/* Each answer of the placed section checked as the query path serves it; what does not
 * come out as the general path's is switched off (the entry stays: its other answers). */
static void wild_check_all(wcheck *w, const wnode *wl, uint32_t n)
{
    uint8_t *base = (uint8_t *)w->z;
    for (uint32_t i = 0; i < n; i++) {
        zwild_ent *e = (zwild_ent *)(base + wl[i].ent);
        zwild_type *t = (zwild_type *)(e + 1);
        int nsec = e->gaps != RD_NONE;         /* DO: gap by gap, below */
        for (unsigned k = 0; k < e->ntype; k++)
            for (int d = 0; d < 2 - nsec; d++)
                if ((t[k].flags & (d ? ZWILD_DO : ZWILD_PLAIN)) &&
                    check_served(w, wl[i].p, t[k].qtype, d) != 1)
                    t[k].flags &= (uint8_t)~(d ? ZWILD_DO : ZWILD_PLAIN);
        if (nsec) gaps_check(w, wl[i].p, e);
        else if (e->nodata_regs && check_served(w, wl[i].p, absent_type(e), 1) != 1)
            e->nodata_regs = 0;
    }
}

/* The NODATA's SOA and RRSIG (RFC 2308 3) as the general path writes them after a
 * question below the apex, a piece of b whose pointers go into the question; its offset
 * (*regs: the compression entries it adds), RD_NONE when the zone has no NXDOMAIN
 * proofs (unsigned, or a wildcard at the apex). */
static uint32_t soa_piece(wcheck *w, nbuf *b, int *regs)
{
    *regs = -1;
    if (!zneg_of(w->z)) return RD_NONE;
    uint8_t name[RD_NAME_MAX + 1];
    const uint8_t *origin = zimg_origin(w->z);
    size_t olen = rd_name_len(origin);
    if (olen + 2 > RD_NAME_MAX) return RD_NONE;
    name[0] = 1;
    name[1] = 0;
    memcpy(name + 2, origin, olen);
    rd_ctx *c = &w->c;
    size_t qlen = probe_query(w, name, olen + 2, RD_T_A, 1);
    rd_ctx_start(c, &w->db, w->q, qlen, w->fast, WRESP, &w->tcp, NULL);
    if (c->prc != RD_RCODE_NOERROR) return RD_NONE;
    rd_ctx_zone(c);
    if (c->zone != w->z) return RD_NONE;
    rd_write_header(c);
    rd_write_question(c);
    c->limit = WRESP - 11;
    size_t from = c->len;
    int r0 = c->ncomp;
    rd_put_negative(c, w->z);
    if (c->tc || c->len == from) return RD_NONE;
    uint32_t at = neg_piece(b, c, from, from, 12 + c->qname_wlen, RD_NONE);
    if (at != RD_NONE) *regs = c->ncomp - r0;
    return at;
}

/* The section's offsets made image offsets, once it is placed at `at`. */
static void wild_place(uint8_t *img, size_t at, const nbuf *b)
{
    memcpy(img + at, b->p, b->len);
    zwild *h = (zwild *)(img + at);
    h->tab_off += (uint32_t)at;
    if (h->soa != RD_NONE) h->soa += (uint32_t)at;
    zwild_slot *tab = (zwild_slot *)(img + h->tab_off);
    for (uint32_t i = 0; i <= h->mask; i++) {
        if (tab[i].rec == RD_NONE) continue;
        tab[i].ent += (uint32_t)at;
        zwild_ent *e = (zwild_ent *)(img + tab[i].ent);
        if (e->gaps == RD_NONE) continue;
        e->gaps += (uint32_t)at;
        zwild_gaps *g = (zwild_gaps *)(img + e->gaps);
        for (long k = -2; k < (long)g->n; k++) {
            uint32_t *piece = k == -2 ? &g->wild : gap_slot(g, k);
            if (*piece != RD_NONE) *piece += (uint32_t)at;
        }
    }
}

static int wcheck_init(wcheck *w, zimg *z)
{
    memset(&w->db, 0, sizeof w->db);
    memset(&w->tcp, 0, sizeof w->tcp);
    w->z = z;
    w->zones[0] = z;
    w->db.nzones = 1;
    w->db.zones = w->zones;
    uint32_t dup;
    w->db.ztab = rd_zonetab_build(w->zones, 1, &dup);
    w->db.opt.max_udp_payload = 1232;
    w->db.opt.minimal_any = 1;
    w->tcp.tcp = 1;
    w->tcp.family = 4;
    return w->db.ztab ? 0 : -1;
}

zimg *rd_wild_attach(zimg *z, size_t *size)
{
    const znode *nodes = nodes_of(z);
    uint32_t nn = z->node_count, count = 0;
    if (!z->fast_off || z->wild_off) return z;
    for (uint32_t v = 0; v < nn; v++) count += nodes[v].wild != RD_NONE;
    if (!count) return z;
    wnode *wl = malloc((size_t)count * sizeof *wl);
    wcheck *w = malloc(sizeof *w);
    nbuf b = { NULL, 0, 0, 1 };
    if (w) w->db.ztab = NULL;
    if (!wl || !w || wcheck_init(w, z) < 0) goto out;
    uint32_t slots = 8;
    while (slots * 4 < count * 5) slots *= 2;    /* at most 80% full */
    nb_alloc(&b, sizeof(zwild), 8);
    size_t tab = nb_alloc(&b, (size_t)slots * sizeof(zwild_slot), 4);
    if (!b.ok) goto out;
    memset(b.p + tab, 0xFF, (size_t)slots * sizeof(zwild_slot));   /* RD_NONE: empty */
    int soa_regs;
    uint32_t soa = soa_piece(w, &b, &soa_regs);
    uint32_t n = 0;
    for (uint32_t p = 0; p < nn && b.ok; p++) {
        znode_id wv = nodes[p].wild;
        if (wv == RD_NONE || !wild_servable(z, p, wv)) continue;
        uint32_t ent = wild_entry_build(z, &b, p, wv, soa_regs);
        if (ent == RD_NONE) continue;
        uint32_t rec = node_rec(z, p), i = zwild_home(rec, slots - 1);
        zwild_slot *t = (zwild_slot *)(b.p + tab);
        while (t[i].rec != RD_NONE) i = (i + 1) & (slots - 1);
        t[i].rec = rec;
        t[i].ent = ent;
        wl[n++] = (wnode){ p, wv, ent };
    }
    if (!b.ok || n == 0) goto out;
    zwild h = { slots - 1, (uint32_t)tab, soa, n };
    memcpy(b.p, &h, sizeof h);
    size_t at = (*size + 7) & ~(size_t)7, total = at + b.len;
    if (total > 0xfffffff0u) goto out;
    zimg *grown = zimg_resize(z, total);
    if (!grown) goto out;
    z = grown;
    memset((uint8_t *)z + *size, 0, at - *size);
    wild_place((uint8_t *)z, at, &b);
    z->wild_off = (uint32_t)at;
    z->wild_len = (uint32_t)b.len;
    z->size = (uint32_t)total;
    *size = total;
    for (uint32_t i = 0; i < n; i++) wl[i].ent += (uint32_t)at;
    /* the image moved: the engine's zone table is made anew over it */
    rd_zonetab_free((rd_zonetab *)w->db.ztab);
    if (wcheck_init(w, z) < 0) {
        z->wild_off = z->wild_len = 0;         /* unchecked: not served (the bytes stay) */
        goto out;
    }
    wild_check_all(w, wl, n);
out:
    if (w && w->db.ztab) rd_zonetab_free((rd_zonetab *)w->db.ztab);
    free(w);
    free(wl);
    free(b.p);
    return z;
}
