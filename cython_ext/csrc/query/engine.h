/* engine.h — the answer engine: query bytes + database snapshot -> response bytes.
 *
 * Transport-agnostic (UDP sockets, TCP, AF_XDP all call rd_answer).  Allocation-free,
 * lock-free, callable without the GIL from any thread.
 */
#ifndef RD_ENGINE_H
#define RD_ENGINE_H

#include <stdatomic.h>

#include "lib/rd_common.h"
#include "lib/tsig.h"
#include "zone/zimg.h"
#include "zonetab.h"

/* Options of the engine that change with configuration; they travel inside the database
 * snapshot so that a reload swaps zones and options together (one RCU pointer). */
typedef struct rd_options {
    char identity[256];        /* CHAOS id.server / hostname.bind; "" = REFUSED */
    char version[256];         /* CHAOS version.bind / version.server; "" = REFUSED */
    uint8_t nsid[128];         /* RFC 5001 NSID payload; nsid_len 0 = off */
    uint16_t nsid_len;
    uint16_t max_udp_payload;  /* our EDNS payload ceiling (default 1232) */
    uint8_t minimal_any;       /* RFC 8482 minimal answer to qtype ANY over UDP (default 1) */
    /* DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018); off unless
     * `cookies`.  Rotating the secret is publishing a snapshot whose previous_secret is
     * the old one: cookies made with either are valid (RFC 9018 5). */
    uint8_t cookies;
    uint8_t cookie_require;    /* UDP without a valid server cookie: a TC=1 minimal answer */
    uint8_t cookie_have_previous;
    uint8_t cookie_secret[16];
    uint8_t cookie_previous[16];
    uint16_t max_transfers;    /* AXFR/IXFR streams at once (all threads); 0: no limit */
} rd_options;

/* One rule of a zone's allow_transfer list: a transfer request matches when the peer is
 * inside addr/prefix (family 0: any address) and, when key >= 0, it was signed with
 * that key (an index into rd_db.keys). */
typedef struct rd_acl_rule {
    uint8_t family;            /* 0 (any), 4 or 6 */
    uint8_t prefix;            /* leading bits of addr that must match */
    uint8_t addr[16];          /* network byte order; 4 bytes used for IPv4 */
    int32_t key;               /* -1: signed or not */
} rd_acl_rule;

/* What a zone serves to its secondaries: who may transfer it, and its IXFR journal (the
 * changesets of the journal format of query/xfr.h, oldest first). */
typedef struct rd_zone_xfr {
    const rd_acl_rule *acl;    /* none: nobody may transfer the zone (the default) */
    uint32_t nacl;
    const uint8_t *journal;
    size_t journal_len;
} rd_zone_xfr;

/* Who may notify a secondary zone (RFC 1996): its primaries and allow_notify, each rule
 * with the key the NOTIFY must be signed with, if any (query/notify.h). */
typedef struct rd_zone_notify {
    const rd_acl_rule *acl;    /* none: the zone is not a secondary (NOTAUTH, as before) */
    uint32_t nacl;
} rd_zone_notify;

/* One database snapshot: the hosted zones and the options.  Immutable once published.
 * zones[] is in the control plane's order; a zone's position there is its index (the
 * query context keeps it for per-zone accounting).  ztab finds a query's zone. */
