"""dnssec_zones — zones signed inside the tests with BIND's dnssec-keygen/dnssec-signzone.

One unsigned source zone covers what the DNSSEC proofs must handle: plain names, a CNAME,
a wildcard (with a child name below it), empty non-terminals, a secure delegation (DS)
and insecure ones (no DS), glue.  `sign_zone` signs it with NSEC, NSEC3, or NSEC3 with
opt-out (RFC 5155 6), ECDSA P-256 keys (RFC 6605: small and fast to make), and returns
the signed file's path.  Signatures are valid from an hour ago for thirty days, so the
zones validate whenever the test runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

KEYGEN = shutil.which("dnssec-keygen") or "/usr/sbin/dnssec-keygen"
SIGNZONE = shutil.which("dnssec-signzone") or "/usr/sbin/dnssec-signzone"

ORIGIN = "signed.example."

# The unsigned zone.  Comments name the proof each part exercises.
ZONE_TEXT = """\
$TTL 3600
@        IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@        IN NS  ns1
@        IN NS  ns2
@        IN MX  10 mail
ns1      IN A    192.0.2.1
ns2      IN AAAA 2001:db8::2
mail     IN A    192.0.2.10
www      IN A    192.0.2.20
www      IN TXT  "hello"
alias    IN CNAME www
; wildcard, with an existing name below it (RFC 4592 2.2.1 flavour)
*.wild   IN A    192.0.2.30
*.wild   IN TXT  "wild"
host.wild IN A   192.0.2.31
; empty non-terminals: c and b.c exist only because of a.b.c
a.b.c    IN A    192.0.2.40
; a secure delegation (RFC 4035 3.1.4: DS goes with the referral)
sec      IN NS   ns.sec
sec      IN DS   12345 13 2 8EF5B6E1A8E0CE5D4AC7D25B5AD4D3E6A0C2B0FD6D54BF8E5E0E3A3D3E6B2F1A
ns.sec   IN A    192.0.2.50
; insecure delegations (no DS: the NSEC/NSEC3 proves it, RFC 4035 3.1.4.1)
insec    IN NS   ns.insec
ns.insec IN A    192.0.2.60
other    IN NS   ns1.example.net.
deep.ent.unsigned IN NS ns.example.net.
; CNAMEs into a wildcard and to an absent name (the proof is about the target), a DNAME
towild   IN CNAME x.wild
dangling IN CNAME gone
dn       IN DNAME wild
; more names spread over the NSEC3 hash space
zz       IN A    192.0.2.70
m1       IN A    192.0.2.71
m2       IN A    192.0.2.72
m3       IN AAAA 2001:db8::73
srv      IN SRV  0 0 53 ns1
"""

VARIANTS = ("nsec", "nsec3", "nsec3-optout")


@dataclass
class SignedZone:
    origin: str
    path: str          # the signed zone file
    variant: str
    dnskey_path: str   # the zone's DNSKEY records (text), for validation


def _run(argv, cwd):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout.strip()


def sign_zone(workdir: str, variant: str, origin: str = ORIGIN, text: str = ZONE_TEXT,
              iterations: int = 5, salt: str = "aabbccdd") -> SignedZone:
    """Sign `text` for `origin` in `workdir` with the given variant (one of VARIANTS)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    os.makedirs(workdir, exist_ok=True)
    unsigned = os.path.join(workdir, f"{origin}zone")
    with open(unsigned, "w") as f:
        f.write(text)
    ksk = _run([KEYGEN, "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-K", workdir, origin],
               workdir)
    zsk = _run([KEYGEN, "-q", "-a", "ECDSAP256SHA256", "-K", workdir, origin], workdir)
    keys = []
    for k in (ksk, zsk):
        with open(os.path.join(workdir, k + ".key")) as f:
            keys += [line for line in f if line.strip() and not line.startswith(";")]
    dnskey_path = os.path.join(workdir, "dnskeys.txt")
    with open(dnskey_path, "w") as f:
        f.writelines(keys)
    with open(unsigned, "a") as f:
        f.write(f"$INCLUDE {os.path.join(workdir, ksk)}.key\n")
        f.write(f"$INCLUDE {os.path.join(workdir, zsk)}.key\n")
    signed = os.path.join(workdir, f"{origin}{variant}.signed")
    argv = [SIGNZONE, "-q", "-K", workdir, "-o", origin, "-f", signed,
            "-s", "now-3600", "-e", "now+2592000", "-j", "0"]
    if variant != "nsec":
        argv += ["-3", salt, "-H", str(iterations)]
        if variant == "nsec3-optout":
            argv += ["-A"]
    argv += [unsigned, os.path.join(workdir, ksk), os.path.join(workdir, zsk)]
    _run(argv, workdir)
    return SignedZone(origin, signed, variant, dnskey_path)
