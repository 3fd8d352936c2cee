"""keep — compiled zone images kept on disk (server.storage), so that a restart maps what
the previous run compiled instead of parsing every zone file again.

One file per zone in STORAGE/zones/, named after the zone:

    image bytes | meta (JSON) | trailer: magic "RDKEEP01", u32 image length,
                                         u32 meta length, u64 image checksum (little endian)

The image comes first so that a big one is mapped from offset 0.  The meta names the zone,
the files the parser read ($INCLUDEs too) and a key: a digest of those files' identity,
size and modification time, the zone's settings and the compiler that made the image.  A
kept image is used only when the key computed now from the same files is the same, its
checksum matches and zimg_from_buffer accepts every offset in it; anything else (stale,
damaged, truncated, another compiler) is logged and the zone is compiled again, and the
new image replaces the file.  Files are written to a temporary name and renamed, so a
crash leaves either the old file or the new one.
"""

import hashlib
import json
import os
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
    """The key of a zone_source() tuple (robdns.zoneset) under this compiler."""
    return hashlib.sha256(repr((compiler_id(), source)).encode("utf-8", "surrogateescape")).hexdigest()


def file_name(zone):
    """The file of a zone's image: its name when that is a plain host name, else a digest
    (zone names may hold any octet, RFC 2181 11)."""
    bare = zone.rstrip(".") or "root"
    if len(bare) <= 200 and all(c.isascii() and (c.isalnum() or c in "-_.") for c in bare) \
            and not bare.startswith("."):
        return bare + ".zimg"
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
        return os.path.join(self.zones_dir, file_name(zone))

    def load(self, z, zone_source):
        """(image, source) of zone config `z` from its kept file when that is current and
        sound, else None (the reason logged).  zone_source: robdns.zoneset.zone_source."""
        if not self.enabled:
            return None
        from robdns import _core
        path = self.path(z.name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as e:
            logger.warning("zone %s: kept image %s unreadable (%s): compiling", z.name, path, e.strerror)
            return None
        try:
            size = os.fstat(fd).st_size
            if size < TRAILER.size:
                raise ValueError("truncated")
            magic, img_len, meta_len, checksum = TRAILER.unpack(
                os.pread(fd, TRAILER.size, size - TRAILER.size))
            if magic != MAGIC or img_len + meta_len + TRAILER.size != size:
                raise ValueError("not a kept image, or truncated")
            meta = json.loads(os.pread(fd, meta_len, img_len))
            if meta.get("zone") != z.name or not isinstance(meta.get("files"), list):
                raise ValueError("written for another zone")
            files = tuple(meta["files"])
            source = zone_source(z, files)
            if source is None or source_key(source) != meta.get("key"):
                logger.debug("zone %s: kept image is stale: compiling", z.name)
                return None
            img = _core.ZoneImage.from_kept(fd, img_len, checksum, files)
            if img.origin != z.name:
                raise ValueError(f"holds zone {img.origin}")
        except (ValueError, OSError, UnicodeDecodeError, struct.error) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            logger.warning("zone %s: kept image %s damaged (%s): compiling again", z.name, path, reason)
            return None
        finally:
            os.close(fd)
        return img, source

    def save(self, name, img, source):
        """Keep the image of zone `name` compiled from `source` (zone_source()); a source
        of None (a file changed during the compile) is not kept.  Errors are logged."""
        if not self.enabled or source is None:
            return
        path = self.path(name)
        tmp = f"{path}.tmp{os.getpid()}"
        meta = json.dumps({"zone": name, "files": list(img.source_files),
                           "key": source_key(source)}).encode("utf-8", "surrogateescape")
        try:
            img.save(tmp)
            with open(tmp, "ab") as f:
                f.write(meta)
                f.write(TRAILER.pack(MAGIC, img.size, len(meta), img.checksum()))
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
