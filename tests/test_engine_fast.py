"""test_engine_fast — the precomputed answers (engine_fast.c) against the general path.

A zone image carries, for most (name, qtype), the response sections the general engine
wrote for them at build time.  Served from there, a response must be byte for byte what
the general path writes: every (name, type) of the corpus zones and of random zones is
asked of the same zones with and without their precomputed answers (without: every query
takes the general path), over UDP and TCP, with and without EDNS, small and large payloads,
DO, NSID and letter case changes.
"""

import os
import random
import tempfile

import dns.edns
import dns.flags
import dns.message
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dnssec_zones
from robdns import _core

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
ORIGINS = ("example.", "example.com.", "example.net.", "child.example.com.")
EXTRA_TYPES = ["A", "AAAA", "NS", "SOA", "CNAME", "MX", "TXT", "SRV", "PTR", "CAA", "DNAME",
               "HTTPS", "SVCB", "DS", "ANY", "RRSIG", "NSEC", "NSEC3", "DNSKEY", "TYPE999",
               "TYPE65534", "NULL", "HINFO"]


def recase(name, rng):
    return "".join(ch.upper() if rng.random() < 0.5 else ch for ch in name)


def query_variants(name, qtype, rng):
    """(wire, tcp) pairs of one question in the modes that change a response."""
    out = []
    for case_name in (name, recase(name, rng)):
        plain = dns.message.make_query(case_name, qtype, use_edns=False)
        out += [(plain.to_wire(), False), (plain.to_wire(), True)]
        for payload, do, nsid in ((1232, False, False), (512, False, False),
                                  (4096, True, False), (1232, False, True)):
            opts = [dns.edns.GenericOption(dns.edns.NSID, b"")] if nsid else []
            m = dns.message.make_query(case_name, qtype, use_edns=0, payload=payload,
                                       want_dnssec=do, options=opts)
            out.append((m.to_wire(), False))
    plain = dns.message.make_query(name, qtype, use_edns=False)
    plain.id = 0xBEEF
    out.append((plain.to_wire(), False))
    return out


def zone_types(images, names):
    types = set()
    for img in images:
        for n in names:
            try:
                sets = img.rrsets(n)
            except Exception:
                sets = None
            for s in sets or ():
                types.add(dns.rdatatype.to_text(s["type"]))
    return sorted(types | set(EXTRA_TYPES))


def compare(images, names, seed=7, nsid=b""):
    """Ask every (name, type) of both databases; returns (queries, fast-served)."""
    fast = _core.Database(images, nsid=nsid)
    general = _core.Database([_core.image_without_answers(i) for i in images], nsid=nsid)
    rng = random.Random(seed)
    types = zone_types(images, names)
    asked = served = 0
    batch, expected = [], []
    for name in names:
        for qtype in types:
            served += any(_core.image_fast_answer(img, name, dns.rdatatype.from_text(qtype)) is not None
                          for img in images)
            for wire, tcp in query_variants(name, qtype, rng):
                want = _core.answer(general, wire, tcp=tcp)
                got = _core.answer(fast, wire, tcp=tcp)
                assert got == want, (name, qtype, tcp, dns.message.from_wire(wire).to_text())
                asked += 1
                if not tcp:
                    batch.append(wire)
                    expected.append(want)
    # rd_answer_batch (prefetching pipeline) serves the same bytes
    for i in range(0, len(batch), 500):
        assert _core.answer_batch(fast, batch[i:i + 500]) == expected[i:i + 500]
    return asked, served


def corpus_images():
    return [_core.compile_zone(o, os.path.join(CORPUS, o[:-1] + ".zone")) for o in ORIGINS]


def test_corpus_fast_answers_equal_general_path():
    images = corpus_images()
    assert all(_core.image_answer_names(img) > 0 for img in images)
    names = []
    for img in images:
        for n in _core.image_node_names(img):
            names += [n, "nx-" + n if n != "." else "nx.", "x.y." + n]
    names += ["version.bind.", "nowhere.org.", "."]
    asked, served = compare(images, sorted(set(names)))
    assert asked > 20000
    assert served > 300        # a real share of the corpus is precomputed
    asked, _ = compare(images, sorted(set(names))[:60], seed=8, nsid=b"fast-ns1")
    assert asked > 1000


def test_fast_answer_holds_the_general_sections():
    img = _core.compile_zone("example.com.", os.path.join(CORPUS, "example.com.zone"))
    a = _core.image_fast_answer(img, "www.example.com.", 1)
    assert a is not None and a["aa"] and a["rcode"] == 0 and a["an"] >= 1
    # the first answer's owner points at the question name (offset 12)
    assert a["body"][:2] == b"\xc0\x0c"
    # special qtypes are never precomputed (RFC 4035 3.1.4.1 DS, RFC 8482 ANY, RRSIG, NSEC)
    for qtype in (43, 255, 46, 47, 0, 252, 251):
        assert _core.image_fast_answer(img, "www.example.com.", qtype) is None
    assert _core.image_fast_answer(_core.image_without_answers(img), "www.example.com.", 1) is None
    assert _core.image_answer_names(_core.image_without_answers(img)) == 0


