# test_engine_semantics.py — table-driven answers of the engine from hosted zones: RFC 1034
# 4.3.2 across zones, negative answers (RFC 2308), referrals and DS (RFC 4035 3.1.4.1),
# CNAME/DNAME chains (RFC 6672), ANY (RFC 8482), additional-section addresses.
import pytest

from engine_support import ask, database, flags, rcode, raw_zone, rrset_texts

PARENT = """$ORIGIN example.com.
$TTL 3600
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
@ NS ns2.example.net.
@ MX 10 mail
@ MX 20 mail.example.net.
ns1 A 192.0.2.1
ns1 AAAA 2001:db8::1
mail A 192.0.2.3
www A 192.0.2.4
www TXT "hello"
c1 CNAME c2
c2 CNAME c3
c3 CNAME c4
c4 CNAME c5
c5 CNAME c6
c6 CNAME c7
c7 CNAME www
chain2 CNAME c6
loop1 CNAME loop2
loop2 CNAME loop1
toout CNAME www.example.org.
tonx CNAME nothere
todeleg CNAME host.sub
sub NS ns.sub
sub NS ns1
sub NS ns.sibling
sub DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.sub A 192.0.2.10
sibling A 192.0.2.11
ns.sibling A 192.0.2.12
a.b.ent A 192.0.2.5
dn DNAME example.org.
dn2 DNAME dest
x.dest A 192.0.2.7
long DNAME aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.
srv SRV 0 0 80 www
srvout SRV 0 0 80 www.example.org.
child NS ns1.child
ns1.child A 192.0.2.20
lowttl 60 A 192.0.2.60
svc SVCB 1 www alpn=h2
alias HTTPS 0 www
svcself SVCB 1 . alpn=h2
bigmx MX 10 bigaddr
bigmx MX 20 www
dnlong DNAME aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.example.com.
""" + "".join(f"bigaddr A 198.51.100.{i}\n" for i in range(1, 60))

CHILD = """$ORIGIN child.example.com.
$TTL 600
@ SOA ns1 hm 7 7200 3600 1209600 60
@ NS ns1
ns1 A 192.0.2.20
www A 192.0.2.21
"""

OTHER = """$ORIGIN example.org.
$TTL 600
@ SOA ns1.example.org. hm.example.org. 1 7200 3600 1209600 900
@ NS ns1.example.org.
ns1 A 198.51.100.1
www A 198.51.100.2
"""

NEG_SOA = "example.com. 300 in soa ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300"


@pytest.fixture(scope="module")
def db():
    return database(raw_zone("example.com.", PARENT), raw_zone("child.example.com.", CHILD),
                    raw_zone("example.org.", OTHER))


def answer_texts(m):
    return rrset_texts(m.answer)


# ---- RFC 1034 4.3.2 across zones ---------------------------------------------------------

def test_positive_answer_is_authoritative(db):
    m = ask(db, "www.example.com", "A")
    assert rcode(m) == "NOERROR" and "AA" in flags(m)                  # 4.3.2 step 3a
    assert answer_texts(m) == {"www.example.com. 3600 in a 192.0.2.4"}
    assert not m.authority and not m.additional                        # minimal, as Knot


def test_names_outside_every_zone_refused(db):
    m = ask(db, "www.example.net", "A")                                 # 4.3.2 step 2
    assert rcode(m) == "REFUSED" and "AA" not in flags(m) and not m.answer


def test_most_specific_zone_answers(db):
    m = ask(db, "www.child.example.com", "A")                           # 4.3.2 step 2
    assert "AA" in flags(m)
    assert answer_texts(m) == {"www.child.example.com. 600 in a 192.0.2.21"}
    m = ask(db, "nx.child.example.com", "A")
    assert rcode(m) == "NXDOMAIN"
    assert rrset_texts(m.authority) == {
        "child.example.com. 60 in soa ns1.child.example.com. hm.child.example.com. 7 7200 3600 1209600 60"}


def test_child_apex_ns_answered_by_child(db):
    m = ask(db, "child.example.com", "NS")
    assert "AA" in flags(m)
    assert answer_texts(m) == {"child.example.com. 600 in ns ns1.child.example.com."}
    assert rrset_texts(m.additional) == {"ns1.child.example.com. 600 in a 192.0.2.20"}


# ---- negative answers, RFC 2308 -------------------------------------------------------

def test_nxdomain_with_soa_and_negative_ttl(db):
    m = ask(db, "nothere.example.com", "A")
    assert rcode(m) == "NXDOMAIN" and "AA" in flags(m) and not m.answer
    # RFC 2308 3 and 5: SOA in authority, TTL = min(SOA TTL 3600, MINIMUM 300).
    assert rrset_texts(m.authority) == {NEG_SOA}


