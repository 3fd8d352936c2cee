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
    python3 bench/tcp_bench.py --pipeline-holds 0,300  # ... with server.tcp.pipeline_hold_us 0, 300
    python3 bench/tcp_bench.py --nagle-rtts 200        # ... with server.tcp.nagle_rtt_us 200
    sudo python3 bench/tcp_bench.py --netns --loads c4q20k,c4 --perf

--netns (root): the servers run in a network namespace of their own with one end of a
veth pair (198.18.0.1, tests/netns.py), and every load runs twice in the same round: over
loopback from the servers' namespace (the rows of before) and over the veth from a
client namespace ("/veth" rows).  On both paths the sender's transmit runs the
receiver's TCP input in its own softirq (loopback_xmit and veth_xmit both end in
netif_rx), so the server still pays for delivering its answers; over the veth the packets
also cross a device and a neighbour lookup, as from a real client.  Every run also
gives the server's user and system time per query and the softirq time of the server's
CPU per query (/proc/stat, tick-sampled and charged for whatever runs there: rough).
--rps adds "veth-rps" rows: the client's veth end with Receive Packet Steering to the
client's CPU, so that the TCP input of the answers and dnsperf's wake-up run there (via
the backlog and an IPI), as on a client's own NIC, instead of in the server's send.
--perf adds, after the rounds, one run per server and load under `perf stat -p` (not
used for the CPU columns): system calls, NET_RX softirqs run in the server's threads,
and wake-ups made from them, per answered query.
"""

import argparse
import contextlib
import datetime
import os
import random
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
import xfr_bench  # noqa: E402  (user_sys_seconds)

ORIGIN = genzone.DEFAULT_ORIGIN
SERVER_CPU = 0
CLIENT_CPU = 1
LOADS = ("c4", "c4q20k", "c100", "cpq")
RATE_QPS = 20000            # the fixed rate of the c4q20k load


def dnsperf_tcp(port, queries, duration, clients, qps=None, addr="127.0.0.1", netns=None):
    """dnsperf's command (inside network namespace `netns` when given)."""
    inside = ["ip", "netns", "exec", netns] if netns else []
    return inside + ["taskset", "-c", str(CLIENT_CPU), "dnsperf", "-m", "tcp", "-s", addr,
                     "-p", str(port), "-d", queries, "-l", str(duration), "-T", "1",
                     "-c", str(clients), "-q", "500"] + (["-Q", str(qps)] if qps else [])


class Path:
    """Where a load's client runs: loopback in `netns` (None: this namespace) to
    127.0.0.1, or from the veth's client namespace to the server's veth address.
    rps: (namespace, interface, cpu) whose receive queue is steered to cpu for the load."""

    def __init__(self, name, addr="127.0.0.1", netns=None, rps=None):
        self.name, self.addr, self.netns, self.rps = name, addr, netns, rps

    def steer(self, on):
        """Receive Packet Steering of the client's veth end to the client's CPU, or off
        (mask 0: processed where netif_rx ran, i.e. in the sender's context)."""
        if self.rps:
            ns, ifname, cpu = self.rps
            mask = f"{1 << cpu:x}" if on else "0"
            subprocess.run(["ip", "netns", "exec", ns, "sh", "-c",
                            f"echo {mask} > /sys/class/net/{ifname}/queues/rx-0/rps_cpus"],
                           check=True, timeout=20)


LOOPBACK = Path("lo")


def in_netns(cls, ns, addr):
    """cls (a servers.Server) run inside network namespace ns, listening on addr too."""
    class InNetns(cls):
        listen_addrs = ("127.0.0.1", addr)

        def command(self):
            return ["ip", "netns", "exec", ns] + super().command()

        def wait_answer(self, *a, **kw):
            with netns_mod().inside(ns):
                return super().wait_answer(*a, **kw)
    InNetns.name = cls.name
    return InNetns


def netns_mod():
    """tests/netns.py (VethPair, inside): imported only for --netns (it needs pytest)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "tests"))
    import netns
    return netns


def softirq_ticks(cpu):
    """The softirq column of `cpu` in /proc/stat (USER_HZ ticks): with tick accounting a
    tick that lands in a softirq counts there and in the interrupted task's stime."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                return int(line.split()[7])
    return 0


PERF_EVENTS = (("syscalls", ["-e", "raw_syscalls:sys_enter"]),
               ("NET_RX softirqs", ["-e", "irq:softirq_entry", "--filter", "vec == 3"]),
               ("wakings", ["-e", "sched:sched_waking"]))


def perf_stat_cmd(pids, seconds):
    cmd = ["perf", "stat", "-x", ";", "--no-big-num", "-p", ",".join(map(str, pids))]
    for _, ev in PERF_EVENTS:
        cmd += ev
    return cmd + ["--", "sleep", str(seconds)]


