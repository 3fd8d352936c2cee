/* rd_wire.h — reading and writing DNS wire format: 16/32-bit fields, the one name walker and the one name decompressor. */
#ifndef RD_WIRE_H
#define RD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "rd_common.h"

/* Network byte order fields (RFC 1035 2.3.2: most significant octet first). */
static inline uint16_t rd_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void rd_put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline void rd_put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* RFC 1982 3.2 serial number arithmetic (SOA serials): a < b when b is ahead by less than
 * 2^31.  The distance of exactly 2^31 is undefined: neither is less than the other. */
static inline int rd_serial_lt(uint32_t a, uint32_t b)
{
    return a != b && (uint32_t)(b - a) < 0x80000000u;
}

/* Walk the name at m[p..len): returns the offset just after it, or 0 when it is not a
 * well-formed name there.  Labels are at most 63 octets and the name at most 255 in all
 * (RFC 1035 3.1; the 0x40/0x80 label types were obsoleted by RFC 6891).  With
 * `allow_pointer` a compression pointer ends the walk (RFC 1035 4.1.4): only the bytes of
 * this occurrence are read, so a pointer loop cannot make a caller spin; without it a
 * pointer makes the name malformed (stored rdata and question names never hold one). */
static inline size_t rd_wire_name_end(const uint8_t *m, size_t len, size_t p, int allow_pointer)
{
    size_t total = 0;
    while (p < len) {
        uint8_t l = m[p];
        if ((l & 0xC0) == 0xC0) return allow_pointer && p + 2 <= len ? p + 2 : 0;
        if (l & 0xC0) return 0;
        total += (size_t)l + 1;
        if (total > RD_NAME_MAX) return 0;
        if (l == 0) return p + 1;
        p += (size_t)l + 1;
    }
    return 0;
}

/* Length of the valid uncompressed name at p with `avail` bytes readable, or 0 (used on
 * rdata before treating part of it as a name). */
static inline size_t rd_wire_name_check(const uint8_t *p, size_t avail)
{
    return rd_wire_name_end(p, avail, 0, 0);
}

/* Read the possibly compressed name at m[pos] (RFC 1035 4.1.4) into out (RD_NAME_MAX
 * bytes) uncompressed, lower-cased when `lower` (RFC 4343); *outlen is its length.  A
 * pointer must point before every byte of the name read so far, so each jump goes
 * strictly backwards and a pointer loop cannot exist (a compressor only ever points to
 * an earlier occurrence).  Returns the offset just after the name as it lies at pos, or
 * 0 when it is malformed or runs past len. */
static inline size_t rd_wire_name_read(const uint8_t *m, size_t len, size_t pos, uint8_t *out,
                                       size_t *outlen, int lower)
{
    size_t end = 0, n = 0, p = pos, floor = pos;
    for (;;) {
        if (p >= len) return 0;
        uint8_t l = m[p];
        if ((l & 0xC0) == 0xC0) {
            if (p + 2 > len) return 0;
            size_t target = (size_t)(l & 0x3F) << 8 | m[p + 1];
            if (target >= floor) return 0;
            if (!end) end = p + 2;
            p = floor = target;
            continue;
        }
        if (l & 0xC0) return 0;              /* 0x40/0x80 label types: RFC 6891 */
        if (n + l + 1 > RD_NAME_MAX || p + 1 + l > len) return 0;
        out[n++] = l;
        if (lower) {
            for (size_t k = 1; k <= l; k++) out[n++] = rd_lower(m[p + k]);
        } else {
            memcpy(out + n, m + p + 1, l);
            n += l;
        }
        p += (size_t)l + 1;
        if (l == 0) break;
    }
    *outlen = n;
    return end ? end : p;
}

#endif
