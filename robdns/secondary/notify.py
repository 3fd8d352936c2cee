"""notify — NOTIFY in (RFC 1996) for the secondary zones.  The data plane answers: the UDP
and TCP workers acknowledge a NOTIFY from a source the zone admits (its primaries, always,
and `allow_notify`, each with the key the rule names; others are REFUSED) and queue the zone
(query/notify.c).  This module gives the database those rules, and drains the queue when
the workers' wake-up byte arrives, starting a refresh of each zone, rate-limited by the
scheduler (robdns.secondary.Secondary.notified): a storm of NOTIFYs costs one transfer.
"""

import asyncio
import functools
import ipaddress
import os

from robdns.log import logger


def rules(z):
    """Who may notify secondary zone config `z`: [(network, key name or None)]."""
    return _rules(z.primaries, z.allow_notify)


@functools.lru_cache(maxsize=4096)
def _rules(primaries, allow_notify):
    # memoized: the members of a catalog share one template, and every publication
    # (each transfer) gives the database the rules of every secondary zone again
    out = []
    for p in primaries:
        net = ipaddress.ip_network(p.address.host)           # one address: /32 or /128
        out.append((str(net), p.key))
    out += [(str(a.network), a.key) for a in allow_notify]
    return out


_last = (None, None)          # (zone configs, their rules): the configs change seldom


def database_rules(zones):
    """The `notify` argument of robdns._core.Database for the zone configs `zones`
    (made again only for another configs object: every transfer publishes)."""
    global _last
    if _last[0] is not zones:
        _last = (zones, {z.name: rules(z) for z in zones if getattr(z, "secondary", False)})
    return _last[1]


class NotifyIn:
    """The control plane's end of the NOTIFY queue."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.rfd = self.wfd = None

    def start(self):
        from robdns import _core
        if self.rfd is not None:
            return
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        asyncio.get_running_loop().add_reader(self.rfd, self._readable)
        _core.notify_set_wakeup(self.wfd)

    def stop(self):
        from robdns import _core
        if self.rfd is None:
            return
        _core.notify_set_wakeup(-1)
        try:
            asyncio.get_running_loop().remove_reader(self.rfd)
        except RuntimeError:
            pass
        os.close(self.rfd)
        # a worker that read the descriptor before -1 may still write to it: closed later
        wfd, self.rfd, self.wfd = self.wfd, None, None
        asyncio.get_running_loop().call_later(1.0, os.close, wfd)

    def _readable(self):
        from robdns import _core
        try:
            while os.read(self.rfd, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return
        for name in _core.notify_take():
            logger.info("zone %s: NOTIFY acknowledged; refreshing", name,
                        extra={"event": "notify_in", "zone": name.lower()})
            if self.daemon.secondary is not None:
                self.daemon.secondary.notified(name.lower())
