"""test_xfrin_build — a transfer's image is built by zimg_build_consume, which gives the
records back inside the build (before the nodes are laid out) and reads the NS/MX/SRV
targets of the additional lists from the image: the image is, byte for byte, the one
the plain build makes of the same records, and the checks that run after the records
are gone still report (without a line, which a transfer never had)."""

import dns.name
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robdns import _core
from robdns.errors import ZoneError
from test_xfrin import BASE, render, rr, soa, zones


def wire(r):
    name, ttl, rd = rr(*r)
    return (name.to_wire(), ttl, 1, rd.rdtype, rd.to_wire())


def transferred(records, serial=7, per_msg=5):
    """The XfrIn of an AXFR of `records` (the SOA added at both ends), fed whole."""
    x = _core.XfrIn("example.net.", "AXFR", 4242)
    for m in render([soa(serial)] + records + [soa(serial)], per_msg=per_msg):
        x.feed(m)
    assert x.done and x.kind == "axfr"
    return x


def plain(records, serial=7):
    return _core._compile_zone_records("example.net.", [wire(r) for r in [soa(serial)] + records])


# targets inside the zone, with and without addresses, below a cut and not: every branch
# of the additional-list pass
TARGETED = st.lists(st.sampled_from([
    ("@", 3600, "MX", "10 mail"), ("@", 3600, "MX", "20 Mail.example.net."),
    ("mail", 300, "A", "192.0.2.25"), ("mail", 300, "AAAA", "2001:db8::25"),
    ("_sip._udp", 60, "SRV", "0 5 5060 sip"), ("sip", 60, "A", "192.0.2.50"),
    ("@", 3600, "MX", "30 nowhere.example.org."), ("svc", 60, "MX", "0 mail"),
    ("sub", 3600, "NS", "ns.sub"), ("ns.sub", 3600, "A", "192.0.2.53"),
    ("sub", 3600, "NS", "ns.elsewhere.example."), ("www", 300, "A", "192.0.2.80"),
    ("www", 300, "A", "192.0.2.81"), ("WWW", 300, "AAAA", "2001:db8::80"),
]), max_size=14, unique=True)


@settings(max_examples=80, deadline=None)
@given(zones(), TARGETED, st.integers(1, 9))
def test_transfer_image_is_the_plain_build(extra, targeted, per_msg):
    # with the owner index made as the messages come (zone/xfrin.c), as a big zone's is
    old = _core.set_xfrin_index_min(0)
    try:
        x = transferred(BASE + targeted + extra, per_msg=per_msg)
    finally:
        _core.set_xfrin_index_min(old)
    if assert_image_is_plain_build(x):
        assert x.zone_records() == []   # given back


def assert_image_is_plain_build(x):
    """The image of transfer x is the plain build of the very records it read (names in
    rdata come out of the sender's compression in the case it compressed them to), with
    the same messages; or, for an invalid mix (a CNAME beside other data, ...), both fail
    with the same errors.  Whether the image was built."""
    received = x.zone_records()
    try:
        want = _core._compile_zone_records("example.net.", received)
    except ZoneError as e:
        with pytest.raises(ZoneError) as xe:
            x.image()
        assert xe.value.errors == e.errors
        return False
    got = x.image()
    assert _core.image_to_bytes(got) == _core.image_to_bytes(want)
    assert _texts(got.warnings) == _texts(want.warnings)
    return True


def test_checks_after_the_records_are_gone_still_report():
    # missing glue (the additional-list pass) and CNAME beside other data (the node
    # checks) both run once the records are given back: same reasons, no line
    records = BASE + [("sub", 3600, "NS", "ns.sub"), ("alias", 300, "CNAME", "www"),
                      ("alias", 300, "TXT", '"x"'), ("www", 300, "A", "192.0.2.1")]
    with pytest.raises(ZoneError) as plain_err:
        plain(records)
    with pytest.raises(ZoneError) as xfr_err:
        transferred(records).image()

    def reasons(e):
        return sorted(m.split(": ", 1)[1] for m in e.value.messages)
    assert reasons(xfr_err) == reasons(plain_err)
    assert any("missing glue" in m for m in reasons(xfr_err))
    assert any("CNAME and other data" in m for m in reasons(xfr_err))
    # a transfer has no lines: "<transfer>: error: ..."
    assert all(m.startswith("<transfer>: ") for m in xfr_err.value.messages), xfr_err.value.messages


