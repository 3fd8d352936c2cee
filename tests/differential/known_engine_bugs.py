"""known_engine_bugs — differential case classes that fail because of an open engine bug.

Each entry: case class -> the numbers of the bugs (BUGS, below) that make it fail; difftool
prints the shortest query showing each.  test_differential_engine marks these classes
xfail(strict=True): when a fix makes a class pass, the strict xfail fails and its entry
must be deleted here (anyone landing an engine fix may do that).  Regenerate the list with
`python3 tests/differential/difftool.py`."""

BUGS = {
    1: "CD copied into the response (peers clear it)",
    2: "REFUSED without EDE 20 Not Authoritative (RFC 8914 4.21)",
    3: "DS added to referrals with DO from an unsigned zone",
    5: "TC set and answer RRsets that fit dropped (RFC 2181 9)",
    6: "YXDOMAIN without EDE 0 (or Knot's NXDOMAIN)",
    7: "qtype 0 answered like a data type (Knot: NOTIMP)",
    8: "qtype NSEC/RRSIG at a CNAME",
    9: "IXFR over UDP: REFUSED instead of NOTAUTH",
    10: "ANY answer without additional data",
    11: "no SVCB/HTTPS target addresses in additional",
    12: "additional section dropped whole when the first target's addresses do not fit",
    13: "NOTIFY: REFUSED without question (Knot NOTAUTH + question)",
    14: "trailing data after the question not rejected (Knot FORMERR)",
    15: "OPT in the answer section not FORMERR",
    16: "OPT with a non-root owner: FORMERR with question (NSD: none; Knot: ignored)",
}

# Every class passes since the engine fixes of 2026-11-27 ~04:20 UTC (bugs 1-16 below).
FAILING_CLASSES = {}



def reason(case_class: str) -> str:
    """The xfail reason of a class: its bugs, by number and title."""
    return "; ".join(f"engine bug #{n}: {BUGS[n]}" for n in FAILING_CLASSES[case_class])
