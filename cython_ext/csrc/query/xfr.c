/* xfr.c — zone transfers out: AXFR (RFC 5936) streamed from the zone image by a cursor, IXFR (RFC 1995) from the zone's journal, the zone's ACL, and TSIG on every message (RFC 8945 5.3.1). */
#include "xfr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "engine_int.h"
#include "lib/rd_wire.h"
#include "xfr_wire.h"
#include "zone/zdiff.h"

/* A message takes records while they start where a compression pointer reaches (14 bits,
 * RFC 1035 4.1.4): past that an owner could only point back to the apex, and a transfer
 * of 64 KiB messages is about a quarter longer than one of 16 KiB messages (Knot's size
 * too).  Their number matters little: the TCP loop sends many per system call. */
enum { XFR_MSG_FILL = 0x4000 };

enum { PH_NONE = 0, PH_ONE, PH_AXFR, PH_IXFR, PH_DONE };
/* Steps of a stream: the leading SOA, the body, the trailing SOA. */
enum { ST_HEAD = 0, ST_BODY, ST_TAIL, ST_END };

typedef struct xfr_state {
    const rd_db *db;
    const zimg *z;
    uint8_t phase;             /* PH_* */
    uint8_t step;              /* ST_* */
    uint8_t mode;              /* RD_XFR_MODE_* */
    uint8_t counted;           /* holds one of the active slots */
    uint8_t nmsg_first;        /* the next message is the first (carries the question) */
    uint8_t one_soa;           /* PH_ONE: the answer is the zone's SOA */
    uint16_t rcode;            /* PH_ONE: its rcode */
    uint16_t qtype;
    uint8_t what;              /* event of a PH_ONE answer */
    rd_peer peer;              /* the client, for the ACL and the events */
    uint32_t serial, client_serial;
    /* AXFR cursor: node, rrset of the node, byte offset in the rrset's rdata, record */
    uint32_t node, rrset, roff, rec;
    /* IXFR cursor: the record at jp, the end of its changeset, the journal end */
    const uint8_t *jp, *jcs_end, *jend;
    uint8_t *condensed;        /* malloc()ed condensed changeset the cursor reads, or NULL */
    uint64_t messages, bytes, records;
    rd_tsig_ctx tsig;
    uint16_t qlen;
    uint8_t q[RD_XFR_QUERY_MAX];
} xfr_state;

_Static_assert(sizeof(xfr_state) <= RD_XFR_STATE_BYTES, "rd_xfr too small for its state");
_Static_assert(_Alignof(xfr_state) <= 16, "rd_xfr alignment");

static _Atomic uint32_t active;

uint32_t rd_xfr_active(void) { return atomic_load(&active); }

/* ---- the event ring (transfers are rare: a mutex costs nothing here) ---- */

enum { RING = 256 };
static rd_xfr_event ring[RING];
static size_t ring_head, ring_count;
static uint64_t ring_lost;
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;

static void emit(const xfr_state *s, uint8_t what)
{
    rd_xfr_event e;
    memset(&e, 0, sizeof e);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e.time_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    if (s->z) memcpy(e.zone, zimg_origin(s->z), rd_name_len(zimg_origin(s->z)));
    else if (s->qlen > 12) {
        size_t n = rd_wire_name_check(s->q + 12, s->qlen - 12);
        if (n) memcpy(e.zone, s->q + 12, n);
    }
    if (s->tsig.key) memcpy(e.key, s->tsig.key->name, rd_name_len(s->tsig.key->name));
    e.what = what;
    e.mode = s->mode;
    e.qtype = s->qtype;
    e.family = s->peer.family;
    memcpy(e.addr, s->peer.addr, 16);
    e.port = s->peer.port;
    e.serial = s->serial;
    e.client_serial = s->client_serial;
    e.messages = s->messages;
    e.bytes = s->bytes;
    e.records = s->records;
    pthread_mutex_lock(&ring_mu);
    if (ring_count == RING) {
        ring_head = (ring_head + 1) % RING;
        ring_count--;
        ring_lost++;
    }
    ring[(ring_head + ring_count) % RING] = e;
    ring_count++;
    pthread_mutex_unlock(&ring_mu);
}

