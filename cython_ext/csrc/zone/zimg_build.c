/* zimg_build.c — compile a zone's record list into one immutable image.
 *
 * Stages (all O(n) or O(n log n), no allocation per record), one function each:
 *   1. index_owners: one hash table of lower-cased names; every ancestor up to the apex
 *      is created too, so empty non-terminals exist as nodes (RFC 4592 2.2.2);
 *   2. order_nodes: canonical order (RFC 4034 6.1) by sorting (parent, label) and a
 *      preorder walk; parents therefore precede children and the apex is node 0;
 *   3. group_rrsets: counting-sort records by node, sort each node's records by (type,
 *      covered, rdata) and cut them into rrsets, dropping duplicates (RFC 2181 5);
 *   4. layout, fill_rrsets, fill_nodes: the image buffer, its rrsets with their rdata,
 *      its nodes with their links (topmost cut, DNAME ancestor, wildcard child), names
 *      and hash index;
 *   5. the semantic checks (zimg_check.c) and link_targets: additional-section lists and
 *      the missing-glue check; then the serial.
 * A big zone on two cores sorts its nodes (2) and fills its rrsets (4) in two halves on
 * two threads (zimg_build_threads), and links its targets (5) in parts the two threads
 * take in turn; the image and the messages are byte for byte the one-thread build's.
 * A transfer makes stage 1 as its messages come (zimg_index_new, zone/xfrin.c), and
 * when the names come in canonical order, as a primary walking its tree sends them, the
 * order of stage 2 too, and when each name's records come together, stage 3 (a name's
 * rrsets are cut when the next name comes; where the two threads' parts start is found
 * afterwards, place_marks): the build of a received zone starts past them, with the same
 * nodes, records and rrsets in the same order, so the same image.
 */
#define _GNU_SOURCE
#include "zimg_format.h"
#include "zimg_dnssec.h"
#include "lib/rd_wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "zimg_build_int.h"

#ifdef ZIMG_PROFILE   /* stage times on stderr, for tuning by hand */
#include <time.h>
static double prof_t0;
static void prof(const char *stage)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    double now = t.tv_sec + t.tv_nsec * 1e-9;
    if (stage) fprintf(stderr, "zimg_build %-10s %.3f s cpu\n", stage, now - prof_t0);
    prof_t0 = now;
}
#else
#define prof(stage) ((void)0)
#endif

/* ---- helpers ---- */

enum { TAB_MAP_MIN = 256 << 10 };   /* an index made ahead maps tables this big or more */

static uint16_t rr_covered(const builder *b, const rd_rr *rr)
{
    if (rr->type != RD_T_RRSIG || rr->rdlen < 2) return 0;
    const uint8_t *p = rr_rdata(b, rr);
    return rd_get16(p);
}

/* Is the uncompressed name at arena[off] well formed and inside the arena? */
static int arena_name_ok(const rd_rrlist *l, size_t off)
{
    size_t p = off;
    for (;;) {
        if (p >= l->alen) return 0;
        uint8_t len = l->arena[p];
        if (len > RD_LABEL_MAX) return 0;
        p += (size_t)len + 1;
        if (p - off > RD_NAME_MAX) return 0;
        if (len == 0) return 1;
    }
}

static uint32_t bfind(const builder *b, const uint8_t *name, size_t len, uint32_t h)
{
    uint32_t i = h & b->tmask;
    for (;;) {
        uint32_t id = b->tab[i];
        if (id == RD_NONE) return RD_NONE;
        const bnode *nd = &b->nodes[id];
        if (nd->hash == h && nd->name_len == len && memcmp(b->names + nd->name, name, len) == 0)
            return id;
        i = (i + 1) & b->tmask;
    }
}

/* The owner table, all RD_NONE.  The index made ahead doubles it as the owners come:
 * from malloc, each big table freed would raise glibc's mmap threshold to its size and
 * send the build's later arrays to the heap, where their holes stay resident (+3 MB
 * RSS for a 1M-record transfer); so its big tables are mappings of their own. */
static uint32_t *tab_new(const builder *b, uint32_t size)
{
    size_t bytes = (size_t)size * sizeof(uint32_t);
    uint32_t *t;
    if (b->ahead && bytes >= TAB_MAP_MIN) {
        t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (t == MAP_FAILED) return NULL;
    } else if (!(t = malloc(bytes))) {
        return NULL;
    }
    memset(t, 0xff, bytes);
    return t;
}

static void tab_free(builder *b)
{
    size_t bytes = ((size_t)b->tmask + 1) * sizeof(uint32_t);
    if (b->tab && (b->ahead || b->tab_mapped) && bytes >= TAB_MAP_MIN) munmap(b->tab, bytes);
    else free(b->tab);
    b->tab = NULL;
}

static int grow_table(builder *b)
{
    uint32_t size = (b->tmask + 1) * 2;
    uint32_t *t = tab_new(b, size);
    if (!t) return -1;
    for (uint32_t id = 0; id < b->nn; id++) {
        uint32_t i = b->nodes[id].hash & (size - 1);
        while (t[i] != RD_NONE) i = (i + 1) & (size - 1);
        t[i] = id;
    }
    tab_free(b);
    b->tab = t;
    b->tmask = size - 1;
    b->tab_mapped = 0;               /* t is tab_new's: b->ahead tells how it was made */
    return 0;
}

/* Add a node whose name is already in b->names at `name`. Returns its id or RD_NONE. */
static uint32_t badd(builder *b, uint32_t name, size_t len, int labels, uint32_t h)
{
    if (b->nn == b->ncap) {
        uint32_t cap = b->ncap ? b->ncap * 2 : 1024;
        bnode *v = realloc(b->nodes, (size_t)cap * sizeof *v);
        if (!v) return RD_NONE;
        b->nodes = v;
        b->ncap = cap;
    }
    if ((uint64_t)(b->nn + 1) * 2 > b->tmask + 1 && grow_table(b) != 0) return RD_NONE;
    uint32_t id = b->nn++;
    bnode *nd = &b->nodes[id];
    nd->name = name;
    nd->hash = h;
    nd->parent = RD_NONE;
    nd->name_len = (uint8_t)len;
    nd->labels = (uint8_t)labels;
    uint32_t i = h & b->tmask;
    while (b->tab[i] != RD_NONE) i = (i + 1) & b->tmask;
    b->tab[i] = id;
    return id;
}

static uint32_t names_store(builder *b, const uint8_t *p, size_t len)
{
    if (b->names_len + len > 0xfffffff0u) return RD_NONE;
    if (b->names_len + len > b->names_cap) {
        size_t cap = b->names_cap ? b->names_cap * 2 : 1 << 16;
        while (cap < b->names_len + len) cap *= 2;
        uint8_t *v = realloc(b->names, cap);
        if (!v) return RD_NONE;
        b->names = v;
        b->names_cap = cap;
    }
    uint32_t off = (uint32_t)b->names_len;
    memcpy(b->names + off, p, len);
    b->names_len += len;
    return off;
}

/* RFC 4034 6.1 order of two lower-case wire names at or below the origin (`ol` labels,
 * which they share): label by label from the root, as label_cmp orders labels. */
static int name_canonical_cmp(const uint8_t *x, const uint8_t *y, int ol)
{
    const uint8_t *lx[ZIMG_MAX_LABELS + 1], *ly[ZIMG_MAX_LABELS + 1];
    int nx = 0, ny = 0;
    for (const uint8_t *p = x; *p && nx <= ZIMG_MAX_LABELS; p += *p + 1) lx[nx++] = p;
    for (const uint8_t *p = y; *p && ny <= ZIMG_MAX_LABELS; p += *p + 1) ly[ny++] = p;
    for (int k = ol + 1; k <= nx && k <= ny; k++) {
        const uint8_t *a = lx[nx - k], *c = ly[ny - k];
        int la = a[0], lc = c[0], m = la < lc ? la : lc;
        for (int i = 1; i <= m; i++)
            if (a[i] != c[i]) return a[i] < c[i] ? -1 : 1;
        if (la != lc) return la - lc;
    }
    return nx - ny;
}

/* The index made ahead keeps its nodes in the order they appear, a new name's missing
 * ancestors first: while each comes after the one before in canonical order (a primary
 * walking its tree sends the names so), the list is the canonical order of the nodes
 * and the build does not sort them (order_nodes).  A name out of order ends the list. */
