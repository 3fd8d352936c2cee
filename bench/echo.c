/* echo.c — the benchmark floor: a bare recvmmsg/sendmmsg UDP echo that sets QR and does no DNS work.
 *
 * One thread, pinned to one CPU, one socket.  Each batch of datagrams is received with
 * recvmmsg(), the QR bit (RFC 1035 4.1.1, bit 7 of the third octet) is set in place,
 * and the batch goes back to the senders with sendmmsg().  Whatever a real server
 * spends per query beyond this is its DNS work (plus its own overheads); this is the
 * least a UDP server on this kernel can spend.
 *
 *   echo ADDR PORT [CPU]      PORT 0 picks a free port; prints "port N" once bound.
 * Exits cleanly on SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define BUFSZ 4096

static volatile sig_atomic_t stopping;

static void on_signal(int sig) { (void)sig; stopping = 1; }

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDR PORT [CPU]\n", argv[0]);
        return 2;
    }
    if (argc > 3) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(argv[3]), &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            perror("sched_setaffinity");
            return 1;
        }
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 address: %s\n", argv[1]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("socket/bind");
        return 1;
    }
    socklen_t salen = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &salen);
    printf("port %u\n", ntohs(sa.sin_port));
    fflush(stdout);

    /* No SA_RESTART: a signal interrupts the blocking recvmmsg() so the loop can exit. */
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    static char bufs[BATCH][BUFSZ];
    static struct sockaddr_in peers[BATCH];
    static struct iovec iov[BATCH];
    static struct mmsghdr msgs[BATCH];
    while (!stopping) {
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = BUFSZ;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_name = &peers[i];
            msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        /* Block for the first datagram, then take whatever else is queued. */
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("recvmmsg");
            return 1;
        }
        int out = 0;
        for (int i = 0; i < n; i++) {
            unsigned len = msgs[i].msg_len;
            if (len < 12 || (bufs[i][2] & 0x80))   /* too short for a header, or a response */
                continue;
            bufs[i][2] |= (char)0x80;
            iov[i].iov_len = len;
            if (out != i)
                msgs[out] = msgs[i];
            out++;
        }
        for (int sent = 0; sent < out;) {
            int r = sendmmsg(fd, msgs + sent, (unsigned)(out - sent), 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                break;   /* a full send buffer drops the rest, as a server would */
            }
            sent += r;
        }
    }
    close(fd);
    return 0;
}
