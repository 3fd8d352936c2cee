"""test_engine_fast_referral — referrals for names below a zone cut, served from the cut's stored answer, against the general path.

A query for a name below a delegation that is no name of the zone ("www" under a child
zone) gets the referral of the highest cut above it (RFC 1034 4.3.2 3b): the cut's NS
set, its DS and RRSIG or the proof that it has none (RFC 4035 3.1.4, RFC 5155 7.2.7),
and the glue.  The engine finds the cut among the precomputed records and puts the
answer stored for the cut's own name behind the client's question with every
compression pointer moved by the extra labels' length (engine_fast.c fast_referral).
Served so, a response must be byte for byte what the general path writes: asked here of
every signed zone of test_engine_fast_do and of the unsigned corpus zones, for names one
and several labels below each cut, below its in-bailiwick servers (those compress
against the longer question: the general path's), long enough to fill the compression
table, in changed letter case, with DO and without, over UDP (payloads that fit and that
do not) and TCP, one at a time and through rd_answer_batch; and by hypothesis.
"""

import os
import random
import string

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings, strategies as st

from robdns import _core
from test_engine_fast_do import CORPUS, CORPUS_ORIGINS, recase, signed_zones

QTYPES = ["A", "AAAA", "MX", "TXT", "TYPE999", "NS", "SOA", "DS", "ANY", "CNAME"]


def is_referral(db, name):
    w = dns.message.make_query(name, "A", use_edns=0, payload=4096, want_dnssec=True).to_wire()
    m = dns.message.from_wire(_core.answer(db, w, tcp=True))
    return (m.rcode() == dns.rcode.NOERROR and not m.flags & dns.flags.AA and not m.answer and
            any(rs.rdtype == dns.rdatatype.NS for rs in m.authority))


@pytest.fixture(scope="module")
def zones():
    """(label, image, fast db, general db, cuts) of every signed zone and the corpus."""
    images = list(signed_zones())
    images += [(o + " unsigned", _core.compile_zone(o, os.path.join(CORPUS, o[:-1] + ".zone")))
               for o in CORPUS_ORIGINS]
    out = []
    for label, img in images:
        fast = _core.Database([img], max_udp_payload=4096)
        general = _core.Database([_core.image_without_answers(img)], max_udp_payload=4096)
        cuts = [n for n in _core.image_node_names(img) if is_referral(general, n)]
        out.append((label, img, fast, general, cuts))
    return out


def below(cut, names, rng):
    """Names below a cut: one and several labels down, under its in-bailiwick servers,
    near the compression table's end, random labels."""
    out = [f"www.{cut}", f"x.y.{cut}", f"a.b.c.d.{cut}", f"\\000.{cut}", f"*.{cut}",
           "a." * 50 + cut, "a." * 62 + cut, "b." * 30 + cut]
    for n in names:                      # the glue and occluded names under the cut
        if n != cut and n.endswith("." + cut):
            out += [f"x.{n}", f"x.y.{n}", n]
    for _ in range(20):
        k = rng.randint(1, 20)
        out.append("".join(rng.choice(string.ascii_lowercase + string.digits + "-_")
                           for _ in range(k)) + "." + cut)
    return [n for n in out if len(dns.name.from_text(n).to_wire()) <= 255]


def ask(fast, general, name, qtype, rng, batch, expected):
    for do in (True, False):
        for payload, tcp in ((4096, False), (1232, True), (512, False), (1232, False)):
            w = dns.message.make_query(name, qtype, use_edns=0, payload=payload,
                                       want_dnssec=do).to_wire()
            w = recase(w, rng)
            want = _core.answer(general, w, tcp=tcp)
            assert _core.answer(fast, w, tcp=tcp) == want, (name, qtype, do, payload, tcp)
            if not tcp:
                batch.append(w)
                expected.append(want)


