#!/usr/bin/env python3
# manyzones_bench.py — many small zones: time from start until every zone answers, memory, a restart, one changed zone after a reload, and CPU per query spread over the zones vs on one, for robdns, Knot and NSD.
"""N zones of about a dozen records each (SOA, NS, glue, apex and www addresses, MX, TXT,
a CNAME), generated deterministically into bench/out/manyzones-N/.  Each server (robdns
with one worker, knotd, nsd with one server process, RRL off) is started on a free port
of 127.0.0.1 with all N zones in its config, first once unmeasured (warm_up: the first
start of a run met a colder host than any later one; --no-warm-up skips it), then, after
the page cache's dirty data is written back (quiet_writes), measured:

- ready_s: seconds from spawn until every zone has answered its SOA with AA and NOERROR
  (a sweep sends the SOA queries of the zones not seen yet, 500 at a time, until none
  is left; the sweep's own cost is the same for every server, and is reported as
  sweep_s: a second sweep once every zone answers);
- rss_mb / pss_mb: memory of the server's process tree once every zone answers;
- robdns only, kept_s: spawn until its keeper thread has written every image to the
  pack (server.storage/zones.pack); restart_s: stopped and started again with its kept
  images, time until every zone answers;
- reload_s: one zone's file changed (new serial and a record), then a reload (robdns:
  SIGHUP, as systemd's ExecReload sends it; Knot: `knotc reload`); seconds from the
  command until that zone answers the new serial;
- cpu_us_spread / cpu_us_one: server CPU (utime+stime of its threads) per answered query
  with dnsperf sending `www.ZONE A` for names spread over every zone, and for one zone
  only (when dnsperf is installed).  Both pinned: server on CPU 0, dnsperf on CPU 1.
- ratios: the issue's goals from the figures of the same run (start against the faster
  of Knot and NSD, memory against Knot's, reload against knotc reload, CPU per query
  spread over every zone against one zone).

    python3 bench/manyzones_bench.py --zones 100000          # the full run
    python3 bench/manyzones_bench.py --zones 5000 --servers robdns --qps-seconds 2
    python3 bench/manyzones_bench.py --zones 100000 --engine-only   # in process, below
    python3 bench/manyzones_bench.py --zones 100000 --start-only 3 --before /other/checkout
    python3 bench/manyzones_bench.py --zones 100000 --restart-only 3 --before /other/checkout
    python3 bench/manyzones_bench.py --zones 100000 --spread-only 3 --qps-seconds 3 --before /other/checkout

--reload-phases R: no servers; the daemon's reload of one changed zone among the N, in
this process (robdns.daemon.Daemon with no worker), R times, each phase's median ms:
config (the file looked at), expand (run-time and catalog zones), find_changed (which
zones changed: the inotify log, or the stat pass without it), compile, database (the
snapshot built), publish (no grace period to wait without workers), other; without the
inotify watch (every file stat()ed) and with it, alternating, twice.

    python3 bench/manyzones_bench.py --zones 100000 --reload-phases 7

--engine-only: no servers; the N zones compiled in this process into one database and
the engine alone (_core.bench_answer, a build with ROBDNS_TEST_HOOKS=1) answering `www.ZONE
A` spread over every zone and for one zone, one query at a time and in batches of 64:
CPU nanoseconds per query and the spread/one ratio, without sockets, dnsperf or the
scheduler (what is left is the memory the queries touch).
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import procfs                              # noqa: E402
import servers                             # noqa: E402
from servers import OUT, soa_answered   # noqa: E402

SO_RCVBUFFORCE = 33                        # Linux; not exported by the socket module
WORDS = ("alpha", "bravo", "delta", "echo", "kilo", "lima", "oscar", "tango", "zulu", "x")


def zone_name(i):
    return f"{WORDS[i % len(WORDS)]}{i}.bench-{i % 7}.test."


def zone_text(name, serial=1, extra=""):
    return f"""$ORIGIN {name}
