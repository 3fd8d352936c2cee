# test_catalog_consumer.py — catalog zones, consumer side (RFC 9432): the catalog parser against a model, the config, and member zones added, removed and reset at run time from a Knot primary.
import os
import time

import dns.name
import dns.rcode
import pytest
from hypothesis import given, settings, strategies as st

from robdns import _core, catalog, catalog_consumer as cc, config
from robdns.errors import ConfigError

CAT = "cat.example."


def image_of(text, origin=CAT):
    return _core.compile_zone_text(origin, text)


def catalog_text(members, version='"2"', serial=1, extra=""):
    """A catalog zone: members [(id, member name, coo or None, [group, ...])]."""
    lines = [f"$ORIGIN {CAT}", f"@ 0 IN SOA invalid. invalid. {serial} 3600 600 2147483646 0",
             "@ 0 IN NS invalid."]
    if version is not None:
        lines.append(f"version 0 IN TXT {version}")
    for uid, name, coo, groups in members:
        lines.append(f"{uid}.zones 0 IN PTR {name}")
        if coo:
            lines.append(f"coo.{uid}.zones 0 IN PTR {coo}")
        for g in groups:
            lines.append(f'group.{uid}.zones 0 IN TXT "{g}"')
    return "\n".join(lines) + "\n" + extra


def members_of(text):
    return cc.parse_image(CAT, image_of(text))


# ---------------------------------------------------------------------------- parser

def test_parses_members_and_properties():
    text = catalog_text([("a1", "one.example.", None, []),
                         ("b2", "Two.Example.", "other.cat.", ["blue", "green"])],
                        extra='ext.b2.zones 0 IN TXT "not ours"\nfoo 0 IN A 192.0.2.1\n')
    got = members_of(text)
    assert got == {"one.example.": cc.Member("a1"),
                   "two.example.": cc.Member("b2", "other.cat.", ("blue", "green"))}


def test_producer_output_is_read_back():
    # robdns's own producer (robdns.catalog) and this consumer agree on the format
    members = ("a.example.", "b.example.", "c.d.example.")
    img = catalog.catalog_image(CAT, members, 7)
    got = cc.parse_image(CAT, img)
    assert got == {m: cc.Member(catalog.member_id(m)) for m in members}


@pytest.mark.parametrize("text, why", [
    (catalog_text([("a", "x.example.", None, [])], version=None), "no version"),
    (catalog_text([("a", "x.example.", None, [])], version='"1"'), "only catalog version 2"),
    (catalog_text([("a", "x.example.", None, [])], version='"2" "2"'), "only catalog version 2"),
    (catalog_text([("a", "x.example.", None, [])], extra='version 0 IN TXT "3"\n'), "exactly one"),
    (catalog_text([("a", "x.example.", None, []), ("b", "X.example.", None, [])]), "listed twice"),
    (catalog_text([("a", "x.example.", None, [])], extra="a.zones 0 IN PTR y.example.\n"), "2 PTR records"),
    (catalog_text([("a", "cat.example.", None, [])]), "cannot list itself"),
    (catalog_text([("a", ".", None, [])]), "root"),
    (catalog_text([("a", "*.example.", None, [])]), "wildcard"),
    (catalog_text([("a", "x.example.", "c1.", [])], extra="coo.a.zones 0 IN PTR c2.\n"), "coo"),
])
def test_broken_catalogs_are_refused(text, why):
    with pytest.raises(cc.CatalogError, match=why):
        members_of(text)


LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)
NAME = st.lists(LABEL, min_size=1, max_size=3).map(lambda ls: ".".join(ls) + ".example.")
ENTRY = st.tuples(st.text("0123456789abcdef", min_size=1, max_size=8), NAME,
                  st.none() | NAME, st.lists(st.text("abcdefgh", min_size=1, max_size=5), max_size=3))


