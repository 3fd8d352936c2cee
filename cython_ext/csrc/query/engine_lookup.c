/* engine_lookup.c — class IN answers from the hosted zones: RFC 1034 4.3.2 with referrals, CNAME/DNAME chains, wildcards (RFC 4592), negative answers (RFC 2308), ANY (RFC 8482). */
#include "engine_int.h"

/* ---- zone selection ---- */

uint32_t rd_db_find_index(const rd_db *db, const uint8_t *lname, int parent_first)
{
    if (!db || db->nzones == 0) return RD_NONE;
    uint8_t off[128];
    int n = 0;
    size_t L = 0;
    while (lname[L] && n < 127) {
        off[n++] = (uint8_t)L;
        L += lname[L] + 1;
    }
    off[n] = (uint8_t)L;      /* the root label */
    return rd_zonetab_find(db->ztab, lname, off, n, parent_first && n > 0);
}

/* ---- writing helpers ---- */

/* An RRset and, when the client set DO, its RRSIGs (RFC 4035 3.1.1), as one unit. */
static int put_signed(rd_ctx *c, int sec, const zimg *z, const uint8_t *owner,
                      const zrrset *rs, uint32_t ttl)
{
    size_t save_len = c->len;
    int save_ncomp = c->ncomp;
    uint16_t save_count = c->count[sec];
    if (rd_put_rrset(c, sec, z, owner, rs, ttl) < 0) return -1;
    if (c->do_bit && rs->rrsig != RD_NONE) {
        const zrrset *sig = zimg_rrset_at(z, rs->rrsig);
        if (sig && rd_put_rrset(c, sec, z, owner, sig, ttl) < 0) {
            c->len = save_len;
            c->ncomp = save_ncomp;
            c->count[sec] = save_count;
            return -1;
        }
    }
    return 0;
}

/* Answer or authority data that must be whole: when it does not fit, the response is
 * truncated (RFC 2181 9). */
static int put_required(rd_ctx *c, int sec, const zimg *z, const uint8_t *owner,
                        const zrrset *rs, uint32_t ttl)
{
    if (put_signed(c, sec, z, owner, rs, ttl) < 0) {
        rd_truncate(c);
        return -1;
    }
    return 0;
}

/* The A and AAAA of one node into the additional section, once per response. */
static int put_node_addresses(rd_ctx *c, const zimg *z, znode_id node, int glue)
{
    for (int k = 0; k < c->naddl_seen; k++)
        if (c->addl_seen[k] == node) return 0;
    if (c->naddl_seen < RD_ADDL_SEEN_MAX) c->addl_seen[c->naddl_seen++] = node;
    const uint8_t *name = zimg_node_name(z, node);
    static const uint16_t types[2] = { RD_T_A, RD_T_AAAA };
    for (int t = 0; t < 2; t++) {
        const zrrset *a = zimg_find_rrset(z, node, types[t]);
        /* A node whose addresses do not fit is skipped; the next targets may still fit
         * (as Knot fills the section). */
        if (a && put_signed(c, RD_SEC_AR, z, name, a, a->ttl) < 0) {
            if (glue) c->tc = 1;
            break;
        }
    }
    return 0;
}

/* SVCB/HTTPS (RFC 9460 4.3 "additional processing"): addresses of each in-zone
 * TargetName, as Knot adds them; the image has no precomputed list for these types. */
