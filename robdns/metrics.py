"""metrics — the server's counters as Prometheus metric families, built with
prometheus_client: a custom collector that reads the data plane's per-worker counters
(summed at scrape time, the workers never wait) and the control plane's state.

Names follow the Prometheus conventions (``*_total`` counters, base units, labels for
transport, qtype, rcode and zone), as CoreDNS and PowerDNS name theirs:

    robdns_queries_total{transport,qtype}      robdns_responses_total{transport,rcode}
    robdns_zone_queries_total{zone}            robdns_rrl_dropped_total{transport} ...

`ControlCounters` holds what the control plane counts (transfers, NOTIFYs sent, reload
failures): one instance, `events`, that the modules doing those things increment.
"""

import dataclasses
import time

# prometheus_client (and the http.server it pulls in: 40 ms) is imported by what builds
# families and registries, not here: every server start imports this module for `events`,
# and most never serve /metrics.

TRANSPORTS = ("udp", "tcp", "xdp")

# The qtypes given a label of their own (RFC 6895 3.1 and the common ones); every other
# type is counted under qtype="other", so the label set stays small whatever is asked.
COMMON_QTYPES = frozenset((
    "A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "NAPTR", "DS", "RRSIG",
    "NSEC", "DNSKEY", "NSEC3", "NSEC3PARAM", "TLSA", "CDS", "CDNSKEY", "SVCB", "HTTPS",
    "CAA", "AXFR", "IXFR", "ANY"))


@dataclasses.dataclass
class ControlCounters:
    """Counters of the control plane, incremented where the event happens (under the GIL,
    by the event loop or the reload thread)."""
    transfers_in: int = 0            # zone transfers received (secondary) and applied
    transfers_in_failed: int = 0     # refreshes from a primary that failed
    transfers_out: int = 0           # AXFR/IXFR streamed whole to a secondary
    transfers_out_failed: int = 0    # refused (ACL), busy (max_transfers) or cut short
    notifies_sent: int = 0           # RFC 1996 NOTIFY messages sent to secondaries (retries too)
    reload_failures: int = 0         # reloads whose config or any zone failed

    def as_dict(self):
        return dataclasses.asdict(self)


events = ControlCounters()


def _sections(stats):
    """(transport, section) for each transport that has counters."""
    return [(t, stats[t]) for t in TRANSPORTS if isinstance(stats.get(t), dict) and "queries" in stats[t]]


