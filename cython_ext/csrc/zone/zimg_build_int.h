/* zimg_build_int.h — the zone image builder's working state, shared by its stages
 * (zimg_build.c) and its semantic checks and diagnostics (zimg_check.c). */
#ifndef RD_ZIMG_BUILD_INT_H
#define RD_ZIMG_BUILD_INT_H

#include "zimg_format.h"

#define T_KEY 25   /* RFC 2535 KEY: may sit beside a CNAME (RFC 2181 10.1.1, RFC 4035 2.5) */

/* A node while the owners are indexed (build ids, in insertion order). */
typedef struct bnode {
    uint32_t name;             /* offset in builder.names (lower-case wire) */
    uint32_t hash;
    uint32_t parent;           /* build id; RD_NONE for the apex */
    uint8_t name_len;
    uint8_t labels;
} bnode;

/* An rrset before layout: a range of the sorted record order. */
typedef struct brrset {
    uint32_t first, end;       /* range in builder.ord (duplicates marked in builder.dup) */
    uint32_t min_rec;          /* first record in file order (for messages) */
} brrset;

enum { ADDL_MARKS = 32 };
typedef struct builder {
    const rd_rrlist *l;
    rd_rrlist *consume;                /* zimg_build_consume: l, whose records go once copied */
    rd_msgs *msgs;
    size_t errors;                     /* errors this build reported */
    uint8_t origin[RD_NAME_MAX + 1];   /* lower-case */
    size_t olen;
    int ol;
    /* 1. owner index */
    bnode *nodes;
    uint32_t nn, ncap;
    uint32_t *tab;                     /* open addressing over build ids */
    uint32_t tmask;
    uint8_t *names;
    size_t names_len, names_cap;
    uint32_t *rec_node;                /* record -> build id, RD_NONE if dropped */
    size_t rec_cap;                    /* rec_node's room */
    size_t indexed;                    /* records [0, indexed) are indexed */
    int ahead;                         /* an index built ahead (zimg_index_new) */
    int gave_up;                       /* ... that met a record to report, or is used up */
    int tab_mapped;                    /* tab came from such an index (tab_free) */
    uint32_t *seq;                     /* ... its nodes as they came, ancestors first: the
                                          canonical order while the names come in it */
    uint32_t seq_n, seq_cap;           /* (seq NULL: a name came out of order) */
    uint32_t apex;                     /* build id of the apex */
    /* 2. canonical order */
    uint32_t *order;                   /* final id -> build id */
    uint32_t *perm;                    /* build id -> final id */
    /* 3. records sorted and cut into rrsets */
    uint32_t *ord;                     /* record indexes by (node, type, covered, rdata) */
    uint32_t *nstart;                  /* per final node: first record, then first rrset */
    uint8_t *dup;                      /* per record: 1 = duplicate of the one before */
    brrset *brs;
    size_t nrs, brs_cap;
    uint64_t rdata_total, records;
    size_t addl_max;
    int threads;                       /* 2: the sort and the rrset fill on two threads */
    size_t split_rs;                   /* the rrset where the fill's second half starts */
    uint64_t split_rdata;              /* rdata octets before it */
    /* link_targets' parts: the rrset at each 32nd of the records, addl_max before it
       (0 past mark 0: not reached) */
    uint32_t mark_rs[ADDL_MARKS], mark_addl[ADDL_MARKS];
    uint64_t (*ck)[2];                 /* (rdata_total, addl_max) before every CK_EVERY-th
                                          rrset: where the marks fall is found afterwards */
    size_t ck_n, ck_cap;
    /* 3 made ahead, with the index: a primary walking its tree sends each name's records
       together and the names in canonical order, so a name's rrsets can be cut as soon
       as the next name comes (ord, dup, nstart by canonical position, brs) */
    int grp;                           /* on while the records come so (else given up) */
    int grouped;                       /* the build: stage 3 was taken from the index */
    uint32_t grp_node, grp_pos;        /* the name whose records are coming: build id,
                                          canonical position */
    size_t grp_s;                      /* ... its first record */
    size_t ord_cap;                    /* room of ord and dup */
    uint32_t nstart_cap;
    /* 4. the image */
    zimg *z;
    uint8_t *base;
    znode *fn;
    zrrset *rs;
    size_t o_names, o_rdata, o_addl, total;
    uint32_t hsize;
} builder;

static inline const uint8_t *rr_owner(const builder *b, const rd_rr *rr) { return b->l->arena + rr->owner; }
static inline const uint8_t *rr_rdata(const builder *b, const rd_rr *rr) { return b->l->arena + rr->rdata; }

/* Record i of the list, or NULL once zimg_build_consume gave the records back (messages
 * then name the zone's main file without a line: a transfer has no lines anyway). */
static inline const rd_rr *zb_rec(const builder *b, uint32_t i)
{
    return b->l->rr && i != RD_NONE ? &b->l->rr[i] : NULL;
}

/* The owner index (stage 1) built ahead, record by record, while the records are still
 * coming (a transfer: zone/xfrin.c), so that the build starts at stage 2.  It stays
 * exactly what the build's own stage 1 makes, or gives up: a record the build would
 * report (malformed, out of zone...) stops it, and the build indexes every record
 * itself, with its messages.  `l` must be the list the build gets, appended to only. */
typedef struct builder zimg_index;
zimg_index *zimg_index_new(const uint8_t *origin, const rd_rrlist *l);
/* Index up to `max` of the records added to l since the last call: 1 when some are
 * left, 0 when none, -1 once it gave up. */
int zimg_index_more(zimg_index *ix, size_t max);
void zimg_index_free(zimg_index *ix);
/* Whether it still cuts the records into rrsets as they come (stage 3 ahead: each
 * name's records together, the names in canonical order); for tests. */
int zimg_index_grouping(const zimg_index *ix);
/* zimg_build_consume starting from `ix` when it holds every record of l (else as
 * zimg_build_consume); the image is byte for byte zimg_build_consume's. */
zimg *zimg_build_consume_indexed(const uint8_t *origin, rd_rrlist *l, rd_msgs *msgs,
                                 size_t *size_out, zimg_index *ix);

/* Report at a record's FILE:LINE (rr NULL: the zone's main file, no line). */
void zb_msg(builder *b, int sev, const rd_rr *rr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *zb_type_text(uint16_t type, char *buf, size_t n);
/* The second record in file order of a built rrset (for "more than one" messages). */
uint32_t zb_second_record(const builder *b, const brrset *g);

/* RFC 4034 6.3 order of two rdatas of one type (the order of an rrset's records in an
 * image); zdiff.c merges rrsets with it. */
int zimg_rdata_cmp(uint16_t type, const uint8_t *a, size_t al, const uint8_t *b, size_t bl);

/* Semantic checks on the laid-out nodes and rrsets (zimg_check.c). */
void zb_check_apex(builder *b);
void zb_check_nodes(builder *b);

#endif
