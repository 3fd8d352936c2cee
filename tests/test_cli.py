"""test_cli — the robdns command's argument parsing: a serve parses its arguments without
loading shutil (and with it bz2, lzma, zlib: ~0.7 MB of every server's memory), and help
still wraps to the terminal's width (COLUMNS, as shutil would tell it)."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, code=None, columns=None):
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "robdns"] + args
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60,
                          cwd=REPO, env=env).stdout


def test_serve_arguments_parse_without_shutil():
    out = run(None, "import sys\n"
                    "from robdns import cli\n"
                    "a = cli.build_parser().parse_args(['serve', '-c', 'x.yaml'])\n"
                    "print(a.command, a.config, *sorted(m for m in ('shutil', 'bz2', 'lzma')\n"
                    "                                  if m in sys.modules))\n")
    assert out.split() == ["serve", "x.yaml"], out


def test_help_wraps_to_the_terminal_width():
    narrow = run(["serve", "--help"], columns=60)
    assert max(len(line) for line in narrow.splitlines()) <= 60, narrow
    wide = run(["serve", "--help"], columns=200)
    # the -c help (~80 characters) on one line at 200 columns, wrapped at 60
    assert any("bundled example zone on 127.0.0.1@5353)" in line and "YAML" in line
               for line in wide.splitlines()), wide
    assert not any("bundled example zone on 127.0.0.1@5353)" in line and "YAML" in line
                   for line in narrow.splitlines()), narrow
