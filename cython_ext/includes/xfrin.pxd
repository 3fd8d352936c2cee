# xfrin.pxd — C declarations of zone/xfrin.h (received zone transfers).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from includes.common cimport rd_rrlist
from includes.zimg cimport zimg, zimg_index
from includes.engine cimport rd_tsig_key, rd_tsig_alg_from_name, RD_TSIG_SECRET_MAX

cdef extern from "zone/xfrin.h" nogil:
    enum:
        RD_XFRIN_PENDING
        RD_XFRIN_AXFR
        RD_XFRIN_IXFR
        RD_XFRIN_UPTODATE

    ctypedef struct rd_xfrin:
        uint16_t qtype
        uint16_t id
        int kind
        int done
        uint32_t serial
        uint32_t messages
        uint64_t records
        int has_expire
        uint32_t expire
        uint8_t rcode
        char err[200]
        rd_rrlist zone
        rd_rrlist diff
        zimg_index *index

    size_t rd_xfrin_index_min
    void rd_xfrin_init(rd_xfrin *x, const uint8_t *origin, uint16_t qtype, uint16_t id,
                       uint32_t have_serial)
    void rd_xfrin_free(rd_xfrin *x)
    int rd_xfrin_message(rd_xfrin *x, const uint8_t *m, size_t len, size_t *tsig_off)
    int rd_xfrin_index(rd_xfrin *x, size_t max)
    int rd_xfrin_apply(rd_xfrin *x, const zimg *cur, rd_rrlist *out)
    int rd_xfrin_image_records(const zimg *z, rd_rrlist *out)

cdef extern from "lib/rd_wire.h" nogil:
    int rd_serial_lt(uint32_t a, uint32_t b)

cdef extern from "zone/xfrin_recv.h" nogil:
    enum:
        RD_XFRIN_RECV_OK
        RD_XFRIN_RECV_MESSAGE
        RD_XFRIN_RECV_TSIG
        RD_XFRIN_RECV_TIMEOUT
        RD_XFRIN_RECV_CLOSED
        RD_XFRIN_RECV_TOO_BIG
        RD_XFRIN_RECV_IO

    ctypedef struct rd_xfrin_recv:
        int fd
        const rd_tsig_key *key
        uint8_t request_mac[64]
        uint16_t request_mac_len
        double timeout
        uint64_t deadline_ns
        uint64_t max_size
        uint64_t bytes

    int rd_xfrin_receive(rd_xfrin *x, rd_xfrin_recv *r)
    uint64_t rd_xfrin_now_ns()

cdef extern from "zone/xfrin_query.h" nogil:
    enum:
        RD_XFRIN_SOA_OK
        RD_XFRIN_SOA_BAD
        RD_XFRIN_SOA_TC
        RD_XFRIN_SOA_NOT_OURS

    ctypedef struct rd_xfrin_soa:
        uint32_t serial
        int has_expire
        uint32_t expire
        uint8_t rcode
        uint16_t tsig_error
        char err[200]

    size_t rd_xfrin_query(uint8_t *out, size_t cap, const uint8_t *origin, uint16_t qtype,
                          uint16_t id, uint32_t serial, const rd_tsig_key *key, uint64_t now,
                          uint8_t *mac, uint16_t *mac_len)
    int rd_xfrin_soa_answer(const uint8_t *m, size_t len, const uint8_t *origin, uint16_t id,
                            const rd_tsig_key *key, const uint8_t *request_mac,
                            uint16_t request_mac_len, uint64_t now, rd_xfrin_soa *out)
