/* engine_dnssec.c — DNSSEC proofs for DO queries: NSEC (RFC 4035 3.1.3) and NSEC3 (RFC 5155 7.2) denials, wildcard proofs, insecure referrals (RFC 4035 3.1.4). */
#include "engine_int.h"
#include "lib/rd_sha1.h"
#include "zone/zimg_dnssec.h"
#include "zone/zimg_format.h"

/* The proof records of one response part: distinct NSEC/NSEC3 owners (a proof needs at
 * most three; dedupe so that one record proving two things is sent once). */
#define PROOF_MAX 4
typedef struct proof {
    znode_id node[PROOF_MAX];
    int n;
} proof;

static void proof_add(proof *p, znode_id node)
{
    if (node == RD_NONE) return;
    for (int i = 0; i < p->n; i++)
        if (p->node[i] == node) return;
    if (p->n < PROOF_MAX) p->node[p->n++] = node;
}

/* The NSEC or NSEC3 rrset of each proof node with its RRSIG, into authority.  RFC 4035
 * 3.1.1: when the signed denial does not fit, the response is truncated. */
static void proof_put(rd_ctx *c, const zimg *z, const proof *p, uint16_t type)
{
    for (int i = 0; i < p->n; i++) {
        const zrrset *rs = zimg_find_rrset(z, p->node[i], type);
        if (!rs) continue;
        const uint8_t *owner = zimg_node_name(z, p->node[i]);
        if (rd_put_rrset(c, RD_SEC_NS, z, owner, rs, rs->ttl) < 0) { rd_truncate(c); return; }
        if (rs->rrsig != RD_NONE) {
            const zrrset *sig = zimg_rrset_at(z, rs->rrsig);
            if (sig && rd_put_rrset(c, RD_SEC_NS, z, owner, sig, rs->ttl) < 0) {
                rd_truncate(c);
                return;
            }
        }
    }
}

/* ---- names ---- */

/* Label offsets of a lower-case wire name; returns the label count. */
static int name_labels(const uint8_t *name, uint8_t *off)
{
    int n = 0;
    size_t p = 0;
    while (name[p] && n < 127) {
        off[n++] = (uint8_t)p;
        p += name[p] + 1;
    }
    off[n] = (uint8_t)p;
    return n;
}

/* "*.<suffix>" into buf (RFC 4592 2.1.1); returns 0, or -1 when it would exceed 255. */
static int wildcard_of(uint8_t *buf, const uint8_t *suffix)
{
    size_t l = rd_name_len(suffix);
    if (l + 2 > RD_NAME_MAX) return -1;
    buf[0] = 1;
    buf[1] = '*';
    memcpy(buf + 2, suffix, l);
    return 0;
}

/* ---- NSEC (RFC 4035 3.1.3) ---- */

static int zone_has_nsec(const zimg *z)
{
    return zimg_find_rrset(z, zimg_apex(z), RD_T_NSEC) != NULL;
}

/* The NSEC owner covering lname, searched up from node `from` when that is lname or an
 * ancestor (the closest encloser the lookup found), else over the whole zone. */
static znode_id nsec_covering(const zimg *z, const uint8_t *lname, znode_id from)
{
    int match;
    if (from == RD_NONE || !rd_name_is_sub(lname, zimg_node_name(z, from))) from = 0;
    return zimg_nsec_find_from(z, lname, from, &match);
}

/* ---- NSEC3 (RFC 5155) ---- */

typedef struct nsec3_params {
    uint8_t alg;
    uint16_t iterations;
    uint8_t salt_len;
    const uint8_t *salt;
} nsec3_params;

/* The chain's parameters: the apex NSEC3PARAM (RFC 5155 4), or the first NSEC3's own
 * fields (RFC 5155 3.2) when the zone has none.  0 when usable. */
static int nsec3_params_of(const zimg *z, nsec3_params *np)
{
    const zrrset *rs = zimg_find_rrset(z, zimg_apex(z), RD_T_NSEC3PARAM);
    if (!rs) {
        znode_id first = zimg_nsec3_first(z);
        if (first == RD_NONE) return -1;
        rs = zimg_find_rrset(z, first, RD_T_NSEC3);
        if (!rs) return -1;
    }
    const uint8_t *p = zimg_base(z) + rs->rdata_off;
    uint16_t rdlen = rd_get16(p);
    p += 2;
    if (rdlen < 5 || rdlen + 2u > rs->rdata_len || 5u + p[4] > rdlen) return -1;
    np->alg = p[0];
    np->iterations = rd_get16(p + 2);
    np->salt_len = p[4];
    np->salt = p + 5;
    return np->alg == 1 ? 0 : -1;              /* SHA-1 is the only hash defined */
}

_Static_assert(RD_SHA1_LEN == ZIMG_NSEC3_HASH_LEN, "an NSEC3 hash is a SHA-1 digest");

