# test_zonetab_collision.py — two apexes filed under one zone-table hash: each zone still answers its own names, one query at a time and in the batch pipeline (which guesses the zone from the hash and confirms it by the apex).
"""The batch pipeline (engine_batch.c) takes the first zone-table slot whose hash matches a
suffix of the query name as the zone, fetches its apex and answer slot together, and only
then compares the apex (zonetab.h rd_zonetab_guess_slot).  When two hosted apexes share a
hash, the first one probed is the wrong zone for the other's names: the comparison must
fail and the full lookup find the right zone (RFC 1034 4.3.2 step 2: the zone is the
longest matching apex, not the first of a hash).  The same holds for a name below an apex
that is not hosted but has a hosted apex's hash: its zone is the parent."""

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from robdns import _core

# c52209.test. and c691506.test. have the same zimg_name_hash (found by a search over
# cN.test.; checked below against the engine's own hash).
A, B = "c52209.test.", "c691506.test."
FILLERS = [f"f{i}.example." for i in range(12)]     # above RD_ZONETAB_FEW: the hashed table


def zone(apex, addr):
    text = (f"$ORIGIN {apex}\n@ 3600 IN SOA ns.invalid. h.invalid. 1 3600 600 86400 60\n"
            f"@ 3600 IN NS ns.invalid.\n@ 3600 IN A {addr}\nwww 3600 IN A {addr}\n")
    return _core.compile_zone_text(apex, text)


ADDR = {A: "192.0.2.1", B: "192.0.2.2", "test.": "192.0.2.3"}
ADDR.update({f: f"198.51.100.{i + 1}" for i, f in enumerate(FILLERS)})


def test_the_two_apexes_share_a_hash():
    """Without this the test below would not test a collision."""
    assert _core.zone_name_hash(A) == _core.zone_name_hash(B)
    assert _core.zone_name_hash(A) == _core.zone_name_hash("C52209.TEST.".lower())
    assert _core.zone_name_hash(A) != _core.zone_name_hash("test.")


def answer_of(resp):
    """(rcode, the A address answered or None, the SOA owner in authority or None)."""
    msg = dns.message.from_wire(resp)
    addr = next((r.address for rs in msg.answer if rs.rdtype == dns.rdatatype.A for r in rs), None)
    soa = next((rs.name.to_text() for rs in msg.authority if rs.rdtype == dns.rdatatype.SOA), None)
    return msg.rcode(), addr, soa


@pytest.mark.parametrize("order", ["ab", "ba"])
def test_colliding_apexes_each_answer_their_own_names(order):
    """Either zone may hold the home slot of the hash: both orders of the zone list."""
    apexes = FILLERS[:6] + ([A, B] if order == "ab" else [B, A]) + FILLERS[6:]
    db = _core.Database([zone(a, ADDR[a]) for a in apexes])
    queries, want = [], []
    for rnd in range(3):
        for apex in (A, B, A, A, B, FILLERS[rnd]):
            for owner in (apex, "www." + apex):
                assert _core.db_find_index(db, owner) == apexes.index(apex)
                queries.append(dns.message.make_query(owner, "A").to_wire())
                want.append((dns.rcode.NOERROR, ADDR[apex], None))
            queries.append(dns.message.make_query("nx." + apex, "A").to_wire())
            want.append((dns.rcode.NXDOMAIN, None, apex))
    single = [answer_of(_core.answer(db, q)) for q in queries]
    assert single == want
    # the pipeline is PF_DEPTH deep: batches of several sizes put each name at every stage
    for size in (1, 5, 9, 64):
        got = []
        for i in range(0, len(queries), size):
            got += [answer_of(r) for r in _core.answer_batch(db, queries[i:i + size])]
        assert got == want, size


def test_unhosted_apex_of_a_hosted_hash_falls_to_the_parent():
    """B is not hosted, A (same hash) and test. are: names under B belong to test."""
    apexes = FILLERS + [A, "test."]
    db = _core.Database([zone(a, ADDR[a]) for a in apexes])
    assert _core.db_find_index(db, "www." + B) == apexes.index("test.")
    queries = [dns.message.make_query(n, "A").to_wire() for n in ("www." + B, "www." + A, B)] * 5
    want = [(dns.rcode.NXDOMAIN, None, "test."), (dns.rcode.NOERROR, ADDR[A], None),
            (dns.rcode.NXDOMAIN, None, "test.")] * 5
    assert [answer_of(_core.answer(db, q)) for q in queries] == want
    assert [answer_of(r) for r in _core.answer_batch(db, queries)] == want
    # without test. hosted: no zone at all (REFUSED, RFC 1035 4.1.1), in a batch as alone
    db = _core.Database([zone(a, ADDR[a]) for a in FILLERS + [A]])
    refused = [dns.message.from_wire(r).rcode() for r in
               _core.answer_batch(db, [dns.message.make_query("www." + B, "A").to_wire()] * 10)]
    assert refused == [dns.rcode.REFUSED] * 10
