/* notify.c — NOTIFY in for secondary zones: the acknowledgement and the queue of zones to refresh (see notify.h). */
#include "notify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "engine_int.h"

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

/* ---- the acknowledgement */

int rd_notify_accept(rd_ctx *c)
{
    const rd_db *db = c->db;
    if (!db || !db->notify || c->qclass != RD_C_IN || c->qtype != RD_T_SOA) return 0;
    rd_ctx_zone(c);
    if (!c->zone || c->nlabels != zimg_origin_labels(c->zone)) return 0;
    const rd_zone_notify *zn = &db->notify[c->zone_index];
    if (!zn->acl) return 0;                        /* not a secondary zone here */
    rd_peer peer;
    rd_peer_from_bytes(&peer, c->client, c->client_len);
    int ok = rd_acl_match(db, zn->acl, zn->nacl, &peer, c->tsig_key);
    /* RFC 1996 4.7: the acknowledgement is the request's question with QR (and AA) set;
     * RFC 1996 3.10 leaves the sources to the secondary: others are REFUSED, as Knot and
     * NSD answer */
    c->aa = ok;
    c->rcode = ok ? RD_RCODE_NOERROR : RD_RCODE_REFUSED;
    if (ok) queue_zone(zimg_origin(c->zone));
    return 1;
}
