"""DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018) in the compiled
answer path: SipHash-2-4 against the paper's vectors, the RFC 9018 appendix A vectors
against the Python model, and the engine's answers (general and precomputed paths, one
query and a batch) compared byte for byte with what that model computes."""
import ctypes
import os
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from cookies import BADCOOKIE, COOKIE, query, response_cookie, server_cookie, siphash24
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
    # two hours old: past RFC 9018 4.3's renewal and expiry, judged by the batch's clock
    old = CC + server_cookie(SECRET, CC, CLIENT, int(time.time()) - 7200)
    qs = [query(cookie=CC), query("nope.example.com.", cookie=CC), query(cookie=valid), query(),
          query(cookie=old)]
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


# ---- the per-worker cache of verified cookies (rd_cookie_cache, query/engine.h)
#
# A worker keeps the cookies SipHash accepted (exact bytes, address, snapshot); an exact
# repeat is accepted without hashing.  It must never accept anything SipHash would not.

def ask_cached(db, q, cache, client=CLIENT, tcp=False, now=0):
    wire = q if isinstance(q, bytes) else q.to_wire()
    return dns.message.from_wire(_core.answer(db, wire, tcp=tcp, client=client,
                                              cookie_cache=cache, now=now))


def timestamp(resp_cookie):
    """The timestamp of the RFC 9018 server cookie in a response's cookie."""
    return struct.unpack("!I", resp_cookie[12:16])[0]


def test_the_cache_accepts_a_repeat_without_hashing(img):
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    cache = _core.CookieCache()
    valid = CC + server_cookie(SECRET, CC, CLIENT, int(time.time()))
    r = ask_cached(db, query(cookie=valid), cache)
    assert r.rcode() == 0 and r.answer and response_cookie(r) == valid
    assert (cache.stores, cache.hits) == (1, 0)
    for _ in range(3):
        r = ask_cached(db, query(cookie=valid), cache)
        assert r.rcode() == 0 and r.answer and response_cookie(r) == valid
    assert (cache.stores, cache.hits) == (1, 3)
    # an invalid cookie is never stored (there is nothing verified to keep)
    ask_cached(db, query(cookie=valid[:23] + bytes([valid[23] ^ 1])), cache)
    assert (cache.stores, cache.hits) == (1, 3)


def test_a_cached_cookie_still_expires_and_is_renewed_by_its_timestamp(img):
    # RFC 9018 4.3: valid from an hour before now, renewed past half an hour.  A cookie
    # that would cross either edge within the cache's epoch is never kept, so a hit needs
    # no time check: the answers follow the timestamp, cached or not.
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    cache = _core.CookieCache()
    t = int(time.time())
    near_expiry = CC + server_cookie(SECRET, CC, CLIENT, t - 3598)
    near_renewal = CC + server_cookie(SECRET, CC, CLIENT, t - 1798)
    r = ask_cached(db, query(cookie=near_expiry), cache, now=t)
    assert r.rcode() == 0 and r.answer                   # valid (and renewed: > 30 min)
    assert timestamp(response_cookie(r)) == t
    for _ in range(2):
        r = ask_cached(db, query(cookie=near_renewal), cache, now=t)
        assert r.rcode() == 0 and response_cookie(r) == near_renewal   # fresh: echoed
    assert (cache.stores, cache.hits) == (0, 0)          # both hashed every time
    r = ask_cached(db, query(cookie=near_renewal), cache, now=t + 3)
    assert r.rcode() == 0 and r.answer
    assert timestamp(response_cookie(r)) == t + 3 and response_cookie(r)[8:] == \
        server_cookie(SECRET, CC, CLIENT, t + 3)         # renewed
    r = ask_cached(db, query(cookie=near_expiry), cache, now=t + 3)
    assert r.rcode() == BADCOOKIE and not r.answer       # expired
    # a cookie that stays fresh through the epoch is kept, and taken at its last second
    fresh_to_the_end = CC + server_cookie(SECRET, CC, CLIENT, t - (1800 - 63))
    assert response_cookie(ask_cached(db, query(cookie=fresh_to_the_end), cache, now=t)) \
        == fresh_to_the_end
    assert cache.stores == 1
    r = ask_cached(db, query(cookie=fresh_to_the_end), cache, now=t + 63)
    assert response_cookie(r) == fresh_to_the_end and cache.hits == 1
    # one second later the epoch is over: emptied, and the cookie is past half an hour
    flushes = cache.flushes
    r = ask_cached(db, query(cookie=fresh_to_the_end), cache, now=t + 64)
    assert r.rcode() == 0 and timestamp(response_cookie(r)) == t + 64
    assert cache.flushes == flushes + 1 and cache.hits == 1


