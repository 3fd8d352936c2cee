"""querygen — the differential suite's query set over the corpus (tests/corpus/*.zone).

Queries are names x types x EDNS modes, each name asked in lower, upper or mixed case
(seeded, so every run asks the same thousands of queries).  They are grouped into case
classes "<name kind>/<edns mode>" (plus "tcp/<name kind>", "chaos/...", "xfr/..."): a
failing class names the code path at fault, and a known engine bug can be marked on its
class alone.
"""

from __future__ import annotations

import functools
import os
import random
import struct
from dataclasses import dataclass
from typing import Dict, List, Tuple

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

CORPUS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "corpus")
SEED = 4592  # RFC 4592, for luck; any fixed value keeps the query set reproducible

# Origins of the hosted corpus zones; file name = origin without the trailing dot + ".zone".
CORPUS_ORIGINS = ("example.", "example.com.", "example.net.", "child.example.com.")


def corpus_zones() -> List[Tuple[str, str]]:
    return [(o, os.path.join(CORPUS_DIR, o[:-1] + ".zone")) for o in CORPUS_ORIGINS]


_LONG = "q" * 50    # 50+1 + 205-octet DNAME target > 255 octets: YXDOMAIN (RFC 6672 2.2)
_FITS = "q" * 49    # exactly 255 octets after substitution: must still be synthesized

# Name kinds: each a code path of RFC 1034 4.3.2 / RFC 4592 / RFC 6672.
NAMES: Dict[str, List[str]] = {
    "exist": [
        "example.com.", "www.example.com.", "ns1.example.com.", "ns2.example.com.",
        "mail.example.com.", "MiXeD.example.com.", "_sip._udp.example.com.",
        "_443._tcp.www.example.com.", "svc.example.com.", "alias.example.com.",
        "naptr.example.com.", "loc.example.com.", "unknown.example.com.",
        "hinfo.example.com.", "esc\\.dot.example.com.", "\\200\\001bin.example.com.",
        "target.example.com.", "x.target.example.com.", "exists.wild.example.com.",
        "deep.ent.wild.example.com.", "a.c.b.ent.example.com.", "other.b.ent.example.com.",
        "sip.example.com.", "svc-target.example.com.", "example.net.", "www.example.net.",
        "a.b.example.net.", "example.", "host1.example.", "_ssh._tcp.host1.example.",
        "child.example.com.", "www.child.example.com.", "ns.child.example.com.",
    ],
    "big": ["medium.example.com.", "big.example.com.", "bigaddr.example.com.",
            "manymx.example.com."],
    "nxdomain": [
        "nothere.example.com.", "a.b.nothere.example.com.", "wwww.example.com.",
        "zz.example.net.", "nope.child.example.com.", "host3.example.",
        "x.www.example.com.", "0.example.com.", "zzzz.example.com.", "a.ns1.example.com.",
        "x.c1.example.com.", "_tcp.nothere.example.",
    ],
    "ent": [
        "ent.example.com.", "b.ent.example.com.", "c.b.ent.example.com.",
        "down.example.com.", "deep.down.example.com.", "_tcp.www.example.com.",
        "_udp.example.com.", "wild.example.com.", "ent.wild.example.com.",
        "b.example.net.", "_tcp.host1.example.", "_tcp.host2.example.", "host2.example.",
        "wc.example.com.",
    ],
    "wildcard": [
        # RFC 4592 2.2.1: the queries the RFC lists, asked of its own example zone.
        "host3.example.", "foo.bar.example.", "host1.example.", "sub.*.example.",
        "_telnet._tcp.host1.example.", "ghost.*.example.", "*.example.",
        "_dns._udp.example.",
        "foo.wild.example.com.", "a.b.wild.example.com.", "*.wild.example.com.",
        "y.ent.wild.example.com.", "x.y.deep.down.example.com.", "z.deep.down.example.com.",
        "any.wc.example.com.", "a.b.wc.example.com.", "any.wcext.example.com.",
        "any.wcloop.example.com.", "x.wcloop.example.com.", "towild.example.com.",
        "x.wild.child.example.com.", "*.deep.down.example.com.",
    ],
    "cname": [
        "c1.example.com.", "c2.example.com.", "c3.example.com.", "ext.example.com.",
        "cross.example.com.", "crossnet.example.com.", "dangling.example.com.",
        "tochild.example.com.", "todeleg.example.com.", "todname.example.com.",
        "loop1.example.com.", "loop2.example.com.", "selfloop.example.com.",
        "chain1.example.com.", "chain7.example.com.", "back.example.net.",
    ],
    "dname": [
        "dn.example.com.", "www.dn.example.com.", "x.dn.example.com.",
        "a.b.dn.example.com.", "ns.dn.example.com.", "nothing.dn.example.com.",
        "back.dn.example.com.", "x.sub.dn.example.com.",
        "dnin.example.com.", "x.dnin.example.com.", "y.x.dnin.example.com.",
        "x.dnchain.example.com.", "dnchain.example.com.", "www.dnout.example.com.",
        "a.dncname.example.com.", "dnlong.example.com.", "a.dnlong.example.com.",
        f"{_LONG}.dnlong.example.com.", f"{_FITS}.dnlong.example.com.",
    ],
    "cut": [
        "deleg1.example.com.", "deleg2.example.com.", "extdeleg.example.com.",
        "sub.example.net.", "grand.child.example.com.", "subdel.example.",
    ],
    "belowcut": [
        "host.deleg1.example.com.", "ns.deleg1.example.com.", "a.b.deleg2.example.com.",
        "ns.deleg2.example.com.", "x.extdeleg.example.com.", "x.grand.child.example.com.",
        "ns.grand.child.example.com.", "ns.sub.example.net.", "host.subdel.example.",
    ],
    "outside": [
        ".", "com.", "org.", "www.example.org.", "example.invalid.", "net.",
        "xexample.com.", "ample.com.", "www.example.co.", "exampl.",
    ],
}

