"""test_differential_peers — the harness checked on its own: Knot and NSD serving the
corpus agree on every query, except in the known ways peerdiff lists.

A failure here means the harness is wrong (a zone did not load, a query is malformed,
normalization hides or invents a difference), or a peer changed: fix that before trusting
any robdns comparison.
"""

import pytest

import dnsnorm
import querygen

CLASSES = sorted(querygen.generate())
MAX_SHOWN = 5


@pytest.mark.parametrize("case_class", CLASSES)
def test_knot_and_nsd_agree_up_to_known_differences(case_class, peers):
    unexplained, silent = [], []
    for q in querygen.generate()[case_class]:
        knot, nsd, labels = peers.answers(q)
        if q.raw:
            # A malformed packet: a peer may drop it, but one of them must answer, or
            # the case shows nothing.
            if knot.kind != "response" and nsd.kind != "response":
                knot, nsd, labels = peers.answers(q, patient=True)
            if knot.kind != "response" and nsd.kind != "response":
                silent.append(f"{q.describe()}\n{dnsnorm.diff({'knot': knot, 'nsd': nsd})}")
        elif knot.kind != "response" or nsd.kind != "response":
            silent.append(f"{q.describe()}\n{dnsnorm.diff({'knot': knot, 'nsd': nsd})}")
        elif labels is None:
            unexplained.append(f"{q.describe()}\n{dnsnorm.diff({'knot': knot, 'nsd': nsd})}")
    # Every well-formed query of the set is one a server must answer (none has QR set).
    assert not silent, (f"{len(silent)} queries without a parseable answer from a peer:\n\n"
                        + "\n\n".join(silent[:MAX_SHOWN]))
    assert not unexplained, (f"{len(unexplained)} Knot/NSD differences not in peerdiff:\n\n"
                             + "\n\n".join(unexplained[:MAX_SHOWN]))


def test_the_query_set_is_thousands_over_every_name_kind_and_mode():
    classes = querygen.generate()
    total = sum(len(v) for v in classes.values())
    assert total >= 5000
    kinds = {c.split("/")[0] for c in classes}
    assert set(querygen.NAMES) <= kinds and "tcp" in kinds
    modes = {c.split("/")[1] for c in classes if "/" in c}
    assert set(querygen.EDNS_MODES) <= modes
    queries = [q for qs in classes.values() for q in qs]
    # Every name is asked in more than one letter case over the set (RFC 4343).
    assert any(q.qname != q.qname.lower() for q in queries)
    assert any(q.qname == q.qname.lower() for q in queries)
