/* zimg_check.c — the zone compiler's diagnostics and the semantic checks of
 * named-checkzone/kzonecheck: SOA and NS at the apex, CNAME beside other data, more
 * than one CNAME or DNAME, data below a DNAME.  (Out-of-zone records, TTL differences
 * and missing glue are found where the builder meets them: zimg_build.c.) */
#include "zimg_build_int.h"
#include "zscan.h"
#include "lib/rd_wire.h"

#include <stdarg.h>
#include <stdio.h>

void zb_msg(builder *b, int sev, const rd_rr *rr, const char *fmt, ...)
{
    char text[sizeof(((rd_msg *)0)->text)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    uint32_t file = RD_NONE, line = 0;
    if (rr) {
        file = rr->file;
        line = rr->line;
    } else if (b->l->nfiles > 0) {
        file = 0;   /* zone-wide problem: name the zone's main file, no line */
    }
    if (sev == RD_MSG_ERROR) b->errors++;
    rd_msgs_add(b->msgs, sev, file, line, "%s", text);
}

const char *zb_type_text(uint16_t type, char *buf, size_t n)
{
    const char *name = zs_type_to_text(type);   /* the parser's table: one list of mnemonics */
    if (name) return name;
    snprintf(buf, n, "TYPE%u", type);
    return buf;
}

uint32_t zb_second_record(const builder *b, const brrset *g)
{
    uint32_t second = RD_NONE;
    for (uint32_t k = g->first; k < g->end; k++) {
        uint32_t i = b->ord[k];
        if (!b->dup[i] && i != g->min_rec && (second == RD_NONE || i < second)) second = i;
    }
    return second;
}

/* RFC 1035 5.2 / RFC 1034 4.2.1: exactly one SOA, and NS records, at the apex. */
void zb_check_apex(builder *b)
{
    char nb[RD_NAME_MAX * 4 + 1];
    const znode *apex = &b->fn[0];
    const zrrset *ar = b->rs + apex->rrset_first;
    int soa = -1, ns = 0;
    for (unsigned k = 0; k < apex->rrset_count; k++) {
        if (ar[k].type == RD_T_SOA) soa = (int)k;
        if (ar[k].type == RD_T_NS) ns = 1;
    }
    rd_name_to_text(b->origin, nb, sizeof nb);
    if (soa < 0)
        zb_msg(b, RD_MSG_ERROR, NULL, "%s: no SOA record at the zone apex", nb);
    else if (ar[soa].count > 1)
        zb_msg(b, RD_MSG_ERROR, zb_rec(b, zb_second_record(b, &b->brs[apex->rrset_first + soa])),
               "%s: more than one SOA record at the apex", nb);
    if (!ns) zb_msg(b, RD_MSG_ERROR, NULL, "%s: no NS records at the zone apex", nb);
}

void zb_check_nodes(builder *b)
{
    char nb[RD_NAME_MAX * 4 + 1], nb2[RD_NAME_MAX * 4 + 1];
    for (uint32_t v = 0; v < b->nn; v++) {
        const znode *nd = &b->fn[v];
        const zrrset *r = b->rs + nd->rrset_first;
        const brrset *g = b->brs + nd->rrset_first;
        if (nd->rrset_count == 0) continue;
        const uint8_t *nm = b->base + nd->name_off;
        uint32_t node_first = RD_NONE;
        int cname = -1, other = -1;
        for (unsigned k = 0; k < nd->rrset_count; k++) {
            if (node_first == RD_NONE || g[k].min_rec < node_first) node_first = g[k].min_rec;
            uint16_t t = r[k].type;
            if (t == RD_T_SOA && v != 0)
                zb_msg(b, RD_MSG_ERROR, zb_rec(b, g[k].min_rec), "%s: SOA record not at the zone apex",
                       rd_name_to_text(nm, nb, sizeof nb));
            if (t == RD_T_CNAME) cname = (int)k;
            else if (t != RD_T_RRSIG && t != RD_T_NSEC && t != T_KEY &&
                     (other < 0 || g[k].min_rec < g[other].min_rec))
                other = (int)k;
            /* RFC 2181 10.1: one CNAME per name; RFC 6672 2.4: one DNAME per name */
            if ((t == RD_T_CNAME || t == RD_T_DNAME) && r[k].count > 1)
                zb_msg(b, RD_MSG_ERROR, zb_rec(b, zb_second_record(b, &g[k])), "%s: more than one %s record",
                       rd_name_to_text(nm, nb, sizeof nb), t == RD_T_CNAME ? "CNAME" : "DNAME");
        }
        if (cname >= 0 && other >= 0) {
            /* RFC 1034 3.6.2, RFC 2181 10.1: a CNAME owner has no other data (RRSIG, NSEC
               and KEY excepted: RFC 4035 2.5).  Report at whichever came second. */
            uint32_t at = g[cname].min_rec > g[other].min_rec ? g[cname].min_rec : g[other].min_rec;
            zb_msg(b, RD_MSG_ERROR, zb_rec(b, at), "%s: CNAME and other data", rd_name_to_text(nm, nb, sizeof nb));
        }
        if (nd->flags & ZN_BELOW_DNAME) {
            /* RFC 6672 2.3: a DNAME owner has no descendants */
            zb_msg(b, RD_MSG_ERROR, zb_rec(b, node_first), "%s: data below the DNAME at %s",
                   rd_name_to_text(nm, nb, sizeof nb),
                   rd_name_to_text(b->base + b->fn[nd->dname].name_off, nb2, sizeof nb2));
        }
    }
}

int zimg_check_nsec3_iterations(const rd_rrlist *l, unsigned max_iterations, rd_msgs *msgs)
{
    const rd_rr *first = NULL, *param = NULL;
    for (size_t i = 0; i < l->n; i++) {
        const rd_rr *rr = &l->rr[i];
        /* RFC 5155 3.2 and 4.2: hash algorithm (1), flags (1), iterations (2), ... */
        if ((rr->type != RD_T_NSEC3 && rr->type != RD_T_NSEC3PARAM) || rr->rdlen < 4 ||
            (rr->flags & RD_RR_TEXT_RDATA))
            continue;
        const uint8_t *rd = l->arena + rr->rdata;
        unsigned it = rd_get16(rd + 2);
        if (it > max_iterations) {
            /* Section 3.2: validators may treat such answers as insecure or bogus
             * (BIND 9.20 above 50), and each proof costs the server it + 1 hashes per
             * name: refuse the zone rather than serve it at that cost. */
            rd_msgs_add(msgs, RD_MSG_ERROR, rr->file, rr->line,
                        "%s iterations %u above the limit of %u (RFC 9276 3.2; "
                        "server.nsec3_max_iterations)",
                        rr->type == RD_T_NSEC3 ? "NSEC3" : "NSEC3PARAM", it, max_iterations);
            return 1;
        }
        if (it > 0 && !first) first = rr;
        if (it > 0 && !param && rr->type == RD_T_NSEC3PARAM) param = rr;
    }
    const rd_rr *w = param ? param : first;
    if (w) {
        const uint8_t *rd = l->arena + w->rdata;
        rd_msgs_add(msgs, RD_MSG_WARNING, w->file, w->line,
                    "NSEC3 iterations %u: RFC 9276 3.1 says zones SHOULD use 0",
                    (unsigned)rd_get16(rd + 2));
    }
    return 0;
}
