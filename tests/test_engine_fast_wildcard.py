"""test_engine_fast_wildcard — answers synthesized from wildcards (RFC 4592) served from stored pieces, against the general path.

A query for a name below P whose next label below P is no name of the zone, where *.P
exists, is answered from *.P (RFC 4592 3.3.3).  The image stores what such a response
is made of (zimg_format.h, zwild): *.P's own answer, whose owners point at the question,
and with DO the NSEC3 proofs (RFC 5155 7.2.6: the cover of the next closer name; 7.2.5
for NODATA: the SOA, the NSEC3s matching P and *.P and the cover), as pieces of the
NXDOMAIN proofs (zneg), or the NSEC proofs (RFC 4035 3.1.3.3: the NSEC covering the
question, stored per gap between P's children; 3.1.3.4 for NODATA: the SOA, the cover
and *.P's own NSEC).  Served so, a response must be byte for byte what the general
path writes (`_core.image_without_answers`): asked here of every corpus zone, unsigned
and signed (NSEC and NSEC3, by dnssec-signzone and ldns-signzone), for names one and
several labels below each wildcard's parent (in every gap between its children, before
the first and after the last, and in a zone whose last gap's cover is the NSEC that
wraps around to the apex), in changed case, long enough to fill the
compression table, with labels the answers' names hold, for every qtype the wildcard
holds and others, with DO and without, over UDP (payloads that fit and that do not) and
TCP, one at a time and through rd_answer_batch, and by hypothesis over arbitrary labels;
and `_core.fast_path_answer` shows the stored path is the one taken.
"""

import os
import random
import string
import tempfile

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings, strategies as st

import dnssec_zones
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


def children(img, parent):
    """The first labels (text) of P's children, the names right below P."""
    p = dns.name.from_text(parent)
    out = []
    for n in _core.image_node_names(img):
        name = dns.name.from_text(n)
        if len(name) == len(p) + 1 and name.parent() == p:
            out.append(name.labels[0])
    return out


def gap_labels(img, parent):
    """Labels in every gap between P's children (RFC 4034 6.1): before the first ("\\000",
    the lowest label), right after each child (its label and a zero octet), just after
    it and far after it, and after the last ("\\255")."""
    out = ["\\000", "\\000\\000", "\\255", "\\255\\255\\255", "zzzzzz", "~"]
    for lab in children(img, parent):
        text = dns.name.Name([lab]).to_text()
        if len(lab) < 63:
            out += [text + "\\000", text + "-", text + "0"]
        if 1 < len(lab) < 63:
            out.append(dns.name.Name([lab[:-1]]).to_text())    # a prefix: just before it
    return out


def names_below(parent, rng, img=None):
    """Names whose closest encloser is `parent` (when the labels are no names of the
    zone): one and several labels below it, long ones, labels the answers hold, and with
    an image, labels in every gap between P's children."""
    out = [f"x.{parent}", f"qwerty.{parent}", f"a.b.{parent}", f"mail.{parent}",
           f"example.{parent}", f"wild.{parent}", f"ns1.{parent}", f"hostmaster.{parent}",
           f"\\000.{parent}", f"-.{parent}", f"x.y.z.{parent}", f"host.{parent}",
           f"x.exists.{parent}", f"x.*.{parent}", f"*.{parent}"]
    if img is not None:
        for lab in gap_labels(img, parent):
            out += [f"{lab}.{parent}", f"a.{lab}.{parent}"]
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
            for name in names_below(parent, rng, img):
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
    # the signed ones (NSEC3 and NSEC)
    for label, img, fast, general in zones:
        below_apex = [p for p in wildcards(img) if p != _core.image_node_names(img)[0]]
        if not below_apex:
            continue
        assert served.get((label, False), 0) > 0, label
        assert (served.get((label, True), 0) > 0) == ("unsigned" not in label), label


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


