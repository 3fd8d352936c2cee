"""test_dnssec_differential — robdns against Knot and NSD on zones signed inside the test.

Each signing variant (NSEC, NSEC3, NSEC3 with opt-out) of tests/dnssec_zones.py is served
by knotd and nsd (tests/refservers.py, the signed file as it is: no signing policy) and
compiled into robdns in-process.  Every name of the zone, names around it (absent names,
names below wildcards, cuts, empty non-terminals and NSEC3 owners) and every type a
DNSSEC answer can hinge on is asked with DO set and clear; robdns' normalized response
(tests/dnsnorm.py) must equal Knot's or NSD's.
"""

from __future__ import annotations

import os
import sys

import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.zone
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dnsnorm  # noqa: E402
import dnssec_zones  # noqa: E402
import refservers  # noqa: E402
from robdns._core import Database, answer, compile_zone  # noqa: E402

QTYPES = ("A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "DS", "DNSKEY", "RRSIG",
          "NSEC", "NSEC3", "NSEC3PARAM", "PTR", "ANY")
MAX_SHOWN = int(os.environ.get("DNSSEC_MAX_SHOWN", "6"))


def _query_names(path: str, origin: str) -> list:
    """The zone's names and names around them that exercise each kind of proof."""
    zone = dns.zone.from_file(path, origin, relativize=False)
    on = dns.name.from_text(origin)
    names = set()
    for name in zone.nodes:
        names.add(name)
        first = name.labels[0] if name != on else b""
        if first != b"*":
            names.add(dns.name.Name((b"nx",) + name.labels))         # absent below a name
        if first == b"*":
            names.add(dns.name.Name((b"x",) + name.labels[1:]))      # wildcard expansion
            names.add(dns.name.Name((b"a", b"b") + name.labels[1:]))  # two labels deeper
        names.add(name.parent() if name != on else name)
    names.add(dns.name.from_text("zzzz-absent", on))
    names.add(dns.name.from_text("0-absent", on))
    names.add(dns.name.from_text("absent.b.c", on))
    names.add(dns.name.from_text("a.dn", on))                 # DNAME substitution
    names.add(dns.name.from_text("b.a.dn", on))
    return sorted(str(n) for n in names)


@pytest.fixture(scope="module", params=dnssec_zones.VARIANTS)
def served(request, tmp_path_factory):
    for binary in (refservers.KNOTD, refservers.NSD):
        if not refservers.available(binary):
            pytest.fail(f"{binary} missing: scripts/test.sh installs knot and nsd")
    variant = request.param
    signed = dnssec_zones.sign_zone(str(tmp_path_factory.mktemp(variant)), variant)
    zones = [(signed.origin, signed.path)]
    db = Database([compile_zone(signed.origin, signed.path)],
                  identity=refservers.TEST_IDENTITY, version=refservers.TEST_VERSION,
                  nsid=refservers.TEST_NSID,
                  max_udp_payload=refservers.UDP_PAYLOAD_CEILING)
    with refservers.knot_and_nsd(zones) as (knot, nsd):
        yield signed, db, knot, nsd


def _compare(db, knot, nsd, wire: bytes):
    """None when robdns equals a peer, else the three-way diff."""
    ours = dnsnorm.normalize(answer(db, wire), wire)
    k = dnsnorm.normalize(knot.query(wire, timeout=2.0), wire)
    n = dnsnorm.normalize(nsd.query(wire, timeout=2.0), wire)
    if k.kind != "response" and n.kind != "response":
        return f"no peer answered"
    if ours == k or ours == n:
        return None
    return dnsnorm.diff({"robdns": ours, "knot": k, "nsd": n})


def _make(name: str, qtype: str, do: bool, payload: int = 1232) -> bytes:
    q = dns.message.make_query(name, qtype, use_edns=0 if do else None, want_dnssec=do,
                               payload=payload)
    q.flags &= ~dns.flags.RD
    return q.to_wire()


