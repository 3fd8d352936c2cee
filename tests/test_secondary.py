"""test_secondary — robdns as a secondary of real primaries started by the test (Knot,
BIND 9, NSD) with TSIG on every transfer: the copy equals the primary's zone (by
dnspython's AXFR) after the first transfer and after a change, which Knot and named send as
an IXFR (RFC 1995) and NSD as an AXFR (RFC 5936); refresh and retransfer commands; a
failed transfer changes nothing and says why in zone-status."""

import os
import time

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import pytest
from hypothesis import given, settings, strategies as hst

import xfr_primaries
from refservers import KNOTD, NAMED, NSD, available, free_port
from xfr_secondaries import serial as served_serial, start_secondary
from robdns import _core

ORIGIN = "example.net."


def zone_text(serial, n=40, changed=(), timers="3600 600 86400 300", extra=""):
    lines = [f"$ORIGIN {ORIGIN}", "$TTL 300",
             f"@ SOA ns1 hostmaster {serial} {timers}",
             "@ NS ns1", "@ NS ns2.example.org.", "ns1 A 192.0.2.1",
             "@ MX 10 mail", "mail A 192.0.2.25", "www CNAME @"]
    for i in range(n):
        last = 100 + serial if i in changed else i % 250 + 1
        lines.append(f"h{i} A 198.51.100.{last}")
        lines.append(f'h{i} TXT "host {i}"')
    return "\n".join(lines) + "\n" + extra


def norm_dnspython(z):
    out = set()
    for name, node in z.nodes.items():
        owner = name.derelativize(z.origin).to_text().lower()
        for rds in node.rdatasets:
            for rd in rds:
                out.add((owner, rds.rdtype, rds.ttl, rd.to_digestable(z.origin)))
    return out


def norm_image(img):
    out = set()
    origin = dns.name.from_text(ORIGIN)
    for o, ttl, _c, t, rd in _core.image_records(img):
        out.add((dns.name.from_wire(o, 0)[0].to_text().lower(), t, ttl,
                 dns.rdata.from_wire(dns.rdataclass.IN, t, rd, 0, len(rd)).to_digestable(origin)))
    return out


def kept_image(srv, timeout=20.0):
    """The kept image once it holds the serial served (the flush runs after the swap)."""
    path = os.path.join(srv.dir, "example.net.zone.img")
    serial = srv.serial(ORIGIN)
    deadline = time.monotonic() + timeout
    while True:
        try:
            img = _core.ZoneImage.load(path)
            if img.serial == serial:
                # the text file is written after the image: wait for it too
                text = open(os.path.join(srv.dir, "example.net.zone")).read()
                if f" {serial} " in text.split("\n", 1)[0]:
                    return img
        except Exception:
            pass
        assert time.monotonic() < deadline, f"no kept copy of serial {serial}"
        time.sleep(0.05)


def secondary(robdns_server, primary, key=True, **zone):
    """A robdns server that is a secondary of `primary` (its zone file in its directory)."""
    port = free_port()
    z = {"name": ORIGIN, "file": "example.net.zone",
         "primaries": [dict({"address": primary.address}, **({"key": xfr_primaries.KEY_NAME} if key else {}))]}
    z.update(zone)
    return robdns_server({}, families=(4,), extra={"zones": [z], "keys": xfr_primaries.robdns_keys()})


def wait_serial(srv, serial, timeout=20.0):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            r = srv.query(ORIGIN, "SOA", timeout=1)
            if r.rcode() == dns.rcode.NOERROR and r.answer:
                got = r.answer[0][0].serial
                if got == serial:
                    return
        except dns.exception.Timeout:
            pass
        time.sleep(0.1)
    raise AssertionError(f"robdns serves serial {got}, not {serial}:\n{srv.log_text()[-3000:]}")


def zone_status(srv):
    r = srv.ctl("zone-status", zone=ORIGIN)
    return r["zones"][0]