static void seq_push(builder *b, uint32_t id)
{
    if (!b->seq) return;
    if (b->seq_n &&
        name_canonical_cmp(b->names + b->nodes[b->seq[b->seq_n - 1]].name, b->names + b->nodes[id].name,
                           b->ol) >= 0)
        goto drop;
    if (b->seq_n == b->seq_cap) {
        uint32_t *v = realloc(b->seq, (size_t)b->seq_cap * 2 * sizeof *v);
        if (!v) goto drop;
        b->seq = v;
        b->seq_cap *= 2;
    }
    b->seq[b->seq_n++] = id;
    return;
drop:
    free(b->seq);
    b->seq = NULL;
    b->seq_n = b->seq_cap = 0;
}

/* Find or create the node of a lower-case name and all its missing ancestors down to
 * the apex.  lab/hs: label starts and suffix hashes of `lname`. RD_NONE on no memory. */
static uint32_t bnode_of(builder *b, const uint8_t *lname, const uint8_t **lab, const uint32_t *hs, int n)
{
    size_t total = rd_name_len(lname);
    uint32_t id = bfind(b, lname, total, hs[0]);
    if (id != RD_NONE) return id;
    uint32_t off = names_store(b, lname, total);
    if (off == RD_NONE) return RD_NONE;
    id = badd(b, off, total, n, hs[0]);
    if (id == RD_NONE) return RD_NONE;
    uint32_t child = id;
    int made = 1;
    for (int k = 1; k <= n - b->ol; k++) {
        size_t len = total - (size_t)(lab[k] - lname);
        uint32_t p = bfind(b, lab[k], len, hs[k]);
        if (p != RD_NONE) {
            b->nodes[child].parent = p;
            break;
        }
        /* an empty non-terminal (so far): share the child's name bytes */
        p = badd(b, off + (uint32_t)(lab[k] - lname), len, n - k, hs[k]);
        if (p == RD_NONE) return RD_NONE;
        b->nodes[child].parent = p;
        child = p;
        made++;
    }
    /* the nodes made are id, id + 1, ... up the tree: into the list top-down */
    if (b->seq)
        for (int k = made; k-- > 0; ) seq_push(b, id + (uint32_t)k);
    return id;
}

/* ---- canonical order of nodes ---- */

typedef struct skey {
    uint32_t parent;
    uint32_t id;
    uint64_t prefix;           /* first 8 label octets, big-endian, zero padded */
} skey;

static int label_cmp(const uint8_t *x, const uint8_t *y)
{
    int lx = x[0], ly = y[0], m = lx < ly ? lx : ly;
    int c = memcmp(x + 1, y + 1, (size_t)m);
    if (c) return c;
    return lx - ly;
}

static int skey_cmp(const void *pa, const void *pb, void *arg)
{
    const skey *a = pa, *c = pb;
    const builder *b = arg;
    if (a->parent != c->parent) return a->parent < c->parent ? -1 : 1;
    if (a->prefix != c->prefix) return a->prefix < c->prefix ? -1 : 1;
    return label_cmp(b->names + b->nodes[a->id].name, b->names + b->nodes[c->id].name);
}

/* Threads of the build's sort and rrset fill: 0 = two for a big zone on two cores or
 * more, 1 or 2 to choose (tests: the image is the same either way). */
int zimg_build_threads = 0;
enum { SPLIT_MIN_RECORDS = 65536 };   /* below this a thread costs more than it saves */

typedef struct skey_part { skey *s; size_t n; builder *b; } skey_part;

static void *skey_sort_run(void *arg)
{
    skey_part *p = arg;
    qsort_r(p->s, p->n, sizeof *p->s, skey_cmp, p->b);
    return NULL;
}

/* Sort the keys, in two halves on two threads then merged when b->threads is 2: no two
 * keys are equal (one label per parent), so the merge gives the one sorted order. */
static int sort_skeys(builder *b, skey **sp, size_t ns)
{
    skey *s = *sp;
    pthread_t th;
    size_t h = ns / 2;
    skey_part part = { s + h, ns - h, b };
    if (b->threads < 2 || ns < 2 || pthread_create(&th, NULL, skey_sort_run, &part) != 0) {
        qsort_r(s, ns, sizeof *s, skey_cmp, b);
        return 0;
    }
    qsort_r(s, h, sizeof *s, skey_cmp, b);
    pthread_join(th, NULL);
    skey *out = malloc(ns * sizeof *out);
    if (!out) return -1;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < ns) out[k++] = skey_cmp(&s[i], &s[j], b) < 0 ? s[i++] : s[j++];
    while (i < h) out[k++] = s[i++];
    while (j < ns) out[k++] = s[j++];
    free(s);
    *sp = out;
    return 0;
}

/* Returns order[new] = old id (malloc()ed), apex first; NULL on no memory. */
static uint32_t *canonical_order(builder *b, uint32_t apex)
{
    uint32_t nn = b->nn;
    skey *s = malloc((size_t)nn * sizeof *s);
    uint32_t *first = malloc((size_t)nn * sizeof *first);
    uint32_t *count = calloc(nn, sizeof *count);
    uint32_t *order = malloc((size_t)nn * sizeof *order);
    if (!s || !first || !count || !order) goto fail;
    uint32_t ns = 0;
    for (uint32_t id = 0; id < nn; id++) {
        if (id == apex) continue;
        const bnode *nd = &b->nodes[id];
        const uint8_t *lbl = b->names + nd->name;
        uint64_t pre = 0;
        for (int k = 0; k < 8; k++) pre = pre << 8 | (k < lbl[0] ? lbl[1 + k] : 0);
        s[ns].parent = nd->parent;
        s[ns].id = id;
        s[ns].prefix = pre;
        ns++;
    }
    if (sort_skeys(b, &s, ns) != 0) goto fail;
    memset(first, 0xff, (size_t)nn * sizeof *first);
    for (uint32_t j = 0; j < ns; j++) {
        if (first[s[j].parent] == RD_NONE) first[s[j].parent] = j;
        count[s[j].parent]++;
    }
    /* preorder walk: a name, then the subtrees of its children in label order */
    struct { uint32_t next, end; } stack[ZIMG_MAX_LABELS + 1];
    int sp = 0;
    uint32_t no = 0;
    order[no++] = apex;
    stack[0].next = first[apex];
    stack[0].end = first[apex] + count[apex];
    if (count[apex]) sp = 1;
    while (sp > 0) {
        if (stack[sp - 1].next == stack[sp - 1].end) { sp--; continue; }
        uint32_t c = s[stack[sp - 1].next++].id;
        order[no++] = c;
        if (count[c] && sp < ZIMG_MAX_LABELS) {
            stack[sp].next = first[c];
            stack[sp].end = first[c] + count[c];
            sp++;
        }
    }
    free(s);
    free(first);
    free(count);
    if (no != nn) { free(order); return NULL; }   /* cannot happen: every node reaches the apex */
    return order;
fail:
    free(s);
    free(first);
    free(count);
    free(order);
    return NULL;
}

/* ---- records of a node: order by (type, covered, rdata, file position) ---- */

/* How many leading rdata octets are domain names that RFC 4034 6.2 lower-cases in the
 * canonical form (types of RFC 1035 and the ones with names at fixed places), given
 * as [from, to) with to <= 0 meaning "up to rdlen + to". */
static void canonical_name_span(uint16_t type, size_t rdlen, size_t *from, size_t *to)
{
    *from = *to = 0;
    switch (type) {
    case RD_T_NS: case RD_T_CNAME: case RD_T_DNAME: case RD_T_PTR: *to = rdlen; break;
    case RD_T_MX: *from = 2; *to = rdlen; break;
    case RD_T_SRV: *from = 6; *to = rdlen; break;
    case RD_T_SOA: *to = rdlen >= 20 ? rdlen - 20 : 0; break;   /* MNAME RNAME, then numbers */
    default: break;
    }
}

/* RFC 4034 6.3 order of two rdatas of one type in canonical form: octet strings, names
 * lower-cased, a shorter string first when it is a prefix of the other.  (Lower-casing a
 * whole wire name is safe: its length octets are at most 63, below 'A'.) */
