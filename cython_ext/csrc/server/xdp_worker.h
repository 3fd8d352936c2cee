/* xdp_worker.h — one AF_XDP worker per RX queue: its UMEM, fill/completion/RX/TX rings and
 * a pinned thread that answers DNS query frames in place, in batches, without the GIL.
 *
 * Without libxdp at build time (RD_HAVE_XDP undefined) rd_xdp_worker_open fails with
 * -EOPNOTSUPP.
 */
#ifndef RD_XDP_WORKER_H
#define RD_XDP_WORKER_H

#include <stdatomic.h>
#include <stdint.h>

#include "query/engine.h"
#include "dnstap.h"
#include "rrl.h"

enum { RD_XDP_ZC_AUTO = 0, RD_XDP_ZC_ON = 1, RD_XDP_ZC_OFF = 2 };

/* Where a worker finds the current database: &rd_db_global (the daemon's RCU pointer,
 * rcu.h) or a private slot of the same type.  Either way the worker is an RCU reader: it
 * loads the pointer once per batch, marks a quiescent point after each batch and goes
 * offline while it sleeps, so the publisher frees an old snapshot after
 * rd_rcu_synchronize() and an idle worker never holds a swap up. */
typedef const rd_db *_Atomic rd_xdp_db_ptr;

/* Counters beyond the engine's rd_stats, written by the worker only. */
typedef struct rd_xdp_counters {
    uint64_t rx_frames;        /* frames taken from the RX ring */
    uint64_t tx_frames;        /* replies put on the TX ring */
    uint64_t not_dns;          /* frames the filter should not have sent (counted, dropped) */
    uint64_t malformed;        /* inconsistent headers: dropped */
    uint64_t no_answer;        /* the engine sent nothing */
    uint64_t tx_full;          /* no TX slot: reply dropped */
    uint64_t no_db;            /* no database published yet: dropped */
    uint64_t rrl_dropped;      /* answers response rate limiting withheld */
    uint64_t rrl_slipped;      /* ... and sent truncated instead (TC=1: retry over TCP) */
    uint64_t wakeups;          /* sendto/recvfrom kicks (need_wakeup) */
    uint64_t batches;
    uint64_t polls;            /* poll() calls: each is a sleep, and a wake-up after it */
    /* the kernel's view of the socket (XDP_STATISTICS), read at snapshot time */
    uint64_t k_rx_dropped;     /* dropped for other reasons */
    uint64_t k_rx_ring_full;   /* dropped: our RX ring was full (worker too slow) */
    uint64_t k_fill_empty;     /* no free frame in the fill ring */
    uint64_t k_invalid;        /* invalid RX + TX descriptors */
} rd_xdp_counters;

typedef struct rd_xdp_worker rd_xdp_worker;

/* Create UMEM and socket for (ifname, queue) and bind it: zero-copy when zc says ON or
 * when AUTO and the driver has it, copy mode otherwise; need_wakeup always.  Then put
 * the socket into the XDP program's map (xsks_map_fd).  Returns NULL with err filled. */
rd_xdp_worker *rd_xdp_worker_open(const char *ifname, uint32_t queue, int zc, int xsks_map_fd,
                                  uint16_t port, uint16_t mtu, rd_xdp_db_ptr *db,
                                  const rd_rrl_config *rrl, char *err, size_t errlen);

/* Log this worker's queries and responses to dnstap ring `tap` (NULL: none); before
 * rd_xdp_worker_start.  The ring's logger must outlive the worker. */
void rd_xdp_worker_set_dnstap(rd_xdp_worker *w, rd_dnstap_ring *tap);

/* Start the worker thread, pinned to cpu (cpu < 0: not pinned).  Returns 0 or -errno. */
int rd_xdp_worker_start(rd_xdp_worker *w, int cpu);

/* Ask the thread to stop, wake it and join it (bounded: the loop checks every batch). */
void rd_xdp_worker_stop(rd_xdp_worker *w);

/* Free socket, UMEM and memory (stops the thread first if needed). */
void rd_xdp_worker_close(rd_xdp_worker *w);

int rd_xdp_worker_zero_copy(const rd_xdp_worker *w);
uint32_t rd_xdp_worker_queue(const rd_xdp_worker *w);
/* Frames one TX kick (sendto) sends at most in copy mode (0 in zero-copy mode, where the
 * driver sends on its own after one kick). */
uint32_t rd_xdp_worker_tx_budget(const rd_xdp_worker *w);
/* Snapshots of the counters (plain reads of 64-bit words the worker writes: each word is
 * consistent on the platforms we build for; the set may be a few packets apart), with the
 * kernel's drop counters of the socket. */
void rd_xdp_worker_counters(const rd_xdp_worker *w, rd_xdp_counters *c, rd_stats *s);

#endif
