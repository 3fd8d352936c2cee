# test_rrl_daemon.py — a robdns daemon with response rate limiting under a UDP flood from
# one address: the configured rate passes, half the rest slips, TCP and others untouched.
import socket
import time

import dns.flags

from serverproc import udp_flood


def flood(port, qname, n, source="127.0.0.1"):
    """n identical queries from one source address to the server on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        return udp_flood(s, ("127.0.0.1", port), qname, n)


def test_daemon_limits_a_udp_flood_and_not_tcp(robdns_server):
    srv = robdns_server(families=(4,), server={"rrl": {"rate": 20, "slip": 2, "ipv4_prefix": 32}})
    t0 = time.monotonic()
    replies = flood(srv.port, "www.example.com.", 400)
    elapsed = time.monotonic() - t0
    full = [r for r in replies if not r.flags & dns.flags.TC]
    slipped = [r for r in replies if r.flags & dns.flags.TC]
    # 20 at once, then 20/s while the flood lasts.
    assert 20 <= len(full) <= 20 + 20 * elapsed + 1, (len(full), elapsed)
    assert all(r.answer for r in full)
    assert all(not r.answer and r.question for r in slipped)
    limited = 400 - len(full)
    assert abs(len(slipped) - limited / 2) <= 1
    # Another client address is not limited by this one; TCP never is.
    assert all(not r.flags & dns.flags.TC for r in flood(srv.port, "www.example.com.", 5,
                                                          source="127.0.0.2"))
    assert srv.query("www.example.com.", "A", tcp=True).answer
    udp = srv.ctl("stats")["stats"]["udp"]
    assert udp["rrl_slipped"] == len(slipped)
    assert udp["rrl_dropped"] == limited - len(slipped)
