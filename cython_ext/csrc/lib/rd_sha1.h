/* rd_sha1.h — SHA-1 (FIPS 180-4 section 6.1) for NSEC3 owner hashing (RFC 5155 section 5); no libcrypto. */
#ifndef RD_SHA1_H
#define RD_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define RD_SHA1_LEN 20

/* SHA-1 of the concatenation a || b (either may be empty): the shape of one NSEC3
 * iteration, IH(salt, x) = H(x || salt).  Allocation-free. */
void rd_sha1_2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
               uint8_t out[RD_SHA1_LEN]);

/* RFC 5155 section 5: hash of a lower-case wire name with `iterations` extra
 * iterations and the given salt. */
void rd_nsec3_hash(const uint8_t *lname, size_t lname_len, const uint8_t *salt,
                   size_t salt_len, unsigned iterations, uint8_t out[RD_SHA1_LEN]);

#endif
