# test_xfr_daemon.py — a real `robdns serve` as a primary: AXFR/IXFR over TCP with TSIG, every refusal, the journal across reloads and restarts, NOTIFY out, ctl zone-status / zone-notify.
import re
import socket
import struct
import threading
import time

import dns.exception
import dns.flags
import dns.rrset
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.xfr
import dns.zone
import pytest

from refservers import query_tcp
from xfr_support import (OTHER_SECRET_B64, SECRET, SECRET_B64, apply_ixfr, keyring,
                         read_stream, records_of, zone_records, zone_text)

KEYS = [{"name": "xfr.key.", "algorithm": "hmac-sha256", "secret": SECRET_B64},
        {"name": "other.key.", "algorithm": "hmac-sha256", "secret": OTHER_SECRET_B64}]


def primary(robdns_server, acl, notify=None, n=3000, serial=1, families=(4,)):
    srv = robdns_server({"example.com.": zone_text(serial, n=n)}, families=families, start=False,
                        server={"xfr": {"journal_dir": "journal", "notify_timeout": 0.2,
                                        "notify_retries": 3}})
    srv.config["keys"] = KEYS
    z = srv.config["zones"][0]
    z["allow_transfer"] = acl
    if notify:
        z["notify"] = notify
    srv.write_config()
    srv.start()
    return srv


def xfr(srv, key="xfr.key.", rdtype="AXFR", serial=0, source=None, secret=SECRET,
        alg=dns.tsig.HMAC_SHA256):
    kw = {}
    if key:
        kw = dict(keyring={dns.name.from_text(key): dns.tsig.Key(key, secret, alg)}, keyname=key)
    msgs = dns.query.xfr("127.0.0.1", "example.com.", rdtype=rdtype, serial=serial,
                         port=srv.port, source=source, timeout=10, lifetime=30,
                         relativize=False, **kw)
    return list(msgs)


def full_records(srv):
    return records_of(xfr(srv))


