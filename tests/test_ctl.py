"""test_ctl — `robdns ctl` against a running server: status, zone-status, stats, reload,
stop, errors for a bad request or no server, exit status while something is failed, and
a reader that goes away."""

import json
import os
import signal
import socket
import subprocess
import sys

from serverproc import ROOT, read_example_zone

SERIAL = 2026112701


def test_status_zone_status_and_stats(robdns_server):
    srv = robdns_server(workers=2)
    r = srv.ctl_cli("status")
    assert r.returncode == 0, r.stderr
    assert f"pid {srv.pid}" in r.stdout and "2 workers" in r.stdout
    assert f"zone example.com. ok: serial {SERIAL}, 27 records" in r.stdout
    r = srv.ctl_cli("zone-status", "example.com")
    assert r.returncode == 0 and f"serial {SERIAL}" in r.stdout
    r = srv.ctl_cli("zone-status", "nope.example.")
    assert r.returncode == 1 and "no zone nope.example. configured" in r.stderr
    srv.query("www.example.com.", "A")
    srv.query("www.example.com.", "MX", tcp=True)
    r = srv.ctl_cli("stats")
    lines = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    assert lines["udp.queries"] == "1" and lines["udp.qtype.A"] == "1"
    assert lines["tcp.queries"] == "1" and lines["tcp.qtype.MX"] == "1"
    assert lines["udp.rcode.NOERROR"] == "1"
    r = srv.ctl_cli("status", "--json")
    st = json.loads(r.stdout)
    assert st["ok"] and st["zones"][0]["serial"] == SERIAL and st["workers"] == 2


def test_stats_in_prometheus_format(robdns_server):
    srv = robdns_server()
    for _ in range(3):
        srv.query("www.example.com.", "A")
    srv.query("nope.example.com.", "AAAA", tcp=True)
    r = srv.ctl_cli("stats", "--prometheus")
    assert r.returncode == 0, r.stderr
    from prometheus_client.parser import text_string_to_metric_families
    samples = {}
    for fam in text_string_to_metric_families(r.stdout):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert samples[("robdns_queries_total", (("qtype", "A"), ("transport", "udp")))] == 3
    assert samples[("robdns_queries_total", (("qtype", "AAAA"), ("transport", "tcp")))] == 1
    assert samples[("robdns_responses_total", (("rcode", "NOERROR"), ("transport", "udp")))] == 3
    assert samples[("robdns_responses_total", (("rcode", "NXDOMAIN"), ("transport", "tcp")))] == 1
    assert samples[("robdns_zone_queries_total", (("zone", "example.com."),))] == 4
    assert samples[("robdns_zone_serial", (("zone", "example.com."),))] == SERIAL
    assert samples[("robdns_resident_memory_bytes", ())] > 1 << 20


def test_reload_reports_zone_errors_and_exit_status(robdns_server):
    srv = robdns_server()
    srv.write_zone("example.com.", read_example_zone() + "oops IN MX not-a-number mail\n")
    r = srv.ctl_cli("reload")
    assert r.returncode == 1
    assert "zone example.com. FAILED" in r.stdout and f"serial {SERIAL}" in r.stdout
    assert srv.zone_files["example.com."] + ":" in r.stdout        # FILE:LINE: reason
    srv.write_zone("example.com.", read_example_zone().replace(str(SERIAL), str(SERIAL + 1)))
    r = srv.ctl_cli("reload")
    assert r.returncode == 0 and f"serial {SERIAL + 1}" in r.stdout
    assert srv.serial("example.com.") == SERIAL + 1


def test_stop(robdns_server):
    srv = robdns_server()
    r = srv.ctl_cli("stop")
    assert r.returncode == 0
    assert srv.proc.wait(10) == 0


