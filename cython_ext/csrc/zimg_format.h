/* zimg_format.h — private layout of a compiled zone image, shared by zimg.c (read side and
 * validation) and zimg_build.c (builder).  The engine sees only zimg.h.
 *
 * The image is one buffer:  header | nodes | rrsets | hash | addl | names | rdata
 * Every reference is an offset from the image start or an index into an array, so the
 * buffer can be written to a file and mmap()ed back at any address.  All integers are in
 * host byte order (an image is a cache of its zone file, not an interchange format);
 * the header records the byte order so that a foreign image is rejected, not misread.
 */
#ifndef RD_ZIMG_FORMAT_H
#define RD_ZIMG_FORMAT_H

#include "zimg.h"

#define ZIMG_MAGIC "RDZIMG\r\n"      /* 8 bytes; \r\n catches text-mode mangling */
#define ZIMG_VERSION 2u          /* 2: NSEC3 owner index */
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
    uint32_t rdata_off;        /* [u16 rdlen][rdata] sequences of the rrsets */
    uint32_t rdata_len;
    uint32_t nsec3_off;        /* nsec3_count entries (hash key, node id) of the NSEC3 owners in
                                  canonical (= hash) order; built and read by zimg_dnssec.c */
    uint32_t nsec3_count;
    uint32_t reserved[4];
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
