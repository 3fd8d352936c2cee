/* xdp_worker.c — AF_XDP worker: UMEM and the four rings of one RX queue, and the thread
 * that turns query frames into reply frames in place (no copy of the frame, no allocation,
 * no lock per packet). */
#define _GNU_SOURCE 1          /* pthread_setname_np */
#include "xdp_worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef RD_HAVE_XDP

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "rcu.h"
#include "worker.h"
#include "xdp_frame.h"
#include "xdp_prog.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
/* linux/if_xdp.h of Linux 6.17; the build host's headers may be older */
#define XDP_MAX_TX_SKB_BUDGET_ 9

/* Frame layout: aligned mode, 4 KiB frames; the kernel puts the packet at
 * XDP_PACKET_HEADROOM (256) into its frame, so a reply can grow to ~3.8 KiB in place. */
#define FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define NUM_FRAMES 4096u            /* = fill ring size: every free frame fits in it */
#define FILL_SIZE NUM_FRAMES
#define COMP_SIZE NUM_FRAMES
#define RX_SIZE 2048u
#define TX_SIZE 2048u
#define BATCH 64u
#define SCRATCH_SIZE (BATCH * RD_XDP_QUERY_MAX)   /* one query copy per frame of a batch */
_Static_assert(BATCH <= RD_XDP_BATCH_MAX, "an RX batch is answered in one call");
#define IDLE_POLL_MS 500            /* idle sleep; stop is signalled by an eventfd anyway */
#define TX_STALL_LIMIT 100          /* 1 ms TX kicks before a stuck TX ring counts as idle */

struct rd_xdp_worker {
    /* hot: the rings, touched every batch by the worker only */
    struct xsk_ring_cons rx;
    struct xsk_ring_prod tx;
    struct xsk_ring_prod fq;
    struct xsk_ring_cons cq;
    uint8_t *area;
    uint8_t *scratch;
    uint32_t tx_outstanding;        /* replies handed to TX, not yet completed */
    uint32_t tx_budget;             /* frames one copy-mode sendto() sends at most */
    uint16_t port, mtu;
    int xsk_fd;
    int stop_fd;                    /* eventfd: wakes the worker out of poll() */
    _Atomic int stop;
    rd_xdp_db_ptr *db;
    rd_rcu_reader *rcu;
    rd_rrl_table *rrl;              /* this queue's rate limiting table, or NULL */
    rd_dnstap_ring *tap;            /* dnstap logging, or NULL */
    rd_xdp_counters cnt;
    rd_stats stats;
    rd_cookie_cache cookies;        /* verified DNS Cookies (zeroed: empty) */
    /* cold */
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    uint32_t queue;
    int zero_copy;
    int running;
    pthread_t thread;
};

