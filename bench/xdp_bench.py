#!/usr/bin/env python3
"""xdp_bench — kxdpgun offering UDP load over a veth pair to robdns's AF_XDP workers and to
Knot in XDP mode, in the same run, on the same setup (issue #5).

    sudo python3 bench/xdp_bench.py [--qps 340000] [--duration 5] [--names 10000]

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


def write_zone(path, names):
    with open(path, "w") as f:
        f.write("$ORIGIN example.com.\n$TTL 3600\n"
                "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 198.18.0.1\n")
        for i in range(names):
            f.write(f"h{i} A 198.18.{(i >> 8) & 255}.{i & 255}\n")


def write_queries(path, names, count=10000):
    # 90% names that exist, 10% NXDOMAIN: the mix of an authoritative server's day.
    with open(path, "w") as f:
        for i in range(count):
            if i % 10 == 9:
                f.write(f"nx{i}.example.com. A\n")
            else:
                f.write(f"h{(i * 7919) % names}.example.com. A\n")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK      # utime + stime


ROBDNS_SERVER = """
import sys
from robdns import _core, xdp
db = _core.Database([_core.compile_zone(sys.argv[2], sys.argv[3])])
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
  - domain: example.com.
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


def wait_answer(pair, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = pair.run(pair.client_ns, ["kdig", "+timeout=1", "+retry=0", f"@{pair.server_v4}",
                                      "h1.example.com.", "A"], timeout=10)
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
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    sent, replies, out = kxdpgun(pair, qfile, qps, duration)
    cpu, wall = cpu_seconds(pid) - cpu0, time.monotonic() - t0
    return {"sent": sent, "replies": replies, "rps": replies / duration,
            "cpu_s": cpu, "us_per_resp": cpu / replies * 1e6 if replies else float("nan"),
            "wall": wall}


def bench_robdns(pair, zone, qfile, qps, duration):
    proc = subprocess.Popen(["ip", "netns", "exec", pair.server_ns, sys.executable, "-c",
                             ROBDNS_SERVER, pair.server_if, "example.com.", zone, SERVER_CPU],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(proc)
        wait_answer(pair)
        return measure(pair, proc.pid, qfile, qps, duration)
    finally:
        proc.stdin.close()
        proc.wait(30)


def bench_knot(pair, zone, qfile, qps, duration, tmp):
    os.makedirs(f"{tmp}/db", exist_ok=True)
    conf = os.path.join(tmp, "knot.conf")
    with open(conf, "w") as f:
        f.write(KNOT_CONF.format(tmp=tmp, ifname=pair.server_if, zone=zone, addr=pair.server_v4))
    proc = subprocess.Popen(["ip", "netns", "exec", pair.server_ns, "taskset", "-c", SERVER_CPU,
                             "knotd", "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_answer(pair)
        return measure(pair, proc.pid, qfile, qps, duration)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--qps", type=int, nargs="+", default=[340000])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--names", type=int, default=10000)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("xdp_bench: needs root (network namespaces, XDP)")
    for tool in ("kxdpgun", "knotd", "kdig", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"xdp_bench: {tool} not found (apt-get install knot knot-dnsutils)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="robdns-xdpbench") as tmp:
        zone, qfile = os.path.join(tmp, "example.com.zone"), os.path.join(tmp, "queries.txt")
        write_zone(zone, args.names)
        write_queries(qfile, args.names)
        for qps in args.qps:
            for name, fn in (("robdns XDP", lambda p: bench_robdns(p, zone, qfile, qps, args.duration)),
                             ("Knot 3.2 XDP", lambda p: bench_knot(p, zone, qfile, qps, args.duration, tmp))):
                with VethPair() as pair:       # a fresh pair: no state carried over
                    r = fn(pair)
                rows.append((name, qps, r))
                print(f"{name:14} offered {qps:>7} qps: {r['rps']:>9.0f} responses/s "
                      f"({100 * r['replies'] / max(1, r['sent']):.1f}% of sent), "
                      f"{r['us_per_resp']:.2f} us CPU/response", file=sys.stderr, flush=True)
    kernel = os.uname().release
    print(f"\nkxdpgun -t {args.duration} -F {CLIENT_CPU} over veth (native XDP, 1 queue, copy mode), "
          f"server pinned to CPU {SERVER_CPU}, kernel {kernel}, {os.cpu_count()} CPUs, "
          f"zone of {args.names} A records, 10% NXDOMAIN queries\n")
    print("| server | offered qps | sent | responses/s | answered | server CPU per response |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, qps, r in rows:
        print(f"| {name} | {qps} | {r['sent']} | {r['rps']:.0f} | "
              f"{100 * r['replies'] / max(1, r['sent']):.1f}% | {r['us_per_resp']:.2f} µs |")


if __name__ == "__main__":
    main()
