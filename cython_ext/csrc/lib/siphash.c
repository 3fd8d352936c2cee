/* siphash.c — SipHash-2-4 over a byte string: two compression rounds per 8-byte word, four finalization rounds (the paper's section 2). */
#include "siphash.h"

#include <string.h>

uint64_t rd_siphash24(const uint8_t key[16], const uint8_t *in, size_t len)
{
    rd_sip s;
    rd_sip_init(&s, key);
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8)
        rd_sip_word(&s, rd_le64(in + i));
    uint8_t tail[8] = {0};
    memcpy(tail, in + whole, len - whole);
    return rd_sip_final(&s, rd_le64(tail), len);
}

void rd_siphash24_bytes(const uint8_t key[16], const uint8_t *in, size_t len, uint8_t out[8])
{
    uint64_t h = rd_siphash24(key, in, len);
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(h >> (8 * i));
}