def test_socket_path_from_the_config(robdns_server):
    srv = robdns_server()
    r = subprocess.run([sys.executable, "-m", "robdns", "ctl", "-c", srv.config_path, "status"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and f"pid {srv.pid}" in r.stdout


def test_no_server_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "robdns", "ctl", "-s", str(tmp_path / "none.sock"), "status"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 1 and "cannot connect" in r.stderr and "is robdns running?" in r.stderr


def test_bad_requests_get_errors_and_the_server_survives(robdns_server):
    srv = robdns_server()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(srv.control)
    f = s.makefile("rwb")
    for line in (b"not json\n", b"[1,2]\n", b'{"cmd": "explode"}\n'):
        f.write(line)
        f.flush()
        resp = json.loads(f.readline())
        assert resp["ok"] is False and resp["error"]
    f.write(b"x" * 100000 + b"\n")       # over the request limit
    f.flush()
    assert json.loads(f.readline())["error"] == "request too long"
    s.close()
    assert srv.ctl("status")["ok"]


def test_control_socket_is_not_world_accessible(robdns_server):
    srv = robdns_server()
    assert os.stat(srv.control).st_mode & 0o007 == 0


def test_status_exits_non_zero_while_a_zone_is_failed(robdns_server):
    # The Docker HEALTHCHECK runs `ctl status`: a zone that failed must make it unhealthy,
    # as zone-status and reload already exit 1 for it.
    srv = robdns_server({"example.com.": read_example_zone(),
                         "broken.test.": "$TTL 1h\n@ IN A 192.0.2.1\n"})       # no SOA
    for args in (["status"], ["status", "--json"]):
        r = srv.ctl_cli(*args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
    assert "zone broken.test. FAILED" in srv.ctl_cli("status").stdout
    srv.write_zone("broken.test.", "$TTL 1h\n@ IN SOA ns hm 7 1 1 1 1\n@ IN NS ns\nns IN A 192.0.2.1\n")
    assert srv.ctl_cli("reload").returncode == 0
    r = srv.ctl_cli("status")
    assert r.returncode == 0 and "FAILED" not in r.stdout, r.stdout


def test_status_exits_non_zero_while_the_config_is_failed(robdns_server):
    srv = robdns_server()
    with open(srv.config_path) as f:
        good = f.read()
    with open(srv.config_path, "a") as f:
        f.write("bogus_key: 1\n")
    assert srv.ctl_cli("reload").returncode == 1
    r = srv.ctl_cli("status")
    assert r.returncode == 1 and "FAILED, previous config in use" in r.stdout
    with open(srv.config_path, "w") as f:
        f.write(good)
    assert srv.ctl_cli("reload").returncode == 0
    assert srv.ctl_cli("status").returncode == 0


def test_one_worker_is_singular(robdns_server):
    srv = robdns_server(workers=1)
    r = srv.ctl_cli("status")
    assert "; 1 worker on " in r.stdout, r.stdout


def test_reader_going_away_ends_quietly(robdns_server):
    # `robdns ctl status | head -1`: the reader has gone when ctl writes.  Like cat or ls,
    # ctl ends by SIGPIPE with nothing on stderr (no BrokenPipeError traceback).
    srv = robdns_server()
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = subprocess.run([sys.executable, "-m", "robdns", "ctl", "-s", srv.control, "status"],
                           stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60, cwd=ROOT)
    finally:
        os.close(write_end)
    assert r.stderr == ""
    assert r.returncode == -signal.SIGPIPE


def test_server_resetting_the_connection_is_a_clear_error(tmp_path):
    # A server that dies mid-request: closing with our request unread resets the
    # connection (ECONNRESET), which ctl reports as the socket's failure, not a traceback.
    import threading
    path = str(tmp_path / "control.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def accept_and_drop():
        conn, _ = listener.accept()
        conn.recv(1)            # the request has arrived; leave the rest of it unread
        conn.close()

    t = threading.Thread(target=accept_and_drop, daemon=True)
    t.start()
    try:
        r = subprocess.run([sys.executable, "-m", "robdns", "ctl", "-s", path, "status"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    finally:
        t.join(30)
        listener.close()
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("robdns ctl: ") and "Traceback" not in r.stderr, r.stderr
