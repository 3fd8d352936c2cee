/* zscan_svcb.c — SVCB/HTTPS rdata (RFC 9460) for the master-file parser: common
 * parameters in C, the rest left to dnspython. */
#include "zscan_int.h"
#include "lib/rd_wire.h"

#include <stdlib.h>

/* SVCB/HTTPS (RFC 9460 section 2): a fast path for the common parameters written
 * without escapes.  Anything unusual returns 0 so that dnspython reads (or rejects) the
 * record and the behaviour stays identical to it. */

typedef struct svc_param {
    uint16_t key;
    const char *v;          /* value text (NULL when absent) */
    uint32_t vlen;
} svc_param;

static int svc_key(const char *s, size_t len)
{
    static const char *names[] = {"mandatory", "alpn", "no-default-alpn", "port",
                                  "ipv4hint", "ech", "ipv6hint"};
    for (int k = 0; k < 7; k++)
        if (strlen(names[k]) == len && memcmp(names[k], s, len) == 0) return k;
    if (len > 3 && len <= 8 && memcmp(s, "key", 3) == 0 && !(s[3] == '0' && len > 4)) {
        uint32_t v = 0;
        for (size_t i = 3; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            v = v * 10 + (uint32_t)(s[i] - '0');
        }
        /* keyNNN naming a known key has a wire-form value: leave it to dnspython */
        if (v <= 10 || v > 65535) return -1;
        return (int)v;
    }
    return -1;
}

static int cmp_param(const void *a, const void *b)
{
    return (int)((const svc_param *)a)->key - (int)((const svc_param *)b)->key;
}

/* Encode one comma-separated list item set; returns 0, or -1 to fall back. */
static int svc_value(zs_state *st, const svc_param *p)
{
    const char *v = p->v, *e = v ? v + p->vlen : NULL;
    size_t lenpos = st->rdlen;
    zs_put16(st, p->key);
    zs_put16(st, 0);
    size_t start = st->rdlen;
    switch (p->key) {
    case 0: {                                    /* mandatory: sorted key numbers */
        uint16_t keys[64];
        int nk = 0;
        if (!v || !p->vlen) return -1;
        for (const char *q = v; q <= e;) {
            const char *c = memchr(q, ',', (size_t)(e - q));
            if (!c) c = e;
            int k = svc_key(q, (size_t)(c - q));
            if (k <= 0 || nk == 64) return -1;
            keys[nk++] = (uint16_t)k;
            q = c + 1;
        }
        for (int a = 1; a < nk; a++)               /* insertion sort, tiny lists */
            for (int b = a; b > 0 && keys[b - 1] > keys[b]; b--) {
                uint16_t x = keys[b]; keys[b] = keys[b - 1]; keys[b - 1] = x;
            }
        for (int a = 0; a < nk; a++) {
            if (a && keys[a] == keys[a - 1]) return -1;
            zs_put16(st, keys[a]);
        }
        break;
    }
    case 1:                                      /* alpn: counted strings */
        if (!v || !p->vlen) return -1;
        for (const char *q = v; q <= e;) {
            const char *c = memchr(q, ',', (size_t)(e - q));
            if (!c) c = e;
            size_t l = (size_t)(c - q);
            if (l == 0 || l > 255) return -1;
            zs_put8(st, (uint32_t)l);
            zs_put(st, q, l);
            q = c + 1;
        }
        break;
    case 2:                                      /* no-default-alpn: no value */
        if (v && p->vlen) return -1;
        break;
    case 3: {
        zs_tok t = {v, p->vlen, 0, 0};
        uint32_t port;
        if (!v || zs_parse_u32(&t, 65535, &port)) return -1;
        zs_put16(st, port);
        break;
    }
    case 4: case 6: {                            /* ipv4hint, ipv6hint */
        if (!v || !p->vlen) return -1;
        for (const char *q = v; q <= e;) {
            const char *c = memchr(q, ',', (size_t)(e - q));
            if (!c) c = e;
            uint8_t a[16];
            if (p->key == 4 ? zs_parse_ipv4(q, (size_t)(c - q), a) : zs_parse_ipv6(q, (size_t)(c - q), a))
                return -1;
            zs_put(st, a, p->key == 4 ? 4 : 16);
            q = c + 1;
        }
        break;
    }
    case 5: {                                    /* ech: base64 ECHConfigList */
        int state = 0;
        if (!v || !p->vlen) return -1;
        int n = zs_b64_decode(v, p->vlen, st->rd + st->rdlen, ZS_RDATA_MAX - st->rdlen, &state);
        if (n < 6 || ((state >> 24) & 7)) return -1;
        const uint8_t *d = st->rd + st->rdlen;
        if (rd_get16(d) != n - 2) return -1;
        st->rdlen += (size_t)n;
        break;
    }
    default:                                     /* keyNNNNN: opaque octets */
        if (v) zs_put(st, v, p->vlen);
        break;
    }
    size_t vl = st->rdlen - start;
    if (vl > 65535) return -1;
    st->rd[lenpos + 2] = (uint8_t)(vl >> 8);
    st->rd[lenpos + 3] = (uint8_t)vl;
    return 0;
}

