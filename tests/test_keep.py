# test_keep.py — compiled images kept in server.storage (robdns.keep): the pack of small images and the files of big ones, used at a restart when current, compiled again when stale or damaged.
import logging
import os
import time

import pytest

from robdns import _core, keep as keep_mod
from robdns.config import ZoneConfig
from robdns.keep import TRAILER, Keep
from robdns.zoneset import ZoneSet
from packs import write_pack
from serverproc import RobdnsServer

ZONE = """$ORIGIN {name}
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.53
www A {addr}
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    # a file time older than the settle window: its content is the compiled one
    old = time.time() - 10
    os.utime(path, (old, old))


def zone_text(i, addr=None):
    return ZONE.format(name=f"z{i}.example.", addr=addr or f"192.0.2.{i % 250 + 1}")


@pytest.fixture
def many(tmp_path):
    """Three zones and their storage."""
    zones = []
    for i in range(3):
        zf = tmp_path / f"z{i}.zone"
        write(zf, zone_text(i))
        zones.append(ZoneConfig(f"z{i}.example.", str(zf)))
    keep = Keep(str(tmp_path / "storage"))
    keep.prepare()
    return zones, keep


def compile_and_keep(zones, keep):
    """A first start: everything compiled, then the keeper writes the pack."""
    zs = ZoneSet().compiled(zones, keep=keep)
    assert len(zs.fresh) == len(zones)
    keep.store(zs, zs.fresh, configured=[z.name for z in zones])
    return zs


def restart(zones, keep_dir):
    """A new process's view: a fresh Keep, the pack walked for every zone."""
    keep = Keep(keep_dir)
    keep.prepare()
    return keep, keep.load_many(zones, force_pack=True)


def test_round_trip_through_the_pack(many, tmp_path):
    zones, keep = many
    zs = compile_and_keep(zones, keep)
    assert os.path.exists(keep.pack_path)
    assert os.listdir(keep.zones_dir) == []          # small images: no file each
    keep2, found = restart(zones, keep.directory)
    for z, f in zip(zones, found):
        img, fp = f
        st = zs.get(z.name)
        assert img.same_content(st.image) and fp == st.source
        assert img.source_files == st.image.source_files
        assert img.origin == z.name
    # a new set takes them without compiling, and answers from them
    again = ZoneSet().compiled(zones, keep=keep2)
    assert again.fresh == []
    db = again.database(_cfg())
    assert len(db.zones) == 3
    assert again.get("z1.example.").image.rrsets("www.z1.example.")[0]["rdatas"] == [bytes([192, 0, 2, 2])]


def _cfg():
    from robdns.config import Config
    return Config()


def test_no_pack_yet_reads_nothing_then_the_pack_is_written_and_read(many, monkeypatch):
    # a first start: no pack, so read_pack is not asked (no argument lists of every zone)
    # and the state is what it would have found; the keeper then writes the pack anew
    zones, keep = many
    calls = []
    real = _core.read_pack
    monkeypatch.setattr(_core, "read_pack", lambda *a: calls.append(a) or real(*a))
    assert keep.load_many(zones, force_pack=True) == [None] * 3
    assert calls == [] and keep.pack_bytes == 0 and keep.pack_sizes == {}
    compile_and_keep(zones, keep)
    keep2, found = restart(zones, keep.directory)
    assert len(calls) == 1 and all(f is not None for f in found) and keep2.pack_bytes > 0


def test_stale_when_a_file_changes(many):
    zones, keep = many
    compile_and_keep(zones, keep)
    write(zones[1].file, zone_text(1, addr="198.51.100.7"))
    keep2, found = restart(zones, keep.directory)
    assert found[0] is not None and found[1] is None and found[2] is not None
    zs = ZoneSet().compiled(zones, keep=keep2)
    assert [st.name for st in zs.fresh] == ["z1.example."]
    assert zs.get("z1.example.").image.rrsets("www.z1.example.")[0]["rdatas"] == [bytes([198, 51, 100, 7])]


def test_stale_when_the_settings_change(many):
    zones, keep = many
    compile_and_keep(zones, keep)
    other = [ZoneConfig(z.name, z.file, default_ttl=60) for z in zones]
    _, found = restart(other, keep.directory)
    assert found == [None, None, None]


