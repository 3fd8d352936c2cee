/* window.c — saturating closed-loop UDP load: W queries kept outstanding over S sockets, sent with sendmmsg, answers read with recvmmsg, so the server and not this client sets the rate.
 *
 * dnsperf -q 500 keeps a window too, but sends and receives one datagram per system call
 * from one thread: on one core it tops out near 130-140k qps (loopback, DO answers), below
 * what robdns answers, so at "saturation" the server still waits for it (~0.83 of its core
 * busy) and its CPU per query is measured with the small batches of a server not driven
 * to its limit.  Here every free slot of the window is refilled with one sendmmsg per
 * socket and answers come in batches of up to 64, so a client core costs a few µs per
 * query and offers well over the servers' rate; the client's own CPU is printed so a run
 * can show it was not the bottleneck (qps_bench.py --loads window).
 *
 *   window ADDR PORT W SOCKETS SECONDS COUNT TIMEOUT_MS FILE
 *
 * FILE: queries in wire format, each preceded by one length octet (qps_bench.py writes
 * them from the query file as dnsperf builds them, with -D's OPT record when asked); they
 * are sent in file order, round and round.  The window is split evenly over the sockets
 * (each its own source port, as dnsperf's -c clients); each socket numbers its queries
 * with IDs of its own.  An answer is one whose socket, ID and question match a query in
 * flight (anything else counts as mismatched); a query not answered within TIMEOUT_MS is
 * lost (dnsperf waits 5 s; on loopback an answer later than a second is not coming).
 * Sending stops after SECONDS or COUNT queries, whichever comes first; then the
 * outstanding answers are awaited, TIMEOUT_MS at most.  One line of "key value" pairs:
 *
 *   sent answered lost mismatched truncated seconds qps latency_us_median latency_us_p99
 *   latency_us_mean response_bytes_mean cpu_user_s cpu_sys_s sends send_batch_mean
 *   recv_batch_mean run_ns wait_ns (this process's schedstat: on its CPU, runnable
 *   waiting for it) rcode_NOERROR rcode_NXDOMAIN ... (each RCODE seen)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    BATCH = 64,             /* datagrams per sendmmsg / recvmmsg */
    MAXS = 64,              /* sockets */
    QMAX = 512,             /* longest query */
    RMAX = 65536,           /* an answer of any size is read whole (DO answers ~1-4 kB) */
    IDS = 65536,            /* DNS IDs per socket (RFC 1035 4.1.1: 16 bits) */
    LAT_US = 1000000,       /* latency histogram: 1 µs buckets up to 1 s */
};

typedef struct query {
    const uint8_t *wire;
    uint16_t len;
    uint16_t qend;          /* end of the question: header + QNAME + QTYPE + QCLASS */
} query;

typedef struct sock {
    int fd;
    int window;             /* its share of W */
    int outstanding;
    uint16_t next_id;
    uint64_t sent_ns[IDS];  /* 0: this ID is not in flight */
    uint32_t qindex[IDS];   /* which query went out under this ID */
} sock;

static query *qs;
static size_t nq;
static uint32_t lat_hist[LAT_US + 1];   /* the last bucket: 1 s and over */
static uint64_t rcodes[16];
static uint8_t sbuf[BATCH][QMAX];
static uint8_t rbuf[BATCH][RMAX];

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The file's queries; each one's question end, where the answer's copy of it must end
 * too (RFC 1035 4.1.2: the question is echoed). */
static int load_queries(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    static uint8_t *data;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)size + 1);
    qs = calloc((size_t)size / 13 + 1, sizeof(*qs));     /* a query is 12+ octets */
    if (!data || !qs || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    fclose(f);
    for (long o = 0; o < size;) {
        size_t len = data[o];
        if (o + 1 + (long)len > size || len < 12 + 1 + 4 || len > QMAX)
            break;
        const uint8_t *w = data + o + 1;
        size_t p = 12;
        while (p < len && w[p] != 0)          /* uncompressed QNAME: labels, then the root */
            p += (size_t)w[p] + 1;
        if (p + 5 > len) {
            fprintf(stderr, "query %zu: no question\n", nq);
            return -1;
        }
        qs[nq++] = (query){.wire = w, .len = (uint16_t)len, .qend = (uint16_t)(p + 5)};
        o += 1 + (long)len;
    }
    if (nq == 0) {
        fprintf(stderr, "no queries in %s\n", path);
        return -1;
    }
    return 0;
}

/* The question of the answer is the one asked (ASCII case aside: RFC 4343). */
static int same_question(const uint8_t *a, size_t alen, const query *q)
{
    if (alen < q->qend || a[4] != 0 || a[5] != 1)
        return 0;
    for (size_t i = 12; i < q->qend; i++) {
        uint8_t x = a[i], y = q->wire[i];
        if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z'))
            return 0;
    }
    return 1;
}