typedef struct rd_db {
    uint32_t nzones;
    const zimg **zones;
    const rd_zonetab *ztab;    /* over zones[]; NULL only when nzones is 0 */
    rd_options opt;
    uint64_t generation;       /* increases with every published snapshot */
    const rd_tsig_key *keys;   /* TSIG keys (RFC 8945): signed queries are verified with them */
    uint32_t nkeys;
    const rd_zone_xfr *xfr;    /* parallel to zones[]; NULL: no zone may be transferred */
    /* Streams (zone transfers) holding this snapshot across RCU quiescent points; the one
     * mutable field, changed only through rd_db_pin/rd_db_unpin (server/rcu.h). */
    _Atomic uint32_t pins;
    /* Per-zone counters: zone_slot[i] is the rd_stats.zone_queries slot of zones[i]
     * (slots are kept by the control plane across reloads, so a zone's counter stays its
     * own); NULL: no per-zone counting. */
    const uint16_t *zone_slot;
    /* Per-zone state the control plane sets, parallel to zones[] (NULL: none set):
     * RD_ZONE_EXPIRED marks a secondary zone past its SOA EXPIRE without a successful
     * refresh; it answers SERVFAIL until a refresh succeeds (RFC 1034 4.3.5, as Knot and
     * NSD do). */
    const uint8_t *zone_flags;
    /* Parallel to zones[] (NULL: none set): the wall time (seconds since the epoch) a
     * secondary zone's copy expires without a refresh, for the EDNS EXPIRE option (RFC
     * 7314 3: the time left); 0 for a zone of our own, which sends its SOA EXPIRE. */
    const uint32_t *zone_expire_at;
    const rd_zone_notify *notify;   /* parallel to zones[]; NULL: no secondary zones */
} rd_db;

enum { RD_ZONE_EXPIRED = 1 };

/* A small direct-mapped cache of server cookies already verified (RFC 9018 4.4), one per
 * worker thread (written only by its owner: no locks, no atomics, never allocated per
 * packet).  A resolver sends the same client | server cookie from the same address for
 * many queries; SipHash-2-4 is most of what a cookie costs, so an exact repeat of bytes
 * SipHash already accepted for that address, under the same snapshot, is accepted without
 * hashing again.  The slot is chosen by bits of the cookie's hash field, which are already
 * pseudo-random.  The snapshot and the clock are taken once per batch (rd_cookie_begin).
 * The cache lives for one snapshot and one epoch of RD_COOKIE_EPOCH seconds (`from`
 * onwards): a new snapshot (a secret change is one), the clock leaving the epoch (forward
 * or back) empty it, and only a cookie that stays inside RFC 9018 4.3's window, not due
 * for renewal, for every second of the epoch is stored; so a hit needs no time check of
 * its own (issue 16: cookies may cost at most 3% per query).  Zero-filled (memset or
 * calloc) is ready: the first batch finds a generation of 0, which no snapshot has, and
 * empties it. */
enum { RD_COOKIE_CACHE_SLOTS = 512 };       /* a power of two; 32 KiB per worker */
enum { RD_COOKIE_EPOCH = 64 };              /* seconds a cache's entries may be used */
typedef struct rd_cookie_cache_entry {
    uint64_t cookie[3];        /* client cookie (8) | server cookie (16), as verified */
    uint64_t client[2];        /* the address it was verified for, as two words (an
                                  IPv4 address zero-extended in the first) */
} __attribute__((aligned(64))) rd_cookie_cache_entry;   /* one cache line; empty: a hash
                                                            word of another slot (rd_cookie_flush) */
typedef struct rd_cookie_cache {
    rd_cookie_cache_entry e[RD_COOKIE_CACHE_SLOTS];
    uint64_t generation;       /* rd_db.generation the entries were verified under */
    uint32_t now;              /* the clock (seconds), read once per batch */
    uint32_t from;             /* the epoch's first second: entries hold until
                                  from + RD_COOKIE_EPOCH - 1 */
    uint64_t hits;             /* cookies accepted from the cache (no SipHash) */
    uint64_t stores;           /* cookies SipHash accepted and the cache kept */
    uint64_t flushes;          /* times emptied (new snapshot, new epoch) */
} rd_cookie_cache;

