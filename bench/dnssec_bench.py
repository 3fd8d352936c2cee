#!/usr/bin/env python3
# dnssec_bench.py — in-process engine CPU per query on a signed zone against the same zone unsigned.
"""One generated zone (HOSTS names with A and TXT, DELEGATIONS insecure delegations with
glue, a wildcard), compiled unsigned and signed three ways with dnssec-signzone (NSEC,
NSEC3 with 0 extra iterations as RFC 9276 3.1 advises, NSEC3 with 10).  Each query mix is
answered by robdns._core.bench_answer (a C loop without the GIL, no sockets) for SECONDS
per round; rounds interleave the zones; medians of ROUNDS.  Figures are nanoseconds of
CPU per answered query (one thread, wall time of a CPU-bound loop).

Mixes (each a fixed list of pre-made queries, round-robin):
  positive   A of existing names
  nxdomain   A of absent names (the NSEC3 case hashes three names per query)
  nodata     MX of existing names
  referral   A below the insecure delegations
  mixed      the four in equal parts
each with DO clear and DO set.

    python3 bench/dnssec_bench.py                 # 3 rounds x 0.5 s per cell
    python3 bench/dnssec_bench.py --rounds 1 --seconds 0.2
"""

import argparse
import datetime
import os
import random
import statistics
import sys
import tempfile

import dns.flags
import dns.message

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import dnssec_zones  # noqa: E402  (tests/dnssec_zones.py: signing with dnssec-signzone)
import testhooks  # noqa: E402

testhooks.require("bench_answer")
from robdns._core import Database, bench_answer, compile_zone  # noqa: E402

ORIGIN = "bench-signed.example."


def zone_text(hosts: int, delegations: int) -> str:
    lines = ["$TTL 3600",
             "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300",
             "@ IN NS ns1", "@ IN NS ns2", "ns1 IN A 192.0.2.1", "ns2 IN A 192.0.2.2",
             "*.wild IN A 192.0.2.3"]
    for i in range(hosts):
        lines.append(f"h{i} IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        lines.append(f'h{i} IN TXT "host {i}"')
    for i in range(delegations):
        lines.append(f"d{i} IN NS ns.d{i}")
        lines.append(f"ns.d{i} IN A 10.200.{i >> 8 & 255}.{i & 255}")
    return "\n".join(lines) + "\n"


def queries(mix: str, do: bool, hosts: int, delegations: int, n: int = 4096) -> list:
    rnd = random.Random(6)

    def q(name, qtype):
        m = dns.message.make_query(name + "." + ORIGIN, qtype, want_dnssec=do,
                                   use_edns=0 if do else None)
        m.flags &= ~dns.flags.RD
        return m.to_wire()

    makers = {
        "positive": lambda: q(f"h{rnd.randrange(hosts)}", "A"),
        "nxdomain": lambda: q(f"nx{rnd.randrange(10**9)}", "A"),
        "nodata": lambda: q(f"h{rnd.randrange(hosts)}", "MX"),
        "referral": lambda: q(f"www.d{rnd.randrange(delegations)}", "A"),
    }
    if mix == "mixed":
        kinds = list(makers)
        return [makers[kinds[i % 4]]() for i in range(n)]
    return [makers[mix]() for _ in range(n)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hosts", type=int, default=20000)
    p.add_argument("--delegations", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=0.5)
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="robdns-dnssec-bench-")
    text = zone_text(a.hosts, a.delegations)
    unsigned = os.path.join(work, "unsigned.zone")
    with open(unsigned, "w") as f:
        f.write(text)
    zones = {"unsigned": compile_zone(ORIGIN, unsigned)}
    for label, variant, iters in (("NSEC", "nsec", 0), ("NSEC3 it=0", "nsec3", 0),
                                  ("NSEC3 it=10", "nsec3", 10)):
        signed = dnssec_zones.sign_zone(os.path.join(work, label.replace(" ", "_")), variant,
                                        origin=ORIGIN, text=text, iterations=iters)
        zones[label] = compile_zone(ORIGIN, signed.path)
    dbs = {k: Database([z]) for k, z in zones.items()}
    mixes = ("positive", "nxdomain", "nodata", "referral", "mixed")
    qsets = {(m, do): queries(m, do, a.hosts, a.delegations) for m in mixes
             for do in (False, True)}
    results = {}
    for _ in range(a.rounds):
        for (m, do), qs in qsets.items():
            for label, db in dbs.items():
                done, elapsed, _ = bench_answer(db, qs, a.seconds)
                results.setdefault((m, do, label), []).append(elapsed / done * 1e9)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    print(f"dnssec_bench {stamp}, load average {load:.1f}, zone: {a.hosts} hosts x (A, TXT), "
          f"{a.delegations} insecure delegations; median of {a.rounds} rounds x {a.seconds} s")
    labels = list(dbs)
    print("| mix | DO | " + " | ".join(f"{k} ns/q" for k in labels) +
          " | " + " | ".join(f"{k} / unsigned" for k in labels[1:]) + " |")
    print("|---" * (2 + 2 * len(labels) - 1) + "|")
    for m in mixes:
        for do in (False, True):
            med = {k: statistics.median(results[(m, do, k)]) for k in labels}
            print(f"| {m} | {'on' if do else 'off'} | "
                  + " | ".join(f"{med[k]:.0f}" for k in labels) + " | "
                  + " | ".join(f"{med[k] / med['unsigned']:.2f}x" for k in labels[1:]) + " |")


if __name__ == "__main__":
    main()
