# servers.py — start, probe and stop the servers the benchmarks compare (robdns, Knot, NSD, the echo floor).
"""Each server runs on 127.0.0.1 on a free port, from a private temporary directory,
optionally pinned to one CPU with taskset (inherited by its threads and children).

`Server.start()` returns once the process is spawned; `wait_answer()` polls with a UDP
SOA query for the zone until an authoritative NOERROR answer with the SOA comes back
(the moment a client could be served) and returns the seconds since spawn.
"""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

import procfs

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")


def print_and_save(text, data, path):
    """Print a run's report and keep its raw figures as JSON (re-printed with --report)."""
    print(text)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


def free_port():
    """A UDP port free on 127.0.0.1 now (also free for TCP, which Knot and NSD open too)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def soa_answered(port, origin, timeout=0.05, serial=None):
    """True when the server answers SOA <origin> with AA, NOERROR and the SOA (of `serial`)."""
    q = dns.message.make_query(origin, "SOA")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        wire, _ = s.recvfrom(65535)
    except OSError:
        return False
    finally:
        s.close()
    try:
        r = dns.message.from_wire(wire)
    except Exception:
        return False
    if r.id != q.id or r.rcode() != dns.rcode.NOERROR or not (r.flags & dns.flags.AA):
        return False
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return serial is None or rrset[0].serial == serial
    return False


def zone_serial(path):
    """The SOA serial of a genzone.py zone (the line that ends with '; serial')."""
    with open(path) as f:
        for line in f:
            if line.rstrip().endswith("; serial"):
                return int(line.split(";")[0])
    return None


class Server:
    name = "?"
    # Where Knot and robdns listen (each at self.port); tcp_bench --netns adds a veth's.
    listen_addrs = ("127.0.0.1",)

    def __init__(self, zone, origin, port=None, cpu=None):
        self.zone = os.path.abspath(zone)
        self.origin = origin
        self.port = port or free_port()
        self.cpu = cpu
        self.tmp = tempfile.mkdtemp(prefix=f"robdns-bench-{self.name}-")
        self.proc = None
        self.t_spawn = None

    def command(self):
        raise NotImplementedError

    def zone_files(self):
        """(origin, file) of every zone the server is configured with: the one by default."""
        return [(self.origin, self.zone)]

    def start(self):
        cmd = self.command()
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu)] + cmd
        self.log = open(os.path.join(self.tmp, "server.log"), "wb")
        self.t_spawn = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.tmp, env=self.env())
        return self

    def env(self):
        return os.environ.copy()

    def wait_answer(self, limit=120.0, serial=None):
        """Poll until the zone's SOA is answered; seconds from spawn to the first answer."""
        deadline = self.t_spawn + limit
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
            if soa_answered(self.port, self.origin, 0.02, serial):
                return time.perf_counter() - self.t_spawn
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not answer within {limit} s: {self.log_tail()}")

    def pids(self):
        return procfs.process_tree(self.proc.pid)

    def log_tail(self, n=800):
        try:
            with open(os.path.join(self.tmp, "server.log"), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                # Kill only the processes of this server's own tree.
                for pid in reversed(self.pids()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait(5)
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Knot(Server):
    """knotd with a temporary text config: one zone, no journal, no zone-file sync.
    control: a knotc socket at self.control."""
    name = "knot"

    def __init__(self, zone, origin, port=None, cpu=None, workers=None, control=False):
        super().__init__(zone, origin, port, cpu)
        self.workers = workers
        self.control = os.path.join(self.tmp, "knot.sock") if control else None

    def command(self):
        w = ""
        if self.workers:
            w = (f"    udp-workers: {self.workers}\n    tcp-workers: {self.workers}\n"
                 f"    background-workers: {self.workers}\n")
        ctl = f'control:\n    listen: "{self.control}"\n' if self.control else ""
        conf = os.path.join(self.tmp, "knot.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    rundir: "{self.tmp}"
    listen: [{", ".join(f"{a}@{self.port}" for a in self.listen_addrs)}]
{w}{ctl}log:
  - target: stderr
    any: warning
database:
    storage: "{self.tmp}"
template:
  - id: default
    storage: "{self.tmp}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
""")
            for origin, path in self.zone_files():
                f.write(f'  - domain: "{origin}"\n    file: "{path}"\n')
        return ["knotd", "-c", conf]


class NSD(Server):
    """nsd in the foreground (-d) reading the zone file directly (no nsd.db), RRL off."""
    name = "nsd"
    verbosity = 1

    def __init__(self, zone, origin, port=None, cpu=None, servers=1):
        super().__init__(zone, origin, port, cpu)
        self.servers = servers

    def command(self):
        t = self.tmp
        conf = os.path.join(t, "nsd.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    ip-address: 127.0.0.1@{self.port}
    server-count: {self.servers}
    username: ""
    chroot: ""
    zonesdir: "{t}"
    database: ""
    zonelistfile: "{t}/zone.list"
    xfrdfile: "{t}/xfrd.state"
    xfrdir: "{t}"
    pidfile: "{t}/nsd.pid"
    verbosity: {self.verbosity}
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    do-ip6: no
    reuseport: no
remote-control:
    control-enable: no
""")
            for origin, path in self.zone_files():
                f.write(f'zone:\n    name: "{origin}"\n    zonefile: "{path}"\n')
        return ["nsd", "-d", "-c", conf]


ECHO_BIN = os.path.join(OUT, "echo")


def build_c(name):
    """Compile bench/<name>.c into bench/out/<name> (when the source is newer): the bench's
    own C programs (echo, echo_uring, burst, tcpcpq); returns the binary's path."""
    src = os.path.join(HERE, name + ".c")
    binary = os.path.join(OUT, name)
    # the bench's headers too (echo_socket.h): a changed one rebuilds what includes it
    newest = max(os.path.getmtime(p) for p in [src] + glob.glob(os.path.join(HERE, "*.h")))
    if not os.path.exists(binary) or os.path.getmtime(binary) < newest:
        os.makedirs(OUT, exist_ok=True)
        subprocess.run(["cc", "-O2", "-Wall", "-o", binary + ".tmp", src], check=True)
        os.replace(binary + ".tmp", binary)   # two benches building at once: no torn file
    return binary


def build_echo():
    """bench/echo.c built (build_c)."""
    return build_c("echo")


class Echo(Server):
    """The floor: bench/echo.c, which answers every query with itself plus QR."""
    name = "echo"

    def command(self):
        build_echo()
        return [ECHO_BIN, "127.0.0.1", str(self.port)]

    def wait_answer(self, limit=10.0, serial=None):
        # The echo has no zone: any reply to a query means it is up.
        deadline = self.t_spawn + limit
        q = dns.message.make_query(self.origin, "SOA").to_wire()
        while time.perf_counter() < deadline:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.02)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                s.recvfrom(512)
                return time.perf_counter() - self.t_spawn
            except OSError:
                time.sleep(0.005)
            finally:
                s.close()
        raise RuntimeError(f"echo did not answer: {self.log_tail()}")


class Robdns(Server):
    """`robdns serve -c CONFIG` from this checkout (the in-place build), one worker.
    Compiled images are not kept (server.storage: false), so every start compiles, as the
    load benchmark means to measure; `storage` names a directory to keep them in.
    http_port: serve /metrics there (server.http); dnstap: a server.dnstap sink
    ("unix:PATH" or a file) logging every query and response."""
    name = "robdns"

    def __init__(self, zone, origin, port=None, cpu=None, workers=1, tcp=None, storage=None,
                 http_port=None, dnstap=None, udp_hold_us=None):
        """tcp: a dict of server.tcp settings (e.g. max_connections) or None;
        udp_hold_us: server.udp_hold_us, or None for robdns's default."""
        super().__init__(zone, origin, port, cpu)
        self.udp_hold_us = udp_hold_us
        self.workers = workers
        self.tcp = tcp
        self.storage = storage
        self.http_port = http_port
        self.dnstap = dnstap

    def env(self):
        env = os.environ.copy()
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        return env

    @property
    def control(self):
        return os.path.join(self.tmp, "control.sock")

    def command(self):
        conf = os.path.join(self.tmp, "robdns.yaml")
        tcp = ""
        if self.tcp:
            tcp = "  tcp:\n" + "".join(f"    {k}: {v}\n" for k, v in self.tcp.items())
        with open(conf, "w") as f:
            f.write(f"""server:
  listen: {json.dumps([f"{a}@{self.port}" for a in self.listen_addrs])}
  workers: {self.workers}
  control: "{self.tmp}/control.sock"
  storage: {json.dumps(self.storage) if self.storage else "false"}
{tcp}{self._options()}zones:
  - name: {self.origin}
    file: "{self.zone}"
""")
        return [sys.executable, "-m", "robdns", "serve", "-c", conf]

    def _options(self):
        out = ""
        if self.http_port:
            out += f'  http: "127.0.0.1@{self.http_port}"\n'
        if self.dnstap:
            out += f'  dnstap: {{sink: "{self.dnstap}", sample: 1}}\n'
        if self.udp_hold_us is not None:
            out += f"  udp_hold_us: {self.udp_hold_us}\n"
        return out


def installed_env(env, checkout=None):
    """A robdns server's environment as an installed one starts: its modules' bytecode
    cached (in OUT/pycache, PYTHONPYCACHEPREFIX, not in the checkout), as pip leaves it,
    even when this shell says PYTHONDONTWRITEBYTECODE -- else every start compiles
    robdns's modules from source first, ~0.1-0.2 s no installed server pays; checkout:
    another checkout's in-place build first on the path (a --before tree)."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(OUT, "pycache")
    if checkout:
        env["PYTHONPATH"] = checkout + os.pathsep + env.get("PYTHONPATH", "")
    return env


class RobdnsCheckout(Robdns):
    """robdns served from another checkout's in-place build (a --before / --baseline tree):
    a change and the build it started from measured in the same run, that checkout first
    on the path."""

    def __init__(self, checkout, *args, **kw):
        super().__init__(*args, **kw)
        self.checkout = os.path.abspath(checkout)

    def env(self):
        env = super().env()
        env["PYTHONPATH"] = self.checkout + os.pathsep + env["PYTHONPATH"]
        return env


class FstrmCapture:
    """fstrm_capture as the dnstap collector of a benchmark: it reads the Frame Streams
    from a unix socket and writes them to /dev/null, pinned to `cpu`."""

    def __init__(self, cpu=None):
        self.tmp = tempfile.mkdtemp(prefix="robdns-bench-dnstap-")
        self.sock = os.path.join(self.tmp, "dnstap.sock")
        self.cpu = cpu
        self.proc = None

    def start(self, timeout=10.0):
        cmd = ["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", self.sock, "-w", "/dev/null"]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu)] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fstrm_capture did not open its socket")
            time.sleep(0.02)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def robdns_serve_available():
    """True when this checkout's robdns has a daemon that can serve (`robdns serve`)."""
    try:
        r = subprocess.run([sys.executable, "-c", "import robdns.daemon, robdns._core as c; "
                            "assert hasattr(c, 'compile_zone')"],
                           cwd=REPO, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0
