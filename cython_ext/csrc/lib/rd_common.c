/* rd_common.c — record list arena, diagnostics list, and name ordering helpers. */
#include "rd_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void rd_rrlist_init(rd_rrlist *l) { memset(l, 0, sizeof *l); }

void rd_rrlist_free(rd_rrlist *l)
{
    free(l->rr);
    free(l->arena);
    for (size_t i = 0; i < l->nfiles; i++) free(l->files[i]);
    free(l->files);
    memset(l, 0, sizeof *l);
}

uint32_t rd_rrlist_store(rd_rrlist *l, const void *p, size_t len)
{
    if (l->alen + len > 0xfffffff0u) return RD_NONE;   /* offsets are 32-bit */
    if (l->alen + len > l->acap) {
        size_t cap = l->acap ? l->acap : 1 << 16;
        while (cap < l->alen + len) cap *= 2;
        uint8_t *a = realloc(l->arena, cap);
        if (!a) return RD_NONE;
        l->arena = a;
        l->acap = cap;
    }
    uint32_t off = (uint32_t)l->alen;
    if (len) memcpy(l->arena + off, p, len);
    l->alen += len;
    return off;
}

int rd_rrlist_add(rd_rrlist *l, const uint8_t *owner, uint16_t type, uint16_t rclass,
                  uint32_t ttl, const uint8_t *rdata, uint16_t rdlen,
                  uint16_t file, uint32_t line)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        rd_rr *v = realloc(l->rr, cap * sizeof *v);
        if (!v) return -1;
        l->rr = v;
        l->cap = cap;
    }
    uint32_t o = rd_rrlist_store(l, owner, rd_name_len(owner));
    uint32_t r = rd_rrlist_store(l, rdata, rdlen);
    if (o == RD_NONE || r == RD_NONE) return -1;
    rd_rr *rr = &l->rr[l->n++];
    memset(rr, 0, sizeof *rr);
    rr->owner = o;
    rr->rdata = r;
    rr->origin = RD_NONE;
    rr->ttl = ttl;
    rr->line = line;
    rr->rdlen = rdlen;
    rr->type = type;
    rr->rclass = rclass;
    rr->file = file;
    return 0;
}

uint16_t rd_rrlist_file(rd_rrlist *l, const char *name)
{
    for (size_t i = 0; i < l->nfiles; i++)
        if (strcmp(l->files[i], name) == 0) return (uint16_t)i;
    char **f = realloc(l->files, (l->nfiles + 1) * sizeof *f);
    if (!f) return 0;
    l->files = f;
    f[l->nfiles] = strdup(name);
    return (uint16_t)l->nfiles++;
}

void rd_msgs_init(rd_msgs *m, size_t limit)
{
    memset(m, 0, sizeof *m);
    m->limit = limit ? limit : 100;
}

void rd_msgs_free(rd_msgs *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

void rd_msgs_add(rd_msgs *m, int severity, uint32_t file, uint32_t line, const char *fmt, ...)
{
    if (severity == RD_MSG_ERROR) m->errors++; else m->warnings++;
    if (m->n >= m->limit) return;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        rd_msg *v = realloc(m->v, cap * sizeof *v);
        if (!v) return;
        m->v = v;
        m->cap = cap;
    }
    rd_msg *e = &m->v[m->n++];
    e->severity = severity;
    e->file = file;
    e->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
}

/* RFC 4034 section 6.1: compare label by label from the root, each label as a
 * lower-cased octet string, shorter label first when one is a prefix. */
int rd_name_cmp(const uint8_t *a, const uint8_t *b)
{
    const uint8_t *la[128], *lb[128];
    int na = 0, nb = 0;
    for (const uint8_t *p = a; *p && na < 128; p += *p + 1) la[na++] = p;
    for (const uint8_t *p = b; *p && nb < 128; p += *p + 1) lb[nb++] = p;
    while (na > 0 && nb > 0) {
        const uint8_t *x = la[--na], *y = lb[--nb];
        int lx = x[0], ly = y[0], m = lx < ly ? lx : ly;
        for (int i = 1; i <= m; i++) {
            int cx = rd_lower(x[i]), cy = rd_lower(y[i]);
            if (cx != cy) return cx - cy;
        }
        if (lx != ly) return lx - ly;
    }
    return na - nb;
}

int rd_name_is_sub(const uint8_t *name, const uint8_t *zone)
{
    int ln = rd_name_labels(name), lz = rd_name_labels(zone);
    if (ln < lz) return 0;
    while (ln > lz) { name += *name + 1; ln--; }
    return rd_name_eq(name, zone);
}

char *rd_name_to_text(const uint8_t *n, char *buf, size_t bufsize)
{
    size_t o = 0;
    if (bufsize == 0) return buf;
    if (*n == 0) { snprintf(buf, bufsize, "."); return buf; }
    while (*n && o + 1 < bufsize) {
        uint8_t l = *n++;
        for (uint8_t i = 0; i < l && o + 5 < bufsize; i++) {
            uint8_t c = n[i];
            if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' ||
                c == '@' || c == '$')
                o += snprintf(buf + o, bufsize - o, "\\%c", c);
            else if (c <= 32 || c >= 127)
                o += snprintf(buf + o, bufsize - o, "\\%03u", c);
            else
                buf[o++] = (char)c;
        }
        n += l;
        if (o + 1 < bufsize) buf[o++] = '.';
    }
    buf[o < bufsize ? o : bufsize - 1] = 0;
    return buf;
}
