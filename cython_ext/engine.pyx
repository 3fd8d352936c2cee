# engine.pyx — database snapshots (zones + engine options: the one pointer the daemon
# publishes by RCU) and the answer engine for Python callers (tests, TCP, benchmarks).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from includes.engine cimport *
from posix.time cimport clock_gettime, timespec, CLOCK_THREAD_CPUTIME_ID
from includes.zimg cimport zimg, zimg_origin
from includes.common cimport RD_NONE, rd_siphash24_bytes

import time as _time

cdef uint64_t _rd_generation = 0
# Databases alive in this process (made minus freed), reported by live_objects().
cdef Py_ssize_t _live_databases = 0

_RD_QTYPE_OTHER = ("AXFR", "IXFR", "ANY", "CAA", "SVCB", "HTTPS", "other", "reserved")


cdef void _db_free(rd_db *db) noexcept:
    if db != NULL:
        rd_zonetab_free(<rd_zonetab *>db.ztab)
        free(db.zones)
        free(db)


cdef class Database:
    """One immutable snapshot of the hosted zones and the engine options.

    ``Database(zones, identity="", version="", nsid=b"", max_udp_payload=1232,
    minimal_any=True)``.  ``identity`` answers CHAOS TXT id.server/hostname.bind and
    ``version`` version.bind/version.server (empty: REFUSED); ``nsid`` is the RFC 5001
    payload (empty: off).  The ZoneImages are kept alive as long as the Database.

    The zones keep the order given: a zone's position is its index in the C snapshot
    (db->zones).  Their zone table (query/zonetab.c) is built here in C: a few ms for
    100,000 zones, so a reload that changes one zone rebuilds it instead of editing it.
    """
    cdef rd_db *db
    cdef readonly tuple zones
    cdef readonly uint64_t generation
    cdef readonly tuple key_names     # TSIG key names, in the order of db.keys
    cdef rd_tsig_key *keys_c
    cdef rd_zone_xfr *xfr_c
    cdef rd_acl_rule *acl_c
    cdef list journals                # the journal bytes the C side points into

    def __cinit__(self):
        global _live_databases
        self.db = NULL
        self.keys_c = NULL
        self.xfr_c = NULL
        self.acl_c = NULL
        _live_databases += 1

    def __init__(self, zones=(), identity="", version="", nsid=b"", max_udp_payload=1232,
                 minimal_any=True, keys=(), transfers=None, cookie_secret=b"",
                 cookie_previous=b"", cookie_require=False):
        """``keys``: TSIG keys as (name, algorithm, secret bytes), algorithm one of
        hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512.
        ``transfers``: {zone origin: {"acl": [(network or None, key name or None)],
        "journal": bytes}}; a zone not named there cannot be transferred.
        ``cookie_secret`` (16 bytes) turns DNS Cookies on (RFC 7873, server cookies of
        RFC 9018); ``cookie_previous`` (16 bytes) is still accepted (a rotation);
        ``cookie_require``: UDP queries without a valid server cookie get only a TC=1
        minimal answer (BADCOOKIE with a fresh cookie when they sent a client cookie)."""
        global _rd_generation
        cdef ZoneImage z
        cdef tuple zl = tuple(zones)
        cdef Py_ssize_t i, nz = len(zl)
        for item in zl:
            if type(item) is not ZoneImage and not isinstance(item, ZoneImage):
                raise TypeError(f"Database zones must be ZoneImage, not {type(item).__name__}")
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
        cdef bytes csec = bytes(cookie_secret or b""), cprev = bytes(cookie_previous or b"")
        if len(csec) not in (0, 16) or len(cprev) not in (0, 16):
            raise ValueError("cookie secrets are 16 bytes (SipHash-2-4 keys, RFC 9018 4.4)")
        if (cprev or cookie_require) and not csec:
            raise ValueError("cookie_previous and cookie_require need cookie_secret")

        cdef rd_db *db = <rd_db *>calloc(1, sizeof(rd_db))
        if db == NULL:
            raise MemoryError()
        db.zones = <const zimg **>calloc(nz + 1, sizeof(zimg *))
        if db.zones == NULL:
            free(db)
            raise MemoryError()
        for i in range(nz):
            z = <ZoneImage>zl[i]
            db.zones[i] = z.img
        db.nzones = <uint32_t>nz
        cdef uint32_t dup = RD_NONE
        with nogil:
            db.ztab = rd_zonetab_build(db.zones, db.nzones, &dup)
        if db.ztab == NULL:
            _db_free(db)
            if dup != RD_NONE:
                raise ValueError(f"zone {zl[dup].origin} given twice")
            raise MemoryError()
        memcpy(db.opt.identity, <const char *>ident, len(ident))
        memcpy(db.opt.version, <const char *>vers, len(vers))
        if nsid_b:
            memcpy(db.opt.nsid, <const char *>nsid_b, len(nsid_b))
        db.opt.nsid_len = len(nsid_b)
        db.opt.max_udp_payload = max_udp_payload
        db.opt.minimal_any = 1 if minimal_any else 0
        if csec:
            db.opt.cookies = 1
            memcpy(db.opt.cookie_secret, <const char *>csec, 16)
            db.opt.cookie_require = 1 if cookie_require else 0
            if cprev:
                db.opt.cookie_have_previous = 1
                memcpy(db.opt.cookie_previous, <const char *>cprev, 16)
        try:
            self._set_keys(db, keys)
            self._set_transfers(db, zl, transfers or {})
        except BaseException:
            _db_free(db)
            raise
        _rd_generation += 1
        db.generation = _rd_generation
        if self.db != NULL:              # __init__ called twice: replace
            _db_free(self.db)
        self.db = db
        self.zones = zl
        self.generation = db.generation

    cdef _set_keys(self, rd_db *db, keys):
        import dns.name
        kl = list(keys)
        names = []
        free(self.keys_c)
        self.keys_c = <rd_tsig_key *>calloc(len(kl) + 1, sizeof(rd_tsig_key))
        if self.keys_c == NULL:
            raise MemoryError()
        cdef bytes wire, alg, secret
        cdef int a
        for i, (name, algorithm, secret) in enumerate(kl):
            wire = dns.name.from_text(name).to_wire().lower()
            if wire in names:
                raise ValueError(f"TSIG key {name} given twice")
            alg = _tsig_alg_wire(algorithm)
            a = rd_tsig_alg_from_name(<const uint8_t *>PyBytes_AS_STRING(alg))
            if a == 0:
                raise ValueError(f"TSIG key {name}: unknown algorithm {algorithm!r}")
            if not 0 < len(secret) <= RD_TSIG_SECRET_MAX:
                raise ValueError(f"TSIG key {name}: the secret must hold 1..{RD_TSIG_SECRET_MAX} bytes")
            memcpy(self.keys_c[i].name, PyBytes_AS_STRING(wire), len(wire))
            self.keys_c[i].alg = a
            self.keys_c[i].secret_len = len(secret)
            memcpy(self.keys_c[i].secret, PyBytes_AS_STRING(secret), len(secret))
            names.append(wire)
        db.keys = self.keys_c
        db.nkeys = len(kl)
        self.key_names = tuple(dns.name.from_wire(w, 0)[0].to_text() for w in names)

    cdef _set_transfers(self, rd_db *db, tuple zl, dict transfers):
        import ipaddress
        import dns.name
        free(self.xfr_c); free(self.acl_c)
        self.xfr_c = NULL; self.acl_c = NULL
        self.journals = []
        byname = {dns.name.from_text(k).to_text().lower(): v for k, v in transfers.items()}
        unknown = set(byname) - {(<ZoneImage>z).origin.lower() for z in zl}
        if unknown:
            raise ValueError(f"transfers for zones not in the database: {sorted(unknown)}")
        keyidx = {n.lower(): i for i, n in enumerate(self.key_names)}
        nrules = sum(len(v.get("acl", ())) for v in byname.values())
        self.xfr_c = <rd_zone_xfr *>calloc(len(zl) + 1, sizeof(rd_zone_xfr))
        self.acl_c = <rd_acl_rule *>calloc(nrules + 1, sizeof(rd_acl_rule))
        if self.xfr_c == NULL or self.acl_c == NULL:
            raise MemoryError()
        cdef Py_ssize_t r = 0
        cdef bytes packed, journal
        for i, item in enumerate(zl):
            spec = byname.get((<ZoneImage>item).origin.lower())
            if not spec:
                continue
            self.xfr_c[i].acl = self.acl_c + r
            for net, key in spec.get("acl", ()):
                rule = &self.acl_c[r]
                rule.key = -1
                if key is not None:
                    k = dns.name.from_text(key).to_text().lower()
                    if k not in keyidx:
                        raise ValueError(f"zone {(<ZoneImage>item).origin}: no TSIG key {key}")
                    rule.key = keyidx[k]
                if net is not None:
                    n = ipaddress.ip_network(net, strict=False)
                    packed = n.network_address.packed
                    rule.family = 4 if n.version == 4 else 6
                    rule.prefix = n.prefixlen
                    memcpy(rule.addr, PyBytes_AS_STRING(packed), len(packed))
                r += 1
            self.xfr_c[i].nacl = len(spec.get("acl", ()))
            journal = bytes(spec.get("journal", b""))
            self.journals.append(journal)
            self.xfr_c[i].journal = <const uint8_t *>PyBytes_AS_STRING(journal)
            self.xfr_c[i].journal_len = len(journal)
        db.xfr = self.xfr_c

    def __dealloc__(self):
        global _live_databases
        _live_databases -= 1
        _db_free(self.db)
        self.db = NULL
        free(self.keys_c)
        free(self.xfr_c)
        free(self.acl_c)

    def find_index(self, name, ds=False):
        """Index in `zones` of the zone that answers `name` (str or wire bytes), or None:
        the most specific one; with ds=True the one above `name` first, as for a DS query
        (RFC 4035 3.1.4.1)."""
        import dns.name
        wire = name if isinstance(name, bytes) else dns.name.from_text(name).to_wire()
        cdef bytes lw = bytes(wire).lower()
        cdef uint32_t i = rd_db_find_index(self.db, <const uint8_t *>PyBytes_AS_STRING(lw),
                                           1 if ds else 0)
        return None if i == RD_NONE else i

    def find_zone(self, name):
        """The hosted ZoneImage that is most specific for `name` (str or wire bytes), or None."""
        i = self.find_index(name)
        return None if i is None else self.zones[i]

    def __repr__(self):
        return f"<Database generation={self.generation} zones={len(self.zones)}>"


