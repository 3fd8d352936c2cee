/* engine_batch.c — rd_answer_batch: answers a batch of queries with a software pipeline of zone-image prefetches, so cache misses of several queries overlap. */
#include "engine_int.h"
#include "zone/zimg_format.h"
#include "zone/zimg_dnssec.h"

/* Each query is parsed once, when it enters the pipeline; its loads are then prefetched
 * step by step, each step touching only what the previous one brought into cache, and
 * it is answered PF_DEPTH queries later.  With many zones (a hashed zone table) the
 * steps of a name with precomputed answers are: the zone-table slots of its suffixes;
 * the slot that matches by hash gives the apex name and the answer table's place
 * (zonetab.h), so the apex (to confirm the zone) and the answer slot come together; the
 * record; the answer.  With a handful of zones the zone is found at once (all in cache)
 * and the answer slot is the first load.  In a zone without precomputed answers, the
 * general lookup's (slot, node, name+rrsets, rdata).
 *
 * The pipeline must cost less than it saves even when everything is in cache (a small
 * zone, a hot set of names), as one rd_answer at a time got cheaper: the answer-table
 * steps are inline here and make the lookup itself, handing the answer to rd_fast_answer
 * (fast_known) instead of leaving it a second copy of the work; the ring holds PF_DEPTH
 * contexts, each answered before its slot takes the next query; and a name of a zone with
 * precomputed answers that has none (NXDOMAIN, below a cut, a wildcard's: the general
 * path) gets no general-lookup prefetch, whose name hash is the costliest step of that
 * lookup and would be made twice. */
enum { PF_DEPTH = 8, PF_STEPS = 4, PF_Q_AHEAD = 2 };
/* how many queries after entering a query takes each of its steps */
static const int pf_after[PF_STEPS] = { 2, 4, 6, 7 };

enum pf_step_kind {
    PF_DONE,             /* nothing left to prefetch */
    PF_WAIT,             /* skip one step (the zone was found at once: the general lookup) */
    PF_GUESS,            /* the zone-table slots are in cache: the candidate zone */
    PF_CONFIRM,          /* its apex and answer slot are: the zone, then the record */
    PF_RECORD,           /* the answer slot is in cache: the record */
    PF_BLOB,             /* the record is: the answer */
    PF_REFS,             /* the answer is: the zone records a DO answer writes (ZFAST_REFS) */
    PF_NEG_DIR,          /* a signed NXDOMAIN's NSEC3 directory entry is in cache: its
                            index bucket (pf_neg_dir) */
    PF_NEG_PLACE,        /* a signed NXDOMAIN's (or a wildcard's next closer name's) NSEC3
                            index bucket and range piece offsets are in cache: its range,
                            the piece (pf_neg_place) */
    PF_NEG_PIECE,        /* the piece is: the zone records it is written from */
    PF_PARENT,           /* a name without a record, its parent's answer slot in cache:
                            the parent's record and its wildcard entry's slot (pf_parent) */
    PF_WILD_ENT,         /* that slot is: the wildcard entry */
    PF_NODE, PF_DATA, PF_RDATA    /* the general lookup's */
};

typedef struct pf_state {
    rd_ctx c;
    const zimg *z;       /* the zone, once known */
    uint8_t step;        /* pf_step_kind: the next step */
    uint32_t hash;       /* general lookup: suffix hash of the full name */
    uint32_t rec;        /* its precomputed-answer record, RD_NONE: general path (a signed
                            NXDOMAIN: its range piece, PF_NEG_PIECE) */
    uint32_t fast_off;   /* the zone's answer table (0: none, only the general lookup) */
    uint32_t fast_mask;
    int k;               /* labels of the candidate apex */
    uint8_t whole;       /* a small zone's answers fetched whole with its slot (below) */
    const rd_zonetab_slot *cand;   /* the candidate zone's slot (PF_CONFIRM) */
    uint32_t n3_lo, n3_hi;         /* a signed NXDOMAIN's NSEC3 index bucket (pf_neg_hash) */
    uint32_t top_lo, top_hi;       /* and the top-label search's range (neg_top_find) */
    uint64_t top_key;              /* and its key (zneg_key of the top label) */
    uint8_t n3_hash[ZIMG_NSEC3_HASH_LEN];   /* its top label's NSEC3 hash */
    uint32_t parent_hash;          /* a name without a record: zfast_hash of its parent */
    rd_zonetab_guess guess;
} pf_state;

