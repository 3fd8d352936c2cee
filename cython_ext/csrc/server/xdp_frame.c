/* xdp_frame.c — parse a DNS query frame and build its reply frame in place (AF_XDP path). */
#include "xdp_frame.h"
#include "lib/rd_wire.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define ETH_HLEN_ 14
#define ETH_ALEN_ 6
#define VLAN_HLEN_ 4
#define IP4_HLEN 20
#define IP6_HLEN 40
#define UDP_HLEN 8
#define PROTO_UDP 17
#define ETHERTYPE_IP4 0x0800
#define ETHERTYPE_IP6 0x86DD
#define ETHERTYPE_8021Q 0x8100
#define ETHERTYPE_8021AD 0x88A8
#define REPLY_TTL 64

static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* The Internet checksum (RFC 1071) summed over the bytes as they lie in memory, 8 bytes per
 * step.  Section 2(B) of RFC 1071: the one's complement sum does not depend on byte order,
 * so a sum of native-order words, folded and stored in native order, is the right checksum
 * on the wire on either kind of machine — without swapping each 16-bit word.  Section
 * 2(C): the carries may be deferred; each 8-byte word goes in as its two 32-bit halves, into
 * two 64-bit sums that cannot overflow before 2^32 words, so the loop is two independent
 * adds per word instead of one add-with-carry chain (2^32 = 1 modulo 0xffff: the halves
 * sum to what the word does).  Sums are in this "wire" domain: a host value joins one as
 * csum_host16(v), and csum_fold's result is stored with memcpy, never with put16. */
static inline uint64_t csum_partial(const uint8_t *p, size_t len, uint64_t sum)
{
    uint64_t lo = (sum & 0xffffffffu) + (sum >> 32), hi = 0, w;
    while (len >= 8) {
        memcpy(&w, p, 8);
        lo += (uint32_t)w;
        hi += w >> 32;
        p += 8;
        len -= 8;
    }
    if (len) {                          /* the tail, zero-padded (RFC 768: an odd byte too) */
        w = 0;
        memcpy(&w, p, len);
        lo += (uint32_t)w;
        hi += w >> 32;
    }
    return lo + hi;
}

/* A 16-bit host value (a length, a protocol number) as the word it is on the wire. */
static inline uint64_t csum_host16(uint16_t v) { return htons(v); }

/* Fold to 16 bits and complement: the checksum in wire order (memcpy it into place);
 * 0 when a received header's sum checks. */
