"""test_daemon — `robdns serve` as operators run it: queries over UDP and TCP on IPv4 and
IPv6, reload under load (nothing lost, the serial switches once), broken zones and configs on reload, memory over many reloads,
clean stop, systemd notifications, privilege drop, logs."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from serverproc import ROOT, read_example_zone

SERIAL = 2026112701


def with_serial(serial, extra=""):
    return read_example_zone().replace(str(SERIAL), str(serial)) + extra


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_queries_over_udp_and_tcp_on_ipv4_and_ipv6(robdns_server, family, tcp):
    srv = robdns_server(workers=2)
    r = srv.query("mail.example.com.", "A", family=family, tcp=tcp)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert [rd.address for rd in r.answer[0]] == ["192.0.2.25"]
    r = srv.query("nope.example.com.", "A", family=family, tcp=tcp)
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.authority[0].rdtype == dns.rdatatype.SOA
    r = srv.query("example.org.", "A", family=family, tcp=tcp)
    assert r.rcode() == dns.rcode.REFUSED
    assert srv.serial("example.com.", family=family, tcp=tcp) == SERIAL


def test_every_worker_thread_serves(robdns_server):
    srv = robdns_server(workers=2, families=(4,))
    # One thread per worker per address; SO_REUSEPORT spreads clients by their ports.
    for i in range(64):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        q = dns.message.make_query("www.example.com.", "A")
        s.sendto(q.to_wire(), ("127.0.0.1", srv.port))
        assert dns.message.from_wire(s.recv(4096)).id == q.id
        s.close()
    stats = srv.ctl("stats")["stats"]["udp"]
    assert stats["queries"] == 64 and stats["responses"] == 64
    assert stats["rcode"] == {"NOERROR": 64}
    tasks = os.listdir(f"/proc/{srv.pid}/task")
    assert len(tasks) >= 3      # main + 2 workers (+ executor threads)


def test_wildcard_listen_answers_from_the_address_asked(robdns_server):
    srv = robdns_server(start=False)
    srv.config["server"]["listen"] = [f"0.0.0.0@{srv.port}", f"::@{srv.port}"]
    srv.write_config()
    srv.start()
    for host, fam in (("127.0.0.2", socket.AF_INET), ("127.0.0.77", socket.AF_INET), ("::1", socket.AF_INET6)):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.connect((host, srv.port))     # a connected socket accepts replies only from host
        q = dns.message.make_query("www.example.com.", "A")
        s.send(q.to_wire())
        try:
            r = dns.message.from_wire(s.recv(4096))
        except socket.timeout:
            raise AssertionError(f"no answer from {host}: {srv.ctl('stats')['stats']['udp']}")
        assert r.id == q.id and r.rcode() == dns.rcode.NOERROR
        s.close()
        # dnspython also checks the reply's source address.
        assert dns.query.udp(q, host, port=srv.port, timeout=2).id == q.id


class LoadGenerator(threading.Thread):
    """A steady UDP load of SOA queries, at most `rate` per second, each waited for, until
    stop() is called; records (time sent, serial or None when lost)."""

    def __init__(self, port, rate=1000):
        super().__init__(daemon=True)
        self.port, self.rate = port, rate
        self.results = []
        self.stopping = threading.Event()

    def answered(self, serial):
        return sum(1 for _, got in self.results if got == serial)

    def stop(self):
        self.stopping.set()

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # A late answer is not a lost one: on a loaded 2-core machine a thread can stall
        # for seconds.  A lost one is a query never answered.
        s.settimeout(10.0)
        start = time.monotonic()
        n = 0
        while not self.stopping.is_set():
            due = start + n / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            q = dns.message.make_query("example.com.", "SOA")
            sent = time.monotonic()
            s.sendto(q.to_wire(), ("127.0.0.1", self.port))
            serial = None
            try:
                while True:
                    r = dns.message.from_wire(s.recv(4096))
                    if r.id == q.id:
                        serial = r.answer[0][0].serial
                        break
            except socket.timeout:
                pass
            self.results.append((sent, serial))
            n += 1
        s.close()


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_reload_under_load_loses_nothing_and_switches_serial_once(robdns_server):
    # Counted in answers, not seconds: how many queries a loaded machine gets through in a
    # second is not what this checks.  The generous waits only end a test that hangs.
    srv = robdns_server(workers=2, families=(4,))
    load = LoadGenerator(srv.port, rate=1000)
    load.start()
    try:
        _wait_for(lambda: load.answered(SERIAL) >= 300, 120, "300 answers before the reload")
        srv.write_zone("example.com.", with_serial(SERIAL + 1))
        srv.signal(signal.SIGHUP)
        _wait_for(lambda: load.answered(SERIAL + 1) >= 300, 120, "300 answers after the reload")
    finally:
        load.stop()
        load.join(30)
    assert not load.is_alive()
    serials = [serial for _, serial in load.results]
    assert None not in serials, f"{serials.count(None)} queries lost"
    # Once a query saw the new snapshot, none after it sees the old one.
    i = serials.index(SERIAL + 1)
    assert set(serials[:i]) == {SERIAL} and set(serials[i:]) == {SERIAL + 1}
    assert srv.ctl("status")["reloads"] == 1


def test_broken_zone_on_reload_keeps_the_old_serial_serving(robdns_server):
    srv = robdns_server()
    srv.write_zone("example.com.", with_serial(SERIAL + 5, "bad-line IN A 999.1.1.1\n"))
    resp = srv.reload()
    assert resp["ok"] is False
    assert srv.serial("example.com.") == SERIAL
    assert srv.serial("example.com.", tcp=True, family=6) == SERIAL
    (z,) = srv.ctl("zone-status", zone="example.com.")["zones"]
    assert z["state"] == "failed" and z["serial"] == SERIAL
    path = srv.zone_files["example.com."]
    assert any(m.startswith(f"{path}:") for m in z["errors"]), z["errors"]   # FILE:LINE: reason
    assert any(f"{path}:" in line and "error" in line.lower() for line in srv.log_text().splitlines())
    # Fixed: the next reload serves it and clears the failure.
    srv.write_zone("example.com.", with_serial(SERIAL + 6))
    assert srv.reload()["ok"] is True
    assert srv.serial("example.com.") == SERIAL + 6
    (z,) = srv.ctl("zone-status")["zones"]
    assert z["state"] == "ok" and z["errors"] == []


def test_broken_config_on_reload_keeps_everything_serving(robdns_server):
    srv = robdns_server()
    with open(srv.config_path, "a") as f:
        f.write("bogus_key: 1\n")
    srv.write_zone("example.com.", with_serial(SERIAL + 1))
    resp = srv.reload()
    assert resp["ok"] is False and "bogus_key: unknown key" in resp["config_error"]
    assert srv.serial("example.com.") == SERIAL          # nothing reloaded
    st = srv.ctl("status")
    assert "bogus_key" in st["config_error"]


def test_zone_failing_at_startup_is_not_served_until_fixed(robdns_server):
    srv = robdns_server({"example.com.": read_example_zone(), "broken.test.": "$TTL 1h\n@ IN A 1.2.3.4\n"})
    r = srv.query("broken.test.", "SOA")
    assert r.rcode() == dns.rcode.REFUSED
    assert srv.serial("example.com.") == SERIAL
    st = srv.ctl("status")
    states = {z["name"]: z["state"] for z in st["zones"]}
    assert states == {"example.com.": "ok", "broken.test.": "failed"}
    srv.write_zone("broken.test.", "$TTL 1h\n@ IN SOA ns hm 7 1 1 1 1\n@ IN NS ns\nns IN A 192.0.2.1\n")
    assert srv.reload()["ok"]
    assert srv.serial("broken.test.") == 7


def test_memory_stays_flat_over_50_reloads(robdns_server):
    # Each reload compiles a new image of 500 long records (about 250 KiB); a leaked
    # snapshot would add 12 MiB over 50 reloads. The first 30 reloads warm up the
    # allocators (RSS levels off after a few dozen), then 50 are counted.
    bulk = "".join(f'h{i} IN TXT "{"x" * 200}" "{"y" * 200}" "{i}"\n' for i in range(500))
    srv = robdns_server({"example.com.": with_serial(SERIAL, bulk)}, families=(4,))
    for n in range(1, 81):
        srv.write_zone("example.com.", with_serial(SERIAL + n, bulk))
        resp = srv.reload()
        assert resp["ok"], resp
        if n == 30:
            base = srv.ctl("stats")["stats"]["memory"]["rss_kib"]
    assert srv.serial("example.com.") == SERIAL + 80
    memory = srv.ctl("stats")["stats"]["memory"]
    # Only the published snapshot and its one image are alive: the old ones were freed.
    assert (memory["databases"], memory["zone_images"]) == (1, 1)
    grown = memory["rss_kib"] - base
    assert grown < 4096, f"RSS grew by {grown} KiB over 50 reloads"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(robdns_server, sig):
    srv = robdns_server(workers=2)
    assert srv.serial("example.com.") == SERIAL
    srv.signal(sig)
    assert srv.proc.wait(10) == 0
    srv.notify.wait_for("STOPPING=1", timeout=1)
    assert not os.path.exists(srv.control)
    log = srv.log_text()
    assert "stopping" in log and "stopped" in log
    assert "Traceback" not in log


def test_systemd_notifications_on_start_reload_stop(robdns_server):
    srv = robdns_server()
    ready = srv.notify.wait_for("READY=1")
    assert any(line.startswith("STATUS=") for line in srv.notify.messages[ready])
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    srv.signal(signal.SIGHUP)
    i = srv.notify.wait_for("RELOADING=1", start=ready + 1)
    usec = [int(line.split("=", 1)[1]) for line in srv.notify.messages[i] if line.startswith("MONOTONIC_USEC=")]
    assert usec and before <= usec[0] <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    srv.notify.wait_for("READY=1", start=i + 1)
    srv.stop()
    srv.notify.wait_for("STOPPING=1", start=i + 1, timeout=1)


def test_logs_say_what_happened(robdns_server):
    srv = robdns_server()
    srv.reload()
    srv.stop()
    log = srv.log_text()
    assert "starting" in log
    assert f"zone example.com. loaded: serial {SERIAL}, 27 records" in log
    assert "reload done" in log and "stopped" in log


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_binds_as_root_then_drops_to_the_configured_user():
    import pwd
    import shutil
    import tempfile
    from serverproc import RobdnsServer
    nobody = pwd.getpwnam("nobody")
    d = tempfile.mkdtemp(prefix="robdns-drop-", dir="/tmp")   # pytest's tmp is root-only
    os.chmod(d, 0o755)
    srv = RobdnsServer(d, {"example.com.": read_example_zone()}, server={"user": "nobody"}, start=False)
    try:
        os.chmod(srv.zone_files["example.com."], 0o644)
        srv.start()
        with open(f"/proc/{srv.pid}/status") as f:
            ids = {k: v.split() for k, v in (line.split(":", 1) for line in f) if k in ("Uid", "Gid", "Groups")}
        assert set(map(int, ids["Uid"])) == {nobody.pw_uid}
        assert set(map(int, ids["Gid"])) == {nobody.pw_gid}
        assert ids["Groups"] == []
        assert srv.serial("example.com.") == SERIAL
        assert srv.serial("example.com.", tcp=True, family=6) == SERIAL
        assert os.stat(srv.control).st_uid == nobody.pw_uid    # still controllable after the drop
        # A reload runs as nobody: the zone (with a type not in the first version) must load.
        srv.write_zone("example.com.", with_serial(SERIAL + 1, "loc IN LOC 52 22 23 N 4 53 32 E -2m 1m\n"))
        os.chmod(srv.zone_files["example.com."], 0o644)
        resp = srv.reload()
        assert resp["ok"], resp
        assert srv.serial("example.com.") == SERIAL + 1
        assert srv.stop() == 0
    finally:
        srv.close()
        shutil.rmtree(d, ignore_errors=True)


def test_second_server_on_the_same_port_is_refused(robdns_server):
    a = robdns_server(families=(4,))
    b = robdns_server(families=(4,), start=False)
    b.config["server"]["listen"] = [f"127.0.0.1@{a.port}"]
    b.write_config()
    with pytest.raises(RuntimeError, match="cannot bind udp 127.0.0.1@"):
        b.start()
    assert a.serial("example.com.") == SERIAL


def test_bare_serve_uses_the_bundled_zone_on_5353(tmp_path):
    # The README's first command. 5353 may be busy with another suite's bare server:
    # retry for a while rather than share the port.
    env = dict(os.environ, PYTHONPATH=ROOT, XDG_RUNTIME_DIR=str(tmp_path))
    env.pop("NOTIFY_SOCKET", None)
    deadline = time.monotonic() + 60
    while True:
        p = subprocess.Popen([sys.executable, "-m", "robdns", "serve"], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            q = dns.message.make_query("www.example.com.", "A")
            for _ in range(100):
                if p.poll() is not None:
                    break
                try:
                    r = dns.query.udp(q, "127.0.0.1", port=5353, timeout=0.2)
                    break
                except dns.exception.Timeout:
                    continue
            if p.poll() is None:
                assert r.rcode() == dns.rcode.NOERROR
                assert {rd.address for rrset in r.answer if rrset.rdtype == 1 for rd in rrset} == {"192.0.2.1"}
                return
            out = p.stdout.read().decode()
            assert "cannot bind" in out or "in use" in out, out
            assert time.monotonic() < deadline, "127.0.0.1@5353 stayed busy"
            time.sleep(1)
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                assert p.wait(10) == 0


def test_burst_of_reload_signals_is_serialized(robdns_server):
    srv = robdns_server()
    srv.write_zone("example.com.", with_serial(SERIAL + 3))
    for _ in range(10):
        srv.signal(signal.SIGHUP)
    # Pending signals of one kind merge in the kernel: between 1 and 10 reloads run, one
    # after the other; the last one serves what is on disk.
    deadline = time.monotonic() + 20
    while srv.serial("example.com.") != SERIAL + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert srv.serial("example.com.") == SERIAL + 3
    time.sleep(0.5)
    assert 1 <= srv.ctl("status")["reloads"] <= 10
    srv.write_zone("example.com.", with_serial(SERIAL + 4))
    assert srv.reload()["ok"] and srv.serial("example.com.") == SERIAL + 4
    assert srv.proc.poll() is None
    assert srv.stop() == 0
    assert "Traceback" not in srv.log_text()
