/* zimg.h — the compiled zone image: build API (control plane) and read API (engine).
 *
 * One zone = one contiguous, position-independent buffer (offsets, never pointers), so
 * it can be written to a file and mmap()ed back.  Immutable once built.  Read access is
 * lock-free and allocation-free.
 *
 * Names inside the image are lower-cased wire names (canonical form, RFC 4034 6.2)
 * except inside rdata, which keeps the case of the zone file.
 */
#ifndef RD_ZIMG_H
#define RD_ZIMG_H

#include "lib/rd_common.h"

typedef uint32_t znode_id;           /* index of a node; RD_NONE = no node */

/* Node flags (precomputed at build time). */
enum {
    ZN_APEX        = 1 << 0,   /* the zone apex */
    ZN_CUT         = 1 << 1,   /* has NS and is not the apex: a delegation point */
    ZN_BELOW_CUT   = 1 << 2,   /* strictly below a delegation point (glue / occluded) */
    ZN_DNAME       = 1 << 3,   /* has a DNAME rrset */
    ZN_BELOW_DNAME = 1 << 4,   /* strictly below a DNAME owner (occluded) */
    ZN_ENT         = 1 << 5,   /* empty non-terminal: exists, owns no rrsets */
    ZN_WILDCARD    = 1 << 6,   /* first label is "*" */
    ZN_HAS_WILD    = 1 << 7,   /* has a child "*.<this>" (see wild_child) */
    ZN_CNAME       = 1 << 8,   /* has a CNAME rrset */
};

/* One RRset, as the engine reads it.  Rdata of `count` records lies at
 * image+rdata_off as `count` x [u16 rdlen, big-endian][rdlen bytes], in a stable
 * (canonical, RFC 4034 6.3) order, duplicates removed (RFC 2181 5).  Not always in the
 * rdata section: a single RRSIG's bytes may be those a precomputed answer holds. */
typedef struct zrrset {
    uint16_t type;
    uint16_t covered;          /* for RRSIG rrsets: the type covered; else 0 */
    uint16_t count;
    uint16_t flags;            /* reserved */
    uint32_t ttl;              /* one TTL per rrset (RFC 2181 5.2); if the file's records
                                  differ, the last one's, as Knot does (with a warning) */
    uint32_t rdata_off;        /* offset from the image start */
    uint32_t rdata_len;        /* total bytes of the [len][data] sequence */
    uint32_t rrsig;            /* index (global zrrset index) of the RRSIG rrset covering
                                  this one, or RD_NONE */
    uint32_t addl_off;         /* offset of a u32 array of znode_ids whose A/AAAA go to the
                                  additional section (NS, MX, SRV targets in this zone's
                                  data, glue included), or RD_NONE */
    uint32_t addl_count;
} zrrset;

typedef struct zlookup {
    znode_id exact;            /* node whose name equals qname, or RD_NONE */
    znode_id encloser;         /* closest encloser (RFC 4592 3.3.1): deepest existing
                                  ancestor-or-self of qname; == exact when exact exists */
    znode_id cut;              /* topmost delegation point on the path apex..encloser
                                  (apex excluded, encloser/exact included), or RD_NONE */
    znode_id dname;            /* DNAME owner that is a proper ancestor of qname, or RD_NONE */
    znode_id wildcard;         /* "*.<encloser>" when exact is RD_NONE and it exists */
    int encloser_labels;       /* label count of encloser */
} zlookup;

typedef struct zimg zimg;      /* opaque: the header at the start of the buffer */

/* ---- build side (control plane; may allocate) ---- */

/* Compile the records of one zone (apex `origin`, wire form, any case).  Runs the
 * semantic checks (one SOA at the apex, NS at the apex, CNAME and other data, more than
 * one CNAME, data below DNAME, records outside the zone, missing glue, TTL differences
 * within an rrset) adding errors/warnings to `msgs` with the records' FILE:LINE.
 * On success returns an image (zimg_alloc, free with zimg_free) and its size; on any
 * error returns NULL (never a partial zone). */
zimg *zimg_build(const uint8_t *origin, const rd_rrlist *rrs, rd_msgs *msgs, size_t *size_out);
/* zimg_build that frees the records (rr and arena; the file names stay) as soon as the
 * image holds them, before the nodes are laid out: a lower peak.  The checks that run
 * later then report without a line, so this is for records that have none (a transfer). */
zimg *zimg_build_consume(const uint8_t *origin, rd_rrlist *rrs, rd_msgs *msgs, size_t *size_out);
/* Threads of a build's node sort and rrset fill: 0 (the default) two for a zone of
 * 65,536 records or more on two cores or more, 1 or 2 to choose; the image is the same. */
