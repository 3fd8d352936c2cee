/* zimg_wild.c — validation of the wildcard answers of an untrusted zone image (zwild, zimg_format.h). */
#include "zimg_format.h"
#include "zimg_dnssec.h"

#include <stdio.h>

#define FAIL(...) do { if (errlen) snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* NSEC: the gaps at image offset off inside [lo, hi), every child a node (its name is
 * read by the search), every piece inside this section. */
static int gaps_ok(const zimg *z, uint64_t off, uint64_t lo, uint64_t hi)
{
    if (off == RD_NONE) return 1;
    if (off % 8 || off < lo || off + sizeof(zwild_gaps) > hi) return 0;
    const zwild_gaps *g = (const zwild_gaps *)((const uint8_t *)z + off);
    if (off + sizeof *g + (uint64_t)g->n * sizeof(zneg_top) > hi ||
        !zimg_neg_piece_ok(z, g->before_first, lo, hi) || !zimg_neg_piece_ok(z, g->wild, lo, hi))
        return 0;
    const zneg_top *t = (const zneg_top *)(g + 1);
    for (uint32_t i = 0; i < g->n; i++)
        if (t[i].node >= z->node_count || !zimg_neg_piece_ok(z, t[i].piece, lo, hi)) return 0;
    return 1;
}

/* One entry at image offset off: inside [lo, hi) with its types, its pieces sound (the
 * NSEC3 ones inside the NXDOMAIN proofs' section, the NSEC ones inside this one), its
 * blobs sound answers of the answer records' area (a DO one's references pointing into a
 * question of w_len octets: the synthesized question is never shorter than *.P). */
static int entry_ok(const zimg *z, uint64_t off, uint64_t lo, uint64_t hi)
{
    if (off % 4 || off < lo || off + sizeof(zwild_ent) > hi) return 0;
    const zwild_ent *e = (const zwild_ent *)((const uint8_t *)z + off);
    if (off + sizeof *e + (uint64_t)e->ntype * sizeof(zwild_type) > hi) return 0;
    uint64_t nlo = z->neg_off, nhi = nlo + z->neg_len;
    if ((e->p_piece != RD_NONE || e->w_piece != RD_NONE) && z->neg_off == 0) return 0;
    if (!zimg_neg_piece_ok(z, e->p_piece, nlo, nhi) || !zimg_neg_piece_ok(z, e->w_piece, nlo, nhi) ||
        !gaps_ok(z, e->gaps, lo, hi))
        return 0;
    const zwild_type *t = (const zwild_type *)(e + 1);
    for (unsigned k = 0; k < e->ntype; k++) {
        if (t[k].flags & ~(ZWILD_PLAIN | ZWILD_DO)) return 0;
        for (int d = 0; d < 2; d++)
            if ((t[k].flags & (d ? ZWILD_DO : ZWILD_PLAIN)) &&
                !zimg_fast_blob_ok(z, t[k].blob[d], d, e->w_len))
                return 0;
    }
    return 1;
}

/* Every offset the query path follows (engine_fast_wild.c) lies inside the image and
 * points at what it should: a forged image can at worst give wrong answers. */
int zimg_wild_check(const zimg *z, char *err, size_t errlen)
{
    if (z->wild_off == 0) {
        if (z->wild_len) FAIL("bad wildcard answers");
        return 0;
    }
    uint64_t lo = z->wild_off, hi = lo + z->wild_len;
    if (lo % 8 || lo < sizeof(struct zimg) || hi > z->size || lo + sizeof(zwild) > hi ||
        z->fast_off == 0)
        FAIL("bad wildcard answers");
    const zwild *w = zwild_of(z);
    uint64_t slots = (uint64_t)w->mask + 1;
    if ((w->mask & (w->mask + 1)) != 0 || w->tab_off % 4 || w->tab_off < lo ||
        w->tab_off + slots * sizeof(zwild_slot) > hi || !zimg_neg_piece_ok(z, w->soa, lo, hi))
        FAIL("bad wildcard answers");
    const zwild_slot *tab = (const zwild_slot *)((const uint8_t *)z + w->tab_off);
    for (uint64_t i = 0; i < slots; i++)
        if (tab[i].rec != RD_NONE && !entry_ok(z, tab[i].ent, lo, hi))
            FAIL("wildcard answer slot %u invalid", (unsigned)i);
    return 0;
}
