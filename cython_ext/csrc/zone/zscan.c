/* zscan.c — master-file parser driver (RFC 1035 section 5): entries, owners, TTL and
 * class fields, $ORIGIN/$TTL/$INCLUDE/$GENERATE, and the public zs_parse_* entry points. */
#include "zscan_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse_buffer(zs_state *st, const char *buf, size_t len);

/* ---- diagnostics ---- */

static void vmsg(zs_state *st, int sev, uint32_t line, const char *fmt, va_list ap)
{
    char text[240];
    vsnprintf(text, sizeof text, fmt, ap);
    rd_msgs_add(st->msgs, sev, st->sc.file, line, "%s", text);
}

void zs_err(zs_state *st, uint32_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(st, RD_MSG_ERROR, line, fmt, ap);
    va_end(ap);
}

void zs_warn(zs_state *st, uint32_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(st, RD_MSG_WARNING, line, fmt, ap);
    va_end(ap);
}

const char *zs_show(const zs_tok *t, char *buf, size_t size)
{
    size_t o = 0, max = size > 4 ? size - 4 : 0;
    uint32_t i;
    for (i = 0; i < t->len && o < max; i++) {
        unsigned char c = (unsigned char)t->s[i];
        buf[o++] = (c < 32 || c == 127) ? '?' : (char)c;
    }
    if (i < t->len) { memcpy(buf + o, "...", 3); o += 3; }
    buf[o] = 0;
    return buf;
}

static int tok_is(const zs_tok *t, const char *s)
{
    size_t n = strlen(s);
    return !t->quoted && t->len == n && strncasecmp(t->s, s, n) == 0;
}

/* ---- scratch text (rdata text of types left to dnspython) ---- */

static char *text_reserve(zs_state *st, size_t need)
{
    if (need > st->textcap) {
        size_t cap = st->textcap ? st->textcap : 4096;
        while (cap < need) cap *= 2;
        char *p = realloc(st->text, cap);
        if (!p) { st->oom = 1; return NULL; }
        st->text = p;
        st->textcap = cap;
    }
    return st->text;
}

/* Tokens joined by single blanks, quoted ones re-quoted: the rdata as dnspython reads it. */
static size_t join_tokens(zs_state *st, const zs_tok *t, size_t n)
{
    size_t need = 1;
    for (size_t i = 0; i < n; i++) need += t[i].len + 3;
    char *o = text_reserve(st, need);
    if (!o) return 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* tokens that touched in the source stay touching (SVCB: key="value") */
        if (i && t[i].s - t[i].quoted != t[i - 1].s + t[i - 1].len + t[i - 1].quoted)
            o[k++] = ' ';
        if (t[i].quoted) o[k++] = '"';
        memcpy(o + k, t[i].s, t[i].len);
        k += t[i].len;
        if (t[i].quoted) o[k++] = '"';
    }
    o[k] = 0;
    return k;
}

/* ---- records ---- */

/* Class field: only IN is served (RFC 1035 section 3.2.4). Returns 1 if `t` is a class. */
static int class_token(const zs_tok *t, int *is_in)
{
    if (t->quoted) return 0;
    if (tok_is(t, "IN") || tok_is(t, "CLASS1")) { *is_in = 1; return 1; }
    if (tok_is(t, "CH") || tok_is(t, "CS") || tok_is(t, "HS") || tok_is(t, "NONE") ||
        tok_is(t, "ANY")) { *is_in = 0; return 1; }
    if (t->len > 5 && strncasecmp(t->s, "CLASS", 5) == 0) {
        for (uint32_t i = 5; i < t->len; i++)
            if (t->s[i] < '0' || t->s[i] > '9') return 0;
        *is_in = 0;
        return 1;
    }
    return 0;
}

