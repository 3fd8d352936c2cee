# engine.pxd — C declarations of engine.h (the answer engine, database snapshots, counters).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t
from includes.zimg cimport zimg

cdef extern from "lib/tsig.h" nogil:
    enum:
        RD_TSIG_SECRET_MAX
    ctypedef struct rd_tsig_key:
        uint8_t name[256]
        uint8_t alg
        uint16_t secret_len
        uint8_t secret[512]
    int rd_tsig_alg_from_name(const uint8_t *lname)

cdef extern from "query/engine.h" nogil:
    ctypedef struct rd_options:
        char identity[256]
        char version[256]
        uint8_t nsid[128]
        uint16_t nsid_len
        uint16_t max_udp_payload
        uint8_t minimal_any
        uint8_t cookies
        uint8_t cookie_require
        uint8_t cookie_have_previous
        uint8_t cookie_secret[16]
        uint8_t cookie_previous[16]
        uint16_t max_transfers

    ctypedef struct rd_acl_rule:
        uint8_t family
        uint8_t prefix
        uint8_t addr[16]
        int32_t key

    ctypedef struct rd_zone_xfr:
        const rd_acl_rule *acl
        uint32_t nacl
        const uint8_t *journal
        size_t journal_len

    ctypedef struct rd_zone_notify:
        const rd_acl_rule *acl
        uint32_t nacl

    ctypedef struct rd_zonetab:
        uint32_t count

    ctypedef struct rd_db:
        uint32_t nzones
        const zimg **zones
        const rd_zonetab *ztab
        rd_options opt
        uint64_t generation
        const rd_tsig_key *keys
        uint32_t nkeys
        const rd_zone_xfr *xfr
        const uint16_t *zone_slot
        const uint8_t *zone_flags
        const uint32_t *zone_expire_at
        const rd_zone_notify *notify

    ctypedef struct rd_cookie_cache:
        uint64_t hits
        uint64_t stores
        uint64_t flushes

    ctypedef struct rd_transport:
        uint8_t tcp
        uint8_t family
        uint8_t client_len
        const uint8_t *client
        uint16_t keepalive
        rd_cookie_cache *cookie_cache
        uint32_t now

    enum:
        RD_ZONE_EXPIRED

    enum:
        RD_STAT_QTYPES
        RD_STAT_RCODES
        RD_STAT_ZONES

    ctypedef struct rd_stats:
        uint64_t queries
        uint64_t responses
        uint64_t dropped
        uint64_t malformed
        uint64_t truncated
        uint64_t udp, tcp
        uint64_t edns, do_bit
        uint64_t rcode[32]
        uint64_t qtype[64]
        uint64_t qtype_named[8]
        uint64_t opcode[16]
        uint64_t zone_queries[256]
        uint64_t zone_rcode[256][8]

    uint32_t rd_db_find_index(const rd_db *db, const uint8_t *lname, int parent_first)
    rd_zonetab *rd_zonetab_build(const zimg *const *zones, uint32_t n, uint32_t *dup)
    void rd_zonetab_free(rd_zonetab *t)
    size_t rd_answer(const rd_db *db, const uint8_t *q, size_t qlen,
                     uint8_t *resp, size_t respcap, const rd_transport *t, rd_stats *stats)

    ctypedef struct rd_batch_item:
        const uint8_t *q
        size_t qlen
        uint8_t *resp
        size_t respcap
        size_t resplen
        const uint8_t *client
        uint8_t client_len

    void rd_answer_batch(const rd_db *db, rd_batch_item *items, size_t n,
                         const rd_transport *t, rd_stats *stats)

cdef extern from "query/precompute.h" nogil:
    zimg *rd_precompute_answers(zimg *z, size_t *size)
    int rd_precompute_threads
    long rd_precompute_room

cdef extern from "query/xfr.h" nogil:
    enum:
        RD_XFR_STATE_BYTES
    ctypedef struct rd_xfr:
        pass
    ctypedef struct rd_xfr_event:
        uint64_t time_ms
        uint8_t zone[256]
        uint8_t key[256]
        uint8_t what
        uint8_t mode
        uint16_t qtype
        uint8_t family
        uint8_t addr[16]
        uint16_t port
        uint32_t serial
        uint32_t client_serial
        uint64_t messages, bytes, records
    int rd_xfr_start(rd_xfr *x, const rd_db *db, const uint8_t *q, size_t qlen,
                     const void *peer)
    size_t rd_xfr_next(rd_xfr *x, uint8_t *out, size_t cap)
    void rd_xfr_end(rd_xfr *x)
    size_t rd_xfr_events_take(rd_xfr_event *out, size_t max, uint64_t *lost)
    uint32_t rd_xfr_active()


cdef extern from "query/notify.h" nogil:
    void rd_notify_set_wakeup(int fd)
    size_t rd_notify_take(uint8_t (*out)[256], size_t max)
