"""test_engine_fast_do — precomputed answers to DO=1 queries against the general path.

Validating resolvers set DO (RFC 3225) on every query, so a signed zone's image also
carries the signed variant of each precomputed answer: the RRset with its RRSIGs, a
NODATA with its NSEC/NSEC3 proof and signatures, a referral with its DS or its proof of
no DS (RFC 4035 3.1).  Served from there, a response must be byte for byte what the
general path writes.  The corpus zones and the DNSSEC test zone are signed here with
BIND's dnssec-signzone and with ldns-signzone, NSEC and NSEC3 (with and without opt-out),
and every (name, type) is asked of the same zones with and without their precomputed
answers over UDP (payloads that fit and that do not: then the general path truncates,
RFC 2181 9, RFC 4035 3.1.1) and TCP, in changed letter case, with NSID, one at a time and
through rd_answer_batch.
"""

import os
import random
import shutil
import subprocess
import tempfile
import time

import dns.dnssec
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

import dnssec_zones
from robdns import _core

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
CORPUS_ORIGINS = ("example.com.", "example.net.", "example.", "child.example.com.")
LDNS_KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
LDNS_SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"
TYPES = ["A", "AAAA", "NS", "SOA", "CNAME", "MX", "TXT", "SRV", "PTR", "CAA", "DNAME",
         "HTTPS", "SVCB", "DS", "ANY", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY",
         "TYPE999", "NULL", "HINFO"]


def _run(argv, cwd):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(argv)}:\n{r.stdout}\n{r.stderr}"
    return r.stdout.strip()


def ldns_sign(workdir, origin, text, nsec3=False):
    """Sign with ldns-keygen/ldns-signzone (ECDSA P-256 KSK and ZSK, RFC 6605); NSEC3
    without extra iterations (RFC 9276 3.1).  Returns the signed file's path."""
    os.makedirs(workdir, exist_ok=True)
    unsigned = os.path.join(workdir, origin + "zone")
    with open(unsigned, "w") as f:
        f.write(text)
    ksk = _run([LDNS_KEYGEN, "-a", "ECDSAP256SHA256", "-k", origin], workdir)
    zsk = _run([LDNS_KEYGEN, "-a", "ECDSAP256SHA256", origin], workdir)
    now = int(time.time())
    signed = unsigned + (".nsec3" if nsec3 else ".nsec") + ".signed"
    argv = [LDNS_SIGNZONE, "-o", origin, "-f", signed, "-i", str(now - 3600),
            "-e", str(now + 30 * 86400)]
    if nsec3:
        argv += ["-n", "-t", "0"]
    _run(argv + [unsigned, ksk, zsk], workdir)
    return signed


def signed_zones():
    """(label, image) of every signed zone of the test: the DNSSEC test zone in each of
    dnssec_zones' variants, and the corpus zones signed by both signers."""
    workdir = tempfile.mkdtemp(prefix="robdns-fastdo-")
    out = []
    for variant in dnssec_zones.VARIANTS:
        z = dnssec_zones.sign_zone(os.path.join(workdir, "bind-" + variant), variant)
        out.append((f"{z.origin} {variant} (dnssec-signzone)", _core.compile_zone(z.origin, z.path)))
    for i, origin in enumerate(CORPUS_ORIGINS):
        with open(os.path.join(CORPUS, origin[:-1] + ".zone")) as f:
            text = f.read()
        variant = ("nsec", "nsec3")[i % 2]
        z = dnssec_zones.sign_zone(os.path.join(workdir, f"bind-{origin}{variant}"), variant,
                                   origin=origin, text=text)
        out.append((f"{origin} {variant} (dnssec-signzone)", _core.compile_zone(origin, z.path)))
        nsec3 = i % 2 == 0
        path = ldns_sign(os.path.join(workdir, f"ldns-{origin}"), origin, text, nsec3)
        out.append((f"{origin} {'nsec3' if nsec3 else 'nsec'} (ldns-signzone)",
                    _core.compile_zone(origin, path)))
    return out


@pytest.fixture(scope="module")
def zones():
    return signed_zones()


def recase(wire, rng):
    """The same query with the question name's letters in another case (0x20 style)."""
    b = bytearray(wire)
    i = 12
    while b[i]:
        for k in range(i + 1, i + 1 + b[i]):
            if 0x61 <= b[k] <= 0x7A and rng.random() < 0.5:
                b[k] -= 0x20
        i += 1 + b[i]
    return bytes(b)


