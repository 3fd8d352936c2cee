#!/usr/bin/env python3
# qps_bench.py — dnsperf and the bench's own window generator on loopback: CPU per answered query, qps and losses of robdns, Knot, NSD and the echo floor.
"""All servers serve the 100k-record bench zone on 127.0.0.1 (free ports), each pinned
to CPU 0 with taskset and configured for one UDP worker:

- robdns serve (workers: 1), when this checkout has the daemon;
- knotd (udp-workers 1, tcp-workers 1, background-workers 1);
- nsd (server-count 1, RRL off);
- bench/echo.c, the floor (recvmmsg, set QR, sendmmsg; no DNS work);
- echo@uring: bench/echo_uring.c, the same floor over io_uring (multishot receive, the
  replies submitted with the next wait), when a server list names it.

dnsperf runs pinned to CPU 1.  For each server, each round (servers rotated between
rounds, so none always runs first) and each load:

- fixed:      dnsperf -Q 40000 -l DURATION -c 4 -q 500 -b 4096
- saturation: dnsperf -l DURATION -c 4 -q 500 -b 4096 (as fast as dnsperf can ask)
- window:     bench/window.c, the bench's own closed loop: 128 queries in flight over 4
              sockets (--window, --window-sockets), the same queries, sent with sendmmsg and
              read with recvmmsg in batches, for DURATION (as fast as the server answers)

dnsperf sends and reads one datagram per system call on its one core: at ~130-140k qps
it is the bottleneck, not a fast server (robdns's core ~0.83 busy at its "saturation"),
so the CPU per query it shows there is a server's with the batches of a load it is not
yet at its limit with.  The window load's client costs a few µs per query, and the
report gives each server's CPU busy share and the client's: the window row is the
server's own limit when the server is ~100% busy and the client is not.

Server CPU is utime+stime of every thread of the server's process tree
(/proc/PID/task/*/stat), read before and after the dnsperf run; divided by the answered
(completed) queries it gives CPU microseconds per answered query.  Medians over rounds.
Ratios are vs Knot (below 1.0 = less CPU / fewer qps than Knot).

    python3 bench/qps_bench.py                  # 3 rounds x 10 s x 2 loads x 4 servers
    python3 bench/qps_bench.py --rounds 1 --duration 3 --servers knot,echo
    python3 bench/qps_bench.py --servers robdns,knot,echo --before /work/wt/base   # + robdns@before
    python3 bench/qps_bench.py --servers robdns,knot,echo,echo@uring   # + the io_uring floor

--bursts 1,2,4,8 adds, each round, bench/burst.c's closed loop at each burst size: B plain
queries sent at once and all answers awaited, so each wake-up of the server finds exactly
B.  dnsperf's pacing decides how many queries a wake-up finds at 40k (and that moves with
the host's load); the bursts separate what a wake-up costs from what a datagram costs
(server CPU per burst = per burst + B x per datagram, least squares), and rounds agree
better than dnsperf's at a fixed rate on a shared host:

    python3 bench/qps_bench.py --servers robdns,knot,echo --bursts 1,2,4,8 --loads "" --before /work/wt/base

Every server is started once and left running while the others are measured (idle, on
the same CPU).  --copies N adds robdns#2..#N, identical instances measured like the others,
and prints how far their CPU per query spreads (against the rounds' own spread: whether
one instance of a tree is slower than another); --fresh starts each server for each of
its runs, alone on its CPU, once its start's background work is done (settle()): what an
operator running one server sees, and a new instance every round, so no instance's
placement in memory decides a median.  The table below it gives each server's image in
2 MiB pages and what its idle neighbours did during its runs:

    python3 bench/qps_bench.py --servers robdns,knot,echo --copies 4 --loads fixed --rounds 5
    python3 bench/qps_bench.py --servers robdns,knot,echo --fresh --rounds 5

A fixed-rate run that dnsperf could not drive at the rate (its CPU taken by another job)
is shown per round but left out of the medians (a note says how many).

The cost of observability, robdns against itself (--reference robdns):

    python3 bench/qps_bench.py --servers robdns --dnstap --scrape --reference robdns

--dnstap adds robdns@dnstap: every query and response logged as dnstap to fstrm_capture
(on the client's CPU, writing to /dev/null; its CPU is not the server's).  --scrape adds
robdns@scrape: /metrics served and fetched once a second during every run (the HTTP
thread's CPU is the server's).  Their CPU per query against plain robdns is the price.
"""

import argparse
import datetime
import json
import os
import random
import re
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genzone   # noqa: E402
import procfs    # noqa: E402
import servers   # noqa: E402

ORIGIN = genzone.DEFAULT_ORIGIN
SERVER_CPU = 0
CLIENT_CPU = 1


def parse_dnsperf(text):
    """dnsperf's summary -> {sent, completed, lost, qps, rcodes{}, avg_latency_s}."""
    def num(pattern, cast=int):
        m = re.search(pattern, text)
        return cast(m.group(1)) if m else None
    out = {
        "sent": num(r"Queries sent:\s+(\d+)"),
        "completed": num(r"Queries completed:\s+(\d+)"),
        "lost": num(r"Queries lost:\s+(\d+)"),
        "qps": num(r"Queries per second:\s+([\d.]+)", float),
        "avg_latency_s": num(r"Average Latency \(s\):\s+([\d.]+)", float),
        "run_time_s": num(r"Run time \(s\):\s+([\d.]+)", float),
        "rcodes": {},
    }
    m = re.search(r"Response codes:\s+(.*)", text)
    if m:
        for code, count in re.findall(r"([A-Z]+) (\d+) \(", m.group(1)):
            out["rcodes"][code] = int(count)
    if out["completed"] is None:
        raise ValueError("no dnsperf summary in output:\n" + text[-600:])
    return out


