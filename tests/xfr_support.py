# xfr_support.py — helpers of the transfer tests: zones to transfer, reading a stream of messages as dnspython's xfr client does (TSIG chain included).
import base64

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.zone

SECRET_B64 = "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IQ=="
SECRET = base64.b64decode(SECRET_B64)
OTHER_SECRET_B64 = "b3RoZXIgc2VjcmV0IG90aGVyIHNlY3JldCBvdGhlcg=="


def zone_text(serial, n=50, extra=""):
    """example.com. with n host records (names long enough to make several messages when n
    is in the thousands), glue, a delegation, and `extra` lines."""
    lines = ["$ORIGIN example.com.", "$TTL 3600",
             f"@ IN SOA ns1 hostmaster {serial} 7200 3600 1209600 3600",
             "@ IN NS ns1", "@ IN NS ns2", "ns1 IN A 192.0.2.1", "ns2 IN A 192.0.2.2",
             "@ IN MX 10 mail", "mail IN A 192.0.2.25",
             "sub IN NS ns.sub", "ns.sub IN A 192.0.2.53",
             'txt IN TXT "hello world"']
    for i in range(n):
        lines.append(f"host-{i:06d}-with-a-longer-label IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    return "\n".join(lines) + "\n" + extra


def keyring(name="xfr.key.", secret=SECRET, alg=dns.tsig.HMAC_SHA256):
    return {dns.name.from_text(name): dns.tsig.Key(name, secret, alg)}


def read_stream(messages, query, keyring=None):
    """Parse the messages of a transfer answer as dns.query.xfr does: the first verified
    against the query's MAC, each later one chained from the one before (RFC 8945 5.3.1).
    Returns the list of dns.message.Message."""
    out = []
    ctx = None
    for i, wire in enumerate(messages):
        m = dns.message.from_wire(wire, keyring=keyring if keyring is not None else False,
                                  request_mac=query.mac if keyring else b"",
                                  xfr=True, tsig_ctx=ctx, multi=True,
                                  one_rr_per_rrset=True)
        ctx = m.tsig_ctx
        if keyring:
            assert m.had_tsig, f"message {i} unsigned"
        out.append(m)
    return out


def records_of(messages):
    """The answer records of a stream as (name, ttl, type, rdata text) in order."""
    out = []
    for m in messages:
        for rrset in m.answer:
            for rd in rrset:
                out.append((rrset.name.to_text().lower(), rrset.ttl,
                            dns.rdatatype.to_text(rrset.rdtype), rd.to_text().lower()))
    return out


def zone_records(text, origin="example.com."):
    z = dns.zone.from_text(text, origin, relativize=False)
    out = set()
    for name, ttl, rd in z.iterate_rdatas():
        out.add((name.to_text().lower(), ttl, dns.rdatatype.to_text(rd.rdtype), rd.to_text().lower()))
    return out


def apply_ixfr(records, stream):
    """Apply the IXFR answer records `stream` (RFC 1995 4 sequence) to a set of records;
    returns the new set."""
    soa_new = stream[0]
    assert stream[-1] == soa_new and soa_new[2] == "SOA"
    body = stream[1:-1]
    cur = set(records)
    i = 0
    while i < len(body):
        old_soa = body[i]
        assert old_soa[2] == "SOA"
        assert old_soa in cur, (old_soa, "not the client's SOA")
        cur.discard(old_soa)
        i += 1
        while body[i][2] != "SOA":
            cur.discard(body[i]) if body[i] in cur else _fail(body[i])
            i += 1
        new_soa = body[i]
        cur.add(new_soa)
        i += 1
        while i < len(body) and body[i][2] != "SOA":
            cur.add(body[i])
            i += 1
    return cur


def _fail(rec):
    raise AssertionError(f"IXFR deletes {rec}, which the client does not hold")


def rcode_of(wire):
    return dns.message.from_wire(wire, keyring=False).rcode()
