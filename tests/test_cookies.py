"""DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018) in the compiled
answer path: SipHash-2-4 against the paper's vectors, the RFC 9018 appendix A vectors
against the Python model, and the engine's answers (general and precomputed paths, one
query and a batch) compared byte for byte with what that model computes."""
import os
import struct
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

from cookies import BADCOOKIE, query, response_cookie, server_cookie, siphash24
from robdns import _core

ZONE = """$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 192.0.2.53
www A 192.0.2.80
"""
SECRET = bytes.fromhex("e5e973e5a6b2a43f48e7dc849e37bfcf")
OLD = bytes.fromhex("445536bcd2513298075a5d379663c962")
CC = bytes.fromhex("2464c4abcf10c957")
CLIENT = "198.51.100.100"


@pytest.fixture(scope="module")
def img():
    return _core.compile_zone_text("example.com.", ZONE)


def db_with(img, **kw):
    return _core.Database([img], **kw)


def ask(db, q, client=CLIENT, tcp=False):
    wire = q if isinstance(q, bytes) else q.to_wire()
    return dns.message.from_wire(_core.answer(db, wire, tcp=tcp, client=client))


def check_fresh(resp_cookie, secret=SECRET, client=CLIENT, cc=CC):
    """A cookie the server just made: our client cookie, then exactly the RFC 9018 server
    cookie for its timestamp (which must be now)."""
    assert resp_cookie is not None and len(resp_cookie) == 24
    assert resp_cookie[:8] == cc
    (ts,) = struct.unpack("!I", resp_cookie[12:16])
    assert abs(ts - time.time()) < 5
    assert resp_cookie[8:] == server_cookie(secret, cc, client, ts)
    return resp_cookie


# ---- SipHash-2-4 and the RFC 9018 construction

def test_siphash_reference_vectors():
    # The paper's appendix A: key 00..0f, message 00..0e; and the reference code's first
    # vector (the empty message).
    key = bytes(range(16))
    assert _core._siphash24(key, bytes(range(15))) == bytes.fromhex("e545be4961ca29a1")
    assert _core._siphash24(key, b"") == bytes.fromhex("310e0edd47db6f72")
    assert siphash24(key, bytes(range(15))) == bytes.fromhex("e545be4961ca29a1")
    # every tail length, C against the Python model, on random keys and data
    for n in range(0, 70):
        k, d = os.urandom(16), os.urandom(n)
        assert _core._siphash24(k, d) == siphash24(k, d), n


