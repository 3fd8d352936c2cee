# testhooks.pyx — entry points for the tests and benchmarks only, built into robdns._core
# when ROBDNS_TEST_HOOKS=1 at build time (setup.py); the installed product leaves them out
# so that it carries nothing the daemon and the CLI do not call.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from posix.time cimport clock_gettime, timespec, CLOCK_THREAD_CPUTIME_ID
from libc.time cimport time as c_time
from includes.common cimport *
from includes.zscan cimport *
from includes.zimg cimport *
from includes.engine cimport *
from includes.server cimport *
cimport includes.xdp as cxdp

import os as _os
import time as _time

# The C stress test of the RCU protocol (csrc/server/rcu_selftest.c), compiled in with the hooks.
cdef extern from "server/rcu_selftest.h" nogil:
    ctypedef struct rd_rcu_stress_result:
        int readers
        int publications
        uint64_t grace_periods
        uint64_t violations
        uint64_t reads
    int rd_rcu_stress(int nreaders, int publications, int skip_synchronize,
                      rd_rcu_stress_result *out)
    int rd_rcu_pin_stress(int publications, int ignore_pins, rd_rcu_stress_result *out)


# ---- the parser alone (zscan)

def _name_cmp(bytes a, bytes b):
    """Canonical order (RFC 4034 6.1) of two wire names; for tests of rd_common."""
    return rd_name_cmp(<const uint8_t *>a, <const uint8_t *>b)


cdef tuple _zscan_records_and_messages(rd_rrlist *l, rd_msgs *m):
    cdef size_t i
    cdef rd_rr *rr
    cdef size_t olen
    recs = []
    for i in range(l.n):
        rr = &l.rr[i]
        olen = rd_name_len(l.arena + rr.owner)
        recs.append((l.arena[rr.owner:rr.owner + olen], rr.ttl, rr.rclass, rr.type,
                     l.arena[rr.rdata:rr.rdata + rr.rdlen]))
    return recs, zscan_format_messages(l, m)


def parse_zone_file(path, origin, default_ttl=3600, message_limit=100, include_policy=None):
    """Parse a zone file -> (records, messages); records are
    (owner_wire, ttl, rclass, rtype, rdata_wire) in file order.  include_policy: as
    compile_zone's."""
    cdef rd_rrlist l
    cdef rd_msgs m
    cdef bytes ow = _zscan_origin_wire(origin)
    rd_rrlist_init(&l)
    rd_msgs_init(&m, message_limit)
    try:
        zscan_load_file(str(path), <const uint8_t *>ow if ow is not None else NULL,
                        default_ttl, &l, &m, include_policy)
        return _zscan_records_and_messages(&l, &m)
    finally:
        rd_rrlist_free(&l)
        rd_msgs_free(&m)


def parse_zone_text(text, origin, name="<string>", default_ttl=3600, message_limit=100):
    """Parse zone text (str or bytes) -> (records, messages), as parse_zone_file."""
    cdef rd_rrlist l
    cdef rd_msgs m
    cdef bytes ow = _zscan_origin_wire(origin)
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    rd_rrlist_init(&l)
    rd_msgs_init(&m, message_limit)
    try:
        zscan_load_text(name, text, <const uint8_t *>ow if ow is not None else NULL,
                        default_ttl, &l, &m)
        return _zscan_records_and_messages(&l, &m)
    finally:
        rd_rrlist_free(&l)
        rd_msgs_free(&m)


def type_from_text(str s):
    """RR type mnemonic (or TYPEnnn) -> number; -1 if unknown."""
    b = s.encode()
    return zs_type_from_text(b, len(b))


def type_to_text(int t):
    """RR type number -> mnemonic, or None."""
    cdef const char *p = zs_type_to_text(<uint16_t>t)
    return p.decode() if p != NULL else None


def _parse_c_only(text, origin, name="<string>", includes=True, include_policy=None):
    """For tests: the C parser alone -> (records, text_flags, messages); text_flags[i]
    says record i was left as text for dnspython (its rdata is then that text).
    includes=False refuses $INCLUDE, as the fuzz harness does."""
    cdef rd_rrlist l
    cdef rd_msgs m
    cdef zs_options opt
    cdef bytes ow = _zscan_origin_wire(origin)
    cdef bytes bname = _os.fsencode(name)
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    rd_rrlist_init(&l)
    rd_msgs_init(&m, 100)
    _zscan_options(&opt, <const uint8_t *>ow if ow is not None else NULL, 3600)
    _zscan_include_policy(&opt, include_policy)
    if not includes:
        opt.include_depth_max = -1
    try:
        zs_parse_text(bname, text, len(text), &opt, &l, &m)
        flags = [bool(l.rr[i].flags & RD_RR_TEXT_RDATA) for i in range(l.n)]
        recs, msgs = _zscan_records_and_messages(&l, &m)
        return recs, flags, msgs
    finally:
        rd_rrlist_free(&l)
        rd_msgs_free(&m)


# ---- a second record source and the builder alone (zone)

class _RecordingTxn:
    """Just enough of a dnspython transaction for dns.zonefile.Reader: it records every
    record with the file and line it came from instead of merging rdatasets, so that
    the semantic checks (duplicates, TTL differences) see the file as written."""

    class _Manager:
        def __init__(self, origin):
            self.origin = origin

        def origin_information(self):
            return (self.origin, False, self.origin)

    def __init__(self, origin):
        self.manager = self._Manager(origin)
        self.records = []      # (owner Name, ttl, rdata, filename, line)
        self.where = ("<string>", 0)

    def _set_origin(self, origin):
        pass

    def check_put_rdataset(self, check):
        pass

    def add(self, name, ttl, rd):
        self.records.append((name, ttl, rd) + self.where)

    add_unicode = add