@settings(max_examples=150, deadline=None)
@given(st.lists(ENTRY, max_size=12), st.sampled_from(['"2"', '"1"', None]))
def test_parser_matches_a_model(entries, version):
    """The parser against a plain model of RFC 9432 4: one PTR per member node, names
    unique, version "2"; the group names a set."""
    # the zone parser folds equal records: the model sees each (owner, rdata) once
    by_id = {}
    for uid, name, coo, groups in entries:
        e = by_id.setdefault(uid, {"ptr": set(), "coo": set(), "group": set()})
        e["ptr"].add(name)
        if coo:
            e["coo"].add(coo)
        e["group"].update(groups)
    text = catalog_text(entries, version=version)
    broken = version != '"2"'
    model = {}
    for uid, e in by_id.items():
        if len(e["ptr"]) != 1 or len(e["coo"]) > 1:
            broken = True
            continue
        (name,) = e["ptr"]
        if name in model or name == CAT:     # twice, or the catalog itself (5.1)
            broken = True
        model[name] = cc.Member(uid, next(iter(e["coo"]), None), tuple(sorted(e["group"])))
    if broken:
        with pytest.raises(cc.CatalogError):
            members_of(text)
    else:
        assert members_of(text) == model


def test_file_names_are_safe():
    assert cc.file_name("www.example.com.") == "www.example.com"
    assert cc.file_name(dns.name.from_text(r"a\/b.\.\..x.").to_text()) == "a%2Fb.%2E%2E.x"


# ---------------------------------------------------------------------------- config

def cfg_of(text, tmp_path):
    return config.parse(text, str(tmp_path / "robdns.yaml"))


def test_consumer_config(tmp_path):
    cfg = cfg_of("zones:\n  - name: cat.example.\n    file: cat.zone\n"
                 "    primaries: [{address: 127.0.0.1@5300}]\n"
                 "    catalog: {role: consumer, members: {file: 'm/{name}.db', transfer_timeout: 30}}\n",
                 tmp_path)
    z = cfg.zones[0]
    assert z.catalog_role == "consumer" and z.secondary
    assert z.catalog_members.file == str(tmp_path / "m" / "{name}.db")
    m = cc.member_config(cfg, z, "a.example.")
    assert m.file == str(tmp_path / "m" / "a.example.db") and m.primaries == z.primaries
    assert m.transfer_timeout == 30 and m.catalog_owner == CAT and m.secondary
    # default file template: beside the catalog's kept copy
    cfg = cfg_of("zones:\n  - {name: cat.example., file: cat.zone, primaries: [{address: 127.0.0.1@53}],"
                 " catalog: {role: consumer}}\n", tmp_path)
    assert cc.member_config(cfg, cfg.zones[0], "a.example.").file == \
        str(tmp_path / "cat.example.members" / "a.example.zone")
    with pytest.raises(ConfigError, match="is a secondary"):
        cfg_of("zones:\n  - {name: c., file: c.zone, catalog: {role: consumer}}\n", tmp_path)
    with pytest.raises(ConfigError, match="needs {name}"):
        cfg_of("zones:\n  - {name: c., file: c.zone, primaries: [{address: 127.0.0.1@53}],"
               " catalog: {role: consumer, members: {file: x.zone}}}\n", tmp_path)
    with pytest.raises(ConfigError, match="members.bogus"):
        cfg_of("zones:\n  - {name: c., file: c.zone, primaries: [{address: 127.0.0.1@53}],"
               " catalog: {role: consumer, members: {bogus: 1}}}\n", tmp_path)


# ---------------------------------------------------------------------------- against Knot

import xfr_primaries  # noqa: E402
from refservers import KNOTD, _launch, _start_with_retries, command  # noqa: E402

def member_text(name, serial=1, addr="192.0.2.1"):
    return (f"$ORIGIN {name}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n"
            f"@ NS ns1\nns1 A 192.0.2.53\nwww A {addr}\n")


