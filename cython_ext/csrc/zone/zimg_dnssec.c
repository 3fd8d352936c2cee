/* zimg_dnssec.c — DNSSEC read side of zone images (NSEC predecessor search, NSEC3 owner index) and the index's build and validation. */
#include "zimg_format.h"
#include "zimg_dnssec.h"

#include <stdio.h>
#include <stdlib.h>

static inline const znode *node_at(const zimg *z, znode_id n)
{
    return (const znode *)((const uint8_t *)z + z->nodes_off) + n;
}

znode_id zimg_node_parent(const zimg *z, znode_id n) { return node_at(z, n)->parent; }
znode_id zimg_node_wild(const zimg *z, znode_id n) { return node_at(z, n)->wild; }

static int node_has_type(const zimg *z, znode_id n, uint16_t type)
{
    unsigned cnt = 0;
    const zrrset *rs = zimg_node_rrsets(z, n, &cnt);
    for (unsigned i = 0; i < cnt; i++) {
        if (rs[i].type == type) return 1;
        if (rs[i].type > type) return 0;
    }
    return 0;
}

int zimg_node_nsec3_only(const zimg *z, znode_id n)
{
    unsigned cnt = 0;
    const zrrset *rs = zimg_node_rrsets(z, n, &cnt);
    int nsec3 = 0;
    /* rrsets are sorted by type: an ordinary node fails on its first rrset */
    for (unsigned i = 0; i < cnt; i++) {
        if (rs[i].type == RD_T_NSEC3) nsec3 = 1;
        else if (rs[i].type != RD_T_RRSIG) return 0;
    }
    return nsec3;
}

/* ---- NSEC ---- */

/* A name's label offsets, made once for the many comparisons of a search. */
typedef struct canon_name {
    const uint8_t *name;
    int n;                     /* labels (at most 128, as rd_name_cmp counts them) */
    uint8_t off[128];
} canon_name;

static void canon_init(canon_name *k, const uint8_t *name)
{
    int n = 0;
    size_t p = 0;
    while (name[p] && n < 128) {
        k->off[n++] = (uint8_t)p;
        p += name[p] + 1;
    }
    k->n = n;
    k->name = name;
}

/* rd_name_cmp's canonical order (RFC 4034 6.1) of a node's name against k, both lower
 * case (the image's names and a query's lname): octets compare as they are, so each label
 * is one memcmp, and k's labels are not walked again for every node. */
static int canon_cmp(const uint8_t *a, const canon_name *k)
{
    const uint8_t *la[128];
    int na = 0, nb = k->n;
    for (const uint8_t *p = a; *p && na < 128; p += *p + 1) la[na++] = p;
    while (na > 0 && nb > 0) {
        const uint8_t *x = la[--na], *y = k->name + k->off[--nb];
        int lx = x[0], ly = y[0];
        int c = memcmp(x + 1, y + 1, (size_t)(lx < ly ? lx : ly));
        if (c) return c;
        if (lx != ly) return lx - ly;
    }
    return na - nb;
}

znode_id zimg_nsec_find(const zimg *z, const uint8_t *lname, int *match)
{
    return zimg_nsec_find_from(z, lname, 0, match);
}

znode_id zimg_nsec_find_from(const zimg *z, const uint8_t *lname, znode_id from, int *match)
{
    *match = 0;
    canon_name k;
    canon_init(&k, lname);
    /* Nodes are in canonical order (RFC 4034 6.1): search for the last node whose name
       is <= lname.  Node 0 is the apex, which is <= every name of the zone. */
    uint32_t lo = 0, hi = z->node_count;       /* the answer lies in [lo, hi) */
    if (from > 0 && from < hi) {
        /* up from `from` (at or before lname) by doubling steps: a name's predecessor
           lies a few nodes after its closest encloser, which the general path knows
           (a wildcard's parent with its "*" and a few names beside it), so a few
           comparisons of nearby nodes instead of some 17 over the whole zone */
        lo = from;
        for (uint32_t step = 1; step < hi - lo; step *= 2) {
            if (canon_cmp(zimg_node_name(z, lo + step), &k) > 0) {
                hi = lo + step;
                break;
            }
            lo += step;
        }
    }
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (canon_cmp(zimg_node_name(z, mid), &k) <= 0) lo = mid; else hi = mid;
    }
    znode_id n = lo;
    int first = 1;
    /* Walk back to a node that owns NSEC.  Names below a zone cut (glue) have none: the
       cut itself owns the NSEC that covers them (RFC 4035 2.3), and it precedes them, so
       jump there.  Empty non-terminals have none either: step back past them (at most a
       few steps: an ENT is preceded by its parent or by a leaf). */
    for (;;) {
        const znode *nd = node_at(z, n);
        if ((nd->flags & ZN_BELOW_CUT) && nd->cut != RD_NONE && nd->cut < n) {
            n = nd->cut;
            first = 0;
            continue;
        }
        if (node_has_type(z, n, RD_T_NSEC)) break;
        if (n == 0) return RD_NONE;
        n--;
        first = 0;
    }
    *match = first && rd_name_eq(zimg_node_name(z, n), lname);
    return n;
}