static int rdata_canonical_cmp(uint16_t type, const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t af, at, bf, bt;
    canonical_name_span(type, al, &af, &at);
    canonical_name_span(type, bl, &bf, &bt);
    size_t m = al < bl ? al : bl;
    if (at == 0 && bt == 0) {
        int r = memcmp(a, b, m);
        if (r) return r;
    } else {
        for (size_t i = 0; i < m; i++) {
            uint8_t x = (i >= af && i < at) ? rd_lower(a[i]) : a[i];
            uint8_t y = (i >= bf && i < bt) ? rd_lower(b[i]) : b[i];
            if (x != y) return x < y ? -1 : 1;
        }
    }
    return al < bl ? -1 : al > bl;
}

int zimg_rdata_cmp(uint16_t type, const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    return rdata_canonical_cmp(type, a, al, b, bl);
}

static int rec_cmp(const void *pa, const void *pb, void *arg)
{
    const builder *b = arg;
    uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
    const rd_rr *a = &b->l->rr[ia], *c = &b->l->rr[ib];
    if (a->type != c->type) return a->type < c->type ? -1 : 1;
    uint16_t ca = rr_covered(b, a), cc = rr_covered(b, c);
    if (ca != cc) return ca < cc ? -1 : 1;
    int r = rdata_canonical_cmp(a->type, rr_rdata(b, a), a->rdlen, rr_rdata(b, c), c->rdlen);
    if (r) return r;
    return ia < ib ? -1 : ia > ib;
}

static void sort_records(builder *b, uint32_t *v, size_t n)
{
    if (n > 12) {
        qsort_r(v, n, sizeof *v, rec_cmp, b);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t x = v[i];
        size_t j = i;
        while (j > 0 && rec_cmp(&v[j - 1], &x, b) > 0) { v[j] = v[j - 1]; j--; }
        v[j] = x;
    }
}

static int same_rdata(const builder *b, uint32_t ia, uint32_t ib)
{
    const rd_rr *a = &b->l->rr[ia], *c = &b->l->rr[ib];
    /* RFC 2181 5: duplicates are records equal in canonical form ("NS A." and "NS a."
       are one record, as BIND and dnspython see it); the first in the file stays */
    return a->rdlen == c->rdlen &&
           rdata_canonical_cmp(a->type, rr_rdata(b, a), a->rdlen, rr_rdata(b, c), c->rdlen) == 0;
}

/* Types whose targets' addresses go to the additional section: NS, MX (RFC 1035 3.3.9,
 * 3.3.11), SRV (RFC 2782), SVCB/HTTPS (RFC 9460 4.3, as Knot does; a "." target, the
 * owner itself in ServiceMode, is not resolved, like Knot). */
static int has_additional(uint16_t type)
{
    return type == RD_T_NS || type == RD_T_MX || type == RD_T_SRV ||
           type == RD_T_SVCB || type == RD_T_HTTPS;
}

static void builder_free(builder *b)
{
    free(b->seq);
    free(b->nodes);
    tab_free(b);
    free(b->names);
    free(b->rec_node);
    free(b->order);
    free(b->perm);
    free(b->ord);
    free(b->nstart);
    free(b->dup);
    free(b->brs);
    free(b->ck);
}

static size_t align8(size_t x) { return (x + 7) & ~(size_t)7; }

/* 1a. The owner index, empty but for the apex: its table sized for n records (one
 * that grows as records come: zimg_index_more) and its record -> node map. */
static int index_begin(builder *b, size_t n)
{
    uint32_t tsize = 1024;
    while (tsize < n * 2 && tsize < (1u << 31)) tsize *= 2;
    b->tab = tab_new(b, tsize);
    b->tmask = tsize - 1;
    b->rec_cap = n ? n : 1;
    b->rec_node = malloc(b->rec_cap * sizeof *b->rec_node);
    if (!b->tab || !b->rec_node) return -1;
    const uint8_t *lab[ZIMG_MAX_LABELS + 1];
    uint32_t hs[ZIMG_MAX_LABELS + 1];
    int on = zimg_name_index(b->origin, lab, hs);
    uint32_t off0 = names_store(b, b->origin, b->olen);
    if (off0 == RD_NONE) return -1;
    b->apex = badd(b, off0, b->olen, on, hs[0]);
    if (b->apex == RD_NONE) return -1;
    if (b->seq) b->seq[b->seq_n++] = b->apex;    /* the index made ahead's list */
    return 0;
}

static int group_node(builder *b, uint32_t s0, uint32_t s1);

/* The grouping made ahead given up (records not grouped by name in canonical order, or
 * one the build reports): the build groups them all itself. */
static void group_ahead_drop(builder *b)
{
    b->grp = 0;
    free(b->ord); b->ord = NULL;
    free(b->dup); b->dup = NULL;
    free(b->nstart); b->nstart = NULL;
    free(b->brs); b->brs = NULL;
    free(b->ck); b->ck = NULL;
    b->nrs = b->brs_cap = b->ck_n = b->ck_cap = b->ord_cap = 0;
    b->nstart_cap = 0;
}

/* The records of the name that was coming, [grp_s, end): grouped as the build's stage
 * 3 groups the records of a node (their place in ord is their place in the list: every
 * name before them has all its records before them).  0, -1 on no memory, 1: given up. */
static int group_ahead_close(builder *b, size_t end)
{
    if (end > b->ord_cap) {
        size_t cap = b->ord_cap * 2;
        while (cap < end) cap *= 2;
        uint32_t *o = realloc(b->ord, cap * sizeof *o);
        if (o) b->ord = o;
        uint8_t *d = o ? realloc(b->dup, cap) : NULL;
        if (d) b->dup = d;
        if (!o || !d) return -1;
        b->ord_cap = cap;
    }
    for (size_t k = b->grp_s; k < end; k++) {
        b->ord[k] = (uint32_t)k;
        b->dup[k] = 0;
    }
    b->nstart[b->grp_pos] = (uint32_t)b->nrs;
    return group_node(b, (uint32_t)b->grp_s, (uint32_t)end);
}

/* Record i's owner is node id, not the one whose records were coming: the grouping
 * goes on only when id is a name this record made (with its missing ancestors, nodes
 * nn0 on, canonical places sq0 on), the next in canonical order.  Else, or out of
 * memory, it is given up (the owner index goes on). */
static void group_ahead_next(builder *b, size_t i, uint32_t id, uint32_t nn0, uint32_t sq0)
{
    if (!b->seq || id < nn0 || b->seq[b->seq_n - 1] != id || group_ahead_close(b, i) != 0) {
        group_ahead_drop(b);
        return;
    }
    if (b->seq_n + 1 > b->nstart_cap) {
        uint32_t cap = b->nstart_cap * 2;
        while (cap < b->seq_n + 1) cap *= 2;
        uint32_t *v = realloc(b->nstart, (size_t)cap * sizeof *v);
        if (!v) { group_ahead_drop(b); return; }
        b->nstart = v;
        b->nstart_cap = cap;
    }
    for (uint32_t pos = sq0; pos + 1 < b->seq_n; pos++)
        b->nstart[pos] = (uint32_t)b->nrs;          /* empty non-terminals: no rrsets */
    b->grp_node = id;
    b->grp_pos = b->seq_n - 1;
    b->grp_s = i;
}

/* A record index_range would report: the index built ahead gives up (the build then
 * indexes every record itself, with its messages in order). */
#define AHEAD_GIVES_UP(b) do { if ((b)->ahead) return 1; } while (0)

/* 1b. Index the owners (and their ancestors) of records [from, to); drop and report
 * records that cannot be served.  Returns -1 when out of memory, 1 when an index built
 * ahead meets a record to report. */
