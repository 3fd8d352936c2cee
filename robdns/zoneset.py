"""zoneset — the configured zones as the server holds them: each zone's state (image
served, last error), compiling the zones whose sources changed, and the database
snapshot built from the images.

A ZoneSet is replaced, never changed in place: `compiled()` returns the next set and the
daemon publishes the database built from it, so a reload that fails half-way leaves the
running set as it was.  Whatever loads zones (a file reload today; a zone transfer, a
catalog later) produces a ZoneState and a new set from it.
"""

import array
import bisect
import dataclasses
import os
import time

from robdns import journal
from robdns import catalog
from robdns import keep as keep_mod
from robdns import zonewatch
from robdns.errors import ZoneError
from robdns.log import logger

def zone_source(z, files, since_ns=None):
    """What identifies the sources of a compiled zone, for reload: the fingerprint of each
    file's identity, size and modification time (the zone file and what it $INCLUDEs) and
    of the settings that change the image (robdns.keep.fingerprint).  None when a file
    cannot be read, or was modified after since_ns (during or just before the compile: its
    content may not be the compiled one) -- then the zone is compiled again at the next
    reload."""
    return keep_mod.fingerprint(z, files, since_ns or 0)


def zone_key(name):
    """The key of a zone as an operator may type it: case-insensitive, final dot optional."""
    return name.lower() if name.endswith(".") else name.lower() + "."


@dataclasses.dataclass(frozen=True, slots=True)
class _Seldom:
    """What few zones' states hold (a failed load, warnings, the secondary role): one shared
    instance for the rest, so a state of 100,000 plain zones is seven slots, not thirteen."""
    # Lists when there is something to say; the shared empty tuple otherwise (no two empty
    # lists per zone of 100,000: nothing appends to them, a load replaces them whole).
    errors: tuple = ()              # of the last failed load
    failed_at: float = 0.0
    warnings: tuple = ()            # about the image served
    role: str = "primary"           # "secondary": the image comes by zone transfer
    expired: bool = False           # a secondary past its SOA EXPIRE: answers SERVFAIL
    xfr: object = None              # robdns.secondary.XfrState of a secondary zone
    journal: bytes = b""            # IXFR changesets ending at image.serial (robdns.journal)


_PLAIN = _Seldom()


@dataclasses.dataclass(slots=True, init=False)
class ZoneState:
    """What the server knows of one configured zone.  ZoneState(name, file, image,
    loaded_at, load_seconds, errors, failed_at, source, warnings, role, expired, xfr,
    journal) as before _Seldom's fields moved into `seldom`; they read and set as
    attributes still (st.errors = ...)."""
    name: str
    file: str
    image: object = None            # the ZoneImage being served (None: not served)
    loaded_at: float = 0.0
    load_seconds: float = 0.0
    source: object = None           # fingerprint of the sources of `image` (zone_source())
    seldom: _Seldom = _PLAIN

    def __init__(self, name, file, image=None, loaded_at=0.0, load_seconds=0.0, errors=(),
                 failed_at=0.0, source=None, warnings=(), role="primary", expired=False,
                 xfr=None, journal=b"", seldom=None):
        self.name, self.file, self.image = name, file, image
        self.loaded_at, self.load_seconds, self.source = loaded_at, load_seconds, source
        if seldom is None:
            plain = (not errors and not failed_at and not warnings and role == "primary"
                     and not expired and xfr is None and not journal)
            seldom = _PLAIN if plain else _Seldom(errors, failed_at, warnings, role, expired, xfr, journal)
        self.seldom = seldom

    def status(self):
        img = self.image
        extra = {"role": self.role}
        if self.xfr is not None:
            extra.update(self.xfr.status())
        extra["expired"] = self.expired
        rng = journal.serial_range(self.journal)
        extra["journal"] = ({"from": rng[0], "to": rng[1], "bytes": len(self.journal),
                             "changesets": len(journal.changesets(self.journal))} if rng else None)
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


def _seldom(f):
    def set_(st, v):
        st.seldom = dataclasses.replace(st.seldom, **{f: v})
    return property(lambda st: getattr(st.seldom, f), set_, doc=f"_Seldom.{f}")


for _f in dataclasses.fields(_Seldom):
    setattr(ZoneState, _f.name, _seldom(_f.name))
del _f


