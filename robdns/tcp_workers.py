"""tcp_workers — the C TCP loops (tcp_loop.c) started from the configuration: each worker's
share of the RFC 7766 limits of `server.tcp`, and the descriptors they need.

The limits are per worker in C (no sharing between threads): each of W workers holds up
to ceil(max_connections / W) connections, the pool it allocates at start, and a client
address up to ceil(per_client / W) of them, where per_client is a quarter of
max_connections, at least 8 (or max_connections when smaller).  The kernel spreads
connections over the workers by SO_REUSEPORT hashing, so one worker may fill before
another does.
"""

import math
import resource

from robdns.log import logger

# Descriptors the process needs besides TCP connections (sockets, zone files, logging).
_FD_RESERVE = 256


def per_client(max_connections):
    """Connections one client address may hold over all workers."""
    return max(min(max_connections, 8), max_connections // 4)


def limits(tcp, workers, pool=None):
    """The per-worker limits (the dict _core.TcpWorkers takes) for config.TcpConfig `tcp`."""
    share = math.ceil(tcp.max_connections / workers)
    if pool is not None and share > pool:
        logger.warning("server.tcp.max_connections %d is above the %d connections per worker "
                       "allocated at start: takes effect at the next restart",
                       tcp.max_connections, pool)
    return {"max_connections": share,
            "max_per_client": math.ceil(per_client(tcp.max_connections) / workers),
            "idle_timeout_ms": max(1, int(tcp.idle_timeout * 1000)),
            "max_pipelined": tcp.max_pipelined,
            "hold_us": tcp.hold_us,
            "nagle_rtt_us": tcp.nagle_rtt_us,
            "pipeline_hold_us": tcp.pipeline_hold_us}


def raise_fd_limit(connections):
    """Raise the soft RLIMIT_NOFILE (up to the hard one) so that every connection of the
    pools can have its descriptor; returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + _FD_RESERVE
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    if soft < connections + _FD_RESERVE:
        logger.warning("open files limited to %d: fewer than the %d TCP connections allowed; "
                       "accept errors are counted and the longest idle connection is closed",
                       soft, connections)
    return soft


def start(listeners, tcp, workers, dnstap=None, dnstap_first=0):
    """Start one TCP loop per worker on listeners.tcp ((socket, worker) pairs); with
    dnstap (a _core.Dnstap), worker w logs to its ring dnstap_first + w."""
    from robdns import _core
    lim = limits(tcp, workers)
    raise_fd_limit(lim["max_connections"] * workers)
    return _core.TcpWorkers(listeners.tcp, list(listeners.cpus), lim["max_connections"], lim,
                            dnstap=dnstap, dnstap_first=dnstap_first)
