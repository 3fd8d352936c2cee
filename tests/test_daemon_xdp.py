"""test_daemon_xdp — `robdns serve` with `xdp` configured, in a network namespace with a
veth pair: UDP queries from the outer end are answered by the XDP workers from the same
RCU snapshot the socket workers use (a reload reaches them too), TCP to the same address
goes to the socket path, and the program is detached when the daemon stops, also after
it dropped root to server.user (no capability kept) and when it is killed; rate limiting
and dnstap work on this path as on the socket path; the program is the bytecode built
with the package, so no compiler is needed to serve."""

import datetime
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest
import yaml

from netns import ZONE, is_root, pair  # noqa: F401 (pair: fixture)
from robdns import _core, xdp
from serverproc import RobdnsServer, udp_flood

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not is_root(), reason="needs root: network namespaces and XDP attach"),
    pytest.mark.skipif(not _core.xdp_supported(), reason="built without libxdp/libbpf"),
]


def ask(pair, qname, qtype, family, tcp=False):
    q = dns.message.make_query(qname, qtype)
    if tcp:
        with pair.client_socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect((pair.server_addr(family), 53))
            dns.query.send_tcp(s, q)
            r, _ = dns.query.receive_tcp(s)
    else:
        wire = pair.exchange(q.to_wire(), family, timeout=3)
        assert wire is not None, f"no answer to {qname}/{qtype}"
        r = dns.message.from_wire(wire)
    assert r.id == q.id
    return r


def xdp_server(pair, directory, **server):
    """A `robdns serve` (not started) in the server namespace with xdp on its interface."""
    srv = RobdnsServer(str(directory), {"example.com.": ZONE}, start=False, server=server,
                       wrapper=["ip", "netns", "exec", pair.server_ns])
    srv.config["server"]["listen"] = [f"{pair.server_v4}@53", f"{pair.server_v6}@53"]
    srv.config["xdp"] = {"interface": pair.server_if, "port": 53, "mode": "generic"}
    srv.write_config()
    return srv


def test_serve_with_xdp_answers_reloads_and_detaches(pair, tmp_path):
    srv = xdp_server(pair, tmp_path)
    try:
        srv.start()
        assert "xdp" in pair.xdp_prog_line()
        for fam in (socket.AF_INET, socket.AF_INET6):
            r = ask(pair, "www.example.com.", "A", fam)
            assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
            assert [rd.address for rd in r.answer[0]] == ["198.18.0.53"]
        stats = srv.ctl("stats")["stats"]
        assert stats["xdp"]["responses"] >= 2          # answered by the XDP workers...
        assert stats["udp"]["queries"] == 0            # ...not by the socket workers
        # TCP to the same address is left to the kernel and served by robdns's TCP.
        r = ask(pair, "www.example.com.", "A", socket.AF_INET, tcp=True)
        assert [rd.address for rd in r.answer[0]] == ["198.18.0.53"]
        # A reload publishes one snapshot: the XDP workers answer the new serial.
        srv.write_zone("example.com.", ZONE.replace("2026112701", "2026112702"))
        assert srv.reload()["ok"]
        r = ask(pair, "example.com.", "SOA", socket.AF_INET6)
        assert r.answer[0][0].serial == 2026112702
        srv.signal(signal.SIGTERM)
        assert srv.proc.wait(15) == 0, srv.log_text()
        assert "xdp" not in pair.xdp_prog_line()
    finally:
        srv.close()


