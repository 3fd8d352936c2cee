"""xfr_secondaries — start Knot, NSD and BIND 9 `named` as secondaries of a primary on
loopback, with a TSIG key, each from a private directory on a free port (the start-up and
stop machinery of refservers).  A secondary is ready once it serves the zone (it has
transferred it); it takes NOTIFY from the primary and lets the test transfer its copy
back with the same key.

    with start_secondary("knot", "example.com.", "127.0.0.1", 5300, KEY) as sec:
        ...  sec.serial("example.com.") ...
"""

import os
import tempfile

import dns.message
import dns.rdatatype

from refservers import (KNOTD, NAMED, NSD, RefServer, RefServerError, _launch,
                        _start_with_retries, command)

BINARIES = {"knot": KNOTD, "nsd": NSD, "bind": NAMED}


def _knot_conf(workdir, host, port, zone, primary, key):
    name, alg, secret = key
    return f"""server:
    rundir: "{workdir}"
    pidfile: "{workdir}/knot.pid"
    listen: {host}@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "{workdir}/db"
key:
  - id: {name}
    algorithm: {alg}
    secret: {secret}
remote:
  - id: primary
    address: {primary[0]}@{primary[1]}
    key: {name}
acl:
  - id: from_primary
    address: {primary[0]}
    key: {name}
    action: notify
  - id: to_tests
    address: 127.0.0.0/8
    key: {name}
    action: transfer
template:
  - id: default
    storage: "{workdir}"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: {zone}
    file: "{workdir}/{zone}zone"
    master: primary
    acl: [from_primary, to_tests]
"""


def _nsd_conf(workdir, host, port, zone, primary, key):
    name, alg, secret = key
    return f"""server:
    ip-address: {host}
    port: {port}
    server-count: 1
    do-ip6: no
    reuseport: no
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    database: ""
    zonelistfile: "{workdir}/zone.list"
    xfrdfile: "{workdir}/xfrd.state"
    xfrdir: "{workdir}"
    pidfile: "{workdir}/nsd.pid"
    logfile: "{workdir}/nsd.log"
    verbosity: 2
    rrl-ratelimit: 0
remote-control:
    control-enable: no
key:
    name: "{name}"
    algorithm: {alg}
    secret: "{secret}"
zone:
    name: "{zone}"
    zonefile: "{workdir}/{zone}zone"
    request-xfr: {primary[0]}@{primary[1]} {name}
    allow-notify: {primary[0]} {name}
    provide-xfr: 127.0.0.0/8 {name}
"""


def _named_conf(workdir, host, port, zone, primary, key):
    name, alg, secret = key
    return f"""options {{
    directory "{workdir}";
    listen-on port {port} {{ {host}; }};
    listen-on-v6 {{ none; }};
    pid-file "{workdir}/named.pid";
    session-keyfile "{workdir}/session.key";
    managed-keys-directory "{workdir}";
    recursion no;
    notify no;
    dnssec-validation no;
    allow-query {{ any; }};
    transfer-source {host};
}};
controls {{ }};
key "{name}" {{ algorithm {alg}; secret "{secret}"; }};
zone "{zone}" {{
    type secondary;
    file "{workdir}/{zone}db";
    primaries {{ {primary[0]} port {primary[1]} key "{name}"; }};
    allow-notify {{ {primary[0]}; }};
    allow-transfer {{ key "{name}"; }};
}};
"""


CONFS = {"knot": ("knot.conf", _knot_conf), "nsd": ("nsd.conf", _nsd_conf),
         "bind": ("named.conf", _named_conf)}


def start_secondary(kind, zone, primary, key, host="127.0.0.1", timeout=60.0, port=None):
    """`kind` (knot, nsd, bind) as a secondary of `zone` from primary (host, port), TSIG
    key (name, algorithm, base64 secret); returns once it serves the zone.  It listens on
    `port` when given (the one a primary configured before it NOTIFYs), else a free one."""
    def once(zones, host, free, timeout):
        listen = port or free
        workdir = tempfile.mkdtemp(prefix=f"robdns-sec-{kind}-")
        fname, make = CONFS[kind]
        conf = os.path.join(workdir, fname)
        with open(conf, "w") as f:
            f.write(make(workdir, host, listen, zone, primary, key))
        server = _launch(kind, command(kind, conf), workdir, host, listen, zones, timeout)
        if kind == "nsd":
            server.log_path = os.path.join(workdir, "nsd.log")
        return server
    return _start_with_retries(once, [(zone, None)], host, timeout)


def serial(server: RefServer, zone):
    q = dns.message.make_query(zone, "SOA")
    wire = server.ask(q.to_wire())
    if wire is None:
        return None
    r = dns.message.from_wire(wire)
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def full_log(server: RefServer):
    """The whole log (RefServer.log() keeps only the tail)."""
    try:
        with open(server.log_path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


__all__ = ["start_secondary", "serial", "full_log", "BINARIES", "RefServerError"]
