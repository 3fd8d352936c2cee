"""DNS Cookies on a running `robdns serve`: UDP and TCP over IPv4 and IPv6 (dnspython),
kdig's +cookie handshake, `require`, a configured secret changed on reload (the previous
one still accepted) and a generated secret replaced every secret_lifetime."""
import re
import shutil
import struct
import subprocess
import time

import dns.flags
import dns.query
import pytest

from cookies import BADCOOKIE, query, response_cookie, server_cookie

SECRET = "e5e973e5a6b2a43f48e7dc849e37bfcf"
NEW = "445536bcd2513298075a5d379663c962"
CC = bytes.fromhex("2464c4abcf10c957")


def ask(srv, cookie=None, family=4, tcp=False, name="www.example.com."):
    q = query(name, "A", cookie=cookie)
    host = srv.host(family)
    if tcp:
        return dns.query.tcp(q, host, port=srv.port, timeout=3)
    return dns.query.udp(q, host, port=srv.port, timeout=3, ignore_trailing=False)


def check_fresh(c, secret, client):
    assert c is not None and len(c) == 24 and c[:8] == CC
    (ts,) = struct.unpack("!I", c[12:16])
    assert abs(ts - time.time()) < 10
    assert c[8:] == server_cookie(bytes.fromhex(secret), CC, client, ts)   # RFC 9018, byte for byte
    return c


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_server_cookie_is_rfc9018_and_accepted_back(robdns_server, family, tcp):
    srv = robdns_server(server={"cookies": {"secret": SECRET}})
    client = srv.host(family)
    r = ask(srv, CC, family, tcp)
    assert r.rcode() == 0 and r.answer
    c = check_fresh(response_cookie(r), SECRET, client)
    r = ask(srv, c, family, tcp)
    assert r.rcode() == 0 and r.answer and response_cookie(r) == c


def test_kdig_cookie_handshake_with_require(robdns_server):
    # kdig is the independent client here: without it the test compared nothing, so fail.
    assert shutil.which("kdig"), "kdig not installed (scripts/test.sh installs knot-dnsutils)"
    srv = robdns_server(server={"cookies": {"secret": SECRET, "require": True}})

    def kdig(*args):
        out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(srv.port), *args,
                              "www.example.com.", "A"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=30).stdout
        m = re.search(r";; COOKIE: ([0-9A-F]+)", out)
        return out, bytes.fromhex(m.group(1)) if m else None

    # a forged server cookie: BADCOOKIE with the right one, kdig retries with it over UDP
    out, c = kdig(f"+cookie={CC.hex()}0100000000000000deadbeefdeadbeef", "+ignore")
    assert "status: BADCOOKIE" in out and "retrying with the received one" in out, out
    assert "status: NOERROR" in out and "From 127.0.0.1@%d(UDP)" % srv.port in out, out
    check_fresh(c, SECRET, "127.0.0.1")
    # the good cookie: answered over UDP at once
    out, c2 = kdig(f"+cookie={c.hex()}")
    assert "status: NOERROR" in out and "ANSWER: 2" in out and "BADCOOKIE" not in out, out
    assert "(UDP)" in out and c2 == c
    # no cookie at all: TC=1, and kdig retries over TCP
    out, _ = kdig("+nocookie")
    assert "truncated reply" in out and "(TCP)" in out and "status: NOERROR" in out, out


def test_require_answers_udp_without_cookie_only_truncated(robdns_server):
    srv = robdns_server(server={"cookies": {"secret": SECRET, "require": True}})
    r = ask(srv)
    assert r.flags & dns.flags.TC and not r.answer and r.rcode() == 0
    r = ask(srv, CC)
    assert r.rcode() == BADCOOKIE and r.flags & dns.flags.TC and not r.answer
    c = check_fresh(response_cookie(r), SECRET, "127.0.0.1")
    r = ask(srv, c)
    assert r.rcode() == 0 and r.answer and not r.flags & dns.flags.TC
    assert ask(srv, tcp=True).answer


def test_secret_changed_on_reload_keeps_the_previous_valid(robdns_server):
    srv = robdns_server(server={"cookies": {"secret": SECRET, "require": True}})
    c = check_fresh(response_cookie(ask(srv, CC)), SECRET, "127.0.0.1")
    srv.config["server"]["cookies"] = {"secret": NEW, "previous_secret": SECRET, "require": True}
    srv.write_config()
    assert srv.reload()["ok"] is True
    r = ask(srv, c)
    assert r.rcode() == 0 and r.answer
    c2 = check_fresh(response_cookie(r), NEW, "127.0.0.1")       # renewed with the new one
    srv.config["server"]["cookies"] = {"secret": NEW, "require": True}
    srv.write_config()
    assert srv.reload()["ok"] is True
    assert ask(srv, c).rcode() == BADCOOKIE
    assert ask(srv, c2).rcode() == 0


def test_generated_secret_is_replaced_and_the_previous_one_honoured(robdns_server):
    srv = robdns_server(server={"cookies": {"secret_lifetime": 2, "require": True}})
    c0 = response_cookie(ask(srv, CC))
    assert c0 is not None and len(c0) == 24
    assert ask(srv, c0).rcode() == 0

    def poll(pred, what, limit=15.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            r = ask(srv, c0)
            if pred(r):
                return r
            time.sleep(0.2)
        raise AssertionError(f"not within {limit} s: {what}")

    # after the first replacement c0 is still valid (the previous secret) but renewed
    r = poll(lambda r: response_cookie(r) != c0, "a renewed cookie")
    assert r.rcode() == 0 and r.answer
    # after the second, c0 is two secrets old: refused
    poll(lambda r: r.rcode() == BADCOOKIE, "BADCOOKIE for a cookie two secrets old")
    assert "cookies: server secret replaced" in srv.log_text()
