"""daemon — ``robdns serve``: binds, drops root, loads zones, runs the UDP workers, TCP,
the control socket and reloads, and talks to systemd.

Threads: the C UDP workers (no Python, no GIL); the event loop thread (uvloop: TCP,
control socket, signals); reloads compile zones and wait for the RCU grace period in an
executor thread so TCP keeps being answered meanwhile.
"""

import asyncio
import concurrent.futures
import dataclasses
import grp
import os
import pwd
import signal
import socket
import time

from robdns import __version__, config, control, metrics, sdnotify, tcp
from robdns.errors import ConfigError, RobdnsError, ZoneError
from robdns.log import logger, set_level, setup

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)       # Linux value; missing from Python's socket


# A file modified this shortly before its compile started may still change within the
# same coarse file-time tick (file times lag the fine clock by up to a few ms).
_SOURCE_SETTLE_NS = 50_000_000


def zone_source(z, files, since_ns=None):
    """What identifies the sources of a compiled zone, for reload: each file's identity,
    size and modification time (the zone file and what it $INCLUDEs) plus the settings
    that change the image.  None when a file cannot be read, or was modified after
    since_ns (during or just before the compile: its content may not be the compiled
    one) -- then the zone is compiled again at the next reload."""
    stats = []
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            return None
        if since_ns is not None and st.st_mtime_ns >= since_ns - _SOURCE_SETTLE_NS:
            return None
        stats.append((path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return (z.file, z.default_ttl, tuple(stats))


@dataclasses.dataclass
class ZoneState:
    """What the daemon knows of one configured zone."""
    name: str
    file: str
    image: object = None            # the ZoneImage being served (None: not served)
    loaded_at: float = 0.0
    load_seconds: float = 0.0
    errors: list = dataclasses.field(default_factory=list)   # of the last failed load
    failed_at: float = 0.0
    source: tuple = None            # the files as `image` was compiled from (zone_source())

    def status(self):
        img = self.image
        return {
            "name": self.name, "file": self.file,
            "state": "failed" if self.errors else "ok",
            "serial": img.serial if img is not None else None,
            "records": img.record_count if img is not None else None,
            "loaded_at": self.loaded_at, "load_seconds": round(self.load_seconds, 6),
            "errors": list(self.errors), "failed_at": self.failed_at or None,
        }


class Daemon:
    def __init__(self, cfg):
        self.cfg = cfg
        self.config_error = None
        self.zones = {}                      # name -> ZoneState, in config order
        self.udp_sockets = []
        self.tcp_sockets = []
        self.control_socket = None
        self.workers = None
        self.xdp = None                      # robdns.xdp.XdpWorkers when `xdp` is configured
        self.tcp = None
        self.control = None
        self.http = None                     # robdns.httpd.HttpEndpoint (server.http)
        self.zone_slots = {}                 # zone name -> its per-zone counter slot
        self.started = time.time()
        self.reloads = 0
        self.reload_lock = None
        self.stopping = None
        # One thread for every reload: reloads are serialized anyway, and one thread keeps
        # the freed images in one malloc arena instead of spreading them over several.
        self.reloader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="reload")

    # ------------------------------------------------------------------ startup

    def bind(self):
        """Open every socket while still root (ports below 1024)."""
        cfg = self.cfg
        for addr in cfg.listen:
            _check_free(addr)
            for w in range(cfg.workers):
                cpu = self._cpu_of(w)
                self.udp_sockets.append((_udp_socket(addr), addr.wildcard, cpu))
            if cfg.tcp.enabled:
                self.tcp_sockets.append(tcp.open_listener(addr.host, addr.port, addr.family))
        owner = _account(cfg) if os.geteuid() == 0 else None
        self.control_socket = control.open_socket(cfg.control, owner=owner)
        if cfg.http is not None:
            from robdns import httpd
            self.http = httpd.HttpEndpoint(cfg.http, self.metrics_snapshot, self.ready).bind()
        if cfg.xdp is not None:
            # Attaching needs root (CAP_NET_ADMIN, CAP_BPF): before the drop. The XDP
            # workers answer from the same RCU pointer as the UDP workers.
            from robdns import xdp
            self.xdp = xdp.start_xdp_workers(cfg.xdp, rrl=dataclasses.asdict(cfg.rrl))
            logger.info("xdp: %s", self.xdp.info)

    def _cpu_of(self, worker):
        if not self.cfg.pin_workers:
            return -1
        cpus = sorted(os.sched_getaffinity(0))
        return cpus[worker % len(cpus)]

    def drop_privileges(self):
        cfg = self.cfg
        if os.geteuid() != 0:
            # Started unprivileged with capabilities (the systemd unit's ambient set): the
            # sockets are bound and the XDP program attached, and nothing later needs one
            # (a reload never binds; the XDP detach is a close() of its BPF link).
            _drop_capabilities()
        if cfg.user is None and cfg.group is None:
            return
        uid, gid = _account(cfg)
        _preload_modules()
        if os.geteuid() != 0:
            if os.geteuid() != uid:
                logger.warning("not started as root: keeping uid %d (server.user is %s)", os.geteuid(), cfg.user)
            return
        if cfg.user is not None:
            os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        logger.info("dropped privileges to uid %d gid %d", uid, gid)

    def load_zones(self, cfg, previous=None, force=()):
        """Compile every zone of cfg; a zone that fails keeps its previous image (if any).

        A zone whose files (the zone file and its $INCLUDEs) are as they were when its image
        was compiled (same inode, size and modification time) keeps that image without a
        recompile, as Knot and NSD do on reload; zones named in `force` (or every zone, force=True) are compiled
        again whatever their files say.  Returns the new {name: ZoneState}."""
        from robdns import _core
        previous = previous or {}
        out = {}
        for z in cfg.zones:
            old = previous.get(z.name)
            if (old is not None and old.image is not None and not old.errors
                    and old.source is not None and force is not True and z.name not in force
                    and zone_source(z, old.image.source_files) == old.source):
                out[z.name] = old
                logger.debug("zone %s unchanged: serial %s kept", z.name, old.image.serial)
                continue
            st = ZoneState(z.name, z.file)
            if old is not None:
                st.image, st.loaded_at, st.load_seconds = old.image, old.loaded_at, old.load_seconds
                st.source = old.source
            t0 = time.monotonic()
            started_ns = time.time_ns()
            try:
                img = _core.compile_zone(z.name, z.file, z.default_ttl)
            except ZoneError as e:
                st.errors = list(e.messages) or [str(e)]
            except OSError as e:
                st.errors = [f"{z.file}: cannot read: {e.strerror}"]
            except Exception as e:       # a compiler bug must not take the server down
                logger.exception("zone %s: unexpected error while compiling", z.name)
                st.errors = [f"{z.file}: internal error: {type(e).__name__}: {e}"]
            else:
                st.image, st.loaded_at, st.load_seconds = img, time.time(), time.monotonic() - t0
                st.source = zone_source(z, img.source_files, since_ns=started_ns)
                logger.info("zone %s loaded: serial %s, %d records, %.1f ms", z.name, img.serial,
                            img.record_count, st.load_seconds * 1000)
                for w in img.warnings:
                    logger.warning("%s", w)
            if st.errors:
                st.failed_at = time.time()
                for m in st.errors:
                    logger.error("%s", m)
                if st.image is not None:
                    logger.error("zone %s failed to load; serial %s keeps serving", z.name, st.image.serial)
                else:
                    logger.error("zone %s failed to load; not served", z.name)
            out[z.name] = st
        return out

    def build_database(self, cfg, zones):
        from robdns import _core
        images = [st.image for st in zones.values() if st.image is not None]
        return _core.Database(images, identity=cfg.identity, version=cfg.version,
                              nsid=cfg.nsid, max_udp_payload=cfg.max_udp_payload,
                              zone_slots=self._zone_slots(cfg))

    def _zone_slots(self, cfg):
        """Per-zone counter slots: a zone keeps its slot for the life of the process (its
        counter never restarts or passes to another zone); the first zone_labels zones
        get one, later ones share slot 0 ("other")."""
        cap = cfg.http.zone_labels if cfg.http is not None else 100
        for z in cfg.zones:
            if z.name not in self.zone_slots and len(self.zone_slots) < cap:
                self.zone_slots[z.name] = len(self.zone_slots) + 1
        return dict(self.zone_slots)

    def publish(self, db):
        from robdns import _core
        _core.publish(db)

    # ------------------------------------------------------------------ running

    async def main(self):
        from robdns import _core
        loop = asyncio.get_running_loop()
        self.reload_lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        # Handlers first: the UDP workers answer as soon as they start, and a SIGTERM (or
        # SIGHUP) arriving before the handlers exist would kill the process uncleanly.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload_logged()))
        if self.udp_sockets:
            self.workers = _core.UdpWorkers(
                self.udp_sockets, self.cfg.udp_batch, dataclasses.asdict(self.cfg.rrl))
        self.tcp = tcp.TcpServer(_core.tcp_answer, self.cfg.tcp)
        await self.tcp.start(self.tcp_sockets)
        self.control = control.ControlServer(self.command)
        await self.control.start(self.control_socket)
        summary = self._summary()
        logger.info("serving: %s", summary)
        sdnotify.ready(summary)
        await self.stopping.wait()
        logger.info("stopping")
        sdnotify.stopping()
        await self.shutdown()

    async def shutdown(self):
        from robdns import _core
        if self.control:
            await self.control.close()
        if self.tcp:
            await self.tcp.close()
        # A reload still running would publish after us: let it finish first.
        await asyncio.get_running_loop().run_in_executor(None, self.reloader.shutdown, True)
        if self.workers:
            self.workers.stop()
        if self.xdp:
            self.xdp.stop()
        if self.http:
            self.http.stop()
        _core.publish(None)
        for s, _, _ in self.udp_sockets:
            s.close()
        logger.info("stopped")

    def _summary(self):
        served = sum(1 for z in self.zones.values() if z.image is not None)
        failed = sum(1 for z in self.zones.values() if z.errors)
        text = (f"{_count(served, 'zone')}, {_count(self.cfg.workers, 'worker')} on "
                f"{' '.join(str(a) for a in self.cfg.listen)}")
        if self.cfg.rrl.rate:
            text += f", rate limit {self.cfg.rrl.rate}/s per client prefix"
        if failed:
            text += f", {_count(failed, 'zone')} failed"
        return text

    async def reload(self, force=()):
        """Reload config and zones (SIGHUP, ctl reload): zones whose files changed are
        compiled again, and those in `force` (True: all) whatever their files say.
        Failed parts keep their old version."""
        loop = asyncio.get_running_loop()
        async with self.reload_lock:
            sdnotify.reloading("reloading")
            logger.info("reloading")
            t0 = time.monotonic()
            try:
                result = await loop.run_in_executor(self.reloader, self._reload_blocking, force)
            except BaseException:
                metrics.events.reload_failures += 1
                raise
            finally:
                summary = self._summary()
                sdnotify.ready(summary)
            if not result.get("ok"):
                metrics.events.reload_failures += 1
            self.reloads += 1
            logger.info("reload done in %.1f ms: %s", (time.monotonic() - t0) * 1000, summary)
            return result

    async def _reload_logged(self):
        try:
            await self.reload()
        except Exception:
            logger.exception("reload failed; the previous configuration and zones keep serving")

    def _reload_blocking(self, force=()):
        cfg = self.cfg
        if cfg.path is not None:
            try:
                cfg = config.load(cfg.path)
            except ConfigError as e:
                self.config_error = str(e)
                for line in str(e).splitlines():
                    logger.error("%s", line)
                logger.error("configuration not reloaded; the previous one stays in force")
                return {"ok": False, "config_error": self.config_error}
            cfg = dataclasses.replace(cfg, path=self.cfg.path)
            self._warn_restart_needed(cfg)
            # What cannot change without a restart keeps its running value.
            cfg = dataclasses.replace(cfg, listen=self.cfg.listen, workers=self.cfg.workers,
                                      user=self.cfg.user, group=self.cfg.group,
                                      control=self.cfg.control, pin_workers=self.cfg.pin_workers,
                                      udp_batch=self.cfg.udp_batch, rrl=self.cfg.rrl,
                                      xdp=self.cfg.xdp, http=self.cfg.http,
                                      dnstap=self.cfg.dnstap, log_format=self.cfg.log_format,
                                      tcp=dataclasses.replace(cfg.tcp, enabled=self.cfg.tcp.enabled))
        self.config_error = None
        zones = self.load_zones(cfg, self.zones, force)
        db = self.build_database(cfg, zones)
        self.publish(db)           # waits for the grace period; the old snapshot is freed after
        self.zones = zones
        self.cfg = cfg
        set_level(cfg.log_level)
        if self.tcp:
            self.tcp.set_limits(cfg.tcp)
        failed = [z for z in zones.values() if z.errors]
        return {"ok": not failed, "zones": [z.status() for z in zones.values()]}

    def _warn_restart_needed(self, new):
        old = self.cfg
        for key in ("listen", "workers", "user", "group", "control", "pin_workers", "udp_batch", "rrl",
                    "xdp", "http", "dnstap", "log_format"):
            if getattr(old, key) != getattr(new, key):
                logger.warning("%s changed: takes effect at the next restart",
                               {"xdp": "xdp", "log_format": "log.format"}.get(key, f"server.{key}"))
        if old.tcp.enabled != new.tcp.enabled:
            logger.warning("server.tcp.enabled changed: takes effect at the next restart")

    # ------------------------------------------------------------------ control

    async def command(self, req):
        cmd = req["cmd"]
        if cmd == "status":
            return {"ok": True, **self.status()}
        if cmd == "zone-status":
            name = req.get("zone")
            zones = list(self.zones.values())
            if name:
                key = name.lower() if name.endswith(".") else name.lower() + "."
                zones = [z for z in zones if z.name == key]
                if not zones:
                    return {"ok": False, "error": f"no zone {name} configured"}
            return {"ok": all(not z.errors for z in zones), "zones": [z.status() for z in zones]}
        if cmd == "stats":
            return {"ok": True, "stats": self.stats()}
        if cmd == "reload":
            return await self.reload()
        if cmd == "zone-reload":
            # Like knotc zone-reload: compile again even if the file looks unchanged.
            name = req.get("zone")
            if not name:
                return await self.reload(force=True)
            key = name.lower() if name.endswith(".") else name.lower() + "."
            if key not in self.zones:
                return {"ok": False, "error": f"no zone {name} configured"}
            return await self.reload(force=(key,))
        if cmd == "stop":
            self.stopping.set()
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {cmd!r}"}

    def status(self):
        from robdns import _core
        db = _core.published()
        return {
            "version": __version__, "pid": os.getpid(), "uptime": time.time() - self.started,
            "config": self.cfg.path, "config_error": self.config_error,
            "listen": [str(a) for a in self.cfg.listen], "workers": self.cfg.workers,
            "reloads": self.reloads, "generation": getattr(db, "generation", None),
            "zones": [z.status() for z in self.zones.values()],
        }

    def stats(self, memory=None):
        from robdns import _core
        out = {"udp": self.workers.stats() if self.workers else {}, "tcp": _core.tcp_stats(),
               "memory": memory or _memory()}
        if self.tcp:
            out["tcp"]["connections"] = self.tcp.stats()
        if self.xdp:
            out["xdp"] = self.xdp.counters()
        names = {slot: name for name, slot in self.zone_slots.items()}
        for section in out.values():
            if "zones" in section:        # slot -> count becomes zone name -> count
                section["zones"] = {names.get(k, "other"): v for k, v in section["zones"].items()}
        out["events"] = metrics.events.as_dict()
        return out

    def metrics_snapshot(self):
        """(stats, status) for a /metrics scrape, from the HTTP thread: the counters are
        summed from the workers' own copies (no worker waits), and nothing walks the heap."""
        return self.stats(memory=_rss()), self.status()

    def ready(self):
        """/ready: every configured zone is served (loaded now, or a copy kept from an
        earlier load); false while the first load runs or a zone has never loaded."""
        zones = self.zones
        missing = [z.name for z in self.cfg.zones
                   if z.name not in zones or zones[z.name].image is None]
        return not missing, {"ready": not missing, "zones": len(self.cfg.zones),
                             "not_served": missing}


# ---------------------------------------------------------------------- helpers

def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _drop_capabilities():
    """Empty this thread's effective, permitted and inheritable capability sets (the
    ambient set follows).  Per thread: call it before other threads exist (the XDP
    workers drop theirs themselves).  setuid() from root does this for the root case."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)       # _LINUX_CAPABILITY_VERSION_3, self
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"dropping capabilities: {os.strerror(err)}")


def _preload_modules():
    """Import now what is otherwise imported on first use: after the drop to an
    unprivileged user the installation may no longer be readable (a root-only prefix)."""
    import ctypes  # noqa: F401
    import encodings.idna  # noqa: F401
    import gc  # noqa: F401
    import importlib
    import pkgutil

    import dns.rdtypes
    import uvloop  # noqa: F401
    for mod in pkgutil.walk_packages(dns.rdtypes.__path__, "dns.rdtypes."):
        importlib.import_module(mod.name)
    for name in ("dns.zone", "dns.rdatatype", "dns.rdataclass", "dns.name", "dns.rdata",
                 "dns.tokenizer", "dns.zonefile", "dns.rrset", "dns.message"):
        importlib.import_module(name)


def _memory():
    """Resident memory and how many database snapshots and zone images are alive: after a
    reload only the published snapshot and its images should be (old ones are freed)."""
    import gc
    from robdns import _core
    alive = {"databases": 0, "zone_images": 0}
    for o in gc.get_objects():
        if isinstance(o, _core.Database):
            alive["databases"] += 1
        elif isinstance(o, _core.ZoneImage):
            alive["zone_images"] += 1
    with open("/proc/self/status") as f:
        rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    return {"rss_kib": rss, **alive}


def _rss():
    with open("/proc/self/status") as f:
        rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    return {"rss_kib": rss}


def _account(cfg):
    """(uid, gid) of server.user / server.group (gid defaults to the user's group)."""
    uid, gid = os.geteuid(), os.getegid()
    if cfg.user is not None:
        try:
            pw = pwd.getpwnam(cfg.user) if not cfg.user.isdigit() else pwd.getpwuid(int(cfg.user))
        except KeyError:
            raise ConfigError(f"server.user: no such user {cfg.user!r}") from None
        uid, gid = pw.pw_uid, pw.pw_gid
    if cfg.group is not None:
        try:
            gid = grp.getgrnam(cfg.group).gr_gid if not cfg.group.isdigit() else int(cfg.group)
        except KeyError:
            raise ConfigError(f"server.group: no such group {cfg.group!r}") from None
    return uid, gid


def _check_free(addr):
    """SO_REUSEPORT lets a second server of the same user silently share the port: probe
    with a plain socket first so that case is an 'address in use' error instead."""
    for kind in (socket.SOCK_DGRAM,):
        probe = socket.socket(addr.family, kind)
        try:
            if addr.family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind((addr.host, addr.port))
        except OSError as e:
            raise OSError(e.errno, f"cannot bind udp {addr}: {e.strerror}") from None
        finally:
            probe.close()


def _udp_socket(addr):
    s = socket.socket(addr.family, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if addr.family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if addr.wildcard:
            # Learn the address each query was sent to, to answer from it.
            if addr.family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            else:
                s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            try:
                # Absorb bursts while a worker is busy (FORCE works as root only).
                s.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
                break
            except (OSError, TypeError):
                continue
        s.bind((addr.host, addr.port))
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"cannot bind udp {addr}: {e.strerror}") from None
    return s


def _return_big_blocks_to_the_os():
    """Pin glibc's mmap threshold at 128 KiB: zone images and databases (large blocks) are
    then always mmap()ed and given back to the kernel when a reload frees them. glibc's
    default raises the threshold after such a free, so later images would come from the
    heap, where fragmentation keeps RSS climbing for many reloads before it levels off."""
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        M_MMAP_THRESHOLD = -3
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass                    # not glibc: nothing to tune


def run(args):
    """Entry point of ``robdns serve``; returns the process exit status."""
    setup(getattr(args, "log_level", "info"))
    _return_big_blocks_to_the_os()
    try:
        if args.config:
            cfg = config.load(args.config)
            cfg = dataclasses.replace(cfg, path=os.path.abspath(args.config))
        else:
            cfg = config.default_config()
    except ConfigError as e:
        for line in str(e).splitlines():
            logger.error("%s", line)
        return 1
    if args.config and getattr(args, "log_level", None) in (None, "info"):
        set_level(cfg.log_level)
    logger.info("robdns %s starting (pid %d, config %s)", __version__, os.getpid(),
                cfg.path or "built-in: bundled example zone")
    d = Daemon(cfg)
    try:
        d.bind()
        d.drop_privileges()
    except (OSError, RobdnsError) as e:
        logger.error("%s", e)
        if d.xdp:
            d.xdp.stop()
        return 1
    if d.http:
        d.http.start()          # /health answers and /ready says no while the zones load
    d.zones = d.load_zones(cfg)
    d.publish(d.build_database(cfg, d.zones))
    import uvloop
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(d.main())
    finally:
        loop.close()
    return 0
