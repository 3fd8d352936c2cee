"""xfr_primaries — Knot, BIND 9 (named) and NSD started as primaries of a zone for the
secondary tests: each on loopback on a free port, from its own directory, with a TSIG key
for transfers and NOTIFY to a given address, stopped (only the process it started) at the
end.  Knot and named keep a history of the zone file's changes (IXFR); NSD 4.6 sends full
transfers.

    with start_primary("knot", "example.net.", text, notify_to=("127.0.0.1", port)) as p:
        p.update(new_text)          # write the file and have the server load it
"""

import os
import signal
import tempfile
import time

import dns.message
import dns.query
import dns.tsigkeyring

from refservers import RefServerError, _launch, _start_with_retries, command

KEY_NAME = "xfr.key."
KEY_SECRET = "bm90LWEtcmVhbC1zZWNyZXQtanVzdC1hLXRlc3Qta2V5"   # base64
KEY_ALG = "hmac-sha256"
KEY = (KEY_NAME, KEY_ALG, KEY_SECRET)       # as xfr_secondaries.start_secondary takes it


def keyring():
    return dns.tsigkeyring.from_text({KEY_NAME: (KEY_ALG, KEY_SECRET)})


def axfr(host, port, origin):
    """The zone a server at (host, port) gives by AXFR (TSIG-signed), as a dns.zone.Zone."""
    import dns.zone
    return dns.zone.from_xfr(dns.query.xfr(host, origin, port=port, keyring=keyring(),
                                           keyname=KEY_NAME, timeout=10))


def robdns_keys():
    """The `keys` section of a robdns config holding the same key."""
    return [{"name": KEY_NAME, "algorithm": KEY_ALG, "secret": KEY_SECRET}]


def knot_conf_head(workdir, host, port):
    """The first lines of a test Knot's config: one worker of each kind, its run files in
    `workdir`, logging to stderr, and the test key."""
    return [
        "server:", f'    rundir: "{workdir}"', f'    pidfile: "{workdir}/knot.pid"',
        f"    listen: {host}@{port}", "    udp-workers: 1", "    tcp-workers: 1",
        "    background-workers: 1",
        "log:", "  - target: stderr", "    any: info",
        "database:", f'    storage: "{workdir}/db"',
        "key:", f"  - id: {KEY_NAME}", f"    algorithm: {KEY_ALG}", f"    secret: {KEY_SECRET}",
    ]


def _knot_conf(workdir, host, port, origin, path, notify_to):
    lines = knot_conf_head(workdir, host, port) + [
        "acl:", "  - id: xfr", f"    address: {host}", f"    key: {KEY_NAME}",
        "    action: transfer",
    ]
    if notify_to:
        lines += ["remote:", "  - id: downstream", f"    address: {notify_to[0]}@{notify_to[1]}",
                  f"    key: {KEY_NAME}"]
    lines += [
        "template:", "  - id: default", f'    storage: "{workdir}"', "    zonefile-sync: -1",
        # the difference between the loaded and the new file goes to the journal: IXFR
        "    zonefile-load: difference", "    journal-content: changes",
        "zone:", f'  - domain: "{origin}"', f'    file: "{path}"', "    acl: xfr",
    ]
    if notify_to:
        lines += ["    notify: downstream"]
    return "\n".join(lines) + "\n"


def _named_conf(workdir, host, port, origin, path, notify_to):
    also = f"also-notify {{ {notify_to[0]} port {notify_to[1]} key \"{KEY_NAME}\"; }};" if notify_to else ""
    return f"""
key "{KEY_NAME}" {{ algorithm {KEY_ALG}; secret "{KEY_SECRET}"; }};
options {{
    directory "{workdir}";
    pid-file "{workdir}/named.pid";
    listen-on port {port} {{ {host}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    ixfr-from-differences yes;
    notify {"explicit" if notify_to else "no"};
    session-keyfile "{workdir}/session.key";
    managed-keys-directory "{workdir}";
}};
controls {{ }};
zone "{origin}" {{
    type primary;
    file "{path}";
    allow-transfer {{ key "{KEY_NAME}"; }};
    {also}
}};
"""


