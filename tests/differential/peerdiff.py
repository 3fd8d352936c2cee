"""peerdiff — the known, legitimate ways Knot 3.2 and NSD 4.6 answer differently.

The differential suite accepts robdns' answer when it equals either peer's, so a
difference between the peers needs no explanation to be *accepted*.  It is explained here
so that the harness itself is checked: a Knot-vs-NSD difference outside these classes
means a peer did not load a zone, a query was built wrong, or the normalization hides or
invents something — and the peer consistency test fails.

Each difference class is a "reducer": when its condition holds it removes that difference
from a (knot, nsd) pair and names it.  A pair is explained when the reducers leave two
equal responses.  Every class was seen on the corpus and is described by its label.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Sequence, Tuple

import dns.name

from dnsnorm import Norm

FIELDS = ("kind", "id_matches", "opcode", "rcode", "flags", "question", "answer",
          "authority", "additional", "edns")


def _types(records) -> set:
    return {r[3] for r in records}


def _zone_of(name: str, origins: Sequence[str]) -> Optional[str]:
    n = dns.name.from_text(name)
    best = None
    for o in origins:
        on = dns.name.from_text(o)
        if n.is_subdomain(on) and (best is None or len(on) > len(dns.name.from_text(best))):
            best = o
    return best


def _with(n: Norm, **changes) -> Norm:
    return dataclasses.replace(n, **changes)


def _strip_ede(q, knot: Norm, nsd: Norm, ctx) -> Optional[Tuple[Norm, Norm]]:
    # NSD 4.6 adds Extended DNS Errors (RFC 8914, option 15) to some REFUSED/YXDOMAIN
    # answers; Knot 3.2 sends none.
    if nsd.edns and knot.edns and any(o.startswith("15:") for o in nsd.edns[3]):
        e = nsd.edns
        return knot, _with(nsd, edns=(e[0], e[1], e[2], tuple(o for o in e[3]
                                                               if not o.startswith("15:"))))
    return None


def _nsd_apex_ns(q, knot: Norm, nsd: Norm, ctx) -> Optional[Tuple[Norm, Norm]]:
    # NSD (minimal-responses: no) puts the zone's NS RRset in the authority section of
    # positive answers and their addresses in additional (RFC 1034 4.3.2 step 3a permits);
    # Knot sends minimal responses.
    ka, na = set(knot.authority), set(nsd.authority)
    extra = na - ka
    if not extra or not ka <= na or _types(extra) != {"NS"}:
        return None
    targets = {r[4].lower() for r in extra}
    kx = set(knot.additional)
    additional = tuple(r for r in nsd.additional
                       if r in kx or not (r[0] in targets and r[3] in ("A", "AAAA")))
    return knot, _with(nsd, authority=knot.authority, additional=additional)


def _svcb_additional(q, knot: Norm, nsd: Norm, ctx) -> Optional[Tuple[Norm, Norm]]:
    # Knot adds the addresses of SVCB/HTTPS targets to additional (RFC 9460 4.1 allows);
    # NSD 4.6 does not.
    targets = {r[4].split()[1].lower() for r in knot.answer if r[3] in ("SVCB", "HTTPS")}
    nx = set(nsd.additional)
    additional = tuple(r for r in knot.additional
                       if r in nx or not (r[0] in targets and r[3] in ("A", "AAAA")))
    if additional == knot.additional:
        return None
    return _with(knot, additional=additional), nsd


def _additional_selection(q, knot: Norm, nsd: Norm, ctx) -> Optional[Tuple[Norm, Norm]]:
    # Which target addresses fit in additional is each server's choice: RFC 2181 9 lets
    # additional data be dropped without setting TC (NSD drops AAAA first).
    if not _differs_only_in(knot, nsd, ("additional",)):
        return None
    if not _types(set(knot.additional) ^ set(nsd.additional)) <= {"A", "AAAA"}:
        return None
    return knot, _with(nsd, additional=knot.additional)


REDUCERS: List[Tuple[str, Callable]] = [
    ("nsd adds Extended DNS Error option (RFC 8914)", _strip_ede),
    ("nsd adds the zone's NS RRset to authority and its addresses to additional", _nsd_apex_ns),
    ("knot adds SVCB/HTTPS target addresses to additional", _svcb_additional),
    ("additional section: a different subset of addresses", _additional_selection),
]


def _differs_only_in(a: Norm, b: Norm, fields) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in FIELDS if f not in fields)


def _cname_targets_elsewhere(answer, origins) -> bool:
    """The answer ends in a CNAME whose target lies in another hosted zone than its
    owner's (knot answers from one zone only; NSD goes on in the other hosted zone)."""
    owners = {r[0] for r in answer}
    for r in answer:
        if r[3] == "CNAME" and r[4].lower() not in owners:
            if _zone_of(r[4], origins) != _zone_of(r[0], origins):
                return True
    return False