def dnsperf_command(port, queries, duration, load, dnssec=False, rate=40000):
    cmd = ["taskset", "-c", str(CLIENT_CPU), "dnsperf", "-s", "127.0.0.1", "-p", str(port),
           "-d", queries, "-l", str(duration), "-T", "1", "-c", "4", "-q", "500",
           # 4 MiB client socket buffers: responses dropped at dnsperf's own sockets
           # (large DNSSEC answers overflow the default) must not count as the server's losses.
           "-b", "4096"]
    if load == "fixed":
        cmd += ["-Q", str(rate)]
    if dnssec:
        cmd += ["-D"]      # EDNS(0) with DO set (RFC 3225): signatures and proofs in answers
    return cmd


class Scraper:
    """GET /metrics once a second (as a Prometheus scrape interval of 1 s) until stopped."""

    def __init__(self, url):
        self.url = url
        self.done = threading.Event()
        self.scrapes = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.done.wait(1.0):
            with urllib.request.urlopen(self.url, timeout=5) as r:
                r.read()
            self.scrapes += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(10)


# The receive, send and wait calls a UDP server makes (tracepoints: counted in the kernel,
# no ptrace stop per call as with strace, so the server runs nearly as without them).
SYSCALLS = ("recvmmsg", "recvmsg", "recvfrom", "sendmmsg", "sendmsg", "sendto",
            "epoll_wait", "epoll_pwait", "poll", "ppoll")


def perf_syscalls_command(pids, duration):
    """perf stat counting SYSCALLS of the server's processes for `duration` seconds."""
    events = ",".join(f"syscalls:sys_enter_{c}" for c in SYSCALLS)
    return ["perf", "stat", "-x", ",", "-e", events, "-p", ",".join(map(str, pids)),
            "--", "sleep", str(duration)]


def parse_perf_stat(text):
    """perf stat -x , output -> {syscall: count} (calls never made are left out)."""
    out = {}
    for line in text.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[2].startswith("syscalls:sys_enter_") and f[0].isdigit():
            if int(f[0]):
                out[f[2][len("syscalls:sys_enter_"):]] = int(f[0])
    return out


def robdns_batches(server):
    """robdns's own UDP loop counters: receive rounds that returned datagrams (batches),
    holds after a small batch and the datagrams they gathered (None for other servers)."""
    control = getattr(server, "control", None)
    if not control or not os.path.exists(control):
        return None
    if servers.REPO not in sys.path:    # run as bench/qps_bench.py: only bench/ is on the path
        sys.path.insert(0, servers.REPO)
    from robdns import ctl
    resp = ctl.request(control, "stats", timeout=10)
    udp = (resp.get("stats") or resp).get("udp", {})
    return {k: udp.get(k, 0) for k in ("batches", "holds", "hold_datagrams")}