def prometheus_samples(srv):
    """The samples /metrics would show, from the control socket's stats and status."""
    from prometheus_client.parser import text_string_to_metric_families
    from robdns import metrics
    text = metrics.prometheus(srv.ctl("stats")["stats"], srv.ctl("status"))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


@pytest.mark.parametrize("kind, binary, change_kind", [
    ("knot", KNOTD, "ixfr"),
    ("bind", NAMED, "ixfr"),
    ("nsd", NSD, "axfr"),
])
def test_secondary_follows_primary(robdns_server, kind, binary, change_kind):
    if not available(binary):
        pytest.fail(f"{binary} not installed (scripts/test.sh installs it)")
    with xfr_primaries.start_primary(kind, ORIGIN, zone_text(1)) as p:
        srv = secondary(robdns_server, p)
        wait_serial(srv, 1)
        assert norm_image(kept_image(srv)) == norm_dnspython(p.records())
        st = zone_status(srv)
        assert st["role"] == "secondary" and st["primary"] == p.address
        assert st["last_transfer"]["kind"] == "axfr" and st["last_error"] is None
        # the transfer's time is told in its two phases (receive and parse, then build)
        t = st["last_transfer"]
        assert t["receive_seconds"] > 0 and t["build_seconds"] > 0
        assert abs(t["receive_seconds"] + t["build_seconds"] - t["seconds"]) <= 0.002
        assert st["next_refresh"] > time.time() and st["expires_at"] > time.time()
        # a change at the primary: a few records differ, one goes, one comes
        p.update(zone_text(2, changed=(3, 7, 11), extra="new A 192.0.2.77\n").replace(
            'h5 TXT "host 5"\n', ""))
        r = srv.ctl("zone-refresh", zone=ORIGIN)
        assert r["ok"], r
        wait_serial(srv, 2)
        st = zone_status(srv)
        assert st["last_transfer"]["kind"] == change_kind, st
        assert norm_image(kept_image(srv)) == norm_dnspython(p.records())
        # served as transferred
        a = srv.query("new.example.net.", "A")
        assert a.answer[0][0].address == "192.0.2.77"
        # the kept text file is a zone file robdns itself reads back to the same zone
        text = open(os.path.join(srv.dir, "example.net.zone")).read()
        assert norm_image(_core.compile_zone_text(ORIGIN, text)) == norm_image(kept_image(srv))
        # retransfer: a full AXFR whatever the serials say
        r = srv.ctl("zone-retransfer", zone=ORIGIN)
        assert r["ok"] and zone_status(srv)["last_transfer"]["kind"] == "axfr"
        # the metrics: three transfers in (AXFR, the change, the retransfer), the expiry
        m = prometheus_samples(srv)
        assert m[("robdns_transfers_total", (("direction", "in"), ("result", "ok")))] == 3
        assert m[("robdns_zone_expiry_timestamp_seconds", (("zone", ORIGIN),))] == \
            pytest.approx(zone_status(srv)["expires_at"])


def test_refresh_without_key_fails_and_changes_nothing(robdns_server):
    with xfr_primaries.start_primary("knot", ORIGIN, zone_text(1)) as p:
        srv = secondary(robdns_server, p)
        wait_serial(srv, 1)
        # the same primary, asked without the key: Knot refuses the transfer
        cfg = srv.config
        cfg["zones"][0]["primaries"] = [{"address": p.address}]
        srv.write_config()
        assert srv.reload()["ok"]
        p.update(zone_text(2, changed=(1,)))
        r = srv.ctl("zone-refresh", zone=ORIGIN)
        assert not r["ok"]
        st = zone_status(srv)
        assert st["serial"] == 1 and st["last_error"], st
        assert p.address in st["last_error"]
        wait_serial(srv, 1)
        # what an operator reads: role, serial, primary, timers, the last error
        out = srv.ctl_cli("zone-status", ORIGIN).stdout
        assert "zone example.net. ok: serial 1" in out, out
        assert f"role secondary, current; primary {p.address}" in out, out
        assert "next refresh" in out and "expires" in out and "last transfer AXFR" in out, out
        assert "last error" in out and "NOTAUTH" not in out.split("last error")[0], out
        m = prometheus_samples(srv)
        assert m[("robdns_transfers_total", (("direction", "in"), ("result", "failed")))] >= 1
        assert m[("robdns_transfers_total", (("direction", "in"), ("result", "ok")))] == 1


