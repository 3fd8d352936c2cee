"""Robustness of the master-file parser: arbitrary and mutated input never raises or
crashes, every message has the FILE:LINE form; random $GENERATE templates agree with
dnspython."""
import os
import re

import dns.zone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robdns import _core


def _n(default):
    """Example count; ZSCAN_EXAMPLES raises it for a long run by hand."""
    return int(os.environ.get("ZSCAN_EXAMPLES", default))

O = "example.com."
MSG = re.compile(r"^<string>:\d+: (error|warning): \S.*$|^\.\.\. \d+ more messages not shown$")
SEED = (b"$ORIGIN example.com.\n$TTL 1h\n@ SOA ns1 host ( 1 2 3 4 5 )\n  NS ns1\n"
        b"ns1 A 192.0.2.1\nwww 300 IN AAAA 2001:db8::1\nt TXT \"a\\\"b\" c\\065\n"
        b"$GENERATE 1-3 h$ CNAME ${1,2,x}\nx TYPE65400 \\# 2 0a0b\n"
        b"k DNSKEY 257 3 13 AAECAwQ=\ns NSEC3 1 0 1 - 0123456789ABCDEFGHIJKLMNOPQRSTUV A\n"
        b"l LOC 1 2 3 N 4 5 6 E 7m\n")


def _check(data):
    records, messages = _core.parse_zone_text(data, O, message_limit=20)
    for m in messages:
        assert MSG.match(m), m
    for owner, ttl, rclass, rtype, rdata in records:
        assert 1 <= len(owner) <= 255 and owner.endswith(b"\x00")
        assert rclass == 1 and 0 <= rtype <= 65535 and len(rdata) <= 65535


@settings(max_examples=_n(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes(data):
    _check(data)


@settings(max_examples=_n(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1),
                          st.sampled_from([b"", b"(", b")", b"\"", b"\\", b";", b"\n", b" ",
                                           b"$", b"\\0", b"\xff", b"\x00", b"9999999999",
                                           b".", b"..", b"@", b"${", b"}"])),
                min_size=1, max_size=6))
def test_mutated_zone(edits):
    data = bytearray(SEED)
    for pos, ins in edits:
        data[pos:pos + 1] = ins
    _check(bytes(data))


_piece = st.sampled_from(["$", "${1}", "${-3,2}", "${0,3,x}", "${2,4,X}", "${0,2,o}",
                          "${0,3,n}", "${1,5,N}", "$$", "a", "-", "\\$", "b7"])


@settings(max_examples=_n(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_piece, min_size=1, max_size=4), st.lists(_piece, min_size=1, max_size=4),
       st.integers(0, 40), st.integers(0, 30), st.integers(1, 7),
       st.sampled_from(["PTR", "TXT"]))   # not CNAME: a singleton dnspython replaces
def test_generate_templates_match_dnspython(lhs, rhs, start, span, step, rtype):
    lhs, rhs = "".join(lhs), "".join(rhs)
    text = f"$TTL 60\n$GENERATE {start}-{start + span}/{step} {lhs} {rtype} {rhs}\n"
    try:
        z = dns.zone.from_text(text, O, relativize=False, check_origin=False)
    except dns.exception.DNSException:
        _, messages = _core.parse_zone_text(text, O)
        assert messages and all(MSG.match(m) for m in messages), (text, messages)
        return
    want = sorted((n.to_wire(), rd.to_wire()) for n, node in z.nodes.items()
                  for rds in node.rdatasets for rd in rds)
    records, messages = _core.parse_zone_text(text, O)
    assert messages == [], text
    got = sorted(set((r[0], r[4]) for r in records))
    # dnspython merges identical (owner, rdata) and keeps the first-seen owner case
    assert [(o.lower(), d) for o, d in got] == [(o.lower(), d) for o, d in want], text