/* The answer slot of the name in a zone whose answer table is at fast_off. */
static inline const zfast_slot *pf_answer_slot(const zimg *z, uint32_t fast_off,
                                               uint32_t fast_mask, uint32_t h)
{
    return (const zfast_slot *)((const uint8_t *)z + fast_off) + (h & fast_mask);
}

/* The zone is known (c->zone): prefetch its first load, the answer slot or the general
 * lookup's slot, and take next_fast or next_general as the next step. */
static void pf_zone_known(pf_state *s, uint8_t next_fast, uint8_t next_general)
{
    const zimg *z = s->z = s->c.zone;
    if (!z) {
        s->step = PF_DONE;
        return;
    }
    s->fast_off = z->fast_off;
    s->fast_mask = z->fast_mask;
    if (s->fast_off) {
        __builtin_prefetch(pf_answer_slot(z, s->fast_off, s->fast_mask, s->c.fhash));
        s->step = next_fast;
    } else {
        s->hash = zimg_prefetch_slot(z, s->c.lname);
        s->step = next_general;
    }
}

static inline __attribute__((always_inline)) void pf_start(const rd_db *db, rd_batch_item *it,
                                                           const rd_transport *t, rd_stats *stats,
                                                           rd_cookie_cache *cookies, pf_state *s,
                                                           int whole)
{
    rd_ctx_start(&s->c, db, it->q, it->qlen, it->resp, it->respcap, t, stats);
    s->c.cookie_k = cookies;
    if (it->client_len) {                /* the address this datagram came from */
        s->c.client = it->client;
        s->c.client_len = it->client_len;
    }
    s->z = NULL;
    s->step = PF_DONE;
    s->rec = RD_NONE;
    if (s->c.prc != RD_RCODE_NOERROR || !db || (s->c.qclass != RD_C_IN && s->c.qclass != RD_C_ANY))
        return;                          /* (a FORMERR has no cookie: it gets none) */
    rd_ctx *c = &s->c;
    if (rd_zonetab_hashed(db->ztab) &&
        rd_zonetab_guess_start(db->ztab, c->lname, c->loff, c->nlabels,
                               c->qtype == RD_T_DS && c->nlabels > 0, &s->guess)) {
        c->fhash = zfast_hash(c->lname, c->qname_wlen);   /* as rd_ctx_zone */
        s->step = PF_GUESS;
        s->whole = (uint8_t)whole;       /* only pf_guess reads it: nothing for a few zones */
        return;
    }
    rd_ctx_zone(c);
    /* the answer slot is read at the query's first step, two queries on: a signed
     * NXDOMAIN's chain (pf_neg_hash) takes every step after it */
    pf_zone_known(s, PF_RECORD, PF_WAIT);
}

/* The zone-table slots are in cache: the first whose hash matches names the zone, almost
 * surely; its apex name and the answer slot (or the image header the general lookup
 * starts from) are fetched side by side, and the per-zone entries the answer reads. */
static void pf_guess(pf_state *s)
{
    rd_ctx *c = &s->c;
    const rd_db *db = c->db;
    const rd_zonetab_slot *z = s->cand = rd_zonetab_guess_slot(db->ztab, &s->guess, &s->k);
    if (!z) {                            /* no apex of any suffix's hash: no zone */
        c->zone_done = 1;
        s->step = PF_DONE;
        return;
    }
    __builtin_prefetch(rd_zonetab_slot_origin(z));
    rd_zone_slot_prefetch(db, z, c->fhash, s->whole);
    s->step = PF_CONFIRM;
}

