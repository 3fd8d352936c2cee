"""netns — a test fixture: two network namespaces joined by a veth pair, torn down after.

The server end ("inner", where robdns attaches XDP) lives in one namespace, the client end
("outer") in another, so the test addresses (198.18.0.0/15, RFC 2544 benchmarking range,
and 2001:db8::/32, RFC 3849 documentation range) exist only inside the namespaces and no
traffic can leave the machine.  Needs root; callers skip with a reason when not root.
"""

import array
import contextlib
import ctypes
import fcntl
import itertools
import os
import socket
import struct
import subprocess
import time

import pytest

CLONE_NEWNET = 0x40000000

# The zone the XDP suites serve: its addresses are the namespaces' own.
ZONE = """\
$ORIGIN example.com.
$TTL 300
@       SOA ns1 hostmaster 2026112701 7200 3600 1209600 300
@       NS  ns1
ns1     A   198.18.0.1
www     A   198.18.0.53
www     AAAA 2001:db8::53
mail    MX  10 www
"""
_libc = ctypes.CDLL(None, use_errno=True)
_counter = itertools.count()


def is_root():
    return os.geteuid() == 0


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True,
                          timeout=20)


def tx_checksum_offload_off(ns, ifname):
    """Make the stack of namespace ns write whole UDP checksums on ifname (ethtool -K
    IF tx off, through the SIOCETHTOOL ioctl).  With the veth default the client's
    datagrams leave with only the pseudo-header sum in the checksum field, to be finished
    by a NIC that a veth does not have; the XDP workers check the checksum of what they
    accept (RFC 768), as a real NIC's peer would have written it."""
    siocethtool, ethtool_stxcsum = 0x8946, 0x17
    val = array.array("I", [ethtool_stxcsum, 0])
    ifr = struct.pack("16sP", ifname.encode(), val.buffer_info()[0])
    with inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        fcntl.ioctl(s.fileno(), siocethtool, ifr)


@contextlib.contextmanager
def inside(ns):
    """Run the body with the calling thread in network namespace `ns`.

    Sockets created in the body stay in `ns` afterwards; so do XDP attachments.  setns(2)
    with CLONE_NEWNET only changes the calling thread, so other threads are unaffected.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns back home: {os.strerror(err)}")
    finally:
        os.close(home)
        os.close(target)


class VethPair:
    """Namespaces `server_ns`/`client_ns` joined by veth `server_if` <-> `client_if`."""

    def __init__(self, rx_queues=1):
        tag = f"{os.getpid() % 100000}x{next(_counter)}"
        self.server_ns = f"rdxs{tag}"
        self.client_ns = f"rdxc{tag}"
        self.server_if = f"rdxs{tag}"[:15]
        self.client_if = f"rdxc{tag}"[:15]
        self.server_v4, self.client_v4 = "198.18.0.1", "198.18.0.2"
        self.server_v6, self.client_v6 = "2001:db8:53::1", "2001:db8:53::2"
        self.rx_queues = rx_queues
        self._up = False

    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, *exc):
        self.teardown()

    def setup(self):
        try:
            _ip("netns", "add", self.server_ns)
            _ip("netns", "add", self.client_ns)
            self._up = True
            q = str(self.rx_queues)
            _ip("link", "add", self.server_if, "netns", self.server_ns,
                "numrxqueues", q, "numtxqueues", q, "type", "veth",
                "peer", "name", self.client_if, "netns", self.client_ns,
                "numrxqueues", q, "numtxqueues", q)
            for ns, ifname, v4, v6 in ((self.server_ns, self.server_if, self.server_v4, self.server_v6),
                                       (self.client_ns, self.client_if, self.client_v4, self.client_v6)):
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", f"{v4}/24", "dev", ifname)
                # nodad: the address is usable at once (no Duplicate Address Detection wait)
                _ip("-n", ns, "addr", "add", f"{v6}/64", "dev", ifname, "nodad")
                _ip("-n", ns, "link", "set", ifname, "up")
            tx_checksum_offload_off(self.client_ns, self.client_if)
            self._wait_carrier()
        except BaseException:
            self.teardown()
            raise

    def _wait_carrier(self):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            out = _ip("-n", self.server_ns, "-br", "link", "show", self.server_if).stdout
            if " UP " in out or "LOWER_UP" in out:
                return
            time.sleep(0.05)
        raise RuntimeError(f"veth {self.server_if} did not come up")

    def teardown(self):
        if not self._up:
            return
        # Deleting the namespaces destroys the veth pair (and anything attached to it).
        _ip("netns", "del", self.server_ns, check=False)
        _ip("netns", "del", self.client_ns, check=False)
        self._up = False

    def run(self, ns, argv, timeout=20, check=False):
        """Run a command inside namespace ns (bounded in time)."""
        return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                              text=True, timeout=timeout, check=check)

    def xdp_prog_line(self):
        """The server interface's `ip link` line (shows 'xdp'/'xdpgeneric' when attached)."""
        return _ip("-n", self.server_ns, "-d", "link", "show", self.server_if).stdout

    def attach_through_netlink(self, obj_path, mode="generic"):
        """Attach an XDP object's `xdp` section to the server interface the pre-link way
        (`ip link set ... xdp`): it stays after its loader exits, as a crashed robdns from
        before BPF links left it.  Returns the (id, name) now attached."""
        r = _ip("-n", self.server_ns, "link", "set", "dev", self.server_if,
                "xdpgeneric" if mode == "generic" else "xdpdrv", "obj", str(obj_path),
                "sec", "xdp", check=False)
        assert r.returncode == 0, r.stderr
        return self.attached_program()

    def server_addr(self, family):
        return self.server_v4 if family == socket.AF_INET else self.server_v6

    def client_socket(self, family, kind=socket.SOCK_DGRAM):
        """A socket of the client namespace (a socket keeps the namespace it was made in)."""
        with inside(self.client_ns):
            return socket.socket(family, kind)

    def exchange(self, wire, family=socket.AF_INET, port=53, timeout=2.0):
        """Send one UDP datagram from the client end to the server's address; the reply
        bytes (checked to come from that address and port), or None on timeout."""
        addr = self.server_addr(family)
        with self.client_socket(family) as s:
            s.settimeout(timeout)
            s.sendto(wire, (addr, port))
            try:
                data, src = s.recvfrom(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
        assert src[0] == addr and src[1] == port, src
        return data

    def attached_program(self):
        """(id, name) of the XDP program on the server interface; (0, "") when none."""
        from robdns import _core
        with inside(self.server_ns):
            return _core.xdp_attached_program(socket.if_nametoindex(self.server_if))


@pytest.fixture
def pair():
    """A fresh VethPair for one test (import it into the test module to use it)."""
    with VethPair() as p:
        yield p
