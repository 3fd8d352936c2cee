/* xfrin_recv.h — a zone transfer read off its TCP connection in C: the framing (RFC 1035 4.2.2, RFC 7766 8), the TSIG of every message (RFC 8945 5.3.1) and each message into rd_xfrin, with no Python per message.
 *
 * The control plane connects and sends the request (signed, its MAC given here); this
 * loop then reads the whole response within a deadline and a size limit, on a thread
 * that holds no GIL.  A failure anywhere leaves a transfer the caller throws away whole.
 */
#ifndef RD_XFRIN_RECV_H
#define RD_XFRIN_RECV_H

#include "lib/tsig.h"
#include "zone/xfrin.h"

/* Why rd_xfrin_receive failed (x->err has the words). */
enum {
    RD_XFRIN_RECV_OK = 0,
    RD_XFRIN_RECV_MESSAGE,     /* a message rd_xfrin_message refused (x->rcode may be set) */
    RD_XFRIN_RECV_TSIG,        /* a signature missing, wrong or not chaining */
    RD_XFRIN_RECV_TIMEOUT,     /* not complete by the deadline */
    RD_XFRIN_RECV_CLOSED,      /* the primary closed the connection before the end */
    RD_XFRIN_RECV_TOO_BIG,     /* more than max_size octets */
    RD_XFRIN_RECV_IO,          /* a socket error (errno in x->err) */
};

typedef struct rd_xfrin_recv {
    int fd;                            /* connected TCP socket, request sent */
    const rd_tsig_key *key;            /* NULL: the transfer is not signed */
    uint8_t request_mac[RD_TSIG_MAC_MAX];
    uint16_t request_mac_len;
    double timeout;                    /* seconds, for the message of a timeout */
    uint64_t deadline_ns;              /* CLOCK_MONOTONIC */
    uint64_t max_size;                 /* octets, length fields included */
    uint64_t bytes;                    /* out: octets received (length fields included) */
} rd_xfrin_recv;

/* Read messages from r->fd into x until the transfer is complete.  Returns
 * RD_XFRIN_RECV_OK, or the reason it failed with x->err set. */
int rd_xfrin_receive(rd_xfrin *x, rd_xfrin_recv *r);

/* CLOCK_MONOTONIC now, nanoseconds (for the deadline). */
uint64_t rd_xfrin_now_ns(void);

#endif
