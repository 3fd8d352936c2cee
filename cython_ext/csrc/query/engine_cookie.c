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
 * Client-IP, Server Secret), over the first 8 octets of a server cookie `sc`. */
static void cookie_hash(const uint8_t secret[16], const uint8_t *cc, const uint8_t *sc,
                        const uint8_t *ip, size_t iplen, uint8_t out[8])
{
    uint8_t in[CLIENT_COOKIE + 8 + 16];
    memcpy(in, cc, CLIENT_COOKIE);
    memcpy(in + CLIENT_COOKIE, sc, 8);
    memcpy(in + CLIENT_COOKIE + 8, ip, iplen);
    rd_siphash24_bytes(secret, in, CLIENT_COOKIE + 8 + iplen, out);
}

/* Does the server cookie of the query verify with `secret`?  Compared without an early
 * exit, so the time taken says nothing of how many octets matched. */
static int cookie_matches(const rd_ctx *c, const uint8_t secret[16])
{
    uint8_t h[8];
    cookie_hash(secret, c->cookie, c->cookie + CLIENT_COOKIE, c->client, c->client_len, h);
    uint8_t diff = 0;
    for (int i = 0; i < 8; i++) diff |= (uint8_t)(h[i] ^ c->cookie[CLIENT_COOKIE + 8 + i]);
    return diff == 0;
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
        uint32_t ts = (uint32_t)sc[4] << 24 | (uint32_t)sc[5] << 16 | (uint32_t)sc[6] << 8 | sc[7];
        int32_t age = (int32_t)(now - ts);
        if (age <= COOKIE_PAST && age >= -COOKIE_FUTURE) {
            if (cookie_matches(c, o->cookie_secret)) {
                valid = 1;
                renew = age > COOKIE_RENEW;
            } else if (o->cookie_have_previous && cookie_matches(c, o->cookie_previous)) {
                valid = 1;             /* made before a rotation: renewed with the new secret */
            }
        }
    }
    memcpy(c->cookie_out, c->cookie, CLIENT_COOKIE);
    if (renew) {
        /* RFC 9018 4.2: version 1, three reserved octets of zero, the time, the hash. */
        uint8_t *s = c->cookie_out + CLIENT_COOKIE;
        s[0] = COOKIE_VERSION;
        s[1] = s[2] = s[3] = 0;
        rd_put32(s + 4, now);
        cookie_hash(o->cookie_secret, c->cookie, s, c->client, c->client_len, s + 8);
    } else {
        memcpy(c->cookie_out + CLIENT_COOKIE, sc, SERVER_COOKIE);
    }
    c->cookie_out_len = CLIENT_COOKIE + SERVER_COOKIE;
    if (valid || !minimal) return 0;   /* 5.2.5, or 5.2.3/5.2.4 option (3): a normal answer */
    /* 5.2.3 option (2), 5.2.4: BADCOOKIE with a fresh cookie for the client to retry with. */
    c->rcode = RD_RCODE_BADCOOKIE;
    c->tc = 1;
    return 1;
}
