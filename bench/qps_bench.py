#!/usr/bin/env python3
# qps_bench.py — dnsperf on loopback: CPU per answered query, qps and losses of robdns, Knot, NSD and the echo floor.
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
- saturation: dnsperf -l DURATION -c 4 -q 500 -b 4096 (as fast as the server answers)

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
import subprocess
import sys
import threading
import time
import urllib.request

import dns.flags
import dns.message
import dns.query

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


def run_load(server, queries, duration, load, dnssec=False, syscalls=False, rate=40000,
             others=()):
    """One dnsperf run against server; others: the servers left running beside it (idle),
    whose CPU and wake-ups on the same CPU during the run are recorded too."""
    pids = server.pids()
    other_pids = [p for o in others for p in o.pids()]
    udp0 = procfs.udp_counters()
    scraper = None
    if getattr(server, "http_port", None):
        scraper = Scraper(f"http://127.0.0.1:{server.http_port}/metrics").__enter__()
    batches0 = robdns_batches(server)
    sw0 = procfs.context_switches(pids)
    cpu0 = procfs.cpu_ticks(pids)
    idle0 = run_ns(other_pids), procfs.context_switches(other_pids)["voluntary"]
    cmd = dnsperf_command(server.port, queries, duration, load, dnssec, rate)
    perf = None
    if syscalls:
        perf = subprocess.Popen(perf_syscalls_command(pids, duration), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    cpu1 = procfs.cpu_ticks(pids)
    sw1 = procfs.context_switches(pids)
    idle1 = run_ns(other_pids), procfs.context_switches(other_pids)["voluntary"]
    batches1 = robdns_batches(server)
    if scraper:
        scraper.__exit__()
    udp1 = procfs.udp_counters()
    res = parse_dnsperf(r.stdout + r.stderr)
    cpu_s = (cpu1 - cpu0) / procfs.CLK_TCK
    done = res["completed"]
    res.update({
        "server_cpu_s": cpu_s,
        "cpu_us_per_query": cpu_s * 1e6 / done if done else None,
        "rcvbuf_errors": udp1.get("RcvbufErrors", 0) - udp0.get("RcvbufErrors", 0),
        # A thread blocked in recvmmsg (or epoll_wait) is switched out once per wake-up.
        "wakeups_per_query": (sw1["voluntary"] - sw0["voluntary"]) / done if done else None,
        "command": " ".join(cmd),
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
    p.add_argument("--loads", default="fixed,saturation",
                   help="which of fixed (dnsperf -Q RATE) and saturation to run")
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
    results = {name: {"fixed": [], "saturation": []} for name in wanted}
    bursts = [int(b) for b in a.bursts.split(",") if b.strip()]
    burst_rows = {name: {str(b): [] for b in bursts} for name in wanted}
    wire = burst_queries(queries, os.path.join(servers.OUT, "bench100k.burstq")) if bursts else None

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
                for load in [l for l in a.loads.split(",") if l]:
                    others = [s for n, s in running.items() if n != name]
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
            "holds_per_query", "datagrams_per_hold", "neighbours_cpu_ms", "neighbours_wakeups", "huge_kb")
    copies = robdns_copies(wanted)
    pooled = []
    if len(copies) > 1:
        # the figure to quote: every run of every instance, so it depends on no one
        # instance (which of several identical ones is named "robdns" is chance)
        pooled = [f"robdns (x{len(copies)})"]
        results[pooled[0]] = {load: [r for n in copies for r in results[n][load]]
                              for load in ("fixed", "saturation")}
    med = {name: {load: {k: median([r for r in rows if load != "fixed" or rate_met(r, a.rate)], k)
                         for k in keys}
                  for load, rows in loads.items()}
           for name, loads in results.items()}
    data = {"date": started, "machine": facts, "command": " ".join(sys.argv), "rounds": a.rounds,
            "fresh": a.fresh,
            "duration": a.duration, "servers": wanted + pooled, "pooled": pooled,
            "runs": results, "median": med,
            "sample_check": checks, "notes": notes, "reference": a.reference, "dnssec": a.dnssec,
            "zones": zones, "rate": a.rate, "bursts": burst_rows}
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
    lines += instance_report(data)
    lines += burst_report(data)
    lines += ["", "Per round (qps, CPU µs/query, lost), in run order:", ""]
    for name in data["servers"]:
        for load in ("fixed", "saturation"):
            rows = data["runs"][name][load]
            if not rows or name in data.get("pooled", ()):
                continue                # a load left out (--loads), or the copies' runs again
            lines.append(f"- {name} {load}: " + "; ".join(
                f"{r['qps']:.0f} qps, {r['cpu_us_per_query']:.2f} µs, {r['lost']} lost" for r in rows))
    for n in data["notes"]:
        lines.append(f"\nNote: {n}.")
    return "\n".join(lines)


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