size_t rd_xfr_events_take(rd_xfr_event *out, size_t max, uint64_t *lost)
{
    pthread_mutex_lock(&ring_mu);
    size_t n = ring_count < max ? ring_count : max;
    for (size_t i = 0; i < n; i++) out[i] = ring[(ring_head + i) % RING];
    ring_head = (ring_head + n) % RING;
    ring_count -= n;
    if (lost) { *lost = ring_lost; ring_lost = 0; }
    pthread_mutex_unlock(&ring_mu);
    return n;
}

/* ---- access control ---- */

/* Does zone i's allow_transfer admit the peer and the request's key (NULL: unsigned)?
 * No rules: nobody (the default). */
static int acl_allows(const rd_db *db, uint32_t i, const rd_peer *p, const rd_tsig_key *key)
{
    if (!db->xfr || i >= db->nzones) return 0;
    return rd_acl_match(db, db->xfr[i].acl, db->xfr[i].nacl, p, key);
}

/* ---- the query ---- */

/* Is the client's serial cs current, or ahead of ours (RFC 1982)?  The undefined
 * distance of exactly 2^31 counts as behind: the client then gets the whole zone. */
static int client_current(uint32_t cs, uint32_t ours)
{
    return cs == ours || rd_serial_lt(ours, cs);
}

/* The serial of the SOA in the authority section of an IXFR query (RFC 1995 3); 0 when
 * found, -1 when there is none. */
static int client_serial(const rd_ctx *c, uint32_t *serial)
{
    const uint8_t *q = c->q;
    size_t len = c->qlen;
    unsigned an = rd_get16(q + 6), ns = rd_get16(q + 8);
    size_t p = 12 + c->qname_wlen + 4;
    for (unsigned i = 0; i < an + ns; i++) {
        p = rd_wire_name_end(q, len, p, 1);
        if (!p || p + 10 > len) return -1;
        uint16_t type = rd_get16(q + p);
        size_t rd = p + 10, end = rd + rd_get16(q + p + 8);
        if (end > len) return -1;
        if (i >= an && type == RD_T_SOA) {
            size_t o = rd_wire_name_end(q, end, rd, 1);
            if (o) o = rd_wire_name_end(q, end, o, 1);
            if (!o || o + 4 > end) return -1;
            *serial = rd_get32(q + o);
            return 0;
        }
        p = end;
    }
    return -1;
}

/* A context over the stored query, writing into out. */
static void ctx_for(rd_ctx *c, xfr_state *s, uint8_t *out, size_t cap)
{
    static const rd_transport tcp = { 1, 0 };
    rd_ctx_start(c, s->db, s->q, s->qlen, out, cap, &tcp, NULL);
}

static void finish_one(xfr_state *s, uint8_t what)
{
    s->phase = PH_ONE;
    s->what = what;
}

