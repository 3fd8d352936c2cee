# test_tsig.py — TSIG (RFC 8945) of ordinary queries, against dnspython's dns.tsig both ways.
import base64
import struct
import time

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.rdataclass
import dns.rdtypes.ANY.TSIG
import dns.rrset
import pytest
from hypothesis import given, settings, strategies as st

from robdns import _core

ZONE = """$ORIGIN example.com.
$TTL 3600
@ IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 3600
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN A 192.0.2.10
big IN TXT "{}"
""".format("x" * 200)

ALGS = {
    "hmac-md5": dns.tsig.HMAC_MD5, "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224, "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384, "hmac-sha512": dns.tsig.HMAC_SHA512,
    # RFC 8945 6: truncated algorithms under names of their own, as dnspython sends them
    "hmac-sha256-128": dns.tsig.HMAC_SHA256_128, "hmac-sha384-192": dns.tsig.HMAC_SHA384_192,
    "hmac-sha512-256": dns.tsig.HMAC_SHA512_256,
}
SECRET = base64.b64decode("c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IQ==")


@pytest.fixture(scope="module")
def image():
    return _core.compile_zone_text("example.com.", ZONE)


def database(image, keys):
    return _core.Database([image], keys=keys)


def signed_query(qname, qtype, keyname, secret, alg, **kw):
    q = dns.message.make_query(qname, qtype)
    q.use_tsig(dns.tsigkeyring.from_text({keyname: base64.b64encode(secret).decode()}),
               keyname=keyname, algorithm=ALGS[alg], **kw)
    return q


def tsig_of(wire):
    """(rcode, TSIG rdata) of a response, without validating its MAC."""
    m = dns.message.from_wire(wire, keyring=False)
    return m.rcode(), (m.tsig[0] if m.tsig else None), m


@pytest.mark.parametrize("alg", sorted(ALGS))
def test_signed_query_answered_signed(image, alg):
    """RFC 8945 5.3: a valid signed query gets a response signed with the same key, which
    dnspython verifies against the request MAC."""
    db = database(image, [("xfr.key.", alg, SECRET)])
    q = signed_query("www.example.com.", "A", "xfr.key.", SECRET, alg)
    for tcp in (False, True):
        wire = _core.answer(db, q.to_wire(), tcp=tcp)
        r = dns.message.from_wire(wire, keyring=q.keyring, request_mac=q.mac)
        assert r.had_tsig and r.rcode() == dns.rcode.NOERROR
        assert r.answer[0].to_text() == "www.example.com. 3600 IN A 192.0.2.10"
        assert r.tsig[0].algorithm == ALGS[alg]


@settings(max_examples=60, deadline=None)
@given(secret=st.binary(min_size=1, max_size=128),
       label=st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
       alg=st.sampled_from(sorted(ALGS)),
       qname=st.sampled_from(["www.example.com.", "nx.example.com.", "example.com.",
                              "big.example.com.", "other.org."]),
       qtype=st.sampled_from(["A", "TXT", "SOA", "NS", "AAAA"]),
       edns=st.booleans())
def test_property_dnspython_verifies_our_signatures(image, secret, label, alg, qname, qtype, edns):
    """Whatever the key and query, dnspython accepts robdns's signature (its MAC covers
    exactly the message dnspython sees); a MAC signed by dnspython with another secret is
    BADSIG."""
    key = f"{label}.key."
    db = database(image, [(key, alg, secret)])
    q = signed_query(qname, qtype, key, secret, alg)
    if edns:
        q.use_edns(0, payload=1232)
    wire = _core.answer(db, q.to_wire())
    r = dns.message.from_wire(wire, keyring=q.keyring, request_mac=q.mac)
    assert r.had_tsig
    wrong = signed_query(qname, qtype, key, secret + b"!", alg)
    rc, t, m = tsig_of(_core.answer(db, wrong.to_wire()))
    assert rc == dns.rcode.NOTAUTH and t.error == dns.rcode.BADSIG and t.mac == b""
    assert not m.answer and not m.authority


