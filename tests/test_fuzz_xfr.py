# test_fuzz_xfr.py — TSIG and transfers out under libFuzzer and AddressSanitizer/UBSan: signed and unsigned AXFR/IXFR requests and IXFR journals, mutated (tests/fuzz/fuzz_xfr.c).
import dns.message
import dns.name
import dns.rrset
import dns.tsig
import pytest

from fuzz import libfuzzer
from robdns import _core
from xfr_support import zone_text

KEYS = {"xfr-key.": (b"0123456789abcdef", dns.tsig.HMAC_SHA256),
        "other.": (b"01234567", dns.tsig.HMAC_MD5)}


def signed(q, key):
    secret, alg = KEYS[key]
    q.use_tsig({dns.name.from_text(key): dns.tsig.Key(key, secret, alg)}, keyname=key, algorithm=alg)
    return q


def ixfr(serial):
    q = dns.message.make_query("example.com.", "IXFR")
    q.authority.append(dns.rrset.from_text(
        "example.com.", 0, "IN", "SOA", f"ns1.example.com. h.example.com. {serial} 1 1 1 1"))
    return q


def seeds(journal):
    qs = [dns.message.make_query("example.com.", "AXFR"),
          signed(dns.message.make_query("example.com.", "AXFR"), "xfr-key."),
          signed(dns.message.make_query("example.com.", "AXFR"), "other."),
          signed(dns.message.make_query("example.com.", "AXFR", use_edns=0), "xfr-key."),
          signed(ixfr(1), "xfr-key."), ixfr(2), ixfr(1),
          signed(dns.message.make_query("www.example.com.", "A"), "xfr-key."),
          signed(dns.message.make_query("example.com.", "SOA"), "other.")]
    return [b"\0" + q.to_wire() for q in qs] + [b"\1" + journal, b"\1" + journal[:40]]


@pytest.mark.skipif(not libfuzzer.have_clang(), reason=libfuzzer.NO_CLANG)
def test_libfuzzer_tsig_and_transfers(tmp_path):
    v1, v2, v3 = (_core.compile_zone_text("example.com.", zone_text(s, n=300 - s)) for s in (1, 2, 3))
    journal = _core.zone_diff(v1, v2)[0] + _core.zone_diff(v2, v3)[0]
    z = tmp_path / "example.com.zimg"
    v3.save(str(z))
    exe = libfuzzer.build("fuzz_xfr.c", libfuzzer.csrc("lib", "zone", "query"), tmp_path / "fuzz_xfr")
    corpus = libfuzzer.write_corpus(tmp_path / "corpus", seeds(journal))
    env = {"ROBDNS_FUZZ_ZONES": str(z)}
    # the seeds themselves first: every path they reach runs clean
    libfuzzer.replay(exe, sorted((tmp_path / "corpus").iterdir()), env=env)
    runs = libfuzzer.run(exe, corpus, tmp_path, max_len=2048, env=env)
    assert runs > 1000