class ZoneSet:
    """The configured zones, in config order, by name (absolute, lower case)."""

    def __init__(self, states=()):
        self._states = {st.name: st for st in states}
        self.fresh = []                 # states compiled by the compiled() that made this set
        self._plan = None               # what its next compiled() checks (_Plan), if it made it

    def removed_from(self, other):
        """Names of the zones of ZoneSet `other` that this set does not have."""
        if self._plan is not None and other._plan is not None and self._plan.zones is other._plan.zones:
            return []               # a reload of the same configs: no set of 100,000 names
        return list(other._states.keys() - self._states.keys())

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
        return sum(1 for st in self._odd() if st.errors)

    def _odd(self):
        """The states with anything in `seldom` (errors, a secondary, an expiry): what the
        counts and lists of those look at, without a property read per plain zone."""
        return [st for st in self._states.values() if st.seldom is not _PLAIN]

    def images(self):
        return [st.image for st in self if st.image is not None]

    def prepare_reload(self):
        """Sort the zones for the next reload now (_Plan.sort: ~50 ms of 100,000 zones),
        which a start leaves until it serves."""
        if self._plan is not None:
            self._plan.sort()

    def status(self):
        return [st.status() for st in self]

    def compiled(self, zones, force=(), keep=None, journal_dir=None):
        """The set for the zone configs `zones`, compiled from their files.

        A zone whose files are unchanged keeps its state without a recompile, as Knot and
        NSD do on reload; zones named in `force` (or every zone, force=True) are compiled
        again whatever their files say.  A zone not served yet is taken from its kept
        image when `keep` (robdns.keep.Keep) has a current one.  A zone that fails keeps
        its previous image (if any) and records why.  The new set's `fresh` lists the
        states compiled now, whose images are worth keeping."""
        zones = tuple(zones)
        plan = self._plan
        if plan is not None and not force and plan.zones == zones:
            return self._rechecked(plan, zones, keep, journal_dir)
        everything = force is True
        force = frozenset() if everything else frozenset(force)
        # watched before the files are read: a change during the compile is told next time
        dirs = _Plan.directories(zones)      # once: 100,000 paths cut are ~20 ms
        watch = zonewatch.Watch.open(dirs)
        out = [None] * len(zones)
        roles = _roles(zones)
        fresh = self._load(list(enumerate(zones)), zones, out, everything, force, keep, journal_dir,
                           roles)
        new = ZoneSet(out)
        new.fresh = fresh
        new._plan = _Plan.of(zones, out, watch, dirs, roles)
        return new

    def _rechecked(self, plan, zones, keep, journal_dir):
        """compiled() of the zones this set was compiled for: the clean zones whose files
        the plan's watch saw change (robdns.zonewatch), or when it cannot tell, every clean
        zone's sources fingerprinted in one C call against the plan's (a SourceSet made by
        the compile before); only the zones whose fingerprint moved, and the few the plan
        cannot check (secondaries, catalogs, failed zones), are looked at in Python."""
        changed, plan = self._changed(plan, zones)
        new = ZoneSet(())
        if not changed and not plan.rest:
            new._states, new._plan = self._states, plan
            return new
        items = [(plan.index[k], zones[plan.index[k]]) for k in changed] + plan.rest
        out = [None] * len(zones)
        fresh = self._load(items, zones, out, False, frozenset(), keep, journal_dir)
        states = dict(self._states)
        for i, _ in items:
            states[out[i].name] = out[i]
        new._states, new.fresh = states, fresh
        new._plan = plan.updated(changed, [out[plan.index[k]] for k in changed])
        return new

    def _changed(self, plan, zones):
        """(positions in the plan of the clean zones whose fingerprint moved, in order;
        the plan with its watch's log read).  The watch names the files changed since the
        plan's compile; those, and the zones it cannot tell of (plan.always), are
        fingerprinted.  Without a watch, or when it lost track, a new watch is opened and
        then every file is stat()ed (what changed before it opened is in that pass)."""
        got = plan.watch.changed_since(plan.seen) if plan.watch is not None else None
        if got is None:
            watch = zonewatch.Watch.open(plan.dirs)
            always = []
            if watch is not None:
                clean = [zones[i] for i in plan.index]
                always = plan.untold(clean, [self._states[z.name].image.source_files for z in clean])
            plan = plan.watched(watch, 0, always)
            return plan.source_set(zones, self._states).changed(), plan
        paths, seq = got
        ks = set(plan.always)
        if paths:
            index = plan.index
            for i, z in enumerate(zones):
                if z.file in paths:
                    k = bisect.bisect_left(index, i)
                    if k < len(index) and index[k] == i:
                        ks.add(k)
        plan = plan.watched(plan.watch, seq)
        if not ks:
            return [], plan
        ks = sorted(ks)
        olds = [self._states[zones[plan.index[k]].name] for k in ks]
        fps = keep_mod.fingerprints([zones[plan.index[k]] for k in ks],
                                    [old.image.source_files for old in olds])
        return [k for k, fp, old in zip(ks, fps, olds) if fp is None or fp != old.source], plan

    def _load(self, items, zones, out, everything, force, keep, journal_dir, roles=None):
        """Fill out[i] with the state of zone config z for each (i, z) of `items` (of the
        config's `zones`; roles: _roles() of the items' configs, when known); returns the
        states compiled now."""
        states = self._states
        check = []          # (index, z, old): served, clean: unchanged when its fingerprint is
        unseen = None       # _Unseen: not served yet: its kept image, else a compile
        todo = []           # (index, z, old): to compile
        if roles is None:
            roles = _roles([z for _, z in items])
        keeping = keep is not None and keep.enabled
        if (not states and keeping and not everything and not force and roles
                and roles.count(roles[0]) == len(roles) and not roles[0][0]
                and roles[0][1] != "producer"):
            # a start whose zones share one plain role (_roles: the same tuple): every
            # zone is looked for among the kept images, without the sorting below
            unseen = _Unseen([i for i, _ in items], [z for _, z in items], roles)
            items = ()
        else:
            unseen = _Unseen([], [], [])
        for (i, z), role in zip(items, roles):
            old = states.get(z.name)
            if role[0]:
                # the transfers own a secondary's image: a reload does not touch it
                out[i] = secondary_state(z, old, journal_dir)
                continue
            if role[1] == "producer":
                # generated from its members' configs (RFC 9432), no file to look at
                out[i] = catalog.catalog_state(z, old, zones, ZoneState)
                continue
            forced = everything or (force and z.name in force)
            if old is not None and not forced and old.image is not None and not old.errors \
                    and type(old.source) is int:
                check.append((i, z, old))
            elif old is None and not forced and keeping:
                unseen.add(i, z, role)
            else:
                todo.append((i, z, old))
        # Every served zone's files stat()ed in one pass without the GIL: a reload of
        # 100,000 zones pays one fingerprint each, in C.
        if check:
            fps = keep_mod.fingerprints([z for _, z, _ in check],
                                        [old.image.source_files for _, _, old in check])
            for (i, z, old), fp in zip(check, fps):
                if fp == old.source:
                    out[i] = old
                else:
                    todo.append((i, z, old))
        if unseen.zones:
            now = time.time()
            # the first load (a restart) walks the pack whatever the count; a reload that
            # adds a few zones compiles them instead of walking a pack of 100,000
            found = keep.load_many(unseen.zones, force_pack=not states)
            kept = 0
            new = object.__new__
            for i, z, role, f in zip(unseen.index, unseen.zones, unseen.roles, found):
                if f is None:
                    todo.append((i, z, None))
                    continue
                # ZoneState(z.name, z.file, f[0], now, 0.0, (), 0.0, f[1]) without its
                # __init__'s arguments: a third less per zone of a 100,000-zone restart
                st = new(ZoneState)
                st.name, st.file, st.image, st.loaded_at = z.name, z.file, f[0], now
                st.load_seconds, st.source, st.seldom = 0.0, f[1], _PLAIN
                if role[2]:
                    st.journal = _journal_step(z, None, f[0], b"", journal_dir)
                out[i] = st
                kept += 1
            if kept:
                logger.info("%d zones mapped from their kept images", kept)
        fresh = []
        if todo:
            todo.sort(key=lambda t: t[0])
            t0 = time.monotonic()
            for (i, _, _), st in zip(todo, compile_all([(z, old) for _, z, old in todo], journal_dir)):
                out[i] = st
                if not st.errors:
                    fresh.append(st)
            if len(todo) > QUIET:
                logger.info("%d zones compiled in %.2f s (%d failed)", len(todo),
                            time.monotonic() - t0, len(todo) - len(fresh))
        return fresh

    def updated(self, states=(), removed=()):
        """The set with `states` in place of the zones of the same names (a new name goes
        at the end) and the zones named in `removed` dropped; every other zone keeps its
        state untouched, without a look at its files: a run-time zone-add, zone-remove or
        zone-reload of one zone costs one compile, not a pass over every zone."""
        new = ZoneSet(())
        new._states = dict(self._states)
        for name in removed:
            new._states.pop(name, None)
        for st in states:
            new._states[st.name] = st
        new.fresh = [st for st in states if st.image is not None and not st.errors]
        return new

    def replaced(self, name, image=None, expired=None, z=None, journal_dir=None):
        """The set with zone `name` serving `image` (None: the image it has) and its
        expired flag set to `expired` (None: unchanged) — a transfer's or an expiry's
        change, published as a reload's is.  With its config `z`, a zone served onwards
        (allow_transfer, notify) gets the change in its IXFR journal, as a reload's."""
        new = ZoneSet(())
        new._states = dict(self._states)     # one zone changes: no pass over the others
        st = new._states.get(name)
        if st is not None:
            st = dataclasses.replace(st)
            if image is not None:
                if z is not None and st.image is not None:
                    st.journal = _journal_step(z, st.image, image, st.journal, journal_dir)
                elif z is not None:
                    st.journal = _journal_step(z, None, image, b"", journal_dir)
                st.image, st.loaded_at, st.errors = image, time.time(), []
            if expired is not None:
                st.expired = expired
            new._states[name] = st
        # a secondary's new copy leaves what the next reload checks as it was (_Plan)
        new._plan = self._plan if st is None or st.role != "primary" else None
        return new

    def database(self, cfg, zone_slots=None, cookies=None, configs=None):
        """A new database snapshot of the served images with the engine options of cfg,
        its TSIG keys and each zone's allow_transfer and journal; zone_slots ({name:
        slot}) turns on the per-zone query counters; cookies (a robdns.cookies.CookieSecrets)
        the DNS Cookie secrets; configs: the zone configs served (cfg's when None; those
        added at run time and catalog members too)."""
        from robdns import _core
        configs = cfg.zones if configs is None else configs
        keys = [(k.name, k.algorithm, k.secret) for k in getattr(cfg, "keys", ())]
        states = self._states
        transfers = {}
        plan = self._plan if self._plan is not None and self._plan.zones == configs else None
        sending = plan.sending if plan is not None else [z for z in configs if getattr(z, "allow_transfer", ())]
        for z in sending:
            st = states.get(z.name)
            if st is not None and st.image is not None:
                transfers[z.name] = {"acl": [(r.address, r.key) for r in z.allow_transfer],
                                     "journal": st.journal}
        xfr = getattr(cfg, "xfr", None)
        # the images served, in one pass over the states (a reload of 100,000 zones)
        images = [img for st in states.values() if (img := st.image) is not None]
        odd = [st for st in self._odd() if st.image is not None]
        if zone_slots is not None:
            # one slot per image, by the names the states know (no name taken out of each
            # image); most zones have none (0)
            named = {name: slot for name, slot in zone_slots.items()
                     if (st := states.get(name)) is not None and st.image is not None}
            zone_slots = [0] * len(images)
            left = len(named)
            i = 0
            for st in states.values():
                if left == 0:
                    break           # the counted zones are the first configured ones
                if st.image is None:
                    continue
                if st.name in named:
                    zone_slots[i] = named[st.name]
                    left -= 1
                i += 1
        return _core.Database(images, identity=cfg.identity, version=cfg.version,
                              nsid=cfg.nsid, max_udp_payload=cfg.max_udp_payload,
                              zone_slots=zone_slots, keys=keys, transfers=transfers,
                              max_transfers=xfr.max_transfers if xfr is not None else 0,
                              expired=[st.name for st in odd if st.expired],
                              expire_at={st.name: st.xfr.expires_at for st in odd
                                         if st.xfr is not None and st.xfr.expires_at},
                              notify=self._notify_rules(configs if plan is None else plan.secondaries),
                              **(cookies.options() if cookies is not None else {}))

    def _notify_rules(self, configs):
        """Who may notify each served secondary zone (robdns.secondary.notify)."""
        if not configs:
            # no secondary zone (the plan's list is empty): the secondary path's modules
            # (asyncio) stay unloaded until the workers answer (robdns.daemon, issue 14)
            return {}
        from robdns.secondary import notify
        rules = notify.database_rules(configs)
        states = self._states
        return {name: r for name, r in rules.items()
                if (st := states.get(name)) is not None and st.image is not None}


