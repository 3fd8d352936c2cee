/* echo_uring.c — the echo floor over io_uring: the same work as echo.c (set QR, send back), another kernel interface.
 *
 * Issue 17 asks whether io_uring lowers what a UDP server spends per query at moderate
 * load; this measures it on the floor before anyone ports the server loop.  One thread,
 * one socket, one ring (IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN: completions are made
 * only while the thread waits, none interrupt it):
 *   - one multishot IORING_OP_RECVMSG (IORING_RECV_MULTISHOT) fills buffers from a
 *     provided-buffer ring, one completion per datagram, re-armed only when it ends;
 *   - each reply is an IORING_OP_SENDMSG from the datagram's own buffer, submitted by the
 *     same io_uring_enter that waits for the next datagrams: one system call a turn where
 *     echo.c makes two (recvmmsg, sendmmsg).  A send on loopback completes inline, so the
 *     wait asks for the turn's sends plus one datagram; the buffer goes back to the ring
 *     when its send's completion is read.
 *
 *   echo_uring ADDR PORT [CPU]   as echo.c: PORT 0 picks a free port; prints "port N".
 * Exits cleanly on SIGTERM/SIGINT (the wait returns EINTR).  Raw system calls: no liburing here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "echo_socket.h"

#define NBUF 256            /* provided buffers (a power of two), as many as one turn can hold */
#define BUFSZ 4096          /* header, sender's address, then the datagram: as echo.c's 4096 */
#define BGID 7              /* the buffer group's id */
#define UD_RECV 0xffffffffull   /* user_data of the receive; a send's is its buffer id */

static int ring_fd;
static unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static unsigned sq_local_tail;
static struct io_uring_buf_ring *br;
static char *bufs;
static unsigned short br_tail;
static struct msghdr recv_tmpl;
static struct msghdr smsg[NBUF];
static struct iovec siov[NBUF];

static struct io_uring_sqe *get_sqe(void)
{
    unsigned idx = sq_local_tail & *sq_mask;
    struct io_uring_sqe *s = &sqes[idx];
    memset(s, 0, sizeof(*s));
    sq_array[idx] = idx;
    sq_local_tail++;
    return s;
}

static void buf_give(unsigned bid)
{
    struct io_uring_buf *b = &br->bufs[br_tail & (NBUF - 1)];
    b->addr = (unsigned long)(bufs + (size_t)bid * BUFSZ);
    b->len = BUFSZ;
    b->bid = (unsigned short)bid;
    br_tail++;
}

