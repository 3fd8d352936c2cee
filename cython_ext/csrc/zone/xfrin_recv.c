/* xfrin_recv.c — the transfer's read loop: framing, TSIG chain, messages into rd_xfrin (see xfrin_recv.h). */
#include "zone/xfrin_recv.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/rd_wire.h"

/* Big reads: a 1M-record AXFR is ~30 MB in 64 KiB messages; one recv per few messages. */
enum { BUF_CAP = 1 << 20 };
/* Records indexed between two looks at the socket (~0.2 ms): the primary's next octets
 * wait no longer than that, well before they fill the socket buffer and stop it. */
enum { INDEX_STEP = 512 };

static int why(rd_xfrin *x, int reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int why(rd_xfrin *x, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof(x->err), fmt, ap);
    va_end(ap);
    return reason;
}

uint64_t rd_xfrin_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* More octets into buf[*have..cap): RD_XFRIN_RECV_OK, or why not. */
static int fill(rd_xfrin *x, rd_xfrin_recv *r, uint8_t *buf, size_t *have)
{
    for (;;) {
        ssize_t n = recv(r->fd, buf + *have, BUF_CAP - *have, MSG_DONTWAIT);
        if (n > 0) { *have += (size_t)n; return RD_XFRIN_RECV_OK; }
        if (n == 0)
            return why(x, RD_XFRIN_RECV_CLOSED, "the primary closed the connection before the end");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return why(x, RD_XFRIN_RECV_IO, "%s", strerror(errno));
        /* nothing to read yet: index some of the records read so far for the build
           (zimg_index_new), then look again; the reading never waits on the index */
        if (rd_xfrin_index(x, INDEX_STEP)) continue;
        uint64_t now = rd_xfrin_now_ns();
        if (now >= r->deadline_ns) goto late;
        uint64_t ms = (r->deadline_ns - now + 999999) / 1000000;
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        int rc = poll(&p, 1, ms > 60000 ? 60000 : (int)ms);
        if (rc < 0 && errno != EINTR) return why(x, RD_XFRIN_RECV_IO, "%s", strerror(errno));
        if (rc == 0 && rd_xfrin_now_ns() >= r->deadline_ns) goto late;
    }
late:
    return why(x, RD_XFRIN_RECV_TIMEOUT, "no complete transfer within %g s", r->timeout);
}

/* At least k octets at buf[*pos..*have): what is left goes to the front first, where
 * the buffer has room for a whole message (k <= 65537 < BUF_CAP). */
static int need(rd_xfrin *x, rd_xfrin_recv *r, uint8_t *buf, size_t *pos, size_t *have, size_t k)
{
    if (*have - *pos >= k) return RD_XFRIN_RECV_OK;
    if (*pos) {
        memmove(buf, buf + *pos, *have - *pos);
        *have -= *pos;
        *pos = 0;
    }
    while (*have < k) {
        int rc = fill(x, r, buf, have);
        if (rc != 0) return rc;
    }
    return RD_XFRIN_RECV_OK;
}

/* The TSIG of one message (RFC 8945 5.3.1), after rd_xfrin_message found its record at
 * tsig_off (0: none). */
static int check_tsig(rd_xfrin *x, rd_tsig_rx *rx, const uint8_t *m, size_t len, size_t tsig_off)
{
    char a[RD_NAME_MAX * 4 + 8], b[RD_NAME_MAX * 4 + 8];
    if (!tsig_off) {
        switch (rd_tsig_rx_unsigned(rx, m, len)) {
        case 0: return RD_XFRIN_RECV_OK;
        case RD_TSIG_RX_FIRST_UNSIGNED:
            return why(x, RD_XFRIN_RECV_TSIG, "the first message of the transfer is not signed");
        case RD_TSIG_RX_TOO_MANY_UNSIGNED:
            return why(x, RD_XFRIN_RECV_TSIG, "more than %d unsigned messages in a row",
                       RD_TSIG_RX_MAX_UNSIGNED);
        default:
            return why(x, RD_XFRIN_RECV_TSIG, "out of memory");
        }
    }
    rd_tsig_rr rr;
    if (rd_tsig_parse(m, len, tsig_off, &rr) != 0)
        return why(x, RD_XFRIN_RECV_TSIG, "malformed TSIG record in message %u", x->messages);
    if (!rd_name_eq(rr.key, rx->ctx.key->name))
        return why(x, RD_XFRIN_RECV_TSIG, "message signed with key %s, not %s",
                   rd_name_to_text(rr.key, a, sizeof a),
                   rd_name_to_text(rx->ctx.key->name, b, sizeof b));
    if (rr.error)
        return why(x, RD_XFRIN_RECV_TSIG, "TSIG error %u from the primary", rr.error);
    if (rd_tsig_rx_signed(rx, m, &rr, (uint64_t)time(NULL)) != 0)
        return why(x, RD_XFRIN_RECV_TSIG, "TSIG verification failed on message %u", x->messages);
    return RD_XFRIN_RECV_OK;
}

int rd_xfrin_receive(rd_xfrin *x, rd_xfrin_recv *r)
{
    uint8_t *buf = malloc(BUF_CAP);
    if (!buf) return why(x, RD_XFRIN_RECV_IO, "out of memory");
    rd_tsig_rx rx;
    if (r->key) rd_tsig_rx_init(&rx, r->key, r->request_mac, r->request_mac_len);
    size_t have = 0, pos = 0, tsig_off = 0;
    int rc = RD_XFRIN_RECV_OK;
    r->bytes = 0;
    for (;;) {
        /* RFC 1035 4.2.2 / RFC 7766 8: each message behind its two-octet length */
        if ((rc = need(x, r, buf, &pos, &have, 2)) != 0) goto out;
        size_t n = rd_get16(buf + pos);
        r->bytes += n + 2;
        if (r->bytes > r->max_size) {
            rc = why(x, RD_XFRIN_RECV_TOO_BIG, "larger than the limit of %llu bytes",
                     (unsigned long long)r->max_size);
            goto out;
        }
        if ((rc = need(x, r, buf, &pos, &have, n + 2)) != 0) goto out;
        const uint8_t *m = buf + pos + 2;
        pos += n + 2;
        int done = rd_xfrin_message(x, m, n, &tsig_off);
        if (done < 0) { rc = RD_XFRIN_RECV_MESSAGE; goto out; }
        if (r->key && (rc = check_tsig(x, &rx, m, n, tsig_off)) != 0) goto out;
        if (done) {
            /* RFC 8945 5.3.1: the last message must be signed */
            if (r->key && !tsig_off)
                rc = why(x, RD_XFRIN_RECV_TSIG, "the last message is not signed");
            goto out;
        }
    }
out:
    if (r->key) rd_tsig_rx_free(&rx);
    free(buf);
    return rc;
}
