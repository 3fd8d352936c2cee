# test_fuzz_engine.py — the engine under sanitizers: a bounded libFuzzer run of rd_answer
# (clang -fsanitize=fuzzer,address,undefined) and the engine and TCP-loop tests against an
# AddressSanitizer build of the extension (ROBDNS_SANITIZE=address).
import os
import shutil
import subprocess
import sys

import dns.message
import pytest

from fuzz import libfuzzer
from engine_support import raw_zone
from test_engine_semantics import CHILD, PARENT
from test_engine_rfc4592 import EXTRA_ZONE, RFC4592_ZONE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def engine_sources():
    # The engine, the zone images and the shared helpers (rd_*: names, SHA-1 for NSEC3);
    # not the transports, whose libraries the harness does not need.
    return libfuzzer.csrc("lib", "zone", "query")


def seed_queries():
    names = ["example.com", "www.example.com", "c1.example.com", "x.dn2.example.com",
             "host.sub.example.com", "child.example.com", "host3.example", "q.cn.w.test",
             "_telnet._tcp.host1.example", "version.bind", "WwW.ExAmPlE.CoM", "nx.example.org"]
    out = []
    for i, n in enumerate(names):
        for t in ["A", "MX", "ANY", "DS", "TXT", "AXFR"]:
            kw = {} if i % 2 else dict(use_edns=0, payload=4096, want_dnssec=True)
            rdclass = "CH" if n == "version.bind" else "IN"
            out.append(dns.message.make_query(n, t, rdclass, **kw).to_wire())
    return out


@pytest.fixture(scope="module")
def zone_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-zones")
    paths = []
    for origin, text in [("example.com.", PARENT), ("child.example.com.", CHILD),
                         ("example.", RFC4592_ZONE), ("w.test.", EXTRA_ZONE)]:
        p = d / (origin + "zimg")
        raw_zone(origin, text).save(str(p))
        paths.append(str(p))
    return paths


@pytest.mark.skipif(not libfuzzer.have_clang(), reason=libfuzzer.NO_CLANG)
def test_libfuzzer_rd_answer(tmp_path, zone_files):
    exe = libfuzzer.build("fuzz_answer.c", engine_sources(), tmp_path / "fuzz_answer")
    corpus = libfuzzer.write_corpus(tmp_path / "corpus", seed_queries())
    runs = libfuzzer.run(exe, corpus, tmp_path, max_len=1024,
                         env={"ROBDNS_FUZZ_ZONES": ":".join(zone_files)})
    assert runs > 1000


def asan_runtime():
    try:
        out = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out if os.path.isabs(out) and os.path.exists(out) else None


# ASan reports in code the engine does not own that are known, filed and open: (file,
# function) of the reporting frame.  Each entry names its note; delete it with the fix.
KNOWN_FOREIGN_REPORTS: set = set()   # none open (zimg_build's addl pad overflow: fixed)


def asan_reports(log_dir):
    """Every AddressSanitizer report written under log_dir, as (text, frames) where frames
    is a list of (function, file) of the first stack."""
    out = []
    for name in sorted(os.listdir(log_dir)):
        text = open(os.path.join(log_dir, name), errors="replace").read()
        for rep in text.split("==ERROR: AddressSanitizer")[1:]:
            frames = []
            for line in rep.splitlines():
                line = line.strip()
                if line.startswith("#") and " in " in line:
                    parts = line.split(" in ", 1)[1].split()
                    frames.append((parts[0], parts[1] if len(parts) > 1 else ""))
                elif frames and not line:
                    break
            out.append((rep[:2500], frames))
    return out


def is_known_foreign(frames):
    for func, where in frames[:4]:
        for f, fn in KNOWN_FOREIGN_REPORTS:
            if func == fn and f in where:
                return True
    return False


@pytest.mark.skipif(asan_runtime() is None, reason="gcc's libasan is not installed")
def test_engine_suite_under_address_sanitizer(tmp_path):
    # A copy of the source tree, built with ROBDNS_SANITIZE=address (and recoverable
    # reports), runs the engine tests with libasan preloaded (Python itself is not
    # instrumented).  Every report fails the test, except the known ones in other
    # components listed above.
    work = tmp_path / "asan"
    work.mkdir()
    for item in ["setup.py", "pyproject.toml", "README.md", "cython_ext", "robdns", "bpf"]:
        src = os.path.join(ROOT, item)
        if os.path.isdir(src):
            shutil.copytree(src, work / item, ignore=shutil.ignore_patterns("*.so", "*.c.o", "build"))
        else:
            shutil.copy(src, work / item)
    (work / "tests").mkdir()
    # test_tcp runs `robdns serve` subprocesses (they inherit LD_PRELOAD): the C TCP loop
    # under every bad-input client it has.
    for f in ["engine_support.py", "test_engine_wire.py", "test_engine_semantics.py",
              "test_engine_rfc4592.py", "test_engine_fuzz.py", "test_rrl.py",
              "xfr_support.py", "test_tsig.py", "test_xfr.py",
              "conftest.py", "serverproc.py", "test_tcp.py"]:
        shutil.copy(os.path.join(ROOT, "tests", f), work / "tests" / f)
    # The engine tests drive the engine through the test hooks: build them in.
    env = dict(os.environ, ROBDNS_SANITIZE="address", CFLAGS="-fsanitize-recover=address",
               ROBDNS_TEST_HOOKS="1")
    env.pop("LD_PRELOAD", None)
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-j", "2", "-q"],
                   cwd=work, env=env, check=True, capture_output=True, timeout=900)
    logs = tmp_path / "asan-logs"
    logs.mkdir()
    env = dict(os.environ, LD_PRELOAD=asan_runtime(), PYTHONPATH=str(work),
               ASAN_OPTIONS=f"detect_leaks=0:halt_on_error=0:verify_asan_link_order=0:"
                            f"log_path={logs}/asan")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                        "tests"], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    reports = asan_reports(logs)
    unknown = [text for text, frames in reports if not is_known_foreign(frames)]
    assert not unknown, unknown[0]
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert " passed" in r.stdout
    if reports:
        import warnings
        warnings.warn(f"{len(reports)} known AddressSanitizer report(s) in other components "
                      f"(see KNOWN_FOREIGN_REPORTS)")