$TTL 3600
@ SOA ns1 hostmaster {serial} 7200 3600 1209600 300
@ NS ns1
@ NS ns2
ns1 A 192.0.2.1
ns2 A 192.0.2.2
@ A 192.0.2.10
www A 192.0.2.10
www AAAA 2001:db8::10
@ MX 10 mail
mail A 192.0.2.25
@ TXT "v=spf1 mx -all"
ftp CNAME www
{extra}"""


def generate(n):
    """The zone files of n zones (kept between runs: same n, same files) and their names."""
    d = os.path.join(OUT, f"manyzones-{n}")
    names = [zone_name(i) for i in range(n)]
    stamp = os.path.join(d, "complete")
    if not os.path.exists(stamp):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name in names:
            with open(os.path.join(d, name + "zone"), "w") as f:
                f.write(zone_text(name))
        settle_files(d, names)
        open(stamp, "w").close()
    return d, names


def settle_files(d, names):
    """Leave freshly written zone files as a server finds them after any earlier run: written
    back, and read once.  Otherwise the first server started pays for the bench's writes:
    the kernel writes 100,000 new files back about 30 s after they were dirtied (ext4 block
    allocation and journal: 1.25 s of kworker CPU here, with the server pinned to a CPU of
    two), and the first reader of each file updates its atime (relatime: atime not after
    mtime), 100,000 inode writes more; every later reader pays neither."""
    for name in names:
        with open(os.path.join(d, name + "zone"), "rb") as f:
            f.read()
    os.sync()


def warm_up(make, names, limit):
    """One unmeasured start of a server (make(): a new one) until every zone answers, then
    stopped.  The first start of a run meets a host no later start does (2026-12-02's quiet
    pass: robdns's round 0, first after the zones were written, 2.06x NSD's time, every
    other round 0.90-0.93x): besides the write-back above, memory the guest has not used
    for a while costs more CPU to touch in this VM (Firecracker, free page reporting: 3 GB
    took 4.4-7.2 s of CPU where the same at once again took 2.1-2.6 s).  Every server gets
    such a start before its measured ones, whichever runs first."""
    srv = make()
    try:
        srv.start()
        wait_all(srv, names, limit)
    finally:
        srv.stop()


def quiet_writes():
    """Before every measured start: what earlier servers wrote (robdns's pack of kept
    images, NSD's and Knot's files) written back now, not by a kworker during the next
    server's start."""
    os.sync()


# ---------------------------------------------------------------- probing every zone

def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def sweep(port, names, limit, window=500):
    """Send SOA queries for the zones that have not answered yet, `window` at a time,
    until every one has answered with AA, NOERROR and an answer; seconds taken."""
    t0 = time.perf_counter()
    wires = [wire_name(n) for n in names]
    pending = list(range(len(names)))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)   # beyond rmem_max as root
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.settimeout(0.05)
    try:
        while pending:
            if time.perf_counter() - t0 > limit:
                raise RuntimeError(f"{len(pending)} zones still not answering after {limit} s")
            batch = pending[:window]
            want = {}
            for k, i in enumerate(batch):
                qid = k
                want[qid] = i
                s.sendto(struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + wires[i] + b"\0\x06\0\x01",
                         ("127.0.0.1", port))
            ok = set()
            while len(ok) < len(batch):
                try:
                    r = s.recv(4096)
                except socket.timeout:
                    break
                if len(r) < 12:
                    continue
                qid, flags, _, ancount = struct.unpack("!HHHH", r[:8])
                i = want.get(qid)
                # QR, AA, NOERROR, an answer, and the question of that zone
                if (i is not None and flags & 0x8400 == 0x8400 and flags & 0xF == 0 and ancount
                        and r[12:12 + len(wires[i])].lower() == wires[i]):
                    ok.add(i)
            if not ok:
                time.sleep(0.01)
            done = ok
            pending = [i for i in pending if i not in done]
    finally:
        s.close()
    return time.perf_counter() - t0


def wait_all(server, names, limit):
    """Seconds from the server's spawn until every zone answers."""
    # first any zone (the server is up), then every zone
    server.wait_answer(limit)
    sweep(server.port, names, limit)
    return time.perf_counter() - server.t_spawn


# ---------------------------------------------------------------- the servers

def robdns_command(srv, zone_lines, server_extra=""):
    """Write the config of a one-worker robdns bench server `srv` with `zone_lines` (the
    text under `zones:`) and return its command line."""
    conf = os.path.join(srv.tmp, "robdns.yaml")
    with open(conf, "w") as f:
        f.write(f"""server:
  listen: ["127.0.0.1@{srv.port}"]
  workers: 1
  control: "{srv.tmp}/control.sock"
  storage: "{srv.storage}"
{server_extra}log:
  level: warning
zones:
""")
        for line in zone_lines:
            f.write(line)
    return [sys.executable, "-m", "robdns", "serve", "-c", conf]


