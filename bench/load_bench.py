#!/usr/bin/env python3
# load_bench.py — zone load time and memory on a ~1M-record zone: robdns vs Knot vs NSD, same run.
"""Measured per round, interleaved, median of the rounds reported:

- robdns compile: a fresh Python process runs `compile_zone(origin, file)`; time of that
  call, the process's wall time from spawn to exit (interpreter start and import
  included), its peak resident memory (VmHWM) and its VmRSS after the compile.  The image
  is then saved with `ZoneImage.save`.
- robdns image load: a fresh process runs `ZoneImage.load(saved file)`; time of the call.
- robdns serve (when the daemon exists): spawn to first authoritative SOA answer, memory.
- robdns serve from its kept image: the same, with server.storage holding the image a
  first (unmeasured) start kept there (robdns.keep: STORAGE/zones/ORIGIN.zimg, mapped
  and checked instead of compiled); the figure of issue 14's "serving within 0.2 s of
  start", interpreter start and imports included.
- robdns runs as installed: the bytecode of its modules cached (robdns_at), whatever
  PYTHONDONTWRITEBYTECODE says in the shell that runs the bench.
- knotd / nsd: spawn (temporary config, one zone) to the first authoritative SOA answer
  over UDP (polled every 5 ms), then the memory of the whole process tree: Pss (shared
  pages divided among sharers), VmRSS summed, VmHWM summed.

Ratios are robdns / Knot (below 1.0 = robdns is faster or smaller).

    python3 bench/load_bench.py                 # 1M records, 3 rounds
    python3 bench/load_bench.py --records 100000 --rounds 1 --dnspython
    python3 bench/load_bench.py --kept-only --before /tmp/old   # the kept row, two builds
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genzone   # noqa: E402
import procfs    # noqa: E402
import servers   # noqa: E402

ORIGIN = genzone.DEFAULT_ORIGIN

# Runs in a fresh interpreter so its peak memory is the compile's alone.
COMPILE_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
from robdns._core import compile_zone
base = status()['VmRSS']
t1 = time.perf_counter()
img = compile_zone(sys.argv[1], sys.argv[2])
t2 = time.perf_counter()
st = status()
img.save(sys.argv[3])
print(json.dumps({'compile_s': t2 - t1, 'import_s': t1 - t0, 'base_rss_kb': base,
                  'rss_kb': st['VmRSS'], 'hwm_kb': st['VmHWM'], 'records': img.record_count,
                  'nodes': img.node_count, 'image_bytes': img.size}))
"""

LOAD_SNIPPET = r"""
import json, sys, time
from robdns._core import ZoneImage
t1 = time.perf_counter()
img = ZoneImage.load(sys.argv[1])
t2 = time.perf_counter()
st = status()
print(json.dumps({'load_s': t2 - t1, 'rss_kb': st['VmRSS'], 'records': img.record_count}))
"""

DNSPYTHON_SNIPPET = r"""
import json, sys, time
import dns.zone
t1 = time.perf_counter()
z = dns.zone.from_file(sys.argv[2], sys.argv[1], relativize=False)
t2 = time.perf_counter()
st = status()
print(json.dumps({'compile_s': t2 - t1, 'rss_kb': st['VmRSS'], 'hwm_kb': st['VmHWM']}))
"""


# Every snippet may call status(): this process's /proc/self/status sizes, in kB.
SNIPPET_PRELUDE = r"""
def status():
    out = {}
    for line in open('/proc/self/status'):
        k, _, v = line.partition(':')
        if v.strip().endswith(' kB'):
            out[k] = int(v.split()[0])
    return out
"""


def run_snippet(snippet, *args, timeout=600):
    """Run a snippet in a fresh interpreter; its last output line is its JSON result."""
    env = os.environ.copy()
    env["PYTHONPATH"] = servers.REPO + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", SNIPPET_PRELUDE + snippet, *args], capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=servers.REPO)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def robdns_has(attr):
    r = subprocess.run([sys.executable, "-c", f"import robdns._core as c; assert hasattr(c, {attr!r})"],
                       cwd=servers.REPO, capture_output=True, timeout=60)
    return r.returncode == 0


def measure_server(cls, zone, serial, **kw):
    s = cls(zone, ORIGIN, **kw)
    s.start()
    try:
        t = s.wait_answer(limit=300, serial=serial)
        mem = procfs.memory_kb(s.pids())
        return {"first_answer_s": t, **{f"{k}_kb": v for k, v in mem.items()}}
    finally:
        s.stop()


def robdns_at(repo=None):
    """servers.Robdns as installed (servers.installed_env).  repo: run the in-place build
    of another checkout (--before) instead of this one."""
    class Installed(servers.Robdns):
        def env(self):
            return servers.installed_env(super().env(), repo)
    return Installed