def test_nodata_with_soa(db):
    m = ask(db, "www.example.com", "AAAA")
    assert rcode(m) == "NOERROR" and "AA" in flags(m) and not m.answer   # RFC 2308 2.2
    assert rrset_texts(m.authority) == {NEG_SOA}


def test_negative_ttl_is_soa_ttl_when_lower(db):
    m = ask(db, "nx.example.org", "A")
    # RFC 2308 5: min(SOA TTL 600, MINIMUM 900) = 600.
    assert [rr.ttl for rr in m.authority] == [600]


@pytest.mark.parametrize("name", ["ent.example.com", "b.ent.example.com"])
def test_empty_non_terminals_are_nodata(db, name):
    # RFC 8020 / RFC 4592 2.2.2: an ENT exists: NODATA, never NXDOMAIN.
    m = ask(db, name, "A")
    assert rcode(m) == "NOERROR" and not m.answer
    assert rrset_texts(m.authority) == {NEG_SOA}


def test_below_an_ent_is_nxdomain(db):
    assert rcode(ask(db, "x.b.ent.example.com", "A")) == "NXDOMAIN"


# ---- referrals and DS ------------------------------------------------------------------

REFERRAL_NS = {"sub.example.com. 3600 in ns ns.sub.example.com.",
               "sub.example.com. 3600 in ns ns1.example.com.",
               "sub.example.com. 3600 in ns ns.sibling.example.com."}


@pytest.mark.parametrize("name,rdtype", [("host.sub.example.com", "A"),
                                         ("sub.example.com", "NS"),
                                         ("sub.example.com", "A"),
                                         ("ns.sub.example.com", "A"),
                                         ("deep.x.sub.example.com", "DS")])
def test_referral_at_a_cut(db, name, rdtype):
    m = ask(db, name, rdtype)
    # RFC 1034 4.3.2 3b: not authoritative, NS in authority, glue in additional.
    assert rcode(m) == "NOERROR" and "AA" not in flags(m) and not m.answer
    assert rrset_texts(m.authority) == REFERRAL_NS
    # in-bailiwick glue and sibling glue (ns.sibling) and the in-zone ns1 addresses
    assert rrset_texts(m.additional) == {
        "ns.sub.example.com. 3600 in a 192.0.2.10",
        "ns1.example.com. 3600 in a 192.0.2.1",
        "ns1.example.com. 3600 in aaaa 2001:db8::1",
        "ns.sibling.example.com. 3600 in a 192.0.2.12"}


def test_ds_answered_by_parent_at_the_cut(db):
    m = ask(db, "sub.example.com", "DS")
    # RFC 4035 3.1.4.1: the parent side answers DS authoritatively.
    assert rcode(m) == "NOERROR" and "AA" in flags(m)
    assert len(m.answer) == 1 and m.answer[0].rdtype == 43


def test_ds_of_hosted_child_answered_by_parent(db):
    # RFC 4035 3.1.4.1: with both zones hosted, DS comes from the parent (NODATA here).
    m = ask(db, "child.example.com", "DS")
    assert rcode(m) == "NOERROR" and "AA" in flags(m) and not m.answer
    assert rrset_texts(m.authority) == {NEG_SOA}


def test_ds_at_apex_without_hosted_parent(db):
    m = ask(db, "example.com", "DS")
    assert rcode(m) == "NOERROR" and not m.answer
    assert rrset_texts(m.authority) == {NEG_SOA}


# ---- CNAME ---------------------------------------------------------------------------------

def test_cname_followed_inside_the_zone(db):
    m = ask(db, "chain2.example.com", "A")
    assert rcode(m) == "NOERROR" and "AA" in flags(m)           # RFC 1034 4.3.2 3a
    assert answer_texts(m) == {"chain2.example.com. 3600 in cname c6.example.com.",
                               "c6.example.com. 3600 in cname c7.example.com.",
                               "c7.example.com. 3600 in cname www.example.com.",
                               "www.example.com. 3600 in a 192.0.2.4"}


def test_cname_chain_bounded_like_knot(db):
    # Knot puts at most 5 CNAMEs in an answer (c1..c5); the 6th is not followed.
    m = ask(db, "c1.example.com", "A")
    assert rcode(m) == "NOERROR"
    assert [rr.name.to_text() for rr in m.answer] == [f"c{i}.example.com." for i in range(1, 6)]