int rd_xfr_start(rd_xfr *x, const rd_db *db, const uint8_t *q, size_t qlen,
                 const struct sockaddr *peer)
{
    xfr_state *s = (xfr_state *)x->state;
    s->phase = PH_NONE;
    s->counted = 0;
    s->condensed = NULL;
    /* Cheap test first: every TCP query passes here. */
    if (!db || qlen < 12 + 1 + 4 || qlen > RD_XFR_QUERY_MAX || (q[2] & RD_F2_QR) ||
        ((q[2] >> 3) & 0xF) != RD_OPCODE_QUERY || rd_get16(q + 4) != 1)
        return 0;
    size_t qn = rd_wire_name_check(q + 12, qlen - 12 - 4);
    if (!qn) return 0;
    uint16_t qtype = rd_get16(q + 12 + qn);
    if (qtype != RD_T_AXFR && qtype != RD_T_IXFR) return 0;

    memset(s, 0, offsetof(xfr_state, q));
    s->db = db;
    s->qlen = (uint16_t)qlen;
    memcpy(s->q, q, qlen);
    s->qtype = qtype;
    rd_peer_from_sockaddr(&s->peer, peer);

    uint8_t scratch[16];
    rd_ctx c;
    ctx_for(&c, s, scratch, 65535);
    if (c.prc != RD_RCODE_NOERROR || c.qclass != RD_C_IN) return 0;   /* the engine answers */
    if (c.tsig_at) {
        rd_tsig_rr rr;
        if (rd_tsig_parse(s->q, s->qlen, c.tsig_at, &rr) < 0) return 0;
        if (rd_tsig_verify(&s->tsig, s->q, s->qlen, &rr, db->keys, db->nkeys,
                           (uint64_t)time(NULL)) != 0) {
            s->tsig.key = NULL;
            return 0;                                   /* NOTAUTH + TSIG error: the engine */
        }
    }
    s->nmsg_first = 1;
    rd_ctx_zone(&c);
    /* RFC 5936 2.2.1: the question names a zone apex we serve, else NOTAUTH (as Knot). */
    if (!c.zone || c.nlabels != zimg_origin_labels(c.zone)) {
        s->rcode = RD_RCODE_NOTAUTH;
        finish_one(s, RD_XFR_EV_NOTAUTH);
        emit(s, RD_XFR_EV_NOTAUTH);
        return 1;
    }
    s->z = c.zone;
    s->serial = zimg_serial(c.zone);
    if (rd_ctx_zone_expired(&c)) {
        /* RFC 1034 4.3.5: an expired secondary copy is not served, transferred neither:
         * SERVFAIL, as Knot answers (its own secondaries then try another primary) */
        s->rcode = RD_RCODE_SERVFAIL;
        finish_one(s, RD_XFR_EV_REFUSED);
        emit(s, RD_XFR_EV_REFUSED);
        return 1;
    }
    if (!acl_allows(db, c.zone_index, &s->peer, s->tsig.key)) {
        /* RFC 5936 4.2 leaves the policy to us: REFUSED, no zone data; signed when the
         * request was (a valid key that the ACL does not name). */
        s->rcode = RD_RCODE_REFUSED;
        finish_one(s, RD_XFR_EV_REFUSED);
        emit(s, RD_XFR_EV_REFUSED);
        return 1;
    }
    if (qtype == RD_T_IXFR) {
        uint32_t cs;
        if (client_serial(&c, &cs) < 0) {
            s->rcode = RD_RCODE_FORMERR;                /* RFC 1995 3: the SOA is required */
            s->phase = PH_ONE;
            s->what = 0;
            return 1;
        }
        s->client_serial = cs;
        if (client_current(cs, s->serial)) {
            /* RFC 1995 2: the client is current (or ahead): our SOA alone. */
            s->one_soa = 1;
            s->mode = RD_XFR_MODE_IXFR;
            finish_one(s, RD_XFR_EV_UPTODATE);
            emit(s, RD_XFR_EV_UPTODATE);
            return 1;
        }
    }
    uint32_t maxx = db->opt.max_transfers;
    uint32_t now = atomic_fetch_add(&active, 1) + 1;
    s->counted = 1;
    if (maxx && now > maxx) {
        atomic_fetch_sub(&active, 1);
        s->counted = 0;
        s->rcode = RD_RCODE_REFUSED;
        finish_one(s, RD_XFR_EV_BUSY);
        emit(s, RD_XFR_EV_BUSY);
        return 1;
    }
    s->phase = PH_AXFR;
    s->mode = RD_XFR_MODE_AXFR;
    if (qtype == RD_T_IXFR && db->xfr && db->xfr[c.zone_index].journal_len) {
        /* The changesets from the client's serial on, if the journal holds an unbroken
         * chain from it to the current serial; else the whole zone (RFC 1995 4). */
        const rd_zone_xfr *zx = &db->xfr[c.zone_index];
        const uint8_t *p = zx->journal, *end = zx->journal + zx->journal_len, *start = NULL;
        uint32_t at = 0;
        while (p + ZDIFF_HDR <= end) {
            uint32_t l = rd_get32(p), from = rd_get32(p + 4), to = rd_get32(p + 8);
            if (l < ZDIFF_HDR || l > (size_t)(end - p)) { start = NULL; break; }
            if (!start && from == s->client_serial) { start = p; at = from; }
            if (start) {
                if (from != at) { start = NULL; break; }
                at = to;
            }
            p += l;
        }
        if (start && at == s->serial && p == end) {
            s->phase = PH_IXFR;
            s->mode = RD_XFR_MODE_IXFR;
            s->jp = start;
            s->jcs_end = start;             /* no changeset open yet */
            s->jend = end;
            /* More than one version step: send their net effect as one (RFC 1995 4,
             * condensation), so a record changed twice travels once.  Without memory
             * for it, the steps one after the other are an IXFR too. */
            if (rd_get32(start) < (size_t)(end - start)) {
                uint8_t *c = NULL;
                size_t clen = 0;
                if (zdiff_condense(start, (size_t)(end - start), &c, &clen) >= 0) {
                    s->condensed = c;
                    s->jp = s->jcs_end = c;
                    s->jend = c + clen;
                }
            }
        }
    }
    s->step = ST_HEAD;
    return 1;
}

