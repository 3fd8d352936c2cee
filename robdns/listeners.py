"""listeners — the server's sockets: UDP sockets for the worker threads and TCP listeners,
all bound at start (before dropping root) and never again: a reload does not rebind.

A transport that starts serving (the C UDP and TCP loops) takes its sockets from a
`Listeners`; it does not open any itself.
"""

import math
import os
import socket

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)       # Linux value; missing from Python's socket

# Absorb bursts while a worker is busy: the receive buffer of every UDP socket.
UDP_RCVBUF = 4 << 20
# Connections the kernel completes before a worker accepts them, per listener.
TCP_BACKLOG = 1024
# Connections that may open with data in the SYN (TCP Fast Open, RFC 7413), per listener.
TCP_FASTOPEN_QUEUE = 256


class Listeners:
    """The bound sockets of one server.

    udp: list of (socket, wildcard, cpu), the form `_core.UdpWorkers` takes: one
         SO_REUSEPORT socket per worker per address, so the kernel spreads the clients
         over the workers; cpu is the core the worker is pinned to (-1: not pinned).
    tcp: list of (socket, worker), the form `_core.TcpWorkers` takes: one listening
         SO_REUSEPORT socket per worker per address, served by that worker's TCP loop.
    cpus: the core of each worker (-1: not pinned).
    """

    def __init__(self):
        self.udp = []
        self.tcp = []
        self.cpus = []

    @classmethod
    def bind(cls, listen, workers, tcp_enabled=True, pin_workers=True, tcp_idle_timeout=10.0):
        """Bind every socket for `listen` (ListenAddress list); on an error the sockets
        bound so far are closed and OSError names the address."""
        self = cls()
        cpus = worker_cpus(workers, pin_workers)
        self.cpus = cpus
        try:
            for addr in listen:
                check_free(addr)
                for cpu in cpus:
                    self.udp.append((udp_socket(addr), addr.wildcard, cpu))
                if tcp_enabled:
                    for w in range(len(cpus)):
                        self.tcp.append((tcp_listener(addr, tcp_idle_timeout), w))
        except BaseException:
            self.close()
            raise
        return self

    def close_udp(self):
        for s, _, _ in self.udp:
            s.close()

    def close(self):
        """Close every socket."""
        self.close_udp()
        self.close_tcp()

    def close_tcp(self):
        for s, _ in self.tcp:
            s.close()


def worker_cpus(workers, pin):
    """The core each of `workers` UDP workers is pinned to, round robin over the cores this
    process may use; -1 each when not pinning."""
    if not pin:
        return [-1] * workers
    cpus = sorted(os.sched_getaffinity(0))
    return [cpus[w % len(cpus)] for w in range(workers)]


def check_free(addr):
    """SO_REUSEPORT lets a second server of the same user silently share the port: probe
    with a plain socket first so that case is an 'address in use' error instead."""
    for kind, name in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
        probe = socket.socket(addr.family, kind)
        try:
            if addr.family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if kind == socket.SOCK_STREAM:
                # Connections of an earlier run in TIME_WAIT are no reason to fail; a
                # listener of another process is (Linux refuses the bind then).
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((addr.host, addr.port))
        except OSError as e:
            raise OSError(e.errno, f"cannot bind {name} {addr}: {e.strerror}") from None
        finally:
            probe.close()


def udp_socket(addr):
    """One worker's UDP socket on `addr`, bound."""
    s = socket.socket(addr.family, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if addr.family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if addr.wildcard:
            # Learn the address each query was sent to, to answer from it.
            if addr.family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            else:
                s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            try:
                s.setsockopt(socket.SOL_SOCKET, opt, UDP_RCVBUF)   # FORCE works as root only
                break
            except (OSError, TypeError):
                continue
        s.bind((addr.host, addr.port))
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"cannot bind udp {addr}: {e.strerror}") from None
    return s


def tcp_listener(addr, idle_timeout):
    """One worker's listening TCP socket on `addr`, bound, non-blocking."""
    s = socket.socket(addr.family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if addr.family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # Inherited by every accepted connection: a batch of answers goes out at once
        # rather than waiting for the acknowledgement of the previous one (Nagle).
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Hand a connection to the worker only once its first bytes are in, so a client
        # that connects and sends nothing costs no worker time (for up to the idle
        # timeout); and take queries in the SYN from clients that can (RFC 7413).
        for opt, value in ((getattr(socket, "TCP_DEFER_ACCEPT", None), math.ceil(idle_timeout)),
                           (getattr(socket, "TCP_FASTOPEN", None), TCP_FASTOPEN_QUEUE)):
            if opt is not None:
                try:
                    s.setsockopt(socket.IPPROTO_TCP, opt, value)
                except OSError:
                    pass            # an older kernel: serve without it
        s.bind((addr.host, addr.port))
        s.listen(TCP_BACKLOG)
        s.setblocking(False)
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"cannot bind tcp {addr}: {e.strerror}") from None
    return s
