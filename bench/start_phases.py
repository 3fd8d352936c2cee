#!/usr/bin/env python3
# start_phases.py — where `robdns serve`'s start from kept images goes: milliseconds from spawn to each phase (interpreter, imports, config, bind, kept read, database, workers, event loop, READY), the 1M-record zone or N small zones; or a new secondary's start up to its AXFR request and its first answer.
"""robdns is started through a small wrapper (below, run with -c) that timestamps each
phase on CLOCK_MONOTONIC against the spawn time this script passes in the environment:
the wrapper's first line (the interpreter and site are up), robdns.cli and robdns.daemon
imported, the config read, the sockets bound, the kept images read (Keep.load_many), the
database built, the UDP workers created, the event loop's main() entered, READY sent to
systemd.  It also notes which of asyncio, uvloop and dnspython were loaded when the
workers started.  First answer: the benchmark client's own poll (servers.wait_answer).
With --secondary, robdns starts as a secondary with no copy of a Knot primary's zone
(xfr_secondary_bench.py's setup, TSIG): the phases then include the transfer request
sent (request_AXFR; request_SOA would be an SOA query first) and the transferred zone
published; the zone's size (--records) sets how long the primary sends.

    python3 bench/start_phases.py                      # the 1M-record zone, 3 rounds
    python3 bench/start_phases.py --zones 100000       # 100,000 small zones
    python3 bench/start_phases.py --before /other/checkout   # the same for another build
    python3 bench/start_phases.py --secondary --records 1000 --rounds 7 --before /other/checkout

The wrapper's patching costs a few imports of its own (robdns.keep, zoneset, sdnotify,
before the config is read); robdns runs with its bytecode cached (load_bench.robdns_at).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import load_bench                          # noqa: E402
import manyzones_bench                     # noqa: E402
import servers                             # noqa: E402
import xfr_bench                           # noqa: E402
import xfr_secondary_bench                 # noqa: E402

TRACER = r"""
import os, sys, time
T0 = float(os.environ["ROBDNS_PHASE_T0"])
def mark(name):
    sys.stderr.write(f"PHASE {name} {(time.monotonic() - T0) * 1000:.1f} {time.process_time() * 1000:.1f}\n")
    sys.stderr.flush()
mark("interpreter")
from robdns import cli
mark("import_cli")
from robdns import daemon
mark("import_daemon")
from robdns import config, keep, sdnotify, _core
def after(obj, attr, label, before=None):
    f = getattr(obj, attr)
    def w(*a, **k):
        if before:
            mark(before)
        try:
            return f(*a, **k)
        finally:
            mark(label)
    setattr(obj, attr, w)
after(config.Cache, "load", "config")
after(daemon.Daemon, "bind", "bind")
after(keep.Keep, "load_many", "kept_read", before="load_begin")
after(daemon.Daemon, "database", "database")
after(sdnotify, "ready", "ready")
query = _core.xfr_query
def xfr_query(origin, qtype, *a, **k):
    mark("request_" + str(qtype))
    return query(origin, qtype, *a, **k)
_core.xfr_query = xfr_query
publish_zone = daemon.Daemon.publish_zone
async def traced_publish_zone(self, name, image=None, expired=None):
    await publish_zone(self, name, image, expired)
    if image is not None:
        mark("published")
daemon.Daemon.publish_zone = traced_publish_zone
udp = _core.UdpWorkers
def workers(*a, **k):
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"asyncio", "uvloop", "dns"})
    sys.stderr.write("LOADED " + ",".join(loaded) + "\n")
    w = udp(*a, **k)
    mark("workers")
    return w
_core.UdpWorkers = workers
main = daemon.Daemon.main
async def traced_main(self, *a):
    mark("loop_main")
    return await main(self, *a)
daemon.Daemon.main = traced_main
sys.exit(cli.main(sys.argv[1:]))
"""

ORDER = ("interpreter", "import_cli", "import_daemon", "config", "bind", "request_SOA",
         "request_AXFR", "load_begin", "kept_read", "database", "workers", "loop_main", "ready",
         "published")


def traced(base, repo=None):
    """base (servers.Robdns or manyzones_bench.ManyRobdns) run through the tracer, its
    bytecode cached as installed (load_bench.robdns_at); repo: another checkout's build."""
    class Traced(base):
        def command(self):
            cmd = super().command()           # [python, -m, robdns, serve, -c, CONF]
            return [cmd[0], "-c", TRACER] + cmd[3:]

        def env(self):
            env = servers.installed_env(super().env(), repo)
            env["ROBDNS_PHASE_T0"] = repr(time.monotonic())
            return env
    return Traced


