/* xfrin_query.h — the secondary's own messages to a primary in C: the SOA query and the AXFR/IXFR request (signed with TSIG, RFC 8945 4.3.3; EDNS EXPIRE asked, RFC 7314), and the SOA answer checked (RFC 1034 4.3.5).
 *
 * The control plane only moves the bytes (UDP, TCP when truncated): no DNS library on
 * the secondary's path.
 */
#ifndef RD_XFRIN_QUERY_H
#define RD_XFRIN_QUERY_H

#include "lib/tsig.h"

/* Build the query for `origin` (wire, any case) of type `qtype` (RD_T_SOA, RD_T_AXFR or
 * RD_T_IXFR; an IXFR carries `serial` in an SOA of its authority section, RFC 1995 3)
 * with message ID `id`, RD clear, an OPT record with an empty EXPIRE option (RFC 7314 2)
 * and, with `key`, a TSIG record signed at `now`.  The request's MAC goes to mac[0..*mac_len)
 * (RD_TSIG_MAC_MAX octets; *mac_len 0 unsigned).  Returns the length, or 0 when it does
 * not fit in cap octets or cannot be signed. */
size_t rd_xfrin_query(uint8_t *out, size_t cap, const uint8_t *origin, uint16_t qtype,
                      uint16_t id, uint32_t serial, const rd_tsig_key *key, uint64_t now,
                      uint8_t *mac, uint16_t *mac_len);

/* What rd_xfrin_soa_answer found. */
enum {
    RD_XFRIN_SOA_OK = 0,        /* a valid authoritative answer: serial (and expire) set */
    RD_XFRIN_SOA_BAD = -1,      /* an answer to our query that does not do: err says why */
    RD_XFRIN_SOA_TC = 1,        /* truncated: ask again over TCP */
    RD_XFRIN_SOA_NOT_OURS = 2,  /* not an answer to this query (ID, QR, question): on UDP
                                   ignored, as a spoofing attempt may be (RFC 5452 9.1) */
};

typedef struct rd_xfrin_soa {
    uint32_t serial;
    int has_expire;             /* the EDNS EXPIRE option came (RFC 7314) */
    uint32_t expire;
    uint8_t rcode;              /* when the answer carried a non-zero RCODE */
    uint16_t tsig_error;        /* the TSIG error the primary sent, if any */
    char err[200];
} rd_xfrin_soa;

/* Check the answer m[0..len) to the SOA query of `origin` with message ID `id`: with
 * `key`, it must be signed, chaining from the request's MAC (RFC 8945 5.3.1) and within
 * the fudge of `now`; then RCODE NOERROR, AA, and an SOA record for `origin` in the
 * answer section.  Every record is walked with bounds.  Returns RD_XFRIN_SOA_*. */
int rd_xfrin_soa_answer(const uint8_t *m, size_t len, const uint8_t *origin, uint16_t id,
                        const rd_tsig_key *key, const uint8_t *request_mac,
                        uint16_t request_mac_len, uint64_t now, rd_xfrin_soa *out);

#endif