static int store_record(zs_state *st, uint16_t type, uint32_t ttl, uint32_t line,
                        const uint8_t *rdata, size_t rdlen, int text)
{
    if (rd_rrlist_add(st->out, st->sc.owner, type, RD_C_IN, ttl, rdata, (uint16_t)rdlen,
                      st->sc.file, line)) {
        st->oom = 1;
        return -1;
    }
    if (text) {
        if (st->sc.origin_off == RD_NONE && st->sc.have_origin)
            st->sc.origin_off = rd_rrlist_store(st->out, st->sc.origin, rd_name_len(st->sc.origin));
        rd_rr *rr = &st->out->rr[st->out->n - 1];
        rr->flags |= RD_RR_TEXT_RDATA;
        rr->origin = st->sc.origin_off;
    }
    return 0;
}

/* The TTL of a record that states none: $TTL if given (RFC 2308 section 4), else the
 * last stated TTL (RFC 1035 section 5.1), else the configured default. */
static uint32_t implicit_ttl(const zs_state *st)
{
    if (st->sc.ttl_default_known) return st->sc.ttl_default;
    if (st->sc.ttl_last_known) return st->sc.ttl_last;
    return st->opt->default_ttl;
}

/* Encode type + rdata tokens and store the record under st->sc.owner. */
static void finish_record(zs_state *st, int type, uint32_t ttl, zs_tok *t, size_t n,
                          uint32_t line)
{
    char b[80];
    if (zs_is_meta_type((uint16_t)type)) {
        const char *name = zs_type_to_text((uint16_t)type);
        zs_err(st, line, "type %s is not allowed in zone data", name ? name : "?");
        return;
    }
    if (n > 0 && !t[0].quoted && t[0].len == 2 && t[0].s[0] == '\\' && t[0].s[1] == '#') {
        if (zs_rdata_generic(st, t, n, line) > 0)
            store_record(st, (uint16_t)type, ttl, line, st->rd, st->rdlen, 0);
        return;
    }
    int r = zs_rdata_encode(st, (uint16_t)type, t, n, line);
    if (r < 0) return;
    if (r > 0) {
        store_record(st, (uint16_t)type, ttl, line, st->rd, st->rdlen, 0);
        return;
    }
    /* A type left to dnspython: keep its text, which must fit an rdata-sized field. */
    size_t len = join_tokens(st, t, n);
    if (st->oom) return;
    if (len > ZS_RDATA_MAX) {
        zs_err(st, line, "rdata text of %s longer than 65535 octets",
               zs_show(&(zs_tok){st->text, 8, line, 0}, b, sizeof b));
        return;
    }
    store_record(st, (uint16_t)type, ttl, line, (const uint8_t *)st->text, len, 1);
}

/* A TTL field (`what` is "TTL" or "$TTL"): 0, or -1 after reporting an error.  A value
 * with the most significant bit set is kept as 0 with a warning: RFC 2181 section 8 says
 * to treat it so, and BIND (named-checkzone) and Knot load such a zone serving TTL 0. */
static int read_ttl(zs_state *st, const zs_tok *t, const char *what, uint32_t *v)
{
    const char *why;
    char b[80];
    if (zs_parse_ttl(t, v, &why)) {
        if (strcmp(why, "TTL out of range") == 0)
            zs_err(st, t->line, "TTL out of range '%s'", zs_show(t, b, sizeof b));
        else
            zs_err(st, t->line, "bad %s '%s'", what, zs_show(t, b, sizeof b));
        return -1;
    }
    if (*v > 0x7fffffffu) {
        zs_warn(st, t->line, "%s %s is above 2147483647; using 0 (RFC 2181 8)", what,
                zs_show(t, b, sizeof b));
        *v = 0;
    }
    return 0;
}