def variants(name, qtype, rng):
    """(wire, tcp) of one question in the modes that change a DO response."""
    out = []
    for payload, nsid in ((4096, False), (1232, False), (512, False), (1400, True)):
        opts = [dns.edns.GenericOption(dns.edns.NSID, b"")] if nsid else []
        w = dns.message.make_query(name, qtype, use_edns=0, payload=payload,
                                   want_dnssec=True, options=opts).to_wire()
        out.append((w if payload != 1232 else recase(w, rng), False))
    w = dns.message.make_query(name, qtype, use_edns=0, payload=1232, want_dnssec=True).to_wire()
    out.append((recase(w, rng), True))
    # the plain answers of a signed zone stay as they were
    out.append((dns.message.make_query(name, qtype, use_edns=0, payload=1232).to_wire(), False))
    return out


def compare(img, names, seed=5, nsid=b"fast-do"):
    """Ask every (name, type) of both databases; returns (queries, DO answers stored)."""
    fast = _core.Database([img], nsid=nsid, max_udp_payload=4096)
    general = _core.Database([_core.image_without_answers(img)], nsid=nsid, max_udp_payload=4096)
    rng = random.Random(seed)
    asked = stored = 0
    batch, expected = [], []
    for name in names:
        for qtype in TYPES:
            stored += _core.image_fast_answer(img, name, dns.rdatatype.from_text(qtype), do=True) is not None
            for wire, tcp in variants(name, qtype, rng):
                want = _core.answer(general, wire, tcp=tcp)
                got = _core.answer(fast, wire, tcp=tcp)
                assert got == want, (name, qtype, tcp, dns.message.from_wire(wire).to_text())
                asked += 1
                if not tcp:
                    batch.append(wire)
                    expected.append(want)
    for i in range(0, len(batch), 512):
        assert _core.answer_batch(fast, batch[i:i + 512]) == expected[i:i + 512]
    return asked, stored


def test_signed_zones_do_answers_equal_general_path(zones):
    total = expanded = 0
    for label, img in zones:
        names = _core.image_node_names(img)
        # names a wildcard answers (RFC 4592 2.2.1), one and two labels below it: the
        # general path's proofs (RFC 5155 7.2.5, 7.2.6), whose NSEC3 searches go through
        # the NXDOMAIN proofs' directory when the image has one (engine_dnssec.c) and
        # through the whole index in the image without precomputed answers
        below = [pre + n[2:] for n in names if n.startswith("*.") for pre in ("x1.", "a.b.")]
        expanded += len(below)
        names += ["nx-" + n if n != "." else "nx." for n in names[:30]] + below
        asked, stored = compare(img, names)
        assert asked > 1000, label
        assert stored > 20, label      # the signed answers are precomputed, not skipped
        total += asked
    assert total > 50000
    assert expanded >= 8


def test_do_answers_carry_signatures_and_proofs(zones):
    label, img = zones[0]              # the NSEC-signed DNSSEC test zone
    origin = dnssec_zones.ORIGIN
    fast = _core.Database([img])
    # RFC 4035 3.1.1: the RRset and its RRSIG, together
    a = _core.image_fast_answer(img, "www." + origin, 1, do=True)
    plain = _core.image_fast_answer(img, "www." + origin, 1)
    assert a["an"] == 2 and plain["an"] == 1 and len(a["body"]) > len(plain["body"])
    wire = dns.message.make_query("WwW." + origin, "A", use_edns=0, payload=1232,
                                  want_dnssec=True).to_wire()
    m = dns.message.from_wire(_core.answer(fast, wire))
    assert m.ednsflags & dns.flags.DO              # echoed, RFC 3225 3
    assert [r.rdtype for r in m.answer] == [dns.rdatatype.A, dns.rdatatype.RRSIG]
    # the signature verifies against the zone's own DNSKEY
    keys = dns.message.from_wire(_core.answer(fast, dns.message.make_query(
        origin, "DNSKEY", use_edns=0, payload=4096, want_dnssec=True).to_wire()))
    dnskey = keys.find_rrset(keys.answer, dns.name.from_text(origin), dns.rdataclass.IN,
                             dns.rdatatype.DNSKEY)
    rrsig = m.find_rrset(m.answer, dns.name.from_text("www." + origin), dns.rdataclass.IN,
                         dns.rdatatype.RRSIG, dns.rdatatype.A)
    dns.dnssec.validate(m.answer[0], rrsig, {dns.name.from_text(origin): dnskey})
    # NODATA (RFC 4035 3.1.3.1): SOA, the name's NSEC, their RRSIGs
    n = _core.image_fast_answer(img, "www." + origin, 99, do=True)
    assert n is not None and n["an"] == 0 and n["ns"] == 4
    m = dns.message.from_wire(_core.answer(fast, dns.message.make_query(
        "www." + origin, "TYPE99", use_edns=0, payload=1232, want_dnssec=True).to_wire()))
    assert sorted(r.rdtype for r in m.authority) == sorted(
        [dns.rdatatype.SOA, dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.RRSIG])


