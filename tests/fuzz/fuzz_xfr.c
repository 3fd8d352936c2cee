/* fuzz_xfr.c — libFuzzer harness for TSIG and transfers out: any bytes as a transfer request (TSIG parsed and verified, ACL, AXFR/IXFR streamed to the end) or as an IXFR journal, over the saved zone images named in $ROBDNS_FUZZ_ZONES.
 *
 * The first input byte chooses: even, the rest is a query, answered by rd_answer over UDP
 * and TCP and streamed by rd_xfr_start/next; odd, the rest is a journal: checked by
 * zdiff_journal_check, and when sound an IXFR from its first serial is streamed from it.
 * Every message must fit its buffer and echo the query ID.  Built by tests/test_fuzz_xfr.py
 * with clang -fsanitize=fuzzer,address,undefined. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "fuzz_images.h"
#include "lib/tsig.h"
#include "query/engine.h"
#include "query/xfr.h"
#include "query/zonetab.h"
#include "zone/zdiff.h"

static rd_db g_db;
static const zimg *g_zones[8];
static rd_tsig_key g_keys[2];
static rd_acl_rule g_acl[3];
static rd_zone_xfr g_xfr[8];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    g_db.nzones = fuzz_load_images(g_zones, 8, "fuzz_xfr");
    g_db.zones = g_zones;
    uint32_t dup;
    g_db.ztab = rd_zonetab_build(g_zones, g_db.nzones, &dup);
    g_db.opt.max_udp_payload = 1232;
    g_db.opt.max_transfers = 4;
    /* The keys of the seeds (tests/test_fuzz_xfr.py signs with them). */
    memcpy(g_keys[0].name, "\x07xfr-key\x00", 9);
    g_keys[0].alg = RD_TSIG_HMAC_SHA256;
    g_keys[0].secret_len = 16;
    memcpy(g_keys[0].secret, "0123456789abcdef", 16);
    memcpy(g_keys[1].name, "\x05other\x00", 7);
    g_keys[1].alg = RD_TSIG_HMAC_MD5;
    g_keys[1].secret_len = 8;
    memcpy(g_keys[1].secret, "01234567", 8);
    g_db.keys = g_keys;
    g_db.nkeys = 2;
    /* Every zone: a rule with the key, one for 127.0.0.0/8 unsigned, one for ::1. */
    g_acl[0] = (rd_acl_rule){ 0, 0, {0}, 0 };
    g_acl[1] = (rd_acl_rule){ 4, 8, {127}, -1 };
    g_acl[2] = (rd_acl_rule){ 6, 128, {0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1}, -1 };
    for (uint32_t i = 0; i < g_db.nzones; i++) g_xfr[i] = (rd_zone_xfr){ g_acl, 3, NULL, 0 };
    g_db.xfr = g_xfr;
    return 0;
}

static void check(const uint8_t *q, size_t qlen, const uint8_t *r, size_t n, size_t cap)
{
    if (n == 0) return;
    if (n > cap || n < 12) abort();
    if (qlen < 2 || memcmp(q, r, 2) != 0) abort();      /* ID echoed */
    if (!(r[2] & 0x80)) abort();                          /* QR set */
}

/* Stream a transfer to its end (bounded: a zone of the corpus takes a few messages). */
static void stream(const rd_db *db, const uint8_t *q, size_t qlen, const struct sockaddr *peer)
{
    rd_xfr *x = malloc(sizeof *x);
    uint8_t *out = malloc(65535);
    if (rd_xfr_start(x, db, q, qlen, peer)) {
        for (int k = 0; k < 1000; k++) {
            size_t n = rd_xfr_next(x, out, 65535);
            if (!n) break;
            check(q, qlen, out, n, 65535);
        }
        if (rd_xfr_next(x, out, 65535) != 0) abort();       /* done stays done */
    }
    rd_xfr_end(x);
    rd_xfr_end(x);
    free(out);
    free(x);
}

static void as_query(const uint8_t *data, size_t size)
{
    static const size_t caps[2] = { 512, 65535 };
    uint8_t *q = malloc(size ? size : 1);
    memcpy(q, data, size);
    for (int tcp = 0; tcp < 2; tcp++) {
        uint8_t *resp = malloc(caps[tcp]);
        rd_transport t = { (uint8_t)tcp, 4 };
        size_t n = rd_answer(&g_db, q, size, resp, caps[tcp], &t, NULL);
        check(q, size, resp, n, caps[tcp]);
        free(resp);
    }
    struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(5353),
                              .sin_addr.s_addr = htonl(0x7f000001) };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(5353) };
    a6.sin6_addr.s6_addr[0] = 0x20;
    stream(&g_db, q, size, (const struct sockaddr *)&a4);
    stream(&g_db, q, size, (const struct sockaddr *)&a6);
    stream(&g_db, q, size, NULL);
    /* The TSIG parser at every offset of the message: never reads past its end. */
    rd_tsig_rr rr;
    for (size_t off = 12; off < size && off < 64; off++) rd_tsig_parse(q, size, off, &rr);
    free(q);
}

static void as_journal(const uint8_t *data, size_t size)
{
    uint8_t *j = malloc(size ? size : 1);
    memcpy(j, data, size);
    char err[256];
    if (g_db.nzones && size >= ZDIFF_HDR && zdiff_journal_check(j, size, err, sizeof err) == 0) {
        /* A journal ending anywhere: pretend it ends at the zone's serial by asking from
         * its first serial of zone 0 (xfr.c falls back to AXFR when the chain does not
         * reach the zone's serial). */
        rd_db db = g_db;
        rd_zone_xfr zx[8];
        memcpy(zx, g_xfr, sizeof zx);
        zx[0].journal = j;
        zx[0].journal_len = size;
        db.xfr = zx;
        const uint8_t *origin = zimg_origin(g_zones[0]);
        size_t ol = rd_name_len(origin);
        uint8_t q[12 + 256 + 4 + 256 + 10 + 64];
        memset(q, 0, 12);
        q[1] = 7; q[5] = 1; q[9] = 1;                     /* id, qdcount 1, nscount 1 */
        memcpy(q + 12, origin, ol);
        size_t p = 12 + ol;
        q[p++] = 0; q[p++] = 251; q[p++] = 0; q[p++] = 1; /* IXFR IN */
        q[p++] = 0xC0; q[p++] = 12;                       /* SOA owner: the question */
        q[p++] = 0; q[p++] = 6; q[p++] = 0; q[p++] = 1;
        memset(q + p, 0, 4); p += 4;
        q[p++] = 0; q[p++] = 22;                          /* rdlen: root, root, 5 x u32 */
        q[p++] = 0; q[p++] = 0;
        memcpy(q + p, j + 4, 4);                          /* the client's serial */
        memset(q + p + 4, 0, 16);
        p += 20;
        stream(&db, q, p, NULL);
    }
    free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    if (data[0] & 1) as_journal(data + 1, size - 1);
    else as_query(data + 1, size - 1);
    return 0;
}
