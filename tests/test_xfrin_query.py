"""test_xfrin_query — the secondary's SOA query and transfer request, built, signed and
checked in C (zone/xfrin_query.c through _core.xfr_query / _core.soa_answer and
robdns.secondary.client.soa_query): requests dnspython verifies with the key (RFC 8945
4.3.3), IXFR's serial in the authority section (RFC 1995 3), EDNS EXPIRE asked (RFC 7314);
answers refused when unsigned, badly signed, not NOERROR, not authoritative or without the
SOA; answers to another query ignored on UDP; TC asked again over TCP; no answer times out;
serial order by RFC 1982."""
import asyncio
import socket
import struct
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import pytest

from robdns import _core
from robdns.config import ListenAddress, Remote, TsigKey
from robdns.errors import TransferError
from robdns.secondary import client

ORIGIN = "example.net."
SECRET = b"a-test-secret-for-the-soa-query"
KEY = TsigKey("xfr.key.", "hmac-sha256", SECRET)
DNSPY_ALG = {"hmac-md5": dns.tsig.HMAC_MD5, "hmac-sha1": dns.tsig.HMAC_SHA1,
             "hmac-sha256": dns.tsig.HMAC_SHA256, "hmac-sha512": dns.tsig.HMAC_SHA512}
SOA_TEXT = "ns1.example.net. hostmaster.example.net. {} 3600 600 86400 300"


def keyring(key=KEY, secret=None):
    return {dns.name.from_text(key.name): dns.tsig.Key(key.name, secret or key.secret,
                                                        DNSPY_ALG[key.algorithm])}


@pytest.mark.parametrize("alg", sorted(DNSPY_ALG))
@pytest.mark.parametrize("qtype", ["SOA", "AXFR", "IXFR"])
def test_request_signed_and_shaped(alg, qtype):
    key = TsigKey("xfr.key.", alg, SECRET)
    wire, mac = _core.xfr_query("Example.NET.", qtype, 4321, 77, key)
    q = dns.message.from_wire(wire, keyring=keyring(key))      # raises on a bad MAC
    assert q.had_tsig and q.mac == mac
    assert q.id == 4321 and not q.flags & dns.flags.RD and not q.flags & dns.flags.QR
    assert q.question[0].name == dns.name.from_text(ORIGIN)
    assert q.question[0].rdtype == dns.rdatatype.from_text(qtype)
    assert [o.otype for o in q.options] == [9] and q.payload == 1232
    if qtype == "IXFR":
        (soa,) = q.authority
        assert soa.rdtype == dns.rdatatype.SOA and soa[0].serial == 77
    else:
        assert not q.authority


def test_request_tampered_fails_dnspython():
    wire, _mac = _core.xfr_query(ORIGIN, "AXFR", 1, 0, KEY)
    with pytest.raises(dns.tsig.BadSignature):
        dns.message.from_wire(wire, keyring=keyring(secret=b"another-secret"))
    flipped = bytearray(wire)
    flipped[15] ^= 0x20                    # a letter of the question's name
    with pytest.raises(dns.tsig.BadSignature):
        dns.message.from_wire(bytes(flipped), keyring=keyring())


def test_request_unsigned():
    wire, mac = _core.xfr_query(ORIGIN, "IXFR", 9, 5)
    q = dns.message.from_wire(wire)
    assert mac == b"" and not q.had_tsig and q.authority[0][0].serial == 5


def answer(qwire, serial=7, rcode=dns.rcode.NOERROR, aa=True, soa=True, tc=False, expire=None,
           sign=True, secret=None, qid=None, qname=ORIGIN, tsig_error=0):
    """The primary's answer to our query wire, made (and signed) by dnspython."""
    q = dns.message.from_wire(qwire, keyring=keyring())
    r = dns.message.make_response(q)
    if qid is not None:
        r.id = qid
    if qname != ORIGIN:
        r.question = [dns.rrset.RRset(dns.name.from_text(qname), 1, dns.rdatatype.SOA)]
    r.set_rcode(rcode)
    r.flags = (r.flags | dns.flags.AA) if aa else (r.flags & ~dns.flags.AA)
    if tc:
        r.flags |= dns.flags.TC
    if soa:
        r.answer.append(dns.rrset.from_text(ORIGIN, 300, "IN", "SOA", SOA_TEXT.format(serial)))
    opts = [dns.edns.GenericOption(9, struct.pack("!I", expire))] if expire is not None else []
    r.use_edns(0, options=opts)
    if not sign:
        r.tsig = None
        r.keyring = None
    elif secret is not None or tsig_error:
        r.use_tsig(keyring(secret=secret), tsig_error=tsig_error)
        r.request_mac = q.mac
    return r.to_wire()


def check(awire, qid, mac, key=KEY):
    return _core.soa_answer(awire, ORIGIN, qid, key, mac)


