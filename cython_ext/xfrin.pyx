# xfrin.pyx — received zone transfers for Python: response messages in, the next ZoneImage out (zone/xfrin.c does the reading, zimg_build the image).
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_AS_STRING
from includes.xfrin cimport *

_XFR_KINDS = {RD_XFRIN_PENDING: "pending", RD_XFRIN_AXFR: "axfr", RD_XFRIN_IXFR: "ixfr",
              RD_XFRIN_UPTODATE: "uptodate"}


cdef list _rrlist_tuples(const rd_rrlist *l):
    cdef size_t i
    cdef const rd_rr *r
    out = []
    for i in range(l.n):
        r = &l.rr[i]
        out.append((PyBytes_FromStringAndSize(<const char *>l.arena + r.owner,
                                              rd_name_len(l.arena + r.owner)),
                    r.ttl, r.rclass, r.type,
                    PyBytes_FromStringAndSize(<const char *>l.arena + r.rdata, r.rdlen)))
    return out


cdef int _tsig_key_c(key, rd_tsig_key *k) except -1:
    """A robdns.config.TsigKey (name, algorithm, secret) as the C key (names lower-case)."""
    from robdns.errors import TransferError
    memset(k, 0, sizeof(k[0]))
    cdef bytes wire = _origin_wire(key.name).lower()
    cdef bytes alg = _tsig_alg_wire(key.algorithm)
    k.alg = <uint8_t>rd_tsig_alg_from_name(<const uint8_t *>PyBytes_AS_STRING(alg))
    cdef bytes secret = bytes(key.secret)
    if k.alg == 0 or not 0 < len(secret) <= RD_TSIG_SECRET_MAX:
        raise TransferError(f"TSIG key {key.name}: unusable algorithm or secret")
    memcpy(k.name, PyBytes_AS_STRING(wire), len(wire))
    k.secret_len = len(secret)
    memcpy(k.secret, PyBytes_AS_STRING(secret), len(secret))
    return 0


_PLAIN_LOWER = None


cdef str _lower_name_text(name):
    """dns.name.from_text(name).to_text().lower(): a plain name (letters, digits, '-',
    '_') without dnspython, which the secondary's path does not import otherwise."""
    global _PLAIN_LOWER
    s = str(name)
    t = s.lower() if s.endswith(".") else s.lower() + "."
    if _PLAIN_LOWER is None:
        import re
        _PLAIN_LOWER = re.compile(r"(?:[a-z0-9_-]{1,63}\.)+")
    if len(t) <= 254 and _PLAIN_LOWER.fullmatch(t):
        return t
    import dns.name
    return dns.name.from_text(s).to_text().lower()


_QTYPES = {"SOA": 6, "IXFR": 251, "AXFR": 252}


def xfr_query(origin, qtype, int id, serial=0, key=None, now=None):
    """(wire, request MAC) of the SOA query, AXFR or IXFR request a secondary sends
    (zone/xfrin_query.c): RD clear, EDNS with an empty EXPIRE option (RFC 7314), an IXFR
    carrying `serial` (RFC 1995 3), signed with `key` (a robdns.config.TsigKey; RFC 8945
    4.3.3) at `now` (seconds since the epoch; None: the clock).  The MAC is b"" unsigned."""
    import time
    cdef bytes ow = _origin_wire(origin)
    cdef rd_tsig_key k
    cdef uint8_t buf[1024]
    cdef uint8_t mac[64]
    cdef uint16_t mac_len = 0
    cdef uint16_t qt = _QTYPES[qtype] if isinstance(qtype, str) else qtype
    if key is not None:
        _tsig_key_c(key, &k)
    cdef size_t n = rd_xfrin_query(buf, sizeof(buf), <const uint8_t *>ow, qt, <uint16_t>id,
                                   <uint32_t>serial, &k if key is not None else NULL,
                                   <uint64_t>(time.time() if now is None else now), mac, &mac_len)
    if n == 0:
        raise ValueError("the query cannot be built (or signed)")
    return PyBytes_FromStringAndSize(<const char *>buf, n), PyBytes_FromStringAndSize(<const char *>mac, mac_len)


