/* rcu.h — quiescent-state RCU: one global database pointer swapped under running workers.
 *
 * Readers (the UDP and XDP workers) never lock: each owns an rd_rcu_reader slot and
 *   - rd_rcu_quiescent() between batches: "I hold no pointer obtained before this call";
 *   - rd_rcu_offline() before blocking in recvmmsg/poll, rd_rcu_online() after: an idle
 *     worker is offline, so it never holds up a grace period.
 * The writer (the control thread, never itself a reader) publishes a new pointer with
 * rd_rcu_exchange(), then rd_rcu_synchronize() waits until every online reader has passed
 * a quiescent point; after that nobody can still see the old pointer and it may be freed.
 *
 * The grace period is an epoch counter: synchronize advances it to E and waits until each
 * reader slot is either offline (0) or has recorded an epoch >= E at a quiescent point.
 * All publications and epoch records are sequentially consistent, so a reader that
 * recorded E loads the new pointer afterwards.
 *
 * Pinning stretches one read section over many batches (a zone transfer streamed message
 * by message): a reader that pins the snapshot it loaded before its next quiescent point
 * may keep using it after, until it unpins.  The writer frees an old snapshot only once
 * the grace period has ended AND its pin count is zero: the pin was made before the
 * reader's quiescent store, which the grace period observed, so a writer that reads 0
 * after synchronize cannot miss it.
 */
#ifndef RD_RCU_H
#define RD_RCU_H

#include <stdatomic.h>
#include <stdint.h>

#include "query/engine.h"

enum { RD_RCU_MAX_READERS = 1024 };

/* One slot per reader thread, on a cache line of its own (written by its owner at every
 * batch; only read by the writer). */
typedef struct rd_rcu_reader {
    _Atomic uint64_t epoch;    /* epoch seen at the last quiescent point; 0 = offline */
    _Atomic int in_use;
} __attribute__((aligned(64))) rd_rcu_reader;

/* Take a free reader slot (starts offline); NULL when all RD_RCU_MAX_READERS are taken.
 * Taken when a worker is set up, before its thread runs, so that running out of slots
 * fails the start instead of leaving a worker that serves nothing; handed to the thread,
 * which alone moves it online and offline.  Not on the per-packet path. */
rd_rcu_reader *rd_rcu_register(void);
/* Give the slot back (the reader goes offline first). */
void rd_rcu_unregister(rd_rcu_reader *r);

/* The global epoch and database pointer; use the functions below, not these names. */
extern _Atomic uint64_t rd_rcu_global_epoch;
extern const rd_db *_Atomic rd_db_global;

/* Between batches: every pointer loaded before this call is no longer used. */
static inline void rd_rcu_quiescent(rd_rcu_reader *r)
{
    atomic_store(&r->epoch, atomic_load(&rd_rcu_global_epoch));
}

/* Before blocking: the reader holds no pointer while offline. */
static inline void rd_rcu_offline(rd_rcu_reader *r)
{
    atomic_store(&r->epoch, 0);
}

/* After blocking: pointers loaded after this call are protected until the next
 * quiescent point. (A seq_cst store: the loads that follow cannot move before it.) */
static inline void rd_rcu_online(rd_rcu_reader *r)
{
    atomic_store(&r->epoch, atomic_load(&rd_rcu_global_epoch));
}

/* Writer side: wait until every reader online now has passed a quiescent point (or gone
 * offline). Writers are serialized by an internal mutex. Must not be called by a thread
 * that holds an online reader slot (it would wait for itself). */
void rd_rcu_synchronize(void);

/* Number of grace periods completed (for tests and stats). */
uint64_t rd_rcu_grace_periods(void);

/* ---- the one global pointer to the current database snapshot ---- */

/* Load the current database (NULL before the first publication). Valid until the
 * caller's next quiescent point or offline call. */
static inline const rd_db *rd_db_current(void)
{
    return atomic_load(&rd_db_global);
}

/* Publish `db` (may be NULL) and return the previous snapshot. The caller must
 * rd_rcu_synchronize() before freeing what was returned, and then wait for
 * rd_db_pins() == 0. */
const rd_db *rd_db_exchange(const rd_db *db);

/* Keep `db` (loaded in the current read section, not yet past a quiescent point) alive
 * until rd_db_unpin; the count is the only field of a published snapshot that changes. */
static inline void rd_db_pin(const rd_db *db)
{
    atomic_fetch_add(&((rd_db *)db)->pins, 1);
}

/* Done with a pinned snapshot: every use of it happens before this (release order). */
static inline void rd_db_unpin(const rd_db *db)
{
    atomic_fetch_sub_explicit(&((rd_db *)db)->pins, 1, memory_order_release);
}

/* Current pins of `db`; the writer frees an unpublished snapshot only at 0 (acquire: the
 * last user's reads happen before the free). */
static inline uint32_t rd_db_pins(const rd_db *db)
{
    return atomic_load_explicit(&((rd_db *)db)->pins, memory_order_acquire);
}

#endif
