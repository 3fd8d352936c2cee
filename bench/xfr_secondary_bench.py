#!/usr/bin/env python3
# xfr_secondary_bench.py — robdns as a secondary: time from spawn until it serves a zone transferred from a Knot primary, and its peak memory, against Knot and NSD secondaries of the same primary; then an increment of changed records.
"""With a Knot primary of a genzone.py zone (TSIG hmac-sha256 on every exchange):

1. first transfer: each secondary (robdns, Knot, NSD; one at a time) is started empty;
   the time from its spawn to its first authoritative answer of the zone (all polled
   alike, every 5 ms), and its peak memory (VmHWM summed over its process tree) then;
   one unmeasured transfer each first, then --rounds rounds (up to whole rotations) in
   rotating order (medians);
2. increment: the three started again on the ports the primary NOTIFYs; --changed A records get a new address and the serial is bumped; the zone
   file is written and Knot told (`knotc zone-reload`: it NOTIFYs the three secondaries);
   the time from the reload to each secondary answering the new serial (robdns and Knot
   take IXFR, NSD 4.6 AXFR), and how robdns took it (zone-status).

    python3 bench/xfr_secondary_bench.py --records 1000000 --changed 1000   # full run
    python3 bench/xfr_secondary_bench.py --records 20000 --changed 100      # quick check
    python3 bench/xfr_secondary_bench.py --before /path/to/old/checkout --rounds 3
        # robdns alone, an older build against this one, interleaved (same primary)
    python3 bench/xfr_secondary_bench.py --build-threads --rounds 4
        # in process: the image built with 1 and 2 build threads in turn
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import genzone  # noqa: E402
import procfs  # noqa: E402
from refservers import command as ref_command  # noqa: E402
from servers import OUT, Robdns, Server, free_port, installed_env, print_and_save, soa_answered  # noqa: E402
from xfr_bench import KEY, ORIGIN, SECRET, KnotPrimary, changed_zone, genzone_serial  # noqa: E402
from xfr_secondaries import CONFS  # noqa: E402


class RobdnsSecondary(Robdns):
    """robdns as a secondary of a primary at (host, port), with the bench's key."""

    def __init__(self, primary, port=None, tree=None, **kw):
        self.primary = primary
        self.tree = tree            # another checkout's robdns (built in place), or None
        super().__init__(os.devnull, ORIGIN, port=port, **kw)

    def env(self):
        # started as an installed robdns starts (bytecode cached), from `tree` when given
        return installed_env(super().env(), self.tree)

    def command(self):
        conf = os.path.join(self.tmp, "robdns.yaml")
        with open(conf, "w") as f:
            f.write(f"""server:
  listen: ["127.0.0.1@{self.port}"]
  workers: {self.workers}
  control: "{self.tmp}/control.sock"
  storage: "{self.tmp}/storage"
keys:
  - {{name: xfr.key., algorithm: hmac-sha256, secret: "{SECRET}"}}
zones:
  - name: {ORIGIN}
    file: "{self.tmp}/secondary.zone"
    primaries: [{{address: "{self.primary[0]}@{self.primary[1]}", key: xfr.key.}}]
""")
        return [sys.executable, "-m", "robdns", "serve", "-c", conf]

    def zone_status(self):
        r = subprocess.run([sys.executable, "-m", "robdns", "ctl", "-s", self.control, "--json",
                            "zone-status", ORIGIN], env=self.env(), capture_output=True,
                           text=True, timeout=60)
        return json.loads(r.stdout)["zones"][0]


def served(s, look=lambda s: None):
    """Secondary `s` spawned empty, waited for until it serves the zone, look(s) read while
    it runs, then stopped: (seconds from spawn to serving, what look gave)."""
    s.start()
    try:
        return s.wait_answer(limit=1800), look(s)
    finally:
        s.stop()


def compare_trees(primary, tree, rounds):
    """robdns alone, from `tree` ("before") and from this checkout ("after") in turn,
    `rounds` times, each spawned empty against the one primary: spawn to serving, the
    transfer's time (and its phases where the tree tells them), the CPU spent until
    serving (user, system), peak and final memory."""
    import statistics
    rows = {"before": [], "after": []}
    for t in (tree, None):      # one unmeasured transfer each: bytecode cached, primary warm
        served(RobdnsSecondary(("127.0.0.1", primary.port), port=free_port(), tree=t))
    for _ in range(rounds):
        for label, t in (("before", tree), ("after", None)):
            s = RobdnsSecondary(("127.0.0.1", primary.port), port=free_port(), tree=t)
            seconds, ((user, system), mem, tr) = served(s, lambda s: (
                procfs.process_cpu(s.pids()), procfs.memory_kb(s.pids()),
                s.zone_status().get("last_transfer") or {}))
            rows[label].append((seconds, tr.get("seconds"), mem["hwm"], mem["rss"], user, system))
            print(f"  {label:6} serving after {seconds:.2f} s (transfer {tr.get('seconds')} s: "
                  f"receive {tr.get('receive_seconds')}, build {tr.get('build_seconds')}); "
                  f"CPU to serving user {user:.2f} s, system {system:.2f} s; "
                  f"hwm {mem['hwm']} kB, rss {mem['rss']} kB; load {os.getloadavg()[0]:.1f}",
                  flush=True)
    med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
    for k, (sec, tr, hwm, rss, user, system) in med.items():
        print(f"  {k:6} median: serving after {sec:.2f} s, transfer {tr:.2f} s, CPU user "
              f"{user:.2f} s + system {system:.2f} s, hwm {hwm:.0f} kB, rss {rss:.0f} kB",
              flush=True)
    return {"rounds": rows, "median": med}