class _Plan:
    """What a reload of the same zone configs checks, made by the compile before: for each
    clean primary zone (served, no error, fingerprinted) its index in the configs, and
    its settings text, file, source files and fingerprint prepared for C in `_sources`
    (_core.SourceSet; with a watch made only when a reload needs it: 9 MB for 100,000
    zones that a watched server seldom uses); `rest`: (index, config) of every other zone.  `watch` (a
    robdns.zonewatch.Watch of the zone files' directories `dirs`, or None) tells which
    files changed after its log's number `seen`; `always`: the positions in the plan of
    the clean zones it cannot tell of (a symlinked file, $INCLUDEs), checked every time."""
    __slots__ = ("zones", "_index", "_sources", "_rest", "sending", "secondaries", "watch", "seen",
                 "dirs", "_always", "_pending")

    @staticmethod
    def directories(zones):
        """The directories of the zone files (as zonewatch.split() spells them)."""
        return sorted({f[:f.rfind("/") + 1] for f in (z.file for z in zones) if f})

    @classmethod
    def of(cls, zones, states, watch=None, dirs=None, roles=None):
        """The plan of `states` made for `zones` (dirs: their directories(), roles: their
        _roles(), when the caller has them).  With a watch, the zones are sorted into
        clean and rest when a reload first asks (sort()), not before the workers start:
        a restart of 100,000 kept zones answers ~50 ms sooner (the daemon sorts them once
        serving, in the reload thread)."""
        p = cls()
        p.watch, p.seen = watch, 0
        p.dirs = cls.directories(zones) if dirs is None else dirs
        if roles is None:
            roles = _roles(zones)
        p.zones, p._sources = zones, None
        # the zones database() looks at, of the same configs (a secondary's state is never
        # clean: its zones are those of the rest that are secondaries)
        p.sending = [z for z, role in zip(zones, roles) if role[3]]
        p.secondaries = [z for z, role in zip(zones, roles) if role[0]]
        p._pending = (states, roles)
        if watch is None:
            p.sort()
        return p

    def sort(self):
        """Sort the zones of the plan into clean ones (index, always) and the rest, if
        not done yet; returns the plan."""
        if self._pending is None:
            return self
        states, roles = self._pending
        zones, watch = self.zones, self.watch
        links, unlisted = self.links() if watch is not None else (None, None)
        rest, always, index, clean = [], [], [], []
        for i, (z, st, role) in enumerate(zip(zones, states, roles)):
            sd = st.seldom             # a plain zone's: no property read per field
            if ((sd is _PLAIN or (sd.role == "primary" and not sd.errors)) and st.image is not None
                    and type(st.source) is int and role[1] is None):
                if watch is not None:
                    fs, f = st.image.source_files, z.file
                    # _untold(z, fs, links, unlisted), without a tuple made per zone
                    if (len(fs) != 1 or fs[0] != f or (links and f in links)
                            or (unlisted and zonewatch.split(f)[0] in unlisted)):
                        always.append(len(clean))
                index.append(i)
                clean.append(z)
            else:
                rest.append((i, z))
        # positions as machine integers: a list of 100,000 would hold as many int objects
        self._index, self._rest, self._always = array.array("i", index), rest, always
        if watch is None and self._sources is None:
            self._sources = self._source_set(clean, [states[i] for i in index])
        self._pending = None
        return self

    index = property(lambda p: p.sort()._index, doc="positions in the configs of the clean zones")
    rest = property(lambda p: p.sort()._rest, doc="(position, config) of every other zone")
    always = property(lambda p: p.sort()._always,
                      lambda p, v: setattr(p.sort(), "_always", v),
                      doc="positions in the plan of the clean zones the watch cannot tell of")

    @staticmethod
    def _source_set(clean, states):
        from robdns import _core
        return _core.SourceSet(keep_mod.settings_texts(clean), [z.file for z in clean],
                               [st.image.source_files for st in states], [st.source for st in states])

    def source_set(self, zones, states):
        """The plan's SourceSet (made now from the ZoneSet's `states` by name if it was not)."""
        if self._sources is None:
            clean = [zones[i] for i in self.index]
            self._sources = self._source_set(clean, [states[z.name] for z in clean])
        return self._sources

    def untold(self, clean, files):
        """Positions of the zones of `clean` (compiled from `files`) whose changes a watch
        of their files' directories does not see (_untold)."""
        links, unlisted = self.links()
        return [k for k, (z, fs) in enumerate(zip(clean, files)) if _untold(z, fs, links, unlisted)]

    def links(self):
        """(paths of the symbolic links in the plan's directories, the directories that
        could not be listed)."""
        from robdns import _core
        links, unlisted = set(), set()
        for d in self.dirs:
            try:
                links.update(d + name for name in _core.dir_symlinks(d or "."))
            except OSError:
                unlisted.add(d)     # its files may be links: each checked every time
        return links, unlisted

    def watched(self, watch, seen, always=None):
        """The plan with `watch` read up to its log's number `seen` (and `always`)."""
        self.sort()
        p = _Plan()
        for f in _Plan.__slots__:
            setattr(p, f, getattr(self, f))
        p.watch, p.seen = watch, seen
        if always is not None:
            p.always = always
        return p

    def updated(self, changed, states):
        """The plan once the zones at positions `changed` of the plan have `states`; None
        when one of them is no longer clean (the next reload sorts every zone again)."""
        # a zone whose file was written just before its compile has no fingerprint yet
        # (None): it stays in the plan and shows as changed until a compile gives it one
        if any(st.errors or (st.source is not None and type(st.source) is not int) for st in states):
            return None
        self.sort()
        p = _Plan()
        p.zones, p._index, p._rest, p._pending = self.zones, self._index, self._rest, None
        p.sending, p.secondaries = self.sending, self.secondaries
        p.watch, p.seen, p.dirs, p._always = self.watch, self.seen, self.dirs, self._always
        zs = [self.zones[self.index[k]] for k in changed]
        if p.watch is not None:
            # a changed zone may have gained an $INCLUDE or become a symlink, or lost them
            gone = set(changed)
            p.always = sorted({k for k in self.always if k not in gone}
                              | {k for k, z, st in zip(changed, zs, states)
                                 if st.source is None or st.image.source_files != (z.file,)
                                 or os.path.islink(z.file)})
        p._sources = None if self._sources is None else self._sources.updated(
            changed, keep_mod.settings_texts(zs), [z.file for z in zs],
            [st.image.source_files for st in states], [st.source for st in states])
        return p


