# test_metrics_http.py — server.http: /metrics after a known mix of queries (every counter
# checked against what was sent), /health and /ready, and HTTP clients that cannot slow
# DNS answers or the control socket.
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serverproc import ROOT, free_port, read_example_zone

NET_ZONE = """$ORIGIN example.net.
$TTL 300
@ SOA ns1 hostmaster 7 3600 600 86400 300
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.2
"""


def _http_server(robdns_server, zones=None, **http):
    port = free_port(families=(socket.AF_INET,))
    cfg = {"listen": f"127.0.0.1@{port}", **http}
    srv = robdns_server(zones, server={"http": cfg}, workers=2)
    srv.http = f"http://127.0.0.1:{port}"
    srv.http_port = port
    return srv


def get(srv, path, timeout=5):
    try:
        with urllib.request.urlopen(srv.http + path, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def scrape(srv):
    status, ctype, body = get(srv, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=")
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def samples_of(m, name):
    return {labels: v for (n, labels), v in m.items() if n == name}


def _query(srv, name, qtype, tcp=False, **kw):
    q = dns.message.make_query(name, qtype, **kw)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=3)
    return dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=3)


def test_metrics_count_exactly_what_was_sent(robdns_server):
    srv = _http_server(robdns_server, {"example.com.": read_example_zone(), "example.net.": NET_ZONE})
    sent_udp = [("www.example.com.", "A", {}, "NOERROR")] * 3 + [
        ("nx.example.com.", "AAAA", {}, "NXDOMAIN"),
        ("www.example.com.", "TYPE65432", {}, "NOERROR"),
        ("www.example.com.", "A", {"use_edns": 1}, "BADVERS"),
        ("www.example.net.", "MX", {}, "NOERROR"),
        ("www.example.org.", "A", {}, "REFUSED"),
        ("example.com.", "CAA", {"want_dnssec": True}, "NOERROR"),
    ]
    for name, qt, kw, rc in sent_udp:
        r = _query(srv, name, qt, **kw)
        assert dns.rcode.to_text(r.rcode()) == rc
    for name, qt in (("example.com.", "ANY"), ("www.example.net.", "A")):
        assert _query(srv, name, qt, tcp=True).rcode() == dns.rcode.NOERROR
    # A NOTIFY (RFC 1996) over UDP: answered NOTAUTH, counted as received.
    n = dns.message.make_query("example.com.", "SOA")
    n.set_opcode(dns.opcode.NOTIFY)
    assert dns.query.udp(n, "127.0.0.1", port=srv.port, timeout=3).rcode() == dns.rcode.NOTAUTH
    # Something that is not a DNS message: no answer, counted as a dropped query.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"\x00\x01\x02", ("127.0.0.1", srv.port))

    deadline = time.monotonic() + 5
    while True:       # the garbage datagram is counted when its worker gets to it
        m = scrape(srv)
        if m.get(("robdns_queries_total", (("qtype", "none"), ("transport", "udp")))) == 1 \
                or time.monotonic() > deadline:
            break
        time.sleep(0.05)

    qt = samples_of(m, "robdns_queries_total")
    assert qt == {
        (("qtype", "A"), ("transport", "udp")): 5, (("qtype", "AAAA"), ("transport", "udp")): 1,
        (("qtype", "other"), ("transport", "udp")): 1, (("qtype", "MX"), ("transport", "udp")): 1,
        (("qtype", "CAA"), ("transport", "udp")): 1, (("qtype", "SOA"), ("transport", "udp")): 1,
        (("qtype", "none"), ("transport", "udp")): 1,
        (("qtype", "ANY"), ("transport", "tcp")): 1, (("qtype", "A"), ("transport", "tcp")): 1,
    }
    rc = samples_of(m, "robdns_responses_total")
    assert rc == {
        (("rcode", "NOERROR"), ("transport", "udp")): 6,
        (("rcode", "NXDOMAIN"), ("transport", "udp")): 1,
        (("rcode", "BADVERS"), ("transport", "udp")): 1,
        (("rcode", "REFUSED"), ("transport", "udp")): 1,
        (("rcode", "NOTAUTH"), ("transport", "udp")): 1,
        (("rcode", "NOERROR"), ("transport", "tcp")): 2,
    }
    assert samples_of(m, "robdns_queries_dropped_total") == {
        (("transport", "udp"),): 1, (("transport", "tcp"),): 0}
    assert samples_of(m, "robdns_edns_queries_total")[(("transport", "udp"),)] == 2
    assert samples_of(m, "robdns_do_queries_total")[(("transport", "udp"),)] == 1
    assert samples_of(m, "robdns_opcode_queries_total") == {
        (("opcode", "QUERY"), ("transport", "udp")): 9,
        (("opcode", "NOTIFY"), ("transport", "udp")): 1,
        (("opcode", "QUERY"), ("transport", "tcp")): 2}
    # By zone: example.com. 3 www + nx + TYPE65432 + BADVERS + CAA + the NOTIFY + ANY.
    assert samples_of(m, "robdns_zone_queries_total") == {
        (("zone", "example.com."),): 9, (("zone", "example.net."),): 2}
    # The same by rcode: BADVERS (16) under "other", the NOTIFY's NOTAUTH under its own.
    assert samples_of(m, "robdns_zone_responses_total") == {
        (("rcode", "NOERROR"), ("zone", "example.com.")): 6,
        (("rcode", "NXDOMAIN"), ("zone", "example.com.")): 1,
        (("rcode", "other"), ("zone", "example.com.")): 1,
        (("rcode", "NOTAUTH"), ("zone", "example.com.")): 1,
        (("rcode", "NOERROR"), ("zone", "example.net.")): 2}
    assert samples_of(m, "robdns_notifies_total") == {
        (("direction", "received"),): 1, (("direction", "sent"),): 0}
    assert samples_of(m, "robdns_truncated_responses_total") == {
        (("transport", "udp"),): 0, (("transport", "tcp"),): 0}
    assert samples_of(m, "robdns_rrl_dropped_total") == {(("transport", "udp"),): 0}
    assert samples_of(m, "robdns_zone_serial") == {
        (("zone", "example.com."),): 2026112701, (("zone", "example.net."),): 7}
    assert samples_of(m, "robdns_zone_loaded") == {
        (("zone", "example.com."),): 1, (("zone", "example.net."),): 1}
    assert m[("robdns_reloads_total", ())] == 0 and m[("robdns_reload_failures_total", ())] == 0
    assert samples_of(m, "robdns_worker_batches_total")[(("transport", "udp"),)] >= 1
    assert m[("robdns_resident_memory_bytes", ())] > 1 << 20
    assert ("robdns_transfers_total", (("direction", "out"), ("result", "ok"))) in m

    # The same counters through the control socket.
    st = srv.ctl("stats")["stats"]
    assert st["udp"]["qtype"] == {"A": 5, "AAAA": 1, "other": 1, "MX": 1, "CAA": 1, "SOA": 1}
    assert st["tcp"]["qtype"] == {"ANY": 1, "A": 1}
    assert st["udp"]["rcode"]["BADVERS"] == 1 and "15" not in st["udp"]["rcode"]

    # Reloads and their failures.
    srv.write_zone("example.net.", NET_ZONE + "bad IN MX x\n")
    assert srv.reload()["ok"] is False
    srv.write_zone("example.net.", NET_ZONE.replace(" 7 ", " 8 "))
    assert srv.reload()["ok"] is True
    m = scrape(srv)
    assert m[("robdns_reloads_total", ())] == 2 and m[("robdns_reload_failures_total", ())] == 1
    assert samples_of(m, "robdns_zone_serial")[(("zone", "example.net."),)] == 8