def phases(log_path):
    out, loaded = {}, None
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("PHASE "):
                _, name, ms, *cpu = line.split()
                out.setdefault(name, float(ms))
                if cpu:
                    # the process's CPU (every thread) by then: what a busy host does not skew
                    out.setdefault("cpu_" + name, float(cpu[0]))
            elif line.startswith("LOADED "):
                loaded = line.split(" ", 1)[1].strip()
    return out, loaded


def secondary_primary(records, work):
    """A Knot primary (TSIG) of a genzone.py zone of `records` records (copied into the
    directory `work`), answering."""
    tag = f"{records // 1000}k"
    zone = os.path.join(servers.OUT, f"xfr{tag}.zone")
    load_bench.genzone.ensure(records, zone, os.path.join(servers.OUT, f"xfr{tag}.queries"))
    zfile = os.path.join(work, "zone")
    shutil.copyfile(zone, zfile)
    primary = xfr_bench.KnotPrimary(zfile)
    primary.start()
    primary.wait_answer(limit=1800)
    return primary


def one(srv, serial, names, limit):
    srv.start()
    try:
        first = srv.wait_answer(limit, serial=serial)
        every = None
        if names:
            manyzones_bench.sweep(srv.port, names, limit)
            every = time.perf_counter() - srv.t_spawn
        time.sleep(0.3 if not names else 1.0)        # READY after the first answer
        got, loaded = phases(os.path.join(srv.tmp, "server.log"))
        got["first_answer"] = round(first * 1000, 1)
        if every is not None:
            got["every_zone"] = round(every * 1000, 1)
        got["loaded_at_workers"] = loaded
        return got
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=0, help="N small zones (default: the 1M-record zone)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", metavar="REPO", help="also the in-place build of REPO, interleaved")
    ap.add_argument("--limit", type=float, default=600.0)
    ap.add_argument("--secondary", action="store_true", help="a new secondary of a Knot primary")
    ap.add_argument("--records", type=int, default=1000000, help="--secondary: the zone's records")
    a = ap.parse_args()
    builds = [("this", None)] + ([("before", os.path.abspath(a.before))] if a.before else [])
    make, storages = {}, {}
    if a.zones:
        zdir, names = manyzones_bench.generate(a.zones)
        serial = None
        for label, repo in builds:
            cls = traced(manyzones_bench.ManyRobdns, repo)
            storages[label] = tempfile.mkdtemp(prefix=f"start-phases-{label}-")
            srv = cls(zdir, names, storages[label])
            srv.start()
            try:
                manyzones_bench.wait_all(srv, names, a.limit)
                manyzones_bench.wait_kept(storages[label], len(names), a.limit)
            finally:
                srv.stop()
            make[label] = lambda storage, cls=cls: cls(zdir, names, storage)
    elif not a.secondary:
        zone = os.path.join(servers.OUT, "bench1m.zone")
        load_bench.genzone.ensure(1000000, zone, os.path.join(servers.OUT, "bench1m.queries"))
        serial, names = servers.zone_serial(zone), None
        for label, repo in builds:
            cls = traced(servers.Robdns, repo)
            storages[label] = load_bench.kept_storage(zone, serial, cls=cls)
            make[label] = lambda storage, cls=cls: cls(zone, load_bench.ORIGIN, storage=storage)
    primary = None
    if a.secondary:
        storages["primary"] = tempfile.mkdtemp(prefix="start-phases-primary-")
        primary, serial, names = secondary_primary(a.records, storages["primary"]), None, None
        for label, repo in builds:
            # each start empty: a new secondary keeps its copy in its own new directory
            cls = traced(xfr_secondary_bench.RobdnsSecondary, repo)
            make[label] = lambda _storage, cls=cls: cls(("127.0.0.1", primary.port))
    rows = {label: [] for label, _ in builds}
    try:
        for _ in range(a.rounds):
            for label, _repo in builds:
                rows[label].append(one(make[label](storages.get(label)), serial, names, a.limit))
    finally:
        if primary is not None:
            primary.stop()
        for d in storages.values():
            shutil.rmtree(d, ignore_errors=True)
    med = {}
    for label, r in rows.items():
        keys = [k for k in ORDER + ("first_answer", "every_zone") + tuple("cpu_" + o for o in ORDER)
                if all(k in x and x[k] is not None for x in r)]
        med[label] = {k: round(statistics.median(x[k] for x in r), 1) for k in keys}
    print(json.dumps({"command": " ".join(["python3"] + sys.argv),
                      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      "zones": a.zones or "1M-record zone", "runs": rows, "median_ms": med}, indent=1))
    for label, m in med.items():
        print(f"{label}: " + ", ".join(f"{k} {v:.0f}" for k, v in m.items()))


if __name__ == "__main__":
    main()