def test_unknown_key_badkey(image):
    """RFC 8945 5.2.1: an unknown key name is NOTAUTH with TSIG error BADKEY, unsigned."""
    db = database(image, [("xfr.key.", "hmac-sha256", SECRET)])
    q = signed_query("www.example.com.", "A", "other.key.", SECRET, "hmac-sha256")
    rc, t, m = tsig_of(_core.answer(db, q.to_wire()))
    assert rc == dns.rcode.NOTAUTH and t.error == dns.rcode.BADKEY and t.mac == b""
    assert not m.answer
    # dnspython raises the peer's error when it validates
    with pytest.raises(dns.tsig.PeerBadKey):
        dns.message.from_wire(_core.answer(db, q.to_wire()), keyring=q.keyring, request_mac=q.mac)


def test_wrong_algorithm_badkey(image):
    """RFC 8945 5.2.1: the right key name with another algorithm is BADKEY too."""
    db = database(image, [("xfr.key.", "hmac-sha256", SECRET)])
    q = signed_query("www.example.com.", "A", "xfr.key.", SECRET, "hmac-sha512")
    rc, t, _ = tsig_of(_core.answer(db, q.to_wire()))
    assert rc == dns.rcode.NOTAUTH and t.error == dns.rcode.BADKEY


def test_no_keys_configured_badkey(image):
    db = database(image, [])
    q = signed_query("www.example.com.", "A", "xfr.key.", SECRET, "hmac-sha256")
    rc, t, _ = tsig_of(_core.answer(db, q.to_wire()))
    assert rc == dns.rcode.NOTAUTH and t.error == dns.rcode.BADKEY


def _sign_at(q, keyname, secret, when, fudge=300):
    """A query signed by dnspython with time_signed = when."""
    key = dns.tsig.Key(keyname, secret, dns.tsig.HMAC_SHA256)
    # dnspython's to_wire signs with the current time: sign by hand at `when`.
    raw = dns.message.make_query(q.question[0].name, q.question[0].rdtype)
    raw.id = q.id
    raw_wire = raw.to_wire()
    rdata = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG,
                                      dns.tsig.HMAC_SHA256, when, fudge, b"", q.id, 0, b"")
    signed, _ = dns.tsig.sign(raw_wire, key, rdata, time=when)
    rr = dns.name.from_text(keyname).to_wire() + struct.pack("!HHIH", 250, 255, 0, 0)
    rd = signed.to_wire()
    rr = rr[:-2] + struct.pack("!H", len(rd)) + rd
    out = bytearray(raw_wire + rr)
    out[10:12] = struct.pack("!H", 1)
    return bytes(out), signed.mac


def test_badtime_signed_with_server_time(image):
    """RFC 8945 5.2.3: a valid MAC but a time outside the fudge is NOTAUTH/BADTIME, signed,
    with the server's time in Other Data."""
    db = database(image, [("xfr.key.", "hmac-sha256", SECRET)])
    q = dns.message.make_query("www.example.com.", "A")
    when = int(time.time()) - 3600
    wire, mac = _sign_at(q, "xfr.key.", SECRET, when)
    resp = _core.answer(db, wire)
    rc, t, m = tsig_of(resp)
    assert rc == dns.rcode.NOTAUTH and t.error == dns.rcode.BADTIME
    assert t.time_signed == when and len(t.other) == 6
    server_time = int.from_bytes(t.other, "big")
    assert abs(server_time - time.time()) < 5
    assert not m.answer
    # the response MAC chains from the request MAC and verifies
    key = dns.tsig.Key("xfr.key.", SECRET, dns.tsig.HMAC_SHA256)
    with pytest.raises(dns.tsig.PeerBadTime):
        dns.message.from_wire(resp, keyring={dns.name.from_text("xfr.key."): key}, request_mac=mac)
    # the same query signed now is answered
    wire2, mac2 = _sign_at(q, "xfr.key.", SECRET, int(time.time()))
    r = dns.message.from_wire(_core.answer(db, wire2), keyring={dns.name.from_text("xfr.key."): key},
                              request_mac=mac2)
    assert r.rcode() == dns.rcode.NOERROR and r.answer


