"""first_transfer — the first AXFR of a secondary zone that has no copy at all, asked for
as soon as the start allows: right after the sockets are bound and root is dropped, before
the zones are loaded, the workers started and asyncio and the control plane imported.  The
primary sends (a large zone takes it a good fraction of a second) while that rest of the
start runs; the zone's first refresh (robdns.secondary.refresh) then takes the transfer
over instead of asking again, and handles its outcome as its own.

A secondary with no copy asks for AXFR at once, without the SOA query first (RFC 5936
2.2: the SOA check only decides whether a copy held is current; RFC 1995 4: with no copy
there is no serial to ask IXFR from).  A zone with a kept copy serves it at once and goes
through the usual refresh (SOA check first): nothing is sent early for it.

No asyncio here: the request is sent from the start's own thread and the response read by
a thread of its own (robdns._core.XfrIn.receive, without the GIL).
"""

import concurrent.futures
import os
import socket
import struct
import threading
import time

from robdns.log import logger
from robdns.xfr_request import literal_family, transfer_request

# Zones whose transfer is asked for early, at most: the scheduler bounds the exchanges with
# primaries at once (robdns.secondary.REFRESHES_AT_ONCE); a start with thousands of new
# zones sends these few early and the others through the scheduler.
AT_ONCE = 8


class FirstTransfer:
    """One AXFR on its way to `remote`: a thread of its own connects, sends the request and
    reads the response into self.future (the complete robdns._core.XfrIn and the bytes
    received, or the TransferError the refresh would have met); the start does not wait
    for any of it, not even for the connection."""

    def __init__(self, z, remote, key):
        from robdns import _core
        self.zone = z.name
        self.remote = remote
        self.started = time.monotonic()
        self.future = concurrent.futures.Future()
        self._cancelled = False
        wire, qid, mac = transfer_request(z.name, "AXFR", 0, key)
        self._sock = socket.socket(literal_family(remote.address.host), socket.SOCK_STREAM)
        threading.Thread(target=self._run, name=f"first-axfr {z.name}", daemon=True,
                         args=(_core.XfrIn(z.name, "AXFR", qid, 0), wire, key, mac or b"",
                               z.transfer_timeout, z.transfer_max_size)).start()

    def _run(self, x, wire, key, mac, timeout, max_size):
        from robdns.errors import TransferError
        sock, deadline = self._sock, self.started + timeout
        try:
            try:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                sock.connect((self.remote.address.host, self.remote.address.port))
                sock.sendall(struct.pack("!H", len(wire)) + wire)
            except socket.timeout:
                raise TransferError("AXFR: connection timed out") from None
            except OSError as e:
                if self._cancelled:
                    raise TransferError("AXFR: cancelled") from None
                raise TransferError(f"AXFR: cannot connect: {e.strerror or e}") from None
            if self._cancelled:             # cancel() came while connecting: no shutdown then
                raise TransferError("AXFR: cancelled")
            sock.settimeout(None)           # the C loop polls, with the time left
            total = x.receive(sock.fileno(), key, mac, timeout, max_size, deadline)
        except BaseException as e:          # TransferError: the refresh handles it as its own
            self.future.set_exception(e)
        else:
            self.future.set_result((x, total))
        finally:
            sock.close()

    def takes(self, remote, qtype):
        """Whether this transfer answers a refresh's request for `qtype` from `remote`."""
        return qtype == "AXFR" and remote == self.remote

    def cancel(self):
        """Not taken over (the zone is gone, the server stops): end the thread."""
        self._cancelled = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass        # not connected yet, or done already


def start(cfg):
    """Ask for the AXFR of each secondary zone of cfg that has no kept copy (at most AT_ONCE
    of them) from its first primary: {zone name: FirstTransfer}.  When that primary fails,
    the zone's refresh reports it and asks the next one, as it would have."""
    keys = {k.name: k for k in cfg.keys}
    started = {}
    for z in cfg.zones:
        if len(started) >= AT_ONCE:
            break
        # the kept copy's path is robdns.secondary.flush.image_path's: that package is not
        # imported here, as it imports asyncio
        if not z.secondary or os.path.exists(z.file + ".img"):
            continue
        remote = z.primaries[0]
        if literal_family(remote.address.host) is None:
            continue        # a host name is left to the refresh (the resolver is asyncio's)
        started[z.name] = FirstTransfer(z, remote, keys.get(remote.key) if remote.key else None)
        logger.debug("zone %s: no copy; AXFR asked from %s at start", z.name, remote.address)
    return started
