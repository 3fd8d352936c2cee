/* tcp_loop.c — per-worker epoll threads of the TCP data plane: accept, framing, batches, timeouts and limits. */
#define _GNU_SOURCE
#include "tcp_loop.h"

#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/rd_wire.h"
#include "query/xfr.h"
#include "rcu.h"
#include "worker.h"

enum {
    TCP_EVENTS = 256,            /* epoll events taken per turn */
    TCP_ACCEPTS = 64,            /* connections accepted per listener per turn */
    TCP_WHEEL_SLOTS = 1024,      /* 51.2 s at 50 ms a slot; longer timeouts go round again */
    TCP_STREAM_BURST = 16,       /* transfer messages per connection per turn */
    TCP_ANSWER_STRIDE = 2 + 65535 + 63,   /* length prefix, the largest answer, a cache line */
    TCP_OUT_POOL_MAX = 64,       /* output buffers per worker (each RD_TCP_OUT_CAP) */
    TCP_HOLD_LIGHT = 8,          /* a turn that answered fewer queries may be held */
    TCP_PIPELINE_LIGHT = 32,     /* the same for a turn of open connections (loop_wait) */
    TCP_PIPELINE_GATHER = 3,     /* queries a hold of open connections must gather */
    TCP_HOLD_BACKOFF_MAX = 64,   /* light turns without a hold after holds found nothing */
};

/* How long an answer may wait in the kernel for the client's next segment (see
 * conn_nagle_on): 4 ms, and up to a millisecond more since epoll_wait counts in them; also
 * how close a connection's answers must come to put it in that state.  Longer than the
 * query interval of each of many connections: dnsperf -c 100 at 100k qps asks each one
 * about once a millisecond, and with 1 ms its connections left and entered the state all
 * the time (47k entries in 5 s, two setsockopt each; tcp_bench's -c 100 CPU per query at
 * 0.78x Knot's, 0.55x with 2 ms, 0.52x with 4, 0.50x with 8, under chrt -r 1). */
#define TCP_NAGLE_NS 4000000u
/* A worker whose last turn answered this many queries or more, TCP_NAGLE_BUSY_PER or more
 * per connection on average, is saturated: its answers leave at once (conn_nagle_on). */
#define TCP_NAGLE_BUSY 64u
#define TCP_NAGLE_BUSY_PER 4u
/* Nor is a connection put in that state until the worker has had no such turn for this
 * long: a saturated worker has light turns now and then, and each one would otherwise put
 * its connections in the state and its next busy turn take them out again. */
#define TCP_NAGLE_CALM_NS 10000000u

/* An intrusive doubly linked list: every list a connection is on costs no allocation. */
typedef struct tcp_link {
    struct tcp_link *prev, *next;
} tcp_link;

static inline void link_init(tcp_link *h) { h->prev = h->next = h; }
static inline int link_empty(const tcp_link *h) { return h->next == h; }
static inline void link_del(tcp_link *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = e;
}
static inline void link_add_tail(tcp_link *h, tcp_link *e)
{
    e->prev = h->prev;
    e->next = h;
    h->prev->next = e;
    h->prev = e;
}
#define TCP_OF(ptr, member) ((tcp_conn *)((char *)(ptr) - offsetof(tcp_conn, member)))

/* One connection slot of the pool.  The epoll tag is (generation << 32 | index): an event
 * read in the same turn as the slot was closed (and maybe reused) is recognised as stale. */
typedef struct tcp_conn {
    int fd;                      /* -1: free */
    uint32_t gen;
    uint32_t events;             /* what epoll is asked for now */
    uint8_t eof;                 /* the client half-closed: answer what came, then close */
    uint8_t waiting_out;         /* answers wait in the output buffer: no reading */
    uint8_t streaming;           /* a transfer is being sent (xfr, xfr_db) */
    uint8_t on_ready;
    uint8_t registered;          /* in the epoll set (joins after its first turn) */
    uint8_t probed;              /* its end-of-turn read was made (see loop_fresh) */
    uint8_t nagle;               /* TCP_NODELAY off: answers wait for the client's next
                                  * segment, until nagle_ns at most (conn_nagle) */
    uint8_t far;                 /* its round trip is over TCP_NAGLE_RTT_US: never held */
    uint32_t inlen;
    uint32_t out_off, out_len;
    int out_slot;                /* index of the output buffer held, -1: none */
    uint32_t recount;            /* queries at the head of `in` answered and counted once
                                  * already, their answers dropped at the output cap */
    uint64_t acked_seen;         /* tcpi_bytes_acked at its last idle deadline */
    uint64_t last_ms;            /* last progress: a complete query, accept, a transfer
                                  * message, answers taken in at a deadline */
    uint64_t wheel_tick;         /* the tick whose wheel slot holds it */
    uint64_t nagle_ns;           /* when TCP_NODELAY goes back on, unless written again */
    uint64_t sent_ns;            /* the turn its last answers were written in (0: none) */
    tcp_link lru;                /* open: in L->lru, idle the longest first; free: free list */
    tcp_link wheel;
    tcp_link ready;              /* complete queries wait in `in`, or a stream goes on */
    tcp_link fresh;              /* answered at accept, not yet in the epoll set */
    tcp_link held;               /* on L->held while nagle, the oldest deadline first */
    uint8_t client[16];          /* key of its client address */
    struct sockaddr_in6 peer;    /* large enough for both families */
    struct sockaddr_in6 local;   /* the address it came to (kept for dnstap only) */
    uint8_t *in;                 /* RD_TCP_INBUF bytes of the worker's input area */
    const rd_db *xfr_db;         /* pinned while streaming */
    rd_xfr xfr;
    uint8_t xfr_tap;             /* dnstap: the transfer's messages are logged */
    struct timespec xfr_time;    /* dnstap: when its request came */
} tcp_conn;

/* A listening socket of the worker, and the address it is bound to: the local address of
 * every connection it accepts, unless it is a wildcard (0.0.0.0, ::). */
typedef struct tcp_listen {
    int fd;
    int wildcard;                /* or its address unknown: ask each connection */
    struct sockaddr_in6 addr;    /* large enough for both families */
} tcp_listen;

/* Connections per client address: open addressing, linear probing; count 0 = empty. */
typedef struct tcp_client {
    uint8_t key[16];
    uint32_t count;
} tcp_client;

typedef struct tcp_loop {
    rd_stats stats;              /* first: its own cache lines (aligned(64)) */
    rd_cookie_cache cookies;     /* verified DNS Cookies (zeroed: empty) */
    rd_tcp_counters counters;
    rd_tcp_set *set;
    int index;
    int ep;                      /* the epoll instance, -1 before start */
    pthread_t thread;
    int started;
    rd_rcu_reader *rcu;          /* this thread's reader slot, taken at start */
    tcp_listen *listens;
    int nlisten;
    tcp_conn *conns;
    uint32_t nconns;
    uint32_t nopen;
    uint8_t *inbufs;             /* nconns x RD_TCP_INBUF, touched only as used */
    tcp_link free_list, lru, ready, fresh, held;
    tcp_link wheel[TCP_WHEEL_SLOTS];
    uint64_t wheel_now;          /* last tick the wheel was advanced to */
    tcp_client *clients;
    uint32_t client_mask;
    uint64_t client_seed;        /* random per worker: clients cannot aim at one chain */
    uint8_t *outpool;            /* nout x RD_TCP_OUT_CAP */
    int *out_free;
    int nout, nout_free;
    uint8_t *arena;              /* RD_TCP_MAX_BATCH x TCP_ANSWER_STRIDE */
    rd_batch_item items[RD_TCP_MAX_BATCH];
    uint32_t qstart[RD_TCP_MAX_BATCH];   /* where each item's query starts in the input */
    int iov_item[RD_TCP_MAX_BATCH];      /* the item each iov entry is the answer of */
    struct iovec iov[RD_TCP_MAX_BATCH];
    struct epoll_event events[TCP_EVENTS];
    rd_tcp_limits lim;           /* the limits of this turn */
    rd_transport tr;
    uint64_t now_ms;
    uint64_t now_ns;             /* when the turn began */
    const rd_db *db;             /* loaded once per turn (valid until the quiescent point) */
    rd_dnstap_ring *tap;         /* dnstap logging, or NULL */
    uint64_t wait_ns;            /* the last epoll_wait's wait, if it found events, else
                                  * UINT64_MAX: queries come within a hold of each other
                                  * while it is shorter than the hold (loop_wait) */
    uint32_t turn_queries;       /* queries answered this turn */
    uint32_t turn_batches;       /* connections' batches answered this turn */
    int last_busy;               /* the turn before was saturated (TCP_NAGLE_BUSY) */
    uint64_t busy_ns;            /* when a turn last was */
    uint32_t turn_churn;         /* connections accepted or closed this turn */
    uint32_t hold_backoff;       /* doubles with each hold that found nothing */
    uint32_t hold_skip;          /* light turns left before the next hold */
    int pipeline_held;           /* this turn came after a hold of pipeline_hold_us */
} __attribute__((aligned(64))) tcp_loop;

