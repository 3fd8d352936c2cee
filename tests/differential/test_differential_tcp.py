"""test_differential_tcp — the corpus asked over TCP of a running `robdns serve` (the C TCP
loops, not the in-process engine): every answer equals Knot's or NSD's over TCP, never has
TC set (RFC 7766 8: a TCP answer is never truncated below 65535 octets), and equals what
the same daemon answers over UDP whenever that UDP answer was not truncated (up to the
additional records the UDP answer had no room for).

All queries go down one connection, each followed by a ping query: the loop answers a
connection's queries in order, so what arrives before the ping's answer is the query's
answer, or nothing (a query the server must not answer, RFC 1035 4.1.1).
"""

import dataclasses
import os
import socket
import struct
import sys
import tempfile

import dns.message
import pytest

import dnsnorm
import querygen
import refservers

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from serverproc import RobdnsServer  # noqa: E402

CLASSES = sorted(querygen.generate())
MAX_SHOWN = 4
# Answers that rightly differ between UDP and TCP: RFC 8482 minimal ANY over UDP only; a
# zone transfer is NOTIMP / one message over UDP and a stream over TCP (RFC 5936 4.2,
# RFC 1995 2).
TRANSPORT_DEPENDENT_QTYPES = {"ANY", "AXFR", "IXFR"}
PING_NAME = "robdns-tcp-ping.example.com."


class TcpClient:
    """One long-lived connection to the daemon; reconnects when the server closes it (a
    zero-length raw packet is a reason to)."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.ping_id = 0

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def _read(self):
        head = self._recv(2)
        return self._recv(struct.unpack("!H", head)[0])

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def ask(self, wire):
        """The daemon's answer to wire over TCP (None: no answer, or the server closed)."""
        for attempt in range(2):
            if self.sock is None:
                self._connect()
            self.ping_id = (self.ping_id + 1) & 0xFFFF
            ping = dns.message.make_query(PING_NAME, "TXT")
            ping.id = self.ping_id
            pw = ping.to_wire()
            try:
                self.sock.sendall(struct.pack("!H", len(wire)) + wire + struct.pack("!H", len(pw)) + pw)
                first = self._read()
                if first[:2] == pw[:2] and _question(first) == _question(pw):
                    return None                          # nothing came for the query
                second = self._read()
                assert second[:2] == pw[:2], "an extra answer before the ping's"
                return first
            except (ConnectionError, OSError):
                self.sock.close()
                self.sock = None
                if not wire or attempt:
                    return None
        return None


def _same_but_room(tcp, udp):
    """The TCP answer is the UDP one, except that the UDP one may have left out additional
    records that did not fit (RFC 2181 9: without TC; they are optional)."""
    if tcp.kind != "response" or udp.kind != "response":
        return tcp == udp
    return (dataclasses.replace(tcp, additional=()) == dataclasses.replace(udp, additional=())
            and set(udp.additional) <= set(tcp.additional))


def _question(wire):
    """The question section's bytes (after the 12-octet header) up to the first record."""
    try:
        return dns.message.from_wire(wire, question_only=True).question
    except Exception:
        return None


@pytest.fixture(scope="module")
def daemon(corpus_zones):
    zones = {}
    for origin, path in corpus_zones:
        with open(path) as f:
            zones[origin] = f.read()
    with tempfile.TemporaryDirectory() as d:
        srv = RobdnsServer(d, zones, families=(4,), server={
            "identity": refservers.TEST_IDENTITY, "version": refservers.TEST_VERSION,
            "nsid": refservers.TEST_NSID.decode(),
            "max_udp_payload": refservers.UDP_PAYLOAD_CEILING,
            "tcp": {"idle_timeout": 600, "max_pipelined": 64}})
        try:
            yield srv
        finally:
            srv.stop()
            srv.close()


@pytest.fixture(scope="module")
def tcp_client(daemon):
    c = TcpClient(daemon.port)
    yield c
    if c.sock:
        c.sock.close()


def check(q, tcp_client, daemon, peers):
    """None when robdns over TCP answers right, else a readable account."""
    wire = q.wire()
    tq = dataclasses.replace(q, tcp=True)
    got = tcp_client.ask(wire)
    mine = dnsnorm.normalize(got, wire)
    problems = []
    if got is not None and len(got) >= 4 and got[2] & 0x02:
        problems.append("TC set over TCP")
    if not q.raw and q.qtype not in TRANSPORT_DEPENDENT_QTYPES:
        udp = refservers.query_udp(wire, "127.0.0.1", daemon.port, timeout=2.0)
        if udp is not None and not udp[2] & 0x02:
            over_udp = dnsnorm.normalize(udp, wire)
            if not _same_but_room(mine, over_udp):
                problems.append("differs from the UDP answer:\n"
                                + dnsnorm.diff({"tcp": mine, "udp": over_udp}))
    knot, nsd, labels = peers.answers(tq)
    if mine != knot and mine != nsd and (knot.kind == "none" or nsd.kind == "none"):
        knot, nsd, labels = peers.answers(tq, patient=True)
    if mine != knot and mine != nsd:
        note = "" if knot == nsd else f" (knot and nsd differ: {'; '.join(labels or ['?'])})"
        problems.append("unlike both peers over TCP" + note + ":\n"
                        + dnsnorm.diff({"robdns": mine, "knot": knot, "nsd": nsd}))
    if not problems:
        return None
    return f"query: {q.describe()} over TCP  [{q.case_class}]\n" + "\n".join(problems)


@pytest.mark.parametrize("case_class", CLASSES)
def test_robdns_daemon_over_tcp_answers_like_udp_and_the_peers(case_class, daemon, tcp_client,
                                                               peers):
    queries = querygen.generate()[case_class]
    bad = [d for d in (check(q, tcp_client, daemon, peers) for q in queries) if d]
    assert not bad, (f"{len(bad)} of {len(queries)} queries of {case_class}:\n\n"
                     + "\n\n".join(bad[:MAX_SHOWN]))
    assert daemon.proc.poll() is None