def _cross_zone_chase(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # RFC 1034 4.3.2 step 3a restarts "in the cache/zone": Knot restarts only inside the
    # zone it is answering from, NSD in any hosted zone (then also adds that zone's NS or
    # SOA).  The part both answered must agree.
    if not set(knot.answer) <= set(nsd.answer) or not knot.answer:
        return False
    return (_cname_targets_elsewhere(knot.answer, ctx["origins"])
            and _differs_only_in(knot, nsd, ("rcode", "answer", "authority", "additional",
                                             "flags" if (knot.flags ^ nsd.flags) <= {"TC"}
                                             else "")))


def _cname_chain_limit(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # Knot follows at most 5 CNAMEs (its loop bound); NSD follows longer chains.
    k = [r for r in knot.answer if r[3] == "CNAME"]
    return (len(k) >= 5 and set(knot.answer) < set(nsd.answer)
            and _differs_only_in(knot, nsd, ("rcode", "answer", "authority", "additional")))


def _qtype0(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # Reserved qtype 0: Knot answers NOTIMP; NSD answers it like any unknown type.
    return q.qtype == "TYPE0" and knot.rcode == "NOTIMP"


def _dnssec_qtype_at_cname(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # RRSIG, NSEC and DNSKEY at a CNAME (or wildcard CNAME): Knot does not follow the
    # CNAME for these DNSSEC types (RFC 4035 2.5 / RFC 2181 10.1 leave it open).
    if q.qtype not in ("RRSIG", "NSEC", "DNSKEY", "NSEC3"):
        return False
    return any(r[3] == "CNAME" for r in knot.answer + nsd.answer)


def _any_choice(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # RFC 8482 4.1: a minimal ANY answer is one RRset of the server's choosing (with its
    # additional data).
    return q.qtype == "ANY" and _differs_only_in(knot, nsd, ("answer", "authority",
                                                               "additional", "rcode"))


def _badvers_cd(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # RFC 6891 6.1.3 BADVERS: Knot clears CD in the reply, NSD copies it.
    return (knot.rcode == nsd.rcode == "BADVERS" and knot.flags ^ nsd.flags == {"CD"}
            and _differs_only_in(knot, nsd, ("flags",)))


def _dname_overflow(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # RFC 6672 2.2: a synthesized name over 255 octets is YXDOMAIN (NSD); Knot answers
    # NXDOMAIN.  With an exactly-255-octet result both synthesize; TC cuts the chain and
    # the rcode of the truncated answer differs.
    return "dnlong" in q.qname.lower() and (knot.rcode, nsd.rcode) in (
        ("NXDOMAIN", "YXDOMAIN"), ("NOERROR", "NXDOMAIN"))


def _chaos(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # RFC 4892 CHAOS: NSD answers version.bind/id.server for qtype ANY too; Knot only TXT.
    return q.qclass == "CH" and q.qtype == "ANY"


def _other_class_question(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # REFUSED for a class not served: Knot echoes the question, NSD sends none.
    return (q.qclass not in ("IN", "CH") and knot.rcode == nsd.rcode == "REFUSED"
            and not nsd.question and _differs_only_in(knot, nsd, ("question",)))


def _qclass_any(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # QCLASS * (RFC 1035 3.2.5): Knot answers from its IN data, NSD answers empty.
    return q.qclass == "ANY" and knot.rcode == nsd.rcode == "NOERROR"


def _ixfr_udp(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # IXFR over UDP without an SOA in authority (RFC 1995 3): Knot NOTAUTH, NSD REFUSED.
    return q.qtype == "IXFR" and {knot.rcode, nsd.rcode} <= {"NOTAUTH", "REFUSED", "FORMERR"}


def _tc_or_drop(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # When the authority SOA of a negative answer does not fit (RFC 2181 9), NSD sets TC
    # and Knot drops the SOA without TC; the records both sent agree.
    if (knot.flags ^ nsd.flags) != {"TC"}:
        return False
    tc, full = (knot, nsd) if "TC" in knot.flags else (nsd, knot)
    return (_differs_only_in(knot, nsd, ("flags", "answer", "authority", "additional"))
            and all(set(getattr(tc, f)) <= set(getattr(full, f))
                    for f in ("answer", "authority", "additional")))


def _malformed(q, knot: Norm, nsd: Norm, ctx) -> bool:
    # Malformed packets and other opcodes (RFC 1035 4.1.1 leaves the reaction open):
    # Knot drops most packets it cannot parse and keeps the question in FORMERR/NOTIMP
    # replies; NSD answers FORMERR without a question, ignores trailing data, and so on.
    return q.case_class.startswith("malformed/")


TERMINALS: List[Tuple[str, Callable]] = [
    ("malformed query: each peer reacts in its own way", _malformed),
    ("records that do not fit: one sets TC, the other drops them silently", _tc_or_drop),
    ("nsd follows CNAME/DNAME into another hosted zone, knot stops", _cross_zone_chase),
    ("knot stops CNAME chains after 5 links, nsd follows further", _cname_chain_limit),
    ("qtype 0: knot NOTIMP, nsd answers", _qtype0),
    ("RRSIG/NSEC/DNSKEY query at a CNAME: knot does not follow", _dnssec_qtype_at_cname),
    ("ANY (RFC 8482): different RRset chosen", _any_choice),
    ("BADVERS: knot clears CD, nsd copies it", _badvers_cd),
    ("DNAME result over 255 octets: knot NXDOMAIN, nsd YXDOMAIN", _dname_overflow),
    ("CHAOS qtype ANY: nsd answers, knot refuses", _chaos),
    ("REFUSED other class: knot echoes question, nsd does not", _other_class_question),
    ("QCLASS ANY: knot answers from IN, nsd empty", _qclass_any),
    ("IXFR over UDP: different refusal rcode", _ixfr_udp),
]


def explain(q, knot: Norm, nsd: Norm, origins: Sequence[str]) -> Optional[List[str]]:
    """The labels that explain why knot and nsd differ (empty if they are equal), or
    None when the difference is not a known one."""
    ctx = {"origins": origins}
    labels: List[str] = []
    k, n = knot, nsd
    for label, reducer in REDUCERS:
        if k == n:
            break
        reduced = reducer(q, k, n, ctx)
        if reduced is not None:
            k, n = reduced
            labels.append(label)
    if k == n:
        return labels
    for label, predicate in TERMINALS:
        if predicate(q, k, n, ctx) or predicate(q, knot, nsd, ctx):
            return labels + [label]
    return None
