# test_zonewatch.py — a reload of the same zone configs learns the changed zone files from inotify watches on their directories (robdns.zonewatch) instead of a stat() per zone, and still sees every change: rename, write in place, touch, delete, a replaced directory, a symlinked file, lost events (a full pass then), an unwatchable filesystem.
import os
import struct

import pytest

from robdns import zonewatch
from robdns.config import ZoneConfig
from robdns.zoneset import ZoneSet, _Plan

from test_zoneset_reload import ZONE, setup, write, www


class NoFullPass:
    """Around a plan's SourceSet: a reload that stat()s every file fails the test."""
    def __init__(self, real):
        self.real = real

    def changed(self, since_ns=0):
        raise AssertionError("a full stat pass where the watch could tell")

    def updated(self, *args):
        return NoFullPass(None if self.real is None else self.real.updated(*args))


def watched(zs):
    """zs with its plan's full pass forbidden (the watch must answer)."""
    assert zs._plan.watch is not None, "no watch on a local filesystem"
    zs._plan._sources = NoFullPass(zs._plan._sources)
    return zs


def new_text(i, serial, last):
    return ZONE.format(name=f"z{i}.example.", serial=serial, extra=f"www A 192.0.2.{last}")


def fresh(zs):
    return [st.name for st in zs.fresh]


@pytest.fixture
def zones(tmp_path):
    zs = setup(tmp_path)
    if zonewatch.fs_type(str(tmp_path)) not in zonewatch.LOCAL_FS:
        pytest.skip(f"{tmp_path} is not on a filesystem inotify tells every change of")
    return zs


def test_a_change_by_rename_is_told_without_a_full_pass(zones, tmp_path):
    a = watched(ZoneSet().compiled(zones))
    b = a.compiled(zones)
    assert b.fresh == [] and all(b.get(z.name) is a.get(z.name) for z in zones)
    tmp = tmp_path / "z1.zone.new"
    write(tmp, new_text(1, 2, 11), age=5)
    os.replace(tmp, zones[1].file)          # how editors and provisioning tools save
    c = b.compiled(zones)
    assert fresh(c) == ["z1.example."] and www(c, 1) == bytes([192, 0, 2, 11])
    assert c.compiled(zones).fresh == []


def test_a_write_in_place_is_told(zones):
    a = watched(ZoneSet().compiled(zones))
    write(zones[2].file, new_text(2, 2, 12), age=5)
    b = a.compiled(zones)
    assert fresh(b) == ["z2.example."] and www(b, 2) == bytes([192, 0, 2, 12])


def test_a_touch_recompiles_that_zone_only_and_other_names_nothing(zones, tmp_path):
    a = watched(ZoneSet().compiled(zones))
    old = a.get("z3.example.").image
    os.utime(zones[3].file, None)           # touch: a new time, the same text
    write(tmp_path / ".z0.zone.swp", "editor state", age=5)   # not a zone file
    b = a.compiled(zones)
    # as the stat pass judges it: the file's time moved, so it is read again; same data
    assert fresh(b) == ["z3.example."]
    assert b.get("z3.example.").image.serial == old.serial and www(b, 3) == www(a, 3)
    assert all(b.get(f"z{i}.example.") is a.get(f"z{i}.example.") for i in (0, 1, 2))


def test_a_deleted_file_fails_that_zone_and_keeps_its_image(zones):
    a = watched(ZoneSet().compiled(zones))
    os.unlink(zones[0].file)
    b = a.compiled(zones)
    st = b.get("z0.example.")
    assert st.errors and "No such file" in st.errors[0]
    assert st.image is a.get("z0.example.").image      # the old version keeps serving
    write(zones[0].file, new_text(0, 2, 10), age=5)
    c = b.compiled(zones)
    assert not c.get("z0.example.").errors and www(c, 0) == bytes([192, 0, 2, 10])


def test_lost_events_force_a_full_pass_and_a_new_watch(zones):
    a = ZoneSet().compiled(zones)
    w = a._plan.watch
    assert w is not None
    assert a._plan._sources is None          # the full pass's SourceSet made only when needed
    write(zones[1].file, new_text(1, 2, 21), age=5)
    while True:                              # the kernel's queue emptied unread...
        try:
            os.read(w.fd, 65536)
        except BlockingIOError:
            break
    # ...and then the overflow event (inotify(7): IN_Q_OVERFLOW, wd -1)
    w.take(struct.pack("iIII", -1, zonewatch.IN_Q_OVERFLOW, 0, 0))
    b = a.compiled(zones)                    # the full pass finds what the watch lost
    assert fresh(b) == ["z1.example."] and www(b, 1) == bytes([192, 0, 2, 21])
    assert b._plan.watch is not None and b._plan.watch is not w
    write(zones[2].file, new_text(2, 2, 22), age=5)
    c = watched(b).compiled(zones)           # the new watch tells the next change
    assert fresh(c) == ["z2.example."] and www(c, 2) == bytes([192, 0, 2, 22])