def _dnspython_records(origin, str text, str name, default_ttl):
    """Parse master-file text with dnspython: list of (owner, ttl, rdata, file, line), or
    raise ZoneError("FILE:LINE: error: reason") on the first syntax error."""
    import dns.exception
    import dns.name
    import dns.rdataclass
    import dns.tokenizer
    import dns.zonefile
    from robdns.errors import ZoneError

    txn = _RecordingTxn(dns.name.from_text(origin) if isinstance(origin, str) else origin)

    class Reader(dns.zonefile.Reader):
        def _rr_line(self):
            # the owner token is still to be read: this is the record's first line
            txn.where = (self.tok.filename, self.tok.line_number)
            return super()._rr_line()

    tok = dns.tokenizer.Tokenizer(text, filename=name)
    reader = Reader(tok, dns.rdataclass.IN, txn, allow_include=True,
                    default_ttl=default_ttl, rfc2308_ttl=False)
    try:
        reader.read()
    except dns.exception.DNSException as exc:
        # dnspython's message starts with "FILE:LINE: " already
        msg = str(exc)
        parts = msg.split(": ", 1)
        if len(parts) == 2 and ":" in parts[0]:
            msg = f"{parts[0]}: error: {parts[1]}"
        else:
            msg = f"{name}: error: {msg}"
        raise ZoneError(str(origin), [msg]) from None
    return txn.records


cdef int _fill_rrlist_dnspython(rd_rrlist *l, list records) except -1:
    cdef bytes owner, rdata
    cdef uint16_t fidx
    for (nm, ttl, rd, fname, line) in records:
        owner = nm.to_wire()
        rdata = rd.to_wire()
        fidx = rd_rrlist_file(l, str(fname).encode("utf-8", "replace"))
        if len(rdata) > 65535:
            raise ValueError("rdata too long")
        if rd_rrlist_add(l, <const uint8_t *>owner, rd.rdtype, rd.rdclass, ttl,
                         <const uint8_t *>rdata, <uint16_t>len(rdata), fidx, line) != 0:
            raise MemoryError()
    return 0


def _compile_zone_dnspython(origin, str text, str name="<string>", default_ttl=3600):
    """Compile zone text read by dnspython's parser (the second record source, kept so
    tests can check the C parser path compiles to the same image)."""
    cdef rd_rrlist l
    cdef rd_msgs m
    records = _dnspython_records(origin, text, name, default_ttl)
    rd_rrlist_init(&l)
    rd_msgs_init(&m, 0)
    try:
        _fill_rrlist_dnspython(&l, records)
        return _build_image(str(origin), _origin_wire(origin), &l, &m)
    finally:
        rd_rrlist_free(&l)
        rd_msgs_free(&m)


def _compile_zone_records(origin, list records, str name="<records>"):
    """Compile raw records (owner_wire, ttl, rclass, rtype, rdata_wire[, line]) — the
    builder without any parser, for tests of the semantic checks and of bad input."""
    cdef rd_rrlist l
    cdef rd_msgs m
    cdef bytes owner, rdata
    cdef uint16_t fidx
    rd_rrlist_init(&l)
    rd_msgs_init(&m, 0)
    try:
        fidx = rd_rrlist_file(&l, name.encode())
        for lineno, rec in enumerate(records, 1):
            owner, ttl, rclass, rtype, rdata = rec[:5]
            line = rec[5] if len(rec) > 5 else lineno
            if rd_rrlist_add(&l, <const uint8_t *>owner, rtype, rclass, ttl,
                             <const uint8_t *>rdata, <uint16_t>len(rdata), fidx, line) != 0:
                raise MemoryError()
        return _build_image(str(origin), _origin_wire(origin), &l, &m)
    finally:
        rd_rrlist_free(&l)
        rd_msgs_free(&m)

# ---- the image seen from Python: bytes, lookups, node views (zone)

def image_to_bytes(ZoneImage img):
    """The image's bytes, as save() writes them."""
    return PyBytes_FromStringAndSize(<const char *>zimg_base(img.img), zimg_size(img.img))


def image_from_bytes(data):
    """Validate a copy of `data` as an image (ValueError with the reason if invalid)."""
    cdef const uint8_t[::1] view = data
    cdef size_t n = view.shape[0]
    cdef char err[256]
    cdef void *buf = malloc(n if n else 1)
    if buf == NULL:
        raise MemoryError()
    if n:
        memcpy(buf, &view[0], n)
    err[0] = 0
    cdef const zimg *z = zimg_from_buffer(buf, n, err, sizeof(err))
    if z == NULL:
        free(buf)
        raise ValueError(err.decode("utf-8", "replace"))
    cdef ZoneImage img = ZoneImage.__new__(ZoneImage)
    img._copy = buf
    img.img = z
    return img


def image_lookup(ZoneImage img, name):
    """zimg_lookup of a name (text or wire): a dict of node names (or None)."""
    cdef bytes w = _origin_wire(name).lower() if isinstance(name, str) else bytes(name).lower()
    cdef zlookup r
    zimg_lookup(img.img, <const uint8_t *>w, rd_name_labels(<const uint8_t *>w), &r)
    return {
        "exact": _image_node_text(img, r.exact),
        "encloser": _image_node_text(img, r.encloser),
        "cut": _image_node_text(img, r.cut),
        "dname": _image_node_text(img, r.dname),
        "wildcard": _image_node_text(img, r.wildcard),
        "encloser_labels": r.encloser_labels if r.encloser != RD_NONE else None,
        "cut_labels": zimg_node_labels(img.img, r.cut) if r.cut != RD_NONE else None,
    }


def image_without_answers(ZoneImage img):
    """A copy of the image without its precomputed answers: every query then takes the
    general path (to compare the two, and to measure)."""
    cdef ZoneImage copy = image_from_bytes(image_to_bytes(img))
    zimg_fast_clear(<zimg *>copy._copy)
    return copy


