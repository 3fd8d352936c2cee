# test_xfr.py — transfers out in process (xfr.c through _core.Transfer): AXFR streaming, ACLs, TSIG on every message, IXFR from a journal, IXFR over UDP.
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import pytest

from robdns import _core
from xfr_support import (SECRET, apply_ixfr, keyring, rcode_of, read_stream, records_of,
                         zone_records, zone_text)

KEYS = [("xfr.key.", "hmac-sha256", SECRET), ("other.key.", "hmac-sha512", SECRET),
        ("trunc.key.", "hmac-sha256-128", SECRET)]
PEER = ("127.0.0.1", 40000)


def db_for(images, acl, journal=b"", **kw):
    if not isinstance(images, list):
        images = [images]
    return _core.Database(images, keys=KEYS,
                          transfers={"example.com.": {"acl": acl, "journal": journal}}, **kw)


def axfr_query(key=None, alg=dns.tsig.HMAC_SHA256, name="example.com."):
    q = dns.message.make_query(name, "AXFR")
    if key:
        q.use_tsig(keyring(key, alg=alg), keyname=key, algorithm=alg)
    return q


def ixfr_query(serial, key=None):
    q = dns.message.make_query("example.com.", "IXFR")
    soa = dns.rrset.from_text("example.com.", 0, "IN", "SOA",
                              f"ns1.example.com. hostmaster.example.com. {serial} 7200 3600 1209600 3600")
    q.authority.append(soa)
    if key:
        q.use_tsig(keyring(key), keyname=key, algorithm=dns.tsig.HMAC_SHA256)
    return q


def run(db, q, peer=PEER):
    t = _core.Transfer(db, q.to_wire(), peer)
    assert t.started
    return list(t)


@pytest.fixture(scope="module")
def big():
    text = zone_text(2024010101, n=6000)
    return text, _core.compile_zone_text("example.com.", text)


def test_axfr_streams_whole_zone_soa_first_and_last(big):
    """RFC 5936 2.2: SOA first and last, every record once, in many messages of at most
    64 KiB, the question in the first only."""
    text, img = big
    db = db_for(img, [(None, None)])
    q = axfr_query()
    msgs = run(db, q)
    assert len(msgs) > 1 and all(len(m) <= 65535 for m in msgs)
    parsed = read_stream(msgs, q)
    assert parsed[0].question and not any(m.question for m in parsed[1:])
    assert all(m.rcode() == dns.rcode.NOERROR and m.flags & dns.flags.AA for m in parsed)
    recs = records_of(parsed)
    assert recs[0][2] == "SOA" and recs[-1] == recs[0]
    assert set(recs[1:-1]) | {recs[0]} == zone_records(text)
    assert len(recs) - 1 == len(zone_records(text))
    # owners compressed: each host record is its own 32-octet label, a pointer to the
    # origin, 10 octets of fields and 4 of address (48), not the 59 of a full name
    assert sum(len(m) for m in msgs) < 6000 * 50


def test_axfr_tsig_every_message_chained(big):
    """RFC 8945 5.3.1: each message signed, each MAC chained from the previous one;
    dnspython verifies the whole chain."""
    text, img = big
    db = db_for(img, [(None, "xfr.key.")])
    q = axfr_query("xfr.key.")
    msgs = run(db, q)
    parsed = read_stream(msgs, q, keyring("xfr.key."))
    assert len(parsed) > 1 and all(m.had_tsig for m in parsed)
    assert len(records_of(parsed)) - 1 == len(zone_records(text))
    # a message tampered with breaks the chain
    bad = list(msgs)
    b = bytearray(bad[1])
    b[20] ^= 1
    bad[1] = bytes(b)
    with pytest.raises(Exception):
        read_stream(bad, q, keyring("xfr.key."))


