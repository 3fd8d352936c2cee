/* rrl.c — response rate limiting: classify a response, find its token bucket, decide. */
#include "rrl.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/rd_wire.h"

enum { RRL_WAYS = 4 };

/* What makes responses "the same" for the limiter (BIND's RRL categories). */
enum rrl_class {
    RRL_POSITIVE = 1,   /* an answer: keyed by qname and qtype */
    RRL_NODATA,         /* no answer, authoritative: qname and qtype */
    RRL_NXDOMAIN,       /* keyed by the zone (the SOA owner): random names share a bucket */
    RRL_REFERRAL,       /* keyed by the delegation (the NS owner) */
    RRL_ERROR,          /* REFUSED, FORMERR, ...: one bucket per client prefix */
};

typedef struct rrl_bucket {
    uint64_t key;              /* 0: empty */
    uint32_t last_ms;          /* when tokens were last refilled */
    int32_t millitokens;       /* 1000 per response; at most rate * 1000 (one second's worth) */
    uint32_t limited;          /* responses refused so far: every slip-th one slips */
    uint32_t pad;
} rrl_bucket;

struct rd_rrl_table {
    rd_rrl_config cfg;
    uint64_t seed;             /* random per table: keys cannot be aimed at one set */
    size_t set_mask;           /* sets - 1 */
    rrl_bucket *buckets;       /* sets x RRL_WAYS */
};

rd_rrl_table *rd_rrl_new(const rd_rrl_config *cfg)
{
    if (!cfg || cfg->rate == 0 || cfg->rate > 1000000)
        return NULL;
    rd_rrl_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cfg = *cfg;
    size_t sets = 1;
    while (sets * RRL_WAYS < (size_t)cfg->table_size && sets < ((size_t)1 << 26))
        sets <<= 1;
    t->set_mask = sets - 1;
    t->buckets = calloc(sets * RRL_WAYS, sizeof(rrl_bucket));
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    if (getrandom(&t->seed, sizeof(t->seed), 0) != (ssize_t)sizeof(t->seed))
        t->seed = (uint64_t)(uintptr_t)t ^ 0x9e3779b97f4a7c15ULL;
    return t;
}

void rd_rrl_free(rd_rrl_table *t)
{
    if (!t)
        return;
    free(t->buckets);
    free(t);
}

/* ---- reading the response */

/* Skip the name at *pos (compressed or not); 0 on success. */
static int skip_name(const uint8_t *m, size_t len, size_t *pos)
{
    size_t end = rd_wire_name_end(m, len, *pos, 1);
    if (!end)
        return -1;
    *pos = end;
    return 0;
}

/* The name at pos (compressed or not) in lower case, for the key: its length, or 0 when
 * malformed. */
static size_t read_name_lower(const uint8_t *m, size_t len, size_t pos, uint8_t out[RD_NAME_MAX])
{
    size_t n;
    return rd_wire_name_read(m, len, pos, out, &n, 1) ? n : 0;
}

/* Skip count resource records from *pos; 0 on success. */
static int skip_rrs(const uint8_t *m, size_t len, size_t *pos, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        if (skip_name(m, len, pos) != 0 || *pos + 10 > len)
            return -1;
        size_t rdlen = rd_get16(m + *pos + 8);
        *pos += 10 + rdlen;
        if (*pos > len)
            return -1;
    }
    return 0;
}

/* ---- the key */

