"""Tests of the AF_XDP path that need no root: the `xdp` config section, the BPF program
built with the package, and the build without libxdp/libbpf."""

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

from robdns import xdp
from robdns.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bpf"))
import bpf_build  # noqa: E402  (bpf/bpf_build.py: what setup.py compiles the program with)

CSRC = os.path.join(ROOT, "cython_ext", "csrc")


def test_defaults():
    cfg = xdp.parse_xdp_config({"interface": "eth0"}, check_support=False)
    assert cfg == xdp.XdpConfig("eth0", 53, "auto", "auto", "auto")


def test_all_keys():
    cfg = xdp.parse_xdp_config({"interface": "ens1f0", "port": 5353, "queues": 4,
                                "mode": "native", "zero_copy": "off"}, check_support=False)
    assert (cfg.interface, cfg.port, cfg.queues, cfg.mode, cfg.zero_copy) == \
        ("ens1f0", 5353, 4, "native", "off")


def test_yaml_booleans_for_zero_copy():
    # YAML 1.1 (PyYAML) reads a bare on/off as a boolean: accept what the operator meant.
    assert xdp.parse_xdp_config({"interface": "e", "zero_copy": True}, check_support=False).zero_copy == "on"
    assert xdp.parse_xdp_config({"interface": "e", "zero_copy": False}, check_support=False).zero_copy == "off"


@pytest.mark.parametrize("section, message", [
    ("eth0", "xdp: must be a mapping"),
    ({}, "xdp.interface: missing"),
    ({"interface": ""}, "xdp.interface: must be an interface name"),
    ({"interface": "a" * 16}, "xdp.interface: must be an interface name"),
    ({"interface": "a/b"}, "xdp.interface: must be an interface name"),
    ({"interface": 7}, "xdp.interface: must be an interface name"),
    ({"interface": "e", "port": 0}, "xdp.port: must be an integer 1..65535"),
    ({"interface": "e", "port": 65536}, "xdp.port: must be an integer 1..65535"),
    ({"interface": "e", "port": "53"}, "xdp.port: must be an integer"),
    ({"interface": "e", "port": True}, "xdp.port: must be an integer"),
    ({"interface": "e", "queues": 0}, "xdp.queues: must be 'auto' or an integer 1..256"),
    ({"interface": "e", "queues": 257}, "xdp.queues: must be 'auto' or an integer"),
    ({"interface": "e", "queues": "all"}, "xdp.queues: must be 'auto'"),
    ({"interface": "e", "mode": "offload"}, "xdp.mode: must be one of auto, native, generic"),
    ({"interface": "e", "zero_copy": "maybe"}, "xdp.zero_copy: must be one of auto, on, off"),
    ({"interface": "e", "listen": "x"}, "xdp.listen: unknown key"),
])
def test_errors_name_the_key(section, message):
    with pytest.raises(ConfigError) as e:
        xdp.parse_xdp_config(section, check_support=False)
    assert str(e.value).startswith(message), str(e.value)


def test_error_path_prefix_is_the_callers():
    with pytest.raises(ConfigError, match=r"^server\.xdp\.port: "):
        xdp.parse_xdp_config({"interface": "e", "port": -1}, path="server.xdp",
                             check_support=False)


def test_build_without_xdp_support_is_a_clear_config_error(monkeypatch):
    monkeypatch.setattr(xdp, "xdp_supported", lambda: False)
    with pytest.raises(ConfigError) as e:
        xdp.parse_xdp_config({"interface": "eth0"})
    assert "built without AF_XDP support" in str(e.value)
    assert "libxdp-dev libbpf-dev" in str(e.value)


def test_this_build_has_xdp_where_headers_exist():
    from robdns import _core
    assert _core.xdp_supported() == os.path.exists("/usr/include/xdp/xsk.h")


