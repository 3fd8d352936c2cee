"""refservers — start Knot (knotd) and NSD on loopback with given zones, for differential tests.

Each server runs from its own temporary directory on a free port (UDP and TCP), as the
current user, in the foreground as a child of the test process; `start_*` returns only
once every zone answers its SOA with AA set, and `stop()` ends exactly the process it
started (then its process group, which only it created).  Both are configured to answer
like a plain authoritative server under load tests: one UDP worker, no response-rate
limiting, the same NSID and EDNS payload ceiling (1232) as robdns' defaults.

    with start_knot([("example.com.", "/path/example.com.zone")]) as knot:
        wire = knot.query(dns.message.make_query("www.example.com.", "A").to_wire())
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import dns.flags
import dns.message
import dns.rcode

# What every reference server (and robdns in the differential tests) is configured with.
TEST_NSID = b"robdns-difftest"
TEST_IDENTITY = "difftest.robdns"   # CHAOS id.server / hostname.bind (RFC 4892)
TEST_VERSION = "difftest-1"          # CHAOS version.bind / version.server
UDP_PAYLOAD_CEILING = 1232

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
NSD = shutil.which("nsd") or "/usr/sbin/nsd"
NAMED = shutil.which("named") or "/usr/sbin/named"     # BIND 9, for the transfer tests

Zone = tuple  # (origin: str, path: str)


class RefServerError(RuntimeError):
    """A reference server did not start or did not load its zones; carries its log."""


def available(binary: str) -> bool:
    return os.access(binary, os.X_OK)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP right now (other helpers run tests concurrently,
    so the caller retries start-up on a bind failure)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port
    raise RefServerError("no free port found")


def query_udp(wire: bytes, host: str, port: int, timeout: float = 2.0) -> Optional[bytes]:
    """One query over UDP; the response with the same id, or None on timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.send(wire)
        deadline = time.monotonic() + timeout
        while True:
            try:
                resp = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            if len(resp) >= 2 and resp[:2] == wire[:2]:
                return resp
            if time.monotonic() > deadline:
                return None


def query_tcp(wire: bytes, host: str, port: int, timeout: float = 2.0) -> Optional[bytes]:
    """One query over TCP (RFC 1035 4.2.2 two-octet length); None if the server closes."""
    try:
        s = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None
    with s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        head = _recv_exact(s, 2)
        if head is None:
            return None
        return _recv_exact(s, struct.unpack("!H", head)[0])


def _recv_exact(s: socket.socket, n: int) -> Optional[bytes]:
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except (socket.timeout, ConnectionResetError):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


@dataclass
class RefServer:
    """A running reference server; use as a context manager or call stop()."""

    name: str
    host: str
    port: int
    workdir: str
    proc: subprocess.Popen
    log_path: str
    zones: Sequence[Zone] = field(default_factory=tuple)

    def query(self, wire: bytes, tcp: bool = False, timeout: float = 2.0) -> Optional[bytes]:
        if tcp:
            return query_tcp(wire, self.host, self.port, timeout)
        return query_udp(wire, self.host, self.port, timeout)

    def ask(self, wire: bytes, tcp: bool = False,
            timeouts: Sequence[float] = (1.0, 2.0, 4.0)) -> Optional[bytes]:
        """query(), asked again when no answer came: the machine is shared and a loaded
        server can miss a deadline; a test that needs an answer uses this."""
        for timeout in timeouts:
            resp = self.query(wire, tcp=tcp, timeout=timeout)
            if resp is not None:
                return resp
        return None

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the server we started, then SIGKILL its own process group if needed
        (NSD forks its server processes into the group we created for it)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "RefServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _soa_loaded(server: RefServer, origin: str) -> bool:
    q = dns.message.make_query(origin, "SOA")
    q.flags &= ~dns.flags.RD
    wire = server.query(q.to_wire(), timeout=0.2)
    if wire is None:
        return False
    r = dns.message.from_wire(wire)
    return r.rcode() == dns.rcode.NOERROR and bool(r.flags & dns.flags.AA) and bool(r.answer)


def _wait_ready(server: RefServer, timeout: float) -> None:
    pending = [origin for origin, _ in server.zones]
    deadline = time.monotonic() + timeout
    while pending:
        if server.proc.poll() is not None:
            raise RefServerError(f"{server.name} exited with {server.proc.returncode}:\n"
                                 f"{server.log()}")
        if time.monotonic() > deadline:
            raise RefServerError(f"{server.name} did not serve {pending} within {timeout}s:\n"
                                 f"{server.log()}")
        if _soa_loaded(server, pending[0]):
            pending.pop(0)
        else:
            time.sleep(0.05)


def command(kind: str, conf: str) -> list:
    """The command line of reference server `kind` (knot, nsd, bind) with config file
    `conf`, in the foreground as our child, so stop() ends exactly what we started."""
    return {"knot": [KNOTD, "-c", conf], "nsd": [NSD, "-d", "-c", conf],
            "bind": [NAMED, "-g", "-c", conf]}[kind]       # named -g: log to stderr


