"""test_xfrin — received transfers: AXFR/IXFR responses rendered by dnspython (compressed,
split over messages) read by zone/xfrin.c give the same records; IXFRs applied to the
current image give the next version; malformed transfers are refused with a reason."""

import struct

import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robdns import _core
from robdns.errors import IxfrApplyError, TransferError

ORIGIN = dns.name.from_text("example.net.")
IN = dns.rdataclass.IN


def soa(serial, mname="ns1.example.net."):
    return ("@", 3600, "SOA", f"{mname} hostmaster.example.net. {serial} 3600 600 86400 300")


BASE = [("@", 3600, "NS", "ns1.example.net."), ("@", 3600, "NS", "ns2.Example.NET."),
        ("ns1", 3600, "A", "192.0.2.1"), ("ns2", 3600, "A", "192.0.2.2")]


def rr(owner, ttl, rtype, text):
    name = dns.name.from_text(owner, ORIGIN)
    rd = dns.rdata.from_text(IN, rtype, text, origin=ORIGIN, relativize=False)
    return name, ttl, rd


def render(records, qtype="AXFR", msg_id=4242, per_msg=3, question=True):
    """Response messages holding `records` (tuples for rr()) in order, `per_msg` answer
    records each, names compressed by dnspython as a primary would."""
    out = []
    recs = [rr(*r) for r in records]
    for i in range(0, max(len(recs), 1), per_msg):
        m = dns.message.Message(id=msg_id)
        m.flags = dns.flags.QR | dns.flags.AA
        if question and i == 0:
            m.question.append(dns.rrset.RRset(ORIGIN, IN, dns.rdatatype.from_text(qtype)))
        for name, ttl, rd in recs[i:i + per_msg]:
            m.answer.append(dns.rrset.from_rdata(name, ttl, rd))
        out.append(m.to_wire())
    return out


def parse(msgs, qtype="AXFR", serial=0, current=None):
    return _core.parse_transfer("example.net.", msgs, qtype, 4242, serial, current)


def norm(records):
    """Records from robdns (owner wire, ttl, class, type, rdata wire) as a comparable set."""
    return {(dns.name.from_wire(o, 0)[0].to_text().lower(), ttl, t,
             dns.rdata.from_wire(IN, t, rd, 0, len(rd)).to_digestable(ORIGIN))
            for o, ttl, _c, t, rd in records}


def expected(records):
    out = set()
    for r in records:
        name, ttl, rd = rr(*r)
        out.add((name.to_text().lower(), ttl, rd.rdtype, rd.to_digestable(ORIGIN)))
    return out


# ---------------------------------------------------------------- random zones

LABELS = st.sampled_from(["www", "Mail", "a", "b.c", "x-1", "deep.er.name", "*.wild"])
RDATA = st.one_of(
    st.tuples(st.just("A"), st.integers(1, 254).map(lambda i: f"198.51.100.{i}")),
    st.tuples(st.just("AAAA"), st.integers(1, 65535).map(lambda i: f"2001:db8::{i:x}")),
    st.tuples(st.just("MX"), st.tuples(st.integers(0, 100), LABELS).map(lambda t: f"{t[0]} {t[1]}")),
    st.tuples(st.just("TXT"), st.text("abc xyz\"", max_size=20).map(lambda s: '"' + s.replace('"', '') + '"')),
    st.tuples(st.just("SRV"), st.tuples(st.integers(0, 9), LABELS).map(lambda t: f"{t[0]} 5 80 {t[1]}")),
    st.tuples(st.just("PTR"), LABELS),
    st.tuples(st.just("NAPTR"), LABELS.map(lambda l: f'100 10 "u" "E2U+sip" "" {l}')),
    st.tuples(st.just("RP"), st.tuples(LABELS, LABELS).map(lambda t: f"{t[0]} {t[1]}")),
)