struct rd_tcp_set {
    _Atomic int stop;
    _Atomic uint32_t max_connections, max_per_client, idle_timeout_ms, max_pipelined, hold_us,
        nagle_rtt_us, pipeline_hold_us;
    int nloops;
    tcp_loop **loops;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
    return now_ns() / 1000000u;
}

/* ---- client table ---- */

/* An IPv4 address as itself; an IPv6 client as its /64 (one subscriber's allocation,
 * RFC 6177), so that rotating addresses inside it does not escape the cap. */
static void client_key(const struct sockaddr_in6 *peer, uint8_t key[16])
{
    memset(key, 0, 16);
    if (peer->sin6_family == AF_INET) {
        const struct sockaddr_in *p4 = (const struct sockaddr_in *)peer;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &p4->sin_addr, 4);
    } else {
        memcpy(key, &peer->sin6_addr, 8);
    }
}

static uint32_t client_hash(const tcp_loop *L, const uint8_t key[16])
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    uint64_t h = (a ^ L->client_seed) * 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 29) ^ b) * 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(h ^ (h >> 32));
}

/* Count one more connection of `key`; 0 when it already has `cap`. */
static int client_acquire(tcp_loop *L, const uint8_t key[16], uint32_t cap)
{
    uint32_t i = client_hash(L, key) & L->client_mask;
    while (L->clients[i].count) {
        if (memcmp(L->clients[i].key, key, 16) == 0) {
            if (L->clients[i].count >= cap)
                return 0;
            L->clients[i].count++;
            return 1;
        }
        i = (i + 1) & L->client_mask;
    }
    memcpy(L->clients[i].key, key, 16);     /* the table has twice the pool's slots */
    L->clients[i].count = 1;
    return 1;
}

static void client_release(tcp_loop *L, const uint8_t key[16])
{
    uint32_t m = L->client_mask, i = client_hash(L, key) & m;
    while (L->clients[i].count && memcmp(L->clients[i].key, key, 16) != 0)
        i = (i + 1) & m;
    if (!L->clients[i].count || --L->clients[i].count)
        return;
    /* Emptied: shift later entries of the probe run back so that lookups still find
     * them without tombstones (the entry at j may move to i unless its home slot lies
     * cyclically in (i, j]). */
    for (uint32_t j = (i + 1) & m; L->clients[j].count; j = (j + 1) & m) {
        uint32_t home = client_hash(L, L->clients[j].key) & m;
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            L->clients[i] = L->clients[j];
            L->clients[j].count = 0;
            i = j;
        }
    }
    L->clients[i].count = 0;
}

/* ---- timer wheel of idle deadlines ---- */

/* Put c in the slot of its deadline.  The deadline is not updated on every query: when a
 * slot comes due, a connection that was active since is moved to its new slot instead. */
static void wheel_insert(tcp_loop *L, tcp_conn *c)
{
    uint64_t deadline = c->last_ms + L->lim.idle_timeout_ms;
    uint64_t tick = (deadline + RD_TCP_TICK_MS - 1) / RD_TCP_TICK_MS;
    if (tick <= L->wheel_now)
        tick = L->wheel_now + 1;
    c->wheel_tick = tick;
    link_add_tail(&L->wheel[tick % TCP_WHEEL_SLOTS], &c->wheel);
}

static void conn_close(tcp_loop *L, tcp_conn *c, uint64_t *reason);
static void conn_touch(tcp_loop *L, tcp_conn *c);

/* Idle (RFC 7766 6.2.3) is no progress either way: a client still taking in the answers
 * queued for it (in our buffer or the kernel's) is not idle while the bytes it has
 * acknowledged grow.  Asked only at a deadline, so the answer path pays nothing.  (A
 * client that stopped reading may get one timeout more: what it acknowledged before its
 * first deadline counts as progress.) */
static int conn_delivering(tcp_conn *c)
{
    int queued = 0;
    if (!c->waiting_out && (ioctl(c->fd, SIOCOUTQ, &queued) < 0 || queued <= 0))
        return 0;
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0
        || len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
        return 0;
    int moved = ti.tcpi_bytes_acked != c->acked_seen;
    c->acked_seen = ti.tcpi_bytes_acked;
    return moved;
}

/* Close every connection whose idle timeout (RFC 7766 6.2.3) has passed. */
static void wheel_advance(tcp_loop *L)
{
    uint64_t target = L->now_ms / RD_TCP_TICK_MS;
    if (target <= L->wheel_now)
        return;
    uint64_t steps = target - L->wheel_now;
    if (steps > TCP_WHEEL_SLOTS)
        steps = TCP_WHEEL_SLOTS;          /* a late thread: each slot once is enough */
    for (uint64_t s = 1; s <= steps; s++) {
        tcp_link due;
        tcp_link *slot = &L->wheel[(L->wheel_now + s) % TCP_WHEEL_SLOTS];
        if (link_empty(slot))
            continue;
        /* Take the slot's list whole: entries put back below land in other lists. */
        due = *slot;
        due.next->prev = &due;
        due.prev->next = &due;
        link_init(slot);
        while (!link_empty(&due)) {
            tcp_conn *c = TCP_OF(due.next, wheel);
            link_del(&c->wheel);
            if (c->wheel_tick > target) {             /* a later round of the wheel */
                link_add_tail(&L->wheel[c->wheel_tick % TCP_WHEEL_SLOTS], &c->wheel);
                continue;
            }
            if (c->last_ms + L->lim.idle_timeout_ms > L->now_ms) {
                wheel_insert(L, c);
            } else if (conn_delivering(c)) {
                conn_touch(L, c);
                wheel_insert(L, c);
            } else {
                conn_close(L, c, &L->counters.timed_out);
            }
        }
    }
    L->wheel_now = target;
}

/* ---- connections ---- */

/* A listener bound to every address (0.0.0.0, ::, ::ffff:0.0.0.0). */
static int addr_is_any(const struct sockaddr_in6 *a)
{
    if (a->sin6_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
    static const uint8_t mapped_any[16] = { [10] = 0xff, [11] = 0xff };
    return IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr)
           || memcmp(&a->sin6_addr, mapped_any, 16) == 0;
}

static inline uint64_t conn_tag(const tcp_loop *L, const tcp_conn *c)
{
    return (uint64_t)c->gen << 32 | (uint32_t)(c - L->conns);
}