/* The NSEC3 owner matching (*match = 1) or covering the hash of `lname`.  Through the
 * directory of the precomputed NXDOMAIN proofs (zneg) when the image has one: a search
 * over one bucket instead of the whole index (17 dependent loads on a 100k-name zone),
 * for the proofs the general path still writes (wildcard answers, NODATA below a
 * wildcard, names below an existing top label). */
static znode_id nsec3_lookup(const zimg *z, const nsec3_params *np, const uint8_t *lname,
                             int *match)
{
    const zneg *g = zneg_of(z);
    const uint32_t *dir = g && g->kind == ZNEG_NSEC3
                              ? (const uint32_t *)((const uint8_t *)z + g->n3_dir_off) : NULL;
    uint32_t at = rd_dnssec_nsec3_place(z, lname, np->salt, np->salt_len, np->iterations, dir,
                                        dir ? g->n3_dir_bits : 0, match);
    return zimg_nsec3_node_at(z, at);
}

/* RFC 5155 7.2.1: the closest provable encloser of `lname`, searched from its ancestor
 * with `from` labels upwards: the first one whose hash an NSEC3 matches.  Adds that
 * NSEC3 and the one covering the next closer name; returns the encloser's label count
 * (its name is the suffix lname + off[nl - count]), or -1 when nothing matched. */
static int closest_provable(const zimg *z, const nsec3_params *np, const uint8_t *lname,
                            const uint8_t *off, int nl, int from, proof *p)
{
    int ol = zimg_origin_labels(z);
    if (from > nl) from = nl;
    for (int k = from; k >= ol; k--) {
        int match;
        znode_id m = nsec3_lookup(z, np, lname + off[nl - k], &match);
        if (!match) continue;
        proof_add(p, m);
        if (k < nl) proof_add(p, nsec3_lookup(z, np, lname + off[nl - k - 1], &match));
        return k;
    }
    return -1;
}

void rd_dnssec_put_proof(rd_ctx *c, const zimg *z, znode_id node, uint16_t type)
{
    proof p = { .n = 0 };
    proof_add(&p, node);
    proof_put(c, z, &p, type);
}

int rd_dnssec_nsec3_salt(const zimg *z, const uint8_t **salt, unsigned *salt_len,
                         unsigned *iterations)
{
    nsec3_params np;
    if (nsec3_params_of(z, &np) < 0) return -1;
    *salt = np.salt;
    *salt_len = np.salt_len;
    *iterations = np.iterations;
    return 0;
}

uint32_t rd_dnssec_nsec3_hash(const uint8_t *lname, const uint8_t *salt, unsigned salt_len,
                              unsigned iterations, int bits, uint8_t hash[RD_SHA1_LEN])
{
    rd_nsec3_hash(lname, rd_name_len(lname), salt, salt_len, iterations, hash);
    /* base32hex keeps the hash's bits in order (RFC 4648 7): its top bits are the key's */
    uint32_t top = (uint32_t)hash[0] << 24 | (uint32_t)hash[1] << 16 | (uint32_t)hash[2] << 8 |
                   hash[3];
    return bits ? top >> (32 - bits) : 0;
}

uint32_t rd_dnssec_nsec3_place(const zimg *z, const uint8_t *lname, const uint8_t *salt,
                               unsigned salt_len, unsigned iterations, const uint32_t *dir,
                               int bits, int *match)
{
    uint8_t h[RD_SHA1_LEN];
    uint32_t b = rd_dnssec_nsec3_hash(lname, salt, salt_len, iterations, dir ? bits : 0, h);
    if (!dir) return zimg_nsec3_find_place_hash(z, h, 0, zimg_nsec3_count(z), match);
    return zimg_nsec3_find_place_hash(z, h, dir[b], dir[b + 1], match);
}

/* ---- the proofs the lookup asks for ---- */

void rd_dnssec_nxdomain(rd_ctx *c, const zimg *z, const zlookup *lk, const uint8_t *lname)
{
    proof p = { .n = 0 };
    uint8_t off[128], wild[RD_NAME_MAX + 1];
    int nl = name_labels(lname, off);
    if (lk->encloser == RD_NONE) return;
    if (zimg_nsec3_count(z)) {
        nsec3_params np;
        if (nsec3_params_of(z, &np) < 0) return;
        /* RFC 5155 7.2.2: closest encloser proof, and the NSEC3 covering the wildcard at
           the closest encloser */
        int ce = closest_provable(z, &np, lname, off, nl, lk->encloser_labels, &p);
        if (ce >= 0 && wildcard_of(wild, lname + off[nl - ce]) == 0) {
            int match;
            proof_add(&p, nsec3_lookup(z, &np, wild, &match));
        }
        proof_put(c, z, &p, RD_T_NSEC3);
    } else if (zone_has_nsec(z)) {
        /* RFC 4035 3.1.3.2: the NSEC covering the name, and the one covering the
           wildcard at the closest encloser */
        proof_add(&p, nsec_covering(z, lname, lk->encloser));
        if (wildcard_of(wild, zimg_node_name(z, lk->encloser)) == 0)
            proof_add(&p, nsec_covering(z, wild, lk->encloser));
        proof_put(c, z, &p, RD_T_NSEC);
    }
}

