"""test_edns_expire — the EDNS EXPIRE option (RFC 7314) in robdns's answers, read by
dnspython: an authoritative SOA answer at a zone's apex to a query carrying the option
carries it back, with the time a secondary's copy has left (section 3) or, for a zone of
our own, its SOA EXPIRE; nothing else carries it."""

import time

import dns.edns
import dns.message
import dns.rcode
import pytest

from robdns import _core

ORIGIN = "example.org."
ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 7 3600 600 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN A 192.0.2.2
"""
EXPIRE = 9


def ask(db, name, qtype, expire=True, tcp=False, **kw):
    opts = [dns.edns.GenericOption(EXPIRE, b"")] if expire else []
    q = dns.message.make_query(name, qtype, use_edns=0, options=opts, **kw)
    return dns.message.from_wire(_core.answer(db, q.to_wire(), tcp=tcp))


def expire_of(r):
    got = [o for o in r.options if o.otype == EXPIRE]
    if not got:
        return None
    assert len(got) == 1
    data = got[0].to_wire() if hasattr(got[0], "to_wire") else got[0].data
    assert len(data) == 4                    # RFC 7314 2: four octets in a response
    return int.from_bytes(data, "big")


@pytest.fixture(params=["fast", "general"])
def image(request):
    img = _core.compile_zone_text(ORIGIN, ZONE)
    # the precomputed answers and the general path alike
    return img if request.param == "fast" else _core.image_without_answers(img)


def test_primary_zone_sends_its_soa_expire(image):
    db = _core.Database([image])
    for tcp in (False, True):
        r = ask(db, ORIGIN, "SOA", tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR and r.answer
        assert expire_of(r) == 1209600
    # other options of the same query are still answered (NSID beside it)
    db = _core.Database([image], nsid=b"ns-x")
    q = dns.message.make_query(ORIGIN, "SOA", use_edns=0, options=[
        dns.edns.GenericOption(EXPIRE, b""), dns.edns.GenericOption(dns.edns.NSID, b"")])
    r = dns.message.from_wire(_core.answer(db, q.to_wire()))
    assert expire_of(r) == 1209600
    assert any(o.otype == dns.edns.NSID for o in r.options)


def test_secondary_zone_sends_the_time_left(image):
    at = time.time() + 5000
    db = _core.Database([image], expire_at={ORIGIN.upper(): at})
    left = expire_of(ask(db, ORIGIN, "SOA"))
    assert 4990 <= left <= 5000
    # past its expiry (not yet marked expired): zero, never a wrapped-around count
    db = _core.Database([image], expire_at={ORIGIN: time.time() - 10})
    assert expire_of(ask(db, ORIGIN, "SOA")) == 0


def test_only_the_apex_soa_asked_with_the_option_carries_it(image):
    db = _core.Database([image], expire_at={ORIGIN: time.time() + 5000})
    assert expire_of(ask(db, ORIGIN, "SOA", expire=False)) is None
    assert expire_of(ask(db, ORIGIN, "NS")) is None
    assert expire_of(ask(db, "www." + ORIGIN, "SOA")) is None      # NODATA below the apex
    assert expire_of(ask(db, "nx." + ORIGIN, "SOA")) is None       # NXDOMAIN
    assert expire_of(ask(db, "example.com.", "SOA")) is None       # not our zone: REFUSED
    # an expired copy answers SERVFAIL (RFC 1034 4.3.5), without the option
    db = _core.Database([image], expire_at={ORIGIN: time.time() + 5000}, expired=[ORIGIN])
    r = ask(db, ORIGIN, "SOA")
    assert r.rcode() == dns.rcode.SERVFAIL and expire_of(r) is None
