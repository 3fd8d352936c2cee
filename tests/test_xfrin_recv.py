"""test_xfrin_recv — the transfer read in C (zone/xfrin_recv.c through
robdns.secondary.client.transfer) against a scripted primary on loopback: the framing,
the TSIG chain of RFC 8945 5.3.1 (every message signed, or unsigned ones in between up to
99 in a row; a bad MAC anywhere, an unsigned first or last message, 100 unsigned in a row
refused), truncated and oversized frames, records outside the zone, the time limit.

The primary signs with its own HMAC code here (hmac, hashlib), not robdns's; dnspython's
multi-message validation accepts what it signs (test_signer_agrees_with_dnspython)."""
import asyncio
import base64
import hashlib
import hmac
import socket
import struct
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import pytest

from robdns.config import ListenAddress, Remote, TsigKey
from robdns.errors import TransferError
from robdns.secondary import client

ORIGIN = "example.net."
KEY_NAME = "xfr.key."
SECRET = b"a-test-secret-for-the-receive-loop"
KEY = TsigKey(KEY_NAME, "hmac-sha256", SECRET)
ALG_WIRE = dns.name.from_text("hmac-sha256").to_wire()
KEY_WIRE = dns.name.from_text(KEY_NAME).to_wire()


def body_rrsets(n, outside_at=None):
    """The zone's records after its SOA: n hosts with an A and a TXT record each."""
    out = [dns.rrset.from_text(ORIGIN, 300, "IN", "NS", "ns1.example.net."),
           dns.rrset.from_text("ns1." + ORIGIN, 300, "IN", "A", "192.0.2.1")]
    for i in range(n):
        out.append(dns.rrset.from_text(f"h{i}.{ORIGIN}", 300, "IN", "A", f"198.51.100.{i % 250 + 1}"))
        out.append(dns.rrset.from_text(f"h{i}.{ORIGIN}", 300, "IN", "TXT", f'"host {i}"'))
    if outside_at is not None:
        out.insert(outside_at, dns.rrset.from_text("x.example.org.", 300, "IN", "A", "192.0.2.9"))
    return out


def axfr_messages(qid, n=60, per=4, outside_at=None):
    """The unsigned messages of an AXFR of the test zone, `per` rrsets each."""
    soa = dns.rrset.from_text(ORIGIN, 300, "IN", "SOA", "ns1.example.net. hostmaster.example.net. 7 3600 600 86400 300")
    stream = [soa] + body_rrsets(n, outside_at) + [soa]
    out = []
    for i in range(0, len(stream), per):
        m = dns.message.Message(id=qid)
        m.flags = dns.flags.QR | dns.flags.AA
        if i == 0:
            m.question.append(dns.rrset.RRset(dns.name.from_text(ORIGIN), dns.rdataclass.IN,
                                              dns.rdatatype.AXFR))
        m.answer.extend(stream[i:i + per])
        out.append(m.to_wire())
    return out


class _All:
    def __getitem__(self, i):
        return True


ALL = _All()        # every message signed


def sign_stream(msgs, request_mac, signed, corrupt=None, secret=SECRET, now=None):
    """The messages with TSIG records where signed[i] (RFC 8945 5.3.1): the first signed
    one covers the request MAC, the message and every variable; each later one the prior
    MAC, the unsigned messages since it as they are, the message and the timers only.
    corrupt: the index of a message whose MAC is sent with one bit flipped."""
    now = int(time.time()) if now is None else now
    prior, pending, out, first = request_mac, b"", [], True
    for i, w in enumerate(msgs):
        if not signed[i]:
            pending += w
            out.append(w)
            continue
        timers = now.to_bytes(6, "big") + struct.pack("!H", 300)
        variables = (KEY_WIRE + struct.pack("!HI", 255, 0) + ALG_WIRE + timers + struct.pack("!HH", 0, 0)
                     if first else timers)
        mac = hmac.new(secret, struct.pack("!H", len(prior)) + prior + pending + w + variables,
                       hashlib.sha256).digest()
        sent = bytes([mac[0] ^ 1]) + mac[1:] if i == corrupt else mac
        rdata = ALG_WIRE + timers + struct.pack("!H", len(sent)) + sent + w[:2] + struct.pack("!HH", 0, 0)
        rr = KEY_WIRE + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
        arcount = struct.unpack("!H", w[10:12])[0] + 1
        out.append(w[:10] + struct.pack("!H", arcount) + w[12:] + rr)
        prior, pending, first = mac, b"", False
    return out


def read_request(c, keyring):
    """The transfer request on connection c (behind its length), TSIG checked when signed:
    its .id and .mac (None unsigned) are what the response is made for."""
    n = struct.unpack("!H", c.recv(2))[0]
    q = b""
    while len(q) < n:
        q += c.recv(n - len(q))
    return dns.message.from_wire(q, keyring=keyring)


