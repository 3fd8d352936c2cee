/* rd_sha1.c — SHA-1 written from FIPS 180-4 (sections 5.1.1, 5.3.1, 6.1.2), used only for NSEC3 hashing (RFC 5155 section 5). */
#include "rd_sha1.h"

#include <string.h>

static inline uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

/* FIPS 180-4 6.1.2: one 512-bit block into the state.  The message schedule W is kept
 * as a ring of 16 words (W[t] depends only on the previous 16) and the 80 rounds are
 * unrolled by macros, so that the compiler keeps the working variables in registers:
 * NSEC3 hashing is the one real per-query cost of a signed zone's negative answers. */
#define SHA1_W(t) (w[(t) & 15] = rotl(w[((t) - 3) & 15] ^ w[((t) - 8) & 15] ^ \
                                     w[((t) - 14) & 15] ^ w[(t) & 15], 1))
#define SHA1_ROUND(a, b, c, d, e, f, k, wt) do { \
        e += rotl(a, 5) + (f) + (k) + (wt); b = rotl(b, 30); } while (0)
#define F1(b, c, d) (((c ^ d) & b) ^ d)              /* Ch(b, c, d) */
#define F2(b, c, d) (b ^ c ^ d)                      /* Parity */
#define F3(b, c, d) (((b | c) & d) | (b & c))        /* Maj(b, c, d) */
#define R5(t, F, K, WT) do { \
        SHA1_ROUND(a, b, c, d, e, F(b, c, d), K, WT(t)); \
        SHA1_ROUND(e, a, b, c, d, F(a, b, c), K, WT((t) + 1)); \
        SHA1_ROUND(d, e, a, b, c, F(e, a, b), K, WT((t) + 2)); \
        SHA1_ROUND(c, d, e, a, b, F(d, e, a), K, WT((t) + 3)); \
        SHA1_ROUND(b, c, d, e, a, F(c, d, e), K, WT((t) + 4)); } while (0)
#define W0(t) w[t]

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[16];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    R5(0, F1, 0x5a827999u, W0); R5(5, F1, 0x5a827999u, W0); R5(10, F1, 0x5a827999u, W0);
    SHA1_ROUND(a, b, c, d, e, F1(b, c, d), 0x5a827999u, w[15]);
    SHA1_ROUND(e, a, b, c, d, F1(a, b, c), 0x5a827999u, SHA1_W(16));
    SHA1_ROUND(d, e, a, b, c, F1(e, a, b), 0x5a827999u, SHA1_W(17));
    SHA1_ROUND(c, d, e, a, b, F1(d, e, a), 0x5a827999u, SHA1_W(18));
    SHA1_ROUND(b, c, d, e, a, F1(c, d, e), 0x5a827999u, SHA1_W(19));
    R5(20, F2, 0x6ed9eba1u, SHA1_W); R5(25, F2, 0x6ed9eba1u, SHA1_W);
    R5(30, F2, 0x6ed9eba1u, SHA1_W); R5(35, F2, 0x6ed9eba1u, SHA1_W);
    R5(40, F3, 0x8f1bbcdcu, SHA1_W); R5(45, F3, 0x8f1bbcdcu, SHA1_W);
    R5(50, F3, 0x8f1bbcdcu, SHA1_W); R5(55, F3, 0x8f1bbcdcu, SHA1_W);
    R5(60, F2, 0xca62c1d6u, SHA1_W); R5(65, F2, 0xca62c1d6u, SHA1_W);
    R5(70, F2, 0xca62c1d6u, SHA1_W); R5(75, F2, 0xca62c1d6u, SHA1_W);
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

#if defined(__x86_64__) && !defined(RD_SHA1_SCALAR)   /* RD_SHA1_SCALAR: the plain block only */
#include <cpuid.h>
#include <immintrin.h>

