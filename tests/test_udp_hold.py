"""test_udp_hold — the UDP workers' hold (server.udp_hold_us): under a light steady load
every query is still answered and the holds gather datagrams; an idle worker that was
holding goes back to blocking and spends no CPU."""

import os
import socket
import time

import dns.message
import dns.rcode
import pytest

from robdns import _core, config
from robdns.errors import ConfigError
from test_udp import database, udp_socket
from serverproc import free_port


@pytest.fixture
def hold_workers():
    """UdpWorkers on one fresh 127.0.0.1 socket with the given hold; stopped after."""
    state = {}

    def start(hold_us):
        port = free_port()
        w = _core.UdpWorkers([(udp_socket(socket.AF_INET, "127.0.0.1", port), False, -1)], 64,
                             hold_us=hold_us)
        state["w"] = w
        _core.publish(database())
        return w, port

    yield start
    if "w" in state:
        state["w"].stop()
    _core.publish(None)


def paced_queries(port, count, gap_s):
    """Send `count` queries one every gap_s seconds (busy-waited: sleep() is too coarse),
    then collect the answers; returns {id: response} of those that came within 3 s."""
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    c.connect(("127.0.0.1", port))
    start = time.perf_counter()
    for i in range(count):
        while time.perf_counter() < start + i * gap_s:
            pass
        c.send(dns.message.make_query("www.example.com.", "A", id=i).to_wire())
    got = {}
    c.settimeout(3)
    try:
        while len(got) < count:
            r = dns.message.from_wire(c.recv(4096))
            got[r.id] = r
    except socket.timeout:
        pass
    c.close()
    return got


def thread_cpu_ticks(name_prefix):
    """utime+stime (clock ticks) of this process's threads whose name starts so."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        if comm.startswith(name_prefix):
            rest = text[text.rindex(")") + 2:].split()
            total += int(rest[11]) + int(rest[12])
    return total


def test_light_load_is_answered_and_holds_gather_datagrams(hold_workers):
    # One query every 100 us (~10k qps) against a 500 us hold: the blocking waits are
    # shorter than the hold, so the worker holds after each small batch, and each hold
    # finds the queries that came meanwhile (how many depends on the machine's load).
    w, port = hold_workers(500)
    got = paced_queries(port, 2000, 100e-6)
    assert len(got) == 2000, f"{2000 - len(got)} queries unanswered"
    assert all(r.rcode() == dns.rcode.NOERROR and r.answer for r in got.values())
    st = w.stats()
    assert st["queries"] == 2000 and st["responses"] == 2000
    assert st["holds"] > 0 and st["hold_datagrams"] > 0
    # Fewer receive rounds than queries: the holds did gather several per round.
    assert st["batches"] < 2000


def test_no_hold_means_no_holds(hold_workers):
    w, port = hold_workers(0)
    got = paced_queries(port, 300, 100e-6)
    assert len(got) == 300
    st = w.stats()
    assert st["holds"] == 0 and st["hold_datagrams"] == 0


def test_an_idle_worker_that_held_does_not_spin(hold_workers):
    # Get the worker holding (the longest hold), then let it idle for a second: the first
    # hold that finds nothing sends it back to a blocking recvmmsg, so its CPU over that
    # second is near zero (bound: 10 of 100 clock ticks, generous for a busy machine; a
    # worker polling its socket would take most of the second).
    w, port = hold_workers(1000)
    got = paced_queries(port, 500, 100e-6)
    assert len(got) == 500
    assert w.stats()["holds"] > 0
    time.sleep(0.1)
    t0 = thread_cpu_ticks("robdns-udp")
    time.sleep(1.0)
    spent = thread_cpu_ticks("robdns-udp") - t0
    assert spent <= 10, f"idle worker used {spent} ticks of CPU in 1 s"
    # ... and still answers the next query at once.
    assert len(paced_queries(port, 1, 0)) == 1


def test_hold_bounds():
    port = free_port()
    s = udp_socket(socket.AF_INET, "127.0.0.1", port)
    for bad in (-1, 1001):
        with pytest.raises(ValueError):
            _core.UdpWorkers([(s, False, -1)], 64, hold_us=bad)
    s.close()
    assert config.parse("server:\n  udp_hold_us: 50\n").udp_hold_us == 50
    assert config.parse("").udp_hold_us == config.Config().udp_hold_us
    with pytest.raises(ConfigError, match="server.udp_hold_us"):
        config.parse("server:\n  udp_hold_us: 5000\n")
