"""test_xdp_caps — the capabilities the systemd drop-in dist/robdns.service.d/xdp.conf grants
are enough to start the AF_XDP path as an unprivileged user, each of them is needed, and
once started robdns holds none (packet threads and the dnstap writer included) yet still
detaches the program at stop.  The child process takes the unit's place: root, then
setuid to nobody keeping exactly those capabilities, as systemd's User= with
AmbientCapabilities= leaves it."""

import configparser
import os
import shutil
import subprocess
import sys

import dns.message
import pytest

from netns import ZONE, is_root, pair  # noqa: F401 (pair: fixture)
from robdns import _core, xdp

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not is_root(), reason="needs root: network namespaces and XDP attach"),
    pytest.mark.skipif(not _core.xdp_supported(), reason="built without libxdp/libbpf"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DROP_IN = os.path.join(ROOT, "dist", "robdns.service.d", "xdp.conf")
CAP_NUMBERS = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_PERFMON": 38,
               "CAP_BPF": 39}

# Drops to nobody with exactly the capabilities given (PR_SET_KEEPCAPS, setuid, capset),
# starts the XDP path, reports, lets the daemon's capability drop run, then stops.
CHILD = r"""
import ctypes, os, pwd, shutil, sys, tempfile, time
from robdns import _core, privileges, xdp
ifname, mask, program, zone = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
db = _core.Database([_core.compile_zone_text("example.com.", zone)])   # as root: imports
with open(program, "rb") as f:
    obj = f.read()
libc = ctypes.CDLL(None, use_errno=True)
nobody = pwd.getpwnam("nobody")
tap_dir = tempfile.mkdtemp(prefix="robdns-caps-")         # for the dnstap file of nobody
os.chown(tap_dir, nobody.pw_uid, nobody.pw_gid)
assert libc.prctl(8, 1, 0, 0, 0) == 0                     # PR_SET_KEEPCAPS
os.setgroups([]); os.setgid(nobody.pw_gid); os.setuid(nobody.pw_uid)
lo, hi = mask & 0xFFFFFFFF, mask >> 32
caps = (ctypes.c_uint32 * 6)(lo, lo, lo, hi, hi, hi)
assert libc.capset((ctypes.c_uint32 * 2)(0x20080522, 0), caps) == 0, ctypes.get_errno()
# dnstap's writer thread starts here too, before the drop, as in the daemon.
tap = _core.Dnstap(os.path.join(tap_dir, "t.tap"), False, 8, ring_bytes=65536)
try:
    w = xdp.start_xdp_workers(xdp.parse_xdp_config({"interface": ifname}), db, program=obj,
                              dnstap=tap)
except xdp.XdpError as e:
    print("refused", e, flush=True)
    tap.stop()
    shutil.rmtree(tap_dir)
    sys.exit(3)
privileges.drop_capabilities()
def caps_of(status_path):
    with open(status_path) as f:
        st = dict(line.split(":", 1) for line in f)
    return st["Name"].strip(), [int(st[k], 16) for k in ("CapEff", "CapPrm", "CapAmb")]
# A worker drops its capabilities first thing, before its packet loop, but it may not
# have been scheduled yet when start returns: give it a moment.
deadline = time.monotonic() + 3
while True:
    threads = [caps_of(f"/proc/self/task/{t}/status") for t in os.listdir("/proc/self/task")]
    if all(c == [0, 0, 0] for _, c in threads) or time.monotonic() > deadline:
        break
    time.sleep(0.01)
print("started", threads, flush=True)
sys.stdin.readline()
w.stop()
tap.stop()
shutil.rmtree(tap_dir)
print("stopped", flush=True)
"""


def drop_in_capabilities():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(DROP_IN)
    ambient = cp["Service"]["AmbientCapabilities"].split()
    assert cp["Service"]["CapabilityBoundingSet"].split() == ambient
    return ambient


@pytest.fixture(scope="module")
def program_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("xdpcaps") / "xdp_dns.bpf.o"   # read while still root
    path.write_bytes(xdp.load_xdp_program())
    return str(path)


def run_child(pair, names, program_file):
    mask = sum(1 << CAP_NUMBERS[n] for n in names)
    return subprocess.Popen(["ip", "netns", "exec", pair.server_ns, sys.executable, "-c", CHILD,
                             pair.server_if, str(mask), program_file, ZONE],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_the_drop_in_grants_enough_and_nothing_is_kept_after_start(pair, program_file):
    names = drop_in_capabilities()
    assert set(names) <= set(CAP_NUMBERS), names
    proc = run_child(pair, names, program_file)
    try:
        line = proc.stdout.readline()
        assert line.startswith("started"), line + proc.stderr.read()
        threads = eval(line[len("started"):])      # [(name, [eff, prm, amb]), ...]
        assert any(name.startswith("robdns-xdp") for name, _ in threads), threads
        assert any(name == "robdns-dnstap" for name, _ in threads), threads
        for name, caps in threads:
            assert caps == [0, 0, 0], (name, caps)
        wire = dns.message.make_query("www.example.com.", "A").to_wire()
        assert pair.exchange(wire) is not None
        assert pair.attached_program()[1] == "rd_xdp_dns"
        out, err = proc.communicate("\n", timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and out.strip() == "stopped", out + err
    # Detached with no capability left: closing the BPF link needs none.
    assert pair.attached_program() == (0, "")


def test_each_capability_of_the_drop_in_is_needed(pair, program_file):
    names = drop_in_capabilities()
    for missing in names:
        proc = run_child(pair, [n for n in names if n != missing], program_file)
        out, err = proc.communicate("\n", timeout=30)
        assert proc.returncode == 3 and out.startswith("refused"), (missing, out, err)
        assert pair.attached_program() == (0, "")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_unit_with_the_drop_in_passes_systemd_analyze_verify(tmp_path):
    exe = "/usr/local/bin/robdns"
    with open(os.path.join(ROOT, "dist", "robdns.service")) as f:
        text = f.read()
    if not os.access(exe, os.X_OK):
        stand_in = tmp_path / "robdns"                 # verify wants ExecStart to exist
        stand_in.write_text("#!/bin/sh\nexit 0\n")
        stand_in.chmod(0o755)
        text = text.replace(exe, str(stand_in))
    (tmp_path / "robdns.service").write_text(text)
    (tmp_path / "robdns.service.d").mkdir()
    shutil.copy(DROP_IN, tmp_path / "robdns.service.d" / "xdp.conf")
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{tmp_path}:")
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "robdns.service")],
                       capture_output=True, text=True, timeout=60, env=env)
    ours = [line for line in (r.stdout + r.stderr).splitlines()
            if "robdns" in line or "xdp.conf" in line]
    assert not ours, ours