/* The zone's SOA as the next answer record (w NULL: compressed by the engine's writer). */
static int put_soa(rd_ctx *c, xw_names *w, xfr_state *s)
{
    znode_id apex = zimg_apex(s->z);
    const zrrset *rs = zimg_find_rrset(s->z, apex, RD_T_SOA);
    if (!rs) return -1;
    const uint8_t *p = zimg_base(s->z) + rs->rdata_off;
    const uint8_t *owner = zimg_node_name(s->z, apex);
    if (!w) return rd_put_rr(c, RD_SEC_AN, owner, RD_T_SOA, RD_C_IN, rs->ttl, p + 2, rd_get16(p));
    return xw_put_rr(c, w, owner, RD_T_SOA, RD_C_IN, rs->ttl, p + 2, rd_get16(p));
}

/* Is the message full enough to end it before the next record? */
static int msg_filled(const rd_ctx *c)
{
    return c->len >= XFR_MSG_FILL && c->count[RD_SEC_AN] > 0;
}

/* AXFR body: every record of every node in canonical order, the apex SOA excepted.
 * Returns 1 when the body is done, 0 when the message is full. */
static int axfr_body(rd_ctx *c, xw_names *w, xfr_state *s)
{
    const zimg *z = s->z;
    uint32_t nn = zimg_node_count(z);
    znode_id apex = zimg_apex(z);
    const uint8_t *base = zimg_base(z);
    for (; s->node < nn; s->node++, s->rrset = 0, s->roff = 0, s->rec = 0) {
        unsigned cnt;
        const zrrset *rs = zimg_node_rrsets(z, s->node, &cnt);
        const uint8_t *owner = zimg_node_name(z, s->node);
        for (; s->rrset < cnt; s->rrset++, s->roff = 0, s->rec = 0) {
            const zrrset *r = &rs[s->rrset];
            if (s->node == apex && r->type == RD_T_SOA) continue;
            while (s->rec < r->count && s->roff + 2 <= r->rdata_len) {
                const uint8_t *p = base + r->rdata_off + s->roff;
                uint16_t rdlen = rd_get16(p);
                if (msg_filled(c) ||
                    xw_put_rr(c, w, owner, r->type, RD_C_IN, r->ttl, p + 2, rdlen) < 0)
                    return 0;
                s->roff += 2 + rdlen;
                s->rec++;
                s->records++;
            }
        }
    }
    return 1;
}

/* IXFR body: the records of the changesets. 1 when done, 0 when the message is full,
 * -1 when the journal is malformed (the stream is cut). */
static int ixfr_body(rd_ctx *c, xw_names *w, xfr_state *s)
{
    for (;;) {
        if (s->jp == s->jcs_end) {
            if (s->jp + ZDIFF_HDR > s->jend) return 1;
            uint32_t l = rd_get32(s->jp);
            s->jcs_end = s->jp + l;
            s->jp += ZDIFF_HDR;
            continue;
        }
        const uint8_t *owner, *rdata;
        uint16_t type, rclass, rdlen;
        uint32_t ttl;
        const uint8_t *next = zdiff_record(s->jp, s->jcs_end, &owner, &type, &rclass, &ttl,
                                           &rdata, &rdlen);
        if (!next) return -1;
        if (msg_filled(c) || xw_put_rr(c, w, owner, type, rclass, ttl, rdata, rdlen) < 0)
            return 0;
        s->jp = next;
        s->records++;
    }
}

static size_t sign_and_count(xfr_state *s, rd_ctx *c, uint8_t *out, size_t cap)
{
    if (!s->nmsg_first) c->question_ok = 0;      /* RFC 5936 2.2.1: the question once */
    size_t n = rd_finish(c);
    if (s->tsig.key) n = rd_tsig_sign(&s->tsig, out, n, cap, 0, (uint64_t)time(NULL));
    s->nmsg_first = 0;
    s->messages++;
    s->bytes += n;
    return n;
}

