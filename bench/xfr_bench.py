#!/usr/bin/env python3
# xfr_bench.py — zone transfers out: robdns vs a Knot primary feeding Knot, NSD and BIND secondaries (first transfer, primary CPU, change propagation), and UDP answers while transfers run.
"""For each primary (robdns, then Knot), with TSIG (hmac-sha256) on every exchange:

1. first transfer: each secondary (Knot, NSD, BIND 9 `named`; one at a time, nothing
   else transferring) is started empty; the time from its spawn to its first
   authoritative answer of the zone (polled every 5 ms), the secondary's own CPU
   seconds (utime+stime of its process tree) until then, and the primary's CPU over
   that time.  Both primaries run side by side and take turns, --rounds times (robdns
   first in even rounds, Knot first in odd ones), so that a drift of the machine's load
   falls on both; medians are reported, and the ratio of each round;
2. change propagation: with the three secondaries running, 0.1% of the host records get
   a new address and the serial is bumped; the zone file is written and the primary told
   (`robdns ctl reload`; `knotc zone-reload`); the time from the write to each secondary
   answering the new serial (the primary NOTIFYs them; they take IXFR);
3. primary CPU per transfer: --cpu-transfers signed AXFRs by kdig one after the other,
   nothing else running; the primary's CPU (utime+stime of every thread of its process
   tree, /proc/PID/task/*/stat) after minus before, divided by their number (the clock
   tick is 10 ms: one transfer alone is too short to time);
4. robdns only: dnsperf sends UDP queries at --qps for --duration seconds while three
   AXFR clients (kdig +tcp) transfer the zone over and over; queries lost, and the
   transfers completed meanwhile.

    python3 bench/xfr_bench.py --records 1000000            # the full run (minutes)
    python3 bench/xfr_bench.py --records 1000000 --only first --rounds 7   # first transfers only
    python3 bench/xfr_bench.py --records 50000 --duration 5  # a quick check (~1 min)
"""

import argparse
import statistics
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import genzone  # noqa: E402
import procfs  # noqa: E402
from servers import OUT, Knot, Robdns, free_port, print_and_save, soa_answered  # noqa: E402
from xfr_secondaries import start_secondary  # noqa: E402

ORIGIN = genzone.DEFAULT_ORIGIN
SECRET = base64.b64encode(b"xfr-bench-secret-0123456789abcdef").decode()
KEY = ("xfr.key.", "hmac-sha256", SECRET)
KINDS = ("knot", "nsd", "bind")


class RobdnsPrimary(Robdns):
    """robdns serving the zone to secondaries: keys, allow_transfer, notify."""

    def __init__(self, zone, notify_ports=(), pin=True, **kw):
        super().__init__(zone, ORIGIN, **kw)
        self.notify_ports = list(notify_ports)
        self.pin = pin

    def command(self):
        conf = os.path.join(self.tmp, "robdns.yaml")
        notify = "".join(f'      - {{address: "127.0.0.1@{p}", key: xfr.key.}}\n' for p in self.notify_ports)
        with open(conf, "w") as f:
            f.write(f"""server:
  listen: ["127.0.0.1@{self.port}"]
  workers: {self.workers}
  pin_workers: {"true" if self.pin else "false"}
  control: "{self.tmp}/control.sock"
  storage: false
  xfr: {{journal_dir: "{self.tmp}/journal", max_transfers: 16, notify_timeout: 0.5}}
keys:
  - {{name: xfr.key., algorithm: hmac-sha256, secret: "{SECRET}"}}
zones:
  - name: {ORIGIN}
    file: "{self.zone}"
    allow_transfer: [{{address: 127.0.0.0/8, key: xfr.key.}}]
""" + (f"    notify:\n{notify}" if notify else ""))
        return [sys.executable, "-m", "robdns", "serve", "-c", conf]

    def reload(self):
        subprocess.run([sys.executable, "-m", "robdns", "ctl", "-s", self.control, "reload"],
                       env=self.env(), check=True, capture_output=True, timeout=300)