static void conn_ready(tcp_loop *L, tcp_conn *c, int ready)
{
    if (ready && !c->on_ready) {
        link_add_tail(&L->ready, &c->ready);
        c->on_ready = 1;
    } else if (!ready && c->on_ready) {
        link_del(&c->ready);
        c->on_ready = 0;
    }
}


/* Ask epoll for what the connection waits for: room to write while answers wait (no
 * reading meanwhile: flow control, RFC 7766 6.2.1.1 lets the server stop reading), else
 * queries until the client half-closes.  A new connection joins the set here, after its
 * first query was answered: the ADD then finds nothing to report, where an ADD before
 * the read would queue an event that the next epoll_wait only polls to drop.  -1 when
 * it could not join (closed). */
static int conn_want(tcp_loop *L, tcp_conn *c)
{
    uint32_t want = c->waiting_out ? EPOLLOUT : (c->eof || c->streaming) ? 0 : EPOLLIN;
    if (c->registered && want == c->events)
        return 0;
    if (!c->registered && want == EPOLLIN && !c->probed) {
        if (link_empty(&c->fresh))
            link_add_tail(&L->fresh, &c->fresh);    /* loop_fresh decides */
        return 0;
    }
    struct epoll_event ev = { .events = want, .data.u64 = conn_tag(L, c) };
    if (epoll_ctl(L->ep, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0) {
        c->events = want;
        c->registered = 1;
    } else if (!c->registered) {
        conn_close(L, c, &L->counters.accept_errors);
        return -1;
    }
    return 0;
}

/* A transfer stream ends (done, undone or closed): its slot and its database version go. */
static void conn_stream_end(tcp_conn *c)
{
    rd_xfr_end(&c->xfr);
    rd_db_unpin(c->xfr_db);
    c->xfr_db = NULL;
    c->streaming = 0;
}

static void conn_close(tcp_loop *L, tcp_conn *c, uint64_t *reason)
{
    if (reason)
        (*reason)++;
    if (c->streaming)
        conn_stream_end(c);
    if (c->out_slot >= 0)
        L->out_free[L->nout_free++] = c->out_slot;
    close(c->fd);                 /* also removes it from the epoll set */
    c->fd = -1;
    c->gen++;
    link_del(&c->wheel);
    conn_ready(L, c, 0);
    link_del(&c->fresh);
    link_del(&c->held);
    link_del(&c->lru);
    client_release(L, c->client);
    link_add_tail(&L->free_list, &c->lru);
    L->nopen--;
    L->counters.open = L->nopen;
    L->counters.closed++;
    L->turn_churn++;
}

/* A complete query (or a transfer message sent): the connection is active now. */
static void conn_touch(tcp_loop *L, tcp_conn *c)
{
    c->last_ms = L->now_ms;
    link_del(&c->lru);
    link_add_tail(&L->lru, &c->lru);
}

/* ---- answers left for the client's next segment to carry out ---- */

/* On loopback (and over a veth) the sender's sendmsg runs the receiver's TCP input in its
 * own softirq and wakes the receiving thread: an answer sent at once costs the server the
 * client's receive and wake-up (tcp_probe, -c 4 at 20k qps: 0.24 wake-ups of dnsperf per
 * answer from robdns's thread, about 7 us of its tcp_sendmsg per answer).  Knot leaves
 * TCP_NODELAY off and writes each answer apart, so the second of two answers waits
 * (Nagle, RFC 896; Linux holds a small segment while an earlier small one is not
 * acknowledged) until the client's next query acknowledges the first, then leaves from the
 * client's own context, and every later answer finds the one before it unacknowledged in
 * turn.  A connection that pipelines is put in that state, where server.tcp.nagle_rtt_us
 * allows it (200 us by default): TCP_NODELAY off, and a turn's last answer of two or more
 * in a sendmsg of its own.  It pipelines when a turn has two answers for it (up to
 * TCP_HOLD_LIGHT: more already share a segment), or one while its previous answers were
 * written less than TCP_NAGLE_NS ago: a client paced below saturation (dnsperf -c 4 at
 * 20k qps: 5k queries/s a connection) sends one query per turn, each turn's answer a
 * segment of its own sent from the worker, and with only the first rule seldom entered
 * it (tcp_probe, busy: no setsockopt at all; 0.80 segments sent from the worker's
 * context per answer, 0.32 with the second rule, Knot 0.18-0.32).  A client that asks
 * one query at a time, each after its answer, may enter it too and loses nothing: its
 * answers find nothing unacknowledged and leave at once.  The answers held cost about a
 * query interval of latency each, as Knot's (tcp_bench, real-time, -c 4 at 20k: 226 us
 * against Knot's 228, 156 not held).
 * Unbounded, an answer would wait for the client's delayed ACK when it asks nothing more
 * (40 ms on Linux), so a connection not written to for TCP_NAGLE_NS gets TCP_NODELAY back
 * (loop_nagle), which sends what waits and ends the state until its next pipelined turn.
 * A connection whose client is farther than server.tcp.nagle_rtt_us (tcpi_min_rtt: the
 * path's round trip without the delays of queueing and delayed ACKs) never enters it: its
 * answers would wait about a round trip each while it keeps asking.
 * Nor does a saturated worker hold answers (its last turn answered TCP_NAGLE_BUSY queries
 * or more, TCP_NAGLE_BUSY_PER or more per connection on average): there every turn sends
 * many answers per segment and per wake-up of the client already, and the second sendmsg
 * and the answers held for a client's next query cost rate for nothing; nor are
 * connections put in it until TCP_NAGLE_CALM_NS after such a turn (a saturated worker's
 * occasional light turn put them in and its next busy turn took them out, two setsockopt
 * and a split sendmsg each time: -c 4 saturated 0.85-0.88x the rate of answers never
 * held, 1.00x with the pause).  A turn of many connections with an answer or two each is
 * not saturated in that sense, however many it answers: each answer is a segment of its
 * own either way, and there holding pays the most (dnsperf -c 100: 1.0-2.1 answers per
 * connection and turn, against 10 at -c 4 saturated; counted by the turn's size alone,
 * every -c 100 turn was busy and none held: 0.82x Knot's CPU per query, 0.52x held, under
 * chrt -r 1). */
/* Only a client nearer than lim.nagle_rtt_us (the connection's smallest round trip,
 * TCP_INFO) has answers held: each waits for the client's next segment, about a round trip
 * on a connection that keeps asking, so a far client would find its answers late by as
 * much (review of 22c375e: 20-50 ms across the Internet). */
static void conn_nagle_on(tcp_loop *L, tcp_conn *c)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0
        || len < offsetof(struct tcp_info, tcpi_min_rtt) + sizeof ti.tcpi_min_rtt
        || ti.tcpi_min_rtt >= L->lim.nagle_rtt_us) {
        c->far = 1;              /* asked once: a connection's path does not come closer */
        return;
    }
    int off = 0;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &off, sizeof(off)) == 0) {
        c->nagle = 1;
        L->counters.nagle_entered++;
    }
}

/* TCP_NODELAY on again: what the kernel still holds is sent now (tcp_push_pending_frames). */
static void conn_nagle_off(tcp_conn *c)
{
    static const int on = 1;
    link_del(&c->held);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    c->nagle = 0;
}

/* Written to while in the state: its deadline moves on. */
static void conn_nagle_touch(tcp_loop *L, tcp_conn *c)
{
    c->nagle_ns = L->now_ns + TCP_NAGLE_NS;
    link_del(&c->held);
    link_add_tail(&L->held, &c->held);
}

