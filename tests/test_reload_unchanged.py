"""test_reload_unchanged — a reload compiles only the zones whose files changed (as Knot
and NSD do), the files a zone pulls in with $INCLUDE included, and `ctl zone-reload
[ZONE]` compiles again regardless."""

import os
import time

from serverproc import read_example_zone

SERIAL = 2026112701
OTHER = """$ORIGIN example.net.
$TTL 300
@ IN SOA ns1 hostmaster 7 3600 900 604800 300
@ IN NS ns1
ns1 IN A 192.0.2.53
"""


def loaded_at(srv):
    return {z["name"]: z["loaded_at"] for z in srv.ctl("zone-status")["zones"]}


def test_reload_skips_unchanged_zones_and_compiles_changed_ones(robdns_server):
    srv = robdns_server({"example.com.": read_example_zone(), "example.net.": OTHER},
                        families=(4,))
    first = loaded_at(srv)
    assert srv.reload()["ok"]
    assert loaded_at(srv) == first                       # nothing changed: nothing compiled
    srv.write_zone("example.net.", OTHER.replace(" 7 ", " 8 ") + "www IN A 192.0.2.80\n")
    assert srv.reload()["ok"]
    now = loaded_at(srv)
    assert now["example.com."] == first["example.com."]
    assert now["example.net."] > first["example.net."]
    assert srv.serial("example.net.") == 8
    assert srv.query("www.example.net.", "A").answer


def test_an_edit_in_place_is_seen(robdns_server):
    # Same inode and size, only the content (and so the modification time) changes.
    srv = robdns_server({"example.net.": OTHER + "www IN A 192.0.2.80\n"}, families=(4,))
    path = srv.zone_files["example.net."]
    time.sleep(0.01)
    with open(path, "r+") as f:
        text = f.read()
        edited = text.replace(" 7 ", " 9 ").replace("192.0.2.80", "192.0.2.81")
        assert len(edited) == len(text)
        f.seek(0)
        f.write(edited)
    ino = os.stat(path).st_ino
    assert srv.reload()["ok"]
    assert os.stat(path).st_ino == ino
    assert srv.serial("example.net.") == 9
    assert srv.query("www.example.net.", "A").answer[0][0].address == "192.0.2.81"


def test_zone_reload_compiles_even_an_unchanged_zone(robdns_server):
    srv = robdns_server({"example.com.": read_example_zone(), "example.net.": OTHER},
                        families=(4,))
    first = loaded_at(srv)
    r = srv.ctl("zone-reload", zone="example.net")
    assert r["ok"], r
    now = loaded_at(srv)
    assert now["example.net."] > first["example.net."]
    assert now["example.com."] == first["example.com."]
    assert srv.ctl("zone-reload")["ok"]                  # no zone named: all of them
    assert all(t > first[n] for n, t in loaded_at(srv).items())
    r = srv.ctl("zone-reload", zone="nope.example.")
    assert not r["ok"] and "no zone nope.example." in r["error"]


def test_a_change_in_an_included_file_is_seen(robdns_server, tmp_path):
    hosts = tmp_path / "hosts.inc"
    hosts.write_text("www IN A 192.0.2.80\n")
    srv = robdns_server({"example.net.": OTHER + f"$INCLUDE {hosts}\n"}, families=(4,))
    assert srv.query("www.example.net.", "A").answer[0][0].address == "192.0.2.80"
    first = loaded_at(srv)
    assert srv.reload()["ok"]
    assert loaded_at(srv) == first                       # nothing changed: kept
    hosts.write_text("www IN A 192.0.2.99\n")             # the zone file itself is untouched
    assert srv.reload()["ok"]
    assert srv.query("www.example.net.", "A").answer[0][0].address == "192.0.2.99"


def test_a_broken_edit_after_a_skipped_reload_keeps_the_old_data(robdns_server):
    srv = robdns_server({"example.net.": OTHER}, families=(4,))
    assert srv.reload()["ok"]                            # skipped
    srv.write_zone("example.net.", OTHER + "bad IN A not-an-address\n")
    r = srv.reload()
    assert not r["ok"]
    (z,) = r["zones"]
    assert z["state"] == "failed" and z["serial"] == 7
    assert any(":6:" in e for e in z["errors"]), z["errors"]
    # Fixed again (a new file): compiled, served, and the failure is gone.
    srv.write_zone("example.net.", OTHER.replace(" 7 ", " 10 "))
    assert srv.reload()["ok"]
    assert srv.serial("example.net.") == 10
    assert os.path.exists(srv.zone_files["example.net."])