# Types asked of every name (RFC 1035, 3596, 2782, 4034, 6844, 6672, 8482, 9460, 3597).
QTYPES = ["A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME", "DNAME", "DS", "ANY", "CAA",
          "SRV", "TYPE65400", "PTR", "HTTPS", "SVCB", "NAPTR", "LOC", "TLSA", "SSHFP",
          "HINFO", "DNSKEY", "RRSIG", "NSEC", "TYPE0", "TYPE65535"]

# EDNS modes: (use_edns version or -1, payload, DO, options).
NSID = dns.edns.GenericOption(dns.edns.NSID, b"")
UNKNOWN_OPTION = dns.edns.GenericOption(65001, b"\x01\x02\x03")
EDNS_MODES = {
    "noedns": (-1, 0, False, []),
    "edns1232": (0, 1232, False, []),
    "edns512": (0, 512, False, []),          # big answers must truncate (RFC 6891 7)
    "edns4096": (0, 4096, False, []),        # clamped to the server's 1232
    "do": (0, 1232, True, []),
    "badvers": (1, 1232, False, []),         # RFC 6891 6.1.3: BADVERS
    "nsid": (0, 1232, False, [NSID]),        # RFC 5001
    "unknownopt": (0, 1232, False, [UNKNOWN_OPTION]),  # RFC 6891 6.1.2: ignored
}
# Every name x type is asked without EDNS and with EDNS 1232; the other modes ask this
# share of them (seeded), all of the "big" names.
SAMPLED_MODE_SHARE = 0.15


