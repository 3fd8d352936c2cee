/* tcp_loop.h — the TCP data plane (RFC 7766): one pinned thread per worker running epoll ->
 * accept4 / read -> rd_answer_batch -> writev, without Python, locks or allocation.
 *
 * Python binds the listening sockets (SO_REUSEPORT, one per worker per address, before
 * dropping root) and hands over their descriptors; everything a thread touches (its
 * connection pool, input buffers, answer arena, output buffers, client table, timer wheel)
 * is allocated at start.  Each thread is an RCU reader of the global database pointer
 * (rcu.h) exactly as a UDP worker: offline while blocked in epoll_wait, one quiescent point
 * per turn of its loop; a streamed transfer pins its snapshot instead (rd_db_pin).
 *
 * Per connection: 2-byte length framing (RFC 1035 4.2.2) with partial reads and writes;
 * pipelined queries (RFC 7766 6.2.1.1) answered in batches of up to max_pipelined per turn
 * and written together; an idle timeout (6.2.3) counted from the last progress either
 * way, kept by a timer wheel; the edns-tcp-keepalive option (RFC 7828) answered with that
 * timeout.
 * At moderate load a worker that wakes for each short connection spends more on waking
 * than on answering: after a light turn that opened or closed connections while they come
 * close together, it sleeps hold_us before it asks epoll again, so that one wake-up
 * serves several of them (loop_wait); after a light turn of long-lived connections whose
 * queries come close together it sleeps pipeline_hold_us, for the same reason.
 * Per worker: at most max_connections open, the one idle the longest closed to admit a
 * new one (6.2.2); at most max_per_client from one client address (an IPv4 address, an
 * IPv6 /64), beyond which new connections are closed at once; at most RD_TCP_OUT_CAP
 * bytes of answers waiting for a client that reads slower than it asks: the answers of a
 * batch beyond it are dropped and their queries kept to be answered once it has read,
 * and no query is read from a connection while its answers wait.  Idle means no progress
 * either way: a client still taking in the answers queued for it is not idle.
 */
#ifndef RD_TCP_LOOP_H
#define RD_TCP_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "query/engine.h"
#include "dnstap.h"

enum {
    RD_TCP_MAX_WORKERS = 256,
    RD_TCP_MAX_BATCH = 64,       /* queries answered per connection per turn, at most */
    RD_TCP_INBUF = 4096,         /* input buffer of a connection */
    RD_TCP_QUERY_MAX = RD_TCP_INBUF - 2,   /* longer messages close the connection */
    RD_TCP_OUT_CAP = 256 * 1024, /* answers a connection may have waiting in user space */
    RD_TCP_TICK_MS = 50,         /* timer wheel resolution; epoll_wait wakes this often */
    RD_TCP_HOLD_US = 100,        /* default hold (server.tcp.hold_us) */
    RD_TCP_HOLD_MAX_US = 1000,
    RD_TCP_PIPELINE_HOLD_US = 200,   /* default server.tcp.pipeline_hold_us (loop_wait) */
    RD_TCP_NAGLE_RTT_US = 200,   /* default server.tcp.nagle_rtt_us (tcp_loop.c conn_nagle_on) */
    RD_TCP_NAGLE_RTT_MAX_US = 100000,
};

/* One listening socket, served by worker `worker` (0-based, < nworkers). */
typedef struct rd_tcp_listener {
    int fd;
    int worker;
} rd_tcp_listener;

