"""test_docker — the Dockerfile (docker cannot build here): two stages, a non-root runtime
user, DNS ports exposed, the configuration it ships is valid, and .dockerignore keeps local
build outputs out of the build context but every tracked source in."""

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
    assert "gcc" not in runs and "python3-dev" not in runs and "clang" not in runs


def test_build_stage_compiles_the_xdp_program():
    """The XDP program ships as bytecode compiled at build time: without clang in the
    build stage the image's xdp mode could only refuse to start."""
    build = _stages()[0]
    runs = " ".join(rest for word, rest in build["steps"] if word == "RUN")
    assert re.search(r"\bclang\b", runs), runs


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
        # "# key: value", and the lines of a commented list item ("# - name: ...",
        # "#   key: value")
        m = re.match(r"^(\s*)# ((?:- |  )?\w+:.*)$", line)
        lines.append(m.group(1) + m.group(2) + "\n" if m and not line.startswith("# xdp") and not line.startswith("#  ") else line)
    doc = yaml.safe_load("".join(lines))
    assert set(doc) >= {"server", "zones", "log"}
    assert set(doc["server"]) == set(config.SERVER_KEYS)
    assert set(doc["server"]["tcp"]) == set(config.TCP_KEYS)
    assert set().union(*(set(z) for z in doc["zones"])) == set(config.ZONE_KEYS)
    assert set(doc["log"]) == set(config.LOG_KEYS)
    cfg = config.parse("".join(lines), str(tmp_path / "robdns.yaml"))
    assert cfg.identity and cfg.version and cfg.nsid and cfg.user


def _dockerignore():
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        patterns = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    # Exceptions (!PATTERN) would need the later-wins order of Docker's matcher; none are used.
    assert not any(p.startswith("!") for p in patterns)
    return [_glob_regex(p.strip("/")) for p in patterns]


def _glob_regex(pattern):
    """Docker's .dockerignore pattern (Go filepath.Match, plus ** for any number of
    directories) as a regex over a slash-separated path relative to the context."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def _ignored(path, patterns):
    # A path is left out when it or a directory above it matches.
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return any(p.match(prefix) for p in patterns for prefix in prefixes)


def test_build_context_leaves_out_local_build_outputs():
    patterns = _dockerignore()
    local = [".venv/bin/python", "build/temp.linux-x86_64-cpython-311/cython_ext/_core.o",
             "robdns/_core.cpython-311-x86_64-linux-gnu.so", "robdns/__pycache__/cli.cpython-311.pyc",
             "tests/__pycache__/conftest.cpython-311-pytest-8.0.pyc", "robdns.egg-info/PKG-INFO",
             ".hypothesis/examples/x", ".pytest_cache/v/x", "cython_ext/_core.c", ".git/HEAD",
             "cython_ext/csrc/lib/rd_common.o", "bench/out/run.json"]
    assert [p for p in local if not _ignored(p, patterns)] == []


def test_build_context_keeps_every_tracked_file():
    # What git tracks is the source the image is built from: none of it may be left out
    # (the C sources under cython_ext/csrc/ in particular, beside the ignored cython_ext/*.c).
    patterns = _dockerignore()
    r = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    tracked = r.stdout.split()
    assert "cython_ext/_core.pyx" in tracked
    assert [p for p in tracked if _ignored(p, patterns)] == []
    for word, rest in _instructions():
        if word == "COPY" and not rest.startswith("--from"):
            for src in rest.split()[:-1]:
                assert src == "." or not _ignored(src, patterns), src
