/* zimg_format.h — private layout of a compiled zone image, shared by zimg.c (read side and
 * validation) and zimg_build.c (builder).  The engine sees only zimg.h.
 *
 * The image is one buffer:  header | nodes | rrsets | hash | addl | names | rdata | nsec3 |
 * fast slots | fast records (the precomputed answers, see zfast_rec below) | NXDOMAIN
 * proofs (zneg) | wildcard answers (zwild)
 * Every reference is an offset from the image start or an index into an array, so the
 * buffer can be written to a file and mmap()ed back at any address.  All integers are in
 * host byte order (an image is a cache of its zone file, not an interchange format);
 * the header records the byte order so that a foreign image is rejected, not misread.
 */
#ifndef RD_ZIMG_FORMAT_H
#define RD_ZIMG_FORMAT_H

#include "zimg.h"
#include "lib/rd_wire.h"
#include <string.h>

#define ZIMG_MAGIC "RDZIMG\r\n"      /* 8 bytes; \r\n catches text-mode mangling */
#define ZIMG_VERSION 10u         /* 2: NSEC3 owner index; 3: precomputed answers; 4: answer
                                    records keep only the labels below the apex; 5: NXDOMAIN
                                    proofs (zneg); 6: DO NODATA heads shared (ZFAST_SPLIT);
                                    7: DO answers' RRSIGs/NSEC from the zone (ZFAST_REFS);
                                    8: wildcard answers (zwild); 9: their NSEC proofs
                                    (zwild_gaps); 10: zneg_zone holds its records' places */
#define ZIMG_ENDIAN_TAG 0x01020304u
#define ZIMG_MAX_LABELS 128

struct zimg {
    char magic[8];
    uint32_t version;
    uint32_t endian;           /* ZIMG_ENDIAN_TAG as written by the builder */
    uint32_t hdr_size;         /* sizeof(struct zimg) */
    uint32_t size;             /* total image bytes */
    uint32_t serial;           /* SOA serial (RFC 1035 3.3.13) */
    uint32_t node_count;
    uint32_t rrset_count;
    uint32_t record_count;     /* records after duplicate removal */
    uint32_t apex;             /* node id of the apex (0: canonical order starts there) */
    uint32_t origin_labels;
    uint32_t nodes_off;        /* znode[node_count] */
    uint32_t rrsets_off;       /* zrrset[rrset_count] */
    uint32_t hash_off;         /* uint32_t[hash_mask + 1]: node ids, RD_NONE = empty */
    uint32_t hash_mask;
    uint32_t addl_off;         /* uint32_t[addl_count]: node ids */
    uint32_t addl_count;
    uint32_t names_off;        /* lower-case wire names; nodes share suffixes */
    uint32_t names_len;
    uint32_t rdata_off;        /* [u16 rdlen][rdata] sequences of the rrsets (a signed
                                  image's RRSIG rrset may instead point at the same bytes
                                  inside a DO answer: zimg_share.c) */
    uint32_t rdata_len;
    uint32_t nsec3_off;        /* nsec3_count entries (hash key, node id) of the NSEC3 owners in
                                  canonical (= hash) order; built and read by zimg_dnssec.c */
    uint32_t nsec3_count;
    uint32_t fast_off;         /* zfast_slot[fast_mask + 1], or 0 (with fast_mask 0) */
    uint32_t fast_mask;
    uint32_t fast_recs_off;    /* zfast_rec records and their answer blobs */
    uint32_t fast_recs_len;
    uint32_t neg_off;          /* zneg: precomputed NXDOMAIN answers with proofs, or 0 */
    uint32_t neg_len;
    uint32_t wild_off;         /* zwild: answers synthesized from wildcards, or 0 */
    uint32_t wild_len;
};

/* One node: a name that exists in the zone (owns rrsets, or is an empty non-terminal).
 * Nodes are stored in canonical order (RFC 4034 6.1), so a parent precedes its
 * children and node 0 is the apex. */
typedef struct znode {
    uint32_t name_off;         /* image offset of the lower-case wire name */
    uint32_t hash;             /* zimg_name_hash of the name */
    uint32_t rrset_first;      /* global index of the first rrset */
    uint16_t rrset_count;
    uint8_t name_len;          /* wire length including the root byte (<= 255) */
    uint8_t labels;            /* label count without the root */
    uint32_t flags;            /* ZN_* */
    uint32_t parent;           /* RD_NONE for the apex */
    uint32_t cut;              /* topmost delegation point at or above (apex excluded) */
    uint32_t dname;            /* topmost DNAME owner that is a proper ancestor */
    uint32_t wild;             /* the node "*.<this name>", or RD_NONE */
} znode;

/* Precomputed answers (built by engine_fast.c, read and validated by zimg_fast.c).
 *
 * For a name that exists in the zone, the response to most queries depends only on the
 * name and the qtype: the sections after the question, with compression pointers to the
 * question name at offset 12 (whose length is the same whatever the client's case), are
 * then the same bytes for every client.  They are computed once at build time by the
 * general engine itself and stored beside the name, so that a query touches a hash slot
 * (with the name's hash: a collision costs no further miss), one record holding the name,
 * its qtype -> answer table and, right after, its own answers.
 *
 * A second open-addressing table over the same name hashes, kept apart from the node
 * table so that the general lookup is unchanged. */