def image_without_do_answers(ZoneImage img):
    """A copy of the image whose precomputed answers serve DO=0 queries only: DO=1
    queries take the general path, as before the signed answers existed (to measure)."""
    cdef ZoneImage copy = image_from_bytes(image_to_bytes(img))
    zimg_fast_clear_do(<zimg *>copy._copy)
    return copy


def image_do_answer_bytes(ZoneImage img):
    """Bytes of the image taken by the answers to DO=1 queries (what signing the
    precomputed answers costs; 0 for a zone without DNSSEC records)."""
    return zimg_fast_do_bytes(img.img)


def image_answer_names(ZoneImage img):
    """How many names have precomputed answers."""
    return zimg_fast_names(img.img)


def image_fast_answer(ZoneImage img, name, int qtype, do=False):
    """The precomputed answer for (name, qtype) to a query without DO (or with, `do`):
    a dict with the section counts, AA, the rcode and the bytes after the question; None
    when the query would take the general path."""
    cdef bytes w = _origin_wire(name).lower()
    cdef uint16_t counts[3]
    cdef uint8_t aa, rcode
    cdef const uint8_t *body
    cdef int n = zimg_fast_get(img.img, <const uint8_t *>w, <uint16_t>qtype, 1 if do else 0,
                               counts, &aa, &rcode, &body)
    if n < 0:
        return None
    return {"an": counts[0], "ns": counts[1], "ar": counts[2], "aa": bool(aa),
            "rcode": rcode, "body": PyBytes_FromStringAndSize(<const char *>body, n)}


def set_precompute_threads(int n):
    """Threads of the precompute pass for the next compiles: 1 or 2, 0 = the default (two
    for a big zone on two cores or more).  Returns the previous setting."""
    global rd_precompute_threads
    cdef int old = rd_precompute_threads
    rd_precompute_threads = n
    return old


def set_precompute_room(long n):
    """Bytes of the first half's room reserved in a big image for the next compiles, -1 =
    the estimate (the default); a room too small must give the same image.  Returns the
    previous setting."""
    global rd_precompute_room
    cdef long old = rd_precompute_room
    rd_precompute_room = n
    return old


def set_build_threads(int n):
    """Threads of zimg_build's node sort and rrset fill for the next compiles: 1 or 2,
    0 = the default (two for a big zone on two cores or more).  Returns the previous
    setting."""
    global zimg_build_threads
    cdef int old = zimg_build_threads
    zimg_build_threads = n
    return old


def image_node_names(ZoneImage img):
    """Every node's name in image (canonical) order."""
    return [_image_node_text(img, i) for i in range(zimg_node_count(img.img))]


def image_node_flags(ZoneImage img, name):
    """The ZN_* flags of the node `name`, or None when the image has no such node."""
    cdef bytes w = _origin_wire(name).lower()
    cdef znode_id n = zimg_find_node(img.img, <const uint8_t *>w)
    if n == RD_NONE:
        return None
    return zimg_node_flags(img.img, n)


# ---- the answer engine called from Python (engine)

cdef extern from "zone/zimg_format.h" nogil:
    uint32_t zimg_name_hash(const uint8_t *name)


def zone_name_hash(name):
    """zimg_name_hash of a name (text or wire, lower-cased): the hash the zone table files
    an apex under (tests make two apexes of one hash with it)."""
    import dns.name
    wire = name if isinstance(name, bytes) else dns.name.from_text(name).to_wire()
    cdef bytes lw = bytes(wire).lower()
    return zimg_name_hash(<const uint8_t *>PyBytes_AS_STRING(lw))


def db_find_index(Database db, name, ds=False):
    """Index in db.zones of the zone that answers `name` (str or wire bytes), or None:
    the most specific one; with ds=True the one above `name` first, as for a DS query
    (RFC 4035 3.1.4.1)."""
    import dns.name
    wire = name if isinstance(name, bytes) else dns.name.from_text(name).to_wire()
    cdef bytes lw = bytes(wire).lower()
    cdef uint32_t i = rd_db_find_index(db.db, <const uint8_t *>PyBytes_AS_STRING(lw),
                                       1 if ds else 0)
    return None if i == RD_NONE else i


cdef class EngineStats:
    """The counters of one caller of the engine (rd_stats), readable as a dict."""
    cdef rd_stats s

    def __cinit__(self):
        memset(&self.s, 0, sizeof(rd_stats))

    def as_dict(self):
        return {
            "queries": self.s.queries, "responses": self.s.responses,
            "dropped": self.s.dropped, "malformed": self.s.malformed,
            "truncated": self.s.truncated, "udp": self.s.udp, "tcp": self.s.tcp,
            "edns": self.s.edns, "do": self.s.do_bit,
            "rcode": {i: self.s.rcode[i] for i in range(RD_STAT_RCODES) if self.s.rcode[i]},
            "qtype": {i: self.s.qtype[i] for i in range(RD_STAT_QTYPES) if self.s.qtype[i]},
            "qtype_other": {_RD_QTYPE_OTHER[i]: self.s.qtype_named[i]
                            for i in range(len(_RD_QTYPE_OTHER)) if self.s.qtype_named[i]},
            "opcode": {i: self.s.opcode[i] for i in range(16) if self.s.opcode[i]},
            "zones": {i: self.s.zone_queries[i] for i in range(RD_STAT_ZONES)
                      if self.s.zone_queries[i]},
        }

    def named(self):
        """The counters with the names `robdns ctl stats` and /metrics use."""
        return stats_dict(&self.s)