def test_the_cache_is_emptied_when_the_clock_leaves_its_epoch_either_way(img):
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    cache = _core.CookieCache()
    t = int(time.time())
    valid = CC + server_cookie(SECRET, CC, CLIENT, t)
    q = query(cookie=valid)
    assert response_cookie(ask_cached(db, q, cache, now=t)) == valid
    assert (cache.stores, cache.hits) == (1, 0)
    start = cache.flushes
    for now, stores, hits in ((t + 1, 1, 1), (t + 63, 1, 2),      # inside: hits
                              (t + 64, 2, 2), (t + 65, 2, 3),     # a new epoch from t + 64
                              (t + 63, 3, 3),                     # back a second: emptied
                              (t + 62, 4, 3)):
        r = ask_cached(db, q, cache, now=now)
        assert r.rcode() == 0 and response_cookie(r) == valid, now
        assert (cache.stores, cache.hits) == (stores, hits), now
    assert cache.flushes == start + 3


def test_a_cookie_from_the_future_is_kept_only_if_it_stays_valid_from_the_epochs_start(img):
    # RFC 9018 4.3 allows five minutes of skew ahead: a cookie 299 s ahead of now is
    # valid, but 309 s ahead of the epoch's first second; kept, it would be taken if the
    # clock went back inside the epoch, where it is invalid.
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    cache = _core.CookieCache()
    t = int(time.time())
    ask_cached(db, query(cookie=CC), cache, now=t - 10)   # the epoch starts at t - 10
    ahead = CC + server_cookie(SECRET, CC, CLIENT, t + 299)
    for _ in range(2):
        r = ask_cached(db, query(cookie=ahead), cache, now=t)
        assert r.rcode() == 0 and response_cookie(r) == ahead
    assert (cache.stores, cache.hits) == (0, 0)
    r = ask_cached(db, query(cookie=ahead), cache, now=t - 10)
    assert r.rcode() == BADCOOKIE and not r.answer
    # 290 s ahead of the epoch's start is within the skew: kept
    ahead = CC + server_cookie(SECRET, CC, CLIENT, t - 10 + 290)
    for _ in range(2):
        assert response_cookie(ask_cached(db, query(cookie=ahead), cache, now=t - 10)) == ahead
    assert (cache.stores, cache.hits) == (1, 1)


def test_a_batch_takes_one_clock_and_the_next_batch_the_next(img):
    # The clock is read (or given, rd_transport.now) once per batch: every cookie a batch
    # makes carries the same second, even if the second turns while it is answered; the
    # next batch takes the new one.
    db = db_with(img, cookie_secret=SECRET)
    cache = _core.CookieCache()
    t = int(time.time())
    qs = [query(cookie=CC + server_cookie(SECRET, CC, CLIENT, t - 2400)).to_wire(),
          query(cookie=CC).to_wire()] * 40
    for now in (t, t + 1):
        out = _core.answer_batch(db, qs, client=CLIENT, cookie_cache=cache, now=now)
        for b in out:
            c = response_cookie(dns.message.from_wire(b))
            assert c[8:] == server_cookie(SECRET, CC, CLIENT, now)
    # the engine's own clock, once per batch as well: one second in all the answers
    out = _core.answer_batch(db, qs, client=CLIENT, cookie_cache=cache)
    stamps = {timestamp(response_cookie(dns.message.from_wire(b))) for b in out}
    assert len(stamps) == 1 and abs(stamps.pop() - time.time()) < 5


