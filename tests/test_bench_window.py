# test_bench_window.py — bench/window.c, the bench's saturating generator: dnsperf's queries, and counts that agree with the server's own.
"""No timing assertions: the rates belong in bench/RESULTS.md.  These check that the
window generator sends what dnsperf sends, counts every answer once (against robdns's
own counters, so a generator that miscounted could not pass) and tells lost answers and
answers to nothing apart."""

import os
import socket
import subprocess
import sys
import threading

import dns.flags
import dns.message
import dns.rcode
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

import qps_bench  # noqa: E402

NAMES = ["example.com. SOA", "www.example.com. A", "mail.example.com. MX", "nx.example.com. A",
         "x.users.example.com. TXT", "ns1.example.com. AAAA", "b.c.example.com. A"]


def write_queries(tmp_path, lines, dnssec):
    text = tmp_path / "q.txt"
    text.write_text("\n".join(lines) + "\n")
    return qps_bench.window_queries(str(text), str(tmp_path / ("q.wire" + (".do" if dnssec else ""))),
                                    dnssec)


def run(port, wire, window, sockets, seconds, count, timeout_ms=1000):
    cmd = qps_bench.window_command(port, wire, seconds, window, sockets, timeout_ms, count)[3:]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    assert r.returncode == 0, r.stderr
    return qps_bench.parse_window(r.stdout)


@pytest.mark.parametrize("dnssec", [False, True], ids=["plain", "do"])
def test_window_queries_are_the_ones_dnsperf_sends(tmp_path, dnssec):
    # dnsperf itself, pointed at a socket that only listens: what it sends for each line
    # of the query file must be what window.c sends (bar the ID each gets when sent).
    lines = NAMES[:3]
    text = tmp_path / "q.txt"
    text.write_text("\n".join(lines) + "\n")
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(10)
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(listener.getsockname()[1]), "-d", str(text),
           "-n", "1", "-t", "1", "-c", "1", "-q", "1"] + (["-D"] if dnssec else [])
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        got = [listener.recv(4096) for _ in lines]   # -q 1: the next after a timeout
    finally:
        p.wait(30)
        listener.close()
    wire = open(write_queries(tmp_path, lines, dnssec), "rb").read()
    ours, o = [], 0
    while o < len(wire):
        ours.append(wire[o + 1:o + 1 + wire[o]])
        o += 1 + wire[o]
    assert [g[2:] for g in got] == [q[2:] for q in ours]
    assert bool(dns.message.from_wire(ours[0]).ednsflags & dns.flags.DO) == dnssec


def test_window_counts_match_robdns_own_counters(tmp_path, robdns_server):
    srv = robdns_server(families=(4,))
    wire = write_queries(tmp_path, NAMES, dnssec=True)
    before = srv.ctl("stats")["stats"]["udp"]
    out = run(srv.port, wire, window=64, sockets=2, seconds=5, count=20000)
    after = srv.ctl("stats")["stats"]["udp"]
    # bounded by its count well within the time: every query sent was answered, once
    assert out["sent"] == 20000
    assert out["answered"] == 20000 and out["lost"] == 0 and out["mismatched"] == 0
    assert after["responses"] - before["responses"] == out["answered"]
    assert after["do"] - before["do"] == out["sent"]          # DO set on every query
    served = {rc: n - before["rcode"].get(rc, 0) for rc, n in after["rcode"].items()}
    assert {rc: n for rc, n in served.items() if n} == out["rcodes"]
    assert out["rcodes"]["NXDOMAIN"] > 0 and out["rcodes"]["NOERROR"] > 0
    assert out["latency_us_median"] <= out["latency_us_p99"]
    assert out["cpu_user_s"] + out["cpu_sys_s"] > 0