class ManyRobdns(servers.Robdns):
    def __init__(self, zdir, names, storage, port=None, cpu=None):
        super().__init__(os.path.join(zdir, names[0] + "zone"), names[0], port, cpu, 1, storage=storage)
        self.zdir, self.names = zdir, names

    def command(self):
        return robdns_command(self, [f'  - {{name: "{n}", file: "{self.zdir}/{n}zone"}}\n'
                                     for n in self.names])

    def reload(self):
        # SIGHUP, as systemd's ExecReload sends it (`robdns ctl reload` would add a Python
        # start to the figure)
        self.proc.send_signal(signal.SIGHUP)


class ManyKnot(servers.Knot):
    """knotd with one UDP, TCP and background worker, a knotc socket and all the zones."""

    def __init__(self, zdir, names, port=None, cpu=None):
        super().__init__(os.path.join(zdir, names[0] + "zone"), names[0], port, cpu, workers=1,
                         control=True)
        self.zdir, self.names = zdir, names

    def zone_files(self):
        return [(n, f"{self.zdir}/{n}zone") for n in self.names]

    def reload(self):
        subprocess.run(["knotc", "-s", self.control, "reload"], check=True, capture_output=True)


class ManyNSD(servers.NSD):
    """nsd with one server process and all the zones, at verbosity 0."""
    verbosity = 0

    def __init__(self, zdir, names, port=None, cpu=None):
        super().__init__(os.path.join(zdir, names[0] + "zone"), names[0], port, cpu)
        self.zdir, self.names = zdir, names

    def zone_files(self):
        return [(n, f"{self.zdir}/{n}zone") for n in self.names]


# ---------------------------------------------------------------- measurements

def changed_zone_reload(server, zdir, name, limit):
    """Change one zone's file (serial 2, one more record), reload, and time until it
    answers the new serial; the file is put back afterwards."""
    path = os.path.join(zdir, name + "zone")
    with open(path) as f:
        original = f.read()
    try:
        with open(path, "w") as f:
            f.write(zone_text(name, serial=2, extra="new A 192.0.2.99\n"))
        t0 = time.perf_counter()
        server.reload()
        while not soa_answered(server.port, name, 0.02, serial=2):
            if time.perf_counter() - t0 > limit:
                raise RuntimeError(f"{server.name}: {name} not at serial 2 after {limit} s")
            time.sleep(0.002)
        return time.perf_counter() - t0
    finally:
        with open(path, "w") as f:
            f.write(original)
        old = time.time() - 60
        os.utime(path, (old, old))


def cpu_per_query(server, names, seconds, tag, count=False):
    """Server CPU microseconds per answered query with dnsperf asking `www.ZONE A` over
    `names` (a shuffled list), at a fixed rate (count: also the queries answered)."""
    qfile = os.path.join(server.tmp, f"queries-{tag}")
    with open(qfile, "w") as f:
        for n in names:
            f.write(f"www.{n} A\n")
    pids = server.pids()
    c0 = procfs.cpu_seconds(pids)
    r = subprocess.run(["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(server.port),
                        "-d", qfile, "-l", str(seconds), "-c", "4", "-q", "500", "-Q", "40000",
                        "-b", "4096"], capture_output=True, text=True)
    c1 = procfs.cpu_seconds(pids)
    done = 0
    for line in r.stdout.splitlines():
        if "Queries completed:" in line:
            done = int(line.split()[2])
    us = (c1 - c0) * 1e6 / done if done else None
    return (us, done) if count else us


