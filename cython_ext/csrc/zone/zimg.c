/* zimg.c — zone image read side: lookup by hash of name suffixes, accessors, and the
 * validation of images read back from files (every offset checked before use). */
#include "zimg_format.h"
#include "zimg_dnssec.h"
#include "lib/rd_wire.h"

#include <stdio.h>

/* ---- rdata name checks (shared with the builder) ---- */

/* Length of the uncompressed wire name at rd[off..len), or -1 if it is malformed or
 * runs past len (RFC 1035 3.1: labels <= 63, names <= 255, no pointers in stored rdata). */
static int wire_name_len_at(const uint8_t *rd, size_t len, size_t off)
{
    size_t end = rd_wire_name_end(rd, len, off, 0);
    return end ? (int)(end - off) : -1;
}

int zimg_rdata_check(uint16_t type, const uint8_t *rd, size_t rdlen)
{
    int a, b;
    switch (type) {
    case RD_T_NS: case RD_T_CNAME: case RD_T_DNAME: case RD_T_PTR:
        a = wire_name_len_at(rd, rdlen, 0);
        return (a > 0 && (size_t)a == rdlen) ? 0 : -1;
    case RD_T_MX:
        a = wire_name_len_at(rd, rdlen, 2);
        return (a > 0 && (size_t)a + 2 == rdlen) ? 0 : -1;
    case RD_T_SRV:
        a = wire_name_len_at(rd, rdlen, 6);
        return (a > 0 && (size_t)a + 6 == rdlen) ? 0 : -1;
    case RD_T_SOA:
        a = wire_name_len_at(rd, rdlen, 0);
        if (a < 0) return -1;
        b = wire_name_len_at(rd, rdlen, (size_t)a);
        return (b > 0 && (size_t)a + (size_t)b + 20 == rdlen) ? 0 : -1;
    case RD_T_RRSIG:   /* RFC 4034 3.1: 18 fixed octets, signer's name, signature */
        if (rdlen < 19) return -1;
        return wire_name_len_at(rd, rdlen, 18) > 0 ? 0 : -1;
    case RD_T_SVCB: case RD_T_HTTPS:   /* RFC 9460 2.2: priority, target name, params */
        return wire_name_len_at(rd, rdlen, 2) > 0 ? 0 : -1;
    case RD_T_NSEC:    /* RFC 4034 4.1: next domain name, type bit maps */
        return wire_name_len_at(rd, rdlen, 0) > 0 ? 0 : -1;
    default:
        return 0;
    }
}

/* ---- accessors ---- */

static inline const znode *nodes_of(const zimg *z)
{
    return (const znode *)((const uint8_t *)z + z->nodes_off);
}
static inline const zrrset *rrsets_of(const zimg *z)
{
    return (const zrrset *)((const uint8_t *)z + z->rrsets_off);
}
static inline const uint32_t *hash_of(const zimg *z)
{
    return (const uint32_t *)((const uint8_t *)z + z->hash_off);
}

size_t zimg_size(const zimg *z) { return z->size; }
const uint8_t *zimg_base(const zimg *z) { return (const uint8_t *)z; }
znode_id zimg_apex(const zimg *z) { return z->apex; }
uint32_t zimg_serial(const zimg *z) { return z->serial; }
uint32_t zimg_node_count(const zimg *z) { return z->node_count; }
uint32_t zimg_record_count(const zimg *z) { return z->record_count; }
int zimg_origin_labels(const zimg *z) { return (int)z->origin_labels; }

const uint8_t *zimg_origin(const zimg *z)
{
    return (const uint8_t *)z + nodes_of(z)[z->apex].name_off;
}

const uint8_t *zimg_node_name(const zimg *z, znode_id n)
{
    return (const uint8_t *)z + nodes_of(z)[n].name_off;
}

uint32_t zimg_node_flags(const zimg *z, znode_id n) { return nodes_of(z)[n].flags; }
int zimg_node_labels(const zimg *z, znode_id n) { return nodes_of(z)[n].labels; }

const zrrset *zimg_node_rrsets(const zimg *z, znode_id n, unsigned *count)
{
    const znode *nd = &nodes_of(z)[n];
    *count = nd->rrset_count;
    return rrsets_of(z) + nd->rrset_first;
}

const zrrset *zimg_find_rrset(const zimg *z, znode_id n, uint16_t type)
{
    const znode *nd = &nodes_of(z)[n];
    const zrrset *r = rrsets_of(z) + nd->rrset_first;
    /* rrsets are sorted by type; nodes hold few of them, a scan beats a search */
    for (unsigned i = 0; i < nd->rrset_count; i++) {
        if (r[i].type == type) return type == RD_T_RRSIG ? NULL : &r[i];
        if (r[i].type > type) break;
    }
    return NULL;
}