def test_axfr_truncated_algorithm_every_message(big):
    """RFC 8945 6 and 5.3.1: a transfer asked with hmac-sha256-128 is signed so on every
    message (16-octet MACs, each chained from the one before), which dnspython verifies."""
    text, img = big
    db = db_for(img, [(None, "trunc.key.")])
    q = axfr_query("trunc.key.", alg=dns.tsig.HMAC_SHA256_128)
    msgs = run(db, q)
    parsed = read_stream(msgs, q, keyring("trunc.key.", alg=dns.tsig.HMAC_SHA256_128))
    assert len(parsed) > 1
    assert all(len(m.tsig[0].mac) == 16 and m.tsig[0].algorithm == dns.tsig.HMAC_SHA256_128
               for m in parsed)
    assert len(records_of(parsed)) - 1 == len(zone_records(text))


MIXED = "".join([
    "a.b.c.d.e.deep IN A 192.0.2.7\n", "x.b.c.d.e.deep IN AAAA 2001:db8::7\n",
    "Upper.Case IN MX 20 Mail.Example.COM.\n", "out IN NS ns.elsewhere.net.\n",
    "out IN NS ns1.example.com.\n", "ptr IN PTR host-000001-with-a-longer-label\n",
    "alias IN CNAME a.b.c.d.e.deep\n", "_sip._tcp IN SRV 10 60 5060 mail\n",
    # one record of about 30 KiB: it starts beyond every pointer's reach of its message
    "big IN TXT " + " ".join(['"' + "x" * 250 + '"'] * 120) + "\n",
])


@pytest.mark.parametrize("qname", ["example.com.", "EXAMPLE.com."])
def test_axfr_compression_is_exact(qname):
    """The transfer writer (xfr_wire.c) compresses every name against the previous
    owner's suffixes (RFC 1035 4.1.4): deep names, names outside the zone in rdata, a
    record too big to be pointed to, names in another case (kept as written: compared
    octet for octet), the question in another case than the zone (not pointed to)."""
    text = zone_text(7, n=3000, extra=MIXED)
    db = db_for(_core.compile_zone_text("example.com.", text), [(None, "xfr.key.")])
    q = axfr_query("xfr.key.", name=qname)
    msgs = run(db, q)
    assert len(msgs) > 3 and all(len(m) <= 65535 for m in msgs)
    parsed = read_stream(msgs, q, keyring("xfr.key."))
    recs = records_of(parsed)
    assert set(recs) == zone_records(text) and len(recs) - 1 == len(zone_records(text))
    mx = [rd for m in parsed for rrset in m.answer if rrset.rdtype == dns.rdatatype.MX
          for rd in rrset if rrset.name == dns.name.from_text("upper.case.example.com.")]
    assert [rd.exchange.to_text() for rd in mx] == ["Mail.Example.COM."]
    # compressed: a host record is its 32-octet label, a pointer, 10 octets of fields and
    # 4 of address (48; with the whole name 59), the TXT record 30 KiB, the rest a few KiB
    assert sum(len(m) for m in msgs) < 3000 * 50 + 31000 + 4000


@pytest.mark.parametrize("case", ["no-acl", "no-key", "wrong-key", "address", "key-not-named"])
def test_refusals_carry_no_zone_data(big, case):
    """A refused transfer is one message: REFUSED, the question, no records (RFC 5936 4.2)."""
    _, img = big
    acl = {"no-acl": [], "no-key": [(None, "xfr.key.")], "wrong-key": [(None, "xfr.key.")],
           "address": [("192.0.2.0/24", None)], "key-not-named": [("127.0.0.0/8", "xfr.key.")]}[case]
    key = {"wrong-key": "other.key.", "key-not-named": "other.key."}.get(case)
    alg = dns.tsig.HMAC_SHA512 if key == "other.key." else dns.tsig.HMAC_SHA256
    db = db_for(img, acl)
    q = axfr_query(key, alg=alg)
    msgs = run(db, q)
    assert len(msgs) == 1
    m = dns.message.from_wire(msgs[0], keyring=keyring(key, alg=alg) if key else False,
                              request_mac=q.mac if key else b"")
    assert m.rcode() == dns.rcode.REFUSED and not m.answer and not m.authority
    assert m.question[0].name == dns.name.from_text("example.com.")
    events, _ = _core.transfer_events()
    ev = [e for e in events if e["what"] == "refused"][-1]
    assert ev["zone"] == "example.com." and ev["address"] == "127.0.0.1" and ev["key"] == (key and key)


