# test_dynzones.py — zones added and removed at run time (ctl zone-add / zone-remove), kept across reloads and restarts in server.storage, and one-zone reloads that touch no other zone.
import json
import os

import dns.rcode

from robdns import config
from robdns.dynzones import DynamicZones
from serverproc import RobdnsServer

COM = """$ORIGIN example.com.
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.53
www A 192.0.2.80
"""
NET = COM.replace("example.com.", "example.net.").replace("192.0.2.80", "198.51.100.80")


def address(srv, name):
    r = srv.query(name)
    assert r.rcode() == dns.rcode.NOERROR, r
    return r.answer[0][0].address


def test_add_remove_survive_reload_and_restart(tmp_path):
    srv = RobdnsServer(str(tmp_path), {"example.com.": COM}, families=(4,))
    net = tmp_path / "example.net.zone"
    net.write_text(NET)
    try:
        assert srv.query("www.example.net.").rcode() == dns.rcode.REFUSED
        r = srv.ctl("zone-add", zone="Example.NET", file=str(net))
        assert r["ok"] and r["persisted"], r
        assert r["zones"][0]["name"] == "example.net." and r["zones"][0]["serial"] == 1
        assert address(srv, "www.example.net.") == "198.51.100.80"
        assert address(srv, "www.example.com.") == "192.0.2.80"

        # RFC 1034 4.3.2 step 2: a name in no hosted zone is refused
        r = srv.ctl("zone-remove", zone="example.com")
        assert r["ok"] and r["zone"] == "example.com.", r
        assert srv.query("www.example.com.").rcode() == dns.rcode.REFUSED
        names = [z["name"] for z in srv.ctl("status")["zones"]]
        assert names == ["example.net."]

        state = json.loads((tmp_path / "storage" / "dynamic-zones.json").read_text())
        assert state["added"] == [{"name": "example.net.", "file": str(net), "default_ttl": 3600}]
        assert state["removed"] == ["example.com."]

        # a reload of the (unchanged) config keeps the run-time changes
        assert srv.reload()["ok"]
        assert address(srv, "www.example.net.") == "198.51.100.80"
        assert srv.query("www.example.com.").rcode() == dns.rcode.REFUSED

        # and so does a restart
        srv.stop()
        srv.start()
        assert address(srv, "www.example.net.") == "198.51.100.80"
        assert srv.query("www.example.com.").rcode() == dns.rcode.REFUSED

        # a removed config zone comes back with zone-add
        r = srv.ctl("zone-add", zone="example.com.", file=srv.zone_files["example.com."])
        assert r["ok"], r
        assert address(srv, "www.example.com.") == "192.0.2.80"
        state = json.loads((tmp_path / "storage" / "dynamic-zones.json").read_text())
        assert state["removed"] == []
    finally:
        srv.close()


def test_refusals(tmp_path):
    srv = RobdnsServer(str(tmp_path), {"example.com.": COM}, families=(4,))
    bad = tmp_path / "bad.zone"
    bad.write_text("$ORIGIN example.org.\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ A 300.1.1.1\n")
    try:
        r = srv.ctl("zone-add", zone="example.com.", file=srv.zone_files["example.com."])
        assert not r["ok"] and "served already" in r["error"]
        r = srv.ctl("zone-add", zone="example.org.", file=str(bad))
        assert not r["ok"] and "failed to load" in r["error"] and r["zones"][0]["errors"]
        assert srv.query("example.org.", "SOA").rcode() == dns.rcode.REFUSED
        r = srv.ctl("zone-add", zone="bad..name", file=str(bad))
        assert not r["ok"] and "bad zone name" in r["error"]
        r = srv.ctl("zone-remove", zone="example.org.")
        assert not r["ok"] and "no zone" in r["error"]
        assert not (tmp_path / "storage" / "dynamic-zones.json").exists()
    finally:
        srv.close()


def test_ctl_command_line(tmp_path):
    """`robdns ctl zone-add NAME FILE` (a relative FILE is the caller's) and zone-remove."""
    srv = RobdnsServer(str(tmp_path), {"example.com.": COM}, families=(4,))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "net.zone").write_text(NET)
    try:
        r = srv.ctl_cli("zone-add", "example.net.", "sub/net.zone", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "example.net." in r.stdout
        assert address(srv, "www.example.net.") == "198.51.100.80"
        r = srv.ctl_cli("zone-remove", "example.net.")
        assert r.returncode == 0 and "zone example.net. removed" in r.stdout, r.stderr
        assert srv.query("www.example.net.").rcode() == dns.rcode.REFUSED
    finally:
        srv.close()


def test_zone_reload_of_one_zone_touches_no_other(tmp_path):
    srv = RobdnsServer(str(tmp_path), {"example.com.": COM, "example.net.": NET}, families=(4,))
    try:
        # break the other zone's file: a one-zone reload must not even look at it
        with open(srv.zone_files["example.net."], "w") as f:
            f.write("garbage\n")
        with open(srv.zone_files["example.com."], "w") as f:
            f.write(COM.replace(" 1 7200", " 2 7200"))
        start = len(srv.log_text())
        r = srv.ctl("zone-reload", zone="example.com.")
        assert r["ok"] and [z["serial"] for z in r["zones"]] == [2], r
        assert srv.serial("example.com.") == 2
        log = srv.log_text()[start:]
        assert "example.net" not in log
        assert address(srv, "www.example.net.") == "198.51.100.80"
    finally:
        srv.close()


def test_state_file_rules(tmp_path):
    """Config zones minus removed plus added; the config file wins over an added zone of
    the same name; a damaged file is forgotten with a warning."""
    cfg = config.parse("zones:\n  - {name: a.example., file: a.zone}\n  - {name: b.example., file: b.zone}\n",
                       str(tmp_path / "robdns.yaml"))
    dyn = DynamicZones(str(tmp_path))
    dyn.add(config.zone_config(cfg, "c.example.", "c.zone"))
    dyn.add(config.zone_config(cfg, "a.example.", "other.zone"))
    dyn.remove("b.example.")
    dyn.save()
    again = DynamicZones(str(tmp_path)).load()
    zones = again.zones(cfg)
    assert [(z.name, os.path.basename(z.file)) for z in zones] == [("a.example.", "a.zone"),
                                                                  ("c.example.", "c.zone")]
    (tmp_path / "dynamic-zones.json").write_text("{not json")
    assert DynamicZones(str(tmp_path)).load().zones(cfg) == cfg.zones
