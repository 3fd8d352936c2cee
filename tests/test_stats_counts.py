# test_stats_counts.py — the engine's counters: every query counted once under its qtype,
# every response once under its real (extended) rcode, per-zone slots, opcodes.
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype

from robdns import _core
from engine_support import database, query_wire, zone


def _db(**kw):
    return database(zone("example.com.", "www A 192.0.2.1\n"),
                    zone("example.net.", "www A 192.0.2.2\n"),
                    zone("sub.example.com.", "www A 192.0.2.3\n"), **kw)


def test_unknown_type_counts_once_as_other():
    st = _core.EngineStats()
    _core.answer(_db(), query_wire("www.example.com", "TYPE65432"), stats=st)
    n = st.named()
    assert n["queries"] == 1 and n["responses"] == 1
    assert n["qtype"] == {"other": 1}


def test_any_over_tcp_counts_once_as_any():
    st = _core.EngineStats()
    _core.answer(_db(), query_wire("www.example.com", "ANY"), tcp=True, stats=st)
    assert st.named()["qtype"] == {"ANY": 1}


def test_each_named_large_type_in_its_own_bucket():
    st = _core.EngineStats()
    db = _db()
    sent = {"AXFR": 1, "IXFR": 2, "ANY": 1, "CAA": 3, "SVCB": 1, "HTTPS": 2, "A": 1,
            "TYPE300": 1, "TYPE65000": 2}
    for t, n in sent.items():
        for _ in range(n):
            _core.answer(db, query_wire("www.example.com", t), stats=st)
    got = st.named()["qtype"]
    assert got == {"AXFR": 1, "IXFR": 2, "ANY": 1, "CAA": 3, "SVCB": 1, "HTTPS": 2, "A": 1,
                   "other": 3}
    assert sum(got.values()) == st.named()["queries"] == sum(sent.values())


def test_badvers_is_counted_as_badvers():
    # RFC 6891 6.1.3: EDNS version 1 is answered BADVERS, extended rcode 16; its low four
    # bits alone (0) are not the rcode.
    st = _core.EngineStats()
    q = dns.message.make_query("www.example.com", "A", use_edns=1)
    r = dns.message.from_wire(_core.answer(_db(), q.to_wire(), stats=st))
    assert r.rcode() == dns.rcode.BADVERS
    assert st.named()["rcode"] == {"BADVERS": 1}
    assert st.as_dict()["rcode"] == {16: 1}


def test_rcodes_sum_to_responses():
    st = _core.EngineStats()
    db = _db()
    for name in ("www.example.com", "nx.example.com", "www.example.org", "www.example.net"):
        _core.answer(db, query_wire(name, "A"), stats=st)
    _core.answer(db, b"\x00" * 5, stats=st)
    n = st.named()
    assert n["rcode"] == {"NOERROR": 2, "NXDOMAIN": 1, "REFUSED": 1}
    assert n["queries"] == 5 and n["dropped"] == 1 and sum(n["rcode"].values()) == n["responses"]


def test_zone_slots_count_queries_by_most_specific_zone():
    db = _db(zone_slots={"example.com.": 1, "sub.example.com.": 2})
    for batch in (False, True):
        st = _core.EngineStats()
        qs = [query_wire(n, "A") for n in ("www.example.com", "a.b.example.com",
                                           "www.sub.example.com", "www.example.net",
                                           "www.example.org")]
        qs.append(query_wire("www.example.com", "A", want_dnssec=True))
        if batch:
            _core.answer_batch(db, qs, stats=st)
        else:
            for q in qs:
                _core.answer(db, q, stats=st)
        # example.net has no slot: slot 0; example.org is not ours: no zone at all.
        assert st.as_dict()["zones"] == {1: 3, 2: 1, 0: 1}


def test_no_zone_counting_without_slots():
    st = _core.EngineStats()
    _core.answer(_db(), query_wire("www.example.com", "A"), stats=st)
    assert st.as_dict()["zones"] == {}


def test_notify_is_counted_by_opcode():
    st = _core.EngineStats()
    q = dns.message.make_query("example.com", "SOA")
    q.set_opcode(dns.opcode.NOTIFY)
    _core.answer(_db(), q.to_wire(), stats=st)
    _core.answer(_db(), query_wire("www.example.com", "A"), stats=st)
    assert st.named()["opcode"] == {"NOTIFY": 1, "QUERY": 1}


def test_types_below_63_keep_their_names():
    st = _core.EngineStats()
    db = _db()
    for t in ("A", "AAAA", "MX", "TXT", "NS", "SOA", "DS", "DNSKEY"):
        _core.answer(db, query_wire("www.example.com", t), stats=st)
    assert st.named()["qtype"] == {t: 1 for t in ("A", "AAAA", "MX", "TXT", "NS", "SOA",
                                                  "DS", "DNSKEY")}
    assert dns.rdatatype.DNSKEY < 63
