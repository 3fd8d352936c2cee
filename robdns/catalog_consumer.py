"""catalog_consumer — catalog zones, consumer side (RFC 9432): a secondary zone configured
with `catalog: {role: consumer, members: {...}}` is read, after each new version, as a
list of member zones; each becomes a secondary zone made from the `members` template,
served and dropped without a restart.

What a version 2 catalog holds (RFC 9432 4):

    version.CATALOG            TXT "2"             (4.2.1: exactly one; else not processed)
    ID.zones.CATALOG           PTR MEMBER.         (4.1: exactly one PTR per member node)
    coo.ID.zones.CATALOG       PTR OTHER-CATALOG.  (4.4.1 change of ownership: one PTR)
    group.ID.zones.CATALOG     TXT "NAME" ...      (4.4.2: any number of group names)

A catalog that breaks these rules (or lists a name twice, or a name that cannot be a zone)
changes nothing: the members served stay as they were and zone-status shows why.  A member
whose ID changes is reset (5.3, 5.5): its data is dropped and it is transferred again.  A
member that is also configured otherwise (the config file, `ctl zone-add`, another
catalog that serves it already) is not taken over (5.1: the new instance is ignored).

The members applied are kept in FILE.members.json beside the catalog's kept copy, so a
restart serves the same members from their own kept copies at once.
"""

import dataclasses
import json
import os
import re
import time

from robdns import atomicfile
from robdns.log import logger

PTR, TXT = 12, 16
_PLAIN = re.compile(rb"[a-z0-9_-]+\Z").match
_PLAIN_DOTTED = re.compile(rb"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\Z").match
# at most this many conflicts are listed in zone-status (a catalog of 100,000 members
# clashing with a config of 100,000 zones must not make a status answer of megabytes)
STATUS_CONFLICTS = 50


class CatalogError(ValueError):
    """A catalog version that must not be processed (RFC 9432 4, 5.1)."""


@dataclasses.dataclass(frozen=True)
class Member:
    id: str                          # the unique-N label (RFC 9432 4.1)
    coo: str = None                  # change of ownership: the catalog it may move to
    group: tuple = ()                # group names (4.4.2), sorted

    def as_dict(self):
        return {"id": self.id, "coo": self.coo, "group": list(self.group)}


# ---------------------------------------------------------------------------- parsing

def _labels(wire):
    """The labels of a wire-form name, lower case; None when `wire` does not end exactly
    where its last label does (a part cut out of a longer name at the wrong place)."""
    out, i, n = [], 0, len(wire)
    while i < n:
        ln = wire[i]
        if ln == 0:
            return out if i + 1 == n else None
        out.append(wire[i + 1:i + 1 + ln].lower())
        i += 1 + ln
    return out if i == n else None


def label_text(label):
    """A label in presentation form (RFC 1035 5.1 escapes), lower case."""
    if _PLAIN(label):
        return label.decode()
    out = []
    for b in label:
        c = chr(b)
        if c in '."\\()@$;':
            out.append("\\" + c)
        elif 0x21 <= b <= 0x7E:
            out.append(c)
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


def name_text(labels):
    dotted = b".".join(labels)
    # the common name: one test for the whole name (no label holding a dot itself)
    if _PLAIN_DOTTED(dotted) and dotted.count(b".") == len(labels) - 1:
        return dotted.decode() + "."
    return "".join(label_text(l) + "." for l in labels) or "."


def _strings(rdata):
    """The character-strings of a TXT RDATA (RFC 1035 3.3.14)."""
    out, i = [], 0
    while i < len(rdata):
        n = rdata[i]
        out.append(rdata[i + 1:i + 1 + n])
        i += 1 + n
    return out


def _txt_text(s):
    return s.decode("utf-8", "backslashreplace")


