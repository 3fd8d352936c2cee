"""libfuzzer — build a harness in tests/fuzz/ with clang -fsanitize=fuzzer,address,undefined
and run it time-bounded over a seed corpus; shared by the engine and zone-parser fuzz tests."""
import os
import shutil
import subprocess

FUZZ_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(FUZZ_DIR))
CSRC = os.path.join(ROOT, "cython_ext", "csrc")
# Seconds each harness runs; CI may raise it, a developer may lower it.
FUZZ_SECONDS = int(os.environ.get("ROBDNS_FUZZ_SECONDS", "30"))
NO_CLANG = "clang not installed (scripts/test.sh installs it)"


def have_clang():
    return shutil.which("clang") is not None


def csrc(*layers):
    """The C core's sources of the layer folders `layers` (lib, zone, query, server)."""
    return [os.path.join(CSRC, layer, f) for layer in layers
            for f in sorted(os.listdir(os.path.join(CSRC, layer))) if f.endswith(".c")]


def build(harness, sources, exe):
    """Compile tests/fuzz/<harness> with `sources` into `exe`; compiler output on failure."""
    cmd = ["clang", "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
           "-fno-sanitize-recover=undefined", "-std=gnu11", "-I", CSRC,
           os.path.join(FUZZ_DIR, harness)] + list(sources) + ["-o", str(exe)] + [
           "-lcrypto"]   # lib/tsig.c computes its HMACs with libcrypto
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return str(exe)


def write_corpus(directory, seeds):
    """Write each seed (bytes) as a file of `directory`; returns the directory."""
    os.makedirs(directory, exist_ok=True)
    for i, data in enumerate(seeds):
        with open(os.path.join(directory, f"seed{i:03d}"), "wb") as f:
            f.write(data)
    return str(directory)


def sanitizer_env(leaks, env=None):
    full_env = dict(os.environ, **(env or {}))
    full_env["ASAN_OPTIONS"] = f"detect_leaks={int(leaks)}:abort_on_error=1"
    full_env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    return full_env


def replay(exe, inputs, leaks=False, env=None):
    """Run `exe` once on each file of `inputs` (no fuzzing); asserts a clean exit."""
    r = subprocess.run([str(exe)] + [str(i) for i in inputs], env=sanitizer_env(leaks, env),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]


def run(exe, corpus, workdir, seconds=None, max_len=1024, leaks=False, env=None,
        dictionary=None):
    """Run `exe` for `seconds` over `corpus` (crash inputs go to workdir), with the libFuzzer
    dictionary tests/fuzz/<dictionary> if named; asserts a clean exit and returns the
    number of inputs executed."""
    seconds = FUZZ_SECONDS if seconds is None else seconds
    extra = [f"-dict={os.path.join(FUZZ_DIR, dictionary)}"] if dictionary else []
    r = subprocess.run([str(exe), f"-max_total_time={seconds}", f"-max_len={max_len}",
                        "-print_final_stats=1", f"-artifact_prefix={workdir}/"] + extra +
                       [str(corpus)],
                       env=sanitizer_env(leaks, env), capture_output=True, text=True,
                       timeout=seconds + 120)
    tail = r.stderr[-3000:]
    assert r.returncode == 0, tail
    assert "stat::number_of_executed_units:" in r.stderr, tail
    return int(r.stderr.split("stat::number_of_executed_units:")[1].split()[0])