static int index_range(builder *b, size_t from, size_t to)
{
    const rd_rrlist *l = b->l;
    char nb[RD_NAME_MAX * 4 + 1], nb2[RD_NAME_MAX * 4 + 1], tb[16];
    const uint8_t *lab[ZIMG_MAX_LABELS + 1];
    uint32_t hs[ZIMG_MAX_LABELS + 1];
    if (to > b->rec_cap) {
        size_t cap = b->rec_cap * 2;
        while (cap < to) cap *= 2;
        uint32_t *v = realloc(b->rec_node, cap * sizeof *v);
        if (!v) return -1;
        b->rec_node = v;
        b->rec_cap = cap;
    }
    uint32_t *rec_node = b->rec_node;
    for (size_t i = from; i < to; i++) {
        const rd_rr *rr = &l->rr[i];
        rec_node[i] = RD_NONE;
        if (rr->flags & RD_RR_TEXT_RDATA) {
            AHEAD_GIVES_UP(b);
            zb_msg(b, RD_MSG_ERROR, rr, "rdata of %s left unencoded", zb_type_text(rr->type, tb, sizeof tb));
            continue;
        }
        if (!arena_name_ok(l, rr->owner) || (size_t)rr->rdata + rr->rdlen > l->alen) {
            AHEAD_GIVES_UP(b);
            zb_msg(b, RD_MSG_ERROR, rr, "malformed record");
            continue;
        }
        const uint8_t *owner = rr_owner(b, rr);
        /* zone files list a name's records together: reuse the previous record's node
           when the owner is byte-for-byte the same (skips lowering and hashing) */
        if (i > 0 && rec_node[i - 1] != RD_NONE && rr->rclass == RD_C_IN &&
            (l->rr[i - 1].owner == rr->owner ||
             memcmp(rr_owner(b, &l->rr[i - 1]), owner, rd_name_len(owner)) == 0) &&
            zimg_rdata_check(rr->type, rr_rdata(b, rr), rr->rdlen) == 0) {
            rec_node[i] = rec_node[i - 1];
            continue;
        }
        if (rr->rclass != RD_C_IN) {
            AHEAD_GIVES_UP(b);
            zb_msg(b, RD_MSG_ERROR, rr, "%s: class %u, only class IN zones are served",
                   rd_name_to_text(owner, nb, sizeof nb), rr->rclass);
            continue;
        }
        uint8_t lname[RD_NAME_MAX + 1];
        rd_name_lower_copy(lname, owner);
        int nl = zimg_name_index(lname, lab, hs);
        if (nl < b->ol || memcmp(lab[nl - b->ol], b->origin, b->olen) != 0) {
            /* named-checkzone and Knot both warn and drop such records */
            AHEAD_GIVES_UP(b);
            zb_msg(b, RD_MSG_WARNING, rr, "%s: out of zone (not at or below %s), ignored",
                   rd_name_to_text(owner, nb, sizeof nb), rd_name_to_text(b->origin, nb2, sizeof nb2));
            continue;
        }
        if (zimg_rdata_check(rr->type, rr_rdata(b, rr), rr->rdlen) != 0) {
            AHEAD_GIVES_UP(b);
            zb_msg(b, RD_MSG_ERROR, rr, "%s: malformed %s rdata",
                   rd_name_to_text(owner, nb, sizeof nb), zb_type_text(rr->type, tb, sizeof tb));
            continue;
        }
        uint32_t nn0 = b->nn, sq0 = b->seq_n;
        uint32_t id = bnode_of(b, lname, lab, hs, nl);
        if (id == RD_NONE) return -1;
        rec_node[i] = id;
        if (b->grp && id != b->grp_node) group_ahead_next(b, i, id, nn0, sq0);
    }
    b->indexed = to;
    return 0;
}

/* 1. Index every owner (and its ancestors).  Returns -1 when out of memory. */
static int index_owners(builder *b)
{
    if (index_begin(b, b->l->n) != 0) return -1;
    return index_range(b, 0, b->l->n);
}

/* ---- the owner index built ahead, while a transfer is received ---- */

zimg_index *zimg_index_new(const uint8_t *origin, const rd_rrlist *l)
{
    builder *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->l = l;
    b->ahead = 1;
    rd_name_lower_copy(b->origin, origin);
    b->olen = rd_name_len(b->origin);
    b->ol = rd_name_labels(b->origin);
    /* Sized for twice the records so far, all at once: arrays that start small and
       double on the heap of the receiving thread leave holes there that stay resident
       (+0.2 MB peak for a 1M-record secondary); from this size on they are mappings
       that grow by moving pages (glibc's realloc of a mapped block). */
    size_t hint = l->n > 512 ? 2 * l->n : 1024;
    b->ncap = (uint32_t)hint;
    b->nodes = malloc(hint * sizeof *b->nodes);
    b->names_cap = hint * 16;
    b->names = malloc(b->names_cap);
    b->seq_cap = (uint32_t)hint;
    b->seq = malloc(hint * sizeof *b->seq);
    if (!b->nodes || !b->names || !b->seq || index_begin(b, hint) != 0) {
        zimg_index_free(b);
        return NULL;
    }
    /* stage 3 ahead, the apex's records first (sized alike); without room, not ahead */
    b->ord_cap = hint;
    b->ord = malloc(hint * sizeof *b->ord);
    b->dup = malloc(hint);
    b->nstart_cap = (uint32_t)hint;
    b->nstart = malloc(hint * sizeof *b->nstart);
    b->brs_cap = hint;
    b->brs = malloc(hint * sizeof *b->brs);
    b->grp = b->ord && b->dup && b->nstart && b->brs;
    if (!b->grp) group_ahead_drop(b);
    b->grp_node = b->apex;
    b->grp_pos = 0;
    b->grp_s = 0;
    return b;
}

int zimg_index_more(zimg_index *b, size_t max)
{
    if (b->gave_up) return -1;
    size_t to = b->l->n - b->indexed > max ? b->indexed + max : b->l->n;
    if (b->indexed < to && index_range(b, b->indexed, to) != 0) {
        /* out of memory or a record to report: the build indexes them all itself */
        b->gave_up = 1;
        tab_free(b);
        free(b->rec_node); b->rec_node = NULL;
        free(b->nodes); b->nodes = NULL;
        free(b->names); b->names = NULL;
        free(b->seq); b->seq = NULL;
        group_ahead_drop(b);
        return -1;
    }
    return b->indexed < b->l->n;
}

int zimg_index_grouping(const zimg_index *b)
{
    return b && !b->gave_up && b->grp;
}

void zimg_index_free(zimg_index *b)
{
    if (!b) return;
    builder_free(b);
    free(b);
}

/* Take the index built ahead when it holds every record of b->l, in b's origin: the
 * same nodes in the same order as index_owners would make (build ids are in record
 * order either way; only the table's size may differ, and it is freed before layout). */
static int take_index(builder *b, zimg_index *ix)
{
    /* the records that came while the receiving thread had no time for them */
    if (ix && ix->l == b->l && !ix->gave_up) zimg_index_more(ix, (size_t)-1);
    if (!ix || ix->gave_up || ix->l != b->l || ix->indexed != b->l->n || ix->olen != b->olen ||
        memcmp(ix->origin, b->origin, b->olen) != 0)
        return 0;
    b->nodes = ix->nodes; b->nn = ix->nn; b->ncap = ix->ncap;
    b->tab = ix->tab; b->tmask = ix->tmask;
    b->tab_mapped = ix->ahead;       /* tab_free: how it was made */
    b->names = ix->names; b->names_len = ix->names_len; b->names_cap = ix->names_cap;
    b->rec_node = ix->rec_node; b->rec_cap = ix->rec_cap;
    if (b->rec_cap > b->l->n && b->l->n) {
        /* the map grew by doubling: what index_owners would hold, not up to twice it */
        uint32_t *v = realloc(b->rec_node, b->l->n * sizeof *v);
        if (v) { b->rec_node = v; b->rec_cap = b->l->n; }
    }
    b->apex = ix->apex;
    b->indexed = ix->indexed;
    if (ix->seq && ix->seq_n == ix->nn) {
        b->seq = ix->seq; b->seq_n = ix->seq_n; b->seq_cap = ix->seq_cap;
        ix->seq = NULL;
        /* the last name's records, then stage 3 as it was made: the arrays cut to what
           group_rrsets holds (a stored array moves its pages, not its bytes) */
        if (ix->grp && group_ahead_close(ix, b->l->n) == 0) {
            size_t n = b->l->n ? b->l->n : 1;
            uint32_t *o = realloc(ix->ord, n * sizeof *o);
            if (o) ix->ord = o;
            uint8_t *d = realloc(ix->dup, n);
            if (d) ix->dup = d;
            uint32_t *s = realloc(ix->nstart, ((size_t)b->nn + 1) * sizeof *s);
            if (s) ix->nstart = s;
            if (s) {
                b->grouped = 1;
                b->ord = ix->ord; b->dup = ix->dup; b->nstart = ix->nstart;
                b->nstart[b->nn] = (uint32_t)ix->nrs;
                b->brs = ix->brs; b->nrs = ix->nrs; b->brs_cap = ix->brs_cap;
                b->ck = ix->ck; b->ck_n = ix->ck_n; b->ck_cap = ix->ck_cap;
                b->rdata_total = ix->rdata_total; b->records = ix->records;
                b->addl_max = ix->addl_max;
                ix->ord = NULL; ix->dup = NULL; ix->nstart = NULL; ix->brs = NULL; ix->ck = NULL;
            }
        }
    }
    ix->nodes = NULL; ix->tab = NULL; ix->names = NULL; ix->rec_node = NULL;
    ix->gave_up = 1;    /* used up */
    return 1;
}

