# test_engine_rfc4592.py — wildcards exactly as RFC 4592: the section 2.2.1 examples, closest
# encloser, empty non-terminals blocking, wildcard CNAMEs.
import pytest

from engine_support import ask, database, flags, rcode, raw_zone, rrset_texts

# RFC 4592 2.2.1, with SOA and SRV rdata filled in.
RFC4592_ZONE = """$ORIGIN example.
example.                 3600 IN  SOA   ns.example.com. hostmaster.example. 1 7200 3600 1209600 300
example.                 3600     NS    ns.example.com.
example.                 3600     NS    ns.example.net.
*.example.               3600     TXT   "this is a wildcard"
*.example.               3600     MX    10 host1.example.
sub.*.example.           3600     TXT   "this is not a wildcard"
host1.example.           3600     A     192.0.2.1
_ssh._tcp.host1.example. 3600     SRV   0 0 22 host1.example.
_ssh._tcp.host2.example. 3600     SRV   0 0 22 host2.example.
subdel.example.          3600     NS    ns.example.com.
subdel.example.          3600     NS    ns.example.net.
"""

EXTRA_ZONE = """$ORIGIN w.test.
@ 3600 SOA ns hm 1 7200 3600 1209600 300
@ 3600 NS ns
ns 3600 A 192.0.2.1
*.cn 3600 CNAME target
target 3600 A 192.0.2.9
*.loop 3600 CNAME x.loop
deep.ent.a 3600 A 192.0.2.2
*.a 3600 A 192.0.2.3
"""

NEG = "example. 300 in soa ns.example.com. hostmaster.example. 1 7200 3600 1209600 300"


@pytest.fixture(scope="module")
def db():
    return database(raw_zone("example.", RFC4592_ZONE), raw_zone("w.test.", EXTRA_ZONE))


# ---- RFC 4592 2.2.1: "the following queries would be synthesized from one of the wildcards"

def test_host3_mx_synthesized(db):
    m = ask(db, "host3.example", "MX")
    assert rcode(m) == "NOERROR" and "AA" in flags(m)
    # the owner is the QNAME, not the wildcard (RFC 4592 3.3.3 / 4.1)
    assert rrset_texts(m.answer) == {"host3.example. 3600 in mx 10 host1.example."}
    assert rrset_texts(m.additional) == {"host1.example. 3600 in a 192.0.2.1"}


def test_host3_a_synthesized_nodata(db):
    # "QNAME=host3.example. QTYPE=A ... a no error, no data response"
    m = ask(db, "host3.example", "A")
    assert rcode(m) == "NOERROR" and not m.answer
    assert rrset_texts(m.authority) == {NEG}


def test_foo_bar_txt_synthesized(db):
    m = ask(db, "foo.bar.example", "TXT")
    assert rrset_texts(m.answer) == {'foo.bar.example. 3600 in txt "this is a wildcard"'}


# ---- RFC 4592 2.2.1: "the following queries would not be synthesized"

def test_host1_mx_not_synthesized(db):
    # host1.example exists: NODATA, not the wildcard's MX
    m = ask(db, "host1.example", "MX")
    assert rcode(m) == "NOERROR" and not m.answer and rrset_texts(m.authority) == {NEG}


def test_sub_star_mx_not_synthesized(db):
    # sub.*.example exists: NODATA
    m = ask(db, "sub.*.example", "MX")
    assert rcode(m) == "NOERROR" and not m.answer


def test_telnet_tcp_host1_srv_nxdomain(db):
    # closest encloser _tcp.host1.example is an empty non-terminal without "*" child
    m = ask(db, "_telnet._tcp.host1.example", "SRV")
    assert rcode(m) == "NXDOMAIN" and rrset_texts(m.authority) == {NEG}


def test_host_subdel_referral(db):
    # the delegation wins before any wildcard
    m = ask(db, "host.subdel.example", "A")
    assert rcode(m) == "NOERROR" and "AA" not in flags(m) and not m.answer
    assert {rr.rdtype for rr in m.authority} == {2}
    assert str(m.authority[0].name) == "subdel.example."


def test_ghost_star_mx_nxdomain(db):
    # closest encloser is *.example itself; there is no *.*.example
    m = ask(db, "ghost.*.example", "MX")
    assert rcode(m) == "NXDOMAIN"


# ---- more of RFC 4592 -----------------------------------------------------------------

def test_wildcard_query_for_star_itself(db):
    # RFC 4592 2.2.2 (exact match): "*.example" asked literally is the node itself.
    m = ask(db, "*.example", "TXT")
    assert rrset_texts(m.answer) == {'*.example. 3600 in txt "this is a wildcard"'}


def test_empty_non_terminal_blocks_wildcard(db):
    # RFC 4592 2.2.2: ent.a.w.test exists (ENT above deep.ent.a); *.a does not apply to it
    # nor below it.
    assert rcode(ask(db, "ent.a.w.test", "A")) == "NOERROR"
    assert not ask(db, "ent.a.w.test", "A").answer
    assert rcode(ask(db, "x.ent.a.w.test", "A")) == "NXDOMAIN"
    # a sibling of the ENT gets the wildcard
    assert rrset_texts(ask(db, "y.a.w.test", "A").answer) == {"y.a.w.test. 3600 in a 192.0.2.3"}
    assert rrset_texts(ask(db, "z.y.a.w.test", "A").answer) == {"z.y.a.w.test. 3600 in a 192.0.2.3"}


def test_wildcard_cname_followed(db):
    # RFC 4592 4.3: a CNAME at a wildcard is synthesized, then followed.
    m = ask(db, "anything.cn.w.test", "A")
    assert rcode(m) == "NOERROR" and "AA" in flags(m)
    assert rrset_texts(m.answer) == {"anything.cn.w.test. 3600 in cname target.w.test.",
                                     "target.w.test. 3600 in a 192.0.2.9"}


def test_wildcard_cname_loop_terminates(db):
    m = ask(db, "q.loop.w.test", "A")
    assert rcode(m) == "NOERROR"
    assert rrset_texts(m.answer) == {"q.loop.w.test. 3600 in cname x.loop.w.test.",
                                     "x.loop.w.test. 3600 in cname x.loop.w.test."}


def test_wildcard_answer_owner_keeps_client_case(db):
    m = ask(db, "HoSt3.EXAMPLE", "MX")
    assert m.answer[0].name.to_text() == "HoSt3.EXAMPLE."
