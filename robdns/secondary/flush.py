"""flush — the secondary's kept copy of a zone: after each change the compiled image (for
the next start: served at once, RFC 1034 4.3.5 lets a secondary serve its copy until it
expires) and the zone as text (for the operator) are written atomically beside `file`, with
the time of the last successful refresh (so the expire timer survives a restart)."""

import json
import os
import time

from robdns.log import logger


def image_path(z):
    return z.file + ".img"


def timers_path(z):
    return z.file + ".timers"


def _atomic_write(path, data, mode="wb"):
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def zone_text(img):
    """The image's records as master-file text (RFC 1035 5), SOA first."""
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    from robdns import _core
    lines = []
    soa = []
    for owner, ttl, rclass, rtype, rdata in _core.image_records(img):
        name = dns.name.from_wire(owner, 0)[0]
        rd = dns.rdata.from_wire(dns.rdataclass.IN, rtype, rdata, 0, len(rdata))
        line = f"{name} {ttl} IN {dns.rdatatype.to_text(rtype)} {rd.to_text()}"
        (soa if rtype == 6 else lines).append(line)
    return "\n".join(soa + lines) + "\n"


def write_kept(z, img, refreshed_at=None):
    """Write the kept copy of zone config `z`: image, text and timers (each atomically)."""
    t0 = time.monotonic()
    img.save(image_path(z))
    _atomic_write(z.file, zone_text(img).encode(), "wb")
    save_timers(z, refreshed_at if refreshed_at is not None else time.time())
    logger.info("zone %s: kept copy of serial %s written in %.1f ms", z.name, img.serial,
                (time.monotonic() - t0) * 1000)


def save_timers(z, refreshed_at, expire_at=None):
    data = {"refreshed_at": refreshed_at}
    if expire_at is not None:
        data["expire_at"] = expire_at
    try:
        _atomic_write(timers_path(z), json.dumps(data).encode())
    except OSError as e:
        logger.warning("zone %s: cannot write %s: %s", z.name, timers_path(z), e.strerror)


def load_timers(z):
    try:
        with open(timers_path(z)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def load_kept(z):
    """The kept image of secondary zone `z`, or None (never received, or unreadable: then
    the zone waits for its first transfer)."""
    from robdns import _core
    from robdns.errors import ZoneError
    path = image_path(z)
    if not os.path.exists(path):
        return None
    try:
        img = _core.ZoneImage.load(path)
    except ZoneError as e:
        logger.warning("zone %s: kept copy not usable: %s", z.name, e)
        return None
    if img.origin.lower() != z.name:
        logger.warning("zone %s: kept copy %s holds zone %s", z.name, path, img.origin)
        return None
    return img
