"""test_xfrin_fuzz — the transfer reader (zone/xfrin.c) under libFuzzer with AddressSanitizer,
UBSan and LeakSanitizer (tests/fuzz/fuzz_xfrin.c): a time-bounded run over AXFR and IXFR
streams rendered by dnspython must end cleanly."""
import struct

import pytest

from fuzz import libfuzzer
from test_xfrin import BASE, render, soa

FUZZ_SECONDS = min(libfuzzer.FUZZ_SECONDS, 20)


def framed(first, msgs):
    return bytes([first]) + b"".join(struct.pack("!H", len(m)) + m for m in msgs)


def seeds():
    extra = [("www", 60, "MX", "10 mail"), ("mail", 60, "A", "192.0.2.7"),
             ("_sip._tcp", 60, "SRV", "0 5 5060 www"), ("n", 60, "NAPTR", '1 1 "u" "E2U" "" www')]
    return [
        framed(0, render([soa(11)] + BASE + extra + [soa(11)], per_msg=3)),
        framed(1 | 10 << 1, render([soa(12), soa(10), BASE[3], soa(12)] + extra + [soa(12)],
                                   "IXFR", per_msg=2)),
        framed(1 | 10 << 1, render([soa(12), soa(10), soa(11), soa(11), BASE[3], soa(12), soa(12)],
                                   "IXFR", per_msg=4)),
        framed(1 | 12 << 1, render([soa(12)], "IXFR")),
    ]


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    if not libfuzzer.have_clang():
        pytest.fail(libfuzzer.NO_CLANG)
    d = tmp_path_factory.mktemp("fuzz-xfrin")
    return libfuzzer.build("fuzz_xfrin.c", libfuzzer.csrc("lib", "zone"), d / "fuzz_xfrin")


def test_seeds_replay_cleanly(fuzzer, tmp_path):
    corpus = libfuzzer.write_corpus(tmp_path / "seeds", seeds())
    libfuzzer.replay(fuzzer, sorted((tmp_path / "seeds").iterdir()), leaks=True)
    assert corpus


def test_libfuzzer_transfer_reader(fuzzer, tmp_path):
    corpus = libfuzzer.write_corpus(tmp_path / "corpus", seeds())
    runs = libfuzzer.run(fuzzer, corpus, tmp_path, seconds=FUZZ_SECONDS, max_len=2048, leaks=True)
    assert runs > 1000
