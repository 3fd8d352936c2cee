# engine.pyx — database snapshots (zones + engine options: the one pointer the daemon
# publishes by RCU).  The engine itself is called from C (UDP, XDP) and from server.pyx (TCP).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from includes.engine cimport *
from includes.zimg cimport zimg, zimg_origin, zimg_origin_labels
from includes.common cimport RD_NONE, rd_name_labels

cdef uint64_t _rd_generation = 0
# Databases alive in this process (made minus freed), reported by live_objects().
cdef Py_ssize_t _live_databases = 0

_RD_QTYPE_OTHER = ("AXFR", "IXFR", "ANY", "CAA", "SVCB", "HTTPS")


cdef void _db_free(rd_db *db) noexcept:
    if db != NULL:
        rd_zonetab_free(<rd_zonetab *>db.ztab)
        free(db.zones)
        free(<void *>db.zone_slot)
        free(<void *>db.zone_flags)
        free(<void *>db.zone_expire_at)
        free(db)


cdef class Database:
    """One immutable snapshot of the hosted zones and the engine options.

    ``Database(zones, identity="", version="", nsid=b"", max_udp_payload=1232,
    minimal_any=True)``.  ``identity`` answers CHAOS TXT id.server/hostname.bind and
    ``version`` version.bind/version.server (empty: REFUSED); ``nsid`` is the RFC 5001
    payload (empty: off).  ``zone_slots``: {origin: slot} counts each query in
    rd_stats.zone_queries[slot] of its zone (slot 1..RD_STAT_ZONES-1; a zone not in the
    map counts in slot 0); None: no per-zone counting.  The ZoneImages are kept alive as
    long as the Database.
    """
    cdef rd_db *db
    cdef readonly tuple zones
    cdef readonly uint64_t generation
    cdef readonly tuple key_names     # TSIG key names, in the order of db.keys
    cdef rd_tsig_key *keys_c
    cdef rd_zone_xfr *xfr_c
    cdef rd_acl_rule *acl_c
    cdef rd_zone_notify *notify_c
    cdef rd_acl_rule *notify_acl_c
    cdef list journals                # the journal bytes the C side points into

    def __cinit__(self):
        global _live_databases
        self.db = NULL
        self.keys_c = NULL
        self.xfr_c = NULL
        self.acl_c = NULL
        self.notify_c = NULL
        self.notify_acl_c = NULL
        _live_databases += 1

    def __init__(self, zones=(), identity="", version="", nsid=b"", max_udp_payload=1232,
                 minimal_any=True, keys=(), transfers=None, zone_slots=None,
                 max_transfers=0, expired=(), cookie_secret=b"", cookie_previous=b"",
                 cookie_require=False, notify=None, expire_at=None):
        """``keys``: TSIG keys as (name, algorithm, secret bytes), algorithm one of
        hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512, or the
        truncated hmac-sha256-128, hmac-sha384-192, hmac-sha512-256 (RFC 8945 6).
        ``transfers``: {zone origin: {"acl": [(network or None, key name or None)],
        "journal": bytes}}; a zone not named there cannot be transferred.
        ``max_transfers``: AXFR/IXFR streams at once in the process (0: no limit).
        ``expired``: origins of secondary zones past their SOA EXPIRE: they answer
        SERVFAIL (RFC 1034 4.3.5).
        ``cookie_secret`` (16 bytes) turns DNS Cookies on (RFC 7873, server cookies of
        RFC 9018); ``cookie_previous`` (16 bytes) is still accepted (a rotation);
        ``cookie_require``: UDP queries without a valid server cookie get only a TC=1
        minimal answer (BADCOOKIE with a fresh cookie when they sent a client cookie).
        ``notify``: {origin of a secondary zone: [(network, key name or None)]}: who may
        notify it (RFC 1996); the workers acknowledge those NOTIFYs and queue the zone
        (notify_take()).
        ``expire_at``: {origin of a secondary zone: wall time its copy expires}: the time
        left goes in the EDNS EXPIRE option of its SOA answers (RFC 7314 3); every other
        zone sends its SOA EXPIRE."""
        global _rd_generation
        cdef ZoneImage z
        if self.db != NULL:
            # Its rd_db may be published: workers read it without locks, so it is freed only
            # after a grace period (publish()), never here.  A snapshot is immutable.
            raise RuntimeError("Database is already initialised; build a new one")
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

        slots = None
        if zone_slots is not None:
            if isinstance(zone_slots, dict):
                slots = [zone_slots.get(item.origin, 0) for item in zl]
            else:
                # a slot per zone, in the order of `zones` (the daemon's: no name lookups
                # per zone when 100,000 are hosted)
                slots = list(zone_slots)
                if len(slots) != nz:
                    raise ValueError("zone_slots: one slot per zone")
            for v in slots:
                if not 0 <= v < RD_STAT_ZONES:
                    raise ValueError(f"zone slot {v} out of range 0..{RD_STAT_ZONES - 1}")
        cdef rd_db *db = <rd_db *>calloc(1, sizeof(rd_db))
        if db == NULL:
            raise MemoryError()
        db.zones = <const zimg **>calloc(nz + 1, sizeof(zimg *))
        cdef uint16_t *slotp = NULL
        if slots is not None:
            slotp = <uint16_t *>calloc(nz + 1, sizeof(uint16_t))
            db.zone_slot = slotp
        if db.zones == NULL or (slots is not None and slotp == NULL):
            _db_free(db)
            raise MemoryError()
        for i in range(nz):
            z = <ZoneImage>zl[i]
            db.zones[i] = z.img
            if slotp != NULL:
                slotp[i] = slots[i]
        db.nzones = <uint32_t>nz
        cdef uint8_t *flagp = NULL
        expired_names = {str(n).lower() for n in expired}
        if expired_names:
            flagp = <uint8_t *>calloc(nz + 1, 1)
            if flagp == NULL:
                _db_free(db)
                raise MemoryError()
            db.zone_flags = flagp
            for i in range(nz):
                if (<ZoneImage>zl[i]).origin.lower() in expired_names:
                    flagp[i] = RD_ZONE_EXPIRED
        cdef uint32_t *expp = NULL
        if expire_at:
            expire_lower = {str(n).lower(): t for n, t in expire_at.items()}
            expp = <uint32_t *>calloc(nz + 1, sizeof(uint32_t))
            if expp == NULL:
                _db_free(db)
                raise MemoryError()
            db.zone_expire_at = expp
            for i in range(nz):
                t = expire_lower.get((<ZoneImage>zl[i]).origin.lower())
                if t is not None:
                    expp[i] = <uint32_t>min(max(int(t), 1), 0xFFFFFFFF)
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
        if not 0 <= max_transfers <= 65535:
            _db_free(db)
            raise ValueError("max_transfers must be within 0..65535")
        db.opt.max_transfers = max_transfers
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
            self._set_notify(db, zl, notify or {})
        except BaseException:
            _db_free(db)
            raise
        _rd_generation += 1
        db.generation = _rd_generation
        self.db = db
        self.zones = zl
        self.generation = db.generation

    cdef _set_keys(self, rd_db *db, keys):
        kl = list(keys)
        # names without dnspython (_origin_wire, _lower_name_text: plain names): importing
        # it (dns._features pulls importlib.metadata) cost a kept 1M-record zone's start
        # 50-75 ms before its first answer (issue 14), and a secondary 1.7 MB (issue 13)
        names = []
        free(self.keys_c)
        self.keys_c = <rd_tsig_key *>calloc(len(kl) + 1, sizeof(rd_tsig_key))
        if self.keys_c == NULL:
            raise MemoryError()
        cdef bytes wire, alg, secret
        cdef int a
        for i, (name, algorithm, secret) in enumerate(kl):
            wire = _origin_wire(name).lower()
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
        self.key_names = tuple(_lower_name_text(name) for name, _a, _s in kl)

    cdef _set_transfers(self, rd_db *db, tuple zl, dict transfers):
        free(self.xfr_c); free(self.acl_c)
        self.xfr_c = NULL; self.acl_c = NULL
        self.journals = []
        byname = {_lower_name_text(k): v for k, v in transfers.items()}
        # Each named zone is found in the zone table (db.ztab, built already): the cost
        # follows the zones transferred, not every zone hosted (100,000 zones reload).
        found = {name: _zone_index(db, name) for name in byname}
        unknown = [name for name, i in found.items() if i == RD_NONE]
        if unknown:
            raise ValueError(f"transfers for zones not in the database: {sorted(unknown)}")
        nrules = sum(len(v.get("acl", ())) for v in byname.values())
        self.xfr_c = <rd_zone_xfr *>calloc(len(zl) + 1, sizeof(rd_zone_xfr))
        self.acl_c = <rd_acl_rule *>calloc(nrules + 1, sizeof(rd_acl_rule))
        if self.xfr_c == NULL or self.acl_c == NULL:
            raise MemoryError()
        keyidx = {n.lower(): i for i, n in enumerate(self.key_names)}
        cdef Py_ssize_t r = 0
        cdef uint32_t i
        cdef bytes journal
        for name, spec in byname.items():
            if not spec:
                continue
            i = found[name]
            self.xfr_c[i].acl = self.acl_c + r
            self.xfr_c[i].nacl = _fill_acl(self.acl_c + r, spec.get("acl", ()), keyidx,
                                           (<ZoneImage>zl[i]).origin)
            r += self.xfr_c[i].nacl
            journal = bytes(spec.get("journal", b""))
            self.journals.append(journal)
            self.xfr_c[i].journal = <const uint8_t *>PyBytes_AS_STRING(journal)
            self.xfr_c[i].journal_len = len(journal)
        db.xfr = self.xfr_c

    cdef _set_notify(self, rd_db *db, tuple zl, dict notify):
        if not notify:
            return
        keyidx = {n.lower(): i for i, n in enumerate(self.key_names)}
        nrules = sum(len(v) for v in notify.values())
        self.notify_c = <rd_zone_notify *>calloc(len(zl) + 1, sizeof(rd_zone_notify))
        self.notify_acl_c = <rd_acl_rule *>calloc(nrules + 1, sizeof(rd_acl_rule))
        if self.notify_c == NULL or self.notify_acl_c == NULL:
            raise MemoryError()
        cdef Py_ssize_t r = 0
        cdef uint32_t i
        # Zones given the same rules object (the members of one catalog share their
        # template's) share one parsed copy: a publication of 100,000 secondary zones parses
        # a few rule lists, not one per zone.  _zone_index reads any spelling of the name.
        shared = {}
        for name, rules in notify.items():
            i = _zone_index(db, name)
            if not rules or i == RD_NONE:
                continue
            done = shared.get(id(rules))
            if done is not None and done[0] is rules:
                self.notify_c[i].acl = self.notify_acl_c + <Py_ssize_t>done[1]
                self.notify_c[i].nacl = <uint32_t>done[2]
                continue
            self.notify_c[i].acl = self.notify_acl_c + r
            self.notify_c[i].nacl = _fill_acl(self.notify_acl_c + r, rules, keyidx,
                                              (<ZoneImage>zl[i]).origin)
            shared[id(rules)] = (rules, r, self.notify_c[i].nacl)
            r += self.notify_c[i].nacl
        db.notify = self.notify_c

    def __dealloc__(self):
        global _live_databases
        _live_databases -= 1
        _db_free(self.db)
        self.db = NULL
        free(self.keys_c)
        free(self.xfr_c)
        free(self.acl_c)
        free(self.notify_c)
        free(self.notify_acl_c)

    def __repr__(self):
        return f"<Database generation={self.generation} zones={len(self.zones)}>"


