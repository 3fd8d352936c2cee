"""test_differential_hypothesis — random small zones and random queries: robdns against
Knot and NSD serving the same zone file (either peer's answer is accepted).

The corpus covers the cases someone thought of; this covers their combinations: random
trees of names over a tiny alphabet (so wildcards, empty non-terminals, CNAMEs into
wildcards, delegations with glue and names below them collide often).  Derandomized, so a
run is reproducible and the example hypothesis prints on failure is a minimal zone and
query.
"""

import os
import tempfile

import dns.flags
import dns.message
import dns.name
import dns.rdatatype
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dnsnorm
import refservers
from robdns import _core

ORIGIN = "hyp.test."
LABELS = ["a", "b", "c", "*"]
QTYPES = ["A", "AAAA", "TXT", "MX", "NS", "CNAME", "SOA", "DS", "ANY", "DNAME"]

relative_names = st.lists(st.sampled_from(LABELS), min_size=1, max_size=3).map(".".join)
# What a node holds: plain data, a CNAME (to a name of the zone, maybe not existing, or
# outside it), or a delegation (glue below it, or an out-of-zone name server).
node_kinds = st.one_of(
    st.tuples(st.just("data"), st.sets(st.sampled_from(["A", "AAAA", "TXT", "MX"]), min_size=1)),
    st.tuples(st.just("cname"), st.one_of(relative_names, st.just("out.example.org."))),
    st.tuples(st.just("deleg"), st.booleans()),
)
zones = st.dictionaries(relative_names, node_kinds, min_size=1, max_size=8)


def _below(name: str, ancestor: str) -> bool:
    return name != ancestor and name.endswith("." + ancestor)


def zone_text(nodes: dict) -> str:
    """A valid master file: nothing but glue below a cut, nothing beside a CNAME."""
    cuts = [n for n, (kind, _) in nodes.items() if kind == "deleg" and "*" not in n]
    lines = [f"$ORIGIN {ORIGIN}", "$TTL 300",
             "@ IN SOA ns.hyp.test. admin.hyp.test. 1 3600 600 86400 60",
             "@ IN NS ns", "ns IN A 192.0.2.53"]
    for i, (name, (kind, arg)) in enumerate(sorted(nodes.items())):
        if any(_below(name, c) for c in cuts) or name == "ns":
            continue
        if kind == "data":
            for t in sorted(arg):
                rdata = {"A": f"192.0.2.{i + 1}", "AAAA": f"2001:db8::{i + 1}",
                         "TXT": f'"t{i}"', "MX": f"10 {name}"}[t]
                lines.append(f"{name} IN {t} {rdata}")
        elif kind == "cname":
            lines.append(f"{name} IN CNAME {arg}")
        elif "*" not in name:  # a delegation (a wildcard NS is left out: RFC 4592 4.2)
            if arg:
                lines += [f"{name} IN NS ns.{name}", f"ns.{name} IN A 198.51.100.{i + 1}"]
            else:
                lines.append(f"{name} IN NS ns.outside.example.org.")
    return "\n".join(lines) + "\n"


queries = st.lists(st.tuples(
    st.one_of(relative_names.map(lambda n: f"{n}.{ORIGIN}"), st.just(ORIGIN),
              st.lists(st.sampled_from(["a", "b", "c", "d", "ns"]), min_size=1,
                       max_size=4).map(lambda ls: ".".join(ls) + "." + ORIGIN)),
    st.sampled_from(QTYPES), st.booleans(), st.booleans()), min_size=1, max_size=12)


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(zones, queries)
def test_random_zones_answered_like_knot_or_nsd(nodes, qs):
    text = zone_text(nodes)
    workdir = tempfile.mkdtemp(prefix="robdns-hyp-")
    path = os.path.join(workdir, "hyp.test.zone")
    with open(path, "w") as f:
        f.write(text)
    db = _core.Database([_core.compile_zone(ORIGIN, path)],
                        max_udp_payload=refservers.UDP_PAYLOAD_CEILING)
    try:
        with refservers.start_knot([(ORIGIN, path)]) as knot, \
                refservers.start_nsd([(ORIGIN, path)]) as nsd:
            for qname, qtype, edns, upper in qs:
                qname = qname.upper() if upper else qname   # the echo keeps the case
                msg = dns.message.make_query(qname, qtype, use_edns=0 if edns else False)
                msg.flags = 0
                wire = msg.to_wire()
                mine = dnsnorm.normalize(_core.answer(db, wire), wire)
                k = dnsnorm.normalize(knot.ask(wire), wire)
                n = dnsnorm.normalize(nsd.ask(wire), wire)
                assert mine in (k, n), (
                    f"zone:\n{text}\nquery: {qname} {qtype} edns={edns}\n"
                    + dnsnorm.diff({"robdns": mine, "knot": k, "nsd": n}))
    finally:
        os.unlink(path)
        os.rmdir(workdir)
