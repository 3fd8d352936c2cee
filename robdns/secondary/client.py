"""client — the secondary's side of the wire: the SOA query to a primary (UDP, TCP when
truncated) and the zone transfer over TCP (RFC 5936, RFC 1995), every message checked
against the TSIG key when one is configured (RFC 8945), within a time and a size limit.

The transfer itself (the TCP reads, the framing, every record and every message's TSIG)
is read by robdns._core.XfrIn.receive in C without the GIL; this module connects, sends
the request and builds the SOA query with dnspython.
"""

import asyncio
import dataclasses
import socket
import struct
import time

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig

from robdns.errors import TransferError

EDNS_EXPIRE = 9                   # RFC 7314
SOA_TIMEOUT = 3.0                 # seconds for one SOA query


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
    bytes; nothing is kept of a transfer that fails.

    Python connects and sends the request; XfrIn.receive then reads the whole response
    in C on an executor thread without the GIL (the framing, every message and its TSIG,
    RFC 8945 5.3.1), with the time left and the size limit."""
    from robdns import _core
    wire, qid, request_mac = transfer_request(zone, qtype, serial, key)
    x = _core.XfrIn(zone, qtype, qid, serial)
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    host, port = remote.address.host, remote.address.port
    sock = None
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM),
                                       max(0.0, deadline - time.monotonic()))
        family, type_, proto, _, addr = infos[0]
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        await asyncio.wait_for(loop.sock_connect(sock, addr), max(0.0, deadline - time.monotonic()))
        await asyncio.wait_for(loop.sock_sendall(sock, struct.pack("!H", len(wire)) + wire),
                               max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        if sock is not None:
            sock.close()
        raise TransferError(f"{qtype}: connection timed out") from None
    except OSError as e:
        if sock is not None:
            sock.close()
        raise TransferError(f"{qtype}: cannot connect: {e.strerror or e}") from None
    # the deadline is time.monotonic()'s: CLOCK_MONOTONIC, which the C loop reads
    fut = loop.run_in_executor(None, x.receive, sock.fileno(), key, request_mac or b"", timeout,
                               max_size, deadline)
    cancelled = False
    try:
        total = await asyncio.shield(fut)
    except asyncio.CancelledError:
        # the reading thread wakes on the shutdown and ends; the socket closes after it
        cancelled = True
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass            # the primary hung up already: the thread ends on its own
        fut.add_done_callback(lambda f: (sock.close(), f.cancelled() or f.exception()))
        raise
    finally:
        if not cancelled:
            sock.close()
    return x, total