def test_expired_copy_answers_servfail_until_a_refresh_succeeds(robdns_server):
    # SOA REFRESH 1, RETRY 1, EXPIRE 3 (RFC 1035 3.3.13): the copy expires 3 s after the
    # last refresh that reached the primary
    text = zone_text(1, timers="1 1 3 60")
    p = xfr_primaries.start_primary("knot", ORIGIN, text)
    try:
        srv = secondary(robdns_server, p)
        wait_serial(srv, 1)
        port, workdir = p.port, p.workdir
        p.stop(keep=True)
        t0 = time.monotonic()
        deadline = t0 + 15
        while srv.query("h1.example.net.", "A").rcode() != dns.rcode.SERVFAIL:
            assert time.monotonic() < deadline, srv.log_text()[-3000:]
            time.sleep(0.1)
        st = zone_status(srv)
        assert st["expired"], st
        # EXPIRE after the last refresh that reached the primary, not before
        assert abs(st["expires_at"] - st["last_refresh"] - 3) < 0.5, st
        assert time.time() >= st["expires_at"] - 0.1
        # the failed refresh says why (the SOA query to the stopped primary times out)
        deadline = time.monotonic() + 10
        while not zone_status(srv)["last_error"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert p.address in zone_status(srv)["last_error"]
        assert srv.query(ORIGIN, "SOA", tcp=True).rcode() == dns.rcode.SERVFAIL
        # the primary back: served again after the next refresh (RETRY 1 s, with jitter)
        p = xfr_primaries.start_primary("knot", ORIGIN, text, port=port, workdir=workdir)
        deadline = time.monotonic() + 15
        while srv.query("h1.example.net.", "A").rcode() != dns.rcode.NOERROR:
            assert time.monotonic() < deadline, srv.log_text()[-3000:]
            time.sleep(0.1)
        assert not zone_status(srv)["expired"]
    finally:
        p.stop()


def test_restart_with_the_primary_down_serves_the_kept_copy(robdns_server):
    with xfr_primaries.start_primary("knot", ORIGIN, zone_text(7)) as p:
        srv = secondary(robdns_server, p)
        wait_serial(srv, 7)
        srv.stop()
    # the primary is gone: the next start serves what was kept, at once
    t0 = time.monotonic()
    srv.start()      # (returns at once: the first run's READY=1 is still in its list)
    r = None
    while r is None:
        assert time.monotonic() - t0 < 30, srv.log_text()[-2000:]
        try:
            r = srv.query("h2.example.net.", "A", timeout=0.05)
        except dns.exception.Timeout:
            pass
    served_after = time.monotonic() - t0
    assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "198.51.100.3"
    assert srv.serial(ORIGIN) == 7
    print(f"served from the kept copy {served_after:.3f} s after the start")
    # the copy is served from the start, not after the primaries were asked: the log
    # says so before the server reports itself ready (0.3 s from spawn to the answer on
    # an idle machine; the bound only catches a start that waits for a timeout)
    log = srv.log_text().split(" starting (pid ")[-1]        # this start's lines
    assert log.index("serving the kept copy, serial 7") < log.index("serving: 1 zone"), log
    assert served_after < 10, served_after
    st = zone_status(srv)
    assert st["role"] == "secondary" and st["serial"] == 7


def notify_msg(serial=None, key=True, zone=ORIGIN):
    import dns.opcode
    import dns.rrset
    q = dns.message.make_query(zone, "SOA")
    q.flags = dns.flags.AA          # (the opcode lives in the flags: set it after)
    q.set_opcode(dns.opcode.NOTIFY)
    if serial is not None:
        q.answer.append(dns.rrset.from_text(zone, 300, "IN", "SOA",
                                            f"ns1.{zone} hostmaster.{zone} {serial} 1 1 1 1"))
    if key:
        q.use_tsig(xfr_primaries.keyring(), keyname=xfr_primaries.KEY_NAME)
    return q


def send_notify(srv, q, timeout=3.0):
    return dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=timeout)


