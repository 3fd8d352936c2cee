"""test_differential_engine — robdns' answer engine against Knot and NSD on the corpus.

Every query of the generated set (names x types x EDNS modes x letter case, UDP and a TCP
sample) is answered in-process by robdns._core.answer and over loopback by Knot and NSD;
robdns' normalized response must equal one of the peers' (either, where they differ —
the ways they differ are listed in peerdiff and summed up at the end of the run).

Open engine bugs are marked per case class (known_engine_bugs.py), strict: when the
engine is fixed the xfail fails and the entry must go.  difftool.py prints the minimal
query that shows each bug.
"""

import pytest

import dnsnorm
import known_engine_bugs
import querygen
import refservers
from robdns import _core

CLASSES = sorted(querygen.generate())
MAX_SHOWN = 4



def _param(case_class):
    if case_class not in known_engine_bugs.FAILING_CLASSES:
        return case_class
    return pytest.param(case_class, marks=pytest.mark.xfail(
        strict=True, reason=known_engine_bugs.reason(case_class)))


@pytest.fixture(scope="session")
def robdns_db(corpus_zones):
    images = [_core.compile_zone(origin, path) for origin, path in corpus_zones]
    # Configured like the peers (refservers): same identity, version, NSID, payload ceiling.
    return _core.Database(images, identity=refservers.TEST_IDENTITY,
                          version=refservers.TEST_VERSION, nsid=refservers.TEST_NSID,
                          max_udp_payload=refservers.UDP_PAYLOAD_CEILING)


def robdns_answer(db, query: querygen.Query) -> dnsnorm.Norm:
    wire = query.wire()
    return dnsnorm.normalize(_core.answer(db, wire, tcp=query.tcp), wire)


def compare(db, peers, query: querygen.Query):
    """None if robdns answers like a peer, else a readable three-way diff."""
    mine = robdns_answer(db, query)
    knot, nsd, labels = peers.answers(query)
    if mine == knot or mine == nsd:
        return None
    # Before calling it a mismatch, make sure no peer answer was lost on a loaded machine.
    if knot.kind == "none" or nsd.kind == "none":
        knot, nsd, labels = peers.answers(query, patient=True)
        if mine == knot or mine == nsd:
            return None
    note = "" if knot == nsd else f"\n(knot and nsd differ: {'; '.join(labels or ['?'])})"
    return (f"query: {query.describe()}  [{query.case_class}]{note}\n"
            + dnsnorm.diff({"robdns": mine, "knot": knot, "nsd": nsd}))


@pytest.mark.parametrize("case_class", [_param(c) for c in CLASSES])
def test_robdns_answers_like_knot_or_nsd(case_class, peers, robdns_db):
    queries = querygen.generate()[case_class]
    mismatches = [d for d in (compare(robdns_db, peers, q) for q in queries) if d]
    assert not mismatches, (
        f"{len(mismatches)} of {len(queries)} queries in {case_class} answered unlike both "
        f"Knot and NSD (lines marked != are not in every response):\n\n"
        + "\n\n".join(mismatches[:MAX_SHOWN]))