def soa_answer(message, origin, int id, key=None, bytes request_mac=b"", now=None):
    """Check an answer to our SOA query (zone/xfrin_query.c): ("ok", serial, expire or
    None), ("tc", None, None) when it is truncated (ask over TCP), ("not ours", None,
    None) when it answers another query (ID, question: ignored on UDP).  Raises
    TransferError (with the RCODE when the primary answered one) when it is ours but
    unsigned with `key`, badly signed, not NOERROR, not authoritative or has no SOA."""
    import time
    from robdns.errors import TransferError
    cdef const uint8_t[::1] v = message
    cdef bytes ow = _origin_wire(origin)
    cdef rd_tsig_key k
    cdef rd_xfrin_soa o
    if key is not None:
        _tsig_key_c(key, &k)
    if len(request_mac) > 64:
        raise ValueError("request MAC too long")
    cdef const uint8_t *p = &v[0] if v.shape[0] else <const uint8_t *>b""
    cdef int rc = rd_xfrin_soa_answer(p, v.shape[0], <const uint8_t *>ow, <uint16_t>id,
                                      &k if key is not None else NULL,
                                      <const uint8_t *>PyBytes_AS_STRING(request_mac),
                                      len(request_mac),
                                      <uint64_t>(time.time() if now is None else now), &o)
    if rc == RD_XFRIN_SOA_OK:
        return "ok", o.serial, (o.expire if o.has_expire else None)
    if rc == RD_XFRIN_SOA_TC:
        return "tc", None, None
    if rc == RD_XFRIN_SOA_NOT_OURS:
        return "not ours", None, None
    if o.err.startswith(b"the primary answered"):
        raise TransferError(f"SOA query: the primary answered {_RCODES.get(o.rcode, o.rcode)}",
                            rcode=o.rcode)
    raise TransferError("SOA query: " + o.err.decode("utf-8", "replace"))


_RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
           6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE"}


cdef class XfrIn:
    """One transfer being received: feed() each response message in order (after its TSIG
    is verified or before: a transfer that fails anywhere is thrown away whole), then
    image() builds the next version.  Errors raise robdns.errors.TransferError."""
    cdef rd_xfrin *x
    cdef readonly str origin

    def __cinit__(self, origin, qtype="AXFR", int id=0, serial=0):
        cdef bytes ow = _origin_wire(origin)
        self.x = <rd_xfrin *>malloc(sizeof(rd_xfrin))
        if self.x == NULL:
            raise MemoryError()
        cdef uint16_t qt = 251 if qtype in ("IXFR", 251) else 252
        rd_xfrin_init(self.x, <const uint8_t *>ow, qt, <uint16_t>id, <uint32_t>serial)
        self.origin = str(origin)

    def __dealloc__(self):
        if self.x != NULL:
            rd_xfrin_free(self.x)
            free(self.x)

    def feed(self, message):
        """Read one message: returns (done, tsig_offset); tsig_offset is 0 when the message
        carries no TSIG record."""
        from robdns.errors import TransferError
        cdef const uint8_t[::1] v = message
        cdef size_t n = v.shape[0]
        cdef size_t toff = 0
        cdef int rc
        cdef const uint8_t *p = &v[0] if n else <const uint8_t *>b""
        with nogil:
            rc = rd_xfrin_message(self.x, p, n, &toff)
            if rc >= 0:
                # its records into the build's owner index, as receive() does while waiting
                rd_xfrin_index(self.x, <size_t>-1)
        if rc < 0:
            raise TransferError(self.x.err.decode("utf-8", "replace"), rcode=self.x.rcode)
        return rc == 1, toff

    def receive(self, int fd, key=None, bytes request_mac=b"", double timeout=300.0,
                unsigned long long max_size=1 << 30, deadline=None):
        """Read the whole response off the connected TCP socket `fd` (the request sent) in
        C, without the GIL (zone/xfrin_recv.c): the framing, every message into this
        transfer and, with `key` (a robdns.config.TsigKey), its TSIG chained from
        `request_mac` (RFC 8945 5.3.1), until `deadline` (time.monotonic() seconds;
        None: `timeout` from now).  Returns the octets received; raises
        TransferError, prefixed with the transfer's type unless a message was refused."""
        from robdns.errors import TransferError
        cdef rd_xfrin_recv r
        cdef rd_tsig_key k
        cdef int rc
        memset(&r, 0, sizeof(r))
        r.fd = fd
        r.timeout = timeout
        r.max_size = max_size
        if key is not None:
            _tsig_key_c(key, &k)
            if len(request_mac) > 64:
                raise TransferError(f"TSIG key {key.name}: request MAC too long")
            memcpy(r.request_mac, PyBytes_AS_STRING(request_mac), len(request_mac))
            r.request_mac_len = len(request_mac)
            r.key = &k
        # CLOCK_MONOTONIC, as time.monotonic() and asyncio's loop.time() on Linux
        r.deadline_ns = (rd_xfrin_now_ns() + <uint64_t>(timeout * 1e9) if deadline is None
                         else <uint64_t>(max(0.0, deadline) * 1e9))
        with nogil:
            rc = rd_xfrin_receive(self.x, &r)
        if rc == RD_XFRIN_RECV_MESSAGE:
            raise TransferError(self.x.err.decode("utf-8", "replace"), rcode=self.x.rcode)
        if rc != RD_XFRIN_RECV_OK:
            qtype = "IXFR" if self.x.qtype == 251 else "AXFR"
            raise TransferError(f"{qtype}: " + self.x.err.decode("utf-8", "replace"))
        return r.bytes

    @property
    def done(self):
        return bool(self.x.done)

    @property
    def kind(self):
        return _XFR_KINDS[self.x.kind]

    @property
    def serial(self):
        return self.x.serial

    @property
    def messages(self):
        return self.x.messages

    @property
    def records(self):
        return self.x.records

    @property
    def index_ahead(self):
        """Whether zimg_build's owner index is being made as the messages come (an AXFR
        whose records so far need no message from the build: zone/xfrin.c), so that
        image() starts past it."""
        return self.x.index != NULL

    @property
    def expire(self):
        """The EDNS EXPIRE value the primary sent (RFC 7314), or None."""
        return self.x.expire if self.x.has_expire else None

    def zone_records(self):
        """AXFR: the records of the zone (SOA once); for tests."""
        return _rrlist_tuples(&self.x.zone)

    def image(self, ZoneImage current=None):
        """The next version as a ZoneImage: the AXFR's records, or the IXFR applied to
        `current` (IxfrApplyError when it does not apply: fall back to AXFR).  Raises
        ZoneError when the records do not make a valid zone."""
        from robdns.errors import TransferError, IxfrApplyError
        cdef rd_rrlist out
        cdef rd_msgs m
        cdef int rc = 0
        cdef bytes ow = _origin_wire(self.origin)
        if not self.x.done:
            raise TransferError("the transfer is not complete")
        if self.x.kind == RD_XFRIN_UPTODATE:
            raise TransferError("nothing newer to build: the zone is up to date")
        rd_rrlist_init(&out)
        rd_msgs_init(&m, 0)
        try:
            rd_rrlist_file(&out, b"<transfer>")
            if self.x.kind == RD_XFRIN_IXFR:
                if current is None:
                    raise IxfrApplyError("an IXFR needs the current version")
                with nogil:
                    rc = rd_xfrin_apply(self.x, current.img, &out)
                if rc != 0:
                    raise IxfrApplyError(self.x.err.decode("utf-8", "replace"))
                return _build_image(self.origin, ow, &out, &m, None, True, True)
            rd_rrlist_file(&self.x.zone, b"<transfer>")
            # the records go once the image holds them (zone_records() is empty after)
            return _build_image(self.origin, ow, &self.x.zone, &m, None, True, True, self.x.index)
        finally:
            rd_rrlist_free(&out)
            rd_msgs_free(&m)