def _untold(z, files, links, unlisted):
    """Does a watch of its file's directory miss changes of zone config z compiled from
    `files`: a zone file that is a symbolic link (the change is to its target, maybe
    elsewhere), one in a directory that could not be listed, or more files than its own?"""
    f = z.file
    return (files != (f,) or (links and f in links)
            or (unlisted and zonewatch.split(f)[0] in unlisted))


def transferred(z):
    """Does zone config z serve secondaries (then its versions must have rising serials
    and its changes go to the IXFR journal)?"""
    return bool(getattr(z, "allow_transfer", ()) or getattr(z, "notify", ()))


class _Unseen:
    """The zones _load() looks for among the kept images: positions, configs, roles."""
    __slots__ = ("index", "zones", "roles")

    def __init__(self, index, zones, roles):
        self.index, self.zones, self.roles = index, zones, roles

    def add(self, i, z, role):
        self.index.append(i)
        self.zones.append(z)
        self.roles.append(role)


def _role(z):
    return (bool(getattr(z, "secondary", False)), getattr(z, "catalog_role", None),
            transferred(z), bool(getattr(z, "allow_transfer", ())))


def _roles(zones):
    """Per zone config of `zones`: (secondary, catalog_role, transferred(), sends
    transfers), read once per ZoneOptions: the zones of a config share a few of them
    (robdns.config.zone_options), so 100,000 plain zones cost one look, not four property
    reads each."""
    memo, out = {}, []
    append = out.append
    for z in zones:
        o = getattr(z, "options", None)
        if o is None:
            append(_role(z))
            continue
        r = memo.get(id(o))           # every `o` lives as long as `zones`: ids stay theirs
        if r is None:
            r = memo[id(o)] = _role(z)
        append(r)
    return out