def kept_storage(zone, serial, limit=300, cls=None):
    """A server.storage directory holding the kept image of `zone`: robdns started once
    with it, stopped when the image is there (its keeper thread writes it after serving,
    to a temporary name, then renames it).  Each build keeps its own: an image names the
    compiler that made it."""
    storage = tempfile.mkdtemp(prefix="robdns-bench-keep-")
    image = os.path.join(storage, "zones", ORIGIN.lower() + "zimg")
    s = (cls or robdns_at())(zone, ORIGIN, storage=storage)
    s.start()
    try:
        s.wait_answer(limit=limit, serial=serial)
        deadline = time.perf_counter() + limit
        while not os.path.exists(image):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"robdns kept no image in {storage} within {limit} s")
            time.sleep(0.05)
    finally:
        s.stop()
    return storage


def median_of(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, unit):
    if v is None:
        return "not measured"
    if unit == "s":
        return f"{v:.3f} s"
    if unit == "MB":
        return f"{v / 1024:.0f} MB"
    return str(v)


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "—"


def main(argv=None):
    p = argparse.ArgumentParser(description="Zone load: robdns vs Knot vs NSD.")
    p.add_argument("--records", type=int, default=1000000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--dnspython", action="store_true",
                   help="also time dns.zone.from_file and robdns on a 100k-record zone (once)")
    p.add_argument("--compile-timeout", type=float, default=240,
                   help="give up on robdns compile_zone after this many seconds (default 240)")
    p.add_argument("--kept-only", action="store_true",
                   help="measure only robdns serving from its kept image, and Knot")
    p.add_argument("--before", metavar="REPO",
                   help="also serve from its kept image with the in-place build of REPO, same rounds")
    p.add_argument("--json", default=os.path.join(servers.OUT, "load_bench.json"))
    p.add_argument("--report", metavar="JSON", help="only print the tables of a saved run")
    a = p.parse_args(argv)
    if a.report:
        with open(a.report) as f:
            print(report(json.load(f)))
        return 0

    tag = "1m" if a.records == 1000000 else f"{a.records // 1000}k"
    zone = os.path.join(servers.OUT, f"bench{tag}.zone")
    genzone.ensure(a.records, zone, os.path.join(servers.OUT, f"bench{tag}.queries"))
    serial = servers.zone_serial(zone)
    with open(zone) as f:
        records = int(f.readline().split(",")[1].split()[0])

    have_compile = robdns_has("compile_zone") and not a.kept_only
    have_serve = servers.robdns_serve_available()
    notes = []
    if a.kept_only:
        notes.append("--kept-only: compile, image load, cold serve and NSD not measured")
    elif not have_compile:
        notes.append("robdns compile/image load not measured: robdns._core has no compile_zone yet "
                     "(the zone image helper's work has not landed on this checkout)")
    if not have_serve:
        notes.append("robdns serve not measured: the daemon (`robdns serve`) has not landed on this checkout")

    rows = {k: [] for k in ("robdns_compile", "robdns_image", "robdns_serve", "robdns_kept",
                            "robdns_kept_before", "knot", "nsd")}
    storage = kept_storage(zone, serial) if have_serve else None
    before = robdns_at(os.path.abspath(a.before)) if a.before and have_serve else None
    storage_before = kept_storage(zone, serial, cls=before) if before else None
    image = os.path.join(tempfile.mkdtemp(prefix="robdns-bench-img-"), "zone.img")
    facts = procfs.machine_facts()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for rnd in range(a.rounds):
        if have_compile:
            try:
                rows["robdns_compile"].append(run_snippet(COMPILE_SNIPPET, ORIGIN, zone, image,
                                                          timeout=a.compile_timeout))
                rows["robdns_image"].append(run_snippet(LOAD_SNIPPET, image))
            except subprocess.TimeoutExpired:
                have_compile = False
                rows["robdns_compile"] = rows["robdns_image"] = []
                notes.append(f"robdns compile_zone did not finish within {a.compile_timeout:.0f} s "
                             f"(--compile-timeout); compile and image load not measured")
        rows["knot"].append(measure_server(servers.Knot, zone, serial))
        if not a.kept_only:
            rows["nsd"].append(measure_server(servers.NSD, zone, serial))
        if have_serve:
            if not a.kept_only:
                rows["robdns_serve"].append(measure_server(robdns_at(), zone, serial))
            rows["robdns_kept"].append(measure_server(robdns_at(), zone, serial, storage=storage))
            if before:
                rows["robdns_kept_before"].append(measure_server(before, zone, serial,
                                                                 storage=storage_before))
        print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)

    m = {k: {key: median_of(v, key) for key in (v[0].keys() if v else ())} for k, v in rows.items()}
    data = {"date": started, "machine": facts, "zone": zone, "records": records, "rounds": a.rounds,
            "runs": rows, "median": m, "notes": notes, "command": " ".join(sys.argv)}
    if a.dnspython:
        small = os.path.join(servers.OUT, "bench100k.zone")
        genzone.ensure(100000, small, os.path.join(servers.OUT, "bench100k.queries"))
        data["dnspython_100k"] = run_snippet(DNSPYTHON_SNIPPET, ORIGIN, small)
        if have_compile:
            data["robdns_100k"] = run_snippet(COMPILE_SNIPPET, ORIGIN, small, image)
    try:
        os.unlink(image)
        os.rmdir(os.path.dirname(image))
    except OSError:
        pass
    for d in (storage, storage_before):
        if d:
            shutil.rmtree(d, ignore_errors=True)
    if before:
        data["before"] = a.before
    servers.print_and_save(report(data), data, a.json)
    return 0


