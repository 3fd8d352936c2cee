#!/usr/bin/env python3
# tcp_bench.py — DNS over TCP on loopback: CPU per answered query and qps of robdns and Knot, each with one TCP worker, and robdns' control socket under the load.
"""robdns (workers: 1) and knotd (tcp-workers 1) serve the 100k-record bench zone on
127.0.0.1, each pinned to CPU 0; the clients run on CPU 1.  Per round (servers rotated)
and per server:

- dnsperf -m tcp -c 4:   4 long-lived connections, queries pipelined (-q 500 in flight);
- the same at a fixed 20,000 qps (-Q 20000): below saturation each read holds few
  queries, so the per-turn costs (epoll_wait, read, sendmsg) are shared by fewer answers;
- dnsperf -m tcp -c 100: 100 connections, the same;
- conn-per-query: bench/tcpcpq.c (compiled into bench/out/) keeps 32 connections in
  flight, each opened, asked one query, read and closed with RST, over and over (bounded
  by --cpq-count and the run's duration), so that the server and not the client sets the
  rate.

Server CPU is utime+stime of every thread of the server's process tree
(/proc/PID/task/*/stat) before and after each run; divided by the answered queries it
gives CPU microseconds per query.  Wake-ups per query: context switches of those threads
(voluntary_ctxt_switches + nonvoluntary_ctxt_switches in /proc/PID/task/*/status) per
answered query; latency: dnsperf's average (the connection-per-query client reports
none).  During the -c 100 run of robdns, `robdns ctl status`
is timed every 0.2 s over the control socket (the control plane is Python on an event
loop, the TCP answers are C threads: it must stay responsive).  Medians over rounds;
ratios vs Knot.

    python3 bench/tcp_bench.py                         # 3 rounds x 10 s
    python3 bench/tcp_bench.py --rounds 1 --duration 3 # a quick check that it works
    python3 bench/tcp_bench.py --baseline /work/main   # also robdns@base: another checkout's build
    python3 bench/tcp_bench.py --holds 0,200           # also robdns with server.tcp.hold_us 0, 200
"""

import argparse
import datetime
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

import dns.message
import dns.query

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genzone    # noqa: E402
import procfs     # noqa: E402
import qps_bench  # noqa: E402
import servers    # noqa: E402

ORIGIN = genzone.DEFAULT_ORIGIN
SERVER_CPU = 0
CLIENT_CPU = 1
LOADS = ("c4", "c4q20k", "c100", "cpq")
RATE_QPS = 20000            # the fixed rate of the c4q20k load


def dnsperf_tcp(port, queries, duration, clients, qps=None):
    return ["taskset", "-c", str(CLIENT_CPU), "dnsperf", "-m", "tcp", "-s", "127.0.0.1",
            "-p", str(port), "-d", queries, "-l", str(duration), "-T", "1",
            "-c", str(clients), "-q", "500"] + (["-Q", str(qps)] if qps else [])


def wakeups(pids):
    """Context switches of every thread of the given processes: a thread that blocks in
    epoll_wait and is woken again counts one, so this counts the server's wake-ups."""
    return sum(procfs.context_switches(pids).values())


def time_ctl_status(control, stop, out):
    """Time `status` requests on the control socket until stop is set."""
    from robdns import ctl
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            ok = ctl.request(control, "status", timeout=30).get("ok")
        except Exception as e:          # a failure is a figure too
            ok = f"error: {e}"
        out.append((time.perf_counter() - t0, ok))
        stop.wait(0.2)


CPQ_BIN = os.path.join(servers.OUT, "tcpcpq")
CPQ_INFLIGHT = 32