def settle(server, limit=60.0):
    """Wait until the server's one-off background work after a start or reload is done:
    its robdns-huge threads (images moved into huge pages, lib/rd_huge.c) have ended.  The
    CPU rows measure the steady state; and a thread that ends within a row would take its
    CPU ticks out of the per-thread sums (procfs.cpu_seconds).  Seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        names = [procfs.parse_stat(t)["comm"] for t in procfs.task_files(server.pids(), "stat")]
        if not any(x.startswith("robdns-huge") for x in names):
            break
        time.sleep(0.1)
    return round(time.perf_counter() - t0, 2)


def wait_kept(storage, n, limit):
    """Wait until robdns has kept its n images (written after serving, by a thread of its
    own, into the pack STORAGE/zones.pack: robdns.keep); returns the perf_counter time
    when they were all there."""
    sys.path.insert(0, servers.REPO)
    from robdns import _core
    pack = os.path.join(storage, "zones.pack")
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        try:
            info = _core.read_pack(pack, [], [], [])[2]
            if info["records"] >= n and info["valid_end"] == info["size"]:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"robdns did not keep {n} images within {limit} s")


def ratios(results):
    """The issue's goals as ratios of the same run: robdns's start against the faster of
    Knot and NSD, its memory against Knot's, its reload against knotc reload, and CPU per
    query spread over every zone against one zone."""
    r, k, n = (results.get(s, {}) for s in ("robdns", "knot", "nsd"))
    out = {}
    starts = [x["ready_s"] for x in (k, n) if x.get("ready_s")]
    if r.get("ready_s") and starts:
        out["start_vs_fastest_other"] = round(r["ready_s"] / min(starts), 2)
    if r.get("rss_mb") and k.get("rss_mb"):
        out["rss_vs_knot"] = round(r["rss_mb"] / k["rss_mb"], 2)
    if r.get("reload_s") and k.get("reload_s"):
        out["reload_vs_knot"] = round(r["reload_s"] / k["reload_s"], 2)
    for name, x in (("robdns", r), ("knot", k), ("nsd", n)):
        if x.get("cpu_us_spread") and x.get("cpu_us_one"):
            out[f"{name}_cpu_spread_vs_one"] = round(x["cpu_us_spread"] / x["cpu_us_one"], 3)
    return out


def run_server(kind, zdir, names, args, storage):
    out = {}
    cpu = 0 if args.pin else None

    def make(storage):
        if kind == "robdns":
            return ManyRobdns(zdir, names, storage, cpu=cpu)
        if kind == "knot":
            return ManyKnot(zdir, names, cpu=cpu)
        return ManyNSD(zdir, names, cpu=cpu)
    if args.warm_up:
        tmp = os.path.join(OUT, f"manyzones-{len(names)}-warm-up")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            warm_up(lambda: make(tmp), names, args.limit)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    srv = make(storage)
    try:
        quiet_writes()
        srv.start()
        out["ready_s"] = round(wait_all(srv, names, args.limit), 3)
        # the sweep's own cost on a server that answers every zone already: part of every
        # ready_s and restart_s above (a Python client on a shared machine)
        out["sweep_s"] = round(sweep(srv.port, names, args.limit), 3)
        mem = procfs.memory_kb(srv.pids())
        out["rss_mb"] = round(mem["rss"] / 1024, 1)
        out["pss_mb"] = round(mem["pss"] / 1024, 1)
        if kind == "robdns":
            out["kept_s"] = round(wait_kept(storage, len(names), args.limit) - srv.t_spawn, 3)
            srv.proc.terminate()
            srv.proc.wait(60)
            srv.log.close()
            srv.start()
            out["restart_s"] = round(wait_all(srv, names, args.limit), 3)
            mem = procfs.memory_kb(srv.pids())
            out["restart_rss_mb"] = round(mem["rss"] / 1024, 1)
        if kind in ("robdns", "knot"):
            out["reload_s"] = round(changed_zone_reload(srv, zdir, names[len(names) // 2],
                                                        args.limit), 3)
        if args.qps_seconds and shutil.which("dnsperf"):
            if kind == "robdns":
                out["settle_s"] = settle(srv)
            spread = list(names)
            random.Random(1).shuffle(spread)
            out["cpu_us_spread"] = _r(cpu_per_query(srv, spread, args.qps_seconds, "spread"))
            out["cpu_us_one"] = _r(cpu_per_query(srv, [names[0]] * 1000, args.qps_seconds, "one"))
    finally:
        srv.stop()
    return out


def engine_setup(zdir, names):
    """The N zones compiled in this process into one database, and the two query mixes:
    `www.ZONE A` over every zone (shuffled) and as many for the first zone."""
    sys.path.insert(0, servers.REPO)
    from robdns import _core
    n = len(names)
    images, _ = _core.compile_zones(names, [f"{zdir}/{x}zone" for x in names], [3600] * n,
                                    [None] * n, [None] * n, 2)
    db = _core.Database(images)
    if hasattr(_core, "image_huge_pages"):
        # a server's steady state: the block in huge pages, as its idle-priority thread
        # leaves it within a second or two of serving (the zone table's 4 pages: the sleep)
        _core.image_huge_pages(images[0], wait=True)
        time.sleep(0.5)

    def query(name, qid):
        return (struct.pack("!HHHHHH", qid & 0xFFFF, 0, 1, 0, 0, 1) + wire_name("www." + name)
                + b"\0\x01\0\x01" + b"\0\0\x29\x04\xd0\0\0\0\0\0\0")   # EDNS(0), 1232
    spread = list(names)
    random.Random(1).shuffle(spread)
    mixes = {"spread": [query(x, i) for i, x in enumerate(spread)],
             "one": [query(names[0], i) for i in range(min(n, 100000))]}
    return db, mixes


def engine_spread(zdir, names, seconds, rounds):
    """In-process CPU ns per query (median of `rounds`), spread over every zone and on one
    zone, single and batch 64, and the ratios; see --engine-only."""
    import statistics
    db, mixes = engine_setup(zdir, names)      # first: it puts this checkout's robdns first
    from robdns import _core
    out = {}
    for batch in (0, 64):
        for mix in ("spread", "one"):
            ns = []
            for _ in range(rounds):
                done, _, cpu, _ = _core.bench_answer(db, mixes[mix], seconds, batch=batch)
                ns.append(cpu * 1e9 / done)
            out[f"{'batch' if batch else 'single'}_{mix}_ns"] = round(statistics.median(ns), 1)
        k = "batch" if batch else "single"
        out[f"{k}_spread_vs_one"] = round(out[f"{k}_spread_ns"] / out[f"{k}_one_ns"], 3)
    return out


def write_config(tmp, zdir, names):
    """The config of an in-process robdns (no socket opened) with the zones `names`, its
    storage in tmp; returns its path."""
    conf = os.path.join(tmp, "robdns.yaml")
    with open(conf, "w") as f:
        f.write(f'server:\n  listen: ["127.0.0.1@53535"]\n  workers: 1\n  storage: "{tmp}/storage"\n'
                "log:\n  level: warning\nzones:\n")
        for n in names:
            f.write(f'  - {{name: "{n}", file: "{zdir}/{n}zone"}}\n')
    old = time.time() - 60          # written a while ago, as a served config is (config.Cache)
    os.utime(conf, (old, old))
    return conf


class _NoKeeper:
    def submit(self, *args):
        pass


def reload_phases(zdir, names, rounds, watch=True):
    """In process, the daemon's reload of one changed zone among N split into its phases
    (robdns.daemon.Daemon._reload_blocking with each step timed): the config file looked
    at, the zone configs expanded, the changed zones found (ZoneSet.compiled's look at
    every source), their compile, the database built, its publication (RCU: no worker
    here, so no grace period to wait) and the rest.  Median ms of `rounds` reloads, each
    after a new write of the middle zone's file.  watch=False: without inotify (the
    stat pass of every zone file, as on a filesystem zonewatch does not trust)."""
    import dataclasses
    import statistics
    import tempfile
    sys.path.insert(0, servers.REPO)
    from robdns import _core, config, daemon, zoneset, zonewatch
    from robdns.keep import Keep
    opened = zonewatch.Watch.open
    if not watch:
        zonewatch.Watch.open = classmethod(lambda cls, dirs: None)
    tmp = tempfile.mkdtemp(prefix="mzreload-")
    conf = write_config(tmp, zdir, names)
    cache = config.Cache()              # as robdns.daemon.run starts: one parse, kept
    cfg = dataclasses.replace(cache.load(conf), path=conf)
    d = daemon.Daemon(cfg)
    d.config_cache = cache
    d.keep = Keep(cfg.storage)
    d.keep.prepare()
    d.load(cfg)
    d.keeper.shutdown(wait=True)
    d.zones.prepare_reload()            # as Daemon.main does once serving
    spent = {}

    def timed(label, f):
        def g(*a, **k):
            t0 = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
        return g
    zs_cls = zoneset.ZoneSet
    patches = [(d.config_cache, "load", "config"), (d.catalogs, "expand", "expand"),
               (zoneset, "compile_all", "compile"), (d, "database", "database"),
               (_core, "publish", "publish")]
    saved = [(o, a, getattr(o, a)) for o, a, _ in patches]
    for o, a, label in patches:
        setattr(o, a, timed(label, getattr(o, a)))
    d.keeper = _NoKeeper()          # images kept after serving: not part of the reload
    rows = []
    name = names[len(names) // 2]
    path = os.path.join(zdir, name + "zone")
    with open(path) as f:
        original = f.read()
    try:
        for r in range(rounds):
            with open(path, "w") as f:
                f.write(zone_text(name, serial=2 + r, extra=f"new A 192.0.2.{r % 250}\n"))
            spent.clear()
            orig_compiled = zs_cls.compiled
            t0 = time.perf_counter()
            zs_cls.compiled = timed("zoneset_compiled", orig_compiled)
            try:
                d._reload_blocking(report=False)
            finally:
                zs_cls.compiled = orig_compiled
            total = time.perf_counter() - t0
            assert d.zones.get(name).image.serial == 2 + r, "the changed zone was not reloaded"
            spent["find_changed"] = spent.pop("zoneset_compiled") - spent.get("compile", 0.0)
            spent["total"] = total
            spent["other"] = total - sum(v for k, v in spent.items() if k != "total")
            rows.append(dict(spent))
    finally:
        with open(path, "w") as f:
            f.write(original)
        old = time.time() - 60
        os.utime(path, (old, old))
        for o, a, f in saved:
            setattr(o, a, f)
        zonewatch.Watch.open = opened
        shutil.rmtree(tmp, ignore_errors=True)
    return {k: round(statistics.median(row.get(k, 0.0) for row in rows) * 1000, 2) for k in rows[0]}


def installed_robdns(repo, zdir, names, storage, cpu):
    """ManyRobdns run from REPO's in-place build (None: this checkout's) with its bytecode
    cached (PYTHONPYCACHEPREFIX in bench/out), as an installed server starts."""
    class Installed(ManyRobdns):
        def env(self):
            return servers.installed_env(super().env(), repo)
    return Installed(zdir, names, storage, cpu=cpu)


def tree_cpu_seconds(srv):
    """utime+stime of the server's processes so far, ended threads included
    (procfs.process_cpu).  The CPU a start took whatever else runs on the machine: a busy
    host stretches ready_s, much less this."""
    return sum(procfs.process_cpu(srv.pids()))


def start_rounds(zdir, names, args):
    """The cold start row alone (--start-only): per round, robdns from this checkout (and
    --before REPO's build) with empty storage (every zone compiled) and NSD, one after the
    other in an order that rotates between rounds, each pinned as in the full run (CPU 0,
    one serving thread or process, the whole process tree on that CPU): seconds from spawn
    to the first answer (first_s) and until every zone answers (ready_s, as run_server's),
    the server's CPU seconds by then (cpu_s); per round each robdns build's ready_s over
    NSD's of the same round.  Before round 0 every server starts once unmeasured
    (warm_up), and before each measured start the dirty page cache is written back
    (quiet_writes): no server's round depends on which ran first or just before."""
    import statistics
    import tempfile
    cpu = 0 if args.pin else None
    kinds = [("this", None)] + ([("before", os.path.abspath(args.before))] if args.before else [])
    kinds.append(("nsd", None))
    rows = {label: [] for label, _ in kinds}

    def make(label, repo, storage):
        return (ManyNSD(zdir, names, cpu=cpu) if label == "nsd"
                else installed_robdns(repo, zdir, names, storage, cpu))
    for label, repo in kinds:
        # unmeasured (warm_up): each server's first start of the run, for robdns also its
        # bytecode written to the cache once, as installed
        tmp = tempfile.mkdtemp(prefix=f"mzstart-{label}-")
        try:
            warm_up(lambda: make(label, repo, tmp), names, args.limit)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    for r in range(args.start_only):
        for label, repo in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
            storage = tempfile.mkdtemp(prefix=f"mzstart-{label}-")
            srv = make(label, repo, storage)
            try:
                quiet_writes()
                srv.start()
                first = srv.wait_answer(args.limit)
                every = wait_all(srv, names, args.limit)
                rows[label].append({"first_s": round(first, 3), "ready_s": round(every, 3),
                                    "cpu_s": round(tree_cpu_seconds(srv), 3)})
            finally:
                srv.stop()
                shutil.rmtree(storage, ignore_errors=True)
        print("round", r, json.dumps({k: v[-1] for k, v in rows.items()}), flush=True)
    out = {"runs": rows, "median": {}, "vs_nsd": {}}
    for label, rs in rows.items():
        out["median"][label] = {k: round(statistics.median(x[k] for x in rs), 3)
                                for k in ("first_s", "ready_s", "cpu_s")}
        if label != "nsd":
            per = [a["ready_s"] / b["ready_s"] for a, b in zip(rs, rows["nsd"])]
            out["vs_nsd"][label] = {"rounds": [round(x, 3) for x in per],
                                    "median": round(statistics.median(per), 3)}
    return out


def restart_rounds(zdir, names, args):
    """robdns only, the restart row alone (--restart-only): for this checkout's build and
    --before REPO's, one start until every image is kept, then `rounds` restarts from the
    kept images, interleaved between the builds: seconds from spawn to the first answer
    (first_s) and until every zone answers (restart_s, as run_server's), and the sweep's
    own share (restart_s - first_s).  Both run with their bytecode cached, as installed."""
    import statistics
    import tempfile
    builds = [("this", None)] + ([("before", os.path.abspath(args.before))] if args.before else [])

    def server(repo, storage):
        return installed_robdns(repo, zdir, names, storage, 0 if args.pin else None)

    storages, rows = {}, {label: [] for label, _ in builds}
    try:
        for label, repo in builds:
            storages[label] = tempfile.mkdtemp(prefix=f"mzrestart-{label}-")
            srv = server(repo, storages[label])
            try:
                srv.start()
                wait_all(srv, names, args.limit)
                wait_kept(storages[label], len(names), args.limit)
            finally:
                srv.stop()
        for _ in range(args.restart_only):
            for label, repo in builds:
                srv = server(repo, storages[label])
                try:
                    srv.start()
                    first = srv.wait_answer(args.limit)
                    every = wait_all(srv, names, args.limit)
                    rows[label].append({"first_s": round(first, 3), "restart_s": round(every, 3)})
                finally:
                    srv.stop()
    finally:
        for d in storages.values():
            shutil.rmtree(d, ignore_errors=True)
    out = {"runs": rows, "median": {}}
    for label, r in rows.items():
        out["median"][label] = {k: round(statistics.median(x[k] for x in r), 3)
                                for k in ("first_s", "restart_s")}
    return out


def spread_rounds(zdir, names, args):
    """robdns only, the CPU rows alone (--spread-only): this checkout's build and --before
    REPO's, each started (images compiled: "fresh") and then restarted from its kept
    images ("kept"), then told of one changed zone and reloaded ("reloaded", the state
    run_server measures them in); in each state `rounds` times, alternating
    builds and the two loads (one zone, spread over every zone): server CPU microseconds
    per answered query, by thread, and the ratio of the medians."""
    import statistics
    import tempfile
    builds = [("this", None)] + ([("before", os.path.abspath(args.before))] if args.before else [])

    def server(repo, storage):
        class Installed(ManyRobdns):
            def env(self):
                env = super().env()
                if repo:
                    env["PYTHONPATH"] = repo + os.pathsep + env["PYTHONPATH"]
                return env
        return Installed(zdir, names, storage, cpu=0 if args.pin else None)

    spread = list(names)
    random.Random(1).shuffle(spread)
    loads = (("spread", spread), ("one", [names[0]] * 1000))   # run_server's order
    srvs, storages, out = {}, {}, {}

    def measure(state):
        settled = {label: settle(srvs[label]) for label, _ in builds}
        rows = {label: {"one": [], "spread": [], "threads": []} for label, _ in builds}
        for _ in range(args.spread_only):
            for label, _ in builds:
                srv, per = srvs[label], {}
                for mix, qnames in loads:
                    t0 = procfs.cpu_ticks_by_thread(srv.pids())
                    us, done = cpu_per_query(srv, qnames, args.qps_seconds, mix, count=True)
                    t1 = procfs.cpu_ticks_by_thread(srv.pids())
                    rows[label][mix].append(_r(us))
                    per[mix] = {k: round((t1[k] - t0.get(k, 0)) / procfs.CLK_TCK * 1e6 / done, 2)
                                for k in t1 if done and t1[k] != t0.get(k, 0)}
                rows[label]["threads"].append(per)
        med = {}
        for label, r in rows.items():
            one, spr = statistics.median(r["one"]), statistics.median(r["spread"])
            med[label] = {"cpu_us_one": round(one, 2), "cpu_us_spread": round(spr, 2),
                          "spread_vs_one": round(spr / one, 3)}
        # how much of each server's memory is in huge pages (smaps_rollup, kB)
        huge = {label: {k: v for k, v in procfs.parse_status(procfs._read(
                    f"/proc/{srvs[label].proc.pid}/smaps_rollup")).items()
                    if k in ("Rss", "AnonHugePages", "FilePmdMapped")} for label, _ in builds}
        out[state] = {"runs": rows, "median": med, "huge_kb": huge, "settle_s": settled}
        print(state, json.dumps(med), json.dumps(huge), flush=True)

    try:
        for label, repo in builds:
            storages[label] = tempfile.mkdtemp(prefix=f"mzspread-{label}-")
            srvs[label] = server(repo, storages[label]).start()
            wait_all(srvs[label], names, args.limit)
            # the keeper's first write of every image is a start's one-off work too
            wait_kept(storages[label], len(names), args.limit)
        measure("fresh")
        for label, _ in builds:
            srv = srvs[label]
            srv.proc.terminate()           # as run_server: stop() would remove its directory
            srv.proc.wait(60)
            srv.log.close()
            srv.start()                    # from the kept images, as run_server measures
            wait_all(srv, names, args.limit)
        measure("kept")
        for label, _ in builds:            # one changed zone reloaded, as run_server does
            changed_zone_reload(srvs[label], zdir, names[len(names) // 2], args.limit)
        measure("reloaded")
    finally:
        for srv in srvs.values():
            srv.stop()
        for d in storages.values():
            shutil.rmtree(d, ignore_errors=True)
    return out


def _r(x):
    return None if x is None else round(x, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=100000)
    ap.add_argument("--servers", default="robdns,knot,nsd")
    ap.add_argument("--limit", type=float, default=600.0, help="seconds before giving up")
    ap.add_argument("--qps-seconds", type=float, default=5.0, help="dnsperf run; 0: skip")
    ap.add_argument("--no-pin", dest="pin", action="store_false")
    ap.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                    help="full run: no unmeasured start of each server before its measured one")
    ap.add_argument("--engine-only", action="store_true", help="the engine in process only")
    ap.add_argument("--engine-seconds", type=float, default=1.0)
    ap.add_argument("--engine-rounds", type=int, default=5)
    ap.add_argument("--reload-phases", type=int, default=0, metavar="ROUNDS",
                    help="in process: the reload of one changed zone, by phase (ms, median), "
                         "without and with the inotify watch, twice")
    ap.add_argument("--restart-only", type=int, default=0, metavar="ROUNDS",
                    help="robdns's restart from kept images only, ROUNDS times (see --before)")
    ap.add_argument("--start-only", type=int, default=0, metavar="ROUNDS",
                    help="the cold start until every zone answers only: robdns (see --before) "
                         "and NSD, ROUNDS times, rotating; ratios to NSD per round")
    ap.add_argument("--spread-only", type=int, default=0, metavar="ROUNDS",
                    help="robdns's CPU per query spread over every zone and on one only, "
                         "ROUNDS times alternating (see --before)")
    ap.add_argument("--before", metavar="REPO",
                    help="with --start-only/--restart-only/--spread-only: also the in-place build of REPO, "
                         "same rounds")
    args = ap.parse_args()
    zdir, names = generate(args.zones)
    if args.spread_only:
        r = spread_rounds(zdir, names, args)
        print(json.dumps({"zones": args.zones, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          "command": " ".join(["python3"] + sys.argv), "before": args.before, **r}))
        return
    if args.start_only:
        r = start_rounds(zdir, names, args)
        print(json.dumps({"zones": args.zones, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          "command": " ".join(["python3"] + sys.argv), "before": args.before, **r}))
        return
    if args.restart_only:
        r = restart_rounds(zdir, names, args)
        print(json.dumps({"zones": args.zones, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          "command": " ".join(["python3"] + sys.argv), "before": args.before, **r}))
        return
    if args.reload_phases:
        # the stat pass (no watch) and the inotify log, alternating, in the same run
        r = {"stat_pass": [], "watch": []}
        for _ in range(2):
            for label, w in (("stat_pass", False), ("watch", True)):
                r[label].append(reload_phases(zdir, names, args.reload_phases, watch=w))
        print(json.dumps({"zones": args.zones, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          "command": " ".join(["python3"] + sys.argv), "reload_ms": r}))
        return
    if args.engine_only:
        r = engine_spread(zdir, names, args.engine_seconds, args.engine_rounds)
        print(json.dumps({"zones": args.zones, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          "command": " ".join(["python3"] + sys.argv), **r}))
        return
    results = {"zones": args.zones, "machine": procfs.machine_facts()}
    storage = os.path.join(OUT, f"manyzones-{args.zones}-storage")
    shutil.rmtree(storage, ignore_errors=True)
    results["command"] = " ".join(["python3"] + sys.argv)
    results["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for kind in args.servers.split(","):
        results[kind] = run_server(kind, zdir, names, args, storage)
        print(kind, json.dumps(results[kind]), flush=True)
    results["ratios"] = ratios(results)
    print("ratios", json.dumps(results["ratios"]), flush=True)
    servers.print_and_save(json.dumps(results, indent=1), results,
                           os.path.join(OUT, f"manyzones-{args.zones}.json"))


if __name__ == "__main__":
    main()