def parse_perf(text):
    """perf stat -x ';' output -> {label: count} in PERF_EVENTS order."""
    counts = [int(line.split(";")[0]) for line in text.splitlines()
              if line.count(";") >= 2 and line.split(";")[0].strip().isdigit()]
    if len(counts) != len(PERF_EVENTS):
        raise RuntimeError(f"perf stat: {text[-1000:]}")
    return {label: c for (label, _), c in zip(PERF_EVENTS, counts)}


def wakeups(pids):
    """Context switches of every thread of the given processes: a thread that blocks in
    epoll_wait and is woken again counts one, so this counts the server's wake-ups."""
    return sum(procfs.context_switches(pids).values())


def time_ctl_status(control, stop, out):
    """Time `status` requests on the control socket until stop is set."""
    # this checkout's client: the bench runs from bench/, where robdns is not on the
    # path unless the package was installed (the quiet pass of 2026-12-03 lost the figure)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from robdns import ctl
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            ok = ctl.request(control, "status", timeout=30).get("ok")
        except Exception as e:          # a failure is a figure too
            ok = f"error: {e}"
        out.append((time.perf_counter() - t0, ok))
        stop.wait(0.2)


CPQ_INFLIGHT = 32


def build_cpq():
    """bench/tcpcpq.c (the connection-per-query client) built (servers.build_c)."""
    return servers.build_c("tcpcpq")


def path_prefix(path):
    return ["ip", "netns", "exec", path.netns] if path.netns else []


