# test_zonetab.py — the zone table (query/zonetab.c) against a Python model of "the longest matching apex", nested zones included, through db_find_index and through the engine's answers.
"""The zone of a query is the hosted zone whose apex is the longest ancestor-or-self of the
name (RFC 1034 4.3.2 step 2); for DS, the zone strictly above the name when one is hosted
(RFC 4035 3.1.4.1).  Random zone sets (children under their parents, the root zone, names
of several depths) are checked against that model: the index the table finds, and the
zone whose SOA the engine puts in the authority section of a negative answer, one query
at a time and in a batch (the pipeline finds the zone once and answers from it)."""

import random

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robdns import _core

LABELS = ["a", "b", "c", "zz", "xn--d"]
_images = {}


def image(apex):
    """A small compiled zone for `apex` (memoized: a zone is compiled once per run)."""
    if apex not in _images:
        text = (f"$ORIGIN {apex}\n@ 3600 IN SOA ns.invalid. h.invalid. 1 3600 600 86400 60\n"
                "@ 3600 IN NS ns.invalid.\n")
        _images[apex] = _core.compile_zone_text(apex, text)
    return _images[apex]


def name_of(labels):
    return ".".join(labels) + "." if labels else "."


def model(apexes, qname, ds=False):
    """Index in `apexes` of the zone for qname by the rule above, or None."""
    q = dns.name.from_text(qname)
    best, best_labels = None, -1
    exact = None
    for i, a in enumerate(apexes):
        an = dns.name.from_text(a)
        if not q.is_subdomain(an):
            continue
        if ds and an == q:
            exact = i
            continue
        if len(an) > best_labels:
            best, best_labels = i, len(an)
    return exact if best is None else best


names = st.lists(st.sampled_from(LABELS), min_size=0, max_size=4).map(name_of)


def soa_owner(resp):
    msg = dns.message.from_wire(resp)
    if msg.rcode() == dns.rcode.REFUSED:
        return None
    for rrset in msg.authority + msg.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset.name.to_text().lower()
    raise AssertionError(f"no SOA in {msg}")


# Up to 8 zones the table compares apexes one by one, above it hashes (zonetab.h
# RD_ZONETAB_FEW): both ways are held to the same model.
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=0, max_size=12, unique=True), st.lists(names, min_size=1, max_size=12),
       st.randoms(use_true_random=False))
def test_longest_matching_apex(apexes, queries, rnd):
    check_longest_matching_apex(apexes, queries, rnd)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=9, max_size=14, unique=True), st.lists(names, min_size=1, max_size=12),
       st.randoms(use_true_random=False))
def test_longest_matching_apex_hashed(apexes, queries, rnd):
    check_longest_matching_apex(apexes, queries, rnd)


def check_longest_matching_apex(apexes, queries, rnd):
    db = _core.Database([image(a) for a in apexes])
    assert [z.origin for z in db.zones] == apexes           # the order given is the index
    wires = []
    for q in queries + apexes:
        # letter case does not choose the zone (RFC 4343)
        typed = "".join(ch.upper() if rnd.random() < 0.5 else ch for ch in q)
        assert _core.db_find_index(db, typed) == model(apexes, q), (apexes, q)
        assert _core.db_find_index(db, typed, ds=True) == model(apexes, q, ds=True), (apexes, q)
        for rdtype, ds in (("TXT", False), ("DS", True)):
            want = model(apexes, q, ds)
            wire = dns.message.make_query(typed, rdtype).to_wire()
            got = soa_owner(_core.answer(db, wire))
            assert got == (None if want is None else apexes[want]), (apexes, q, rdtype)
            wires.append((wire, got))
    batch = _core.answer_batch(db, [w for w, _ in wires])
    assert [soa_owner(r) for r in batch] == [got for _, got in wires]


def test_same_apex_twice_is_refused():
    with pytest.raises(ValueError, match="given twice"):
        _core.Database([image("a."), image("b."), image("A.")])


def test_many_zones_every_one_found():
    """Thousands of apexes at several depths, each found from a name below it and from
    itself; names outside every zone find none."""
    rnd = random.Random(7)
    apexes = sorted({name_of([rnd.choice(LABELS) + str(rnd.randrange(400))
                              for _ in range(rnd.randrange(1, 4))]) for _ in range(1500)})
    db = _core.Database([image(a) for a in apexes])
    index = {a: i for i, a in enumerate(apexes)}
    for a in apexes:
        assert _core.db_find_index(db, a) == index[a]
        assert _core.db_find_index(db, "www.deep." + a) == model(apexes, "www.deep." + a)
    assert _core.db_find_index(db, "nowhere.invalid.") is None


