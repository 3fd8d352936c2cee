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

#endif
