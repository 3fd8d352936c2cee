/* udp_loop.c — per-socket receive/answer/send threads of the UDP data plane. */
#define _GNU_SOURCE
#include "udp_loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "rcu.h"
#include "rrl.h"
#include "worker.h"

/* Room for one IPv4 or IPv6 packet-info control message. */
#define RD_UDP_CMSG_SPACE \
    (CMSG_SPACE(sizeof(struct in6_pktinfo)) > CMSG_SPACE(sizeof(struct in_pktinfo)) \
     ? CMSG_SPACE(sizeof(struct in6_pktinfo)) : CMSG_SPACE(sizeof(struct in_pktinfo)))

/* Per-datagram buffers are spaced one cache line more than their size: with a stride of
 * exactly 4096 every buffer's first lines (the only ones a small query or answer touches)
 * would fall in the same L1 set and evict each other within a batch. */
#define RD_UDP_QUERY_STRIDE (RD_UDP_QUERY_MAX + 64)
#define RD_UDP_RESP_STRIDE (RD_UDP_RESP_MAX + 64)
#define RD_UDP_RESP_SKEW 2048               /* and the answers start half a page later */

typedef union rd_udp_cmsgbuf {
    char buf[RD_UDP_CMSG_SPACE];
    struct cmsghdr align;
} rd_udp_cmsgbuf;

/* Everything one thread touches, allocated once at start: nothing per packet. */
typedef struct rd_udp_loop {
    rd_stats stats;                        /* first: its own cache lines (aligned(64)) */
    rd_cookie_cache cookies;               /* verified DNS Cookies (zeroed: empty) */
    rd_udp_counters counters;
    rd_udp_set *set;
    rd_udp_socket sock;
    int batch;
    int index;
    uint64_t hold_ns;                      /* the hold after a small batch, 0: none */
    int hold_below;                        /* a batch smaller than this is small */
    pthread_t thread;
    int started;
    struct mmsghdr *rmsg, *smsg;
    struct iovec *riov, *siov;
    struct sockaddr_in6 *peer;             /* large enough for both families */
    rd_udp_cmsgbuf *rcmsg, *scmsg;
    rd_rrl_table *rrl;                     /* response rate limiting, or NULL */
    rd_dnstap_ring *tap;                   /* dnstap logging, or NULL */
    struct sockaddr_in6 local;             /* the socket's address (dnstap's response address) */
    struct timespec t_recv, t_sent;        /* when the batch came, and was answered (dnstap) */
    rd_rcu_reader *rcu;                    /* this thread's reader slot, taken at start */
    rd_batch_item *items;                  /* the engine's view of one batch */
    int *item_msg;                         /* items[k] answers datagram item_msg[k] */
    int nitems;                            /* items of the last batch (for dnstap) */
    uint8_t *qbuf;                         /* batch x RD_UDP_QUERY_STRIDE */
    uint8_t *rbuf;                         /* RD_UDP_RESP_SKEW + batch x RD_UDP_RESP_STRIDE */
} __attribute__((aligned(64))) rd_udp_loop;

struct rd_udp_set {
    _Atomic int stop;
    int nloops;
    rd_udp_loop **loops;
};

/* Reset the receive headers the kernel overwrote in the last recvmmsg. */
static inline void loop_rearm(rd_udp_loop *L, int n)
{
    for (int i = 0; i < n; i++) {
        struct msghdr *h = &L->rmsg[i].msg_hdr;
        h->msg_namelen = sizeof(L->peer[i]);
        h->msg_controllen = L->sock.wildcard ? sizeof(L->rcmsg[i]) : 0;
        h->msg_flags = 0;
    }
}

/* For a wildcard socket: make the reply leave from the address the query was sent to
 * (else the kernel picks the route's source and the client drops the answer). */
static inline void loop_reply_source(rd_udp_loop *L, int i, struct msghdr *out)
{
    struct msghdr *in = &L->rmsg[i].msg_hdr;
    out->msg_control = NULL;
    out->msg_controllen = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(in); c; c = CMSG_NXTHDR(in, c)) {
        struct cmsghdr *o = (struct cmsghdr *)L->scmsg[i].buf;
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo got, reply;
            memcpy(&got, CMSG_DATA(c), sizeof(got));
            memset(&reply, 0, sizeof(reply));
            reply.ipi_spec_dst = got.ipi_addr;     /* source = the address asked */
            o->cmsg_level = IPPROTO_IP;
            o->cmsg_type = IP_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof(reply));
            memcpy(CMSG_DATA(o), &reply, sizeof(reply));
            out->msg_control = o;
            out->msg_controllen = CMSG_SPACE(sizeof(reply));
            return;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo got;                /* address and interface (link-local) */
            memcpy(&got, CMSG_DATA(c), sizeof(got));
            o->cmsg_level = IPPROTO_IPV6;
            o->cmsg_type = IPV6_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof(got));
            memcpy(CMSG_DATA(o), &got, sizeof(got));
            out->msg_control = o;
            out->msg_controllen = CMSG_SPACE(sizeof(got));
            return;
        }
    }
}