def _nsd_conf(workdir, host, port, origin, path, notify_to):
    lines = [
        "server:", f"    ip-address: {host}", f"    port: {port}", "    server-count: 1",
        "    do-ip6: no", "    reuseport: no", '    username: ""', '    chroot: ""',
        f'    zonesdir: "{workdir}"', '    database: ""', f'    zonelistfile: "{workdir}/zone.list"',
        f'    xfrdfile: "{workdir}/xfrd.state"', f'    xfrdir: "{workdir}"',
        f'    pidfile: "{workdir}/nsd.pid"', f'    logfile: "{workdir}/nsd.log"',
        "    verbosity: 2", "    rrl-ratelimit: 0",
        "remote-control:", "    control-enable: no",
        "key:", f"    name: {KEY_NAME}", f"    algorithm: {KEY_ALG}", f"    secret: \"{KEY_SECRET}\"",
        "zone:", f'    name: "{origin}"', f'    zonefile: "{path}"',
        f"    provide-xfr: {host} {KEY_NAME}",
    ]
    if notify_to:
        lines += [f"    notify: {notify_to[0]}@{notify_to[1]} {KEY_NAME}"]
    return "\n".join(lines) + "\n"


class Primary:
    def __init__(self, kind, server, path, origin, workdir):
        self.kind, self.server, self.path, self.origin = kind, server, path, origin
        self.workdir = workdir

    @property
    def host(self):
        return self.server.host

    @property
    def port(self):
        return self.server.port

    @property
    def address(self):
        return f"{self.server.host}@{self.server.port}"

    def serial(self):
        q = dns.message.make_query(self.origin, "SOA")
        r = dns.query.udp(q, self.host, port=self.port, timeout=2)
        return r.answer[0][0].serial if r.answer else None

    def update(self, text, timeout=20.0):
        """Write the zone file and have the server load it (SIGHUP: each of the three
        reloads changed zone files on it); returns once the new serial is served."""
        with open(self.path + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.path + ".tmp", self.path)
        new = int(text.split("SOA", 1)[1].split()[2])
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.serial() != new:
            if time.monotonic() > deadline:
                raise RefServerError(f"{self.kind} did not load serial {new}:\n{self.server.log()}")
            time.sleep(0.1)

    def records(self):
        """The zone as dnspython receives it by AXFR (TSIG-signed)."""
        return axfr(self.host, self.port, self.origin)

    def stop(self, keep=False):
        """Stop the server; its directory (zone file, journal) stays with keep=True, for a
        start again on the same port (start_primary(..., port=, workdir=))."""
        self.server.stop()
        if not keep:
            import shutil
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_primary(kind, origin, text, notify_to=None, port=None, workdir=None, timeout=30.0):
    """A primary of `origin` with zone text `text`: kind is "knot", "bind" or "nsd".  With
    `port` (and `workdir`), start again where a stopped one served (its file and history)."""
    workdir = workdir or tempfile.mkdtemp(prefix=f"robdns-{kind}-primary-")
    os.makedirs(os.path.join(workdir, "db"), exist_ok=True)       # Knot's journal
    path = os.path.join(workdir, origin.rstrip(".") + ".zone")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(text)

    def once(zones, host, free, timeout):
        p = port or free
        conf = os.path.join(workdir, f"{kind}.conf")
        make = {"knot": _knot_conf, "bind": _named_conf, "nsd": _nsd_conf}[kind]
        with open(conf, "w") as f:
            f.write(make(workdir, host, p, origin, path, notify_to))
        srv = _launch(kind, command(kind, conf), workdir, host, p, zones, timeout)
        # RefServer.stop() removes its workdir: keep ours for a restart on the same files
        srv.workdir = tempfile.mkdtemp(prefix="robdns-primary-stopped-")
        return srv

    server = _start_with_retries(once, [(origin, path)], "127.0.0.1", timeout)
    return Primary(kind, server, path, origin, workdir)
