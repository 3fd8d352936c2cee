"""test_daemon_start — the order of `robdns serve`'s start (issue 14): the UDP and TCP workers
answer the loaded zones before the event loop, the control socket's server and the control
plane's modules exist; answers in that window are the zone's own; a signal arriving then is acted
on once the loop runs (SIGTERM: the clean stop, SIGHUP: a reload); READY=1 still comes
only after everything is up."""

import concurrent.futures
import os
import signal
import subprocess
import sys
import time

import dns.flags
import dns.rcode
import pytest

from serverproc import ROOT, RobdnsServer, read_example_zone

SERIAL = 2026112701

# `robdns serve` with the start held right after the workers start: the modules loaded at
# that moment are written to GATE.modules, then the start waits for GATE.go to exist.
HELD_START = """
import os, sys, time
from robdns import cli, daemon
gate = os.environ["ROBDNS_TEST_GATE"]
start_workers = daemon.Daemon.start_workers
def held(self):
    start_workers(self)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("asyncio", "uvloop", "dns"))
    with open(gate + ".modules", "w") as f:
        f.write(" ".join(loaded) + "\\n")
    deadline = time.monotonic() + 30
    while not os.path.exists(gate + ".go") and time.monotonic() < deadline:
        time.sleep(0.01)
daemon.Daemon.start_workers = held
sys.exit(cli.main(sys.argv[1:]))
"""


class HeldServer(RobdnsServer):
    """A robdns server whose start stops between its workers and its event loop."""

    def __init__(self, tmp_path):
        super().__init__(str(tmp_path), {"example.com.": read_example_zone()}, start=False)
        self.gate = os.path.join(self.dir, "gate")

    def start_held(self, timeout=30):
        seen = len(self.notify.messages)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, ROBDNS_TEST_GATE=self.gate,
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-c", HELD_START, "serve", "-c", self.config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.gate + ".modules"):
            if self.proc.poll() is not None:
                raise RuntimeError(f"robdns exited with {self.proc.returncode}:\n{self.log_text()}")
            assert time.monotonic() < deadline, f"workers not started:\n{self.log_text()}"
            time.sleep(0.01)
        assert "READY=1" not in [line for m in self.notify.messages[seen:] for line in m]
        with open(self.gate + ".modules") as f:
            return f.read().split()

    def release(self):
        open(self.gate + ".go", "w").close()


@pytest.fixture
def held(tmp_path):
    srv = HeldServer(tmp_path)
    yield srv
    try:
        srv.release()
        srv.stop()
    finally:
        srv.close()


def keep_images(srv):
    """Start srv once, normally, until its zone's image is kept in its storage; stop it."""
    from robdns import _core
    srv.start()
    pack = os.path.join(srv.config["server"]["storage"], "zones.pack")
    deadline = time.monotonic() + 20
    while _core.read_pack(pack, [], [], [])[2]["records"] < 1:
        assert time.monotonic() < deadline, srv.log_text()
        time.sleep(0.02)
    assert srv.stop() == 0


def test_workers_answer_before_the_control_plane_is_loaded(held):
    keep_images(held)
    loaded = held.start_held()
    # a start from kept images: nothing of the event loop, the control plane or dnspython
    # (which a zone's compile may use for rare rdata) before the first answer
    assert loaded == []
    assert "mapped from their kept images" in held.log_text()
    # the control socket is bound (while root) but nobody serves it yet: a command sent
    # now waits in its backlog and is answered once the event loop runs
    early = concurrent.futures.ThreadPoolExecutor(1).submit(held.ctl, "status")
    for tcp in (False, True):
        r = held.query("example.com.", "SOA", tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
        assert r.answer[0][0].serial == SERIAL
        r = held.query("www.example.com.", "A", tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR and r.answer
        r = held.query("nope.example.com.", "A", tcp=tcp)
        assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA
    assert held.query("example.org.", "SOA").rcode() == dns.rcode.REFUSED
    assert not early.done()
    ready = len(held.notify.messages)
    held.release()
    # READY=1 once everything is up
    held.notify.wait_for("READY=1", start=ready)
    assert early.result(20)["zones"][0]["serial"] == SERIAL
    assert held.serial("example.com.") == SERIAL


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_while_the_control_plane_loads_stops_cleanly(held, sig):
    held.start_held()
    held.proc.send_signal(sig)
    time.sleep(0.1)
    assert held.proc.poll() is None           # noted, not the default action
    assert held.serial("example.com.") == SERIAL
    held.release()
    assert held.proc.wait(20) == 0
    log = held.log_text()
    assert "stopped" in log and "Traceback" not in log
    assert not os.path.exists(held.control)


def test_reload_signal_while_the_control_plane_loads_reloads(held):
    held.start_held()
    held.write_zone("example.com.", read_example_zone().replace(str(SERIAL), str(SERIAL + 1)))
    old = time.time() - 60              # a clearly different mtime than the one loaded
    os.utime(held.zone_files["example.com."], (old, old))
    held.proc.send_signal(signal.SIGHUP)
    time.sleep(0.1)
    assert held.proc.poll() is None
    assert held.serial("example.com.") == SERIAL
    held.release()
    deadline = time.monotonic() + 20
    while held.serial("example.com.") != SERIAL + 1:
        assert time.monotonic() < deadline, held.log_text()
        time.sleep(0.05)
    assert "Traceback" not in held.log_text()
