# test_compile_zones.py — _core.compile_zones (many zone files compiled in one call, on threads) gives what compile_zone gives zone by zone, and leaves every zone it cannot compile to it.
import os

import pytest

from robdns import _core
from robdns.config import IncludePolicy
from robdns.errors import ZoneError
from test_huge_images import vmas

SOA = "@ SOA ns1 hostmaster {serial} 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def batch(items, threads=2, policy=None, nsec3=None):
    n = len(items)
    return _core.compile_zones([o for o, _ in items], [p for _, p in items], [3600] * n,
                               [policy] * n, [nsec3] * n, threads)


def test_same_images_as_one_by_one(tmp_path):
    # more zones than one thread's run, so that both threads take some
    items = []
    for i in range(300):
        origin = f"z{i}.example."
        items.append((origin, write(tmp_path, f"z{i}.zone",
                                    SOA.format(serial=i + 1) + f"www A 192.0.2.{i % 250}\n"
                                    f"@ MX 10 mail\nmail AAAA 2001:db8::{i:x}\n")))
    images, seconds = batch(items)
    assert len(images) == len(seconds) == 300
    for (origin, path), img, secs in zip(items, images, seconds):
        one = _core.compile_zone(origin, path)
        assert img is not None and img.same_content(one)
        assert img.origin == origin and img.serial == one.serial
        assert img.source_files == one.source_files == (path,)
        assert img.warnings == one.warnings == []
        assert secs > 0


def test_zones_it_leaves_to_compile_zone(tmp_path):
    good = write(tmp_path, "good.zone", SOA.format(serial=7))
    bad = write(tmp_path, "bad.zone", SOA.format(serial=7) + "www A 300.1.1.1\n")
    nosoa = write(tmp_path, "nosoa.zone", "@ NS ns1\nns1 A 192.0.2.1\n")
    # a type the C parser leaves as text for dnspython (LOC)
    loc = write(tmp_path, "loc.zone", SOA.format(serial=7) + "@ LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m\n")
    items = [("good.example.", good), ("bad.example.", bad), ("nosoa.example.", nosoa),
             ("missing.example.", str(tmp_path / "missing.zone")), ("loc.example.", loc),
             ("esc\\.aped.example.", good), ("good2.example.", good)]
    images, _ = batch(items)
    assert [img is not None for img in images] == [True, False, False, False, False, False, True]
    # and compile_zone says why (or compiles what needs Python)
    for origin, path in items[1:4]:
        with pytest.raises((ZoneError, OSError)):
            _core.compile_zone(origin, path)
    assert _core.compile_zone("loc.example.", loc).record_count == 4