def test_records_of_one_owner_keep_their_case():
    # consecutive records of one owner share its bytes in the record list only when they
    # are the same bytes: a name sent in another case keeps it (RFC 4343: case is data)
    records = BASE + [("www", 300, "A", "192.0.2.1"), ("www", 300, "A", "192.0.2.2"),
                      ("WWW", 300, "AAAA", "2001:db8::1"), ("www", 300, "TXT", '"t"')]
    # one record a message: no compression pointer brings one owner's case to another
    got = [o for o, *_ in transferred(records, per_msg=1).zone_records()]
    want = [dns.name.from_text(r[0], dns.name.from_text("example.net.")).to_wire()
            for r in [soa(7)] + records]
    assert got == want


@pytest.fixture
def index_every_axfr():
    """The index made ahead from the first record on (a real transfer starts it at
    64k records), so that these small transfers take it."""
    old = _core.set_xfrin_index_min(0)
    yield
    _core.set_xfrin_index_min(old)


def _message(records, msg_id=4242):
    """One AXFR response message of raw records (owner wire, type, ttl, rdata): rdata a
    primary may send but the build reports, which dnspython will not render."""
    import struct
    origin = dns.name.from_text("example.net.").to_wire()
    out = struct.pack("!HHHHHH", msg_id, 0x8400, 1, len(records), 0, 0)
    out += origin + struct.pack("!HH", 252, 1)
    for owner, rtype, ttl, rdata in records:
        out += owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata
    return out


def test_the_owner_index_is_made_as_the_messages_come(index_every_axfr):
    # an AXFR's records are indexed message by message (its stage 1 overlaps the rest of
    # the transfer): the image is still the plain build's
    records = BASE + [("www", 300, "A", "192.0.2.80"), ("a.b.c", 300, "A", "192.0.2.81"),
                      ("WWW", 300, "AAAA", "2001:db8::80"), ("@", 3600, "MX", "10 www")]
    x = _core.XfrIn("example.net.", "AXFR", 4242)
    msgs = render([soa(7)] + records + [soa(7)], per_msg=1)
    x.feed(msgs[0])
    assert not x.index_ahead            # SOA alone: AXFR or IXFR is not known yet
    for m in msgs[1:]:
        x.feed(m)
        assert x.index_ahead
    want = _core._compile_zone_records("example.net.", x.zone_records())
    assert _core.image_to_bytes(x.image()) == _core.image_to_bytes(want)


def test_a_record_the_build_reports_stops_the_index(index_every_axfr):
    # an SVCB without its target name passes the transfer's reading (its rdata is not
    # decompressed, RFC 9460 2.2) but the build reports it: the index made ahead gives up
    # and the build indexes every record itself, with the plain build's messages
    x = _core.XfrIn("example.net.", "AXFR", 4242)
    msgs = render([soa(7)] + BASE, per_msg=2)
    for m in msgs:
        x.feed(m)
    assert x.index_ahead
    www = dns.name.from_text("www.example.net.").to_wire()
    x.feed(_message([(www, 64, 300, b"\x00\x01")]))
    assert not x.index_ahead
    for m in render([soa(7)], per_msg=2):
        x.feed(m)
    assert x.done
    with pytest.raises(ZoneError) as plain_err:
        _core._compile_zone_records("example.net.", x.zone_records())
    with pytest.raises(ZoneError) as xfr_err:
        x.image()
    assert xfr_err.value.errors == plain_err.value.errors
    assert [m.split(": ", 1)[1] for m in xfr_err.value.messages] == \
        [m.split(": ", 1)[1] for m in plain_err.value.messages]


@pytest.mark.parametrize("order", ["canonical", "reversed", "one out of place"])
def test_names_in_any_order_make_the_plain_image(order, index_every_axfr):
    # the index made ahead lists the nodes as they come, ancestors first; in canonical
    # order (RFC 4034 6.1), as Knot sends them, that list is the order and the build does
    # not sort; any other order (an empty non-terminal made before a smaller sibling,
    # upper case, a wildcard) goes through the sort: the image is the plain build's
    records = BASE[:2] + [
        ("a", 300, "A", "192.0.2.1"), ("*.a", 300, "TXT", '"w"'),
        ("B.a", 300, "A", "192.0.2.2"), ("x.y.a", 300, "A", "192.0.2.3"),
        ("z.a", 300, "A", "192.0.2.4"), ("b", 300, "A", "192.0.2.5"),
        ("d.e", 300, "TXT", '"t"'), ("c.d.e", 300, "A", "192.0.2.6"),
        ("f.e", 300, "A", "192.0.2.7")] + BASE[2:3] + [
        ("ns1", 3600, "AAAA", "2001:db8::1")] + BASE[3:]
    if order == "reversed":
        records = records[::-1]
    elif order == "one out of place":
        records = records[:4] + records[8:9] + records[4:8] + records[9:]
    x = transferred(records, per_msg=3)
    assert x.index_ahead
    want = _core._compile_zone_records("example.net.", x.zone_records())
    assert _core.image_to_bytes(x.image()) == _core.image_to_bytes(want)


