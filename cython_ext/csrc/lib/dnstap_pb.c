/* dnstap_pb.c — protobuf wire encoding of dnstap messages (varints, length-delimited fields, fixed32). */
#include "dnstap_pb.h"

#include <string.h>

/* Protobuf wire types (the low 3 bits of a field's key). */
enum { PB_VARINT = 0, PB_LEN = 2, PB_FIXED32 = 5 };

/* Field numbers of dnstap.proto.  All are below 16: every key is one byte. */
enum { DT_IDENTITY = 1, DT_VERSION = 2, DT_MESSAGE = 14, DT_TYPE = 15, DT_TYPE_MESSAGE = 1 };
enum {
    M_TYPE = 1, M_SOCKET_FAMILY = 2, M_SOCKET_PROTOCOL = 3, M_QUERY_ADDRESS = 4,
    M_RESPONSE_ADDRESS = 5, M_QUERY_PORT = 6, M_RESPONSE_PORT = 7, M_QUERY_TIME_SEC = 8,
    M_QUERY_TIME_NSEC = 9, M_QUERY_MESSAGE = 10, M_RESPONSE_TIME_SEC = 12,
    M_RESPONSE_TIME_NSEC = 13, M_RESPONSE_MESSAGE = 14
};

#define KEY(field, wt) ((uint8_t)((field) << 3 | (wt)))

/* The writer runs once per logged message on the dnstap thread, which shares its core
 * with the workers: the length is computed first and checked once against the room, then
 * the bytes are stored without per-field bounds checks. */

static inline size_t varint_len(uint64_t v)
{
    /* 7 bits a byte: 1 + floor(log2(v) / 7) bytes, 1 for zero. */
    return v ? 1 + (size_t)(63 - __builtin_clzll(v)) / 7 : 1;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *put_uint(uint8_t *p, unsigned field, uint64_t v)
{
    *p++ = KEY(field, PB_VARINT);
    return put_varint(p, v);
}

static inline uint8_t *put_blob(uint8_t *p, unsigned field, const uint8_t *b, size_t n)
{
    *p++ = KEY(field, PB_LEN);
    p = put_varint(p, n);
    memcpy(p, b, n);
    return p + n;
}

static inline uint8_t *put_fixed32(uint8_t *p, unsigned field, uint32_t v)
{
    *p++ = KEY(field, PB_FIXED32);
    p[0] = (uint8_t)v;              /* fixed32 is little-endian on the wire */
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static inline size_t blob_len(size_t n) { return 1 + varint_len(n) + n; }
static inline size_t uint_len(uint64_t v) { return 1 + varint_len(v); }

static inline uint8_t *put_addr(uint8_t *p, unsigned field, const uint8_t *a, size_t alen)
{
    *p++ = KEY(field, PB_LEN);
    *p++ = (uint8_t)alen;
    if (alen == 16)
        memcpy(p, a, 16);           /* fixed sizes: inlined, no call */
    else
        memcpy(p, a, 4);
    return p + alen;
}

/* The encoded length of the Message (a length-delimited field needs it up front). */
static size_t message_len(const rd_dnstap_fields *f, size_t alen)
{
    size_t n = 6;                   /* type, family, protocol: one-byte keys and values */
    if (f->query_address) n += 2 + alen;
    if (f->response_address) n += 2 + alen;
    n += uint_len(f->query_port) + uint_len(f->response_port);
    if (f->query_sec) n += uint_len(f->query_sec) + 1 + 4;
    if (f->query_message) n += blob_len(f->query_len);
    if (f->response_sec) n += uint_len(f->response_sec) + 1 + 4;
    if (f->response_message) n += blob_len(f->response_len);
    return n;
}

size_t rd_dnstap_prefix(uint8_t *out, size_t cap, const uint8_t *identity, size_t idlen,
                        const uint8_t *version, size_t vlen)
{
    size_t total = (identity && idlen ? blob_len(idlen) : 0) + (version && vlen ? blob_len(vlen) : 0);
    if (total > cap)
        return 0;
    uint8_t *p = out;
    if (identity && idlen) p = put_blob(p, DT_IDENTITY, identity, idlen);
    if (version && vlen) p = put_blob(p, DT_VERSION, version, vlen);
    return (size_t)(p - out);
}

size_t rd_dnstap_encode(uint8_t *out, size_t cap, const uint8_t *prefix, size_t plen,
                        const rd_dnstap_fields *f)
{
    size_t alen = f->family == RD_DNSTAP_INET6 ? 16 : 4;
    size_t mlen = message_len(f, alen);
    size_t total = plen + blob_len(mlen) + uint_len(DT_TYPE_MESSAGE);
    if (total > cap)
        return 0;
    uint8_t *p = out;
    memcpy(p, prefix, plen);
    p += plen;
    *p++ = KEY(DT_MESSAGE, PB_LEN);
    p = put_varint(p, mlen);
    /* type, family and protocol are all below 128: one byte each */
    p[0] = KEY(M_TYPE, PB_VARINT); p[1] = (uint8_t)f->type;
    p[2] = KEY(M_SOCKET_FAMILY, PB_VARINT); p[3] = (uint8_t)f->family;
    p[4] = KEY(M_SOCKET_PROTOCOL, PB_VARINT); p[5] = (uint8_t)f->protocol;
    p += 6;
    if (f->query_address) p = put_addr(p, M_QUERY_ADDRESS, f->query_address, alen);
    if (f->response_address) p = put_addr(p, M_RESPONSE_ADDRESS, f->response_address, alen);
    p = put_uint(p, M_QUERY_PORT, f->query_port);
    p = put_uint(p, M_RESPONSE_PORT, f->response_port);
    if (f->query_sec) {
        p = put_uint(p, M_QUERY_TIME_SEC, f->query_sec);
        p = put_fixed32(p, M_QUERY_TIME_NSEC, f->query_nsec);
    }
    if (f->query_message) p = put_blob(p, M_QUERY_MESSAGE, f->query_message, f->query_len);
    if (f->response_sec) {
        p = put_uint(p, M_RESPONSE_TIME_SEC, f->response_sec);
        p = put_fixed32(p, M_RESPONSE_TIME_NSEC, f->response_nsec);
    }
    if (f->response_message)
        p = put_blob(p, M_RESPONSE_MESSAGE, f->response_message, f->response_len);
    p = put_uint(p, DT_TYPE, DT_TYPE_MESSAGE);
    return (size_t)(p - out);       /* == total: both walks follow the same fields */
}
