"""conftest — session fixtures of the differential suite: Knot and NSD serving the corpus,
their normalized answers cached per query, and the record of where the peers disagree."""

from __future__ import annotations

import collections
import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, os.path.dirname(HERE)):   # querygen/peerdiff; refservers/dnsnorm
    if path not in sys.path:
        sys.path.insert(0, path)

import dnsnorm  # noqa: E402
import peerdiff  # noqa: E402
import querygen  # noqa: E402
import refservers  # noqa: E402

# label -> count, and the first few examples, of every Knot/NSD disagreement seen.
PEER_DIFFERENCES: dict = collections.Counter()
PEER_DIFFERENCE_EXAMPLES: dict = {}
REPORT_PATH = os.path.join(tempfile.gettempdir(), f"robdns-peer-differences-{os.getpid()}.txt")


class Peers:
    """Knot and NSD on loopback, each query asked once per session."""

    def __init__(self, knot: refservers.RefServer, nsd: refservers.RefServer):
        self.knot, self.nsd = knot, nsd
        self._cache: dict = {}
        self._patient: set = set()

    def answers(self, query: querygen.Query, patient: bool = False):
        """(knot Norm, nsd Norm, labels explaining their difference or None).

        Raw (malformed) packets get one short try — a peer may rightly stay silent, and
        waiting out every retry would cost seconds; patient=True asks again with the
        full retries (a caller does so before calling a mismatch real)."""
        key = (query.wire(), query.tcp)
        hit = self._cache.get(key)
        if hit is None or (patient and key not in self._patient):
            wire = key[0]
            if query.raw and not patient:
                k_wire = self.knot.query(wire, tcp=query.tcp, timeout=0.3)
                n_wire = self.nsd.query(wire, tcp=query.tcp, timeout=0.3)
            else:
                # A peer may rightly ignore a malformed packet: wait less for those.
                timeouts = (0.5, 1.0) if query.raw else (1.0, 2.0, 4.0)
                k_wire = self.knot.ask(wire, query.tcp, timeouts)
                n_wire = self.nsd.ask(wire, query.tcp, timeouts)
                self._patient.add(key)
            k, n = dnsnorm.normalize(k_wire, wire), dnsnorm.normalize(n_wire, wire)
            labels = peerdiff.explain(query, k, n, querygen.CORPUS_ORIGINS)
            fresh = hit is None
            hit = (k, n, labels)
            self._cache[key] = hit
            if fresh and k != n:
                for label in labels or ["UNEXPLAINED"]:
                    PEER_DIFFERENCES[label] += 1
                    examples = PEER_DIFFERENCE_EXAMPLES.setdefault(label, [])
                    if len(examples) < 3:
                        examples.append(f"{query.describe()}\n"
                                        f"{dnsnorm.diff({'knot': k, 'nsd': n})}")
        return hit


@pytest.fixture(scope="session")
def corpus_zones():
    return querygen.corpus_zones()


@pytest.fixture(scope="session")
def peers(corpus_zones):
    for binary in (refservers.KNOTD, refservers.NSD):
        if not refservers.available(binary):
            pytest.fail(f"{binary} is missing: scripts/test.sh installs the knot and nsd "
                        "Debian packages the differential suite compares against")
    with refservers.knot_and_nsd(corpus_zones) as (knot, nsd):
        yield Peers(knot, nsd)


@pytest.fixture(scope="session")
def query_classes():
    return querygen.generate()


def pytest_terminal_summary(terminalreporter):
    """Where Knot and NSD disagree (either answer is accepted from robdns there)."""
    if not PEER_DIFFERENCES:
        return
    tr = terminalreporter
    tr.section("Knot vs NSD: where the reference servers disagree")
    for label, count in PEER_DIFFERENCES.most_common():
        tr.write_line(f"{count:6}  {label}")
    with open(REPORT_PATH, "w") as f:
        for label, count in PEER_DIFFERENCES.most_common():
            f.write(f"### {label} ({count})\n")
            for ex in PEER_DIFFERENCE_EXAMPLES.get(label, []):
                f.write(ex + "\n\n")
    tr.write_line(f"examples of each: {REPORT_PATH}")
