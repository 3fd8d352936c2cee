"""secondary — the secondary role: a per-zone event scheduler (as Knot's zone events),
one small module per event: refresh (SOA check and transfer), expire, flush (the kept
copy), notify (NOTIFY in).  Timers are planned from the SOA and replanned after each event,
never polled.

The scheduler runs on the daemon's event loop; a zone's new version goes out through the
daemon's publication path (Daemon.publish_zone), as a reload's does.
"""

import asyncio
import concurrent.futures
import dataclasses
import random
import time

from robdns.log import logger

# Floors on the SOA timers (seconds): a zone with REFRESH 0 must not spin (Knot has
# refresh-min-interval 2 too); tests use SOA timers of a few seconds.
REFRESH_MIN = 1.0
RETRY_MIN = 1.0
# NOTIFYs for a zone within this many seconds of a refresh start no new one (RFC 1996 4.7
# lets a secondary rate-limit): a storm costs one transfer.
NOTIFY_HOLDOFF = 1.0
# Exchanges with primaries at once, at most (as Knot's background workers bound its own):
# a catalog that brings 100,000 members, or a start with as many zones, does not open
# 100,000 transfers to the primaries together; the others wait their turn.
REFRESHES_AT_ONCE = 32


@dataclasses.dataclass
class XfrState:
    """What the secondary knows of one zone beyond its image: timers and the last outcome.
    One object per zone for the life of the process (ZoneState copies point to it)."""
    name: str
    primary_used: str = None        # "ADDR@PORT" of the last successful refresh
    last_refresh: float = None      # wall time of the last successful SOA check/transfer
    next_refresh: float = None      # wall time the refresh timer fires
    expires_at: float = None        # wall time the copy expires without a refresh
    published_expire_at: float = None   # expires_at as the served snapshot has it (RFC 7314)
    expired: bool = False
    last_error: str = None
    last_error_at: float = None
    last_transfer: dict = None      # kind, serial, messages, records, bytes, seconds
    refreshing: bool = False
    flushing: bool = False          # the kept copy is being written
    flush_again: bool = False       # ... and a newer version waits for its turn
    notifies: int = 0               # NOTIFYs accepted
    transfers: int = 0              # transfers that gave a new version
    soa_checks: int = 0             # refreshes that found the primary's serial not newer
    last_notify: float = 0.0        # monotonic

    def status(self):
        return {"role": "secondary", "primary": self.primary_used,
                "last_refresh": self.last_refresh, "next_refresh": self.next_refresh,
                "expires_at": self.expires_at, "expired": self.expired,
                "last_error": self.last_error, "last_error_at": self.last_error_at,
                "last_transfer": self.last_transfer, "refreshing": self.refreshing,
                "notifies": self.notifies, "transfers_in": self.transfers,
                "soa_checks": self.soa_checks}


