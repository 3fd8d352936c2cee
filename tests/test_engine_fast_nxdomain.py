"""test_engine_fast_nxdomain — precomputed NXDOMAIN answers with their proofs against the general path.

A DO=1 query for a name whose label right below the apex the zone does not hold gets
NXDOMAIN with the apex as closest encloser: SOA and RRSIG (RFC 2308 3), the NSEC covering
the name and the one covering *.<apex> (RFC 4035 3.1.3.2), or the apex's NSEC3, the
NSEC3 covering the next closer name and the one covering the wildcard (RFC 5155 7.2.2).
The image stores those pieces (zimg_format.h, zneg) and the engine puts them behind the
client's question with its compression pointers moved.  Served so, a response must be
byte for byte what the general path writes: asked here of every signed zone of
test_engine_fast_do, for names in every NSEC gap (just after and just before each top
label) and NSEC3 range (random names: a few hundred per zone reach every range of these
zones), several labels deep, in changed letter case, long enough to fill the compression
table, under the SOA's RNAME, under wildcards and below existing names (those take the
general path), over UDP (payloads that fit and that do not) and TCP, one at a time and
through rd_answer_batch; and by hypothesis over arbitrary labels.
"""

import random
import string

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings, strategies as st

from robdns import _core
from test_engine_fast_do import recase, signed_zones

QTYPES = ["A", "AAAA", "MX", "TXT", "TYPE999", "NS"]


@pytest.fixture(scope="module")
def zones():
    out = []
    for label, img in signed_zones():
        origin = _core.image_node_names(img)[0]
        out.append((label, origin, img, _core.Database([img], max_udp_payload=4096),
                    _core.Database([_core.image_without_answers(img)], max_udp_payload=4096)))
    return out


def neg_off(img):
    """The image header's neg_off (zimg_format.h): 0 when the zone has no NXDOMAIN proofs."""
    return int.from_bytes(_core.image_to_bytes(img)[112:116], "little")


# zimg_format.h struct zneg: tops_named (NSEC3: a top label without an answer record is no
# name of the zone, and fast_nxdomain skips the search over the top labels)
ZNEG_TOPS_NAMED = 430


def tops_named(img):
    return _core.image_to_bytes(img)[neg_off(img) + ZNEG_TOPS_NAMED]


def top_labels(names, origin):
    o = dns.name.from_text(origin)
    out = set()
    for n in names:
        rel = dns.name.from_text(n).relativize(o)
        if len(rel) >= 1 and rel != dns.name.empty:
            out.add(rel.labels[-1])
    return sorted(out)


def probe_names(names, origin, rng):
    """Names for every gap: after and before each top label, deeper ones, long ones."""
    out = []
    for lab in top_labels(names, origin):
        text = dns.name.Name([lab]).to_text(omit_final_dot=True)
        if len(lab) < 63:
            out.append(f"{text}a.{origin}")
            out.append(f"{text}-.{origin}")
            out.append(f"{text}\\000.{origin}")
        if len(lab) > 1:
            out.append(f"{text[:-1]}.{origin}")
        out.append(f"x.{text}0.{origin}")          # two labels below the apex, top absent
        out.append(f"nx.{text}.{origin}")          # below an existing top label: general path
    for _ in range(400):
        k = rng.randint(1, 20)
        out.append("".join(rng.choice(string.ascii_lowercase + string.digits + "-_")
                           for _ in range(k)) + "." + origin)
    out.append("a." * 58 + "deep." + origin)        # near the compression table's end
    out.append("a." * 40 + "mid." + origin)
    out.append("x.hostmaster." + origin)            # shares the SOA's RNAME top label
    out.append("x.y.hostmaster." + origin)
    out.append("*." + origin)
    out.append("x.*." + origin)
    out.append("zzz.wild." + origin)                # a wildcard's: general path
    # top labels of an NSEC3 owner's length (ZNEG_N3_LABEL): the owners themselves (no
    # answer record: the search over the top labels sends them to the general path),
    # one letter changed, and random ones (rd_fast_answer serves those)
    for n in names:
        lab = dns.name.from_text(n).relativize(dns.name.from_text(origin)).labels
        if len(lab) == 1 and len(lab[0]) == 32:
            text = lab[0].decode()
            out.append(f"{text}.{origin}")
            out.append(f"{text[:-1]}{'0' if text[-1] != '0' else '1'}.{origin}")
            out.append(f"x.{text}.{origin}")
    for _ in range(20):
        out.append("".join(rng.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(32))
                   + "." + origin)
    return [n for n in out if len(dns.name.from_text(n).to_wire()) <= 255]


