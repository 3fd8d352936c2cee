"""journal — each zone's IXFR history on disk: one file of changesets per zone (the format
of cython_ext/csrc/zone/zdiff.h, computed in C by _core.zone_diff), bounded in size with
the oldest changesets dropped first, always written whole to a temporary file and renamed
into place so a crash leaves the old or the new journal, never half of one.

The journal of a zone is only good while its last changeset ends at the serial served: a
zone file changed while the server was down (or a failed write) leaves a gap, and the
journal then starts again empty (IXFR clients are sent the whole zone, RFC 1995 4).
"""

import os
import re
import struct

from robdns import atomicfile
from robdns.log import logger

HDR = 16


def default_dir(control_socket):
    """server.xfr.journal_dir when unset and server.storage is off: "journal" beside the
    control socket."""
    return os.path.join(os.path.dirname(control_socket), "journal")


def file_name(zone):
    """A file name for zone `zone` (absolute, lower case): the name without its final dot
    when it is plain letters, digits, '-', '_' and '.', else its hex."""
    bare = zone.rstrip(".") or "root"
    if re.fullmatch(r"[a-z0-9_.-]+", bare) and not bare.startswith("."):
        return bare + ".ixfr"
    return bare.encode().hex() + ".ixfr"


def changesets(data):
    """[(offset, length, from_serial, to_serial)] of a journal buffer."""
    out, off = [], 0
    while off + HDR <= len(data):
        length, frm, to = struct.unpack_from("!III", data, off)
        if length < HDR or off + length > len(data):
            break
        out.append((off, length, frm, to))
        off += length
    return out


def serial_range(data):
    """(oldest serial a client may hold, newest) of a journal, or None when empty."""
    cs = changesets(data)
    return (cs[0][2], cs[-1][3]) if cs else None


def trim(data, max_size):
    """Drop the oldest changesets until the journal holds at most max_size bytes."""
    if len(data) <= max_size:
        return data
    for off, length, _, _ in changesets(data):
        if len(data) - off <= max_size:
            return data[off:]
    return b""


class Journal:
    """The journal file of one zone."""

    def __init__(self, directory, zone, max_size):
        self.path = os.path.join(directory, file_name(zone))
        self.zone = zone
        self.max_size = max_size

    def load(self, serial):
        """The journal ending at `serial` (the image served), or b"" when there is none
        or it does not end there (it is then removed)."""
        from robdns import _core
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return b""
        except OSError as e:
            logger.warning("zone %s: cannot read journal %s: %s", self.zone, self.path, e.strerror)
            return b""
        try:
            _core.journal_check(data)
        except ValueError as e:
            logger.warning("zone %s: journal %s discarded: %s", self.zone, self.path, e)
            self.remove()
            return b""
        rng = serial_range(data)
        if rng is None or rng[1] != serial:
            if rng is not None:
                logger.info("zone %s: journal ends at serial %s, zone is at %s: started afresh",
                            self.zone, rng[1], serial)
            self.remove()
            return b""
        return data

    def append(self, data, changeset):
        """Write data + changeset (trimmed to max_size) and return what was written; on a
        write error the journal is removed and b"" returned (clients get AXFR)."""
        new = trim(data + changeset, self.max_size)
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with atomicfile.replace(self.path) as f:
                f.write(new)
        except OSError as e:
            logger.warning("zone %s: cannot write journal %s: %s; IXFR clients get the whole zone",
                           self.zone, self.path, e.strerror)
            self.remove()
            return b""
        return new

    def remove(self):
        try:
            os.unlink(self.path)
        except OSError:
            pass