/* 2. Canonical order: order[final] = build id, perm[build id] = final. */
static int order_nodes(builder *b)
{
    if (b->seq && b->seq_n == b->nn && b->seq[0] == b->apex) {
        /* the index made ahead met the names in canonical order: that is the order
           (the list's room, grown by doubling, cut to what canonical_order holds) */
        uint32_t *v = realloc(b->seq, (size_t)b->nn * sizeof *v);
        b->order = v ? v : b->seq;
        b->seq = NULL;
    } else {
        free(b->seq);
        b->seq = NULL;
        b->order = canonical_order(b, b->apex);
    }
    b->perm = malloc((size_t)b->nn * sizeof *b->perm);
    if (!b->order || !b->perm) return -1;
    for (uint32_t v = 0; v < b->nn; v++) b->perm[b->order[v]] = v;
    return 0;
}

enum { CK_EVERY = 1024 };   /* rrsets between two of place_marks' checkpoints */

/* The records ord[s0, s1) of one node (in record order): sorted by (type, covered,
 * rdata), cut into rrsets, duplicates marked (RFC 2181 5).  Returns 0, -1 when out of
 * memory, 1 when a message stops it (the build reports it and fails; the grouping made
 * ahead gives up instead, for the build to do it again with its messages). */
static int group_node(builder *b, uint32_t s0, uint32_t s1)
{
    const rd_rrlist *l = b->l;
    uint32_t *ord = b->ord;
    size_t first_rs = b->nrs;
    char nb[RD_NAME_MAX * 4 + 1], tb[16];
    sort_records(b, ord + s0, s1 - s0);
    for (uint32_t s = s0; s < s1; ) {
        const rd_rr *r0 = &l->rr[ord[s]];
        uint16_t cov = rr_covered(b, r0);
        uint32_t e = s + 1;
        while (e < s1 && l->rr[ord[e]].type == r0->type && rr_covered(b, &l->rr[ord[e]]) == cov) e++;
        if (b->nrs == b->brs_cap) {
            brrset *nv = realloc(b->brs, 2 * b->brs_cap * sizeof *nv);
            if (!nv) return -1;
            b->brs = nv;
            b->brs_cap *= 2;
        }
        if (b->nrs % CK_EVERY == 0) {
            if (b->ck_n == b->ck_cap) {
                size_t cap = b->ck_cap ? 2 * b->ck_cap : 64;
                uint64_t (*v)[2] = realloc(b->ck, cap * sizeof *v);
                if (!v) return -1;
                b->ck = v;
                b->ck_cap = cap;
            }
            b->ck[b->ck_n][0] = b->rdata_total;
            b->ck[b->ck_n++][1] = b->addl_max;
        }
        brrset *g = &b->brs[b->nrs++];
        g->first = s;
        g->end = e;
        g->min_rec = ord[s];
        uint32_t kept = 0;
        for (uint32_t k = s; k < e; k++) {
            if (ord[k] < g->min_rec) g->min_rec = ord[k];
            if (k > s && same_rdata(b, ord[k - 1], ord[k])) { b->dup[ord[k]] = 1; continue; }
            kept++;
            b->rdata_total += 2 + (uint64_t)l->rr[ord[k]].rdlen;
        }
        b->records += kept;
        if (has_additional(r0->type)) b->addl_max += kept;
        if (kept > 0xffff) {
            if (b->ahead) return 1;
            zb_msg(b, RD_MSG_ERROR, r0, "%s %s: RRset of %u records is too large",
                   rd_name_to_text(rr_owner(b, r0), nb, sizeof nb),
                   zb_type_text(r0->type, tb, sizeof tb), kept);
        }
        s = e;
    }
    if (b->nrs - first_rs > 0xffff) {
        if (b->ahead) return 1;
        zb_msg(b, RD_MSG_ERROR, NULL, "too many RRsets at one name");
        return 1;
    }
    return 0;
}

/* The first rrset at or past `from` whose records start at or past record `at` of ord
 * (b->nrs: none); the rrsets start in increasing order. */
static size_t rrset_at(const builder *b, size_t from, uint64_t at)
{
    size_t lo = from, hi = b->nrs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->brs[mid].first < at) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* rdata octets and additional entries (at most) of the rrsets before rrset gi: from
 * the checkpoint before it, the kept records of the rrsets between. */
static void totals_before(const builder *b, size_t gi, uint64_t *rdata, uint32_t *addl)
{
    size_t k = gi / CK_EVERY;
    uint64_t r = b->ck[k][0], a = b->ck[k][1];
    for (size_t g = k * CK_EVERY; g < gi; g++) {
        const brrset *br = &b->brs[g];
        uint32_t kept = 0;
        for (uint32_t j = br->first; j < br->end; j++) {
            if (b->dup[b->ord[j]]) continue;
            kept++;
            r += 2 + (uint64_t)b->l->rr[b->ord[j]].rdlen;
        }
        if (has_additional(b->l->rr[b->ord[br->first]].type)) a += kept;
    }
    *rdata = r;
    *addl = (uint32_t)a;
}

/* Where the fill's second half starts (the first rrset past half the `total` records
 * grouped, the first rrset aside) and link_targets' parts (the first rrset at each
 * 32nd of them): found once the rrsets are cut, from the checkpoints. */
static void place_marks(builder *b, uint64_t total)
{
    uint64_t half = total / 2 ? total / 2 : 1;
    size_t gi = rrset_at(b, 1, half);
    if (gi < b->nrs) {
        uint32_t unused;
        b->split_rs = gi;
        totals_before(b, gi, &b->split_rdata, &unused);
    }
    for (unsigned m = 1; m < ADDL_MARKS; m++) {
        gi = rrset_at(b, 0, total * m / ADDL_MARKS);
        if (gi >= b->nrs) break;                       /* not reached: 0 */
        uint64_t unused;
        b->mark_rs[m] = (uint32_t)gi;
        totals_before(b, gi, &unused, &b->mark_addl[m]);
    }
}

/* 3. Records by node (counting sort), then by (type, covered, rdata) within each node,
 * cut into rrsets.  Afterwards nstart[v] is node v's first rrset.  A transfer's records
 * that came grouped by name in canonical order were cut as they came (group_ahead). */
