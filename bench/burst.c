/* burst.c — closed-loop UDP client: B queries sent with one sendmmsg, all B answers awaited, N times: the server sees bursts of exactly B.
 *
 * dnsperf's pacing decides how many queries one wake-up of a server finds (1-2 on a busy
 * host at 40k qps, 4-6 on a quiet one), so its CPU per query mixes what a wake-up costs
 * with what a datagram costs.  Here every burst is B datagrams queued at once and the next
 * one waits for every answer, so the server wakes once per burst: its CPU per query at
 * several B separates the two (per burst + B x per datagram).  qps_bench.py --bursts.
 *
 *   burst PORT B N FILE     FILE: queries in wire format, each preceded by one length octet
 * Prints "answered A lost L seconds S".  An answer not there within 100 ms counts the
 * rest of its burst lost (and the next burst starts).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAXB 64
#define MAXQ 65536

static unsigned char qs[MAXQ][256];
static unsigned char ql[MAXQ];
static unsigned char rb[MAXB][4096];

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT B N FILE\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), b = atoi(argv[2]);
    long n = atol(argv[3]);
    if (b < 1 || b > MAXB || n < 1) {
        fprintf(stderr, "B must be 1..%d, N at least 1\n", MAXB);
        return 2;
    }
    FILE *f = fopen(argv[4], "rb");
    if (!f) {
        perror(argv[4]);
        return 1;
    }
    int nq = 0, len;
    while (nq < MAXQ && (len = fgetc(f)) != EOF) {
        if (fread(qs[nq], 1, (size_t)len, f) != (size_t)len)
            break;
        ql[nq++] = (unsigned char)len;
    }
    fclose(f);
    if (nq == 0) {
        fprintf(stderr, "no queries in %s\n", argv[4]);
        return 1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("socket/connect");
        return 1;
    }
    struct mmsghdr m[MAXB];
    struct iovec iov[MAXB];
    long answered = 0, lost = 0;
    int qi = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long it = 0; it < n; it++) {
        memset(m, 0, sizeof(m[0]) * (size_t)b);
        for (int i = 0; i < b; i++) {
            iov[i].iov_base = qs[qi];
            iov[i].iov_len = ql[qi];
            qi = (qi + 1) % nq;
            m[i].msg_hdr.msg_iov = &iov[i];
            m[i].msg_hdr.msg_iovlen = 1;
        }
        for (int sent = 0; sent < b;) {
            int r = sendmmsg(fd, m + sent, (unsigned)(b - sent), 0);
            if (r <= 0) {
                perror("sendmmsg");
                return 1;
            }
            sent += r;
        }
        int have = 0;
        while (have < b) {
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 100) <= 0)
                break;
            memset(m, 0, sizeof(m[0]) * (size_t)(b - have));
            for (int i = 0; i < b - have; i++) {
                iov[i].iov_base = rb[i];
                iov[i].iov_len = sizeof(rb[i]);
                m[i].msg_hdr.msg_iov = &iov[i];
                m[i].msg_hdr.msg_iovlen = 1;
            }
            int r = recvmmsg(fd, m, (unsigned)(b - have), MSG_DONTWAIT, NULL);
            if (r > 0)
                have += r;
        }
        answered += have;
        lost += b - have;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("answered %ld lost %ld seconds %.3f\n", answered, lost,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
