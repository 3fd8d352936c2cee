"""zoneset — the configured zones as the server holds them: each zone's state (image
served, last error), compiling the zones whose sources changed, and the database
snapshot built from the images.

A ZoneSet is replaced, never changed in place: `compiled()` returns the next set and the
daemon publishes the database built from it, so a reload that fails half-way leaves the
running set as it was.  Whatever loads zones (a file reload today; a zone transfer, a
catalog later) produces a ZoneState and a new set from it.
"""

import dataclasses
import os
import time

from robdns.errors import ZoneError
from robdns.log import logger

# A file modified this shortly before its compile started may still change within the
# same coarse file-time tick (file times lag the fine clock by up to a few ms).
_SOURCE_SETTLE_NS = 50_000_000


def zone_source(z, files, since_ns=None):
    """What identifies the sources of a compiled zone, for reload: each file's identity,
    size and modification time (the zone file and what it $INCLUDEs) plus the settings
    that change the image.  None when a file cannot be read, or was modified after
    since_ns (during or just before the compile: its content may not be the compiled
    one) -- then the zone is compiled again at the next reload."""
    stats = []
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            return None
        if since_ns is not None and st.st_mtime_ns >= since_ns - _SOURCE_SETTLE_NS:
            return None
        stats.append((path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    # the load policy is part of the source: a zone compiled under another one is stale
    return (z.file, z.default_ttl, getattr(z, "include_policy", None),
            getattr(z, "nsec3_max_iterations", None), tuple(stats))


def zone_key(name):
    """The key of a zone as an operator may type it: case-insensitive, final dot optional."""
    return name.lower() if name.endswith(".") else name.lower() + "."


@dataclasses.dataclass
class ZoneState:
    """What the server knows of one configured zone."""
    name: str
    file: str
    image: object = None            # the ZoneImage being served (None: not served)
    loaded_at: float = 0.0
    load_seconds: float = 0.0
    errors: list = dataclasses.field(default_factory=list)   # of the last failed load
    failed_at: float = 0.0
    source: tuple = None            # the files as `image` was compiled from (zone_source())
    warnings: list = dataclasses.field(default_factory=list)   # about the image served
    role: str = "primary"           # "secondary": the image comes by zone transfer
    expired: bool = False           # a secondary past its SOA EXPIRE: answers SERVFAIL
    xfr: object = None              # robdns.secondary.XfrState of a secondary zone

    def status(self):
        img = self.image
        extra = {"role": self.role}
        if self.xfr is not None:
            extra.update(self.xfr.status())
        extra["expired"] = self.expired
        return {**extra,
            "name": self.name, "file": self.file,
            "state": "failed" if self.errors else "ok",
            "serial": img.serial if img is not None else None,
            "records": img.record_count if img is not None else None,
            "loaded_at": self.loaded_at, "load_seconds": round(self.load_seconds, 6),
            "errors": list(self.errors), "failed_at": self.failed_at or None,
            "warnings": list(self.warnings),
        }

    def unchanged(self, z):
        """True when this state serves an image of `z` whose files are as they were when
        it was compiled (same inode, size and modification time)."""
        return (self.image is not None and not self.errors and self.source is not None
                and zone_source(z, self.image.source_files) == self.source)


class ZoneSet:
    """The configured zones, in config order, by name (absolute, lower case)."""

    def __init__(self, states=()):
        self._states = {st.name: st for st in states}

    def __iter__(self):
        return iter(self._states.values())

    def __len__(self):
        return len(self._states)

    def get(self, name):
        """The ZoneState of `name` as typed by an operator (see zone_key()), or None."""
        return self._states.get(zone_key(name))

    @property
    def served(self):
        return sum(1 for st in self if st.image is not None)

    @property
    def failed(self):
        return sum(1 for st in self if st.errors)

    def images(self):
        return [st.image for st in self if st.image is not None]

    def status(self):
        return [st.status() for st in self]

    def compiled(self, zones, force=()):
        """The set for the zone configs `zones`, compiled from their files.

        A zone whose files are unchanged keeps its state without a recompile, as Knot and
        NSD do on reload; zones named in `force` (or every zone, force=True) are compiled
        again whatever their files say.  A zone that fails keeps its previous image (if
        any) and records why."""
        out = []
        for z in zones:
            old = self._states.get(z.name)
            if getattr(z, "secondary", False):
                # the transfers own a secondary's image: a reload does not touch it
                out.append(secondary_state(z, old))
                continue
            if old is not None and force is not True and z.name not in force and old.unchanged(z):
                logger.debug("zone %s unchanged: serial %s kept", z.name, old.image.serial)
                out.append(old)
            else:
                out.append(compile_state(z, old))
        return ZoneSet(out)

    def replaced(self, name, image=None, expired=None):
        """The set with zone `name` serving `image` (None: the image it has) and its
        expired flag set to `expired` (None: unchanged) — a transfer's or an expiry's
        change, published as a reload's is."""
        out = []
        for st in self:
            if st.name == name:
                st = dataclasses.replace(st)
                if image is not None:
                    st.image, st.loaded_at, st.errors = image, time.time(), []
                if expired is not None:
                    st.expired = expired
            out.append(st)
        return ZoneSet(out)

    def database(self, cfg, zone_slots=None):
        """A new database snapshot of the served images with the engine options of cfg;
        zone_slots ({name: slot}) turns on the per-zone query counters."""
        from robdns import _core
        return _core.Database(self.images(), identity=cfg.identity, version=cfg.version,
                              nsid=cfg.nsid, max_udp_payload=cfg.max_udp_payload,
                              zone_slots=zone_slots,
                              expired=[st.name for st in self if st.expired and st.image is not None],
                              keys=[(k.name, k.algorithm, k.secret) for k in getattr(cfg, "keys", ())],
                              notify=self._notify_rules(cfg))

    def _notify_rules(self, cfg):
        """Who may notify each served secondary zone (robdns.secondary.notify)."""
        from robdns.secondary import notify
        served = {st.name for st in self if st.image is not None}
        rules = notify.database_rules(cfg.zones)
        return {name: r for name, r in rules.items() if name in served}


def secondary_state(z, old=None):
    """The state of secondary zone `z`: the one it has, or at the first load its kept
    copy (served at once; the refresh that follows checks it with the primaries)."""
    from robdns.secondary import flush
    if old is not None and old.role == "secondary" and old.file == z.file:
        return old
    st = ZoneState(z.name, z.file, role="secondary")
    t0 = time.monotonic()
    img = flush.load_kept(z)
    if img is not None:
        st.image, st.loaded_at, st.load_seconds = img, time.time(), time.monotonic() - t0
        logger.info("zone %s: serving the kept copy, serial %s (%d records), until the "
                    "primaries are asked", z.name, img.serial, img.record_count)
    else:
        logger.info("zone %s: no kept copy; waiting for the first transfer", z.name)
    return st


def compile_state(z, old=None):
    """Compile zone config `z` into a new ZoneState; on failure the state keeps the image
    of `old` (the state of the previous load) and carries the errors."""
    from robdns import _core
    st = ZoneState(z.name, z.file)
    if old is not None:
        st.image, st.loaded_at, st.load_seconds = old.image, old.loaded_at, old.load_seconds
        st.source, st.warnings = old.source, old.warnings
    t0 = time.monotonic()
    started_ns = time.time_ns()
    try:
        img = _core.compile_zone(z.name, z.file, z.default_ttl, z.include_policy,
                                 z.nsec3_max_iterations)
    except ZoneError as e:
        st.errors = list(e.messages) or [str(e)]
    except OSError as e:
        st.errors = [f"{z.file}: cannot read: {e.strerror}"]
    except Exception as e:       # a compiler bug must not take the server down
        logger.exception("zone %s: unexpected error while compiling", z.name)
        st.errors = [f"{z.file}: internal error: {type(e).__name__}: {e}"]
    else:
        st.image, st.loaded_at, st.load_seconds = img, time.time(), time.monotonic() - t0
        st.source = zone_source(z, img.source_files, since_ns=started_ns)
        st.warnings = serial_warnings(z.name, old.image if old is not None else None, img)
        logger.info("zone %s loaded: serial %s, %d records, %.1f ms", z.name, img.serial,
                    img.record_count, st.load_seconds * 1000)
        for w in img.warnings + st.warnings:
            logger.warning("%s", w)
    if st.errors:
        st.failed_at = time.time()
        for m in st.errors:
            logger.error("%s", m)
        if st.image is not None:
            logger.error("zone %s failed to load; serial %s keeps serving", z.name, st.image.serial)
        else:
            logger.error("zone %s failed to load; not served", z.name)
    return st


def serial_newer(new, old):
    """new > old in serial number arithmetic (RFC 1982 section 3.2, SERIAL_BITS 32)."""
    return new != old and ((new - old) & 0xFFFFFFFF) < 0x80000000


def serial_warnings(name, old, new):
    """Warnings about loading image `new` of zone `name` in place of `old` (None at the
    first load).  Content that changed under a serial that did not increase reaches no
    secondary: they compare serials to decide on a transfer (RFC 1034 section 4.3.5);
    Knot warns the same way."""
    if old is None or serial_newer(new.serial, old.serial) or new.same_content(old):
        return []
    how = "is unchanged" if new.serial == old.serial else f"went back from {old.serial}"
    return [f"zone {name}: content changed but serial {new.serial} {how}; secondaries "
            f"will not pick up the change"]