def conn_per_query(port, wires, duration, count, inflight=CPQ_INFLIGHT, path=LOOPBACK):
    """Connect, ask one query, read its answer, close (with RST), with `inflight`
    connections at once so that the server sets the rate; until `count` queries or
    `duration` seconds.  Returns (answered, seconds, failures)."""
    qfile = os.path.join(servers.OUT, "tcpcpq.queries")
    with open(qfile, "wb") as f:
        for w in wires:
            f.write(struct.pack("!H", len(w)) + w)
    cmd = path_prefix(path) + ["taskset", "-c", str(CLIENT_CPU), build_cpq(), path.addr,
                               str(port), qfile, str(inflight), str(count), str(duration)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    f = r.stdout.split()
    if r.returncode != 0 or len(f) < 8:
        raise RuntimeError(f"tcpcpq failed: {r.stdout} {r.stderr}")
    return int(f[1]), float(f[7]), int(f[3])


def run(server, load, queries, wires, duration, cpq_count, ctl_times=None, path=LOOPBACK,
        perf=False):
    pids = server.pids()
    cpu0, wake0 = procfs.cpu_ticks(pids), wakeups(pids)
    us0, sirq0 = xfr_bench.user_sys_seconds(pids), softirq_ticks(SERVER_CPU)
    counter = None
    if perf:    # counts over the load's seconds (the load ends first: dnsperf -l)
        counter = subprocess.Popen(perf_stat_cmd(pids, duration), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    timer = None
    if ctl_times is not None:
        timer = threading.Thread(target=time_ctl_status, args=(server.control, stop, ctl_times))
        timer.start()
    try:
        if load == "cpq":
            answered, secs, failures = conn_per_query(server.port, wires, duration, cpq_count,
                                                      path=path)
            res = {"completed": answered, "lost": failures, "qps": answered / secs if secs else 0,
                   "command": f"bench/tcpcpq.c, {CPQ_INFLIGHT} connections in flight, {duration} s or {cpq_count} queries"}
        else:
            cmd = dnsperf_tcp(server.port, queries, duration, 100 if load == "c100" else 4,
                              RATE_QPS if load == "c4q20k" else None, path.addr, path.netns)
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
            res = qps_bench.parse_dnsperf(r.stdout + r.stderr)
            res["command"] = " ".join(cmd)
    finally:
        stop.set()
        if timer:
            timer.join()
        if counter:
            _, err = counter.communicate(timeout=duration + 30)
    cpu_s = (procfs.cpu_ticks(pids) - cpu0) / procfs.CLK_TCK
    woken = wakeups(pids) - wake0
    us1, sirq1 = xfr_bench.user_sys_seconds(pids), softirq_ticks(SERVER_CPU)
    n = res["completed"]
    res["server_cpu_s"] = cpu_s
    res["cpu_us_per_query"] = cpu_s * 1e6 / n if n else None
    res["wakeups_per_query"] = woken / n if n else None
    res["user_us_per_query"] = (us1[0] - us0[0]) * 1e6 / n if n else None
    res["sys_us_per_query"] = (us1[1] - us0[1]) * 1e6 / n if n else None
    res["softirq_us_per_query"] = (sirq1 - sirq0) / procfs.CLK_TCK * 1e6 / n if n else None
    if counter:
        res["perf_per_query"] = {k: v / n if n else None for k, v in parse_perf(err).items()}
    return res


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
    p.add_argument("--pipeline-holds", default="", metavar="US,US",
                   help="also run robdns with server.tcp.pipeline_hold_us at each of these "
                        "values (\"robdns phold=N\"; 0: turns of open connections not held)")
    p.add_argument("--nagle-rtts", default="", metavar="US,US",
                   help="also run robdns with server.tcp.nagle_rtt_us at each of these values "
                        "(\"robdns nagle=N\"; 0: answers never held for the client's next segment)")
    p.add_argument("--netns", action="store_true",
                   help="servers in a network namespace of their own; every load also over "
                        "a veth pair from a client namespace (root)")
    p.add_argument("--rps", action="store_true",
                   help="with --netns, also every load over the veth with the client end's "
                        "receive steered to the client's CPU (RPS): \"veth-rps\" rows")
    p.add_argument("--perf", action="store_true",
                   help="after the rounds, one more run per server and load under perf stat: "
                        "system calls, NET_RX softirqs and wakings per query")
    p.add_argument("--json", default=os.path.join(servers.OUT, "tcp_bench.json"))
    a = p.parse_args(argv)
    if a.rps and not a.netns:
        p.error("--rps needs --netns")
    if a.netns and os.geteuid() != 0:
        p.error("--netns needs root (network namespaces)")

    zone = os.path.join(servers.OUT, "bench100k.zone")
    queries = os.path.join(servers.OUT, "bench100k.queries")
    genzone.ensure(100000, zone, queries)
    serial = servers.zone_serial(zone)
    with open(queries) as f:
        lines = [l.split() for l in f if l.strip()]
    wires = [dns.message.make_query(n, t).to_wire() for n, t in random.Random(3).sample(lines, 5000)]
    holds = [int(h) for h in a.holds.split(",") if h.strip()]
    pholds = [int(h) for h in a.pipeline_holds.split(",") if h.strip()]
    nagles = [int(h) for h in a.nagle_rtts.split(",") if h.strip()]
    wanted = (a.servers.split(",") + (["robdns@base"] if a.baseline else [])
              + [f"robdns hold={h}" for h in holds] + [f"robdns phold={h}" for h in pholds]
              + [f"robdns nagle={h}" for h in nagles])
    loads = [l for l in LOADS if l in a.loads.split(",")]
    pair, paths = None, [LOOPBACK]
    robdns_cls, knot_cls, base_cls = servers.Robdns, servers.Knot, servers.RobdnsCheckout
    if a.netns:
        pair = netns_mod().VethPair()
        pair.setup()
        paths = [Path("lo", netns=pair.server_ns),
                 Path("veth", pair.server_v4, pair.client_ns)]
        if a.rps:
            paths.append(Path("veth-rps", pair.server_v4, pair.client_ns,
                              rps=(pair.client_ns, pair.client_if, CLIENT_CPU)))
        robdns_cls, knot_cls, base_cls = (in_netns(c, pair.server_ns, pair.server_v4)
                                          for c in (robdns_cls, knot_cls, base_cls))
    keys = [(load, path, load if path.name == "lo" else f"{load}/{path.name}")
            for load in loads for path in paths]
    # Enough room for dnsperf's 100 connections from one address (a client address may
    # hold a quarter of max_connections).
    make = {"robdns": lambda: robdns_cls(zone, ORIGIN, cpu=SERVER_CPU, workers=1,
                                         tcp={"max_connections": 4096, "idle_timeout": 10}),
            "robdns@base": lambda: base_cls(a.baseline, zone, ORIGIN, cpu=SERVER_CPU, workers=1,
                                            tcp={"max_connections": 4096, "idle_timeout": 10}),
            "knot": lambda: knot_cls(zone, ORIGIN, cpu=SERVER_CPU, workers=1)}
    for h in holds:
        make[f"robdns hold={h}"] = (lambda h=h: robdns_cls(
            zone, ORIGIN, cpu=SERVER_CPU, workers=1,
            tcp={"max_connections": 4096, "idle_timeout": 10, "hold_us": h}))
    for h in pholds:
        make[f"robdns phold={h}"] = (lambda h=h: robdns_cls(
            zone, ORIGIN, cpu=SERVER_CPU, workers=1,
            tcp={"max_connections": 4096, "idle_timeout": 10, "pipeline_hold_us": h}))
    for h in nagles:
        make[f"robdns nagle={h}"] = (lambda h=h: robdns_cls(
            zone, ORIGIN, cpu=SERVER_CPU, workers=1,
            tcp={"max_connections": 4096, "idle_timeout": 10, "nagle_rtt_us": h}))
    facts = procfs.machine_facts()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    running, ctl_times = {}, []
    results = {n: {k: [] for _, _, k in keys} for n in wanted}
    perf = {n: {} for n in wanted}
    checks = {}
    try:
        for name in wanted:
            running[name] = make[name]().start()
            running[name].wait_answer(limit=120, serial=serial)
        if "knot" in running:
            with (netns_mod().inside(pair.server_ns) if pair else contextlib.nullcontext()):
                for name in running:
                    if name != "knot":
                        checks[name] = sample_check_tcp(running[name], running["knot"], queries)
        order = list(wanted)
        for rnd in range(a.rounds):
            for name in order:
                for load, path, key in keys:
                    timed = (ctl_times if (name == "robdns" and load == "c100"
                                           and path.name == "lo") else None)
                    path.steer(True)
                    try:
                        results[name][key].append(run(running[name], load, queries, wires,
                                                      a.duration, a.cpq_count, timed, path))
                    finally:
                        path.steer(False)
            order = order[1:] + order[:1]
            print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)
        if a.perf:
            for name in wanted:
                for load, path, key in keys:
                    path.steer(True)
                    try:
                        perf[name][key] = run(running[name], load, queries, wires, a.duration,
                                              a.cpq_count, None, path, perf=True)
                    finally:
                        path.steer(False)
    finally:
        for srv in running.values():
            srv.stop()
        if pair:
            pair.teardown()

    def med(rows, key):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    medians = {n: {l: {k: med(rows, k) for k in ("qps", "completed", "lost", "cpu_us_per_query",
                                                     "wakeups_per_query", "avg_latency_s",
                                                     "user_us_per_query", "sys_us_per_query",
                                                     "softirq_us_per_query")}
                   for l, rows in per_load.items()} for n, per_load in results.items()}
    lat = sorted(t for t, ok in ctl_times if ok is True)
    ctl = {"requests": len(ctl_times), "failed": sum(1 for _, ok in ctl_times if ok is not True),
           "median_ms": statistics.median(lat) * 1000 if lat else None,
           "max_ms": lat[-1] * 1000 if lat else None}
    data = {"date": started, "machine": facts, "command": " ".join(sys.argv), "rounds": a.rounds,
            "duration": a.duration, "servers": wanted, "loads": [k for _, _, k in keys],
            "runs": results, "median": medians, "perf": perf if a.perf else {},
            "netns": bool(a.netns), "sample_check": checks, "ctl_status_under_c100": ctl}
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
             "| server | load | qps | vs knot | CPU µs/query | vs knot | user / sys µs/query | "
             "softirq µs/query (server CPU, rough) | wake-ups/query | latency µs | lost |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    names = {"c4": "dnsperf -m tcp -c 4", "c4q20k": f"dnsperf -m tcp -c 4 -Q {RATE_QPS}", "c100": "dnsperf -m tcp -c 100", "cpq": "connection per query"}

    def label(key):
        load, _, path = key.partition("/")
        return names[load] + (f" over {path}" if path else " (loopback)" if data.get("netns") else "")

    def num(m, key, fmt="{:.2f}"):
        return "—" if m.get(key) is None else fmt.format(m[key])

    for load in data["loads"]:
        for name in data["servers"]:
            m = med[name][load]
            lat = "—" if m.get("avg_latency_s") is None else f"{m['avg_latency_s'] * 1e6:.0f}"
            lines.append(f"| {name} | {label(load)} | {m['qps'] or 0:.0f} | {ratio(name, load, 'qps')} "
                         f"| {num(m, 'cpu_us_per_query')} | {ratio(name, load, 'cpu_us_per_query')} "
                         f"| {num(m, 'user_us_per_query')} / {num(m, 'sys_us_per_query')} "
                         f"| {num(m, 'softirq_us_per_query')} | {num(m, 'wakeups_per_query')} | {lat} "
                         f"| {m['lost'] or 0:.0f} |")
    if data.get("perf"):
        lines += ["", "One more run per server and load under `perf stat -p SERVER` (its CPU "
                  "figures not used above), per answered query:", "",
                  "| server | load | " + " | ".join(label for label, _ in PERF_EVENTS) + " |",
                  "|---|---|" + "---|" * len(PERF_EVENTS)]
        for load in data["loads"]:
            for name in data["servers"]:
                pq = data["perf"][name][load]["perf_per_query"]
                lines.append(f"| {name} | {label(load)} | "
                             + " | ".join(num(pq, lbl) for lbl, _ in PERF_EVENTS) + " |")
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
