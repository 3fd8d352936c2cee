/* xfr_wire.h — the records of transfer messages, each name compressed against the previous owner's suffixes (RFC 1035 4.1.4): the writer behind xfr.c's streams.
 *
 * A transfer writes every record of a zone in canonical order, where an owner shares most
 * of its labels with the one before it.  The engine's compressor (engine_write.c)
 * searches a table of the names written so far, which fills within the first records of
 * a message and is then searched in full for every name.  Here a name is compared with
 * one name only, the previous owner, whose suffixes' offsets in the message are kept by
 * depth: another record of the same node costs a 2-octet pointer, a sibling its first
 * label and a pointer, and no search is made.  Pointers hold 14 bits, so a suffix
 * written past offset 0x3FFF cannot be pointed to; xfr.c ends its messages about there.
 */
#ifndef RD_XFR_WIRE_H
#define RD_XFR_WIRE_H

#include "engine_int.h"

typedef struct xw_names {
    const uint8_t *prev;       /* the last owner written in this message, NULL: none yet */
    uint8_t prev_n;            /* its labels */
    uint8_t prev_loff[128];    /* offset of each of its labels in the name */
    uint16_t at[128];          /* at[d]: message offset of its suffix of d labels (d >= 1),
                                  0 when a pointer cannot reach it */
} xw_names;

/* At the start of each message, after the header and question of c are written: the
 * question is a pointer target when it is the zone's apex `apex` octet for octet. */
void xw_start(xw_names *w, const rd_ctx *c, const uint8_t *apex);

/* Append one answer record (owner an uncompressed wire name that stays in memory while
 * the message is written: the zone image's or the journal's).  0, or -1 with nothing
 * written when it would pass c->limit. */
int xw_put_rr(rd_ctx *c, xw_names *w, const uint8_t *owner, uint16_t type, uint16_t rclass,
              uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);

#endif