def test_acl_address_and_key(big):
    _, img = big
    db = db_for(img, [("127.0.0.2/32", "xfr.key."), ("10.0.0.0/8", None), ("::1/128", None)])
    assert rcode_of(run(db, axfr_query("xfr.key."), ("127.0.0.2", 5))[0]) == dns.rcode.NOERROR
    assert rcode_of(run(db, axfr_query(), ("127.0.0.2", 5))[0]) == dns.rcode.REFUSED
    assert rcode_of(run(db, axfr_query("xfr.key."), ("127.0.0.3", 5))[0]) == dns.rcode.REFUSED
    assert rcode_of(run(db, axfr_query(), ("10.1.2.3", 5))[0]) == dns.rcode.NOERROR
    assert rcode_of(run(db, axfr_query(), ("::1", 5))[0]) == dns.rcode.NOERROR
    assert rcode_of(run(db, axfr_query(), ("::2", 5))[0]) == dns.rcode.REFUSED
    assert rcode_of(run(db, axfr_query(), ("::ffff:10.0.0.1", 5))[0]) == dns.rcode.NOERROR


@pytest.mark.parametrize("case", ["unknown-key", "wrong-secret", "wrong-alg"])
def test_tsig_failures_left_to_the_engine(big, case):
    """A transfer request whose TSIG fails is not streamed; the engine answers NOTAUTH with
    the TSIG error (RFC 8945 5.2), no zone data."""
    _, img = big
    db = db_for(img, [(None, "xfr.key.")])
    if case == "unknown-key":
        q = axfr_query("nokey.")
    elif case == "wrong-alg":
        q = axfr_query("xfr.key.", alg=dns.tsig.HMAC_SHA1)
    else:
        q = dns.message.make_query("example.com.", "AXFR")
        q.use_tsig({dns.name.from_text("xfr.key."): dns.tsig.Key("xfr.key.", b"wrong", dns.tsig.HMAC_SHA256)},
                   keyname="xfr.key.")
    t = _core.Transfer(db, q.to_wire(), PEER)
    assert not t.started
    m = dns.message.from_wire(_core.answer(db, q.to_wire(), tcp=True), keyring=False)
    assert m.rcode() == dns.rcode.NOTAUTH and not m.answer
    assert m.tsig[0].error == (dns.rcode.BADSIG if case == "wrong-secret" else dns.rcode.BADKEY)


def test_not_apex_or_not_hosted_notauth(big):
    _, img = big
    db = db_for(img, [(None, None)])
    for name in ("www.example.com.", "example.org."):
        msgs = run(db, axfr_query(name=name))
        assert len(msgs) == 1 and rcode_of(msgs[0]) == dns.rcode.NOTAUTH


def test_axfr_over_udp_refused(big):
    _, img = big
    db = db_for(img, [(None, None)])
    m = dns.message.from_wire(_core.answer(db, axfr_query().to_wire(), tcp=False))
    assert m.rcode() == dns.rcode.NOTIMP and not m.answer


def test_max_transfers_busy(big):
    _, img = big
    db = db_for(img, [(None, None)], max_transfers=2)
    a = _core.Transfer(db, axfr_query().to_wire(), PEER)
    b = _core.Transfer(db, axfr_query().to_wire(), PEER)
    next(a), next(b)
    assert _core.transfers_active() >= 2
    c = list(_core.Transfer(db, axfr_query().to_wire(), PEER))
    assert len(c) == 1 and rcode_of(c[0]) == dns.rcode.REFUSED
    a.close()
    list(b)
    assert _core.transfers_active() == 0
    assert len(run(db, axfr_query())) > 1
    events, _ = _core.transfer_events()
    whats = [e["what"] for e in events]
    assert "busy" in whats and "aborted" in whats and "done" in whats