const zrrset *zimg_rrset_at(const zimg *z, uint32_t index)
{
    return index < z->rrset_count ? rrsets_of(z) + index : NULL;
}

/* ---- lookup ---- */

static inline znode_id find_hashed(const zimg *z, const uint8_t *name, size_t len, uint32_t h)
{
    const uint32_t *tab = hash_of(z);
    const znode *nodes = nodes_of(z);
    const uint8_t *base = (const uint8_t *)z;
    uint32_t mask = z->hash_mask;
    uint32_t i = h & mask;
    /* the probe count is bounded by the table size: a table without an empty slot
       (only possible in a forged image) cannot loop forever */
    for (uint32_t probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
        uint32_t id = tab[i];
        if (id == RD_NONE) return RD_NONE;
        const znode *nd = &nodes[id];
        if (nd->hash == h && nd->name_len == len && memcmp(base + nd->name_off, name, len) == 0)
            return id;
    }
    return RD_NONE;
}

znode_id zimg_find_node(const zimg *z, const uint8_t *lname)
{
    size_t len = rd_name_len(lname);
    return find_hashed(z, lname, len, zimg_name_hash(lname));
}

void zimg_lookup(const zimg *z, const uint8_t *lname, int nlabels, zlookup *out)
{
    const uint8_t *lab[ZIMG_MAX_LABELS + 1];
    uint32_t hs[ZIMG_MAX_LABELS + 1];
    (void)nlabels;   /* recounted: the labels are needed anyway for the suffix hashes */
    int n = zimg_name_index(lname, lab, hs);
    int ol = (int)z->origin_labels;
    out->exact = out->encloser = out->cut = out->dname = out->wildcard = RD_NONE;
    out->encloser_labels = 0;
    if (n < ol) return;
    size_t total = rd_name_len(lname);
#define SUFFIX(i) find_hashed(z, lab[i], total - (size_t)(lab[i] - lname), hs[i])
    /* The builder materializes every empty non-terminal, so "the suffix with i labels
       stripped exists" is monotone in i: try the full name (the common case), then
       binary-search the deepest existing suffix.  The apex suffix (i = n - ol) always
       exists in a valid image of the zone containing lname. */
    int found_i;
    znode_id node = SUFFIX(0);
    if (node != RD_NONE) {
        found_i = 0;
    } else {
        if (n - ol < 1) return;       /* lname is the origin's length but not the origin */
        int lo = 1, hi = n - ol;      /* answer in [lo, hi] */
        znode_id hit = RD_NONE;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            znode_id m = SUFFIX(mid);
            if (m != RD_NONE) { hi = mid; hit = m; } else lo = mid + 1;
        }
        if (hit == RD_NONE || lo != hi) hit = SUFFIX(lo);
        if (hit == RD_NONE) return;   /* lname is not in this zone */
        node = hit;
        found_i = lo;
    }
#undef SUFFIX
    const znode *nd = &nodes_of(z)[node];
    out->encloser = node;
    out->encloser_labels = n - found_i;
    out->cut = nd->cut;
    if (found_i == 0) {
        out->exact = node;
        out->dname = nd->dname;
    } else {
        /* the encloser is a proper ancestor of qname: its own DNAME applies too */
        out->dname = nd->dname != RD_NONE ? nd->dname : ((nd->flags & ZN_DNAME) ? node : RD_NONE);
        out->wildcard = nd->wild;
    }
}

/* ---- validation of untrusted buffers ---- */

#define FAIL(...) do { if (errlen) snprintf(err, errlen, __VA_ARGS__); return NULL; } while (0)

static int section_ok(uint64_t off, uint64_t len, uint64_t size, unsigned align)
{
    return off % align == 0 && off <= size && len <= size - off;
}

static int lower_name_ok(const uint8_t *p, size_t avail, size_t want_len, int want_labels)
{
    int labels = 0;
    size_t i = 0;
    for (;;) {
        if (i >= avail || i >= want_len) return 0;
        uint8_t l = p[i];
        if (l > RD_LABEL_MAX) return 0;
        if (l == 0) break;
        if (i + 1 + l > want_len) return 0;
        for (size_t k = i + 1; k <= i + l; k++)
            if (p[k] >= 'A' && p[k] <= 'Z') return 0;
        i += (size_t)l + 1;
        labels++;
    }
    return i + 1 == want_len && labels == want_labels;
}

