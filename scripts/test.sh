#!/bin/sh
# test.sh — install robdns with its test dependencies (pip and apt) and run the whole suite.
#   extra arguments go to pytest, e.g.  sh scripts/test.sh -k engine
set -eu
cd "$(dirname "$0")/.."
PREFIX=${ROBDNS_PREFIX:-/opt/robdns}

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # Reference servers (Knot, NSD) and tools used by the differential tests, the fuzz/ASan
    # job (clang), the systemd unit check and the AF_XDP tests (iproute2, ping, libxdp/libbpf).
    need=""
    for pkg in knot nsd knot-dnsutils dnsperf bind9-dnsutils bind9-utils ldnsutils clang \
               libclang-rt-14-dev systemd iproute2 iputils-ping procps libxdp-dev libbpf-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
    done
    if [ -n "$need" ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $need >/dev/null
    fi
    # The packaged services must not hold ports or run as daemons during the tests.
    for svc in knot nsd; do
        systemctl stop "$svc" >/dev/null 2>&1 || true
        pkill -x "$svc" >/dev/null 2>&1 || true
    done
fi

ROBDNS_PREFIX="$PREFIX" ROBDNS_EXTRAS=test ROBDNS_EDITABLE=1 sh scripts/install.sh
set +e
"$PREFIX/bin/python" -m pytest -p no:cacheprovider tests "$@"
rc=$?
set -e
# pytest's 5 means no test ran: that is a failure of the suite, not a pass.
exit $rc
