"""tcp — DNS over TCP per RFC 7766, served from the control process's event loop.

Two-byte length framing (RFC 1035 4.2.2), pipelined queries answered as they complete
(RFC 7766 6.2.1.1), an idle timeout (6.2.3) and a cap on open connections (6.2.2).
Abusive clients are contained: a connection is closed after `idle_timeout` seconds
without a complete query (slow or lying lengths, hanging clients), reading stops while
a client does not read its answers (flow control), at most `max_pipelined` queries are
answered per turn of the loop before others get theirs, and when the cap is reached the
connection idle the longest makes room for the new one.
"""

import asyncio
import socket
import struct
import time

from robdns.log import logger


class TcpServer:
    def __init__(self, answer, limits):
        """answer(query: bytes) -> bytes (b"" = no response); limits: a config.TcpConfig."""
        self.answer = answer
        # notify(query, peer address) -> bytes: NOTIFY requests (RFC 1996) go there while
        # secondary zones exist (robdns.secondary.notify), like the UDP workers hand them
        self.notify = None
        self.limits = limits
        self.connections = set()
        self.servers = []
        self.evicted = 0
        self.timed_out = 0
        self.accepted = 0
        self._sweeper = None

    async def start(self, sockets):
        loop = asyncio.get_running_loop()
        for s in sockets:
            self.servers.append(await loop.create_server(lambda: _DnsTcp(self), sock=s, backlog=1024))
        self._sweeper = asyncio.create_task(self._sweep())

    def set_limits(self, limits):
        self.limits = limits

    async def close(self):
        if self._sweeper:
            self._sweeper.cancel()
        for srv in self.servers:
            srv.close()
        for c in list(self.connections):
            c.close()
        for srv in self.servers:
            await srv.wait_closed()

    def stats(self):
        return {"open": len(self.connections), "accepted": self.accepted,
                "timed_out": self.timed_out, "evicted": self.evicted}

    # ---- connection bookkeeping

    def _admit(self, conn):
        self.accepted += 1
        if len(self.connections) >= self.limits.max_connections:
            # RFC 7766 6.2.2: under pressure close idle connections first; the one idle the
            # longest goes, so hanging clients cannot lock out new ones.
            victim = min(self.connections, key=lambda c: c.last_query)
            self.evicted += 1
            victim.close()
        self.connections.add(conn)

    async def _sweep(self):
        while True:
            timeout = self.limits.idle_timeout
            await asyncio.sleep(min(1.0, timeout / 4))
            deadline = time.monotonic() - self.limits.idle_timeout
            for c in [c for c in self.connections if c.last_query < deadline]:
                self.timed_out += 1
                c.close()


class _DnsTcp(asyncio.Protocol):
    __slots__ = ("server", "transport", "buf", "last_query", "writing_paused", "scheduled", "closed")

    def __init__(self, server):
        self.server = server
        self.transport = None
        self.buf = bytearray()
        self.last_query = time.monotonic()
        self.writing_paused = False
        self.scheduled = False
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        # Stop reading once 64 KiB of answers wait for a client that does not read them.
        transport.set_write_buffer_limits(high=65536)
        self.server._admit(self)

    def connection_lost(self, exc):
        self.closed = True
        self.server.connections.discard(self)
        self.buf = bytearray()

    def close(self):
        if not self.closed:
            self.closed = True
            self.server.connections.discard(self)
            self.transport.abort()

    def data_received(self, data):
        self.buf += data
        self._process()

    def eof_received(self):
        # Half-close from the client: answer what it sent, then close (writes are flushed).
        self._process(limit=None)
        return False

    def pause_writing(self):
        self.writing_paused = True
        self.transport.pause_reading()

    def resume_writing(self):
        self.writing_paused = False
        if not self.closed:
            self.transport.resume_reading()
            self._process()

    def _process(self, limit=0):
        self.scheduled = False
        buf = self.buf
        if limit == 0:
            limit = self.server.limits.max_pipelined
        answered = 0
        while not self.closed and not self.writing_paused and len(buf) >= 2:
            n = (buf[0] << 8) | buf[1]
            if n == 0:
                # A zero-length message cannot be a query (RFC 1035 4.1.1 needs a header).
                self.close()
                return
            if len(buf) < 2 + n:
                break
            if limit is not None and answered >= limit:
                # Let other connections have their turn; continue on the next iteration.
                if not self.scheduled:
                    self.scheduled = True
                    self.transport.pause_reading()
                    asyncio.get_running_loop().call_soon(self._resume_after_turn)
                return
            query = bytes(buf[2:2 + n])
            del buf[:2 + n]
            self.last_query = time.monotonic()
            if self.server.notify is not None and len(query) > 2 and not query[2] & 0x80 \
                    and (query[2] >> 3) & 0xF == 4:
                peer = self.transport.get_extra_info("peername")
                resp = self.server.notify(query, peer[0]) if peer else b""
            else:
                resp = self.server.answer(query)
            answered += 1
            if resp:
                self.transport.write(struct.pack("!H", len(resp)) + resp)

    def _resume_after_turn(self):
        if self.closed:
            return
        if not self.writing_paused:
            self.transport.resume_reading()
        self._process()


def open_listener(host, port, family):
    """A listening TCP socket (bound now, so that it can be done before dropping root)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(1024)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    logger.debug("tcp listening on %s@%d", host, port)
    return s
