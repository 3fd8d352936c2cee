# engine.pxd — C declarations of engine.h (the answer engine, database snapshots, counters).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from includes.zimg cimport zimg

cdef extern from "query/engine.h" nogil:
    ctypedef struct rd_options:
        char identity[256]
        char version[256]
        uint8_t nsid[128]
        uint16_t nsid_len
        uint16_t max_udp_payload
        uint8_t minimal_any

    ctypedef struct rd_db:
        uint32_t nzones
        const zimg **zones
        rd_options opt
        uint64_t generation

    ctypedef struct rd_transport:
        uint8_t tcp
        uint8_t family
        uint16_t keepalive

    enum:
        RD_STAT_QTYPES

    ctypedef struct rd_stats:
        uint64_t queries
        uint64_t responses
        uint64_t dropped
        uint64_t malformed
        uint64_t truncated
        uint64_t udp, tcp
        uint64_t edns, do_bit
        uint64_t rcode[16]
        uint64_t qtype[64]
        uint64_t qtype_other_known[8]

    const zimg *rd_db_find_zone(const rd_db *db, const uint8_t *lname, int nlabels)
    size_t rd_answer(const rd_db *db, const uint8_t *q, size_t qlen,
                     uint8_t *resp, size_t respcap, const rd_transport *t, rd_stats *stats)

    ctypedef struct rd_batch_item:
        const uint8_t *q
        size_t qlen
        uint8_t *resp
        size_t respcap
        size_t resplen

    void rd_answer_batch(const rd_db *db, rd_batch_item *items, size_t n,
                         const rd_transport *t, rd_stats *stats)

cdef extern from "query/precompute.h" nogil:
    zimg *rd_precompute_answers(zimg *z, size_t *size)
