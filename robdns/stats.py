"""stats — the counters of the `stats` control command: per transport (UDP workers, TCP,
XDP) and the process's memory, read from the kernel's accounting (/proc/self/status).

Cheap enough to be asked for every few seconds by a metrics scraper: nothing here walks
Python objects or zone data.
"""

# VmRSS: resident now; VmHWM: the peak (a reload compiles the new image while the old one
# still serves, so the peak is what a host must have room for); RssAnon: the heap, zone
# images included; RssFile: mapped files (the code, images loaded from files).
_STATUS_FIELDS = {"VmRSS": "rss_kib", "VmHWM": "peak_rss_kib", "RssAnon": "anon_kib",
                  "RssFile": "file_kib"}


def memory(status_path="/proc/self/status"):
    """Memory figures in KiB from the kernel, and how many database snapshots and zone
    images are alive (counted by the extension as they are made and freed): after a
    reload only the published snapshot and its images should be."""
    from robdns import _core
    out = dict.fromkeys(_STATUS_FIELDS.values(), 0)
    with open(status_path) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in _STATUS_FIELDS:
                out[_STATUS_FIELDS[key]] = int(value.split()[0])
    out.update(_core.live_objects())
    out["retired_databases"] = _core.retired()     # unpublished, kept by a pinning stream
    return out


class ZoneSlots:
    """Which per-zone counter of the data plane (rd_stats.zone_queries) each zone has.  A
    zone keeps its slot for the life of the process, so its counter never restarts nor
    passes to another zone; the first `cap` zones get one, later ones share slot 0,
    reported as zone "other" (a bounded label set whatever the number of zones)."""

    def __init__(self):
        self.slots = {}                  # zone name -> slot 1..cap

    def assign(self, zones, cap):
        if len(self.slots) >= cap:
            return dict(self.slots)          # every slot given: no pass over 100,000 zones
        for z in zones:
            if z.name not in self.slots and len(self.slots) < cap:
                self.slots[z.name] = len(self.slots) + 1
        return dict(self.slots)

    def names(self, counts):
        """{slot: n} from the data plane -> {zone name: n} (n may be a dict of counts)."""
        by_slot = {slot: name for name, slot in self.slots.items()}
        return {by_slot.get(k, "other"): v for k, v in counts.items()}


def collect(udp_workers=None, tcp_workers=None, xdp_workers=None, zone_slots=None, dnstap=None):
    """The answer of the `stats` command: one section per transport running, the control
    plane's event counters, dnstap's, and memory."""
    from robdns import metrics
    out = {"udp": udp_workers.stats() if udp_workers else {},
           "tcp": tcp_workers.stats() if tcp_workers else {}, "memory": memory()}
    if xdp_workers:
        out["xdp"] = xdp_workers.counters()
    for section in list(out.values()):
        for key in ("zones", "zone_rcode"):
            if key in section and zone_slots is not None:
                section[key] = zone_slots.names(section[key])
    out["events"] = metrics.events.as_dict()
    if dnstap is not None:
        out["dnstap"] = dnstap.counters()
    return out
