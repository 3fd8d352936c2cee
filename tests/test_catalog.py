# test_catalog.py — catalog zones, producer side (RFC 9432): the catalog generated from the zones that name it, its serial, and its answers from a running server.
import hashlib

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