/* The same block with the x86 SHA extensions (Intel SHA-NI, AMD Zen): four rounds per
 * sha1rnds4, the schedule by sha1msg1/sha1msg2 — about a tenth of the scalar block's
 * cycles, and an NSEC3 answer costs one hash per query (RFC 5155 7.2.2).  M[g % 4] holds
 * the schedule words W[4g .. 4g+3]; W of group g+3 is begun (msg1) when group g is used,
 * xored with group g+1's and finished (msg2) with group g+2's. */
#define NI_GROUP(g) do { \
        if ((g) == 0) E[0] = _mm_add_epi32(E[0], M[0]); \
        else E[(g) & 1] = _mm_sha1nexte_epu32(E[(g) & 1], M[(g) & 3]); \
        E[((g) + 1) & 1] = abcd; \
        if ((g) >= 3 && (g) <= 18) M[((g) + 1) & 3] = _mm_sha1msg2_epu32(M[((g) + 1) & 3], M[(g) & 3]); \
        abcd = _mm_sha1rnds4_epu32(abcd, E[(g) & 1], (g) / 5); \
        if ((g) >= 1 && (g) <= 16) M[((g) + 3) & 3] = _mm_sha1msg1_epu32(M[((g) + 3) & 3], M[(g) & 3]); \
        if ((g) >= 2 && (g) <= 17) M[((g) + 2) & 3] = _mm_xor_si128(M[((g) + 2) & 3], M[(g) & 3]); \
    } while (0)

__attribute__((target("sha,sse4.1,ssse3")))
static void sha1_block_ni(uint32_t h[5], const uint8_t *p)
{
    const __m128i be = _mm_set_epi64x(0x0001020304050607ll, 0x08090a0b0c0d0e0fll);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1B);
    __m128i abcd0 = abcd, e0 = _mm_set_epi32((int)h[4], 0, 0, 0);
    __m128i E[2] = { e0, e0 }, M[4];
    for (int i = 0; i < 4; i++)
        M[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), be);
    NI_GROUP(0); NI_GROUP(1); NI_GROUP(2); NI_GROUP(3); NI_GROUP(4);
    NI_GROUP(5); NI_GROUP(6); NI_GROUP(7); NI_GROUP(8); NI_GROUP(9);
    NI_GROUP(10); NI_GROUP(11); NI_GROUP(12); NI_GROUP(13); NI_GROUP(14);
    NI_GROUP(15); NI_GROUP(16); NI_GROUP(17); NI_GROUP(18); NI_GROUP(19);
    /* E[0] holds A after group 19: its rotation into E, plus the saved E */
    e0 = _mm_sha1nexte_epu32(E[0], e0);
    abcd = _mm_shuffle_epi32(_mm_add_epi32(abcd, abcd0), 0x1B);
    _mm_storeu_si128((__m128i *)h, abcd);
    h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

/* CPUID leaf 7 EBX bit 29 (SHA), leaf 1 ECX bits 9 and 19 (SSSE3, SSE4.1): decided once
 * when the library loads, before any worker thread runs. */
static int have_sha_ni;
__attribute__((constructor)) static void sha1_pick(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19))) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    have_sha_ni = (b >> 29) & 1;
}
#define SHA1_BLOCK(h, p) (have_sha_ni ? sha1_block_ni(h, p) : sha1_block(h, p))
#else
#define SHA1_BLOCK(h, p) sha1_block(h, p)
#endif

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
            if (fill == 64) { SHA1_BLOCK(h, block); fill = 0; }
        }
    }
    /* FIPS 180-4 5.1.1 padding: a 1 bit, zeros, the 64-bit message length in bits */
    block[fill++] = 0x80;
    if (fill > 56) {
        memset(block + fill, 0, 64 - fill);
        SHA1_BLOCK(h, block);
        fill = 0;
    }
    memset(block + fill, 0, 56 - fill);
    uint64_t bits = total * 8;
    for (int i = 0; i < 8; i++) block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    SHA1_BLOCK(h, block);
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
