"""test_tcp — DNS over TCP per RFC 7766 against a real `robdns serve`: framing, pipelining,
half-close, and clients that send garbage, lie about lengths, hang or never read."""

import os
import socket
import struct
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

LIMITS = {"tcp": {"idle_timeout": 1, "max_connections": 5, "max_pipelined": 16}}


def _frame(wire):
    return struct.pack("!H", len(wire)) + wire


def _query(name, qtype="A", qid=None):
    q = dns.message.make_query(name, qtype)
    if qid is not None:
        q.id = qid
    return q


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def _read_response(s):
    (n,) = struct.unpack("!H", _recv_exact(s, 2))
    return dns.message.from_wire(_recv_exact(s, n))


def _connect(srv, family=4, timeout=5):
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((srv.host(family), srv.port))
    return s


def _assert_www_answer(r):
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    # www is a CNAME to the apex, whose address is 192.0.2.1 (bundled example zone).
    addrs = {rd.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset}
    assert addrs == {"192.0.2.1"}


def _closed_within(s, seconds):
    """True when the server closes the connection within `seconds`."""
    s.settimeout(seconds)
    try:
        while True:
            if s.recv(65536) == b"":
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture
def srv(robdns_server):
    return robdns_server(server=LIMITS)


@pytest.mark.parametrize("family", [4, 6])
def test_pipelined_queries_all_answered(srv, family):
    s = _connect(srv, family)
    ids = list(range(1000, 1100))
    s.sendall(b"".join(_frame(_query("www.example.com.", qid=i).to_wire()) for i in ids))
    seen = []
    for _ in ids:
        r = _read_response(s)
        _assert_www_answer(r)
        seen.append(r.id)
    assert sorted(seen) == ids          # RFC 7766 7: any order, each exactly once
    s.close()


def test_query_split_across_segments(srv):
    s = _connect(srv)
    data = _frame(_query("www.example.com.", qid=7).to_wire())
    for i in range(len(data)):          # one byte at a time
        s.send(data[i:i + 1])
        time.sleep(0.002)
    r = _read_response(s)
    assert r.id == 7
    _assert_www_answer(r)
    s.close()


def test_half_close_gets_every_answer(srv):
    s = _connect(srv)
    s.sendall(b"".join(_frame(_query("www.example.com.", qid=i).to_wire()) for i in range(40)))
    s.shutdown(socket.SHUT_WR)
    got = [_read_response(s).id for _ in range(40)]
    assert sorted(got) == list(range(40))
    assert _closed_within(s, 3)


def test_garbage_gets_formerr_or_nothing_and_the_server_keeps_serving(srv):
    rng = __import__("random").Random(4)
    s = _connect(srv)
    for _ in range(200):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        s.sendall(_frame(junk))
    s.close()
    s = _connect(srv)
    s.sendall(_frame(b"\x12\x34" + b"\x01\x00" + b"\x00\x01" + b"\x00" * 6 + b"\x07bad"))  # overruns
    s.sendall(_frame(_query("www.example.com.", qid=99).to_wire()))
    r = _read_response(s)
    if r.id == 0x1234:
        assert r.rcode() == dns.rcode.FORMERR
        r = _read_response(s)
    assert r.id == 99
    s.close()
    _assert_www_answer(srv.query("www.example.com.", tcp=True))


def test_zero_length_message_closes_the_connection(srv):
    s = _connect(srv)
    s.sendall(b"\x00\x00")
    assert _closed_within(s, 3)
    _assert_www_answer(srv.query("www.example.com.", tcp=True))


def test_lying_length_is_cut_off_by_the_idle_timeout(srv):
    s = _connect(srv)
    s.sendall(struct.pack("!H", 1000) + b"only a few bytes")     # promises 1000, sends 16
    # Meanwhile others are served.
    _assert_www_answer(srv.query("www.example.com.", tcp=True))
    # idle_timeout is 1 s; the wait is generous so that a loaded machine cannot fail it,
    # and only a connection that is never closed does.
    assert _closed_within(s, 30)


def test_slow_drip_does_not_keep_a_connection_alive(srv):
    # A byte every 0.3 s is activity, but never a complete query: closed after idle_timeout.
    s = _connect(srv)
    s.sendall(struct.pack("!H", 500))
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < 30:       # idle_timeout 1 s; generous for a loaded machine
        try:
            s.send(b"x")
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if _closed_within(s, 0.3):
            closed = True
            break
    assert closed


def test_hanging_clients_at_the_cap_do_not_lock_out_others(srv):
    hangers = [_connect(srv) for _ in range(5)]      # max_connections: 5, all silent
    time.sleep(0.1)
    for _ in range(3):                               # new clients are still answered
        _assert_www_answer(srv.query("www.example.com.", tcp=True))
    stats = srv.ctl("stats")["stats"]["tcp"]["connections"]
    assert stats["evicted"] >= 1
    assert stats["open"] <= 5
    for h in hangers:
        h.close()


def test_client_that_never_reads_cannot_exhaust_the_server(srv):
    s = _connect(srv)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = b"".join(_frame(_query("www.example.com.", "TXT", qid=i % 65536).to_wire())
                       for i in range(2000))
    s.settimeout(0.5)
    sent = 0
    deadline = time.monotonic() + 3
    while sent < 20 * len(payload) and time.monotonic() < deadline:
        try:
            sent += s.send(payload)
        except socket.timeout:
            break            # the server stopped reading from us: flow control works
        except (BrokenPipeError, ConnectionResetError):
            break
    # Others are served meanwhile, and the stuck connection is dropped by the idle timeout
    # (no complete query is taken from it while its answers are not read).
    _assert_www_answer(srv.query("www.example.com.", tcp=True))
    deadline = time.monotonic() + 5
    while srv.ctl("stats")["stats"]["tcp"]["connections"]["open"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert srv.ctl("stats")["stats"]["tcp"]["connections"]["open"] == 0
    rss_kb = int(open(f"/proc/{srv.pid}/status").read().split("VmRSS:")[1].split()[0])
    assert rss_kb < 300 * 1024
    s.close()


def test_idle_connection_is_closed(srv):
    s = _connect(srv)
    # Timed from before the query: the server's idle clock starts when it answers, later,
    # so a correct server cannot look early however slowly this client runs.
    t0 = time.monotonic()
    s.sendall(_frame(_query("www.example.com.", qid=5).to_wire()))
    assert _read_response(s).id == 5
    assert _closed_within(s, 30)
    assert time.monotonic() - t0 >= 0.9     # not before idle_timeout (1 s)
    s.close()


def test_many_connections_churn(srv):
    for i in range(50):
        s = _connect(srv)
        s.sendall(_frame(_query("www.example.com.", qid=i).to_wire()))
        assert _read_response(s).id == i
        s.close()
    assert srv.proc.poll() is None