def test_small_zones_answers_fetched_whole_same_bytes(tmp_path):
    """Hundreds of hashed zones (the zone table's guess applies), small ones whose answer
    table, records and answers are fetched whole with their slot and big ones that are
    not (more than 1 KB of them): every answer the same bytes one query at a time and in
    batches of every size around the ring's (fewer queries than the ring take the whole
    fetch, a full ring does not)."""
    rnd = random.Random(14)
    small = "@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.{i}\n" \
            "www AAAA 2001:db8::{i}\n@ MX 10 mail\nmail A 192.0.2.25\nftp CNAME www\n"
    big = small + "".join(f"h{k} A 192.0.2.{k % 250 + 1}\n" for k in range(60))
    apexes, images = [], []
    for i in range(300):
        apex = f"z{i}.whole.test."
        path = tmp_path / f"{i}.zone"
        path.write_text(f"$ORIGIN {apex}\n$TTL 300\n" + (big if i % 10 == 0 else small).format(i=i % 250 + 1))
        apexes.append(apex)
        images.append(_core.compile_zone(apex, str(path)))
    db = _core.Database(images)
    qnames = [f"{rnd.choice(['www', 'mail', 'ftp', 'h3', 'nx', ''])}.{a}".lstrip(".")
              for a in apexes for _ in range(2)]
    rnd.shuffle(qnames)
    wires = [dns.message.make_query(q, rnd.choice(["A", "AAAA", "MX"]), want_dnssec=False,
                                    use_edns=rnd.random() < 0.5).to_wire() for q in qnames]
    one = [_core.answer(db, w) for w in wires]
    assert all(r[3] & 0x0f in (0, 3) for r in one) and sum(r[6:8] != b"\0\0" for r in one) > 150
    for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 64):
        got = []
        for k in range(0, len(wires), n):
            got += _core.answer_batch(db, wires[k:k + n])
        assert got == one, n


def numbered_zones(tmp_path, tag, count, text):
    """Zones z0.TAG.test. .. z{count-1}.TAG.test., each compiled from `text` with {i} its
    number (an address octet); their apexes and images."""
    apexes, images = [], []
    for i in range(count):
        apex = f"z{i}.{tag}.test."
        path = tmp_path / f"{i}.zone"
        path.write_text(f"$ORIGIN {apex}\n$TTL 300\n" + text.format(i=i % 250 + 1))
        apexes.append(apex)
        images.append(_core.compile_zone(apex, str(path)))
    return apexes, images


def test_few_queries_step_by_step_same_bytes(tmp_path):
    """2 to 7 queries at once (what one recvmmsg hands a UDP worker under load) take the
    pipeline's steps step by step, every query's slot, then every candidate's apex, ...
    (engine_batch.c): the same bytes as one query at a time, for a mix of every way out of
    the steps: answers, NODATA, NXDOMAIN, CNAME, DS (the zone above), DO=1, a name in no
    zone, CHAOS, a FORMERR, a response (no answer), batches cut at every offset."""
    rnd = random.Random(1407)
    text = "@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.{i}\n" \
           "www AAAA 2001:db8::{i}\nftp CNAME www\nsub NS ns.sub\nns.sub A 192.0.2.53\n"
    apexes, images = numbered_zones(tmp_path, "step", 60, text)
    db = _core.Database(images)
    assert len(apexes) > 8                    # hashed: the zone table's guess applies
    wires = []
    for _ in range(300):
        a = rnd.choice(apexes + ["elsewhere.invalid."])
        q = f"{rnd.choice(['www', 'ftp', 'nx', 'a.sub', ''])}.{a}".lstrip(".")
        m = dns.message.make_query(q, rnd.choice(["A", "AAAA", "DS", "NS", "TXT"]),
                                   want_dnssec=rnd.random() < 0.3, use_edns=rnd.random() < 0.5)
        if rnd.random() < 0.05:
            m = dns.message.make_query(q, "TXT", rdclass="CH")
        w = m.to_wire()
        r = rnd.random()
        if r < 0.03:
            w = w[:7]                         # shorter than a header
        elif r < 0.06:
            w = w[:2] + bytes([w[2] | 0x80]) + w[3:]    # QR set: no answer
        wires.append(w)
    one = [_core.answer(db, w) for w in wires]
    assert sum(r[3] & 0x0f == 3 for r in one if len(r) > 3) > 10      # NXDOMAIN among them
    assert sum(r[3] & 0x0f == 0 and r[6:8] != b"\0\0" for r in one if len(r) > 3) > 50
    for n in range(2, 8):
        for start in range(n):
            got = one[:start]
            for k in range(start, len(wires), n):
                got += _core.answer_batch(db, wires[k:k + n])
            assert got == one, (n, start)


def test_hashed_zone_single_query_same_bytes_as_zone_alone(tmp_path):
    """One query at a time over hundreds of hashed zones, whose zone-table slot's copy of
    the answer table's place makes the precomputed-answer lookup (engine_fast.c
    fast_by_slot): the same bytes as the zone alone in a database (a handful of zones,
    no guess: the lookup through the image header), for names with answers, NODATA,
    NXDOMAIN, CNAME, the qtypes answered apart (DS, ANY, RRSIG) and DO=1."""
    rnd = random.Random(41)
    text = "@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.{i}\n" \
           "www AAAA 2001:db8::{i}\n@ MX 10 mail\nmail A 192.0.2.25\nftp CNAME www\n" \
           "sub NS ns.sub\nns.sub A 192.0.2.53\n"
    apexes, images = numbered_zones(tmp_path, "slot", 200, text)
    many = _core.Database(images)
    alone = [_core.Database([im]) for im in images]
    fast = 0
    for _ in range(1500):
        i = rnd.randrange(len(apexes))
        name = f"{rnd.choice(['www', 'WwW', 'mail', 'ftp', 'nx', 'x.sub', ''])}.{apexes[i]}".lstrip(".")
        qtype = rnd.choice(["A", "AAAA", "MX", "TXT", "CNAME", "SOA", "NS", "DS", "ANY", "RRSIG"])
        w = dns.message.make_query(name, qtype, want_dnssec=rnd.random() < 0.3,
                                   use_edns=rnd.random() < 0.7).to_wire()
        got = _core.answer(many, w)
        assert got == _core.answer(alone[i], w), (name, qtype)
        fast += got[3] & 0x0f == 0 and got[6:8] != b"\0\0"
    assert fast > 400          # a third had answers: the lookup by slot was taken
