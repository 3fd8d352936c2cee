"""$INCLUDE hardening: cycles refused by file identity and named as a chain, per-zone
bounds on included files and bytes, includes confined to the zone file's directory, and a
daemon reload that hits one keeps the previous zone version serving."""
import os
import time

import pytest

from robdns import _core
from robdns.config import IncludePolicy, parse
from robdns.errors import ZoneError

from serverproc import read_example_zone

O = "example.com."
SOA = "@ 60 SOA ns hostmaster 1 60 60 60 60\n@ 60 NS ns\nns 60 A 192.0.2.53\n"


def parse_file(path, policy=None):
    t0 = time.monotonic()
    recs, msgs = _core.parse_zone_file(str(path), O, include_policy=policy)
    return recs, msgs, time.monotonic() - t0


@pytest.mark.parametrize("k", [2, 3])
def test_a_file_including_itself_k_times_is_refused_at_once(tmp_path, k):
    # Before: each self-include was followed down to the depth limit of 10, so the file
    # was parsed k + k^2 + ... + k^10 times (about 88 000 times for k=3).
    z = tmp_path / "self.zone"
    z.write_text(SOA + "a 60 TXT x\n" + "$INCLUDE self.zone\n" * k)
    recs, msgs, took = parse_file(z)
    assert msgs == [f"{z}:{5 + i}: error: include cycle: self.zone -> self.zone"
                    for i in range(k)]
    assert len(recs) == 4                   # the file's own records, read once
    assert took < 1.0


def test_a_cycle_of_two_files_names_the_chain(tmp_path):
    (tmp_path / "a.zone").write_text(SOA + "$INCLUDE b.inc\n")
    (tmp_path / "b.inc").write_text("b 60 A 192.0.2.2\n$INCLUDE a.zone\n")
    recs, msgs, _ = parse_file(tmp_path / "a.zone")
    assert msgs == [f"{tmp_path}/b.inc:2: error: include cycle: a.zone -> b.inc -> a.zone"]
    with pytest.raises(ZoneError) as e:
        _core.compile_zone(O, str(tmp_path / "a.zone"))
    assert e.value.messages == msgs


def test_a_cycle_is_found_by_identity_not_by_path_text(tmp_path):
    # The same file reached through a symlink and through "./" is still the same file.
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.inc").symlink_to(tmp_path / "sub" / "c.inc")
    (tmp_path / "sub" / "c.inc").write_text("c 60 A 192.0.2.3\n$INCLUDE ../link.inc\n")
    (tmp_path / "main.zone").write_text(SOA + "$INCLUDE ./sub/c.inc\n")
    _, msgs, _ = parse_file(tmp_path / "main.zone")
    assert msgs == [f"{tmp_path}/./sub/c.inc:2: error: include cycle: "
                    "./sub/c.inc -> ./sub/../link.inc"]


def test_including_one_file_twice_without_a_cycle_is_still_allowed(tmp_path):
    (tmp_path / "hosts.inc").write_text("h 60 A 192.0.2.9\n")
    (tmp_path / "main.zone").write_text(SOA + "$INCLUDE hosts.inc\n$INCLUDE hosts.inc sub\n")
    recs, msgs, _ = parse_file(tmp_path / "main.zone")
    assert msgs == [] and len(recs) == 5


def _diamond(tmp_path, k, levels):
    """level i includes level i+1 k times: k^levels includes, no cycle."""
    for i in range(levels):
        (tmp_path / f"l{i}.inc").write_text(f"$INCLUDE l{i + 1}.inc\n" * k)
    (tmp_path / f"l{levels}.inc").write_text("leaf 60 TXT leaf\n")
    (tmp_path / "main.zone").write_text(SOA + "$INCLUDE l0.inc\n")
    return tmp_path / "main.zone"


