"""Unit tests of the master-file parser: directives, owners, TTLs, escapes, parentheses,
$INCLUDE, $GENERATE, generic rdata and the types dnspython has no text form for."""
import os

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from robdns import _core

GOOD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zones", "good")
O = "example.com."


def W(name):
    return dns.name.from_text(name).to_wire()


def parse(text, origin=O, **kw):
    recs, msgs = _core.parse_zone_text(text, origin, **kw)
    assert msgs == []
    return recs


def rd(rtype, text, origin=O):
    return dns.rdata.from_text(dns.rdataclass.IN, rtype, text,
                               origin=dns.name.from_text(origin), relativize=False).to_wire()


def test_basic_record_fields():
    recs = parse("www 300 IN A 192.0.2.1\n")
    assert recs == [(W("www.example.com."), 300, 1, 1, bytes([192, 0, 2, 1]))]


def test_ttl_class_either_order_and_units():
    recs = parse("a IN 1h30m A 192.0.2.1\nb 1W2d IN A 192.0.2.2\nc 90s A 192.0.2.3\n")
    assert [r[1] for r in recs] == [5400, 7 * 86400 + 2 * 86400, 90]


def test_ttl_defaults():
    # RFC 1035 5.1: without $TTL the last stated TTL; before any, the configured default
    recs = parse("a A 192.0.2.1\nb 77 A 192.0.2.2\nc A 192.0.2.3\n", default_ttl=1234)
    assert [r[1] for r in recs] == [1234, 77, 77]
    # RFC 2308 4: with $TTL, an omitted TTL is $TTL even after an explicit one
    recs = parse("$TTL 10\na A 192.0.2.1\nb 77 A 192.0.2.2\nc A 192.0.2.3\n$TTL 5m\nd A 192.0.2.4\n")
    assert [r[1] for r in recs] == [10, 77, 10, 300]


def test_inherited_owner_and_at():
    recs = parse("@ A 192.0.2.1\n  AAAA ::1\nfoo A 192.0.2.2\n\t\tTXT x\n")
    assert [r[0] for r in recs] == [W(O), W(O), W("foo." + O), W("foo." + O)]
    # the first record may inherit the origin, as in dnspython
    assert parse("   A 192.0.2.1\n")[0][0] == W(O)


def test_origin_directive_relative_and_absolute():
    recs = parse("$ORIGIN sub\na A 192.0.2.1\n$ORIGIN other.test.\nb CNAME c\n")
    assert recs[0][0] == W("a.sub.example.com.")
    assert recs[1][0] == W("b.other.test.")
    assert recs[1][4] == W("c.other.test.")


def test_escapes_in_names_and_strings():
    recs = parse('a\\.b\\032c\\\\ TXT "q\\"uote" \\065\\066 "semi;colon" (paren\\))\n')
    assert recs[0][0] == b"\x06a.b c\\\x07example\x03com\x00"
    assert recs[0][4] == b'\x06q"uote\x02AB\x0asemi;colon\x06paren)'
    assert recs[0][4] == rd("TXT", '"q\\"uote" \\065\\066 "semi;colon" paren\\)')


def test_case_kept_as_written():
    recs = parse("WwW.Example.COM. CNAME Target.Example.NET.\n")
    assert recs[0][0] == W("WwW.Example.COM.")
    assert recs[0][4] == W("Target.Example.NET.")


def test_parentheses_comments_and_lines():
    text = ("$TTL 1h\n@ IN SOA ns1 hostmaster ( ; comment\n"
            "   2024010101 ; serial\n   2h 1h\n   2w   ; expire\n   5m )\nnext A 192.0.2.1\n")
    recs = parse(text)
    assert recs[0][4] == rd("SOA", "ns1 hostmaster 2024010101 2h 1h 2w 5m")
    assert recs[1][0] == W("next." + O)
    _, msgs = _core.parse_zone_text(text + "bad A 1\n", O)
    assert msgs == ["<string>:8: error: bad IPv4 address '1'"]    # line numbers stay right


