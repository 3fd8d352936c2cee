#!/usr/bin/env python3
# manyzones_engine_ab.py — two builds' engines over 100,000 zones, rounds alternated in lockstep: CPU per query spread over every zone and on one zone, one at a time and in batches of 1, 2 and 64 (--batches: others), min and median.
"""A/B of manyzones_bench.py --engine-only between built trees, for a shared machine.

One run of --engine-only per tree, one after the other, moves with the load by more than
the difference being looked for (batch spread 0.4-1.1 us for one unchanged build within
two minutes).  Here each tree gets a worker process that compiles the zones once
(manyzones_bench.engine_setup, against that tree's robdns) and then answers short rounds
on command; the rounds of the trees are interleaved (the order reversed every other
round), so both meet the same load, and each cell reports its minimum (the load only
adds) and median.

    python3 bench/manyzones_engine_ab.py /work/wt/before /work/wt/after [--rounds 12 --seconds 0.3]

Each tree must be built with ROBDNS_TEST_HOOKS=1 (_core.bench_answer).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# batch 1 and 2: what a UDP worker's recvmmsg mostly hands rd_answer_batch at 40k
# queries/s, where the pipeline has nothing to overlap; 64: a full pipeline; single:
# rd_answer (the XDP path's lone frames)
LABEL = {0: "single", 1: "batch1", 2: "batch2", 64: "batch"}


def label(batch):
    return LABEL.get(batch, f"batch{batch}")


def worker(repo, zones):
    sys.path.insert(0, repo)           # this tree's robdns, before anything imports one
    sys.path.insert(0, HERE)
    import manyzones_bench as m
    import servers
    servers.REPO = repo
    zdir, names = m.generate(zones)
    db, mixes = m.engine_setup(zdir, names)
    from robdns import _core
    print("ready", flush=True)
    for line in sys.stdin:
        mix, batch, seconds = line.split()
        done, _, cpu, _ = _core.bench_answer(db, mixes[mix], float(seconds), batch=int(batch))
        print(cpu * 1e9 / done, flush=True)


def main():
    if sys.argv[1:2] == ["--worker"]:
        return worker(sys.argv[2], int(sys.argv[3]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs="+", help="built checkouts, each with its robdns/_core")
    ap.add_argument("--zones", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=0.3, help="CPU seconds per round")
    ap.add_argument("--batches", default="0,1,2,64",
                    help="batch sizes, 0: one query at a time (2-7: a recvmmsg's few under load)")
    args = ap.parse_args()
    cells = [(int(b), mix) for b in args.batches.split(",") for mix in ("spread", "one")]
    # the zone files made once, here, before the workers: each would otherwise write the
    # same directory at the same time when it is not there yet (and leave it broken)
    sys.path.insert(0, HERE)
    import manyzones_bench
    manyzones_bench.generate(args.zones)
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker",
                               os.path.abspath(t), str(args.zones)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for t in args.trees]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise SystemExit("a worker failed to start")
        ns = {t: {c: [] for c in cells} for t in args.trees}
        for r in range(args.rounds):
            for batch, mix in cells:
                order = list(zip(args.trees, procs))
                for t, p in (order if r % 2 == 0 else order[::-1]):
                    p.stdin.write(f"{mix} {batch} {args.seconds}\n")
                    p.stdin.flush()
                    ns[t][(batch, mix)].append(float(p.stdout.readline()))
    finally:
        for p in procs:
            p.stdin.close()
            p.wait()
    for t in args.trees:
        out = {"tree": t, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        for batch, mix in cells:
            v = ns[t][(batch, mix)]
            out[f"{label(batch)}_{mix}_ns"] = [round(min(v)), round(statistics.median(v))]
        for k in dict.fromkeys(label(b) for b, _ in cells):
            s, o = out[f"{k}_spread_ns"], out[f"{k}_one_ns"]
            out[f"{k}_spread_vs_one"] = [round(s[0] / o[0], 2), round(s[1] / o[1], 2)]
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