def build_cpq():
    """Compile bench/tcpcpq.c (the connection-per-query client) into bench/out/."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcpcpq.c")
    os.makedirs(servers.OUT, exist_ok=True)
    if not os.path.exists(CPQ_BIN) or os.path.getmtime(CPQ_BIN) < os.path.getmtime(src):
        subprocess.run(["cc", "-O2", "-Wall", "-o", CPQ_BIN, src], check=True)
    return CPQ_BIN


def conn_per_query(port, wires, duration, count, inflight=CPQ_INFLIGHT):
    """Connect, ask one query, read its answer, close (with RST), with `inflight`
    connections at once so that the server sets the rate; until `count` queries or
    `duration` seconds.  Returns (answered, seconds, failures)."""
    qfile = os.path.join(servers.OUT, "tcpcpq.queries")
    with open(qfile, "wb") as f:
        for w in wires:
            f.write(struct.pack("!H", len(w)) + w)
    cmd = ["taskset", "-c", str(CLIENT_CPU), build_cpq(), "127.0.0.1", str(port), qfile,
           str(inflight), str(count), str(duration)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    f = r.stdout.split()
    if r.returncode != 0 or len(f) < 8:
        raise RuntimeError(f"tcpcpq failed: {r.stdout} {r.stderr}")
    return int(f[1]), float(f[7]), int(f[3])


def run(server, load, queries, wires, duration, cpq_count, ctl_times=None):
    pids = server.pids()
    cpu0, wake0 = procfs.cpu_ticks(pids), wakeups(pids)
    stop = threading.Event()
    timer = None
    if ctl_times is not None:
        timer = threading.Thread(target=time_ctl_status, args=(server.control, stop, ctl_times))
        timer.start()
    try:
        if load == "cpq":
            answered, secs, failures = conn_per_query(server.port, wires, duration, cpq_count)
            res = {"completed": answered, "lost": failures, "qps": answered / secs if secs else 0,
                   "command": f"bench/tcpcpq.c, {CPQ_INFLIGHT} connections in flight, {duration} s or {cpq_count} queries"}
        else:
            cmd = dnsperf_tcp(server.port, queries, duration, 100 if load == "c100" else 4,
                              RATE_QPS if load == "c4q20k" else None)
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
            res = qps_bench.parse_dnsperf(r.stdout + r.stderr)
            res["command"] = " ".join(cmd)
    finally:
        stop.set()
        if timer:
            timer.join()
    cpu_s = (procfs.cpu_ticks(pids) - cpu0) / procfs.CLK_TCK
    woken = wakeups(pids) - wake0
    res["server_cpu_s"] = cpu_s
    res["cpu_us_per_query"] = cpu_s * 1e6 / res["completed"] if res["completed"] else None
    res["wakeups_per_query"] = woken / res["completed"] if res["completed"] else None
    return res


class RobdnsAt(servers.Robdns):
    """robdns served from another checkout (its own in-place build): the same run compares
    a change with the build it started from."""

    def __init__(self, checkout, *args, **kw):
        super().__init__(*args, **kw)
        self.checkout = os.path.abspath(checkout)

    def env(self):
        env = super().env()
        env["PYTHONPATH"] = self.checkout + os.pathsep + env["PYTHONPATH"]
        return env


def sample_check_tcp(srv, ref, queries_path, n=200):
    """n queries over TCP to srv and to the reference: how many answers differ in shape."""
    with open(queries_path) as f:
        lines = [l.split() for l in f if l.strip()]
    differ = 0
    for name, qtype in random.Random(7).sample(lines, min(n, len(lines))):
        q = dns.message.make_query(name, qtype)
        try:
            a = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=2)
            b = dns.query.tcp(q, "127.0.0.1", port=ref.port, timeout=2)
        except Exception:
            differ += 1
            continue
        if qps_bench.response_shape(a) != qps_bench.response_shape(b):
            differ += 1
    return differ


def main(argv=None):
    p = argparse.ArgumentParser(description="DNS over TCP: robdns vs Knot, one TCP worker each.")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10, help="seconds per run")
    p.add_argument("--cpq-count", type=int, default=200000,
                   help="most queries of one connection-per-query run")
    p.add_argument("--servers", default="robdns,knot")
    p.add_argument("--loads", default=",".join(LOADS),
                   help=f"which of {','.join(LOADS)} to run")
    p.add_argument("--baseline", metavar="CHECKOUT",
                   help="also run robdns@base: robdns from this checkout's in-place build")
    p.add_argument("--holds", default="", metavar="US,US",
                   help="also run robdns with server.tcp.hold_us at each of these values "
                        "(\"robdns hold=N\"; 0 wakes for every turn, as before the hold)")
    p.add_argument("--json", default=os.path.join(servers.OUT, "tcp_bench.json"))
    a = p.parse_args(argv)

    zone = os.path.join(servers.OUT, "bench100k.zone")
    queries = os.path.join(servers.OUT, "bench100k.queries")
    genzone.ensure(100000, zone, queries)
    serial = servers.zone_serial(zone)
    with open(queries) as f:
        lines = [l.split() for l in f if l.strip()]
    wires = [dns.message.make_query(n, t).to_wire() for n, t in random.Random(3).sample(lines, 5000)]
    holds = [int(h) for h in a.holds.split(",") if h.strip()]
    wanted = (a.servers.split(",") + (["robdns@base"] if a.baseline else [])
              + [f"robdns hold={h}" for h in holds])
    loads = [l for l in LOADS if l in a.loads.split(",")]
    # Enough room for dnsperf's 100 connections from one address (a client address may
    # hold a quarter of max_connections).
    make = {"robdns": lambda: servers.Robdns(zone, ORIGIN, cpu=SERVER_CPU, workers=1,
                                             tcp={"max_connections": 4096, "idle_timeout": 10}),
            "robdns@base": lambda: RobdnsAt(a.baseline, zone, ORIGIN, cpu=SERVER_CPU, workers=1,
                                            tcp={"max_connections": 4096, "idle_timeout": 10}),
            "knot": lambda: servers.Knot(zone, ORIGIN, cpu=SERVER_CPU, workers=1)}
    for h in holds:
        make[f"robdns hold={h}"] = (lambda h=h: servers.Robdns(
            zone, ORIGIN, cpu=SERVER_CPU, workers=1,
            tcp={"max_connections": 4096, "idle_timeout": 10, "hold_us": h}))
    facts = procfs.machine_facts()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    running, results, ctl_times = {}, {n: {l: [] for l in loads} for n in wanted}, []
    checks = {}
    try:
        for name in wanted:
            running[name] = make[name]().start()
            running[name].wait_answer(limit=120, serial=serial)
        if "knot" in running:
            for name in running:
                if name != "knot":
                    checks[name] = sample_check_tcp(running[name], running["knot"], queries)
        order = list(wanted)
        for rnd in range(a.rounds):
            for name in order:
                for load in loads:
                    timed = ctl_times if (name == "robdns" and load == "c100") else None
                    results[name][load].append(run(running[name], load, queries, wires,
                                                   a.duration, a.cpq_count, timed))
            order = order[1:] + order[:1]
            print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)
    finally:
        for srv in running.values():
            srv.stop()

    def med(rows, key):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    medians = {n: {l: {k: med(rows, k) for k in ("qps", "completed", "lost", "cpu_us_per_query",
                                                     "wakeups_per_query", "avg_latency_s")}
                   for l, rows in per_load.items()} for n, per_load in results.items()}
    lat = sorted(t for t, ok in ctl_times if ok is True)
    ctl = {"requests": len(ctl_times), "failed": sum(1 for _, ok in ctl_times if ok is not True),
           "median_ms": statistics.median(lat) * 1000 if lat else None,
           "max_ms": lat[-1] * 1000 if lat else None}
    data = {"date": started, "machine": facts, "command": " ".join(sys.argv), "rounds": a.rounds,
            "duration": a.duration, "servers": wanted, "loads": loads, "runs": results, "median": medians,
            "sample_check": checks, "ctl_status_under_c100": ctl}
    servers.print_and_save(report(data), data, a.json)
    return 0


def report(data):
    med, facts = data["median"], data["machine"]
    knot = med.get("knot")

    def ratio(name, load, key):
        if not knot or med[name][load][key] is None or not knot[load][key]:
            return "—"
        return f"{med[name][load][key] / knot[load][key]:.2f}x"

    lines = [f"{data['date']}; {facts['nproc']} x {facts['cpu']}, kernel {facts['kernel']}, load "
             f"average {' '.join(facts['loadavg'])} at start; {data['rounds']} rounds x "
             f"{data['duration']} s, median; servers on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU}",
             "",
             "| server | load | qps | vs knot | CPU µs/query | vs knot | wake-ups/query | latency µs | lost |",
             "|---|---|---|---|---|---|---|---|---|"]
    names = {"c4": "dnsperf -m tcp -c 4", "c4q20k": f"dnsperf -m tcp -c 4 -Q {RATE_QPS}", "c100": "dnsperf -m tcp -c 100", "cpq": "connection per query"}
    for load in data["loads"]:
        for name in data["servers"]:
            m = med[name][load]
            cpu = "—" if m["cpu_us_per_query"] is None else f"{m['cpu_us_per_query']:.2f}"
            wake = "—" if m.get("wakeups_per_query") is None else f"{m['wakeups_per_query']:.2f}"
            lat = "—" if m.get("avg_latency_s") is None else f"{m['avg_latency_s'] * 1e6:.0f}"
            lines.append(f"| {name} | {names[load]} | {m['qps'] or 0:.0f} | {ratio(name, load, 'qps')} "
                         f"| {cpu} | {ratio(name, load, 'cpu_us_per_query')} | {wake} | {lat} "
                         f"| {m['lost'] or 0:.0f} |")
    c = data["ctl_status_under_c100"]
    if c["requests"]:
        lines += ["", f"`robdns ctl status` during robdns' -c 100 runs: {c['requests']} requests, "
                  f"{c['failed']} failed, median {c['median_ms']:.1f} ms, max {c['max_ms']:.1f} ms."]
    if data["sample_check"]:
        lines += ["", "Sample check over TCP (200 queries; rcode, AA, answer RRsets, negative/referral "
                  "authority types vs knot): " + ", ".join(f"{n}: {d} differ"
                                                          for n, d in data["sample_check"].items())]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
