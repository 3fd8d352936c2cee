# server.pyx — the daemon's data plane seen from Python: RCU publication of the database,
# the UDP worker threads (udp_loop.c), the TCP worker threads (tcp_loop.c), counters;
# and test-only handles on the RCU reader side and its C stress test.
from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, free

from includes.engine cimport rd_db, rd_stats, RD_STAT_QTYPES
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


# ---- counters (stats_dict is in engine.pyx)


# ---- dnstap

cdef class Dnstap:
    """dnstap logging (server/dnstap.h): `nrings` per-worker rings and the writer thread.

    ``Dnstap(path, unix_socket, nrings, queries=True, responses=True, sample=1,
    ring_bytes=4 MiB, identity="", version="")``.  A file that cannot be created is an
    OSError here; a collector's socket that is not there yet is tried again every second.
    Hand it to UdpWorkers / XdpPlane with the index of their first ring; stop() it after
    they stopped (it writes what they left and ends the stream).
    """
    cdef rd_dnstap *d
    cdef readonly int nrings

    def __cinit__(self, str path, bint unix_socket, int nrings, bint queries=True,
                  bint responses=True, unsigned int sample=1, size_t ring_bytes=4 << 20,
                  str identity="", str version=""):
        cdef char err[256]
        cdef rd_dnstap_config c
        cdef bytes p = path.encode()
        cdef bytes ident = identity.encode()
        cdef bytes vers = version.encode()
        if ring_bytes < 65536 or ring_bytes & (ring_bytes - 1):
            raise ValueError("ring_bytes must be a power of two of at least 65536")
        c.path = p
        c.unix_socket = unix_socket
        c.queries = queries
        c.responses = responses
        c.sample = sample if sample > 0 else 1
        c.ring_bytes = ring_bytes
        c.identity = ident
        c.version = vers
        err[0] = 0
        with nogil:
            self.d = rd_dnstap_start(&c, nrings, err, sizeof(err))
        if self.d == NULL:
            raise OSError(err.decode(errors="replace"))
        self.nrings = nrings

    def stop(self):
        """Write what the rings hold, end the stream and join the writer; idempotent."""
        if self.d != NULL:
            with nogil:
                rd_dnstap_stop(self.d)

    def counters(self):
        cdef rd_dnstap_counters c
        rd_dnstap_counters_get(self.d, &c)
        return {"logged": c.logged, "dropped": c.dropped, "written": c.written,
                "connects": c.connects, "connected": bool(c.connected)}

    def __dealloc__(self):
        if self.d != NULL:
            with nogil:
                rd_dnstap_free(self.d)
            self.d = NULL


cdef rd_dnstap *_dnstap_of(object tap, int first, int n) except? NULL:
    if tap is None:
        return NULL
    if not isinstance(tap, Dnstap):
        raise TypeError("dnstap must be a Dnstap")
    if first < 0 or first + n > (<Dnstap>tap).nrings:
        raise ValueError(f"dnstap has {(<Dnstap>tap).nrings} rings, not {first + n}")
    return (<Dnstap>tap).d


cdef class UdpWorkers:
    """The UDP worker threads: one per given socket, each pinned to its core.

    sockets: list of (socket.socket, wildcard: bool, cpu: int or -1). The sockets are
    kept referenced (open) until this object is closed; stop() joins the threads.
    rrl: None, or the fields of robdns.config.RrlConfig as a dict: response rate limiting
    in every thread (each with its own table); rate 0 is none.  dnstap: a Dnstap whose
    rings dnstap_first.. the threads log to (kept referenced while they run), or None.
    hold_us: after a small batch, wait this long for more datagrams before the next
    recvmmsg while they come faster than that (server.udp_hold_us; 0: never).
    """
    cdef rd_udp_set *set
    cdef list sockets
    cdef object dnstap

    def __cinit__(self, list sockets, int batch=64, rrl=None, dnstap=None, int dnstap_first=0,
                  int hold_us=0):
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
        cdef rd_dnstap *tap = _dnstap_of(dnstap, dnstap_first, n)
        self.dnstap = dnstap
        if not 1 <= batch <= RD_UDP_MAX_BATCH:
            raise ValueError(f"batch must be 1..{RD_UDP_MAX_BATCH}")
        if not 0 <= hold_us <= RD_UDP_HOLD_MAX_US:
            raise ValueError(f"hold_us must be 0..{RD_UDP_HOLD_MAX_US}")
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
                self.set = rd_udp_start(socks, n, batch, hold_us, rrl_ptr, tap, dnstap_first,
                                        err, sizeof(err))
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
        d["holds"] = loop.holds
        d["hold_datagrams"] = loop.hold_datagrams
        return d

    def __dealloc__(self):
        if self.set != NULL:
            with nogil:
                rd_udp_stop(self.set)
                rd_udp_free(self.set)


