/* zimg_dnssec.h — DNSSEC read side of zone images: the NSEC owner before a name (RFC 4034 6.1 order) and the NSEC3 owner matching or covering a hash (RFC 5155). */
#ifndef RD_ZIMG_DNSSEC_H
#define RD_ZIMG_DNSSEC_H

#include "zimg.h"

/* Node links the proofs need (zimg.h keeps them private to the lookup). */
znode_id zimg_node_parent(const zimg *z, znode_id n);
znode_id zimg_node_wild(const zimg *z, znode_id n);

/* Does the node own NSEC3 (and its RRSIG) and nothing else?  Such a name exists only
 * for the NSEC3 chain: Knot and NSD answer it as if it were absent (RFC 5155 7.2.8
 * says NSEC3 owners are not part of the zone's ordinary name space). */
int zimg_node_nsec3_only(const zimg *z, znode_id n);

/* The NSEC owner that matches (`*match` = 1) or covers (RFC 4034 4.1.1, `*match` = 0)
 * the lower-case name `lname` of this zone: the last node in canonical order at or
 * before it that owns an NSEC rrset.  RD_NONE when the zone has no NSEC chain. */
znode_id zimg_nsec_find(const zimg *z, const uint8_t *lname, int *match);
/* The same when node `from` is lname or one of its ancestors (at or before it in canonical
 * order): searched up from there, a few nodes for a name near its closest encloser. */
znode_id zimg_nsec_find_from(const zimg *z, const uint8_t *lname, znode_id from, int *match);

/* Number of NSEC3 owners in the precomputed index (0: the zone has no NSEC3 chain). */
uint32_t zimg_nsec3_count(const zimg *z);
/* The first NSEC3 owner (for the chain's parameters when NSEC3PARAM is absent). */
znode_id zimg_nsec3_first(const zimg *z);

/* The NSEC3 owner whose first label is `label` (the base32hex hash, lower case,
 * RFC 4648 section 7) — `*match` = 1 — or the one whose owner hash precedes it, wrapping
 * to the last owner (RFC 5155 7.2.1: that NSEC3 covers the hash).  RD_NONE when the
 * zone has no NSEC3 chain. */
znode_id zimg_nsec3_find(const zimg *z, const uint8_t *label, size_t label_len, int *match);
/* The same as the owner's place in the index (0 .. zimg_nsec3_count - 1), and back. */
uint32_t zimg_nsec3_find_place(const zimg *z, const uint8_t *label, size_t label_len, int *match);
/* The same searching only [lo, hi) of the index, which must hold the answer's successor
 * (a bucket of the directory below: every entry before lo precedes the label). */
uint32_t zimg_nsec3_find_place_in(const zimg *z, const uint8_t *label, size_t label_len,
                                  uint32_t lo, uint32_t hi, int *match);
/* The same for a raw hash (RFC 5155 5, ZIMG_NSEC3_HASH_LEN octets), compared by its bits:
 * its base32hex label is written out only when an owner's key ties with it (a match,
 * or two hashes sharing their first 60 bits). */
#define ZIMG_NSEC3_HASH_LEN 20
uint32_t zimg_nsec3_find_place_hash(const zimg *z, const uint8_t hash[ZIMG_NSEC3_HASH_LEN],
                                    uint32_t lo, uint32_t hi, int *match);
/* A hash as an owner label: base32hex, lower case (RFC 4648 7, RFC 5155 3.3). */
void zimg_nsec3_label_of(const uint8_t hash[ZIMG_NSEC3_HASH_LEN], uint8_t label[32]);
/* The index's directory by the hashes' top `bits` bits (dir[(1 << bits) + 1], entry b the
 * first place whose hash's top bits are b or more). */
void zimg_nsec3_directory(const zimg *z, uint32_t *dir, int bits);
znode_id zimg_nsec3_node_at(const zimg *z, uint32_t place);
/* Ask for the index entries [lo, hi) a search (zimg_nsec3_find_place_in) will read: the
 * batch pipeline's, a step before it searches (at most four lines). */
void zimg_nsec3_prefetch(const zimg *z, uint32_t lo, uint32_t hi);

/* Build side: append the NSEC3 owner index to a freshly built image (realloc()ing it;
 * *size is updated).  On failure the image is freed and NULL returned. */
zimg *zimg_dnssec_index(zimg *z, size_t *size);
/* Validation of the index of an image read from a file: 0 when sound, else -1 with a
 * reason in err. */
int zimg_dnssec_check(const zimg *z, char *err, size_t errlen);
/* The same for the precomputed NXDOMAIN proofs (zneg, zimg_format.h). */
int zimg_neg_check(const zimg *z, char *err, size_t errlen);
/* A piece (zneg_piece) at image offset off (RD_NONE: none) lies whole inside [lo, hi)
 * and its pointers inside its body; 1 when sound (the wildcard section's check too). */
int zimg_neg_piece_ok(const zimg *z, uint64_t off, uint64_t lo, uint64_t hi);

#endif
