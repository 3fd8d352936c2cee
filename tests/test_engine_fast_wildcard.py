"""test_engine_fast_wildcard — answers synthesized from wildcards (RFC 4592) served from stored pieces, against the general path.

A query for a name below P whose next label below P is no name of the zone, where *.P
exists, is answered from *.P (RFC 4592 3.3.3).  The image stores what such a response
is made of (zimg_format.h, zwild): *.P's own answer, whose owners point at the question,
and with DO the NSEC3 proofs (RFC 5155 7.2.6: the cover of the next closer name; 7.2.5
for NODATA: the SOA, the NSEC3s matching P and *.P and the cover), as pieces of the
NXDOMAIN proofs (zneg).  Served so, a response must be byte for byte what the general
path writes (`_core.image_without_answers`): asked here of every corpus zone, unsigned
and signed (NSEC and NSEC3, by dnssec-signzone and ldns-signzone), for names one and
several labels below each wildcard's parent, in changed case, long enough to fill the
compression table, with labels the answers' names hold, for every qtype the wildcard
holds and others, with DO and without, over UDP (payloads that fit and that do not) and
TCP, one at a time and through rd_answer_batch, and by hypothesis over arbitrary labels;
and `_core.fast_path_answer` shows the stored path is the one taken.
"""

import os
import random
import string

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings, strategies as st

from robdns import _core
from test_engine_fast_do import CORPUS, CORPUS_ORIGINS, recase, signed_zones

EXTRA_QTYPES = ["A", "AAAA", "TXT", "MX", "TYPE999", "NS", "SRV", "CAA"]


def wildcards(img):
    """The parents P of the image's wildcards *.P."""
    return [n[2:] for n in _core.image_node_names(img) if n.startswith("*.")]


def wild_types(img, name):
    """The types *.P holds (from its precomputed record's answers, else a lookup)."""
    out = []
    for t in ("A", "AAAA", "TXT", "MX", "CNAME", "SRV", "CAA", "HINFO", "NS"):
        a = _core.image_fast_answer(img, name, dns.rdatatype.from_text(t))
        if a is not None and a["an"] and a["rcode"] == 0:
            out.append(t)
    return out


@pytest.fixture(scope="module")
def zones():
    imgs = list(signed_zones())
    for origin in CORPUS_ORIGINS:
        imgs.append((f"{origin} unsigned",
                     _core.compile_zone(origin, os.path.join(CORPUS, origin[:-1] + ".zone"))))
    out = []
    for label, img in imgs:
        fast = _core.Database([img], max_udp_payload=4096)
        general = _core.Database([_core.image_without_answers(img)], max_udp_payload=4096)
        out.append((label, img, fast, general))
    return out


def names_below(parent, rng):
    """Names whose closest encloser is `parent` (when the labels are no names of the
    zone): one and several labels below it, long ones, labels the answers hold."""
    out = [f"x.{parent}", f"qwerty.{parent}", f"a.b.{parent}", f"mail.{parent}",
           f"example.{parent}", f"wild.{parent}", f"ns1.{parent}", f"hostmaster.{parent}",
           f"\\000.{parent}", f"-.{parent}", f"x.y.z.{parent}", f"host.{parent}",
           f"x.exists.{parent}", f"x.*.{parent}", f"*.{parent}"]
    out += ["".join(rng.choice(string.ascii_lowercase + string.digits + "-_")
                    for _ in range(rng.randint(1, 30))) + "." + parent for _ in range(10)]
    out.append("a." * 50 + parent)                 # near the compression table's end
    out.append("a." * 60 + parent)                 # past it
    out.append("b." * 30 + parent)
    return [n for n in out if len(dns.name.from_text(n).to_wire()) <= 255]


