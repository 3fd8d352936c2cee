/* dnstap_pb.c — protobuf wire encoding of dnstap messages (varints, length-delimited fields, fixed32). */
#include "dnstap_pb.h"

#include <string.h>

/* Protobuf wire types (the low 3 bits of a field's key). */
enum { PB_VARINT = 0, PB_LEN = 2, PB_FIXED32 = 5 };

/* Field numbers of dnstap.proto. */
enum { DT_IDENTITY = 1, DT_VERSION = 2, DT_MESSAGE = 14, DT_TYPE = 15, DT_TYPE_MESSAGE = 1 };
enum {
    M_TYPE = 1, M_SOCKET_FAMILY = 2, M_SOCKET_PROTOCOL = 3, M_QUERY_ADDRESS = 4,
    M_RESPONSE_ADDRESS = 5, M_QUERY_PORT = 6, M_RESPONSE_PORT = 7, M_QUERY_TIME_SEC = 8,
    M_QUERY_TIME_NSEC = 9, M_QUERY_MESSAGE = 10, M_RESPONSE_TIME_SEC = 12,
    M_RESPONSE_TIME_NSEC = 13, M_RESPONSE_MESSAGE = 14
};

/* A bounded writer: once it overflows every later write is a no-op and ok stays 0. */
typedef struct pb {
    uint8_t *p;
    size_t len, cap;
    int ok;
} pb;

static void pb_bytes(pb *w, const void *b, size_t n)
{
    if (!w->ok || n > w->cap - w->len) {
        w->ok = 0;
        return;
    }
    memcpy(w->p + w->len, b, n);
    w->len += n;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void pb_varint(pb *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    pb_bytes(w, b, n);
}

static void pb_key(pb *w, unsigned field, unsigned wt) { pb_varint(w, (uint64_t)field << 3 | wt); }

static void pb_uint(pb *w, unsigned field, uint64_t v)
{
    pb_key(w, field, PB_VARINT);
    pb_varint(w, v);
}

static void pb_blob(pb *w, unsigned field, const uint8_t *b, size_t n)
{
    pb_key(w, field, PB_LEN);
    pb_varint(w, n);
    pb_bytes(w, b, n);
}

static void pb_fixed32(pb *w, unsigned field, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    pb_key(w, field, PB_FIXED32);
    pb_bytes(w, b, 4);              /* fixed32 is little-endian on the wire */
}

/* The fields of the Message, into w (message_len() is their length, written first). */
static void put_message(pb *w, const rd_dnstap_fields *f)
{
    size_t alen = f->family == RD_DNSTAP_INET6 ? 16 : 4;
    pb_uint(w, M_TYPE, (uint64_t)f->type);
    pb_uint(w, M_SOCKET_FAMILY, (uint64_t)f->family);
    pb_uint(w, M_SOCKET_PROTOCOL, (uint64_t)f->protocol);
    if (f->query_address) pb_blob(w, M_QUERY_ADDRESS, f->query_address, alen);
    if (f->response_address) pb_blob(w, M_RESPONSE_ADDRESS, f->response_address, alen);
    pb_uint(w, M_QUERY_PORT, f->query_port);
    pb_uint(w, M_RESPONSE_PORT, f->response_port);
    if (f->query_sec) {
        pb_uint(w, M_QUERY_TIME_SEC, f->query_sec);
        pb_fixed32(w, M_QUERY_TIME_NSEC, f->query_nsec);
    }
    if (f->query_message) pb_blob(w, M_QUERY_MESSAGE, f->query_message, f->query_len);
    if (f->response_sec) {
        pb_uint(w, M_RESPONSE_TIME_SEC, f->response_sec);
        pb_fixed32(w, M_RESPONSE_TIME_NSEC, f->response_nsec);
    }
    if (f->response_message)
        pb_blob(w, M_RESPONSE_MESSAGE, f->response_message, f->response_len);
}

static size_t blob_len(unsigned field, size_t n)
{
    return varint_len((uint64_t)field << 3) + varint_len(n) + n;
}

static size_t uint_len(unsigned field, uint64_t v)
{
    return varint_len((uint64_t)field << 3) + varint_len(v);
}

/* The encoded length of the Message (a length-delimited field needs it up front). */
static size_t message_len(const rd_dnstap_fields *f)
{
    size_t alen = f->family == RD_DNSTAP_INET6 ? 16 : 4;
    size_t n = uint_len(M_TYPE, (uint64_t)f->type) + uint_len(M_SOCKET_FAMILY, (uint64_t)f->family)
             + uint_len(M_SOCKET_PROTOCOL, (uint64_t)f->protocol);
    if (f->query_address) n += blob_len(M_QUERY_ADDRESS, alen);
    if (f->response_address) n += blob_len(M_RESPONSE_ADDRESS, alen);
    n += uint_len(M_QUERY_PORT, f->query_port) + uint_len(M_RESPONSE_PORT, f->response_port);
    if (f->query_sec) n += uint_len(M_QUERY_TIME_SEC, f->query_sec) + 1 + 4;
    if (f->query_message) n += blob_len(M_QUERY_MESSAGE, f->query_len);
    if (f->response_sec) n += uint_len(M_RESPONSE_TIME_SEC, f->response_sec) + 1 + 4;
    if (f->response_message) n += blob_len(M_RESPONSE_MESSAGE, f->response_len);
    return n;
}

size_t rd_dnstap_encode(uint8_t *out, size_t cap, const uint8_t *identity, size_t idlen,
                        const uint8_t *version, size_t vlen, const rd_dnstap_fields *f)
{
    pb w = { out, 0, cap, 1 };
    if (identity && idlen) pb_blob(&w, DT_IDENTITY, identity, idlen);
    if (version && vlen) pb_blob(&w, DT_VERSION, version, vlen);
    size_t mlen = message_len(f);
    pb_key(&w, DT_MESSAGE, PB_LEN);
    pb_varint(&w, mlen);
    size_t start = w.len;
    put_message(&w, f);
    if (w.ok && w.len - start != mlen)
        return 0;                   /* cannot happen: the two walks agree */
    pb_uint(&w, DT_TYPE, DT_TYPE_MESSAGE);
    return w.ok ? w.len : 0;
}