def ask(fast, general, name, qtype, rng, batch, expected):
    for payload, tcp in ((4096, False), (1232, True), (512, False), (1232, False)):
        w = dns.message.make_query(name, qtype, use_edns=0, payload=payload,
                                   want_dnssec=True).to_wire()
        w = recase(w, rng)
        want = _core.answer(general, w, tcp=tcp)
        got = _core.answer(fast, w, tcp=tcp)
        assert got == want, (name, qtype, payload, tcp)
        if not tcp:
            batch.append(w)
            expected.append(want)
    return dns.message.from_wire(want).rcode()


def test_nxdomain_answers_equal_general_path(zones):
    rng = random.Random(17)
    with_proofs = 0
    for label, origin, img, fast, general in zones:
        with_proofs += neg_off(img) != 0
        names = probe_names(_core.image_node_names(img), origin, rng)
        batch, expected = [], []
        nx = 0
        for name in names:
            qtype = rng.choice(QTYPES)
            nx += ask(fast, general, name, qtype, rng, batch, expected) == dns.rcode.NXDOMAIN
        if neg_off(img):               # (a zone with *.<apex> answers them from there)
            assert nx > len(names) // 2, label
        for i in range(0, len(batch), 512):
            assert _core.answer_batch(fast, batch[i:i + 512]) == expected[i:i + 512], label
    # every zone of the test but "example." (a wildcard at its apex, in two signings)
    assert with_proofs == len(zones) - 2


def test_nxdomain_proof_is_the_signed_denial(zones):
    # RFC 4035 3.1.3.2: SOA, the NSEC covering the name, the one covering the wildcard,
    # each with its RRSIG; RFC 5155 7.2.2: the closest encloser's NSEC3, the covers of
    # the next closer name and of the wildcard
    for label, origin, img, fast, general in zones:
        if not neg_off(img):
            continue
        m = dns.message.from_wire(_core.answer(fast, dns.message.make_query(
            "no-such-name-here." + origin, "A", use_edns=0, payload=4096,
            want_dnssec=True).to_wire()))
        assert m.rcode() == dns.rcode.NXDOMAIN and m.flags & dns.flags.AA, label
        types = [rs.rdtype for rs in m.authority]
        assert dns.rdatatype.SOA in types, label
        proof = dns.rdatatype.NSEC3 if "nsec3" in label else dns.rdatatype.NSEC
        n = types.count(proof)
        assert 1 <= n <= (3 if proof == dns.rdatatype.NSEC3 else 2), (label, types)
        sigs = [rs for rs in m.authority if rs.rdtype == dns.rdatatype.RRSIG]
        assert len(sigs) == n + 1, label                # each proof record and the SOA


def test_without_do_the_proofs_are_not_used(zones):
    label, origin, img, fast, general = zones[0]
    w = dns.message.make_query("nothing-here." + origin, "A", use_edns=0, payload=1232).to_wire()
    m = dns.message.from_wire(_core.answer(fast, w))
    assert m.rcode() == dns.rcode.NXDOMAIN
    assert [rs.rdtype for rs in m.authority] == [dns.rdatatype.SOA]
    # and the DO-less copy of the image has none
    assert neg_off(_core.image_without_do_answers(img)) == 0