def ask(fast, general, name, qtype, do, rng, batch, expected):
    """Every transport and size the response depends on; the served ones counted."""
    served = 0
    for payload, tcp in ((4096, False), (1232, True), (512, False), (1232, False)):
        w = dns.message.make_query(name, qtype, use_edns=0, payload=payload,
                                   want_dnssec=do).to_wire()
        w = recase(w, rng)
        want = _core.answer(general, w, tcp=tcp)
        got = _core.answer(fast, w, tcp=tcp)
        assert got == want, (name, qtype, do, payload, tcp)
        path = _core.fast_path_answer(fast, w, tcp=tcp)
        if path is not None:
            assert path == want, (name, qtype, do, payload, tcp)
            served += 1
        if not tcp:
            batch.append(w)
            expected.append(want)
    return served


def test_wildcard_answers_equal_general_path(zones):
    rng = random.Random(4592)
    served = {}
    for label, img, fast, general in zones:
        batch, expected = [], []
        for parent in wildcards(img):
            types = wild_types(img, "*." + parent)
            for name in names_below(parent, rng):
                lk = _core.image_lookup(img, name)
                synthesized = lk["exact"] is None and lk["wildcard"] is not None
                for qtype in types + rng.sample(EXTRA_QTYPES, 2):
                    for do in (False, True):
                        n = ask(fast, general, name, qtype, do, rng, batch, expected)
                        if synthesized:            # (an existing name: its own record)
                            served[(label, do)] = served.get((label, do), 0) + n
        for i in range(0, len(batch), 512):
            assert _core.answer_batch(fast, batch[i:i + 512]) == expected[i:i + 512], label
    # the stored path is taken: without DO in every zone with a wildcard below its apex
    # (not "example.": its only ones are at and below the apex wildcard), with DO in
    # the NSEC3 ones
    for label, img, fast, general in zones:
        below_apex = [p for p in wildcards(img) if p != _core.image_node_names(img)[0]]
        if not below_apex:
            continue
        assert served.get((label, False), 0) > 0, label
        assert (served.get((label, True), 0) > 0) == ("nsec3" in label), label


def test_bench_like_wildcard_is_served_with_its_proofs(zones):
    # signed.example.: *.wild holds A and TXT (the bench zone's wild-i); an A question
    # is a wildcard answer with the cover of the next closer name (RFC 5155 7.2.6), an
    # AAAA one a NODATA with SOA and the NSEC3s of P, the cover and *.P (7.2.5)
    checked = 0
    for label, img, fast, general in zones:
        if not label.startswith("signed.example. nsec3"):
            continue
        for qtype, rcode, an in (("A", dns.rcode.NOERROR, 2), ("AAAA", dns.rcode.NOERROR, 0)):
            w = dns.message.make_query("some-token.wild.signed.example.", qtype, use_edns=0,
                                       payload=1232, want_dnssec=True).to_wire()
            got = _core.fast_path_answer(fast, w)
            assert got is not None and got == _core.answer(general, w), (label, qtype)
            m = dns.message.from_wire(got)
            assert m.rcode() == rcode and m.flags & dns.flags.AA
            assert sum(len(rs) for rs in m.answer) == an
            types = [rs.rdtype for rs in m.authority]
            n3 = types.count(dns.rdatatype.NSEC3)
            if an:
                assert n3 == 1 and dns.rdatatype.SOA not in types, (label, types)
                # RFC 4034 3.1.3: the RRSIG's labels field below the owner's count
                sig = next(rs for rs in m.answer if rs.rdtype == dns.rdatatype.RRSIG)
                assert sig[0].labels == 3
            else:
                assert types[0] == dns.rdatatype.SOA and 2 <= n3 <= 3, (label, types)
            checked += 1
    assert checked == 4           # nsec3 and nsec3-optout, A and AAAA


def test_without_the_section_nothing_is_served(zones):
    label, img, fast, general = next(z for z in zones if z[0].startswith("signed.example. nsec3"))
    w = dns.message.make_query("abc.wild.signed.example.", "A", use_edns=0, payload=1232,
                               want_dnssec=True).to_wire()
    assert _core.fast_path_answer(fast, w) is not None
    assert _core.fast_path_answer(general, w) is None
    # the DO-less copy keeps none: DO=1 takes the general path
    nodo = _core.Database([_core.image_without_do_answers(img)], max_udp_payload=4096)
    assert _core.fast_path_answer(nodo, w) is None
    assert _core.answer(nodo, w) == _core.answer(general, w)