def test_a_later_record_replaces_an_earlier(many):
    zones, keep = many
    zs = compile_and_keep(zones, keep)
    size = os.path.getsize(keep.pack_path)
    write(zones[2].file, zone_text(2, addr="198.51.100.9"))
    zs2 = zs.compiled(zones, keep=keep)                # a reload: only z2 compiled
    assert [st.name for st in zs2.fresh] == ["z2.example."]
    keep.store(zs2, zs2.fresh)
    assert os.path.getsize(keep.pack_path) > size      # appended, not written anew
    _, found = restart(zones, keep.directory)
    assert found[2][0].same_content(zs2.get("z2.example.").image)
    assert found[2][0].rrsets("www.z2.example.")[0]["rdatas"] == [bytes([198, 51, 100, 9])]


def test_pack_written_anew_when_mostly_unused(many, monkeypatch):
    zones, keep = many
    zs = compile_and_keep(zones, keep)
    monkeypatch.setattr(keep_mod, "BIG", 1)            # any unused share is too much
    monkeypatch.setattr(keep_mod, "PACK_SLACK", 0.0)
    keep.store(zs, [zs.get("z0.example.")])            # z0 twice: one record unused
    # the store after that one writes the pack from the served zones
    zs2 = ZoneSet([st for st in zs if st.name != "z1.example."])
    monkeypatch.setattr(keep_mod, "BIG", 1 << 20)
    keep.store(zs2, [], removed=["z1.example."])
    info = _core.read_pack(keep.pack_path, [], [], [])[2]
    assert info["records"] == 2 and info["valid_end"] == info["size"]


