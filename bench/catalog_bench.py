#!/usr/bin/env python3
# catalog_bench.py — a catalog of N member zones (RFC 9432) consumed by robdns and by Knot from the same robdns producer: time until every member answers, memory, and robdns restarted from its kept copies.
"""The N zones of manyzones_bench (about a dozen records each) are served by one robdns
producer (server CPU 1) that generates the catalog `catalog.bench.` from them
(`catalog_member`) and lets 127.0.0.1 transfer everything.  Each consumer is started on
CPU 0 with only the catalog configured, its members made from a template whose primary is
the producer:

- robdns: `catalog: {role: consumer}` (one worker, server.storage in a fresh directory);
- Knot: `catalog-role: interpret` with a `catalog-template` (one UDP, TCP and background
  worker, as manyzones_bench runs it).

Measured per consumer: ready_s, seconds from spawn until every member zone has answered
its SOA with AA (the manyzones sweep); rss_mb / pss_mb once they all answer, rss_settled_mb
3 s later; robdns only:
restart_s, stopped and started again with the producer still up, until every member
answers (from the kept copies, before any transfer).

    python3 bench/catalog_bench.py --zones 2000
    python3 bench/catalog_bench.py --zones 20000 --servers robdns
"""

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import manyzones_bench as mz              # noqa: E402
import procfs                              # noqa: E402
import servers                             # noqa: E402
from servers import OUT                    # noqa: E402

CATALOG = "catalog.bench."


class Producer(mz.ManyRobdns):
    """robdns serving the N zones and the catalog of them, transfers open to 127.0.0.1."""

    def command(self):
        acl = '[{address: "127.0.0.1"}]'
        lines = [f'  - {{name: "{CATALOG}", catalog: {{role: producer}}, allow_transfer: {acl}}}\n']
        lines += (f'  - {{name: "{n}", file: "{self.zdir}/{n}zone", '
                  f'catalog_member: "{CATALOG}", allow_transfer: {acl}}}\n' for n in self.names)
        return mz.robdns_command(self, lines, "  xfr: {max_transfers: 64}\n")


class RobdnsConsumer(servers.Robdns):
    def __init__(self, primary, storage, cpu=None):
        super().__init__(os.devnull, CATALOG, None, cpu, 1, storage=storage)
        self.primary = primary

    def command(self):
        return mz.robdns_command(self, [
            f'  - name: "{CATALOG}"\n',
            f'    file: "{self.storage}/catalog.bench.zone"\n',
            f'    primaries: [{{address: "127.0.0.1@{self.primary}"}}]\n',
            f'    catalog: {{role: consumer, members: {{file: "{self.storage}/members/{{name}}.zone"}}}}\n'])


class KnotConsumer(servers.Knot):
    def __init__(self, primary, cpu=None):
        super().__init__(os.devnull, CATALOG, None, cpu, workers=1)
        self.primary = primary

    def command(self):
        conf = os.path.join(self.tmp, "knot.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    rundir: "{self.tmp}"
    listen: 127.0.0.1@{self.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "{self.tmp}"
remote:
  - id: producer
    address: 127.0.0.1@{self.primary}
template:
  - id: default
    storage: "{self.tmp}"
    zonefile-sync: -1
  - id: member
    storage: "{self.tmp}"
    zonefile-sync: -1
    master: producer
zone:
  - domain: "{CATALOG}"
    master: producer
    catalog-role: interpret
    catalog-template: member
""")
        return ["knotd", "-c", conf]


def ready(srv, names, limit):
    """Seconds from spawn until every member answers (the catalog itself is not asked:
    Knot answers no query for a catalog zone)."""
    mz.sweep(srv.port, names, limit)
    return time.perf_counter() - srv.t_spawn


def run_consumer(kind, port, names, args):
    out = {}
    storage = os.path.join(OUT, f"catalog-{args.zones}-consumer")
    shutil.rmtree(storage, ignore_errors=True)
    srv = RobdnsConsumer(port, storage, cpu=0) if kind == "robdns" else KnotConsumer(port, cpu=0)
    try:
        srv.start()
        out["ready_s"] = round(ready(srv, names, args.limit), 3)
        mem = procfs.memory_kb(srv.pids())
        out["rss_mb"], out["pss_mb"] = round(mem["rss"] / 1024, 1), round(mem["pss"] / 1024, 1)
        time.sleep(3.0)             # transfers and kept copies done: what stays
        out["rss_settled_mb"] = round(procfs.memory_kb(srv.pids())["rss"] / 1024, 1)
        if kind == "robdns":
            # the members' kept copies are written after they are served: wait for them
            deadline = time.perf_counter() + args.limit
            mdir = os.path.join(storage, "members")
            while sum(1 for e in os.scandir(mdir) if e.name.endswith(".img")) < len(names):
                if time.perf_counter() > deadline:
                    raise RuntimeError("kept copies not written")
                time.sleep(0.1)
            srv.proc.terminate()
            srv.proc.wait(60)
            srv.log.close()
            srv.start()
            out["restart_s"] = round(ready(srv, names, args.limit), 3)
            mem = procfs.memory_kb(srv.pids())
            out["restart_rss_mb"] = round(mem["rss"] / 1024, 1)
    except Exception:
        print(srv.log_tail(3000), file=sys.stderr)
        raise
    finally:
        srv.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=2000)
    ap.add_argument("--servers", default="robdns,knot")
    ap.add_argument("--limit", type=float, default=600.0, help="seconds before giving up")
    args = ap.parse_args()
    zdir, names = mz.generate(args.zones)
    results = {"zones": args.zones, "machine": procfs.machine_facts(),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    pstorage = os.path.join(OUT, f"catalog-{args.zones}-producer")
    shutil.rmtree(pstorage, ignore_errors=True)
    producer = Producer(zdir, names, pstorage, cpu=1)
    try:
        producer.start()
        mz.wait_all(producer, names, args.limit)
        for kind in args.servers.split(","):
            results[kind] = run_consumer(kind, producer.port, names, args)
            print(kind, json.dumps(results[kind]), flush=True)
    finally:
        producer.stop()
    servers.print_and_save(json.dumps(results, indent=1), results,
                           os.path.join(OUT, f"catalog-{args.zones}.json"))


if __name__ == "__main__":
    main()
