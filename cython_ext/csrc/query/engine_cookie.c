/* engine_cookie.c — DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018): check the query's cookie, choose the one to send back. */
#include "engine_int.h"
#include "lib/siphash.h"

#include <time.h>

enum { CLIENT_COOKIE = 8, SERVER_COOKIE = 16, COOKIE_VERSION = 1 };

/* RFC 9018 4.4: Hash = SipHash-2-4(Client Cookie | Version | Reserved | Timestamp |
 * Client-IP, Server Secret), where `head` is the first 8 octets of the server cookie
 * (version, reserved, timestamp).  The input is whole words but for an IPv4 address, so
 * it is fed word by word (20 or 32 octets): no buffer to assemble per query. */
static uint64_t cookie_hash(const uint8_t secret[16], const uint8_t *cc, const uint8_t *head,
                            const uint8_t *ip, size_t iplen)
{
    rd_sip s;
    rd_sip_init(&s, secret);
    rd_sip_word(&s, rd_le64(cc));
    rd_sip_word(&s, rd_le64(head));
    if (iplen == 16) {
        rd_sip_word(&s, rd_le64(ip));
        rd_sip_word(&s, rd_le64(ip + 8));
        return rd_sip_final(&s, 0, CLIENT_COOKIE + 8 + 16);
    }
    uint64_t v4 = (uint64_t)ip[0] | (uint64_t)ip[1] << 8 | (uint64_t)ip[2] << 16 |
                  (uint64_t)ip[3] << 24;
    return rd_sip_final(&s, v4, CLIENT_COOKIE + 8 + 4);
}

/* Does the server cookie of the query verify with `secret`?  One 64-bit comparison:
 * no early exit that would tell how many octets matched. */
static int cookie_matches(const rd_ctx *c, const uint8_t secret[16])
{
    const uint8_t *sc = c->cookie + CLIENT_COOKIE;
    return cookie_hash(secret, c->cookie, sc, c->client, c->client_len) == rd_le64(sc + 8);
}

/* Remember a cookie SipHash just accepted under the current secret for this address. */
static void cache_store(rd_cookie_cache_entry *e, const rd_ctx *c)
{
    memcpy(e->cookie, c->cookie, CLIENT_COOKIE + SERVER_COOKIE);
    rd_cookie_client_words(c->client, c->client_len, e->client);
}

/* May a cookie of timestamp `ts` be kept by the cache `k`?  Only if, at every second of
 * the cache's epoch (from .. from + RD_COOKIE_EPOCH - 1), it is inside RFC 9018 4.3's
 * window and not due for renewal: -RD_COOKIE_FUTURE <= t - ts <= RD_COOKIE_RENEW, so
 * that a hit needs no time check (the clock leaving the epoch empties the cache). */
static int cache_keeps(const rd_cookie_cache *k, uint32_t ts)
{
    return (int32_t)(k->from - ts) >= -RD_COOKIE_FUTURE &&
           (int32_t)(k->from + (RD_COOKIE_EPOCH - 1) - ts) <= RD_COOKIE_RENEW;
}

void rd_cookie_flush(rd_cookie_cache *k, uint64_t generation, uint32_t now)
{
    /* Empty is an entry no query can match in its slot: the hit check compares bytes
     * only (no version, no time), and any bytes may come from any address (an XDP frame
     * is not checked), so empty slot i holds a hash word that chooses another slot for
     * either address length (rd_cookie_cache_slot: i ^ 1, or i ^ 1 ^ RD_COOKIE_V6_SLOT);
     * a query with those bytes looks elsewhere. */
    memset(k->e, 0, sizeof k->e);
    for (uint64_t i = 0; i < RD_COOKIE_CACHE_SLOTS; i++) k->e[i].cookie[2] = (i ^ 1) << 6;
    k->generation = generation;
    k->from = now;
    k->flushes++;
}

