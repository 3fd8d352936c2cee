"""metrics — the server's counters in the Prometheus text exposition format (version 0.0.4),
with the conventional names (``*_total`` counters, labels for transport, rcode, qtype)."""


def _esc(v):
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _line(name, labels, value):
    if labels:
        inner = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def prometheus(stats, status):
    """Text for the `stats` and `status` answers of the control socket."""
    out = []

    def family(name, kind, help_text, samples):
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(_line(name, labels, value) for labels, value in samples)

    paths = [(p, stats[p]) for p in ("udp", "tcp", "xdp") if isinstance(stats.get(p), dict) and stats[p]]
    for key, help_text in (("queries", "Queries received."),
                           ("responses", "Responses sent."),
                           ("truncated", "Responses sent with TC set (RFC 2181 9)."),
                           ("dropped", "Queries not answered (QR set, too short)."),
                           ("malformed", "Queries answered with FORMERR."),
                           ("rrl_dropped", "Responses withheld by response rate limiting."),
                           ("rrl_slipped", "Rate-limited responses sent truncated (TC) instead.")):
        samples = [({"proto": p}, s[key]) for p, s in paths if key in s]
        if samples:
            family(f"robdns_{key}_total", "counter", help_text, samples)
    family("robdns_responses_by_rcode_total", "counter", "Responses by RCODE.",
           [({"proto": p, "rcode": rc}, n) for p, s in paths for rc, n in sorted(s.get("rcode", {}).items())])
    family("robdns_queries_by_qtype_total", "counter", "Queries by QTYPE.",
           [({"proto": p, "qtype": qt}, n) for p, s in paths for qt, n in sorted(s.get("qtype", {}).items())])
    conns = stats.get("tcp", {}).get("connections")
    if conns:
        family("robdns_tcp_connections", "gauge", "Open TCP connections.", [({}, conns["open"])])
        reasons = (("idle", "timed_out"), ("evicted", "evicted"),
                   ("per_client", "per_client_refused"), ("output_overflow", "output_overflow"),
                   ("oversized", "oversized"), ("zero_length", "zero_length"))
        family("robdns_tcp_connections_closed_total", "counter", "TCP connections closed by the server.",
               [({"reason": r}, conns[k]) for r, k in reasons if k in conns])
    zones = status.get("zones", [])
    family("robdns_zone_serial", "gauge", "SOA serial of the zone being served.",
           [({"zone": z["name"]}, z["serial"]) for z in zones if z.get("serial") is not None])
    family("robdns_zone_load_failed", "gauge", "1 when the last load of the zone failed.",
           [({"zone": z["name"]}, int(z.get("state") != "ok")) for z in zones])
    family("robdns_reloads_total", "counter", "Reloads done.", [({}, status.get("reloads", 0))])
    mem = stats.get("memory", {})
    if "rss_kib" in mem:
        family("robdns_resident_memory_bytes", "gauge", "Resident memory.", [({}, mem["rss_kib"] * 1024)])
    return "\n".join(out) + "\n"
