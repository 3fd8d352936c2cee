/* engine_cookie.c — DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018): check the query's cookie, choose the one to send back. */
#include "engine_int.h"
#include "lib/siphash.h"

#include <time.h>

/* RFC 9018 4.3: a server cookie is valid from an hour before now to five minutes after
 * (clock skew between the servers of an anycast set); one older than half an hour is
 * replaced by a fresh one in the response. */
enum { COOKIE_PAST = 3600, COOKIE_FUTURE = 300, COOKIE_RENEW = 1800 };
enum { CLIENT_COOKIE = 8, SERVER_COOKIE = 16, COOKIE_VERSION = 1 };

int rd_cookie_malformed(const rd_ctx *c)
{
    /* RFC 7873 5.2.2: a client cookie alone (8 octets), or with a server cookie of 8 to
     * 32 octets (4.2); every other length is malformed. */
    uint16_t n = c->cookie_len;
    return !(n == CLIENT_COOKIE || (n >= CLIENT_COOKIE + 8 && n <= CLIENT_COOKIE + 32));
}

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

/* The cache slot of a query's server cookie: low bits of its hash field (RFC 9018 4.4),
 * pseudo-random already, so no hashing is needed to spread the slots. */
static rd_cookie_cache_entry *cache_slot(rd_cookie_cache *k, const uint8_t *sc)
{
    return &k->e[rd_le64(sc + 8) & (RD_COOKIE_CACHE_SLOTS - 1)];
}

static uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The client's address as two words, loaded at fixed sizes (copying a 4-octet address
 * into a zeroed buffer and reading it back as words would stall store forwarding). */
static void client_words(const rd_ctx *c, uint64_t w[2])
{
    if (c->client_len == 16) {
        w[0] = ld64(c->client);
        w[1] = ld64(c->client + 8);
    } else {
        uint32_t v4;
        memcpy(&v4, c->client, 4);
        w[0] = v4;
        w[1] = 0;
    }
}

/* Is the query's cookie exactly the bytes of entry e, verified for this address under
 * this snapshot's secret?  Compared without an early exit (all differences OR-ed), so
 * the time taken does not tell how many octets of a stored cookie matched. */
static int cache_hit(const rd_cookie_cache_entry *e, const rd_ctx *c)
{
    uint64_t ip[2];
    client_words(c, ip);
    uint64_t d = (e->generation ^ c->db->generation) | (uint64_t)(e->client_len ^ c->client_len);
    d |= (ld64(e->cookie) ^ ld64(c->cookie)) | (ld64(e->cookie + 8) ^ ld64(c->cookie + 8)) |
         (ld64(e->cookie + 16) ^ ld64(c->cookie + 16));
    d |= (e->client[0] ^ ip[0]) | (e->client[1] ^ ip[1]);
    return d == 0;
}

/* Remember a cookie SipHash just accepted under the current secret for this address. */
static void cache_store(rd_cookie_cache_entry *e, const rd_ctx *c)
{
    e->generation = c->db->generation;
    memcpy(e->cookie, c->cookie, CLIENT_COOKIE + SERVER_COOKIE);
    client_words(c, e->client);
    e->client_len = c->client_len;
}

int rd_cookie_answer(rd_ctx *c, int rc)
{
    const rd_options *o = &c->db->opt;
    int tcp = c->t && c->t->tcp;
    /* RFC 7873 5.2.3 leaves the answer to a request without a valid server cookie to the
     * server's policy; over TCP the handshake already proved the address: a normal
     * answer.  `require` over UDP sends only the header, the question and OPT, with TC
     * set so that a client which does not act on BADCOOKIE retries over TCP. */
    int minimal = o->cookie_require && !tcp && rc == RD_RCODE_NOERROR;
    if (!c->cookie) {                  /* 5.2.1: no COOKIE option */
        if (minimal) c->tc = 1;
        return minimal;
    }
    if (c->client_len != 4 && c->client_len != 16)
        return 0;                      /* no address to bind a cookie to: as if none */
    uint32_t now = (uint32_t)time(NULL);
    const uint8_t *sc = c->cookie + CLIENT_COOKIE;
    int valid = 0, renew = 1;
    if (c->cookie_len == CLIENT_COOKIE + SERVER_COOKIE && sc[0] == COOKIE_VERSION) {
        /* RFC 9018 4.3: timestamps compare in serial number arithmetic (RFC 1982). */
        uint32_t ts = rd_get32(sc + 4);
        int32_t age = (int32_t)(now - ts);
        /* The window is checked before the cache: a cached cookie expires and is renewed
         * by its own timestamp exactly as a hashed one (the timestamp is among the bytes
         * compared, so it is the one SipHash covered). */
        if (age <= COOKIE_PAST && age >= -COOKIE_FUTURE) {
            rd_cookie_cache_entry *e = c->t && c->t->cookie_cache
                                           ? cache_slot(c->t->cookie_cache, sc) : NULL;
            if (e && cache_hit(e, c)) {
                c->t->cookie_cache->hits++;
                valid = 1;             /* the same bytes SipHash accepted for this address */
                renew = age > COOKIE_RENEW;
            } else if (cookie_matches(c, o->cookie_secret)) {
                valid = 1;
                renew = age > COOKIE_RENEW;
                if (e) {
                    cache_store(e, c);
                    c->t->cookie_cache->stores++;
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
        uint8_t *s = c->cookie_out + CLIENT_COOKIE;
        memcpy(c->cookie_out, c->cookie, CLIENT_COOKIE);
        s[0] = COOKIE_VERSION;
        s[1] = s[2] = s[3] = 0;
        rd_put32(s + 4, now);
        uint64_t h = cookie_hash(o->cookie_secret, c->cookie, s, c->client, c->client_len);
        for (int i = 0; i < 8; i++) s[8 + i] = (uint8_t)(h >> (8 * i));
        c->cookie_send = c->cookie_out;
    } else {
        c->cookie_send = c->cookie;    /* fresh and valid: echoed as the client sent it */
    }
    c->cookie_out_len = CLIENT_COOKIE + SERVER_COOKIE;
    if (valid || !minimal) return 0;   /* 5.2.5, or 5.2.3/5.2.4 option (3): a normal answer */
    /* 5.2.3 option (2), 5.2.4: BADCOOKIE with a fresh cookie for the client to retry with. */
    c->rcode = RD_RCODE_BADCOOKIE;
    c->tc = 1;
    return 1;
}
