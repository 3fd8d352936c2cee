/* xfrin.h — a received zone transfer: AXFR and IXFR response messages (RFC 5936, RFC 1995) read into record lists, and an IXFR applied to the current image.
 *
 * The control plane reads the messages off TCP (and verifies their TSIG); this layer does
 * the bulk work: it walks every message with bounds (names decompressed as RFC 1035 4.1.4
 * allows, pointers only backwards), checks the transfer's shape (SOA first and last, the
 * closing SOA equal to the opening one, every record inside the zone) and keeps the
 * records, so that the next image is built with zimg_build without zone-file text.
 */
#ifndef RD_XFRIN_H
#define RD_XFRIN_H

#include "lib/rd_common.h"
#include "zone/zimg.h"

enum { RD_T_TSIG_XFR = 250 };

/* What the transfer turned out to be. */
enum {
    RD_XFRIN_PENDING = 0,   /* more messages needed */
    RD_XFRIN_AXFR,          /* a whole zone (AXFR, or an IXFR answered AXFR-style) */
    RD_XFRIN_IXFR,          /* a chain of differences (RFC 1995 4) */
    RD_XFRIN_UPTODATE,      /* IXFR answered with the one SOA: nothing newer (RFC 1995 4) */
};

/* Flags of the difference records (rd_rr.flags of xfrin.diff). */
enum { RD_XFRIN_DEL = 1 << 8, RD_XFRIN_ADD = 1 << 9 };

typedef struct rd_xfrin {
    /* set by rd_xfrin_init */
    uint8_t origin[RD_NAME_MAX + 1];   /* lower-case wire name of the zone */
    uint16_t qtype;                    /* RD_T_AXFR or RD_T_IXFR */
    uint16_t id;                       /* the request's message ID */
    uint32_t have_serial;              /* the serial asked from (IXFR) */
    /* results */
    int kind;                          /* RD_XFRIN_* */
    int done;
    uint32_t serial;                   /* the opening SOA's serial */
    uint32_t messages;
    uint64_t records;                  /* answer records read */
    int has_expire;                    /* an EDNS EXPIRE option came (RFC 7314) */
    uint32_t expire;                   /* its value, seconds */
    uint8_t rcode;                     /* of the last message (with the extended bits) */
    char err[200];                     /* the reason when a call failed */
    rd_rrlist zone;                    /* AXFR: the zone's records (closing SOA left out) */
    rd_rrlist diff;                    /* IXFR: the records of every sequence, in order,
                                          flagged RD_XFRIN_DEL / RD_XFRIN_ADD */
    /* state */
    int stage;                         /* internal: where in the record stream we are */
    uint8_t soa[RD_NAME_MAX * 2 + 22]; /* the opening SOA's rdata (names decompressed) */
    uint16_t soa_len;
    uint32_t seq_new;                  /* IXFR: serial of the sequence being added */
    uint32_t first_old;                /* IXFR: serial the first sequence starts from */
    struct builder *index;             /* AXFR: zimg_build's owner index of `zone`, built
                                          as the messages come (zimg_index_new), or NULL */
    int no_index;                      /* ... given up: the build makes its own */
} rd_xfrin;

/* Records an AXFR holds before the build's owner index is made as its messages come
 * (smaller zones are indexed by the build; tests set 0). */
extern size_t rd_xfrin_index_min;

void rd_xfrin_init(rd_xfrin *x, const uint8_t *origin, uint16_t qtype, uint16_t id,
                   uint32_t have_serial);
void rd_xfrin_free(rd_xfrin *x);

/* Read one response message of the transfer.  Returns 1 when the transfer is complete
 * with this message, 0 when more messages must follow, -1 on error (x->err says why;
 * a non-zero RCODE is such an error, x->rcode holds it).  *tsig_off is set to the offset
 * of the message's TSIG record (RFC 8945: the last additional record), or 0 when it has
 * none: the caller verifies it. */
int rd_xfrin_message(rd_xfrin *x, const uint8_t *m, size_t len, size_t *tsig_off);

/* Index up to `max` more records of an AXFR (once it holds rd_xfrin_index_min) into
 * the build's owner index, x->index (zimg_index_new), and while each name's records come
 * together in canonical order, cut them into rrsets (the build's stage 3): the reading
 * loop calls it while the primary has sent nothing new, so that the build starts past it.  Returns 1 when
 * records are left to index, else 0 (also when the index is given up: the build then
 * makes its own). */
int rd_xfrin_index(rd_xfrin *x, size_t max);

/* Apply the differences of a complete IXFR to the records of `cur` (whose serial must be
 * where the first sequence starts): `out` receives the next version's records, the
 * image's in image order then the additions.  Every deleted record must exist (RFC 1995
 * leaves no room for another reading): returns 0, or -1 with x->err set, and then the
 * caller falls back to AXFR.  An rrset the increment adds to takes the TTL of its last
 * addition in the stream, its other records too (RFC 2181 5.2: one TTL per rrset).  The
 * cost beyond copying the records out is in the size of the increment (a sort and one
 * lookup in the image per record it names), not of the zone. */
int rd_xfrin_apply(rd_xfrin *x, const zimg *cur, rd_rrlist *out);

/* The records of an image, as a record list (owner names lower-case as stored). */
int rd_xfrin_image_records(const zimg *z, rd_rrlist *out);

#endif
