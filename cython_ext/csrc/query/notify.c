/* notify.c — NOTIFY in for secondary zones: the acknowledgement and the queue of zones to refresh (see notify.h). */
#include "notify.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "lib/tsig.h"

/* ---- the queue */

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t q_names[RD_NOTIFY_QUEUE][RD_NAME_MAX + 1];
static size_t q_head, q_count;
static _Atomic int q_wake = -1;

void rd_notify_set_wakeup(int fd)
{
    atomic_store(&q_wake, fd);
}

static void queue_zone(const uint8_t *origin)
{
    size_t len = rd_name_len(origin);
    int added = 0;
    pthread_mutex_lock(&q_mu);
    int found = 0;
    for (size_t i = 0; i < q_count && !found; i++)
        found = rd_name_eq(q_names[(q_head + i) % RD_NOTIFY_QUEUE], origin);
    /* a full queue drops the NOTIFY: the primary repeats it (RFC 1996 3.6) */
    if (!found && q_count < RD_NOTIFY_QUEUE) {
        memcpy(q_names[(q_head + q_count) % RD_NOTIFY_QUEUE], origin, len);
        q_count++;
        added = 1;
    }
    pthread_mutex_unlock(&q_mu);
    int fd = atomic_load(&q_wake);
    if (added && fd >= 0) {
        uint8_t one = 1;
        ssize_t r = write(fd, &one, 1);       /* non-blocking: a full pipe is awake already */
        (void)r;
    }
}

size_t rd_notify_take(uint8_t (*out)[RD_NAME_MAX + 1], size_t max)
{
    pthread_mutex_lock(&q_mu);
    size_t n = q_count < max ? q_count : max;
    for (size_t i = 0; i < n; i++)
        memcpy(out[i], q_names[(q_head + i) % RD_NOTIFY_QUEUE], RD_NAME_MAX + 1);
    q_head = (q_head + n) % RD_NOTIFY_QUEUE;
    q_count -= n;
    pthread_mutex_unlock(&q_mu);
    return n;
}

/* ---- access: the zone's rules (address prefix, and key when named) */

static int prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static int admits(const rd_db *db, const rd_zone_notify *zn, const struct sockaddr *peer,
                  const rd_tsig_key *key)
{
    uint8_t family = 0, addr[16] = {0};
    if (peer && peer->sa_family == AF_INET) {
        family = 4;
        memcpy(addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer && peer->sa_family == AF_INET6) {
        static const uint8_t mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
        const uint8_t *a6 = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr;
        if (memcmp(a6, mapped, 12) == 0) { family = 4; memcpy(addr, a6 + 12, 4); }
        else { family = 6; memcpy(addr, a6, 16); }
    }
    if (!family) return 0;
    for (uint32_t r = 0; r < zn->nacl; r++) {
        const rd_acl_rule *a = &zn->acl[r];
        if (a->family && (a->family != family || !prefix_match(a->addr, addr, a->prefix)))
            continue;
        if (a->key >= 0 && (!key || key != &db->keys[a->key])) continue;
        return 1;
    }
    return 0;
}

size_t rd_notify_answer(const rd_db *db, const uint8_t *q, size_t qlen,
                        const struct sockaddr *peer, uint8_t *resp, size_t cap)
{
    if (!db || !db->notify || !rd_is_notify(q, qlen)) return 0;
    static const rd_transport udp = { 0, 0 };
    rd_ctx c;
    rd_ctx_start(&c, db, q, qlen, resp, cap, &udp, NULL);
    /* the parse answers a well-formed NOTIFY with NOTAUTH (engine_query.c) */
    if (c.prc != RD_RCODE_NOTAUTH || c.qclass != RD_C_IN || c.qtype != RD_T_SOA) return 0;
    rd_ctx_zone(&c);
    if (!c.zone || c.nlabels != zimg_origin_labels(c.zone)) return 0;
    const rd_zone_notify *zn = &db->notify[c.zone_index];
    if (!zn->acl) return 0;                        /* not a secondary zone here */
    rd_tsig_ctx tsig;
    tsig.key = NULL;
    uint64_t now = 0;
    if (c.tsig_at) {
        rd_tsig_rr rr;
        now = (uint64_t)time(NULL);
        if (rd_tsig_parse(q, qlen, c.tsig_at, &rr) < 0) return 0;
        if (rd_tsig_verify(&tsig, q, qlen, &rr, db->keys, db->nkeys, now) != 0)
            return 0;                              /* NOTAUTH with the TSIG error: engine */
    }
    int ok = admits(db, zn, peer, tsig.key);
    rd_write_header(&c);
    rd_write_question(&c);
    c.limit = c.cap - (tsig.key ? rd_tsig_room(tsig.key) : 0);
    /* RFC 1996 4.7: the acknowledgement is the request's question with QR (and AA) set;
     * RFC 1996 3.10 leaves the sources to the secondary: others are REFUSED, as Knot and
     * NSD answer */
    c.aa = ok;
    c.rcode = ok ? RD_RCODE_NOERROR : RD_RCODE_REFUSED;
    size_t n = rd_finish(&c);
    if (tsig.key) n = rd_tsig_sign(&tsig, c.r, n, c.cap, 0, now);
    if (ok) queue_zone(zimg_origin(c.zone));
    return n;
}
