#!/usr/bin/env python3
# genzone.py — deterministic generator of realistic benchmark zones and matching dnsperf query files.
"""Write a zone of about N records in RFC 1035 section 5 master format, and a query file.

The zone mixes what real zones hold: hosts with A/AAAA (some multi-address), MX domains
with in-zone mail hosts, TXT (SPF/DMARC/verification strings), CNAMEs (in-zone and
out-of-zone targets), SRV services, delegations with in-bailiwick glue and out-of-zone
name servers, wildcards (RFC 4592) with explicit names beside them, and names whose
ancestors own no records (empty non-terminals).  The master file uses the format's
conveniences: $ORIGIN, $TTL, relative names, inherited owners, a parenthesised SOA.

The query file (one "name TYPE" per line, the dnsperf input format) is drawn from the
same zone: answers, CNAMEs, NXDOMAIN, NODATA (including empty non-terminals), referrals
and wildcard matches, with a qtype mix weighted to A and AAAA like resolver traffic.

The same arguments always produce byte-identical files (a seeded PRNG, no clock, no set
iteration order).

    python3 bench/genzone.py --records 100000 --zone bench/out/bench100k.zone \
        --queries bench/out/bench100k.queries
"""

import argparse
import ipaddress
import os
import random
import sys

DEFAULT_ORIGIN = "bench.test."          # .test is reserved for testing (RFC 6761 6.2)
WORDS = ("www", "mail", "api", "app", "cdn", "shop", "vpn", "git", "db", "dev", "stage",
         "blog", "portal", "auth", "img", "static", "m", "news", "wiki", "help", "login",
         "files", "crm", "intranet", "status")

# Kinds of "entities" (groups of records under one or a few names) and their weights.
KINDS = (
    ("host", 44), ("host6", 14), ("multi", 4), ("cname", 9), ("cname_ext", 3),
    ("mail", 5), ("txt", 3), ("srv", 4), ("deleg", 6), ("deleg_ext", 2), ("wild", 2),
    ("ent", 4),
)

# Query categories and their share of the query file (sums to 100).
QUERY_MIX = (
    ("answer", 58), ("cname", 6), ("nxdomain", 10), ("nodata", 8), ("ent", 2),
    ("referral", 8), ("wildcard", 5), ("apex", 3),
)
# qtypes for names that hold A and AAAA, and for NXDOMAIN/referral/wildcard queries.
ADDR_QTYPES = (("A", 65), ("AAAA", 30), ("MX", 2), ("TXT", 3))


class Zone:
    """Accumulates master-file lines and the facts the query generator needs."""

    def __init__(self, origin, rng):
        self.origin = origin
        self.rng = rng
        self.lines = []
        self.records = 0
        self.v4 = int(ipaddress.IPv4Address("10.0.0.0"))
        self.v6 = int(ipaddress.IPv6Address("2001:db8::"))
        # Query material: (name, [types it holds]) etc.; relative names.
        self.answers = []        # (name, types)
        self.cnames = []         # alias names
        self.referrals = []      # delegated names (the cut)
        self.wildcards = []      # parent names of "*" records
        self.ents = []           # empty non-terminal names
        self.address_hosts = []  # names holding an A rrset (CNAME/MX/SRV targets)

    def add(self, owner, rtype, rdata, ttl=None):
        """One record; owner "" inherits the previous owner (RFC 1035 5.1)."""
        ttl_s = f"{ttl} " if ttl is not None else ""
        self.lines.append(f"{owner}\t{ttl_s}{rtype}\t{rdata}\n")
        self.records += 1

    def next_v4(self):
        self.v4 += 1
        if self.v4 & 0xFF in (0, 255):
            self.v4 += 2
        return str(ipaddress.IPv4Address(self.v4))

    def next_v6(self):
        self.v6 += 1
        return str(ipaddress.IPv6Address(self.v6))

    def token(self, n=12):
        return "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def weighted(rng, table):
    names = [k for k, _ in table]
    weights = [w for _, w in table]
    return rng.choices(names, weights)[0]