def build_threads_ab(primary, rounds):
    """zimg_build's sort and fill on 1 and 2 threads (zimg_build_threads), in turn, each
    on a fresh AXFR of the zone in this process: wall and process CPU of image()."""
    import asyncio
    import statistics
    sys.path.insert(0, os.path.dirname(HERE))
    from robdns import _core
    from robdns.config import ListenAddress, Remote, TsigKey
    from robdns.secondary import client
    key = TsigKey(KEY[0], KEY[1], __import__("base64").b64decode(SECRET))
    remote = Remote(ListenAddress("127.0.0.1", primary.port))
    rows = {1: [], 2: []}
    for _ in range(rounds):
        for k in (1, 2):
            x, _n = asyncio.run(client.transfer(remote, ORIGIN, "AXFR", 0, key))
            old = _core.set_build_threads(k)
            c0, t0 = time.process_time(), time.perf_counter()
            img = x.image(None)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            _core.set_build_threads(old)
            rows[k].append((wall, cpu))
            print(f"  build threads {k}: image() {wall:.3f} s wall, {cpu:.3f} s CPU; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            del img, x
    med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
    for k, (wall, cpu) in med.items():
        print(f"  build threads {k} median: {wall:.3f} s wall, {cpu:.3f} s CPU", flush=True)
    return {"rounds": rows, "median": med}


class RefSecondary(Server):
    """A reference secondary (Knot or NSD, tests/xfr_secondaries.py's configuration) spawned
    and polled exactly as RobdnsSecondary is (servers.Server: the same 5 ms poll of the
    SOA from spawn), so the three start under the same measurement."""

    def __init__(self, kind, primary, port=None):
        self.name = kind
        self.kind = kind
        self.primary = primary
        super().__init__(os.devnull, ORIGIN, port=port)

    def command(self):
        fname, make = CONFS[self.kind]
        conf = os.path.join(self.tmp, fname)
        with open(conf, "w") as f:
            f.write(make(self.tmp, "127.0.0.1", self.port, ORIGIN, self.primary, KEY))
        return ref_command(self.kind, conf)


def secondary(kind, primary, port=None):
    if kind == "robdns":
        return RobdnsSecondary(primary, port=port)
    return RefSecondary(kind, primary, port=port)


def first_transfers(primary, rounds):
    """Each secondary spawned empty and stopped once served: first one unmeasured transfer
    each (the primary's first AXFRs out and the page cache warmed alike for all), then
    `rounds` measured rounds with the order rotating, so no server is always the first
    after the primary's start or after another's stop.  Spawn to the first authoritative
    SOA answer (5 ms poll), peak memory then."""
    import statistics
    kinds = ["robdns", "knot", "nsd"]
    for kind in kinds:
        served(secondary(kind, primary))
    rows = {k: [] for k in kinds}
    rounds = -(-rounds // 3) * 3     # whole rotations: each server first, second, third alike
    for r in range(rounds):
        order = kinds[r % 3:] + kinds[:r % 3]
        for kind in order:
            os.sync()
            seconds, (mem, tr) = served(secondary(kind, primary), lambda s: (
                procfs.memory_kb(s.pids()),
                s.zone_status().get("last_transfer") if s.name == "robdns" else None))
            rows[kind].append({"seconds": round(seconds, 3), "memory_kb": mem, "transfer": tr})
            extra = ""
            if tr:
                extra = (f" (receive {tr.get('receive_seconds')} s, build "
                         f"{tr.get('build_seconds')} s)")
            print(f"  round {r} {kind:6} serving after {seconds:.2f} s{extra}; "
                  f"hwm {mem['hwm']} kB; load {os.getloadavg()[0]:.1f}", flush=True)
    med = {k: {"seconds": statistics.median(x["seconds"] for x in v),
               "hwm": statistics.median(x["memory_kb"]["hwm"] for x in v)}
           for k, v in rows.items()}
    return {"rounds": rows, "median": med}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--changed", type=int, default=1000, help="A records changed by the increment")
    ap.add_argument("--log", action="store_true", help="print the end of robdns' log")
    ap.add_argument("--before", metavar="TREE", help="instead: robdns alone from TREE (a "
                    "checkout built in place) and from this one, in turn, --rounds times")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build-threads", action="store_true", help="instead: in this process, "
                    "the AXFR received and its image built with 1 and 2 build threads in "
                    "turn, --rounds times (needs a ROBDNS_TEST_HOOKS=1 build)")
    args = ap.parse_args(argv)
    tag = f"{args.records // 1000}k"
    zone = os.path.join(OUT, f"xfr{tag}.zone")
    genzone.ensure(args.records, zone, os.path.join(OUT, f"xfr{tag}.queries"))
    work = tempfile.mkdtemp(prefix="robdns-xfrsec-")
    zfile = os.path.join(work, "zone")
    with open(zone) as src, open(zfile, "w") as dst:
        dst.write(src.read())
    ports = {kind: free_port() for kind in ("robdns", "knot", "nsd")}
    primary = KnotPrimary(zfile, list(ports.values()))
    primary.start()
    primary.wait_answer(limit=1800)
    data = {"records": args.records, "machine": procfs.machine_facts(), "first": {}}
    print(f"zone {ORIGIN} {args.records} records from a Knot primary", flush=True)
    if args.build_threads:
        try:
            data["build_threads"] = build_threads_ab(primary, args.rounds)
        finally:
            primary.stop()
        print_and_save("", data, os.path.join(OUT, "xfr_secondary_threads.json"))
        return
    if args.before:
        try:
            data["compare"] = compare_trees(primary, os.path.abspath(args.before), args.rounds)
        finally:
            primary.stop()
        print_and_save("", data, os.path.join(OUT, "xfr_secondary_compare.json"))
        return
    secs = {}
    try:
        data["first"] = first_transfers(("127.0.0.1", primary.port), args.rounds)
        # the increment: all three started again (unmeasured) on the ports the primary
        # NOTIFYs, each waited for in turn
        for kind in ("robdns", "knot", "nsd"):
            s = secondary(kind, ("127.0.0.1", primary.port), port=ports[kind])
            s.start()
            secs[kind] = s
            s.wait_answer(limit=1800)
        rob = secs["robdns"]

        old = genzone_serial(zfile)
        # changed_zone changes every (1/fraction)-th A record: count them first
        import re
        pattern = re.compile(r"^(\S*\s+(?:\d+\s+)?(?:IN\s+)?A\s+)(\d+\.\d+\.\d+\.)(\d+)\s*$")
        with open(zone) as f:
            a_records = sum(1 for line in f if pattern.match(line))
        fraction = args.changed / max(1, a_records)
        changed = changed_zone(zone, zfile, old + 1, fraction)
        t0 = time.perf_counter()
        primary.reload()
        pending, done = dict(ports), {}
        while pending and time.perf_counter() < t0 + 600:
            for kind, port in list(pending.items()):
                if soa_answered(port, ORIGIN, 0.05, old + 1):
                    done[kind] = round(time.perf_counter() - t0, 3)
                    del pending[kind]
            time.sleep(0.01)
        done.update({k: None for k in pending})
        st = rob.zone_status()
        data["increment"] = {"changed": changed, "seconds": done,
                             "robdns_transfer": st.get("last_transfer")}
        print(f"  increment of {changed} records: serving the new serial after "
              + ", ".join(f"{k} {v} s" for k, v in done.items())
              + f"; robdns took {st['last_transfer']['kind'].upper()}", flush=True)
        if args.log:
            print(rob.log_tail(3000))
    finally:
        for s in secs.values():
            s.stop()
        primary.stop()
    med = data["first"]["median"]
    best = min(med["knot"]["seconds"], med["nsd"]["seconds"])
    lines = ["", f"secondaries of a Knot primary — {args.records} records",
             f"  first transfer, median of {len(data['first']['rounds']['robdns'])} rotated rounds: spawn -> serving (s), "
             "peak memory (VmHWM kB, tree)"]
    for kind, r in med.items():
        lines.append(f"    {kind:6} {r['seconds']:8.2f}   {r['hwm']:.0f}")
    lines.append(f"    robdns / better of Knot and NSD: time {med['robdns']['seconds'] / best:.2f}x, "
                 f"memory / Knot {med['robdns']['hwm'] / med['knot']['hwm']:.3f}x")
    lines.append(f"  increment of {data['increment']['changed']} A records -> serving (s)")
    for kind, v in data["increment"]["seconds"].items():
        lines.append(f"    {kind:6} {v}")
    print_and_save("\n".join(lines), data, os.path.join(OUT, "xfr_secondary_bench.json"))


if __name__ == "__main__":
    main()
