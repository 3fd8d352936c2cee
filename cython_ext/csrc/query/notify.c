/* notify.c — NOTIFY in for secondary zones: the acknowledgement and the queue of zones to refresh (see notify.h). */
#include "notify.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "engine_int.h"

/* ---- the queue
 *
 * A bounded multi-producer ring after Vyukov: each slot carries a sequence number that
 * says whose turn it is, so a worker claims a slot with one compare-and-swap and
 * publishes it with one store, and never waits on another thread (workers never lock).
 * The stored value is the sequence minus the slot's index, so the zeroed static array is
 * already the empty ring (slot i free for position i).
 *
 * Duplicates are folded twice, both best-effort: a worker skips a zone that a published,
 * not yet taken slot already holds (validated by the slot's sequence before and after the
 * copy, as a seqlock reader does), and rd_notify_take keeps each zone once per call.  A
 * duplicate that slips through costs one more refresh check, which the control plane
 * folds as well. */

typedef struct {
    _Atomic size_t turn;                 /* sequence - index */
    uint8_t name[RD_NAME_MAX + 1];
} q_slot;

static q_slot q_ring[RD_NOTIFY_QUEUE];
static _Atomic size_t q_enq, q_deq;
static _Atomic int q_wake = -1;

void rd_notify_set_wakeup(int fd)
{
    atomic_store(&q_wake, fd);
}

static inline size_t slot_seq(size_t pos)
{
    size_t i = pos % RD_NOTIFY_QUEUE;
    return atomic_load_explicit(&q_ring[i].turn, memory_order_acquire) + i;
}

/* 1 when a published, untaken slot holds origin (a hint: may miss, never lies long). */
static int queued_already(const uint8_t *origin, size_t len)
{
    size_t deq = atomic_load_explicit(&q_deq, memory_order_acquire);
    size_t enq = atomic_load_explicit(&q_enq, memory_order_acquire);
    uint8_t copy[RD_NAME_MAX + 1];
    for (size_t pos = deq; pos != enq; pos++) {
        size_t seq = slot_seq(pos);
        if (seq != pos + 1) continue;                 /* not published, or taken */
        memcpy(copy, q_ring[pos % RD_NOTIFY_QUEUE].name, len);
        atomic_thread_fence(memory_order_acquire);
        if (slot_seq(pos) != seq) continue;           /* reused while we copied */
        if (memcmp(copy, origin, len) == 0) return 1;
    }
    return 0;
}

int rd_notify_queue(const uint8_t *origin)
{
    size_t len = rd_name_len(origin);
    if (queued_already(origin, len)) return 0;
    size_t pos = atomic_load_explicit(&q_enq, memory_order_relaxed);
    for (;;) {
        size_t seq = slot_seq(pos);
        if (seq == pos) {
            if (atomic_compare_exchange_weak_explicit(&q_enq, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
                break;                                /* pos is ours */
        } else if ((ptrdiff_t)(seq - pos) < 0) {
            /* full: the NOTIFY is dropped, the primary repeats it (RFC 1996 3.6) */
            return 0;
        } else {
            pos = atomic_load_explicit(&q_enq, memory_order_relaxed);
        }
    }
    q_slot *s = &q_ring[pos % RD_NOTIFY_QUEUE];
    memcpy(s->name, origin, len);
    atomic_store_explicit(&s->turn, pos + 1 - pos % RD_NOTIFY_QUEUE, memory_order_release);
    int fd = atomic_load(&q_wake);
    if (fd >= 0) {
        uint8_t one = 1;
        ssize_t r = write(fd, &one, 1);       /* non-blocking: a full pipe is awake already */
        (void)r;
    }
    return 1;
}

size_t rd_notify_take(uint8_t (*out)[RD_NAME_MAX + 1], size_t max)
{
    /* One consumer (the control plane's event loop; the GIL serialises callers). */
    size_t n = 0;
    size_t pos = atomic_load_explicit(&q_deq, memory_order_relaxed);
    while (n < max && slot_seq(pos) == pos + 1) {
        q_slot *s = &q_ring[pos % RD_NOTIFY_QUEUE];
        int dup = 0;
        for (size_t k = 0; k < n && !dup; k++) dup = rd_name_eq(out[k], s->name);
        if (!dup) memcpy(out[n++], s->name, RD_NAME_MAX + 1);
        /* free the slot for the producer one lap ahead */
        atomic_store_explicit(&s->turn, pos + RD_NOTIFY_QUEUE - pos % RD_NOTIFY_QUEUE,
                              memory_order_release);
        pos++;
        atomic_store_explicit(&q_deq, pos, memory_order_release);
    }
    return n;
}

size_t rd_notify_slots_taken(void)
{
    return atomic_load_explicit(&q_deq, memory_order_acquire);
}

/* ---- the acknowledgement */

int rd_notify_accept(rd_ctx *c)
{
    const rd_db *db = c->db;
    if (!db || !db->notify || c->qclass != RD_C_IN || c->qtype != RD_T_SOA) return 0;
    rd_ctx_zone(c);
    if (!c->zone || c->nlabels != zimg_origin_labels(c->zone)) return 0;
    const rd_zone_notify *zn = &db->notify[c->zone_index];
    if (!zn->acl) return 0;                        /* not a secondary zone here */
    rd_peer peer;
    rd_peer_from_bytes(&peer, c->client, c->client_len);
    int ok = rd_acl_match(db, zn->acl, zn->nacl, &peer, c->tsig_key);
    /* RFC 1996 4.7: the acknowledgement is the request's question with QR (and AA) set;
     * RFC 1996 3.10 leaves the sources to the secondary: others are REFUSED, as Knot and
     * NSD answer */
    c->aa = ok;
    c->rcode = ok ? RD_RCODE_NOERROR : RD_RCODE_REFUSED;
    if (ok) rd_notify_queue(zimg_origin(c->zone));
    return 1;
}
