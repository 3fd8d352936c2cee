#!/usr/bin/env python3
"""xdp_bench — kxdpgun offering UDP load over a veth pair to robdns's AF_XDP workers and to
Knot in XDP mode, in the same run, on the same setup.

    sudo python3 bench/xdp_bench.py [--qps 340000] [--duration 5] [--rounds 3] [--records 100000]
                                    [--families 4 6] [--queues 1] [--before CHECKOUT]

Topology: two network namespaces (tests/netns.py), server end of the veth pair with the
server's XDP program, client end with the load generator.  The load goes to the server's
IPv4 and/or IPv6 address (--families).  With one queue (the default) kxdpgun offers it from
CPU 0 and the server's one worker runs on CPU 1.

With --queues N both veth ends get N RX/TX queues (`ip link add ... numrxqueues N
numtxqueues N`) and the server gets N workers (robdns: one per queue; Knot: udp-workers N),
worker i pinned to CPU i modulo the CPU count (Knot pins its UDP worker i so itself).  A
veth hands a frame to the peer's RX queue numbered like the TX queue it was sent on.
Knot 3.2 and kxdpgun size their XDP sockets by the interface's combined channel count
(libknot knot_eth_queues), which a veth does not report (it has separate RX and TX
counts): Knot said "initialized XDP interface ... queues 1" on a 2-queue veth and served
queue 0 only, and kxdpgun sent on one queue.  For N > 1 both therefore run with
bench/veth_channels.c preloaded, which reports the veth's N paired RX/TX queues as N
combined channels (nothing else changes): kxdpgun then sends from N threads (thread i on
CPU i, queue i) and Knot opens N XDP sockets; the bench checks Knot's log says "queues
N".  Each row also gives how many of the server's threads did at least 10% of its CPU
(every queue served: N).  --generator dnsperf offers the load from kernel UDP sockets
instead (spread over the TX queues by flow hash); it costs far more client CPU per query
than kxdpgun and shares the cores with the server: do not compare runs with different
generators.  Several --qps values sweep the offered load; a line per family then gives
each server's best responses/s over the sweep and the ratio of the two (on a small
machine a server past its capacity answers less than at it: the sending threads share
its cores).
Figures per server: responses/s as kxdpgun counts them, and server CPU per
response = the server process's user+system time over the run (from /proc/PID/stat) /
responses.  Both servers serve the same zone, asked the same query file.  --before
CHECKOUT adds "robdns before": robdns imported from another checkout's in-place build
(e.g. /work/wt/base), measured in the same rounds, so that a change to the worker is
compared with the code before it and with Knot in one run.  Each robdns row also gives the
worker's RX frames per batch and per poll() sleep (its counters; "—" where a checkout does
not count sleeps).  Prints a Markdown table (paste into bench/RESULTS.md).
"""

import argparse
import ast
import functools
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from netns import VethPair  # noqa: E402
import procfs  # noqa: E402
from qps_bench import parse_dnsperf  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
CLIENT_CPU = 0          # kxdpgun's CPU
ORIGIN = "bench.test."          # bench/genzone.py's default origin


def make_zone(tmp, records):
    """The benchmark zone and query file of the other benches (bench/genzone.py)."""
    zone, queries = os.path.join(tmp, "bench.zone"), os.path.join(tmp, "bench.queries")
    subprocess.run([sys.executable, os.path.join(HERE, "genzone.py"), "--records", str(records),
                    "--zone", zone, "--queries", queries], check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    with open(queries) as f:
        first = f.readline().split()
    return zone, queries, first


def cpu_times(pid):
    """(user, system) CPU seconds of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def thread_ticks(pid):
    """{tid: utime+stime ticks} of every thread of a process (procfs.parse_stat: a thread's
    stat line starts with its own id)."""
    out = {}
    for text in procfs.task_files([pid], "stat"):
        st = procfs.parse_stat(text)
        out[st["pid"]] = st["utime"] + st["stime"]
    return out


def busy_threads(before, after, share=0.10):
    """How many threads did at least `share` of the process's CPU between two samples."""
    delta = [after[t] - before.get(t, 0) for t in after]
    total = sum(delta)
    return sum(1 for d in delta if total and d >= share * total)


VETH_CHANNELS = os.path.join(HERE, "out", "veth_channels.so")


def build_veth_channels():
    """Compile bench/veth_channels.c (Knot's view of a veth's queues) into bench/out/."""
    src = os.path.join(HERE, "veth_channels.c")
    if not os.path.exists(VETH_CHANNELS) or os.path.getmtime(VETH_CHANNELS) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(VETH_CHANNELS), exist_ok=True)
        subprocess.run(["cc", "-O2", "-Wall", "-shared", "-fPIC", "-o", VETH_CHANNELS, src,
                        "-ldl"], check=True)
    return VETH_CHANNELS


