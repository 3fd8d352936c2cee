"""test_zimg_build_threads — zimg_build's node sort and rrset fill split over two threads
(zone/zimg_build.c, zimg_build_threads) give, byte for byte, the image of the one-thread
build, with the same messages in the same order: zone files of the corpus, a generated
zone of every kind of entity, rrsets whose records' TTLs differ (warnings from both
halves), NS/MX/SRV targets linked in parts by both threads (additional lists moved
together, the glue messages of every part in rrset order), and a transfer's build that
gives its records back (zimg_build_consume)."""

import os
import sys

import pytest

from robdns.errors import ZoneError

from robdns import _core

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))

import genzone   # noqa: E402
from test_zimg_parallel import compile_both   # noqa: E402  (one and two threads, one build each)


@pytest.fixture
def threads():
    """Build threads as the test sets them; the precompute pass on one thread, so that
    the answers appended are laid out the same way in both builds."""
    old_b = _core.set_build_threads(0)
    old_p = _core.set_precompute_threads(1)
    yield _core.set_build_threads
    _core.set_build_threads(old_b)
    _core.set_precompute_threads(old_p)


def assert_same(one, two):
    assert one.node_count == two.node_count and one.record_count == two.record_count
    assert one.same_content(two)
    assert one.warnings == two.warnings


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(CORPUS) if f.endswith(".zone")))
def test_corpus_zone(threads, name):
    origin = name[:-len("zone")]
    one, two = compile_both(threads, lambda: _core.compile_zone(origin, os.path.join(CORPUS, name)))
    assert_same(one, two)


def test_generated_zone(threads, tmp_path):
    # delegations, glue, CNAME chains, wildcards, empty non-terminals, mail domains
    z = genzone.generate_zone(30000, origin="bench.test.", seed=7)
    path = tmp_path / "bench.zone"
    path.write_text("".join(z.lines))
    one, two = compile_both(threads, lambda: _core.compile_zone("bench.test.", str(path)))
    assert one.record_count > 25000
    assert_same(one, two)


def test_ttl_warnings_of_both_halves_in_order(threads):
    # RFC 2181 5.2: an rrset whose records' TTLs differ takes the last one's, with a
    # warning; rrsets of the kind in the first and in the second half of the fill
    lines = ["$ORIGIN example.net.", "@ 300 SOA ns1 hostmaster 1 3600 600 86400 300",
             "@ 300 NS ns1", "ns1 300 A 192.0.2.1"]
    for i in range(4000):
        lines.append(f"h{i:04d} 300 A 198.51.100.{i % 250 + 1}")
        if i % 700 == 3:
            lines.append(f"h{i:04d} 600 A 203.0.113.{i % 250 + 1}")
    one, two = compile_both(threads, lambda: _core.compile_zone_text("example.net.", "\n".join(lines) + "\n"))
    assert_same(one, two)
    assert len([w for w in one.warnings if "TTL 600 differs" in w]) == 6
    assert len(set(one.warnings)) == len(one.warnings)


def _linked_zone(glue_missing):
    # rrsets with additional lists of 0, 1 or 2 entries (targets out of the zone, in it
    # with and without addresses, duplicated), so that each part fills less than it may
    # take and the parts move; NS targets without addresses spread over every part
    lines = ["$ORIGIN example.net.", "@ 300 SOA ns1 hostmaster 1 3600 600 86400 300",
             "@ 300 NS ns1", "ns1 300 A 192.0.2.1"]
    for i in range(3000):
        lines.append(f"h{i:04d} 300 A 198.51.100.{i % 250 + 1}")
        if i % 3 == 0:
            lines.append(f"m{i:04d} 300 MX 10 h{i:04d}")
            lines.append(f"m{i:04d} 300 MX 20 mail.example.org.")
            lines.append(f"m{i:04d} 300 MX 30 h{(i + 1) % 3000:04d}")
        if i % 5 == 1:
            lines.append(f"_s{i:04d}._tcp 300 SRV 0 0 80 h{i:04d}")
            lines.append(f"_s{i:04d}._tcp 300 SRV 1 0 80 nohost{i:04d}")
        if i % 7 == 2:
            lines.append(f"d{i:04d} 300 NS ns.d{i:04d}")
            lines.append(f"d{i:04d} 300 NS ns.example.org.")
            if glue_missing and i % 98 == 2:
                continue
            lines.append(f"ns.d{i:04d} 300 AAAA 2001:db8::{i % 0xffff:x}")
        if i % 400 == 9:
            lines.append(f"@ 300 NS h{i:04d}x")    # in the zone, not below a cut: a warning
    return "\n".join(lines) + "\n"


def test_additional_lists_and_their_warnings(threads):
    def build():
        return _core.compile_zone_text("example.net.", _linked_zone(False))
    one, two = compile_both(threads, build)
    assert_same(one, two)
    assert _core.image_to_bytes(one) == _core.image_to_bytes(two)
    warned = [w for w in one.warnings if "the name server has no address records" in w]
    assert len(warned) == 8


def test_missing_glue_errors_in_order(threads):
    # RFC 1034 4.2.1: glue below a cut only this zone can supply; one error per
    # delegation without it, from every part, in rrset order as the one-thread build
    errs = []
    for n in (1, 2):
        threads(n)
        with pytest.raises(ZoneError) as ei:
            _core.compile_zone_text("example.net.", _linked_zone(True), name="z")
        errs.append(ei.value.messages)
    assert errs[0] == errs[1]
    assert len([m for m in errs[0] if "missing glue" in m]) == len(range(2, 3000, 98))


def test_transfer_build(threads):
    # the transfer's build (records given back inside it) split alike
    from test_xfrin import BASE
    from test_xfrin_build import transferred
    records = BASE + [(f"h{i}", 300, "A", f"198.51.100.{i % 250 + 1}") for i in range(3000)]
    records += [(f"h{i}", 300, "TXT", f'"host {i}"') for i in range(0, 3000, 3)]
    threads(1)
    one = transferred(records).image()
    threads(2)
    two = transferred(records).image()
    assert_same(one, two)
