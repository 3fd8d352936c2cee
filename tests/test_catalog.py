# test_catalog.py — catalog zones, producer side (RFC 9432): the catalog generated from the zones that name it, its serial, and its answers from a running server.
import hashlib

import dns.message
import dns.name
import dns.rcode
import pytest

from robdns import catalog, config
from robdns.errors import ConfigError
from robdns.zoneset import ZoneSet
from serverproc import RobdnsServer

COM = """$ORIGIN example.com.
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.53
"""


def cfg_of(text, tmp_path):
    return config.parse(text, str(tmp_path / "robdns.yaml"))


def test_config_rules(tmp_path):
    with pytest.raises(ConfigError, match="is not a zone with catalog"):
        cfg_of("zones:\n  - {name: a.example., file: a.zone, catalog_member: cat.example.}\n", tmp_path)
    with pytest.raises(ConfigError, match="generated: no file"):
        cfg_of("zones:\n  - {name: cat.example., file: c.zone, catalog: {role: producer}}\n", tmp_path)
    with pytest.raises(ConfigError, match="catalog.role"):
        cfg_of("zones:\n  - {name: cat.example., catalog: {role: mirror}}\n", tmp_path)
    cfg = cfg_of("zones:\n  - {name: cat.example., catalog: {role: producer}}\n"
                 "  - {name: A.example, file: a.zone, catalog_member: CAT.example}\n", tmp_path)
    assert cfg.zones[0].catalog_role == "producer" and cfg.zones[0].file == ""
    assert cfg.zones[1].catalog_member == "cat.example."


def test_member_id_is_sha1_of_the_wire_name():
    # RFC 9432 4.1: a unique label per member; the same one at every generation
    wire = dns.name.from_text("Example.COM.").canonicalize().to_wire()
    assert catalog.member_id("Example.COM.") == hashlib.sha1(wire).hexdigest()


def test_generated_zone_and_serial(tmp_path):
    (tmp_path / "a.zone").write_text(COM.replace("example.com.", "a.example."))
    (tmp_path / "b.zone").write_text(COM.replace("example.com.", "b.example."))
    head = "zones:\n  - {name: cat.example., catalog: {role: producer}}\n"
    a = "  - {name: a.example., file: a.zone, catalog_member: cat.example.}\n"
    b = "  - {name: b.example., file: b.zone, catalog_member: cat.example.}\n"
    zs = ZoneSet().compiled(cfg_of(head + a, tmp_path).zones)
    st = zs.get("cat.example.")
    assert st.image is not None and st.source == ("catalog", ("a.example.",))
    first = st.image.serial
    # the same members: the same state (no new serial, no new image)
    again = zs.compiled(cfg_of(head + a, tmp_path).zones)
    assert again.get("cat.example.") is st
    # a new member: the catalog again, with a newer serial (RFC 1982)
    grown = again.compiled(cfg_of(head + a + b, tmp_path).zones)
    st2 = grown.get("cat.example.")
    assert st2.source == ("catalog", ("a.example.", "b.example."))
    assert ((st2.image.serial - first) & 0xFFFFFFFF) in range(1, 0x80000000)


def test_next_serial_always_newer():
    for old in (None, 0, 5, 0xFFFFFFFF, 0x7FFFFFFF, 2**32 - 10):
        new = catalog.next_serial(old)
        if old is not None:
            assert new != old and ((new - old) & 0xFFFFFFFF) < 0x80000000
    far = (catalog.next_serial(None) + 100000) & 0xFFFFFFFF    # a serial "ahead of" the clock
    assert catalog.next_serial(far) == (far + 1) & 0xFFFFFFFF


def test_served_catalog(tmp_path):
    net = COM.replace("example.com.", "example.net.")
    srv = RobdnsServer(str(tmp_path), {"example.com.": COM, "example.net.": net}, families=(4,),
                       start=False)
    zones = [{"name": "catalog.invalid.", "catalog": {"role": "producer"}},
             {"name": "example.com.", "file": srv.zone_files["example.com."],
              "catalog_member": "catalog.invalid."},
             {"name": "example.net.", "file": srv.zone_files["example.net."]}]
    srv.config["zones"] = zones
    srv.write_config()
    try:
        srv.start()
        r = srv.query("version.catalog.invalid.", "TXT")
        assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].strings == (b"2",)
        cid = catalog.member_id("example.com.")
        r = srv.query(f"{cid}.zones.catalog.invalid.", "PTR")
        assert r.answer[0][0].target == dns.name.from_text("example.com.")
        nid = catalog.member_id("example.net.")
        assert srv.query(f"{nid}.zones.catalog.invalid.", "PTR").rcode() == dns.rcode.NXDOMAIN
        first = srv.serial("catalog.invalid.")
        # example.net. joins the catalog at a reload
        zones[2]["catalog_member"] = "catalog.invalid."
        srv.write_config()
        assert srv.reload()["ok"]
        r = srv.query(f"{nid}.zones.catalog.invalid.", "PTR")
        assert r.answer[0][0].target == dns.name.from_text("example.net.")
        assert ((srv.serial("catalog.invalid.") - first) & 0xFFFFFFFF) in range(1, 0x80000000)
    finally:
        srv.close()


