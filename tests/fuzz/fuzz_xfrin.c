/* fuzz_xfrin.c — libFuzzer harness for the transfer reader: any bytes as a stream of AXFR/IXFR response messages through rd_xfrin_message, then the IXFR applied to a small image and the result built.
 *
 * Input: one byte choosing AXFR or IXFR (low bit) and the serial asked from (the rest),
 * then messages each as [u16 length][bytes] (the TCP framing of RFC 1035 4.2.2).  Built by
 * tests/test_xfrin_fuzz.py with clang -fsanitize=fuzzer,address,undefined: a read past a
 * message, a pointer loop that spins, a leak or undefined arithmetic aborts the run. */
#include <stdlib.h>
#include <string.h>

#include "lib/rd_wire.h"
#include "zone/xfrin.h"
#include "zone/zimg.h"

/* example.net. in wire form */
static const uint8_t ORIGIN[] = "\x07" "example" "\x03" "net";
static zimg *current;

/* The version an IXFR applies to: SOA serial 10, NS, one address. */
static zimg *build_current(void)
{
    static const uint8_t soa[] = "\x03ns1\x07" "example\x03net\x00\x0ahostmaster\x07" "example\x03net\x00"
                                 "\x00\x00\x00\x0a\x00\x00\x0e\x10\x00\x00\x02\x58\x00\x01\x51\x80\x00\x00\x01\x2c";
    static const uint8_t ns[] = "\x03ns1\x07" "example\x03net";
    static const uint8_t ns1[] = "\x03ns1\x07" "example\x03net";
    static const uint8_t a[] = {192, 0, 2, 1};
    rd_rrlist l;
    rd_msgs m;
    size_t size;
    rd_rrlist_init(&l);
    rd_msgs_init(&m, 0);
    rd_rrlist_file(&l, "current");
    rd_rrlist_add(&l, ORIGIN, RD_T_SOA, RD_C_IN, 300, soa, sizeof soa - 1, 0, 1);
    rd_rrlist_add(&l, ORIGIN, RD_T_NS, RD_C_IN, 300, ns, sizeof ns, 0, 2);
    rd_rrlist_add(&l, ns1, RD_T_A, RD_C_IN, 300, a, 4, 0, 3);
    zimg *z = zimg_build(ORIGIN, &l, &m, &size);
    rd_rrlist_free(&l);
    rd_msgs_free(&m);
    if (!z) abort();
    return z;
}

static void check_list(const rd_rrlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const rd_rr *r = &l->rr[i];
        if (r->owner >= l->alen) abort();
        if (!rd_wire_name_check(l->arena + r->owner, l->alen - r->owner)) abort();
        if (!rd_name_is_sub(l->arena + r->owner, ORIGIN)) abort();   /* checked inside */
        if ((size_t)r->rdata + r->rdlen > l->alen) abort();
    }
}

static void build(rd_rrlist *l)
{
    rd_msgs m;
    size_t size;
    rd_msgs_init(&m, 0);
    rd_rrlist_file(l, "transfer");
    zimg *z = zimg_build(ORIGIN, l, &m, &size);
    if (z) zimg_free(z);
    rd_msgs_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!current) current = build_current();
    if (size < 1) return 0;
    rd_xfrin x;
    rd_xfrin_init(&x, ORIGIN, (data[0] & 1) ? RD_T_IXFR : RD_T_AXFR, 4242, data[0] >> 1);
    size_t p = 1;
    int rc = 0;
    while (p + 2 <= size && rc == 0) {
        size_t n = rd_get16(data + p);
        p += 2;
        if (n > size - p) n = size - p;
        /* a copy of exactly n bytes: ASan then sees any read past the message */
        uint8_t *msg = malloc(n ? n : 1);
        memcpy(msg, data + p, n);
        size_t toff;
        rc = rd_xfrin_message(&x, msg, n, &toff);
        if (toff && (toff < 12 || toff >= n)) abort();
        free(msg);
        p += n;
    }
    check_list(&x.zone);
    check_list(&x.diff);
    if (rc == 1 && x.kind == RD_XFRIN_IXFR) {
        rd_rrlist out;
        rd_rrlist_init(&out);
        if (rd_xfrin_apply(&x, current, &out) == 0) {
            check_list(&out);
            build(&out);
        }
        rd_rrlist_free(&out);
    } else if (rc == 1 && x.kind == RD_XFRIN_AXFR) {
        build(&x.zone);
    }
    rd_xfrin_free(&x);
    return 0;
}