cdef bytes _client_bytes(object client):
    """A client address (text, bytes of 4 or 16, or an ipaddress object) as packed bytes;
    b"" for None."""
    if client is None:
        return b""
    if isinstance(client, bytes):
        if len(client) not in (0, 4, 16):
            raise ValueError("a client address is 4 or 16 bytes")
        return client
    import ipaddress
    return ipaddress.ip_address(client).packed


cdef class CookieCache:
    """A worker's cache of verified DNS Cookies (rd_cookie_cache, query/engine.h), empty
    when made; pass it as answer(..., cookie_cache=) to answer as a worker thread does.
    Not for use by two threads at once (a worker's own)."""
    cdef rd_cookie_cache *c

    def __cinit__(self):
        self.c = <rd_cookie_cache *>calloc(1, sizeof(rd_cookie_cache))
        if self.c == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.c)

    @property
    def hits(self):
        """Cookies accepted from the cache (SipHash not run)."""
        return self.c.hits

    @property
    def stores(self):
        """Cookies SipHash accepted that the cache kept."""
        return self.c.stores

    @property
    def flushes(self):
        """Times the cache was emptied: a new snapshot, or the clock leaving its epoch."""
        return self.c.flushes


cdef void _transport(rd_transport *t, object tcp, bytes client, CookieCache cache=None,
                     uint32_t now=0):
    """A transport for the engine: TCP or UDP, from `client` (b"": unknown), with the
    cookie cache `cache` (None: every cookie hashed) and the caller's clock `now`
    (seconds; 0: the engine reads it)."""
    memset(t, 0, sizeof(rd_transport))
    t.now = now
    t.tcp = 1 if tcp else 0
    t.family = 6 if len(client) == 16 else 4
    t.client_len = <uint8_t>len(client)
    t.client = <const uint8_t *>PyBytes_AS_STRING(client) if client else NULL
    t.cookie_cache = cache.c if cache is not None else NULL


def _siphash24(bytes key, bytes data):
    """SipHash-2-4 of `data` under the 16-byte `key` (csrc/lib/siphash.c), as the 8
    bytes of the reference implementation."""
    cdef uint8_t out[8]
    if len(key) != 16:
        raise ValueError("a SipHash key is 16 bytes")
    rd_siphash24_bytes(<const uint8_t *>PyBytes_AS_STRING(key),
                       <const uint8_t *>PyBytes_AS_STRING(data), len(data), out)
    return PyBytes_FromStringAndSize(<char *>out, 8)


# The response writer's name compression alone (engine_write.c rd_put_name), for the test
# that compares its search with a plain one (tests/test_name_compression.py).
cdef extern from *:
    """
    #include <stdlib.h>
    #include "query/engine_int.h"
    /* The question of `q` (header, name, type, class) echoed, then each wire name of
     * `names` (concatenated) written compressed, as an owner is: the response's length. */
    static size_t rd_test_put_names(const uint8_t *q, size_t qlen, const uint8_t *names,
                                    size_t nlen, uint8_t *out, size_t cap)
    {
        rd_ctx *c = calloc(1, sizeof *c);
        if (!c) return 0;
        c->q = q; c->qlen = qlen; c->r = out; c->cap = c->limit = cap;
        size_t o = 12;
        while (q[o]) { c->loff[c->nlabels++] = (uint8_t)(o - 12); o += q[o] + 1u; }
        c->qname_wlen = o + 1 - 12;
        c->question_ok = 1;
        rd_write_header(c);
        rd_write_question(c);
        for (size_t p = 0; p < nlen; ) {
            size_t l = 0;
            while (names[p + l]) l += names[p + l] + 1u;
            if (rd_put_name(c, names + p, l + 1, 1) < 0) break;
            p += l + 1;
        }
        size_t len = c->len;
        free(c);
        return len;
    }
    """
    size_t rd_test_put_names(const uint8_t *q, size_t qlen, const uint8_t *names,
                             size_t nlen, uint8_t *out, size_t cap)


def put_names(bytes question, list names):
    """The response the writer makes of the wire name `question` echoed (type and class
    0) and then each wire name of `names`, compressed (engine_write.c rd_put_name)."""
    cdef bytes q = b"\0" * 12 + question + b"\0" * 4
    cdef bytes nb = b"".join(names)
    out = bytearray(65535)
    cdef uint8_t[::1] ov = out
    n = rd_test_put_names(<const uint8_t *>PyBytes_AS_STRING(q), len(q),
                          <const uint8_t *>PyBytes_AS_STRING(nb), len(nb), &ov[0], len(out))
    return bytes(out[:n])


def answer(Database db, bytes query, tcp=False, EngineStats stats=None, int keepalive=0,
           client=None, CookieCache cookie_cache=None, uint32_t now=0):
    """Answer one query (wire bytes) from `db`; returns the response, b"" for none.
    keepalive: the idle timeout a TCP answer advertises to a query asking for it
    (RFC 7828, 100 ms units; 0: none).  now: the clock DNS Cookies take (seconds since
    the epoch; 0: the system's).  The engine runs without the GIL."""
    if db is None or db.db == NULL:
        raise ValueError("answer() needs an initialised Database")
    cdef bytes cl = _client_bytes(client)
    cdef rd_transport t
    _transport(&t, tcp, cl, cookie_cache, now)
    t.keepalive = keepalive if 0 <= keepalive <= 65535 else 0   # RFC 7828 TIMEOUT, 100 ms units
    cdef size_t qlen = PyBytes_GET_SIZE(query)
    cdef const uint8_t *q = <const uint8_t *>PyBytes_AS_STRING(query)
    cdef uint8_t *resp = <uint8_t *>malloc(65535)
    if resp == NULL:
        raise MemoryError()
    cdef rd_stats *sp = &stats.s if stats is not None else NULL
    cdef size_t n
    cdef const rd_db *dbp = db.db
    with nogil:
        n = rd_answer(dbp, q, qlen, resp, 65535, &t, sp)
    try:
        return PyBytes_FromStringAndSize(<char *>resp, n)
    finally:
        free(resp)


