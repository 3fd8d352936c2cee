"""test_reload_report — what a reload tells the operator beyond ok: settings changed in
the file that wait for a restart, and zones whose content changed under a serial that did
not increase (secondaries would never pick the change up)."""

import json
import os
import time

from serverproc import read_example_zone

SERIAL = 2026112701


def test_reload_and_status_say_which_settings_wait_for_a_restart(robdns_server):
    srv = robdns_server(workers=1)
    srv.config["server"]["workers"] = 2
    srv.config["server"]["rrl"] = {"rate": 50}
    srv.write_config()
    r = srv.ctl_cli("reload")
    assert r.returncode == 0, r.stderr
    assert "restart needed: server.workers, server.rrl" in r.stdout
    resp = srv.ctl("reload")
    assert resp["ok"] and resp["restart_needed"] == ["server.workers", "server.rrl"]
    assert srv.ctl("status")["restart_needed"] == ["server.workers", "server.rrl"]
    assert srv.ctl("status")["workers"] == 1          # still the running value
    r = srv.ctl_cli("status")
    assert "restart needed: server.workers, server.rrl" in r.stdout
    # Back to what runs: nothing waits any more.
    srv.config["server"]["workers"] = 1
    del srv.config["server"]["rrl"]
    srv.write_config()
    assert srv.ctl("reload")["restart_needed"] == []
    assert "restart needed" not in srv.ctl_cli("status").stdout


def zone_status(srv):
    (z,) = srv.ctl("zone-status")["zones"]
    return z


def test_changed_content_under_the_same_serial_is_warned_about(robdns_server):
    srv = robdns_server()
    text = read_example_zone()
    srv.write_zone("example.com.", text.replace("192.0.2.25", "192.0.2.26"))
    assert srv.reload()["ok"]
    z = zone_status(srv)
    assert len(z["warnings"]) == 1 and f"serial {SERIAL} is unchanged" in z["warnings"][0]
    assert "content changed" in srv.log_text()
    r = srv.ctl_cli("zone-status", "example.com.")
    assert r.returncode == 0 and "warning: zone example.com.: content changed" in r.stdout
    # The new content is served all the same (as Knot does).
    assert [rd.address for rd in srv.query("mail.example.com.", "A").answer[0]] == ["192.0.2.26"]
    # A later load with a higher serial clears the warning.
    srv.write_zone("example.com.", text.replace(str(SERIAL), str(SERIAL + 1)))
    assert srv.reload()["ok"] and zone_status(srv)["warnings"] == []


def test_a_serial_gone_back_is_warned_about(robdns_server):
    srv = robdns_server()
    srv.write_zone("example.com.", read_example_zone().replace(str(SERIAL), str(SERIAL - 1)))
    assert srv.reload()["ok"]
    (w,) = zone_status(srv)["warnings"]
    assert f"went back from {SERIAL}" in w


def test_same_content_or_a_higher_serial_is_not_warned_about(robdns_server):
    srv = robdns_server()
    text = read_example_zone()
    srv.write_zone("example.com.", text + "; only a comment\n")     # a new file, same records
    time.sleep(0.06)
    assert srv.reload()["ok"] and zone_status(srv)["warnings"] == []
    assert srv.ctl("zone-reload")["ok"] and zone_status(srv)["warnings"] == []
    # RFC 1982 3.1: an increase is by at most 2^31 - 1, and may wrap past 2^32 - 1.
    srv.write_zone("example.com.", text.replace(str(SERIAL), str(SERIAL + 2**31 - 1)))
    assert srv.reload()["ok"] and zone_status(srv)["warnings"] == []
    srv.write_zone("example.com.", text.replace(str(SERIAL), "5").replace("192.0.2.25", "192.0.2.27"))
    assert srv.reload()["ok"] and zone_status(srv)["warnings"] == []
    assert "content changed" not in srv.log_text()
    st = json.loads(srv.ctl_cli("status", "--json").stdout)
    assert st["zones"][0]["serial"] == 5 and os.path.exists(srv.control)
