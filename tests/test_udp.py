"""test_udp — the C UDP workers in-process: batches, answers from the published snapshot
(swapped live), wildcard sockets replying from the address asked, oversized and
response-less packets, pinning, and a prompt stop."""

import os
import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import pytest

from serverproc import free_port, read_example_zone
from robdns import _core

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def database(serial=2026112701):
    text = read_example_zone().replace("2026112701", str(serial))
    return _core.Database([_core.compile_zone_text("example.com.", text)])


def udp_socket(family, host, port, wildcard=False):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if wildcard:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    s.bind((host, port))
    return s


@pytest.fixture
def served():
    """Start workers on the given sockets with a published snapshot; clean up after."""
    state = {}

    def start(specs, batch=64, db=True):
        workers = _core.UdpWorkers(specs, batch)
        state["workers"] = workers
        if db:
            _core.publish(database())
        return workers

    yield start
    if "workers" in state:
        state["workers"].stop()
    _core.publish(None)


def ask(host, port, name="www.example.com.", qtype="A", family=socket.AF_INET, timeout=2):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect((host, port))       # replies from any other address are not delivered
    q = dns.message.make_query(name, qtype)
    s.send(q.to_wire())
    try:
        r = dns.message.from_wire(s.recv(65535))
    finally:
        s.close()
    assert r.id == q.id
    return r


def soa_serial(r):
    return r.answer[0][0].serial


def test_answers_and_live_snapshot_swap(served):
    port = free_port()
    w = served([(udp_socket(socket.AF_INET, "127.0.0.1", port), False, -1),
                (udp_socket(socket.AF_INET6, "::1", port), False, -1)])
    assert w.threads == 2
    assert soa_serial(ask("127.0.0.1", port, "example.com.", "SOA")) == 2026112701
    assert soa_serial(ask("::1", port, "example.com.", "SOA", socket.AF_INET6)) == 2026112701
    _core.publish(database(7))           # no restart, no socket change
    assert soa_serial(ask("127.0.0.1", port, "example.com.", "SOA")) == 7
    assert soa_serial(ask("::1", port, "example.com.", "SOA", socket.AF_INET6)) == 7
    st = w.stats()
    assert st["queries"] == 4 and st["responses"] == 4 and st["qtype"] == {"SOA": 4}


def test_wildcard_sockets_reply_from_the_address_asked(served):
    port = free_port()
    served([(udp_socket(socket.AF_INET, "0.0.0.0", port, True), True, -1),
            (udp_socket(socket.AF_INET6, "::", port, True), True, -1)])
    for host in ("127.0.0.1", "127.0.0.2", "127.3.4.5"):
        assert ask(host, port).rcode() == dns.rcode.NOERROR
    assert ask("::1", port, family=socket.AF_INET6).rcode() == dns.rcode.NOERROR


def test_a_burst_is_answered_in_batches(served):
    port = free_port()
    w = served([(udp_socket(socket.AF_INET, "127.0.0.1", port), False, -1)], batch=16)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    c.settimeout(2)
    # Bursts of 50 (within the socket buffers even when the worker is descheduled).
    for burst in range(6):
        ids = set(range(burst * 50, burst * 50 + 50))
        for i in sorted(ids):
            q = dns.message.make_query("mail.example.com.", "A", id=i)
            c.sendto(q.to_wire(), ("127.0.0.1", port))
        got = set()
        while got != ids:
            got.add(dns.message.from_wire(c.recv(4096)).id)
    c.close()
    st = w.stats()
    assert st["queries"] == 300 and st["responses"] == 300
    assert st["batches"] <= 300


def test_oversized_and_response_less_packets(served):
    port = free_port()
    w = served([(udp_socket(socket.AF_INET, "127.0.0.1", port), False, -1)])
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(0.5)
    c.sendto(b"\x00" * 5000, ("127.0.0.1", port))           # longer than any query we take
    q = dns.message.make_query("www.example.com.", "A")
    q.flags |= dns.flags.QR                                  # a response: never answered
    c.sendto(q.to_wire(), ("127.0.0.1", port))
    c.sendto(b"\x01\x02\x03", ("127.0.0.1", port))          # shorter than a header
    with pytest.raises(socket.timeout):
        c.recv(4096)
    c.close()
    assert ask("127.0.0.1", port).rcode() == dns.rcode.NOERROR
    st = w.stats()
    assert st["recv_truncated"] == 1
    assert st["responses"] == 1


def test_nothing_published_means_no_answer(served):
    port = free_port()
    _core.publish(None)
    w = served([(udp_socket(socket.AF_INET, "127.0.0.1", port), False, -1)], db=False)
    with pytest.raises(socket.timeout):
        ask("127.0.0.1", port, timeout=0.3)
    assert w.stats()["no_database"] == 1
    _core.publish(database())
    assert ask("127.0.0.1", port).rcode() == dns.rcode.NOERROR


def _thread_cpus():
    out = []
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/status") as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    out.append(line.split()[1])
    return out


def test_workers_are_pinned_to_their_core(served):
    port = free_port()
    cpu = sorted(os.sched_getaffinity(0))[-1]
    before = _thread_cpus().count(str(cpu))
    served([(udp_socket(socket.AF_INET, "127.0.0.1", port), False, cpu),
            (udp_socket(socket.AF_INET, "127.0.0.1", port), False, cpu)])
    assert ask("127.0.0.1", port).rcode() == dns.rcode.NOERROR
    assert _thread_cpus().count(str(cpu)) == before + 2


def test_stop_returns_and_is_idempotent():
    # A worker blocked in recvmmsg with no traffic must still notice the stop (its receive
    # timeout wakes it); how soon is the machine's business, so the wait is generous and
    # only keeps a worker that never wakes from hanging the run.
    port = free_port()
    w = _core.UdpWorkers([(udp_socket(socket.AF_INET, "127.0.0.1", port), False, -1)] * 1, 64)
    stopper = threading.Thread(target=w.stop, daemon=True)
    stopper.start()
    stopper.join(30)
    assert not stopper.is_alive(), "stop() did not return: a worker never woke up"
    w.stop()
    assert w.threads == 0


def test_bad_arguments():
    with pytest.raises(ValueError):
        _core.UdpWorkers([], 64)
    s = udp_socket(socket.AF_INET, "127.0.0.1", 0)
    with pytest.raises(ValueError):
        _core.UdpWorkers([(s, False, -1)], 0)
    s.close()
