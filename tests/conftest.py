"""conftest — shared fixtures: `robdns_server` starts real `robdns serve` subprocesses
(see serverproc.py) and stops them at the end of the test."""

import pytest
from hypothesis import HealthCheck, settings

from serverproc import RobdnsServer, read_example_zone

# Hypothesis fails an example that takes over 200 ms and a strategy it finds slow: on a
# loaded shared machine that is a verdict on the machine, not on robdns.  Speed is
# measured in bench/; property tests judge only what the code answers.
settings.register_profile("robdns", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("robdns")


def pytest_sessionstart(session):
    """The suite drives the engine, the parser and RCU through the test hooks, which the
    product leaves out: say how to build them instead of failing test by test.

    Every `robdns serve` the suite starts keeps its compiled images in a directory of the
    suite's own ($STATE_DIRECTORY, the first place the daemon looks), never in the
    machine's /var/lib/robdns: the suite touches nothing it did not make."""
    import os
    import tempfile
    if not os.environ.get("ROBDNS_SUITE_STATE"):
        state = tempfile.mkdtemp(prefix="robdns-suite-state-")
        os.environ["ROBDNS_SUITE_STATE"] = os.environ["STATE_DIRECTORY"] = state
    from robdns import _core
    if not hasattr(_core, "rcu_stress"):
        pytest.exit(f"{_core.__file__} was built without the test hooks: rebuild with "
                    "ROBDNS_TEST_HOOKS=1 python3 setup.py build_ext --inplace "
                    "(scripts/test.sh does this)", returncode=3)


@pytest.fixture
def robdns_server(tmp_path):
    """Factory: robdns_server(zones={name: text}, workers=1, families=(4, 6), server={...})."""
    servers = []

    def start(zones=None, **kw):
        d = tmp_path / f"srv{len(servers)}"
        d.mkdir()
        srv = RobdnsServer(str(d), zones if zones is not None else {"example.com.": read_example_zone()}, **kw)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        try:
            srv.stop()
        except Exception:
            pass
        srv.close()