def test_cname_loop_stops(db):
    m = ask(db, "loop1.example.com", "A")
    assert rcode(m) == "NOERROR"
    assert answer_texts(m) == {"loop1.example.com. 3600 in cname loop2.example.com.",
                               "loop2.example.com. 3600 in cname loop1.example.com."}


def test_cname_query_is_not_followed(db):
    m = ask(db, "c7.example.com", "CNAME")
    assert answer_texts(m) == {"c7.example.com. 3600 in cname www.example.com."}


def test_cname_out_of_zone_not_followed(db):
    # Knot follows only inside the zone, even when the target zone is hosted too.
    m = ask(db, "toout.example.com", "A")
    assert rcode(m) == "NOERROR" and "AA" in flags(m)
    assert answer_texts(m) == {"toout.example.com. 3600 in cname www.example.org."}


def test_cname_to_nxdomain(db):
    # RFC 6604 3: the rcode is that of the last name in the chain.
    m = ask(db, "tonx.example.com", "A")
    assert rcode(m) == "NXDOMAIN"
    assert answer_texts(m) == {"tonx.example.com. 3600 in cname nothere.example.com."}
    assert rrset_texts(m.authority) == {NEG_SOA}


def test_cname_into_delegation(db):
    m = ask(db, "todeleg.example.com", "A")
    assert "AA" in flags(m)                        # the CNAME is ours (Knot keeps AA)
    assert answer_texts(m) == {"todeleg.example.com. 3600 in cname host.sub.example.com."}
    assert rrset_texts(m.authority) == REFERRAL_NS


# ---- DNAME, RFC 6672 ------------------------------------------------------------------------

def test_dname_synthesis(db):
    m = ask(db, "a.b.DN.example.com", "A")
    # RFC 6672 3.2: the DNAME, then a CNAME synthesized with the DNAME's TTL.
    assert rcode(m) == "NOERROR" and "AA" in flags(m)
    assert answer_texts(m) == {"dn.example.com. 3600 in dname example.org.",
                               "a.b.dn.example.com. 3600 in cname a.b.example.org."}


def test_dname_target_in_zone_is_followed(db):
    m = ask(db, "x.dn2.example.com", "A")
    assert answer_texts(m) == {"dn2.example.com. 3600 in dname dest.example.com.",
                               "x.dn2.example.com. 3600 in cname x.dest.example.com.",
                               "x.dest.example.com. 3600 in a 192.0.2.7"}
    m = ask(db, "y.dn2.example.com", "A")
    assert rcode(m) == "NXDOMAIN" and len(m.answer) == 2


def test_dname_owner_itself_is_not_rewritten(db):
    m = ask(db, "dn.example.com", "A")
    assert rcode(m) == "NOERROR" and not m.answer            # RFC 6672 2.3
    m = ask(db, "dn.example.com", "DNAME")
    assert answer_texts(m) == {"dn.example.com. 3600 in dname example.org."}


def test_dname_overflow_is_yxdomain(db):
    # RFC 6672 2.2: a synthesized name over 255 octets -> YXDOMAIN.
    name = ".".join(["b" * 60] * 2) + ".long.example.com"
    m = ask(db, name, "A")
    assert rcode(m) == "YXDOMAIN"
    assert rrset_texts(m.answer) == {
        "long.example.com. 3600 in dname " + ".".join(["a" * 62] * 3) + "."}


# ---- ANY, RFC 8482 ----------------------------------------------------------------------

@pytest.mark.parametrize("tcp", [False, True])
def test_any_minimal_one_rrset(db, tcp):
    # RFC 8482 4.1: one RRset; like Knot the lowest type (NS at the apex), also over TCP.
    m = ask(db, "example.com", "ANY", tcp=tcp)
    assert rcode(m) == "NOERROR" and "AA" in flags(m)
    assert len(m.answer) == 1 and m.answer[0].rdtype == 2
    m = ask(db, "www.example.com", "ANY", tcp=tcp)
    assert answer_texts(m) == {"www.example.com. 3600 in a 192.0.2.4"}


def test_any_full_when_minimal_off():
    d = database(raw_zone("example.com.", PARENT), minimal_any=False)
    m = ask(d, "www.example.com", "ANY")
    assert {rr.rdtype for rr in m.answer} == {1, 16}


def test_any_on_ent_is_nodata(db):
    m = ask(db, "ent.example.com", "ANY")
    assert rcode(m) == "NOERROR" and not m.answer and rrset_texts(m.authority) == {NEG_SOA}


# ---- additional section ----------------------------------------------------------------------

