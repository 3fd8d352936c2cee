/* tsig.h — TSIG (RFC 8945): keys, the TSIG record of a message, verifying requests and signing responses, one message or a chain of them.
 *
 * A wire operation with no server state: the caller passes the keys and the clock.  The
 * MACs are HMACs computed by OpenSSL's libcrypto (RFC 8945 6: hmac-md5, hmac-sha1,
 * hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512).
 */
#ifndef RD_TSIG_H
#define RD_TSIG_H

#include "lib/rd_common.h"

enum { RD_T_TSIG = 250 };

/* Algorithms (index into the table of tsig.c; 0 = unknown).  The last three are the
 * truncated ones of RFC 8945 6: the HMAC of their base algorithm cut to 128, 192 and 256
 * bits, under names of their own (dnspython sends them so); a key of one of them also
 * takes its base algorithm with a MAC at least that long (BIND sends them so). */
enum {
    RD_TSIG_ALG_NONE = 0, RD_TSIG_HMAC_MD5, RD_TSIG_HMAC_SHA1, RD_TSIG_HMAC_SHA224,
    RD_TSIG_HMAC_SHA256, RD_TSIG_HMAC_SHA384, RD_TSIG_HMAC_SHA512,
    RD_TSIG_HMAC_SHA256_128, RD_TSIG_HMAC_SHA384_192, RD_TSIG_HMAC_SHA512_256,
    RD_TSIG_ALG_COUNT
};

/* TSIG error field values (RFC 8945 3, IANA "DNS RCODEs"). */
enum { RD_TSIG_BADSIG = 16, RD_TSIG_BADKEY = 17, RD_TSIG_BADTIME = 18, RD_TSIG_BADTRUNC = 22 };

#define RD_TSIG_MAC_MAX 64        /* SHA-512 */
#define RD_TSIG_SECRET_MAX 512
#define RD_TSIG_FUDGE 300         /* seconds, RFC 8945 10 recommends 300 */

typedef struct rd_tsig_key {
    uint8_t name[RD_NAME_MAX + 1];   /* lower-case wire name */
    uint8_t alg;                     /* RD_TSIG_HMAC_* */
    uint16_t secret_len;
    uint8_t secret[RD_TSIG_SECRET_MAX];
} rd_tsig_key;

/* The TSIG record of a message (RFC 8945 4.2), pointing into the message. */
typedef struct rd_tsig_rr {
    size_t start;                    /* offset of its owner name: the message ends there
                                        once the record is taken off */
    uint8_t key[RD_NAME_MAX + 1];    /* key name, lower-case */
    uint8_t alg_name[RD_NAME_MAX + 1];   /* algorithm name, lower-case */
    int alg;                         /* RD_TSIG_HMAC_*, or 0 when unknown */
    uint64_t time_signed;            /* 48 bits */
    uint16_t fudge;
    uint16_t mac_len;
    const uint8_t *mac;
    uint16_t orig_id;
    uint16_t error;
    uint16_t other_len;
    const uint8_t *other;
} rd_tsig_rr;

/* State of one signed exchange: the key, the algorithm and MAC length the responses are
 * signed with, and the MAC the next signature chains from (the request's as it came,
 * truncated or not, then each response's: RFC 8945 5.2.2.1, 5.3.1). */
typedef struct rd_tsig_ctx {
    const rd_tsig_key *key;
    uint8_t alg;                     /* the request's algorithm; 0: the key's */
    uint8_t mac_len;                 /* octets of the MACs signed; 0: the algorithm's */
    uint64_t time_signed;            /* of the request; the responses are signed "now" */
    uint16_t fudge;
    uint16_t prior_len;
    uint8_t prior[RD_TSIG_MAC_MAX];
    uint32_t nsigned;                /* responses signed so far */
} rd_tsig_ctx;

int rd_tsig_alg_from_name(const uint8_t *lname);   /* lower-case wire name -> alg, or 0 */
const uint8_t *rd_tsig_alg_name(int alg);          /* wire name, or NULL */
size_t rd_tsig_mac_size(int alg);                  /* MAC octets of the algorithm */
int rd_tsig_alg_base(int alg);                     /* hmac-sha256-128 -> hmac-sha256 ... */

/* Parse the TSIG record whose owner name starts at `off` (the last record of the
 * message, RFC 8945 5.1).  Returns 0, or -1 when it is malformed or does not end exactly
 * at `len`. */
int rd_tsig_parse(const uint8_t *m, size_t len, size_t off, rd_tsig_rr *rr);

