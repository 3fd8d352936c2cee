"""NSEC3 iterations (RFC 9276): check-zone warns above 0 (section 3.1), zones above the
configured cap (default 50, as BIND 9.20) are refused at load with FILE:LINE, and a reload
that meets one keeps the previous version serving.  Zones are signed in the test."""
import os
import subprocess
import sys

import pytest

import dnssec_zones
from robdns import _core
from robdns.config import parse
from robdns.errors import ZoneError

from serverproc import ROOT

CAP = 50


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """iterations -> signed zone path (dnssec-signzone, NSEC3 with a salt)."""
    out = {}
    for it in (0, 1, CAP, CAP + 1):
        z = dnssec_zones.sign_zone(str(tmp_path_factory.mktemp(f"it{it}")), "nsec3",
                                   iterations=it)
        out[it] = z.path
    return out


def _param_line(path):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if "NSEC3PARAM" in line and "RRSIG" not in line:
                return n
    raise AssertionError("no NSEC3PARAM")


def check_zone(path, *extra):
    return subprocess.run([sys.executable, "-m", "robdns", "check-zone", *extra,
                           dnssec_zones.ORIGIN, path], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def nsec3_messages(msgs):
    return [m for m in msgs if "NSEC3" in m]


def test_zero_iterations_load_without_a_word(signed):
    img = _core.compile_zone(dnssec_zones.ORIGIN, signed[0])
    assert nsec3_messages(img.warnings) == []
    r = check_zone(signed[0])
    assert r.returncode == 0 and "NSEC3" not in r.stdout, r.stdout


@pytest.mark.parametrize("it", [1, CAP])
def test_iterations_up_to_the_cap_load_with_a_warning(signed, it):
    path = signed[it]
    want = [f"{path}:{_param_line(path)}: warning: NSEC3 iterations {it}: "
            "RFC 9276 3.1 says zones SHOULD use 0"]
    img = _core.compile_zone(dnssec_zones.ORIGIN, path)
    assert nsec3_messages(img.warnings) == want
    r = check_zone(path)
    assert r.returncode == 0 and nsec3_messages(r.stdout.splitlines()) == want, r.stdout


def test_above_the_cap_the_zone_is_refused(signed):
    path = signed[CAP + 1]
    with pytest.raises(ZoneError) as e:
        _core.compile_zone(dnssec_zones.ORIGIN, path)
    (msg,) = e.value.messages
    # The first NSEC3-family record of the file (dnssec-signzone writes NSEC3PARAM at the
    # apex, before the chain) is the one named (FILE:LINE: reason).
    assert msg == (f"{path}:{_param_line(path)}: error: NSEC3PARAM iterations {CAP + 1} "
                   f"above the limit of {CAP} (RFC 9276 3.2; server.nsec3_max_iterations)")
    r = check_zone(path)
    assert r.returncode == 1 and msg in r.stdout and "not loaded" in r.stdout
    # the cap is configurable: raised by one, the zone loads
    _core.compile_zone(dnssec_zones.ORIGIN, path, nsec3_max_iterations=CAP + 1)
    assert check_zone(path, "--nsec3-max-iterations", str(CAP + 1)).returncode == 0
    # lowered to 0, even one iteration is refused
    with pytest.raises(ZoneError):
        _core.compile_zone(dnssec_zones.ORIGIN, signed[1], nsec3_max_iterations=0)


def test_config_key_is_validated_and_reaches_the_zones():
    cfg = parse("server: {nsec3_max_iterations: 0}\nzones: [{name: a.test., file: a.zone}]\n")
    assert cfg.zones[0].nsec3_max_iterations == 0
    cfg = parse("zones: [{name: a.test., file: a.zone}]\n")
    assert cfg.zones[0].nsec3_max_iterations == CAP
    with pytest.raises(Exception) as e:
        parse("server: {nsec3_max_iterations: 2501}\n")
    assert "server.nsec3_max_iterations: 2501 out of range 0..2500" in str(e.value)


def test_reload_meeting_too_many_iterations_keeps_the_previous_version(robdns_server,
                                                                       tmp_path):
    o = dnssec_zones.ORIGIN
    good = dnssec_zones.sign_zone(str(tmp_path / "good"), "nsec3", iterations=0)
    bad = dnssec_zones.sign_zone(str(tmp_path / "bad"), "nsec3", iterations=CAP + 1,
                                 text=dnssec_zones.ZONE_TEXT.replace("2024010101", "2024010102"))
    with open(good.path) as f:
        srv = robdns_server({o: f.read()})
    assert srv.serial(o) == 2024010101
    with open(bad.path) as f:
        srv.write_zone(o, f.read())
    resp = srv.reload()
    assert resp["ok"] is False
    assert srv.serial(o) == 2024010101
    (z,) = srv.ctl("zone-status", zone=o)["zones"]
    assert z["state"] == "failed"
    assert any(f"iterations {CAP + 1} above the limit of {CAP}" in m for m in z["errors"]), z
