/* dnstap.c — per-worker dnstap rings and the writer thread that frames their messages as Frame Streams to a collector's socket or a file. */
#define _GNU_SOURCE
#include "dnstap.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/dnstap_pb.h"
#include "worker.h"

/* Frame Streams (the fstrm library's protocol): a data frame is a 32-bit big-endian
 * length and that many bytes; a control frame is an escape (a zero length), the control
 * frame's length, its type and its fields. */
enum {
    FSTRM_ACCEPT = 0x01, FSTRM_START = 0x02, FSTRM_STOP = 0x03, FSTRM_READY = 0x04,
    FSTRM_FINISH = 0x05, FSTRM_FIELD_CONTENT_TYPE = 0x01
};

/* The writer sends once its output holds FLUSH_AT bytes: a chunk that stays in the
 * core's L2 between being encoded and being copied into the socket (the writer shares
 * its core with the workers; a 1 MiB buffer measurably made that copy slower and evicted
 * the workers' zone lines), and still few system calls (one per ~250 messages). */
#define FLUSH_AT (64u * 1024u)
#define OBUF_ROOM (2u * 65536u + 1024u) /* enough for the two messages of any event */
#define OBUF_SIZE (FLUSH_AT + OBUF_ROOM)
/* Between rounds the writer sleeps as long as the fullest ring takes to fill a quarter at
 * the rate it filled during the last round, within these bounds: events gather into large
 * writes, and the writer wakes a few dozen times a second, not at every packet (a wake-up
 * per millisecond measurably costs the workers sharing its core). */
#define SLEEP_MIN_NS 200000L
#define SLEEP_MAX_NS 20000000L
#define RECONNECT_NS 1000000000L       /* a sink that cannot be opened is tried again after */
#define IO_TIMEOUT_MS 2000             /* handshake and writes to a stalled collector */

/* An EVENT makes a query message and a response message (as configured); a RESPONSE
 * record, the response only (a message of a zone transfer after its first). */
enum { REC_EVENT = 1, REC_PAD = 2, REC_RESPONSE = 3 };

/* One event in a ring: this header, then the query bytes, then the response bytes, the
 * whole padded to 8 bytes.  A PAD record fills the end of the ring when the next record
 * would not fit there (records never wrap). */
typedef struct rec {
    uint32_t len;                      /* the whole record, a multiple of 8 */
    uint8_t kind;
    uint8_t family;                    /* 4 or 6 */
    uint8_t tcp;
    uint8_t has_server;
    uint16_t qlen, rlen;
    uint16_t cport, sport;
    uint8_t caddr[16], saddr[16];
    int64_t qsec, rsec;
    uint32_t qnsec, rnsec;
} rec;

struct rd_dnstap_ring {
    /* The producer's (the worker's) line: head and its own counters. */
    _Atomic uint64_t head;
    uint64_t tail_seen;                /* the last tail it read: space known free */
    uint64_t logged, dropped;          /* messages; written by the worker only, read relaxed */
    uint32_t sample, sample_count;
    uint8_t queries, responses;        /* the messages an event makes */
    uint8_t *buf;
    uint64_t size, mask;
    /* The consumer's (the writer's) line. */
    _Atomic uint64_t tail __attribute__((aligned(64)));
} __attribute__((aligned(64)));

struct rd_dnstap {
    rd_dnstap_config cfg;
    char path[4096];
    char identity[256], version[256];
    uint8_t prefix[2 * (3 + 255)];     /* identity and version, encoded once */
    size_t plen;
    int nrings;
    rd_dnstap_ring *rings;
    pthread_t thread;
    int started;
    _Atomic int stop;
    int fd;                            /* the sink, or -1 */
    uint8_t *obuf;
    size_t olen;
    uint64_t opending;                 /* messages in obuf */
    struct timespec next_attempt;
    /* written by the writer only, read relaxed */
    uint64_t written, sink_dropped, connects;
    _Atomic int connected;
};