static inline uint16_t csum_fold(uint64_t sum)
{
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

int rd_xdp_parse(const uint8_t *f, size_t len, uint16_t port, rd_xdp_query *q)
{
    if (len < ETH_HLEN_)
        return RD_XDP_MALFORMED;
    size_t off = ETH_HLEN_;
    uint16_t proto = rd_get16(f + 12);
    for (int tags = 0; tags < 2 && (proto == ETHERTYPE_8021Q || proto == ETHERTYPE_8021AD); tags++) {
        if (off + VLAN_HLEN_ > len)
            return RD_XDP_MALFORMED;
        proto = rd_get16(f + off + 2);
        off += VLAN_HLEN_;
    }
    q->l3 = off;
    size_t udp, ip_payload_end;
    if (proto == ETHERTYPE_IP4) {
        if (off + IP4_HLEN > len)
            return RD_XDP_MALFORMED;
        const uint8_t *ip = f + off;
        size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
        size_t tot = rd_get16(ip + 2);
        if ((ip[0] >> 4) != 4 || ihl < IP4_HLEN || tot < ihl + UDP_HLEN || off + tot > len)
            return RD_XDP_MALFORMED;
        /* RFC 791 3.1, RFC 1122 3.2.1.2: a datagram whose header checksum fails is
         * discarded (the stack would; behind AF_XDP nobody else checks) */
        if (csum_fold(csum_partial(ip, ihl, 0)) != 0)
            return RD_XDP_MALFORMED;
        if (rd_get16(ip + 6) & 0x3fff)          /* MF or a fragment offset: the stack's job */
            return RD_XDP_NOT_DNS;
        if (ip[9] != PROTO_UDP)
            return RD_XDP_NOT_DNS;
        udp = off + ihl;
        ip_payload_end = off + tot;
        q->family = 4;
    } else if (proto == ETHERTYPE_IP6) {
        if (off + IP6_HLEN > len)
            return RD_XDP_MALFORMED;
        const uint8_t *ip = f + off;
        size_t plen = rd_get16(ip + 4);
        if ((ip[0] >> 4) != 6 || plen < UDP_HLEN || off + IP6_HLEN + plen > len)
            return RD_XDP_MALFORMED;
        if (ip[6] != PROTO_UDP)
            return RD_XDP_NOT_DNS;
        udp = off + IP6_HLEN;
        ip_payload_end = udp + plen;
        q->family = 6;
    } else {
        return RD_XDP_NOT_DNS;
    }
    const uint8_t *u = f + udp;
    if (rd_get16(u + 2) != port)
        return RD_XDP_NOT_DNS;
    size_t ulen = rd_get16(u + 4);
    /* The UDP length bounds the message: Ethernet pads short frames to 60 bytes. */
    if (ulen < UDP_HLEN || udp + ulen > ip_payload_end)
        return RD_XDP_MALFORMED;
    if (rd_get16(u) == 0)                        /* source port 0: nowhere to reply to */
        return RD_XDP_MALFORMED;
    /* The UDP checksum (RFC 768) over the pseudo-header and the datagram.  Zero means
     * "none" over IPv4; over IPv6 it is mandatory and a zero one is discarded (RFC 8200
     * 8.1; RFC 6936 allows zero only to tunnel protocols).  A frame sent with checksum
     * offload from this host (CHECKSUM_PARTIAL through a veth) carries only the
     * pseudo-header sum and is dropped here like any other bad checksum. */
    uint16_t ucsum = rd_get16(u + 6);
    if (ucsum != 0 || q->family == 6) {
        if (ucsum == 0)
            return RD_XDP_MALFORMED;
        const uint8_t *ip = f + off;
        uint64_t sum;
        sum = csum_host16(PROTO_UDP) + csum_host16((uint16_t)ulen);
        if (q->family == 4)
            sum = csum_partial(ip + 12, 8, sum);
        else
            sum = csum_partial(ip + 8, 32, sum);
        if (csum_fold(csum_partial(u, ulen, sum)) != 0)
            return RD_XDP_MALFORMED;
    }
    q->dns = udp + UDP_HLEN;
    q->dns_len = ulen - UDP_HLEN;
    return RD_XDP_OK;
}

/* The client (the query's source) as a socket address, for the rate limiter's key. */
static void source_sockaddr(const uint8_t *addr, int family, struct sockaddr_in6 *out)
{
    memset(out, 0, sizeof(*out));
    if (family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)out;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, addr, 4);
    } else {
        out->sin6_family = AF_INET6;
        memcpy(&out->sin6_addr, addr, 16);
    }
}

/* A query frame between prepare and finish. */
typedef struct rd_xdp_pending {
    rd_xdp_query q;
    uint8_t addr[32];           /* source then destination address, alen bytes each */
    uint8_t ports[4];           /* source then destination port, as in the query */
    uint8_t tclass;
    uint8_t alen;
    size_t resp;                /* frame offset of the answer (after the reply's UDP header) */
    size_t room;                /* bytes the answer may take there */
    const uint8_t *query;       /* the copy of the DNS query */
} rd_xdp_pending;

/* Parse a query frame, keep what its reply needs (its headers are overwritten by the
 * answer), copy the DNS query to scratch (scratch_cap bytes) and work out the room for the
 * answer.  1: ready for the engine; 0: nothing to send (*why says why). */