def parse(catalog, records):
    """The members of catalog zone `catalog` (absolute name) from its records, as
    (owner wire, ttl, class, type, rdata) tuples (robdns._core.image_records): {member
    name: Member}.  CatalogError when the catalog must not be processed."""
    catw = _wire(catalog).lower()
    cat = _labels(catw)
    version_owner = b"\x07version" + catw
    zones = b"\x05zones" + catw          # the owners we read end so (4.1)
    cut = len(zones)
    versions, ptrs, coos, groups = [], {}, {}, {}
    for owner, _ttl, _cls, rtype, rdata in records:
        if rtype != PTR and rtype != TXT:
            continue
        # label lengths are below 64: lower() changes only the letters of the labels
        owner = owner.lower()
        if not owner.endswith(zones):
            if owner == version_owner and rtype == TXT:
                versions.append(rdata)
            continue
        rel = _labels(owner[:-cut] + b"\0")
        if rel is None or not rel:
            continue                    # zones.CATALOG itself, or not on a label boundary
        if len(rel) == 1:
            if rtype == PTR:
                ptrs.setdefault(rel[0], []).append(rdata)
        elif len(rel) == 2:
            if rel[0] == b"coo" and rtype == PTR:
                coos.setdefault(rel[1], []).append(rdata)
            elif rel[0] == b"group" and rtype == TXT:
                groups.setdefault(rel[1], []).append(rdata)
            # other properties (ext, custom ones) are not ours to read (4.3)
    where = f"version.{catalog}"
    if not versions:
        raise CatalogError(f"no {where} TXT record: not a catalog zone (RFC 9432 4.2.1)")
    if len(versions) > 1:
        raise CatalogError(f"{len(versions)} TXT records at {where}: exactly one allowed (RFC 9432 4.2.1)")
    v = b" ".join(_strings(versions[0]))
    if v != b"2":
        raise CatalogError(f"{where} is {_txt_text(v)!r}: only catalog version 2 is supported "
                           "(RFC 9432 4.2.1); catalog not applied")
    members, ids = {}, {}
    for uid in sorted(ptrs):
        targets = ptrs[uid]
        if len(targets) != 1:
            raise CatalogError(f"{len(targets)} PTR records at {label_text(uid)}.zones.{catalog}: "
                               "exactly one allowed (RFC 9432 4.1)")
        tl = _labels(targets[0])
        name = name_text(tl)
        why = _not_a_member(tl, cat, len(targets[0]))
        if why:
            raise CatalogError(f"{label_text(uid)}.zones.{catalog} PTR {name}: {why}")
        uid_text = label_text(uid)
        if name in members:
            raise CatalogError(f"member {name} listed twice ({ids[name]}.zones and "
                               f"{uid_text}.zones): catalog not applied")
        coo = None
        if uid in coos:
            if len(coos[uid]) != 1:
                raise CatalogError(f"{len(coos[uid])} PTR records at coo.{uid_text}.zones.{catalog}: "
                                   "exactly one allowed (RFC 9432 4.4.1)")
            coo = name_text(_labels(coos[uid][0]))
        group = tuple(sorted({_txt_text(b" ".join(_strings(g))) for g in groups[uid]})) \
            if uid in groups else ()
        members[name] = Member(uid_text, coo, group)
        ids[name] = uid_text
    return members


def _not_a_member(labels, cat, wire_len):
    if not labels:
        return "the root cannot be a member zone"
    if labels == cat:
        return "a catalog cannot list itself"
    if b"*" in labels:
        return "a wildcard name is not a zone name"
    if wire_len > 255:
        return "name too long"
    return None


def _wire(name):
    """The wire form of an absolute name in presentation form."""
    import dns.name
    return dns.name.from_text(name).to_wire()


def parse_image(catalog, img):
    from robdns import _core
    return parse(catalog, _core.image_records(img))


_PLAIN_NAME = re.compile(r"(?:[a-z0-9_-]{1,63}\.)+\Z").match


def file_name(name):
    """A member's name as a file name: letters, digits, '-', '_' and the dots between
    labels kept, every other byte %XX (no '/', no '..', whatever the label holds)."""
    if _PLAIN_NAME(name):
        return name[:-1]          # the common name is its own file name (no dnspython)
    out = []
    for label in _labels(_wire(name)):
        out.append("".join(chr(b) if chr(b).isalnum() and b < 128 or b in b"-_" else f"%{b:02X}"
                           for b in label))
    return ".".join(out)


# ---------------------------------------------------------------------------- members

def member_config(cfg, c, name):
    """The ZoneConfig of member `name` of consumer catalog config `c` under cfg."""
    from robdns.config import ZoneConfig
    t = c.catalog_members
    return ZoneConfig(name, t.file.replace("{name}", file_name(name)), t.default_ttl,
                      cfg.include_policy, cfg.nsec3_max_iterations,
                      primaries=t.primaries or c.primaries, allow_notify=t.allow_notify,
                      transfer_timeout=t.transfer_timeout, transfer_max_size=t.transfer_max_size,
                      allow_transfer=t.allow_transfer, notify=t.notify,
                      journal_max_size=t.journal_max_size, catalog_owner=c.name)


def kept_files(z):
    """The files a member's secondary zone keeps (robdns.secondary.flush)."""
    return (z.file, z.file + ".img", z.file + ".timers")


def state_path(c):
    return c.file + ".members.json"