/* The entries the first `depth` rounds of neg_top_find's binary search over [lo, hi) may
 * read (2^depth - 1 of them, the same midpoints), or the whole range when it is as short. */
static void pf_top_levels(const zneg_top *t, uint32_t lo, uint32_t hi, int depth)
{
    if (lo >= hi) return;
    if (hi - lo <= 4u * (1u << depth)) {          /* 4 entries a line */
        for (uint32_t i = lo; i < hi; i += 4) __builtin_prefetch(t + i);
        __builtin_prefetch(t + hi - 1);
        return;
    }
    uint32_t mid = lo + (hi - lo) / 2;
    __builtin_prefetch(t + mid);
    if (depth > 1) {
        pf_top_levels(t, lo, mid, depth - 1);
        pf_top_levels(t, mid + 1, hi, depth - 1);
    }
}

/* A name two labels or more below the apex without a record: most likely below a cut
 * (a referral stored at the cut) or below a wildcard's parent P (an answer from the
 * wildcard, engine_fast_wild.c), found by rd_fast_answer's walk down through the names
 * above it; for the common case of one label below the cut or P, the parent's answer slot
 * asked for now, then its record and the wildcard entry's slot (pf_parent), then the
 * entry (pf_wild_ent), so that the walk and the entry find them in cache. */
static void pf_parent_slot(pf_state *s)
{
    const rd_ctx *c = &s->c;
    size_t at = c->loff[1];
    s->parent_hash = zfast_hash(c->lname + at, c->qname_wlen - at);
    __builtin_prefetch(pf_answer_slot(s->z, s->fast_off, s->fast_mask, s->parent_hash));
    s->step = PF_PARENT;
}

static void pf_parent(pf_state *s)
{
    const zimg *z = s->z;
    const zfast_slot *tab = pf_answer_slot(z, s->fast_off, 0, 0);
    uint32_t h = s->parent_hash, i = h & s->fast_mask;
    s->step = PF_DONE;
    for (int k = 0; k < 4; k++, i = (i + 1) & s->fast_mask) {
        uint32_t off = tab[i].rec;
        if (off == RD_NONE) return;
        if (tab[i].hash != h) continue;
        __builtin_prefetch((const uint8_t *)z + off);
        const zwild *w = zwild_of(z);
        if (w) {
            s->rec = off;
            __builtin_prefetch((const zwild_slot *)((const uint8_t *)z + w->tab_off) +
                               zwild_home(off, w->mask));
            s->step = PF_WILD_ENT;
        }
        return;
    }
}

/* The directory's entry for bucket b of an NSEC3 hash (in cache for an NXDOMAIN, read at
 * once for a wildcard's next closer name: no step is left to wait for it): the index
 * bucket it names and the piece offsets of the ranges the hash may fall in, asked for;
 * the range itself at the next step (pf_neg_place). */
static void pf_n3_bucket(pf_state *s, const zneg *g, uint32_t b)
{
    const zimg *z = s->z;
    const uint8_t *base = (const uint8_t *)z;
    const uint32_t *dir = (const uint32_t *)(base + g->n3_dir_off) + b;
    s->n3_lo = dir[0];
    s->n3_hi = dir[1];
    zimg_nsec3_prefetch(z, s->n3_lo, s->n3_hi);
    /* the range is one of [lo - 1, hi - 1] (lo - 1: the last when lo is 0): their piece
     * offsets lie side by side */
    const uint32_t *gaps = (const uint32_t *)(base + g->n3_off);
    if (s->n3_lo < s->n3_hi && s->n3_hi <= g->n3_count) {
        __builtin_prefetch(gaps + (s->n3_lo ? s->n3_lo - 1 : g->n3_count - 1));
        __builtin_prefetch(gaps + s->n3_hi - 1);
    }
    s->step = PF_NEG_PLACE;
}