@pytest.mark.parametrize("secret,cc,ip,ts,want", [
    ("e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "198.51.100.100", 1559731985,
     "010000005cf79f111f8130c3eee29480"),
    ("e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "198.51.100.100", 1559734385,
     "010000005cf7a871d4a564a1442aca77"),
    ("e5e973e5a6b2a43f48e7dc849e37bfcf", "fc93fc62807ddb86", "203.0.113.203", 1559734700,
     "010000005cf7a9acf73a7810aca2381e"),
    ("445536bcd2513298075a5d379663c962", "22681ab97d52c298",
     "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961, "010000005cf7c609a6bb79d16625507a"),
], ids=["A.1", "A.2", "A.3", "A.4"])
def test_rfc9018_appendix_a_vectors(secret, cc, ip, ts, want):
    assert server_cookie(bytes.fromhex(secret), bytes.fromhex(cc), ip, ts).hex() == want


# ---- the engine

def test_cookies_off_the_option_is_ignored(img):
    r = ask(db_with(img), query(cookie=CC))
    assert r.rcode() == 0 and r.answer and response_cookie(r) is None
    # and a malformed one too (RFC 7873 5.2.2 applies to servers that implement cookies)
    assert ask(db_with(img), query(cookie=b"123")).rcode() == 0


@pytest.mark.parametrize("name,rtype", [("www.example.com.", "A"),       # precomputed answer
                                        ("nope.example.com.", "A"),      # NXDOMAIN
                                        ("www.example.com.", "TXT")])    # NODATA
@pytest.mark.parametrize("client", ["198.51.100.100", "2001:db8::77"])
def test_first_query_gets_a_server_cookie_then_sending_it_back_is_accepted(img, name, rtype,
                                                                           client):
    db = db_with(img, cookie_secret=SECRET)
    plain = ask(db_with(img), query(name, rtype))
    r = ask(db, query(name, rtype, cookie=CC), client=client)
    c = check_fresh(response_cookie(r), client=client)
    assert r.rcode() == plain.rcode() and r.answer == plain.answer and r.authority == plain.authority
    # RFC 7873 5.2.5: the valid cookie is accepted; a fresh one is echoed unchanged
    r2 = ask(db, query(name, rtype, cookie=c), client=client)
    assert r2.rcode() == plain.rcode() and r2.answer == plain.answer
    assert response_cookie(r2) == c


def test_a_cookie_older_than_half_an_hour_is_accepted_and_renewed(img):
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    ts = int(time.time()) - 2400
    r = ask(db, query(cookie=CC + server_cookie(SECRET, CC, CLIENT, ts)))
    assert r.rcode() == 0 and r.answer
    check_fresh(response_cookie(r))                  # RFC 9018 4.3: renewed


@pytest.mark.parametrize("why", ["forged", "expired", "future", "other-client", "old-secret",
                                 "version", "short-server-cookie"])
def test_an_invalid_server_cookie_is_treated_as_a_client_cookie_only(img, why):
    now = int(time.time())
    sc = {
        "forged": server_cookie(SECRET, CC, CLIENT, now)[:15] + b"\0",
        "expired": server_cookie(SECRET, CC, CLIENT, now - 3700),
        "future": server_cookie(SECRET, CC, CLIENT, now + 400),
        "other-client": server_cookie(SECRET, CC, "198.51.100.101", now),
        "old-secret": server_cookie(OLD, CC, CLIENT, now),
        "version": b"\x02" + server_cookie(SECRET, CC, CLIENT, now)[1:],
        "short-server-cookie": b"12345678",
    }[why]
    # RFC 7873 5.2.4 -> 5.2.3 option (3): a normal answer with a fresh cookie
    r = ask(db_with(img, cookie_secret=SECRET), query(cookie=CC + sc))
    assert r.rcode() == 0 and r.answer
    check_fresh(response_cookie(r))
    # `require`, over UDP: 5.2.3 option (2), BADCOOKIE with a fresh cookie, nothing else
    # (TC set too, for clients that do not act on BADCOOKIE: RFC 7766 over TCP)
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    r = ask(db, query(cookie=CC + sc))
    assert r.rcode() == BADCOOKIE
    assert r.flags & dns.flags.TC and not r.answer and not r.authority and not r.additional
    assert r.question[0].name.to_text() == "www.example.com."
    check_fresh(response_cookie(r))
    # over TCP the handshake proved the address: a normal answer (5.2.3, last paragraph)
    r = ask(db, query(cookie=CC + sc), tcp=True)
    assert r.rcode() == 0 and r.answer and not r.flags & dns.flags.TC
    check_fresh(response_cookie(r))


def test_the_previous_secret_is_accepted_during_a_rotation(img):
    now = int(time.time())
    c_old = CC + server_cookie(OLD, CC, CLIENT, now)
    rotated = db_with(img, cookie_secret=SECRET, cookie_previous=OLD, cookie_require=True)
    r = ask(rotated, query(cookie=c_old))
    assert r.rcode() == 0 and r.answer
    check_fresh(response_cookie(r), secret=SECRET)   # renewed with the new secret
    # once the previous secret is dropped, it is refused
    r = ask(db_with(img, cookie_secret=SECRET, cookie_require=True), query(cookie=c_old))
    assert r.rcode() == BADCOOKIE


@pytest.mark.parametrize("n", [0, 7, 9, 15, 41])
def test_a_malformed_cookie_is_formerr(img, n):
    # RFC 7873 5.2.2: 8 octets (client) or 16 to 40 (client and server) only
    r = ask(db_with(img, cookie_secret=SECRET), query(cookie=bytes(range(n))))
    assert r.rcode() == dns.rcode.FORMERR and not r.answer
    assert r.edns == 0 and response_cookie(r) is None


def test_require_without_any_cookie_gives_a_truncated_minimal_answer_over_udp(img):
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    for q in (query(), dns.message.make_query("www.example.com.", "A")):
        r = ask(db, q)
        assert r.rcode() == 0 and r.flags & dns.flags.TC
        assert not r.answer and not r.authority and response_cookie(r) is None
        r = ask(db, q, tcp=True)
        assert r.rcode() == 0 and r.answer and not r.flags & dns.flags.TC


def test_no_client_address_no_cookie(img):
    # A caller that cannot say where the query came from gets no cookie (none can be bound)
    r = ask(db_with(img, cookie_secret=SECRET), query(cookie=CC), client=None)
    assert r.rcode() == 0 and r.answer and response_cookie(r) is None


def test_batch_answers_as_one_by_one(img):
    # rd_answer_batch (the UDP loop's call) takes each item's own client address
    db = db_with(img, cookie_secret=SECRET)
    valid = CC + server_cookie(SECRET, CC, CLIENT, int(time.time()))
    qs = [query(cookie=CC), query("nope.example.com.", cookie=CC), query(cookie=valid), query()]
    batch = _core.answer_batch(db, [q.to_wire() for q in qs], client=CLIENT)
    for q, b in zip(qs, batch):
        mb, mo = dns.message.from_wire(b), ask(db, q)
        assert mb.rcode() == mo.rcode() and mb.answer == mo.answer
        sent, got = response_cookie(q), response_cookie(mb)
        if sent is None:
            assert got is None
        elif sent == valid:
            assert got == valid              # fresh and valid: echoed
        else:
            check_fresh(got)


def test_xdp_frames_bind_the_cookie_to_the_source_address(img):
    from xdp_frames import parse_reply, query_frame
    db = db_with(img, cookie_secret=SECRET)
    q = query(cookie=CC).to_wire()
    for family, src in ((4, "198.18.0.2"), (6, "2001:db8:53::2")):
        frame, why = _core.xdp_reply_frame(db, query_frame(q, family=family))
        assert why == "ok"
        r = dns.message.from_wire(parse_reply(frame)["payload"])
        check_fresh(response_cookie(r), client=src)


def test_xdp_batches_bind_each_cookie_to_its_own_source_address(img):
    # the worker answers an RX batch at once: each frame's cookie still binds to that
    # frame's source address (RFC 7873 4.2), IPv4 and IPv6 mixed in one batch
    from xdp_frames import parse_reply, query_frame
    db = db_with(img, cookie_secret=SECRET)
    q = query(cookie=CC).to_wire()
    families = [4, 6, 6, 4, 6]
    frames = [query_frame(q, family=f) for f in families]
    replies = _core.xdp_reply_frames(db, frames)
    for f, (reply, why) in zip(families, replies):
        assert why == "ok"
        r = dns.message.from_wire(parse_reply(reply)["payload"])
        check_fresh(response_cookie(r), client="198.18.0.2" if f == 4 else "2001:db8:53::2")