@dataclass(frozen=True)
class Query:
    case_class: str
    qname: str          # as sent, letter case included
    qtype: str
    mode: str
    rd: bool
    cd: bool
    tcp: bool
    qclass: str = "IN"
    qid: int = 0
    raw: bytes = b""    # a hand-made (malformed) packet sent as is; qname names the case

    @functools.cached_property
    def _wire(self) -> bytes:
        return self._build_wire()

    def wire(self) -> bytes:
        """The query's wire form (built once: the suite asks for it several times)."""
        return self._wire

    def _build_wire(self) -> bytes:
        if self.raw:
            return self.raw
        version, payload, do, options = EDNS_MODES[self.mode]
        msg = dns.message.make_query(
            dns.name.from_text(self.qname), dns.rdatatype.from_text(self.qtype),
            dns.rdataclass.from_text(self.qclass), use_edns=version if version >= 0 else False,
            want_dnssec=do, payload=payload or 1232, options=options or None)
        msg.id = self.qid
        msg.flags = (dns.flags.RD if self.rd else 0) | (dns.flags.CD if self.cd else 0)
        return msg.to_wire()

    def describe(self) -> str:
        if self.raw:
            return f"raw packet '{self.qname}': {self.raw.hex()}"
        proto = "TCP" if self.tcp else "UDP"
        flags = "+rd" if self.rd else "+nord"
        if self.cd:
            flags += " +cd"
        return f"{self.qname} {self.qclass} {self.qtype} [{self.mode} {proto} {flags}]"


def recase(name: str, rng: random.Random) -> str:
    """Lower, upper or mixed case; escapes (\\DDD, \\.) are left as written."""
    style = rng.randrange(3)
    out, i = [], 0
    while i < len(name):
        c = name[i]
        if c == "\\":
            step = 4 if name[i + 1:i + 2].isdigit() else 2
            out.append(name[i:i + step])
            i += step
            continue
        if style == 0:
            out.append(c.lower())
        elif style == 1:
            out.append(c.upper())
        else:
            out.append(c.upper() if rng.random() < 0.5 else c.lower())
        i += 1
    return "".join(out)


def _random_names(rng: random.Random, count: int) -> List[str]:
    """Random labels under every zone and under interesting nodes: finds what the
    hand-picked names miss."""
    parents = ["example.com.", "example.net.", "example.", "child.example.com.",
               "wild.example.com.", "ent.example.com.", "dn.example.com.",
               "deleg1.example.com.", "wc.example.com.", "b.ent.example.com."]
    alphabet = "abcwxyz0-_"
    names = []
    for _ in range(count):
        labels = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))).strip("-") or "a"
                  for _ in range(rng.randint(1, 3))]
        names.append(".".join(labels) + "." + rng.choice(parents))
    return names


@functools.lru_cache(maxsize=1)
def generate() -> Dict[str, List[Query]]:
    """All queries, keyed by case class.  Deterministic (and computed once)."""
    rng = random.Random(SEED)
    names = dict(NAMES)
    names["random"] = _random_names(rng, 20)
    classes: Dict[str, List[Query]] = {}

    def add(case_class: str, qname: str, qtype: str, mode: str, tcp: bool = False,
            qclass: str = "IN") -> None:
        q = Query(case_class, recase(qname, rng), qtype, mode, rd=rng.random() < 0.5,
                  cd=rng.random() < 0.1, tcp=tcp, qclass=qclass, qid=rng.randrange(65536))
        classes.setdefault(case_class, []).append(q)

    for kind, kind_names in names.items():
        for name in kind_names:
            for qtype in QTYPES:
                for mode in EDNS_MODES:
                    if mode in ("noedns", "edns1232") or kind == "big" \
                            or rng.random() < SAMPLED_MODE_SHARE:
                        add(f"{kind}/{mode}", name, qtype, mode)
                # TCP: a sample of every kind against the peers' TCP listeners.
                if rng.random() < 0.06 or (kind == "big" and qtype in ("TXT", "A", "ANY", "MX")):
                    add(f"tcp/{kind}", name, qtype, rng.choice(["noedns", "edns512", "do"]),
                        tcp=True)

    # RFC 4892 CHAOS identity queries, and other classes for a hosted name.
    for name in ("version.bind.", "version.server.", "id.server.", "hostname.bind.",
                 "authors.bind.", "www.example.com."):
        for qtype in ("TXT", "A", "ANY"):
            for mode in ("noedns", "edns1232"):
                add("chaos/" + mode, name, qtype, mode, qclass="CH")
    for qclass in ("HS", "NONE", "ANY", "CLASS9"):
        add("otherclass/noedns", "www.example.com.", "A", "noedns", qclass=qclass)
    # Zone transfers over UDP (RFC 5936 4.2 says AXFR is TCP-only; peers refuse or
    # answer in their own way) and over TCP.
    for name in ("example.com.", "example.", "www.example.com.", "example.org."):
        for qtype in ("AXFR", "IXFR"):
            add("xfr/noedns", name, qtype, "noedns")
    for case, packet in malformed_packets().items():
        classes.setdefault("malformed/raw", []).append(
            Query("malformed/raw", case, "A", "noedns", rd=False, cd=False, tcp=False,
                  raw=packet))
    return classes