def test_stream_survives_a_newer_database(big):
    """The Transfer keeps its Database (and so the image) alive to the end."""
    text, img = big
    db = db_for(img, [(None, None)])
    q = axfr_query()
    t = _core.Transfer(db, q.to_wire(), PEER)
    first = next(t)
    del db, img
    import gc
    gc.collect()
    rest = list(t)
    recs = records_of(read_stream([first] + rest, q))
    assert len(recs) - 1 == len(zone_records(text))


# ---------------------------------------------------------------------------- IXFR

EXTRA1 = "new1 IN A 192.0.2.100\n"
EXTRA2 = "new2 IN AAAA 2001:db8::2\n"
TEMP = "temp IN A 192.0.2.200\n"           # in version 2 only


def versions():
    t1 = zone_text(1, n=200)
    t2 = zone_text(2, n=200, extra=EXTRA1 + TEMP).replace("txt IN TXT \"hello world\"", "txt IN TXT \"changed\"")
    t3 = zone_text(3, n=199, extra=EXTRA1 + EXTRA2).replace("txt IN TXT \"hello world\"", "txt IN TXT \"changed\"") \
        .replace("@ IN MX 10 mail", "@ 60 IN MX 10 mail")
    return [t1, t2, t3]


def test_zone_diff_merge_walk():
    t1, t2, t3 = versions()
    i1, i2, i3 = (_core.compile_zone_text("example.com.", t) for t in (t1, t2, t3))
    cs, n = _core.zone_diff(i1, i2)
    assert n == 4                          # txt deleted, txt added, new1 and temp added
    _core.journal_check(cs)
    cs2, n2 = _core.zone_diff(i2, i3)
    _core.journal_check(cs + cs2)
    with pytest.raises(ValueError):
        _core.journal_check(cs2 + cs)      # the chain must follow serials
    with pytest.raises(ValueError):
        _core.journal_check(cs[:-3])
    same, n0 = _core.zone_diff(i1, i1)
    assert n0 == 0


@pytest.mark.parametrize("client", [1, 2])
def test_ixfr_from_journal_applies(client):
    """RFC 1995 4: the current SOA, each changeset (old SOA, deletions, new SOA,
    additions), the current SOA; applied to the client's version it gives the current."""
    texts = versions()
    imgs = [_core.compile_zone_text("example.com.", t) for t in texts]
    journal = _core.zone_diff(imgs[0], imgs[1])[0] + _core.zone_diff(imgs[1], imgs[2])[0]
    db = db_for(imgs[2], [(None, "xfr.key.")], journal=journal)
    q = ixfr_query(client, key="xfr.key.")
    parsed = read_stream(run(db, q), q, keyring("xfr.key."))
    recs = records_of(parsed)
    assert recs[0][2] == "SOA" and " 3 " in recs[0][3]
    assert len(recs) < 50                  # a difference, not the zone
    assert apply_ixfr(zone_records(texts[client - 1]), recs) == zone_records(texts[2])
    # RFC 1995 4 condensation: one version step from the client's serial to ours, where
    # the record that version 2 added and version 3 removed does not appear at all
    assert [r[3].split()[2] for r in recs if r[2] == "SOA"] == ["3", str(client), "3", "3"]
    if client == 1:
        assert not [r for r in recs if r[0] == "temp.example.com."]


def test_condense_equals_direct_diff():
    """The condensed chain 1 -> 2 -> 3 holds the same records as the diff 1 -> 3."""
    imgs = [_core.compile_zone_text("example.com.", t) for t in versions()]
    journal = _core.zone_diff(imgs[0], imgs[1])[0] + _core.zone_diff(imgs[1], imgs[2])[0]
    db = db_for(imgs[2], [(None, None)], journal=journal)
    direct = db_for(imgs[2], [(None, None)], journal=_core.zone_diff(imgs[0], imgs[2])[0])
    a = records_of(read_stream(run(db, ixfr_query(1)), ixfr_query(1)))
    b = records_of(read_stream(run(direct, ixfr_query(1)), ixfr_query(1)))
    assert a[0] == b[0] and sorted(a) == sorted(b)