/* ---- NSEC3 ---- */

/* One index entry: the first 60 bits of the owner's hash (its first 12 base32hex
 * characters, RFC 4648 7: each is 5 bits, in order) and the node.  A binary search then
 * compares integers in one contiguous array instead of chasing node names: on a big
 * zone that is the difference between a few cache misses and dozens. */
typedef struct nsec3_entry {
    uint64_t key;
    uint32_t node;
    uint32_t pad_;
} nsec3_entry;

static inline const nsec3_entry *nsec3_index(const zimg *z)
{
    return (const nsec3_entry *)((const uint8_t *)z + z->nsec3_off);
}

uint32_t zimg_nsec3_count(const zimg *z) { return z->nsec3_count; }

znode_id zimg_nsec3_first(const zimg *z)
{
    return z->nsec3_count ? nsec3_index(z)[0].node : RD_NONE;
}

/* base32hex digit value, lower case; anything else sorts last (such an owner is not a
 * hash, and only its place in the order matters). */
static inline uint64_t b32_value(uint8_t ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'v') return ch - 'a' + 10;
    return 31;
}

static uint64_t label_key(const uint8_t *label, size_t len)
{
    uint64_t k = 0;
    for (size_t i = 0; i < 12; i++) k = k << 5 | (i < len ? b32_value(label[i]) : 0);
    return k;
}

/* Canonical order of two single labels (RFC 4034 6.1: octet strings, shorter first). */
static int label_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = memcmp(a, b, m);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

void zimg_nsec3_label_of(const uint8_t hash[ZIMG_NSEC3_HASH_LEN], uint8_t label[32])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
    for (int g = 0; g < 4; g++) {              /* 20 bytes = 4 groups of 5 -> 8 chars */
        const uint8_t *b = hash + 5 * g;
        uint64_t v = (uint64_t)b[0] << 32 | (uint64_t)b[1] << 24 | (uint64_t)b[2] << 16 |
                     (uint64_t)b[3] << 8 | b[4];
        for (int k = 0; k < 8; k++) label[8 * g + k] = (uint8_t)digits[(v >> (35 - 5 * k)) & 31];
    }
}

/* The one search of the NSEC3 index over [lo, hi): every indexed owner is
 * "<label>.<origin>", so comparing first labels compares names, and base32hex keeps the
 * order of the hashes (RFC 4648 7).  Finds the first entry whose label is > the
 * question's: by key, and by the whole label when keys tie.  The label is either given
 * or (label NULL) written from hash only when a key ties, which is rare. */
static inline uint32_t nsec3_search(const zimg *z, uint64_t key, const uint8_t *label,
                                    size_t label_len, const uint8_t *hash, uint32_t lo,
                                    uint32_t hi, int *match)
{
    *match = 0;
    uint32_t n = z->nsec3_count;
    if (n == 0) return RD_NONE;
    const nsec3_entry *ix = nsec3_index(z);
    uint8_t written[32];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c;
        if (ix[mid].key != key) {
            c = ix[mid].key < key ? -1 : 1;
        } else {
            if (!label) {
                zimg_nsec3_label_of(hash, written);
                label = written;
                label_len = sizeof written;
            }
            const uint8_t *nm = zimg_node_name(z, ix[mid].node);
            c = label_cmp(nm + 1, nm[0], label, label_len);
            if (c == 0) { *match = 1; return mid; }
        }
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    /* ix[lo - 1] precedes the hash; before the first owner, the last one covers it
       (its next hashed owner wraps around to the first, RFC 5155 3.1.7) */
    return lo == 0 ? n - 1 : lo - 1;
}

uint32_t zimg_nsec3_find_place_hash(const zimg *z, const uint8_t hash[ZIMG_NSEC3_HASH_LEN],
                                    uint32_t lo, uint32_t hi, int *match)
{
    /* label_key of the hash's base32hex label is its first 60 bits (RFC 4648 7: each
     * digit 5 bits, in order) */
    uint64_t key = 0;
    for (int i = 0; i < 8; i++) key = key << 8 | hash[i];
    return nsec3_search(z, key >> 4, NULL, 0, hash, lo, hi, match);
}