class KnotPrimary(Knot):
    """knotd as the primary: the same key, ACL and NOTIFY, a control socket for reloads."""

    def __init__(self, zone, notify_ports=(), **kw):
        super().__init__(zone, ORIGIN, **kw)
        self.notify_ports = list(notify_ports)

    def command(self):
        conf = os.path.join(self.tmp, "knot.conf")
        remotes = "".join(f"  - id: s{p}\n    address: 127.0.0.1@{p}\n    key: xfr.key.\n"
                          for p in self.notify_ports)
        notify = f"    notify: [{', '.join(f's{p}' for p in self.notify_ports)}]\n" if self.notify_ports else ""
        with open(conf, "w") as f:
            f.write(f"""server:
    rundir: "{self.tmp}"
    listen: 127.0.0.1@{self.port}
log:
  - target: stderr
    any: warning
control:
    listen: "{self.tmp}/knot.sock"
database:
    storage: "{self.tmp}"
key:
  - id: xfr.key.
    algorithm: hmac-sha256
    secret: {SECRET}
""" + (f"remote:\n{remotes}" if remotes else "") + f"""acl:
  - id: xfr
    address: 127.0.0.0/8
    key: xfr.key.
    action: transfer
template:
  - id: default
    storage: "{self.tmp}"
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
zone:
  - domain: {ORIGIN}
    file: "{self.zone}"
    acl: xfr
{notify}""")
        self.knot_conf = conf
        return ["knotd", "-c", conf]

    def reload(self):
        subprocess.run(["knotc", "-c", self.knot_conf, "zone-reload", ORIGIN], check=True,
                       capture_output=True, timeout=300)


def changed_zone(src, dst, serial, fraction):
    """Copy zone src to dst with a new serial and every 1/fraction-th A record's address
    changed; returns how many records changed."""
    step = max(1, int(1 / fraction))
    n = seen = 0
    with open(src) as f, open(dst + ".tmp", "w") as out:
        for line in f:
            if line.rstrip().endswith("; serial"):
                line = f"        {serial} ; serial\n"
            else:
                m = re.match(r"^(\S*\s+(?:\d+\s+)?(?:IN\s+)?A\s+)(\d+\.\d+\.\d+\.)(\d+)\s*$", line)
                if m:
                    seen += 1
                    if seen % step == 0:
                        line = f"{m.group(1)}{m.group(2)}{(int(m.group(3)) + 1) % 256}\n"
                        n += 1
            out.write(line)
    os.replace(dst + ".tmp", dst)
    return n


def timed_secondary(kind, primary):
    """Spawn a `kind` secondary of `primary` on a port of ours and poll its SOA every 5 ms
    from here (start_secondary's own readiness check polls every 50 ms, a quarter of the
    differences looked for); the seconds from spawn to serving, its CPU seconds then, and
    the primary's CPU seconds meanwhile."""
    port = free_port()
    cpu0 = procfs.cpu_seconds(primary.pids())
    box = {}

    def start():
        try:
            box["sec"] = start_secondary(kind, ORIGIN, ("127.0.0.1", primary.port), KEY,
                                         timeout=1800, port=port)
        except Exception as e:          # noqa: BLE001 - reported below, in this thread
            box["error"] = e
    t0 = time.perf_counter()
    th = threading.Thread(target=start, daemon=True)
    th.start()
    dt = None
    while th.is_alive() or "sec" in box:
        if soa_answered(port, ORIGIN, 0.05):
            dt = time.perf_counter() - t0
            break
        if time.perf_counter() - t0 > 1800:
            break
        time.sleep(0.005)
    th.join(timeout=1800)
    if "error" in box:
        raise box["error"]
    sec = box["sec"]
    try:
        if dt is None:
            raise RuntimeError(f"{kind} secondary of {primary.name} never answered")
        sec_user, sec_sys = user_sys_seconds(procfs.process_tree(sec.proc.pid))
        cpu = procfs.cpu_seconds(primary.pids()) - cpu0
    finally:
        sec.stop()
    return {"seconds": round(dt, 3), "secondary_cpu": round(sec_user + sec_sys, 3),
            "secondary_sys": round(sec_sys, 3), "primary_cpu": round(cpu, 3)}


