# test_zoneset_reload.py — a reload of the same zone configs checks every zone by its sources' fingerprint in one pass (zoneset._Plan) and compiles only what changed: a zone file, an $INCLUDEd file, a zone that failed before; another config set is sorted zone by zone.
import dataclasses
import os
import time

from robdns.config import ZoneConfig
from robdns.zoneset import ZoneSet

ZONE = """$ORIGIN {name}
$TTL 300
@ SOA ns1 hostmaster {serial} 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.53
{extra}
"""


def write(path, text, age=10):
    with open(path, "w") as f:
        f.write(text)
    # older than the settle window, each write a distinct time
    old = time.time() - age
    os.utime(path, (old, old))


def setup(tmp_path, n=4):
    zones = []
    for i in range(n):
        path = tmp_path / f"z{i}.zone"
        write(path, ZONE.format(name=f"z{i}.example.", serial=1, extra="www A 192.0.2.1"))
        zones.append(ZoneConfig(f"z{i}.example.", str(path)))
    return tuple(zones)


def www(zs, i):
    return zs.get(f"z{i}.example.").image.rrsets(f"www.z{i}.example.")[0]["rdatas"][0]


def test_only_the_changed_zone_is_compiled(tmp_path):
    zones = setup(tmp_path)
    a = ZoneSet().compiled(zones)
    assert len(a.fresh) == 4
    b = a.compiled(zones)
    assert b.fresh == [] and all(b.get(z.name) is a.get(z.name) for z in zones)
    write(zones[2].file, ZONE.format(name="z2.example.", serial=2, extra="www A 192.0.2.2"), age=5)
    c = b.compiled(zones)
    assert [st.name for st in c.fresh] == ["z2.example."]
    assert www(c, 2) == bytes([192, 0, 2, 2]) and c.get("z2.example.").image.serial == 2
    assert all(c.get(z.name) is a.get(z.name) for z in zones if z.name != "z2.example.")
    # the set after that one checks z2 against its new fingerprint: nothing to do
    d = c.compiled(zones)
    assert d.fresh == []
    assert [st.name for st in d] == [z.name for z in zones]        # config order kept


def test_a_changed_include_is_seen(tmp_path):
    zones = setup(tmp_path)
    inc = tmp_path / "www.inc"
    write(inc, "www A 192.0.2.7\n")
    write(zones[1].file, ZONE.format(name="z1.example.", serial=1, extra=f"$INCLUDE {inc}"))
    a = ZoneSet().compiled(zones)
    assert www(a, 1) == bytes([192, 0, 2, 7])
    b = a.compiled(zones)
    assert b.fresh == []
    write(inc, "www A 192.0.2.8\n", age=5)
    c = b.compiled(zones)
    assert [st.name for st in c.fresh] == ["z1.example."] and www(c, 1) == bytes([192, 0, 2, 8])


def test_a_failed_zone_is_tried_again_until_it_loads(tmp_path):
    zones = setup(tmp_path)
    write(zones[3].file, "$ORIGIN z3.example.\n@ A 192.0.2.1\n")        # no SOA
    a = ZoneSet().compiled(zones)
    assert a.get("z3.example.").errors and a.get("z3.example.").image is None
    b = a.compiled(zones)
    assert b.get("z3.example.").errors and b.fresh == []
    write(zones[3].file, ZONE.format(name="z3.example.", serial=1, extra="www A 192.0.2.3"), age=5)
    c = b.compiled(zones)
    assert [st.name for st in c.fresh] == ["z3.example."] and www(c, 3) == bytes([192, 0, 2, 3])
    write(zones[0].file, ZONE.format(name="z0.example.", serial=2, extra="www A 192.0.2.9"), age=3)
    d = c.compiled(zones)
    assert [st.name for st in d.fresh] == ["z0.example."] and www(d, 0) == bytes([192, 0, 2, 9])


def test_another_config_set_is_sorted_zone_by_zone(tmp_path):
    zones = setup(tmp_path)
    a = ZoneSet().compiled(zones)
    path = tmp_path / "new.zone"
    write(path, ZONE.format(name="new.example.", serial=1, extra="www A 192.0.2.4"))
    more = zones[1:] + (ZoneConfig("new.example.", str(path)),)
    b = a.compiled(more)
    assert [st.name for st in b.fresh] == ["new.example."]
    assert b.get("z0.example.") is None and b.removed_from(a) == ["z0.example."]
    # the same configs again (a reload's recheck): nothing removed, none compiled
    again = b.compiled(more)
    assert again.removed_from(b) == [] and again.fresh == []
    # and a set of fewer configs after a recheck still names what it lost
    assert a.compiled(zones[1:]).removed_from(again.compiled(more)) == ["new.example."]
    assert all(b.get(z.name) is a.get(z.name) for z in zones[1:])
    # forced zones are compiled whatever their files say
    c = b.compiled(more, force=["z1.example."])
    assert [st.name for st in c.fresh] == ["z1.example."]


def test_zone_state_seldom_fields_set_on_one_state_only():
    # issue 14: states share one _Seldom until a field of it is set on one of them
    from robdns.zoneset import ZoneState
    a, b = ZoneState("a.", "/a"), ZoneState("b.", "/b")
    assert a.seldom is b.seldom and a.role == "primary" and a.errors == ()
    a.errors = ("bad",)
    a.expired = True
    assert (a.errors, a.expired, b.errors, b.expired) == (("bad",), True, (), False)
    s = ZoneState("s.", "/s", role="secondary", journal=b"x")
    assert (s.role, s.journal, s.seldom is b.seldom) == ("secondary", b"x", False)
    c = dataclasses.replace(a, file="/c")
    assert (c.file, c.errors, c.expired, c == a) == ("/c", ("bad",), True, False)
