"""flush — the secondary's kept copy of a zone: after each change the compiled image (for
the next start: served at once, RFC 1034 4.3.5 lets a secondary serve its copy until it
expires) and the zone as text (for the operator) are written atomically beside `file`, with
the time of the last successful refresh (so the expire timer survives a restart)."""

import json
import os
import time

from robdns import atomicfile
from robdns.log import logger


def image_path(z):
    return z.file + ".img"


def timers_path(z):
    return z.file + ".timers"


def zone_lines(img):
    """The image's records as master-file lines (RFC 1035 5), the apex (SOA first) then
    every other node, walked node by node: a large zone is never held whole as text.  The
    common types and plain names are formatted here (a million records in seconds); the
    others by dnspython, imported only then (the secondary's path does without it)."""
    import re
    import socket
    import struct

    from robdns import _core

    types = dict(_TYPE_NAMES)
    plain = re.compile(rb"[A-Za-z0-9_*-]*\Z").match

    def name(wire):
        labels, i = [], 0
        while wire[i]:
            label = wire[i + 1:i + 1 + wire[i]]
            if not plain(label):                   # needs escapes (RFC 1035 5.1)
                import dns.name
                return dns.name.from_wire(wire, 0)[0].to_text()
            labels.append(label.decode())
            i += 1 + wire[i]
        return ".".join(labels) + "." if labels else "."

    def lines(records):
        owner_text = None
        for owner, ttl, _rclass, rtype, rdata in records:
            if owner_text is None:
                owner_text = name(owner)           # one owner per node
            if rtype == 1 and len(rdata) == 4:
                text = socket.inet_ntop(socket.AF_INET, rdata)
            elif rtype == 28 and len(rdata) == 16:
                text = socket.inet_ntop(socket.AF_INET6, rdata)
            elif rtype in (2, 5, 12, 39):                     # NS CNAME PTR DNAME: a name
                text = name(rdata)
            elif rtype == 15 and len(rdata) > 2:              # MX
                text = f"{struct.unpack_from('!H', rdata)[0]} {name(rdata[2:])}"
            elif rtype == 33 and len(rdata) > 6 and _name_end(rdata, 6) == len(rdata):
                # SRV (RFC 2782): priority, weight, port, target
                text = "{} {} {} ".format(*struct.unpack_from("!3H", rdata)) + name(rdata[6:])
            elif rtype == 6 and (soa := _soa_text(rdata, name)) is not None:
                text = soa
            elif rtype == 16 and (txt := _txt_text(rdata)) is not None:
                text = txt
            else:
                import dns.rdata
                import dns.rdataclass
                text = dns.rdata.from_wire(dns.rdataclass.IN, rtype, rdata, 0, len(rdata)).to_text()
            tname = types.get(rtype)
            if tname is None:
                import dns.rdatatype
                tname = types[rtype] = dns.rdatatype.to_text(rtype)
            yield f"{owner_text} {ttl} IN {tname} {text}\n"

    apex = _core.image_apex_node(img)
    first = _core.image_node_records(img, apex)
    first.sort(key=lambda r: r[3] != 6)            # SOA first (RFC 1035 5.2)
    yield from lines(first)
    for n in range(img.node_count):
        if n != apex:
            yield from lines(_core.image_node_records(img, n))


# The mnemonics of the types formatted above (RFC 1035 3.2.2, RFC 3596, RFC 2782, RFC 6672)
_TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
               28: "AAAA", 33: "SRV", 39: "DNAME"}


def _name_end(wire, i):
    """Where the uncompressed name at wire[i] ends, or None when it does not fit."""
    while i < len(wire) and wire[i]:
        if wire[i] >= 64:
            return None
        i += 1 + wire[i]
    return i + 1 if i < len(wire) else None