/* Fields after the owner: [TTL] [class] type, or [class] [TTL] type (RFC 1035 5.1). */
static size_t ttl_class_type(zs_state *st, zs_tok *t, size_t n, size_t i, uint32_t line,
                             uint32_t *ttl, int *type)
{
    int have_ttl = 0, have_class = 0;
    char b[80];
    while (i < n && !t[i].quoted) {
        int is_in;
        if (!have_ttl && t[i].len && t[i].s[0] >= '0' && t[i].s[0] <= '9') {
            if (read_ttl(st, &t[i], "TTL", ttl)) return 0;
            have_ttl = 1;
            i++;
            continue;
        }
        if (!have_class && class_token(&t[i], &is_in)) {
            if (!is_in) {
                zs_err(st, t[i].line, "only class IN is supported, not '%s'",
                       zs_show(&t[i], b, sizeof b));
                return 0;
            }
            have_class = 1;
            i++;
            continue;
        }
        break;
    }
    if (i >= n) {
        zs_err(st, line, "missing type");
        return 0;
    }
    *type = t[i].quoted ? -1 : zs_type_from_text(t[i].s, t[i].len);
    if (*type < 0) {
        zs_err(st, t[i].line, "unknown type '%s'", zs_show(&t[i], b, sizeof b));
        return 0;
    }
    if (have_ttl) {
        st->sc.ttl_last = *ttl;
        st->sc.ttl_last_known = 1;
    } else {
        *ttl = implicit_ttl(st);
    }
    return i + 1;
}

static void parse_record(zs_state *st, zs_tok *t, size_t n, int leading_ws, uint32_t line)
{
    size_t i = 0;
    char b[80];
    if (!leading_ws) {
        const char *why;
        int len = zs_name_parse(t[0].s, t[0].len, zs_origin(st),
                                st->sc.owner, &why);
        if (len < 0 || t[0].quoted) {
            zs_err(st, t[0].line, "bad owner name '%s': %s", zs_show(&t[0], b, sizeof b),
                   t[0].quoted ? "quoted" : why);
            st->sc.have_owner = 0;
            return;
        }
        st->sc.have_owner = 1;
        i = 1;
    } else if (!st->sc.have_owner) {
        zs_err(st, line, "no owner name to inherit");
        return;
    }
    uint32_t ttl;
    int type;
    i = ttl_class_type(st, t, n, i, line, &ttl, &type);
    if (i == 0) return;
    finish_record(st, type, ttl, t + i, n - i, line);
}

/* ---- directives ---- */

static void set_origin(zs_state *st, const uint8_t *name)
{
    memcpy(st->sc.origin, name, rd_name_len(name));
    st->sc.have_origin = 1;
    st->sc.origin_off = RD_NONE;
}

static void dir_origin(zs_state *st, zs_tok *t, size_t n, uint32_t line)
{
    uint8_t w[RD_NAME_MAX + 1];
    const char *why;
    char b[80];
    if (n < 2) { zs_err(st, line, "$ORIGIN without a name"); return; }
    if (n > 2) {
        zs_err(st, t[2].line, "trailing garbage '%s'", zs_show(&t[2], b, sizeof b));
        return;
    }
    if (zs_name_parse(t[1].s, t[1].len, zs_origin(st), w, &why) < 0) {
        zs_err(st, t[1].line, "bad $ORIGIN '%s': %s", zs_show(&t[1], b, sizeof b), why);
        return;
    }
    set_origin(st, w);
}

static void dir_ttl(zs_state *st, zs_tok *t, size_t n, uint32_t line)
{
    char b[80];
    uint32_t v;
    if (n < 2) { zs_err(st, line, "$TTL without a value"); return; }
    if (n > 2) {
        zs_err(st, t[2].line, "trailing garbage '%s'", zs_show(&t[2], b, sizeof b));
        return;
    }
    if (read_ttl(st, &t[1], "$TTL", &v)) return;
    st->sc.ttl_default = v;
    st->sc.ttl_default_known = 1;
}

/* read_file's error for a file that is not a regular one (errno values are positive). */
#define ZS_NOT_REGULAR (-1)

static const char *file_error(int err)
{
    return err == ZS_NOT_REGULAR ? "not a regular file" : strerror(err);
}