cdef uint32_t _zone_index(const rd_db *db, str name):
    """Index in db.zones of the zone whose apex is `name` (absolute text), or RD_NONE; by
    the zone table, as the engine finds a query's zone."""
    cdef bytes w = _origin_wire(name).lower()
    cdef const uint8_t *lw = <const uint8_t *>PyBytes_AS_STRING(w)
    cdef uint32_t i = rd_db_find_index(db, lw, 0)
    if i != RD_NONE and zimg_origin_labels(db.zones[i]) != rd_name_labels(lw):
        return RD_NONE          # a zone above the name holds it, none is at it
    return i


cdef Py_ssize_t _fill_acl(rd_acl_rule *out, rules, dict keyidx, str origin) except -1:
    """Write `rules` -- (network or None: any address, key name or None: signed or not) --
    to out[0..] (zeroed by calloc); returns how many.  keyidx: {key name: index in
    db.keys}; a key not there is an error naming zone `origin`."""
    import ipaddress
    cdef bytes packed
    cdef rd_acl_rule *rule
    cdef Py_ssize_t r = 0
    for net, key in rules:
        rule = &out[r]
        rule.key = -1
        if key is not None:
            k = _lower_name_text(key)
            if k not in keyidx:
                raise ValueError(f"zone {origin}: no TSIG key {key}")
            rule.key = keyidx[k]
        if net is not None:
            n = ipaddress.ip_network(net, strict=False)
            packed = n.network_address.packed
            rule.family = 4 if n.version == 4 else 6
            rule.prefix = n.prefixlen
            memcpy(rule.addr, PyBytes_AS_STRING(packed), len(packed))
        r += 1
    return r


