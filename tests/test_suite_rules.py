"""test_suite_rules — rules the test suite keeps for itself: property tests judge answers,
not the speed of a shared machine (speed is measured in bench/); a missing reference
server fails; the reference servers keep to their own directory and port; helper
modules are not named like tests."""

import ast
import os
import re

from hypothesis import HealthCheck, settings

TESTS = os.path.dirname(os.path.abspath(__file__))


def test_property_tests_have_no_deadline_or_slowness_check():
    # conftest.py loads the profile; a test's own @settings keeps these unless it sets them.
    assert settings().deadline is None
    assert HealthCheck.too_slow in settings().suppress_health_check


def _test_sources():
    for folder in (TESTS, os.path.join(TESTS, "differential")):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py") and name != os.path.basename(__file__):
                yield os.path.join(folder, name)


def test_a_missing_reference_server_fails_and_is_never_skipped():
    # Knot and NSD are the references the differential tests compare with: without them a
    # skip would report a green suite that compared nothing.
    found = []
    for path in _test_sources():
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if "skip" in line and re.search(r"KNOTD|NSD\b|knotd|\bnsd\b|named-checkzone", line):
                    found.append(f"{os.path.relpath(path, TESTS)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_modules_named_like_tests_hold_tests():
    # pytest collects test_*.py: a helper module under that name is collected for nothing
    # and reads like a test that lost its tests.
    empty = []
    for path in _test_sources():
        name = os.path.basename(path)
        if not name.startswith("test_"):
            continue
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        names = [n.name for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        if not any(n.startswith(("test_", "Test")) for n in names):
            empty.append(os.path.relpath(path, TESTS))
    assert not empty, f"helpers named like tests: {empty}"


def test_reference_servers_keep_to_their_own_directory_and_port(tmp_path):
    # The suite starts Knot and NSD itself, never the packaged services: every file they
    # write (pid, run, database, journal, log, control socket) is under the test's own
    # directory, they listen on the port they were given, and NSD has no control socket.
    import refservers
    work = str(tmp_path)
    zone = "/srv/zones/example.com.zone"              # read only, from wherever it is
    for conf in (refservers._knot_conf(work, "127.0.0.1", 40053, [("example.com.", zone)]),
                 refservers._nsd_conf(work, "127.0.0.1", 40053, [("example.com.", zone)])):
        paths = [p for p in re.findall(r'"(/[^"]*)"', conf) if p != zone]
        assert paths and all(p == work or p.startswith(work + "/") for p in paths), paths
        assert "40053" in conf and not re.search(r"@53\b|port: 53\b", conf)
    nsd = refservers._nsd_conf(work, "127.0.0.1", 40053, [])
    assert "control-enable: no" in nsd and 'chroot: ""' in nsd and 'username: ""' in nsd


def test_daemons_started_by_the_suite_keep_state_in_the_suites_own_directory():
    """conftest points $STATE_DIRECTORY (where `robdns serve` keeps compiled images when
    no server.storage is configured) at a temporary directory, so that the suite never
    writes the machine's /var/lib/robdns."""
    import tempfile
    from robdns import config
    state = os.environ.get("STATE_DIRECTORY", "")
    assert state.startswith(tempfile.gettempdir()) and os.path.isdir(state)
    assert config.default_storage() == state