static void kick_tx(rd_xdp_worker *w)
{
    /* In zero-copy mode one kick starts the driver, which then sends on its own.  In copy
     * mode the kernel sends only inside sendto(), and at most a budget per call (32
     * frames, or the whole TX ring where XDP_MAX_TX_SKB_BUDGET took: see set_tx_budget),
     * answering EAGAIN while more wait: call again until the TX ring is empty, or frames
     * pile up in it and the fill ring runs dry.  Bounded; ENOBUFS/EBUSY/ENETDOWN mean
     * "later" (the idle loop kicks again). */
    if (!xsk_ring_prod__needs_wakeup(&w->tx))
        return;
    for (unsigned i = 0; i < TX_SIZE / 32 + 2; i++) {
        w->cnt.wakeups++;
        int rc = (int)sendto(w->xsk_fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
        if (w->zero_copy || (rc < 0 && errno != EAGAIN))
            return;
        if (xsk_prod_nb_free(&w->tx, TX_SIZE) == TX_SIZE)
            return;                 /* the kernel took every descriptor */
    }
}

/* Completed TX frames go back to the fill ring: frame ownership is a closed loop
 * FQ -> RX -> (TX -> CQ) -> FQ, and NUM_FRAMES == FILL_SIZE so the FQ never overflows. */
static uint32_t recycle_completions(rd_xdp_worker *w)
{
    uint32_t idx_cq, idx_fq;
    uint32_t n = xsk_ring_cons__peek(&w->cq, COMP_SIZE, &idx_cq);
    if (!n)
        return 0;
    if (xsk_ring_prod__reserve(&w->fq, n, &idx_fq) != n)
        return 0;                   /* cannot happen (see above); retry next time */
    for (uint32_t i = 0; i < n; i++)
        *xsk_ring_prod__fill_addr(&w->fq, idx_fq + i) = *xsk_ring_cons__comp_addr(&w->cq, idx_cq + i);
    xsk_ring_prod__submit(&w->fq, n);
    xsk_ring_cons__release(&w->cq, n);
    w->tx_outstanding -= n;
    return n;
}

static void return_to_fill(rd_xdp_worker *w, const uint64_t *addrs, uint32_t n)
{
    uint32_t idx;
    if (!n || xsk_ring_prod__reserve(&w->fq, n, &idx) != n)
        return;
    for (uint32_t i = 0; i < n; i++)
        *xsk_ring_prod__fill_addr(&w->fq, idx + i) = addrs[i];
    xsk_ring_prod__submit(&w->fq, n);
}

/* dnstap: the query of one frame and the reply made in its place, into this worker's
 * ring (dropped and counted when full: never waited for).  The times are the batch's. */
static void tap_frame(rd_xdp_worker *w, const rd_xdp_info *info, const struct timespec *t_recv,
                      const struct timespec *t_sent)
{
    struct sockaddr_in6 client, server;
    memset(&client, 0, sizeof(client));
    memset(&server, 0, sizeof(server));
    if (info->family == 4) {
        struct sockaddr_in *c4 = (struct sockaddr_in *)&client, *s4 = (struct sockaddr_in *)&server;
        c4->sin_family = s4->sin_family = AF_INET;
        memcpy(&c4->sin_addr, info->client, 4);
        memcpy(&s4->sin_addr, info->server, 4);
        c4->sin_port = htons(info->client_port);
        s4->sin_port = htons(info->server_port);
    } else {
        client.sin6_family = server.sin6_family = AF_INET6;
        memcpy(&client.sin6_addr, info->client, 16);
        memcpy(&server.sin6_addr, info->server, 16);
        client.sin6_port = htons(info->client_port);
        server.sin6_port = htons(info->server_port);
    }
    rd_dnstap_event e = {
        .client = (const struct sockaddr *)&client, .server = (const struct sockaddr *)&server,
        .tcp = 0, .query_time = *t_recv, .response_time = *t_sent,
        .query = info->query, .query_len = info->query_len,
        .response = info->response, .response_len = info->response_len,
    };
    rd_dnstap_log(w->tap, &e);
}

static void handle_batch(rd_xdp_worker *w, uint32_t n, uint32_t idx_rx)
{
    uint64_t tx_addr[BATCH], fill_addr[BATCH], addrs[BATCH];
    uint32_t tx_len[BATCH];
    uint32_t ntx = 0, nfill = 0;
    rd_xdp_frame_io io[BATCH];
    rd_xdp_info info[BATCH];
    const rd_db *db = atomic_load_explicit(w->db, memory_order_acquire);
    uint64_t now_ms = w->rrl ? rd_rrl_now_ms() : 0;
    struct timespec t_recv, t_sent;
    if (w->tap)
        clock_gettime(CLOCK_REALTIME, &t_recv);

    for (uint32_t i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&w->rx, idx_rx + i);
        addrs[i] = d->addr;
        io[i].frame = xsk_umem__get_data(w->area, d->addr);
        io[i].len = d->len;
        io[i].cap = FRAME_SIZE - (d->addr & (FRAME_SIZE - 1));
        io[i].out = 0;
        io[i].why = RD_XDP_OK;
    }
    /* the whole RX batch at once: the engine's prefetch pipeline overlaps the zone
     * image loads of its queries */
    if (db)
        rd_xdp_reply_batch(io, n, w->port, w->mtu, db, w->scratch, &w->stats, w->rrl, now_ms,
                           w->tap ? info : NULL, &w->cookies);
    else
        w->cnt.no_db += n;
    if (w->tap)                     /* once for the batch, as the UDP loop does */
        clock_gettime(CLOCK_REALTIME, &t_sent);

    for (uint32_t i = 0; i < n; i++) {
        uint64_t addr = addrs[i];
        size_t rlen = io[i].out;
        int why = io[i].why;
        if (w->tap && db && info[i].family && rd_dnstap_sampled(w->tap))
            tap_frame(w, &info[i], &t_recv, &t_sent);
        if (rlen) {
            if (why == RD_XDP_SLIPPED)
                w->cnt.rrl_slipped++;
            tx_addr[ntx] = addr;
            tx_len[ntx++] = (uint32_t)rlen;
            continue;
        }
        fill_addr[nfill++] = addr;
        if (why == RD_XDP_NOT_DNS) w->cnt.not_dns++;
        else if (why == RD_XDP_MALFORMED) w->cnt.malformed++;
        else if (why == RD_XDP_NO_ANSWER || why == RD_XDP_NO_ROOM) w->cnt.no_answer++;
        else if (why == RD_XDP_RATE_LIMITED) w->cnt.rrl_dropped++;
    }
    w->cnt.rx_frames += n;
    xsk_ring_cons__release(&w->rx, n);

    if (ntx) {
        uint32_t idx_tx;
        if (xsk_prod_nb_free(&w->tx, ntx) < ntx) {
            /* TX ring full: let the kernel drain it, take back what completed. */
            sendto(w->xsk_fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
            recycle_completions(w);
        }
        uint32_t fits = xsk_prod_nb_free(&w->tx, ntx);
        if (fits > ntx)
            fits = ntx;
        if (fits && xsk_ring_prod__reserve(&w->tx, fits, &idx_tx) == fits) {
            for (uint32_t i = 0; i < fits; i++) {
                struct xdp_desc *td = xsk_ring_prod__tx_desc(&w->tx, idx_tx + i);
                td->addr = tx_addr[i];
                td->len = tx_len[i];
            }
            xsk_ring_prod__submit(&w->tx, fits);
            w->tx_outstanding += fits;
            w->cnt.tx_frames += fits;
        } else {
            fits = 0;
        }
        for (uint32_t i = fits; i < ntx; i++) {
            fill_addr[nfill++] = tx_addr[i];
            w->cnt.tx_full++;
        }
        kick_tx(w);
    }
    return_to_fill(w, fill_addr, nfill);
}

static void *worker_main(void *arg)
{
    rd_xdp_worker *w = arg;
    char name[16];                  /* "robdns-xdpN" in top -H, ps -L, /proc/.../comm */
    snprintf(name, sizeof name, "robdns-xdp%u", w->queue);
    pthread_setname_np(pthread_self(), name);
    rd_worker_drop_capabilities();

    rd_rcu_online(w->rcu);
    struct pollfd pfd[2] = {
        { .fd = w->xsk_fd, .events = POLLIN },
        { .fd = w->stop_fd, .events = POLLIN },
    };
    unsigned tx_stalls = 0;
    while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        if (recycle_completions(w))
            tx_stalls = 0;
        uint32_t idx_rx;
        uint32_t n = xsk_ring_cons__peek(&w->rx, BATCH, &idx_rx);
        if (!n) {
            if (w->tx_outstanding && tx_stalls < TX_STALL_LIMIT) {
                /* Completions still to come: kick TX and look again soon.  After
                 * TX_STALL_LIMIT kicks without progress (link down) sleep as if idle. */
                tx_stalls++;
                kick_tx(w);
                rd_rcu_quiescent(w->rcu);
                w->cnt.polls++;
                poll(pfd, 2, 1);
                continue;
            }
            /* Idle: sleep in poll() (which also wakes the driver's RX when the fill ring
             * needs it), reported to RCU as offline so a swap never waits for us. */
            rd_rcu_offline(w->rcu);
            w->cnt.polls++;
            poll(pfd, 2, IDLE_POLL_MS);
            rd_rcu_online(w->rcu);
            tx_stalls = 0;
            continue;
        }
        handle_batch(w, n, idx_rx);
        w->cnt.batches++;
        if (xsk_ring_prod__needs_wakeup(&w->fq)) {
            w->cnt.wakeups++;
            recvfrom(w->xsk_fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
        }
        /* Between batches no database reference is held: an RCU quiescent point. */
        rd_rcu_quiescent(w->rcu);
    }
    rd_rcu_offline(w->rcu);
    return NULL;
}

/* Copy mode: let one sendto() send the whole TX ring instead of 32 frames (Linux 6.17,
 * XDP_MAX_TX_SKB_BUDGET: the kernel's limit is the TX ring's size), so that a batch of
 * replies costs one kick, not one per 32.  Older kernels answer ENOPROTOOPT: then
 * kick_tx calls again while the kernel says EAGAIN, as before. */
static void set_tx_budget(rd_xdp_worker *w)
{
    unsigned int budget = TX_SIZE;
    w->tx_budget = setsockopt(w->xsk_fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET_, &budget,
                              sizeof budget) == 0 ? budget : 32;
}

static int create_socket(rd_xdp_worker *w, const char *ifname, uint16_t bind_flags,
                         char *err, size_t errlen)
{
    struct xsk_umem_config ucfg = {
        .fill_size = FILL_SIZE,
        .comp_size = COMP_SIZE,
        .frame_size = FRAME_SIZE,
        .frame_headroom = 0,
        .flags = 0,
    };
    int rc = xsk_umem__create(&w->umem, w->area, (uint64_t)NUM_FRAMES * FRAME_SIZE,
                              &w->fq, &w->cq, &ucfg);
    if (rc) {
        w->umem = NULL;
        snprintf(err, errlen, "creating the UMEM of queue %u: %s", w->queue, strerror(-rc));
        return rc;
    }
    struct xsk_socket_config scfg = {
        .rx_size = RX_SIZE,
        .tx_size = TX_SIZE,
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,   /* our own program */
        .xdp_flags = 0,
        .bind_flags = bind_flags,
    };
    rc = xsk_socket__create(&w->xsk, ifname, w->queue, w->umem, &w->rx, &w->tx, &scfg);
    if (rc) {
        w->xsk = NULL;
        xsk_umem__delete(w->umem);
        w->umem = NULL;
        snprintf(err, errlen, "binding an AF_XDP socket to %s queue %u (%s mode): %s",
                 ifname, w->queue, (bind_flags & XDP_ZEROCOPY) ? "zero-copy" : "copy",
                 strerror(-rc));
        return rc;
    }
    return 0;
}

rd_xdp_worker *rd_xdp_worker_open(const char *ifname, uint32_t queue, int zc, int xsks_map_fd,
                                  uint16_t port, uint16_t mtu, rd_xdp_db_ptr *db,
                                  const rd_rrl_config *rrl, char *err, size_t errlen)
{
    rd_xdp_worker *w = NULL;
    if (posix_memalign((void **)&w, 64, sizeof *w)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memset(w, 0, sizeof *w);
    w->queue = queue;
    w->port = port;
    w->mtu = mtu;
    w->db = db;
    w->xsk_fd = w->stop_fd = -1;
    w->area = mmap(NULL, (size_t)NUM_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    int map_errno = errno;
    if (w->area == MAP_FAILED)
        w->area = NULL;
    w->scratch = malloc(SCRATCH_SIZE);
    if (rrl && rrl->rate && !(w->rrl = rd_rrl_new(rrl))) {
        snprintf(err, errlen, "no memory for the rate limiting table of queue %u", queue);
        rd_xdp_worker_close(w);
        return NULL;
    }
    w->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->rcu = rd_rcu_register();     /* starts offline; the thread goes online */
    if (!w->rcu) {
        snprintf(err, errlen, "no free RCU reader slot for XDP queue %u", queue);
        rd_xdp_worker_close(w);
        return NULL;
    }
    if (!w->area || !w->scratch || w->stop_fd < 0) {
        snprintf(err, errlen, "allocating the UMEM of queue %u: %s", queue,
                 strerror(w->area ? errno : map_errno));
        rd_xdp_worker_close(w);
        return NULL;
    }

    int rc;
    if (zc == RD_XDP_ZC_OFF) {
        rc = create_socket(w, ifname, XDP_USE_NEED_WAKEUP | XDP_COPY, err, errlen);
    } else {
        rc = create_socket(w, ifname, XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY, err, errlen);
        if (rc && zc == RD_XDP_ZC_AUTO)    /* the driver has no zero-copy: copy mode */
            rc = create_socket(w, ifname, XDP_USE_NEED_WAKEUP | XDP_COPY, err, errlen);
    }
    if (rc) {
        rd_xdp_worker_close(w);
        errno = rc < 0 ? -rc : rc;     /* the caller tells EBUSY (queue still held) apart */
        return NULL;
    }
    w->xsk_fd = xsk_socket__fd(w->xsk);
    struct xdp_options opts;
    socklen_t optlen = sizeof opts;
    if (getsockopt(w->xsk_fd, SOL_XDP, XDP_OPTIONS, &opts, &optlen) == 0)
        w->zero_copy = (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
    if (!w->zero_copy)
        set_tx_budget(w);

    /* Give every frame to the kernel for receiving. */
    uint32_t idx;
    if (xsk_ring_prod__reserve(&w->fq, NUM_FRAMES, &idx) != NUM_FRAMES) {
        snprintf(err, errlen, "filling the fill ring of queue %u", queue);
        rd_xdp_worker_close(w);
        return NULL;
    }
    for (uint32_t i = 0; i < NUM_FRAMES; i++)
        *xsk_ring_prod__fill_addr(&w->fq, idx + i) = (uint64_t)i * FRAME_SIZE;
    xsk_ring_prod__submit(&w->fq, NUM_FRAMES);

    rc = xsk_socket__update_xskmap(w->xsk, xsks_map_fd);
    if (rc) {
        snprintf(err, errlen, "registering the AF_XDP socket of queue %u: %s", queue,
                 strerror(-rc));
        rd_xdp_worker_close(w);
        return NULL;
    }
    return w;
}

void rd_xdp_worker_set_dnstap(rd_xdp_worker *w, rd_dnstap_ring *tap)
{
    w->tap = tap;
}

int rd_xdp_worker_start(rd_xdp_worker *w, int cpu)
{
    int rc = rd_worker_thread_start(&w->thread, cpu, worker_main, w);
    if (rc)
        return -rc;
    w->running = 1;
    return 0;
}

void rd_xdp_worker_stop(rd_xdp_worker *w)
{
    if (!w->running)
        return;
    atomic_store(&w->stop, 1);
    uint64_t one = 1;
    ssize_t wr = write(w->stop_fd, &one, sizeof one);
    (void)wr;
    pthread_join(w->thread, NULL);
    w->running = 0;
}

void rd_xdp_worker_close(rd_xdp_worker *w)
{
    if (!w)
        return;
    rd_xdp_worker_stop(w);
    if (w->xsk)
        xsk_socket__delete(w->xsk);   /* also removes it from the XSKMAP */
    if (w->umem)
        xsk_umem__delete(w->umem);
    if (w->area)
        munmap(w->area, (size_t)NUM_FRAMES * FRAME_SIZE);
    if (w->stop_fd >= 0)
        close(w->stop_fd);
    free(w->scratch);
    rd_rrl_free(w->rrl);
    rd_rcu_unregister(w->rcu);
    free(w);
}

int rd_xdp_worker_zero_copy(const rd_xdp_worker *w) { return w->zero_copy; }
uint32_t rd_xdp_worker_queue(const rd_xdp_worker *w) { return w->queue; }
uint32_t rd_xdp_worker_tx_budget(const rd_xdp_worker *w) { return w->tx_budget; }

void rd_xdp_worker_counters(const rd_xdp_worker *w, rd_xdp_counters *c, rd_stats *s)
{
    if (c) {
        memcpy(c, (const void *)&w->cnt, sizeof *c);
        struct xdp_statistics ks;
        socklen_t len = sizeof ks;
        memset(&ks, 0, sizeof ks);
        if (getsockopt(w->xsk_fd, SOL_XDP, XDP_STATISTICS, &ks, &len) == 0) {
            c->k_rx_dropped = ks.rx_dropped;
            c->k_rx_ring_full = ks.rx_ring_full;
            c->k_fill_empty = ks.rx_fill_ring_empty_descs;
            c->k_invalid = ks.rx_invalid_descs + ks.tx_invalid_descs;
        }
    }
    if (s)
        memcpy(s, (const void *)&w->stats, sizeof *s);
}

#else /* !RD_HAVE_XDP */

rd_xdp_worker *rd_xdp_worker_open(const char *ifname, uint32_t queue, int zc, int xsks_map_fd,
                                  uint16_t port, uint16_t mtu, rd_xdp_db_ptr *db,
                                  const rd_rrl_config *rrl, char *err, size_t errlen)
{
    (void)ifname; (void)queue; (void)zc; (void)xsks_map_fd; (void)port; (void)mtu; (void)db;
    (void)rrl;
    snprintf(err, errlen, "this robdns was built without AF_XDP support "
             "(libxdp/libbpf headers were missing at build time)");
    return NULL;
}
void rd_xdp_worker_set_dnstap(rd_xdp_worker *w, rd_dnstap_ring *tap) { (void)w; (void)tap; }
int rd_xdp_worker_start(rd_xdp_worker *w, int cpu) { (void)w; (void)cpu; return -EOPNOTSUPP; }
void rd_xdp_worker_stop(rd_xdp_worker *w) { (void)w; }
void rd_xdp_worker_close(rd_xdp_worker *w) { (void)w; }
int rd_xdp_worker_zero_copy(const rd_xdp_worker *w) { (void)w; return 0; }
uint32_t rd_xdp_worker_queue(const rd_xdp_worker *w) { (void)w; return 0; }
uint32_t rd_xdp_worker_tx_budget(const rd_xdp_worker *w) { (void)w; return 0; }
void rd_xdp_worker_counters(const rd_xdp_worker *w, rd_xdp_counters *c, rd_stats *s)
{
    (void)w;
    if (c) memset(c, 0, sizeof *c);
    if (s) memset(s, 0, sizeof *s);
}

#endif
