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

#include "echo_socket.h"

#define BATCH 64
#define BUFSZ 4096

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    int fd = echo_open(argc, argv, &sa);
    if (fd < 0)
        return -fd;
    printf("port %u\n", ntohs(sa.sin_port));
    fflush(stdout);

    echo_signals();

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