/* Open a file to parse.  regular_only: refuse devices, FIFOs and sockets (opened
 * without blocking first, so a FIFO without a writer cannot hang the load): an $INCLUDE
 * of /dev/zero or /dev/stdin would otherwise read forever or wait forever.  The
 * top-level file may be one (robdns check-zone ORIGIN /dev/stdin).  Returns the
 * descriptor (its status in *sb) or -1 with *err set. */
static int open_source(const char *path, int regular_only, struct stat *sb, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
    if (fd < 0) { *err = errno; return -1; }
    if (fstat(fd, sb) < 0) { *err = errno; close(fd); return -1; }
    if (S_ISDIR(sb->st_mode)) { *err = EISDIR; close(fd); return -1; }
    if (regular_only && !S_ISREG(sb->st_mode)) { *err = ZS_NOT_REGULAR; close(fd); return -1; }
    return fd;
}

/* The whole file in a malloc'd buffer; closes fd. */
static char *read_source(int fd, const struct stat *sb, size_t *len, int *err)
{
    size_t cap = S_ISREG(sb->st_mode) ? (size_t)sb->st_size + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) { *err = ENOMEM; close(fd); return NULL; }
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); close(fd); *err = ENOMEM; return NULL; }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            *err = errno;
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

/* A path for messages: relative to the top-level file's directory when under it. */
static const char *show_path(const zs_state *st, const char *path)
{
    const char *top = st->stack[0].path, *slash = top ? strrchr(top, '/') : NULL;
    if (!slash) return path;
    size_t n = (size_t)(slash - top) + 1;
    return strncmp(path, top, n) == 0 ? path + n : path;
}

/* An $INCLUDE about to be followed (its file open, status in sb): refuse it, reporting
 * why at the includer's line, when it closes a cycle, leaves the zone's directory under
 * include_dir_only, or goes past the per-zone bounds.  Returns 0 to follow it. */
static int include_refused(zs_state *st, const char *path, const struct stat *sb,
                           uint32_t line)
{
    for (int i = 0; i < st->nstack; i++) {
        if (st->stack[i].dev != (uint64_t)sb->st_dev || st->stack[i].ino != (uint64_t)sb->st_ino)
            continue;
        /* A file that includes itself, directly or through others, would be read again
         * until the depth limit: with k such includes per file the work grows as k^depth.
         * Knot and BIND refuse it too; name the chain so the operator can break it. */
        char chain[200];
        size_t o = 0;
        for (int k = i; k <= st->nstack; k++) {
            const char *p = show_path(st, k < st->nstack ? st->stack[k].path : path);
            int w = snprintf(chain + o, sizeof chain - o, "%s%s", k > i ? " -> " : "", p);
            if (w < 0 || (size_t)w >= sizeof chain - o) { o = sizeof chain - 1; break; }
            o += (size_t)w;
        }
        zs_err(st, line, "include cycle: %s", chain);
        return 1;
    }
    if (st->opt->include_dir_only) {
        char *real = realpath(path, NULL);
        size_t dl = st->top_dir ? strlen(st->top_dir) : 0;
        int inside = real && st->top_dir &&
                     strncmp(real, st->top_dir, dl) == 0 && (dl == 1 || real[dl] == '/');
        free(real);
        if (!inside) {
            zs_err(st, line, "$INCLUDE file '%s' is outside the zone file's directory",
                   show_path(st, path));
            return 1;
        }
    }
    uint32_t fmax = st->opt->include_files_max ? st->opt->include_files_max
                                               : ZS_INCLUDE_FILES_DEFAULT;
    if (st->included_files >= fmax) {
        zs_err(st, line, "more than %u $INCLUDE files in the zone", fmax);
        return 1;
    }
    uint64_t bmax = st->opt->include_bytes_max ? st->opt->include_bytes_max
                                               : ZS_INCLUDE_BYTES_DEFAULT;
    if (st->included_bytes + (uint64_t)sb->st_size > bmax) {
        zs_err(st, line, "more than %llu bytes read by $INCLUDE in the zone",
               (unsigned long long)bmax);
        return 1;
    }
    return 0;
}

