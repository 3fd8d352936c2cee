"""reconfig — what a reload may change in the running configuration: a new config file
applies to zones, engine options, TCP limits and logging at once; settings bound into the
running process (sockets, threads, ids, the control socket, rate limit tables, XDP) keep
their running value until a restart."""

import dataclasses

# Config field -> the key an operator writes (as messages name it).
RESTART_KEYS = {
    "listen": "server.listen", "workers": "server.workers", "user": "server.user",
    "group": "server.group", "control": "server.control", "pin_workers": "server.pin_workers",
    "udp_batch": "server.udp_batch", "udp_hold_us": "server.udp_hold_us", "rrl": "server.rrl", "xdp": "xdp",
    "storage": "server.storage",
    "http": "server.http", "dnstap": "server.dnstap", "log_format": "log.format",
}


def restart_needed(running, new):
    """The keys (as written in the file) whose value in config `new` differs from the
    running config's and only takes effect at the next restart."""
    keys = [key for field, key in RESTART_KEYS.items() if getattr(running, field) != getattr(new, field)]
    if running.tcp.enabled != new.tcp.enabled:
        keys.append("server.tcp.enabled")
    return keys


def applicable(running, new):
    """Config `new` with every restart-only setting at its running value."""
    kept = {field: getattr(running, field) for field in RESTART_KEYS}
    return dataclasses.replace(new, path=running.path, **kept,
                               tcp=dataclasses.replace(new.tcp, enabled=running.tcp.enabled))
