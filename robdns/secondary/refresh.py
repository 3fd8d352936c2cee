"""refresh — the refresh event of a secondary zone (RFC 1034 4.3.5, RFC 1996, RFC 1995):
ask each primary in turn for its SOA; when its serial is newer (RFC 1982), transfer the
zone (IXFR from the serial held, AXFR when the primary refuses IXFR, has no history or the
increment does not apply), check the new version and publish it; then plan the next
refresh, or a retry when every primary failed."""

import asyncio
import time

from robdns import metrics
from robdns.errors import IxfrApplyError, TransferError, ZoneError
from robdns.log import logger
from robdns.secondary import REFRESH_MIN, client, expire, flush

# Retry of a zone never received: there is no SOA RETRY to go by yet.
BOOTSTRAP_RETRY = 5.0


def soa_timers(img):
    """(refresh, retry, expire) of an image's SOA, seconds (RFC 1035 3.3.13)."""
    from robdns import _core
    return _core.soa_fields(img)[1:4]


async def _build(sec, x, cur):
    # zimg_build and the precompute pass run without the GIL: off the event loop
    return await asyncio.get_running_loop().run_in_executor(sec.builder, x.image, cur)


async def _transfer(sec, z, remote, key, qtype, cur):
    t0 = time.monotonic()
    async with sec.slots:
        first = sec.first_transfer(z.name, remote, qtype)
        if first is not None:
            # sent at start (robdns.first_transfer): its time counts from then
            t0 = first.started
            try:
                x, nbytes = await asyncio.shield(asyncio.wrap_future(first.future))
            except asyncio.CancelledError:
                first.cancel()          # its reading thread ends on the shutdown
                raise
        else:
            x, nbytes = await client.transfer(remote, z.name, qtype,
                                              cur.serial if cur is not None else 0,
                                              key, z.transfer_timeout, z.transfer_max_size)
    if x.kind == "uptodate":
        return None, x, {}
    t1 = time.monotonic()
    img = await _build(sec, x, cur if x.kind == "ixfr" else None)
    t2 = time.monotonic()
    # the two phases apart (receive and parse; build, precompute and checks): where a
    # transfer's time goes (bench/xfr_secondary_bench.py prints them); to the microsecond,
    # as a small zone builds in well under a millisecond
    info = {"kind": x.kind, "serial": img.serial, "messages": x.messages,
            "records": x.records, "bytes": nbytes, "seconds": round(t2 - t0, 3),
            "receive_seconds": round(t1 - t0, 6), "build_seconds": round(t2 - t1, 6),
            "at": time.time()}
    return img, x, info


async def _from_primary(sec, z, remote, key, cur, force_axfr):
    """One primary: ('uptodate', None, expire_option, {}) or ('new', image, expire_option,
    info).  Raises TransferError / ZoneError."""
    from robdns import _core
    expire_opt = None
    if cur is not None and not force_axfr:
        try:
            async with sec.slots:
                soa = await client.soa_query(remote, z.name, key)
        except TransferError as e:
            # A primary may answer no query for a zone it only transfers (Knot refuses them
            # for catalog zones, unsigned): the IXFR says whether anything is newer (RFC
            # 1995 4: an answer of the current SOA alone means up to date).
            logger.info("zone %s: SOA query to %s failed (%s); asking for IXFR", z.name,
                        remote.address, e)
            soa = None
        if soa is not None:
            expire_opt = soa.expire
            if not _core.serial_lt(cur.serial, soa.serial):
                # RFC 1034 4.3.5: nothing newer (a lower serial is not a newer zone either)
                return "uptodate", None, expire_opt, {}
        try:
            img, x, info = await _transfer(sec, z, remote, key, "IXFR", cur)
            if img is None:
                return "uptodate", None, expire_opt, {}
            return "new", img, x.expire if x.expire is not None else expire_opt, info
        except (IxfrApplyError, TransferError, ZoneError) as e:
            # RFC 1995 4: the primary may refuse IXFR; an increment that does not apply,
            # or any other failure of the IXFR, is worth a full transfer
            logger.warning("zone %s: IXFR from %s failed (%s); trying AXFR", z.name,
                           remote.address, e)
    img, x, info = await _transfer(sec, z, remote, key, "AXFR", None)
    return "new", img, x.expire if x.expire is not None else expire_opt, info


