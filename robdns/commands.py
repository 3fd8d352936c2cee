"""commands — what each control-socket command does (robdns.control carries them): one
small handler per command, looked up by name.

Request and answer as robdns.control describes: {"cmd": NAME, "zone": NAME?} in, a dict
with "ok" out.  The handlers ask the daemon; they hold no state of their own.
"""

from robdns.zoneset import zone_key


class Commands:
    """The dispatcher robdns.control.ControlServer calls with each request."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.handlers = {
            "status": self.status,
            "zone-status": self.zone_status,
            "stats": self.stats,
            "reload": self.reload,
            "zone-reload": self.zone_reload,
            "zone-add": self.zone_add,
            "zone-remove": self.zone_remove,
            "zone-refresh": self.zone_refresh,
            "zone-retransfer": self.zone_retransfer,
            "zone-notify": self.zone_notify,
            "stop": self.stop,
        }

    async def __call__(self, req):
        handler = self.handlers.get(req["cmd"])
        if handler is None:
            return {"ok": False, "error": f"unknown command {req['cmd']!r}"}
        return await handler(req)

    async def status(self, req):
        return {"ok": True, **self.daemon.status()}

    async def zone_status(self, req):
        name = req.get("zone")
        zones = list(self.daemon.zones)
        if name:
            st = self.daemon.zones.get(name)
            if st is None:
                return {"ok": False, "error": f"no zone {name} configured"}
            zones = [st]
        out = []
        for z in zones:
            st = z.status()
            transfers = getattr(self.daemon, "transfers", None)
            if transfers is not None:
                st.update(transfers.zone_status(z.name))
            catalogs = getattr(self.daemon, "catalogs", None)
            if catalogs is not None:
                st.update(catalogs.zone_status(z.name))     # RFC 9432 catalog or member
            out.append(st)
        return {"ok": all(not z["errors"] and not (z.get("catalog") or {}).get("error") for z in out),
                "zones": out}

    async def stats(self, req):
        return {"ok": True, "stats": self.daemon.stats()}

    async def reload(self, req):
        return await self.daemon.reload()

    async def zone_reload(self, req):
        # Like knotc zone-reload: compile again even if the file looks unchanged.
        name = req.get("zone")
        if not name:
            return await self.daemon.reload(force=True)
        # one zone: compiled alone, without a pass over the config or the other zones
        return await self.daemon.zone_change(self.daemon.zone_reload, name)

    async def zone_add(self, req):
        # Like knotc conf-set zone[NAME] + zone.file: served at once, kept across restarts.
        name, file = req.get("zone"), req.get("file")
        if not name or not file:
            return {"ok": False, "error": "zone-add needs a zone name and a file"}
        ttl = req.get("default_ttl", 3600)
        return await self.daemon.zone_change(self.daemon.zone_add, name, file, ttl)

    async def zone_remove(self, req):
        name = req.get("zone")
        if not name:
            return {"ok": False, "error": "zone-remove needs a zone name"}
        return await self.daemon.zone_change(self.daemon.zone_remove, name)

    async def zone_notify(self, req):
        # Like knotc zone-notify: NOTIFY the zone's secondaries now (RFC 1996).
        name = req.get("zone")
        if not name:
            return {"ok": False, "error": "zone-notify needs a zone"}
        st = self.daemon.zones.get(name)
        zc = next((z for z in self.daemon.cfg.zones if z.name == zone_key(name)), None)
        if st is None or zc is None:
            return {"ok": False, "error": f"no zone {name} configured"}
        if not zc.notify:
            return {"ok": False, "error": f"zone {zc.name} has no notify targets"}
        serial = st.image.serial if st.image is not None else None
        targets = self.daemon.transfers.notify_zone(self.daemon.cfg, zc, st.image)
        return {"ok": bool(targets), "zone": zc.name, "serial": serial, "targets": targets}

    async def zone_refresh(self, req, force_axfr=False):
        # Like knotc zone-refresh (zone-retransfer: a full AXFR whatever the serials say);
        # the answer comes when the refresh is done, with the zone's status.
        name = req.get("zone")
        sec = self.daemon.secondary
        st = self.daemon.zones.get(name) if name else None
        if not name or st is None:
            return {"ok": False, "error": f"no zone {name} configured" if name else "name a zone"}
        if sec is None or st.role != "secondary":
            return {"ok": False, "error": f"zone {st.name} is not a secondary zone"}
        ok = await sec.refresh_now(st.name, force_axfr=force_axfr)
        zs = self.daemon.zones.get(name)
        return {"ok": bool(ok), "zones": [zs.status()],
                **({} if ok else {"error": zs.xfr.last_error if zs.xfr else "refresh failed"})}

    async def zone_retransfer(self, req):
        return await self.zone_refresh(req, force_axfr=True)

    async def stop(self, req):
        self.daemon.stop()
        return {"ok": True}
