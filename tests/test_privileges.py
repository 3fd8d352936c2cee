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
        assert srv.stop() == 0
    finally:
        srv.close()
        shutil.rmtree(d, ignore_errors=True)