/* Parse a whole file at the current depth with the caller's state (origin, owner, TTLs).
 * Returns 0, an errno value (or ZS_NOT_REGULAR) for the caller to report, or
 * ZS_REPORTED when an $INCLUDE was refused and the reason already reported. */
#define ZS_REPORTED (-2)
static int parse_file_here(zs_state *st, const char *path, int regular_only, uint32_t line)
{
    size_t len;
    int err;
    struct stat sb;
    int fd = open_source(path, regular_only, &sb, &err);
    if (fd < 0) return err;
    if (st->nstack > 0 && include_refused(st, path, &sb, line)) {
        close(fd);
        return ZS_REPORTED;
    }
    if (st->nstack > ZS_INCLUDE_DEPTH_CAP) {     /* dir_include keeps nstack below this */
        close(fd);
        return ENOMEM;
    }
    char *buf = read_source(fd, &sb, &len, &err);
    if (!buf) return err;
    if (st->nstack == 0 && st->top) *st->top = sb;    /* what was read: its fingerprint */
    if (st->nstack > 0) {
        st->included_files++;
        st->included_bytes += len;
    }
    st->stack[st->nstack++] = (zs_open_file){ (uint64_t)sb.st_dev, (uint64_t)sb.st_ino, path };
    st->sc.file = rd_rrlist_file(st->out, path);
    st->sc.path = path;
    parse_buffer(st, buf, len);
    st->nstack--;
    free(buf);
    return 0;
}

/* $INCLUDE file [origin]: the file is relative to the including file's directory; the
 * includer's origin, owner and TTLs are restored afterwards (RFC 1035 section 5.1). */
static void dir_include(zs_state *st, zs_tok *t, size_t n, uint32_t line)
{
    char b[80];
    const char *why;
    uint8_t file[1024];
    uint8_t w[RD_NAME_MAX + 1];
    int have_new_origin = 0;
    if (n < 2) { zs_err(st, line, "$INCLUDE without a file name"); return; }
    if (n > 3) {
        zs_err(st, t[3].line, "trailing garbage '%s'", zs_show(&t[3], b, sizeof b));
        return;
    }
    int flen = zs_unescape(&t[1], file, sizeof file - 1, &why);
    if (flen <= 0) {
        zs_err(st, t[1].line, "bad $INCLUDE file name '%s'", zs_show(&t[1], b, sizeof b));
        return;
    }
    file[flen] = 0;
    if (n == 3) {
        if (zs_name_parse(t[2].s, t[2].len, zs_origin(st), w, &why) < 0) {
            zs_err(st, t[2].line, "bad $INCLUDE origin '%s': %s", zs_show(&t[2], b, sizeof b), why);
            return;
        }
        have_new_origin = 1;
    }
    if (st->opt->include_depth_max < 0) {
        zs_err(st, line, "$INCLUDE is not allowed here");
        return;
    }
    int max = st->opt->include_depth_max > 0 ? st->opt->include_depth_max : 10;
    if (max > ZS_INCLUDE_DEPTH_CAP) max = ZS_INCLUDE_DEPTH_CAP;
    if (st->nstack > max) {                /* the new file would be at depth nstack */
        zs_err(st, line, "$INCLUDE nesting deeper than %d", max);
        return;
    }
    char path[4096];
    const char *slash = strrchr(st->sc.path, '/');
    if (file[0] == '/' || !slash)
        snprintf(path, sizeof path, "%s", (char *)file);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - st->sc.path), st->sc.path,
                 (char *)file);

    zs_scope includer = st->sc;
    if (have_new_origin) set_origin(st, w);
    int err = parse_file_here(st, path, 1, line);
    st->sc = includer;
    if (err && err != ZS_REPORTED)
        zs_err(st, line, "cannot open $INCLUDE file '%s': %s", path, file_error(err));
}

/* ---- $GENERATE (BIND): range lhs [ttl] [class] type rhs ---- */

/* Substitute the counter into a template: "$" is the counter, "${offset,width,base}"
 * modifies it, "$$" is a literal "$", and "\x" is copied unchanged.  Returns the length
 * written, or -1 with *why set. */
