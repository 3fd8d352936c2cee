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


def collect(udp_workers=None, tcp_workers=None, xdp_workers=None):
    """The answer of the `stats` command: one section per transport running, and memory."""
    out = {"udp": udp_workers.stats() if udp_workers else {},
           "tcp": tcp_workers.stats() if tcp_workers else {}, "memory": memory()}
    if xdp_workers:
        out["xdp"] = xdp_workers.counters()
    return out