/* Facts about the transport a query came on. */
typedef struct rd_transport {
    uint8_t tcp;               /* 1: TCP (no size limit but 65535), 0: UDP */
    uint8_t family;            /* 4 or 6 (informational) */
    uint16_t keepalive;        /* TCP idle timeout in units of 100 ms, sent in the
                                  edns-tcp-keepalive option (RFC 7828) to a client that
                                  asked for it over TCP; 0: never sent */
    uint8_t client_len;        /* 4 or 16; 0: the client's address is not known */
    const uint8_t *client;     /* the client's address (network order), for cookies */
    rd_cookie_cache *cookie_cache;  /* the worker's, or NULL: every cookie is hashed */
    uint32_t now;              /* the caller's clock (seconds since the epoch) read for its
                                  current turn, or 0: the engine reads it (once per batch) */
} rd_transport;

/* Counters of one worker; each worker owns one, aligned to cache lines, written only by
 * its owner (plain increments, no atomics), summed on demand by the control plane.
 * Every query is counted once in queries and, when it parsed, once in qtype (its own
 * number, one of the named larger types, or other); every response once in rcode. */
enum {
    RD_STAT_QTYPES = 64,       /* qtypes 0..62 counted by number; 63 = any other */
    RD_STAT_RCODES = 32,       /* extended rcodes 0..30 by number (RFC 6891 6.1.3: BADVERS
                                  is 16); 31 = any larger one */
    RD_STAT_ZONES = 256,       /* per-zone slots; slot 0 = zones beyond the configured cap */
    RD_STAT_ZONE_RCODES = 8,   /* per zone: NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP,
                                  REFUSED, NOTAUTH, any other (rd_stats_zone_rcode_col) */
};
/* Named types above 62, each its own counter (the rest go to qtype[RD_STAT_QTYPES-1]). */
enum { RD_QT_AXFR, RD_QT_IXFR, RD_QT_ANY, RD_QT_CAA, RD_QT_SVCB, RD_QT_HTTPS, RD_QT_NAMED };
typedef struct rd_stats {
    uint64_t queries;
    uint64_t responses;
    uint64_t dropped;          /* no response sent (QR set, too short, ...) */
    uint64_t malformed;        /* FORMERR sent */
    uint64_t truncated;        /* TC set */
    uint64_t udp, tcp;
    uint64_t edns, do_bit;
    uint64_t rcode[RD_STAT_RCODES];
    uint64_t qtype[RD_STAT_QTYPES];
    uint64_t qtype_named[8];   /* RD_QT_AXFR ... RD_QT_HTTPS; the rest reserved */
    uint64_t opcode[16];       /* queries that parsed, by opcode (4: NOTIFY, RFC 1996) */
    uint64_t zone_queries[RD_STAT_ZONES]; /* by rd_db.zone_slot of the query's zone */
    uint64_t zone_rcode[RD_STAT_ZONES][RD_STAT_ZONE_RCODES]; /* the same, by rcode column */
} __attribute__((aligned(64))) rd_stats;

/* The zone_rcode column of an (extended) rcode: 0..5 themselves, NOTAUTH (9) 6, others 7. */
static inline unsigned rd_stats_zone_rcode_col(unsigned rcode)
{
    return rcode <= 5 ? rcode : rcode == 9 ? 6 : 7;
}

/* The most specific hosted zone containing lname (lower-case wire), as an index into
 * db->zones (RD_NONE: none); parent_first as rd_zonetab_find.  (The engine finds a
 * query's zone once, from the parser's label offsets; this is for callers that have only
 * the name.) */
uint32_t rd_db_find_index(const rd_db *db, const uint8_t *lname, int parent_first);

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
    const uint8_t *client;     /* this query's client address (client_len 4 or 16), or */
    uint8_t client_len;        /* 0: the transport's (rd_transport.client) */
} rd_batch_item;

/* Answer n queries, each exactly as rd_answer would, interleaving prefetches of the zone
 * image for the queries ahead so that their memory loads overlap (a recvmmsg batch, or
 * the in-process benchmark).  Same guarantees as rd_answer. */
void rd_answer_batch(const rd_db *db, rd_batch_item *items, size_t n,
                     const rd_transport *t, rd_stats *stats);

#endif
