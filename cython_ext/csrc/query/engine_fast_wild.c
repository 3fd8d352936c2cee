/* engine_fast_wild.c — answers synthesized from a wildcard (RFC 4592 3.3.3) out of stored bytes: *.P's own answer or the NODATA pieces, with DO their NSEC3 proofs (RFC 5155 7.2.5, 7.2.6) or NSEC proofs (RFC 4035 3.1.3.3, 3.1.3.4). */
#include "engine_int.h"
#include "zone/zimg_format.h"
#include "zone/zimg_dnssec.h"

/* A query's loads here form a few chains (its entry, *.P's answer and the zone records
 * it refers to, the NSEC3 index and the cover's piece and records, the NODATA's pieces);
 * each step asks for the next loads of every chain before it waits for any, so their
 * misses overlap instead of following each other (a wildcard answer was ~25 dependent
 * misses on the general path). */

/* The entry of the wildcard below P, whose answer record is at image offset rec; NULL
 * when P has none (no wildcard child, or one the build left to the general path). */
static const zwild_ent *wild_entry(const zimg *z, const zwild *w, uint32_t rec)
{
    const zwild_slot *tab = (const zwild_slot *)((const uint8_t *)z + w->tab_off);
    uint32_t i = zwild_home(rec, w->mask);
    for (uint32_t probes = 0; probes <= w->mask; probes++, i = (i + 1) & w->mask) {
        if (tab[i].rec == rec) return (const zwild_ent *)((const uint8_t *)z + tab[i].ent);
        if (tab[i].rec == RD_NONE) return NULL;
    }
    return NULL;
}

static const zneg_piece *piece_at(const zimg *z, uint32_t off)
{
    return off == RD_NONE ? NULL : (const zneg_piece *)((const uint8_t *)z + off);
}

/* The search for the NSEC3 covering the next closer name, the question's suffix one
 * label longer than P (RFC 5155 7.2.6 for an answer, part of 7.2.5's closest encloser
 * proof for a NODATA): its hash's place among the NSEC3 owners picks the NXDOMAIN proofs'
 * piece of that range (zneg), in steps. */
typedef struct nc_search {
    const zneg *g;
    const uint32_t *dir;       /* the hash's directory bucket */
    uint32_t lo, hi;
    const uint32_t *piece;     /* the range's piece offset */
    uint32_t placed;           /* the range found by the batch pipeline (NC_UNPLACED: none),
                                  RD_NONE when an owner matches the hash */
    uint8_t hash[ZIMG_NSEC3_HASH_LEN];   /* the next closer name's NSEC3 hash */
} nc_search;

#define NC_UNPLACED 0xFFFFFFFEu

/* The hash (made while the caller's first load comes), its directory bucket asked for;
 * 0 for a zone without NSEC3 pieces (NSEC: the general path's).  When the next closer
 * name is the question, the batch pipeline may have found its range already (engine_batch.c
 * pf_wild_ent, c->neg_place): nothing to do here but take it. */
static int nc_hash(const rd_ctx *c, const zimg *z, int pl, nc_search *s)
{
    const zneg *g = s->g = zneg_of(z);
    if (!g || g->kind != ZNEG_NSEC3) return 0;
    s->placed = NC_UNPLACED;
    if (c->fast_known == 2 && c->nlabels == pl + 1) {
        s->placed = c->neg_place;
        return 1;
    }
    const uint8_t *nc = c->lname + c->loff[c->nlabels - pl - 1];
    uint32_t b = rd_dnssec_nsec3_hash(nc, g->salt, g->salt_len, g->iterations, g->n3_dir_bits,
                                      s->hash);
    s->dir = (const uint32_t *)((const uint8_t *)z + g->n3_dir_off) + b;
    __builtin_prefetch(s->dir);
    return 1;
}

/* The bucket is in cache: its index entries asked for. */
static void nc_bucket(const zimg *z, nc_search *s)
{
    if (s->placed != NC_UNPLACED) return;
    s->lo = s->dir[0];
    s->hi = s->dir[1];
    zimg_nsec3_prefetch(z, s->lo, s->hi);
}

/* The entries are: the range, its piece offset asked for; 0 when an owner matches the
 * hash (the name would exist). */
static int nc_place(const zimg *z, nc_search *s)
{
    int match = 0;
    uint32_t at = s->placed;
    if (at == NC_UNPLACED)
        at = zimg_nsec3_find_place_hash(z, s->hash, s->lo, s->hi, &match);
    if (match || at >= s->g->n3_count) return 0;      /* (RD_NONE: a match) */
    s->piece = (const uint32_t *)((const uint8_t *)z + s->g->n3_off) + at;
    __builtin_prefetch(s->piece);
    return 1;
}