def test_soa_answer_good():
    qwire, mac = _core.xfr_query(ORIGIN, "SOA", 77, 0, KEY)
    assert check(answer(qwire, serial=2026120201), 77, mac) == ("ok", 2026120201, None)
    assert check(answer(qwire, expire=86400), 77, mac) == ("ok", 7, 86400)
    # unsigned exchange: no key, no TSIG needed
    qw, m0 = _core.xfr_query(ORIGIN, "SOA", 78, 0)
    r = dns.message.make_response(dns.message.from_wire(qw))
    r.flags |= dns.flags.AA
    r.answer.append(dns.rrset.from_text(ORIGIN, 300, "IN", "SOA", SOA_TEXT.format(9)))
    assert _core.soa_answer(r.to_wire(), ORIGIN, 78, None, m0) == ("ok", 9, None)


def test_soa_answer_compressed_soa_names():
    # dnspython compresses MNAME/RNAME against the question: the serial is still found
    qwire, mac = _core.xfr_query(ORIGIN, "SOA", 5, 0, KEY)
    a = answer(qwire, serial=123)
    assert b"\xc0" in a[12 + 13 + 4:]
    assert check(a, 5, mac)[1] == 123


def test_soa_answer_not_ours():
    qwire, mac = _core.xfr_query(ORIGIN, "SOA", 77, 0, KEY)
    assert check(answer(qwire, qid=78), 77, mac)[0] == "not ours"
    assert check(answer(qwire, qname="example.org."), 77, mac)[0] == "not ours"
    assert check(qwire, 77, mac)[0] == "not ours"                 # a query, not an answer
    assert check(b"\x00\x4d", 77, mac)[0] == "not ours"


def test_soa_answer_truncated_asks_tcp():
    qwire, mac = _core.xfr_query(ORIGIN, "SOA", 77, 0, KEY)
    assert check(answer(qwire, tc=True, soa=False, sign=False), 77, mac)[0] == "tc"


@pytest.mark.parametrize("kw, why", [
    ({"sign": False}, "not signed"),
    ({"secret": b"the-wrong-secret"}, "TSIG verification failed"),
    ({"rcode": dns.rcode.REFUSED}, "answered REFUSED"),
    ({"aa": False}, "not authoritative"),
    ({"soa": False}, "no SOA"),
])
def test_soa_answer_refused(kw, why):
    qwire, mac = _core.xfr_query(ORIGIN, "SOA", 77, 0, KEY)
    with pytest.raises(TransferError, match=why) as e:
        check(answer(qwire, **kw), 77, mac)
    if "rcode" in kw:
        assert e.value.rcode == dns.rcode.REFUSED


def test_soa_answer_signed_for_another_request():
    # a valid signature, but chained from another request's MAC (a replayed answer)
    qwire, mac = _core.xfr_query(ORIGIN, "SOA", 77, 0, KEY)
    qwire2, _mac2 = _core.xfr_query(ORIGIN, "SOA", 77, 0, KEY, now=time.time() - 10)
    with pytest.raises(TransferError, match="TSIG verification failed"):
        check(answer(qwire2), 77, mac)
    # and one signed too long ago (RFC 8945 5.2.3: outside the fudge)
    with pytest.raises(TransferError, match="TSIG verification failed"):
        _core.soa_answer(answer(qwire), ORIGIN, 77, KEY, mac, now=10 ** 10)


def test_soa_answer_malformed():
    qwire, mac = _core.xfr_query(ORIGIN, "SOA", 77, 0, KEY)
    a = answer(qwire)
    for cut in (len(a) - 1, len(a) - 40, 40):
        with pytest.raises(TransferError):
            check(a[:cut], 77, mac)
    with pytest.raises(TransferError, match="after the last record"):
        check(a + b"\0", 77, mac)


def test_serial_arithmetic_rfc1982():
    lt = _core.serial_lt
    assert lt(1, 2) and not lt(2, 1) and not lt(5, 5)
    assert lt(0xFFFFFFFF, 0) and not lt(0, 0xFFFFFFFF)          # wraps (RFC 1982 3.2)
    assert lt(0, 0x7FFFFFFF) and not lt(0x7FFFFFFF, 0)
    # exactly 2^31 apart: undefined, neither is newer
    assert not lt(0, 0x80000000) and not lt(0x80000000, 0)
    assert lt(0x80000000, 0xFFFFFFFF) and lt(0xFFFFFFF0, 0x0000000F)


# ---- soa_query over loopback against a scripted primary