static void put_svcb_additional(rd_ctx *c, const zimg *z, const zrrset *rs)
{
    const uint8_t *p = zimg_base(z) + rs->rdata_off;
    const uint8_t *end = p + rs->rdata_len;
    uint8_t lname[RD_NAME_MAX + 1];
    for (unsigned i = 0; i < rs->count && p + 2 <= end; i++) {
        uint16_t rdlen = rd_get16(p);
        const uint8_t *rd = p + 2;
        p += 2 + (size_t)rdlen;
        if (p > end || rdlen < 3) return;
        size_t nl = rd_wire_name_check(rd + 2, rdlen - 2u);
        if (nl <= 1) continue;                /* "." : the owner itself, no extra data */
        rd_name_lower_copy(lname, rd + 2);
        if (!rd_name_is_sub(lname, zimg_origin(z))) continue;
        znode_id node = zimg_find_node(z, lname);
        if (node == RD_NONE || (zimg_node_flags(z, node) & ZN_BELOW_CUT)) continue;
        if (put_node_addresses(c, z, node, 0) < 0) return;
    }
}

/* Additional section: addresses of the in-zone targets of NS, MX and SRV records
 * (RFC 1035 3.3.9, 3.3.11; RFC 2782), glue included; dropped silently when they do not
 * fit (RFC 2181 9), except glue of a referral: then TC is set, as Knot does (RFC 9471
 * asks for TC when in-domain glue does not fit). */
static void put_additional(rd_ctx *c, const zimg *z, const zrrset *rs, int glue)
{
    if ((rs->type == RD_T_SVCB || rs->type == RD_T_HTTPS) && rs->addl_off == RD_NONE) {
        put_svcb_additional(c, z, rs);      /* an image without precomputed targets */
        return;
    }
    if (rs->addl_off == RD_NONE || rs->addl_count == 0) return;
    const uint8_t *arr = zimg_base(z) + rs->addl_off;
    for (uint32_t i = 0; i < rs->addl_count; i++) {
        znode_id node;
        memcpy(&node, arr + 4 * (size_t)i, sizeof node);
        if (node == RD_NONE) continue;
        if (put_node_addresses(c, z, node, glue) < 0) return;
    }
}

/* RFC 2308 3 and 5: the SOA in authority, its TTL the lesser of the SOA's own TTL and
 * its MINIMUM field. */
void rd_put_negative(rd_ctx *c, const zimg *z)
{
    const zrrset *soa = zimg_find_rrset(z, zimg_apex(z), RD_T_SOA);
    if (!soa || soa->count == 0) return;
    const uint8_t *rd = zimg_base(z) + soa->rdata_off;
    uint16_t rdlen = rd_get16(rd);
    uint32_t ttl = soa->ttl;
    if (rdlen >= 20 && rdlen + 2u <= soa->rdata_len) {
        uint32_t minimum = rd_get32(rd + 2 + rdlen - 4);
        if (minimum < ttl) ttl = minimum;
    }
    put_required(c, RD_SEC_NS, z, zimg_origin(z), soa, ttl);
}

/* RFC 1034 4.3.2 step 3b: a referral to the delegation at `cut`: its NS in authority,
 * glue in additional.  AA is clear unless we already answered with a CNAME of our own
 * (Knot keeps AA then). */
static void put_referral(rd_ctx *c, const zimg *z, znode_id cut, int first)
{
    if (first) c->aa = 0;
    const zrrset *ns = zimg_find_rrset(z, cut, RD_T_NS);
    if (!ns) return;
    const uint8_t *name = zimg_node_name(z, cut);
    if (put_required(c, RD_SEC_NS, z, name, ns, ns->ttl) < 0) return;
    if (c->do_bit) {
        /* RFC 4035 3.1.4: a secure delegation carries its DS and RRSIG; only a signed zone
         * (the DS has a signature) adds anything for DO. */
        const zrrset *ds = zimg_find_rrset(z, cut, RD_T_DS);
        if (ds && ds->rrsig != RD_NONE && put_required(c, RD_SEC_NS, z, name, ds, ds->ttl) < 0)
            return;
        if (!ds) rd_dnssec_insecure_referral(c, z, cut);   /* RFC 4035 3.1.4.1 */
        if (c->tc) return;
    }
    put_additional(c, z, ns, 1);
}