cdef double _thread_cpu_seconds() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


def answer_batch(Database db, list queries, tcp=False, EngineStats stats=None, client=None,
                 CookieCache cookie_cache=None, uint32_t now=0):
    """Answer a list of queries with rd_answer_batch (prefetching pipeline); returns the
    list of responses (b"" = none), each equal to what answer() gives (`now` as there)."""
    if db is None or db.db == NULL:
        raise ValueError("answer_batch() needs an initialised Database")
    cdef Py_ssize_t n = len(queries), i
    for b in queries:
        if not isinstance(b, bytes):
            raise TypeError("queries must be bytes")
    cdef size_t cap = 65535 if tcp else 4096
    cdef rd_batch_item *items = <rd_batch_item *>calloc(n + 1, sizeof(rd_batch_item))
    cdef uint8_t *bufs = <uint8_t *>malloc((n + 1) * cap)
    if items == NULL or bufs == NULL:
        free(items); free(bufs)
        raise MemoryError()
    for i in range(n):
        items[i].q = <const uint8_t *>PyBytes_AS_STRING(queries[i])
        items[i].qlen = PyBytes_GET_SIZE(queries[i])
        items[i].resp = bufs + i * cap
        items[i].respcap = cap
    cdef bytes cl = _client_bytes(client)
    cdef rd_transport t
    _transport(&t, tcp, cl, cookie_cache, now)
    cdef rd_stats *sp = &stats.s if stats is not None else NULL
    cdef const rd_db *dbp = db.db
    with nogil:
        rd_answer_batch(dbp, items, n, &t, sp)
    try:
        return [PyBytes_FromStringAndSize(<char *>items[i].resp, items[i].resplen)
                for i in range(n)]
    finally:
        free(items)
        free(bufs)


def bench_answer(Database db, list queries, double seconds=1.0, tcp=False, int batch=0,
                 client=None, CookieCache cookie_cache=None, caller_clock=False):
    """In-process engine benchmark: answer the pre-made `queries` in order, round after
    round, in a C loop without the GIL, for about `seconds` of this thread's CPU time;
    one rd_answer per query, or with batch > 0 rd_answer_batch over `batch` queries at a
    time.  caller_clock: the loop reads the clock once per round of 65,536 answers and
    gives it to the engine (rd_transport.now), as a worker loop gives its turn's; else
    the engine reads it (once per batch, or per single query with cookies on).  Returns
    (answered, wall_seconds, cpu_seconds, bytes_out); answered / cpu_seconds is the rate
    of one core even when the machine is shared."""
    cdef Py_ssize_t nq = len(queries)
    if nq == 0:
        raise ValueError("no queries")
    if batch < 0 or batch > 1024:
        raise ValueError("batch must be within 0..1024")
    cdef Py_ssize_t nb = batch if batch > 0 else 1
    cdef size_t respcap = 65535 if tcp else 1232
    cdef rd_batch_item *items = <rd_batch_item *>calloc(nq, sizeof(rd_batch_item))
    cdef uint8_t *bufs = <uint8_t *>malloc(nb * respcap)
    if items == NULL or bufs == NULL:
        free(items); free(bufs)
        raise MemoryError()
    cdef Py_ssize_t i
    for i in range(nq):
        b = queries[i]
        if not isinstance(b, bytes):
            free(items); free(bufs)
            raise TypeError("queries must be bytes")
        items[i].q = <const uint8_t *>PyBytes_AS_STRING(b)
        items[i].qlen = PyBytes_GET_SIZE(b)
        items[i].resp = bufs + (i % nb) * respcap
        items[i].respcap = respcap
    cdef bytes cl = _client_bytes(client)
    cdef rd_transport t
    _transport(&t, tcp, cl, cookie_cache)
    cdef const rd_db *dbp = db.db
    cdef uint64_t done = 0, out = 0
    cdef Py_ssize_t j = 0, k, m
    cdef double cpu0, cpu1
    cdef bint clock = bool(caller_clock)
    wall0 = _time.perf_counter()
    with nogil:
        cpu0 = _thread_cpu_seconds()
        cpu1 = cpu0
        # The clock is read about once per 64k answers, off the hot path.
        while cpu1 - cpu0 < seconds:
            if clock:
                t.now = <uint32_t>c_time(NULL)
            k = 0
            while k < 65536:
                if batch > 0:
                    m = nb if j + nb <= nq else nq - j
                    rd_answer_batch(dbp, items + j, m, &t, NULL)
                    for i in range(j, j + m):
                        out += items[i].resplen
                else:
                    m = 1
                    out += rd_answer(dbp, items[j].q, items[j].qlen, items[j].resp,
                                     respcap, &t, NULL)
                j += m
                k += m
                if j == nq:
                    j = 0
            done += k
            cpu1 = _thread_cpu_seconds()
    wall = _time.perf_counter() - wall0
    free(items); free(bufs)
    return done, wall, cpu1 - cpu0, out

# ---- zone transfers driven from Python (engine, xfrin)

