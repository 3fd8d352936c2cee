# test_engine_opcodes.py — requests other than QUERY (NOTIFY, UPDATE, STATUS, unknown
# opcodes) carrying EDNS(0) get their answer with an OPT record (RFC 6891 section 7),
# checked by parsing the answers with dnspython.
import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from robdns import _core
from engine_support import database, rcode, zone


@pytest.fixture(scope="module")
def db():
    return database(zone("example.com.", "www A 192.0.2.1\n"), nsid=b"node-7")


def notify(edns=0, **kw):
    # RFC 1996 3.7: a NOTIFY names the zone in its question and may carry the SOA.
    m = dns.message.make_query("example.com.", "SOA", use_edns=edns, **kw)
    m.set_opcode(dns.opcode.NOTIFY)
    m.flags &= ~dns.flags.RD
    m.answer.append(dns.rrset.from_text("example.com.", 3600, "IN", "SOA",
                                        "ns1.example.com. hostmaster.example.com. 7 1 1 1 1"))
    return m


def answer(db, wire):
    resp = _core.answer(db, wire)
    assert resp, "no response"
    return dns.message.from_wire(resp)


def test_notify_with_edns_is_answered_with_opt(db):
    m = answer(db, notify(payload=4096, want_dnssec=True).to_wire())
    assert m.opcode() == dns.opcode.NOTIFY and rcode(m) == "NOTAUTH"   # RFC 1996: no secondaries
    assert [str(q.name) for q in m.question] == ["example.com."]
    assert m.edns == 0 and m.payload >= 512                           # RFC 6891 7
    assert m.ednsflags & dns.flags.DO                                 # RFC 3225 3: DO echoed


def test_notify_with_nsid_request_gets_the_nsid(db):
    m = answer(db, notify(options=[dns.edns.GenericOption(dns.edns.NSID, b"")]).to_wire())
    assert m.edns == 0 and [o.to_wire() for o in m.options if o.otype == dns.edns.NSID] == [b"node-7"]


def test_notify_without_edns_has_no_opt(db):
    m = answer(db, notify(edns=False).to_wire())
    assert rcode(m) == "NOTAUTH" and m.edns == -1


def test_notify_with_an_unknown_edns_version_is_badvers(db):
    # RFC 6891 6.1.3: BADVERS, in an OPT of the version we speak.
    m = answer(db, notify(edns=1).to_wire())
    assert rcode(m) == "BADVERS" and m.edns == 0


def test_malformed_notify_is_formerr_without_opt(db):
    m = answer(db, notify().to_wire() + b"\x00\x00")
    assert rcode(m) == "FORMERR" and m.edns == -1


@pytest.mark.parametrize("opcode", [1, 2, 5, 15])
def test_other_opcodes_with_edns_get_notimp_with_opt(db, opcode):
    q = dns.message.make_query("www.example.com.", "A", use_edns=0)
    wire = bytearray(q.to_wire())
    wire[2] = (wire[2] & 0x87) | (opcode << 3)
    resp = _core.answer(db, bytes(wire))
    m = dns.message.from_wire(resp)
    assert m.id == q.id and m.opcode() == opcode and rcode(m) == "NOTIMP"
    assert m.edns == 0                                  # RFC 6891 7
    assert len(resp) == 12 + 11                         # header and OPT, as NSD (no question)


def test_other_opcode_in_an_unknown_layout_gets_the_bare_header(db):
    # A body that is not sections of records (e.g. DSO TLVs, RFC 8490): no OPT to find.
    q = dns.message.make_query("www.example.com.", "A", use_edns=0)
    wire = bytearray(q.to_wire()[:12]) + b"\x00\x01\x00\x00"
    wire[2] = (wire[2] & 0x87) | (6 << 3)
    wire[4:12] = bytes(8)
    resp = _core.answer(db, bytes(wire))
    assert len(resp) == 12 and resp[3] & 0xF == 4      # NOTIMP, nothing else


def test_signed_notify_with_edns_is_answered_signed_with_opt():
    # RFC 8945 5.3: the answer to a signed request is signed with its key; the OPT stays
    # (RFC 6891 7), before the TSIG, which is last (RFC 8945 5.1).
    import base64
    import dns.tsig
    import dns.tsigkeyring
    secret = b"a secret of thirty-two octets!!!"
    db = _core.Database([zone("example.com.", "")], keys=[("xfr.key.", "hmac-sha256", secret)])
    q = notify()
    q.use_tsig(dns.tsigkeyring.from_text({"xfr.key.": base64.b64encode(secret).decode()}),
               keyname="xfr.key.", algorithm=dns.tsig.HMAC_SHA256)
    m = dns.message.from_wire(_core.answer(db, q.to_wire()), keyring=q.keyring, request_mac=q.mac)
    assert m.had_tsig and rcode(m) == "NOTAUTH" and m.edns == 0


def test_notify_for_a_secondary_zone_is_answered_by_the_engine_on_every_transport(db):
    # The engine itself acknowledges a NOTIFY for a secondary zone from an admitted source
    # (RFC 1996 4.7) and refuses other sources, over UDP and TCP alike, and counts the
    # answer it gives under its own rcode (not the NOTAUTH a zone we do not follow gets).
    sdb = _core.Database([db.zones[0]], notify={"example.com.": [("192.0.2.9/32", None)]})
    wire = notify(edns=0).to_wire()
    for tcp in (False, True):
        st = _core.EngineStats()
        ack = dns.message.from_wire(_core.answer(sdb, wire, tcp=tcp, stats=st, client="192.0.2.9"))
        assert ack.rcode() == dns.rcode.NOERROR and ack.flags & dns.flags.AA
        assert ack.opt is not None                       # RFC 6891 7
        refused = dns.message.from_wire(_core.answer(sdb, wire, tcp=tcp, stats=st,
                                                     client="192.0.2.10"))
        assert refused.rcode() == dns.rcode.REFUSED
        assert st.named()["rcode"] == {"NOERROR": 1, "REFUSED": 1}
    assert "example.com." in _core.notify_take()
    assert _core.notify_take() == []
    # a zone that is not a secondary here: NOTAUTH, as before
    assert dns.message.from_wire(_core.answer(db, wire, client="192.0.2.9")).rcode() == dns.rcode.NOTAUTH


@pytest.mark.parametrize("names", [3, 40, 1000, 4096])
@pytest.mark.parametrize("run", range(3))
def test_notify_queue_takes_concurrent_workers_without_a_lock(names, run):
    # Workers queue admitted NOTIFYs from many threads at once while the control plane
    # takes them: every successful queue is exactly one slot, no zone queued is lost, no name comes back torn, and the queue ends
    # empty.  With 1000 names the 256-slot ring fills, so the full path runs too.
    r = _core.notify_queue_stress(4, 20000, names)
    assert r["torn"] == 0
    assert r["lost"] == 0
    assert r["left"] == 0
    assert r["queued"] >= 1 and r["taken"] >= 1
    assert r["slots"] == r["queued"]            # one slot per successful queue, no more
    assert r["taken"] <= r["queued"]
    assert r["queued"] + r["refused"] == 4 * 20000
