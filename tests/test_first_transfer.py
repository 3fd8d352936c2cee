"""test_first_transfer — the AXFR a secondary zone with no copy asks for at start
(robdns.first_transfer), against the scripted primary of test_xfrin_recv: sent and read
whole (TSIG checked) before any event loop exists; nothing sent for a zone with a kept
copy or to a primary that cannot be reached; at most AT_ONCE zones; cancel() ends the
reading thread; the zone's first refresh takes over only the transfer it would ask for;
and a daemon asks its primary once, directly for AXFR (RFC 5936 2.2: no SOA query first
when there is no copy), and serves the zone from that transfer."""

import base64
import socket
import time

import dns.rcode
import pytest

from robdns import config, first_transfer
from robdns.config import ListenAddress, Remote
from robdns.errors import TransferError
from robdns.secondary import Secondary, flush
from test_xfrin_recv import ALL, KEY_NAME, ORIGIN, SECRET, Primary, axfr_messages, sign_stream


class Counting(Primary):
    """The scripted primary, counting the transfer requests it answered."""

    def __init__(self, make):
        self.requests = []
        super().__init__(lambda qid, mac: self.requests.append(qid) or make(qid, mac))


def requested(p, n=1, timeout=10):
    """Wait until primary p has read n requests (a cancel before would leave it reading
    an empty connection)."""
    deadline = time.monotonic() + timeout
    while len(p.requests) < n:
        assert time.monotonic() < deadline, p.requests
        time.sleep(0.01)


def signed_axfr(qid, mac):
    return sign_stream(axfr_messages(qid), mac, ALL)


def secondaries(tmp_path, primary_port, names=(ORIGIN,), key=True):
    text = f"""keys:
  - {{name: {KEY_NAME}, algorithm: hmac-sha256, secret: "{base64.b64encode(SECRET).decode()}"}}
zones:
""" + "".join(f"""  - name: {n}
    file: "{tmp_path}/{n}zone"
    primaries: [{{address: "127.0.0.1@{primary_port}"{', key: ' + KEY_NAME if key else ''}}}]
""" for n in names)
    return config.parse(text, str(tmp_path / "robdns.yaml"))


def cancel_all(started):
    for t in started.values():
        t.cancel()


def test_the_axfr_is_sent_and_read_whole_without_an_event_loop(tmp_path):
    p = Counting(signed_axfr)
    try:
        started = first_transfer.start(secondaries(tmp_path, p.remote.address.port))
        assert list(started) == [ORIGIN]
        assert started[ORIGIN].remote.address == p.remote.address
        x, nbytes = started[ORIGIN].future.result(timeout=20)
        assert x.kind == "axfr" and nbytes > 0 and len(p.requests) == 1
        assert x.image(None).serial == 7
    finally:
        p.close()


def test_a_zone_with_a_kept_copy_sends_nothing(tmp_path):
    p = Counting(signed_axfr)
    try:
        cfg = secondaries(tmp_path, p.remote.address.port)
        # the path robdns.secondary.flush keeps the image at: served at start, SOA check first
        open(flush.image_path(cfg.zones[0]), "wb").close()
        assert first_transfer.start(cfg) == {}
        time.sleep(0.3)
        assert p.requests == []
    finally:
        p.close()


def test_an_unreachable_primary_fails_as_the_refresh_would_say_and_does_not_hold_the_start(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))          # bound, never listening: the connection is refused
    try:
        t0 = time.monotonic()
        started = first_transfer.start(secondaries(tmp_path, closed.getsockname()[1]))
        assert time.monotonic() - t0 < 0.5
        e = started[ORIGIN].future.exception(timeout=5)
        assert isinstance(e, TransferError) and "AXFR: cannot connect" in str(e), e
    finally:
        closed.close()


def test_at_most_at_once_zones_are_sent_early(tmp_path):
    p = Counting(lambda qid, mac: ["hold"])
    try:
        names = [f"z{i}.example." for i in range(first_transfer.AT_ONCE + 3)]
        started = first_transfer.start(secondaries(tmp_path, p.remote.address.port, names))
        try:
            assert list(started) == names[:first_transfer.AT_ONCE]
        finally:
            cancel_all(started)
    finally:
        p.close()


def test_cancel_ends_the_reading_thread(tmp_path):
    p = Counting(lambda qid, mac: ["hold"])
    try:
        started = first_transfer.start(secondaries(tmp_path, p.remote.address.port))
        t = started[ORIGIN]
        requested(p)
        time.sleep(0.2)
        assert not t.future.done()                  # the primary says nothing yet
        t.cancel()
        assert isinstance(t.future.exception(timeout=5), TransferError)
    finally:
        p.close()