def test_unsigned_zone_shares_the_plain_answers():
    # a zone with no DNSSEC records has nothing to add for DO: the same blob serves both
    img = _core.compile_zone("example.com.", os.path.join(CORPUS, "example.com.zone"))
    for name in _core.image_node_names(img):
        for qtype in (1, 28, 15, 16, 99):
            plain = _core.image_fast_answer(img, name, qtype)
            assert _core.image_fast_answer(img, name, qtype, do=True) == plain
    off = _core.image_without_do_answers(img)
    assert _core.image_fast_answer(off, "www.example.com.", 1, do=True) is None
    assert _core.image_fast_answer(off, "www.example.com.", 1) is not None


def test_bad_do_flags_are_rejected():
    data = _core.image_to_bytes(_core.compile_zone("example.com.", os.path.join(CORPUS, "example.com.zone")))
    recs = int.from_bytes(data[104:108], "little")     # fast_recs_off: the first record
    assert int.from_bytes(data[recs + 2:recs + 4], "little") == 1   # ZFAST_DO_SAME
    for flags in (3, 4, 0x8000):
        b = bytearray(data)
        b[recs + 2:recs + 4] = flags.to_bytes(2, "little")
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))


def _u32(b, at):
    return int.from_bytes(b[at:at + 4], "little")


def split_blobs(data):
    """(blob, head) offsets of the DO answers stored as a shared head and a tail
    (zimg_format.h ZFAST_SPLIT), read from the image's bytes."""
    return [(bo, bo - _u32(data, bo + 6)) for bo in do_blobs(data, 2)]


def test_do_nodata_shares_the_soa_head(zones):
    # RFC 4035 3.1.3.1: a signed NODATA is the SOA and its RRSIG, then the proof; the
    # first two are the same bytes for every name of a length, stored once
    total = heads = 0
    for label, img in zones:
        data = _core.image_to_bytes(img)
        blobs = split_blobs(data)
        total += len(blobs)
        for bo, head in blobs:
            assert data[head + 5] & 2 == 0, label            # a head is no split blob
            hl = int.from_bytes(data[head:head + 2], "little")
            assert 0 < hl < int.from_bytes(data[bo:bo + 2], "little"), label
            # the head is the SOA record (its owner a pointer to the question's apex),
            # then its RRSIG
            o = head + 6
            assert data[o] & 0xC0 == 0xC0, label
            assert int.from_bytes(data[o + 2:o + 4], "big") == dns.rdatatype.SOA, label
        heads += len({h for _, h in blobs})
    # shared by the names of a length: fewer heads than answers
    assert 0 < heads < total


def test_forged_split_heads_are_refused(zones):
    # an untrusted image's head distance must lead back into the answer area, to an
    # aligned blob that is no split blob itself and no longer than the whole answer
    label, img = next((l, i) for l, i in zones if split_blobs(_core.image_to_bytes(i)))
    data = _core.image_to_bytes(img)
    blobs = split_blobs(data)
    bo, head = blobs[-1]
    recs = _u32(data, 104)
    other = next((b for b, _ in blobs if b < bo), None)
    forged = [0, 1, bo - recs + 2, bo + 4096, 0xFFFFFFFF]
    if other is not None:
        forged.append(bo - other)                      # a split blob as head
    for d in forged:
        b = bytearray(data)
        b[bo + 6:bo + 10] = d.to_bytes(4, "little")
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))
    b = bytearray(data)
    b[head:head + 2] = (int.from_bytes(data[bo:bo + 2], "little") + 1).to_bytes(2, "little")
    with pytest.raises(ValueError):                    # a head longer than the answer
        _core.image_from_bytes(bytes(b))
    assert _core.image_from_bytes(bytes(data)) is not None


