# test_huge_images.py — the image block of many compiled zones and a kept pack's mapping moved into 2 MiB pages in the background (lib/rd_huge.c): same bytes, still read-only, unmapped with their last image.
import gc
import os
import time

import pytest

from robdns import _core, keep as keep_mod
from packs import write_pack

ZONE = """$ORIGIN {name}
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.53
www A 192.0.2.{i}
www AAAA 2001:db8::{i:x}
mail A 192.0.2.25
@ MX 10 mail
@ TXT "v=spf1 mx -all {i}"
ftp CNAME www
"""
N = 6000                       # ~1.3 KB of image each: a block of several 2 MiB pages


@pytest.fixture(scope="module")
def zones(tmp_path_factory):
    d = tmp_path_factory.mktemp("huge")
    names, files = [], []
    for i in range(N):
        name, f = f"z{i}.huge.test.", str(d / f"z{i}.zone")
        with open(f, "w") as fh:
            fh.write(ZONE.format(name=name, i=i % 250 + 1))
        old = time.time() - 10          # older than the keeper's settle window
        os.utime(f, (old, old))
        names.append(name)
        files.append(f)
    return d, names, files


def vmas(lo, hi):
    """The /proc/self/smaps entries overlapping [lo, hi): (start, end, perms, AnonHugePages kB)."""
    out, cur = [], None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                a, b = (int(x, 16) for x in head[0].split("-"))
                cur = [a, b, head[1], 0] if a < hi and b > lo else None
                if cur:
                    out.append(cur)
            elif cur and head[0] == "AnonHugePages:":
                cur[3] = int(head[1])
    return out


def check_huge(img, others):
    """img's mapping: every whole 2 MiB page made huge by the background thread, the range
    read-only throughout and answering the same bytes; returns the range."""
    done, pages, base, length = _core.image_huge_pages(img, wait=True)
    assert pages >= 2 and done == pages and base % (2 << 20) == 0
    maps = vmas(base, base + length)
    assert maps and maps[0][0] <= base and maps[-1][1] >= base + length
    assert all(perms.startswith("r-") for _, _, perms, _ in maps)   # never writable
    # the kernel gave huge pages (MADV_COLLAPSE / a THP fault): at least most of them
    assert sum(kb for *_, kb in maps) >= (pages - 1) * 2048
    for a, b in others:
        assert a.same_content(b)
    return base, length