/* Connections written to last TCP_NAGLE_NS ago or more leave the state. */
static void loop_nagle(tcp_loop *L)
{
    while (!link_empty(&L->held)) {
        tcp_conn *c = TCP_OF(L->held.next, held);
        if (c->nagle_ns > L->now_ns)
            return;
        conn_nagle_off(c);
    }
}

/* epoll_wait's timeout: the wheel's tick, or sooner the first deadline of loop_nagle. */
static int loop_timeout(tcp_loop *L)
{
    if (link_empty(&L->held))
        return RD_TCP_TICK_MS;
    uint64_t due = TCP_OF(L->held.next, held)->nagle_ns, now = now_ns();
    if (due <= now)
        return 0;
    uint64_t ms = (due - now + 999999u) / 1000000u;
    return ms < RD_TCP_TICK_MS ? (int)ms : RD_TCP_TICK_MS;
}

/* Send iov[0..n) (whole messages with their length prefixes; the output buffer is empty):
 * what the kernel does not take now is copied to an output buffer and sent when the
 * socket is writable, at most RD_TCP_OUT_CAP of it.  Returns how many of the messages are
 * sent or kept (n, or fewer when the rest would pass the cap: the caller drops those), or
 * -1 when the connection was closed (an error, or no output buffer free). */
static int conn_send(tcp_loop *L, tcp_conn *c, struct iovec *iov, int n)
{
    if (c->nagle)
        conn_nagle_touch(L, c);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
    ssize_t w;
    do
        w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_close(L, c, &L->counters.resets);
            return -1;
        }
        w = 0;
    }
    if ((size_t)w == total)
        return n;
    /* The client reads slower than it asks: keep the message the kernel took a part of
     * (if any) and then whole messages while they fit in RD_TCP_OUT_CAP, one always does
     * (a message is at most 2 + 65535 bytes); the rest is not buffered. */
    size_t sent = 0, left = 0;
    int keep = 0;
    while (keep < n && sent + iov[keep].iov_len <= (size_t)w)
        sent += iov[keep++].iov_len;
    if (sent < (size_t)w) {
        left = sent + iov[keep].iov_len - (size_t)w;
        keep++;
    }
    while (keep < n && left + iov[keep].iov_len <= RD_TCP_OUT_CAP)
        left += iov[keep++].iov_len;
    /* Buffers come from a pool made at start: with every one in use by others, closed
     * rather than buffered without bound. */
    if (c->out_slot < 0) {
        if (L->nout_free == 0) {
            conn_close(L, c, &L->counters.output_overflow);
            return -1;
        }
        c->out_slot = L->out_free[--L->nout_free];
    }
    uint8_t *out = L->outpool + (size_t)c->out_slot * RD_TCP_OUT_CAP;
    size_t skip = (size_t)w, o = 0;
    for (int i = 0; i < keep; i++) {
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(out + o, (const uint8_t *)iov[i].iov_base + skip, len - skip);
        o += len - skip;
        skip = 0;
    }
    c->out_off = 0;
    c->out_len = (uint32_t)o;
    c->waiting_out = 1;
    return keep;
}

/* After a connection's turn: queue it again if complete queries wait in its input, close
 * it once a half-closed client has had every answer; -1 when closed. */
static int conn_after(tcp_loop *L, tcp_conn *c)
{
    int frame = 0;
    if (c->inlen >= 2) {
        uint32_t len = rd_get16(c->in);
        frame = len == 0 || len > RD_TCP_QUERY_MAX || c->inlen >= 2 + len;
    }
    int busy = c->waiting_out || c->streaming;
    conn_ready(L, c, c->streaming ? !c->waiting_out : (frame && !busy));
    if (c->eof && !busy && !frame) {
        /* RFC 7766 6.2.4 lets a server close once the client has half-closed and every
         * answer is sent; bytes of an unfinished message are dropped. */
        conn_close(L, c, c->inlen ? &L->counters.truncated_eof : NULL);
        return -1;
    }
    return conn_want(L, c);
}

static int conn_serve(tcp_loop *L, tcp_conn *c);
static void loop_fresh(tcp_loop *L);

/* dnstap of a zone transfer, as Knot logs one: its request (an AUTH_QUERY, no response)
 * when it starts, then each message sent (an AUTH_RESPONSE, no query repeated). */
static void conn_tap_xfr(tcp_loop *L, tcp_conn *c, const uint8_t *q, size_t qlen,
                         const uint8_t *resp, size_t resplen)
{
    rd_dnstap_event e = {
        .client = (const struct sockaddr *)&c->peer,
        .server = (const struct sockaddr *)&c->local,
        .tcp = 1, .query_time = c->xfr_time, .query = q, .query_len = qlen,
        .response = resp, .response_len = resplen,
    };
    if (resp)
        clock_gettime(CLOCK_REALTIME, &e.response_time);
    rd_dnstap_log(L->tap, &e);
}

/* Send the next messages of a transfer (a few per turn: others keep being served). */
static int conn_stream(tcp_loop *L, tcp_conn *c)
{
    for (int k = 0; k < TCP_STREAM_BURST && !c->waiting_out; k++) {
        uint8_t *buf = L->arena;
        size_t n = rd_xfr_next(&c->xfr, buf + 2, 65535);
        if (n == 0) {
            conn_stream_end(c);
            return conn_serve(L, c);        /* the queries that came after the transfer */
        }
        rd_put16(buf, (uint16_t)n);
        if (c->xfr_tap)
            conn_tap_xfr(L, c, NULL, 0, buf + 2, n);
        struct iovec v = { buf, n + 2 };
        if (conn_send(L, c, &v, 1) < 0)
            return -1;
        conn_touch(L, c);                   /* a long transfer is not idle */
    }
    return conn_after(L, c);
}

/* dnstap: the sampled queries of a batch of c and their answers, into this worker's ring
 * (dropped and counted when it is full: never waited for). */
static void conn_tap(tcp_loop *L, tcp_conn *c, int n, const struct timespec *t_query)
{
    struct timespec t_resp;
    clock_gettime(CLOCK_REALTIME, &t_resp);
    for (int k = 0; k < n; k++) {
        if (!rd_dnstap_sampled(L->tap))
            continue;
        const rd_batch_item *it = &L->items[k];
        rd_dnstap_event e = {
            .client = (const struct sockaddr *)&c->peer,
            .server = (const struct sockaddr *)&c->local,
            .tcp = 1, .query_time = *t_query, .response_time = t_resp,
            .query = it->q, .query_len = it->qlen,
            .response = it->resplen ? it->resp : NULL, .response_len = it->resplen,
        };
        rd_dnstap_log(L->tap, &e);
    }
}

/* Answer the complete queries in c's input, up to max_pipelined of them, in one batch
 * written with one sendmsg.  -1 when the connection was closed. */
