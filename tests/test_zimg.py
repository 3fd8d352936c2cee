"""test_zimg — compiled zone images: lookup against a Python model, rrset order and
duplicates, additional lists, save/load, and corrupt images rejected without a crash."""

import os
import random

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robdns import _core
from robdns.errors import ZoneError

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "robdns", "data", "example.com.zone")

ORIGIN = dns.name.from_text("example.")
HEAD = "$TTL 300\n@ SOA ns.other. host.other. 7 3600 600 86400 300\n@ NS ns.other.\n"


# ---------------------------------------------------------------- a Python model of zimg_lookup

def model_lookup(zone, qname):
    """zone: {Name: set of type texts}; the answer of RFC 1034 4.3.2 / RFC 4592 terms."""
    nodes = set()
    for n in zone:
        while True:
            nodes.add(n)
            if n == ORIGIN:
                break
            n = n.parent()
    exact = qname if qname in nodes else None
    encloser = qname
    while encloser not in nodes:
        encloser = encloser.parent()
    # the path apex .. encloser, apex first
    path = []
    n = encloser
    while True:
        path.append(n)
        if n == ORIGIN:
            break
        n = n.parent()
    path.reverse()
    cut = next((n for n in path[1:] if "NS" in zone.get(n, ())), None)
    ancestors = path if exact is None else path[:-1]      # proper ancestors of qname
    dname = next((n for n in ancestors if "DNAME" in zone.get(n, ())), None)
    wildcard = None
    if exact is None:
        w = dns.name.Name((b"*",) + encloser.labels)
        wildcard = w if w in nodes else None
    text = lambda n: None if n is None else n.to_text()
    return {"exact": text(exact), "encloser": text(encloser), "cut": text(cut),
            "dname": text(dname), "wildcard": text(wildcard),
            "encloser_labels": len(encloser.labels) - 1,
            "cut_labels": None if cut is None else len(cut.labels) - 1}


ZN = {"APEX": 1, "CUT": 2, "BELOW_CUT": 4, "DNAME": 8, "BELOW_DNAME": 16, "ENT": 32,
      "WILDCARD": 64, "HAS_WILD": 128, "CNAME": 256}      # zimg.h


def model_flags(zone, name):
    types = zone.get(name, set())
    f = 0
    if name == ORIGIN:
        f |= ZN["APEX"]
    elif "NS" in types:
        f |= ZN["CUT"]
    if "DNAME" in types:
        f |= ZN["DNAME"]
    if "CNAME" in types:
        f |= ZN["CNAME"]
    if not types:
        f |= ZN["ENT"]
    if name.labels[0] == b"*":
        f |= ZN["WILDCARD"]
    wild = dns.name.Name((b"*",) + name.labels)
    if any(n == wild or n.is_subdomain(wild) for n in zone):     # "*.name" exists (maybe an ENT)
        f |= ZN["HAS_WILD"]
    anc = name.parent() if name != ORIGIN else None
    while anc is not None:
        t = zone.get(anc, set())
        if "NS" in t and anc != ORIGIN:
            f |= ZN["BELOW_CUT"]
        if "DNAME" in t:
            f |= ZN["BELOW_DNAME"]
        anc = anc.parent() if anc != ORIGIN else None
    return f


labels = st.sampled_from(["a", "b", "c", "*", "B"])
rel_names = st.lists(labels, min_size=1, max_size=4)
owners = st.lists(st.tuples(rel_names, st.sampled_from(["A", "TXT", "NS", "DNAME"])),
                  min_size=0, max_size=25)


def zone_text(entries):
    """Zone text and model from random (labels, type) entries, kept free of semantic
    errors: no data below a DNAME (RFC 6672 2.3), name servers outside the zone."""
    zone = {}
    for labs, t in entries:
        name = dns.name.Name([x.encode() for x in labs] + list(ORIGIN.labels))
        zone.setdefault(name, set()).add(t)
    dnames = [n for n, ts in zone.items() if "DNAME" in ts]
    zone = {n: ts for n, ts in zone.items()
            if not any(n != d and n.is_subdomain(d) for d in dnames)}
    lines = [HEAD]
    for n, ts in zone.items():
        for t in sorted(ts):
            rd = {"A": "192.0.2.1", "TXT": '"x"', "NS": "ns.other.", "DNAME": "target.other."}[t]
            lines.append(f"{n.to_text()} {t} {rd}\n")
    zone.setdefault(ORIGIN, set()).update({"SOA", "NS"})
    return "".join(lines), zone