def _u32(b, at):
    return int.from_bytes(b[at:at + 4], "little")


def test_image_round_trip_keeps_and_checks_the_section(zones):
    label, img, fast, general = next(z for z in zones if z[0].startswith("signed.example. nsec3"))
    data = _core.image_to_bytes(img)
    woff, wlen = _u32(data, 120), _u32(data, 124)        # zimg_format.h: wild_off, wild_len
    assert woff and wlen
    back = _core.Database([_core.image_from_bytes(data)], max_udp_payload=4096)
    w = dns.message.make_query("qqq.wild.signed.example.", "TXT", use_edns=0, payload=1232,
                               want_dnssec=True).to_wire()
    assert _core.fast_path_answer(back, w) == _core.answer(general, w)
    mask, tab, soa = _u32(data, woff), _u32(data, woff + 4), _u32(data, woff + 8)
    ent = next(_u32(data, tab + 8 * i + 4) for i in range(mask + 1)
               if _u32(data, tab + 8 * i) != 0xFFFFFFFF)
    # zwild_ent: p_piece, w_piece, ntype, nodata_regs, w_len, pad; then zwild_type
    # entries of 12 octets: qtype, regs, flags, blob without DO, blob with DO
    types = [ent + 12 + 12 * k for k in range(data[ent + 8])]
    served = [t for t in types if data[t + 3] & 1]
    assert served
    forged = [(120, woff + 1), (124, len(data)), (woff + 4, len(data)), (woff + 8, woff + 2),
              (ent, len(data) - 4), (ent + 4, 0xfffffff0),
              (served[0] + 4, 0x7ffffff0),       # a blob outside the answer records
              (served[0] + 4, _u32(data, served[0] + 4) + 1)]   # misaligned
    for at, value in forged:
        b = bytearray(data)
        b[at:at + 4] = value.to_bytes(4, "little")
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))
    b = bytearray(data)
    b[served[0] + 3] |= 0x80                     # flags beyond those defined
    with pytest.raises(ValueError):
        _core.image_from_bytes(bytes(b))
    # the stored SOA piece is what is served: its last octet changed comes out changed
    if soa != 0xFFFFFFFF:
        nptr, plen = data[soa + 7], int.from_bytes(data[soa + 4:soa + 6], "little")
        b = bytearray(data)
        b[soa + 8 + 4 * nptr + plen - 1] ^= 0xFF
        q = dns.message.make_query("qqq.wild.signed.example.", "AAAA", use_edns=0,
                                   payload=1232, want_dnssec=True).to_wire()
        got = _core.answer(_core.Database([_core.image_from_bytes(bytes(b))],
                                          max_udp_payload=4096), q)
        want = _core.answer(general, q)
        assert len(got) == len(want) and sum(x != y for x, y in zip(got, want)) == 1


label_chars = st.sampled_from(string.ascii_letters + string.digits + "-_*\\")


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(st.text(label_chars, min_size=1, max_size=20), min_size=1, max_size=4),
       which=st.integers(min_value=0, max_value=1000), qtype=st.sampled_from(EXTRA_QTYPES),
       do=st.booleans())
def test_hypothesis_names_below_wildcards(zones, labels, which, qtype, do):
    with_wild = [z for z in zones if wildcards(z[1])]
    label, img, fast, general = with_wild[which % len(with_wild)]
    parents = wildcards(img)
    parent = parents[(which // len(with_wild)) % len(parents)]
    text = ".".join(lab.replace("\\", "\\\\") for lab in labels)
    try:
        name = dns.name.from_text(text + "." + parent)
    except dns.exception.DNSException:
        return
    if len(name.to_wire()) > 255:
        return
    w = dns.message.make_query(name, qtype, use_edns=0, payload=1232, want_dnssec=do).to_wire()
    assert _core.answer(fast, w) == _core.answer(general, w), (label, name.to_text())
