/* engine_int.h — internal state and helpers shared by the engine_*.c files (not a public API). */
#ifndef RD_ENGINE_INT_H
#define RD_ENGINE_INT_H

#include "engine.h"
#include "lib/rd_wire.h"
#include "zone/zimg_format.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

/* DNS header flags (RFC 1035 4.1.1), as bytes 2 and 3 of the header. */
#define RD_F2_QR 0x80
#define RD_F2_AA 0x04
#define RD_F2_TC 0x02
#define RD_F2_RD 0x01
#define RD_F3_AD 0x20
#define RD_F3_CD 0x10

enum {
    RD_RCODE_NOERROR = 0, RD_RCODE_FORMERR = 1, RD_RCODE_SERVFAIL = 2, RD_RCODE_NXDOMAIN = 3,
    RD_RCODE_NOTIMP = 4, RD_RCODE_REFUSED = 5, RD_RCODE_YXDOMAIN = 6, RD_RCODE_NOTAUTH = 9,
    RD_RCODE_BADVERS = 16,  /* extended: 4 bits in the header, 8 more in OPT (RFC 6891 6.1.3) */
    RD_RCODE_BADCOOKIE = 23 /* extended (RFC 7873 8) */
};

enum { RD_OPCODE_QUERY = 0, RD_OPCODE_NOTIFY = 4 };
enum { RD_EDNS_NSID = 3, RD_EDNS_EXPIRE = 9, RD_EDNS_COOKIE = 10, RD_EDNS_KEEPALIVE = 11, RD_EDNS_EDE = 15 };
                                  /* RFC 5001, 7873, 7828, 8914 */
enum { RD_EDE_OTHER = 0, RD_EDE_NOT_AUTHORITATIVE = 20 };

/* Knot DNS puts at most this many CNAME records in one answer (measured with kdig against
 * knotd 3.2: a chain of 23 gives 5 CNAMEs; a 6th CNAME is not added). */
#define RD_CNAME_MAX 5
#define RD_COMP_MAX 64         /* remembered name positions for compression */
#define RD_ADDL_SEEN_MAX 32    /* nodes whose addresses are already in additional */

/* Compression table entry: a name (suffix) written at response offset `off`, whose
 * uncompressed length is `len` (RFC 1035 4.1.4). */
typedef struct rd_comp {
    uint16_t off;
    uint16_t len;
} rd_comp;

