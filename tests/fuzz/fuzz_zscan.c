/* fuzz_zscan.c — libFuzzer harness for the master-file parser: any bytes as zone text through
 * zs_parse_text, with and without an initial $ORIGIN; checks the parsed list's invariants.
 *
 * Built by tests/test_zscan_fuzz.py with clang -fsanitize=fuzzer,address,undefined, so any
 * read past the input or a token, any write past the rdata buffer, any leak and any
 * undefined arithmetic aborts the run.  The parser never calls Python itself: rare types
 * come back as RD_RR_TEXT_RDATA records (text for dnspython), which are only checked here.
 * $INCLUDE is refused (include_depth_max < 0) so the fuzzer cannot read the machine's files
 * (/dev/zero, /dev/stdin); the directive's own fields are still parsed first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zone/zscan.h"

/* example.com. in wire form */
static const uint8_t ORIGIN[] = "\x07" "example" "\x03" "com";

/* A valid uncompressed wire name of at most RD_NAME_MAX octets lying inside [p, end). */
static int name_ok(const uint8_t *p, const uint8_t *end)
{
    size_t total = 0;
    for (;;) {
        if (p >= end) return 0;
        uint8_t l = *p;
        if (l > RD_LABEL_MAX) return 0;
        total += (size_t)l + 1;
        if (total > RD_NAME_MAX) return 0;
        if (l == 0) return 1;
        p += l + 1;
    }
}

static void check(const rd_rrlist *l, const rd_msgs *m, size_t errors, size_t lines)
{
    const uint8_t *end = l->arena ? l->arena + l->alen : NULL;   /* no arena: no records */
    for (size_t i = 0; i < l->n; i++) {
        const rd_rr *rr = &l->rr[i];
        if (rr->owner >= l->alen || !name_ok(l->arena + rr->owner, end)) abort();
        if ((size_t)rr->rdata + rr->rdlen > l->alen) abort();
        if (rr->rclass != RD_C_IN) abort();              /* only IN is accepted */
        if (rr->file >= l->nfiles) abort();
        if (rr->line < 1 || rr->line > lines) abort();
        if (rr->flags & RD_RR_TEXT_RDATA) {
            if (rr->origin != RD_NONE &&
                (rr->origin >= l->alen || !name_ok(l->arena + rr->origin, end))) abort();
        }
    }
    if (errors != m->errors) abort();                    /* the return value counts errors */
    if (m->n > m->errors + m->warnings) abort();
    for (size_t i = 0; i < m->n; i++) {
        if (memchr(m->v[i].text, 0, sizeof m->v[i].text) == NULL) abort();
        if (m->v[i].line > lines) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exactly sized copy, so AddressSanitizer sees any read past the text. */
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';

    for (int with_origin = 0; with_origin < 2; with_origin++) {
        zs_options opt = {
            .origin = with_origin ? ORIGIN : NULL,
            .default_ttl = 3600,
            .include_depth_max = -1,
            .generate_max = 256,          /* keeps one input's work small */
        };
        rd_rrlist l;
        rd_msgs m;
        rd_rrlist_init(&l);
        rd_msgs_init(&m, 20);
        int errors = zs_parse_text("fuzz.zone", text, size, &opt, &l, &m);
        check(&l, &m, (size_t)errors, lines);
        rd_rrlist_free(&l);
        rd_msgs_free(&m);
    }
    free(text);
    return 0;
}
