/* xdp_frame.h — DNS-over-UDP Ethernet frames for the AF_XDP path: parse a query frame and
 * turn it into the reply frame in place (swap MACs, addresses and ports, checksums).
 *
 * Pure functions on byte buffers: no libxdp needed, so they build everywhere and are unit
 * tested without root.  The XSK worker (xdp_worker.c) calls rd_xdp_reply_batch per RX
 * batch; rd_xdp_reply is the same for one frame.
 */
#ifndef RD_XDP_FRAME_H
#define RD_XDP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "query/engine.h"
#include "rrl.h"

/* Why a frame got no reply (counted per worker). */
enum {
    RD_XDP_OK = 0,
    RD_XDP_NOT_DNS,     /* not UDP/IP to our port: cannot happen behind our filter */
    RD_XDP_MALFORMED,   /* lengths, header fields or checksums inconsistent */
    RD_XDP_NO_ANSWER,   /* the engine sent nothing (QR set, too short, ...) */
    RD_XDP_NO_ROOM,     /* the frame buffer cannot hold a 512-byte answer */
    RD_XDP_RATE_LIMITED,/* response rate limiting withheld the answer */
    RD_XDP_SLIPPED,     /* (with a reply) rate limited: the answer went out truncated */
};

/* Facts about one query frame, filled by rd_xdp_parse. */
typedef struct rd_xdp_query {
    size_t l3;          /* offset of the IP header (after Ethernet and VLAN tags) */
    size_t dns;         /* offset of the DNS message in the query frame */
    size_t dns_len;     /* its length, from the UDP length field (Ethernet padding excluded) */
    uint8_t family;     /* 4 or 6 */
} rd_xdp_query;

/* Parse frame[0..len): Ethernet, up to two 802.1Q/802.1ad tags, IPv4 (not a fragment,
 * header checksum right) or IPv6 (UDP as the first next header), UDP to `port` with a
 * right checksum (or none, over IPv4 only).  Returns RD_XDP_OK or a reason. */
int rd_xdp_parse(const uint8_t *frame, size_t len, uint16_t port, rd_xdp_query *q);

/* Turn the query in frame[0..len) into its reply, in place, in a buffer of `cap` bytes
 * starting at frame.  The DNS query is first copied to `scratch` (at least 65536 bytes),
 * since rd_answer must not write over its input.  The reply's IP packet never exceeds
 * `mtu`.  Returns the reply frame's length, or 0 (and *why set) when nothing is to be
 * sent; the frame is then garbage.  db must not be NULL. */
size_t rd_xdp_reply(uint8_t *frame, size_t len, size_t cap, uint16_t port, uint16_t mtu,
                    const rd_db *db, uint8_t *scratch, rd_stats *stats, int *why);

/* What a reply was made from, for dnstap: the two ends (addresses in network order, 4 or
 * 16 bytes) and where the DNS query (in scratch) and response (in the frame) are. */
typedef struct rd_xdp_info {
    uint8_t family;             /* 4 or 6; 0: the frame was not a query of ours */
    uint8_t client[16], server[16];
    uint16_t client_port, server_port;
    const uint8_t *query;
    size_t query_len;
    const uint8_t *response;    /* NULL: nothing is sent */
    size_t response_len;
} rd_xdp_info;

/* A batch of query frames turned into reply frames in place as rd_xdp_reply does, answered
 * by one rd_answer_batch (each query parsed once, the zone image prefetched ahead), with
 * response rate limiting (rrl.h; rrl NULL: none) by each query's source address at
 * now_ms: a withheld answer gets out 0 and why RD_XDP_RATE_LIMITED, a slipped one the
 * truncated reply and why RD_XDP_SLIPPED.  The caller fills frame/len/cap of each; out is
 * the reply's length (0: nothing to send, why says why).  scratch holds n *
 * RD_XDP_QUERY_MAX bytes (the queries, which the answers overwrite in the frames, are
 * copied there; dnstap's info[i].query points into it); info is NULL or n entries.
 * cookies: the worker's cache of verified DNS Cookies (query/engine.h), or NULL. */
#define RD_XDP_BATCH_MAX 64u
#define RD_XDP_QUERY_MAX 4096u      /* a query in one UMEM frame is shorter */
typedef struct rd_xdp_frame_io {
    uint8_t *frame;
    size_t len, cap;
    size_t out;
    int why;
} rd_xdp_frame_io;
void rd_xdp_reply_batch(rd_xdp_frame_io *io, uint32_t n, uint16_t port, uint16_t mtu,
                        const rd_db *db, uint8_t *scratch, rd_stats *stats, rd_rrl_table *rrl,
                        uint64_t now_ms, rd_xdp_info *info, rd_cookie_cache *cookies);

#endif