typedef struct rd_ctx {
    /* ---- zeroed at the start of every query in one memset (rd_ctx_start): every field
     * that must start at zero goes here, before `rcode`, or is set there by name; the block
     * stays within 80 bytes, which the compiler clears with a few vector stores (a
     * larger one becomes `rep stos`, slower for this size) */
    /* query */
    uint8_t opcode;
    uint8_t question_ok;        /* the question parsed: echo it in the response */
    uint16_t qtype, qclass;
    int nlabels;
    size_t qname_wlen;          /* wire length of the question name */
    size_t tsig_at;             /* offset of the query's TSIG record (RFC 8945), 0: none */
    /* found once per query (rd_ctx_zone), for the fast path and the batch prefetches */
    const zimg *zone;           /* the zone answering lname, or NULL (rd_ctx_zone) */
    uint32_t fhash;             /* zfast_hash of lname */
    uint8_t zone_done;
    uint8_t fast_known;         /* the batch pipeline made the precomputed-answer lookup
                                   while prefetching: 1, fast_blob holds its result; 2, the
                                   name has no record and neg_place is set (engine_batch.c) */
    /* EDNS (RFC 6891) */
    uint8_t has_edns, edns_version, do_bit, nsid_req, keepalive_req, expire_req;
    /* DNS Cookies (RFC 7873): cookie_len, client_len, cookie_room in this order, so that
     * the cache's hit check reads the two lengths as one word (rd_cookie_lens) */
    uint16_t cookie_len;
    uint8_t client_len;         /* the client's address (client) is 4 or 16 octets, 0: unknown */
    uint8_t cookie_room;        /* octets of the COOKIE option to send, header included: 0
                                   (none) or 28; set only by the cookie step (once per query) */
    const uint8_t *cookie;      /* the query's (first) COOKIE option data, NULL: none (and
                                   cookie_len 0; so in every FORMERR, rd_parse_query); once
                                   the cookie step set cookie_room, the 24 octets to send,
                                   the option's header right before them: the query's
                                   (echoed), or cookie_opt + 4 (a fresh one) */
    /* response */
    size_t len;
    uint16_t count[3];          /* answer, authority, additional RR counts */
    uint8_t aa, tc;
    /* ---- set by rd_ctx_start */
    uint16_t rcode;
    int ncomp;
    int ncomp_question;
    int naddl_seen;
    const rd_tsig_key *tsig_key;    /* the key that signed the query, once verified */
    const rd_db *db;
    const rd_transport *t;
    rd_stats *stats;
    const uint8_t *q;
    size_t qlen;
    uint8_t *r;
    size_t cap;                 /* hard capacity (respcap, clamped to 65535) */
    uint32_t zone_index;        /* the zone's index in db->zones, RD_NONE when none */
    uint16_t udp_payload;
    int ede;                    /* RFC 8914 extended error INFO-CODE, -1 = none */
    size_t size_limit;          /* the whole response's limit (OPT included) */
    const uint8_t *client;      /* the client's address, client_len 4 or 16 (0: unknown) */
    rd_cookie_cache *cookie_k;  /* the worker's cookie cache made ready for this batch
                                   (rd_cookie_begin), NULL: none or cookies off; unused by
                                   rd_answer (it takes the transport's, rd_cookie_turn) */
    /* ---- written before being read */
    const struct zfast_blob *fast_blob;   /* when fast_known 1: the answer, NULL: general path */
    uint32_t neg_place;         /* when fast_known 2: the NSEC3 range of the whole question
                                   name's hash (RD_NONE when an owner matches): fast_nxdomain's
                                   for a top label, rd_fast_wildcard's next closer name */
    int prc;                    /* rd_parse_query's result: an rcode, -1 = send nothing */
    size_t limit;               /* size limit of the sections (size limit minus OPT room) */
    size_t question_end;        /* offset right after the echoed question */
    uint8_t cookie_opt[28];     /* a fresh COOKIE option: header | client cookie | RFC 9018
                                   server cookie */
    uint8_t lname[RD_NAME_MAX + 1];  /* question name, lower-cased */
    uint8_t loff[128];          /* offsets of the labels of lname */
    rd_comp comp[RD_COMP_MAX];
    znode_id addl_seen[RD_ADDL_SEEN_MAX];
} rd_ctx;

enum { RD_SEC_AN = 0, RD_SEC_NS = 1, RD_SEC_AR = 2 };


/* engine_query.c: parse the query (header, question, EDNS); returns an rcode, or -1 when
 * nothing must be sent. */
int rd_parse_query(rd_ctx *c);

/* Bytes of the OPT record of the response: the fixed part, NSID, COOKIE and
 * edns-tcp-keepalive (RFC 6891 6.1.2, RFC 5001 2.3, RFC 7873 4, RFC 7828 3.3.2); an
 * extended error is added only when room is left. */
static inline size_t rd_opt_room(const rd_ctx *c)
{
    size_t n = 11;
    if (c->nsid_req && c->db && c->db->opt.nsid_len) n += 4u + c->db->opt.nsid_len;
    n += c->cookie_room;                                      /* RFC 7873 4 */
    if (c->keepalive_req && c->t && c->t->tcp && c->t->keepalive) n += 6;
    /* RFC 7314: kept for EXPIRE whenever asked (rare: secondaries ask it of their
     * primaries); rd_finish writes it only for a zone's SOA, AXFR or IXFR */
    if (c->expire_req) n += 8;
    return n;
}

/* engine_write.c: the response writer. */
void rd_write_header(rd_ctx *c);
int rd_write_question(rd_ctx *c);
int rd_put_name(rd_ctx *c, const uint8_t *name, size_t namemax, int compress);
/* Where names sit in the rdata of the types RFC 3597 section 4 lets us compress (the
 * RFC 1035 types): the count of names after *prefix octets, when rd holds them whole;
 * 0 for every other type (SRV: RFC 2782, DNAME: RFC 6672 2.5, ...) and for rdata that
 * does not match its layout: such rdata is copied as it is. */
