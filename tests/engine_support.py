# engine_support.py — helpers shared by the engine tests: zones compiled from text, a
# Database over them, and queries built and responses parsed with dnspython.
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from robdns import _core

SOA = "ns1 hostmaster 2024010101 7200 3600 1209600 300"


def zone(origin, body, ttl=3600):
    """A ZoneImage of `origin` from master-file text (SOA and NS at the apex prepended)."""
    text = f"$ORIGIN {origin}\n$TTL {ttl}\n@ SOA {SOA}\n@ NS ns1\nns1 A 192.0.2.53\n" + body
    return _core.compile_zone_text(origin, text)


def raw_zone(origin, text):
    return _core.compile_zone_text(origin, text)


def database(*zones, **options):
    return _core.Database(list(zones), **options)


def query_wire(name, rdtype="A", rdclass="IN", **kw):
    q = dns.message.make_query(name, rdtype, rdclass, **kw)
    return q.to_wire()


def ask(db, name, rdtype="A", rdclass="IN", tcp=False, **kw):
    """Send a query built by dnspython through the engine and parse the response."""
    wire = query_wire(name, rdtype, rdclass, **kw)
    resp = _core.answer(db, wire, tcp=tcp)
    assert resp, "the engine sent no response"
    msg = dns.message.from_wire(resp)
    msg.wire = resp
    assert msg.id == dns.message.from_wire(wire).id
    return msg


def ask_wire(db, wire, tcp=False):
    resp = _core.answer(db, wire, tcp=tcp)
    return dns.message.from_wire(resp) if resp else None


def rrset_texts(section):
    """Each record of a section as lower-cased 'owner ttl class type rdata' text."""
    out = set()
    for rrset in section:
        for line in rrset.to_text().split("\n"):
            out.add(line.lower())
    return out


def rcode(msg):
    return dns.rcode.to_text(msg.rcode())


def flags(msg):
    return set(dns.flags.to_text(msg.flags).split())
