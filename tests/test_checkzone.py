"""test_checkzone — `robdns check-zone`: messages, summary, exit codes, -o image output."""

import os
import subprocess
import sys

from robdns import _core
from robdns.cli import main

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EXAMPLE = os.path.join(ROOT, "robdns", "data", "example.com.zone")
SEMANTIC = os.path.join(ROOT, "tests", "zones", "semantic")


def test_bundled_zone_loads(capsys):
    assert main(["check-zone", "example.com.", EXAMPLE]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith("zone example.com./IN: loaded serial 2026112701, 27 records (")


def test_origin_without_trailing_dot(capsys):
    assert main(["check-zone", "example.com", EXAMPLE]) == 0
    assert "zone example.com./IN: loaded serial 2026112701" in capsys.readouterr().out


def test_errors_exit_1_with_every_message(capsys):
    path = os.path.join(SEMANTIC, "cname_and_other.zone")
    assert main(["check-zone", "example.", path]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:6: error: www.example.: CNAME and other data",
        "zone example./IN: not loaded due to 1 error",
    ]


def test_warnings_still_exit_0(capsys):
    path = os.path.join(SEMANTIC, "ttl_mismatch.zone")
    assert main(["check-zone", "example.", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}:6: warning: a.example. A: TTL 200 differs")
    assert out[1].startswith("zone example./IN: loaded serial 1, 4 records")


def test_quiet_prints_only_problems(capsys):
    assert main(["check-zone", "-q", "example.com.", EXAMPLE]) == 0
    assert capsys.readouterr().out == ""
    assert main(["check-zone", "-q", "example.", os.path.join(SEMANTIC, "ttl_mismatch.zone")]) == 0
    assert ": warning: " in capsys.readouterr().out


def test_missing_file(capsys, tmp_path):
    assert main(["check-zone", "example.", str(tmp_path / "nope.zone")]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'nope.zone'}: error: " in out and "not loaded" in out


def test_output_writes_a_loadable_image(tmp_path, capsys):
    img_path = tmp_path / "example.zimg"
    assert main(["check-zone", "-o", str(img_path), "example.com.", EXAMPLE]) == 0
    img = _core.ZoneImage.load(str(img_path))
    assert img.serial == 2026112701
    assert _core.image_to_bytes(img) == _core.image_to_bytes(_core.compile_zone("example.com.", EXAMPLE))


def test_command_line_exit_status():
    r = subprocess.run([sys.executable, "-m", "robdns", "check-zone", "example.",
                        os.path.join(SEMANTIC, "missing_glue.zone")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1
    assert ":5: error: sub.example. NS ns.sub.example.: missing glue" in r.stdout