class Primary:
    """Answers one transfer request per connection with frames made by make(qid,
    request_mac): a list of bytes, each sent behind its length unless it is a ("raw",
    bytes) pair (sent as it is), ("pause", seconds) a pause; "hold" keeps the connection open without a word.  The request is read with keyring
    (default: this file's key)."""

    def __init__(self, make, keyring=None):
        self.make = make
        self.keyring = keyring or dns.tsigkeyring.from_text(
            {KEY_NAME: ("hmac-sha256", base64.b64encode(SECRET).decode())})
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.remote = Remote(ListenAddress("127.0.0.1", self.sock.getsockname()[1]))

    def _serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            with c:
                c.settimeout(5)
                try:
                    req = read_request(c, self.keyring)
                    for f in self.make(req.id, req.mac or b""):
                        if f == "hold":
                            self.stop.wait(10)
                        elif isinstance(f, tuple) and f[0] == "pause":
                            time.sleep(f[1])
                        elif isinstance(f, tuple):
                            c.sendall(f[1])
                        else:
                            c.sendall(struct.pack("!H", len(f)) + f)
                except OSError:
                    pass       # the secondary hung up on a transfer it refused

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def run(primary, **kw):
    kw.setdefault("key", KEY)
    return asyncio.run(client.transfer(primary.remote, ORIGIN, "AXFR", **kw))


def with_primary(make, **kw):
    p = Primary(make)
    try:
        return run(p, **kw)
    finally:
        p.close()


def refused(make, reason, **kw):
    with pytest.raises(TransferError) as e:
        with_primary(make, **kw)
    assert reason in str(e.value), str(e.value)


def test_every_message_signed_is_received_whole():
    msgs = []

    def make(qid, mac):
        msgs[:] = axfr_messages(qid)
        return sign_stream(msgs, mac, [True] * len(msgs))
    x, total = with_primary(make)
    assert x.done and x.kind == "axfr" and x.serial == 7
    assert x.messages == len(msgs) and x.records == 2 + 2 + 2 * 60
    assert total == sum(len(m) + 2 for m in sign_stream(msgs, b"\0" * 32, [True] * len(msgs)))
    img = x.image()
    assert img.serial == 7


def test_unsigned_messages_in_between_up_to_99_in_a_row():
    # RFC 8945 5.3.1: a signed message may follow up to 99 unsigned ones; its MAC covers them
    def make(qid, mac):
        msgs = axfr_messages(qid, n=220, per=2)
        assert len(msgs) > 101
        return sign_stream(msgs, mac, [i % 100 == 0 or i == len(msgs) - 1 for i in range(len(msgs))])
    x, _ = with_primary(make)
    assert x.done and x.serial == 7 and x.records == 2 + 2 + 440


