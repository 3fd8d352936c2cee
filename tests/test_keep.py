# test_keep.py — compiled images kept in server.storage (robdns.keep): used at a restart when current, compiled again when stale or damaged.
import logging
import os
import time

import pytest

from robdns import _core
from robdns.config import ZoneConfig
from robdns.keep import TRAILER, Keep
from robdns.zoneset import ZoneSet, zone_source
from serverproc import RobdnsServer

ZONE = """$ORIGIN example.com.
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.53
www A 192.0.2.80
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    # a file time older than the settle window: its content is the compiled one
    old = time.time() - 10
    os.utime(path, (old, old))


@pytest.fixture
def setup(tmp_path):
    zf = tmp_path / "example.com.zone"
    write(zf, ZONE)
    keep = Keep(str(tmp_path / "storage"))
    keep.prepare()
    return ZoneConfig("example.com.", str(zf)), keep


def compile_and_keep(z, keep):
    zones = ZoneSet().compiled([z], keep=keep)
    st = zones.get(z.name)
    assert zones.fresh == [st]
    keep.save(st.name, st.image, st.source)
    return st


def test_round_trip(setup):
    z, keep = setup
    st = compile_and_keep(z, keep)
    img, source = keep.load(z, zone_source)
    assert img.same_content(st.image)
    [(img2, source2)] = keep.load_many([z], zone_source)
    assert img2.same_content(st.image) and source2 == source
    assert img2.source_files == st.image.source_files
    assert source == st.source
    assert img.source_files == st.image.source_files
    # a new set takes it without compiling
    again = ZoneSet().compiled([z], keep=keep)
    assert again.fresh == [] and again.get(z.name).image.same_content(st.image)


def test_stale_when_the_file_changes(setup):
    z, keep = setup
    compile_and_keep(z, keep)
    write(z.file, ZONE.replace("192.0.2.80", "192.0.2.81"))
    assert keep.load(z, zone_source) is None
    zones = ZoneSet().compiled([z], keep=keep)
    assert len(zones.fresh) == 1


@pytest.mark.parametrize("damage", ["flip_image", "flip_trailer", "truncate", "garbage"])
def test_damaged_image_is_refused_and_logged(setup, caplog, damage):
    z, keep = setup
    st = compile_and_keep(z, keep)
    path = keep.path(z.name)
    data = bytearray(open(path, "rb").read())
    if damage == "flip_image":
        data[st.image.size // 2] ^= 0x40       # bounds-valid damage: the checksum sees it
    elif damage == "flip_trailer":
        data[-TRAILER.size + 9] ^= 0x01        # the image length
    elif damage == "truncate":
        data = data[:len(data) // 2]
    else:
        data = bytearray(b"x" * 100)
    with open(path, "wb") as f:
        f.write(data)
    with caplog.at_level(logging.WARNING, logger="robdns"):
        assert keep.load(z, zone_source) is None
    assert any("damaged" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="robdns"):
        assert keep.load_many([z], zone_source) == [None]      # the batch read says the same
    assert any("damaged" in r.getMessage() for r in caplog.records)
    zones = ZoneSet().compiled([z], keep=keep)
    assert zones.get(z.name).image.same_content(st.image)
    assert len(zones.fresh) == 1


def test_a_file_of_another_zone_is_refused(setup, tmp_path):
    z, keep = setup
    compile_and_keep(z, keep)
    other = ZoneConfig("example.net.", z.file)
    os.replace(keep.path(z.name), keep.path(other.name))
    assert keep.load(other, zone_source) is None


def test_unusable_storage_keeps_nothing(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    keep = Keep(str(blocker / "sub"))
    with caplog.at_level(logging.WARNING, logger="robdns"):
        keep.prepare()
    assert not keep.enabled
    assert "unusable" in caplog.text


def test_prune_drops_unconfigured_zones(setup):
    z, keep = setup
    compile_and_keep(z, keep)
    open(keep.path("gone.example.") , "w").close()
    open(keep.path(z.name) + ".tmp123", "w").close()
    keep.prune([z.name])
    assert sorted(os.listdir(keep.zones_dir)) == ["example.com.zimg"]


def wait_kept(storage, name, timeout=20):
    path = os.path.join(storage, "zones", name)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return path


def test_daemon_restart_maps_kept_and_rebuilds_damaged(tmp_path):
    srv = RobdnsServer(str(tmp_path), {"example.com.": ZONE}, families=(4,))
    write(srv.zone_files["example.com."], ZONE)
    storage = srv.config["server"]["storage"]
    try:
        srv.ctl("zone-reload", zone="example.com.")     # compiled from the settled file
        path = wait_kept(storage, "example.com.zimg")
        srv.stop()
        start = len(srv.log_text())
        srv.start()
        assert "1 zones mapped from their kept images" in srv.log_text()[start:]
        assert srv.query("www.example.com.").answer[0][0].address == "192.0.2.80"
        srv.stop()
        # damage the kept image where its bounds checks cannot see it
        data = bytearray(open(path, "rb").read())
        data[len(data) // 3] ^= 0x20
        with open(path, "wb") as f:
            f.write(data)
        start = len(srv.log_text())
        srv.start()
        log = srv.log_text()[start:]
        assert "damaged (checksum mismatch): compiling again" in log
        assert "zone example.com. loaded" in log
        assert srv.query("www.example.com.").answer[0][0].address == "192.0.2.80"
        # the compiled image replaced the damaged file: the next start maps it
        deadline = time.monotonic() + 20
        while open(path, "rb").read() == bytes(data):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        srv.stop()
        start = len(srv.log_text())
        srv.start()
        assert "1 zones mapped from their kept images" in srv.log_text()[start:]
    finally:
        srv.close()