#define RD_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---------------------------------------------------------------- worker side */

int rd_dnstap_sampled(rd_dnstap_ring *r)
{
    if (++r->sample_count < r->sample)
        return 0;
    r->sample_count = 0;
    return 1;
}

static void copy_addr(const struct sockaddr *sa, uint8_t *addr, uint16_t *port)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(addr, &s6->sin6_addr, 16);
        *port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memcpy(addr, &s4->sin_addr, 4);
        *port = ntohs(s4->sin_port);
    }
}

int rd_dnstap_log(rd_dnstap_ring *r, const rd_dnstap_event *e)
{
    size_t qlen = e->query ? (e->query_len > 65535 ? 65535 : e->query_len) : 0;
    size_t rlen = e->response ? (e->response_len > 65535 ? 65535 : e->response_len) : 0;
    uint64_t need = (sizeof(rec) + qlen + rlen + 7) & ~(uint64_t)7;
    uint64_t msgs = (uint64_t)(r->queries && e->query) + (uint64_t)(r->responses && rlen);
    if (msgs == 0)
        return 0;                          /* responses only, and none was sent */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t pos = head & r->mask;
    uint64_t skip = pos + need > r->size ? r->size - pos : 0;
    if (head + skip + need - r->tail_seen > r->size) {
        /* Only now look at the writer's line: most events fit in space known free. */
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (need > r->size / 2 || head + skip + need - r->tail_seen > r->size) {
            r->dropped += msgs;
            return -1;
        }
    }
    if (skip) {
        rec *pad = (rec *)(r->buf + pos);    /* sizes are multiples of 8: a header fits */
        pad->len = (uint32_t)skip;
        pad->kind = REC_PAD;
        pos = 0;
    }
    rec *h = (rec *)(r->buf + pos);
    h->len = (uint32_t)need;
    h->kind = e->query ? REC_EVENT : REC_RESPONSE;
    h->family = e->client->sa_family == AF_INET6 ? 6 : 4;
    h->tcp = (uint8_t)(e->tcp != 0);
    h->qlen = (uint16_t)qlen;
    h->rlen = (uint16_t)rlen;
    copy_addr(e->client, h->caddr, &h->cport);
    h->has_server = e->server != NULL && e->server->sa_family == e->client->sa_family;
    if (h->has_server)
        copy_addr(e->server, h->saddr, &h->sport);
    else
        h->sport = 0;
    h->qsec = e->query_time.tv_sec;
    h->qnsec = (uint32_t)e->query_time.tv_nsec;
    h->rsec = e->response_time.tv_sec;
    h->rnsec = (uint32_t)e->response_time.tv_nsec;
    uint8_t *data = (uint8_t *)(h + 1);
    memcpy(data, e->query, qlen);
    if (rlen)
        memcpy(data + qlen, e->response, rlen);
    /* Release: the writer that sees the new head sees the record's bytes. */
    atomic_store_explicit(&r->head, head + skip + need, memory_order_release);
    r->logged += msgs;
    return 0;
}

/* ---------------------------------------------------------------- the sink */

/* Append a control frame of `type` (with the content type field when asked). */
static size_t control_frame(uint8_t *out, uint32_t type, int with_content_type)
{
    size_t ctlen = sizeof(RD_DNSTAP_CONTENT_TYPE) - 1;
    uint32_t len = 4 + (with_content_type ? 8 + (uint32_t)ctlen : 0);
    put32(out, 0);                         /* escape */
    put32(out + 4, len);
    put32(out + 8, type);
    if (with_content_type) {
        put32(out + 12, FSTRM_FIELD_CONTENT_TYPE);
        put32(out + 16, (uint32_t)ctlen);
        memcpy(out + 20, RD_DNSTAP_CONTENT_TYPE, ctlen);
    }
    return 8 + len;
}

