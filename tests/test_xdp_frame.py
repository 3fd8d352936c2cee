"""Reply frames of the AF_XDP worker, built by the exact C code the workers run
(rd_xdp_reply via _core.xdp_reply_frame), checked by an independent Python implementation
of Ethernet/802.1Q, IPv4, IPv6, UDP and the Internet checksum.  No root needed."""

import struct

import dns.edns
import dns.flags
import dns.message
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from netns import ZONE
from robdns import _core
from xdp_frames import (CLIENT_MAC, ETH_8021AD, ETH_8021Q, SERVER_MAC, inet_checksum,
                        parse_reply, query_frame)

# An RRset too big for a 576-byte path: 40 TXT records of 60 bytes.
ZONE_BIG = ZONE + "".join(f'big TXT "{i:02d}{"x" * 58}"\n' for i in range(40))


@pytest.fixture(scope="module")
def db():
    return _core.Database([_core.compile_zone_text("example.com.", ZONE_BIG)])


def query(name="www.example.com.", rtype="A", **kw):
    return dns.message.make_query(name, rtype, **kw).to_wire()


LAYOUTS = [
    dict(family=4),
    dict(family=6),
    dict(family=4, vlans=((ETH_8021Q, 100),)),
    dict(family=6, vlans=((ETH_8021AD, 7), (ETH_8021Q, 100))),
    dict(family=4, ip_options=b"\x94\x04\x00\x00"),     # Router Alert option: IHL 6
    dict(family=4, pad_to=200),                         # trailing Ethernet padding
    dict(family=4, tos=0xB8),
    dict(family=6, tos=0xB8),
    dict(family=6, sport=1),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda d: ",".join(f"{k}" for k in d))
def test_reply_is_the_engines_answer_with_headers_swapped(db, layout):
    q = query()
    frame, why = _core.xdp_reply_frame(db, query_frame(q, **layout))
    assert why == "ok"
    r = parse_reply(frame)           # checks lengths and both checksums
    assert r["payload"] == _core.answer(db, q)
    assert (r["dst_mac"], r["src_mac"]) == (CLIENT_MAC, SERVER_MAC)
    assert r["vlans"] == list(layout.get("vlans", ()))
    assert r["family"] == layout["family"]
    assert r["tos"] == layout.get("tos", 0)
    assert (r["sport"], r["dport"]) == (53, layout.get("sport", 40000))
    server, client = (bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])) if r["family"] == 4 else \
        (bytes.fromhex("20010db8005300000000000000000001"), bytes.fromhex("20010db8005300000000000000000002"))
    assert (r["src"], r["dst"]) == (server, client)
    m = dns.message.from_wire(r["payload"])
    assert m.flags & dns.flags.QR and [rr.address for rr in m.answer[0]] == ["198.18.0.53"]


def test_other_port_is_configurable(db):
    q = query()
    assert _core.xdp_reply_frame(db, query_frame(q, dport=53), port=5353) == (b"", "not-dns")
    frame, why = _core.xdp_reply_frame(db, query_frame(q, dport=5353), port=5353)
    assert why == "ok" and parse_reply(frame)["sport"] == 5353


@pytest.mark.parametrize("mtu", [576, 1280, 1500])
def test_reply_never_exceeds_the_mtu(db, mtu):
    q = query("big.example.com.", "TXT", use_edns=0, payload=4096)
    for family in (4, 6):
        if family == 6 and mtu < 1280:
            continue
        frame, why = _core.xdp_reply_frame(db, query_frame(q, family=family), mtu=mtu)
        assert why == "ok"
        r = parse_reply(frame)
        ip_len = len(frame) - 14
        assert ip_len <= mtu
        m = dns.message.from_wire(r["payload"])
        full = _core.answer(db, q)
        if len(full) + (20 if family == 4 else 40) + 8 > mtu:
            assert m.flags & dns.flags.TC, "a reply cut to the MTU must say so (RFC 2181 9)"


def test_no_reply_to_a_response(db):
    q = bytearray(query())
    q[2] |= 0x80                                  # QR set: RFC 1035 4.1.1, never answer
    assert _core.xdp_reply_frame(db, query_frame(bytes(q))) == (b"", "no-answer")