TSIG_ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384",
                   "hmac-sha512", "hmac-sha256-128", "hmac-sha384-192", "hmac-sha512-256")


def _tsig_alg_wire(algorithm):
    """Wire name of a TSIG algorithm (RFC 8945 6): hmac-md5 is hmac-md5.sig-alg.reg.int."""
    a = str(algorithm).lower().rstrip(".")
    if a == "hmac-md5":
        a = "hmac-md5.sig-alg.reg.int"
    return _origin_wire(a + ".")


def notify_set_wakeup(int fd):
    """Write a byte to `fd` (a non-blocking pipe) whenever a NOTIFY queues a zone; -1: off."""
    rd_notify_set_wakeup(fd)


def notify_take():
    """The origins the workers queued since the last call (each NOTIFY acknowledged for a
    secondary zone), oldest first, as text."""
    cdef uint8_t names[64][256]
    cdef size_t n, i
    cdef char buf[1024]
    out = []
    while True:
        n = rd_notify_take(names, 64)
        for i in range(n):
            rd_name_to_text(names[i], buf, sizeof(buf))
            t = buf.decode("utf-8", "replace")
            out.append(t if t.endswith(".") else t + ".")
        if n < 64:
            return out


def live_objects():
    """How many Databases and ZoneImages are alive in this process (counted as they are
    made and freed): {"databases": n, "zone_images": n}."""
    return {"databases": _live_databases, "zone_images": _live_zone_images}