int rd_cookie_answer_full(rd_ctx *c, rd_cookie_cache *k, int rc)
{
    const rd_options *o = &c->db->opt;
    int tcp = c->t && c->t->tcp;
    /* RFC 7873 5.2.3 leaves the answer to a request without a valid server cookie to the
     * server's policy; over TCP the handshake already proved the address: a normal
     * answer.  `require` over UDP sends only the header, the question and OPT, with TC
     * set so that a client which does not act on BADCOOKIE retries over TCP. */
    int minimal = o->cookie_require && !tcp && rc == RD_RCODE_NOERROR;
    /* 5.2.1: no COOKIE option.  A COOKIE of a length 5.2.2 does not allow is FORMERR, but
     * an answer whose rcode came first (BADVERS, NOTIMP) still reaches here: it is
     * answered as if no cookie came, for the 8 octets read below may not be there. */
    if (!c->cookie || rd_cookie_malformed(c)) {
        if (minimal) c->tc = 1;
        return minimal;
    }
    if (c->client_len != 4 && c->client_len != 16)
        return 0;                      /* no address to bind a cookie to: as if none */
    uint32_t now = k ? k->now : rd_cookie_clock(c->t);
    const uint8_t *sc = c->cookie + CLIENT_COOKIE;
    int valid = 0, renew = 1;
    if (c->cookie_len == CLIENT_COOKIE + SERVER_COOKIE && sc[0] == COOKIE_VERSION) {
        /* RFC 9018 4.3: timestamps compare in serial number arithmetic (RFC 1982). */
        uint32_t ts = rd_get32(sc + 4);
        int32_t age = (int32_t)(now - ts);
        /* A cookie in the worker's cache was taken by rd_cookie_hit already: here
         * it is hashed (a miss, or a cookie the cache does not keep, near an edge of the
         * window). */
        if (age <= RD_COOKIE_PAST && age >= -RD_COOKIE_FUTURE) {
            if (cookie_matches(c, o->cookie_secret)) {
                valid = 1;
                renew = age > RD_COOKIE_RENEW;
                if (k && cache_keeps(k, ts)) {
                    cache_store(rd_cookie_cache_slot(k, c->cookie, c->client_len), c);
                    k->stores++;
                }
            } else if (o->cookie_have_previous && cookie_matches(c, o->cookie_previous)) {
                /* made before a rotation: renewed with the new secret, and not cached
                 * (the client moves to the new cookie with this answer, RFC 9018 5) */
                valid = 1;
            }
        }
    }
    if (renew) {
        /* RFC 9018 4.2: version 1, three reserved octets of zero, the time, the hash
         * (written as the reference implementation's little-endian output). */
        static const uint8_t head[4] = { 0, RD_EDNS_COOKIE, 0, CLIENT_COOKIE + SERVER_COOKIE };
        uint8_t *s = c->cookie_opt + 4 + CLIENT_COOKIE;
        memcpy(c->cookie_opt, head, 4);          /* RFC 7873 4: the option's code, length */
        memcpy(c->cookie_opt + 4, c->cookie, CLIENT_COOKIE);
        s[0] = COOKIE_VERSION;
        s[1] = s[2] = s[3] = 0;
        rd_put32(s + 4, now);
        uint64_t h = cookie_hash(o->cookie_secret, c->cookie, s, c->client, c->client_len);
        for (int i = 0; i < 8; i++) s[8 + i] = (uint8_t)(h >> (8 * i));
        c->cookie = c->cookie_opt + 4; /* sent instead of the query's (read no more) */
    }                                  /* else fresh and valid: echoed as the client sent it
                                          (24 octets, after the query's option header) */
    c->cookie_room = 4 + CLIENT_COOKIE + SERVER_COOKIE;
    if (valid || !minimal) return 0;   /* 5.2.5, or 5.2.3/5.2.4 option (3): a normal answer */
    /* 5.2.3 option (2), 5.2.4: BADCOOKIE with a fresh cookie for the client to retry with. */
    c->rcode = RD_RCODE_BADCOOKIE;
    c->tc = 1;
    return 1;
}
