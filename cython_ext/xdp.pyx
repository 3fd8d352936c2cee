# xdp.pyx — AF_XDP data path for Python: attach robdns's XDP program, run one pinned XSK
# worker per RX queue (C threads, no GIL), detach on stop.  robdns/xdp.py is the glue the
# daemon calls; this part only knows interfaces, queues and a database pointer.
cimport includes.xdp as cxdp
from libc.errno cimport errno
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uintptr_t
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy, memset


cdef extern from *:
    """
    #include <stdatomic.h>
    static const rd_db *rd_xdp_ptr_swap(rd_xdp_db_ptr *p, const rd_db *db)
    {
        return atomic_exchange(p, db);
    }
    """
    const cxdp.rd_db *rd_xdp_ptr_swap(cxdp.rd_xdp_db_ptr *p, const cxdp.rd_db *db) noexcept nogil


_XDP_MODES = {"auto": cxdp.RD_XDP_MODE_AUTO, "native": cxdp.RD_XDP_MODE_NATIVE,
              "generic": cxdp.RD_XDP_MODE_GENERIC}
_XDP_ZC = {"auto": cxdp.RD_XDP_ZC_AUTO, "on": cxdp.RD_XDP_ZC_ON, "off": cxdp.RD_XDP_ZC_OFF}
_XDP_MODE_NAMES = {cxdp.RD_XDP_MODE_NATIVE: "native", cxdp.RD_XDP_MODE_GENERIC: "generic"}
_XDP_COUNTERS = ("rx_frames", "tx_frames", "not_dns", "malformed", "no_answer", "tx_full",
                 "no_db", "rrl_dropped", "rrl_slipped", "wakeups", "batches", "polls",
                 "kernel_rx_dropped", "kernel_rx_ring_full",
                 "kernel_fill_ring_empty", "kernel_invalid_descs")


def xdp_supported():
    """True when this build has AF_XDP support (libxdp/libbpf were present at build time)."""
    return cxdp.rd_xdp_supported() == 1


