# test_engine_wire.py — the engine's message handling: header checks, FORMERR/NOTIMP/REFUSED,
# EDNS(0), truncation, compression, CHAOS and counters (RFC 1035, RFC 6891, RFC 2181 9).
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import pytest

from robdns import _core
from engine_support import ask, ask_wire, database, flags, query_wire, rcode, zone

BIG_TXT = "".join(f'big TXT "{"x" * 40}{i:03d}"\n' for i in range(60))


@pytest.fixture(scope="module")
def db():
    z = zone("example.com.", "www A 192.0.2.1\nmx MX 10 www\nsrv SRV 0 0 80 www\n"
             "dn DNAME target.example.net.\n" + BIG_TXT)
    return database(z, identity="ns-test-1", version="robdns 0.1", nsid=b"node-7")


@pytest.fixture(scope="module")
def db_plain():
    return database(zone("example.com.", "www A 192.0.2.1\n"))


def header(wire):
    return struct.unpack("!HHHHHH", wire[:12])


# ---- no response at all -------------------------------------------------------------

@pytest.mark.parametrize("n", range(12))
def test_shorter_than_a_header_gets_nothing(db, n):
    # RFC 1035 4.1.1: a message starts with a 12-octet header; less cannot be answered.
    assert _core.answer(db, query_wire("www.example.com")[:n]) == b""


def test_response_bit_set_gets_nothing(db):
    # RFC 1035 4.1.1: QR=1 is a response; answering it invites loops.
    w = bytearray(query_wire("www.example.com"))
    w[2] |= 0x80
    assert _core.answer(db, bytes(w)) == b""


# ---- opcodes and header errors --------------------------------------------------------

@pytest.mark.parametrize("opcode,expected", [(1, "NOTIMP"), (2, "NOTIMP"),
                                             (5, "NOTIMP"), (15, "NOTIMP")])
def test_other_opcodes(db, opcode, expected):
    # RFC 1035 4.1.1 NOTIMP for kinds of query we do not support; header only (as NSD),
    # ID and opcode echoed.
    w = bytearray(query_wire("www.example.com"))
    w[2] = (w[2] & 0x87) | (opcode << 3)
    r = _core.answer(db, bytes(w))
    qid, fl, qd, an, ns, ar = header(r)
    assert qid == header(w)[0]
    assert fl & 0x8000 and (fl >> 11) & 0xF == opcode
    assert dns.rcode.to_text(fl & 0xF) == expected
    assert (qd, an, ns, ar) == (0, 0, 0, 0) and len(r) == 12


def test_notify_is_notauth_with_question(db):
    # RFC 1996: no secondary zones here, so NOTIFY is NOTAUTH (as Knot), question echoed.
    w = bytearray(query_wire("www.example.com"))
    w[2] = (w[2] & 0x87) | (4 << 3)
    m = ask_wire(db, bytes(w))
    assert m.opcode() == 4 and rcode(m) == "NOTAUTH"
    assert [str(q.name) for q in m.question] == ["www.example.com."]


def test_trailing_bytes_are_formerr(db):
    # Bytes after the last record the counts announce: FORMERR with the question (Knot).
    m = ask_wire(db, query_wire("www.example.com") + b"\x00\x00")
    assert rcode(m) == "FORMERR" and len(m.question) == 1


def test_opt_outside_additional_is_formerr(db):
    # RFC 6891 6.1.1: OPT only in the additional section.
    w = bytearray(query_wire("www.example.com", use_edns=0))
    w[6:8], w[10:12] = b"\x00\x01", b"\x00\x00"
    assert rcode(ask_wire(db, bytes(w))) == "FORMERR"


@pytest.mark.parametrize("qdcount", [0, 2, 65535])
def test_qdcount_other_than_one_is_formerr(db, qdcount):
    # RFC 1035 4.1.2 / RFC 9619: exactly one question.
    w = bytearray(query_wire("www.example.com"))
    w[4:6] = struct.pack("!H", qdcount)
    r = _core.answer(db, bytes(w))
    assert header(r)[1] & 0xF == 1 and header(r)[2] == 0


def name_query(qname_wire, tail=b"\x00\x01\x00\x01"):
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + qname_wire + tail