def test_notify_from_the_primary_starts_a_refresh(robdns_server):
    # the primary's port is chosen first: robdns must know it, and Knot must know robdns'
    kport = free_port()
    srv = robdns_server({}, families=(4,), extra={"keys": xfr_primaries.robdns_keys(), "zones": [
        {"name": ORIGIN, "file": "example.net.zone",
         "primaries": [{"address": f"127.0.0.1@{kport}", "key": xfr_primaries.KEY_NAME}]}]})
    with xfr_primaries.start_primary("knot", ORIGIN, zone_text(1), port=kport,
                                     notify_to=("127.0.0.1", srv.port)) as p:
        assert srv.ctl("zone-refresh", zone=ORIGIN)["ok"]
        wait_serial(srv, 1)
        # SOA REFRESH is an hour: only Knot's NOTIFY (RFC 1996) brings serial 2 this soon
        p.update(zone_text(2, changed=(4,)))
        wait_serial(srv, 2, timeout=10)
        st = zone_status(srv)
        assert st["notifies"] >= 1 and st["last_transfer"]["kind"] == "ixfr", st
        assert norm_image(kept_image(srv)) == norm_dnspython(p.records())


def test_notify_checks_source_and_key_and_a_storm_costs_one_transfer(robdns_server):
    with xfr_primaries.start_primary("knot", ORIGIN, zone_text(1)) as p:
        srv = secondary(robdns_server, p)
        wait_serial(srv, 1)
        # unsigned, while the primary's rule names a key: REFUSED
        r = send_notify(srv, notify_msg(2, key=False))
        assert r.rcode() == dns.rcode.REFUSED
        # a zone that is not a secondary here: NOTAUTH, as the engine answers
        r = send_notify(srv, notify_msg(key=False, zone="example.org."))
        assert r.rcode() == dns.rcode.NOTAUTH
        # signed by the primary's key: acknowledged, signed (dnspython verified it), AA
        r = send_notify(srv, notify_msg(1))
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA and r.had_tsig
        assert r.opcode() == dns.opcode.NOTIFY
        # the control plane counts an acknowledged NOTIFY when it drains the queue
        deadline = time.monotonic() + 10
        while (before := zone_status(srv))["notifies"] < 1:
            assert time.monotonic() < deadline, before
            time.sleep(0.05)
        p.update(zone_text(2, changed=(1, 2)))
        # a storm of 40 NOTIFYs announcing serial 2: every one answered, one transfer
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        msgs = [notify_msg(2) for _ in range(40)]
        for m in msgs:
            s.sendto(m.to_wire(), ("127.0.0.1", srv.port))
        answers = 0
        try:
            while answers < 40:
                s.recv(4096)
                answers += 1
        except socket.timeout:
            pass
        s.close()
        assert answers == 40
        wait_serial(srv, 2)
        time.sleep(2.5)         # any transfer the storm might still cause would be done
        st = zone_status(srv)
        assert st["transfers_in"] == before["transfers_in"] + 1, st
        # the workers fold NOTIFYs for a zone queued and not yet taken into one (the
        # count before the storm holds the signed NOTIFY above)
        assert 1 <= st["notifies"] - before["notifies"] <= 40