@st.composite
def zones(draw, min_size=0):
    entries = draw(st.lists(st.tuples(LABELS, RDATA), min_size=min_size, max_size=25))
    ttls, seen, out = {}, set(), []
    for owner, (rtype, text) in entries:
        key = (owner.lower(), rtype)
        ttl = ttls.setdefault(key, draw(st.sampled_from([60, 300, 3600])))
        r = (owner, ttl, rtype, text)
        ident = (owner.lower(), rtype, rr(*r)[2].to_digestable(ORIGIN))
        if ident in seen:
            continue
        seen.add(ident)
        out.append(r)
    return out


@settings(max_examples=60)
@given(zones(), st.integers(1, 7), st.integers(0, 2**32 - 1))
def test_axfr_matches_dnspython(extra, per_msg, serial):
    records = [soa(serial)] + BASE + extra
    msgs = render(records + [soa(serial)], per_msg=per_msg)
    x = _core.XfrIn("example.net.", "AXFR", 4242)
    for i, m in enumerate(msgs):
        done, toff = x.feed(m)
        assert done == (i == len(msgs) - 1) and toff == 0
    assert x.kind == "axfr" and x.serial == serial
    assert norm(x.zone_records()) == expected(records)
    img = x.image()
    assert img.serial == serial
    assert norm(_core.image_records(img)) == expected(records)


@settings(max_examples=60)
@given(zones(), zones(), zones(), st.integers(1, 5), st.booleans())
def test_ixfr_applied_gives_the_next_version(old_extra, dels_pick, adds, per_msg, two_steps):
    old = BASE + old_extra
    # deletions: some records the old version has; additions: new ones
    dels = [r for i, r in enumerate(old_extra) if i % 2 == 0]
    old_set = expected(old)
    adds = [r for r in adds if next(iter(expected([r]))) not in old_set
            and (r[0].lower(), r[2]) not in {(o[0].lower(), o[2]) for o in old}]
    new = [r for r in old if r not in dels] + adds
    if two_steps:
        # two sequences (RFC 1995 4): the deletions first, then the additions
        stream = [soa(12), soa(10)] + dels + [soa(11), soa(11), soa(12)] + adds + [soa(12)]
    else:
        stream = [soa(12), soa(10)] + dels + [soa(12)] + adds + [soa(12)]
    cur = parse(render([soa(10)] + old + [soa(10)]))
    x = _core.XfrIn("example.net.", "IXFR", 4242, serial=10)
    msgs = render(stream, "IXFR", per_msg=per_msg)
    for m in msgs:
        done, _ = x.feed(m)
    assert done and x.kind == "ixfr" and x.serial == 12
    img = x.image(cur)
    assert img.serial == 12
    assert norm(_core.image_records(img)) == expected([soa(12)] + new)
    assert parse(msgs, "IXFR", 10, cur).serial == 12


def test_ixfr_in_axfr_form():
    # RFC 1995 4: a server without the history answers the IXFR with the whole zone
    records = [soa(20)] + BASE
    x = _core.XfrIn("example.net.", "IXFR", 7, serial=10)
    for m in render(records + [soa(20)], "IXFR", msg_id=7):
        x.feed(m)
    assert x.kind == "axfr" and x.image().serial == 20


def test_ixfr_up_to_date_is_one_soa():
    x = _core.XfrIn("example.net.", "IXFR", 7, serial=20)
    assert x.feed(render([soa(20)], "IXFR", msg_id=7)[0]) == (True, 0)
    assert x.kind == "uptodate"
    assert _core.parse_transfer("example.net.", render([soa(20)], "IXFR", msg_id=7), "IXFR", 7, 20) is None


def test_ixfr_deleting_a_missing_record_does_not_apply():
    cur = parse(render([soa(10)] + BASE + [soa(10)]))
    stream = [soa(11), soa(10), ("nothere", 300, "A", "192.0.2.9"), soa(11), soa(11)]
    with pytest.raises(IxfrApplyError, match="does not have"):
        parse(render(stream, "IXFR"), "IXFR", 10, cur)
    # nor one that starts from another version than the one held
    stream = [soa(11), soa(9), soa(11), soa(11)]
    with pytest.raises(IxfrApplyError, match="starts from serial 9"):
        parse(render(stream, "IXFR"), "IXFR", 9, cur)