def test_mx_targets_addresses_in_additional(db):
    m = ask(db, "example.com", "MX")
    # RFC 1035 3.3.9: A of in-zone exchanges; the out-of-zone one gets nothing.
    assert rrset_texts(m.additional) == {"mail.example.com. 3600 in a 192.0.2.3"}


def test_srv_target_addresses_in_additional(db):
    m = ask(db, "srv.example.com", "SRV")
    assert rrset_texts(m.additional) == {"www.example.com. 3600 in a 192.0.2.4"}
    assert not ask(db, "srvout.example.com", "SRV").additional


def test_apex_ns_addresses_in_additional(db):
    m = ask(db, "example.com", "NS")
    assert rrset_texts(m.additional) == {"ns1.example.com. 3600 in a 192.0.2.1",
                                         "ns1.example.com. 3600 in aaaa 2001:db8::1"}


def test_ttl_per_rrset(db):
    assert [rr.ttl for rr in ask(db, "lowttl.example.com", "A").answer] == [60]


def test_dname_overflow_has_ede_under_edns(db):
    # RFC 8914 4.1 (Other), as NSD adds it to YXDOMAIN.
    name = ".".join(["b" * 60] * 2) + ".long.example.com"
    m = ask(db, name, "A", use_edns=0)
    assert rcode(m) == "YXDOMAIN" and [o.otype for o in m.options] == [15]


def test_truncation_keeps_whole_rrsets_that_fit(db):
    # RFC 2181 9: DNAME and synthesized CNAME fit 512 octets, the SOA of the NXDOMAIN does
    # not: TC with the answer kept (as NSD).
    m = ask(db, "a.dnlong.example.com", "A")
    assert "TC" in flags(m) and rcode(m) == "NXDOMAIN"
    assert {rr.rdtype for rr in m.answer} == {39, 5} and not m.authority


def test_no_ds_for_do_in_unsigned_zone(db):
    # RFC 4035 3.1.4 is about signed zones: DO adds nothing to an unsigned referral.
    m = ask(db, "host.sub.example.com", "A", use_edns=0, want_dnssec=True)
    assert {rr.rdtype for rr in m.authority} == {2}


@pytest.mark.parametrize("rdtype", ["NSEC", "RRSIG"])
def test_nsec_and_rrsig_at_a_cname_are_nodata(db, rdtype):
    # Knot does not follow a CNAME for these types: NODATA with the SOA.
    m = ask(db, "c7.example.com", rdtype)
    assert rcode(m) == "NOERROR" and not m.answer and rrset_texts(m.authority) == {NEG_SOA}


@pytest.mark.parametrize("name,rdtype", [("svc.example.com", "SVCB"),
                                         ("alias.example.com", "HTTPS")])
def test_svcb_and_https_targets_in_additional(db, name, rdtype):
    # RFC 9460 4.3: addresses of an in-zone TargetName (Knot adds them).
    m = ask(db, name, rdtype)
    assert rrset_texts(m.additional) == {"www.example.com. 3600 in a 192.0.2.4"}


def test_svcb_self_target_adds_nothing(db):
    assert not ask(db, "svcself.example.com", "SVCB").additional


def test_additional_skips_a_target_that_does_not_fit(db):
    # RFC 2181 9: additional data is dropped silently; the next target still comes in.
    m = ask(db, "bigmx.example.com", "MX")
    assert "TC" not in flags(m) and len(m.answer[0]) == 2
    assert rrset_texts(m.additional) == {"www.example.com. 3600 in a 192.0.2.4"}


def test_expired_zone_answers_servfail():
    # RFC 1034 4.3.5: a secondary's expired copy is not served (Database(expired=...));
    # the other zones of the snapshot answer as before
    import dns.flags
    import dns.message
    import dns.rcode
    from robdns import _core
    a = _core.compile_zone_text("a.example.", "$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n")
    b = _core.compile_zone_text("b.example.", "$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.2\n")
    db = _core.Database([a, b], expired=["a.example."])
    for qname, qtype in [("ns.a.example.", "A"), ("a.example.", "SOA"), ("nx.a.example.", "A")]:
        r = dns.message.from_wire(_core.answer(db, dns.message.make_query(qname, qtype).to_wire()))
        assert r.rcode() == dns.rcode.SERVFAIL and not r.answer
        assert not r.flags & dns.flags.AA
    r = dns.message.from_wire(_core.answer(db, dns.message.make_query("ns.b.example.", "A").to_wire()))
    assert r.rcode() == dns.rcode.NOERROR and r.answer
