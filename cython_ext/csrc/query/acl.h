/* acl.h — a client against a zone's rules (address prefix and TSIG key): allow_transfer and the NOTIFY sources share one matcher. */
#ifndef RD_ACL_H
#define RD_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine.h"

/* A client's address as the rules see it: family 4 or 6 (0: unknown, which only rules
 * without an address match); an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is IPv4. */
typedef struct rd_peer {
    uint8_t family;
    uint8_t addr[16];          /* network byte order; 4 bytes used for IPv4 */
    uint16_t port;             /* host order; 0 when unknown (for logs only) */
} rd_peer;

/* From the address bytes a transport hands the engine (4 or 16 bytes; other lengths:
 * unknown). */
void rd_peer_from_bytes(rd_peer *p, const uint8_t *addr, size_t len);
/* From a socket address (AF_INET or AF_INET6; anything else: unknown). */
void rd_peer_from_sockaddr(rd_peer *p, const struct sockaddr *sa);

/* Does one of the nacl rules admit the peer and the request's key (NULL: unsigned)?  A
 * rule with an address needs the peer inside addr/prefix; a rule with a key needs the
 * request signed with that key of db->keys.  No rules: nobody. */
int rd_acl_match(const rd_db *db, const rd_acl_rule *acl, uint32_t nacl, const rd_peer *p,
                 const rd_tsig_key *key);

#endif