def families(stats, status):
    """The metric families for a `stats` answer and a `status` answer (dicts, as the
    control socket returns them)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
    out = []
    secs = _sections(stats)

    def counter(name, doc, labels, samples):
        f = CounterMetricFamily(name, doc, labels=labels)
        for values, v in samples:
            f.add_metric(list(values), v)
        out.append(f)

    def gauge(name, doc, labels, samples):
        f = GaugeMetricFamily(name, doc, labels=labels)
        for values, v in samples:
            f.add_metric(list(values), v)
        out.append(f)

    # Queries by qtype: each query once.  Those whose question did not parse (too short, a
    # response, a bad name) have no qtype: qtype="none", so the sum is every query.
    samples = []
    for t, s in secs:
        by = {}
        for qt, n in s.get("qtype", {}).items():
            key = qt if qt in COMMON_QTYPES else "other"
            by[key] = by.get(key, 0) + n
        unparsed = s["queries"] - sum(s.get("qtype", {}).values())
        if unparsed > 0:
            by["none"] = unparsed
        samples += [((t, qt), n) for qt, n in sorted(by.items())]
    counter("robdns_queries_total", "Queries received, by transport and QTYPE.",
            ["transport", "qtype"], samples)
    counter("robdns_responses_total", "Responses answered, by transport and RCODE (extended "
            "RCODEs by their own name, RFC 6891 6.1.3); those rate limiting then withheld are "
            "also in robdns_rrl_dropped_total.", ["transport", "rcode"],
            [((t, rc), n) for t, s in secs for rc, n in sorted(s.get("rcode", {}).items())])
    counter("robdns_queries_dropped_total", "Queries the engine sent no response to (a "
            "response, shorter than a header).", ["transport"],
            [((t,), s.get("dropped", 0)) for t, s in secs])
    counter("robdns_truncated_responses_total", "Responses sent with TC set because they "
            "did not fit the client's size (RFC 2181 9); RRL slips are counted apart.",
            ["transport"], [((t,), s.get("truncated", 0)) for t, s in secs])
    counter("robdns_edns_queries_total", "Queries with an EDNS OPT record (RFC 6891).",
            ["transport"], [((t,), s.get("edns", 0)) for t, s in secs])
    counter("robdns_do_queries_total", "Queries with the DNSSEC OK bit (RFC 3225).",
            ["transport"], [((t,), s.get("do", 0)) for t, s in secs])
    counter("robdns_rrl_dropped_total", "Responses withheld by response rate limiting.",
            ["transport"], [((t,), s.get("rrl_dropped", 0)) for t, s in secs if t != "tcp"])
    counter("robdns_rrl_slipped_total", "Rate-limited responses sent truncated (TC) instead.",
            ["transport"], [((t,), s.get("rrl_slipped", 0)) for t, s in secs if t != "tcp"])
    def batches(s):
        return s["batches"] if "batches" in s else s.get("connections", {}).get("batches")
    counter("robdns_worker_batches_total", "Batches the data-plane workers answered "
            "(recvmmsg rounds, AF_XDP ring batches, pipelined TCP queries of a connection).",
            ["transport"], [((t,), batches(s)) for t, s in secs if batches(s) is not None])
    counter("robdns_opcode_queries_total", "Queries by OPCODE.", ["transport", "opcode"],
            [((t, op), n) for t, s in secs for op, n in sorted(s.get("opcode", {}).items())])

    zq = {}
    for _, s in secs:
        for z, n in s.get("zones", {}).items():
            zq[z] = zq.get(z, 0) + n
    counter("robdns_zone_queries_total", "Queries by the hosted zone their name falls in "
            "(zones beyond server.http.zone_labels: zone=\"other\").", ["zone"],
            [((z,), n) for z, n in sorted(zq.items())])
    zr = {}
    for _, s in secs:
        for z, by in s.get("zone_rcode", {}).items():
            for rc, n in by.items():
                zr[z, rc] = zr.get((z, rc), 0) + n
    counter("robdns_zone_responses_total", "Responses by the hosted zone the query name "
            "falls in and RCODE (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, "
            "NOTAUTH; any other rcode=\"other\"); per zone they sum to "
            "robdns_zone_queries_total.", ["zone", "rcode"],
            [(k, n) for k, n in sorted(zr.items())])

    ev = stats.get("events", {})
    # NOTIFY in is answered by the data plane (acknowledged or refused): its opcode count.
    notify_in = sum(s.get("opcode", {}).get("NOTIFY", 0) for _, s in secs)
    counter("robdns_notifies_total", "NOTIFY messages (RFC 1996) received and sent.",
            ["direction"], [(("received",), notify_in), (("sent",), ev.get("notifies_sent", 0))])
    counter("robdns_transfers_total", "Zone transfers (RFC 5936, RFC 1995), in (as a "
            "secondary) and out (served), by result.", ["direction", "result"],
            [(("in", "ok"), ev.get("transfers_in", 0)),
             (("in", "failed"), ev.get("transfers_in_failed", 0)),
             (("out", "ok"), ev.get("transfers_out", 0)),
             (("out", "failed"), ev.get("transfers_out_failed", 0))])

    conns = stats.get("tcp", {}).get("connections")
    if conns:
        gauge("robdns_tcp_connections", "Open TCP connections.", [], [((), conns["open"])])
        reasons = (("idle", "timed_out"), ("evicted", "evicted"),
                   ("per_client", "per_client_refused"), ("output_overflow", "output_overflow"),
                   ("oversized", "oversized"), ("zero_length", "zero_length"))
        counter("robdns_tcp_connections_closed_total", "TCP connections closed by the server.",
                ["reason"], [((r,), conns[k]) for r, k in reasons if k in conns])

    tap = stats.get("dnstap")
    if tap:
        counter("robdns_dnstap_messages_total", "dnstap messages written to the sink.", [],
                [((), tap.get("written", 0))])
        counter("robdns_dnstap_dropped_total", "dnstap messages dropped: a worker's ring "
                "was full or the sink was away.", [], [((), tap.get("dropped", 0))])
        gauge("robdns_dnstap_connected", "1 while the dnstap sink is open.", [],
              [((), 1 if tap.get("connected") else 0)])

    zones = status.get("zones", [])
    gauge("robdns_zone_serial", "SOA serial of the zone being served.", ["zone"],
          [((z["name"],), z["serial"]) for z in zones if z.get("serial") is not None])
    gauge("robdns_zone_loaded", "1 when the zone is served (loaded, or a kept copy).",
          ["zone"], [((z["name"],), 1 if z.get("serial") is not None else 0) for z in zones])
    gauge("robdns_zone_load_failed", "1 when the last load of the zone failed.", ["zone"],
          [((z["name"],), int(z.get("state") == "failed")) for z in zones])
    gauge("robdns_zone_expiry_timestamp_seconds", "When a secondary zone expires if not "
          "refreshed (RFC 1035 3.3.13 EXPIRE), Unix time.", ["zone"],
          [((z["name"],), z["expires_at"]) for z in zones if z.get("expires_at")])
    gauge("robdns_zone_loaded_timestamp_seconds", "When the served copy of the zone was "
          "loaded, Unix time.", ["zone"],
          [((z["name"],), z["loaded_at"]) for z in zones if z.get("loaded_at")])
    xfr = status.get("transfers_out") or {}
    counter("robdns_zone_transfers_out_total", "AXFR/IXFR requests for the zone by outcome: "
            "served, refused (allow_transfer), busy (server.xfr.max_transfers), aborted (cut "
            "mid-stream), uptodate (IXFR from the current serial).", ["zone", "result"],
            [((z, r), c.get(r, 0)) for z, c in sorted(xfr.items())
             for r in ("served", "refused", "busy", "aborted", "uptodate")])
    counter("robdns_zone_transfer_out_bytes_total", "Bytes of the transfers served to their "
            "end.", ["zone"], [((z,), c.get("bytes", 0)) for z, c in sorted(xfr.items())])
    counter("robdns_reloads_total", "Reloads done (SIGHUP, ctl reload).", [],
            [((), status.get("reloads", 0))])
    counter("robdns_reload_failures_total", "Reloads whose configuration or any zone failed "
            "(the previous version kept serving).", [], [((), ev.get("reload_failures", 0))])

    mem = stats.get("memory", {})
    if "rss_kib" in mem:
        gauge("robdns_resident_memory_bytes", "Resident memory.", [], [((), mem["rss_kib"] * 1024)])
    if status.get("uptime") is not None:
        gauge("robdns_start_time_seconds", "When the server started, Unix time.", [],
              [((), round(time.time() - status["uptime"], 3))])
    if status.get("version"):
        info = InfoMetricFamily("robdns_build", "The running robdns.")
        info.add_metric([], {"version": status["version"]})
        out.append(info)
    return out


class Collector:
    """A prometheus_client collector over a snapshot() -> (stats, status) callable."""

    def __init__(self, snapshot):
        self.snapshot = snapshot

    def collect(self):
        stats, status = self.snapshot()
        return families(stats, status)

    def describe(self):
        return []           # described at collect time (the label values are dynamic)


def registry(snapshot):
    """A registry of its own (not the library's global one) with our collector only."""
    from prometheus_client.registry import CollectorRegistry
    reg = CollectorRegistry(auto_describe=False)
    reg.register(Collector(snapshot))
    return reg


def prometheus(stats, status):
    """The text exposition format (0.0.4) of a `stats` and a `status` answer, for
    `robdns ctl stats --prometheus`."""
    from prometheus_client.exposition import generate_latest
    return generate_latest(registry(lambda: (stats, status))).decode()
