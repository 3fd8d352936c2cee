/* tcpcpq.c — connection-per-query DNS over TCP load: many connections in flight, each opened, asked one query, read and closed.
 *
 * The pattern of clients retrying over TCP after a truncated UDP answer.  One thread,
 * epoll, up to `inflight` connections at once so that the server, not this client, sets
 * the rate.  Every connection closes with RST (SO_LINGER 0) once its answer is read: a
 * client's TIME_WAIT would run out of ports long before the server runs out of breath.
 * Bounded by a query count and a duration; prints one line:
 *     completed N failed M unfinished U seconds S
 * (unfinished: connections still in flight when the time ran out).
 *
 *     tcpcpq HOST PORT QUERIES_FILE INFLIGHT COUNT SECONDS
 * QUERIES_FILE holds queries in TCP framing (2-byte length, then the message), back to
 * back; they are sent in turn.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAXQ = 65536, MAXIN = 1024 };

typedef struct conn {
    int fd;
    int sent;            /* the query went out */
    size_t got;          /* answer bytes read so far (length prefix included) */
    size_t want;         /* 2 + answer length once the prefix is in */
    uint8_t buf[2 + 65535];
} conn;

static const uint8_t *qv[MAXQ];
static size_t ql[MAXQ], nq, qnext;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_conn(int ep, conn *c, const struct sockaddr_in *sa)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) return -1;
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->sent = 0;
    c->got = 0;
    c->want = 0;
    if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void close_conn(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: tcpcpq HOST PORT QUERIES_FILE INFLIGHT COUNT SECONDS\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) return 2;
    FILE *f = fopen(argv[3], "rb");
    if (!f) { perror(argv[3]); return 2; }
    static uint8_t file[64 << 20];
    size_t flen = fread(file, 1, sizeof file, f);
    fclose(f);
    for (size_t o = 0; o + 2 <= flen && nq < MAXQ; ) {
        size_t l = (size_t)file[o] << 8 | file[o + 1];
        if (o + 2 + l > flen) break;
        qv[nq] = file + o;
        ql[nq++] = 2 + l;
        o += 2 + l;
    }
    if (!nq) { fprintf(stderr, "no queries in %s\n", argv[3]); return 2; }
    int inflight = atoi(argv[4]);
    if (inflight < 1) inflight = 1;
    if (inflight > MAXIN) inflight = MAXIN;
    long count = atol(argv[5]);
    double seconds = atof(argv[6]);

    static conn conns[MAXIN];
    int ep = epoll_create1(0);
    long started = 0, completed = 0, failed = 0;
    double t0 = now(), deadline = t0 + seconds;
    for (int i = 0; i < inflight && started < count; i++, started++)
        if (open_conn(ep, &conns[i], &sa) < 0) failed++;
    struct epoll_event evs[256];
    int open_n = inflight;
    while (open_n > 0) {
        double t = now();
        if (t >= deadline) break;
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            int done = 0, bad = 0;
            if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN)) bad = 1;
            if (!bad && !c->sent && (evs[i].events & EPOLLOUT)) {
                size_t k = qnext++ % nq;
                if (send(c->fd, qv[k], ql[k], MSG_NOSIGNAL) != (ssize_t)ql[k]) bad = 1;
                else {
                    c->sent = 1;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!bad && c->sent && (evs[i].events & EPOLLIN)) {
                for (;;) {
                    size_t room = (c->want ? c->want : 2) - c->got;
                    ssize_t r = recv(c->fd, c->buf + c->got, room, 0);
                    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    if (r <= 0) { bad = 1; break; }
                    c->got += (size_t)r;
                    if (!c->want && c->got == 2) c->want = 2 + ((size_t)c->buf[0] << 8 | c->buf[1]);
                    if (c->want && c->got == c->want) { done = 1; break; }
                }
            }
            if (done || bad) {
                close_conn(ep, c);
                if (done) completed++; else failed++;
                if (started < count && now() < deadline) {
                    started++;
                    if (open_conn(ep, c, &sa) < 0) { failed++; open_n--; }
                } else {
                    open_n--;
                }
            }
        }
    }
    double secs = now() - t0;
    long unfinished = 0;
    for (int i = 0; i < inflight && i < started; i++)
        if (conns[i].fd >= 0) { close(conns[i].fd); unfinished++; }
    printf("completed %ld failed %ld unfinished %ld seconds %.3f\n", completed, failed,
           unfinished, secs);
    return 0;
}
