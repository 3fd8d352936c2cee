# test_engine_fuzz.py — property tests of the engine on random and mutated packets: it never
# crashes, and every response is well formed (dnspython parses it), echoes the ID, has QR
# set and fits the transport's limit; or there is no response at all.
import struct

import dns.message
import dns.rcode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robdns import _core
from engine_support import database, raw_zone
from test_engine_semantics import CHILD, PARENT
from test_engine_rfc4592 import EXTRA_ZONE

DB = database(raw_zone("example.com.", PARENT), raw_zone("child.example.com.", CHILD),
              raw_zone("w.test.", EXTRA_ZONE), identity="fuzz", version="1", nsid=b"n")

NAMES = ["example.com", "www.example.com", "c1.example.com", "x.dn2.example.com",
         "a.b.dn.example.com", "host.sub.example.com", "sub.example.com", "child.example.com",
         "www.child.example.com", "q.cn.w.test", "z.y.a.w.test", "ent.example.com",
         "nothere.example.com", "version.bind", "example.org", "."]
TYPES = [1, 2, 5, 6, 15, 16, 28, 33, 39, 43, 46, 47, 48, 50, 252, 251, 255, 0, 41, 65535]


def check(query, resp, tcp):
    if not resp:
        return
    assert resp[:2] == query[:2]                       # ID echoed
    assert resp[2] & 0x80                              # QR set
    assert len(resp) <= (65535 if tcp else 1232)
    msg = dns.message.from_wire(resp)                  # well formed or this raises
    assert len(msg.question) <= 1
    if msg.rcode() == dns.rcode.FORMERR:
        assert not msg.answer and not msg.authority


@st.composite
def valid_queries(draw):
    name = draw(st.sampled_from(NAMES))
    name = "".join(ch.upper() if draw(st.booleans()) else ch for ch in name)
    rdtype = draw(st.sampled_from(TYPES))
    rdclass = draw(st.sampled_from([1, 3, 255, 4]))
    edns = draw(st.sampled_from([None, 0, 1]))
    kw = {}
    if edns is not None:
        kw = dict(use_edns=edns, payload=draw(st.integers(0, 65535)),
                  want_dnssec=draw(st.booleans()))
    q = dns.message.make_query(name, rdtype, rdclass, **kw)
    return q.to_wire()


@st.composite
def mutated(draw):
    wire = bytearray(draw(valid_queries()))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "count"]))
        if op == "flip" and wire:
            i = draw(st.integers(0, len(wire) - 1))
            wire[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and wire:
            i = draw(st.integers(0, len(wire) - 1))
            wire[i] = draw(st.sampled_from([0, 0x3f, 0x40, 0xc0, 0xc0 | 12, 0xff, 41]))
        elif op == "cut":
            del wire[draw(st.integers(0, len(wire))):]
        elif op == "insert":
            i = draw(st.integers(0, len(wire)))
            wire[i:i] = draw(st.binary(min_size=1, max_size=20))
        elif op == "count" and len(wire) >= 12:
            f = draw(st.sampled_from([4, 6, 8, 10]))
            wire[f:f + 2] = struct.pack("!H", draw(st.integers(0, 65535)))
    return bytes(wire)


FUZZ = settings(max_examples=500, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.binary(max_size=600), st.booleans())
def test_random_packets(data, tcp):
    check(data, _core.answer(DB, data, tcp=tcp), tcp)


@FUZZ
@given(mutated(), st.booleans())
def test_mutated_queries(data, tcp):
    check(data, _core.answer(DB, data, tcp=tcp), tcp)


@FUZZ
@given(valid_queries(), st.booleans())
def test_valid_queries_always_answered(data, tcp):
    resp = _core.answer(DB, data, tcp=tcp)
    assert resp, "a well-formed query always gets a response"
    check(data, resp, tcp)
    msg = dns.message.from_wire(resp)
    q = dns.message.from_wire(data)
    # RFC 1035 4.1.1: the question is echoed byte for byte (the client's case).
    assert msg.question[0].name.to_wire() == q.question[0].name.to_wire()
    assert resp[12:12 + len(q.question[0].name.to_wire())] == \
        data[12:12 + len(q.question[0].name.to_wire())]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.one_of(valid_queries(), mutated(), st.binary(max_size=80)), max_size=40),
       st.booleans())
def test_batch_answers_equal_single_answers(batch, tcp):
    # rd_answer_batch only adds prefetches: every response is the one rd_answer gives.
    assert _core.answer_batch(DB, batch, tcp=tcp) == [_core.answer(DB, q, tcp=tcp) for q in batch]