@pytest.mark.parametrize("damage", ["flip_image", "flip_header", "truncate", "garbage"])
def test_damaged_pack_is_refused_logged_and_written_anew(many, caplog, damage):
    zones, keep = many
    zs = compile_and_keep(zones, keep)
    data = bytearray(open(keep.pack_path, "rb").read())
    if damage == "flip_image":
        data[len(data) // 2] ^= 0x40       # bounds-valid damage: the checksum sees it
    elif damage == "flip_header":
        data[16 + 16] ^= 0x01              # the first record's fingerprint: the checksum covers it
    elif damage == "truncate":
        data = data[:len(data) - 100]
    else:
        data = bytearray(b"x" * 100)
    with open(keep.pack_path, "wb") as f:
        f.write(data)
    with caplog.at_level(logging.INFO, logger="robdns"):
        keep2, found = restart(zones, keep.directory)
    assert None in found
    if damage != "garbage":
        assert "damaged" in caplog.text
    assert all(f is None or f[0].same_content(zs.get(z.name).image) for z, f in zip(zones, found))
    # compiled again, and the pack written anew from the zones served
    zs2 = ZoneSet().compiled(zones, keep=keep2)
    assert len(zs2.fresh) == found.count(None)
    keep2.store(zs2, zs2.fresh, configured=[z.name for z in zones])
    _, found = restart(zones, keep.directory)
    assert all(f is not None for f in found)


def test_many_zones_read_on_two_threads_each_checked(tmp_path):
    # read_pack splits 4096 zones or more between two threads (its third step): every zone
    # found whatever order it is asked in, and a stale or damaged record in either half is
    # refused, the others given
    n = 5000
    names, files = [f"z{i}.example." for i in range(n)], []
    for i in range(n):
        zf = str(tmp_path / f"z{i}.zone")
        write(zf, zone_text(i))
        files.append(zf)
    zones, imgs, fps, pack = write_pack(names, files, str(tmp_path / "zones.pack"))
    settings = keep_mod.settings_texts(zones)

    def read(order):
        res, got_fps, info = _core.read_pack(pack, [names[i] for i in order],
                                             [settings[i] for i in order], [files[i] for i in order])
        return dict(zip(order, res)), dict(zip(order, got_fps)), info

    for order in (list(range(n)), list(reversed(range(n)))):
        res, got_fps, info = read(order)
        assert info["records"] == n and info["valid_end"] == info["size"]
        for i in (0, 1, n // 2 - 1, n // 2, n - 1):
            assert res[i].same_content(imgs[i]) and got_fps[i] == fps[i]
        assert all(type(r) is not str for r in res.values())
    stale, damaged = 10, n - 10          # one in each half
    write(files[stale], zone_text(stale, addr="198.51.100.1"))
    data = bytearray(open(pack, "rb").read())
    def align16(x):
        return (x + 15) // 16 * 16

    rec = 16                           # the record of zone `damaged`: walk the lengths
    for i in range(damaged):
        nl, ml, il = (int.from_bytes(data[rec + k:rec + k + 4], "little") for k in (4, 8, 12))
        rec += align16(align16(32 + nl + ml) + il)
    assert bytes(data[rec + 32:rec + 32 + len(names[damaged])]) == names[damaged].encode()
    data[rec + 32 + len(names[damaged]) + 3] ^= 0x01   # in its meta (the file name)
    with open(pack, "wb") as f:
        f.write(data)
    res, _, info = read(list(range(n)))
    assert info["valid_end"] == info["size"]
    assert res[stale] == "stale" and res[damaged] == "checksum mismatch"
    assert sum(type(r) is not str for r in res.values()) == n - 2
    assert res[damaged + 1].same_content(imgs[damaged + 1])


def test_a_record_of_another_zone_is_refused(many):
    zones, keep = many
    zs = compile_and_keep(zones, keep)
    # a record naming z0 whose image is z1's (a pack written by a broken writer)
    with open(keep.pack_path, "ab") as f:
        _core.write_pack_records(f.fileno(), ["z0.example."], [zs.get("z1.example.").image],
                                 [zs.get("z0.example.").source])
    _, found = restart(zones, keep.directory)
    assert found[0] is None and found[1] is not None


def test_big_images_keep_a_file_each(many, monkeypatch):
    zones, keep = many
    monkeypatch.setattr(keep_mod, "BIG", 1)            # every image is "big"
    zs = compile_and_keep(zones, keep)
    assert sorted(os.listdir(keep.zones_dir)) == sorted(keep_mod.file_name(z.name) for z in zones)
    keep2 = Keep(keep.directory)
    found = keep2.load_many(zones)
    assert all(f[0].same_content(zs.get(z.name).image) for z, f in zip(zones, found))
    # damaged where its bounds checks cannot see it
    path = keep.path(zones[0].name)
    data = bytearray(open(path, "rb").read())
    data[zs.get(zones[0].name).image.size // 2] ^= 0x40
    with open(path, "wb") as f:
        f.write(data)
    assert Keep(keep.directory).load_many(zones)[0] is None
    # a file of another zone
    data = open(keep.path(zones[1].name), "rb").read()
    with open(keep.path(zones[2].name), "wb") as f:
        f.write(data)
    assert Keep(keep.directory).load_many(zones)[2] is None


def test_flip_trailer_of_a_big_image(many, monkeypatch):
    zones, keep = many
    monkeypatch.setattr(keep_mod, "BIG", 1)
    compile_and_keep(zones, keep)
    path = keep.path(zones[0].name)
    data = bytearray(open(path, "rb").read())
    data[-TRAILER.size + 9] ^= 0x01        # the image length
    with open(path, "wb") as f:
        f.write(data)
    assert Keep(keep.directory).load_many(zones)[0] is None


def test_unusable_storage_keeps_nothing(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    keep = Keep(str(blocker / "sub"))
    with caplog.at_level(logging.WARNING, logger="robdns"):
        keep.prepare()
    assert not keep.enabled
    assert "unusable" in caplog.text


def test_prune_drops_unconfigured_zones(many):
    zones, keep = many
    compile_and_keep(zones, keep)
    open(keep.path("gone.example."), "w").close()
    open(keep.path(zones[0].name), "w").close()         # an older robdns's file: in the pack now
    open(keep.pack_path + ".tmp123", "w").close()
    keep.prune([z.name for z in zones])
    assert os.listdir(keep.zones_dir) == []
    assert sorted(os.listdir(keep.directory)) == ["zones", "zones.pack"]


def test_fingerprint_follows_stat_data_not_content(tmp_path):
    zf = tmp_path / "z.zone"
    write(zf, zone_text(0))
    z = ZoneConfig("z0.example.", str(zf))
    fp = keep_mod.fingerprint(z, (str(zf),))
    assert fp and fp == keep_mod.fingerprint(z, (str(zf),))
    st = os.stat(zf)
    os.utime(zf, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert keep_mod.fingerprint(z, (str(zf),)) != fp
    assert keep_mod.fingerprint(z, (str(tmp_path / "missing"),)) is None
    # modified at or after the compile started (less the settle margin): unknown
    started = time.time_ns()
    assert keep_mod.fingerprint(z, (str(zf),), since_ns=started) is not None
    os.utime(zf)
    assert keep_mod.fingerprint(z, (str(zf),), since_ns=started) is None


def test_a_whole_second_file_time_is_held_to_the_coarse_tick(tmp_path):
    # A time without nanoseconds is read as a coarse filesystem's (FAT keeps 2 s, ext3 1 s):
    # a file written after the compile started may carry a time up to a tick before it, so
    # within 2 s of the start it is not fingerprinted (the zone is compiled again at the
    # next start instead of taking a kept image of what may be the old text)
    zf = tmp_path / "z.zone"
    write(zf, zone_text(0))
    z = ZoneConfig("z0.example.", str(zf))
    started = time.time_ns()
    sec = started // 10**9 * 10**9
    os.utime(zf, ns=(sec - 10**9, sec - 10**9))            # 1-2 s before, whole second
    assert keep_mod.fingerprint(z, (str(zf),), since_ns=started) is None
    os.utime(zf, ns=(sec - 10**9 + 1, sec - 10**9 + 1))    # the same with a nanosecond
    assert keep_mod.fingerprint(z, (str(zf),), since_ns=started) is not None
    os.utime(zf, ns=(sec - 3 * 10**9, sec - 3 * 10**9))    # whole second, past the tick
    assert keep_mod.fingerprint(z, (str(zf),), since_ns=started) is not None


def test_fingerprint_from_the_parser_equals_a_stat_of_the_file(tmp_path):
    # compile_zones fingerprints a zone that read only its file from the parser's fstat:
    # the same value as a stat of the file afterwards; None where the zone read an
    # $INCLUDE too (fingerprinted by stat), or where the file changed after the start
    zones, files = [], []
    for i in range(4):
        zf = tmp_path / f"z{i}.zone"
        write(zf, zone_text(i))
        zones.append(ZoneConfig(f"z{i}.example.", str(zf)))
    write(tmp_path / "inc.zone", "extra A 192.0.2.99\n")
    write(zones[2].file, zone_text(2) + f"$INCLUDE {tmp_path / 'inc.zone'}\n")
    started = time.time_ns()
    os.utime(zones[3].file)                          # written just now: not settled
    texts = keep_mod.settings_texts(zones)
    imgs, _, fps = _core.compile_zones([z.name for z in zones], [z.file for z in zones],
                                       [3600] * 4, [None] * 4, [None] * 4, 1, texts, started)
    assert all(img is not None for img in imgs) and len(imgs[2].source_files) == 2
    by_stat = keep_mod.fingerprints(zones, [img.source_files for img in imgs], started)
    assert fps[0] == by_stat[0] and fps[1] == by_stat[1] and fps[0] and fps[0] != fps[1]
    assert fps[2] is None and by_stat[2] is not None
    assert fps[3] is None and by_stat[3] is None
    # and the set's states carry them: the stat pass of a reload finds nothing changed
    zs = ZoneSet().compiled(zones[:2])
    assert [zs.get(z.name).source for z in zones[:2]] == keep_mod.fingerprints(
        zones[:2], [(z.file,) for z in zones[:2]])


def wait_pack(srv, records, timeout=20):
    path = os.path.join(srv.config["server"]["storage"], "zones.pack")
    deadline = time.monotonic() + timeout
    while True:
        if os.path.exists(path):
            info = _core.read_pack(path, [], [], [])[2]
            if info["records"] >= records and info["valid_end"] == info["size"]:
                return path
        assert time.monotonic() < deadline, f"{path} never holds {records} records"
        time.sleep(0.05)


def three_kept(tmp_path):
    """A server of three zones compiled from settled files, their pack written, stopped;
    (server, pack path)."""
    zones = {f"z{i}.example.": zone_text(i) for i in range(3)}
    srv = RobdnsServer(str(tmp_path), zones, families=(4,))
    try:
        for name, text in zones.items():
            write(srv.zone_files[name], text)
        srv.reload()                      # compiled from the settled files
        for name in zones:
            srv.ctl("zone-reload", zone=name)
        path = wait_pack(srv, 3)
        srv.stop()
    except BaseException:
        srv.close()
        raise
    return srv, path


def restarted_log(srv):
    """Start srv again; what it logged while starting."""
    start = len(srv.log_text())
    srv.start()
    return srv.log_text()[start:]


def test_daemon_restart_maps_kept_rebuilds_damaged_and_drops_removed(tmp_path):
    srv, path = three_kept(tmp_path)
    try:
        log = restarted_log(srv)
        assert "3 zones mapped from their kept images" in log, log
        assert srv.query("www.z1.example.").answer[0][0].address == "192.0.2.2"
        srv.stop()
        # damage the last record where its bounds checks cannot see it
        data = bytearray(open(path, "rb").read())
        data[len(data) - 200] ^= 0x20
        with open(path, "wb") as f:
            f.write(data)
        log = restarted_log(srv)
        assert "damaged (checksum mismatch): compiling again" in log, log
        assert "2 zones mapped from their kept images" in log
        assert all(srv.query(f"www.z{i}.example.").answer for i in range(3))
        # a zone taken out of the config is not served after a restart, even though its
        # record is still in the pack
        srv.stop()
        srv.config["zones"] = [z for z in srv.config["zones"] if z["name"] != "z2.example."]
        srv.write_config()
        srv.start()
        import dns.rcode
        assert srv.query("www.z2.example.").rcode() == dns.rcode.REFUSED
        assert srv.query("www.z0.example.").answer[0][0].address == "192.0.2.1"
    finally:
        srv.close()


def test_source_set_names_the_zones_changed(tmp_path):
    # _core.SourceSet (a reload's check of every clean zone): the zones whose files moved
    # and only those; updated() leaves the set it came from as it was
    import time as _time
    from robdns import _core
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    files = []
    for i in range(6):
        p = dirs[i % 2] / f"z{i}.zone"        # two directories, alternating
        p.write_text(f"zone {i}\n")
        os.utime(p, (1e9, 1e9))
        files.append(str(p))
    rel = os.path.relpath(files[0])            # a relative path stats as well
    settings = ["s"] * 6
    fps = _core.source_fingerprints(settings, files, [(f,) for f in files])
    assert all(fps) and fps == _core.source_fingerprints(settings, files, [(f,) for f in files])
    assert _core.source_fingerprints(["s"], [files[0]], [(rel,)]) != [0]
    ss = _core.SourceSet(settings, files, [(f,) for f in files], fps)
    assert len(ss) == 6 and ss.changed() == []
    os.utime(files[3], (2e9, 2e9))
    os.unlink(files[4])
    assert ss.changed() == [3, 4]
    now = _core.source_fingerprints(settings[3:4], files[3:4], [(files[3],)])
    ss2 = ss.updated([3], ["s"], [files[3]], [(files[3],)], now)
    assert ss2.changed() == [4] and ss.changed() == [3, 4]
    # a zone that now reads two files (an $INCLUDE added): the set is made anew
    extra = dirs[0] / "inc"
    extra.write_text("x\n")
    both = (files[3], str(extra))
    fp2 = _core.source_fingerprints(["s"], [files[3]], [both])
    ss3 = ss2.updated([3], ["s"], [files[3]], [both], fp2)
    assert ss3.changed() == [4]
    os.utime(extra, (_time.time(), _time.time()))
    assert ss3.changed() == [3, 4] and ss2.changed() == [4]
    # an unknown fingerprint (None) always shows as changed
    assert _core.SourceSet(["s"], [files[0]], [(files[0],)], [None]).changed() == [0]


def test_big_kept_image_checksummed_beside_its_offsets(tmp_path):
    # an image of 1 MiB or more is checksummed on a thread of its own while its offsets
    # are checked: damage the offsets cannot see is still refused, an intact one read
    lines = ["@ SOA ns1 hostmaster 1 7200 3600 1209600 300", "@ NS ns1", "ns1 A 192.0.2.1"]
    lines += [f"h{i} A 192.0.2.{i % 250}" for i in range(12000)]
    zf = tmp_path / "big.zone"
    zf.write_text("\n".join(lines) + "\n")
    img = _core.compile_zone("big.example.", str(zf))
    assert img.size >= 1 << 20
    k = Keep(str(tmp_path / "storage"))
    k.prepare()
    k.save("big.example.", img, 12345)
    path = k.path("big.example.")
    got, zone, key = _core.read_kept_many([path])[0]
    assert got is not None and got.same_content(img) and zone == "big.example."
    assert key == f"{12345:016x}"
    data = bytearray(open(path, "rb").read())
    data[img.size - 100] ^= 0x20           # within the last rdata: every offset stays valid
    with open(path, "wb") as f:
        f.write(data)
    assert _core.read_kept_many([path])[0] == (None, "checksum mismatch", None)


def test_the_keeper_thread_yields_to_serving():
    # the images are written at nice 19: on a server pinned to one core the UDP worker
    # keeps the CPU while 100,000 images go to the pack; other threads keep their nice
    from robdns import config, daemon
    d = daemon.Daemon(config.default_config())
    try:
        here = os.getpriority(os.PRIO_PROCESS, 0)
        assert d.keeper.submit(os.getpriority, os.PRIO_PROCESS, 0).result() == 19
        assert d.reloader.submit(os.getpriority, os.PRIO_PROCESS, 0).result() == here
        assert os.getpriority(os.PRIO_PROCESS, 0) == here
    finally:
        d.keeper.shutdown()
        d.reloader.shutdown()


def big_zone_text(name, records=12000):
    """A zone whose image is at least keep.BIG: kept in a file of its own."""
    lines = [f"$ORIGIN {name}", "$TTL 300", "@ SOA ns1 hostmaster 1 7200 3600 1209600 300",
             "@ NS ns1", "ns1 A 192.0.2.1", "www A 198.51.100.77"]
    lines += [f"h{i} A 192.0.2.{i % 250}" for i in range(records)]
    return "\n".join(lines) + "\n"


def test_own_kept_image_checked_by_header_and_checksum(tmp_path):
    # own=True (robdns.keep's restart): the header and the checksum of every byte, not the
    # walk of every node; a flipped byte anywhere is still refused
    zf = tmp_path / "big.zone"
    write(zf, big_zone_text("big.example."))
    img = _core.compile_zone("big.example.", str(zf))
    assert img.size >= keep_mod.BIG
    k = Keep(str(tmp_path / "storage"))
    k.prepare()
    k.save("big.example.", img, 12345)
    path = k.path("big.example.")
    got, zone, key = _core.read_kept_many([path], own=True)[0]
    assert got is not None and got.same_content(img) and zone == "big.example."
    assert key == f"{12345:016x}"
    del got
    good = open(path, "rb").read()
    for at in (0, 40, 64, img.size // 3, img.size - 1):   # magic, node count, sections, body
        data = bytearray(good)
        data[at] ^= 0x01
        with open(path, "wb") as f:
            f.write(data)
        assert _core.read_kept_many([path], own=True)[0] == (None, "checksum mismatch", None), at


def test_kept_image_of_many_chunks_summed_on_two_threads(tmp_path):
    # an image of several 1 MiB chunks, the last one partial: summed on two threads when
    # written and when read back (own or not); a flipped byte in either thread's chunks,
    # in the last partial one or at a chunk's edge is refused
    zf = tmp_path / "big.zone"
    write(zf, big_zone_text("big.example.", records=40000))
    img = _core.compile_zone("big.example.", str(zf))
    assert img.size > 3 << 20 and img.size % (1 << 20)
    k = Keep(str(tmp_path / "storage"))
    k.prepare()
    k.save("big.example.", img, 12345)
    path = k.path("big.example.")
    assert open(path, "rb").read()[-TRAILER.size:][:8] == b"RDKEEP02"
    for own in (True, False):
        got, zone, key = _core.read_kept_many([path], own=own)[0]
        assert got is not None and got.same_content(img) and zone == "big.example."
    del got
    good = open(path, "rb").read()
    for at in (100, (1 << 20) - 1, 1 << 20, img.size // 2 + 7, img.size - 5):
        data = bytearray(good)
        data[at] ^= 0x04
        with open(path, "wb") as f:
            f.write(data)
        for own in (True, False):
            assert _core.read_kept_many([path], own=own)[0] == (None, "checksum mismatch", None), (at, own)


def test_kept_file_of_the_one_pass_checksum_is_compiled_again(tmp_path):
    # "RDKEEP01" files (the image summed in one pass) are not read: compiled again
    zf = tmp_path / "big.zone"
    write(zf, big_zone_text("big.example."))
    img = _core.compile_zone("big.example.", str(zf))
    k = Keep(str(tmp_path / "storage"))
    k.prepare()
    k.save("big.example.", img, 12345)
    path = k.path("big.example.")
    data = bytearray(open(path, "rb").read())
    data[-TRAILER.size:-TRAILER.size + 8] = b"RDKEEP01"
    with open(path, "wb") as f:
        f.write(data)
    assert _core.read_kept_many([path], own=True)[0] == (None, "not a kept image, or truncated", None)


def test_daemon_refuses_a_kept_image_with_a_flipped_byte_and_compiles_the_file(tmp_path):
    name = "big.example."
    srv = RobdnsServer(str(tmp_path), {name: big_zone_text(name)}, families=(4,))
    write(srv.zone_files[name], big_zone_text(name))
    path = os.path.join(srv.config["server"]["storage"], "zones", keep_mod.file_name(name))
    try:
        srv.reload()                                   # compiled from the settled file
        srv.ctl("zone-reload", zone=name)
        deadline = time.monotonic() + 30
        while not os.path.exists(path):
            assert time.monotonic() < deadline, f"no kept image {path}"
            time.sleep(0.05)
        srv.stop()
        log = restarted_log(srv)
        assert "1 zones mapped from their kept images" in log, log
        assert srv.query("www." + name).answer[0][0].address == "198.51.100.77"
        srv.stop()
        # www's address changed wherever the image holds it (its rdata, its precomputed
        # answer): were the damaged image served, www would answer 198.51.100.78
        data = open(path, "rb").read()
        assert data.count(bytes([198, 51, 100, 77])) >= 1
        with open(path, "wb") as f:
            f.write(data.replace(bytes([198, 51, 100, 77]), bytes([198, 51, 100, 78])))
        log = restarted_log(srv)
        assert "damaged (checksum mismatch): compiling again" in log, log
        assert srv.query("www." + name).answer[0][0].address == "198.51.100.77"
    finally:
        srv.close()


def serial_text(i, serial):
    return zone_text(i).replace(" 1 7200 ", f" {serial} 7200 ")


def test_restart_compiles_a_file_changed_while_down_and_its_plan_sees_later_changes(many):
    # A restart takes every zone whose files are as kept from the pack, and compiles the
    # one whose file changed while the server was down (stale image refused); the plan
    # made from the kept states then tells the next reload of a file changed after it.
    zones, keep = many
    compile_and_keep(zones, keep)
    write(zones[1].file, serial_text(1, 17))         # changed while "down" (size too)
    keep2 = Keep(keep.directory)
    keep2.prepare()
    zs = ZoneSet().compiled(zones, keep=keep2)
    assert [st.name for st in zs.fresh] == ["z1.example."]
    assert [zs.get(z.name).image.serial for z in zones] == [1, 17, 1]
    kept = zs.get("z0.example.")
    assert kept.errors == () and kept.role == "primary" and type(kept.source) is int
    assert kept.source == keep_mod.fingerprint(zones[0], kept.image.source_files)
    write(zones[2].file, serial_text(2, 19))         # changed after the restart
    again = zs.compiled(zones, keep=keep2)
    assert [st.name for st in again.fresh] == ["z2.example."]
    assert [again.get(z.name).image.serial for z in zones] == [1, 17, 19]


def test_daemon_restart_serves_a_zone_file_changed_while_it_was_down(tmp_path):
    srv, _ = three_kept(tmp_path)
    try:
        write(srv.zone_files["z1.example."], zone_text(1, addr="198.51.100.9"))
        log = restarted_log(srv)
        assert "2 zones mapped from their kept images" in log, log
        assert "1 kept images stale" in log, log
        assert srv.query("www.z1.example.").answer[0][0].address == "198.51.100.9"
        assert srv.query("www.z0.example.").answer[0][0].address == "192.0.2.1"
    finally:
        srv.close()
