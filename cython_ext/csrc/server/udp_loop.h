/* udp_loop.h — the UDP data plane: one pinned thread per (worker, listen socket) running
 * recvmmsg -> rd_answer_batch -> sendmmsg in batches, without Python, locks or allocation.
 *
 * Python opens and binds the sockets (SO_REUSEPORT, one per worker per address, before
 * dropping root) and hands over their descriptors; the threads only do I/O.  Each thread
 * is an RCU reader of the global database pointer (rcu.h): it loads the pointer once per
 * batch, marks a quiescent point after the batch and is offline while blocked.
 */
#ifndef RD_UDP_LOOP_H
#define RD_UDP_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "query/engine.h"
#include "dnstap.h"
#include "rrl.h"

enum {
    RD_UDP_MAX_BATCH = 1024,
    RD_UDP_QUERY_MAX = 4096,   /* longer datagrams are dropped (counted in recv_truncated) */
    RD_UDP_RESP_MAX = 4096,    /* response buffer per packet: the max_udp_payload ceiling */
    RD_UDP_WAKE_MS = 100,      /* a blocked thread looks at the stop flag this often */
    RD_UDP_HOLD_MAX_US = 1000, /* the longest hold after a small batch (udp_loop.c) */
    RD_UDP_HOLD_BELOW = 8,     /* a batch of fewer datagrams is small: hold after it */
    RD_UDP_HOLD_SLACK_NS = 1000, /* timer slack of a thread that holds */
};

/* One socket to serve. */
typedef struct rd_udp_socket {
    int fd;
    int family;                /* AF_INET or AF_INET6 */
    int wildcard;              /* bound to 0.0.0.0 / ::: reply from the address asked, using
                                  IP_PKTINFO / IPV6_RECVPKTINFO (which the caller enabled) */
    int cpu;                   /* core to pin the thread to, or -1 */
} rd_udp_socket;

/* Counters of the loop itself (the engine's are in rd_stats). */
typedef struct rd_udp_counters {
    uint64_t batches;
    uint64_t recv_truncated;   /* datagram longer than RD_UDP_QUERY_MAX: dropped */
    uint64_t send_errors;      /* response the kernel refused to send */
    uint64_t no_database;      /* query received before any database was published */
    uint64_t recv_errors;      /* recvmmsg failures other than timeout/EINTR */
    uint64_t rrl_dropped;      /* responses response rate limiting withheld */
    uint64_t rrl_slipped;      /* ... and sent truncated instead (TC=1: retry over TCP) */
    uint64_t holds;            /* waits after a small batch (udp_hold) */
    uint64_t hold_datagrams;   /* datagrams those waits gathered */
} rd_udp_counters;

typedef struct rd_udp_set rd_udp_set;

/* Start one thread per socket; `batch` datagrams per recvmmsg (1..RD_UDP_MAX_BATCH).
 * hold_us: after a batch of fewer than RD_UDP_HOLD_BELOW datagrams, wait this long before
 * the next recvmmsg while datagrams come faster than that (0..RD_UDP_HOLD_MAX_US, 0: never).
 * rrl: response rate limiting for every thread (each its own table), or NULL / rate 0
 * for none.  tap: dnstap logging, thread i writing to ring tap_first + i; NULL for none
 * (it must outlive the threads).  Returns NULL with a reason in err on failure (then
 * nothing is left running). */
rd_udp_set *rd_udp_start(const rd_udp_socket *socks, int nsocks, int batch, int hold_us,
                         const rd_rrl_config *rrl, rd_dnstap *tap, int tap_first,
                         char *err, size_t errlen);

/* Ask every thread to stop and wait for them (at most about RD_UDP_WAKE_MS). The
 * sockets stay open: they belong to the caller. Then free with rd_udp_free(). */
void rd_udp_stop(rd_udp_set *s);
void rd_udp_free(rd_udp_set *s);

/* Sum of every thread's counters (relaxed reads of counters their owners keep writing). */
void rd_udp_stats_sum(const rd_udp_set *s, rd_stats *out, rd_udp_counters *loop_out);
int rd_udp_threads(const rd_udp_set *s);

#endif