uint32_t zimg_nsec3_find_place(const zimg *z, const uint8_t *label, size_t label_len, int *match)
{
    return zimg_nsec3_find_place_in(z, label, label_len, 0, z->nsec3_count, match);
}

void zimg_nsec3_directory(const zimg *z, uint32_t *dir, int bits)
{
    const nsec3_entry *ix = nsec3_index(z);
    uint32_t n = z->nsec3_count, i = 0;
    for (uint64_t b = 0; b <= (1ull << bits); b++) {
        while (i < n && (bits ? ix[i].key >> (60 - bits) : 0) < b) i++;
        dir[b] = i;
    }
}

uint32_t zimg_nsec3_find_place_in(const zimg *z, const uint8_t *label, size_t label_len,
                                  uint32_t lo, uint32_t hi, int *match)
{
    return nsec3_search(z, label_key(label, label_len), label, label_len, NULL, lo, hi,
                        match);
}

znode_id zimg_nsec3_node_at(const zimg *z, uint32_t place)
{
    return place < z->nsec3_count ? nsec3_index(z)[place].node : RD_NONE;
}

void zimg_nsec3_prefetch(const zimg *z, uint32_t lo, uint32_t hi)
{
    if (hi > z->nsec3_count) hi = z->nsec3_count;
    if (lo >= hi) return;
    const uint8_t *a = (const uint8_t *)(nsec3_index(z) + lo),
                  *b = (const uint8_t *)(nsec3_index(z) + hi) - 1;
    for (int k = 0; k < 4 && a <= b; k++, a += 64) __builtin_prefetch(a);
    __builtin_prefetch(b);
}

znode_id zimg_nsec3_find(const zimg *z, const uint8_t *label, size_t label_len, int *match)
{
    return zimg_nsec3_node_at(z, zimg_nsec3_find_place(z, label, label_len, match));
}

static int indexed(const zimg *z, znode_id v)
{
    return node_at(z, v)->labels == z->origin_labels + 1 && node_has_type(z, v, RD_T_NSEC3);
}

zimg *zimg_dnssec_index(zimg *z, size_t *size)
{
    uint32_t nn = z->node_count, count = 0;
    for (uint32_t v = 0; v < nn; v++)
        if (indexed(z, v)) count++;
    z->nsec3_off = 0;
    z->nsec3_count = 0;
    if (count == 0) return z;
    size_t off = (*size + 7) & ~(size_t)7;
    size_t total = off + (size_t)count * sizeof(nsec3_entry);
    if (total > 0xfffffff0u) { zimg_free(z); return NULL; }
    zimg *grown = zimg_resize(z, total);
    if (!grown) { zimg_free(z); return NULL; }
    z = grown;
    memset((uint8_t *)z + *size, 0, total - *size);
    nsec3_entry *ix = (nsec3_entry *)((uint8_t *)z + off);
    uint32_t k = 0;
    /* node order is canonical order, so the index comes out sorted by owner name */
    for (uint32_t v = 0; v < nn; v++) {
        if (!indexed(z, v)) continue;
        const uint8_t *nm = zimg_node_name(z, v);
        ix[k].key = label_key(nm + 1, nm[0]);
        ix[k].node = v;
        k++;
    }
    z->nsec3_off = (uint32_t)off;
    z->nsec3_count = count;
    z->size = (uint32_t)total;
    *size = total;
    return z;
}

int zimg_dnssec_check(const zimg *z, char *err, size_t errlen)
{
    if (zimg_neg_check(z, err, errlen) != 0) return -1;
    if (z->nsec3_count == 0) return 0;
    uint64_t end = (uint64_t)z->nsec3_off + (uint64_t)z->nsec3_count * sizeof(nsec3_entry);
    if (z->nsec3_off % 8 || z->nsec3_off < sizeof(struct zimg) || end > z->size) {
        if (errlen) snprintf(err, errlen, "NSEC3 index out of bounds");
        return -1;
    }
    const nsec3_entry *ix = nsec3_index(z);
    /* node ids in range (names are read through them); the keys' order is not checked:
       a forged order gives wrong proofs, never an out-of-bounds read */
    for (uint32_t i = 0; i < z->nsec3_count; i++) {
        if (ix[i].node >= z->node_count || (i > 0 && ix[i].node <= ix[i - 1].node) ||
            node_at(z, ix[i].node)->labels != z->origin_labels + 1) {
            if (errlen) snprintf(err, errlen, "NSEC3 index entry %u invalid", i);
            return -1;
        }
    }
    return 0;
}

/* ---- precomputed NXDOMAIN proofs (zneg, zimg_format.h) ---- */

