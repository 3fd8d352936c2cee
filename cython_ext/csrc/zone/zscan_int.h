/* zscan_int.h — internal declarations shared by the master-file parser's C files. */
#ifndef RD_ZSCAN_INT_H
#define RD_ZSCAN_INT_H

#include "zscan.h"

#define ZS_RDATA_MAX 65535

/* One token of a logical entry (RFC 1035 section 5.1: an entry may span lines inside
 * parentheses).  `s` points into the input buffer and keeps its escapes; a quoted
 * token's text is what is between the quotes. */
typedef struct zs_tok {
    const char *s;
    uint32_t len;
    uint32_t line;
    uint8_t quoted;
} zs_tok;

/* Lexer over one buffer (a file, or the text one $GENERATE iteration produced). */
typedef struct zs_lexer {
    const char *p, *end;
    uint32_t line;
    int paren;              /* parenthesis depth */
    uint32_t paren_line;    /* line of the outermost open parenthesis */
} zs_lexer;

/* What an $INCLUDE'd file may change and its includer gets back afterwards (RFC 1035
 * section 5.1): the origin, the owner to inherit, the TTLs in force, and the file. */
typedef struct zs_scope {
    uint8_t origin[RD_NAME_MAX + 1];
    int have_origin;
    uint32_t origin_off;           /* arena copy of origin for text rdata, or RD_NONE */
    uint8_t owner[RD_NAME_MAX + 1];
    int have_owner;
    uint32_t ttl_default;          /* $TTL (RFC 2308 section 4) */
    int ttl_default_known;
    uint32_t ttl_last;             /* last stated TTL (RFC 1035 section 5.1) */
    int ttl_last_known;
    uint16_t file;                 /* file index of the buffer being parsed */
    const char *path;              /* its path, as given (for relative $INCLUDE) */
} zs_scope;

/* One file on the $INCLUDE stack: its identity (device and inode, so that two paths to
 * one file are one file) and the path it was opened by, for the message naming a cycle. */
typedef struct zs_open_file {
    uint64_t dev, ino;
    const char *path;
} zs_open_file;

typedef struct zs_state {
    const zs_options *opt;
    rd_rrlist *out;
    rd_msgs *msgs;
    struct stat *top;              /* zs_parse_file_stat: the top-level file's status, or NULL */
    zs_open_file stack[ZS_INCLUDE_DEPTH_CAP + 1];   /* the files being parsed, top first */
    int nstack;                    /* 1 + the $INCLUDE depth of the buffer being parsed */
    uint32_t included_files;       /* $INCLUDEs followed so far (include_files_max) */
    uint64_t included_bytes;       /* and the bytes they read (include_bytes_max) */
    char *top_dir;                 /* realpath of the top file's directory (include_dir_only) */
    zs_scope sc;
    zs_tok *tok;                   /* tokens of the current entry (reused) */
    size_t ntok, tokcap;
    uint8_t rd[ZS_RDATA_MAX + 16]; /* rdata being encoded */
    size_t rdlen;
    int rd_overflow;
    char *text;                    /* scratch for text rdata / $GENERATE (reused) */
    size_t textcap;
    int oom;
} zs_state;

/* The $ORIGIN in force, or NULL before any (relative names are then an error). */
static inline const uint8_t *zs_origin(const zs_state *st)
{
    return st->sc.have_origin ? st->sc.origin : NULL;
}

/* ---- diagnostics ---- */
void zs_err(zs_state *st, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void zs_warn(zs_state *st, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Printable, truncated copy of a token for messages. */
const char *zs_show(const zs_tok *t, char *buf, size_t size);

/* ---- lexer (zscan_lex.c) ---- */
void zs_lexer_init(zs_lexer *lx, const char *buf, size_t len, uint32_t line);
/* Read the next logical entry's tokens into st->tok.  Returns 0 at end of input, else 1;
 * *leading_ws says the entry began with blank space (inherited owner), *bad that a
 * lexical error was already reported for it. */
int zs_lex_entry(zs_state *st, zs_lexer *lx, int *leading_ws, uint32_t *line, int *bad);

/* ---- field parsers (zscan_lex.c); each returns 0 or -1 with *why set ---- */
int zs_name_parse(const char *s, size_t len, const uint8_t *origin, uint8_t *out,
                  const char **why);
int zs_parse_u32(const zs_tok *t, uint32_t max, uint32_t *v);
int zs_parse_ttl(const zs_tok *t, uint32_t *v, const char **why);
/* Decode escapes of a string token into out (at most max bytes); returns length or -1. */
int zs_unescape(const zs_tok *t, uint8_t *out, size_t max, const char **why);
int zs_hex_decode(const char *s, size_t len, uint8_t *out, size_t max, int *nibble);
int zs_b64_decode(const char *s, size_t len, uint8_t *out, size_t max, int *state);
int zs_b32hex_decode(const char *s, size_t len, uint8_t *out, size_t max);
int zs_parse_ipv4(const char *s, size_t len, uint8_t out[4]);
int zs_parse_ipv6(const char *s, size_t len, uint8_t out[16]);

/* ---- types (zscan_types.c) ---- */
int zs_algorithm_from_text(const zs_tok *t);          /* DNSSEC algorithm, -1 if bad */
int zs_is_meta_type(uint16_t type);

/* ---- rdata (zscan_rdata.c) ---- */
/* A cursor over the rdata tokens of one record (zscan_rdata.c, zscan_svcb.c). */
typedef struct zs_rdcur {
    zs_state *st;
    zs_tok *t;
    size_t n, i;
    uint32_t line;
} zs_rdcur;

/* Append to the rdata being encoded; overflow is reported once at the end. */
static inline void zs_put(zs_state *st, const void *p, size_t n)
{
    if (st->rdlen + n > ZS_RDATA_MAX) { st->rd_overflow = 1; return; }
    memcpy(st->rd + st->rdlen, p, n);
    st->rdlen += n;
}
static inline void zs_put8(zs_state *st, uint32_t v) { uint8_t b = (uint8_t)v; zs_put(st, &b, 1); }
static inline void zs_put16(zs_state *st, uint32_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    zs_put(st, b, 2);
}
static inline void zs_put32(zs_state *st, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    zs_put(st, b, 4);
}

/* Field readers shared by the encoders: 0, or -1 after reporting an error. */
int zs_rd_num(zs_rdcur *c, uint32_t max, const char *what, uint32_t *v);
int zs_rd_name(zs_rdcur *c, const char *what);
/* SVCB/HTTPS (zscan_svcb.c): 1 encoded, 0 left to dnspython, -1 error reported. */
int zs_rdata_svcb(zs_rdcur *c);

/* Encode rdata of `type` from tokens tok[0..n) into st->rd.  Returns 1 when done, 0 when
 * the type is not encoded in C (caller keeps the text), -1 after reporting an error. */
int zs_rdata_encode(zs_state *st, uint16_t type, zs_tok *tok, size_t n, uint32_t line);
/* RFC 3597 section 5 generic form: tok[0] is "\#". */
int zs_rdata_generic(zs_state *st, zs_tok *tok, size_t n, uint32_t line);

#endif
