"""client — the secondary's side of the wire: the SOA query to a primary (UDP, TCP when
truncated) and the zone transfer over TCP (RFC 5936, RFC 1995), every message checked
against the TSIG key when one is configured (RFC 8945), within a time and a size limit.

The messages are built, signed and checked in C (zone/xfrin_query.c: the SOA query, its
answer and the transfer request; zone/xfrin_recv.c: the whole transfer, read by
robdns._core.XfrIn.receive without the GIL); this module only moves the bytes.  No DNS
library is imported on the secondary's path (dnspython alone would add 1.7 MB to a
daemon's peak).
"""

import asyncio
import dataclasses
import socket
import struct
import time

from robdns.errors import TransferError
from robdns.xfr_request import literal_family, message_id, transfer_request

SOA_TIMEOUT = 3.0                 # seconds for one SOA query


@dataclasses.dataclass
class SoaAnswer:
    serial: int
    expire: object = None         # the primary's EDNS EXPIRE (RFC 7314), seconds, or None


class _SoaOverUdp(asyncio.DatagramProtocol):
    """Waits for the answer to one SOA query on a connected UDP socket: datagrams that
    answer another query (ID, question) are ignored (RFC 5452 9.1)."""

    def __init__(self, check):
        self.check = check
        self.done = asyncio.get_running_loop().create_future()

    def datagram_received(self, data, addr):
        if self.done.done():
            return
        try:
            what = self.check(data)
        except TransferError as e:
            self.done.set_exception(e)
            return
        if what[0] != "not ours":
            self.done.set_result(what)

    def error_received(self, exc):
        # ICMP unreachable on the connected socket: nobody listens there
        if not self.done.done():
            self.done.set_exception(TransferError(f"SOA query: no answer ({exc.strerror or exc})"))


async def _soa_over_tcp(host, port, wire, check):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        n = struct.unpack("!H", await reader.readexactly(2))[0]
        what = check(await reader.readexactly(n))
    finally:
        writer.close()
    if what[0] != "ok":
        raise TransferError("SOA query: the answer over TCP does not answer the query")
    return what


async def soa_query(remote, zone, key=None, timeout=SOA_TIMEOUT):
    """The primary's SOA serial of `zone` (RFC 1034 4.3.5: the refresh check), asked over
    UDP and again over TCP when the answer is truncated.  Raises TransferError when it
    does not answer with an authoritative SOA (signed with `key` when one is given)."""
    from robdns import _core
    qid = message_id()
    wire, mac = _core.xfr_query(zone, "SOA", qid, 0, key)

    def check(message):
        return _core.soa_answer(message, zone, qid, key, mac)

    loop = asyncio.get_running_loop()
    host, port = remote.address.host, remote.address.port
    transport = None
    try:
        async with asyncio.timeout(timeout):
            transport, proto = await loop.create_datagram_endpoint(
                lambda: _SoaOverUdp(check), remote_addr=(host, port))
            transport.sendto(wire)
            what = await proto.done
            if what[0] == "tc":
                what = await _soa_over_tcp(host, port, wire, check)
    except TimeoutError:
        raise TransferError("SOA query: no answer") from None
    except (OSError, asyncio.IncompleteReadError) as e:
        raise TransferError(f"SOA query: {getattr(e, 'strerror', None) or e}") from None
    finally:
        if transport is not None:
            transport.close()
    return SoaAnswer(what[1], what[2])


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
        family = literal_family(host)
        if family is not None:
            # an address as configured: no resolver (nor its idna codec import)
            addr, type_, proto = (host, port), socket.SOCK_STREAM, 0
        else:
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