static int group_rrsets(builder *b)
{
    const rd_rrlist *l = b->l;
    size_t n = l->n;
    uint32_t nn = b->nn;
    if (b->grouped) {
        tab_free(b);
        free(b->rec_node); b->rec_node = NULL;
        place_marks(b, n);
        return 0;
    }
    b->nstart = calloc((size_t)nn + 1, sizeof *b->nstart);
    b->ord = malloc((n ? n : 1) * sizeof *b->ord);
    b->dup = calloc(n ? n : 1, 1);
    if (!b->nstart || !b->ord || !b->dup) return -1;
    uint32_t *nstart = b->nstart, *ord = b->ord, *perm = b->perm, *rec_node = b->rec_node;
    for (size_t i = 0; i < n; i++)
        if (rec_node[i] != RD_NONE) nstart[perm[rec_node[i]] + 1]++;
    for (uint32_t v = 0; v < nn; v++) nstart[v + 1] += nstart[v];
    uint32_t *fill = malloc(((size_t)nn + 1) * sizeof *fill);
    if (!fill) return -1;
    memcpy(fill, nstart, ((size_t)nn + 1) * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        if (rec_node[i] != RD_NONE) ord[fill[perm[rec_node[i]]]++] = (uint32_t)i;
    free(fill);
    /* owners are all indexed: the build index and the record->node map are done with */
    tab_free(b);
    free(b->rec_node); b->rec_node = NULL;

    uint64_t total = nstart[nn];
    b->brs_cap = 1024;
    b->brs = malloc(b->brs_cap * sizeof *b->brs);
    if (!b->brs) return -1;
    for (uint32_t v = 0; v < nn; v++) {
        uint32_t s0 = nstart[v], s1 = nstart[v + 1];   /* read before nstart[v] is reused */
        nstart[v] = (uint32_t)b->nrs;
        int rc = group_node(b, s0, s1);
        if (rc < 0) return -1;
        if (rc > 0) return 0;                          /* reported: the build fails */
    }
    nstart[nn] = (uint32_t)b->nrs;
    place_marks(b, total);
    return 0;
}

/* 4. The image buffer and its header.  Sizes are known now except the additional
 * lists, which go last with their upper bound (one entry per NS/MX/SRV/SVCB/HTTPS
 * record) and are trimmed at the end. */
static int layout(builder *b)
{
    uint32_t nn = b->nn;
    /* names: a node with children borrows the tail of a child's name, so only names of
       leaves take bytes */
    uint8_t *has_child = calloc(nn, 1);
    if (!has_child) return -1;
    for (uint32_t id = 0; id < nn; id++)
        if (b->nodes[id].parent != RD_NONE) has_child[b->nodes[id].parent] = 1;
    size_t names_bytes = 0;
    for (uint32_t id = 0; id < nn; id++)
        if (!has_child[id]) names_bytes += b->nodes[id].name_len;
    free(has_child);
    uint32_t hsize = 16;
    while (hsize < (uint64_t)nn * 2) hsize *= 2;
    size_t o_nodes = align8(sizeof(struct zimg));
    size_t o_rrsets = align8(o_nodes + (size_t)nn * sizeof(znode));
    size_t o_hash = align8(o_rrsets + b->nrs * sizeof(zrrset));
    size_t o_names = align8(o_hash + (size_t)hsize * 4);
    size_t o_rdata = o_names + names_bytes;
    size_t o_addl = align8(o_rdata + b->rdata_total);
    /* align8: link_targets pads the end of the addl array to 8 bytes (b->total) */
    size_t total = align8(o_addl + b->addl_max * 4);
    if (total > 0xfffffff0u) {
        zb_msg(b, RD_MSG_ERROR, NULL, "zone too large for one image");
        return 0;
    }
    zimg *z = zimg_alloc(total);
    if (!z) return -1;
    uint8_t *base = (uint8_t *)z;
    memset(z, 0, o_nodes);
    memcpy(z->magic, ZIMG_MAGIC, 8);
    z->version = ZIMG_VERSION;
    z->endian = ZIMG_ENDIAN_TAG;
    z->hdr_size = sizeof(struct zimg);
    z->node_count = nn;
    z->rrset_count = (uint32_t)b->nrs;
    z->record_count = (uint32_t)b->records;
    z->apex = 0;
    z->origin_labels = (uint32_t)b->ol;
    z->nodes_off = (uint32_t)o_nodes;
    z->rrsets_off = (uint32_t)o_rrsets;
    z->hash_off = (uint32_t)o_hash;
    z->hash_mask = hsize - 1;
    z->names_off = (uint32_t)o_names;
    z->names_len = (uint32_t)names_bytes;
    z->rdata_off = (uint32_t)o_rdata;
    z->rdata_len = (uint32_t)b->rdata_total;
    z->addl_off = (uint32_t)o_addl;
    /* the gaps that alignment leaves must not carry stale heap bytes into files */
    memset(base + o_nodes + (size_t)nn * sizeof(znode), 0, o_rrsets - o_nodes - (size_t)nn * sizeof(znode));
    memset(base + o_rrsets + b->nrs * sizeof(zrrset), 0, o_hash - o_rrsets - b->nrs * sizeof(zrrset));
    memset(base + o_rdata + b->rdata_total, 0, o_addl - o_rdata - b->rdata_total);
    b->z = z;
    b->base = base;
    b->fn = (znode *)(base + o_nodes);
    b->rs = (zrrset *)(base + o_rrsets);
    b->o_names = o_names;
    b->o_rdata = o_rdata;
    b->o_addl = o_addl;
    b->total = total;
    b->hsize = hsize;
    return 0;
}

/* The TTL warning of an rrset whose records' TTLs differ (RFC 2181 5.2). */
static void ttl_warning(builder *b, const zrrset *r, const brrset *br, uint32_t first_diff)
{
    char nb[RD_NAME_MAX * 4 + 1], tb[16];
    const rd_rrlist *l = b->l;
    const rd_rr *d = &l->rr[first_diff];
    zb_msg(b, RD_MSG_WARNING, d,
           "%s %s: TTL %u differs from TTL %u of the RRset's first record; "
           "using %u, the last one's (RFC 2181 5.2)",
           rd_name_to_text(rr_owner(b, d), nb, sizeof nb),
           zb_type_text(d->type, tb, sizeof tb), d->ttl, l->rr[br->min_rec].ttl, r->ttl);
}

/* The rrset records [g0, g1) and their rdata from rdp on, duplicates left out.  With
 * `warn` the TTL warnings are reported; without, the first rrset that has one is
 * returned (RD_NONE: none), for the caller to report in order. */
static size_t fill_rrsets_range(builder *b, size_t g0, size_t g1, uint8_t *rdp, int warn)
{
    const rd_rrlist *l = b->l;
    const uint32_t *ord = b->ord;
    size_t warned = RD_NONE;
    for (size_t gi = g0; gi < g1; gi++) {
        const brrset *br = &b->brs[gi];
        zrrset *r = &b->rs[gi];
        const rd_rr *r0 = &l->rr[ord[br->first]];
        memset(r, 0, sizeof *r);
        r->type = r0->type;
        r->covered = rr_covered(b, r0);
        r->rrsig = RD_NONE;
        r->addl_off = RD_NONE;
        r->rdata_off = (uint32_t)(rdp - b->base);
        /* RFC 2181 5.2: one TTL per RRset.  Like Knot's zone loader, the TTL of the
           record that comes last in the file wins (Knot logs "TTL mismatch ... TTL set
           to" the newest record's TTL); a warning names the first differing record. */
        uint32_t last = ord[br->first], first_diff = RD_NONE;
        uint32_t count = 0;
        for (uint32_t k = br->first; k < br->end; k++) {
            uint32_t i = ord[k];
            const rd_rr *rr = &l->rr[i];
            if (i > last) last = i;
            if (rr->ttl != l->rr[br->min_rec].ttl && (first_diff == RD_NONE || i < first_diff))
                first_diff = i;
            if (b->dup[i]) continue;
            count++;
            *rdp++ = (uint8_t)(rr->rdlen >> 8);
            *rdp++ = (uint8_t)rr->rdlen;
            memcpy(rdp, rr_rdata(b, rr), rr->rdlen);
            rdp += rr->rdlen;
        }
        r->ttl = l->rr[last].ttl;
        r->count = (uint16_t)count;
        r->rdata_len = (uint32_t)((rdp - b->base) - r->rdata_off);
        if (first_diff != RD_NONE) {
            if (warn) ttl_warning(b, r, br, first_diff);
            else if (warned == (size_t)RD_NONE) warned = gi;
        }
    }
    return warned;
}

typedef struct fill_part { builder *b; size_t g0, g1; uint8_t *rdp; size_t warned; } fill_part;

static void *fill_part_run(void *arg)
{
    fill_part *p = arg;
    p->warned = fill_rrsets_range(p->b, p->g0, p->g1, p->rdp, 0);
    return NULL;
}

/* The rrset records and their rdata, duplicates left out: in two halves on two threads
 * when b->threads is 2 (group_rrsets noted where the second half's rdata starts); the
 * second half's warnings are reported after the first's, in rrset order as alone. */
static void fill_rrsets(builder *b)
{
    uint8_t *rdp = b->base + b->o_rdata;
    pthread_t th;
    fill_part part = { b, b->split_rs, b->nrs, rdp + b->split_rdata, RD_NONE };
    if (b->threads < 2 || !b->split_rs ||
        pthread_create(&th, NULL, fill_part_run, &part) != 0) {
        fill_rrsets_range(b, 0, b->nrs, rdp, 1);
        return;
    }
    fill_rrsets_range(b, 0, b->split_rs, rdp, 1);
    pthread_join(th, NULL);
    if (part.warned == (size_t)RD_NONE) return;
    /* rare (a zone whose rrsets mix TTLs): the warnings of the second half, again */
    const rd_rrlist *l = b->l;
    for (size_t gi = part.warned; gi < b->nrs; gi++) {
        const brrset *br = &b->brs[gi];
        uint32_t first_diff = RD_NONE;
        for (uint32_t k = br->first; k < br->end; k++) {
            uint32_t i = b->ord[k];
            if (l->rr[i].ttl != l->rr[br->min_rec].ttl && (first_diff == RD_NONE || i < first_diff))
                first_diff = i;
        }
        if (first_diff != RD_NONE) ttl_warning(b, &b->rs[gi], br, first_diff);
    }
}

/* Node records (index order in, canonical order out), names, flags and links (parents
 * first), and the hash index. */
static int fill_nodes(builder *b)
{
    uint32_t nn = b->nn;
    znode *fn = b->fn;
    uint8_t *base = b->base;
    /* what each node keeps from the index, read in index order and scattered to the
       canonical places (sequential reads, independent writes: cache friendly); name_off
       holds the name's place in the index until the names are laid out */
    for (uint32_t id = 0; id < nn; id++) {
        const bnode *bn = &b->nodes[id];
        znode *nd = &fn[b->perm[id]];
        nd->name_off = bn->name;
        nd->hash = bn->hash;
        nd->name_len = bn->name_len;
        nd->labels = bn->labels;
        nd->parent = bn->parent == RD_NONE ? RD_NONE : b->perm[bn->parent];
        const uint8_t *nm = b->names + bn->name;
        nd->flags = (nm[0] == 1 && nm[1] == '*') ? ZN_WILDCARD : 0;
    }
    /* names in reverse canonical order, children before parents: a parent's name is the
       tail of a child's.  Loading walks the nodes forwards and so reads these names in
       one sweep, which keeps validation of a big image fast. */
    uint32_t *placed = calloc(nn, sizeof *placed);     /* 0: not placed yet */
    if (!placed) return -1;
    size_t npos = b->o_names;
    for (uint32_t v = nn; v-- > 0; ) {
        znode *nd = &fn[v];
        if (placed[v] == 0) {
            memcpy(base + npos, b->names + nd->name_off, nd->name_len);
            placed[v] = (uint32_t)npos;
            npos += nd->name_len;
        }
        nd->name_off = placed[v];
        if (nd->parent != RD_NONE && placed[nd->parent] == 0)
            placed[nd->parent] = nd->name_off + 1 + base[nd->name_off];
    }
    free(placed);
    for (uint32_t v = 0; v < nn; v++) {
        znode *nd = &fn[v];
        nd->rrset_first = b->nstart[v];
        nd->rrset_count = (uint16_t)(b->nstart[v + 1] - b->nstart[v]);
        nd->cut = nd->dname = nd->wild = RD_NONE;
        uint32_t f = nd->flags & ZN_WILDCARD;
        zrrset *r = b->rs + nd->rrset_first;
        for (unsigned k = 0; k < nd->rrset_count; k++) {
            if (r[k].type == RD_T_NS && v != 0) f |= ZN_CUT;
            if (r[k].type == RD_T_DNAME) f |= ZN_DNAME;
            if (r[k].type == RD_T_CNAME) f |= ZN_CNAME;
            if (r[k].type != RD_T_RRSIG) continue;
            /* RRSIG rrsets point from the rrsets they cover */
            for (unsigned j = 0; j < nd->rrset_count; j++)
                if (r[j].type == r[k].covered && r[j].type != RD_T_RRSIG)
                    r[j].rrsig = nd->rrset_first + k;
        }
        if (v == 0) f |= ZN_APEX;
        if (nd->rrset_count == 0) f |= ZN_ENT;
        if (nd->parent != RD_NONE) {
            znode *p = &fn[nd->parent];
            if (p->flags & (ZN_CUT | ZN_BELOW_CUT)) f |= ZN_BELOW_CUT;
            if (p->flags & (ZN_DNAME | ZN_BELOW_DNAME)) f |= ZN_BELOW_DNAME;
            nd->cut = p->cut;
            nd->dname = p->dname != RD_NONE ? p->dname : ((p->flags & ZN_DNAME) ? nd->parent : RD_NONE);
            if (f & ZN_WILDCARD) {
                p->wild = v;
                p->flags |= ZN_HAS_WILD;
            }
        }
        if (nd->cut == RD_NONE && (f & ZN_CUT)) nd->cut = v;
        nd->flags = f;
    }
    uint32_t *tab = (uint32_t *)(base + b->z->hash_off);
    uint32_t mask = b->hsize - 1;
    memset(tab, 0xff, (size_t)b->hsize * 4);
    for (uint32_t v = 0; v < nn; v++) {
        uint32_t i = fn[v].hash & mask;
        while (tab[i] != RD_NONE) i = (i + 1) & mask;
        tab[i] = v;
    }
    return 0;
}

/* The owner of a record as written, or once the records are given back, the name of
 * the node of rrset gi (lower-case): the last node whose rrsets start at or before it. */
static const uint8_t *rr_owner_or_node(const builder *b, const rd_rr *rr, size_t gi)
{
    if (rr) return rr_owner(b, rr);
    uint32_t lo = 0, hi = b->nn;               /* fn[lo].rrset_first <= gi < fn[hi]'s */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b->fn[mid].rrset_first <= gi) lo = mid; else hi = mid;
    }
    return b->base + b->fn[lo].name_off;
}