/* The wildcard entry's slot is in cache: the entry asked for (none: nothing).  With DO in
 * an NSEC3 zone the answer from *.P carries the NSEC3 covering the next closer name (RFC
 * 5155 7.2.5, 7.2.6), here the question itself (one label below P): its hash made now and
 * its range found over the next step, as a signed NXDOMAIN's (c->neg_place, fast_known
 * 2, read by rd_fast_wildcard), instead of the five loads one after the other at the
 * answer (directory, bucket, piece offset, piece, records). */
static void pf_wild_ent(pf_state *s)
{
    const zimg *z = s->z;
    const zwild *w = zwild_of(z);
    const zwild_slot *t = (const zwild_slot *)((const uint8_t *)z + w->tab_off) +
                          zwild_home(s->rec, w->mask);
    s->step = PF_DONE;
    if (t->rec != s->rec) return;
    __builtin_prefetch((const uint8_t *)z + t->ent);
    const zneg *g = zneg_of(z);
    if (!g || g->kind != ZNEG_NSEC3 || !s->c.do_bit) return;
    uint32_t b = rd_dnssec_nsec3_hash(s->c.lname, g->salt, g->salt_len, g->iterations,
                                      g->n3_dir_bits, s->n3_hash);
    s->top_lo = s->top_hi = 0;         /* no search over the top labels (pf_neg_place) */
    pf_n3_bucket(s, g, b);
}

/* A DO query for a name right below the apex of an NSEC3 zone with precomputed NXDOMAIN
 * proofs (zneg, zimg_format.h) has no record: most likely NXDOMAIN, answered by
 * fast_nxdomain from its hash's NSEC3 range (RFC 5155 7.2.2: the name is the next closer
 * name).  The hash is made here, and the chain fast_nxdomain follows (directory, index
 * bucket, range piece; the top-label search beside it) fetched over the query's last
 * steps, so that its misses overlap other queries' work instead of following each other
 * at the answer; the range is handed over in c->neg_place (fast_known 2).  Any other
 * name without a record goes on as before. */
static void pf_neg_hash(pf_state *s)
{
    rd_ctx *c = &s->c;
    const zimg *z = s->z;
    const zneg *g = zneg_of(z);
    s->step = PF_DONE;
    if (c->nlabels > (int)z->origin_labels + 1 && !zfast_qtype_special(c->qtype)) {
        pf_parent_slot(s);
        return;
    }
    if (!g || g->kind != ZNEG_NSEC3 || !c->do_bit || zfast_qtype_special(c->qtype) ||
        c->nlabels != (int)z->origin_labels + 1)
        return;
    const uint8_t *base = (const uint8_t *)z, *top = c->lname;   /* its own top label */
    uint32_t b = rd_dnssec_nsec3_hash(top, g->salt, g->salt_len, g->iterations,
                                      g->n3_dir_bits, s->n3_hash);
    /* the directory's entry (4 bytes of a quarter megabyte: not in cache) read at the
     * next step */
    s->n3_lo = b;
    __builtin_prefetch((const uint32_t *)(base + g->n3_dir_off) + b);
    __builtin_prefetch((const uint32_t *)(base + g->n3_dir_off) + b + 1);
    s->step = PF_NEG_DIR;
    s->top_lo = s->top_hi = 0;         /* no search over the top labels (fast_nxdomain) */
    if (g->tops_named && top[0] != ZNEG_N3_LABEL) return;
    uint64_t key = s->top_key = zneg_key(top + 1, top[0]);
    uint32_t tb = g->top_dir_bits ? (uint32_t)(key >> (64 - g->top_dir_bits)) : 0;
    const uint32_t *tdir = (const uint32_t *)(base + g->top_dir_off);
    s->top_lo = tdir[tb];
    s->top_hi = tdir[tb + 1];
    pf_top_levels((const zneg_top *)(base + g->top_off), s->top_lo, s->top_hi, 3);
}