def do_blobs(data, flag):
    """Offsets of the DO answers whose flags carry `flag` (zimg_format.h), read from the
    image's bytes, with whether each is a split blob."""
    fast_off, mask = _u32(data, 96), _u32(data, 100)
    out = set()
    for i in range(mask + 1 if fast_off else 0):
        rec = _u32(data, fast_off + 8 * i + 4)
        if rec == 0xFFFFFFFF or data[rec + 2] != 2:        # ZFAST_DO_TABLE
            continue
        nent, below = data[rec + 1], data[rec + 3]
        ents = rec + ((8 + below + 3) & ~3)
        for k in range(nent + 1):
            bo = _u32(data, ents + 8 * nent + 4 * k)
            if bo != 0xFFFFFFFF and data[bo + 5] & flag:
                out.add(bo)
    return sorted(out)


def segments(data, bo):
    """The ZFAST_REFS segments of the blob at bo: (offset, head, literal or
    (rdata_off, ttl, type, count))."""
    at = bo + 6 + (4 if data[bo + 5] & 2 else 0)
    out = []
    while True:
        h = int.from_bytes(data[at:at + 2], "little")
        if h & 0x8000:
            ref = (_u32(data, at + 2), _u32(data, at + 6),
                   int.from_bytes(data[at + 10:at + 12], "little"),
                   int.from_bytes(data[at + 12:at + 14], "little"))
            out.append((at, h, ref))
            at += 14
        else:
            out.append((at, h, bytes(data[at + 2:at + 2 + (h & 0x3FFF)])))
            at += 2 + (h & 0x3FFF)
        if h & 0x4000:
            return out


def test_do_nodata_takes_its_nsec_and_rrsigs_from_the_zone(zones):
    # RFC 4035 3.1.3.1: a signed NODATA carries the name's own NSEC and its RRSIG; they
    # are the zone's records, written from there at query time (ZFAST_REFS) instead of
    # held a second time; compare() above asks every name and type of these zones
    nsec_zones = 0
    for label, img in zones:
        data = _core.image_to_bytes(img)
        blobs = do_blobs(data, 4)
        if " nsec " not in label + " " and "nsec (" not in label:
            continue
        nsec_zones += 1
        assert blobs, label
        for bo in blobs:
            assert data[bo + 5] & 1, label                   # authoritative only
            segs = segments(data, bo)
            refs = [s[2] for s in segs if s[1] & 0x8000]
            assert refs and {r[2] for r in refs} <= {dns.rdatatype.NSEC, dns.rdatatype.RRSIG}, label
            assert all(r[3] > 0 for r in refs), label
            # each owner points at the question (offset 12), never forward
            assert all(s[1] & 0x3FFF == 12 for s in segs if s[1] & 0x8000), label
            assert [s[1] & 0x4000 for s in segs].count(0x4000) == 1, label
    assert nsec_zones >= 3
    # the www NODATA of the NSEC-signed test zone is one of them, and its bytes are the
    # general path's (the NSEC and RRSIG written from the zone's records)
    label, img = zones[0]
    origin = dnssec_zones.ORIGIN
    n = _core.image_fast_answer(img, "www." + origin, 99, do=True)
    general = _core.Database([_core.image_without_answers(img)])
    wire = dns.message.make_query("www." + origin, "TYPE99", use_edns=0, payload=1232,
                                  want_dnssec=True).to_wire()
    m = dns.message.from_wire(_core.answer(general, wire))
    assert n["body"] == _core.answer(general, wire)[len(wire) - 11:-11]
    assert [r.rdtype for r in m.authority][-2:] == [dns.rdatatype.NSEC, dns.rdatatype.RRSIG]


