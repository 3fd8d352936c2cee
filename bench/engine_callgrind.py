#!/usr/bin/env python3
# engine_callgrind.py — instructions per query of the answer engine under callgrind: cookies off vs on over the same queries, load-independent.
"""Count the engine's instructions per query with valgrind's callgrind.

Timing cannot decide a difference of a few percent on a shared machine; instruction
counts can (they do not depend on the load).  Each variant runs in its own
`valgrind --tool=callgrind` process that loads a saved zone image and answers the first
`--queries` queries of the bench mix (genzone, `--records` records) round after round
through `_core.bench_answer`, 65,536 answers in all; only `rd_answer` and
`rd_answer_batch` (and what they call) are counted (`--toggle-collect`), so Python's
start-up and the harness are not.  The callgrind files stay in bench/out/
(callgrind.VARIANT.BATCH) for callgrind_annotate.

Variants: the plain queries (no COOKIE option) and the cookie queries of
engine_bench.py (a client cookie and the valid server cookie, RFC 7873 5.3) answered by
a database with cookies off (the option ignored) and on (validated, a worker's cookie
cache), each one `rd_answer` at a time and through `rd_answer_batch` of 64, the clock
given by the loop once per round (bench_answer's caller_clock: rd_transport.now, as a
caller gives its turn's: one query at a time makes the cache ready once per turn,
rd_cookie_turn); and for `rd_answer` also 'on' without the caller's clock (the engine
reads it, and makes the cache ready, for every single query).

    python3 bench/engine_callgrind.py                  # the table
    python3 bench/engine_callgrind.py --functions 12   # and where the 'on' runs spend
"""

import argparse
import os
import pickle
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

ANSWERS = 65536        # bench_answer's inner loop: one pass when asked for ~0 seconds
VARIANTS = ("plain", "off", "on")
# and for rd_answer alone: cookies on without the loop's clock (read by the engine, and
# the cache made ready, for every query)
NOCLOCK = "on-noclock"


def inner(data_path, variant, batch):
    """Under valgrind: answer the variant's queries; print how many were answered."""
    from robdns import _core
    with open(data_path, "rb") as f:
        d = pickle.load(f)
    img = _core.ZoneImage.load(d["image"])
    if variant in ("on", NOCLOCK):
        db = _core.Database([img], cookie_secret=d["secret"])
        cache = _core.CookieCache()
    else:
        db = _core.Database([img])
        cache = None
    queries = d["plain"] if variant == "plain" else d["cookie"]
    n = _core.bench_answer(db, queries, 1e-9, batch=batch, client=d["client"],
                           cookie_cache=cache, caller_clock=variant != NOCLOCK)[0]
    print(f"answered {n}")
    return 0


def run_variant(data_path, variant, batch, outdir):
    out = os.path.join(outdir, f"callgrind.{variant}.{batch}")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           "--toggle-collect=rd_answer", "--toggle-collect=rd_answer_batch",
           sys.executable, os.path.abspath(__file__), "--inner", data_path, variant, str(batch)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"answered (\d+)", r.stdout)
    if r.returncode or not m:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr[-2000:]}")
    with open(out) as f:
        total = next(int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:")))
    return total / int(m.group(1)), out


def functions(path, top):
    """callgrind_annotate's inclusive list of a run, the engine's functions only."""
    r = subprocess.run(["callgrind_annotate", "--inclusive=yes", path], capture_output=True,
                       text=True, check=True)
    rows = [ln for ln in r.stdout.splitlines() if re.match(r"\s*[\d,]+ \(", ln) and "robdns" in ln]
    return rows[:top]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--inner":
        return inner(argv[1], argv[2], int(argv[3]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=1000, help="the first N of the mix")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--functions", type=int, default=0,
                    help="also list the top N engine functions of the 'on' runs (inclusive)")
    ap.add_argument("--only", choices=("single", "batch"),
                    help="only one rd_answer at a time, or only rd_answer_batch")
    args = ap.parse_args(argv)

    import engine_bench
    from robdns import _core
    zone, qfile = engine_bench.ensure_zone(args.records, args.out)
    img = _core.compile_zone("bench.test.", zone)
    with tempfile.TemporaryDirectory(prefix="engine_callgrind.") as tmp:
        data = os.path.join(tmp, "data.pickle")
        img.save(os.path.join(tmp, "zone.zimg"))
        with open(data, "wb") as f:
            pickle.dump({"image": os.path.join(tmp, "zone.zimg"),
                         "plain": engine_bench.build_queries(qfile)[:args.queries],
                         "cookie": engine_bench.cookie_queries(qfile)[:args.queries],
                         "secret": engine_bench.COOKIE_SECRET,
                         "client": engine_bench.COOKIE_CLIENT}, f)
        print(f"instructions per query, callgrind, the first {args.queries} queries of "
              f"bench{args.records // 1000}k ({ANSWERS} answers per run)")
        for batch, label in ((0, "rd_answer"), (engine_bench.BATCH, f"rd_answer_batch of {engine_bench.BATCH}")):
            if args.only and args.only != ("batch" if batch else "single"):
                continue
            ir, paths = {}, {}
            for v in VARIANTS:
                ir[v], paths[v] = run_variant(data, v, batch, args.out)
            d = ir["on"] - ir["off"]
            print(f"{label}: plain {ir['plain']:.0f}, cookies off {ir['off']:.0f}, on "
                  f"{ir['on']:.0f}: {d:+.0f} ({100 * d / ir['off']:+.1f}%)")
            if not batch:
                ir[NOCLOCK], paths[NOCLOCK] = run_variant(data, NOCLOCK, batch, args.out)
                d = ir[NOCLOCK] - ir["off"]
                print(f"{label}, without the caller's clock (read per query): on "
                      f"{ir[NOCLOCK]:.0f}: {d:+.0f} ({100 * d / ir['off']:+.1f}%)")
            if args.functions:
                print("\n".join("    " + ln for ln in functions(paths["on"], args.functions)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