/* PF_NEG_DIR: pf_neg_hash left the bucket's number in n3_lo. */
static void pf_neg_dir(pf_state *s)
{
    pf_n3_bucket(s, zneg_of(s->z), s->n3_lo);
}

/* The bucket and the piece offsets are in cache: the range (what rd_dnssec_nsec3_place
 * gives), its piece asked for, and the top-label entries neg_top_find will read. */
static void pf_neg_place(pf_state *s)
{
    rd_ctx *c = &s->c;
    const zimg *z = s->z;
    const zneg *g = zneg_of(z);
    const uint8_t *base = (const uint8_t *)z;
    int match;
    uint32_t at = zimg_nsec3_find_place_hash(z, s->n3_hash, s->n3_lo, s->n3_hi, &match);
    c->neg_place = match ? RD_NONE : at;
    c->fast_known = 2;
    s->step = PF_DONE;
    if (!match && at < g->n3_count) {
        uint32_t off = ((const uint32_t *)(base + g->n3_off))[at];
        if (off != RD_NONE) {
            __builtin_prefetch(base + off);
            __builtin_prefetch(base + off + 63);
            s->rec = off;
            s->step = PF_NEG_PIECE;
        }
    }
    /* the search's first rounds over entries now in cache, as neg_top_find makes them
     * (by key; a tie, rare, leaves the rest to it), then the entries of its last rounds */
    const zneg_top *t = (const zneg_top *)(base + g->top_off);
    uint64_t key = s->top_key;
    uint32_t lo = s->top_lo, hi = s->top_hi;
    for (int k = 0; k < 3 && lo < hi; k++) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t[mid].key == key) return;
        if (t[mid].key < key) lo = mid + 1; else hi = mid;
    }
    pf_top_levels(t, lo, hi, 3);
}

/* The range's piece (at s->rec) is in cache: the zone records it is written from. */
static void pf_neg_piece(pf_state *s)
{
    s->step = PF_DONE;
    zneg_prefetch_records(s->z, (const zneg_piece *)((const uint8_t *)s->z + s->rec));
}

/* The answer slot is in cache: the record its hash names (the first few probes),
 * prefetched. */
static void pf_record(pf_state *s)
{
    const zimg *z = s->z;
    s->step = PF_BLOB;
    const zfast_slot *tab = pf_answer_slot(z, s->fast_off, 0, 0);
    uint32_t h = s->c.fhash, i = h & s->fast_mask;
    for (int k = 0; k < 4; k++, i = (i + 1) & s->fast_mask) {
        uint32_t off = tab[i].rec;
        if (off == RD_NONE) {            /* no record of the name */
            pf_neg_hash(s);
            return;
        }
        if (tab[i].hash == h) {
            const uint8_t *r = (const uint8_t *)z + off;
            __builtin_prefetch(r);
            __builtin_prefetch(r + 64);
            /* a signed NODATA lies right after the record (precompute.c) */
            if (s->c.do_bit) __builtin_prefetch(r + 128);
            s->rec = off;
            return;
        }
    }
    /* no record among the first probes: the general path's (see above), or a long
     * probe chain's, found by rd_fast_answer */
    s->step = PF_DONE;
}

/* The candidate's apex is in cache: the zone confirmed (two apexes of one hash: the
 * full lookup), then its next load. */
static void pf_confirm(pf_state *s)
{
    rd_ctx *c = &s->c;
    const rd_zonetab_slot *z = s->cand;
    if (rd_zonetab_slot_matches(z, c->lname, c->loff, c->nlabels, s->k)) {
        c->zone_done = 1;
        c->zone = s->z = z->zone;
        c->zone_index = z->index;
        s->fast_off = z->fast_off;
        s->fast_mask = z->fast_mask;
        if (s->fast_off) {
            pf_record(s);
        } else {
            s->hash = zimg_prefetch_slot(s->z, c->lname);
            s->step = PF_NODE;
        }
        return;
    }
    rd_ctx_zone(c);
    pf_zone_known(s, PF_RECORD, PF_NODE);
}