@pytest.fixture
def world_readable_dir():
    """A directory the dropped-to user can read (pytest's tmp_path is root-only)."""
    d = tempfile.mkdtemp(prefix="robdns-xdp-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start_as_nobody(pair, directory):
    srv = xdp_server(pair, directory, user="nobody")
    os.chmod(srv.zone_files["example.com."], 0o644)
    srv.start()
    names = []
    for tid in os.listdir(f"/proc/{srv.pid}/task"):
        with open(f"/proc/{srv.pid}/task/{tid}/status") as f:
            status = dict(line.split(":", 1) for line in f)
        names.append(status["Name"].strip())
        assert set(map(int, status["Uid"].split())) == {pwd.getpwnam("nobody").pw_uid}
        # Nothing kept, in any thread: the detach at exit must not rely on a capability.
        assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, names[-1]
    assert "robdns-xdp0" in names, names
    prog_id, name = pair.attached_program()
    assert prog_id and name == "rd_xdp_dns"
    for fam in (socket.AF_INET, socket.AF_INET6):
        r = ask(pair, "www.example.com.", "A", fam)
        assert [rd.address for rd in r.answer[0]] == ["198.18.0.53"]
    assert srv.ctl("stats")["stats"]["xdp"]["responses"] >= 2
    return srv, prog_id


def test_program_is_detached_at_exit_after_dropping_to_a_user(pair, world_readable_dir):
    srv, _ = start_as_nobody(pair, world_readable_dir)
    try:
        srv.signal(signal.SIGTERM)
        assert srv.proc.wait(15) == 0, srv.log_text()
        assert pair.attached_program() == (0, ""), srv.log_text()
        assert "xdp" not in pair.xdp_prog_line()
        assert f"program detached from {pair.server_if}" in srv.log_text()
    finally:
        srv.close()


def test_a_killed_daemon_leaves_no_program_and_the_next_start_attaches(pair, world_readable_dir):
    first_dir = os.path.join(world_readable_dir, "first")
    second_dir = os.path.join(world_readable_dir, "second")
    for d in (first_dir, second_dir):
        os.mkdir(d)
        os.chmod(d, 0o755)
    first, first_id = start_as_nobody(pair, first_dir)
    try:
        first.signal(signal.SIGKILL)
        assert first.proc.wait(15) == -signal.SIGKILL
        # The kernel closed the dead daemon's BPF link: DNS is back with the stack.
        assert pair.attached_program() == (0, "")
    finally:
        first.close()
    second, second_id = start_as_nobody(pair, second_dir)
    try:
        assert second_id != first_id
        assert "replaced a stale one" not in second.log_text()
        second.signal(signal.SIGTERM)
        assert second.proc.wait(15) == 0, second.log_text()
        assert pair.attached_program() == (0, "")
    finally:
        second.close()


def test_a_stale_program_from_an_older_run_is_replaced(pair, world_readable_dir):
    obj = os.path.join(world_readable_dir, "stale.o")
    with open(obj, "wb") as f:
        f.write(xdp.load_xdp_program())
    stale_id, name = pair.attach_through_netlink(obj)
    assert stale_id and name == "rd_xdp_dns"
    srv, prog_id = start_as_nobody(pair, world_readable_dir)
    try:
        assert prog_id != stale_id
        assert "replaced a stale one" in srv.log_text()
        srv.signal(signal.SIGTERM)
        assert srv.proc.wait(15) == 0, srv.log_text()
        assert pair.attached_program() == (0, "")
    finally:
        srv.close()


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_xdp_answers_are_rate_limited_like_the_socket_path(pair, tmp_path, family):
    # server.rrl applies to the XDP workers too: a flood of one question from one client
    # gets `rate` answers, then every second limited one truncated (TC), the rest nothing.
    srv = xdp_server(pair, tmp_path, rrl={"rate": 10, "slip": 2})
    try:
        srv.start()
        with pair.client_socket(family) as s:
            replies = udp_flood(s, (pair.server_addr(family), 53), "www.example.com.", 200)
        full = [r for r in replies if not r.flags & dns.flags.TC]
        slipped = [r for r in replies if r.flags & dns.flags.TC]
        assert 10 <= len(full) <= 40, len(full)     # 10 at once, then 10/s while it lasts
        assert slipped and all(not r.answer for r in slipped)
        x = srv.ctl("stats")["stats"]["xdp"]
        assert x["rrl_slipped"] == len(slipped)
        assert x["rrl_dropped"] + x["rrl_slipped"] == 200 - len(full)
        assert srv.ctl("stats")["stats"]["udp"]["queries"] == 0   # all on the XDP path
    finally:
        srv.close()


def test_xdp_queries_and_answers_are_logged_to_dnstap(pair, tmp_path):
    # The XDP workers log like the socket workers: each query and the reply built in its
    # frame, with the addresses and ports of the frame (read back with dnstap-ldns).
    tap = str(tmp_path / "xdp.tap")
    srv = xdp_server(pair, tmp_path, dnstap={"sink": tap})
    sent = {}
    try:
        srv.start()
        for fam in (socket.AF_INET, socket.AF_INET6):
            q = dns.message.make_query("www.example.com.", "A")
            with pair.client_socket(fam) as s:
                s.settimeout(3)
                t0 = time.time()
                s.sendto(q.to_wire(), (pair.server_addr(fam), 53))
                r = dns.message.from_wire(s.recv(4096))
                sent[s.getsockname()[1]] = (fam, q.id, t0, time.time())
            assert r.id == q.id and r.rcode() == dns.rcode.NOERROR
        stats = srv.ctl("stats")["stats"]
        assert stats["udp"]["queries"] == 0 and stats["xdp"]["responses"] == 2
        assert stats["dnstap"]["logged"] == 4 and stats["dnstap"]["dropped"] == 0
        # The XDP workers' counters in the metrics, under transport="xdp".
        from prometheus_client.parser import text_string_to_metric_families
        from robdns import metrics
        m = {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in
             text_string_to_metric_families(metrics.prometheus(stats, srv.ctl("status")))
             for s in fam.samples}
        assert m[("robdns_queries_total", (("qtype", "A"), ("transport", "xdp")))] == 2
        assert m[("robdns_responses_total", (("rcode", "NOERROR"), ("transport", "xdp")))] == 2
        assert m[("robdns_worker_batches_total", (("transport", "xdp"),))] >= 1
        srv.signal(signal.SIGTERM)
        assert srv.proc.wait(15) == 0, srv.log_text()
    finally:
        srv.close()
    out = subprocess.run(["dnstap-ldns", "-r", tap, "-y"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    msgs = [d["message"] for d in yaml.safe_load_all(out.stdout) if d]
    assert sorted(m["type"] for m in msgs) == ["AUTH_QUERY"] * 2 + ["AUTH_RESPONSE"] * 2
    for m in msgs:
        fam, qid, t0, t1 = sent[m["query_port"]]
        v6 = fam == socket.AF_INET6
        assert m["socket_family"] == ("INET6" if v6 else "INET") and m["socket_protocol"] == "UDP"
        assert m["query_address"] == (pair.client_v6 if v6 else pair.client_v4)
        assert m["response_address"] == (pair.server_v6 if v6 else pair.server_v4)
        assert m["response_port"] == 53
        stamp = m["query_time"].replace(tzinfo=datetime.timezone.utc).timestamp()
        assert t0 - 0.001 <= stamp <= t1 + 0.001
        text = m.get("query_message", "") + m.get("response_message", "")
        assert f"id: {qid}" in text
        if m["type"] == "AUTH_RESPONSE":
            assert "198.18.0.53" in text and "rcode: NOERROR" in text


def test_serve_with_xdp_needs_no_clang(pair, tmp_path, monkeypatch):
    # The XDP program is the bytecode built with the package (robdns/data/xdp_dns.bpf.o):
    # a server whose PATH holds no compiler at all attaches it and answers from it.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(shutil.which("ip"), bindir / "ip")       # the netns wrapper, and nothing else
    monkeypatch.setenv("PATH", str(bindir))
    assert shutil.which("clang") is None and shutil.which("cc") is None
    srv = xdp_server(pair, tmp_path)
    try:
        srv.start()
        with open(f"/proc/{srv.pid}/environ", "rb") as f:
            env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        assert env[b"PATH"] == str(bindir).encode()
        prog_id, name = pair.attached_program()
        assert prog_id and name == "rd_xdp_dns"
        for fam in (socket.AF_INET, socket.AF_INET6):
            r = ask(pair, "www.example.com.", "A", fam)
            assert [rd.address for rd in r.answer[0]] == ["198.18.0.53"]
        assert srv.ctl("stats")["stats"]["xdp"]["responses"] >= 2
        srv.signal(signal.SIGTERM)
        assert srv.proc.wait(15) == 0, srv.log_text()
        assert pair.attached_program() == (0, "")
    finally:
        srv.close()
