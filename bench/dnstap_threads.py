#!/usr/bin/env python3
# dnstap_threads.py — where dnstap's CPU goes: CPU per query of each robdns thread (UDP worker, dnstap writer) with and without dnstap, under dnsperf.
"""qps_bench.py --dnstap gives the whole price of logging every query, but its collector
(fstrm_capture) shares the client's core with dnsperf, so the dnstap run also has a
slower client, smaller batches and a higher CPU per query for reasons that are not the
server's logging.  This splits the server's CPU by thread (procfs.cpu_ticks_by_thread):
the writer thread's share is exactly what encoding and writing costs; the worker's
difference with plain robdns is what copying into the ring costs (with the noise of
the run).  Rounds alternate plain and dnstap; the dnstap
counters (/metrics) show that nothing was dropped, which would make logging look cheap.

    python3 bench/dnstap_threads.py --rounds 3 --duration 8 --loads saturation
"""

import argparse
import datetime
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genzone    # noqa: E402
import procfs     # noqa: E402
import qps_bench  # noqa: E402
import servers    # noqa: E402


def dnstap_counters(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line.startswith("robdns_dnstap_")}


def main(argv=None):
    p = argparse.ArgumentParser(description="CPU per query by robdns thread, with and without dnstap.")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=8)
    p.add_argument("--loads", default="saturation", help="fixed,saturation (qps_bench's loads)")
    a = p.parse_args(argv)
    zone = os.path.join(servers.OUT, "bench100k.zone")
    queries = os.path.join(servers.OUT, "bench100k.queries")
    genzone.ensure(100000, zone, queries)
    serial = servers.zone_serial(zone)
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}; server on CPU "
          f"{qps_bench.SERVER_CPU}, dnsperf and fstrm_capture on CPU {qps_bench.CLIENT_CPU}")
    print("| round | variant | load | qps | CPU µs/query | by thread (µs/query) | dnstap written / dropped |")
    print("|---|---|---|---|---|---|---|")
    for rnd in range(a.rounds):
        for variant in ("plain", "dnstap"):
            collector = None
            # The HTTP endpoint in both: it is read once, after the loads.
            opts = {"workers": 1, "http_port": servers.free_port()}
            if variant == "dnstap":
                collector = servers.FstrmCapture(cpu=qps_bench.CLIENT_CPU).start()
                opts["dnstap"] = "unix:" + collector.sock
            srv = servers.Robdns(zone, genzone.DEFAULT_ORIGIN, cpu=qps_bench.SERVER_CPU, **opts)
            srv.start()
            try:
                srv.wait_answer(limit=120, serial=serial)
                for load in a.loads.split(","):
                    pids = srv.pids()
                    t0 = procfs.cpu_ticks_by_thread(pids)
                    cmd = qps_bench.dnsperf_command(srv.port, queries, a.duration, load)
                    r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 30)
                    t1 = procfs.cpu_ticks_by_thread(pids)
                    res = qps_bench.parse_dnsperf(r.stdout + r.stderr)
                    n = res["completed"]
                    us = {k: (t1[k] - t0.get(k, 0)) / procfs.CLK_TCK * 1e6 / n
                          for k in sorted(t1) if t1[k] > t0.get(k, 0)}
                    tap = ""
                    if variant == "dnstap":
                        c = dnstap_counters(opts["http_port"])
                        tap = (f"{c.get('robdns_dnstap_messages_total', 0):.0f} / "
                               f"{c.get('robdns_dnstap_dropped_total', 0):.0f}")
                    by = ", ".join(f"{k} {v:.3f}" for k, v in us.items())
                    print(f"| {rnd + 1} | {variant} | {load} | {res['qps']:.0f} | "
                          f"{sum(us.values()):.3f} | {by} | {tap} |", flush=True)
            finally:
                srv.stop()
                if collector:
                    collector.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
