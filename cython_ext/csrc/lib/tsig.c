/* tsig.c — TSIG (RFC 8945): parse the TSIG record, verify a request, sign responses and chains of them, with libcrypto's HMAC. */
#include "lib/tsig.h"
#include "lib/rd_wire.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>

/* Algorithm names (RFC 8945 6) in wire form, libcrypto's digest names, the MAC octets
 * sent, the digest's own length (for the 5.2.2.1 floor) and the untruncated algorithm. */
static const struct {
    const uint8_t *wire;
    const char *digest;
    size_t mac, hash;
    int base;
} algs[RD_TSIG_ALG_COUNT] = {
    [RD_TSIG_HMAC_MD5] = { (const uint8_t *)"\x08hmac-md5\x07sig-alg\x03reg\x03int", "MD5", 16, 16,
                           RD_TSIG_HMAC_MD5 },
    [RD_TSIG_HMAC_SHA1] = { (const uint8_t *)"\x09hmac-sha1", "SHA1", 20, 20, RD_TSIG_HMAC_SHA1 },
    [RD_TSIG_HMAC_SHA224] = { (const uint8_t *)"\x0bhmac-sha224", "SHA224", 28, 28,
                              RD_TSIG_HMAC_SHA224 },
    [RD_TSIG_HMAC_SHA256] = { (const uint8_t *)"\x0bhmac-sha256", "SHA256", 32, 32,
                              RD_TSIG_HMAC_SHA256 },
    [RD_TSIG_HMAC_SHA384] = { (const uint8_t *)"\x0bhmac-sha384", "SHA384", 48, 48,
                              RD_TSIG_HMAC_SHA384 },
    [RD_TSIG_HMAC_SHA512] = { (const uint8_t *)"\x0bhmac-sha512", "SHA512", 64, 64,
                              RD_TSIG_HMAC_SHA512 },
    [RD_TSIG_HMAC_SHA256_128] = { (const uint8_t *)"\x0fhmac-sha256-128", "SHA256", 16, 32,
                                  RD_TSIG_HMAC_SHA256 },
    [RD_TSIG_HMAC_SHA384_192] = { (const uint8_t *)"\x0fhmac-sha384-192", "SHA384", 24, 48,
                                  RD_TSIG_HMAC_SHA384 },
    [RD_TSIG_HMAC_SHA512_256] = { (const uint8_t *)"\x0fhmac-sha512-256", "SHA512", 32, 64,
                                  RD_TSIG_HMAC_SHA512 },
};

int rd_tsig_alg_from_name(const uint8_t *lname)
{
    for (int a = 1; a < RD_TSIG_ALG_COUNT; a++)
        if (rd_name_eq(lname, algs[a].wire)) return a;
    return 0;
}

const uint8_t *rd_tsig_alg_name(int alg)
{
    return alg > 0 && alg < RD_TSIG_ALG_COUNT ? algs[alg].wire : NULL;
}

size_t rd_tsig_mac_size(int alg)
{
    return alg > 0 && alg < RD_TSIG_ALG_COUNT ? algs[alg].mac : 0;
}

int rd_tsig_alg_base(int alg)
{
    return alg > 0 && alg < RD_TSIG_ALG_COUNT ? algs[alg].base : 0;
}

int rd_tsig_memeq(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t d = 0;
    for (size_t i = 0; i < n; i++) d |= a[i] ^ b[i];
    return d == 0;
}

/* ---- HMAC through libcrypto's EVP_MAC (fetched once: fetching is costly) ---- */

static EVP_MAC *hmac_impl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static void hmac_fetch(void) { hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL); }

typedef struct hm { EVP_MAC_CTX *c; } hm;

/* HMAC of algorithm alg with key k's secret. */
static int hm_init(hm *h, const rd_tsig_key *k, int alg)
{
    pthread_once(&hmac_once, hmac_fetch);
    h->c = NULL;
    if (!hmac_impl || alg <= 0 || alg >= RD_TSIG_ALG_COUNT) return -1;
    h->c = EVP_MAC_CTX_new(hmac_impl);
    if (!h->c) return -1;
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)algs[alg].digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (!EVP_MAC_init(h->c, k->secret, k->secret_len, params)) {
        EVP_MAC_CTX_free(h->c);
        h->c = NULL;
        return -1;
    }
    return 0;
}

