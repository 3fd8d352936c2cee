"""dynzones — zones added and removed while the server runs (`robdns ctl zone-add NAME
FILE`, `robdns ctl zone-remove NAME`), kept in STORAGE/dynamic-zones.json so that a
restart or a reload serves the same set, as Knot keeps what `knotc conf-set` changed in
its configuration database.

The zones served are the config file's zones, minus those removed at run time, plus those
added at run time.  A zone added at run time that the config file lists too is the config
file's (the run-time entry is dropped); a config zone removed at run time stays removed
until `zone-add` brings it back.  Without server.storage the changes last until the
server stops.

File: {"version": 1, "added": [{"name": ..., "file": ..., "default_ttl": ...}, ...],
"removed": [NAME, ...]}, written to a temporary name and renamed.
"""

import json
import os

from robdns import atomicfile, config
from robdns.errors import ConfigError
from robdns.log import logger

FILE = "dynamic-zones.json"


class DynamicZones:
    def __init__(self, storage):
        self.path = os.path.join(storage, FILE) if storage else None
        self.added = {}              # name -> {"file": path, "default_ttl": int}
        self.removed = set()

    @property
    def persisted(self):
        return self.path is not None

    def load(self):
        """Read the file (a missing one is an empty set; a damaged one a warning)."""
        if self.path is None:
            return self
        try:
            with open(self.path, encoding="utf-8") as f:
                doc = json.load(f)
            added = {str(a["name"]): {"file": str(a["file"]), "default_ttl": int(a.get("default_ttl", 3600))}
                     for a in doc.get("added", ())}
            removed = {str(n) for n in doc.get("removed", ())}
        except FileNotFoundError:
            return self
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            logger.warning("%s unreadable (%s): zones added or removed at run time are "
                           "forgotten", self.path, e)
            return self
        self.added, self.removed = added, removed
        if added or removed:
            logger.info("%d zones added and %d removed at run time (%s)", len(added),
                        len(removed), self.path)
        return self

    def save(self):
        """Write the file; an error is raised (the caller reports it)."""
        if self.path is None:
            return
        doc = {"version": 1,
               "added": [{"name": n, **v} for n, v in sorted(self.added.items())],
               "removed": sorted(self.removed)}
        with atomicfile.replace(self.path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")

    def zones(self, cfg):
        """The zone configs served under config `cfg`: its zones minus the removed ones,
        then the added ones (in name order)."""
        if not self.added and not self.removed:
            return tuple(cfg.zones)
        names = {z.name for z in cfg.zones}
        out = [z for z in cfg.zones if z.name not in self.removed]
        for name, v in sorted(self.added.items()):
            if name in names:
                continue          # listed by the config file now: the file's entry serves
            try:
                out.append(config.zone_config(cfg, name, v["file"], v["default_ttl"]))
            except ConfigError as e:
                logger.error("zone %s added at run time: %s; not served", name, e)
        return tuple(out)

    def add(self, z):
        self.removed.discard(z.name)
        self.added[z.name] = {"file": z.file, "default_ttl": z.default_ttl}

    def remove(self, name):
        self.added.pop(name, None)
        self.removed.add(name)