cdef class Transfer:
    """A zone transfer out (xfr.c) over a Database, as the TCP loop streams it.  ``Transfer(db, query, peer=("127.0.0.1", 5300))``;
    ``started`` is False when the query is not a transfer xfr.c streams (answer it with
    answer()); iterating gives the messages (no length prefix).  The Database stays alive
    (and so its images and journal) as long as the Transfer."""
    cdef rd_xfr x
    cdef readonly Database db
    cdef readonly bint started
    cdef bint open_

    def __cinit__(self, Database db, bytes query, peer=None):
        import ipaddress
        import socket
        import struct
        if db is None or db.db == NULL:
            raise ValueError("Transfer needs an initialised Database")
        self.db = db
        cdef bytes sa = b""
        if peer is not None:
            ip = ipaddress.ip_address(peer[0])
            if ip.version == 4:
                sa = struct.pack("=H", socket.AF_INET) + struct.pack("!H", peer[1]) + ip.packed + bytes(8)
            else:
                sa = (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", peer[1], 0) +
                      ip.packed + bytes(4))
        cdef const char *sp = NULL
        if peer is not None:
            sp = sa
        self.started = rd_xfr_start(&self.x, db.db, <const uint8_t *><const char *>query,
                                    len(query), <const void *>sp) == 1
        self.open_ = self.started

    def __iter__(self):
        return self

    def __next__(self):
        if not self.open_:
            raise StopIteration
        cdef uint8_t *buf = <uint8_t *>malloc(65535)
        if buf == NULL:
            raise MemoryError()
        cdef size_t n
        try:
            with nogil:
                n = rd_xfr_next(&self.x, buf, 65535)
            if n == 0:
                self.close()
                raise StopIteration
            return PyBytes_FromStringAndSize(<char *>buf, n)
        finally:
            free(buf)

    def close(self):
        """End the stream (an unfinished one is logged as aborted)."""
        if self.open_:
            rd_xfr_end(&self.x)
            self.open_ = False

    def __dealloc__(self):
        if self.open_:
            rd_xfr_end(&self.x)


def transfers_active():
    """AXFR/IXFR streams running now, in all threads."""
    return rd_xfr_active()


def parse_transfer(origin, messages, qtype="AXFR", int id=0, serial=0, ZoneImage current=None):
    """The ZoneImage a complete transfer (the list of its response messages) gives: an
    AXFR's zone, or an IXFR applied to `current`.  None when an IXFR says the zone is up
    to date.  TransferError when the messages are not a well-formed complete transfer."""
    from robdns.errors import TransferError
    x = XfrIn(origin, qtype, id, serial)
    for i, m in enumerate(messages):
        done, _ = x.feed(m)
        if done and i != len(messages) - 1:
            raise TransferError("messages after the end of the transfer")
    if not x.done:
        raise TransferError("the transfer ends before its closing SOA")
    if x.kind == "uptodate":
        return None
    return x.image(current)


# ---- rate limiting and RCU driven from Python (server)

cdef class RrlTable:
    """One worker's rate limiting table driven from Python with a given clock, for tests.

    check(peer, response, now_ms) -> "pass" | "slip" | "drop", where peer is a
    (host, port) pair of either family; slip(response) -> the truncated form.
    """
    cdef rd_rrl_table *t

    def __cinit__(self, dict rrl):
        cdef rd_rrl_config c = _rrl_config(rrl)
        self.t = rd_rrl_new(&c)
        if self.t == NULL:
            raise MemoryError()

    def check(self, peer, bytes response, unsigned long long now_ms):
        import socket as _socket
        import struct as _struct
        host, port = peer[0], peer[1]
        if ":" in host:     # struct sockaddr_in6 / sockaddr_in, family in host order
            sa = _struct.pack("=H", _socket.AF_INET6) + port.to_bytes(2, "big") + bytes(4) \
                + _socket.inet_pton(_socket.AF_INET6, host) + bytes(4)
        else:
            sa = _struct.pack("=H", _socket.AF_INET) + port.to_bytes(2, "big") \
                + _socket.inet_pton(_socket.AF_INET, host) + bytes(8)
        cdef bytes sab = sa
        cdef int v = rd_rrl_check(self.t, <const sockaddr *><const char *>sab,
                                  <const unsigned char *>response, len(response), now_ms)
        return {RD_RRL_PASS: "pass", RD_RRL_SLIP: "slip", RD_RRL_DROP: "drop"}[v]

    @staticmethod
    def slip(bytes response):
        buf = bytearray(response)
        cdef unsigned char[::1] view = buf
        cdef size_t n = rd_rrl_slip(&view[0], len(buf)) if len(buf) else 0
        return bytes(buf[:n])

    def __dealloc__(self):
        rd_rrl_free(self.t)


# RCU: a reader slot and the grace-period counter in Python hands, and the C stress test.

def rcu_synchronize():
    """Wait for a grace period (GIL released): every online reader passes a quiescent point."""
    with nogil:
        rd_rcu_synchronize()


def rcu_grace_periods():
    """Number of grace periods completed so far in this process."""
    return rd_rcu_grace_periods()


cdef class RcuTestReader:
    """An RCU reader slot driven from Python, for tests of the grace-period rules.

    Workers do this in C; tests use it to hold a reader online (not quiescent) and show
    that rd_rcu_synchronize() waits for it, or that it does not wait for an offline one.
    """
    cdef rd_rcu_reader *r

    def __cinit__(self):
        self.r = rd_rcu_register()
        if self.r == NULL:
            raise RuntimeError("no free RCU reader slot")

    def online(self):
        rd_rcu_online(self.r)

    def quiescent(self):
        rd_rcu_quiescent(self.r)

    def offline(self):
        rd_rcu_offline(self.r)

    def close(self):
        if self.r != NULL:
            rd_rcu_unregister(self.r)
            self.r = NULL

    def __dealloc__(self):
        if self.r != NULL:
            rd_rcu_unregister(self.r)


def rcu_pin_stress(int publications, bint ignore_pins=False):
    """Run the C pinning stress test of rcu_selftest.c; returns its counters as a dict."""
    cdef rd_rcu_stress_result res
    cdef int rc
    cdef int ignore = 1 if ignore_pins else 0
    with nogil:
        rc = rd_rcu_pin_stress(publications, ignore, &res)
    if rc != 0:
        raise ValueError("rcu_pin_stress: bad arguments or threads could not start")
    return {"readers": res.readers, "publications": res.publications,
            "grace_periods": res.grace_periods, "violations": res.violations,
            "reads": res.reads}


