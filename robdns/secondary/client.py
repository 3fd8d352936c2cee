"""client — the secondary's side of the wire: the SOA query to a primary (UDP, TCP when
truncated) and the zone transfer over TCP (RFC 5936, RFC 1995), every message checked
against the TSIG key when one is configured (RFC 8945), within a time and a size limit.

The bulk of a transfer (reading every record) is done by robdns._core.XfrIn in C; this
module only frames the messages and verifies their signatures.
"""

import asyncio
import dataclasses
import struct
import time

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig

from robdns.errors import TransferError

EDNS_EXPIRE = 9                   # RFC 7314
SOA_TIMEOUT = 3.0                 # seconds for one SOA query
MAX_UNSIGNED = 99                 # RFC 8945 5.3.1: at most 99 unsigned messages in a row


@dataclasses.dataclass
class SoaAnswer:
    serial: int
    expire: object = None         # the primary's EDNS EXPIRE (RFC 7314), seconds, or None


def tsig_key(key):
    """A robdns.config.TsigKey as dnspython's key object."""
    if key is None:
        return None
    return dns.tsig.Key(key.name, key.secret, key.algorithm)


def _expire_option():
    # RFC 7314 2: in a query the option is empty
    return dns.edns.GenericOption(EDNS_EXPIRE, b"")


def _read_expire(msg):
    for opt in msg.options:
        if opt.otype == EDNS_EXPIRE:
            data = opt.to_wire() if hasattr(opt, "to_wire") else b""
            if len(data) == 4:
                return struct.unpack("!I", data)[0]
    return None


async def soa_query(remote, zone, key=None, timeout=SOA_TIMEOUT):
    """The primary's SOA serial of `zone` (RFC 1034 4.3.5: the refresh check).  Raises
    TransferError when it does not answer with an authoritative SOA."""
    import dns.asyncquery
    q = dns.message.make_query(zone, dns.rdatatype.SOA, use_edns=0, options=[_expire_option()])
    q.flags &= ~dns.flags.RD
    k = tsig_key(key)
    if k is not None:
        q.use_tsig({k.name: k}, keyname=k.name)
    host, port = remote.address.host, remote.address.port
    try:
        r = await dns.asyncquery.udp(q, host, port=port, timeout=timeout)
        if r.flags & dns.flags.TC:
            r = await dns.asyncquery.tcp(q, host, port=port, timeout=timeout)
    except dns.exception.Timeout:
        raise TransferError("SOA query: no answer") from None
    except dns.tsig.PeerError as e:
        raise TransferError(f"SOA query: TSIG error from the primary: {e}") from None
    except dns.exception.DNSException as e:
        raise TransferError(f"SOA query: {e}") from None
    if k is not None and not r.had_tsig:
        raise TransferError("SOA query: the answer is not signed")
    if r.rcode() != dns.rcode.NOERROR:
        raise TransferError(f"SOA query: the primary answered {dns.rcode.to_text(r.rcode())}",
                            rcode=r.rcode())
    if not r.flags & dns.flags.AA:
        raise TransferError("SOA query: the answer is not authoritative")
    name = dns.name.from_text(zone)
    for rrset in r.answer:
        if rrset.name == name and rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return SoaAnswer(rrset[0].serial, _read_expire(r))
    raise TransferError("SOA query: no SOA in the answer")


