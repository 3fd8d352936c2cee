# server.pyx — the daemon's data plane seen from Python: RCU publication of the database,
# the UDP worker threads (udp_loop.c), TCP answers through the same engine, counters;
# and test-only handles on the RCU reader side and its C stress test.
from libc.stdlib cimport malloc, free

from includes.engine cimport rd_db, rd_stats, rd_transport, rd_answer, RD_STAT_QTYPES
from includes.server cimport *

# The Database whose rd_db the global RCU pointer holds; keeping this reference keeps its
# rd_db (and through it the ZoneImages) alive for the workers.
cdef object _published = None


def publish(db):
    """Make `db` (a Database, or None) the snapshot every worker answers from.

    Swaps the global pointer, waits for a grace period (GIL released) so no worker can
    still hold the previous rd_db outside a pin, and only then lets the previous Database
    go: at once when no stream pins it (its memory, and that of ZoneImages no other
    Database uses, is freed), else it stays retired until reap() finds it unpinned.
    Returns the number of grace periods completed so far.
    """
    global _published
    cdef const rd_db *new_db = NULL
    if db is not None:
        if not isinstance(db, Database):
            raise TypeError("publish() takes a Database or None")
        new_db = (<Database>db).db
    old = _published
    _published = db
    rd_db_exchange(new_db)
    with nogil:
        rd_rcu_synchronize()
    if old is not None:
        with _retired_lock:
            _retired.append(old)
    old = None
    reap()
    return rd_rcu_grace_periods()


# Databases past their grace period that a stream (a zone transfer over TCP) still pins;
# publish() runs in the reload thread and reap() in the event loop: the lock keeps an
# append from being lost between them.
import threading as _threading
cdef list _retired = []
_retired_lock = _threading.Lock()


def reap():
    """Drop the retired Databases whose pins are all gone (freeing them); the control
    plane calls this now and then instead of blocking on a stream.  Returns how many
    stay retired."""
    global _retired
    with _retired_lock:
        keep = [d for d in _retired if rd_db_pins((<Database>d).db) != 0]
        _retired = keep
    return len(keep)


def retired():
    """How many unpublished Databases are kept alive by pins."""
    return len(_retired)


def published():
    """The Database currently published (or None)."""
    return _published


# ---- TCP: answered in the event loop thread with the GIL held (one shared buffer).
# No RCU needed: the Python reference taken here keeps the snapshot alive for the call.

cdef rd_stats _tcp_stats
cdef unsigned char _tcp_resp[65535]


def tcp_answer(bytes query, bytes client=b""):
    """Answer one query that came over TCP from `client` (its packed address, 4 or 16
    bytes; b"": unknown, no DNS Cookies); b"" means send nothing."""
    db = _published
    if db is None:
        return b""
    cdef rd_transport tr
    tr.tcp = 1
    tr.family = 0
    tr.client_len = <uint8_t>len(client) if len(client) in (4, 16) else 0
    tr.client = <const uint8_t *>client if tr.client_len else NULL
    cdef const unsigned char *q = query
    cdef size_t n = rd_answer((<Database>db).db, q, len(query), _tcp_resp, sizeof(_tcp_resp),
                              &tr, &_tcp_stats)
    return _tcp_resp[:n]


# ---- counters

_RCODES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
           "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI")
_OTHER_QTYPES = ("AXFR", "IXFR", "ANY", "CAA", "SVCB", "HTTPS", "other")


cdef dict stats_dict(const rd_stats *s):
    """rd_stats as a dict with stable names; zero counters left out of the breakdowns."""
    import dns.rdatatype
    cdef int i
    rcodes = {}
    for i in range(16):
        if s.rcode[i]:
            rcodes[_RCODES[i] if i < len(_RCODES) else str(i)] = s.rcode[i]
    qtypes = {}
    for i in range(RD_STAT_QTYPES - 1):
        if s.qtype[i]:
            qtypes[dns.rdatatype.to_text(i)] = s.qtype[i]
    if s.qtype[RD_STAT_QTYPES - 1]:
        qtypes["other"] = s.qtype[RD_STAT_QTYPES - 1]
    for i in range(len(_OTHER_QTYPES)):
        if s.qtype_other_known[i]:
            qtypes[_OTHER_QTYPES[i]] = qtypes.get(_OTHER_QTYPES[i], 0) + s.qtype_other_known[i]
    return {"queries": s.queries, "responses": s.responses, "dropped": s.dropped,
            "malformed": s.malformed, "truncated": s.truncated, "edns": s.edns,
            "do": s.do_bit, "rcode": rcodes, "qtype": qtypes}


