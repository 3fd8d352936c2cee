"""netns — a test fixture: two network namespaces joined by a veth pair, torn down after.

The server end ("inner", where robdns attaches XDP) lives in one namespace, the client end
("outer") in another, so the test addresses (198.18.0.0/15, RFC 2544 benchmarking range,
and 2001:db8::/32, RFC 3849 documentation range) exist only inside the namespaces and no
traffic can leave the machine.  Needs root; callers skip with a reason when not root.
"""

import contextlib
import ctypes
import itertools
import os
import subprocess
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_counter = itertools.count()


def is_root():
    return os.geteuid() == 0


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True,
                          timeout=20)


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