/* Send out[0..n) completely, skipping a datagram the kernel refuses. */
static void loop_send(rd_udp_loop *L, int n)
{
    int done = 0;
    while (done < n) {
        int r = sendmmsg(L->sock.fd, L->smsg + done, (unsigned)(n - done), 0);
        if (r > 0) {
            done += r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        L->counters.send_errors++;      /* e.g. ENETUNREACH, EPERM: drop this one */
        done++;
    }
}

/* The address datagram i was sent to: the socket's own, or on a wildcard socket the one
 * its packet-info message names (with the socket's port). */
static void loop_local_addr(rd_udp_loop *L, int i, struct sockaddr_in6 *out)
{
    *out = L->local;
    if (!L->sock.wildcard)
        return;
    struct msghdr *in = &L->rmsg[i].msg_hdr;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(in); c; c = CMSG_NXTHDR(in, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo got;
            memcpy(&got, CMSG_DATA(c), sizeof(got));
            memcpy(&((struct sockaddr_in *)out)->sin_addr, &got.ipi_addr, 4);
            return;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo got;
            memcpy(&got, CMSG_DATA(c), sizeof(got));
            out->sin6_addr = got.ipi6_addr;
            return;
        }
    }
}

/* dnstap: each sampled query of the batch and what was sent for it (after rate limiting)
 * go into this thread's ring; a full ring drops the event (counted), never waits. */
static void loop_tap(rd_udp_loop *L, int nitems)
{
    for (int k = 0; k < nitems; k++) {
        if (!rd_dnstap_sampled(L->tap))
            continue;
        int i = L->item_msg[k];
        struct sockaddr_in6 local;
        loop_local_addr(L, i, &local);
        rd_dnstap_event e = {
            .client = (const struct sockaddr *)&L->peer[i],
            .server = (const struct sockaddr *)&local,
            .tcp = 0,
            .query_time = L->t_recv,
            .response_time = L->t_sent,
            .query = L->items[k].q,
            .query_len = L->items[k].qlen,
            .response = L->items[k].resplen ? L->items[k].resp : NULL,
            .response_len = L->items[k].resplen,
        };
        rd_dnstap_log(L->tap, &e);
    }
}

/* Answer the n datagrams received; returns how many responses were prepared.  The
 * whole batch goes to the engine at once so that it can overlap the zone lookups of
 * consecutive queries (rd_answer_batch prefetches ahead). */