/* The offset is: the piece (NULL: the range is the general path's), asked for. */
static const zneg_piece *nc_piece(const zimg *z, const nc_search *s)
{
    const zneg_piece *p = piece_at(z, *s->piece);
    if (p) __builtin_prefetch(p);
    return p;
}

/* NSEC: the gaps between P's children, asked for (NULL: P has none stored). */
static const zwild_gaps *nsec_gaps(const zimg *z, const zwild_ent *e)
{
    if (e->gaps == RD_NONE) return NULL;
    const zwild_gaps *g = (const zwild_gaps *)((const uint8_t *)z + e->gaps);
    __builtin_prefetch(g);
    return g;
}

/* NSEC (RFC 4035 3.1.3.3): the piece of the gap among P's children that the question's
 * next label below P falls in (its canonical predecessor is the last name of the child
 * before it, RFC 4034 6.1), asked for; NULL: the general path's. */
static const zneg_piece *nsec_cover(const rd_ctx *c, const zimg *z, const zwild_gaps *g, int pl)
{
    const zneg_top *t = (const zneg_top *)(g + 1);
    const uint8_t *lab = c->lname + c->loff[c->nlabels - pl - 1];
    long i = zneg_top_search(z, t, 0, g->n, lab + 1, lab[0]);
    if (i == -2) return NULL;                  /* a child: never a wildcard's */
    const zneg_piece *p = piece_at(z, i < 0 ? g->before_first : t[i].piece);
    if (p) __builtin_prefetch(p);
    return p;
}

/* The header and the question echoed, counts and flags set for rd_finish: the common
 * end of both answers. */
static void wild_done(rd_ctx *c, size_t end, unsigned an, unsigned ns, unsigned ar, int aa,
                      unsigned rcode)
{
    uint8_t *r = c->r;
    memcpy(r, c->q, 2);
    memcpy(r + 12, c->q + 12, c->qname_wlen + 4);
    c->len = end;
    c->question_end = 12 + c->qname_wlen + 4;
    c->count[0] = (uint16_t)an;
    c->count[1] = (uint16_t)ns;
    c->count[2] = (uint16_t)ar;
    c->aa = (uint8_t)aa;
    c->rcode = (uint16_t)rcode;
}

/* A NODATA's authority pieces after the question, in order (NULL: left out, a record
 * already sent), and its end: both NODATA answers' common tail. */
static void nodata_put(rd_ctx *c, const zimg *z, const zneg_piece *const *row, int n)
{
    size_t qname_end = 12 + c->qname_wlen, at = qname_end + 4;
    unsigned ns = 0;
    for (int i = 0; i < n; i++) {
        if (!row[i]) continue;
        at += zneg_put_any(z, c->r, at, qname_end, row[i]);
        ns += row[i]->nrr;
    }
    wild_done(c, at, 0, ns, 0, 1, RD_RCODE_NOERROR);
}

/* RFC 4592 3.3.3: *.P holds the qtype; its stored answer (owners pointing at the
 * question: the same bytes for any name under P) and with DO the cover of the next
 * closer name (RFC 5155 7.2.6; s: the search started) or of the question (RFC 4035
 * 3.1.3.3; g: P's gaps, NSEC), as engine_lookup.c writes them. */
static int wild_answer(rd_ctx *c, const zimg *z, const zwild_type *t, nc_search *s,
                       const zwild_gaps *g, int pl, size_t limit)
{
    int d = c->do_bit != 0;
    if (!(t->flags & (d ? ZWILD_DO : ZWILD_PLAIN))) return 0;
    const zfast_blob *b = (const zfast_blob *)((const uint8_t *)z + t->blob[d]);
    __builtin_prefetch(b);
    __builtin_prefetch((const uint8_t *)b + 64);
    const zneg_piece *gp = NULL;
    if (d && g) {
        /* the cover's owner: its labels below what it shares with P, one entry each */
        if (c->nlabels + t->regs + g->regs + 1 > RD_COMP_MAX || !(gp = nsec_cover(c, z, g, pl)))
            return 0;
        zfast_prefetch_refs(z, b);             /* the blob's RRSIGs from the zone */
        zneg_prefetch_records(z, gp);
    } else if (d) {
        /* the cover's owner needs a compression entry for its RRSIG to point at */
        if (c->nlabels + t->regs + 1 > RD_COMP_MAX || !nc_place(z, s)) return 0;
        zfast_prefetch_refs(z, b);             /* the blob's RRSIGs from the zone */
        if (!(gp = nc_piece(z, s)) || !zneg_piece_question_only(gp)) return 0;
        zneg_prefetch_records(z, gp);
    }
    size_t qend = 12 + c->qname_wlen + 4, at = qend + b->len;
    if (at + (gp ? gp->len : 0) > limit) return 0;   /* the general path truncates */
    zfast_put_body(z, c->r + qend, b);
    unsigned ns = b->ns;
    if (gp) {
        at += zneg_put_any(z, c->r, at, 12 + c->qname_wlen, gp);
        ns += gp->nrr;
    }
    wild_done(c, at, b->an, ns, b->ar, b->flags & ZFAST_AA, b->flags >> 4);
    return 1;
}