def knot_conf(workdir, host, port, zones, notify_to):
    """A Knot primary of `zones` [(name, extra zone lines)]: transfers with the test key,
    NOTIFY to robdns."""
    k = xfr_primaries
    lines = k.knot_conf_head(workdir, host, port) + [
             "remote:", "  - id: robdns", f"    address: {notify_to[0]}@{notify_to[1]}",
             f"    key: {k.KEY_NAME}",
             "acl:", "  - id: xfr", f"    address: {host}", f"    key: {k.KEY_NAME}",
             "    action: transfer",
             "template:", "  - id: default", f'    storage: "{workdir}"', "    zonefile-sync: -1",
             "    zonefile-load: difference", "    journal-content: changes",
             "    acl: xfr", "    notify: robdns",
             "zone:"]
    for name, extra in zones:
        lines += [f'  - domain: "{name}"'] + [f"    {line}" for line in extra]
    return "\n".join(lines) + "\n"


class KnotPrimary:
    """Knot serving several zones (files in its directory), restarted by reload()."""

    def __init__(self, workdir, notify_to):
        self.workdir, self.notify_to, self.zones = workdir, notify_to, []
        self.server = None

    def write(self, name, text):
        path = os.path.join(self.workdir, name + "zone")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)

    def conf(self, zones):
        self.zones = zones
        with open(os.path.join(self.workdir, "knot.conf"), "w") as f:
            f.write(knot_conf(self.workdir, "127.0.0.1", self.port, zones, self.notify_to))

    def start(self, zones, ready):
        os.makedirs(os.path.join(self.workdir, "db"), exist_ok=True)

        def once(rz, host, port, timeout):
            self.port = port
            self.conf(zones)
            srv = _launch("knot", command("knot", os.path.join(self.workdir, "knot.conf")),
                          self.workdir, host, port, rz, timeout)
            srv.workdir = self.workdir + ".stopped"      # stop() must not remove our files
            return srv
        self.server = _start_with_retries(once, [(n, None) for n in ready], "127.0.0.1", 30.0)

    @property
    def address(self):
        return f"127.0.0.1@{self.port}"

    def reload(self, zones=None):
        """Knot reloads its configuration and zone files on SIGHUP (as `knotc reload`)."""
        import signal
        if zones is not None:
            self.conf(zones)
        self.server.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.server is not None:
            self.server.stop()