def test_bench_like_wildcard_is_served_with_its_nsec_proofs(zones):
    # signed.example. nsec: *.wild holds A and TXT, host.wild beside it; an A question is
    # a wildcard answer with the NSEC covering the question (RFC 4035 3.1.3.3), an AAAA
    # one a NODATA with SOA, the cover and *.wild's own NSEC (3.1.3.4), sent once when
    # they are the same record
    label, img, fast, general = next(z for z in zones if z[0].startswith("signed.example. nsec "))
    wild = dns.name.from_text("*.wild.signed.example.")
    for token, cover in (("some-token", "host.wild.signed.example."),
                         ("abc", "*.wild.signed.example."),
                         # wild is an empty non-terminal: the last NSEC before it
                         ("\\000", "deep.ent.unsigned.signed.example.")):
        qname = dns.name.from_text(f"{token}.wild.signed.example.")
        for qtype in ("A", "AAAA"):
            w = dns.message.make_query(qname, qtype, use_edns=0, payload=1232,
                                       want_dnssec=True).to_wire()
            got = _core.fast_path_answer(fast, w)
            assert got is not None and got == _core.answer(general, w), (token, qtype)
            m = dns.message.from_wire(got)
            assert m.rcode() == dns.rcode.NOERROR and m.flags & dns.flags.AA
            nsecs = [rs for rs in m.authority if rs.rdtype == dns.rdatatype.NSEC]
            assert all(any(s.rdtype == dns.rdatatype.RRSIG and s.covers == dns.rdatatype.NSEC
                           and s.name == rs.name for s in m.authority) for rs in nsecs)
            owners = [rs.name for rs in nsecs]
            # the cover: its owner before the question, its next name after it
            assert owners[0] == dns.name.from_text(cover), (token, qtype, owners)
            assert owners[0] < qname < nsecs[0][0].next or nsecs[0][0].next == m.question[0].name
            if qtype == "A":
                assert sum(len(rs) for rs in m.answer) == 2 and len(nsecs) == 1
                assert dns.rdatatype.SOA not in [rs.rdtype for rs in m.authority]
            else:
                assert not m.answer and m.authority[0].rdtype == dns.rdatatype.SOA
                assert owners[-1] == wild and len(owners) == (1 if owners[0] == wild else 2)
                bitmap = nsecs[-1][0].to_text().split()[1:]
                assert "A" in bitmap and "AAAA" not in bitmap, bitmap


# A zone whose last names are P's subtree: the last gap's cover is the zone's last NSEC,
# whose next name wraps around to the apex (RFC 4034 4.1.1); P's children include an
# empty non-terminal's parent, a delegation with glue (outside the NSEC chain), a name
# below the wildcard, and a name an answer of *.P points at (MX: compression against it).
WRAP_TEXT = """\
$TTL 3600
@          IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@          IN NS  ns1
ns1        IN A   192.0.2.1
a          IN A   192.0.2.2
*.zzz      IN A   192.0.2.3
*.zzz      IN TXT "wild"
*.zzz      IN MX  10 mail.zzz
sub.*.zzz  IN TXT "below the wildcard"
mail.zzz   IN A   192.0.2.4
b.c.zzz    IN A   192.0.2.5
deleg.zzz  IN NS  ns.deleg.zzz
ns.deleg.zzz IN A 192.0.2.6
zz.zzz     IN A   192.0.2.7
"""