static int loop_answer(rd_udp_loop *L, const rd_db *db, int n)
{
    rd_transport tr = { .tcp = 0, .family = L->sock.family == AF_INET6 ? 6 : 4,
                        .cookie_cache = &L->cookies };
    int nitems = 0;
    L->nitems = 0;
    for (int i = 0; i < n; i++) {
        if (L->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
            L->counters.recv_truncated++;
            continue;
        }
        if (!db) {
            L->counters.no_database++;
            continue;
        }
        rd_batch_item *it = &L->items[nitems];
        it->q = L->qbuf + (size_t)i * RD_UDP_QUERY_STRIDE;
        it->qlen = L->rmsg[i].msg_len;
        it->resp = L->rbuf + RD_UDP_RESP_SKEW + (size_t)i * RD_UDP_RESP_STRIDE;
        it->respcap = RD_UDP_RESP_MAX;
        it->resplen = 0;
        /* The sender's address, where recvmmsg left it: DNS Cookies bind to it. */
        if (L->peer[i].sin6_family == AF_INET6) {
            it->client = (const uint8_t *)&L->peer[i].sin6_addr;
            it->client_len = 16;
        } else {
            it->client = (const uint8_t *)&((const struct sockaddr_in *)&L->peer[i])->sin_addr;
            it->client_len = 4;
        }
        L->item_msg[nitems++] = i;
    }
    if (nitems == 0)
        return 0;
    rd_answer_batch(db, L->items, (size_t)nitems, &tr, &L->stats);
    uint64_t now_ms = L->rrl ? rd_rrl_now_ms() : 0;
    int out = 0;
    for (int k = 0; k < nitems; k++) {
        if (L->items[k].resplen == 0)
            continue;                   /* RFC 1035 4.1.1: nothing to say (e.g. QR set) */
        int i = L->item_msg[k];
        if (L->rrl) {
            int verdict = rd_rrl_check(L->rrl, (const struct sockaddr *)&L->peer[i],
                                       L->items[k].resp, L->items[k].resplen, now_ms);
            if (verdict == RD_RRL_DROP) {
                L->counters.rrl_dropped++;
                L->items[k].resplen = 0;        /* for dnstap: nothing was sent */
                continue;
            }
            if (verdict == RD_RRL_SLIP) {
                L->counters.rrl_slipped++;
                L->items[k].resplen = rd_rrl_slip(L->items[k].resp, L->items[k].resplen);
                if (L->items[k].resplen == 0)
                    continue;
            }
        }
        struct msghdr *o = &L->smsg[out].msg_hdr;
        L->siov[out].iov_base = L->items[k].resp;
        L->siov[out].iov_len = L->items[k].resplen;
        o->msg_name = &L->peer[i];
        o->msg_namelen = L->rmsg[i].msg_hdr.msg_namelen;
        o->msg_iov = &L->siov[out];
        o->msg_iovlen = 1;
        o->msg_flags = 0;
        if (L->sock.wildcard)
            loop_reply_source(L, i, o);
        else {
            o->msg_control = NULL;
            o->msg_controllen = 0;
        }
        out++;
    }
    L->nitems = nitems;
    return out;
}

/* Answer, send and log one received batch of n datagrams, then let the database go.
 * Each batch is sent as soon as it is answered.  Tried and dropped (issue 17, session 15):
 * after a small batch, a non-blocking recvmmsg before the send, so that the datagrams
 * that came meanwhile are answered in the same sendmmsg (at 40k qps a wake-up's ~3
 * queries come as two batches of ~1.5).  An empty look costs a call (~0.56 us on this
 * VM) and the look comes ~1 us after the batch, before most of the rest of the burst: it
 * caught 0.6 datagrams a look (0.3 with a back-off after empty looks) and in the same
 * runs cost more than it saved (with the back-off, 40k: 8.44 us/query against 8.19
 * without; closed-loop bursts B=1/2/4: 27.2/17.0/13.4 against 25.1/14.2/12.0).  The
 * loop's own work is under 1% of its CPU at 40k (perf): what robdns spends over the echo
 * floor there is the engine's, its first touches of the zone image after each wake-up. */
static void loop_batch(rd_udp_loop *L, int n)
{
    if (L->tap)
        clock_gettime(CLOCK_REALTIME, &L->t_recv);
    const rd_db *db = rd_db_current();
    int out = loop_answer(L, db, n);
    if (L->tap)                         /* the response time: handed to the kernel */
        clock_gettime(CLOCK_REALTIME, &L->t_sent);
    if (out)
        loop_send(L, out);
    if (L->tap)                         /* after the send: logging never delays an answer */
        loop_tap(L, L->nitems);
    L->counters.batches++;
    rd_rcu_quiescent(L->rcu);           /* db is not used past this point */
    loop_rearm(L, n);
}

static uint64_t loop_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The hold: after a small batch, sleep hold_ns before asking the socket again instead of
 * blocking at once, so that the next recvmmsg carries the datagrams that arrived
 * meanwhile and one wake-up serves several.  The sleep is a wake-up too, so it only pays
 * when datagrams come faster than one per hold: loop_run holds while the last blocking
 * wait was shorter than the hold or the last hold caught something, and gives up as soon
 * as a hold catches nothing (then the thread blocks as before: an idle server sleeps).
 * A hold by polling the socket instead of sleeping was tried and dropped: at 40k qps the
 * datagrams are ~25 us apart, longer than a wake-up costs, so the poll spent more CPU
 * than the wake-ups it saved (bench/RESULTS.md, issue 17).
 * Returns the datagrams received after the hold (0: none, block). */
static int loop_hold(rd_udp_loop *L)
{
    struct timespec pause = { 0, (long)L->hold_ns };
    nanosleep(&pause, NULL);
    int n = recvmmsg(L->sock.fd, L->rmsg, (unsigned)L->batch, MSG_DONTWAIT, NULL);
    return n > 0 ? n : 0;
}