@pytest.mark.parametrize("qname", [
    b"\xc0\x0c",                                     # pointer to itself: a loop
    b"\x03www\xc0\x0c",                              # pointer in the question
    b"\x03www\xc0\x10",                              # forward pointer
    b"\x40" + b"a" * 64 + b"\x00",                   # 64-octet label (RFC 1035 2.3.4)
    b"\x80abc\x00",                                  # reserved label type
    (b"\x3f" + b"a" * 63) * 4 + b"\x00",             # 257 octets (RFC 1035 2.3.4: 255)
    b"\x03www\x07exam",                              # runs past the end
])
def test_malformed_question_is_formerr(db, qname):
    r = _core.answer(db, name_query(qname, b"" if qname.endswith(b"exam") else b"\x00\x01\x00\x01"))
    qid, fl, qd, an, ns, ar = header(r)
    assert qid == 0x1234 and fl & 0x8000 and fl & 0xF == 1
    assert (qd, an, ns, ar) == (0, 0, 0, 0)


def test_name_of_exactly_255_octets_is_accepted(db):
    # RFC 1035 2.3.4: 255 octets is the limit, inclusive.
    qname = (b"\x3f" + b"a" * 63) * 3 + b"\x3d" + b"a" * 61 + b"\x00"
    assert len(qname) == 255
    m = ask_wire(db, name_query(qname))
    assert rcode(m) == "REFUSED"          # well formed, just not ours


def test_missing_type_and_class_is_formerr(db):
    r = _core.answer(db, name_query(b"\x03www\x00", b"\x00\x01"))
    assert header(r)[1] & 0xF == 1


@pytest.mark.parametrize("field", [6, 8, 10])
def test_counts_overrunning_the_packet_are_formerr(db, field):
    # RFC 1035 4.1.1: the counts promise records that are not there.
    w = bytearray(query_wire("www.example.com"))
    w[field:field + 2] = b"\x00\x01"
    m = ask_wire(db, bytes(w))
    assert rcode(m) == "FORMERR"
    assert [str(q.name) for q in m.question] == ["www.example.com."]   # question echoed
    assert m.edns < 0


def test_compression_loop_in_additional_owner_does_not_hang(db):
    # A pointer loop outside the question: the name ends at the first pointer we meet,
    # so the record is skipped or rejected, never followed forever.
    w = query_wire("www.example.com")
    w = bytearray(w)
    w[10:12] = b"\x00\x01"
    loop_at = len(w)
    w += struct.pack("!H", 0xC000 | loop_at) + struct.pack("!HHIH", 16, 1, 0, 0)
    m = ask_wire(db, bytes(w))
    assert rcode(m) in ("NOERROR", "FORMERR")


def test_answer_section_records_in_a_query_are_skipped(db):
    # RFC 1035 4.1: other sections may carry records (e.g. IXFR's SOA); well-formed ones
    # do not stop the answer.
    q = dns.message.make_query("www.example.com", "A")
    q.answer.append(dns.rrset.from_text("www.example.com.", 60, "IN", "A", "192.0.2.9"))
    m = ask_wire(db, q.to_wire())
    assert rcode(m) == "NOERROR" and len(m.answer) == 1


# ---- EDNS(0), RFC 6891 ----------------------------------------------------------------

def test_no_edns_in_query_means_no_opt_in_response(db):
    m = ask(db, "www.example.com", "A")
    assert m.edns == -1


def test_edns_opt_in_response_with_our_payload(db):
    # RFC 6891 6.1.1: a responder that sees OPT includes one; 6.2.3: its payload is ours.
    m = ask(db, "www.example.com", "A", use_edns=0, payload=4096)
    assert m.edns == 0 and m.payload == 1232


@pytest.mark.parametrize("payload", [512, 1232, 65535])
def test_edns_payload_ceiling_configurable(payload):
    d = database(zone("example.com.", "www A 192.0.2.1\n"), max_udp_payload=payload)
    m = ask(d, "www.example.com", "A", use_edns=0, payload=4096)
    assert m.payload == payload


