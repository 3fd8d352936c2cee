#!/usr/bin/env python3
"""xdp_bench — kxdpgun offering UDP load over a veth pair to robdns's AF_XDP workers and to
Knot in XDP mode, in the same run, on the same setup (issue #5).

    sudo python3 bench/xdp_bench.py [--qps 340000] [--duration 5] [--rounds 3] [--records 100000]

Topology: two network namespaces (tests/netns.py), server end of the veth pair with the
server's XDP program, client end with kxdpgun's.  kxdpgun runs on CPU 0, the server's
worker on CPU 1 (one RX queue, one worker each).  Figures per server: responses/s as
kxdpgun counts them, and server CPU per response = the server process's user+system time
over the run (from /proc/PID/stat) / responses.  Both servers serve the same zone, asked
the same query file.  Prints a Markdown table (paste into bench/RESULTS.md).
"""

import argparse
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from netns import VethPair  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU, CLIENT_CPU = "1", "0"
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


ROBDNS_SERVER = """
import sys
from robdns import _core, xdp
db = _core.Database([_core.compile_zone(sys.argv[2], sys.argv[3])], max_udp_payload=1232)
cfg = xdp.parse_xdp_config({"interface": sys.argv[1], "mode": "native", "queues": 1})
w = xdp.start_xdp_workers(cfg, db, cpus=[int(sys.argv[4])])
print("ready", w.info, flush=True)
sys.stdin.read()          # until the bench closes our stdin
print(w.counters(), flush=True)
w.stop()
"""

KNOT_CONF = """
server:
    rundir: "{tmp}"
    user: root:root
    udp-workers: 1
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
    any: warning
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


def wait_answer(pair, probe, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = pair.run(pair.client_ns, ["kdig", "+timeout=1", "+retry=0", f"@{pair.server_v4}",
                                      *probe], timeout=10)
        if "->>HEADER<<-" in r.stdout:
            return
        time.sleep(0.3)
    raise RuntimeError("server never answered")


def kxdpgun(pair, qfile, qps, duration):
    r = pair.run(pair.client_ns, ["kxdpgun", "-t", str(duration), "-Q", str(qps),
                                  "-F", CLIENT_CPU, "-i", qfile, pair.server_v4],
                 timeout=duration + 60)
    out = r.stdout + r.stderr
    sent = re.search(r"total queries:\s+(\d+)", out)
    replies = re.search(r"total replies:\s+(\d+)", out)
    if not sent or not replies:
        raise RuntimeError(f"kxdpgun failed: {out[-2000:]}")
    return int(sent.group(1)), int(replies.group(1)), out


def measure(pair, pid, qfile, qps, duration):
    (u0, s0), t0 = cpu_times(pid), time.monotonic()
    sent, replies, out = kxdpgun(pair, qfile, qps, duration)
    (u1, s1), wall = cpu_times(pid), time.monotonic() - t0
    cpu = (u1 - u0) + (s1 - s0)
    return {"sent": sent, "replies": replies, "rps": replies / duration,
            "cpu_s": cpu, "user_share": (u1 - u0) / cpu if cpu else 0.0,
            "us_per_resp": cpu / replies * 1e6 if replies else float("nan"), "wall": wall}


def bench_robdns(pair, zone, qfile, probe, qps, duration, tmp):
    proc = subprocess.Popen(["ip", "netns", "exec", pair.server_ns, sys.executable, "-c",
                             ROBDNS_SERVER, pair.server_if, ORIGIN, zone, SERVER_CPU],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(proc)
        wait_answer(pair, probe)
        return measure(pair, proc.pid, qfile, qps, duration)
    finally:
        proc.stdin.close()
        tail = proc.stdout.read()
        proc.wait(30)
        print("robdns counters:", tail.strip(), file=sys.stderr)


def bench_knot(pair, zone, qfile, probe, qps, duration, tmp):
    os.makedirs(f"{tmp}/db", exist_ok=True)
    conf = os.path.join(tmp, "knot.conf")
    with open(conf, "w") as f:
        f.write(KNOT_CONF.format(tmp=tmp, ifname=pair.server_if, zone=zone, addr=pair.server_v4,
                                 origin=ORIGIN))
    proc = subprocess.Popen(["ip", "netns", "exec", pair.server_ns, "taskset", "-c", SERVER_CPU,
                             "knotd", "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_answer(pair, probe)
        return measure(pair, proc.pid, qfile, qps, duration)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--qps", type=int, nargs="+", default=[340000])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--records", type=int, default=100000)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("xdp_bench: needs root (network namespaces, XDP)")
    for tool in ("kxdpgun", "knotd", "kdig", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"xdp_bench: {tool} not found (apt-get install knot knot-dnsutils)")
    servers = (("robdns XDP", bench_robdns), ("Knot 3.2 XDP", bench_knot))
    results = {}
    load0 = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="robdns-xdpbench") as tmp:
        zone, qfile, probe = make_zone(tmp, args.records)
        for qps in args.qps:
            for rnd in range(args.rounds):
                for name, fn in servers:
                    with VethPair() as pair:       # a fresh pair: no state carried over
                        r = fn(pair, zone, qfile, probe, qps, args.duration, tmp)
                    results.setdefault((name, qps), []).append(r)
                    print(f"round {rnd + 1}: {name:14} offered {qps:>7} qps: {r['rps']:>9.0f} "
                          f"responses/s ({100 * r['replies'] / max(1, r['sent']):.1f}% of "
                          f"{r['sent']} sent), {r['us_per_resp']:.2f} us CPU/response "
                          f"({100 * r['user_share']:.0f}% user)",
                          file=sys.stderr, flush=True)
    print(f"\n`python3 bench/xdp_bench.py --qps {' '.join(map(str, args.qps))} --duration "
          f"{args.duration} --rounds {args.rounds} --records {args.records}` — {started}, "
          f"load average {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end; kernel "
          f"{os.uname().release}; veth pair between two network namespaces, native XDP, one "
          f"queue, copy mode (veth has no zero-copy); kxdpgun on CPU {CLIENT_CPU}, the server "
          f"on CPU {SERVER_CPU}; medians of {args.rounds} interleaved rounds\n")
    print("| server | offered qps | sent/s | responses/s | answered | server CPU µs/response | vs Knot |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for qps in args.qps:
        knot_cpu = median([r["us_per_resp"] for r in results[("Knot 3.2 XDP", qps)]])
        for name, _ in servers:
            rs = results[(name, qps)]
            sent = median([r["sent"] / args.duration for r in rs])
            rps = median([r["rps"] for r in rs])
            ans = median([100 * r["replies"] / max(1, r["sent"]) for r in rs])
            cpu = median([r["us_per_resp"] for r in rs])
            print(f"| {name} | {qps} | {sent:.0f} | {rps:.0f} | {ans:.1f}% | {cpu:.2f} | "
                  f"{cpu / knot_cpu:.2f}x |")


if __name__ == "__main__":
    main()