def test_a_secret_rotation_between_two_batches(img):
    # RFC 9018 5: batch 1 under OLD caches its cookie; batch 2 of the rotated snapshot
    # (SECRET, previous OLD) must not take it from the cache: verified by SipHash with
    # the previous secret and renewed with the new one, in every answer of the batch;
    # the new cookie is then cached and echoed by batch 3.
    cache = _core.CookieCache()
    t = int(time.time())
    c_old = CC + server_cookie(OLD, CC, CLIENT, t)
    before = db_with(img, cookie_secret=OLD, cookie_require=True)
    rotated = db_with(img, cookie_secret=SECRET, cookie_previous=OLD, cookie_require=True)
    out = _core.answer_batch(before, [query(cookie=c_old).to_wire()] * 8, client=CLIENT,
                             cookie_cache=cache, now=t)
    assert {response_cookie(dns.message.from_wire(b)) for b in out} == {c_old}
    assert (cache.stores, cache.hits) == (1, 7)
    out = _core.answer_batch(rotated, [query(cookie=c_old).to_wire()] * 8, client=CLIENT,
                             cookie_cache=cache, now=t + 1)
    c_new = CC + server_cookie(SECRET, CC, CLIENT, t + 1)
    for b in out:
        r = dns.message.from_wire(b)
        assert r.rcode() == 0 and r.answer and response_cookie(r) == c_new
    assert (cache.stores, cache.hits) == (1, 7)
    out = _core.answer_batch(rotated, [query(cookie=c_new).to_wire()] * 8, client=CLIENT,
                             cookie_cache=cache, now=t + 2)
    assert {response_cookie(dns.message.from_wire(b)) for b in out} == {c_new}
    assert (cache.stores, cache.hits) == (2, 14)


@pytest.mark.parametrize("other", ["198.51.100.101", "2001:db8::77"])
def test_a_cached_cookie_from_another_address_is_not_accepted(img, other):
    # RFC 7873 4.2 / RFC 9018 4.4: the server cookie binds the client's address
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    cache = _core.CookieCache()
    valid = CC + server_cookie(SECRET, CC, CLIENT, int(time.time()))
    assert ask_cached(db, query(cookie=valid), cache).rcode() == 0
    assert cache.stores == 1
    r = ask_cached(db, query(cookie=valid), cache, client=other)
    assert r.rcode() == BADCOOKIE and not r.answer
    check_fresh(response_cookie(r), client=other)
    assert cache.hits == 0
    # over TCP (answered anyway, RFC 7873 5.2.3) the cookie is still renewed, not echoed
    r = ask_cached(db, query(cookie=valid), cache, client=other, tcp=True)
    check_fresh(response_cookie(r), client=other)
    assert cache.hits == 0


def test_a_secret_change_makes_cached_cookies_verify_again(img):
    cache = _core.CookieCache()
    c_old = CC + server_cookie(OLD, CC, CLIENT, int(time.time()))
    before = db_with(img, cookie_secret=OLD, cookie_require=True)
    assert response_cookie(ask_cached(before, query(cookie=c_old), cache)) == c_old
    assert (cache.stores, cache.hits) == (1, 0)
    # rotation (RFC 9018 5): the old cookie verifies with the previous secret, by SipHash,
    # and is renewed with the new one (a cache hit would have echoed it)
    rotated = db_with(img, cookie_secret=SECRET, cookie_previous=OLD, cookie_require=True)
    r = ask_cached(rotated, query(cookie=c_old), cache)
    assert r.rcode() == 0 and r.answer
    check_fresh(response_cookie(r))
    assert cache.hits == 0
    # the old secret dropped: refused, although those bytes were cached
    dropped = db_with(img, cookie_secret=SECRET, cookie_require=True)
    r = ask_cached(dropped, query(cookie=c_old), cache)
    assert r.rcode() == BADCOOKIE and not r.answer
    assert cache.hits == 0
    # a reload with the same secret is a new snapshot: verified again, then cached again
    same = db_with(img, cookie_secret=OLD, cookie_require=True)
    assert response_cookie(ask_cached(same, query(cookie=c_old), cache)) == c_old
    assert (cache.stores, cache.hits) == (2, 0)
    assert response_cookie(ask_cached(same, query(cookie=c_old), cache)) == c_old
    assert cache.hits == 1


def test_an_ipv6_address_with_an_ipv4_entrys_words_is_not_accepted(img):
    # The cache keeps no address length (the length picks the slot): an IPv6 client whose
    # address reads as the same two words as an IPv4 entry's (CLIENT zero-extended) must
    # not be taken for it (RFC 9018 4.4 hashes the 4- or 16-octet address).
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    cache = _core.CookieCache()
    twin = "c633:6464::"                       # 198.51.100.100 = c6 33 64 64, then zeros
    assert bytes.fromhex("c6336464") + bytes(12) == __import__("ipaddress").ip_address(twin).packed
    valid = CC + server_cookie(SECRET, CC, CLIENT, int(time.time()))
    assert response_cookie(ask_cached(db, query(cookie=valid), cache)) == valid
    assert ask_cached(db, query(cookie=valid), cache).rcode() == 0 and cache.hits == 1
    for answer in (lambda q: ask_cached(db, q, cache, client=twin),
                   lambda q: dns.message.from_wire(_core.answer_batch(
                       db, [q.to_wire()], client=twin, cookie_cache=cache)[0])):
        r = answer(query(cookie=valid))
        assert r.rcode() == BADCOOKIE and not r.answer
        check_fresh(response_cookie(r), client=twin)
    assert cache.hits == 1