def test_badvers_for_version_above_zero(db):
    # RFC 6891 6.1.3: version not implemented -> BADVERS (16) with an OPT of version 0.
    m = ask(db, "www.example.com", "A", use_edns=1)
    assert m.rcode() == dns.rcode.BADVERS
    assert m.edns == 0 and not m.answer
    assert [str(q.name) for q in m.question] == ["www.example.com."]


def test_do_bit_echoed(db):
    # RFC 3225 3: DO is copied into the response OPT.
    m = ask(db, "www.example.com", "A", use_edns=0, want_dnssec=True)
    assert m.ednsflags & dns.flags.DO
    m = ask(db, "www.example.com", "A", use_edns=0)
    assert not m.ednsflags & dns.flags.DO


def test_two_opt_records_are_formerr(db):
    # RFC 6891 6.1.1: more than one OPT -> FORMERR.
    w = bytearray(query_wire("www.example.com", use_edns=0))
    opt = bytes(w[-11:])
    w += opt
    w[10:12] = b"\x00\x02"
    m = ask_wire(db, bytes(w))
    assert rcode(m) == "FORMERR" and m.edns == -1


def test_opt_with_non_root_owner_still_edns(db):
    # RFC 6891 6.1.2 wants the root as owner; Knot answers such a query normally.
    w = bytearray(query_wire("www.example.com", use_edns=0))
    w = w[:-11] + b"\x01a\x00" + w[-10:]
    m = ask_wire(db, bytes(w))
    assert rcode(m) == "NOERROR" and m.edns == 0 and len(m.answer) == 1


def test_option_overrunning_the_opt_is_formerr(db):
    w = bytearray(query_wire("www.example.com", use_edns=0))
    w[-2:] = b"\x00\x04"
    w += b"\x00\x0a\x00\x05abcd"        # option claims 5 octets, rdlen leaves it 0
    assert rcode(ask_wire(db, bytes(w))) == "FORMERR"


def test_unknown_options_ignored(db):
    # RFC 6891 6.1.2: unknown options MUST be ignored.
    m = ask(db, "www.example.com", "A", use_edns=0,
            options=[dns.edns.GenericOption(65001, b"xyz")])
    assert rcode(m) == "NOERROR" and len(m.answer) == 1
    assert not m.options


def test_nsid_when_asked_and_configured(db, db_plain):
    # RFC 5001 2.3: NSID only when the client asked for it.
    m = ask(db, "www.example.com", "A", use_edns=0, options=[dns.edns.GenericOption(3, b"")])
    assert [(o.otype, o.to_wire() if hasattr(o, "to_wire") else None) for o in m.options][0][0] == 3
    assert m.options[0].to_wire() == b"node-7"
    assert not ask(db, "www.example.com", "A", use_edns=0).options
    m = ask(db_plain, "www.example.com", "A", use_edns=0, options=[dns.edns.GenericOption(3, b"")])
    assert not m.options


# ---- truncation, RFC 2181 9 and RFC 1035 4.2.1 ----------------------------------------

def test_udp_without_edns_truncates_at_512(db):
    m = ask(db, "big.example.com", "TXT")
    assert "TC" in flags(m) and not m.answer and len(m.wire) <= 512
    assert [str(q.name) for q in m.question] == ["big.example.com."]


def test_edns_payload_clamped_to_ours(db):
    # RFC 6891 6.2.5: the client's 4096 is clamped to our 1232.
    m = ask(db, "big.example.com", "TXT", use_edns=0, payload=4096)
    assert "TC" in flags(m) and len(m.wire) <= 1232 and m.edns == 0


def test_edns_payload_below_512_treated_as_512(db):
    # RFC 6891 6.2.5: values below 512 are treated as 512.
    m = ask(db, "www.example.com", "A", use_edns=0, payload=100)
    assert rcode(m) == "NOERROR" and len(m.answer) == 1


def test_tcp_takes_the_whole_rrset(db):
    m = ask(db, "big.example.com", "TXT", tcp=True)
    assert "TC" not in flags(m)
    assert len(m.answer) == 1 and len(m.answer[0]) == 60


def test_truncation_keeps_whole_rrsets_with_large_buffer():
    d = database(zone("example.com.", BIG_TXT), max_udp_payload=4096)
    m = ask(d, "big.example.com", "TXT", use_edns=0, payload=4096)
    assert "TC" not in flags(m) and len(m.answer[0]) == 60 and len(m.wire) <= 4096