def write_apex(z, serial):
    z.lines.append(f"$ORIGIN {z.origin}\n$TTL 3600\n")
    z.add("@", "SOA", f"ns1 hostmaster (\n\t\t{serial} ; serial\n\t\t7200 3600 1209600 300 )")
    z.add("", "NS", "ns1")
    z.add("", "NS", "ns2")
    z.add("", "MX", "10 mx1")
    z.add("", "TXT", '"v=spf1 mx -all"')
    z.add("ns1", "A", z.next_v4())
    z.add("", "AAAA", z.next_v6())
    z.add("ns2", "A", z.next_v4())
    z.add("", "AAAA", z.next_v6())
    z.add("mx1", "A", z.next_v4())
    z.address_hosts.append("mx1")


def emit_entity(z, kind, i):
    """Write one entity of the given kind; i makes its names unique."""
    rng = z.rng
    word = WORDS[i % len(WORDS)]
    if kind in ("host", "host6", "multi"):
        name = f"{word}-{i}"
        ttl = 300 if rng.random() < 0.2 else None
        types = ["A"]
        z.add(name, "A", z.next_v4(), ttl)
        if kind == "multi":
            for _ in range(rng.randint(1, 3)):
                z.add("", "A", z.next_v4(), ttl)
        if kind in ("host6", "multi"):
            z.add("", "AAAA", z.next_v6(), ttl)
            types.append("AAAA")
        if rng.random() < 0.08:
            z.add("", "TXT", f'"site-verification={z.token(24)}"')
            types.append("TXT")
        z.answers.append((name, types))
        z.address_hosts.append(name)
    elif kind in ("cname", "cname_ext"):
        name = f"alias-{word}-{i}"
        if kind == "cname" and z.address_hosts:
            target = rng.choice(z.address_hosts)
        else:
            target = f"{z.token(8)}.cdn-provider.example."
        z.add(name, "CNAME", target)
        z.cnames.append(name)
    elif kind == "mail":
        dom = f"corp-{i}"
        z.add(dom, "MX", f"10 mx1.{dom}")
        z.add("", "MX", f"20 mx2.{dom}")
        z.add("", "TXT", f'"v=spf1 mx include:_spf.{dom} -all"')
        z.add("", "A", z.next_v4())
        z.add(f"mx1.{dom}", "A", z.next_v4())
        z.add(f"mx2.{dom}", "A", z.next_v4())
        z.add(f"_dmarc.{dom}", "TXT", f'"v=DMARC1; p=quarantine; rua=mailto:dmarc@{dom}.{z.origin[:-1]}"')
        z.answers.append((dom, ["MX", "TXT", "A"]))
        z.answers.append((f"mx1.{dom}", ["A"]))
        z.answers.append((f"_dmarc.{dom}", ["TXT"]))
        z.address_hosts.append(f"mx1.{dom}")
    elif kind == "txt":
        name = f"_acme-challenge.{word}-txt-{i}"
        z.add(name, "TXT", f'"{z.token(43)}"')
        if rng.random() < 0.3:
            z.add("", "TXT", f'"{z.token(43)}" "{z.token(20)}"')
        z.answers.append((name, ["TXT"]))
        z.ents.append(f"{word}-txt-{i}")
    elif kind == "srv":
        svc = f"svc-{i}"
        target = rng.choice(z.address_hosts) if z.address_hosts else "ns1"
        z.add(f"_sip._udp.{svc}", "SRV", f"10 60 5060 {target}")
        z.add(f"_sip._tcp.{svc}", "SRV", f"10 60 5060 {target}")
        z.add("", "SRV", f"20 0 5060 {rng.choice(z.address_hosts) if z.address_hosts else 'ns1'}")
        z.add(svc, "A", z.next_v4())
        z.answers.append((f"_sip._udp.{svc}", ["SRV"]))
        z.answers.append((f"_sip._tcp.{svc}", ["SRV"]))
        z.answers.append((svc, ["A"]))
        z.ents.append(f"_tcp.{svc}")
    elif kind == "deleg":
        sub = f"sub-{i}"
        z.add(sub, "NS", f"ns1.{sub}")
        z.add("", "NS", f"ns2.{sub}")
        # In-bailiwick name servers need glue (RFC 1034 4.2.1).
        z.add(f"ns1.{sub}", "A", z.next_v4())
        if rng.random() < 0.5:
            z.add("", "AAAA", z.next_v6())
        z.add(f"ns2.{sub}", "A", z.next_v4())
        z.referrals.append(sub)
    elif kind == "deleg_ext":
        sub = f"cust-{i}"
        z.add(sub, "NS", f"ns{i % 4 + 1}.dns-hosting.example.")
        z.add("", "NS", f"ns{(i + 1) % 4 + 1}.dns-hosting.example.")
        z.referrals.append(sub)
    elif kind == "wild":
        parent = f"wild-{i}"
        z.add(f"*.{parent}", "A", z.next_v4())
        z.add("", "TXT", '"wildcard"')
        # An explicit name beside the wildcard (RFC 4592 2.2.1: it is not synthesised).
        z.add(f"www.{parent}", "A", z.next_v4())
        z.wildcards.append(parent)
        z.answers.append((f"www.{parent}", ["A"]))
        z.ents.append(parent)
    elif kind == "ent":
        # host.rack.dc: rack and dc own nothing, so they are empty non-terminals.
        dc = f"dc-{i % 97}-{i // 9700}"
        rack = f"rack-{i}.{dc}"
        name = f"h{rng.randint(1, 48)}.{rack}"
        z.add(name, "A", z.next_v4())
        z.add("", "AAAA", z.next_v6())
        z.answers.append((name, ["A", "AAAA"]))
        z.ents.append(rack)
    else:
        raise ValueError(kind)


