"""test_zscan_fuzz — the master-file parser under libFuzzer with AddressSanitizer, UBSan and
LeakSanitizer (tests/fuzz/fuzz_zscan.c): a time-bounded run over a seed corpus of real zones
must end cleanly; inputs that once crashed it are replayed as regressions."""
import glob
import os

import pytest

from fuzz import libfuzzer
from robdns import _core

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
FUZZ_SECONDS = min(libfuzzer.FUZZ_SECONDS, 20)
# Inputs that once failed the harness, named after the bug; each is replayed on its own.
REGRESSIONS = sorted(glob.glob(os.path.join(TESTS, "zones", "fuzz-regressions", "*")))

# Snippets reaching what the zone files below use little: directives, escapes, parentheses,
# generic rdata, $GENERATE modifiers, SVCB parameters, TTL units and the limits of fields.
SNIPPETS = [
    b"$ORIGIN sub.example.com.\n$TTL 1h30m\n@ IN SOA ns hostmaster ( 1 2h 1h 1w 5m )\n",
    b"$GENERATE 1-20/3 host${0,3,x} 60 IN A 192.0.2.$\n$GENERATE 0-4 $.r PTR h${1,2,n}.\n",
    b"a\\032b\\.c 300 IN TXT \"q\\\"uote\" \\065bc \"\\255\"\nb TYPE65400 \\# 4 0A0B0C0D\n",
    b"s 1 IN SVCB 1 . alpn=h2,h3 port=443 ipv4hint=192.0.2.1 ech=AAAA key65000=\"x\"\n"
    b"h IN HTTPS 0 target.example.\n",
    b"x IN NSEC3 1 1 12 aabbccdd 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG\n"
    b"d IN DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n",
    b"l IN LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m\n"
    b"n IN NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.com.\n",
    b"$INCLUDE inc/child.zone sub\nw 2147483648 IN A 192.0.2.9\n$TTL 4294967295\n",
    b"c CAA 0 issue \"ca.example.net; account=1\"\nm ( MX\n 10 ; comment\n mail )\n",
]


def seeds():
    files = [os.path.join(ROOT, "robdns", "data", "example.com.zone")]
    for pattern in ["corpus/*.zone", "zones/good/*.zone", "zones/bad/*.zone",
                    "zones/semantic/*.zone", "zones/fuzz-regressions/*"]:
        files += sorted(glob.glob(os.path.join(TESTS, pattern)))
    out = list(SNIPPETS)
    for f in files:
        with open(f, "rb") as fh:
            out.append(fh.read())
    return out


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    if not libfuzzer.have_clang():
        pytest.skip(libfuzzer.NO_CLANG)
    d = tmp_path_factory.mktemp("fuzz-zscan")
    sources = libfuzzer.csrc("lib", "zone")
    return libfuzzer.build("fuzz_zscan.c", sources, d / "fuzz_zscan")


def test_fuzz_regressions_replay_cleanly(fuzzer):
    assert REGRESSIONS
    libfuzzer.replay(fuzzer, REGRESSIONS, leaks=True)


def test_libfuzzer_zone_parser(fuzzer, tmp_path):
    corpus = libfuzzer.write_corpus(tmp_path / "corpus", seeds())
    runs = libfuzzer.run(fuzzer, corpus, tmp_path, seconds=FUZZ_SECONDS, max_len=4096,
                         leaks=True, dictionary="zscan.dict")
    assert runs > 1000


def test_include_can_be_refused(tmp_path):
    # The harness refuses $INCLUDE (include_depth_max < 0) so fuzzed input cannot read
    # /dev/zero or block on /dev/stdin; the records around it still load.
    (tmp_path / "inc.zone").write_text("x A 192.0.2.1\n")
    name = str(tmp_path / "main.zone")
    text = "$INCLUDE inc.zone\ny A 192.0.2.2\n"
    recs, _, msgs = _core._parse_c_only(text, "example.com.", name=name, includes=False)
    assert msgs == [f"{name}:1: error: $INCLUDE is not allowed here"]
    assert len(recs) == 1
    recs, _, msgs = _core._parse_c_only(text, "example.com.", name=name)
    assert msgs == [] and len(recs) == 2


def valid_wire_name(w):
    i = 0
    while i < len(w) and w[i] != 0:
        if w[i] > 63:
            return False
        i += w[i] + 1
    return i == len(w) - 1 and len(w) <= 255


def test_generate_bad_owner_is_not_inherited():
    # Found by the fuzzer: a $GENERATE owner that failed to parse (relative, no origin) left
    # part of a name in the owner buffer, and the next record with a blank owner field
    # inherited it: "1.r" over the tail of the previous owner, without its root label.
    text = ("averyveryverylonglabel.example. 60 A 192.0.2.1\n"
            "$GENERATE 1-2 $.r 60 PTR x.\n"
            " 60 A 192.0.2.2\n")
    recs, _, msgs = _core._parse_c_only(text, None, name="g.zone")
    assert [r[0] for r in recs] == [b"\x16averyveryverylonglabel\x07example\x00"]
    assert all(valid_wire_name(r[0]) for r in recs)
    assert msgs == ["g.zone:2: error: bad owner name '1.r': relative name without an origin",
                    "g.zone:3: error: no owner name to inherit"]
