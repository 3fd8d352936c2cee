/* echo_socket.h — the start the echo floors share (echo.c, echo_uring.c): arguments, CPU, the bound socket, the stop signals. */
#ifndef BENCH_ECHO_SOCKET_H
#define BENCH_ECHO_SOCKET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig) { (void)sig; stopping = 1; }

/* ADDR PORT [CPU] from argv: the thread pinned to CPU, a UDP socket bound to ADDR:PORT
 * (PORT 0: a free one), *sa its bound address.  Returns the socket, or -(exit status)
 * after saying why on stderr. */
static int echo_open(int argc, char **argv, struct sockaddr_in *sa)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDR PORT [CPU]\n", argv[0]);
        return -2;
    }
    if (argc > 3) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(argv[3]), &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            perror("sched_setaffinity");
            return -1;
        }
    }
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa->sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 address: %s\n", argv[1]);
        return -2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof *sa) != 0) {
        perror("socket/bind");
        return -1;
    }
    socklen_t salen = sizeof *sa;
    getsockname(fd, (struct sockaddr *)sa, &salen);
    return fd;
}

/* SIGTERM and SIGINT set `stopping`; no SA_RESTART, so a blocking wait returns EINTR and
 * the loop can exit. */
static void echo_signals(void)
{
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
}

#endif
