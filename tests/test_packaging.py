"""test_packaging — the package metadata builds without setuptools deprecation warnings,
carries the license as an SPDX expression (PEP 639) and ships the bundled data files."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What setuptools prints about a project it will stop building: its deprecation warnings
# (`project.license` as a table) and a data folder it would leave out of the wheel.
WARNING = re.compile(r"\w*Warning:|[Dd]eprecat|would be ignored")


def test_metadata_and_python_files_build_without_warnings(tmp_path):
    # egg_info and build_py are the steps of `pip install .` that read pyproject.toml and
    # lay out the package; they compile nothing, so this takes a second.
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)      # else build_py warns that it cannot compile
    r = subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "-e", str(tmp_path),
                        "build_py", "--no-compile", "-d", str(tmp_path / "lib")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    warnings = [line for line in (r.stdout + r.stderr).splitlines() if WARNING.search(line)]
    assert warnings == [], "\n".join(warnings)
    with open(tmp_path / "robdns.egg-info" / "PKG-INFO") as f:
        info = f.read()
    assert re.search(r"^License-Expression: MIT$", info, re.M), info[:2000]
    shipped = tmp_path / "lib" / "robdns"
    for name in ("py.typed", "_core.pyi", "data/example.com.zone"):
        assert (shipped / name).is_file(), name