def test_image_round_trip_keeps_and_checks_the_proofs(zones):
    label, origin, img, fast, general = next(z for z in zones if neg_off(z[2]))
    data = _core.image_to_bytes(img)
    back = _core.image_from_bytes(data)
    w = dns.message.make_query("qqq." + origin, "A", use_edns=0, payload=1232,
                               want_dnssec=True).to_wire()
    assert _core.answer(_core.Database([back], max_udp_payload=4096), w) == _core.answer(general, w)
    off = neg_off(img)
    # the stored prefix is what is served: its last octet (the SOA's RRSIG) changed in the
    # image comes out changed in the answer
    prefix = int.from_bytes(data[off + 16:off + 20], "little")
    nptr, plen = data[prefix + 7], int.from_bytes(data[prefix + 4:prefix + 6], "little")
    last = prefix + 8 + 4 * nptr + plen - 1
    b = bytearray(data)
    b[last] ^= 0xFF
    forged = _core.answer(_core.Database([_core.image_from_bytes(bytes(b))], max_udp_payload=4096), w)
    want = _core.answer(general, w)
    assert len(forged) == len(want) and sum(x != y for x, y in zip(forged, want)) == 1
    # a forged section is refused: misaligned, past the end, a piece offset out of range
    for at, value in ((112, off + 1), (116, len(data)), (off + 16, 0xfffffff0)):
        b = bytearray(data)
        b[at:at + 4] = value.to_bytes(4, "little")
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))


def _u32(b, at):
    return int.from_bytes(b[at:at + 4], "little")


# zimg_format.h: struct zneg's n3_off and n3_count; a piece's header (zneg_piece, 8
# octets, nptr last) and, written from the zone (nptr 255), its zneg_zone after it
ZNEG_N3_OFF, ZNEG_N3_COUNT, ZNEG_FROM_ZONE = 24, 28, 255
ZZ_RRSET, ZZ_SIG, ZZ_RDATA0, ZZ_RDATA1, ZZ_TTL, ZZ_COUNT0, ZZ_COUNT1, ZZ_TYPE = (
    0, 4, 8, 12, 16, 20, 22, 24)


def _rrset(data, i):
    """(type, count, ttl, rdata_off) of zrrset i of an image (zimg.h: 32 octets each)."""
    at = _u32(data, 52) + 32 * i
    return (int.from_bytes(data[at:at + 2], "little"), int.from_bytes(data[at + 4:at + 6], "little"),
            _u32(data, at + 8), _u32(data, at + 12))


def test_nsec3_pieces_hold_their_records_places(zones):
    # image version 10: a piece written from the zone's records holds the places of its
    # NSEC3 and RRSIG records (so the answer reads no rrset first), equal to its rrsets'
    # after every move of the build (zimg_share.c closes the rdata section up after the
    # pieces are made); in every NSEC3 zone, every range's piece, and the image reads back
    checked = 0
    for label, origin, img, fast, general in zones:
        data = _core.image_to_bytes(img)
        off = neg_off(img)
        if not off or _u32(data, off) != 2:          # ZNEG_NSEC3
            continue
        _core.image_from_bytes(data)
        n3, count = _u32(data, off + ZNEG_N3_OFF), _u32(data, off + ZNEG_N3_COUNT)
        for at in range(count):
            p = _u32(data, n3 + 4 * at)
            if p == 0xFFFFFFFF or data[p + 7] != ZNEG_FROM_ZONE:
                continue
            zz = p + 8
            rtype, rcount, ttl, rdata = _rrset(data, _u32(data, zz + ZZ_RRSET))
            stype, scount, _, sdata = _rrset(data, _u32(data, zz + ZZ_SIG))
            assert rtype == 50 and stype == 46, label              # NSEC3 and its RRSIG
            assert (_u32(data, zz + ZZ_RDATA0), _u32(data, zz + ZZ_RDATA1)) == (rdata, sdata)
            assert (int.from_bytes(data[zz + ZZ_COUNT0:zz + ZZ_COUNT0 + 2], "little"),
                    int.from_bytes(data[zz + ZZ_COUNT1:zz + ZZ_COUNT1 + 2], "little"),
                    _u32(data, zz + ZZ_TTL)) == (rcount, scount, ttl)
            checked += 1
    assert checked > 100