static inline int rd_rdata_names(uint16_t type, const uint8_t *rd, uint16_t rdlen, int *prefix)
{
    int names = 0;
    *prefix = 0;
    switch (type) {
    case RD_T_NS: case 3 /* MD */: case 4 /* MF */: case RD_T_CNAME: case 7 /* MB */:
    case 8 /* MG */: case 9 /* MR */: case RD_T_PTR:
        names = 1; break;
    case RD_T_SOA: case 14 /* MINFO */:
        names = 2; break;
    case RD_T_MX:
        *prefix = 2; names = 1; break;
    default:
        return 0;
    }
    size_t o = (size_t)*prefix;
    if (o > rdlen) return 0;
    for (int i = 0; i < names; i++) {
        size_t nl = rd_wire_name_check(rd + o, rdlen - o);
        if (nl == 0) return 0;
        o += nl;
    }
    return names;
}

/* The TYPE, CLASS and TTL of a record at f; its RDLENGTH follows once known (RFC 1035
 * 4.1.3). */
static inline void rd_put_rr_fields(uint8_t *f, uint16_t type, uint16_t rclass, uint32_t ttl)
{
    rd_put16(f, type);
    rd_put16(f + 2, rclass);
    rd_put32(f + 4, ttl);
}

int rd_put_rr(rd_ctx *c, int sec, const uint8_t *owner, uint16_t type, uint16_t rclass,
              uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);
int rd_put_rrset(rd_ctx *c, int sec, const zimg *z, const uint8_t *owner, const zrrset *rs,
                 uint32_t ttl);
void rd_truncate(rd_ctx *c);
size_t rd_finish(rd_ctx *c);

/* engine_lookup.c: class IN answers from the hosted zones (RFC 1034 4.3.2). */
void rd_answer_in(rd_ctx *c);

/* engine_dnssec.c: DNSSEC proofs added to authority when the client set DO (RFC 4035
 * 3.1.3, RFC 5155 7.2); each does nothing for an unsigned zone. */
void rd_dnssec_nxdomain(rd_ctx *c, const zimg *z, const zlookup *lk, const uint8_t *lname);
void rd_dnssec_nodata(rd_ctx *c, const zimg *z, const zlookup *lk, const uint8_t *lname,
                      znode_id node);
void rd_dnssec_wildcard_answer(rd_ctx *c, const zimg *z, const zlookup *lk,
                               const uint8_t *lname);
void rd_dnssec_insecure_referral(rd_ctx *c, const zimg *z, znode_id cut);
/* One proof node's NSEC or NSEC3 rrset and its RRSIG into authority (the precomputed
 * NXDOMAIN proofs are written with it, precompute.c). */
void rd_dnssec_put_proof(rd_ctx *c, const zimg *z, znode_id node, uint16_t type);
/* The zone's NSEC3 hash parameters (RFC 5155 4, 3.2); 0 when usable (SHA-1). */
int rd_dnssec_nsec3_salt(const zimg *z, const uint8_t **salt, unsigned *salt_len,
                         unsigned *iterations);
/* The NSEC3 hash of the lower-case name lname (RFC 5155 5) into hash; returns its bucket
 * in a directory of `bits` bits (zimg_nsec3_directory). */
uint32_t rd_dnssec_nsec3_hash(const uint8_t *lname, const uint8_t *salt, unsigned salt_len,
                              unsigned iterations, int bits, uint8_t hash[20]);
/* The place in the NSEC3 index of the owner matching (*match) or covering the hash of
 * the lower-case name lname (RFC 5155 7.2.1); searched in one bucket of a directory of
 * the index by the hashes' top bits (zimg_nsec3_directory) when dir is not NULL. */
uint32_t rd_dnssec_nsec3_place(const zimg *z, const uint8_t *lname, const uint8_t *salt,
                               unsigned salt_len, unsigned iterations, const uint32_t *dir,
                               int bits, int *match);
/* engine_lookup.c: the negative answer's SOA (RFC 2308 3, 5), signed with DO. */
void rd_put_negative(rd_ctx *c, const zimg *z);
/* NSEC3 owner names are not names of the zone (Knot and NSD answer NXDOMAIN for them):
 * a lookup that found one as the closest encloser continues from its parent. */
void rd_dnssec_hide_nsec3(const zimg *z, zlookup *lk);

/* engine.c: rd_answer in two halves, so that rd_answer_batch can parse a query, prefetch
 * what it needs, and answer it later. */
void rd_ctx_start(rd_ctx *c, const rd_db *db, const uint8_t *q, size_t qlen, uint8_t *resp,
                  size_t respcap, const rd_transport *t, rd_stats *stats);
size_t rd_ctx_answer(rd_ctx *c);