# Names of the rcodes (RFC 6895 2.3, extended ones from RFC 6891 6.1.3 and RFC 8945).
_RCODE_NAMES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI",
                "RCODE12", "RCODE13", "RCODE14", "RCODE15", "BADVERS", "BADKEY", "BADTIME",
                "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE")
_OPCODE_NAMES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE", 6: "DSO"}
_qtype_names = None
# The columns of rd_stats.zone_rcode (rd_stats_zone_rcode_col).
_ZONE_RCODE_NAMES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                     "NOTAUTH", "other")


cdef dict stats_dict(const rd_stats *s):
    """rd_stats as a dict with stable names; zero counters left out of the breakdowns.
    Each query is in exactly one qtype entry and each response in exactly one rcode
    entry; "zones" maps zone slots (rd_db.zone_slot) to query counts."""
    global _qtype_names
    cdef int i
    if _qtype_names is None:
        import dns.rdatatype
        _qtype_names = [dns.rdatatype.to_text(i) for i in range(RD_STAT_QTYPES - 1)]
    rcodes = {}
    for i in range(RD_STAT_RCODES):
        if s.rcode[i]:
            name = _RCODE_NAMES[i] if i < len(_RCODE_NAMES) else (
                "other" if i == RD_STAT_RCODES - 1 else f"RCODE{i}")
            rcodes[name] = s.rcode[i]
    qtypes = {}
    for i in range(RD_STAT_QTYPES - 1):
        if s.qtype[i]:
            qtypes[_qtype_names[i]] = s.qtype[i]
    for i in range(len(_RD_QTYPE_OTHER)):
        if s.qtype_named[i]:
            qtypes[_RD_QTYPE_OTHER[i]] = s.qtype_named[i]
    if s.qtype[RD_STAT_QTYPES - 1]:
        qtypes["other"] = s.qtype[RD_STAT_QTYPES - 1]
    opcodes = {}
    for i in range(16):
        if s.opcode[i]:
            opcodes[_OPCODE_NAMES.get(i, f"OPCODE{i}")] = s.opcode[i]
    zones = {}
    zone_rcode = {}
    cdef int j
    for i in range(RD_STAT_ZONES):
        if s.zone_queries[i]:
            zones[i] = s.zone_queries[i]
            zone_rcode[i] = {_ZONE_RCODE_NAMES[j]: s.zone_rcode[i][j]
                             for j in range(8) if s.zone_rcode[i][j]}
    return {"queries": s.queries, "responses": s.responses, "dropped": s.dropped,
            "malformed": s.malformed, "truncated": s.truncated, "edns": s.edns,
            "do": s.do_bit, "rcode": rcodes, "qtype": qtypes, "opcode": opcodes,
            "zones": zones, "zone_rcode": zone_rcode}


