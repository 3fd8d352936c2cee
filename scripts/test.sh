#!/bin/sh
# test.sh — install robdns with its test dependencies (apt, and pip into a virtualenv of the suite's own) and run the whole suite.
#   extra arguments go to pytest, e.g.  sh scripts/test.sh -k engine
#   ROBDNS_TEST_PREFIX  the suite's virtualenv (default .venv in this checkout)
# The suite never shares the production prefix (ROBDNS_PREFIX, /opt/robdns): an editable
# install there would replace the code a running server is started from.  It stops and
# kills nothing it did not start: the reference servers run from tests/refservers.py on
# their own ports, configuration and run directories.
set -eu
cd "$(dirname "$0")/.."
PREFIX=${ROBDNS_TEST_PREFIX:-$PWD/.venv}
PRODUCTION=${ROBDNS_PREFIX:-/opt/robdns}

if [ -e "$PREFIX" ] && [ -e "$PRODUCTION" ] && \
   [ "$(cd "$PREFIX" && pwd -P)" = "$(cd "$PRODUCTION" && pwd -P)" ]; then
    echo "test.sh: ROBDNS_TEST_PREFIX is the production prefix $PRODUCTION; choose another" >&2
    exit 2
fi

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # Reference servers (Knot, NSD) and tools used by the differential tests, the fuzz/ASan
    # job (clang), the systemd unit check, the AF_XDP tests (iproute2, ping, libxdp/libbpf)
    # and the dnstap tests (fstrm_capture receives, dnstap-ldns decodes).
    need=""
    for pkg in knot nsd knot-dnsutils dnsperf bind9-dnsutils bind9-utils ldnsutils clang \
               libclang-rt-14-dev systemd iproute2 iputils-ping procps libxdp-dev libbpf-dev \
               bind9 libssl-dev fstrm-bin dnstap-ldns; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
    done
    if [ -n "$need" ]; then
        # The knot and nsd packages start their services when installed; the suite needs
        # only their binaries.  A policy-rc.d that refuses every start (exit 101, honoured
        # by invoke-rc.d(8) and deb-systemd-invoke(1p)) keeps them stopped for this install
        # only; one already in place is left as it is.
        policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            policy=/usr/sbin/policy-rc.d
            printf '#!/bin/sh\n# written by robdns scripts/test.sh for one apt-get install\nexit 101\n' >"$policy"
            chmod 755 "$policy"
            trap 'rm -f "$policy"' EXIT
            trap 'exit 130' INT
            trap 'exit 143' TERM
        fi
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $need >/dev/null
        if [ -n "$policy" ]; then
            rm -f "$policy"
            trap - EXIT INT TERM
        fi
    fi
fi

# ROBDNS_BINDIR empty: no /usr/local/bin/robdns link to the suite's copy.
ROBDNS_PREFIX="$PREFIX" ROBDNS_BINDIR="" ROBDNS_EXTRAS=test ROBDNS_EDITABLE=1 sh scripts/install.sh
set +e
"$PREFIX/bin/python" -m pytest -p no:cacheprovider tests "$@"
rc=$?
set -e
# pytest's 5 means no test ran: that is a failure of the suite, not a pass.
exit $rc
