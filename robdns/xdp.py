"""xdp — the AF_XDP data path: the ``xdp`` config section and the lifecycle the
daemon drives (load the XDP program, attach it, one pinned worker per RX queue, detach).

The packet work is compiled code (cython_ext/xdp.pyx, csrc/server/xdp_*.c); this module
only checks configuration, finds queue count and MTU, loads the BPF object built with the
package and owns the start/stop order.  Starting must run in the network namespace of the
interface, as root or with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_NET_RAW and
CAP_IPC_LOCK (the set tests/test_xdp_caps.py proves; dist/robdns.service.d/xdp.conf
grants it), before privileges are dropped; stopping needs none.

The daemon's use::

    workers = start_xdp_workers(cfg.xdp)   # after bind(), before drop_privileges();
                                           # answers from what robdns._core.publish() holds
    ...
    workers.stop()                         # on exit: stop threads, detach the program

The program is attached through a BPF link owned by this process: stop() detaches it
without any capability (after the drop to server.user too), and a daemon killed before
stop() loses it with its descriptors, so DNS falls back to the kernel stack at once.  A
program of ours attached the old way (netlink, no link) is replaced at the next start.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import fcntl
import os
import socket
import struct
import time
from typing import Optional, Union

from robdns.errors import ConfigError, RobdnsError
from robdns.log import logger

# BPF bytecode compiled from bpf/xdp_dns.bpf.c when the package was built (setup.py), so
# that the server itself needs no compiler.
PROGRAM_OBJECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                              "xdp_dns.bpf.o")
MAX_QUEUES = 256              # size of the program's queue -> socket map
_KEYS = ("interface", "port", "queues", "mode", "zero_copy")
_MODES = ("auto", "native", "generic")
_ZERO_COPY = ("auto", "on", "off")
_NOT_BUILT = ("this robdns was built without AF_XDP support: the libxdp/libbpf headers "
              "were missing at build time (apt-get install libxdp-dev libbpf-dev, then "
              "reinstall robdns)")
_NO_PROGRAM = ("this robdns was built without its XDP program: clang was missing at build "
               "time (apt-get install clang, then reinstall robdns)")


class XdpError(RobdnsError):
    """The AF_XDP data path could not start (interface, program, sockets)."""


@dataclasses.dataclass(frozen=True)
class XdpConfig:
    """The ``xdp`` section: ``{interface, port, queues, mode, zero_copy}``."""

    interface: str
    port: int = 53
    queues: Union[str, int] = "auto"      # "auto": every RX queue of the interface
    mode: str = "auto"                    # auto: native, else generic
    zero_copy: str = "auto"               # auto: zero-copy where the driver has it


def xdp_supported() -> bool:
    """True when the compiled core has AF_XDP support."""
    from robdns import _core
    return bool(_core.xdp_supported())


def parse_xdp_config(section, path: str = "xdp", check_support: bool = True) -> XdpConfig:
    """Check the ``xdp`` section and return it as an XdpConfig.

    Errors are ConfigError naming the key's path (``xdp.port: ...``).  With
    check_support, a build without AF_XDP support is an error too, so that
    ``check-config`` says so before ``serve`` is tried.
    """
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: must be a mapping with at least 'interface'")
    for key in section:
        if key not in _KEYS:
            raise ConfigError(f"{path}.{key}: unknown key (known: {', '.join(_KEYS)})")
    if "interface" not in section:
        raise ConfigError(f"{path}.interface: missing (the network interface to attach to)")
    ifname = section["interface"]
    if not isinstance(ifname, str) or not 0 < len(ifname.encode()) < 16 \
            or "/" in ifname or any(c.isspace() for c in ifname):
        raise ConfigError(f"{path}.interface: must be an interface name (1-15 bytes, "
                          f"no '/' or spaces), got {ifname!r}")
    port = section.get("port", 53)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"{path}.port: must be an integer 1..65535, got {port!r}")
    queues = section.get("queues", "auto")
    if queues != "auto" and (isinstance(queues, bool) or not isinstance(queues, int)
                             or not 1 <= queues <= MAX_QUEUES):
        raise ConfigError(f"{path}.queues: must be 'auto' or an integer 1..{MAX_QUEUES}, "
                          f"got {queues!r}")
    mode = section.get("mode", "auto")
    if mode not in _MODES:
        raise ConfigError(f"{path}.mode: must be one of {', '.join(_MODES)}, got {mode!r}")
    zc = section.get("zero_copy", "auto")
    if zc is True:            # YAML 1.1 reads a bare `on`/`off` as a boolean
        zc = "on"
    elif zc is False:
        zc = "off"
    if zc not in _ZERO_COPY:
        raise ConfigError(f"{path}.zero_copy: must be one of {', '.join(_ZERO_COPY)}, "
                          f"got {zc!r}")
    if check_support and not xdp_supported():
        raise ConfigError(f"{path}: {_NOT_BUILT}")
    return XdpConfig(ifname, port, queues, mode, zc)


# ---- interface facts (in the calling thread's network namespace) ----

_SIOCGIFMTU = 0x8921
_SIOCETHTOOL = 0x8946
_ETHTOOL_GCHANNELS = 0x3C


def interface_index(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        raise XdpError(f"xdp.interface: no interface named {ifname!r}") from None


def interface_mtu(ifname: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16si20x", ifname.encode(), 0)        # struct ifreq: 40 bytes
        return struct.unpack("16si20x", fcntl.ioctl(s.fileno(), _SIOCGIFMTU, req))[1]


def interface_rx_queues(ifname: str) -> int:
    """Number of RX queues (ethtool channels: rx + combined); 1 when the driver won't say."""
    chan = (ctypes.c_uint32 * 9)(_ETHTOOL_GCHANNELS)
    req = struct.pack("16sP16x", ifname.encode(), ctypes.addressof(chan))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), _SIOCETHTOOL, req)
        except OSError:
            return 1
    # struct ethtool_channels: cmd, max_rx, max_tx, max_other, max_combined,
    #                          rx_count, tx_count, other_count, combined_count
    return max(1, chan[5] + chan[8])