def wait_for(what, check, timeout=30.0, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {timeout} s\n{log()[-4000:]}")
        time.sleep(0.1)


def rcode(srv, name, qtype="SOA"):
    try:
        return srv.query(name, qtype, timeout=1).rcode()
    except Exception:
        return None


def answers(srv, name, addr=None):
    try:
        r = srv.query("www." + name, "A", timeout=1)
    except Exception:
        return False
    return r.rcode() == dns.rcode.NOERROR and bool(r.answer) and \
        (addr is None or r.answer[0][0].address == addr)


def consumer(robdns_server, tmp_path, static=()):
    """A robdns server (not started) consuming CAT; its port is known for Knot's NOTIFY."""
    srv = robdns_server({}, families=(4,), start=False)
    zones = [{"name": CAT, "file": "cat.example.zone", "primaries": [],
              "catalog": {"role": "consumer", "members": {"file": "members/{name}.zone"}}}]
    for name, text in static:
        path = os.path.join(srv.dir, name + "zone")
        open(path, "w").write(text)
        zones.append({"name": name, "file": path})
    srv.config["zones"] = zones
    srv.config["keys"] = xfr_primaries.robdns_keys()
    return srv


def catalog_status(srv, name=CAT):
    r = srv.ctl("zone-status", zone=name)
    assert "zones" in r, r
    return r["zones"][0]


def test_consumes_a_knot_generated_catalog(robdns_server, tmp_path):
    """Knot generates the catalog (catalog-role: generate) of the zones it serves; members
    added to and removed from Knot's configuration at run time appear on robdns and go
    (REFUSED), with their group property, without a restart of robdns."""
    srv = consumer(robdns_server, tmp_path)
    knot = KnotPrimary(str(tmp_path / "knot"), ("127.0.0.1", srv.port))
    os.makedirs(knot.workdir)
    for n in ("m1", "m2", "m3"):
        knot.write(f"{n}.example.", member_text(f"{n}.example."))

    def member(n, group=None):
        return (f"{n}.example.", ["file: " + os.path.join(knot.workdir, f"{n}.example.zone"),
                                  "catalog-role: member", f"catalog-zone: {CAT}"]
                + ([f"catalog-group: {group}"] if group else []))
    cat = (CAT, ["catalog-role: generate"])
    try:
        knot.start([cat, member("m1"), member("m2", "blue")], ["m1.example.", "m2.example."])
        srv.config["zones"][0]["primaries"] = [{"address": knot.address, "key": xfr_primaries.KEY_NAME}]
        srv.write_config()
        srv.start()
        for n in ("m1", "m2"):
            wait_for(f"{n} served", lambda: answers(srv, f"{n}.example."), log=srv.log_text)
        assert rcode(srv, "m3.example.") == dns.rcode.REFUSED
        m2 = catalog_status(srv, "m2.example.")
        assert m2["role"] == "secondary" and m2["catalog"]["catalog"] == CAT
        assert m2["catalog"]["group"] == ["blue"] and m2["catalog"]["id"]
        st = catalog_status(srv)
        assert st["catalog"]["members"] == 2 and st["catalog"]["error"] is None
        # m3 joins, m1 leaves: Knot regenerates the catalog and NOTIFYs robdns
        knot.reload([cat, member("m2", "blue"), member("m3")])
        wait_for("m3 served", lambda: answers(srv, "m3.example."), log=srv.log_text)
        wait_for("m1 refused", lambda: rcode(srv, "m1.example.") == dns.rcode.REFUSED,
                 log=srv.log_text)
        assert answers(srv, "m2.example.")
        assert not os.path.exists(os.path.join(srv.dir, "members", "m1.example.zone"))
        assert catalog_status(srv)["catalog"]["members"] == 2
    finally:
        knot.stop()


def test_catalog_changes_resets_conflicts_and_restart(robdns_server, tmp_path):
    """A catalog written by hand, served by Knot with its members: a member whose ID
    changes is transferred again from nothing (RFC 9432 5.3); a catalog of another version
    or listing a name twice changes nothing and zone-status says why; a member also in the
    config file stays the file's; after a restart with Knot gone every member is served
    from its kept copy."""
    static = ("m4.example.", member_text("m4.example.", addr="192.0.2.44"))
    srv = consumer(robdns_server, tmp_path, static=[static])
    knot = KnotPrimary(str(tmp_path / "knot"), ("127.0.0.1", srv.port))
    os.makedirs(knot.workdir)
    for n in ("m1", "m2", "m3", "m4"):
        knot.write(f"{n}.example.", member_text(f"{n}.example."))
    serial = [10]

    def publish(entries, **kw):
        serial[0] += 1
        knot.write(CAT, catalog_text(entries, serial=serial[0], **kw))
        if knot.server is not None:
            knot.reload()

    zones = [(CAT, [f"file: {knot.workdir}/{CAT}zone"])] + \
        [(f"{n}.example.", [f"file: {knot.workdir}/{n}.example.zone"]) for n in ("m1", "m2", "m3", "m4")]
    publish([("id1", "m1.example.", None, []), ("id2", "m2.example.", "other.cat.", ["g1"]),
             ("id4", "m4.example.", None, [])])
    try:
        knot.start(zones, [CAT, "m1.example."])
        srv.config["zones"][0]["primaries"] = [{"address": knot.address, "key": xfr_primaries.KEY_NAME}]
        srv.write_config()
        srv.start()
        for n in ("m1", "m2"):
            wait_for(f"{n} served", lambda: answers(srv, f"{n}.example."), log=srv.log_text)
        # m4 is the config file's zone: its own answers, a conflict in the catalog's status
        assert answers(srv, "m4.example.", "192.0.2.44")
        st = catalog_status(srv)["catalog"]
        assert st["members"] == 2 and st["listed"] == 3 and "m4.example." in st["conflicts"]
        assert catalog_status(srv, "m2.example.")["catalog"] == {
            "role": "member", "catalog": CAT, "id": "id2", "coo": "other.cat.", "group": ["g1"]}
        assert catalog_status(srv, "m4.example.").get("catalog") is None
        first = catalog_status(srv, "m1.example.")
        assert first["transfers_in"] == 1

        # a catalog of another version: nothing changes, the reason is shown
        publish([("id3", "m3.example.", None, [])], version='"1"')
        wait_for("version error", lambda: (catalog_status(srv)["catalog"]["error"] or "")
                 .find("version 2") >= 0, log=srv.log_text)
        assert srv.ctl("zone-status", zone=CAT)["ok"] is False
        assert answers(srv, "m1.example.") and rcode(srv, "m3.example.") == dns.rcode.REFUSED
        # a name listed twice: nothing changes either
        publish([("id1", "m1.example.", None, []), ("id3", "m3.example.", None, []),
                 ("id9", "M3.example.", None, [])])
        wait_for("duplicate error", lambda: "listed twice" in (catalog_status(srv)["catalog"]["error"] or ""),
                 log=srv.log_text)
        assert answers(srv, "m2.example.") and rcode(srv, "m3.example.") == dns.rcode.REFUSED

        # m1 gets a new ID (a reset), m2 goes, m3 comes
        kept = os.path.join(srv.dir, "members", "m1.example.zone.img")
        assert os.path.exists(kept)
        publish([("id1b", "m1.example.", None, []), ("id3", "m3.example.", None, []),
                 ("id4", "m4.example.", None, [])])
        wait_for("m3 served", lambda: answers(srv, "m3.example."), log=srv.log_text)
        wait_for("m2 refused", lambda: rcode(srv, "m2.example.") == dns.rcode.REFUSED, log=srv.log_text)
        assert catalog_status(srv)["catalog"]["error"] is None
        st1 = wait_for("m1 transferred again", lambda: (s := catalog_status(srv, "m1.example."))
                       ["catalog"]["id"] == "id1b" and s["transfers_in"] == 1 and s, log=srv.log_text)
        assert st1["last_transfer"]["kind"] == "axfr" and st1["last_transfer"]["at"] > first["last_transfer"]["at"]
        assert answers(srv, "m1.example.")
        assert not os.path.exists(os.path.join(srv.dir, "members", "m2.example.zone"))

        # restart with the primary down: the members are served from their kept copies
        wait_for("kept copies", lambda: all(os.path.exists(os.path.join(srv.dir, "members", f"{n}.example.zone.img"))
                                            for n in ("m1", "m3")))
        knot.stop()
        knot.server = None
        srv.stop()
        srv.start()
        assert answers(srv, "m1.example.") and answers(srv, "m3.example.")
        assert rcode(srv, "m2.example.") == dns.rcode.REFUSED
        assert answers(srv, "m4.example.", "192.0.2.44")
        assert catalog_status(srv)["catalog"]["members"] == 2
    finally:
        knot.stop()


def test_change_of_ownership_between_catalogs(robdns_server, tmp_path):
    """RFC 9432 5.4: a member of catalog A whose coo names catalog B moves to B once B
    lists it; under the same ID its data stays (no new transfer), and a member B lists
    that A serves without such a coo stays with A."""
    cat2 = "cat2.example."
    srv = consumer(robdns_server, tmp_path)
    srv.config["zones"].append({"name": cat2, "file": "cat2.example.zone", "primaries": [],
                                "catalog": {"role": "consumer", "members": {"file": "members2/{name}.zone"}}})
    knot = KnotPrimary(str(tmp_path / "knot"), ("127.0.0.1", srv.port))
    os.makedirs(knot.workdir)
    for n in ("m1", "m2"):
        knot.write(f"{n}.example.", member_text(f"{n}.example."))
    knot.write(CAT, catalog_text([("id1", "m1.example.", cat2, []), ("id2", "m2.example.", None, [])]))
    knot.write(cat2, catalog_text([]).replace(CAT, cat2))
    zones = [(c, [f"file: {knot.workdir}/{c}zone"]) for c in (CAT, cat2, "m1.example.", "m2.example.")]
    try:
        knot.start(zones, ["m1.example.", "m2.example."])
        prim = [{"address": knot.address, "key": xfr_primaries.KEY_NAME}]
        srv.config["zones"][0]["primaries"] = srv.config["zones"][1]["primaries"] = prim
        srv.write_config()
        srv.start()
        for n in ("m1", "m2"):
            wait_for(f"{n} served", lambda: answers(srv, f"{n}.example."), log=srv.log_text)
        wait_for("cat2 applied", lambda: catalog_status(srv, cat2)["catalog"]["serial"] == 1,
                 log=srv.log_text)
        before = catalog_status(srv, "m1.example.")
        assert before["catalog"]["catalog"] == CAT and before["transfers_in"] == 1
        # B lists m1 under the same ID: it moves, with its data and kept copy
        knot.write(cat2, catalog_text([("idx", "m2.example.", None, []), ("id1", "m1.example.", None, [])],
                                      serial=2).replace(CAT, cat2))
        knot.reload()
        after = wait_for("m1 moved", lambda: (s := catalog_status(srv, "m1.example."))
                         ["catalog"]["catalog"] == cat2 and s, log=srv.log_text)
        assert after["transfers_in"] == 1 and after["serial"] == before["serial"]
        assert answers(srv, "m1.example.")
        assert os.path.exists(os.path.join(srv.dir, "members2", "m1.example.zone.img"))
        assert not os.path.exists(os.path.join(srv.dir, "members", "m1.example.zone.img"))
        assert "coo" in catalog_status(srv)["catalog"]["conflicts"]["m1.example."]
        # m2, listed by B too but without a coo in A, stays A's
        assert "served as a member of catalog cat.example." in \
            catalog_status(srv, cat2)["catalog"]["conflicts"]["m2.example."]
        assert catalog_status(srv, "m2.example.")["catalog"]["catalog"] == CAT
    finally:
        knot.stop()


def test_zones_sharing_notify_rules():
    """The database parses a rules list shared by many zones (a catalog's members) once
    and points every zone at it; zones with rules of their own keep theirs."""
    import dns.flags
    import dns.message
    import dns.opcode
    names = [f"m{i}.example." for i in range(5)] + ["own.example."]
    imgs = [image_of(member_text(n), n) for n in names]
    shared = [("192.0.2.9/32", None)]
    rules = {n: shared for n in names[:5]}
    rules["own.example."] = [("198.51.100.0/24", None)]
    db = _core.Database(imgs, notify=rules)
    try:
        for name in names:
            q = dns.message.make_query(name, "SOA")
            q.set_opcode(dns.opcode.NOTIFY)
            q.flags &= ~dns.flags.RD
            wire = q.to_wire()
            ok = "198.51.100.7" if name == "own.example." else "192.0.2.9"
            bad = "192.0.2.9" if name == "own.example." else "198.51.100.7"
            assert dns.message.from_wire(_core.answer(db, wire, client=ok)).rcode() == dns.rcode.NOERROR
            assert dns.message.from_wire(_core.answer(db, wire, client=bad)).rcode() == dns.rcode.REFUSED
    finally:
        _core.notify_take()


def test_robdns_consumes_robdns_catalog(robdns_server):
    """A robdns producer NOTIFYs a robdns consumer after a reload adds a member and drops
    another: the consumer serves the new one and REFUSES the old one, TSIG on every leg."""
    key = xfr_primaries.KEY_NAME
    prod = robdns_server({f"p{i}.example.": member_text(f"p{i}.example.") for i in (1, 2, 3)},
                         families=(4,), start=False)
    cons = robdns_server({}, families=(4,), start=False)
    acl = [{"address": "127.0.0.1", "key": key}]
    cat = "cat.example."
    pz = [{"name": cat, "catalog": {"role": "producer"}, "allow_transfer": acl,
           "notify": [{"address": f"127.0.0.1@{cons.port}", "key": key}]}]
    pz += [{"name": f"p{i}.example.", "file": prod.zone_files[f"p{i}.example."], "allow_transfer": acl,
            **({"catalog_member": cat} if i < 3 else {})} for i in (1, 2, 3)]
    prod.config.update(zones=pz, keys=xfr_primaries.robdns_keys())
    prod.write_config()
    cons.config.update(keys=xfr_primaries.robdns_keys(), zones=[{
        "name": cat, "file": "cat.zone", "primaries": [{"address": f"127.0.0.1@{prod.port}", "key": key}],
        "catalog": {"role": "consumer"}}])
    cons.write_config()
    prod.start()
    cons.start()
    for n in ("p1", "p2"):
        wait_for(f"{n} served", lambda: answers(cons, f"{n}.example."), log=cons.log_text)
    assert rcode(cons, "p3.example.") == dns.rcode.REFUSED
    pz[1].pop("catalog_member")
    pz[3]["catalog_member"] = cat
    prod.write_config()
    assert prod.reload()["ok"]
    wait_for("p3 served", lambda: answers(cons, "p3.example."), log=cons.log_text)
    wait_for("p1 refused", lambda: rcode(cons, "p1.example.") == dns.rcode.REFUSED, log=cons.log_text)
    assert answers(cons, "p2.example.")
    st = catalog_status(cons, "p3.example.")["catalog"]
    assert st["catalog"] == cat and st["id"] == catalog.member_id("p3.example.")


def test_a_reload_of_the_same_configs_without_a_consumer_skips_expanding(tmp_path, monkeypatch):
    # An unchanged config file parses to the same zone configs (config.Cache): with no
    # consumer catalog among them the daemon's reload takes them as they are, without a
    # pass over every zone; a config that names a consumer is expanded again.
    from robdns import daemon
    for n in ("a", "b"):
        (tmp_path / f"{n}.zone").write_text(
            f"$ORIGIN {n}.example.\n$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n")
    plain = "zones:\n  - {name: a.example., file: a.zone}\n  - {name: b.example., file: b.zone}\n"
    cfg = cfg_of(plain, tmp_path)
    d = daemon.Daemon(cfg)
    calls = []
    expand = d.catalogs.expand
    monkeypatch.setattr(d.catalogs, "expand", lambda *a: calls.append(a[1]) or expand(*a))
    try:
        d.load(cfg)
        d.load(cfg)
        assert len(calls) == 1 and d.zone_configs is cfg.zones
        cfg2 = cfg_of(plain + "  - {name: cat.example., file: cat.zone, primaries: "
                      "[{address: 127.0.0.1@5300}], catalog: {role: consumer}}\n", tmp_path)
        d.load(cfg2)
        d.load(cfg2)
        assert len(calls) == 3 and calls[1] is calls[2] is cfg2.zones
        assert [z.name for z in d.zone_configs] == ["a.example.", "b.example.", "cat.example."]
        assert d.catalogs.catalogs                     # its state kept for the members
    finally:
        _core.publish(None)
        d.keeper.shutdown()
        d.reloader.shutdown()