def secondary_state(z, old=None, journal_dir=None):
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
        st.journal = _journal_step(z, None, img, b"", journal_dir)   # served onwards: IXFR
        logger.info("zone %s: serving the kept copy, serial %s (%d records), until the "
                    "primaries are asked", z.name, img.serial, img.record_count)
    else:
        logger.info("zone %s: no kept copy; waiting for the first transfer", z.name)
    return st


# Past this many zones compiled at once, each one's success is logged at debug level: one
# line per zone of 100,000 costs more than their compile.
QUIET = 100


def compile_threads():
    """Threads that compile zones at once: one per usable core (at most 8).  The parser and
    the image build run without the GIL, so a load of many zones uses every core."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def compile_all(pairs, journal_dir=None):
    """compile_state(z, old, journal_dir) of each (z, old) of `pairs`, in order.  The
    zone files are compiled in one C call (_core.compile_zones) on compile_threads()
    threads without the GIL; only the states are made in Python, and the zones that call
    needs compiled alone (errors, rdata for dnspython) go through compile_state.  Past
    QUIET zones each one's success is logged at debug level only.  The sources of the
    images made are fingerprinted against the time the batch started (a file changed
    after that is compiled again at the next reload): from the status the parser read each
    zone file with, and those of zones that read more (an $INCLUDE) together afterwards,
    in one C call."""
    quiet = len(pairs) > QUIET
    started_ns = time.time_ns()
    if len(pairs) == 1:
        z, old = pairs[0]
        states = [compile_state(z, old, journal_dir, quiet, batch=True)]
    else:
        from robdns import _core
        zs = [z for z, _ in pairs]
        opts = [z.options for z in zs]     # a slot: the settings' properties cost more
        # fingerprinted from the status each file was read with (the parser's fstat), not
        # by a stat of every file again afterwards: the zones that read more than their
        # file (an $INCLUDE) get None and are fingerprinted below
        images, seconds, read_fps = _core.compile_zones(
            [z.name for z in zs], [z.file for z in zs], [o.default_ttl for o in opts],
            [o.include_policy for o in opts], [o.nsec3_max_iterations for o in opts],
            compile_threads(), keep_mod.settings_texts(zs), started_ns)
        now = time.time()       # one load time for the batch: not a float object per zone
        # compile times to the microsecond status() shows, one float object per value:
        # 100,000 small zones take a few hundred distinct times, not 100,000 floats
        shared = {}
        seconds = [shared.setdefault(t, t) for t in (round(x, 6) for x in seconds)]
        states = [compile_state(z, old, journal_dir, quiet, batch=True) if img is None
                  else _accepted(z, old, img, secs, journal_dir, quiet, _BATCH, now)
                  for (z, old), img, secs in zip(pairs, images, seconds)]
        for st, img, fp in zip(states, images, read_fps):
            if fp is not None and st.source is _BATCH and st.image is img:
                st.source = fp
    made = [(st, z) for st, (z, _) in zip(states, pairs) if st.source is _BATCH]
    if made:
        fps = keep_mod.fingerprints([z for _, z in made], [st.image.source_files for st, _ in made],
                                    started_ns)
        for (st, _), fp in zip(made, fps):
            st.source = fp
    return states


def _compile_zone(*args):
    """_core.compile_zone, the module looked up once (not an import statement per zone)."""
    global _compile_zone
    from robdns import _core
    _compile_zone = _core.compile_zone
    return _core.compile_zone(*args)


# compile_state(batch=True)'s source of a new image: compile_all fingerprints it.
_BATCH = object()


def load_state(z, old=None, keep=None, journal_dir=None):
    """The state of zone config `z` loaded now: its kept image when it is not served yet
    and `keep` has a current one, else compiled (compile_state)."""
    if old is None and keep is not None:
        st = kept_state(z, keep, journal_dir)
        if st is not None:
            return st
    return compile_state(z, old, journal_dir)


def kept_state(z, keep, journal_dir=None):
    """The ZoneState of zone config `z` from its kept image (robdns.keep), or None; a
    zone served to secondaries reads its journal as compile_state does."""
    t0 = time.monotonic()
    found = keep.load(z)
    if found is None:
        return None
    img, source = found
    st = ZoneState(z.name, z.file, image=img, loaded_at=time.time(),
                   load_seconds=time.monotonic() - t0, source=source)
    st.journal = _journal_step(z, None, img, b"", journal_dir)
    logger.debug("zone %s mapped from its kept image: serial %s", z.name, img.serial)
    return st


def compile_state(z, old=None, journal_dir=None, quiet=False, batch=False):
    """Compile zone config `z` into a new ZoneState; on failure the state keeps the image
    of `old` (the state of the previous load) and carries the errors.  For a zone served
    to secondaries, the change from `old` is appended to its journal in journal_dir, and
    changed content under a serial that did not increase is an error (the old version
    keeps serving: a secondary would never see the change, RFC 1996 4.7).  batch: the
    new image's source is fingerprinted by the caller (compile_all)."""
    t0 = time.monotonic()
    started_ns = time.time_ns()
    try:
        img = _compile_zone(z.name, z.file, z.default_ttl, z.include_policy,
                                 z.nsec3_max_iterations)
    except ZoneError as e:
        errors = list(e.messages) or [str(e)]
    except OSError as e:
        errors = [f"{z.file}: cannot read: {e.strerror}"]
    except Exception as e:       # a compiler bug must not take the server down
        logger.exception("zone %s: unexpected error while compiling", z.name)
        errors = [f"{z.file}: internal error: {type(e).__name__}: {e}"]
    else:
        return _accepted(z, old, img, time.monotonic() - t0, journal_dir, quiet,
                         _BATCH if batch else started_ns)
    st = _state_from(z, old)
    st.errors = errors
    _failed(st, z)
    return st