static void stream_over(xfr_state *s, uint8_t what)
{
    free(s->condensed);
    s->condensed = NULL;
    if (s->counted) {
        atomic_fetch_sub(&active, 1);
        s->counted = 0;
    }
    if (what) emit(s, what);
    s->phase = PH_DONE;
}

size_t rd_xfr_next(rd_xfr *x, uint8_t *out, size_t cap)
{
    xfr_state *s = (xfr_state *)x->state;
    if (s->phase == PH_NONE || s->phase == PH_DONE || cap < 512) return 0;
    rd_ctx c;
    ctx_for(&c, s, out, cap);
    rd_write_header(&c);
    if (s->nmsg_first) rd_write_question(&c);
    else c.question_ok = 0;
    size_t room = c.has_edns ? rd_opt_room(&c) : 11;   /* NSID, EXPIRE (RFC 7314) */
    if (s->tsig.key) room += rd_tsig_room(s->tsig.key);
    c.limit = c.cap > room ? c.cap - room : c.len;
    if (s->phase == PH_ONE) {
        c.rcode = s->rcode;
        if (s->one_soa) {
            c.aa = 1;
            put_soa(&c, NULL, s);
        }
        if (s->nmsg_first) c.question_ok = 1;
        size_t n = sign_and_count(s, &c, out, cap);
        s->phase = PH_DONE;
        return n;
    }
    c.aa = 1;
    size_t before = c.len;
    int full = 0;
    xw_names w;
    xw_start(&w, &c, zimg_node_name(s->z, zimg_apex(s->z)));
    if (s->step == ST_HEAD) {
        if (put_soa(&c, &w, s) < 0) { stream_over(s, RD_XFR_EV_ABORTED); return 0; }
        s->records++;
        s->step = ST_BODY;
    }
    if (s->step == ST_BODY) {
        int r = s->phase == PH_AXFR ? axfr_body(&c, &w, s) : ixfr_body(&c, &w, s);
        if (r < 0) { stream_over(s, RD_XFR_EV_ABORTED); return 0; }
        if (r == 1) s->step = ST_TAIL;
        else full = 1;
    }
    if (s->step == ST_TAIL && !full) {
        if (!msg_filled(&c) && put_soa(&c, &w, s) == 0) {
            s->records++;
            s->step = ST_END;
        }
    }
    if (c.len == before) {
        /* Nothing fitted in an empty message: a record above 64 KiB cannot be sent. */
        stream_over(s, RD_XFR_EV_ABORTED);
        return 0;
    }
    size_t n = sign_and_count(s, &c, out, cap);
    if (s->step == ST_END) stream_over(s, RD_XFR_EV_DONE);
    return n;
}

void rd_xfr_end(rd_xfr *x)
{
    xfr_state *s = (xfr_state *)x->state;
    if (s->phase == PH_AXFR || s->phase == PH_IXFR) stream_over(s, RD_XFR_EV_ABORTED);
    else if (s->counted || s->condensed) stream_over(s, 0);
    s->phase = PH_NONE;
}

void rd_xfr_udp_ixfr(rd_ctx *c)
{
    rd_ctx_zone(c);
    const zimg *z = c->zone;
    if (!z || c->nlabels != zimg_origin_labels(z)) {
        c->rcode = RD_RCODE_NOTAUTH;
        return;
    }
    /* The client's address as the transport gave it (c->client; unknown: only rules
     * without an address can match). */
    rd_peer peer;
    rd_peer_from_bytes(&peer, c->client, c->client_len);
    if (!acl_allows(c->db, c->zone_index, &peer, c->tsig_key)) {
        c->rcode = RD_RCODE_REFUSED;
        return;
    }
    uint32_t cs;
    if (client_serial(c, &cs) < 0) {
        c->rcode = RD_RCODE_FORMERR;
        return;
    }
    c->aa = 1;
    if (!client_current(cs, zimg_serial(z))) {
        c->tc = 1;                     /* RFC 1995 2: the client retries over TCP */
        return;
    }
    znode_id apex = zimg_apex(z);
    const zrrset *rs = zimg_find_rrset(z, apex, RD_T_SOA);
    if (rs && rd_put_rrset(c, RD_SEC_AN, z, c->r + 12, rs, rs->ttl) < 0) rd_truncate(c);
}
