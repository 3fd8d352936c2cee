/* rd_common.h — shared types of the C core: record lists, diagnostics, name helpers.
 *
 * Contract between the zone parser (zscan.c), the zone image builder (zimg_build.c),
 * the answer engine (engine.c) and the daemon (udp_loop.c).  Names are in DNS wire
 * form (RFC 1035 section 3.1): a sequence of length-prefixed labels ending with the
 * root label (a zero byte), never compressed, at most 255 octets.
 */
#ifndef RD_COMMON_H
#define RD_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RD_NAME_MAX 255
#define RD_LABEL_MAX 63
#define RD_NONE 0xffffffffu

/* Record types the C core names explicitly (IANA numbers). */
enum {
    RD_T_A = 1, RD_T_NS = 2, RD_T_CNAME = 5, RD_T_SOA = 6, RD_T_PTR = 12,
    RD_T_HINFO = 13, RD_T_MX = 15, RD_T_TXT = 16, RD_T_AAAA = 28, RD_T_SRV = 33,
    RD_T_NAPTR = 35, RD_T_DNAME = 39, RD_T_OPT = 41, RD_T_DS = 43, RD_T_RRSIG = 46,
    RD_T_NSEC = 47, RD_T_DNSKEY = 48, RD_T_NSEC3 = 50, RD_T_NSEC3PARAM = 51,
    RD_T_SVCB = 64, RD_T_HTTPS = 65, RD_T_IXFR = 251, RD_T_AXFR = 252,
    RD_T_ANY = 255, RD_T_CAA = 257
};
enum { RD_C_IN = 1, RD_C_CH = 3, RD_C_ANY = 255 };

/* ---- diagnostics: every message carries FILE:LINE (RFC-free, operator facing) ---- */
enum { RD_MSG_ERROR = 0, RD_MSG_WARNING = 1 };

typedef struct rd_msg {
    int severity;          /* RD_MSG_ERROR or RD_MSG_WARNING */
    uint32_t file;         /* index into rd_rrlist.files, or RD_NONE when no file applies */
    uint32_t line;         /* 1-based; 0 when no line applies */
    char text[240];        /* reason, without the FILE:LINE prefix */
} rd_msg;

typedef struct rd_msgs {
    rd_msg *v;
    size_t n, cap;
    size_t errors, warnings;   /* counts, also beyond the stored limit */
    size_t limit;              /* store at most this many (0 = 100) */
} rd_msgs;

/* ---- the parsed zone: a flat list of records in one arena ---- */
enum {
    RD_RR_TEXT_RDATA = 1,  /* rdata is presentation text (a rare type the C parser leaves to
                              dnspython); origin_off says which $ORIGIN it was read under */
};

typedef struct rd_rr {
    uint32_t owner;        /* arena offset of the owner name, wire form, case as written */
    uint32_t rdata;        /* arena offset of rdata (wire form, names uncompressed) */
    uint32_t origin;       /* arena offset of $ORIGIN in force (only for RD_RR_TEXT_RDATA) */
    uint32_t ttl;
    uint32_t line;
    uint16_t rdlen;
    uint16_t type;
    uint16_t rclass;
    uint16_t file;         /* index into rd_rrlist.files */
    uint16_t flags;        /* RD_RR_* */
    uint16_t pad_;
} rd_rr;

typedef struct rd_rrlist {
    rd_rr *rr;
    size_t n, cap;
    uint8_t *arena;
    size_t alen, acap;
    char **files;          /* file names, as given (for messages) */
    size_t nfiles;
} rd_rrlist;

void rd_rrlist_init(rd_rrlist *l);
void rd_rrlist_free(rd_rrlist *l);
/* Append bytes to the arena; returns the offset or RD_NONE when out of memory. */
uint32_t rd_rrlist_store(rd_rrlist *l, const void *p, size_t len);
/* Append one record; owner/rdata are copied. Returns 0, or -1 when out of memory. */
int rd_rrlist_add(rd_rrlist *l, const uint8_t *owner, uint16_t type, uint16_t rclass,
                  uint32_t ttl, const uint8_t *rdata, uint16_t rdlen,
                  uint16_t file, uint32_t line);
uint16_t rd_rrlist_file(rd_rrlist *l, const char *name);

void rd_msgs_init(rd_msgs *m, size_t limit);
void rd_msgs_free(rd_msgs *m);
void rd_msgs_add(rd_msgs *m, int severity, uint32_t file, uint32_t line,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- name helpers (inline: used on the per-query path) ---- */

static inline uint8_t rd_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Length of a valid uncompressed wire name including the root byte. */
static inline size_t rd_name_len(const uint8_t *n)
{
    const uint8_t *p = n;
    while (*p) p += *p + 1;
    return (size_t)(p - n) + 1;
}

/* Number of labels, not counting the root. */
static inline int rd_name_labels(const uint8_t *n)
{
    int c = 0;
    while (*n) { n += *n + 1; c++; }
    return c;
}

/* Copy a name lower-cased (ASCII only: RFC 4343). Returns its length. */
static inline size_t rd_name_lower_copy(uint8_t *dst, const uint8_t *src)
{
    size_t len = rd_name_len(src);
    for (size_t i = 0; i < len; ) {
        uint8_t l = src[i];
        dst[i++] = l;
        for (uint8_t k = 0; k < l; k++, i++) dst[i] = rd_lower(src[i]);
    }
    return len;
}

/* Case-insensitive equality of two wire names. */
static inline int rd_name_eq(const uint8_t *a, const uint8_t *b)
{
    for (;;) {
        if (*a != *b) return 0;
        uint8_t l = *a;
        if (l == 0) return 1;
        a++; b++;
        for (uint8_t k = 0; k < l; k++)
            if (rd_lower(a[k]) != rd_lower(b[k])) return 0;
        a += l; b += l;
    }
}

/* Canonical DNS name order of RFC 4034 section 6.1 (case-insensitive);
 * <0, 0, >0 like strcmp. Defined in rd_common.c. */
int rd_name_cmp(const uint8_t *a, const uint8_t *b);

/* Is `name` equal to or below `zone`? (case-insensitive) */
int rd_name_is_sub(const uint8_t *name, const uint8_t *zone);

/* Presentation form of a wire name into buf (for messages); returns buf. */
char *rd_name_to_text(const uint8_t *n, char *buf, size_t bufsize);

#endif