def user_sys_seconds(pids):
    """utime and stime (seconds) summed over every thread of the processes: the kernel's
    share of a secondary's work (receiving the stream) apart from its own."""
    user = sys_ = 0
    for text in procfs.task_files(pids, "stat"):
        try:
            st = procfs.parse_stat(text)
        except (ValueError, IndexError):
            continue
        user += st["utime"]
        sys_ += st["stime"]
    return user / procfs.CLK_TCK, sys_ / procfs.CLK_TCK


def first_transfers(primaries, rounds):
    """Each secondary kind started empty from each primary in turn, `rounds` times; the
    order of the primaries alternates from round to round.  Returns
    {primary: {kind: {"runs": [...], "seconds": median, ...}}}."""
    time.sleep(1.0)                     # the start's background work (image writer) ends
    runs = {name: {kind: [] for kind in KINDS} for name in primaries}
    names = list(primaries)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for kind in KINDS:
            for name in order:
                res = timed_secondary(kind, primaries[name])
                runs[name][kind].append(res)
                print(f"  round {r + 1}: {name} -> {kind}: first transfer {res['seconds']:.3f} s, "
                      f"secondary CPU {res['secondary_cpu']:.2f} s (system {res['secondary_sys']:.2f}), primary CPU "
                      f"{res['primary_cpu']:.2f} s", flush=True)
    out = {}
    for name in names:
        out[name] = {}
        for kind in KINDS:
            rs = runs[name][kind]
            out[name][kind] = {"runs": rs, **{k: round(statistics.median(x[k] for x in rs), 3)
                                              for k in ("seconds", "secondary_cpu", "secondary_sys", "primary_cpu")}}
    return out


def kdig_axfr(port):
    """One signed AXFR of the zone by kdig; the records it received (0 on failure)."""
    r = subprocess.run(["kdig", "-p", str(port), "-y", f"hmac-sha256:xfr.key.:{SECRET}",
                        "+noall", "+stats", "AXFR", ORIGIN, "@127.0.0.1"],
                       capture_output=True, text=True, timeout=600)
    m = re.search(r"Received \d+ B \((\d+) messages, (\d+) records\)", r.stdout)
    return int(m.group(2)) if r.returncode == 0 and m else 0


def cpu_per_transfer(primary, count):
    """The primary's CPU seconds per AXFR over `count` AXFRs one after the other (and
    the CPU of an idle stretch as long, which is not subtracted: it shows the noise)."""
    time.sleep(1.0)                     # the start's background work (image writer) ends
    pids = primary.pids()
    c0, t0 = procfs.cpu_seconds(pids), time.perf_counter()
    records = [kdig_axfr(primary.port) for _ in range(count)]
    wall = time.perf_counter() - t0
    cpu = procfs.cpu_seconds(primary.pids()) - c0
    c1 = procfs.cpu_seconds(primary.pids())
    time.sleep(min(wall, 10.0))
    idle = (procfs.cpu_seconds(primary.pids()) - c1) * wall / min(wall, 10.0)
    if not all(records) or len(set(records)) != 1:
        raise RuntimeError(f"{primary.name}: an AXFR failed or differed: {records}")
    res = {"transfers": count, "records": records[0], "cpu_per_transfer": round(cpu / count, 4),
           "idle_cpu_same_time": round(idle, 3), "wall_per_transfer": round(wall / count, 3)}
    print(f"  {primary.name}: {res['cpu_per_transfer'] * 1000:.1f} ms CPU per AXFR of "
          f"{records[0]} records ({count} AXFRs; idle CPU over the same time {idle:.3f} s)",
          flush=True)
    return res