cdef class XdpPlane:
    """The XDP program on one interface and one worker per RX queue.

    Lifecycle: ``XdpPlane(...)`` checks arguments; ``start(db)`` attaches the program
    (replacing a stale one of ours), opens every queue's socket and starts the workers;
    ``stop()`` stops the workers, closes the sockets and detaches the program (closes
    its BPF link: no privilege needed, and a crashed process's link goes with it).  Every
    step that fails undoes the earlier ones, so nothing stays attached after an error.
    Must be started and stopped in the network namespace of the interface.
    """
    cdef cxdp.rd_xdp_prog prog
    cdef cxdp.rd_xdp_worker **workers
    cdef int nworkers
    cdef cxdp.rd_xdp_db_ptr *dbp      # &rd_db_global, or &self.own_db
    cdef cxdp.rd_xdp_db_ptr own_db
    cdef bytes program
    cdef readonly str interface
    cdef readonly int ifindex
    cdef readonly int port
    cdef readonly tuple queues
    cdef readonly str mode
    cdef readonly str zero_copy
    cdef readonly int mtu
    cdef object cpus
    cdef object rrl            # response rate limiting settings (dict) or None
    cdef object _database      # the Database of own_db (standalone use)
    cdef object dnstap         # a Dnstap the workers log to, or None
    cdef int dnstap_first

    def __cinit__(self):
        self.workers = NULL
        self.nworkers = 0
        self.dbp = NULL
        self.own_db = NULL
        memset(&self.prog, 0, sizeof(self.prog))

    def __init__(self, str interface, int ifindex, int port, queues, str mode, str zero_copy,
                 bytes program, int mtu=1500, cpus=None, rrl=None, dnstap=None,
                 int dnstap_first=0):
        if mode not in _XDP_MODES:
            raise ValueError("mode must be auto, native or generic")
        if zero_copy not in _XDP_ZC:
            raise ValueError("zero_copy must be auto, on or off")
        if not 1 <= port <= 65535:
            raise ValueError("port out of range")
        if not 576 <= mtu <= 65535:
            raise ValueError("mtu out of range")
        self.queues = tuple(int(q) for q in queues)
        if not self.queues or any(q < 0 or q > 255 for q in self.queues):
            raise ValueError("queues must be 1..256 queue ids in 0..255")
        self.interface = interface
        self.ifindex = ifindex
        self.port = port
        self.mode = mode
        self.zero_copy = zero_copy
        self.program = program
        self.mtu = mtu
        self.cpus = list(cpus) if cpus is not None else None
        self.rrl = dict(rrl) if rrl and rrl.get("rate") else None
        if self.rrl is not None:
            _rrl_config(self.rrl)           # bad settings fail here, not at start()
        self._database = None
        _dnstap_of(dnstap, dnstap_first, len(self.queues))   # enough rings, or fail here
        self.dnstap = dnstap
        self.dnstap_first = dnstap_first

    def start(self, Database db=None):
        """Attach the program and start the workers.

        With `db`, the workers answer from it (and from what set_database() publishes
        later); without, from the daemon's RCU pointer rd_db_global (rcu.h), so that the
        daemon's reloads reach them as they reach the UDP workers.
        """
        cdef char err[512]
        cdef int rc
        cdef int i
        cdef cxdp.rd_xdp_worker *w
        cdef bytes ifname = self.interface.encode()
        cdef cxdp.rd_rrl_config rrl_cfg
        cdef const cxdp.rd_rrl_config *rrl_ptr = NULL
        if self.rrl is not None:
            rrl_cfg = _rrl_config(self.rrl)
            rrl_ptr = &rrl_cfg
        cdef const char *obj = self.program
        if self.workers != NULL:
            raise RuntimeError("XdpPlane already started")
        if not cxdp.rd_xdp_supported():
            raise OSError(95, "this robdns was built without AF_XDP support (libxdp/libbpf "
                              "headers were missing at build time)")
        if db is not None:
            self._database = db
            rd_xdp_ptr_swap(&self.own_db, <const cxdp.rd_db *>db.db)
            self.dbp = &self.own_db
        else:
            self.dbp = &cxdp.rd_db_global
        err[0] = 0
        rc = cxdp.rd_xdp_prog_attach(&self.prog, obj, len(self.program), <uint16_t>self.port,
                                     self.ifindex, _XDP_MODES[self.mode], err, sizeof(err))
        if rc < 0:
            self._teardown()
            raise OSError(-rc, "%s: %s" % (self.interface, err.decode("utf-8", "replace")))
        self.workers = <cxdp.rd_xdp_worker **>calloc(len(self.queues), sizeof(void *))
        if self.workers == NULL:
            self._teardown()
            raise MemoryError()
        try:
            for q in self.queues:
                w = cxdp.rd_xdp_worker_open(ifname, q, _XDP_ZC[self.zero_copy],
                                            self.prog.xsks_map_fd, <uint16_t>self.port,
                                            <uint16_t>self.mtu, self.dbp, rrl_ptr, err,
                                            sizeof(err))
                if w == NULL:
                    raise OSError(errno, err.decode("utf-8", "replace"))
                self.workers[self.nworkers] = w
                self.nworkers += 1
            for i in range(self.nworkers):
                if self.dnstap is not None:
                    cxdp.rd_xdp_worker_set_dnstap(
                        self.workers[i], rd_dnstap_ring_at((<Dnstap>self.dnstap).d, self.dnstap_first + i))
                cpu = self.cpus[i % len(self.cpus)] if self.cpus else -1
                rc = cxdp.rd_xdp_worker_start(self.workers[i], cpu)
                if rc < 0:
                    raise OSError(-rc, "starting XDP worker thread")
        except BaseException:
            self._teardown()
            raise

    def set_database(self, Database db not None):
        """Publish a new database to workers started with their own database (not the
        daemon's global one): swap, wait for an RCU grace period, release the old one."""
        if self.dbp != &self.own_db:
            raise RuntimeError("XdpPlane not started with its own database")
        rd_xdp_ptr_swap(&self.own_db, <const cxdp.rd_db *>db.db)
        with nogil:
            cxdp.rd_rcu_synchronize()
        self._database = db

    def stop(self):
        """Stop the workers, close the sockets, detach the program.  Idempotent.

        Detaching closes the program's BPF link, which needs no privilege: this works
        after the daemon dropped root.  Raises OSError (after everything else is done)
        when the program is still attached afterwards because another process holds a
        copy of the link's descriptor; it goes when that process exits.
        """
        rc = self._teardown()
        if rc < 0:
            raise OSError(-rc, "%s: the XDP program is still attached: another process "
                          "holds its link" % self.interface)

    cdef int _teardown(self):
        cdef int i
        cdef int rc
        if self.workers != NULL:
            with nogil:
                for i in range(self.nworkers):
                    cxdp.rd_xdp_worker_stop(self.workers[i])
            for i in range(self.nworkers):
                cxdp.rd_xdp_worker_close(self.workers[i])
            free(self.workers)
            self.workers = NULL
            self.nworkers = 0
        rc = cxdp.rd_xdp_prog_detach(&self.prog)
        rd_xdp_ptr_swap(&self.own_db, NULL)
        self.dbp = NULL
        self._database = None
        return rc

    def __dealloc__(self):
        self._teardown()

    @property
    def running(self):
        return self.workers != NULL

    @property
    def info(self):
        """Facts of the running plane: attach mode, program id, and per queue zero-copy and
        the frames one copy-mode TX kick sends at most."""
        cdef int i
        return {
            "interface": self.interface,
            "mode": _XDP_MODE_NAMES.get(self.prog.mode, "none"),
            "prog_id": self.prog.prog_id,
            "replaced_stale": bool(self.prog.replaced_stale),
            "queues": {cxdp.rd_xdp_worker_queue(self.workers[i]):
                       {"zero_copy": bool(cxdp.rd_xdp_worker_zero_copy(self.workers[i])),
                        "tx_budget": cxdp.rd_xdp_worker_tx_budget(self.workers[i])}
                       for i in range(self.nworkers)},
        }

    def counters(self):
        """Counters summed over the workers: the frame counters and the engine's (the
        same names as the UDP workers' stats)."""
        cdef cxdp.rd_xdp_counters c
        cdef cxdp.rd_stats s
        cdef cxdp.rd_stats sum_s
        cdef int i
        memset(&sum_s, 0, sizeof(sum_s))
        total = dict.fromkeys(_XDP_COUNTERS, 0)
        for i in range(self.nworkers):
            cxdp.rd_xdp_worker_counters(self.workers[i], &c, &s)
            rd_stats_add(&sum_s, &s)
            vals = (c.rx_frames, c.tx_frames, c.not_dns, c.malformed, c.no_answer, c.tx_full,
                    c.no_db, c.rrl_dropped, c.rrl_slipped, c.wakeups, c.batches, c.polls, c.k_rx_dropped, c.k_rx_ring_full,
                    c.k_fill_empty, c.k_invalid)
            for k, v in zip(_XDP_COUNTERS, vals):
                total[k] += v
        # The engine's "malformed" (FORMERR sent) is named apart from the frames dropped as
        # malformed, which keep their key.
        engine = stats_dict(&sum_s)
        engine["formerr"] = engine.pop("malformed")
        total.update(engine)
        return total
