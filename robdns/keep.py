"""keep — compiled zone images kept on disk (server.storage), so that a restart maps what
the previous run compiled instead of parsing every zone file again.

One file per zone in STORAGE/zones/, named after the zone (ZONE.zimg: `example.com.zimg`):

    image bytes | meta | trailer: magic "RDKEEP01", u32 image length, u32 meta length,
                                  u64 image checksum (little endian)

meta: the zone name, the key, then each source file, separated by NUL bytes (which no
zone name in presentation form and no path can hold).

The image comes first so that a big one is mapped from offset 0.  The meta names the zone,
the files the parser read ($INCLUDEs too) and a key: a digest of those files' identity,
size and modification time, the zone's settings and the compiler that made the image.  A
kept image is used only when the key computed now from the same files is the same, its
checksum matches and zimg_from_buffer accepts every offset in it; anything else (stale,
damaged, truncated, another compiler) is logged and the zone is compiled again, and the
new image replaces the file.  Files are written to a temporary name and renamed, so a
crash leaves either the old file or the new one.
"""

import functools
import hashlib
import os
import re
import struct

from robdns import __version__
from robdns.log import logger

MAGIC = b"RDKEEP01"
TRAILER = struct.Struct("<8sIIQ")
SUBDIR = "zones"

_compiler = None


def compiler_id():
    """What identifies the compiler that made an image: robdns's version and the built
    extension's size and time, so that a rebuilt extension never serves an image an older
    build made (the image format may be the same while the precomputed answers differ)."""
    global _compiler
    if _compiler is None:
        from robdns import _core
        st = os.stat(_core.__file__)
        _compiler = f"{__version__}/{st.st_size}/{st.st_mtime_ns}"
    return _compiler


def source_key(source):
    """The key of a zone_source() tuple (robdns.zoneset: the zone file, its settings, then
    the files' stats) under this compiler: the tuple written out (what it holds has a stable
    repr); the settings' text memoized, many zones of a config share them."""
    return f"{compiler_id()}|{source[0]}|{_settings_text(source[1:-1])}|{source[-1]!r}"


@functools.lru_cache(maxsize=1024)
def _settings_text(settings):
    return repr(settings)


_PLAIN = re.compile(r"[a-z0-9_-][a-z0-9_.-]{0,199}\.")


def file_name(zone):
    """The file of a zone's image: its name when that is a plain host name, else a digest
    (zone names may hold any octet, RFC 2181 11)."""
    if _PLAIN.fullmatch(zone):
        return zone + "zimg"
    return "_" + hashlib.sha256(zone.encode("utf-8", "surrogateescape")).hexdigest() + ".zimg"


class Keep:
    """The kept images of one server.storage directory; `directory` None keeps nothing."""

    def __init__(self, directory):
        self.directory = directory
        self.zones_dir = os.path.join(directory, SUBDIR) if directory else None

    @property
    def enabled(self):
        return self.zones_dir is not None

    def prepare(self, owner=None):
        """Create the directory (before dropping root: owner=(uid, gid) to hand it to).
        A storage that cannot be used is a warning, not an error: zones are then compiled
        at every start, as without it."""
        if not self.enabled:
            return
        try:
            for d in (self.directory, self.zones_dir):
                if not os.path.isdir(d):
                    os.makedirs(d, mode=0o750, exist_ok=True)
                    if owner:
                        os.chown(d, *owner)
        except OSError as e:
            logger.warning("server.storage %s unusable (%s): compiled zones are not kept",
                           self.directory, e.strerror)
            self.directory = self.zones_dir = None

    def path(self, zone):
        return self.zones_dir + os.sep + file_name(zone)

    def load(self, z, zone_source):
        """(image, source) of zone config `z` from its kept file when that is current and
        sound, else None (the reason logged): load_many() of one zone."""
        found = self.load_many([z], zone_source)[0]
        if found is not None and found[0].origin != z.name:
            logger.warning("zone %s: kept image %s damaged (holds zone %s): compiling again",
                           z.name, self.path(z.name), found[0].origin)
            return None
        return found

    def load_many(self, zones, zone_source):
        """keep.load() of each zone config of `zones` at once: the files are read and
        their images checked in one pass without the GIL (_core.read_kept_many), so a
        restart with 100,000 kept zones pays Python only for the key of each.  A list of
        (image, source) or None, in the order of `zones`."""
        if self.zones_dir is None or not zones:
            return [None] * len(zones)
        from robdns import _core
        out = []
        for z, (img, zone, key) in zip(zones, _core.read_kept_many([self.path(z.name) for z in zones])):
            if img is None:
                if zone != "missing":
                    logger.warning("zone %s: kept image %s damaged (%s): compiling again",
                                   z.name, self.path(z.name), zone)
                out.append(None)
                continue
            if zone != z.name:
                logger.warning("zone %s: kept image %s damaged (written for another zone): "
                               "compiling again", z.name, self.path(z.name))
                out.append(None)
                continue
            source = zone_source(z, img.source_files)
            if source is None or source_key(source) != key:
                logger.debug("zone %s: kept image is stale: compiling", z.name)
                out.append(None)
                continue
            out.append((img, source))
        return out

    def save(self, name, img, source):
        """Keep the image of zone `name` compiled from `source` (zone_source()); a source
        of None (a file changed during the compile) is not kept.  Errors are logged."""
        if not self.enabled or source is None:
            return
        path = self.path(name)
        tmp = f"{path}.tmp{os.getpid()}"
        meta = "\0".join((name, source_key(source)) + tuple(img.source_files)).encode(
            "utf-8", "surrogateescape")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
            try:
                img.write(fd)
                view = memoryview(meta + TRAILER.pack(MAGIC, img.size, len(meta), img.checksum()))
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as e:
            logger.warning("zone %s: cannot keep its image in %s: %s", name, path, e.strerror)
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def remove(self, name):
        """Forget the kept image of a zone no longer served."""
        if not self.enabled:
            return
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            pass
        except OSError as e:
            logger.warning("zone %s: cannot remove its kept image: %s", name, e.strerror)

    def prune(self, zones):
        """Remove the kept files of zones not in `zones` (names), and temporary files a
        crash left behind."""
        if not self.enabled:
            return
        wanted = {file_name(z) for z in zones}
        try:
            entries = list(os.scandir(self.zones_dir))
        except OSError as e:
            logger.warning("server.storage %s: cannot list: %s", self.zones_dir, e.strerror)
            return
        for e in entries:
            if e.name not in wanted:
                try:
                    os.unlink(e.path)
                except OSError:
                    pass