static int conn_serve(tcp_loop *L, tcp_conn *c)
{
    if (c->waiting_out || c->streaming)
        return conn_after(L, c);
    const rd_db *db = L->db;
    uint32_t off = 0;
    int n = 0, xfr = 0;
    const uint8_t *xq = NULL;               /* the transfer's request, for dnstap */
    uint32_t xqlen = 0;
    /* Queries whose answers were dropped at the output cap are answered again, in a
     * batch of their own, without counting them twice. */
    uint32_t most = L->lim.max_pipelined;
    rd_stats *stats = &L->stats;
    if (c->recount) {
        most = c->recount < most ? c->recount : most;
        stats = NULL;
    }
    while ((uint32_t)n < most && c->inlen - off >= 2) {
        uint32_t len = rd_get16(c->in + off);
        if (len == 0) {
            /* RFC 1035 4.1.1: a message holds at least a header; 0 cannot be a query. */
            conn_close(L, c, &L->counters.zero_length);
            return -1;
        }
        if (len > RD_TCP_QUERY_MAX) {
            conn_close(L, c, &L->counters.oversized);
            return -1;
        }
        if (c->inlen - off < 2 + len)
            break;                          /* the rest of it is still on its way */
        const uint8_t *q = c->in + off + 2;
        uint32_t start = off;
        off += 2 + len;
        if (!db) {
            L->counters.no_database++;
            continue;
        }
        if (rd_xfr_start(&c->xfr, db, q, len, (const struct sockaddr *)&c->peer)) {
            xfr = 1;                        /* answered after the queries before it */
            xq = q;
            xqlen = len;
            break;
        }
        L->qstart[n] = start;
        rd_batch_item *it = &L->items[n++];
        it->q = q;
        it->qlen = len;
        it->resp = L->arena + (size_t)(n - 1) * TCP_ANSWER_STRIDE + 2;
        it->respcap = 65535;
        it->resplen = 0;
        /* The peer's address: DNS Cookies bind to it (RFC 7873 5.2.3: over TCP). */
        if (c->peer.sin6_family == AF_INET6) {
            it->client = (const uint8_t *)&c->peer.sin6_addr;
            it->client_len = 16;
        } else {
            it->client = (const uint8_t *)&((const struct sockaddr_in *)&c->peer)->sin_addr;
            it->client_len = 4;
        }
    }
    if (off)
        conn_touch(L, c);
    if (xfr) {
        /* Held from now on, so that a close below (a failed send) ends the stream too. */
        rd_db_pin(db);                      /* kept past this turn's quiescent point */
        c->xfr_db = db;
        c->streaming = 1;
        L->counters.xfr_streams++;
    }
    if (n) {
        struct timespec t_query;
        if (L->tap)
            clock_gettime(CLOCK_REALTIME, &t_query);
        rd_answer_batch(db, L->items, (size_t)n, &L->tr, stats);
        L->counters.batches++;
        L->turn_batches++;
        L->turn_queries += (uint32_t)n;
        if (!stats)
            c->recount -= (uint32_t)n;
        int niov = 0;
        for (int k = 0; k < n; k++) {
            rd_batch_item *it = &L->items[k];
            if (!it->resplen)
                continue;                   /* RFC 1035 4.1.1: nothing to send back */
            rd_put16(it->resp - 2, (uint16_t)it->resplen);
            L->iov[niov].iov_base = it->resp - 2;
            L->iov[niov].iov_len = it->resplen + 2;
            L->iov_item[niov] = k;
            niov++;
        }
        /* Sent before the input moves: the queries are not read after this point.  Two
         * answers or more: the last one apart, for the kernel to hold (conn_nagle_on). */
        int light = !L->last_busy;
        int calm = light && L->now_ns - L->busy_ns >= TCP_NAGLE_CALM_NS;
        int pipelining = niov < TCP_HOLD_LIGHT
                         && (niov >= 2
                             || (niov && c->sent_ns && L->now_ns - c->sent_ns < TCP_NAGLE_NS));
        if (niov)
            c->sent_ns = L->now_ns;
        if (pipelining && !c->nagle && !c->far && calm)
            conn_nagle_on(L, c);
        else if (c->nagle && !light)
            conn_nagle_off(c);
        int kept = niov ? conn_send(L, c, L->iov, niov - (c->nagle && niov >= 2)) : 0;
        if (c->nagle && niov >= 2 && kept == niov - 1 && !c->waiting_out) {
            int last = conn_send(L, c, L->iov + niov - 1, 1);
            kept = last < 0 ? -1 : kept + last;
        }
        if (kept < 0)
            return -1;
        int done = n;
        if (kept < niov) {
            /* RFC 7766 6.2.1.1 lets a server stop reading a client that does not read:
             * the answers past the output cap are dropped and their queries stay in the
             * input, counted once (recount), to be answered when it has read. */
            done = L->iov_item[kept];
            off = L->qstart[done];
            c->recount += (uint32_t)(n - done);
            L->counters.output_throttled++;
            if (xfr) {                      /* its query comes after them: later too */
                conn_stream_end(c);
                L->counters.xfr_streams--;
                xfr = 0;
            }
        }
        if (L->tap)
            conn_tap(L, c, done, &t_query);
    }
    if (xfr) {                              /* it does start: logged before the input moves */
        c->xfr_tap = L->tap && rd_dnstap_sampled(L->tap);
        if (c->xfr_tap) {
            clock_gettime(CLOCK_REALTIME, &c->xfr_time);
            conn_tap_xfr(L, c, xq, xqlen, NULL, 0);
        }
    }
    if (off) {
        memmove(c->in, c->in + off, c->inlen - off);
        c->inlen -= off;
    }
    if (xfr && !c->waiting_out)
        return conn_stream(L, c);           /* after the answers queued before it */
    return conn_after(L, c);
}

/* Read what the kernel has for c (once per turn: every connection gets its turn). */
static void conn_read(tcp_loop *L, tcp_conn *c)
{
    if (c->waiting_out || c->streaming || c->eof)
        return;
    size_t room = RD_TCP_INBUF - c->inlen;
    if (room) {
        ssize_t r = read(c->fd, c->in + c->inlen, room);
        if (r > 0) {
            c->inlen += (uint32_t)r;
        } else if (r == 0) {
            c->eof = 1;                     /* half-close: answer what came first */
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return;
        } else {
            conn_close(L, c, &L->counters.resets);
            return;
        }
    }
    conn_serve(L, c);
}

/* The socket took (some of) the waiting answers. */
static void conn_flush(tcp_loop *L, tcp_conn *c)
{
    if (c->waiting_out) {
        const uint8_t *out = L->outpool + (size_t)c->out_slot * RD_TCP_OUT_CAP;
        if (c->nagle)
            conn_nagle_touch(L, c);
        ssize_t w = send(c->fd, out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            conn_close(L, c, &L->counters.resets);
            return;
        }
        c->out_off += (uint32_t)w;
        if (c->out_off < c->out_len)
            return;
        L->out_free[L->nout_free++] = c->out_slot;
        c->out_slot = -1;
        c->waiting_out = 0;
    }
    if (c->streaming)
        conn_stream(L, c);
    else
        conn_serve(L, c);
}

static void conn_evict_longest_idle(tcp_loop *L)
{
    if (!link_empty(&L->lru))
        conn_close(L, TCP_OF(L->lru.next, lru), &L->counters.evicted);
}

/* Take the new connection fd from peer, accepted on `ln`, or refuse it. */
static void conn_open(tcp_loop *L, const tcp_listen *ln, int fd, const struct sockaddr_in6 *peer)
{
    uint8_t key[16];
    client_key(peer, key);
    /* At a limit, the connections answered at accept earlier in this turn are probed now
     * instead of at its end (loop_fresh): a client that asks one question and closes
     * before it connects again may have gone, and its slot is its own to take again. */
    if (!client_acquire(L, key, L->lim.max_per_client)) {
        loop_fresh(L);
        if (!client_acquire(L, key, L->lim.max_per_client)) {
            L->counters.per_client_refused++;
            close(fd);
            return;
        }
    }
    if (L->nopen >= L->lim.max_connections)
        loop_fresh(L);
    /* RFC 7766 6.2.2: at the limit, the connection idle the longest makes room. */
    while (L->nopen >= L->lim.max_connections && !link_empty(&L->lru))
        conn_evict_longest_idle(L);
    tcp_conn *c = TCP_OF(L->free_list.next, lru);
    link_del(&c->lru);
    c->fd = fd;
    c->eof = c->waiting_out = c->streaming = c->on_ready = c->nagle = c->far = 0;
    c->inlen = 0;
    c->out_off = c->out_len = 0;
    c->out_slot = -1;
    c->recount = 0;
    c->acked_seen = 0;
    c->sent_ns = 0;
    c->xfr_db = NULL;
    c->peer = *peer;
    if (L->tap) {                           /* dnstap's response address */
        socklen_t len = sizeof(c->local);
        if (!ln->wildcard)
            c->local = ln->addr;            /* known since start: no system call */
        else if (getsockname(fd, (struct sockaddr *)&c->local, &len) < 0)
            memset(&c->local, 0, sizeof(c->local));
    }
    memcpy(c->client, key, 16);
    c->last_ms = L->now_ms;
    link_add_tail(&L->lru, &c->lru);
    wheel_insert(L, c);
    L->nopen++;
    L->counters.open = L->nopen;
    c->events = 0;
    c->registered = 0;
    /* With TCP_DEFER_ACCEPT the query is usually here already: answered now, and the
     * connection joins the epoll set at the end of that turn (conn_want); when nothing
     * came yet, it joins now. */
    uint32_t gen = c->gen;
    c->probed = 0;
    conn_read(L, c);
    if (c->gen == gen && !c->registered && link_empty(&c->fresh)) {
        c->probed = 1;                      /* nothing came yet: it joins now */
        conn_want(L, c);
    }
}