/* The checks of the header alone: magic, version, sizes, every section inside the image.
 * Shared by zimg_from_buffer (which then walks every node) and zimg_from_kept. */
static const zimg *header_check(const void *buf, size_t len, char *err, size_t errlen)
{
    const zimg *z = buf;
    if (!buf || len < sizeof(struct zimg)) FAIL("image too short (%zu bytes)", len);
    if ((uintptr_t)buf % 8) FAIL("image buffer not 8-byte aligned");
    if (memcmp(z->magic, ZIMG_MAGIC, 8) != 0) FAIL("not a robdns zone image (bad magic)");
    if (z->endian != ZIMG_ENDIAN_TAG) FAIL("zone image of another byte order");
    if (z->version != ZIMG_VERSION) FAIL("zone image version %u, expected %u", z->version, ZIMG_VERSION);
    if (z->hdr_size != sizeof(struct zimg)) FAIL("bad header size");
    if (z->size != len) FAIL("image size %u does not match buffer length %zu", z->size, len);
    uint64_t size = len;
    if (z->node_count == 0 || z->apex >= z->node_count) FAIL("no apex node");
    if (!section_ok(z->nodes_off, (uint64_t)z->node_count * sizeof(znode), size, 4) ||
        !section_ok(z->rrsets_off, (uint64_t)z->rrset_count * sizeof(zrrset), size, 4) ||
        !section_ok(z->hash_off, ((uint64_t)z->hash_mask + 1) * 4, size, 4) ||
        !section_ok(z->addl_off, (uint64_t)z->addl_count * 4, size, 4) ||
        !section_ok(z->names_off, z->names_len, size, 1) ||
        !section_ok(z->rdata_off, z->rdata_len, size, 1))
        FAIL("section out of bounds");
    if ((z->hash_mask & (z->hash_mask + 1)) != 0 || z->hash_mask + 1 < z->node_count)
        FAIL("bad hash table size");
    if (z->origin_labels >= ZIMG_MAX_LABELS) FAIL("bad origin label count");
    return z;
}

const zimg *zimg_from_kept(const void *buf, size_t len, char *err, size_t errlen)
{
    const zimg *z = header_check(buf, len, err, errlen);
    if (!z) return NULL;
    uint64_t size = len;
    /* the sections zimg_dnssec_check and zimg_fast_check walk: in bounds, as a version
       or size mix-up would show (their contents are the builder's, see zimg.h) */
    if (!section_ok(z->nsec3_off, (uint64_t)z->nsec3_count * 16, size, 8) ||
        !section_ok(z->fast_off, ((uint64_t)z->fast_mask + 1) * 8, size, 8) ||
        !section_ok(z->fast_recs_off, z->fast_recs_len, size, 4) ||
        !section_ok(z->neg_off, z->neg_len, size, 8) ||
        !section_ok(z->wild_off, z->wild_len, size, 8))
        FAIL("section out of bounds");
    return z;
}