def malformed_packets() -> Dict[str, bytes]:
    """Hand-made queries that break a rule of RFC 1035 4.1 / RFC 6891 6.1.1, or use an
    opcode other than QUERY.  Only cases that at least one peer answers are listed (a
    packet no server answers costs a timeout and shows nothing); Knot and NSD differ on
    most of them, and robdns must answer like one."""
    question = b"\x03www\x07example\x03com\x00\x00\x01\x00\x01"
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)

    def header(flags=0, qd=1, an=0, ns=0, ar=0, qid=0x5EED):
        return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)

    a_record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"
    return {
        "qdcount 0": header(qd=0),
        "qdcount 2": header(qd=2) + question + question,
        "two OPT records": header(ar=2) + question + opt + opt,
        "opcode IQUERY": header(flags=1 << 11) + question,
        "opcode STATUS": header(flags=2 << 11) + question,
        "opcode 3 (unassigned)": header(flags=3 << 11) + question,
        "opcode NOTIFY": header(flags=4 << 11) + question,
        "question cut short": header() + question[:5],
        "qtype cut short": header() + question[:-2],
        "trailing garbage": header() + question + b"garbage",
        "answer record in a query": header(an=1) + question + a_record,
        "authority record in a query": header(ns=1) + question + a_record,
        "TC set in a query": header(flags=0x0200) + question,
        "Z bit set": header(flags=0x0040) + question,
        "OPT in the answer section": header(an=1) + question + opt,
        "OPT with a non-root owner": header(ar=1) + question + b"\xc0\x0c"
        + struct.pack("!HHIH", 41, 1232, 0, 0),
        "OPT option overruns its rdata": header(ar=1) + question + b"\x00"
        + struct.pack("!HHIH", 41, 1232, 0, 6) + struct.pack("!HH", 3, 8) + b"ab",
        "OPT with DO and unknown Z flags": header(ar=1) + question + b"\x00"
        + struct.pack("!HHIH", 41, 1232, 0xFFFF, 0),
        "compression pointer loop in qname": header() + b"\xc0\x0c\x00\x01\x00\x01",
        "forward compression pointer": header() + b"\xc0\x10\x00\x01\x00\x01\x03www\x00",
        "qname over 255 octets": header() + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01",
        "label type 0x40": header() + b"\x41" + b"a" * 65 + b"\x00\x00\x01\x00\x01",
        "EDNS payload 100": header(ar=1) + question + b"\x00" + struct.pack("!HHIH", 41, 100, 0, 0),
        "EDNS payload 0": header(ar=1) + question + b"\x00" + struct.pack("!HHIH", 41, 0, 0, 0),
        "class NONE": header() + question[:-2] + b"\x00\xfe",
    }


if __name__ == "__main__":
    all_classes = generate()
    total = sum(len(v) for v in all_classes.values())
    for k, v in sorted(all_classes.items()):
        print(f"{k:28} {len(v)}")
    print("total", total)
