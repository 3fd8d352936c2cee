# test_rrl.py — response rate limiting: the token buckets on a controlled clock and the
# response classes that share a bucket (test_rrl_daemon.py: the daemon limiting a flood).
import dataclasses

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from hypothesis import given, settings, strategies as st

from robdns import _core
from robdns.config import RrlConfig


def response(qname="www.example.com.", qtype="A", rcode=dns.rcode.NOERROR, answer=True,
             aa=True, soa_owner="example.com.", ns_owner=None):
    q = dns.message.make_query(qname, qtype)
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    if aa:
        r.flags |= dns.flags.AA
    if answer:
        r.answer.append(dns.rrset.from_text(qname, 300, "IN", "A", "192.0.2.1"))
    if soa_owner and not answer and ns_owner is None:
        r.authority.append(dns.rrset.from_text(soa_owner, 300, "IN", "SOA",
                                               "ns. host. 1 2 3 4 5"))
    if ns_owner:
        r.authority.append(dns.rrset.from_text(ns_owner, 300, "IN", "NS", "ns1." + ns_owner))
    return r.to_wire()


def table(rate=5, slip=2, **kw):
    return _core.RrlTable(dataclasses.asdict(RrlConfig(rate=rate, slip=slip, **kw)))


CLIENT = ("192.0.2.10", 4000)


def test_rate_then_slip_and_drop_alternate():
    t, w = table(rate=5, slip=2), response()
    verdicts = [t.check(CLIENT, w, 10_000) for _ in range(11)]
    assert verdicts == ["pass"] * 5 + ["drop", "slip"] * 3


@pytest.mark.parametrize("slip,limited", [(0, "drop"), (1, "slip")])
def test_slip_zero_drops_all_and_one_slips_all(slip, limited):
    t, w = table(rate=3, slip=slip), response()
    assert [t.check(CLIENT, w, 5_000) for _ in range(6)] == ["pass"] * 3 + [limited] * 3


def test_tokens_come_back_with_time():
    t, w = table(rate=10, slip=0), response()
    now = 50_000
    assert all(t.check(CLIENT, w, now) == "pass" for _ in range(10))
    assert t.check(CLIENT, w, now) == "drop"
    # 10/s: one response's worth every 100 ms, never more than a second's worth.
    assert t.check(CLIENT, w, now + 99) == "drop"
    # 200 ms after the bucket ran dry it holds two responses' worth (the refused one
    # above took nothing).
    assert [t.check(CLIENT, w, now + 200) for _ in range(3)] == ["pass", "pass", "drop"]
    later = now + 60_000
    assert [t.check(CLIENT, w, later) for _ in range(11)] == ["pass"] * 10 + ["drop"]


def test_clients_share_a_limit_only_within_their_prefix():
    t, w = table(rate=2, slip=0), response()
    now = 1_000
    assert [t.check(("192.0.2.1", 1), w, now) for _ in range(2)] == ["pass", "pass"]
    assert t.check(("192.0.2.200", 2), w, now) == "drop"          # same /24
    assert t.check(("192.0.3.1", 1), w, now) == "pass"            # another /24
    # IPv6: /56 by default.
    assert [t.check(("2001:db8:0:100::1", 1), w, now) for _ in range(2)] == ["pass", "pass"]
    assert t.check(("2001:db8:0:1ff::9", 1), w, now) == "drop"
    assert t.check(("2001:db8:0:200::1", 1), w, now) == "pass"
    # An IPv4 client on a dual-stack socket counts as its IPv4 prefix.
    assert t.check(("::ffff:192.0.2.77", 1), w, now) == "drop"


def test_prefix_lengths_are_settable():
    t, w = table(rate=1, slip=0, ipv4_prefix=32, ipv6_prefix=128), response()
    assert t.check(("192.0.2.1", 1), w, 0) == "pass"
    assert t.check(("192.0.2.2", 1), w, 0) == "pass"
    assert t.check(("192.0.2.1", 9), w, 0) == "drop"              # the port does not matter
    assert t.check(("2001:db8::1", 1), w, 0) == "pass"
    assert t.check(("2001:db8::2", 1), w, 0) == "pass"


def test_answers_are_limited_per_name_and_type_case_blind():
    t = table(rate=1, slip=0)
    assert t.check(CLIENT, response("www.example.com."), 0) == "pass"
    assert t.check(CLIENT, response("WwW.Example.COM."), 0) == "drop"
    assert t.check(CLIENT, response("mail.example.com."), 0) == "pass"
    assert t.check(CLIENT, response("www.example.com.", "AAAA"), 0) == "pass"


def test_nxdomain_for_random_names_shares_the_zone_bucket():
    # The random-subdomain flood: every name differs, the zone (SOA owner) does not.
    t = table(rate=3, slip=0)
    nx = [response(f"r{i}.example.com.", rcode=dns.rcode.NXDOMAIN, answer=False)
          for i in range(5)]
    assert [t.check(CLIENT, w, 0) for w in nx] == ["pass"] * 3 + ["drop"] * 2
    other = response("r0.example.org.", rcode=dns.rcode.NXDOMAIN, answer=False,
                     soa_owner="example.org.")
    assert t.check(CLIENT, other, 0) == "pass"
    # A positive answer for the same client is its own bucket.
    assert t.check(CLIENT, response("www.example.com."), 0) == "pass"


def test_referrals_share_the_delegation_bucket():
    t = table(rate=1, slip=0)
    ref = lambda q: response(q, answer=False, aa=False, soa_owner=None, ns_owner="sub.example.com.")
    assert t.check(CLIENT, ref("a.sub.example.com."), 0) == "pass"
    assert t.check(CLIENT, ref("b.sub.example.com."), 0) == "drop"


def test_errors_share_one_bucket_per_prefix():
    t = table(rate=1, slip=0)
    refused = lambda q: response(q, rcode=dns.rcode.REFUSED, answer=False, aa=False, soa_owner=None)
    assert t.check(CLIENT, refused("a.example.net."), 0) == "pass"
    assert t.check(CLIENT, refused("b.example.org."), 0) == "drop"


def test_slipped_form_is_header_and_question_with_tc():
    w = response()
    s = _core.RrlTable.slip(w)
    m = dns.message.from_wire(s)
    assert m.flags & dns.flags.TC and m.flags & dns.flags.QR
    assert m.id == dns.message.from_wire(w).id
    assert [str(q.name) for q in m.question] == ["www.example.com."]
    assert not m.answer and not m.authority and not m.additional
    assert _core.RrlTable.slip(w[:11]) == b""                      # too short: send nothing


def test_small_table_keeps_working_when_full():
    t, w = table(rate=1, slip=0, table_size=1024), response()
    for i in range(20_000):                                          # far more keys than buckets
        assert t.check((f"10.{i >> 8 & 255}.{i & 255}.1", 1), w, i) == "pass"
    assert t.check(CLIENT, w, 30_000) == "pass"
    assert t.check(CLIENT, w, 30_000) == "drop"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 2**40))
def test_any_bytes_get_a_verdict_without_over_reading(data, now):
    t = table(rate=2, slip=2)
    assert t.check(CLIENT, data, now) in ("pass", "slip", "drop")
    out = _core.RrlTable.slip(data)
    assert len(out) <= len(data)


def test_rrl_settings_are_checked(tmp_path):
    from robdns import config, errors
    p = tmp_path / "c.yaml"
    p.write_text("server:\n  rrl: {rate: -1, burst: 3}\n")
    with pytest.raises(errors.ConfigError) as e:
        config.load(str(p))
    text = str(e.value)
    assert "server.rrl.rate" in text and "server.rrl.burst" in text
