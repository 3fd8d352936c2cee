"""zonewatch — which zone files changed since a reload, told by inotify(7) watches on their
directories (one watch a directory, not one stat() a zone), so a reload of one changed
zone among 100,000 looks at that zone only.

A Watch is a hint that must never hide a change: it answers None (look at every file, as
without it) when the kernel dropped events (IN_Q_OVERFLOW), a watched directory went away
or was replaced (the path now names another directory: a moved symlink), or inotify is
missing; and it is opened only on local filesystems, where every change goes through this
kernel's VFS (not NFS, CIFS or FUSE, whose remote writers raise no event).  Zone files
that are symlinks, and zones with $INCLUDEs, are not told by it: the caller checks those
at every reload (robdns.zoneset._Plan.always).
"""

import os
import struct

# <sys/inotify.h>
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ONLYDIR = 0x4000, 0x8000, 0x1000000
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
# Whatever changes what a stat() of a file in the directory shows (its inode, size or
# modification time: robdns.keep.fingerprint): writes, even before the writer closes,
# attribute changes (touch), and names coming and going (rename, delete, create).
MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
        | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
_BROKEN = IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF
_EVENT = struct.Struct("iIII")          # wd, mask, cookie, len; then len bytes of name

# statfs(2) f_type of the filesystems whose every change this kernel sees.
LOCAL_FS = {0xEF53: "ext2/3/4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
            0x794C7630: "overlayfs", 0xF2F52010: "f2fs", 0x2FC12FC1: "zfs", 0x858458F6: "ramfs"}
# Past this many distinct names changed and not yet forgotten, the log starts again and
# a reload looks at every file once (a bulk rewrite of the zones costs a full pass anyway).
LOG_LIMIT = 4096

_libc = None


def _c():
    # ctypes is imported here, by the first load that watches a zone file: a start whose
    # secondary zones have no file yet asks their primaries before it (robdns.first_transfer)
    global _libc
    import ctypes
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def fs_type(path):
    """statfs(2)'s f_type of the filesystem holding `path` (the first word of struct
    statfs on Linux), or None."""
    import ctypes
    buf = ctypes.create_string_buffer(256)
    if _c().statfs(os.fsencode(path), buf) != 0:
        return None
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def split(path):
    """(directory as written with its final slash, or "" for a bare name; file name): an
    event for name N in directory D names the path D + N, spelled as the config spells it."""
    cut = path.rfind("/") + 1
    return path[:cut], path[cut:]


class Watch:
    """inotify watches on directories; a log of the names changed in them, by sequence
    number, that a reload reads from the number it saw last (a reload whose result was
    thrown away reads the same names again)."""

    def __init__(self, fd):
        self.fd = fd
        self.dirs = {}          # watch descriptor -> the directory spellings it watches
        self.ident = {}         # directory spelling -> (st_dev, st_ino) when watched
        self.log = {}           # path -> sequence number of its last change
        self.seq = 0
        self.start = 0          # the log holds every change after this number
        self.broken = False

    @classmethod
    def open(cls, dirs):
        """A Watch of the directories `dirs` (spellings as split() gives them), or None
        when inotify cannot tell every change in one of them."""
        try:
            c = _c()
            init = c.inotify_init1              # Linux's C library only
        except (OSError, AttributeError):
            return None
        fd = init(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return None
        w = cls(fd)
        try:
            for d in dirs:
                path = d or "."
                if fs_type(path) not in LOCAL_FS:
                    w.close()
                    return None
                st = os.stat(path)
                wd = c.inotify_add_watch(fd, os.fsencode(path), MASK)
                if wd < 0:
                    w.close()
                    return None
                w.dirs.setdefault(wd, []).append(d)
                w.ident[d] = (st.st_dev, st.st_ino)
        except OSError:
            w.close()
            return None
        return w

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.broken = True

    def __del__(self):
        if getattr(self, "fd", -1) >= 0:
            os.close(self.fd)

    def changed_since(self, seen):
        """(paths, seq): the paths changed after sequence number `seen` (spelled as their
        directories were given, joined to the names) and the number to pass next time;
        None when that cannot be told (then every file must be looked at)."""
        self._drain()
        if self.broken or seen < self.start:
            return None
        for d, ident in self.ident.items():
            try:
                st = os.stat(d or ".")
            except OSError:
                return None
            if (st.st_dev, st.st_ino) != ident:     # the path names another directory now
                self.broken = True
                return None
        return {p for p, q in self.log.items() if q > seen}, self.seq

    def _drain(self):
        while not self.broken:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                self.broken = True
                return
            self.take(buf)

    def take(self, buf):
        """Record the inotify events in `buf` (as read(2) returns them)."""
        at = 0
        while at + _EVENT.size <= len(buf):
            wd, mask, _, ln = _EVENT.unpack_from(buf, at)
            name = buf[at + _EVENT.size:at + _EVENT.size + ln].split(b"\0", 1)[0]
            at += _EVENT.size + ln
            if mask & _BROKEN:
                # events were dropped (the queue overflowed, inotify(7)), or a directory
                # is gone: what changed in it can no longer be told
                self.broken = True
                return
            if not name:
                continue
            name = os.fsdecode(name)
            self.seq += 1
            for d in self.dirs.get(wd, ()):
                self.log[d + name] = self.seq
        if len(self.log) > LOG_LIMIT:
            self.log.clear()
            self.start = self.seq