static void arm_recv(int fd)
{
    struct io_uring_sqe *s = get_sqe();
    s->opcode = IORING_OP_RECVMSG;
    s->fd = fd;
    s->addr = (unsigned long)&recv_tmpl;
    s->len = 1;
    s->flags = IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    s->ioprio = IORING_RECV_MULTISHOT;
    s->user_data = UD_RECV;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    int fd = echo_open(argc, argv, &sa);
    if (fd < 0)
        return -fd;
    echo_signals();

    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = 1024;
    ring_fd = (int)syscall(__NR_io_uring_setup, 512, &p);
    if (ring_fd < 0) {
        perror("io_uring_setup");
        return 1;
    }
    size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (cq_sz > sq_sz)
        sq_sz = cq_sz;
    char *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
    char *cq = sq;   /* IORING_FEAT_SINGLE_MMAP: one mapping holds both rings (5.4+) */
    sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || sqes == MAP_FAILED || !(p.features & IORING_FEAT_SINGLE_MMAP)) {
        perror("io_uring mmap");
        return 1;
    }
    sq_head = (unsigned *)(sq + p.sq_off.head);
    sq_tail = (unsigned *)(sq + p.sq_off.tail);
    sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    sq_array = (unsigned *)(sq + p.sq_off.array);
    cq_head = (unsigned *)(cq + p.cq_off.head);
    cq_tail = (unsigned *)(cq + p.cq_off.tail);
    cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    sq_local_tail = *sq_tail;

    br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    bufs = aligned_alloc(4096, (size_t)NBUF * BUFSZ);
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = NBUF, .bgid = BGID};
    if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        perror("io_uring_register PBUF_RING (5.19+)");
        return 1;
    }
    for (unsigned i = 0; i < NBUF; i++)
        buf_give(i);
    atomic_store_explicit((_Atomic unsigned short *)&br->tail, br_tail, memory_order_release);

    recv_tmpl.msg_namelen = sizeof(struct sockaddr_in);
    recv_tmpl.msg_controllen = 0;
    arm_recv(fd);
    printf("port %u\n", ntohs(sa.sin_port));   /* ready: the ring is set up */
    fflush(stdout);
    unsigned want = 1;
    unsigned long long calls = 0, turns = 0, datagrams = 0;
    while (!stopping) {
        unsigned to_submit = sq_local_tail - *sq_tail;
        atomic_store_explicit((_Atomic unsigned *)sq_tail, sq_local_tail, memory_order_release);
        int r = (int)syscall(__NR_io_uring_enter, ring_fd, to_submit, want, IORING_ENTER_GETEVENTS, NULL, 0);
        calls++;
        if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY && errno != ETIME) {
            perror("io_uring_enter");
            return 1;
        }
        unsigned head = *cq_head;
        unsigned tail = atomic_load_explicit((_Atomic unsigned *)cq_tail, memory_order_acquire);
        unsigned nsend = 0, nrecv = 0;
        int rearm = 0;
        for (; head != tail; head++) {
            struct io_uring_cqe *c = &cqes[head & *cq_mask];
            if (c->user_data == UD_RECV) {
                if (!(c->flags & IORING_CQE_F_MORE))
                    rearm = 1;
                if (c->res < 0 || !(c->flags & IORING_CQE_F_BUFFER))
                    continue;
                unsigned bid = c->flags >> IORING_CQE_BUFFER_SHIFT;
                char *b = bufs + (size_t)bid * BUFSZ;
                struct io_uring_recvmsg_out *o = (struct io_uring_recvmsg_out *)b;
                char *name = b + sizeof(*o);
                char *payload = name + recv_tmpl.msg_namelen + recv_tmpl.msg_controllen;
                unsigned len = o->payloadlen;
                nrecv++;
                /* too short for a header, a response (no echo loops), or cut short */
                if (len < 12 || (payload[2] & 0x80) || (o->flags & MSG_TRUNC)) {
                    buf_give(bid);
                    continue;
                }
                payload[2] |= (char)0x80;
                siov[bid].iov_base = payload;
                siov[bid].iov_len = len;
                smsg[bid].msg_name = name;
                smsg[bid].msg_namelen = o->namelen;
                smsg[bid].msg_iov = &siov[bid];
                smsg[bid].msg_iovlen = 1;
                struct io_uring_sqe *s = get_sqe();
                s->opcode = IORING_OP_SENDMSG;
                s->fd = fd;
                s->addr = (unsigned long)&smsg[bid];
                s->len = 1;
                s->user_data = bid;
                nsend++;
            } else {
                buf_give((unsigned)c->user_data);   /* the send is done with the buffer */
            }
        }
        atomic_store_explicit((_Atomic unsigned *)cq_head, head, memory_order_release);
        atomic_store_explicit((_Atomic unsigned short *)&br->tail, br_tail, memory_order_release);
        if (rearm)
            arm_recv(fd);
        if (nrecv) {
            turns++;
            datagrams += nrecv;
        }
        /* The sends complete inline (their completions count toward the wait): wait for
         * them and at least one datagram. */
        want = nsend + 1;
    }
    fprintf(stderr, "io_uring_enter calls %llu, turns with datagrams %llu, datagrams %llu\n", calls,
            turns, datagrams);
    close(ring_fd);
    close(fd);
    return 0;
}