int zs_rdata_svcb(zs_rdcur *c)
{
    zs_state *st = c->st;
    uint32_t prio;
    if (zs_rd_num(c, 65535, "priority", &prio)) return -1;
    zs_put16(st, prio);
    if (zs_rd_name(c, "target name")) return -1;
    svc_param ps[64];
    int np = 0, has_alpn = 0, has_nda = 0, mand = -1;
    while (c->i < c->n) {
        zs_tok *t = &c->t[c->i++];
        if (t->quoted || np == 64 || memchr(t->s, '\\', t->len)) return 0;
        const char *eq = memchr(t->s, '=', t->len);
        svc_param *p = &ps[np];
        size_t klen = eq ? (size_t)(eq - t->s) : t->len;
        int k = svc_key(t->s, klen);
        if (k < 0) return 0;
        p->key = (uint16_t)k;
        p->v = NULL;
        p->vlen = 0;
        if (eq && eq + 1 == t->s + t->len) {
            /* key="value": the quoted token must follow without a blank */
            zs_tok *q = c->i < c->n ? &c->t[c->i] : NULL;
            if (!q || !q->quoted || q->s != t->s + t->len + 1 || memchr(q->s, '\\', q->len))
                return 0;
            c->i++;
            p->v = q->s;
            p->vlen = q->len;
        } else if (eq) {
            p->v = eq + 1;
            p->vlen = (uint32_t)(t->s + t->len - eq - 1);
        }
        if (k == 1) has_alpn = 1;
        if (k == 2) has_nda = 1;
        if (k == 0) mand = np;
        np++;
    }
    if (np && prio == 0) return 0;                   /* AliasMode has no parameters */
    if (has_nda && !has_alpn) return 0;
    qsort(ps, (size_t)np, sizeof *ps, cmp_param);
    for (int a = 1; a < np; a++)
        if (ps[a].key == ps[a - 1].key) return 0;
    for (int a = 0; a < np; a++)
        if (svc_value(st, &ps[a])) return 0;
    if (mand >= 0) {
        /* every key listed as mandatory must be present (RFC 9460 section 8); after the
         * sort the mandatory parameter is ps[0] and its list was validated above */
        const char *q = ps[0].v, *e = ps[0].v + ps[0].vlen;
        while (q <= e) {
            const char *cm = memchr(q, ',', (size_t)(e - q));
            if (!cm) cm = e;
            int key = svc_key(q, (size_t)(cm - q)), found = 0;
            for (int j = 1; j < np; j++) found |= ps[j].key == key;
            if (!found) return 0;
            q = cm + 1;
        }
    }
    return 1;
}

