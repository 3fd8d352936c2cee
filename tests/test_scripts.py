"""test_scripts — the test and CI entry scripts are safe to run on a server: they stop or
kill no process and no service they did not start, and install into a prefix of the
suite's own rather than the production one."""

import os
import re
import shlex
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY_SCRIPTS = ["scripts/test.sh", "scripts/install.sh", ".ci/run"]

# Commands that act on processes or services by name, i.e. on ones the script did not
# start (the reference servers are started and stopped by tests/refservers.py, by pid).
FORBIDDEN = {"systemctl", "pkill", "killall", "service", "invoke-rc.d", "deb-systemd-invoke",
             "start-stop-daemon"}


def _code_words(path):
    """The shell words of a script with its comments removed, line by line."""
    with open(os.path.join(ROOT, path)) as f:
        for number, line in enumerate(f, 1):
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.commenters = "#"
            lexer.whitespace_split = True
            try:
                words = list(lexer)
            except ValueError:          # a quote continued on the next line: check the raw text
                words = line.split()
            yield number, words


@pytest.mark.parametrize("path", ENTRY_SCRIPTS)
def test_scripts_stop_no_service_and_kill_no_process(path):
    found = []
    for number, words in _code_words(path):
        for word in words:
            if os.path.basename(word) in FORBIDDEN:
                found.append(f"{path}:{number}: {word}")
    assert not found, "the suite must only stop what it started:\n" + "\n".join(found)


def test_the_checker_sees_what_it_forbids(tmp_path):
    # The scan is of code, not comments: prove it catches each form it must.
    lines = ["systemctl stop knot >/dev/null 2>&1 || true", "  pkill -x nsd", "x && killall knotd",
             "/usr/bin/pkill nsd", "for s in a; do service $s stop; done"]
    script = tmp_path / "bad.sh"
    script.write_text("# pkill in a comment is fine\n" + "\n".join(lines) + "\n")
    rel = os.path.relpath(script, ROOT)
    hits = [n for n, words in _code_words(rel) if any(os.path.basename(w) in FORBIDDEN for w in words)]
    assert hits == [2, 3, 4, 5, 6]


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert re.search(r"^sh scripts/test\.sh\s+#", readme, re.M), "README lost its test command"
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = [w for _, w in _code_words(".ci/run") if w]
    assert ["exec", "sh", "scripts/test.sh"] in ci


def test_suite_prefix_is_its_own_and_git_ignored():
    with open(os.path.join(ROOT, "scripts", "test.sh")) as f:
        text = f.read()
    m = re.search(r'^PREFIX=\$\{ROBDNS_TEST_PREFIX:-(.+)\}$', text, re.M)
    assert m and m.group(1) == "$PWD/.venv", "the suite's default prefix is .venv in the checkout"
    assert re.search(r'^ROBDNS_PREFIX="\$PREFIX" ROBDNS_BINDIR="" .*sh scripts/install\.sh$', text, re.M), (
        "install.sh gets the suite's prefix, and no link in /usr/local/bin")
    with open(os.path.join(ROOT, ".gitignore")) as f:
        assert ".venv/" in f.read().split()


def test_suite_refuses_the_production_prefix(tmp_path):
    # The refusal comes before anything is installed.  PATH holds only dirname (the script
    # finds its checkout with it), so a script without the check fails at once too,
    # instead of installing and running the suite inside this one.
    prefix = tmp_path / "prod"
    prefix.mkdir()
    nobin = tmp_path / "bin"
    nobin.mkdir()
    os.symlink(shutil.which("dirname"), nobin / "dirname")
    env = {"PATH": str(nobin), "ROBDNS_TEST_PREFIX": str(prefix), "ROBDNS_PREFIX": str(prefix)}
    r = subprocess.run([shutil.which("sh"), "scripts/test.sh"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "production prefix" in r.stderr, r.stdout + r.stderr
    assert list(prefix.iterdir()) == []