def test_zone_labels_are_capped(robdns_server):
    zones = {f"z{i}.example.": NET_ZONE.replace("example.net.", f"z{i}.example.") for i in range(4)}
    srv = _http_server(robdns_server, zones, zone_labels=2)
    for i in range(4):
        for _ in range(i + 1):
            _query(srv, f"www.z{i}.example.", "A")
    _query(srv, "nx.z3.example.", "A")
    m = scrape(srv)
    zq = samples_of(m, "robdns_zone_queries_total")
    assert zq == {(("zone", "z0.example."),): 1, (("zone", "z1.example."),): 2,
                  (("zone", "other"),): 8}
    assert samples_of(m, "robdns_zone_responses_total") == {
        (("rcode", "NOERROR"), ("zone", "z0.example.")): 1,
        (("rcode", "NOERROR"), ("zone", "z1.example.")): 2,
        (("rcode", "NOERROR"), ("zone", "other")): 7,
        (("rcode", "NXDOMAIN"), ("zone", "other")): 1}


def test_health_and_ready(robdns_server):
    srv = _http_server(robdns_server)
    assert get(srv, "/health")[0] == 200
    status, ctype, body = get(srv, "/ready")
    assert status == 200 and b'"ready": true' in body
    assert get(srv, "/nope")[0] == 404


