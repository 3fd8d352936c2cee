"""daemon — ``robdns serve``: the order of things.  Bind (listeners), drop root
(privileges), ask for the AXFR of secondary zones that have no copy (first_transfer),
load the zones (zoneset), start the UDP and TCP workers, then the event loop and the
control socket (commands), reload on SIGHUP or command (reconfig), report to systemd,
stop cleanly.

Threads: the C UDP and TCP workers (no Python, no GIL); the event loop thread (uvloop:
control socket, signals, the reaper of snapshots a transfer still pinned); reloads compile
zones and wait for the RCU grace period in an executor thread; a start's first transfers
are read by threads of their own until the zones' refreshes take them over.

Only what the first answer needs is imported before the workers start: asyncio, uvloop,
the control server's and the transfers' machinery and dnspython come after (issue 14: a
kept zone answers within 0.2 s of start), so this module imports asyncio where it is
used, and tests/test_daemon_start.py checks that none of them is loaded before.
"""

import concurrent.futures
import dataclasses
import gc
import os
import signal
import threading
import time

from robdns import __version__, catalog, config, control, metrics, privileges, reconfig, sdnotify, stats, tcp_workers, xfrout
from robdns.catalog_consumer import CatalogConsumer
from robdns.cookies import CookieSecrets
from robdns.errors import ConfigError, RobdnsError
from robdns.dynzones import DynamicZones
from robdns.keep import Keep
from robdns.listeners import Listeners
from robdns.log import logger, set_format, set_level, setup
from robdns.zoneset import ZoneSet, ZoneState, compile_state, load_state, zone_key


