#!/usr/bin/env python3
# manyzones_memory.py — where the resident memory of robdns with many small zones goes: images, zone table, Python objects per zone, malloc's free heap, the bare process.
"""Loads the zones of `manyzones_bench.py --zones N` (same generated files, same config
lines) in this process the way the daemon's first load does (robdns.daemon.Daemon.load
with a fresh server.storage, then the keeper thread's pack written), and reports, with
the resident set measured after each step:

- bare: the interpreter with robdns.daemon and the extension imported;
- config: the config read (PyYAML / robdns.zonelist) and the zone configs it holds;
- load: the zones compiled and published: the images (sum of their sizes and the
  mappings holding them), the zone table (slots x 24 bytes) and the rest of the snapshot;
- keep: the keeper thread's pack written; malloc_trim: then glibc's free heap given back;
- Python objects (--trace: tracemalloc over the whole run, the top holders by file and
  line; costs time and memory of its own, so the RSS figures of a traced run are not the
  ones to quote) and malloc's arena statistics (mallinfo2: heap in use, free in the heap,
  mmapped chunks).

    python3 bench/manyzones_memory.py --zones 100000
    python3 bench/manyzones_memory.py --zones 10000 --trace 25
"""

import argparse
import ctypes
import gc
import json
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import manyzones_bench                     # noqa: E402


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]


def mallinfo():
    """glibc's statistics of the main arena and the mmapped chunks, in MB (mallinfo2 sums
    every arena since glibc 2.33)."""
    libc = ctypes.CDLL(None)
    f = libc.mallinfo2
    f.restype = _Mallinfo2
    m = f()
    mb = lambda x: round(x / 2**20, 1)        # noqa: E731
    return {"heap_mb": mb(m.arena), "in_use_mb": mb(m.uordblks), "free_in_heap_mb": mb(m.fordblks),
            "mmapped_mb": mb(m.hblkhd), "top_releasable_mb": mb(m.keepcost)}


def smaps():
    """Resident MB of this process by kind of mapping: [heap], anonymous, huge-page
    anonymous (AnonHugePages), file-backed (libraries), stacks."""
    out = {"heap": 0, "anon": 0, "anon_huge": 0, "file": 0, "stack": 0}
    kind = None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                name = head[5] if len(head) > 5 else ""
                kind = ("heap" if name == "[heap]" else "stack" if name.startswith("[stack")
                        else "anon" if name == "" else "file" if name.startswith("/") else "anon")
            elif head[0] == "Rss:":
                out[kind] += int(head[1])
            elif head[0] == "AnonHugePages:":
                out["anon_huge"] += int(head[1])
    return {k: round(v / 1024, 1) for k, v in out.items()}


def pymalloc():
    """Python's small-object allocator (sys._debugmallocstats, read from stderr): MB in
    its arenas, in live blocks, and free inside them (fragmentation it keeps)."""
    import tempfile as _t
    with _t.TemporaryFile("w+") as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read()
    def grab(label):
        m = re.search(r"^" + re.escape(label) + r".*=\s*([\d,]+)\s*$", text, re.M)
        return int(m.group(1).replace(",", "")) if m else 0
    arenas = grab("# arenas allocated current") * 2**20
    used = grab("# bytes in allocated blocks")
    return {"arenas_mb": round(arenas / 2**20, 1), "live_mb": round(used / 2**20, 1),
            "free_mb": round((arenas - used) / 2**20, 1)}


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=100000)
    ap.add_argument("--trace", type=int, default=0, help="tracemalloc: show this many top lines")
    args = ap.parse_args()
    if args.trace:
        import tracemalloc
        tracemalloc.start(1)
    steps = {}
    from robdns import _core, config, daemon    # noqa: F401
    from robdns.keep import Keep
    steps["bare"] = rss_mb()
    zdir, names = manyzones_bench.generate(args.zones)
    tmp = tempfile.mkdtemp(prefix="mzmem-")
    try:
        conf = manyzones_bench.write_config(tmp, zdir, names)
        del names                     # the daemon holds no such list: 7.6 MB of 100,000 strings
        cfg = config.load(conf)
        gc.collect()
        steps["config"] = rss_mb()
        py_config = pymalloc()
        d = daemon.Daemon(cfg)
        d.keep = Keep(cfg.storage)
        d.keep.prepare()
        t0 = time.monotonic()
        zones = d.load(cfg)
        load_s = time.monotonic() - t0
        gc.collect()
        steps["load"] = rss_mb()
        mi_load = mallinfo()
        sm_load = smaps()
        py_load = pymalloc()
        d.keeper.shutdown(wait=True)
        gc.collect()
        steps["keep"] = rss_mb()
        ctypes.CDLL(None).malloc_trim(0)
        steps["malloc_trim"] = rss_mb()
        imgs = zones.images()
        sizes = [im.size for im in imgs]
        slots = 16
        while slots < 2 * len(imgs):
            slots *= 2
        out = {"zones": args.zones, "load_s": round(load_s, 2), "rss_mb": steps,
               "images_mb": round(sum(sizes) / 2**20, 1),
               "image_bytes_per_zone": round(sum(sizes) / max(1, len(sizes))),
               "zonetab_mb": round(slots * 24 / 2**20, 1),
               "pymalloc_after_config": py_config, "mallinfo_after_load": mi_load, "smaps_after_load": sm_load,
               "pymalloc_after_load": py_load, "pymalloc_after_keep": pymalloc(),
               "mallinfo_after_keep": mallinfo(), "smaps_after_keep": smaps()}
        if args.trace:
            snap = tracemalloc.take_snapshot()
            stats = snap.statistics("lineno")
            out["traced_mb"] = round(sum(s.size for s in stats) / 2**20, 1)
            out["traced_bytes_per_zone"] = round(sum(s.size for s in stats) / args.zones)
            out["top"] = [f"{s.size / 2**20:.2f} MB {s.count} x {s.traceback[0].filename.split('/')[-1]}"
                          f":{s.traceback[0].lineno}" for s in stats[:args.trace]]
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