static int open_socket(const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    /* 4 MiB each way, as qps_bench's dnsperf -b 4096: answers must not be dropped at this
     * client's socket and counted as the server's losses. */
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Fill the socket's free slots of the window (at most `budget` queries), BATCH at a time. */
static long send_some(sock *s, size_t *qnext, long budget, long *sends)
{
    struct mmsghdr m[BATCH];
    struct iovec iov[BATCH];
    long total = 0;
    while (s->outstanding < s->window && total < budget) {
        int n = 0;
        while (n < BATCH && s->outstanding + n < s->window && total + n < budget) {
            while (s->sent_ns[s->next_id])      /* still in flight: the next free ID */
                s->next_id++;
            uint16_t id = s->next_id++;
            const query *q = &qs[*qnext];
            memcpy(sbuf[n], q->wire, q->len);
            sbuf[n][0] = (uint8_t)(id >> 8);
            sbuf[n][1] = (uint8_t)id;
            s->qindex[id] = (uint32_t)*qnext;
            s->sent_ns[id] = 1;                 /* reserved; the time is set once sent */
            iov[n] = (struct iovec){sbuf[n], q->len};
            memset(&m[n], 0, sizeof(m[n]));
            m[n].msg_hdr.msg_iov = &iov[n];
            m[n].msg_hdr.msg_iovlen = 1;
            *qnext = (*qnext + 1) % nq;
            n++;
        }
        int done = 0;
        while (done < n) {
            int r = sendmmsg(s->fd, m + done, (unsigned)(n - done), 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;      /* send buffer full (EAGAIN): the rest go out later */
            done += r;
        }
        (*sends)++;
        uint64_t t = now_ns();
        for (int i = 0; i < n; i++) {
            uint16_t id = (uint16_t)(sbuf[i][0] << 8 | sbuf[i][1]);
            if (i < done) {
                s->sent_ns[id] = t;
            } else {                            /* not sent: the ID is free again */
                s->sent_ns[id] = 0;
                if (*qnext == 0)
                    *qnext = nq;
                (*qnext)--;
            }
        }
        s->outstanding += done;
        total += done;
        if (done < n)
            break;
    }
    return total;
}

typedef struct tally {
    long answered, mismatched, truncated, lost, recvs, received;
    uint64_t bytes, lat_sum_ns;
} tally;

/* Read the socket's answers until it has none (at most `rounds` recvmmsg calls). */
static long recv_some(sock *s, tally *t, int rounds)
{
    struct mmsghdr m[BATCH];
    struct iovec iov[BATCH];
    long got = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){rbuf[i], RMAX};
            memset(&m[i], 0, sizeof(m[i]));
            m[i].msg_hdr.msg_iov = &iov[i];
            m[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(s->fd, m, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break;
        t->recvs++;
        t->received += n;
        uint64_t now = now_ns();
        for (int i = 0; i < n; i++) {
            const uint8_t *a = rbuf[i];
            size_t len = m[i].msg_len;
            uint16_t id = len >= 12 ? (uint16_t)(a[0] << 8 | a[1]) : 0;
            if (len < 12 || !(a[2] & 0x80) || !s->sent_ns[id]
                || !same_question(a, len, &qs[s->qindex[id]])) {
                t->mismatched++;                /* not an answer to a query in flight */
                continue;
            }
            uint64_t us = (now - s->sent_ns[id]) / 1000;
            lat_hist[us < LAT_US ? us : LAT_US]++;
            t->lat_sum_ns += now - s->sent_ns[id];
            s->sent_ns[id] = 0;
            s->outstanding--;
            t->answered++;
            t->bytes += len;
            rcodes[a[3] & 0x0f]++;
            if (a[2] & 0x02)
                t->truncated++;                 /* TC (RFC 1035 4.1.1) */
            got++;
        }
        if (n < BATCH)
            break;
    }
    return got;
}

/* Queries older than the timeout are lost: a scan of the socket's IDs (65536 compares,
 * ten times a second: ~0.2% of this client's time). */
static void expire(sock *s, uint64_t now, uint64_t timeout_ns, tally *t)
{
    for (uint32_t id = 0; id < IDS && s->outstanding; id++) {
        uint64_t sent = s->sent_ns[id];
        if (sent && now - sent >= timeout_ns) {
            s->sent_ns[id] = 0;
            s->outstanding--;
            t->lost++;
        }
    }
}

static uint64_t percentile_us(long total, double p)
{
    long want = (long)(p * (double)total), seen = 0;
    for (uint64_t us = 0; us <= LAT_US; us++) {
        seen += lat_hist[us];
        if (seen > want)
            return us;
    }
    return LAT_US;
}

static const char *RCODE_NAMES[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
                                      "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
                                      "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14",
                                      "RCODE15"};

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: %s ADDR PORT W SOCKETS SECONDS COUNT TIMEOUT_MS FILE\n", argv[0]);
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    int window = atoi(argv[3]), nsock = atoi(argv[4]);
    double seconds = atof(argv[5]);
    long count = atol(argv[6]);
    uint64_t timeout_ns = (uint64_t)atol(argv[7]) * 1000000u;
    if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1 || nsock < 1 || nsock > MAXS
        || window < nsock || window / nsock >= IDS || seconds <= 0 || count < 1
        || timeout_ns == 0) {
        fprintf(stderr, "bad arguments (W >= SOCKETS, 1..%d sockets, W/SOCKETS < %d)\n",
                MAXS, IDS);
        return 2;
    }
    if (load_queries(argv[8]) != 0)
        return 1;
    sock *socks = calloc((size_t)nsock, sizeof(*socks));
    struct pollfd pfd[MAXS];
    if (!socks) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int i = 0; i < nsock; i++) {
        socks[i].fd = open_socket(&to);
        if (socks[i].fd < 0) {
            perror("socket/connect");
            return 1;
        }
        socks[i].window = window / nsock + (i < window % nsock);
        socks[i].next_id = (uint16_t)(i * 7919);      /* sockets do not start in step */
        pfd[i] = (struct pollfd){socks[i].fd, POLLIN, 0};
    }

    tally t = {0};
    long sent = 0, sends = 0, answered_sending = 0;
    size_t qnext = 0;
    uint64_t t0 = now_ns(), stop_at = t0 + (uint64_t)(seconds * 1e9), drain_until = 0;
    uint64_t last_expire = t0, t_end = t0;
    int sending = 1;
    for (;;) {
        uint64_t now = now_ns();
        if (sending && (now >= stop_at || sent >= count)) {
            sending = 0;                        /* await what is in flight, no longer */
            drain_until = now + timeout_ns;
            t_end = now;
            answered_sending = t.answered;
        }
        long in_flight = 0;
        for (int i = 0; i < nsock; i++)
            in_flight += socks[i].outstanding;
        if (!sending && (in_flight == 0 || now >= drain_until))
            break;
        if (now - last_expire >= 100000000) {   /* the timeouts, every 100 ms */
            for (int i = 0; i < nsock; i++)
                expire(&socks[i], now, timeout_ns, &t);
            last_expire = now;
        }
        long moved = 0;
        for (int i = 0; i < nsock; i++) {
            moved += recv_some(&socks[i], &t, 4);
            if (sending) {
                long n = send_some(&socks[i], &qnext, count - sent, &sends);
                sent += n;
                moved += n;
            }
        }
        if (moved == 0)                         /* nothing to do: wait for an answer */
            poll(pfd, (nfds_t)nsock, 1);
    }
    if (sending) {
        t_end = now_ns();
        answered_sending = t.answered;
    }
    for (int i = 0; i < nsock; i++) {           /* what never came back is lost too */
        t.lost += socks[i].outstanding;
        close(socks[i].fd);
    }
    /* The rate is the sending phase's: the answers that came while queries went out, over
     * its length (the drain after it, the window's last answers, is not a load). */
    double secs = (double)(t_end - t0) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* time on the CPU and runnable waiting for it: together below the run's length, this
     * client waited for answers (the server set the rate) */
    unsigned long long run_ns = 0, wait_ns = 0;
    FILE *st = fopen("/proc/self/schedstat", "r");
    if (st) {
        if (fscanf(st, "%llu %llu", &run_ns, &wait_ns) != 2)
            run_ns = wait_ns = 0;
        fclose(st);
    }
    printf("sent %ld answered %ld lost %ld mismatched %ld truncated %ld seconds %.6f qps %.1f "
           "latency_us_median %llu latency_us_p99 %llu latency_us_mean %.1f "
           "response_bytes_mean %.1f cpu_user_s %.6f cpu_sys_s %.6f sends %ld "
           "send_batch_mean %.2f recv_batch_mean %.2f run_ns %llu wait_ns %llu",
           sent, t.answered, t.lost, t.mismatched, t.truncated, secs,
           secs > 0 ? (double)answered_sending / secs : 0.0,
           (unsigned long long)percentile_us(t.answered, 0.5),
           (unsigned long long)percentile_us(t.answered, 0.99),
           t.answered ? (double)t.lat_sum_ns / 1e3 / (double)t.answered : 0.0,
           t.answered ? (double)t.bytes / (double)t.answered : 0.0,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, sends,
           sends ? (double)sent / (double)sends : 0.0,
           t.recvs ? (double)t.received / (double)t.recvs : 0.0, run_ns, wait_ns);
    for (int i = 0; i < 16; i++)
        if (rcodes[i])
            printf(" rcode_%s %llu", RCODE_NAMES[i], (unsigned long long)rcodes[i]);
    printf("\n");
    return 0;
}
