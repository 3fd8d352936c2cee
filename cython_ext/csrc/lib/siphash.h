/* siphash.h — SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): the keyed hash of RFC 9018 server cookies. */
#ifndef RD_SIPHASH_H
#define RD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The 64-bit SipHash-2-4 of in[0..len) under the 128-bit key (read as two little-endian
 * words, as the reference implementation does). */
uint64_t rd_siphash24(const uint8_t key[16], const uint8_t *in, size_t len);

/* The same, as the 8 output bytes of the reference implementation (little-endian): the
 * form RFC 9018 section 4.4 puts in a server cookie. */
void rd_siphash24_bytes(const uint8_t key[16], const uint8_t *in, size_t len, uint8_t out[8]);

/* ---- the same function word by word, for callers whose input is a few fixed fields
 * (a cookie's): no buffer to assemble, everything inlined. */

typedef struct rd_sip {
    uint64_t v0, v1, v2, v3;
} rd_sip;

static inline uint64_t rd_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline uint64_t rd_sip_rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

/* One SipRound (the paper's section 2, figure 2.1). */
static inline void rd_sip_round(rd_sip *s)
{
    s->v0 += s->v1; s->v1 = rd_sip_rotl(s->v1, 13); s->v1 ^= s->v0; s->v0 = rd_sip_rotl(s->v0, 32);
    s->v2 += s->v3; s->v3 = rd_sip_rotl(s->v3, 16); s->v3 ^= s->v2;
    s->v0 += s->v3; s->v3 = rd_sip_rotl(s->v3, 21); s->v3 ^= s->v0;
    s->v2 += s->v1; s->v1 = rd_sip_rotl(s->v1, 17); s->v1 ^= s->v2; s->v2 = rd_sip_rotl(s->v2, 32);
}

/* Initialization: the key xored with "somepseudorandomlygeneratedbytes". */
static inline void rd_sip_init(rd_sip *s, const uint8_t key[16])
{
    uint64_t k0 = rd_le64(key), k1 = rd_le64(key + 8);
    s->v0 = k0 ^ 0x736f6d6570736575ULL;
    s->v1 = k1 ^ 0x646f72616e646f6dULL;
    s->v2 = k0 ^ 0x6c7967656e657261ULL;
    s->v3 = k1 ^ 0x7465646279746573ULL;
}

/* Compression of one 8-byte word (little-endian), two SipRounds. */
static inline void rd_sip_word(rd_sip *s, uint64_t m)
{
    s->v3 ^= m;
    rd_sip_round(s);
    rd_sip_round(s);
    s->v0 ^= m;
}

/* The last word (`tail`: the len % 8 remaining bytes, little-endian) with the length in
 * its top byte, then four finalization rounds. */
static inline uint64_t rd_sip_final(rd_sip *s, uint64_t tail, size_t len)
{
    rd_sip_word(s, tail | (uint64_t)(len & 0xff) << 56);
    s->v2 ^= 0xff;
    rd_sip_round(s);
    rd_sip_round(s);
    rd_sip_round(s);
    rd_sip_round(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

#endif