# ---- the BPF program ----

def load_xdp_program(path: str = PROGRAM_OBJECT) -> bytes:
    """The XDP program as a BPF ELF object: the bytecode compiled when robdns was built."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise XdpError(f"xdp: {_NO_PROGRAM} ({path} is missing)") from None
    except OSError as e:
        raise XdpError(f"xdp: cannot read the XDP program {path}: {e.strerror}") from None


# ---- lifecycle ----

class XdpWorkers:
    """A running AF_XDP data path: the program on one interface, one worker per queue."""

    def __init__(self, plane, cfg: XdpConfig):
        self._plane = plane
        self.config = cfg

    @property
    def info(self) -> dict:
        return self._plane.info

    def counters(self) -> dict:
        return self._plane.counters()

    def set_database(self, database) -> None:
        self._plane.set_database(database)

    def stop(self) -> None:
        """Stop the workers and detach the program (idempotent).  Detaching closes the
        program's BPF link and needs no privilege, so it works after the daemon dropped
        root.  A program another process still holds is logged, not raised."""
        try:
            self._plane.stop()
        except OSError as e:
            logger.warning("xdp: %s", e.strerror or e)
            return
        logger.info("xdp: stopped, program detached from %s", self.config.interface)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def resolve_queues(cfg: XdpConfig) -> list:
    available = interface_rx_queues(cfg.interface)
    if cfg.queues == "auto":
        n = available
    else:
        n = cfg.queues
        if n > MAX_QUEUES:
            raise XdpError(f"xdp.queues: at most {MAX_QUEUES} queues, {n} configured")
        if n > available:
            raise XdpError(f"xdp.queues: {cfg.interface} has {available} RX queue(s), "
                           f"{n} configured")
    return list(range(min(n, MAX_QUEUES)))


def start_xdp_workers(cfg: XdpConfig, database=None, cpus: Optional[list] = None,
                      program: Optional[bytes] = None, rrl: Optional[dict] = None,
                      dnstap=None, dnstap_first: int = 0) -> XdpWorkers:
    """Attach the XDP program to cfg.interface and start one worker per RX queue.

    ``database``: None (the daemon) to answer from the RCU pointer the daemon publishes
    (rd_db_global, the one the UDP workers read), or a robdns._core.Database to answer
    from (tests, tools; replace it with XdpWorkers.set_database).  ``cpus``: the cores to pin
    the workers to (worker i on cpus[i % len(cpus)]; default: queue i on core i modulo
    the cores this process may use).  ``rrl``: response rate limiting settings (the
    fields of robdns.config.RrlConfig), one table per queue.  ``dnstap``: a
    robdns._core.Dnstap whose rings dnstap_first.. (one per queue) the workers log to.
    Raises XdpError (nothing stays attached then).
    """
    from robdns import _core
    if not _core.xdp_supported():
        raise XdpError(f"xdp: {_NOT_BUILT}")
    # Any object with the five fields will do (robdns.config has its own XdpConfig).
    cfg = XdpConfig(cfg.interface, cfg.port, cfg.queues, cfg.mode, cfg.zero_copy)
    ifindex = interface_index(cfg.interface)
    queues = resolve_queues(cfg)
    mtu = interface_mtu(cfg.interface)
    if cpus is None:
        allowed = sorted(os.sched_getaffinity(0))
        cpus = [allowed[q % len(allowed)] for q in queues]
    if program is None:
        program = load_xdp_program()
    # The kernel releases a closed AF_XDP socket's queue binding asynchronously, so a
    # start right after a stop (or a crash) can meet EBUSY for a moment: retry briefly.
    deadline = time.monotonic() + 3.0
    while True:
        plane = _core.XdpPlane(cfg.interface, ifindex, cfg.port, queues, cfg.mode,
                               cfg.zero_copy, program, mtu=max(576, min(mtu, 65535)),
                               cpus=cpus, rrl=rrl, dnstap=dnstap, dnstap_first=dnstap_first)
        try:
            plane.start(database)
            break
        except OSError as e:
            if e.errno == errno.EBUSY and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise XdpError(f"xdp: {e.strerror or e}") from None
    info = plane.info
    zc = sorted({q["zero_copy"] for q in info["queues"].values()})
    logger.info("xdp: %s: program %d attached in %s mode%s, %d queue(s) %s, %s, port %d",
                cfg.interface, info["prog_id"], info["mode"],
                " (replaced a stale one)" if info["replaced_stale"] else "", len(queues),
                queues, "zero-copy" if zc == [True] else "copy mode" if zc == [False]
                else "zero-copy on some queues", cfg.port)
    return XdpWorkers(plane, cfg)