TSIG_ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384",
                   "hmac-sha512")


def _tsig_alg_wire(algorithm):
    """Wire name of a TSIG algorithm (RFC 8945 6): hmac-md5 is hmac-md5.sig-alg.reg.int."""
    import dns.name
    a = str(algorithm).lower().rstrip(".")
    if a == "hmac-md5":
        a = "hmac-md5.sig-alg.reg.int"
    return dns.name.from_text(a).to_wire()


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


cdef void _transport(rd_transport *t, object tcp, bytes client):
    t.tcp = 1 if tcp else 0
    t.family = 6 if len(client) == 16 else 4
    t.client_len = <uint8_t>len(client)
    t.client = <const uint8_t *>PyBytes_AS_STRING(client) if client else NULL


def answer(Database db, bytes query, tcp=False, EngineStats stats=None, client=None):
    """Answer one query (wire bytes) from `db`; returns the response, b"" for none.
    `client`: the address the query came from (for DNS Cookies).  The engine runs
    without the GIL."""
    if db is None or db.db == NULL:
        raise ValueError("answer() needs an initialised Database")
    cdef bytes cl = _client_bytes(client)
    cdef rd_transport t
    _transport(&t, tcp, cl)
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


def answer_batch(Database db, list queries, tcp=False, EngineStats stats=None, client=None):
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
    cdef bytes cl = _client_bytes(client)
    cdef rd_transport t
    _transport(&t, tcp, cl)
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
                 client=None):
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
    cdef bytes cl = _client_bytes(client)
    cdef rd_transport t
    _transport(&t, tcp, cl)
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


def _siphash24(bytes key, bytes data):
    """SipHash-2-4 of `data` under the 16-byte `key` (csrc/lib/siphash.c), as the 8
    bytes of the reference implementation; for tests."""
    cdef uint8_t out[8]
    if len(key) != 16:
        raise ValueError("a SipHash key is 16 bytes")
    rd_siphash24_bytes(<const uint8_t *>PyBytes_AS_STRING(key),
                       <const uint8_t *>PyBytes_AS_STRING(data), len(data), out)
    return PyBytes_FromStringAndSize(<char *>out, 8)
