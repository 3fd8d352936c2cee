# engine.pyx — database snapshots (zones + engine options: the one pointer the daemon
# publishes by RCU) and the answer engine for Python callers (tests, TCP, benchmarks).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from includes.engine cimport *
from posix.time cimport clock_gettime, timespec, CLOCK_THREAD_CPUTIME_ID
from includes.zimg cimport zimg, zimg_origin
from includes.common cimport rd_name_cmp, rd_name_labels

import functools as _functools
import time as _time

cdef uint64_t _rd_generation = 0
# Databases alive in this process (made minus freed), reported by live_objects().
cdef Py_ssize_t _live_databases = 0

_RD_QTYPE_OTHER = ("AXFR", "IXFR", "ANY", "CAA", "SVCB", "HTTPS", "other", "reserved")


cdef int _origin_cmp(ZoneImage a, ZoneImage b):
    return rd_name_cmp(zimg_origin(a.img), zimg_origin(b.img))


cdef class Database:
    """One immutable snapshot of the hosted zones and the engine options.

    ``Database(zones, identity="", version="", nsid=b"", max_udp_payload=1232,
    minimal_any=True)``.  ``identity`` answers CHAOS TXT id.server/hostname.bind and
    ``version`` version.bind/version.server (empty: REFUSED); ``nsid`` is the RFC 5001
    payload (empty: off).  The ZoneImages are kept alive as long as the Database.
    """
    cdef rd_db *db
    cdef readonly tuple zones
    cdef readonly uint64_t generation

    def __cinit__(self):
        global _live_databases
        self.db = NULL
        _live_databases += 1

    def __init__(self, zones=(), identity="", version="", nsid=b"", max_udp_payload=1232,
                 minimal_any=True):
        global _rd_generation
        cdef ZoneImage z
        zl = list(zones)
        for item in zl:
            if not isinstance(item, ZoneImage):
                raise TypeError(f"Database zones must be ZoneImage, not {type(item).__name__}")
        zl.sort(key=_functools.cmp_to_key(_origin_cmp))
        for i in range(1, len(zl)):
            if _origin_cmp(zl[i - 1], zl[i]) == 0:
                raise ValueError(f"zone {zl[i].origin} given twice")
        ident = identity.encode() if isinstance(identity, str) else bytes(identity)
        vers = version.encode() if isinstance(version, str) else bytes(version)
        nsid_b = bytes(nsid)
        if len(ident) > 255 or b"\0" in ident:
            raise ValueError("identity: at most 255 bytes, no NUL")
        if len(vers) > 255 or b"\0" in vers:
            raise ValueError("version: at most 255 bytes, no NUL")
        if len(nsid_b) > 128:
            raise ValueError("nsid: at most 128 bytes")
        if not 512 <= max_udp_payload <= 65535:
            raise ValueError("max_udp_payload must be within 512..65535 (RFC 6891 6.2.5)")

        cdef rd_db *db = <rd_db *>calloc(1, sizeof(rd_db))
        if db == NULL:
            raise MemoryError()
        db.zones = <const zimg **>calloc(len(zl) + 1, sizeof(zimg *))
        if db.zones == NULL:
            free(db)
            raise MemoryError()
        for i, item in enumerate(zl):
            z = <ZoneImage>item
            db.zones[i] = z.img
        db.nzones = len(zl)
        memcpy(db.opt.identity, <const char *>ident, len(ident))
        memcpy(db.opt.version, <const char *>vers, len(vers))
        if nsid_b:
            memcpy(db.opt.nsid, <const char *>nsid_b, len(nsid_b))
        db.opt.nsid_len = len(nsid_b)
        db.opt.max_udp_payload = max_udp_payload
        db.opt.minimal_any = 1 if minimal_any else 0
        _rd_generation += 1
        db.generation = _rd_generation
        if self.db != NULL:              # __init__ called twice: replace
            free(self.db.zones)
            free(self.db)
        self.db = db
        self.zones = tuple(zl)
        self.generation = db.generation

    def __dealloc__(self):
        global _live_databases
        _live_databases -= 1
        if self.db != NULL:
            free(self.db.zones)
            free(self.db)
            self.db = NULL

    def find_zone(self, name):
        """The hosted ZoneImage that is most specific for `name` (str or wire bytes), or None."""
        import dns.name
        wire = name if isinstance(name, bytes) else dns.name.from_text(name).to_wire()
        cdef bytes lw = bytes(wire).lower()
        cdef const zimg *z = rd_db_find_zone(self.db, <const uint8_t *>PyBytes_AS_STRING(lw),
                                             rd_name_labels(<const uint8_t *>PyBytes_AS_STRING(lw)))
        for item in self.zones:
            if (<ZoneImage>item).img == z:
                return item
        return None

    def __repr__(self):
        return f"<Database generation={self.generation} zones={[z.origin for z in self.zones]}>"


def live_objects():
    """How many Databases and ZoneImages are alive in this process (counted as they are
    made and freed): {"databases": n, "zone_images": n}."""
    return {"databases": _live_databases, "zone_images": _live_zone_images}


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
            "rcode": {i: self.s.rcode[i] for i in range(16) if self.s.rcode[i]},
            "qtype": {i: self.s.qtype[i] for i in range(RD_STAT_QTYPES) if self.s.qtype[i]},
            "qtype_other": {_RD_QTYPE_OTHER[i]: self.s.qtype_other_known[i]
                            for i in range(8) if self.s.qtype_other_known[i]},
        }


def answer(Database db, bytes query, tcp=False, EngineStats stats=None, int keepalive=0):
    """Answer one query (wire bytes) from `db`; returns the response, b"" for none.
    keepalive: the TCP idle timeout in 100 ms units a TCP answer advertises (RFC 7828)
    to a query asking for it (0: none).  The engine runs without the GIL."""
    if db is None or db.db == NULL:
        raise ValueError("answer() needs an initialised Database")
    cdef rd_transport t
    t.tcp = 1 if tcp else 0
    t.family = 4
    t.keepalive = keepalive if 0 <= keepalive <= 65535 else 0
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


def answer_batch(Database db, list queries, tcp=False, EngineStats stats=None):
    """Answer a list of queries with rd_answer_batch (prefetching pipeline); returns the
    list of responses (b"" = none), each equal to what answer() gives."""
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
    cdef rd_transport t
    t.tcp = 1 if tcp else 0
    t.family = 4
    t.keepalive = 0
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


def bench_answer(Database db, list queries, double seconds=1.0, tcp=False, int batch=0):
    """In-process engine benchmark: answer the pre-made `queries` in order, round after
    round, in a C loop without the GIL, for about `seconds` of this thread's CPU time;
    one rd_answer per query, or with batch > 0 rd_answer_batch over `batch` queries at a
    time.  Returns (answered, wall_seconds, cpu_seconds, bytes_out); answered /
    cpu_seconds is the rate of one core even when the machine is shared."""
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
    cdef rd_transport t
    t.tcp = 1 if tcp else 0
    t.family = 4
    t.keepalive = 0
    cdef const rd_db *dbp = db.db
    cdef uint64_t done = 0, out = 0
    cdef Py_ssize_t j = 0, k, m
    cdef double cpu0, cpu1
    wall0 = _time.perf_counter()
    with nogil:
        cpu0 = _thread_cpu_seconds()
        cpu1 = cpu0
        # The clock is read about once per 64k answers, off the hot path.
        while cpu1 - cpu0 < seconds:
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
