"""Property tests of the C master-file parser against dnspython.

Random zones, written as text with random owners (escapes, wildcards, relative and
absolute names, inherited owners), TTL forms, classes, parentheses and comments, must
parse to the same records as dns.zone.from_text; every rdata the C parser encodes must
equal dnspython's wire form byte for byte.
"""
import os
import base64
import ipaddress
import string

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robdns import _core


def _n(default):
    """Example count; ZSCAN_EXAMPLES raises it for a long run by hand."""
    return int(os.environ.get("ZSCAN_EXAMPLES", default))

ORIGIN = "example.com."
SETTINGS = settings(max_examples=_n(150), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---- building blocks ----

_plain = string.ascii_letters + string.digits + "-_"
# characters that must be escaped in a label, and what to write for them
_escapes = st.sampled_from(["\\.", "\\\\", "\\(", "\\)", "\\;", "\\\"", "\\$", "\\@",
                            "\\032", "\\009", "\\255", "\\000", "\\X", "\\a"])


@st.composite
def label(draw):
    parts = draw(st.lists(st.one_of(st.text(_plain, min_size=1, max_size=6), _escapes),
                          min_size=1, max_size=4))
    return "".join(parts)


@st.composite
def rel_name(draw, min_labels=1):
    labels = draw(st.lists(label(), min_size=min_labels, max_size=3))
    return ".".join(labels)


@st.composite
def owner_name(draw):
    """An owner inside the zone: relative, absolute below the origin, @, or a wildcard."""
    kind = draw(st.sampled_from(["rel", "abs", "at", "wild"]))
    if kind == "at":
        return "@"
    n = draw(rel_name())
    if kind == "wild":
        n = "*." + n
    if kind == "abs":
        return n + "." + ORIGIN
    return n


@st.composite
def target_name(draw):
    """A domain name in rdata: relative to the origin in force, or absolute anywhere."""
    if draw(st.booleans()):
        return draw(rel_name())
    return draw(rel_name()) + "." + draw(st.sampled_from(["example.net.", "com.", ""])) or "."


def _hex(b):
    return b.hex()


def _qstring(raw: bytes) -> str:
    """A <character-string> as a quoted token with escapes."""
    out = []
    for c in raw:
        if c == 0x22:
            out.append('\\"')
        elif c == 0x5C:
            out.append("\\\\")
        elif 32 <= c < 127:
            out.append(chr(c))
        else:
            out.append("\\%03d" % c)
    return '"' + "".join(out) + '"'


def _ustring(raw: bytes) -> str:
    """A <character-string> as an unquoted token (escape delimiters)."""
    out = []
    for c in raw:
        ch = chr(c)
        if ch in ' \t;()"\\@$' or not (32 < c < 127):
            out.append("\\%03d" % c)
        else:
            out.append(ch)
    return "".join(out) or '""'


@st.composite
def charstring(draw, max_size=40):
    raw = draw(st.binary(max_size=max_size))
    return draw(st.sampled_from([_qstring, _ustring]))(raw)


u8 = st.integers(0, 255)
u16 = st.integers(0, 65535)
u32 = st.integers(0, 2**32 - 1)


def _b64(b):
    return base64.b64encode(b).decode()


def _split(s, draw):
    """Split a long hex/base64 field into blank-separated chunks (allowed by RFC 4034)."""
    if len(s) > 8 and draw(st.booleans()):
        k = draw(st.integers(1, len(s) - 1))
        return s[:k] + " " + s[k:]
    return s


_bitmap_types = ["A", "NS", "SOA", "MX", "TXT", "AAAA", "RRSIG", "NSEC", "DNSKEY",
                 "TYPE1234", "CAA", "TYPE65000", "SRV", "NSEC3PARAM"]


_alpn_id = st.text(string.ascii_letters + string.digits + "-/.", min_size=1, max_size=8)


@st.composite
def svcb_params(draw):
    """SvcParams in presentation form (RFC 9460 section 2.1), written without escapes."""
    params = {}
    if draw(st.booleans()):
        ids = ",".join(draw(st.lists(_alpn_id, min_size=1, max_size=3)))
        params["alpn"] = draw(st.sampled_from([f"alpn={ids}", f'alpn="{ids}"']))
        if draw(st.booleans()):
            params["no-default-alpn"] = "no-default-alpn"
    if draw(st.booleans()):
        params["port"] = f"port={draw(u16)}"
    if draw(st.booleans()):
        addrs = draw(st.lists(u32.map(lambda v: str(ipaddress.IPv4Address(v))), min_size=1, max_size=3))
        params["ipv4hint"] = "ipv4hint=" + ",".join(addrs)
    if draw(st.booleans()):
        addrs = draw(st.lists(st.integers(0, 2**128 - 1).map(lambda v: str(ipaddress.IPv6Address(v))),
                              min_size=1, max_size=2))
        params["ipv6hint"] = "ipv6hint=" + ",".join(addrs)
    if draw(st.booleans()):
        body = draw(st.binary(min_size=4, max_size=20))
        params["ech"] = "ech=" + _b64(len(body).to_bytes(2, "big") + body)
    if draw(st.booleans()):
        k = draw(st.integers(11, 65535))
        v = draw(st.text(string.ascii_letters + string.digits, max_size=6))
        params[f"key{k}"] = f"key{k}={v}" if v else f"key{k}"
    if params and draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(sorted(k for k in params if k != "no-default-alpn")),
                             min_size=1, unique=True)) if len(params) > 1 else []
        if keys:
            params["mandatory"] = "mandatory=" + ",".join(keys)
    order = draw(st.permutations(sorted(params)))
    return " ".join(params[k] for k in order)


