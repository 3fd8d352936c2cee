"""serverproc — a real `robdns serve` subprocess on free loopback ports, for tests.

Use the `robdns_server` fixture of conftest.py (a factory) in any test:

    def test_x(robdns_server):
        srv = robdns_server({"example.com.": ZONE_TEXT}, workers=2)
        r = srv.query("www.example.com.", "A")            # UDP over IPv4
        r = srv.query("www.example.com.", "A", tcp=True, family=6)
        srv.write_zone("example.com.", NEW_TEXT); srv.reload()   # ctl reload, waits
        srv.ctl("status")                                   # the ctl client's JSON answer
        srv.ctl_cli("zone-status", "example.com.")          # `robdns ctl` run as a command

The server's readiness is taken from its own sd_notify READY=1 on a socket the fixture
creates; every server is stopped (SIGTERM, then SIGKILL) at the end of the test.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_ZONE = os.path.join(ROOT, "robdns", "data", "example.com.zone")


def free_port(families=(socket.AF_INET, socket.AF_INET6)):
    """A port free for both UDP and TCP on 127.0.0.1 and ::1 (other suites run concurrently)."""
    for _ in range(100):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        held = [probe]
        try:
            for fam in families:
                host = "127.0.0.1" if fam == socket.AF_INET else "::1"
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    if fam == socket.AF_INET and kind == socket.SOCK_DGRAM:
                        continue
                    s = socket.socket(fam, kind)
                    held.append(s)
                    if fam == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port found")


class NotifyListener:
    """A NOTIFY_SOCKET for the server under test: collects its sd_notify datagrams."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)       # like systemd's: writable by a server that dropped root
        self.messages = []          # list of lists of "KEY=VALUE" lines, in arrival order
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self.cond:
                self.messages.append(data.decode().split("\n"))
                self.cond.notify_all()

    def wait_for(self, line, start=0, timeout=30):
        """Index of the first message from `start` on containing `line`; raises on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.messages)):
                    if line in self.messages[i]:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {line} from the server within {timeout} s: {self.messages}")
                self.cond.wait(left)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class RobdnsServer:
    """A `robdns serve` subprocess with its own config, zones, control and notify sockets."""

    def __init__(self, tmp_path, zones, workers=1, families=(4, 6), server=None, extra=None,
                 start=True, log_level="info", wrapper=()):
        """wrapper: a command prefix, e.g. ["ip", "netns", "exec", NS] to serve in a netns."""
        self.dir = tmp_path
        self.wrapper = list(wrapper)
        self.port = free_port()
        self.zone_files = {}
        zone_list = []
        for name, content in zones.items():
            path = os.path.join(tmp_path, name.rstrip(".") + ".zone")
            with open(path, "w") as f:
                f.write(content)
            self.zone_files[name] = path
            zone_list.append({"name": name, "file": path})
        hosts = {4: "127.0.0.1", 6: "::1"}
        self.control = os.path.join(tmp_path, "control.sock")
        cfg = {"server": {"listen": [f"{hosts[f]}@{self.port}" for f in families],
                          "workers": workers, "control": self.control,
                          "storage": os.path.join(tmp_path, "storage"),
                          "tcp": {"idle_timeout": 5}},
               "log": {"level": log_level},
               "zones": zone_list}
        for k, v in (server or {}).items():
            if isinstance(v, dict) and isinstance(cfg["server"].get(k), dict):
                cfg["server"][k].update(v)
            else:
                cfg["server"][k] = v
        cfg.update(extra or {})
        self.config = cfg
        self.config_path = os.path.join(tmp_path, "robdns.yaml")
        self.write_config()
        self.log_path = os.path.join(tmp_path, "robdns.log")
        self.notify = NotifyListener(os.path.join(tmp_path, "notify.sock"))
        self.proc = None
        if start:
            self.start()

    def write_config(self):
        with open(self.config_path, "w") as f:
            yaml.safe_dump(self.config, f)

    def start(self, timeout=30):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path,
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.log = open(self.log_path, "ab")
        seen = len(self.notify.messages)     # a restart waits for its own READY=1
        self.proc = subprocess.Popen(
            self.wrapper + [sys.executable, "-m", "robdns", "serve", "-c", self.config_path],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.notify.wait_for("READY=1", start=seen, timeout=0.2)
                return
            except TimeoutError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"robdns exited with {self.proc.returncode}:\n{self.log_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"robdns not ready within {timeout} s:\n{self.log_text()}")

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    @property
    def pid(self):
        return self.proc.pid

    def host(self, family):
        return "127.0.0.1" if family == 4 else "::1"

    def query(self, qname, qtype="A", tcp=False, family=4, timeout=2.0, **make_kw):
        import dns.message
        import dns.query
        q = dns.message.make_query(qname, qtype, **make_kw)
        if tcp:
            return dns.query.tcp(q, self.host(family), port=self.port, timeout=timeout)
        return dns.query.udp(q, self.host(family), port=self.port, timeout=timeout)

    def serial(self, zone, family=4, tcp=False):
        r = self.query(zone, "SOA", family=family, tcp=tcp)
        return r.answer[0][0].serial

    def write_zone(self, name, content):
        # Write then rename: a reload never sees a half-written file.
        path = self.zone_files[name]
        with open(path + ".tmp", "w") as f:
            f.write(content)
        os.replace(path + ".tmp", path)

    def ctl(self, cmd, timeout=60.0, **fields):
        from robdns import ctl
        return ctl.request(self.control, cmd, timeout=timeout, **fields)

    def ctl_cli(self, *args, **run):
        """`robdns ctl -s SOCKET ARGS...` as an operator runs it: the CompletedProcess, text
        output captured (`run`: more subprocess.run arguments, e.g. cwd)."""
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        run = dict({"cwd": ROOT, "env": env, "timeout": 60}, **run)
        return subprocess.run([sys.executable, "-m", "robdns", "ctl", "-s", self.control, *args],
                              capture_output=True, text=True, **run)

    def reload(self):
        return self.ctl("reload")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def close(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        finally:
            self.notify.close()
            if getattr(self, "log", None):
                self.log.close()


def read_example_zone():
    with open(EXAMPLE_ZONE) as f:
        return f.read()


def udp_flood(sock, dest, qname, n, timeout=1.0):
    """Send n identical queries for qname from sock to dest as fast as possible; the
    replies that arrive until timeout seconds pass without one (rate-limiting tests)."""
    import dns.message
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    wire = dns.message.make_query(qname, "A").to_wire()
    for _ in range(n):
        sock.sendto(wire, dest)
    sock.settimeout(timeout)
    replies = []
    try:
        while True:
            replies.append(dns.message.from_wire(sock.recv(4096)))
    except socket.timeout:
        pass
    return replies