class ScriptedPrimary:
    """UDP (and TCP) on one loopback port: each UDP query gets the answers script(wire)
    returns, in order; TCP queries get tcp_script(wire)."""

    def __init__(self, script, tcp_script=None):
        # a free UDP port whose TCP twin is free too: another process's connection may hold
        # the TCP one (seen while a second test run shared the machine), so try again
        for _ in range(50):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.tcp.close()
                self.udp.close()
        else:
            raise OSError("no port free for both UDP and TCP")
        self.tcp.listen(4)
        self.script, self.tcp_script = script, tcp_script
        self.udp_queries = self.tcp_queries = 0
        self.stop = False
        threading.Thread(target=self._udp, daemon=True).start()
        threading.Thread(target=self._tcp, daemon=True).start()
        self.remote = Remote(ListenAddress("127.0.0.1", self.port), KEY.name)

    def _udp(self):
        self.udp.settimeout(0.2)
        while not self.stop:
            try:
                wire, addr = self.udp.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            self.udp_queries += 1
            for a in self.script(wire):
                self.udp.sendto(a, addr)

    def _tcp(self):
        self.tcp.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.tcp.accept()
            except (socket.timeout, OSError):
                continue
            with c:
                c.settimeout(5)
                n = struct.unpack("!H", c.recv(2, socket.MSG_WAITALL))[0]
                wire = c.recv(n, socket.MSG_WAITALL)
                self.tcp_queries += 1
                for a in self.tcp_script(wire):
                    c.sendall(struct.pack("!H", len(a)) + a)

    def close(self):
        self.stop = True
        self.udp.close()
        self.tcp.close()


def query(primary, key=KEY, timeout=3.0):
    return asyncio.run(client.soa_query(primary.remote, ORIGIN, key, timeout=timeout))


def test_soa_query_ignores_answers_to_other_queries():
    def script(q):
        qid = struct.unpack("!H", q[:2])[0]
        # a forged answer first (another ID, a newer serial), then the primary's
        return [answer(q, serial=999, qid=qid ^ 1), answer(q, serial=42, expire=600)]
    p = ScriptedPrimary(script)
    try:
        got = query(p)
        assert (got.serial, got.expire) == (42, 600)
    finally:
        p.close()


def test_soa_query_truncated_goes_tcp():
    p = ScriptedPrimary(lambda q: [answer(q, tc=True, soa=False, sign=False)],
                        lambda q: [answer(q, serial=43)])
    try:
        assert query(p).serial == 43
        assert p.udp_queries == 1 and p.tcp_queries == 1
    finally:
        p.close()


def test_soa_query_refused_and_badly_signed():
    p = ScriptedPrimary(lambda q: [answer(q, rcode=dns.rcode.REFUSED, soa=False)])
    try:
        with pytest.raises(TransferError, match="SOA query: the primary answered REFUSED") as e:
            query(p)
        assert e.value.rcode == dns.rcode.REFUSED
    finally:
        p.close()
    p = ScriptedPrimary(lambda q: [answer(q, secret=b"not-the-key")])
    try:
        with pytest.raises(TransferError, match="SOA query: TSIG verification failed"):
            query(p)
    finally:
        p.close()


def test_soa_query_no_answer_times_out():
    p = ScriptedPrimary(lambda q: [])
    try:
        with pytest.raises(TransferError, match="SOA query: no answer"):
            query(p, timeout=0.3)
        assert p.udp_queries == 1
    finally:
        p.close()


def test_soa_query_nobody_listening():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    remote = Remote(ListenAddress("127.0.0.1", port), KEY.name)
    with pytest.raises(TransferError, match="SOA query: no answer"):
        asyncio.run(client.soa_query(remote, ORIGIN, KEY, timeout=2.0))


def test_secondary_client_imports_no_dns_library(tmp_path):
    # the secondary's modules, its query, and the kept copy's text of a zone of the common
    # types (a genzone zone's; the image read as a start reads its kept copy) import no
    # dnspython
    import subprocess
    import sys
    zone = ('@ 60 SOA ns1 hostmaster 1 2 3 4 5\n@ 60 NS ns1\n@ 60 MX 10 mx\n'
            '@ 60 TXT "v=spf1 -all"\nns1 60 A 192.0.2.1\nns1 60 AAAA 2001:db8::1\n'
            'www 60 CNAME ns1\n_sip._tcp 60 SRV 0 5 5060 ns1\n*.w 60 A 192.0.2.2\n')
    path = str(tmp_path / "zone.img")
    _core.compile_zone_text(ORIGIN, zone).save(path)
    code = ("import sys; from robdns.secondary import client, refresh, flush, notify, expire; "
            "from robdns import _core; _core.xfr_query('example.net.', 'IXFR', 1, 2, None); "
            f"img = _core.ZoneImage.load({path!r}); "
            "assert len(''.join(flush.zone_lines(img)).splitlines()) == 9; "
            "print(sorted(m for m in sys.modules if m == 'dns' or m.startswith('dns.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