ROBDNS_SERVER = """
import sys
from robdns import _core, xdp
db = _core.Database([_core.compile_zone(sys.argv[2], sys.argv[3])], max_udp_payload=1232)
cpus = [int(c) for c in sys.argv[4].split(",")]
cfg = xdp.parse_xdp_config({"interface": sys.argv[1], "mode": "native", "queues": len(cpus)})
w = xdp.start_xdp_workers(cfg, db, cpus=cpus)
print("ready", w.info, flush=True)
sys.stdin.read()          # until the bench closes our stdin
print(w.counters(), flush=True)
w.stop()
"""

KNOT_CONF = """
server:
    rundir: "{tmp}"
    user: root:root
    udp-workers: {queues}
    tcp-workers: 1
    background-workers: 1
    listen: {addr}@5300
xdp:
    listen: {ifname}@53
    udp: on
    tcp: off
database:
    storage: "{tmp}/db"
log:
  - target: stderr
    any: info
zone:
  - domain: {origin}
    file: "{zone}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
"""


def wait_ready(proc, timeout=60):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r} {proc.stderr.read()[-2000:]}")
    return line


def server_cpus(queues):
    """The server's CPUs: CPU 1 for one queue (kxdpgun has CPU 0); for N queues worker i on
    CPU i modulo the CPU count, where Knot 3.2 pins its UDP worker i itself (its threads'
    Cpus_allowed_list under `taskset -c 0,1`: 0 and 1), so both servers' workers share
    each CPU with the same sending thread."""
    n = os.cpu_count() or 1
    if queues == 1:
        return [1 % n]
    return [i % n for i in range(queues)]


def wait_answer(pair, probe, family, timeout=60):
    """Until the server answers over `family` (this also fills the client's neighbour
    table, which kxdpgun reads for the server's MAC)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = pair.run(pair.client_ns, ["kdig", "+timeout=1", "+retry=0",
                                      f"@{pair.server_addr(family)}", *probe], timeout=10)
        if "->>HEADER<<-" in r.stdout:
            return
        time.sleep(0.3)
    raise RuntimeError("server never answered")


def kxdpgun(pair, qfile, qps, duration, family, queues=1):
    argv = ["kxdpgun", "-t", str(duration), "-Q", str(qps), "-F", str(CLIENT_CPU), "-i", qfile,
            pair.server_addr(family)]
    if queues > 1:      # one sending thread per queue (libknot's count, as for Knot)
        argv = ["env", f"LD_PRELOAD={build_veth_channels()}"] + argv
    r = pair.run(pair.client_ns, argv, timeout=duration + 60)
    out = r.stdout + r.stderr
    sent = re.search(r"total queries:\s+(\d+)", out)
    replies = re.search(r"total replies:\s+(\d+)", out)
    if not sent or not replies:
        raise RuntimeError(f"kxdpgun failed: {out[-2000:]}")
    return int(sent.group(1)), int(replies.group(1)), out


def dnsperf(pair, qfile, qps, duration, family, queues):
    """Kernel-socket load: 8 sockets per queue so that flow hashing reaches every queue;
    4 MiB socket buffers so that replies are not lost at dnsperf's own sockets."""
    r = pair.run(pair.client_ns, ["dnsperf", "-s", pair.server_addr(family), "-d", qfile,
                                  "-l", str(duration), "-Q", str(qps), "-T", str(queues),
                                  "-c", str(8 * queues), "-q", "1000", "-b", "4096"],
                 timeout=duration + 60)
    res = parse_dnsperf(r.stdout + r.stderr)
    return res["sent"], res["completed"], r.stdout


def generate(generator, pair, qfile, qps, duration, family, queues):
    if generator == "kxdpgun":
        return kxdpgun(pair, qfile, qps, duration, family, queues)
    return dnsperf(pair, qfile, qps, duration, family, queues)


def measure(pair, pid, qfile, qps, duration, family, queues, generator):
    (u0, s0), t0, th0 = cpu_times(pid), time.monotonic(), thread_ticks(pid)
    sent, replies, out = generate(generator, pair, qfile, qps, duration, family, queues)
    (u1, s1), wall, th1 = cpu_times(pid), time.monotonic() - t0, thread_ticks(pid)
    cpu = (u1 - u0) + (s1 - s0)
    return {"sent": sent, "replies": replies, "rps": replies / duration,
            "busy_threads": busy_threads(th0, th1),
            "cpu_s": cpu, "user_share": (u1 - u0) / cpu if cpu else 0.0,
            "us_per_resp": cpu / replies * 1e6 if replies else float("nan"), "wall": wall}


