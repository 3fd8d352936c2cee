/* zscan_types.c — RR type mnemonics (every type dnspython knows) and DNSSEC algorithm names. */
#include "zscan_int.h"

#include <stdlib.h>
#include <strings.h>

typedef struct zs_type_name {
    const char *name;
    uint16_t type;
} zs_type_name;

/* Sorted by name for bsearch; generated from dnspython's dns.rdatatype. */
static const zs_type_name type_names[] = {
    {"A", 1},
    {"A6", 38},
    {"AAAA", 28},
    {"AFSDB", 18},
    {"AMTRELAY", 260},
    {"ANY", 255},
    {"APL", 42},
    {"AVC", 258},
    {"AXFR", 252},
    {"BRID", 68},
    {"CAA", 257},
    {"CDNSKEY", 60},
    {"CDS", 59},
    {"CERT", 37},
    {"CNAME", 5},
    {"CSYNC", 62},
    {"DHCID", 49},
    {"DLV", 32769},
    {"DNAME", 39},
    {"DNSKEY", 48},
    {"DS", 43},
    {"DSYNC", 66},
    {"EUI48", 108},
    {"EUI64", 109},
    {"GPOS", 27},
    {"HHIT", 67},
    {"HINFO", 13},
    {"HIP", 55},
    {"HTTPS", 65},
    {"IPSECKEY", 45},
    {"ISDN", 20},
    {"IXFR", 251},
    {"KEY", 25},
    {"KX", 36},
    {"L32", 105},
    {"L64", 106},
    {"LOC", 29},
    {"LP", 107},
    {"MAILA", 254},
    {"MAILB", 253},
    {"MB", 7},
    {"MD", 3},
    {"MF", 4},
    {"MG", 8},
    {"MINFO", 14},
    {"MR", 9},
    {"MX", 15},
    {"NAPTR", 35},
    {"NID", 104},
    {"NINFO", 56},
    {"NS", 2},
    {"NSAP", 22},
    {"NSAP-PTR", 23},
    {"NSEC", 47},
    {"NSEC3", 50},
    {"NSEC3PARAM", 51},
    {"NULL", 10},
    {"NXNAME", 128},
    {"NXT", 30},
    {"OPENPGPKEY", 61},
    {"OPT", 41},
    {"PTR", 12},
    {"PX", 26},
    {"RESINFO", 261},
    {"RP", 17},
    {"RRSIG", 46},
    {"RT", 21},
    {"SIG", 24},
    {"SMIMEA", 53},
    {"SOA", 6},
    {"SPF", 99},
    {"SRV", 33},
    {"SSHFP", 44},
    {"SVCB", 64},
    {"TA", 32768},
    {"TKEY", 249},
    {"TLSA", 52},
    {"TSIG", 250},
    {"TXT", 16},
    {"UNSPEC", 103},
    {"URI", 256},
    {"WALLET", 262},
    {"WKS", 11},
    {"X25", 19},
    {"ZONEMD", 63}
};
#define NTYPES (sizeof type_names / sizeof type_names[0])

static int cmp_type_name(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const zs_type_name *)elem)->name);
}

/* RFC 3597 section 5: TYPEnnn names any type by number. */
int zs_type_from_text(const char *s, size_t len)
{
    char up[24];
    if (len == 0 || len >= sizeof up) return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        up[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : (c == '_' ? '-' : c);
    }
    up[len] = 0;
    if (len > 4 && memcmp(up, "TYPE", 4) == 0) {
        uint32_t v = 0;
        for (size_t i = 4; i < len; i++) {
            if (up[i] < '0' || up[i] > '9' || v > 65535) return -1;
            v = v * 10 + (uint32_t)(up[i] - '0');
        }
        return v <= 65535 ? (int)v : -1;
    }
    const zs_type_name *e = bsearch(up, type_names, NTYPES, sizeof *type_names, cmp_type_name);
    return e ? e->type : -1;
}

const char *zs_type_to_text(uint16_t type)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (type_names[i].type == type) return type_names[i].name;
    return NULL;
}

/* Types that only exist in queries or transactions (RFC 6895 section 3.1). */
int zs_is_meta_type(uint16_t type)
{
    return type == RD_T_OPT || (type >= 249 && type <= 255);
}

/* DNSSEC algorithm numbers and mnemonics (RFC 4034 appendix A.1 and the IANA registry). */
static const struct { const char *name; uint8_t num; } algorithms[] = {
    {"RSAMD5", 1}, {"DH", 2}, {"DSA", 3}, {"ECC", 4}, {"RSASHA1", 5},
    {"DSANSEC3SHA1", 6}, {"RSASHA1NSEC3SHA1", 7}, {"RSASHA256", 8}, {"RSASHA512", 10},
    {"ECCGOST", 12}, {"ECDSAP256SHA256", 13}, {"ECDSAP384SHA384", 14}, {"ED25519", 15},
    {"ED448", 16}, {"MLDSA44", 18}, {"INDIRECT", 252}, {"PRIVATEDNS", 253},
    {"PRIVATEOID", 254},
};

int zs_algorithm_from_text(const zs_tok *t)
{
    uint32_t v;
    if (t->len && t->s[0] >= '0' && t->s[0] <= '9')
        return zs_parse_u32(t, 255, &v) == 0 ? (int)v : -1;
    for (size_t i = 0; i < sizeof algorithms / sizeof algorithms[0]; i++)
        if (strlen(algorithms[i].name) == t->len &&
            strncasecmp(algorithms[i].name, t->s, t->len) == 0)
            return algorithms[i].num;
    return -1;
}