def tcp_stats():
    return stats_dict(&_tcp_stats)


cdef class UdpWorkers:
    """The UDP worker threads: one per given socket, each pinned to its core.

    sockets: list of (socket.socket, wildcard: bool, cpu: int or -1). The sockets are
    kept referenced (open) until this object is closed; stop() joins the threads.
    rrl: None, or the fields of robdns.config.RrlConfig as a dict: response rate limiting
    in every thread (each with its own table); rate 0 is none.
    """
    cdef rd_udp_set *set
    cdef list sockets

    def __cinit__(self, list sockets, int batch=64, rrl=None):
        cdef char err[256]
        cdef rd_rrl_config rrl_cfg
        cdef const rd_rrl_config *rrl_ptr = NULL
        if rrl is not None and rrl["rate"] > 0:
            rrl_cfg = _rrl_config(rrl)
            rrl_ptr = &rrl_cfg
        cdef int n = len(sockets)
        cdef rd_udp_socket *socks
        if n < 1:
            raise ValueError("no sockets to serve")
        if not 1 <= batch <= RD_UDP_MAX_BATCH:
            raise ValueError(f"batch must be 1..{RD_UDP_MAX_BATCH}")
        socks = <rd_udp_socket *>malloc(n * sizeof(rd_udp_socket))
        if socks == NULL:
            raise MemoryError()
        try:
            for i, (sock, wildcard, cpu) in enumerate(sockets):
                socks[i].fd = sock.fileno()
                socks[i].family = sock.family
                socks[i].wildcard = 1 if wildcard else 0
                socks[i].cpu = cpu
            with nogil:
                self.set = rd_udp_start(socks, n, batch, rrl_ptr, err, sizeof(err))
        finally:
            free(socks)
        if self.set == NULL:
            raise OSError(err.decode(errors="replace"))
        self.sockets = [s for s, _, _ in sockets]

    def stop(self):
        """Stop and join every thread (within about 100 ms); idempotent."""
        if self.set != NULL:
            with nogil:
                rd_udp_stop(self.set)
                rd_udp_free(self.set)
            self.set = NULL

    @property
    def threads(self):
        return rd_udp_threads(self.set)

    def stats(self):
        cdef rd_stats total
        cdef rd_udp_counters loop
        rd_udp_stats_sum(self.set, &total, &loop)
        d = stats_dict(&total)
        d["batches"] = loop.batches
        d["recv_truncated"] = loop.recv_truncated
        d["send_errors"] = loop.send_errors
        d["no_database"] = loop.no_database
        d["recv_errors"] = loop.recv_errors
        d["rrl_dropped"] = loop.rrl_dropped
        d["rrl_slipped"] = loop.rrl_slipped
        return d

    def __dealloc__(self):
        if self.set != NULL:
            with nogil:
                rd_udp_stop(self.set)
                rd_udp_free(self.set)


# ---- response rate limiting

cdef rd_rrl_config _rrl_config(dict rrl) except *:
    cdef rd_rrl_config c
    # Every field given: the defaults live in one place, robdns.config.RrlConfig.
    c.rate = rrl["rate"]
    c.slip = rrl["slip"]
    c.ipv4_prefix = rrl["ipv4_prefix"]
    c.ipv6_prefix = rrl["ipv6_prefix"]
    c.table_size = rrl["table_size"]
    if not (0 < c.rate <= 1000000 and c.ipv4_prefix <= 32 and c.ipv6_prefix <= 128
            and 0 < c.table_size <= (1 << 28)):
        raise ValueError(f"bad rate limiting settings: {rrl!r}")
    return c


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


# ---- RCU: Python handles for the tests

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
    """Pin db as a stream would (tests only); undo with rcu_test_unpin."""
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