def propagation(make_primary, zone, fraction):
    """Start the secondaries on fixed ports, a primary that notifies them, change the zone
    and time each secondary's pick-up."""
    ports = {kind: free_port() for kind in KINDS}
    work = tempfile.mkdtemp(prefix="robdns-xfrbench-")
    zfile = os.path.join(work, "zone")
    shutil.copy(zone, zfile)
    primary = make_primary(zfile, list(ports.values()))
    primary.start()
    primary.wait_answer(limit=1800)
    secs = {}
    try:
        for kind in KINDS:
            secs[kind] = _start_on(kind, ports[kind], primary.port)
        old = genzone_serial(zfile)
        changed = changed_zone(zone, zfile, old + 1, fraction)
        t0 = time.perf_counter()
        primary.reload()
        pending = dict(ports)
        done = {}
        deadline = t0 + 600
        while pending and time.perf_counter() < deadline:
            for kind, port in list(pending.items()):
                if soa_answered(port, ORIGIN, 0.05, old + 1):
                    done[kind] = round(time.perf_counter() - t0, 3)
                    del pending[kind]
            time.sleep(0.01)
        for kind in pending:
            done[kind] = None
        print(f"  {primary.name}: {changed} records changed; serving the new serial after "
              + ", ".join(f"{k} {v} s" for k, v in done.items()), flush=True)
        return {"changed": changed, "seconds": done}
    finally:
        for s in secs.values():
            s.stop()
        primary.stop()
        shutil.rmtree(work, ignore_errors=True)


def genzone_serial(path):
    from servers import zone_serial
    return zone_serial(path)


def _start_on(kind, port, primary_port):
    """A secondary on `port`, the one the primary NOTIFYs."""
    return start_secondary(kind, ORIGIN, ("127.0.0.1", primary_port), KEY, timeout=1800, port=port)