def test_forged_refs_are_refused(zones):
    # an untrusted image's references must take whole records from the zone's rdata and
    # write exactly the answer's length, end with one last segment, and sit only in an
    # authoritative DO answer (put_referral moves stored bytes as they are)
    label, img = next((l, i) for l, i in zones if do_blobs(_core.image_to_bytes(i), 4))
    data = _core.image_to_bytes(img)
    bo = do_blobs(data, 4)[-1]
    segs = segments(data, bo)
    ref_at = next(at for at, h, _ in segs if h & 0x8000)
    last_at = segs[-1][0]
    forged = []
    for off in (0, 16, len(data) - 2, 0xFFFFFFF0):     # outside the rdata area
        b = bytearray(data)
        b[ref_at + 2:ref_at + 6] = off.to_bytes(4, "little")
        forged.append(b)
    for count in (0, 200):                             # nothing, or past the answer
        b = bytearray(data)
        b[ref_at + 12:ref_at + 14] = count.to_bytes(2, "little")
        forged.append(b)
    head = int.from_bytes(data[ref_at:ref_at + 2], "little")
    for target in (0, 11, 0x3FFF):                     # owner into the header, or forward
        b = bytearray(data)                            # of the question (RFC 1035 4.1.4)
        b[ref_at:ref_at + 2] = ((head & 0xC000) | target).to_bytes(2, "little")
        forged.append(b)
    b = bytearray(data)                                # no last segment
    b[last_at + 1] &= ~0x40
    forged.append(b)
    if len(segs) > 1:
        b = bytearray(data)                            # a last one too early
        b[segs[0][0] + 1] |= 0x40
        forged.append(b)
    b = bytearray(data)                                # not authoritative
    b[bo + 5] &= ~1
    forged.append(b)
    b = bytearray(data)                                # the written length one short
    b[bo:bo + 2] = (int.from_bytes(data[bo:bo + 2], "little") - 1).to_bytes(2, "little")
    forged.append(b)
    for b in forged:
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))
    assert _core.image_from_bytes(bytes(data)) is not None
    # a plain answer carrying the flag: refused too (only the DO offsets may)
    fast_off, mask = _u32(data, 96), _u32(data, 100)
    for i in range(mask + 1):
        rec = _u32(data, fast_off + 8 * i + 4)
        if rec != 0xFFFFFFFF and data[rec + 1]:
            below = data[rec + 3]
            plain = _u32(data, rec + ((8 + below + 3) & ~3) + 4)
            if plain != 0xFFFFFFFF:
                break
    b = bytearray(data)
    b[plain + 5] |= 4
    with pytest.raises(ValueError):
        _core.image_from_bytes(bytes(b))


def test_image_of_the_previous_version_is_refused():
    # ZIMG_VERSION 10 (zneg_zone holds its records' places, a longer piece): an image
    # written before reads its pieces otherwise, so a kept one of version 9 is refused and
    # its zone compiled again (robdns.keep)
    data = bytearray(_core.image_to_bytes(_core.compile_zone(
        "example.com.", os.path.join(CORPUS, "example.com.zone"))))
    assert _u32(data, 8) == 10
    data[8:12] = (9).to_bytes(4, "little")
    with pytest.raises(ValueError, match="version 9"):
        _core.image_from_bytes(bytes(data))


def _rrsets(data):
    """(index, type, count, rdata_off, rdata_len) of every zrrset of an image (zimg.h)."""
    off, n = _u32(data, 52), _u32(data, 32)
    out = []
    for i in range(n):
        at = off + 32 * i
        out.append((i, int.from_bytes(data[at:at + 2], "little"),
                    int.from_bytes(data[at + 4:at + 6], "little"), _u32(data, at + 12), _u32(data, at + 16)))
    return out


