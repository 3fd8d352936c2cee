# zscan.pyx — master-file parsing: the C parser (csrc/zscan*.c) plus dnspython for the
# rare types the C parser leaves as text (RD_RR_TEXT_RDATA), and FILE:LINE messages.
from includes.common cimport *
from includes.zscan cimport *
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

import os as _os


cdef bytes _zscan_origin_wire(object origin):
    """Presentation origin (str, relative names taken as absolute) -> wire, or None."""
    cdef uint8_t buf[256]
    cdef int n
    if origin is None:
        return None
    if isinstance(origin, bytes):
        return origin
    b = str(origin).encode()
    n = zs_name_from_text(b, len(b), <const uint8_t *>b"\x00", buf)
    if n < 0:
        raise ValueError(f"bad origin name {origin!r}")
    return (<char *>buf)[:n]


cdef int _zscan_encode_text_rdata(rd_rrlist *out, rd_msgs *msgs, size_t first) except -1:
    """Encode with dnspython the records the C parser kept as text; errors -> messages."""
    cdef size_t i
    cdef rd_rr *rr
    cdef uint32_t off
    cdef int errors = 0
    cdef bytes text, msg
    cdef dict cache = {}
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.exception
    for i in range(first, out.n):
        rr = &out.rr[i]
        if not (rr.flags & RD_RR_TEXT_RDATA):
            continue
        text = out.arena[rr.rdata:rr.rdata + rr.rdlen]
        # zones repeat the same rare rdata (e.g. one LOC or HTTPS text many times): one
        # dnspython call per distinct (type, text, origin)
        key = (rr.type, text, rr.origin)
        wire = cache.get(key)
        if wire is None:
            origin = None
            if rr.origin != RD_NONE:
                origin = dns.name.from_wire(out.arena[rr.origin:rr.origin + 256], 0)[0]
            try:
                rd = dns.rdata.from_text(dns.rdataclass.IN, rr.type,
                                         text.decode("utf-8", "surrogateescape"),
                                         origin=origin, relativize=False)
                wire = rd.to_wire()
            except Exception as e:  # dnspython reports bad rdata with many exception types
                reason = str(e) or type(e).__name__
                tname = zs_type_to_text(rr.type)
                tn = tname.decode() if tname != NULL else f"TYPE{rr.type}"
                wire = f"bad {tn} rdata: {reason}".encode("utf-8", "replace")[:230]
                wire = (wire,)      # a tuple marks a cached error
            cache[key] = wire
        if type(wire) is tuple:
            msg = wire[0]
            rd_msgs_add(msgs, RD_MSG_ERROR, rr.file, rr.line, b"%s", <const char *>msg)
            errors += 1
            continue
        if len(wire) > 65535:
            rd_msgs_add(msgs, RD_MSG_ERROR, rr.file, rr.line, b"%s",
                        <const char *>b"rdata longer than 65535 octets")
            errors += 1
            continue
        off = rd_rrlist_store(out, <const char *>wire, len(wire))
        if off == RD_NONE:
            raise MemoryError()
        rr = &out.rr[i]             # the arena may have moved, the record array has not
        rr.rdata = off
        rr.rdlen = <uint16_t>len(wire)
        rr.flags &= ~RD_RR_TEXT_RDATA
    return errors


cdef inline void _zscan_options(zs_options *opt, const uint8_t *origin, uint32_t default_ttl):
    """The parser options robdns uses everywhere ($INCLUDE depth 10, $GENERATE 65536;
    $INCLUDE files and bytes at the parser's defaults, from anywhere)."""
    opt.origin = origin
    opt.default_ttl = default_ttl
    opt.include_depth_max = 10
    opt.generate_max = 65536
    opt.include_files_max = 0
    opt.include_bytes_max = 0
    opt.include_dir_only = 0


cdef void _zscan_include_policy(zs_options *opt, object policy) except *:
    """Apply an include policy (robdns.config.IncludePolicy, or None for the defaults)."""
    if policy is None:
        return
    opt.include_dir_only = 1 if policy.dir_only else 0
    opt.include_files_max = <uint32_t>policy.max_files
    opt.include_bytes_max = <uint64_t>policy.max_bytes


cdef int zscan_load_file(str path, const uint8_t *origin, uint32_t default_ttl,
                         rd_rrlist *out, rd_msgs *msgs, object include_policy=None) except -1:
    """Parse a zone file (and its $INCLUDEs) into out; returns the number of errors."""
    cdef zs_options opt
    cdef bytes bpath = _os.fsencode(path)
    cdef const char *cpath = bpath
    cdef size_t first = out.n
    cdef int errors
    _zscan_options(&opt, origin, default_ttl)
    _zscan_include_policy(&opt, include_policy)
    with nogil:
        errors = zs_parse_file(cpath, &opt, out, msgs)
    return errors + _zscan_encode_text_rdata(out, msgs, first)


cdef int zscan_load_text(str name, bytes text, const uint8_t *origin, uint32_t default_ttl,
                         rd_rrlist *out, rd_msgs *msgs) except -1:
    """Parse zone text (name is used in messages and for relative $INCLUDE)."""
    cdef zs_options opt
    cdef bytes bname = _os.fsencode(name)
    cdef const char *cname = bname
    cdef const char *ctext = text
    cdef size_t tlen = len(text)
    cdef size_t first = out.n
    cdef int errors
    _zscan_options(&opt, origin, default_ttl)
    with nogil:
        errors = zs_parse_text(cname, ctext, tlen, &opt, out, msgs)
    return errors + _zscan_encode_text_rdata(out, msgs, first)


cdef list zscan_format_messages(const rd_rrlist *l, const rd_msgs *m):
    """Messages as "FILE:LINE: error: reason" / "FILE:LINE: warning: reason"."""
    cdef size_t i
    cdef const rd_msg *e
    res = []
    for i in range(m.n):
        e = &m.v[i]
        fname = (_os.fsdecode(<bytes>l.files[e.file]) if e.file != RD_NONE and e.file < l.nfiles
                 else "<unknown>")
        sev = "error" if e.severity == RD_MSG_ERROR else "warning"
        text = (<bytes>e.text).decode("utf-8", "replace")
        if e.line:
            res.append(f"{fname}:{e.line}: {sev}: {text}")
        else:
            res.append(f"{fname}: {sev}: {text}")
    if m.errors + m.warnings > m.n:
        res.append(f"... {m.errors + m.warnings - m.n} more messages not shown")
    return res