def _state_from(z, old):
    """A new state of zone config z carrying what `old` served (its image, source,
    journal) until a new image replaces it."""
    st = ZoneState(z.name, z.file)
    if old is not None:
        st.image, st.loaded_at, st.load_seconds = old.image, old.loaded_at, old.load_seconds
        st.source, st.warnings = old.source, old.warnings
        st.journal = old.journal
    return st


def _accepted(z, old, img, seconds, journal_dir, quiet, started, now=None):
    """The state of zone config z once `img` was compiled for it in `seconds`: served,
    or refused when its serial did not rise for secondaries (see compile_state).  started:
    the time_ns() the compile started, whose sources are fingerprinted against it, or
    _BATCH (the caller fingerprints them); now: the load time (time.time() when None)."""
    prev = old.image if old is not None else None
    if prev is None and quiet and not transferred(z):
        # the first load of a zone nothing is sent to: the common case of 100,000, made
        # without the checks below (nothing to compare with, no journal)
        st = ZoneState(z.name, z.file, img, now or time.time(), seconds, (), 0.0,
                       _BATCH if started is _BATCH else zone_source(z, img.source_files, since_ns=started))
        if img.warnings:
            for w in img.warnings:
                logger.warning("%s", w)
        return st
    st = _state_from(z, old)
    stuck = serial_stuck(prev, img)
    if stuck and transferred(z):
        st.errors = [f"{z.file}: zone {z.name}: content changed but serial {img.serial} "
                     f"{stuck}; serial {prev.serial} keeps serving (secondaries compare serials)"]
        _failed(st, z)
        return st
    st.journal = _journal_step(z, prev, img, st.journal, journal_dir)
    st.image, st.loaded_at, st.load_seconds = img, now or time.time(), seconds
    st.source = _BATCH if started is _BATCH else zone_source(z, img.source_files, since_ns=started)
    # Knot warns the same way: the change reaches no secondary
    st.warnings = ([f"zone {z.name}: content changed but serial {img.serial} {stuck}; "
                    f"secondaries will not pick up the change"] if stuck else ())
    if quiet:
        logger.debug("zone %s loaded: serial %s", z.name, img.serial)
    else:
        logger.info("zone %s loaded: serial %s, %d records, %.1f ms", z.name, img.serial,
                    img.record_count, seconds * 1000,
                    extra={"event": "zone_loaded", "zone": z.name, "serial": img.serial,
                           "records": img.record_count, "ms": round(seconds * 1000, 1)})
    for w in list(img.warnings) + list(st.warnings):
        logger.warning("%s", w)
    return st