void rd_dnssec_nodata(rd_ctx *c, const zimg *z, const zlookup *lk, const uint8_t *lname,
                      znode_id node)
{
    proof p = { .n = 0 };
    uint8_t off[128];
    int nl = name_labels(lname, off);
    int wildcard = lk->exact == RD_NONE;      /* node is the source of synthesis */
    if (zimg_nsec3_count(z)) {
        nsec3_params np;
        if (nsec3_params_of(z, &np) < 0) return;
        int match;
        if (wildcard) {
            /* RFC 5155 7.2.5: closest encloser proof and the NSEC3 matching the wildcard */
            closest_provable(z, &np, lname, off, nl, lk->encloser_labels, &p);
            proof_add(&p, nsec3_lookup(z, &np, zimg_node_name(z, node), &match));
        } else {
            /* RFC 5155 7.2.3: the NSEC3 matching the name; without one (opt-out: an
               insecure delegation or an empty non-terminal above only such, 7.2.4) the
               closest provable encloser proof */
            znode_id m = nsec3_lookup(z, &np, lname, &match);
            if (match) proof_add(&p, m);
            else closest_provable(z, &np, lname, off, nl, nl - 1, &p);
        }
        proof_put(c, z, &p, RD_T_NSEC3);
    } else if (zone_has_nsec(z)) {
        if (wildcard) {
            /* RFC 4035 3.1.3.4: the NSEC proving no closer match, and the wildcard's own
               NSEC proving the type absent */
            proof_add(&p, nsec_covering(z, lname, lk->encloser));
            proof_add(&p, node);
        } else if (zimg_find_rrset(z, node, RD_T_NSEC)) {
            proof_add(&p, node);               /* RFC 4035 3.1.3.1 */
        } else {
            /* an empty non-terminal: the NSEC whose span covers it (RFC 4035 3.1.3.2
               shows the name owns nothing) */
            proof_add(&p, nsec_covering(z, lname, node));
        }
        proof_put(c, z, &p, RD_T_NSEC);
    }
}

void rd_dnssec_wildcard_answer(rd_ctx *c, const zimg *z, const zlookup *lk,
                               const uint8_t *lname)
{
    proof p = { .n = 0 };
    uint8_t off[128];
    int nl = name_labels(lname, off);
    if (zimg_nsec3_count(z)) {
        nsec3_params np;
        if (nsec3_params_of(z, &np) < 0) return;
        /* RFC 5155 7.2.6: the NSEC3 covering the next closer name */
        int k = lk->encloser_labels;
        if (k < nl) {
            int match;
            proof_add(&p, nsec3_lookup(z, &np, lname + off[nl - k - 1], &match));
        }
        proof_put(c, z, &p, RD_T_NSEC3);
    } else if (zone_has_nsec(z)) {
        /* RFC 4035 3.1.3.3.  When the question itself is NSEC at the expanded name and
           the covering NSEC is the wildcard's own, the answer already holds that record
           (expanded); Knot does not repeat it, and neither do we (NSD does: both
           validate).  After a CNAME/DNAME (lname is not the question) Knot adds it. */
        znode_id cov = nsec_covering(z, lname, lk->encloser);
        if (!(c->qtype == RD_T_NSEC && cov == lk->wildcard && lname == c->lname))
            proof_add(&p, cov);
        proof_put(c, z, &p, RD_T_NSEC);
    }
}

void rd_dnssec_insecure_referral(rd_ctx *c, const zimg *z, znode_id cut)
{
    proof p = { .n = 0 };
    const uint8_t *name = zimg_node_name(z, cut);
    if (zimg_nsec3_count(z)) {
        nsec3_params np;
        if (nsec3_params_of(z, &np) < 0) return;
        /* RFC 5155 7.2.7: the NSEC3 matching the cut, or with opt-out the closest
           provable encloser proof */
        uint8_t off[128];
        int nl = name_labels(name, off);
        int match;
        znode_id m = nsec3_lookup(z, &np, name, &match);
        if (match) proof_add(&p, m);
        else closest_provable(z, &np, name, off, nl, nl - 1, &p);
        proof_put(c, z, &p, RD_T_NSEC3);
    } else if (zimg_find_rrset(z, cut, RD_T_NSEC)) {
        proof_add(&p, cut);                    /* RFC 4035 3.1.4.1: NS set, DS clear */
        proof_put(c, z, &p, RD_T_NSEC);
    }
}

void rd_dnssec_hide_nsec3(const zimg *z, zlookup *lk)
{
    znode_id e = lk->encloser;
    if (e == RD_NONE || !zimg_node_nsec3_only(z, e)) return;
    znode_id parent = zimg_node_parent(z, e);
    if (parent == RD_NONE) return;
    lk->exact = RD_NONE;
    lk->encloser = parent;
    lk->encloser_labels = rd_name_labels(zimg_node_name(z, parent));
    lk->wildcard = zimg_node_wild(z, parent);
}
