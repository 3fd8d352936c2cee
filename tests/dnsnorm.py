"""dnsnorm — a DNS response reduced to what the differential tests compare, and its diff.

Two servers answer "the same" when their normalized responses are equal: the same rcode
(extended, so BADVERS counts), opcode, header flags (QR AA TC RD RA AD CD as a set), the
question exactly as echoed (letter case included, RFC 1035 7.1 / RFC 4343 4.1), each
section as a set of records with their TTLs (order within a section is free, RFC
2181 5), and the EDNS(0) OPT record (presence, version, DO and other flags, payload,
options; RFC 6891 6.1.2; of an Extended DNS Error only its code, RFC 8914 2).  Owner names and names inside rdata are compared in canonical
lower case (RFC 4034 6.2): servers may copy the query's case into owners they synthesize
or compress against the question, and DNS names are case-insensitive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

HEADER_FLAGS = (("QR", dns.flags.QR), ("AA", dns.flags.AA), ("TC", dns.flags.TC),
                ("RD", dns.flags.RD), ("RA", dns.flags.RA), ("AD", dns.flags.AD),
                ("CD", dns.flags.CD))

# One record: (owner in lower case, TTL, class, type, rdata text in canonical form).
Record = Tuple[str, int, str, str, str]


@dataclass(frozen=True)
class Norm:
    """A normalized response.  kind is "response", "none" (nothing came back) or
    "unparseable" (detail says why); the other fields matter only for "response"."""

    kind: str
    id_matches: bool = True
    opcode: str = ""
    rcode: str = ""
    flags: frozenset = frozenset()
    question: tuple = ()
    answer: tuple = ()
    authority: tuple = ()
    additional: tuple = ()
    edns: Optional[tuple] = None   # (version, flags tuple, payload, options tuple)
    detail: str = ""

    def lines(self) -> list:
        """A readable, stable rendering, one item per line (for diffs)."""
        if self.kind != "response":
            return [f"<{self.kind}{': ' + self.detail if self.detail else ''}>"]
        out = [f"rcode {self.rcode}  opcode {self.opcode}  flags {' '.join(sorted(self.flags))}"
               + ("" if self.id_matches else "  ID MISMATCH")]
        if self.edns is None:
            out.append("edns none")
        else:
            version, eflags, payload, options = self.edns
            out.append(f"edns v{version} flags {' '.join(eflags) or '-'} payload {payload}")
            out += [f"  option {o}" for o in options]
        # Each record line names its section, so a diff of lines is a diff of sections.
        for title, section in (("question", self.question), ("answer", self.answer),
                               ("authority", self.authority), ("additional", self.additional)):
            out += [f"{title:<10} " + " ".join(str(f) for f in rr) for rr in section]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _canonical_rdata(rd: dns.rdata.Rdata) -> str:
    # RFC 4034 6.2 lower-cases the names inside the rdata types it lists; for the others
    # (SVCB targets, for one) lower-casing the text is wrong for strings, so keep them.
    try:
        canon = dns.rdata.from_wire(rd.rdclass, rd.rdtype, rd.to_digestable(dns.name.root),
                                    0, len(rd.to_digestable(dns.name.root)))
        return canon.to_text()
    except Exception:  # a type dnspython cannot re-read: compare its generic form
        return rd.to_generic().to_text() if hasattr(rd, "to_generic") else rd.to_text()


def _option_text(option) -> str:
    """An EDNS option as "CODE:HEX".  Extended DNS Errors (RFC 8914, code 15) keep only
    their INFO-CODE: EXTRA-TEXT is free text for humans (section 2) that each server
    words its own way."""
    data = option.to_wire()
    if option.otype == 15 and len(data) >= 2:
        return f"15:{data[:2].hex()}"
    return f"{int(option.otype)}:{data.hex()}"


def _section(rrsets) -> tuple:
    records = []
    for rrset in rrsets:
        owner = rrset.name.to_text().lower()
        for rd in rrset:
            records.append((owner, rrset.ttl, dns.rdataclass.to_text(rrset.rdclass),
                            dns.rdatatype.to_text(rrset.rdtype), _canonical_rdata(rd)))
    # A set: a record repeated in a section (both peers repeat a self-referring wildcard
    # CNAME) is the same answer (RFC 2181 5: an RRset has no duplicate records).
    return tuple(sorted(set(records)))


def normalize(wire: Optional[bytes], query: Optional[bytes] = None) -> Norm:
    """Normalize a response's wire form (None or b"" = no response)."""
    if not wire:
        return Norm("none")
    try:
        # one_rr_per_rrset: every record as sent, so TTLs that differ within an RRset
        # are not merged away.
        msg = dns.message.from_wire(wire, one_rr_per_rrset=True, ignore_trailing=False)
    except Exception as e:  # noqa: BLE001 — any parse failure is a finding, say which
        return Norm("unparseable", detail=f"{type(e).__name__}: {e} ({wire.hex()})")
    id_matches = query is None or (len(query) >= 2 and wire[:2] == query[:2])
    flags = frozenset(name for name, bit in HEADER_FLAGS if msg.flags & bit)
    question = tuple((q.name.to_text(), dns.rdataclass.to_text(q.rdclass),
                      dns.rdatatype.to_text(q.rdtype)) for q in msg.question)
    edns = None
    if msg.edns >= 0:
        eflags = tuple(sorted(dns.flags.edns_to_text(msg.ednsflags).split()))
        if msg.ednsflags & ~dns.flags.DO & 0xFFFF:  # RFC 6891 6.1.4: Z must be zero
            eflags += (f"Z={msg.ednsflags & ~dns.flags.DO & 0xFFFF:#06x}",)
        options = tuple(sorted(_option_text(o) for o in msg.options))
        edns = (msg.edns, eflags, msg.payload, options)
    return Norm("response", id_matches=id_matches,
                opcode=dns.opcode.to_text(msg.opcode()),
                rcode=dns.rcode.to_text(msg.rcode()), flags=flags, question=question,
                answer=_section(msg.answer), authority=_section(msg.authority),
                additional=_section(msg.additional), edns=edns)


def diff(named: dict) -> str:
    """Side by side: for each line that not every response has, which ones have it.
    named = {"robdns": Norm, "knot": Norm, "nsd": Norm}.  A record present more than once
    in a section is shown once with "(xN)"."""
    rendered = {}
    for key, norm in named.items():
        counts: dict = {}
        for line in norm.lines():
            counts[line] = counts.get(line, 0) + 1
        rendered[key] = [line if n == 1 else f"{line}  (x{n})" for line, n in counts.items()]
    all_lines = []
    for lines in rendered.values():
        for line in lines:
            if line not in all_lines:
                all_lines.append(line)
    width = max(len(k) for k in named)
    out = []
    for line in all_lines:
        holders = [k for k, lines in rendered.items() if line in lines]
        mark = "  " if len(holders) == len(named) else "!="
        tag = ",".join(holders) if mark == "!=" else ""
        out.append(f"{mark} {tag:<{width * len(named)}} {line}")
    return "\n".join(out)