def test_ready_is_false_until_every_zone_is_served(robdns_server):
    # A zone that fails at start has no copy to keep: not ready; once it loads: ready.
    zones = {"example.com.": read_example_zone(), "example.net.": NET_ZONE + "bad IN MX x\n"}
    srv = _http_server(robdns_server, zones)
    status, _, body = get(srv, "/ready")
    assert status == 503 and b"example.net." in body
    assert get(srv, "/health")[0] == 200
    m = scrape(srv)
    assert samples_of(m, "robdns_zone_load_failed")[(("zone", "example.net."),)] == 1
    srv.write_zone("example.net.", NET_ZONE)
    srv.reload()
    assert get(srv, "/ready")[0] == 200
    # A later failure keeps the old copy serving: still ready.
    srv.write_zone("example.net.", NET_ZONE + "bad IN MX x\n")
    srv.reload()
    assert get(srv, "/ready")[0] == 200


def test_ready_is_false_while_the_zones_load(robdns_server, tmp_path):
    # A zone big enough to take a moment to compile: /ready answers 503 meanwhile.
    big = NET_ZONE + "".join(f"h{i} A 192.0.2.{i % 250 + 1}\n" for i in range(300000))
    port = free_port(families=(socket.AF_INET,))
    srv = robdns_server({"example.net.": big}, server={"http": f"127.0.0.1@{port}"}, start=False)
    srv.http = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "robdns", "serve", "-c", srv.config_path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and 200 not in seen:
            try:
                seen.append(get(srv, "/ready", timeout=2)[0])
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                pass
            time.sleep(0.02)
        assert 503 in seen and seen[-1] == 200 and seen.index(200) > seen.index(503)
    finally:
        proc.terminate()
        proc.wait(10)


def _ctl_status_seconds(srv):
    t0 = time.monotonic()
    r = srv.ctl_cli("status", timeout=30)
    assert r.returncode == 0, r.stderr
    return time.monotonic() - t0


def test_slow_and_hostile_http_clients_do_not_delay_dns_or_control(robdns_server):
    srv = _http_server(robdns_server, timeout=3, max_connections=4)
    addr = ("127.0.0.1", srv.http_port)
    silent = [socket.create_connection(addr) for _ in range(3)]     # connect, send nothing
    dribble = socket.create_connection(addr)                        # a byte at a time
    try:
        request = b"GET /metrics HTTP/1.0\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 50
        t_start = time.monotonic()
        i = 0
        while time.monotonic() - t_start < 2:
            try:
                dribble.send(request[i % len(request):i % len(request) + 1])
            except OSError:
                break
            i += 1
            # DNS over UDP and TCP and the control socket answer at once meanwhile.
            t0 = time.monotonic()
            assert _query(srv, "www.example.com.", "A").rcode() == 0
            assert _query(srv, "www.example.com.", "A", tcp=True).rcode() == 0
            # Well under the 3 s request deadline a blocked path would wait for: that is
            # the behaviour asserted, not the speed of a loaded machine.
            assert time.monotonic() - t0 < 2.5
            time.sleep(0.1)
        assert _ctl_status_seconds(srv) < 10       # a Python start, not an HTTP wait
        assert srv.ctl("status")["ok"]
        # Every slot is taken: one more connection is closed at once, unanswered.
        extra = socket.create_connection(addr)
        extra.settimeout(3)
        assert extra.recv(100) == b""
        extra.close()
        # The whole-request deadline (3 s) cuts the silent and the dribbling clients off,
        # even though the dribbler kept sending: the server closes them, unanswered.
        for s in silent + [dribble]:
            s.settimeout(5)
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
        assert time.monotonic() - t_start < 6
        time.sleep(0.2)
        assert get(srv, "/health")[0] == 200      # the slots were given back
    finally:
        for s in silent + [dribble]:
            s.close()