def _texts(messages):
    """Messages without the file name ("<transfer>" or "<records>")."""
    return [m.split(":", 1)[1] for m in messages]


def _canonical(records):
    """`records` with their names in canonical order (RFC 4034 6.1), each name's records
    together and in the order given: how a primary walking its tree sends them."""
    return sorted(records, key=lambda r: dns.name.from_text(r[0], dns.name.from_text("example.net.")))


@pytest.fixture(params=[1, 2], ids=["one build thread", "two build threads"])
def build_threads(request):
    # two: the rrset fill's second half and the additional lists' parts start where
    # stage 3 placed its marks, which a grouping made ahead places afterwards
    old = _core.set_build_threads(request.param)
    yield request.param
    _core.set_build_threads(old)


GROUPED = BASE + [
    ("a", 300, "A", "192.0.2.1"), ("a", 300, "A", "192.0.2.1"),        # a duplicate
    ("a", 300, "TXT", '"t"'), ("a", 300, "AAAA", "2001:db8::1"),
    ("*.a", 300, "TXT", '"w"'), ("x.y.a", 300, "A", "192.0.2.3"),       # y.a: no records
    ("b", 300, "NS", "ns.b"), ("b", 300, "NS", "NS.B"),                 # one in canonical form
    ("ns.b", 300, "A", "192.0.2.5"), ("@", 3600, "MX", "10 a"), ("@", 3600, "MX", "20 mail"),
    ("mail", 300, "A", "192.0.2.25"), ("mail", 60, "A", "192.0.2.26"),  # TTLs differ
    ("_sip._udp", 60, "SRV", "0 5 5060 a"), ("c.d.e", 300, "A", "192.0.2.6"),
    ("f.e", 300, "A", "192.0.2.7")]


def test_records_grouped_by_name_are_cut_as_they_come(index_every_axfr, build_threads):
    # names in canonical order with their records together (Knot, NSD, BIND send so):
    # stage 3 of the build is made as the messages come, and the image is the plain
    # build's, whichever the build's threads
    x = transferred(_canonical(GROUPED), per_msg=2)
    assert x.index_ahead and _core.xfrin_grouped_ahead(x)
    want = _core._compile_zone_records("example.net.", x.zone_records())
    got = x.image()
    assert _core.image_to_bytes(got) == _core.image_to_bytes(want)
    assert _texts(got.warnings) == _texts(want.warnings)   # the TTL warning, in order
    assert any("TTL 60 differs" in w for w in got.warnings)


@pytest.mark.parametrize("how", [
    "a name's records apart",       # www, then mail, then www again
    "a name before its parent's",   # an empty non-terminal made, then its records come
    "the apex's records late",
    "names out of order",
])
def test_records_not_grouped_fall_back_to_the_build(how, index_every_axfr, build_threads):
    # any other order stops the grouping made ahead (the owner index goes on where it
    # can): the build groups the records itself, and the image is the plain build's
    records = _canonical(GROUPED)
    if how == "a name's records apart":
        i = next(k for k, r in enumerate(records) if r[0] == "a")
        records = records[:i + 1] + records[i + 4:i + 5] + records[i + 1:i + 4] + records[i + 5:]
    elif how == "a name before its parent's":
        records = [r for r in records if r[0] != "a"] + [r for r in records if r[0] == "a"]
        records = records[:6] + [("a", 300, "TXT", '"late"')] + records[6:]
    elif how == "the apex's records late":
        records = [r for r in records if r[0] != "@"] + [r for r in records if r[0] == "@"]
    else:
        records = records[::-1]
    x = transferred(records, per_msg=2)
    assert x.index_ahead and not _core.xfrin_grouped_ahead(x)
    want = _core._compile_zone_records("example.net.", x.zone_records())
    got = x.image()
    assert _core.image_to_bytes(got) == _core.image_to_bytes(want)
    assert _texts(got.warnings) == _texts(want.warnings)


@settings(max_examples=60, deadline=None)
@given(zones(), TARGETED, st.integers(1, 9), st.sampled_from([1, 2]))
def test_canonical_transfer_image_is_the_plain_build(extra, targeted, per_msg, threads):
    # random zones sent in canonical order: grouped as they come (or given up at a record
    # the build reports), the image and the messages are the plain build's
    old = _core.set_xfrin_index_min(0)
    old_threads = _core.set_build_threads(threads)
    try:
        x = transferred(_canonical(BASE + targeted + extra), per_msg=per_msg)
        assert_image_is_plain_build(x)
    finally:
        _core.set_xfrin_index_min(old)
        _core.set_build_threads(old_threads)