def generate_zone(records, origin=DEFAULT_ORIGIN, seed=1, serial=2026112701):
    """Return a Zone with at least `records` records (the last entity is finished)."""
    if not origin.endswith("."):
        origin += "."
    z = Zone(origin, random.Random(seed))
    write_apex(z, serial)
    i = 0
    while z.records < records:
        emit_entity(z, weighted(z.rng, KINDS), i)
        i += 1
    return z


def pick_qtype(rng, types):
    if "A" in types and "AAAA" in types:
        return weighted(rng, ADDR_QTYPES[:2])
    return rng.choice(types)


def generate_queries(z, count, seed=2):
    """Return `count` "name TYPE" lines drawn from the zone's material."""
    rng = random.Random(seed)
    o = z.origin
    out = []
    missing_types = ("AAAA", "MX", "TXT", "SRV", "CAA")
    for _ in range(count):
        cat = weighted(rng, QUERY_MIX)
        if cat == "answer":
            name, types = rng.choice(z.answers)
            out.append(f"{name}.{o} {pick_qtype(rng, types)}")
        elif cat == "cname" and z.cnames:
            out.append(f"{rng.choice(z.cnames)}.{o} {weighted(rng, ADDR_QTYPES[:2])}")
        elif cat == "nxdomain":
            out.append(f"{z.token(rng.randint(4, 10))}.{o} {weighted(rng, ADDR_QTYPES)}")
        elif cat == "nodata":
            name, types = rng.choice(z.answers)
            qtype = rng.choice([t for t in missing_types if t not in types])
            out.append(f"{name}.{o} {qtype}")
        elif cat == "ent" and z.ents:
            out.append(f"{rng.choice(z.ents)}.{o} {weighted(rng, ADDR_QTYPES[:2])}")
        elif cat == "referral" and z.referrals:
            sub = rng.choice(z.referrals)
            host = rng.choice(("www", "mail", "", "api"))
            name = f"{host}.{sub}" if host else sub
            out.append(f"{name}.{o} {weighted(rng, ADDR_QTYPES)}")
        elif cat == "wildcard" and z.wildcards:
            out.append(f"{z.token(6)}.{rng.choice(z.wildcards)}.{o} {weighted(rng, ADDR_QTYPES[:2])}")
        else:  # apex, or a category this (small) zone has no material for
            out.append(f"{o} {rng.choice(('SOA', 'NS', 'MX', 'TXT', 'A'))}")
    return out