@pytest.mark.parametrize("frame_fn, reason", [
    (lambda q: query_frame(q, frag=0x2000), "not-dns"),             # more fragments
    (lambda q: query_frame(q, frag=0x0010), "not-dns"),             # a later fragment
    (lambda q: query_frame(q, sport=0), "malformed"),
    (lambda q: query_frame(q)[:-5], "malformed"),                   # IP length > frame
    (lambda q: _set(query_frame(q), 14 + 20 + 4, struct.pack("!H", 300)), "malformed"),  # UDP len > IP
    (lambda q: _set(query_frame(q), 14 + 20 + 4, struct.pack("!H", 7)), "malformed"),    # UDP len < 8
    (lambda q: _set(query_frame(q), 14, b"\x44"), "malformed"),     # IHL 4
    (lambda q: _set(query_frame(q), 14, b"\x55"), "malformed"),     # version 5
    (lambda q: _set(query_frame(q), 14 + 9, b"\x06"), "not-dns"),   # TCP
    (lambda q: _set(query_frame(q, family=6), 14 + 6, b"\x00"), "not-dns"),  # hop-by-hop ext hdr
    (lambda q: _set(query_frame(q), 12, b"\x08\x06"), "not-dns"),   # ARP
    (lambda q: _set(query_frame(q, family=6), 14 + 4, b"\xff\xff"), "malformed"),  # payload len
])
def test_bad_or_foreign_frames_get_no_reply(db, frame_fn, reason):
    assert _core.xdp_reply_frame(db, frame_fn(query())) == (b"", reason)


def _set(frame, off, data):
    """frame with data written at off; an IPv4 header it changes gets its checksum
    again, so that each case is refused for what it says, not for a bad checksum."""
    out = frame[:off] + data + frame[off + len(data):]
    if out[12:14] == b"\x08\x00" and 14 <= off < 14 + 20:
        ihl = (out[14] & 0x0F) * 4
        if ihl >= 20:
            hdr = out[14:24] + b"\0\0" + out[26:14 + ihl]
            out = out[:24] + struct.pack("!H", inet_checksum(hdr)) + out[26:]
    return out


def _udp_checksum_at(family):
    return 14 + (20 if family == 4 else 40) + 6


@pytest.mark.parametrize("family", [4, 6])
def test_checksums_of_queries_are_checked(db, family):
    frame = query_frame(query(), family=family)
    assert _core.xdp_reply_frame(db, frame)[1] == "ok"
    at = _udp_checksum_at(family)
    # RFC 768: a datagram whose checksum fails is dropped, whatever byte was hit
    for pos in (at - 6, at, at + 5, len(frame) - 1):
        bad = frame[:pos] + bytes([frame[pos] ^ 0x10]) + frame[pos + 1:]
        assert _core.xdp_reply_frame(db, bad) == (b"", "malformed"), pos
    # what checksum offload leaves in a frame sent through a veth: the pseudo-header sum
    # only (never finished by a NIC), refused like any bad checksum
    partial = frame[:at] + b"\x12\x34" + frame[at + 2:]
    assert _core.xdp_reply_frame(db, partial) == (b"", "malformed")
    # no checksum: allowed over IPv4, never over IPv6 (RFC 768; RFC 8200 8.1)
    none = frame[:at] + b"\0\0" + frame[at + 2:]
    assert _core.xdp_reply_frame(db, none)[1] == ("ok" if family == 4 else "malformed")
    if family == 4:
        # RFC 791 3.1: the header checksum (IHL words, options included)
        for pos in (14 + 1, 14 + 8, 14 + 10, 14 + 19):
            bad = frame[:pos] + bytes([frame[pos] ^ 0x01]) + frame[pos + 1:]
            assert _core.xdp_reply_frame(db, bad) == (b"", "malformed"), pos
        opts = query_frame(query(), family=4, ip_options=b"\x94\x04\x00\x00")
        assert _core.xdp_reply_frame(db, opts)[1] == "ok"
        assert _core.xdp_reply_frame(db, opts[:36] + b"\x01" + opts[37:]) == (b"", "malformed")


@pytest.mark.parametrize("family", [4, 6])
def test_checksums_hold_for_every_length_modulo_8(db, family):
    # The C sum takes 8 bytes at a time and zero-pads the tail (RFC 768: an odd last byte
    # is padded with zero): queries and replies of every length modulo 8 must check.
    qlens, rlens = set(), set()
    for i in range(1, 17):
        for name in (f"{'w' * i}.example.com.", f"{'n' * i}.nope.example.com."):
            q = query(name, "A")
            frame = query_frame(q, family=family)
            reply, why = _core.xdp_reply_frame(db, frame)
            assert why == "ok", name
            r = parse_reply(reply)           # both checksums, by the Python implementation
            assert r["payload"] == _core.answer(db, q)
            qlens.add(len(q) % 8)
            rlens.add(len(r["payload"]) % 8)
            # and a query whose checksum field is off by one is refused
            at = _udp_checksum_at(family)
            bad = frame[:at + 1] + bytes([frame[at + 1] ^ 0x01]) + frame[at + 2:]
            assert _core.xdp_reply_frame(db, bad) == (b"", "malformed"), name
    assert qlens == rlens == set(range(8))


