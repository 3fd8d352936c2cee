"""test_docker — the Dockerfile (docker cannot build here): two stages, a non-root runtime
user, DNS ports exposed, and the configuration it ships is valid."""

import os
import re
import shutil
import subprocess
import sys

from robdns import config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _instructions():
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    text = re.sub(r"\\\n", " ", text)             # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages():
    stages = []
    for word, rest in _instructions():
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
            assert m, rest
            stages.append({"image": m.group(1), "name": m.group(2), "steps": []})
        else:
            assert stages, f"{word} before FROM"
            stages[-1]["steps"].append((word, rest))
    return stages


def test_multi_stage_build_copies_only_the_build_output():
    stages = _stages()
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    assert build["name"] and runtime["name"]
    copies = [rest for word, rest in runtime["steps"] if word == "COPY"]
    assert any(rest.startswith(f"--from={build['name']} ") for rest in copies)
    # The compiler stays in the build stage.
    runs = " ".join(rest for word, rest in runtime["steps"] if word == "RUN")
    assert "gcc" not in runs and "python3-dev" not in runs


def test_runtime_runs_as_a_non_root_user_and_exposes_dns():
    runtime = _stages()[-1]
    users = [rest for word, rest in runtime["steps"] if word == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    exposed = " ".join(rest for word, rest in runtime["steps"] if word == "EXPOSE").split()
    assert "53/udp" in exposed and "53/tcp" in exposed
    runs = " ".join(rest for word, rest in runtime["steps"] if word == "RUN")
    assert "useradd" in runs and users[-1] in runs


def test_shipped_config_is_valid_with_its_zone(tmp_path):
    # Lay the files out as the Dockerfile does under /etc/robdns and check them.
    shutil.copy(os.path.join(ROOT, "dist", "robdns.yaml"), tmp_path / "robdns.yaml")
    runtime = _stages()[-1]
    for word, rest in runtime["steps"]:
        if word == "COPY" and rest.endswith(".zone"):
            src, dst = rest.split()
            target = tmp_path / os.path.relpath(dst, "/etc/robdns")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(os.path.join(ROOT, src), target)
    cfg = config.load(str(tmp_path / "robdns.yaml"))
    assert {a.port for a in cfg.listen} == {53}
    r = subprocess.run([sys.executable, "-m", "robdns", "check-config", "-c", str(tmp_path / "robdns.yaml")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_example_config_documents_every_key(tmp_path):
    # Uncommenting every "# key: value" line of dist/robdns.yaml gives a valid file that
    # uses every key the schema knows (xdp aside: its parser checks the build has AF_XDP).
    import yaml
    lines = []
    for line in open(os.path.join(ROOT, "dist", "robdns.yaml")):
        m = re.match(r"^(\s*)# (\w+:.*)$", line)
        lines.append(m.group(1) + m.group(2) + "\n" if m and not line.startswith("# xdp") and not line.startswith("#  ") else line)
    doc = yaml.safe_load("".join(lines))
    assert set(doc) >= {"server", "zones", "log"}
    assert set(doc["server"]) == set(config.SERVER_KEYS)
    assert set(doc["server"]["tcp"]) == set(config.TCP_KEYS)
    assert set(doc["zones"][0]) == set(config.ZONE_KEYS)
    assert set(doc["log"]) == set(config.LOG_KEYS)
    cfg = config.parse("".join(lines), str(tmp_path / "robdns.yaml"))
    assert cfg.identity and cfg.version and cfg.nsid and cfg.user