def test_the_package_carries_the_bpf_program_with_its_map():
    # Built from bpf/xdp_dns.bpf.c with the extension: the daemon only reads it.
    assert xdp.PROGRAM_OBJECT.endswith(os.path.join("robdns", "data", "xdp_dns.bpf.o"))
    assert os.path.getmtime(xdp.PROGRAM_OBJECT) >= os.path.getmtime(bpf_build.SOURCE), (
        "robdns/data/xdp_dns.bpf.o is older than its source: rebuild the extension")
    obj = xdp.load_xdp_program()
    assert obj[:4] == b"\x7fELF"
    assert obj[18:20] == (247).to_bytes(2, "little")      # e_machine EM_BPF
    # section "xdp" holds the program; the queue -> socket map and the port in .rodata
    for needle in (b"rd_xdp_dns", b"rd_xsks", b".rodata", b"xdp", b"GPL"):
        assert needle in obj


def test_a_build_without_the_program_names_what_was_missing(tmp_path):
    # What a package built where clang was missing meets when the xdp mode starts.
    with pytest.raises(xdp.XdpError, match=r"built without its XDP program: clang was "
                                           r"missing at build time \(apt-get install clang"):
        xdp.load_xdp_program(str(tmp_path / "xdp_dns.bpf.o"))


def test_a_build_without_clang_leaves_no_object_and_says_so(tmp_path, monkeypatch, capsys):
    src = tmp_path / "prog.bpf.c"
    src.write_text(open(bpf_build.SOURCE).read())
    out = tmp_path / "data" / "xdp_dns.bpf.o"
    out.parent.mkdir()
    out.write_bytes(b"\x7fELF stale")
    os.utime(out, (0, 0))                      # older than the source: must not ship
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-dir"))
    assert bpf_build.build_package_object(str(out), str(src)) is False
    assert not out.exists()
    assert "clang not found" in capsys.readouterr().err
    with pytest.raises(xdp.XdpError, match="built without its XDP program"):
        xdp.load_xdp_program(str(out))


def test_the_package_build_compiles_the_object_once(tmp_path):
    out = tmp_path / "xdp_dns.bpf.o"
    assert bpf_build.build_package_object(str(out)) is True
    assert open(out, "rb").read(4) == b"\x7fELF"
    made = os.path.getmtime(out)
    assert bpf_build.build_package_object(str(out)) is True
    assert os.path.getmtime(out) == made      # up to date: not compiled again


def test_bpf_build_error_is_reported_and_leaves_no_object(tmp_path):
    bad = tmp_path / "bad.bpf.c"
    bad.write_text("int broken( {\n")
    out = tmp_path / "bad.o"
    with pytest.raises(bpf_build.BpfBuildError, match="bad.bpf.c"):
        bpf_build.compile_program(str(bad), str(out))
    assert os.listdir(tmp_path) == ["bad.bpf.c"]


@pytest.mark.parametrize("name", ["xdp_prog.c", "xdp_worker.c", "xdp_frame.c"])
def test_c_sources_build_without_libxdp(name, tmp_path):
    """Without RD_HAVE_XDP the XDP sources compile and use neither libxdp nor libbpf."""
    cc = shutil.which("gcc") or shutil.which("cc")
    py_inc = sysconfig.get_paths()["include"]
    out = tmp_path / "x.o"
    r = subprocess.run([cc, "-std=gnu11", "-Wall", "-Werror", "-I", CSRC, "-I", py_inc, "-c",
                        os.path.join(CSRC, "server", name), "-o", str(out), "-MD", "-MF",
                        str(tmp_path / "deps")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    deps = (tmp_path / "deps").read_text()
    for header in ("xdp/xsk.h", "bpf/libbpf.h", "bpf/bpf.h"):
        assert header not in deps, deps
    nm = subprocess.run(["nm", "-u", str(out)], capture_output=True, text=True, timeout=30)
    undefined = nm.stdout.split()
    assert not [s for s in undefined if s.startswith(("xsk_", "bpf_", "libbpf_"))], nm.stdout
