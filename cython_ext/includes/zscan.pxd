# zscan.pxd — C declarations of zscan.h (master-file parser) and the rd_common pieces it needs.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from includes.common cimport rd_rrlist, rd_msgs

cdef extern from "zone/zscan.h" nogil:
    ctypedef struct zs_options:
        const uint8_t *origin
        uint32_t default_ttl
        int include_depth_max
        size_t generate_max
        uint32_t include_files_max
        uint64_t include_bytes_max
        int include_dir_only

    int zs_parse_file(const char *path, const zs_options *opt, rd_rrlist *out, rd_msgs *msgs)
    int zs_parse_text(const char *name, const char *text, size_t len, const zs_options *opt,
                      rd_rrlist *out, rd_msgs *msgs)
    int zs_type_from_text(const char *s, size_t len)
    const char *zs_type_to_text(uint16_t type)
    int zs_name_from_text(const char *s, size_t len, const uint8_t *origin, uint8_t *out)

cdef extern from "lib/rd_common.h" nogil:
    void rd_msgs_add(rd_msgs *m, int severity, uint32_t file, uint32_t line,
                     const char *fmt, ...)