def rcu_test_pin(Database db):
    """Pin db as a stream would; undo with rcu_test_unpin."""
    rd_db_pin(db.db)


def rcu_test_unpin(Database db):
    rd_db_unpin(db.db)


def db_pins(Database db):
    """How many streams pin db now."""
    return rd_db_pins(db.db)


def rcu_stress(int readers, int publications, bint skip_synchronize=False):
    """Run the C stress test of rcu_selftest.c; returns its counters as a dict."""
    cdef rd_rcu_stress_result res
    cdef int rc
    cdef int skip = 1 if skip_synchronize else 0
    with nogil:
        rc = rd_rcu_stress(readers, publications, skip, &res)
    if rc != 0:
        raise ValueError("rcu_stress: bad arguments or threads could not start")
    return {"readers": res.readers, "publications": res.publications,
            "grace_periods": res.grace_periods, "violations": res.violations,
            "reads": res.reads}

# The C stress test of the lock-free NOTIFY queue (csrc/query/notify_selftest.c).
cdef extern from "query/notify_selftest.h" nogil:
    ctypedef struct rd_notify_stress_result:
        uint64_t queued
        uint64_t refused
        uint64_t taken
        uint64_t slots
        uint64_t torn
        uint64_t lost
        uint64_t left
    int rd_notify_stress(int nproducers, int per_thread, int nnames,
                         rd_notify_stress_result *out)


def notify_queue_stress(int producers, int per_thread, int names):
    """Run the C stress test of notify_selftest.c; returns its counters as a dict."""
    cdef rd_notify_stress_result res
    cdef int rc
    with nogil:
        rc = rd_notify_stress(producers, per_thread, names, &res)
    if rc != 0:
        raise ValueError("notify_queue_stress: bad arguments or threads could not start")
    return {"queued": res.queued, "refused": res.refused, "taken": res.taken,
            "slots": res.slots, "torn": res.torn, "lost": res.lost, "left": res.left}

# The precomputed-answer path alone (csrc/query/engine_fast_selftest.c).
cdef extern from "query/engine_fast_selftest.h" nogil:
    size_t rd_fast_selftest(const rd_db *db, const uint8_t *q, size_t qlen, int tcp,
                            uint8_t *resp, size_t cap)


def fast_path_answer(Database db, bytes query, tcp=False):
    """The response the precomputed-answer path (engine_fast.c rd_fast_answer) writes for
    the query, or None when the query takes the general path: shows which path answers,
    where answer() only shows that the bytes are right."""
    if db is None or db.db == NULL:
        raise ValueError("fast_path_answer() needs an initialised Database")
    cdef size_t qlen = PyBytes_GET_SIZE(query)
    cdef const uint8_t *q = <const uint8_t *>PyBytes_AS_STRING(query)
    cdef uint8_t *resp = <uint8_t *>malloc(65535)
    if resp == NULL:
        raise MemoryError()
    cdef size_t n
    cdef const rd_db *dbp = db.db
    cdef int t = 1 if tcp else 0
    with nogil:
        n = rd_fast_selftest(dbp, q, qlen, t, resp, 65535)
    try:
        return PyBytes_FromStringAndSize(<char *>resp, n) if n else None
    finally:
        free(resp)

# ---- the XDP worker's per-frame code and the attached program (xdp)

def xdp_attached_program(int ifindex):
    """(id, name) of the XDP program on the interface (any mode); (0, "") when none."""
    cdef uint32_t pid = 0
    cdef char name[64]
    rc = cxdp.rd_xdp_query_attached(ifindex, &pid, name, sizeof(name))
    if rc < 0:
        raise OSError(-rc, "querying the XDP program of interface %d" % ifindex)
    return (pid, name.decode("utf-8", "replace") if pid else "")


def xdp_reply_frame(Database db, bytes frame, int port=53, int mtu=1500):
    """The reply frame the XDP worker would send for `frame` (b"" when none), and why.

    Runs the exact per-frame code of the workers on a copy, so that frame building and
    checksums are testable without root; returns (reply: bytes, reason: str).
    """
    cdef size_t cap = 4096 - 256      # what a UMEM frame leaves after XDP_PACKET_HEADROOM
    cdef uint8_t *buf
    cdef uint8_t *scratch
    cdef int why = 0
    cdef size_t n
    cdef cxdp.rd_stats st
    if <size_t>len(frame) > cap:
        raise ValueError("frame longer than a UMEM frame")
    if not 576 <= mtu <= 65535:
        raise ValueError("mtu out of range")
    buf = <uint8_t *>malloc(cap)
    scratch = <uint8_t *>malloc(65536)
    if buf == NULL or scratch == NULL:
        free(buf)
        free(scratch)
        raise MemoryError()
    memset(&st, 0, sizeof(st))
    memcpy(buf, <const char *>frame, len(frame))
    n = cxdp.rd_xdp_reply(buf, len(frame), cap, <uint16_t>port, <uint16_t>mtu,
                          <const cxdp.rd_db *>db.db, scratch, &st, &why)
    out = (<char *>buf)[:n] if n else b""
    free(buf)
    free(scratch)
    return out, _XDP_REASONS.get(why, "?")


_XDP_REASONS = {cxdp.RD_XDP_OK: "ok", cxdp.RD_XDP_NOT_DNS: "not-dns",
                cxdp.RD_XDP_MALFORMED: "malformed", cxdp.RD_XDP_NO_ANSWER: "no-answer",
                cxdp.RD_XDP_NO_ROOM: "no-room"}


