"""difftool — run the differential comparison outside pytest and group the mismatches.

    python3 tests/differential/difftool.py [CLASS_PREFIX ...] [--examples N]

Starts Knot and NSD on the corpus, answers every generated query (or those whose case
class starts with a given prefix) with robdns in-process, and prints each kind of
mismatch once — grouped by name kind and by which response fields differ from the
closer peer — with its count and the shortest query that shows it: the write-up of each
open engine bug in known_engine_bugs.py starts from this output.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE), os.path.dirname(os.path.dirname(HERE))]

import dnsnorm  # noqa: E402
import peerdiff  # noqa: E402
import querygen  # noqa: E402
import refservers  # noqa: E402


def _fields(a: dnsnorm.Norm, b: dnsnorm.Norm) -> tuple:
    return tuple(f for f in peerdiff.FIELDS if getattr(a, f) != getattr(b, f))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefixes", nargs="*")
    ap.add_argument("--examples", type=int, default=1)
    args = ap.parse_args(argv)

    from robdns import _core
    zones = querygen.corpus_zones()
    db = _core.Database([_core.compile_zone(o, p) for o, p in zones],
                        identity=refservers.TEST_IDENTITY, version=refservers.TEST_VERSION,
                        nsid=refservers.TEST_NSID,
                        max_udp_payload=refservers.UDP_PAYLOAD_CEILING)
    groups = collections.defaultdict(list)
    total = 0
    with refservers.start_knot(zones) as knot, refservers.start_nsd(zones) as nsd:
        for case_class, queries in sorted(querygen.generate().items()):
            if args.prefixes and not any(case_class.startswith(p) for p in args.prefixes):
                continue
            for q in queries:
                total += 1
                wire = q.wire()
                mine = dnsnorm.normalize(_core.answer(db, wire, tcp=q.tcp), wire)
                k = dnsnorm.normalize(knot.ask(wire, q.tcp), wire)
                n = dnsnorm.normalize(nsd.ask(wire, q.tcp), wire)
                if mine in (k, n):
                    continue
                fk, fn = _fields(mine, k), _fields(mine, n)
                closer = min((len(fk), "knot", fk), (len(fn), "nsd", fn))
                key = (case_class.split("/")[0], closer[2])
                groups[key].append((len(q.qname), q, mine, k, n))
    mismatched = sum(len(v) for v in groups.values())
    print(f"{total} queries, {mismatched} answered unlike both peers, {len(groups)} groups\n")
    for (kind, fields), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        items.sort(key=lambda t: (t[0], t[1].qtype))
        classes = sorted({t[1].case_class for t in items})
        print(f"## {kind}: differs in {', '.join(fields)} — {len(items)} queries "
              f"(classes: {', '.join(classes[:8])}{' ...' if len(classes) > 8 else ''})")
        for _, q, mine, k, n in items[:args.examples]:
            print(f"query: {q.describe()}")
            print(dnsnorm.diff({"robdns": mine, "knot": k, "nsd": n}))
        print()
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