_XFR_WHAT = {1: "done", 2: "aborted", 3: "refused", 4: "notauth", 5: "busy", 6: "uptodate"}


def transfer_events():
    """Drain the transfer event ring: (list of dicts, number lost since the last call)."""
    cdef rd_xfr_event ev[64]
    cdef uint64_t lost = 0, total_lost = 0
    cdef size_t n, i
    out = []
    while True:
        n = rd_xfr_events_take(ev, 64, &lost)
        total_lost += lost
        if n:
            # imported once a transfer out happened: every daemon drains every 0.5 s, and
            # dnspython (with importlib.metadata, zipfile, shutil, bz2, lzma) would
            # otherwise join a new secondary's memory while it builds its first zone
            import ipaddress
            import dns.name
        for i in range(n):
            e = &ev[i]
            zone = dns.name.from_wire(PyBytes_FromStringAndSize(<char *>e.zone, 256), 0)[0].to_text()
            key = (dns.name.from_wire(PyBytes_FromStringAndSize(<char *>e.key, 256), 0)[0].to_text()
                   if e.key[0] else None)
            if e.family == 4:
                addr = str(ipaddress.IPv4Address(PyBytes_FromStringAndSize(<char *>e.addr, 4)))
            elif e.family == 6:
                addr = str(ipaddress.IPv6Address(PyBytes_FromStringAndSize(<char *>e.addr, 16)))
            else:
                addr = None
            out.append({
                "time": e.time_ms / 1000.0, "zone": zone, "key": key,
                "what": _XFR_WHAT.get(e.what, str(e.what)),
                "qtype": "AXFR" if e.qtype == 252 else "IXFR",
                "mode": {1: "AXFR", 2: "IXFR"}.get(e.mode),
                "address": addr, "port": e.port, "serial": e.serial,
                "client_serial": e.client_serial if e.qtype == 251 else None,
                "messages": e.messages, "bytes": e.bytes, "records": e.records})
        if n < 64:
            break
    return out, total_lost