def measure(server, others, client, duration, syscalls=False):
    """Run client() (a load against server, returning its own figures with the answered
    queries under "completed") and measure the server around it: its CPU (utime+stime of
    every thread) per answered query and the share of its CPU it kept busy, its wake-ups,
    robdns's batches, datagrams dropped at full socket buffers, and what the servers left
    idle beside it (others) did on the same CPU meanwhile."""
    pids = server.pids()
    other_pids = [p for o in others for p in o.pids()]
    udp0 = procfs.udp_counters()
    scraper = None
    if getattr(server, "http_port", None):
        scraper = Scraper(f"http://127.0.0.1:{server.http_port}/metrics").__enter__()
    batches0 = robdns_batches(server)
    sw0 = procfs.context_switches(pids)
    cpu0 = procfs.cpu_ticks(pids)
    sched0 = sched_ns(pids)
    idle0 = run_ns(other_pids), procfs.context_switches(other_pids)["voluntary"]
    perf = None
    if syscalls:
        perf = subprocess.Popen(perf_syscalls_command(pids, duration), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    res = client()
    cpu1 = procfs.cpu_ticks(pids)
    sched1 = sched_ns(pids)
    sw1 = procfs.context_switches(pids)
    idle1 = run_ns(other_pids), procfs.context_switches(other_pids)["voluntary"]
    batches1 = robdns_batches(server)
    if scraper:
        scraper.__exit__()
    udp1 = procfs.udp_counters()
    cpu_s = (cpu1 - cpu0) / procfs.CLK_TCK
    done = res["completed"]
    # the server's busiest thread (the one answering) over the client's run: its time on
    # the CPU, and that plus its time runnable but waiting for the CPU (another job had
    # it): ~1.0 when it always had queries to answer, whatever share of the CPU it got
    res["server_busy"], res["server_demand"] = busiest_thread(sched0, sched1, res.get("run_time_s"))
    res.update({
        "server_cpu_s": cpu_s,
        "cpu_us_per_query": cpu_s * 1e6 / done if done else None,
        "rcvbuf_errors": udp1.get("RcvbufErrors", 0) - udp0.get("RcvbufErrors", 0),
        # A thread blocked in recvmmsg (or epoll_wait) is switched out once per wake-up.
        "wakeups_per_query": (sw1["voluntary"] - sw0["voluntary"]) / done if done else None,
        # what the idle neighbours did meanwhile (their timers' wake-ups and CPU)
        "neighbours_cpu_ms": (idle1[0] - idle0[0]) / 1e6,
        "neighbours_wakeups": idle1[1] - idle0[1],
        "huge_kb": procfs.huge_kb(pids),
    })
    if batches0 is not None and batches1 is not None and batches1["batches"] > batches0["batches"]:
        res["queries_per_batch"] = done / (batches1["batches"] - batches0["batches"])
        holds = batches1["holds"] - batches0["holds"]
        res["holds_per_query"] = holds / done if done else None
        if holds:
            res["datagrams_per_hold"] = (batches1["hold_datagrams"] - batches0["hold_datagrams"]) / holds
    if perf:
        out, _ = perf.communicate(timeout=duration + 30)
        res["syscalls"] = parse_perf_stat(out)
        recv = sum(res["syscalls"].get(c, 0) for c in ("recvmmsg", "recvmsg", "recvfrom"))
        if recv and done:
            res["queries_per_recv_call"] = done / recv
    if scraper:
        res["scrapes"] = scraper.scrapes
    return res


def run_load(server, queries, duration, load, dnssec=False, syscalls=False, rate=40000,
             others=()):
    """One dnsperf run against server; others: the servers left running beside it (idle),
    whose CPU and wake-ups on the same CPU during the run are recorded too."""
    cmd = dnsperf_command(server.port, queries, duration, load, dnssec, rate)

    def client():
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
        res = parse_dnsperf(r.stdout + r.stderr)
        res["command"] = " ".join(cmd)
        return res
    return measure(server, others, client, duration, syscalls)


# dnsperf's queries (2.10, captured): RD set (RFC 1035 4.1.1), an ID of their own when sent,
# one question with the file's name as written, and with -D an OPT record (RFC 6891 6.1.2)
# advertising 4096 octets (dnsperf's MAX_EDNS_PACKET) with DO set (RFC 3225 3), no options.
DNSPERF_FLAGS = 0x0100
DNSPERF_EDNS_SIZE = 4096


def dnsperf_query(name, qtype, dnssec):
    """The query dnsperf sends for one line of its query file (ID 0)."""
    question = dns.name.from_text(name).to_wire() + struct.pack(
        "!HH", dns.rdatatype.from_text(qtype), dns.rdataclass.IN)
    header = struct.pack("!HHHHHH", 0, DNSPERF_FLAGS, 1, 0, 0, 1 if dnssec else 0)
    opt = struct.pack("!BHHBBHH", 0, dns.rdatatype.OPT, DNSPERF_EDNS_SIZE, 0, 0, 0x8000, 0) \
        if dnssec else b""
    return header + question + opt


def window_queries(queries_path, out_path, dnssec=False):
    """Every query of the query file as dnsperf builds it (dnsperf_query), each after one
    length octet (bench/window.c's input), written once per DO setting."""
    if os.path.exists(out_path) and os.path.getmtime(out_path) >= max(
            os.path.getmtime(queries_path), os.path.getmtime(__file__)):
        return out_path
    tmp = f"{out_path}.{os.getpid()}.tmp"      # two benches writing it at once: no torn file
    with open(queries_path) as f, open(tmp, "wb") as out:
        for line in f:
            if line.strip():
                name, qtype = line.split()
                wire = dnsperf_query(name, qtype, dnssec)
                out.write(bytes([len(wire)]) + wire)
    os.replace(tmp, out_path)
    return out_path


def build_window():
    """bench/window.c built (servers.build_c)."""
    return servers.build_c("window")


def parse_window(text):
    """bench/window.c's line of "key value" pairs -> dict: counts as int, the rest float,
    the RCODEs gathered under "rcodes" (as parse_dnsperf's) and the answered under
    "completed" (dnsperf's name)."""
    tokens = text.split()
    if len(tokens) < 2 or tokens[0] != "sent" or len(tokens) % 2:
        raise ValueError("no window summary in output:\n" + text[-600:])
    out = {"rcodes": {}}
    for key, value in zip(tokens[::2], tokens[1::2]):
        v = float(value) if "." in value else int(value)
        if key.startswith("rcode_"):
            out["rcodes"][key[len("rcode_"):]] = v
        else:
            out[key] = v
    out["completed"] = out["answered"]
    out["run_time_s"] = out["seconds"]
    out["avg_latency_s"] = out["latency_us_mean"] / 1e6
    secs = out["seconds"]
    out["client_busy"] = (out["cpu_user_s"] + out["cpu_sys_s"]) / secs if secs else None
    if "run_ns" in out and secs:            # its own schedstat: on its CPU, and waiting for it
        out["client_demand"] = (out["run_ns"] + out["wait_ns"]) / 1e9 / secs
    return out


def window_command(port, wire_path, duration, window=128, sockets=4, timeout_ms=1000,
                   count=10 ** 9):
    return ["taskset", "-c", str(CLIENT_CPU), build_window(), "127.0.0.1", str(port),
            str(window), str(sockets), str(duration), str(count), str(timeout_ms), wire_path]


def run_window(server, wire_path, duration, window=128, sockets=4, timeout_ms=1000,
               syscalls=False, others=()):
    """bench/window.c against server for `duration` seconds: `window` queries in flight
    over `sockets` sockets, as fast as the server answers them (its limit, not a client's)."""
    cmd = window_command(server.port, wire_path, duration, window, sockets, timeout_ms)

    def client():
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True)
        res = parse_window(r.stdout)
        res["command"] = " ".join(cmd)
        return res
    return measure(server, others, client, duration, syscalls)


def build_burst():
    """bench/burst.c built (servers.build_c)."""
    return servers.build_c("burst")


def burst_queries(queries_path, out_path, n=20000):
    """The first n queries of the query file in wire format, each after one length octet
    (bench/burst.c's input), written once."""
    if os.path.exists(out_path) and os.path.getmtime(out_path) >= os.path.getmtime(queries_path):
        return out_path
    with open(queries_path) as f, open(out_path + ".tmp", "wb") as out:
        for line, _ in zip(f, range(n)):
            name, qtype = line.split()
            wire = dns.message.make_query(name, qtype).to_wire()
            out.write(bytes([len(wire)]) + wire)
    os.replace(out_path + ".tmp", out_path)
    return out_path


def run_ns(pids):
    """Nanoseconds every thread of the processes has run (/proc/.../schedstat, first
    field): the ticks of utime+stime are 10 ms, too coarse for a burst run's ~0.2 s."""
    return sum(int(t.split()[0]) for t in procfs.task_files(pids, "schedstat"))


def sched_ns(pids):
    """{(pid, tid): (run, wait)} nanoseconds of every thread of the processes: time on a
    CPU and time runnable but waiting on a run queue for one (/proc/.../schedstat fields
    1 and 2).  On a shared host a server can be at its limit (always runnable) while
    running only part of the time: run + wait over the wall time says it was."""
    out = {}
    for pid, tid, text in procfs.task_items(pids, "schedstat"):
        fields = text.split()
        if len(fields) >= 2:        # empty when the thread exited while being read
            out[pid, tid] = int(fields[0]), int(fields[1])
    return out


