# common.pxd — C declarations of rd_common.h (record lists, diagnostics, name helpers).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "lib/rd_common.h" nogil:
    enum:
        RD_NAME_MAX
        RD_NONE
        RD_MSG_ERROR
        RD_MSG_WARNING
        RD_RR_TEXT_RDATA

    ctypedef struct rd_msg:
        int severity
        uint32_t file
        uint32_t line
        char text[240]

    ctypedef struct rd_msgs:
        rd_msg *v
        size_t n, cap
        size_t errors, warnings
        size_t limit

    ctypedef struct rd_rr:
        uint32_t owner
        uint32_t rdata
        uint32_t origin
        uint32_t ttl
        uint32_t line
        uint16_t rdlen
        uint16_t type
        uint16_t rclass
        uint16_t file
        uint16_t flags

    ctypedef struct rd_rrlist:
        rd_rr *rr
        size_t n, cap
        uint8_t *arena
        size_t alen, acap
        char **files
        size_t nfiles

    void rd_rrlist_init(rd_rrlist *l)
    void rd_rrlist_free(rd_rrlist *l)
    uint32_t rd_rrlist_store(rd_rrlist *l, const void *p, size_t len)
    int rd_rrlist_add(rd_rrlist *l, const uint8_t *owner, uint16_t type, uint16_t rclass,
                      uint32_t ttl, const uint8_t *rdata, uint16_t rdlen,
                      uint16_t file, uint32_t line)
    uint16_t rd_rrlist_file(rd_rrlist *l, const char *name)
    void rd_msgs_init(rd_msgs *m, size_t limit)
    void rd_msgs_free(rd_msgs *m)
    size_t rd_name_len(const uint8_t *n)
    int rd_name_labels(const uint8_t *n)
    size_t rd_name_lower_copy(uint8_t *dst, const uint8_t *src)
    int rd_name_eq(const uint8_t *a, const uint8_t *b)
    int rd_name_cmp(const uint8_t *a, const uint8_t *b)
    int rd_name_is_sub(const uint8_t *name, const uint8_t *zone)
    char *rd_name_to_text(const uint8_t *n, char *buf, size_t bufsize)


cdef extern from "lib/siphash.h" nogil:
    void rd_siphash24_bytes(const uint8_t *key, const uint8_t *data, size_t len, uint8_t *out)