def test_the_number_of_included_files_is_bounded(tmp_path):
    # No cycle, but 4^9 = 262144 includes: the per-zone file bound stops it.
    z = _diamond(tmp_path, 4, 9)
    recs, msgs, took = parse_file(z, IncludePolicy(max_files=100))
    assert msgs[0].endswith(": error: more than 100 $INCLUDE files in the zone"), msgs
    assert msgs[0].startswith(f"{tmp_path}/l")          # FILE:LINE of the include refused
    assert took < 2.0
    # the default bound (1024) stops it too
    recs, msgs, took = parse_file(z)
    assert msgs[0].endswith(": error: more than 1024 $INCLUDE files in the zone")
    assert took < 5.0


def test_the_bytes_read_through_include_are_bounded(tmp_path):
    (tmp_path / "big.inc").write_text("".join(f"h{i} 60 A 192.0.2.1\n" for i in range(100)))
    size = os.path.getsize(tmp_path / "big.inc")
    (tmp_path / "main.zone").write_text(SOA + "$INCLUDE big.inc\n$INCLUDE big.inc x\n")
    _, msgs, _ = parse_file(tmp_path / "main.zone", IncludePolicy(max_bytes=size))
    assert msgs == [f"{tmp_path}/main.zone:5: error: more than {size} bytes read by "
                    "$INCLUDE in the zone"]
    _, msgs, _ = parse_file(tmp_path / "main.zone", IncludePolicy(max_bytes=2 * size))
    assert msgs == []


def test_dir_only_refuses_files_outside_the_zone_directory(tmp_path):
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "in.inc").write_text("i 60 A 192.0.2.1\n")
    (tmp_path / "out.inc").write_text("o 60 A 192.0.2.2\n")
    (tmp_path / "zones" / "sneaky.inc").symlink_to(tmp_path / "out.inc")
    z = tmp_path / "zones" / "main.zone"
    z.write_text(SOA + "$INCLUDE in.inc\n$INCLUDE ../out.inc\n$INCLUDE sneaky.inc\n"
                 f"$INCLUDE {tmp_path}/zones/in.inc y\n")
    _, msgs, _ = parse_file(z, IncludePolicy(dir_only=True))
    assert msgs == [f"{z}:5: error: $INCLUDE file '../out.inc' is outside the zone file's directory",
                    f"{z}:6: error: $INCLUDE file 'sneaky.inc' is outside the zone file's directory"]
    _, msgs, _ = parse_file(z)                   # the default: includes from anywhere
    assert msgs == []


def test_config_include_policy_is_validated_and_reaches_every_zone(tmp_path):
    cfg = parse("server:\n  include_policy: {dir_only: true, max_files: 8, max_bytes: 4096}\n"
                "zones:\n  - {name: a.test., file: a.zone}\n", str(tmp_path / "c.yaml"))
    assert cfg.zones[0].include_policy == IncludePolicy(True, 8, 4096)
    assert parse("zones: []\n").zones == ()
    with pytest.raises(Exception) as e:
        parse("server:\n  include_policy: {dir_only: 1, max_files: 0, files: 3}\n")
    text = str(e.value)
    assert "server.include_policy.files: unknown key" in text
    assert "server.include_policy.dir_only: expected true or false" in text
    assert "server.include_policy.max_files: 0 out of range" in text


def test_reload_hitting_an_include_cycle_keeps_the_previous_version(robdns_server):
    serial = 2026112701
    srv = robdns_server()
    path = srv.zone_files["example.com."]
    name = os.path.basename(path)
    srv.write_zone("example.com.", read_example_zone().replace(str(serial), str(serial + 1))
                   + f"$INCLUDE {name}\n$INCLUDE {name}\n")
    t0 = time.monotonic()
    resp = srv.reload()
    assert time.monotonic() - t0 < 10
    assert resp["ok"] is False
    assert srv.serial("example.com.") == serial
    (z,) = srv.ctl("zone-status", zone="example.com.")["zones"]
    assert z["state"] == "failed" and z["serial"] == serial
    assert any(m.startswith(f"{path}:") and f"include cycle: {name} -> {name}" in m
               for m in z["errors"]), z["errors"]
