/* engine.h — the answer engine: query bytes + database snapshot -> response bytes.
 *
 * Transport-agnostic (UDP sockets, TCP, AF_XDP all call rd_answer).  Allocation-free,
 * lock-free, callable without the GIL from any thread.
 */
#ifndef RD_ENGINE_H
#define RD_ENGINE_H

#include <stdatomic.h>

#include "lib/rd_common.h"
#include "zone/zimg.h"

/* Options of the engine that change with configuration; they travel inside the database
 * snapshot so that a reload swaps zones and options together (one RCU pointer). */
typedef struct rd_options {
    char identity[256];        /* CHAOS id.server / hostname.bind; "" = REFUSED */
    char version[256];         /* CHAOS version.bind / version.server; "" = REFUSED */
    uint8_t nsid[128];         /* RFC 5001 NSID payload; nsid_len 0 = off */
    uint16_t nsid_len;
    uint16_t max_udp_payload;  /* our EDNS payload ceiling (default 1232) */
    uint8_t minimal_any;       /* RFC 8482 minimal answer to qtype ANY over UDP (default 1) */
} rd_options;

/* One database snapshot: the hosted zones and the options.  Immutable once published.
 * zones[] is sorted by canonical name order of origins (RFC 4034 6.1). */
typedef struct rd_db {
    uint32_t nzones;
    const zimg **zones;
    rd_options opt;
    uint64_t generation;       /* increases with every published snapshot */
    /* Streams (zone transfers) holding this snapshot across RCU quiescent points; the one
     * mutable field, changed only through rd_db_pin/rd_db_unpin (server/rcu.h). */
    _Atomic uint32_t pins;
} rd_db;

/* Facts about the transport a query came on. */
typedef struct rd_transport {
    uint8_t tcp;               /* 1: TCP (no size limit but 65535), 0: UDP */
    uint8_t family;            /* 4 or 6 (informational) */
    uint16_t keepalive;        /* TCP idle timeout in units of 100 ms, sent in the
                                  edns-tcp-keepalive option (RFC 7828) to a client that
                                  asked for it over TCP; 0: never sent */
} rd_transport;

/* Counters of one worker; each worker owns one, aligned to cache lines, written only by
 * its owner, summed on demand by the control plane. */
enum { RD_STAT_QTYPES = 64 };  /* qtypes 0..62 counted by number; 63 = any other */
typedef struct rd_stats {
    uint64_t queries;
    uint64_t responses;
    uint64_t dropped;          /* no response sent (QR set, too short, ...) */
    uint64_t malformed;        /* FORMERR sent */
    uint64_t truncated;        /* TC set */
    uint64_t udp, tcp;
    uint64_t edns, do_bit;
    uint64_t rcode[16];
    uint64_t qtype[RD_STAT_QTYPES];
    uint64_t qtype_other_known[8]; /* AXFR, IXFR, ANY, CAA, SVCB, HTTPS, others, reserved */
} __attribute__((aligned(64))) rd_stats;

/* Find the most specific hosted zone containing lname (lower-case wire).  NULL if none. */
const zimg *rd_db_find_zone(const rd_db *db, const uint8_t *lname, int nlabels);

/* Answer one query.  Writes the response into resp (capacity respcap, at least 512;
 * 65535 for TCP) and returns its length; 0 means send nothing (RFC 1035 4.1.1: a
 * response with QR set; or a packet too short to hold a header). Never reads past
 * q[qlen-1] nor writes past resp[respcap-1].  stats may be NULL. */
size_t rd_answer(const rd_db *db, const uint8_t *q, size_t qlen,
                 uint8_t *resp, size_t respcap, const rd_transport *t, rd_stats *stats);

/* One query of a batch: the caller fills q/qlen/resp/respcap; rd_answer_batch sets
 * resplen (0 = send nothing). */
typedef struct rd_batch_item {
    const uint8_t *q;
    size_t qlen;
    uint8_t *resp;
    size_t respcap;
    size_t resplen;
} rd_batch_item;

/* Answer n queries, each exactly as rd_answer would, interleaving prefetches of the zone
 * image for the queries ahead so that their memory loads overlap (a recvmmsg batch, or
 * the in-process benchmark).  Same guarantees as rd_answer. */
void rd_answer_batch(const rd_db *db, rd_batch_item *items, size_t n,
                     const rd_transport *t, rd_stats *stats);

#endif