/* Write all of buf, waiting at most IO_TIMEOUT_MS for room each time.  0 or -1. */
static int write_all(int fd, const uint8_t *buf, size_t n, int is_socket)
{
    while (n) {
        ssize_t w = is_socket ? send(fd, buf, n, MSG_NOSIGNAL) : write(fd, buf, n);
        if (w > 0) {
            buf += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            if (poll(&p, 1, IO_TIMEOUT_MS) > 0)
                continue;
        }
        return -1;
    }
    return 0;
}

/* Read one control frame of the collector within IO_TIMEOUT_MS; its type, or -1. */
static int read_control(int fd)
{
    uint8_t buf[512];
    size_t got = 0, want = 8;
    while (got < want) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, IO_TIMEOUT_MS) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + got, want - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        if (got == 8 && want == 8) {
            uint32_t len = get32(buf + 4);
            if (get32(buf) != 0 || len < 4 || len > sizeof(buf) - 8)
                return -1;             /* not a control frame, or one we do not expect */
            want = 8 + len;
        }
    }
    return (int)get32(buf + 8);
}

static void sink_close(rd_dnstap *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    atomic_store(&d->connected, 0);
}

/* Open the sink: a collector's socket (READY, its ACCEPT, START: the bidirectional
 * handshake) or a file (START only).  0 or -1. */