def write_files(records, zone_path, queries_path=None, nqueries=100000, origin=DEFAULT_ORIGIN,
                seed=1):
    """Generate and write; return the Zone (its .records is the exact record count)."""
    z = generate_zone(records, origin, seed)
    for path in (zone_path, queries_path):
        if path and os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(zone_path, "w") as f:
        f.write(f"; {z.origin} benchmark zone, {z.records} records, genzone.py seed {seed}\n")
        f.writelines(z.lines)
    if queries_path:
        with open(queries_path, "w") as f:
            f.write("\n".join(generate_queries(z, nqueries, seed + 1)) + "\n")
    return z


def ensure(records, zone_path, queries_path=None, nqueries=100000, origin=DEFAULT_ORIGIN):
    """Generate the files unless they already exist (the bench scripts call this)."""
    if os.path.exists(zone_path) and (queries_path is None or os.path.exists(queries_path)):
        return
    write_files(records, zone_path, queries_path, nqueries, origin)


def sign(zone_path, out_path, origin=DEFAULT_ORIGIN, nsec3=False):
    """Sign a zone offline as operators do (bind9-utils: dnssec-keygen, dnssec-signzone):
    ECDSA P-256 (algorithm 13) KSK and ZSK, NSEC (or NSEC3 without opt-out), signatures
    valid for a year.  Keys are made in a temporary directory and thrown away."""
    import shutil
    import subprocess
    import tempfile
    keydir = tempfile.mkdtemp(prefix="robdns-bench-keys-")
    try:
        for extra in ([], ["-f", "KSK"]):
            subprocess.run(["dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", *extra, "-K", keydir, origin],
                           check=True, capture_output=True, timeout=60)
        # dnssec-signzone runs in keydir: a relative output path would land there
        cmd = ["dnssec-signzone", "-q", "-S", "-K", keydir, "-o", origin, "-f", os.path.abspath(out_path),
               "-d", keydir, "-e", "+31536000"]
        if nsec3:
            cmd += ["-3", "-", "-H", "0"]       # RFC 9276: no salt, no extra iterations
        subprocess.run(cmd + [os.path.abspath(zone_path)], check=True, capture_output=True,
                       timeout=900, cwd=keydir)
    finally:
        shutil.rmtree(keydir, ignore_errors=True)


def ensure_signed(zone_path, out_path, origin=DEFAULT_ORIGIN, nsec3=False):
    if not os.path.exists(out_path):
        tmp = out_path + ".tmp"
        sign(zone_path, tmp, origin, nsec3)
        os.replace(tmp, out_path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=100000, help="approximate record count (default 100000)")
    p.add_argument("--origin", default=DEFAULT_ORIGIN, help=f"zone apex (default {DEFAULT_ORIGIN})")
    p.add_argument("--zone", required=True, help="zone file to write")
    p.add_argument("--queries", help="dnsperf query file to write")
    p.add_argument("--nqueries", type=int, default=100000, help="query lines (default 100000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--signed", metavar="FILE", help="also write a DNSSEC-signed copy of the zone (NSEC)")
    p.add_argument("--nsec3", action="store_true", help="sign with NSEC3 instead of NSEC")
    a = p.parse_args(argv)
    z = write_files(a.records, a.zone, a.queries, a.nqueries, a.origin, a.seed)
    print(f"{a.zone}: {z.records} records", file=sys.stderr)
    if a.signed:
        sign(a.zone, a.signed, a.origin, a.nsec3)
        print(f"{a.signed}: signed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