def test_crlf_line_endings():
    recs = parse("$TTL 60\r\na A 192.0.2.1\r\n  TXT \"x\"\r\n")
    assert [r[3] for r in recs] == [1, 16]
    assert recs[1][4] == b"\x01x"


def test_generic_rdata_rfc3597():
    recs = parse("x TYPE65400 \\# 4 0A0B0C0D\ny TYPE65401 \\# 0\nz A \\# 4 C0 00 02 01\n"
                 "w type1 192.0.2.7\n")
    assert recs[0][3:] == (65400, b"\x0a\x0b\x0c\x0d")
    assert recs[1][3:] == (65401, b"")
    assert recs[2][3:] == (1, bytes([192, 0, 2, 1]))
    assert recs[3][3:] == (1, bytes([192, 0, 2, 7]))


def test_rfc1035_types_dnspython_cannot_read():
    # MB/MG/MR (RFC 1035 3.3.3-3.3.8) and MINFO (3.3.7): names in wire form
    recs = parse("a MB mail\nb MG grp.example.net.\nc MR x\nd MINFO r e\n")
    assert recs[0][4] == W("mail." + O)
    assert recs[1][4] == W("grp.example.net.")
    assert recs[2][4] == W("x." + O)
    assert recs[3][4] == W("r." + O) + W("e." + O)


def test_rare_types_go_through_dnspython():
    recs = parse("l LOC 52 22 23.000 N 4 53 32.000 E -2.00m\n"
                 "s SVCB 1 svc alpn=h2,h3 port=8443\n"
                 "h HTTPS 0 target\n")
    assert recs[0][4] == rd("LOC", "52 22 23.000 N 4 53 32.000 E -2.00m")
    assert recs[1][4] == rd("SVCB", "1 svc alpn=h2,h3 port=8443")
    assert recs[2][4] == rd("HTTPS", "0 target")      # relative target under the origin


def test_rrsig_times_both_forms():
    a = parse("x RRSIG A 13 2 3600 20300101000000 20240101000000 1234 example.com. AAEC\n")
    b = parse("x RRSIG A 13 2 3600 1893456000 1704067200 1234 example.com. AAEC\n")
    assert a[0][4] == b[0][4]
    assert a[0][4][8:16] == (1893456000).to_bytes(4, "big") + (1704067200).to_bytes(4, "big")


def test_include_relative_with_origin_and_restore():
    path = os.path.join(GOOD, "include_main.zone")
    recs, msgs = _core.parse_zone_file(path, O)
    assert msgs == []
    got = [(dns.name.from_wire(r[0], 0)[0].to_text(), r[1], r[3]) for r in recs]
    assert got == [
        ("www.example.com.", 300, 1),
        ("a.hosts.example.com.", 60, 1),
        ("hosts.example.com.", 60, 16),
        ("leaf.hosts.example.com.", 60, 28),   # nested include, relative to inc/
        ("plain.example.com.", 30, 1),
        ("www.example.com.", 300, 16),         # owner, origin and $TTL restored
    ]


def test_include_error_names_the_included_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.zone").write_text("ok A 192.0.2.1\n\nbad A 300.1.1.1\n")
    (tmp_path / "main.zone").write_text("$TTL 1\n$INCLUDE sub/child.zone\nz A 1.1.1\n")
    recs, msgs = _core.parse_zone_file(str(tmp_path / "main.zone"), O)
    assert msgs == [f"{tmp_path}/sub/child.zone:3: error: bad IPv4 address '300.1.1.1'",
                    f"{tmp_path}/main.zone:3: error: bad IPv4 address '1.1.1'"]


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_include_of_a_device_or_fifo_is_refused_at_once(tmp_path, target):
    # /dev/zero would be read until memory runs out, a FIFO without a writer would block
    # the load (a reload thread) forever: an $INCLUDE must name a regular file.
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
        target = str(tmp_path / "fifo")
    (tmp_path / "main.zone").write_text(f"$TTL 1\n$INCLUDE {target}\nz A 192.0.2.1\n")
    recs, msgs = _core.parse_zone_file(str(tmp_path / "main.zone"), O)
    assert msgs == [f"{tmp_path}/main.zone:2: error: cannot open $INCLUDE file '{target}': "
                    "not a regular file"]
    assert [r[0] for r in recs] == [W("z." + O)]