@settings(max_examples=300, deadline=None)
@given(owners, st.lists(rel_names, min_size=1, max_size=15))
def test_lookup_matches_model(entries, queries):
    text, zone = zone_text(entries)
    img = _core.compile_zone_text("example.", text)
    qnames = [dns.name.Name([x.encode() for x in q] + list(ORIGIN.labels)) for q in queries]
    qnames += list(zone)                                        # every owner exactly
    qnames += [dns.name.Name((b"zz",) + n.labels) for n in zone]  # just below each
    canon = {k.canonicalize(): v for k, v in zone.items()}
    for q in qnames:
        q = q.canonicalize()
        assert _core.image_lookup(img, q.to_text()) == model_lookup(canon, q), q
    for name in _core.image_node_names(img):
        assert _core.image_node_flags(img, name) == model_flags(canon, dns.name.from_text(name)), name


def test_lookup_on_the_bundled_zone():
    img = _core.compile_zone("example.com.", EXAMPLE)
    assert img.serial == 2026112701
    assert img.origin == "example.com."
    r = _core.image_lookup(img, "x.users.example.com.")
    assert r["exact"] is None and r["wildcard"] == "*.users.example.com."
    r = _core.image_lookup(img, "q.b.c.example.com.")     # below an empty non-terminal: no wildcard
    assert r["encloser"] == "b.c.example.com." and r["wildcard"] is None
    assert _core.image_lookup(img, "b.c.example.com.")["exact"] == "b.c.example.com."
    r = _core.image_lookup(img, "deep.ns.sub.example.com.")
    assert r["cut"] == "sub.example.com." and r["encloser"] == "ns.sub.example.com."
    assert _core.image_lookup(img, "x.y.old.example.com.")["dname"] == "old.example.com."
    assert _core.image_lookup(img, "old.example.com.")["dname"] is None     # the owner itself is not renamed
    assert _core.image_lookup(img, "WWW.Example.COM.")["exact"] == "www.example.com."


def test_nodes_are_in_canonical_order_with_empty_non_terminals():
    img = _core.compile_zone("example.com.", EXAMPLE)
    names = [dns.name.from_text(n) for n in _core.image_node_names(img)]
    assert names == sorted(names)                       # RFC 4034 6.1 order (dnspython's)
    assert dns.name.from_text("c.example.com.") in names   # ENT of a.b.c
    flags = _core.image_node_flags(img, "b.c.example.com.")
    assert flags & 32                                   # ZN_ENT


# ---------------------------------------------------------------- rrsets

def rdata(t, text, origin=ORIGIN):
    return dns.rdata.from_text("IN", t, text, origin=origin).to_wire()


def test_duplicates_removed_and_rdata_in_canonical_order():
    text = HEAD + ("a A 192.0.2.9\na A 192.0.2.1\na A 192.0.2.9\na A 192.0.2.10\n"
                   'a TXT "bb"\na TXT "b"\na TXT "a"\n')
    img = _core.compile_zone_text("example.", text)
    sets = img.rrsets("a.example.")
    assert [s["type"] for s in sets] == [1, 16]         # sorted by type
    a = sets[0]["rdatas"]
    assert a == sorted({rdata("A", x) for x in ("192.0.2.9", "192.0.2.1", "192.0.2.10")})
    # RFC 4034 6.3: octet strings, a shorter prefix first
    assert sets[1]["rdatas"] == [b"\x01a", b"\x01b", b"\x02bb"]
    assert img.record_count == 2 + 3 + 3


def test_rrsigs_grouped_per_covered_type_and_linked():
    sig = "{} 8 2 300 20300101000000 20200101000000 1234 example. AAAA"
    text = HEAD + "a A 192.0.2.1\na TXT x\n"
    text += f"a RRSIG {sig.format('A')}\na RRSIG {sig.format('TXT')}\na RRSIG {sig.format('A').replace('1234', '999')}\n"
    img = _core.compile_zone_text("example.", text)
    sets = img.rrsets("a.example.")
    by = {(s["type"], s["covered"]): s for s in sets}
    assert [(s["type"], s["covered"]) for s in sets] == [(1, 0), (16, 0), (46, 1), (46, 16)]
    assert len(by[(46, 1)]["rdatas"]) == 2
    assert by[(1, 0)]["rrsig"] == by[(46, 1)]["index"]
    assert by[(16, 0)]["rrsig"] == by[(46, 16)]["index"]


