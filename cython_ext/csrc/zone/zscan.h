/* zscan.h — RFC 1035 section 5 master-file parser: text -> rd_rrlist of wire records. */
#ifndef RD_ZSCAN_H
#define RD_ZSCAN_H

#include "lib/rd_common.h"

typedef struct zs_options {
    const uint8_t *origin;     /* initial $ORIGIN, wire form */
    uint32_t default_ttl;      /* TTL before any $TTL or SOA (RFC 2308 4: SOA MINIMUM rule
                                  is not applied; like Knot, use this default) */
    int include_depth_max;     /* $INCLUDE nesting limit (0: the default 10); negative:
                                  $INCLUDE is refused (untrusted text, the fuzz harness) */
    size_t generate_max;       /* $GENERATE records per directive limit (default 65536) */
    /* Bounds on the work $INCLUDE can make (0: the defaults below).  Cycles are refused
     * outright; these bound what stays: a file included from many places (each include
     * of a file that includes k others multiplies the work by k at every level). */
    uint32_t include_files_max;   /* $INCLUDE directives followed per zone (default 1024) */
    uint64_t include_bytes_max;   /* bytes read through $INCLUDE per zone (default 512 MiB) */
    int include_dir_only;         /* 1: an included file must resolve (symlinks followed)
                                     inside the directory of the top-level zone file */
} zs_options;

#define ZS_INCLUDE_FILES_DEFAULT 1024u
#define ZS_INCLUDE_BYTES_DEFAULT (512ull << 20)
#define ZS_INCLUDE_DEPTH_CAP 64     /* include_depth_max above this is taken as this */

/* Parse `path` (and its $INCLUDEs, relative to the including file's directory) appending
 * records to `out` and diagnostics to `msgs` (each with file index and line).
 * Types the C parser does not know how to encode are stored with RD_RR_TEXT_RDATA (the
 * rdata text and the $ORIGIN in force) for the caller to encode; RFC 3597 generic form
 * (\# len hex) is always encoded here.  Returns 0 when no error was reported. */
int zs_parse_file(const char *path, const zs_options *opt, rd_rrlist *out, rd_msgs *msgs);

/* zs_parse_file that also gives the top-level file's status as its descriptor had it
 * when read (fstat at open), for a caller that fingerprints its sources without a second
 * stat per file; *top is zeroed (st_ino 0) when the file was not read. */
struct stat;
int zs_parse_file_stat(const char *path, const zs_options *opt, rd_rrlist *out, rd_msgs *msgs,
                       struct stat *top);

/* The same on a text buffer; `name` is used in messages and for relative $INCLUDE. */
int zs_parse_text(const char *name, const char *text, size_t len, const zs_options *opt,
                  rd_rrlist *out, rd_msgs *msgs);

/* Type mnemonic <-> number (all IANA-registered types dnspython knows; TYPEnnn too). */
int zs_type_from_text(const char *s, size_t len);   /* -1 if unknown */
const char *zs_type_to_text(uint16_t type);         /* NULL if no mnemonic */

/* Presentation name -> wire (relative names completed with origin). Returns length or -1. */
int zs_name_from_text(const char *s, size_t len, const uint8_t *origin, uint8_t *out);

#endif