@pytest.mark.parametrize("family", [4, 6])
def test_checksums_hold_when_every_word_carries(db, family):
    # The C sum adds each 8-byte word as two 32-bit halves into two 64-bit sums and folds
    # the carries once at the end (RFC 1071 2(C)).  A long query of 0xff bytes (an unknown
    # EDNS option, which a server ignores: RFC 6891 6.1.2) makes every add carry: its
    # checksum, written by the Python implementation, must check, a flipped bit anywhere in
    # the run must be refused, and the reply's checksums must check.
    opt = dns.edns.GenericOption(65001, b"\xff" * 1203)
    q = query(use_edns=0, payload=4096, options=[opt])
    frame = query_frame(q, family=family)
    reply, why = _core.xdp_reply_frame(db, frame)
    assert why == "ok"
    assert parse_reply(reply)["payload"] == _core.answer(db, q)
    for pos in (len(frame) - 1, len(frame) - 600, len(frame) - 1203):
        bad = frame[:pos] + bytes([frame[pos] ^ 0x01]) + frame[pos + 1:]
        assert _core.xdp_reply_frame(db, bad) == (b"", "malformed"), pos


@pytest.mark.parametrize("family", [4, 6])
def test_a_checksum_that_computes_to_zero_is_all_ones(db, family):
    # RFC 768: a computed checksum of zero is sent as all ones (zero means "none").  Only
    # the message ID differs between two replies, so the ID that makes the reply's sum
    # all ones is the checksum the reply with ID 0 had (one's complement arithmetic).
    at = _udp_checksum_at(family)
    reply0, _ = _core.xdp_reply_frame(db, query_frame(query(id=0), family=family))
    wanted = struct.unpack_from("!H", reply0, at)[0]
    reply, why = _core.xdp_reply_frame(db, query_frame(query(id=wanted), family=family))
    assert why == "ok"
    assert reply[at:at + 2] == b"\xff\xff"
    parse_reply(reply)
    # and a query whose checksum computed to zero, sent as all ones, is accepted
    frame0 = query_frame(query(id=0), family=family)
    wanted = struct.unpack_from("!H", frame0, at)[0]
    frame = query_frame(query(id=wanted), family=family)
    assert frame[at:at + 2] == b"\xff\xff"
    assert _core.xdp_reply_frame(db, frame)[1] == "ok"


