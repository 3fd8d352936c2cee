"""test_privileges — who `robdns serve` runs as after binding: supplementary groups are
dropped whenever the ids change, and a server left running as root says so."""

import grp
import os
import shutil

import pytest

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="changing ids needs root"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed"),
]

# Start the server with supplementary groups, as a root login shell may have them.
WITH_GROUPS = ["setpriv", "--groups", "27,100", "--"]


def ids(pid):
    with open(f"/proc/{pid}/status") as f:
        return {k: v.split() for k, v in (line.split(":", 1) for line in f) if k in ("Uid", "Gid", "Groups")}


def _can_raise_nice_limit():
    """Can this (root) process raise RLIMIT_NICE's hard limit (CAP_SYS_RESOURCE)?  Tried
    in a child, which is thrown away."""
    import subprocess
    import sys
    code = "import resource; resource.setrlimit(resource.RLIMIT_NICE, (20, 20))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def nice_limit(pid):
    """The soft RLIMIT_NICE of a process ("unlimited" as a big number)."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max nice priority"):
                soft = line.split()[3]
                return 1 << 30 if soft == "unlimited" else int(soft)
    raise AssertionError("no RLIMIT_NICE line")


def test_group_without_user_drops_supplementary_groups_and_warns(robdns_server):
    nogroup = grp.getgrnam("nogroup").gr_gid
    srv = robdns_server(server={"group": "nogroup"}, wrapper=WITH_GROUPS)
    got = ids(srv.pid)
    assert set(map(int, got["Gid"])) == {nogroup}
    assert got["Groups"] == []              # root's groups would keep root's file access
    assert set(map(int, got["Uid"])) == {0}
    assert srv.serial("example.com.")
    assert "running as root" in srv.log_text() and "server.user" in srv.log_text()


def test_root_without_user_or_group_warns(robdns_server):
    srv = robdns_server()
    assert "running as root" in srv.log_text() and "server.user" in srv.log_text()


def test_user_drops_groups_and_does_not_warn():
    import tempfile
    from serverproc import RobdnsServer, read_example_zone
    d = tempfile.mkdtemp(prefix="robdns-priv-", dir="/tmp")   # pytest's tmp is root-only
    os.chmod(d, 0o755)
    srv = RobdnsServer(d, {"example.com.": read_example_zone()}, server={"user": "nobody"},
                       wrapper=WITH_GROUPS, start=False)
    try:
        os.chmod(srv.zone_files["example.com."], 0o644)
        srv.start()
        assert ids(srv.pid)["Groups"] == []
        assert "running as root" not in srv.log_text()
        if _can_raise_nice_limit():
            # unprivileged now, it may still raise its idle huge-page thread to nice 0
            assert nice_limit(srv.pid) >= 20
        assert srv.stop() == 0
    finally:
        srv.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fake_nice_limit(monkeypatch):
    """resource.getrlimit/setrlimit of RLIMIT_NICE on a dict: (soft, hard) and the calls."""
    import resource
    state = {"limit": (0, 0), "set": [], "refuse": False}

    def getrlimit(which):
        assert which == resource.RLIMIT_NICE
        return state["limit"]

    def setrlimit(which, value):
        assert which == resource.RLIMIT_NICE
        if state["refuse"]:
            raise ValueError("not allowed to raise maximum limit")
        state["set"].append(value)
        state["limit"] = value
    monkeypatch.setattr(resource, "getrlimit", getrlimit)
    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    return state


def test_nice_limit_raised_to_nice_0_and_never_lowered(fake_nice_limit):
    # no root needed: the calls are recorded, not made
    import resource
    from robdns.privileges import allow_normal_priority
    allow_normal_priority()
    assert fake_nice_limit["set"] == [(20, 20)]          # the default 0/0: nice 0 allowed now
    fake_nice_limit.update(limit=(25, resource.RLIM_INFINITY), set=[])
    allow_normal_priority()
    assert fake_nice_limit["set"] == []                  # already enough: left as it is
    fake_nice_limit.update(limit=(0, 0), refuse=True)
    allow_normal_priority()                              # refused (no CAP_SYS_RESOURCE): no error
    assert fake_nice_limit["limit"] == (0, 0)