/* engine_fast.c: the zone of the query name and the name's answer-table hash, found once
 * per query: the most specific hosted zone (RFC 1034 4.3.2 step 2), except that DS is
 * answered by the zone above the name when one is hosted (RFC 4035 3.1.4.1).  Several
 * steps ask for it: after the first, the question costs one test, inline. */
void rd_ctx_zone_find(rd_ctx *c);
static inline void rd_ctx_zone(rd_ctx *c)
{
    if (!c->zone_done) rd_ctx_zone_find(c);
}

/* engine_fast.c: answer from the zone's precomputed answers when one applies and fits
 * `limit` (the size limit minus the OPT room); 1 when answered, 0: take the general path. */
int rd_fast_answer(rd_ctx *c, size_t limit);

/* engine_fast_wild.c: the answer synthesized from the wildcard below P (RFC 4592), for a
 * question whose labels down to P (pl labels; P below the apex, its answer record p) are
 * names of the zone and whose next label below P is not (so P is the closest encloser);
 * 1 when answered from the stored pieces (zwild, zimg_format.h), 0: the general path. */
int rd_fast_wildcard(rd_ctx *c, const zimg *z, const zfast_rec *p, int pl, size_t limit);

/* The query's zone (rd_ctx_zone found) is an expired secondary: SERVFAIL. */
static inline int rd_ctx_zone_expired(const rd_ctx *c)
{
    return c->zone && c->db->zone_flags && (c->db->zone_flags[c->zone_index] & RD_ZONE_EXPIRED);
}

/* engine.c: the answer to a query whose TSIG record failed (err: an RFC 8945 error, or
 * -1 for FORMERR); also used by the transfer code (xfr.c). */
size_t rd_tsig_error_answer(rd_ctx *c, const rd_tsig_rr *rr, rd_tsig_ctx *tsig, int err,
                            uint64_t now);

/* DNS Cookies: the query's COOKIE option has a length RFC 7873 5.2.2 does not allow
 * (FORMERR): a client cookie alone (8 octets), or with a server cookie of 8 to 32 octets
 * (4.2). */
static inline int rd_cookie_malformed(const rd_ctx *c)
{
    uint16_t n = c->cookie_len;
    return !(n == 8 || (n >= 16 && n <= 40));
}

/* engine_cookie.c: the cookie to send back (cookie_room, cookie) when cookies are on, with
 * the worker's cache `k` made ready (NULL: none), rcode rc so
 * far; returns 1 when the query gets only the minimal answer (require, UDP, no valid
 * server cookie: TC=1, and BADCOOKIE when the client sent a cookie).  The general case;
 * rd_cookie_hit below takes the common one first. */
int rd_cookie_answer_full(rd_ctx *c, rd_cookie_cache *k, int rc);

/* RFC 9018 4.3: a server cookie is valid from an hour before now to five minutes after
 * (clock skew between the servers of an anycast set); one older than half an hour is
 * replaced by a fresh one in the response. */
enum { RD_COOKIE_PAST = 3600, RD_COOKIE_FUTURE = 300, RD_COOKIE_RENEW = 1800 };

static inline uint64_t rd_ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* engine_cookie.c: the worker's cookie cache emptied for a new snapshot (a new secret,
 * or the same one reloaded: its cookies verify anew) or a new epoch starting at `now`. */
void rd_cookie_flush(rd_cookie_cache *k, uint64_t generation, uint32_t now);

/* The clock DNS Cookies take: the caller's for its turn when it has one
 * (rd_transport.now), else the system's. */
static inline uint32_t rd_cookie_clock(const rd_transport *t)
{
    return t && t->now ? t->now : (uint32_t)time(NULL);
}

/* The worker's cookie cache `k` made ready for a batch (or a single query) of `db` at
 * `now`: emptied when the snapshot changed or the clock left the cache's epoch, either
 * way (one unsigned comparison in serial number arithmetic, RFC 1982). */
static inline rd_cookie_cache *rd_cookie_ready(rd_cookie_cache *k, const rd_db *db, uint32_t now)
{
    k->now = now;
    if (k->generation != db->generation || now - k->from >= RD_COOKIE_EPOCH)
        rd_cookie_flush(k, db->generation, now);
    return k;
}

/* A single query's cache (rd_answer): made ready unless it is already for this snapshot
 * at the caller's clock of this turn (rd_transport.now), so that a caller answering one
 * query at a time with its turn's clock pays the clock and the epoch check once per turn,
 * as a batch does; without the caller's clock (now 0: the cache's is never 0 once ready)
 * the system's is read for every query.  Exact whatever the caller does: a cache made
 * ready for another snapshot or another second is made ready again. */
