"""test_zimg_fast_table — the answer table of a zone image, as precompute.c lays it out.

The builder writes the (hash, record) pairs densely into the table's own room, sorts them
there by home slot and lays them out from there (query/precompute.c table_fill), so that
node_rec is not resident beside the whole image (issue 13's peak).  The result must be
the linear-probing table the readers walk (zimg_fast.c, engine_fast.c, engine_batch.c):
checked from the image bytes — every name at or after its home with no empty slot
between, every stored hash a name's, every name's answers served byte for byte as the
general path writes them, single and batched — over zone sizes from one line of slots to
tens of thousands of names, and for the table's last cluster running past the end (the
pairs set aside and inserted last, wrapping to slot 0).
"""

import os
import struct

import dns.message
import dns.name
import pytest

from robdns import _core

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
ORIGINS = ("example.", "example.com.", "example.net.", "child.example.com.")
FAST_OFF_AT, FAST_MASK_AT = 96, 100       # struct zimg offsets
M64 = (1 << 64) - 1
NONE = 0xFFFFFFFF


def zfast_hash(wire):
    """zimg_format.h zfast_hash, in Python (checked against the stored hashes below)."""
    h = 0x9E3779B97F4A7C15 ^ len(wire)
    for i in range(0, len(wire), 8):
        w = int.from_bytes(wire[i:i + 8], "little")
        h = ((h ^ w) * 0xFF51AFD7ED558CCD) & M64
        h ^= h >> 32
    h ^= h >> 29
    h = (h * 0xC4CEB9FE1A85EC53) & M64
    h ^= h >> 32
    return h & 0xFFFFFFFF


def wire(name):
    return dns.name.from_text(name).canonicalize().to_wire()


def table(data):
    """(mask, [(hash, rec)] by slot) of an image's bytes."""
    off, mask = struct.unpack_from("<II", data, FAST_OFF_AT)
    assert off and off % 8 == 0 and mask & (mask + 1) == 0
    return mask, [struct.unpack_from("<II", data, off + 8 * i) for i in range(mask + 1)]


def check_probes(mask, slots, names):
    """Every stored pair is a name's and is reached from its home over occupied slots
    (the readers' walk); returns how many sit before their home (wrapped)."""
    hashes = {zfast_hash(wire(x)) for x in names}
    stored = [h for h, rec in slots if rec != NONE]
    assert len(stored) == len(set(stored)) or len(names) > 1000   # (a 32-bit clash is legal)
    wrapped = 0
    for i, (h, rec) in enumerate(slots):
        if rec == NONE:
            continue
        assert h in hashes
        j, steps = h & mask, 0
        while j != i:
            assert slots[j][1] != NONE, "an empty slot between a name's home and its slot"
            j = (j + 1) & mask
            steps += 1
        wrapped += i < (h & mask)
    return wrapped


def hosts_zone(labels):
    return ("$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 60\n@ IN NS ns\nns IN A 192.0.2.1\n"
            + "".join(f"{lab} IN A 198.51.100.{i % 250 + 1}\n" for i, lab in enumerate(labels)))


def same_answers(img, names, qtypes=("A", "AAAA", "TXT")):
    fast = _core.Database([img])
    general = _core.Database([_core.image_without_answers(img)])
    wires = [dns.message.make_query(n, t, use_edns=0, payload=1232).to_wire()
             for n in names for t in qtypes]
    want = [_core.answer(general, w) for w in wires]
    assert [_core.answer(fast, w) for w in wires] == want
    for i in range(0, len(wires), 500):                    # the batch pipeline's probe too
        assert _core.answer_batch(fast, wires[i:i + 500]) == want[i:i + 500]


@pytest.mark.parametrize("hosts", [0, 3, 4, 29, 997, 20000])
def test_every_name_reachable_from_its_home(hosts):
    origin = "size.test."
    img = _core.compile_zone_text(origin, hosts_zone([f"h{i}" for i in range(hosts)]))
    mask, slots = table(_core.image_to_bytes(img))
    names = _core.image_node_names(img)
    assert _core.image_answer_names(img) == sum(rec != NONE for _, rec in slots) == len(names)
    check_probes(mask, slots, names)
    for name in names:
        assert _core.image_fast_answer(img, name, 1) is not None or name == origin
    ask = names if len(names) < 2000 else names[::17]
    same_answers(img, ask + ["nx." + origin])


@pytest.mark.parametrize("total, crowd", [(6, 4), (51, 20), (400, 120)])
def test_last_cluster_running_past_the_end_wraps(total, crowd):
    # `crowd` names whose home is the last slot: more than the table's free room, so the
    # layout sets them aside and inserts them last; most wrap to slot 0 onwards and are
    # found there by the single and batch paths
    origin = "wrap.test."
    mask = 7
    while (mask + 1) * 4 < total * 5:                      # precompute.c's sizing
        mask = mask * 2 + 1
    chosen, k = [], 0
    while len(chosen) < crowd:
        if zfast_hash(wire(f"w{k}.{origin}")) & mask == mask:
            chosen.append(f"w{k}")
        k += 1
    img = _core.compile_zone_text(origin, hosts_zone([f"h{i}" for i in range(total - 2 - crowd)]
                                                     + chosen))
    mask2, slots = table(_core.image_to_bytes(img))
    assert mask2 == mask and _core.image_answer_names(img) == total
    assert crowd > (mask + 1) - total                      # past the free room
    assert check_probes(mask, slots, _core.image_node_names(img)) >= crowd - 1 - ((mask + 1) - total)
    names = [f"{lab}.{origin}" for lab in chosen]
    for name in names:
        assert _core.image_fast_answer(img, name, 1) is not None
    same_answers(img, names + [n.upper() for n in names] + _core.image_node_names(img))


def test_corpus_tables_reach_every_name():
    for o in ORIGINS:
        img = _core.compile_zone(o, os.path.join(CORPUS, o[:-1] + ".zone"))
        mask, slots = table(_core.image_to_bytes(img))
        check_probes(mask, slots, _core.image_node_names(img))


def test_a_table_forged_full_stays_bounded_and_correct():
    # the mask rewritten smaller than the builder's, every slot taken: lookups of names
    # not there probe every slot and fall to the general path (same bytes)
    origin = "forged.test."
    img = _core.compile_zone_text(origin, hosts_zone([f"h{i}" for i in range(200)]))
    data = bytearray(_core.image_to_bytes(img))
    _, slots = table(data)
    fast_off = struct.unpack_from("<I", data, FAST_OFF_AT)[0]
    for i, (h, rec) in enumerate([s for s in slots if s[1] != NONE][:8]):
        struct.pack_into("<II", data, fast_off + 8 * i, h, rec)
    struct.pack_into("<I", data, FAST_MASK_AT, 7)
    forged = _core.image_from_bytes(bytes(data))
    names = _core.image_node_names(img) + ["nx." + origin]
    fast = _core.Database([forged])
    general = _core.Database([_core.image_without_answers(img)])
    wires = [dns.message.make_query(x, "A", use_edns=0, payload=1232).to_wire() for x in names]
    want = [_core.answer(general, w) for w in wires]
    assert [_core.answer(fast, w) for w in wires] == want
    assert _core.answer_batch(fast, wires) == want