def bench_xdp_frames(Database db, list frames, double seconds=1.0, batch=True):
    """In-process benchmark of the XDP worker's frame path: `frames`, RD_XDP_BATCH_MAX at a
    time as RX batches, each copied into UMEM-sized buffers (as the NIC would write them)
    and answered in place, round after round without the GIL, by rd_xdp_reply_batch
    (batch) or rd_xdp_reply frame by frame (what the worker did before).  Returns
    (frames answered, cpu_seconds)."""
    cdef size_t cap = 4096 - 256
    cdef size_t nf = len(frames)
    cdef uint32_t nb = cxdp.RD_XDP_BATCH_MAX
    cdef size_t i, j, m, k
    cdef int why
    cdef cxdp.rd_stats st
    if nf == 0:
        raise ValueError("no frames")
    for f in frames:
        if not isinstance(f, bytes) or <size_t>len(f) > cap:
            raise ValueError("frames must be bytes no longer than a UMEM frame")
    cdef const uint8_t **src = <const uint8_t **>malloc(nf * sizeof(uint8_t *))
    cdef size_t *lens = <size_t *>malloc(nf * sizeof(size_t))
    cdef uint8_t *bufs = <uint8_t *>malloc(cap * nb)
    cdef uint8_t *scratch = <uint8_t *>malloc(65536 if cxdp.RD_XDP_QUERY_MAX * nb < 65536
                                              else cxdp.RD_XDP_QUERY_MAX * nb)
    cdef cxdp.rd_xdp_frame_io *io = <cxdp.rd_xdp_frame_io *>calloc(nb, sizeof(cxdp.rd_xdp_frame_io))
    if src == NULL or lens == NULL or bufs == NULL or scratch == NULL or io == NULL:
        free(src); free(lens); free(bufs); free(scratch); free(io)
        raise MemoryError()
    for i in range(nf):
        src[i] = <const uint8_t *>PyBytes_AS_STRING(frames[i])
        lens[i] = PyBytes_GET_SIZE(frames[i])
    memset(&st, 0, sizeof(st))
    cdef bint use_batch = bool(batch)
    cdef const cxdp.rd_db *dbp = <const cxdp.rd_db *>db.db
    cdef uint64_t done = 0
    cdef double cpu0, cpu1
    j = 0
    with nogil:
        cpu0 = _thread_cpu_seconds()
        cpu1 = cpu0
        while cpu1 - cpu0 < seconds:
            for _r in range(256):
                m = nb if j + nb <= nf else nf - j
                for k in range(m):
                    memcpy(bufs + k * cap, src[j + k], lens[j + k])
                if use_batch:
                    for k in range(m):
                        io[k].frame = bufs + k * cap
                        io[k].len = lens[j + k]
                        io[k].cap = cap
                    cxdp.rd_xdp_reply_batch(io, <uint32_t>m, 53, 1500, dbp, scratch, &st, NULL, 0, NULL, NULL)
                else:
                    for k in range(m):
                        cxdp.rd_xdp_reply(bufs + k * cap, lens[j + k], cap, 53, 1500, dbp,
                                          scratch, &st, &why)
                done += m
                j += m
                if j == nf:
                    j = 0
            cpu1 = _thread_cpu_seconds()
    free(src); free(lens); free(bufs); free(scratch); free(io)
    return done, cpu1 - cpu0


def xdp_reply_frames(Database db, list frames, int port=53, int mtu=1500):
    """The reply frames the XDP worker sends for one RX batch of `frames` (at most
    RD_XDP_BATCH_MAX): the worker's own batch code (rd_xdp_reply_batch) on copies in
    UMEM-sized buffers; a list of (reply: bytes, reason: str)."""
    cdef size_t cap = 4096 - 256
    cdef uint32_t n = len(frames)
    cdef uint32_t i
    cdef cxdp.rd_stats st
    if n > cxdp.RD_XDP_BATCH_MAX:
        raise ValueError("more frames than one batch")
    for f in frames:
        if <size_t>len(f) > cap:
            raise ValueError("frame longer than a UMEM frame")
    cdef uint8_t *bufs = <uint8_t *>malloc(cap * (n or 1))
    cdef uint8_t *scratch = <uint8_t *>malloc(cxdp.RD_XDP_QUERY_MAX * (n or 1))
    cdef cxdp.rd_xdp_frame_io *io = <cxdp.rd_xdp_frame_io *>calloc(n or 1, sizeof(cxdp.rd_xdp_frame_io))
    if bufs == NULL or scratch == NULL or io == NULL:
        free(bufs); free(scratch); free(io)
        raise MemoryError()
    memset(&st, 0, sizeof(st))
    for i in range(n):
        f = frames[i]
        memcpy(bufs + i * cap, <const char *>f, len(f))
        io[i].frame = bufs + i * cap
        io[i].len = len(f)
        io[i].cap = cap
    cxdp.rd_xdp_reply_batch(io, n, <uint16_t>port, <uint16_t>mtu, <const cxdp.rd_db *>db.db,
                            scratch, &st, NULL, 0, NULL, NULL)
    out = []
    for i in range(n):
        out.append(((<char *>io[i].frame)[:io[i].out] if io[i].out else b"",
                    _XDP_REASONS.get(io[i].why, "?")))
    free(bufs); free(scratch); free(io)
    return out


def xfrin_grouped_ahead(XfrIn x):
    """Whether the transfer's records are being cut into rrsets as they come (the build's
    stage 3 made ahead, zimg_build.c: each name's records together, the names in
    canonical order), so far."""
    return bool(zimg_index_grouping(x.x.index))


def set_xfrin_index_min(size_t n):
    """Records an AXFR holds before its owner index is made as the messages come
    (zone/xfrin.c; tests set 0 so that small transfers take that path).  Returns the
    previous setting.  A test hook: the product keeps the built-in threshold."""
    global rd_xfrin_index_min
    cdef size_t old = rd_xfrin_index_min
    rd_xfrin_index_min = n
    return old