/* RFC 8482 4.1: a minimal answer to ANY is one RRset of the node: like Knot, the one of
 * the lowest type number (RRSIGs are never chosen).  With DO, a wildcard answer carries
 * its proof and an empty node its NODATA proof (RFC 4035 3.1.3). */
static void answer_any(rd_ctx *c, const zimg *z, znode_id node, const uint8_t *owner,
                       const zlookup *lk, const uint8_t *lname)
{
    unsigned n = 0;
    const zrrset *all = zimg_node_rrsets(z, node, &n);
    if (c->db->opt.minimal_any) {
        const zrrset *best = NULL;
        for (unsigned i = 0; i < n; i++)
            if (all[i].type != RD_T_RRSIG && (!best || all[i].type < best->type)) best = &all[i];
        if (!best) {
            rd_put_negative(c, z);
            if (c->do_bit && !c->tc) rd_dnssec_nodata(c, z, lk, lname, node);
            return;
        }
        if (put_required(c, RD_SEC_AN, z, owner, best, best->ttl) < 0) return;
        if (c->do_bit && lk->exact == RD_NONE) rd_dnssec_wildcard_answer(c, z, lk, lname);
        if (c->tc) return;
        put_additional(c, z, best, 0);
        return;
    }
    int any = 0;
    for (unsigned i = 0; i < n; i++) {
        if (all[i].type == RD_T_RRSIG) continue;
        if (put_required(c, RD_SEC_AN, z, owner, &all[i], all[i].ttl) < 0) return;
        any = 1;
    }
    if (!any) {
        rd_put_negative(c, z);
        if (c->do_bit && !c->tc) rd_dnssec_nodata(c, z, lk, lname, node);
        return;
    }
    if (c->do_bit && lk->exact == RD_NONE) rd_dnssec_wildcard_answer(c, z, lk, lname);
    if (c->tc) return;
    for (unsigned i = 0; i < n; i++)
        if (all[i].type != RD_T_RRSIG) put_additional(c, z, &all[i], 0);
}

/* qtype RRSIG: RFC 4035 3.1 leaves the answer to the server; Knot answers with one RRSIG
 * RRset, the one covering the lowest type (over UDP and TCP alike), in the manner of a
 * minimal ANY (RFC 8482); with minimal_any off, every signature at the node, as NSD.  A
 * node without signatures is NODATA, proved with DO. */
static void answer_rrsig(rd_ctx *c, const zimg *z, znode_id node, const uint8_t *owner,
                         const zlookup *lk, const uint8_t *lname)
{
    unsigned n = 0;
    const zrrset *all = zimg_node_rrsets(z, node, &n);
    int any = 0;
    for (unsigned i = 0; i < n; i++) {
        if (all[i].type != RD_T_RRSIG) continue;
        if (put_required(c, RD_SEC_AN, z, owner, &all[i], all[i].ttl) < 0) return;
        any = 1;
        if (c->db->opt.minimal_any) break;    /* rrsets sort by covered type */
    }
    if (!any) {
        rd_put_negative(c, z);
        if (c->do_bit && !c->tc) rd_dnssec_nodata(c, z, lk, lname, node);
        return;
    }
    if (c->do_bit && lk->exact == RD_NONE) rd_dnssec_wildcard_answer(c, z, lk, lname);
}

/* The first rdata of an RRset as a name (CNAME, DNAME targets), or NULL if malformed. */
static const uint8_t *rrset_target(const zimg *z, const zrrset *rs)
{
    if (rs->count == 0 || rs->rdata_len < 3) return NULL;
    const uint8_t *p = zimg_base(z) + rs->rdata_off;
    uint16_t rdlen = rd_get16(p);
    if (rdlen + 2u > rs->rdata_len) return NULL;
    if (rd_wire_name_check(p + 2, rdlen) != rdlen) return NULL;
    return p + 2;
}

/* RFC 6672 2.2: replace the DNAME owner suffix of `name` (written case) by the target.
 * Returns the new length, or 0 when the result would exceed 255 octets (YXDOMAIN). */