/* Connections answered at accept this turn, before any joins the epoll set: a client
 * that asks one question (the pattern of retries after TC=1) has often read its answer
 * and closed by now, and one read finds that out; such a connection is closed without
 * ever being added to (and removed from) the set.  The others join it now. */
static void loop_fresh(tcp_loop *L)
{
    while (!link_empty(&L->fresh)) {
        tcp_conn *c = TCP_OF(L->fresh.next, fresh);
        link_del(&c->fresh);
        c->probed = 1;
        uint32_t gen = c->gen;
        conn_read(L, c);
        if (c->gen == gen && !c->registered)
            conn_want(L, c);
    }
}

static void loop_accept(tcp_loop *L, const tcp_listen *ln)
{
    for (int k = 0; k < TCP_ACCEPTS; k++) {
        struct sockaddr_in6 peer;
        socklen_t plen = sizeof(peer);
        memset(&peer, 0, sizeof(peer));
        int fd = accept4(ln->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            L->counters.accept_errors++;
            /* Out of descriptors: the longest idle connection gives one back, else the
             * listener would stay readable and the loop spin. */
            if ((errno == EMFILE || errno == ENFILE) && !link_empty(&L->lru))
                conn_evict_longest_idle(L);
            return;
        }
        L->counters.accepted++;
        L->turn_churn++;
        conn_open(L, ln, fd, &peer);
    }
}

static void loop_event(tcp_loop *L, const struct epoll_event *ev)
{
    uint32_t idx = (uint32_t)ev->data.u64;
    if (idx >= L->nconns) {
        loop_accept(L, &L->listens[idx - L->nconns]);
        return;
    }
    tcp_conn *c = &L->conns[idx];
    if (c->fd < 0 || c->gen != (uint32_t)(ev->data.u64 >> 32))
        return;                             /* closed earlier in this turn */
    /* A reset (ERR) or both directions shut (HUP): nothing can be sent back, so close at
     * once instead of a read that would only fetch the error (a client closing with RST
     * after its one answer, the connection-per-query pattern, costs a system call less). */
    if (ev->events & (EPOLLERR | EPOLLHUP))
        conn_close(L, c, &L->counters.resets);
    else if (ev->events & EPOLLOUT)
        conn_flush(L, c);
    else if (ev->events & EPOLLIN)
        conn_read(L, c);
}

/* Connections with complete queries left in their input (more than max_pipelined came at
 * once) or a transfer going on: their next turn. */
static void loop_ready(tcp_loop *L)
{
    if (link_empty(&L->ready))
        return;
    tcp_link now;
    now = L->ready;
    now.next->prev = &now;
    now.prev->next = &now;
    link_init(&L->ready);
    while (!link_empty(&now)) {
        tcp_conn *c = TCP_OF(now.next, ready);
        link_del(&c->ready);
        c->on_ready = 0;
        if (c->streaming)
            conn_stream(L, c);
        else
            conn_serve(L, c);
    }
}

static void loop_limits(tcp_loop *L)
{
    rd_tcp_set *s = L->set;
    uint32_t maxc = atomic_load_explicit(&s->max_connections, memory_order_relaxed);
    uint32_t pipe = atomic_load_explicit(&s->max_pipelined, memory_order_relaxed);
    uint32_t idle = atomic_load_explicit(&s->idle_timeout_ms, memory_order_relaxed);
    L->lim.max_connections = maxc < 1 ? 1 : maxc > L->nconns ? L->nconns : maxc;
    L->lim.max_per_client = atomic_load_explicit(&s->max_per_client, memory_order_relaxed);
    L->lim.max_pipelined = pipe < 1 ? 1 : pipe > RD_TCP_MAX_BATCH ? RD_TCP_MAX_BATCH : pipe;
    uint32_t hold = atomic_load_explicit(&s->hold_us, memory_order_relaxed);
    L->lim.hold_us = hold > RD_TCP_HOLD_MAX_US ? RD_TCP_HOLD_MAX_US : hold;
    hold = atomic_load_explicit(&s->pipeline_hold_us, memory_order_relaxed);
    L->lim.pipeline_hold_us = hold > RD_TCP_HOLD_MAX_US ? RD_TCP_HOLD_MAX_US : hold;
    uint32_t rtt = atomic_load_explicit(&s->nagle_rtt_us, memory_order_relaxed);
    L->lim.nagle_rtt_us = rtt > RD_TCP_NAGLE_RTT_MAX_US ? RD_TCP_NAGLE_RTT_MAX_US : rtt;
    idle = idle < 1 ? 1 : idle;
    if (idle != L->lim.idle_timeout_ms) {
        /* A new timeout (a reload): every connection moves to the slot of its new
         * deadline now, else a shorter timeout would wait for the old, later slots. */
        L->lim.idle_timeout_ms = idle;
        for (uint32_t i = 0; i < L->nconns; i++) {
            if (L->conns[i].fd >= 0) {
                link_del(&L->conns[i].wheel);
                wheel_insert(L, &L->conns[i]);
            }
        }
    }
    /* RFC 7828 3.3.2: TIMEOUT in units of 100 ms, the timeout this connection has. */
    uint32_t ka = L->lim.idle_timeout_ms / 100;
    L->tr.keepalive = (uint16_t)(ka > 65535 ? 65535 : ka);
}

/* A hold found nothing: not holding until events come within a hold again, and the next
 * 1, 2, 4 ... TCP_HOLD_BACKOFF_MAX holds skipped. */
static void loop_hold_missed(tcp_loop *L)
{
    L->counters.holds_empty++;
    L->wait_ns = UINT64_MAX;
    L->hold_backoff = L->hold_backoff ? 2 * L->hold_backoff : 1;
    if (L->hold_backoff > TCP_HOLD_BACKOFF_MAX)
        L->hold_backoff = TCP_HOLD_BACKOFF_MAX;
    L->hold_skip = L->hold_backoff;
}