static void *loop_run(void *arg)
{
    rd_udp_loop *L = arg;
    char name[16];                      /* "robdns-udp/N" in top -H, ps -L, /proc/.../comm */
    snprintf(name, sizeof(name), "robdns-udp/%d", L->index);
    pthread_setname_np(pthread_self(), name);
    /* The kernel may stretch a sleep by the thread's timer slack (50 us by default):
     * the hold must be the length configured, not three times it. */
    if (L->hold_ns)
        prctl(PR_SET_TIMERSLACK, RD_UDP_HOLD_SLACK_NS, 0, 0, 0);
    rd_rcu_reader *rcu = L->rcu;
    loop_rearm(L, L->batch);
    int holding = 0;
    while (!atomic_load_explicit(&L->set->stop, memory_order_relaxed)) {
        /* Offline while blocked: an idle worker must not hold up a reload. */
        rd_rcu_offline(rcu);
        uint64_t t0 = L->hold_ns ? loop_now_ns() : 0;
        int n = recvmmsg(L->sock.fd, L->rmsg, (unsigned)L->batch, MSG_WAITFORONE, NULL);
        rd_rcu_online(rcu);
        if (n <= 0) {
            /* Timeout (time to look at the stop flag) or EINTR: go round. Anything else
             * (ENOMEM, ...) would repeat at once: pause a little instead of spinning. */
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                L->counters.recv_errors++;
                struct timespec pause = { 0, 1000000 };
                nanosleep(&pause, NULL);
            }
            continue;
        }
        if (L->hold_ns)                 /* datagrams come faster than one per hold */
            holding = loop_now_ns() - t0 < L->hold_ns;
        loop_batch(L, n);
        while (holding && n < L->hold_below
               && !atomic_load_explicit(&L->set->stop, memory_order_relaxed)) {
            L->counters.holds++;
            n = loop_hold(L);
            if (n == 0) {
                holding = 0;            /* nothing came: block on the next one */
                break;
            }
            L->counters.hold_datagrams += (uint64_t)n;
            loop_batch(L, n);
        }
    }
    rd_rcu_offline(rcu);                /* the slot is given back by loop_free */
    return NULL;
}

static void loop_free(rd_udp_loop *L)
{
    if (!L)
        return;
    free(L->rmsg); free(L->smsg); free(L->riov); free(L->siov); free(L->peer);
    free(L->rcmsg); free(L->scmsg); free(L->items); free(L->item_msg);
    rd_rrl_free(L->rrl);
    rd_rcu_unregister(L->rcu);
    free(L->qbuf); free(L->rbuf);
    free(L);
}

static rd_udp_loop *loop_new(rd_udp_set *set, const rd_udp_socket *sock, int batch,
                             const rd_rrl_config *rrl)
{
    rd_udp_loop *L = aligned_alloc(64, sizeof(*L));
    if (!L)
        return NULL;
    memset(L, 0, sizeof(*L));
    L->set = set;
    L->sock = *sock;
    L->batch = batch;
    size_t b = (size_t)batch;
    L->rmsg = calloc(b, sizeof(*L->rmsg));
    L->smsg = calloc(b, sizeof(*L->smsg));
    L->riov = calloc(b, sizeof(*L->riov));
    L->siov = calloc(b, sizeof(*L->siov));
    L->peer = calloc(b, sizeof(*L->peer));
    L->rcmsg = calloc(b, sizeof(*L->rcmsg));
    L->scmsg = calloc(b, sizeof(*L->scmsg));
    L->items = calloc(b, sizeof(*L->items));
    L->item_msg = calloc(b, sizeof(*L->item_msg));
    L->qbuf = malloc(b * RD_UDP_QUERY_STRIDE);
    L->rbuf = malloc(RD_UDP_RESP_SKEW + b * RD_UDP_RESP_STRIDE);
    if (rrl && rrl->rate)
        L->rrl = rd_rrl_new(rrl);       /* one table per thread: no sharing, no locks */
    if (!L->rmsg || !L->smsg || !L->riov || !L->siov || !L->peer || !L->rcmsg || !L->scmsg
        || !L->items || !L->item_msg || !L->qbuf || !L->rbuf || (rrl && rrl->rate && !L->rrl)) {
        loop_free(L);
        return NULL;
    }
    for (size_t i = 0; i < b; i++) {
        L->riov[i].iov_base = L->qbuf + i * RD_UDP_QUERY_STRIDE;
        L->riov[i].iov_len = RD_UDP_QUERY_MAX;
        struct msghdr *h = &L->rmsg[i].msg_hdr;
        h->msg_name = &L->peer[i];
        h->msg_iov = &L->riov[i];
        h->msg_iovlen = 1;
        h->msg_control = L->rcmsg[i].buf;
    }
    return L;
}