def test_referrals_below_cuts_equal_general_path(zones):
    rng = random.Random(17)
    with_cuts = 0
    for label, img, fast, general, cuts in zones:
        names = _core.image_node_names(img)
        with_cuts += bool(cuts)
        batch, expected = [], []
        for cut in cuts:
            for name in below(cut, names, rng):
                ask(fast, general, name, rng.choice(QTYPES), rng, batch, expected)
        for i in range(0, len(batch), 512):
            assert _core.answer_batch(fast, batch[i:i + 512]) == expected[i:i + 512], label
    assert with_cuts >= len(zones) // 2       # the corpus holds delegations, signed or not


def stored_referral(zones):
    """A signed zone, a cut of it and its stored DO referral."""
    for label, img, fast, general, cuts in zones:
        for cut in cuts:
            a = _core.image_fast_answer(img, cut, dns.rdatatype.A, do=True)
            if "unsigned" not in label and a is not None and a["rcode"] == 0 and not a["aa"]:
                return label, img, general, cut, a
    raise AssertionError("no signed zone with a stored referral")


def test_the_stored_referral_is_what_is_served(zones):
    label, img, general, cut, a = stored_referral(zones)
    w = dns.message.make_query("www." + cut, "A", use_edns=0, payload=4096,
                               want_dnssec=True).to_wire()
    want = _core.answer(general, w)
    m = dns.message.from_wire(want)
    # RFC 4035 3.1.4: the NS set and the DS (signed) or the proof that there is none
    types = {rs.rdtype for rs in m.authority}
    assert dns.rdatatype.NS in types and (dns.rdatatype.DS in types or dns.rdatatype.NSEC in types
                                          or dns.rdatatype.NSEC3 in types), label
    # its last octet (an RRSIG's signature or a glue address, never a pointer) changed in
    # the image comes out changed in the answer for a name below the cut
    data = _core.image_to_bytes(img)
    at = data.find(a["body"])
    assert at > 0 and data.find(a["body"], at + 1) < 0
    b = bytearray(data)
    b[at + len(a["body"]) - 1] ^= 0xFF
    forged = _core.answer(_core.Database([_core.image_from_bytes(bytes(b))], max_udp_payload=4096), w)
    assert len(forged) == len(want) and sum(x != y for x, y in zip(forged, want)) == 1


label_chars = st.sampled_from(string.ascii_letters + string.digits + "-_*")


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(st.text(label_chars, min_size=1, max_size=20), min_size=1, max_size=4),
       which=st.integers(min_value=0, max_value=1000), qtype=st.sampled_from(QTYPES),
       do=st.booleans())
def test_hypothesis_names_below_cuts(zones, labels, which, qtype, do):
    with_cuts = [z for z in zones if z[4]]
    label, img, fast, general, cuts = with_cuts[which % len(with_cuts)]
    name = ".".join(labels) + "." + cuts[which % len(cuts)]
    if len(dns.name.from_text(name).to_wire()) > 255:
        return
    w = dns.message.make_query(name, qtype, use_edns=0, payload=1232, want_dnssec=do).to_wire()
    assert _core.answer(fast, w) == _core.answer(general, w), (label, name)



def test_no_cut_below_a_dname_is_ever_served():
    # The walk toward the cut skips the apex and trusts that no record exists below a
    # DNAME (RFC 6672 2.3: those names are synthesized): the compiler refuses data below
    # a DNAME, at the apex or deeper, so such a cut never reaches an image
    from robdns.errors import ZoneError
    for owner, below_it in (("@", "sub.dn.test."), ("d", "sub.d.dn.test.")):
        text = ("$ORIGIN dn.test.\n$TTL 300\n@ SOA ns.example. admin.example. 1 3600 600 86400 60\n"
                f"@ NS ns.example.\n{owner} DNAME other.test.\n{below_it} NS ns.example.\n")
        with pytest.raises(ZoneError, match="below the DNAME"):
            _core.compile_zone_text("dn.test.", text)
