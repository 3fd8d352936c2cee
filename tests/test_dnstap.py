# test_dnstap.py — server.dnstap read back by Debian's fstrm_capture (Frame Streams over a
# unix socket, bidirectional handshake) and decoded by dnstap-ldns: every sampled query and
# response present with the right addresses, ports, times and DNS message; a file sink;
# sampling; a collector restart; a stalled collector that costs drops, never answers.
import datetime
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import yaml

from serverproc import read_example_zone


@pytest.fixture(autouse=True)
def _tools():
    # The reference reader and decoder are the point of these tests: missing, they fail.
    for tool, pkg in (("fstrm_capture", "fstrm-bin"), ("dnstap-ldns", "dnstap-ldns")):
        assert shutil.which(tool), f"{tool} missing: apt-get install {pkg} (scripts/test.sh does)"

CONTENT_TYPE = "protobuf:dnstap.Dnstap"


class Capture:
    """fstrm_capture receiving on a unix socket, writing a Frame Streams file."""

    def __init__(self, sock, out):
        self.sock, self.out = sock, out
        if os.path.exists(sock):
            os.unlink(sock)
        self.log = open(out + ".log", "wb")
        self.proc = subprocess.Popen(["fstrm_capture", "-t", CONTENT_TYPE, "-u", sock, "-w", out],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert self.proc.poll() is None, open(out + ".log").read()
            assert time.monotonic() < deadline, "fstrm_capture did not open its socket"
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def decode(path):
    """The messages of a dnstap file as dnstap-ldns prints them in YAML (one document each)."""
    r = subprocess.run(["dnstap-ldns", "-r", path, "-y"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)     # the C parser when built
    return [d["message"] for d in yaml.load_all(r.stdout, Loader=loader) if d]


def _stamp(t):
    """A dnstap-ldns timestamp (UTC, naive) as Unix time."""
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def _server(robdns_server, sink, workers=2, **tap):
    return robdns_server({"example.com.": read_example_zone()}, workers=workers,
                         server={"dnstap": {"sink": sink, **tap}})


def _stats(srv):
    return srv.ctl("stats")["stats"]["dnstap"]


def _wait(cond, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _ask(srv, name, qtype="A", family=4, **kw):
    """One UDP query from a socket of our own; (client port, query, response, t0, t1,
    family)."""
    q = dns.message.make_query(name, qtype, **kw)
    host = srv.host(family)
    with socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(3)
        t0 = time.time()
        s.sendto(q.to_wire(), (host, srv.port))
        r = dns.message.from_wire(s.recv(65535))
        t1 = time.time()
        return s.getsockname()[1], q, r, t0, t1, family


def test_queries_and_responses_read_back_by_fstrm_capture(robdns_server, tmp_path):
    cap = Capture(str(tmp_path / "tap.sock"), str(tmp_path / "cap.fstrm"))
    try:
        srv = _server(robdns_server, "unix:" + cap.sock)
        sent = [_ask(srv, "www.example.com."), _ask(srv, "nx.example.com.", "AAAA"),
                _ask(srv, "www.example.org.", "MX"), _ask(srv, "mail.example.com.", family=6),
                _ask(srv, "example.com.", "SOA", use_edns=0, want_dnssec=True)]
        # A response (QR set) gets no answer: logged as a query alone.
        noanswer = dns.message.make_query("www.example.com.", "A")
        noanswer.flags |= dns.flags.QR
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(noanswer.to_wire(), ("127.0.0.1", srv.port))
            noanswer_port = s.getsockname()[1]
            _wait(lambda: _stats(srv)["logged"] == 2 * len(sent) + 1, "the unanswered query")
        _wait(lambda: _stats(srv)["written"] == 2 * len(sent) + 1, "the writer")
        st = _stats(srv)
        assert st["dropped"] == 0 and st["connected"] and st["connects"] == 1
        m = srv.ctl("stats")["stats"]
        assert m["dnstap"]["written"] == 2 * len(sent) + 1
        assert srv.stop() == 0            # ends the stream: STOP, the collector's FINISH
    finally:
        cap.stop()

    msgs = decode(cap.out)
    queries = [m for m in msgs if m["type"] == "AUTH_QUERY"]
    responses = [m for m in msgs if m["type"] == "AUTH_RESPONSE"]
    assert len(queries) == len(sent) + 1 and len(responses) == len(sent)
    by_port = {}
    for m in msgs:
        by_port.setdefault(m["query_port"], {})[m["type"]] = m
    for port, q, r, t0, t1, family in sent:
        pair = by_port[port]
        mq, mr = pair["AUTH_QUERY"], pair["AUTH_RESPONSE"]
        for m in (mq, mr):
            assert m["socket_protocol"] == "UDP"
            assert m["socket_family"] == ("INET6" if family == 6 else "INET")
            assert m["query_address"] == m["response_address"] == srv.host(family)
            assert m["response_port"] == srv.port
            # The query's time: when the worker received it, between our send and receive.
            assert t0 - 0.001 <= _stamp(m["query_time"]) <= t1 + 0.001
        assert _stamp(mq["query_time"]) <= _stamp(mr["response_time"]) <= t1 + 0.001
        # The DNS messages as sent and as answered (dnstap-ldns prints them as text).
        assert f"id: {q.id}" in mq["query_message"] and f"id: {r.id}" in mr["response_message"]
        question = q.question[0]
        assert f";{question.name}\tIN\t{dns.rdatatype.to_text(question.rdtype)}" in mq["query_message"]
        assert f"rcode: {dns.rcode.to_text(r.rcode())}" in mr["response_message"]
        for rrset in r.answer:
            assert rrset.name.to_text() in mr["response_message"]
    assert by_port[noanswer_port].keys() == {"AUTH_QUERY"}
    assert f"id: {noanswer.id}" in by_port[noanswer_port]["AUTH_QUERY"]["query_message"]


def test_file_sink_with_sampling_and_queries_only(robdns_server, tmp_path):
    path = str(tmp_path / "robdns.tap")
    srv = _server(robdns_server, path, workers=1, sample=3, responses=False)
    ports = [_ask(srv, f"q{i}.users.example.com.")[0] for i in range(9)]
    _wait(lambda: _stats(srv)["written"] == 3, "three sampled queries")
    assert srv.stop() == 0
    msgs = decode(path)
    # One query in three, the first one first (per worker); no responses.
    assert [m["type"] for m in msgs] == ["AUTH_QUERY"] * 3
    assert [m["query_port"] for m in msgs] == [ports[0], ports[3], ports[6]]
    assert [m["query_message"].count("q0.users") + m["query_message"].count("q3.users")
            + m["query_message"].count("q6.users") for m in msgs] == [1, 1, 1]


def test_reconnects_to_a_restarted_collector(robdns_server, tmp_path):
    sock = str(tmp_path / "tap.sock")
    first = Capture(sock, str(tmp_path / "first.fstrm"))
    second = None
    try:
        srv = _server(robdns_server, "unix:" + sock, workers=1)
        _ask(srv, "before.users.example.com.")
        _wait(lambda: _stats(srv)["written"] == 2, "the first messages")
        first.stop()
        second = Capture(sock, str(tmp_path / "second.fstrm"))
        # Queries while the writer notices and reconnects (within about a second) may be
        # dropped (counted); once connected again every message arrives.
        deadline = time.monotonic() + 10
        while _stats(srv)["connects"] < 2:
            _ask(srv, "between.users.example.com.")
            assert time.monotonic() < deadline, "no reconnection"
            time.sleep(0.1)
        written = _stats(srv)["written"]
        port = _ask(srv, "after.users.example.com.")[0]
        _wait(lambda: _stats(srv)["written"] == written + 2, "the messages after")
        st = _stats(srv)
        # No ring overflowed: every message logged was written, or lost while away.
        assert st["logged"] == st["written"] + st["dropped"]
        assert srv.stop() == 0
    finally:
        first.stop()
        if second:
            second.stop()
    got = decode(first.out)
    assert [m["type"] for m in got] == ["AUTH_QUERY", "AUTH_RESPONSE"]
    assert "before.users" in got[0]["query_message"] and "before.users" in got[1]["response_message"]
    after = [m for m in decode(second.out) if m["query_port"] == port]
    assert {m["type"] for m in after} == {"AUTH_QUERY", "AUTH_RESPONSE"}


def _stalled_collector(path, stop):
    """A collector that completes the handshake, then never reads: the server's writer
    blocks on a full socket, its rings fill, and only dnstap messages may be lost."""
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)
    ls.settimeout(10)

    def run():
        conns = []
        try:
            while not stop.is_set():
                try:
                    c, _ = ls.accept()
                except socket.timeout:
                    continue
                conns.append(c)
                c.recv(4096)                                  # READY
                ctype = CONTENT_TYPE.encode()
                body = struct.pack("!III", 0x01, 0x01, len(ctype)) + ctype   # ACCEPT
                c.sendall(struct.pack("!II", 0, len(body)) + body)
                c.recv(4096)                                  # START; then nothing read
        except OSError:
            pass
        finally:
            for c in conns:
                c.close()
            ls.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_stalled_collector_costs_dnstap_messages_not_answers(robdns_server, tmp_path):
    path = str(tmp_path / "stalled.sock")
    stop = threading.Event()
    t = _stalled_collector(path, stop)
    try:
        srv = _server(robdns_server, "unix:" + path, workers=1, ring_kib=64)
        _wait(lambda: _stats(srv)["connects"] == 1, "the handshake")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(2)
        answered = 0
        t0 = time.monotonic()
        for i in range(3000):
            q = dns.message.make_query(f"n{i}.users.example.com.", "TXT")
            sock.sendto(q.to_wire(), ("127.0.0.1", srv.port))
            r = dns.message.from_wire(sock.recv(65535))
            answered += r.id == q.id
        sock.close()
        assert answered == 3000
        st = _stats(srv)
        # Two messages a query, each either taken into the ring or dropped at once.
        assert st["dropped"] > 0 and st["logged"] + st["dropped"] >= 2 * 3000
        assert time.monotonic() - t0 < 60
        assert srv.query("www.example.com.", "A").rcode() == 0
    finally:
        stop.set()
        t.join(15)


def test_tcp_queries_are_logged_as_tcp(robdns_server, tmp_path):
    path = str(tmp_path / "tcp.tap")
    srv = _server(robdns_server, path, workers=2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect(("127.0.0.1", srv.port))
        port = s.getsockname()[1]
        ids = []
        for name in ("www.example.com.", "nx.example.com."):      # pipelined on one connection
            q = dns.message.make_query(name, "A")
            ids.append(q.id)
            dns.query.send_tcp(s, q)
        for _ in ids:
            dns.query.receive_tcp(s, expiration=time.time() + 3)
    _wait(lambda: _stats(srv)["written"] == 4, "four messages")
    assert srv.stop() == 0
    msgs = decode(path)
    assert {m["socket_protocol"] for m in msgs} == {"TCP"}
    assert {m["query_port"] for m in msgs} == {port}
    assert {m["response_port"] for m in msgs} == {srv.port}
    assert {m["query_address"] for m in msgs} == {m["response_address"] for m in msgs} == {"127.0.0.1"}
    assert sorted(m["type"] for m in msgs) == ["AUTH_QUERY"] * 2 + ["AUTH_RESPONSE"] * 2
    texts = " ".join(m.get("query_message", "") + m.get("response_message", "") for m in msgs)
    assert all(f"id: {i}" in texts for i in ids) and "rcode: NXDOMAIN" in texts


def test_tcp_on_a_wildcard_listener_names_the_address_each_client_asked(tmp_path):
    # A listener bound to 0.0.0.0 takes connections for any local address: the response
    # address of each message is the one its client connected to, never 0.0.0.0 (a
    # listener bound to one address, as above, lends that address to its connections).
    from robdns import _core
    _core.publish(_core.Database([_core.compile_zone_text("example.com.", read_example_zone())]))
    path = str(tmp_path / "wild.tap")
    tap = _core.Dnstap(path, False, 1, ring_bytes=65536)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("0.0.0.0", 0))
    lsock.listen(16)
    lsock.setblocking(False)
    lport = lsock.getsockname()[1]
    limits = {"max_connections": 8, "max_per_client": 8, "idle_timeout_ms": 2000,
              "max_pipelined": 16}
    workers = _core.TcpWorkers([(lsock, 0)], [-1], 8, limits, dnstap=tap)
    asked = {}
    try:
        for host in ("127.0.0.1", "127.0.0.2"):
            with socket.create_connection((host, lport), timeout=3) as s:
                asked[s.getsockname()[1]] = host
                dns.query.send_tcp(s, dns.message.make_query("www.example.com.", "A"))
                dns.query.receive_tcp(s, expiration=time.time() + 3)
        _wait(lambda: tap.counters()["logged"] == 4, "four messages")
    finally:
        workers.stop()
        tap.stop()
        lsock.close()
        _core.publish(None)
    msgs = decode(path)
    assert len(msgs) == 4
    for m in msgs:
        assert m["socket_protocol"] == "TCP" and m["response_port"] == lport
        assert m["response_address"] == asked[m["query_port"]], m


def test_small_rings_wrap_and_every_message_read_back_is_whole(robdns_server, tmp_path):
    # 64 KiB rings wrap many times under a flood of queries of different sizes: each
    # message that reaches the collector must be one of those sent, whole; what did not
    # fit is counted as dropped, and nothing else is lost.
    cap = Capture(str(tmp_path / "tap.sock"), str(tmp_path / "cap.fstrm"))
    try:
        srv = _server(robdns_server, "unix:" + cap.sock, workers=2, ring_kib=64)
        sent = {}
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.settimeout(1)
        for i in range(4000):
            name = f"{'x' * (i % 50)}{i}.users.example.com."
            q = dns.message.make_query(name, "TXT" if i % 3 else "A")
            sent[q.id, name] = q
            socks[i % 4].sendto(q.to_wire(), ("127.0.0.1", srv.port))
        got = 0
        for s in socks:
            try:
                while True:
                    s.recv(65535)
                    got += 1
            except socket.timeout:
                pass
            s.close()
        _wait(lambda: _stats(srv)["logged"] == _stats(srv)["written"], "the writer")
        st = _stats(srv)
        assert srv.stop() == 0
    finally:
        cap.stop()
    msgs = decode(cap.out)
    assert len(msgs) == st["written"] and st["logged"] + st["dropped"] == 2 * got
    ids = {qid for qid, _ in sent}
    for m in msgs:
        text = m.get("query_message") or m["response_message"]
        qid = int(text.split("id: ", 1)[1].split()[0])
        assert qid in ids
        name = text.split(";; QUESTION SECTION:\n;", 1)[1].split("\t", 1)[0]
        assert (qid, name) in sent


def test_responses_only(robdns_server, tmp_path):
    path = str(tmp_path / "resp.tap")
    srv = _server(robdns_server, path, workers=1, queries=False)
    ports = [_ask(srv, "www.example.com.")[0], _ask(srv, "nx.example.com.")[0]]
    unanswered = dns.message.make_query("www.example.com.", "A")
    unanswered.flags |= dns.flags.QR                 # a response: nothing is sent back
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(unanswered.to_wire(), ("127.0.0.1", srv.port))
    _wait(lambda: srv.ctl("stats")["stats"]["udp"]["queries"] == 3, "the third query")
    _wait(lambda: _stats(srv)["written"] == 2, "two responses")
    assert _stats(srv)["logged"] == 2
    assert srv.stop() == 0
    msgs = decode(path)
    assert [m["type"] for m in msgs] == ["AUTH_RESPONSE"] * 2
    assert [m["query_port"] for m in msgs] == ports
    assert "rcode: NXDOMAIN" in msgs[1]["response_message"]


def test_zone_transfers_out_are_logged_request_and_every_message(robdns_server, tmp_path):
    # As Knot logs a transfer: the AXFR request as an AUTH_QUERY, then every message of
    # the stream as an AUTH_RESPONSE (the request is not repeated in each).
    from xfr_support import zone_text
    path = str(tmp_path / "xfr.tap")
    srv = robdns_server({"example.com.": zone_text(7, n=3000)}, workers=1, families=(4,),
                        start=False, server={"dnstap": {"sink": path}})
    srv.config["zones"][0]["allow_transfer"] = [{"address": "127.0.0.1/32"}]
    srv.write_config()
    srv.start()
    t0 = time.time()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect(("127.0.0.1", srv.port))
        port = s.getsockname()[1]
        q = dns.message.make_query("example.com.", "AXFR")
        dns.query.send_tcp(s, q)
        got, records = [], 0
        while records < 2 or got[-1].answer[-1].rdtype != dns.rdatatype.SOA:   # RFC 5936 2.2
            got.append(dns.query.receive_tcp(s, expiration=time.time() + 10, one_rr_per_rrset=True)[0])
            records += len(got[-1].answer)
    t1 = time.time()
    assert len(got) > 1                               # several messages: 3000 records
    _wait(lambda: _stats(srv)["written"] == 1 + len(got), "the transfer's messages")
    assert _stats(srv)["dropped"] == 0
    assert srv.stop() == 0
    msgs = decode(path)
    assert [m["type"] for m in msgs] == ["AUTH_QUERY"] + ["AUTH_RESPONSE"] * len(got)
    for m in msgs:
        assert m["socket_protocol"] == "TCP" and m["query_port"] == port
        assert m["query_address"] == m["response_address"] == "127.0.0.1"
        assert m["response_port"] == srv.port
        assert t0 - 0.001 <= _stamp(m["query_time"]) <= t1 + 0.001
    request = msgs[0]["query_message"]
    assert f"id: {q.id}" in request and "example.com.\tIN\tAXFR" in request
    for m, r in zip(msgs[1:], got):
        text = m["response_message"]
        assert f"id: {q.id}" in text and "qr aa" in text
        assert f"ANSWER: {len(r.answer)}," in text            # the same message, whole
        assert _stamp(m["query_time"]) <= _stamp(m["response_time"]) <= t1 + 0.001
    assert records == 3000 + 10 + 1       # the host records, the 10 others, the closing SOA