def test_a_forged_record_place_is_refused(zones):
    # the copies are checked at load against the rrsets (an untrusted image): a record's
    # place, count, TTL or type differing from its rrset's is refused, not served
    label, origin, img, fast, general = next(
        z for z in zones if neg_off(z[2]) and _u32(_core.image_to_bytes(z[2]), neg_off(z[2])) == 2)
    data = _core.image_to_bytes(img)
    off = neg_off(img)
    n3 = _u32(data, off + ZNEG_N3_OFF)
    p = next(_u32(data, n3 + 4 * at) for at in range(_u32(data, off + ZNEG_N3_COUNT))
             if _u32(data, n3 + 4 * at) != 0xFFFFFFFF and data[_u32(data, n3 + 4 * at) + 7] == 255)
    zz = p + 8
    for field, size, delta in ((ZZ_RDATA0, 4, 2), (ZZ_RDATA1, 4, -2), (ZZ_TTL, 4, 1),
                               (ZZ_COUNT0, 2, 1), (ZZ_COUNT1, 2, 1), (ZZ_TYPE, 2, 1)):
        b = bytearray(data)
        v = int.from_bytes(b[zz + field:zz + field + size], "little")
        b[zz + field:zz + field + size] = ((v + delta) % (1 << (8 * size))).to_bytes(size, "little")
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))


def test_nsec3_zones_know_their_top_names(zones):
    # every top node of the corpus's NSEC3 zones but the NSEC3 owners has an answer
    # record: the flag is set, so these zones' NXDOMAIN answers skip the top-label search
    # (the probes above compare them with the general path); NSEC zones never set it
    n3 = 0
    for label, origin, img, fast, general in zones:
        if not neg_off(img):
            continue
        assert tops_named(img) == ("nsec3" in label), label
        n3 += "nsec3" in label
    assert n3 >= 3


def test_a_top_name_without_record_keeps_the_search(tmp_path):
    # RFC 1034 4.3.2: a name of the zone is never NXDOMAIN.  A node with more types than a
    # record lists (precompute.c FANS_MAX) has no answer record: the top-label search
    # must then find it, so the build leaves the flag off, and the name's DO queries get
    # the general path's answer
    import dnssec_zones
    text = dnssec_zones.ZONE_TEXT + "".join(f"many IN TYPE{1000 + i} \\# 1 {i % 256:02x}\n"
                                            for i in range(260))
    z = dnssec_zones.sign_zone(str(tmp_path / "many"), "nsec3", text=text)
    img = _core.compile_zone(z.origin, z.path)
    assert neg_off(img) and tops_named(img) == 0
    assert _core.image_fast_answer(img, "many." + z.origin, 1000, do=True) is None
    fast = _core.Database([img], max_udp_payload=4096)
    general = _core.Database([_core.image_without_answers(img)], max_udp_payload=4096)
    queries = [dns.message.make_query(name + z.origin, qtype, use_edns=0, payload=4096,
                                      want_dnssec=True).to_wire()
               for name in ("many.", "x.many.", "no-such.", "x.no-such.")
               for qtype in ("A", "TYPE1000")]
    want = [_core.answer(general, q) for q in queries]
    assert [_core.answer(fast, q) for q in queries] == want
    assert _core.answer_batch(fast, queries) == want
    # many. exists; below it and elsewhere names do not (their closest encloser differs:
    # many. itself, the apex)
    assert [dns.message.from_wire(w).rcode() for w in want] == [dns.rcode.NOERROR] * 2 + [dns.rcode.NXDOMAIN] * 6
    # a forged flag still cannot make the name NXDOMAIN: its hash matches its own NSEC3
    # (RFC 5155 7.2.1), which fast_nxdomain leaves to the general path
    b = bytearray(_core.image_to_bytes(img))
    b[neg_off(img) + ZNEG_TOPS_NAMED] = 1
    forged = _core.Database([_core.image_from_bytes(bytes(b))], max_udp_payload=4096)
    assert [_core.answer(forged, q) for q in queries] == want


label_chars = st.sampled_from(string.ascii_letters + string.digits + "-_*")


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(st.text(label_chars, min_size=1, max_size=20), min_size=1, max_size=4),
       which=st.integers(min_value=0, max_value=100), qtype=st.sampled_from(QTYPES))
def test_hypothesis_names_against_general_path(zones, labels, which, qtype):
    label, origin, img, fast, general = zones[which % len(zones)]
    name = ".".join(labels) + "." + origin
    if len(dns.name.from_text(name).to_wire()) > 255:
        return
    w = dns.message.make_query(name, qtype, use_edns=0, payload=1232, want_dnssec=True).to_wire()
    assert _core.answer(fast, w) == _core.answer(general, w), (label, name)