static long gen_subst(const char *tp, size_t tl, long counter, char *out, size_t cap,
                      const char **why)
{
    size_t o = 0;
    for (size_t i = 0; i < tl;) {
        char c = tp[i];
        if (c == '\\' && i + 1 < tl) {
            if (o + 2 > cap) goto toolong;
            out[o++] = c;
            out[o++] = tp[i + 1];
            i += 2;
            continue;
        }
        if (c != '$') {
            if (o + 1 > cap) goto toolong;
            out[o++] = c;
            i++;
            continue;
        }
        if (i + 1 < tl && tp[i + 1] == '$') {
            if (o + 1 > cap) goto toolong;
            out[o++] = '$';
            i += 2;
            continue;
        }
        i++;
        long offset = 0, width = 0;
        char base = 'd';
        if (i < tl && tp[i] == '{') {
            size_t j = i + 1;
            int neg = 0, digits = 0;
            if (j < tl && (tp[j] == '+' || tp[j] == '-')) neg = tp[j++] == '-';
            while (j < tl && tp[j] >= '0' && tp[j] <= '9' && digits < 9) {
                offset = offset * 10 + (tp[j++] - '0');
                digits++;
            }
            if (!digits) goto badmod;
            if (neg) offset = -offset;
            if (j < tl && tp[j] == ',') {
                j++;
                digits = 0;
                while (j < tl && tp[j] >= '0' && tp[j] <= '9' && digits < 9) {
                    width = width * 10 + (tp[j++] - '0');
                    digits++;
                }
                if (!digits) goto badmod;
                if (width > 127) { *why = "$GENERATE width is too large"; return -1; }
                if (j < tl && tp[j] == ',') {
                    j++;
                    if (j >= tl || !strchr("doxXnN", tp[j])) goto badmod;
                    base = tp[j++];
                }
            }
            if (j >= tl || tp[j] != '}') goto badmod;
            i = j + 1;
        }
        long v = counter + offset;
        char num[160];
        int nl;
        if (base == 'n' || base == 'N') {
            /* nibble mode: hex digits least significant first, dot separated */
            const char *dg = base == 'N' ? "0123456789ABCDEF" : "0123456789abcdef";
            if (v < 0) { *why = "negative $GENERATE value in nibble mode"; return -1; }
            unsigned long u = (unsigned long)v;
            long w = width;
            nl = 0;
            for (;;) {
                if (nl + 2 >= (int)sizeof num) goto toolong;
                num[nl++] = dg[u & 15];
                u >>= 4;
                if (w > 0) w--;
                if (w > 0 || u != 0) {
                    num[nl++] = '.';
                    if (w > 0) w--;
                }
                if (u == 0 && w == 0) break;
            }
        } else {
            const char *f = base == 'o' ? "%0*lo" : base == 'x' ? "%0*lx" : base == 'X' ? "%0*lX" : "%0*ld";
            if (v < 0 && base != 'd') { *why = "negative $GENERATE value"; return -1; }
            nl = snprintf(num, sizeof num, f, (int)width, v);
        }
        if (o + (size_t)nl > cap) goto toolong;
        memcpy(out + o, num, (size_t)nl);
        o += (size_t)nl;
    }
    return (long)o;
badmod:
    *why = "invalid $GENERATE modifier";
    return -1;
toolong:
    *why = "$GENERATE output too long";
    return -1;
}

static int parse_range(const zs_tok *t, long *start, long *stop, long *step)
{
    long v[3] = {0, 0, 1};
    int part = 0, digits = 0;
    for (uint32_t i = 0; i < t->len; i++) {
        char c = t->s[i];
        if (c >= '0' && c <= '9') {
            if (++digits > 9) return -1;
            v[part] = (digits == 1 ? 0 : v[part] * 10) + (c - '0');
        } else if (c == '-' && part == 0 && digits) {
            part = 1;
            digits = 0;
        } else if (c == '/' && part == 1 && digits) {
            part = 2;
            digits = 0;
        } else {
            return -1;
        }
    }
    if (part == 0 || !digits || v[2] < 1 || v[0] > v[1]) return -1;
    *start = v[0];
    *stop = v[1];
    *step = v[2];
    return 0;
}