const zimg *zimg_from_buffer(const void *buf, size_t len, char *err, size_t errlen)
{
    const zimg *z = header_check(buf, len, err, errlen);
    if (!z) return NULL;
    const uint8_t *base = buf;
    const znode *nodes = nodes_of(z);
    const zrrset *rrsets = rrsets_of(z);
    uint64_t names_end = (uint64_t)z->names_off + z->names_len;
    uint64_t rdata_end = (uint64_t)z->rdata_off + z->rdata_len;
    uint64_t addl_end = (uint64_t)z->addl_off + (uint64_t)z->addl_count * 4;
    uint32_t nn = z->node_count, nr = z->rrset_count;
    uint64_t records = 0;

    for (uint32_t i = 0; i < nn; i++) {
        const znode *nd = &nodes[i];
        if (nd->name_off < z->names_off || nd->name_off >= names_end ||
            !lower_name_ok(base + nd->name_off, names_end - nd->name_off, nd->name_len, nd->labels))
            FAIL("node %u: bad name", i);
        if (nd->labels < z->origin_labels || nd->labels >= ZIMG_MAX_LABELS)
            FAIL("node %u: name outside the zone", i);
        if (zimg_name_hash(base + nd->name_off) != nd->hash) FAIL("node %u: bad hash", i);
        if ((uint64_t)nd->rrset_first + nd->rrset_count > nr) FAIL("node %u: bad rrset range", i);
        if ((nd->parent != RD_NONE && nd->parent >= i) || (nd->parent == RD_NONE) != (i == z->apex))
            FAIL("node %u: bad parent", i);
        if (nd->parent != RD_NONE && nodes[nd->parent].labels + 1 != nd->labels)
            FAIL("node %u: bad parent", i);
        if (nd->parent != RD_NONE) {
            /* the parent's name is this name without its first label: by induction from
               the apex, every node lies at or below the origin */
            const uint8_t *tail = base + nd->name_off + 1 + base[nd->name_off];
            const znode *pn = &nodes[nd->parent];
            if (pn->name_len != nd->name_len - 1 - base[nd->name_off] ||
                (base + pn->name_off != tail && memcmp(base + pn->name_off, tail, pn->name_len) != 0))
                FAIL("node %u: name does not extend its parent's", i);
        }
        if ((nd->cut != RD_NONE && nd->cut > i) || (nd->dname != RD_NONE && nd->dname >= i) ||
            (nd->wild != RD_NONE && (nd->wild <= i || nd->wild >= nn)))
            FAIL("node %u: bad link", i);
        for (uint32_t k = 0; k < nd->rrset_count; k++) {
            const zrrset *r = &rrsets[nd->rrset_first + k];
            if (k > 0 && r[-1].type > r->type) FAIL("node %u: rrsets out of order", i);
            uint64_t r_end = (uint64_t)r->rdata_off + r->rdata_len;
            /* an RRSIG's rdata may be the bytes a DO answer holds (zimg_share.c) */
            int in_answers = r->type == RD_T_RRSIG && z->fast_off && r->rdata_off >= z->fast_recs_off &&
                             r_end <= (uint64_t)z->fast_recs_off + z->fast_recs_len && r_end <= len;
            if (!in_answers && (r->rdata_off < z->rdata_off || r_end > rdata_end))
                FAIL("rrset %u: rdata out of bounds", nd->rrset_first + k);
            const uint8_t *p = base + r->rdata_off;
            uint64_t used = 0;
            for (unsigned c = 0; c < r->count; c++) {
                if (used + 2 > r->rdata_len) FAIL("rrset %u: rdata overrun", nd->rrset_first + k);
                uint16_t rdlen = rd_get16(p + used);
                if (used + 2 + rdlen > r->rdata_len) FAIL("rrset %u: rdata overrun", nd->rrset_first + k);
                if (zimg_rdata_check(r->type, p + used + 2, rdlen) != 0)
                    FAIL("rrset %u: malformed rdata", nd->rrset_first + k);
                used += 2 + (uint64_t)rdlen;
            }
            if (used != r->rdata_len || r->count == 0) FAIL("rrset %u: bad rdata length", nd->rrset_first + k);
            records += r->count;
            if (r->rrsig != RD_NONE && (r->rrsig >= nr || rrsets[r->rrsig].type != RD_T_RRSIG))
                FAIL("rrset %u: bad rrsig link", nd->rrset_first + k);
            if (r->addl_off != RD_NONE) {
                if (r->addl_off < z->addl_off || (r->addl_off - z->addl_off) % 4 ||
                    (uint64_t)r->addl_off + (uint64_t)r->addl_count * 4 > addl_end)
                    FAIL("rrset %u: bad additional list", nd->rrset_first + k);
                const uint32_t *ids = (const uint32_t *)(base + r->addl_off);
                for (uint32_t a = 0; a < r->addl_count; a++)
                    if (ids[a] >= nn) FAIL("rrset %u: bad additional node", nd->rrset_first + k);
            } else if (r->addl_count != 0) {
                FAIL("rrset %u: bad additional list", nd->rrset_first + k);
            }
        }
    }
    if (records != z->record_count) FAIL("record count mismatch");
    if (nodes[z->apex].labels != z->origin_labels) FAIL("bad apex");
    const uint32_t *tab = hash_of(z);
    uint32_t used_slots = 0;
    for (uint64_t i = 0; i <= z->hash_mask; i++) {
        if (tab[i] == RD_NONE) continue;
        if (tab[i] >= nn) FAIL("bad hash slot %u", (unsigned)i);
        used_slots++;
    }
    if (used_slots != nn || used_slots > z->hash_mask) FAIL("bad hash table");
    /* Not checked, to keep loading fast: that each node sits at its hash position.  A
       forged table can hide names (wrong answers), never cause a read out of bounds:
       slots hold valid node ids and probing is bounded by the table size. */
    if (zimg_dnssec_check(z, err, errlen) != 0) return NULL;
    if (zimg_fast_check(z, err, errlen) != 0) return NULL;
    if (zimg_wild_check(z, err, errlen) != 0) return NULL;
    return z;
}