def _soa_text(rdata, name):
    """SOA RDATA (RFC 1035 3.3.13) as text without dnspython (every zone has one: a
    catalog's thousands of small members), or None to leave it to dnspython."""
    import struct
    m = _name_end(rdata, 0)
    r = _name_end(rdata, m) if m is not None else None
    if r is None or len(rdata) != r + 20:
        return None
    return f"{name(rdata[:m])} {name(rdata[m:r])} " + " ".join(map(str, struct.unpack_from("!5I", rdata, r)))


def _txt_text(rdata):
    """TXT RDATA (RFC 1035 3.3.14) as quoted strings, escaped as RFC 1035 5.1 says; None
    when it does not parse (dnspython says why)."""
    out, i = [], 0
    while i < len(rdata):
        n = rdata[i]
        if i + 1 + n > len(rdata):
            return None
        s = "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else
                    ("\\" + chr(b) if b in (0x22, 0x5C) else f"\\{b:03d}")
                    for b in rdata[i + 1:i + 1 + n])
        out.append(f'"{s}"')
        i += 1 + n
    return " ".join(out) if out else None


def write_zone_text(img, path):
    """Write the image's master file to `path` atomically, in chunks."""
    with atomicfile.replace(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        chunk = []
        for line in zone_lines(img):
            chunk.append(line)
            if len(chunk) >= 4096:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))


def write_kept(z, img):
    """Write the kept copy of zone config `z`: the image first (what the next start
    serves from), then the text; each atomically (a temporary file renamed)."""
    t0 = time.monotonic()
    os.makedirs(os.path.dirname(z.file), exist_ok=True)     # a catalog member's first copy
    img.save(image_path(z))
    t1 = time.monotonic()
    write_zone_text(img, z.file)
    logger.info("zone %s: kept copy of serial %s written (image %.1f ms, text %.1f ms)",
                z.name, img.serial, (t1 - t0) * 1000, (time.monotonic() - t1) * 1000)


async def run(sec, name):
    """The flush event: write the kept copy of the version `name` serves now.  It runs
    apart from the refreshes (a large zone's text takes long: the next refresh does not
    wait for it); a change during a flush makes one more flush after it."""
    import asyncio
    st = sec.state(name)
    if st.flushing:
        st.flush_again = True
        return
    st.flushing = True
    try:
        while True:
            st.flush_again = False
            z = sec.zones().get(name)
            zs = sec.daemon.zones.get(name)
            if z is None or zs is None or zs.image is None:
                return
            try:
                await asyncio.get_running_loop().run_in_executor(sec.disk, write_kept, z, zs.image)
            except OSError as e:
                logger.error("zone %s: cannot write the kept copy: %s", name, e)
                return
            if not st.flush_again:
                return
    finally:
        st.flushing = False


def save_timers(z, refreshed_at, expire_at=None):
    # not synced: a lost write makes the copy expire earlier after a crash, never later
    # (an fsync per refresh of 100,000 zones would be the secondary's bottleneck)
    data = {"refreshed_at": refreshed_at}
    if expire_at is not None:
        data["expire_at"] = expire_at
    try:
        os.makedirs(os.path.dirname(z.file), exist_ok=True)
        with atomicfile.replace(timers_path(z), sync=False) as f:
            f.write(json.dumps(data).encode())
    except OSError as e:
        logger.warning("zone %s: cannot write %s: %s", z.name, timers_path(z), e.strerror)


def load_timers(z):
    try:
        with open(timers_path(z)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def load_kept(z):
    """The kept image of secondary zone `z`, or None (never received, or unreadable: then
    the zone waits for its first transfer)."""
    from robdns import _core
    from robdns.errors import ZoneError
    path = image_path(z)
    if not os.path.exists(path):
        return None
    try:
        img = _core.ZoneImage.load(path)
    except ZoneError as e:
        logger.warning("zone %s: kept copy not usable: %s", z.name, e)
        return None
    if img.origin.lower() != z.name:
        logger.warning("zone %s: kept copy %s holds zone %s", z.name, path, img.origin)
        return None
    return img
