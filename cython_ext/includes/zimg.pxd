# zimg.pxd — C declarations of zimg.h (compiled zone images: build and read API).
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from includes.common cimport rd_rrlist, rd_msgs

cdef extern from "zone/zimg.h" nogil:
    ctypedef uint32_t znode_id

    enum:
        ZN_APEX
        ZN_CUT
        ZN_BELOW_CUT
        ZN_DNAME
        ZN_BELOW_DNAME
        ZN_ENT
        ZN_WILDCARD
        ZN_HAS_WILD
        ZN_CNAME

    ctypedef struct zrrset:
        uint16_t type
        uint16_t covered
        uint16_t count
        uint16_t flags
        uint32_t ttl
        uint32_t rdata_off
        uint32_t rdata_len
        uint32_t rrsig
        uint32_t addl_off
        uint32_t addl_count

    ctypedef struct zlookup:
        znode_id exact
        znode_id encloser
        znode_id cut
        znode_id dname
        znode_id wildcard
        int encloser_labels

    ctypedef struct zimg:
        pass

    zimg *zimg_build(const uint8_t *origin, const rd_rrlist *rrs, rd_msgs *msgs, size_t *size_out)
    zimg *zimg_build_consume(const uint8_t *origin, rd_rrlist *rrs, rd_msgs *msgs, size_t *size_out)
    int zimg_build_threads
    void zimg_free(zimg *z)
    int zimg_check_nsec3_iterations(const rd_rrlist *rrs, unsigned max_iterations, rd_msgs *msgs)
    enum: ZIMG_NSEC3_ITERATIONS_DEFAULT
    const zimg *zimg_from_buffer(const void *buf, size_t len, char *err, size_t errlen)
    const zimg *zimg_from_kept(const void *buf, size_t len, char *err, size_t errlen)
    size_t zimg_size(const zimg *z)
    const uint8_t *zimg_origin(const zimg *z)
    int zimg_origin_labels(const zimg *z)
    znode_id zimg_apex(const zimg *z)
    uint32_t zimg_serial(const zimg *z)
    uint32_t zimg_node_count(const zimg *z)
    uint32_t zimg_record_count(const zimg *z)
    void zimg_lookup(const zimg *z, const uint8_t *lname, int nlabels, zlookup *out)
    const uint8_t *zimg_node_name(const zimg *z, znode_id n)
    uint32_t zimg_node_flags(const zimg *z, znode_id n)
    int zimg_node_labels(const zimg *z, znode_id n)
    const zrrset *zimg_node_rrsets(const zimg *z, znode_id n, unsigned *count)
    const zrrset *zimg_find_rrset(const zimg *z, znode_id n, uint16_t type)
    const zrrset *zimg_rrset_at(const zimg *z, uint32_t index)
    const uint8_t *zimg_base(const zimg *z)
    znode_id zimg_find_node(const zimg *z, const uint8_t *lname)
    void zimg_fast_clear(zimg *z)
    uint32_t zimg_fast_names(const zimg *z)
    void zimg_fast_clear_do(zimg *z)
    size_t zimg_fast_do_bytes(const zimg *z)
    int zimg_fast_get(const zimg *z, const uint8_t *lname, uint16_t qtype, int do_bit,
                      uint16_t *counts, uint8_t *aa, uint8_t *rcode, const uint8_t **body)

cdef extern from "zone/zdiff.h" nogil:
    long zdiff_build(const zimg *old, const zimg *new_, uint8_t **out, size_t *outlen)
    int zdiff_journal_check(const uint8_t *buf, size_t len, char *err, size_t errlen)

cdef extern from "zone/zimg_build_int.h" nogil:
    # the owner index built ahead while a transfer comes in (zone/xfrin.c)
    ctypedef struct zimg_index:
        pass
    zimg *zimg_build_consume_indexed(const uint8_t *origin, rd_rrlist *rrs, rd_msgs *msgs,
                                     size_t *size_out, zimg_index *ix)
    int zimg_index_grouping(const zimg_index *ix)