def test_the_zone_file_itself_may_be_a_pipe(tmp_path):
    # robdns check-zone ORIGIN /dev/stdin: the top-level file is read whatever it is.
    r, w = os.pipe()
    os.write(w, b"$TTL 1\nz A 192.0.2.1\n")
    os.close(w)
    try:
        recs, msgs = _core.parse_zone_file(f"/proc/self/fd/{r}", O)
    finally:
        os.close(r)
    assert msgs == [] and [r[0] for r in recs] == [W("z." + O)]


def test_generate_basic_and_step():
    recs = parse("$GENERATE 1-5/2 host-$ A 192.0.2.$\n")
    assert [(r[0], r[4]) for r in recs] == [
        (W(f"host-{i}." + O), bytes([192, 0, 2, i])) for i in (1, 3, 5)]


def test_generate_modifiers():
    recs = parse("$GENERATE 10-11 ${-10,3,d} 60 IN CNAME x${0,4,x}.${1,0,X}.${0,2,o}.$$\n")
    assert recs[0][0] == W("000." + O)
    assert recs[0][1] == 60
    assert recs[0][4] == W("x000a.B.12.$." + O)
    assert recs[1][4] == W("x000b.C.13.$." + O)


def test_generate_nibble_mode_and_quoted_rhs():
    recs = parse('$GENERATE 255-255 ${0,3,n} PTR h$\n$GENERATE 1-2 m$ MX "10 mx$"\n')
    assert recs[0][0] == W("f.f." + O)
    assert recs[1][4] == b"\x00\x0a" + W("mx1." + O)
    assert recs[2][4] == b"\x00\x0a" + W("mx2." + O)


def test_generate_matches_dnspython():
    import dns.zone
    text = "$TTL 5\n$GENERATE 0-20/3 ${5,3,x}.r PTR host-${0,3,N}.example.net.\n"
    z = dns.zone.from_text(text, O, relativize=False, check_origin=False)
    want = sorted((n.to_wire(), rdata.to_wire()) for n, node in z.nodes.items()
                  for rds in node.rdatasets for rdata in rds)
    assert sorted((r[0], r[4]) for r in parse(text)) == want


def test_generate_limit():
    _, msgs = _core.parse_zone_text("$GENERATE 0-70000 h$ A 192.0.2.1\n", O)
    assert msgs == ["<string>:1: error: $GENERATE range of 70001 records exceeds the limit "
                    "of 65536"]


def test_wildcard_owner_and_root_names():
    recs = parse("*.w A 192.0.2.1\nr NS .\n")
    assert recs[0][0] == W("*.w." + O)
    assert recs[1][4] == b"\x00"


def test_no_origin_requires_absolute_names():
    recs, msgs = _core.parse_zone_text("a.test. 1 A 192.0.2.1\nb 1 A 192.0.2.2\n", None)
    assert [r[0] for r in recs] == [W("a.test.")]
    assert msgs == ["<string>:2: error: bad owner name 'b': relative name without an origin"]


@pytest.mark.parametrize("text,rtype", [
    ("1 0 1 - 0123456789ABCDEFGHIJKLMNOPQRSTUV A NS SOA TYPE1234", "NSEC3"),
    ("1 0 5 aabbcc", "NSEC3PARAM"),
    ("next.example.com. A MX RRSIG NSEC TYPE65534", "NSEC"),
    ('0 issue "ca.example.net; account=1"', "CAA"),
    ('100 10 "S" "SIP+D2U" "" _sip._udp', "NAPTR"),
    ('10 1 "https://example.com/"', "URI"),
    ("1 2 3 sip", "SRV"),
    ('"PC" "Linux"', "HINFO"),
    ("admin.example.com. txt", "RP"),
    ("10 kx", "KX"),
    ("1 afs", "AFSDB"),
])
def test_more_types_equal_dnspython(text, rtype):
    recs = parse(f"x {rtype} {text}\n")
    assert recs[0][4] == rd(rtype, text)


