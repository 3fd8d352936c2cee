/* xfr.h — the seam between the TCP loop and zone transfers out (AXFR/IXFR, RFC 5936, RFC 1995).
 *
 * A transfer is a stream of messages answering one query; the TCP loop (server/tcp_loop.c)
 * drives it as a cursor so that one connection never holds more than one message of it in
 * memory and other connections keep being served between messages:
 *
 *   if (rd_xfr_start(&x, db, q, qlen, peer))     1: stream (the loop pins db first)
 *       while ((n = rd_xfr_next(&x, buf, cap)))  each call writes the next whole message
 *           send 2-byte length + buf[0..n)
 *   rd_xfr_end(&x);                               always, also when the connection dies
 *
 * rd_xfr_start returning 0 means "not a transfer this module streams": the loop answers the
 * query with rd_answer_batch like any other (a query that is no AXFR/IXFR, a malformed
 * one, or one whose TSIG fails: the engine answers those itself).  Refusals (ACL, not a
 * zone apex, too many transfers) are streams of one message.
 * The loop keeps `db` pinned (server/rcu.h rd_db_pin) from a 1 until rd_xfr_end, across its
 * RCU quiescent points, so the cursor may point into the zone images of `db`.
 * The cursor lives in the opaque bytes of rd_xfr, embedded in each connection: no
 * allocation per transfer is needed (an implementation may still allocate and free in
 * start/end if it must).
 */
#ifndef RD_XFR_H
#define RD_XFR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine.h"

/* The cursor keeps a copy of the query (the loop's input buffer moves on) and the TSIG
 * chain of the stream: 1.5 KiB per connection. */
enum { RD_XFR_STATE_BYTES = 1536, RD_XFR_QUERY_MAX = 1024 };

/* The cursor of one transfer; its layout belongs to xfr.c. */
typedef struct rd_xfr {
    _Alignas(16) uint8_t state[RD_XFR_STATE_BYTES];
} rd_xfr;

/* Decide whether query q (qlen bytes, no length prefix) from `peer` is a transfer to
 * stream from `db`; 1: x is set up and rd_xfr_next gives its messages; 0: answer the
 * query normally (x is left unused: rd_xfr_end is harmless on it). */
int rd_xfr_start(rd_xfr *x, const rd_db *db, const uint8_t *q, size_t qlen,
                 const struct sockaddr *peer);

/* Write the next message of the stream into out (capacity cap, at least 65535; no length
 * prefix) and return its length; 0 when the stream is done. */
size_t rd_xfr_next(rd_xfr *x, uint8_t *out, size_t cap);

/* Release what the cursor holds; safe after 0 from start and called more than once. */
void rd_xfr_end(rd_xfr *x);

/* IXFR over UDP (RFC 1995 2), answered by the engine for c (a parsed IXFR query, its
 * TSIG verified): the zone's SOA alone when the client's serial is current, else TC so
 * that the client asks over TCP; REFUSED when the ACL does not allow the client (its
 * address is the one the transport put in c; without one only rules that name no address
 * can match). */
struct rd_ctx;
void rd_xfr_udp_ixfr(struct rd_ctx *c);

/* ---- what happened: a small event ring the control plane drains to log and count ---- */
enum {
    RD_XFR_EV_DONE = 1,        /* a transfer was streamed to its end */
    RD_XFR_EV_ABORTED,         /* the connection ended before the stream did */
    RD_XFR_EV_REFUSED,         /* the zone's ACL does not allow the peer / key */
    RD_XFR_EV_NOTAUTH,         /* not the apex of a zone served here */
    RD_XFR_EV_BUSY,            /* too many transfers running (server.xfr.max_transfers) */
    RD_XFR_EV_UPTODATE,        /* IXFR: the client has the current serial (one SOA) */
};
enum { RD_XFR_MODE_AXFR = 1, RD_XFR_MODE_IXFR = 2 };

typedef struct rd_xfr_event {
    uint64_t time_ms;          /* CLOCK_REALTIME */
    uint8_t zone[RD_NAME_MAX + 1];   /* the zone (or the query name when none) */
    uint8_t key[RD_NAME_MAX + 1];    /* the TSIG key of the request, "" (root) unsigned */
    uint8_t what;              /* RD_XFR_EV_* */
    uint8_t mode;              /* RD_XFR_MODE_* actually streamed (IXFR asked, AXFR sent:
                                  the client's serial was not in the journal) */
    uint16_t qtype;            /* AXFR or IXFR as asked */
    uint8_t family;            /* 0 unknown, 4, 6 */
    uint8_t addr[16];
    uint16_t port;
    uint32_t serial;           /* the zone's serial sent */
    uint32_t client_serial;    /* IXFR: the client's */
    uint64_t messages, bytes, records;
} rd_xfr_event;

/* Take up to max events (oldest first); *lost (may be NULL) receives the number dropped
 * because the ring was full since the last call.  Thread-safe. */
size_t rd_xfr_events_take(rd_xfr_event *out, size_t max, uint64_t *lost);
/* Transfers streaming now (all threads). */
uint32_t rd_xfr_active(void);

#endif