static void hm_update(hm *h, const void *p, size_t n) { EVP_MAC_update(h->c, p, n); }

static size_t hm_final(hm *h, uint8_t *out)
{
    size_t n = 0;
    if (!EVP_MAC_final(h->c, out, &n, RD_TSIG_MAC_MAX)) n = 0;
    EVP_MAC_CTX_free(h->c);
    h->c = NULL;
    return n;
}

static void put48(uint8_t *p, uint64_t v)
{
    for (int i = 5; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

int rd_tsig_parse(const uint8_t *m, size_t len, size_t off, rd_tsig_rr *rr)
{
    memset(rr, 0, sizeof *rr);
    rr->start = off;
    size_t klen, p = rd_wire_name_read(m, len, off, rr->key, &klen, 1);
    if (!p || p + 10 > len) return -1;
    /* RFC 8945 4.2: class ANY, TTL 0. */
    if (rd_get16(m + p) != RD_T_TSIG || rd_get16(m + p + 2) != RD_C_ANY) return -1;
    if (m[p + 4] | m[p + 5] | m[p + 6] | m[p + 7]) return -1;
    size_t rdlen = rd_get16(m + p + 8);
    p += 10;
    size_t end = p + rdlen;
    if (end != len) return -1;
    /* The algorithm name is never compressed (RFC 8945 4.2); a pointer is malformed. */
    size_t q = rd_wire_name_end(m, end, p, 0);
    if (!q || q + 10 > end) return -1;
    rd_name_lower_copy(rr->alg_name, m + p);
    rr->alg = rd_tsig_alg_from_name(rr->alg_name);
    rr->time_signed = 0;
    for (int i = 0; i < 6; i++) rr->time_signed = rr->time_signed << 8 | m[q + i];
    rr->fudge = rd_get16(m + q + 6);
    rr->mac_len = rd_get16(m + q + 8);
    q += 10;
    if (q + rr->mac_len + 6 > end) return -1;
    rr->mac = m + q;
    q += rr->mac_len;
    rr->orig_id = rd_get16(m + q);
    rr->error = rd_get16(m + q + 2);
    rr->other_len = rd_get16(m + q + 4);
    q += 6;
    if (q + rr->other_len != end) return -1;
    rr->other = m + q;
    return 0;
}

/* The message as the MAC covers it (RFC 8945 4.3.2): the original ID in place of the ID,
 * and ARCOUNT without the TSIG record when `minus` is 1. */
static void mac_message(hm *h, const uint8_t *m, size_t len, uint16_t orig_id, int minus)
{
    uint8_t head[12];
    memcpy(head, m, 12);
    rd_put16(head, orig_id);
    rd_put16(head + 10, (uint16_t)(rd_get16(m + 10) - minus));
    hm_update(h, head, 12);
    hm_update(h, m + 12, len - 12);
}

/* The TSIG variables (RFC 8945 4.3.3); the timers only for a later message of a chain. */
static void mac_variables(hm *h, const uint8_t *key, const uint8_t *alg, uint64_t time_signed,
                          uint16_t fudge, uint16_t error, const uint8_t *other,
                          uint16_t other_len, int timers_only)
{
    uint8_t b[10];
    if (!timers_only) {
        hm_update(h, key, rd_name_len(key));
        rd_put16(b, RD_C_ANY);
        memset(b + 2, 0, 4);                  /* TTL 0 */
        hm_update(h, b, 6);
        hm_update(h, alg, rd_name_len(alg));
    }
    put48(b, time_signed);
    rd_put16(b + 6, fudge);
    hm_update(h, b, 8);
    if (!timers_only) {
        rd_put16(b, error);
        rd_put16(b + 2, other_len);
        hm_update(h, b, 4);
        if (other_len) hm_update(h, other, other_len);
    }
}

static void prior_mac(hm *h, const uint8_t *mac, uint16_t n)
{
    uint8_t b[2];
    rd_put16(b, n);
    hm_update(h, b, 2);
    hm_update(h, mac, n);
}

int rd_tsig_verify(rd_tsig_ctx *ctx, const uint8_t *m, size_t len, const rd_tsig_rr *rr,
                   const rd_tsig_key *keys, size_t nkeys, uint64_t now)
{
    memset(ctx, 0, sizeof *ctx);
    /* RFC 8945 5.2.1: an unknown key, or a known one with another algorithm: BADKEY.  A
     * key of a truncated algorithm (hmac-sha256-128) also takes its base algorithm, with
     * a MAC the 5.2.4 check below holds to the truncated length. */
    const rd_tsig_key *k = NULL;
    for (size_t i = 0; i < nkeys; i++)
        if (rd_name_eq(keys[i].name, rr->key)) { k = &keys[i]; break; }
    if (!k || !rr->alg || (rr->alg != k->alg && rr->alg != algs[k->alg].base))
        return RD_TSIG_BADKEY;
    ctx->key = k;
    ctx->alg = (uint8_t)rr->alg;
    ctx->time_signed = rr->time_signed;
    ctx->fudge = rr->fudge;
    /* RFC 8945 5.2.2.1: a MAC longer than the algorithm's, or shorter than the larger of
     * 10 octets and half the hash, is malformed (FORMERR). */
    size_t full = algs[rr->alg].mac;
    size_t floor = algs[rr->alg].hash / 2 > 10 ? algs[rr->alg].hash / 2 : 10;
    if (rr->mac_len > full || rr->mac_len < floor) return -1;
    hm h;
    if (hm_init(&h, k, rr->alg) < 0) return RD_TSIG_BADKEY;
    mac_message(&h, m, rr->start, rr->orig_id, 1);
    mac_variables(&h, k->name, algs[rr->alg].wire, rr->time_signed, rr->fudge,
                  rr->error, rr->other, rr->other_len, 0);
    uint8_t mac[RD_TSIG_MAC_MAX];
    size_t n = hm_final(&h, mac);
    /* 5.2.2.1 rule 4: a truncated MAC is compared with as many octets of ours */
    if (n < full || !rd_tsig_memeq(mac, rr->mac, rr->mac_len)) {
        ctx->key = NULL;                     /* RFC 8945 5.3.2: a BADSIG answer is unsigned */
        return RD_TSIG_BADSIG;
    }
    /* The responses chain from the request's MAC as it came (5.2.2.1 rule 4) and carry
     * as many octets as it did, never fewer than the key's algorithm (as BIND signs). */
    memcpy(ctx->prior, rr->mac, rr->mac_len);
    ctx->prior_len = rr->mac_len;
    size_t want = rr->mac_len > algs[k->alg].mac ? rr->mac_len : algs[k->alg].mac;
    ctx->mac_len = (uint8_t)(want < full ? want : full);
    /* RFC 8945 5.2.3: the time check comes after the MAC check.  Its SHOULD to remember
     * each key's latest Time Signed and refuse an earlier one is not followed (neither
     * by Knot): secondaries sharing a key, with clocks a second apart, would refuse each
     * other; a replay within the fudge only repeats a read of a zone the key may read. */
    uint64_t lo = rr->time_signed > rr->fudge ? rr->time_signed - rr->fudge : 0;
    if (now < lo || now > rr->time_signed + rr->fudge) return RD_TSIG_BADTIME;
    /* RFC 8945 5.2.4: truncated below the key's own algorithm: BADTRUNC, signed. */
    if (rr->mac_len < algs[k->alg].mac) return RD_TSIG_BADTRUNC;
    return 0;
}

size_t rd_tsig_room(const rd_tsig_key *key)
{
    /* owner, type..rdlen, alg name, time+fudge+macsize, MAC, id+error+otherlen, other (6):
     * the longer name and MAC of the key's algorithm and its base (either may answer) */
    int base = algs[key->alg].base;
    size_t an = rd_name_len(algs[key->alg].wire), bn = rd_name_len(algs[base].wire);
    return rd_name_len(key->name) + 10 + (an > bn ? an : bn) + 10 + algs[base].mac + 6 + 6;
}

/* Write the TSIG record at m+len. */
static size_t write_rr(uint8_t *m, size_t len, size_t cap, const uint8_t *key, const uint8_t *alg,
                       uint64_t time_signed, uint16_t fudge, const uint8_t *mac, uint16_t mac_len,
                       uint16_t orig_id, uint16_t error, const uint8_t *other, uint16_t other_len)
{
    size_t kl = rd_name_len(key), al = rd_name_len(alg);
    size_t rdlen = al + 10 + mac_len + 6 + other_len;
    if (len + kl + 10 + rdlen > cap || rdlen > 65535) return 0;
    uint8_t *p = m + len;
    memcpy(p, key, kl); p += kl;
    rd_put16(p, RD_T_TSIG); rd_put16(p + 2, RD_C_ANY);
    memset(p + 4, 0, 4);
    rd_put16(p + 8, (uint16_t)rdlen);
    p += 10;
    memcpy(p, alg, al); p += al;
    put48(p, time_signed);
    rd_put16(p + 6, fudge);
    rd_put16(p + 8, mac_len);
    p += 10;
    if (mac_len) memcpy(p, mac, mac_len);
    p += mac_len;
    rd_put16(p, orig_id); rd_put16(p + 2, error); rd_put16(p + 4, other_len);
    p += 6;
    if (other_len) memcpy(p, other, other_len);
    p += other_len;
    rd_put16(m + 10, (uint16_t)(rd_get16(m + 10) + 1));
    return (size_t)(p - m);
}

/* A response chains from the prior MAC (RFC 8945 4.3.1); a request has none (4.3.3). */
static size_t sign(rd_tsig_ctx *ctx, uint8_t *m, size_t len, size_t cap, uint16_t error,
                   uint64_t now, int request)
{
    const rd_tsig_key *k = ctx->key;
    if (!k || len < 12) return 0;
    int alg = ctx->alg ? ctx->alg : k->alg;
    size_t mlen = ctx->mac_len ? ctx->mac_len : algs[alg].mac;
    uint8_t other[6];
    uint16_t other_len = 0;
    uint64_t t = now;
    if (error == RD_TSIG_BADTIME) {
        /* RFC 8945 5.2.3: the request's time, and ours in Other Data. */
        t = ctx->time_signed;
        put48(other, now);
        other_len = 6;
    }
    int later = ctx->nsigned > 0;
    hm h;
    if (hm_init(&h, k, alg) < 0) return 0;
    if (!request) prior_mac(&h, ctx->prior, ctx->prior_len);
    uint16_t id = rd_get16(m);
    mac_message(&h, m, len, id, 0);
    mac_variables(&h, k->name, algs[alg].wire, t, RD_TSIG_FUDGE, error, other, other_len,
                  later);
    uint8_t mac[RD_TSIG_MAC_MAX];
    size_t n = hm_final(&h, mac);
    if (n < mlen) return 0;
    size_t out = write_rr(m, len, cap, k->name, algs[alg].wire, t, RD_TSIG_FUDGE, mac,
                          (uint16_t)mlen, id, error, other, other_len);
    if (out) {
        memcpy(ctx->prior, mac, mlen);       /* the next message chains from what was sent */
        ctx->prior_len = (uint16_t)mlen;
        ctx->nsigned++;
    }
    return out;
}

size_t rd_tsig_sign(rd_tsig_ctx *ctx, uint8_t *m, size_t len, size_t cap, uint16_t error,
                    uint64_t now)
{
    return sign(ctx, m, len, cap, error, now, 0);
}

size_t rd_tsig_sign_request(rd_tsig_ctx *ctx, uint8_t *m, size_t len, size_t cap, uint64_t now)
{
    return sign(ctx, m, len, cap, 0, now, 1);
}

size_t rd_tsig_append_unsigned(uint8_t *m, size_t len, size_t cap, const rd_tsig_rr *rr,
                               uint16_t error, uint64_t now)
{
    if (len < 12) return 0;
    return write_rr(m, len, cap, rr->key, rr->alg_name, now, RD_TSIG_FUDGE, NULL, 0,
                    rd_get16(m), error, NULL, 0);
}

/* The MAC check of a signed response whose digest h already holds what precedes the
 * message (the prior MAC, and any unsigned messages since it): rd_tsig_verify_response
 * and rd_tsig_rx_signed.  Frees h. */
static int verify_chained(rd_tsig_ctx *ctx, hm *h, int alg, const uint8_t *m,
                          const rd_tsig_rr *rr, uint64_t now)
{
    const rd_tsig_key *k = ctx->key;
    int later = ctx->nsigned > 0;
    mac_message(h, m, rr->start, rr->orig_id, 1);
    mac_variables(h, k->name, algs[alg].wire, rr->time_signed, rr->fudge,
                  rr->error, rr->other, rr->other_len, later);
    uint8_t mac[RD_TSIG_MAC_MAX];
    size_t n = hm_final(h, mac);
    if (n < rr->mac_len || !rd_tsig_memeq(mac, rr->mac, rr->mac_len)) return -1;
    uint64_t lo = rr->time_signed > rr->fudge ? rr->time_signed - rr->fudge : 0;
    if (now < lo || now > rr->time_signed + rr->fudge) return -1;
    memcpy(ctx->prior, rr->mac, rr->mac_len);
    ctx->prior_len = rr->mac_len;
    ctx->nsigned++;
    return 0;
}

/* The key, algorithm and MAC length of a response (RFC 8945 5.2.2.1: the whole MAC of
 * the algorithm, or truncated no shorter than the key's); the algorithm, or 0. */
static int response_alg(const rd_tsig_ctx *ctx, const rd_tsig_rr *rr)
{
    const rd_tsig_key *k = ctx->key;
    int alg = ctx->alg ? ctx->alg : (k ? k->alg : 0);
    if (!k || !rd_name_eq(rr->key, k->name) || rr->alg != alg || rr->error) return 0;
    if (rr->mac_len > algs[alg].mac || rr->mac_len < algs[k->alg].mac) return 0;
    return alg;
}

int rd_tsig_verify_response(rd_tsig_ctx *ctx, const uint8_t *m, size_t len,
                            const rd_tsig_rr *rr, uint64_t now)
{
    (void)len;
    int alg = response_alg(ctx, rr);
    if (!alg) return -1;
    hm h;
    if (hm_init(&h, ctx->key, alg) < 0) return -1;
    prior_mac(&h, ctx->prior, ctx->prior_len);
    return verify_chained(ctx, &h, alg, m, rr, now);
}

/* ---- receiving a signed multi-message response (a transfer we asked for) ---- */

void rd_tsig_rx_init(rd_tsig_rx *rx, const rd_tsig_key *key, const uint8_t *request_mac,
                     uint16_t request_mac_len)
{
    memset(rx, 0, sizeof *rx);
    rx->ctx.key = key;
    if (request_mac_len > RD_TSIG_MAC_MAX) request_mac_len = RD_TSIG_MAC_MAX;
    memcpy(rx->ctx.prior, request_mac, request_mac_len);
    rx->ctx.prior_len = request_mac_len;
}

void rd_tsig_rx_free(rd_tsig_rx *rx)
{
    if (rx->pending) EVP_MAC_CTX_free((EVP_MAC_CTX *)rx->pending);
    rx->pending = NULL;
}

int rd_tsig_rx_unsigned(rd_tsig_rx *rx, const uint8_t *m, size_t len)
{
    /* RFC 8945 5.3.1: the first message is signed; at most 99 in a row are not */
    if (rx->ctx.nsigned == 0) return RD_TSIG_RX_FIRST_UNSIGNED;
    if (rx->unsigned_run >= RD_TSIG_RX_MAX_UNSIGNED) return RD_TSIG_RX_TOO_MANY_UNSIGNED;
    if (!rx->pending) {
        /* the digest of the next signed message starts with the prior MAC, then holds
         * every unsigned message whole, as it came */
        hm h;
        if (hm_init(&h, rx->ctx.key, rx->ctx.key->alg) < 0) return RD_TSIG_RX_NOMEM;
        prior_mac(&h, rx->ctx.prior, rx->ctx.prior_len);
        rx->pending = h.c;
    }
    EVP_MAC_update((EVP_MAC_CTX *)rx->pending, m, len);
    rx->unsigned_run++;
    return 0;
}

int rd_tsig_rx_signed(rd_tsig_rx *rx, const uint8_t *m, const rd_tsig_rr *rr, uint64_t now)
{
    hm h;
    int alg = response_alg(&rx->ctx, rr);
    if (!alg) { rd_tsig_rx_free(rx); return -1; }
    if (rx->pending) {
        /* the pending digest was started with the key's algorithm */
        if (alg != rx->ctx.key->alg) { rd_tsig_rx_free(rx); return -1; }
        h.c = (EVP_MAC_CTX *)rx->pending;
        rx->pending = NULL;
    } else {
        if (hm_init(&h, rx->ctx.key, alg) < 0) return -1;
        prior_mac(&h, rx->ctx.prior, rx->ctx.prior_len);
    }
    rx->unsigned_run = 0;
    return verify_chained(&rx->ctx, &h, alg, m, rr, now);
}