def test_a_hundred_unsigned_in_a_row_are_refused():
    def make(qid, mac):
        msgs = axfr_messages(qid, n=220, per=2)
        return sign_stream(msgs, mac, [i in (0, 101, 150, 200) or i == len(msgs) - 1 for i in range(len(msgs))])
    refused(make, "more than 99 unsigned messages in a row")


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_bad_mac_anywhere_is_refused(where):
    def make(qid, mac):
        msgs = axfr_messages(qid)
        i = {"first": 0, "middle": len(msgs) // 2, "last": len(msgs) - 1}[where]
        return sign_stream(msgs, mac, [True] * len(msgs), corrupt=i)
    refused(make, "TSIG verification failed")


def test_a_bad_mac_on_an_unsigned_run_is_refused():
    # the unsigned messages count: one altered after signing breaks the next MAC
    def make(qid, mac):
        msgs = axfr_messages(qid)
        out = sign_stream(msgs, mac, [i % 3 == 0 or i == len(msgs) - 1 for i in range(len(msgs))])
        w = out[4]
        out[4] = w[:-1] + bytes([w[-1] ^ 1])      # the last octet of an A record's address
        return out
    refused(make, "TSIG verification failed")


def test_another_secret_another_key_and_a_stale_time_are_refused():
    refused(lambda qid, mac: sign_stream(axfr_messages(qid), mac, ALL, secret=b"other"),
            "TSIG verification failed")
    refused(lambda qid, mac: sign_stream(axfr_messages(qid), mac, ALL,
                                         now=int(time.time()) - 3600), "TSIG verification failed")

    def other_key(qid, mac):
        out = sign_stream(axfr_messages(qid), mac, ALL)
        return [w.replace(KEY_WIRE, dns.name.from_text("yyy.key.").to_wire()) for w in out]
    refused(other_key, "signed with key yyy.key.")


def test_the_first_and_the_last_message_must_be_signed():
    def first(qid, mac):
        msgs = axfr_messages(qid)
        return sign_stream(msgs, mac, [i > 0 for i in range(len(msgs))])

    def last(qid, mac):
        msgs = axfr_messages(qid)
        return sign_stream(msgs, mac, [i < len(msgs) - 1 for i in range(len(msgs))])
    refused(first, "the first message of the transfer is not signed")
    refused(last, "the last message is not signed")


def test_unsigned_transfer_without_a_key():
    x, _ = with_primary(lambda qid, mac: axfr_messages(qid), key=None)
    assert x.done and x.serial == 7


def test_truncated_and_oversized_frames():
    # a frame whose length announces more than comes before the connection closes
    def cut(qid, mac):
        msgs = sign_stream(axfr_messages(qid), mac, ALL)
        w = msgs[3]
        return msgs[:3] + [("raw", struct.pack("!H", len(w)) + w[:len(w) // 2])]
    refused(cut, "AXFR: the primary closed the connection before the end")
    # a length field alone, cut in the middle
    refused(lambda qid, mac: sign_stream(axfr_messages(qid), mac, ALL)[:2] + [("raw", b"\x01")],
            "closed the connection before the end")
    # a frame too short for a DNS header
    refused(lambda qid, mac: sign_stream(axfr_messages(qid), mac, ALL)[:2] + [b"\0" * 7],
            "message shorter than its header")
    # more octets than the limit: refused before the frame is read
    refused(lambda qid, mac: sign_stream(axfr_messages(qid), mac, ALL),
            "AXFR: larger than the limit of 2000 bytes", max_size=2000)
    # a frame with octets after its last record (unsigned: signed, they are read as the
    # start of the TSIG record and the message runs past its end)
    def padded(qid, mac):
        msgs = axfr_messages(qid)
        msgs[1] += b"\0\0\0"
        return msgs
    refused(padded, "3 bytes after the last record", key=None)


def test_records_outside_the_zone_are_refused():
    refused(lambda qid, mac: sign_stream(ax := axfr_messages(qid, outside_at=30), mac, [True] * len(ax)),
            "outside the zone")


def test_a_silent_primary_meets_the_time_limit():
    t0 = time.monotonic()
    refused(lambda qid, mac: ["hold"], "AXFR: no complete transfer within 0.5 s", timeout=0.5)
    assert time.monotonic() - t0 < 5


def test_a_slow_primary_within_the_time_limit():
    # frames split over many small writes arrive in pieces: the loop waits for the rest
    def make(qid, mac):
        out = []
        for w in sign_stream(msgs := axfr_messages(qid), mac, [True] * len(msgs)):
            f = struct.pack("!H", len(w)) + w
            out += [("raw", f[i:i + 7]) for i in range(0, len(f), 7)]
        return out
    x, _ = with_primary(make, timeout=30)
    assert x.done and x.serial == 7


def test_signer_agrees_with_dnspython():
    # the test's signer against dnspython's chained validation (unsigned ones whole in the
    # digest), so that the C verifier is checked against two other implementations
    key = dns.tsig.Key(KEY_NAME, SECRET, "hmac-sha256")
    request_mac = bytes(range(32))
    msgs = axfr_messages(4242)
    signed = [i % 4 == 0 or i == len(msgs) - 1 for i in range(len(msgs))]
    ctx = None
    for w, s in zip(sign_stream(msgs, request_mac, signed), signed):
        if not s:
            ctx.update(w)
            continue
        m = dns.message.from_wire(w, keyring={key.name: key}, request_mac=request_mac,
                                  xfr=True, origin=dns.name.from_text(ORIGIN), tsig_ctx=ctx,
                                  multi=True, one_rr_per_rrset=True)
        ctx = m.tsig_ctx
    assert ctx is not None


def test_the_owner_index_is_made_while_the_primary_is_silent():
    # the reading loop indexes the records read so far for the build whenever the socket
    # has nothing (zone/xfrin_recv.c), here between the pieces of a slow primary's frames;
    # the rest is indexed by the build, and the image is the plain build's
    from robdns import _core

    def make(qid, mac):
        out = []
        for w in sign_stream(msgs := axfr_messages(qid, n=200), mac, [True] * len(msgs)):
            f = struct.pack("!H", len(w)) + w
            # each frame in two pieces, a pause between: the reader finds the socket empty
            out += [("raw", f[:20]), ("pause", 0.002), ("raw", f[20:])]
        return out
    old = _core.set_xfrin_index_min(0)
    try:
        x, _ = with_primary(make, timeout=30)
    finally:
        _core.set_xfrin_index_min(old)
    assert x.done and x.index_ahead
    want = _core._compile_zone_records(ORIGIN, x.zone_records())
    assert _core.image_to_bytes(x.image()) == _core.image_to_bytes(want)