static inline rd_cookie_cache *rd_cookie_turn(rd_cookie_cache *k, const rd_db *db,
                                              const rd_transport *t)
{
    if (k->generation != db->generation || k->now != t->now)
        rd_cookie_ready(k, db, rd_cookie_clock(t));
    return k;
}

/* Once per batch (rd_answer_batch), before any query of it is answered: the cache each
 * query's context takes (cookie_k), NULL when there is none or cookies are off. */
static inline rd_cookie_cache *rd_cookie_begin(const rd_db *db, const rd_transport *t)
{
    rd_cookie_cache *k;
    if (!db || !db->opt.cookies || !t || !(k = t->cookie_cache)) return NULL;
    return rd_cookie_ready(k, db, rd_cookie_clock(t));
}

/* The client's address as two words, loaded at its own size (copying a 4-octet address
 * into a zeroed buffer and reading it back as words would stall store forwarding). */
static inline void rd_cookie_client_words(const uint8_t *client, unsigned len, uint64_t w[2])
{
    if (len == 16) {
        w[0] = rd_ld64(client);
        w[1] = rd_ld64(client + 8);
    } else {
        uint32_t v4;
        memcpy(&v4, client, 4);
        w[0] = v4;
        w[1] = 0;
    }
}

/* The slot of the worker's cookie cache (engine.h) for a 24-octet cookie `q` from an
 * address of `len` (4 or 16) octets: bits of the server cookie's hash field (RFC 9018
 * 4.4), pseudo-random already, so nothing is hashed, moved for an IPv6 address by
 * RD_COOKIE_V6_SLOT slots, so that the IPv4 and the IPv6 entries of one cookie never
 * share a slot (an entry whose cookie bytes equal a query's was stored for an address of
 * the query's length: no length is kept or compared).  With `len` a constant the offset
 * is one AND for IPv4 (the common case), one XOR and one AND for IPv6. */
enum { RD_COOKIE_V6_SLOT = 16 };
_Static_assert(RD_COOKIE_V6_SLOT > 1 && (int)RD_COOKIE_V6_SLOT < (int)RD_COOKIE_CACHE_SLOTS,
               "an empty slot's word (rd_cookie_flush: i ^ 1) chooses another slot either way");
static inline rd_cookie_cache_entry *rd_cookie_cache_slot(rd_cookie_cache *k, const uint8_t *q,
                                                          unsigned len)
{
    _Static_assert(sizeof(rd_cookie_cache_entry) == 64, "a cookie cache slot is one cache line");
    uint64_t h = rd_ld64(q + 16) ^ (len == 16 ? (uint64_t)RD_COOKIE_V6_SLOT << 6 : 0);
    return (rd_cookie_cache_entry *)((char *)k->e + (h & ((RD_COOKIE_CACHE_SLOTS - 1) << 6)));
}

/* Does the worker's cookie cache hold the query's 24-octet cookie from its address of
 * `len` octets?  An IPv4 entry's second address word is zero (its
 * slot is an IPv4 one).  Compared without an early exit (all differences OR-ed): the
 * time taken does not tell how many octets of a stored cookie matched. */
static inline int rd_cookie_cache_find(const rd_cookie_cache *k, const rd_ctx *c, unsigned len)
{
    const uint8_t *q = c->cookie;
    const rd_cookie_cache_entry *e = rd_cookie_cache_slot((rd_cookie_cache *)k, q, len);
    uint64_t h = rd_ld64(q + 16), a;
    if (len == 16) {
        a = (e->client[0] ^ rd_ld64(c->client)) | (e->client[1] ^ rd_ld64(c->client + 8));
    } else {
        uint32_t v4;
        memcpy(&v4, c->client, 4);
        a = e->client[0] ^ v4;
    }
    return ((e->cookie[0] ^ rd_ld64(q)) | (e->cookie[1] ^ rd_ld64(q + 8)) |
            (e->cookie[2] ^ h) | a) == 0;
}

/* The context's cookie_len, client_len and cookie_room (engine_int.h rd_ctx: adjacent,
 * in this order) as one word, and the word a cookie of `cookie_len` octets from an address
 * of `client_len` octets gives before the cookie step (cookie_room 0): one load and one
 * comparison check both lengths. */
