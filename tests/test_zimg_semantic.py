"""test_zimg_semantic — the semantic checks of the zone compiler, each on its own zone file
with the expected FILE:LINE message (severity as named-checkzone/kzonecheck treat it)."""

import os

import dns.name
import dns.rdata
import pytest

from robdns import _core
from robdns.errors import ZoneError

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zones", "semantic")

# file -> (compiles?, expected messages without the "FILE" prefix)
CASES = {
    "no_soa.zone": (False, [": error: example.: no SOA record at the zone apex"]),
    "two_soa.zone": (False, [":5: error: example.: more than one SOA record at the apex"]),
    "soa_not_apex.zone": (False, [":5: error: sub.example.: SOA record not at the zone apex"]),
    "no_ns.zone": (False, [": error: example.: no NS records at the zone apex"]),
    "cname_and_other.zone": (False, [":6: error: www.example.: CNAME and other data"]),
    "two_cnames.zone": (False, [":6: error: www.example.: more than one CNAME record"]),
    "cname_dnssec_ok.zone": (True, []),
    "below_dname.zone": (False, [":6: error: x.old.example.: data below the DNAME at old.example."]),
    "missing_glue.zone": (False, [":5: error: sub.example. NS ns.sub.example.: missing glue, "
                                  "the name server has no address records (A or AAAA)"]),
    "missing_sibling_glue.zone": (False, [":5: error: a.example. NS ns.b.example.: missing glue, "
                                          "the name server has no address records (A or AAAA)"]),
    "glue_ok.zone": (True, []),
    "ns_no_address.zone": (True, [":4: warning: example. NS ns.example.: the name server has no "
                                  "address records (A or AAAA)"]),
    "out_of_zone.zone": (True, [":5: warning: www.example.net.: out of zone (not at or below "
                                "example.), ignored"]),
    "ttl_mismatch.zone": (True, [":6: warning: a.example. A: TTL 200 differs from TTL 100 of the "
                                 "RRset's first record; using 200, the last one's (RFC 2181 5.2)"]),
}


@pytest.mark.parametrize("fname", sorted(CASES))
def test_semantic_check(fname):
    ok, expected = CASES[fname]
    path = os.path.join(DIR, fname)
    expected = [path + m for m in expected]
    if ok:
        img = _core.compile_zone("example.", path)
        assert img.warnings == expected
    else:
        with pytest.raises(ZoneError) as ei:
            _core.compile_zone("example.", path)
        assert ei.value.messages == expected
        assert ei.value.errors == len(expected)


def test_every_error_reported_not_only_the_first():
    text = ("$TTL 300\n@ SOA ns.other. h.other. 1 2 3 4 5\n@ NS ns.other.\n"
            "a CNAME b\na A 192.0.2.1\nd DNAME x.\ny.d A 192.0.2.1\nsub NS ns.sub\n")
    with pytest.raises(ZoneError) as ei:
        _core.compile_zone_text("example.", text, name="z")
    assert ei.value.messages == [
        "z:5: error: a.example.: CNAME and other data",
        "z:7: error: y.d.example.: data below the DNAME at d.example.",
        "z:8: error: sub.example. NS ns.sub.example.: missing glue, the name server has no "
        "address records (A or AAAA)",
    ]


# ---- the builder fed directly (no parser): out-of-zone records, classes, bad rdata

def w(text):
    return dns.name.from_text(text).to_wire()


def rd(t, text):
    return dns.rdata.from_text("IN", t, text).to_wire()


SOA = (w("example."), 300, 1, 6, rd("SOA", "ns.other. h.other. 1 2 3 4 5"))
NS = (w("example."), 300, 1, 2, rd("NS", "ns.other."))


def test_out_of_zone_records_are_ignored_with_a_warning():
    img = _core._compile_zone_records("example.", [SOA, NS, (w("www.example.net."), 300, 1, 1, b"\xc0\0\2\1"),
                                                   (w("example.net."), 300, 1, 1, b"\xc0\0\2\1")], "r")
    assert img.warnings == [
        "r:3: warning: www.example.net.: out of zone (not at or below example.), ignored",
        "r:4: warning: example.net.: out of zone (not at or below example.), ignored",
    ]
    assert img.record_count == 2 and _core.image_node_names(img) == ["example."]


def test_other_class_rejected():
    with pytest.raises(ZoneError, match="class 3, only class IN"):
        _core._compile_zone_records("example.", [SOA, NS, (w("a.example."), 300, 3, 16, b"\1x")])


@pytest.mark.parametrize("rtype,rdata", [
    (2, b"\x03ns"),                    # NS name runs past the rdata
    (2, b"\x02ns\x00junk"),            # bytes after the name
    (15, b"\x00"),                     # MX without its name
    (33, b"\0\0\0\0\0\0\x40" + b"a" * 64 + b"\0"),   # SRV target with a 64-octet label
    (6, rd("SOA", "a. b. 1 2 3 4 5")[:-1]),           # SOA one octet short
    (5, b"\xc0\x0c"),                  # a compression pointer
])
def test_malformed_rdata_rejected(rtype, rdata):
    with pytest.raises(ZoneError, match="malformed"):
        _core._compile_zone_records("example.", [SOA, NS, (w("a.example."), 300, 1, rtype, rdata)])


def test_root_zone_compiles_and_looks_up():
    soa = (b"\0", 300, 1, 6, rd("SOA", "a.root-servers.net. h.other. 9 2 3 4 5"))
    ns = (b"\0", 300, 1, 2, rd("NS", "a.root-servers.net."))
    com = (w("com."), 300, 1, 2, rd("NS", "a.gtld-servers.net."))
    img = _core._compile_zone_records(".", [soa, ns, com])
    assert img.origin == "." and img.serial == 9
    assert _core.image_lookup(img, "www.example.com.")["cut"] == "com."
    assert _core.image_lookup(img, ".")["exact"] == "."
    assert _core.image_lookup(img, "nope.")["encloser"] == "."


def test_messages_name_the_included_file(tmp_path):
    # a semantic error in a $INCLUDEd file is reported at that file's line
    (tmp_path / "hosts.inc").write_text("a A 192.0.2.1\nwww A 192.0.2.2\nwww CNAME a\n")
    main = tmp_path / "main.zone"
    main.write_text("$TTL 300\n@ SOA ns.other. h.other. 1 2 3 4 5\n@ NS ns.other.\n"
                    "$INCLUDE hosts.inc\nb A 192.0.2.3\nb 60 A 192.0.2.4\n")
    with pytest.raises(ZoneError) as ei:
        _core.compile_zone("example.", str(main))
    assert ei.value.messages == [
        f"{main}:6: warning: b.example. A: TTL 60 differs from TTL 300 of the RRset's first "
        "record; using 60, the last one's (RFC 2181 5.2)",
        f"{tmp_path / 'hosts.inc'}:3: error: www.example.: CNAME and other data",
    ]
