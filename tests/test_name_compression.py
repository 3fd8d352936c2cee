"""The response writer's name compression (engine_write.c rd_put_name, RFC 1035 4.1.4)
against a plain search written here: every suffix of a name, longest first, against every
name position remembered so far, in the order they were written (the question's first).
The writer compares a suffix first octet for octet and eight octets at a time before it
lower-cases (name_eq_at); the pointer it chooses, and so every octet of every answer,
precomputed or not, must stay the plain search's, in any letter case (RFC 4343)."""
import random

import pytest

from robdns import _core

if not hasattr(_core, "put_names"):
    pytest.skip("built without ROBDNS_TEST_HOOKS=1", allow_module_level=True)

COMP_MAX = 64            # engine_int.h RD_COMP_MAX


def labels(wire):
    out, o = [], 0
    while wire[o]:
        out.append(wire[o:o + 1 + wire[o]])
        o += 1 + wire[o]
    return out


def reference(question, names):
    r = bytearray(12) + question + bytes(4)
    ql = labels(question)
    # entries: (offset, the suffix lower-cased as written)
    comp = []
    for i in range(len(ql)):
        if len(comp) < COMP_MAX:
            comp.append((12 + sum(map(len, ql[:i])), b"".join(ql[i:]).lower()))
    for name in names:
        nl = labels(name)
        hit = None
        for i in range(len(nl)):
            sfx = b"".join(nl[i:]).lower()
            for off, s in comp:
                if s == sfx:
                    hit = (i, off)
                    break
            if hit:
                break
        start = len(r)
        upto = hit[0] if hit else len(nl)
        r += b"".join(nl[:upto])
        r += bytes([0xC0 | hit[1] >> 8, hit[1] & 0xFF]) if hit else b"\0"
        for i in range(upto):
            o = start + sum(map(len, nl[:i]))
            if len(comp) >= COMP_MAX or o > 0x3FFF:
                break
            comp.append((o, b"".join(nl[i:]).lower()))
    return bytes(r)


def wire(text):
    return b"".join(bytes([len(l)]) + l.encode() for l in text.split(".") if l) + b"\0"


def random_name(rng, pool):
    """A name in mixed case: a few labels over a suffix of the pool, or of another name."""
    base = rng.choice(pool)
    parts = base.split(".")[rng.randrange(len(base.split("."))):]
    # octets that only differ in bit 0x20 and are no letters ('@' and '`', '[' and '{')
    alphabet = "abcAB0-@`[{\\" if rng.random() < 0.3 else "abcdefghijABCDEFGHIJ0123456789-"
    head = ["".join(rng.choice(alphabet) for _ in range(rng.choice((1, 1, 2, 3, 8, 32))))
            for _ in range(rng.randrange(0, 4))]
    name = ".".join(head + parts)
    return "".join(ch.swapcase() if rng.random() < 0.2 else ch for ch in name)


@pytest.mark.parametrize("seed", range(300))
def test_compression_matches_plain_search(seed):
    rng = random.Random(seed)
    pool = ["example.com", "a.example.com", "Example.NET", "b.c.example.org", "x", "ab.x",
            "0A.x", "com", "example.com.example.com"]
    pool += [random_name(rng, pool) for _ in range(10)]
    question = wire(random_name(rng, pool))
    names = [wire(random_name(rng, pool)) for _ in range(rng.choice((1, 3, 10, 40, 80)))]
    names = [n for n in names if len(n) <= 255]
    assert _core.put_names(question, names) == reference(question, names)


def test_compression_table_full():
    # long names of many labels fill the 64 entries; later suffixes are not remembered,
    # the shorter suffixes of the name that fills it neither (engine_write.c)
    rng = random.Random(7)
    names = [wire(".".join("".join(rng.choice("abc") for _ in range(3)) for _ in range(9)))
             for _ in range(9)]
    names += [wire("Q." + n) for n in ("x.example", "example")]
    names += [wire("r.X.example"), wire("s.example")]
    question = wire("www.Example")
    out = _core.put_names(question, names)
    assert out == reference(question, names)
    assert out.endswith(wire("s.example")[:2] + bytes([0xC0, 16]))   # "example" of the question
