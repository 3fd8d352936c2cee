/* acl.c — matching a client's address and key against a zone's rules (see acl.h). */
#include "acl.h"

#include <netinet/in.h>
#include <string.h>

static const uint8_t v4_mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

void rd_peer_from_bytes(rd_peer *p, const uint8_t *addr, size_t len)
{
    memset(p, 0, sizeof(*p));
    if (!addr) return;
    if (len == 4) {
        p->family = 4;
        memcpy(p->addr, addr, 4);
    } else if (len == 16 && memcmp(addr, v4_mapped, 12) == 0) {
        p->family = 4;
        memcpy(p->addr, addr + 12, 4);
    } else if (len == 16) {
        p->family = 6;
        memcpy(p->addr, addr, 16);
    }
}

void rd_peer_from_sockaddr(rd_peer *p, const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        rd_peer_from_bytes(p, (const uint8_t *)&a->sin_addr, 4);
        p->port = ntohs(a->sin_port);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        rd_peer_from_bytes(p, a->sin6_addr.s6_addr, 16);
        p->port = ntohs(a->sin6_port);
    } else {
        rd_peer_from_bytes(p, NULL, 0);
    }
}

static int prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

int rd_acl_match(const rd_db *db, const rd_acl_rule *acl, uint32_t nacl, const rd_peer *p,
                 const rd_tsig_key *key)
{
    for (uint32_t r = 0; r < nacl; r++) {
        const rd_acl_rule *a = &acl[r];
        if (a->family && (a->family != p->family || !prefix_match(a->addr, p->addr, a->prefix)))
            continue;
        if (a->key >= 0 && (!key || key != &db->keys[a->key])) continue;
        return 1;
    }
    return 0;
}