@pytest.mark.parametrize("family", [4, 6])
def test_every_truncated_frame_is_refused_safely(db, family):
    frame = query_frame(query(), family=family, vlans=((ETH_8021Q, 1),))
    for n in range(len(frame)):
        reply, why = _core.xdp_reply_frame(db, frame[:n])
        assert reply == b"" and why in ("malformed", "not-dns", "no-answer")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_frames_never_crash_and_replies_are_well_formed(db, data):
    family = data.draw(st.sampled_from([4, 6]))
    frame = bytearray(query_frame(query(), family=family))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(frame) - 1))
        frame[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        frame = frame[:data.draw(st.integers(0, len(frame)))]
    reply, why = _core.xdp_reply_frame(db, bytes(frame))
    if reply:
        parse_reply(reply)
    else:
        assert why in ("malformed", "not-dns", "no-answer")


def test_notify_for_a_secondary_zone_is_answered_from_the_source(db):
    # query/notify.c through the XDP frame path: the client of query_frame (198.18.0.2)
    # may notify example.com. when a rule admits it; any other source is REFUSED
    import dns.opcode
    import dns.rcode
    img = db.zones[0]
    n = dns.message.make_query("example.com.", "SOA")
    n.flags = 0
    n.set_opcode(dns.opcode.NOTIFY)
    wire = n.to_wire()
    for rules, rcode, aa in [([("198.18.0.2/32", None)], dns.rcode.NOERROR, True),
                             ([("198.18.0.0/24", None)], dns.rcode.NOERROR, True),
                             ([("192.0.2.1/32", None)], dns.rcode.REFUSED, False)]:
        sdb = _core.Database([img], notify={"example.com.": rules})
        frame, why = _core.xdp_reply_frame(sdb, query_frame(wire, family=4))
        assert why == "ok"
        r = dns.message.from_wire(parse_reply(frame)["payload"])
        assert r.opcode() == dns.opcode.NOTIFY and r.rcode() == rcode
        assert bool(r.flags & dns.flags.AA) == aa
    assert "example.com." in _core.notify_take()         # queued once, for the refresh
    assert _core.notify_take() == []
    # not a secondary zone (no rules): NOTAUTH, as before
    frame, why = _core.xdp_reply_frame(db, query_frame(wire, family=4))
    assert dns.message.from_wire(parse_reply(frame)["payload"]).rcode() == dns.rcode.NOTAUTH


def _mixed_frames(rng):
    """A batch as an RX ring delivers it: answers, DO, NXDOMAIN, big and truncated
    answers, foreign and broken frames, over every layout."""
    out = []
    names = [("www.example.com.", "A"), ("WwW.example.com.", "AAAA"), ("nope.example.com.", "A"),
             ("big.example.com.", "TXT"), ("example.com.", "SOA"), ("other.org.", "A")]
    for _ in range(64):
        name, rtype = rng.choice(names)
        q = query(name, rtype, use_edns=0, payload=rng.choice([512, 1232, 4096]),
                  want_dnssec=rng.random() < 0.5)
        f = query_frame(q, **rng.choice(LAYOUTS))
        kind = rng.random()
        if kind < 0.1:
            f = f[:rng.randrange(len(f))]                       # cut short
        elif kind < 0.2:
            pos = rng.randrange(len(f))
            f = f[:pos] + bytes([f[pos] ^ 0x40]) + f[pos + 1:]  # a bad checksum, mostly
        out.append(f)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_a_batch_gets_what_each_frame_gets_alone(db, seed):
    # the worker answers a whole RX batch with one rd_answer_batch: the replies must be
    # the ones rd_xdp_reply makes frame by frame, byte for byte, and in the same frames
    import random
    rng = random.Random(seed)
    frames = _mixed_frames(rng)
    mtu = rng.choice([576, 1280, 1500])
    batch = _core.xdp_reply_frames(db, frames, mtu=mtu)
    assert len(batch) == len(frames)
    for f, got in zip(frames, batch):
        assert got == _core.xdp_reply_frame(db, f, mtu=mtu)
    assert sum(why == "ok" for _, why in batch) > 20
    for reply, why in batch:
        if reply:
            parse_reply(reply)


def test_batch_sizes_from_none_to_a_full_ring_batch(db):
    f = query_frame(query())
    alone = _core.xdp_reply_frame(db, f)
    for n in (0, 1, 2, 63, 64):
        assert _core.xdp_reply_frames(db, [f] * n) == [alone] * n
    with pytest.raises(ValueError):
        _core.xdp_reply_frames(db, [f] * 65)


def test_notify_in_a_batch_is_answered_from_its_own_source(db):
    # the batch path answers NOTIFY (query/notify.c) as the frame path does
    import dns.opcode
    import dns.rcode
    n = dns.message.make_query("example.com.", "SOA")
    n.flags = 0
    n.set_opcode(dns.opcode.NOTIFY)
    sdb = _core.Database([db.zones[0]], notify={"example.com.": [("198.18.0.2/32", None)]})
    frames = [query_frame(query(), family=6), query_frame(n.to_wire(), family=4),
              query_frame(n.to_wire(), family=6)]        # 2001:db8:53::2 has no right
    replies = _core.xdp_reply_frames(sdb, frames)
    assert [why for _, why in replies] == ["ok"] * 3
    msgs = [dns.message.from_wire(parse_reply(r)["payload"]) for r, _ in replies]
    assert msgs[0].opcode() == dns.opcode.QUERY and msgs[0].answer
    assert msgs[1].opcode() == dns.opcode.NOTIFY and msgs[1].rcode() == dns.rcode.NOERROR
    assert msgs[2].rcode() == dns.rcode.REFUSED
    assert "example.com." in _core.notify_take()
    assert _core.notify_take() == []


def test_bench_loop_answers_frames(db):
    # bench_xdp_frames (the in-process XDP benchmark) runs both paths over real frames
    frames = [query_frame(query(), family=f) for f in (4, 6)] * 40
    for batch in (False, True):
        n, cpu = _core.bench_xdp_frames(db, frames, 0.01, batch=batch)
        assert n >= len(frames) and cpu > 0