@st.composite
def svcb_text(draw):
    if draw(st.integers(0, 5)) == 0:
        return f"0 {draw(target_name())}"               # AliasMode
    return f"{draw(st.integers(1, 65535))} {draw(target_name())} {draw(svcb_params())}".rstrip()


@st.composite
def rdata(draw):
    """(type mnemonic, rdata text) for the types the C parser encodes and a few it
    leaves to dnspython."""
    t = draw(st.sampled_from([
        "A", "AAAA", "NS", "CNAME", "PTR", "DNAME", "MX", "KX", "AFSDB", "TXT", "SPF",
        "SRV", "CAA", "DS", "CDS", "DNSKEY", "CDNSKEY", "SSHFP", "TLSA", "SMIMEA", "NAPTR",
        "HINFO", "NSEC", "NSEC3", "NSEC3PARAM", "RRSIG", "SOA", "ZONEMD", "URI",
        "OPENPGPKEY", "RP", "DHCID", "GENERIC", "LOC", "SVCB",
        "EUI48", "EUI64", "CERT", "SIG", "LP", "L32", "NID", "L64", "KEY"]))
    if t == "A":
        return t, str(ipaddress.IPv4Address(draw(u32)))
    if t == "AAAA":
        return t, str(ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1))))
    if t in ("NS", "CNAME", "PTR", "DNAME"):
        return t, draw(target_name())
    if t in ("MX", "KX", "AFSDB"):
        return t, f"{draw(u16)} {draw(target_name())}"
    if t in ("TXT", "SPF"):
        return t, " ".join(draw(st.lists(charstring(), min_size=1, max_size=4)))
    if t == "SRV":
        return t, f"{draw(u16)} {draw(u16)} {draw(u16)} {draw(target_name())}"
    if t == "CAA":
        tag = draw(st.text(string.ascii_letters + string.digits, min_size=1, max_size=10))
        return t, f"{draw(u8)} {tag} {_qstring(draw(st.binary(max_size=30)))}"
    if t in ("DS", "CDS"):
        dt, ln = draw(st.sampled_from([(1, 20), (2, 32), (4, 48), (7, 5)]))
        alg = draw(st.sampled_from(["8", "13", "RSASHA256", "ecdsap256sha256", "253"]))
        return t, f"{draw(u16)} {alg} {dt} {_split(_hex(draw(st.binary(min_size=ln, max_size=ln))), draw)}"
    if t in ("DNSKEY", "CDNSKEY"):
        key = _b64(draw(st.binary(min_size=1, max_size=60)))
        return t, f"{draw(st.sampled_from([256, 257, 0]))} 3 {draw(st.sampled_from(['8', '15', 'ED25519']))} {_split(key, draw)}"
    if t == "SSHFP":
        ft, ln = draw(st.sampled_from([(1, 20), (2, 32), (9, 7)]))
        return t, f"{draw(u8)} {ft} {_hex(draw(st.binary(min_size=ln, max_size=ln)))}"
    if t in ("TLSA", "SMIMEA"):
        mt, ln = draw(st.sampled_from([(1, 32), (2, 64), (0, 10)]))
        return t, f"{draw(u8)} {draw(u8)} {mt} {_split(_hex(draw(st.binary(min_size=ln, max_size=ln))), draw)}"
    if t == "NAPTR":
        return t, (f"{draw(u16)} {draw(u16)} {draw(charstring(10))} {draw(charstring(10))} "
                   f"{draw(charstring(20))} {draw(target_name())}")
    if t == "HINFO":
        return t, f"{draw(charstring(20))} {draw(charstring(20))}"
    if t == "NSEC":
        types = draw(st.lists(st.sampled_from(_bitmap_types), max_size=6))
        return t, f"{draw(target_name())} {' '.join(types)}"
    if t == "NSEC3":
        salt = draw(st.one_of(st.just("-"), st.binary(min_size=1, max_size=8).map(_hex)))
        nxt = base64.b32hexencode(draw(st.binary(min_size=20, max_size=20))).decode().rstrip("=")
        if draw(st.booleans()):
            nxt = nxt.lower()
        types = draw(st.lists(st.sampled_from(_bitmap_types), max_size=5))
        return t, f"1 {draw(st.sampled_from([0, 1]))} {draw(st.integers(0, 100))} {salt} {nxt} {' '.join(types)}"
    if t == "NSEC3PARAM":
        salt = draw(st.one_of(st.just("-"), st.binary(min_size=1, max_size=8).map(_hex)))
        return t, f"1 0 {draw(u16)} {salt}"
    if t == "RRSIG":
        def stime():
            v = draw(st.integers(0, 2**32 - 1))
            if draw(st.booleans()):
                import time
                return time.strftime("%Y%m%d%H%M%S", time.gmtime(v))
            return str(v)
        sig = _b64(draw(st.binary(min_size=1, max_size=64)))
        cov = draw(st.sampled_from(["A", "SOA", "TYPE999", "NSEC"]))
        return t, (f"{cov} 13 {draw(st.integers(0, 5))} {draw(st.sampled_from(['3600', '1h']))} "
                   f"{stime()} {stime()} {draw(u16)} {draw(target_name())} {_split(sig, draw)}")
    if t == "SOA":
        ttls = [draw(st.sampled_from(["3600", "1h", "2w", "90m", "0"])) for _ in range(4)]
        return t, f"{draw(target_name())} {draw(target_name())} {draw(u32)} {' '.join(ttls)}"
    if t == "ZONEMD":
        return t, f"{draw(u32)} 1 1 {_hex(draw(st.binary(min_size=48, max_size=48)))}"
    if t == "URI":
        return t, f"{draw(u16)} {draw(u16)} {_qstring(draw(st.binary(min_size=1, max_size=30)))}"
    if t == "RP":
        return t, f"{draw(target_name())} {draw(target_name())}"
    if t in ("OPENPGPKEY", "DHCID"):
        return t, _split(_b64(draw(st.binary(min_size=1, max_size=50))), draw)
    if t == "GENERIC":
        data = draw(st.binary(max_size=20))
        tn = "TYPE%d" % draw(st.sampled_from([65400, 65280, 3000]))
        return tn, f"\\# {len(data)} {_hex(data)}" if data else "\\# 0"
    if t == "LOC":
        return t, f"{draw(st.integers(0, 89))} {draw(st.integers(0, 59))} N {draw(st.integers(0, 179))} E {draw(st.integers(0, 1000))}m"
    if t == "SVCB":
        return draw(st.sampled_from(["SVCB", "HTTPS"])), draw(svcb_text())
    if t in ("EUI48", "EUI64"):
        n = 6 if t == "EUI48" else 8
        return t, "-".join(draw(st.sampled_from(["%02x", "%02X"])) % b
                           for b in draw(st.binary(min_size=n, max_size=n)))
    if t == "CERT":
        ctype = draw(st.sampled_from(["PKIX", "PGP", "URI", "OID", "1", "65535"]))
        alg = draw(st.sampled_from(["8", "RSASHA256", "0"]))
        return t, f"{ctype} {draw(u16)} {alg} {_split(_b64(draw(st.binary(min_size=1, max_size=40))), draw)}"
    if t == "SIG":
        return t, (f"A 8 2 3600 {draw(u32)} {draw(u32)} {draw(u16)} {draw(target_name())} "
                   f"{_b64(draw(st.binary(min_size=1, max_size=30)))}")
    if t == "KEY":                     # left to dnspython
        return t, f"256 3 8 {_b64(draw(st.binary(min_size=1, max_size=30)))}"
    if t == "LP":
        return t, f"{draw(u16)} {draw(target_name())}"
    if t == "L32":
        return t, f"{draw(u16)} {ipaddress.IPv4Address(draw(u32))}"
    if t in ("NID", "L64"):
        b = draw(st.binary(min_size=8, max_size=8)).hex()
        return t, f"{draw(u16)} " + ":".join(b[i:i + 4] for i in range(0, 16, 4))
    raise AssertionError(t)