def refused_raw(srv, wire, source=None):
    """Send one transfer query over TCP; return every message the server sent back."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", srv.port))
    s.sendall(struct.pack("!H", len(wire)) + wire)
    out = []

    def exact(k):
        buf = b""
        while len(buf) < k:
            chunk = s.recv(k - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf
    try:
        while len(out) < 2:
            head = exact(2)
            if head is None:
                break
            body = exact(struct.unpack("!H", head)[0])
            if body is None:
                break
            out.append(body)
            s.settimeout(0.5)          # a second message would follow at once
    except socket.timeout:
        pass
    finally:
        s.close()
    return out


def test_axfr_with_tsig_equals_the_zone(robdns_server):
    srv = primary(robdns_server, [{"key": "xfr.key."}])
    text = zone_text(1, n=3000)
    recs = full_records(srv)
    assert recs[0] == recs[-1] and len(recs) - 1 == len(zone_records(text))
    assert set(recs) == zone_records(text)
    time.sleep(0.7)
    (z,) = srv.ctl("zone-status")["zones"]
    assert z["transfers"]["served"] >= 1
    from robdns import metrics
    text = metrics.prometheus(srv.ctl("stats")["stats"], srv.ctl("status"))
    samples = dict(re.findall(r'^robdns_zone_transfers_out_total\{result="(\w+)",zone="example.com."\} (\S+)$',
                              text, re.M))
    assert float(samples["served"]) == 1 and float(samples["refused"]) == 0


def _signed_at(when, key="xfr.key.", secret=SECRET):
    """An AXFR query signed by dnspython at time `when`."""
    import dns.rdataclass
    import dns.rdtypes.ANY.TSIG
    q = dns.message.make_query("example.com.", "AXFR")
    raw = q.to_wire()
    k = dns.tsig.Key(key, secret, dns.tsig.HMAC_SHA256)
    rd = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG, dns.tsig.HMAC_SHA256,
                                   when, 300, b"", q.id, 0, b"")
    signed, _ = dns.tsig.sign(raw, k, rd, time=when)
    body = signed.to_wire()
    out = bytearray(raw + dns.name.from_text(key).to_wire() + struct.pack("!HHIH", 250, 255, 0, len(body)) + body)
    out[10:12] = struct.pack("!H", 1)
    return bytes(out)


@pytest.mark.parametrize("case", ["no-key", "wrong-key", "wrong-alg", "time-outside-fudge",
                                  "key-not-in-acl", "address-outside-acl"])
def test_refusals_no_zone_data_leaves(robdns_server, case):
    """Each refusal is a single message without a record of the zone; TSIG failures are
    NOTAUTH with the TSIG error (RFC 8945 5.2), ACL denials REFUSED."""
    srv = primary(robdns_server, [{"address": "127.0.0.1/32", "key": "xfr.key."}])
    source = None
    if case == "no-key":
        wire = dns.message.make_query("example.com.", "AXFR").to_wire()
    elif case == "wrong-key":
        q = dns.message.make_query("example.com.", "AXFR")
        q.use_tsig({dns.name.from_text("xfr.key."): dns.tsig.Key("xfr.key.", b"not the secret")}, keyname="xfr.key.")
        wire = q.to_wire()
    elif case == "wrong-alg":
        q = dns.message.make_query("example.com.", "AXFR")
        q.use_tsig({dns.name.from_text("xfr.key."): dns.tsig.Key("xfr.key.", SECRET, dns.tsig.HMAC_SHA512)},
                   keyname="xfr.key.")
        wire = q.to_wire()
    elif case == "time-outside-fudge":
        wire = _signed_at(int(time.time()) - 3600)
    elif case == "key-not-in-acl":
        q = dns.message.make_query("example.com.", "AXFR")
        import base64
        q.use_tsig({dns.name.from_text("other.key."): dns.tsig.Key("other.key.", base64.b64decode(OTHER_SECRET_B64))},
                   keyname="other.key.")
        wire = q.to_wire()
    else:
        q = dns.message.make_query("example.com.", "AXFR")
        q.use_tsig(keyring("xfr.key."), keyname="xfr.key.")
        wire = q.to_wire()
        source = "127.0.0.2"
    msgs = refused_raw(srv, wire, source)
    assert len(msgs) == 1
    m = dns.message.from_wire(msgs[0], keyring=False)
    assert not m.answer and not m.authority
    assert not [rr for rr in m.additional if rr.rdtype != dns.rdatatype.OPT]
    want = {"no-key": (dns.rcode.REFUSED, None), "wrong-key": (dns.rcode.NOTAUTH, dns.rcode.BADSIG),
            "wrong-alg": (dns.rcode.NOTAUTH, dns.rcode.BADKEY),
            "time-outside-fudge": (dns.rcode.NOTAUTH, dns.rcode.BADTIME),
            "key-not-in-acl": (dns.rcode.REFUSED, None),
            "address-outside-acl": (dns.rcode.REFUSED, None)}[case]
    assert m.rcode() == want[0]
    if want[1] is not None:
        assert m.tsig[0].error == want[1]
    if case in ("no-key", "key-not-in-acl", "address-outside-acl"):
        time.sleep(0.7)
        log = srv.log_text()
        assert "refused: not allowed by allow_transfer" in log
        assert ("127.0.0.2@" if case == "address-outside-acl" else "127.0.0.1@") in log
        if case == "key-not-in-acl":
            assert "key other.key." in log
    # an allowed transfer still works
    assert len(full_records(srv)) > 3000


def test_ixfr_after_reload_and_journal_bounds(robdns_server):
    srv = primary(robdns_server, [{"key": "xfr.key."}], n=500)
    v1 = zone_text(1, n=500)
    v2 = zone_text(2, n=500, extra="added IN A 192.0.2.77\n").replace("host-000003-with", "renamed-000003-with")
    time.sleep(0.06)
    srv.write_zone("example.com.", v2)
    assert srv.reload()["ok"]
    recs = records_of(xfr(srv, rdtype="IXFR", serial=1))
    assert len(recs) < 20, recs
    assert apply_ixfr(zone_records(v1), recs) == zone_records(v2)
    (z,) = srv.ctl("zone-status")["zones"]
    assert z["serial"] == 2 and z["journal"]["from"] == 1 and z["journal"]["to"] == 2
    # client current: one SOA; unknown serial: the whole zone
    assert len(records_of(xfr(srv, rdtype="IXFR", serial=2))) == 1
    assert len(records_of(xfr(srv, rdtype="IXFR", serial=0))) - 1 == len(zone_records(v2))
    # content changed under the same serial: an error, serial 2 keeps serving
    time.sleep(0.06)
    srv.write_zone("example.com.", v2.replace("192.0.2.77", "192.0.2.78"))
    r = srv.reload()
    assert not r["ok"]
    (z,) = srv.ctl("zone-status")["zones"]
    assert z["state"] == "failed" and "serial 2 is unchanged" in z["errors"][0]
    assert [rd.address for rd in srv.query("added.example.com.", "A").answer[0]] == ["192.0.2.77"]
    # the journal survives a restart (its last serial is the zone's)
    srv.write_zone("example.com.", v2)
    srv.stop()
    srv.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:       # READY of the first run is still in the log
        try:
            srv.query("example.com.", "SOA", tcp=True, timeout=0.5)
            break
        except (OSError, dns.exception.Timeout):
            time.sleep(0.1)
    recs = records_of(xfr(srv, rdtype="IXFR", serial=1))
    assert apply_ixfr(zone_records(v1), recs) == zone_records(v2)


class FakeSecondary:
    """A UDP socket answering NOTIFY (RFC 1996 3.7: NOERROR, signed with the request's key)
    after ignoring the first `drop` of them; records what it got."""

    def __init__(self, drop=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.drop = drop
        self.got = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            q = dns.message.from_wire(data, keyring=keyring("xfr.key."))
            self.got.append(q)
            if len(self.got) <= self.drop:
                continue
            r = dns.message.make_response(q)
            self.sock.sendto(r.to_wire(), peer)

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


def test_notify_signed_retried_and_reported(robdns_server):
    sec = FakeSecondary(drop=1)
    try:
        srv = primary(robdns_server, [{"key": "xfr.key."}],
                      notify=[{"address": f"127.0.0.1@{sec.port}", "key": "xfr.key."}], n=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(sec.got) < 2:
            time.sleep(0.05)
        assert len(sec.got) >= 2                 # the first one went unanswered: retried
        q = sec.got[-1]
        assert q.opcode() == dns.opcode.NOTIFY and q.had_tsig
        assert q.question[0].name == dns.name.from_text("example.com.")
        # RFC 1996 3.7: the new SOA rides along as a hint
        assert q.answer and q.answer[0].rdtype == dns.rdatatype.SOA and q.answer[0][0].serial == 1
        time.sleep(0.3)
        (z,) = srv.ctl("zone-status")["zones"]
        (res,) = z["notify"].values()
        assert res["state"] == "acked" and res["serial"] == 1 and res["attempts"] >= 2
        # a reload with a new serial notifies again
        n = len(sec.got)
        time.sleep(0.06)
        srv.write_zone("example.com.", zone_text(2, n=10))
        assert srv.reload()["ok"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(sec.got) <= n:
            time.sleep(0.05)
        assert len(sec.got) > n
        # ctl zone-notify sends now
        n = len(sec.got)
        r = srv.ctl("zone-notify", zone="example.com")
        assert r["ok"] and r["serial"] == 2
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(sec.got) <= n:
            time.sleep(0.05)
        assert len(sec.got) > n
    finally:
        sec.close()


def test_notify_gives_up(robdns_server):
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))              # bound, never answers
    try:
        srv = primary(robdns_server, [], notify=[{"address": f"127.0.0.1@{dead.getsockname()[1]}"}], n=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            (z,) = srv.ctl("zone-status")["zones"]
            (res,) = z["notify"].values()
            if res["state"] == "failed":
                break
            time.sleep(0.1)
        assert res["state"] == "failed" and res["attempts"] == 3
        assert "given up after 3 attempts" in srv.log_text()
    finally:
        dead.close()


def test_axfr_keeps_its_version_across_a_reload(robdns_server):
    """A transfer under way when a reload publishes a new version goes on sending the
    version it started with, whole (the TCP loop pins that database: rd_db_pin)."""
    n = 60000
    srv = primary(robdns_server, [{"address": "127.0.0.1/32"}], n=n)
    v1 = zone_records(zone_text(1, n=n))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # a small receive window: the server cannot push the whole zone into buffers at once
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", srv.port))
    q = dns.message.make_query("example.com.", "AXFR")
    wire = q.to_wire()
    s.sendall(struct.pack("!H", len(wire)) + wire)

    def exact(k):
        buf = b""
        while len(buf) < k:
            chunk = s.recv(k - len(buf))
            assert chunk, "connection closed mid-stream"
            buf += chunk
        return buf

    def message():
        return exact(struct.unpack("!H", exact(2))[0])

    msgs = [message()]
    time.sleep(0.06)
    srv.write_zone("example.com.", zone_text(2, n=n // 2))
    assert srv.reload()["ok"] and srv.serial("example.com.") == 2
    while True:
        msgs.append(message())
        m = dns.message.from_wire(msgs[-1], keyring=False, one_rr_per_rrset=True)
        if len(msgs) > 1 and m.answer and m.answer[-1].rdtype == dns.rdatatype.SOA:
            break
    s.close()
    recs = records_of(read_stream(msgs, q))
    assert len(msgs) > 10
    assert recs[0] == recs[-1] and " 1 " in recs[0][3]
    assert set(recs) == v1 and len(recs) - 1 == len(v1)


def test_ixfr_over_udp(robdns_server):
    """RFC 1995 2 over UDP: the SOA alone when the client is current, TC when it is
    behind; the ACL sees the datagram's source address (127.0.0.2 is outside it)."""
    srv = primary(robdns_server, [{"address": "127.0.0.1/32"}], n=10, serial=5)

    def ask(serial, source="127.0.0.1"):
        q = dns.message.make_query("example.com.", "IXFR")
        q.authority.append(dns.rrset.from_text("example.com.", 0, "IN", "SOA",
                                               f"ns1.example.com. h.example.com. {serial} 1 1 1 1"))
        return dns.query.udp(q, "127.0.0.1", port=srv.port, source=source, timeout=3)

    r = ask(5)
    assert r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1 and r.answer[0][0].serial == 5
    r = ask(4)
    assert r.flags & dns.flags.TC and not r.answer
    r = ask(5, source="127.0.0.2")
    assert r.rcode() == dns.rcode.REFUSED and not r.answer