/* Wait for the next turn's events.  A worker woken for every query pays a wake-up
 * (scheduler, idle exit, epoll_wait's return) per answer, several times the answer's cost.
 * Short connections are where that is paid in full: each one asks one question (the
 * pattern of retries after TC=1), then goes, and its arrival and its close each cost a
 * wake-up of their own, where a worker slower to wake takes several at once.  So after a
 * light turn that opened or closed a connection (fewer than TCP_HOLD_LIGHT answers,
 * shorter than the hold) while events come within a hold of each other, the worker
 * sleeps hold_us before it asks epoll, and the next turn accepts, answers and closes what
 * came meanwhile.  Long-lived connections are held too, after a light turn of theirs
 * (fewer than TCP_PIPELINE_LIGHT answers) while their events come within a hold of each
 * other, for pipeline_hold_us: on loopback each turn's sends also run the client's receive
 * and wake it up (tcp_probe --profile, -c 4 at 20k qps: 5.7 of robdns's 19.3 us per
 * answer in tcp_v4_rcv, 4.0 of them waking dnsperf), so a turn that answers several
 * connections at once wakes the client once for them all, and the worker itself once.
 * Before it sleeps the worker looks once more (epoll_wait, no wait): its answers have just
 * acknowledged the client's queries, and what the client's Nagle algorithm (RFC 896) held
 * back behind them came with that acknowledgement, inside the worker's own send; answered
 * at once, not a hold later, it does not double the hold's latency (real-time, -c 4 at
 * 20k, a hold of 250 us: 541 us without the look, 193 with it, Knot's 224).  A hold
 * that gathered fewer than TCP_PIPELINE_GATHER queries counts as one that found nothing
 * (below): a lone client that asks one query at a time, each after its answer, gives
 * nothing to gather and is seldom held (once per 1, 2, 4 ... TCP_HOLD_BACKOFF_MAX turns);
 * several such clients on one worker do gather, and their queries wait up to a hold.
 * The two holds share one backoff: thin pipeline holds also defer connection-churn holds
 * for as many light turns, and the reverse (a worker seldom sees both kinds at once).
 * Connections whose answers wait for the client (conn_nagle_on) are held the same way,
 * for pipeline_hold_us: their answers no longer acknowledge the client's queries at once,
 * so its queries come one a segment, a wake-up each unless held, and an answer written
 * during the hold leaves with the client's next query all the same; the gathering rule
 * keeps a client that asks one query at a time, which may be in that state too, from
 * being held for nothing (they used to take every light turn's hold_us hold, without
 * that rule: real-time, -c 4 at 20k, the same CPU per query at 223 us against 208 and
 * twice the wake-ups).  A pipelining client saturating the worker is not held either
 * way: its turns are not light.  A hold that found nothing, or a wait longer than a hold,
 * ends the holding: a quiet worker blocks in epoll_wait at once.  A hold that found
 * nothing cost a wake-up of its own, so the next ones are skipped for 1, 2, 4 ...
 * TCP_HOLD_BACKOFF_MAX light turns until one finds something: clients that come about a
 * hold apart are not held for nothing every other turn.  Without holds (hold_us and pipeline_hold_us 0) the clock is not read
 * around the wait. */
static int loop_wait(tcp_loop *L, uint64_t turn_ns, uint32_t answered, uint32_t churn)
{
    if (L->pipeline_held) {
        /* A hold that gathered fewer than TCP_PIPELINE_GATHER queries (clients asking one
         * at a time, each waiting for its answer) only delayed them: counted as one that
         * found nothing. */
        L->pipeline_held = 0;
        if (answered < TCP_PIPELINE_GATHER)
            loop_hold_missed(L);
        else
            L->hold_backoff = 0;
    }
    if (!link_empty(&L->ready))
        return epoll_wait(L->ep, L->events, TCP_EVENTS, 0);
    uint64_t hold = (uint64_t)L->lim.hold_us * 1000u;
    uint64_t phold = (uint64_t)L->lim.pipeline_hold_us * 1000u;
    if (!hold && !phold) {
        L->wait_ns = UINT64_MAX;
        return epoll_wait(L->ep, L->events, TCP_EVENTS, loop_timeout(L));
    }
    uint64_t h = 0;                     /* the hold this turn may take */
    int pipelined = !churn;
    if (!pipelined)
        h = answered < TCP_HOLD_LIGHT ? hold : 0;
    else if (answered)
        h = answered < TCP_PIPELINE_LIGHT ? phold : 0;
    if (h && L->wait_ns < h && turn_ns < h) {
        if (L->hold_skip) {
            L->hold_skip--;
        } else {
            if (pipelined) {
                /* What the client's Nagle held back is here already: answered now. */
                int n = epoll_wait(L->ep, L->events, TCP_EVENTS, 0);
                if (n != 0)
                    return n;
            }
            struct timespec ts = { 0, (long)h };
            L->counters.holds++;
            nanosleep(&ts, NULL);
            int n = epoll_wait(L->ep, L->events, TCP_EVENTS, 0);
            if (n != 0) {
                if (!pipelined)
                    L->hold_backoff = 0;
                L->pipeline_held = pipelined;
                return n;
            }
            loop_hold_missed(L);
        }
    }
    uint64_t t0 = now_ns();
    int n = epoll_wait(L->ep, L->events, TCP_EVENTS, loop_timeout(L));
    L->wait_ns = n > 0 ? now_ns() - t0 : UINT64_MAX;
    return n;
}

static void *loop_run(void *arg)
{
    tcp_loop *L = arg;
    char name[16];                      /* "robdns-tcp/N" in top -H, ps -L, /proc/.../comm */
    snprintf(name, sizeof(name), "robdns-tcp/%d", L->index);
    pthread_setname_np(pthread_self(), name);
    /* The hold's sleep ends within 10 us of hold_us, not the default 50 us later. */
    prctl(PR_SET_TIMERSLACK, 10000UL, 0, 0, 0);
    rd_rcu_reader *rcu = L->rcu;
    L->now_ms = now_ms();
    L->wheel_now = L->now_ms / RD_TCP_TICK_MS;
    uint64_t turn_ns = 0;
    while (!atomic_load_explicit(&L->set->stop, memory_order_relaxed)) {
        loop_limits(L);
        /* Offline while blocked: an idle worker must not hold up a reload. */
        rd_rcu_offline(rcu);
        int n = loop_wait(L, turn_ns, L->turn_queries, L->turn_churn);
        L->last_busy = L->turn_queries >= TCP_NAGLE_BUSY
                       && L->turn_queries >= TCP_NAGLE_BUSY_PER * L->turn_batches;
        if (L->last_busy)
            L->busy_ns = L->now_ns;         /* when that turn began: near enough */
        L->turn_queries = L->turn_churn = L->turn_batches = 0;
        rd_rcu_online(rcu);
        uint64_t t_turn = now_ns();
        L->now_ns = t_turn;
        L->now_ms = t_turn / 1000000u;
        L->db = rd_db_current();
        /* Connections first, listeners after: a client that closed and connected again
         * within the turn is not refused at its per-client cap, nor someone evicted at
         * max_connections, for a departure this turn is about to see. */
        for (int i = 0; i < n; i++)
            if ((uint32_t)L->events[i].data.u64 < L->nconns)
                loop_event(L, &L->events[i]);
        for (int i = 0; i < n; i++)
            if ((uint32_t)L->events[i].data.u64 >= L->nconns)
                loop_event(L, &L->events[i]);
        loop_ready(L);
        loop_fresh(L);
        loop_nagle(L);
        wheel_advance(L);
        L->db = NULL;
        rd_rcu_quiescent(rcu);          /* the db is not used past this point (pins aside) */
        /* A turn longer than its hold is not held (loop_wait); without holds configured
         * the clock is not read. */
        turn_ns = L->lim.hold_us || L->lim.pipeline_hold_us ? now_ns() - t_turn : 0;
    }
    for (uint32_t i = 0; i < L->nconns; i++)
        if (L->conns[i].fd >= 0)
            conn_close(L, &L->conns[i], NULL);
    rd_rcu_offline(rcu);                /* the slot is given back by loop_free */
    return NULL;
}

/* ---- start and stop ---- */