class Daemon:
    def __init__(self, cfg):
        self.cfg = cfg
        self.config_error = None
        self.restart_needed = []             # keys changed in the file that wait for a restart
        self.zones = ZoneSet()               # the zones being served
        self.cookies = CookieSecrets(cfg.cookies)   # DNS Cookie secrets (RFC 7873)
        self.listeners = Listeners()
        self.control_socket = None
        self.workers = None                  # _core.UdpWorkers
        self.xdp = None                      # robdns.xdp.XdpWorkers when `xdp` is configured
        self.tcp = None
        self.control = None
        self.http = None                     # robdns.httpd.HttpEndpoint (server.http)
        self.dnstap = None                   # _core.Dnstap (server.dnstap)
        self.secondary = None                # robdns.secondary.Secondary: the transfers in
        self.first_transfers = {}            # zone -> robdns.first_transfer.FirstTransfer
        self._zone_changes = []              # (name, image, expired, future) to publish
        self._published_at = self._publish_cost = 0.0   # loop time of the last, its cost
        self.zone_slots = stats.ZoneSlots()  # per-zone counters of the data plane
        self.transfers = xfrout.Transfers()  # transfers served, NOTIFY out
        self.started = time.time()
        self.reloads = 0
        self.reload_lock = None
        self.stopping = None
        # One thread for every reload: reloads are serialized anyway, and one thread keeps
        # the freed images in one malloc arena instead of spreading them over several.
        self.reloader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="reload")
        # Compiled images are written to server.storage by a thread of their own, after
        # they are published: serving never waits for the disk.
        self.keep = Keep(None)
        self.dynamic = DynamicZones(None)    # zones added and removed at run time
        self.catalogs = CatalogConsumer(self)   # members of consumed catalogs (RFC 9432)
        self.config_cache = config.Cache()   # the config file as last parsed
        self.zone_configs = None             # the zone configs served: cfg's, as changed at
                                             # run time (None until the first load)
        self._no_consumer = None             # those configs again when they name no
                                             # consumer catalog (load() skips expanding them)
        self._notify_of = self._notify_list = None   # cfg.zones, and those of them that
                                                     # NOTIFY anyone (_notifying())
        self.keeper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="keep",
                                                            initializer=_yield_to_serving)
        self.keeping = True
        self.pruned = False                  # storage cleared of unconfigured zones' files

    # ------------------------------------------------------------------ startup

    def bind(self):
        """Open every socket while still root (ports below 1024)."""
        cfg = self.cfg
        self.listeners = Listeners.bind(cfg.listen, cfg.workers, tcp_enabled=cfg.tcp.enabled,
                                        pin_workers=cfg.pin_workers,
                                        tcp_idle_timeout=cfg.tcp.idle_timeout)
        self.control_socket = control.open_socket(
            cfg.control, owner=privileges.socket_owner(cfg.user, cfg.group))
        self.keep = Keep(cfg.storage or None)
        self.keep.prepare(owner=privileges.socket_owner(cfg.user, cfg.group))
        self.dynamic = DynamicZones(self.keep.directory).load()
        xfrout.make_journal_dir(cfg, owner=privileges.socket_owner(cfg.user, cfg.group))
        if cfg.http is not None:
            from robdns import httpd
            self.http = httpd.HttpEndpoint(cfg.http, self.metrics_snapshot, self.ready).bind()
        xdp_queues = []
        if cfg.xdp is not None:
            from robdns import xdp
            xdp_queues = xdp.resolve_queues(cfg.xdp)
        if cfg.dnstap is not None:
            # One ring per UDP worker, then one per TCP worker, then one per XDP queue.  A
            # file is created now (while privileged, like the sockets); a collector's socket
            # is connected to by the writer thread, and again whenever it restarts.
            self.dnstap = _start_dnstap(cfg.dnstap, len(self.listeners.udp) + self._tcp_rings()
                                        + len(xdp_queues))
        if cfg.xdp is not None:
            # Attaching needs root (CAP_NET_ADMIN, CAP_BPF): before the drop. The XDP
            # workers answer from the same RCU pointer as the UDP workers.
            self.xdp = xdp.start_xdp_workers(cfg.xdp, rrl=dataclasses.asdict(cfg.rrl),
                                             dnstap=self.dnstap,
                                             dnstap_first=len(self.listeners.udp) + self._tcp_rings())
            logger.info("xdp: %s", self.xdp.info)

    def _tcp_rings(self):
        return self.cfg.workers if self.listeners.tcp else 0

    def drop_privileges(self):
        privileges.drop(self.cfg.user, self.cfg.group)

    def load(self, cfg, force=()):
        """Compile the zones of cfg (those whose files changed, and `force`) and publish
        the database built from them; waits for the RCU grace period, after which the
        previous snapshot is freed.  The zones served are cfg's as changed at run time
        (robdns.dynzones)."""
        wanted = self.dynamic.zones(cfg)
        if wanted is self._no_consumer:
            # the configs of the last load, which named no consumer catalog (an unchanged
            # config file parses to the same tuple, config.Cache): no look at 100,000
            configs = wanted
        else:
            configs = self.catalogs.expand(cfg, wanted, self.zone_configs)
            self._no_consumer = wanted if configs is wanted else None
        zones = self.zones.compiled(configs, force, keep=self.keep,
                                    journal_dir=xfrout.journal_dir(cfg))
        self.zone_configs = configs
        self.cookies.configure(cfg.cookies)
        self.publish_zones(zones, cfg)
        return zones

    def publish_zones(self, zones, cfg):
        """Publish the database of `zones` under cfg, then hand the images compiled now to
        the keeper thread (and the names of zones gone, whose kept files go too)."""
        from robdns import _core
        _core.publish(self.database(zones, cfg))
        removed = zones.removed_from(self.zones)
        first, self.pruned = not self.pruned, True
        self.zones = zones
        if self.keep.enabled and (zones.fresh or removed or first):
            configured = [z.name for z in self.zone_configs] if first else None
            self.keeper.submit(self._keep_images, zones, zones.fresh, removed, configured)

    # ------------------------------------------------------------------ zones at run time

    async def zone_change(self, work, *args):
        """Run a run-time zone change (below) in the reload thread under the reload lock."""
        import asyncio
        loop = asyncio.get_running_loop()
        async with self.reload_lock:
            return await loop.run_in_executor(self.reloader, work, *args)

    def zone_add(self, name, file, default_ttl=3600):
        """`ctl zone-add`: serve a new primary zone from `file`, and keep it served across
        reloads and restarts (robdns.dynzones).  One compile (or its kept image) and a new
        database; no other zone is looked at."""
        try:
            z = config.zone_config(self.cfg, name, file, default_ttl)
        except ConfigError as e:
            return {"ok": False, "error": str(e)}
        if self.zones.get(z.name) is not None:
            return {"ok": False, "error": f"zone {z.name} is served already"}
        st = load_state(z, keep=self.keep, journal_dir=xfrout.journal_dir(self.cfg))
        if st.image is None:
            return {"ok": False, "error": f"zone {z.name} not added: it failed to load",
                    "zones": [st.status()]}
        self.dynamic.add(z)
        self.zone_configs = tuple(c for c in self.zone_configs if c.name != z.name) + (z,)
        self.publish_zones(self.zones.updated([st]), self.cfg)
        logger.info("zone %s added (serial %s)", z.name, st.image.serial)
        return {"ok": True, "zones": [st.status()], **self._persist()}

    def zone_remove(self, name):
        """`ctl zone-remove`: stop serving a zone (queries for it are then REFUSED, RFC 1034
        4.3.2, unless a hosted parent zone contains the name), across reloads and
        restarts; its kept image is deleted."""
        key = zone_key(name)
        if self.zones.get(key) is None:
            return {"ok": False, "error": f"no zone {name} served"}
        owner = next((c.catalog_owner for c in self.zone_configs if c.name == key), None)
        if owner is not None:
            return {"ok": False, "error": f"zone {key} is a member of catalog {owner}: "
                                          "remove it from the catalog"}
        self.dynamic.remove(key)
        self.zone_configs = tuple(c for c in self.zone_configs if c.name != key)
        self.publish_zones(self.zones.updated(removed=[key]), self.cfg)
        logger.info("zone %s removed", key)
        return {"ok": True, "zone": key, **self._persist()}

    def zone_reload(self, name):
        """`ctl zone-reload NAME`: compile one zone again, even if its files look
        unchanged; the other zones and the config file are not looked at."""
        key = zone_key(name)
        z = next((c for c in self.zone_configs if c.name == key), None)
        if z is None or self.zones.get(key) is None:
            return {"ok": False, "error": f"no zone {name} configured"}
        if z.secondary:
            return {"ok": False, "error": f"zone {key} is a secondary zone: use zone-refresh"}
        old = self.zones.get(key)
        if z.catalog_role == "producer":
            # no file: generated from its members' configs again, as a reload does
            st = catalog.catalog_state(z, old, self.zone_configs, ZoneState)
        else:
            st = compile_state(z, old, xfrout.journal_dir(self.cfg))
        self.publish_zones(self.zones.updated([st]), self.cfg)
        return {"ok": not st.errors, "zones": [st.status()]}

    def _persist(self):
        if not self.dynamic.persisted:
            return {"persisted": False,
                    "warning": "server.storage is off: the change lasts until the server stops"}
        try:
            self.dynamic.save()
        except OSError as e:
            logger.error("cannot write %s: %s", self.dynamic.path, e.strerror)
            return {"persisted": False, "warning": f"not persisted: {self.dynamic.path}: {e.strerror}"}
        return {"persisted": True}

    def database(self, zones, cfg):
        """The snapshot every publication makes (reload, transfer, cookie secret): the
        zones, the engine options of cfg, the per-zone counter slots, the cookie secrets."""
        cap = cfg.http.zone_labels if cfg.http is not None else 100
        configs = self.zone_configs if self.zone_configs is not None else cfg.zones
        return zones.database(cfg, self.zone_slots.assign(configs, cap), self.cookies, configs)

    def _keep_images(self, zones, fresh, removed, configured=None):
        """Write the images compiled now to server.storage (the pack of small images
        written anew from every zone of `zones` when it is due) and forget removed zones';
        at start (configured: every zone name) also drop the files of zones no longer
        configured."""
        if not self.keeping:
            return
        try:
            self.keep.store(zones, fresh, removed, configured)
        except Exception:
            logger.exception("keeping compiled images failed")

    # ------------------------------------------------------------------ running

    def start_workers(self):
        """Start the UDP and TCP workers: from here the loaded zones are answered, before
        the event loop and the control socket exist (run() holds the signals meanwhile)."""
        from robdns import _core
        if self.listeners.udp:
            self.workers = _core.UdpWorkers(
                self.listeners.udp, self.cfg.udp_batch, dataclasses.asdict(self.cfg.rrl),
                dnstap=self.dnstap, dnstap_first=0, hold_us=self.cfg.udp_hold_us)
        if self.listeners.tcp:
            # The C TCP loops stream zone transfers themselves (query/xfr.c).
            self.tcp = tcp_workers.start(self.listeners, self.cfg.tcp, self.cfg.workers,
                                         dnstap=self.dnstap, dnstap_first=len(self.listeners.udp))

    async def main(self, held=None):
        """The event loop's part, once the workers answer: signals, the control socket,
        transfers, secondaries, then READY to systemd (every zone served).  held: the
        signals that arrived since the workers started (_SignalHold), acted on now."""
        import asyncio
        from robdns.commands import Commands
        from robdns.tasks import TaskSet
        loop = asyncio.get_running_loop()
        self.reload_lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        # every background coroutine is held in one of these and settled at the stop
        self.background = TaskSet("background work")   # reloads, catalog changes, publications
        self.pollers = TaskSet("poller")                 # loops that run until the stop
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self.background.spawn(self._reload_logged()))
        for sig in held.release() if held is not None else ():
            if sig == signal.SIGHUP:
                self.background.spawn(self._reload_logged())
            else:
                self.stopping.set()
        self.control = control.ControlServer(Commands(self))
        await self.control.start(self.control_socket)
        self.pollers.spawn(self._reap_retired())
        self.transfers.start()
        self.transfers.notify_changed(self.cfg, {}, self.zones)   # RFC 1996 4.7: on start too
        from robdns.secondary import Secondary
        self.secondary = Secondary(self)
        self.secondary.start()
        for name in list(self.catalogs.catalogs):    # a kept catalog newer than its members
            self.background.spawn(self.catalogs.changed(name))
        self.pollers.spawn(self._rotate_cookie_secret())
        summary = self._summary()
        logger.info("serving: %s", summary, extra={"event": "serving", "summary": summary})
        sdnotify.ready(summary)
        self.background.spawn(self._prepare_reload())
        self.pollers.spawn(self._release_huge_pages())
        await self.stopping.wait()
        await self.pollers.cancel()
        logger.info("stopping")
        sdnotify.stopping()
        await self.shutdown()

    def stop(self):
        self.stopping.set()

    SETTLE_AT_STOP_S = 30.0     # a stop waits this long for a reload or a catalog change

    async def _prepare_reload(self):
        """What the first reload would sort of the zones (zoneset._Plan.sort), done once
        serving, in the reload thread: a start leaves it until the workers answer."""
        import asyncio
        async with self.reload_lock:
            await asyncio.get_running_loop().run_in_executor(self.reloader, self.zones.prepare_reload)

    # run() holds the moves into huge pages (lib/rd_huge.h) through the start; released
    # once the workers have had HUGE_QUIET_S without a query after READY (looked at every
    # HUGE_POLL_S), at the latest HUGE_LATEST_S after it (a server under steady load never
    # pauses: the moves then run beside it, as they did before the hold).  Half a second:
    # a client that sweeps every zone pauses between its steps (100,000 names made into
    # queries take a Python client ~0.1-0.3 s), and a shorter window let the collapse
    # start inside the sweep it was held back from.
    HUGE_QUIET_S = 0.5
    HUGE_POLL_S = 0.1
    HUGE_LATEST_S = 10.0

    def _queries_seen(self):
        """Queries the workers have taken so far (their own counters, read without a lock)."""
        n = 0
        for w in (self.workers, self.tcp):
            if w is not None:
                n += w.stats()["queries"]
        if self.xdp:
            n += self.xdp.counters().get("rx_frames", 0)
        return n

    async def _release_huge_pages(self):
        """Let the start's moves into huge pages go once no query came for HUGE_QUIET_S:
        a collapse makes a worker that touches the page in hand wait, so during the first
        burst of queries (every zone asked once, as a monitor or a bench does) it would
        slow the answers it is meant to speed up (issue 14: ~0.25 s of the 100,000-zone
        start's sweep on one CPU)."""
        import asyncio
        from robdns import _core
        loop = asyncio.get_running_loop()
        try:
            latest = loop.time() + self.HUGE_LATEST_S
            seen, quiet_since = self._queries_seen(), loop.time()
            while loop.time() < latest:
                await asyncio.sleep(self.HUGE_POLL_S)
                now = self._queries_seen()
                if now != seen:
                    seen, quiet_since = now, loop.time()
                elif loop.time() - quiet_since >= self.HUGE_QUIET_S:
                    break
        finally:
            _core.huge_hold(False)

    async def _reap_retired(self):
        """Free the old snapshots that a zone transfer still pinned at their reload, once
        the stream is done (publish() does not wait for pins: a transfer can take long)."""
        import asyncio
        from robdns import _core
        while True:
            await asyncio.sleep(1.0)
            _core.reap()

    async def _rotate_cookie_secret(self):
        """Replace a generated DNS Cookie secret every secret_lifetime (RFC 7873 7.1),
        publishing a snapshot that still accepts the previous one (RFC 9018 5)."""
        import asyncio
        from robdns import _core
        loop = asyncio.get_running_loop()
        while True:
            wait = self.cookies.due()
            await asyncio.sleep(60.0 if wait is None else min(wait, 60.0))
            if self.cookies.due() != 0.0:
                continue
            async with self.reload_lock:         # one publisher at a time
                self.cookies.rotate()
                db = self.database(self.zones, self.cfg)
                await loop.run_in_executor(self.reloader, _core.publish, db)
            logger.info("cookies: server secret replaced (the previous one stays valid)")

    async def shutdown(self):
        import asyncio
        from robdns import _core
        if self.control:
            await self.control.close()
        # What SIGHUP, a catalog or a secondary started finishes first, while the secondary
        # and the reload thread are still there: a catalog change ends by configuring the
        # secondary (new members planned), which after its close would start it again.
        await self.background.settle(self.SETTLE_AT_STOP_S)
        if self.secondary:
            await self.secondary.close()
        if self.tcp:
            self.tcp.stop()
        await self.transfers.close()
        # A reload still running would publish after us: let it finish first.
        await asyncio.get_running_loop().run_in_executor(None, self.reloader.shutdown, True)
        # Images not written yet are compiled again at the next start: do not delay the stop.
        self.keeping = False
        await asyncio.get_running_loop().run_in_executor(None, self.keeper.shutdown, True)
        if self.workers:
            self.workers.stop()
        if self.xdp:
            self.xdp.stop()
        if self.dnstap:
            self.dnstap.stop()      # after the workers: what they logged is written first
        if self.http:
            self.http.stop()
        _core.publish(None)
        self.listeners.close()
        logger.info("stopped", extra={"event": "stopped"})

    def _summary(self):
        text = (f"{_count(self.zones.served, 'zone')}, {_count(self.cfg.workers, 'worker')} on "
                f"{' '.join(str(a) for a in self.cfg.listen)}")
        if self.cfg.rrl.rate:
            text += f", rate limit {self.cfg.rrl.rate}/s per client prefix"
        if self.cookies.enabled:
            text += ", DNS cookies" + (" required over UDP" if self.cookies.require else "")
        if self.zones.failed:
            text += f", {_count(self.zones.failed, 'zone')} failed"
        return text

    # ------------------------------------------------------------------ reload

    async def reload(self, force=(), report=True):
        """Reload config and zones (SIGHUP, ctl reload): zones whose files changed are
        compiled again, and those in `force` (True: all) whatever their files say.
        Failed parts keep their old version."""
        import asyncio
        loop = asyncio.get_running_loop()
        async with self.reload_lock:
            sdnotify.reloading("reloading")
            logger.info("reloading", extra={"event": "reload_start"})
            t0 = time.monotonic()
            # the serials notify_changed() compares: of the zones that notify anyone
            before = {z.name: st.image.serial for z in self._notifying()
                      if (st := self.zones.get(z.name)) is not None and st.image is not None}
            try:
                result = await loop.run_in_executor(self.reloader, self._reload_blocking, force,
                                                    report)
                self.transfers.notify_changed(self.cfg, before, self.zones, self._notifying())
            except BaseException:
                metrics.events.reload_failures += 1
                raise
            finally:
                summary = self._summary()
                sdnotify.ready(summary)
            if not result.get("ok"):
                metrics.events.reload_failures += 1
            self.reloads += 1
            if self.secondary:
                self.secondary.configure()
            ms = round((time.monotonic() - t0) * 1000, 1)
            logger.info("reload done in %.1f ms: %s", ms, summary,
                        extra={"event": "reload", "ms": ms, "ok": bool(result.get("ok")),
                               "summary": summary})
            return result

    def _notifying(self):
        """The zone configs of the running config that NOTIFY anyone (RFC 1996), found
        once per set of configs: a reload of an unchanged config file of 100,000 zones
        then reads no zone's notify setting, twice."""
        zones = self.cfg.zones
        if self._notify_of is not zones:
            self._notify_list = [z for z in zones if z.notify]
            self._notify_of = zones
        return self._notify_list

    async def publish_zone(self, name, image=None, expired=None):
        """Serve `image` for zone `name` (None: keep its image) and set its expired flag
        (None: unchanged): the secondary's change, published the way a reload publishes
        (under the reload lock, RCU grace period waited in the reload thread).  Changes
        that arrive while one is published wait and go out together in the next database:
        a catalog bringing thousands of members costs a few publications, not one each."""
        import asyncio
        fut = asyncio.get_running_loop().create_future()
        self._zone_changes.append((name, image, expired, fut))
        if len(self._zone_changes) == 1 and self.background.spawn(self._publish_changes()) is None:
            # stopping: nothing publishes any more (the secondary asking is cancelled next)
            self._zone_changes.clear()
            fut.cancel()
        await fut

    async def _publish_changes(self):
        import asyncio
        from robdns import _core
        loop = asyncio.get_running_loop()
        # Publishing takes at most about half of the reload thread: after one that cost T
        # seconds the next waits until T has passed, gathering what arrives meanwhile (a
        # catalog's thousands of first transfers; a lone change waits for nothing).
        wait = self._published_at + self._publish_cost - loop.time()
        if wait > 0:
            await asyncio.sleep(min(wait, 1.0))
        async with self.reload_lock:
            changes, self._zone_changes = self._zone_changes, []

            def work():
                cfg = self.cfg
                zones = self.zones
                configs = self.secondary.zones() if self.secondary is not None else {}
                for name, image, expired, _ in changes:
                    zones = zones.replaced(name, image, expired, configs.get(name),
                                           xfrout.journal_dir(cfg))
                _core.publish(self.database(zones, cfg))
                self.zones = zones
                logger.debug("%d zone changes published together", len(changes))

            t0 = loop.time()
            try:
                await loop.run_in_executor(self.reloader, work)
            except BaseException as e:
                for *_, fut in changes:
                    if not fut.done():
                        fut.set_exception(e)
                raise
            self._published_at = loop.time()
            self._publish_cost = self._published_at - t0
            for *_, fut in changes:
                if not fut.done():
                    fut.set_result(None)

    async def _reload_logged(self):
        try:
            await self.reload(report=False)      # nobody reads a SIGHUP's answer
        except Exception:
            logger.exception("reload failed; the previous configuration and zones keep serving")

    def _reload_blocking(self, force=(), report=True):
        cfg = self.cfg
        if cfg.path is not None:
            try:
                new = self.config_cache.load(cfg.path)
            except ConfigError as e:
                self.config_error = str(e)
                for line in str(e).splitlines():
                    logger.error("%s", line)
                logger.error("configuration not reloaded; the previous one stays in force",
                             extra={"event": "config_failed", "errors": str(e).splitlines()})
                return {"ok": False, "config_error": self.config_error}
            self.restart_needed = reconfig.restart_needed(cfg, new)
            for key in self.restart_needed:
                logger.warning("%s changed: takes effect at the next restart", key)
            cfg = reconfig.applicable(cfg, new)
        self.config_error = None
        zones = self.load(cfg, force)
        self.cfg = cfg
        set_level(cfg.log_level)
        if self.tcp:
            self.tcp.set_limits(tcp_workers.limits(cfg.tcp, cfg.workers, self.tcp.pool))
        return {"ok": not zones.failed, "zones": zones.status() if report else [],
                "restart_needed": list(self.restart_needed)}

    # ------------------------------------------------------------------ reports

    def status(self):
        from robdns import _core
        db = _core.published()
        return {
            "version": __version__, "pid": os.getpid(), "uptime": time.time() - self.started,
            "config": self.cfg.path, "config_error": self.config_error,
            "listen": [str(a) for a in self.cfg.listen], "workers": self.cfg.workers,
            "reloads": self.reloads, "generation": getattr(db, "generation", None),
            "restart_needed": list(self.restart_needed),
            "zones": self.zones.status(),
            # transfers out per zone, as counted from the data plane's events so far (read,
            # not drained: this may run on the HTTP thread)
            "transfers_out": self.transfers.counts(),
        }

    def stats(self):
        return stats.collect(self.workers, self.tcp, self.xdp, self.zone_slots, self.dnstap)

    def metrics_snapshot(self):
        """(stats, status) for a /metrics scrape, from the HTTP thread: the counters are
        summed from the workers' own copies, so no worker waits."""
        return self.stats(), self.status()

    def ready(self):
        """/ready: every configured zone is served (loaded now, or a copy kept from an
        earlier load); false while the first load runs or a zone has never loaded."""
        configs = self.zone_configs if self.zone_configs is not None else self.dynamic.zones(self.cfg)
        missing = [z.name for z in configs
                   if (st := self.zones.get(z.name)) is None or st.image is None]
        return not missing, {"ready": not missing, "zones": len(configs),
                             "not_served": missing}