static void dir_generate(zs_state *st, zs_tok *t, size_t n, uint32_t line)
{
    char b[80];
    long start, stop, step;
    if (n < 5) { zs_err(st, line, "$GENERATE needs: range lhs [ttl] [class] type rhs"); return; }
    if (t[1].quoted || parse_range(&t[1], &start, &stop, &step)) {
        zs_err(st, t[1].line, "bad $GENERATE range '%s'", zs_show(&t[1], b, sizeof b));
        return;
    }
    size_t limit = st->opt->generate_max ? st->opt->generate_max : 65536;
    size_t count = (size_t)((stop - start) / step + 1);
    if (count > limit) {
        zs_err(st, t[1].line, "$GENERATE range of %zu records exceeds the limit of %zu", count,
               limit);
        return;
    }
    zs_tok lhs = t[2];
    uint32_t ttl;
    int type;
    size_t i = ttl_class_type(st, t, n, 3, line, &ttl, &type);
    if (i == 0) return;
    if (i >= n) { zs_err(st, line, "$GENERATE without rdata"); return; }
    /* rhs: one token (quoted: its content) or the rest of the line */
    size_t rhs_len;
    if (n - i == 1 && t[i].quoted) {
        rhs_len = t[i].len;
        if (!text_reserve(st, rhs_len + 1)) return;
        memcpy(st->text, t[i].s, rhs_len);
    } else {
        rhs_len = join_tokens(st, t + i, n - i);
        if (st->oom) return;
    }
    char *rhs = malloc(rhs_len + 1);
    size_t cap = 8192;
    char *gen = malloc(cap);
    if (!rhs || !gen) { free(rhs); free(gen); st->oom = 1; return; }
    memcpy(rhs, st->text, rhs_len);
    rhs[rhs_len] = 0;
    for (long k = start; k <= stop; k += step) {
        const char *why;
        long nl = gen_subst(lhs.s, lhs.len, k, gen, cap, &why);
        if (nl < 0) { zs_err(st, line, "%s", why); break; }
        const char *nwhy;
        if (zs_name_parse(gen, (size_t)nl, zs_origin(st), st->sc.owner, &nwhy) < 0) {
            zs_tok g = {gen, (uint32_t)nl, line, 0};
            zs_err(st, line, "bad owner name '%s': %s", zs_show(&g, b, sizeof b), nwhy);
            /* the owner buffer now holds a part of a name: as in parse_record, nothing may
             * inherit it (found by tests/fuzz/fuzz_zscan.c) */
            st->sc.have_owner = 0;
            break;
        }
        st->sc.have_owner = 1;
        long rl = gen_subst(rhs, rhs_len, k, gen, cap, &why);
        if (rl < 0) { zs_err(st, line, "%s", why); break; }
        zs_lexer lx;
        int ws, bad;
        uint32_t l0;
        zs_lexer_init(&lx, gen, (size_t)rl, line);
        size_t errs = st->msgs->errors;
        if (zs_lex_entry(st, &lx, &ws, &l0, &bad) < 0 || bad) break;
        finish_record(st, type, ttl, st->tok, st->ntok, line);
        if (st->msgs->errors != errs || st->oom) break;   /* one error per directive */
    }
    free(rhs);
    free(gen);
}

/* ---- entries ---- */