def worker_counters(tail):
    """The counters dict robdns's server script prints last (None if it printed none)."""
    for line in reversed(tail.strip().splitlines()):
        if line.startswith("{"):
            try:
                return ast.literal_eval(line)
            except (ValueError, SyntaxError):
                return None
    return None


def per_sleep(c):
    """RX frames per batch and per poll() sleep of the workers' counters (a sleep is a
    wake-up; None where the checkout does not count them)."""
    if not c:
        return None, None
    batch = c["rx_frames"] / c["batches"] if c.get("batches") else None
    sleep = c["rx_frames"] / c["polls"] if c.get("polls") else None
    return batch, sleep


def bench_robdns(pair, zone, qfile, probe, qps, duration, tmp, family, queues, generator,
                 checkout=ROOT):
    cpus = ",".join(map(str, server_cpus(queues)))
    proc = subprocess.Popen(["ip", "netns", "exec", pair.server_ns, sys.executable, "-c",
                             ROBDNS_SERVER, pair.server_if, ORIGIN, zone, cpus],
                            cwd=checkout, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    r = None
    try:
        wait_ready(proc)
        wait_answer(pair, probe, family)
        r = measure(pair, proc.pid, qfile, qps, duration, family, queues, generator)
        return r
    finally:
        proc.stdin.close()
        tail = proc.stdout.read()
        proc.wait(30)
        print(f"robdns counters ({checkout}):", tail.strip(), file=sys.stderr)
        if r is not None:
            # counted from the server's start: the probe's few frames are in them too
            r["frames_per_batch"], r["frames_per_sleep"] = per_sleep(worker_counters(tail))


def bench_knot(pair, zone, qfile, probe, qps, duration, tmp, family, queues, generator):
    os.makedirs(f"{tmp}/db", exist_ok=True)
    conf = os.path.join(tmp, "knot.conf")
    with open(conf, "w") as f:
        f.write(KNOT_CONF.format(tmp=tmp, ifname=pair.server_if, zone=zone, addr=pair.server_v4,
                                 origin=ORIGIN, queues=queues))
    cpus = ",".join(map(str, sorted(set(server_cpus(queues)))))
    env = dict(os.environ)
    if queues > 1:      # its XDP sockets on every queue of the veth (bench/veth_channels.c)
        env["LD_PRELOAD"] = build_veth_channels()
    log = open(os.path.join(tmp, "knot.log"), "w+")
    proc = subprocess.Popen(["ip", "netns", "exec", pair.server_ns, "taskset", "-c", cpus,
                             "knotd", "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=log, text=True, env=env)
    try:
        wait_answer(pair, probe, family)
        log.seek(0)
        text = log.read()
        bound = re.search(r"initialized XDP interface \S+, UDP port \d+, queues (\d+)", text)
        if not bound or int(bound.group(1)) != queues:
            raise RuntimeError(f"Knot did not bind {queues} XDP queue(s): {text[-2000:]}")
        return measure(pair, proc.pid, qfile, qps, duration, family, queues, generator)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def median_or_none(values):
    v = [x for x in values if x is not None]
    return median(v) if v else None


def fmt1(v):
    return "—" if v is None else f"{v:.1f}"


def frames_note(r):
    if r.get("frames_per_batch") is None:
        return ""
    return (f", {fmt1(r['frames_per_batch'])} frames/batch, "
            f"{fmt1(r.get('frames_per_sleep'))} frames/sleep")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--qps", type=int, nargs="+", default=[340000])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--families", type=int, nargs="+", choices=(4, 6), default=[4, 6],
                    help="offer the load to the server's IPv4 and/or IPv6 address")
    ap.add_argument("--queues", type=int, default=1,
                    help="RX/TX queues of each veth end; one server worker per queue")
    ap.add_argument("--generator", choices=("auto", "kxdpgun", "dnsperf"), default="auto",
                    help="load generator; auto: kxdpgun")
    ap.add_argument("--before", metavar="CHECKOUT",
                    help='add "robdns before": robdns from this checkout\'s in-place build')
    args = ap.parse_args()
    if not 1 <= args.queues <= 64:
        ap.error("--queues must be 1..64")
    if args.generator == "auto":
        args.generator = "kxdpgun"
    if os.geteuid() != 0:
        sys.exit("xdp_bench: needs root (network namespaces, XDP)")
    for tool in (args.generator, "knotd", "kdig", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"xdp_bench: {tool} not found (apt-get install knot knot-dnsutils)")
    servers = [("robdns XDP", bench_robdns), ("Knot 3.2 XDP", bench_knot)]
    if args.before:
        if not os.path.isdir(os.path.join(args.before, "robdns")):
            sys.exit(f"xdp_bench: {args.before} is not a robdns checkout")
        servers.insert(1, ("robdns before", functools.partial(
            bench_robdns, checkout=os.path.abspath(args.before))))
    results = {}
    load0 = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="robdns-xdpbench") as tmp:
        zone, qfile, probe = make_zone(tmp, args.records)
        for qps, fam in [(q, f) for q in args.qps for f in args.families]:
            family = socket.AF_INET if fam == 4 else socket.AF_INET6
            for rnd in range(args.rounds):
                for name, fn in servers:
                    # A fresh pair: no state carried over.
                    with VethPair(rx_queues=args.queues) as pair:
                        r = fn(pair, zone, qfile, probe, qps, args.duration, tmp, family,
                               args.queues, args.generator)
                    results.setdefault((name, qps, fam), []).append(r)
                    print(f"round {rnd + 1}: {name:14} IPv{fam} offered {qps:>7} qps: "
                          f"{r['rps']:>9.0f} "
                          f"responses/s ({100 * r['replies'] / max(1, r['sent']):.1f}% of "
                          f"{r['sent']} sent), {r['us_per_resp']:.2f} us CPU/response "
                          f"({100 * r['user_share']:.0f}% user), {r['busy_threads']} busy thread(s)"
                          f"{frames_note(r)}", file=sys.stderr, flush=True)
    before = f" --before {args.before}" if args.before else ""
    print(f"\n`python3 bench/xdp_bench.py --qps {' '.join(map(str, args.qps))} --duration "
          f"{args.duration} --rounds {args.rounds} --records {args.records} --families "
          f"{' '.join(map(str, args.families))} --queues {args.queues} --generator "
          f"{args.generator}{before}` — {started}, "
          f"load average {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end; kernel "
          f"{os.uname().release}; veth pair between two network namespaces, native XDP, "
          f"{args.queues} queue(s), copy mode (veth has no zero-copy); {args.generator}"
          f"{f' on CPU(s) {CLIENT_CPU}..{CLIENT_CPU + args.queues - 1}' if args.generator == 'kxdpgun' else ' unpinned'}, the "
          f"server on CPU(s) "
          f"{','.join(map(str, server_cpus(args.queues)))}; medians of {args.rounds} "
          f"interleaved rounds\n")
    print("| server | family | offered qps | sent/s | responses/s | vs Knot | answered | "
          "server CPU µs/response | vs Knot | threads ≥10% CPU | frames/batch | frames/sleep |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for qps, fam in [(q, f) for q in args.qps for f in args.families]:
        knot = results.get(("Knot 3.2 XDP", qps, fam))
        knot_cpu = median([r["us_per_resp"] for r in knot]) if knot else None
        knot_rps = median([r["rps"] for r in knot]) if knot else None
        for name, _ in servers:
            rs = results[(name, qps, fam)]
            sent = median([r["sent"] / args.duration for r in rs])
            rps = median([r["rps"] for r in rs])
            ans = median([100 * r["replies"] / max(1, r["sent"]) for r in rs])
            cpu = median([r["us_per_resp"] for r in rs])
            vs = f"{cpu / knot_cpu:.2f}x" if knot_cpu else "—"
            vs_rps = f"{rps / knot_rps:.2f}x" if knot_rps else "—"
            busy = "/".join(str(r["busy_threads"]) for r in rs)
            batch = median_or_none([r.get("frames_per_batch") for r in rs])
            sleep = median_or_none([r.get("frames_per_sleep") for r in rs])
            print(f"| {name} | IPv{fam} | {qps} | {sent:.0f} | {rps:.0f} | {vs_rps} | {ans:.1f}% | "
                  f"{cpu:.2f} | {vs} | {busy} | {fmt1(batch)} | {fmt1(sleep)} |")
    if len(args.qps) > 1:
        print()
        for fam in args.families:
            best = {name: max(median([r["rps"] for r in results[(name, q, fam)]]) for q in args.qps)
                    for name, _ in servers}
            top = {name: max(r["rps"] for q in args.qps for r in results[(name, q, fam)])
                   for name, _ in servers}
            knot, knot_top = best["Knot 3.2 XDP"], top["Knot 3.2 XDP"]
            if not knot or not knot_top:
                continue
            print(f"IPv{fam}, best responses/s over the offered rates (medians): "
                  + ", ".join(f"{name} {v:.0f}" for name, v in best.items())
                  + f"; robdns/Knot {best['robdns XDP'] / knot:.2f}x.  Best single rounds: "
                  + ", ".join(f"{name} {v:.0f}" for name, v in top.items())
                  + f"; robdns/Knot {top['robdns XDP'] / knot_top:.2f}x")


if __name__ == "__main__":
    main()
