"""lib/rd_sha1.c against hashlib and dnspython: the SHA-NI block and the plain one.

Both blocks are compiled here from the same source into a small shared library (the
extension holds only the one the CPU picks at load), so each is checked on every host:
lengths around the block edges (FIPS 180-4 5.1.1 padding: 55/56 and 119/120 bytes), the
two-part input of an NSEC3 iteration, and RFC 5155 5 hashes with salts and iterations."""
import ctypes
import base64
import hashlib
import os
import random
import subprocess
import sysconfig

import dns.dnssec
import dns.name
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "..", "cython_ext", "csrc")


def _build(tmp, scalar):
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    out = os.path.join(tmp, "sha1_scalar.so" if scalar else "sha1_pick.so")
    flags = ["-DRD_SHA1_SCALAR"] if scalar else []
    # the source itself, with one function more that says which block it picked
    src = os.path.join(tmp, "sha1_scalar.c" if scalar else "sha1_pick.c")
    with open(src, "w") as f:
        f.write('#include "lib/rd_sha1.c"\n'
                "int rd_test_picked_ni(void) {\n#if !defined(__x86_64__) || defined(RD_SHA1_SCALAR)\n  return 0;\n#else\n"
                "  return have_sha_ni;\n#endif\n}\n")
    subprocess.run(cc + ["-O2", "-shared", "-fPIC", "-I", CSRC, *flags, src, "-o", out], check=True)
    lib = ctypes.CDLL(out)
    lib.rd_sha1_2.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                              ctypes.c_size_t, ctypes.c_char_p]
    lib.rd_nsec3_hash.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                  ctypes.c_size_t, ctypes.c_uint, ctypes.c_char_p]
    return lib


@pytest.fixture(scope="module", params=["picked", "scalar"])
def sha1(request, tmp_path_factory):
    return _build(str(tmp_path_factory.mktemp("sha1")), request.param == "scalar")


def _digest(lib, a, b):
    out = ctypes.create_string_buffer(20)
    lib.rd_sha1_2(a, len(a), b, len(b), out)
    return out.raw


def test_lengths_around_the_block_edges(sha1):
    rnd = random.Random(5155)
    for n in list(range(0, 130)) + [191, 192, 255, 256, 1000]:
        a = rnd.randbytes(n)
        split = rnd.randrange(n + 1)
        assert _digest(sha1, a[:split], a[split:]) == hashlib.sha1(a).digest(), n


def test_known_answers(sha1):
    # FIPS 180-4 examples (NIST CSRC example values)
    assert _digest(sha1, b"abc", b"").hex() == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert _digest(sha1, b"", b"").hex() == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    two = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    assert _digest(sha1, two, b"").hex() == "84983e441c3bd26ebaae4aa1f95129e5e54670f1"


@pytest.mark.parametrize("salt,iterations", [(b"", 0), (bytes.fromhex("aabbccdd"), 1),
                                             (bytes.fromhex("cafe"), 12), (bytes(255), 3)])
def test_nsec3_hash_equals_dnspython(sha1, salt, iterations):
    rnd = random.Random(iterations)
    for _ in range(50):
        labels = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789-")
                          for _ in range(rnd.randint(1, 20))) for _ in range(rnd.randint(1, 5))]
        name = dns.name.from_text(".".join(labels) + ".example.")
        wire = name.canonicalize().to_wire()
        out = ctypes.create_string_buffer(20)
        sha1.rd_nsec3_hash(wire, len(wire), salt, len(salt), iterations, out)
        want = dns.dnssec.nsec3_hash(name, salt, iterations, 1)
        got = base64.b32encode(out.raw).translate(
            bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                            b"0123456789ABCDEFGHIJKLMNOPQRSTUV")).decode()
        assert got == want, name


def _cpu_has_sha_ni():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return "sha_ni" in line.split()
    return False


def test_the_picked_block_is_the_sha_ni_one_where_the_cpu_has_it(tmp_path):
    # else the "picked" runs above tested the plain block twice
    if not _cpu_has_sha_ni():
        pytest.skip("this CPU has no SHA extensions: only the plain block can run here")
    assert _build(str(tmp_path), False).rd_test_picked_ni() == 1
    assert _build(str(tmp_path), True).rd_test_picked_ni() == 0