def test_a_replaced_directory_is_seen(tmp_path):
    d = tmp_path / "zones"
    d.mkdir()
    zones = setup(d)
    a = ZoneSet().compiled(zones)
    assert a._plan.watch is not None
    os.rename(d, tmp_path / "zones.old")     # a new release of the zone directory
    d.mkdir()
    for i in range(4):
        write(d / f"z{i}.zone", new_text(i, 1, 1 if i != 3 else 33))
    b = a.compiled(zones)
    assert www(b, 3) == bytes([192, 0, 2, 33]) and www(b, 0) == bytes([192, 0, 2, 1])
    assert b._plan.watch is not a._plan.watch       # now on the new directory
    write(d / "z2.zone", new_text(2, 2, 34), age=5)
    c = watched(b).compiled(zones)
    assert fresh(c) == ["z2.example."] and www(c, 2) == bytes([192, 0, 2, 34])


def test_a_symlinked_zone_file_is_checked_every_time(zones, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    target = other / "z4.zone"
    write(target, new_text(4, 1, 4))
    link = tmp_path / "z4.zone"
    os.symlink(target, link)
    zs = zones + (ZoneConfig("z4.example.", str(link)),)
    a = watched(ZoneSet().compiled(zs))
    assert a.compiled(zs).fresh == []
    write(target, new_text(4, 2, 44), age=5)         # no event in the watched directory
    b = a.compiled(zs)
    assert fresh(b) == ["z4.example."] and www(b, 4) == bytes([192, 0, 2, 44])


def test_a_reload_thrown_away_is_told_again(zones):
    a = watched(ZoneSet().compiled(zones))
    write(zones[0].file, new_text(0, 2, 50), age=5)
    b = a.compiled(zones)
    assert fresh(b) == ["z0.example."]
    again = a.compiled(zones)                # b not published: a is asked again
    assert fresh(again) == ["z0.example."] and www(again, 0) == bytes([192, 0, 2, 50])


def test_a_removed_zone_and_a_new_config_go_zone_by_zone(zones):
    a = watched(ZoneSet().compiled(zones))
    b = a.compiled(zones[:3])
    assert b.get("z3.example.") is None and b.removed_from(a) == ["z3.example."]
    assert [st.name for st in b] == [z.name for z in zones[:3]]


def test_without_inotify_every_file_is_stat_ed(zones, monkeypatch):
    monkeypatch.setattr(zonewatch, "LOCAL_FS", {})    # as on NFS: no event for remote writes
    a = ZoneSet().compiled(zones)
    assert a._plan.watch is None
    write(zones[1].file, new_text(1, 2, 61), age=5)
    b = a.compiled(zones)
    assert fresh(b) == ["z1.example."] and www(b, 1) == bytes([192, 0, 2, 61])
    assert b._plan.watch is None


def test_a_file_written_just_before_its_compile_is_compiled_again(zones):
    a = watched(ZoneSet().compiled(zones))
    write(zones[2].file, new_text(2, 2, 70), age=0)   # within the settle window
    b = a.compiled(zones)
    assert fresh(b) == ["z2.example."] and b.get("z2.example.").source is None
    assert b._plan is not None                 # still a watched plan, not a full sort
    c = watched(b).compiled(zones)             # no fingerprint yet: read again
    assert fresh(c) == ["z2.example."] and www(c, 2) == bytes([192, 0, 2, 70])


def test_dir_symlinks_names_the_links_only(tmp_path):
    from robdns import _core
    (tmp_path / "plain.zone").write_text("x")
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "plain.zone", tmp_path / "link.zone")
    os.symlink(tmp_path / "sub", tmp_path / "dirlink")
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    assert sorted(_core.dir_symlinks(str(tmp_path))) == ["dangling", "dirlink", "link.zone"]
    with pytest.raises(OSError):
        _core.dir_symlinks(str(tmp_path / "missing"))


def test_the_plan_is_sorted_when_first_needed_as_at_once(zones, tmp_path):
    # A start leaves sorting the zones for the next reload (clean ones, the rest, those
    # the watch cannot tell of) until it serves; sorted then, it is what sorting at once
    # (no watch) makes, and the symlinked zone is among those checked every time.
    other = tmp_path / "elsewhere"
    other.mkdir()
    write(other / "z4.zone", new_text(4, 1, 4))
    os.symlink(other / "z4.zone", tmp_path / "z4.zone")
    zs = zones + (ZoneConfig("z4.example.", str(tmp_path / "z4.zone")),)
    a = ZoneSet().compiled(zs)
    plan = a._plan
    assert plan.watch is not None and plan._pending is not None     # not sorted yet
    a.prepare_reload()
    assert plan._pending is None
    assert list(plan.index) == list(range(len(zs))) and plan.rest == []
    assert plan.always == [len(zs) - 1]
    at_once = _Plan.of(zs, [a.get(z.name) for z in zs])
    assert at_once._pending is None and list(at_once.index) == list(plan.index)
    assert at_once.rest == [] and at_once._sources is not None
    write(other / "z4.zone", new_text(4, 2, 44), age=5)
    assert fresh(a.compiled(zs)) == ["z4.example."]