def test_zone_rrsigs_are_held_once_in_the_do_answers(zones):
    # A positive DO answer carries its rrset's RRSIG (RFC 4035 3.1.1) as the very
    # [rdlength][rdata] octets of the zone's RRSIG rrset (signer names are never
    # compressed, RFC 4034 3.1.7): the rrset points at them there (zimg_share.c), the
    # rdata section keeps only the rest, and every rrset still reads its own records
    for label, img in zones:
        data = _core.image_to_bytes(img)
        rd0, rdlen = _u32(data, 80), _u32(data, 84)
        recs0, recs_len = _u32(data, 104), _u32(data, 108)
        sets = _rrsets(data)
        shared = [s for s in sets if recs0 <= s[3] < recs0 + recs_len]
        assert shared, label
        assert all(t == dns.rdatatype.RRSIG and count == 1 for _, t, count, _, _ in shared), label
        assert all(s[3] + s[4] <= recs0 + recs_len for s in shared), label
        rest = [s for s in sets if s not in shared]
        assert all(rd0 <= s[3] and s[3] + s[4] <= rd0 + rdlen for s in rest), label
        # the section closed up: its bytes are exactly the rrsets left in it, once each
        assert sum(s[4] for s in rest) == rdlen, label
        assert sorted((s[3], s[3] + s[4]) for s in rest) == sorted(
            set((s[3], s[3] + s[4]) for s in rest)), label
        # an image written and read back is the same and valid
        assert _core.image_to_bytes(_core.image_from_bytes(data)) == data, label
        # each one's bytes sit right after a record's owner pointer, type RRSIG, class
        # IN and TTL: a record of a DO answer, not any equal run of octets
        for _, _, _, off, _ in shared:
            assert data[off - 8:off - 4] == b"\x00\x2e\x00\x01", label


def test_shared_rrsigs_read_as_the_signed_zone_file(tmp_path):
    # what the rrsets point at are the zone file's signatures, record for record: the
    # RRSIG qtype (never precomputed) and the general path read them from there
    z = dnssec_zones.sign_zone(str(tmp_path / "nsec"), "nsec")
    img = _core.compile_zone(z.origin, z.path)
    data = _core.image_to_bytes(img)
    recs0, recs_len = _u32(data, 104), _u32(data, 108)
    shared = {s[0] for s in _rrsets(data) if recs0 <= s[3] < recs0 + recs_len}
    zone = dns.zone.from_file(z.path, origin=z.origin, relativize=False)
    seen = 0
    for name, node in zone.nodes.items():
        got = img.rrsets(name.to_text())
        for rds in node.rdatasets:
            if rds.rdtype != dns.rdatatype.RRSIG:
                continue
            for covered in {rd.type_covered for rd in rds}:
                want = sorted(rd.to_wire() for rd in rds if rd.type_covered == covered)
                mine = [r for r in got if r["type"] == dns.rdatatype.RRSIG and r["covered"] == covered]
                assert len(mine) == 1 and sorted(mine[0]["rdatas"]) == want, (name, covered)
                seen += mine[0]["index"] in shared
    assert seen == len(shared) > 5
    # and the RRSIG qtype's answer (general path) carries them
    db = _core.Database([img])
    wire = dns.message.make_query("www." + z.origin, "RRSIG", want_dnssec=True).to_wire()
    m = dns.message.from_wire(_core.answer(db, wire))
    want = zone.find_rdataset("www." + z.origin, dns.rdatatype.RRSIG, dns.rdatatype.A)
    assert any(rr.rdtype == dns.rdatatype.RRSIG and want[0] in rr for rr in m.answer)


def test_forged_shared_rrsigs_are_refused(zones):
    # only an RRSIG rrset may point into the answers, and only inside them
    label, img = zones[0]
    data = _core.image_to_bytes(img)
    recs0, recs_len = _u32(data, 104), _u32(data, 108)
    sets = _rrsets(data)
    shared = next(s for s in sets if recs0 <= s[3] < recs0 + recs_len)
    other = next(s for s in sets if s[1] == dns.rdatatype.A and s[4] <= shared[4])
    rrsets_off = _u32(data, 52)
    forged = []
    b = bytearray(data)                                # an A rrset pointed at the answers
    b[rrsets_off + 32 * other[0] + 12:rrsets_off + 32 * other[0] + 16] = shared[3].to_bytes(4, "little")
    b[rrsets_off + 32 * other[0] + 16:rrsets_off + 32 * other[0] + 20] = shared[4].to_bytes(4, "little")
    forged.append(b)
    for off in (recs0 + recs_len - 2, len(data) - 2, 0xFFFFFFF0):   # past the answers
        b = bytearray(data)
        b[rrsets_off + 32 * shared[0] + 12:rrsets_off + 32 * shared[0] + 16] = off.to_bytes(4, "little")
        forged.append(b)
    for b in forged:
        with pytest.raises(ValueError):
            _core.image_from_bytes(bytes(b))
    assert _core.image_from_bytes(bytes(data)) is not None