static void loop_free(tcp_loop *L)
{
    if (!L)
        return;
    if (L->ep >= 0)
        close(L->ep);
    rd_rcu_unregister(L->rcu);
    free(L->listens); free(L->conns); free(L->inbufs); free(L->clients);
    free(L->outpool); free(L->out_free); free(L->arena);
    free(L);
}

static tcp_loop *loop_new(rd_tcp_set *set, int index, uint32_t pool,
                          const rd_tcp_listener *ls, int nls)
{
    tcp_loop *L = aligned_alloc(64, sizeof(*L));
    if (!L)
        return NULL;
    memset(L, 0, sizeof(*L));
    L->wait_ns = UINT64_MAX;
    L->set = set;
    L->index = index;
    L->ep = epoll_create1(EPOLL_CLOEXEC);
    L->nconns = pool;
    uint32_t tsize = 16;
    while (tsize < 2 * pool)
        tsize <<= 1;
    L->client_mask = tsize - 1;
    L->nout = pool < TCP_OUT_POOL_MAX ? (int)pool : TCP_OUT_POOL_MAX;
    L->listens = calloc((size_t)nls + 1, sizeof(*L->listens));
    L->conns = calloc(pool, sizeof(*L->conns));
    L->inbufs = malloc((size_t)pool * RD_TCP_INBUF);
    L->clients = calloc(tsize, sizeof(*L->clients));
    L->outpool = malloc((size_t)L->nout * RD_TCP_OUT_CAP);
    L->out_free = calloc((size_t)L->nout, sizeof(int));
    L->arena = malloc((size_t)RD_TCP_MAX_BATCH * TCP_ANSWER_STRIDE);
    if (L->ep < 0 || !L->listens || !L->conns || !L->inbufs || !L->clients || !L->outpool
        || !L->out_free || !L->arena) {
        loop_free(L);
        return NULL;
    }
    if (getrandom(&L->client_seed, sizeof(L->client_seed), GRND_NONBLOCK) != sizeof(L->client_seed))
        L->client_seed = (uint64_t)now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)L;
    link_init(&L->free_list);
    link_init(&L->lru);
    link_init(&L->ready);
    link_init(&L->fresh);
    link_init(&L->held);
    for (int i = 0; i < TCP_WHEEL_SLOTS; i++)
        link_init(&L->wheel[i]);
    for (uint32_t i = 0; i < pool; i++) {
        tcp_conn *c = &L->conns[i];
        c->fd = -1;
        c->out_slot = -1;
        c->in = L->inbufs + (size_t)i * RD_TCP_INBUF;
        link_init(&c->wheel);
        link_init(&c->ready);
        link_init(&c->fresh);
        link_init(&c->held);
        link_add_tail(&L->free_list, &c->lru);
    }
    for (int i = 0; i < L->nout; i++)
        L->out_free[i] = i;
    L->nout_free = L->nout;
    L->tr.tcp = 1;
    L->tr.family = 0;
    L->tr.cookie_cache = &L->cookies;
    for (int i = 0; i < nls; i++) {
        if (ls[i].worker != index)
            continue;
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = pool + (uint32_t)L->nlisten };
        if (epoll_ctl(L->ep, EPOLL_CTL_ADD, ls[i].fd, &ev) < 0) {
            loop_free(L);
            return NULL;
        }
        tcp_listen *ln = &L->listens[L->nlisten++];
        ln->fd = ls[i].fd;
        socklen_t len = sizeof(ln->addr);
        ln->wildcard = getsockname(ln->fd, (struct sockaddr *)&ln->addr, &len) < 0
                       || addr_is_any(&ln->addr);
    }
    return L;
}

void rd_tcp_set_limits(rd_tcp_set *s, const rd_tcp_limits *lim)
{
    if (!s)
        return;
    atomic_store(&s->max_connections, lim->max_connections);
    atomic_store(&s->max_per_client, lim->max_per_client ? lim->max_per_client : 1);
    atomic_store(&s->idle_timeout_ms, lim->idle_timeout_ms);
    atomic_store(&s->max_pipelined, lim->max_pipelined);
    atomic_store(&s->hold_us, lim->hold_us);
    atomic_store(&s->nagle_rtt_us, lim->nagle_rtt_us);
    atomic_store(&s->pipeline_hold_us, lim->pipeline_hold_us);
}

rd_tcp_set *rd_tcp_start(const rd_tcp_listener *ls, int nls, int nworkers, const int *cpus,
                         uint32_t pool, const rd_tcp_limits *limits, rd_dnstap *tap,
                         int tap_first, char *err, size_t errlen)
{
    if (nls < 1 || nworkers < 1 || nworkers > RD_TCP_MAX_WORKERS || pool < 1
        || pool > (1u << 24)) {
        snprintf(err, errlen, "bad arguments (%d listeners, %d workers, pool %u)",
                 nls, nworkers, pool);
        return NULL;
    }
    for (int i = 0; i < nls; i++) {
        if (ls[i].worker < 0 || ls[i].worker >= nworkers) {
            snprintf(err, errlen, "listener %d names worker %d of %d", i, ls[i].worker, nworkers);
            return NULL;
        }
    }
    rd_tcp_set *s = calloc(1, sizeof(*s));
    if (!s || !(s->loops = calloc((size_t)nworkers, sizeof(*s->loops)))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&s->stop, 0);
    rd_tcp_set_limits(s, limits);
    s->nloops = nworkers;
    for (int w = 0; w < nworkers; w++) {
        if (!(s->loops[w] = loop_new(s, w, pool, ls, nls))) {
            snprintf(err, errlen, "cannot set up TCP worker %d: %s", w, strerror(errno));
            rd_tcp_free(s);
            return NULL;
        }
        /* Taken now, not by the thread: a worker that could not read the database would
         * leave its listener's share of connections unanswered. */
        if (!(s->loops[w]->rcu = rd_rcu_register())) {
            snprintf(err, errlen, "no free RCU reader slot for TCP worker %d", w);
            rd_tcp_free(s);
            return NULL;
        }
        if (tap && !(s->loops[w]->tap = rd_dnstap_ring_at(tap, tap_first + w))) {
            snprintf(err, errlen, "dnstap: no ring for TCP worker %d", w);
            rd_tcp_free(s);
            return NULL;
        }
    }
    int rc = 0;
    for (int w = 0; w < nworkers && rc == 0; w++) {
        rc = rd_worker_thread_start(&s->loops[w]->thread, cpus ? cpus[w] : -1, loop_run,
                                    s->loops[w]);
        if (rc == 0)
            s->loops[w]->started = 1;
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot start a TCP worker thread: %s", strerror(rc));
        rd_tcp_stop(s);
        rd_tcp_free(s);
        return NULL;
    }
    return s;
}

void rd_tcp_stop(rd_tcp_set *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    for (int i = 0; i < s->nloops; i++) {
        if (s->loops[i] && s->loops[i]->started) {
            pthread_join(s->loops[i]->thread, NULL);
            s->loops[i]->started = 0;
        }
    }
}

void rd_tcp_free(rd_tcp_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nloops; i++)
        loop_free(s->loops[i]);
    free(s->loops);
    free(s);
}

int rd_tcp_threads(const rd_tcp_set *s)
{
    return s ? s->nloops : 0;
}

void rd_tcp_stats_sum(const rd_tcp_set *s, rd_stats *out, rd_tcp_counters *loop_out)
{
    memset(out, 0, sizeof(*out));
    memset(loop_out, 0, sizeof(*loop_out));
    if (!s)
        return;
    for (int i = 0; i < s->nloops; i++) {
        const tcp_loop *L = s->loops[i];
        rd_stats_add(out, &L->stats);
        rd_worker_counters_add((uint64_t *)loop_out, (const uint64_t *)&L->counters,
                               sizeof(rd_tcp_counters) / sizeof(uint64_t));
    }
}