def test_tsig_not_last_is_formerr(image):
    """RFC 8945 5.1: a TSIG record that is not the last record is FORMERR (unsigned)."""
    db = database(image, [("xfr.key.", "hmac-sha256", SECRET)])
    q = signed_query("www.example.com.", "A", "xfr.key.", SECRET, "hmac-sha256")
    wire = bytearray(q.to_wire())
    # append an extra (A) record after the TSIG in the additional section
    wire += b"\x00" + struct.pack("!HHIH", 1, 1, 0, 4) + bytes(4)
    wire[10:12] = struct.pack("!H", 2)
    m = dns.message.from_wire(_core.answer(db, bytes(wire)), keyring=False)
    assert m.rcode() == dns.rcode.FORMERR and not m.tsig


def test_truncated_mac_below_floor_formerr(image):
    """RFC 8945 5.2.2.1: a MAC shorter than max(10, half the hash) is malformed."""
    db = database(image, [("xfr.key.", "hmac-sha256", SECRET)])
    q = signed_query("www.example.com.", "A", "xfr.key.", SECRET, "hmac-sha256")
    t = dns.message.from_wire(q.to_wire(), keyring=False).tsig[0]
    short = t.replace(mac=t.mac[:8])
    rd = short.to_wire()
    head = dns.message.make_query("www.example.com.", "A")
    head.id = q.id
    hw = bytearray(head.to_wire())
    hw[10:12] = struct.pack("!H", 1)
    hw += dns.name.from_text("xfr.key.").to_wire() + struct.pack("!HHIH", 250, 255, 0, len(rd)) + rd
    r = dns.message.from_wire(_core.answer(db, bytes(hw)), keyring=False)
    assert r.rcode() == dns.rcode.FORMERR and not r.answer


def _signed_once(q):
    """The wire of signed query q and its MAC (dnspython signs anew at each rendering)."""
    wire = q.to_wire()
    return wire, dns.message.from_wire(wire, keyring=False).tsig[0].mac


def _with_mac(q, wire, mac):
    """`wire` (signed query q rendered) with its TSIG MAC replaced by `mac`."""
    t = dns.message.from_wire(wire, keyring=False).tsig[0]
    rd = t.replace(mac=mac).to_wire()
    head = dns.message.make_query(q.question[0].name, q.question[0].rdtype)
    head.id = q.id
    hw = bytearray(head.to_wire())
    hw[10:12] = struct.pack("!H", 1)
    return bytes(hw) + q.keyname.to_wire() + struct.pack("!HHIH", 250, 255, 0, len(rd)) + rd


def _check_response_mac(wire, keyname, secret, alg, request_mac):
    """Verify a response's TSIG whatever its MAC length (dnspython compares whole MACs
    only): the HMAC over the request MAC, the message and the variables (RFC 8945 4.3),
    cut to the octets the response carries.  Returns the TSIG rdata."""
    m = dns.message.from_wire(wire, keyring=False)
    t = m.tsig[0]
    start = len(wire) - (len(m.tsig.name.to_wire()) + 10 + len(t.to_wire()))
    bare = wire[:10] + struct.pack("!H", struct.unpack("!H", wire[10:12])[0] - 1) + wire[12:start]
    key = dns.tsig.Key(keyname, secret, alg)
    ctx = dns.tsig._digest(bare, key, t, None, request_mac)
    assert ctx.hmac_context.digest()[:len(t.mac)] == t.mac, "response MAC does not verify"
    return t