def test_truncation_and_small_payloads_take_the_general_path():
    big = "".join(f'big IN TXT "{"x" * 200} {i}"\n' for i in range(8))
    text = ("$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 60\n@ IN NS ns\nns IN A 192.0.2.1\n"
            + big)
    img = _core.compile_zone_text("t.test.", text)
    body = _core.image_fast_answer(img, "big.t.test.", 16)
    assert body is not None and len(body["body"]) > 1232
    fast = _core.Database([img], max_udp_payload=4096)
    general = _core.Database([_core.image_without_answers(img)], max_udp_payload=4096)
    for payload in (None, 512, 1232, 4096):
        kw = dict(use_edns=0, payload=payload) if payload else dict(use_edns=False)
        wire = dns.message.make_query("BIG.t.test.", "TXT", **kw).to_wire()
        for tcp in (False, True):
            got = _core.answer(fast, wire, tcp=tcp)
            assert got == _core.answer(general, wire, tcp=tcp)
            m = dns.message.from_wire(got)
            # RFC 2181 9: TC over UDP whenever the whole RRset does not fit
            assert bool(m.flags & dns.flags.TC) == (not tcp and (payload or 512) < 4096)


def test_signed_zone_fast_answers_equal_general_path():
    workdir = tempfile.mkdtemp(prefix="robdns-fast-")
    for variant in ("nsec", "nsec3-optout"):
        signed = dnssec_zones.sign_zone(workdir, variant)
        img = _core.compile_zone(signed.origin, signed.path)
        names = _core.image_node_names(img)
        names += ["nx." + n for n in names[:20]]
        compare([img], names[:120])


# ---------------------------------------------------------------- random zones

ORIGIN = "fast.test."
LABELS = ["a", "b", "c", "*"]
relative_names = st.lists(st.sampled_from(LABELS), min_size=1, max_size=3).map(".".join)
node_kinds = st.one_of(
    st.tuples(st.just("data"), st.sets(st.sampled_from(["A", "AAAA", "TXT", "MX", "SRV",
                                                        "BIGTXT", "HTTPS"]), min_size=1)),
    st.tuples(st.just("cname"), st.one_of(relative_names, st.just("out.example.org."))),
    st.tuples(st.just("dname"), st.one_of(relative_names, st.just("out.example.org."))),
    st.tuples(st.just("deleg"), st.booleans()),
)
zones = st.dictionaries(relative_names, node_kinds, min_size=1, max_size=10)


def _below(name, ancestor):
    return name != ancestor and name.endswith("." + ancestor)


def zone_text(nodes):
    """A valid master file: nothing but glue below a cut, nothing beside a CNAME, nothing
    below a DNAME."""
    cuts = [n for n, (kind, _) in nodes.items() if kind == "deleg" and "*" not in n]
    dnames = [n for n, (kind, _) in nodes.items() if kind == "dname"]
    lines = [f"$ORIGIN {ORIGIN}", "$TTL 300",
             "@ IN SOA ns.fast.test. admin.fast.test. 1 3600 600 86400 60",
             "@ IN NS ns", "ns IN A 192.0.2.53", "@ IN MX 10 ns"]
    for i, (name, (kind, arg)) in enumerate(sorted(nodes.items())):
        if any(_below(name, c) for c in cuts + dnames) or name == "ns":
            continue
        if kind == "data":
            for t in sorted(arg):
                rdata = {"A": [f"192.0.2.{i + 1}", "192.0.2.200"],
                         "AAAA": [f"2001:db8::{i + 1}"], "TXT": [f'"t{i}"'],
                         "MX": [f"10 {name}", "20 ns", "30 a"],
                         "SRV": [f"0 0 53 {name}", "1 1 53 ns"],
                         "BIGTXT": [f'"{"y" * 250}" "{k}"' for k in range(3)],
                         "HTTPS": [f"1 {name} alpn=h2", "2 ns"]}[t]
                rtype = "TXT" if t == "BIGTXT" else t
                lines += [f"{name} IN {rtype} {r}" for r in rdata]
        elif kind == "cname":
            lines.append(f"{name} IN CNAME {arg}")
        elif kind == "dname":
            lines.append(f"{name} IN DNAME {arg}")
        elif "*" not in name:
            if arg:
                lines += [f"{name} IN NS ns.{name}", f"ns.{name} IN A 198.51.100.{i + 1}"]
            else:
                lines.append(f"{name} IN NS ns.outside.example.org.")
    return "\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(zones)