def test_chain_knot_robdns_robdns_knot(robdns_server):
    # Knot (primary) -> robdns A -> robdns B -> Knot (secondary), TSIG on every leg: A and
    # B serve the zone onwards (allow_transfer, an IXFR journal) and NOTIFY the next one
    key = xfr_primaries.KEY_NAME
    kp, ks = free_port(), free_port()
    keys = xfr_primaries.robdns_keys()
    a = robdns_server({}, families=(4,), start=False)
    b = robdns_server({}, families=(4,), start=False)
    a.config.update(keys=keys, zones=[{
        "name": ORIGIN, "file": "example.net.zone",
        "primaries": [{"address": f"127.0.0.1@{kp}", "key": key}],
        "allow_transfer": [{"address": "127.0.0.1", "key": key}],
        "notify": [{"address": f"127.0.0.1@{b.port}", "key": key}]}])
    b.config.update(keys=keys, zones=[{
        "name": ORIGIN, "file": "example.net.zone",
        "primaries": [{"address": f"127.0.0.1@{a.port}", "key": key}],
        "allow_transfer": [{"address": "127.0.0.1", "key": key}],
        "notify": [{"address": f"127.0.0.1@{ks}", "key": key}]}])
    a.write_config()
    b.write_config()
    with xfr_primaries.start_primary("knot", ORIGIN, zone_text(1), port=kp,
                                     notify_to=("127.0.0.1", a.port)) as p:
        a.start()
        wait_serial(a, 1)
        b.start()
        wait_serial(b, 1)
        s = start_secondary("knot", ORIGIN, ("127.0.0.1", b.port), xfr_primaries.KEY, port=ks)
        try:
            assert served_serial(s, ORIGIN) == 1
            assert norm_dnspython(xfr_primaries.axfr(s.host, s.port, ORIGIN)) == \
                norm_dnspython(p.records())
            # a change at the top flows down by NOTIFY and IXFR, leg by leg
            p.update(zone_text(2, changed=(2, 9), extra="chain A 192.0.2.99\n"))
            wait_serial(a, 2, timeout=15)
            wait_serial(b, 2, timeout=15)
            deadline = time.monotonic() + 15
            while served_serial(s, ORIGIN) != 2:
                assert time.monotonic() < deadline, s.log()
                time.sleep(0.2)
            assert norm_dnspython(xfr_primaries.axfr(s.host, s.port, ORIGIN)) == \
                norm_dnspython(p.records())
            assert zone_status(a)["last_transfer"]["kind"] == "ixfr"
            assert zone_status(b)["last_transfer"]["kind"] == "ixfr"
            assert "IXFR, incoming" in s.log(), s.log()      # B served the change as IXFR
        finally:
            s.stop()


def test_edns_expire_of_an_intermediate_is_honoured(robdns_server):
    # RFC 7314: Knot P (SOA EXPIRE 30) -> Knot S -> robdns.  S answers with what is left of
    # its own expire timer; robdns must expire when S would, not 30 s after its own refresh
    kp, ks = free_port(), free_port()
    with xfr_primaries.start_primary("knot", ORIGIN, zone_text(1, timers="3600 600 30 60"),
                                     port=kp) as p:
        s = start_secondary("knot", ORIGIN, ("127.0.0.1", kp), xfr_primaries.KEY, port=ks)
        try:
            time.sleep(4)                       # S's timer runs down meanwhile
            srv = robdns_server({}, families=(4,), extra={"keys": xfr_primaries.robdns_keys(), "zones": [
                {"name": ORIGIN, "file": "example.net.zone",
                 "primaries": [{"address": f"127.0.0.1@{ks}", "key": xfr_primaries.KEY_NAME}]}]})
            wait_serial(srv, 1)
            st = zone_status(srv)
            left = st["expires_at"] - st["last_refresh"]
            assert 0 < left <= 27, st               # not the SOA's 30
            # and the check of the SOA (no transfer: same serial) takes S's value again
            time.sleep(1)
            assert srv.ctl("zone-refresh", zone=ORIGIN)["ok"]
            st = zone_status(srv)
            assert st["expires_at"] - st["last_refresh"] < left, st
            assert st["soa_checks"] >= 1
        finally:
            s.stop()