#define NFAIL(...) do { if (errlen) snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* A piece at off lies whole inside the section and its pointers inside its body. */
int zimg_neg_piece_ok(const zimg *z, uint64_t off, uint64_t lo, uint64_t hi)
{
    if (off == RD_NONE) return 1;
    if (off % 4 || off < lo || off + sizeof(zneg_piece) > hi) return 0;
    const zneg_piece *p = (const zneg_piece *)((const uint8_t *)z + off);
    if (p->nptr == ZNEG_FROM_ZONE) {           /* written from the zone's records */
        const zneg_zone *zz = (const zneg_zone *)(p + 1);
        if (off + sizeof *p + sizeof *zz > hi ||
            off + sizeof *p + sizeof *zz + zz->below_len > hi)
            return 0;
        return p->len <= ZFAST_BLOB_MAX && zneg_zone_size(z, zz) == p->len;
    }
    uint64_t end = off + sizeof *p + (uint64_t)p->nptr * sizeof(zneg_ptr) + p->len;
    if (p->len > ZFAST_BLOB_MAX || end > hi) return 0;
    const zneg_ptr *ptr = (const zneg_ptr *)(p + 1);
    for (unsigned k = 0; k < p->nptr; k++)
        if ((uint32_t)(ptr[k].at & ~ZNEG_SELF) + 2u > p->len) return 0;
    return 1;
}

/* A directory inside the section whose entries rise from 0 to n: every bucket a range of
 * the array it indexes. */
static int neg_dir_ok(const zimg *z, uint64_t off, unsigned bits, uint32_t n, uint64_t lo,
                      uint64_t hi)
{
    if (bits > 20 || off % 4 || off < lo || off + 4 * ((1ull << bits) + 1) > hi) return 0;
    const uint32_t *d = (const uint32_t *)((const uint8_t *)z + off);
    if (d[0] != 0 || d[1ull << bits] != n) return 0;
    for (uint64_t b = 0; b < (1ull << bits); b++)
        if (d[b] > d[b + 1]) return 0;
    return 1;
}

/* Every offset the query path follows lies inside the section and every node id it reads
 * a name through is a node: a forged image can at worst give wrong answers, never a read
 * outside the image (the pointers written are the client's to check, as any answer's). */
int zimg_neg_check(const zimg *z, char *err, size_t errlen)
{
    if (z->neg_off == 0) {
        if (z->neg_len) NFAIL("bad NXDOMAIN proofs");
        return 0;
    }
    uint64_t lo = z->neg_off, hi = lo + z->neg_len;
    if (lo % 8 || lo < sizeof(struct zimg) || hi > z->size || lo + sizeof(zneg) > hi)
        NFAIL("bad NXDOMAIN proofs");
    const zneg *g = zneg_of(z);
    if ((g->kind != ZNEG_NSEC && g->kind != ZNEG_NSEC3) || g->prefix == RD_NONE ||
        !zimg_neg_piece_ok(z, g->prefix, lo, hi) || !zimg_neg_piece_ok(z, g->wild, lo, hi) ||
        !zimg_neg_piece_ok(z, g->before_first, lo, hi))
        NFAIL("bad NXDOMAIN proofs");
    uint64_t t = g->top_off;
    if (t % 8 || t < lo || t + (uint64_t)g->ntop * sizeof(zneg_top) > hi) NFAIL("bad NXDOMAIN top labels");
    const zneg_top *top = (const zneg_top *)((const uint8_t *)z + t);
    for (uint32_t i = 0; i < g->ntop; i++)
        if (top[i].node >= z->node_count || !zimg_neg_piece_ok(z, top[i].piece, lo, hi))
            NFAIL("bad NXDOMAIN top label %u", i);
    if (!neg_dir_ok(z, g->top_dir_off, g->top_dir_bits, g->ntop, lo, hi))
        NFAIL("bad NXDOMAIN top label directory");
    if (g->kind == ZNEG_NSEC3 && !neg_dir_ok(z, g->n3_dir_off, g->n3_dir_bits, g->n3_count, lo, hi))
        NFAIL("bad NXDOMAIN NSEC3 directory");
    if (g->kind == ZNEG_NSEC3) {
        uint64_t n = g->n3_off;
        if (g->n3_count != z->nsec3_count || n % 4 || n < lo || n + 4 * (uint64_t)g->n3_count > hi)
            NFAIL("bad NXDOMAIN NSEC3 ranges");
        const uint32_t *pc = (const uint32_t *)((const uint8_t *)z + n);
        for (uint32_t i = 0; i < g->n3_count; i++)
            if (!zimg_neg_piece_ok(z, pc[i], lo, hi)) NFAIL("bad NXDOMAIN NSEC3 range %u", i);
    }
    return 0;
}