# ---- compression and the question -----------------------------------------------------

def test_answer_owner_points_at_question(db):
    # RFC 1035 4.1.4: the answer owner is compressed to the question name at offset 12.
    m = ask(db, "www.example.com", "A")
    qend = 12 + len(b"\x03www\x07example\x03com\x00") + 4
    assert m.wire[qend:qend + 2] == b"\xc0\x0c"


def test_question_echoed_in_client_case(db):
    m = ask(db, "WwW.ExAmPlE.CoM", "A")
    assert m.wire[12:12 + 17] == b"\x03WwW\x07ExAmPlE\x03CoM\x00"
    assert rcode(m) == "NOERROR" and len(m.answer) == 1


def test_mx_target_compressed_srv_and_dname_targets_not(db):
    # RFC 3597 4: only RFC 1035 types get compressed rdata; SRV (RFC 2782) and DNAME
    # (RFC 6672 2.5) carry their target uncompressed.
    m = ask(db, "mx.example.com", "MX")
    assert b"\x03www\xc0" in m.wire
    m = ask(db, "srv.example.com", "SRV")
    assert b"\x03www\x07example\x03com\x00" in m.wire
    m = ask(db, "x.dn.example.com", "A")
    assert b"\x06target\x07example\x03net\x00" in m.wire


def test_rd_copied_ra_ad_cd_clear(db):
    # RFC 1035 4.1.1: RD is copied.  CD, AD and RA stay clear: Knot and NSD do not echo CD.
    w = bytearray(query_wire("www.example.com"))
    w[2] |= 0x01
    w[3] |= 0x10 | 0x20
    r = _core.answer(db, bytes(w))
    assert r[2] & 0x01
    assert not r[3] & 0x80 and not r[3] & 0x20 and not r[3] & 0x10


# ---- zone transfers and classes ---------------------------------------------------------

def test_axfr_over_udp_is_notimp_and_over_tcp_notauth(db):
    # RFC 5936 4.2 (AXFR only over TCP); Knot and NSD answer NOTIMP over UDP. We do not
    # serve transfers: NOTAUTH over TCP as Knot does.
    assert rcode(ask(db, "example.com", "AXFR")) == "NOTIMP"
    assert rcode(ask(db, "example.com", "AXFR", tcp=True)) == "NOTAUTH"


@pytest.mark.parametrize("name", ["example.com", "www.example.com", "example.org"])
def test_ixfr_notauth(db, name):
    # Knot and NSD both answer NOTAUTH to IXFR for names they do not transfer; the apex
    # of a zone whose allow_transfer does not admit the client is REFUSED over UDP (over
    # TCP xfr.c answers; the engine's fallback there stays NOTAUTH).
    for tcp in (False, True):
        m = ask(db, name, "IXFR", tcp=tcp)
        want = "REFUSED" if name == "example.com" and not tcp else "NOTAUTH"
        assert rcode(m) == want and "AA" not in flags(m)


def test_qtype_zero_is_notimp(db):
    # Type 0 is reserved (RFC 6895 3.1); Knot answers NOTIMP.
    m = ask(db, "www.example.com", 0)
    assert rcode(m) == "NOTIMP" and not m.answer and "AA" not in flags(m)


def test_refused_outside_zones_carries_ede_20(db):
    # RFC 8914 4.21 "Not Authoritative", as Knot and NSD add it under EDNS.
    m = ask(db, "www.example.org", "A", use_edns=0)
    assert rcode(m) == "REFUSED"
    assert [(o.otype, o.to_wire()) for o in m.options] == [(15, b"\x00\x14")]
    assert ask(db, "www.example.org", "A").edns == -1


def test_class_any_answered_like_in(db):
    m = ask(db, "www.example.com", "A", rdclass="ANY")
    assert rcode(m) == "NOERROR" and len(m.answer) == 1 and "AA" in flags(m)


@pytest.mark.parametrize("rdclass", ["HS", "NONE", 1234])
def test_other_classes_refused(db, rdclass):
    m = ask(db, "www.example.com", "A", rdclass=rdclass)
    assert rcode(m) == "REFUSED" and not m.answer