class Secondary:
    """The event scheduler of every secondary zone of the daemon."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.states = {}            # zone name -> XfrState
        self._timers = {}           # (zone name, event) -> asyncio.TimerHandle
        self._tasks = {}            # zone name -> the running refresh task
        self._wanted = {}           # zone name -> force AXFR on the refresh after this one
        self._seen = set()          # zones planned already
        self._flushes = set()       # kept copies being written
        self.loop = None
        self.notify_in = None
        self._zones, self._zones_of = {}, None
        self._slots = None          # asyncio.Semaphore(REFRESHES_AT_ONCE), made on the loop
        # Kept copies and timers are written by a thread of their own, in order: the
        # images of transfers are built meanwhile on the loop's executor, not behind them
        self.disk = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="secondary-disk")
        # Images of transfers are built (without the GIL) by two threads: both cores, and
        # two malloc arenas instead of one per thread of the loop's default executor
        self.builder = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="secondary-build")
        # AXFRs sent at start for zones with no copy (robdns.first_transfer), until taken
        self.first = getattr(daemon, "first_transfers", None) or {}

    # ---- configuration

    def zones(self):
        """The secondary zone configs served (the config file's, catalog members), by name;
        made again only when the served configs change."""
        d = self.daemon
        configs = d.zone_configs if d.zone_configs is not None else d.cfg.zones
        if self._zones_of is not configs:
            self._zones = {z.name: z for z in configs if z.secondary}
            self._zones_of = configs
        return self._zones

    def state(self, name):
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = XfrState(name)
        return st

    def start(self):
        """Plan every secondary zone: a refresh at once (a kept copy is served meanwhile),
        and its expiry from the saved timers."""
        from robdns.secondary.notify import NotifyIn
        self.loop = asyncio.get_running_loop()
        self.notify_in = NotifyIn(self.daemon)
        self.configure()

    def configure(self):
        """After a start or reload: zones that became secondaries are planned, zones that
        stopped being ones have their timers dropped."""
        from robdns.secondary import expire, flush
        zones = self.zones()
        # the workers' wake-up pipe for acknowledged NOTIFYs: only while there are
        # secondary zones (the database gives the workers their rules)
        if zones:
            self.notify_in.start()
        else:
            self.notify_in.stop()
        for name in list(self.states):
            if name not in zones:
                self.cancel(name)
                del self.states[name]
                self._seen.discard(name)
        for name, z in zones.items():
            zs = self.daemon.zones.get(name)
            if zs is not None:
                zs.xfr = self.state(name)
            if name in self.states and name in self._seen:
                continue
            self._seen.add(name)
            st = self.state(name)
            saved = flush.load_timers(z)
            if zs is not None and zs.image is not None and saved.get("expire_at"):
                st.last_refresh = saved.get("refreshed_at")
                expire.plan(self, name, saved["expire_at"])
            self.schedule(name, "refresh", 0.0)

    def stop(self):
        self.notify_in.stop()
        for name in list(self.states):
            self.cancel(name)

    async def close(self, timeout=60.0):
        """Stop, and let the kept copies being written finish (as Knot flushes at exit):
        the next start serves from them."""
        self.stop()
        if self._flushes:
            await asyncio.wait(list(self._flushes), timeout=timeout)
        await asyncio.get_running_loop().run_in_executor(None, self.disk.shutdown, True)
        self.builder.shutdown(wait=False)

    def forget(self, name):
        """Drop what is known of `name` (a catalog member reset, RFC 9432 5.3): the next
        configure() plans it as a new zone."""
        self.cancel(name)
        self.states.pop(name, None)
        self._seen.discard(name)

    def cancel(self, name):
        first = self.first.pop(name, None)
        if first is not None:
            first.cancel()
        for event in ("refresh", "expire", "flush"):
            timer = self._timers.pop((name, event), None)
            if timer is not None:
                timer.cancel()
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()

    # ---- the scheduler

    def schedule(self, name, event, delay):
        """Plan `event` ("refresh", "expire", "flush") of zone `name` in `delay` seconds, replacing
        the one planned."""
        old = self._timers.pop((name, event), None)
        if old is not None:
            old.cancel()
        delay = max(0.0, delay)
        if event == "refresh":
            self.state(name).next_refresh = time.time() + delay
        self._timers[(name, event)] = self.loop.call_later(delay, self._fire, name, event)

    def _fire(self, name, event):
        self._timers.pop((name, event), None)
        if event == "refresh":
            self.refresh_now(name)
        elif event == "expire":
            from robdns.secondary import expire
            self.daemon.background.spawn(expire.run(self, name))
        elif event == "flush":
            from robdns.secondary import flush
            task = asyncio.ensure_future(flush.run(self, name))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    def refresh_now(self, name, force_axfr=False):
        """Start a refresh of `name` unless one runs (then it is run again after, once)."""
        from robdns.secondary import refresh
        task = self._tasks.get(name)
        if task is not None and not task.done():
            self._wanted[name] = self._wanted.get(name, False) or force_axfr
            return task
        task = self.loop.create_task(self._refresh(name, force_axfr, refresh))
        self._tasks[name] = task
        task.add_done_callback(lambda t: self._done(name, t))
        return task

    def _done(self, name, task):
        # a finished refresh is not kept per zone for the life of the process
        if self._tasks.get(name) is task:
            del self._tasks[name]

    async def _refresh(self, name, force_axfr, refresh):
        try:
            ok = await refresh.run(self, name, force_axfr)
            while name in self._wanted:
                force_axfr = self._wanted.pop(name)
                ok = await refresh.run(self, name, force_axfr)
            return ok
        except asyncio.CancelledError:
            raise
        except Exception as e:          # a bug must not stop the zone's timers
            logger.exception("zone %s: refresh failed", name)
            st = self.state(name)
            st.last_error, st.last_error_at = f"internal error: {type(e).__name__}: {e}", time.time()
            self.schedule(name, "refresh", 60.0)
            return False

    def first_transfer(self, name, remote, qtype):
        """The transfer sent at start for zone `name` if it is the one asked for (an AXFR
        from `remote`), now taken; else None."""
        first = self.first.get(name)
        if first is None or not first.takes(remote, qtype):
            return None
        return self.first.pop(name)

    @property
    def slots(self):
        """The semaphore a refresh holds while it talks to a primary (REFRESHES_AT_ONCE):
        not while its image is built or published, so those overlap the next transfers."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(REFRESHES_AT_ONCE)
        return self._slots

    def retry_delay(self, retry):
        # jitter: secondaries of one primary that failed together do not retry together
        return max(RETRY_MIN, retry) * random.uniform(0.75, 1.0)

    def notified(self, name, serial=None):
        """A NOTIFY for `name` was accepted (RFC 1996 4): refresh now, unless the serial it
        announces is one we have; NOTIFYs during a refresh make one more refresh after it,
        and those within NOTIFY_HOLDOFF of a refresh's start are folded into one."""
        from robdns import _core
        st = self.state(name)
        st.notifies += 1
        zs = self.daemon.zones.get(name)
        if (serial is not None and zs is not None and zs.image is not None and not st.expired
                and not _core.serial_lt(zs.image.serial, serial)):
            return
        task = self._tasks.get(name)
        if task is not None and not task.done():
            self._wanted.setdefault(name, False)
            return
        wait = st.last_notify + NOTIFY_HOLDOFF - time.monotonic()
        if wait > 0:
            self.schedule(name, "refresh", wait)
            return
        st.last_notify = time.monotonic()
        self.refresh_now(name)

    def changed(self, name, img):
        """A new version of `name` is served: NOTIFY the zone's own `notify` list (RFC 1996
        4: a secondary that serves others tells them too), as a reload of a primary zone
        does."""
        z = self.zones().get(name)
        transfers = getattr(self.daemon, "transfers", None)
        if z is not None and transfers is not None and getattr(z, "notify", ()):
            transfers.notify_zone(self.daemon.cfg, z, img)
        catalogs = getattr(self.daemon, "catalogs", None)
        if catalogs is not None and catalogs.is_catalog(name):
            # RFC 9432 5: a new catalog version adds and removes member zones
            self.daemon.background.spawn(catalogs.changed(name))

    def status(self, name):
        st = self.states.get(name)
        return st.status() if st is not None else None
