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
 * query with rd_answer_batch like any other (today's AXFR NOTAUTH / IXFR answers included).
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

enum { RD_XFR_STATE_BYTES = 256 };

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

#endif