typedef struct zfast_slot {
    uint32_t hash;             /* zfast_hash of the name */
    uint32_t rec;              /* image offset of its zfast_rec, RD_NONE = empty slot */
} zfast_slot;

/* A record, 4-byte aligned: this header, the lower-case wire name's labels below the apex
 * (`below` bytes: the rest of every name of the image is its origin, which the zone table
 * matched before the image is asked, so storing it in each record would only cost 100,000
 * tiny zones a quarter of their answer bytes), padding to 4, then
 * nent zfast_ent, then (ZFAST_DO_TABLE) nent + 1 uint32_t: the image offsets of the
 * answers to DO=1 queries (RFC 3225), entry by entry and the default last, RD_NONE =
 * general path; its own answer blobs usually follow.  A DO offset equal to the plain one
 * shares its bytes (an answer with no RRSIG to add). */
typedef struct zfast_rec {
    uint8_t name_len;          /* wire length of the whole name, root byte included */
    uint8_t nent;
    uint8_t flags;             /* ZFAST_DO_* (neither: DO=1 queries take the general path) */
    uint8_t below;             /* bytes stored: name_len less the origin's */
    uint32_t dflt;             /* image offset of the blob answering every qtype not
                                  listed, RD_NONE = general path */
} zfast_rec;
#define ZFAST_DO_SAME 1        /* DO=1 gets the plain answers (a zone with no DNSSEC records) */
#define ZFAST_DO_TABLE 2       /* the DO offsets follow the entries */

typedef struct zfast_ent {
    uint16_t qtype;
    uint16_t reserved;
    uint32_t blob;             /* image offset of a zfast_blob, RD_NONE = general path */
} zfast_ent;

/* An answer: the bytes after the question, 2-byte aligned. */
typedef struct zfast_blob {
    uint16_t len;              /* body bytes (at most ZFAST_BLOB_MAX) */
    uint8_t an, ns, ar;        /* section counts: a record takes 11 bytes or more, so a
                                  body of ZFAST_BLOB_MAX holds fewer than 256 */
    uint8_t flags;             /* ZFAST_AA | rcode << 4 */
    /* uint8_t body[len] */
} zfast_blob;
#define ZFAST_BLOB_HDR 6
#define ZFAST_BLOB_MAX 2048    /* bigger answers stay with the general path */
#define ZFAST_AA 1
/* A DO=1 NODATA whose body begins with the SOA and its RRSIG (RFC 4035 3.1.3.1) shares
 * those bytes with every such answer of a name of its length (the SOA's names point to
 * the question's apex, at the same place): len is the whole body, which is the head
 * blob's body followed by this blob's tail; the stored body is a uint32 distance back
 * to the head (an earlier blob of the same records area), then the tail.  Saves the
 * SOA and its signature (~150 bytes with P-256) in each signed name's NODATA. */
#define ZFAST_SPLIT 2

static inline const zfast_blob *zfast_split_head(const zfast_blob *b)
{
    uint32_t d;
    memcpy(&d, (const uint8_t *)b + ZFAST_BLOB_HDR, 4);
    return (const zfast_blob *)((const uint8_t *)b - d);
}

/* A DO=1 answer (authoritative: an answer or a NODATA, never a referral, whose bytes
 * put_referral moves as stored) whose RRSIGs, and a NODATA's NSEC, are written at query
 * time from the zone's own records instead of being held a second time (ZFAST_REFS):
 * its stored body (after a split's distance) is a row of segments, each a uint16 head,
 * unaligned, ZFAST_SEG_LAST set on the last one: without ZFAST_SEG_REF a literal of
 * (head & ZFAST_SEG_LEN) octets follows; with it a
 * zfast_zref follows and its records are written as rd_put_rrset writes them, each
 * owner a compression pointer to the head's low 14 bits (the question, offset 12: the
 * RRSIG owner of a positive answer is the question, RFC 4035 3.1.1, and a NODATA's NSEC
 * is the question's own, RFC 4035 3.1.3.1), class IN, the TTL given (an RRSIG gets its
 * covered rrset's, engine_dnssec.c), then rdlength and rdata as the zone holds them
 * (RRSIG and NSEC names are never compressed, RFC 4034 3.1.7 and 4.1.1).  The RRSIGs are
 * most of a signed zone's DO answers (a P-256 one ~110 octets, 14 here).  The build
 * keeps the form only when writing it gives the answer's own bytes. */
#define ZFAST_REFS 4
#define ZFAST_SEG_REF 0x8000u
#define ZFAST_SEG_LAST 0x4000u
#define ZFAST_SEG_LEN 0x3FFFu
typedef struct zfast_zref {
    uint32_t rdata_off;        /* the rrset's [u16 rdlen][rdata] sequence in the image */
    uint32_t ttl;
    uint16_t type, count;
} zfast_zref;
#define ZFAST_ZREF_SEG (2 + sizeof(zfast_zref))

/* The segments at s written at out until n octets are (a validated image: they add up
 * to exactly n); returns the octets written. */
