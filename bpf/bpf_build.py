# bpf_build.py — compile an XDP program with clang into BPF bytecode: setup.py builds robdns's
# own (xdp_dns.bpf.c) into the package this way, and the tests build foreign programs.
import os
import shutil
import subprocess
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "xdp_dns.bpf.c")


class BpfBuildError(Exception):
    """clang refused the program (the message holds its diagnostics)."""


def find_clang():
    """clang's path, or None: robdns needs it only when the package is built."""
    return shutil.which("clang")


def compile_program(source, out, clang=None):
    """Compile `source` to the BPF ELF object `out` (written whole or not at all)."""
    clang = clang or find_clang()
    if not clang:
        raise BpfBuildError("clang is not installed (apt-get install clang)")
    tmp = f"{out}.tmp{os.getpid()}"
    argv = [clang, "-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-c", source, "-o", tmp]
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    if multiarch:   # Debian keeps asm/types.h under /usr/include/<multiarch>
        argv[1:1] = ["-I", f"/usr/include/{multiarch}"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise BpfBuildError(f"building {source} failed:\n{r.stderr.strip()}")
    os.replace(tmp, out)


def build_package_object(out, source=SOURCE):
    """What setup.py does: bring `out` up to date with `source`; True when it holds the
    program.  Without clang it warns and leaves no object (a stale one must not ship in
    place of the missing one): the xdp mode then refuses to start, naming clang."""
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(source):
        return True
    if not find_clang():
        if os.path.exists(out):
            os.unlink(out)
        print("warning: clang not found: robdns is built without its XDP program "
              "(apt-get install clang, then rebuild); the xdp mode will not start",
              file=sys.stderr)
        return False
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    compile_program(source, out)
    return True
