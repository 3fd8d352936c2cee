/* rd_sha1.c — SHA-1 written from FIPS 180-4 (sections 5.1.1, 5.3.1, 6.1.2), used only for NSEC3 hashing (RFC 5155 section 5). */
#include "rd_sha1.h"

#include <string.h>

static inline uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

/* FIPS 180-4 6.1.2: one 512-bit block into the state. */
static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 80; t++) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20)      { f = (b & c) ^ (~b & d);          k = 0x5a827999u; }
        else if (t < 40) { f = b ^ c ^ d;                   k = 0x6ed9eba1u; }
        else if (t < 60) { f = (b & c) ^ (b & d) ^ (c & d); k = 0x8f1bbcdcu; }
        else             { f = b ^ c ^ d;                   k = 0xca62c1d6u; }
        uint32_t tmp = rotl(a, 5) + f + e + k + w[t];
        e = d; d = c; c = rotl(b, 30); b = a; a = tmp;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

void rd_sha1_2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
               uint8_t out[RD_SHA1_LEN])
{
    /* FIPS 180-4 5.3.1 initial hash value */
    uint32_t h[5] = { 0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u };
    uint8_t block[64];
    size_t fill = 0;
    uint64_t total = (uint64_t)alen + blen;
    const uint8_t *parts[2] = { a, b };
    size_t lens[2] = { alen, blen };
    for (int i = 0; i < 2; i++) {
        const uint8_t *p = parts[i];
        size_t n = lens[i];
        while (n > 0) {
            size_t take = 64 - fill < n ? 64 - fill : n;
            memcpy(block + fill, p, take);
            fill += take;
            p += take;
            n -= take;
            if (fill == 64) { sha1_block(h, block); fill = 0; }
        }
    }
    /* FIPS 180-4 5.1.1 padding: a 1 bit, zeros, the 64-bit message length in bits */
    block[fill++] = 0x80;
    if (fill > 56) {
        memset(block + fill, 0, 64 - fill);
        sha1_block(h, block);
        fill = 0;
    }
    memset(block + fill, 0, 56 - fill);
    uint64_t bits = total * 8;
    for (int i = 0; i < 8; i++) block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_block(h, block);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

void rd_nsec3_hash(const uint8_t *lname, size_t lname_len, const uint8_t *salt,
                   size_t salt_len, unsigned iterations, uint8_t out[RD_SHA1_LEN])
{
    /* RFC 5155 5: IH(salt, x, 0) = H(x || salt); IH(salt, x, k) = H(IH(salt, x, k-1) || salt) */
    rd_sha1_2(lname, lname_len, salt, salt_len, out);
    uint8_t prev[RD_SHA1_LEN];
    for (unsigned k = 0; k < iterations; k++) {
        memcpy(prev, out, RD_SHA1_LEN);
        rd_sha1_2(prev, RD_SHA1_LEN, salt, salt_len, out);
    }
}
