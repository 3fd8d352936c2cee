"""test_dnssec_random — random questions against the signed zones: every response parses,
keeps its rcode meaning, and its denials and wildcard expansions carry valid proofs
(the checks of test_dnssec_validation, on names nobody picked by hand)."""

from __future__ import annotations

import os
import random
import sys
import zlib

import dns.flags
import dns.message
import dns.name
import dns.rcode
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_dnssec_validation as v  # noqa: E402

zone = v.zone   # the module-scoped fixture: each signing variant, compiled

LABELS = ["www", "wild", "*", "c", "b", "a", "insec", "sec", "unsigned", "ent", "deep",
          "nx", "zz", "m1", "dn", "host", "alias", "0", "-", "x"]
TYPES = ["A", "AAAA", "MX", "TXT", "NS", "DS", "NSEC", "NSEC3", "RRSIG", "ANY", "CNAME",
         "TYPE65000"]


def test_random_questions_get_sound_signed_answers(zone):
    variant, origin, z, keys, param, db = zone
    seed = int(os.environ.get("DNSSEC_RANDOM_SEED", "0")) + zlib.crc32(variant.encode())
    rnd = random.Random(seed)   # fixed: a failure reproduces
    counts = {"NXDOMAIN": 0, "NOERROR": 0}
    for _ in range(600):
        labels = [rnd.choice(LABELS) for _ in range(rnd.randrange(0, 4))]
        if rnd.random() < 0.2:
            labels.insert(0, "%08x" % rnd.getrandbits(32))
        name = dns.name.Name([lbl.encode() for lbl in labels] + list(origin.labels))
        qname = "".join(ch.upper() if rnd.random() < 0.3 else ch for ch in name.to_text())
        qtype = rnd.choice(TYPES)
        msg = v.ask(db, qname, qtype)
        rcode = dns.rcode.to_text(msg.rcode())
        assert rcode in counts, (qname, qtype, rcode, seed)
        counts[rcode] += 1
        try:
            v.check_signatures(msg, keys, origin)
        except Exception as e:
            raise AssertionError(f"{qname} {qtype} (seed {seed}): {e}\n{msg}") from e
        v.check_wildcard_expansion(variant, msg, origin, param)
        if not msg.flags & dns.flags.AA:
            v.check_referral(variant, msg, origin, param)
        elif msg.rcode() == dns.rcode.NXDOMAIN or (not msg.answer and qtype != "ANY"):
            v.check_denial(variant, msg, qname.lower(), qtype, origin, param)
    assert counts["NXDOMAIN"] > 50 and counts["NOERROR"] > 50