static inline size_t zfast_put_segs(const zimg *z, uint8_t *out, const uint8_t *s, size_t n)
{
    size_t o = 0;
    while (o < n) {
        uint16_t h;
        memcpy(&h, s, 2);
        s += 2;
        if (!(h & ZFAST_SEG_REF)) {
            memcpy(out + o, s, h & ZFAST_SEG_LEN);
            s += h & ZFAST_SEG_LEN;
            o += h & ZFAST_SEG_LEN;
            continue;
        }
        zfast_zref f;
        memcpy(&f, s, sizeof f);
        s += sizeof f;
        const uint8_t *d = (const uint8_t *)z + f.rdata_off;
        for (unsigned i = 0; i < f.count; i++) {
            uint16_t rdlen = rd_get16(d);
            uint8_t *w = out + o;
            w[0] = (uint8_t)(0xC0 | (h >> 8 & 0x3F));
            w[1] = (uint8_t)h;
            rd_put16(w + 2, f.type);
            rd_put16(w + 4, RD_C_IN);
            rd_put32(w + 6, f.ttl);
            memcpy(w + 10, d, 2 + (size_t)rdlen);      /* rdlength, then rdata */
            o += 12 + (size_t)rdlen;
            d += 2 + (size_t)rdlen;
        }
    }
    return o;
}

/* The body of b (b->len octets) written at out. */
static inline void zfast_put_body(const zimg *z, uint8_t *out, const zfast_blob *b)
{
    const uint8_t *body = (const uint8_t *)b + ZFAST_BLOB_HDR;
    size_t n = b->len;
    if (b->flags & ZFAST_SPLIT) {
        const zfast_blob *h = zfast_split_head(b);
        memcpy(out, (const uint8_t *)h + ZFAST_BLOB_HDR, h->len);
        out += h->len;
        n -= h->len;
        body += 4;
    }
    if (b->flags & ZFAST_REFS) zfast_put_segs(z, out, body, n);
    else memcpy(out, body, n);
}

/* The batch pipeline's look ahead (engine_batch.c): the zone records of the first two
 * references of a ZFAST_REFS blob (an RRSIG, or a NODATA's NSEC and its RRSIG), asked
 * for a query ahead of the answer, which would otherwise wait for each in turn. */
static inline void zfast_prefetch_refs(const zimg *z, const zfast_blob *b)
{
    if (!(b->flags & ZFAST_REFS)) return;
    const uint8_t *s = (const uint8_t *)b + ZFAST_BLOB_HDR + (b->flags & ZFAST_SPLIT ? 4 : 0);
    for (int refs = 0; refs < 2;) {
        uint16_t h;
        memcpy(&h, s, 2);
        if (!(h & ZFAST_SEG_REF)) {
            if (h & ZFAST_SEG_LAST) return;
            s += 2 + (h & ZFAST_SEG_LEN);
            continue;
        }
        zfast_zref f;
        memcpy(&f, s + 2, sizeof f);
        s += ZFAST_ZREF_SEG;
        const uint8_t *d = (const uint8_t *)z + f.rdata_off;
        __builtin_prefetch(d);
        __builtin_prefetch(d + 96);   /* a P-256 RRSIG's rdata: ~100 octets */
        if (h & ZFAST_SEG_LAST) return;
        refs++;
    }
}

static inline size_t zfast_rec_head(uint8_t below)
{
    return (sizeof(zfast_rec) + (size_t)below + 3) & ~(size_t)3;
}

/* Hash of a whole lower-case wire name (len bytes, root included) for the answer table:
 * eight bytes per step, so a query pays a few multiplications, not one per byte (the
 * suffix hashes above are for the general lookup's walk up the tree). */