/* How link_range treats the rrsets it is given. */
enum {
    LINK_ALL,      /* additional lists and messages */
    LINK_QUIET,    /* lists only; the first rrset with a message is noted (two threads) */
    LINK_MSGS,     /* messages only (a part done quietly, again, after the threads) */
};

/* 5. Additional-section lists of NS/MX/SRV/SVCB/HTTPS, and the missing-glue check, for
 * rrsets [g0, g1), their lists written from addl entry a0 on (the entry past the last is
 * returned; with `linked`, each rrset given a list is noted at its list's first entry):
 * both resolve each target with a lookup in the image itself, and read the target from
 * the image's copy of the rdata (the rrset's records in order, duplicates left out), so
 * that zimg_build_consume has given the records back by now. */
static size_t link_range(builder *b, size_t g0, size_t g1, size_t a0, int mode,
                         uint32_t *msg_at, uint32_t *linked)
{
    const zimg *z = b->z;
    char nb[RD_NAME_MAX * 4 + 1], nb2[RD_NAME_MAX * 4 + 1];
    uint32_t *addl_v = (uint32_t *)(b->base + b->o_addl);
    size_t naddl = a0;
    for (size_t gi = g0; gi < g1; gi++) {
        zrrset *r = &b->rs[gi];
        if (!has_additional(r->type)) continue;
        if (mode == LINK_MSGS && r->type != RD_T_NS) continue;   /* only NS has messages */
        int toff = zimg_target_offset(r->type);
        const brrset *g = &b->brs[gi];
        size_t start = naddl;
        const uint8_t *p = b->base + r->rdata_off;
        for (uint32_t k = g->first; k < g->end; k++) {
            if (b->dup[b->ord[k]]) continue;
            const uint8_t *rd = p + 2;
            p += 2 + (size_t)rd_get16(p);
            uint8_t t[RD_NAME_MAX + 1];
            rd_name_lower_copy(t, rd + toff);
            if (!rd_name_is_sub(t, b->origin)) continue;    /* not ours to supply */
            zlookup lk;
            zimg_lookup(z, t, rd_name_labels(t), &lk);
            uint32_t tv = lk.exact;
            if (tv != RD_NONE && (zimg_find_rrset(z, tv, RD_T_A) || zimg_find_rrset(z, tv, RD_T_AAAA))) {
                if (mode == LINK_MSGS) continue;
                int seen = 0;
                for (size_t a = start; a < naddl; a++) if (addl_v[a] == tv) seen = 1;
                if (!seen) addl_v[naddl++] = tv;
                continue;
            }
            if (r->type != RD_T_NS) continue;
            if (mode == LINK_QUIET) {
                if (*msg_at == RD_NONE) *msg_at = (uint32_t)gi;
                continue;
            }
            const rd_rr *rr = zb_rec(b, b->ord[k]);   /* for messages only */
            if (lk.cut != RD_NONE) {
                /* Missing glue: the name server lies at or below a zone cut of this zone,
                   so only this zone can supply its address (RFC 1034 4.2.1); both
                   named-checkzone and kzonecheck report it. */
                zb_msg(b, RD_MSG_ERROR, rr, "%s NS %s: missing glue, the name server has no "
                       "address records (A or AAAA)",
                       rd_name_to_text(rr_owner_or_node(b, rr, gi), nb, sizeof nb),
                       rd_name_to_text(rd + toff, nb2, sizeof nb2));
            } else {
                /* in-zone authoritative name without addresses: BIND says error, Knot
                   says nothing; a resolver can still ask for it, so only warn */
                zb_msg(b, RD_MSG_WARNING, rr, "%s NS %s: the name server has no address "
                       "records (A or AAAA)",
                       rd_name_to_text(rr_owner_or_node(b, rr, gi), nb, sizeof nb),
                       rd_name_to_text(rd + toff, nb2, sizeof nb2));
            }
        }
        if (naddl > start) {
            r->addl_off = (uint32_t)(b->o_addl + start * 4);
            r->addl_count = (uint32_t)(naddl - start);
            if (linked) linked[start] = (uint32_t)gi;
        }
    }
    return naddl;
}