def test_additional_lists_of_ns_mx_srv():
    img = _core.compile_zone("example.com.", EXAMPLE)
    apex = {s["type"]: s for s in img.rrsets("example.com.")}
    assert apex[2]["additional"] == ["ns1.example.com.", "ns2.example.com."]
    assert apex[15]["additional"] == ["mail.example.com.", "mail2.example.com."]
    srv = img.rrsets("_sip._udp.example.com.")[0]
    assert srv["additional"] == ["sip.example.com."]
    cut = img.rrsets("sub.example.com.")[0]
    assert cut["additional"] == ["ns.sub.example.com."]   # glue included


def test_lowest_ttl_not_used_last_record_wins_like_knot():
    text = HEAD + "a 100 A 192.0.2.1\na 50 A 192.0.2.2\na 200 A 192.0.2.3\n"
    img = _core.compile_zone_text("example.", text, name="t.zone")
    assert img.rrsets("a.example.")[0]["ttl"] == 200
    assert img.warnings == ["t.zone:5: warning: a.example. A: TTL 50 differs from TTL 100 of "
                            "the RRset's first record; using 200, the last one's (RFC 2181 5.2)"]


# ---------------------------------------------------------------- save / load / corruption

def test_save_and_load_roundtrip(tmp_path):
    img = _core.compile_zone("example.com.", EXAMPLE)
    path = tmp_path / "example.zimg"
    img.save(str(path))
    back = _core.ZoneImage.load(str(path))
    assert _core.image_to_bytes(back) == _core.image_to_bytes(img)
    assert (back.serial, back.record_count, back.node_count, back.origin) == \
        (img.serial, img.record_count, img.node_count, img.origin)
    for name in _core.image_node_names(img) + ["nope.example.com.", "x.users.example.com."]:
        assert _core.image_lookup(back, name) == _core.image_lookup(img, name)
        assert back.rrsets(name) == img.rrsets(name)


def test_load_rejects_missing_and_garbage_files(tmp_path):
    with pytest.raises(ZoneError):
        _core.ZoneImage.load(str(tmp_path / "missing"))
    p = tmp_path / "garbage"
    p.write_bytes(b"\0" * 4096)
    with pytest.raises(ZoneError, match="bad magic"):
        _core.ZoneImage.load(str(p))
    p.write_bytes(b"")
    with pytest.raises(ZoneError):
        _core.ZoneImage.load(str(p))


def _exercise(img):
    for name in _core.image_node_names(img)[:50]:
        _core.image_lookup(img, name)
        _core.image_lookup(img, "zz." + name)
        img.rrsets(name)


def test_truncated_images_rejected():
    data = _core.image_to_bytes(_core.compile_zone("example.com.", EXAMPLE))
    for n in range(len(data)):
        with pytest.raises(ValueError):
            _core.image_from_bytes(data[:n])
    with pytest.raises(ValueError):
        _core.image_from_bytes(data + b"\0")


def test_mutated_images_never_crash():
    data = _core.image_to_bytes(_core.compile_zone("example.com.", EXAMPLE))
    rng = random.Random(1234)
    accepted = 0
    for i in range(3000):
        b = bytearray(data)
        for _ in range(rng.choice([1, 1, 2, 4])):
            pos = rng.randrange(len(b))
            b[pos] = rng.choice([0, 0xff, rng.randrange(256), b[pos] ^ (1 << rng.randrange(8))])
        try:
            img = _core.image_from_bytes(bytes(b))
        except ValueError:
            continue
        accepted += 1          # e.g. a changed TTL or rdata byte is still a valid image
        _exercise(img)
    assert accepted < 3000     # most mutations of offsets and names must be caught


def test_every_header_field_is_checked():
    data = _core.image_to_bytes(_core.compile_zone("example.com.", EXAMPLE))
    # the header: 8 magic bytes then 32-bit fields; spoiling any structural one is caught
    for off in range(0, 88, 4):
        if off == 24:             # the serial: any value is valid
            continue
        b = bytearray(data)
        b[off:off + 4] = b"\xff\xff\xff\x7f"
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))


