"""listeners — the server's sockets: UDP sockets for the worker threads and TCP listeners,
all bound at start (before dropping root) and never again: a reload does not rebind.

A transport that starts serving (the C UDP loop, the TCP server, later a C TCP loop)
takes its sockets from a `Listeners`; it does not open any itself.
"""

import os
import socket

from robdns import tcp

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)       # Linux value; missing from Python's socket

# Absorb bursts while a worker is busy: the receive buffer of every UDP socket.
UDP_RCVBUF = 4 << 20


class Listeners:
    """The bound sockets of one server.

    udp: list of (socket, wildcard, cpu), the form `_core.UdpWorkers` takes: one
         SO_REUSEPORT socket per worker per address, so the kernel spreads the clients
         over the workers; cpu is the core the worker is pinned to (-1: not pinned).
    tcp: list of listening TCP sockets, one per address.
    """

    def __init__(self):
        self.udp = []
        self.tcp = []

    @classmethod
    def bind(cls, listen, workers, tcp_enabled=True, pin_workers=True):
        """Bind every socket for `listen` (ListenAddress list); on an error the sockets
        bound so far are closed and OSError names the address."""
        self = cls()
        cpus = worker_cpus(workers, pin_workers)
        try:
            for addr in listen:
                check_free(addr)
                for cpu in cpus:
                    self.udp.append((udp_socket(addr), addr.wildcard, cpu))
                if tcp_enabled:
                    self.tcp.append(tcp.open_listener(addr.host, addr.port, addr.family))
        except BaseException:
            self.close()
            raise
        return self

    def close_udp(self):
        for s, _, _ in self.udp:
            s.close()

    def close(self):
        """Close every socket (the TCP ones are closed by the TCP server once it has them)."""
        self.close_udp()
        for s in self.tcp:
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
    probe = socket.socket(addr.family, socket.SOCK_DGRAM)
    try:
        if addr.family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind((addr.host, addr.port))
    except OSError as e:
        raise OSError(e.errno, f"cannot bind udp {addr}: {e.strerror}") from None
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