static size_t dname_substitute(uint8_t *out, const uint8_t *name, int keep_labels,
                               const uint8_t *target)
{
    size_t o = 0;
    for (int i = 0; i < keep_labels; i++) o += name[o] + 1;
    size_t tl = rd_name_len(target);
    if (o + tl > RD_NAME_MAX) return 0;
    memcpy(out, name, o);
    memcpy(out + o, target, tl);
    return o + tl;
}

void rd_answer_in(rd_ctx *c)
{
    /* The zone was found once for the query (the fast path or the batch pipeline may
     * have done it); for DS it is the parent's when hosted (RFC 4035 3.1.4.1), so a
     * hosted child's apex DS is answered by the hosted parent. */
    rd_ctx_zone(c);
    const zimg *z = c->zone;
    if (!z) {
        c->rcode = RD_RCODE_REFUSED;           /* RFC 1034 4.3.2 step 2: not ours */
        c->ede = RD_EDE_NOT_AUTHORITATIVE;      /* RFC 8914 4.21, as Knot and NSD */
        return;
    }
    if (rd_ctx_zone_expired(c)) {
        /* RFC 1034 4.3.5: a secondary whose copy expired is no longer authoritative
         * for it; SERVFAIL until a refresh succeeds, as Knot and NSD answer */
        c->rcode = RD_RCODE_SERVFAIL;
        return;
    }
    c->aa = 1;
    const uint8_t *origin = zimg_origin(z);
    const uint8_t *owner = c->r + 12;          /* the echoed question: the client's case */
    const uint8_t *lname = c->lname;
    int nl = c->nlabels;
    uint8_t lbuf[RD_NAME_MAX + 1];
    uint8_t synth[2][RD_NAME_MAX + 1];
    int which = 0;
    /* Names already looked up in this chain (lower-case), to stop at a loop. */
    uint8_t visited[RD_CNAME_MAX][RD_NAME_MAX + 1];
    int nvisited = 0;
    int ncname = 0;                            /* CNAMEs in the answer, synthesized ones too */

    for (;;) {
        zlookup lk;
        zimg_lookup(z, lname, nl, &lk);
        rd_dnssec_hide_nsec3(z, &lk);
        int cut_labels = lk.cut != RD_NONE ? rd_name_labels(zimg_node_name(z, lk.cut)) : 1000;
        int dname_labels = lk.dname != RD_NONE ? rd_name_labels(zimg_node_name(z, lk.dname)) : 1000;

        /* Step 3b: a delegation on the way down, unless this is the parent-side DS. */
        if (lk.cut != RD_NONE && cut_labels <= dname_labels &&
            !(lk.cut == lk.exact && c->qtype == RD_T_DS)) {
            put_referral(c, z, lk.cut, ncname == 0);
            return;
        }

        if (lk.dname != RD_NONE) {
            /* RFC 6672 3.2: the DNAME, then a CNAME synthesized with the DNAME's TTL. */
            const zrrset *d = zimg_find_rrset(z, lk.dname, RD_T_DNAME);
            const uint8_t *target = d ? rrset_target(z, d) : NULL;
            if (!target) { c->rcode = RD_RCODE_SERVFAIL; return; }
            if (ncname >= RD_CNAME_MAX) return;
            if (put_required(c, RD_SEC_AN, z, zimg_node_name(z, lk.dname), d, d->ttl) < 0) return;
            uint8_t *next = synth[which];
            which ^= 1;
            /* The kept labels are taken lower-cased, as Knot and NSD write them. */
            size_t len = dname_substitute(next, lname, nl - dname_labels, target);
            if (len == 0) {                    /* RFC 6672 2.2 */
                c->rcode = RD_RCODE_YXDOMAIN;
                c->ede = RD_EDE_OTHER;         /* as NSD (RFC 8914 4.1) */
                return;
            }
            if (rd_put_rr(c, RD_SEC_AN, owner, RD_T_CNAME, RD_C_IN, d->ttl, next,
                          (uint16_t)len) < 0) {
                rd_truncate(c);
                return;
            }
            ncname++;
            if (c->qtype == RD_T_CNAME) return;  /* the synthesized CNAME is the answer */
            owner = next;
            rd_name_lower_copy(lbuf, next);
            if (!rd_name_is_sub(lbuf, origin)) return;   /* leaves the zone: stop here */
            lname = lbuf;
            nl = rd_name_labels(lbuf);
            continue;
        }

        /* Step 3a, or 3c with a wildcard as source of synthesis (RFC 4592 3.3.3): the
         * owner stays the name asked for. */
        znode_id node = lk.exact != RD_NONE ? lk.exact : lk.wildcard;
        if (node == RD_NONE) {
            c->rcode = RD_RCODE_NXDOMAIN;      /* RFC 1034 4.3.2 3c; RFC 6604 after a CNAME */
            rd_put_negative(c, z);
            if (c->do_bit && !c->tc) rd_dnssec_nxdomain(c, z, &lk, lname);
            return;
        }
        if (c->qtype == RD_T_ANY) { answer_any(c, z, node, owner, &lk, lname); return; }
        if (c->qtype == RD_T_RRSIG) { answer_rrsig(c, z, node, owner, &lk, lname); return; }
        const zrrset *rs = zimg_find_rrset(z, node, c->qtype);
        if (rs) {
            if (put_required(c, RD_SEC_AN, z, owner, rs, rs->ttl) < 0) return;
            /* RFC 4035 3.1.3.3: a wildcard answer proves no closer name exists */
            if (c->do_bit && lk.exact == RD_NONE) rd_dnssec_wildcard_answer(c, z, &lk, lname);
            if (c->tc) return;
            put_additional(c, z, rs, 0);
            return;
        }
        /* Knot answers NSEC (like RRSIG) at a CNAME with NODATA instead of following it.
         * But with DO and a signed CNAME the CNAME is followed (as NSD): a NODATA proof
         * for a name that owns a CNAME would not validate (RFC 4035 5.4). */
        const zrrset *cn = c->qtype != RD_T_CNAME ? zimg_find_rrset(z, node, RD_T_CNAME) : NULL;
        if (cn && c->qtype == RD_T_NSEC && !(c->do_bit && cn->rrsig != RD_NONE)) cn = NULL;
        if (!cn) {
            rd_put_negative(c, z);                /* NODATA (RFC 2308 2.2), ENTs included */
            if (c->do_bit && !c->tc) rd_dnssec_nodata(c, z, &lk, lname, node);
            return;
        }
        /* RFC 1034 4.3.2 3a: restart at the CNAME target, inside this zone only, at most
         * RD_CNAME_MAX CNAMEs (as Knot) and never at a name already visited (a loop). */
        if (ncname >= RD_CNAME_MAX) return;
        const uint8_t *target = rrset_target(z, cn);
        if (put_required(c, RD_SEC_AN, z, owner, cn, cn->ttl) < 0) return;
        if (c->do_bit && lk.exact == RD_NONE) {
            rd_dnssec_wildcard_answer(c, z, &lk, lname);   /* a wildcard CNAME */
            if (c->tc) return;
        }
        ncname++;
        if (!target) return;
        size_t vlen = rd_name_len(lname);
        if (nvisited < RD_CNAME_MAX) memcpy(visited[nvisited++], lname, vlen);
        size_t tlen = rd_name_lower_copy(lbuf, target);
        for (int i = 0; i < nvisited; i++)
            if (memcmp(visited[i], lbuf, tlen) == 0) return;
        owner = target;
        if (!rd_name_is_sub(lbuf, origin)) return;
        lname = lbuf;
        nl = rd_name_labels(lbuf);
    }
}