/* The record is in cache: the lookup rd_fast_answer would make (name, then the entry of
 * qtype, for DO or not), its answer prefetched and kept for it.  A record whose name
 * differs (a hash collision) leaves the lookup to rd_fast_answer. */
static void pf_blob(pf_state *s)
{
    s->step = PF_DONE;
    rd_ctx *c = &s->c;
    const uint8_t *base = (const uint8_t *)s->z;
    int named;
    uint32_t b = zfast_rec_lookup(base, s->rec, c->lname, c->qname_wlen, c->qtype, c->do_bit,
                                  &named);
    if (!named)
        return;
    c->fast_known = 1;
    c->fast_blob = NULL;
    if (zfast_qtype_special(c->qtype) || b == RD_NONE) return;   /* as zimg_fast_answer */
    __builtin_prefetch(base + b);
    __builtin_prefetch(base + b + 64);
    if (c->do_bit) {
        /* a signed answer (RRSIGs) spans more lines: an A record and its P-256 RRSIG
         * take about 190 bytes, so up to four lines from an unaligned start */
        __builtin_prefetch(base + b + 128);
        __builtin_prefetch(base + b + 192);
        /* a NODATA (the record's default) takes its NSEC and RRSIGs from the zone
         * (ZFAST_REFS): asked for now when its blob lies in the record's lines fetched
         * with it (precompute.c stores it first), else at the step after this one (the
         * last before the answer in both the few-zones and the many-zones schedule),
         * when the blob has come; the other answers' blobs are not read before the answer */
        const zfast_rec *r = (const zfast_rec *)(base + s->rec);
        const zfast_ent *e = (const zfast_ent *)(base + s->rec + zfast_rec_head(r->below));
        if (b == zfast_rec_blob(r, e, r->nent, 1)) {
            if (b > s->rec && b + 48 <= (uint64_t)s->rec + 192)
                zfast_prefetch_refs(s->z, (const zfast_blob *)(base + b));
            else
                s->step = PF_REFS;
        }
    }
    c->fast_blob = (const zfast_blob *)(base + b);
}

static inline __attribute__((always_inline)) void pf_step(pf_state *s)
{
    switch (s->step) {
    case PF_DONE: return;
    case PF_WAIT: s->step = s->fast_off ? PF_RECORD : PF_NODE; return;
    case PF_GUESS: pf_guess(s); return;
    case PF_CONFIRM: pf_confirm(s); return;
    case PF_RECORD: pf_record(s); return;
    case PF_BLOB: pf_blob(s); return;
    case PF_REFS: zfast_prefetch_refs(s->z, s->c.fast_blob); s->step = PF_DONE; return;
    case PF_NEG_DIR: pf_neg_dir(s); return;
    case PF_NEG_PLACE: pf_neg_place(s); return;
    case PF_NEG_PIECE: pf_neg_piece(s); return;
    case PF_PARENT: pf_parent(s); return;
    case PF_WILD_ENT: pf_wild_ent(s); return;
    case PF_NODE: zimg_prefetch_node(s->z, s->hash); s->step = PF_DATA; return;
    case PF_DATA: zimg_prefetch_data(s->z, s->hash); s->step = PF_RDATA; return;
    case PF_RDATA: zimg_prefetch_rdata(s->z, s->hash); s->step = PF_DONE; return;
    }
}

/* Round i of the pipeline: the query leaving it answered (its context is the slot query
 * i takes), query i started, and the step of each query pf_after[k] rounds in.  `full`:
 * every query of the ring is in flight (PF_DEPTH <= i < n), so none of the bounds need
 * checking; a constant where it is inlined, so that the rounds of a long batch cost only
 * their steps (issue 14: the pipeline must cost less than it saves when all is in cache). */
