/* zdiff.h — the difference between two images of a zone (a merge walk in canonical order) and the changeset format of the IXFR journal.
 *
 * A changeset takes a zone from serial `from` to serial `to`.  Its records are, in this
 * order, the RFC 1995 section 4 sequence of one version step:
 *     old SOA, the deleted records, new SOA, the added records
 * so an IXFR answer is the current SOA, the changesets from the client's serial on, and
 * the current SOA again.  Layout (network byte order, so a journal file is portable):
 *
 *     changeset := u32 length (whole changeset, header included)
 *                  u32 from, u32 to, u32 count (records)
 *                  record[count]
 *     record    := owner (uncompressed wire name, lower case), u16 type, u16 class,
 *                  u32 ttl, u16 rdlen, rdata[rdlen] (names uncompressed)
 *
 * A journal is changesets one after another, oldest first, each `to` the next `from`.
 */
#ifndef RD_ZDIFF_H
#define RD_ZDIFF_H

#include "lib/rd_common.h"
#include "zone/zimg.h"

enum { ZDIFF_HDR = 16 };

/* Encode the changeset old -> new (both images of the same origin) into a malloc()ed
 * buffer (*out, *outlen).  Records of rrsets whose TTL changed are deleted and added
 * again.  Returns the number of records deleted plus added (0: the zones hold the same
 * data apart from the SOA), or -1 when out of memory or the origins differ. */
long zdiff_build(const zimg *old, const zimg *new_, uint8_t **out, size_t *outlen);

/* Condense the changesets chain[0..len) (one after the other, each `to` the next `from`)
 * into one changeset from the first `from` to the last `to` (RFC 1995 4 condensation): a
 * record added then deleted again (or deleted then added back) cancels out.  Writes a
 * malloc()ed changeset to *out; returns its record count, or -1 (out of memory or a
 * malformed chain). */
long zdiff_condense(const uint8_t *chain, size_t len, uint8_t **out, size_t *outlen);

/* Check that buf[0..len) is a well-formed journal (every changeset's bounds, names and
 * record bounds, and the serial chain).  0 when sound; else -1 with a reason in err. */
int zdiff_journal_check(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Read a record at p (below end): fills the fields and returns the byte after it, or
 * NULL when malformed. */
const uint8_t *zdiff_record(const uint8_t *p, const uint8_t *end, const uint8_t **owner,
                            uint16_t *type, uint16_t *rclass, uint32_t *ttl,
                            const uint8_t **rdata, uint16_t *rdlen);

#endif