class _Verifier:
    """TSIG over a multi-message response (RFC 8945 5.3.1): each signed message chains
    from the previous MAC; unsigned ones in between (at most 99) go into the next digest."""

    def __init__(self, key, request_mac):
        self.key = key
        self.request_mac = request_mac
        self.ctx = None
        self.unsigned = 0

    def message(self, wire, tsig_off):
        if not tsig_off:
            if self.ctx is None:
                raise TransferError("the first message of the transfer is not signed")
            self.unsigned += 1
            if self.unsigned > MAX_UNSIGNED:
                raise TransferError(f"more than {MAX_UNSIGNED} unsigned messages in a row")
            self.ctx.update(wire)
            return
        owner, used = dns.name.from_wire(wire, tsig_off)
        p = tsig_off + used
        rtype, rclass, _ttl, rdlen = struct.unpack("!HHIH", wire[p:p + 10])
        rdata = dns.rdata.from_wire(dns.rdataclass.ANY, dns.rdatatype.TSIG, wire, p + 10, rdlen)
        if owner != self.key.name:
            raise TransferError(f"message signed with key {owner}, not {self.key.name}")
        if rdata.error:
            raise TransferError(f"TSIG error {dns.rcode.to_text(rdata.error)} from the primary")
        try:
            self.ctx = dns.tsig.validate(wire, self.key, owner, rdata, time.time(),
                                         self.request_mac, tsig_off, self.ctx, multi=True)
        except dns.exception.DNSException as e:
            raise TransferError(f"TSIG verification failed: {e}") from None
        self.unsigned = 0


def transfer_request(zone, qtype, serial=0, key=None):
    """(wire, message id, request MAC) of an AXFR or IXFR request; an IXFR carries the
    serial we have as an SOA in the authority section (RFC 1995 3)."""
    q = dns.message.make_query(zone, qtype, use_edns=0, options=[_expire_option()])
    q.flags &= ~dns.flags.RD
    if qtype == "IXFR":
        q.authority.append(dns.rrset.from_text(zone, 0, "IN", "SOA", f". . {serial} 0 0 0 0"))
    k = tsig_key(key)
    if k is not None:
        q.use_tsig({k.name: k}, keyname=k.name)
    wire = q.to_wire()
    return wire, q.id, (q.mac if k is not None else None)


async def transfer(remote, zone, qtype, serial=0, key=None, timeout=300.0, max_size=1 << 30):
    """Run one AXFR or IXFR from `remote`: returns (the complete robdns._core.XfrIn, whose
    image() is the next version; the bytes received).  Raises TransferError (with the RCODE when the primary
    answered one), also when it takes longer than `timeout` or sends more than `max_size`
    bytes; nothing is kept of a transfer that fails."""
    from robdns import _core
    wire, qid, request_mac = transfer_request(zone, qtype, serial, key)
    k = tsig_key(key)
    verifier = _Verifier(k, request_mac) if k is not None else None
    x = _core.XfrIn(zone, qtype, qid, serial)
    total = 0
    deadline = asyncio.get_running_loop().time() + timeout

    async def within(coro):
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise asyncio.TimeoutError()
        return await asyncio.wait_for(coro, left)

    host, port = remote.address.host, remote.address.port
    try:
        reader, writer = await within(asyncio.open_connection(host, port))
    except asyncio.TimeoutError:
        raise TransferError(f"{qtype}: connection timed out") from None
    except OSError as e:
        raise TransferError(f"{qtype}: cannot connect: {e.strerror or e}") from None
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        while True:
            # RFC 1035 4.2.2 / RFC 7766 8: each message behind its two-octet length
            head = await within(reader.readexactly(2))
            (n,) = struct.unpack("!H", head)
            total += n + 2
            if total > max_size:
                raise TransferError(f"{qtype}: larger than the limit of {max_size} bytes")
            msg = await within(reader.readexactly(n))
            done, tsig_off = x.feed(msg)
            if verifier is not None:
                verifier.message(msg, tsig_off)
            if done:
                if verifier is not None and not tsig_off:
                    # RFC 8945 5.3.1: the last message must be signed
                    raise TransferError(f"{qtype}: the last message is not signed")
                break
    except asyncio.TimeoutError:
        raise TransferError(f"{qtype}: no complete transfer within {timeout:g} s") from None
    except asyncio.IncompleteReadError:
        raise TransferError(f"{qtype}: the primary closed the connection before the end") from None
    except OSError as e:
        raise TransferError(f"{qtype}: {e.strerror or e}") from None
    finally:
        writer.close()
    return x, total
