/* dnstap_pb.h — one dnstap message (dnstap.proto: a Dnstap wrapping a Message) encoded as
 * protobuf wire bytes, by hand: the schema is small and fixed, and the server must not
 * depend on a protobuf library on its logging path.
 *
 * Pure wire code: no server state.  The Frame Streams framing around these messages is
 * server/dnstap.c.
 */
#ifndef RD_DNSTAP_PB_H
#define RD_DNSTAP_PB_H

#include <stddef.h>
#include <stdint.h>

/* dnstap.proto Message.Type, SocketFamily and SocketProtocol values. */
enum { RD_DNSTAP_AUTH_QUERY = 1, RD_DNSTAP_AUTH_RESPONSE = 2 };
enum { RD_DNSTAP_INET = 1, RD_DNSTAP_INET6 = 2 };
enum { RD_DNSTAP_UDP = 1, RD_DNSTAP_TCP = 2 };

/* The fields of one Message.  Addresses are 4 (INET) or 16 (INET6) bytes in network
 * order; query_address/query_port are the client's, response_* the server's.  A field
 * with a NULL pointer (or zero time) is left out. */
typedef struct rd_dnstap_fields {
    int type;                       /* RD_DNSTAP_AUTH_QUERY or RD_DNSTAP_AUTH_RESPONSE */
    int family;                     /* RD_DNSTAP_INET or RD_DNSTAP_INET6 */
    int protocol;                   /* RD_DNSTAP_UDP or RD_DNSTAP_TCP */
    const uint8_t *query_address, *response_address;
    uint16_t query_port, response_port;
    uint64_t query_sec;
    uint32_t query_nsec;
    uint64_t response_sec;
    uint32_t response_nsec;
    const uint8_t *query_message;
    size_t query_len;
    const uint8_t *response_message;
    size_t response_len;
} rd_dnstap_fields;

/* The fields every message of a writer repeats, Dnstap.identity and Dnstap.version,
 * encoded once into out[0..cap): the prefix rd_dnstap_encode copies.  Returns its length
 * (0 when both are empty or NULL, or when it does not fit). */
size_t rd_dnstap_prefix(uint8_t *out, size_t cap, const uint8_t *identity, size_t idlen,
                        const uint8_t *version, size_t vlen);

/* Encode Dnstap{prefix (identity, version), message = Message{f}, type = MESSAGE} into
 * out[0..cap).  Returns the length, or 0 when it does not fit. */
size_t rd_dnstap_encode(uint8_t *out, size_t cap, const uint8_t *prefix, size_t plen,
                        const rd_dnstap_fields *f);

#endif
