/* notify.h — NOTIFY in (RFC 1996) in the data plane: a NOTIFY for a secondary zone from a source its rules admit is acknowledged by the worker that received it, and the zone is queued for the control plane, which refreshes it.
 *
 * The transports call rd_notify_answer on the requests with opcode NOTIFY only (after the
 * engine's answer, which it replaces when it takes the request), so an ordinary query
 * costs one opcode test.  The queue is a small mutex-guarded ring (NOTIFYs are rare); a
 * byte written to the wake-up descriptor tells the control plane's event loop to drain it.
 */
#ifndef RD_NOTIFY_H
#define RD_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "query/engine.h"

/* Is q a request with opcode NOTIFY? (the transports' cheap test) */
static inline int rd_is_notify(const uint8_t *q, size_t qlen)
{
    return qlen >= 12 && !(q[2] & 0x80) && ((q[2] >> 3) & 0xF) == 4;
}

/* Answer NOTIFY q from `peer` when it names a secondary zone of db: the acknowledgement
 * (RFC 1996 4.7: NOERROR, AA, the question), signed when the request was, and the zone
 * queued for a refresh; REFUSED when no rule admits the source (address and key).  Returns
 * the answer's length in resp, or 0 when it is not taken (not a NOTIFY of a secondary
 * zone, malformed, or a TSIG that does not verify): the engine's answer stands. */
size_t rd_notify_answer(const rd_db *db, const uint8_t *q, size_t qlen,
                        const struct sockaddr *peer, uint8_t *resp, size_t cap);

/* The control plane's side of the queue. */
enum { RD_NOTIFY_QUEUE = 256 };
/* Descriptor to write a byte to when a zone is queued (-1: none). */
void rd_notify_set_wakeup(int fd);
/* Take up to max queued zone origins (lower-case wire names, RD_NAME_MAX + 1 bytes each),
 * oldest first; a zone queued again before it was taken is kept once.  Thread-safe. */
size_t rd_notify_take(uint8_t (*out)[RD_NAME_MAX + 1], size_t max);

#endif