static inline __attribute__((always_inline)) void pf_round(const rd_db *db, rd_batch_item *items,
                                                           size_t n, size_t i, int full,
                                                           const rd_transport *t, rd_stats *stats,
                                                           rd_cookie_cache *cookies,
                                                           pf_state *ring)
{
    _Static_assert((PF_DEPTH & (PF_DEPTH - 1)) == 0 && PF_DEPTH > 7,
                   "the ring is indexed by a mask and holds every step's query");
    if (full || i >= PF_DEPTH)
        items[i - PF_DEPTH].resplen = rd_ctx_answer(&ring[i % PF_DEPTH].c);
    /* fewer queries than the ring (one here, 2-7 go step by step): their steps come one
     * after the other with nothing between them to overlap, so a small zone's answers
     * are fetched whole at once; a full ring overlaps the steps of eight queries, and
     * the whole fetch's extra lines would cost it more than they save */
    if (full || i < n)
        pf_start(db, &items[i], t, stats, cookies, &ring[i % PF_DEPTH], !full && n < PF_DEPTH);
    /* the query parsed two rounds on: a batch's datagrams need not be in cache (frames
     * of an XDP ring, queries held apart in memory), and the parse reads them first */
    if (i + PF_Q_AHEAD < n) {
        const rd_batch_item *ahead = &items[i + PF_Q_AHEAD];
        __builtin_prefetch(ahead->q);
        __builtin_prefetch(ahead->q + ahead->qlen - 1);
    }
#pragma GCC unroll 4
    for (int k = 0; k < PF_STEPS; k++)
        if (full || (i >= (size_t)pf_after[k] && i - pf_after[k] < n))
            pf_step(&ring[(i - pf_after[k]) % PF_DEPTH]);
}

/* A round while the ring fills or drains: a few per batch, kept out of line. */
static __attribute__((noinline)) void pf_round_edge(const rd_db *db, rd_batch_item *items,
                                                     size_t n, size_t i, const rd_transport *t,
                                                     rd_stats *stats, rd_cookie_cache *cookies,
                                                     pf_state *ring)
{
    pf_round(db, items, n, i, 0, t, stats, cookies, ring);
}

void rd_answer_batch(const rd_db *db, rd_batch_item *items, size_t n,
                     const rd_transport *t, rd_stats *stats)
{
    pf_state ring[PF_DEPTH];
    rd_cookie_cache *cookies = rd_cookie_begin(db, t);   /* its clock and snapshot: once */
    if (n > 1 && n < PF_DEPTH) {
        /* The few datagrams one recvmmsg hands a UDP worker (1-4 at 40k queries/s, issue
         * 14): nothing arrives behind them, so the ring's schedule would leave the last
         * ones' loads out of the first ones' waits.  Step by step instead: every query's
         * zone-table slots asked for, then every candidate's apex and answer slot, and
         * so on, so each wait covers all n misses of its step.  Each query still takes
         * its PF_STEPS steps in order and is answered after them, all started before
         * the first answer, as in the ring (n < PF_DEPTH).
         * No whole fetch of a small zone's answers: 2 or more queries' extra lines in
         * flight at once cost more than they save (batch 7: 273 ns a query with it,
         * 185 without; 3: 313 / 301; 2, against the ring with it: 347 / 314). */
        for (size_t j = 0; j < n; j++)
            pf_start(db, &items[j], t, stats, cookies, &ring[j], 0);
        for (int k = 0; k < PF_STEPS; k++)
            for (size_t j = 0; j < n; j++)
                pf_step(&ring[j]);
        for (size_t j = 0; j < n; j++)
            items[j].resplen = rd_ctx_answer(&ring[j].c);
        return;
    }
    size_t i = 0;
    for (; i < PF_DEPTH && i < n + PF_DEPTH; i++)        /* filling */
        pf_round_edge(db, items, n, i, t, stats, cookies, ring);
    for (; i < n; i++)                                   /* full */
        pf_round(db, items, n, i, 1, t, stats, cookies, ring);
    for (; i < n + PF_DEPTH; i++)                        /* draining */
        pf_round_edge(db, items, n, i, t, stats, cookies, ring);
}
