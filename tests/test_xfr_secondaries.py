# test_xfr_secondaries.py — Knot, NSD and BIND 9 as secondaries of a running robdns, with TSIG: the first transfer (AXFR), a change pushed by NOTIFY and fetched by IXFR, and each secondary's copy equal to robdns's.
import re
import time

import dns.name
import dns.query
import dns.tsig
import pytest

from refservers import available
from xfr_secondaries import BINARIES, full_log, serial, start_secondary
from xfr_support import SECRET_B64, keyring, records_of, zone_text

KEY = ("xfr.key.", "hmac-sha256", SECRET_B64)
N = 2000


def transfer(host, port):
    """The zone as a full AXFR with the key gives it, as a set of records."""
    msgs = dns.query.xfr(host, "example.com.", port=port, keyring=keyring(), keyname="xfr.key.",
                         timeout=10, lifetime=60, relativize=False)
    recs = records_of(list(msgs))
    assert recs[0] == recs[-1]
    return set(recs)


def wait_serial(sec, want, timeout=60):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = serial(sec, "example.com.")
        if got == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"{sec.name} at serial {got}, not {want}, after {timeout} s:\n{full_log(sec)[-3000:]}")


@pytest.mark.parametrize("kind", ["knot", "nsd", "bind"])
def test_secondary_follows_robdns(robdns_server, kind):
    if not available(BINARIES[kind]):
        pytest.fail(f"{BINARIES[kind]} missing: scripts/test.sh installs knot, nsd and bind9")
    v1 = zone_text(1, n=N)
    srv = robdns_server({"example.com.": v1}, families=(4,), start=False,
                        server={"xfr": {"journal_dir": "journal"}})
    srv.config["keys"] = [{"name": KEY[0], "algorithm": KEY[1], "secret": KEY[2]}]
    srv.config["zones"][0]["allow_transfer"] = [{"address": "127.0.0.0/8", "key": "xfr.key."}]
    srv.write_config()
    srv.start()
    sec = start_secondary(kind, "example.com.", ("127.0.0.1", srv.port), KEY)
    try:
        # the first transfer (the secondary had nothing: AXFR)
        assert serial(sec, "example.com.") == 1
        assert transfer("127.0.0.1", sec.port) == transfer("127.0.0.1", srv.port)
        # a change of a few records, announced by NOTIFY (signed) to the secondary
        v2 = zone_text(2, n=N, extra="added IN A 192.0.2.99\n").replace(
            "host-000010-with", "moved-000010-with").replace('"hello world"', '"changed"')
        srv.config["zones"][0]["notify"] = [{"address": f"127.0.0.1@{sec.port}", "key": "xfr.key."}]
        srv.write_config()
        time.sleep(0.06)
        srv.write_zone("example.com.", v2)
        assert srv.reload()["ok"]
        wait_serial(sec, 2)
        # the secondary fetched the difference: Knot names IXFR in its log; NSD 4.6 and
        # BIND 9.18 (at level info) log only the size of each incoming transfer, the first
        # of which held the whole zone -- and robdns logged an IXFR served from the journal
        log = full_log(sec)
        if kind == "knot":
            assert "IXFR, incoming" in log, log[-3000:]
        else:
            pattern = {"nsd": r"received update to serial \d+ .* of (\d+) bytes",
                       "bind": r"Transfer completed: \d+ messages, (\d+) records"}[kind]
            sizes = [int(m) for m in re.findall(pattern, log)]
            assert len(sizes) == 2 and sizes[1] * 50 < sizes[0], log[-3000:]
        time.sleep(0.7)
        assert "IXFR, " in srv.log_text() and "serial 2 to 127.0.0.1" in srv.log_text()
        assert transfer("127.0.0.1", sec.port) == transfer("127.0.0.1", srv.port)
        (z,) = srv.ctl("zone-status")["zones"]
        assert z["transfers"]["served"] >= 2
        assert any(n["state"] == "acked" for n in z["notify"].values())
    finally:
        sec.stop()