extern int zimg_build_threads;
void zimg_free(zimg *z);

/* RFC 9276: every NSEC3 proof costs the server (and each validator) iterations + 1
 * SHA-1 rounds per hashed name.  An NSEC3 or NSEC3PARAM record above `max_iterations`
 * is an error (one, at the first such record); otherwise a non-zero count is a warning
 * (section 3.1: zone publishers SHOULD use 0).  Returns the number of errors added. */
int zimg_check_nsec3_iterations(const rd_rrlist *rrs, unsigned max_iterations, rd_msgs *msgs);
#define ZIMG_NSEC3_ITERATIONS_DEFAULT 50   /* BIND 9.20's limit (DNS_NSEC3_MAXITERATIONS) */

/* Validate a buffer read back from a file (magic, version, bounds of every offset) and
 * return it as an image, or NULL with a reason in err.  The buffer is not copied. */
const zimg *zimg_from_buffer(const void *buf, size_t len, char *err, size_t errlen);
/* The header-only checks of zimg_from_buffer (magic, version, sizes, every section in
 * bounds), without the walk of every node: only for the bytes of an image this very
 * compiler built, which the builder's own checks vouch for -- a kept image (robdns.keep)
 * whose checksum over every byte and whose fingerprint (naming the compiler) both match
 * before it is used.  Anything else (a transfer, a file of unknown origin) goes through
 * zimg_from_buffer.  The buffer is not copied. */
const zimg *zimg_from_kept(const void *buf, size_t len, char *err, size_t errlen);
size_t zimg_size(const zimg *z);

/* ---- read side (engine; no allocation, no locks) ---- */

const uint8_t *zimg_origin(const zimg *z);      /* lower-case wire name */
int zimg_origin_labels(const zimg *z);
znode_id zimg_apex(const zimg *z);
uint32_t zimg_serial(const zimg *z);
uint32_t zimg_node_count(const zimg *z);
uint32_t zimg_record_count(const zimg *z);

/* Lookup of a lower-cased qname that is equal to or below the origin. */
void zimg_lookup(const zimg *z, const uint8_t *lname, int nlabels, zlookup *out);

const uint8_t *zimg_node_name(const zimg *z, znode_id n);  /* lower-case wire name */
uint32_t zimg_node_flags(const zimg *z, znode_id n);
int zimg_node_labels(const zimg *z, znode_id n);           /* label count (no root) */
/* All rrsets of a node (RRSIG rrsets included, one per covered type). */
const zrrset *zimg_node_rrsets(const zimg *z, znode_id n, unsigned *count);
/* The rrset of one type (not RRSIG), or NULL. */
const zrrset *zimg_find_rrset(const zimg *z, znode_id n, uint16_t type);
const zrrset *zimg_rrset_at(const zimg *z, uint32_t index);  /* by global index */
const uint8_t *zimg_base(const zimg *z);                      /* image start */
/* Find an exact node by lower-cased name, or RD_NONE. */
znode_id zimg_find_node(const zimg *z, const uint8_t *lname);

/* Precomputed answers (zimg_fast.c), for tests and tools: drop them from a writable
 * image (every query then takes the general path), or only those to DO=1 queries; how
 * many names have some; the answer stored for (lower-case name, qtype, DO): its body
 * length, or -1 when there is none. */
void zimg_fast_clear(zimg *z);
void zimg_fast_clear_do(zimg *z);
uint32_t zimg_fast_names(const zimg *z);
/* Bytes the DO=1 answers add to the image (their tables and the blobs they do not share
 * with plain answers; alignment padding left out). */
size_t zimg_fast_do_bytes(const zimg *z);
int zimg_fast_get(const zimg *z, const uint8_t *lname, uint16_t qtype, int do_bit,
                  uint16_t *counts, uint8_t *aa, uint8_t *rcode, const uint8_t **body);

/* Prefetch hints for answering a batch of queries (zimg_prefetch.c): each stage
 * touches only memory the previous stage brought into cache.  Hints only: any lname that
 * is a valid lower-case wire name is safe, the results never change a lookup. */
uint32_t zimg_prefetch_slot(const zimg *z, const uint8_t *lname);
void zimg_prefetch_node(const zimg *z, uint32_t hash);
void zimg_prefetch_data(const zimg *z, uint32_t hash);
void zimg_prefetch_rdata(const zimg *z, uint32_t hash);

#endif