def test_duplicates_compare_names_case_insensitively():
    # RFC 4034 6.2 canonical form lower-cases the names of NS/MX/CNAME/...: "Ns1." and
    # "ns1." are one record (RFC 2181 5); the file's first spelling is kept
    text = HEAD + "a NS Ns1.other.\na NS ns1.OTHER.\na MX 5 MAIL.other.\na MX 5 mail.other.\n"
    text += "c CNAME Target.other.\nc CNAME target.other.\n"
    img = _core.compile_zone_text("example.", text)
    sets = {s["type"]: s["rdatas"] for s in img.rrsets("a.example.")}
    assert sets[2] == [b"\x03Ns1\x05other\x00"]
    assert sets[15] == [b"\x00\x05\x04MAIL\x05other\x00"]
    assert img.rrsets("c.example.")[0]["rdatas"] == [b"\x06Target\x05other\x00"]


# ---------------------------------------------------------------- the two record sources

def test_c_parser_and_dnspython_compile_the_bundled_zone_identically():
    with open(EXAMPLE) as f:
        text = f.read()
    c = _core.compile_zone("example.com.", EXAMPLE)
    py = _core._compile_zone_dnspython("example.com.", text, EXAMPLE)
    assert _core.image_to_bytes(c) == _core.image_to_bytes(py)


@settings(max_examples=100, deadline=None)
@given(owners, st.lists(st.sampled_from(["100", "200", ""]), min_size=1, max_size=3))
def test_c_parser_and_dnspython_compile_random_zones_identically(entries, ttls):
    text, _ = zone_text(entries)
    # give some records explicit TTLs so differing TTLs within an rrset come up
    lines = text.splitlines(keepends=True)
    for i in range(3, len(lines)):
        owner, rest = lines[i].split(" ", 1)
        lines[i] = f"{owner} {ttls[i % len(ttls)]} {rest}"
    text = "".join(lines)
    c = _core.compile_zone_text("example.", text, name="z")
    py = _core._compile_zone_dnspython("example.", text, name="z")
    assert _core.image_to_bytes(c) == _core.image_to_bytes(py)
    assert c.warnings == py.warnings


# ---------------------------------------------------------------- builder on arbitrary input

wire_label = st.sampled_from([b"a", b"B", b"*", b"xn--x", b"\x00", b"."])
wire_owner = st.lists(wire_label, min_size=0, max_size=3).flatmap(
    lambda ls: st.sampled_from([b"example", b"other"]).map(
        lambda apex: b"".join(bytes([len(x)]) + x for x in ls + [apex]) + b"\x00"))
any_rdata = st.one_of(
    st.binary(max_size=40),
    wire_owner,                                            # a well-formed name
    wire_owner.map(lambda n: b"\x00\x0a" + n),            # MX-shaped
    wire_owner.map(lambda n: b"\x00\x01\x00\x02\x00\x35" + n),   # SRV-shaped
    st.tuples(wire_owner, wire_owner).map(lambda t: t[0] + t[1] + bytes(20)),   # SOA-shaped
)
record = st.tuples(wire_owner, st.integers(0, 2**31 - 1), st.sampled_from([1, 1, 1, 3]),
                   st.sampled_from([1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 46, 47, 65280]), any_rdata)


@settings(max_examples=300, deadline=None)
@given(st.lists(record, max_size=30))
def test_builder_rejects_or_builds_a_valid_image(records):
    soa = (b"\x07example\x00", 300, 1, 6, b"\x00\x00" + bytes(20))
    ns = (b"\x07example\x00", 300, 1, 2, b"\x02ns\x05other\x00")
    try:
        img = _core._compile_zone_records("example.", [soa, ns] + records)
    except ZoneError as exc:
        assert exc.messages and all(": error: " in m or ": warning: " in m or "more messages" in m
                                    for m in exc.messages)
        return
    # whatever the builder accepts, the loader's validation accepts, unchanged
    again = _core.image_from_bytes(_core.image_to_bytes(img))
    assert _core.image_to_bytes(again) == _core.image_to_bytes(img)
    _exercise(again)


def test_additional_lists_of_svcb_and_https_like_knot():
    text = HEAD + ("svc SVCB 1 target alpn=h2\nsvc HTTPS 1 www\nsvc HTTPS 2 .\n"
                   "target A 192.0.2.7\nwww AAAA 2001:db8::7\nalias SVCB 0 nowhere.other.\n")
    img = _core.compile_zone_text("example.", text)
    sets = {s["type"]: s for s in img.rrsets("svc.example.")}
    assert sets[64]["additional"] == ["target.example."]
    assert sets[65]["additional"] == ["www.example."]      # "." is not resolved to the owner
    assert img.rrsets("alias.example.")[0]["additional"] == []