static int prepare(uint8_t *f, size_t len, size_t cap, uint16_t port, uint16_t mtu,
                   uint8_t *scratch, size_t scratch_cap, rd_xdp_pending *p, int *why,
                   rd_xdp_info *info)
{
    rd_xdp_query *q = &p->q;
    if (info)
        info->family = 0;
    int rc = rd_xdp_parse(f, len, port, q);
    if (rc != RD_XDP_OK) {
        *why = rc;
        return 0;
    }
    size_t ip_hlen;
    const uint8_t *ip = f + q->l3;
    memset(p->addr, 0, sizeof p->addr);
    if (q->family == 4) {
        ip_hlen = IP4_HLEN;
        p->alen = 4;
        memcpy(p->addr, ip + 12, 8);           /* saddr, daddr */
        p->tclass = ip[1];
        memcpy(p->ports, f + q->l3 + (size_t)(ip[0] & 0x0f) * 4, 4);
    } else {
        ip_hlen = IP6_HLEN;
        p->alen = 16;
        memcpy(p->addr, ip + 8, 32);
        p->tclass = (uint8_t)((ip[0] & 0x0f) << 4 | ip[1] >> 4);
        memcpy(p->ports, f + q->l3 + IP6_HLEN, 4);
    }
    if (q->dns_len > scratch_cap) {           /* cannot happen within one UMEM frame */
        *why = RD_XDP_NO_ROOM;
        return 0;
    }
    memcpy(scratch, f + q->dns, q->dns_len);
    p->query = scratch;
    if (info) {
        size_t alen = p->alen;
        info->family = q->family;
        memcpy(info->client, p->addr, alen);
        memcpy(info->server, p->addr + alen, alen);
        info->client_port = (uint16_t)(p->ports[0] << 8 | p->ports[1]);
        info->server_port = (uint16_t)(p->ports[2] << 8 | p->ports[3]);
        info->query = scratch;
        info->query_len = q->dns_len;
        info->response = NULL;
        info->response_len = 0;
    }
    /* the reply's headers: a fresh IPv4 header without options, so the answer may start
     * before where the query's did */
    p->resp = q->l3 + ip_hlen + UDP_HLEN;
    size_t room = cap > p->resp ? cap - p->resp : 0;
    size_t mtu_room = mtu > ip_hlen + UDP_HLEN ? (size_t)mtu - ip_hlen - UDP_HLEN : 0;
    if (mtu_room < room)
        room = mtu_room;
    if (room > 65535 - UDP_HLEN)
        room = 65535 - UDP_HLEN;
    if (room < 512) {                         /* RFC 1035 4.2.1: 512 must always fit */
        *why = RD_XDP_NO_ROOM;
        return 0;
    }
    p->room = room;
    return 1;
}

/* The engine wrote n bytes of answer at f + p->resp: rate limiting, then the reply's
 * Ethernet, IP and UDP headers in place.  Returns the reply frame's length, or 0. */
static size_t finish(uint8_t *f, const rd_xdp_pending *p, size_t n, rd_rrl_table *rrl,
                     uint64_t now_ms, int *why, rd_xdp_info *info)
{
    if (n == 0) {
        *why = RD_XDP_NO_ANSWER;
        return 0;
    }
    size_t dns = p->resp;
    const uint8_t *addr = p->addr;
    size_t alen = p->alen;
    int family = p->q.family;
    *why = RD_XDP_OK;
    if (rrl) {
        struct sockaddr_in6 client;
        source_sockaddr(addr, family, &client);
        int verdict = rd_rrl_check(rrl, (const struct sockaddr *)&client, f + dns, n, now_ms);
        if (verdict == RD_RRL_DROP) {
            *why = RD_XDP_RATE_LIMITED;
            return 0;
        }
        if (verdict == RD_RRL_SLIP) {
            n = rd_rrl_slip(f + dns, n);
            *why = n ? RD_XDP_SLIPPED : RD_XDP_RATE_LIMITED;
            if (n == 0)
                return 0;
        }
    }

    /* Ethernet: the reply goes back to the sender's MAC; VLAN tags stay as they are. */
    uint8_t mac[ETH_ALEN_];
    memcpy(mac, f, ETH_ALEN_);
    memcpy(f, f + ETH_ALEN_, ETH_ALEN_);
    memcpy(f + ETH_ALEN_, mac, ETH_ALEN_);

    uint8_t *h = f + p->q.l3;
    size_t udp = dns - UDP_HLEN;
    size_t ulen = UDP_HLEN + n;
    uint8_t tclass = p->tclass;
    if (family == 4) {
        /* RFC 791 3.1: a fresh 20-byte header (query options are not echoed), DF set. */
        h[0] = 0x45;
        h[1] = tclass;
        put16(h + 2, (uint16_t)(IP4_HLEN + ulen));
        put16(h + 4, 0);
        put16(h + 6, 0x4000);
        h[8] = REPLY_TTL;
        h[9] = PROTO_UDP;
        put16(h + 10, 0);
        memcpy(h + 12, addr + 4, 4);
        memcpy(h + 16, addr, 4);
        uint16_t hc = csum_fold(csum_partial(h, IP4_HLEN, 0));
        memcpy(h + 10, &hc, 2);
    } else {
        /* RFC 8200 3: version 6, the query's traffic class, flow label 0. */
        h[0] = (uint8_t)(0x60 | tclass >> 4);
        h[1] = (uint8_t)(tclass << 4);
        h[2] = h[3] = 0;
        put16(h + 4, (uint16_t)ulen);
        h[6] = PROTO_UDP;
        h[7] = REPLY_TTL;
        memcpy(h + 8, addr + 16, 16);
        memcpy(h + 24, addr, 16);
    }
    uint8_t *u = f + udp;
    memcpy(u, p->ports + 2, 2);               /* source port: the port asked */
    memcpy(u + 2, p->ports, 2);               /* destination: the client's port */
    put16(u + 4, (uint16_t)ulen);
    put16(u + 6, 0);
    /* UDP checksum over the pseudo-header (RFC 768; RFC 8200 8.1: mandatory for IPv6). */
    uint64_t sum = csum_host16(PROTO_UDP) + csum_host16((uint16_t)ulen);
    sum = csum_partial(h + (family == 4 ? 12 : 8), 2 * alen, sum);
    uint16_t c = csum_fold(csum_partial(u, ulen, sum));
    if (c == 0)
        c = 0xffff;                           /* 0 means "no checksum": send all ones */
    memcpy(u + 6, &c, 2);
    if (info) {
        info->response = f + dns;
        info->response_len = n;
    }
    return dns + n;                           /* *why: RD_XDP_OK, or RD_XDP_SLIPPED */
}

