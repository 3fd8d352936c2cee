"""test_precompute_room — a big image grows in its own mapping, and the precompute pass
writes the first half's answers inside the image's room instead of copying them in.

query/precompute.c reserves the answer table's and the first half's room in the image's
own mapping (zone/zimg_build_alloc.c) before the engine runs on it, and only the second
half's records are copied in at the end (issue 13: the copy of the whole image and the
kernel zeroing the copy's pages were ~1/3 of a secondary's time to serving).  The room is
an estimate: when the first half outgrows it, the half goes on in a buffer of its own and
is copied like the second.  Whatever happens, the image must be byte for byte the one of
the plain path; here checked with the room forced too small from the first byte, in the
middle of the half (its pages written so far given back), and ample, with one and two
threads, for a zone under the mapping threshold, one whose build image is under it and
the grown image over it (a malloc()ed image moved into a mapping), and one over it.
"""

import hashlib
import struct

import pytest

from robdns import _core


FAST_OFF_AT = 96                          # struct zimg: fast_off, where the pass began


def zone_text(hosts, signed_like=False):
    lines = ["$ORIGIN big.test.", "$TTL 300",
             "@ SOA ns1 host 1 3600 600 86400 300", "@ NS ns1", "ns1 A 192.0.2.1",
             "@ MX 10 mail", "mail A 192.0.2.2", "* TXT wild"]
    for i in range(hosts):
        lines.append(f"h{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        if i % 3 == 0:
            lines.append(f"h{i} AAAA 2001:db8::{i:x}")
        if i % 7 == 0:
            lines.append(f"c{i} CNAME h{i}")
        if i % 11 == 0:
            lines.append(f"d{i} NS ns.d{i}")
            lines.append(f"ns.d{i} A 198.51.100.{i % 250}")
    return "\n".join(lines) + "\n"


def digest(text, threads=0, room=-1):
    old_t = _core.set_precompute_threads(threads)
    old_r = _core.set_precompute_room(room)
    try:
        img = _core.compile_zone_text("big.test.", text)
    finally:
        _core.set_precompute_threads(old_t)
        _core.set_precompute_room(old_r)
    data = _core.image_to_bytes(img)
    return len(data), hashlib.sha256(data).hexdigest(), _core.image_answer_names(img)


@pytest.fixture(scope="module", params=[2000, 16000, 40000], ids=["small", "grows-over", "big"])
def zone(request):
    text = zone_text(request.param)
    return request.param, text, digest(text, threads=1)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("room", [-1, 0, 1, 4096, 150_000, 1 << 30])
def test_same_image_whatever_the_room(zone, threads, room):
    hosts, text, plain = zone
    size, _, names = plain
    assert names > hosts                      # the answers are there at all
    got = digest(text, threads=threads, room=room)
    if threads == 2:
        # two halves keep a NODATA cache each (precompute.c): compare with two threads
        # through the other path (the default room, or for the default no room at all,
        # where both halves are copied in), checked against one thread where the zone is
        # too small to split
        assert got == digest(text, threads=2, room=0 if room == -1 else -1)
    else:
        assert got == plain


def test_sizes_cover_the_mapping_threshold(zone):
    """The three zones are under, across and over the 4 MiB where an image gets its own
    mapping (so every zimg_resize path above ran)."""
    hosts, text, (size, _, _) = zone
    data = _core.image_to_bytes(_core.compile_zone_text("big.test.", text))
    built = struct.unpack_from("<I", data, FAST_OFF_AT)[0]    # the image before the pass
    if hosts == 2000:
        assert size < 4 << 20
    elif hosts == 40000:
        assert built > 4 << 20
    else:
        assert built < 4 << 20 < size


def test_answers_unchanged_by_the_room():
    """Served answers, not only bytes: the precomputed answer of a few names with the room
    forced to zero equals the default's."""
    text = zone_text(20000)
    imgs = []
    for room in (-1, 0):
        old = _core.set_precompute_room(room)
        try:
            imgs.append(_core.compile_zone_text("big.test.", text))
        finally:
            _core.set_precompute_room(old)
    for name, qtype in [("h0.big.test.", 1), ("h19999.big.test.", 1), ("h3.big.test.", 28),
                        ("c14.big.test.", 1), ("big.test.", 15), ("nothere.big.test.", 16)]:
        a = _core.image_fast_answer(imgs[0], name, qtype)
        b = _core.image_fast_answer(imgs[1], name, qtype)
        assert a == b
    assert _core.image_fast_answer(imgs[1], "h19999.big.test.", 1) is not None