_TCP_COUNTERS = ("open", "accepted", "closed", "timed_out", "evicted", "per_client_refused",
                 "output_overflow", "output_throttled", "oversized", "zero_length",
                 "truncated_eof", "resets", "accept_errors", "no_database", "batches",
                 "xfr_streams", "holds", "holds_empty",
                 "nagle_entered")   # the order of rd_tcp_counters


cdef rd_tcp_limits _tcp_limits(dict limits) except *:
    cdef rd_tcp_limits c
    c.max_connections = limits["max_connections"]
    c.max_per_client = limits["max_per_client"]
    c.idle_timeout_ms = limits["idle_timeout_ms"]
    c.max_pipelined = limits["max_pipelined"]
    c.hold_us = limits.get("hold_us", RD_TCP_HOLD_US)
    c.nagle_rtt_us = limits.get("nagle_rtt_us", RD_TCP_NAGLE_RTT_US)
    c.pipeline_hold_us = limits.get("pipeline_hold_us", RD_TCP_PIPELINE_HOLD_US)
    if not (c.max_connections >= 1 and c.max_per_client >= 1 and c.idle_timeout_ms >= 1
            and c.max_pipelined >= 1):
        raise ValueError(f"bad TCP limits: {limits!r}")
    return c


cdef class TcpWorkers:
    """The TCP worker threads (RFC 7766), one per worker, each pinned to its core.

    listeners: list of (socket.socket, worker: int), listening, one per worker per address
    (SO_REUSEPORT); cpus: the core of each worker (-1: not pinned); pool: connections each
    worker can hold (fixed at start); limits: dict of max_connections, max_per_client
    (per worker), idle_timeout_ms, max_pipelined, hold_us (optional: the wake-up hold,
    RD_TCP_HOLD_US by default), nagle_rtt_us (optional: answers of pipelining clients
    nearer than this held for their next segment, RD_TCP_NAGLE_RTT_US by default),
    pipeline_hold_us (optional: the hold after light turns of open connections,
    RD_TCP_PIPELINE_HOLD_US by default).  The sockets are kept referenced (open)
    until this object is closed; stop() joins the threads and closes their connections.
    """
    cdef rd_tcp_set *set
    cdef list sockets
    cdef readonly unsigned int pool
    cdef object dnstap

    def __cinit__(self, list listeners, list cpus, unsigned int pool, dict limits, dnstap=None,
                  int dnstap_first=0):
        cdef char err[256]
        cdef rd_tcp_limits lim = _tcp_limits(limits)
        cdef int n = len(listeners)
        cdef int nw = len(cpus)
        cdef rd_tcp_listener *ls
        cdef int *cpu_arr
        if n < 1:
            raise ValueError("no listeners to serve")
        if not 1 <= nw <= RD_TCP_MAX_WORKERS:
            raise ValueError(f"workers must be 1..{RD_TCP_MAX_WORKERS}")
        cdef rd_dnstap *tap = _dnstap_of(dnstap, dnstap_first, nw)
        self.dnstap = dnstap
        ls = <rd_tcp_listener *>malloc(n * sizeof(rd_tcp_listener))
        cpu_arr = <int *>malloc(nw * sizeof(int))
        if ls == NULL or cpu_arr == NULL:
            free(ls)
            free(cpu_arr)
            raise MemoryError()
        try:
            for i, (sock, worker) in enumerate(listeners):
                ls[i].fd = sock.fileno()
                ls[i].worker = worker
            for i, cpu in enumerate(cpus):
                cpu_arr[i] = cpu
            with nogil:
                self.set = rd_tcp_start(ls, n, nw, cpu_arr, pool, &lim, tap, dnstap_first, err,
                                        sizeof(err))
        finally:
            free(ls)
            free(cpu_arr)
        if self.set == NULL:
            raise OSError(err.decode(errors="replace"))
        self.sockets = [s for s, _ in listeners]
        self.pool = pool

    def set_limits(self, dict limits):
        """New limits, seen by every worker at its next turn (max_connections is clamped
        to the pool given at start)."""
        cdef rd_tcp_limits lim = _tcp_limits(limits)
        rd_tcp_set_limits(self.set, &lim)

    def stop(self):
        """Stop and join every thread (within about 50 ms); idempotent."""
        if self.set != NULL:
            with nogil:
                rd_tcp_stop(self.set)
                rd_tcp_free(self.set)
            self.set = NULL

    @property
    def threads(self):
        return rd_tcp_threads(self.set)

    def stats(self):
        """The engine's counters of TCP queries, and under "connections" the loops' own:
        open (now), accepted, closed and one counter per limit hit."""
        cdef rd_stats total
        cdef rd_tcp_counters c
        rd_tcp_stats_sum(self.set, &total, &c)
        d = stats_dict(&total)
        cdef uint64_t *w = <uint64_t *>&c
        d["connections"] = {name: w[i] for i, name in enumerate(_TCP_COUNTERS)}
        return d

    def __dealloc__(self):
        if self.set != NULL:
            with nogil:
                rd_tcp_stop(self.set)
                rd_tcp_free(self.set)


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