def _space_outside_quotes(text):
    """Index of the first space that separates tokens (not inside a quoted string, not
    escaped), or -1: a line break may only go there (RFC 1035 5.1: a quoted string
    cannot span lines)."""
    quoted = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == " " and not quoted:
            return i
    return -1


def _ttl_text(draw):
    v = draw(st.integers(0, 2**31 - 1))
    form = draw(st.sampled_from(["plain", "units", "upper"]))
    if form == "plain" or v == 0:
        return str(v)
    w, r = divmod(v, 604800)
    d, r = divmod(r, 86400)
    h, r = divmod(r, 3600)
    m, s = divmod(r, 60)
    text = "".join(f"{n}{u}" for n, u in ((w, "w"), (d, "d"), (h, "h"), (m, "m"), (s, "s")) if n)
    return text.upper() if form == "upper" else text


@st.composite
def zone_text(draw):
    lines = []
    if draw(st.booleans()):
        lines.append(f"$TTL {_ttl_text(draw)}")
        explicit_first = False
    else:
        explicit_first = True        # dnspython needs a TTL before the first record
    prev_cname = True                # no inherited owner on the first line
    cname_no = 0
    have_soa = False
    for i in range(draw(st.integers(1, 15))):
        r = draw(st.integers(0, 19))
        if r == 0:
            lines.append(f"$TTL {_ttl_text(draw)} ; default changes")
            continue
        if r == 1:
            lines.append(draw(st.sampled_from([f"$ORIGIN sub.{ORIGIN}", f"$ORIGIN {ORIGIN}",
                                               "$ORIGIN deeper"])))
            if lines[-1] == "$ORIGIN deeper":
                lines[-1] = f"$ORIGIN deeper.{ORIGIN}"
            prev_cname = True
            continue
        if r == 2:
            lines.append(draw(st.sampled_from(["", "; a comment", "   ", "\t; indented comment"])))
            continue
        rtype, text = draw(rdata())
        if rtype == "SOA":
            if have_soa:              # SOA is a singleton: dnspython keeps only the last
                continue
            have_soa = True
        if rtype in ("CNAME", "DNAME", "NSEC"):   # singletons: dnspython replaces them
            cname_no += 1
            owner = f"alias{cname_no}-{rtype.lower()}"
        elif rtype == "SOA":
            owner = ORIGIN            # dnspython refuses an SOA anywhere else
        elif not prev_cname and draw(st.booleans()):
            owner = ""                # inherited
        else:
            owner = draw(owner_name())
        prev_cname = rtype in ("CNAME", "DNAME", "NSEC")
        fields = []
        ttl = _ttl_text(draw) if (explicit_first or draw(st.booleans())) else None
        explicit_first = False
        cls = "IN" if draw(st.booleans()) else None
        if cls and draw(st.booleans()):
            cls = draw(st.sampled_from(["in", "CLASS1"]))
        if ttl and cls and draw(st.booleans()):
            fields += [cls, ttl]
        else:
            fields += [x for x in (ttl, cls) if x]
        fields.append(rtype if draw(st.booleans()) else rtype.lower())
        lead = owner if owner else draw(st.sampled_from([" ", "\t", "   "]))
        style = draw(st.integers(0, 3))
        cut = _space_outside_quotes(text)
        if style == 1 and cut > 0:         # parentheses across lines, comments inside
            a, b = text[:cut], text[cut + 1:]
            body = f"( {a} ; first part\n\t\t{b} )"
        elif style == 2:
            body = f"{text} ; trailing comment"
        elif style == 3:
            body = f"({text})"
        else:
            body = text
        lines.append(lead + " " + " ".join(fields) + " " + body)
    return "\n".join(lines) + "\n"


