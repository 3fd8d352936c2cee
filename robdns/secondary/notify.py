"""notify — NOTIFY in (RFC 1996) for the secondary zones: the UDP workers hand every NOTIFY
request to this module over a datagram socket (no Python runs for ordinary queries); it
answers from the same UDP socket and starts a refresh of the zone, at once but rate-limited
(a storm of NOTIFYs costs one transfer).

Who may notify a zone: its primaries (always) and `allow_notify`, each with the key the
rule names: a NOTIFY from anyone else is REFUSED.  A NOTIFY for a zone that is not a
secondary here is answered by the engine as before (NOTAUTH), and so is one whose TSIG does
not verify (RFC 8945 5.2 errors).
"""

import ipaddress
import socket
import struct
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype

from robdns.log import logger

# rd_udp_notify_hdr: u32 socket index, u32 peer length, 28 bytes of sockaddr_in6
_HDR = struct.Struct("=II28s")
BURST = 64                       # NOTIFYs read per wake-up of the event loop


class NotifyIn:
    def __init__(self, daemon):
        self.daemon = daemon
        self.rsock = self.wsock = None
        self.answered = self.refused = 0

    def start(self):
        """Have the UDP workers hand NOTIFYs over (only while a secondary zone exists)."""
        if self.rsock is not None or self.daemon.workers is None:
            return
        self.rsock, self.wsock = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.rsock.setblocking(False)
        self.wsock.setblocking(False)
        try:
            self.wsock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        except OSError:
            pass
        import asyncio
        asyncio.get_running_loop().add_reader(self.rsock.fileno(), self._readable)
        self.daemon.workers.set_notify_fd(self.wsock.fileno())

    def stop(self):
        if self.rsock is None:
            return
        if self.daemon.workers is not None:
            self.daemon.workers.set_notify_fd(-1)
        import asyncio
        try:
            asyncio.get_running_loop().remove_reader(self.rsock.fileno())
        except RuntimeError:
            pass
        # the workers may still be writing a datagram they read the descriptor for: the
        # write end is closed a moment later, by the reaper of the event loop
        self.rsock.close()
        wsock, self.rsock, self.wsock = self.wsock, None, None
        asyncio.get_running_loop().call_later(1.0, wsock.close)

    def _readable(self):
        for _ in range(BURST):
            try:
                data = self.rsock.recv(70000)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(data) < _HDR.size:
                continue
            index, peerlen, sa = _HDR.unpack_from(data)
            peer = _peer(sa)
            if peer is None:
                continue
            try:
                resp = self.answer(data[_HDR.size:], peer[0])
            except Exception:           # a bug must not stop NOTIFY handling
                logger.exception("NOTIFY from %s: not handled", peer[0])
                continue
            if resp:
                try:
                    self.daemon.listeners.udp[index][0].sendto(resp, peer)
                except (OSError, IndexError) as e:
                    logger.debug("NOTIFY answer to %s not sent: %s", peer[0], e)

    def answer(self, wire, addr):
        """The answer to NOTIFY `wire` from address `addr` (bytes; b"": none)."""
        from robdns import _core
        cfg = self.daemon.cfg
        keyring = {dns.name.from_text(k.name): _dnskey(k) for k in cfg.keys}
        try:
            q = dns.message.from_wire(wire, keyring=keyring)
        except dns.exception.DNSException as e:
            logger.debug("NOTIFY from %s not taken: %s: %s", addr, type(e).__name__, e)
            # malformed, or a TSIG that does not verify: the engine says so as for any
            # request (FORMERR, NOTAUTH with BADKEY/BADSIG/BADTIME: RFC 8945 5.2)
            return _core.answer_published(wire)
        if q.opcode() != dns.opcode.NOTIFY or len(q.question) != 1:
            return _core.answer_published(wire)
        qname = q.question[0].name.to_text().lower()
        zs = self.daemon.zones.get(qname)
        zcfg = next((z for z in cfg.zones if z.name == qname and z.secondary), None)
        if zs is None or zcfg is None or q.question[0].rdtype != dns.rdatatype.SOA:
            return _core.answer_published(wire)          # not a secondary zone here: NOTAUTH
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        if not allowed(zcfg, addr, q):
            # RFC 1996 3.10 leaves it to the secondary whom to listen to; Knot and NSD
            # refuse a NOTIFY from a source not configured
            self.refused += 1
            logger.info("zone %s: NOTIFY from %s refused: not a primary nor in allow_notify",
                        qname, addr)
            r.set_rcode(dns.rcode.REFUSED)
            r.flags &= ~dns.flags.AA
            return r.to_wire()
        serial = None
        for rrset in q.answer:
            if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
                serial = rrset[0].serial          # RFC 1996 3.7: a hint of the new serial
        self.answered += 1
        logger.info("zone %s: NOTIFY from %s%s", qname, addr,
                    f", serial {serial}" if serial is not None else "")
        if self.daemon.secondary is not None:
            self.daemon.secondary.notified(zs.name, serial)
        return r.to_wire()


def allowed(z, addr, q):
    """May `addr` notify zone config `z` with message `q` (its TSIG verified already)?"""
    ip = ipaddress.ip_address(addr)
    signed = q.keyname.to_text().lower() if q.had_tsig else None
    rules = [(ipaddress.ip_network(p.address.host), p.key) for p in z.primaries]
    rules += [(a.network, a.key) for a in z.allow_notify]
    for net, key in rules:
        if ip.version == net.version and ip in net and (key is None or key == signed):
            return True
    return False


def _dnskey(k):
    import dns.tsig
    return dns.tsig.Key(k.name, k.secret, k.algorithm)


def _peer(sa):
    family = struct.unpack_from("=H", sa)[0]
    port = struct.unpack_from("!H", sa, 2)[0]
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, sa[4:8]), port
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, sa[8:24]), port
    return None