def busiest_thread(before, after, seconds):
    """(busy, runnable): the thread of the server that ran most between two sched_ns()
    readings (its UDP worker at saturation), its time on the CPU and that plus its time
    waiting for the CPU, each over `seconds`; (None, None) without a thread or time."""
    deltas = [(after[k][0] - before[k][0], after[k][1] - before[k][1]) for k in after if k in before]
    if not deltas or not seconds:
        return None, None
    run, wait = max(deltas)
    return run / 1e9 / seconds, (run + wait) / 1e9 / seconds


def run_bursts(server, wire_path, burst, count):
    """bench/burst.c against the server: count queries in bursts of `burst`, each burst
    sent at once and all its answers awaited (the server wakes once a burst).  Server CPU
    per answered query and its wake-ups per burst."""
    pids = server.pids()
    ns0, sw0 = run_ns(pids), procfs.context_switches(pids)["voluntary"]
    cmd = ["taskset", "-c", str(CLIENT_CPU), build_burst(), str(server.port), str(burst),
           str(max(1, count // burst)), wire_path]
    # check: a client that failed says why, instead of an IndexError on its empty output
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout.split()
    ns1, sw1 = run_ns(pids), procfs.context_switches(pids)["voluntary"]
    answered, lost, seconds = int(out[1]), int(out[3]), float(out[5])
    return {"burst": burst, "answered": answered, "lost": lost, "seconds": seconds,
            "cpu_us_per_query": (ns1 - ns0) / 1e3 / answered if answered else None,
            "wakeups_per_burst": (sw1 - sw0) * burst / answered if answered else None}


def burst_fit(points):
    """Least squares of CPU per burst (µs/query x B) against B: (per burst, per datagram)
    in µs, or None with fewer than two burst sizes."""
    pts = [(b, us * b) for b, us in points if us is not None]
    if len({b for b, _ in pts}) < 2:
        return None
    mb = statistics.mean(b for b, _ in pts)
    mc = statistics.mean(c for _, c in pts)
    slope = sum((b - mb) * (c - mc) for b, c in pts) / sum((b - mb) ** 2 for b, _ in pts)
    return mc - slope * mb, slope


def response_shape(r):
    """What must match between servers: rcode, AA, the answer RRsets (owner, type, size)
    and, for answers without data (NXDOMAIN, NODATA, referral), the authority types.
    Authority NS on positive answers is left out: NSD adds it, Knot does not."""
    answer = sorted((rr.name.to_text().lower(), rr.rdtype, len(rr)) for rr in r.answer)
    authority = sorted(rr.rdtype for rr in r.authority) if not r.answer else []
    return r.rcode(), bool(r.flags & dns.flags.AA), answer, authority


def sample_check(srv, ref, queries_path, n=200, dnssec=False):
    """Send n queries from the query file to srv and to the reference (Knot); count the
    responses whose shape (response_shape) differs.  A fast server that
    answers wrongly would otherwise look good here."""
    with open(queries_path) as f:
        lines = [l.split() for l in f if l.strip()]
    rng = random.Random(7)
    differ = 0
    for name, qtype in rng.sample(lines, min(n, len(lines))):
        q = dns.message.make_query(name, qtype, want_dnssec=dnssec)
        try:
            a = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=1)
            b = dns.query.udp(q, "127.0.0.1", port=ref.port, timeout=1)
        except Exception:
            differ += 1
            continue
        if response_shape(a) != response_shape(b):
            differ += 1
    return differ




def build_echo_uring():
    """bench/echo_uring.c built (servers.build_c)."""
    return servers.build_c("echo_uring")


class EchoUring(servers.Echo):
    """echo@uring: the echo floor over io_uring (bench/echo_uring.c), beside echo.c's
    recvmmsg/sendmmsg: whether io_uring lowers the floor, before the server loop is ported."""

    def command(self):
        return [build_echo_uring(), "127.0.0.1", str(self.port)]


def split_name(name):
    """'robdns@signed+hold50' -> ('robdns', 'signed', 50): the server, its variant (the
    zone or feature; '' for none) and its server.udp_hold_us (None: the default).  A copy's
    '#N' (robdns#2, --copies) names another instance of the same server and is dropped."""
    kind, _, variant = name.split("#")[0].partition("@")
    parts = variant.split("+")
    holds = [int(p[len("hold"):]) for p in parts if p.startswith("hold")]
    rest = [p for p in parts if not p.startswith("hold")]
    return kind, rest[0] if rest else "", holds[0] if holds else None


RATE_MET = 0.98

# dnsperf at a fixed rate, dnsperf as fast as it can, bench/window.c as fast as the server can
LOADS = ("fixed", "saturation", "window")


def rate_met(run, rate):
    """True when the client of a fixed-rate run sent at least RATE_MET of the rate it asked
    for (dnsperf's queries sent over its run time): a run it could not drive says nothing of
    the server.  What was sent and not answered is the server's loss and stays counted
    (a run without those figures falls back to the answered rate)."""
    if run.get("sent") is not None and run.get("run_time_s"):
        return run["sent"] >= RATE_MET * rate * run["run_time_s"]
    return run.get("qps") is not None and run["qps"] >= RATE_MET * rate


def settle(srv, limit=20.0):
    """Wait until a fresh server is done with its start's background work: robdns's image
    moved into huge pages (its robdns-huge thread gone, lib/rd_huge.c; released 0.5 s after
    the last query of the start), then one quiet second for every server."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        names = [t.strip() for t in procfs.task_files(srv.pids(), "comm")]
        if not any(n.startswith("robdns-huge") for n in names):
            break
        time.sleep(0.1)
    time.sleep(1.0)


def median(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def robdns_copies(names):
    """The identical robdns instances among server names: robdns and its --copies
    robdns#2..#N (not a variant such as robdns@before, nor the pooled row)."""
    return [n for n in names if n.split("#")[0] == "robdns"]


def wanted_servers(a):
    """The servers a run measures, in order, from the parsed arguments: --servers, then
    the variants the options add (dnstap, scrape, before, copies, holds), each name once."""
    wanted = a.servers.split(",")
    wanted += [f"robdns@{v}" for v in ("dnstap", "scrape") if getattr(a, v)]
    if a.before:
        wanted.append("robdns@before")
    wanted += [f"robdns#{i}" for i in range(2, a.copies + 1)]
    # robdns@holdUS, and robdns@signed+holdUS beside robdns@signed: the same zone, another hold
    wanted += [f"{w}+hold{us}" if "@" in w else f"{w}@hold{us}"
               for w in [w for w in wanted if w in ("robdns", "robdns@signed")] for us in a.hold]
    # a name given twice (robdns@before in --servers and by --before) is one server: a
    # second instance under the same name was started, left unmeasured and never stopped
    return list(dict.fromkeys(wanted))


def main(argv=None):
    p = argparse.ArgumentParser(description="dnsperf: robdns vs Knot vs NSD vs echo.")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10, help="dnsperf -l seconds per run")
    p.add_argument("--servers", default="robdns,knot,nsd,echo",
                   help="comma-separated; NAME@signed serves the DNSSEC-signed copy of the zone; "
                        "echo@uring is the echo floor over io_uring")
    p.add_argument("--dnssec", action="store_true", help="queries with DO set (dnsperf -D)")
    p.add_argument("--nsec3", action="store_true", help="sign the @signed zone with NSEC3, not NSEC")
    p.add_argument("--reference", default="knot", help="the server the ratios divide by (default knot)")
    p.add_argument("--dnstap", action="store_true",
                   help="add robdns@dnstap: every query and response logged to fstrm_capture")
    p.add_argument("--scrape", action="store_true",
                   help="add robdns@scrape: /metrics fetched once a second during each run")
    p.add_argument("--hold", type=int, action="append", default=[], metavar="US",
                   help="add robdns@holdUS: server.udp_hold_us US (repeatable), beside robdns as configured")
    p.add_argument("--before", metavar="CHECKOUT",
                   help="add robdns@before: robdns from this checkout's in-place build (e.g. /work/wt/base)")
    p.add_argument("--copies", type=int, default=1, metavar="N",
                   help="N identical robdns instances (robdns, robdns#2 .. robdns#N), each measured "
                        "and reported: how far two instances of the same tree differ")
    p.add_argument("--fresh", action="store_true",
                   help="start each server for each of its runs, alone on its CPU (the others "
                        "stopped): no idle neighbour, no instance measured twice")
    p.add_argument("--loads", default="fixed,saturation,window",
                   help="which of fixed (dnsperf -Q RATE), saturation (dnsperf) and window "
                        "(bench/window.c's saturation) to run")
    # 128, not dnsperf's 500: a server at its limit has the whole window queued on its socket,
    # and Knot's and the echo's (the default 208 KiB) hold ~170 small datagrams: at 500 they
    # dropped ~300 a second, each a slot of the window gone for the timeout (at 128: none);
    # 128 is still two of robdns's 64-datagram batches, so the server never waits
    p.add_argument("--window", type=int, default=128, metavar="W",
                   help="queries bench/window.c keeps in flight (default 128)")
    p.add_argument("--window-sockets", type=int, default=4, metavar="S",
                   help="bench/window.c's sockets (source ports; default 4, as dnsperf -c 4)")
    p.add_argument("--window-timeout-ms", type=int, default=1000, metavar="MS",
                   help="bench/window.c: an answer later than this is lost (default 1000)")
    p.add_argument("--rate", type=int, default=40000, help="qps of the fixed load (default 40000)")
    p.add_argument("--bursts", default="", metavar="B,B",
                   help="also, each round, bench/burst.c's closed loop at each burst size: server "
                        "CPU per query when every wake-up finds exactly B queries (e.g. 1,2,4,8)")
    p.add_argument("--burst-queries", type=int, default=16000,
                   help="queries per burst run (default 16000)")
    p.add_argument("--syscalls", action="store_true",
                   help="count the servers' receive/send/wait calls with perf stat during each run "
                        "(tracepoints: a small cost of their own, so not for the CPU figures)")
    p.add_argument("--json", default=os.path.join(servers.OUT, "qps_bench.json"))
    p.add_argument("--report", metavar="JSON", help="only print the tables of a saved run")
    a = p.parse_args(argv)
    if a.report:
        with open(a.report) as f:
            print(report(json.load(f)))
        return 0

    zone = os.path.join(servers.OUT, "bench100k.zone")
    queries = os.path.join(servers.OUT, "bench100k.queries")
    genzone.ensure(100000, zone, queries)
    serial = servers.zone_serial(zone)
    wanted = wanted_servers(a)
    notes = []
    if any(split_name(w)[0] == "robdns" for w in wanted) and not servers.robdns_serve_available():
        wanted = [w for w in wanted if split_name(w)[0] != "robdns"]
        notes.append("robdns not measured: the daemon (`robdns serve`) has not landed on this checkout")
    zones = {"": zone, "dnstap": zone, "scrape": zone, "before": zone, "uring": zone}
    if any(w.endswith("@signed") for w in wanted):
        signed = os.path.join(servers.OUT, "bench100k.nsec3.signed" if a.nsec3 else "bench100k.signed")
        if not os.path.exists(signed):
            print(f"signing {zone} -> {signed} (once)", file=sys.stderr)
        genzone.ensure_signed(zone, signed, ORIGIN, a.nsec3)
        zones["signed"] = signed
    classes = {"robdns": servers.Robdns, "knot": servers.Knot, "nsd": servers.NSD, "echo": servers.Echo}
    extra = {"knot": {"workers": 1}, "nsd": {"servers": 1}, "robdns": {"workers": 1}}
    facts = procfs.machine_facts()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    running = {}
    collector = None
    loads = [l for l in a.loads.split(",") if l]
    if set(loads) - set(LOADS):
        p.error(f"--loads: one of {', '.join(LOADS)}")
    results = {name: {load: [] for load in LOADS} for name in wanted}
    bursts = [int(b) for b in a.bursts.split(",") if b.strip()]
    burst_rows = {name: {str(b): [] for b in bursts} for name in wanted}
    wire = burst_queries(queries, os.path.join(servers.OUT, "bench100k.burstq")) if bursts else None
    window_wire = None
    if "window" in loads:
        window_wire = window_queries(queries, os.path.join(
            servers.OUT, "bench100k.windowq" + (".do" if a.dnssec else "")), a.dnssec)

    def start(name):
        nonlocal collector
        kind, variant, hold = split_name(name)
        options = dict(extra.get(kind, {}))
        if hold is not None:
            options["udp_hold_us"] = hold
        if variant == "dnstap":
            if collector is None:
                collector = servers.FstrmCapture(cpu=CLIENT_CPU).start()
            options["dnstap"] = "unix:" + collector.sock
        elif variant == "scrape":
            options["http_port"] = servers.free_port()
        if variant == "before":
            srv = servers.RobdnsCheckout(a.before, zones[variant], ORIGIN, cpu=SERVER_CPU, **options)
        elif kind == "echo" and variant == "uring":
            srv = EchoUring(zones[variant], ORIGIN, cpu=SERVER_CPU, **options)
        else:
            srv = classes[kind](zones[variant], ORIGIN, cpu=SERVER_CPU, **options)
        running[name] = srv.start()
        srv.wait_answer(limit=120, serial=None if kind == "echo" else serial)
        return srv

    try:
        for name in wanted:
            start(name)
        checks = {}
        if a.reference in running:
            ref_variant = split_name(a.reference)[1]
            for name in running:
                if name != a.reference and not name.startswith("echo") \
                        and zones[split_name(name)[1]] == zones[ref_variant]:
                    checks[name] = sample_check(running[name], running[a.reference], queries,
                                                dnssec=a.dnssec)
        if a.fresh:              # the sample check above had every server; now one at a time
            for name in list(running):
                running.pop(name).stop()
        order = list(wanted)
        for rnd in range(a.rounds):
            for name in order:
                if a.fresh:
                    settle(start(name))
                for b in bursts:
                    burst_rows[name][str(b)].append(run_bursts(running[name], wire, b, a.burst_queries))
                for load in loads:
                    others = [s for n, s in running.items() if n != name]
                    if load == "window":
                        results[name][load].append(run_window(
                            running[name], window_wire, a.duration, a.window, a.window_sockets,
                            a.window_timeout_ms, a.syscalls, others))
                        continue
                    results[name][load].append(run_load(running[name], queries, a.duration, load,
                                                        a.dnssec, a.syscalls, a.rate, others))
                if a.fresh:
                    running.pop(name).stop()
            order = order[1:] + order[:1]   # rotate so no server always goes first
            print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)
    finally:
        for srv in running.values():
            srv.stop()
        if collector:
            collector.stop()

    # A fixed-rate run that dnsperf could not drive at the rate (its CPU taken by another
    # job of the host: 9-31k of 40k seen) measured another load, where each wake-up finds
    # fewer queries: it is shown per round but left out of the medians.
    short = {name: sum(1 for r in loads["fixed"] if not rate_met(r, a.rate)) for name, loads in results.items()}
    for name, n in short.items():
        if n:
            notes.append(f"{name}: {n} of {len(results[name]['fixed'])} runs at the fixed load sent less "
                         f"than {RATE_MET:.0%} of {a.rate} qps (the client starved: dnsperf sent too little) and are left out of the medians")
    keys = ("qps", "completed", "lost", "cpu_us_per_query", "rcvbuf_errors", "server_cpu_s",
            "avg_latency_s", "wakeups_per_query", "queries_per_batch", "queries_per_recv_call",
            "holds_per_query", "datagrams_per_hold", "neighbours_cpu_ms", "neighbours_wakeups", "huge_kb",
            "server_busy", "server_demand", "client_busy", "client_demand", "mismatched", "latency_us_median", "latency_us_p99",
            "send_batch_mean", "recv_batch_mean", "response_bytes_mean")
    copies = robdns_copies(wanted)
    pooled = []
    if len(copies) > 1:
        # the figure to quote: every run of every instance, so it depends on no one
        # instance (which of several identical ones is named "robdns" is chance)
        pooled = [f"robdns (x{len(copies)})"]
        results[pooled[0]] = {load: [r for n in copies for r in results[n][load]]
                              for load in LOADS}
    med = {name: {load: {k: median([r for r in rows if load != "fixed" or rate_met(r, a.rate)], k)
                         for k in keys}
                  for load, rows in loads.items()}
           for name, loads in results.items()}
    data = {"date": started, "machine": facts, "command": " ".join(sys.argv), "rounds": a.rounds,
            "fresh": a.fresh,
            "duration": a.duration, "servers": wanted + pooled, "pooled": pooled,
            "runs": results, "median": med,
            "sample_check": checks, "notes": notes, "reference": a.reference, "dnssec": a.dnssec,
            "zones": zones, "rate": a.rate, "bursts": burst_rows,
            "window": {"queries": a.window, "sockets": a.window_sockets,
                       "timeout_ms": a.window_timeout_ms}}
    servers.print_and_save(report(data), data, a.json)
    return 0