@pytest.mark.parametrize("stream, reason", [
    ([soa(5)] + BASE + [soa(6)], "closing SOA"),
    (BASE + [soa(5)], "does not start with the zone's SOA"),
    ([soa(5), ("www.example.org.", 300, "A", "192.0.2.1"), soa(5)], "outside the zone"),
    ([soa(5), ("sub", 300, "SOA", "a. b. 1 2 3 4 5"), soa(5)], "not at the apex"),
])
def test_malformed_transfers_are_refused(stream, reason):
    with pytest.raises(TransferError, match=reason):
        parse(render(stream))


def test_cut_short_and_trailing_records():
    msgs = render([soa(5)] + BASE + [soa(5)], per_msg=2)
    with pytest.raises(TransferError, match="before its closing SOA"):
        parse(msgs[:-1])
    with pytest.raises(TransferError, match="after"):
        parse(render([soa(5)] + BASE + [soa(5), BASE[0]]))
    with pytest.raises(TransferError, match="after the end"):
        parse(msgs + msgs[-1:])


def test_message_checks():
    good = render([soa(5)] + BASE + [soa(5)], per_msg=10)[0]
    with pytest.raises(TransferError, match="message ID"):
        _core.parse_transfer("example.net.", [good], id=1)
    refused = bytearray(good)
    refused[3] = (refused[3] & 0xF0) | 5
    with pytest.raises(TransferError, match="RCODE 5") as e:
        parse([bytes(refused)])
    assert e.value.rcode == 5
    with pytest.raises(TransferError, match="question"):
        _core.parse_transfer("example.org.", [good], id=4242)
    with pytest.raises(TransferError, match="bytes after"):
        parse([good + b"\0"])


def test_compression_pointer_loop_is_malformed():
    # a header, then an answer whose owner is a pointer to itself (RFC 1035 4.1.4 allows
    # only earlier octets)
    msg = struct.pack("!6H", 4242, 0x8400, 0, 1, 0, 0) + b"\xc0\x0c" + struct.pack("!HHIH", 6, 1, 0, 0)
    with pytest.raises(TransferError, match="malformed record"):
        parse([msg])
    # a pointer forward, into a later part of the message
    msg = struct.pack("!6H", 4242, 0x8400, 0, 1, 0, 0) + b"\xc0\x20" + struct.pack("!HHIH", 6, 1, 0, 0) + b"\0" * 30
    with pytest.raises(TransferError, match="malformed"):
        parse([msg])


def test_edns_expire_and_tsig_offset_are_reported():
    import dns.edns
    import dns.tsigkeyring
    keyring = dns.tsigkeyring.from_text({"xfr.key.": ("hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0")})
    m = dns.message.Message(id=9)
    m.flags = dns.flags.QR
    m.question.append(dns.rrset.RRset(ORIGIN, IN, dns.rdatatype.AXFR))
    for r in [soa(3)] + BASE + [soa(3)]:
        name, ttl, rd = rr(*r)
        m.answer.append(dns.rrset.from_rdata(name, ttl, rd))
    m.use_edns(0, options=[dns.edns.GenericOption(9, struct.pack("!I", 1234))])
    m.use_tsig(keyring, keyname="xfr.key.")
    wire = m.to_wire()
    x = _core.XfrIn("example.net.", "AXFR", 9)
    done, toff = x.feed(wire)
    assert done and x.expire == 1234
    assert dns.name.from_wire(wire, toff)[0] == dns.name.from_text("xfr.key.")


@settings(max_examples=300)
@given(st.data())
def test_mutated_messages_never_crash(data):
    msgs = render([soa(5)] + BASE + [("www", 60, "MX", "10 Mail"), soa(5)], per_msg=3)
    i = data.draw(st.integers(0, len(msgs) - 1))
    m = bytearray(msgs[i])
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(m) - 1))
        m[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(m)))
    msgs[i] = bytes(m[:cut])
    try:
        _core.parse_transfer("example.net.", msgs, id=4242)
    except (TransferError, Exception) as e:
        # a reason, never a crash (ZoneError when the records make no valid zone)
        assert str(e)