def test_signed_zone_answers_equal_a_peer(served):
    signed, db, knot, nsd = served
    names = _query_names(signed.path, signed.origin)
    assert len(names) > 40
    bad, total = [], 0
    for name in names:
        for qtype in QTYPES:
            for do in (True, False):
                total += 1
                d = _compare(db, knot, nsd, _make(name, qtype, do))
                if d is not None:
                    bad.append(f"{name} {qtype} DO={int(do)} ({signed.variant})\n{d}")
    assert total > 1200
    assert not bad, (f"{len(bad)} of {total} answers differ from both peers:\n\n"
                     + "\n\n".join(bad[:MAX_SHOWN]))


@pytest.mark.parametrize("payload", [512, 700])
def test_small_payload_truncation_like_the_peers(served, payload):
    """RFC 4035 3.1.1: when the signed answer or its signed proof does not fit the
    client's payload, TC is set.  Which partial records a truncated response keeps is
    each server's choice (robdns sends the question only); the TC decision and the rcode
    must be the peers', and an untruncated response must equal a peer's."""
    signed, db, knot, nsd = served
    bad = []
    o = signed.origin
    cases = [("nope." + o, "A"), ("x.wild." + o, "MX"), (o, "DNSKEY"), ("www." + o, "A"),
             ("insec." + o, "A"), ("c." + o, "A"), ("x.wild." + o, "A"), (o, "NS"),
             ("alias." + o, "MX"), ("sec." + o, "A")]
    truncated = 0
    for name, qtype in cases:
        wire = _make(name, qtype, True, payload)
        ours = dnsnorm.normalize(answer(db, wire), wire)
        k = dnsnorm.normalize(knot.query(wire, timeout=2.0), wire)
        n = dnsnorm.normalize(nsd.query(wire, timeout=2.0), wire)
        if "TC" in ours.flags:
            truncated += 1
            assert ours.answer == ours.authority == () and ours.edns is not None
            if not any("TC" in p.flags and p.rcode == ours.rcode for p in (k, n)):
                bad.append(f"{name} {qtype} payload {payload}: robdns truncated, peers did not\n"
                           + dnsnorm.diff({"robdns": ours, "knot": k, "nsd": n}))
        elif ours != k and ours != n:
            bad.append(f"{name} {qtype} payload {payload}\n"
                       + dnsnorm.diff({"robdns": ours, "knot": k, "nsd": n}))
    assert not bad, "\n\n".join(bad[:MAX_SHOWN])
    if payload == 512:
        assert truncated >= 1     # a signed NXDOMAIN proof cannot fit 512 octets


def _mixed_case(name: str, rnd) -> str:
    return "".join(ch.upper() if rnd.random() < 0.5 else ch for ch in name)


def test_mixed_case_and_tcp_equal_a_peer(served):
    """The question's letter case is echoed and does not change proofs (RFC 4343; NSEC3
    hashes the lower-cased name, RFC 5155 5); TCP answers are the same as UDP's when
    they fit, without the UDP size limit."""
    import random
    signed, db, knot, nsd = served
    rnd = random.Random(4343)
    names = _query_names(signed.path, signed.origin)[::2]
    bad, total = [], 0
    for name in names:
        for qtype in ("A", "MX", "DS", "NSEC", "DNSKEY"):
            for tcp in (False, True):
                wire = _make(_mixed_case(name, rnd), qtype, True)
                ours = dnsnorm.normalize(answer(db, wire, tcp=tcp), wire)
                k = dnsnorm.normalize(knot.query(wire, tcp=tcp, timeout=2.0), wire)
                n = dnsnorm.normalize(nsd.query(wire, tcp=tcp, timeout=2.0), wire)
                total += 1
                if ours != k and ours != n:
                    bad.append(f"{name} {qtype} tcp={tcp}\n"
                               + dnsnorm.diff({"robdns": ours, "knot": k, "nsd": n}))
    assert total > 200
    assert not bad, (f"{len(bad)} of {total} differ:\n\n" + "\n\n".join(bad[:MAX_SHOWN]))
