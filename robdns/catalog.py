"""catalog — catalog zones, producer side (RFC 9432): a zone configured with
`catalog: {role: producer}` is generated from the zones that name it in `catalog_member`,
so that secondaries which consume it learn which zones to serve.

The generated zone (RFC 9432 section 4):

    CATALOG.                 0 SOA   invalid. invalid. SERIAL 3600 600 2147483646 0
    CATALOG.                 0 NS    invalid.                  (4.1: a placeholder)
    version.CATALOG.         0 TXT   "2"                       (4.2.1: schema version 2)
    ID.zones.CATALOG.        0 PTR   MEMBER.                   (4.1: one per member zone)

ID is the SHA-1 of the member's name in lower-case wire form, in hex: unique per member
(4.1) and the same for a member at every generation, so a consumer sees a member keep its
identity.  The serial rises whenever the member list changes (serial arithmetic, RFC
1982): the Unix time, or the previous serial plus one when that is not larger.  An
unchanged member list keeps the zone as it is: no new serial, no new image.
"""

import time

from robdns.log import logger


def member_id(member):
    """The RFC 9432 4.1 unique label of a member zone."""
    wire = b"".join(bytes((len(l),)) + l.encode("utf-8", "surrogateescape")
                    for l in member.lower().rstrip(".").split(".") if l) + b"\0"
    import hashlib      # here: OpenSSL's libcrypto is loaded only by a catalog's start
    return hashlib.sha1(wire).hexdigest()


def zone_text(catalog, members, serial):
    lines = [f"$ORIGIN {catalog}",
             f"@ 0 IN SOA invalid. invalid. {serial} 3600 600 2147483646 0",
             "@ 0 IN NS invalid.",
             'version 0 IN TXT "2"']
    lines += [f"{member_id(m)}.zones 0 IN PTR {m}" for m in members]
    return "\n".join(lines) + "\n"


def next_serial(old):
    """A serial newer than `old` (None: the first one): the Unix time when that is newer
    in RFC 1982 arithmetic, else old + 1."""
    now = int(time.time()) & 0xFFFFFFFF
    if old is None:
        return now
    if now != old and ((now - old) & 0xFFFFFFFF) < 0x80000000:
        return now
    return (old + 1) & 0xFFFFFFFF


def members_of(catalog, zones):
    """The member zone names of `catalog` among the zone configs `zones`, sorted."""
    return tuple(sorted(z.name for z in zones if getattr(z, "catalog_member", None) == catalog))


def catalog_image(catalog, members, serial):
    """The compiled catalog zone `catalog` listing `members` at `serial`; ZoneError when
    the zone cannot hold a member's name (too long)."""
    from robdns import _core
    return _core.compile_zone_text(catalog, zone_text(catalog, members, serial),
                                   name=f"catalog {catalog}")


def catalog_state(z, old, zones, state_class):
    """The ZoneState of producer zone `z` for the configured `zones`: `old` when its
    member list is the same, else the catalog generated again with a newer serial."""
    from robdns.errors import ZoneError
    members = members_of(z.name, zones)
    source = ("catalog", members)
    if old is not None and old.image is not None and old.source == source and not old.errors:
        return old
    serial = next_serial(old.image.serial if old is not None and old.image is not None else None)
    st = state_class(z.name, "(catalog)")
    t0 = time.monotonic()
    try:
        img = catalog_image(z.name, members, serial)
    except ZoneError as e:       # a member name the zone cannot hold (too long)
        st.errors = list(e.messages) or [str(e)]
        st.image = old.image if old is not None else None
        for m in st.errors:
            logger.error("%s", m)
        return st
    st.image, st.loaded_at, st.load_seconds = img, time.time(), time.monotonic() - t0
    st.source = source
    logger.info("catalog %s: serial %s, %d member zones", z.name, serial, len(members))
    return st