def test_truncated_mac_badtrunc_signed(image):
    """RFC 8945 5.2.2.1 rule 4 and 5.2.4: a MAC truncated within the rules verifies, but
    below the key's own algorithm (hmac-sha256: 32 octets) it is NOTAUTH/BADTRUNC, with
    no data, signed (5.3.2) with the whole MAC, chained from the truncated one."""
    db = database(image, [("xfr.key.", "hmac-sha256", SECRET)])
    q = signed_query("www.example.com.", "A", "xfr.key.", SECRET, "hmac-sha256")
    wire, mac = _signed_once(q)
    for n in (16, 31):
        resp = _core.answer(db, _with_mac(q, wire, mac[:n]))
        rc, t, m = tsig_of(resp)
        assert rc == dns.rcode.NOTAUTH and t.error == dns.rcode.BADTRUNC and not m.answer
        assert len(t.mac) == 32
        _check_response_mac(resp, "xfr.key.", SECRET, dns.tsig.HMAC_SHA256, mac[:n])
    # a wrong MAC of a permitted length is BADSIG, unsigned
    rc, t, _ = tsig_of(_core.answer(db, _with_mac(q, wire, bytes(16))))
    assert rc == dns.rcode.NOTAUTH and t.error == dns.rcode.BADSIG and t.mac == b""


def test_truncated_key_takes_its_base_algorithm_truncated(image):
    """A key of a truncated algorithm (hmac-sha256-128, RFC 8945 6) also takes requests
    in its base algorithm with a MAC cut to at least 16 octets (as BIND sends them): the
    response carries as many octets as the request did, chained from the truncated MAC
    (5.2.2.1 rule 4); shorter than 16 is malformed for SHA-256 (FORMERR)."""
    db = database(image, [("xfr.key.", "hmac-sha256-128", SECRET)])
    q = signed_query("www.example.com.", "A", "xfr.key.", SECRET, "hmac-sha256")
    wire, mac = _signed_once(q)
    for n in (16, 20, 32):
        resp = _core.answer(db, _with_mac(q, wire, mac[:n]))
        rc, t, m = tsig_of(resp)
        assert rc == dns.rcode.NOERROR and m.answer and t.error == 0
        assert t.algorithm == dns.tsig.HMAC_SHA256 and len(t.mac) == n
        _check_response_mac(resp, "xfr.key.", SECRET, dns.tsig.HMAC_SHA256, mac[:n])
    rc, t, _ = tsig_of(_core.answer(db, _with_mac(q, wire, mac[:12])))
    assert rc == dns.rcode.FORMERR
    # the truncated name itself with 32 octets is longer than its algorithm's MAC
    q2 = signed_query("www.example.com.", "A", "xfr.key.", SECRET, "hmac-sha256-128")
    wire2, _ = _signed_once(q2)
    assert tsig_of(_core.answer(db, _with_mac(q2, wire2, bytes(32))))[0] == dns.rcode.FORMERR
    # a plain hmac-sha256 key does not take the truncated name: another algorithm
    plain = database(image, [("xfr.key.", "hmac-sha256", SECRET)])
    rc, t, _ = tsig_of(_core.answer(plain, q2.to_wire()))
    assert rc == dns.rcode.NOTAUTH and t.error == dns.rcode.BADKEY


def test_unsigned_queries_unchanged(image):
    db = database(image, [("xfr.key.", "hmac-sha256", SECRET)])
    r = dns.message.from_wire(_core.answer(db, dns.message.make_query("www.example.com.", "A").to_wire()))
    assert not r.had_tsig and r.answer


def test_database_key_validation(image):
    with pytest.raises(ValueError, match="unknown algorithm"):
        _core.Database([image], keys=[("k.", "hmac-sha3", b"x")])
    with pytest.raises(ValueError, match="twice"):
        _core.Database([image], keys=[("k.", "hmac-sha1", b"x"), ("K.", "hmac-sha1", b"y")])
    with pytest.raises(ValueError, match="secret"):
        _core.Database([image], keys=[("k.", "hmac-sha1", b"")])