/* link_targets on two threads: the rrsets in ADDL_MARKS parts (group_rrsets' marks),
 * taken in turn by whichever thread is free, each part's lists written from the most
 * the parts before it can take (their addl_max) on. */
typedef struct link_parts {
    builder *b;
    uint32_t *linked;
    _Atomic unsigned next;
    uint32_t g[ADDL_MARKS + 1], a0[ADDL_MARKS], end[ADDL_MARKS], msg_at[ADDL_MARKS];
} link_parts;

static void *link_parts_run(void *arg)
{
    link_parts *lp = arg;
    unsigned k;
    while ((k = atomic_fetch_add(&lp->next, 1)) < ADDL_MARKS)
        lp->end[k] = (uint32_t)link_range(lp->b, lp->g[k], lp->g[k + 1], lp->a0[k], LINK_QUIET,
                                          &lp->msg_at[k], lp->linked);
    return NULL;
}

/* The additional lists and the glue check of every rrset: on two threads when the fill
 * had two (the lookups only read the finished nodes and rrsets); the parts' lists are
 * then moved down behind each other and their rrsets re-pointed, and the messages of
 * the parts that have some made again in rrset order, so the image and the messages
 * are byte for byte the one-thread build's. */
static void link_targets(builder *b)
{
    zimg *z = b->z;
    size_t naddl = 0;
    pthread_t th;
    link_parts *lp = NULL;
    if (b->threads >= 2 && b->mark_rs[1]) {
        lp = calloc(1, sizeof *lp);
        if (lp) lp->linked = malloc((b->addl_max ? b->addl_max : 1) * sizeof *lp->linked);
        if (lp && !lp->linked) { free(lp); lp = NULL; }
    }
    if (lp) {
        lp->b = b;
        atomic_init(&lp->next, 0);
        for (unsigned k = 0; k < ADDL_MARKS; k++) {
            /* marks not reached (a small zone) are empty parts at the end */
            int set = k == 0 || b->mark_rs[k];
            lp->g[k] = set ? b->mark_rs[k] : (uint32_t)b->nrs;
            lp->a0[k] = set ? b->mark_addl[k] : (uint32_t)b->addl_max;
            lp->msg_at[k] = RD_NONE;
        }
        lp->g[ADDL_MARKS] = (uint32_t)b->nrs;
        if (pthread_create(&th, NULL, link_parts_run, lp) != 0) {
            free(lp->linked);
            free(lp);
            lp = NULL;
        }
    }
    if (!lp) {
        naddl = link_range(b, 0, b->nrs, 0, LINK_ALL, NULL, NULL);
    } else {
        link_parts_run(lp);
        pthread_join(th, NULL);
        uint32_t *addl_v = (uint32_t *)(b->base + b->o_addl);
        for (unsigned k = 0; k < ADDL_MARKS; k++) {
            size_t a0 = lp->a0[k], n = lp->end[k] - a0, gap = a0 - naddl;
            if (gap && n) {
                memmove(addl_v + naddl, addl_v + a0, n * 4);
                for (size_t a = a0; a < a0 + n; a += b->rs[lp->linked[a]].addl_count)
                    b->rs[lp->linked[a]].addl_off -= (uint32_t)(gap * 4);
            }
            naddl += n;
        }
        for (unsigned k = 0; k < ADDL_MARKS; k++)   /* rare: NS targets without addresses */
            if (lp->msg_at[k] != RD_NONE)
                link_range(b, lp->msg_at[k], lp->g[k + 1], 0, LINK_MSGS, NULL, NULL);
        free(lp->linked);
        free(lp);
    }
    z->addl_count = (uint32_t)naddl;
    size_t end = b->o_addl + naddl * 4;
    b->total = align8(end);
    if (b->total > end) memset(b->base + end, 0, b->total - end);
    z->size = (uint32_t)b->total;
}

static zimg *build(const uint8_t *origin, const rd_rrlist *l, rd_rrlist *consume, rd_msgs *msgs,
                   size_t *size_out, zimg_index *ix)
{
    builder b;
    memset(&b, 0, sizeof b);
    b.l = l;
    b.consume = consume;
    b.msgs = msgs;
    zimg *z = NULL;
    size_t total = 0;

    if (size_out) *size_out = 0;
    prof(NULL);
    rd_name_lower_copy(b.origin, origin);
    b.olen = rd_name_len(b.origin);
    b.ol = rd_name_labels(b.origin);

    b.threads = zimg_build_threads;
    if (b.threads <= 0)
        b.threads = l->n >= SPLIT_MIN_RECORDS && sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 2 : 1;
    if (!take_index(&b, ix) && index_owners(&b) != 0) goto nomem;
    if (b.errors) goto fail;
    prof("index");
    if (order_nodes(&b) != 0) goto nomem;
    prof("order");
    if (group_rrsets(&b) != 0) goto nomem;
    if (b.errors) goto fail;
    prof("rrsets");
    if (layout(&b) != 0) goto nomem;
    z = b.z;
    if (b.errors) goto fail;
    fill_rrsets(&b);
    if (b.consume) {
        /* every record is in the image now (the messages of fill_rrsets are made): give
           the records back before the nodes and names are written, so that the peak
           holds the records with half the image, not with all of it */
        free(b.consume->rr); b.consume->rr = NULL;
        b.consume->n = b.consume->cap = 0;
        free(b.consume->arena); b.consume->arena = NULL;
        b.consume->alen = b.consume->acap = 0;
    }
    if (fill_nodes(&b) != 0) goto nomem;
    prof("fill");
    /* the build-time names are no longer needed: lookups below use the image's own */
    free(b.nodes); b.nodes = NULL;
    free(b.names); b.names = NULL;
    zb_check_apex(&b);
    zb_check_nodes(&b);
    prof("checks");
    link_targets(&b);
    if (b.errors) goto fail;
    prof("addl");
    total = b.total;
    zimg *shrunk = zimg_resize(z, total);
    if (shrunk) z = shrunk;

    /* serial: SOA rdata = MNAME, RNAME, SERIAL (RFC 1035 3.3.13) */
    {
        const zrrset *soa = zimg_find_rrset(z, 0, RD_T_SOA);
        const uint8_t *p = (const uint8_t *)z + soa->rdata_off + 2;
        p += rd_name_len(p);
        p += rd_name_len(p);
        z->serial = rd_get32(p);
    }
    /* DNSSEC: the NSEC3 owners in hash order, for NSEC3 proofs (zimg_dnssec.c) */
    z = zimg_dnssec_index(z, &total);
    if (!z) goto nomem;
    prof("nsec3");
    if (size_out) *size_out = total;
    prof("layout");
    goto done;

nomem:
    zb_msg(&b, RD_MSG_ERROR, NULL, "out of memory while compiling the zone");
fail:
    zimg_free(z);
    z = NULL;
done:
    builder_free(&b);
    return z;
}

zimg *zimg_build(const uint8_t *origin, const rd_rrlist *l, rd_msgs *msgs, size_t *size_out)
{
    return build(origin, l, NULL, msgs, size_out, NULL);
}

zimg *zimg_build_consume(const uint8_t *origin, rd_rrlist *l, rd_msgs *msgs, size_t *size_out)
{
    return build(origin, l, l, msgs, size_out, NULL);
}

zimg *zimg_build_consume_indexed(const uint8_t *origin, rd_rrlist *l, rd_msgs *msgs,
                                 size_t *size_out, zimg_index *ix)
{
    return build(origin, l, l, msgs, size_out, ix);
}

