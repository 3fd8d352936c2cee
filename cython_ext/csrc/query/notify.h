/* notify.h — NOTIFY in (RFC 1996) in the data plane: a NOTIFY for a secondary zone from a source its rules admit is acknowledged by the engine in the worker that received it, and the zone is queued for the control plane, which refreshes it.
 *
 * The engine dispatches on the opcode it has parsed anyway, so an ordinary query costs
 * nothing and every transport (UDP, TCP, XDP) gets the same answer, counted once.  The
 * queue is a small lock-free ring (workers never wait on each other or on the control
 * plane); a byte written to the wake-up descriptor tells the control plane's event loop
 * to drain it.
 */
#ifndef RD_NOTIFY_H
#define RD_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include "engine.h"

/* The control plane's side of the queue. */
enum { RD_NOTIFY_QUEUE = 256 };
/* Descriptor to write a byte to when a zone is queued (-1: none). */
void rd_notify_set_wakeup(int fd);
/* Take up to max queued zone origins (lower-case wire names, RD_NAME_MAX + 1 bytes each),
 * oldest first; a zone queued again before it was taken is kept once per call.  One
 * consumer at a time (the control plane). */
size_t rd_notify_take(uint8_t (*out)[RD_NAME_MAX + 1], size_t max);
/* Queue a zone origin (wire name) from any worker thread without locking; 1 when queued,
 * 0 when it was queued already or the ring is full (the NOTIFY is then dropped: RFC 1996
 * 3.6 has the primary repeat it). */
int rd_notify_queue(const uint8_t *origin);
/* Slots taken since the start, duplicates included (the queue's own accounting, for its
 * stress test: every successful rd_notify_queue is exactly one slot). */
size_t rd_notify_slots_taken(void);

#endif