# ---- comparison ----

def _group(records):
    """(owner, type, covers) -> (min ttl, {rdata object: first wire}) — the shape of a
    dnspython zone (identical rdatas merged, RRset TTL is the minimum)."""
    out = {}
    for owner, ttl, rtype, wire in records:
        rd = dns.rdata.from_wire(dns.rdataclass.IN, rtype, wire, 0, len(wire))
        key = (owner, rtype, rd.covers())
        t, rds = out.get(key, (ttl, {}))
        rds.setdefault(rd, wire)
        out[key] = (min(t, ttl), rds)
    return {k: (t, sorted(v.values())) for k, (t, v) in out.items()}


def ours(text):
    recs, msgs = _core.parse_zone_text(text, ORIGIN)
    assert msgs == [], msgs
    res = []
    for owner, ttl, rclass, rtype, wire in recs:
        assert rclass == 1
        res.append((dns.name.from_wire(owner, 0)[0], ttl, rtype, wire))
    return res


def theirs(text):
    z = dns.zone.from_text(text, ORIGIN, relativize=False, check_origin=False)
    res = []
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            for rd in rds:
                res.append((name, rds.ttl, rds.rdtype, rd.to_wire()))
    return res


@SETTINGS
@given(zone_text())
def test_random_zone_matches_dnspython(text):
    assert _group(ours(text)) == _group(theirs(text)), text