def test_random_zones_fast_answers_equal_general_path(nodes):
    img = _core.compile_zone_text(ORIGIN, zone_text(nodes))   # the generator makes valid zones
    names = _core.image_node_names(img)
    extra = [f"{lab}.{n}" for n in names for lab in ("a", "zz")]
    compare([img], sorted(set(names + extra))[:80])


# ---------------------------------------------------------------- hostile images

def test_header_fields_of_the_answers_are_checked():
    data = _core.image_to_bytes(_core.compile_zone("example.com.", os.path.join(CORPUS, "example.com.zone")))
    for off in range(96, 112, 4):      # fast_off, fast_mask, fast_recs_off, fast_recs_len
        b = bytearray(data)
        b[off:off + 4] = b"\xff\xff\xff\x7f"
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))


def test_mutated_answer_sections_never_crash():
    img = _core.compile_zone("example.com.", os.path.join(CORPUS, "example.com.zone"))
    data = _core.image_to_bytes(img)
    fast_off = int.from_bytes(data[96:100], "little")
    assert 0 < fast_off < len(data)
    names = _core.image_node_names(img)
    wires = [dns.message.make_query(n, t, use_edns=0, payload=1232).to_wire()
             for n in names for t in ("A", "MX", "TXT", "AAAA")]
    rng = random.Random(99)
    accepted = 0
    for _ in range(400):
        b = bytearray(data)
        for _ in range(rng.choice([1, 2, 4, 8])):
            pos = rng.randrange(fast_off, len(b))
            b[pos] = rng.choice([0, 0xff, rng.randrange(256), b[pos] ^ (1 << rng.randrange(8))])
        try:
            bad = _core.image_from_bytes(bytes(b))
        except ValueError:
            continue
        accepted += 1
        db = _core.Database([bad])
        for w in wires:
            r = _core.answer(db, w)
            assert 12 <= len(r) <= 1232
        _core.answer_batch(db, wires)
    assert accepted > 0        # blob bytes (TTLs, addresses) are not structure


def test_nodata_shared_only_where_compression_cannot_differ():
    # NODATA carries the SOA (RFC 2308 3), whose MNAME and RNAME compress against the
    # question name: names at or below them get other bytes than names of equal length
    text = ("$TTL 300\n@ IN SOA mm.t.test. rr.t.test. 1 3600 600 86400 60\n@ IN NS mm\n"
            + "".join(f"{n} IN A 192.0.2.{i + 1}\n" for i, n in enumerate(
                ["aa", "mm", "rr", "zz", "x.mm", "y.rr", "x.aa", "xx.q", "mm.q", "c.d.rr"])))
    img = _core.compile_zone_text("t.test.", text)
    asked, served = compare([img], _core.image_node_names(img))
    assert served > 10


def _many_types_zone(name_types, chained):
    """A zone with one name holding `name_types` types (RFC 3597 TYPEnnnn records) and, when
    `chained`, a CNAME owner whose target does not exist: its chain then lists every type
    of the zone (precompute.c chain_qtypes)."""
    lines = ["$ORIGIN many.test.", "$TTL 300",
             "@ SOA ns hostmaster 1 3600 600 86400 300", "@ NS ns", "ns A 192.0.2.1"]
    lines += [f"big TYPE{1000 + i} \\# 1 {i % 256:02x}" for i in range(name_types)]
    if chained:
        lines.append("c CNAME nowhere")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name_types,chained", [(300, False), (260, True), (2000, True)])
def test_names_with_more_types_than_a_record_lists_take_the_general_path(name_types, chained):
    # A record of the answer table lists at most 250 qtypes: a name with more (or a CNAME
    # owner whose chain can answer more) is left to the general path whole; listing a part
    # gave the rest the default's NODATA, and a chain of 2000 overflowed the build's stack.
    img = _core.compile_zone_text("many.test.", _many_types_zone(name_types, chained))
    fast = _core.Database([img])
    general = _core.Database([_core.image_without_answers(img)])
    names = ["big.many.test."] + (["c.many.test."] if chained else [])
    step = max(1, name_types // 60)
    types = sorted({1000 + i for i in range(0, name_types, step)} | {1000, 1249, 1250,
                    1000 + name_types - 1, 1, 16, 5})
    for name in names:
        for t in types:
            wire = dns.message.make_query(name, t, use_edns=0).to_wire()
            assert _core.answer(fast, wire) == _core.answer(general, wire), (name, t)
    assert _core.image_fast_answer(img, "big.many.test.", 1250) is None
    # the other names keep their precomputed answers
    assert _core.image_fast_answer(img, "ns.many.test.", 1) is not None