def _expire_option(srv):
    import dns.edns
    r = srv.query(ORIGIN, "SOA", use_edns=0, options=[dns.edns.GenericOption(9, b"")])
    opts = [o for o in r.options if o.otype == 9]
    return int.from_bytes(opts[0].data, "big") if opts else None


def test_edns_expire_in_the_secondary_answers(robdns_server):
    # RFC 7314 3: a secondary answers the option with what is left of its expire timer,
    # as a Knot secondary of it reads it (robdns -> Knot: the chain's next leg)
    with xfr_primaries.start_primary("knot", ORIGIN, zone_text(1, timers="3600 600 600 60", n=3000)) as p:
        srv = secondary(robdns_server, p, allow_transfer=[{"address": "127.0.0.1"}])
        wait_serial(srv, 1)
        st = zone_status(srv)
        left = _expire_option(srv)
        assert left is not None and 0 < left <= 600
        assert abs((st["expires_at"] - time.time()) - left) <= 2, (st, left)
        time.sleep(2.2)
        assert _expire_option(srv) <= left - 1          # the timer runs down
        # a refresh that finds nothing new starts the timer again; the answer never says
        # more than is left, and lags it by at most a tenth of EXPIRE (or 60 s)
        assert srv.ctl("zone-refresh", zone=ORIGIN)["ok"]
        st = zone_status(srv)
        assert st["soa_checks"] >= 1
        truth = st["expires_at"] - time.time()
        got = _expire_option(srv)
        assert truth - 61 <= got <= truth + 1, (st, got)
        # RFC 7314 3: the same in the first message of an AXFR or IXFR asked with it
        for qtype in ("AXFR", "IXFR"):
            first, later = _transfer_expire(srv, qtype)
            assert first is not None and truth - 62 <= first <= truth + 1, (qtype, first)
            assert later == []


def _transfer_expire(srv, qtype):
    """The EXPIRE option of the first message of a transfer asked with it, and those of
    the messages after it."""
    import socket
    import struct

    import dns.edns
    import dns.rdatatype
    import dns.rrset
    q = dns.message.make_query(ORIGIN, qtype, use_edns=0, options=[dns.edns.GenericOption(9, b"")])
    if qtype == "IXFR":
        q.authority.append(dns.rrset.from_text(ORIGIN, 0, "IN", "SOA", ". . 0 0 0 0 0"))
    w = q.to_wire()
    found = []
    with socket.create_connection((srv.host(4), srv.port), timeout=10) as sock:
        sock.sendall(struct.pack("!H", len(w)) + w)
        f = sock.makefile("rb")
        soas = 0
        while soas < 2:
            n = struct.unpack("!H", f.read(2))[0]
            m = dns.message.from_wire(f.read(n), xfr=True, origin=dns.name.from_text(ORIGIN),
                                      one_rr_per_rrset=True)
            opts = [o for o in m.options if o.otype == 9]
            found.append(int.from_bytes(opts[0].data, "big") if opts else None)
            soas += sum(1 for r in m.answer if r.rdtype == dns.rdatatype.SOA)
    return found[0], [v for v in found[1:] if v is not None]


