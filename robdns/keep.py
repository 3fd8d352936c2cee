"""keep — compiled zone images kept on disk (server.storage), so that a restart maps what
the previous run compiled instead of parsing every zone file again.

Small images (below BIG bytes: the common hosting zone of a dozen records) go to one pack
file, STORAGE/zones.pack (layout in cython_ext/keep.pyx): each record holds the zone's
name, its source files, the fingerprint of those sources and the image; records are
appended as zones are compiled, and the file is written anew (to a temporary name, then
renamed) when it is missing, damaged, or more than a PACK_SLACK share of it is records no
zone uses any more.  A restart maps it once and takes every zone's image from it in one
pass without the GIL.  Big images keep a file each in STORAGE/zones/ (ZONE.zimg, e.g.
`example.com.zimg`), mapped from offset 0:

    image bytes | meta | trailer: magic "RDKEEP02", u32 image length, u32 meta length,
                                  u64 image checksum (little endian; _core's kept image
                                  checksum, summed in 1 MiB chunks: "RDKEEP01" files
                                  summed the image in one pass and are compiled again)

meta: the zone name, the key (the fingerprint, in hex), then each source file, separated
by NUL bytes (which no zone name in presentation form and no path can hold).

The fingerprint (_core.source_fingerprints) digests the zone's settings, the compiler
that made the image, and each source file's path, device, inode, size and modification
time: stat data only, as Knot and NSD decide on reload.  A kept image is used only when
the fingerprint computed now from the same files is the same and its checksum matches: it
is then the very bytes this compiler built, so only its header is checked again
(zimg_from_kept, for the pack's images as for the big ones' files); anything else (stale, damaged, truncated,
another compiler) is logged and the zone is compiled again, and the new image replaces
the old one.
"""

import functools
import os
import re
import struct
import threading

from robdns import __version__, atomicfile
from robdns.log import logger

MAGIC = b"RDKEEP02"
TRAILER = struct.Struct("<8sIIQ")
SUBDIR = "zones"
PACK = "zones.pack"
BIG = 1 << 20            # images at least this big get a file of their own
PACK_SLACK = 0.25        # the pack is written anew when unused records pass this share
FEW = 64                 # fewer zones to look up than this: compiled, the pack is not walked

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


@functools.lru_cache(maxsize=1024)
def _settings_text(compiler, ttl, policy, nsec3):
    return f"{compiler}|{ttl!r}|{policy!r}|{nsec3!r}"


def settings_texts(zones):
    """The part of each zone's fingerprint that is not its files: the compiler and the
    settings that change the image.  The zones of a config share a few settings objects,
    so they are told apart by identity, not hashed once per zone."""
    seen, by_options, out, compiler = {}, {}, [], compiler_id()
    append = out.append
    for z in zones:
        # the ZoneOptions most zones share (robdns.config.zone_options): one dict probe
        # per zone instead of three property reads and a key made
        o = getattr(z, "options", None)
        if o is not None:
            text = by_options.get(id(o))
            if text is not None:
                append(text)
                continue
        policy = getattr(z, "include_policy", None)
        key = (z.default_ttl, id(policy), getattr(z, "nsec3_max_iterations", None))
        text = seen.get(key)
        if text is None:
            text = seen[key] = _settings_text(compiler, z.default_ttl, policy, key[2])
        if o is not None:
            by_options[id(o)] = text
        append(text)
    return out


def fingerprints(zones, files, since_ns=0):
    """The source fingerprint of each zone config of `zones` whose image was compiled from
    `files` (one tuple per zone), stat()ed in one pass without the GIL: None where a file
    cannot be stat()ed, or was modified at or after since_ns (then the zone is compiled
    again at the next reload)."""
    from robdns import _core
    out = _core.source_fingerprints(settings_texts(zones), [z.file for z in zones],
                                    files, since_ns)
    return [fp or None for fp in out]


def fingerprint(z, files, since_ns=0):
    return fingerprints([z], [tuple(files)], since_ns)[0]


_PLAIN = re.compile(r"[a-z0-9_-][a-z0-9_.-]{0,199}\.")


def file_name(zone):
    """The file of a zone's image: its name when that is a plain host name, else a digest
    (zone names may hold any octet, RFC 2181 11)."""
    if _PLAIN.fullmatch(zone):
        return zone + "zimg"
    import hashlib      # here: no start of plain zone names loads OpenSSL's libcrypto
    return "_" + hashlib.sha256(zone.encode("utf-8", "surrogateescape")).hexdigest() + ".zimg"


