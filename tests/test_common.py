"""test_common — the shared C name helpers (rd_common.c) against dnspython."""

import dns.name
from hypothesis import given, settings
from hypothesis import strategies as st

from robdns import _core

# Labels over a small alphabet with both cases, so equal-ignoring-case and prefix
# relations come up often.
label = st.binary(min_size=1, max_size=6).map(
    lambda b: bytes(c % 5 + (65 if c & 32 else 97) for c in b))
names = st.lists(label, min_size=0, max_size=4).map(lambda ls: dns.name.Name(ls + [b""]))


def sign(x):
    return (x > 0) - (x < 0)


@settings(max_examples=500)
@given(names, names)
def test_name_cmp_is_rfc4034_canonical_order(a, b):
    # RFC 4034 section 6.1; dnspython's Name ordering implements the same order.
    expected = -1 if a < b else (1 if a > b else 0)
    assert sign(_core._name_cmp(a.to_wire(), b.to_wire())) == expected


def test_name_cmp_examples_from_rfc4034_section_6_1():
    ordered = ["example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
               "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.",
               "\\200.z.example."]
    wires = [dns.name.from_text(n).to_wire() for n in ordered]
    for x, y in zip(wires, wires[1:]):
        assert _core._name_cmp(x, y) < 0, (x, y)
        assert _core._name_cmp(y, x) > 0, (y, x)