def _knot_consumer_conf(workdir, port, catalog_name, primary):
    """Knot interpreting `catalog_name` (catalog-role: interpret) from robdns at
    `primary` (host, port); its members are transferred from robdns too (the template)."""
    import xfr_primaries as k
    return "\n".join(k.knot_conf_head(workdir, "127.0.0.1", port) + [
        "remote:", "  - id: robdns", f"    address: {primary[0]}@{primary[1]}", f"    key: {k.KEY_NAME}",
        "acl:", "  - id: from_robdns", f"    address: {primary[0]}", f"    key: {k.KEY_NAME}",
        "    action: notify",
        "template:", "  - id: default", f'    storage: "{workdir}"', "    zonefile-sync: -1",
        "  - id: member", f'    storage: "{workdir}"', "    zonefile-sync: -1", "    master: robdns",
        "    acl: from_robdns",
        "zone:", f'  - domain: "{catalog_name}"', "    master: robdns", "    acl: from_robdns",
        "    catalog-role: interpret", "    catalog-template: member",
    ]) + "\n"


def test_knot_consumes_robdns_catalog(tmp_path):
    """Knot (catalog-role: interpret) follows a catalog robdns produces: it serves the
    members, then a member added and one removed in robdns's configuration at run time
    (reload; robdns NOTIFYs Knot) appear on Knot and go (REFUSED)."""
    import os
    import time

    import xfr_primaries
    from refservers import KNOTD, _launch, command, free_port

    key = xfr_primaries.KEY_NAME
    kport = free_port()
    org = COM.replace("example.com.", "example.org.")
    net = COM.replace("example.com.", "example.net.")
    srv = RobdnsServer(str(tmp_path), {"example.com.": COM, "example.net.": net, "example.org.": org},
                       families=(4,), start=False)
    xfr = {"allow_transfer": [{"address": "127.0.0.1", "key": key}]}
    cat = "catalog.invalid."
    zones = [{"name": cat, "catalog": {"role": "producer"},
              "notify": [{"address": f"127.0.0.1@{kport}", "key": key}], **xfr},
             {"name": "example.com.", "file": srv.zone_files["example.com."], "catalog_member": cat, **xfr},
             {"name": "example.net.", "file": srv.zone_files["example.net."], "catalog_member": cat, **xfr},
             {"name": "example.org.", "file": srv.zone_files["example.org."], **xfr}]
    srv.config.update(zones=zones, keys=xfr_primaries.robdns_keys())
    srv.write_config()
    workdir = str(tmp_path / "knot")
    os.makedirs(os.path.join(workdir, "db"))
    conf = os.path.join(workdir, "knot.conf")
    with open(conf, "w") as f:
        f.write(_knot_consumer_conf(workdir, kport, cat, ("127.0.0.1", srv.port)))
    knot = None
    try:
        srv.start()
        knot = _launch("knot", command("knot", conf), workdir, "127.0.0.1", kport,
                       [("example.com.", None), ("example.net.", None)], 30.0)
        knot.workdir = str(tmp_path / "knot-stopped")     # keep the log for a failure

        def knot_rcode(name):
            q = dns.message.make_query(name, "SOA")
            wire = knot.ask(q.to_wire())
            return dns.message.from_wire(wire).rcode() if wire else None

        def wait_knot(name, want, timeout=30.0):
            deadline = time.monotonic() + timeout
            while knot_rcode(name) != want:
                assert time.monotonic() < deadline, f"{name}: not {want} on Knot\n{knot.log()}"
                time.sleep(0.2)

        assert knot_rcode("example.org.") == dns.rcode.REFUSED
        # example.org. joins the catalog, example.net. leaves it: one reload of robdns
        zones[2].pop("catalog_member")
        zones[3]["catalog_member"] = cat
        srv.write_config()
        assert srv.reload()["ok"]
        wait_knot("example.org.", dns.rcode.NOERROR)
        wait_knot("example.net.", dns.rcode.REFUSED)
        assert knot_rcode("example.com.") == dns.rcode.NOERROR
    finally:
        if knot is not None:
            knot.stop()
        srv.close()