/* RFC 5155 7.2.5: *.P lacks the qtype (DO, s: the search started): the SOA and its RRSIG
 * (RFC 2308 3), then the NSEC3 matching P, the one covering the next closer name and the
 * one matching *.P, a record already sent not repeated (engine_dnssec.c proof_add). */
static int wild_nodata(rd_ctx *c, const zimg *z, const zwild *w, const zwild_ent *e,
                       nc_search *s, size_t limit)
{
    if (!e->nodata_regs || c->nlabels + e->nodata_regs > RD_COMP_MAX) return 0;
    const zneg_piece *sp = piece_at(z, w->soa), *pp = piece_at(z, e->p_piece),
                     *wp = piece_at(z, e->w_piece), *gp;
    if (!sp || !pp || !wp) return 0;
    __builtin_prefetch(pp);
    __builtin_prefetch(wp);
    if (!nc_place(z, s)) return 0;
    zneg_prefetch_records(z, pp);
    zneg_prefetch_records(z, wp);
    if (!(gp = nc_piece(z, s)) || !zneg_piece_question_only(gp)) return 0;
    zneg_prefetch_records(z, gp);
    if (gp->node == pp->node || gp->node == wp->node) gp = NULL;
    size_t qend = 12 + c->qname_wlen + 4;
    if (qend + sp->len + pp->len + (gp ? gp->len : 0) + wp->len > limit) return 0;
    const zneg_piece *row[4] = { sp, pp, gp, wp };
    nodata_put(c, z, row, 4);
    return 1;
}

/* RFC 4035 3.1.3.4: *.P lacks the qtype (DO, NSEC zone, g: P's gaps): the SOA and its
 * RRSIG (RFC 2308 3), the NSEC covering the question, *.P's own NSEC showing the type
 * absent, a record already sent not repeated (engine_dnssec.c proof_add). */
static int wild_nodata_nsec(rd_ctx *c, const zimg *z, const zwild *w, const zwild_ent *e,
                            const zwild_gaps *g, int pl, size_t limit)
{
    if (!e->nodata_regs || c->nlabels + e->nodata_regs > RD_COMP_MAX) return 0;
    const zneg_piece *sp = piece_at(z, w->soa), *wp = piece_at(z, g->wild), *gp;
    if (!sp || !wp) return 0;
    __builtin_prefetch(wp);
    if (!(gp = nsec_cover(c, z, g, pl))) return 0;
    zneg_prefetch_records(z, wp);
    zneg_prefetch_records(z, gp);
    if (gp->node == wp->node) gp = NULL;
    size_t qend = 12 + c->qname_wlen + 4;
    if (qend + sp->len + (gp ? gp->len : 0) + wp->len > limit) return 0;
    const zneg_piece *row[3] = { sp, gp, wp };
    nodata_put(c, z, row, 3);
    return 1;
}

int rd_fast_wildcard(rd_ctx *c, const zimg *z, const zfast_rec *p, int pl, size_t limit)
{
    const zwild *w = zwild_of(z);
    if (!w) return 0;
    uint32_t rec = (uint32_t)((const uint8_t *)p - (const uint8_t *)z);
    __builtin_prefetch((const zwild_slot *)((const uint8_t *)z + w->tab_off) +
                       zwild_home(rec, w->mask));
    /* with DO the next closer name's hash while the slot comes (made once: the proof of
     * an answer and of a NODATA both need it) */
    nc_search s;
    int hashed = c->do_bit && nc_hash(c, z, pl, &s);
    const zwild_ent *e = wild_entry(z, w, rec);
    if (!e) return 0;
    if (hashed) nc_bucket(z, &s);              /* while the entry comes */
    if (c->qname_wlen < e->w_len) return 0;
    /* with DO and no NSEC3 search: an NSEC zone's gaps, or the general path */
    const zwild_gaps *g = c->do_bit && !hashed ? nsec_gaps(z, e) : NULL;
    if (c->do_bit && !hashed && !g) return 0;
    const zwild_type *t = (const zwild_type *)(e + 1);
    for (unsigned k = 0; k < e->ntype; k++)
        if (t[k].qtype == c->qtype) return wild_answer(c, z, &t[k], &s, g, pl, limit);
    if (g) return wild_nodata_nsec(c, z, w, e, g, pl, limit);
    return hashed ? wild_nodata(c, z, w, e, &s, limit) : 0;
}