/* Verify a request carrying `rr` (RFC 8945 5.2) against `keys` at time `now` (seconds
 * since the epoch).  Returns 0 (valid: ctx is ready to sign the response), -1 when the
 * MAC is longer than the algorithm's or shorter than the RFC 8945 5.2.2.1 floor
 * (FORMERR), or the TSIG error to answer with: RD_TSIG_BADKEY (unknown key, or an
 * algorithm the key does not use), RD_TSIG_BADSIG (MAC wrong), RD_TSIG_BADTIME (outside
 * the fudge), RD_TSIG_BADTRUNC (a MAC truncated below the key's algorithm: 5.2.4);
 * after BADTIME and BADTRUNC ctx is ready to sign the error (5.3.2).  The MAC is
 * compared in constant time, over the octets the request carries. */
int rd_tsig_verify(rd_tsig_ctx *ctx, const uint8_t *m, size_t len, const rd_tsig_rr *rr,
                   const rd_tsig_key *keys, size_t nkeys, uint64_t now);

/* Octets a TSIG record signed with `key` takes (to keep room for it). */
size_t rd_tsig_room(const rd_tsig_key *key);

/* Sign the response m[0..len) (ARCOUNT not yet counting TSIG) and append the TSIG record,
 * incrementing ARCOUNT.  The first response carries the whole set of TSIG variables, the
 * later ones of a multi-message answer chain from the previous MAC with the timers only
 * (RFC 8945 5.3.1).  `error` is 0, RD_TSIG_BADTIME (then Other Data is the server's
 * time, 5.2.3) or RD_TSIG_BADTRUNC.  Returns the new length, or 0 when it does not fit. */
size_t rd_tsig_sign(rd_tsig_ctx *ctx, uint8_t *m, size_t len, size_t cap, uint16_t error,
                    uint64_t now);

/* Sign the request m[0..len) we send (a SOA query, a transfer request: RFC 8945 4.3.3,
 * no prior MAC) with ctx->key, ctx zeroed but for the key.  ctx->prior then holds the
 * request's MAC, which the response chains from (rd_tsig_verify_response, rd_tsig_rx).
 * Returns the new length, or 0 when it does not fit. */
size_t rd_tsig_sign_request(rd_tsig_ctx *ctx, uint8_t *m, size_t len, size_t cap, uint64_t now);

/* Append the unsigned TSIG record of a BADKEY or BADSIG answer (RFC 8945 5.3.2: key and
 * algorithm names of the request, empty MAC).  Returns the new length, or 0. */
size_t rd_tsig_append_unsigned(uint8_t *m, size_t len, size_t cap, const rd_tsig_rr *rr,
                               uint16_t error, uint64_t now);

/* Verify a response to a request we signed (a NOTIFY answer, a transfer we requested):
 * 0 when the MAC chains correctly from ctx->prior; -1 otherwise.  Advances the chain. */
int rd_tsig_verify_response(rd_tsig_ctx *ctx, const uint8_t *m, size_t len,
                            const rd_tsig_rr *rr, uint64_t now);

/* A signed multi-message response being received (a transfer we asked for, RFC 8945
 * 5.3.1): each signed message's MAC chains from the previous one; the unsigned ones in
 * between (at most 99 in a row) go whole into the next signed message's digest.  The
 * first message must be signed (the caller also wants the last one signed). */
enum { RD_TSIG_RX_MAX_UNSIGNED = 99 };
enum { RD_TSIG_RX_FIRST_UNSIGNED = -2, RD_TSIG_RX_TOO_MANY_UNSIGNED = -3, RD_TSIG_RX_NOMEM = -4 };

typedef struct rd_tsig_rx {
    rd_tsig_ctx ctx;                 /* the key, the MAC chained from, messages signed */
    void *pending;                   /* the digest of the unsigned messages since the last
                                        signed one (libcrypto's), or NULL */
    uint32_t unsigned_run;           /* unsigned messages since the last signed one */
} rd_tsig_rx;

/* Start with the key and the MAC of the request as sent. */
void rd_tsig_rx_init(rd_tsig_rx *rx, const rd_tsig_key *key, const uint8_t *request_mac,
                     uint16_t request_mac_len);
/* An unsigned message m[0..len): 0, or RD_TSIG_RX_FIRST_UNSIGNED,
 * RD_TSIG_RX_TOO_MANY_UNSIGNED, RD_TSIG_RX_NOMEM. */
int rd_tsig_rx_unsigned(rd_tsig_rx *rx, const uint8_t *m, size_t len);
/* A message carrying `rr` (rd_tsig_parse): 0 when it is signed with the key, its MAC
 * chains correctly and its time is within the fudge; -1 otherwise. */
int rd_tsig_rx_signed(rd_tsig_rx *rx, const uint8_t *m, const rd_tsig_rr *rr, uint64_t now);
void rd_tsig_rx_free(rd_tsig_rx *rx);

/* Compare n bytes without an early exit (RFC 8945 5.2.2 MACs). */
int rd_tsig_memeq(const uint8_t *a, const uint8_t *b, size_t n);

#endif