typedef struct rd_cookie_lens_s {
    uint16_t cookie_len;
    uint8_t client_len, cookie_room;
} rd_cookie_lens_s;
_Static_assert(offsetof(rd_ctx, client_len) == offsetof(rd_ctx, cookie_len) + 2 &&
               offsetof(rd_ctx, cookie_room) == offsetof(rd_ctx, cookie_len) + 3,
               "the cookie lengths are one word");
static inline uint32_t rd_cookie_lens(uint16_t cookie_len, uint8_t client_len)
{
    rd_cookie_lens_s s = { cookie_len, client_len, 0 };
    uint32_t w;
    memcpy(&w, &s, 4);
    return w;
}
static inline uint32_t rd_ctx_cookie_lens(const rd_ctx *c)
{
    uint32_t w;
    memcpy(&w, &c->cookie_len, 4);
    return w;
}

/* DNS Cookies, the common case inline (issue 16: cookies may cost at most 3% per query),
 * 1 when it applies:
 * a resolver repeating, from the same address, the exact client | server cookie this
 * worker already verified under this snapshot and epoch: no SipHash, no time check (an
 * entry is stored only when it stays valid and fresh, RFC 9018 4.3, for the whole epoch:
 * rd_cookie_answer_full), the cookie echoed as sent; a hit implies the length and
 * version checks, made before the cookie was stored.  `k`: the cache, made ready.
 * Everything else (no cookie, a client cookie alone, a cookie not verified
 * yet, to renew, made with the previous secret, or wrong) is rd_cookie_answer_full's. */
static inline int rd_cookie_hit(rd_ctx *c, rd_cookie_cache *k)
{
    uint32_t w = rd_ctx_cookie_lens(c);
    if (__builtin_expect(w == rd_cookie_lens(24, 4), 1) ? rd_cookie_cache_find(k, c, 4)
        : w == rd_cookie_lens(24, 16) && rd_cookie_cache_find(k, c, 16)) {
        c->cookie_room = 4 + 24;         /* the query's cookie echoed (c->cookie) */
        k->hits++;
        return 1;
    }
    return 0;
}

/* notify.c: the engine's step for a well-formed NOTIFY (its TSIG, if any, verified: c->tsig_key):
 * when it names a secondary zone of the database, the answer is the acknowledgement
 * (RFC 1996 4.7: NOERROR, AA, the question) for a source the zone's rules admit (address
 * from the transport, and key) and the zone is queued for a refresh, or REFUSED for
 * others; returns 1 with c->rcode and c->aa set (the caller writes the header and the
 * question).  0: not a secondary zone here, the engine's NOTAUTH stands. */
int rd_notify_accept(rd_ctx *c);

/* A zone-table slot the guess chose (zonetab.h): the loads the answer makes next,
 * prefetched side by side — the answer slot of the question's hash (or the image header
 * the general lookup starts from) and the zone's flag and stats entries.  The one list
 * of the batch pipeline's guess step (engine_batch.c) and the single query's guess
 * (engine_fast.c). */
enum { RD_SMALL_FAST = 1024 };   /* answer table + records + answers fetched whole */
static inline void rd_zone_slot_prefetch(const rd_db *db, const rd_zonetab_slot *s, uint32_t fhash,
                                         int whole)
{
    if (whole && s->fast_off && s->fast_end - s->fast_off <= RD_SMALL_FAST) {
        /* a small zone (a dozen records: ~1 KB): its answer table, records and answers
         * at once, so the answer slot, the record and the answer are not three misses
         * one after the other (a query at the socket comes in batches of one or two,
         * where the batch pipeline cannot overlap them; issue 14) */
        const uint8_t *z = (const uint8_t *)s->zone;
        uintptr_t p = (uintptr_t)(z + s->fast_off) & ~(uintptr_t)63, end = (uintptr_t)(z + s->fast_end);
        for (; p < end; p += 64) __builtin_prefetch((const void *)p);
    } else if (s->fast_off)
        __builtin_prefetch((const zfast_slot *)((const uint8_t *)s->zone + s->fast_off) +
                           (fhash & s->fast_mask));
    else
        __builtin_prefetch(s->zone);
    if (db->zone_flags) __builtin_prefetch(&db->zone_flags[s->index]);
    if (db->zone_slot) __builtin_prefetch(&db->zone_slot[s->index]);
}

/* engine_chaos.c: class CH identity queries. */
void rd_answer_chaos(rd_ctx *c);

#endif