def image_records(ZoneImage img):
    """Every record of an image as (owner_wire, ttl, rclass, rtype, rdata_wire)."""
    cdef rd_rrlist l
    rd_rrlist_init(&l)
    try:
        if rd_xfrin_image_records(img.img, &l) != 0:
            raise MemoryError()
        return _rrlist_tuples(&l)
    finally:
        rd_rrlist_free(&l)


def image_apex_node(ZoneImage img):
    """Index of the image's apex node (for image_node_records)."""
    return zimg_apex(img.img)


def image_node_records(ZoneImage img, uint32_t node):
    """The records of one node of an image (0 <= node < img.node_count), as
    image_records() gives them: a large image is walked node by node without a list of
    every record (the kept copy's text, robdns.secondary.flush)."""
    cdef unsigned count, i, k
    cdef const zrrset *r
    cdef const uint8_t *p
    cdef const uint8_t *owner
    cdef uint16_t rdlen
    if node >= zimg_node_count(img.img):
        raise IndexError(f"node {node} out of range")
    owner = zimg_node_name(img.img, node)
    ob = PyBytes_FromStringAndSize(<const char *>owner, rd_name_len(owner))
    r = zimg_node_rrsets(img.img, node, &count)
    out = []
    for i in range(count):
        p = zimg_base(img.img) + r[i].rdata_off
        for k in range(r[i].count):
            rdlen = p[0] << 8 | p[1]
            out.append((ob, r[i].ttl, 1, r[i].type,
                        PyBytes_FromStringAndSize(<const char *>p + 2, rdlen)))
            p += 2 + rdlen
    return out


def serial_lt(uint32_t a, uint32_t b):
    """RFC 1982 serial comparison: a < b."""
    return bool(rd_serial_lt(a, b))


def soa_fields(ZoneImage img):
    """(serial, refresh, retry, expire, minimum) of the image's SOA (RFC 1035 3.3.13): the
    timers a secondary plans its refresh, retry and expiry from."""
    cdef const zrrset *r = zimg_find_rrset(img.img, zimg_apex(img.img), 6)
    cdef const uint8_t *p
    cdef size_t rdlen, a, b
    if r == NULL or r.count < 1:
        raise ValueError("the image has no SOA")
    p = zimg_base(img.img) + r.rdata_off
    rdlen = p[0] << 8 | p[1]
    p += 2
    a = rd_name_len(p)
    b = rd_name_len(p + a)
    if a + b + 20 != rdlen:
        raise ValueError("malformed SOA in the image")
    p += a + b
    return tuple((<uint32_t>p[4 * k] << 24) | (<uint32_t>p[4 * k + 1] << 16)
                 | (<uint32_t>p[4 * k + 2] << 8) | p[4 * k + 3] for k in range(5))