def test_include_policy_and_sources(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    inc = write(sub, "hosts.inc", "www A 192.0.2.80\n")
    top = write(tmp_path, "top.zone", SOA.format(serial=3) + f"$INCLUDE {inc}\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.inc"
    outside.write_text("far A 192.0.2.81\n")
    far = write(tmp_path, "far.zone", SOA.format(serial=3) + f"$INCLUDE {outside}\n")
    try:
        images, _ = batch([("top.example.", top), ("far.example.", far)],
                          policy=IncludePolicy(dir_only=True))
        assert images[0] is not None and images[0].source_files == (top, inc)
        assert images[0].same_content(_core.compile_zone("top.example.", top))
        assert images[1] is None          # $INCLUDE outside the zone file's directory
        images, _ = batch([("far.example.", far)] * 2, threads=1)
        assert images[0] is not None and images[0].record_count == 4
    finally:
        os.unlink(outside)


def test_warnings_as_compile_zone(tmp_path):
    # a TTL above 2^31-1 is a warning (RFC 2181 8), not an error
    path = write(tmp_path, "w.zone", SOA.format(serial=1) + "www 4294967295 A 192.0.2.1\n")
    images, _ = batch([("w.example.", path)] * 2)
    one = _core.compile_zone("w.example.", path)
    assert one.warnings and images[0].warnings == one.warnings
    assert images[0].same_content(one)


def test_nsec3_limit_is_left_to_compile_zone(tmp_path):
    path = write(tmp_path, "n3.zone", SOA.format(serial=1)
                 + "@ NSEC3PARAM 1 0 10 aabbccdd\n")
    images, _ = batch([("n3.example.", path)] * 2, nsec3=5)
    assert images == [None, None]
    with pytest.raises(ZoneError):
        _core.compile_zone("n3.example.", path, nsec3_max_iterations=5)
    images, _ = batch([("n3.example.", path)] * 2, nsec3=50)
    assert images[0] is not None


def test_arguments_checked():
    with pytest.raises(ValueError):
        _core.compile_zones(["a."], [], [], [], [])
    assert _core.compile_zones([], [], [], [], [], 2) == ([], [])


def test_compile_all_states(tmp_path):
    # robdns.zoneset.compile_all: the batch's images become states with fingerprinted
    # sources; the zone it leaves (an error) is compiled alone and fails with FILE:LINE
    from robdns import config, zoneset
    cfg_path = tmp_path / "robdns.yaml"
    files = []
    for i in range(3):
        text = SOA.format(serial=10 + i) + ("www A 999.1.1.1\n" if i == 1 else "")
        files.append(write(tmp_path, f"c{i}.zone", text))
        os.utime(files[-1], (1e9, 1e9))   # written long before the compile: fingerprinted
    cfg_path.write_text("zones:\n" + "".join(f'  - {{name: c{i}.example., file: "{f}"}}\n'
                                             for i, f in enumerate(files)))
    cfg = config.load(str(cfg_path))
    states = zoneset.compile_all([(z, None) for z in cfg.zones])
    assert [st.image is not None for st in states] == [True, False, True]
    assert [st.image.serial for st in states if st.image is not None] == [10, 12]
    assert all(type(st.source) is int for st in (states[0], states[2]))
    assert states[1].errors and states[1].errors[0].startswith(f"{files[1]}:4:")
    assert states[0].load_seconds > 0 and states[0].loaded_at > 0


def test_images_gathered_into_one_block_outlive_each_other(tmp_path):
    # past 1 MiB of images the batch copies them into one read-only mapping that the
    # images share: each stays valid while any other is dropped, and answers as built
    import gc
    items = [(f"b{i}.example.", write(tmp_path, f"b{i}.zone", SOA.format(serial=i + 1)
                                      + "".join(f"h{k} A 192.0.2.{k}\n" for k in range(40))))
             for i in range(600)]
    images, _ = batch(items)
    assert sum(img.size for img in images) >= 1 << 20
    ref = _core.compile_zone(*items[599])
    del images[:599]
    gc.collect()
    assert images[0].same_content(ref) and images[0].serial == 600
    db = _core.Database(images)
    assert db is not None


def _huge_page_blocks():
    """{address: AnonHugePages kB} of the read-only mappings of at least 1 MiB marked for
    huge pages (MADV_HUGEPAGE: VmFlags "hg")."""
    out, addr, size, huge = {}, None, 0, 0
    with open("/proc/self/smaps") as f:
        for line in f:
            if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                addr = line.split()[0]
            elif line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("AnonHugePages:"):
                huge = int(line.split()[1])
            elif line.startswith("VmFlags:"):
                flags = line.split()[1:]
                if "hg" in flags and "rd" in flags and "wr" not in flags and size >= 1024:
                    out[addr] = huge
    return out


def test_the_block_is_copied_into_small_pages_then_marked_for_huge_ones(tmp_path):
    # fresh 2 MiB pages cost up to seconds per 256 MiB on a VM whose host backs memory
    # lazily: the copy faults 4 KiB pages, and an idle-priority thread (rd_huge.c)
    # collapses them afterwards: every huge page of the block is one it has made
    items = [(f"h{i}.example.", write(tmp_path, f"h{i}.zone", SOA.format(serial=1)
                                      + "".join(f"h{k} A 192.0.2.{k}\n" for k in range(40))))
             for i in range(2400)]
    images, _ = batch(items)
    assert sum(img.size for img in images) >= 4 << 20      # room for aligned 2 MiB pages
    # the block, found by its address: the thread itself marks it MADV_HUGEPAGE when it
    # runs (a start holds it until the workers are quiet: rd_huge_hold), so no flag yet
    base, length = _core.image_huge_pages(images[0])[2:]
    assert base % (2 << 20) == 0 and length >= 4 << 20
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            madvise_only = "[madvise]" in f.read()
    except OSError:
        madvise_only = False
    huge_kb = sum(kb for *_, kb in vmas(base, base + length))
    made = _core.image_huge_pages(images[0])[0]     # read after the smaps above
    if madvise_only:       # with THP "always" every fault may take a huge page anyway
        # (+1: a page collapsed but not yet counted when smaps was read)
        assert huge_kb <= (made + 1) * 2048
    done, pages = _core.image_huge_pages(images[0], wait=True)[:2]
    assert pages >= 1 and done == pages
    # marked for huge pages now, and still read-only
    assert any(int(a.split("-")[0], 16) <= base < int(a.split("-")[1], 16) for a in _huge_page_blocks())
    del images


def test_warnings_and_sources_are_the_callers_to_change(tmp_path):
    # An image without warnings and with one source file stores neither list nor tuple
    # per zone (issue 14): what it hands out is still a list and a tuple, a new list each
    # time, so that a caller changing one changes no image.
    a = write(tmp_path, "a.zone", SOA.format(serial=1))
    inc = write(tmp_path, "inc.zone", "www A 192.0.2.9\n")
    b = write(tmp_path, "b.zone", SOA.format(serial=2) + f"$INCLUDE {inc}\n"
              "x 100 A 192.0.2.1\nx 50 A 192.0.2.2\n")
    images, _ = batch([("a.example.", a), ("b.example.", b)])
    one, two = images[0], images[1] or _core.compile_zone("b.example.", b)
    assert type(one.warnings) is list and one.warnings == []
    one.warnings.append("changed")
    assert one.warnings == []
    assert type(one.source_files) is tuple and one.source_files == (a,)
    assert two.source_files == (b, inc)
    w = two.warnings
    assert len(w) == 1 and "TTL 50 differs" in w[0]
    w.clear()
    assert len(two.warnings) == 1
