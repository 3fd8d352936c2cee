"""test_daemon_xdp — `robdns serve` with `xdp` configured, in a network namespace with a
veth pair: UDP queries from the outer end are answered by the XDP workers from the same
RCU snapshot the socket workers use (a reload reaches them too), TCP to the same address
goes to the socket path, and the program is detached when the daemon stops."""

import os
import signal
import socket

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from netns import VethPair, inside, is_root
from robdns import _core
from serverproc import RobdnsServer

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not is_root(), reason="needs root: network namespaces and XDP attach"),
    pytest.mark.skipif(not _core.xdp_supported(), reason="built without libxdp/libbpf"),
]

ZONE = """\
$ORIGIN example.com.
$TTL 300
@       SOA ns1 hostmaster 2026112701 7200 3600 1209600 300
@       NS  ns1
ns1     A   198.18.0.1
www     A   198.18.0.53
"""


def ask(pair, qname, qtype, family, tcp=False):
    q = dns.message.make_query(qname, qtype)
    addr = pair.server_v4 if family == socket.AF_INET else pair.server_v6
    with inside(pair.client_ns):
        s = socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    with s:
        s.settimeout(3)
        if tcp:
            s.connect((addr, 53))
            return _tcp(s, q)
        s.sendto(q.to_wire(), (addr, 53))
        data, src = s.recvfrom(65535)
        assert src[0] == addr and src[1] == 53
        r = dns.message.from_wire(data)
        assert r.id == q.id
        return r


def _tcp(s, q):
    dns.query.send_tcp(s, q)
    r, _ = dns.query.receive_tcp(s)
    assert r.id == q.id
    return r


@pytest.fixture
def pair():
    with VethPair() as p:
        yield p


def test_serve_with_xdp_answers_reloads_and_detaches(pair, tmp_path):
    srv = RobdnsServer(str(tmp_path), {"example.com.": ZONE}, start=False,
                       wrapper=["ip", "netns", "exec", pair.server_ns])
    srv.config["server"]["listen"] = [f"{pair.server_v4}@53", f"{pair.server_v6}@53"]
    srv.config["xdp"] = {"interface": pair.server_if, "port": 53, "mode": "generic"}
    srv.write_config()
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