@pytest.mark.parametrize("client,fill", [("0.0.0.0", 0), ("::", 0),
                                         ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0xFF)])
def test_an_empty_cache_slot_accepts_nothing(img, client, fill):
    # a cache as a worker starts with (zero-filled) and as a new snapshot leaves it:
    # a cookie of the same bytes as an empty slot, from the address an empty slot holds,
    # is hashed (and refused), never taken from the cache
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    cache = _core.CookieCache()
    q = query(cookie=CC + bytes([fill]) * 16).to_wire()
    for r in (ask_cached(db, q, cache, client=client),
              dns.message.from_wire(_core.answer_batch(db, [q], client=client,
                                                       cookie_cache=cache)[0])):
        assert r.rcode() == BADCOOKIE and not r.answer
    q = query(cookie=bytes([fill]) * 24).to_wire()
    r = dns.message.from_wire(_core.answer_batch(db, [q], client=client, cookie_cache=cache)[0])
    assert r.rcode() == BADCOOKIE and not r.answer
    # the empty entries' own bytes (rd_cookie_flush: slot i's hash word is (i ^ 1) << 6, the
    # rest zero), from the zero address of either length: never a hit
    qs = [query(cookie=bytes(16) + struct.pack("<Q", (i ^ 1) << 6)).to_wire() for i in range(512)]
    for cl in ("0.0.0.0", "::"):
        for b in _core.answer_batch(db, qs, client=cl, cookie_cache=cache):
            r = dns.message.from_wire(b)
            assert r.rcode() == BADCOOKIE and not r.answer
    assert (cache.hits, cache.stores) == (0, 0)


def test_a_batch_after_a_secret_change_does_not_take_the_old_cache(img):
    # rd_answer_batch compares the snapshot once per batch: a batch of a snapshot whose
    # secrets no longer include the one a cached cookie was verified with refuses it,
    # and a rotated one verifies it by SipHash with the previous secret and renews it
    cache = _core.CookieCache()
    c_old = CC + server_cookie(OLD, CC, CLIENT, int(time.time()))
    q = query(cookie=c_old).to_wire()

    def batch(db):
        out = _core.answer_batch(db, [q, q], client=CLIENT, cookie_cache=cache)
        return [dns.message.from_wire(b) for b in out]

    before = db_with(img, cookie_secret=OLD, cookie_require=True)
    assert [response_cookie(r) for r in batch(before)] == [c_old, c_old]
    assert (cache.stores, cache.hits) == (1, 1)
    dropped = db_with(img, cookie_secret=SECRET, cookie_require=True)
    for r in batch(dropped):
        assert r.rcode() == BADCOOKIE and not r.answer
    rotated = db_with(img, cookie_secret=SECRET, cookie_previous=OLD, cookie_require=True)
    for r in batch(rotated):
        assert r.rcode() == 0 and r.answer
        check_fresh(response_cookie(r))
    # and back to the first snapshot: its cache was emptied by the others, so hashed again
    assert [response_cookie(r) for r in batch(before)] == [c_old, c_old]
    assert (cache.stores, cache.hits) == (2, 2)


_libc_time = ctypes.CDLL(None).time
_libc_time.restype = ctypes.c_long
_libc_time.argtypes = [ctypes.c_void_p]


def engine_second():
    """The second the engine's cookies take when the caller gives no clock: C's time(2),
    which glibc reads from the vDSO's coarse clock (updated once per tick).  time.time()
    is the precise clock and enters a second up to a tick earlier, so two answers could
    straddle a second that time.time() saw whole (CI under load: timestamps 1 s apart)."""
    return _libc_time(None)


