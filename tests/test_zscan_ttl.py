"""test_zscan_ttl — TTLs with the most significant bit set (above 2^31-1): RFC 2181 section 8
says to treat them as zero.  robdns warns with FILE:LINE and uses 0, as BIND's
named-checkzone does (its warning: "> MAXTTL, setting TTL to 0") and as Knot serves them;
2^32 and more stays an error (not a 32-bit TTL at all)."""
import os
import shutil
import subprocess

import dns.message
import pytest

from robdns import _core
from robdns.cli import main
import refservers
from engine_support import ask, database

HEAD = ("$ORIGIN example.com.\n"
        "@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
        "@ 3600 IN NS ns1\n"
        "ns1 3600 IN A 192.0.2.1\n")
WARN = "warning: {what} {text} is above 2147483647; using 0 (RFC 2181 8)"


def parse(text, name="ttl.zone"):
    records, messages = _core.parse_zone_text(text, "example.com.", name=name)
    ttls = {}
    for owner, ttl, _cls, _type, _rdata in records:
        ttls.setdefault(owner.split(b"\x07example")[0][1:].decode(), ttl)
    return ttls, messages


@pytest.mark.parametrize("text, ttl, warned", [
    ("2147483647", 2147483647, False),       # the largest TTL kept as it is
    ("2147483648", 0, True),                 # MSB set: 0
    ("4294967295", 0, True),
    ("3551w", 0, True),                      # 2147644800 s, written with units
    ("3550W3D23H59M59S", 2147385599, False),
])
def test_record_ttl(text, ttl, warned):
    ttls, messages = parse(f"a {text} IN A 192.0.2.2\nb A 192.0.2.3\n")
    assert ttls == {"a": ttl, "b": ttl}      # the inherited last TTL is the clamped one
    assert messages == ([f"ttl.zone:1: {WARN.format(what='TTL', text=text)}"] if warned else [])


def test_ttl_directive_and_generate():
    ttls, messages = parse("$TTL 4294967295\n"
                           "a IN A 192.0.2.2\n"
                           "b 60 IN A 192.0.2.3\n"
                           "$GENERATE 1-2 g$ 2147483648 A 192.0.2.$\n"
                           "c IN A 192.0.2.4\n")
    assert ttls == {"a": 0, "b": 60, "g1": 0, "g2": 0, "c": 0}
    assert messages == [f"ttl.zone:1: {WARN.format(what='$TTL', text='4294967295')}",
                        f"ttl.zone:4: {WARN.format(what='TTL', text='2147483648')}"]


def test_beyond_32_bits_is_an_error():
    _, messages = parse("a 4294967296 IN A 192.0.2.2\n")
    assert messages == ["ttl.zone:1: error: TTL out of range '4294967296'"]


@pytest.fixture
def zone_file(tmp_path):
    p = tmp_path / "example.com.zone"
    p.write_text(HEAD + "a 4294967295 IN A 192.0.2.2\n"
                        "$TTL 2147483648\n"
                        "b IN A 192.0.2.3\n"
                        "c 2147483647 IN A 192.0.2.4\n")
    return str(p)


def test_check_zone_warns_and_loads(zone_file, capsys):
    assert main(["check-zone", "example.com.", zone_file]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"{zone_file}:5: {WARN.format(what='TTL', text='4294967295')}",
                       f"{zone_file}:6: {WARN.format(what='$TTL', text='2147483648')}"]
    assert out[2].startswith("zone example.com./IN: loaded serial 1, 6 records")


def served_ttls(query):
    return {n: query(f"{n}.example.com.") for n in ("a", "b", "c")}


def test_engine_answers_ttl_zero(zone_file):
    db = database(_core.compile_zone("example.com.", zone_file))
    got = served_ttls(lambda n: ask(db, n).answer[0].ttl)
    assert got == {"a": 0, "b": 0, "c": 2147483647}


def test_same_ttls_as_named_checkzone(zone_file):
    # named-checkzone -D prints the zone as BIND loaded it (bind9-utils, see scripts/test.sh).
    if shutil.which("named-checkzone") is None:
        pytest.fail("named-checkzone is missing: scripts/test.sh installs the bind9-utils package")
    r = subprocess.run(["named-checkzone", "-D", "example.com", zone_file],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "> MAXTTL, setting" in r.stdout + r.stderr
    bind = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] in ("a.example.com.", "b.example.com.", "c.example.com."):
            bind[f[0].split(".")[0]] = int(f[1])
    db = database(_core.compile_zone("example.com.", zone_file))
    assert bind == served_ttls(lambda n: ask(db, n).answer[0].ttl)


def test_same_ttls_as_knot(zone_file):
    # A missing reference is a failure, never a skip: the comparison is the test.
    if not refservers.available(refservers.KNOTD):
        pytest.fail(f"{refservers.KNOTD} is missing: scripts/test.sh installs the knot package")
    db = database(_core.compile_zone("example.com.", zone_file))
    with refservers.start_knot([("example.com.", zone_file)]) as knot:
        def knot_ttl(name):
            wire = knot.query(dns.message.make_query(name, "A").to_wire())
            return dns.message.from_wire(wire).answer[0].ttl
        assert served_ttls(knot_ttl) == served_ttls(lambda n: ask(db, n).answer[0].ttl)