rd_udp_set *rd_udp_start(const rd_udp_socket *socks, int nsocks, int batch, int hold_us,
                         const rd_rrl_config *rrl, rd_dnstap *tap, int tap_first,
                         char *err, size_t errlen)
{
    if (nsocks < 1 || batch < 1 || batch > RD_UDP_MAX_BATCH || hold_us < 0
        || hold_us > RD_UDP_HOLD_MAX_US) {
        snprintf(err, errlen, "bad arguments (%d sockets, batch %d, hold %d us)", nsocks, batch,
                 hold_us);
        return NULL;
    }
    rd_udp_set *s = calloc(1, sizeof(*s));
    if (!s || !(s->loops = calloc((size_t)nsocks, sizeof(*s->loops)))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&s->stop, 0);
    s->nloops = nsocks;
    /* A thread blocked in recvmmsg wakes up this often to see the stop flag. */
    struct timeval wake = { 0, RD_UDP_WAKE_MS * 1000 };
    for (int i = 0; i < nsocks; i++) {
        if (setsockopt(socks[i].fd, SOL_SOCKET, SO_RCVTIMEO, &wake, sizeof(wake)) < 0) {
            snprintf(err, errlen, "SO_RCVTIMEO on fd %d: %s", socks[i].fd, strerror(errno));
            rd_udp_free(s);
            return NULL;
        }
        if ((s->loops[i] = loop_new(s, &socks[i], batch, rrl))) {
            rd_udp_loop *L = s->loops[i];
            L->index = i;
            L->hold_ns = (uint64_t)hold_us * 1000u;
            L->hold_below = RD_UDP_HOLD_BELOW;
            if (tap) {
                L->tap = rd_dnstap_ring_at(tap, tap_first + i);
                socklen_t len = sizeof(L->local);
                if (!L->tap) {
                    snprintf(err, errlen, "dnstap: no ring for UDP worker %d", i);
                    rd_udp_free(s);
                    return NULL;
                }
                if (getsockname(socks[i].fd, (struct sockaddr *)&L->local, &len) < 0) {
                    snprintf(err, errlen, "dnstap: the address of fd %d: %s", socks[i].fd,
                             strerror(errno));
                    rd_udp_free(s);
                    return NULL;
                }
            }
        } else {
            snprintf(err, errlen, "out of memory");
            rd_udp_free(s);
            return NULL;
        }
        /* The reader slot is taken here, not by the thread: a worker that could not read
         * the database safely would leave its SO_REUSEPORT socket receiving its share of
         * the queries unanswered, so no slot means no start at all. */
        if (!(s->loops[i]->rcu = rd_rcu_register())) {
            snprintf(err, errlen, "no free RCU reader slot for UDP worker %d (at most %d "
                     "readers)", i, (int)RD_RCU_MAX_READERS);
            rd_udp_free(s);
            return NULL;
        }
    }
    int rc = 0;
    for (int i = 0; i < nsocks && rc == 0; i++) {
        rc = rd_worker_thread_start(&s->loops[i]->thread, socks[i].cpu, loop_run, s->loops[i]);
        if (rc == 0)
            s->loops[i]->started = 1;
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot start a worker thread: %s", strerror(rc));
        rd_udp_stop(s);
        rd_udp_free(s);
        return NULL;
    }
    return s;
}

void rd_udp_stop(rd_udp_set *s)
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

void rd_udp_free(rd_udp_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nloops; i++)
        loop_free(s->loops[i]);
    free(s->loops);
    free(s);
}

int rd_udp_threads(const rd_udp_set *s)
{
    return s ? s->nloops : 0;
}

void rd_udp_stats_sum(const rd_udp_set *s, rd_stats *out, rd_udp_counters *loop_out)
{
    memset(out, 0, sizeof(*out));
    memset(loop_out, 0, sizeof(*loop_out));
    if (!s)
        return;
    for (int i = 0; i < s->nloops; i++) {
        const rd_udp_loop *L = s->loops[i];
        rd_stats_add(out, &L->stats);
        rd_worker_counters_add((uint64_t *)loop_out, (const uint64_t *)&L->counters,
                               sizeof(rd_udp_counters) / sizeof(uint64_t));
    }
}
