#!/bin/sh
# install.sh — install robdns from this checkout into a virtualenv and put `robdns` on PATH.
#   ROBDNS_PREFIX  virtualenv location (default /opt/robdns)
#   ROBDNS_BINDIR  where the `robdns` link goes (default /usr/local/bin; empty: no link)
#   ROBDNS_EXTRAS  pip extras to add, e.g. "test" (which also builds the extension with
#                  the test hooks, ROBDNS_TEST_HOOKS=1: the suite drives the engine through them)
#   ROBDNS_EDITABLE=1  install in development mode (the extension is built in place, so
#                  the checkout itself is importable: what the test suite runs against)
set -eu
cd "$(dirname "$0")/.."
PREFIX=${ROBDNS_PREFIX:-/opt/robdns}
BINDIR=${ROBDNS_BINDIR-/usr/local/bin}

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # Build needs a C compiler and Python headers; libxdp/libbpf enable the AF_XDP path;
    # libssl-dev provides libcrypto, whose HMACs TSIG uses; clang compiles the XDP program
    # to the BPF bytecode the package ships (only here: the server needs no compiler).
    need=""
    for pkg in gcc python3-dev python3-venv libxdp-dev libbpf-dev pkg-config libssl-dev clang; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
    done
    if [ -n "$need" ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $need >/dev/null
    fi
fi

[ -x "$PREFIX/bin/python" ] || python3 -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install -q --upgrade pip setuptools wheel Cython
spec="."
[ -n "${ROBDNS_EXTRAS:-}" ] && spec=".[${ROBDNS_EXTRAS}]"
case ",${ROBDNS_EXTRAS:-}," in *,test,*) export ROBDNS_TEST_HOOKS=1 ;; esac
if [ "${ROBDNS_EDITABLE:-0}" = 1 ]; then
    "$PREFIX/bin/python" -m pip install -q -e "$spec"
else
    "$PREFIX/bin/python" -m pip install -q "$spec"
fi
if [ -n "$BINDIR" ] && [ -w "$BINDIR" ]; then
    ln -sf "$PREFIX/bin/robdns" "$BINDIR/robdns"
fi
echo "robdns installed in $PREFIX ($("$PREFIX/bin/robdns" --version))"
