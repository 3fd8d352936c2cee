/* fuzz_answer.c — libFuzzer harness for rd_answer: any bytes as a query, over UDP and TCP, against
 * saved zone images named in $ROBDNS_FUZZ_ZONES (colon-separated); checks the response invariants.
 *
 * Built by tests/test_fuzz_engine.py with clang -fsanitize=fuzzer,address,undefined, so any
 * read past the query or write past the response buffer aborts the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_images.h"
#include "query/engine.h"

static rd_db g_db;
static const zimg *g_zones[16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    g_db.nzones = fuzz_load_images(g_zones, 16, "fuzz_answer");
    /* rd_db wants canonical order of origins. */
    for (uint32_t i = 1; i < g_db.nzones; i++)
        for (uint32_t j = i; j > 0 && rd_name_cmp(zimg_origin(g_zones[j - 1]),
                                                   zimg_origin(g_zones[j])) > 0; j--) {
            const zimg *t = g_zones[j]; g_zones[j] = g_zones[j - 1]; g_zones[j - 1] = t;
        }
    g_db.zones = g_zones;
    strcpy(g_db.opt.identity, "fuzz-id");
    strcpy(g_db.opt.version, "fuzz-version");
    memcpy(g_db.opt.nsid, "nsid", 4);
    g_db.opt.nsid_len = 4;
    g_db.opt.max_udp_payload = 1232;
    g_db.opt.minimal_any = 1;
    return 0;
}

static void check(const uint8_t *q, size_t qlen, const uint8_t *r, size_t n, size_t cap)
{
    if (n == 0) return;
    if (n > cap || n < 12) abort();
    if (qlen < 2 || memcmp(q, r, 2) != 0) abort();      /* ID echoed */
    if (!(r[2] & 0x80)) abort();                          /* QR set */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly sized buffers so AddressSanitizer sees any byte outside them. */
    static const size_t caps[2] = { 512, 65535 };
    rd_stats stats;
    memset(&stats, 0, sizeof stats);
    for (int tcp = 0; tcp < 2; tcp++) {
        uint8_t *q = malloc(size ? size : 1);
        memcpy(q, data, size);
        uint8_t *resp = malloc(caps[tcp]);
        rd_transport t = { (uint8_t)tcp, 4 };
        size_t n = rd_answer(&g_db, q, size, resp, caps[tcp], &t, &stats);
        check(q, size, resp, n, caps[tcp]);
        free(resp);
        free(q);
    }
    if (stats.queries != 2) abort();

    /* The same bytes through rd_answer_batch, split into a few queries at offsets taken
     * from the input: each response must equal rd_answer's. */
    enum { NB = 4 };
    rd_batch_item items[NB];
    uint8_t *single = malloc(512);
    size_t cut[NB + 1];
    for (int i = 0; i <= NB; i++) cut[i] = size * (size_t)i / NB;
    for (int i = 0; i < NB; i++) {
        size_t len = cut[i + 1] - cut[i];
        uint8_t *q = malloc(len ? len : 1);
        memcpy(q, data + cut[i], len);
        items[i] = (rd_batch_item){ q, len, malloc(512), 512, 0 };
    }
    rd_transport t = { 0, 4 };
    rd_answer_batch(&g_db, items, NB, &t, NULL);
    for (int i = 0; i < NB; i++) {
        size_t n = rd_answer(&g_db, items[i].q, items[i].qlen, single, 512, &t, NULL);
        if (n != items[i].resplen || memcmp(single, items[i].resp, n) != 0) abort();
        check(items[i].q, items[i].qlen, items[i].resp, n, 512);
        free((void *)items[i].q);
        free(items[i].resp);
    }
    free(single);
    return 0;
}