class FakeDaemon:
    def __init__(self, cfg, first):
        self.cfg, self.zone_configs, self.first_transfers = cfg, None, first


def test_the_refresh_takes_over_only_the_transfer_it_would_ask_for(tmp_path):
    p = Counting(lambda qid, mac: ["hold"])
    try:
        cfg = secondaries(tmp_path, p.remote.address.port)
        started = first_transfer.start(cfg)
        sent = started[ORIGIN]
        requested(p)
        sec = Secondary(FakeDaemon(cfg, started))
        remote = cfg.zones[0].primaries[0]
        try:
            other = Remote(ListenAddress("127.0.0.1", remote.address.port + 1), remote.key)
            assert sec.first_transfer(ORIGIN, other, "AXFR") is None
            assert sec.first_transfer(ORIGIN, remote, "IXFR") is None
            assert sec.first_transfer("other.example.", remote, "AXFR") is None
            t = sec.first_transfer(ORIGIN, remote, "AXFR")
            assert t is sent
            assert sec.first_transfer(ORIGIN, remote, "AXFR") is None     # taken once
            t.cancel()
        finally:
            sec.disk.shutdown()
            sec.builder.shutdown()
    finally:
        p.close()


def test_a_dropped_zone_cancels_its_transfer(tmp_path):
    p = Counting(lambda qid, mac: ["hold"])
    try:
        cfg = secondaries(tmp_path, p.remote.address.port)
        started = first_transfer.start(cfg)
        requested(p)
        sec = Secondary(FakeDaemon(cfg, dict(started)))
        try:
            sec.cancel(ORIGIN)
            assert isinstance(started[ORIGIN].future.exception(timeout=5), TransferError)
            assert sec.first_transfer(ORIGIN, cfg.zones[0].primaries[0], "AXFR") is None
        finally:
            sec.disk.shutdown()
            sec.builder.shutdown()
    finally:
        p.close()


@pytest.mark.parametrize("signed", [True, False])
def test_the_daemon_asks_once_directly_for_axfr_and_serves_it(robdns_server, signed):
    make = signed_axfr if signed else (lambda qid, mac: axfr_messages(qid))
    p = Counting(make)
    # a UDP socket on the primary's port: an SOA query before the AXFR would land here
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", p.remote.address.port))
    udp.settimeout(0.01)
    try:
        remote = {"address": f"127.0.0.1@{p.remote.address.port}"}
        extra = {"zones": [{"name": ORIGIN, "file": "example.net.zone", "primaries": [remote]}]}
        if signed:
            remote["key"] = KEY_NAME
            extra["keys"] = [{"name": KEY_NAME, "algorithm": "hmac-sha256",
                              "secret": base64.b64encode(SECRET).decode()}]
        srv = robdns_server({}, families=(4,), extra=extra)
        deadline = time.monotonic() + 20
        while srv.query(ORIGIN, "SOA").rcode() != dns.rcode.NOERROR:
            assert time.monotonic() < deadline, srv.log_text()[-2000:]
            time.sleep(0.05)
        assert srv.serial(ORIGIN) == 7
        st = srv.ctl("zone-status", zone=ORIGIN)["zones"][0]
        assert st["last_transfer"]["kind"] == "axfr" and st["transfers_in"] == 1, st
        assert len(p.requests) == 1, p.requests
        with pytest.raises(socket.timeout):
            udp.recv(512)
    finally:
        udp.close()
        p.close()


def test_what_precedes_the_request_imports_nothing_it_does_not_use():
    """Everything robdns serve imports before first_transfer.start() sends is on the path
    spawn -> first answer of a new secondary: not the event loop (asyncio, uvloop),
    robdns.secondary (which imports it), typing (config's annotations are `X | None`),
    hashlib (OpenSSL's libcrypto: catalogs and odd zone names only), ctypes (zone file
    watches, at the load after it)."""
    import os
    import subprocess
    import sys
    code = ("import sys\n"
            "from robdns import cli, daemon, first_transfer, _core\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in\n"
            "      ('asyncio', 'uvloop', 'typing', 'hashlib', '_hashlib', 'ctypes', 'dns')\n"
            "      or m.startswith('robdns.secondary'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout
    assert out.split() == [], out