def test_nsec_gaps_and_wraparound():
    z = dnssec_zones.sign_zone(tempfile.mkdtemp(prefix="robdns-wrap-"), "nsec",
                               origin="wrap.example.", text=WRAP_TEXT)
    img = _core.compile_zone("wrap.example.", z.path)
    fast = _core.Database([img], max_udp_payload=4096)
    general = _core.Database([_core.image_without_answers(img)], max_udp_payload=4096)
    rng = random.Random(4035)
    parent = "zzz.wrap.example."
    served, batch, expected = 0, [], []
    for name in names_below(parent, rng, img):
        lk = _core.image_lookup(img, name)
        for qtype in ("A", "TXT", "MX", "AAAA", "TYPE999"):
            for do in (False, True):
                n = ask(fast, general, name, qtype, do, rng, batch, expected)
                if do and lk["exact"] is None and lk["wildcard"] is not None:
                    served += n
    assert _core.answer_batch(fast, batch) == expected
    assert served > 0
    # after the last child: the cover is zz.zzz's NSEC, whose next name is the apex
    for qtype, an in (("A", 2), ("AAAA", 0)):
        w = dns.message.make_query("zzzzz.zzz.wrap.example.", qtype, use_edns=0, payload=1232,
                                   want_dnssec=True).to_wire()
        got = _core.fast_path_answer(fast, w)
        assert got is not None and got == _core.answer(general, w), qtype
        m = dns.message.from_wire(got)
        assert sum(len(rs) for rs in m.answer) == an
        cover = next(rs for rs in m.authority if rs.rdtype == dns.rdatatype.NSEC)
        assert cover.name == dns.name.from_text("zz.zzz.wrap.example.")
        assert cover[0].next == dns.name.from_text("wrap.example.")


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
    # zwild_ent: p_piece, w_piece, ntype, nodata_regs, w_len, pad, gaps; then zwild_type
    # entries of 12 octets: qtype, regs, flags, blob without DO, blob with DO
    assert _u32(data, ent + 12) == 0xFFFFFFFF              # NSEC3: no gaps
    types = [ent + 16 + 12 * k for k in range(data[ent + 8])]
    served = [t for t in types if data[t + 3] & 1]
    assert served
    forged = [(120, woff + 1), (124, len(data)), (woff + 4, len(data)), (woff + 8, woff + 2),
              (ent, len(data) - 4), (ent + 4, 0xfffffff0),
              (served[0] + 4, 0x7ffffff0),       # a blob outside the answer records
              (served[0] + 4, _u32(data, served[0] + 4) + 1)]   # misaligned
    assert_each_forgery_refused(data, forged)
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


def assert_each_forgery_refused(data, forged):
    """Each (offset, u32 value) written alone into the image bytes makes the load fail."""
    for at, value in forged:
        b = bytearray(data)
        b[at:at + 4] = value.to_bytes(4, "little")
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))


def test_nsec_image_round_trip_checks_the_gaps(zones):
    label, img, fast, general = next(z for z in zones if z[0].startswith("signed.example. nsec "))
    data = _core.image_to_bytes(img)
    woff, wlen = _u32(data, 120), _u32(data, 124)
    mask, tab = _u32(data, woff), _u32(data, woff + 4)
    ent = next(_u32(data, tab + 8 * i + 4) for i in range(mask + 1)
               if _u32(data, tab + 8 * i) != 0xFFFFFFFF)
    gaps = _u32(data, ent + 12)
    # zwild_gaps: n, before_first, wild, regs, pad; then zneg_top {key, node, piece}[n]
    n, wild = _u32(data, gaps), _u32(data, gaps + 8)
    assert n == 2 and wild != 0xFFFFFFFF                 # *.wild and host.wild
    q = dns.message.make_query("qqq.wild.signed.example.", "A", use_edns=0, payload=1232,
                               want_dnssec=True).to_wire()
    back = _core.Database([_core.image_from_bytes(data)], max_udp_payload=4096)
    assert _core.fast_path_answer(back, q) == _core.answer(general, q)
    forged = [(ent + 12, woff + wlen - 8), (ent + 12, gaps + 4), (gaps, 0x10000000),
              (gaps + 4, 0x7ffffff0), (gaps + 8, woff + wlen + 4),
              (gaps + 16 + 8, 0x7fffffff),              # a child that is no node
              (gaps + 16 + 12, 0x7ffffff0)]              # a gap piece outside the section
    assert_each_forgery_refused(data, forged)
    # without gaps the NSEC entry serves nothing with DO (and still without)
    b = bytearray(data)
    b[ent + 12:ent + 16] = (0xFFFFFFFF).to_bytes(4, "little")
    nogaps = _core.Database([_core.image_from_bytes(bytes(b))], max_udp_payload=4096)
    assert _core.fast_path_answer(nogaps, q) is None
    assert _core.answer(nogaps, q) == _core.answer(general, q)
    plain = dns.message.make_query("qqq.wild.signed.example.", "A").to_wire()
    assert _core.fast_path_answer(nogaps, plain) == _core.answer(general, plain)


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