def _vectors():
    """Every cookie case above, as (db options, query, client, tcp)."""
    now = int(time.time())
    a = {"cookie_secret": SECRET}
    req = {"cookie_secret": SECRET, "cookie_require": True}
    rot = {"cookie_secret": SECRET, "cookie_previous": OLD, "cookie_require": True}
    v6 = "2001:db8:220:1:59de:d0f4:8769:82b8"
    sc = lambda secret, ip, ts, cc=CC: cc + server_cookie(secret, cc, ip, ts)
    cookies = [
        None, CC, sc(SECRET, CLIENT, now), sc(SECRET, CLIENT, now - 2400),
        sc(SECRET, CLIENT, now)[:23] + b"\0", sc(SECRET, CLIENT, now - 3700),
        sc(SECRET, CLIENT, now + 400), sc(SECRET, "198.51.100.101", now),
        sc(OLD, CLIENT, now), CC + b"\x02" + server_cookie(SECRET, CC, CLIENT, now)[1:],
        CC + b"12345678", bytes(range(15)), bytes(range(41)), sc(SECRET, v6, now),
        sc(OLD, v6, now - 100),
    ]
    out = []
    for opts in (a, req, rot):
        for cookie in cookies:
            for name, rtype in (("www.example.com.", "A"), ("nope.example.com.", "A"),
                                ("www.example.com.", "TXT")):
                for client in (CLIENT, v6):
                    for tcp in (False, True):
                        out.append((opts, query(name, rtype, cookie=cookie).to_wire(),
                                    client, tcp))
    return out


def test_answers_with_the_cache_are_byte_for_byte_those_without(img):
    dbs = {}
    cache = _core.CookieCache()
    for opts, q, client, tcp in _vectors():
        key = tuple(sorted(opts.items()))
        db = dbs.setdefault(key, db_with(img, **opts))
        # twice each: the second time the cache has what the first verified
        for attempt in range(2):
            for _ in range(3):          # answers made in different seconds may differ
                t0 = engine_second()
                plain = _core.answer(db, q, tcp=tcp, client=client)
                cached = _core.answer(db, q, tcp=tcp, client=client, cookie_cache=cache)
                if engine_second() == t0:
                    break
            assert cached == plain, (opts, q.hex(), client, tcp)
    assert cache.hits > 0 and cache.stores > 0
    # and the batch path (the UDP loop's and the XDP worker's call)
    db = db_with(img, cookie_secret=SECRET)
    qs = [q for opts, q, client, tcp in _vectors() if client == CLIENT and not tcp][:60]
    for _ in range(3):
        t0 = engine_second()
        plain = _core.answer_batch(db, qs, client=CLIENT)
        cached = _core.answer_batch(db, qs, client=CLIENT, cookie_cache=cache)
        if engine_second() == t0:
            break
    assert cached == plain


# ---- single queries with the caller's clock (rd_transport.now): the cache is made ready
# once per turn (rd_cookie_turn), yet every snapshot change and every new second is seen

def cached_at(img):
    """A database with cookies required, a cache, the clock t, a valid cookie of t that
    a first single query at t stored, and the cache's flushes after it."""
    db = db_with(img, cookie_secret=SECRET, cookie_require=True)
    cache = _core.CookieCache()
    t = int(time.time())
    valid = CC + server_cookie(SECRET, CC, CLIENT, t)
    assert response_cookie(ask_cached(db, query(cookie=valid), cache, now=t)) == valid
    return db, cache, t, valid, cache.flushes


def test_single_queries_of_one_turn_make_the_cache_ready_once(img):
    db, cache, t, valid, flushes = cached_at(img)
    for _ in range(5):
        assert response_cookie(ask_cached(db, query(cookie=valid), cache, now=t)) == valid
    assert (cache.stores, cache.hits, cache.flushes) == (1, 5, flushes)


def test_a_secret_rotation_between_two_single_queries_of_one_second(img):
    # the same caller's clock for both: only the snapshot tells the cache is stale
    cache = _core.CookieCache()
    t = int(time.time())
    c_old = CC + server_cookie(OLD, CC, CLIENT, t)
    before = db_with(img, cookie_secret=OLD, cookie_require=True)
    assert response_cookie(ask_cached(before, query(cookie=c_old), cache, now=t)) == c_old
    assert response_cookie(ask_cached(before, query(cookie=c_old), cache, now=t)) == c_old
    assert (cache.stores, cache.hits) == (1, 1)
    rotated = db_with(img, cookie_secret=SECRET, cookie_previous=OLD, cookie_require=True)
    r = ask_cached(rotated, query(cookie=c_old), cache, now=t)
    assert r.rcode() == 0 and r.answer
    assert response_cookie(r) == CC + server_cookie(SECRET, CC, CLIENT, t)   # renewed
    dropped = db_with(img, cookie_secret=SECRET, cookie_require=True)
    r = ask_cached(dropped, query(cookie=c_old), cache, now=t)
    assert r.rcode() == BADCOOKIE and not r.answer
    # and back to the first snapshot, still in the same second: verified again
    assert response_cookie(ask_cached(before, query(cookie=c_old), cache, now=t)) == c_old
    assert (cache.stores, cache.hits) == (2, 1)