def test_compiled_block_collapsed_read_only_and_unmapped_with_its_images(zones):
    d, names, files = zones
    imgs, _ = _core.compile_zones(names, files, [3600] * N, [None] * N, [None] * N, threads=2)
    ref = [_core.compile_zone(names[i], files[i]) for i in (0, N // 2, N - 1)]
    base, length = check_huge(imgs[0], zip([imgs[0], imgs[N // 2], imgs[N - 1]], ref))
    assert imgs[N // 2].rrsets(f"www.{names[N // 2]}")[0]["rdatas"] == [bytes([192, 0, 2, N // 2 % 250 + 1])]
    del imgs
    gc.collect()
    assert vmas(base, base + length) == []   # unmapped with the last image


def test_kept_pack_copied_into_huge_pages_read_only_and_unmapped(zones, tmp_path):
    d, names, files = zones
    cfgs, imgs, _, pack = write_pack(names, files, str(tmp_path / "zones.pack"))
    res, _, info = _core.read_pack(pack, names, keep_mod.settings_texts(cfgs), files)
    assert all(type(r) is not str for r in res)
    # the file mapping's whole 2 MiB pages were replaced by anonymous copies at the same
    # addresses: the images read from them still equal the compiled ones
    base, length = check_huge(res[0], zip([res[i] for i in (0, N // 2, N - 1)],
                                          [imgs[i] for i in (0, N // 2, N - 1)]))
    assert all(res[i].same_content(imgs[i]) for i in range(0, N, 97))
    del res
    gc.collect()
    assert vmas(base, base + length) == []


def test_stopped_when_the_images_go_first(zones):
    # the images dropped at once: the owner stops the thread before it unmaps (no copy or
    # collapse into a range already given back), however far it got
    d, names, files = zones
    for _ in range(3):
        imgs, _ = _core.compile_zones(names, files, [3600] * N, [None] * N, [None] * N, threads=2)
        done, pages, base, length = _core.image_huge_pages(imgs[0])
        assert pages >= 2
        del imgs
        gc.collect()
        assert vmas(base, base + length) == []


def test_copy_stopped_when_the_pack_images_go_first(zones, tmp_path):
    # the same for a kept pack (RD_HUGE_COPY), where a thread outliving the mapping would
    # copy from a range given back (a fault) or move its copy into it (a mapping that
    # shows in smaps after the unmap)
    d, names, files = zones
    cfgs, imgs, _, pack = write_pack(names, files, str(tmp_path / "zones.pack"))
    texts = keep_mod.settings_texts(cfgs)
    for _ in range(3):
        res, _, _ = _core.read_pack(pack, names, texts, files)
        done, pages, base, length = _core.image_huge_pages(res[0])
        assert pages >= 2
        del res
        gc.collect()
        time.sleep(0.05)                 # a thread left running would have moved a page
        assert vmas(base, base + length) == []


def test_small_and_single_images_have_no_thread(zones):
    d, names, files = zones
    assert _core.image_huge_pages(_core.compile_zone(names[0], files[0])) == (0, 0, 0, 0)
    imgs, _ = _core.compile_zones(names[:20], files[:20], [3600] * 20, [None] * 20, [None] * 20)
    assert _core.image_huge_pages(imgs[0]) == (0, 0, 0, 0)       # below the block's minimum


def test_answers_while_the_pack_is_moved_into_huge_pages(zones, tmp_path):
    # the engine reads the pack's images (without the GIL, batch and single) while the
    # thread copies and moves them: never a fault, the answers byte for byte as before
    import struct
    d, names, files = zones
    cfgs, imgs, _, pack = write_pack(names, files, str(tmp_path / "zones.pack"))

    def query(name, qid):
        wire = b"".join(bytes([len(x)]) + x.encode() for x in ("www." + name).rstrip(".").split("."))
        return struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + wire + b"\0\0\x01\0\x01"

    qs = [query(n, i) for i, n in enumerate(names)]
    want = [_core.answer(_core.Database(imgs), q) for q in qs[:50]]
    res, _, _ = _core.read_pack(pack, names, keep_mod.settings_texts(cfgs), files)
    db = _core.Database(res)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:         # bounded: on a busy host the rest is waited
        done, pages = _core.image_huge_pages(res[0])[:2]
        _core.bench_answer(db, qs, 0.05, batch=64)
        _core.bench_answer(db, qs, 0.02)
        if done == pages:
            break
    assert pages >= 2 and _core.image_huge_pages(res[0], wait=True)[0] == pages
    assert [_core.answer(db, q) for q in qs[:50]] == want
    assert want[0][3] & 0x0f == 0 and want[0][6:8] == b"\0\x01"     # NOERROR, one answer


def test_held_threads_wait_until_released(zones):
    # a start holds the moves (huge_hold, Daemon): no page is touched until the release,
    # then the thread does the whole range
    d, names, files = zones
    _core.huge_hold(True)
    try:
        imgs, _ = _core.compile_zones(names, files, [3600] * N, [None] * N, [None] * N, threads=2)
        time.sleep(0.3)
        done, pages, base, length = _core.image_huge_pages(imgs[0])
        assert pages >= 2 and done == 0
        assert sum(kb for *_, kb in vmas(base, base + length)) == 0
    finally:
        _core.huge_hold(False)
    check_huge(imgs[0], [])


def test_held_thread_stopped_when_the_images_go(zones):
    # a thread still held when its images go ends at once (rd_huge_stop wakes it): the
    # owner's unmap does not wait for a release that may never come
    d, names, files = zones
    _core.huge_hold(True)
    try:
        imgs, _ = _core.compile_zones(names, files, [3600] * N, [None] * N, [None] * N, threads=2)
        base, length = _core.image_huge_pages(imgs[0])[2:]
        t0 = time.monotonic()
        del imgs
        gc.collect()
        assert time.monotonic() - t0 < 5
        assert vmas(base, base + length) == []
    finally:
        _core.huge_hold(False)