async def run(sec, name, force_axfr=False):
    """Refresh zone `name`; True when a primary answered (new version or not)."""
    from robdns import _core
    z = sec.zones().get(name)
    if z is None:
        return False
    st = sec.state(name)
    st.refreshing = True
    keys = {k.name: k for k in sec.daemon.cfg.keys}
    errors = []
    try:
        for remote in z.primaries:
            key = keys.get(remote.key) if remote.key else None
            zs = sec.daemon.zones.get(name)
            cur = zs.image if zs is not None else None
            try:
                what, img, expire_opt, info = await _from_primary(sec, z, remote, key, cur, force_axfr)
                if what == "new" and cur is not None and not force_axfr \
                        and not _core.serial_lt(cur.serial, img.serial):
                    raise TransferError(f"the transferred serial {img.serial} is not newer "
                                        f"than {cur.serial} (RFC 1982)")
            except (TransferError, ZoneError) as e:
                msg = str(e) if not isinstance(e, ZoneError) else "; ".join(e.messages[:3])
                errors.append(f"{remote.address}: {msg}")
                metrics.events.transfers_in_failed += 1
                logger.warning("zone %s: refresh from %s failed: %s", name, remote.address, msg,
                               extra={"event": "transfer_failed", "zone": name,
                                      "primary": str(remote.address), "errors": [msg]})
                continue
            await _succeeded(sec, z, st, remote, cur, img, expire_opt, info)
            return True
    finally:
        st.refreshing = False
    st.last_error, st.last_error_at = "; ".join(errors), time.time()
    zs = sec.daemon.zones.get(name)
    retry = soa_timers(zs.image)[1] if zs is not None and zs.image is not None else BOOTSTRAP_RETRY
    sec.schedule(name, "refresh", sec.retry_delay(retry))
    return False


async def _succeeded(sec, z, st, remote, cur, img, expire_opt, info):
    now = time.time()
    served = img if img is not None else cur
    refresh_s, _retry, expire_s = soa_timers(served)
    # RFC 7314 4: the primary's EXPIRE option replaces the SOA EXPIRE (a secondary of a
    # secondary then expires when the first one would)
    if expire_opt is not None:
        expire_s = expire_opt
    expire_at = now + expire_s
    # planned before the publication below, so that the snapshot it makes tells the new
    # expiry in the EDNS EXPIRE option of the zone's SOA answers (RFC 7314 3)
    expire.plan(sec, z.name, expire_at)
    published = img is not None or st.expired
    if img is None and not st.expired and (st.published_expire_at is None or
                                           expire_at - st.published_expire_at > max(60.0, expire_s / 10)):
        # nothing new to serve, but the time left the snapshot tells lags the truth by
        # more than a tenth (or was never set: a start from the kept copy): a new
        # snapshot, at most ten per EXPIRE interval; the value sent meanwhile is never
        # above the truth
        await sec.daemon.publish_zone(z.name, None)
        published = True
    if img is not None:
        await sec.daemon.publish_zone(z.name, img, expired=False)
        metrics.events.transfers_in += 1
        logger.info("zone %s: %s from %s: serial %s, %d records in %.3f s", z.name,
                    info["kind"].upper(), remote.address, img.serial, info["records"],
                    info["seconds"],
                    extra={"event": "transfer", "zone": z.name, "kind": info["kind"],
                           "primary": str(remote.address), "serial": img.serial,
                           "records": info["records"], "ms": round(info["seconds"] * 1000, 1)})
        st.last_transfer = info
        st.transfers += 1
    else:
        st.soa_checks += 1
    if img is None and st.expired:
        # RFC 1034 4.3.5: the primary answered; the copy held is current again
        await sec.daemon.publish_zone(z.name, None, expired=False)
    st.expired = False
    if published:
        st.published_expire_at = expire_at
    st.primary_used = str(remote.address)
    st.last_refresh = now
    st.last_error = None
    sec.schedule(z.name, "refresh", max(REFRESH_MIN, refresh_s))
    # written by the disk thread: the refresh does not wait for it
    sec.disk.submit(flush.save_timers, z, now, expire_at)
    if img is not None:
        sec.schedule(z.name, "flush", 0.0)
        sec.changed(z.name, img)