def test_the_callers_clock_moving_a_second_inside_the_epoch_is_taken(img):
    # made ready at t, then asked at t + 1: the fresh cookie carries t + 1, not the
    # clock the cache was made ready with; the cached cookie is still taken (same epoch)
    db, cache, t, valid, flushes = cached_at(img)
    r = ask_cached(db, query(cookie=CC), cache, now=t + 1)
    assert timestamp(response_cookie(r)) == t + 1
    assert response_cookie(r)[8:] == server_cookie(SECRET, CC, CLIENT, t + 1)
    assert response_cookie(ask_cached(db, query(cookie=valid), cache, now=t + 1)) == valid
    assert (cache.stores, cache.hits, cache.flushes) == (1, 1, flushes)


@pytest.mark.parametrize("tcp", [False, True])
def test_a_formerr_query_gets_no_cookie_with_the_cache_either(img, tcp):
    # a cached cookie in a query that is malformed after its OPT (trailing octets), and a
    # malformed cookie: FORMERR without OPT or without a cookie, one query or a batch
    db = db_with(img, cookie_secret=SECRET)
    cache = _core.CookieCache()
    t = int(time.time())
    valid = CC + server_cookie(SECRET, CC, CLIENT, t)
    assert response_cookie(ask_cached(db, query(cookie=valid), cache, now=t, tcp=tcp)) == valid
    assert response_cookie(ask_cached(db, query(cookie=valid), cache, now=t, tcp=tcp)) == valid
    hits = cache.hits
    trailing = query(cookie=valid).to_wire() + b"\x00"
    bad = query(cookie=valid[:9]).to_wire()          # RFC 7873 5.2.2: malformed
    for wire in (trailing, bad):
        r = ask_cached(db, wire, cache, now=t, tcp=tcp)
        assert r.rcode() == dns.rcode.FORMERR and response_cookie(r) is None
        for b in _core.answer_batch(db, [wire] * 3, tcp=tcp, client=CLIENT, cookie_cache=cache,
                                    now=t):
            r = dns.message.from_wire(b)
            assert r.rcode() == dns.rcode.FORMERR and response_cookie(r) is None
    assert cache.hits == hits


@pytest.mark.parametrize("n", [0, 3, 7, 9, 41])
@pytest.mark.parametrize("kind", ["badvers", "notimp"])
def test_a_malformed_cookie_after_an_earlier_error_is_answered_as_none(img, kind, n):
    # BADVERS (RFC 6891 6.1.3) and NOTIMP are decided before the cookie's length is
    # checked: a COOKIE of 0-7 octets ending the packet must not be read as 8 (the bytes
    # after the packet would come back as the client cookie), and none of a length RFC
    # 7873 5.2.2 refuses is echoed
    opts = [dns.edns.GenericOption(COOKIE, bytes(range(1, n + 1)))]
    q = dns.message.make_query("www.example.com.", "A", use_edns=1 if kind == "badvers" else 0,
                               payload=1232, options=opts)
    if kind == "notimp":
        q.set_opcode(dns.opcode.STATUS)
    db = db_with(img, cookie_secret=SECRET)
    want = dns.rcode.BADVERS if kind == "badvers" else dns.rcode.NOTIMP
    for cache in (None, _core.CookieCache()):
        r = (ask(db, q) if cache is None
             else ask_cached(db, q.to_wire(), cache, now=int(time.time())))
        assert r.rcode() == want
        assert response_cookie(r) is None
        for b in _core.answer_batch(db, [q.to_wire()] * 3, client=CLIENT):
            r = dns.message.from_wire(b)
            assert r.rcode() == want and response_cookie(r) is None
    # a well-formed client cookie still gets a fresh server cookie with those rcodes
    q.use_edns(1 if kind == "badvers" else 0, payload=1232,
               options=[dns.edns.GenericOption(COOKIE, CC)])
    check_fresh(response_cookie(ask(db, q)))