def _packable(st):
    """Does the image of ZoneState st go to the pack: a small compiled image of a zone
    file whose sources have a fingerprint (not a secondary's copy, not a generated catalog)."""
    return (st.image is not None and type(st.source) is int and not st.errors
            and st.role == "primary" and st.image.size < BIG)


def _shared_sizes(sizes):
    """{zone: record bytes} with one int object per distinct size: 100,000 small zones'
    records take a few hundred sizes, and an int object each was 2.8 MB of the server."""
    shared = {}
    return {name: shared.setdefault(n, n) for name, n in sizes.items()}


class Keep:
    """The kept images of one server.storage directory; `directory` None keeps nothing.
    load_many() runs in the reload thread, store() in the keeper thread: a lock keeps the
    pack from being read while it is written."""

    def __init__(self, directory):
        self.directory = directory
        self.zones_dir = os.path.join(directory, SUBDIR) if directory else None
        self.pack_path = os.path.join(directory, PACK) if directory else None
        self.lock = threading.Lock()
        self.pack_sizes = {}         # zone -> bytes of its record in the pack (its last one)
        self.pack_bytes = 0          # the pack's size; 0: to be written anew
        self.singles = set()         # zones with a file of their own in zones/

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
            self.directory = self.zones_dir = self.pack_path = None

    def path(self, zone):
        return self.zones_dir + os.sep + file_name(zone)

    def load(self, z):
        """(image, fingerprint) of zone config `z` from its kept image when that is current
        and sound, else None (the reason logged)."""
        return self.load_many([z])[0]

    def load_many(self, zones, force_pack=False):
        """keep.load() of each zone config of `zones`: a list of (image, fingerprint) or
        None, in the order of `zones`.  The pack is walked when many zones are looked up
        (a restart) or force_pack; for a few zones added at a reload compiling costs less
        than walking a pack of 100,000 records."""
        if not self.enabled or not zones:
            return [None] * len(zones)
        with self.lock:
            out = [None] * len(zones)
            if force_pack or len(zones) >= FEW:
                self._load_pack(zones, out)
            self._load_singles(zones, out)
            return out

    def _load_pack(self, zones, out):
        from robdns import _core
        if not os.path.exists(self.pack_path):
            # nothing kept yet (a first start): what read_pack would find, without its
            # name, settings and file lists of 100,000 zones (~50 ms of a cold start)
            if not self.pack_sizes:
                self.pack_bytes = 0
            return
        try:
            results, fps, info = _core.read_pack(self.pack_path, [z.name for z in zones],
                                                 settings_texts(zones),
                                                 [z.file for z in zones])
        except OSError as e:
            logger.warning("kept images %s unreadable (%s): compiling", self.pack_path, e.strerror)
            self.pack_bytes = 0
            return
        stale = 0
        for i, r in enumerate(results):
            if type(r) is not str:
                out[i] = (r, fps[i])
            elif r == "stale":
                stale += 1
            elif r != "missing":
                logger.warning("zone %s: kept image in %s damaged (%s): compiling again",
                               zones[i].name, self.pack_path, r)
        if stale:
            logger.info("%d kept images stale (their files changed): compiling them", stale)
        if info["valid_end"] != info["size"] and info["size"]:
            logger.warning("kept images %s damaged after byte %d: written anew", self.pack_path,
                           info["valid_end"])
            self.pack_bytes = 0
        elif not self.pack_sizes:
            # the first look: what the records in use take, for the pack's share of unused
            self.pack_bytes = info["size"]
            self.pack_sizes = info["sizes"]      # one int object per distinct size already

    def _load_singles(self, zones, out):
        """The zones without an image from the pack whose own file is in zones/."""
        from robdns import _core
        try:
            listed = {e.name for e in os.scandir(self.zones_dir)}
        except OSError:
            return
        if not listed:
            # no zone has a file of its own: no file name made per zone (~30 ms at 100,000)
            return
        want = [i for i, z in enumerate(zones) if out[i] is None and file_name(z.name) in listed]
        if not want:
            return
        self.singles |= {zones[i].name for i in want}
        # own=True: each image is used below only when its key is the fingerprint made now
        # (compiler included), so its checksum and header are checked, not every node
        read = _core.read_kept_many([self.path(zones[i].name) for i in want], own=True)
        for i, (img, zone, key) in zip(want, read):
            z = zones[i]
            if img is None:
                logger.warning("zone %s: kept image %s damaged (%s): compiling again",
                               z.name, self.path(z.name), zone)
                continue
            if zone != z.name:
                logger.warning("zone %s: kept image %s damaged (written for another zone): "
                               "compiling again", z.name, self.path(z.name))
                continue
            fp = fingerprint(z, img.source_files)
            if fp is None or f"{fp:016x}" != key:
                logger.debug("zone %s: kept image is stale: compiling", z.name)
                continue
            out[i] = (img, fp)

    def store(self, states, fresh, removed=(), configured=None):
        """Keep the images of the states of `fresh` (compiled now); forget the zones of
        `removed`; `states`: every state served, for a pack written anew.  configured (at
        the first store of a run: every zone name): files of other zones are dropped.
        Errors are logged."""
        if not self.enabled:
            return
        with self.lock:
            try:
                if self._pack_due():
                    self._write_pack(states)
                else:
                    self._append(fresh)
                for st in fresh:
                    if type(st.source) is not int:
                        continue
                    if st.image.size >= BIG:
                        self._save_single(st.name, st.image, st.source)
                    elif st.name in self.singles:
                        self._remove_single(st.name)
                for name in removed:
                    self.pack_sizes.pop(name, None)
                    self._remove_single(name)
                if configured is not None:
                    self.prune(configured)
            except OSError as e:
                logger.warning("cannot keep compiled images in %s: %s", self.directory, e.strerror)
                self.pack_bytes = 0

    def _pack_due(self):
        """Is the pack to be written anew: missing, damaged, or mostly unused records?"""
        if self.pack_bytes == 0:
            return True
        live = sum(self.pack_sizes.values())
        return self.pack_bytes - live > PACK_SLACK * max(live, BIG)

    def _write_pack(self, states):
        from robdns import _core
        small = [st for st in states if _packable(st)]
        with atomicfile.replace(self.pack_path, "wb") as f:
            f.write(_core.pack_header())
            f.flush()                     # the records go to the descriptor after it
            sizes = _core.write_pack_records(f.fileno(), [st.name for st in small],
                                             [st.image for st in small],
                                             [st.source for st in small])
        self.pack_sizes = _shared_sizes(sizes)
        self.pack_bytes = 16 + sum(sizes.values())
        # small images read from files of their own (an older robdns) are in the pack now
        self.singles &= {st.name for st in states if st.image is not None and st.image.size >= BIG}
        logger.info("%d compiled images kept in %s (%.1f MB)", len(small), self.pack_path,
                    self.pack_bytes / 1e6)

    def _append(self, fresh):
        from robdns import _core
        small = [st for st in fresh if _packable(st)]
        if not small:
            return
        fd = os.open(self.pack_path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            sizes = _core.write_pack_records(fd, [st.name for st in small],
                                             [st.image for st in small],
                                             [st.source for st in small])
        finally:
            os.close(fd)
        self.pack_sizes.update(_shared_sizes(sizes))
        self.pack_bytes += sum(sizes.values())

    def save(self, name, img, source):
        """Keep the image of zone `name` compiled from sources of fingerprint `source` in a
        file of its own; a source of None (a file changed during the compile) is not
        kept.  Errors are logged."""
        if not self.enabled or source is None:
            return
        with self.lock:
            self._save_single(name, img, source)

    def _save_single(self, name, img, source):
        if source is None:
            return
        path = self.path(name)
        tmp = f"{path}.tmp{os.getpid()}"
        meta = "\0".join((name, f"{source:016x}") + tuple(img.source_files)).encode(
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
            self.singles.add(name)
        except OSError as e:
            logger.warning("zone %s: cannot keep its image in %s: %s", name, path, e.strerror)
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _remove_single(self, name):
        self.singles.discard(name)
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            pass
        except OSError as e:
            logger.warning("zone %s: cannot remove its kept image: %s", name, e.strerror)

    def remove(self, name):
        """Forget the kept image of a zone no longer served."""
        if self.enabled:
            with self.lock:
                self.pack_sizes.pop(name, None)
                self._remove_single(name)

    def prune(self, zones):
        """Remove the files in zones/ of zones not in `zones` (names) or kept in the pack
        now, and temporary files a crash left behind."""
        if not self.enabled:
            return
        wanted = {file_name(z) for z in zones if z not in self.pack_sizes or z in self.singles}
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
        try:
            for e in os.scandir(self.directory):
                if e.name.startswith(PACK + ".tmp"):
                    os.unlink(e.path)
        except OSError:
            pass