# ---- CHAOS ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,text", [("version.bind", "robdns 0.1"),
                                       ("VERSION.server", "robdns 0.1"),
                                       ("id.server", "ns-test-1"),
                                       ("hostname.bind", "ns-test-1")])
def test_chaos_identity(db, name, text):
    m = ask(db, name, "TXT", rdclass="CH")
    assert rcode(m) == "NOERROR" and "AA" not in flags(m)
    assert [rr.to_text() for rr in m.answer[0]] == [f'"{text}"']
    assert m.answer[0].rdclass == dns.rdataclass.CH
    assert str(m.answer[0].name).lower() == name.lower() + "."


@pytest.mark.parametrize("name,rdtype", [("version.bind", "TXT"), ("id.server", "TXT"),
                                         ("hostname.bind", "TXT")])
def test_chaos_off_by_default_refused(db_plain, name, rdtype):
    assert rcode(ask(db_plain, name, rdtype, rdclass="CH")) == "REFUSED"


@pytest.mark.parametrize("name,rdtype", [("version.bind", "A"), ("foo.bind", "TXT"),
                                         ("www.example.com", "A")])
def test_chaos_other_names_refused(db, name, rdtype):
    assert rcode(ask(db, name, rdtype, rdclass="CH")) == "REFUSED"


def test_long_version_split_into_character_strings():
    d = database(zone("example.com.", ""), version="v" * 255)
    m = ask(d, "version.bind", "TXT", rdclass="CH")
    assert b"".join(m.answer[0][0].strings) == b"v" * 255


# ---- counters ---------------------------------------------------------------------------

def test_stats_count_queries_rcodes_and_types(db):
    st = _core.EngineStats()
    _core.answer(db, query_wire("www.example.com", "A"), stats=st)
    _core.answer(db, query_wire("nx.example.com", "AAAA", use_edns=0, want_dnssec=True), stats=st)
    _core.answer(db, query_wire("example.com", "AXFR"), tcp=True, stats=st)
    _core.answer(db, query_wire("big.example.com", "TXT"), stats=st)
    _core.answer(db, b"\x00" * 5, stats=st)
    w = bytearray(query_wire("www.example.com"))
    w[4:6] = b"\x00\x00"
    _core.answer(db, bytes(w), stats=st)
    s = st.as_dict()
    assert s["queries"] == 6 and s["responses"] == 5 and s["dropped"] == 1
    assert s["udp"] == 5 and s["tcp"] == 1
    assert s["rcode"] == {0: 2, 3: 1, 9: 1, 1: 1}
    # AXFR (252) is counted once, under its name, not also as "other" (63).
    assert s["qtype"] == {1: 1, 28: 1, 16: 1}
    assert s["qtype_other"] == {"AXFR": 1}
    assert s["edns"] == 1 and s["do"] == 1 and s["truncated"] == 1 and s["malformed"] == 1


# ---- Database -----------------------------------------------------------------------------

def test_database_validates_its_arguments():
    z = zone("example.com.", "")
    with pytest.raises(TypeError):
        _core.Database(["example.com."])
    with pytest.raises(ValueError):
        _core.Database([z, z])
    with pytest.raises(ValueError):
        _core.Database([z], nsid=b"x" * 129)
    with pytest.raises(ValueError):
        _core.Database([z], version="v" * 256)
    with pytest.raises(ValueError):
        _core.Database([z], max_udp_payload=100)


def test_database_generations_increase_and_zones_kept():
    z = zone("example.com.", "")
    a, b = _core.Database([z]), _core.Database([z])
    assert b.generation > a.generation
    assert a.zones == (z,)


def test_empty_database_refuses(db):
    d = _core.Database([])
    assert rcode(ask(d, "www.example.com", "A")) == "REFUSED"


def test_name_as_deep_as_a_zone_but_longer_is_refused(db):
    # Same label count as example.com. but longer labels: the zone match must compare
    # lengths before bytes (found by the libFuzzer harness as an over-read).
    m = ask(db, "x" * 60 + ".com", "A")
    assert rcode(m) == "REFUSED"
    m = ask(db, "example.comx", "A")
    assert rcode(m) == "REFUSED"