def _first_error(srv, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = zone_status(srv)
        if st["last_error"]:
            return st
        time.sleep(0.1)
    raise AssertionError(srv.log_text()[-2000:])


def test_size_limit_bad_key_and_time_limit_fail_cleanly(robdns_server):
    import socket
    import threading
    with xfr_primaries.start_primary("knot", ORIGIN, zone_text(1, n=200)) as p:
        # more than transfer_max_size bytes: refused, nothing served
        srv = secondary(robdns_server, p, transfer_max_size=4096)
        st = _first_error(srv)
        assert "larger than the limit of 4096 bytes" in st["last_error"], st
        assert st["serial"] is None and srv.query(ORIGIN, "SOA").rcode() == dns.rcode.REFUSED
        # a key with another secret: Knot says NOTAUTH (RFC 8945 5.2: BADSIG)
        bad = robdns_server({}, families=(4,), extra={
            "keys": [{"name": xfr_primaries.KEY_NAME, "algorithm": "hmac-sha256",
                      "secret": "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="}],
            "zones": [{"name": ORIGIN, "file": "example.net.zone",
                       "primaries": [{"address": p.address, "key": xfr_primaries.KEY_NAME}]}]})
        st = _first_error(bad)
        assert "RCODE 9" in st["last_error"] and st["serial"] is None, st
    # a primary that accepts the connection and never answers: the time limit ends it
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    held = []
    stop = threading.Event()

    def hold():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(lsock.accept()[0])
            except socket.timeout:
                pass
    t = threading.Thread(target=hold, daemon=True)
    t.start()
    try:
        mute = robdns_server({}, families=(4,), extra={"zones": [
            {"name": ORIGIN, "file": "example.net.zone", "transfer_timeout": 1,
             "primaries": [{"address": f"127.0.0.1@{lsock.getsockname()[1]}"}]}]})
        t0 = time.monotonic()
        st = _first_error(mute)
        assert "no complete transfer within 1 s" in st["last_error"], st
        assert time.monotonic() - t0 < 10
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        lsock.close()


@settings(max_examples=100, deadline=None)
@given(hst.lists(hst.binary(max_size=40), min_size=1, max_size=4),
       hst.tuples(*[hst.integers(0, 2**32 - 1)] * 5))
def test_kept_text_of_soa_and_txt(strings, timers):
    # the kept copy's text formats SOA and TXT itself (not by dnspython): dnspython reads
    # it back to the same records
    import dns.rdtypes.ANY.TXT
    import dns.zone
    from robdns.secondary import flush
    txt = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings).to_text()
    text = (f"$ORIGIN {ORIGIN}\n@ 300 SOA ns1 host\\.master {' '.join(map(str, timers))}\n"
            f"@ 300 NS ns1\nns1 300 A 192.0.2.1\nt 300 TXT {txt}\n")
    img = _core.compile_zone_text(ORIGIN, text)
    assert dns.zone.from_text("".join(flush.zone_lines(img)), ORIGIN) == dns.zone.from_text(text, ORIGIN)


