"""test_quickstart — the README's first command, as written: install from this checkout
(a real `pip install .` into a fresh virtualenv, not the editable build the rest of the
suite uses) and `robdns serve` with no arguments answering for the bundled zone on
127.0.0.1@5353.  The installed extension is the product: none of the test hooks."""

import json
import os
import signal
import socket
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from test_core_stub import stub_names

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_PORT = 5353


def readme_first_command():
    with open(os.path.join(ROOT, "README.md")) as f:
        for line in f:
            if line.startswith("sh scripts/install.sh"):
                return line.split("#")[0].strip()
    raise AssertionError("README.md lost its install-and-serve command")


def port_free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


LIST_MODULE = """
import inspect, json, os, robdns._core as c
data = os.path.join(os.path.dirname(c.__file__), "data")
print(json.dumps({"data": sorted(os.listdir(data)),
                  "bpf": open(os.path.join(data, "xdp_dns.bpf.o"), "rb").read(20).hex(),
                  "all": sorted(vars(c)),
                  "public": sorted(n for n, o in vars(c).items() if not n.startswith("_")
                                   and callable(o) and not inspect.ismodule(o))}))
"""


def check_product_module(python, cwd, env):
    """The installed robdns._core names exactly the product part of robdns/_core.pyi
    (what the daemon and the CLI call) and none of the test hooks."""
    r = subprocess.run([str(python), "-c", LIST_MODULE], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    names = json.loads(r.stdout)
    product, hooks, _ = stub_names()
    assert set(names["all"]) & hooks == set(), "test hooks in the installed product"
    assert set(names["public"]) == product
    # The XDP program as BPF bytecode (ELF, e_machine EM_BPF), compiled at build time.
    assert "xdp_dns.bpf.o" in names["data"], names["data"]
    elf = bytes.fromhex(names["bpf"])
    assert elf[:4] == b"\x7fELF" and elf[18:20] == (247).to_bytes(2, "little")


def test_readme_install_then_serve(tmp_path):
    # The command must stay the one this test runs.
    assert readme_first_command() == "sh scripts/install.sh && robdns serve"
    assert port_free(README_PORT), (
        f"127.0.0.1@{README_PORT} is in use: the README's default port cannot be checked")
    env = dict(os.environ, ROBDNS_PREFIX=str(tmp_path / "venv"), ROBDNS_BINDIR=str(tmp_path))
    env.pop("PYTHONPATH", None)
    # What an operator runs: no test hooks, however this suite itself was built.
    for var in ("ROBDNS_TEST_HOOKS", "ROBDNS_EXTRAS", "ROBDNS_EDITABLE"):
        env.pop(var, None)
    r = subprocess.run(["sh", "scripts/install.sh"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    robdns = tmp_path / "robdns"
    assert os.path.realpath(robdns) == str(tmp_path / "venv" / "bin" / "robdns")

    # Run from elsewhere so that the checkout's own robdns/ cannot be what is imported.
    proc = subprocess.Popen([str(robdns), "serve"], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        q = dns.message.make_query("www.example.com.", "A")
        deadline = time.monotonic() + 30
        while True:
            try:
                resp = dns.query.udp(q, "127.0.0.1", port=README_PORT, timeout=0.5)
                break
            except dns.exception.Timeout:
                assert proc.poll() is None, proc.stdout.read()[-3000:]
                assert time.monotonic() < deadline, "robdns serve never answered"
        assert resp.rcode() == dns.rcode.NOERROR
        # www is a CNAME to the apex in the bundled zone: the chain ends in its A record.
        assert [rrset.rdtype for rrset in resp.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
        tcp = dns.query.tcp(q, "127.0.0.1", port=README_PORT, timeout=5)
        assert tcp.answer == resp.answer
        # It is the installed copy that serves, not this checkout.
        where = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c",
                                "import robdns; print(robdns.__file__)"], cwd=str(tmp_path),
                               env=env, capture_output=True, text=True, timeout=60)
        assert where.stdout.startswith(str(tmp_path / "venv")), where.stdout + where.stderr
        check_product_module(tmp_path / "venv" / "bin" / "python", str(tmp_path), env)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