def test_oversized_request_is_refused(robdns_server):
    srv = _http_server(robdns_server, max_request=1024)
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\n" + b"X-Big: " + b"a" * 4000 + b"\r\n\r\n")
        reply = s.recv(200)
    assert reply.startswith(b"HTTP/1.0 431")


def test_http_binds_only_where_configured(robdns_server):
    srv = _http_server(robdns_server)
    with pytest.raises(OSError):
        socket.create_connection(("::1", srv.http_port), timeout=2).close()
    assert get(srv, "/health")[0] == 200


def test_http_off_by_default(robdns_server):
    srv = robdns_server()
    out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
    mine = [line for line in out.splitlines() if f"pid={srv.pid}," in line]
    # Only the DNS TCP listeners (IPv4 and IPv6), nothing else.
    assert len(mine) == 2 and all(f":{srv.port} " in line for line in mine)


def test_grafana_dashboard_names_only_metrics_that_exist(robdns_server, tmp_path):
    import json
    import re
    with open(os.path.join(ROOT, "dist", "grafana", "robdns.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs.append(dash["templating"]["list"][1]["query"]["query"])
    named = set(re.findall(r"\brobdns_[a-z0-9_]+", " ".join(exprs)))
    assert len(dash["panels"]) >= 10 and len(named) >= 15
    # A server with every optional source of metrics on: dnstap to a file, TCP used.
    port = free_port(families=(socket.AF_INET,))
    srv = robdns_server(server={"http": f"127.0.0.1@{port}",
                                "dnstap": {"sink": str(tmp_path / "t.tap")}})
    srv.http = f"http://127.0.0.1:{port}"
    _query(srv, "www.example.com.", "A")
    _query(srv, "www.example.com.", "A", tcp=True)
    status, _, body = get(srv, "/metrics")
    exposed = set()
    for fam in text_string_to_metric_families(body.decode()):
        exposed.add(fam.name)
        exposed.update(s.name for s in fam.samples)
    assert named - exposed == set()


def test_rate_limiting_drops_and_slips_in_the_metrics(robdns_server):
    from serverproc import udp_flood
    port = free_port(families=(socket.AF_INET,))
    srv = robdns_server(server={"http": f"127.0.0.1@{port}", "rrl": {"rate": 10, "slip": 2}},
                        workers=1)
    srv.http = f"http://127.0.0.1:{port}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        replies = udp_flood(s, ("127.0.0.1", srv.port), "www.example.com.", 200)
    full = [r for r in replies if not r.flags & dns.flags.TC]
    slipped = [r for r in replies if r.flags & dns.flags.TC]
    m = scrape(srv)
    udp = (("transport", "udp"),)
    assert m[("robdns_rrl_slipped_total", udp)] == len(slipped) > 0
    assert m[("robdns_rrl_dropped_total", udp)] == 200 - len(full) - len(slipped) > 0
    # The engine answered every query; rate limiting withheld or truncated some after.
    assert m[("robdns_responses_total", (("rcode", "NOERROR"), ("transport", "udp")))] == 200


def test_a_start_without_metrics_does_not_import_prometheus_client():
    # prometheus_client and the http.server it brings cost ~40 ms of every start; only
    # /metrics and `ctl stats --prometheus` need them
    code = ("import sys, robdns.daemon, robdns.cli; "
            "print(sorted(m for m in ('prometheus_client', 'http.server') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    assert out.stdout.strip() == "[]"