def report(data):
    """The markdown table (and notes) of one run, from the dict saved as JSON."""
    med, facts = data["median"], data["machine"]
    refname = data.get("reference", "knot")
    knot = med.get(refname)

    def vs_knot(name, load, key):
        if not knot or med[name][load].get(key) is None or not knot[load].get(key):
            return "—"
        return f"{med[name][load][key] / knot[load][key]:.2f}x"

    at = f"@{data.get('rate', 40000) // 1000}k"
    lines = [
        f"{data['date']}; {facts['nproc']} x {facts['cpu']}, kernel {facts['kernel']}, load average "
        f"{' '.join(facts['loadavg'])} at start; {data['rounds']} rounds x {data['duration']} s, median; "
        f"servers on CPU {SERVER_CPU}, dnsperf on CPU {CLIENT_CPU}",
        "",
        f"| server | qps {at} | CPU µs/query {at} | vs {refname} | lost {at} | latency µs {at} "
        f"| qps @saturation | vs {refname} | CPU µs/query @sat | vs {refname} | lost @sat |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def per(load, key, fmt="{:.2f}", scale=1):
        v = load.get(key)            # None: not measured (a load left out with --loads)
        return "—" if v is None else fmt.format(v * scale)
    for name in data["servers"]:
        f_, s_ = med[name]["fixed"], med[name]["saturation"]
        lines.append(
            f"| {name} | {per(f_, 'qps', '{:.0f}')} | {per(f_, 'cpu_us_per_query')} | {vs_knot(name, 'fixed', 'cpu_us_per_query')} | "
            f"{per(f_, 'lost', '{:.0f}')} | {per(f_, 'avg_latency_s', '{:.0f}', 1e6)} | {per(s_, 'qps', '{:.0f}')} | "
            f"{vs_knot(name, 'saturation', 'qps')} | {per(s_, 'cpu_us_per_query')} | "
            f"{vs_knot(name, 'saturation', 'cpu_us_per_query')} | {per(s_, 'lost', '{:.0f}')} |")
    if not any(n.startswith("robdns") for n in data["servers"]):
        lines.append("| robdns | not measured | not measured | — | — | — | not measured | — | not measured | — | — |")
    if data["sample_check"]:
        lines += ["", "Sample check (200 queries from the query file; rcode, AA, answer RRsets, "
                  f"negative/referral authority types{', DO set' if data.get('dnssec') else ''} vs {refname}): " +
                  ", ".join(f"{n}: {d} differ" for n, d in data["sample_check"].items())]
    if any(med[n]["fixed"].get("wakeups_per_query") is not None for n in data["servers"]):
        lines += ["", "Wake-ups (voluntary context switches of the server's threads) per answered "
                  "query; answered queries per recvmmsg/recvmsg call (perf stat, with --syscalls) "
                  "and per robdns batch, robdns's holds per query and datagrams per hold (its own "
                  "counters):", "",
                  f"| server | wake-ups/query {at} | per recv call {at} | per batch {at} | holds/query {at} "
                  f"| per hold {at} | wake-ups/query @sat | per recv call @sat | per batch @sat | holds/query @sat |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name in data["servers"]:
            f_, s_ = med[name]["fixed"], med[name]["saturation"]
            lines.append(f"| {name} | {per(f_, 'wakeups_per_query')} | {per(f_, 'queries_per_recv_call')} "
                         f"| {per(f_, 'queries_per_batch')} | {per(f_, 'holds_per_query')} "
                         f"| {per(f_, 'datagrams_per_hold')} | {per(s_, 'wakeups_per_query')} "
                         f"| {per(s_, 'queries_per_recv_call')} | {per(s_, 'queries_per_batch')} "
                         f"| {per(s_, 'holds_per_query')} |")
    lines += window_report(data)
    lines += instance_report(data)
    lines += burst_report(data)
    lines += ["", "Per round (qps, CPU µs/query, lost), in run order:", ""]
    for name in data["servers"]:
        for load in LOADS:
            rows = data["runs"][name].get(load)
            if not rows or name in data.get("pooled", ()):
                continue                # a load left out (--loads), or the copies' runs again
            lines.append(f"- {name} {load}: " + "; ".join(
                f"{r['qps']:.0f} qps, {r['cpu_us_per_query']:.2f} µs, {r['lost']} lost"
                + (f", server {r['server_busy']:.0%} busy" if r.get("server_busy") is not None else "")
                + (f", client {r['client_busy']:.0%}" if r.get("client_busy") is not None else "")
                for r in rows))
    for n in data["notes"]:
        lines.append(f"\nNote: {n}.")
    return "\n".join(lines)


def window_report(data):
    """The window table: each server driven by bench/window.c to its own limit (CPU per
    query and rate vs the reference; how busy the server's CPU and the client's were, so
    a reader sees which one set the rate), beside how busy dnsperf's saturation kept it."""
    med = data["median"]
    if not any(med[n].get("window", {}).get("qps") is not None for n in data["servers"]):
        return []
    refname = data.get("reference", "knot")
    ref = med.get(refname, {}).get("window", {})
    w = data.get("window", {})

    def per(load, key, fmt="{:.2f}", scale=1):
        v = load.get(key)
        return "—" if v is None else fmt.format(v * scale)

    def vs(load, key):
        return f"{load[key] / ref[key]:.2f}x" if load.get(key) is not None and ref.get(key) else "—"
    lines = ["", f"Saturation at the server's limit: bench/window.c on CPU {CLIENT_CPU} keeps "
             f"{w.get('queries', '?')} queries in flight over {w.get('sockets', '?')} sockets "
             "(sendmmsg/recvmmsg batches), the same queries as dnsperf's"
             f"{' (DO set)' if data.get('dnssec') else ''}; an answer later than "
             f"{w.get('timeout_ms', '?')} ms is lost. Busy: time on the CPU over the run's "
             "seconds (the server's busiest thread; the client), then / that plus the time "
             "runnable waiting for the CPU (another job had it): a server at its limit is "
             "~100% there and has ~0 wake-ups (it never waited for a query); a client with "
             "room to spare is below 100%. dnsperf's saturation beside it; median of rounds:", "",
             f"| server | qps | vs {refname} | CPU µs/query | vs {refname} | server busy / runnable "
             "| wake-ups/query | client busy / runnable | lost | mismatched | latency µs median "
             "| p99 | per batch | server busy / runnable under dnsperf @sat |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def busy(load, key):
        b, d = load.get(key + "_busy"), load.get(key + "_demand")
        return "—" if b is None else f"{b:.0%}" + ("" if d is None else f" / {d:.0%}")
    for name in data["servers"]:
        r, s_ = med[name].get("window", {}), med[name].get("saturation", {})
        lines.append(f"| {name} | {per(r, 'qps', '{:.0f}')} | {vs(r, 'qps')} "
                     f"| {per(r, 'cpu_us_per_query')} | {vs(r, 'cpu_us_per_query')} "
                     f"| {busy(r, 'server')} | {per(r, 'wakeups_per_query', '{:.3f}')} "
                     f"| {busy(r, 'client')} "
                     f"| {per(r, 'lost', '{:.0f}')} | {per(r, 'mismatched', '{:.0f}')} "
                     f"| {per(r, 'latency_us_median', '{:.0f}')} | {per(r, 'latency_us_p99', '{:.0f}')} "
                     f"| {per(r, 'queries_per_batch', '{:.1f}')} | {busy(s_, 'server')} |")
    return lines


def instance_report(data):
    """Each server's image in 2 MiB pages and what the servers left idle beside it did
    during its runs (their CPU and wake-ups on the same CPU; none with --fresh), and with
    several identical robdns instances (--copies) how far their CPU per query spreads."""
    med = data["median"]
    at = f"@{data.get('rate', 40000) // 1000}k"
    if not any(med[n][l].get("huge_kb") is not None for n in data["servers"] for l in med[n]):
        return []                 # a run saved before these were recorded
    lines = ["", "Huge pages (AnonHugePages + FilePmdMapped, kB) of each server during its runs; "
             "CPU ms and wake-ups of the other servers, idle on the same CPU, during each run"
             + (" (--fresh: none running)" if data.get("fresh") else "") + ":", "",
             f"| server | huge kB | neighbours' CPU ms {at} | neighbours' wake-ups {at} "
             "| neighbours' CPU ms @sat | neighbours' wake-ups @sat |", "|---|---|---|---|---|---|"]

    def per(load, key, fmt):
        v = load.get(key)
        return "—" if v is None else fmt.format(v)
    for name in data["servers"]:
        f_, s_ = med[name]["fixed"], med[name]["saturation"]
        lines.append(f"| {name} | {per(f_ if f_.get('huge_kb') is not None else s_, 'huge_kb', '{:.0f}')} "
                     f"| {per(f_, 'neighbours_cpu_ms', '{:.1f}')} | {per(f_, 'neighbours_wakeups', '{:.0f}')} "
                     f"| {per(s_, 'neighbours_cpu_ms', '{:.1f}')} | {per(s_, 'neighbours_wakeups', '{:.0f}')} |")
    copies = robdns_copies(data["servers"])
    if len(copies) > 1:
        for load in ("fixed", "saturation"):
            vals = [med[n][load].get("cpu_us_per_query") for n in copies]
            if all(v is not None for v in vals):
                # each instance's own rounds: a spread between instances no wider than this
                # is the rounds' noise, not a slower instance (the medians' runs only)
                own = [max(r) / min(r) for r in (
                    [x["cpu_us_per_query"] for x in data.get("runs", {}).get(n, {}).get(load, [])
                     if x.get("cpu_us_per_query") and (load != "fixed" or "qps" not in x
                                                       or rate_met(x, data.get("rate", 40000)))]
                    for n in copies) if len(r) > 1]
                lines.append(f"\nIdentical robdns instances ({', '.join(copies)}), CPU µs/query "
                             f"{at if load == 'fixed' else '@sat'}: min {min(vals):.2f}, max {max(vals):.2f}, "
                             f"max/min {max(vals) / min(vals):.3f}"
                             + (f"; one instance's rounds max/min, median {statistics.median(own):.3f}"
                                if own else "") + "; their runs together: the row robdns (x%d)" % len(copies))
    return lines


def burst_report(data):
    """The --bursts table: median server CPU µs per answered query at each burst size, the
    wake-ups per burst, and the least-squares split into per burst + per datagram."""
    rows = data.get("bursts") or {}
    sizes = sorted({int(b) for loads in rows.values() for b, runs in loads.items() if runs})
    if not sizes:
        return []
    refname = data.get("reference", "knot")
    lines = ["", "Closed-loop bursts (bench/burst.c on CPU %d: B queries sent at once, all answers "
             "awaited, so each wake-up of the server finds exactly B): server CPU µs per answered "
             "query (schedstat), median of rounds; per burst and per datagram µs by least squares "
             "of CPU per burst against B:" % CLIENT_CPU, "",
             "| server | " + " | ".join(f"B={b}" for b in sizes)
             + " | wake-ups/burst | per burst µs | per datagram µs | per datagram vs %s |" % refname,
             "|---|" + "---|" * (len(sizes) + 4)]
    fits = {}
    for name in data["servers"]:
        loads = rows.get(name, {})
        us = {b: median(loads.get(str(b), []), "cpu_us_per_query") for b in sizes}
        fits[name] = burst_fit(list(us.items()))
    ref_fit = fits.get(refname)
    for name in data["servers"]:
        loads = rows.get(name, {})
        us = {b: median(loads.get(str(b), []), "cpu_us_per_query") for b in sizes}
        wake = median([r for b in sizes for r in loads.get(str(b), [])], "wakeups_per_burst")
        fit = fits[name]
        ratio = (f"{fit[1] / ref_fit[1]:.2f}x" if fit and ref_fit and ref_fit[1] > 0 else "—")
        lines.append(f"| {name} | " + " | ".join("—" if us[b] is None else f"{us[b]:.2f}" for b in sizes)
                     + f" | {'—' if wake is None else f'{wake:.2f}'} | "
                     + (f"{fit[0]:.2f} | {fit[1]:.2f}" if fit else "— | —") + f" | {ratio} |")
    lost = {n: sum(r["lost"] for runs in rows.get(n, {}).values() for r in runs) for n in data["servers"]}
    lines += ["", "Lost in the burst runs: " + ", ".join(f"{n} {v}" for n, v in lost.items())]
    return lines


if __name__ == "__main__":
    sys.exit(main())