def _failed(st, z):
    """Log the errors of a failed load of zone config z (state st)."""
    st.failed_at = time.time()
    for m in st.errors:
        logger.error("%s", m)
    if st.image is not None:
        logger.error("zone %s failed to load; serial %s keeps serving", z.name, st.image.serial,
                     extra={"event": "zone_failed", "zone": z.name, "serial": st.image.serial,
                            "errors": list(st.errors)})
    else:
        logger.error("zone %s failed to load; not served", z.name,
                     extra={"event": "zone_failed", "zone": z.name, "serial": None,
                            "errors": list(st.errors)})


def _journal_step(z, prev, img, data, journal_dir):
    """The journal of zone z once `img` replaces `prev`: the changeset prev -> img appended
    (computed in C by a merge walk of both images); read from disk at the first load."""
    if not transferred(z) or journal_dir is None or z.journal_max_size == 0:
        return b""
    from robdns import _core
    j = journal.Journal(journal_dir, z.name, z.journal_max_size)
    if prev is None:
        return j.load(img.serial)
    if img.serial == prev.serial:
        return data                       # same serial, same content: nothing to record
    t0 = time.monotonic()
    changeset, changed = _core.zone_diff(prev, img)
    data = j.append(data, changeset)
    logger.info("zone %s: serial %s -> %s, %d records changed (diff %.1f ms), journal %d bytes",
                z.name, prev.serial, img.serial, changed, (time.monotonic() - t0) * 1000, len(data))
    return data


def serial_newer(new, old):
    """new > old in serial number arithmetic (RFC 1982 section 3.2, SERIAL_BITS 32)."""
    return new != old and ((new - old) & 0xFFFFFFFF) < 0x80000000


def serial_stuck(old, new):
    """How the serial of image `new` failed to rise over `old`'s (None at the first load)
    although the content changed -- "is unchanged" or "went back from N" -- or None when
    it rose or nothing changed.  Secondaries compare serials to decide on a transfer (RFC
    1034 section 4.3.5): such a change reaches none of them."""
    if old is None or serial_newer(new.serial, old.serial) or new.same_content(old):
        return None
    return "is unchanged" if new.serial == old.serial else f"went back from {old.serial}"