size_t rd_xdp_reply(uint8_t *f, size_t len, size_t cap, uint16_t port, uint16_t mtu,
                    const rd_db *db, uint8_t *scratch, rd_stats *stats, int *why)
{
    rd_xdp_pending p;
    if (!prepare(f, len, cap, port, mtu, scratch, 65536, &p, why, NULL))
        return 0;
    /* p.addr[0..alen) is the query's source address: DNS Cookies bind to it. */
    rd_transport t = { .tcp = 0, .family = p.q.family, .client_len = p.alen, .client = p.addr };
    size_t n = rd_answer(db, scratch, p.q.dns_len, f + p.resp, p.room, &t, stats);
    return finish(f, &p, n, NULL, 0, why, NULL);
}

/* A received frame was written by the kernel on the CPU that ran the driver's receive
 * (on a veth: the sender's), so its first load here misses.  Its headers and the start of
 * its query (two cache lines: a query frame is rarely longer) are fetched a few frames
 * ahead of the parse, with intent to write since the reply is built over them: the misses
 * overlap the parse of the frames before instead of stalling each parse in turn. */
#define FRAME_PREFETCH_AHEAD 4u
static inline void prefetch_frame(const uint8_t *f)
{
    __builtin_prefetch(f, 1, 3);
    __builtin_prefetch(f + 64, 1, 3);
}

void rd_xdp_reply_batch(rd_xdp_frame_io *io, uint32_t n, uint16_t port, uint16_t mtu,
                        const rd_db *db, uint8_t *scratch, rd_stats *stats, rd_rrl_table *rrl,
                        uint64_t now_ms, rd_xdp_info *info, rd_cookie_cache *cookies)
{
    rd_xdp_pending pend[RD_XDP_BATCH_MAX];
    rd_batch_item items[RD_XDP_BATCH_MAX];
    uint32_t slot[RD_XDP_BATCH_MAX];          /* frame index of each engine item */
    uint32_t ni = 0;
    if (n > RD_XDP_BATCH_MAX)
        n = RD_XDP_BATCH_MAX;
    /* every frame parsed and its query copied first, then one rd_answer_batch over all
     * of them (each query parsed once, the zone image prefetched queries ahead) */
    for (uint32_t i = 0; i < n && i < FRAME_PREFETCH_AHEAD; i++)
        prefetch_frame(io[i].frame);
    for (uint32_t i = 0; i < n; i++) {
        if (i + FRAME_PREFETCH_AHEAD < n)
            prefetch_frame(io[i + FRAME_PREFETCH_AHEAD].frame);
        io[i].out = 0;
        if (!prepare(io[i].frame, io[i].len, io[i].cap, port, mtu,
                     scratch + (size_t)i * RD_XDP_QUERY_MAX, RD_XDP_QUERY_MAX, &pend[ni],
                     &io[i].why, info ? &info[i] : NULL))
            continue;
        rd_batch_item *it = &items[ni];
        it->q = pend[ni].query;
        it->qlen = pend[ni].q.dns_len;
        it->resp = io[i].frame + pend[ni].resp;
        it->respcap = pend[ni].room;
        it->resplen = 0;
        it->client = pend[ni].addr;           /* DNS Cookies bind to the source address */
        it->client_len = pend[ni].alen;
        slot[ni++] = i;
    }
    if (ni) {
        rd_transport t = { .tcp = 0, .family = 4, .cookie_cache = cookies };
        rd_answer_batch(db, items, ni, &t, stats);
    }
    for (uint32_t k = 0; k < ni; k++) {
        uint32_t i = slot[k];
        io[i].out = finish(io[i].frame, &pend[k], items[k].resplen, rrl, now_ms, &io[i].why,
                           info ? &info[i] : NULL);
    }
}