class Unfaithful:
    """A UDP responder that answers like a server would except: names starting with
    "drop" get no answer, and names starting with "bad" get one whose question is not
    the one asked (then nothing), plus one datagram with an ID no query carries."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.done.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            q = dns.message.from_wire(data)
            label = q.question[0].name.labels[0]
            if label.startswith(b"drop"):
                continue
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.NXDOMAIN)
            if label.startswith(b"bad"):
                other = dns.message.make_query("other.example.com.", "A")
                r.question = other.question
                stray = dns.message.make_response(q)
                stray.id ^= 0x5555          # an ID not in flight (2 of 65536 are)
                self.sock.sendto(stray.to_wire(), peer)
            self.sock.sendto(r.to_wire(), peer)

    def close(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()


def test_window_counts_lost_and_mismatched_answers(tmp_path):
    lines = ["a.example.com. A", "drop1.example.com. A", "b.example.com. A",
             "bad.example.com. A", "c.example.com. A"]
    wire = write_queries(tmp_path, lines, dnssec=False)
    fake = Unfaithful()
    try:
        # 20 queries: the file four times over, in order
        out = run(fake.port, wire, window=4, sockets=2, seconds=10, count=20, timeout_ms=300)
    finally:
        fake.close()
    assert out["sent"] == 20
    assert out["answered"] == 12 and out["rcodes"] == {"NXDOMAIN": 12}
    # each "bad" query: a stray ID and a wrong question, then its own answer never comes
    assert out["lost"] == 8 and out["mismatched"] == 8


def test_parse_window_and_the_window_table():
    line = ("sent 100 answered 98 lost 2 mismatched 0 truncated 0 seconds 2.000000 qps 49.0 "
            "latency_us_median 40 latency_us_p99 90 latency_us_mean 45.5 response_bytes_mean "
            "300.0 cpu_user_s 0.500000 cpu_sys_s 0.500000 sends 10 send_batch_mean 10.00 "
            "recv_batch_mean 9.80 run_ns 1000000000 wait_ns 200000000 rcode_NOERROR 90 "
            "rcode_NXDOMAIN 8\n")
    r = qps_bench.parse_window(line)
    assert r["completed"] == 98 and r["lost"] == 2 and r["run_time_s"] == 2.0
    assert r["rcodes"] == {"NOERROR": 90, "NXDOMAIN": 8}
    assert r["client_busy"] == pytest.approx(0.5) and r["avg_latency_s"] == pytest.approx(45.5e-6)
    assert r["client_demand"] == pytest.approx(0.6)
    with pytest.raises(ValueError):
        qps_bench.parse_window("usage: window ...")

    def load(qps, cpu, busy):
        return {"qps": qps, "cpu_us_per_query": cpu, "lost": 0, "mismatched": 0,
                "server_busy": busy, "server_demand": 1.0, "client_busy": 0.6, "latency_us_median": 500,
                "latency_us_p99": 900, "queries_per_batch": None}
    med = {"knot": {"fixed": {}, "saturation": {"server_busy": 0.99}, "window": load(100000, 8.0, 1.0)},
           "robdns": {"fixed": {}, "saturation": {"server_busy": 0.83}, "window": load(200000, 4.0, 0.99)}}
    data = {"median": med, "servers": ["robdns", "knot"], "reference": "knot",
            "window": {"queries": 500, "sockets": 4, "timeout_ms": 1000}}
    row = next(l for l in qps_bench.window_report(data) if l.startswith("| robdns"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:6] == ["200000", "2.00x", "4.00", "0.50x", "99% / 100%"]
    assert cells[7] == "60%" and cells[-1] == "83%"
    assert qps_bench.window_report({"median": {"knot": {"fixed": {}}}, "servers": ["knot"]}) == []


def test_busiest_thread_is_the_one_that_ran_most():
    # the answering thread decides whether the server was at its limit: a second thread
    # that waited long for the CPU but ran little must not stand in for it
    before = {(1, "1"): (0, 0), (1, "2"): (0, 0), (1, "3"): (5, 5)}
    after = {(1, "1"): (300_000_000, 600_000_000), (1, "2"): (900_000_000, 90_000_000),
             (1, "4"): (10 ** 10, 0)}                  # thread 4 was born meanwhile: left out
    busy, runnable = qps_bench.busiest_thread(before, after, 1.0)
    assert busy == pytest.approx(0.9) and runnable == pytest.approx(0.99)
    assert qps_bench.busiest_thread(before, {}, 1.0) == (None, None)
    here = qps_bench.sched_ns([os.getpid()])
    assert (os.getpid(), str(threading.get_native_id())) in here