def _launch(name: str, argv: list, workdir: str, host: str, port: int,
            zones: Sequence[Zone], timeout: float) -> RefServer:
    log_path = os.path.join(workdir, f"{name}.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                cwd=workdir, start_new_session=True)
    server = RefServer(name, host, port, workdir, proc, log_path, tuple(zones))
    try:
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()   # the exception already carries the server's log
        raise
    return server


def _start_with_retries(start_once, zones: Sequence[Zone], host: str, timeout: float,
                        attempts: int = 3) -> RefServer:
    """A free port can be taken by a concurrent test between our probe and the server's
    bind; start again on another port then."""
    last: Optional[Exception] = None
    for _ in range(attempts):
        try:
            return start_once(zones, host, free_port(host), timeout)
        except RefServerError as e:
            last = e
            if "in use" not in str(e).lower() and "cannot bind" not in str(e).lower():
                raise
    assert last is not None
    raise last


def _knot_conf(workdir: str, host: str, port: int, zones: Sequence[Zone]) -> str:
    # knot.conf(5): a private rundir and storage so nothing touches /var/lib/knot; zone
    # files are only read (zonefile-sync -1, no journal); one UDP worker like the bench.
    lines = [
        "server:",
        f'    rundir: "{workdir}"',
        f'    pidfile: "{workdir}/knot.pid"',
        f"    listen: {host}@{port}",
        "    udp-workers: 1",
        "    tcp-workers: 1",
        "    background-workers: 1",
        f'    nsid: "{TEST_NSID.decode()}"',
        f'    identity: "{TEST_IDENTITY}"',
        f'    version: "{TEST_VERSION}"',
        f"    udp-max-payload: {UDP_PAYLOAD_CEILING}",
        "log:",
        "  - target: stderr",
        "    any: info",
        "database:",
        f'    storage: "{workdir}/db"',
        "template:",
        "  - id: default",
        f'    storage: "{workdir}"',
        "    zonefile-sync: -1",
        "    zonefile-load: whole",
        "    journal-content: none",
        "zone:",
    ]
    for origin, path in zones:
        lines += [f'  - domain: "{origin}"', f'    file: "{os.path.abspath(path)}"']
    return "\n".join(lines) + "\n"


def _start_knot_once(zones: Sequence[Zone], host: str, port: int, timeout: float) -> RefServer:
    workdir = tempfile.mkdtemp(prefix="robdns-knot-")
    conf = os.path.join(workdir, "knot.conf")
    with open(conf, "w") as f:
        f.write(_knot_conf(workdir, host, port, zones))
    return _launch("knot", command("knot", conf), workdir, host, port, zones, timeout)


def _nsd_conf(workdir: str, host: str, port: int, zones: Sequence[Zone]) -> str:
    # nsd.conf(5): no database file, no chroot, no privilege drop, no control socket;
    # rrl-ratelimit 0 turns response-rate limiting off (else the suite's bursts get slipped).
    lines = [
        "server:",
        f"    ip-address: {host}",
        f"    port: {port}",
        "    server-count: 1",
        "    do-ip6: no",
        "    reuseport: no",
        '    username: ""',
        '    chroot: ""',
        f'    zonesdir: "{workdir}"',
        '    database: ""',
        f'    zonelistfile: "{workdir}/zone.list"',
        f'    xfrdfile: "{workdir}/xfrd.state"',
        f'    xfrdir: "{workdir}"',
        f'    pidfile: "{workdir}/nsd.pid"',
        f'    logfile: "{workdir}/nsd.log"',
        "    verbosity: 1",
        f'    nsid: "ascii_{TEST_NSID.decode()}"',
        f'    identity: "{TEST_IDENTITY}"',
        f'    version: "{TEST_VERSION}"',
        f"    ipv4-edns-size: {UDP_PAYLOAD_CEILING}",
        "    rrl-ratelimit: 0",
        "    rrl-whitelist-ratelimit: 0",
        "remote-control:",
        "    control-enable: no",
    ]
    for origin, path in zones:
        lines += ["zone:", f'    name: "{origin}"', f'    zonefile: "{os.path.abspath(path)}"']
    return "\n".join(lines) + "\n"


def _start_nsd_once(zones: Sequence[Zone], host: str, port: int, timeout: float) -> RefServer:
    workdir = tempfile.mkdtemp(prefix="robdns-nsd-")
    conf = os.path.join(workdir, "nsd.conf")
    with open(conf, "w") as f:
        f.write(_nsd_conf(workdir, host, port, zones))
    server = _launch("nsd", command("nsd", conf), workdir, host, port, zones, timeout)
    server.log_path = os.path.join(workdir, "nsd.log") if os.path.exists(
        os.path.join(workdir, "nsd.log")) else server.log_path
    return server


def start_knot(zones: Sequence[Zone], host: str = "127.0.0.1", timeout: float = 20.0) -> RefServer:
    """knotd serving `zones` [(origin, zone file path), ...] on host and a free port."""
    return _start_with_retries(_start_knot_once, zones, host, timeout)


def start_nsd(zones: Sequence[Zone], host: str = "127.0.0.1", timeout: float = 20.0) -> RefServer:
    """nsd serving `zones` [(origin, zone file path), ...] on host and a free port."""
    return _start_with_retries(_start_nsd_once, zones, host, timeout)


@contextlib.contextmanager
def knot_and_nsd(zones: Sequence[Zone]):
    """Both reference servers on `zones`, stopped on leaving (and Knot stopped again if
    NSD fails to start): yields (knot, nsd)."""
    knot = start_knot(zones)
    try:
        nsd = start_nsd(zones)
    except BaseException:
        knot.stop()
        raise
    try:
        yield knot, nsd
    finally:
        knot.stop()
        nsd.stop()