/* Limits; may change while running (rd_tcp_set_limits).  Counts are per worker. */
typedef struct rd_tcp_limits {
    uint32_t max_connections;    /* clamped to the pool size given at start */
    uint32_t max_per_client;
    uint32_t idle_timeout_ms;
    uint32_t max_pipelined;      /* clamped to 1..RD_TCP_MAX_BATCH */
    uint32_t hold_us;            /* wake-up coalescing after turns with connections coming
                                  * or going (loop_wait);
                                  * 0: off, at most
                                  * RD_TCP_HOLD_MAX_US */
    uint32_t nagle_rtt_us;       /* a pipelining client nearer than this (its smallest
                                  * round trip) has answers held for its next segment;
                                  * 0: never */
    uint32_t pipeline_hold_us;   /* wake-up coalescing after light turns of connections
                                  * that stay open (loop_wait); 0: off, at most
                                  * RD_TCP_HOLD_MAX_US */
} rd_tcp_limits;

/* Counters of the loops (the engine's are in rd_stats); every limit hit has one. */
typedef struct rd_tcp_counters {
    uint64_t open;               /* connections open now (a gauge) */
    uint64_t accepted;
    uint64_t closed;             /* by the client or the server, for any reason */
    uint64_t timed_out;          /* idle_timeout without a complete query */
    uint64_t evicted;            /* closed, idle the longest, to admit a new connection */
    uint64_t per_client_refused; /* closed at accept: the client address had max_per_client */
    uint64_t output_overflow;    /* closed: answers had to wait and every output buffer
                                  * of the worker was taken */
    uint64_t output_throttled;   /* batches cut short at RD_TCP_OUT_CAP of waiting answers
                                  * (their queries are answered once the client reads) */
    uint64_t oversized;          /* closed: a length prefix above RD_TCP_QUERY_MAX */
    uint64_t zero_length;        /* closed: a length prefix of 0 (no DNS header fits) */
    uint64_t truncated_eof;      /* closed by the client in the middle of a message */
    uint64_t resets;             /* read or write errors (ECONNRESET, EPIPE, ...) */
    uint64_t accept_errors;      /* accept4 failures (EMFILE, ENOBUFS, ...) */
    uint64_t no_database;        /* query received before any database was published */
    uint64_t batches;
    uint64_t xfr_streams;        /* transfers streamed (rd_xfr_start said 1) */
    uint64_t holds;              /* sleeps of hold_us after a light turn that opened or
                                  * closed connections, or of pipeline_hold_us after a
                                  * light turn of open ones */
    uint64_t holds_empty;        /* of those, holds after which nothing had come, or (a
                                  * pipeline hold) fewer than it must gather to pay for
                                  * itself (TCP_PIPELINE_GATHER): the ones that back off */
    uint64_t nagle_entered;      /* connections whose answers were left for the client's
                                  * next segment (TCP_NODELAY off: tcp_loop.c conn_nagle_on) */
} rd_tcp_counters;

typedef struct rd_tcp_set rd_tcp_set;

/* Start `nworkers` threads; worker w pinned to cpus[w] (-1: not pinned) serves the
 * listeners whose worker is w, with a pool of `pool_connections` connections.  tap:
 * dnstap logging, worker w writing to ring tap_first + w; NULL for none (it must outlive
 * the threads).  Returns NULL with a reason in err on failure (then nothing is left
 * running). */
rd_tcp_set *rd_tcp_start(const rd_tcp_listener *ls, int nls, int nworkers, const int *cpus,
                         uint32_t pool_connections, const rd_tcp_limits *limits,
                         rd_dnstap *tap, int tap_first, char *err, size_t errlen);

/* New limits for every worker, seen at their next turn. */
void rd_tcp_set_limits(rd_tcp_set *s, const rd_tcp_limits *limits);

/* Stop every thread (within about RD_TCP_TICK_MS), closing their connections; the
 * listening sockets stay open: they belong to the caller.  Then rd_tcp_free(). */
void rd_tcp_stop(rd_tcp_set *s);
void rd_tcp_free(rd_tcp_set *s);

/* Sum of every worker's counters (relaxed reads of counters their owners keep writing). */
void rd_tcp_stats_sum(const rd_tcp_set *s, rd_stats *out, rd_tcp_counters *loop_out);
int rd_tcp_threads(const rd_tcp_set *s);

#endif