class _ScriptedPrimary:
    """A primary that answers each AXFR over TCP (RFC 5936, unsigned) with the zone text
    it is given, whole or broken as told: "cut" closes the connection half way through
    the messages, "outside" puts a record of another zone in the middle."""

    def __init__(self, text, signed=False):
        from test_xfrin_recv import Primary
        self.text, self.mode, self.signed = text, "whole", signed
        self._primary = Primary(self._frames, keyring=xfr_primaries.keyring())
        self.address = f"127.0.0.1@{self._primary.sock.getsockname()[1]}"

    def _messages(self, qid):
        import dns.flags
        import dns.rrset
        import dns.zone
        z = dns.zone.from_text(self.text, ORIGIN, relativize=False)
        soa = z.find_rrset(ORIGIN, "SOA")
        rrsets = [rs for rs in z.iterate_rdatasets()]
        body = [dns.rrset.from_rdata_list(name, rds.ttl, list(rds)) for name, rds in rrsets
                if rds.rdtype != dns.rdatatype.SOA]
        if self.mode == "outside":
            body.insert(len(body) // 2, dns.rrset.from_text("x.example.org.", 300, "IN", "A", "192.0.2.9"))
        stream = [soa] + body + [soa]
        out = []
        per = 2 if self.mode == "unsigned100" else 8
        for i in range(0, len(stream), per):
            m = dns.message.Message(id=qid)
            m.flags = dns.flags.QR | dns.flags.AA
            if i == 0:
                m.question.append(dns.rrset.RRset(dns.name.from_text(ORIGIN), dns.rdataclass.IN,
                                                  dns.rdatatype.AXFR))
            m.answer.extend(stream[i:i + per])
            out.append(m.to_wire())
        return out[:len(out) // 2] if self.mode == "cut" else out

    def _signed(self, msgs, request_mac):
        """signed=True: TSIG with the test key on every message (RFC 8945 5.3.1), but for
        "badmac" (a middle one's MAC altered) and "unsigned100" (100 unsigned in a row)."""
        import base64
        from test_xfrin_recv import sign_stream
        secret = base64.b64decode(xfr_primaries.KEY_SECRET)
        n = len(msgs)
        if self.mode == "unsigned100":
            assert n > 102
            return sign_stream(msgs, request_mac, [i in (0, 101) or i == n - 1 for i in range(n)],
                               secret=secret)
        return sign_stream(msgs, request_mac, [True] * n, secret=secret,
                           corrupt=n // 2 if self.mode == "badmac" else None)

    def _frames(self, qid, request_mac):
        """test_xfrin_recv.Primary's make: this transfer's messages, signed if asked.  The
        secondary hangs up on a transfer it refuses (a record of another zone) while the
        rest is still being sent: Primary serves the next one."""
        msgs = self._messages(qid)
        return self._signed(msgs, request_mac) if self.signed else msgs

    def close(self):
        self._primary.close()


@pytest.mark.parametrize("signed, modes", [
    # RFC 5936 2.2 / issue 13: a transfer that fails anywhere is thrown away whole
    (False, (("cut", "closed the connection before the end"), ("outside", "outside the zone"))),
    # RFC 8945 5.3.1, read in C (zone/xfrin_recv.c): a bad MAC on a middle message, or
    # more than 99 unsigned messages in a row, refuses the whole transfer
    (True, (("badmac", "TSIG verification failed"),
            ("unsigned100", "more than 99 unsigned messages in a row"))),
])
def test_a_broken_or_badly_signed_transfer_changes_nothing(robdns_server, signed, modes):
    # the version served, its kept copy and the last transfer stay those of serial 1
    p = _ScriptedPrimary(zone_text(1, n=120), signed=signed)
    try:
        srv = secondary(robdns_server, p, key=signed, transfer_timeout=10)
        wait_serial(srv, 1)
        want = norm_image(kept_image(srv))
        first = zone_status(srv)["last_transfer"]
        p.text = zone_text(2, n=120, changed=(1, 2, 3))
        for mode, reason in modes:
            p.mode = mode
            r = srv.ctl("zone-retransfer", zone=ORIGIN)
            assert not r["ok"], r
            st = zone_status(srv)
            assert reason in st["last_error"], (mode, st)
            assert st["serial"] == 1 and st["last_transfer"] == first, st
            assert srv.query("h1.example.net.", "A").answer[0][0].address == "198.51.100.2"
            assert norm_image(kept_image(srv)) == want
        # whole again: the change comes through
        p.mode = "whole"
        assert srv.ctl("zone-retransfer", zone=ORIGIN)["ok"]
        wait_serial(srv, 2)
        assert srv.query("h1.example.net.", "A").answer[0][0].address == "198.51.100.102"
    finally:
        p.close()


@settings(max_examples=100, deadline=None)
@given(hst.tuples(*[hst.integers(0, 65535)] * 3),
       hst.sampled_from(["sip", "a.b.example.net.", "x-1.example.org.", "."]))
def test_kept_text_of_srv(numbers, target):
    # SRV (RFC 2782) is formatted by the kept copy itself too (a genzone zone has
    # thousands): dnspython reads it back to the same records
    import dns.zone
    from robdns.secondary import flush
    text = (f"$ORIGIN {ORIGIN}\n@ 300 SOA ns1 hostmaster 1 2 3 4 5\n@ 300 NS ns1\n"
            f"ns1 300 A 192.0.2.1\n_sip._tcp 300 SRV {' '.join(map(str, numbers))} {target}\n")
    img = _core.compile_zone_text(ORIGIN, text)
    lines = "".join(flush.zone_lines(img))
    assert " SRV " in lines
    assert dns.zone.from_text(lines, ORIGIN) == dns.zone.from_text(text, ORIGIN)
