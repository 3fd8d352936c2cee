"""xfrout — the control plane's side of serving secondaries: the journal directory, the
log and counters of the transfers the data plane served or refused (drained from the C
event ring, never a Python call per packet), NOTIFY after each new serial, and what
``robdns ctl zone-status`` shows of it all.
"""

import os

from robdns import journal, metrics, notify
from robdns.log import logger


def journal_dir(cfg):
    """server.xfr.journal_dir; unset, "journal" in server.storage (kept across restarts),
    or beside the control socket when storage is off."""
    if cfg.xfr.journal_dir:
        return cfg.xfr.journal_dir
    storage = getattr(cfg, "storage", "")
    return os.path.join(storage, "journal") if storage else journal.default_dir(cfg.control)


def make_journal_dir(cfg, owner=None):
    """Create the journal directory before root is dropped, owned by the server's user."""
    path = journal_dir(cfg)
    try:
        os.makedirs(path, mode=0o750, exist_ok=True)
        if owner is not None and os.geteuid() == 0:
            os.chown(path, *owner)
    except OSError as e:
        logger.warning("journal directory %s: %s; IXFR history is not kept", path, e.strerror)


class Transfers:
    def __init__(self):
        self.notifier = notify.Notifier()
        self.counters = {}           # zone -> {"served": n, "refused": n, ..., "last": event}
        self._task = None

    def start(self):
        import asyncio          # not before the daemon's workers answer (robdns.daemon)
        self._task = asyncio.ensure_future(self._drain_loop())

    async def close(self):
        if self._task:
            self._task.cancel()
        self.drain()
        await self.notifier.close()

    async def _drain_loop(self):
        import asyncio
        while True:
            await asyncio.sleep(0.5)
            self.drain()

    def drain(self):
        from robdns import _core
        events, lost = _core.transfer_events()
        if lost:
            logger.warning("transfer log: %d events lost (ring full)", lost)
        for e in events:
            c = self.counters.setdefault(e["zone"], {"served": 0, "refused": 0, "aborted": 0,
                                                     "busy": 0, "uptodate": 0, "bytes": 0})
            who = f"{e['address']}@{e['port']}" + (f" key {e['key']}" if e["key"] else "")
            what = e["what"]
            if what == "done":
                c["served"] += 1
                c["bytes"] += e["bytes"]
                metrics.events.transfers_out += 1
                how = e["mode"] if e["mode"] == e["qtype"] else f"{e['mode']} (IXFR from {e['client_serial']} not in the journal)"
                logger.info("transfer %s serial %s to %s: %s, %d messages, %d records, %d bytes",
                            e["zone"], e["serial"], who, how, e["messages"], e["records"], e["bytes"],
                            extra={"event": "transfer_out", "zone": e["zone"], "serial": e["serial"],
                                   "kind": e["mode"], "remote": who, "records": e["records"]})
            elif what == "refused":
                c["refused"] += 1
                metrics.events.transfers_out_failed += 1
                logger.warning("transfer %s (%s) to %s refused: not allowed by allow_transfer",
                               e["zone"], e["qtype"], who)
            elif what == "notauth":
                logger.info("transfer %s (%s) to %s: not a zone served here", e["zone"], e["qtype"], who)
            elif what == "busy":
                c["busy"] += 1
                metrics.events.transfers_out_failed += 1
                logger.warning("transfer %s to %s refused: server.xfr.max_transfers reached", e["zone"], who)
            elif what == "aborted":
                c["aborted"] += 1
                metrics.events.transfers_out_failed += 1
                logger.warning("transfer %s to %s cut after %d messages", e["zone"], who, e["messages"])
            elif what == "uptodate":
                c["uptodate"] += 1
                logger.info("transfer %s to %s: IXFR, client at serial %s is current", e["zone"],
                            who, e["client_serial"])
            c["last"] = e

    def notify_zone(self, cfg, zone_cfg, image):
        """NOTIFY zone_cfg's targets of `image` (the version served); returns them."""
        if not zone_cfg.notify or image is None:
            return []
        keys = {k.name: k for k in cfg.keys}
        soa = None
        for rs in image.rrsets(zone_cfg.name) or ():
            if rs["type"] == 6 and rs["rdatas"]:
                soa = (rs["ttl"], rs["rdatas"][0])
        self.notifier.notify(zone_cfg.name, image.serial, zone_cfg.notify, keys,
                             retries=cfg.xfr.notify_retries, timeout=cfg.xfr.notify_timeout,
                             soa=soa)
        return [str(t) for t in zone_cfg.notify]

    def notify_changed(self, cfg, before, zones, notifying=None):
        """NOTIFY every zone whose served serial differs from `before` ({name: serial});
        notifying: the zone configs of cfg that notify anyone, when the caller has them."""
        for z in cfg.zones if notifying is None else notifying:
            if not z.notify:
                continue                # most zones of 100,000: no lookup, no serial read
            st = zones.get(z.name)
            serial = st.image.serial if st is not None and st.image is not None else None
            if z.notify and serial is not None and serial != before.get(z.name):
                self.notify_zone(cfg, z, st.image)

    def counts(self):
        """{zone: {served, refused, aborted, busy, uptodate, bytes}} (a copy)."""
        return {z: {k: v for k, v in c.items() if k != "last"} for z, c in list(self.counters.items())}

    def zone_status(self, name):
        self.drain()
        c = dict(self.counters.get(name, {}))
        last = c.pop("last", None)
        return {"transfers": c or None,
                "last_transfer_out": ({k: last[k] for k in ("time", "what", "qtype", "mode", "address",
                                                         "key", "serial", "bytes")} if last else None),
                "notify": self.notifier.results.get(name)}