static inline uint64_t mix(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {            /* FNV-1a, then avalanched below */
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static inline uint64_t finish(uint64_t h)
{
    h ^= h >> 33;                               /* murmur3's fmix64 */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h ? h : 1;                           /* 0 marks an empty bucket */
}

/* The client's prefix: the configured number of leading address bits, the rest zeroed. */
static size_t client_prefix(const rd_rrl_table *t, const struct sockaddr *peer, uint8_t out[17])
{
    const uint8_t *addr;
    size_t bytes;
    unsigned bits;
    if (peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)peer;
        addr = s6->sin6_addr.s6_addr;
        bytes = 16;
        bits = t->cfg.ipv6_prefix;
        /* An IPv4 client on a dual-stack socket is limited by its IPv4 prefix. */
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            addr += 12;
            bytes = 4;
            bits = t->cfg.ipv4_prefix;
        }
    } else {
        addr = (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr;
        bytes = 4;
        bits = t->cfg.ipv4_prefix;
    }
    out[0] = (uint8_t)bytes;
    for (size_t i = 0; i < bytes; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        out[1 + i] = keep ? (uint8_t)(addr[i] & (uint8_t)(0xFF << (8 - keep))) : 0;
    }
    return 1 + bytes;
}

/* Hash of (client prefix, class, name, qtype) for this response. */
static uint64_t response_key(const rd_rrl_table *t, const struct sockaddr *peer,
                             const uint8_t *m, size_t len)
{
    uint8_t prefix[17], name[255];
    size_t plen = client_prefix(t, peer, prefix);
    uint64_t h = mix(0xcbf29ce484222325ULL ^ t->seed, prefix, plen);
    uint8_t cls = RRL_ERROR;
    size_t nlen = 0;
    uint8_t qtype[2] = { 0, 0 };
    if (len >= 12) {
        unsigned rcode = m[3] & 0x0F, aa = m[2] & 0x04;
        unsigned qd = rd_get16(m + 4), an = rd_get16(m + 6), ns = rd_get16(m + 8);
        size_t pos = 12;
        if (qd == 1 && (rcode == 0 || rcode == 3) && skip_name(m, len, &pos) == 0
            && pos + 4 <= len) {
            memcpy(qtype, m + pos, 2);
            size_t qname_len = read_name_lower(m, len, 12, name);
            pos += 4;
            if (rcode == 0 && an > 0) {
                cls = RRL_POSITIVE;
                nlen = qname_len;
            } else if (rcode == 0 && aa) {
                cls = RRL_NODATA;
                nlen = qname_len;
            } else {
                /* NXDOMAIN (the SOA owner: the zone) or a referral (the NS owner). */
                cls = rcode == 3 ? RRL_NXDOMAIN : RRL_REFERRAL;
                qtype[0] = qtype[1] = 0;
                if (ns > 0 && skip_rrs(m, len, &pos, an) == 0)
                    nlen = read_name_lower(m, len, pos, name);
                if (nlen == 0)
                    nlen = qname_len;
            }
        }
    }
    h = mix(h, &cls, 1);
    h = mix(h, qtype, 2);
    h = mix(h, name, nlen);
    return finish(h);
}

/* ---- the buckets */

int rd_rrl_check(rd_rrl_table *t, const struct sockaddr *peer, const uint8_t *resp, size_t len,
                 uint64_t now_ms)
{
    uint64_t key = response_key(t, peer, resp, len);
    rrl_bucket *set = &t->buckets[(key & t->set_mask) * RRL_WAYS];
    uint32_t now = (uint32_t)now_ms;
    int64_t full = (int64_t)t->cfg.rate * 1000;
    rrl_bucket *b = NULL, *victim = NULL;
    for (int w = 0; w < RRL_WAYS && !b; w++) {
        rrl_bucket *c = &set[w];
        if (c->key == key)
            b = c;
        else if (c->key == 0) {
            if (!victim || victim->key != 0)
                victim = c;                 /* an empty bucket beats any used one */
        } else if (!victim || (victim->key != 0
                               && (uint32_t)(now - c->last_ms) > (uint32_t)(now - victim->last_ms)))
            victim = c;                     /* else the one unused the longest */
    }
    if (!b) {                               /* a new bucket starts full, less this response */
        b = victim;
        b->key = key;
        b->last_ms = now;
        b->millitokens = (int32_t)(full - 1000);
        b->limited = 0;
        return RD_RRL_PASS;
    }
    uint32_t elapsed = now - b->last_ms;    /* wraps safely: unsigned difference */
    b->last_ms = now;
    int64_t tokens = b->millitokens;
    tokens = elapsed >= 1000 ? full : tokens + (int64_t)elapsed * t->cfg.rate;
    if (tokens > full)
        tokens = full;
    if (tokens >= 1000) {
        b->millitokens = (int32_t)(tokens - 1000);
        return RD_RRL_PASS;
    }
    b->millitokens = (int32_t)tokens;
    b->limited++;
    if (t->cfg.slip && b->limited % t->cfg.slip == 0)
        return RD_RRL_SLIP;
    return RD_RRL_DROP;
}

size_t rd_rrl_slip(uint8_t *resp, size_t len)
{
    if (len < 12)
        return 0;
    size_t pos = 12;
    if (rd_get16(resp + 4) >= 1) {
        if (skip_name(resp, len, &pos) != 0 || pos + 4 > len)
            return 0;
        pos += 4;
        resp[4] = 0;
        resp[5] = 1;
    }
    resp[2] |= 0x02;                        /* TC: ask again over TCP (RFC 1035 4.1.1) */
    memset(resp + 6, 0, 6);                 /* no answer, authority or additional */
    return pos;
}