@dataclasses.dataclass
class CatalogState:
    """What the consumer knows of one catalog zone."""
    name: str
    config: object = None
    members: dict = dataclasses.field(default_factory=dict)     # name -> Member, applied
    serial: int = None               # the catalog's serial the members come from
    conflicts: dict = dataclasses.field(default_factory=dict)   # name -> why not served
    error: str = None                # why the last version was not applied
    error_at: float = None
    applied_at: float = None
    configs: dict = dataclasses.field(default_factory=dict)     # name -> ZoneConfig, cached
    template: tuple = None           # what the cached configs were made from

    def status(self):
        served = len(self.members) - len(self.conflicts)
        return {"role": "consumer", "version": "2", "serial": self.serial,
                "members": served, "listed": len(self.members),
                "conflicts": dict(list(sorted(self.conflicts.items()))[:STATUS_CONFLICTS]),
                "error": self.error, "error_at": self.error_at, "applied_at": self.applied_at}


class CatalogConsumer:
    """The consumer catalogs of a daemon and the member zones they bring."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.catalogs = {}           # catalog name -> CatalogState

    # ---- the zone configs

    def expand(self, cfg, configs, previous=None):
        """The zone configs `configs` (the file's and run-time ones) followed by the
        members of every consumer catalog among them.  previous: the configs served so far
        (a member keeps the catalog that serves it; at start, config order decides)."""
        consumers = [z for z in configs if z.catalog_role == "consumer"]
        names = {c.name for c in consumers}
        for gone in [n for n in self.catalogs if n not in names]:
            del self.catalogs[gone]
        if not consumers:
            return tuple(configs)
        static = {z.name for z in configs}
        lists = {}
        for c in consumers:
            cs = self.catalogs.get(c.name)
            if cs is None:
                cs = self.catalogs[c.name] = CatalogState(c.name)
                self._restore(cs, c)
            cs.config = c
            lists[c.name] = cs
        # a member served by a catalog that still lists it stays with that catalog
        taken = {z.name: z.catalog_owner for z in previous or ()
                 if z.catalog_owner in lists and z.name in lists[z.catalog_owner].members}
        for c in consumers:
            for name in lists[c.name].members:
                if name in static:
                    continue
                owner = taken.get(name)
                # RFC 9432 5.4: a member moves to the catalog its coo property names once
                # that catalog lists it too
                if owner is None or (owner != c.name and lists[owner].members[name].coo == c.name):
                    taken[name] = c.name
        out = list(configs)
        for c in consumers:
            cs = lists[c.name]
            template = (c.catalog_members, c.primaries, cfg.include_policy, cfg.nsec3_max_iterations)
            if cs.template != template:
                cs.configs, cs.template = {}, template
            conflicts = {}
            for name, m in cs.members.items():
                owner = taken.get(name)
                if name in static:
                    conflicts[name] = "configured in the config file or by zone-add (RFC 9432 5.1)"
                elif owner != c.name and m.coo == owner:
                    conflicts[name] = f"moved to catalog {owner} (coo, RFC 9432 5.4)"
                elif owner != c.name:
                    conflicts[name] = f"served as a member of catalog {owner} (RFC 9432 5.1)"
                else:
                    z = cs.configs.get(name)
                    if z is None:
                        z = cs.configs[name] = member_config(cfg, c, name)
                    out.append(z)
            for name in conflicts.keys() - cs.conflicts.keys():
                logger.error("catalog %s: member %s not served: %s", c.name, name, conflicts[name])
            cs.conflicts = conflicts
            for name in [n for n in cs.configs if n not in cs.members or n in conflicts]:
                del cs.configs[name]
        return tuple(out)

    def _restore(self, cs, c):
        """At start: the members applied before (FILE.members.json), or those of the
        catalog's kept copy when there is no such file."""
        try:
            with open(state_path(c), encoding="utf-8") as f:
                doc = json.load(f)
            cs.members = {str(n): Member(str(m["id"]), m.get("coo"), tuple(m.get("group", ())))
                          for n, m in doc["members"].items()}
            cs.serial = doc.get("serial")
            return
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            logger.warning("%s unreadable (%s): members read from the catalog's kept copy",
                           state_path(c), e)
        from robdns.secondary import flush
        img = flush.load_kept(c)
        if img is None:
            return
        try:
            cs.members, cs.serial = parse_image(c.name, img), img.serial
        except CatalogError as e:
            cs.error, cs.error_at = str(e), time.time()
            logger.error("catalog %s: %s", c.name, e)

    def _save(self, cs):
        doc = {"version": 1, "serial": cs.serial,
               "members": {n: m.as_dict() for n, m in sorted(cs.members.items())}}
        try:
            with atomicfile.replace(state_path(cs.config), "w", encoding="utf-8") as f:
                json.dump(doc, f, separators=(",", ":"))
        except OSError as e:
            logger.error("catalog %s: cannot write %s: %s", cs.name, state_path(cs.config), e.strerror)

    # ---- a new version of a catalog

    def is_catalog(self, name):
        return name in self.catalogs

    async def changed(self, name):
        """A catalog zone serves a new version (or was loaded): apply its member list."""
        result = await self.daemon.zone_change(self.apply, name)
        sec = self.daemon.secondary
        if result and sec is not None:
            added, removed, reset = result
            for n in reset:
                sec.forget(n)            # a new zone: planned afresh, transferred in full
            sec.configure()

    def apply(self, name):
        """In the reload thread, under the reload lock: read catalog `name` as served now
        and serve its members (added, removed, reset); (added, removed, reset) names, or
        None when nothing changed or the version is not applied."""
        from robdns import xfrout
        from robdns.zoneset import ZoneState, secondary_state
        d = self.daemon
        cs = self.catalogs.get(name)
        st = d.zones.get(name)
        if cs is None or st is None or st.image is None or d.zone_configs is None:
            return None
        img = st.image
        if cs.serial == img.serial and cs.error is None:
            return None              # applied already (before a restart, too)
        t0 = time.monotonic()
        try:
            members = parse_image(name, img)
        except CatalogError as e:
            cs.error, cs.error_at = str(e), time.time()
            logger.error("catalog %s serial %s: %s; the members served stay as they were",
                         name, img.serial, e, extra={"event": "catalog_failed", "zone": name,
                                                     "serial": img.serial, "errors": [str(e)]})
            return None
        # every catalog's members as served now, with the ID each had
        before = {z.name: z for z in d.zone_configs if z.catalog_owner is not None}
        ids = {n: self._id(z.catalog_owner, n) for n, z in before.items()}
        cs.members, cs.serial, cs.error, cs.error_at = members, img.serial, None, None
        cs.applied_at = time.time()
        base = tuple(z for z in d.zone_configs if z.catalog_owner is None)
        configs = self.expand(d.cfg, base, d.zone_configs)
        after = {z.name: z for z in configs if z.catalog_owner is not None}
        removed = [n for n in before if n not in after]
        added = [n for n in after if n not in before]
        # RFC 9432 5.3/5.5: an ID that changed resets the member; 5.4: a member moved to
        # another catalog under the same ID keeps its data (its files follow it)
        reset = [n for n in after if n in before and ids[n] != self._id(after[n].catalog_owner, n)]
        moved = [n for n in after if n in before and n not in reset
                 and before[n].catalog_owner != after[n].catalog_owner]
        jdir = xfrout.journal_dir(d.cfg)
        for n in reset + removed:
            _remove_files(before[n], jdir)
        states = [secondary_state(after[n], None, jdir) for n in added]
        # a reset member starts again with no data, as a new zone
        states += [ZoneState(n, after[n].file, role="secondary") for n in reset]
        for n in moved:
            _move_files(before[n], after[n])
            old = d.zones.get(n)
            states.append(dataclasses.replace(old, file=after[n].file) if old is not None
                          else secondary_state(after[n], None, jdir))
        d.zone_configs = configs
        d.publish_zones(d.zones.updated(states, removed + reset), d.cfg)
        self._save(cs)
        logger.info("catalog %s serial %s: %d members (%d added, %d removed, %d reset, %d moved "
                    "between catalogs, %d not served) in %.1f ms", name, img.serial,
                    len(members) - len(cs.conflicts), len(added), len(removed), len(reset),
                    len(moved), len(cs.conflicts), (time.monotonic() - t0) * 1000,
                    extra={"event": "catalog", "zone": name, "serial": img.serial,
                           "added": len(added), "removed": len(removed), "reset": len(reset),
                           "moved": len(moved)})
        return added, removed, reset

    def _id(self, catalog, name):
        cs = self.catalogs.get(catalog)
        m = cs.members.get(name) if cs is not None else None
        return m.id if m is not None else None

    # ---- reports

    def zone_status(self, name):
        """The `catalog` part of zone-status for zone `name`: a consumer catalog's state,
        or a member's place in its catalog."""
        cs = self.catalogs.get(name)
        if cs is not None:
            return {"catalog": cs.status()}
        for cs in self.catalogs.values():
            if name in cs.configs:
                return {"catalog": {"role": "member", "catalog": cs.name,
                                    **cs.members[name].as_dict()}}
        return {}


def _move_files(old, new):
    """A member moved to another catalog (RFC 9432 5.4): its kept copy goes along."""
    if old.file == new.file:
        return
    for src, dst in zip(kept_files(old), kept_files(new)):
        try:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.replace(src, dst)
        except FileNotFoundError:
            pass
        except OSError as e:
            logger.warning("zone %s: cannot move %s to %s: %s", new.name, src, dst, e.strerror)


def _remove_files(z, journal_dir):
    """A member dropped or reset: its kept copy and journal go (RFC 9432 5.2)."""
    from robdns import journal
    for path in kept_files(z):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            logger.warning("zone %s: cannot remove %s: %s", z.name, path, e.strerror)
    if journal_dir is not None:
        try:
            journal.Journal(journal_dir, z.name, z.journal_max_size).remove()
        except OSError:
            pass