def test_ixfr_unknown_serial_falls_back_to_axfr():
    texts = versions()
    imgs = [_core.compile_zone_text("example.com.", t) for t in texts]
    journal = _core.zone_diff(imgs[1], imgs[2])[0]
    db = db_for(imgs[2], [(None, None)], journal=journal)
    q = ixfr_query(1)
    recs = records_of(read_stream(run(db, q), q))
    assert recs[0] == recs[-1] and len(recs) - 1 == len(zone_records(texts[2]))


def test_ixfr_current_single_soa_tcp_and_udp():
    texts = versions()
    img = _core.compile_zone_text("example.com.", texts[2])
    db = db_for(img, [(None, None)])
    for serial in (3, 4):                  # current, and ahead (RFC 1982)
        msgs = run(db, ixfr_query(serial))
        recs = records_of(read_stream(msgs, ixfr_query(serial)))
        assert len(msgs) == 1 and len(recs) == 1 and recs[0][2] == "SOA"
        m = dns.message.from_wire(_core.answer(db, ixfr_query(serial).to_wire(), tcp=False))
        assert m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1
        assert m.answer[0].rdtype == dns.rdatatype.SOA
    m = dns.message.from_wire(_core.answer(db, ixfr_query(2).to_wire(), tcp=False))
    assert m.flags & dns.flags.TC and not m.answer
    # serial arithmetic wraps (RFC 1982): 0xFFFFFFFF is behind 3
    m = dns.message.from_wire(_core.answer(db, ixfr_query(0xFFFFFFFF).to_wire(), tcp=False))
    assert m.flags & dns.flags.TC


def test_ixfr_udp_acl():
    img = _core.compile_zone_text("example.com.", versions()[2])
    db = db_for(img, [("127.0.0.1/32", None)])
    m = dns.message.from_wire(_core.answer(db, ixfr_query(3).to_wire(), tcp=False))
    assert m.rcode() == dns.rcode.REFUSED and not m.answer
    db = db_for(img, [(None, "xfr.key.")])
    q = ixfr_query(3, key="xfr.key.")
    m = dns.message.from_wire(_core.answer(db, q.to_wire(), tcp=False), keyring=keyring(), request_mac=q.mac)
    assert m.rcode() == dns.rcode.NOERROR and m.answer and m.had_tsig


def test_ixfr_without_soa_formerr():
    img = _core.compile_zone_text("example.com.", versions()[2])
    db = db_for(img, [(None, None)])
    q = dns.message.make_query("example.com.", "IXFR")
    msgs = run(db, q)
    assert len(msgs) == 1 and rcode_of(msgs[0]) == dns.rcode.FORMERR


def test_expired_secondary_copy_is_not_transferred(big):
    # RFC 1034 4.3.5: a secondary whose copy expired serves it to nobody, its own
    # secondaries neither: SERVFAIL, no zone data (as Knot)
    _text, img = big
    db = _core.Database([img], transfers={"example.com.": {"acl": [(None, None)]}},
                        expired=["example.com."])
    msgs = run(db, axfr_query())
    assert len(msgs) == 1
    r = dns.message.from_wire(msgs[0])
    assert r.rcode() == dns.rcode.SERVFAIL and not r.answer


def test_an_empty_drain_imports_no_dns_library():
    """Every daemon drains the transfer event ring every 0.5 s (robdns.xfrout): with no
    transfer out there is nothing to name, and dnspython (with importlib.metadata,
    zipfile, shutil, bz2, lzma) stays out of the process -- a new secondary builds its
    first zone meanwhile, its peak memory measured against Knot's (issue 13)."""
    import os
    import subprocess
    import sys
    code = ("import sys\n"
            "from robdns import _core\n"
            "print(_core.transfer_events(), *sorted(m for m in ('dns', 'shutil', 'zipfile')\n"
            "                                        if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout
    assert out.split() == ["([],", "0)"], out