def report(data):
    """The markdown table (and notes) of one run, from the dict saved as JSON."""
    m, facts = data["median"], data["machine"]
    knot = m["knot"]
    knot_t, knot_pss, knot_hwm = knot.get("first_answer_s"), knot.get("pss_kb"), knot.get("hwm_kb")
    lines = [
        f"Zone: {os.path.relpath(data['zone'], servers.REPO)} ({data['records']} records), "
        f"{data['rounds']} rounds interleaved, median; {data['date']}; "
        f"{facts['nproc']} x {facts['cpu']}, load average {' '.join(facts['loadavg'])}",
        "",
        "| what | time | vs Knot | Pss after load | RSS sum | peak (VmHWM sum) | Pss vs Knot | peak vs Knot |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rc, ri = m["robdns_compile"], m["robdns_image"]
    if rc:
        lines.append(f"| robdns compile_zone (in a fresh process) | {fmt(rc['compile_s'], 's')} "
                     f"(process {fmt(rc['wall_s'], 's')}) | {ratio(rc['compile_s'], knot_t)} | "
                     f"— | {fmt(rc['rss_kb'], 'MB')} | {fmt(rc['hwm_kb'], 'MB')} | — | "
                     f"{ratio(rc['hwm_kb'], knot_hwm)} |")
        lines.append(f"| robdns ZoneImage.load (saved image, {rc['image_bytes'] / 1048576:.0f} MB) | "
                     f"{fmt(ri['load_s'], 's')} (process {fmt(ri['wall_s'], 's')}) | "
                     f"{ratio(ri['load_s'], knot_t)} | — | {fmt(ri['rss_kb'], 'MB')} | — | — | — |")
    else:
        lines.append("| robdns compile_zone | not measured | — | — | — | — | — | — |")
        lines.append("| robdns ZoneImage.load | not measured | — | — | — | — | — | — |")
    for key, label in (("robdns_serve", "robdns serve: spawn to first answer"),
                       ("robdns_kept", "robdns serve from its kept image: spawn to first answer"),
                       ("robdns_kept_before", f"the same, build of {data.get('before')}"),
                       ("knot", "knotd: spawn to first answer"), ("nsd", "nsd: spawn to first answer")):
        r = m.get(key)
        if not r and key == "robdns_kept_before":
            continue
        if not r:
            lines.append(f"| {label} | not measured | — | — | — | — | — | — |")
            continue
        lines.append(f"| {label} | {fmt(r['first_answer_s'], 's')} | {ratio(r['first_answer_s'], knot_t)} | "
                     f"{fmt(r['pss_kb'], 'MB')} | {fmt(r['rss_kb'], 'MB')} | {fmt(r['hwm_kb'], 'MB')} | "
                     f"{ratio(r['pss_kb'], knot_pss)} | {ratio(r['hwm_kb'], knot_hwm)} |")
    d, r = data.get("dnspython_100k"), data.get("robdns_100k")
    if d:
        lines += ["", f"100k-record zone, once: dns.zone.from_file {d['compile_s']:.2f} s, peak "
                  f"{d['hwm_kb'] / 1024:.0f} MB"]
        if r:
            lines[-1] += (f"; robdns compile_zone {r['compile_s']:.3f} s, peak {r['hwm_kb'] / 1024:.0f} MB "
                          f"(dnspython takes {d['compile_s'] / r['compile_s']:.1f}x as long)")
    lines += ["", "Per round, in run order (time; Pss or peak):", ""]
    for key, tkey, mkey in (("robdns_compile", "compile_s", "hwm_kb"), ("robdns_image", "load_s", "rss_kb"),
                            ("robdns_serve", "first_answer_s", "pss_kb"),
                            ("robdns_kept", "first_answer_s", "pss_kb"),
                            ("robdns_kept_before", "first_answer_s", "pss_kb"), ("knot", "first_answer_s", "pss_kb"),
                            ("nsd", "first_answer_s", "pss_kb")):
        if data["runs"].get(key):
            lines.append(f"- {key}: " + "; ".join(f"{x[tkey]:.3f} s, {x[mkey] / 1024:.0f} MB"
                                                  for x in data["runs"][key]))
    for n in data["notes"]:
        lines.append(f"\nNote: {n}.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