static inline uint32_t zfast_hash(const uint8_t *name, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, name + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    if (i < len) {
        uint64_t w = 0;
        for (size_t k = 0; i + k < len; k++) w |= (uint64_t)name[i + k] << (8 * k);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

/* Qtypes never precomputed, because the general path treats them apart from the rest
 * (engine_lookup.c): DS is answered from the parent zone (RFC 4035 3.1.4.1), NSEC and
 * RRSIG have rules of their own, ANY depends on the minimal_any option (RFC 8482),
 * AXFR/IXFR/0 are refused before any lookup. */
static inline int zfast_qtype_special(uint16_t t)
{
    return t == 0 || t == RD_T_DS || t == RD_T_NSEC || t == RD_T_RRSIG || t == RD_T_ANY ||
           t == RD_T_AXFR || t == RD_T_IXFR;
}

/* Answer blob for (lname, qtype) where lname (lower-case, len bytes, hash h) is the zone's
 * origin or a name below it (the zone table's match: only the labels below the origin are
 * compared), to a query with (do_bit 1) or without DO, or NULL: not precomputed. */
const zfast_blob *zimg_fast_answer(const zimg *z, const uint8_t *lname, size_t len, uint32_t h,
                                   uint16_t qtype, int do_bit);

/* The blob offset of entry k of record r (k == nent: the default) for DO or not. */
static inline uint32_t zfast_rec_blob(const zfast_rec *r, const zfast_ent *e, unsigned k,
                                      int do_bit)
{
    if (do_bit && !(r->flags & ZFAST_DO_SAME)) {
        if (!(r->flags & ZFAST_DO_TABLE)) return RD_NONE;
        return ((const uint32_t *)(e + r->nent))[k];
    }
    return k < r->nent ? e[k].blob : r->dflt;
}

/* The answer table's slots (z->fast_off != 0). */
static inline const zfast_slot *zfast_slots(const zimg *z)
{
    return (const zfast_slot *)((const uint8_t *)z + z->fast_off);
}

/* The record at offset off of image base, when its name is lname (len bytes, at or below
 * the image's origin: the record holds only the labels below it; *named set):
 * the offset of its answer blob for qtype with DO or not, RD_NONE when it has none.
 * *named is 0 (and the result RD_NONE) for a record of another name: a hash collision.
 * The one record-level lookup of zfast_table_lookup and of the batch pipeline's prefetch. */
static inline uint32_t zfast_rec_lookup(const uint8_t *base, uint32_t off, const uint8_t *lname,
                                        size_t len, uint16_t qtype, int do_bit, int *named)
{
    const zfast_rec *r = (const zfast_rec *)(base + off);
    *named = r->name_len == len && memcmp(base + off + sizeof *r, lname, r->below) == 0;
    if (!*named) return RD_NONE;
    const zfast_ent *e = (const zfast_ent *)(base + off + zfast_rec_head(r->below));
    unsigned k = 0;
    while (k < r->nent && e[k].qtype != qtype) k++;
    return zfast_rec_blob(r, e, k, do_bit);
}

/* The answer table `tab` (mask + 1 slots) of image base probed for lname (len bytes,
 * hash h): the blob offset zfast_rec_lookup gives for the record of that name (RD_NONE:
 * none for qtype), *named 1 when the table has the name, 0 when it has not.  Probing
 * bounded by the table size: a forged full table cannot loop forever.  The one probe of
 * zimg_fast_answer (the table's place from the image header) and of a single query's
 * guessed zone (its place from the zone-table slot, engine_fast.c). */
static inline uint32_t zfast_table_lookup(const uint8_t *base, const zfast_slot *tab, uint32_t mask,
                                          const uint8_t *lname, size_t len, uint32_t h,
                                          uint16_t qtype, int do_bit, int *named)
{
    uint32_t i = h & mask;
    for (uint32_t probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
        uint32_t off = tab[i].rec;
        if (off == RD_NONE) break;
        if (tab[i].hash != h) continue;
        uint32_t b = zfast_rec_lookup(base, off, lname, len, qtype, do_bit, named);
        if (*named) return b;
    }
    *named = 0;
    return RD_NONE;
}

/* Precomputed NXDOMAIN answers to DO=1 queries (RFC 4035 3.1.3.2, RFC 5155 7.2.2) for the
 * names whose closest encloser is the apex: random and mistyped names, nearly every
 * NXDOMAIN a zone gets.  For such a name the proof depends only on where its label just
 * below the apex (the "top label") falls among the zone's top labels (NSEC: the gap; the
 * wildcard *.<apex> and the apex NSEC3 are the same for every name), or, with NSEC3, on
 * the range the hash of that one name falls in (the next closer name; the apex is the
 * closest encloser).  An answer is then three stored pieces in a row: the prefix (SOA
 * and its RRSIG, RFC 2308 3; with NSEC3 the apex's matching NSEC3), the gap's cover and
 * the wildcard's cover, each with its RRSIG; a piece whose proof record an earlier piece
 * holds is left out (sent once, as the general path does).
 *
 * No name of the zone shares more than the apex with such a question (its top label does
 * not exist), so every name of the pieces compresses against the same places whatever
 * the question: a pointer into the question or the prefix moves with the question's
 * length, one into its own piece with the piece's place; each piece lists its pointers
 * and they are rewritten per query.  Built by precompute.c, validated by zimg_dnssec.c,
 * served by engine_fast.c. */
enum { ZNEG_NSEC = 1, ZNEG_NSEC3 = 2 };
#define ZNEG_LABEL_MAX 63

typedef struct zneg {
    uint32_t kind;             /* ZNEG_NSEC or ZNEG_NSEC3 */
    uint32_t ntop;             /* zneg_top entries, in canonical order of their labels */
    uint32_t top_off;          /* image offset of zneg_top[ntop] */
    uint32_t before_first;     /* NSEC: gap piece of the labels before the first top label */
    uint32_t prefix;           /* piece offsets (RD_NONE: none) */
    uint32_t wild;
    uint32_t n3_off;           /* NSEC3: uint32_t[n3_count] gap pieces by NSEC3 index place */
    uint32_t n3_count;         /* = nsec3_count */
    uint16_t iterations;       /* NSEC3 hash parameters (RFC 5155 5) */
    uint8_t salt_len;
    uint8_t regs;              /* compression entries the pieces add at most (RD_COMP_MAX) */
    uint8_t salt[256];
    uint8_t avoid[2][ZNEG_LABEL_MAX + 1];   /* top labels of MNAME and RNAME (length first,
                                  0: none): a question under one shares more with the SOA */
    /* Directories of the two searches: uint32_t[(1 << bits) + 1], entry b the first index
     * whose key's top bits are b or more, so a search runs over one bucket (a few
     * entries) instead of the whole array (17 dependent loads on a 100k-name zone). */
    uint32_t top_dir_off;      /* over the top labels' keys */
    uint32_t n3_dir_off;       /* NSEC3: over the NSEC3 index (the hashes' top bits) */
    uint8_t top_dir_bits, n3_dir_bits;
    /* NSEC3: 1 when every top node has a record in the answer table but the NSEC3 owners,
     * all of whose labels are ZNEG_N3_LABEL octets long: a query whose top label has no
     * record and another length is then not of the zone, and fast_nxdomain needs no
     * search over the top labels to know it (0, an image without the flag: it searches) */
    uint8_t tops_named;
    uint8_t pad_[5];
} zneg;
#define ZNEG_N3_LABEL 32       /* a SHA-1 hash in base32hex (RFC 5155 3.3) */

typedef struct zneg_top {
    uint64_t key;              /* the label's first 8 octets, big-endian, zero padded */
    uint32_t node;             /* the top node (its name breaks ties of keys) */
    uint32_t piece;            /* NSEC: gap piece of the labels after it; RD_NONE: general path */
} zneg_top;

typedef struct zneg_piece {
    uint32_t node;             /* the proof node, RD_NONE for the prefix */
    uint16_t len;              /* body octets */
    uint8_t nrr;               /* records (authority section) */
    uint8_t nptr;              /* compression pointers in the body */
    /* zneg_ptr ptr[nptr]; uint8_t body[len] */
} zneg_piece;

typedef struct zneg_ptr {
    uint16_t at;               /* body offset of the pointer; ZNEG_SELF: into this piece */
    int16_t to;                /* target from the piece's start (ZNEG_SELF), else from the
                                  end of the question name */
} zneg_ptr;
#define ZNEG_SELF 0x8000u

/* A piece written from the zone's own records (nptr == ZNEG_FROM_ZONE): the proof node's
 * NSEC or NSEC3 rrset and its RRSIG, the first owner its labels below the apex and a
 * pointer to the question's apex, the others pointers to it (as rd_put_rrset writes
 * them).  The build keeps it only when it writes the bytes of the stored piece; it saves
 * holding those bytes a second time (an NSEC3 range each: 16 MB of a 100k-name zone).
 * The piece holds copies of the two rrsets' type, TTL, counts and record places, so
 * that the answer (and the batch pipeline's prefetch) go from the piece straight to the
 * records: reading the rrsets first was one more dependent miss per NSEC3 NXDOMAIN
 * (image version 10; the load check, zneg_zone_size, holds the copies to the rrsets). */
#define ZNEG_FROM_ZONE 255
typedef struct zneg_zone {
    uint32_t rrset, sig;       /* global rrset indexes (sig RD_NONE: unsigned) */
    uint32_t rdata[2];         /* their rdata_off (the sig's 0 when unsigned) */
    uint32_t ttl;              /* the rrset's, the RRSIG's too (engine_dnssec.c) */
    uint16_t count[2];         /* their records (the sig's 0 when unsigned) */
    uint16_t type;             /* the rrset's: NSEC or NSEC3 */
    int16_t to_origin;         /* the apex's place from the end of the question name */
    uint8_t below_len;         /* the owner's labels below the apex, which follow */
    uint8_t pad_[3];
} zneg_zone;

/* The piece's header for rrset index `rrset` of z (its RRSIG's copied too). */
static inline zneg_zone zneg_zone_of(const zimg *z, uint32_t rrset, int16_t to_origin,
                                     uint8_t below_len)
{
    const zrrset *sets = (const zrrset *)((const uint8_t *)z + z->rrsets_off);
    const zrrset *x = &sets[rrset];
    zneg_zone zz = { rrset, x->rrsig, { x->rdata_off, 0 }, x->ttl, { x->count, 0 }, x->type,
                     to_origin, below_len, { 0, 0, 0 } };
    if (x->rrsig != RD_NONE) {
        zz.rdata[1] = sets[x->rrsig].rdata_off;
        zz.count[1] = sets[x->rrsig].count;
    }
    return zz;
}

/* A piece written from the zone's records (ZNEG_FROM_ZONE, in cache): the records
 * zneg_put_zone will copy asked for, from the places the piece holds — an NSEC3 ~40
 * octets or an NSEC, and a P-256 RRSIG ~100: two and three lines from an unaligned start.
 * Any other piece: nothing. */
static inline void zneg_prefetch_records(const zimg *z, const zneg_piece *p)
{
    if (!p || p->nptr != ZNEG_FROM_ZONE) return;
    const zneg_zone *zz = (const zneg_zone *)(p + 1);
    const uint8_t *base = (const uint8_t *)z;
    __builtin_prefetch(base + zz->rdata[0]);
    __builtin_prefetch(base + zz->rdata[0] + 64);
    if (zz->count[1]) {
        const uint8_t *d = base + zz->rdata[1];
        __builtin_prefetch(d);
        __builtin_prefetch(d + 64);
        __builtin_prefetch(d + 127);
    }
}

/* The octets zneg_put_zone writes for zz, its records checked to lie inside the image
 * and its copies to be its rrsets' (untrusted images, zimg_dnssec.c); (size_t)-1 when
 * they do not. */
static inline size_t zneg_zone_size(const zimg *z, const zneg_zone *zz)
{
    size_t n = zz->below_len;
    if (zz->rrset >= z->rrset_count) return (size_t)-1;
    const zrrset *sets = (const zrrset *)((const uint8_t *)z + z->rrsets_off);
    if (zz->ttl != sets[zz->rrset].ttl || zz->type != sets[zz->rrset].type ||
        zz->rrset == zz->sig)
        return (size_t)-1;
    for (int s = 0; s < 2; s++) {
        uint32_t idx = s ? zz->sig : zz->rrset;
        if (idx == RD_NONE) {
            if (zz->rdata[s] != 0 || zz->count[s] != 0) return (size_t)-1;
            break;
        }
        if (idx >= z->rrset_count) return (size_t)-1;
        const zrrset *x = &sets[idx];
        if (zz->rdata[s] != x->rdata_off || zz->count[s] != x->count ||
            (s && x->type != RD_T_RRSIG))
            return (size_t)-1;
        uint64_t d = x->rdata_off, end = d + x->rdata_len;
        if (end > z->size) return (size_t)-1;
        for (unsigned i = 0; i < x->count; i++) {
            if (d + 2 > end) return (size_t)-1;
            uint16_t rdlen = rd_get16((const uint8_t *)z + d);
            if (d + 2 + rdlen > end) return (size_t)-1;
            n += 12 + (size_t)rdlen;
            d += 2 + (uint64_t)rdlen;
        }
    }
    return n;
}

static inline size_t zneg_put_zone(const zimg *z, uint8_t *r, size_t at, size_t qname_end,
                                   const zneg_piece *p)
{
    const zneg_zone *zz = (const zneg_zone *)(p + 1);
    size_t o = at, apex = (size_t)((long)qname_end + zz->to_origin);
    size_t first = zz->below_len ? at : apex;  /* an owner that is a pointer: its target */
    for (int s = 0; s < 2; s++) {
        const uint8_t *d = (const uint8_t *)z + zz->rdata[s];
        uint16_t type = s ? RD_T_RRSIG : zz->type;
        for (unsigned i = 0; i < zz->count[s]; i++) {
            uint16_t rdlen = rd_get16(d);
            size_t t = first;              /* a later record: the first owner */
            if (o == at) {
                memcpy(r + o, zz + 1, zz->below_len);
                o += zz->below_len;
                t = apex;
            }
            r[o] = (uint8_t)(0xC0 | (t >> 8 & 0x3F));
            r[o + 1] = (uint8_t)t;
            rd_put16(r + o + 2, type);
            rd_put16(r + o + 4, RD_C_IN);
            rd_put32(r + o + 6, zz->ttl);
            rd_put16(r + o + 10, rdlen);
            memcpy(r + o + 12, d + 2, rdlen);
            o += 12 + (size_t)rdlen;
            d += 2 + (size_t)rdlen;
        }
    }
    return o - at;
}

static inline const zneg *zneg_of(const zimg *z)
{
    return z->neg_off ? (const zneg *)((const uint8_t *)z + z->neg_off) : NULL;
}

/* Key of a top label: compares like the labels themselves (RFC 4034 6.1: octets, the
 * shorter first) except when equal, where the whole labels decide. */
static inline uint64_t zneg_key(const uint8_t *label, size_t len)
{
    uint64_t k = 0;
    for (size_t i = 0; i < 8; i++) k = k << 8 | (i < len ? label[i] : 0);
    return k;
}

/* The piece p written at response offset `at`, its pointers rewritten for a question
 * name ending at qname_end (12 + its length); returns the octets written.  The one
 * writer of the pieces: the query path and the build's check both use it. */
static inline size_t zneg_put(uint8_t *r, size_t at, size_t qname_end, const zneg_piece *p)
{
    const zneg_ptr *ptr = (const zneg_ptr *)(p + 1);
    uint8_t *o = r + at;
    memcpy(o, (const uint8_t *)(ptr + p->nptr), p->len);
    for (unsigned k = 0; k < p->nptr; k++) {
        size_t t = (ptr[k].at & ZNEG_SELF) ? at + (size_t)ptr[k].to
                                           : (size_t)((long)qname_end + ptr[k].to);
        uint8_t *w = o + (ptr[k].at & ~ZNEG_SELF);
        w[0] = (uint8_t)(0xC0 | (t >> 8 & 0x3F));
        w[1] = (uint8_t)t;
    }
    return p->len;
}

/* Either kind of piece at `at`; returns the octets written. */
static inline size_t zneg_put_any(const zimg *z, uint8_t *r, size_t at, size_t qname_end,
                                  const zneg_piece *p)
{
    return p->nptr == ZNEG_FROM_ZONE ? zneg_put_zone(z, r, at, qname_end, p)
                                     : zneg_put(r, at, qname_end, p);
}

/* A piece whose pointers go into itself or into the question only (never into what the
 * NXDOMAIN prefix put after it): one that reads the same after any other records. */
static inline int zneg_piece_question_only(const zneg_piece *p)
{
    if (p->nptr == ZNEG_FROM_ZONE) return 1;
    const zneg_ptr *ptr = (const zneg_ptr *)(p + 1);
    for (unsigned k = 0; k < p->nptr; k++)
        if (!(ptr[k].at & ZNEG_SELF) && ptr[k].to >= 0) return 0;
    return 1;
}

/* Answers synthesized from a wildcard (RFC 4592 3.3.3), for a question whose closest
 * encloser P (below the apex) has the child *.P and whose next label below P is no name
 * of the zone.  Such a response is the one the question *.P gets, owners pointing at the
 * question (offset 12, whatever its length), followed with DO by its proof:
 *  - an answer: *.P's own stored answer (its record's blob for the qtype), then the NSEC3
 *    covering the next closer name (RFC 5155 7.2.6);
 *  - NODATA with DO (RFC 5155 7.2.5): the SOA and its RRSIG (RFC 2308 3), the NSEC3
 *    matching P, the one covering the next closer name (unless it is one of the other
 *    two: sent once, engine_dnssec.c proof_add), the one matching *.P.
 * The NSEC3 pieces are the NXDOMAIN proofs' (zneg: one per NSEC3 range, written from the
 * zone's records), found by the place of the next closer name's hash; their names point
 * into the question's apex only (zneg_piece_question_only), so they read the same after
 * any answer.  The build (precompute_wild.c) keeps each answer only when the response the
 * query path writes for a probe name under P is byte for byte the general path's, and
 * when that answer's bytes cannot depend on the question's length (a probe longer than
 * *.P); what stays is then the same for every name under P but for the compression
 * table's fill (RD_COMP_MAX, checked per query).  Served by engine_fast_wild.c, validated
 * by zimg_wild.c.
 *
 * In an NSEC zone the proof is the NSEC covering the question (RFC 4035 3.1.3.3; a NODATA
 * adds, after the SOA, *.P's own NSEC showing the type absent, 3.1.3.4).  The question's
 * canonical predecessor (RFC 4034 6.1) is the last name of the subtree of the child of P
 * its next label follows, or P itself before the first child: one cover per gap between
 * P's children.  The entry's zwild_gaps lists the children in canonical order with the
 * piece of the gap after each (zneg_top, as the NXDOMAIN proofs' top labels), pieces of
 * this section written from the zone's records, the owner's labels below the suffix it
 * shares with P and a pointer to that suffix in the question (the same place from the
 * question's end for every name under P).  Each gap is checked at build time with a name
 * inside it for every answer it serves. */
typedef struct zwild {
    uint32_t mask;             /* zwild_slot[mask + 1] at tab_off, keyed by P's record */
    uint32_t tab_off;
    uint32_t soa;              /* image offset of the DO NODATA's SOA piece (a zneg_piece
                                  in this section), RD_NONE: none */
    uint32_t count;            /* entries */
} zwild;

typedef struct zwild_slot {
    uint32_t rec;              /* image offset of P's zfast_rec, RD_NONE: empty slot */
    uint32_t ent;              /* image offset of its zwild_ent */
} zwild_slot;

typedef struct zwild_ent {
    uint32_t p_piece, w_piece; /* NSEC3 pieces (zneg section) matching P and *.P */
    uint8_t ntype;             /* zwild_type entries that follow: *.P's types */
    uint8_t nodata_regs;       /* compression entries a DO NODATA adds; 0: not served */
    uint8_t w_len;             /* wire length of *.P */
    uint8_t pad_;
    uint32_t gaps;             /* NSEC: image offset of P's zwild_gaps, RD_NONE: none */
} zwild_ent;

/* NSEC: P's children and the covers of the gaps between them; zneg_top child[n] follow
 * (8-aligned), their pieces those of the labels after each. */
typedef struct zwild_gaps {
    uint32_t n;
    uint32_t before_first;     /* gap piece of the labels before the first child */
    uint32_t wild;             /* *.P's own NSEC piece (a NODATA's second proof) */
    uint8_t regs;              /* compression entries a gap piece adds at most */
    uint8_t pad_[3];
} zwild_gaps;

#define ZWILD_PLAIN 1          /* the answer without DO is served */
#define ZWILD_DO 2             /* with DO (and its proof) */
typedef struct zwild_type {
    uint16_t qtype;
    uint8_t regs;              /* compression entries the answer section adds */
    uint8_t flags;             /* ZWILD_*; 0: the general path's */
    uint32_t blob[2];          /* *.P's answer blob without DO and with DO */
} zwild_type;

static inline const zwild *zwild_of(const zimg *z)
{
    return z->wild_off ? (const zwild *)((const uint8_t *)z + z->wild_off) : NULL;
}

/* The entry of t[0, n) (rising, zneg_key and then the whole label) that the label
 * (lower case, len octets) follows: the last one sorting before it (RFC 4034 6.1), -1
 * before the first, -2 when one is the label. */
static inline long zneg_top_search(const zimg *z, const zneg_top *t, uint32_t lo, uint32_t hi,
                                   const uint8_t *lab, size_t len)
{
    uint64_t key = zneg_key(lab, len);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c;
        if (t[mid].key != key) {
            c = t[mid].key < key ? -1 : 1;
        } else {
            const uint8_t *nm = zimg_node_name(z, t[mid].node);
            size_t m = nm[0] < len ? nm[0] : len;
            c = memcmp(nm + 1, lab, m);
            if (!c) c = nm[0] < len ? -1 : nm[0] > len;
            if (!c) return -2;
        }
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return (long)lo - 1;
}

/* The slot a record offset starts its probe at. */
static inline uint32_t zwild_home(uint32_t rec, uint32_t mask)
{
    return (uint32_t)(((uint64_t)rec * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* A signed image's RRSIG rrsets held once (zimg_share.c), run by the precompute pass once
 * its answers are placed: zimg_share_plan finds each single-record RRSIG rrset whose
 * [rdlength][rdata] a DO answer of its node stores as it is (node_rec[v]: the record of
 * node v, or RD_NONE) and the ZFAST_REFS blobs; NULL without memory.  zimg_share_apply
 * (z->fast_off, fast_mask and fast_recs_off set, the table filled, the answers ending at
 * `end`, nothing after them yet) points those rrsets at the answers' bytes, closes the
 * rdata section up and moves everything after it down; returns by how much (a multiple
 * of 8; 0: nothing moved), the header's offsets and every offset inside the moved
 * sections updated; z->size is the caller's. */
typedef struct zshare_move {
    uint32_t rrset;            /* global rrset index */
    uint32_t from, to;         /* its rdata's offset before; the equal bytes in a blob */
    uint32_t len;
} zshare_move;
typedef struct zshare zshare;
zshare *zimg_share_plan(const zimg *z, const uint32_t *node_rec);
uint32_t zimg_share_count(const zshare *p);
size_t zimg_share_apply(zimg *z, const zshare *p, size_t end);
void zimg_share_free(zshare *p);

/* The memory of a built image (zimg_build_alloc.c; freed with zimg_free): n bytes, a big
 * image in its own mapping.  zimg_resize keeps the bytes and moves the pages, not them
 * (NULL: no memory, z unchanged); zimg_room: the bytes usable without a resize (0 for a
 * small image in malloc, which zimg_resize reallocs). */
zimg *zimg_alloc(size_t n);
zimg *zimg_resize(zimg *z, size_t n);
size_t zimg_room(const zimg *z);
int zimg_map_size(size_t n);         /* 1: an image of n bytes gets its own mapping */


/* Validation of the fast section of an untrusted image; 0 when sound. */
int zimg_fast_check(const zimg *z, char *err, size_t errlen);
/* One blob at image offset b as zimg_fast_check checks those of a record (inside the
 * records area, its split head and zone references sound; do_answer: a DO one, whose
 * references' owners must point into a question of name_len octets); 1 when sound. */
int zimg_fast_blob_ok(const zimg *z, uint64_t b, int do_answer, unsigned name_len);
/* Validation of the wildcard section (zimg_wild.c); 0 when sound. */
int zimg_wild_check(const zimg *z, char *err, size_t errlen);

/* Name hash: FNV-1a over the labels taken from the root towards the leaf (length byte
 * then lower-case octets), so the hashes of all suffixes of a name come out of one
 * right-to-left pass; a final avalanche step spreads them over the table. */
#define ZH_SEED 2166136261u
static inline uint32_t zh_label(uint32_t h, const uint8_t *label)
{
    uint8_t len = label[0];
    h = (h ^ len) * 16777619u;
    for (uint8_t i = 1; i <= len; i++) h = (h ^ label[i]) * 16777619u;
    return h;
}
static inline uint32_t zh_final(uint32_t h)
{
    h ^= h >> 16; h *= 0x85ebca6bu;
    h ^= h >> 13; h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* Label start pointers of a wire name (at most ZIMG_MAX_LABELS); returns the count. */
static inline int zimg_labels_of(const uint8_t *name, const uint8_t **lab)
{
    int n = 0;
    for (const uint8_t *p = name; *p && n < ZIMG_MAX_LABELS; p += *p + 1) lab[n++] = p;
    return n;
}

/* Hash of the suffix starting at every label (hs[i] for lab[i]..root), finalized. */
static inline void zimg_suffix_hashes(const uint8_t **lab, int n, uint32_t *hs)
{
    uint32_t h = ZH_SEED;
    for (int i = n - 1; i >= 0; i--) {
        h = zh_label(h, lab[i]);
        hs[i] = zh_final(h);
    }
}

/* Labels and suffix hashes of a name, with the root suffix as entry n (arrays of
 * ZIMG_MAX_LABELS + 1).  Returns n, the label count. */
static inline int zimg_name_index(const uint8_t *name, const uint8_t **lab, uint32_t *hs)
{
    int n = zimg_labels_of(name, lab);
    lab[n] = n ? lab[n - 1] + lab[n - 1][0] + 1 : name;
    hs[n] = zh_final(ZH_SEED);
    zimg_suffix_hashes(lab, n, hs);
    return n;
}

static inline uint32_t zimg_name_hash(const uint8_t *name)
{
    const uint8_t *lab[ZIMG_MAX_LABELS];
    uint32_t hs[ZIMG_MAX_LABELS];
    int n = zimg_labels_of(name, lab);
    if (n == 0) return zh_final(ZH_SEED);
    zimg_suffix_hashes(lab, n, hs);
    return hs[0];
}

/* Check that the names inside an rdata of a type whose rdata holds uncompressed domain
 * names (RFC 1035 3.3, RFC 2782, RFC 6672, RFC 4034 3.1) are well formed and lie
 * within rdlen.  Used by the builder (bad input) and by validation (corrupt images),
 * because the engine copies and compresses these names.  Returns 0 when fine. */
int zimg_rdata_check(uint16_t type, const uint8_t *rd, size_t rdlen);

/* Offset of the target name in NS/MX/SRV/SVCB/HTTPS/CNAME/DNAME/PTR rdata, or -1. */
static inline int zimg_target_offset(uint16_t type)
{
    switch (type) {
    case RD_T_NS: case RD_T_CNAME: case RD_T_DNAME: case RD_T_PTR: return 0;
    case RD_T_MX: case RD_T_SVCB: case RD_T_HTTPS: return 2;
    case RD_T_SRV: return 6;
    default: return -1;
    }
}

#endif
