# test_rrl_daemon.py — a robdns daemon with response rate limiting under a UDP flood from
# one address: the configured rate passes, half the rest slips, TCP and others untouched.
import socket
import time

import dns.flags
import dns.message

def flood(port, qname, n, source="127.0.0.1", timeout=1.0):
    """Send n identical queries from one source as fast as possible; the replies."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    wire = dns.message.make_query(qname, "A").to_wire()
    for _ in range(n):
        s.sendto(wire, ("127.0.0.1", port))
    s.settimeout(timeout)
    replies = []
    try:
        while True:
            replies.append(dns.message.from_wire(s.recv(4096)))
    except socket.timeout:
        pass
    s.close()
    return replies


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
