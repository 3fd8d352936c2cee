"""test_zimg_parallel — the precompute pass split over two threads (query/precompute.c)
gives the answers of the pass run on one thread, for every (name, qtype).

The two halves of the canonical node order are computed at once into buffers of their own
and appended to the image with their offsets moved; each half keeps its own cache of
shared NODATA answers, so the bytes of the fast section may differ, never an answer.
"""

import os
import sys

import dns.rdatatype
import pytest

import dnssec_zones
from robdns import _core

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))

import genzone   # noqa: E402

ORIGINS = ("example.", "example.com.", "example.net.", "child.example.com.")
PROBES = [1, 2, 5, 6, 15, 16, 28, 33, 43, 46, 47, 48, 50, 65, 255, 999, 65534]


@pytest.fixture
def threads():
    """Set the pass's threads; the default comes back afterwards."""
    old = _core.set_precompute_threads(0)
    yield _core.set_precompute_threads
    _core.set_precompute_threads(old)


def every_answer(img, names, qtypes):
    return {(n, t, do): _core.image_fast_answer(img, n, t, do)
            for n in names for t in qtypes for do in (False, True)}


def zone_qtypes(img, names):
    types = set(PROBES)
    for n in names:
        for s in img.rrsets(n) or ():
            types.add(s["type"])
    return sorted(types)


def compile_both(threads, build):
    threads(1)
    one = build()
    threads(2)
    two = build()
    return one, two


def assert_same_answers(one, two, extra_names=()):
    names = _core.image_node_names(one)
    assert names == _core.image_node_names(two)
    assert _core.image_answer_names(one) == _core.image_answer_names(two)
    names = names + [n for n in extra_names]
    qtypes = zone_qtypes(one, _core.image_node_names(one))
    a, b = every_answer(one, names, qtypes), every_answer(two, names, qtypes)
    assert a == b
    return sum(v is not None for v in a.values())


@pytest.mark.parametrize("origin", ORIGINS)
def test_corpus_split_equals_one_thread(threads, origin):
    path = os.path.join(CORPUS, origin[:-1] + ".zone")
    one, two = compile_both(threads, lambda: _core.compile_zone(origin, path))
    served = assert_same_answers(one, two, ["nx." + origin])
    assert served > 0


def test_generated_zone_split_equals_one_thread(threads, tmp_path):
    # delegations, glue, CNAME chains, wildcards, empty non-terminals, mail domains
    z = genzone.generate_zone(24000, origin="bench.test.", seed=5)
    path = tmp_path / "bench.zone"
    path.write_text("".join(z.lines))
    one, two = compile_both(threads, lambda: _core.compile_zone("bench.test.", str(path)))
    assert one.node_count > 16384          # above the size where the default splits too
    served = assert_same_answers(one, two)
    assert served > one.node_count         # most names are precomputed
    # the default for a zone this size on this machine is the split (two cores or more)
    threads(0)
    dflt = _core.compile_zone("bench.test.", str(path))
    if (os.cpu_count() or 1) >= 2:
        assert every_answer(dflt, _core.image_node_names(dflt)[:3000], [1, 28, 15, 999]) == \
            every_answer(one, _core.image_node_names(one)[:3000], [1, 28, 15, 999])
    # and the split image serves what the general path serves
    fast = _core.Database([two])
    general = _core.Database([_core.image_without_answers(two)])
    import dns.message
    for n in _core.image_node_names(two)[::97]:
        for t in ("A", "AAAA", "MX", "TXT", "TYPE999"):
            wire = dns.message.make_query(n, t, use_edns=0, payload=1232).to_wire()
            assert _core.answer(fast, wire) == _core.answer(general, wire), (n, t)


@pytest.mark.parametrize("variant", ["nsec", "nsec3"])
def test_signed_zone_split_equals_one_thread(threads, tmp_path, variant):
    sz = dnssec_zones.sign_zone(str(tmp_path), variant)
    one, two = compile_both(threads, lambda: _core.compile_zone(sz.origin, sz.path))
    assert _core.image_do_answer_bytes(one) > 0
    assert assert_same_answers(one, two, ["nx." + sz.origin]) > 0
    assert dns.rdatatype.RRSIG in zone_qtypes(one, _core.image_node_names(one))