def udp_under_transfers(zone, queries, qps, duration):
    """dnsperf at `qps` against robdns while three kdig AXFR loops run."""
    primary = RobdnsPrimary(zone, workers=1)
    primary.start()
    primary.wait_answer(limit=1800)
    stop = threading.Event()
    counts = [0, 0, 0]

    def axfr_loop(i):
        while not stop.is_set():
            r = subprocess.run(["kdig", "-p", str(primary.port), "-y", f"hmac-sha256:xfr.key.:{SECRET}",
                                "+noall", "+stats", "AXFR", ORIGIN, "@127.0.0.1"],
                               capture_output=True, timeout=600)
            if r.returncode == 0:
                counts[i] += 1
    threads = [threading.Thread(target=axfr_loop, args=(i,), daemon=True) for i in range(3)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        r = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(primary.port), "-d", queries,
                            "-l", str(duration), "-Q", str(qps), "-c", "4", "-t", "2"],
                           capture_output=True, text=True, timeout=duration + 120)
        stop.set()
        for t in threads:
            t.join(timeout=600)
        text = r.stdout
        sent = int(re.search(r"Queries sent:\s+(\d+)", text).group(1))
        completed = int(re.search(r"Queries completed:\s+(\d+)", text).group(1))
        lost = int(re.search(r"Queries lost:\s+(\d+)", text).group(1))
        res = {"qps": qps, "duration": duration, "sent": sent, "completed": completed,
               "lost": lost, "axfr_completed": sum(counts)}
        print(f"  robdns: {sent} UDP queries at {qps}/s, {lost} lost, while {sum(counts)} "
              f"AXFRs completed in 3 parallel loops", flush=True)
        return res
    finally:
        stop.set()
        primary.stop()


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--change", type=float, default=0.001, help="fraction of A records changed")
    ap.add_argument("--qps", type=int, default=40000)
    ap.add_argument("--duration", type=int, default=20, help="seconds of dnsperf")
    ap.add_argument("--cpu-transfers", type=int, default=5, help="AXFRs timed for the CPU per transfer")
    ap.add_argument("--rounds", type=int, default=3, help="first transfers of each secondary from each primary")
    ap.add_argument("--unpinned", action="store_true",
                    help="a third primary in the first transfers: robdns with pin_workers: false")
    ap.add_argument("--only", choices=("first", "all"), default="all",
                    help="first: the first transfers and the CPU per AXFR only")
    args = ap.parse_args(argv)
    tag = f"{args.records // 1000}k"
    zone = os.path.join(OUT, f"xfr{tag}.zone")
    queries = os.path.join(OUT, f"xfr{tag}.queries")
    genzone.ensure(args.records, zone, queries)
    data = {"records": args.records, "rounds": args.rounds, "machine": procfs.machine_facts()}
    print(f"zone {ORIGIN} {args.records} records ({zone})")
    makers = {"robdns": lambda: RobdnsPrimary(zone), "knot": lambda: KnotPrimary(zone)}
    if args.unpinned:
        makers["robdns-unpinned"] = lambda: RobdnsPrimary(zone, pin=False)
    primaries = {}
    try:
        for name, make in makers.items():
            primaries[name] = make()
            primaries[name].start()
            primaries[name].wait_answer(limit=1800)
        data["first"] = first_transfers(primaries, args.rounds)
        data["cpu"] = {name: cpu_per_transfer(primaries[name], args.cpu_transfers)
                       for name in ("robdns", "knot")}
    finally:
        for p in primaries.values():
            p.stop()
    lines = ["", f"first transfer: secondary spawn to serving (s), the secondary's CPU then (s), "
                 f"medians of {args.rounds} rounds — {args.records} records"]
    for kind in KINDS:
        k = data["first"]["knot"][kind]
        for name in primaries:
            if name == "knot":
                continue
            r = data["first"][name][kind]
            per = " ".join(ratio(a["seconds"], b["seconds"])
                           for a, b in zip(r["runs"], k["runs"]))
            lines.append(f"  {kind:5} from {name} {r['seconds']:7.3f} ({r['secondary_cpu']:.2f}, "
                         f"sys {r['secondary_sys']:.2f})   from knot {k['seconds']:7.3f} "
                         f"({k['secondary_cpu']:.2f}, sys {k['secondary_sys']:.2f})   "
                         f"time ratio {ratio(r['seconds'], k['seconds'])} (rounds: {per}), "
                         f"secondary CPU ratio {ratio(r['secondary_cpu'], k['secondary_cpu'])}")
    r, k = data["cpu"]["robdns"], data["cpu"]["knot"]
    lines.append(f"primary CPU per AXFR (kdig, TSIG, {args.cpu_transfers} in a row): robdns "
                 f"{r['cpu_per_transfer'] * 1000:.1f} ms, knot {k['cpu_per_transfer'] * 1000:.1f} ms, "
                 f"ratio {ratio(r['cpu_per_transfer'], k['cpu_per_transfer'])}")
    if args.only == "first":
        print_and_save("\n".join(lines), data, os.path.join(OUT, "xfr_bench.json"))
        return
    data["propagation"] = {
        "robdns": propagation(lambda z, ports: RobdnsPrimary(z, ports), zone, args.change),
        "knot": propagation(lambda z, ports: KnotPrimary(z, ports), zone, args.change),
    }
    data["udp_under_transfers"] = udp_under_transfers(zone, queries, args.qps, args.duration)
    lines.append(f"change of {args.change:.1%} of the A records -> secondary serving it (s)")
    for kind in KINDS:
        r, k = data['propagation']['robdns']['seconds'][kind], data['propagation']['knot']['seconds'][kind]
        lines.append(f"  {kind:5} from robdns {r}   from knot {k}   ratio {ratio(r, k)}")
    u = data["udp_under_transfers"]
    lines.append(f"UDP at {u['qps']}/s during 3 AXFR loops: {u['lost']} of {u['sent']} lost "
                 f"({u['axfr_completed']} AXFRs done)")
    print_and_save("\n".join(lines), data, os.path.join(OUT, "xfr_bench.json"))


if __name__ == "__main__":
    main()