@pytest.mark.parametrize("text,in_c", [
    ("1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1", True),
    ('1 svc mandatory=alpn alpn="h2"', True),
    ("0 alias", True),
    ('1 . dohpath="/dns-query{?dns}"', False),     # key="value" must stay touching
    ("1 . alpn=h\\,2,h3", False),                   # escapes: dnspython decides
    ("1 . key3=\\000\\053", False),                 # keyNNN naming a known key
])
def test_svcb_fast_path_and_fallback(text, in_c):
    recs, flags, msgs = _core._parse_c_only(f"x HTTPS {text}\n", O)
    assert msgs == [] and flags == [not in_c]
    assert parse(f"x HTTPS {text}\n")[0][4] == rd("HTTPS", text)


@pytest.mark.parametrize("text,reason", [
    ('1 . alpn= "h2"', "whitespace after ="),
    ("1 . mandatory=port alpn=h2", "key 3 declared mandatory but not present"),
    ("0 . alpn=h2", "parameters in AliasMode"),
])
def test_svcb_errors_come_from_dnspython(text, reason):
    _, msgs = _core.parse_zone_text(f"$TTL 1\n\nx SVCB {text}\n", O)
    assert msgs == [f"<string>:3: error: bad SVCB rdata: {reason}"]


C_TYPES = {
    "A": "192.0.2.1", "AAAA": "2001:db8::1", "NS": "ns", "CNAME": "c", "PTR": "p",
    "DNAME": "d.example.net.", "SOA": "ns h 1 2 3 4 5", "MX": "10 mx", "TXT": '"t" u',
    "SPF": '"v=spf1 -all"', "SRV": "1 2 3 t", "NAPTR": '1 2 "S" "x" "" .', "CAA": '0 issue "ca"',
    "DS": "1 8 2 " + "ab" * 32, "CDS": "0 0 0 00", "DNSKEY": "257 3 13 AAEC",
    "CDNSKEY": "0 3 0 AA==", "RRSIG": "A 13 2 60 20300101000000 20240101000000 1 x. AAEC",
    "SIG": "A 13 2 60 1 2 1 x. AAEC", "NSEC": "n A RRSIG", "NSEC3": "1 1 5 - VVVVVVVV A",
    "NSEC3PARAM": "1 0 0 -", "TLSA": "3 1 1 " + "00" * 32, "SMIMEA": "3 0 0 abcd",
    "SSHFP": "4 2 " + "11" * 32, "HINFO": "cpu os", "ZONEMD": "1 1 1 " + "22" * 48,
    "KX": "1 kx", "AFSDB": "1 afs", "RT": "1 rt", "RP": "m t", "OPENPGPKEY": "AAEC",
    "URI": '1 1 "u"', "DHCID": "AAEC", "CERT": "PKIX 1 8 AAEC", "LP": "1 lp",
    "L32": "1 10.1.2.3", "L64": "1 0014:4fff:ff20:ee64", "NID": "1 0014:4fff:ff20:ee64",
    "EUI48": "00-00-5e-00-53-2a", "EUI64": "00-00-5e-ef-10-00-00-2a",
    "SVCB": "1 . alpn=h2", "HTTPS": "0 .",
}


@pytest.mark.parametrize("rtype", sorted(C_TYPES))
def test_types_encoded_in_c(rtype):
    text = C_TYPES[rtype]
    recs, flags, msgs = _core._parse_c_only(f"x {rtype} {text}\n", O)
    assert msgs == [] and flags == [False]
    assert recs[0][4] == rd(rtype, text)