@SETTINGS
@given(rdata(), st.sampled_from([ORIGIN, "sub.example.com.", "."]))
def test_rdata_wire_equals_dnspython(rd, origin):
    rtype, text = rd
    recs, msgs = _core.parse_zone_text(f"$ORIGIN {origin}\nx 60 IN {rtype} {text}\n", ORIGIN)
    assert msgs == []
    expected = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), text,
                                   origin=dns.name.from_text(origin),
                                   relativize=False).to_wire()
    assert recs[0][4] == expected, (rtype, text)


@SETTINGS
@given(rel_name(), st.sampled_from(["", "."]))
def test_owner_wire_equals_dnspython(name, dot):
    recs, msgs = _core.parse_zone_text(f"{name}{dot} 1 A 192.0.2.1\n", ORIGIN)
    want = dns.name.from_text(name + dot, dns.name.from_text(ORIGIN))
    assert msgs == []
    assert recs[0][0] == want.to_wire()     # case and escapes kept as written


def test_type_table_covers_dnspython():
    """Every mnemonic dnspython knows maps to the same number, and back."""
    for t in dns.rdatatype.RdataType:
        text = dns.rdatatype.to_text(t)
        assert _core.type_from_text(text) == int(t), text
        assert _core.type_from_text(text.lower()) == int(t), text
        if not text.startswith("TYPE"):
            assert _core.type_to_text(int(t)) == text
    assert _core.type_from_text("TYPE65400") == 65400
    assert _core.type_from_text("TYPE65536") == -1
    assert _core.type_from_text("FOO") == -1


@SETTINGS
@given(st.sampled_from(["SVCB", "HTTPS"]), svcb_text())
def test_svcb_fast_path_equals_dnspython(rtype, text):
    """SVCB/HTTPS without escapes are encoded in C, byte for byte as dnspython does."""
    recs, flags, msgs = _core._parse_c_only(f"x 60 {rtype} {text}\n", ORIGIN)
    assert msgs == [] and flags == [False], text
    expected = dns.rdata.from_text(dns.rdataclass.IN, rtype, text,
                                   origin=dns.name.from_text(ORIGIN), relativize=False)
    assert recs[0][4] == expected.to_wire(), text