static void parse_entry(zs_state *st, int leading_ws, uint32_t line)
{
    zs_tok *t = st->tok;
    size_t n = st->ntok;
    char b[80];
    if (!leading_ws && !t[0].quoted && t[0].len && t[0].s[0] == '$') {
        if (tok_is(&t[0], "$ORIGIN")) dir_origin(st, t, n, line);
        else if (tok_is(&t[0], "$TTL")) dir_ttl(st, t, n, line);
        else if (tok_is(&t[0], "$INCLUDE")) dir_include(st, t, n, line);
        else if (tok_is(&t[0], "$GENERATE")) dir_generate(st, t, n, line);
        else zs_err(st, line, "unknown directive '%s'", zs_show(&t[0], b, sizeof b));
        return;
    }
    parse_record(st, t, n, leading_ws, line);
}

static int parse_buffer(zs_state *st, const char *buf, size_t len)
{
    zs_lexer lx;
    zs_lexer_init(&lx, buf, len, 1);
    for (;;) {
        int ws, bad;
        uint32_t line;
        int r = zs_lex_entry(st, &lx, &ws, &line, &bad);
        if (r < 0 || st->oom) break;
        if (r == 0) break;
        if (bad || st->ntok == 0) continue;
        parse_entry(st, ws, line);
        if (st->oom) break;
    }
    return 0;
}

/* ---- public entry points ---- */

static zs_state *state_new(const zs_options *opt, rd_rrlist *out, rd_msgs *msgs)
{
    zs_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->opt = opt;
    st->out = out;
    st->msgs = msgs;
    st->sc.origin_off = RD_NONE;
    if (opt->origin) {
        set_origin(st, opt->origin);
        memcpy(st->sc.owner, opt->origin, rd_name_len(opt->origin));
        st->sc.have_owner = 1;            /* as dnspython: the first owner defaults to $ORIGIN */
    }
    return st;
}

/* include_dir_only: the real directory of the top-level file (or text name), which
 * every included file must resolve into.  Left NULL when it cannot be resolved: every
 * $INCLUDE is then refused, as outside. */
static void state_top_dir(zs_state *st, const char *path)
{
    if (!st->opt->include_dir_only) return;
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    st->top_dir = realpath(dir, NULL);
}

static int state_done(zs_state *st, size_t errors_before)
{
    if (st->oom) rd_msgs_add(st->msgs, RD_MSG_ERROR, st->sc.file, 0, "out of memory");
    int errors = (int)(st->msgs->errors - errors_before);
    free(st->top_dir);
    free(st->tok);
    free(st->text);
    free(st);
    return errors;
}

int zs_parse_file(const char *path, const zs_options *opt, rd_rrlist *out, rd_msgs *msgs)
{
    return zs_parse_file_stat(path, opt, out, msgs, NULL);
}

int zs_parse_file_stat(const char *path, const zs_options *opt, rd_rrlist *out, rd_msgs *msgs,
                       struct stat *top)
{
    size_t before = msgs->errors;
    if (top) memset(top, 0, sizeof *top);
    zs_state *st = state_new(opt, out, msgs);
    if (!st) {
        rd_msgs_add(msgs, RD_MSG_ERROR, RD_NONE, 0, "out of memory");
        return 1;
    }
    st->top = top;
    state_top_dir(st, path);
    int err = parse_file_here(st, path, 0, 0);
    if (err) {
        st->sc.file = rd_rrlist_file(out, path);
        zs_err(st, 0, "cannot open zone file: %s", file_error(err));
    }
    return state_done(st, before);
}

int zs_parse_text(const char *name, const char *text, size_t len, const zs_options *opt,
                  rd_rrlist *out, rd_msgs *msgs)
{
    size_t before = msgs->errors;
    zs_state *st = state_new(opt, out, msgs);
    if (!st) {
        rd_msgs_add(msgs, RD_MSG_ERROR, RD_NONE, 0, "out of memory");
        return 1;
    }
    state_top_dir(st, name);
    st->sc.file = rd_rrlist_file(out, name);
    st->sc.path = name;
    /* Text has no file identity: a cycle through it is caught one level later, at the
     * file that includes the text's file name again. */
    st->stack[0] = (zs_open_file){ (uint64_t)-1, (uint64_t)-1, name };
    st->nstack = 1;
    parse_buffer(st, text, len);
    return state_done(st, before);
}