def _start_dnstap(cfg, nrings):
    import socket as _socket
    from robdns import _core
    try:
        return _core.Dnstap(cfg.path, cfg.unix, nrings, queries=cfg.queries,
                            responses=cfg.responses, sample=cfg.sample,
                            ring_bytes=1 << max(16, (cfg.ring_kib * 1024 - 1).bit_length()),
                            identity=cfg.identity or _socket.gethostname(),
                            version=f"robdns {__version__}")
    except OSError as e:
        raise OSError(f"server.dnstap: {e}") from None


class _SignalHold:
    """SIGTERM, SIGINT and SIGHUP noted, not acted on, from just before the workers start
    until the event loop takes them (Daemon.main): the workers answer while asyncio and
    the control plane are imported, and a SIGTERM then would otherwise kill the process
    without the clean stop (a SIGHUP, its default action).  Each is acted on once the
    loop runs: a stop, or a reload."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self):
        self.got = []
        for sig in self.SIGNALS:
            signal.signal(sig, self._note)

    def _note(self, sig, frame):
        self.got.append(sig)

    def release(self):
        """The signals noted, in order; the loop's handlers replace ours from here."""
        return list(self.got)


def _yield_to_serving():
    """Run the calling thread (the keeper) at the lowest priority (nice 19; Linux sets a
    thread's own): writing 100,000 images after a start must not take the CPU from the
    UDP worker answering beside it on a server pinned to one core."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except OSError:
        pass


def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _return_big_blocks_to_the_os():
    """Pin glibc's mmap threshold at 128 KiB: zone images and databases (large blocks) are
    then always mmap()ed and given back to the kernel when a reload frees them. glibc's
    default raises the threshold after such a free, so later images would come from the
    heap, where fragmentation keeps RSS climbing for many reloads before it levels off."""
    from robdns import _core
    _core.pin_mmap_threshold(128 * 1024)


def run(args):
    """Entry point of ``robdns serve``; returns the process exit status."""
    setup(getattr(args, "log_level", "info"))
    _return_big_blocks_to_the_os()
    # The config and the zones make a few objects per zone and free almost none: the
    # collector's passes over them while they are made are pure cost (enabled after the
    # first load).
    gc.disable()
    try:
        cache = config.Cache()
        if args.config:
            cfg = cache.load(args.config)
            cfg = dataclasses.replace(cfg, path=os.path.abspath(args.config))
        else:
            cfg = config.default_config()
    except ConfigError as e:
        for line in str(e).splitlines():
            logger.error("%s", line)
        return 1
    if args.config and getattr(args, "log_level", None) in (None, "info"):
        set_level(cfg.log_level)
    set_format(cfg.log_format)
    logger.info("robdns %s starting (pid %d, config %s)", __version__, os.getpid(),
                cfg.path or "built-in: bundled example zone",
                extra={"event": "start", "version": __version__, "pid": os.getpid(),
                       "config": cfg.path})
    d = Daemon(cfg)
    d.config_cache = cache
    try:
        d.bind()
        d.drop_privileges()
    except (OSError, RobdnsError) as e:
        logger.error("%s", e)
        if d.xdp:
            d.xdp.stop()
        if d.dnstap:
            d.dnstap.stop()
        return 1
    # A secondary zone with no copy at all asks its primary for AXFR now: the primary sends
    # while the zones load, the workers start and asyncio is imported (the zone's first
    # refresh takes the transfer over).
    from robdns import first_transfer
    d.first_transfers = first_transfer.start(cfg)
    if d.http:
        d.http.start()          # /health answers and /ready says no while the zones load
    from robdns import _core
    _core.huge_hold(True)       # until the workers are quiet after READY (Daemon.main)
    d.load(cfg)
    # What the start made (zone states, images, configs: several objects per zone) lives
    # as long as the zones: out of the collector's way, so that no later collection walks
    # 100,000 zones' objects (a reload makes new ones, which it does walk).
    gc.freeze()
    gc.enable()
    held = _SignalHold()
    d.start_workers()
    import asyncio
    import uvloop
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(d.main(held))
    finally:
        loop.close()
    return 0
