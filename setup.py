# setup.py — builds the one extension module robdns._core from cython_ext/ (Cython + C).
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
# The C core, one folder per layer (lib, zone, query, server): see cython_ext/README.md.
CSRC = sorted(glob.glob(os.path.join("cython_ext", "csrc", "*", "*.c")))

cflags = ["-O2", "-std=gnu11", "-fno-strict-aliasing", "-Wall", "-Wno-unused-function"]
ldflags = []
# ROBDNS_SANITIZE=address builds the extension with AddressSanitizer (and UBSan) for the
# sanitizer job of the test suite; ROBDNS_DEBUG=1 keeps assertions and symbols.
sanitize = os.environ.get("ROBDNS_SANITIZE")
if sanitize:
    cflags += ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=" + sanitize]
    ldflags += ["-fsanitize=" + sanitize]
if os.environ.get("ROBDNS_DEBUG"):
    cflags += ["-g", "-O0", "-UNDEBUG"]

# AF_XDP support is compiled in only where libxdp/libbpf headers exist (issue: AF_XDP).
# TSIG (cython_ext/csrc/lib/tsig.c) computes its HMACs with OpenSSL's libcrypto.
libraries = ["crypto"]
define_macros = []
if os.environ.get("ROBDNS_XDP", "auto") != "off" and os.path.exists("/usr/include/xdp/xsk.h"):
    define_macros.append(("RD_HAVE_XDP", "1"))
    libraries += ["xdp", "bpf"]

ext = Extension(
    "robdns._core",
    sources=[os.path.join("cython_ext", "_core.pyx")] + CSRC,
    include_dirs=[os.path.join("cython_ext", "csrc"), "cython_ext"],
    extra_compile_args=cflags,
    extra_link_args=ldflags,
    define_macros=define_macros,
    libraries=libraries,
    depends=glob.glob("cython_ext/**/*", recursive=True),
)

setup(
    ext_modules=cythonize(
        [ext],
        include_path=["cython_ext"],
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