static int sink_open(rd_dnstap *d)
{
    uint8_t frame[64];
    if (!d->cfg.unix_socket) {
        /* A new stream starts a new file: readers take one stream (START..STOP) a file. */
        d->fd = open(d->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (d->fd < 0)
            return -1;
        if (write_all(d->fd, frame, control_frame(frame, FSTRM_START, 1), 0) < 0) {
            sink_close(d);
            return -1;
        }
    } else {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        if (strlen(d->path) >= sizeof(sa.sun_path))
            return -1;
        strcpy(sa.sun_path, d->path);
        d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (d->fd < 0)
            return -1;
        if (connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
            sink_close(d);
            return -1;
        }
        if (write_all(d->fd, frame, control_frame(frame, FSTRM_READY, 1), 1) < 0
            || read_control(d->fd) != FSTRM_ACCEPT
            || write_all(d->fd, frame, control_frame(frame, FSTRM_START, 1), 1) < 0) {
            sink_close(d);
            return -1;
        }
    }
    d->connects++;
    atomic_store(&d->connected, 1);
    return 0;
}

/* End the stream: STOP, and on a socket the collector's FINISH (briefly awaited). */
static void sink_finish(rd_dnstap *d)
{
    uint8_t frame[16];
    if (d->fd < 0)
        return;
    if (write_all(d->fd, frame, control_frame(frame, FSTRM_STOP, 0), d->cfg.unix_socket) == 0
        && d->cfg.unix_socket)
        (void)read_control(d->fd);
    sink_close(d);
}

static void flush(rd_dnstap *d)
{
    if (d->olen == 0)
        return;
    if (d->fd >= 0 && write_all(d->fd, d->obuf, d->olen, d->cfg.unix_socket) == 0) {
        d->written += d->opending;
    } else {
        d->sink_dropped += d->opending;   /* the collector went away: reconnect later */
        sink_close(d);
    }
    d->olen = 0;
    d->opending = 0;
}

/* Encode one message of the event as a data frame in the output buffer. */
static void emit(rd_dnstap *d, const rec *h, int type)
{
    const uint8_t *data = (const uint8_t *)(h + 1);
    rd_dnstap_fields f = {
        .type = type,
        .family = h->family == 6 ? RD_DNSTAP_INET6 : RD_DNSTAP_INET,
        .protocol = h->tcp ? RD_DNSTAP_TCP : RD_DNSTAP_UDP,
        .query_address = h->caddr,
        .query_port = h->cport,
        .response_address = h->has_server ? h->saddr : NULL,
        .response_port = h->sport,
        .query_sec = (uint64_t)h->qsec,
        .query_nsec = h->qnsec,
    };
    if (type == RD_DNSTAP_AUTH_QUERY) {
        f.query_message = data;
        f.query_len = h->qlen;
    } else {
        f.response_sec = (uint64_t)h->rsec;
        f.response_nsec = h->rnsec;
        f.response_message = data + h->qlen;
        f.response_len = h->rlen;
    }
    if (OBUF_SIZE - d->olen < OBUF_ROOM)
        flush(d);
    size_t n = rd_dnstap_encode(d->obuf + d->olen + 4, OBUF_SIZE - d->olen - 4,
                                d->prefix, d->plen, &f);
    if (n == 0) {
        d->sink_dropped++;
        return;
    }
    put32(d->obuf + d->olen, (uint32_t)n);
    d->olen += 4 + n;
    d->opending++;
}

/* Take every record of ring r: encoded when the sink is open, dropped (counted)
 * otherwise.  Returns the number of events taken. */
static uint64_t drain(rd_dnstap *d, rd_dnstap_ring *r, uint64_t *bytes)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t n = 0;
    *bytes = head - tail;
    while (tail != head) {
        const rec *h = (const rec *)(r->buf + (tail & r->mask));
        if (h->kind != REC_PAD) {
            int q = d->cfg.queries && h->kind == REC_EVENT, a = d->cfg.responses && h->rlen;
            if (d->fd >= 0) {
                if (q) emit(d, h, RD_DNSTAP_AUTH_QUERY);
                if (a) emit(d, h, RD_DNSTAP_AUTH_RESPONSE);
                if (d->olen >= FLUSH_AT)
                    flush(d);
            } else {
                d->sink_dropped += (uint64_t)(q + a);
            }
            n++;
        }
        tail += h->len;
        if ((n & 255) == 0)           /* give room back to the worker as we go */
            atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    return n;
}

static int time_reached(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *writer_run(void *arg)
{
    rd_dnstap *d = arg;
    pthread_setname_np(pthread_self(), "robdns-dnstap");
    /* SCHED_BATCH: same share of the CPU, but its timer wake-ups never preempt a worker
     * answering on the same core (sched(7)); it runs when the worker waits for packets or
     * its slice ends, so logging adds no latency to answers. */
    struct sched_param sp = { 0 };
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    rd_worker_drop_capabilities();
    uint64_t last = mono_ns();
    uint64_t quarter = d->cfg.ring_bytes / 4;
    uint64_t drained;
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        if (d->fd < 0 && time_reached(&d->next_attempt)) {
            if (sink_open(d) < 0) {
                clock_gettime(CLOCK_MONOTONIC, &d->next_attempt);
                d->next_attempt.tv_sec += RECONNECT_NS / 1000000000L;
            }
        }
        uint64_t fullest = 0;
        for (int i = 0; i < d->nrings; i++) {
            drain(d, &d->rings[i], &drained);
            if (drained > fullest)
                fullest = drained;
        }
        flush(d);
        uint64_t now = mono_ns();
        uint64_t sleep_ns = SLEEP_MAX_NS;
        if (fullest)
            sleep_ns = (uint64_t)((double)(now - last) * (double)quarter / (double)fullest);
        last = now;
        if (fullest >= quarter)
            continue;                      /* falling behind: no pause */
        if (sleep_ns < SLEEP_MIN_NS) sleep_ns = SLEEP_MIN_NS;
        if (sleep_ns > SLEEP_MAX_NS) sleep_ns = SLEEP_MAX_NS;
        struct timespec pause = { 0, (long)sleep_ns };
        nanosleep(&pause, NULL);
    }
    /* The workers have stopped: write what they left, then end the stream. */
    for (int i = 0; i < d->nrings; i++)
        drain(d, &d->rings[i], &drained);
    flush(d);
    sink_finish(d);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

rd_dnstap *rd_dnstap_start(const rd_dnstap_config *cfg, int nrings, char *err, size_t errlen)
{
    if (nrings < 1 || cfg->sample < 1 || cfg->ring_bytes < 65536
        || (cfg->ring_bytes & (cfg->ring_bytes - 1)) || !cfg->path
        || strlen(cfg->path) >= sizeof(((rd_dnstap *)0)->path)) {
        snprintf(err, errlen, "bad dnstap settings");
        return NULL;
    }
    rd_dnstap *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    snprintf(d->path, sizeof(d->path), "%s", cfg->path);
    snprintf(d->identity, sizeof(d->identity), "%s", cfg->identity ? cfg->identity : "");
    snprintf(d->version, sizeof(d->version), "%s", cfg->version ? cfg->version : "");
    d->plen = rd_dnstap_prefix(d->prefix, sizeof(d->prefix), (const uint8_t *)d->identity,
                               strlen(d->identity), (const uint8_t *)d->version,
                               strlen(d->version));
    d->cfg.path = d->path;
    d->fd = -1;
    d->nrings = nrings;
    d->rings = aligned_alloc(64, sizeof(rd_dnstap_ring) * (size_t)nrings);
    d->obuf = malloc(OBUF_SIZE);
    if (!d->rings || !d->obuf) {
        rd_dnstap_free(d);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memset(d->rings, 0, sizeof(rd_dnstap_ring) * (size_t)nrings);
    for (int i = 0; i < nrings; i++) {
        rd_dnstap_ring *r = &d->rings[i];
        r->buf = aligned_alloc(64, cfg->ring_bytes);
        if (!r->buf) {
            rd_dnstap_free(d);
            snprintf(err, errlen, "out of memory for the dnstap rings");
            return NULL;
        }
        r->size = cfg->ring_bytes;
        r->mask = cfg->ring_bytes - 1;
        r->sample = cfg->sample;
        r->queries = (uint8_t)(cfg->queries != 0);
        r->responses = (uint8_t)(cfg->responses != 0);
        r->sample_count = cfg->sample - 1;     /* the first query is logged */
        atomic_init(&r->head, 0);
        atomic_init(&r->tail, 0);
    }
    /* A first attempt now, so that a configuration error (a file that cannot be
     * created) shows at start; a collector that is not there yet is tried again later. */
    if (sink_open(d) < 0) {
        if (!cfg->unix_socket) {
            snprintf(err, errlen, "cannot open %s: %s", d->path, strerror(errno));
            rd_dnstap_free(d);
            return NULL;
        }
        clock_gettime(CLOCK_MONOTONIC, &d->next_attempt);
        d->next_attempt.tv_sec += RECONNECT_NS / 1000000000L;
    }
    int rc = rd_worker_thread_start(&d->thread, -1, writer_run, d);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the dnstap writer: %s", strerror(rc));
        rd_dnstap_free(d);
        return NULL;
    }
    d->started = 1;
    return d;
}

rd_dnstap_ring *rd_dnstap_ring_at(rd_dnstap *d, int i)
{
    return d && i >= 0 && i < d->nrings ? &d->rings[i] : NULL;
}

void rd_dnstap_stop(rd_dnstap *d)
{
    if (!d || !d->started)
        return;
    atomic_store(&d->stop, 1);
    pthread_join(d->thread, NULL);
    d->started = 0;
}

void rd_dnstap_free(rd_dnstap *d)
{
    if (!d)
        return;
    rd_dnstap_stop(d);
    sink_close(d);
    if (d->rings)
        for (int i = 0; i < d->nrings; i++)
            free(d->rings[i].buf);
    free(d->rings);
    free(d->obuf);
    free(d);
}

void rd_dnstap_counters_get(const rd_dnstap *d, rd_dnstap_counters *out)
{
    memset(out, 0, sizeof(*out));
    if (!d)
        return;
    for (int i = 0; i < d->nrings; i++) {
        out->logged += RD_LOAD(d->rings[i].logged);
        out->dropped += RD_LOAD(d->rings[i].dropped);
    }
    out->dropped += RD_LOAD(d->sink_dropped);
    out->written = RD_LOAD(d->written);
    out->connects = RD_LOAD(d->connects);
    out->connected = atomic_load(&d->connected);
}
